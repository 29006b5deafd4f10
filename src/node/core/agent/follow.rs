//! Redirects (RFC 6733 §6.1.7, §6.13, §6.14) of the requests this node
//! sends itself: a 3006 DIAMETER_REDIRECT_INDICATION answer is not given
//! to the caller; the request goes again (same End-to-End identifier, a
//! new hop-by-hop identifier, no T flag) to a host the answer names, which
//! is connected first when it is not. The redirect cache
//! ([`crate::node::shared::redirect`]) remembers the host for later requests as
//! the answer's Redirect-Host-Usage says, by default only for those that
//! would go the way the redirected one went (its Destination-Realm, to the
//! peer the 3006 came from; `NodeLimits::redirect_wide_scope` widens it),
//! for at most `NodeLimits::max_redirect_cache_time`.
//!
//! A Redirect-Host is followed when its host is a configured peer (by name,
//! or by address and port), a peer added earlier for a redirect, or an IP
//! address: then a peer is added for it (at most
//! `NodeLimits::max_redirect_peers`). A host name the node does not know
//! would need a DNS lookup, which the event loop never does: it is
//! skipped. So are hosts naming this node and the host that redirected.
//! When no host is left, the caller gets the 3006 answer.

use crate::node::shared::redirect::{self, Change, Facts};
use crate::node::uri::DiameterUri;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use log::{debug, info};

use crate::message::constants::*;
use crate::message::{Avp, Message, MessageHeader};
use crate::node::core::agent::redirect::Waiting;
use crate::node::core::conn::{ConnId, Pending, Retry};
use crate::node::core::dispatch::*;
use crate::node::error::{ApplicationError, EmptyReason, NodeError};
use crate::node::peer::*;
use crate::node::shared::count;

impl Dispatch {
    /// An answer to a request this node sent: a 3006 that may be followed
    /// is followed (`None`); anything else is given back.
    pub(crate) fn follow_redirect(
        &mut self,
        now: Instant,
        from: ConnId,
        mut pending: Pending,
        answer: Message,
    ) -> Option<(Pending, Message)> {
        let limits = self.config.limits;
        let may = pending.failover.as_ref().is_some_and(|f| {
            f.retry.redirects < limits.max_redirects && f.retry.caller_deadline > now
        });
        if !may || self.stopping.is_some() || !redirect::is_redirect(&answer) {
            return Some((pending, answer));
        }
        let said = redirect::read(&answer);
        let request = pending
            .failover
            .as_ref()
            .and_then(|f| Message::from_bytes(&f.bytes).ok());
        let realm = request
            .as_ref()
            .and_then(|r| r.find_avp(&[(AVP_DESTINATION_REALM, 0)]))
            .and_then(Avp::as_str)
            .unwrap_or_default()
            .to_owned();
        let redirector = self.conns.get(&from).and_then(|c| c.peer.clone());
        let hosts = self.redirect_targets(now, &said.hosts, redirector.as_ref(), &realm);
        let Some(first) = hosts.first().cloned() else {
            debug!(target: "diameter.node", "3006 answer {answer} names no host that can be reached, given to the caller");
            return Some((pending, answer));
        };
        let Some(mut copy) = pending.failover.take() else {
            // `may` said there is one
            return Some((pending, answer));
        };
        let Pending {
            end_to_end,
            reply,
            expires,
            ..
        } = pending;
        // cached for the requests the usage covers that go the way this
        // one went (or as widely as the RFC reads, when the node says so)
        if let (Some(request), Some(via)) = (&request, redirector) {
            self.learn_redirect(now, request, &said, via, hosts.clone());
        }
        let peer = self.least_loaded_ready(hosts).unwrap_or(first);
        if let Some(flags) = copy.bytes.get_mut(4) {
            *flags &= !MessageHeader::FLAG_RETRANSMIT;
        }
        let retry = Retry {
            redirects: copy.retry.redirects.saturating_add(1),
            ..copy.retry
        };
        count(&self.counters.requests_redirected);
        debug!(target: "diameter.node", "3006 answer {answer}: request sent again to {peer}");
        self.send_to_redirect_host(
            now,
            Waiting {
                peer,
                bytes: copy.bytes,
                end_to_end,
                reply,
                expires,
                retry: Some(retry),
                app: Some(retry.app),
                deadline: retry.caller_deadline,
                answer: Some(answer),
            },
        );
        None
    }

    /// The peers the Redirect-Hosts of a 3006 from `redirector` name that
    /// can be used, each once.
    fn redirect_targets(
        &mut self,
        now: Instant,
        uris: &[DiameterUri],
        redirector: Option<&Arc<Peer>>,
        realm: &str,
    ) -> Vec<Arc<Peer>> {
        let mut hosts: Vec<Arc<Peer>> = Vec::new();
        for uri in uris {
            if let Some(p) = self.redirect_host(now, uri, redirector, realm) {
                if !hosts.iter().any(|h| Arc::ptr_eq(h, &p)) {
                    hosts.push(p);
                }
            }
        }
        hosts
    }

    /// Caches what a 3006 said, for the requests its usage covers that go
    /// the way `request` went through `via` (or as widely as the RFC reads,
    /// when the node says so).
    fn learn_redirect(
        &mut self,
        now: Instant,
        request: &Message,
        said: &redirect::Redirect,
        via: Arc<Peer>,
        targets: Vec<Arc<Peer>>,
    ) {
        let facts = Facts::of(request);
        let Some(slot) = self.redirect_cache.slot_for(said.usage, &facts) else {
            return;
        };
        self.change_cache(Change::Insert {
            now,
            slot,
            via,
            targets,
            ttl: said.max_cache_time,
        });
    }

    /// The peer a Redirect-Host names, if it can be used: a configured
    /// peer (by name, or by address and port), a peer added for an
    /// earlier redirect, or a new one for an IP address. Not this node,
    /// not the host that redirected, not a host that would need DNS.
    pub(crate) fn redirect_host(
        &mut self,
        now: Instant,
        uri: &DiameterUri,
        redirector: Option<&Arc<Peer>>,
        realm: &str,
    ) -> Option<Arc<Peer>> {
        let host = uri.fqdn.as_str();
        if host.eq_ignore_ascii_case(&self.snapshot.identity.origin_host) {
            return None;
        }
        let ip = host.parse::<IpAddr>().ok();
        let known = self
            .snapshot
            .peers
            .iter()
            .find(|p| {
                p.node_name.eq_ignore_ascii_case(host)
                    || ip.is_some_and(|ip| p.port == uri.port && p.ip_addresses.contains(&ip))
            })
            .cloned();
        let peer = match known {
            Some(p) => p,
            None => match self.redirects.learned_for(host, uri) {
                Some(p) => p,
                None => self.learn_peer(now, uri, ip?, realm)?,
            },
        };
        if redirector.is_some_and(|r| Arc::ptr_eq(r, &peer)) {
            return None;
        }
        // without an address only a connection already open can be used
        if peer.ip_addresses.is_empty() && self.ready_conn_of(&peer).is_none() {
            return None;
        }
        Some(peer)
    }

    /// Adds a peer for a Redirect-Host naming an IP address (TCP only; TLS
    /// when the node has certificates). When there are
    /// `max_redirect_peers` already, the one unused longest makes room, if
    /// one is unused.
    pub(crate) fn learn_peer(
        &mut self,
        now: Instant,
        uri: &DiameterUri,
        ip: IpAddr,
        realm: &str,
    ) -> Option<Arc<Peer>> {
        if uri.transport() != "tcp" || (uri.is_secure && !self.has_tls()) {
            return None;
        }
        if self.redirects.learned_len() >= self.config.limits.max_redirect_peers {
            // not one added for the redirect being followed
            let unused = self
                .redirects
                .least_recently_used(now, |p| self.learned_unused(p))?;
            self.redirects.forget_learned(&unused);
            self.close_learned(now, &unused);
        }
        let peer = Arc::new(Peer {
            node_name: uri.fqdn.clone(),
            realm_name: realm.to_ascii_lowercase(),
            transport: PEER_TRANSPORT_TCP,
            is_secure: uri.is_secure,
            port: uri.port,
            ip_addresses: vec![ip],
            persistent: false,
            is_default: false,
            settings: Default::default(),
            status: Default::default(),
            counters: Default::default(),
            outstanding: Default::default(),
            statistics: Default::default(),
        });
        info!(target: "diameter.node", "{peer}: added for a redirect, at {ip} port {}", uri.port);
        self.redirects.add_learned(peer.clone(), now);
        Some(peer)
    }

    #[cfg(feature = "tls")]
    pub(crate) fn has_tls(&self) -> bool {
        self.config.tls.is_some()
    }

    #[cfg(not(feature = "tls"))]
    pub(crate) fn has_tls(&self) -> bool {
        false
    }

    /// Whether a peer added for a redirect is unused: no cache entry names
    /// it, no request waits for it, none waits for an answer on it.
    pub(crate) fn learned_unused(&self, peer: &Arc<Peer>) -> bool {
        let named =
            self.redirect_cache.len() > 0 && self.redirect_cache.names(|t| Arc::ptr_eq(t, peer));
        !named
            && !self.redirects.waits_for(peer)
            && !self.conns.values().any(|c| {
                c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer)) && c.pending_len() > 0
            })
    }

    /// Closes the connections of a peer added for a redirect (DPR).
    pub(crate) fn close_learned(&mut self, now: Instant, peer: &Arc<Peer>) {
        debug!(target: "diameter.node", "{peer}: added for a redirect and unused, closed");
        for conn in self.conns.values_mut() {
            if conn.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer)) {
                match conn.machine.as_mut() {
                    Some(m) => m.disconnect(now, E_DISCONNECT_CAUSE_DO_NOT_WANT_TO_TALK_TO_YOU),
                    None => conn.connect_deadline = Some(now),
                }
                self.dirty.push(conn.id);
            }
        }
    }

    /// Whether the CEA of `peer` must name it: not for a peer added for a
    /// Redirect-Host naming an address (its Origin-Host is not known).
    pub(crate) fn checks_identity(&self, peer: &Arc<Peer>) -> bool {
        !self.redirects.learned_by_address(peer)
    }

    /// Sends a request to its redirect host: at once when it is ready;
    /// else it waits for the connection, which is opened if none is.
    /// Nothing is sent once its caller stopped waiting.
    pub(crate) fn send_to_redirect_host(&mut self, now: Instant, w: Waiting) {
        if w.deadline <= now {
            return;
        }
        self.redirects.used(&w.peer, now);
        if self.ready_conn_of(&w.peer).is_some() {
            return self.send_waiting(w);
        }
        if w.peer.ip_addresses.is_empty()
            || !self
                .redirects
                .has_room_for(&w, self.config.limits.max_redirect_waiting)
        {
            return self.redirect_failed(w);
        }
        if self.wants_connect(&w.peer) {
            self.actions.push_back(Action::Connect(w.peer.clone()));
        }
        self.redirects.wait(w);
    }

    pub(crate) fn send_waiting(&mut self, w: Waiting) {
        let Waiting {
            peer,
            bytes,
            end_to_end,
            reply,
            expires,
            retry,
            answer,
            ..
        } = w;
        if let Err((error, reply)) = self.send_on(&peer, bytes, end_to_end, reply, expires, retry) {
            debug!(target: "diameter.node", "{peer}: redirected request not sent: {error}");
            let _ = match answer {
                Some(answer) => reply.send(Ok(answer)),
                None => reply.send(Err(ApplicationError::Node(error))),
            };
        }
    }

    /// The redirect host cannot be reached: the caller gets the 3006; a
    /// request the cache sent there goes by routing instead, and the
    /// cache forgets the host.
    pub(crate) fn redirect_failed(&mut self, w: Waiting) {
        let Waiting {
            peer,
            bytes,
            end_to_end,
            reply,
            expires,
            retry,
            app,
            answer,
            ..
        } = w;
        if let Some(answer) = answer {
            let _ = reply.send(Ok(answer));
            return;
        }
        if self.stopping.is_some() {
            let _ = reply.send(Err(ApplicationError::EmptyAnswer(EmptyReason::NodeStopped)));
            return;
        }
        self.forget_redirect_host(&peer);
        let other = app.and_then(|app| self.alternative(&bytes, app, Some(&peer)));
        let sent = match other {
            Some(other) => self.send_on(&other, bytes, end_to_end, reply, expires, retry),
            None => Err((
                NodeError::NotConnected {
                    peer: peer.node_name.clone(),
                },
                reply,
            )),
        };
        if let Err((error, reply)) = sent {
            let _ = reply.send(Err(ApplicationError::Node(error)));
        }
    }

    /// Cache entries naming `peer` go.
    pub(crate) fn forget_redirect_host(&mut self, peer: &Arc<Peer>) {
        if self.redirect_cache.names(|t| Arc::ptr_eq(t, peer)) {
            self.change_cache(Change::RemoveTargets(peer.clone()));
        }
    }

    /// Changes the core's redirect cache, and has the loop make the same
    /// change to the copy callers read.
    pub(crate) fn change_cache(&mut self, change: Change<Arc<Peer>>) {
        let mirror = match &change {
            Change::Insert {
                now,
                slot,
                via,
                targets,
                ttl,
            } => Change::Insert {
                now: *now,
                slot: slot.clone(),
                via: via.clone(),
                targets: targets.clone(),
                ttl: *ttl,
            },
            Change::RemoveTargets(peer) => Change::RemoveTargets(peer.clone()),
            Change::Expire(now) => Change::Expire(*now),
        };
        self.redirect_cache.apply(change, Arc::ptr_eq);
        self.deliveries.push_back(Delivery::RedirectCache(mirror));
    }

    /// A connection became ready: the requests waiting for its peer go.
    pub(crate) fn redirect_host_ready(&mut self, now: Instant, id: ConnId) {
        if !self.redirects.has_waiting() {
            return;
        }
        let Some(peer) = self.conns.get(&id).and_then(|c| c.peer.clone()) else {
            return;
        };
        for w in self.redirects.take_waiting(&peer) {
            self.send_to_redirect_host(now, w);
        }
    }

    /// A connection opened: one to a peer added for a redirect that turns
    /// out to be this node is closed.
    pub(crate) fn redirect_host_opened(&mut self, now: Instant, id: ConnId, origin_host: &str) {
        let own = self.snapshot.identity.clone();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let learned = conn
            .peer
            .as_ref()
            .is_some_and(|p| self.redirects.is_learned(p));
        if learned && origin_host.eq_ignore_ascii_case(&own.origin_host) {
            info!(target: "diameter.node", "{}: a redirect host that is this node, closed", conn.name());
            if let Some(m) = conn.machine.as_mut() {
                m.abort(now, DISCONNECT_REASON_CER_REJECTED);
            }
            self.dirty.push(id);
        }
    }

    /// `peer` has no connection left (its connect failed, or it closed):
    /// what waits for it fails, and the cache forgets it.
    pub(crate) fn redirect_host_lost(&mut self, peer: &Arc<Peer>) {
        self.forget_redirect_host(peer);
        if !self.redirects.has_waiting() {
            return;
        }
        for w in self.redirects.take_waiting(peer) {
            self.redirect_failed(w);
        }
    }

    /// Once a second: waiting requests whose callers gave up go, the cache
    /// drops its expired entries, peers added for redirects and unused for
    /// a while are closed and forgotten.
    pub(crate) fn redirect_housekeeping(&mut self, now: Instant) {
        // their callers stopped waiting: nobody to tell
        self.redirects.drop_given_up(now);
        if self.redirect_cache.len() > 0 {
            self.change_cache(Change::Expire(now));
        }
        let idle: Vec<Arc<Peer>> = self
            .redirects
            .idle_learned(now)
            .filter(|p| self.learned_unused(p))
            .collect();
        for peer in idle {
            self.redirects.forget_learned(&peer);
            self.close_learned(now, &peer);
        }
    }

    /// The node stops: waiting requests fail at once.
    pub(crate) fn redirect_stop(&mut self) {
        for w in self.redirects.take_all_waiting() {
            let _ = w
                .reply
                .send(Err(ApplicationError::EmptyAnswer(EmptyReason::NodeStopped)));
        }
    }
}
