//! `Node`: the local Diameter node (python's `diameter.node.Node`): its
//! python-facing settings, `add_peer`/`add_application` (before or after
//! `start`, from any thread), `start` and `stop`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::bounded;
use parking_lot::Mutex;

use crate::message::{dictionary, Message};
use crate::node::app::api::Registry;
use crate::node::app::api::{AppBase, AppRoute, Application, RouteSelect};
use crate::node::config::ListenTransport;
use crate::node::config::{parse_addresses, IpAddress, NodeConfig, NodeLimits};
use crate::node::core::agent::relay::{Agent, RelayStats, RouteAction, RouteEntry};
use crate::node::error::{NoRoute, NoRouteReason, NodeError};
use crate::node::io::event_loop;
use crate::node::io::setup::ListenSpec;
use crate::node::peer::{
    AppId, AppKind, ConnectionConfig, LocalCapabilities, Peer, PeerSettings, PeerStatus,
    DEFAULT_CEA_TIMEOUT, DEFAULT_CER_TIMEOUT, DEFAULT_DPA_TIMEOUT, DEFAULT_DWA_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_RETRANSMIT_QUEUE_SIZE, DEFAULT_STATISTICS_HISTORY_INTERVAL,
    DEFAULT_VENDOR_ID, DEFAULT_WAKEUP_INTERVAL, PEER_TRANSPORT_SCTP, PEER_TRANSPORT_TCP,
    RELAY_APPLICATION_ID,
};
use crate::node::proxy::ProxyHandler;
use crate::node::shared::{
    node_stats, Command, Handle, Identity, Life, OutAnswer, OutRequest, ProtocolStats, Reply,
    TransportStats,
};
use crate::node::stats::NodeStats;
use crate::node::{parse_diameter_uri, SequenceGenerator, SessionGenerator};

/// python's keyword arguments of `Node(...)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeOptions {
    /// Addresses to listen on and to advertise in Host-IP-Address, as
    /// text (`vec!["10.0.0.50".into()]`) or `IpAddr`s; read at `start()`.
    pub ip_addresses: Vec<IpAddress>,
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
    pub tls: Option<crate::node::tls::TlsOptions>,
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

/// python's keyword arguments of `Node.add_peer(...)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerOptions {
    /// Addresses to connect to, as text (`vec!["10.0.0.50".into()]`) or
    /// `IpAddr`s, read by `add_peer`; the URI's host when empty and it is an
    /// IP address.
    pub ip_addresses: Vec<IpAddress>,
    /// Connect at start and keep connected.
    pub is_persistent: bool,
    /// Use as a default route for its realm.
    pub is_default: bool,
}

struct Running {
    thread: Option<JoinHandle<()>>,
    local_addrs: Vec<(ListenTransport, SocketAddr)>,
}

/// The local Diameter node. Configure it, add peers and applications, then
/// [`start`](Self::start) it: one event-loop thread then owns every socket.
/// Peers and applications may also be added after `start`, and `stop` may
/// be called from any thread (`Node` is `Send + Sync`).
///
/// ```no_run
/// use std::time::Duration;
/// use diameter::node::{Node, NodeOptions, PeerOptions};
///
/// let mut node = Node::new("client.example.net", "example.net", NodeOptions::default());
/// node.idle_timeout = Duration::from_secs(10);
/// node.start()?;
/// node.add_peer("aaa://ocs.example.net:3868;transport=tcp", Some("example.net"),
///     PeerOptions { ip_addresses: vec!["127.0.0.1".into()], is_persistent: true, ..Default::default() })?;
/// // ...
/// node.stop(Duration::from_secs(5), false)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Node {
    /// Origin-Host of this node.
    pub origin_host: String,
    /// Origin-Realm of this node.
    pub realm_name: String,
    /// Listen and Host-IP-Address addresses (read at `start()`:
    /// [`NodeError::InvalidAddress`] names text that is not an address).
    pub ip_addresses: Vec<IpAddress>,
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
    pub tls: Option<crate::node::tls::TlsOptions>,
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
    /// CER timeout: how long an incoming connection may take to send its
    /// CER (a first message other than a CER closes it at once).
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
    /// Kept for python compatibility: duplicate detection is bounded by
    /// [`NodeLimits::duplicates`] (records, bytes, age) for all peers
    /// together, not by a count per peer.
    pub retransmit_queue_size: usize,
    /// Answer requests missing required AVPs with 5005, and requests with
    /// an Enumerated AVP whose value the dictionary does not list with 5004
    /// (unless `accept_unknown_enumerated_values`).
    pub validate_received_request_avps: bool,
    /// Accept Enumerated values the dictionary does not list (default
    /// false). By default a request whose top-level Enumerated AVP with the
    /// M bit holds a value that
    /// [`dictionary::enumerated_values`](crate::message::dictionary::enumerated_values)
    /// does not list is answered 5004 DIAMETER_INVALID_AVP_VALUE with that
    /// AVP in Failed-AVP (RFC 6733 §7.1.5). Set it when peers use values
    /// newer than the dictionary. python-diameter accepts them (2001).
    pub accept_unknown_enumerated_values: bool,
    /// Log peers on `diameter.stats` at debug.
    pub peers_logging: bool,
    /// Log statistics on `diameter.stats` at debug.
    pub stats_logging: bool,
    /// How often a statistics snapshot goes into
    /// [`statistics_history`](Self::statistics_history) (python: 60 s).
    pub statistics_history_interval: Duration,
    /// Largest message accepted from a peer.
    pub max_message_size: u32,
    /// Most connections at once. A further incoming one closes the oldest
    /// connection still waiting for its CER (see
    /// [`NodeLimits::max_unauthenticated`]), or, when none waits, is
    /// closed at once.
    pub max_connections: usize,
    /// Accept CERs from peers that were not added with `add_peer` (python
    /// cannot); their requests go to applications added without peers.
    pub accept_unknown_peers: bool,
    /// Refuse a configured peer's CER (3010 DIAMETER_UNKNOWN_PEER) when it
    /// comes from an address other than its `ip_addresses` (when it has
    /// any). On by default; python does not check.
    pub check_peer_addresses: bool,
    /// Bounds on what peers can make the node hold.
    pub limits: NodeLimits,
    /// End-to-end identifier sequence (RFC 6733 §3: the start time in the
    /// high 12 bits, random low 20 bits).
    pub end_to_end_seq: Arc<SequenceGenerator>,
    /// Session-Id generator.
    pub session_generator: Arc<SessionGenerator>,
    /// Picks the peer for a request when several can take it (python's
    /// `peer_route_select_func`); the default picks the peer with the fewest
    /// outstanding requests, ties in turn. Read at `start()`.
    pub peer_route_select_func: Option<RouteSelect>,
    /// What kind of node this is: [`Agent::None`] (python's only kind), or
    /// [`Agent::Relay`], which advertises the relay application and
    /// forwards requests that are not for this node by the routing table
    /// ([`add_route`](Self::add_route)). Read at `start()`.
    pub agent: Agent,
    peers: Mutex<BTreeMap<String, Arc<Peer>>>,
    handle: Arc<Registry>,
    running: Mutex<Option<Running>>,
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
        let end_to_end_seq = Arc::new(SequenceGenerator::with_time(now));
        let session_generator = Arc::new(SessionGenerator::new(origin_host));
        let handle = Handle::new(Identity {
            origin_host: origin_host.to_owned(),
            origin_realm: realm_name.to_owned(),
            end_to_end: end_to_end_seq.clone(),
            session_generator: session_generator.clone(),
        });
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
            vendor_id: DEFAULT_VENDOR_ID,
            product_name: "diameter-stack".to_owned(),
            firmware_revision: None,
            cea_timeout: DEFAULT_CEA_TIMEOUT,
            cer_timeout: DEFAULT_CER_TIMEOUT,
            dwa_timeout: DEFAULT_DWA_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            dpa_timeout: DEFAULT_DPA_TIMEOUT,
            wakeup_interval: DEFAULT_WAKEUP_INTERVAL,
            retransmit_queue_size: DEFAULT_RETRANSMIT_QUEUE_SIZE,
            validate_received_request_avps: true,
            accept_unknown_enumerated_values: false,
            peers_logging: false,
            stats_logging: false,
            statistics_history_interval: DEFAULT_STATISTICS_HISTORY_INTERVAL,
            max_message_size: crate::message::framer::DEFAULT_MAX_MESSAGE_SIZE,
            max_connections: 1024,
            accept_unknown_peers: false,
            check_peer_addresses: true,
            limits: NodeLimits::default(),
            end_to_end_seq,
            session_generator,
            peer_route_select_func: None,
            agent: Agent::None,
            peers: Mutex::new(BTreeMap::new()),
            handle: Registry::new(handle),
            running: Mutex::new(None),
        }
    }

    /// Adds a peer from its DiameterURI (python's `add_peer`); a peer already
    /// known by that FQDN is returned unchanged. Peers are matched without
    /// regard to case (python never matches upper-case names). Works before
    /// and after `start()`: a persistent peer added to a running node is
    /// connected at once.
    pub fn add_peer(
        &self,
        peer_uri: &str,
        realm_name: Option<&str>,
        options: PeerOptions,
    ) -> Result<Arc<Peer>, NodeError> {
        let uri = parse_diameter_uri(peer_uri)?;
        let key = uri.fqdn.to_ascii_lowercase();
        if let Some(peer) = self.peers.lock().get(&key) {
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
            crate::node::io::transport::sctp_sys::sctp_supported()
                .map_err(NodeError::SctpUnavailable)?;
        }
        if uri.is_secure {
            self.require_tls(&format!("peer {peer_uri}"))?;
        }
        let mut ip_addresses = parse_addresses(&options.ip_addresses)?;
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
        {
            let mut peers = self.peers.lock();
            if let Some(existing) = peers.get(&key) {
                return Ok(existing.clone());
            }
            peers.insert(key, peer.clone());
            self.handle.peers.write().push(peer.clone());
        }
        if self.handle.life() == Life::Running {
            let _ = self.handle.command(Command::PeerAdded(peer.clone()));
        }
        Ok(peer)
    }

    /// The configured peers, by lower-cased FQDN.
    pub fn peers(&self) -> BTreeMap<String, Arc<Peer>> {
        self.peers.lock().clone()
    }

    /// Adds an application for `peers` (python's `add_application(app,
    /// peers, realms)`): requests from those peers for its application id go
    /// to it, and its `send_request` routes to them, in their realms and in
    /// `realms`. Its id is advertised in CER/CEA. Works before and after
    /// `start()` (connections opened afterwards advertise it).
    pub fn add_application<P: std::borrow::Borrow<Arc<Peer>>>(
        &self,
        app: Arc<dyn Application>,
        peers: impl IntoIterator<Item = P>,
        realms: &[&str],
    ) {
        app.base().attach(self.handle.clone());
        self.add_application_id(app.base().app_id());
        self.handle.apps.write().push(AppRoute {
            app: app.clone(),
            peers: peers.into_iter().map(|p| p.borrow().clone()).collect(),
            realms: realms.iter().map(|r| r.to_ascii_lowercase()).collect(),
        });
        if self.handle.life() == Life::Running {
            let _ = self.handle.command(Command::ApplicationsChanged);
        }
        // python's add_application ends with app.start()
        app.start();
    }

    /// Adds an entry to the routing table of an agent (RFC 6733 §2.7): a
    /// request for `realm` and `application_id` (`None`: any) that is not
    /// for this node gets `action`; `Relay` and `Proxy` forward it to the
    /// least loaded of `servers` that is ready and negotiated the
    /// application (or the relay application); `Redirect` answers 3006
    /// naming them (Redirect-Host-Usage DONT_CACHE: see
    /// [`add_redirect`](Self::add_redirect) for the others). An entry
    /// naming the application wins over one for any application; among
    /// equals the first added. Works before and after `start()`; only a
    /// node whose [`agent`](Self::agent) is [`Agent::Relay`] forwards.
    pub fn add_route<P: std::borrow::Borrow<Arc<Peer>>>(
        &self,
        realm: &str,
        application_id: Option<u32>,
        action: RouteAction,
        servers: impl IntoIterator<Item = P>,
    ) {
        let servers = servers.into_iter().map(|p| p.borrow().clone()).collect();
        self.handle
            .routes
            .write()
            .push(RouteEntry::new(realm, application_id, action, servers));
        if self.handle.life() == Life::Running {
            let _ = self.handle.command(Command::RoutesChanged);
        }
    }

    /// Gives a proxy agent a handler for the requests of `application_id`
    /// that a [`RouteAction::Proxy`] entry routes (RFC 6733 §6.1.9): it
    /// sees each such request before it is forwarded, may change it or
    /// answer it here, and sees its answer before it goes back. One handler
    /// per application: a second replaces the first. Works before and
    /// after `start()`; handlers run on the event loop and must be quick
    /// (see [`ProxyHandler`]).
    pub fn add_proxy_handler(&self, application_id: u32, handler: Arc<dyn ProxyHandler>) {
        {
            let mut handlers = self.handle.proxy_handlers.write();
            handlers.retain(|(id, _)| *id != application_id);
            handlers.push((application_id, handler));
        }
        if self.handle.life() == Life::Running {
            let _ = self.handle.command(Command::RoutesChanged);
        }
    }

    /// The routing table, in the order entries were added.
    /// Adds a `Redirect` entry to the routing table of an agent (RFC 6733
    /// §6.1.7): requests for `realm` and `application_id` (`None`: any)
    /// that are not for this node are answered 3006
    /// DIAMETER_REDIRECT_INDICATION with a Redirect-Host for each of
    /// `servers` (`aaa://host:port`, or `aaas://`), and
    /// `redirect_host_usage` (python's `E_REDIRECT_HOST_USAGE_*`: which
    /// later requests the client may send straight to those hosts) and
    /// `redirect_max_cache_time` (for how long; whole seconds, at most
    /// 2^32 - 1) in Redirect-Host-Usage and Redirect-Max-Cache-Time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use diameter::message::constants::*;
    /// use diameter::node::{Node, NodeOptions, PeerOptions};
    ///
    /// let node = Node::new("dra.example.net", "example.net", NodeOptions::default());
    /// let ocs = node.add_peer("aaa://ocs1.ocs.net:3868", Some("ocs.net"), PeerOptions::default())?;
    /// node.add_redirect("ocs.net", Some(APP_DIAMETER_CREDIT_CONTROL_APPLICATION), [&ocs],
    ///     E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION, Duration::from_secs(600));
    /// assert_eq!(node.routes()[0].redirect_host_usage, 3);
    /// # Ok::<(), diameter::node::NodeError>(())
    /// ```
    pub fn add_redirect<P: std::borrow::Borrow<Arc<Peer>>>(
        &self,
        realm: &str,
        application_id: Option<u32>,
        servers: impl IntoIterator<Item = P>,
        redirect_host_usage: i32,
        redirect_max_cache_time: Duration,
    ) {
        let servers = servers.into_iter().map(|p| p.borrow().clone()).collect();
        let mut entry = RouteEntry::new(realm, application_id, RouteAction::Redirect, servers);
        entry.redirect_host_usage = redirect_host_usage;
        entry.redirect_max_cache_time = redirect_max_cache_time;
        self.handle.routes.write().push(entry);
        if self.handle.life() == Life::Running {
            let _ = self.handle.command(Command::RoutesChanged);
        }
    }

    /// The routing table: the static entries in the order they were added,
    /// then the routes learned from redirects that have not expired
    /// ([`RouteEntry::learned`]; the redirect cache's entries keyed by
    /// realm, realm and application, or application), oldest first.
    pub fn routes(&self) -> Vec<RouteEntry> {
        let mut routes = self.handle.routes.read().clone();
        let now = Instant::now();
        let learned = self.handle.redirects.read(|cache| {
            let learned: Vec<RouteEntry> = cache
                .routes(now)
                .into_iter()
                .map(|(realm, application_id, usage, e)| RouteEntry {
                    realm: realm.unwrap_or_default().to_owned(),
                    application_id,
                    action: RouteAction::Relay,
                    servers: e.targets.clone(),
                    redirect_host_usage: usage.value(),
                    redirect_max_cache_time: Duration::ZERO,
                    learned: true,
                    expires: Some(e.expires),
                })
                .collect();
            Some(learned)
        });
        routes.extend(learned.into_iter().flatten());
        routes
    }

    /// What this node relayed, answered itself and dropped as an agent.
    pub fn relay_stats(&self) -> RelayStats {
        self.handle.relay.snapshot()
    }

    /// The applications added so far, in the order they were added
    /// (python's `node.applications`).
    pub fn applications(&self) -> Vec<Arc<dyn Application>> {
        self.handle
            .apps
            .read()
            .iter()
            .map(|r| r.app.clone())
            .collect()
    }

    /// Advertises an application in CER/CEA. Applications added with
    /// `add_application` are advertised too.
    pub fn add_application_id(&self, app: AppId) {
        let mut apps = self.handle.applications.write();
        if !apps.contains(&app) {
            apps.push(app);
        }
    }

    /// Auth application ids advertised.
    pub fn auth_application_ids(&self) -> Vec<u32> {
        self.application_ids(AppKind::Auth)
    }

    /// Acct application ids advertised.
    pub fn acct_application_ids(&self) -> Vec<u32> {
        self.application_ids(AppKind::Acct)
    }

    fn application_ids(&self, kind: AppKind) -> Vec<u32> {
        self.handle
            .applications
            .read()
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| a.id)
            .collect()
    }

    /// Opens the listeners and starts the event loop; returns once it runs.
    /// Listening errors are returned. A node starts once.
    pub fn start(&self) -> Result<(), NodeError> {
        let mut running = self.running.lock();
        if running.is_some() || self.handle.life() != Life::Created {
            return Err(NodeError::AlreadyStarted);
        }
        let ip_addresses = parse_addresses(&self.ip_addresses)?;
        let mut listen = Vec::new();
        if let Some(port) = self.tcp_port {
            for ip in &ip_addresses {
                listen.push(ListenSpec::Tcp(SocketAddr::new(*ip, port)));
            }
        }
        if let Some(port) = self.tls_port {
            self.require_tls("tls_port")?;
            for ip in &ip_addresses {
                listen.push(ListenSpec::Tls(SocketAddr::new(*ip, port)));
            }
        }
        if let Some(port) = self.sctp_port {
            crate::node::io::transport::sctp_sys::sctp_supported()
                .map_err(NodeError::SctpUnavailable)?;
            let mut addrs: Vec<SocketAddr> = ip_addresses
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
        let config = Arc::new(self.config(ip_addresses)?);
        self.handle.redirects.configure(
            config.limits.redirect_cache_size,
            config.limits.redirect_wide_scope,
            config.limits.max_redirect_cache_time,
        );
        self.handle.set_identity(Identity {
            origin_host: self.origin_host.clone(),
            origin_realm: self.realm_name.clone(),
            end_to_end: self.end_to_end_seq.clone(),
            session_generator: self.session_generator.clone(),
        });
        *self.handle.select.write() = self.peer_route_select_func.clone();
        if self.agent == Agent::Relay {
            self.add_application_id(AppId::auth(RELAY_APPLICATION_ID));
        }
        let started = event_loop::spawn(config, &listen, self.handle.clone())?;
        *running = Some(Running {
            thread: Some(started.thread),
            local_addrs: started.local_addrs,
        });
        Ok(())
    }

    /// The one configuration the running node reads.
    fn config(&self, ip_addresses: Vec<IpAddr>) -> Result<NodeConfig, NodeError> {
        #[cfg(feature = "tls")]
        let tls = match &self.tls {
            Some(options) => Some(Arc::new(crate::node::tls::TlsContext::new(options)?)),
            None => None,
        };
        let mut limits = self.limits;
        limits.read_budget = limits.read_budget.max(1);
        Ok(NodeConfig {
            local: LocalCapabilities {
                origin_host: self.origin_host.clone(),
                origin_realm: self.realm_name.clone(),
                host_ip_addresses: ip_addresses.clone(),
                vendor_id: self.vendor_id,
                product_name: self.product_name.clone(),
                firmware_revision: self.firmware_revision,
                origin_state_id: self.state_id,
                supported_vendor_ids: self.vendor_ids.clone(),
                applications: Vec::new(),
                inband_security: Vec::new(),
            },
            inband_security: self.inband_tls.offered(),
            connection: ConnectionConfig {
                cea_timeout: self.cea_timeout,
                cer_timeout: self.cer_timeout,
                dwa_timeout: self.dwa_timeout,
                idle_timeout: self.idle_timeout,
                dpa_timeout: self.dpa_timeout,
                max_message_size: self.max_message_size,
                max_output_buffer: limits.max_output_buffer.saturating_mul(2),
                silent_peer_timeout: limits.silent_peer_timeout,
                ..ConnectionConfig::default()
            },
            max_connections: self.max_connections,
            accept_unknown_peers: self.accept_unknown_peers,
            validate_received_request_avps: self.validate_received_request_avps,
            accept_unknown_enumerated_values: self.accept_unknown_enumerated_values,
            check_peer_addresses: self.check_peer_addresses,
            peers_logging: self.peers_logging,
            stats_logging: self.stats_logging,
            statistics_interval: self
                .statistics_history_interval
                .max(Duration::from_millis(1)),
            limits,
            agent: self.agent,
            sctp_local: ip_addresses,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// The node's statistics, summed over its peers (python's `statistics`).
    pub fn statistics(&self) -> NodeStats {
        node_stats(self.handle.peers.read().iter())
    }

    /// Statistics snapshots taken every
    /// [`statistics_history_interval`](Self::statistics_history_interval)
    /// while running, the last 1,440 (python's `statistics_history`).
    pub fn statistics_history(&self) -> Vec<(SystemTime, NodeStats)> {
        self.handle.history.lock().iter().cloned().collect()
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
        let t = &self.handle.transport;
        TransportStats {
            tls_handshake_failures: t.tls_handshake_failures.load(Relaxed),
            tls_identity_mismatches: t.tls_identity_mismatches.load(Relaxed),
        }
    }

    /// What the node refused or dropped so far to stay within its bounds
    /// and keep peers apart: forged or misdirected answers, duplicates,
    /// busy refusals, paused reads, handled panics.
    pub fn protocol_stats(&self) -> ProtocolStats {
        self.handle.protocol_stats()
    }

    /// Sends a message to a connected peer (python's `send_message(conn,
    /// message)`), encoded on this thread and written by the event loop.
    ///
    /// - A request goes out as it is, but for its hop-by-hop identifier,
    ///   which is the connection's (an End-to-End identifier of 0 gets the
    ///   node's next). Nobody waits for its answer: when it comes (within
    ///   [`NodeLimits::late_answer_window`]) it goes to the `handle_answer`
    ///   of the application with its application id. Use
    ///   [`AppBase::send_request`] to wait for an answer.
    /// - An answer goes back on the connection its request came in on (as
    ///   [`AppBase::send_answer`], settling what the node owes that peer:
    ///   statistics, duplicate detection); one built without its request
    ///   goes on the peer's connection if that connection owes it. An answer
    ///   nobody owes is dropped and counted
    ///   ([`ProtocolStats::answers_unsent`]).
    ///
    /// Errors: [`NodeError::NotConnected`] when the peer has no connection
    /// that takes the message now (no ready one for a request; for an
    /// answer, none, or not the one its request came in on),
    /// [`NodeError::Encode`], and the node's state (`NotStarted`,
    /// `Stopped`, `LoopDied`). What the event loop then finds (the
    /// connection closed meanwhile, its output full) is not reported back.
    pub fn send_message(&self, peer: &Arc<Peer>, message: &Message) -> Result<(), NodeError> {
        match self.handle.life() {
            Life::Running => {}
            Life::Created => return Err(NodeError::NotStarted),
            Life::Stopped => return Err(NodeError::Stopped),
            Life::Died => return Err(NodeError::LoopDied),
        }
        let not_connected = || NodeError::NotConnected {
            peer: peer.node_name.clone(),
        };
        let header = &message.header;
        if header.is_request() {
            if !peer.is_ready() {
                return Err(not_connected());
            }
            let mut bytes = message.as_bytes()?;
            let mut end_to_end = header.end_to_end_identifier;
            if end_to_end == 0 {
                end_to_end = self.handle.identity().end_to_end.next_sequence();
                if let Some(field) = bytes.get_mut(16..20) {
                    field.copy_from_slice(&end_to_end.to_be_bytes());
                }
            }
            // nobody waits: the answer finds the receiver gone and goes to
            // handle_answer
            let reply = Reply::nobody();
            return self.handle.command(Command::Request(OutRequest {
                peer: peer.clone(),
                bytes,
                end_to_end,
                timeout: Duration::ZERO,
                reply,
                app: None,
                to_redirect_host: false,
            }));
        }
        let via = if message.received_on != 0 {
            let to = self.route_answer(message).map_err(|_| not_connected())?;
            if !Arc::ptr_eq(&to, peer) {
                return Err(not_connected());
            }
            message.received_on
        } else {
            peer.connection().ok_or_else(not_connected)?.ident
        };
        let bytes = message.as_bytes()?;
        self.handle.command(Command::Answer(OutAnswer {
            via,
            hop_by_hop: header.hop_by_hop_identifier,
            end_to_end: header.end_to_end_identifier,
            bytes,
            // the loop settles the owed entry, if any
            claimed: false,
        }))
    }

    /// The peer a request of `app` would go to now (python's
    /// `route_request(app, message)`): the routing of
    /// [`AppBase::send_request`] (RFC 6733 §6.1: Destination-Host, then the
    /// Destination-Realm's peers serving the application, then its default
    /// peers; of several, `peer_route_select_func`'s choice or the least
    /// used). Nothing is sent and the message is not changed.
    /// [`NodeError::NotRoutable`] when no ready peer can take it. The
    /// redirect cache is not consulted: `send_request` sends a request it
    /// matches to the host a redirect named instead.
    pub fn route_request(&self, app: &AppBase, message: &Message) -> Result<Arc<Peer>, NodeError> {
        self.handle.route(app, message)
    }

    /// The peer an answer would go back to (python's
    /// `route_answer(message)`): the one whose connection its request came
    /// in on (an answer made from its request with `to_answer` or
    /// `generate_answer` knows it). [`NodeError::NotRoutable`]
    /// ([`NoRouteReason::RequestConnectionGone`]) when there is none: the
    /// answer was built without its request, or that connection closed.
    pub fn route_answer(&self, message: &Message) -> Result<Arc<Peer>, NodeError> {
        let via = message.received_on;
        let found = (via != 0)
            .then(|| {
                self.handle
                    .peers
                    .read()
                    .iter()
                    .find(|p| {
                        p.status
                            .lock()
                            .connection
                            .as_ref()
                            .is_some_and(|c| c.ident == via)
                    })
                    .cloned()
            })
            .flatten();
        found.ok_or_else(|| {
            NodeError::NotRoutable(NoRoute {
                application_id: message.header.application_id,
                realm: String::new(),
                reason: NoRouteReason::RequestConnectionGone,
            })
        })
    }

    /// Makes the event loop thread panic, as a bug in it would: for tests
    /// of what callers and `stop()` see then. Not for production use.
    #[doc(hidden)]
    pub fn inject_loop_panic(&self) -> Result<(), NodeError> {
        self.handle.command(Command::Panic)
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
    /// waits up to `wait_timeout` for them to close; then closes everything,
    /// stops the applications (their worker threads are joined) and joins
    /// the event loop. Callable from any thread. [`NodeError::LoopDied`]
    /// when the event loop had ended unexpectedly.
    pub fn stop(&self, wait_timeout: Duration, force: bool) -> Result<(), NodeError> {
        let Some(mut running) = self.running.lock().take() else {
            return Err(NodeError::NotStarted);
        };
        let (done_tx, done_rx) = bounded(1);
        let sent = self.handle.command(Command::Stop {
            wait_timeout,
            force,
            done: done_tx,
        });
        if sent.is_ok() {
            // the loop answers once every connection is gone and the
            // applications stopped
            let _ = done_rx.recv_timeout(wait_timeout.saturating_add(Duration::from_secs(10)));
        }
        if let Some(thread) = running.thread.take() {
            let _ = thread.join();
        }
        if self.handle.life() == Life::Died {
            // the loop could not stop the applications itself
            self.handle.stop_applications();
            return Err(NodeError::LoopDied);
        }
        self.handle.set_life(Life::Stopped);
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
