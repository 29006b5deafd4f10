//! RFC 6733 §2.7 and §6.1 for agents, as pure functions: the routing table
//! ([`RouteEntry`]: realm, application, local action, servers), the choice
//! between handling a request here and forwarding it (§6.1.4-6.1.6), loop
//! detection over Route-Record (§6.1.3, §6.7.1) and the byte-level edits a
//! relay makes to the messages it forwards (§6.1.9, §6.2.2): a Route-Record
//! appended, the hop-by-hop identifier replaced, nothing else touched.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::message::constants::*;
use crate::message::{Avp, Message, HEADER_LENGTH};
use crate::node::peer::Peer;

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

/// The entry for `realm` and `application_id`: one naming the application
/// wins over one for any application; the first added wins among equals.
pub(crate) fn lookup<'a>(
    table: &'a [RouteEntry],
    realm: &str,
    application_id: u32,
) -> Option<&'a RouteEntry> {
    let in_realm = |e: &&RouteEntry| e.realm.eq_ignore_ascii_case(realm);
    table
        .iter()
        .filter(in_realm)
        .find(|e| e.application_id == Some(application_id))
        .or_else(|| {
            table
                .iter()
                .filter(in_realm)
                .find(|e| e.application_id.is_none())
        })
}

/// What an agent does with a received request.
pub(crate) enum Decision {
    /// It is for this node.
    Local,
    /// Forward it: to the Destination-Host if that is a usable peer, else
    /// to the entry's servers (`None`: no entry; the realm's peers).
    Forward {
        /// The realm it goes to (lower-cased).
        realm: String,
        /// The Destination-Host, when it names another host.
        host: Option<String>,
        /// The routing table entry's servers, when an entry matched.
        servers: Option<Vec<Arc<Peer>>>,
    },
    /// Answer 3006 naming these hosts.
    Redirect(RedirectTo),
}

/// What a 3006 answer of an agent says.
pub(crate) struct RedirectTo {
    /// The hosts named in Redirect-Host.
    pub servers: Vec<Arc<Peer>>,
    /// Redirect-Host-Usage.
    pub usage: i32,
    /// Redirect-Max-Cache-Time.
    pub max_cache_time: Duration,
}

/// RFC 6733 §6.1.4-6.1.6: a request for this host, or for this realm
/// without a Destination-Host, or without a Destination-Realm, or without
/// the P bit (§3: "MUST be locally processed"), is handled here; any other
/// is forwarded, unless the routing table says `Local`.
pub(crate) fn decide(
    msg: &Message,
    own_host: &str,
    own_realm: &str,
    table: &[RouteEntry],
) -> Decision {
    if !msg.header.is_proxyable() {
        return Decision::Local;
    }
    let host = msg
        .find_avp(&[(AVP_DESTINATION_HOST, 0)])
        .and_then(Avp::as_str);
    if host.is_some_and(|h| h.eq_ignore_ascii_case(own_host)) {
        return Decision::Local;
    }
    let Some(realm) = msg
        .find_avp(&[(AVP_DESTINATION_REALM, 0)])
        .and_then(Avp::as_str)
    else {
        return Decision::Local;
    };
    if host.is_none() && realm.eq_ignore_ascii_case(own_realm) {
        return Decision::Local;
    }
    let entry = lookup(table, realm, msg.header.application_id);
    match entry.map(|e| (e.action, &e.servers)) {
        Some((RouteAction::Local, _)) => Decision::Local,
        Some((RouteAction::Redirect, servers)) => Decision::Redirect(RedirectTo {
            servers: servers.clone(),
            usage: entry.map_or(0, |e| e.redirect_host_usage),
            max_cache_time: entry.map_or(Duration::ZERO, |e| e.redirect_max_cache_time),
        }),
        found => Decision::Forward {
            realm: realm.to_ascii_lowercase(),
            host: host.map(str::to_ascii_lowercase),
            servers: found.map(|(_, s)| s.clone()),
        },
    }
}

/// RFC 6733 §6.1.3: whether `own_host` is in one of the request's
/// Route-Record AVPs (however many there are: one pass, no allocation).
pub(crate) fn loop_detected(msg: &Message, own_host: &str) -> bool {
    msg.avps.iter().any(|a| {
        a.code() == AVP_ROUTE_RECORD
            && a.vendor_id() == 0
            && a.as_str().is_some_and(|h| h.eq_ignore_ascii_case(own_host))
    })
}

/// Appends a Route-Record AVP naming `host` (the peer the request came
/// from, RFC 6733 §6.1.9) to an encoded message and updates its header's
/// length; `None` when the result would not fit the 24-bit length or
/// `max_len`.
pub(crate) fn append_route_record(
    mut bytes: Vec<u8>,
    host: &str,
    max_len: usize,
) -> Option<Vec<u8>> {
    let data = host.as_bytes();
    let avp_len = 8 + data.len();
    let padded = (avp_len + 3) & !3;
    let total = bytes.len().checked_add(padded)?;
    if total > 0x00ff_ffff || total > max_len || bytes.len() < HEADER_LENGTH {
        return None;
    }
    bytes.reserve_exact(padded);
    bytes.extend_from_slice(&AVP_ROUTE_RECORD.to_be_bytes());
    let len = (avp_len as u32).to_be_bytes();
    bytes.extend_from_slice(&[0x40, len[1], len[2], len[3]]);
    bytes.extend_from_slice(data);
    bytes.resize(total, 0);
    let total = (total as u32).to_be_bytes();
    bytes.get_mut(1..4)?.copy_from_slice(&total[1..]);
    Some(bytes)
}

/// Replaces the hop-by-hop identifier of an encoded message.
pub(crate) fn set_hop_by_hop(bytes: &mut [u8], hop_by_hop: u32) {
    if let Some(field) = bytes.get_mut(12..16) {
        field.copy_from_slice(&hop_by_hop.to_be_bytes());
    }
}

/// The counters of an agent.
#[derive(Debug, Default)]
pub(crate) struct RelayCounters {
    pub requests_relayed: AtomicU64,
    pub answers_relayed: AtomicU64,
    pub answers_dropped: AtomicU64,
    pub loops_detected: AtomicU64,
    pub unable_to_deliver: AtomicU64,
    pub realm_not_served: AtomicU64,
    pub redirected: AtomicU64,
    pub too_busy: AtomicU64,
    pub expired: AtomicU64,
    pub requests_failed_over: AtomicU64,
    pub proxy_answered: AtomicU64,
    pub too_large: AtomicU64,
    pub closed_after_sending: AtomicU64,
    pub forwarded_without_copy: AtomicU64,
    /// Bytes of failover copies kept now (the node's budget).
    pub copy_bytes: Arc<AtomicUsize>,
}

impl RelayCounters {
    pub(crate) fn snapshot(&self) -> RelayStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RelayStats {
            requests_relayed: r(&self.requests_relayed),
            answers_relayed: r(&self.answers_relayed),
            answers_dropped: r(&self.answers_dropped),
            loops_detected: r(&self.loops_detected),
            unable_to_deliver: r(&self.unable_to_deliver),
            realm_not_served: r(&self.realm_not_served),
            redirected: r(&self.redirected),
            too_busy: r(&self.too_busy),
            expired: r(&self.expired),
            requests_failed_over: r(&self.requests_failed_over),
            proxy_answered: r(&self.proxy_answered),
            too_large: r(&self.too_large),
            closed_after_sending: r(&self.closed_after_sending),
            forwarded_without_copy: r(&self.forwarded_without_copy),
            copy_bytes: self.copy_bytes.load(Ordering::Relaxed) as u64,
        }
    }
}

/// What an agent forwarded, answered itself and dropped
/// ([`Node::relay_stats`](crate::node::Node::relay_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Requests forwarded to a next hop.
    pub requests_relayed: u64,
    /// Answers to them sent back where their request came from.
    pub answers_relayed: u64,
    /// Answers to relayed requests dropped: the connection their request
    /// came in on was gone.
    pub answers_dropped: u64,
    /// Requests answered 3005 DIAMETER_LOOP_DETECTED.
    pub loops_detected: u64,
    /// Requests answered 3002 DIAMETER_UNABLE_TO_DELIVER (no usable next
    /// hop, or the next hop's connection closed before answering).
    pub unable_to_deliver: u64,
    /// Requests answered 3003 DIAMETER_REALM_NOT_SERVED.
    pub realm_not_served: u64,
    /// Requests answered 3006 DIAMETER_REDIRECT_INDICATION.
    pub redirected: u64,
    /// Requests answered 3004 DIAMETER_TOO_BUSY (the next hop's connection
    /// had `max_pending_per_connection` requests waiting, or its output was
    /// full).
    pub too_busy: u64,
    /// Relayed requests whose answer did not come within
    /// [`NodeLimits::relay_timeout`](crate::node::NodeLimits::relay_timeout):
    /// forgotten.
    pub expired: u64,
    /// Relayed requests sent again, with the T flag, to another next hop
    /// because the connection they waited on failed (RFC 6733 §5.5.4).
    pub requests_failed_over: u64,
    /// Requests a proxy handler answered itself
    /// ([`ProxyVerdict::Answer`](crate::node::ProxyVerdict::Answer) or
    /// [`Reply`](crate::node::ProxyVerdict::Reply), or 5012 after a panic).
    pub proxy_answered: u64,
    /// Requests answered 3002 DIAMETER_UNABLE_TO_DELIVER because, with the
    /// Route-Record added, they would exceed the largest message this node
    /// accepts itself (`max_message_size`) or its next hop's transport
    /// takes: a next hop with the same limit would close its connection on
    /// them. Not counted in `unable_to_deliver`.
    pub too_large: u64,
    /// Relayed requests answered 3002 rather than sent to a third next hop:
    /// they had been failed over once already, and the connection they went
    /// on closed again before anything was read on it after them (the
    /// request may be what makes next hops close). Not counted in
    /// `unable_to_deliver`.
    pub closed_after_sending: u64,
    /// Requests forwarded with no copy kept for failover, the copies'
    /// byte budget being full
    /// ([`NodeLimits::relay_copy_bytes_per_connection`](crate::node::NodeLimits::relay_copy_bytes_per_connection),
    /// [`relay_copy_bytes`](crate::node::NodeLimits::relay_copy_bytes)): if their
    /// next hop fails, they are answered 3002 instead of failed over.
    pub forwarded_without_copy: u64,
    /// Bytes of the copies of relayed requests kept for failover now (not
    /// a counter: at most `relay_copy_bytes`).
    pub copy_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageHeader;

    fn req(avps: Vec<Avp>) -> Message {
        let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
        h.set_request(true);
        h.set_proxyable(true);
        Message::new(h, avps)
    }

    fn dest(host: Option<&str>, realm: Option<&str>) -> Message {
        let mut avps = Vec::new();
        if let Some(h) = host {
            avps.push(Avp::new(AVP_DESTINATION_HOST, 0, h).unwrap());
        }
        if let Some(r) = realm {
            avps.push(Avp::new(AVP_DESTINATION_REALM, 0, r).unwrap());
        }
        req(avps)
    }

    #[test]
    fn requests_for_this_node_stay() {
        let t = [];
        let d = |h, r| decide(&dest(h, r), "dra.a.net", "a.net", &t);
        assert!(matches!(d(None, None), Decision::Local));
        assert!(matches!(d(None, Some("A.net")), Decision::Local));
        assert!(matches!(
            d(Some("DRA.a.net"), Some("b.net")),
            Decision::Local
        ));
        assert!(matches!(
            d(Some("ocs.a.net"), Some("a.net")),
            Decision::Forward { host: Some(h), servers: None, .. } if h == "ocs.a.net"
        ));
        assert!(matches!(
            d(None, Some("B.net")),
            Decision::Forward { realm, host: None, servers: None } if realm == "b.net"
        ));
    }

    #[test]
    fn the_table_names_the_action() {
        let entry = |realm: &str, app, action| RouteEntry::new(realm, app, action, Vec::new());
        let t = [
            entry("b.net", None, RouteAction::Redirect),
            entry("b.net", Some(4), RouteAction::Local),
            entry("c.net", None, RouteAction::Relay),
        ];
        assert_eq!(
            lookup(&t, "B.NET", 4).map(|e| e.action),
            Some(RouteAction::Local)
        );
        assert_eq!(
            lookup(&t, "b.net", 5).map(|e| e.action),
            Some(RouteAction::Redirect)
        );
        assert!(lookup(&t, "d.net", 4).is_none());
        let d = |r| decide(&dest(None, Some(r)), "dra.a.net", "a.net", &t);
        assert!(matches!(d("b.net"), Decision::Local));
        assert!(matches!(
            d("c.net"),
            Decision::Forward {
                servers: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn route_records_are_searched() {
        let mut m = req(Vec::new());
        for i in 0..1000 {
            m.append_avp(Avp::new(AVP_ROUTE_RECORD, 0, format!("h{i}.net").as_str()).unwrap());
        }
        assert!(!loop_detected(&m, "dra.a.net"));
        m.append_avp(Avp::new(AVP_ROUTE_RECORD, 0, "DRA.a.net").unwrap());
        assert!(loop_detected(&m, "dra.a.net"));
    }

    #[test]
    fn route_record_is_appended_byte_for_byte() {
        let mut m = req(vec![Avp::new(AVP_SESSION_ID, 0, "s;1").unwrap()]);
        let bytes = m.as_bytes().unwrap();
        let out = append_route_record(bytes.clone(), "dra.a.net", 1 << 20).unwrap();
        assert_eq!(&out[4..bytes.len()], &bytes[4..]);
        m.append_avp(Avp::new(AVP_ROUTE_RECORD, 0, "dra.a.net").unwrap());
        assert_eq!(out, m.as_bytes().unwrap());
        assert!(append_route_record(bytes.clone(), "dra.a.net", bytes.len() + 8).is_none());
        assert!(append_route_record(vec![1, 2, 3], "x", 1 << 20).is_none());
        let mut out = out;
        set_hop_by_hop(&mut out, 0x0102_0304);
        assert_eq!(&out[12..16], &[1, 2, 3, 4]);
    }
}
