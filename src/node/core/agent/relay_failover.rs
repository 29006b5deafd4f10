//! Failover of relayed requests (RFC 6733 §5.5.4 at an agent): when the
//! connection a relayed request went out on fails (closes, its watchdog
//! goes SUSPECT, its peer sends a DPR), the request goes again, with the T
//! flag and otherwise byte for byte as forwarded (End-to-End identifier,
//! Route-Record and all), to another next hop its route allows; its answer
//! still goes back on the connection it came in on with its original
//! hop-by-hop identifier. One that cannot go stays where it is: answered
//! 3002 if that connection closes, else waiting for its answer there.
//!
//! A request may itself be why next hops close (one they cannot read), and
//! failing it over would then take every next hop down in turn. The relay
//! cannot tell such a request from one a dying server left unanswered, so
//! it lets it cost at most one connection beyond the one it was sent on: a
//! request already failed over once is answered 3002, not sent again, when
//! its connection closes before anything was read on it after the request
//! was queued there ([`Relayed::read_mark`]; counted in
//! `closed_after_sending`). A request whose connection closed after it had
//! read something since (an answer, a DWA) is failed over as before, up to
//! `max_failovers` times.

use std::sync::atomic::Ordering;

use crate::node::core::agent::relay::{self, Decision};
use crate::node::core::conn::Relayed;
use std::sync::Arc;
use std::time::Instant;

use log::debug;

use crate::message::MessageHeader;
use crate::node::core::conn::ConnId;
use crate::node::core::dispatch::{later, *};
use crate::node::peer::*;
use crate::node::shared::count;

impl Dispatch {
    /// The connection `id` failed: each relayed request waiting there that
    /// may be failed over goes to another next hop; the others stay.
    pub(crate) fn fail_over_relayed(&mut self, now: Instant, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if self.config.limits.max_failovers == 0 || conn.relayed_len() == 0 {
            return;
        }
        let failed = conn.peer.clone();
        let name = conn.name();
        // closed, and what has been read on it so far: a request queued
        // since the last byte read came just before the close
        let closed_at = conn
            .machine
            .as_ref()
            .filter(|m| m.state() == State::Closed)
            .map(Connection::bytes_read);
        let waiting = conn.take_all_relayed();
        let mut stay = Vec::new();
        let mut moved = 0usize;
        for (hop_by_hop, r) in waiting {
            if r.attempts > 0 && closed_at == Some(r.read_mark) {
                self.closed_after_sending(now, r);
                continue;
            }
            match self.fail_over_relayed_one(now, failed.as_ref(), r) {
                None => moved += 1,
                Some(r) => stay.push((hop_by_hop, r)),
            }
        }
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.keep_relayed(stay);
        }
        if moved > 0 {
            debug!(target: "diameter.node", "{name}: {moved} relayed requests failed over to other next hops");
        }
    }

    /// A relayed request failed over once already whose connection closed
    /// again right after it was sent: answered 3002 where it came from, not
    /// sent to a third next hop.
    pub(crate) fn closed_after_sending(&mut self, now: Instant, r: Relayed) {
        self.relayed_undelivered(
            now,
            r,
            |c| &c.closed_after_sending,
            "next hops close on this request",
        );
    }

    /// Sends one relayed request of a failed connection to another next
    /// hop; gives it back when it cannot go (no bytes kept, bound reached,
    /// its requester gone, no other next hop, that one refused it).
    pub(crate) fn fail_over_relayed_one(
        &mut self,
        now: Instant,
        failed: Option<&Arc<Peer>>,
        mut r: Relayed,
    ) -> Option<Relayed> {
        let limits = self.config.limits;
        if r.attempts >= limits.max_failovers || !self.conns.contains_key(&r.from) {
            return Some(r);
        }
        let Some(mut copy) = r.request.take() else {
            return Some(r);
        };
        let Some((peer, to)) = self.relay_alternative(copy.bytes(), failed) else {
            r.request = Some(copy);
            return Some(r);
        };
        let Some(conn) = self.conns.get_mut(&to) else {
            r.request = Some(copy);
            return Some(r);
        };
        let too_large = conn.max_send.is_some_and(|l| copy.bytes().len() > l);
        if too_large || conn.output_len() > limits.max_output_buffer.saturating_mul(2) {
            r.request = Some(copy);
            return Some(r);
        }
        let mut bytes = copy.take_bytes();
        if let Some(flags) = bytes.get_mut(4) {
            *flags |= MessageHeader::FLAG_RETRANSMIT;
        }
        let previous = (std::mem::replace(&mut r.to, peer.clone()), r.expires);
        r.attempts = r.attempts.saturating_add(1);
        r.expires = later(now, limits.relay_timeout);
        let budget = &self.copy_budget;
        match conn.relay_request(bytes, r, Some(budget), limits.max_pending_per_connection) {
            Ok(copied) => {
                drop(copy);
                if !copied {
                    count(&self.relay.forwarded_without_copy);
                }
                previous.0.outstanding.fetch_sub(1, Ordering::Relaxed);
                peer.outstanding.fetch_add(1, Ordering::Relaxed);
                count(&self.relay.requests_failed_over);
                self.dirty.push(to);
                None
            }
            Err((_, bytes, mut r)) => {
                (r.to, r.expires) = previous;
                r.attempts = r.attempts.saturating_sub(1);
                copy.restore(bytes);
                r.request = Some(copy);
                Some(r)
            }
        }
    }

    /// Another next hop for a relayed request (as encoded when forwarded),
    /// and its ready connection: by the routing table as it is now, the
    /// least loaded of those the request's route allows, not `failed`; none
    /// when its Destination-Host names `failed`.
    pub(crate) fn relay_alternative(
        &mut self,
        bytes: &[u8],
        failed: Option<&Arc<Peer>>,
    ) -> Option<(Arc<Peer>, ConnId)> {
        let stub = routing_stub(bytes)?;
        if names_failed(&stub, failed) {
            return None;
        }
        let identity = self.snapshot.identity.clone();
        let decision = {
            let routes = &self.snapshot.routes;
            relay::decide(&stub, &identity.origin_host, &identity.origin_realm, routes)
        };
        let Decision::Forward {
            realm,
            host,
            servers,
        } = decision
        else {
            return None;
        };
        let candidates = {
            let peers = &self.snapshot.peers;
            next_hops(
                peers,
                &realm,
                host.as_deref(),
                servers.as_deref(),
                stub.header.application_id,
                failed,
                &|p, app| self.can_take(p, app),
            )
        };
        let peer = self.least_loaded_ready(candidates)?;
        let to = self.ready_conn_of(&peer)?;
        Some((peer, to))
    }
}

/// The peers a request of `app` for `realm` may be forwarded to now
/// (RFC 6733 §6.1.6, §6.1.9): the Destination-Host `host` when it is a peer
/// that can take it, else those of the routing table entry's `servers`
/// (without an entry: the peers configured in `realm`) that can
/// (`can_take`); never `except`.
pub(crate) fn next_hops(
    peers: &[Arc<Peer>],
    realm: &str,
    host: Option<&str>,
    servers: Option<&[Arc<Peer>]>,
    app: u32,
    except: Option<&Arc<Peer>>,
    can_take: &dyn Fn(&Peer, u32) -> bool,
) -> Vec<Arc<Peer>> {
    let usable = |p: &&Arc<Peer>| !except.is_some_and(|e| Arc::ptr_eq(e, p)) && can_take(p, app);
    if let Some(host) = host {
        let named = peers
            .iter()
            .find(|p| p.node_name.eq_ignore_ascii_case(host))
            .filter(usable);
        if let Some(p) = named {
            return vec![p.clone()];
        }
    }
    match servers {
        Some(servers) => servers.iter().filter(usable).cloned().collect(),
        None => peers
            .iter()
            .filter(|p| p.realm_name.eq_ignore_ascii_case(realm))
            .filter(usable)
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::constants::*;
    use crate::message::{Avp, Message, MessageHeader};

    #[test]
    fn the_stub_holds_the_destination() {
        let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
        h.set_request(true);
        h.set_proxyable(true);
        let mut m = Message::new(
            h,
            vec![
                Avp::new(AVP_SESSION_ID, 0, "s;1").unwrap(),
                Avp::new(AVP_DESTINATION_REALM, 0, "b.net").unwrap(),
                Avp::new(AVP_DESTINATION_HOST, 0, "ocs.b.net").unwrap(),
            ],
        );
        m.append_avp(Avp::new(AVP_ROUTE_RECORD, 0, "dra.a.net").unwrap());
        let bytes = m.as_bytes().unwrap();
        let stub = routing_stub(&bytes).unwrap();
        assert!(stub.header.is_proxyable());
        assert_eq!(stub.avps.len(), 2);
        assert_eq!(
            stub.find_avp(&[(AVP_DESTINATION_HOST, 0)])
                .and_then(Avp::as_str),
            Some("ocs.b.net")
        );
        // every prefix parses to what it holds, or to nothing, without panic
        for n in 0..bytes.len() {
            let _ = routing_stub(&bytes[..n]);
        }
        assert!(routing_stub(&bytes[..10]).is_none());
    }
}
