//! SCTP test helpers: whether the kernel has SCTP, the VM of tools/sctp-vm,
//! and addresses on the loopback interface.

use std::process::Command;
use std::time::Duration;

use diameter::node::{Node, NodeError, NodeOptions, PeerOptions};

/// Whether this runs in the VM of tools/sctp-vm (`DIAMETER_SCTP_VM=1`),
/// whose kernel has SCTP and where tests may change addresses.
pub fn in_vm() -> bool {
    std::env::var("DIAMETER_SCTP_VM").as_deref() == Ok("1")
}

/// Whether the kernel has SCTP. When it has not, checks that the node
/// refuses SCTP with a clear error from `add_peer()` and `start()`, prints
/// why `test` stops there, and returns false; in the VM, which exists to run
/// these tests, a kernel without SCTP is a failure.
pub fn sctp_or_skip(test: &str) -> bool {
    let n = Node::new(
        "probe.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            sctp_port: Some(0),
            ..Default::default()
        },
    );
    match n.add_peer(
        "aaa://peer.example.net:3868;transport=sctp",
        None,
        PeerOptions::default(),
    ) {
        Ok(_) => {
            n.start()
                .expect("SCTP works for add_peer, so start must too");
            n.stop(Duration::from_secs(1), true).unwrap();
            true
        }
        Err(NodeError::SctpUnavailable(e)) => {
            let text = e.to_string();
            assert!(!in_vm(), "{test}: no SCTP in the SCTP VM: {text}");
            assert!(
                text.contains("SCTP"),
                "the error should say what is missing: {text}"
            );
            match n.start() {
                Err(NodeError::SctpUnavailable(_)) => {}
                Err(other) => panic!("start() with sctp_port: {other}"),
                Ok(()) => panic!("start() with sctp_port worked without SCTP"),
            }
            eprintln!("{test}: skipped: {text} (tools/sctp-vm runs it under a kernel with SCTP)");
            false
        }
        Err(other) => panic!("add_peer(transport=sctp): {other}"),
    }
}

/// Runs `ip ARGS` (busybox's in the VM); panics with its error output if it
/// fails.
pub fn ip_cmd(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
