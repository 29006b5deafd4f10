//! The relay agent's part of the node protocol (RFC 6733 §6.1.9, §6.2.2):
//! a request that is not for this node is forwarded, as received but for a
//! Route-Record naming the peer it came from appended and the hop-by-hop
//! identifier of the next connection; its answer goes back, as received but
//! for the original hop-by-hop identifier, on the connection the request
//! came in on.
//! Relayed requests are tracked by the connection they went out on
//! ([`Conn::relay_request`]), bounded and expired with its own requests;
//! when it fails they go to another next hop (`relay_failover`). Requests
//! a `Proxy` entry routes go through their application's proxy handler
//! (`proxied`).

use std::sync::atomic::Ordering;

use crate::node::core::agent::calls::NextHop;
use crate::node::core::agent::proxy::ProxyHandler;
use crate::node::core::agent::relay::{self, Decision, RedirectTo};
use crate::node::core::agent::relay_failover::next_hops;
use crate::node::core::conn::Relayed;
use std::sync::Arc;
use std::time::Instant;

use log::debug;

use crate::message::constants::*;
use crate::message::{Avp, Message};
use crate::node::core::agent::duplicates::request_digest;
use crate::node::core::conn::{ConnId, PendingRefused};
use crate::node::core::dispatch::{later, *};
use crate::node::peer::*;
use crate::node::shared::count;

impl Dispatch {
    /// For an agent: forwards (or answers) a request that is not for this
    /// node; gives back one that is.
    pub(crate) fn relay_intake(
        &mut self,
        now: Instant,
        id: ConnId,
        mut msg: Message,
    ) -> Option<Message> {
        let identity = self.snapshot.identity.clone();
        let decision = {
            let routes = &self.snapshot.routes;
            relay::decide(&msg, &identity.origin_host, &identity.origin_realm, routes)
        };
        let (realm, host, servers) = match decision {
            Decision::Local => {
                // for duplicate detection, from the bytes received (the
                // requests it relays do not need it)
                if let Some(wire) = msg.wire.take() {
                    msg.request_digest = request_digest(&wire);
                }
                return Some(msg);
            }
            Decision::Redirect(to) => {
                self.redirect(now, id, &msg, &to);
                return None;
            }
            Decision::Forward {
                realm,
                host,
                servers,
            } => (realm, host, servers),
        };
        let to = NextHop {
            realm,
            host,
            servers,
        };
        self.relay_to_realm(now, id, msg, to);
        None
    }

    /// Forwards a request to a next hop for `to`, through the proxy
    /// handler when a route says so (the loop runs it:
    /// [`Delivery::ProxyRequest`]); or answers it here (loop detected).
    fn relay_to_realm(&mut self, now: Instant, id: ConnId, msg: Message, to: NextHop) {
        if relay::loop_detected(&msg, &self.snapshot.identity.origin_host) {
            count(&self.relay.loops_detected);
            return self.refuse_relay(
                now,
                id,
                &msg,
                E_RESULT_CODE_DIAMETER_LOOP_DETECTED,
                "forwarding loop detected",
            );
        }
        match self.proxy_handler_for(&msg, &to.realm) {
            Some(handler) => self.proxy_request(id, msg, handler, to),
            None => self.relay_onward(now, id, msg, &to, None),
        }
    }

    /// Forwards a request to the least loaded next hop `to` names that is
    /// ready (`proxy` the handler that saw it); or answers it here (no
    /// next hop, realm not served).
    pub(crate) fn relay_onward(
        &mut self,
        now: Instant,
        id: ConnId,
        msg: Message,
        to: &NextHop,
        proxy: Option<Arc<dyn ProxyHandler>>,
    ) {
        let (realm, host, servers) = (&to.realm, to.host.as_deref(), to.servers.as_deref());
        let (candidates, served) = self.relay_candidates(&msg, realm, host, servers);
        // the least loaded of those whose connection carries requests now
        // (the status the candidates were read from may lag behind)
        match self.least_loaded_ready(candidates) {
            Some(peer) => self.forward(now, id, msg, peer, proxy),
            None if served => {
                count(&self.relay.unable_to_deliver);
                self.refuse_relay(
                    now,
                    id,
                    &msg,
                    E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER,
                    "no peer can take the request",
                );
            }
            None => {
                count(&self.relay.realm_not_served);
                self.refuse_relay(
                    now,
                    id,
                    &msg,
                    E_RESULT_CODE_DIAMETER_REALM_NOT_SERVED,
                    "realm is not served",
                );
            }
        }
    }

    /// The next hops a request to `realm` may go to, and whether the realm
    /// is served at all (by a route, this node, or a configured peer).
    fn relay_candidates(
        &self,
        msg: &Message,
        realm: &str,
        host: Option<&str>,
        servers: Option<&[Arc<Peer>]>,
    ) -> (Vec<Arc<Peer>>, bool) {
        let app = msg.header.application_id;
        let identity = self.snapshot.identity.clone();
        let peers = &self.snapshot.peers;
        let can_take = |p: &Peer, app| self.can_take(p, app);
        let candidates = next_hops(peers, realm, host, servers, app, None, &can_take);
        let served = servers.is_some()
            || realm.eq_ignore_ascii_case(&identity.origin_realm)
            || peers
                .iter()
                .any(|p| p.realm_name.eq_ignore_ascii_case(realm));
        (candidates, served)
    }

    /// Sends a request on to `peer`: its received bytes, a Route-Record
    /// naming the peer it came from appended, the next connection's
    /// hop-by-hop identifier; kept for failover unless `max_failovers` is 0.
    pub(crate) fn forward(
        &mut self,
        now: Instant,
        id: ConnId,
        mut msg: Message,
        peer: Arc<Peer>,
        proxy: Option<Arc<dyn ProxyHandler>>,
    ) {
        let Some(to) = self.ready_conn_of(&peer) else {
            count(&self.relay.unable_to_deliver);
            return self.refuse_relay(
                now,
                id,
                &msg,
                E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER,
                "next hop not connected",
            );
        };
        let Some(bytes) = self.forwarded_bytes(now, id, to, &mut msg) else {
            return;
        };
        let limits = self.config.limits;
        let relayed = Relayed {
            from: id,
            header: msg.header,
            session: msg.find_avp(&[(AVP_SESSION_ID, 0)]).cloned(),
            to: peer.clone(),
            expires: later(now, limits.relay_timeout),
            request: None,
            attempts: 0,
            read_mark: 0,
            proxy,
        };
        let Some(conn) = self.conns.get_mut(&to) else {
            return;
        };
        let keep = (limits.max_failovers > 0).then_some(&self.copy_budget);
        let refused =
            match conn.relay_request(bytes, relayed, keep, limits.max_pending_per_connection) {
                Ok(copied) => {
                    if keep.is_some() && !copied {
                        count(&self.relay.forwarded_without_copy);
                    }
                    peer.outstanding.fetch_add(1, Ordering::Relaxed);
                    count(&self.relay.requests_relayed);
                    self.dirty.push(to);
                    return;
                }
                Err((refused, ..)) => refused,
            };
        let (code, why) = match refused {
            PendingRefused::NotReady => {
                count(&self.relay.unable_to_deliver);
                (
                    E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER,
                    "next hop not ready",
                )
            }
            PendingRefused::Full => {
                count(&self.relay.too_busy);
                (
                    E_RESULT_CODE_DIAMETER_TOO_BUSY,
                    "too many requests waiting on the next hop",
                )
            }
        };
        self.refuse_relay(now, id, &msg, code, why);
    }

    /// The bytes to forward a request received on `id` with, on the
    /// connection `to`: as received, with a Route-Record naming its sender
    /// appended; `None` when it cannot go (answered here, counted).
    fn forwarded_bytes(
        &mut self,
        now: Instant,
        id: ConnId,
        to: ConnId,
        msg: &mut Message,
    ) -> Option<Vec<u8>> {
        let wire = match msg.wire.take() {
            Some(wire) => Some(wire),
            None => msg.as_bytes().ok(),
        };
        // RFC 6733 §6.1.9, §6.7.1: the Route-Record names the peer the
        // request came from, as its Capabilities-Exchange named it (requests
        // are read only once that exchange is done)
        let from_host = self
            .conns
            .get(&id)
            .and_then(|c| c.machine.as_ref())
            .and_then(|m| m.remote())
            .map(|r| r.origin_host.clone());
        let conn = self.conns.get(&to)?;
        let refusal = if from_host.is_none() {
            count(&self.relay.unable_to_deliver);
            (
                E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER,
                "sender not identified",
            )
        } else if conn.output_len() > self.config.limits.max_output_buffer.saturating_mul(2) {
            count(&self.relay.too_busy);
            (E_RESULT_CODE_DIAMETER_TOO_BUSY, "next hop is not reading")
        } else {
            // RFC 6733 §6.1.9 leaves a relay no way to shrink a request, and
            // a next hop that reads no more than this node does would close
            // its connection on it (and failover would take the next one
            // down too): what would exceed this node's own max_message_size,
            // or the next hop's transport, once the Route-Record is added, is
            // answered here
            let own = self.config.connection.max_message_size as usize;
            let max_len = conn.max_send.map_or(own, |s| s.min(own));
            let host = from_host.as_deref().unwrap_or_default();
            if let Some(bytes) = wire.and_then(|w| relay::append_route_record(w, host, max_len)) {
                return Some(bytes);
            }
            count(&self.relay.too_large);
            (
                E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER,
                "request too large to forward",
            )
        };
        self.refuse_relay(now, id, msg, refusal.0, refusal.1);
        None
    }

    /// Sends the answer to a relayed request back where the request came
    /// from, with its hop-by-hop identifier (or drops it, counted).
    pub(crate) fn relay_back(&mut self, relayed: &Relayed, mut msg: Message) {
        let bytes = match msg.wire.take() {
            Some(wire) => Some(wire),
            None => msg.as_bytes().ok(),
        };
        let sent = bytes.is_some_and(|mut bytes| {
            relay::set_hop_by_hop(&mut bytes, relayed.header.hop_by_hop_identifier);
            self.conns
                .get_mut(&relayed.from)
                .is_some_and(|c| queue_answer(c, &bytes))
        });
        if sent {
            count(&self.relay.answers_relayed);
            self.dirty.push(relayed.from);
        } else {
            count(&self.relay.answers_dropped);
            debug!(target: "diameter.node", "answer {msg} to a relayed request: its requester is gone, dropped");
        }
    }

    /// An answer received on `id`: when it answers a relayed request, it
    /// goes back where the request came from (or is dropped, counted);
    /// otherwise it is given back.
    pub(crate) fn relay_answer(&mut self, id: ConnId, mut msg: Message) -> Option<Message> {
        let conn = self.conns.get_mut(&id)?;
        let relayed = match conn.take_relayed(&msg) {
            None => {
                msg.wire = None;
                return Some(msg);
            }
            Some(Err(_)) => {
                count(&self.counters.answers_wrong_end_to_end);
                debug!(target: "diameter.node", "{}: answer {msg} has another End-to-End id than its relayed request, dropped", conn.name());
                return None;
            }
            Some(Ok(r)) => r,
        };
        relayed.to.outstanding.fetch_sub(1, Ordering::Relaxed);
        match relayed.proxy.clone() {
            Some(handler) => self.proxy_answer(relayed, msg, handler),
            None => self.relay_back(&relayed, msg),
        }
        None
    }

    /// The connection relayed requests went out on closed: each that could
    /// not be failed over is answered 3002 where it came from.
    pub(crate) fn relayed_lost(&mut self, now: Instant, lost: Vec<Relayed>) {
        for r in lost {
            self.relayed_undelivered(
                now,
                r,
                |c| &c.unable_to_deliver,
                "next hop closed before answering",
            );
        }
    }

    /// Answers a relayed request that will not be delivered 3002 where it
    /// came from (when its requester is still connected), counted in the
    /// relay counter `counter` picks.
    pub(crate) fn relayed_undelivered(
        &mut self,
        now: Instant,
        r: Relayed,
        counter: fn(
            &crate::node::core::agent::relay::RelayCounters,
        ) -> &std::sync::atomic::AtomicU64,
        why: &str,
    ) {
        r.to.outstanding.fetch_sub(1, Ordering::Relaxed);
        if !self.conns.contains_key(&r.from) {
            return;
        }
        count(counter(&self.relay));
        let stub = Message::new(r.header, r.session.into_iter().collect());
        self.refuse_relay(
            now,
            r.from,
            &stub,
            E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER,
            why,
        );
        self.dirty.push(r.from);
    }

    /// Relayed requests whose answers are overdue are forgotten.
    pub(crate) fn relayed_expired(&mut self, expired: Vec<Relayed>) {
        for r in expired {
            r.to.outstanding.fetch_sub(1, Ordering::Relaxed);
            count(&self.relay.expired);
        }
    }

    /// Answers a request here with an error: E bit, this node's
    /// Origin-Host/Realm, the request's Session-Id first and its Proxy-Info
    /// AVPs (RFC 6733 §6.2), and `extra`.
    pub(crate) fn refuse_relay(
        &mut self,
        now: Instant,
        id: ConnId,
        msg: &Message,
        result_code: u32,
        why: &str,
    ) {
        self.answer_here(now, id, msg, result_code, why, Vec::new());
    }

    pub(crate) fn answer_here(
        &mut self,
        _now: Instant,
        id: ConnId,
        msg: &Message,
        result_code: u32,
        why: &str,
        extra: Vec<Avp>,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(machine) = conn.machine.as_mut() else {
            return;
        };
        let mut answer = machine.error_answer(&msg.header, result_code, Some(why), None);
        if let Some(session) = msg.find_avp(&[(AVP_SESSION_ID, 0)]) {
            answer.avps.insert(0, session.clone());
        }
        answer.avps.extend(extra);
        answer.avps.extend(
            msg.avps
                .iter()
                .filter(|a| a.code() == AVP_PROXY_INFO && a.vendor_id() == 0)
                .cloned(),
        );
        send_own_answer(
            &mut self.deliveries,
            machine,
            conn.peer.as_ref(),
            msg.header.command_code,
            &answer,
        );
        self.dirty.push(id);
    }

    /// RFC 6733 §6.1.7: 3006 with a Redirect-Host for each server, then
    /// Redirect-Host-Usage and Redirect-Max-Cache-Time (§6.13, §6.14).
    pub(crate) fn redirect(&mut self, now: Instant, id: ConnId, msg: &Message, to: &RedirectTo) {
        count(&self.relay.redirected);
        let mut hosts: Vec<Avp> = to
            .servers
            .iter()
            .filter_map(|p| {
                let scheme = if p.is_secure { "aaas" } else { "aaa" };
                let uri = format!("{scheme}://{}:{}", p.node_name, p.port);
                Avp::new(AVP_REDIRECT_HOST, 0, uri.as_str()).ok()
            })
            .collect();
        let seconds = u32::try_from(to.max_cache_time.as_secs()).unwrap_or(u32::MAX);
        hosts.extend(Avp::new(AVP_REDIRECT_HOST_USAGE, 0, to.usage).ok());
        hosts.extend(Avp::new(AVP_REDIRECT_MAX_CACHE_TIME, 0, seconds).ok());
        self.answer_here(
            now,
            id,
            msg,
            E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION,
            "redirected",
            hosts,
        );
    }
}
