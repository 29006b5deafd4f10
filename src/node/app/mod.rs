//! Callers' and workers' threads.

pub(crate) mod api;
pub mod application;
pub(crate) mod pool;
