//! Two Rust nodes over loopback: capabilities exchange, watchdog, disconnect,
//! reconnection after a restart, and election on a simultaneous open.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::cc::count;
use crate::support::{holds_for, wait_until, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::node::peer::*;
use diameter::node::{Node, NodeOptions, PeerOptions};

const LOOPBACK: &str = "127.0.0.1";

fn free_port() -> u16 {
    TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A node of example.net on 127.0.0.1 (listening on `port` when given)
/// with the Credit-Control application id; not started.
fn node(host: &str, port: Option<u16>) -> Node {
    TestNode::builder(host, "example.net")
        .loopback()
        .options(|o| o.tcp_port = port)
        .app_id(AppId::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION))
        .build()
        .node
}

/// Adds the peer `host` at 127.0.0.1:`port`, reconnected 200 ms after it
/// goes when persistent.
fn peer(n: &mut Node, host: &str, port: u16, persistent: bool) -> Arc<Peer> {
    PeerSpec::uri(&format!("aaa://{host}:{port};transport=tcp"))
        .persistent(persistent)
        .reconnect_wait(Duration::from_millis(200))
        .add_to(n)
}

#[test]
fn connect_watchdog_and_disconnect() {
    let mut server = node("server.example.net", Some(0));
    let client_on_server = peer(&mut server, "client.example.net", 1, false);
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();

    let mut client = node("client.example.net", None);
    client.idle_timeout = Duration::from_millis(300);
    let server_on_client = peer(&mut client, "server.example.net", port, true);
    client.start().unwrap();

    wait_until("CER/CEA", Duration::from_secs(5), || {
        server_on_client.is_ready() && client_on_server.is_ready()
    });
    let info = server_on_client.status.lock().connection.clone().unwrap();
    assert_eq!(info.host_identity, "server.example.net");
    assert_eq!(info.direction, PEER_SEND);
    assert!(info.is_sender() && !info.is_receiver() && info.is_ready());
    let seen = client_on_server.connection().unwrap();
    assert!(seen.is_receiver() && !seen.is_sender());
    assert_eq!(state_name(seen.state), "READY");
    assert!(client_on_server.last_connect().is_some());
    assert_eq!(client_on_server.disconnect_reason(), None);
    assert_eq!(info.auth_application_ids, [4]);
    assert_eq!(count(&server_on_client.counters.cea), 1);
    assert_eq!(count(&client_on_server.counters.cer), 1);

    // the client's watchdog fires after ~300 ms of silence
    wait_until("DWR/DWA", Duration::from_secs(5), || {
        count(&server_on_client.counters.dwa) >= 2
    });
    assert!(count(&client_on_server.counters.dwr) >= 2);
    assert!(server_on_client.is_ready());

    let t = Instant::now();
    client.stop(Duration::from_secs(5), false).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "DPA should end the wait early"
    );
    assert_eq!(count(&server_on_client.counters.dpa), 1);
    wait_until("server sees the DPR", Duration::from_secs(5), || {
        count(&client_on_server.counters.dpr) == 1
    });
    wait_until(
        "server drops the connection",
        Duration::from_secs(5),
        || client_on_server.status.lock().connection.is_none(),
    );
    assert_eq!(
        client_on_server.status.lock().disconnect_reason,
        Some(DISCONNECT_REASON_DPR)
    );
    assert_eq!(
        client_on_server.disconnect_reason(),
        Some(DISCONNECT_REASON_DPR)
    );
    assert!(client_on_server.last_disconnect().is_some());
    assert!(client_on_server.connection().is_none());
    assert_eq!(
        server_on_client.status.lock().disconnect_reason,
        Some(DISCONNECT_REASON_CLEAN_DISCONNECT)
    );
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn persistent_peer_reconnects_after_the_other_side_restarts() {
    let port = free_port();
    let mut server = node("server.example.net", Some(port));
    peer(&mut server, "client.example.net", 1, false);
    server.start().unwrap();

    let mut client = node("client.example.net", None);
    let on_client = peer(&mut client, "server.example.net", port, true);
    client.start().unwrap();
    wait_until("first connection", Duration::from_secs(5), || {
        on_client.is_ready()
    });

    // the server stops: DPR with REBOOTING, so the client comes back
    server.stop(Duration::from_secs(5), false).unwrap();
    assert_eq!(
        on_client.status.lock().dpr_cause,
        Some(E_DISCONNECT_CAUSE_REBOOTING)
    );
    wait_until("disconnect seen", Duration::from_secs(5), || {
        !on_client.is_ready()
    });

    let mut server = node("server.example.net", Some(port));
    let client_on_server = peer(&mut server, "client.example.net", 1, false);
    server.start().unwrap();
    wait_until("reconnection", Duration::from_secs(10), || {
        on_client.is_ready() && client_on_server.is_ready()
    });
    assert_eq!(count(&on_client.counters.cea), 2);
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn simultaneous_open_ends_with_one_connection() {
    let (pa, pb) = (free_port(), free_port());
    let mut a = node("a.example.net", Some(pa));
    let mut b = node("b.example.net", Some(pb));
    let b_on_a = peer(&mut a, "b.example.net", pb, true);
    let a_on_b = peer(&mut b, "a.example.net", pa, true);
    a.start().unwrap();
    b.start().unwrap();
    wait_until("both ready", Duration::from_secs(10), || {
        b_on_a.is_ready() && a_on_b.is_ready()
    });
    // the TCP connections between a and b, as `ss` lists them (each twice:
    // both ends are local); nothing when `ss` is not installed
    let established = || {
        let all = std::process::Command::new("ss")
            .args(["-tn", "state", "established"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let between = all
            .lines()
            .filter(|l| {
                l.contains(&format!("{LOOPBACK}:{pa} ")) || l.contains(&format!("{LOOPBACK}:{pb} "))
            })
            .count();
        (all, between)
    };
    // a second connection, when both dialled at once, is closed
    wait_until(
        "one connection between a and b",
        Duration::from_secs(5),
        || {
            let (all, between) = established();
            all.is_empty() || between == 2
        },
    );
    let on_a = b_on_a.status.lock().connection.clone().unwrap();
    let on_b = a_on_b.status.lock().connection.clone().unwrap();
    // one connection: one side opened it, the other accepted it
    assert_ne!(on_a.direction, on_b.direction, "{on_a:?} {on_b:?}");
    a.stop(Duration::from_secs(5), false).unwrap();
    b.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn unknown_peers_are_refused() {
    let server = node("server.example.net", Some(0));
    server.start().unwrap();
    let addr: SocketAddr = server.listen_addresses()[0];
    let mut client = node("stranger.example.net", None);
    let on_client = peer(&mut client, "server.example.net", addr.port(), true);
    client.start().unwrap();
    wait_until("refusal", Duration::from_secs(5), || {
        on_client.status.lock().disconnect_reason == Some(DISCONNECT_REASON_CER_REJECTED)
    });
    assert!(!on_client.is_ready());
    client.stop(Duration::from_secs(2), true).unwrap();
    server.stop(Duration::from_secs(2), true).unwrap();
}

#[test]
fn ipv6_loopback_works() {
    let v6: IpAddr = "::1".parse().unwrap();
    if std::net::TcpListener::bind((v6, 0)).is_err() {
        eprintln!("skipping: no IPv6 loopback on this machine");
        return;
    }
    let server = Node::new(
        "server.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec![v6.into()],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    server.add_application_id(AppId::auth(4));
    let on_server = server
        .add_peer("aaa://client.example.net", None, PeerOptions::default())
        .unwrap();
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();
    let client = Node::new("client.example.net", "example.net", NodeOptions::default());
    client.add_application_id(AppId::auth(4));
    let on_client = client
        .add_peer(
            &format!("aaa://server.example.net:{port}"),
            None,
            PeerOptions {
                ip_addresses: vec![v6.into()],
                is_persistent: true,
                ..Default::default()
            },
        )
        .unwrap();
    client.start().unwrap();
    wait_until("CER/CEA over IPv6", Duration::from_secs(5), || {
        on_client.is_ready()
    });
    let info = on_client.status.lock().connection.clone().unwrap();
    assert!(info.remote_address.unwrap().is_ipv6());
    // the client has no configured address: its CER carried the IPv6
    // address of its socket, and the server's CEA its own
    assert_eq!(info.host_ip_address, [v6]);
    wait_until("the server side opens", Duration::from_secs(5), || {
        on_server.is_ready()
    });
    let seen = on_server.status.lock().connection.clone().unwrap();
    assert_eq!(seen.host_ip_address, [v6]);
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn listening_errors_come_back_from_start() {
    let taken = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let n = node("server.example.net", Some(port));
    let err = n.start().unwrap_err();
    assert!(
        matches!(err, diameter::node::NodeError::Listen { .. }),
        "{err}"
    );
    // and stop on a node that never ran is an error too
    assert!(matches!(
        n.stop(Duration::from_secs(1), false),
        Err(diameter::node::NodeError::NotStarted)
    ));
}

#[test]
fn a_persistent_peer_keeps_trying_until_the_server_comes() {
    let port = free_port();
    let mut client = node("client.example.net", None);
    let on_client = peer(&mut client, "server.example.net", port, true);
    client.start().unwrap();
    wait_until("first refusal", Duration::from_secs(5), || {
        on_client.status.lock().disconnect_reason == Some(DISCONNECT_REASON_FAILED_CONNECT)
    });
    let mut server = node("server.example.net", Some(port));
    peer(&mut server, "client.example.net", 1, false);
    server.start().unwrap();
    wait_until(
        "connection after reconnect_wait",
        Duration::from_secs(5),
        || on_client.is_ready(),
    );
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn a_node_starts_once() {
    let n = node("x.example.net", None);
    n.start().unwrap();
    assert!(matches!(
        n.start(),
        Err(diameter::node::NodeError::AlreadyStarted)
    ));
    n.stop(Duration::from_secs(1), false).unwrap();
    assert!(matches!(
        n.start(),
        Err(diameter::node::NodeError::AlreadyStarted)
    ));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Node>();
    check::<Peer>();
    check::<Arc<Peer>>();
    check::<diameter::node::SequenceGenerator>();
    check::<diameter::node::SessionGenerator>();
    check::<diameter::message::Message>();
    check::<diameter::message::Avp>();
    check::<diameter::node::peer::Connection>();
    check::<diameter::node::IpAddress>();
}

#[test]
fn a_peer_that_connected_first_is_not_connected_twice() {
    let (pa, pb) = (free_port(), free_port());
    let mut a = node("a.example.net", Some(pa));
    let mut b = node("b.example.net", Some(pb));
    let b_on_a = peer(&mut a, "b.example.net", pb, true);
    let a_on_b = peer(&mut b, "a.example.net", pa, true);
    // b listens first; a connects to it; b's own connect to a comes later
    // and finds the connection a opened
    b.start().unwrap();
    a.start().unwrap();
    wait_until("both ready", Duration::from_secs(10), || {
        b_on_a.is_ready() && a_on_b.is_ready()
    });
    // b's next connect, 200 ms after its first failed, finds a's
    // connection: both stay ready all through three of those waits
    holds_for("both ready", Duration::from_millis(700), || {
        b_on_a.is_ready() && a_on_b.is_ready()
    });
    // one connection: one side opened it, the other accepted it (a CEA with
    // 4003 may have refused a second one when both dialled at once)
    let on_a = b_on_a.status.lock().connection.clone().unwrap();
    let on_b = a_on_b.status.lock().connection.clone().unwrap();
    assert_ne!(on_a.direction, on_b.direction, "{on_a:?} {on_b:?}");
    a.stop(Duration::from_secs(5), false).unwrap();
    b.stop(Duration::from_secs(5), false).unwrap();
}

/// An application that hands its requests and late answers to the test.
struct Relay {
    base: diameter::node::application::AppBase,
    requests: std::sync::Mutex<std::sync::mpsc::Sender<diameter::message::Message>>,
    answers: std::sync::Mutex<std::sync::mpsc::Sender<diameter::message::Message>>,
}

type Inbox = std::sync::mpsc::Receiver<diameter::message::Message>;

fn relay() -> (Arc<Relay>, Inbox, Inbox) {
    let (rq_tx, rq_rx) = std::sync::mpsc::channel();
    let (an_tx, an_rx) = std::sync::mpsc::channel();
    let app = Arc::new(Relay {
        base: diameter::node::application::AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        requests: std::sync::Mutex::new(rq_tx),
        answers: std::sync::Mutex::new(an_tx),
    });
    (app, rq_rx, an_rx)
}

impl diameter::node::application::Application for Relay {
    fn base(&self) -> &diameter::node::application::AppBase {
        &self.base
    }
    fn handle_request(&self, request: diameter::message::Message) {
        let _ = self.requests.lock().unwrap().send(request);
    }
    fn handle_answer(&self, answer: diameter::message::Message) {
        let _ = self.answers.lock().unwrap().send(answer);
    }
}

/// python's `send_message`, `route_request` and `route_answer`: a request
/// and an answer sent as messages, and the peers routing picks for them.
#[test]
fn send_message_and_route_request_and_route_answer() {
    use diameter::message::{Avp, Message};
    use diameter::node::application::Application;
    use diameter::node::{NoRouteReason, NodeError};

    const WAIT: Duration = Duration::from_secs(5);
    let mut server = node("msgsrv.example.net", Some(0));
    let client_on_server = peer(&mut server, "msgcli.example.net", 1, false);
    let (served, requests, _) = relay();
    server.add_application(served.clone(), [&client_on_server], &[]);
    let (app, _, late_answers) = relay();
    let request = |n: u32| crate::support::cc::ccr("msgcli.example.net", "example.net", n);
    // before start: nothing to send on
    assert!(matches!(
        server.send_message(&client_on_server, &request(0)),
        Err(NodeError::NotStarted)
    ));
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();
    let mut client = node("msgcli.example.net", None);
    let server_on_client = peer(&mut client, "msgsrv.example.net", port, true);
    client.add_application(app.clone(), [&server_on_client], &[]);
    assert_eq!(client.applications().len(), 1);
    let unconnected = client
        .add_peer("aaa://nowhere.example.net", None, PeerOptions::default())
        .unwrap();
    client.start().unwrap();
    app.base().wait_for_ready(WAIT).unwrap();

    // route_request: the peer send_request would use
    let routed = client.route_request(app.base(), &request(1)).unwrap();
    assert!(Arc::ptr_eq(&routed, &server_on_client));
    let mut elsewhere = request(1);
    elsewhere.avps[3] = Avp::new(AVP_DESTINATION_REALM, 0, "other.example.org").unwrap();
    assert!(matches!(
        client.route_request(app.base(), &elsewhere),
        Err(NodeError::NotRoutable(_))
    ));

    // a request sent with send_request, answered with send_message
    let waiting = {
        let app = app.clone();
        std::thread::spawn(move || app.base().send_request(request(2), WAIT))
    };
    let got = requests.recv_timeout(WAIT).unwrap();
    let answer = served.base().generate_answer(&got, 2001, None).unwrap();
    let back_to = server.route_answer(&answer).unwrap();
    assert!(Arc::ptr_eq(&back_to, &client_on_server));
    // not to another peer than the one it owes
    assert!(matches!(
        server.send_message(&unconnected, &answer),
        Err(NodeError::NotConnected { .. })
    ));
    server.send_message(&client_on_server, &answer).unwrap();
    let cca = waiting.join().unwrap().unwrap();
    assert_eq!(
        cca.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32),
        Some(2001)
    );
    // an answer built without its request has no route back
    let orphan = Message::new(answer.header, vec![]);
    match server.route_answer(&orphan) {
        Err(NodeError::NotRoutable(r)) => {
            assert_eq!(r.reason, NoRouteReason::RequestConnectionGone)
        }
        other => panic!("expected NotRoutable, got {other:?}"),
    }

    // a request sent with send_message: its answer goes to handle_answer
    client.send_message(&server_on_client, &request(3)).unwrap();
    let got = requests.recv_timeout(WAIT).unwrap();
    assert_eq!(
        got.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
            .and_then(Avp::as_u32),
        Some(3)
    );
    assert_ne!(got.header.end_to_end_identifier, 0);
    served
        .base()
        .send_answer(&served.base().generate_answer(&got, 2001, None).unwrap())
        .unwrap();
    let late = late_answers.recv_timeout(WAIT).unwrap();
    assert_eq!(
        late.header.end_to_end_identifier,
        got.header.end_to_end_identifier
    );

    // a peer that is not connected takes nothing
    assert!(matches!(
        client.send_message(&unconnected, &request(4)),
        Err(NodeError::NotConnected { .. })
    ));
    client.stop(WAIT, false).unwrap();
    server.stop(WAIT, false).unwrap();
    assert!(matches!(
        client.send_message(&server_on_client, &request(5)),
        Err(NodeError::Stopped)
    ));
}

/// python's `select_least_used_peer`: the peer with the fewest requests
/// waiting, the first on ties.
#[test]
fn select_least_used_peer_picks_the_fewest_outstanding() {
    use diameter::node::select_least_used_peer;
    use std::sync::atomic::Ordering;

    let n = Node::new("sel.example.net", "example.net", NodeOptions::default());
    let peers: Vec<Arc<Peer>> = ["a", "b", "c"]
        .iter()
        .map(|h| {
            n.add_peer(
                &format!("aaa://{h}.example.net"),
                None,
                PeerOptions::default(),
            )
            .unwrap()
        })
        .collect();
    assert!(select_least_used_peer(&[]).is_none());
    let first = select_least_used_peer(&peers).unwrap();
    assert!(Arc::ptr_eq(&first, &peers[0]));
    peers[0].outstanding.store(3, Ordering::Relaxed);
    peers[1].outstanding.store(1, Ordering::Relaxed);
    peers[2].outstanding.store(2, Ordering::Relaxed);
    let least = select_least_used_peer(&peers).unwrap();
    assert!(Arc::ptr_eq(&least, &peers[1]));
}
