//! A node's life over loopback, and what it survives: worker threads that
//! come and go, user code that panics (handlers, route selectors), an event
//! loop that dies, settings at `Duration::MAX`, the statistics history,
//! peers and applications added after `start`, `stop` from another thread
//! and before `start`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant, SystemTime};

use crate::support::cc::{answer, ccr, count, exchange};
use crate::support::{result_code, wait_until, within, Arrivals, Gate, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::{
    AppBase, Application, ApplicationError, HandlerResult, ThreadingApplication,
};
use diameter::node::peer::Peer;
use diameter::node::{
    NoRoute, NoRouteReason, Node, NodeError, NodeOptions, PeerOptions, RouteSelect,
};

const SERVER: &str = "ocs.example.net";
const CLIENT: &str = "pgw.example.net";
const REALM: &str = "example.net";

/// A server node listening on a loopback port, not started, that knows the
/// client as a peer.
fn server_node(host: &str) -> (Node, Arc<Peer>) {
    let (n, mut peers) = TestNode::builder(host, REALM)
        .listen()
        .clients(&[CLIENT])
        .build()
        .into_parts();
    (n, peers.remove(0))
}

/// A started server serving `app` to the client; its port.
fn server_with(app: Arc<dyn Application>) -> (Node, u16) {
    let n = TestNode::builder(SERVER, REALM)
        .listen()
        .clients(&[CLIENT])
        .app(app)
        .start();
    let port = n.port();
    (n.node, port)
}

/// The server `host` at `port`, as the client's persistent peer.
fn the_server(host: &str, port: u16) -> PeerSpec {
    PeerSpec::at(host, port).reconnect_wait(Duration::from_millis(100))
}

/// A client node, not started, whose persistent peer is `host` at `port`.
fn client_node(host: &str, port: u16) -> (Node, Arc<Peer>) {
    let (n, mut peers) = TestNode::builder(CLIENT, REALM)
        .peer(the_server(host, port))
        .build()
        .into_parts();
    (n, peers.remove(0))
}

/// A started client running `app` towards the server at `port`, ready.
fn client_with(port: u16, app: Arc<dyn Application>) -> Node {
    client_with_host(SERVER, port, app)
}

/// [`client_with`] towards another server host.
fn client_with_host(host: &str, port: u16, app: Arc<dyn Application>) -> Node {
    let n = TestNode::builder(CLIENT, REALM)
        .peer(the_server(host, port))
        .app(app.clone())
        .start();
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    n.node
}

/// A client application: it only sends.
fn client_app() -> Arc<ThreadingApplication> {
    ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None))
}

fn number(m: &Message) -> Option<u32> {
    m.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
        .and_then(Avp::as_u32)
}

fn origin_host(m: &Message) -> Option<&str> {
    m.find_avp(&[(AVP_ORIGIN_HOST, 0)]).and_then(Avp::as_str)
}

/// A handler that answers like [`answer`] once `release` opens, or after
/// 3 s: a request kept in flight for as long as a test needs.
fn held_until(
    release: &Gate,
) -> impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static {
    let release = release.clone();
    move |app, req| {
        release.wait(Duration::from_secs(3));
        answer(app, req)
    }
}

#[test]
fn idle_workers_exit_after_the_keep_alive_and_stop_joins_them() {
    let workers: Arc<Mutex<HashSet<ThreadId>>> = Arc::default();
    let seen = workers.clone();
    // the first two requests wait for each other (5 s at most), so that two
    // workers run at once however quick the pool finds the other jobs
    let met = Arrivals::new();
    let app = ThreadingApplication::with_keep_alive(
        AppBase::auth(4),
        0,
        Duration::from_millis(300),
        move |app, req| {
            seen.lock().unwrap().insert(std::thread::current().id());
            if number(&req).is_some_and(|n| n < 2) {
                met.arrive();
                met.wait_for(2, Duration::from_secs(5));
            }
            answer(app, req)
        },
    );
    let (server, port) = server_with(app.clone());
    let sender = client_app();
    let client = client_with(port, sender.clone());

    std::thread::scope(|scope| {
        for t in 0..32u32 {
            let sender = &sender;
            scope.spawn(move || {
                for n in (t..2000).step_by(32) {
                    let a = sender
                        .base()
                        .send_request(ccr(CLIENT, REALM, n), Duration::from_secs(10))
                        .unwrap_or_else(|e| panic!("CCR {n}: {e}"));
                    assert_eq!(result_code(&a), Some(2001), "CCR {n}");
                    assert_eq!(number(&a), Some(n));
                }
            });
        }
    });
    let distinct = workers.lock().unwrap().len();
    assert!(distinct >= 2, "32 senders ran on {distinct} worker(s)");

    // idle for longer than the keep-alive: every worker exits
    wait_until("idle workers exit", Duration::from_secs(5), || {
        app.threads() == 0
    });
    assert_eq!(app.busy(), 0);

    // a worker is started again for the next request
    exchange(&sender, CLIENT, REALM, 5000..5001);
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
    assert_eq!(app.threads(), 0, "stop joins the workers");
}

/// A plain application (run on the event loop): `handle_request` panics
/// for CC-Request-Number 0, keeps number 2 for the test to answer, and
/// answers the others 2001; `handle_answer` panics.
struct Fragile {
    base: AppBase,
    held: Mutex<Option<Message>>,
    late_answers: AtomicUsize,
}

impl Fragile {
    fn new() -> Arc<Fragile> {
        Arc::new(Fragile {
            base: AppBase::auth(4),
            held: Mutex::new(None),
            late_answers: AtomicUsize::new(0),
        })
    }
}

impl Application for Fragile {
    fn base(&self) -> &AppBase {
        &self.base
    }

    fn handle_request(&self, request: Message) {
        match number(&request) {
            Some(0) => panic!("handle_request bug (injected)"),
            Some(2) => *self.held.lock().unwrap() = Some(request),
            _ => {
                let a = self
                    .base
                    .generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None)
                    .unwrap();
                self.base.send_answer(&a).unwrap();
            }
        }
    }

    fn handle_answer(&self, _: Message) {
        self.late_answers.fetch_add(1, Ordering::SeqCst);
        panic!("handle_answer bug (injected)");
    }
}

#[test]
fn a_panic_in_handle_request_is_answered_5012_and_the_node_keeps_serving() {
    let on_server = Fragile::new();
    let (server, port) = server_with(on_server.clone());
    let on_client = Fragile::new();
    let client = client_with(port, on_client.clone());
    let send = |n: u32, timeout: Duration| {
        on_client
            .base()
            .send_request(ccr(CLIENT, REALM, n), timeout)
    };

    let a = send(0, Duration::from_secs(5)).unwrap();
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY)
    );
    assert_eq!(origin_host(&a), Some(SERVER));
    let a = send(1, Duration::from_secs(5)).unwrap();
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(server.protocol_stats().callback_panics, 1);

    // a late answer reaches the client's handle_answer, which panics
    let e = send(2, Duration::from_millis(200)).unwrap_err();
    assert!(matches!(e, ApplicationError::RequestTimeout(_)), "{e}");
    let mut held = None;
    wait_until("the server holds request 2", Duration::from_secs(5), || {
        held = on_server.held.lock().unwrap().take();
        held.is_some()
    });
    let late = on_server
        .base()
        .generate_answer(&held.unwrap(), E_RESULT_CODE_DIAMETER_SUCCESS, None)
        .unwrap();
    on_server.base().send_answer(&late).unwrap();
    wait_until("handle_answer panicked", Duration::from_secs(5), || {
        client.protocol_stats().callback_panics == 1
    });
    assert_eq!(on_client.late_answers.load(Ordering::SeqCst), 1);

    // both event loops carry on
    let a = send(3, Duration::from_secs(5)).unwrap();
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(server.protocol_stats().callback_panics, 1);
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn a_panicking_route_selector_is_a_routing_error() {
    let servers: Vec<(Node, u16)> = ["ocs1.example.net", "ocs2.example.net"]
        .iter()
        .map(|host| {
            let (n, client) = server_node(host);
            n.add_application(
                ThreadingApplication::new(AppBase::auth(4), 0, answer),
                [&client],
                &[],
            );
            n.start().unwrap();
            let port = n.listen_addresses()[0].port();
            (n, port)
        })
        .collect();
    let select: RouteSelect = Arc::new(|_, _, _| panic!("route selector bug (injected)"));
    let app = client_app();
    let client = TestNode::builder(CLIENT, REALM)
        .configure(|c| c.peer_route_select_func = Some(select))
        .peer(PeerSpec::at("ocs1.example.net", servers[0].1))
        .peer(PeerSpec::at("ocs2.example.net", servers[1].1))
        .app(app.clone())
        .start_ready(Duration::from_secs(5))
        .node;

    let t = Instant::now();
    let e = app
        .base()
        .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ApplicationError::Node(NodeError::NotRoutable(NoRoute {
                application_id: 4,
                reason: NoRouteReason::SelectorFailed,
                ..
            }))
        ),
        "{e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(client.protocol_stats().callback_panics, 1);

    // one candidate: the selector is not called
    let mut req = ccr(CLIENT, REALM, 2);
    req.append_avp(Avp::new(AVP_DESTINATION_HOST, 0, "ocs2.example.net").unwrap());
    let a = app
        .base()
        .send_request(req, Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(origin_host(&a), Some("ocs2.example.net"));
    assert_eq!(client.protocol_stats().callback_panics, 1);

    client.stop(Duration::from_secs(5), false).unwrap();
    for (s, _) in servers {
        s.stop(Duration::from_secs(5), false).unwrap();
    }
}

#[test]
fn a_dead_event_loop_fails_waiting_callers_at_once_and_stop_reports_it() {
    let release = Gate::new();
    let slow = ThreadingApplication::new(AppBase::auth(4), 0, held_until(&release));
    let (server, port) = server_with(slow.clone());
    let sender = client_app();
    let client = client_with(port, sender.clone());

    let waiting = {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let r = sender
                .base()
                .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(10));
            (r, Instant::now())
        })
    };
    wait_until("the request is in flight", Duration::from_secs(5), || {
        slow.busy() == 1
    });
    let died = Instant::now();
    client.inject_loop_panic().unwrap();
    let (r, at) = waiting.join().unwrap();
    assert!(matches!(r, Err(ApplicationError::EmptyAnswer(_))), "{r:?}");
    let took = at.duration_since(died);
    assert!(took < Duration::from_secs(1), "the caller waited {took:?}");

    // once the loop is gone (see
    // requests_queued_when_the_loop_dies_fail_at_once for the moment
    // before), nothing new is taken
    wait_until("the loop is gone", Duration::from_secs(2), || {
        matches!(client.inject_loop_panic(), Err(NodeError::LoopDied))
    });
    let t = Instant::now();
    let e = sender
        .base()
        .send_request(ccr(CLIENT, REALM, 2), Duration::from_secs(10))
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(
        matches!(e, ApplicationError::Node(NodeError::LoopDied)),
        "{e:?}"
    );
    assert!(matches!(
        client.stop(Duration::from_secs(2), false),
        Err(NodeError::LoopDied)
    ));
    assert!(matches!(
        client.stop(Duration::from_secs(2), false),
        Err(NodeError::NotStarted)
    ));

    release.open();
    server.stop(Duration::from_secs(5), false).unwrap();
}

/// A plain application whose `handle_request` holds the event loop until
/// `release` is set (5 s at most), then answers 2001.
struct LoopHolder {
    base: AppBase,
    holding: AtomicBool,
    release: Gate,
}

impl Application for LoopHolder {
    fn base(&self) -> &AppBase {
        &self.base
    }

    fn handle_request(&self, request: Message) {
        self.holding.store(true, Ordering::SeqCst);
        self.release.wait(Duration::from_secs(5));
        let Ok(a) = self
            .base
            .generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None)
        else {
            return;
        };
        let _ = self.base.send_answer(&a);
    }
}

/// The name of the thread whose request waits in the loop's queue.
const QUEUED: &str = "queued-request";

/// Whether this process's thread named `name` sleeps (state `S` in
/// /proc: blocked, here on its answer's channel).
fn thread_sleeps(name: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    tasks.flatten().any(|task| {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // the state follows the parenthesised name
        let state = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('S'));
        comm.trim_end() == name && state == Some(true)
    })
}

#[test]
fn requests_queued_when_the_loop_dies_fail_at_once() {
    // The client's loop is held inside a plain application's handle_request
    // (a request from the server); meanwhile a panic is injected and a
    // request is queued behind it. Once released, the loop dies on the
    // panic: the request still in its command queue must fail at once.
    // Today it stays in the queue (crossbeam keeps queued messages while a
    // sender lives, and Handle keeps the sender), so its reply channel
    // never closes and the caller waits its full timeout.
    let on_server = ThreadingApplication::new(AppBase::auth(4), 0, answer);
    let (server, port) = server_with(on_server.clone());
    let holder = Arc::new(LoopHolder {
        base: AppBase::auth(4),
        holding: AtomicBool::new(false),
        release: Gate::new(),
    });
    let (client, server_peer) = client_node(SERVER, port);
    client.add_application(holder.clone(), [&server_peer], &[]);
    client.start().unwrap();
    holder
        .base()
        .wait_for_ready(Duration::from_secs(5))
        .unwrap();
    on_server
        .base()
        .wait_for_ready(Duration::from_secs(5))
        .unwrap();

    let from_server = {
        let on_server = on_server.clone();
        std::thread::spawn(move || {
            on_server
                .base()
                .send_request(ccr(SERVER, REALM, 1), Duration::from_secs(5))
        })
    };
    wait_until("the client's loop is held", Duration::from_secs(5), || {
        holder.holding.load(Ordering::SeqCst)
    });
    client.inject_loop_panic().unwrap();
    let queued = {
        let holder = holder.clone();
        std::thread::Builder::new()
            .name(QUEUED.into())
            .spawn(move || {
                let t = Instant::now();
                let r = holder
                    .base()
                    .send_request(ccr(CLIENT, REALM, 2), Duration::from_secs(3));
                (r, t.elapsed())
            })
            .unwrap()
    };
    // routed, then handed to the queue, and its caller waits for the
    // answer: its thread sleeps
    wait_until("the request is queued", Duration::from_secs(5), || {
        server_peer.outstanding.load(Ordering::SeqCst) == 1 && thread_sleeps(QUEUED)
    });
    holder.release.open();

    let (r, took) = queued.join().unwrap();
    assert!(r.is_err(), "{r:?}");
    let _ = from_server.join().unwrap();
    assert!(matches!(
        client.stop(Duration::from_secs(2), true),
        Err(NodeError::LoopDied)
    ));
    server.stop(Duration::from_secs(5), true).unwrap();
    assert!(
        took < Duration::from_secs(1),
        "the queued request waited {took:?}: {r:?}"
    );
}

/// Every timer, deadline and limit of a node at `Duration::MAX`.
fn never(n: &mut Node) {
    n.cea_timeout = Duration::MAX;
    n.cer_timeout = Duration::MAX;
    n.dwa_timeout = Duration::MAX;
    n.idle_timeout = Duration::MAX;
    n.dpa_timeout = Duration::MAX;
    n.statistics_history_interval = Duration::MAX;
    n.limits.owed_answer_ttl = Duration::MAX;
    n.limits.late_answer_window = Duration::MAX;
    n.limits.duplicates.ttl = Duration::MAX;
}

fn never_for(peer: &Peer) {
    let mut s = peer.settings.lock();
    s.cea_timeout = Some(Duration::MAX);
    s.cer_timeout = Some(Duration::MAX);
    s.dwa_timeout = Some(Duration::MAX);
    s.idle_timeout = Some(Duration::MAX);
    s.reconnect_wait = Duration::MAX;
    s.connect_timeout = Duration::MAX;
}

#[test]
fn settings_near_duration_max_do_not_panic() {
    let (mut server, client_peer) = server_node(SERVER);
    never(&mut server);
    never_for(&client_peer);
    let app = ThreadingApplication::with_keep_alive(AppBase::auth(4), 0, Duration::MAX, answer);
    server.add_application(app.clone(), [&client_peer], &[]);
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();

    let (mut client, server_peer) = client_node(SERVER, port);
    never(&mut client);
    never_for(&server_peer);
    let sender = client_app();
    client.add_application(sender.clone(), [&server_peer], &[]);
    client.start().unwrap();

    let s = sender.clone();
    within(
        "wait_for_ready(Duration::MAX)",
        Duration::from_secs(10),
        move || s.base().wait_for_ready(Duration::MAX).unwrap(),
    );
    let s = sender.clone();
    let a = within(
        "a request with Duration::MAX",
        Duration::from_secs(10),
        move || {
            s.base()
                .send_request(ccr(CLIENT, REALM, 7), Duration::MAX)
                .unwrap()
        },
    );
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(number(&a), Some(7));

    let t = Instant::now();
    client.stop(Duration::from_secs(5), false).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "DPR/DPA took {:?}",
        t.elapsed()
    );
    assert_eq!(count(&server_peer.counters.dpa), 1, "a clean DPR/DPA");
    server.stop(Duration::from_secs(5), false).unwrap();
    assert_eq!(app.threads(), 0, "workers kept for ever still stop");
}

#[test]
fn statistics_history_fills_at_its_interval() {
    let (mut server, client_peer) = server_node(SERVER);
    server.statistics_history_interval = Duration::from_millis(100);
    server.add_application(
        ThreadingApplication::new(AppBase::auth(4), 0, answer),
        [&client_peer],
        &[],
    );
    let started = Instant::now();
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();
    let sender = client_app();
    let client = client_with(port, sender.clone());
    exchange(&sender, CLIENT, REALM, 0..10);

    let counted = |s: &diameter::node::stats::NodeStats| {
        s.received_req_counters[0] >= 10
            && s.sent_result_code_range_counters
                .get("2xxx")
                .is_some_and(|c| c[0] >= 10)
    };
    wait_until(
        "3 snapshots, the last with the requests",
        Duration::from_secs(2),
        || {
            let h = server.statistics_history();
            h.len() >= 3 && h.last().is_some_and(|(_, s)| counted(s))
        },
    );
    let history = server.statistics_history();
    let most = started.elapsed().as_millis() / 100 + 2;
    assert!(
        history.len() as u128 <= most,
        "{} snapshots in {:?}: more than one per interval",
        history.len(),
        started.elapsed()
    );
    let times: Vec<SystemTime> = history.iter().map(|(t, _)| *t).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn applications_and_peers_can_be_added_after_start() {
    // python's example order: start, then add_peer, then add_application
    let server = TestNode::builder(SERVER, REALM).listen().build().node;
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();
    let client_peer = PeerSpec::known(CLIENT).add_to(&server);
    let on_server = ThreadingApplication::new(AppBase::auth(4), 0, answer);
    server.add_application(on_server.clone(), [&client_peer], &[]);
    assert_eq!(server.auth_application_ids(), [4]);

    let client = Node::new(CLIENT, REALM, NodeOptions::default());
    client.start().unwrap();
    let server_peer = PeerSpec::at(SERVER, port).add_to(&client);
    let on_client = ThreadingApplication::new(AppBase::auth(4), 0, answer);
    client.add_application(on_client.clone(), [&server_peer], &[]);

    on_client
        .base()
        .wait_for_ready(Duration::from_secs(5))
        .unwrap();
    on_server
        .base()
        .wait_for_ready(Duration::from_secs(5))
        .unwrap();
    // the client connects as soon as the peer is added: its first CER
    // may leave before add_application, advertise none and be refused;
    // the node then tries again at once with the application
    // (a_peer_refused_before_the_application_was_added_is_retried_at_once)
    let ceas = count(&server_peer.counters.cea);
    assert!(
        (1..=2).contains(&ceas),
        "{ceas} CEAs: at most one refused CER before the application"
    );
    exchange(&on_client, CLIENT, REALM, 0..10);
    exchange(&on_server, SERVER, REALM, 100..110);
    client.stop(Duration::from_secs(5), false).unwrap();

    // a client connecting later is offered the application added after start
    let (late_server, client_peer) = server_node("ocs2.example.net");
    late_server.start().unwrap();
    let port = late_server.listen_addresses()[0].port();
    late_server.add_application(
        ThreadingApplication::new(AppBase::auth(4), 0, answer),
        [&client_peer],
        &[],
    );
    let sender = client_app();
    let late_client = client_with_host("ocs2.example.net", port, sender.clone());
    let a = sender
        .base()
        .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(origin_host(&a), Some("ocs2.example.net"));
    late_client.stop(Duration::from_secs(5), false).unwrap();
    late_server.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn stop_can_be_called_from_another_thread() {
    let release = Gate::new();
    let slow = ThreadingApplication::new(AppBase::auth(4), 0, held_until(&release));
    let (server, port) = server_with(slow.clone());
    let sender = client_app();
    let client = Arc::new(client_with(port, sender.clone()));

    let stopper = {
        let client = client.clone();
        let slow = slow.clone();
        std::thread::spawn(move || {
            wait_until("the request is in flight", Duration::from_secs(5), || {
                slow.busy() == 1
            });
            let t = Instant::now();
            (client.stop(Duration::from_secs(2), false), t)
        })
    };
    let r = sender
        .base()
        .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(20));
    let returned = Instant::now();
    let (stopped, stop_called) = stopper.join().unwrap();
    stopped.unwrap();
    match &r {
        Err(ApplicationError::EmptyAnswer(_)) => {}
        Ok(a) => assert_eq!(result_code(a), Some(2001)),
        Err(e) => panic!("{e:?}"),
    }
    let took = returned.saturating_duration_since(stop_called);
    assert!(
        took < Duration::from_secs(4),
        "returned {took:?} after stop"
    );

    // stopped: requests fail at once, and a second stop says so
    let t = Instant::now();
    assert!(sender
        .base()
        .send_request(ccr(CLIENT, REALM, 2), Duration::from_secs(5))
        .is_err());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(matches!(
        client.stop(Duration::from_secs(1), false),
        Err(NodeError::NotStarted)
    ));
    release.open();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn stop_before_start_is_not_started_and_requests_before_start_fail() {
    let (node, peer) = client_node(SERVER, 3868);
    assert!(matches!(
        node.stop(Duration::from_secs(1), false),
        Err(NodeError::NotStarted)
    ));
    assert!(matches!(
        node.inject_loop_panic(),
        Err(NodeError::NotStarted)
    ));

    // an application never added to a node
    let alone = client_app();
    let e = alone
        .base()
        .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(5))
        .unwrap_err();
    assert!(matches!(e, ApplicationError::NotAttached), "{e:?}");

    // added to a node that is not started
    let app = client_app();
    node.add_application(app.clone(), [&peer], &[]);
    let t = Instant::now();
    let e = app
        .base()
        .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(5))
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // the exact error is checked in a_request_before_start_is_not_started
    assert!(matches!(e, ApplicationError::Node(_)), "{e:?}");
    assert!(matches!(
        node.stop(Duration::from_secs(1), false),
        Err(NodeError::NotStarted)
    ));
}

#[test]
fn a_request_before_start_is_not_started() {
    let (node, peer) = client_node(SERVER, 3868);
    let app = client_app();
    node.add_application(app.clone(), [&peer], &[]);
    let e = app
        .base()
        .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(e, ApplicationError::Node(NodeError::NotStarted)),
        "before start: {e:?}"
    );
    node.start().unwrap();
    node.stop(Duration::from_secs(1), true).unwrap();
    let e = app
        .base()
        .send_request(ccr(CLIENT, REALM, 2), Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(e, ApplicationError::Node(NodeError::Stopped)),
        "after stop: {e:?}"
    );
}

/// python's `peer.reconnect_wait = 5` and the other per-peer settings are
/// plain setters; defaults carry python's names.
#[test]
fn peer_settings_have_setters_and_pythons_defaults() {
    use diameter::node::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_WAIT};

    let n = Node::new(CLIENT, REALM, NodeOptions::default());
    assert_eq!(n.cea_timeout, diameter::node::DEFAULT_CEA_TIMEOUT);
    assert_eq!(n.cer_timeout, diameter::node::DEFAULT_CER_TIMEOUT);
    assert_eq!(n.dwa_timeout, diameter::node::DEFAULT_DWA_TIMEOUT);
    assert_eq!(n.idle_timeout, diameter::node::DEFAULT_IDLE_TIMEOUT);
    assert_eq!(n.wakeup_interval, diameter::node::DEFAULT_WAKEUP_INTERVAL);
    assert_eq!(
        n.retransmit_queue_size,
        diameter::node::DEFAULT_RETRANSMIT_QUEUE_SIZE
    );
    assert_eq!(
        n.statistics_history_interval,
        diameter::node::DEFAULT_STATISTICS_HISTORY_INTERVAL
    );
    let peer = n
        .add_peer("aaa://ocs.example.net", None, PeerOptions::default())
        .unwrap();
    assert_eq!(peer.reconnect_wait(), DEFAULT_RECONNECT_WAIT);
    assert_eq!(peer.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
    assert!(!peer.always_reconnect());
    assert_eq!(peer.cea_timeout(), None);

    peer.set_reconnect_wait(Duration::from_secs(5));
    peer.set_always_reconnect(true);
    peer.set_cea_timeout(Duration::from_secs(1));
    peer.set_cer_timeout(Duration::from_secs(2));
    peer.set_dwa_timeout(Duration::from_secs(3));
    peer.set_idle_timeout(Duration::from_secs(10));
    peer.set_connect_timeout(Duration::from_secs(7));
    assert_eq!(peer.reconnect_wait(), Duration::from_secs(5));
    assert!(peer.always_reconnect());
    assert_eq!(peer.cea_timeout(), Some(Duration::from_secs(1)));
    assert_eq!(peer.cer_timeout(), Some(Duration::from_secs(2)));
    assert_eq!(peer.dwa_timeout(), Some(Duration::from_secs(3)));
    assert_eq!(peer.idle_timeout(), Some(Duration::from_secs(10)));
    assert_eq!(peer.connect_timeout(), Duration::from_secs(7));
    // the fields stay readable (and writable) as before
    assert_eq!(peer.settings.lock().reconnect_wait, Duration::from_secs(5));
    peer.set_idle_timeout(None);
    assert_eq!(peer.settings.lock().idle_timeout, None);
    // python's other peer attributes, before any connection
    assert!(peer.connection().is_none());
    assert_eq!(peer.disconnect_reason(), None);
    assert_eq!(peer.last_connect(), None);
    assert_eq!(peer.last_disconnect(), None);
}

/// The history keeps python's 1,440 snapshots (its deque's `maxlen`): the
/// oldest goes when a new one comes.
#[test]
fn statistics_history_is_bounded_like_pythons() {
    use diameter::node::STATISTICS_HISTORY_SIZE;

    let (mut server, _) = server_node("history.example.net");
    server.statistics_history_interval = Duration::from_millis(1);
    server.start().unwrap();
    wait_until("a full history", Duration::from_secs(60), || {
        server.statistics_history().len() >= STATISTICS_HISTORY_SIZE
    });
    let oldest = server.statistics_history()[0].0;
    wait_until("the oldest snapshot to go", Duration::from_secs(10), || {
        server.statistics_history()[0].0 != oldest
    });
    assert_eq!(server.statistics_history().len(), STATISTICS_HISTORY_SIZE);
    server.stop(Duration::from_secs(5), false).unwrap();
}

/// python's examples start the node before adding the application, so the
/// first CER may advertise none and be refused (5010): once the application
/// is added, the peer is tried again at once, not after `reconnect_wait`.
#[test]
fn a_peer_refused_before_the_application_was_added_is_retried_at_once() {
    let (_server, port) = server_with(ThreadingApplication::new(AppBase::auth(4), 1, answer));
    let (n, peer) = client_node(SERVER, port);
    peer.set_reconnect_wait(Duration::from_secs(600));
    n.start().unwrap();
    wait_until(
        "the CER without applications refused",
        Duration::from_secs(5),
        || peer.last_disconnect().is_some(),
    );
    let app = client_app();
    n.add_application(app.clone(), [&peer], &[]);
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let cca = app
        .base()
        .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&cca), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    n.stop(Duration::from_secs(2), false).unwrap();
}
