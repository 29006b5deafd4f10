//! The `dra` example (a relay agent) as a child process, and python-diameter
//! Credit-Control clients of it, for the tests that put it between
//! independent peers (tests/relay.rs, tests/relay_freediameter.rs).

use std::time::Duration;

use super::interop::{field, ok, PeerProcess, EXCHANGE, STARTUP};

/// The dra's Diameter identity and realm.
pub const DRA_HOST: &str = "dra.relay.test";
/// The dra's realm.
pub const DRA_REALM: &str = "relay.test";

/// Starts the `dra` example on 127.0.0.1:`listen`, relaying `realm` to
/// `host` at 127.0.0.1:`port`, accepting any client and advertising the
/// Credit-Control application besides the relay application (python-diameter
/// sends a request only to a peer that advertised its application); waits
/// until it is connected to `host` (its `diameter.node` log line at info).
pub fn start(listen: u16, realm: &str, host: &str, port: u16) -> PeerProcess {
    let args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{listen}"),
        "--origin-host",
        DRA_HOST,
        "--realm",
        DRA_REALM,
        "--allow-any",
        "--peer",
        &format!("aaa://{host}:{port}"),
        "--peer-address",
        &format!("{host}=127.0.0.1"),
        "--route",
        &format!("{realm}={host}"),
        "--app",
        "4",
    ]
    .map(String::from)
    .to_vec();
    let p = ok(PeerProcess::spawn_with_env(
        "dra",
        &super::example("dra").to_string_lossy(),
        &args,
        &[("RUST_LOG", "warn,diameter.node=info")],
    ));
    ok(p.wait_for_line(&format!("dra {DRA_HOST} listening on"), STARTUP));
    ok(p.wait_for_line(&format!("capabilities exchanged with {host}"), STARTUP));
    p
}

/// Stops the dra (SIGTERM) and returns its counters line
/// (`relayed=N answers_returned=N sent_3002=N ...`).
pub fn stop(mut dra: PeerProcess) -> String {
    let status = ok(dra.signal_stop(libc::SIGTERM, Duration::from_secs(15)));
    assert!(status.success(), "{}", dra.dump());
    ok(dra.wait_for_line("relayed=", EXCHANGE))
}

/// Starts `tests/interop/python_peer.py` as the Credit-Control client
/// `host` (realm client.test) of the dra at 127.0.0.1:`dra_port`: once
/// ready it sends `count` CCRs of one session for `dest_realm`, 0.2 s apart
/// (so that clients started together overlap), each with a Proxy-Info
/// (Proxy-Host `proxy.<host>`, Proxy-State `state-<n>`). It stops after 60 s
/// at most.
pub fn python_client(host: &str, dra_port: u16, dest_realm: &str, count: usize) -> PeerProcess {
    ok(PeerProcess::python_peer(
        host,
        &[
            "--origin-host",
            host,
            "--realm",
            "client.test",
            "--peer-uri",
            &format!("aaa://{DRA_HOST}:{dra_port};transport=tcp"),
            // python routes the CCRs (Destination-Realm: the peer's realm)
            // to the dra, which is configured in that realm
            "--peer-realm",
            dest_realm,
            "--persistent",
            "--cc-client",
            &count.to_string(),
            "--cc-interval",
            "0.2",
            "--cc-proxy-info",
            &format!("proxy.{host}"),
            "--duration",
            "60",
        ],
    ))
}

/// Waits for the `count` answers of a [`python_client`] and returns its
/// `EVENT cca` lines in order, after checking that every request was
/// answered (no timeout) with the request's Session-Id, End-to-End id and
/// Proxy-Info.
pub fn python_answers(client: &PeerProcess, count: usize) -> Vec<String> {
    ok(client.wait_for_line("EVENT cc-client done", Duration::from_secs(40)));
    let host = client.name();
    (1..=count)
        .map(|n| {
            let line = ok(client.wait_for_line(&format!("EVENT cca n={n} "), EXCHANGE));
            let dump = || format!("{host}: {line}\n{}", client.dump());
            assert!(field(&line, "result").is_some(), "{}", dump());
            assert_eq!(field(&line, "session_ok"), Some("1"), "{}", dump());
            let e2e = field(&line, "e2e");
            assert!(e2e.is_some(), "{}", dump());
            assert_eq!(field(&line, "answer_e2e"), e2e, "{}", dump());
            assert_eq!(
                field(&line, "proxy_info"),
                Some(format!("proxy.{host}/state-{n}").as_str()),
                "{}",
                dump()
            );
            line
        })
        .collect()
}
