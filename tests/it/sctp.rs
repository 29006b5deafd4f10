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
use std::sync::Arc;
use std::time::Duration;

use crate::support::cc::{answer, app_answers, app_requests, ccr, count, exchange};
use crate::support::sctp::{in_vm, ip_cmd, sctp_or_skip};
use crate::support::wait_until;
use crate::support::{PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::Avp;
use diameter::node::application::{AppBase, Application, ThreadingApplication};
use diameter::node::peer::*;
use diameter::node::{ListenTransport, Node};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The OCS: an SCTP listener on `addresses`, answering CCRs.
fn server(addresses: &[&str]) -> (Node, Arc<Peer>) {
    let (n, mut peers) = TestNode::builder("ocs.example.net", "example.net")
        .options(|o| {
            o.ip_addresses = addresses.iter().map(|a| ip(a).into()).collect();
            o.sctp_port = Some(0);
        })
        .peer(PeerSpec::known("pgw.example.net;transport=sctp"))
        .app(ThreadingApplication::new(AppBase::auth(4), 4, answer))
        .start()
        .into_parts();
    (n, peers.remove(0))
}

/// The PGW: connects over SCTP to every address in `remote`, from `local`.
fn client(
    local: &[&str],
    port: u16,
    remote: &[&str],
    idle: Duration,
) -> (Node, Arc<Peer>, Arc<ThreadingApplication>) {
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let (n, mut peers) = TestNode::builder("pgw.example.net", "example.net")
        .options(|o| o.ip_addresses = local.iter().map(|a| ip(a).into()).collect())
        .configure(|n| n.idle_timeout = idle)
        .peer(
            PeerSpec::uri(&format!("aaa://ocs.example.net:{port};transport=sctp"))
                .addresses(remote)
                .persistent(true),
        )
        .app(app.clone())
        .start()
        .into_parts();
    (n, peers.remove(0), app)
}

#[test]
fn cer_ccr_dwr_and_dpr_over_sctp() {
    if !sctp_or_skip("cer_ccr_dwr_and_dpr_over_sctp") {
        return;
    }
    let (ocs, pgw_on_ocs) = server(&["127.0.0.1"]);
    let port = ocs.listen_addresses_for(ListenTransport::Sctp)[0].port();
    let (pgw, ocs_on_pgw, app) = client(
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

    exchange(&app, "pgw.example.net", "example.net", 0..200);
    wait_until("200 counted", Duration::from_secs(5), || {
        app_requests(&pgw_on_ocs) == 200
    });
    wait_until("200 counted", Duration::from_secs(5), || {
        app_answers(&ocs_on_pgw) == 200
    });

    // a message of 700 kB each way: one SCTP message, larger than the
    // default socket buffers
    let big = vec![0x5a_u8; 700_000];
    let mut request = ccr("pgw.example.net", "example.net", 1000);
    request
        .avps
        .push(Avp::new(AVP_CLASS, 0, big.clone()).unwrap());
    let a = app
        .base()
        .send_request(request, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        a.find_avp(&[(AVP_CLASS, 0)]).and_then(Avp::as_octets),
        Some(&big[..])
    );

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
    let (ocs, _) = server(&["127.0.0.1", "127.0.0.2"]);
    let addrs = ocs.listen_addresses_for(ListenTransport::Sctp);
    let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    assert!(
        ips.contains(&ip("127.0.0.1")) && ips.contains(&ip("127.0.0.2")),
        "{addrs:?}"
    );
    assert!(addrs.iter().all(|a| a.port() == addrs[0].port()));
    // a client that knows only the second address gets in too
    let (pgw, _, app) = client(
        &["127.0.0.1"],
        addrs[0].port(),
        &["127.0.0.2"],
        Duration::from_secs(30),
    );
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    exchange(&app, "pgw.example.net", "example.net", 0..10);
    pgw.stop(Duration::from_secs(5), false).unwrap();
    ocs.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn a_multihomed_association_survives_losing_an_address() {
    if !sctp_or_skip("a_multihomed_association_survives_losing_an_address") {
        return;
    }
    if !in_vm() {
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
        ip_cmd(&["addr", "add", &format!("{a}/32"), "dev", "lo"]);
    }
    let (ocs, pgw_on_ocs) = server(&[FIRST, SECOND]);
    let port = ocs.listen_addresses_for(ListenTransport::Sctp)[0].port();
    // the first address is the primary path
    let (pgw, ocs_on_pgw, app) = client(&[PGW], port, &[FIRST, SECOND], Duration::from_secs(30));
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    exchange(&app, "pgw.example.net", "example.net", 0..20);

    ip_cmd(&["addr", "del", &format!("{FIRST}/32"), "dev", "lo"]);
    // SCTP moves to the other path; the Diameter connection never notices
    exchange(&app, "pgw.example.net", "example.net", 20..60);
    assert!(ocs_on_pgw.is_ready());
    assert_eq!(ocs_on_pgw.status.lock().last_disconnect, None);
    assert_eq!(pgw_on_ocs.status.lock().last_disconnect, None);
    assert_eq!(
        count(&ocs_on_pgw.counters.cea),
        1,
        "one association throughout"
    );
    wait_until("60 counted", Duration::from_secs(5), || {
        app_requests(&pgw_on_ocs) == 60
    });

    pgw.stop(Duration::from_secs(5), false).unwrap();
    ocs.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn a_request_beyond_the_sctp_send_buffer_fails_at_once() {
    if !sctp_or_skip("a_request_beyond_the_sctp_send_buffer_fails_at_once") {
        return;
    }
    let (ocs, _) = server(&["127.0.0.1"]);
    let port = ocs.listen_addresses_for(ListenTransport::Sctp)[0].port();
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let pgw = TestNode::builder("pgw.example.net", "example.net")
        .loopback()
        // the association's send buffer follows the largest message: 64
        // KiB gives a buffer of a few hundred kB, smaller than the request
        // below
        .configure(|n| n.max_message_size = 64 << 10)
        .peer(
            PeerSpec::uri(&format!("aaa://ocs.example.net:{port};transport=sctp")).persistent(true),
        )
        .app(app.clone())
        .start();
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    let mut request = ccr("pgw.example.net", "example.net", 1);
    request
        .avps
        .push(Avp::new(AVP_CLASS, 0, vec![0u8; 2 << 20]).unwrap());
    let started = std::time::Instant::now();
    let e = app
        .base()
        .send_request(request, Duration::from_secs(10))
        .unwrap_err();
    assert!(
        matches!(
            e,
            diameter::node::ApplicationError::Node(
                diameter::node::NodeError::MessageTooLarge { .. }
            )
        ),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "failed at once");
    // the association carries on
    exchange(&app, "pgw.example.net", "example.net", 0..5);
    pgw.stop(Duration::from_secs(5), false).unwrap();
    ocs.stop(Duration::from_secs(5), false).unwrap();
}
