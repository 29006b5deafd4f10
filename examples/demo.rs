//! A server node and a client node in one process over loopback: the client
//! connects, the two exchange capabilities, watchdogs run, and both stop
//! cleanly with DPR/DPA. What each side received is printed as it goes.
//!
//! Run with `cargo run --example demo`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diameter::message::constants::*;
use diameter::node::peer::{AppId, Peer};
use diameter::node::{Node, NodeOptions, PeerOptions};

fn counters(p: &Peer) -> String {
    let [cer, cea, dwr, dwa, dpr, dpa, ..] = p.counters.snapshot();
    format!("received CER={cer} CEA={cea} DWR={dwr} DWA={dwa} DPR={dpr} DPA={dpa}")
}

fn wait(what: &str, timeout: Duration, f: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loopback = "127.0.0.1".parse()?;
    let mut server = Node::new(
        "ocs.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec![loopback],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    server.add_application_id(AppId::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION));
    let client_seen_by_server =
        server.add_peer("aaa://pgw.example.net", None, PeerOptions::default())?;
    server.start()?;
    let addr = server.listen_addresses()[0];
    println!("server ocs.example.net listening on {addr}");

    let mut client = Node::new("pgw.example.net", "example.net", NodeOptions::default());
    client.idle_timeout = Duration::from_millis(500);
    client.add_application_id(AppId::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION));
    let server_seen_by_client = client.add_peer(
        &format!("aaa://ocs.example.net:{};transport=tcp", addr.port()),
        None,
        PeerOptions {
            ip_addresses: vec![loopback],
            is_persistent: true,
            ..Default::default()
        },
    )?;
    client.start()?;

    wait("CER/CEA", Duration::from_secs(5), || {
        server_seen_by_client.is_ready()
    })?;
    let info = server_seen_by_client.status.lock().connection.clone();
    if let Some(info) = info {
        println!(
            "client: connected to {} at {:?}, applications {:?}",
            info.host_identity, info.remote_address, info.auth_application_ids
        );
    }
    println!("waiting for two watchdog rounds (Tw = 500 ms)...");
    wait("DWR/DWA", Duration::from_secs(5), || {
        server_seen_by_client.counters.dwa.load(Ordering::Relaxed) >= 2
    })?;
    println!("client: {}", counters(&server_seen_by_client));
    println!("server: {}", counters(&client_seen_by_server));

    client.stop(Duration::from_secs(5), false)?;
    println!(
        "client stopped: DPR sent, disconnect reason {:#04x}",
        server_seen_by_client
            .status
            .lock()
            .disconnect_reason
            .unwrap_or(0)
    );
    wait("server sees the DPR", Duration::from_secs(5), || {
        client_seen_by_server.status.lock().connection.is_none()
    })?;
    println!("server: {}", counters(&client_seen_by_server));
    server.stop(Duration::from_secs(5), false)?;
    println!("server stopped");
    Ok(())
}
