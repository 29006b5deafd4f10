//! What the core knows of what callers change at run time (peers,
//! applications, routes, proxy handlers, identity): a snapshot the event
//! loop builds from the shared record, passed at construction and again
//! after each change a [`Command`](crate::node::shared::Command) announces.
//! The core reads it without locks.

use std::sync::Arc;

use crate::node::core::agent::proxy::ProxyHandler;
use crate::node::core::agent::relay::{RelayCounters, RouteEntry};
use crate::node::peer::{AppId, Peer};
use crate::node::shared::owed::OwedBook;
use crate::node::shared::{Counters, Identity, TransportCounters};

/// An application as the core sees it: what routes requests to it and
/// bounds them. The layer around the core keeps the application itself at
/// the same index of [`Snapshot::apps`].
#[derive(Clone)]
pub(crate) struct AppEntry {
    /// Its application id.
    pub id: AppId,
    /// The peers whose requests it takes (empty: any).
    pub peers: Vec<Arc<Peer>>,
    /// The realms its requests may be routed to, besides its peers'.
    pub realms: Vec<String>,
    /// `Application::request_limit`, read when it was added.
    pub limit: Option<usize>,
}

/// The run-time configuration the core works with.
#[derive(Clone)]
pub(crate) struct Snapshot {
    /// Origin-Host, Origin-Realm and the End-to-End generator.
    pub identity: Arc<Identity>,
    /// The configured peers, in the order they were added.
    pub peers: Vec<Arc<Peer>>,
    /// The applications, in the order they were added.
    pub apps: Vec<AppEntry>,
    /// The application ids advertised in CER/CEA.
    pub applications: Vec<AppId>,
    /// An agent's routing table.
    pub routes: Vec<RouteEntry>,
    /// A proxy agent's handlers, by application id.
    pub proxy_handlers: Vec<(u32, Arc<dyn ProxyHandler>)>,
}

/// What the core shares with the other threads: the counters it bumps, and
/// the tables callers read on their threads (which requests wait for an
/// answer, the redirect cache).
pub(crate) struct Tables {
    /// The node's protocol counters.
    pub counters: Arc<Counters>,
    /// The relay agent's counters.
    pub relay: Arc<RelayCounters>,
    /// The transport's counters.
    pub transport: Arc<TransportCounters>,
    /// The answers owed, as `send_answer` claims them.
    pub owed: Arc<OwedBook>,
}
