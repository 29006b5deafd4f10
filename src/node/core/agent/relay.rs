//! RFC 6733 §2.7 and §6.1 for agents, as pure functions: the routing table
//! ([`RouteEntry`]: realm, application, local action, servers), the choice
//! between handling a request here and forwarding it (§6.1.4-6.1.6), loop
//! detection over Route-Record (§6.1.3, §6.7.1) and the byte-level edits a
//! relay makes to the messages it forwards (§6.1.9, §6.2.2): a Route-Record
//! appended, the hop-by-hop identifier replaced, nothing else touched.

use std::sync::Arc;
use std::time::Duration;

use crate::message::constants::*;
use crate::message::{Avp, Message, HEADER_LENGTH};
use crate::node::peer::Peer;

pub use crate::node::config::{Agent, RouteAction, RouteEntry};
pub(crate) use crate::node::shared::RelayCounters;
pub use crate::node::shared::RelayStats;

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
