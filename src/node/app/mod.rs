//! Callers' and workers' threads.

pub mod application;
pub(crate) mod pool;
