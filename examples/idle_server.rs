//! Port of python-diameter's examples/idle_server.py: a node that only
//! exchanges CER/CEA and watchdogs with `idle_client`, logging every message.
//!
//! Run `cargo run --example idle_server` and, in another terminal,
//! `cargo run --example idle_client`. Both idle until SIGINT (Ctrl-C) or
//! SIGTERM, then stop their node (DPR to the other) and exit with status 0.
//!
//! ```text
//! cargo run --example idle_server -- [--port 6090] [--peer-port 6091]
//! ```
//! The ports are python's unless given (`--peer-port` is the port of
//! `idle_client`, `--port` its own). Logs go to standard error at debug
//! level unless `RUST_LOG` says otherwise.

use std::time::Duration;

use diameter::message::constants::*;
use diameter::node::application::{AppBase, ThreadingApplication};
use diameter::node::{Node, NodeOptions, PeerOptions};

#[path = "common/logger.rs"]
mod logger;
#[path = "common/signals.rs"]
mod signals;

/// `--port` and `--peer-port`: python's literals 6090 and 6091 unless given.
fn ports() -> Result<(u16, u16), String> {
    let (mut port, mut peer_port) = (6090, 6091);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let value = value.parse().map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--port" => port = value,
            "--peer-port" => peer_port = value,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((port, peer_port))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (port, peer_port) = ports()
        .inspect_err(|_| eprintln!("usage: idle_server [--port PORT] [--peer-port PORT]"))?;
    // logging.basicConfig(format=..., level=logging.DEBUG)
    // logging.getLogger("diameter.peer.msg").setLevel(logging.DEBUG)
    logger::init("debug");

    // node = Node("relay1.test.realm", "test.realm", ip_addresses=["127.0.0.1"],
    //             tcp_port=6090, vendor_ids=[VENDOR_ETSI, VENDOR_TGPP, VENDOR_TGPP2])
    let mut node = Node::new(
        "relay1.test.realm",
        "test.realm",
        NodeOptions {
            ip_addresses: vec!["127.0.0.1".into()],
            tcp_port: Some(port),
            sctp_port: None,
            vendor_ids: vec![VENDOR_ETSI, VENDOR_TGPP, VENDOR_TGPP2],
            ..Default::default()
        },
    );
    // node.idle_timeout = 20
    node.idle_timeout = Duration::from_secs(20);

    // peer = node.add_peer("aaa://relay2.test.realm:6091", ip_addresses=["127.0.0.2"],
    //                      is_persistent=True)
    let peer = node.add_peer(
        &format!("aaa://relay2.test.realm:{peer_port}"),
        None,
        PeerOptions {
            ip_addresses: vec!["127.0.0.2".into()],
            is_persistent: true,
            ..Default::default()
        },
    )?;
    // peer.reconnect_wait = 5
    peer.set_reconnect_wait(Duration::from_secs(5));
    // app = SimpleThreadingApplication(APP_RELAY, is_auth_application=True)
    let app = ThreadingApplication::new(AppBase::auth(APP_RELAY), 0, |_, _| Ok(None));
    // node.add_application(app, [peer])
    node.add_application(app, [&peer], &[]);

    // (python's KeyboardInterrupt: SIGINT, and here SIGTERM too)
    let shutdown = signals::Shutdown::install()?;
    // node.start()
    node.start()?;

    // try:
    //     while True:
    //         time.sleep(1)
    shutdown.wait(None);
    // except (KeyboardInterrupt, SystemExit) as e:
    //     node.stop()
    node.stop(Duration::from_secs(180), false)?;
    Ok(())
}
