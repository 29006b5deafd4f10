//! Port of python-diameter's examples/idle_client.py: the other side of
//! `idle_server`, waiting for it to connect.
//!
//! Run `cargo run --example idle_server` and `cargo run --example idle_client`.
//! Stops on end of input (Ctrl-D).

use std::io::Read;
use std::time::Duration;

use diameter::message::constants::*;
use diameter::node::application::{AppBase, ThreadingApplication};
use diameter::node::{Node, NodeOptions, PeerOptions};

/// python's `logging.basicConfig(..., level=logging.DEBUG)`.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!("{:<22} {:<7} {}", r.target(), r.level(), r.args());
    }
    fn flush(&self) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::set_logger(&StderrLogger).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Debug);

    // node = Node("relay2.test.realm", "test.realm", ip_addresses=["127.0.0.2"],
    //             tcp_port=6091, vendor_ids=[VENDOR_ETSI, VENDOR_TGPP, VENDOR_TGPP2])
    let mut node = Node::new(
        "relay2.test.realm",
        "test.realm",
        NodeOptions {
            ip_addresses: vec!["127.0.0.2".into()],
            tcp_port: Some(6091),
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
    // node.start()
    node.start()?;
    std::io::stdin().read_to_end(&mut Vec::new())?;
    // node.stop()
    node.stop(Duration::from_secs(180), false)?;
    Ok(())
}
