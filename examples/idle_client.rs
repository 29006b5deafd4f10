//! Port of python-diameter's examples/idle_client.py: the other side of
//! `idle_server`, waiting for it to connect.
//!
//! Run `cargo run --example idle_server` and `cargo run --example idle_client`.
//! Both idle until SIGINT (Ctrl-C) or SIGTERM, then stop their node (DPR to
//! the other) and exit with status 0.
//!
//! ```text
//! cargo run --example idle_client -- [--port 6091]
//! ```
//! The port is python's unless given (`idle_server --peer-port` must name
//! it). Logs go to standard error at debug level unless `RUST_LOG` says
//! otherwise.

use std::time::Duration;

use diameter::message::constants::*;
use diameter::node::application::{AppBase, ThreadingApplication};
use diameter::node::{Node, NodeOptions, PeerOptions};

#[path = "common/logger.rs"]
mod logger;
#[path = "common/signals.rs"]
mod signals;

/// `--port`: python's literal 6091 unless given.
fn port() -> Result<u16, String> {
    let mut port = 6091;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(port)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = port().inspect_err(|_| eprintln!("usage: idle_client [--port PORT]"))?;
    // logging.basicConfig(format=..., level=logging.DEBUG)
    // logging.getLogger("diameter.peer.msg").setLevel(logging.DEBUG)
    logger::init("debug");

    // node = Node("relay2.test.realm", "test.realm", ip_addresses=["127.0.0.2"],
    //             tcp_port=6091, vendor_ids=[VENDOR_ETSI, VENDOR_TGPP, VENDOR_TGPP2])
    let mut node = Node::new(
        "relay2.test.realm",
        "test.realm",
        NodeOptions {
            ip_addresses: vec!["127.0.0.2".into()],
            tcp_port: Some(port),
            sctp_port: None,
            vendor_ids: vec![VENDOR_ETSI, VENDOR_TGPP, VENDOR_TGPP2],
            ..Default::default()
        },
    );
    // node.idle_timeout = 30
    node.idle_timeout = Duration::from_secs(30);

    // peer = node.add_peer("aaa://relay1.test.realm")
    let peer = node.add_peer("aaa://relay1.test.realm", None, PeerOptions::default())?;

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
