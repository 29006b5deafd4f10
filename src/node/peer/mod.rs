//! Peers and their connections (python's `diameter.node.peer`): the
//! capabilities exchange, the RFC 6733 §5.6 connection state machine and the
//! RFC 3539 watchdog, as a sans-IO core ([`Connection`]) tested without
//! sockets.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use diameter::node::peer::*;
//! use diameter::node::SequenceGenerator;
//!
//! let caps = |host: &str| Arc::new(LocalCapabilities {
//!     origin_host: host.into(),
//!     origin_realm: "example.net".into(),
//!     host_ip_addresses: vec!["127.0.0.1".parse().unwrap()],
//!     vendor_id: 99999,
//!     product_name: "demo".into(),
//!     firmware_revision: None,
//!     origin_state_id: 1,
//!     supported_vendor_ids: vec![],
//!     applications: vec![AppId::auth(4)],
//!     inband_security: vec![],
//! });
//! let now = Instant::now();
//! let e2e = Arc::new(SequenceGenerator::new());
//! let cfg = ConnectionConfig::default();
//! let mut client = Connection::new_initiator(now, caps("a.example.net"), cfg, e2e.clone(), None, false, 1);
//! let mut server = Connection::new_responder(now, caps("b.example.net"), cfg, e2e, 2);
//!
//! server.handle_bytes(now, &client.take_output());           // CER
//! assert!(matches!(server.poll_event(), Some(PeerEvent::CerReceived(_))));
//! server.accept_cer(now);                                      // CEA 2001
//! client.handle_bytes(now, &server.take_output());
//! assert!(client.is_ready() && server.is_ready());
//! assert_eq!(client.python_state(), PEER_READY);
//! ```

mod capabilities;
mod constants;
pub(crate) mod digest;
mod machine;
#[allow(clippy::module_inception)]
mod peer;

pub use capabilities::{
    answer_header, cap_error_message, choose_inband_security, common_applications, election_won,
    inband_security_avp, AppId, AppKind, InbandChoice, LocalCapabilities, RemoteCapabilities,
    MAX_ERROR_MESSAGE, RELAY_APPLICATION_ID,
};
pub use constants::*;
pub(crate) use machine::later;
pub use machine::{
    build_error_answer, cap_failed_avp, Connection, ConnectionConfig, PeerEvent, SendError, State,
    Watchdog, MAX_FAILED_AVP_ECHO,
};
pub(crate) use peer::node_stats;
pub(crate) use peer::PeerChange;
pub use peer::{Peer, PeerConnectionInfo, PeerCounters, PeerSettings, PeerStatus};
