//! Callers' and workers' threads.

pub(crate) mod answer;
pub mod application;
pub(crate) mod pool;
