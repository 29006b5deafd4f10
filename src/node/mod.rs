//! The local Diameter node (python's `diameter.node`): [`Node`], its peers
//! (`peer`), its applications (`application`) and the event loop that runs
//! them.
//!
//! How it is built (docs/architecture.md has the whole picture): the folders
//! say which thread a line runs on, and imports flow one way (checked by
//! `tools/arch/imports.py` in CI):
//!
//! ```text
//! node.rs             the python-facing Node: settings, add_peer/add_application, start/stop
//! io/                 the event-loop thread: mio poll, sockets, transports; carries out
//!                     what the core decided and calls user code
//! app/                callers' and workers' threads: Application, AppBase, ThreadingApplication,
//!                     the worker pool, caller-side routing
//! core/, core/agent/  the protocol, sans-IO: events in, events out, on any clock
//! shared/             the seam between threads, data only
//! peer/               the per-connection state machine (RFC 6733 §5.6) and capabilities
//! config, error, tls, routing, ids, uri, stats   settings, errors, pure helpers
//! ```
//!
//! `top -> io -> app -> shared`, `io -> core -> shared`, everything `-> settings -> peer -> base`;
//! `core` and `app` never import each other.
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

mod app;
mod config;
pub(crate) mod core;
mod error;
mod idhash;
mod ids;
pub(crate) mod io;
#[allow(clippy::module_inception)]
mod node;
pub mod peer;
mod proxy;
mod ratelimit;
mod routing;
pub(crate) mod shared;
pub mod stats;
#[cfg(feature = "tls")]
mod tls;
mod uri;

pub use app::application;
/// The fake-clock simulator, for the fuzz target only (built with `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use core::sim;

pub use app::api::RouteSelect;
pub use app::application::NodeRef;
pub use config::{
    IpAddress, ListenTransport, NodeLimits, DEFAULT_MAX_FAILOVERS, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_UNAUTHENTICATED, DEFAULT_MAX_UNAUTHENTICATED_PER_IP,
};
pub use core::agent::duplicates::DuplicateLimits;
pub use core::agent::relay::{Agent, RelayStats, RouteAction, RouteEntry};
pub use core::checks::{check_request, unsupported_mandatory_avp, Rejection};
pub use error::{ApplicationError, EmptyReason, NoRoute, NoRouteReason, NodeError};
pub use ids::{SequenceGenerator, SessionGenerator};
pub use node::{InbandTls, Node, NodeOptions, PeerOptions};
pub use peer::{
    DEFAULT_CEA_TIMEOUT, DEFAULT_CER_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DPA_TIMEOUT,
    DEFAULT_DWA_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_RECONNECT_WAIT,
    DEFAULT_RETRANSMIT_QUEUE_SIZE, DEFAULT_SILENT_PEER_TIMEOUT,
    DEFAULT_STATISTICS_HISTORY_INTERVAL, DEFAULT_STOP_WAIT_TIMEOUT, DEFAULT_VENDOR_ID,
    DEFAULT_WAKEUP_INTERVAL, STATISTICS_HISTORY_SIZE,
};
pub use proxy::{ProxyHandler, ProxyVerdict};
pub use routing::select_least_used_peer;
pub use shared::{ProtocolStats, TransportCounters, TransportStats};
pub use stats::NodeStats;
#[cfg(feature = "tls")]
pub use tls::{TlsError, TlsOptions};
pub use uri::{parse_diameter_uri, DiameterUri, UriError, DEFAULT_PORT, DEFAULT_SECURE_PORT};
