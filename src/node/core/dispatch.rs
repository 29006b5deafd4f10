//! The node's protocol above one connection's peer machine, for all its
//! connections, without sockets: the CER decision and election, identity
//! checks, request intake with the RFC 6733 checks, duplicate detection,
//! owed answers, answer matching, reconnection and shutdown. The event loop
//! feeds it transport events and the time (`handle_*`, `process`), writes
//! what the machines queued, and carries out its [`Action`]s; tests drive it
//! the same way on a fake clock.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use log::{debug, info};

use crate::node::core::agent::redirect;

use crate::message::constants::*;
use crate::message::{Avp, Message, MessageHeader};
use crate::node::config::{capabilities_for, NodeConfig};
use crate::node::core::admission::{Admission, Admit};
use crate::node::core::agent::calls::{ProxiedAnswer, ProxyCall};
use crate::node::core::agent::duplicates::{with_hop_by_hop, Duplicates};
use crate::node::core::agent::relay::{Agent, RelayCounters};
use crate::node::core::conn::{Conn, ConnId, Direction, Pending, PendingRefused, Retry};
use crate::node::core::snapshot::{Snapshot, Tables};
use crate::node::error::{ApplicationError, EmptyReason, NodeError};
use crate::node::idhash::IdMap;
use crate::node::ids::random_u64;
use crate::node::peer::*;
use crate::node::ratelimit::{self, RateLimit};
use crate::node::routing;
use crate::node::shared::owed::OwedBook;
use crate::node::shared::redirect::{Cache, Change};
use crate::node::shared::{
    count, Command, Counters, OutAnswer, OutRequest, Reply, TransportCounters,
};

/// Applications that take at most this many requests at once, or more
/// ([`Application::request_limit`]), are shared while the node has more
/// than one connection: one connection may hold three quarters of them.
/// Smaller ones are first come, first served.
pub(crate) const FAIR_SHARE_MIN_LIMIT: usize = 16;
/// How often tables are swept for expired entries.
pub(crate) const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// How often `peers_logging`/`stats_logging` write their lines.
pub(crate) const PEERS_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// How long a closed connection may take to write its last bytes.
pub(crate) const FLUSH_GRACE: Duration = Duration::from_secs(2);

pub(crate) static REFUSED_LOG: RateLimit = RateLimit::new("diameter.node");
pub(crate) static PANIC_LOG: RateLimit = RateLimit::new("diameter.application");

/// What the event loop must do for the protocol layer.
pub(crate) enum Action {
    /// Open a connection to the peer, then call [`Dispatch::outgoing`]
    /// (or [`Dispatch::connect_failed`]).
    Connect(Arc<Peer>),
    /// Start TLS on the connection: as client checking `server_name`, or as
    /// server when `None`. What the machine queued so far (an in-band CEA)
    /// still goes out in the clear.
    StartTls {
        /// The connection.
        conn: ConnId,
        /// The peer's name the server certificate must carry.
        server_name: Option<String>,
    },
}

/// User code the core wants run: the layer around it runs it on the loop's
/// thread, each call behind `catch_unwind`.
pub(crate) enum Delivery {
    /// Hand a request to the application at this index of
    /// [`Snapshot::apps`] (`Application::handle_request`); it was received
    /// on `msg.received_on`. A handler that panics is answered 5012 with
    /// [`send_answer`](Dispatch::send_answer).
    Request {
        /// The application's index.
        app: usize,
        /// The request.
        msg: Message,
    },
    /// An answer whose caller gave up waiting: python hands it to the
    /// application's `handle_answer`.
    LateAnswer {
        /// The application's index.
        app: usize,
        /// The answer.
        msg: Message,
    },
    /// A peer's record changed: the loop applies it ([`Peer::apply`]).
    Peer(Arc<Peer>, PeerChange),
    /// Run a proxy handler on a request about to be forwarded
    /// (`ProxyHandler::handle_request`), then give its verdict to
    /// [`handle_proxy_verdict`](Dispatch::handle_proxy_verdict).
    ProxyRequest(ProxyCall),
    /// Run a proxy handler on the answer to a request it let through
    /// (`ProxyHandler::handle_answer`), then give it to
    /// [`handle_proxied_answer`](Dispatch::handle_proxied_answer).
    ProxyAnswer(ProxiedAnswer),
    /// The redirect cache changed: the same change goes to the copy
    /// callers look up.
    RedirectCache(Change<Arc<Peer>>),
    /// A persistent peer's connection is gone: the loop reads its settings
    /// (`reconnect_wait`, and after a DPR other than REBOOTING,
    /// `always_reconnect`) and gives the wait to
    /// [`reconnect_after`](Dispatch::reconnect_after).
    Reconnect {
        /// The peer.
        peer: Arc<Peer>,
        /// The Disconnect-Cause of the DPR that closed it, when one other
        /// than REBOOTING did.
        after_dpr: Option<CauseText>,
        /// The applications its connection advertised (give it back to
        /// `reconnect_after`).
        generation: u64,
    },
}

/// What the loop should do with a connection after writing.
pub(crate) enum Settle {
    /// Keep it: whether output waits, whether reading is paused
    /// (backpressure: its output is over the limit).
    Keep {
        /// Bytes wait to be written.
        want_write: bool,
        /// Do not read it until it drains.
        read_paused: bool,
    },
    /// Close its socket and forget it (with this python disconnect reason).
    Close(u8),
}

/// The transport's view of a peer's certificate, asked for at CER time.
pub(crate) trait CertificateCheck {
    /// Checks, once, that the peer's TLS certificate names `origin_host`;
    /// `None` when there is nothing to check.
    fn check_identity(&mut self, origin_host: &str) -> Option<Result<(), String>>;
}

/// No TLS: nothing to check.
pub(crate) struct NoCertificate;

impl CertificateCheck for NoCertificate {
    fn check_identity(&mut self, _: &str) -> Option<Result<(), String>> {
        None
    }
}

pub(crate) struct Stopping {
    pub(crate) deadline: Instant,
    pub(crate) done: Option<Sender<()>>,
}

/// The node protocol over all connections.
pub(crate) struct Dispatch {
    pub(crate) config: Arc<NodeConfig>,
    /// The answers owed, as application threads claim them.
    pub(crate) owed: Arc<OwedBook>,
    /// The redirect cache (RFC 6733 §6.13): the core's own; every change
    /// is also handed to the loop for the copy callers look up.
    pub(crate) redirect_cache: Cache<Arc<Peer>>,
    /// Peers, applications, routes and identity, as callers last set them.
    pub(crate) snapshot: Snapshot,
    /// User code to run, in order.
    pub(crate) deliveries: VecDeque<Delivery>,
    /// Whether a peer's readiness changed (the applications' readiness is
    /// to be recomputed).
    pub(crate) ready_changed: bool,
    /// Whether the statistics history is due for a new entry.
    pub(crate) history_due: bool,
    /// Whether `peers_logging`/`stats_logging` are due to write their lines.
    pub(crate) logs_due: bool,
    /// Peers whose next CER says they reopen (their last connection ended
    /// with a DWA timeout), by `Arc` address.
    pub(crate) reopen: IdMap<usize, Arc<Peer>>,
    /// The node's protocol counters, bumped here, read by callers.
    pub(crate) counters: Arc<Counters>,
    /// The relay agent's counters.
    pub(crate) relay: Arc<RelayCounters>,
    /// The transport's counters (TLS failures the core learns of).
    pub(crate) transport: Arc<TransportCounters>,
    /// Turns for ties between equally loaded peers.
    pub(crate) turn: usize,
    pub(crate) conns: IdMap<ConnId, Conn>,
    /// The connection each peer (by `Arc` address) last used for requests.
    pub(crate) ready: IdMap<usize, ConnId>,
    pub(crate) duplicates: Duplicates,
    pub(crate) reconnect_at: IdMap<usize, (Instant, Arc<Peer>)>,
    /// Bumped when applications are added to the running node.
    pub(crate) apps_generation: u64,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) dirty: Vec<ConnId>,
    pub(crate) stopping: Option<Stopping>,
    pub(crate) next_housekeeping: Instant,
    pub(crate) next_history: Instant,
    pub(crate) next_peers_log: Instant,
    pub(crate) redirects: redirect::Redirects,
    /// The byte budgets of the copies of relayed requests kept for failover.
    pub(crate) copy_budget: crate::node::core::conn::CopyBudget,
    /// Incoming connections that have not completed their CER yet.
    pub(crate) admission: Admission,
}

pub(crate) fn peer_key(peer: &Arc<Peer>) -> usize {
    Arc::as_ptr(peer) as usize
}

impl Dispatch {
    /// The protocol layer of a node starting at `now`: persistent peers are
    /// connected at once.
    pub(crate) fn new(
        now: Instant,
        config: Arc<NodeConfig>,
        tables: Tables,
        snapshot: Snapshot,
    ) -> Dispatch {
        let mut d = Dispatch {
            copy_budget: crate::node::core::conn::CopyBudget {
                node: tables.relay.copy_bytes.clone(),
                per_connection: config.limits.relay_copy_bytes_per_connection,
                per_node: config.limits.relay_copy_bytes,
            },
            admission: Admission::new(
                config.limits.max_unauthenticated,
                config.limits.max_unauthenticated_per_ip,
            ),
            duplicates: Duplicates::new(config.limits.duplicates),
            next_history: later(now, config.statistics_interval),
            counters: tables.counters,
            relay: tables.relay,
            transport: tables.transport,
            owed: tables.owed,
            redirect_cache: {
                let mut cache = Cache::new(config.limits.redirect_cache_size);
                cache.set_scope(
                    config.limits.redirect_wide_scope,
                    config.limits.max_redirect_cache_time,
                );
                cache
            },
            turn: 0,
            snapshot,
            deliveries: VecDeque::new(),
            ready_changed: false,
            history_due: false,
            logs_due: false,
            reopen: IdMap::default(),
            config,
            conns: IdMap::default(),
            ready: IdMap::default(),
            reconnect_at: IdMap::default(),
            apps_generation: 0,
            actions: VecDeque::new(),
            dirty: Vec::new(),
            stopping: None,
            next_housekeeping: later(now, HOUSEKEEPING),
            next_peers_log: now,
            redirects: redirect::Redirects::default(),
        };
        let peers = d.snapshot.peers.clone();
        for peer in peers.into_iter().filter(|p| p.persistent) {
            d.actions.push_back(Action::Connect(peer));
        }
        d
    }

    /// The next user code to run.
    pub(crate) fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// Whether a peer's readiness changed since the last call: the
    /// applications' readiness is then recomputed.
    pub(crate) fn take_ready_changed(&mut self) -> bool {
        std::mem::take(&mut self.ready_changed)
    }

    /// Whether `peers_logging`/`stats_logging` are due to write their
    /// lines since the last call.
    pub(crate) fn take_logs_due(&mut self) -> bool {
        std::mem::take(&mut self.logs_due)
    }

    /// Whether the statistics history is due for a new entry since the
    /// last call.
    pub(crate) fn take_history_due(&mut self) -> bool {
        std::mem::take(&mut self.history_due)
    }

    /// Peers, applications, routes or identity changed: what the core
    /// works with from now on.
    pub(crate) fn set_snapshot(&mut self, snapshot: Snapshot) {
        self.snapshot = snapshot;
    }

    /// The next thing the loop must do.
    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Connections whose output changed outside [`process`](Self::process).
    pub(crate) fn take_dirty(&mut self, into: &mut Vec<ConnId>) {
        into.append(&mut self.dirty);
    }

    /// Every connection's id.
    pub(crate) fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    #[cfg(any(test, fuzzing))]
    /// How many connections there are.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether the node waits for answers from a configured peer (to its
    /// own requests, or to requests it relays): one atomic load per peer.
    pub(crate) fn awaiting_answers(&self) -> bool {
        self.snapshot
            .peers
            .iter()
            .any(|p| p.outstanding.load(std::sync::atomic::Ordering::Relaxed) > 0)
    }

    /// Whether at most one request is in flight on the whole node: sent
    /// and not yet answered, handed to an application and not yet answered,
    /// or relayed (stops counting at two).
    pub(crate) fn at_most_one_in_flight(&self) -> bool {
        let mut n = 0;
        for c in self.conns.values() {
            n += c.pending_len() + c.owed_len() + c.relayed_len();
            if n > 1 {
                return false;
            }
        }
        true
    }

    /// A connection's peer machine, for the transport to read into and
    /// write from; call [`process`](Self::process) after reading.
    pub(crate) fn machine_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.conns.get_mut(&id)?.machine.as_mut()
    }

    #[cfg(any(test, fuzzing))]
    /// A connection, for inspection.
    pub(crate) fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    #[cfg(any(test, fuzzing))]
    /// The duplicate-detection table, for inspection.
    pub(crate) fn duplicates(&self) -> &Duplicates {
        &self.duplicates
    }

    /// The protocol counters of this node.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn protocol_stats(&self) -> crate::node::shared::ProtocolStats {
        self.counters.snapshot()
    }

    /// Whether the node is stopping and may now finish.
    pub(crate) fn is_done(&self, now: Instant) -> bool {
        self.stopping
            .as_ref()
            .is_some_and(|s| self.conns.is_empty() || s.deadline <= now)
    }

    // ---- connections coming and going ----

    /// An outgoing connect to `peer` at `remote` started.
    pub(crate) fn outgoing(
        &mut self,
        now: Instant,
        peer: &Arc<Peer>,
        remote: SocketAddr,
        connect_timeout: Duration,
    ) -> ConnId {
        let id = crate::node::core::conn::next_conn_id();
        let mut conn = Conn::new(id, Direction::Outgoing, remote);
        conn.apps_generation = self.apps_generation;
        conn.peer = Some(peer.clone());
        conn.secure = peer.is_secure;
        conn.remote_ips = peer.ip_addresses.clone();
        conn.connect_deadline = Some(later(now, connect_timeout));
        let info = PeerConnectionInfo {
            state: PEER_CONNECTING,
            direction: Direction::Outgoing.code(),
            host_identity: String::new(),
            host_ip_address: Vec::new(),
            auth_application_ids: Vec::new(),
            acct_application_ids: Vec::new(),
            remote_address: Some(remote),
            ident: id,
        };
        let change = PeerChange::Connection {
            info,
            opened: false,
        };
        self.deliveries
            .push_back(Delivery::Peer(peer.clone(), change));
        self.conns.insert(id, conn);
        id
    }

    /// No connection to `peer` could be opened: try again later.
    pub(crate) fn connect_failed(&mut self, _now: Instant, peer: &Arc<Peer>) {
        self.schedule_reconnect(
            peer,
            DISCONNECT_REASON_FAILED_CONNECT,
            None,
            self.apps_generation,
        );
        if !self.has_connection(peer, None) {
            self.redirect_host_lost(peer);
        }
    }

    /// Whether `peer` has a connection (other than `except`).
    pub(crate) fn has_connection(&self, peer: &Arc<Peer>, except: Option<ConnId>) -> bool {
        self.conns
            .values()
            .any(|c| Some(c.id) != except && c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer)))
    }

    /// Whether a connect to `peer` is still wanted (not connected meanwhile,
    /// not stopping).
    pub(crate) fn wants_connect(&self, peer: &Arc<Peer>) -> bool {
        self.stopping.is_none() && !self.has_connection(peer, None)
    }

    /// An outgoing connect completed: the CER is queued. For an `aaas://`
    /// peer, returns the name its server certificate must carry: the loop
    /// starts TLS before anything is written.
    pub(crate) fn connected(
        &mut self,
        now: Instant,
        id: ConnId,
        local_ips: &[IpAddr],
        can_start_tls: bool,
        max_send: Option<usize>,
    ) -> Option<String> {
        let apps = self.snapshot.applications.clone();
        let (cfg, expected) = {
            let peer = self.conns.get(&id).and_then(|c| c.peer.clone());
            let expected = peer
                .as_ref()
                .filter(|p| self.checks_identity(p))
                .map(|p| p.node_name.clone());
            (self.connection_config(peer.as_deref()), expected)
        };
        let conn = self.conns.get_mut(&id)?;
        conn.connect_deadline = None;
        conn.can_start_tls = can_start_tls && !conn.secure;
        conn.max_send = max_send;
        let peer = conn.peer.clone();
        let offer = conn.can_start_tls && !self.config.inband_security.is_empty();
        let local = capabilities_for(&self.config, &apps, local_ips, offer);
        let reopen = peer
            .as_ref()
            .is_some_and(|p| self.reopen.contains_key(&peer_key(p)));
        let end_to_end = self.snapshot.identity.end_to_end.clone();
        let mut machine =
            Connection::new_initiator(now, local, cfg, end_to_end, expected, reopen, random_u64());
        machine.set_keep_bytes(self.config.agent == Agent::Relay);
        if let Some(p) = &peer {
            machine.set_counters(p.counters.clone());
            let change = PeerChange::State {
                ident: None,
                state: PEER_CONNECTED,
            };
            self.deliveries.push_back(Delivery::Peer(p.clone(), change));
        }
        conn.machine = Some(machine);
        self.dirty.push(id);
        if conn.secure {
            return Some(peer.map(|p| p.node_name.clone()).unwrap_or_default());
        }
        None
    }

    /// A connection came in: its id, and an older connection still
    /// waiting for its CER that the loop must close to make room for it
    /// (see [`Admission`]); `None` when it is refused (stopping, or full):
    /// close it at once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn incoming(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        remote_ips: Vec<IpAddr>,
        local_ips: &[IpAddr],
        secure: bool,
        can_start_tls: bool,
        max_send: Option<usize>,
    ) -> Option<(ConnId, Option<ConnId>)> {
        if self.stopping.is_some() {
            return None;
        }
        let id = crate::node::core::conn::next_conn_id();
        let ip = remote.ip().to_canonical();
        let known = self
            .snapshot
            .peers
            .iter()
            .any(|p| p.ip_addresses.iter().any(|a| a.to_canonical() == ip));
        let conns = self.conns.len();
        let max = self.config.max_connections;
        let evict = match self.admission.admit(id, ip, known, conns, max) {
            Admit::Yes(evict) => evict,
            Admit::No => {
                count(&self.counters.unauthenticated_refused);
                ratelimit::warn(
                    now,
                    &REFUSED_LOG,
                    format_args!("refusing {remote}: {conns} connections already"),
                );
                return None;
            }
        };
        if let Some(old) = evict {
            count(&self.counters.unauthenticated_closed);
            if let Some(c) = self.conns.get(&old) {
                ratelimit::warn(
                    now,
                    &REFUSED_LOG,
                    format_args!(
                        "closing {} (no CER yet) to admit {remote}: too many connections without CER",
                        c.remote
                    ),
                );
            }
        }
        let mut conn = Conn::new(id, Direction::Incoming, remote);
        conn.apps_generation = self.apps_generation;
        conn.remote_ips = remote_ips;
        conn.secure = secure;
        conn.can_start_tls = can_start_tls && !secure;
        conn.max_send = max_send;
        let apps = self.snapshot.applications.clone();
        let offer = conn.can_start_tls && !self.config.inband_security.is_empty();
        let local = capabilities_for(&self.config, &apps, local_ips, offer);
        let end_to_end = self.snapshot.identity.end_to_end.clone();
        let mut machine = Connection::new_responder(
            now,
            local,
            self.config.connection_for(None),
            end_to_end,
            random_u64(),
        );
        machine.set_keep_bytes(self.config.agent == Agent::Relay);
        conn.machine = Some(machine);
        self.conns.insert(id, conn);
        Some((id, evict))
    }

    pub(crate) fn connection_config(&self, peer: Option<&Peer>) -> ConnectionConfig {
        self.config.connection_for(peer)
    }

    /// The transport closed under the connection (EOF, error).
    pub(crate) fn transport_closed(&mut self, now: Instant, id: ConnId, reason: u8) {
        if let Some(m) = self.machine_mut(id) {
            m.handle_transport_closed(now, reason);
        }
        self.process(now, id, &mut NoCertificate);
    }

    /// A TLS handshake failed.
    pub(crate) fn tls_failed(&mut self, now: Instant, id: ConnId) {
        count(&self.transport.tls_handshake_failures);
        self.transport_closed(now, id, DISCONNECT_REASON_SOCKET_FAIL);
    }

    /// A TLS peer's certificate does not name its Origin-Host.
    pub(crate) fn identity_mismatch(&mut self, now: Instant, id: ConnId) {
        count(&self.transport.tls_identity_mismatches);
        if let Some(m) = self.machine_mut(id) {
            m.abort(now, DISCONNECT_REASON_CER_REJECTED);
        }
        self.process(now, id, &mut NoCertificate);
    }

    /// After writing: keep the connection, or close it.
    pub(crate) fn settle(&mut self, now: Instant, id: ConnId, write_failed: bool) -> Settle {
        let limit = self.config.limits.max_output_buffer;
        if write_failed {
            if let Some(m) = self.machine_mut(id) {
                m.handle_transport_closed(now, DISCONNECT_REASON_SOCKET_FAIL);
            }
            self.process(now, id, &mut NoCertificate);
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return Settle::Close(DISCONNECT_REASON_UNKNOWN);
        };
        if let Some(machine) = conn.machine.as_mut() {
            // the silent-peer rule counts from here
            machine.requests_written(now);
        }
        let Some(machine) = conn.machine.as_ref() else {
            if conn.connect_deadline.is_some_and(|d| d <= now) {
                debug!(target: "diameter.connection", "connect to {} timed out", conn.remote);
                return Settle::Close(DISCONNECT_REASON_FAILED_CONNECT);
            }
            return Settle::Keep {
                want_write: true,
                read_paused: false,
            };
        };
        if machine.state() == State::Closed {
            let reason = machine.close_reason().unwrap_or(DISCONNECT_REASON_UNKNOWN);
            let deadline = *conn.flush_deadline.get_or_insert(later(now, FLUSH_GRACE));
            if machine.wants_close() || deadline <= now || write_failed {
                return Settle::Close(reason);
            }
            return Settle::Keep {
                want_write: true,
                read_paused: false,
            };
        }
        let out = machine.pending_output().len();
        Settle::Keep {
            want_write: out > 0,
            read_paused: out > limit,
        }
    }

    /// Whether a paused connection drained enough to be read again.
    pub(crate) fn may_resume(&self, id: ConnId) -> bool {
        self.conns
            .get(&id)
            .is_some_and(|c| c.output_len() <= self.config.limits.max_output_buffer / 2)
    }

    /// Counts a read skipped for backpressure.
    pub(crate) fn note_paused(&self) {
        count(&self.counters.reads_paused);
    }

    /// Forgets a connection whose socket the loop closed: its waiting
    /// callers fail at once, its owed answers are dropped, its peer is
    /// disconnected and, if persistent, reconnected later.
    pub(crate) fn remove(&mut self, now: Instant, id: ConnId, reason: u8) {
        self.admission.remove(id);
        self.fail_over(now, id);
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        let why = if self.stopping.is_some() {
            EmptyReason::NodeStopped
        } else {
            EmptyReason::ConnectionClosed
        };
        for key in conn.close_tables(why, &self.owed) {
            self.duplicates.abandon(&key);
        }
        let lost = conn.close_relayed();
        self.relayed_lost(now, lost);
        debug!(target: "diameter.connection", "closed {} (reason {reason:#04x})", conn.remote);
        let Some(peer) = conn.peer.take() else {
            return;
        };
        self.ready.remove(&peer_key(&peer));
        if self.has_connection(&peer, None) {
            // another connection serves this peer (an election, or a refused
            // duplicate): the peer is not disconnected
            return;
        }
        let key = peer_key(&peer);
        let reopen = reason == DISCONNECT_REASON_DWA_TIMEOUT
            || (self.reopen.contains_key(&key) && reason != DISCONNECT_REASON_CLEAN_DISCONNECT);
        if reopen {
            self.reopen.insert(key, peer.clone());
        } else {
            self.reopen.remove(&key);
        }
        let change = PeerChange::Disconnected {
            reason,
            at: now,
            reopen,
        };
        self.deliveries
            .push_back(Delivery::Peer(peer.clone(), change));
        info!(target: "diameter.node", "{peer}: disconnected (reason {reason:#04x})");
        self.ready_changed = true;
        self.redirect_host_lost(&peer);
        self.schedule_reconnect(&peer, reason, conn.dpr_cause, conn.apps_generation);
    }

    /// Persistent peers come back after `reconnect_wait`, unless they said
    /// they do not want to talk (a DPR other than REBOOTING), or we stop.
    /// `generation`: the applications the connection advertised (see
    /// [`reconnect_after`](Self::reconnect_after)).
    pub(crate) fn schedule_reconnect(
        &mut self,
        peer: &Arc<Peer>,
        reason: u8,
        cause: Option<i32>,
        generation: u64,
    ) {
        if !peer.persistent || self.stopping.is_some() {
            return;
        }
        let rebooting = cause == Some(E_DISCONNECT_CAUSE_REBOOTING);
        // the peer's settings are the user's, read by the loop
        self.deliveries.push_back(Delivery::Reconnect {
            peer: peer.clone(),
            after_dpr: (reason == DISCONNECT_REASON_DPR && !rebooting).then_some(CauseText(cause)),
            generation,
        });
    }

    /// The loop read `peer`'s settings after [`Delivery::Reconnect`]: it is
    /// connected again after `wait` (unless the node stops meanwhile).
    /// A connection that advertised applications of before (`generation`
    /// older than the node's) comes back at once: it was perhaps refused
    /// for them (5010), and there is no reason to wait before trying the
    /// new ones.
    pub(crate) fn reconnect_after(
        &mut self,
        now: Instant,
        peer: &Arc<Peer>,
        wait: Duration,
        generation: u64,
    ) {
        if self.stopping.is_some() {
            return;
        }
        let at = if generation != self.apps_generation {
            now
        } else {
            later(now, wait)
        };
        self.reconnect_at.insert(peer_key(peer), (at, peer.clone()));
    }

    // ---- commands from other threads ----

    /// Carries out a command from an application thread.
    pub(crate) fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Request(req) => self.send_request(now, req),
            Command::Answer(answer) => self.send_answer(now, answer),
            Command::PeerAdded(peer) => {
                if peer.persistent && self.wants_connect(&peer) {
                    self.actions.push_back(Action::Connect(peer));
                }
            }
            Command::ApplicationsChanged => {
                // connections opened from now on advertise them; peers
                // waiting to reconnect (perhaps refused for want of a
                // common application) try again now
                self.apps_generation += 1;
                for (at, _) in self.reconnect_at.values_mut() {
                    *at = now;
                }
                self.ready_changed = true;
            }
            // the loop passed the new snapshot already
            Command::RoutesChanged => {}
            Command::Panic => panic!("event loop panic injected by Node::inject_loop_panic"),
            Command::Stop {
                wait_timeout,
                force,
                done,
            } => self.stop(now, wait_timeout, force, Some(done)),
        }
    }

    /// The peer's ready connection, from the cache when it is still that.
    pub(crate) fn ready_conn_of(&mut self, peer: &Arc<Peer>) -> Option<ConnId> {
        let key = peer_key(peer);
        let is_peers = |c: &Conn| c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer));
        if let Some(id) = self.ready.get(&key) {
            if self
                .conns
                .get(id)
                .is_some_and(|c| is_peers(c) && c.is_ready())
            {
                return Some(*id);
            }
        }
        let id = self
            .conns
            .values()
            .find(|c| is_peers(c) && c.is_ready())
            .map(|c| c.id)?;
        self.ready.insert(key, id);
        Some(id)
    }

    pub(crate) fn send_request(&mut self, now: Instant, req: OutRequest) {
        let OutRequest {
            peer,
            bytes,
            end_to_end,
            timeout,
            reply,
            app,
            to_redirect_host,
        } = req;
        if self.stopping.is_some() {
            return Conn::fail_reply(reply, NodeError::Stopped);
        }
        let limits = self.config.limits;
        let expires = later(now, timeout.saturating_add(limits.late_answer_window));
        // the bytes are kept for failover only when it is on and a caller waits
        let retry = app
            .filter(|_| limits.max_failovers > 0 && !timeout.is_zero())
            .map(|app| Retry {
                app,
                attempts: 0,
                redirects: 0,
                caller_deadline: later(now, timeout),
            });
        // the redirect cache named this peer: connect it if need be
        if to_redirect_host {
            let w = redirect::Waiting {
                peer,
                bytes,
                end_to_end,
                reply,
                expires,
                retry,
                app,
                deadline: later(now, timeout),
                answer: None,
            };
            return self.send_to_redirect_host(now, w);
        }
        // routed to a peer whose connection cannot carry it now (failed,
        // SUSPECT, closing since): another one that can, as routing would
        // have picked had it known
        let peer = match app {
            Some(app) if self.ready_conn_of(&peer).is_none() => {
                self.alternative(&bytes, app, Some(&peer)).unwrap_or(peer)
            }
            _ => peer,
        };
        if let Err((error, reply)) = self.send_on(&peer, bytes, end_to_end, reply, expires, retry) {
            Conn::fail_reply(reply, error);
        }
    }

    /// Sends an encoded request on `peer`'s ready connection.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_on(
        &mut self,
        peer: &Arc<Peer>,
        bytes: Vec<u8>,
        end_to_end: u32,
        reply: Reply,
        expires: Instant,
        retry: Option<Retry>,
    ) -> Result<(), (NodeError, Reply)> {
        let peer_name = || peer.node_name.clone();
        let Some(id) = self.ready_conn_of(peer) else {
            return Err((NodeError::NotConnected { peer: peer_name() }, reply));
        };
        let limits = self.config.limits;
        let Some(conn) = self.conns.get_mut(&id) else {
            return Err((NodeError::NotConnected { peer: peer_name() }, reply));
        };
        if let Some(limit) = conn.max_send.filter(|l| bytes.len() > *l) {
            let size = bytes.len();
            return Err((NodeError::MessageTooLarge { size, limit }, reply));
        }
        if conn.output_len() > limits.max_output_buffer.saturating_mul(2) {
            return Err((NodeError::OutputFull { peer: peer_name() }, reply));
        }
        match conn.send_request(
            bytes,
            end_to_end,
            reply,
            expires,
            limits.max_pending_per_connection,
            retry,
        ) {
            Ok(()) => {
                self.dirty.push(id);
                Ok(())
            }
            Err((PendingRefused::NotReady, reply)) => {
                Err((NodeError::NotConnected { peer: peer_name() }, reply))
            }
            Err((PendingRefused::Full, reply)) => {
                Err((NodeError::TooManyPending { peer: peer_name() }, reply))
            }
        }
    }

    // ---- failover (RFC 6733 §5.5.4) ----

    /// The connection `id` failed (closed, watchdog SUSPECT, DPR received):
    /// each request waiting there whose caller still waits goes, with the T
    /// flag, to another peer that can take it; the others fail at once with
    /// `EmptyAnswer`. An agent's relayed requests go to another next hop
    /// the same way (`relay_failover`). Nothing while the node stops (they
    /// fail as the connections close).
    pub(crate) fn fail_over(&mut self, now: Instant, id: ConnId) {
        if self.stopping.is_some() {
            return;
        }
        if self.config.agent == Agent::Relay {
            self.fail_over_relayed(now, id);
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.pending_len() == 0 {
            return;
        }
        let failed = conn.peer.clone();
        let name = conn.name();
        let pending = conn.take_all_pending();
        let mut moved = 0usize;
        for p in pending {
            moved += usize::from(self.fail_over_one(now, failed.as_ref(), p));
        }
        if moved > 0 {
            debug!(target: "diameter.node", "{name}: {moved} requests failed over to other peers");
        }
    }

    /// Sends one request of a failed connection elsewhere, or fails its
    /// caller; true when it was sent.
    pub(crate) fn fail_over_one(
        &mut self,
        now: Instant,
        failed: Option<&Arc<Peer>>,
        p: Pending,
    ) -> bool {
        let Pending {
            end_to_end,
            reply,
            expires,
            failover,
        } = p;
        let fail = |reply: Reply| {
            let _ = reply.send(Err(ApplicationError::EmptyAnswer(
                EmptyReason::ConnectionClosed,
            )));
            false
        };
        let Some(mut kept) = failover else {
            return fail(reply);
        };
        let retry = kept.retry;
        if retry.caller_deadline <= now || retry.attempts >= self.config.limits.max_failovers {
            return fail(reply);
        }
        let Some(peer) = self.alternative(&kept.bytes, retry.app, failed) else {
            return fail(reply);
        };
        if let Some(flags) = kept.bytes.get_mut(4) {
            *flags |= MessageHeader::FLAG_RETRANSMIT;
        }
        let retry = Retry {
            attempts: retry.attempts.saturating_add(1),
            ..retry
        };
        match self.send_on(&peer, kept.bytes, end_to_end, reply, expires, Some(retry)) {
            Ok(()) => {
                count(&self.counters.requests_failed_over);
                true
            }
            Err((_, reply)) => fail(reply),
        }
    }

    /// Another ready peer for a request of `app` (RFC 6733 §6.1, as when it
    /// was first sent), not `failed`: none when the request names the
    /// failed peer in Destination-Host.
    pub(crate) fn alternative(
        &mut self,
        bytes: &[u8],
        app: AppId,
        failed: Option<&Arc<Peer>>,
    ) -> Option<Arc<Peer>> {
        let stub = routing_stub(bytes)?;
        if names_failed(&stub, failed) {
            return None;
        }
        let is_failed = |p: &Peer| failed.is_some_and(|f| std::ptr::eq(Arc::as_ptr(f), p));
        let identity = self.snapshot.identity.clone();
        let candidates = {
            let peers = &self.snapshot.peers;
            let routes = self.snapshot.apps.iter().map(|r| routing::Route {
                app: r.id,
                peers: &r.peers,
                realms: &r.realms,
            });
            routing::candidates(&stub, app, &identity.origin_realm, routes, peers, &|p| {
                !is_failed(p) && self.negotiated(p, app)
            })
            .ok()?
        };
        self.least_loaded_ready(candidates.peers)
    }

    /// The applications `peer`'s ready connection negotiated (none when it
    /// has none): what routing reads from the peer's status on other
    /// threads, from the core's own connections.
    pub(crate) fn ready_applications(&self, peer: &Peer) -> &[AppId] {
        let is_peers = |c: &&Conn| {
            c.is_ready()
                && c.peer
                    .as_ref()
                    .is_some_and(|p| std::ptr::eq(Arc::as_ptr(p), peer))
        };
        let cached = self
            .ready
            .get(&(peer as *const Peer as usize))
            .and_then(|id| self.conns.get(id))
            .filter(is_peers);
        cached
            .or_else(|| self.conns.values().find(is_peers))
            .and_then(|c| c.machine.as_ref())
            .map_or(&[], |m| m.applications())
    }

    /// Whether `peer` is ready and negotiated `app` (or the relay
    /// application) with this node (RFC 6733 §6.1).
    pub(crate) fn negotiated(&self, peer: &Peer, app: AppId) -> bool {
        self.ready_applications(peer)
            .iter()
            .any(|a| a.kind == app.kind && (a.id == app.id || a.id == RELAY_APPLICATION_ID))
    }

    /// Whether `peer` can take a relayed request of `application_id` now:
    /// ready, and negotiated the application (either kind) or the relay
    /// application.
    pub(crate) fn can_take(&self, peer: &Peer, application_id: u32) -> bool {
        self.ready_applications(peer)
            .iter()
            .any(|a| a.id == application_id || a.id == RELAY_APPLICATION_ID)
    }

    /// The least loaded of `peers` that have a ready connection (ties in
    /// turn).
    pub(crate) fn least_loaded_ready(&mut self, mut peers: Vec<Arc<Peer>>) -> Option<Arc<Peer>> {
        peers.retain(|p| self.ready_conn_of(p).is_some());
        self.turn = self.turn.wrapping_add(1);
        routing::least_loaded(&peers, self.turn)
    }

    pub(crate) fn send_answer(&mut self, now: Instant, answer: OutAnswer) {
        let OutAnswer {
            via,
            hop_by_hop,
            end_to_end,
            bytes,
            claimed,
        } = answer;
        let id = if via != 0 {
            Some(via).filter(|id| {
                self.conns
                    .get(id)
                    .is_some_and(|c| c.owes(hop_by_hop, end_to_end))
            })
        } else {
            // an answer built without its request: only when exactly one
            // connection owes it
            let mut owing = self
                .conns
                .values()
                .filter(|c| c.owes(hop_by_hop, end_to_end))
                .map(|c| c.id);
            match (owing.next(), owing.next()) {
                (Some(id), None) => Some(id),
                _ => None,
            }
        };
        let Some(id) = id else {
            count(&self.counters.answers_unsent);
            debug!(target: "diameter.node", "answer {hop_by_hop:#x} has no request to answer, dropped");
            return;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let book = (!claimed).then_some(&*self.owed);
        let Some(owed) = conn.take_owed(hop_by_hop, end_to_end, book) else {
            return;
        };
        if !queue_answer(conn, &bytes) {
            count(&self.counters.answers_unsent);
        }
        if let Some(peer) = &conn.peer {
            record_answer(
                &mut self.deliveries,
                peer,
                owed.command_code,
                now.saturating_duration_since(owed.received),
                &bytes,
            );
        }
        self.dirty.push(id);
        if let Some(key) = owed.key {
            // the table keeps the bytes themselves (no copy)
            let (waiters, copy) = self.duplicates.answered_owned(now, &key, bytes);
            let bytes = copy.unwrap_or_default();
            for (waiting, hbh) in waiters {
                if let Some(c) = self.conns.get_mut(&waiting) {
                    if queue_answer(c, &with_hop_by_hop(&bytes, hbh)) {
                        count(&self.counters.retransmissions_answered);
                    }
                    self.dirty.push(waiting);
                }
            }
        }
    }

    /// Begins stopping: DPR on every open connection (or closing at once
    /// when `force`); done once all are closed or `wait_timeout` passed.
    pub(crate) fn stop(
        &mut self,
        now: Instant,
        wait_timeout: Duration,
        force: bool,
        done: Option<Sender<()>>,
    ) {
        info!(target: "diameter.node", "stopping");
        self.stopping = Some(Stopping {
            deadline: later(now, wait_timeout),
            done,
        });
        self.reconnect_at.clear();
        self.redirect_stop();
        for conn in self.conns.values_mut() {
            match conn.machine.as_mut() {
                Some(m) if force => m.abort(now, DISCONNECT_REASON_NODE_SHUTDOWN),
                Some(m) => m.disconnect(now, E_DISCONNECT_CAUSE_REBOOTING),
                None => conn.connect_deadline = Some(now),
            }
            self.dirty.push(conn.id);
        }
        for id in self.conn_ids() {
            self.process(now, id, &mut NoCertificate);
        }
    }

    /// The end: every connection is dropped (their callers fail at once).
    /// The layer around then stops the applications and calls
    /// [`finish`](Self::finish).
    pub(crate) fn shutdown(&mut self, now: Instant) {
        // stopping from here on (the loop may end without `stop`): nothing
        // is failed over between connections that all go
        self.stopping.get_or_insert(Stopping {
            deadline: now,
            done: None,
        });
        for id in self.conn_ids() {
            if let Some(m) = self.machine_mut(id) {
                m.abort(now, DISCONNECT_REASON_NODE_SHUTDOWN);
            }
            self.process(now, id, &mut NoCertificate);
            self.remove(now, id, DISCONNECT_REASON_NODE_SHUTDOWN);
        }
    }

    /// After [`shutdown`](Self::shutdown) and the applications' `stop`:
    /// whoever called `stop()` is told.
    pub(crate) fn finish(&mut self) {
        if let Some(Stopping {
            done: Some(done), ..
        }) = self.stopping.take()
        {
            let _ = done.send(());
        }
        info!(target: "diameter.node", "stopped");
    }

    // ---- time ----

    /// The earliest deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let conns = self.conns.values().flat_map(|c| {
            [
                c.machine.as_ref().and_then(Connection::poll_timeout),
                c.connect_deadline,
                c.flush_deadline,
            ]
        });
        let reconnects = self.reconnect_at.values().map(|(at, _)| *at).min();
        let logs =
            (self.config.peers_logging || self.config.stats_logging).then_some(self.next_peers_log);
        conns
            .chain([
                reconnects,
                self.stopping.as_ref().map(|s| s.deadline),
                logs,
                Some(self.next_housekeeping),
                Some(self.next_history),
            ])
            .flatten()
            .min()
    }

    /// Runs what is due at `now`; connections with something to write are
    /// added to `touched`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, touched: &mut Vec<ConnId>) {
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        for conn in self.conns.values_mut() {
            let machine_due = conn.machine.as_ref().is_some_and(|m| due(m.poll_timeout()));
            if machine_due {
                if let Some(m) = conn.machine.as_mut() {
                    m.handle_timeout(now);
                }
            }
            if machine_due || due(conn.connect_deadline) || due(conn.flush_deadline) {
                touched.push(conn.id);
            }
        }
        for &id in touched.iter() {
            self.process(now, id, &mut NoCertificate);
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = later(now, HOUSEKEEPING);
            self.housekeeping(now);
        }
        let due_peers: Vec<Arc<Peer>> = self
            .reconnect_at
            .values()
            .filter(|(at, _)| *at <= now)
            .map(|(_, p)| p.clone())
            .collect();
        for peer in due_peers {
            self.reconnect_at.remove(&peer_key(&peer));
            if self.wants_connect(&peer) {
                self.actions.push_back(Action::Connect(peer));
            }
        }
        if now >= self.next_history {
            self.next_history = later(now, self.config.statistics_interval);
            self.history_due = true;
        }
        if (self.config.peers_logging || self.config.stats_logging) && now >= self.next_peers_log {
            self.next_peers_log = later(now, PEERS_LOG_INTERVAL);
            self.logs_due = true;
        }
    }

    /// Expired pending requests, owed answers and duplicate records go.
    pub(crate) fn housekeeping(&mut self, now: Instant) {
        let mut expired_relays = Vec::new();
        for conn in self.conns.values_mut() {
            expired_relays.extend(conn.expire_relayed(now));
            let expired = conn.expire(now, &self.owed);
            if expired.owed > 0 {
                self.counters
                    .owed_expired
                    .fetch_add(expired.owed as u64, std::sync::atomic::Ordering::Relaxed);
            }
            for key in expired.keys {
                self.duplicates.abandon(&key);
            }
        }
        self.duplicates.expire(now);
        self.relayed_expired(expired_relays);
        self.redirect_housekeeping(now);
    }

    // ---- what the machines say ----

    /// Acts on everything a connection's machine reported (after bytes
    /// were fed, a timer ran or the transport changed).
    pub(crate) fn process(&mut self, now: Instant, id: ConnId, certs: &mut dyn CertificateCheck) {
        let mut received = 0u64;
        while let Some(event) = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.machine.as_mut())
            .and_then(Connection::poll_event)
        {
            match event {
                PeerEvent::CerReceived(remote) => self.decide_cer(now, id, &remote, certs),
                PeerEvent::StartTls => self.start_tls(id),
                PeerEvent::Opened {
                    remote,
                    applications,
                } => {
                    self.opened(id, &remote, &applications);
                    self.redirect_host_opened(now, id, &remote.origin_host);
                }
                PeerEvent::Ready | PeerEvent::NotReady => self.readiness_changed(now, id),
                PeerEvent::Message(msg) => {
                    received += 1;
                    if msg.header.is_request() {
                        if msg.header.is_retransmit() {
                            count(&self.counters.retransmissions_received);
                        }
                        self.intake(now, id, msg);
                    } else {
                        self.answer_received(now, id, msg);
                    }
                }
                PeerEvent::DprReceived(cause) => self.dpr_received(id, cause),
                PeerEvent::Closed(reason) => self.closing(id, reason),
            }
        }
        if received > 0 {
            if let Some(peer) = self.conns.get(&id).and_then(|c| c.peer.clone()) {
                self.deliveries
                    .push_back(Delivery::Peer(peer, PeerChange::Received(received)));
            }
        }
    }

    /// The machine of `id` wants TLS started (in-band, after the CER/CEA).
    fn start_tls(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let initiator = conn.machine.as_ref().is_some_and(Connection::is_initiator);
        let server_name = if initiator {
            conn.peer.as_ref().map(|p| p.node_name.clone())
        } else {
            None
        };
        self.actions.push_back(Action::StartTls {
            conn: id,
            server_name,
        });
    }

    /// The connection `id` became ready for requests, or stopped being so.
    fn readiness_changed(&mut self, now: Instant, id: ConnId) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let failed = !conn.machine.as_ref().is_some_and(Connection::is_ready);
        publish_state(conn, &mut self.deliveries);
        self.ready_changed = true;
        if failed {
            // closed, SUSPECT or DPR: what waits there goes elsewhere
            self.fail_over(now, id);
        } else {
            // requests redirected to its peer may wait for it
            self.redirect_host_ready(now, id);
        }
    }

    /// The peer of `id` sent a DPR.
    fn dpr_received(&mut self, id: ConnId, cause: Option<i32>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.dpr_cause = cause;
        let Some(peer) = conn.peer.clone() else {
            return;
        };
        info!(target: "diameter.node", "{peer}: DPR received, cause {}", CauseText(cause));
        self.deliveries
            .push_back(Delivery::Peer(peer, PeerChange::Dpr(cause)));
    }

    /// The machine of `id` closed (the socket goes once flushed).
    fn closing(&mut self, id: ConnId, reason: u8) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        debug!(target: "diameter.connection", "{} closing, reason {reason:#04x}", conn.remote);
        // a closing connection is no candidate for requests, however long
        // it takes to flush and go
        publish_state(conn, &mut self.deliveries);
    }

    pub(crate) fn opened(
        &mut self,
        id: ConnId,
        remote: &RemoteCapabilities,
        applications: &[AppId],
    ) {
        // capabilities exchanged: no longer bounded as unauthenticated
        self.admission.remove(id);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.identity.is_none() {
            // the CEA's Origin-Host, already checked against the peer meant
            conn.identity = Some(Arc::from(remote.origin_host.to_ascii_lowercase()));
        }
        let Some(machine) = conn.machine.as_ref() else {
            return;
        };
        if let Some(peer) = &conn.peer {
            info!(target: "diameter.node", "{peer}: capabilities exchanged with {} ({:?})", remote.origin_host, applications);
            let info = PeerConnectionInfo {
                state: machine.python_state(),
                direction: conn.direction.code(),
                host_identity: remote.origin_host.clone(),
                host_ip_address: remote.host_ip_addresses.clone(),
                auth_application_ids: applications
                    .iter()
                    .filter(|a| a.kind == AppKind::Auth)
                    .map(|a| a.id)
                    .collect(),
                acct_application_ids: applications
                    .iter()
                    .filter(|a| a.kind == AppKind::Acct)
                    .map(|a| a.id)
                    .collect(),
                remote_address: Some(conn.remote),
                ident: conn.id,
            };
            let change = PeerChange::Connection { info, opened: true };
            self.deliveries
                .push_back(Delivery::Peer(peer.clone(), change));
        }
        self.ready_changed = true;
    }
}

/// Shows the state of `conn`'s machine in its peer's status when the
/// status describes this connection (routing reads it from other threads;
/// the loop recomputes the applications' readiness when it changed).
pub(crate) fn publish_state(conn: &Conn, out: &mut VecDeque<Delivery>) {
    let (Some(peer), Some(machine)) = (&conn.peer, &conn.machine) else {
        return;
    };
    let change = PeerChange::State {
        ident: Some(conn.id),
        state: machine.python_state(),
    };
    out.push_back(Delivery::Peer(peer.clone(), change));
}

/// `now + d`, saturating.
/// Whether a request names the `failed` peer in its Destination-Host: it
/// is for that host only, and goes nowhere else (RFC 6733 §5.5.4).
pub(crate) fn names_failed(request: &Message, failed: Option<&Arc<Peer>>) -> bool {
    let host = request
        .find_avp(&[(AVP_DESTINATION_HOST, 0)])
        .and_then(Avp::as_str);
    matches!((failed, host), (Some(f), Some(h)) if f.node_name.eq_ignore_ascii_case(h))
}

/// What routing needs of an encoded request, without decoding it all: its
/// header and its top-level Destination-Host and Destination-Realm AVPs.
/// `None` when the bytes are not a message (they were one when sent).
pub(crate) fn routing_stub(bytes: &[u8]) -> Option<Message> {
    let header = MessageHeader::from_bytes(bytes)?;
    let end = (header.length as usize).min(bytes.len());
    let mut avps = Vec::with_capacity(2);
    let mut at = crate::message::HEADER_LENGTH;
    while let Some(h) = bytes.get(at..at + 8) {
        let code = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let flags = h[4];
        let len = u32::from_be_bytes([0, h[5], h[6], h[7]]) as usize;
        if len < 8 || at + len > end {
            break;
        }
        let vendor = flags & 0x80 != 0;
        if !vendor && (code == AVP_DESTINATION_HOST || code == AVP_DESTINATION_REALM) {
            let name = std::str::from_utf8(bytes.get(at + 8..at + len)?).ok()?;
            avps.push(Avp::new(code, 0, name).ok()?);
        }
        at += (len + 3) & !3;
    }
    Some(Message::new(header, avps))
}

pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    crate::node::peer::later(now, d)
}

/// Queues an encoded answer on a connection; false when it cannot go.
pub(crate) fn queue_answer(conn: &mut Conn, bytes: &[u8]) -> bool {
    conn.machine
        .as_mut()
        .is_some_and(|m| m.send_bytes(bytes, false).is_ok())
}

/// The top-level Result-Code of an encoded answer, without decoding it.
pub(crate) fn result_code_of(bytes: &[u8]) -> Option<u32> {
    let mut at = crate::message::HEADER_LENGTH;
    while let Some(h) = bytes.get(at..at + 8) {
        let code = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let len = u32::from_be_bytes([0, h[5], h[6], h[7]]) as usize;
        if code == AVP_RESULT_CODE && h[4] & 0x80 == 0 && len == 12 {
            let v = bytes.get(at + 8..at + 12)?;
            return Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        }
        if len < 8 {
            return None;
        }
        at += (len + 3) & !3;
    }
    None
}

/// Records an answer sent to `peer`: processing time and Result-Code range
/// (the loop applies it to the peer's statistics).
pub(crate) fn record_answer(
    out: &mut VecDeque<Delivery>,
    peer: &Arc<Peer>,
    command_code: u32,
    took: Duration,
    bytes: &[u8],
) {
    let change = PeerChange::Answered {
        command_code,
        took,
        result_code: result_code_of(bytes),
    };
    out.push_back(Delivery::Peer(peer.clone(), change));
}

/// Queues an answer the node gives itself (an error, a 3xxx of an agent)
/// on `machine`, and records it in the peer's statistics.
pub(crate) fn send_own_answer(
    out: &mut VecDeque<Delivery>,
    machine: &mut Connection,
    peer: Option<&Arc<Peer>>,
    command_code: u32,
    answer: &Message,
) {
    let Ok(bytes) = answer.as_bytes() else {
        return;
    };
    let _ = machine.send_bytes(&bytes, false);
    if let Some(peer) = peer {
        record_answer(out, peer, command_code, Duration::ZERO, &bytes);
    }
}

/// A DPR's Disconnect-Cause in log lines: the number, or "none".
pub(crate) struct CauseText(pub(crate) Option<i32>);

impl std::fmt::Display for CauseText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(cause) => write!(f, "{cause}"),
            None => f.write_str("none"),
        }
    }
}
