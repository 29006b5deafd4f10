//! Fuzz target for the node's protocol layer (sans-IO, fake clock): the
//! input is a sequence of operations (requests, answers, answers forged on
//! another connection, retransmissions claiming another peer, garbage,
//! closed links, time) run on one server and several clients. It panics
//! when a caller gets an answer meant for another request or a table grows
//! beyond its bound. The library's own tests run the seeds on the
//! simulator (`src/node/core/sim.rs`) on stable.
//!
//! ```text
//! cargo fuzz run node_dispatch fuzz/seeds/node_dispatch
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    diameter::node::sim::run(data);
});
