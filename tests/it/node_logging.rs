//! Log records use python-diameter's logger names as targets, and the
//! warnings a peer can trigger at line rate are rate-limited.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{alone, wait_until, PeerSpec, TestNode};
use diameter::node::peer::AppId;
use diameter::node::{Node, NodeOptions, PeerOptions};

struct Capture(Mutex<Vec<(String, log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        if let Ok(mut v) = self.0.lock() {
            v.push((r.target().to_owned(), r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

/// Installs the capturing logger; every test calls it. A logger is the
/// whole process's, set once: each test runs alone in a process of its own
/// ([`alone`]), where it sees only its own nodes' records and leaves the
/// other tests' logging alone.
fn install() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Debug);
}

#[test]
fn targets_follow_pythons_logger_names() {
    if !alone(module_path!(), "targets_follow_pythons_logger_names") {
        return;
    }
    install();
    let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut server = Node::new(
        "server.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec![lo.into()],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    server.add_application_id(AppId::auth(4));
    server
        .add_peer("aaa://client.example.net", None, PeerOptions::default())
        .unwrap();
    server.peers_logging = true;
    server.stats_logging = true;
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();
    let client = TestNode::builder("client.example.net", "example.net")
        .app_id(AppId::auth(4))
        .peer(PeerSpec::at("server.example.net", port))
        .start_ready(Duration::from_secs(5));
    // the server logs its peers and statistics every second
    let logged = |target: &str, needle: &str| {
        LOGGER
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(t, _, m)| t == target && m.contains(needle))
    };
    wait_until(
        "the peers and statistics lines",
        Duration::from_secs(5),
        || {
            logged("diameter.stats", "\"state\": \"READY\"")
                && logged(
                    "diameter.stats",
                    "STATS=[{\"node_name\": \"server.example.net\"",
                )
        },
    );
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();

    let records = LOGGER.0.lock().unwrap().clone();
    let has = |target: &str, needle: &str| {
        records
            .iter()
            .any(|(t, _, m)| t == target && m.contains(needle))
    };
    assert!(
        has(
            "diameter.peer.msg",
            "RECV server.example.net\nCapabilities-Exchange"
        ),
        "CEA dump"
    );
    assert!(has("diameter.peer.msg", "SENT"), "sent dumps");
    assert!(has("diameter.node", "capabilities exchanged"));
    assert!(has("diameter.connection", "accepted"));
    assert!(has(
        "diameter.stats",
        "PEERS=[{\"node_name\": \"client.example.net\""
    ));
    assert!(has("diameter.stats", "\"state\": \"READY\""));
    assert!(has(
        "diameter.stats",
        "STATS=[{\"node_name\": \"server.example.net\""
    ));
    // message dumps are debug only
    assert!(records
        .iter()
        .filter(|(t, ..)| t == "diameter.peer.msg")
        .all(|(_, l, _)| *l == log::Level::Debug));
}

/// A raw peer floods the node with malformed requests (an Unsigned32 AVP
/// of 5 bytes: 5014 each): every one is answered, but the warnings they
/// trigger on `diameter.peer` stay within the budget of 5 lines a second.
#[test]
fn warnings_a_peer_can_trigger_are_rate_limited() {
    if !alone(
        module_path!(),
        "warnings_a_peer_can_trigger_are_rate_limited",
    ) {
        return;
    }
    use diameter::message::constants::*;
    use diameter::node::application::{AppBase, ThreadingApplication};

    install();
    const FLOOD: &str = "flood.example.net";
    const SENT: usize = 2000;
    let mut server = Node::new(
        "rate.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    let flood = server
        .add_peer(&format!("aaa://{FLOOD}"), None, PeerOptions::default())
        .unwrap();
    server.add_application(
        ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None)),
        [&flood],
        &[],
    );
    server.dpa_timeout = Duration::from_millis(300);
    server.start().unwrap();
    let addr = server.listen_addresses()[0];
    let mut raw = crate::support::raw::RawPeer::connect(addr, FLOOD, "example.net");
    let malformed: Vec<Vec<u8>> = (0..SENT)
        .map(|_| {
            let mut bytes = raw
                .request(CMD_CREDIT_CONTROL, 4, vec![])
                .as_bytes()
                .unwrap();
            bytes.extend_from_slice(&[0, 0, 1, 22, 0x40, 0, 0, 13, 0, 0, 0, 1, 7, 0, 0, 0]);
            crate::support::raw::fix_length(&mut bytes);
            bytes
        })
        .collect();

    let started = Instant::now();
    let mut writer = raw.stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        use std::io::Write;
        for bytes in malformed {
            writer.write_all(&bytes).unwrap();
        }
    });
    for i in 0..SENT {
        let answer = raw.recv().unwrap_or_else(|| panic!("answer {i} missing"));
        assert_eq!(
            crate::support::raw::result_code(&answer),
            Some(5014),
            "answer {i}"
        );
    }
    let elapsed = started.elapsed();
    sending.join().unwrap();

    let warned = LOGGER
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, l, m)| t == "diameter.peer" && *l == log::Level::Warn && m.contains(FLOOD))
        .count() as u64;
    let budget = 5 * (elapsed.as_secs() + 1) + 5;
    assert!(warned >= 1, "no warning at all");
    assert!(
        warned <= budget,
        "{warned} warnings for {SENT} malformed requests in {elapsed:?} (at most {budget})"
    );
    drop(raw);
    server.stop(Duration::from_secs(2), true).unwrap();
}

/// python's `diameter.peer.msg` dumps every message sent and received,
/// application ones included, each with the Length it has on the wire.
#[test]
fn application_messages_are_dumped_sent_and_received_with_their_length() {
    if !alone(
        module_path!(),
        "application_messages_are_dumped_sent_and_received_with_their_length",
    ) {
        return;
    }
    use crate::support::cc::{answer, ccr};
    use diameter::message::constants::*;
    use diameter::message::Avp;
    use diameter::node::application::{AppBase, Application, ThreadingApplication};

    install();
    const SERVER: &str = "dumpsrv.example.net";
    const CLIENT: &str = "dumpcli.example.net";
    let server = Node::new(
        SERVER,
        "example.net",
        NodeOptions {
            ip_addresses: vec!["127.0.0.1".into()],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    let client_peer = server
        .add_peer(&format!("aaa://{CLIENT}"), None, PeerOptions::default())
        .unwrap();
    server.add_application(
        ThreadingApplication::new(AppBase::auth(4), 0, answer),
        [&client_peer],
        &[],
    );
    server.start().unwrap();
    let port = server.listen_addresses()[0].port();
    let client = Node::new(CLIENT, "example.net", NodeOptions::default());
    let server_peer = client
        .add_peer(
            &format!("aaa://{SERVER}:{port}"),
            None,
            PeerOptions {
                ip_addresses: vec!["127.0.0.1".into()],
                is_persistent: true,
                ..Default::default()
            },
        )
        .unwrap();
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    client.add_application(app.clone(), [&server_peer], &[]);
    client.start().unwrap();
    app.base().wait_for_ready(Duration::from_secs(5)).unwrap();
    let mut request = ccr(CLIENT, "example.net", 7);
    request
        .avps
        .push(Avp::new(AVP_USER_NAME, 0, "dump-me@example.net").unwrap());
    let request_len = request.as_bytes().unwrap().len();
    let cca = app
        .base()
        .send_request(request, Duration::from_secs(5))
        .unwrap();
    let answer_len = cca.as_bytes().unwrap().len();
    client.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();

    let records = LOGGER.0.lock().unwrap().clone();
    let dumped = |head: &str, flags: &str, len: usize| {
        records.iter().any(|(t, l, m)| {
            t == "diameter.peer.msg"
                && *l == log::Level::Debug
                && m.starts_with(&format!(
                    "{head}\nCredit-Control <Version: 0x01, Length: {len}, Flags: {flags}"
                ))
                && m.contains("dump-me@example.net") == (flags == "0xc0")
        })
    };
    assert!(
        dumped(&format!("SENT {SERVER}"), "0xc0", request_len),
        "CCR sent"
    );
    assert!(
        dumped(&format!("RECV {CLIENT}"), "0xc0", request_len),
        "CCR received"
    );
    assert!(
        dumped(&format!("SENT {CLIENT}"), "0x40", answer_len),
        "CCA sent"
    );
    assert!(
        dumped(&format!("RECV {SERVER}"), "0x40", answer_len),
        "CCA received"
    );
    // base-protocol messages carry their length too (no "Length: 0")
    assert!(dumped_cer_len(&records, SERVER), "CER sent with its length");
}

/// Whether the client's CER to `server` was dumped with a non-zero Length.
fn dumped_cer_len(records: &[(String, log::Level, String)], server: &str) -> bool {
    records.iter().any(|(t, _, m)| {
        t == "diameter.peer.msg"
            && m.starts_with(&format!(
                "SENT {server}\nCapabilities-Exchange <Version: 0x01, Length: "
            ))
            && !m.contains("Length: 0,")
    })
}
