//! The node's configuration: [`NodeLimits`], the bounds of every table and
//! queue a peer can fill, and the one immutable [`NodeConfig`] that
//! `Node::start` builds from the node's settings and shares (by `Arc`) with
//! the event loop and the protocol layer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::node::error::NodeError;
use crate::node::peer::{ConnectionConfig, LocalCapabilities, Peer};

/// Bounds on what peers can make the node hold, and what happens at each
/// bound. Every field has a safe default; see docs/guide/node.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// A connection with more bytes than this waiting to be written is not
    /// read until it drains below half of it: a peer that sends without
    /// reading is slowed to the pace it reads (its writes block). Twice
    /// this, further requests and answers to it are refused.
    pub max_output_buffer: usize,
    /// Most bytes read from one connection per event-loop turn, so one busy
    /// peer cannot starve the others.
    pub read_budget: usize,
    /// Most requests sent on one connection waiting for their answers;
    /// beyond it `send_request` fails at once with `TooManyPending`.
    pub max_pending_per_connection: usize,
    /// How long a request whose caller stopped waiting (timeout) is still
    /// matched, so a late answer reaches `handle_answer`; then it is
    /// forgotten and a late answer is dropped (counted).
    pub late_answer_window: Duration,
    /// Most received requests handed to applications and not answered yet,
    /// per connection; beyond it requests get 3004 DIAMETER_TOO_BUSY.
    pub max_owed_per_connection: usize,
    /// How long an application may take to answer a request; after it, the
    /// request is forgotten (its answer would be dropped, counted).
    pub owed_answer_ttl: Duration,
    /// Duplicate detection (T flag): records kept, bytes of answers kept,
    /// how long, waiting retransmissions per request. The budget is shared
    /// fairly between peers (over it, the peer holding the largest share
    /// gives up its oldest record), and an answer is only given again to
    /// the same request (same peer, Origin-Host, End-to-End id and content
    /// but for Route-Record and Proxy-Info).
    pub duplicates: DuplicateLimits,
    /// How many times one request may be sent again to another peer when
    /// its connection fails before the answer (RFC 6733 §5.5.4 failover,
    /// with the T flag): 2 by default. 0 turns failover off, and then the
    /// node does not keep a copy of the requests it waits answers for.
    pub max_failovers: u8,
    /// The silent-peer rule, for a peer that hangs without closing its
    /// connection (a stopped process, a dead host behind a live link):
    /// when requests were sent on a connection and nothing has been
    /// received on it since for this long, the node sends a DWR at once;
    /// when nothing is received within this time again, the connection is
    /// SUSPECT (no new requests) and the requests waiting on it fail over
    /// to another peer (T flag, [`max_failovers`](Self::max_failovers)),
    /// as when its watchdog misses a DWA. A hung peer thus costs at most
    /// twice this, instead of Tw plus the DWA timeout. 1 s by default;
    /// zero turns the rule off. A peer that is merely slow answers the
    /// DWR (its event loop does) and keeps its requests.
    pub silent_peer_timeout: Duration,
    /// How long an agent waits for the answer to a request it relayed;
    /// then the request is forgotten (counted in
    /// [`RelayStats::expired`](crate::node::RelayStats::expired)) and a later
    /// answer is dropped.
    pub relay_timeout: Duration,
    /// How many 3006 DIAMETER_REDIRECT_INDICATION answers one request
    /// follows (RFC 6733 §6.1.7), sent again to a host they name: 3 by
    /// default. Past it, or with 0, the caller gets the 3006 answer.
    /// Redirects are followed only when failover is on
    /// ([`max_failovers`](Self::max_failovers) > 0): they resend the copy
    /// failover keeps.
    pub max_redirects: u8,
    /// Most entries of the redirect cache (Redirect-Host-Usage other than
    /// DONT_CACHE); a full cache drops its expired entries, then the entry
    /// that would expire first.
    pub redirect_cache_size: usize,
    /// Most peers the node adds by itself for Redirect-Host URIs naming an
    /// IP address it has no peer for; when they are all in use, such a
    /// redirect is not followed (the caller gets the 3006).
    pub max_redirect_peers: usize,
    /// Most redirected requests waiting for the connection to their new
    /// host to come up (each gives up at its caller's deadline, or gets
    /// the 3006 if the connection fails); beyond it, or beyond 16 MiB of
    /// the 3006 answers they keep, the caller gets the 3006 at once.
    pub max_redirect_waiting: usize,
    /// The longest a redirect is cached, whatever its
    /// Redirect-Max-Cache-Time says (which may be up to 2^32 - 1 seconds):
    /// an hour by default. Zero: no redirect is cached (each is still
    /// followed).
    pub max_redirect_cache_time: Duration,
    /// Whether a cached redirect holds as widely as RFC 6733 §6.13 reads:
    /// ALL_REALM for every request to the realm, ALL_APPLICATION for every
    /// request of the application whatever its realm, ALL_SESSION and
    /// ALL_USER whatever the realm and the peer. Off by default: a cached
    /// redirect then holds only for requests that would have gone the
    /// same way as the redirected one, with its Destination-Realm and to
    /// the peer that sent the 3006 (so a peer serving one realm cannot
    /// divert another's traffic). ALL_HOST holds, either way, only for
    /// requests with the redirected request's Destination-Host that go to
    /// the peer that sent the 3006.
    pub redirect_wide_scope: bool,
    /// Most bytes of the copies an agent keeps of the requests it relayed
    /// on one connection, for failover (8 MiB by default: twice
    /// [`max_output_buffer`](Self::max_output_buffer), eight requests of
    /// the largest size or thousands of ordinary ones). A request relayed
    /// while the budget (or [`relay_copy_bytes`](Self::relay_copy_bytes))
    /// is full is still forwarded, without a copy: it is not failed over
    /// (counted in
    /// [`RelayStats::forwarded_without_copy`](crate::node::RelayStats::forwarded_without_copy)).
    pub relay_copy_bytes_per_connection: usize,
    /// Most bytes of such copies on the whole node (64 MiB by default:
    /// eight busy next hops at their full budget), whatever the number of
    /// connections.
    pub relay_copy_bytes: usize,
    /// Most incoming connections that have not completed their
    /// capabilities exchange (CER) yet, in all (never more than the node's
    /// `max_connections`): the rest of `max_connections` is always left for
    /// peers that completed it and for the node's own connections. At the
    /// bound, the oldest such connection is closed to admit the new one
    /// (those from an address of a configured peer last, and never for a
    /// connection from another address), so a flood that reopens
    /// connections holds each only briefly, and a peer that sends its CER
    /// gets in. Counted in
    /// [`ProtocolStats::unauthenticated_closed`](crate::node::ProtocolStats::unauthenticated_closed).
    pub max_unauthenticated: usize,
    /// Most incoming connections without a completed CER from one source
    /// address (one IPv4 address, one IPv6 /64); at the bound, that
    /// source's oldest such connection is closed to admit the new one.
    pub max_unauthenticated_per_ip: usize,
}

/// Most incoming connections waiting for their CER
/// ([`NodeLimits::max_unauthenticated`]).
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 256;

/// Most incoming connections waiting for their CER from one source
/// ([`NodeLimits::max_unauthenticated_per_ip`]).
pub const DEFAULT_MAX_UNAUTHENTICATED_PER_IP: usize = 32;

/// How many redirects one request follows, at most
/// ([`NodeLimits::max_redirects`]).
pub const DEFAULT_MAX_REDIRECTS: u8 = 3;

/// How many times a request is failed over to another peer, at most
/// ([`NodeLimits::max_failovers`]).
pub const DEFAULT_MAX_FAILOVERS: u8 = 2;

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_output_buffer: 4 << 20,
            read_budget: 256 << 10,
            max_pending_per_connection: 1 << 16,
            late_answer_window: Duration::from_secs(30),
            max_owed_per_connection: 1 << 13,
            owed_answer_ttl: Duration::from_secs(60),
            duplicates: DuplicateLimits::default(),
            max_failovers: DEFAULT_MAX_FAILOVERS,
            silent_peer_timeout: crate::node::peer::DEFAULT_SILENT_PEER_TIMEOUT,
            relay_timeout: Duration::from_secs(30),
            max_redirects: DEFAULT_MAX_REDIRECTS,
            redirect_cache_size: 4096,
            max_redirect_peers: 64,
            max_redirect_waiting: 1024,
            max_redirect_cache_time: DEFAULT_MAX_CACHE_TIME,
            redirect_wide_scope: false,
            relay_copy_bytes_per_connection: 8 << 20,
            relay_copy_bytes: 64 << 20,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            max_unauthenticated_per_ip: DEFAULT_MAX_UNAUTHENTICATED_PER_IP,
        }
    }
}

/// Everything the running node reads of its settings, fixed at `start()`.
pub(crate) struct NodeConfig {
    /// The node's capabilities (applications filled in per connection from
    /// those added so far).
    pub local: LocalCapabilities,
    /// Inband-Security-Id values offered on cleartext TCP connections.
    pub inband_security: Vec<u32>,
    /// Per-connection timers, before per-peer overrides.
    pub connection: ConnectionConfig,
    /// Most connections at once.
    pub max_connections: usize,
    /// Accept CERs from peers never added.
    pub accept_unknown_peers: bool,
    /// Answer requests missing required AVPs with 5005.
    pub validate_received_request_avps: bool,
    /// Take Enumerated values the dictionary does not list (no 5004).
    pub accept_unknown_enumerated_values: bool,
    /// Refuse (3010) a configured peer's CER from an address it was not
    /// configured with.
    pub check_peer_addresses: bool,
    /// python's PEERS= and STATS= lines on `diameter.stats`.
    pub peers_logging: bool,
    /// See `peers_logging`.
    pub stats_logging: bool,
    /// How often a statistics snapshot goes into the history.
    pub statistics_interval: Duration,
    /// The bounds.
    pub limits: NodeLimits,
    /// What kind of node this is (a relay forwards).
    pub agent: Agent,
    /// Local addresses an SCTP association binds (all of them: multi-homing).
    pub sctp_local: Vec<IpAddr>,
    /// Certificates and trust for TLS connections.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<crate::node::tls::TlsContext>>,
}

/// How many statistics snapshots the history keeps.
pub(crate) const HISTORY_KEPT: usize = crate::node::peer::STATISTICS_HISTORY_SIZE;

impl NodeConfig {
    /// The connection timers for `peer`: its own settings where it has them.
    pub(crate) fn connection_for(&self, peer: Option<&Peer>) -> ConnectionConfig {
        let base = self.connection;
        let Some(peer) = peer else {
            return base;
        };
        let s = peer.settings.lock();
        // python: a peer's value counts when it is set and not zero
        let own = |t: Option<Duration>, node: Duration| t.filter(|t| !t.is_zero()).unwrap_or(node);
        ConnectionConfig {
            cea_timeout: own(s.cea_timeout, base.cea_timeout),
            cer_timeout: own(s.cer_timeout, base.cer_timeout),
            dwa_timeout: own(s.dwa_timeout, base.dwa_timeout),
            idle_timeout: own(s.idle_timeout, base.idle_timeout),
            ..base
        }
    }
}

/// The node's capabilities for one connection: `base` with the
/// applications advertised now, the connection's own addresses when none
/// are configured, and the in-band TLS offer when it can start TLS.
pub(crate) fn capabilities_for(
    config: &NodeConfig,
    applications: &[crate::node::peer::AppId],
    local_ips: &[IpAddr],
    offer_inband: bool,
) -> Arc<LocalCapabilities> {
    let mut caps = config.local.clone();
    caps.applications = applications.to_vec();
    if offer_inband {
        caps.inband_security = config.inband_security.clone();
    }
    if caps.host_ip_addresses.is_empty() {
        let mut ips = local_ips.to_vec();
        ips.dedup();
        caps.host_ip_addresses = ips;
    }
    Arc::new(caps)
}

/// Which listeners [`Node::listen_addresses_for`](crate::node::Node::listen_addresses_for) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenTransport {
    /// Cleartext TCP (`tcp_port`).
    Tcp,
    /// TLS/TCP (`tls_port`).
    Tls,
    /// SCTP (`sctp_port`).
    Sctp,
}

/// An IP address as python's `ip_addresses` lists take it: text such as
/// `"10.0.0.50"`, or an [`IpAddr`]. Text is read when it is used
/// ([`Node::start`](crate::node::Node::start) for the node's addresses,
/// [`Node::add_peer`](crate::node::Node::add_peer) for a peer's), and text that
/// is not an address fails there with [`NodeError::InvalidAddress`].
///
/// ```
/// use diameter::node::{IpAddress, NodeOptions};
///
/// let options = NodeOptions {
///     ip_addresses: vec!["10.0.0.50".into(), "::1".parse()?, std::net::Ipv4Addr::LOCALHOST.into()],
///     ..Default::default()
/// };
/// assert_eq!(options.ip_addresses[0].to_ip()?, "10.0.0.50".parse::<std::net::IpAddr>()?);
/// assert!(IpAddress::from("ocs.example.net").to_ip().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpAddress(AddressRepr);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum AddressRepr {
    Ip(IpAddr),
    /// Text that is not an IP address, kept to be reported when used.
    Invalid(String),
}

impl IpAddress {
    /// The address, or [`NodeError::InvalidAddress`] naming the text.
    pub fn to_ip(&self) -> Result<IpAddr, NodeError> {
        match &self.0 {
            AddressRepr::Ip(ip) => Ok(*ip),
            AddressRepr::Invalid(text) => Err(NodeError::InvalidAddress(text.clone())),
        }
    }
}

impl From<&str> for IpAddress {
    fn from(text: &str) -> Self {
        match text.parse::<IpAddr>() {
            Ok(ip) => IpAddress(AddressRepr::Ip(ip)),
            Err(_) => IpAddress(AddressRepr::Invalid(text.to_owned())),
        }
    }
}

impl From<String> for IpAddress {
    fn from(text: String) -> Self {
        match text.parse::<IpAddr>() {
            Ok(ip) => IpAddress(AddressRepr::Ip(ip)),
            Err(_) => IpAddress(AddressRepr::Invalid(text)),
        }
    }
}

impl From<&String> for IpAddress {
    fn from(text: &String) -> Self {
        IpAddress::from(text.as_str())
    }
}

impl From<IpAddr> for IpAddress {
    fn from(ip: IpAddr) -> Self {
        IpAddress(AddressRepr::Ip(ip))
    }
}

impl From<std::net::Ipv4Addr> for IpAddress {
    fn from(ip: std::net::Ipv4Addr) -> Self {
        IpAddress(AddressRepr::Ip(ip.into()))
    }
}

impl From<std::net::Ipv6Addr> for IpAddress {
    fn from(ip: std::net::Ipv6Addr) -> Self {
        IpAddress(AddressRepr::Ip(ip.into()))
    }
}

impl std::str::FromStr for IpAddress {
    type Err = std::net::AddrParseError;

    /// Parses at once (for `"10.0.0.50".parse()?`); `From<&str>` defers
    /// the error to where the address is used.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<IpAddr>().map(IpAddress::from)
    }
}

impl std::fmt::Display for IpAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            AddressRepr::Ip(ip) => ip.fmt(f),
            AddressRepr::Invalid(text) => f.write_str(text),
        }
    }
}

/// Reads every address, failing on the first that is not one.
pub(crate) fn parse_addresses(addresses: &[IpAddress]) -> Result<Vec<IpAddr>, NodeError> {
    addresses.iter().map(IpAddress::to_ip).collect()
}

/// How long a redirect is cached at most by default, whatever its
/// Redirect-Max-Cache-Time says (`NodeLimits::max_redirect_cache_time`).
pub(crate) const DEFAULT_MAX_CACHE_TIME: Duration = Duration::from_secs(3600);

/// What kind of Diameter node this is (RFC 6733 §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Agent {
    /// A client or server: every request is handled by the node's
    /// applications (python-diameter's only kind).
    #[default]
    None,
    /// A relay agent: it advertises the relay application (0xffffffff) in
    /// CER/CEA and forwards requests that are not for this node by its
    /// routing table ([`Node::add_route`](crate::node::Node::add_route)),
    /// adding a Route-Record and changing nothing else.
    Relay,
}

/// The bounds of the node's duplicate-detection table (T flag), shared
/// fairly by all peers ([`NodeLimits::duplicates`](crate::node::NodeLimits)):
/// over a bound, the oldest record of the peer holding the largest share
/// (of `max_entries` or of `max_bytes`, whichever is larger) goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateLimits {
    /// Most records kept at once (default 65,536).
    pub max_entries: usize,
    /// Most bytes kept at once (default 16 MiB): stored answers plus a fixed
    /// per-record overhead (about 450 bytes: the table's own slots and
    /// queues, counted as they grow) and waiters. An answer larger than
    /// `max_bytes / 16` is never stored.
    pub max_bytes: usize,
    /// How long a record lives after it was recorded or answered, whichever
    /// is later (default 4 minutes).
    pub ttl: Duration,
    /// Most retransmissions waiting for one request still in progress
    /// (default 4); more are dropped.
    pub max_waiters: usize,
}

impl Default for DuplicateLimits {
    /// 65,536 records, 16 MiB, 4 minutes, 4 waiters per record.
    fn default() -> Self {
        DuplicateLimits {
            max_entries: 65_536,
            max_bytes: 16 * 1024 * 1024,
            ttl: Duration::from_secs(4 * 60),
            max_waiters: 4,
        }
    }
}

/// The local action of a routing table entry (RFC 6733 §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAction {
    /// The node's own applications handle the request.
    Local,
    /// Forward the request to one of the entry's servers.
    Relay,
    /// Forward as a proxy: the request and its answer go through the
    /// [`ProxyHandler`](crate::node::ProxyHandler) of its application
    /// ([`Node::add_proxy_handler`](crate::node::Node::add_proxy_handler)); without
    /// one, the request goes out as a relay would send it.
    Proxy,
    /// Answer 3006 DIAMETER_REDIRECT_INDICATION naming the entry's servers
    /// in Redirect-Host AVPs.
    Redirect,
}

/// One entry of the routing table (RFC 6733 §2.7): static (added with
/// [`Node::add_route`](crate::node::Node::add_route) or
/// [`Node::add_redirect`](crate::node::Node::add_redirect)), or learned from a
/// redirect and expiring.
#[derive(Clone)]
pub struct RouteEntry {
    /// The realm (compared without regard to case); empty in a learned
    /// entry that holds for every realm (Redirect-Host-Usage
    /// ALL_APPLICATION, with
    /// [`NodeLimits::redirect_wide_scope`](crate::node::NodeLimits::redirect_wide_scope);
    /// without it, the entry holds for the realm of the request
    /// redirected, and only for requests routed to the peer that sent the
    /// 3006).
    pub realm: String,
    /// The application id, `None` for any.
    pub application_id: Option<u32>,
    /// What to do with a request matching it (learned entries: `Relay`,
    /// the requests go to their servers).
    pub action: RouteAction,
    /// The next hops (or, for `Redirect`, the hosts named to the client).
    pub servers: Vec<Arc<Peer>>,
    /// For `Redirect`: the Redirect-Host-Usage sent (python's
    /// `E_REDIRECT_HOST_USAGE_*`; 0, DONT_CACHE, for entries added with
    /// `add_route`). For a learned entry, the usage that taught it
    /// (ALL_REALM, REALM_AND_APPLICATION or ALL_APPLICATION).
    pub redirect_host_usage: i32,
    /// For `Redirect`: the Redirect-Max-Cache-Time sent (whole seconds);
    /// zero in a learned entry (see `expires`).
    pub redirect_max_cache_time: Duration,
    /// Whether the entry was learned from a 3006 answer (the node's
    /// redirect cache, keyed by realm or application) rather than
    /// configured.
    pub learned: bool,
    /// When a learned entry expires (its Redirect-Max-Cache-Time after the
    /// redirect); `None` for static entries.
    pub expires: Option<Instant>,
}

impl RouteEntry {
    /// A static entry.
    pub(crate) fn new(
        realm: &str,
        application_id: Option<u32>,
        action: RouteAction,
        servers: Vec<Arc<Peer>>,
    ) -> RouteEntry {
        RouteEntry {
            realm: realm.to_ascii_lowercase(),
            application_id,
            action,
            servers,
            redirect_host_usage: 0,
            redirect_max_cache_time: Duration::ZERO,
            learned: false,
            expires: None,
        }
    }
}

impl std::fmt::Debug for RouteEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<&str> = self.servers.iter().map(|p| p.node_name.as_str()).collect();
        f.debug_struct("RouteEntry")
            .field("realm", &self.realm)
            .field("application_id", &self.application_id)
            .field("action", &self.action)
            .field("servers", &servers)
            .field("redirect_host_usage", &self.redirect_host_usage)
            .field("redirect_max_cache_time", &self.redirect_max_cache_time)
            .field("learned", &self.learned)
            .field("expires", &self.expires)
            .finish()
    }
}
