//! The event loop and the transports.

pub(crate) mod event_loop;
pub(crate) mod feed;
pub(crate) mod setup;
pub(crate) mod transport;
