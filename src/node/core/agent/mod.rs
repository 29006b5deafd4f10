//! Agents' components.

pub(crate) mod calls;
pub mod duplicates;
pub(crate) mod follow;
pub(crate) mod forward;
pub(crate) mod proxied;
pub mod proxy;
pub(crate) mod redirect;
pub mod relay;
pub(crate) mod relay_failover;
