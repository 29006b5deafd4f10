//! The integration tests: one binary, one module per subject, in the order
//! of the layers (docs/architecture.md): the wire codec, the peer machine,
//! the node and its applications, the agents, the transports, the example
//! programs, the independent peers, and the parity with python-diameter.
//!
//! Nodes are set up with [`support::node::TestNode`]; waits have deadlines
//! ([`support::wait_until`], `recv_timeout`, [`support::Gate`]), never a
//! fixed sleep. A test that changes the whole process (its descriptor limit,
//! its logger) runs alone in a child process ([`support::alone`]).
//!
//! `cargo test --features tls` runs them all; `cargo test --test it relay::`
//! runs one module.

mod support;

// the wire codec: messages, AVPs, framing, bounds
mod alloc_bound;
mod fuzz_seeds;
mod malformed;
mod proptest_codec;
mod typed_commands;

// the per-connection peer machine, on a fake clock
mod peer_machine;

// the node: connections, lifecycle, protocol errors, hostile peers
mod accept_errors;
mod admission;
mod node_errors;
mod node_lifecycle;
mod node_logging;
mod node_loopback;
mod node_security;

// applications: handlers, workers, routing, the typed API
mod application;
mod application_api;

// the agents: relay, proxy, redirect, failover, faults on the way
mod failover;
mod faults;
mod proxy;
mod redirect;
mod relay;

// the transports
mod sctp;
#[cfg(feature = "tls")]
mod tls;

// the example programs as processes
#[cfg(target_os = "linux")]
mod cc_client_sched;
mod process_manager;

// independent peers: python-diameter and freeDiameter
mod interop_cc;
mod interop_cc_examples;
mod interop_harness;
mod interop_node;
mod interop_sctp;
#[cfg(feature = "tls")]
mod interop_tls;
mod python_examples;
mod relay_freediameter;

// parity with python-diameter (generated and checked by tools/)
mod commands_golden;
mod porting_names;
mod porting_table;
mod python_constants;
mod python_vectors;
mod sms_client_request;
