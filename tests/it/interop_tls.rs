//! Our node against freeDiameter 1.2 (Debian's freediameterd, TLS through
//! GnuTLS) over TLS on 127.0.0.1, each side as server and as client, with TLS
//! from the first byte (freeDiameter's SecPort) and in-band after CER/CEA
//! (freeDiameter's `TLS_old_method` / acl_wl `ALLOW_OLD_TLS`). CER/CEA,
//! DWR/DWA and DPR/DPA must complete through TLS, seen from both sides: our
//! peer counters and freeDiameter's own log lines, including its
//! "TLS established" line.
//!
//! Needs `--features tls`. Without freeDiameter installed these tests print
//! "skipping: ..." and pass, unless CI is set (`.ci/run` installs it).

use std::time::Duration;

use crate::support::cc::count;
use crate::support::interop::{self, ok, wait_until, PeerProcess, EXCHANGE, STARTUP};
use crate::support::{tls_options, PeerSpec, TestNode};
use diameter::node::peer::*;
use diameter::node::{InbandTls, ListenTransport, Node};

const FD: &str = "fd.example.test";

/// freeDiameter's certificate flags: fd.example.test's, trusting ca.pem.
fn fd_tls_args() -> Vec<String> {
    vec![
        "--tls-cert".into(),
        crate::support::test_cert("fd.example.test.pem")
            .to_string_lossy()
            .into_owned(),
        "--tls-key".into(),
        crate::support::test_cert("fd.example.test.key")
            .to_string_lossy()
            .into_owned(),
        "--tls-ca".into(),
        crate::support::test_cert("ca.pem")
            .to_string_lossy()
            .into_owned(),
    ]
}

/// A Rust node `host` (node1 or node2.example.test, which have
/// certificates) with TLS configured; not started.
fn rust_node(host: &str, tcp: bool, tls_port: bool, inband: InbandTls) -> Node {
    TestNode::builder(host, "example.test")
        .loopback()
        .options(|o| {
            o.tcp_port = tcp.then_some(0);
            o.tls_port = tls_port.then_some(0);
            o.inband_tls = inband;
            o.tls = Some(tls_options(host, "ca.pem"));
        })
        .app_id(AppId::auth(4))
        .build()
        .node
}

/// freeDiameter serves, our node connects: `mode` is "connect" (TLS on
/// freeDiameter's SecPort, an `aaas://` URI here) or "inband" (cleartext
/// port, Inband-Security-Id TLS).
fn freediameter_server(mode: &str) {
    if !interop::require_freediameter() {
        return;
    }
    let host = "node1.example.test";
    let port = interop::free_port().to_string();
    let mut args: Vec<String> = vec!["--role".into(), "server".into()];
    args.extend(["--identity".into(), FD.into()]);
    if mode == "connect" {
        args.extend([
            "--port".into(),
            "0".into(),
            "--sec-port".into(),
            port.clone(),
        ]);
    } else {
        args.extend(["--port".into(), port.clone()]);
    }
    args.extend(["--peer-tls".into(), mode.into()]);
    args.extend(["--allow".into(), "*.example.test".into()]);
    args.extend(["--duration".into(), "60".into()]);
    args.extend(fd_tls_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let fd = ok(PeerProcess::freediameter(
        &format!("fd-tls-server-{mode}"),
        &args,
    ));
    ok(fd.wait_for_line("EVENT started", STARTUP));

    let (inband, uri) = if mode == "connect" {
        (InbandTls::Off, format!("aaas://{FD}:{port};transport=tcp"))
    } else {
        (
            InbandTls::Required,
            format!("aaa://{FD}:{port};transport=tcp"),
        )
    };
    let mut node = rust_node(host, false, false, inband);
    node.idle_timeout = Duration::from_millis(1500);
    let peer = PeerSpec::uri(&uri).persistent(true).add_to(&node);
    node.start().unwrap();
    wait_until("CER/CEA", STARTUP, || peer.is_ready(), || fd.dump());
    ok(fd.wait_for_all(
        &[
            &format!("EVENT tls-established peer={host} mode={mode}"),
            &format!("EVENT recv CER from={host} origin={host}"),
            &format!("EVENT ready peer={host}"),
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
            &format!("EVENT recv DWR from={host}"),
            &format!("EVENT sent DWA to={host} result=2001"),
        ],
        EXCHANGE,
    ));
    node.stop(Duration::from_secs(10), false).unwrap();
    assert_eq!(count(&peer.counters.dpa), 1, "{}", fd.dump());
    ok(fd.wait_for_all(
        &[
            &format!("EVENT recv DPR from={host} cause=0"),
            &format!("EVENT sent DPA to={host} result=2001"),
        ],
        EXCHANGE,
    ));
    assert_eq!(node.transport_stats(), Default::default());
    assert_eq!(fd.count("EVENT tls-failed"), 0, "{}", fd.dump());
    assert_eq!(fd.count("EVENT tls-cert-error"), 0, "{}", fd.dump());
}

/// Our node serves, freeDiameter connects: "connect" to our `tls_port`, or
/// "inband" to our cleartext port with `InbandTls::Optional`.
fn freediameter_client(mode: &str) {
    if !interop::require_freediameter() {
        return;
    }
    let host = "node2.example.test";
    let node = if mode == "connect" {
        rust_node(host, false, true, InbandTls::Off)
    } else {
        rust_node(host, true, false, InbandTls::Optional)
    };
    let peer = PeerSpec::uri(&format!("aaa://{FD}"))
        .persistent(false)
        .add_to(&node);
    node.start().unwrap();
    let listen = if mode == "connect" {
        ListenTransport::Tls
    } else {
        ListenTransport::Tcp
    };
    let port = node.listen_addresses_for(listen)[0].port().to_string();
    let mut args: Vec<String> = vec!["--role".into(), "client".into()];
    args.extend(["--identity".into(), FD.into(), "--peer".into(), host.into()]);
    args.extend(["--peer-port".into(), port, "--peer-tw".into(), "2".into()]);
    args.extend(["--peer-tls".into(), mode.into()]);
    args.extend(["--duration".into(), "60".into()]);
    args.extend(fd_tls_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut fd = ok(PeerProcess::freediameter(
        &format!("fd-tls-client-{mode}"),
        &args,
    ));
    ok(fd.wait_for_all(
        &[
            &format!("EVENT tls-established peer={host} mode={mode}"),
            &format!("EVENT sent CER to={host}"),
            &format!("EVENT recv CEA from={host} origin={host} result=2001"),
            &format!("EVENT ready peer={host}"),
        ],
        STARTUP,
    ));
    wait_until("ready", EXCHANGE, || peer.is_ready(), || fd.dump());
    ok(fd.wait_for_all(
        &[
            &format!("EVENT sent DWR to={host}"),
            &format!("EVENT recv DWA from={host} result=2001"),
        ],
        EXCHANGE,
    ));
    assert!(count(&peer.counters.dwr) >= 1);
    let status = ok(fd.stop(Duration::from_secs(25)));
    assert!(status.success(), "{}", fd.dump());
    ok(fd.wait_for_all(
        &[
            &format!("EVENT sent DPR to={host} cause=0"),
            &format!("EVENT recv DPA from={host} result=2001"),
        ],
        EXCHANGE,
    ));
    wait_until(
        "DPR seen",
        EXCHANGE,
        || count(&peer.counters.dpr) == 1,
        || fd.dump(),
    );
    assert_eq!(node.transport_stats(), Default::default());
    node.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn freediameter_tls_server_rust_client() {
    freediameter_server("connect");
}

#[test]
fn freediameter_inband_tls_server_rust_client() {
    freediameter_server("inband");
}

#[test]
fn freediameter_tls_client_rust_server() {
    freediameter_client("connect");
}

#[test]
fn freediameter_inband_tls_client_rust_server() {
    freediameter_client("inband");
}
