//! The local Diameter node (python's `diameter.node`): identifiers, peer
//! addressing and, in later releases, the peer state machine and event loop.
//!
//! ```
//! use diameter::node::{parse_diameter_uri, SequenceGenerator};
//!
//! let uri = parse_diameter_uri("aaa://ocs.example.net:3868;transport=tcp")?;
//! assert_eq!(uri.fqdn, "ocs.example.net");
//! let hop_by_hop = SequenceGenerator::new();
//! assert_ne!(hop_by_hop.next_sequence(), 0);
//! # Ok::<(), diameter::node::UriError>(())
//! ```

pub mod application;
mod checks;
mod event_loop;
mod ids;
#[allow(clippy::module_inception)]
mod node;
pub mod peer;
mod retransmit;
pub mod stats;
pub(crate) mod transport;
mod uri;

pub use checks::{check_request, unsupported_mandatory_avp, Rejection};
pub use ids::{SequenceGenerator, SessionGenerator};
pub use node::{
    InbandTls, ListenTransport, Node, NodeError, NodeOptions, NodeRef, PeerOptions, RouteSelect,
    TransportCounters, TransportStats,
};
pub use retransmit::RetransmitCache;
#[cfg(feature = "tls")]
pub use transport::tls::{TlsError, TlsOptions};
pub use uri::{parse_diameter_uri, DiameterUri, UriError, DEFAULT_PORT, DEFAULT_SECURE_PORT};
