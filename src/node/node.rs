//! `Node`: the local Diameter node (python's `diameter.node.Node`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Sender};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use crate::message::constants::*;
use crate::message::{Avp, Message};

use super::application::{answer_channel, wait_answer, AppBase, Application, ApplicationError};
use super::event_loop::{self, Command, ListenSpec, LoopConfig};
use super::peer::{AppId, Peer, PeerSettings, PeerStatus, PEER_TRANSPORT_SCTP, PEER_TRANSPORT_TCP};
use super::{parse_diameter_uri, SequenceGenerator, SessionGenerator, UriError};
use crate::message::dictionary;

/// Errors of the node (python's `NodeError`).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// `start()` was called on a running or stopped node.
    #[error("node already started")]
    AlreadyStarted,
    /// `stop()` was called on a node that is not running.
    #[error("node not started")]
    NotStarted,
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
    Tls(#[from] crate::node::transport::tls::TlsError),
    /// The event loop could not be started.
    #[error("event loop failed: {0}")]
    EventLoop(#[source] std::io::Error),
    /// No peer can take the message (python's `NotRoutable`).
    #[error("not routable: {0}")]
    NotRoutable(String),
}

/// python's keyword arguments of `Node(...)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeOptions {
    /// Addresses to listen on and to advertise in Host-IP-Address.
    pub ip_addresses: Vec<IpAddr>,
    /// TCP port to listen on; no TCP listener when `None`.
    pub tcp_port: Option<u16>,
    /// SCTP port to listen on: one multi-homed SCTP socket bound to every
    /// address of `ip_addresses`; no SCTP listener when `None`.
    pub sctp_port: Option<u16>,
    /// Supported-Vendor-Id values; python's default (every known vendor) when empty.
    pub vendor_ids: Vec<u32>,
    /// TLS/TCP port to listen on (TLS from the first byte, RFC 6733 §2.1:
    /// 5658 by convention); needs `tls`. No TLS listener when `None`.
    pub tls_port: Option<u16>,
    /// In-band TLS on cleartext TCP connections (Inband-Security-Id in
    /// CER/CEA, then the handshake); needs `tls` unless `Off`.
    pub inband_tls: InbandTls,
    /// The node's certificate, key and trusted CA certificates (PEM files),
    /// for `aaas://` peers, `tls_port` and in-band TLS.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::node::transport::tls::TlsOptions>,
}

/// In-band TLS on cleartext TCP connections (the RFC 3588 way, still used by
/// freeDiameter's `TLS_old_method`): CER and CEA carry Inband-Security-Id,
/// and when both sides chose TLS (1) the handshake follows the CEA, the
/// connection's initiator being the TLS client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InbandTls {
    /// No Inband-Security-Id is sent; a CER offering only TLS is refused
    /// with DIAMETER_NO_COMMON_SECURITY (5017).
    #[default]
    Off,
    /// Offer both NO_INBAND_SECURITY (0) and TLS (1): TLS when the other side
    /// offers it, cleartext otherwise.
    Optional,
    /// Offer TLS (1) only: peers that do not offer it are refused (5017).
    Required,
}

impl InbandTls {
    /// The Inband-Security-Id values a CER offers.
    pub(crate) fn offered(self) -> Vec<u32> {
        match self {
            InbandTls::Off => Vec::new(),
            InbandTls::Optional => vec![0, 1],
            InbandTls::Required => vec![1],
        }
    }
}

/// Which listeners [`Node::listen_addresses_for`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenTransport {
    /// Cleartext TCP (`tcp_port`).
    Tcp,
    /// TLS/TCP (`tls_port`).
    Tls,
    /// SCTP (`sctp_port`).
    Sctp,
}

/// Transport failures since the node was created.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// TLS handshakes that failed (bad certificate, unknown CA, wrong name,
    /// protocol error).
    pub tls_handshake_failures: std::sync::atomic::AtomicU64,
    /// Connections closed because the peer's certificate does not name its
    /// Origin-Host.
    pub tls_identity_mismatches: std::sync::atomic::AtomicU64,
}

/// A snapshot of [`TransportCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// TLS handshakes that failed.
    pub tls_handshake_failures: u64,
    /// Connections refused because a certificate did not name the peer.
    pub tls_identity_mismatches: u64,
}

/// python's keyword arguments of `Node.add_peer(...)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerOptions {
    /// Addresses to connect to; the URI's host when empty and it is an IP address.
    pub ip_addresses: Vec<IpAddr>,
    /// Connect at start and keep connected.
    pub is_persistent: bool,
    /// Use as a default route for its realm.
    pub is_default: bool,
}

struct Running {
    commands: Sender<Command>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
    local_addrs: Vec<(ListenTransport, SocketAddr)>,
}

/// The local Diameter node. Configure it, add peers, then [`start`](Self::start)
/// it: one event-loop thread then owns every socket.
///
/// ```no_run
/// use std::time::Duration;
/// use diameter::node::{Node, NodeOptions, PeerOptions};
///
/// let mut node = Node::new("client.example.net", "example.net", NodeOptions::default());
/// node.idle_timeout = Duration::from_secs(10);
/// node.add_peer("aaa://ocs.example.net:3868;transport=tcp", Some("example.net"),
///     PeerOptions { ip_addresses: vec!["127.0.0.1".parse()?], is_persistent: true, ..Default::default() })?;
/// node.start()?;
/// // ...
/// node.stop(Duration::from_secs(5), false)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Node {
    /// Origin-Host of this node.
    pub origin_host: String,
    /// Origin-Realm of this node.
    pub realm_name: String,
    /// Listen and Host-IP-Address addresses.
    pub ip_addresses: Vec<IpAddr>,
    /// TCP listen port.
    pub tcp_port: Option<u16>,
    /// SCTP listen port.
    pub sctp_port: Option<u16>,
    /// TLS/TCP listen port.
    pub tls_port: Option<u16>,
    /// In-band TLS policy for cleartext TCP connections.
    pub inband_tls: InbandTls,
    /// TLS certificates and trust.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::node::transport::tls::TlsOptions>,
    /// Supported-Vendor-Id values.
    pub vendor_ids: Vec<u32>,
    /// Origin-State-Id (creation time, as python).
    pub state_id: u32,
    /// Vendor-Id in CER/CEA (python: 99999).
    pub vendor_id: u32,
    /// Product-Name in CER/CEA.
    pub product_name: String,
    /// Firmware-Revision in CER/CEA.
    pub firmware_revision: Option<u32>,
    /// CEA timeout.
    pub cea_timeout: Duration,
    /// CER timeout.
    pub cer_timeout: Duration,
    /// DWA timeout.
    pub dwa_timeout: Duration,
    /// Watchdog idle time, Tw.
    pub idle_timeout: Duration,
    /// DPA timeout, and how long a DPR receiver waits for the close.
    pub dpa_timeout: Duration,
    /// Kept for python compatibility: timers here follow their deadlines,
    /// so nothing polls at this interval.
    pub wakeup_interval: Duration,
    /// How many answered requests per peer are remembered to answer
    /// retransmissions (T flag) again.
    pub retransmit_queue_size: usize,
    /// Answer requests missing required AVPs with 5005.
    pub validate_received_request_avps: bool,
    /// Log peers on `diameter.stats` at debug.
    pub peers_logging: bool,
    /// Log statistics on `diameter.stats` at debug.
    pub stats_logging: bool,
    /// Largest message accepted from a peer.
    pub max_message_size: u32,
    /// Most connections at once; further incoming ones are closed at once.
    pub max_connections: usize,
    /// Accept CERs from peers that were not added with `add_peer` (python
    /// cannot); their requests go to applications added without peers.
    pub accept_unknown_peers: bool,
    /// End-to-end identifier sequence.
    pub end_to_end_seq: Arc<SequenceGenerator>,
    /// Session-Id generator.
    pub session_generator: Arc<SessionGenerator>,
    /// Picks the peer for a request when several can take it (python's
    /// `peer_route_select_func`); the default picks the peer with the fewest
    /// outstanding requests, ties in turn. Set it before `start()`.
    pub peer_route_select_func: Option<RouteSelect>,
    peers: BTreeMap<String, Arc<Peer>>,
    transport_counters: Arc<TransportCounters>,
    applications: Vec<AppId>,
    apps: Vec<AppRoute>,
    running: Mutex<Option<Running>>,
    shared: Mutex<Option<Arc<Shared>>>,
    stopped: bool,
}

impl Node {
    /// A node with python's defaults.
    pub fn new(origin_host: &str, realm_name: &str, options: NodeOptions) -> Node {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let vendor_ids = if options.vendor_ids.is_empty() {
            dictionary::vendor_ids().filter(|v| *v > 0).collect()
        } else {
            options.vendor_ids
        };
        Node {
            origin_host: origin_host.to_owned(),
            realm_name: realm_name.to_owned(),
            ip_addresses: options.ip_addresses,
            tcp_port: options.tcp_port,
            sctp_port: options.sctp_port,
            tls_port: options.tls_port,
            inband_tls: options.inband_tls,
            #[cfg(feature = "tls")]
            tls: options.tls,
            vendor_ids,
            state_id: now as u32,
            vendor_id: 99999,
            product_name: "diameter-stack".to_owned(),
            firmware_revision: None,
            cea_timeout: Duration::from_secs(4),
            cer_timeout: Duration::from_secs(4),
            dwa_timeout: Duration::from_secs(4),
            idle_timeout: Duration::from_secs(30),
            dpa_timeout: Duration::from_secs(4),
            wakeup_interval: Duration::from_secs(6),
            retransmit_queue_size: 10240,
            validate_received_request_avps: true,
            peers_logging: false,
            stats_logging: false,
            max_message_size: crate::message::framer::DEFAULT_MAX_MESSAGE_SIZE,
            max_connections: 1024,
            accept_unknown_peers: false,
            end_to_end_seq: Arc::new(SequenceGenerator::with_time(now)),
            session_generator: Arc::new(SessionGenerator::new(origin_host)),
            peer_route_select_func: None,
            peers: BTreeMap::new(),
            transport_counters: Default::default(),
            applications: Vec::new(),
            apps: Vec::new(),
            running: Mutex::new(None),
            shared: Mutex::new(None),
            stopped: false,
        }
    }

    /// Adds a peer from its DiameterURI (python's `add_peer`); a peer already
    /// known by that FQDN is returned unchanged. Peers are matched without
    /// regard to case (python never matches upper-case names).
    pub fn add_peer(
        &mut self,
        peer_uri: &str,
        realm_name: Option<&str>,
        options: PeerOptions,
    ) -> Result<Arc<Peer>, NodeError> {
        let uri = parse_diameter_uri(peer_uri)?;
        let key = uri.fqdn.to_ascii_lowercase();
        if let Some(peer) = self.peers.get(&key) {
            return Ok(peer.clone());
        }
        let transport = match uri.transport() {
            "tcp" => PEER_TRANSPORT_TCP,
            "sctp" => PEER_TRANSPORT_SCTP,
            other => return Err(NodeError::UnsupportedTransport(other.to_owned())),
        };
        if transport == PEER_TRANSPORT_SCTP {
            if uri.is_secure {
                return Err(NodeError::UnsupportedTransport(
                    "aaas over SCTP (DTLS/SCTP)".to_owned(),
                ));
            }
            super::transport::sctp_sys::sctp_supported().map_err(NodeError::SctpUnavailable)?;
        }
        if uri.is_secure {
            self.require_tls(&format!("peer {peer_uri}"))?;
        }
        let mut ip_addresses = options.ip_addresses;
        if ip_addresses.is_empty() {
            ip_addresses.extend(uri.fqdn.parse::<IpAddr>().ok());
        }
        let peer = Arc::new(Peer {
            node_name: uri.fqdn.clone(),
            realm_name: realm_name.unwrap_or(&self.realm_name).to_owned(),
            transport,
            is_secure: uri.is_secure,
            port: uri.port,
            ip_addresses,
            persistent: options.is_persistent,
            is_default: options.is_default,
            settings: Mutex::new(PeerSettings::default()),
            status: Mutex::new(PeerStatus::default()),
            counters: Arc::new(Default::default()),
            outstanding: Default::default(),
            statistics: Mutex::new(Default::default()),
        });
        self.peers.insert(key, peer.clone());
        Ok(peer)
    }

    /// The configured peers, by lower-cased FQDN.
    pub fn peers(&self) -> &BTreeMap<String, Arc<Peer>> {
        &self.peers
    }

    /// Adds an application for `peers` (python's `add_application(app,
    /// peers, realms)`): requests from those peers for its application id go
    /// to it, and its `send_request` routes to them, in their realms and in
    /// `realms`. Its id is advertised in CER/CEA. Add applications before
    /// `start()`.
    pub fn add_application<P: std::borrow::Borrow<Arc<Peer>>>(
        &mut self,
        app: Arc<dyn Application>,
        peers: impl IntoIterator<Item = P>,
        realms: &[&str],
    ) {
        self.add_application_id(app.base().app_id());
        self.apps.push(AppRoute {
            app,
            peers: peers.into_iter().map(|p| p.borrow().clone()).collect(),
            realms: realms.iter().map(|r| r.to_ascii_lowercase()).collect(),
        });
    }

    /// Advertises an application in CER/CEA. Applications added with
    /// `add_application` are advertised too.
    pub fn add_application_id(&mut self, app: AppId) {
        if !self.applications.contains(&app) {
            self.applications.push(app);
        }
    }

    /// Auth application ids advertised.
    pub fn auth_application_ids(&self) -> Vec<u32> {
        use super::peer::AppKind;
        self.applications
            .iter()
            .filter(|a| a.kind == AppKind::Auth)
            .map(|a| a.id)
            .collect()
    }

    /// Acct application ids advertised.
    pub fn acct_application_ids(&self) -> Vec<u32> {
        use super::peer::AppKind;
        self.applications
            .iter()
            .filter(|a| a.kind == AppKind::Acct)
            .map(|a| a.id)
            .collect()
    }

    /// Opens the listeners and starts the event loop; returns once it runs.
    /// Listening errors are returned. A node starts once.
    pub fn start(&mut self) -> Result<(), NodeError> {
        let mut running = self.running.lock();
        if running.is_some() || self.stopped {
            return Err(NodeError::AlreadyStarted);
        }
        let mut listen = Vec::new();
        if let Some(port) = self.tcp_port {
            for ip in &self.ip_addresses {
                listen.push(ListenSpec::Tcp(SocketAddr::new(*ip, port)));
            }
        }
        if let Some(port) = self.tls_port {
            self.require_tls("tls_port")?;
            for ip in &self.ip_addresses {
                listen.push(ListenSpec::Tls(SocketAddr::new(*ip, port)));
            }
        }
        if let Some(port) = self.sctp_port {
            super::transport::sctp_sys::sctp_supported().map_err(NodeError::SctpUnavailable)?;
            let mut addrs: Vec<SocketAddr> = self
                .ip_addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect();
            if addrs.is_empty() {
                addrs.push(SocketAddr::new(
                    std::net::Ipv4Addr::UNSPECIFIED.into(),
                    port,
                ));
            }
            listen.push(ListenSpec::Sctp(addrs));
        }
        if self.inband_tls != InbandTls::Off {
            self.require_tls("inband_tls")?;
        }
        #[cfg(feature = "tls")]
        let tls = match &self.tls {
            Some(options) => Some(Arc::new(crate::node::transport::tls::TlsContext::new(
                options,
            )?)),
            None => None,
        };
        let config = LoopConfig {
            origin_host: self.origin_host.clone(),
            origin_realm: self.realm_name.clone(),
            host_ip_addresses: self.ip_addresses.clone(),
            vendor_id: self.vendor_id,
            product_name: self.product_name.clone(),
            firmware_revision: self.firmware_revision,
            origin_state_id: self.state_id,
            supported_vendor_ids: self.vendor_ids.clone(),
            applications: self.applications.clone(),
            cea_timeout: self.cea_timeout,
            cer_timeout: self.cer_timeout,
            dwa_timeout: self.dwa_timeout,
            idle_timeout: self.idle_timeout,
            dpa_timeout: self.dpa_timeout,
            max_message_size: self.max_message_size,
            retransmit_queue_size: self.retransmit_queue_size,
            peers_logging: self.peers_logging,
            stats_logging: self.stats_logging,
            max_connections: self.max_connections,
            accept_unknown_peers: self.accept_unknown_peers,
            validate_received_request_avps: self.validate_received_request_avps,
            peers: self.peers.values().cloned().collect(),
            end_to_end: self.end_to_end_seq.clone(),
            inband_security: self.inband_tls.offered(),
            sctp_local: self.ip_addresses.clone(),
            #[cfg(feature = "tls")]
            tls,
            transport_counters: self.transport_counters.clone(),
        };
        let shared = Arc::new(Shared {
            origin_host: self.origin_host.clone(),
            origin_realm: self.realm_name.clone(),
            end_to_end: self.end_to_end_seq.clone(),
            session_generator: self.session_generator.clone(),
            hop_by_hop: SequenceGenerator::new(),
            pending: Mutex::new(HashMap::new()),
            link: OnceLock::new(),
            wake_pending: Default::default(),
            select: self.peer_route_select_func.clone(),
            history: Mutex::new(Default::default()),
            round_robin: Default::default(),
            apps: RwLock::new(self.apps.clone()),
            peers: self.peers.values().cloned().collect(),
        });
        for route in &self.apps {
            route.app.base().attach(shared.clone());
        }
        let started = event_loop::spawn(config, &listen, shared.clone())?;
        let _ = shared
            .link
            .set((started.commands.clone(), started.waker.clone()));
        *running = Some(Running {
            commands: started.commands,
            waker: started.waker,
            thread: Some(started.thread),
            local_addrs: started.local_addrs,
        });
        Ok(())
    }

    /// The node's statistics, summed over its peers (python's `statistics`).
    pub fn statistics(&self) -> super::stats::NodeStats {
        node_stats(self.peers.values())
    }

    /// Statistics snapshots taken every 60 s while running, the last 1,440
    /// (python's `statistics_history`).
    pub fn statistics_history(&self) -> Vec<(SystemTime, super::stats::NodeStats)> {
        self.shared
            .lock()
            .as_ref()
            .map(|s| s.history.lock().iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The addresses the listeners are bound to (useful with port 0).
    pub fn listen_addresses(&self) -> Vec<SocketAddr> {
        self.running
            .lock()
            .as_ref()
            .map(|r| r.local_addrs.iter().map(|(_, a)| *a).collect())
            .unwrap_or_default()
    }

    /// The addresses the listeners of one transport are bound to.
    pub fn listen_addresses_for(&self, transport: ListenTransport) -> Vec<SocketAddr> {
        self.running
            .lock()
            .as_ref()
            .map(|r| {
                r.local_addrs
                    .iter()
                    .filter(|(t, _)| *t == transport)
                    .map(|(_, a)| *a)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Transport failures so far: failed TLS handshakes and certificates
    /// that do not name their peer.
    pub fn transport_stats(&self) -> TransportStats {
        use std::sync::atomic::Ordering::Relaxed;
        TransportStats {
            tls_handshake_failures: self.transport_counters.tls_handshake_failures.load(Relaxed),
            tls_identity_mismatches: self
                .transport_counters
                .tls_identity_mismatches
                .load(Relaxed),
        }
    }

    /// An error unless the node can do TLS.
    fn require_tls(&self, what: &str) -> Result<(), NodeError> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        let why = "set NodeOptions::tls (certificate, key and CA files)";
        #[cfg(not(feature = "tls"))]
        let why = "this build has no `tls` feature";
        Err(NodeError::TlsNotConfigured(format!(
            "{what} needs TLS: {why}"
        )))
    }

    /// Stops the node (python's `stop(wait_timeout, force)`): unless `force`,
    /// sends DPR (Disconnect-Cause REBOOTING) on every open connection and
    /// waits up to `wait_timeout` for them to close; then closes everything
    /// and joins the event loop.
    pub fn stop(&mut self, wait_timeout: Duration, force: bool) -> Result<(), NodeError> {
        let running = self.running.lock().take();
        let Some(mut running) = running else {
            return Err(NodeError::NotStarted);
        };
        self.stopped = true;
        let (done_tx, done_rx) = bounded(1);
        let sent = running
            .commands
            .send(Command::Stop {
                wait_timeout,
                force,
                done: done_tx,
            })
            .is_ok();
        let _ = running.waker.wake();
        if sent {
            // the loop answers once every connection is gone
            let _ = done_rx.recv_timeout(wait_timeout + Duration::from_secs(5));
        }
        if let Some(thread) = running.thread.take() {
            let _ = thread.join();
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.running.lock().is_some() {
            let _ = self.stop(Duration::from_secs(1), true);
        }
    }
}

/// A peer selector (python's `peer_route_select_func(node, app, message,
/// peers)`): given the application, the request and the ready peers that
/// negotiated the application (two or more), returns the one to use.
pub type RouteSelect =
    Arc<dyn Fn(&AppBase, &Message, &[Arc<Peer>]) -> Result<Arc<Peer>, NodeError> + Send + Sync>;

/// An application with the peers and realms it serves.
#[derive(Clone)]
pub(crate) struct AppRoute {
    pub app: Arc<dyn Application>,
    pub peers: Vec<Arc<Peer>>,
    pub realms: Vec<String>,
}

/// A request waiting for its answer.
pub(crate) struct Pending {
    pub tx: super::application::AnswerSender,
    pub peer: Arc<Peer>,
}

/// What applications and the event loop share: routing, the pending answer
/// table and the way into the loop.
pub(crate) struct Shared {
    pub origin_host: String,
    pub origin_realm: String,
    pub end_to_end: Arc<SequenceGenerator>,
    pub session_generator: Arc<SessionGenerator>,
    pub hop_by_hop: SequenceGenerator,
    pub pending: Mutex<HashMap<u32, Pending>>,
    pub link: OnceLock<(Sender<Command>, Arc<mio::Waker>)>,
    pub wake_pending: std::sync::atomic::AtomicBool,
    pub select: Option<RouteSelect>,
    pub history: Mutex<std::collections::VecDeque<(SystemTime, super::stats::NodeStats)>>,
    pub round_robin: std::sync::atomic::AtomicUsize,
    pub apps: RwLock<Vec<AppRoute>>,
    pub peers: Vec<Arc<Peer>>,
}

/// Whether the peer's connection negotiated `app`.
pub(crate) fn negotiated(peer: &Peer, app: AppId) -> bool {
    use super::peer::{AppKind, RELAY_APPLICATION_ID};
    let st = peer.status.lock();
    let Some(c) = st.connection.as_ref() else {
        return false;
    };
    if !super::peer::PEER_READY_STATES.contains(&c.state) {
        return false;
    }
    let ids = match app.kind {
        AppKind::Auth => &c.auth_application_ids,
        AppKind::Acct => &c.acct_application_ids,
    };
    ids.iter()
        .any(|id| *id == app.id || *id == RELAY_APPLICATION_ID)
}

impl Shared {
    fn command(&self, cmd: Command) -> Result<(), NodeError> {
        let (tx, waker) = self
            .link
            .get()
            .ok_or_else(|| NodeError::NotRoutable("node not started".into()))?;
        tx.send(cmd)
            .map_err(|_| NodeError::NotRoutable("node stopped".into()))?;
        // one wake-up per batch: the loop clears the flag before it drains
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _ = waker.wake();
        }
        Ok(())
    }

    /// RFC 6733 §6.1: the peer for a request of application `app`.
    pub(crate) fn route(&self, base: &AppBase, msg: &Message) -> Result<Arc<Peer>, NodeError> {
        let app = base.app_id();
        let usable = |p: &Arc<Peer>| negotiated(p, app);
        if let Some(host) = msg
            .find_avp(&[(AVP_DESTINATION_HOST, 0)])
            .and_then(Avp::as_str)
        {
            if let Some(p) = self
                .peers
                .iter()
                .find(|p| p.node_name.eq_ignore_ascii_case(host))
            {
                if usable(p) {
                    return Ok(p.clone());
                }
            }
        }
        let realm = msg
            .find_avp(&[(AVP_DESTINATION_REALM, 0)])
            .and_then(Avp::as_str)
            .unwrap_or(&self.origin_realm)
            .to_ascii_lowercase();
        let apps = self.apps.read();
        let mut candidates: Vec<Arc<Peer>> = apps
            .iter()
            .filter(|r| r.app.base().app_id() == app)
            .flat_map(|r| {
                r.peers
                    .iter()
                    .filter(|p| {
                        p.realm_name.eq_ignore_ascii_case(&realm) || r.realms.contains(&realm)
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(usable)
            .collect();
        if candidates.is_empty() {
            candidates = self
                .peers
                .iter()
                .filter(|p| p.is_default && p.realm_name.eq_ignore_ascii_case(&realm))
                .filter(|p| usable(p))
                .cloned()
                .collect();
        }
        if candidates.len() > 1 {
            if let Some(select) = &self.select {
                return select(base, msg, &candidates);
            }
        }
        // the least loaded peer (one reading of each count, as they change
        // under us); ties go round robin
        let loads: Vec<u64> = candidates
            .iter()
            .map(|p| p.outstanding.load(Ordering::Relaxed))
            .collect();
        let least = loads.iter().copied().min().unwrap_or(0);
        let tied: Vec<Arc<Peer>> = candidates
            .into_iter()
            .zip(loads)
            .filter(|(_, load)| *load == least)
            .map(|(p, _)| p)
            .collect();
        let turn = self.round_robin.fetch_add(1, Ordering::Relaxed);
        tied.get(turn % tied.len().max(1)).cloned().ok_or_else(|| {
            NodeError::NotRoutable(format!(
                "no ready peer for application {} in realm {realm}",
                app.id
            ))
        })
    }

    /// Routes, encodes and sends a request, then waits for its answer.
    pub(crate) fn request(
        &self,
        app: &AppBase,
        mut msg: Message,
        timeout: Duration,
    ) -> Result<Message, ApplicationError> {
        let peer = self.route(app, &msg)?;
        if msg.header.hop_by_hop_identifier == 0 {
            msg.header.hop_by_hop_identifier = self.hop_by_hop.next_sequence();
        }
        let hbh = msg.header.hop_by_hop_identifier;
        let bytes = msg.as_bytes()?;
        let (tx, rx) = answer_channel();
        self.pending.lock().insert(
            hbh,
            Pending {
                tx,
                peer: peer.clone(),
            },
        );
        peer.outstanding.fetch_add(1, Ordering::Relaxed);
        let result = match self.command(Command::SendRequest {
            peer: peer.clone(),
            hop_by_hop: hbh,
            bytes,
        }) {
            Ok(()) => wait_answer(&rx, timeout),
            Err(e) => Err(e.into()),
        };
        if result.is_err() {
            self.pending.lock().remove(&hbh);
        }
        peer.outstanding.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Hands an answer to the loop, for the connection its request came on.
    pub(crate) fn send_answer(
        &self,
        hop_by_hop: u32,
        end_to_end: u32,
        bytes: Vec<u8>,
    ) -> Result<(), NodeError> {
        self.command(Command::SendAnswer {
            hop_by_hop,
            end_to_end,
            bytes,
        })
    }

    /// Fails every request waiting on `peer` (its connection closed).
    pub(crate) fn fail_pending(&self, peer: Option<&Arc<Peer>>, why: &str) {
        let mut pending = self.pending.lock();
        let failed: Vec<u32> = pending
            .iter()
            .filter(|(_, p)| peer.is_none_or(|peer| Arc::ptr_eq(&p.peer, peer)))
            .map(|(hbh, _)| *hbh)
            .collect();
        for hbh in failed {
            if let Some(p) = pending.remove(&hbh) {
                let _ =
                    p.tx.send(Err(ApplicationError::EmptyAnswer(why.to_owned())));
            }
        }
    }

    /// Recomputes every application's readiness.
    pub(crate) fn update_ready(&self) {
        for route in self.apps.read().iter() {
            let base: &AppBase = route.app.base();
            let id = base.app_id();
            let ready = if route.peers.is_empty() {
                self.peers.iter().any(|p| negotiated(p, id))
            } else {
                route.peers.iter().any(|p| negotiated(p, id))
            };
            base.set_ready(ready);
        }
    }
}

/// What an application sees of its node (python's `app.node`): its identity,
/// generators, peers and statistics. Cheap to clone.
#[derive(Clone)]
pub struct NodeRef(pub(crate) Arc<Shared>);

impl NodeRef {
    /// The node's Origin-Host.
    pub fn origin_host(&self) -> &str {
        &self.0.origin_host
    }

    /// The node's realm.
    pub fn realm_name(&self) -> &str {
        &self.0.origin_realm
    }

    /// The node's Session-Id generator.
    pub fn session_generator(&self) -> &Arc<SessionGenerator> {
        &self.0.session_generator
    }

    /// The node's End-to-End identifier sequence.
    pub fn end_to_end_seq(&self) -> &Arc<SequenceGenerator> {
        &self.0.end_to_end
    }

    /// The node's configured peers.
    pub fn peers(&self) -> &[Arc<Peer>] {
        &self.0.peers
    }

    /// The node's statistics now.
    pub fn statistics(&self) -> super::stats::NodeStats {
        node_stats(self.0.peers.iter())
    }
}

/// Unix time in whole seconds: the statistics' clock, as python's.
pub(crate) fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The node's statistics now, from its peers' (each read under its own lock).
pub(crate) fn node_stats<'a>(
    peers: impl Iterator<Item = &'a Arc<Peer>>,
) -> super::stats::NodeStats {
    let snapshots: Vec<super::stats::PeerStats> =
        peers.map(|p| p.statistics.lock().clone()).collect();
    super::stats::NodeStats::from_peers(&snapshots, unix_secs())
}
