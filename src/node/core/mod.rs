//! The node's protocol, sans-IO.

pub(crate) mod admission;
pub(crate) mod agent;
pub mod checks;
pub(crate) mod conn;
pub(crate) mod dispatch;
/// The fake-clock simulator: tests and the fuzz target (`--cfg fuzzing`) only.
#[cfg(any(test, fuzzing))]
pub mod sim;
