//! The node's defences against hostile or confused peers, over loopback:
//! answers are matched on the connection their request went out on and
//! checked against its End-to-End id, hop-by-hop ids are random per
//! connection, duplicate detection is keyed by the authenticated peer and
//! bounded, a peer that does not read is not read either, error answers
//! stay small, owed answers are bounded and expire, colliding ids from two
//! peers stay apart, and a configured peer is only accepted from its
//! addresses. Hostile peers are raw Diameter on std sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::cc::ccr;
use crate::support::{poll_until, result_code, wait_until, Arrivals, Gate, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::framer::Framer;
use diameter::message::{Avp, AvpValue, Message, MessageHeader};
use diameter::node::application::{
    AppBase, Application, ApplicationError, HandlerResult, ThreadingApplication,
};
use diameter::node::peer::Peer;
use diameter::node::Node;

const REALM: &str = "example.net";
const SERVER: &str = "ocs.example.net";
/// How long anything expected may take.
const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that must not come.
const QUIET: Duration = Duration::from_millis(300);

fn session(m: &Message) -> Option<&str> {
    m.find_avp(&[(AVP_SESSION_ID, 0)]).and_then(Avp::as_str)
}

fn number(m: &Message) -> Option<u32> {
    m.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
        .and_then(Avp::as_u32)
}

fn hbh(m: &Message) -> u32 {
    m.header.hop_by_hop_identifier
}

/// A CCR numbered `n` from `origin` with these identifiers, as a raw peer
/// sends it.
fn request(origin: &str, n: u32, hop_by_hop: u32, end_to_end: u32) -> Message {
    let mut m = ccr(origin, REALM, n);
    m.header.hop_by_hop_identifier = hop_by_hop;
    m.header.end_to_end_identifier = end_to_end;
    m
}

/// `m` sent again: the T flag and a new hop-by-hop identifier.
fn retransmission(m: &Message, hop_by_hop: u32) -> Message {
    let mut again = m.clone();
    again.header.set_retransmit(true);
    again.header.hop_by_hop_identifier = hop_by_hop;
    again
}

/// A raw Diameter peer: a std socket and a framer.
struct Raw {
    stream: TcpStream,
    framer: Framer,
}

impl Raw {
    fn new(stream: TcpStream) -> Raw {
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            framer: Framer::new(),
        }
    }

    /// Connects to `addr` and sends a CER as `host`; returns the CEA.
    fn connect_for_cea(addr: SocketAddr, host: &str) -> (Raw, Message) {
        let mut raw = Raw::new(TcpStream::connect(addr).unwrap());
        let mut h = MessageHeader::new(CMD_CAPABILITIES_EXCHANGE, 0);
        h.set_request(true);
        h.hop_by_hop_identifier = 1;
        h.end_to_end_identifier = 1;
        raw.send(&Message::new(h, capabilities(host)));
        let cea = raw.recv().expect("CEA");
        assert_eq!(cea.header.command_code, CMD_CAPABILITIES_EXCHANGE);
        (raw, cea)
    }

    /// Connects to `addr` as `host`; the CER must be accepted.
    fn connect(addr: SocketAddr, host: &str) -> Raw {
        let (raw, cea) = Raw::connect_for_cea(addr, host);
        assert_eq!(result_code(&cea), Some(2001), "CEA to {host}: {cea:?}");
        raw
    }

    /// Plays the server `host`: accepts the node's connection, reads its
    /// CER and answers CEA 2001 with application 4. Returns the CER.
    fn accept(listener: &TcpListener, host: &str) -> (Raw, Message) {
        listener.set_nonblocking(true).unwrap();
        let mut accepted = None;
        let came = poll_until(WAIT, || match listener.accept() {
            Ok((s, _)) => {
                accepted = Some(s);
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept for {host}: {e}"),
        });
        let stream = accepted.unwrap_or_else(|| panic!("no connection to {host} ({came})"));
        stream.set_nonblocking(false).unwrap();
        let mut raw = Raw::new(stream);
        let cer = raw.recv().expect("CER");
        assert_eq!(cer.header.command_code, CMD_CAPABILITIES_EXCHANGE);
        let mut cea = cer.to_answer();
        cea.avps = vec![Avp::new(AVP_RESULT_CODE, 0, 2001u32).unwrap()];
        cea.avps.extend(capabilities(host));
        raw.send(&cea);
        (raw, cer)
    }

    fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.as_bytes().unwrap()).unwrap();
    }

    /// The next message, within [`WAIT`].
    fn recv(&mut self) -> Option<Message> {
        self.recv_within(WAIT)
    }

    /// The next message, or `None` when none comes within `timeout` (or
    /// the connection closed).
    fn recv_within(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(frame) = self.framer.next_frame().expect("a valid frame") {
                return Some(Message::from_bytes(frame).expect("a valid message"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.framer.feed(&buf[..n]),
            }
        }
    }

    /// Sends `m` and returns the next message.
    fn exchange(&mut self, m: &Message) -> Message {
        self.send(m);
        self.recv().unwrap_or_else(|| panic!("no answer to {m:?}"))
    }

    /// Whether the other side closes the connection (end of stream or a
    /// reset) within [`WAIT`], with nothing more sent on it.
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        self.stream.set_read_timeout(Some(WAIT)).unwrap();
        match self.stream.read(&mut buf) {
            Ok(0) => self.framer.buffered() == 0,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ),
        }
    }

    /// Asserts that nothing arrives for a while.
    fn nothing_more(&mut self, what: &str) {
        if let Some(m) = self.recv_within(QUIET) {
            panic!("{what}: unexpected {m:?}");
        }
    }
}

/// What a raw peer says of itself in CER/CEA.
fn capabilities(host: &str) -> Vec<Avp> {
    vec![
        Avp::new(AVP_ORIGIN_HOST, 0, host).unwrap(),
        Avp::new(AVP_ORIGIN_REALM, 0, REALM).unwrap(),
        Avp::new(AVP_HOST_IP_ADDRESS, 0, "127.0.0.1").unwrap(),
        Avp::new(AVP_VENDOR_ID, 0, 1u32).unwrap(),
        Avp::new(AVP_PRODUCT_NAME, 0, "raw").unwrap(),
        Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
    ]
}

/// A CCA from a raw server `host` to `req`.
fn raw_answer(req: &Message, host: &str, session_id: &str, result_code: u32) -> Message {
    let mut a = req.to_answer();
    a.avps = vec![
        Avp::new(AVP_SESSION_ID, 0, session_id).unwrap(),
        Avp::new(AVP_RESULT_CODE, 0, result_code).unwrap(),
        Avp::new(AVP_ORIGIN_HOST, 0, host).unwrap(),
        Avp::new(AVP_ORIGIN_REALM, 0, REALM).unwrap(),
        Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
        Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
        Avp::new(AVP_CC_REQUEST_NUMBER, 0, 0u32).unwrap(),
    ];
    a
}

/// A CCA 2001 to `req` carrying CC-Request-Number `n`.
fn numbered_answer(app: &AppBase, req: &Message, n: u32) -> Message {
    let mut a = app
        .generate_answer(req, E_RESULT_CODE_DIAMETER_SUCCESS, None)
        .unwrap();
    a.avps.push(Avp::new(AVP_CC_REQUEST_NUMBER, 0, n).unwrap());
    a
}

/// A handler answering each request with CC-Request-Number = how many
/// requests it was called for so far, and that count.
fn counting_handler() -> (
    Arc<AtomicU32>,
    impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let handler = move |app: &AppBase, req: Message| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Some(numbered_answer(app, &req, n)))
    };
    (calls, handler)
}

fn calls(c: &AtomicU32) -> u32 {
    c.load(Ordering::SeqCst)
}

/// A server node listening on 127.0.0.1 (port 0), not started.
fn server_node() -> Node {
    TestNode::builder(SERVER, REALM).listen().build().node
}

/// Adds the peer `name`, expected from `ip`.
fn add_peer_from(node: &Node, name: &str, ip: &str) -> Arc<Peer> {
    PeerSpec::uri(&format!("aaa://{name}"))
        .addresses(&[ip])
        .add_to(node)
}

/// A started server node for the raw peers `peers` (from 127.0.0.1) with
/// one ThreadingApplication (application 4) running `handler`; `configure`
/// sets limits before the start.
fn server(
    peers: &[&str],
    max_threads: usize,
    configure: impl FnOnce(&mut Node),
    handler: impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
) -> (Node, SocketAddr) {
    let node = peers
        .iter()
        .fold(
            TestNode::builder(SERVER, REALM)
                .listen()
                .configure(configure),
            |b, p| b.peer(PeerSpec::uri(&format!("aaa://{p}"))),
        )
        .app(ThreadingApplication::new(
            AppBase::auth(4),
            max_threads,
            handler,
        ))
        .start();
    let addr = node.addr();
    (node.node, addr)
}

/// A client node with an application 4 of its own, connected to raw
/// servers: what the servers saw of it.
struct Client {
    node: Node,
    app: Arc<ThreadingApplication>,
    servers: Vec<(Raw, Message)>,
}

/// A client node with the persistent peers `names`, each a raw server on
/// an ephemeral listener that answers its CER; returns once all are ready.
fn client_of_raw_servers(names: &[&str]) -> Client {
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let mut listeners = Vec::new();
    let mut client = TestNode::builder("client.example.net", REALM);
    for name in names {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        client = client.peer(PeerSpec::at(name, l.local_addr().unwrap().port()));
        listeners.push(l);
    }
    let (node, peers) = client.app(app.clone()).start().into_parts();
    let servers = names
        .iter()
        .zip(&listeners)
        .map(|(name, l)| Raw::accept(l, name))
        .collect();
    wait_until("every raw server ready", WAIT, || {
        peers.iter().all(|p| p.is_ready())
    });
    Client { node, app, servers }
}

/// A CCR from the client for Destination-Host `dest`.
fn ccr_to(dest: &str, n: u32) -> Message {
    let mut m = ccr("client.example.net", REALM, n);
    m.avps
        .push(Avp::new(AVP_DESTINATION_HOST, 0, dest).unwrap());
    m
}

type Outcome = Result<Message, ApplicationError>;

/// `send_request` on another thread; its outcome comes on the receiver.
fn send_in_background(app: &Arc<ThreadingApplication>, m: Message) -> mpsc::Receiver<Outcome> {
    let (tx, rx) = mpsc::channel();
    let app = app.clone();
    thread::spawn(move || {
        let _ = tx.send(app.base().send_request(m, WAIT));
    });
    rx
}

#[test]
fn an_answer_from_another_connection_does_not_complete_a_request() {
    let Client {
        node,
        app,
        mut servers,
    } = client_of_raw_servers(&["s1.example.net", "s2.example.net"]);
    let (mut s2, _) = servers.pop().unwrap();
    let (mut s1, _) = servers.pop().unwrap();

    let caller = send_in_background(&app, ccr_to("s1.example.net", 1));
    let req = s1.recv().expect("the CCR on S1");
    assert_eq!(req.header.command_code, CMD_CREDIT_CONTROL);
    assert!(req.header.is_request());

    // S2 answers S1's request, same hop-by-hop and End-to-End, on its own
    // connection: dropped, the caller still waits
    s2.send(&raw_answer(&req, "s2.example.net", "forged-by-s2", 2001));
    wait_until("the answer from S2 dropped", WAIT, || {
        node.protocol_stats().answers_unmatched >= 1
    });
    assert!(
        caller.recv_timeout(QUIET).is_err(),
        "an answer on another connection completed the request"
    );

    // S1 answers with the right hop-by-hop but another End-to-End: dropped
    let mut wrong = raw_answer(&req, "s1.example.net", "wrong-e2e", 2001);
    wrong.header.end_to_end_identifier = req.header.end_to_end_identifier.wrapping_add(1);
    s1.send(&wrong);
    wait_until("the answer with the wrong End-to-End dropped", WAIT, || {
        node.protocol_stats().answers_wrong_end_to_end >= 1
    });
    assert!(
        caller.recv_timeout(QUIET).is_err(),
        "an answer with another End-to-End id completed the request"
    );

    // S1's real answer completes it
    s1.send(&raw_answer(&req, "s1.example.net", "from-s1", 5012));
    let answer = caller
        .recv_timeout(WAIT)
        .expect("the caller completed")
        .expect("S1's answer");
    assert_eq!(session(&answer), Some("from-s1"));
    assert_eq!(result_code(&answer), Some(5012));
    let stats = node.protocol_stats();
    assert!(stats.answers_unmatched >= 1, "{stats:?}");
    assert_eq!(stats.answers_wrong_end_to_end, 1, "{stats:?}");
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn hop_by_hop_ids_start_at_random_values_per_connection() {
    let Client {
        node,
        app,
        mut servers,
    } = client_of_raw_servers(&["s1.example.net", "s2.example.net"]);
    let names = ["s1.example.net", "s2.example.net"];

    // requests alternate between the connections: each has its own sequence
    let mut seen = Vec::new();
    for (n, i) in [0, 1, 0, 0].into_iter().enumerate() {
        let caller = send_in_background(&app, ccr_to(names[i], n as u32));
        let raw = &mut servers[i].0;
        let req = raw.recv().expect("the CCR");
        raw.send(&raw_answer(&req, names[i], "ok", 2001));
        let answer = caller.recv_timeout(WAIT).unwrap().unwrap();
        assert_eq!(result_code(&answer), Some(2001));
        seen.push(hbh(&req));
    }
    let (a1, b1, a2, a3) = (seen[0], seen[1], seen[2], seen[3]);
    assert_eq!(a2, a1.wrapping_add(1), "consecutive on S1: {seen:x?}");
    assert_eq!(a3, a2.wrapping_add(1), "consecutive on S1: {seen:x?}");
    // a node-wide sequence would make them neighbours; random starts are
    // (all but surely) far apart
    let apart = |x: u32, y: u32| x.wrapping_sub(y).min(y.wrapping_sub(x));
    assert!(apart(a1, b1) > 1024, "S1 {a1:#x}, S2 {b1:#x}");
    assert!(
        apart(hbh(&servers[0].1), hbh(&servers[1].1)) > 1024,
        "CERs {:#x}, {:#x}",
        hbh(&servers[0].1),
        hbh(&servers[1].1)
    );
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn a_peer_cannot_replay_another_peers_answer() {
    let (counter, handler) = counting_handler();
    let (node, addr) = server(&["a.example.net", "b.example.net"], 4, |_| {}, handler);
    let mut a = Raw::connect(addr, "a.example.net");
    let mut b = Raw::connect(addr, "b.example.net");
    const E: u32 = 0x5eed_0001;

    let original = request("a.example.net", 7, 10, E);
    let first = a.exchange(&original);
    assert_eq!((result_code(&first), number(&first)), (Some(2001), Some(1)));

    // A's own retransmission: the same answer, from the cache
    let second = a.exchange(&retransmission(&original, 11));
    assert_eq!(hbh(&second), 11);
    let mut expected = first.clone();
    expected.header.hop_by_hop_identifier = 11;
    assert_eq!(second, expected);
    assert_eq!(calls(&counter), 1, "the handler ran again");
    assert_eq!(node.protocol_stats().retransmissions_answered, 1);

    // B claims A's Origin-Host and End-to-End: handled as its own request
    let forged = retransmission(&original, 12);
    let on_b = b.exchange(&forged);
    assert_eq!(hbh(&on_b), 12);
    assert_eq!((result_code(&on_b), number(&on_b)), (Some(2001), Some(2)));
    assert_eq!(calls(&counter), 2);
    assert_eq!(node.protocol_stats().retransmissions_answered, 1);
    a.nothing_more("A after B's request");
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn retransmission_of_a_request_in_progress_is_answered_once() {
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let counter = Arc::new(AtomicU32::new(0));
    let c = counter.clone();
    let (node, addr) = server(
        &["a.example.net"],
        4,
        |_| {},
        move |app, req| {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            released.lock().unwrap().recv_timeout(WAIT)?;
            Ok(Some(numbered_answer(app, &req, n)))
        },
    );
    let mut a = Raw::connect(addr, "a.example.net");
    let original = request("a.example.net", 1, 20, 0x0bad_cafe);
    a.send(&original);
    wait_until("the handler called", WAIT, || calls(&counter) == 1);
    a.send(&retransmission(&original, 21));
    wait_until("the retransmission waiting", WAIT, || {
        node.protocol_stats().retransmissions_waiting == 1
    });
    release.send(()).unwrap();

    let mut answers = [a.recv().expect("an answer"), a.recv().expect("another")];
    answers.sort_by_key(hbh);
    assert_eq!(answers.iter().map(hbh).collect::<Vec<_>>(), [20, 21]);
    let mut same = answers[1].clone();
    same.header.hop_by_hop_identifier = 20;
    assert_eq!(same, answers[0], "both copies get the same answer");
    assert_eq!(
        (result_code(&answers[0]), number(&answers[0])),
        (Some(2001), Some(1))
    );
    a.nothing_more("a third answer");
    assert_eq!(calls(&counter), 1, "the handler ran once");
    let stats = node.protocol_stats();
    assert_eq!(stats.retransmissions_waiting, 1, "{stats:?}");
    assert_eq!(stats.retransmissions_dropped, 0, "{stats:?}");
    drop(release);
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn forged_origin_hosts_cannot_grow_the_duplicate_table() {
    let (counter, handler) = counting_handler();
    let (node, addr) = server(
        &["a.example.net"],
        0,
        |n| n.limits.duplicates.max_entries = 100,
        handler,
    );
    let mut a = Raw::connect(addr, "a.example.net");
    let forged = |i: u32| {
        let mut m = request(&format!("forged{i}.example.net"), i, i + 1, 0x7000_0000 + i);
        m.header.set_retransmit(true);
        m
    };
    // 1,000 forged Origin-Hosts, pipelined 100 at a time; handlers run on
    // several workers, so the number each answer carries is remembered by
    // End-to-End id
    let mut numbers = std::collections::HashMap::new();
    for batch in 0..10u32 {
        let mut bytes = Vec::new();
        for i in batch * 100..(batch + 1) * 100 {
            bytes.extend(forged(i).as_bytes().unwrap());
        }
        a.stream.write_all(&bytes).unwrap();
        for _ in 0..100 {
            let answer = a.recv().expect("an answer");
            assert_eq!(result_code(&answer), Some(2001), "{answer:?}");
            numbers.insert(answer.header.end_to_end_identifier, number(&answer));
        }
    }
    assert_eq!(calls(&counter), 1000);

    // the newest is still remembered: answered from the cache
    let newest = a.exchange(&retransmission(&forged(999), 5000));
    let first_answer = numbers[&forged(999).header.end_to_end_identifier];
    assert_eq!(number(&newest), first_answer, "the remembered answer");
    assert_eq!(calls(&counter), 1000);
    assert_eq!(node.protocol_stats().retransmissions_answered, 1);

    // the first was pushed out of the table: handled again
    let oldest = a.exchange(&retransmission(&forged(0), 5001));
    assert_eq!(number(&oldest), Some(1001));
    assert_eq!(calls(&counter), 1001);
    assert_eq!(node.protocol_stats().retransmissions_answered, 1);
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn a_peer_that_does_not_read_is_not_read_either() {
    const MAX_SENT: usize = 32 << 20;
    const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
    let mut node = server_node();
    node.limits.max_output_buffer = 256 * 1024;
    let bad = add_peer_from(&node, "bad.example.net", "127.0.0.1");
    let good = add_peer_from(&node, "good.example.net", "127.0.0.1");
    // each peer has its own application, so the attacker's requests do
    // not take the good client's workers
    let (_, handler) = counting_handler();
    let bad_app = ThreadingApplication::new(AppBase::auth(4), 4, handler);
    node.add_application(bad_app, [&bad], &[]);
    let (_, handler) = counting_handler();
    let good_app = ThreadingApplication::new(AppBase::auth(4), 4, handler);
    node.add_application(good_app, [&good], &[]);
    node.start().unwrap();
    let port = node.listen_addresses()[0].port();

    let client_app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let client = TestNode::builder("good.example.net", REALM)
        .peer(PeerSpec::at(SERVER, port))
        .app(client_app.clone())
        .start();
    client_app.base().wait_for_ready(WAIT).unwrap();

    let mut attacker = Raw::connect(node.listen_addresses()[0], "bad.example.net");
    attacker
        .stream
        .set_write_timeout(Some(WRITE_TIMEOUT))
        .unwrap();

    // the good client keeps asking, every 50 ms, until the attack is over
    let over = Gate::new();
    let good_client = {
        let over = over.clone();
        let app = client_app.clone();
        thread::spawn(move || -> Result<u32, String> {
            let mut n = 0;
            while !over.is_open() {
                let asked = Instant::now();
                let answer = app
                    .base()
                    .send_request(ccr("good.example.net", REALM, n), Duration::from_secs(2))
                    .map_err(|e| format!("request {n}: {e}"))?;
                if result_code(&answer) != Some(2001) || asked.elapsed() > Duration::from_secs(2) {
                    return Err(format!(
                        "request {n}: {answer:?} after {:?}",
                        asked.elapsed()
                    ));
                }
                n += 1;
                // pacing, a stimulus: ends as soon as the attack does
                over.wait(Duration::from_millis(50));
            }
            Ok(n)
        })
    };

    // DWRs and CCRs, never reading, until a write blocks for 2 s
    let dwr = {
        let mut h = MessageHeader::new(CMD_DEVICE_WATCHDOG, 0);
        h.set_request(true);
        Message::new(h, capabilities("bad.example.net")[..2].to_vec())
    };
    let templates = [
        dwr.as_bytes().unwrap(),
        ccr("bad.example.net", REALM, 0).as_bytes().unwrap(),
    ];
    let mut id = 0u32;
    let mut sent = 0usize;
    let mut chunk = Vec::new();
    let started = Instant::now();
    'attack: loop {
        chunk.clear();
        for i in 0..200 {
            id += 1;
            let at = chunk.len();
            chunk.extend_from_slice(&templates[usize::from(i % 10 == 0)]);
            chunk[at + 12..at + 16].copy_from_slice(&id.to_be_bytes());
            chunk[at + 16..at + 20].copy_from_slice(&id.to_be_bytes());
        }
        let mut off = 0;
        while off < chunk.len() {
            let began = Instant::now();
            match attacker.stream.write(&chunk[off..]) {
                Ok(n) => {
                    off += n;
                    sent += n;
                    // a write that timed out after copying some bytes
                    // returns their count
                    if began.elapsed() >= WRITE_TIMEOUT * 9 / 10 {
                        break 'attack;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break 'attack
                }
                Err(e) => panic!("the connection broke after {sent} bytes: {e}"),
            }
        }
        assert!(
            sent < MAX_SENT,
            "the node took {sent} bytes from a peer that reads nothing ({:?})",
            started.elapsed()
        );
    }
    over.open();
    let asked = good_client
        .join()
        .unwrap()
        .expect("the good client is served during the attack");
    assert!(asked >= 5, "only {asked} requests during the attack");
    let stats = node.protocol_stats();
    assert!(stats.reads_paused >= 1, "{stats:?}");
    drop(attacker);
    client.stop(Duration::from_secs(1), true).unwrap();
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn failed_avp_echo_is_capped() {
    let (counter, handler) = counting_handler();
    let (node, addr) = server(&["a.example.net"], 4, |_| {}, handler);
    let mut a = Raw::connect(addr, "a.example.net");
    let mut req = request("a.example.net", 1, 1, 1);
    let huge = Avp::with_value(99_999, 0, AvpValue::Raw(vec![0x5a; 200_000])).with_mandatory(true);
    req.avps.push(huge);
    let answer = a.exchange(&req);
    assert_eq!(result_code(&answer), Some(5001), "{answer:?}");
    let size = answer.as_bytes().unwrap().len();
    assert!(size < 4096, "a {size}-byte answer");
    let failed = answer
        .find_avp(&[(AVP_FAILED_AVP, 0)])
        .and_then(Avp::as_grouped)
        .expect("a Failed-AVP");
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].code(), failed[0].vendor_id()), (99_999, 0));
    assert!(failed[0].is_mandatory());
    assert_eq!(calls(&counter), 0);
    // the connection carries on
    let ok = a.exchange(&request("a.example.net", 2, 2, 2));
    assert_eq!(result_code(&ok), Some(2001));
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn owed_answers_are_bounded_per_connection_and_expire() {
    let counter = Arc::new(AtomicU32::new(0));
    let c = counter.clone();
    let (node, addr) = server(
        &["a.example.net"],
        8,
        |n| {
            n.limits.max_owed_per_connection = 5;
            n.limits.owed_answer_ttl = Duration::from_millis(300);
        },
        move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        },
    );
    let mut a = Raw::connect(addr, "a.example.net");
    for i in 1..=5 {
        a.send(&request("a.example.net", i, i, i));
    }
    wait_until("5 requests handled", WAIT, || calls(&counter) == 5);

    // the sixth is refused at once; the five get nothing
    a.send(&request("a.example.net", 6, 6, 6));
    let refused = a
        .recv_within(Duration::from_secs(1))
        .expect("the sixth answered at once");
    assert_eq!(hbh(&refused), 6, "{refused:?}");
    assert_eq!(result_code(&refused), Some(3004));
    assert_eq!(calls(&counter), 5);
    assert_eq!(node.protocol_stats().requests_refused_busy, 1);

    // once the five expire, requests reach the handler again
    wait_until("the owed answers expired", Duration::from_secs(3), || {
        node.protocol_stats().owed_expired == 5
    });
    a.send(&request("a.example.net", 7, 7, 7));
    wait_until("the handler called again", WAIT, || calls(&counter) == 6);
    a.nothing_more("an answer to a request never answered");
    assert_eq!(node.protocol_stats().requests_refused_busy, 1);
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn colliding_ids_from_two_peers_get_their_own_answers() {
    // each handler waits for the other: both requests are owed at once
    let arrived = Arrivals::new();
    let c = arrived.clone();
    let (node, addr) = server(
        &["a.example.net", "b.example.net"],
        4,
        |_| {},
        move |app, req| {
            c.arrive();
            c.wait_for(2, WAIT);
            Ok(Some(app.generate_answer(&req, 2001, None)?))
        },
    );
    let mut a = Raw::connect(addr, "a.example.net");
    let mut b = Raw::connect(addr, "b.example.net");
    let mut on_a = request("a.example.net", 1, 77, 0xc0111de);
    on_a.avps[0] = Avp::new(AVP_SESSION_ID, 0, "a.example.net;colliding").unwrap();
    let mut on_b = request("b.example.net", 1, 77, 0xc0111de);
    on_b.avps[0] = Avp::new(AVP_SESSION_ID, 0, "b.example.net;colliding").unwrap();
    a.send(&on_a);
    b.send(&on_b);
    for (raw, own) in [(&mut a, "a.example.net"), (&mut b, "b.example.net")] {
        let answer = raw.recv().expect("an answer");
        assert_eq!(hbh(&answer), 77);
        assert_eq!(answer.header.end_to_end_identifier, 0xc0111de);
        assert_eq!(result_code(&answer), Some(2001));
        assert_eq!(session(&answer), Some(format!("{own};colliding").as_str()));
    }
    a.nothing_more("a second answer on A");
    b.nothing_more("a second answer on B");
    assert_eq!(arrived.count(), 2);
    assert_eq!(node.protocol_stats().answers_unsent, 0);
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn a_configured_peer_is_refused_from_another_address() {
    // pgw is expected from 127.0.0.2 and comes from 127.0.0.1
    let start = |check: bool| {
        let mut node = server_node();
        node.check_peer_addresses = check;
        add_peer_from(&node, "pgw.example.net", "127.0.0.2");
        add_peer_from(&node, "good.example.net", "127.0.0.1");
        node.add_application(
            ThreadingApplication::new(AppBase::auth(4), 1, |_, _| Ok(None)),
            Vec::<Arc<Peer>>::new(),
            &[],
        );
        node.start().unwrap();
        let addr = node.listen_addresses()[0];
        (node, addr)
    };

    let (node, addr) = start(true);
    let (mut pgw, cea) = Raw::connect_for_cea(addr, "pgw.example.net");
    assert_eq!(result_code(&cea), Some(3010), "{cea:?}");
    assert!(pgw.closed(), "the refused connection is closed");
    assert_eq!(node.protocol_stats().peers_refused_address, 1);
    // a peer from its configured address is accepted
    let _good = Raw::connect(addr, "good.example.net");
    assert_eq!(node.protocol_stats().peers_refused_address, 1);
    node.stop(Duration::from_secs(1), true).unwrap();

    let (node, addr) = start(false);
    let _pgw = Raw::connect(addr, "pgw.example.net");
    assert_eq!(node.protocol_stats().peers_refused_address, 0);
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn a_busy_peer_does_not_push_out_a_quiet_peers_duplicate_records() {
    let (counter, handler) = counting_handler();
    const ENTRIES: u32 = 50;
    let (node, addr) = server(
        &["quiet.example.net", "busy.example.net"],
        0,
        |n| n.limits.duplicates.max_entries = ENTRIES as usize,
        handler,
    );
    let mut quiet = Raw::connect(addr, "quiet.example.net");
    let mut busy = Raw::connect(addr, "busy.example.net");
    let original = request("quiet.example.net", 1, 10, 0x0001_0001);
    let first = quiet.exchange(&original);
    assert_eq!((result_code(&first), number(&first)), (Some(2001), Some(1)));

    // the busy peer sends ten times the table's size, pipelined
    const BUSY: u32 = 10 * ENTRIES;
    for batch in 0..10 {
        let mut bytes = Vec::new();
        for i in batch * ENTRIES..(batch + 1) * ENTRIES {
            bytes.extend(
                request("busy.example.net", i, i + 1, 0x0002_0000 + i)
                    .as_bytes()
                    .unwrap(),
            );
        }
        busy.stream.write_all(&bytes).unwrap();
        for _ in 0..ENTRIES {
            let answer = busy.recv().expect("an answer");
            assert_eq!(result_code(&answer), Some(2001), "{answer:?}");
        }
    }
    assert_eq!(calls(&counter), 1 + BUSY);

    // the quiet peer's retransmission: its answer from the cache
    let again = quiet.exchange(&retransmission(&original, 11));
    assert_eq!(hbh(&again), 11);
    assert_eq!(number(&again), Some(1), "handled a second time: {again:?}");
    assert_eq!(calls(&counter), 1 + BUSY);
    assert_eq!(node.protocol_stats().retransmissions_answered, 1);
    node.stop(Duration::from_secs(1), true).unwrap();
}
