//! A relay agent (RFC 6733 §6.1.9, §6.2.2) on loopback: clients -> relay ->
//! server with Route-Record, End-to-End, Proxy-Info and unknown AVPs kept;
//! loop detection between two relays; 3002/3003 when nothing can take a
//! request; and the `dra` example between python-diameter peers (two
//! clients sharing it; skipped without python-diameter, unless CI is set)
//! and between `cc_client` and `cc_server`. The relay agent next to
//! freeDiameter (freeDiameter relaying to `cc_server`s, the `dra` relaying
//! to freeDiameter) is in tests/relay_freediameter.rs. Hostile requests: one
//! that its Route-Record makes larger than a next hop reads is answered at
//! the relay; one next hops close on costs at most two of them; the copies
//! kept for failover stay within their byte budget.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::dra;
use crate::support::interop::{self, field, ok, PeerProcess, EXCHANGE, STARTUP};
use crate::support::{loopback_node, loopback_peer, port, result_code, stop, wait_until};
use diameter::message::constants::*;
use diameter::message::{Avp, AvpValue, Message, MessageHeader};
use diameter::node::application::{AppBase, Application, ThreadingApplication};
use diameter::node::peer::{AppId, Peer};
use diameter::node::{Agent, Node, RouteAction};

const UNKNOWN_AVP: u32 = 999_999;

/// A CCR for `realm` from `origin`, with a Proxy-Info and an unknown
/// non-mandatory AVP, and End-to-End `e2e`.
fn ccr(origin: &str, realm: &str, n: u32, e2e: u32) -> Message {
    let mut m = crate::support::cc::ccr(origin, "client.net", n);
    m.header.end_to_end_identifier = e2e;
    for a in m.avps.iter_mut() {
        if a.code() == AVP_DESTINATION_REALM {
            *a = Avp::new(AVP_DESTINATION_REALM, 0, realm).unwrap();
        }
    }
    m.append_avp(
        Avp::new(
            AVP_PROXY_INFO,
            0,
            vec![
                Avp::new(AVP_PROXY_HOST, 0, "proxy.client.net").unwrap(),
                Avp::new(AVP_PROXY_STATE, 0, b"opaque-state".to_vec()).unwrap(),
            ],
        )
        .unwrap(),
    );
    m.append_avp(Avp::with_value(
        UNKNOWN_AVP,
        0,
        AvpValue::Raw(vec![1, 2, 3, 4, 5]),
    ));
    m
}

fn has_e_bit(a: &Message) -> bool {
    a.header.command_flags & MessageHeader::FLAG_ERROR != 0
}

/// A client node talking to `relay_port`, its CC application routing the
/// given realms there.
fn client(host: &str, relay_port: u16, realms: &[&str]) -> (Node, Arc<ThreadingApplication>) {
    let n = loopback_node(host, "client.net", false);
    let relay = loopback_peer(&n, "relay.relay.net", "relay.net", Some(relay_port));
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    n.add_application(app.clone(), [&relay], realms);
    n.start().unwrap();
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    (n, app)
}

#[test]
fn requests_are_relayed_and_answers_come_back() {
    // the server, answering and keeping what it received
    let server = loopback_node("ocs.server.net", "server.net", true);
    let relay_on_server = loopback_peer(&server, "relay.relay.net", "relay.net", None);
    let seen: Arc<Mutex<Vec<Message>>> = Arc::default();
    let kept = seen.clone();
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        8,
        move |app, req| {
            kept.lock().unwrap().push(req.clone());
            crate::support::cc::answer(app, req)
        },
    );
    server.add_application(app, [&relay_on_server], &[]);
    server.start().unwrap();

    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    let ocs = loopback_peer(&relay, "ocs.server.net", "server.net", Some(port(&server)));
    loopback_peer(&relay, "c1.client.net", "client.net", None);
    loopback_peer(&relay, "c2.client.net", "client.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs]);
    relay.start().unwrap();
    wait_until("relay connected", Duration::from_secs(10), || {
        ocs.is_ready()
    });

    let (c1, app1) = client("c1.client.net", port(&relay), &["server.net"]);
    let (c2, app2) = client("c2.client.net", port(&relay), &["server.net"]);

    // one request, looked at closely
    let sent = ccr("c1.client.net", "server.net", 7, 0x5eed_0007);
    let a = app1
        .base()
        .send_request(sent.clone(), Duration::from_secs(10))
        .unwrap();
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(a.header.end_to_end_identifier, 0x5eed_0007);
    let got = seen.lock().unwrap()[0].clone();
    assert_eq!(got.header.end_to_end_identifier, 0x5eed_0007);
    let records: Vec<&str> = got
        .find_avps(&[(AVP_ROUTE_RECORD, 0)])
        .into_iter()
        .filter_map(Avp::as_str)
        .collect();
    // RFC 6733 §6.1.9: the peer the relay received it from
    assert_eq!(records, ["c1.client.net"]);
    // everything the client sent arrives unchanged, the Route-Record last
    assert_eq!(got.avps.len(), sent.avps.len() + 1);
    assert_eq!(got.avps[..sent.avps.len()], sent.avps[..]);
    assert_eq!(got.avps.last().map(Avp::code), Some(AVP_ROUTE_RECORD));
    let unknown = got.find_avp(&[(UNKNOWN_AVP, 0)]).unwrap();
    assert_eq!(unknown.flags(), 0);
    assert_eq!(unknown.value(), &AvpValue::Raw(vec![1, 2, 3, 4, 5]));

    // many requests from several threads of two clients
    const THREADS: u32 = 3;
    const EACH: u32 = 40;
    std::thread::scope(|s| {
        for (c, app) in [("c1.client.net", &app1), ("c2.client.net", &app2)] {
            for t in 0..THREADS {
                s.spawn(move || {
                    for i in 0..EACH {
                        let n = 1000 * (t + 1) + i;
                        let a = app
                            .base()
                            .send_request(ccr(c, "server.net", n, 0), Duration::from_secs(10))
                            .unwrap_or_else(|e| panic!("{c} CCR {n}: {e}"));
                        assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
                        assert_eq!(
                            a.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
                                .and_then(Avp::as_u32),
                            Some(n)
                        );
                        let origin = a
                            .find_avp(&[(AVP_SESSION_ID, 0)])
                            .and_then(Avp::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        assert!(origin.starts_with(c), "{c} got {origin}");
                    }
                });
            }
        }
    });
    let total = u64::from(1 + 2 * THREADS * EACH);
    assert_eq!(seen.lock().unwrap().len() as u64, total);
    let stats = relay.relay_stats();
    assert_eq!(stats.requests_relayed, total);
    assert_eq!(stats.answers_relayed, total);
    assert_eq!(stats.answers_dropped, 0);
    assert_eq!(
        ocs.outstanding.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(relay
        .auth_application_ids()
        .contains(&diameter::node::peer::RELAY_APPLICATION_ID));
    stop(&[&c1, &c2, &relay, &server]);
}

#[test]
fn two_relays_routing_to_each_other_detect_the_loop() {
    let mut b = loopback_node("relay.relay.net", "relay.net", true);
    b.agent = Agent::Relay;
    let mut a = loopback_node("dra.a.net", "a.net", true);
    a.agent = Agent::Relay;
    b.start().unwrap();
    // a connects to b; c connects to a (as its "relay.relay.net")
    let b_on_a = loopback_peer(&a, "relay.relay.net", "relay.net", Some(port(&b)));
    a.add_route("x.net", None, RouteAction::Relay, [&b_on_a]);
    let a_on_b = loopback_peer(&b, "dra.a.net", "a.net", None);
    b.add_route("x.net", None, RouteAction::Relay, [&a_on_b]);
    loopback_peer(&a, "c1.client.net", "client.net", None);
    a.start().unwrap();
    wait_until("a-b", Duration::from_secs(10), || b_on_a.is_ready());

    let (c, app) = {
        // the client's peer is called relay.relay.net in its configuration,
        // but it is a: make a client by hand
        let n = loopback_node("c1.client.net", "client.net", false);
        let p = loopback_peer(&n, "dra.a.net", "a.net", Some(port(&a)));
        let app = ThreadingApplication::new(
            AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
            0,
            |_, _| Ok(None),
        );
        n.add_application(app.clone(), [&p], &["x.net"]);
        n.start().unwrap();
        app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
        (n, app)
    };
    let answer = app
        .base()
        .send_request(ccr("c1.client.net", "x.net", 1, 0), Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        result_code(&answer),
        Some(E_RESULT_CODE_DIAMETER_LOOP_DETECTED)
    );
    assert!(has_e_bit(&answer));
    assert_eq!(
        answer
            .find_avp(&[(AVP_ORIGIN_HOST, 0)])
            .and_then(Avp::as_str),
        Some("dra.a.net")
    );
    assert_eq!(a.relay_stats().loops_detected, 1);
    assert_eq!(a.relay_stats().requests_relayed, 1);
    assert_eq!(b.relay_stats().requests_relayed, 1);
    assert_eq!(a.relay_stats().answers_relayed, 1);
    assert_eq!(b.relay_stats().answers_relayed, 1);
    stop(&[&c, &a, &b]);
}

#[test]
fn nothing_can_take_it_3003_and_3002() {
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    loopback_peer(&relay, "c1.client.net", "client.net", None);
    // a server that is not there: its persistent connection never comes up
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = loopback_peer(&relay, "ocs.server.net", "server.net", Some(dead_port));
    relay.add_route("server.net", None, RouteAction::Relay, [&down]);
    relay.add_route(
        "redirect.net",
        Some(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        RouteAction::Redirect,
        [&down],
    );
    relay.start().unwrap();
    let (c, app) = client(
        "c1.client.net",
        port(&relay),
        &["server.net", "nowhere.net", "redirect.net"],
    );
    let ask = |realm: &str, host: Option<&str>| {
        let mut m = ccr("c1.client.net", realm, 1, 0);
        if let Some(h) = host {
            m.append_avp(Avp::new(AVP_DESTINATION_HOST, 0, h).unwrap());
        }
        app.base().send_request(m, Duration::from_secs(10)).unwrap()
    };
    let a = ask("nowhere.net", None);
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_REALM_NOT_SERVED)
    );
    assert!(has_e_bit(&a));
    assert!(a.find_avp(&[(AVP_SESSION_ID, 0)]).is_some());
    // RFC 6733 §6.2: the request's Proxy-Info comes back
    assert_eq!(
        a.find_avp(&[(AVP_PROXY_INFO, 0), (AVP_PROXY_HOST, 0)])
            .and_then(Avp::as_str),
        Some("proxy.client.net")
    );
    let a = ask("server.net", None);
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER)
    );
    assert!(has_e_bit(&a));
    // a host of the relay's own realm that is not connected
    let a = ask("relay.net", Some("other.relay.net"));
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER)
    );
    let a = ask("redirect.net", None);
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION)
    );
    assert_eq!(
        a.find_avp(&[(AVP_REDIRECT_HOST, 0)]).and_then(Avp::as_str),
        Some(format!("aaa://ocs.server.net:{dead_port}").as_str())
    );
    let stats = relay.relay_stats();
    assert_eq!(stats.realm_not_served, 1);
    assert_eq!(stats.unable_to_deliver, 2);
    assert_eq!(stats.redirected, 1);
    assert_eq!(stats.requests_relayed, 0);
    stop(&[&c, &relay]);
}

#[test]
fn unanswered_relayed_requests_expire_and_a_closed_next_hop_gets_3002() {
    // a server that never answers
    let server = loopback_node("ocs.server.net", "server.net", true);
    let relay_on_server = loopback_peer(&server, "relay.relay.net", "relay.net", None);
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        4,
        |_, _| Ok(None),
    );
    server.add_application(app, [&relay_on_server], &[]);
    server.start().unwrap();
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.limits.relay_timeout = Duration::from_millis(300);
    let ocs = loopback_peer(&relay, "ocs.server.net", "server.net", Some(port(&server)));
    loopback_peer(&relay, "c1.client.net", "client.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs]);
    relay.start().unwrap();
    wait_until("relay connected", Duration::from_secs(10), || {
        ocs.is_ready()
    });
    let (c, app) = client("c1.client.net", port(&relay), &["server.net"]);

    // forgotten by the relay after relay_timeout; the client times out
    let r = app.base().send_request(
        ccr("c1.client.net", "server.net", 1, 0),
        Duration::from_millis(500),
    );
    assert!(r.is_err(), "{r:?}");
    wait_until("expired", Duration::from_secs(5), || {
        relay.relay_stats().expired == 1
    });
    assert_eq!(
        ocs.outstanding.load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // the next hop goes away while a request waits: 3002 to the client
    let base = app.base().clone();
    let waiting = std::thread::spawn(move || {
        base.send_request(
            ccr("c1.client.net", "server.net", 2, 0),
            Duration::from_secs(10),
        )
    });
    wait_until("relayed", Duration::from_secs(5), || {
        relay.relay_stats().requests_relayed == 2
    });
    server.stop(Duration::from_secs(2), true).unwrap();
    let a = waiting.join().unwrap().unwrap();
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER)
    );
    assert!(has_e_bit(&a));
    assert_eq!(relay.relay_stats().unable_to_deliver, 1);
    assert_eq!(
        ocs.outstanding.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    stop(&[&c, &relay]);
}

#[test]
fn a_node_that_is_no_agent_does_not_forward() {
    let n = loopback_node("ocs.server.net", "server.net", true);
    n.add_application_id(AppId::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION));
    let p = loopback_peer(&n, "relay.relay.net", "relay.net", None);
    n.add_route("x.net", None, RouteAction::Relay, [&p]);
    assert_eq!(n.routes().len(), 1);
    assert_eq!(n.routes()[0].realm, "x.net");
    n.start().unwrap();
    let (c, app) = {
        let c = loopback_node("relay.relay.net", "relay.net", false);
        let s = loopback_peer(&c, "ocs.server.net", "server.net", Some(port(&n)));
        let app = ThreadingApplication::new(
            AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
            0,
            |_, _| Ok(None),
        );
        c.add_application(app.clone(), [&s], &["x.net"]);
        c.start().unwrap();
        app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
        (c, app)
    };
    let a = app
        .base()
        .send_request(
            ccr("relay.relay.net", "x.net", 1, 0),
            Duration::from_secs(10),
        )
        .unwrap();
    // no application here serves it: python's answer, nothing forwarded
    assert_ne!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(n.relay_stats().requests_relayed, 0);
    stop(&[&c, &n]);
}

// ---- the `dra` example between processes ----

/// Two python-diameter clients share the dra at once, each sending five
/// CCRs 0.2 s apart to a python-diameter server behind it: every answer
/// comes back to the client that asked (python matches answers by
/// hop-by-hop id; an answer sent to the other client would leave a request
/// unanswered), with its request's Session-Id, End-to-End id and Proxy-Info;
/// the server sees each request once, with a Route-Record naming the client
/// (the peer the dra received it from).
#[test]
fn python_clients_through_dra_to_python_server() {
    if !interop::require_python() {
        return;
    }
    let server_port = interop::free_port();
    let py_server = ok(PeerProcess::python_peer(
        "py-cc-server",
        &[
            "--origin-host",
            "pyocs.server.test",
            "--realm",
            "server.test",
            "--listen-port",
            &server_port.to_string(),
            "--peer-uri",
            &format!("aaa://{}", dra::DRA_HOST),
            "--cc-server",
            "--duration",
            "60",
        ],
    ));
    ok(py_server.wait_for_line("EVENT started", STARTUP));
    let dra_port = interop::free_port();
    let agent = dra::start(dra_port, "server.test", "pyocs.server.test", server_port);
    ok(py_server.wait_for_line("EVENT ready peer=dra.relay.test", STARTUP));
    let clients = ["pypgw1.client.test", "pypgw2.client.test"]
        .map(|host| dra::python_client(host, dra_port, "server.test", 5));
    for client in &clients {
        let host = client.name();
        let answers = dra::python_answers(client, 5);
        ok(client.wait_for_line("EVENT cc-client done ok=5 failed=0", EXCHANGE));
        assert!(answers[0].starts_with("EVENT cca n=1 result=2001 type=1 number=0"));
        assert!(answers[4].starts_with("EVENT cca n=5 result=2001 type=3 number=4"));
        assert!(answers
            .iter()
            .all(|a| field(a, "origin") == Some("pyocs.server.test")));
        assert_eq!(
            ok(py_server.wait_for_count(&format!("EVENT recv CCR from={host} "), 5, EXCHANGE)),
            5
        );
        assert_eq!(
            py_server.count(&format!("route_record={host} ")),
            5,
            "{}",
            py_server.dump()
        );
    }
    let counters = dra::stop(agent);
    assert!(
        counters.starts_with("relayed=10 answers_returned=10 sent_3002=0 sent_3003=0 sent_3005=0"),
        "{counters}"
    );
}

#[test]
fn cc_client_through_dra_to_cc_server() {
    let server_port = interop::free_port();
    let mut server = crate::support::cc_server(
        server_port,
        "ocs.server.test",
        "server.test",
        &["--allow-any"],
        &[],
    );
    let dra_port = interop::free_port();
    let agent = dra::start(dra_port, "server.test", "ocs.server.test", server_port);
    let out = Command::new(crate::support::example("cc_client"))
        .args([
            "--peer",
            &format!("127.0.0.1:{dra_port}"),
            "--peer-host",
            "dra.relay.test",
            "--peer-realm",
            "relay.test",
            "--dest-realm",
            "server.test",
            "--origin-host",
            "pgw.client.test",
            "--realm",
            "client.test",
            "--requests",
            "2000",
            "--concurrency",
            "16",
            "--timeout",
            "10",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && last.starts_with("requests=2000 answered=2000 errors=0 "),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        agent.dump()
    );
    let counters = dra::stop(agent);
    assert!(
        counters.starts_with("relayed=2000 answers_returned=2000 sent_3002=0"),
        "{counters}"
    );
    let status = ok(server.signal_stop(libc::SIGTERM, Duration::from_secs(15)));
    assert!(status.success(), "{}", server.dump());
}

#[test]
fn hostile_peers_around_a_relay() {
    use crate::support::raw::{self, RawPeer};
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.accept_unknown_peers = true;
    let ocs = loopback_peer(&relay, "ocs.server.net", "server.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs]);
    relay.start().unwrap();
    let addr = relay.listen_addresses()[0];
    let mut server = RawPeer::connect(addr, "ocs.server.net", "server.net");
    let mut client = RawPeer::connect(addr, "pgw.client.net", "client.net");
    let mut intruder = RawPeer::connect(addr, "evil.client.net", "client.net");
    wait_until("server ready", Duration::from_secs(5), || ocs.is_ready());

    let ask = |c: &mut RawPeer, extra: Vec<Avp>| {
        let mut avps = vec![
            Avp::new(AVP_SESSION_ID, 0, "pgw.client.net;1").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap(),
        ];
        avps.extend(extra);
        c.request(CMD_CREDIT_CONTROL, 4, avps)
    };
    // a long Route-Record list that does not name the relay passes
    let records: Vec<Avp> = (0..3000)
        .map(|i| Avp::new(AVP_ROUTE_RECORD, 0, format!("agent{i}.net").as_str()).unwrap())
        .collect();
    let request = ask(&mut client, records);
    client.send(&request.as_bytes().unwrap());
    let forwarded = server.recv().expect("forwarded request");
    assert_eq!(forwarded.find_avps(&[(AVP_ROUTE_RECORD, 0)]).len(), 3001);
    assert_eq!(
        forwarded.header.end_to_end_identifier,
        request.header.end_to_end_identifier
    );

    // an answer with its identifiers from another connection completes
    // nothing
    let answer = |req: &Message| {
        Message::new(
            req.header.to_answer(),
            vec![
                Avp::new(AVP_SESSION_ID, 0, "pgw.client.net;1").unwrap(),
                Avp::new(AVP_RESULT_CODE, 0, 2001u32).unwrap(),
                Avp::new(AVP_ORIGIN_HOST, 0, "ocs.server.net").unwrap(),
                Avp::new(AVP_ORIGIN_REALM, 0, "server.net").unwrap(),
            ],
        )
    };
    let unmatched = relay.protocol_stats().answers_unmatched;
    intruder.send(&answer(&forwarded).as_bytes().unwrap());
    wait_until("dropped", Duration::from_secs(5), || {
        relay.protocol_stats().answers_unmatched == unmatched + 1
    });
    // the server's own answer goes back with the client's hop-by-hop
    server.send(&answer(&forwarded).as_bytes().unwrap());
    let back = client.recv().expect("answer");
    assert_eq!(
        back.header.hop_by_hop_identifier,
        request.header.hop_by_hop_identifier
    );
    assert_eq!(raw::result_code(&back), Some(2001));

    // the relay's own name in a Route-Record: 3005, nothing forwarded
    let looped = ask(
        &mut client,
        vec![Avp::new(AVP_ROUTE_RECORD, 0, "RELAY.relay.net").unwrap()],
    );
    let a = client.exchange(&looped.as_bytes().unwrap()).unwrap();
    assert_eq!(
        raw::result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_LOOP_DETECTED)
    );
    // a malformed AVP is answered by the relay, not forwarded
    let mut bad = ask(&mut client, Vec::new()).as_bytes().unwrap();
    bad.extend_from_slice(&[0, 0, 1, 7, 0x40, 0, 0, 9, b'x', 0, 0, 0]);
    bad.extend_from_slice(&[0, 0, 0, 1, 0x40, 0, 0, 4]);
    raw::fix_length(&mut bad);
    let a = client.exchange(&bad).unwrap();
    assert_ne!(raw::result_code(&a), Some(2001));
    assert!(has_e_bit(&a) || raw::result_code(&a).is_some_and(|c| c >= 5000));
    let stats = relay.relay_stats();
    assert_eq!(stats.requests_relayed, 1);
    assert_eq!(stats.answers_relayed, 1);
    assert_eq!(stats.loops_detected, 1);
    stop(&[&relay]);
}

/// A CCA from a raw server to `req`, with `result`.
fn raw_answer(req: &Message, from: &str, result: u32) -> Message {
    Message::new(
        req.header.to_answer(),
        vec![
            req.find_avp(&[(AVP_SESSION_ID, 0)]).unwrap().clone(),
            Avp::new(AVP_RESULT_CODE, 0, result).unwrap(),
            Avp::new(AVP_ORIGIN_HOST, 0, from).unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, "server.net").unwrap(),
        ],
    )
}

#[test]
fn relayed_requests_fail_over_to_another_next_hop() {
    use crate::support::raw::{self, RawPeer};
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.accept_unknown_peers = true;
    let ocs1 = loopback_peer(&relay, "ocs1.server.net", "server.net", None);
    let ocs2 = loopback_peer(&relay, "ocs2.server.net", "server.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs1, &ocs2]);
    relay.start().unwrap();
    let addr = relay.listen_addresses()[0];
    let server = |host: &str, peer: &Arc<Peer>| {
        let s = RawPeer::connect(addr, host, "server.net");
        wait_until(host, Duration::from_secs(5), || peer.is_ready());
        s
    };
    let mut client = RawPeer::connect(addr, "pgw.client.net", "client.net");
    let ask = |c: &mut RawPeer, extra: Vec<Avp>| {
        let mut avps = vec![
            Avp::new(AVP_SESSION_ID, 0, "pgw.client.net;1").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap(),
            Avp::new(
                AVP_PROXY_INFO,
                0,
                vec![
                    Avp::new(AVP_PROXY_HOST, 0, "proxy.client.net").unwrap(),
                    Avp::new(AVP_PROXY_STATE, 0, b"state".to_vec()).unwrap(),
                ],
            )
            .unwrap(),
            Avp::with_value(UNKNOWN_AVP, 0, AvpValue::Raw(vec![9, 8, 7])),
        ];
        avps.extend(extra);
        c.request(CMD_CREDIT_CONTROL, 4, avps)
    };

    // 1. closed: a request waits on ocs1 (the only server yet); ocs2 comes,
    // ocs1 goes without answering
    let mut s1 = server("ocs1.server.net", &ocs1);
    let request = ask(&mut client, Vec::new());
    client.send(&request.as_bytes().unwrap());
    let first = s1.recv_bytes().expect("the request at ocs1");
    let mut s2 = server("ocs2.server.net", &ocs2);
    drop(s1);
    let again = s2.recv_bytes().expect("the request failed over to ocs2");
    // byte for byte but the T flag and the hop-by-hop identifier: End-to-End,
    // Proxy-Info, the unknown AVP, the Route-Record
    assert_eq!(again[4], first[4] | MessageHeader::FLAG_RETRANSMIT);
    assert_eq!(first[4] & MessageHeader::FLAG_RETRANSMIT, 0);
    assert_eq!(again[..4], first[..4]);
    assert_eq!(again[5..12], first[5..12]);
    assert_eq!(again[16..], first[16..]);
    let again = Message::from_bytes(&again).unwrap();
    assert_eq!(
        again.header.end_to_end_identifier,
        request.header.end_to_end_identifier
    );
    assert_eq!(
        again.find_avps(&[(AVP_ROUTE_RECORD, 0)]).len(),
        1,
        "one Route-Record, added once"
    );
    s2.send(
        &raw_answer(&again, "ocs2.server.net", 2001)
            .as_bytes()
            .unwrap(),
    );
    let back = client.recv().expect("the answer from ocs2");
    assert_eq!(
        back.header.hop_by_hop_identifier,
        request.header.hop_by_hop_identifier
    );
    assert_eq!(
        back.header.end_to_end_identifier,
        request.header.end_to_end_identifier
    );
    assert_eq!(raw::result_code(&back), Some(2001));
    let stats = relay.relay_stats();
    assert_eq!(stats.requests_failed_over, 1);
    assert_eq!(stats.unable_to_deliver, 0);
    assert_eq!(stats.answers_relayed, 1);

    // 2. a request received with the T flag keeps it when forwarded
    let mut t = ask(&mut client, Vec::new());
    t.header.set_retransmit(true);
    client.send(&t.as_bytes().unwrap());
    let got = s2.recv().expect("the T-flagged request at ocs2");
    assert!(got.header.is_retransmit());
    s2.send(
        &raw_answer(&got, "ocs2.server.net", 2001)
            .as_bytes()
            .unwrap(),
    );
    assert_eq!(
        client.recv().map(|a| raw::result_code(&a)),
        Some(Some(2001))
    );

    // 3. DPR: ocs2 says goodbye with a request waiting; ocs1 is back
    let waiting = ask(&mut client, Vec::new());
    client.send(&waiting.as_bytes().unwrap());
    let at_ocs2 = s2.recv().expect("the request at ocs2");
    // ocs1's first connection is gone (as ocs2's in 4.) before it comes back
    wait_until("ocs1 gone", Duration::from_secs(5), || {
        ocs1.status.lock().connection.is_none()
    });
    let mut s1 = server("ocs1.server.net", &ocs1);
    let mut dpr = s2.request(
        CMD_DISCONNECT_PEER,
        0,
        vec![Avp::new(AVP_DISCONNECT_CAUSE, 0, E_DISCONNECT_CAUSE_REBOOTING).unwrap()],
    );
    dpr.header.set_proxyable(false);
    s2.send(&dpr.as_bytes().unwrap());
    let moved = s1.recv().expect("the request failed over to ocs1");
    assert!(moved.header.is_retransmit());
    assert_eq!(
        moved.header.end_to_end_identifier,
        at_ocs2.header.end_to_end_identifier
    );
    s1.send(
        &raw_answer(&moved, "ocs1.server.net", 2001)
            .as_bytes()
            .unwrap(),
    );
    let back = client.recv().expect("the answer from ocs1");
    assert_eq!(
        back.header.hop_by_hop_identifier,
        waiting.header.hop_by_hop_identifier
    );
    assert_eq!(
        back.find_avp(&[(AVP_ORIGIN_HOST, 0)]).and_then(Avp::as_str),
        Some("ocs1.server.net")
    );
    assert_eq!(relay.relay_stats().requests_failed_over, 2);
    drop(s2);
    wait_until("ocs2 gone", Duration::from_secs(5), || !ocs2.is_ready());

    // 4. a request for the failed host itself is not failed over: 3002
    let mut s2 = server("ocs2.server.net", &ocs2);
    let for_ocs1 = ask(
        &mut client,
        vec![Avp::new(AVP_DESTINATION_HOST, 0, "ocs1.server.net").unwrap()],
    );
    client.send(&for_ocs1.as_bytes().unwrap());
    s1.recv().expect("the request at ocs1");
    drop(s1);
    let a = client.recv().expect("3002");
    assert_eq!(
        raw::result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER)
    );
    assert!(has_e_bit(&a));
    assert_eq!(
        a.header.hop_by_hop_identifier,
        for_ocs1.header.hop_by_hop_identifier
    );
    let stats = relay.relay_stats();
    assert_eq!(stats.requests_failed_over, 2);
    assert_eq!(stats.unable_to_deliver, 1);
    assert_eq!(
        ocs2.outstanding.load(std::sync::atomic::Ordering::Relaxed)
            + ocs1.outstanding.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // nothing reached ocs2 meanwhile
    s2.stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(s2.recv().is_none());
    stop(&[&relay]);
}

#[test]
fn a_suspect_next_hop_gives_its_relayed_requests_to_another() {
    use crate::support::raw::{self, RawPeer};
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.accept_unknown_peers = true;
    // a DWR after 400 ms of silence, SUSPECT 2 s later without its DWA
    // (and closed 2 s after that)
    relay.idle_timeout = Duration::from_millis(400);
    relay.dwa_timeout = Duration::from_secs(2);
    let ocs1 = loopback_peer(&relay, "ocs1.server.net", "server.net", None);
    let ocs2 = loopback_peer(&relay, "ocs2.server.net", "server.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs1, &ocs2]);
    relay.start().unwrap();
    let addr = relay.listen_addresses()[0];
    let client = RawPeer::connect(addr, "pgw.client.net", "client.net");
    let mut client = client.pump();
    // ocs1 takes the request, then goes silent: it reads nothing more and
    // answers no DWR
    let mut s1 = RawPeer::connect(addr, "ocs1.server.net", "server.net");
    wait_until("ocs1", Duration::from_secs(5), || ocs1.is_ready());
    let request = client.request(
        CMD_CREDIT_CONTROL,
        4,
        vec![
            Avp::new(AVP_SESSION_ID, 0, "pgw.client.net;2").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap(),
        ],
    );
    client.send(&request.as_bytes().unwrap());
    let at_ocs1 = s1.recv().expect("the request at ocs1");
    let s2 = RawPeer::connect(addr, "ocs2.server.net", "server.net").pump();
    wait_until("ocs2", Duration::from_secs(5), || ocs2.is_ready());
    let moved = s2
        .recv(Duration::from_secs(10))
        .expect("the request failed over to ocs2 once ocs1 was SUSPECT");
    assert!(moved.header.is_retransmit());
    assert_eq!(
        moved.header.end_to_end_identifier,
        request.header.end_to_end_identifier
    );
    s2.send(
        &raw_answer(&moved, "ocs2.server.net", 2001)
            .as_bytes()
            .unwrap(),
    );
    let back = client.recv(Duration::from_secs(5)).expect("ocs2's answer");
    assert_eq!(
        back.header.hop_by_hop_identifier,
        request.header.hop_by_hop_identifier
    );
    assert_eq!(
        back.find_avp(&[(AVP_ORIGIN_HOST, 0)]).and_then(Avp::as_str),
        Some("ocs2.server.net")
    );
    // ocs1's late answer, on the connection SUSPECT left open, completes
    // nothing: the client gets one answer
    let unmatched = relay.protocol_stats().answers_unmatched;
    s1.send(
        &raw_answer(&at_ocs1, "ocs1.server.net", 2001)
            .as_bytes()
            .unwrap(),
    );
    wait_until("late answer dropped", Duration::from_secs(5), || {
        relay.protocol_stats().answers_unmatched == unmatched + 1
    });
    assert!(client.recv(Duration::from_millis(200)).is_none());
    assert_eq!(relay.relay_stats().requests_failed_over, 1);
    assert_eq!(relay.relay_stats().answers_relayed, 1);
    assert_eq!(raw::result_code(&back), Some(2001));
    drop((client, s2, s1));
    stop(&[&relay]);
}

#[test]
fn a_cached_answer_goes_only_to_the_same_request_through_a_relay() {
    use crate::support::raw::RawPeer;
    use std::sync::atomic::{AtomicU32, Ordering};
    // the server counts its calls and says which call answered (Class)
    let server = loopback_node("ocs.server.net", "server.net", true);
    let relay_on_server = loopback_peer(&server, "relay.relay.net", "relay.net", None);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        4,
        move |app, req| {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            let mut a = crate::support::cc::answer(app, req)?.expect("an answer");
            a.append_avp(Avp::new(AVP_CLASS, 0, format!("call {n}").into_bytes()).unwrap());
            Ok(Some(a))
        },
    );
    server.add_application(app, [&relay_on_server], &[]);
    server.start().unwrap();
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    let ocs = loopback_peer(&relay, "ocs.server.net", "server.net", Some(port(&server)));
    loopback_peer(&relay, "x.client.net", "client.net", None);
    loopback_peer(&relay, "y.client.net", "client.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs]);
    relay.start().unwrap();
    wait_until("relay connected", Duration::from_secs(10), || {
        ocs.is_ready()
    });
    let addr = relay.listen_addresses()[0];
    let mut x = RawPeer::connect(addr, "x.client.net", "client.net");
    let mut y = RawPeer::connect(addr, "y.client.net", "client.net");
    let session = |m: &Message| {
        m.find_avp(&[(AVP_SESSION_ID, 0)])
            .and_then(Avp::as_str)
            .map(str::to_owned)
    };
    let class = |m: &Message| m.find_avp(&[(AVP_CLASS, 0)]).cloned();
    const E2E: u32 = 0x5eed_0100;

    let mut original = ccr("x.client.net", "server.net", 1, E2E);
    original.header.hop_by_hop_identifier = 10;
    let first = x
        .exchange(&original.as_bytes().unwrap())
        .expect("x's answer");
    assert_eq!(result_code(&first), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(session(&first), session(&original));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // y claims x's Origin-Host and End-to-End id, with the T flag and a
    // Session-Id of its own: a new request for the application
    let mut forged = original.clone();
    forged.header.set_retransmit(true);
    forged.header.hop_by_hop_identifier = 20;
    for a in forged.avps.iter_mut() {
        if a.code() == AVP_SESSION_ID {
            *a = Avp::new(AVP_SESSION_ID, 0, "y.client.net;1;1").unwrap();
        }
    }
    let on_y = y.exchange(&forged.as_bytes().unwrap()).expect("y's answer");
    assert_eq!(result_code(&on_y), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(
        session(&on_y).as_deref(),
        Some("y.client.net;1;1"),
        "y was given x's answer: {on_y:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_ne!(class(&on_y), class(&first));

    // x's own retransmission (through the same relay, so the same
    // authenticated peer): x's answer from the cache
    let mut again = original.clone();
    again.header.set_retransmit(true);
    again.header.hop_by_hop_identifier = 11;
    let second = x
        .exchange(&again.as_bytes().unwrap())
        .expect("x's answer again");
    assert_eq!(second.header.hop_by_hop_identifier, 11);
    assert_eq!(session(&second), session(&original));
    assert_eq!(class(&second), class(&first));
    assert_eq!(second.avps, first.avps);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the application ran again");
    assert_eq!(server.protocol_stats().retransmissions_answered, 1);
    stop(&[&relay, &server]);
}

#[test]
fn a_relay_answers_again_only_the_same_request_it_handled_itself() {
    use crate::support::raw::RawPeer;
    use std::sync::atomic::{AtomicU32, Ordering};
    // requests for the relay's own realm go to its own application
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    let x_peer = loopback_peer(&relay, "x.client.net", "client.net", None);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        4,
        move |app, req| {
            c.fetch_add(1, Ordering::SeqCst);
            crate::support::cc::answer(app, req)
        },
    );
    relay.add_application(app, [&x_peer], &[]);
    relay.start().unwrap();
    let mut x = RawPeer::connect(relay.listen_addresses()[0], "x.client.net", "client.net");
    let mut original = ccr("x.client.net", "relay.net", 1, 0x5eed_0200);
    original.header.hop_by_hop_identifier = 10;
    let first = x
        .exchange(&original.as_bytes().unwrap())
        .expect("an answer");
    assert_eq!(result_code(&first), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // another request with the same End-to-End id and the T flag: new
    let mut other = original.clone();
    other.header.set_retransmit(true);
    other.header.hop_by_hop_identifier = 11;
    for a in other.avps.iter_mut() {
        if a.code() == AVP_SESSION_ID {
            *a = Avp::new(AVP_SESSION_ID, 0, "x.client.net;other").unwrap();
        }
    }
    let a = x.exchange(&other.as_bytes().unwrap()).expect("an answer");
    assert_eq!(
        a.find_avp(&[(AVP_SESSION_ID, 0)]).and_then(Avp::as_str),
        Some("x.client.net;other")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // the same request again: from the cache
    let mut again = original.clone();
    again.header.set_retransmit(true);
    again.header.hop_by_hop_identifier = 12;
    let b = x.exchange(&again.as_bytes().unwrap()).expect("an answer");
    assert_eq!(b.avps, first.avps);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(relay.protocol_stats().retransmissions_answered, 1);
    stop(&[&relay]);
}
/// A CCR from the raw `client` for server.net padded (by an unknown,
/// non-mandatory AVP) to `size` bytes, a multiple of 4.
fn padded_ccr(client: &mut crate::support::raw::RawPeer, size: usize, extra: Vec<Avp>) -> Message {
    let mut avps = vec![
        Avp::new(AVP_SESSION_ID, 0, format!("pgw.client.net;{size}")).unwrap(),
        Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap(),
    ];
    avps.extend(extra);
    let mut m = client.request(CMD_CREDIT_CONTROL, 4, avps);
    let without = m.as_bytes().unwrap().len() + 8;
    assert!(size >= without && size % 4 == 0);
    m.append_avp(Avp::with_value(
        UNKNOWN_AVP,
        0,
        AvpValue::Raw(vec![7; size - without]),
    ));
    assert_eq!(m.as_bytes().unwrap().len(), size);
    m
}

/// A server of this stack for server.net (reading at most `max_message`
/// bytes a message) answering the relay's CCRs 2001.
fn limited_server(host: &str, max_message: u32) -> Node {
    let mut n = loopback_node(host, "server.net", true);
    n.max_message_size = max_message;
    let relay = loopback_peer(&n, "relay.relay.net", "relay.net", None);
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        2,
        crate::support::cc::answer,
    );
    n.add_application(app, [&relay], &[]);
    n.start().unwrap();
    n
}

#[test]
fn an_oversized_request_costs_no_next_hop_connection() {
    use crate::support::raw::{self, RawPeer};
    // two next hops of this stack, reading what the relay reads (1 MiB)
    let servers: Vec<Node> = ["ocs1.server.net", "ocs2.server.net"]
        .iter()
        .map(|h| limited_server(h, diameter::message::framer::DEFAULT_MAX_MESSAGE_SIZE))
        .collect();
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.accept_unknown_peers = true;
    let ocs: Vec<Arc<Peer>> = servers
        .iter()
        .zip(["ocs1.server.net", "ocs2.server.net"])
        .map(|(s, h)| {
            let p = loopback_peer(&relay, h, "server.net", Some(port(s)));
            // a lost connection stays lost for the test's length
            p.set_reconnect_wait(Duration::from_secs(120));
            p
        })
        .collect();
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs[0], &ocs[1]]);
    relay.start().unwrap();
    wait_until("both next hops", Duration::from_secs(10), || {
        ocs.iter().all(|p| p.is_ready())
    });
    let addr = relay.listen_addresses()[0];
    let mut client = RawPeer::connect(addr, "pgw.client.net", "client.net");

    // as large as the relay reads: with its Route-Record, larger than a
    // next hop like it reads
    let size = diameter::message::framer::DEFAULT_MAX_MESSAGE_SIZE as usize;
    let big = padded_ccr(&mut client, size, Vec::new());
    client.send(&big.as_bytes().unwrap());
    let a = client.recv().expect("an answer to the oversized request");
    assert_eq!(
        a.header.hop_by_hop_identifier,
        big.header.hop_by_hop_identifier
    );
    assert_eq!(
        raw::result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER)
    );
    assert!(has_e_bit(&a));
    assert!(
        ocs.iter().all(|p| p.is_ready()),
        "no next hop lost its connection"
    );

    // both next hops still serve, on the connections they had
    for host in ["ocs1.server.net", "ocs2.server.net"] {
        let m = client.request(
            CMD_CREDIT_CONTROL,
            4,
            vec![
                Avp::new(AVP_SESSION_ID, 0, format!("pgw.client.net;{host}")).unwrap(),
                Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap(),
                Avp::new(AVP_DESTINATION_HOST, 0, host).unwrap(),
                Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
                Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
                Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
                Avp::new(AVP_CC_REQUEST_NUMBER, 0, 1u32).unwrap(),
            ],
        );
        let a = client.exchange(&m.as_bytes().unwrap()).expect("an answer");
        assert_eq!(raw::result_code(&a), Some(2001), "{host}: {a:?}");
        assert_eq!(
            a.find_avp(&[(AVP_ORIGIN_HOST, 0)]).and_then(Avp::as_str),
            Some(host)
        );
    }
    for s in &servers {
        let relay_seen = &s.peers()["relay.relay.net"];
        assert_eq!(
            crate::support::cc::app_requests(relay_seen),
            1,
            "one CCR each"
        );
    }
    let stats = relay.relay_stats();
    assert_eq!(stats.too_large, 1);
    assert_eq!(stats.requests_failed_over, 0);
    assert_eq!(stats.requests_relayed, 2);
    assert!(ocs.iter().all(|p| p.is_ready()));
    drop(client);
    stop(&[&relay]);
    stop(&servers.iter().collect::<Vec<_>>());
}

#[test]
fn a_request_failed_over_once_is_not_sent_again_when_its_next_hop_closes_on_it() {
    use crate::support::raw::{self, RawPeer};
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.accept_unknown_peers = true;
    let hosts = ["ocs1.server.net", "ocs2.server.net", "ocs3.server.net"];
    let ocs: Vec<Arc<Peer>> = hosts
        .iter()
        .map(|h| loopback_peer(&relay, h, "server.net", None))
        .collect();
    relay.add_route(
        "server.net",
        None,
        RouteAction::Relay,
        [&ocs[0], &ocs[1], &ocs[2]],
    );
    relay.start().unwrap();
    let addr = relay.listen_addresses()[0];
    let server = |n: usize| {
        let s = RawPeer::connect(addr, hosts[n], "server.net");
        wait_until(hosts[n], Duration::from_secs(5), || ocs[n].is_ready());
        s
    };
    let gone = |n: usize| {
        wait_until("closed", Duration::from_secs(5), || !ocs[n].is_ready());
    };
    let mut client = RawPeer::connect(addr, "pgw.client.net", "client.net");
    let ask = |c: &mut RawPeer, n: u32| {
        c.request(
            CMD_CREDIT_CONTROL,
            4,
            vec![
                Avp::new(AVP_SESSION_ID, 0, format!("pgw.client.net;{n}")).unwrap(),
                Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap(),
            ],
        )
    };

    // 1. the request's first next hop closes right after it (as a dying
    // server would): failed over; its second one does too: answered 3002,
    // not sent to a third
    let mut s1 = server(0);
    let r1 = ask(&mut client, 1);
    client.send(&r1.as_bytes().unwrap());
    s1.recv().expect("r1 at ocs1");
    let mut s2 = server(1);
    drop(s1);
    gone(0);
    let moved = s2.recv().expect("r1 failed over to ocs2");
    assert!(moved.header.is_retransmit());
    let mut s3 = server(2);
    drop(s2);
    let a = client.recv().expect("an answer to r1");
    assert_eq!(
        a.header.hop_by_hop_identifier,
        r1.header.hop_by_hop_identifier
    );
    assert_eq!(
        raw::result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER)
    );
    assert!(has_e_bit(&a));
    gone(1);
    // ocs3 kept its connection and never saw r1: the next request is the
    // first it gets
    let r2 = ask(&mut client, 2);
    client.send(&r2.as_bytes().unwrap());
    let at_ocs3 = s3.recv().expect("r2 at ocs3");
    assert_eq!(
        at_ocs3.header.end_to_end_identifier, r2.header.end_to_end_identifier,
        "ocs3 got r1 as well"
    );
    assert!(!at_ocs3.header.is_retransmit());

    // 2. a request failed over once whose next hop read something more
    // before closing (a DWR answered) is failed over again
    let mut s1 = server(0);
    drop(s3);
    gone(2);
    let moved = s1.recv().expect("r2 failed over to ocs1");
    assert_eq!(
        moved.header.end_to_end_identifier,
        r2.header.end_to_end_identifier
    );
    let mut dwr = s1.request(CMD_DEVICE_WATCHDOG, 0, Vec::new());
    dwr.header.set_proxyable(false);
    let dwa = s1.exchange(&dwr.as_bytes().unwrap()).expect("a DWA");
    assert_eq!(dwa.header.command_code, CMD_DEVICE_WATCHDOG);
    let mut s2 = server(1);
    drop(s1);
    let again = s2.recv().expect("r2 failed over a second time, to ocs2");
    assert_eq!(
        again.header.end_to_end_identifier,
        r2.header.end_to_end_identifier
    );
    s2.send(&raw_answer(&again, hosts[1], 2001).as_bytes().unwrap());
    let a = client.recv().expect("ocs2's answer to r2");
    assert_eq!(
        a.header.hop_by_hop_identifier,
        r2.header.hop_by_hop_identifier
    );
    assert_eq!(raw::result_code(&a), Some(2001));

    let stats = relay.relay_stats();
    assert_eq!(stats.requests_failed_over, 3);
    assert_eq!(stats.closed_after_sending, 1);
    assert_eq!(stats.unable_to_deliver, 0);
    assert_eq!(stats.answers_relayed, 1);
    drop((client, s2));
    stop(&[&relay]);
}

#[test]
fn failover_copies_stay_within_their_byte_budget() {
    use crate::support::raw::{self, RawPeer};
    const EACH: usize = 20_000;
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.accept_unknown_peers = true;
    relay.limits.relay_copy_bytes_per_connection = 64 << 10;
    relay.limits.relay_copy_bytes = 96 << 10;
    let ocs1 = loopback_peer(&relay, "ocs1.server.net", "server.net", None);
    let ocs2 = loopback_peer(&relay, "ocs2.server.net", "server.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs1, &ocs2]);
    relay.start().unwrap();
    let addr = relay.listen_addresses()[0];
    let mut client = RawPeer::connect(addr, "pgw.client.net", "client.net");
    let mut s1 = RawPeer::connect(addr, "ocs1.server.net", "server.net");
    wait_until("ocs1", Duration::from_secs(5), || ocs1.is_ready());
    let ask = |c: &mut RawPeer, n: u32| {
        padded_ccr(
            c,
            EACH,
            vec![Avp::new(AVP_CC_REQUEST_NUMBER, 0, n).unwrap()],
        )
    };

    // 1. eight requests wait on ocs1: the copies of three fit its 64 KiB
    let mut sent = Vec::new();
    for n in 0..8 {
        let r = ask(&mut client, n);
        client.send(&r.as_bytes().unwrap());
        sent.push(r);
    }
    let mut forwarded = 0;
    for _ in 0..8 {
        forwarded = s1.recv_bytes().expect("a request at ocs1").len();
    }
    assert!(forwarded > EACH && 3 * forwarded <= 64 << 10 && 4 * forwarded > 64 << 10);
    let stats = relay.relay_stats();
    assert_eq!(stats.copy_bytes, 3 * forwarded as u64);
    assert_eq!(stats.forwarded_without_copy, 5);

    // 2. four more go to ocs2 (less loaded): the node's 96 KiB hold one
    // more copy, though ocs2's connection has room
    let mut s2 = RawPeer::connect(addr, "ocs2.server.net", "server.net");
    wait_until("ocs2", Duration::from_secs(5), || ocs2.is_ready());
    for n in 8..12 {
        let r = ask(&mut client, n);
        client.send(&r.as_bytes().unwrap());
        sent.push(r);
    }
    let mut at_ocs2 = Vec::new();
    for _ in 8..12 {
        at_ocs2.push(s2.recv().expect("a request at ocs2"));
    }
    let stats = relay.relay_stats();
    assert_eq!(stats.copy_bytes, 4 * forwarded as u64);
    assert!(stats.copy_bytes <= 96 << 10);
    assert_eq!(stats.forwarded_without_copy, 8);

    // 3. ocs1 goes: the three with a copy go to ocs2 (there, two copies
    // fit ocs2's budget, one goes without), the five without one get 3002
    drop(s1);
    let mut results = Vec::new();
    for _ in 0..5 {
        let a = client.recv().expect("3002 for a request without a copy");
        results.push(raw::result_code(&a));
    }
    assert_eq!(
        results,
        vec![Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER); 5]
    );
    for _ in 0..3 {
        let m = s2.recv().expect("a request failed over to ocs2");
        assert!(m.header.is_retransmit());
        at_ocs2.push(m);
    }
    let stats = relay.relay_stats();
    assert_eq!(stats.requests_failed_over, 3);
    assert_eq!(stats.forwarded_without_copy, 9);
    assert!(stats.copy_bytes <= 96 << 10);
    for m in &at_ocs2 {
        s2.send(&raw_answer(m, "ocs2.server.net", 2001).as_bytes().unwrap());
    }
    for _ in 0..at_ocs2.len() {
        let a = client.recv().expect("ocs2's answers");
        assert_eq!(raw::result_code(&a), Some(2001));
    }
    wait_until("copies released", Duration::from_secs(5), || {
        relay.relay_stats().copy_bytes == 0
    });
    drop((client, s2));
    stop(&[&relay]);
}

#[test]
fn a_request_next_hops_cannot_read_costs_at_most_two_of_them() {
    use crate::support::raw::{self, RawPeer};
    // three next hops of this stack reading at most 64 KiB; the relay
    // reads 1 MiB, so a 100 KB request is not too large for it
    let hosts = ["ocs1.server.net", "ocs2.server.net", "ocs3.server.net"];
    let servers: Vec<Node> = hosts.iter().map(|h| limited_server(h, 64 << 10)).collect();
    let mut relay = loopback_node("relay.relay.net", "relay.net", true);
    relay.agent = Agent::Relay;
    relay.accept_unknown_peers = true;
    let ocs: Vec<Arc<Peer>> = servers
        .iter()
        .zip(hosts)
        .map(|(s, h)| {
            let p = loopback_peer(&relay, h, "server.net", Some(port(s)));
            p.set_reconnect_wait(Duration::from_secs(120));
            p
        })
        .collect();
    relay.add_route(
        "server.net",
        None,
        RouteAction::Relay,
        [&ocs[0], &ocs[1], &ocs[2]],
    );
    relay.start().unwrap();
    wait_until("three next hops", Duration::from_secs(10), || {
        ocs.iter().all(|p| p.is_ready())
    });
    let addr = relay.listen_addresses()[0];
    let mut client = RawPeer::connect(addr, "pgw.client.net", "client.net");
    let big = padded_ccr(&mut client, 100_000, Vec::new());
    let a = client
        .exchange(&big.as_bytes().unwrap())
        .expect("an answer to the request");
    assert_eq!(
        raw::result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER)
    );
    // the one it was sent to and the one it was failed over to closed; the
    // third was spared
    wait_until("two next hops lost", Duration::from_secs(5), || {
        ocs.iter().filter(|p| !p.is_ready()).count() == 2
    });
    let stats = relay.relay_stats();
    assert_eq!(stats.requests_failed_over, 1);
    assert_eq!(stats.closed_after_sending, 1);
    let m = client.request(
        CMD_CREDIT_CONTROL,
        4,
        vec![
            Avp::new(AVP_SESSION_ID, 0, "pgw.client.net;after").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap(),
            Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
            Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, 1u32).unwrap(),
        ],
    );
    let a = client.exchange(&m.as_bytes().unwrap()).expect("an answer");
    assert_eq!(raw::result_code(&a), Some(2001), "the third still serves");
    assert_eq!(ocs.iter().filter(|p| p.is_ready()).count(), 1);
    drop(client);
    stop(&[&relay]);
    stop(&servers.iter().collect::<Vec<_>>());
}
