//! Relay agents next to freeDiameter 1.2.1 (Debian's freediameterd), on
//! 127.0.0.1:
//!
//! - freeDiameter as the relay in front of three `cc_server` processes, with
//!   `cc_client` load through it;
//! - python-diameter clients -> the `dra` example -> freeDiameter as the
//!   server;
//! - a forwarding loop through freeDiameter and the `dra`, which
//!   freeDiameter detects by the Route-Record the `dra` appended.
//!
//! Debian ships no freeDiameter extension that answers CCRs, so freeDiameter
//! can relay them but not serve them: in the second test it answers them
//! itself with an error (see there).
//!
//! Without freeDiameter (or python-diameter, for the second test) these
//! tests print "skipping: ..." and pass, unless CI is set, where they fail
//! (`.ci/run` installs both).

use std::time::Duration;

use crate::support::dra;
use crate::support::interop::{self, field, ok, PeerProcess, EXCHANGE, STARTUP};
use diameter::message::constants::*;
use diameter::message::{Avp, Message, MessageHeader};
use diameter::node::application::{AppBase, Application, ThreadingApplication};
use diameter::node::{Node, NodeOptions, PeerOptions};

/// Requests `cc_client` sends through freeDiameter.
const LOAD: u64 = 3000;

/// What the `cc_server` behind freeDiameter dumps: only the messages with
/// CC-Request-Number 0 (env_logger's `/text` filter keeps the log records
/// that contain the text, warnings too): the first CCR of the load and its
/// CCA. The text follows `Message`'s dump format (`diameter.peer.msg`).
const FIRST_CCR_DUMP: &str = "warn,diameter.peer.msg=debug/CC-Request-Number <Code: 0x19f, Flags: 0x40 (-M-), Length: 12, Val: 0>";

/// Starts `cc_server` as `host` (realm server.test) on a free port,
/// accepting any peer; returns it and its port.
fn cc_server(host: &str) -> (PeerProcess, u16) {
    let port = interop::free_port();
    let server = crate::support::cc_server(
        port,
        host,
        "server.test",
        &["--allow-any"],
        &[("RUST_LOG", FIRST_CCR_DUMP)],
    );
    (server, port)
}

/// The value of the first AVP `name` in a freeDiameter message dump line
/// (`{ Name(code)[flags]=value }`, also inside grouped AVPs): `"text"` for
/// strings, `<hex bytes>` for octets.
fn fd_avp<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{{ {name}("))?;
    let rest = &line[start..];
    let value = &rest[rest.find("]=")? + 2..];
    Some(&value[..value.find(" }")?])
}

/// The number in `key=N` of `line`, or a panic naming the line.
fn number(line: &str, key: &str) -> u64 {
    field(line, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}=N in {line:?}"))
}

/// freeDiameter relays Credit-Control load from `cc_client` (realm
/// client.test) to three `cc_server`s (realm server.test): it connects to
/// the three (ConnectPeer), routes Destination-Realm server.test to them
/// (rt_default: the peers of realm server.test; rt_load_balance: the least
/// loaded of equal scores) and advertises the relay application, which both
/// our client and our servers accept as covering Credit-Control. Every CCR
/// is answered 2001, the load is spread over the three servers (each has at
/// least a tenth, and their counts add up to the load), and the first CCR
/// reaches its server with the Route-Record freeDiameter appended, naming
/// the peer it received the CCR from (RFC 6733 §6.1.9): `cc_client`.
#[test]
fn freediameter_relays_cc_client_load_over_three_cc_servers() {
    if !interop::require_freediameter() {
        return;
    }
    let hosts = ["ocs1.server.test", "ocs2.server.test", "ocs3.server.test"];
    let servers: Vec<(PeerProcess, u16)> = hosts.iter().map(|h| cc_server(h)).collect();
    let fd_port = interop::free_port();
    let connect: Vec<String> = hosts
        .iter()
        .zip(&servers)
        .map(|(host, (_, port))| format!("{host}:{port}"))
        .collect();
    let mut args = vec![
        "--role",
        "server",
        "--identity",
        "fd.relay.test",
        "--allow",
        "*.client.test",
        "--route",
        "dr=\"server.test\" : rlm=\"server.test\" += REALM",
        "--extension",
        "rt_load_balance.fdx",
        // no message dumps and no debug lines: thousands of messages pass
        "--dump",
        "none",
        "--debug",
        "0",
        "--duration",
        "120",
    ];
    let port = fd_port.to_string();
    args.extend(["--port", &port]);
    for c in &connect {
        args.extend(["--connect", c]);
    }
    let fd = ok(PeerProcess::freediameter("fd-relay", &args));
    ok(fd.wait_for_line("EVENT started", STARTUP));
    for host in hosts {
        ok(fd.wait_for_line(&format!("EVENT ready peer={host}"), STARTUP));
    }

    let client_args: Vec<String> = [
        "--peer",
        &format!("127.0.0.1:{fd_port}"),
        "--peer-host",
        "fd.relay.test",
        "--peer-realm",
        "relay.test",
        "--dest-realm",
        "server.test",
        "--origin-host",
        "pgw.client.test",
        "--realm",
        "client.test",
        "--requests",
        &LOAD.to_string(),
        "--concurrency",
        "32",
        "--timeout",
        "10",
    ]
    .map(String::from)
    .to_vec();
    let client = ok(PeerProcess::spawn(
        "cc_client",
        &crate::support::example("cc_client").to_string_lossy(),
        &client_args,
    ));
    let report = ok(client.wait_for_line("requests=", Duration::from_secs(120)));
    assert_eq!(number(&report, "answered"), LOAD, "{report}\n{}", fd.dump());
    assert_eq!(number(&report, "errors"), 0, "{report}");
    println!("cc_client through freeDiameter: {report}");

    let mut shares = Vec::new();
    let mut route_records = 0;
    for ((mut server, _), host) in servers.into_iter().zip(hosts) {
        let status = ok(server.signal_stop(libc::SIGTERM, Duration::from_secs(15)));
        assert!(status.success(), "{}", server.dump());
        let stopped = ok(server.wait_for_line(&format!("cc_server {host} stopped:"), EXCHANGE));
        shares.push(number(&stopped, "answered"));
        // in the dump of the first CCR (one line per AVP), not in its CCA's
        route_records += server
            .lines_so_far()
            .iter()
            .filter(|l| l.contains(" Route-Record <"))
            .inspect(|l| assert!(l.contains("Val: b'pgw.client.test'>"), "{l}"))
            .count();
    }
    println!("answered by {hosts:?}: {shares:?}");
    assert_eq!(shares.iter().sum::<u64>(), LOAD, "{shares:?}");
    for (host, share) in hosts.iter().zip(&shares) {
        assert!(
            *share >= LOAD / 10,
            "{host} answered {share} of {LOAD}: {shares:?}"
        );
    }
    assert_eq!(route_records, 1, "the first CCR's Route-Record");
}

/// Two python-diameter clients share the `dra`, which relays their CCRs
/// (Destination-Realm server.test) to freeDiameter (realm server.test).
///
/// freeDiameter has no Credit-Control application (Debian ships none), so a
/// CCR for its own realm is not for local delivery: it tries to forward it,
/// finds no candidate (its only peer, the dra, is the one it came from) and
/// answers itself: Result-Code 3002
/// DIAMETER_UNABLE_TO_DELIVER with the E bit, its own Origin-Host, the
/// request's Session-Id and Proxy-Info, and Error-Message "No suitable
/// candidate to route the message to". That answer travels back through
/// the dra like any other, which is what is checked: every request is
/// answered, by freeDiameter, to the client that sent it, with the
/// request's End-to-End id and Proxy-Info; freeDiameter received each
/// request once (its dbg_msg_dumps lines, with `--dict-dcca` so that the
/// CCR's AVPs are parsed and printed) with that End-to-End id, the client's
/// Proxy-Info and the Route-Record the dra appended, naming the client (the
/// peer it received the request from, RFC 6733 §6.1.9).
#[test]
fn python_clients_through_dra_to_freediameter() {
    if !interop::require_freediameter() || !interop::require_python() {
        return;
    }
    let fd_port = interop::free_port();
    let fd = ok(PeerProcess::freediameter(
        "fd-server",
        &[
            "--role",
            "server",
            "--identity",
            "fd.server.test",
            "--port",
            &fd_port.to_string(),
            "--allow",
            "*.relay.test",
            "--dict-dcca",
            "--duration",
            "90",
        ],
    ));
    ok(fd.wait_for_line("EVENT started", STARTUP));
    let dra_port = interop::free_port();
    let agent = dra::start(dra_port, "server.test", "fd.server.test", fd_port);
    ok(fd.wait_for_line("EVENT ready peer=dra.relay.test", STARTUP));

    const EACH: usize = 5;
    let clients = ["pypgw1.client.test", "pypgw2.client.test"]
        .map(|host| dra::python_client(host, dra_port, "server.test", EACH));
    let mut sent = Vec::new();
    for client in &clients {
        let host = client.name();
        for line in dra::python_answers(client, EACH) {
            let dump = || format!("{line}\n{}", fd.dump());
            assert_eq!(field(&line, "result"), Some("3002"), "{}", dump());
            assert_eq!(field(&line, "origin"), Some("fd.server.test"), "{}", dump());
            let e2e = field(&line, "e2e").unwrap_or_default().to_owned();
            let proxy = field(&line, "proxy_info").unwrap_or_default().to_owned();
            sent.push((host.to_owned(), e2e, proxy));
        }
        ok(client.wait_for_line(
            &format!("EVENT cc-client done ok=0 failed={EACH}"),
            EXCHANGE,
        ));
        // the answer carried the E bit
        assert_eq!(
            client.count("EVENT recv CCA from=fd.server.test result=3002 "),
            EACH
        );
        assert_eq!(client.count(" error_bit=1 "), EACH, "{}", client.dump());
    }

    // freeDiameter's view: "RCV from 'dra.relay.test': Credit-Control-Request
    // (4/272)[RP--], ..., End-to-End=0x..., { Session-Id ... }, ..."
    ok(fd.wait_for_count(
        "EVENT sent CCA to=dra.relay.test result=3002 error_bit=1",
        2 * EACH,
        EXCHANGE,
    ));
    let received: Vec<String> = fd
        .lines_so_far()
        .into_iter()
        .filter(|l| l.contains("RCV from 'dra.relay.test': Credit-Control-Request"))
        .collect();
    assert_eq!(received.len(), 2 * EACH, "{}", fd.dump());
    for (host, e2e, proxy) in &sent {
        let (proxy_host, state) = proxy.split_once('/').unwrap_or_default();
        let state_hex: Vec<String> = state.bytes().map(|b| format!("{b:02X}")).collect();
        let ccr = received
            .iter()
            .find(|l| l.contains(&format!("End-to-End={e2e},")))
            .unwrap_or_else(|| panic!("{host}'s CCR {e2e} not seen\n{}", fd.dump()));
        let quoted = |v: &str| format!("\"{v}\"");
        assert_eq!(
            fd_avp(ccr, "Origin-Host"),
            Some(quoted(host).as_str()),
            "{ccr}"
        );
        assert_eq!(
            fd_avp(ccr, "Route-Record"),
            Some(quoted(host).as_str()),
            "{ccr}"
        );
        assert_eq!(
            fd_avp(ccr, "Proxy-Host"),
            Some(quoted(proxy_host).as_str()),
            "{ccr}"
        );
        assert_eq!(
            fd_avp(ccr, "Proxy-State"),
            Some(format!("<{}>", state_hex.join(" ")).as_str()),
            "{ccr}"
        );
    }
    let counters = dra::stop(agent);
    assert!(
        counters.starts_with("relayed=10 answers_returned=10 sent_3002=0 sent_3003=0 sent_3005=0"),
        "{counters}"
    );
}

/// A forwarding loop between freeDiameter and the `dra`: freeDiameter
/// routes realm loop.test to the dra (rt_default), the dra routes it back
/// to freeDiameter. Each relay appends a Route-Record naming the peer it
/// received the request from (RFC 6733 §6.1.9, §6.7.1), so the CCR comes
/// back to freeDiameter with freeDiameter's own identity in its Route-Record
/// list (put there by the dra): freeDiameter answers 3005
/// DIAMETER_LOOP_DETECTED, and the answer goes back through the dra to the
/// client.
#[test]
fn a_loop_through_freediameter_and_the_dra_is_detected() {
    if !interop::require_freediameter() {
        return;
    }
    let fd_port = interop::free_port();
    let fd = ok(PeerProcess::freediameter(
        "fd-relay",
        &[
            "--role",
            "server",
            "--identity",
            "fd.relay.test",
            "--port",
            &fd_port.to_string(),
            "--allow",
            "*.client.test",
            "--allow",
            "*.relay.test",
            "--route",
            "dr=\"loop.test\" : \"dra.relay.test\" += REALM",
            "--duration",
            "60",
        ],
    ));
    ok(fd.wait_for_line("EVENT started", STARTUP));
    let agent = dra::start(interop::free_port(), "loop.test", "fd.relay.test", fd_port);
    ok(fd.wait_for_line("EVENT ready peer=dra.relay.test", STARTUP));

    let client = Node::new("pgw.client.test", "client.test", NodeOptions::default());
    let peer = client
        .add_peer(
            &format!("aaa://fd.relay.test:{fd_port};transport=tcp"),
            Some("relay.test"),
            PeerOptions {
                ip_addresses: vec!["127.0.0.1".into()],
                is_persistent: true,
                ..Default::default()
            },
        )
        .unwrap();
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    client.add_application(app.clone(), [&peer], &["loop.test"]);
    client.start().unwrap();
    app.base()
        .wait_for_ready(STARTUP)
        .unwrap_or_else(|e| panic!("{e}\n{}", fd.dump()));
    let mut header =
        MessageHeader::new(CMD_CREDIT_CONTROL, APP_DIAMETER_CREDIT_CONTROL_APPLICATION);
    header.set_request(true);
    header.set_proxyable(true);
    let ccr = Message::new(
        header,
        vec![
            Avp::new(AVP_SESSION_ID, 0, "pgw.client.test;loop;1").unwrap(),
            Avp::new(AVP_ORIGIN_HOST, 0, "pgw.client.test").unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, "client.test").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "loop.test").unwrap(),
            Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, 0u32).unwrap(),
        ],
    );
    let answer = app
        .base()
        .send_request(ccr, EXCHANGE)
        .unwrap_or_else(|e| panic!("{e}\n{}", fd.dump()));
    let text = |code| answer.find_avp(&[(code, 0)]).and_then(Avp::as_str);
    let result = answer
        .find_avp(&[(AVP_RESULT_CODE, 0)])
        .and_then(Avp::as_u32);
    assert_eq!(
        result,
        Some(E_RESULT_CODE_DIAMETER_LOOP_DETECTED),
        "{answer:?}\n{}",
        fd.dump()
    );
    assert_ne!(answer.header.command_flags & MessageHeader::FLAG_ERROR, 0);
    // freeDiameter says why: "PARSING ERROR: 'DIAMETER_LOOP_DETECTED' from
    // 'dra.relay.test': ..."
    ok(fd.wait_for_line("'DIAMETER_LOOP_DETECTED' from 'dra.relay.test'", EXCHANGE));
    assert_eq!(text(AVP_ORIGIN_HOST), Some("fd.relay.test"));
    client.stop(Duration::from_secs(5), false).unwrap();
    let counters = dra::stop(agent);
    assert!(
        counters.starts_with("relayed=1 answers_returned=1 sent_3002=0 sent_3003=0 sent_3005=0"),
        "{counters}"
    );
}
