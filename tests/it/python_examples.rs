//! python-diameter's own examples against their Rust ports, both ways, on
//! loopback:
//!
//! - `examples/idle_client.py` with the Rust `idle_server`, and the Rust
//!   `idle_client` with `examples/idle_server.py`: both sides exchange
//!   CER/CEA: python logs the peer ready ("is now ready"), the Rust side's
//!   message log shows the CEA 2001 it sent or received; the side stopped
//!   first sends DPR with Disconnect-Cause REBOOTING, which the other's
//!   message log shows, and both exit with status 0.
//! - `examples/credit_control_sms_client.py` with the Rust `cc_server`: python
//!   prints `2001` and logs the CCA it received (2001, a
//!   Granted-Service-Unit), and cc_server's message log shows the SMS CCR
//!   received and python's DPR; the Rust `credit_control_sms_client` with a
//!   python-diameter Credit-Control server (tests/interop/python_peer.py):
//!   the port prints `2001` and logs the CCA 2001 it received, the server
//!   reports the CER, the EVENT CCR received, the CCA 2001 sent and the
//!   port's DPR.
//! - The complete script of python's guide, docs/guide/sample_application.md,
//!   and the Rust `sample_application`, in the same two pairings.
//!
//! python's scripts come from python-diameter 0.9.0's source distribution,
//! fetched once with `pip download` into this crate's target folder
//! (tests/interop/python_example.py does it, and runs a script). They run
//! unmodified but for their fixed ports and the SMS client's peer address:
//! python_example.py replaces those literals (6090, 6091, `aaa://ocs.gy`,
//! 10.0.0.50) with free loopback ports and 127.0.0.1, and fails if one is
//! not found. The SMS client scripts also run with
//! `--start-with-applications`: they start their node before adding their
//! application, a race that loopback loses often enough (their CER would
//! advertise no application); the wrapper makes `node.start()` take effect
//! once the application is added, which is the order the Rust ports use. 127.0.0.2, which the idle examples use too, is loopback on
//! Linux. Without python-diameter (or its source distribution) these tests
//! print "skipping: ..." and pass, unless CI is set, where they fail.
//!
//! The Rust examples are the binaries `cargo test` builds (with
//! `cargo test --test python_examples`, build them first:
//! `cargo build --examples`). Every process is stopped on every path
//! (`PeerProcess` kills what is left when dropped).

use std::path::PathBuf;
use std::time::Duration;

use crate::support::interop::{self, ok, PeerProcess, EXCHANGE, STARTUP};

/// How long a node may take to stop (python-diameter joins its threads,
/// which poll every few seconds).
const STOP: Duration = Duration::from_secs(40);

/// An example binary built next to this test's own executable.
fn example(name: &str) -> String {
    crate::support::example(name).to_string_lossy().into_owned()
}

/// Where python-diameter's source distribution is cached.
fn sdist_dir() -> String {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("python-diameter-sdist")
        .to_string_lossy()
        .into_owned()
}

/// python_example.py with its `--sdist-dir` and then `args`.
fn wrapper_args(args: &[&str]) -> Vec<String> {
    let mut full = vec![
        interop::interop_dir()
            .join("python_example.py")
            .to_string_lossy()
            .into_owned(),
        "--sdist-dir".to_string(),
        sdist_dir(),
    ];
    full.extend(args.iter().map(|a| a.to_string()));
    full
}

/// True when python-diameter and its examples are there (fetching them if
/// needed); otherwise skips, or fails under CI.
fn require_python_examples() -> bool {
    if !interop::require_python() {
        return false;
    }
    let args = wrapper_args(&["--fetch-only"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    interop::require(
        interop::runs_ok(&interop::python(), &args),
        "python-diameter 0.9.0's source distribution (its examples), fetched with pip download",
    )
}

/// Runs python's `script` (a path inside the source distribution) with the
/// literal replacements `(old, new)` and python_example.py's `options`.
fn python_example(
    name: &str,
    script: &str,
    replace: &[(&str, &str)],
    options: &[&str],
) -> PeerProcess {
    let mut args = vec!["--script", script];
    args.extend(options);
    for (old, new) in replace {
        args.extend(["--replace", old, new]);
    }
    ok(PeerProcess::spawn(
        name,
        &interop::python(),
        &wrapper_args(&args),
    ))
}

/// Runs the Rust example `name` with `args` and `RUST_LOG`.
fn rust_example(name: &str, args: &[&str], rust_log: &str) -> PeerProcess {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    ok(PeerProcess::spawn_with_env(
        name,
        &example(name),
        &args,
        &[("RUST_LOG", rust_log)],
    ))
}

/// The Disconnect-Cause AVP of a DPR sent by `node.stop()`, as the message
/// log (python's and the Rust one alike) shows it.
const DISCONNECT_CAUSE_REBOOTING: &str =
    "Disconnect-Cause <Code: 0x111, Flags: 0x40 (-M-), Length: 12, Val: 0>";

/// A Result-Code 2001 AVP, as the message log shows it.
const RESULT_CODE_SUCCESS: &str =
    "Result-Code <Code: 0x10c, Flags: 0x40 (-M-), Length: 12, Val: 2001>";

/// A free TCP port, as text.
fn port() -> String {
    interop::free_port().to_string()
}

/// Whether the lines of `p` hold a message block (the stack's message log:
/// a `RECV`/`SENT` line, the command's line, its AVPs) that starts with
/// `head` and whose next line contains `command` and every one of `avps`
/// appears before the block ends (an empty line).
fn has_message(p: &PeerProcess, head: &str, command: &str, avps: &[&str]) -> bool {
    // the log is on standard error; lines the program prints on standard
    // output (python's `print(cca.result_code)`) can land between a
    // block's lines, so they are left out
    let lines: Vec<String> = p
        .lines_so_far()
        .into_iter()
        .filter(|l| l.starts_with("[stderr] "))
        .collect();
    lines.iter().enumerate().any(|(i, line)| {
        if !line.contains(head) {
            return false;
        }
        let Some(first) = lines.get(i + 1) else {
            return false;
        };
        if !first.contains(command) {
            return false;
        }
        let body: Vec<&String> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.trim_start_matches("[stderr] ").is_empty())
            .collect();
        avps.iter().all(|a| body.iter().any(|l| l.contains(a)))
    })
}

/// Waits until `p` logged a message block like `has_message` looks for.
fn wait_for_message(p: &PeerProcess, head: &str, command: &str, avps: &[&str]) {
    wait_for_message_within(p, head, command, avps, EXCHANGE);
}

/// `wait_for_message`, waiting up to `timeout`.
fn wait_for_message_within(
    p: &PeerProcess,
    head: &str,
    command: &str,
    avps: &[&str],
    timeout: Duration,
) {
    interop::wait_until(
        &format!("{}: {head} {command} with {avps:?}", p.name()),
        timeout,
        || has_message(p, head, command, avps),
        || p.dump(),
    );
}

/// Stops `p` with `signal`; it must exit with status 0.
fn stop_ok(p: &mut PeerProcess, signal: i32) {
    let status = ok(p.signal_stop(signal, STOP));
    assert!(
        status.success(),
        "{} exited with {status}\n{}",
        p.name(),
        p.dump()
    );
}

#[test]
fn python_idle_client_with_rust_idle_server() {
    if !require_python_examples() {
        return;
    }
    let (server_port, client_port) = (port(), port());
    // idle_client.py listens on 127.0.0.2:6091 and waits for relay1
    let mut py = python_example(
        "idle_client.py",
        "examples/idle_client.py",
        &[("tcp_port=6091", &format!("tcp_port={client_port}"))],
        &[],
    );
    // the Rust idle_server connects to it (python's idle_server.py does)
    let mut rust = rust_example(
        "idle_server",
        &["--port", &server_port, "--peer-port", &client_port],
        "debug",
    );
    // the Rust side got python's CEA 2001 (its message log, in python's
    // format); python's side logs the peer ready
    wait_for_message_within(
        &rust,
        "RECV relay2.test.realm",
        "Capabilities-Exchange <",
        &[RESULT_CODE_SUCCESS],
        STARTUP,
    );
    ok(py.wait_for_line("is now ready", STARTUP));

    // the Rust side stops first: DPR (REBOOTING) to python, then exit 0
    stop_ok(&mut rust, libc::SIGTERM);
    wait_for_message(
        &py,
        "RECV relay1.test.realm",
        "Disconnect-Peer <",
        &[DISCONNECT_CAUSE_REBOOTING],
    );
    // python's KeyboardInterrupt
    stop_ok(&mut py, libc::SIGINT);
}

#[test]
fn rust_idle_client_with_python_idle_server() {
    if !require_python_examples() {
        return;
    }
    let (server_port, client_port) = (port(), port());
    let mut rust = rust_example("idle_client", &["--port", &client_port], "debug");
    // idle_server.py listens on 127.0.0.1:6090 and connects to relay2 at
    // 127.0.0.2:6091 (retrying every 5 s until the Rust client listens)
    let mut py = python_example(
        "idle_server.py",
        "examples/idle_server.py",
        &[
            ("tcp_port=6090", &format!("tcp_port={server_port}")),
            (
                "aaa://relay2.test.realm:6091",
                &format!("aaa://relay2.test.realm:{client_port}"),
            ),
        ],
        &[],
    );
    // the Rust side answered python's CER with a CEA 2001; python's side
    // logs the peer ready
    wait_for_message_within(
        &rust,
        "SENT relay1.test.realm",
        "Capabilities-Exchange <",
        &[RESULT_CODE_SUCCESS],
        STARTUP,
    );
    ok(py.wait_for_line("is now ready", STARTUP));

    // python stops first (KeyboardInterrupt): its DPR reaches the Rust side
    stop_ok(&mut py, libc::SIGINT);
    wait_for_message(
        &rust,
        "RECV relay1.test.realm",
        "Disconnect-Peer <",
        &[DISCONNECT_CAUSE_REBOOTING],
    );
    stop_ok(&mut rust, libc::SIGTERM);
}

/// python's SMS charging client (`script`: the example or the guide's
/// complete script) against the Rust cc_server.
fn python_sms_client_with_cc_server(script: &str) {
    if !require_python_examples() {
        return;
    }
    let server_port = port();
    let mut server = rust_example(
        "cc_server",
        &[
            "--listen",
            &format!("127.0.0.1:{server_port}"),
            "--origin-host",
            "ocs.gy",
            "--realm",
            "testrealm.local",
            "--client-host",
            "smsgw.gy",
        ],
        "info,diameter.peer.msg=debug",
    );
    ok(server.wait_for_line("cc_server ocs.gy listening on", STARTUP));
    let mut py = python_example(
        script,
        script,
        &[
            (
                "\"aaa://ocs.gy\"",
                &format!("\"aaa://ocs.gy:{server_port}\""),
            ),
            ("10.0.0.50", "127.0.0.1"),
        ],
        // the script starts its node before it adds its application: on
        // loopback the CER could leave without it (see python_example.py)
        &["--start-with-applications"],
    );
    // python's side: `print(cca.result_code)`, then its node stops and the
    // script ends
    ok(py.wait_for(0, "the line 2001", STARTUP, |l| l == "2001"));
    let status = ok(py.stop(STOP));
    assert!(
        status.success(),
        "{} exited with {status}\n{}",
        py.name(),
        py.dump()
    );
    // ... and its message log shows the whole CCA: cc_server's 2001 and
    // its Granted-Service-Unit
    wait_for_message(
        &py,
        "RECV ocs.gy",
        "Credit-Control <",
        &[
            RESULT_CODE_SUCCESS,
            "CC-Request-Number <Code: 0x19f, Flags: 0x40 (-M-), Length: 12, Val: 1>",
            "Granted-Service-Unit",
            "CC-Total-Octets <Code: 0x1a5, Flags: 0x40 (-M-), Length: 16, Val: 1000000>",
        ],
    );
    // the server's side: the SMS CCR in, then python's DPR (the Rust stack
    // does not log the answers its applications send)
    wait_for_message(
        &server,
        "RECV smsgw.gy",
        "Credit-Control <",
        &[
            "CC-Request-Type <Code: 0x1a0, Flags: 0x40 (-M-), Length: 12, Val: 4>",
            "Service-Context-Id <Code: 0x1cd, Flags: 0x40 (-M-), Length: 22, Val: 32274@3gpp.org>",
            "Subscription-Id-Data <Code: 0x1bc, Flags: 0x40 (-M-), Length: 19, Val: 41780000001>",
            "Address-Data",
            "41780000002",
        ],
    );
    wait_for_message(
        &server,
        "RECV smsgw.gy",
        "Disconnect-Peer <",
        &[DISCONNECT_CAUSE_REBOOTING],
    );
    stop_ok(&mut server, libc::SIGTERM);
}

/// The Rust port `name` of python's SMS charging client against a
/// python-diameter Credit-Control server.
fn rust_sms_client_with_python_server(name: &str) {
    if !require_python_examples() {
        return;
    }
    let server_port = port();
    let mut py = ok(PeerProcess::python_peer(
        "py-ocs",
        &[
            "--origin-host",
            "ocs.gy",
            "--realm",
            "testrealm.local",
            "--listen-port",
            &server_port,
            "--peer-uri",
            "aaa://smsgw.gy",
            "--cc-server",
            "--duration",
            "60",
        ],
    ));
    ok(py.wait_for_line("EVENT started", STARTUP));
    let mut client = rust_example(
        name,
        &["--peer", &format!("127.0.0.1:{server_port}")],
        "info,diameter.peer.msg=debug",
    );
    // the client's side: it prints the Result-Code and exits 0 after its DPR
    ok(client.wait_for(0, "the line 2001", STARTUP, |l| l == "2001"));
    let status = ok(client.stop(STOP));
    assert!(
        status.success(),
        "{name} exited with {status}\n{}",
        client.dump()
    );
    wait_for_message(
        &client,
        "RECV ocs.gy",
        "Credit-Control <",
        &[RESULT_CODE_SUCCESS],
    );
    // the server's side
    ok(py.wait_for_all(
        &[
            "EVENT recv CER from=smsgw.gy",
            "EVENT sent CEA to=smsgw.gy result=2001",
            "EVENT recv CCR from=smsgw.gy type=4 number=1",
            "EVENT sent CCA to=smsgw.gy result=2001 type=4 number=1",
            "EVENT recv DPR from=smsgw.gy cause=0",
        ],
        EXCHANGE,
    ));
    stop_ok(&mut py, libc::SIGTERM);
}

#[test]
fn python_credit_control_sms_client_with_rust_cc_server() {
    python_sms_client_with_cc_server("examples/credit_control_sms_client.py");
}

#[test]
fn rust_credit_control_sms_client_with_python_cc_server() {
    rust_sms_client_with_python_server("credit_control_sms_client");
}

#[test]
fn python_sample_application_with_rust_cc_server() {
    python_sms_client_with_cc_server("docs/guide/sample_application.md");
}

#[test]
fn rust_sample_application_with_python_cc_server() {
    rust_sms_client_with_python_server("sample_application");
}
