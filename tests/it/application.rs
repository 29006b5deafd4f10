//! Applications end to end over loopback: send_request/answers, the bounded
//! ThreadingApplication pool, handler failures, timeouts and late answers,
//! wait_for_ready, and requests outstanding when a peer goes away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{port, result_code, wait_until, Arrivals, Gate, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::{Avp, Message, MessageHeader};
use diameter::node::application::{
    AppBase, Application, ApplicationError, HandlerResult, ThreadingApplication,
};
use diameter::node::peer::Peer;
use diameter::node::Node;

/// A bound for every wait of these tests.
const WAIT: Duration = Duration::from_secs(10);

fn server(
    handler: impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
    max_threads: usize,
) -> (Node, u16) {
    server_for(&["pgw.example.net"], handler, max_threads)
}

/// A server of application 4 for these client hosts.
fn server_for(
    hosts: &[&str],
    handler: impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
    max_threads: usize,
) -> (Node, u16) {
    let n = TestNode::builder("ocs.example.net", "example.net")
        .listen()
        .clients(hosts)
        .app(ThreadingApplication::new(
            AppBase::auth(4),
            max_threads,
            handler,
        ))
        .start();
    let port = n.port();
    (n.node, port)
}

fn client(port: u16, app: Arc<dyn Application>) -> (Node, Arc<Peer>) {
    client_as("pgw.example.net", port, app)
}

fn client_as(host: &str, port: u16, app: Arc<dyn Application>) -> (Node, Arc<Peer>) {
    let (n, mut peers) = TestNode::builder(host, "example.net")
        .peer(PeerSpec::at("ocs.example.net", port).reconnect_wait(Duration::from_millis(100)))
        .app(app)
        .start()
        .into_parts();
    (n, peers.remove(0))
}

fn client_app() -> Arc<ThreadingApplication> {
    ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None))
}

fn ccr(n: u32) -> Message {
    let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 0);
    h.set_request(true);
    h.set_proxyable(true);
    Message::new(
        h,
        vec![
            Avp::new(AVP_SESSION_ID, 0, format!("pgw.example.net;1;{n}")).unwrap(),
            Avp::new(AVP_ORIGIN_HOST, 0, "pgw.example.net").unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, "example.net").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "example.net").unwrap(),
            Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
            Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, n).unwrap(),
        ],
    )
}

fn answer_ok(app: &AppBase, req: Message) -> HandlerResult {
    // python: app.node.origin_host
    assert_eq!(
        app.node().unwrap().origin_host(),
        app.origin_host().unwrap()
    );
    let mut a = app.generate_answer(&req, E_RESULT_CODE_DIAMETER_SUCCESS, None)?;
    a.avps.push(
        Avp::new(
            AVP_CC_REQUEST_NUMBER,
            0,
            req.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
                .and_then(Avp::as_u32)
                .unwrap_or(0),
        )
        .unwrap(),
    );
    Ok(Some(a))
}

#[test]
fn send_request_gets_its_answer() {
    let (s, port) = server(answer_ok, 4);
    let app = client_app();
    let (c, _) = client(port, app.clone());
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    for n in 0..20 {
        let answer = app
            .base()
            .send_request(ccr(n), Duration::from_secs(5))
            .unwrap();
        assert_eq!(result_code(&answer), Some(2001));
        assert!(!answer.header.is_request());
        assert_eq!(
            answer
                .find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
                .unwrap()
                .as_u32(),
            Some(n)
        );
        assert_eq!(
            answer.find_avp(&[(AVP_ORIGIN_HOST, 0)]).unwrap().as_str(),
            Some("ocs.example.net")
        );
        assert_eq!(
            answer.header.application_id, 4,
            "send_request sets the application id"
        );
        assert!(answer.header.is_proxyable(), "P is kept from the request");
    }
    // the server's statistics saw every request and answer
    let stats = s.statistics();
    assert!(stats.received_req_counters[0] >= 20, "{stats:?}");
    assert_eq!(
        stats.received_req_counters,
        [stats.received_req_counters[0]; 3]
    );
    assert_eq!(
        stats.sent_result_code_range_counters["2xxx"][0], 20,
        "{stats:?}"
    );
    assert!(stats.avg_response_time["Credit-Control"] > 0.0, "{stats:?}");
    assert!(stats.processed_req_per_second_overall > 0.0);
    let peer_stats = s.peers()["pgw.example.net"].statistics.lock().clone();
    assert_eq!(peer_stats.processed_req_time["Credit-Control"].len(), 20);
    assert!(
        s.statistics_history().is_empty(),
        "the first snapshot comes after 60 s"
    );
    c.stop(Duration::from_secs(5), false).unwrap();
    s.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn max_threads_is_enforced_and_the_rest_get_3004_at_once() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let (release, held) = (Gate::new(), Arrivals::new());
    let (gate, arrived) = (release.clone(), held.clone());
    let (s, port) = server(
        move |app, req| {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            arrived.arrive();
            gate.wait(WAIT);
            r.fetch_sub(1, Ordering::SeqCst);
            answer_ok(app, req)
        },
        2,
    );
    let app = client_app();
    let (c, _) = client(port, app.clone());
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for n in 0..8 {
            let (app, tx) = (app.clone(), tx.clone());
            scope.spawn(move || {
                let a = app.base().send_request(ccr(n), WAIT).unwrap();
                let _ = tx.send((result_code(&a), a.header.is_error()));
            });
        }
        // two handlers hold two requests; the six others are refused at
        // once, while those two are still held
        assert!(held.wait_for(2, WAIT), "two handlers started");
        for _ in 0..6 {
            let busy = rx.recv_timeout(WAIT).expect("a 3004 while two are held");
            assert_eq!(busy.0, Some(3004), "{busy:?}");
            assert!(busy.1, "3004 carries the E bit");
        }
        assert_eq!(held.count(), 2, "{running:?} running");
        release.open();
        for _ in 0..2 {
            let served = rx.recv_timeout(WAIT).expect("the held requests' answers");
            assert_eq!(served, (Some(2001), false));
        }
    });
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "never more than max_threads handlers at once"
    );
    // slots are free again: a new request is served
    let a = app
        .base()
        .send_request(ccr(99), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(2001));
    c.stop(Duration::from_secs(5), false).unwrap();
    s.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn handler_panics_and_errors_get_5012_and_none_leaks_no_slot() {
    let (s, port) = server(
        |app, req| match req
            .find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
            .and_then(Avp::as_u32)
        {
            Some(0) => panic!("handler bug"),
            Some(1) => Err("backend down".into()),
            Some(2) => Ok(None),
            _ => answer_ok(app, req),
        },
        1,
    );
    let app = client_app();
    let (c, _) = client(port, app.clone());
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let a = app
        .base()
        .send_request(ccr(0), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(5012));
    let a = app
        .base()
        .send_request(ccr(1), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(5012));
    // no answer: the request times out, and the single slot is free again
    let e = app
        .base()
        .send_request(ccr(2), Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(e, ApplicationError::RequestTimeout(_)), "{e}");
    let a = app
        .base()
        .send_request(ccr(3), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(2001));
    c.stop(Duration::from_secs(5), false).unwrap();
    s.stop(Duration::from_secs(5), false).unwrap();
}

struct Late {
    base: AppBase,
    late: AtomicUsize,
}

impl Application for Late {
    fn base(&self) -> &AppBase {
        &self.base
    }
    fn handle_request(&self, _: Message) {}
    fn handle_answer(&self, answer: Message) {
        assert_eq!(result_code(&answer), Some(2001));
        self.late.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn late_answers_reach_handle_answer_after_a_timeout() {
    let release = Gate::new();
    let gate = release.clone();
    let (s, port) = server(
        move |app, req| {
            gate.wait(WAIT);
            answer_ok(app, req)
        },
        0,
    );
    let app = Arc::new(Late {
        base: AppBase::auth(4),
        late: AtomicUsize::new(0),
    });
    let (c, _) = client(port, app.clone());
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let t = Instant::now();
    let e = app
        .base()
        .send_request(ccr(1), Duration::from_millis(100))
        .unwrap_err();
    assert!(matches!(e, ApplicationError::RequestTimeout(_)), "{e}");
    assert!(t.elapsed() < Duration::from_millis(300));
    release.open();
    wait_until("the late answer in handle_answer", WAIT, || {
        app.late.load(Ordering::SeqCst) == 1
    });
    c.stop(Duration::from_secs(5), false).unwrap();
    s.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn wait_for_ready_follows_the_peers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = client_app();
    let (c, _) = client(port, app.clone());
    // nobody listens yet
    assert!(matches!(
        app.base().wait_for_ready(Duration::from_millis(300)),
        Err(ApplicationError::NotReady(_))
    ));
    let e = app
        .base()
        .send_request(ccr(1), Duration::from_secs(1))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApplicationError::Node(diameter::node::NodeError::NotRoutable(_))
        ),
        "{e}"
    );
    let s = TestNode::builder("ocs.example.net", "example.net")
        .listen()
        .options(|o| o.tcp_port = Some(port))
        .clients(&["pgw.example.net"])
        .app(ThreadingApplication::new(AppBase::auth(4), 0, answer_ok))
        .start();
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    assert!(app.base().is_ready());
    s.stop(Duration::from_secs(5), true).unwrap();
    wait_until("not ready after the peer left", WAIT, || {
        !app.base().is_ready()
    });
    assert!(app
        .base()
        .wait_for_ready(Duration::from_millis(200))
        .is_err());
    c.stop(Duration::from_secs(5), true).unwrap();
}

#[test]
fn outstanding_requests_return_at_once_when_the_peer_goes() {
    let release = Gate::new();
    let gate = release.clone();
    let (s, port) = server(
        move |app, req| {
            gate.wait(WAIT);
            answer_ok(app, req)
        },
        0,
    );
    let app = client_app();
    let (c, server_peer) = client(port, app.clone());
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let waiting: Vec<_> = (0..10)
        .map(|n| {
            let app = app.clone();
            std::thread::spawn(move || {
                let r = app.base().send_request(ccr(n), Duration::from_secs(20));
                (r, Instant::now())
            })
        })
        .collect();
    wait_until("10 requests outstanding", WAIT, || {
        server_peer.outstanding.load(Ordering::SeqCst) == 10
    });
    let killed = Instant::now();
    // stop joins the workers, which the gate holds until the end
    let stopping = std::thread::spawn(move || s.stop(Duration::from_secs(1), true));
    for w in waiting {
        let (r, at) = w.join().unwrap();
        assert!(matches!(r, Err(ApplicationError::EmptyAnswer(_))), "{r:?}");
        assert!(
            at.duration_since(killed) < Duration::from_secs(1),
            "took {:?}",
            at.duration_since(killed)
        );
    }
    release.open();
    stopping.join().unwrap().unwrap();
    c.stop(Duration::from_secs(5), true).unwrap();
}

/// Two servers in one realm behind one client application.
fn two_servers() -> (Node, Node, Node, Arc<ThreadingApplication>, [Arc<Peer>; 2]) {
    two_servers_with(None)
}

fn two_servers_with(
    select: Option<diameter::node::RouteSelect>,
) -> (Node, Node, Node, Arc<ThreadingApplication>, [Arc<Peer>; 2]) {
    let mut servers = Vec::new();
    let mut seen = Vec::new();
    for host in ["ocs1.example.net", "ocs2.example.net"] {
        let (n, mut peers) = TestNode::builder(host, "example.net")
            .listen()
            .clients(&["pgw.example.net"])
            .app(ThreadingApplication::new(AppBase::auth(4), 0, answer_ok))
            .start()
            .into_parts();
        seen.push(peers.remove(0));
        servers.push(n);
    }
    let app = client_app();
    let (c, _) = TestNode::builder("pgw.example.net", "example.net")
        .configure(move |c| c.peer_route_select_func = select)
        .peer(PeerSpec::at("ocs1.example.net", port(&servers[0])))
        .peer(PeerSpec::at("ocs2.example.net", port(&servers[1])))
        .app(app.clone())
        .start_ready(Duration::from_secs(5))
        .into_parts();
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    (a, b, c, app, [seen[0].clone(), seen[1].clone()])
}

#[test]
fn two_peers_get_a_balanced_share() {
    let (mut a, mut b, mut c, app, seen) = two_servers();
    let counts = || -> Vec<u64> {
        seen.iter()
            .map(|p| p.counters.requests.load(Ordering::Relaxed))
            .collect()
    };
    let since =
        |before: &[u64]| -> Vec<u64> { counts().iter().zip(before).map(|(n, b)| n - b).collect() };
    // one at a time both peers are always equally loaded: they take turns
    let before = counts();
    for n in 0..200 {
        let a = app
            .base()
            .send_request(ccr(n), Duration::from_secs(5))
            .unwrap();
        assert_eq!(result_code(&a), Some(2001));
    }
    assert_eq!(since(&before), [100, 100]);
    // concurrently the least loaded goes first: a server slowed by a busy
    // machine rightly gets less, so this asks for a real share each
    let before = counts();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let app = app.clone();
            scope.spawn(move || {
                for n in 0..250 {
                    let a = app
                        .base()
                        .send_request(ccr(t * 1000 + n), Duration::from_secs(5))
                        .unwrap();
                    assert_eq!(result_code(&a), Some(2001));
                }
            });
        }
    });
    let got = since(&before);
    assert_eq!(got.iter().sum::<u64>(), 1000, "{got:?}");
    for share in &got {
        assert!(*share >= 100, "unbalanced: {got:?}");
    }
    for n in [&mut c, &mut a, &mut b] {
        n.stop(Duration::from_secs(5), false).unwrap();
    }
}

/// Sends `n` requests (with `extra` AVPs) and checks that ocs2 answered all.
fn all_answered_by_ocs2(app: &ThreadingApplication, ocs2: &Peer, n: u32, extra: &[Avp]) {
    let before = ocs2.counters.requests.load(Ordering::Relaxed);
    for i in 0..n {
        let mut req = ccr(i);
        req.avps.extend(extra.iter().cloned());
        let a = app
            .base()
            .send_request(req, Duration::from_secs(5))
            .unwrap();
        assert_eq!(
            a.find_avp(&[(AVP_ORIGIN_HOST, 0)]).unwrap().as_str(),
            Some("ocs2.example.net")
        );
    }
    assert_eq!(
        ocs2.counters.requests.load(Ordering::Relaxed) - before,
        u64::from(n)
    );
}

#[test]
fn destination_host_selects_the_named_peer() {
    let (mut a, mut b, mut c, app, seen) = two_servers();
    let dest = Avp::new(AVP_DESTINATION_HOST, 0, "ocs2.example.net").unwrap();
    all_answered_by_ocs2(&app, &seen[1], 20, &[dest]);
    for n in [&mut c, &mut a, &mut b] {
        n.stop(Duration::from_secs(5), false).unwrap();
    }
}

#[test]
fn peer_route_select_func_picks_the_peer() {
    // python: node.peer_route_select_func = lambda node, app, msg, peers: peers[-1]
    let select: diameter::node::RouteSelect = Arc::new(|app, _msg, peers| {
        assert_eq!(app.application_id(), 4);
        assert_eq!(peers.len(), 2);
        Ok(peers
            .iter()
            .find(|p| p.node_name == "ocs2.example.net")
            .unwrap()
            .clone())
    });
    let (mut a, mut b, mut c, app, seen) = two_servers_with(Some(select));
    all_answered_by_ocs2(&app, &seen[1], 10, &[]);
    for n in [&mut c, &mut a, &mut b] {
        n.stop(Duration::from_secs(5), false).unwrap();
    }
}

#[test]
fn realms_and_default_peers_route_requests() {
    let (s, port) = server(answer_ok, 0);
    // the application serves its peer's realm and the extra realm given to
    // add_application; requests for other realms are not routable
    let app = client_app();
    let c = TestNode::builder("pgw.example.net", "example.net")
        .peer(PeerSpec::at("ocs.example.net", port))
        .app_routing(app.clone(), &["roaming.example"])
        .start();
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let to_realm = |realm: &str| {
        let mut req = ccr(1);
        req.avps.retain(|a| a.code() != AVP_DESTINATION_REALM);
        req.append_avp(Avp::new(AVP_DESTINATION_REALM, 0, realm).unwrap());
        req
    };
    assert!(app
        .base()
        .send_request(to_realm("roaming.example"), Duration::from_secs(5))
        .is_ok());
    let e = app
        .base()
        .send_request(to_realm("unknown.example"), Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApplicationError::Node(diameter::node::NodeError::NotRoutable(_))
        ),
        "{e}"
    );
    c.stop(Duration::from_secs(5), false).unwrap();

    // an application without peers of its own uses the realm's default peers
    let app = client_app();
    let c = TestNode::builder("pgw.example.net", "example.net")
        .peer(
            PeerSpec::at("ocs.example.net", port)
                .options(|o| o.is_default = true)
                .unserved(),
        )
        .app(app.clone())
        .start();
    let peer = c.peer(0);
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let a = app
        .base()
        .send_request(ccr(2), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(2001));
    assert!(peer.is_ready());
    c.stop(Duration::from_secs(5), false).unwrap();
    s.stop(Duration::from_secs(5), false).unwrap();
}

/// Quick handlers share workers: a request that comes while the only
/// worker is in a (so far quick) handler waits for it rather than waking
/// another. When that handler blocks, the requests behind it still get
/// workers of their own and are answered while it stays blocked.
#[test]
fn a_quick_handler_that_blocks_holds_up_no_request_behind_it() {
    const BLOCKER: u32 = 1_000_000;
    let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(1);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let (s, port) = server(
        move |app, req| {
            let n = req
                .find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
                .and_then(Avp::as_u32);
            if n == Some(BLOCKER) {
                let _ = started_tx.send(());
                // released by the test, or after the test gave up
                let _ = release_rx.recv_timeout(Duration::from_secs(20));
            }
            answer_ok(app, req)
        },
        0,
    );
    let app = client_app();
    let (c, _) = client(port, app.clone());
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    // quick requests, one at a time: the pool learns its jobs are quick
    for n in 0..50 {
        let a = app
            .base()
            .send_request(ccr(n), Duration::from_secs(5))
            .unwrap();
        assert_eq!(result_code(&a), Some(2001));
    }
    let blocked = app
        .base()
        .send_request_nowait(ccr(BLOCKER), Duration::from_secs(30))
        .unwrap();
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // the blocker's worker is stuck: every request behind it is answered
    // anyway, one at a time and then many at once
    for n in 100..120 {
        let a = app
            .base()
            .send_request(ccr(n), Duration::from_secs(5))
            .unwrap();
        assert_eq!(result_code(&a), Some(2001), "request {n}");
    }
    let in_flight: Vec<_> = (200..264)
        .map(|n| {
            app.base()
                .send_request_nowait(ccr(n), Duration::from_secs(5))
                .unwrap()
        })
        .collect();
    for (n, pending) in (200..).zip(in_flight) {
        let a = pending.wait(Duration::from_secs(5)).unwrap();
        assert_eq!(result_code(&a), Some(2001), "request {n}");
    }
    release_tx.send(()).unwrap();
    let a = blocked.wait(Duration::from_secs(5)).unwrap();
    assert_eq!(result_code(&a), Some(2001));
    c.stop(Duration::from_secs(5), false).unwrap();
    s.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn one_peer_cannot_take_a_whole_pool() {
    let (entered_tx, entered_rx) = crossbeam_channel::unbounded::<()>();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let release_rx = Arc::new(parking_lot::Mutex::new(release_rx));
    let (s, port) = server_for(
        &["pgw.example.net", "pgw2.example.net"],
        move |app, req| {
            let _ = entered_tx.send(());
            // held until the test closes the channel (or gives up)
            let _ = release_rx
                .lock()
                .clone()
                .recv_timeout(Duration::from_secs(20));
            answer_ok(app, req)
        },
        16,
    );
    let hog = client_app();
    let (c1, _) = client(port, hog.clone());
    hog.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let other = client_app();
    let (c2, _) = client_as("pgw2.example.net", port, other.clone());
    other.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    // one peer asks for all 16 slots at once while another is connected:
    // three quarters are its share
    let held: Vec<_> = (0..16)
        .map(|n| {
            hog.base()
                .send_request_nowait(ccr(n), Duration::from_secs(30))
                .unwrap()
        })
        .collect();
    for _ in 0..12 {
        entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    // the other peer is still served
    let mut req = ccr(100);
    req.avps[1] = Avp::new(AVP_ORIGIN_HOST, 0, "pgw2.example.net").unwrap();
    let pending = other
        .base()
        .send_request_nowait(req, Duration::from_secs(30))
        .unwrap();
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the other peer's request reaches a worker");
    drop(release_tx);
    let a = pending.wait(Duration::from_secs(10)).unwrap();
    assert_eq!(result_code(&a), Some(2001));
    let codes: Vec<Option<u32>> = held
        .into_iter()
        .map(|p| result_code(&p.wait(Duration::from_secs(10)).unwrap()))
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(2001)).count(),
        12,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == Some(3004)).count(),
        4,
        "{codes:?}"
    );
    c1.stop(Duration::from_secs(5), false).unwrap();
    c2.stop(Duration::from_secs(5), false).unwrap();
    s.stop(Duration::from_secs(5), false).unwrap();
}
