//! What the integration tests share: the test-node builder ([`node`]), raw
//! peers on plain sockets ([`raw`]), a scriptable faulty server ([`fault`]),
//! independent peers as child processes ([`interop`], [`dra`]), the
//! Credit-Control pair ([`cc`]), SCTP probes ([`sctp`]), and the waits.
#![allow(dead_code)]

pub mod cc;
/// The fuzz targets' checks, run here on the seeds and on generated input.
#[allow(dead_code)]
#[path = "../../../fuzz/src/check.rs"]
pub mod check;
pub mod dra;
pub mod fault;
pub mod interop;
pub mod node;
pub mod raw;
pub mod sctp;
pub mod wait;

pub use node::{loopback_node, loopback_peer, port, result_code, stop, PeerSpec, TestNode};
pub use wait::{alone, holds_for, poll_until, wait_until, Arrivals, Gate};

use std::path::PathBuf;

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

/// `RUST_LOG` for an example that logs nothing but the dump of
/// every CCR and CCA whose CC-Request-Number starts with the digits
/// `prefix` (12: 12, 120 to 129, 1200 to 1299...; env_logger's `/text`
/// filter): a few lines that show a server taking its share of a load.
pub fn ccr_dumps(prefix: u32) -> String {
    format!("warn,diameter.peer.msg=debug/{CCR_DUMP} 0x19f, Flags: 0x40 (-M-), Length: 12, Val: {prefix}")
}

/// The start of the lines [`ccr_dumps`] keeps.
pub const CCR_DUMP: &str = "CC-Request-Number <Code:";

/// A file of the test certificates (tests/data/tls, made by
/// tools/tls-certs/generate.sh).
pub fn test_cert(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name);
    assert!(p.is_file(), "missing {}", p.display());
    p
}

/// TLS options with the test certificate of `host` (its .pem and .key)
/// trusting the test CA file `ca`.
#[cfg(feature = "tls")]
pub fn tls_options(host: &str, ca: &str) -> diameter::node::TlsOptions {
    diameter::node::TlsOptions {
        cert_file: test_cert(&format!("{host}.pem")),
        key_file: test_cert(&format!("{host}.key")),
        ca_files: vec![test_cert(ca)],
        ..Default::default()
    }
}

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
