//! The node's protocol, sans-IO.

pub(crate) mod admission;
pub(crate) mod agent;
pub(crate) mod cer;
pub mod checks;
pub(crate) mod conn;
pub(crate) mod dispatch;
pub(crate) mod intake;
/// The fake-clock simulator: tests and the fuzz target (`--cfg fuzzing`) only.
#[cfg(any(test, fuzzing))]
pub mod sim;
pub(crate) mod snapshot;
