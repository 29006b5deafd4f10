//! The only seam between threads: what application code (any thread) and
//! the event loop share. Application threads route and encode requests
//! themselves and hand them to the loop as [`Command`]s through one bounded
//! channel, waking it with one `mio::Waker` per batch; answers come back on
//! a one-slot crossbeam channel each calling thread reuses, the caller
//! parked until the loop signals it (`answer.rs`). Peers, applications and counters live
//! here too, so `add_peer`/`add_application` work before and after start.

pub(crate) mod owed;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use log::debug;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::message::constants::*;
use crate::message::{Avp, AvpEncodeError, Message};
use crate::node::app::answer::{deadline_after, Waiter};
use crate::node::app::application::{AnswerTo, OutgoingAnswer, OutgoingRequest};
use crate::node::core::routing;
use crate::node::error::{ApplicationError, EmptyReason, NoRoute, NoRouteReason, NodeError};
use crate::node::peer::{AppId, AppKind, Peer};
use crate::node::shared::owed::{OwedBook, Unclaimed};
use crate::node::stats::NodeStats;
use crate::node::{SequenceGenerator, SessionGenerator};

/// Commands waiting for the loop, at most. A full queue blocks application
/// threads that send (backpressure on callers); the loop thread itself never
/// blocks on it: what it cannot queue is dropped and counted.
pub(crate) const COMMAND_QUEUE: usize = 1 << 16;

pub(crate) use crate::node::app::answer::Reply;

/// Work handed to the loop by other threads.
pub(crate) enum Command {
    /// Send an encoded request (hop-by-hop assigned by the loop).
    Request(OutRequest),
    /// Send an encoded answer back on the connection its request came in.
    Answer(OutAnswer),
    /// A peer was added after start.
    PeerAdded(Arc<Peer>),
    /// An application was added after start: advertise it from now on.
    ApplicationsChanged,
    /// A route or a proxy handler was added after start.
    RoutesChanged,
    /// Make the loop panic (fault injection for tests of what a dead
    /// loop does to callers and to `stop()`).
    Panic,
    /// Stop the node.
    Stop {
        /// How long DPR/DPA may take.
        wait_timeout: Duration,
        /// Close at once, without DPR.
        force: bool,
        /// Told when the loop is done.
        done: Sender<()>,
    },
}

/// A request for the loop to send.
pub(crate) struct OutRequest {
    /// The peer chosen by routing.
    pub peer: Arc<Peer>,
    /// The encoded request; its hop-by-hop field is set by the loop.
    pub bytes: Vec<u8>,
    /// Its End-to-End identifier (checked against the answer's).
    pub end_to_end: u32,
    /// How long the caller waits; the pending entry lives this long plus
    /// the late-answer window.
    pub timeout: Duration,
    /// Where the answer goes.
    pub reply: Reply,
    /// The application it was routed for: it may fail over to another peer
    /// of that application (`None`: it may not, nobody waits for it).
    pub app: Option<AppId>,
    /// The peer comes from the redirect cache: if it is not connected, it
    /// is connected and the request waits for it.
    pub to_redirect_host: bool,
}

/// An answer for the loop to send.
pub(crate) struct OutAnswer {
    /// The connection its request came in on (0: unknown; then the one
    /// connection owing this (hop-by-hop, end-to-end) pair, if exactly one).
    pub via: u64,
    /// Hop-by-hop identifier.
    pub hop_by_hop: u32,
    /// End-to-End identifier.
    pub end_to_end: u32,
    /// The encoded answer.
    pub bytes: Vec<u8>,
    /// Whether the sender claimed the entry in [`Handle::owed`] already.
    pub claimed: bool,
}

/// The loop's side of the seam, set once at start.
pub(crate) struct Link {
    pub commands: Sender<Command>,
    /// The loop's end of the queue, kept so that whatever is still queued
    /// when the loop is gone can be failed instead of waiting forever
    /// ([`Handle::fail_queued`]).
    pub leftovers: Receiver<Command>,
    pub waker: Arc<mio::Waker>,
    pub loop_thread: OnceLock<ThreadId>,
}

/// Life of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Life {
    Created = 0,
    Running = 1,
    Stopped = 2,
    Died = 3,
}

/// An application with the peers and realms it serves.
#[derive(Clone)]
pub(crate) struct AppRoute {
    pub app: Arc<dyn Application>,
    pub peers: Vec<Arc<Peer>>,
    pub realms: Vec<String>,
}

/// A peer selector (python's `peer_route_select_func(node, app, message,
/// peers)`): given the application, the request and the ready peers that
/// negotiated the application (two or more), returns the one to use.
pub type RouteSelect =
    Arc<dyn Fn(&AppBase, &Message, &[Arc<Peer>]) -> Result<Arc<Peer>, NodeError> + Send + Sync>;

/// Protocol counters: what the node refused or dropped to stay safe.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub answers_unmatched: AtomicU64,
    pub answers_wrong_end_to_end: AtomicU64,
    pub answers_late_dropped: AtomicU64,
    pub answers_unsent: AtomicU64,
    pub retransmissions_answered: AtomicU64,
    pub retransmissions_waiting: AtomicU64,
    pub retransmissions_dropped: AtomicU64,
    pub requests_refused_busy: AtomicU64,
    pub owed_expired: AtomicU64,
    pub peers_refused_address: AtomicU64,
    pub reads_paused: AtomicU64,
    pub accept_errors: AtomicU64,
    pub callback_panics: AtomicU64,
    pub commands_dropped: AtomicU64,
    pub requests_failed_over: AtomicU64,
    pub retransmissions_received: AtomicU64,
    pub requests_redirected: AtomicU64,
    pub redirect_cache_hits: AtomicU64,
    pub unauthenticated_closed: AtomicU64,
    pub unauthenticated_refused: AtomicU64,
}

/// Transport failures since the node was created.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// TLS handshakes that failed (bad certificate, unknown CA, wrong name,
    /// protocol error).
    pub tls_handshake_failures: AtomicU64,
    /// Connections closed because the peer's certificate does not name its
    /// Origin-Host.
    pub tls_identity_mismatches: AtomicU64,
}

/// A snapshot of [`TransportCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// TLS handshakes that failed.
    pub tls_handshake_failures: u64,
    /// Connections refused because a certificate did not name the peer.
    pub tls_identity_mismatches: u64,
}

/// What the node refused or dropped so far to stay within its bounds and
/// keep peers apart ([`Node::protocol_stats`](crate::node::Node::protocol_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolStats {
    /// Answers that matched no request sent on their connection (forged,
    /// or from another connection than the request's): dropped.
    pub answers_unmatched: u64,
    /// Answers whose hop-by-hop matched but End-to-End did not: dropped.
    pub answers_wrong_end_to_end: u64,
    /// Answers that came after the late-answer window: dropped.
    pub answers_late_dropped: u64,
    /// Application answers that could not be sent (their request unknown,
    /// expired, or its connection gone).
    pub answers_unsent: u64,
    /// Retransmitted requests (T flag) answered again from the cache.
    pub retransmissions_answered: u64,
    /// Retransmissions of requests still being handled, answered once the
    /// answer exists.
    pub retransmissions_waiting: u64,
    /// Retransmissions dropped (too many copies of one request waiting).
    pub retransmissions_dropped: u64,
    /// Requests answered 3004 because the connection owed too many answers.
    pub requests_refused_busy: u64,
    /// Requests that applications never answered within `owed_answer_ttl`.
    pub owed_expired: u64,
    /// CERs refused (3010) because a configured peer came from an address
    /// it was not configured with.
    pub peers_refused_address: u64,
    /// Times a connection was not read because its output was full.
    pub reads_paused: u64,
    /// Failed accepts (the listener carried on).
    pub accept_errors: u64,
    /// Panics in user code called on the event loop (handled).
    pub callback_panics: u64,
    /// Commands the loop could not queue to itself (answers from a handler
    /// on the loop thread while the command queue was full).
    pub commands_dropped: u64,
    /// Requests sent again, with the T flag, to another peer because the
    /// connection they waited on failed (RFC 6733 §5.5.4 failover).
    pub requests_failed_over: u64,
    /// Requests received with the T flag (retransmissions: failed over to
    /// this node, or sent again by the same peer), duplicates or not.
    pub retransmissions_received: u64,
    /// Requests sent again to a host named in the 3006
    /// DIAMETER_REDIRECT_INDICATION answer they got (RFC 6733 §6.1.7).
    pub requests_redirected: u64,
    /// Requests sent straight to a host the redirect cache named, without
    /// passing the agent that redirected (RFC 6733 §6.13).
    pub redirect_cache_hits: u64,
    /// Incoming connections still waiting for their CER closed to admit a
    /// newer one (`NodeLimits::max_unauthenticated` or
    /// `max_unauthenticated_per_ip` reached).
    pub unauthenticated_closed: u64,
    /// Incoming connections refused at once: the node was full of
    /// connections that completed their CER (`max_connections`), or, for
    /// a connection from an address no configured peer has, of connections
    /// from configured peers' addresses still waiting for their CER.
    pub unauthenticated_refused: u64,
}

/// The node's shared core.
pub(crate) struct Handle {
    identity: RwLock<Arc<Identity>>,
    pub peers: RwLock<Vec<Arc<Peer>>>,
    pub apps: RwLock<Vec<AppRoute>>,
    pub applications: RwLock<Vec<AppId>>,
    pub select: RwLock<Option<RouteSelect>>,
    pub history: Mutex<VecDeque<(SystemTime, NodeStats)>>,
    pub round_robin: AtomicUsize,
    pub link: OnceLock<Link>,
    wake_pending: AtomicBool,
    life: AtomicU8,
    pub counters: Arc<Counters>,
    pub transport: Arc<TransportCounters>,
    /// Requests handed to applications and not answered yet.
    pub owed: Arc<OwedBook>,
    /// The routing table of an agent ([`crate::node::Node::add_route`]).
    pub routes: RwLock<Vec<crate::node::core::agent::relay::RouteEntry>>,
    /// An agent's counters.
    pub relay: Arc<crate::node::core::agent::relay::RelayCounters>,
    /// A proxy's handlers, by application id ([`crate::node::Node::add_proxy_handler`]).
    pub proxy_handlers: RwLock<Vec<(u32, Arc<dyn crate::node::core::agent::proxy::ProxyHandler>)>>,
    /// The redirect cache: filled by the loop, read by callers.
    pub redirects: Arc<crate::node::core::agent::redirect::Shared<Arc<Peer>>>,
}

/// Who the node is, and its generators.
pub(crate) struct Identity {
    pub origin_host: String,
    pub origin_realm: String,
    pub end_to_end: Arc<SequenceGenerator>,
    pub session_generator: Arc<SessionGenerator>,
}

impl Handle {
    pub(crate) fn new(identity: Identity) -> Arc<Handle> {
        Arc::new(Handle {
            identity: RwLock::new(Arc::new(identity)),
            peers: RwLock::new(Vec::new()),
            apps: RwLock::new(Vec::new()),
            applications: RwLock::new(Vec::new()),
            select: RwLock::new(None),
            history: Mutex::new(VecDeque::new()),
            round_robin: AtomicUsize::new(0),
            link: OnceLock::new(),
            wake_pending: AtomicBool::new(false),
            life: AtomicU8::new(Life::Created as u8),
            counters: Arc::default(),
            transport: Arc::default(),
            owed: Arc::default(),
            routes: RwLock::new(Vec::new()),
            relay: Arc::default(),
            proxy_handlers: RwLock::new(Vec::new()),
            redirects: Arc::new(crate::node::core::agent::redirect::Shared::new(
                crate::node::config::NodeLimits::default().redirect_cache_size,
            )),
        })
    }

    pub(crate) fn identity(&self) -> Arc<Identity> {
        self.identity.read().clone()
    }

    pub(crate) fn set_identity(&self, identity: Identity) {
        *self.identity.write() = Arc::new(identity);
    }

    pub(crate) fn life(&self) -> Life {
        // SeqCst with the channel's own: a caller that queued a command after
        // the loop's last look at the queue sees the loop gone (see `command`)
        match self.life.load(Ordering::SeqCst) {
            0 => Life::Created,
            1 => Life::Running,
            2 => Life::Stopped,
            _ => Life::Died,
        }
    }

    pub(crate) fn set_life(&self, life: Life) {
        self.life.store(life as u8, Ordering::SeqCst);
    }

    /// Stops every application (python's `app.stop()`: joins the workers);
    /// a panic in one is counted and the others are still stopped.
    pub(crate) fn stop_applications(&self) {
        let apps: Vec<Arc<dyn Application>> =
            self.apps.read().iter().map(|r| r.app.clone()).collect();
        for app in apps {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.stop())).is_err() {
                count(&self.counters.callback_panics);
            }
        }
    }

    /// Fails every command still queued once the loop is gone: callers get
    /// their error now rather than at their timeout. Called by the loop's
    /// thread after it ends and by any caller that queued a command and then
    /// saw the loop gone (the loop may have taken its last look already).
    pub(crate) fn fail_queued(&self) {
        let Some(link) = self.link.get() else {
            return;
        };
        while let Ok(cmd) = link.leftovers.try_recv() {
            match cmd {
                Command::Request(req) => {
                    let _ = req
                        .reply
                        .send(Err(ApplicationError::Node(self.not_running())));
                }
                // dropping `done` tells the stopper the loop is gone
                _ => drop(cmd),
            }
        }
    }

    /// The error for "the loop cannot take work".
    fn not_running(&self) -> NodeError {
        match self.life() {
            Life::Created => NodeError::NotStarted,
            Life::Running | Life::Stopped => NodeError::Stopped,
            Life::Died => NodeError::LoopDied,
        }
    }

    /// Hands a command to the loop and wakes it (once per batch: the loop
    /// clears the flag before it drains).
    pub(crate) fn command(&self, cmd: Command) -> Result<(), NodeError> {
        let Some(link) = self.link.get() else {
            return Err(NodeError::NotStarted);
        };
        if self.life() != Life::Running {
            return Err(self.not_running());
        }
        let on_loop = link.loop_thread.get() == Some(&std::thread::current().id());
        // neither send can find the channel disconnected: `leftovers` holds
        // its receiving end for as long as the handle lives
        if on_loop {
            if link.commands.try_send(cmd).is_err() {
                // full: the loop cannot wait for itself
                count(&self.counters.commands_dropped);
                return Ok(());
            }
        } else {
            let _ = link.commands.send(cmd);
        }
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _ = link.waker.wake();
        }
        if self.life() != Life::Running {
            // the loop ended while this was queued: nobody else will look
            self.fail_queued();
        }
        Ok(())
    }

    /// Called by the loop before it drains the commands.
    pub(crate) fn clear_wake(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }

    /// RFC 6733 §6.1: the peer for a request of `base`'s application.
    pub(crate) fn route(&self, base: &AppBase, msg: &Message) -> Result<Arc<Peer>, NodeError> {
        let app = base.app_id();
        let identity = self.identity();
        let candidates = {
            let apps = self.apps.read();
            let peers = self.peers.read();
            let routes = apps.iter().map(|r| routing::Route {
                app: r.app.base().app_id(),
                peers: &r.peers,
                realms: &r.realms,
            });
            routing::candidates(msg, app, &identity.origin_realm, routes, &peers, &|p| {
                routing::negotiated(p, app)
            })
        };
        let candidates = match candidates {
            Ok(c) => c,
            Err(realm) => {
                return Err(NodeError::NotRoutable(NoRoute {
                    application_id: app.id,
                    realm,
                    reason: NoRouteReason::NoReadyPeer,
                }))
            }
        };
        if candidates.peers.len() > 1 {
            let select = self.select.read().clone();
            if let Some(select) = select {
                // user code: a panic is a routing failure, not a dead caller
                let picked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    select(base, msg, &candidates.peers)
                }));
                return match picked {
                    Ok(r) => r,
                    Err(_) => {
                        self.counters
                            .callback_panics
                            .fetch_add(1, Ordering::Relaxed);
                        Err(NodeError::NotRoutable(NoRoute {
                            application_id: app.id,
                            realm: candidates.realm,
                            reason: NoRouteReason::SelectorFailed,
                        }))
                    }
                };
            }
        }
        let turn = self.round_robin.fetch_add(1, Ordering::Relaxed);
        routing::least_loaded(&candidates.peers, turn).ok_or(NodeError::NotRoutable(NoRoute {
            application_id: app.id,
            realm: candidates.realm,
            reason: NoRouteReason::NoReadyPeer,
        }))
    }

    /// Routes and sends an encoded request, then waits for its answer.
    pub(crate) fn request(
        &self,
        base: &AppBase,
        msg: &Message,
        timeout: Duration,
    ) -> Result<Message, ApplicationError> {
        let (waiter, peer, deadline) = self.submit(base, msg, timeout)?;
        let result = wait_answer(waiter, deadline, timeout, self);
        peer.outstanding.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Routes and sends an encoded request: the waiter for its answer, the
    /// peer it went to (its `outstanding` count raised: the caller lowers
    /// it once done) and the caller's deadline.
    pub(crate) fn submit(
        &self,
        base: &AppBase,
        msg: &Message,
        timeout: Duration,
    ) -> Result<(Waiter, Arc<Peer>, Instant), ApplicationError> {
        if self.life() != Life::Running {
            return Err(self.not_running().into());
        }
        // routing, then the redirect cache (one atomic load when it is
        // empty), whose entries hold for the next hop routing picked
        let routed = self.route(base, msg);
        let (peer, to_redirect_host) = match self.cached_route(msg, routed.as_ref().ok()) {
            Some(peer) => (peer, true),
            None => (routed?, false),
        };
        if to_redirect_host {
            count(&self.counters.redirect_cache_hits);
        }
        let bytes = msg.as_bytes()?;
        let waiter = Waiter::take();
        let deadline = deadline_after(timeout);
        peer.outstanding.fetch_add(1, Ordering::Relaxed);
        let sent = self.command(Command::Request(OutRequest {
            peer: peer.clone(),
            bytes,
            end_to_end: msg.header.end_to_end_identifier,
            timeout,
            reply: waiter.reply(),
            app: Some(base.app_id()),
            to_redirect_host,
        }));
        match sent {
            Ok(()) => Ok((waiter, peer, deadline)),
            Err(e) => {
                peer.outstanding.fetch_sub(1, Ordering::Relaxed);
                Err(e.into())
            }
        }
    }

    /// The host the redirect cache names for `msg` (by its Session-Id,
    /// User-Name, realm and application, Destination-Host), routed to
    /// `next` (`None`: routing found no peer): a ready one, the least
    /// loaded; else the first, to be connected.
    fn cached_route(&self, msg: &Message, next: Option<&Arc<Peer>>) -> Option<Arc<Peer>> {
        self.redirects.read(|cache| {
            let facts = crate::node::core::agent::redirect::Facts::of(msg);
            let is_hop = |via: &Arc<Peer>| next.is_some_and(|n| Arc::ptr_eq(n, via));
            let entry = cache.lookup(Instant::now(), &facts, is_hop)?;
            self.pick_redirect_host(&entry.targets)
        })
    }

    fn pick_redirect_host(&self, hosts: &[Arc<Peer>]) -> Option<Arc<Peer>> {
        let ready: Vec<Arc<Peer>> = hosts.iter().filter(|p| p.is_ready()).cloned().collect();
        let turn = self.round_robin.fetch_add(1, Ordering::Relaxed);
        routing::least_loaded(&ready, turn).or_else(|| hosts.first().cloned())
    }

    /// Recomputes every application's readiness.
    pub(crate) fn update_ready(&self) {
        let peers = self.peers.read();
        for route in self.apps.read().iter() {
            let base: &AppBase = route.app.base();
            let id = base.app_id();
            let serving: &[Arc<Peer>] = if route.peers.is_empty() {
                &peers
            } else {
                &route.peers
            };
            base.set_ready(serving.iter().any(|p| routing::negotiated(p, id)));
        }
    }

    /// A snapshot of the protocol counters.
    pub(crate) fn protocol_stats(&self) -> ProtocolStats {
        self.counters.snapshot()
    }
}

impl Counters {
    /// A snapshot of the counters.
    pub(crate) fn snapshot(&self) -> ProtocolStats {
        let c = self;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProtocolStats {
            answers_unmatched: r(&c.answers_unmatched),
            answers_wrong_end_to_end: r(&c.answers_wrong_end_to_end),
            answers_late_dropped: r(&c.answers_late_dropped),
            answers_unsent: r(&c.answers_unsent),
            retransmissions_answered: r(&c.retransmissions_answered),
            retransmissions_waiting: r(&c.retransmissions_waiting),
            retransmissions_dropped: r(&c.retransmissions_dropped),
            requests_refused_busy: r(&c.requests_refused_busy),
            owed_expired: r(&c.owed_expired),
            peers_refused_address: r(&c.peers_refused_address),
            reads_paused: r(&c.reads_paused),
            accept_errors: r(&c.accept_errors),
            callback_panics: r(&c.callback_panics),
            commands_dropped: r(&c.commands_dropped),
            requests_failed_over: r(&c.requests_failed_over),
            retransmissions_received: r(&c.retransmissions_received),
            requests_redirected: r(&c.requests_redirected),
            redirect_cache_hits: r(&c.redirect_cache_hits),
            unauthenticated_closed: r(&c.unauthenticated_closed),
            unauthenticated_refused: r(&c.unauthenticated_refused),
        }
    }
}

/// Counts one event.
pub(crate) fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Waits for the answer until `deadline`. An empty answer for a stopped
/// node is a dead loop's when the loop died.
pub(crate) fn wait_answer(
    waiter: Waiter,
    deadline: Instant,
    timeout: Duration,
    handle: &Handle,
) -> Result<Message, ApplicationError> {
    match waiter.wait(deadline) {
        Some(Err(ApplicationError::EmptyAnswer(EmptyReason::NodeStopped)))
            if handle.life() == Life::Died =>
        {
            Err(ApplicationError::EmptyAnswer(EmptyReason::LoopDied))
        }
        Some(answer) => answer,
        None => Err(ApplicationError::RequestTimeout(timeout)),
    }
}

#[cfg(any(test, fuzzing))]
/// A one-shot answer channel with no waiting thread behind it (the
/// simulator reads it with `try_recv`).
pub(crate) fn answer_channel() -> (Reply, Receiver<Result<Message, ApplicationError>>) {
    Reply::channel()
}

/// What every application has (python's `Application` attributes and the
/// methods it offers to its handlers). Cheap to clone: handlers get one.
#[derive(Clone)]
pub struct AppBase {
    inner: Arc<AppInner>,
}

struct AppInner {
    id: AppId,
    node: OnceLock<Arc<Handle>>,
    ready: Mutex<bool>,
    ready_changed: Condvar,
}

impl std::fmt::Debug for AppBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBase")
            .field("id", &self.inner.id)
            .finish()
    }
}

impl AppBase {
    /// An application advertised in Auth-Application-Id (python's
    /// `is_auth_application=True`).
    pub fn auth(application_id: u32) -> AppBase {
        Self::with_id(AppId::auth(application_id))
    }

    /// An application advertised in Acct-Application-Id (python's
    /// `is_acct_application=True`).
    pub fn acct(application_id: u32) -> AppBase {
        Self::with_id(AppId::acct(application_id))
    }

    /// Any application id, vendor-specific ones included (advertised in
    /// Vendor-Specific-Application-Id).
    pub fn with_id(id: AppId) -> AppBase {
        AppBase {
            inner: Arc::new(AppInner {
                id,
                node: OnceLock::new(),
                ready: Mutex::new(false),
                ready_changed: Condvar::new(),
            }),
        }
    }

    /// The application id.
    pub fn application_id(&self) -> u32 {
        self.inner.id.id
    }

    /// The full application id (kind and vendor).
    pub fn app_id(&self) -> AppId {
        self.inner.id
    }

    /// Whether it is an auth application.
    pub fn is_auth_application(&self) -> bool {
        self.inner.id.kind == AppKind::Auth
    }

    /// Whether it is an acct application.
    pub fn is_acct_application(&self) -> bool {
        self.inner.id.kind == AppKind::Acct
    }

    /// The application's name from python's `APPLICATIONS` table
    /// ("Unknown Application" when it has none).
    pub fn name(&self) -> &'static str {
        crate::message::dictionary::application_name(self.inner.id.id)
    }

    pub(crate) fn attach(&self, handle: Arc<Handle>) {
        let _ = self.inner.node.set(handle);
    }

    pub(crate) fn shared(&self) -> Result<&Arc<Handle>, ApplicationError> {
        self.inner.node.get().ok_or(ApplicationError::NotAttached)
    }

    /// The node this application runs on, once the node started (python's
    /// `app.node`; an error before).
    pub fn node(&self) -> Result<NodeRef, ApplicationError> {
        self.shared().map(|s| NodeRef(s.clone()))
    }

    /// The node's Origin-Host, once added to a node.
    pub fn origin_host(&self) -> Option<String> {
        self.inner
            .node
            .get()
            .map(|h| h.identity().origin_host.clone())
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        let mut r = self.inner.ready.lock();
        if *r != ready {
            *r = ready;
            self.inner.ready_changed.notify_all();
        }
    }

    /// Whether a peer of this application is ready and negotiated it.
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.lock()
    }

    /// Blocks until a peer of this application has finished the
    /// capabilities exchange and negotiated it (python's `wait_for_ready`);
    /// blocks again once all its peers are down.
    pub fn wait_for_ready(&self, timeout: Duration) -> Result<(), ApplicationError> {
        // a timeout near Duration::MAX means "wait as long as it takes"
        let deadline = Instant::now().checked_add(timeout);
        let mut ready = self.inner.ready.lock();
        while !*ready {
            match deadline {
                Some(deadline) => {
                    if self
                        .inner
                        .ready_changed
                        .wait_until(&mut ready, deadline)
                        .timed_out()
                        && !*ready
                    {
                        return Err(ApplicationError::NotReady(timeout));
                    }
                }
                None => self.inner.ready_changed.wait(&mut ready),
            }
        }
        Ok(())
    }

    /// An answer to `request` (python's `generate_answer`): the request's
    /// header rules (`to_answer`), Session-Id copied, this node's
    /// Origin-Host and Origin-Realm, the application id AVP, Result-Code and
    /// Error-Message when given, Proxy-Info copied. A typed request gives
    /// its typed answer with those fields set; a [`Message`] a `Message`.
    ///
    /// `result_code` and `error_message` take a value or `None`:
    /// `app.generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None)`.
    /// An error ([`ApplicationError::NotAttached`]) before the application
    /// is added to a node, as python raises then.
    pub fn generate_answer<'a, R: AnswerTo + ?Sized>(
        &self,
        request: &R,
        result_code: impl Into<Option<u32>>,
        error_message: impl Into<Option<&'a str>>,
    ) -> Result<R::Answer, ApplicationError> {
        let handle = self.shared()?;
        Ok(self.answer_on(handle, request, result_code.into(), error_message.into()))
    }

    /// [`generate_answer`](Self::generate_answer) for the node's own use,
    /// where the application is attached.
    pub(crate) fn answer_on<R: AnswerTo + ?Sized>(
        &self,
        handle: &Handle,
        request: &R,
        result_code: Option<u32>,
        error_message: Option<&str>,
    ) -> R::Answer {
        let mut avps = Vec::with_capacity(8);
        let mut push = |a: Result<Avp, AvpEncodeError>| {
            if let Ok(a) = a {
                avps.push(a);
            }
        };
        for session in request.request_avps(AVP_SESSION_ID) {
            push(Ok(session));
        }
        if let Some(code) = result_code {
            push(Avp::new(AVP_RESULT_CODE, 0, code));
        }
        let identity = handle.identity();
        push(Avp::new(AVP_ORIGIN_HOST, 0, identity.origin_host.as_str()));
        push(Avp::new(
            AVP_ORIGIN_REALM,
            0,
            identity.origin_realm.as_str(),
        ));
        let id_code = match self.inner.id.kind {
            AppKind::Auth => AVP_AUTH_APPLICATION_ID,
            AppKind::Acct => AVP_ACCT_APPLICATION_ID,
        };
        push(Avp::new(id_code, 0, self.inner.id.id));
        if let Some(text) = error_message {
            push(Avp::new(AVP_ERROR_MESSAGE, 0, text).map(|a| a.with_mandatory(false)));
        }
        for proxy in request.request_avps(AVP_PROXY_INFO) {
            push(Ok(proxy));
        }
        let mut header = request.request_header().to_answer();
        if let Some(code) = result_code {
            header.set_error((3000..4000).contains(&code));
        }
        request.make_answer(header, avps)
    }

    /// Sends an answer back on the connection its request came in on
    /// (python's `send_answer`). The request's connection travels with it
    /// through `to_answer` and `generate_answer`; an answer built otherwise
    /// goes to the one connection waiting for its identifiers.
    ///
    /// An error when nothing waits for this answer (python's `NotRoutable`
    /// from `route_answer`): it was answered already, its connection
    /// closed, it expired ([`NodeLimits::owed_answer_ttl`](crate::node::NodeLimits)),
    /// or its identifiers match no request handed to an application.
    pub fn send_answer<A: OutgoingAnswer + ?Sized>(
        &self,
        answer: &A,
    ) -> Result<(), ApplicationError> {
        let handle = self.shared()?;
        let header = answer.answer_header();
        let (hop_by_hop, end_to_end) = (header.hop_by_hop_identifier, header.end_to_end_identifier);
        let via = handle
            .owed
            .claim(hop_by_hop, end_to_end, answer.answer_connection())
            .map_err(|why| ApplicationError::NoRequestWaiting {
                hop_by_hop,
                end_to_end,
                ambiguous: why == Unclaimed::Ambiguous,
            })?;
        let bytes = match answer.answer_bytes() {
            Ok(bytes) => bytes,
            Err(e) => {
                // the loop still owes it: let it settle the entry
                handle.owed.insert(hop_by_hop, end_to_end, via);
                return Err(e.into());
            }
        };
        handle.command(Command::Answer(OutAnswer {
            via,
            hop_by_hop,
            end_to_end,
            bytes,
            claimed: true,
        }))?;
        Ok(())
    }

    /// The request as sent: the End-to-End identifier and the header's
    /// application id set when zero.
    fn prepare<R: OutgoingRequest>(
        &self,
        handle: &Handle,
        request: R,
    ) -> Result<Message, ApplicationError> {
        let mut request = request.into_request()?;
        if request.header.end_to_end_identifier == 0 {
            request.header.end_to_end_identifier = handle.identity().end_to_end.next_sequence();
        }
        if request.header.application_id == 0 {
            request.header.application_id = self.inner.id.id;
        }
        Ok(request)
    }

    /// Sends a request and blocks until its answer (python's
    /// `send_request`): the End-to-End identifier and the header's
    /// application id are set when zero, the request is routed (RFC 6733
    /// §6.1) and encoded on this thread. A typed request (a
    /// `CreditControlRequest`) gives its typed answer (a
    /// `CreditControlAnswer`); a [`Message`] gives a `Message`.
    ///
    /// A timeout is [`ApplicationError::RequestTimeout`]; a connection lost
    /// meanwhile is [`ApplicationError::EmptyAnswer`] at once.
    ///
    /// The node wakes the waiting thread once per answer. For many requests
    /// in flight, [`send_request_nowait`](Self::send_request_nowait) from
    /// fewer threads costs less (docs/guide/benchmarks.md compares both).
    pub fn send_request<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::Answer, ApplicationError> {
        let handle = self.shared()?;
        let request = self.prepare(handle, request)?;
        R::answer_from(handle.request(self, &request, timeout)?)
    }

    /// Sends a request without waiting for its answer: the returned
    /// [`PendingAnswer`]'s `wait` gives it, so that one thread can keep
    /// many requests in flight (pipelining). Routing, encoding, failover and
    /// `timeout` are those of [`send_request`](Self::send_request); errors
    /// before the request is handed to the node come back here.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use diameter::message::Message;
    /// # use diameter::node::application::AppBase;
    /// # fn requests() -> Vec<Message> { Vec::new() }
    /// # fn f(app: &AppBase) -> Result<(), diameter::node::ApplicationError> {
    /// let timeout = Duration::from_secs(5);
    /// let in_flight: Vec<_> = requests()
    ///     .into_iter()
    ///     .map(|ccr| app.send_request_nowait(ccr, timeout))
    ///     .collect::<Result<_, _>>()?;
    /// for pending in in_flight {
    ///     let cca = pending.wait(timeout)?;
    ///     println!("{cca}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_request_nowait<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<PendingAnswer<R::Answer>, ApplicationError> {
        let handle = self.shared()?;
        let request = self.prepare(handle, request)?;
        let (waiter, peer, deadline) = handle.submit(self, &request, timeout)?;
        Ok(PendingAnswer {
            waiter: Some(waiter),
            peer,
            deadline,
            timeout,
            handle: handle.clone(),
            convert: R::answer_from,
        })
    }
}

/// A request sent with [`AppBase::send_request_nowait`], its answer still
/// to come. Dropping it gives up on the answer (which then goes to the
/// application's `handle_answer`, as a late one does).
pub struct PendingAnswer<A> {
    waiter: Option<Waiter>,
    peer: Arc<Peer>,
    deadline: Instant,
    timeout: Duration,
    handle: Arc<Handle>,
    convert: fn(Message) -> Result<A, ApplicationError>,
}

impl<A> PendingAnswer<A> {
    /// Blocks until the answer comes, for at most `timeout` and never past
    /// the request's own timeout: its answer, or the error
    /// [`send_request`](AppBase::send_request) would have returned
    /// (`RequestTimeout` when either time runs out first). Waiting on the
    /// thread that sent the request costs least: it parks until the node
    /// signals it; another thread blocks on the answer's channel.
    pub fn wait(mut self, timeout: Duration) -> Result<A, ApplicationError> {
        let Some(waiter) = self.waiter.take() else {
            return Err(ApplicationError::RequestTimeout(self.timeout));
        };
        let mine = deadline_after(timeout);
        let (deadline, reported) = if mine < self.deadline {
            (mine, timeout)
        } else {
            (self.deadline, self.timeout)
        };
        wait_answer(waiter, deadline, reported, &self.handle).and_then(self.convert)
    }

    /// The peer the request went to.
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }
}

impl<A> Drop for PendingAnswer<A> {
    fn drop(&mut self) {
        self.peer.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<A> std::fmt::Debug for PendingAnswer<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAnswer")
            .field("peer", &self.peer.node_name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Display for AppBase {
    /// python's `str(app)`: `<Diameter Credit Control Application (4)>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} ({})>", self.name(), self.application_id())
    }
}

/// A Diameter application (python's `Application`, subclassed). Implement
/// `base` and `handle_request`; `handle_request` runs on the node's
/// event-loop thread, under `catch_unwind` (a panic is answered 5012 and
/// counted; the node carries on). The methods python's subclasses call on
/// `self` (`send_request`, `send_answer`, `generate_answer`,
/// `wait_for_ready`, `node`, `is_ready`) are provided here too.
///
/// ```
/// use diameter::message::constants::*;
/// use diameter::message::Message;
/// use diameter::node::application::{AppBase, Application};
///
/// /// python: `class EchoApp(Application)`
/// struct EchoApp {
///     base: AppBase,
/// }
///
/// impl Application for EchoApp {
///     fn base(&self) -> &AppBase {
///         &self.base
///     }
///     fn handle_request(&self, request: Message) {
///         // answer = self.generate_answer(message, E_RESULT_CODE_DIAMETER_SUCCESS)
///         // self.send_answer(answer)
///         if let Ok(answer) = self.generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None) {
///             let _ = self.send_answer(&answer);
///         }
///     }
/// }
///
/// let app = EchoApp { base: AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION) };
/// assert_eq!(app.base().to_string(), "<Diameter Credit Control Application (4)>");
/// assert!(app.node().is_err()); // not added to a node yet
/// ```
pub trait Application: Send + Sync + 'static {
    /// The application's id, node link and readiness.
    fn base(&self) -> &AppBase;

    /// Called for every request routed to this application, on the event
    /// loop: answer with `self.send_answer(...)`, quickly.
    fn handle_request(&self, request: Message);

    /// Called for answers whose caller stopped waiting (late ones, after a
    /// timeout, within the node's late-answer window).
    fn handle_answer(&self, answer: Message) {
        debug!(target: "diameter.application", "unexpected answer {answer} dropped");
    }

    /// The most requests this application takes at once, when it has such a
    /// bound (a [`ThreadingApplication`](crate::node::app::application::ThreadingApplication):
    /// its `max_threads`); `None` (the default) when it has none. While the
    /// node has more than one connection, it shares a bound of 16 or more
    /// between them: requests from one connection that already holds three
    /// quarters of it, unanswered, get 3004 DIAMETER_TOO_BUSY, so one peer
    /// cannot take all of it. A single connection may use all of it.
    fn request_limit(&self) -> Option<usize> {
        None
    }

    /// Called when the application is added to a node (python's
    /// `app.start()`, which `add_application` calls).
    fn start(&self) {}

    /// Called when the node stops.
    fn stop(&self) {}

    /// [`AppBase::send_request`] on this application.
    fn send_request<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::Answer, ApplicationError>
    where
        Self: Sized,
    {
        self.base().send_request(request, timeout)
    }

    /// [`AppBase::send_request_nowait`] on this application.
    fn send_request_nowait<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<PendingAnswer<R::Answer>, ApplicationError>
    where
        Self: Sized,
    {
        self.base().send_request_nowait(request, timeout)
    }

    /// [`AppBase::send_answer`] on this application.
    fn send_answer<A: OutgoingAnswer + ?Sized>(&self, answer: &A) -> Result<(), ApplicationError>
    where
        Self: Sized,
    {
        self.base().send_answer(answer)
    }

    /// [`AppBase::generate_answer`] on this application.
    fn generate_answer<'a, R: AnswerTo + ?Sized>(
        &self,
        request: &R,
        result_code: impl Into<Option<u32>>,
        error_message: impl Into<Option<&'a str>>,
    ) -> Result<R::Answer, ApplicationError>
    where
        Self: Sized,
    {
        self.base()
            .generate_answer(request, result_code, error_message)
    }

    /// [`AppBase::wait_for_ready`] on this application.
    fn wait_for_ready(&self, timeout: Duration) -> Result<(), ApplicationError>
    where
        Self: Sized,
    {
        self.base().wait_for_ready(timeout)
    }

    /// [`AppBase::node`] on this application.
    fn node(&self) -> Result<NodeRef, ApplicationError>
    where
        Self: Sized,
    {
        self.base().node()
    }

    /// [`AppBase::is_ready`] on this application.
    fn is_ready(&self) -> bool
    where
        Self: Sized,
    {
        self.base().is_ready()
    }
}

/// What an application sees of its node (python's `app.node`): its identity,
/// generators, peers and statistics. Cheap to clone.
#[derive(Clone)]
pub struct NodeRef(pub(crate) Arc<Handle>);

impl NodeRef {
    /// The node's Origin-Host.
    pub fn origin_host(&self) -> String {
        self.0.identity().origin_host.clone()
    }

    /// The node's realm.
    pub fn realm_name(&self) -> String {
        self.0.identity().origin_realm.clone()
    }

    /// The node's Session-Id generator.
    pub fn session_generator(&self) -> Arc<SessionGenerator> {
        self.0.identity().session_generator.clone()
    }

    /// The node's End-to-End identifier sequence.
    pub fn end_to_end_seq(&self) -> Arc<SequenceGenerator> {
        self.0.identity().end_to_end.clone()
    }

    /// The node's configured peers.
    pub fn peers(&self) -> Vec<Arc<Peer>> {
        self.0.peers.read().clone()
    }

    /// The node's statistics now.
    pub fn statistics(&self) -> crate::node::stats::NodeStats {
        node_stats(self.0.peers.read().iter())
    }
}

/// The node's statistics now, from its peers' (each read under its own lock).
pub(crate) fn node_stats<'a>(peers: impl Iterator<Item = &'a Arc<Peer>>) -> NodeStats {
    let snapshots: Vec<crate::node::stats::PeerStats> =
        peers.map(|p| p.statistics.lock().clone()).collect();
    NodeStats::from_peers(&snapshots, crate::node::stats::unix_secs())
}
