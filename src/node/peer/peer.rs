//! `Peer`: one configured remote node (python's `Peer` dataclass), shared
//! between the event loop, which updates it, and the application, which reads
//! and tunes it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

/// Per-peer settings that may change while the node runs (python's mutable
/// `Peer` fields). `None` timeouts fall back to the node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// Reconnect even after the peer sent a DPR.
    pub always_reconnect: bool,
    /// CEA timeout for this peer.
    pub cea_timeout: Option<Duration>,
    /// CER timeout for this peer.
    pub cer_timeout: Option<Duration>,
    /// DWA timeout for this peer.
    pub dwa_timeout: Option<Duration>,
    /// Watchdog idle time (Tw) for this peer.
    pub idle_timeout: Option<Duration>,
    /// Wait before reconnecting a persistent peer (python: 30 s).
    pub reconnect_wait: Duration,
    /// Wait for a TCP connect to complete.
    pub connect_timeout: Duration,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            always_reconnect: false,
            cea_timeout: None,
            cer_timeout: None,
            dwa_timeout: None,
            idle_timeout: None,
            reconnect_wait: crate::node::peer::DEFAULT_RECONNECT_WAIT,
            connect_timeout: crate::node::peer::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// What the event loop last saw of a peer's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConnectionInfo {
    /// python's PEER_* state.
    pub state: u8,
    /// PEER_RECV or PEER_SEND.
    pub direction: u8,
    /// The peer's Origin-Host once exchanged (python's `host_identity`).
    pub host_identity: String,
    /// The peer's Host-IP-Address values.
    pub host_ip_address: Vec<IpAddr>,
    /// Negotiated auth application ids.
    pub auth_application_ids: Vec<u32>,
    /// Negotiated acct application ids.
    pub acct_application_ids: Vec<u32>,
    /// Remote socket address.
    pub remote_address: Option<std::net::SocketAddr>,
    /// The connection's id in the node (python's `PeerConnection.ident`),
    /// what a received request's answer goes back on.
    pub ident: u64,
}

impl PeerConnectionInfo {
    /// Whether this node opened the connection (python's `is_sender`).
    pub fn is_sender(&self) -> bool {
        self.direction == crate::node::peer::PEER_SEND
    }

    /// Whether the peer opened the connection (python's `is_receiver`).
    pub fn is_receiver(&self) -> bool {
        self.direction == crate::node::peer::PEER_RECV
    }

    /// Whether the connection carries traffic (python's `state in
    /// PEER_READY_STATES`).
    pub fn is_ready(&self) -> bool {
        crate::node::peer::PEER_READY_STATES.contains(&self.state)
    }
}

/// What changes as the peer connects and disconnects.
#[derive(Debug, Clone, Default)]
pub struct PeerStatus {
    /// The connection attached to this peer, if any.
    pub connection: Option<PeerConnectionInfo>,
    /// Why the last connection ended (the first reason recorded wins).
    pub disconnect_reason: Option<u8>,
    /// Disconnect-Cause of the last DPR the peer sent.
    pub dpr_cause: Option<i32>,
    /// When the last connection was established.
    pub last_connect: Option<SystemTime>,
    /// When the last connection ended.
    pub last_disconnect: Option<SystemTime>,
    pub(crate) last_disconnect_at: Option<Instant>,
    pub(crate) reopen: bool,
}

/// Counts of messages received from a peer (python's `PeerCounters`).
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// CERs received.
    pub cer: AtomicU64,
    /// CEAs received.
    pub cea: AtomicU64,
    /// DWRs received.
    pub dwr: AtomicU64,
    /// DWAs received.
    pub dwa: AtomicU64,
    /// DPRs received.
    pub dpr: AtomicU64,
    /// DPAs received.
    pub dpa: AtomicU64,
    /// Requests received, base protocol included.
    pub requests: AtomicU64,
    /// Answers received, base protocol included.
    pub answers: AtomicU64,
}

impl PeerCounters {
    /// Counts one received message.
    pub fn count(&self, command_code: u32, is_request: bool) {
        use crate::message::constants::*;
        let which = match (command_code, is_request) {
            (CMD_CAPABILITIES_EXCHANGE, true) => Some(&self.cer),
            (CMD_CAPABILITIES_EXCHANGE, false) => Some(&self.cea),
            (CMD_DEVICE_WATCHDOG, true) => Some(&self.dwr),
            (CMD_DEVICE_WATCHDOG, false) => Some(&self.dwa),
            (CMD_DISCONNECT_PEER, true) => Some(&self.dpr),
            (CMD_DISCONNECT_PEER, false) => Some(&self.dpa),
            _ => None,
        };
        if let Some(c) = which {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let total = if is_request {
            &self.requests
        } else {
            &self.answers
        };
        total.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy of the counters: (cer, cea, dwr, dwa, dpr, dpa, requests, answers).
    pub fn snapshot(&self) -> [u64; 8] {
        [
            &self.cer,
            &self.cea,
            &self.dwr,
            &self.dwa,
            &self.dpr,
            &self.dpa,
            &self.requests,
            &self.answers,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// A configured peer (python's `Peer`), created by
/// [`Node::add_peer`](crate::node::Node::add_peer).
#[derive(Debug)]
pub struct Peer {
    /// The peer's DiameterIdentity (FQDN), as configured.
    pub node_name: String,
    /// The peer's realm.
    pub realm_name: String,
    /// PEER_TRANSPORT_TCP or PEER_TRANSPORT_SCTP.
    pub transport: u8,
    /// TLS from the first byte (an `aaas://` URI).
    pub is_secure: bool,
    /// The peer's port.
    pub port: u16,
    /// Addresses to connect to.
    pub ip_addresses: Vec<IpAddr>,
    /// Whether the node connects to it and keeps it connected.
    pub persistent: bool,
    /// Whether it is a default route of its realm.
    pub is_default: bool,
    /// Settings that may change while running.
    pub settings: Mutex<PeerSettings>,
    /// Connection status, updated by the event loop.
    pub status: Mutex<PeerStatus>,
    /// Received message counters.
    pub counters: std::sync::Arc<PeerCounters>,
    /// Requests sent to this peer still waiting for their answer.
    pub outstanding: AtomicU64,
    /// Processing times, received messages and sent Result-Codes (python's
    /// `peer.statistics`).
    pub statistics: Mutex<crate::node::stats::PeerStats>,
}

impl Peer {
    /// Whether the attached connection is ready (python's `PEER_READY_STATES`).
    pub fn is_ready(&self) -> bool {
        self.status
            .lock()
            .connection
            .as_ref()
            .is_some_and(|c| crate::node::peer::PEER_READY_STATES.contains(&c.state))
    }

    /// python's `peer.always_reconnect`: reconnect even after the peer sent
    /// a DPR (other than REBOOTING).
    pub fn always_reconnect(&self) -> bool {
        self.settings.lock().always_reconnect
    }

    /// python's `peer.always_reconnect = True`; read when the connection
    /// ends.
    pub fn set_always_reconnect(&self, always: bool) {
        self.settings.lock().always_reconnect = always;
    }

    /// python's `peer.reconnect_wait`: the wait before a persistent peer is
    /// connected again ([`DEFAULT_RECONNECT_WAIT`](crate::node::peer::DEFAULT_RECONNECT_WAIT) unless set).
    pub fn reconnect_wait(&self) -> Duration {
        self.settings.lock().reconnect_wait
    }

    /// python's `peer.reconnect_wait = 5`; read when the connection ends.
    pub fn set_reconnect_wait(&self, wait: Duration) {
        self.settings.lock().reconnect_wait = wait;
    }

    /// python's `peer.cea_timeout`: this peer's CEA timeout, `None` for the
    /// node's.
    pub fn cea_timeout(&self) -> Option<Duration> {
        self.settings.lock().cea_timeout
    }

    /// python's `peer.cea_timeout = 5` (`None` or zero: the node's, as
    /// python's `None` or 0); applies from the peer's next connection.
    pub fn set_cea_timeout(&self, timeout: impl Into<Option<Duration>>) {
        self.settings.lock().cea_timeout = timeout.into();
    }

    /// python's `peer.cer_timeout`: this peer's CER timeout, `None` for the
    /// node's.
    pub fn cer_timeout(&self) -> Option<Duration> {
        self.settings.lock().cer_timeout
    }

    /// python's `peer.cer_timeout = 5` (`None` or zero: the node's);
    /// applies from the peer's next connection.
    pub fn set_cer_timeout(&self, timeout: impl Into<Option<Duration>>) {
        self.settings.lock().cer_timeout = timeout.into();
    }

    /// python's `peer.dwa_timeout`: this peer's DWA timeout, `None` for the
    /// node's.
    pub fn dwa_timeout(&self) -> Option<Duration> {
        self.settings.lock().dwa_timeout
    }

    /// python's `peer.dwa_timeout = 5` (`None` or zero: the node's);
    /// applies from the peer's next connection.
    pub fn set_dwa_timeout(&self, timeout: impl Into<Option<Duration>>) {
        self.settings.lock().dwa_timeout = timeout.into();
    }

    /// python's `peer.idle_timeout`: this peer's watchdog idle time (Tw),
    /// `None` for the node's.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.settings.lock().idle_timeout
    }

    /// python's `peer.idle_timeout = 10` (`None` or zero: the node's);
    /// applies from the peer's next connection.
    pub fn set_idle_timeout(&self, timeout: impl Into<Option<Duration>>) {
        self.settings.lock().idle_timeout = timeout.into();
    }

    /// How long a connect to this peer may take
    /// ([`DEFAULT_CONNECT_TIMEOUT`](crate::node::peer::DEFAULT_CONNECT_TIMEOUT) unless set).
    pub fn connect_timeout(&self) -> Duration {
        self.settings.lock().connect_timeout
    }

    /// Sets how long a connect to this peer may take; applies from the
    /// next connect.
    pub fn set_connect_timeout(&self, timeout: Duration) {
        self.settings.lock().connect_timeout = timeout;
    }

    /// python's `peer.connection`: what the event loop last saw of the
    /// peer's connection, `None` when it has none.
    pub fn connection(&self) -> Option<PeerConnectionInfo> {
        self.status.lock().connection.clone()
    }

    /// python's `peer.disconnect_reason`: why the last connection ended (a
    /// `DISCONNECT_REASON_*`), `None` before the first disconnect and once
    /// reconnected.
    pub fn disconnect_reason(&self) -> Option<u8> {
        self.status.lock().disconnect_reason
    }

    /// python's `peer.last_connect`: when the last connection was
    /// established.
    pub fn last_connect(&self) -> Option<SystemTime> {
        self.status.lock().last_connect
    }

    /// python's `peer.last_disconnect`: when the last connection ended.
    pub fn last_disconnect(&self) -> Option<SystemTime> {
        self.status.lock().last_disconnect
    }

    /// Seconds since the last disconnect, -1 if never (python's `disconnected_since`).
    pub fn disconnected_since(&self) -> i64 {
        self.status
            .lock()
            .last_disconnect
            .and_then(|t| t.elapsed().ok())
            .map_or(-1, |d| d.as_secs() as i64)
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Peer<{}>", self.node_name)
    }
}

/// The node's statistics now, from its peers' (each read under its own lock).
pub(crate) fn node_stats<'a>(
    peers: impl Iterator<Item = &'a std::sync::Arc<Peer>>,
) -> crate::node::stats::NodeStats {
    let snapshots: Vec<crate::node::stats::PeerStats> =
        peers.map(|p| p.statistics.lock().clone()).collect();
    crate::node::stats::NodeStats::from_peers(&snapshots, crate::node::stats::unix_secs())
}

/// A change of a peer's record, as the protocol core sees it happen; the
/// event loop applies it ([`Peer::apply`]) for the threads that read it.
#[derive(Debug)]
pub(crate) enum PeerChange {
    /// A connection to it is being opened (`opened: false`) or exchanged
    /// capabilities (`opened: true`: the last connect time is now, the last
    /// disconnect reason and DPR cause are forgotten).
    Connection {
        /// The connection as the python-facing status shows it.
        info: PeerConnectionInfo,
        /// Capabilities were exchanged.
        opened: bool,
    },
    /// The state of its connection `ident` (of whatever connection it has,
    /// when `None`).
    State {
        /// The connection meant.
        ident: Option<u64>,
        /// python's PEER_* state.
        state: u8,
    },
    /// It sent a DPR with this Disconnect-Cause.
    Dpr(Option<i32>),
    /// Its last connection ended.
    Disconnected {
        /// python's disconnect reason.
        reason: u8,
        /// When.
        at: Instant,
        /// Whether its next CER says it reopens (after a DWA timeout).
        reopen: bool,
    },
    /// Requests received from it.
    Received(u64),
    /// An answer sent to it: the processing time of its request and its
    /// Result-Code.
    Answered {
        /// The request's command code.
        command_code: u32,
        /// From the request's arrival to the answer.
        took: Duration,
        /// The answer's Result-Code, if it has one.
        result_code: Option<u32>,
    },
}

impl Peer {
    /// Applies a change the core saw (`wall` and `unix` the wall clock now);
    /// true when the state of its connection changed (the applications'
    /// readiness is then recomputed).
    pub(crate) fn apply(&self, change: PeerChange, wall: SystemTime, unix: u64) -> bool {
        match change {
            PeerChange::Connection { info, opened } => {
                let mut st = self.status.lock();
                st.connection = Some(info);
                if opened {
                    st.disconnect_reason = None;
                    st.dpr_cause = None;
                    st.last_connect = Some(wall);
                }
                opened
            }
            PeerChange::State { ident, state } => {
                let mut st = self.status.lock();
                match st.connection.as_mut() {
                    Some(info) if ident.is_none_or(|i| i == info.ident) && info.state != state => {
                        info.state = state;
                        true
                    }
                    _ => false,
                }
            }
            PeerChange::Dpr(cause) => {
                let mut st = self.status.lock();
                st.dpr_cause = cause;
                if let Some(info) = st.connection.as_mut() {
                    info.state = crate::node::peer::PEER_DISCONNECTING;
                }
                false
            }
            PeerChange::Disconnected { reason, at, reopen } => {
                let mut st = self.status.lock();
                st.connection = None;
                st.last_disconnect = Some(wall);
                st.last_disconnect_at = Some(at);
                st.disconnect_reason = Some(reason);
                st.reopen = reopen;
                true
            }
            PeerChange::Received(n) => {
                self.statistics.lock().add_received_req(unix, n);
                false
            }
            PeerChange::Answered {
                command_code,
                took,
                result_code,
            } => {
                let mut stats = self.statistics.lock();
                stats.add_processed_req_time(
                    crate::message::dictionary::command_name(command_code),
                    took.as_secs_f64(),
                );
                if let Some(code) = result_code {
                    stats.add_sent_result_code(unix, code);
                }
                false
            }
        }
    }
}
