//! Faults beyond a crash, on loopback, through a relay agent and through a
//! client node with two servers of one realm: a server that hangs (its
//! watchdog goes SUSPECT, its reconnection waits for a CEA that never
//! comes), one killed and restarted on the same address, one slower than
//! the other. While another server is open, every request is answered by
//! it: none is refused (3002, or a local failure) and none waits for its
//! caller's timeout.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cc::ccr;
use crate::support::fault::FaultServer;
use crate::support::{port, wait_until, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::{AppBase, Application, HandlerResult, ThreadingApplication};
use diameter::node::peer::{AppId, Peer};
use diameter::node::{Agent, ApplicationError, Node, RouteAction};

const REALM: &str = "example.net";
const CLIENT: &str = "pgw.client.net";
const RELAY: &str = "dra.relay.net";
const OCS1: &str = "ocs1.example.net";
const OCS2: &str = "ocs2.example.net";
/// The callers' timeout: what a request must never wait for.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Answers 2001 after `delay`.
fn answer_after(delay: Duration) -> impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync {
    move |app, req| {
        if !delay.is_zero() {
            // a stimulus, not a decision: a slow server under load
            std::thread::sleep(delay);
        }
        Ok(Some(app.generate_answer(
            &req,
            E_RESULT_CODE_DIAMETER_SUCCESS,
            None,
        )?))
    }
}

/// A server node `host` of [`REALM`] on `port` (0: any) for the peer
/// `client`, answering after `delay`.
fn server(host: &str, port: u16, client: &str, delay: Duration) -> Node {
    TestNode::builder(host, REALM)
        .listen()
        .options(|o| o.tcp_port = Some(port))
        .clients(&[client])
        .app(ThreadingApplication::new(
            AppBase::auth(4),
            256,
            answer_after(delay),
        ))
        .start()
        .node
}

/// The persistent peer `host` at 127.0.0.1:`port`, reconnected 200 ms
/// after it goes.
fn ocs(host: &str, port: u16) -> PeerSpec {
    PeerSpec::at(host, port)
        .realm(REALM)
        .reconnect_wait(Duration::from_millis(200))
}

/// Where the requests go: a client node with the two servers as peers, or
/// a client node behind a relay agent that has them.
struct Setup {
    client: Node,
    app: Arc<ThreadingApplication>,
    relay: Option<Node>,
    /// The servers as the node that sends to them sees them.
    ocs1: Arc<Peer>,
    ocs2: Arc<Peer>,
}

impl Setup {
    /// `ocs1` and `ocs2` are the servers' ports; `configure` runs on the
    /// node that sends to them (the relay, or the client) before it starts.
    fn new(
        through_relay: bool,
        ocs1: u16,
        ocs2: u16,
        configure: impl FnOnce(&mut Node, &Arc<Peer>, &Arc<Peer>),
    ) -> Setup {
        let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
        // the node that sends to the servers
        let sender = if through_relay {
            TestNode::builder(RELAY, "relay.net")
                .listen()
                .configure(|r| r.agent = Agent::Relay)
                .app_id(AppId::auth(4))
                .peer(PeerSpec::known(CLIENT).realm("client.net"))
        } else {
            TestNode::builder(CLIENT, "client.net")
                .loopback()
                .app(app.clone())
        };
        let (mut sender, peers) = sender
            .peer(ocs(OCS1, ocs1))
            .peer(ocs(OCS2, ocs2))
            .build()
            .into_parts();
        let (p1, p2) = (
            peers[peers.len() - 2].clone(),
            peers[peers.len() - 1].clone(),
        );
        configure(&mut sender, &p1, &p2);
        if through_relay {
            sender.add_route(REALM, None, RouteAction::Relay, [&p1, &p2]);
        }
        sender.start().unwrap();
        wait_until("both servers ready", Duration::from_secs(10), || {
            p1.is_ready() && p2.is_ready()
        });
        if !through_relay {
            return Setup {
                client: sender,
                app,
                relay: None,
                ocs1: p1,
                ocs2: p2,
            };
        }
        let client = TestNode::builder(CLIENT, "client.net")
            .loopback()
            .peer(PeerSpec::at(RELAY, port(&sender)).realm("relay.net"))
            .app_routing(app.clone(), &[REALM])
            .start();
        app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
        Setup {
            client: client.node,
            app,
            relay: Some(sender),
            ocs1: p1,
            ocs2: p2,
        }
    }

    fn stop(self) {
        self.client.stop(Duration::from_secs(2), false).unwrap();
        if let Some(r) = &self.relay {
            r.stop(Duration::from_secs(2), false).unwrap();
        }
    }
}

/// What the requests a [`Load`] sent came to.
#[derive(Debug, Default)]
struct Outcome {
    /// Answered 2001, by server.
    by_ocs1: usize,
    by_ocs2: usize,
    /// Failed with `EmptyAnswer`: waiting on a connection that closed
    /// (failover off, or none possible).
    lost: usize,
    /// Anything else: the answer's Result-Code, or the error, and when.
    failures: Vec<String>,
    /// The longest a request waited.
    slowest: Duration,
}

impl Outcome {
    fn assert_no_failure(&self) {
        let first: Vec<&String> = self.failures.iter().take(5).collect();
        assert!(
            self.failures.is_empty(),
            "{} failures, the first: {first:?}",
            self.failures.len()
        );
    }
}

/// `threads` callers sending CCRs back to back (each waiting for its
/// answer, [`TIMEOUT`]) until `stop` is set, then `tail` more each.
fn load(
    app: &ThreadingApplication,
    threads: u32,
    tail: usize,
    stop: &AtomicBool,
    outcome: &Mutex<Outcome>,
    sent: &AtomicUsize,
) {
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                let mut after = 0;
                let mut n = t * 1_000_000;
                while after < tail {
                    if stop.load(Ordering::Relaxed) {
                        after += 1;
                    }
                    n += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                    let began = Instant::now();
                    let r = app.base().send_request(ccr(CLIENT, REALM, n), TIMEOUT);
                    let took = began.elapsed();
                    let mut o = outcome.lock().unwrap();
                    o.slowest = o.slowest.max(took);
                    match r {
                        Ok(a) => {
                            let rc = a.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32);
                            let from = a.find_avp(&[(AVP_ORIGIN_HOST, 0)]).and_then(Avp::as_str);
                            match (rc, from) {
                                (Some(2001), Some(OCS1)) => o.by_ocs1 += 1,
                                (Some(2001), Some(OCS2)) => o.by_ocs2 += 1,
                                _ => o
                                    .failures
                                    .push(format!("{rc:?} from {from:?} after {took:?}")),
                            }
                        }
                        Err(ApplicationError::EmptyAnswer(_)) => o.lost += 1,
                        Err(e) => o.failures.push(format!("{e} after {took:?}")),
                    }
                }
            });
        }
    });
}

/// Runs [`load`] while `scenario` runs; `scenario` returns once the fault
/// has played out, and `tail` requests per caller follow.
fn under_load(
    app: &ThreadingApplication,
    threads: u32,
    tail: usize,
    scenario: impl FnOnce(&AtomicUsize),
) -> Outcome {
    let stop = AtomicBool::new(false);
    let outcome = Mutex::new(Outcome::default());
    let sent = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let senders = scope.spawn(|| load(app, threads, tail, &stop, &outcome, &sent));
        // the senders stop even when the scenario fails
        let played = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&sent)));
        stop.store(true, Ordering::Relaxed);
        senders.join().unwrap();
        if let Err(p) = played {
            std::panic::resume_unwind(p);
        }
    });
    outcome.into_inner().unwrap()
}

// ---- a server that hangs: SUSPECT, closed, reconnected to nothing ----

/// ocs1 answers until its watchdog's first DWR, then hangs (reads and
/// drops everything): the watchdog goes SUSPECT, closes the connection;
/// the reconnection's CER is never answered. ocs2 is healthy all along.
fn hung_server(through_relay: bool, max_failovers: u8) -> Outcome {
    let ocs1 = FaultServer::start(OCS1, REALM);
    ocs1.ignore_dwr();
    let sender_host = if through_relay { RELAY } else { CLIENT };
    let ocs2 = server(OCS2, 0, sender_host, Duration::ZERO);
    let s = Setup::new(through_relay, ocs1.addr.port(), port(&ocs2), |n, p1, _| {
        n.limits.max_failovers = max_failovers;
        p1.set_idle_timeout(Duration::from_millis(300));
        p1.set_dwa_timeout(Duration::from_millis(1500));
        p1.set_cea_timeout(Duration::from_secs(1));
    });
    // no traffic until ocs1's watchdog asks (traffic would put Tw off)
    wait_until("a DWR at ocs1", TIMEOUT, || ocs1.dwrs() >= 1);
    ocs1.hang();
    let outcome = under_load(&s.app, 4, 50, |_| {
        // SUSPECT, closed, reconnected and waiting for the CEA
        wait_until("ocs1 reconnected", Duration::from_secs(20), || {
            ocs1.accepted() >= 2
        });
        wait_until("ocs1's second connection", Duration::from_secs(5), || {
            s.ocs1
                .status
                .lock()
                .connection
                .as_ref()
                .is_some_and(|c| !c.is_ready())
        });
    });
    println!("ocs1 hung, then reconnecting: {outcome:?}");
    outcome.assert_no_failure();
    assert!(outcome.by_ocs2 > 0, "{outcome:?}");
    assert!(outcome.slowest < TIMEOUT, "{outcome:?}");
    assert!(!s.ocs1.is_ready());
    assert!(s.ocs2.is_ready());
    s.stop();
    ocs2.stop(Duration::from_secs(2), false).unwrap();
    outcome
}

#[test]
fn relay_routes_around_a_hung_and_a_reconnecting_server() {
    let o = hung_server(true, diameter::node::DEFAULT_MAX_FAILOVERS);
    assert_eq!(o.lost, 0, "{o:?}");
}

#[test]
fn client_routes_around_a_hung_and_a_reconnecting_server() {
    let o = hung_server(false, diameter::node::DEFAULT_MAX_FAILOVERS);
    assert_eq!(o.lost, 0, "{o:?}");
}

#[test]
fn client_without_failover_routes_around_a_hung_server() {
    // no failover: what waited on ocs1 when it closed is lost, but nothing
    // is refused for want of a ready connection while ocs2 is open
    hung_server(false, 0);
}

// ---- a server that hangs with requests in flight ----

/// ocs1 takes its share of the load, then hangs (a stopped process: the
/// kernel still takes the bytes, nothing comes back). The requests waiting
/// on it fail over to ocs2 by the silent-peer rule, long before the
/// watchdog (Tw, 30 s) would notice and before their callers give up.
fn hangs_under_load(through_relay: bool) {
    let ocs1 = FaultServer::start(OCS1, REALM);
    let sender_host = if through_relay { RELAY } else { CLIENT };
    let ocs2 = server(OCS2, 0, sender_host, Duration::ZERO);
    let s = Setup::new(through_relay, ocs1.addr.port(), port(&ocs2), |_, _, _| {});
    let outcome = under_load(&s.app, 8, 50, |_| {
        wait_until("ocs1 takes requests", TIMEOUT, || ocs1.answered() >= 100);
        ocs1.hang();
        wait_until("ocs1 found silent", Duration::from_secs(20), || {
            !s.ocs1.is_ready()
        });
    });
    println!("ocs1 hung under load: {outcome:?}");
    outcome.assert_no_failure();
    assert_eq!(outcome.lost, 0, "{outcome:?}");
    assert!(outcome.by_ocs1 >= 100 && outcome.by_ocs2 > 0, "{outcome:?}");
    // the rule's 1 s twice, then failover: far from the callers' 10 s
    assert!(outcome.slowest < Duration::from_secs(6), "{outcome:?}");
    let failed_over = match &s.relay {
        Some(r) => r.relay_stats().requests_failed_over,
        None => s.client.protocol_stats().requests_failed_over,
    };
    assert!(failed_over > 0, "{outcome:?}");
    s.stop();
    ocs2.stop(Duration::from_secs(2), false).unwrap();
}

#[test]
fn relay_fails_over_what_waits_on_a_server_that_hangs() {
    hangs_under_load(true);
}

#[test]
fn client_fails_over_what_waits_on_a_server_that_hangs() {
    hangs_under_load(false);
}

// ---- a server killed and started again on the same address ----

/// ocs1 dies without a word under load (its node closes every connection
/// at once) and a new ocs1 starts on its port: the sender connects again
/// within its reconnect wait (200 ms here) and ocs1 takes requests again;
/// meanwhile ocs2 answers everything.
fn restarted_under_load(through_relay: bool) {
    let sender_host = if through_relay { RELAY } else { CLIENT };
    let ocs1 = server(OCS1, 0, sender_host, Duration::ZERO);
    let ocs1_port = port(&ocs1);
    let ocs2 = server(OCS2, 0, sender_host, Duration::ZERO);
    let s = Setup::new(through_relay, ocs1_port, port(&ocs2), |_, _, _| {});
    let restarted = Mutex::new(None);
    let outcome = under_load(&s.app, 8, 50, |_| {
        let seen = ocs1.peers()[sender_host].clone();
        wait_until("ocs1 takes requests", TIMEOUT, || {
            crate::support::cc::app_requests(&seen) >= 100
        });
        ocs1.stop(Duration::ZERO, true).unwrap();
        wait_until("ocs1 gone", TIMEOUT, || !s.ocs1.is_ready());
        let again = server(OCS1, ocs1_port, sender_host, Duration::ZERO);
        let started = Instant::now();
        wait_until("ocs1 connected again", TIMEOUT, || s.ocs1.is_ready());
        let back = started.elapsed();
        let seen = again.peers()[sender_host].clone();
        wait_until("ocs1 takes requests again", TIMEOUT, || {
            crate::support::cc::app_requests(&seen) >= 100
        });
        println!("ocs1 restarted: ready again after {back:?}");
        // the reconnect wait (200 ms), a connect and a capabilities exchange
        assert!(back < Duration::from_secs(5), "{back:?}");
        *restarted.lock().unwrap() = Some(again);
    });
    println!("ocs1 killed and restarted under load: {outcome:?}");
    outcome.assert_no_failure();
    assert_eq!(outcome.lost, 0, "{outcome:?}");
    assert!(outcome.slowest < Duration::from_secs(6), "{outcome:?}");
    s.stop();
    for n in [Some(ocs2), restarted.into_inner().unwrap()]
        .iter()
        .flatten()
    {
        n.stop(Duration::from_secs(2), false).unwrap();
    }
}

#[test]
fn relay_takes_a_restarted_server_back() {
    restarted_under_load(true);
}

#[test]
fn client_takes_a_restarted_server_back() {
    restarted_under_load(false);
}

// ---- a slow server next to a fast one ----

/// ocs1 answers after 50 ms, ocs2 at once: the least loaded by requests
/// waiting is nearly always ocs2, and nobody waits long.
fn slow_next_to_fast(through_relay: bool) {
    let sender_host = if through_relay { RELAY } else { CLIENT };
    let ocs1 = server(OCS1, 0, sender_host, Duration::from_millis(50));
    let ocs2 = server(OCS2, 0, sender_host, Duration::ZERO);
    let s = Setup::new(through_relay, port(&ocs1), port(&ocs2), |_, _, _| {});
    let outcome = under_load(&s.app, 8, 50, |sent| {
        wait_until("2,000 requests sent", Duration::from_secs(60), || {
            sent.load(Ordering::Relaxed) >= 2_000
        });
    });
    println!("ocs1 slow, ocs2 fast: {outcome:?}");
    outcome.assert_no_failure();
    assert_eq!(outcome.lost, 0, "{outcome:?}");
    assert!(
        outcome.by_ocs2 > 4 * outcome.by_ocs1,
        "the fast server takes most: {outcome:?}"
    );
    assert!(outcome.slowest < Duration::from_secs(5), "{outcome:?}");
    s.stop();
    for n in [ocs1, ocs2] {
        n.stop(Duration::from_secs(2), false).unwrap();
    }
}

#[test]
fn relay_sends_less_to_a_slow_server() {
    slow_next_to_fast(true);
}

#[test]
fn client_sends_less_to_a_slow_server() {
    slow_next_to_fast(false);
}

// ---- the examples as processes: a cc_server frozen with SIGSTOP ----

/// Sends `signal` to process `pid` (one of ours, still running).
fn signal(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill(2) on a child process this test started and has not
    // reaped (it is stopped or running), so the pid is still its own.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// A process stopped with SIGSTOP, continued when this goes (a failing
/// test included).
struct Frozen(u32);

impl Frozen {
    fn new(pid: u32) -> Frozen {
        signal(pid, libc::SIGSTOP);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

/// `cc_client` (64 outstanding, 10 s timeout) to two `cc_server`s, through
/// the `dra` example or as their client directly; one server is frozen
/// with SIGSTOP while the load runs and continued once it is done. Every
/// request is answered 2001: none refused, none timed out.
fn cc_server_frozen(through_dra: bool) {
    use crate::support::interop::{free_port, ok, PeerProcess, EXCHANGE, STARTUP};
    let field = |line: &str, key: &str| -> Option<u64> {
        crate::support::interop::field(line, key).and_then(|v| v.parse().ok())
    };
    const REQUESTS: u64 = 40_000;
    let client_host = if through_dra { RELAY } else { CLIENT };
    let cc_server = |host: &str| {
        let port = free_port();
        let extra = ["--client-host", client_host, "--max-threads", "0"];
        // numbers 12, 120 to 129...: the load reaches them early
        let log = crate::support::ccr_dumps(12);
        let env = [("RUST_LOG", log.as_str())];
        (
            crate::support::cc_server(port, host, REALM, &extra, &env),
            port,
        )
    };
    let (frozen, frozen_port) = cc_server(OCS1);
    let (mut other, other_port) = cc_server(OCS2);
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let load = [
        "--requests",
        &REQUESTS.to_string(),
        "--concurrency",
        "64",
        "--timeout",
        "10",
    ];
    let mut dra = None;
    let client_args = if through_dra {
        let dra_port = free_port();
        let args = strings(&[
            "--listen",
            &format!("127.0.0.1:{dra_port}"),
            "--origin-host",
            RELAY,
            "--realm",
            "relay.net",
            "--allow-any",
            "--peer",
            &format!("aaa://{OCS1}:{frozen_port}"),
            "--peer",
            &format!("aaa://{OCS2}:{other_port}"),
            "--peer-address",
            &format!("{OCS1}=127.0.0.1"),
            "--peer-address",
            &format!("{OCS2}=127.0.0.1"),
            "--route",
            &format!("{REALM}={OCS1},{OCS2}"),
            "--app",
            "4",
        ]);
        let p = ok(PeerProcess::spawn_with_env(
            "dra",
            &crate::support::example("dra").to_string_lossy(),
            &args,
            &[("RUST_LOG", "warn,diameter.node=info")],
        ));
        ok(p.wait_for_all(
            &[
                "listening on",
                &format!("capabilities exchanged with {OCS1}"),
                &format!("capabilities exchanged with {OCS2}"),
            ],
            STARTUP,
        ));
        dra = Some(p);
        let mut a = strings(&[
            "--peer",
            &format!("127.0.0.1:{dra_port}"),
            "--peer-host",
            RELAY,
            "--peer-realm",
            "relay.net",
            "--dest-realm",
            REALM,
            "--realm",
            "client.net",
        ]);
        a.extend(strings(&["--origin-host", "pgw.client.net"]));
        a
    } else {
        strings(&[
            "--peer",
            &format!("127.0.0.1:{frozen_port}"),
            "--peer-host",
            OCS1,
            "--peer",
            &format!("127.0.0.1:{other_port}"),
            "--peer-host",
            OCS2,
            "--peer-realm",
            REALM,
            "--origin-host",
            CLIENT,
            "--realm",
            REALM,
        ])
    };
    let args: Vec<String> = client_args.into_iter().chain(strings(&load)).collect();
    let client = ok(PeerProcess::spawn_with_env(
        "cc_client",
        &crate::support::example("cc_client").to_string_lossy(),
        &args,
        &[("RUST_LOG", "warn,diameter.node=info")],
    ));
    // connected to both servers (or to the dra, which is)
    let connections = if dra.is_some() { 1 } else { 2 };
    ok(client.wait_for_count("capabilities exchanged with", connections, STARTUP));
    // the load runs on both servers (ocs1 answered some), then ocs1
    // freezes: its kernel still takes the bytes (and later connections),
    // nothing comes back
    ok(frozen.wait_for_line(crate::support::CCR_DUMP, STARTUP));
    assert!(client.is_running(), "still sending when ocs1 freezes");
    let freeze = Frozen::new(frozen.pid());
    let report = ok(client.wait_for_line("requests=", Duration::from_secs(180)));
    drop(freeze);
    println!("cc_client, ocs1 frozen: {report}");
    assert_eq!(field(&report, "answered"), Some(REQUESTS), "{report}");
    assert_eq!(field(&report, "errors"), Some(0), "{report}");
    // the freeze caught requests in flight on ocs1, and they went elsewhere
    let failed_over = |line: &str| field(line, "failed_over").unwrap_or(0);
    if dra.is_none() {
        let line = ok(client.wait_for_line("failed_over=", EXCHANGE));
        assert!(failed_over(&line) > 0, "{line}");
    }
    if let Some(mut dra) = dra {
        let status = ok(dra.signal_stop(libc::SIGTERM, Duration::from_secs(15)));
        assert!(status.success(), "{}", dra.dump());
        let counters = ok(dra.wait_for_line("relayed=", EXCHANGE));
        println!("dra: {counters}");
        assert_eq!(field(&counters, "sent_3002"), Some(0), "{counters}");
        assert!(failed_over(&counters) > 0, "{counters}");
    }
    ok(other
        .signal_stop(libc::SIGTERM, Duration::from_secs(10))
        .map(|_| ()));
}

#[test]
fn cc_client_through_dra_loses_nothing_to_a_frozen_cc_server() {
    cc_server_frozen(true);
}

#[test]
fn cc_client_loses_nothing_to_a_frozen_cc_server() {
    cc_server_frozen(false);
}
