//! A node-level simulation without sockets or threads, on a fake clock: one
//! server node and several client nodes, each a `Dispatch` with its own
//! `Handle`, joined by in-memory links. Tests, the property test and the
//! `node_dispatch` fuzz target drive it with sequences of operations
//! (requests, answers, forged answers, retransmissions, garbage, closed
//! links, time) and check after every step that no caller got an answer
//! meant for another connection and that every table stays within its
//! bound. Not part of the public API.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use crate::message::constants::*;
use crate::message::framer::Framer;
use crate::message::{Avp, Message, MessageHeader};
use crate::node::app::api::{AppBase, AppRoute, Application, Registry};
use crate::node::config::{NodeConfig, NodeLimits};
use crate::node::core::agent::duplicates::DuplicateLimits;
use crate::node::core::conn::ConnId;
use crate::node::core::dispatch::{Action, Delivery, Dispatch, NoCertificate, Settle};
use crate::node::core::snapshot::{AppEntry, Snapshot, Tables};
use crate::node::error::ApplicationError;
use crate::node::peer::*;
use crate::node::shared::{answer_channel, Command, Handle, Identity, OutAnswer, OutRequest};
use crate::node::{SequenceGenerator, SessionGenerator};

const SERVER: &str = "ocs.example.net";
const REALM: &str = "example.net";

/// An application that keeps the requests it is given.
struct Recorder {
    base: AppBase,
    requests: Mutex<Vec<Message>>,
}

impl Application for Recorder {
    fn base(&self) -> &AppBase {
        &self.base
    }

    fn handle_request(&self, request: Message) {
        self.requests.lock().push(request);
    }
}

/// One simulated node.
struct End {
    dispatch: Dispatch,
    app: Arc<Recorder>,
    peers: Vec<Arc<Peer>>,
    ip: IpAddr,
}

impl End {
    /// Carries out the core's deliveries as the event loop does: requests
    /// go to the recording application; late answers are dropped.
    fn deliver(&mut self, now: Instant) {
        while let Some(d) = self.dispatch.poll_delivery() {
            match d {
                Delivery::Request { msg, .. } => self.app.handle_request(msg),
                Delivery::Peer(peer, change) => {
                    peer.apply(change, std::time::UNIX_EPOCH, 0);
                }
                Delivery::Reconnect {
                    peer,
                    after_dpr,
                    generation,
                } => {
                    let settings = peer.settings.lock().clone();
                    if after_dpr.is_none() || settings.always_reconnect {
                        self.dispatch.reconnect_after(
                            now,
                            &peer,
                            settings.reconnect_wait,
                            generation,
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// A connection between a client and the server.
struct Link {
    client: usize,
    cid: ConnId,
    sid: ConnId,
    open: bool,
}

/// A request a client sent, waiting for its answer.
struct Sent {
    rx: Receiver<Result<Message, ApplicationError>>,
    session: String,
    done: bool,
}

/// A request seen on its way to the server.
struct Seen {
    link: usize,
    header: MessageHeader,
    /// Its AVPs, to send it again as it was.
    avps: Vec<Avp>,
}

/// The simulation.
pub struct Sim {
    now: Instant,
    limits: NodeLimits,
    server: End,
    clients: Vec<End>,
    links: Vec<Link>,
    sent: Vec<Sent>,
    seen: Vec<Seen>,
    next_session: u64,
    /// Answers delivered to callers (all checked).
    pub delivered: usize,
}

fn peer(name: &str, ip: IpAddr) -> Arc<Peer> {
    Arc::new(Peer {
        node_name: name.to_owned(),
        realm_name: REALM.to_owned(),
        transport: PEER_TRANSPORT_TCP,
        is_secure: false,
        port: 3868,
        ip_addresses: vec![ip],
        persistent: false,
        is_default: false,
        settings: Mutex::new(PeerSettings {
            reconnect_wait: Duration::from_secs(1),
            ..PeerSettings::default()
        }),
        status: Mutex::new(PeerStatus::default()),
        counters: Arc::new(PeerCounters::default()),
        outstanding: Default::default(),
        statistics: Mutex::new(Default::default()),
    })
}

/// The counters, tables and snapshot a simulated node's core works with:
/// what the event loop builds from the shared record.
fn core_view(handle: &Handle, peers: &[Arc<Peer>]) -> (Tables, Snapshot) {
    let tables = Tables {
        counters: handle.counters.clone(),
        relay: handle.relay.clone(),
        transport: handle.transport.clone(),
        owed: handle.owed.clone(),
    };
    let snapshot = Snapshot {
        identity: handle.identity(),
        peers: peers.to_vec(),
        apps: vec![AppEntry {
            id: AppId::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
            peers: Vec::new(),
            realms: Vec::new(),
            limit: None,
        }],
        applications: vec![AppId::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION)],
        routes: Vec::new(),
        proxy_handlers: Vec::new(),
    };
    (tables, snapshot)
}

fn end(now: Instant, host: &str, ip: IpAddr, peers: Vec<Arc<Peer>>, limits: NodeLimits) -> End {
    let handle = Registry::new(Handle::new(Identity {
        origin_host: host.to_owned(),
        origin_realm: REALM.to_owned(),
        end_to_end: Arc::new(SequenceGenerator::with_time(0)),
        session_generator: Arc::new(SessionGenerator::new(host)),
    }));
    handle.peers.write().extend(peers.iter().cloned());
    let app = Arc::new(Recorder {
        base: AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        requests: Mutex::new(Vec::new()),
    });
    app.base.attach(handle.clone());
    handle.apps.write().push(AppRoute {
        app: app.clone(),
        peers: Vec::new(),
        realms: Vec::new(),
    });
    handle
        .applications
        .write()
        .push(AppId::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION));
    let config = NodeConfig {
        local: LocalCapabilities {
            origin_host: host.to_owned(),
            origin_realm: REALM.to_owned(),
            host_ip_addresses: vec![ip],
            vendor_id: 99999,
            product_name: "sim".into(),
            firmware_revision: None,
            origin_state_id: 1,
            supported_vendor_ids: Vec::new(),
            applications: Vec::new(),
            inband_security: Vec::new(),
        },
        inband_security: Vec::new(),
        connection: ConnectionConfig {
            max_output_buffer: limits.max_output_buffer.saturating_mul(2),
            silent_peer_timeout: limits.silent_peer_timeout,
            ..ConnectionConfig::default()
        },
        max_connections: 64,
        accept_unknown_peers: false,
        validate_received_request_avps: true,
        accept_unknown_enumerated_values: false,
        check_peer_addresses: true,
        peers_logging: false,
        stats_logging: false,
        statistics_interval: Duration::from_secs(60),
        limits,
        agent: crate::node::core::agent::relay::Agent::None,
        sctp_local: Vec::new(),
        #[cfg(feature = "tls")]
        tls: None,
    };
    let (tables, snapshot) = core_view(&handle, &peers);
    End {
        dispatch: Dispatch::new(now, Arc::new(config), tables, snapshot),
        app,
        peers,
        ip,
    }
}

/// Small bounds, so that the simulation reaches them.
pub fn small_limits() -> NodeLimits {
    NodeLimits {
        max_output_buffer: 64 << 10,
        read_budget: 64 << 10,
        max_pending_per_connection: 8,
        late_answer_window: Duration::from_secs(5),
        max_owed_per_connection: 4,
        owed_answer_ttl: Duration::from_secs(10),
        duplicates: DuplicateLimits {
            max_entries: 16,
            max_bytes: 16 << 10,
            ttl: Duration::from_secs(30),
            max_waiters: 2,
        },
        max_failovers: 2,
        // the simulations hold answers back on purpose
        silent_peer_timeout: Duration::ZERO,
        relay_timeout: Duration::from_secs(10),
        max_redirects: 2,
        redirect_cache_size: 8,
        max_redirect_peers: 2,
        max_redirect_waiting: 4,
        max_redirect_cache_time: Duration::from_secs(60),
        redirect_wide_scope: false,
        relay_copy_bytes_per_connection: 16 << 10,
        relay_copy_bytes: 24 << 10,
        max_unauthenticated: 8,
        max_unauthenticated_per_ip: 4,
    }
}

impl Sim {
    /// A server and `clients` clients (at most 8), each client configured
    /// with the server as a persistent peer, connected.
    pub fn new(clients: usize, limits: NodeLimits) -> Sim {
        let now = Instant::now();
        let clients = clients.clamp(1, 8);
        let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        let names: Vec<String> = (0..clients)
            .map(|i| format!("pgw{i}.example.net"))
            .collect();
        let server_peers = names
            .iter()
            .enumerate()
            .map(|(i, n)| peer(n, ip(i as u8 + 2)))
            .collect();
        let server = end(now, SERVER, ip(1), server_peers, limits);
        let clients = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut p = peer(SERVER, ip(1));
                if let Some(p) = Arc::get_mut(&mut p) {
                    p.persistent = true;
                }
                end(now, n, ip(i as u8 + 2), vec![p], limits)
            })
            .collect();
        let mut sim = Sim {
            now,
            limits,
            server,
            clients,
            links: Vec::new(),
            sent: Vec::new(),
            seen: Vec::new(),
            next_session: 0,
            delivered: 0,
        };
        sim.actions();
        sim.pump_all();
        sim
    }

    /// Carries out the clients' actions (connects).
    fn actions(&mut self) {
        for c in 0..self.clients.len() {
            while let Some(action) = self.clients[c].dispatch.poll_action() {
                let Action::Connect(peer) = action else {
                    continue;
                };
                let client_ip = self.clients[c].ip;
                let server_addr = SocketAddr::new(self.server.ip, 3868);
                let client_addr = SocketAddr::new(client_ip, 40000 + c as u16);
                let cid = self.clients[c].dispatch.outgoing(
                    self.now,
                    &peer,
                    server_addr,
                    crate::node::DEFAULT_CONNECT_TIMEOUT,
                );
                let _ =
                    self.clients[c]
                        .dispatch
                        .connected(self.now, cid, &[client_ip], false, None);
                let server_ip = self.server.ip;
                match self.server.dispatch.incoming(
                    self.now,
                    client_addr,
                    vec![client_ip],
                    &[server_ip],
                    false,
                    false,
                    None,
                ) {
                    Some((sid, evict)) => {
                        if let Some(old) = evict {
                            // its link notices at its next pump
                            self.server.dispatch.remove(
                                self.now,
                                old,
                                DISCONNECT_REASON_FAILED_CONNECT_CE,
                            );
                        }
                        self.links.push(Link {
                            client: c,
                            cid,
                            sid,
                            open: true,
                        })
                    }
                    None => {
                        self.clients[c].dispatch.transport_closed(
                            self.now,
                            cid,
                            DISCONNECT_REASON_GONE_AWAY,
                        );
                        self.settle_client(c, cid);
                    }
                }
            }
        }
        while self.server.dispatch.poll_action().is_some() {}
    }

    fn settle_client(&mut self, c: usize, id: ConnId) -> bool {
        match self.clients[c].dispatch.settle(self.now, id, false) {
            Settle::Close(reason) => {
                self.clients[c].dispatch.remove(self.now, id, reason);
                true
            }
            Settle::Keep { .. } => false,
        }
    }

    fn settle_server(&mut self, id: ConnId) -> bool {
        match self.server.dispatch.settle(self.now, id, false) {
            Settle::Close(reason) => {
                self.server.dispatch.remove(self.now, id, reason);
                true
            }
            Settle::Keep { .. } => false,
        }
    }

    /// Moves bytes both ways on a link until it is quiet, then closes
    /// both ends if either side is done.
    fn pump(&mut self, l: usize) {
        for _ in 0..16 {
            let Some(link) = self.links.get(l) else {
                return;
            };
            if !link.open {
                return;
            }
            let (c, cid, sid) = (link.client, link.cid, link.sid);
            let up = self.clients[c]
                .dispatch
                .machine_mut(cid)
                .map(Connection::take_output)
                .unwrap_or_default();
            let down = self
                .server
                .dispatch
                .machine_mut(sid)
                .map(Connection::take_output)
                .unwrap_or_default();
            if up.is_empty() && down.is_empty() {
                break;
            }
            if !up.is_empty() {
                self.note_requests(l, &up);
                if let Some(m) = self.server.dispatch.machine_mut(sid) {
                    m.handle_bytes(self.now, &up);
                }
                self.server
                    .dispatch
                    .process(self.now, sid, &mut NoCertificate);
                self.server.deliver(self.now);
            }
            if !down.is_empty() {
                if let Some(m) = self.clients[c].dispatch.machine_mut(cid) {
                    m.handle_bytes(self.now, &down);
                }
                self.clients[c]
                    .dispatch
                    .process(self.now, cid, &mut NoCertificate);
                self.clients[c].deliver(self.now);
            }
        }
        let Some(link) = self.links.get(l) else {
            return;
        };
        let (c, cid, sid) = (link.client, link.cid, link.sid);
        let client_gone = self.settle_client(c, cid);
        let server_gone = self.settle_server(sid);
        if client_gone || server_gone {
            if !client_gone {
                self.clients[c].dispatch.transport_closed(
                    self.now,
                    cid,
                    DISCONNECT_REASON_GONE_AWAY,
                );
                self.settle_client(c, cid);
                self.clients[c]
                    .dispatch
                    .remove(self.now, cid, DISCONNECT_REASON_GONE_AWAY);
            }
            if !server_gone {
                self.server
                    .dispatch
                    .transport_closed(self.now, sid, DISCONNECT_REASON_GONE_AWAY);
                self.settle_server(sid);
                self.server
                    .dispatch
                    .remove(self.now, sid, DISCONNECT_REASON_GONE_AWAY);
            }
            if let Some(link) = self.links.get_mut(l) {
                link.open = false;
            }
        }
    }

    fn pump_all(&mut self) {
        for l in 0..self.links.len() {
            self.pump(l);
        }
        self.check();
    }

    /// Remembers the requests crossing a link (to forge and retransmit).
    fn note_requests(&mut self, link: usize, bytes: &[u8]) {
        let mut framer = Framer::new();
        framer.feed(bytes);
        while let Ok(Some(frame)) = framer.next_frame() {
            let Ok(msg) = Message::from_bytes(frame) else {
                continue;
            };
            if msg.header.is_request()
                && msg.header.command_code == CMD_CREDIT_CONTROL
                && self.seen.len() < 256
            {
                self.seen.push(Seen {
                    link,
                    header: msg.header,
                    avps: msg.avps,
                });
            }
        }
    }

    fn ccr(&mut self, c: usize) -> (Message, String) {
        self.next_session += 1;
        let host = format!("pgw{c}.example.net");
        let session = format!("{host};sim;{}", self.next_session);
        let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, APP_DIAMETER_CREDIT_CONTROL_APPLICATION);
        h.set_request(true);
        h.end_to_end_identifier = self.next_session as u32;
        let avps = [
            Avp::new(AVP_SESSION_ID, 0, session.as_str()),
            Avp::new(AVP_ORIGIN_HOST, 0, host.as_str()),
            Avp::new(AVP_ORIGIN_REALM, 0, REALM),
            Avp::new(AVP_DESTINATION_REALM, 0, REALM),
            Avp::new(
                AVP_AUTH_APPLICATION_ID,
                0,
                APP_DIAMETER_CREDIT_CONTROL_APPLICATION,
            ),
            Avp::new(AVP_SERVICE_CONTEXT_ID, 0, "32251@3gpp.org"),
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, 0u32),
        ];
        (
            Message::new(h, avps.into_iter().flatten().collect()),
            session,
        )
    }

    /// Client `c` sends a request waiting `timeout`.
    pub fn request(&mut self, c: usize, timeout: Duration) {
        let c = c % self.clients.len();
        let (msg, session) = self.ccr(c);
        let Ok(bytes) = msg.as_bytes() else {
            return;
        };
        let (reply, rx) = answer_channel();
        let peer = self.clients[c].peers[0].clone();
        let app = Some(self.clients[c].app.base.app_id());
        self.clients[c].dispatch.command(
            self.now,
            Command::Request(OutRequest {
                peer,
                bytes,
                end_to_end: msg.header.end_to_end_identifier,
                timeout,
                reply,
                app,
                to_redirect_host: false,
            }),
        );
        if self.sent.len() < 4096 {
            self.sent.push(Sent {
                rx,
                session,
                done: false,
            });
        }
    }

    /// The server answers the `k`-th request it holds (none when it holds
    /// none).
    pub fn answer(&mut self, k: usize) {
        let request = {
            let mut held = self.server.app.requests.lock();
            if held.is_empty() {
                return;
            }
            let k = k % held.len();
            held.remove(k)
        };
        let Ok(answer) = self.server.app.base.generate_answer(
            &request,
            Some(E_RESULT_CODE_DIAMETER_SUCCESS),
            None,
        ) else {
            return;
        };
        let Ok(bytes) = answer.as_bytes() else {
            return;
        };
        self.server.dispatch.command(
            self.now,
            Command::Answer(OutAnswer {
                via: answer.received_on,
                hop_by_hop: answer.header.hop_by_hop_identifier,
                end_to_end: answer.header.end_to_end_identifier,
                bytes,
                claimed: false,
            }),
        );
    }

    /// An answer to a request seen on one link, sent by the "server" of
    /// another link (same hop-by-hop and End-to-End): it must be dropped.
    pub fn forge(&mut self, which: usize, onto: usize) {
        if self.seen.is_empty() || self.links.is_empty() {
            return;
        }
        let seen = &self.seen[which % self.seen.len()];
        let target = onto % self.links.len();
        if target == seen.link || !self.links[target].open {
            return;
        }
        let h = seen.header.to_answer();
        let avps = [
            Avp::new(AVP_SESSION_ID, 0, "forged"),
            Avp::new(AVP_RESULT_CODE, 0, E_RESULT_CODE_DIAMETER_SUCCESS),
            Avp::new(AVP_ORIGIN_HOST, 0, SERVER),
            Avp::new(AVP_ORIGIN_REALM, 0, REALM),
        ];
        let forged = Message::new(h, avps.into_iter().flatten().collect());
        let Ok(bytes) = forged.as_bytes() else {
            return;
        };
        let (c, cid) = (self.links[target].client, self.links[target].cid);
        if let Some(m) = self.clients[c].dispatch.machine_mut(cid) {
            m.handle_bytes(self.now, &bytes);
        }
        self.clients[c]
            .dispatch
            .process(self.now, cid, &mut NoCertificate);
        self.clients[c].deliver(self.now);
    }

    /// A request seen on one link arrives again with the T flag, on `onto`
    /// (its own link or another peer's, claiming the first one's
    /// Origin-Host).
    pub fn retransmit(&mut self, which: usize, onto: usize, hop_by_hop: u32) {
        if self.seen.is_empty() || self.links.is_empty() {
            return;
        }
        let seen = &self.seen[which % self.seen.len()];
        let target = onto % self.links.len();
        if !self.links[target].open {
            return;
        }
        let mut h = seen.header;
        h.set_retransmit(true);
        h.hop_by_hop_identifier = hop_by_hop;
        // the same request again, as it was sent
        let msg = Message::new(h, seen.avps.clone());
        if let Ok(bytes) = msg.as_bytes() {
            self.inject(target, &bytes);
        }
    }

    /// Raw bytes arrive at the server on link `onto`.
    pub fn inject(&mut self, onto: usize, bytes: &[u8]) {
        if self.links.is_empty() {
            return;
        }
        let target = onto % self.links.len();
        if !self.links[target].open {
            return;
        }
        let sid = self.links[target].sid;
        if let Some(m) = self.server.dispatch.machine_mut(sid) {
            m.handle_bytes(self.now, bytes);
        }
        self.server
            .dispatch
            .process(self.now, sid, &mut NoCertificate);
        self.server.deliver(self.now);
    }

    /// The transport of link `which` fails under both ends.
    pub fn close(&mut self, which: usize) {
        if self.links.is_empty() {
            return;
        }
        let l = which % self.links.len();
        if !self.links[l].open {
            return;
        }
        let (c, cid, sid) = (self.links[l].client, self.links[l].cid, self.links[l].sid);
        self.clients[c]
            .dispatch
            .transport_closed(self.now, cid, DISCONNECT_REASON_GONE_AWAY);
        self.server
            .dispatch
            .transport_closed(self.now, sid, DISCONNECT_REASON_GONE_AWAY);
        self.pump(l);
    }

    /// Time passes: every end runs its timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let mut touched = Vec::new();
        self.server.dispatch.handle_timeout(self.now, &mut touched);
        self.server.deliver(self.now);
        for c in &mut self.clients {
            c.dispatch.handle_timeout(self.now, &mut touched);
            c.deliver(self.now);
        }
        self.actions();
    }

    /// Moves every link's bytes and checks the invariants.
    pub fn step(&mut self) {
        self.actions();
        self.pump_all();
        self.server.deliver(self.now);
        for c in &mut self.clients {
            c.deliver(self.now);
        }
    }

    /// Panics when a caller got an answer meant for another request, or a
    /// table is beyond its bound.
    pub fn check(&mut self) {
        for s in self.sent.iter_mut().filter(|s| !s.done) {
            match s.rx.try_recv() {
                Ok(Ok(answer)) => {
                    let session = answer
                        .find_avp(&[(AVP_SESSION_ID, 0)])
                        .and_then(Avp::as_str)
                        .unwrap_or_default();
                    assert_eq!(
                        session, s.session,
                        "a caller got an answer meant for another request"
                    );
                    s.done = true;
                    self.delivered += 1;
                }
                Ok(Err(_)) => s.done = true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => s.done = true,
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
        }
        let limits = self.limits;
        for end in std::iter::once(&self.server).chain(self.clients.iter()) {
            let d = &end.dispatch;
            assert!(d.len() <= 64, "connections beyond max_connections");
            for id in d.conn_ids() {
                let Some(conn) = d.conn(id) else { continue };
                assert!(conn.pending_len() <= limits.max_pending_per_connection);
                assert!(conn.owed_len() <= limits.max_owed_per_connection);
            }
            let dup = d.duplicates();
            assert!(dup.len() <= dup.limits().max_entries);
            assert!(dup.bytes() <= dup.limits().max_bytes);
        }
    }

    /// Requests the server application holds now.
    pub fn held(&self) -> usize {
        self.server.app.requests.lock().len()
    }

    /// How many links are open.
    pub fn open_links(&self) -> usize {
        self.links.iter().filter(|l| l.open).count()
    }

    /// Callers whose request is still unanswered.
    pub fn waiting(&self) -> usize {
        self.sent.iter().filter(|s| !s.done).count()
    }
}

/// Runs the operations encoded in `data` (the fuzz target's input) on a
/// simulation with small bounds; panics when an invariant breaks.
pub fn run(data: &[u8]) {
    let mut bytes = data.iter().copied();
    let clients = usize::from(bytes.next().unwrap_or(2) % 4) + 1;
    let mut sim = Sim::new(clients, small_limits());
    let mut next = || bytes.next();
    while let Some(op) = next() {
        let a = usize::from(next().unwrap_or(0));
        let b = usize::from(next().unwrap_or(0));
        match op % 9 {
            0 => sim.advance(Duration::from_millis(a as u64 * 50)),
            1 | 2 => sim.request(a, Duration::from_millis(200 + b as u64 * 40)),
            3 => sim.answer(a),
            4 => sim.forge(a, b),
            5 => sim.retransmit(a, b, (a * 257 + b) as u32),
            6 => {
                let len = b % 64;
                let junk: Vec<u8> = (0..len).map(|i| (i * 31 + a) as u8).collect();
                sim.inject(a, &junk);
            }
            7 => sim.close(a),
            _ => {}
        }
        sim.step();
    }
    sim.advance(Duration::from_secs(120));
    sim.step();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The node-level fuzz target's seeds (`fuzz/seeds/node_dispatch/`), and
    /// every prefix of each, run on the simulation: no panic, no answer
    /// delivered to another caller, every table within its bound.
    #[test]
    fn every_node_dispatch_seed_runs_on_the_simulation() {
        let dir =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/node_dispatch");
        let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        names.sort();
        assert!(
            names.len() >= 4,
            "expected the node_dispatch seeds, found {names:?}"
        );
        for path in names {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for end in 0..=data.len() {
                run(&data[..end]);
            }
        }
    }

    #[test]
    fn a_request_gets_its_answer_across_the_pair() {
        let mut sim = Sim::new(1, NodeLimits::default());
        assert_eq!(sim.open_links(), 1);
        sim.request(0, Duration::from_secs(5));
        sim.step();
        assert_eq!(sim.held(), 1);
        sim.answer(0);
        sim.step();
        assert_eq!(sim.delivered, 1);
    }

    #[test]
    fn an_answer_forged_on_another_connection_is_dropped() {
        let mut sim = Sim::new(2, NodeLimits::default());
        sim.request(0, Duration::from_secs(5));
        sim.step();
        // the request went out on link 0; its ids arrive on link 1
        sim.forge(0, 1);
        sim.step();
        assert_eq!(sim.delivered, 0);
        assert_eq!(sim.waiting(), 1);
        let stats = sim.clients[1].dispatch.protocol_stats();
        assert_eq!(stats.answers_unmatched, 1);
        sim.answer(0);
        sim.step();
        assert_eq!(sim.delivered, 1);
    }

    #[test]
    fn callers_fail_at_once_when_their_connection_closes() {
        let mut sim = Sim::new(1, NodeLimits::default());
        sim.request(0, Duration::from_secs(30));
        sim.step();
        sim.close(0);
        sim.step();
        assert_eq!(sim.waiting(), 0);
        assert_eq!(sim.delivered, 0);
        // the persistent client reconnects after its reconnect_wait
        sim.advance(Duration::from_secs(2));
        sim.step();
        assert_eq!(sim.open_links(), 1);
    }

    #[test]
    fn a_suspect_connection_gives_up_its_requests_and_drops_their_late_answers() {
        let mut sim = Sim::new(1, NodeLimits::default());
        sim.request(0, Duration::from_secs(300));
        sim.step();
        assert_eq!(sim.held(), 1);
        // nothing moves on the link: the client's DWR goes unanswered, the
        // watchdog goes SUSPECT and, with no other peer, the caller fails
        for _ in 0..60 {
            sim.advance(Duration::from_secs(1));
            sim.check();
            if sim.waiting() == 0 {
                break;
            }
        }
        assert_eq!(sim.waiting(), 0, "the caller failed at SUSPECT");
        assert_eq!(sim.delivered, 0);
        assert_eq!(sim.open_links(), 1, "a SUSPECT connection stays open");
        // the answer that still comes on it completes nothing
        sim.answer(0);
        sim.step();
        assert_eq!(sim.delivered, 0);
        let stats = sim.clients[0].dispatch.protocol_stats();
        assert_eq!(stats.answers_unmatched, 1);
        assert_eq!(stats.requests_failed_over, 0);
    }

    #[test]
    fn owed_answers_expire_on_the_clock_and_free_their_slots() {
        let limits = small_limits();
        let mut sim = Sim::new(1, limits);
        for _ in 0..limits.max_owed_per_connection + 1 {
            sim.request(0, Duration::from_secs(60));
        }
        sim.step();
        // the last one was refused 3004 at once: delivered to its caller
        assert_eq!(sim.held(), limits.max_owed_per_connection);
        assert_eq!(sim.delivered, 1);
        sim.server.app.requests.lock().clear();
        sim.advance(limits.owed_answer_ttl + Duration::from_secs(2));
        sim.request(0, Duration::from_secs(60));
        sim.step();
        assert_eq!(sim.held(), 1);
    }

    #[test]
    fn a_retransmission_in_progress_gets_the_answer_once_it_exists() {
        let mut sim = Sim::new(1, NodeLimits::default());
        sim.request(0, Duration::from_secs(5));
        sim.step();
        sim.retransmit(0, 0, 0x5eed);
        sim.step();
        assert_eq!(sim.held(), 1, "the copy is not handled a second time");
        sim.answer(0);
        sim.step();
        assert_eq!(sim.delivered, 1);
        let stats = sim.server.dispatch.duplicates().len();
        assert_eq!(stats, 1);
    }

    #[test]
    fn a_retransmission_claiming_another_peer_is_handled_as_new() {
        let mut sim = Sim::new(2, NodeLimits::default());
        sim.request(0, Duration::from_secs(5));
        sim.step();
        sim.answer(0);
        sim.step();
        assert_eq!(sim.delivered, 1);
        // client 1 claims client 0's Origin-Host and End-to-End id
        sim.retransmit(0, 1, 7);
        sim.step();
        assert_eq!(sim.held(), 1, "handled anew, not answered from the cache");
    }

    #[test]
    fn late_answers_after_the_window_are_dropped() {
        let mut sim = Sim::new(1, small_limits());
        sim.request(0, Duration::from_millis(100));
        sim.step();
        sim.advance(Duration::from_secs(10));
        sim.answer(0);
        sim.step();
        assert_eq!(sim.delivered, 0);
    }

    #[test]
    fn fuzz_inputs_run_to_the_end() {
        run(&[]);
        run(&[3, 1, 0, 0, 4, 0, 1, 3, 0, 0, 7, 0, 0, 0, 200, 0]);
        run(&[1; 300]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_operation_sequences_keep_peers_apart_and_tables_bounded(
            data in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            run(&data);
        }
    }
}
