//! Two Rust nodes over SCTP on loopback: CER/CEA, CCR/CCA, DWR/DWA and
//! DPR/DPA, and a multi-homed association that survives losing one of its
//! addresses.
//!
//! Where the kernel has no SCTP, every test checks that the node says so
//! (`NodeError::SctpUnavailable` from `add_peer()` and `start()`) and prints
//! why the rest is skipped. `.ci/run` also runs this file in a VM whose
//! kernel has SCTP (tools/sctp-vm), where `DIAMETER_SCTP_VM=1` allows the
//! multi-homing test to add and delete an address on the loopback interface.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diameter::message::constants::*;
use diameter::message::{Avp, Message, MessageHeader};
use diameter::node::application::{AppBase, Application, HandlerResult, ThreadingApplication};
use diameter::node::peer::*;
use diameter::node::{ListenTransport, Node, NodeError, NodeOptions, PeerOptions};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Whether the kernel has SCTP. When it has not, checks that the node
/// refuses SCTP with a clear error, prints why the test stops there, and
/// returns false.
fn sctp_or_skip(test: &str) -> bool {
    let mut n = Node::new(
        "probe.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec![ip("127.0.0.1")],
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

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Requests received from `peer` other than CER, DWR and DPR.
fn app_requests(peer: &Peer) -> u64 {
    let c = &peer.counters;
    count(&c.requests) - count(&c.cer) - count(&c.dwr) - count(&c.dpr)
}

/// Answers received from `peer` other than CEA, DWA and DPA.
#[allow(dead_code)]
fn app_answers(peer: &Peer) -> u64 {
    let c = &peer.counters;
    count(&c.answers) - count(&c.cea) - count(&c.dwa) - count(&c.dpa)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ccr(n: u32) -> Message {
    let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
    h.set_request(true);
    h.set_proxyable(true);
    Message::new(
        h,
        vec![
            Avp::new(AVP_SESSION_ID, 0, format!("pgw.example.net;1;{n}")).unwrap(),
            Avp::new(AVP_ORIGIN_HOST, 0, "pgw.example.net").unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, "example.net").unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, "example.net").unwrap(),
            Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
            Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, n).unwrap(),
        ],
    )
}

fn answer(app: &AppBase, req: Message) -> HandlerResult {
    let mut a = app.generate_answer(&req, Some(E_RESULT_CODE_DIAMETER_SUCCESS), None);
    let number = req
        .find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
        .and_then(Avp::as_u32)
        .unwrap_or(0);
    a.avps
        .push(Avp::new(AVP_CC_REQUEST_NUMBER, 0, number).unwrap());
    Ok(Some(a))
}

/// The OCS: an SCTP listener on `addresses`, answering CCRs.
fn server(addresses: &[&str]) -> (Node, Arc<Peer>) {
    let mut n = Node::new(
        "ocs.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: addresses.iter().map(|a| ip(a)).collect(),
            sctp_port: Some(0),
            ..Default::default()
        },
    );
    let client = n
        .add_peer(
            "aaa://pgw.example.net;transport=sctp",
            None,
            PeerOptions::default(),
        )
        .unwrap();
    n.add_application(
        ThreadingApplication::new(AppBase::auth(4), 4, answer),
        [&client],
        &[],
    );
    n.start().unwrap();
    (n, client)
}

/// The PGW: connects over SCTP to every address in `remote`, from `local`.
fn client(
    local: &[&str],
    port: u16,
    remote: &[&str],
    idle: Duration,
) -> (Node, Arc<Peer>, Arc<ThreadingApplication>) {
    let mut n = Node::new(
        "pgw.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: local.iter().map(|a| ip(a)).collect(),
            ..Default::default()
        },
    );
    n.idle_timeout = idle;
    let peer = n
        .add_peer(
            &format!("aaa://ocs.example.net:{port};transport=sctp"),
            None,
            PeerOptions {
                ip_addresses: remote.iter().map(|a| ip(a)).collect(),
                is_persistent: true,
                ..Default::default()
            },
        )
        .unwrap();
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    n.add_application(app.clone(), [&peer], &[]);
    n.start().unwrap();
    (n, peer, app)
}

fn exchange(app: &ThreadingApplication, range: std::ops::Range<u32>) {
    for i in range {
        let a = app
            .base()
            .send_request(ccr(i), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("CCR {i}: {e}"));
        assert_eq!(
            a.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32),
            Some(E_RESULT_CODE_DIAMETER_SUCCESS)
        );
        assert_eq!(
            a.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
                .and_then(Avp::as_u32),
            Some(i)
        );
    }
}

#[test]
fn cer_ccr_dwr_and_dpr_over_sctp() {
    if !sctp_or_skip("cer_ccr_dwr_and_dpr_over_sctp") {
        return;
    }
    let (mut ocs, pgw_on_ocs) = server(&["127.0.0.1"]);
    let port = ocs.listen_addresses_for(ListenTransport::Sctp)[0].port();
    let (mut pgw, ocs_on_pgw, app) = client(
        &["127.0.0.1"],
        port,
        &["127.0.0.1"],
        Duration::from_millis(300),
    );
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    assert_eq!(count(&ocs_on_pgw.counters.cea), 1);
    assert_eq!(count(&pgw_on_ocs.counters.cer), 1);
    let info = ocs_on_pgw.status.lock().connection.clone().unwrap();
    assert_eq!(info.host_identity, "ocs.example.net");
    assert_eq!(info.auth_application_ids, [4]);

    exchange(&app, 0..200);
    assert_eq!(app_requests(&pgw_on_ocs), 200);
    assert_eq!(app_answers(&ocs_on_pgw), 200);

    // watchdog after 300 ms of silence
    wait_until("DWR/DWA", Duration::from_secs(10), || {
        count(&ocs_on_pgw.counters.dwa) >= 2
    });
    assert!(count(&pgw_on_ocs.counters.dwr) >= 2);

    pgw.stop(Duration::from_secs(5), false).unwrap();
    assert_eq!(count(&ocs_on_pgw.counters.dpa), 1);
    wait_until("the OCS sees the DPR", Duration::from_secs(5), || {
        count(&pgw_on_ocs.counters.dpr) == 1 && pgw_on_ocs.status.lock().connection.is_none()
    });
    assert_eq!(
        pgw_on_ocs.status.lock().disconnect_reason,
        Some(DISCONNECT_REASON_DPR)
    );
    ocs.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn an_sctp_listener_binds_every_address() {
    if !sctp_or_skip("an_sctp_listener_binds_every_address") {
        return;
    }
    let (mut ocs, _) = server(&["127.0.0.1", "127.0.0.2"]);
    let addrs = ocs.listen_addresses_for(ListenTransport::Sctp);
    let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    assert!(
        ips.contains(&ip("127.0.0.1")) && ips.contains(&ip("127.0.0.2")),
        "{addrs:?}"
    );
    assert!(addrs.iter().all(|a| a.port() == addrs[0].port()));
    // a client that knows only the second address gets in too
    let (mut pgw, _, app) = client(
        &["127.0.0.1"],
        addrs[0].port(),
        &["127.0.0.2"],
        Duration::from_secs(30),
    );
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    exchange(&app, 0..10);
    pgw.stop(Duration::from_secs(5), false).unwrap();
    ocs.stop(Duration::from_secs(5), false).unwrap();
}

fn ip_cmd(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[test]
fn a_multihomed_association_survives_losing_an_address() {
    if !sctp_or_skip("a_multihomed_association_survives_losing_an_address") {
        return;
    }
    if std::env::var("DIAMETER_SCTP_VM").as_deref() != Ok("1") {
        eprintln!(
            "a_multihomed_association_survives_losing_an_address: skipped: it adds and deletes \
             an address on the loopback interface, so it runs only where DIAMETER_SCTP_VM=1 \
             (the VM of tools/sctp-vm)"
        );
        return;
    }
    // three addresses on the loopback interface: two for the OCS, one for
    // the PGW (loopback addresses are not offered to a non-loopback peer,
    // so 127.0.0.1 cannot be the second path)
    const FIRST: &str = "10.9.0.1";
    const SECOND: &str = "10.9.0.2";
    const PGW: &str = "10.9.0.3";
    for a in [FIRST, SECOND, PGW] {
        ip_cmd(&["addr", "add", &format!("{a}/32"), "dev", "lo"]).unwrap();
    }
    let (mut ocs, pgw_on_ocs) = server(&[FIRST, SECOND]);
    let port = ocs.listen_addresses_for(ListenTransport::Sctp)[0].port();
    // the first address is the primary path
    let (mut pgw, ocs_on_pgw, app) =
        client(&[PGW], port, &[FIRST, SECOND], Duration::from_secs(30));
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    exchange(&app, 0..20);

    ip_cmd(&["addr", "del", &format!("{FIRST}/32"), "dev", "lo"]).unwrap();
    // SCTP moves to the other path; the Diameter connection never notices
    exchange(&app, 20..60);
    assert!(ocs_on_pgw.is_ready());
    assert_eq!(ocs_on_pgw.status.lock().last_disconnect, None);
    assert_eq!(pgw_on_ocs.status.lock().last_disconnect, None);
    assert_eq!(
        count(&ocs_on_pgw.counters.cea),
        1,
        "one association throughout"
    );
    assert_eq!(app_requests(&pgw_on_ocs), 60);

    pgw.stop(Duration::from_secs(5), false).unwrap();
    ocs.stop(Duration::from_secs(5), false).unwrap();
}
