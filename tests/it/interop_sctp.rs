//! Our node against freeDiameter 1.2 over SCTP, both ways: freeDiameter as
//! the SCTP server with our node as client, and freeDiameter as the client
//! of our SCTP listener. CER/CEA, DWR/DWA and DPR/DPA must complete, seen
//! from both sides: our peer counters and freeDiameter's own log lines,
//! which also name the transport ("CONNECTED TO '...' (SCTP,...)").
//!
//! The test writes freeDiameter's configuration itself (no Python, so that
//! it also runs in the VM of tools/sctp-vm, which has none) and runs
//! `freeDiameterd -c <conf> -d -d` as a child process.
//!
//! It skips, printing why, where the kernel has no SCTP (tools/sctp-vm runs
//! it under a kernel with SCTP), and where freeDiameterd is not installed
//! (except in that VM, where `DIAMETER_SCTP_VM=1` and tools/sctp-vm/test.sh
//! ships freeDiameterd: there a missing freeDiameterd is a failure, as it is
//! under CI).
//!
//! Addresses: freeDiameter with SCTP needs a local address that is not a
//! loopback address ("Unable to find the address(es) of the local system",
//! and it ignores loopback addresses in `ListenOn`), which the VM has not.
//! So in the VM (`DIAMETER_SCTP_VM=1`) the test adds 10.9.1.1/32 to the
//! loopback interface (removed at the end), freeDiameter listens on it
//! (`ListenOn`) and both sides use it; elsewhere both use 127.0.0.1 and
//! freeDiameter finds the machine's own addresses.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::cc::count;
use crate::support::interop::{self, ok, runs_ok, wait_until, PeerProcess, EXCHANGE, STARTUP};
use crate::support::poll_until;
use crate::support::sctp::{in_vm, ip_cmd, sctp_or_skip};
use diameter::node::peer::*;
use diameter::node::{ListenTransport, Node, NodeOptions, PeerOptions};

/// Our node's Diameter identity, in both roles.
const RUST: &str = "rust.example.test";
/// freeDiameter's identity: the name in tests/data/tls/fd.example.test.pem,
/// which freeDiameter insists on (TLS_Cred) although no TLS is used.
const FD: &str = "fd.example.test";
/// The address put on the loopback interface in the VM (see the top).
const VM_ADDRESS: &str = "10.9.1.1";

/// The address both sides use (see the top).
fn address() -> &'static str {
    if in_vm() {
        VM_ADDRESS
    } else {
        "127.0.0.1"
    }
}

/// The freeDiameterd to run: `$INTEROP_FREEDIAMETERD`, else `freeDiameterd`
/// from PATH, else /usr/bin/freeDiameterd (the VM's PATH is /bin:/sbin).
/// None, after printing why the test stops, when there is none; a panic
/// when one is required (in the VM, or under CI).
fn freediameterd_or_skip(test: &str) -> Option<String> {
    let candidates = match env::var("INTEROP_FREEDIAMETERD") {
        Ok(b) => vec![b],
        Err(_) => vec![
            "freeDiameterd".to_string(),
            "/usr/bin/freeDiameterd".to_string(),
        ],
    };
    if let Some(b) = candidates.iter().find(|b| runs_ok(b, &["--version"])) {
        return Some(b.clone());
    }
    if in_vm() {
        panic!(
            "{test}: no freeDiameterd ({candidates:?}) in the SCTP VM: tools/sctp-vm/test.sh \
             runs this test only when it ships freeDiameterd"
        );
    }
    if interop::in_ci() {
        panic!(
            "{test}: no freeDiameterd ({candidates:?}), and CI is set: {}",
            interop::INSTALL_HINT
        );
    }
    eprintln!(
        "{test}: skipped: freeDiameterd not found ({candidates:?}; {})",
        interop::INSTALL_HINT
    );
    None
}

/// 10.9.1.1/32 on the loopback interface while it lives (in the VM only).
struct VmAddress(bool);

impl VmAddress {
    fn add() -> Self {
        if !in_vm() {
            return VmAddress(false);
        }
        ip_cmd(&["addr", "add", &format!("{VM_ADDRESS}/32"), "dev", "lo"]);
        VmAddress(true)
    }
}

impl Drop for VmAddress {
    fn drop(&mut self) {
        if self.0 {
            ip_cmd(&["addr", "del", &format!("{VM_ADDRESS}/32"), "dev", "lo"]);
        }
    }
}

/// A fresh directory under the temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = env::temp_dir().join(format!(
            "fd-sctp-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

enum Role {
    /// Listens on SCTP `port` and accepts `*.example.test` in cleartext.
    Server { port: u16 },
    /// Connects over SCTP to our node on `address()`:`port`.
    Client { port: u16 },
}

/// freeDiameter's configuration: SCTP only (No_TCP), no IPv6, no TLS port;
/// TLS_Cred/TLS_CA only because freeDiameter will not start without them.
fn write_config(dir: &Path, role: &Role) -> PathBuf {
    let mut lines = vec![
        format!("Identity = \"{FD}\";"),
        "Realm = \"example.test\";".to_string(),
        format!(
            "Port = {};",
            match role {
                Role::Server { port } => *port,
                Role::Client { .. } => 0,
            }
        ),
        "SecPort = 0;".to_string(),
        "No_TCP;".to_string(),
        "No_IPv6;".to_string(),
        "TcTimer = 2;".to_string(),
        "TwTimer = 6;".to_string(),
        format!(
            "TLS_Cred = \"{}\", \"{}\";",
            crate::support::test_cert("fd.example.test.pem")
                .to_string_lossy()
                .into_owned(),
            crate::support::test_cert("fd.example.test.key")
                .to_string_lossy()
                .into_owned()
        ),
        format!(
            "TLS_CA = \"{}\";",
            crate::support::test_cert("ca.pem")
                .to_string_lossy()
                .into_owned()
        ),
        // every message on one line, with its AVPs (see freediameter.py)
        "LoadExtension = \"dbg_msg_dumps.fdx\" : \"0x2242\";".to_string(),
    ];
    if in_vm() {
        lines.push(format!("ListenOn = \"{VM_ADDRESS}\";"));
    }
    match role {
        Role::Server { .. } => {
            let acl = dir.join("acl_wl.conf");
            fs::write(&acl, "ALLOW_IPSEC *.example.test\n").unwrap();
            lines.push(format!(
                "LoadExtension = \"acl_wl.fdx\" : \"{}\";",
                acl.display()
            ));
        }
        Role::Client { port } => lines.push(format!(
            "ConnectPeer = \"{RUST}\" {{ ConnectTo = \"{}\"; Port = {port}; No_TLS; \
             No_TCP; TcTimer = 2; TwTimer = 2; }};",
            address()
        )),
    }
    let conf = dir.join("freeDiameter.conf");
    fs::write(&conf, lines.join("\n") + "\n").unwrap();
    conf
}

/// freeDiameterd, stopped on every exit path: SIGTERM (it then sends DPR to
/// its open peers) when dropped, then SIGKILL 5 s later if still running
/// (the `PeerProcess` drop).
struct FreeDiameter {
    process: Option<PeerProcess>,
    _dir: TempDir,
}

impl FreeDiameter {
    fn start(binary: &str, name: &str, role: Role) -> Self {
        let dir = TempDir::new(name);
        let conf = write_config(&dir.0, &role);
        let args = [
            "-c".to_string(),
            conf.to_string_lossy().into_owned(),
            "-d".to_string(),
            "-d".to_string(),
        ];
        let process = ok(PeerProcess::spawn(name, binary, &args));
        let fd = FreeDiameter {
            process: Some(process),
            _dir: dir,
        };
        ok(fd
            .p()
            .wait_for_line("freeDiameterd daemon initialized.", STARTUP));
        fd
    }

    fn p(&self) -> &PeerProcess {
        // Some from start() until drop()
        self.process.as_ref().unwrap()
    }

    /// Waits for a line containing every one of `parts`.
    fn wait_for(&self, parts: &[&str], timeout: Duration) -> String {
        ok(self
            .p()
            .wait_for(0, &format!("a line with {parts:?}"), timeout, |l| {
                parts.iter().all(|p| l.contains(p))
            }))
        .1
    }

    /// SIGTERM and a wait of up to `timeout` for the exit.
    fn stop(&mut self, timeout: Duration) {
        sigterm(self.p());
        assert!(
            poll_until(timeout, || !self.p().is_running()),
            "freeDiameterd still running {timeout:?} after SIGTERM\n{}",
            self.p().dump()
        );
    }
}

impl Drop for FreeDiameter {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            if p.is_running() {
                sigterm(&p);
                poll_until(Duration::from_secs(5), || !p.is_running());
            }
            drop(p); // kills it if it is still running
        }
    }
}

fn sigterm(p: &PeerProcess) {
    let pid = p.pid() as libc::pid_t;
    // SAFETY: kill(2) touches no memory of ours; the pid is our child, not
    // yet reaped (PeerProcess reaps it only in stop, kill or drop).
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// The line freeDiameter logs when a peer's connection is up, e.g.
/// "CONNECTED TO 'rust.example.test' (SCTP,soc#7)": it must say SCTP.
fn assert_sctp_connection(fd: &FreeDiameter) {
    let line = fd.wait_for(&[&format!("CONNECTED TO '{RUST}' (")], EXCHANGE);
    assert!(
        line.contains("(SCTP") && !line.contains("TCP"),
        "not an SCTP connection: {line}"
    );
}

#[test]
fn freediameter_sctp_server_rust_client() {
    const TEST: &str = "freediameter_sctp_server_rust_client";
    if !sctp_or_skip(TEST) {
        return;
    }
    let Some(binary) = freediameterd_or_skip(TEST) else {
        return;
    };
    let _address = VmAddress::add();
    let port = interop::free_port();
    let fd = FreeDiameter::start(&binary, "fd-sctp-server", Role::Server { port });
    fd.wait_for(&["Local server address(es)"], STARTUP);

    let mut node = Node::new(
        RUST,
        "example.test",
        NodeOptions {
            ip_addresses: vec![address().parse().unwrap()],
            ..Default::default()
        },
    );
    node.add_application_id(AppId::auth(4));
    node.idle_timeout = Duration::from_millis(1500);
    let peer = node
        .add_peer(
            &format!("aaa://{FD}:{port};transport=sctp"),
            None,
            PeerOptions {
                ip_addresses: vec![address().parse().unwrap()],
                is_persistent: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(peer.transport, PEER_TRANSPORT_SCTP);
    node.start().unwrap();

    wait_until("CER/CEA", STARTUP, || peer.is_ready(), || fd.p().dump());
    assert_eq!(count(&peer.counters.cea), 1);
    fd.wait_for(
        &[
            "RCV from '<unknown peer>': Capabilities-Exchange-Request(257)[R---]",
            &format!("Origin-Host(264)[-M]=\"{RUST}\""),
        ],
        EXCHANGE,
    );
    fd.wait_for(
        &[
            &format!("SND to '{RUST}': Capabilities-Exchange-Answer(257)[----]"),
            "'DIAMETER_SUCCESS' (2001",
        ],
        EXCHANGE,
    );
    assert_sctp_connection(&fd);
    // Over SCTP, freeDiameter as server moves the new peer to STATE_OPEN_NEW
    // and sends a DWR at once; STATE_OPEN follows its DWA (over TCP it goes
    // straight to STATE_OPEN).
    fd.wait_for(
        &[&format!(
            "SND to '{RUST}': Device-Watchdog-Request(280)[R---]"
        )],
        EXCHANGE,
    );
    fd.wait_for(
        &[
            &format!("RCV from '{RUST}': Device-Watchdog-Answer(280)[----]"),
            "'DIAMETER_SUCCESS' (2001",
        ],
        EXCHANGE,
    );
    fd.wait_for(&["-> 'STATE_OPEN'", &format!("'{RUST}'")], EXCHANGE);
    assert!(count(&peer.counters.dwr) >= 1);

    // our watchdog after 1.5 s of silence
    wait_until(
        "DWA",
        EXCHANGE,
        || count(&peer.counters.dwa) >= 1,
        || fd.p().dump(),
    );
    fd.wait_for(
        &[&format!(
            "RCV from '{RUST}': Device-Watchdog-Request(280)[R---]"
        )],
        EXCHANGE,
    );
    fd.wait_for(
        &[
            &format!("SND to '{RUST}': Device-Watchdog-Answer(280)[----]"),
            "'DIAMETER_SUCCESS' (2001",
        ],
        EXCHANGE,
    );

    node.stop(Duration::from_secs(10), false).unwrap();
    assert_eq!(count(&peer.counters.dpa), 1, "{}", fd.p().dump());
    fd.wait_for(
        &[
            &format!("RCV from '{RUST}': Disconnect-Peer-Request(282)[R---]"),
            "'REBOOTING' (0",
        ],
        EXCHANGE,
    );
    fd.wait_for(
        &[
            &format!("SND to '{RUST}': Disconnect-Peer-Answer(282)[----]"),
            "'DIAMETER_SUCCESS' (2001",
        ],
        EXCHANGE,
    );
}

#[test]
fn freediameter_sctp_client_rust_server() {
    const TEST: &str = "freediameter_sctp_client_rust_server";
    if !sctp_or_skip(TEST) {
        return;
    }
    let Some(binary) = freediameterd_or_skip(TEST) else {
        return;
    };
    let _address = VmAddress::add();

    let node = Node::new(
        RUST,
        "example.test",
        NodeOptions {
            ip_addresses: vec![address().parse().unwrap()],
            sctp_port: Some(0),
            ..Default::default()
        },
    );
    node.add_application_id(AppId::auth(4));
    let peer = node
        .add_peer(
            &format!("aaa://{FD};transport=sctp"),
            None,
            PeerOptions {
                ip_addresses: vec![address().parse().unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
    node.start().unwrap();
    // SCTP only: freeDiameter (No_TCP) can come in no other way
    assert!(node.listen_addresses_for(ListenTransport::Tcp).is_empty());
    let port = node.listen_addresses_for(ListenTransport::Sctp)[0].port();

    let mut fd = FreeDiameter::start(&binary, "fd-sctp-client", Role::Client { port });
    fd.wait_for(
        &[&format!(
            "SND to '{RUST}': Capabilities-Exchange-Request(257)[R---]"
        )],
        STARTUP,
    );
    fd.wait_for(
        &[
            &format!("RCV from '{RUST}': Capabilities-Exchange-Answer(257)[----]"),
            "'DIAMETER_SUCCESS' (2001",
        ],
        EXCHANGE,
    );
    assert_sctp_connection(&fd);
    fd.wait_for(&["-> 'STATE_OPEN'", &format!("'{RUST}'")], EXCHANGE);
    wait_until("ready", EXCHANGE, || peer.is_ready(), || fd.p().dump());
    assert_eq!(count(&peer.counters.cer), 1);
    let info = peer.status.lock().connection.clone().unwrap();
    assert_eq!(info.host_identity, FD);

    // freeDiameter's watchdog (TwTimer = 2 for this peer)
    fd.wait_for(
        &[&format!(
            "SND to '{RUST}': Device-Watchdog-Request(280)[R---]"
        )],
        EXCHANGE,
    );
    fd.wait_for(
        &[
            &format!("RCV from '{RUST}': Device-Watchdog-Answer(280)[----]"),
            "'DIAMETER_SUCCESS' (2001",
        ],
        EXCHANGE,
    );
    assert!(count(&peer.counters.dwr) >= 1);

    // SIGTERM: freeDiameter sends DPR to us, then exits
    fd.stop(Duration::from_secs(25));
    fd.wait_for(
        &[
            &format!("SND to '{RUST}': Disconnect-Peer-Request(282)[R---]"),
            "'REBOOTING' (0",
        ],
        EXCHANGE,
    );
    fd.wait_for(
        &[
            &format!("RCV from '{RUST}': Disconnect-Peer-Answer(282)[----]"),
            "'DIAMETER_SUCCESS' (2001",
        ],
        EXCHANGE,
    );
    wait_until(
        "our side sees the DPR",
        EXCHANGE,
        || count(&peer.counters.dpr) == 1 && peer.status.lock().connection.is_none(),
        || fd.p().dump(),
    );
    assert_eq!(
        peer.status.lock().disconnect_reason,
        Some(DISCONNECT_REASON_DPR)
    );
    assert_eq!(peer.status.lock().dpr_cause, Some(0));
    node.stop(Duration::from_secs(5), false).unwrap();
}
