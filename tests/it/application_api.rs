//! The application API in python's shapes, over loopback: typed requests
//! in and typed answers out, `generate_answer` on typed requests, handlers
//! with state of their own type (python's `ThreadingApplication`
//! subclasses), python's `self.` calls on the application, `str(app)`,
//! `app.start()`, and `send_answer`/`generate_answer` failing where python
//! raises.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{poll_until, wait_until, Gate, PeerSpec, TestNode};
use diameter::message::commands::{CreditControlAnswer, CreditControlRequest};
use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::{
    AppBase, Application, ApplicationError, HandlerResult, RequestHandler, ThreadingApplication,
};
use diameter::node::peer::Peer;
use diameter::node::Node;

const SERVER: &str = "ocs.example.net";
const CLIENT: &str = "pgw.example.net";
const REALM: &str = "example.net";

fn server_node(app: Arc<dyn Application>) -> (Node, u16) {
    let n = TestNode::builder(SERVER, REALM)
        .listen()
        .clients(&[CLIENT])
        .app(app)
        .start();
    let port = n.port();
    (n.node, port)
}

fn client_node(port: u16, app: Arc<dyn Application>) -> (Node, Arc<Peer>) {
    let (n, mut peers) = TestNode::builder(CLIENT, REALM)
        .peer(PeerSpec::at(SERVER, port))
        .app(app)
        .start()
        .into_parts();
    (n, peers.remove(0))
}

/// python's credit_control_sms_client request, typed.
fn typed_ccr(app: &AppBase, n: u32) -> CreditControlRequest {
    let node = app.node().unwrap();
    let mut ccr = CreditControlRequest::new();
    ccr.session_id = Some(node.session_generator().next_id(&[]));
    ccr.origin_host = Some(node.origin_host());
    ccr.origin_realm = Some(node.realm_name());
    ccr.destination_realm = Some(REALM.into());
    ccr.auth_application_id = Some(APP_DIAMETER_CREDIT_CONTROL_APPLICATION);
    ccr.service_context_id = Some(SERVICE_CONTEXT_PS_CHARGING.into());
    ccr.cc_request_type = Some(E_CC_REQUEST_TYPE_EVENT_REQUEST);
    ccr.cc_request_number = Some(n);
    ccr
}

/// A server handler of its own type: counts requests, answers typed CCAs.
#[derive(Default)]
struct Ocs {
    handled: AtomicU32,
    late: AtomicU32,
}

impl RequestHandler for Ocs {
    fn handle_request(&self, app: &AppBase, message: Message) -> HandlerResult {
        self.handled.fetch_add(1, Ordering::SeqCst);
        let ccr =
            CreditControlRequest::from_message(message).map_err(|m| format!("not a CCR: {m}"))?;
        // answer = self.generate_answer(message, E_RESULT_CODE_DIAMETER_SUCCESS)
        let mut cca = app.generate_answer(&ccr, E_RESULT_CODE_DIAMETER_SUCCESS, None)?;
        cca.cc_request_type = ccr.cc_request_type;
        cca.cc_request_number = ccr.cc_request_number;
        Ok(Some(cca.to_message()?))
    }

    fn handle_answer(&self, _app: &AppBase, _answer: Message) {
        self.late.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn typed_requests_get_typed_answers_with_python_fields() {
    let ocs = ThreadingApplication::with_handler(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        4,
        Ocs::default(),
    );
    let (server, port) = server_node(ocs.clone());
    let client = ThreadingApplication::without_handler(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
    );
    let (client_node, _peer) = client_node(port, client.clone());
    // client.wait_for_ready(); cca = client.send_request(ccr, timeout=5)
    client.wait_for_ready(Duration::from_secs(10)).unwrap();
    for n in 0..3 {
        let ccr = typed_ccr(&client, n);
        let session = ccr.session_id.clone();
        let cca: CreditControlAnswer = client.send_request(ccr, Duration::from_secs(5)).unwrap();
        assert_eq!(cca.result_code, Some(E_RESULT_CODE_DIAMETER_SUCCESS));
        assert_eq!(cca.session_id, session);
        assert_eq!(cca.origin_host.as_deref(), Some(SERVER));
        assert_eq!(cca.origin_realm.as_deref(), Some(REALM));
        assert_eq!(
            cca.auth_application_id,
            Some(APP_DIAMETER_CREDIT_CONTROL_APPLICATION)
        );
        assert_eq!(cca.cc_request_number, Some(n));
        assert!(!cca.header.is_request());
        assert!(!cca.header.is_error());
    }
    // the handler's own state, through the application
    assert_eq!(ocs.handler().handled.load(Ordering::SeqCst), 3);
    assert_eq!(ocs.max_threads(), 4);
    // print(app)
    assert_eq!(ocs.to_string(), "<Diameter Credit Control Application (4)>");
    // app.node.origin_host
    assert_eq!(ocs.node().unwrap().origin_host(), SERVER);
    assert!(ocs.is_ready());
    client_node.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn late_answers_reach_the_handlers_handle_answer() {
    let release = Gate::new();
    let gate = release.clone();
    let slow = ThreadingApplication::new(AppBase::auth(4), 0, move |app, req| {
        gate.wait(Duration::from_secs(5));
        Ok(Some(app.generate_answer(&req, 2001, None)?))
    });
    let (server, port) = server_node(slow);
    let client = ThreadingApplication::with_handler(AppBase::auth(4), 0, Ocs::default());
    let (client_node, _peer) = client_node(port, client.clone());
    client.wait_for_ready(Duration::from_secs(10)).unwrap();
    let e = client
        .send_request(typed_ccr(&client, 1), Duration::from_millis(100))
        .unwrap_err();
    assert!(matches!(e, ApplicationError::RequestTimeout(_)), "{e}");
    release.open();
    wait_until("the late answer", Duration::from_secs(5), || {
        client.handler().late.load(Ordering::SeqCst) == 1
    });
    client_node.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

/// python's plain `Application` subclass: answers on the event loop with
/// `self.generate_answer` / `self.send_answer`, records what they return.
struct Plain {
    base: AppBase,
    started: AtomicUsize,
    outcomes: Mutex<Vec<Result<(), String>>>,
    forged: Mutex<Option<Result<(), String>>>,
}

impl Application for Plain {
    fn base(&self) -> &AppBase {
        &self.base
    }

    fn handle_request(&self, request: Message) {
        let answer = self
            .generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None)
            .unwrap();
        let first = self.send_answer(&answer).map_err(|e| e.to_string());
        // the same answer again: nothing waits for it any more
        let second = self.send_answer(&answer).map_err(|e| e.to_string());
        // an answer to a request that never came
        let mut stray = answer.clone();
        stray.header.hop_by_hop_identifier ^= 0x5a5a_5a5a;
        stray.header.end_to_end_identifier ^= 0x5a5a_5a5a;
        *self.forged.lock().unwrap() = Some(self.send_answer(&stray).map_err(|e| e.to_string()));
        self.outcomes.lock().unwrap().extend([first, second]);
    }

    fn start(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn send_answer_fails_when_nothing_waits_and_generate_answer_needs_a_node() {
    let plain = Arc::new(Plain {
        base: AppBase::auth(4),
        started: AtomicUsize::new(0),
        outcomes: Mutex::new(Vec::new()),
        forged: Mutex::new(None),
    });
    // not attached yet: python raises on app.node and generate_answer
    let request = Message::default();
    assert!(matches!(
        plain.generate_answer(&request, 2001, None),
        Err(ApplicationError::NotAttached)
    ));
    assert!(matches!(plain.node(), Err(ApplicationError::NotAttached)));
    assert!(matches!(
        plain.send_answer(&request),
        Err(ApplicationError::NotAttached)
    ));

    let (server, port) = server_node(plain.clone());
    // node.add_application calls app.start()
    assert_eq!(plain.started.load(Ordering::SeqCst), 1);
    let client = ThreadingApplication::without_handler(AppBase::auth(4), 0);
    let (client_node, _peer) = client_node(port, client.clone());
    client.wait_for_ready(Duration::from_secs(10)).unwrap();
    let cca = client
        .send_request(typed_ccr(&client, 7), Duration::from_secs(5))
        .unwrap();
    assert_eq!(cca.result_code, Some(2001));
    let outcomes = plain.outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0], Ok(()));
    let second = outcomes[1].as_ref().unwrap_err();
    assert!(
        second.contains("no peer is waiting for an answer"),
        "{second}"
    );
    let forged = plain.forged.lock().unwrap().clone().unwrap();
    assert!(forged.is_err(), "{forged:?}");
    client_node.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn a_handlers_answer_after_its_connection_closed_is_an_error() {
    // the handler waits until the client is gone, then answers: python's
    // route_answer raises NotRoutable, ours reports NoRequestWaiting
    let outcome: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = outcome.clone();
    let gone = Gate::new();
    let gone_seen = gone.clone();
    let app = ThreadingApplication::new(AppBase::auth(4), 0, move |app, req| {
        gone_seen.wait(Duration::from_secs(5));
        // the connection's close reaches the loop shortly after
        let answer = app.generate_answer(&req, 2001, None)?;
        let mut result = Ok(());
        poll_until(Duration::from_secs(5), || {
            result = app.send_answer(&answer);
            result.is_err()
        });
        *seen.lock().unwrap() = Some(match result {
            Ok(()) => "sent".into(),
            Err(e) => e.to_string(),
        });
        Ok(None)
    });
    let (server, port) = server_node(app);
    let client = ThreadingApplication::without_handler(AppBase::auth(4), 0);
    let (client_node, _peer) = client_node(port, client.clone());
    client.wait_for_ready(Duration::from_secs(10)).unwrap();
    let e = client
        .send_request(typed_ccr(&client, 1), Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(e, ApplicationError::RequestTimeout(_)), "{e}");
    client_node.stop(Duration::from_secs(5), false).unwrap();
    gone.open();
    wait_until("the handler's outcome", Duration::from_secs(10), || {
        outcome.lock().unwrap().is_some()
    });
    let text = outcome.lock().unwrap().clone().unwrap();
    assert!(text.contains("no peer is waiting for an answer"), "{text}");
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn a_typed_request_answered_with_another_command_is_an_unexpected_answer() {
    // the server answers a CCR with an answer of another command code
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |app, req| {
        let mut answer = app.generate_answer(&req, 2001, None)?;
        answer.header.command_code = CMD_RE_AUTH;
        Ok(Some(answer))
    });
    let (server, port) = server_node(app);
    let client = ThreadingApplication::without_handler(AppBase::auth(4), 0);
    let (client_node, _peer) = client_node(port, client.clone());
    client.wait_for_ready(Duration::from_secs(10)).unwrap();
    match client.send_request(typed_ccr(&client, 1), Duration::from_secs(5)) {
        Err(ApplicationError::UnexpectedAnswer(m)) => {
            assert_eq!(m.header.command_code, CMD_RE_AUTH);
            assert_eq!(
                m.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32),
                Some(2001)
            );
        }
        other => panic!("{other:?}"),
    }
    client_node.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}

/// `send_request_nowait`: one thread keeps many requests in flight; each
/// answer reaches its own handle (typed), in any order of waiting, from
/// another thread too; a handle dropped unwaited gives its answer to
/// `handle_answer`; a short wait times out like `send_request`.
#[test]
fn requests_sent_without_waiting_get_their_own_answers() {
    let release = Gate::new();
    release.open();
    let gate = release.clone();
    let ocs = ThreadingApplication::new(AppBase::auth(4), 64, move |app, req| {
        gate.wait(Duration::from_secs(5));
        let ccr = CreditControlRequest::from_message(req).map_err(|m| format!("{m}"))?;
        let mut cca = app.generate_answer(&ccr, 2001, None)?;
        cca.cc_request_number = ccr.cc_request_number;
        Ok(Some(cca.to_message()?))
    });
    let (server, port) = server_node(ocs);
    let client = ThreadingApplication::with_handler(AppBase::auth(4), 0, Ocs::default());
    let (client_node, peer) = client_node(port, client.clone());
    client.wait_for_ready(Duration::from_secs(10)).unwrap();
    let t = Duration::from_secs(5);

    let mut pending: Vec<_> = (0..60)
        .map(|n| {
            client
                .send_request_nowait(typed_ccr(&client, n), t)
                .unwrap()
        })
        .collect();
    // the newest first, and a quarter of them on another thread
    let elsewhere: Vec<_> = pending.drain(..15).collect();
    let other = std::thread::spawn(move || {
        elsewhere
            .into_iter()
            .enumerate()
            .all(|(n, p)| p.wait(t).unwrap().cc_request_number == Some(n as u32))
    });
    for (n, p) in pending.into_iter().enumerate().rev() {
        let cca: CreditControlAnswer = p.wait(t).unwrap();
        assert_eq!(cca.result_code, Some(2001));
        assert_eq!(cca.cc_request_number, Some(15 + n as u32));
    }
    assert!(other.join().unwrap());
    wait_until("no request outstanding", Duration::from_secs(5), || {
        peer.outstanding.load(Ordering::SeqCst) == 0
    });

    // held by the server: a short wait times out, a dropped handle's
    // answer goes to handle_answer
    release.close();
    let waited = client
        .send_request_nowait(typed_ccr(&client, 1000), t)
        .unwrap();
    let dropped = client
        .send_request_nowait(typed_ccr(&client, 1001), t)
        .unwrap();
    let e = waited.wait(Duration::from_millis(50)).unwrap_err();
    assert!(matches!(e, ApplicationError::RequestTimeout(_)), "{e}");
    drop(dropped);
    release.open();
    wait_until(
        "both answers in handle_answer",
        Duration::from_secs(5),
        || client.handler().late.load(Ordering::SeqCst) == 2,
    );
    // and the thread's reused channels still pair answers right
    for n in 0..20 {
        let cca: CreditControlAnswer = client.send_request(typed_ccr(&client, n), t).unwrap();
        assert_eq!(cca.cc_request_number, Some(n));
    }
    client_node.stop(Duration::from_secs(5), false).unwrap();
    server.stop(Duration::from_secs(5), false).unwrap();
}
