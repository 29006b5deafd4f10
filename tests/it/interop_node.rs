//! Our node against independent peers on 127.0.0.1: python-diameter 0.9.0
//! and freeDiameter 1.2, each as server and as client. CER/CEA, DWR/DWA and
//! DPR/DPA must complete, seen from both sides: our peer counters and the
//! other side's own log lines.
//!
//! Without the peers installed these tests print "skipping: ..." and pass,
//! unless CI is set, where they fail (`.ci/run` installs both).

use std::time::Duration;

use crate::support::cc::count;
use crate::support::interop::{self, ok, wait_until, PeerProcess, EXCHANGE, STARTUP};
use crate::support::{PeerSpec, TestNode};
use diameter::node::peer::*;
use diameter::node::Node;

/// Our node `host` (application 4) on 127.0.0.1, listening or not; not
/// started.
fn rust_node(host: &str, listen: bool) -> Node {
    TestNode::builder(host, "example.test")
        .loopback()
        .options(|o| o.tcp_port = listen.then_some(0))
        .app_id(AppId::auth(4))
        .build()
        .node
}

#[test]
fn python_diameter_server_rust_client() {
    if !interop::require_python() {
        return;
    }
    let port = interop::free_port().to_string();
    let py = ok(PeerProcess::python_peer(
        "py-server",
        &[
            "--origin-host",
            "py1.example.test",
            "--realm",
            "example.test",
            "--listen-port",
            &port,
            "--peer-uri",
            "aaa://rust1.example.test",
            "--idle-timeout",
            "30",
            "--duration",
            "60",
        ],
    ));
    ok(py.wait_for_line("EVENT started", STARTUP));
    let mut node = rust_node("rust1.example.test", false);
    node.idle_timeout = Duration::from_millis(1500);
    let peer = PeerSpec::uri(&format!("aaa://py1.example.test:{port};transport=tcp"))
        .persistent(true)
        .add_to(&node);
    node.start().unwrap();

    wait_until("CER/CEA", STARTUP, || peer.is_ready(), || py.dump());
    ok(py.wait_for_all(
        &[
            "EVENT recv CER from=rust1.example.test origin=rust1.example.test",
            "EVENT sent CEA to=rust1.example.test result=2001",
            "EVENT ready peer=rust1.example.test",
        ],
        EXCHANGE,
    ));
    assert_eq!(count(&peer.counters.cea), 1);
    wait_until(
        "DWA",
        EXCHANGE,
        || count(&peer.counters.dwa) >= 1,
        || py.dump(),
    );
    ok(py.wait_for_all(
        &[
            "EVENT recv DWR from=rust1.example.test",
            "EVENT sent DWA to=rust1.example.test result=2001",
        ],
        EXCHANGE,
    ));
    node.stop(Duration::from_secs(10), false).unwrap();
    assert_eq!(count(&peer.counters.dpa), 1, "{}", py.dump());
    ok(py.wait_for_all(
        &[
            "EVENT recv DPR from=rust1.example.test cause=0",
            "EVENT sent DPA to=rust1.example.test result=2001",
        ],
        EXCHANGE,
    ));
}

#[test]
fn python_diameter_client_rust_server() {
    if !interop::require_python() {
        return;
    }
    let node = rust_node("rust2.example.test", true);
    let peer = PeerSpec::uri("aaa://py2.example.test")
        .persistent(false)
        .add_to(&node);
    node.start().unwrap();
    let port = node.listen_addresses()[0].port();
    let mut py = ok(PeerProcess::python_peer(
        "py-client",
        &[
            "--origin-host",
            "py2.example.test",
            "--realm",
            "example.test",
            "--peer-uri",
            &format!("aaa://rust2.example.test:{port};transport=tcp"),
            "--persistent",
            "--idle-timeout",
            "1",
            "--duration",
            "60",
        ],
    ));
    ok(py.wait_for_all(
        &[
            "EVENT sent CER to=rust2.example.test",
            "EVENT recv CEA from=rust2.example.test origin=rust2.example.test result=2001",
            "EVENT ready peer=rust2.example.test",
        ],
        STARTUP,
    ));
    wait_until("ready", EXCHANGE, || peer.is_ready(), || py.dump());
    ok(py.wait_for_all(
        &[
            "EVENT sent DWR to=rust2.example.test",
            "EVENT recv DWA from=rust2.example.test result=2001",
        ],
        EXCHANGE,
    ));
    assert!(count(&peer.counters.dwr) >= 1);
    let status = ok(py.stop(Duration::from_secs(20)));
    assert!(status.success(), "{}", py.dump());
    ok(py.wait_for_all(
        &[
            "EVENT sent DPR to=rust2.example.test cause=0",
            "EVENT recv DPA from=rust2.example.test result=2001",
        ],
        EXCHANGE,
    ));
    wait_until(
        "DPR seen",
        EXCHANGE,
        || count(&peer.counters.dpr) == 1,
        || py.dump(),
    );
    wait_until(
        "disconnect",
        EXCHANGE,
        || peer.status.lock().connection.is_none(),
        || py.dump(),
    );
    assert_eq!(
        peer.status.lock().disconnect_reason,
        Some(DISCONNECT_REASON_DPR)
    );
    node.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn freediameter_server_rust_client() {
    if !interop::require_freediameter() {
        return;
    }
    let port = interop::free_port().to_string();
    let fd = ok(PeerProcess::freediameter(
        "fd-server",
        &[
            "--role",
            "server",
            "--identity",
            "fd3.example.test",
            "--port",
            &port,
            "--allow",
            "*.example.test",
            "--duration",
            "60",
        ],
    ));
    ok(fd.wait_for_line("EVENT started", STARTUP));
    let mut node = rust_node("rust3.example.test", false);
    node.idle_timeout = Duration::from_millis(1500);
    let peer = PeerSpec::uri(&format!("aaa://fd3.example.test:{port};transport=tcp"))
        .persistent(true)
        .add_to(&node);
    node.start().unwrap();
    wait_until("CER/CEA", STARTUP, || peer.is_ready(), || fd.dump());
    ok(fd.wait_for_all(
        &[
            "EVENT recv CER from=rust3.example.test origin=rust3.example.test",
            "EVENT ready peer=rust3.example.test",
        ],
        EXCHANGE,
    ));
    wait_until(
        "DWA",
        EXCHANGE,
        || count(&peer.counters.dwa) >= 1,
        || fd.dump(),
    );
    ok(fd.wait_for_all(
        &[
            "EVENT recv DWR from=rust3.example.test",
            "EVENT sent DWA to=rust3.example.test result=2001",
        ],
        EXCHANGE,
    ));
    node.stop(Duration::from_secs(10), false).unwrap();
    assert_eq!(count(&peer.counters.dpa), 1, "{}", fd.dump());
    ok(fd.wait_for_all(
        &[
            "EVENT recv DPR from=rust3.example.test cause=0",
            "EVENT sent DPA to=rust3.example.test result=2001",
        ],
        EXCHANGE,
    ));
}

#[test]
fn freediameter_client_rust_server() {
    if !interop::require_freediameter() {
        return;
    }
    let node = rust_node("rust4.example.test", true);
    let peer = PeerSpec::uri("aaa://fd4.example.test")
        .persistent(false)
        .add_to(&node);
    node.start().unwrap();
    let port = node.listen_addresses()[0].port().to_string();
    let mut fd = ok(PeerProcess::freediameter(
        "fd-client",
        &[
            "--role",
            "client",
            "--identity",
            "fd4.example.test",
            "--peer",
            "rust4.example.test",
            "--peer-port",
            &port,
            "--peer-tw",
            "2",
            "--duration",
            "60",
        ],
    ));
    ok(fd.wait_for_all(
        &[
            "EVENT sent CER to=rust4.example.test",
            "EVENT recv CEA from=rust4.example.test origin=rust4.example.test result=2001",
            "EVENT ready peer=rust4.example.test",
        ],
        STARTUP,
    ));
    wait_until("ready", EXCHANGE, || peer.is_ready(), || fd.dump());
    ok(fd.wait_for_all(
        &[
            "EVENT sent DWR to=rust4.example.test",
            "EVENT recv DWA from=rust4.example.test result=2001",
        ],
        EXCHANGE,
    ));
    assert!(count(&peer.counters.dwr) >= 1);
    let status = ok(fd.stop(Duration::from_secs(25)));
    assert!(status.success(), "{}", fd.dump());
    ok(fd.wait_for_all(
        &[
            "EVENT sent DPR to=rust4.example.test cause=0",
            "EVENT recv DPA from=rust4.example.test result=2001",
        ],
        EXCHANGE,
    ));
    wait_until(
        "DPR seen",
        EXCHANGE,
        || count(&peer.counters.dpr) == 1,
        || fd.dump(),
    );
    node.stop(Duration::from_secs(5), false).unwrap();
}
