//! Typed errors of the node and of applications (python's `NodeError`,
//! `NotRoutable`, `ApplicationError`, `RequestTimeout`, `EmptyAnswer`).

use std::net::SocketAddr;
use std::time::Duration;

use crate::message::AvpEncodeError;
use crate::node::uri::UriError;

/// Errors of the node (python's `NodeError`).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// `start()` was called on a running or stopped node.
    #[error("node already started")]
    AlreadyStarted,
    /// The node is not running (never started, or `stop()` on a node that
    /// is not running).
    #[error("node not started")]
    NotStarted,
    /// The node stopped, or is stopping.
    #[error("node stopped")]
    Stopped,
    /// The event-loop thread ended unexpectedly (a bug): requests waiting
    /// on it failed at once, and `stop()` reports this.
    #[error("the node's event loop died")]
    LoopDied,
    /// A listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A peer URI could not be parsed.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The transport asked for is not available here.
    #[error("transport {0} is not supported")]
    UnsupportedTransport(String),
    /// The kernel cannot open SCTP sockets.
    #[error("SCTP is not available: {0}")]
    SctpUnavailable(#[source] std::io::Error),
    /// TLS is asked for (an `aaas://` peer, `tls_port`, in-band TLS) but the
    /// node has no certificates (`NodeOptions::tls`), or the crate was built
    /// without its `tls` feature.
    #[error("TLS is not configured: {0}")]
    TlsNotConfigured(String),
    /// The TLS certificates, key or CA certificates cannot be used.
    #[cfg(feature = "tls")]
    #[error("TLS configuration: {0}")]
    Tls(#[from] crate::node::tls::TlsError),
    /// The event loop could not be started.
    #[error("event loop failed: {0}")]
    EventLoop(#[source] std::io::Error),
    /// No peer can take the message (python's `NotRoutable`).
    #[error("not routable: {0}")]
    NotRoutable(NoRoute),
    /// The peer chosen for a request has no connection that takes
    /// requests now (it went down after routing).
    #[error("{peer}: not connected")]
    NotConnected {
        /// The peer's DiameterIdentity.
        peer: String,
    },
    /// The connection to the peer already has as many requests waiting for
    /// answers as it may have ([`NodeLimits::max_pending_per_connection`](crate::node::NodeLimits)).
    #[error("{peer}: too many requests waiting for answers")]
    TooManyPending {
        /// The peer's DiameterIdentity.
        peer: String,
    },
    /// The connection's output is full: the peer does not read.
    #[error("{peer}: output buffer full")]
    OutputFull {
        /// The peer's DiameterIdentity.
        peer: String,
    },
    /// The message is larger than the transport can carry (an SCTP
    /// message must fit the socket's send buffer).
    #[error("a {size}-byte message does not fit the transport (at most {limit} bytes)")]
    MessageTooLarge {
        /// The message's length.
        size: usize,
        /// The transport's limit.
        limit: usize,
    },
    /// An address given as text is not an IP address.
    #[error("{0:?} is not an IP address")]
    InvalidAddress(String),
    /// A message given to [`Node::send_message`](crate::node::Node::send_message)
    /// could not be encoded.
    #[error(transparent)]
    Encode(#[from] AvpEncodeError),
}

/// Why no peer can take a request (RFC 6733 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoute {
    /// The request's application id.
    pub application_id: u32,
    /// The Destination-Realm looked for (the node's realm when absent).
    pub realm: String,
    /// What went wrong.
    pub reason: NoRouteReason,
}

/// What kept a request from being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRouteReason {
    /// No configured peer serves the realm and application, or none of
    /// them is ready and negotiated it.
    NoReadyPeer,
    /// The `peer_route_select_func` failed or panicked.
    SelectorFailed,
    /// An answer's request came in on no connection that is still open
    /// (it was built without its request, or that connection closed).
    RequestConnectionGone,
}

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason {
            NoRouteReason::NoReadyPeer => write!(
                f,
                "no ready peer for application {} in realm {}",
                self.application_id, self.realm
            ),
            NoRouteReason::SelectorFailed => write!(
                f,
                "peer_route_select_func failed for application {} in realm {}",
                self.application_id, self.realm
            ),
            NoRouteReason::RequestConnectionGone => write!(
                f,
                "the request of this answer (application {}) came in on no open connection",
                self.application_id
            ),
        }
    }
}

/// Errors of applications (python's `ApplicationError` family).
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    /// No peer of the application became ready in time (python's
    /// `ApplicationError("No connection available within timeout")`).
    #[error("no connection available within {0:?}")]
    NotReady(Duration),
    /// No answer came within the timeout (python's `RequestTimeout`).
    #[error("no answer within {0:?}")]
    RequestTimeout(Duration),
    /// The request can no longer be answered (python's `EmptyAnswer`).
    #[error("no answer: {0}")]
    EmptyAnswer(EmptyReason),
    /// The application is not added to a started node.
    #[error("application is not attached to a running node")]
    NotAttached,
    /// Routing or sending failed (python's `NotRoutable`, `NodeError`).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The message could not be encoded.
    #[error(transparent)]
    Encode(#[from] AvpEncodeError),
    /// `send_answer` found nothing waiting for this answer (python's
    /// `NotRoutable("No peer is waiting for an answer ...")`): its request
    /// was answered already, expired, or its connection closed; or its
    /// identifiers match no request handed to an application.
    #[error(
        "no peer is waiting for an answer with ID {hop_by_hop:#010x}{}",
        if *ambiguous { " (several are: answer with the request's own to_answer/generate_answer)" } else { "" }
    )]
    NoRequestWaiting {
        /// The answer's hop-by-hop identifier.
        hop_by_hop: u32,
        /// The answer's End-to-End identifier.
        end_to_end: u32,
        /// Several connections wait for these identifiers and the answer
        /// does not say which (it was not built from its request).
        ambiguous: bool,
    },
    /// The answer to a typed request is not that request's answer command
    /// (a peer answered with another command code); the message is kept.
    #[error("unexpected answer {0}")]
    UnexpectedAnswer(Box<crate::message::Message>),
}

/// Why a request will never get its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmptyReason {
    /// The connection the request went out on closed.
    #[error("the connection closed")]
    ConnectionClosed,
    /// The node stopped.
    #[error("the node stopped")]
    NodeStopped,
    /// The node's event loop died.
    #[error("the node's event loop died")]
    LoopDied,
}
