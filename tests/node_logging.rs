//! Log records use python-diameter's logger names as targets.

use std::sync::Mutex;
use std::time::{Duration, Instant};

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

#[test]
fn targets_follow_pythons_logger_names() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let lo = "127.0.0.1".parse().unwrap();
    let mut server = Node::new(
        "server.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec![lo],
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
    let client = Node::new("client.example.net", "example.net", NodeOptions::default());
    client.add_application_id(AppId::auth(4));
    let p = client
        .add_peer(
            &format!("aaa://server.example.net:{port}"),
            None,
            PeerOptions {
                ip_addresses: vec![lo],
                is_persistent: true,
                ..Default::default()
            },
        )
        .unwrap();
    client.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !p.is_ready() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(1100));
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
