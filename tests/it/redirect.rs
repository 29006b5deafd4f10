//! Redirects (RFC 6733 §6.1.7, §6.13, §6.14) on loopback: a client node
//! whose request is answered 3006 DIAMETER_REDIRECT_INDICATION by an agent
//! (our `Node`, or the `dra` example) sends it again to the host named, and
//! later requests straight there as the Redirect-Host-Usage says, until the
//! Redirect-Max-Cache-Time passes; hostile redirects (loops, no host,
//! garbage, this node, thousands of hosts) end with an answer in time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::interop::{self, ok, PeerProcess, EXCHANGE, STARTUP};
use crate::support::{port, result_code, stop, wait_until, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::{AppBase, Application, HandlerResult, ThreadingApplication};
use diameter::node::peer::Peer;
use diameter::node::{Agent, Node, RouteAction, RouteEntry};

const CLIENT: &str = "c1.client.net";
const SERVER_REALM: &str = "server.net";
const TIMEOUT: Duration = Duration::from_secs(10);
const HOUR: Duration = Duration::from_secs(3600);

/// A node listening on a loopback port, not started.
fn listening(host: &str, realm: &str) -> Node {
    TestNode::builder(host, realm).listen().build().node
}

/// A peer at 127.0.0.1, persistent or not.
fn peer(n: &Node, uri: &str, realm: &str, persistent: bool) -> Arc<Peer> {
    PeerSpec::uri(uri)
        .realm(realm)
        .persistent(persistent)
        .add_to(n)
}

/// A server of `realm` answering 2001 to anyone, keeping the Origin-Host
/// of every request it gets.
struct Server {
    node: Node,
    seen: Arc<Mutex<Vec<String>>>,
}

fn server(host: &str, realm: &str) -> Server {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = seen.clone();
    let app = ThreadingApplication::new(AppBase::auth(4), 8, move |app, req| {
        let origin = req
            .find_avp(&[(AVP_ORIGIN_HOST, 0)])
            .and_then(Avp::as_str)
            .unwrap_or_default()
            .to_owned();
        kept.lock().unwrap().push(origin);
        crate::support::cc::answer(app, req)
    });
    let node = TestNode::builder(host, realm)
        .listen()
        .configure(|n| n.accept_unknown_peers = true)
        .app(app)
        .start()
        .node;
    Server { node, seen }
}

impl Server {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A relay agent accepting any client (started by the caller).
fn agent(host: &str) -> Node {
    TestNode::builder(host, "relay.net")
        .listen()
        .configure(|n| {
            n.agent = Agent::Relay;
            n.accept_unknown_peers = true;
        })
        .build()
        .node
}

/// A client `host` whose CC application routes `realms` to the agent
/// `agent_host` at `agent_port`; `configure` runs before it starts.
fn client(
    host: &str,
    agent_host: &str,
    agent_port: u16,
    realms: &[&str],
    configure: impl FnOnce(&mut Node),
) -> (Node, Arc<ThreadingApplication>) {
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let mut n = TestNode::builder(host, "client.net")
        .peer(PeerSpec::at(agent_host, agent_port).realm("relay.net"))
        .app_routing(app.clone(), realms)
        .build();
    configure(&mut n.node);
    let n = n.start();
    app.base().wait_for_ready(TIMEOUT).unwrap();
    (n.node, app)
}

/// CCR number `n` from `origin` for `realm`.
fn ccr(origin: &str, realm: &str, n: u32) -> Message {
    let mut m = crate::support::cc::ccr(origin, "client.net", n);
    for a in m.avps.iter_mut() {
        if a.code() == AVP_DESTINATION_REALM {
            *a = Avp::new(AVP_DESTINATION_REALM, 0, realm).unwrap();
        }
    }
    m
}

fn send(app: &ThreadingApplication, m: Message) -> Message {
    app.base()
        .send_request(m, TIMEOUT)
        .unwrap_or_else(|e| panic!("request failed: {e}"))
}

fn origin(m: &Message) -> &str {
    m.find_avp(&[(AVP_ORIGIN_HOST, 0)])
        .and_then(Avp::as_str)
        .unwrap_or_default()
}

fn learned(n: &Node) -> Vec<RouteEntry> {
    n.routes().into_iter().filter(|r| r.learned).collect()
}

#[test]
fn a_redirect_to_a_known_peer_connects_it_and_dont_cache_redirects_every_request() {
    const N: u64 = 4;
    let ocs = server("ocs.server.net", SERVER_REALM);
    let ocs_uri = format!("aaa://ocs.server.net:{}", port(&ocs.node));
    let dra = agent("dra.relay.net");
    // add_route's Redirect: DONT_CACHE
    let ocs_on_dra = peer(&dra, &ocs_uri, SERVER_REALM, false);
    dra.add_route(SERVER_REALM, None, RouteAction::Redirect, [&ocs_on_dra]);
    dra.start().unwrap();
    let mut known = None;
    let (c, app) = client(CLIENT, "dra.relay.net", port(&dra), &[SERVER_REALM], |n| {
        // known, not persistent: not connected until the redirect
        known = Some(peer(n, &ocs_uri, SERVER_REALM, false));
    });
    let known = known.unwrap();
    assert!(!known.is_ready());
    for i in 0..N as u32 {
        let a = send(&app, ccr(CLIENT, SERVER_REALM, i));
        assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
        assert_eq!(origin(&a), "ocs.server.net");
        assert_eq!(
            a.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
                .and_then(Avp::as_u32),
            Some(i)
        );
    }
    assert!(known.is_ready(), "the redirect connected the known peer");
    assert_eq!(dra.relay_stats().redirected, N);
    assert_eq!(ocs.seen(), vec![CLIENT.to_owned(); N as usize]);
    let stats = c.protocol_stats();
    assert_eq!(stats.requests_redirected, N);
    assert_eq!(stats.redirect_cache_hits, 0);
    assert!(learned(&c).is_empty());
    stop(&[&c, &dra, &ocs.node]);
}

#[test]
fn realm_and_application_sends_later_requests_straight_to_the_server() {
    const N: u64 = 10;
    let ocs = server("ocs.server.net", SERVER_REALM);
    let dra = agent("dra.relay.net");
    // named by address: the client knows no such peer and adds one
    let by_address = peer(
        &dra,
        &format!("aaa://127.0.0.1:{}", port(&ocs.node)),
        SERVER_REALM,
        false,
    );
    dra.add_redirect(
        SERVER_REALM,
        Some(4),
        [&by_address],
        E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION,
        HOUR,
    );
    dra.start().unwrap();
    let (c, app) = client(CLIENT, "dra.relay.net", port(&dra), &[SERVER_REALM], |_| {});
    for i in 0..N as u32 {
        let a = send(&app, ccr(CLIENT, SERVER_REALM, i));
        assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS), "{a}");
        assert_eq!(origin(&a), "ocs.server.net");
    }
    assert_eq!(dra.relay_stats().redirected, 1);
    assert_eq!(ocs.seen(), vec![CLIENT.to_owned(); N as usize]);
    let stats = c.protocol_stats();
    assert_eq!(stats.requests_redirected, 1);
    assert_eq!(stats.redirect_cache_hits, N - 1);
    // the learned route
    let routes = learned(&c);
    assert_eq!(routes.len(), 1, "{routes:?}");
    let r = &routes[0];
    assert_eq!(
        (r.realm.as_str(), r.application_id),
        (SERVER_REALM, Some(4))
    );
    assert_eq!(r.action, RouteAction::Relay);
    assert_eq!(
        r.redirect_host_usage,
        E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION
    );
    assert_eq!(r.servers.len(), 1);
    assert_eq!(r.servers[0].node_name, "127.0.0.1");
    assert_eq!(r.servers[0].port, port(&ocs.node));
    assert!(r.servers[0].is_ready());
    assert!(r.expires.is_some_and(|e| e > Instant::now()));

    // a client that follows no redirect gets the 3006 itself
    let (c0, app0) = client(
        "c0.client.net",
        "dra.relay.net",
        port(&dra),
        &[SERVER_REALM],
        |n| n.limits.max_redirects = 0,
    );
    let a = send(&app0, ccr("c0.client.net", SERVER_REALM, 1));
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION)
    );
    assert!(a.header.is_error());
    assert_eq!(origin(&a), "dra.relay.net");
    assert_eq!(
        a.find_avp(&[(AVP_REDIRECT_HOST, 0)]).and_then(Avp::as_str),
        Some(format!("aaa://127.0.0.1:{}", port(&ocs.node)).as_str())
    );
    assert_eq!(
        a.find_avp(&[(AVP_REDIRECT_HOST_USAGE, 0)])
            .and_then(Avp::as_i32),
        Some(E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION)
    );
    assert_eq!(
        a.find_avp(&[(AVP_REDIRECT_MAX_CACHE_TIME, 0)])
            .and_then(Avp::as_u32),
        Some(3600)
    );
    assert_eq!(c0.protocol_stats().requests_redirected, 0);
    // and so does one without failover (nothing kept to send again)
    let (c_off, app_off) = client(
        "c2.client.net",
        "dra.relay.net",
        port(&dra),
        &[SERVER_REALM],
        |n| n.limits.max_failovers = 0,
    );
    let a = send(&app_off, ccr("c2.client.net", SERVER_REALM, 1));
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION)
    );
    assert_eq!(dra.relay_stats().redirected, 3);
    stop(&[&c, &c0, &c_off, &dra, &ocs.node]);
}

#[test]
fn a_cache_entry_expires_and_the_next_request_is_redirected_again() {
    let ocs = server("ocs.server.net", SERVER_REALM);
    let dra = agent("dra.relay.net");
    let by_address = peer(
        &dra,
        &format!("aaa://127.0.0.1:{}", port(&ocs.node)),
        SERVER_REALM,
        false,
    );
    dra.add_redirect(
        SERVER_REALM,
        None,
        [&by_address],
        E_REDIRECT_HOST_USAGE_ALL_REALM,
        Duration::from_secs(1),
    );
    dra.start().unwrap();
    let (c, app) = client(CLIENT, "dra.relay.net", port(&dra), &[SERVER_REALM], |_| {});
    let a = send(&app, ccr(CLIENT, SERVER_REALM, 1));
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(dra.relay_stats().redirected, 1);
    // learned for one second (unless that second is over already)
    let routes = learned(&c);
    assert!(routes.len() <= 1);
    if let Some(r) = routes.first() {
        assert_eq!((r.realm.as_str(), r.application_id), (SERVER_REALM, None));
        assert_eq!(r.redirect_host_usage, E_REDIRECT_HOST_USAGE_ALL_REALM);
        assert!(r
            .expires
            .is_some_and(|e| e <= Instant::now() + Duration::from_secs(1)));
    }
    wait_until("the learned route expired", TIMEOUT, || {
        learned(&c).is_empty()
    });
    let a = send(&app, ccr(CLIENT, SERVER_REALM, 2));
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(dra.relay_stats().redirected, 2);
    assert_eq!(c.protocol_stats().requests_redirected, 2);
    assert_eq!(ocs.seen().len(), 2);
    stop(&[&c, &dra, &ocs.node]);
}

#[test]
fn all_session_is_keyed_by_session_id() {
    let ocs = server("ocs.server.net", SERVER_REALM);
    let dra = agent("dra.relay.net");
    let by_address = peer(
        &dra,
        &format!("aaa://127.0.0.1:{}", port(&ocs.node)),
        SERVER_REALM,
        false,
    );
    dra.add_redirect(
        SERVER_REALM,
        None,
        [&by_address],
        E_REDIRECT_HOST_USAGE_ALL_SESSION,
        HOUR,
    );
    dra.start().unwrap();
    let (c, app) = client(CLIENT, "dra.relay.net", port(&dra), &[SERVER_REALM], |_| {});
    let in_session = |session: &str, n: u32| {
        let mut m = ccr(CLIENT, SERVER_REALM, n);
        m.avps[0] = Avp::new(AVP_SESSION_ID, 0, format!("{CLIENT};{session}")).unwrap();
        let a = send(&app, m);
        assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
        assert_eq!(origin(&a), "ocs.server.net");
    };
    in_session("a", 1);
    in_session("a", 2);
    assert_eq!(dra.relay_stats().redirected, 1);
    in_session("b", 1);
    assert_eq!(dra.relay_stats().redirected, 2);
    in_session("a", 3);
    in_session("b", 2);
    assert_eq!(dra.relay_stats().redirected, 2);
    let stats = c.protocol_stats();
    assert_eq!(
        (stats.requests_redirected, stats.redirect_cache_hits),
        (2, 3)
    );
    assert_eq!(ocs.seen().len(), 5);
    // session entries are no routes
    assert!(learned(&c).is_empty());
    stop(&[&c, &dra, &ocs.node]);
}

#[test]
fn all_host_all_user_and_all_application_are_honoured() {
    for usage in [
        E_REDIRECT_HOST_USAGE_ALL_HOST,
        E_REDIRECT_HOST_USAGE_ALL_USER,
        E_REDIRECT_HOST_USAGE_ALL_APPLICATION,
    ] {
        let ocs = server("ocs.server.net", SERVER_REALM);
        let dra = agent("dra.relay.net");
        let by_address = peer(
            &dra,
            &format!("aaa://127.0.0.1:{}", port(&ocs.node)),
            SERVER_REALM,
            false,
        );
        dra.add_redirect(SERVER_REALM, None, [&by_address], usage, HOUR);
        dra.start().unwrap();
        let (c, app) = client(CLIENT, "dra.relay.net", port(&dra), &[SERVER_REALM], |_| {});
        let user = |name: &str, n: u32| {
            let mut m = ccr(CLIENT, SERVER_REALM, n);
            m.append_avp(Avp::new(AVP_USER_NAME, 0, name).unwrap());
            let a = send(&app, m);
            assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
        };
        user("alice", 1);
        user("alice", 2);
        user("alice", 3);
        assert_eq!(dra.relay_stats().redirected, 1, "usage {usage}");
        // another user: redirected again only when the cache keys on users
        user("bob", 4);
        let again = u64::from(usage == E_REDIRECT_HOST_USAGE_ALL_USER);
        assert_eq!(dra.relay_stats().redirected, 1 + again, "usage {usage}");
        let routes = learned(&c);
        if usage == E_REDIRECT_HOST_USAGE_ALL_APPLICATION {
            assert_eq!(routes.len(), 1);
            // it holds for the realm of the request redirected (the
            // node's scope is narrow by default)
            assert_eq!(
                (routes[0].realm.as_str(), routes[0].application_id),
                (SERVER_REALM, Some(4))
            );
            assert_eq!(
                routes[0].redirect_host_usage,
                E_REDIRECT_HOST_USAGE_ALL_APPLICATION
            );
        } else {
            assert!(routes.is_empty());
        }
        assert_eq!(ocs.seen().len(), 4);
        stop(&[&c, &dra, &ocs.node]);
    }
}

#[test]
fn the_cache_holds_at_most_redirect_cache_size_entries() {
    let realms = ["r0.net", "r1.net", "r2.net", "r3.net", "r4.net"];
    let ocs = server("ocs.server.net", SERVER_REALM);
    let dra = agent("dra.relay.net");
    let by_address = peer(
        &dra,
        &format!("aaa://127.0.0.1:{}", port(&ocs.node)),
        SERVER_REALM,
        false,
    );
    for realm in realms {
        dra.add_redirect(
            realm,
            None,
            [&by_address],
            E_REDIRECT_HOST_USAGE_ALL_REALM,
            HOUR,
        );
    }
    dra.start().unwrap();
    let (c, app) = client(CLIENT, "dra.relay.net", port(&dra), &realms, |n| {
        n.limits.redirect_cache_size = 2
    });
    for (i, realm) in realms.iter().enumerate() {
        let a = send(&app, ccr(CLIENT, realm, i as u32));
        assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
        assert!(learned(&c).len() <= 2);
    }
    let kept: Vec<String> = learned(&c).into_iter().map(|r| r.realm).collect();
    assert_eq!(kept, ["r3.net", "r4.net"]);
    // the ones dropped are redirected again, the ones kept are not
    send(&app, ccr(CLIENT, "r4.net", 10));
    assert_eq!(dra.relay_stats().redirected, 5);
    send(&app, ccr(CLIENT, "r0.net", 11));
    assert_eq!(dra.relay_stats().redirected, 6);
    stop(&[&c, &dra, &ocs.node]);
}

// ---- hostile agents ----

#[test]
fn a_redirect_loop_between_two_agents_ends_with_the_3006() {
    let a = agent("dra-a.relay.net");
    let b = agent("dra-b.relay.net");
    a.start().unwrap();
    b.start().unwrap();
    // each redirects to the other
    let b_on_a = peer(
        &a,
        &format!("aaa://dra-b.relay.net:{}", port(&b)),
        "relay.net",
        false,
    );
    a.add_redirect(
        SERVER_REALM,
        None,
        [&b_on_a],
        E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION,
        HOUR,
    );
    let a_on_b = peer(
        &b,
        &format!("aaa://dra-a.relay.net:{}", port(&a)),
        "relay.net",
        false,
    );
    b.add_redirect(
        SERVER_REALM,
        None,
        [&a_on_b],
        E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION,
        HOUR,
    );
    let b_port = port(&b);
    let (c, app) = client(CLIENT, "dra-a.relay.net", port(&a), &[SERVER_REALM], |n| {
        peer(
            n,
            &format!("aaa://dra-b.relay.net:{b_port}"),
            "relay.net",
            false,
        );
    });
    for i in 0..3 {
        let answer = send(&app, ccr(CLIENT, SERVER_REALM, i));
        assert_eq!(
            result_code(&answer),
            Some(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION)
        );
        assert!(answer.header.is_error());
    }
    // each request followed DEFAULT_MAX_REDIRECTS redirects, no more
    let followed = u64::from(diameter::node::DEFAULT_MAX_REDIRECTS);
    assert_eq!(c.protocol_stats().requests_redirected, 3 * followed);
    let total = a.relay_stats().redirected + b.relay_stats().redirected;
    assert_eq!(total, 3 * (followed + 1));
    assert!(learned(&c).len() <= 1);
    stop(&[&c, &a, &b]);
}

/// What the hostile agent answers, by CC-Request-Number.
fn hostile_answer(app: &AppBase, req: Message, own_port: u16, dead_port: u16) -> HandlerResult {
    let number = req
        .find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
        .and_then(Avp::as_u32)
        .unwrap_or(0);
    let mut a = app.generate_answer(&req, E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION, None)?;
    let host = |uri: &str| Avp::new(AVP_REDIRECT_HOST, 0, uri).unwrap();
    let mut usage = E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION;
    match number % 6 {
        // no Redirect-Host at all
        0 => {}
        // garbage
        1 => {
            for g in [
                "",
                "not a uri",
                "aaa://",
                "aaa://host.net:99999",
                "aaa://host.net:0",
                "http://host.net",
                "aaa://[::1",
                "aaa://127.0.0.1:3868;transport=sctp",
            ] {
                a.avps.push(host(g));
            }
        }
        // this client itself, by name
        2 => {
            a.avps.push(host(&format!("aaa://{CLIENT}:3868")));
            a.avps.push(host("aaa://C1.CLIENT.NET"));
        }
        // the hostile agent itself
        3 => a
            .avps
            .push(host(&format!("aaa://evil.relay.net:{own_port}"))),
        // thousands of names that would need DNS
        4 => {
            for i in 0..3000 {
                a.avps.push(host(&format!("aaa://h{i}.nowhere.net:3868")));
            }
        }
        // thousands of addresses where nothing listens, cached per session
        _ => {
            usage = E_REDIRECT_HOST_USAGE_ALL_SESSION;
            for i in 0..3000 {
                a.avps
                    .push(host(&format!("aaa://127.0.0.{}:{dead_port}", 1 + i % 250)));
            }
        }
    }
    a.avps
        .push(Avp::new(AVP_REDIRECT_HOST_USAGE, 0, usage).unwrap());
    a.avps
        .push(Avp::new(AVP_REDIRECT_MAX_CACHE_TIME, 0, u32::MAX).unwrap());
    Ok(Some(a))
}

#[test]
fn hostile_redirects_end_with_an_answer_in_time() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut evil = listening("evil.relay.net", "relay.net");
    evil.accept_unknown_peers = true;
    evil.start().unwrap();
    let own_port = port(&evil);
    let app = ThreadingApplication::new(AppBase::auth(4), 16, move |app, req| {
        hostile_answer(app, req, own_port, dead_port)
    });
    evil.add_application(app, Vec::<Arc<Peer>>::new(), &[]);
    let (c, app) = client(CLIENT, "evil.relay.net", own_port, &[SERVER_REALM], |n| {
        n.limits.max_redirect_peers = 3;
        n.limits.redirect_cache_size = 4;
        n.limits.max_redirect_waiting = 2;
    });
    const ROUNDS: u32 = 5;
    for i in 0..6 * ROUNDS {
        let a = send(&app, ccr(CLIENT, SERVER_REALM, i));
        assert_eq!(
            result_code(&a),
            Some(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION),
            "request {i}: {a}"
        );
        assert_eq!(origin(&a), "evil.relay.net");
        assert!(learned(&c).is_empty());
    }
    // only the addresses were followed (once each: nothing listens there)
    assert_eq!(c.protocol_stats().requests_redirected, u64::from(ROUNDS));
    assert_eq!(c.protocol_stats().callback_panics, 0);
    // requests waiting for those connections, several at once, beyond
    // max_redirect_waiting: each gets its answer
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let app = &app;
            s.spawn(move || {
                let a = send(app, ccr(CLIENT, SERVER_REALM, 6 * (100 + t) + 5));
                assert_eq!(
                    result_code(&a),
                    Some(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION)
                );
            });
        }
    });
    stop(&[&c, &evil]);
}

// ---- the `dra` example ----

#[test]
fn dra_redirect_sends_the_client_to_the_server() {
    const N: u64 = 5;
    let ocs = server("ocs.server.test", "server.test");
    let server_port = port(&ocs.node);
    let dra_port = interop::free_port();
    let args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{dra_port}"),
        "--origin-host",
        "dra.relay.test",
        "--realm",
        "relay.test",
        "--allow-any",
        "--peer",
        &format!("aaa://ocs.server.test:{server_port}"),
        "--peer-address",
        "ocs.server.test=127.0.0.1",
        "--redirect",
        "server.test=ocs.server.test",
        "--redirect-usage",
        "REALM_AND_APPLICATION",
        "--redirect-max-cache-time",
        "600",
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
    ok(dra.wait_for_line("dra dra.relay.test listening on", STARTUP));
    ok(dra.wait_for_line("capabilities exchanged with ocs.server.test", STARTUP));
    let mut known = None;
    let (c, app) = client(
        "c1.client.test",
        "dra.relay.test",
        dra_port,
        &["server.test"],
        |n| {
            known = Some(peer(
                n,
                &format!("aaa://ocs.server.test:{server_port}"),
                "server.test",
                false,
            ))
        },
    );
    for i in 0..N as u32 {
        let a = send(&app, ccr("c1.client.test", "server.test", i));
        assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS), "{a}");
        assert_eq!(origin(&a), "ocs.server.test");
    }
    assert!(known.is_some_and(|p| p.is_ready()));
    // the dra's own connection, and the client's
    assert_eq!(ocs.seen(), vec!["c1.client.test".to_owned(); N as usize]);
    let stats = c.protocol_stats();
    assert_eq!(
        (stats.requests_redirected, stats.redirect_cache_hits),
        (1, N - 1)
    );
    let routes = learned(&c);
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].servers[0].node_name, "ocs.server.test");
    c.stop(Duration::from_secs(2), false).unwrap();
    let status = ok(dra.signal_stop(libc::SIGTERM, EXCHANGE));
    assert!(status.success(), "{}", dra.dump());
    let counters = ok(dra.wait_for_line("relayed=", EXCHANGE));
    assert!(
        counters.starts_with("relayed=0 ") && counters.ends_with(" sent_3006=1"),
        "{counters}"
    );
    ocs.node.stop(Duration::from_secs(2), false).unwrap();
}

// ---- a redirect reaches no further than its sender ----

/// A node `host` of `realm` answering every request 3006 naming `to`, with
/// `usage` and a cache time of an hour; its answers claim Origin-Host
/// `claim` (which may be another host's).
fn redirecting(host: &str, realm: &str, claim: &'static str, to: String, usage: i32) -> Node {
    let app = ThreadingApplication::new(AppBase::auth(4), 4, move |app, req| {
        let mut a = app.generate_answer(&req, E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION, None)?;
        for avp in a.avps.iter_mut() {
            if avp.code() == AVP_ORIGIN_HOST {
                *avp = Avp::new(AVP_ORIGIN_HOST, 0, claim).unwrap();
            }
        }
        a.avps
            .push(Avp::new(AVP_REDIRECT_HOST, 0, to.as_str()).unwrap());
        a.avps
            .push(Avp::new(AVP_REDIRECT_HOST_USAGE, 0, usage).unwrap());
        a.avps
            .push(Avp::new(AVP_REDIRECT_MAX_CACHE_TIME, 0, 3600u32).unwrap());
        Ok(Some(a))
    });
    TestNode::builder(host, realm)
        .listen()
        .configure(|n| n.accept_unknown_peers = true)
        .app(app)
        .start()
        .node
}

/// A client with `peers` (each `(uri, realm)`, persistent), all ready,
/// whose CC application routes each realm to the first `routed` of them
/// serving it; `configure` runs before it starts.
fn client_of(
    peers: &[(String, &str)],
    routed: usize,
    configure: impl FnOnce(&mut Node),
) -> (Node, Arc<ThreadingApplication>, Vec<Arc<Peer>>) {
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let mut b = TestNode::builder(CLIENT, "client.net");
    for (i, (uri, realm)) in peers.iter().enumerate() {
        let p = PeerSpec::uri(uri).realm(realm).persistent(true);
        b = b.peer(if i < routed { p } else { p.unserved() });
    }
    let mut n = b.app(app.clone()).build();
    configure(&mut n.node);
    let n = n.start();
    n.wait_ready(TIMEOUT);
    let (n, added) = n.into_parts();
    (n, app, added)
}

/// CCR number `n` for `realm`, naming `host` in Destination-Host if some.
fn ccr_to(realm: &str, host: Option<&str>, n: u32) -> Message {
    let mut m = ccr(CLIENT, realm, n);
    if let Some(h) = host {
        m.append_avp(Avp::new(AVP_DESTINATION_HOST, 0, h).unwrap());
    }
    m
}

#[test]
fn all_host_covers_the_destination_host_of_the_redirected_request_only() {
    let s2 = server("s2.server.net", SERVER_REALM);
    let attacker = server("attacker.evil.net", "evil.net");
    // s1 redirects ALL_HOST to the attacker, claiming to be s2
    let s1 = redirecting(
        "s1.server.net",
        SERVER_REALM,
        "s2.server.net",
        format!("aaa://127.0.0.1:{}", port(&attacker.node)),
        E_REDIRECT_HOST_USAGE_ALL_HOST,
    );
    // the realm's route is s1; s2 is a peer, reached when named
    let (c, app, _) = client_of(
        &[
            (format!("aaa://s1.server.net:{}", port(&s1)), SERVER_REALM),
            (
                format!("aaa://s2.server.net:{}", port(&s2.node)),
                SERVER_REALM,
            ),
        ],
        1,
        |_| {},
    );
    // what was sent to s1, with no Destination-Host or naming s1, s1 may
    // send anywhere
    for (n, host) in [(1, None), (2, Some("s1.server.net"))] {
        let a = send(&app, ccr_to(SERVER_REALM, host, n));
        assert_eq!(origin(&a), "attacker.evil.net", "{a}");
    }
    assert_eq!(c.protocol_stats().requests_redirected, 2);
    // requests for s2 go to s2
    for n in 3..6 {
        let a = send(&app, ccr_to(SERVER_REALM, Some("s2.server.net"), n));
        assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS), "{a}");
        assert_eq!(origin(&a), "s2.server.net");
    }
    assert_eq!(s2.seen().len(), 3);
    // and what s1 redirected stays redirected, straight from the cache
    for (n, host) in [(6, None), (7, Some("s1.server.net"))] {
        let a = send(&app, ccr_to(SERVER_REALM, host, n));
        assert_eq!(origin(&a), "attacker.evil.net", "{a}");
    }
    let stats = c.protocol_stats();
    assert_eq!(
        (stats.requests_redirected, stats.redirect_cache_hits),
        (2, 2)
    );
    stop(&[&c, &s1, &s2.node, &attacker.node]);
}

#[test]
fn a_redirect_from_one_realms_peer_leaves_other_realms_alone_unless_wide_scope() {
    for usage in [
        E_REDIRECT_HOST_USAGE_ALL_APPLICATION,
        E_REDIRECT_HOST_USAGE_ALL_USER,
        E_REDIRECT_HOST_USAGE_ALL_SESSION,
    ] {
        for wide in [false, true] {
            let good = server("ocs.good.net", "good.net");
            let attacker = server("attacker.evil.net", "evil.net");
            let evil = redirecting(
                "dra.evil.net",
                "evil.net",
                "dra.evil.net",
                format!("aaa://127.0.0.1:{}", port(&attacker.node)),
                usage,
            );
            let (c, app, _) = client_of(
                &[
                    (format!("aaa://dra.evil.net:{}", port(&evil)), "evil.net"),
                    (
                        format!("aaa://ocs.good.net:{}", port(&good.node)),
                        "good.net",
                    ),
                ],
                2,
                |n| n.limits.redirect_wide_scope = wide,
            );
            // one session, one user, one application for both realms
            let request = |realm: &str, host: Option<&str>, n: u32| {
                let mut m = ccr_to(realm, host, n);
                m.avps[0] = Avp::new(AVP_SESSION_ID, 0, format!("{CLIENT};shared")).unwrap();
                m.append_avp(Avp::new(AVP_USER_NAME, 0, "alice").unwrap());
                send(&app, m)
            };
            // evil.net's own traffic goes where its peer says
            let a = request("evil.net", None, 1);
            assert_eq!(origin(&a), "attacker.evil.net", "usage {usage}: {a}");
            // good.net's, named host or not
            for (n, host) in [(2, Some("ocs.good.net")), (3, None)] {
                let a = request("good.net", host, n);
                let expected = if wide {
                    "attacker.evil.net"
                } else {
                    "ocs.good.net"
                };
                assert_eq!(origin(&a), expected, "usage {usage}, wide {wide}: {a}");
            }
            let stats = c.protocol_stats();
            assert_eq!(stats.requests_redirected, 1, "usage {usage}, wide {wide}");
            assert_eq!(
                stats.redirect_cache_hits,
                if wide { 2 } else { 0 },
                "usage {usage}, wide {wide}"
            );
            assert_eq!(good.seen().len(), if wide { 0 } else { 2 });
            stop(&[&c, &evil, &good.node, &attacker.node]);
        }
    }
}

#[test]
fn redirect_max_cache_time_is_capped() {
    let ocs = server("ocs.server.net", SERVER_REALM);
    let dra = agent("dra.relay.net");
    let by_address = peer(
        &dra,
        &format!("aaa://127.0.0.1:{}", port(&ocs.node)),
        SERVER_REALM,
        false,
    );
    // the longest Redirect-Max-Cache-Time there is: 2^32 - 1 s
    dra.add_redirect(
        SERVER_REALM,
        None,
        [&by_address],
        E_REDIRECT_HOST_USAGE_ALL_REALM,
        Duration::from_secs(u32::MAX.into()),
    );
    dra.start().unwrap();
    // the default cap: an hour
    let (c, app) = client(CLIENT, "dra.relay.net", port(&dra), &[SERVER_REALM], |_| {});
    let a = send(&app, ccr(CLIENT, SERVER_REALM, 1));
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    let routes = learned(&c);
    assert_eq!(routes.len(), 1);
    let expires = routes[0].expires.unwrap();
    assert!(expires <= Instant::now() + HOUR, "{routes:?}");
    assert!(expires > Instant::now() + HOUR - Duration::from_secs(60));
    // a cap of one second: the next request after it is redirected again
    let (c1, app1) = client(
        "c2.client.net",
        "dra.relay.net",
        port(&dra),
        &[SERVER_REALM],
        |n| n.limits.max_redirect_cache_time = Duration::from_secs(1),
    );
    let a = send(&app1, ccr("c2.client.net", SERVER_REALM, 1));
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert!(learned(&c1).iter().all(|r| r
        .expires
        .is_some_and(|e| e <= Instant::now() + Duration::from_secs(1))));
    wait_until("the learned route expired", TIMEOUT, || {
        learned(&c1).is_empty()
    });
    let a = send(&app1, ccr("c2.client.net", SERVER_REALM, 2));
    assert_eq!(result_code(&a), Some(E_RESULT_CODE_DIAMETER_SUCCESS));
    assert_eq!(c1.protocol_stats().requests_redirected, 2);
    assert_eq!(dra.relay_stats().redirected, 3);
    stop(&[&c, &c1, &dra, &ocs.node]);
}
