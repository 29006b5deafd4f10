//! Proves the interoperability harness (tests/it/support/interop.rs and the
//! scripts in tests/interop/) by making the two independent peers talk to
//! each other on 127.0.0.1: python-diameter 0.9.0 and freeDiameter 1.2.
//! Each side's own output must show CER/CEA, DWR/DWA and DPR/DPA.
//!
//! Without the peers installed these tests print "skipping: ..." and pass,
//! unless CI is set, where they fail.

use crate::support::interop::{self, ok, PeerProcess, EXCHANGE, STARTUP};
use std::time::{Duration, Instant};

/// python-diameter listens, freeDiameter connects (ConnectPeer) and sends the
/// watchdogs (its peer TwTimer of 2 s: one every 0..4 s), then freeDiameter
/// stops and sends DPR.
#[test]
fn python_server_freediameter_client() {
    if !interop::require_python() || !interop::require_freediameter() {
        return;
    }
    let t0 = Instant::now();
    let port = interop::free_port().to_string();
    let mut py = ok(PeerProcess::python_peer(
        "py-server",
        &[
            "--origin-host",
            "py1.example.test",
            "--realm",
            "example.test",
            "--listen-port",
            &port,
            "--peer-uri",
            "aaa://fd1.example.test",
            // python would send a DWR after 30 s of silence: freeDiameter's
            // come first.
            "--idle-timeout",
            "30",
            "--duration",
            "60",
        ],
    ));
    ok(py.wait_for_line("EVENT started", STARTUP));

    let mut fd = ok(PeerProcess::freediameter(
        "fd-client",
        &[
            "--role",
            "client",
            "--identity",
            "fd1.example.test",
            "--peer",
            "py1.example.test",
            "--peer-port",
            &port,
            "--peer-tw",
            "2",
            "--duration",
            "60",
        ],
    ));

    // CER/CEA
    ok(fd.wait_for_all(
        &[
            "EVENT sent CER to=py1.example.test",
            "EVENT recv CEA from=py1.example.test origin=py1.example.test result=2001",
            "EVENT ready peer=py1.example.test",
        ],
        STARTUP,
    ));
    ok(fd.wait_for_line(
        "'STATE_WAITCEA'\t-> 'STATE_OPEN'\t'py1.example.test'",
        EXCHANGE,
    ));
    ok(py.wait_for_all(
        &[
            "EVENT recv CER from=fd1.example.test origin=fd1.example.test",
            "EVENT sent CEA to=fd1.example.test result=2001",
            "EVENT ready peer=fd1.example.test",
        ],
        EXCHANGE,
    ));

    // DWR/DWA, freeDiameter asking
    ok(fd.wait_for_all(
        &[
            "EVENT sent DWR to=py1.example.test",
            "EVENT recv DWA from=py1.example.test result=2001",
        ],
        EXCHANGE,
    ));
    ok(py.wait_for_all(
        &[
            "EVENT recv DWR from=fd1.example.test",
            "EVENT sent DWA to=fd1.example.test result=2001",
        ],
        EXCHANGE,
    ));

    // DPR/DPA, freeDiameter leaving
    let status = ok(fd.stop(Duration::from_secs(25)));
    assert!(
        status.success(),
        "freediameter.py exited {status}\n{}",
        fd.dump()
    );
    ok(fd.wait_for_all(
        &[
            "EVENT stopping reason=stdin-closed",
            "EVENT sent DPR to=py1.example.test cause=0",
            "EVENT recv DPA from=py1.example.test result=2001",
            "EVENT stopped rc=0",
        ],
        EXCHANGE,
    ));
    ok(py.wait_for_all(
        &[
            "EVENT recv DPR from=fd1.example.test cause=0",
            "EVENT sent DPA to=fd1.example.test result=2001",
            "EVENT disconnected peer=fd1.example.test reason=DPR",
        ],
        EXCHANGE,
    ));
    assert_eq!(py.count("EVENT recv CER"), 1, "{}", py.dump());

    let status = ok(py.stop(Duration::from_secs(15)));
    assert!(
        status.success(),
        "python_peer.py exited {status}\n{}",
        py.dump()
    );
    ok(py.wait_for_line("EVENT stopped", EXCHANGE));
    eprintln!("python_server_freediameter_client: {:?}", t0.elapsed());
}

/// freeDiameter listens (acl_wl lets *.example.test in), python-diameter
/// connects and sends the watchdogs (idle timeout 2 s; each one restarts
/// freeDiameter's own Tw timer), sends one CCR that freeDiameter, a relay
/// with nowhere to route it, answers with 3002, and then python-diameter
/// stops and sends DPR.
#[test]
fn freediameter_server_python_client() {
    if !interop::require_python() || !interop::require_freediameter() {
        return;
    }
    let t0 = Instant::now();
    let port = interop::free_port().to_string();
    let mut fd = ok(PeerProcess::freediameter(
        "fd-server",
        &[
            "--role",
            "server",
            "--identity",
            "fd2.example.test",
            "--port",
            &port,
            "--allow",
            "*.example.test",
            "--duration",
            "60",
        ],
    ));
    ok(fd.wait_for_line("EVENT started", STARTUP));

    let mut py = ok(PeerProcess::python_peer(
        "py-client",
        &[
            "--origin-host",
            "py2.example.test",
            "--realm",
            "example.test",
            "--peer-uri",
            &format!("aaa://fd2.example.test:{port};transport=tcp"),
            "--persistent",
            "--idle-timeout",
            "2",
            "--cc-client",
            "1",
            "--duration",
            "60",
        ],
    ));

    // CER/CEA
    ok(py.wait_for_all(
        &[
            "EVENT sent CER to=fd2.example.test",
            "EVENT recv CEA from=fd2.example.test origin=fd2.example.test result=2001",
            "EVENT ready peer=fd2.example.test",
        ],
        STARTUP,
    ));
    ok(fd.wait_for_all(
        &[
            "EVENT recv CER from=py2.example.test origin=py2.example.test",
            "EVENT sent CEA to=py2.example.test result=2001",
            "EVENT ready peer=py2.example.test",
            "'STATE_CLOSED'\t-> 'STATE_OPEN'\t'py2.example.test'",
        ],
        EXCHANGE,
    ));

    // An application request through freeDiameter's relay
    ok(py.wait_for_line("EVENT cca n=1 result=3002", EXCHANGE));
    ok(fd.wait_for_all(
        &[
            "EVENT recv CCR from=py2.example.test",
            "EVENT sent CCA to=py2.example.test result=3002 error_bit=1",
        ],
        EXCHANGE,
    ));

    // DWR/DWA, python-diameter asking
    ok(py.wait_for_all(
        &[
            "EVENT sent DWR to=fd2.example.test",
            "EVENT recv DWA from=fd2.example.test result=2001",
        ],
        EXCHANGE,
    ));
    ok(fd.wait_for_all(
        &[
            "EVENT recv DWR from=py2.example.test",
            "EVENT sent DWA to=py2.example.test result=2001",
        ],
        EXCHANGE,
    ));

    // DPR/DPA, python-diameter leaving
    let status = ok(py.stop(Duration::from_secs(15)));
    assert!(
        status.success(),
        "python_peer.py exited {status}\n{}",
        py.dump()
    );
    ok(py.wait_for_all(
        &[
            "EVENT stopping reason=stdin-closed",
            "EVENT sent DPR to=fd2.example.test cause=0",
            "EVENT recv DPA from=fd2.example.test result=2001",
            "EVENT disconnected peer=fd2.example.test",
            "EVENT stopped",
        ],
        EXCHANGE,
    ));
    ok(fd.wait_for_all(
        &[
            "EVENT recv DPR from=py2.example.test cause=0",
            "Peer 'py2.example.test' sent a DPR with cause: REBOOTING",
            "EVENT sent DPA to=py2.example.test result=2001",
            "EVENT disconnected peer=py2.example.test",
        ],
        EXCHANGE,
    ));

    let status = ok(fd.stop(Duration::from_secs(25)));
    assert!(
        status.success(),
        "freediameter.py exited {status}\n{}",
        fd.dump()
    );
    ok(fd.wait_for_line("EVENT stopped rc=0", EXCHANGE));
    eprintln!("freediameter_server_python_client: {:?}", t0.elapsed());
}

/// The Credit-Control options of python_peer.py, python-diameter on both
/// sides: CCR-I, CCR-U, CCR-T answered with 2001 (+ Granted-Service-Unit).
#[test]
fn python_credit_control_both_sides() {
    if !interop::require_python() {
        return;
    }
    let port = interop::free_port().to_string();
    let mut server = ok(PeerProcess::python_peer(
        "py-cc-server",
        &[
            "--origin-host",
            "ocs.example.test",
            "--realm",
            "example.test",
            "--listen-port",
            &port,
            "--peer-uri",
            "aaa://pcef.example.test",
            "--cc-server",
            "--granted-time",
            "600",
            "--duration",
            "60",
        ],
    ));
    ok(server.wait_for_line("EVENT started", STARTUP));
    let mut client = ok(PeerProcess::python_peer(
        "py-cc-client",
        &[
            "--origin-host",
            "pcef.example.test",
            "--realm",
            "example.test",
            "--peer-uri",
            &format!("aaa://ocs.example.test:{port};transport=tcp"),
            "--persistent",
            "--cc-client",
            "3",
            "--duration",
            "60",
        ],
    ));
    ok(client.wait_for_all(
        &[
            "EVENT ready peer=ocs.example.test auth_apps=[4]",
            "EVENT cca n=1 result=2001 type=1 number=0 granted_time=600",
            "EVENT cca n=2 result=2001 type=2 number=1 granted_time=600",
            "EVENT cca n=3 result=2001 type=3 number=2 granted_time=None",
            "EVENT cc-client done ok=3 failed=0",
        ],
        EXCHANGE,
    ));
    assert_eq!(
        ok(server.wait_for_count(
            "EVENT sent CCA to=pcef.example.test result=2001",
            3,
            EXCHANGE
        )),
        3
    );
    assert!(ok(client.stop(Duration::from_secs(15))).success());
    ok(server.wait_for_line("EVENT recv DPR from=pcef.example.test cause=0", EXCHANGE));
    assert!(ok(server.stop(Duration::from_secs(15))).success());
}

/// The harness itself: line matching, failure messages, stop and Drop.
#[test]
fn peer_process_basics() {
    if !interop::require_python() {
        return;
    }
    let mut p = ok(PeerProcess::spawn(
        "echo",
        &interop::python(),
        &[
            "-c".to_string(),
            "import sys\nprint('one')\nprint('two', file=sys.stderr)\nsys.stdout.flush()\n\
             for line in sys.stdin: print('got', line.strip(), flush=True)"
                .to_string(),
        ],
    ));
    assert_eq!(ok(p.wait_for_line("one", STARTUP)), "one");
    assert_eq!(ok(p.wait_for_line("two", STARTUP)), "[stderr] two");
    let mark = p.mark();
    ok(p.send_line("hello"));
    let (i, line) = ok(p.wait_for_line_from(mark, "got", EXCHANGE));
    assert!(i >= mark);
    assert_eq!(line, "got hello");
    let err = p
        .wait_for_line("never printed", Duration::from_millis(200))
        .unwrap_err();
    assert!(
        err.contains("never printed") && err.contains("got hello"),
        "{err}"
    );
    assert!(ok(p.stop(EXCHANGE)).success());
    let err = p.wait_for_line("never printed", EXCHANGE).unwrap_err();
    assert!(
        err.contains("output ended") && err.contains("exited"),
        "{err}"
    );
}
