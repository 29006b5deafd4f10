//! Helpers shared by the integration tests (`mod common;` in a tests/*.rs).
//! Each test crate uses only part of them.
#![allow(dead_code)]

pub mod cc;
pub mod dra;
pub mod interop;
pub mod sctp;

use std::path::PathBuf;
use std::sync::Arc;

use diameter::node::peer::Peer;
use diameter::node::{Node, PeerOptions};

/// An example binary built next to the running test's own executable
/// (`cargo test` builds the examples; `cargo test --test NAME` does not:
/// `cargo build --examples` first).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test builds the examples; or cargo build --examples)",
        path.display()
    );
    path
}

/// Starts the `cc_server` example on 127.0.0.1:`port` as `host` of `realm`,
/// with `extra` arguments and `env` variables; waits until it listens.
pub fn cc_server(
    port: u16,
    host: &str,
    realm: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> interop::PeerProcess {
    let listen = format!("127.0.0.1:{port}");
    let args: Vec<String> = ["--listen", &listen, "--origin-host", host, "--realm", realm]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect();
    let p = interop::ok(interop::PeerProcess::spawn_with_env(
        host,
        &example("cc_server").to_string_lossy(),
        &args,
        env,
    ));
    interop::ok(p.wait_for_line(&format!("cc_server {host} listening on"), interop::STARTUP));
    p
}

/// A file of the test certificates (tests/data/tls, made by
/// tools/tls-certs/generate.sh).
pub fn test_cert(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name);
    assert!(p.is_file(), "missing {}", p.display());
    p
}

/// Adds the peer `uri`, reached on 127.0.0.1.
pub fn loopback_peer(n: &mut Node, uri: &str, persistent: bool) -> Arc<Peer> {
    n.add_peer(
        uri,
        None,
        PeerOptions {
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            is_persistent: persistent,
            ..Default::default()
        },
    )
    .unwrap()
}

pub mod fault;
pub mod raw;

/// Runs `f` on its own thread and returns what it returns; panics when it
/// takes longer than `limit` (the thread is left behind: the test fails
/// anyway). For calls that must never hang.
pub fn within<T: Send + 'static>(
    what: &str,
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = thread.join();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not return within {limit:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // f panicked: show its panic as this one
            match thread.join() {
                Err(p) => std::panic::resume_unwind(p),
                Ok(()) => unreachable!("{what}: no result and no panic"),
            }
        }
    }
}
