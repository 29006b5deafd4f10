//! The event loop: the only code that touches sockets. One mio `Poll` owns
//! the listeners and every connection; other threads hand work over through a
//! crossbeam channel and wake the loop with a `mio::Waker`. Timers come from
//! the connections' own deadlines, so the loop sleeps until something is due.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{unbounded, Receiver, Sender};
use log::{debug, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use super::application::ApplicationError;
use super::checks;
use super::ids::random_u64;
use super::node::{unix_secs, NodeError, Shared};
use super::peer::*;
use super::retransmit::RetransmitCache;
use super::transport::sctp_sys::SctpSocket;
use super::transport::{Listener, ReadEnd, Stream};
use super::SequenceGenerator;
use crate::message::constants::*;

const WAKER: Token = Token(0);
const FIRST_LISTENER: usize = 1;
const FIRST_CONN: usize = 1024;
const READ_CHUNK: usize = 64 * 1024;
/// Most requests handed to applications and not answered yet.
const MAX_OWED_ANSWERS: usize = 1 << 20;
/// How often a statistics snapshot goes into the history (python: 60 s).
const HISTORY_INTERVAL: Duration = Duration::from_secs(60);
/// How many snapshots the history keeps (python: 1,440, a day).
const HISTORY_KEPT: usize = 1440;
/// How often `peers_logging` writes the peer table.
const PEERS_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// Most bytes of answers remembered per peer for retransmissions.
const RETRANSMIT_BYTES_PER_PEER: usize = 16 << 20;
/// How long a closed connection may take to write its last bytes.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

/// Work handed to the loop by other threads.
pub(crate) enum Command {
    /// Send an encoded request to a peer.
    SendRequest {
        peer: Arc<Peer>,
        hop_by_hop: u32,
        bytes: Vec<u8>,
    },
    /// Send an encoded answer back where its request came from.
    SendAnswer {
        hop_by_hop: u32,
        end_to_end: u32,
        bytes: Vec<u8>,
    },
    /// Stop the node.
    Stop {
        wait_timeout: Duration,
        force: bool,
        done: Sender<()>,
    },
}

/// Everything the loop needs from the node's configuration.
pub(crate) struct LoopConfig {
    pub origin_host: String,
    pub origin_realm: String,
    pub host_ip_addresses: Vec<std::net::IpAddr>,
    pub vendor_id: u32,
    pub product_name: String,
    pub firmware_revision: Option<u32>,
    pub origin_state_id: u32,
    pub supported_vendor_ids: Vec<u32>,
    pub applications: Vec<AppId>,
    pub cea_timeout: Duration,
    pub cer_timeout: Duration,
    pub dwa_timeout: Duration,
    pub idle_timeout: Duration,
    pub dpa_timeout: Duration,
    pub max_message_size: u32,
    pub retransmit_queue_size: usize,
    pub peers_logging: bool,
    pub stats_logging: bool,
    pub max_connections: usize,
    pub accept_unknown_peers: bool,
    pub validate_received_request_avps: bool,
    pub peers: Vec<Arc<Peer>>,
    pub end_to_end: Arc<SequenceGenerator>,
    /// Inband-Security-Id values offered on cleartext TCP connections.
    pub inband_security: Vec<u32>,
    /// Local addresses an SCTP association binds (all of them: multi-homing).
    pub sctp_local: Vec<std::net::IpAddr>,
    /// Certificates and trust for TLS connections.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<super::transport::tls::TlsContext>>,
    /// Transport failure counters.
    pub transport_counters: Arc<super::node::TransportCounters>,
}

/// A listening socket to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListenSpec {
    /// TCP on one address.
    Tcp(SocketAddr),
    /// TLS/TCP (TLS from the first byte) on one address.
    Tls(SocketAddr),
    /// One SCTP socket bound to all these addresses (same port).
    Sctp(Vec<SocketAddr>),
}

pub(crate) struct Started {
    pub commands: Sender<Command>,
    pub waker: Arc<Waker>,
    pub thread: JoinHandle<()>,
    pub local_addrs: Vec<(super::node::ListenTransport, SocketAddr)>,
}

struct Conn {
    stream: Stream,
    /// TLS from the first byte (`aaas://`, or accepted on the TLS port).
    secure: bool,
    machine: Option<Connection>,
    connect_deadline: Option<Instant>,
    flush_deadline: Option<Instant>,
    peer: Option<Arc<Peer>>,
    direction: u8,
    remote: SocketAddr,
    writable: bool,
}

struct Loop {
    poll: Poll,
    listeners: Vec<Listener>,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    commands: Receiver<Command>,
    config: LoopConfig,
    local: Arc<LocalCapabilities>,
    reconnect_at: HashMap<String, Instant>,
    stopping: Option<(Instant, Option<Sender<()>>)>,
    retransmit: RetransmitCache,
    shared: Arc<Shared>,
    /// Requests handed to applications: (hop-by-hop, end-to-end) -> the
    /// connection and Origin-Host to answer.
    owed: HashMap<(u32, u32), Owed>,
    /// The ready connection of each peer (by `Arc` address), last seen.
    ready_conn: HashMap<usize, Token>,
    next_peers_log: Instant,
    next_history: Instant,
    buf: Vec<u8>,
}

/// Binds the listeners (errors come back to `start()`), then runs the loop
/// on its own thread.
pub(crate) fn spawn(
    config: LoopConfig,
    listen: &[ListenSpec],
    shared: Arc<Shared>,
) -> Result<Started, NodeError> {
    let poll = Poll::new().map_err(NodeError::EventLoop)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(NodeError::EventLoop)?);
    let mut listeners = Vec::new();
    let mut local_addrs = Vec::new();
    for (i, spec) in listen.iter().enumerate() {
        let mut l = match spec {
            ListenSpec::Tcp(addr) | ListenSpec::Tls(addr) => Listener::Tcp {
                socket: TcpListener::bind(*addr).map_err(|source| NodeError::Listen {
                    addr: *addr,
                    source,
                })?,
                secure: matches!(spec, ListenSpec::Tls(_)),
            },
            ListenSpec::Sctp(addrs) => {
                let first = addrs
                    .first()
                    .copied()
                    .unwrap_or_else(|| SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0));
                Listener::Sctp(SctpSocket::listen(addrs, 1024).map_err(|source| {
                    NodeError::Listen {
                        addr: first,
                        source,
                    }
                })?)
            }
        };
        poll.registry()
            .register(l.source(), Token(FIRST_LISTENER + i), Interest::READABLE)
            .map_err(NodeError::EventLoop)?;
        let kind = match spec {
            ListenSpec::Tcp(_) => super::node::ListenTransport::Tcp,
            ListenSpec::Tls(_) => super::node::ListenTransport::Tls,
            ListenSpec::Sctp(_) => super::node::ListenTransport::Sctp,
        };
        for addr in l.local_addrs().map_err(NodeError::EventLoop)? {
            local_addrs.push((kind, addr));
        }
        listeners.push(l);
    }
    let local = Arc::new(LocalCapabilities {
        origin_host: config.origin_host.clone(),
        origin_realm: config.origin_realm.clone(),
        host_ip_addresses: config.host_ip_addresses.clone(),
        vendor_id: config.vendor_id,
        product_name: config.product_name.clone(),
        firmware_revision: config.firmware_revision,
        origin_state_id: config.origin_state_id,
        supported_vendor_ids: config.supported_vendor_ids.clone(),
        applications: config.applications.clone(),
        inband_security: Vec::new(),
    });
    let retransmit_size = config.retransmit_queue_size;
    let (tx, rx) = unbounded();
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let mut lp = Loop {
        poll,
        listeners,
        conns: HashMap::new(),
        next_token: FIRST_CONN,
        commands: rx,
        config,
        local,
        reconnect_at: HashMap::new(),
        stopping: None,
        retransmit: RetransmitCache::new(retransmit_size, RETRANSMIT_BYTES_PER_PEER),
        shared,
        owed: HashMap::new(),
        ready_conn: HashMap::new(),
        next_peers_log: Instant::now(),
        next_history: Instant::now() + HISTORY_INTERVAL,
        buf: vec![0; READ_CHUNK],
    };
    let thread = std::thread::Builder::new()
        .name("diameter-node".into())
        .spawn(move || {
            let _ = ready_tx.send(());
            lp.run();
        })
        .map_err(NodeError::EventLoop)?;
    let _ = ready_rx.recv();
    Ok(Started {
        commands: tx,
        waker,
        thread,
        local_addrs,
    })
}

impl Loop {
    fn run(&mut self) {
        let now = Instant::now();
        for peer in self.config.peers.clone() {
            if peer.persistent {
                self.connect(now, &peer);
            }
        }
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(target: "diameter.node", "poll failed: {e}");
                    break;
                }
            }
            let now = Instant::now();
            let mut touched = Vec::new();
            for event in events.iter() {
                match event.token() {
                    WAKER => {
                        self.shared
                            .wake_pending
                            .store(false, std::sync::atomic::Ordering::Release);
                        self.drain_commands(now, &mut touched)
                    }
                    Token(t) if t < FIRST_CONN => self.accept(now, t - FIRST_LISTENER),
                    token => {
                        self.socket_event(now, token, event.is_readable(), event.is_writable());
                        touched.push(token);
                    }
                }
            }
            self.run_timers(now, &mut touched);
            touched.sort_unstable();
            touched.dedup();
            for token in touched {
                self.settle(now, token);
            }
            if (self.config.peers_logging || self.config.stats_logging)
                && now >= self.next_peers_log
            {
                self.next_peers_log = now + PEERS_LOG_INTERVAL;
                if self.config.peers_logging {
                    self.log_peers();
                }
                if self.config.stats_logging {
                    self.log_stats();
                }
            }
            if now >= self.next_history {
                self.next_history = now + HISTORY_INTERVAL;
                let stats = self.node_stats();
                let mut history = self.shared.history.lock();
                if history.len() == HISTORY_KEPT {
                    history.pop_front();
                }
                history.push_back((SystemTime::now(), stats));
            }
            if let Some((deadline, _)) = &self.stopping {
                if self.conns.is_empty() || *deadline <= now {
                    break;
                }
            }
        }
        self.shutdown();
    }

    fn node_stats(&self) -> super::stats::NodeStats {
        super::node::node_stats(self.config.peers.iter())
    }

    /// python's `STATS=<json>` line on `diameter.stats`.
    fn log_stats(&self) {
        if !log::log_enabled!(target: "diameter.stats", log::Level::Debug) {
            return;
        }
        let s = self.node_stats();
        let ranges: Vec<String> = s
            .sent_result_code_range_counters
            .iter()
            .map(|(k, v)| format!("{k:?}: {}", v[0]))
            .collect();
        debug!(
            target: "diameter.stats",
            "STATS=[{{\"node_name\": {:?}, \"processed_req_per_second_overall\": {}, \"avg_response_time_overall\": {}, \"received_req_counter\": {}, \"sent_result_code_range_counters\": {{{}}}}}]",
            self.config.origin_host,
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
        for (i, peer) in self.config.peers.iter().enumerate() {
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

    fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().flat_map(|c| {
            [
                c.machine.as_ref().and_then(Connection::poll_timeout),
                c.connect_deadline,
                c.flush_deadline,
            ]
        });
        let reconnects = if self.stopping.is_some() {
            None
        } else {
            self.reconnect_at.values().min().copied()
        };
        let peers_log =
            (self.config.peers_logging || self.config.stats_logging).then_some(self.next_peers_log);
        conns
            .chain([
                reconnects,
                self.stopping.as_ref().map(|(d, _)| *d),
                peers_log,
                Some(self.next_history),
            ])
            .flatten()
            .min()
    }

    fn drain_commands(&mut self, now: Instant, touched: &mut Vec<Token>) {
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Command::Stop {
                    wait_timeout,
                    force,
                    done,
                } => self.begin_stop(now, wait_timeout, force, done),
                Command::SendRequest {
                    peer,
                    hop_by_hop,
                    bytes,
                } => {
                    let sent = match self.connection_of(&peer) {
                        Some(token) => {
                            match self.conns.get_mut(&token).and_then(|c| c.machine.as_mut()) {
                                Some(m) => {
                                    touched.push(token);
                                    m.send_bytes(&bytes, true).map_err(|e| e.to_string())
                                }
                                None => Err("not connected".to_owned()),
                            }
                        }
                        None => Err("not connected".to_owned()),
                    };
                    if let Err(why) = sent {
                        if let Some(p) = self.shared.pending.lock().remove(&hop_by_hop) {
                            let _ = p
                                .tx
                                .send(Err(ApplicationError::EmptyAnswer(format!("{peer}: {why}"))));
                        }
                    }
                }
                Command::SendAnswer {
                    hop_by_hop,
                    end_to_end,
                    bytes,
                } => {
                    let Some(Owed {
                        token,
                        origin,
                        received,
                        command_code,
                    }) = self.owed.remove(&(hop_by_hop, end_to_end))
                    else {
                        debug!(target: "diameter.node", "answer {hop_by_hop:#x} has no request to answer, dropped");
                        continue;
                    };
                    let Some(conn) = self.conns.get_mut(&token) else {
                        continue;
                    };
                    if let Some(m) = conn.machine.as_mut() {
                        if m.send_bytes(&bytes, false).is_ok() {
                            touched.push(token);
                            self.retransmit.remember(&origin, end_to_end, &bytes);
                            if let Some(peer) = &conn.peer {
                                record_answer(
                                    peer,
                                    command_code,
                                    now.saturating_duration_since(received),
                                    &bytes,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// The peer's ready connection, else any connection of the peer. The
    /// ready one is remembered, so a request does not scan every connection;
    /// a remembered token is used only while it still is that.
    fn connection_of(&mut self, peer: &Arc<Peer>) -> Option<Token> {
        let key = Arc::as_ptr(peer) as usize;
        let is_peers = |c: &Conn| c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer));
        let ready = |c: &Conn| c.machine.as_ref().is_some_and(Connection::is_ready);
        if let Some(token) = self.ready_conn.get(&key) {
            if self
                .conns
                .get(token)
                .is_some_and(|c| is_peers(c) && ready(c))
            {
                return Some(*token);
            }
        }
        let (token, conn) = self
            .conns
            .iter()
            .filter(|(_, c)| is_peers(c))
            .max_by_key(|(_, c)| ready(c))?;
        if ready(conn) {
            self.ready_conn.insert(key, *token);
        }
        Some(*token)
    }

    fn begin_stop(&mut self, now: Instant, wait_timeout: Duration, force: bool, done: Sender<()>) {
        info!(target: "diameter.node", "stopping");
        self.stopping = Some((now + wait_timeout, Some(done)));
        self.reconnect_at.clear();
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            if let Some(conn) = self.conns.get_mut(&token) {
                match conn.machine.as_mut() {
                    Some(m) if force => m.abort(now, DISCONNECT_REASON_NODE_SHUTDOWN),
                    Some(m) => m.disconnect(now, E_DISCONNECT_CAUSE_REBOOTING),
                    None => conn.connect_deadline = Some(now),
                }
            }
            self.settle(now, token);
        }
    }

    fn shutdown(&mut self) {
        let now = Instant::now();
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            if let Some(conn) = self.conns.get_mut(&token) {
                if let Some(m) = conn.machine.as_mut() {
                    m.abort(now, DISCONNECT_REASON_NODE_SHUTDOWN);
                }
            }
            self.handle_events(now, token);
            self.remove(token, DISCONNECT_REASON_NODE_SHUTDOWN);
        }
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(l.source());
        }
        self.shared.fail_pending(None, "node stopped");
        for route in self.shared.apps.read().iter() {
            route.app.stop();
        }
        if let Some((_, Some(done))) = self.stopping.take() {
            let _ = done.send(());
        }
        info!(target: "diameter.node", "stopped");
    }

    fn connection_config(&self, peer: Option<&Peer>) -> ConnectionConfig {
        let s = peer.map(|p| p.settings.lock().clone()).unwrap_or_default();
        ConnectionConfig {
            cea_timeout: s.cea_timeout.unwrap_or(self.config.cea_timeout),
            cer_timeout: s.cer_timeout.unwrap_or(self.config.cer_timeout),
            dwa_timeout: s.dwa_timeout.unwrap_or(self.config.dwa_timeout),
            idle_timeout: s.idle_timeout.unwrap_or(self.config.idle_timeout),
            dpa_timeout: self.config.dpa_timeout,
            max_message_size: self.config.max_message_size,
            ..ConnectionConfig::default()
        }
    }

    /// The capabilities for a connection on `stream`: the node's, with the
    /// socket's addresses when none are configured, offering in-band TLS
    /// only on cleartext TCP connections that can start it.
    fn local_for(
        config: &LoopConfig,
        local: &Arc<LocalCapabilities>,
        stream: &Stream,
        secure: bool,
    ) -> Arc<LocalCapabilities> {
        let inband = !secure && stream.can_start_tls() && !config.inband_security.is_empty();
        if !inband && !local.host_ip_addresses.is_empty() {
            return local.clone();
        }
        let mut caps = (**local).clone();
        if inband {
            caps.inband_security = config.inband_security.clone();
        }
        if caps.host_ip_addresses.is_empty() {
            let mut ips: Vec<std::net::IpAddr> =
                stream.local_addrs().iter().map(SocketAddr::ip).collect();
            ips.dedup();
            caps.host_ip_addresses = ips;
        }
        Arc::new(caps)
    }

    /// A stream for a new TCP connection: able to start TLS when the node
    /// has certificates (TLS from the first byte, or in-band).
    fn tcp_stream(&self, tcp: mio::net::TcpStream) -> Stream {
        #[cfg(feature = "tls")]
        if let Some(ctx) = &self.config.tls {
            return Stream::tls_capable(tcp, ctx.verify_peer_name());
        }
        Stream::Tcp(tcp)
    }

    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token = self.next_token.wrapping_add(1).max(FIRST_CONN);
        t
    }

    /// Whether a connection other than `except` belongs to `peer`.
    fn has_connection(&self, peer: &Arc<Peer>, except: Option<Token>) -> bool {
        self.conns.iter().any(|(t, c)| {
            Some(*t) != except && c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer))
        })
    }

    fn connect(&mut self, now: Instant, peer: &Arc<Peer>) {
        self.reconnect_at.remove(&peer.node_name);
        if self.has_connection(peer, None) {
            // the peer connected to us meanwhile
            return;
        }
        let Some(ip) = peer.ip_addresses.first() else {
            warn!(target: "diameter.connection", "{peer}: no address to connect to");
            return;
        };
        let addr = SocketAddr::new(*ip, peer.port);
        let connect_timeout = peer.settings.lock().connect_timeout;
        let secure = peer.is_secure;
        let opened = if peer.transport == PEER_TRANSPORT_SCTP {
            let remote: Vec<SocketAddr> = peer
                .ip_addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, peer.port))
                .collect();
            Stream::connect_sctp(
                &self.config.sctp_local,
                &remote,
                self.config.max_message_size as usize,
            )
        } else {
            mio::net::TcpStream::connect(addr).map(|tcp| self.tcp_stream(tcp))
        };
        if secure && !opened.as_ref().is_ok_and(Stream::can_start_tls) {
            warn!(target: "diameter.connection", "{peer}: TLS needs the node's certificates (NodeOptions::tls)");
            self.schedule_reconnect(now, peer, DISCONNECT_REASON_FAILED_CONNECT);
            return;
        }
        match opened {
            Ok(mut stream) => {
                let token = self.token();
                if let Err(e) = self.poll.registry().register(
                    stream.source(),
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    warn!(target: "diameter.connection", "{peer}: cannot register socket: {e}");
                    self.schedule_reconnect(now, peer, DISCONNECT_REASON_SOCKET_FAIL);
                    return;
                }
                debug!(target: "diameter.connection", "{peer}: connecting to {addr}");
                peer.status.lock().connection = Some(PeerConnectionInfo {
                    state: PEER_CONNECTING,
                    direction: PEER_SEND,
                    host_identity: String::new(),
                    host_ip_address: Vec::new(),
                    auth_application_ids: Vec::new(),
                    acct_application_ids: Vec::new(),
                    remote_address: Some(addr),
                });
                self.conns.insert(
                    token,
                    Conn {
                        stream,
                        secure,
                        machine: None,
                        connect_deadline: Some(now + connect_timeout),
                        flush_deadline: None,
                        peer: Some(peer.clone()),
                        direction: PEER_SEND,
                        remote: addr,
                        writable: true,
                    },
                );
            }
            Err(e) => {
                warn!(target: "diameter.connection", "{peer}: connect to {addr} failed: {e}");
                self.schedule_reconnect(now, peer, DISCONNECT_REASON_FAILED_CONNECT);
            }
        }
    }

    fn accept(&mut self, now: Instant, index: usize) {
        let max_message = self.config.max_message_size as usize;
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let accepted = listener.accept(max_message, |tcp| self.tcp_stream(tcp));
            let (mut stream, remote, secure) = match accepted {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(target: "diameter.connection", "accept failed: {e}");
                    return;
                }
            };
            if self.stopping.is_some() {
                continue; // dropped: closed at once
            }
            if self.conns.len() >= self.config.max_connections {
                warn!(target: "diameter.connection", "refusing {remote}: {} connections already", self.conns.len());
                continue;
            }
            if secure && !start_secure(&self.config, &mut stream, None, None) {
                continue;
            }
            let token = self.token();
            if let Err(e) =
                self.poll
                    .registry()
                    .register(stream.source(), token, Interest::READABLE)
            {
                warn!(target: "diameter.connection", "cannot register {remote}: {e}");
                continue;
            }
            debug!(target: "diameter.connection", "accepted {remote}");
            let local = Self::local_for(&self.config, &self.local, &stream, secure);
            let cfg = self.connection_config(None);
            let machine = Connection::new_responder(
                now,
                local,
                cfg,
                self.config.end_to_end.clone(),
                random_u64(),
            );
            self.conns.insert(
                token,
                Conn {
                    stream,
                    secure,
                    machine: Some(machine),
                    connect_deadline: None,
                    flush_deadline: None,
                    peer: None,
                    direction: PEER_RECV,
                    remote,
                    writable: false,
                },
            );
        }
    }

    fn socket_event(&mut self, now: Instant, token: Token, readable: bool, writable: bool) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if conn.machine.is_none() {
            if !(writable || readable) {
                return;
            }
            // a connect finished, one way or the other
            match conn.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    warn!(target: "diameter.connection", "connect to {} failed: {e}", conn.remote);
                    self.remove(token, DISCONNECT_REASON_FAILED_CONNECT);
                    return;
                }
            }
            match conn.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    warn!(target: "diameter.connection", "connect to {} failed: {e}", conn.remote);
                    self.remove(token, DISCONNECT_REASON_FAILED_CONNECT);
                    return;
                }
            }
            conn.stream.set_nodelay();
            conn.connect_deadline = None;
            let peer = conn.peer.clone();
            let remote = conn.remote;
            let secure = conn.secure;
            let local = Self::local_for(&self.config, &self.local, &conn.stream, secure);
            let peer_addrs = conn.stream.peer_addrs();
            let cfg = self.connection_config(peer.as_deref());
            let reopen = peer.as_ref().is_some_and(|p| p.status.lock().reopen);
            let expected = peer.as_ref().map(|p| p.node_name.clone());
            let mut machine = Connection::new_initiator(
                now,
                local,
                cfg,
                self.config.end_to_end.clone(),
                expected,
                reopen,
                random_u64(),
            );
            if let Some(p) = &peer {
                machine.set_counters(p.counters.clone());
                let mut st = p.status.lock();
                if let Some(info) = st.connection.as_mut() {
                    info.state = PEER_CONNECTED;
                }
            }
            debug!(target: "diameter.connection", "connected to {remote} ({peer_addrs:?})");
            if let Some(conn) = self.conns.get_mut(&token) {
                let name = peer.as_ref().map(|p| p.node_name.as_str());
                if secure && !start_secure(&self.config, &mut conn.stream, name, None) {
                    self.remove(token, DISCONNECT_REASON_FAILED_CONNECT);
                    return;
                }
                conn.machine = Some(machine);
            }
            return;
        }
        if readable {
            self.read(now, token);
        }
    }

    fn read(&mut self, now: Instant, token: Token) {
        let received = |c: &Conn| {
            c.peer.as_ref().map_or(0, |p| {
                p.counters
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed)
                    + p.counters
                        .answers
                        .load(std::sync::atomic::Ordering::Relaxed)
            })
        };
        let before = self.conns.get(&token).map_or(0, received);
        self.read_socket(now, token);
        if let Some(conn) = self.conns.get(&token) {
            let delta = received(conn).saturating_sub(before);
            if let (Some(peer), true) = (&conn.peer, delta > 0) {
                peer.statistics.lock().add_received_req(unix_secs(), delta);
            }
        }
    }

    fn read_socket(&mut self, now: Instant, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let Some(machine) = conn.machine.as_mut() else {
            return;
        };
        let handshaking = conn.stream.tls_handshaking();
        match conn.stream.read_into(now, &mut self.buf, machine) {
            ReadEnd::WouldBlock => {}
            ReadEnd::Closed => {
                debug!(target: "diameter.connection", "{} closed the connection", conn.remote);
                machine.handle_transport_closed(now, DISCONNECT_REASON_GONE_AWAY);
            }
            ReadEnd::Failed(e) if handshaking => {
                warn!(target: "diameter.connection", "TLS handshake with {} failed: {e}", conn.remote);
                self.config
                    .transport_counters
                    .tls_handshake_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                machine.handle_transport_closed(now, DISCONNECT_REASON_SOCKET_FAIL);
            }
            ReadEnd::IdentityMismatch(e) => {
                warn!(target: "diameter.connection", "{}: {e}", conn.remote);
                self.config
                    .transport_counters
                    .tls_identity_mismatches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                machine.abort(now, DISCONNECT_REASON_CER_REJECTED);
            }
            ReadEnd::Failed(e) => {
                debug!(target: "diameter.connection", "read from {} failed: {e}", conn.remote);
                machine.handle_transport_closed(now, DISCONNECT_REASON_SOCKET_FAIL);
            }
        }
    }

    fn run_timers(&mut self, now: Instant, touched: &mut Vec<Token>) {
        for (token, conn) in self.conns.iter_mut() {
            let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
            if conn.machine.as_ref().is_some_and(|m| due(m.poll_timeout()))
                || due(conn.connect_deadline)
                || due(conn.flush_deadline)
            {
                if let Some(m) = conn.machine.as_mut() {
                    m.handle_timeout(now);
                }
                touched.push(*token);
            }
        }
        if self.stopping.is_none() {
            let due: Vec<String> = self
                .reconnect_at
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(name, _)| name.clone())
                .collect();
            for name in due {
                if let Some(peer) = self
                    .config
                    .peers
                    .iter()
                    .find(|p| p.node_name == name)
                    .cloned()
                {
                    self.connect(now, &peer);
                }
            }
        }
    }

    /// After anything happened on a connection: act on its events, write its
    /// output, close it when it is done.
    fn settle(&mut self, now: Instant, token: Token) {
        self.handle_events(now, token);
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if conn.machine.is_none() {
            if conn.connect_deadline.is_some_and(|d| d <= now) {
                warn!(target: "diameter.connection", "connect to {} timed out", conn.remote);
                self.remove(token, DISCONNECT_REASON_FAILED_CONNECT);
            }
            return;
        }
        let write_failed = match Self::flush(conn) {
            Ok(()) => false,
            Err(e) => {
                debug!(target: "diameter.connection", "write to {} failed: {e}", conn.remote);
                true
            }
        };
        let Some(machine) = conn.machine.as_mut() else {
            return;
        };
        if write_failed {
            machine.handle_transport_closed(now, DISCONNECT_REASON_SOCKET_FAIL);
            self.handle_events(now, token);
        }
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let Some(machine) = conn.machine.as_ref() else {
            return;
        };
        if machine.state() == State::Closed {
            let reason = machine.close_reason().unwrap_or(DISCONNECT_REASON_UNKNOWN);
            let deadline = *conn.flush_deadline.get_or_insert(now + FLUSH_GRACE);
            if machine.wants_close() || deadline <= now || write_failed {
                self.remove(token, reason);
            }
            return;
        }
        let want_write = conn.stream.wants_write(machine);
        if want_write != conn.writable {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(conn.stream.source(), token, interest)
                .is_ok()
            {
                conn.writable = want_write;
            }
        }
    }

    /// Writes what the connection has queued, until the socket would block.
    fn flush(conn: &mut Conn) -> io::Result<()> {
        let Some(machine) = conn.machine.as_mut() else {
            return Ok(());
        };
        conn.stream.flush(machine)
    }

    fn handle_events(&mut self, now: Instant, token: Token) {
        loop {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            let Some(machine) = conn.machine.as_mut() else {
                return;
            };
            let Some(event) = machine.poll_event() else {
                return;
            };
            match event {
                PeerEvent::CerReceived(remote) => self.decide_cer(now, token, &remote),
                PeerEvent::StartTls => {
                    let name = if machine.is_initiator() {
                        conn.peer.as_ref().map(|p| p.node_name.clone())
                    } else {
                        None
                    };
                    let clear = machine.take_output();
                    if !start_secure(&self.config, &mut conn.stream, name.as_deref(), Some(clear)) {
                        machine.abort(now, DISCONNECT_REASON_SOCKET_FAIL);
                    }
                }
                PeerEvent::Opened {
                    remote,
                    applications,
                } => {
                    let peer = conn.peer.clone();
                    let direction = conn.direction;
                    let addr = conn.remote;
                    if let Some(peer) = peer {
                        info!(target: "diameter.node", "{peer}: capabilities exchanged with {} ({:?})", remote.origin_host, applications);
                        let mut st = peer.status.lock();
                        st.connection = Some(PeerConnectionInfo {
                            state: machine.python_state(),
                            direction,
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
                            remote_address: Some(addr),
                        });
                        st.disconnect_reason = None;
                        st.dpr_cause = None;
                        st.last_connect = Some(SystemTime::now());
                    }
                    self.shared.update_ready();
                }
                PeerEvent::Ready | PeerEvent::NotReady => {
                    let state = machine.python_state();
                    if let Some(peer) = &conn.peer {
                        if let Some(info) = peer.status.lock().connection.as_mut() {
                            info.state = state;
                        }
                    }
                    self.shared.update_ready();
                }
                PeerEvent::Message(msg) => {
                    // the Origin-Host keys remembered answers: requests only
                    let origin = if msg.header.is_request() {
                        msg.find_avp(&[(AVP_ORIGIN_HOST, 0)])
                            .and_then(crate::message::Avp::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    } else {
                        String::new()
                    };
                    if msg.header.is_request() && msg.header.is_retransmit() {
                        let h = &msg.header;
                        if let Some(answer) = self.retransmit.lookup(
                            &origin,
                            h.end_to_end_identifier,
                            h.hop_by_hop_identifier,
                        ) {
                            debug!(target: "diameter.node", "retransmitted request {msg} answered again");
                            let _ = machine.send_bytes(&answer, false);
                            continue;
                        }
                    }
                    if msg.header.is_request() {
                        let from = conn.peer.clone();
                        let app = self
                            .shared
                            .apps
                            .read()
                            .iter()
                            .find(|r| {
                                r.app.base().application_id() == msg.header.application_id
                                    && (r.peers.is_empty()
                                        || from.as_ref().is_some_and(|f| {
                                            r.peers.iter().any(|p| Arc::ptr_eq(p, f))
                                        }))
                            })
                            .map(|r| r.app.clone());
                        let supported = app.is_some()
                            || self
                                .config
                                .applications
                                .iter()
                                .any(|a| a.id == RELAY_APPLICATION_ID);
                        let mut failed_many: Vec<crate::message::Avp> = Vec::new();
                        let mut checked = checks::check_request(
                            &msg,
                            &self.config.origin_host,
                            &self.config.origin_realm,
                            supported,
                        );
                        if checked.is_none() && self.config.validate_received_request_avps {
                            let missing = crate::message::commands::missing_avps(&msg);
                            if !missing.is_empty() {
                                checked = Some(checks::Rejection {
                                    result_code: E_RESULT_CODE_DIAMETER_MISSING_AVP,
                                    error_message: "Mandatory AVPs missing".into(),
                                    failed_avp: None,
                                });
                                failed_many = missing;
                            }
                        }
                        let rejection = match (checked, app) {
                            (None, Some(app)) if self.owed.len() < MAX_OWED_ANSWERS => {
                                let key = (
                                    msg.header.hop_by_hop_identifier,
                                    msg.header.end_to_end_identifier,
                                );
                                let command_code = msg.header.command_code;
                                self.owed.insert(
                                    key,
                                    Owed {
                                        token,
                                        origin,
                                        received: now,
                                        command_code,
                                    },
                                );
                                app.handle_request(msg);
                                continue;
                            }
                            (None, Some(_)) => checks::Rejection {
                                result_code: E_RESULT_CODE_DIAMETER_TOO_BUSY,
                                error_message: "too many requests waiting for answers".into(),
                                failed_avp: None,
                            },
                            (Some(r), _) => r,
                            (None, None) => checks::Rejection {
                                result_code: E_RESULT_CODE_DIAMETER_APPLICATION_UNSUPPORTED,
                                error_message: "no application handles this request".into(),
                                failed_avp: None,
                            },
                        };
                        let Some(machine) =
                            self.conns.get_mut(&token).and_then(|c| c.machine.as_mut())
                        else {
                            continue;
                        };
                        let mut answer = machine.error_answer(
                            &msg.header,
                            rejection.result_code,
                            Some(&rejection.error_message),
                            rejection.failed_avp,
                        );
                        if !failed_many.is_empty() {
                            if let Ok(failed) =
                                crate::message::Avp::new(AVP_FAILED_AVP, 0, failed_many)
                            {
                                answer.append_avp(failed);
                            }
                        }
                        if let Ok(bytes) = answer.as_bytes() {
                            let _ = machine.send_bytes(&bytes, false);
                            if let Some(peer) = self.conns.get(&token).and_then(|c| c.peer.as_ref())
                            {
                                record_answer(
                                    peer,
                                    msg.header.command_code,
                                    Duration::ZERO,
                                    &bytes,
                                );
                            }
                            self.retransmit.remember(
                                &origin,
                                msg.header.end_to_end_identifier,
                                &bytes,
                            );
                        }
                    } else {
                        let waiting = self
                            .shared
                            .pending
                            .lock()
                            .remove(&msg.header.hop_by_hop_identifier);
                        match waiting {
                            Some(p) => {
                                let _ = p.tx.send(Ok(msg));
                            }
                            None => {
                                let app = self
                                    .shared
                                    .apps
                                    .read()
                                    .iter()
                                    .find(|r| {
                                        r.app.base().application_id() == msg.header.application_id
                                    })
                                    .map(|r| r.app.clone());
                                match app {
                                    Some(app) => app.handle_answer(msg),
                                    None => {
                                        debug!(target: "diameter.node", "answer {msg} matches no request, dropped")
                                    }
                                }
                            }
                        }
                    }
                }
                PeerEvent::DprReceived(cause) => {
                    if let Some(peer) = &conn.peer {
                        info!(target: "diameter.node", "{peer}: DPR received, cause {cause:?}");
                        let mut st = peer.status.lock();
                        st.dpr_cause = cause;
                        if let Some(info) = st.connection.as_mut() {
                            info.state = PEER_DISCONNECTING;
                        }
                    }
                }
                PeerEvent::Closed(reason) => {
                    debug!(target: "diameter.connection", "{} closing, reason {reason:#04x}", conn.remote);
                }
            }
        }
    }

    /// RFC 6733 §5.6.1 and §5.6.4: who may connect, and which of two
    /// connections to one peer survives.
    fn decide_cer(&mut self, now: Instant, token: Token, remote: &RemoteCapabilities) {
        let host = remote.origin_host.to_ascii_lowercase();
        if let Err(why) = self.check_identity(token, &remote.origin_host) {
            if let Some(m) = self.conns.get_mut(&token).and_then(|c| c.machine.as_mut()) {
                m.reject_cer(now, E_RESULT_CODE_DIAMETER_UNKNOWN_PEER, Some(&why));
            }
            return;
        }
        let peer = self
            .config
            .peers
            .iter()
            .find(|p| p.node_name.eq_ignore_ascii_case(&host))
            .cloned();
        let Some(peer) = peer else {
            if let Some(m) = self.conns.get_mut(&token).and_then(|c| c.machine.as_mut()) {
                if self.config.accept_unknown_peers {
                    info!(target: "diameter.node", "CER from unknown peer {host}, accepted");
                    m.accept_cer(now);
                } else {
                    info!(target: "diameter.node", "CER from unknown peer {host}, refused");
                    m.reject_cer(
                        now,
                        E_RESULT_CODE_DIAMETER_UNKNOWN_PEER,
                        Some("unknown peer"),
                    );
                }
            }
            return;
        };
        // a peer configured with aaas:// talks over TLS only: from the first
        // byte, or in-band when this connection will start it
        if peer.is_secure {
            let tls = self.conns.get(&token).is_some_and(|c| {
                c.secure
                    || (c.stream.can_start_tls()
                        && choose_inband_security(
                            &self.config.inband_security,
                            &remote.inband_security,
                        ) == InbandChoice::Tls)
            });
            if !tls {
                warn!(target: "diameter.node", "{peer}: refused a connection without TLS (the peer is configured with aaas://)");
                if let Some(m) = self.conns.get_mut(&token).and_then(|c| c.machine.as_mut()) {
                    m.reject_cer(
                        now,
                        E_RESULT_CODE_DIAMETER_NO_COMMON_SECURITY,
                        Some("TLS required"),
                    );
                }
                return;
            }
        }
        let other = self
            .conns
            .iter()
            .find(|(t, c)| **t != token && c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, &peer)))
            .map(|(t, c)| {
                (
                    *t,
                    c.machine.as_ref().map(|m| (m.is_initiator(), m.state())),
                )
            });
        if let Some((other_token, other_state)) = other {
            let contest = matches!(other_state, None | Some((true, State::WaitCea)));
            if contest && election_won(&self.config.origin_host, &host) {
                info!(target: "diameter.node", "{peer}: election won, keeping the connection it opened");
                if let Some(m) = self
                    .conns
                    .get_mut(&other_token)
                    .and_then(|c| c.machine.as_mut())
                {
                    m.abort(now, DISCONNECT_REASON_CLEAN_DISCONNECT);
                } else {
                    self.remove(other_token, DISCONNECT_REASON_CLEAN_DISCONNECT);
                }
                // the other connection is no longer this peer's
                if let Some(c) = self.conns.get_mut(&other_token) {
                    c.peer = None;
                }
            } else {
                let why = if contest {
                    "election lost"
                } else {
                    "already connected"
                };
                info!(target: "diameter.node", "{peer}: second connection refused: {why}");
                if let Some(m) = self.conns.get_mut(&token).and_then(|c| c.machine.as_mut()) {
                    m.reject_cer(now, E_RESULT_CODE_DIAMETER_ELECTION_LOST, Some(why));
                }
                return;
            }
        }
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        conn.peer = Some(peer.clone());
        let Some(m) = conn.machine.as_mut() else {
            return;
        };
        m.set_counters(peer.counters.clone());
        peer.counters.count(CMD_CAPABILITIES_EXCHANGE, true);
        self.reconnect_at.remove(&peer.node_name);
        m.accept_cer(now);
    }

    /// RFC 6733 §13: the certificate of a TLS peer must name its
    /// Origin-Host. Checked once, when both the handshake and the
    /// capabilities exchange are done; a mismatch is logged and counted.
    fn check_identity(&mut self, token: Token, origin_host: &str) -> Result<(), String> {
        let Some(conn) = self.conns.get_mut(&token) else {
            return Ok(());
        };
        #[cfg(feature = "tls")]
        if let Some(Err(e)) = conn.stream.check_tls_identity(origin_host) {
            warn!(target: "diameter.connection", "{}: {e}", conn.remote);
            self.config
                .transport_counters
                .tls_identity_mismatches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e.to_string());
        }
        let _ = (conn, origin_host);
        Ok(())
    }

    fn remove(&mut self, token: Token, reason: u8) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(conn.stream.source());
        conn.stream.shutdown();
        self.owed.retain(|_, o| o.token != token);
        debug!(target: "diameter.connection", "closed {} (reason {reason:#04x})", conn.remote);
        if let Some(peer) = conn.peer {
            if self.has_connection(&peer, None) {
                // another connection still serves this peer (an election or
                // a refused duplicate): the peer is not disconnected
                debug!(target: "diameter.node", "{peer}: a second connection closed");
                return;
            }
            let now = Instant::now();
            {
                let mut st = peer.status.lock();
                st.connection = None;
                st.last_disconnect = Some(SystemTime::now());
                st.last_disconnect_at = Some(now);
                st.disconnect_reason = Some(reason);
                st.reopen = reason == DISCONNECT_REASON_DWA_TIMEOUT
                    || (st.reopen && reason != DISCONNECT_REASON_CLEAN_DISCONNECT);
            }
            info!(target: "diameter.node", "{peer}: disconnected (reason {reason:#04x})");
            self.shared.fail_pending(Some(&peer), "connection closed");
            self.shared.update_ready();
            self.schedule_reconnect(now, &peer, reason);
        }
    }

    /// Persistent peers come back after `reconnect_wait`, unless they said
    /// they do not want to talk (a DPR other than REBOOTING), or we stop.
    fn schedule_reconnect(&mut self, now: Instant, peer: &Arc<Peer>, reason: u8) {
        if !peer.persistent || self.stopping.is_some() {
            return;
        }
        let settings = peer.settings.lock().clone();
        let cause = peer.status.lock().dpr_cause;
        let rebooting = cause == Some(E_DISCONNECT_CAUSE_REBOOTING);
        if reason == DISCONNECT_REASON_DPR && !rebooting && !settings.always_reconnect {
            info!(target: "diameter.node", "{peer}: not reconnecting after DPR (cause {cause:?})");
            return;
        }
        self.reconnect_at
            .insert(peer.node_name.clone(), now + settings.reconnect_wait);
    }
}

/// Starts TLS on `stream`: as the client checking the server's certificate
/// against `peer_name`, or as the server when `peer_name` is `None`.
/// `cleartext` goes out first, unencrypted (an in-band CEA). False, with a
/// warning, when TLS cannot start (no certificates, or built without the
/// `tls` feature).
fn start_secure(
    config: &LoopConfig,
    stream: &mut Stream,
    peer_name: Option<&str>,
    cleartext: Option<Vec<u8>>,
) -> bool {
    #[cfg(feature = "tls")]
    {
        let Some(ctx) = config.tls.as_ref() else {
            warn!(target: "diameter.connection", "TLS asked for, but the node has no certificates (NodeOptions::tls)");
            return false;
        };
        let session = match peer_name {
            Some(name) => ctx.client_session(name),
            None => ctx.server_session(),
        };
        match session {
            Ok(session) => stream.start_tls(session, cleartext.unwrap_or_default()),
            Err(e) => {
                warn!(target: "diameter.connection", "cannot start TLS: {e}");
                false
            }
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (config, stream, peer_name, cleartext);
        warn!(target: "diameter.connection", "TLS asked for, but this build has no `tls` feature");
        false
    }
}

/// python's `state_names`.
pub(crate) fn state_name(state: u8) -> &'static str {
    match state {
        PEER_CONNECTING => "CONNECTING",
        PEER_CONNECTED => "CONNECTED",
        PEER_READY => "READY",
        PEER_READY_WAITING_DWA => "READY_WAITING_DWA",
        PEER_DISCONNECTING => "DISCONNECTING",
        PEER_CLOSING => "CLOSING",
        _ => "CLOSED",
    }
}

/// A request handed to an application, waiting for its answer.
struct Owed {
    token: Token,
    origin: String,
    received: Instant,
    command_code: u32,
}

/// The top-level Result-Code of an encoded answer, without decoding it.
fn result_code_of(bytes: &[u8]) -> Option<u32> {
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

/// Records an answer sent to `peer`: processing time and Result-Code range.
fn record_answer(peer: &Peer, command_code: u32, took: Duration, bytes: &[u8]) {
    let mut stats = peer.statistics.lock();
    stats.add_processed_req_time(
        crate::message::dictionary::command_name(command_code),
        took.as_secs_f64(),
    );
    if let Some(code) = result_code_of(bytes) {
        stats.add_sent_result_code(unix_secs(), code);
    }
}
