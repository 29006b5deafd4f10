//! RFC 6733 §5.5.4 failover on loopback: requests waiting on a connection
//! that fails go, with the T flag, to another peer of their realm and
//! application; with none, their callers fail at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::cc::{app_requests, ccr};
use crate::support::{port, result_code, wait_until, Gate, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::{AppBase, Application, HandlerResult, ThreadingApplication};
use diameter::node::peer::Peer;
use diameter::node::{ApplicationError, EmptyReason, Node};

const CLIENT: &str = "pgw.example.net";
const REALM: &str = "example.net";

/// How a server answers.
#[derive(Clone)]
enum Pace {
    /// At once.
    Now,
    /// 20 ms late, so that a load keeps requests in flight.
    Late,
    /// Once the gate opens.
    Held(Gate),
}

/// A server node `host` for the client, answering 2001 at `pace`.
fn server(host: &str, pace: Pace) -> Node {
    let answer = move |app: &AppBase, req: Message| -> HandlerResult {
        match &pace {
            Pace::Now => {}
            // a stimulus, not a decision: the load needs answers that flow
            Pace::Late => std::thread::sleep(Duration::from_millis(20)),
            Pace::Held(gate) => {
                gate.wait(Duration::from_secs(10));
            }
        }
        Ok(Some(app.generate_answer(
            &req,
            E_RESULT_CODE_DIAMETER_SUCCESS,
            None,
        )?))
    };
    TestNode::builder(host, REALM)
        .listen()
        .clients(&[CLIENT])
        .app(ThreadingApplication::new(AppBase::auth(4), 256, answer))
        .start()
        .node
}

/// A client of `servers` (all in one realm), once every one is ready.
fn client(servers: &[&Node]) -> (Node, Arc<ThreadingApplication>, Vec<Arc<Peer>>) {
    client_with(servers, |_| {})
}

/// [`client`], with `configure` run on the node before it starts.
fn client_with(
    servers: &[&Node],
    configure: impl FnOnce(&mut Node) + 'static,
) -> (Node, Arc<ThreadingApplication>, Vec<Arc<Peer>>) {
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let client = servers
        .iter()
        .fold(
            TestNode::builder(CLIENT, REALM).configure(configure),
            |b, s| b.peer(PeerSpec::at(&s.origin_host, port(s))),
        )
        .app(app.clone())
        .start_ready(Duration::from_secs(5));
    let (c, peers) = client.into_parts();
    (c, app, peers)
}

/// Sends every request to ocs1 while it is offered (realm routing would
/// balance over both servers).
fn prefer_ocs1(c: &mut Node) {
    c.peer_route_select_func = Some(Arc::new(|_, _, peers| {
        Ok(peers
            .iter()
            .find(|p| p.node_name == "ocs1.example.net")
            .unwrap()
            .clone())
    }));
}

/// The client-side peer the server `node` is.
fn seen_as<'a>(node: &Node, peers: &'a [Arc<Peer>]) -> &'a Arc<Peer> {
    peers
        .iter()
        .find(|p| p.node_name == node.origin_host)
        .unwrap()
}

#[test]
fn requests_in_flight_fail_over_to_the_surviving_server() {
    let dying = server("ocs1.example.net", Pace::Late);
    let mut survivor = server("ocs2.example.net", Pace::Late);
    let (mut c, app, peers) = client(&[&dying, &survivor]);
    let dying_peer = seen_as(&dying, &peers).clone();
    let dying_seen = dying.peers()[CLIENT].clone();
    const THREADS: u32 = 8;
    const EACH: u32 = 100;
    let answered = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (app, answered) = (app.clone(), &answered);
            scope.spawn(move || {
                for n in 0..EACH {
                    let req = ccr(CLIENT, REALM, t * 1000 + n);
                    match app.base().send_request(req, Duration::from_secs(10)) {
                        Ok(a) => {
                            assert_eq!(result_code(&a), Some(2001));
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("request {t}/{n} failed: {e}"),
                    }
                }
            });
        }
        // mid-run, with requests waiting on it, ocs1 goes without a DPR
        wait_until("ocs1 busy", Duration::from_secs(10), || {
            app_requests(&dying_seen) >= 100
        });
        dying.stop(Duration::ZERO, true).unwrap();
    });
    assert_eq!(
        answered.load(Ordering::Relaxed),
        (THREADS * EACH) as usize,
        "every request answered 2001"
    );
    assert!(!dying_peer.is_ready());
    let moved = c.protocol_stats().requests_failed_over;
    assert!(moved > 0, "requests waiting on ocs1 were failed over");
    let received = survivor.protocol_stats().retransmissions_received;
    assert_eq!(
        received, moved,
        "each failed-over request reached ocs2 with the T flag"
    );
    for n in [&mut c, &mut survivor] {
        n.stop(Duration::from_secs(5), false).unwrap();
    }
}

#[test]
fn with_no_other_peer_callers_fail_at_once() {
    let release = Gate::new();
    let only = server("ocs1.example.net", Pace::Held(release.clone()));
    let (c, app, _) = client(&[&only]);
    let seen = only.peers()[CLIENT].clone();
    std::thread::scope(|scope| {
        let waiting: Vec<_> = (0..8)
            .map(|n| {
                let app = app.clone();
                scope.spawn(move || {
                    let sent = Instant::now();
                    let r = app
                        .base()
                        .send_request(ccr(CLIENT, REALM, n), Duration::from_secs(30));
                    (r, sent.elapsed())
                })
            })
            .collect();
        wait_until("all 8 at the server", Duration::from_secs(5), || {
            app_requests(&seen) >= 8
        });
        // stop joins the workers, which the gate holds until the end
        let stopping = scope.spawn(|| only.stop(Duration::ZERO, true));
        for w in waiting {
            let (r, took) = w.join().unwrap();
            assert!(
                matches!(
                    r,
                    Err(ApplicationError::EmptyAnswer(EmptyReason::ConnectionClosed))
                ),
                "{r:?}"
            );
            // the held answers would come after the gate's 10 s
            assert!(
                took < Duration::from_secs(5),
                "failed at once, not after {took:?}"
            );
        }
        release.open();
        stopping.join().unwrap().unwrap();
    });
    assert_eq!(c.protocol_stats().requests_failed_over, 0);
    c.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn a_request_for_the_failed_host_is_not_failed_over() {
    let release = Gate::new();
    let dying = server("ocs1.example.net", Pace::Held(release.clone()));
    let mut other = server("ocs2.example.net", Pace::Now);
    let (mut c, app, _) = client(&[&dying, &other]);
    let seen = dying.peers()[CLIENT].clone();
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let mut req = ccr(CLIENT, REALM, 1);
            req.avps
                .push(Avp::new(AVP_DESTINATION_HOST, 0, "ocs1.example.net").unwrap());
            app.base().send_request(req, Duration::from_secs(30))
        });
        wait_until("the request at ocs1", Duration::from_secs(5), || {
            app_requests(&seen) >= 1
        });
        // stop joins the workers, which the gate holds until the end
        let stopping = scope.spawn(|| dying.stop(Duration::ZERO, true));
        let r = waiting.join().unwrap();
        assert!(matches!(r, Err(ApplicationError::EmptyAnswer(_))), "{r:?}");
        release.open();
        stopping.join().unwrap().unwrap();
    });
    assert_eq!(c.protocol_stats().requests_failed_over, 0);
    assert_eq!(other.protocol_stats().retransmissions_received, 0);
    // requests for the realm still go to ocs2
    let a = app
        .base()
        .send_request(ccr(CLIENT, REALM, 2), Duration::from_secs(5))
        .unwrap();
    assert_eq!(result_code(&a), Some(2001));
    for n in [&mut c, &mut other] {
        n.stop(Duration::from_secs(5), false).unwrap();
    }
}

#[test]
fn failover_off_keeps_todays_behaviour() {
    let release = Gate::new();
    let dying = server("ocs1.example.net", Pace::Held(release.clone()));
    let mut other = server("ocs2.example.net", Pace::Now);
    // every request goes to ocs1, which will fail
    let (mut c, app, _peers) = client_with(&[&dying, &other], |c| {
        c.limits.max_failovers = 0;
        prefer_ocs1(c);
    });
    let seen = dying.peers()[CLIENT].clone();
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            app.base()
                .send_request(ccr(CLIENT, REALM, 1), Duration::from_secs(30))
        });
        wait_until("a request at ocs1", Duration::from_secs(5), || {
            app_requests(&seen) >= 1
        });
        // stop joins the workers, which the gate holds until the end
        let stopping = scope.spawn(|| dying.stop(Duration::ZERO, true));
        let r = waiting.join().unwrap();
        assert!(matches!(r, Err(ApplicationError::EmptyAnswer(_))), "{r:?}");
        release.open();
        stopping.join().unwrap().unwrap();
    });
    assert_eq!(c.protocol_stats().requests_failed_over, 0);
    for n in [&mut c, &mut other] {
        n.stop(Duration::from_secs(5), false).unwrap();
    }
}

/// The number after `key=` in `line`.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Starts the `cc_server` example as `host` of [`REALM`] on a free port,
/// answering `client` and logging the CCRs numbered `dumped...` (see
/// [`crate::support::ccr_dumps`]: a prefix the load reaches early, with few
/// numbers in all); returns it and its port.
fn cc_server(host: &str, client: &str, dumped: u32) -> (crate::support::interop::PeerProcess, u16) {
    cc_server_with(host, client, dumped, &[])
}

/// A cc_server as [`cc_server`] does, with `more` arguments.
fn cc_server_with(
    host: &str,
    client: &str,
    dumped: u32,
    more: &[&str],
) -> (crate::support::interop::PeerProcess, u16) {
    let port = crate::support::interop::free_port();
    let mut extra = vec!["--client-host", client, "--max-threads", "0"];
    extra.extend_from_slice(more);
    let log = crate::support::ccr_dumps(dumped);
    let env = [("RUST_LOG", log.as_str())];
    (
        crate::support::cc_server(port, host, REALM, &extra, &env),
        port,
    )
}

#[test]
fn cc_client_loses_one_of_two_cc_servers_to_sigkill() {
    use crate::support::interop::{ok, PeerProcess, STARTUP};
    let (mut dying, dying_port) = cc_server("ocs1.example.net", CLIENT, 123);
    let (mut survivor, survivor_port) = cc_server("ocs2.example.net", CLIENT, 123);
    let args: Vec<String> = [
        "--peer",
        &format!("127.0.0.1:{dying_port}"),
        "--peer-host",
        "ocs1.example.net",
        "--peer",
        &format!("127.0.0.1:{survivor_port}"),
        "--peer-host",
        "ocs2.example.net",
        "--peer-realm",
        REALM,
        "--origin-host",
        CLIENT,
        "--realm",
        REALM,
        "--requests",
        "200000",
        "--concurrency",
        "64",
        "--timeout",
        "10",
    ]
    .map(String::from)
    .to_vec();
    let client = ok(PeerProcess::spawn_with_env(
        "cc_client",
        &crate::support::example("cc_client").to_string_lossy(),
        &args,
        &[("RUST_LOG", "diameter.node=info")],
    ));
    ok(client.wait_for_all(
        &[
            "<ocs1.example.net>: capabilities exchanged",
            "<ocs2.example.net>: capabilities exchanged",
        ],
        STARTUP,
    ));
    // the load runs on both (ocs1 answered some), then ocs1 dies without a
    // word
    ok(dying.wait_for_line(crate::support::CCR_DUMP, STARTUP));
    assert!(client.is_running(), "still sending when ocs1 dies");
    dying.kill();
    let report = ok(client.wait_for_line("requests=", Duration::from_secs(120)));
    let failed_over = ok(client.wait_for_line("failed_over=", Duration::from_secs(1)));
    let failed_over = field(&failed_over, "failed_over").unwrap();
    assert_eq!(field(&report, "requests"), Some(200000), "{report}");
    assert_eq!(field(&report, "answered"), Some(200000), "{report}");
    assert_eq!(field(&report, "errors"), Some(0), "{report}");
    assert!(field(&report, "p99_us").is_some(), "{report}");
    println!("cc_client after losing ocs1: {report}, failed_over={failed_over}");
    assert!(failed_over > 0, "requests waiting on ocs1 were failed over");
    ok(survivor
        .signal_stop(libc::SIGTERM, Duration::from_secs(10))
        .map(|_| ()));
    let stopped = ok(survivor.wait_for_line("cc_server ocs2.example.net stopped:", STARTUP));
    assert_eq!(
        field(&stopped, "retransmissions_received"),
        Some(failed_over),
        "{stopped}"
    );
}

#[test]
fn a_dpr_from_the_server_moves_its_requests_to_the_other() {
    let release = Gate::new();
    let dying = server("ocs1.example.net", Pace::Held(release.clone()));
    let mut other = server("ocs2.example.net", Pace::Now);
    // first sends go to ocs1
    let (mut c, app, _peers) = client_with(&[&dying, &other], prefer_ocs1);
    let seen = dying.peers()[CLIENT].clone();
    std::thread::scope(|scope| {
        let waiting: Vec<_> = (0..4)
            .map(|n| {
                let app = app.clone();
                scope.spawn(move || {
                    let sent = Instant::now();
                    let r = app
                        .base()
                        .send_request(ccr(CLIENT, REALM, n), Duration::from_secs(30));
                    (r, sent.elapsed())
                })
            })
            .collect();
        wait_until("4 requests at ocs1", Duration::from_secs(5), || {
            app_requests(&seen) >= 4
        });
        // a clean stop: DPR to the client, which answers DPA and fails over
        let stopping = scope.spawn(|| dying.stop(Duration::from_secs(5), false));
        for w in waiting {
            let (r, took) = w.join().unwrap();
            let a = r.unwrap();
            assert_eq!(result_code(&a), Some(2001));
            assert_eq!(
                a.find_avp(&[(AVP_ORIGIN_HOST, 0)]).and_then(Avp::as_str),
                Some("ocs2.example.net")
            );
            // ocs1's held answers would come after the gate's 10 s
            assert!(
                took < Duration::from_secs(5),
                "answered by ocs2 after {took:?}"
            );
        }
        release.open();
        stopping.join().unwrap().unwrap();
    });
    assert_eq!(c.protocol_stats().requests_failed_over, 4);
    assert_eq!(other.protocol_stats().retransmissions_received, 4);
    for n in [&mut c, &mut other] {
        n.stop(Duration::from_secs(5), false).unwrap();
    }
}

#[test]
fn cc_client_through_dra_loses_one_of_two_cc_servers_to_sigkill() {
    use crate::support::interop::{free_port, ok, PeerProcess, EXCHANGE, STARTUP};
    const REQUESTS: u64 = 30_000;
    // ocs1 answers each request after 2 ms: whenever it dies, the dra has
    // requests waiting on it (its answers never all come back between two
    // requests), so the kill always catches some in flight
    let (mut dying, dying_port) = cc_server_with(
        "ocs1.example.net",
        "dra.relay.test",
        12,
        &["--delay-ms", "2"],
    );
    let (mut survivor, survivor_port) = cc_server("ocs2.example.net", "dra.relay.test", 12);
    let dra_port = free_port();
    let args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{dra_port}"),
        "--origin-host",
        "dra.relay.test",
        "--realm",
        "relay.test",
        "--allow-any",
        "--peer",
        &format!("aaa://ocs1.example.net:{dying_port}"),
        "--peer",
        &format!("aaa://ocs2.example.net:{survivor_port}"),
        "--peer-address",
        "ocs1.example.net=127.0.0.1",
        "--peer-address",
        "ocs2.example.net=127.0.0.1",
        "--route",
        &format!("{REALM}=ocs1.example.net,ocs2.example.net"),
        "--app",
        "4",
    ]
    .map(String::from)
    .to_vec();
    let mut dra = ok(PeerProcess::spawn_with_env(
        "dra",
        &crate::support::example("dra").to_string_lossy(),
        &args,
        &[("RUST_LOG", "warn,diameter.node=info")],
    ));
    ok(dra.wait_for_all(
        &[
            "dra dra.relay.test listening on",
            "capabilities exchanged with ocs1.example.net",
            "capabilities exchanged with ocs2.example.net",
        ],
        STARTUP,
    ));
    let args: Vec<String> = [
        "--peer",
        &format!("127.0.0.1:{dra_port}"),
        "--peer-host",
        "dra.relay.test",
        "--peer-realm",
        "relay.test",
        "--dest-realm",
        REALM,
        "--origin-host",
        "pgw.client.test",
        "--realm",
        "client.test",
        "--requests",
        &REQUESTS.to_string(),
        "--concurrency",
        "64",
        "--timeout",
        "10",
    ]
    .map(String::from)
    .to_vec();
    let client = ok(PeerProcess::spawn_with_env(
        "cc_client",
        &crate::support::example("cc_client").to_string_lossy(),
        &args,
        &[("RUST_LOG", "warn,diameter.node=info")],
    ));
    ok(client.wait_for_line("capabilities exchanged with dra.relay.test", STARTUP));
    // the load runs through the dra to both servers (ocs1 answered some),
    // then ocs1 dies without a word
    ok(dying.wait_for_line(crate::support::CCR_DUMP, STARTUP));
    assert!(client.is_running(), "still sending when ocs1 dies");
    dying.kill();
    let report = ok(client.wait_for_line("requests=", Duration::from_secs(120)));
    println!("cc_client -> dra -> ocs1 (killed), ocs2: {report}");
    assert_eq!(field(&report, "requests"), Some(REQUESTS), "{report}");
    assert_eq!(field(&report, "answered"), Some(REQUESTS), "{report}");
    assert_eq!(field(&report, "errors"), Some(0), "{report}");
    assert!(field(&report, "p99_us").is_some(), "{report}");
    // the dra's counters, then the survivor's
    let status = ok(dra.signal_stop(libc::SIGTERM, Duration::from_secs(15)));
    assert!(status.success(), "{}", dra.dump());
    let counters = ok(dra.wait_for_line("relayed=", EXCHANGE));
    println!("dra: {counters}");
    let failed_over = field(&counters, "failed_over").unwrap();
    assert!(
        failed_over > 0,
        "requests waiting on ocs1 were failed over: {counters}"
    );
    assert_eq!(field(&counters, "sent_3002"), Some(0), "{counters}");
    assert_eq!(
        field(&counters, "answers_returned"),
        Some(REQUESTS),
        "{counters}"
    );
    ok(survivor
        .signal_stop(libc::SIGTERM, Duration::from_secs(10))
        .map(|_| ()));
    let stopped = ok(survivor.wait_for_line("cc_server ocs2.example.net stopped:", STARTUP));
    println!("{stopped}");
    assert_eq!(
        field(&stopped, "retransmissions_received"),
        Some(failed_over),
        "each failed-over request reached ocs2 with the T flag: {stopped}"
    );
}
