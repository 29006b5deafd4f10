//! `cc_server` the way a service manager runs it: started with standard
//! input closed (`Stdio::null()`), it keeps serving; SIGTERM makes it stop
//! its node, which sends DPR with Disconnect-Cause REBOOTING to the connected
//! peer, and exit with status 0.
//!
//! The peer is a raw socket (tests/it/support/raw.rs): CER/CEA, a CCR and its
//! CCA, then the DPR read off the wire and answered with a DPA. Everything is
//! bounded in time, and the server is killed on every path (a guard).
//! `cargo test` builds the examples (to run this test alone, build them
//! first: `cargo build --examples`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::support::raw::{closed_by_peer, result_code, RawPeer};
use diameter::message::constants::*;
use diameter::message::{Avp, Message};

use crate::support::{example, holds_for, poll_until};

/// A child process that is killed (and reaped) when the guard drops, so a
/// failing test leaves nothing running.
struct Guard(Child);

impl Guard {
    /// Its exit status once it exits, waiting up to `limit`; `None` if it is
    /// still running then.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        poll_until(limit, || {
            status = self.0.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Sends `signal` to the child (still running: it was not reaped).
    fn signal(&mut self, signal: i32) {
        assert!(
            matches!(self.0.try_wait(), Ok(None)),
            "the server exited already"
        );
        let pid = libc::pid_t::try_from(self.0.id()).unwrap();
        // SAFETY: kill(2) on our own child, not reaped yet (checked above).
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts cc_server on a free loopback port with standard input closed;
/// returns it once it printed its "listening" line, and the address.
fn start_cc_server() -> (Guard, SocketAddr) {
    let port = crate::support::interop::free_port();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(example("cc_server"))
        .args([
            "--listen",
            &listen.to_string(),
            "--origin-host",
            "ocs.example.test",
            "--realm",
            "example.test",
            "--allow-any",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Guard(child);
    let stdout = server.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("cc_server printed nothing within 20 s");
    assert!(
        line.starts_with("cc_server ocs.example.test listening on 127.0.0.1:"),
        "{line}"
    );
    (server, listen)
}

/// CCR number `n` of one session from the raw peer.
fn ccr(raw: &mut RawPeer, n: u32) -> Message {
    raw.request(
        CMD_CREDIT_CONTROL,
        APP_DIAMETER_CREDIT_CONTROL_APPLICATION,
        vec![
            Avp::new(AVP_SESSION_ID, 0, "pgw.example.test;1;1").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "example.test").unwrap(),
            Avp::new(
                AVP_AUTH_APPLICATION_ID,
                0,
                APP_DIAMETER_CREDIT_CONTROL_APPLICATION,
            )
            .unwrap(),
            Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, n).unwrap(),
        ],
    )
}

/// Sends CCR `n` and checks its CCA: same identifiers, 2001, the request's
/// CC-Request-Number.
fn check_ccr(raw: &mut RawPeer, n: u32) {
    let request = ccr(raw, n);
    let answer = raw.exchange(&request.as_bytes().unwrap()).expect("a CCA");
    assert_eq!(answer.header.command_code, CMD_CREDIT_CONTROL);
    assert!(!answer.header.is_request(), "{answer}");
    assert_eq!(
        answer.header.hop_by_hop_identifier,
        request.header.hop_by_hop_identifier
    );
    assert_eq!(result_code(&answer), Some(2001), "{answer}");
    assert_eq!(
        answer
            .find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
            .and_then(Avp::as_u32),
        Some(n),
        "{answer}"
    );
}

/// The next message that is not a DWR, answering DWRs on the way (the
/// server's watchdog may fire in between); `None` when the connection ends
/// or nothing comes for 5 s.
fn next_but_watchdogs(raw: &mut RawPeer) -> Option<Message> {
    loop {
        let m = raw.recv()?;
        if m.header.command_code == CMD_DEVICE_WATCHDOG && m.header.is_request() {
            let dwa = answer_from(raw, &m);
            raw.send(&dwa.as_bytes().unwrap());
            continue;
        }
        return Some(m);
    }
}

/// A 2001 answer from the raw peer to `request`.
fn answer_from(raw: &RawPeer, request: &Message) -> Message {
    let mut answer = request.to_answer();
    answer.append_avp(Avp::new(AVP_RESULT_CODE, 0, E_RESULT_CODE_DIAMETER_SUCCESS).unwrap());
    answer.append_avp(Avp::new(AVP_ORIGIN_HOST, 0, raw.host.as_str()).unwrap());
    answer.append_avp(Avp::new(AVP_ORIGIN_REALM, 0, raw.realm.as_str()).unwrap());
    answer
}

#[test]
fn cc_server_with_stdin_closed_serves_until_sigterm_then_sends_dpr_and_exits_0() {
    let (mut server, addr) = start_cc_server();

    // Standard input is closed from the start; the server must not take
    // that as a reason to stop: it keeps running, and serving, a while.
    holds_for(
        "cc_server running with its standard input closed",
        Duration::from_secs(2),
        || server.wait_exit(Duration::ZERO).is_none(),
    );
    let mut raw = RawPeer::connect(addr, "pgw.example.test", "example.test");
    check_ccr(&mut raw, 0);
    holds_for("cc_server running", Duration::from_secs(1), || {
        server.wait_exit(Duration::ZERO).is_none()
    });
    check_ccr(&mut raw, 1);

    server.signal(libc::SIGTERM);
    let dpr = next_but_watchdogs(&mut raw).expect("a DPR after SIGTERM");
    assert_eq!(dpr.header.command_code, CMD_DISCONNECT_PEER, "{dpr}");
    assert!(dpr.header.is_request(), "{dpr}");
    assert_eq!(
        dpr.find_avp(&[(AVP_DISCONNECT_CAUSE, 0)])
            .and_then(Avp::as_i32),
        Some(E_DISCONNECT_CAUSE_REBOOTING),
        "{dpr}"
    );
    assert_eq!(
        dpr.find_avp(&[(AVP_ORIGIN_HOST, 0)])
            .and_then(|a| a.as_str().map(str::to_string)),
        Some("ocs.example.test".to_string()),
        "{dpr}"
    );
    let dpa = answer_from(&raw, &dpr);
    raw.send(&dpa.as_bytes().unwrap());

    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("cc_server still running 20 s after SIGTERM");
    assert!(status.success(), "cc_server exited with {status}");
    assert!(
        closed_by_peer(&mut raw.stream),
        "the connection is still open after the server exited"
    );
}

#[test]
fn cc_server_stops_on_sigint_too() {
    let (mut server, addr) = start_cc_server();
    let mut raw = RawPeer::connect(addr, "pgw.example.test", "example.test");
    check_ccr(&mut raw, 0);

    server.signal(libc::SIGINT);
    let dpr = next_but_watchdogs(&mut raw).expect("a DPR after SIGINT");
    assert_eq!(dpr.header.command_code, CMD_DISCONNECT_PEER, "{dpr}");
    let dpa = answer_from(&raw, &dpr);
    raw.send(&dpa.as_bytes().unwrap());
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("cc_server still running 20 s after SIGINT");
    assert!(status.success(), "cc_server exited with {status}");
}
