//! The cc_client and cc_server examples against python-diameter 0.9.0:
//! cc_client loads a python-diameter Credit-Control server (cc_client's
//! report and the server's own count of CCAs sent are checked; cc_client
//! counts only 2001 answers as answered), and a python-diameter client talks
//! to cc_server (the client checks every CCA; cc_server must start, and stop
//! cleanly on SIGTERM with exit status 0).
//!
//! Without python-diameter these tests print "skipping: ..." and pass,
//! unless CI is set, where they fail. `cargo test` builds the examples.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::interop::{self, ok, PeerProcess, EXCHANGE, STARTUP};

use crate::support::example;

#[test]
fn cc_client_against_a_python_cc_server() {
    if !interop::require_python() {
        return;
    }
    let port = interop::free_port().to_string();
    let py = ok(PeerProcess::python_peer(
        "py-cc-server",
        &[
            "--origin-host",
            "pyocs.example.test",
            "--realm",
            "example.test",
            "--listen-port",
            &port,
            "--peer-uri",
            "aaa://pgw.example.test",
            "--cc-server",
            "--duration",
            "60",
        ],
    ));
    ok(py.wait_for_line("EVENT started", STARTUP));
    let out = Command::new(example("cc_client"))
        .args([
            "--peer",
            &format!("127.0.0.1:{port}"),
            "--peer-host",
            "pyocs.example.test",
            "--peer-realm",
            "example.test",
            "--origin-host",
            "pgw.example.test",
            "--realm",
            "example.test",
            "--requests",
            "40",
            "--concurrency",
            "4",
            "--timeout",
            "10",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        last.starts_with("requests=40 answered=40 errors=0 rate="),
        "{last}\n{}",
        py.dump()
    );
    assert!(
        last.contains(" p50_us=") && last.contains(" p99_us="),
        "{last}"
    );
    assert_eq!(
        ok(py.wait_for_count("EVENT recv CCR from=pgw.example.test", 40, EXCHANGE)),
        40,
        "{}",
        py.dump()
    );
    assert_eq!(
        ok(py.wait_for_count(
            "EVENT sent CCA to=pgw.example.test result=2001",
            40,
            EXCHANGE
        )),
        40,
        "{}",
        py.dump()
    );
}

#[test]
fn a_python_client_against_cc_server() {
    if !interop::require_python() {
        return;
    }
    let port = interop::free_port();
    // serves until SIGTERM (PeerProcess::signal_stop)
    let mut server = crate::support::cc_server(
        port,
        "ocs.example.test",
        "example.test",
        &["--max-threads", "4", "--allow-any"],
        &[],
    );
    let py = ok(PeerProcess::python_peer(
        "py-cc-client",
        &[
            "--origin-host",
            "pypgw.example.test",
            "--realm",
            "example.test",
            "--peer-uri",
            &format!("aaa://ocs.example.test:{port};transport=tcp"),
            "--persistent",
            "--cc-client",
            "5",
            "--duration",
            "60",
        ],
    ));
    let done = py.wait_for_line(
        "EVENT cc-client done ok=5 failed=0",
        Duration::from_secs(30),
    );
    ok(done);
    ok(py.wait_for_all(
        &[
            "EVENT recv CEA from=ocs.example.test origin=ocs.example.test result=2001",
            "EVENT cca n=1 result=2001 type=1 number=0",
            "EVENT cca n=5 result=2001 type=3 number=4",
        ],
        STARTUP,
    ));
    // the server stops cleanly when asked
    let status = ok(server.signal_stop(libc::SIGTERM, Duration::from_secs(15)));
    assert!(status.success(), "{}", server.dump());
}
