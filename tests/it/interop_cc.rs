//! Credit-Control between our node and python-diameter 0.9.0, both ways:
//! CCR/CCA with 2001, answer contents checked on both sides.
//!
//! Without python-diameter these tests print "skipping: ..." and pass,
//! unless CI is set, where they fail.

use std::sync::Arc;
use std::time::Duration;

use crate::support::interop::{self, ok, PeerProcess, EXCHANGE, STARTUP};
use crate::support::{PeerSpec, TestNode};
use diameter::message::commands::{CreditControlAnswer, CreditControlRequest};
use diameter::message::constants::*;
use diameter::message::grouped::{GrantedServiceUnit, RequestedServiceUnit};
use diameter::message::Message;
use diameter::node::application::{AppBase, Application, HandlerResult, ThreadingApplication};

#[test]
fn rust_client_python_cc_server() {
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
            "aaa://rustpgw.example.test",
            "--cc-server",
            "--granted-time",
            "1800",
            "--duration",
            "60",
        ],
    ));
    ok(py.wait_for_line("EVENT started", STARTUP));
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    let node = TestNode::builder("rustpgw.example.test", "example.test")
        .peer(PeerSpec::uri(&format!("aaa://pyocs.example.test:{port}")).persistent(true))
        .app(app.clone())
        .start();
    app.wait_for_ready(STARTUP)
        .unwrap_or_else(|e| panic!("{e}\n{}", py.dump()));

    let session = node.session_generator.next_id(&[]);
    for n in 0..10u32 {
        let mut ccr = CreditControlRequest::new();
        ccr.session_id = Some(session.clone());
        ccr.origin_host = Some("rustpgw.example.test".into());
        ccr.origin_realm = Some("example.test".into());
        ccr.destination_realm = Some("example.test".into());
        ccr.service_context_id = Some(SERVICE_CONTEXT_PS_CHARGING.into());
        ccr.cc_request_type = Some(if n == 0 {
            E_CC_REQUEST_TYPE_INITIAL_REQUEST
        } else {
            E_CC_REQUEST_TYPE_UPDATE_REQUEST
        });
        ccr.cc_request_number = Some(n);
        ccr.requested_service_unit = Some(RequestedServiceUnit {
            cc_time: Some(600),
            ..Default::default()
        });
        // cca = app.send_request(ccr): the typed answer of a typed request
        let cca: CreditControlAnswer = app.send_request(ccr, EXCHANGE).unwrap();
        assert_eq!(cca.result_code, Some(E_RESULT_CODE_DIAMETER_SUCCESS));
        assert_eq!(cca.session_id.as_deref(), Some(session.as_str()));
        assert_eq!(cca.cc_request_number, Some(n));
        assert_eq!(cca.origin_host.as_deref(), Some("pyocs.example.test"));
        assert_eq!(cca.granted_service_unit.and_then(|g| g.cc_time), Some(1800));
    }
    // python logs a CCA once it is sent: the last line may trail its answer
    assert_eq!(
        ok(py.wait_for_count("EVENT recv CCR from=rustpgw.example.test", 10, EXCHANGE)),
        10,
        "{}",
        py.dump()
    );
    assert_eq!(
        ok(py.wait_for_count(
            "EVENT sent CCA to=rustpgw.example.test result=2001",
            10,
            EXCHANGE
        )),
        10,
        "{}",
        py.dump()
    );
    node.stop(Duration::from_secs(10), false).unwrap();
}

/// The answer cc_server gives: 2001, the request's CC-Request-Type/Number and
/// a Granted-Service-Unit of 3600 s.
fn answer_ccr(app: &AppBase, request: Message) -> HandlerResult {
    let ccr = CreditControlRequest::from_message(request).map_err(|m| format!("not a CCR: {m}"))?;
    let mut cca = app.generate_answer(&ccr, E_RESULT_CODE_DIAMETER_SUCCESS, None)?;
    cca.cc_request_type = ccr.cc_request_type;
    cca.cc_request_number = ccr.cc_request_number;
    if ccr.cc_request_type != Some(E_CC_REQUEST_TYPE_TERMINATION_REQUEST) {
        cca.granted_service_unit = Some(GrantedServiceUnit {
            cc_time: Some(3600),
            ..Default::default()
        });
    }
    Ok(Some(cca.to_message()?))
}

#[test]
fn python_cc_client_rust_server() {
    if !interop::require_python() {
        return;
    }
    let app: Arc<dyn Application> = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        8,
        answer_ccr,
    );
    let node = TestNode::builder("rustocs.example.test", "example.test")
        .listen()
        .clients(&["pypgw.example.test"])
        .app(app)
        .start();
    let peer = node.peer(0).clone();
    let port = node.port();
    let py = ok(PeerProcess::python_peer(
        "py-cc-client",
        &[
            "--origin-host",
            "pypgw.example.test",
            "--realm",
            "example.test",
            "--peer-uri",
            &format!("aaa://rustocs.example.test:{port};transport=tcp"),
            "--persistent",
            "--cc-client",
            "5",
            "--duration",
            "60",
        ],
    ));
    ok(py.wait_for_line(
        "EVENT cc-client done ok=5 failed=0",
        Duration::from_secs(30),
    ));
    ok(py.wait_for_all(
        &[
            "EVENT cca n=1 result=2001 type=1 number=0 granted_time=3600",
            "EVENT cca n=2 result=2001 type=2 number=1 granted_time=3600",
            "EVENT cca n=5 result=2001 type=3 number=4 granted_time=None",
        ],
        EXCHANGE,
    ));
    // the five CCAs' requests, besides CER and watchdogs
    crate::support::wait_until("5 requests counted", EXCHANGE, || {
        crate::support::cc::app_requests(&peer) == 5
    });
    node.stop(Duration::from_secs(10), false).unwrap();
}
