//! The event loop: mio glue and nothing else. It owns the sockets (one
//! [`Slot`] per connection, under the connection's id as its token), polls,
//! accepts, reads within a budget, writes what the protocol layer queued,
//! drains the command queue and runs timers; every protocol decision is the
//! [`Dispatch`]'s. A panic anywhere in it ends the thread cleanly: waiting
//! callers fail at once and `stop()` reports it.

use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Receiver};
use log::{debug, error, info, warn};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::message::constants::*;
use crate::message::Message;
use crate::node::app::api::{Application, Registry};
use crate::node::app::pool::Handoffs;
use crate::node::config::ListenTransport;
use crate::node::config::NodeConfig;
use crate::node::config::HISTORY_KEPT;
use crate::node::core::conn::ConnId;
use crate::node::core::dispatch::{Action, Delivery, Dispatch, Settle, PANIC_LOG};
use crate::node::core::snapshot::{AppEntry, Snapshot, Tables};
use crate::node::error::NodeError;
use crate::node::idhash::IdMap;
use crate::node::io::feed;
use crate::node::io::setup::{self, ListenSpec};
use crate::node::io::transport::{Inbox, Listener, ReadEnd, Stream};
use crate::node::peer::*;
use crate::node::ratelimit::{self, RateLimit};
use crate::node::shared::{
    count, node_stats, Command, Handle, Life, Link, OutAnswer, COMMAND_QUEUE,
};

const WAKER: Token = Token(0);
/// Listener `i` has token `LISTENER_BASE - i` (connection ids count up from 1).
const LISTENER_BASE: usize = usize::MAX;
const READ_CHUNK: usize = 64 * 1024;
/// Accepts per listener per turn; the rest wait for the next turn.
const ACCEPTS_PER_TURN: usize = 256;
/// How long a listener rests after running out of descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

static ACCEPT_LOG: RateLimit = RateLimit::new("diameter.connection");
static CONNECT_LOG: RateLimit = RateLimit::new("diameter.connection");

/// The running loop's thread and listeners.
pub(crate) struct Started {
    pub thread: JoinHandle<()>,
    pub local_addrs: Vec<(ListenTransport, SocketAddr)>,
}

/// A connection's socket and its readiness bookkeeping.
struct Slot {
    stream: Stream,
    /// Registered for writable events.
    writable: bool,
    /// Not read until its output drains (backpressure).
    paused: bool,
    /// Read again without waiting for an event (budget spent, resumed,
    /// or TLS just started).
    read_again: bool,
}

/// How long the loop keeps polling without sleeping after a turn with
/// events when answers or requests are due soon (see `Loop::run`).
const BUSY_POLL: Duration = Duration::from_micros(50);

/// A yield longer than this means another thread wanted the core: polling
/// stops.
const YIELD_BUSY: Duration = Duration::from_micros(10);

impl Slot {
    fn new(stream: Stream, writable: bool) -> Slot {
        Slot {
            stream,
            writable,
            paused: false,
            read_again: false,
        }
    }

    /// Registers for writable events or stops, when that changes.
    fn set_writable(&mut self, registry: &mio::Registry, id: ConnId, want: bool) {
        if want == self.writable {
            return;
        }
        let interest = match want {
            true => Interest::READABLE | Interest::WRITABLE,
            false => Interest::READABLE,
        };
        let token = Token(id as usize);
        if registry
            .reregister(self.stream.source(), token, interest)
            .is_ok()
        {
            self.writable = want;
        }
    }
}

struct Loop {
    poll: Poll,
    listeners: Vec<(Listener, Option<Instant>)>,
    slots: IdMap<ConnId, Slot>,
    dispatch: Dispatch,
    commands: Receiver<Command>,
    handle: Arc<Registry>,
    config: Arc<NodeConfig>,
    inbox: Inbox,
    /// The jobs this thread hands to worker pools.
    handoffs: Handoffs,
    /// The applications, at the indexes of the core's snapshot.
    apps: Vec<Arc<dyn Application>>,
}

/// The counters and tables the core shares with the other threads.
fn tables(handle: &Handle) -> Tables {
    Tables {
        counters: handle.counters.clone(),
        relay: handle.relay.clone(),
        transport: handle.transport.clone(),
        owed: handle.owed.clone(),
    }
}

/// What the core must know of the shared record (peers, applications,
/// routes, proxy handlers, identity), read under its locks, and the
/// applications at the same indexes as the snapshot's.
fn snapshot(handle: &Registry) -> (Snapshot, Vec<Arc<dyn Application>>) {
    let routes = handle.apps.read();
    let apps: Vec<Arc<dyn Application>> = routes.iter().map(|r| r.app.clone()).collect();
    let entries = routes
        .iter()
        .map(|r| AppEntry {
            id: r.app.base().app_id(),
            peers: r.peers.clone(),
            realms: r.realms.clone(),
            // user code: a panic is no bound
            limit: catch_unwind(AssertUnwindSafe(|| r.app.request_limit())).unwrap_or(None),
        })
        .collect();
    let snapshot = Snapshot {
        identity: handle.identity(),
        peers: handle.peers.read().clone(),
        apps: entries,
        applications: handle.applications.read().clone(),
        routes: handle.routes.read().clone(),
        proxy_handlers: handle.proxy_handlers.read().clone(),
    };
    (snapshot, apps)
}

/// Binds the listeners (errors come back to `start()`), links the handle
/// to the loop, then runs the loop on its own thread.
pub(crate) fn spawn(
    config: Arc<NodeConfig>,
    listen: &[ListenSpec],
    handle: Arc<Registry>,
) -> Result<Started, NodeError> {
    let poll = Poll::new().map_err(NodeError::EventLoop)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(NodeError::EventLoop)?);
    let (listeners, local_addrs) =
        setup::bind_all(poll.registry(), listen, |i| Token(LISTENER_BASE - i))?;
    let listeners = listeners.into_iter().map(|l| (l, None)).collect();
    let (tx, rx) = bounded(COMMAND_QUEUE);
    let link = Link {
        commands: tx,
        leftovers: rx.clone(),
        waker,
        loop_thread: OnceLock::new(),
    };
    if handle.link.set(link).is_err() {
        return Err(NodeError::AlreadyStarted);
    }
    // running first: what callers add from now on comes as a command,
    // and the snapshot read next has all that came before
    handle.set_life(Life::Running);
    let (snapshot, apps) = snapshot(&handle);
    let dispatch = Dispatch::new(Instant::now(), config.clone(), tables(&handle), snapshot);
    let mut lp = Loop {
        poll,
        listeners,
        slots: IdMap::default(),
        dispatch,
        commands: rx,
        handle: handle.clone(),
        config,
        inbox: Inbox::new(READ_CHUNK),
        handoffs: Handoffs::new(handle.handoffs.clone()),
        apps,
    };
    let thread = std::thread::Builder::new()
        .name("diameter-node".into())
        .spawn(move || {
            if let Some(link) = lp.handle.link.get() {
                let _ = link.loop_thread.set(std::thread::current().id());
            }
            let handle = lp.handle.clone();
            // a bug must not leave callers waiting out their timeouts: the
            // loop's tables (and every caller's answer channel) drop below,
            // once the node is marked dead so that callers say why
            if catch_unwind(AssertUnwindSafe(|| lp.run())).is_err() {
                handle.set_life(Life::Died);
                error!(target: "diameter.node", "the event loop died; pending requests failed");
            }
            handle.fail_queued();
            drop(lp);
        })
        .map_err(NodeError::EventLoop)?;
    Ok(Started {
        thread,
        local_addrs,
    })
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut touched: Vec<ConnId> = Vec::new();
        // after a turn with work, the loop polls without sleeping for a
        // moment (yielding the core between polls): the next request or the
        // answer a worker is computing usually comes within it, and is then
        // taken without a wake-up
        let mut spin_until: Option<Instant> = None;
        // jobs this thread queues to a busy pool of quick handlers may wait
        // for a running worker: the loop comes back to them below
        self.handoffs.serve_this_thread();
        loop {
            self.carry_out_and_write(&mut touched);
            let timeout = self.poll_timeout(&mut spin_until);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    error!(target: "diameter.node", "poll failed: {e}");
                    break;
                }
            }
            let now = Instant::now();
            if !events.is_empty() {
                spin_until = None;
            }
            self.handle_events(now, &events, &mut touched);
            self.settle_turn(now, &mut touched);
            self.handoffs.check(now);
            if self.dispatch.is_done(now) {
                break;
            }
            if !events.is_empty() && self.next_event_is_near() {
                spin_until = now.checked_add(BUSY_POLL);
            }
        }
        self.close_down();
    }

    /// Carries out what the core decided (connects, TLS starts, user code)
    /// and writes what that queued (a 5012 answer, a forwarded request)
    /// before the loop sleeps.
    fn carry_out_and_write(&mut self, touched: &mut Vec<ConnId>) {
        let turn = Instant::now();
        self.do_actions(turn);
        self.carry_out(turn);
        self.dispatch.take_dirty(touched);
        for id in touched.drain(..) {
            self.settle(turn, id);
        }
    }

    /// How long the next poll may sleep: not at all while a connection has
    /// more to read or the loop spins; else until the next timer.
    fn poll_timeout(&mut self, spin_until: &mut Option<Instant>) -> Option<Duration> {
        let now = Instant::now();
        let busy = self.slots.values().any(|s| s.read_again && !s.paused);
        let mut spinning = spin_until.is_some_and(|t| now < t);
        if spinning && !busy {
            std::thread::yield_now();
            // a yield that took long gave the core to another thread:
            // the machine is busy, and polling would only slow the
            // threads that make the next event; sleep instead
            if now.elapsed() > YIELD_BUSY {
                *spin_until = None;
                spinning = false;
            }
        }
        if busy || spinning {
            return Some(Duration::ZERO);
        }
        let accept_retry = self.listeners.iter().filter_map(|(_, at)| *at).min();
        [
            self.dispatch.poll_timeout(),
            accept_retry,
            self.handoffs.deadline(now),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|d| d.saturating_duration_since(now))
    }

    /// The poll's events, listeners due to accept again, and connections
    /// with more to read; the connections touched are noted.
    fn handle_events(&mut self, now: Instant, events: &Events, touched: &mut Vec<ConnId>) {
        for event in events.iter() {
            match event.token() {
                WAKER => self.drain_commands(now),
                Token(t) if t > LISTENER_BASE - self.listeners.len() => {
                    self.accept(now, LISTENER_BASE - t)
                }
                Token(t) => {
                    let id = t as ConnId;
                    self.socket_event(now, id, event.is_readable(), event.is_writable());
                    touched.push(id);
                }
            }
        }
        for i in 0..self.listeners.len() {
            if self.listeners[i].1.is_some_and(|at| at <= now) {
                self.listeners[i].1 = None;
                self.accept(now, i);
            }
        }
        let again: Vec<ConnId> = self
            .slots
            .iter()
            .filter(|(_, s)| s.read_again && !s.paused)
            .map(|(id, _)| *id)
            .collect();
        for id in again {
            self.read(now, id);
            touched.push(id);
        }
    }

    /// Timers, then what the core decided, then every connection touched
    /// this turn is written and its readiness interest set (twice: settling
    /// may move requests elsewhere, a write failed and they failed over,
    /// and those are written now, not at the next wake-up).
    fn settle_turn(&mut self, now: Instant, touched: &mut Vec<ConnId>) {
        self.dispatch.handle_timeout(now, touched);
        self.carry_out(now);
        self.dispatch.take_dirty(touched);
        touched.sort_unstable();
        touched.dedup();
        for id in touched.drain(..) {
            self.settle(now, id);
        }
        self.dispatch.take_dirty(touched);
        for id in touched.drain(..) {
            self.settle(now, id);
        }
    }

    /// Whether, after a turn with events, the loop had better poll than
    /// sleep: what it waits for comes within microseconds (answers from
    /// quick handlers, answers from peers to requests sent or relayed, or,
    /// with at most one request in flight, the next request; cheapest
    /// checks first, the last walks the connections). A wake-up costs more
    /// than the polling (yielding the core between polls, so that the
    /// threads that do the work run).
    fn next_event_is_near(&mut self) -> bool {
        self.handoffs.quick_jobs_in_hand()
            || self.dispatch.awaiting_answers()
            || self.dispatch.at_most_one_in_flight()
    }

    /// The loop ends: the core says goodbye (DPR where it can), the
    /// applications stop, every socket and listener is closed.
    fn close_down(&mut self) {
        let now = Instant::now();
        self.dispatch.shutdown(now);
        self.carry_out(now);
        self.handle.stop_applications();
        self.dispatch.finish();
        for (_, mut slot) in self.slots.drain() {
            let _ = self.poll.registry().deregister(slot.stream.source());
            slot.stream.shutdown();
        }
        for (mut l, _) in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(l.source());
        }
        self.handle.set_life(Life::Stopped);
    }

    fn drain_commands(&mut self, now: Instant) {
        self.handle.clear_wake();
        while let Ok(cmd) = self.commands.try_recv() {
            if matches!(
                cmd,
                Command::PeerAdded(_) | Command::ApplicationsChanged | Command::RoutesChanged
            ) {
                let (snapshot, apps) = snapshot(&self.handle);
                self.dispatch.set_snapshot(snapshot);
                self.apps = apps;
            }
            self.dispatch.command(now, cmd);
        }
    }

    /// Carries out what the core asked for besides writing: user code
    /// (each call behind `catch_unwind`), peers' records, the
    /// applications' readiness, log lines, the statistics history. What
    /// that queues for writing is settled by the caller.
    fn carry_out(&mut self, now: Instant) {
        let mut ready = false;
        let mut wall: Option<SystemTime> = None;
        while let Some(delivery) = self.dispatch.poll_delivery() {
            match delivery {
                Delivery::Request { app, msg } => self.deliver_request(now, app, msg),
                Delivery::Peer(peer, change) => {
                    // the wall clock, read once per turn
                    let wall = *wall.get_or_insert_with(SystemTime::now);
                    let unix = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                    ready |= peer.apply(change, wall, unix);
                }
                Delivery::ProxyRequest(mut call) => {
                    let (handler, msg) = (&call.handler, &mut call.msg);
                    let verdict = catch_unwind(AssertUnwindSafe(|| handler.handle_request(msg)));
                    self.dispatch.handle_proxy_verdict(now, call, verdict.ok());
                }
                Delivery::ProxyAnswer(mut call) => {
                    let (handler, msg) = (&call.handler, &mut call.msg);
                    let panicked =
                        catch_unwind(AssertUnwindSafe(|| handler.handle_answer(msg))).is_err();
                    self.dispatch.handle_proxied_answer(call, panicked);
                }
                Delivery::RedirectCache(change) => {
                    self.handle.redirects.with(|c| c.apply(change, Arc::ptr_eq));
                }
                Delivery::Reconnect {
                    peer,
                    after_dpr,
                    generation,
                } => {
                    let settings = peer.settings.lock().clone();
                    match after_dpr {
                        Some(cause) if !settings.always_reconnect => {
                            info!(target: "diameter.node", "{peer}: not reconnecting after DPR (cause {cause})");
                        }
                        _ => self.dispatch.reconnect_after(
                            now,
                            &peer,
                            settings.reconnect_wait,
                            generation,
                        ),
                    }
                }
                Delivery::LateAnswer { app, msg } => {
                    let Some(app) = self.apps.get(app) else {
                        continue;
                    };
                    if catch_unwind(AssertUnwindSafe(|| app.handle_answer(msg))).is_err() {
                        count(&self.handle.counters.callback_panics);
                    }
                }
            }
        }
        if self.dispatch.take_ready_changed() || ready {
            self.handle.update_ready();
        }
        if self.dispatch.take_logs_due() {
            if self.config.peers_logging {
                self.log_peers();
            }
            if self.config.stats_logging {
                self.log_stats();
            }
        }
        if self.dispatch.take_history_due() {
            let stats = node_stats(self.handle.peers.read().iter());
            let mut history = self.handle.history.lock();
            if history.len() >= HISTORY_KEPT {
                history.pop_front();
            }
            history.push_back((SystemTime::now(), stats));
        }
    }

    /// python's `STATS=<json>` line on `diameter.stats`.
    fn log_stats(&self) {
        if !log::log_enabled!(target: "diameter.stats", log::Level::Debug) {
            return;
        }
        let s = node_stats(self.handle.peers.read().iter());
        let ranges: Vec<String> = s
            .sent_result_code_range_counters
            .iter()
            .map(|(k, v)| format!("{k:?}: {}", v[0]))
            .collect();
        debug!(
            target: "diameter.stats",
            "STATS=[{{\"node_name\": {:?}, \"processed_req_per_second_overall\": {}, \"avg_response_time_overall\": {}, \"received_req_counter\": {}, \"sent_result_code_range_counters\": {{{}}}}}]",
            self.handle.identity().origin_host,
            s.processed_req_per_second_overall,
            s.avg_response_time_overall,
            s.received_req_counters[0],
            ranges.join(", ")
        );
    }

    /// python's `PEERS=<json>` line on `diameter.stats`.
    fn log_peers(&self) {
        if !log::log_enabled!(target: "diameter.stats", log::Level::Debug) {
            return;
        }
        let mut out = String::from("PEERS=[");
        for (i, peer) in self.handle.peers.read().iter().enumerate() {
            let st = peer.status.lock();
            let conn = st.connection.as_ref();
            let state = conn.map_or("DISCONNECTED", |c| state_name(c.state));
            let host = conn.map_or("", |c| c.host_identity.as_str());
            let addr = conn
                .and_then(|c| c.remote_address)
                .map(|a| a.to_string())
                .unwrap_or_default();
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!(
                "{{\"node_name\": {:?}, \"host_identity\": {:?}, \"connection\": {:?}, \"state\": {:?}}}",
                peer.node_name, host, addr, state
            ));
        }
        out.push(']');
        debug!(target: "diameter.stats", "{out}");
    }

    /// Hands a request to its application; a handler that panics is
    /// answered 5012.
    fn deliver_request(&mut self, now: Instant, app: usize, msg: Message) {
        let Some(app) = self.apps.get(app).cloned() else {
            return;
        };
        let h = msg.header;
        let id = msg.received_on;
        // what a 5012 answer needs if the handler panics (it takes the
        // request itself)
        let stub = Message::new(
            h,
            msg.find_avp(&[(AVP_SESSION_ID, 0)])
                .into_iter()
                .cloned()
                .collect(),
        );
        if catch_unwind(AssertUnwindSafe(|| app.handle_request(msg))).is_ok() {
            return;
        }
        count(&self.handle.counters.callback_panics);
        ratelimit::warn(
            now,
            &PANIC_LOG,
            format_args!("handle_request panicked for {stub}; answered 5012"),
        );
        let mut answer = app.base().answer_on(
            &self.handle,
            &stub,
            Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY),
            None,
        );
        answer.received_on = id;
        if let Ok(bytes) = answer.as_bytes() {
            self.dispatch.send_answer(
                now,
                OutAnswer {
                    via: id,
                    hop_by_hop: h.hop_by_hop_identifier,
                    end_to_end: h.end_to_end_identifier,
                    bytes,
                    claimed: false,
                },
            );
        }
    }

    fn do_actions(&mut self, now: Instant) {
        while let Some(action) = self.dispatch.poll_action() {
            match action {
                Action::Connect(peer) => self.connect(now, &peer),
                Action::StartTls { conn, server_name } => {
                    let (Some(slot), Some(machine)) =
                        (self.slots.get_mut(&conn), self.dispatch.machine_mut(conn))
                    else {
                        continue;
                    };
                    let clear = machine.take_output();
                    if !setup::start_secure(
                        &self.config,
                        &mut slot.stream,
                        server_name.as_deref(),
                        clear,
                    ) {
                        machine.abort(now, DISCONNECT_REASON_SOCKET_FAIL);
                    }
                    // the other side's handshake may be here already
                    slot.read_again = true;
                    self.dispatch.process(
                        now,
                        conn,
                        &mut crate::node::core::dispatch::NoCertificate,
                    );
                    self.settle(now, conn);
                }
            }
        }
    }

    fn connect(&mut self, now: Instant, peer: &Arc<Peer>) {
        if !self.dispatch.wants_connect(peer) {
            return;
        }
        let (mut stream, addr) = match setup::connect(&self.config, peer) {
            Ok(opened) => opened,
            Err(e) => {
                ratelimit::warn(
                    now,
                    &CONNECT_LOG,
                    format_args!("{peer}: cannot connect: {e}"),
                );
                return self.dispatch.connect_failed(now, peer);
            }
        };
        let connect_timeout = peer.settings.lock().connect_timeout;
        let id = self.dispatch.outgoing(now, peer, addr, connect_timeout);
        let interest = Interest::READABLE | Interest::WRITABLE;
        let token = Token(id as usize);
        if let Err(e) = self
            .poll
            .registry()
            .register(stream.source(), token, interest)
        {
            warn!(target: "diameter.connection", "{peer}: cannot register socket: {e}");
            return self.dispatch.remove(now, id, DISCONNECT_REASON_SOCKET_FAIL);
        }
        debug!(target: "diameter.connection", "{peer}: connecting to {addr}");
        self.slots.insert(id, Slot::new(stream, true));
    }

    fn accept(&mut self, now: Instant, index: usize) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some((listener, _)) = self.listeners.get(index) else {
                return;
            };
            let a = match setup::accept(&self.config, listener) {
                Ok(Some(accepted)) => accepted,
                Ok(None) => continue, // TLS could not start: closed at once
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    count(&self.handle.counters.accept_errors);
                    ratelimit::warn(now, &ACCEPT_LOG, format_args!("accept failed: {e}"));
                    if setup::out_of_resources(&e) {
                        // edge-triggered: nobody will say the backlog still
                        // waits, so come back on a timer
                        self.listeners[index].1 = Some(now + ACCEPT_BACKOFF);
                        return;
                    }
                    continue;
                }
            };
            let mut stream = a.stream;
            let (tls, max_send) = (stream.can_start_tls(), stream.max_send_message());
            let id = self.dispatch.incoming(
                now,
                a.remote,
                a.remote_ips,
                &a.local_ips,
                a.secure,
                tls,
                max_send,
            );
            let Some((id, evict)) = id else {
                continue; // refused: closed at once
            };
            if let Some(old) = evict {
                // an older connection still without CER makes room
                self.close(now, old, DISCONNECT_REASON_FAILED_CONNECT_CE);
            }
            let interest = Interest::READABLE;
            if let Err(e) =
                self.poll
                    .registry()
                    .register(stream.source(), Token(id as usize), interest)
            {
                warn!(target: "diameter.connection", "cannot register {}: {e}", a.remote);
                self.dispatch.remove(now, id, DISCONNECT_REASON_SOCKET_FAIL);
                continue;
            }
            debug!(target: "diameter.connection", "accepted {}", a.remote);
            self.slots.insert(id, Slot::new(stream, false));
        }
        // more may wait: the next turn takes them
        self.listeners[index].1 = Some(now);
    }

    fn socket_event(&mut self, now: Instant, id: ConnId, readable: bool, writable: bool) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if self.dispatch.machine_mut(id).is_none() {
            if writable || readable {
                self.connect_done(now, id);
            }
            return;
        }
        if readable {
            if slot.paused {
                slot.read_again = true;
            } else {
                self.read(now, id);
            }
        }
    }

    /// An outgoing connect finished, one way or the other.
    fn connect_done(&mut self, now: Instant, id: ConnId) {
        // applications added meanwhile (their command may be queued still)
        // are in the CER
        self.drain_commands(now);
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        let local = match setup::finish_connect(&slot.stream) {
            Ok(Some(local)) => local,
            Ok(None) => return, // still connecting
            Err(e) => {
                ratelimit::warn(now, &CONNECT_LOG, format_args!("connect failed: {e}"));
                return self.close(now, id, DISCONNECT_REASON_FAILED_CONNECT);
            }
        };
        let (tls, max_send) = (slot.stream.can_start_tls(), slot.stream.max_send_message());
        if let Some(name) = self.dispatch.connected(now, id, &local, tls, max_send) {
            // aaas://: the CER goes through TLS
            if !setup::start_secure(&self.config, &mut slot.stream, Some(&name), Vec::new()) {
                if let Some(m) = self.dispatch.machine_mut(id) {
                    m.abort(now, DISCONNECT_REASON_FAILED_CONNECT);
                }
                self.dispatch
                    .process(now, id, &mut crate::node::core::dispatch::NoCertificate);
            }
        }
    }

    fn read(&mut self, now: Instant, id: ConnId) {
        let (Some(slot), Some(machine)) = (self.slots.get_mut(&id), self.dispatch.machine_mut(id))
        else {
            return;
        };
        // messages held while the output was at its bound come first
        machine.resume(now);
        let handshaking = slot.stream.tls_handshaking();
        let end = feed::read(
            &mut slot.stream,
            machine,
            &mut self.inbox,
            now,
            self.config.limits.read_budget,
        );
        slot.read_again = matches!(end, ReadEnd::More);
        match end {
            ReadEnd::WouldBlock | ReadEnd::More => {}
            ReadEnd::Closed => machine.handle_transport_closed(now, DISCONNECT_REASON_GONE_AWAY),
            ReadEnd::Failed(e) if handshaking => {
                debug!(target: "diameter.connection", "TLS handshake failed: {e}");
                self.dispatch.tls_failed(now, id);
            }
            ReadEnd::IdentityMismatch(e) => {
                debug!(target: "diameter.connection", "{e}");
                self.dispatch.identity_mismatch(now, id);
            }
            ReadEnd::Failed(e) => {
                debug!(target: "diameter.connection", "read failed: {e}");
                machine.handle_transport_closed(now, DISCONNECT_REASON_SOCKET_FAIL);
            }
        }
        self.dispatch
            .process(now, id, &mut setup::StreamCertificate(&mut slot.stream));
    }

    /// Writes what the connection queued; then keeps it (with the right
    /// interest and read pause), or closes it.
    fn settle(&mut self, now: Instant, id: ConnId) {
        let Some(slot) = self.slots.get_mut(&id) else {
            // a connection the protocol layer still has without a socket
            self.dispatch.remove(now, id, DISCONNECT_REASON_SOCKET_FAIL);
            return;
        };
        let mut write_failed = false;
        if let Some(machine) = self.dispatch.machine_mut(id) {
            if let Err(e) = slot.stream.flush(machine) {
                debug!(target: "diameter.connection", "write failed: {e}");
                write_failed = true;
            }
        }
        match self.dispatch.settle(now, id, write_failed) {
            Settle::Close(reason) => self.close(now, id, reason),
            Settle::Keep {
                want_write,
                read_paused,
            } => {
                let want_write = want_write
                    || self
                        .dispatch
                        .machine_mut(id)
                        .is_some_and(|m| slot.stream.wants_write(m));
                if read_paused && !slot.paused {
                    slot.paused = true;
                    self.dispatch.note_paused();
                } else if slot.paused && !read_paused && self.dispatch.may_resume(id) {
                    slot.paused = false;
                    slot.read_again = true;
                }
                slot.set_writable(self.poll.registry(), id, want_write);
            }
        }
    }

    fn close(&mut self, now: Instant, id: ConnId, reason: u8) {
        if let Some(mut slot) = self.slots.remove(&id) {
            let _ = self.poll.registry().deregister(slot.stream.source());
            slot.stream.shutdown();
        }
        self.dispatch.remove(now, id, reason);
    }
}
