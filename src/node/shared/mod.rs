//! The only seam between threads: what application code (any thread) and
//! the event loop share. Application threads route and encode requests
//! themselves and hand them to the loop as [`Command`]s through one bounded
//! channel, waking it with one `mio::Waker` per batch; answers come back on
//! a one-slot crossbeam channel each calling thread reuses, the caller
//! parked until the loop signals it (`answer.rs`). Peers, applications and counters live
//! here too, so `add_peer`/`add_application` work before and after start.

pub(crate) mod answer;
mod conn_id;
pub(crate) mod owed;
pub(crate) mod redirect;

pub(crate) use conn_id::{next_conn_id, ConnId};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use crate::node::error::{ApplicationError, NodeError};
use crate::node::peer::{AppId, Peer};
use crate::node::shared::owed::OwedBook;
use crate::node::stats::NodeStats;
use crate::node::{SequenceGenerator, SessionGenerator};

/// Commands waiting for the loop, at most. A full queue blocks application
/// threads that send (backpressure on callers); the loop thread itself never
/// blocks on it: what it cannot queue is dropped and counted.
pub(crate) const COMMAND_QUEUE: usize = 1 << 16;

pub(crate) use crate::node::shared::answer::Reply;

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
    pub applications: RwLock<Vec<AppId>>,
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
    pub relay: Arc<RelayCounters>,
    /// The redirect cache: filled by the loop, read by callers.
    pub redirects: Arc<crate::node::shared::redirect::Shared<Arc<Peer>>>,
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
            applications: RwLock::new(Vec::new()),
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
            redirects: Arc::new(crate::node::shared::redirect::Shared::new(
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
    pub(crate) fn not_running(&self) -> NodeError {
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

#[cfg(any(test, fuzzing))]
/// A one-shot answer channel with no waiting thread behind it (the
/// simulator reads it with `try_recv`).
pub(crate) fn answer_channel() -> (
    Reply,
    Receiver<Result<crate::message::Message, ApplicationError>>,
) {
    Reply::channel()
}

pub(crate) use crate::node::peer::node_stats;
