//! Fuzz target for the wire codec: decodes the input as a message, as an AVP
//! and as a stream through the framer; whatever decodes must re-encode to
//! bytes that decode to the same value and encode to the same bytes again.
//! The checks live in `fuzz/src/check.rs`, which `tests/it/fuzz_seeds.rs` also
//! runs on the seed corpus as an ordinary test on stable.
//!
//! With cargo-fuzz (nightly):
//!
//! ```text
//! cargo fuzz run message fuzz/seeds/message
//! ```
//!
//! Without it, on stable, with the coverage flags cargo-fuzz would pass:
//!
//! ```text
//! cd fuzz
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
//!   -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares \
//!   --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
//!   cargo build --release --bin message --target x86_64-unknown-linux-gnu
//! mkdir -p corpus/message
//! target/x86_64-unknown-linux-gnu/release/message corpus/message seeds/message \
//!   -max_total_time=300 -max_len=8192
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
