//! The calls the core hands to the layer around it for a proxy agent (RFC
//! 6733 §6.1.9): the handler runs on the loop's thread, and the call comes
//! back with its result. Data only.

use std::sync::Arc;

use crate::message::{Message, MessageHeader};
use crate::node::core::agent::proxy::ProxyHandler;
use crate::node::core::conn::{ConnId, Relayed};
use crate::node::peer::Peer;

/// Where a relayed request may go: the realm, the Destination-Host when
/// it names another host, the routing table entry's servers.
pub(crate) struct NextHop {
    /// The realm (lower-cased).
    pub realm: String,
    /// The Destination-Host, when it names another host.
    pub host: Option<String>,
    /// The routing table entry's servers, when an entry matched.
    pub servers: Option<Vec<Arc<Peer>>>,
}

/// A request a proxy handler is to see before it is forwarded: the loop
/// runs `handler` on `msg` and gives the call back with the verdict.
pub(crate) struct ProxyCall {
    /// The handler.
    pub handler: Arc<dyn ProxyHandler>,
    /// The request, as the handler may change it.
    pub msg: Message,
    pub conn: ConnId,
    pub before: MessageHeader,
    pub wire: Option<Vec<u8>>,
    pub stub: Message,
    pub to: NextHop,
}

/// The answer to a request a proxy handler let through: the loop runs
/// `handler` on `msg` and gives it back.
pub(crate) struct ProxiedAnswer {
    /// The handler.
    pub handler: Arc<dyn ProxyHandler>,
    /// The answer, as the handler may change it.
    pub msg: Message,
    pub relayed: Relayed,
    pub before: MessageHeader,
    pub wire: Option<Vec<u8>>,
}
