//! The transport seam: the byte streams the event loop reads and writes.
//! TCP, SCTP (one Diameter message per SCTP message) and, with the `tls`
//! feature, TLS over TCP. Only the event loop owns these sockets.

pub(crate) mod sctp_sys;
#[cfg(feature = "tls")]
pub mod tls;
