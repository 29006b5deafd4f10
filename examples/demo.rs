//! A server node and a client node in one process over loopback: the client
//! connects, the two exchange capabilities, the client sends a few
//! Credit-Control requests that the server answers, watchdogs run, and both
//! stop cleanly with DPR/DPA. What each side does is printed as it goes.
//!
//! Run with `cargo run --example demo` (`RUST_LOG=debug` shows the stack's
//! log, `RUST_LOG=diameter.peer.msg=debug` every message).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diameter::message::commands::{CreditControlAnswer, CreditControlRequest};
use diameter::message::constants::*;
use diameter::message::grouped::{
    GrantedServiceUnit, MultipleServicesCreditControl, RequestedServiceUnit,
};
use diameter::node::application::{AppBase, Application, HandlerResult, ThreadingApplication};
use diameter::node::peer::Peer;
use diameter::node::{Node, NodeOptions, PeerOptions};

#[path = "common/logger.rs"]
mod logger;

/// A value that may be missing, printed plainly (`-` when missing).
fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// What a peer has received, counted by command.
fn counters(p: &Peer) -> String {
    let [cer, cea, dwr, dwa, dpr, dpa, requests, answers] = p.counters.snapshot();
    format!(
        "received CER={cer} CEA={cea} DWR={dwr} DWA={dwa} DPR={dpr} DPA={dpa} \
         (requests {requests}, answers {answers})"
    )
}

/// The server's handler: a CCA 2001 granting what was asked, 1 MB at most.
fn answer_ccr(app: &AppBase, request: diameter::message::Message) -> HandlerResult {
    let ccr = CreditControlRequest::try_from(request)?;
    let mut cca = app.generate_answer(&ccr, E_RESULT_CODE_DIAMETER_SUCCESS, None)?;
    cca.cc_request_type = ccr.cc_request_type;
    cca.cc_request_number = ccr.cc_request_number;
    for mscc in &ccr.multiple_services_credit_control {
        let asked = mscc
            .requested_service_unit
            .as_ref()
            .and_then(|u| u.cc_total_octets)
            .unwrap_or(0);
        cca.multiple_services_credit_control
            .push(MultipleServicesCreditControl {
                granted_service_unit: Some(GrantedServiceUnit {
                    cc_total_octets: Some(asked.min(1_000_000)),
                    ..Default::default()
                }),
                rating_group: mscc.rating_group,
                result_code: Some(E_RESULT_CODE_DIAMETER_SUCCESS),
                ..Default::default()
            });
    }
    Ok(Some(cca.to_message()?))
}

fn wait(what: &str, timeout: Duration, f: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logger::init("warn");
    let loopback: std::net::IpAddr = "127.0.0.1".parse()?;
    let server = Node::new(
        "ocs.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec![loopback.into()],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    let client_seen_by_server =
        server.add_peer("aaa://pgw.example.net", None, PeerOptions::default())?;
    let ocs = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        4,
        answer_ccr,
    );
    server.add_application(ocs, [&client_seen_by_server], &[]);
    server.start()?;
    let addr = server.listen_addresses()[0];
    println!("server ocs.example.net listening on {addr}");

    let mut client = Node::new("pgw.example.net", "example.net", NodeOptions::default());
    client.idle_timeout = Duration::from_millis(500);
    let server_seen_by_client = client.add_peer(
        &format!("aaa://ocs.example.net:{};transport=tcp", addr.port()),
        None,
        PeerOptions {
            ip_addresses: vec![loopback.into()],
            is_persistent: true,
            ..Default::default()
        },
    )?;
    let pgw = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    client.add_application(pgw.clone(), [&server_seen_by_client], &[]);
    client.start()?;

    pgw.wait_for_ready(Duration::from_secs(5))?;
    let info = server_seen_by_client.status.lock().connection.clone();
    if let Some(info) = info {
        let apps: Vec<String> = info
            .auth_application_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        println!(
            "client: connected to {} at {}, applications {}",
            info.host_identity,
            shown(info.remote_address),
            apps.join(", ")
        );
    }
    for n in 0..3u32 {
        let mut ccr = CreditControlRequest::new();
        ccr.session_id = Some(client.session_generator.next_id(&[]));
        ccr.origin_host = Some(client.origin_host.clone());
        ccr.origin_realm = Some(client.realm_name.clone());
        ccr.destination_realm = Some("example.net".into());
        ccr.service_context_id = Some(SERVICE_CONTEXT_PS_CHARGING.into());
        ccr.cc_request_type = Some(if n == 0 {
            E_CC_REQUEST_TYPE_INITIAL_REQUEST
        } else {
            E_CC_REQUEST_TYPE_UPDATE_REQUEST
        });
        ccr.cc_request_number = Some(n);
        ccr.add_subscription_id(E_SUBSCRIPTION_ID_TYPE_END_USER_E164, "41780000001");
        ccr.multiple_services_credit_control
            .push(MultipleServicesCreditControl {
                requested_service_unit: Some(RequestedServiceUnit {
                    cc_total_octets: Some(500_000 * u64::from(n + 1)),
                    ..Default::default()
                }),
                rating_group: Some(8000),
                ..Default::default()
            });
        let cca: CreditControlAnswer = pgw.send_request(ccr, Duration::from_secs(5))?;
        let granted = cca
            .multiple_services_credit_control
            .first()
            .and_then(|m| m.granted_service_unit.as_ref())
            .and_then(|g| g.cc_total_octets);
        println!(
            "client: CCR #{n} asked for {} octets -> CCA Result-Code {}, granted {} octets",
            500_000 * (n + 1),
            shown(cca.result_code),
            shown(granted)
        );
    }
    println!("waiting for two watchdog rounds (Tw = 500 ms)...");
    wait("DWR/DWA", Duration::from_secs(5), || {
        server_seen_by_client.counters.dwa.load(Ordering::Relaxed) >= 2
    })?;
    println!("client: {}", counters(&server_seen_by_client));
    println!("server: {}", counters(&client_seen_by_server));

    client.stop(Duration::from_secs(5), false)?;
    println!(
        "client stopped: DPR sent, disconnect reason {:#04x}",
        server_seen_by_client
            .status
            .lock()
            .disconnect_reason
            .unwrap_or(0)
    );
    wait("server sees the DPR", Duration::from_secs(5), || {
        client_seen_by_server.status.lock().connection.is_none()
    })?;
    println!("server: {}", counters(&client_seen_by_server));
    server.stop(Duration::from_secs(5), false)?;
    println!("server stopped");
    Ok(())
}
