//! Proxy handlers (RFC 6733 §6.1.9) on loopback: client -> proxy node ->
//! server, the proxy's handler for the Credit-Control application changing
//! requests and answers, answering some itself, and panicking.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{loopback_node, loopback_peer, result_code, wait_until};
use diameter::message::constants::*;
use diameter::message::{Avp, AvpValue, Message};
use diameter::node::application::{AppBase, Application, ThreadingApplication};
use diameter::node::{Agent, ProxyHandler, ProxyVerdict, RouteAction};

const UNKNOWN_AVP: u32 = 999_999;

fn number(m: &Message) -> Option<u32> {
    m.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
        .and_then(Avp::as_u32)
}

fn text(m: &Message, code: u32) -> Option<&str> {
    m.find_avp(&[(code, 0)]).and_then(Avp::as_str)
}

/// The proxy's policy, by CC-Request-Number: 13 refused here (5003), 14
/// answered here with a message of its own, 99 a panic; an even number
/// gets a Class "proxy" (which the server echoes in its answer); answers
/// carrying that Class get a Reply-Message; the answer to 98 is a panic.
struct Policy;

impl ProxyHandler for Policy {
    fn handle_request(&self, request: &mut Message) -> ProxyVerdict {
        match number(request) {
            Some(13) => ProxyVerdict::Answer {
                result_code: E_RESULT_CODE_DIAMETER_AUTHORIZATION_REJECTED,
                error_message: Some("refused by the proxy".into()),
            },
            Some(14) => {
                let mut a = request.to_answer();
                for avp in [
                    request.find_avp(&[(AVP_SESSION_ID, 0)]).unwrap().clone(),
                    Avp::new(AVP_RESULT_CODE, 0, E_RESULT_CODE_DIAMETER_SUCCESS).unwrap(),
                    Avp::new(AVP_ORIGIN_HOST, 0, "proxy.proxy.net").unwrap(),
                    Avp::new(AVP_ORIGIN_REALM, 0, "proxy.net").unwrap(),
                    Avp::new(AVP_REPLY_MESSAGE, 0, "from the proxy itself").unwrap(),
                ] {
                    a.append_avp(avp);
                }
                ProxyVerdict::Reply(a)
            }
            Some(99) => panic!("a proxy handler that panics"),
            Some(n) if n % 2 == 0 => {
                request.append_avp(Avp::new(AVP_CLASS, 0, b"proxy".to_vec()).unwrap());
                ProxyVerdict::Forward
            }
            _ => ProxyVerdict::Forward,
        }
    }

    fn handle_answer(&self, answer: &mut Message) {
        if number(answer) == Some(98) {
            panic!("a proxy handler that panics on an answer");
        }
        let tagged = answer
            .find_avps(&[(AVP_CLASS, 0)])
            .iter()
            .any(|c| c.value() == &AvpValue::OctetString(b"proxy".to_vec()));
        if tagged {
            answer.append_avp(Avp::new(AVP_REPLY_MESSAGE, 0, "seen by the proxy").unwrap());
        }
    }
}

/// A CCR numbered `n` for server.net with an AVP nobody knows, its
/// End-to-End identifier set.
fn ccr(n: u32) -> Message {
    let mut m = crate::support::cc::ccr("pgw.client.net", "client.net", n);
    m.header.end_to_end_identifier = 0x5eed_0000 + n;
    for a in m.avps.iter_mut() {
        if a.code() == AVP_DESTINATION_REALM {
            *a = Avp::new(AVP_DESTINATION_REALM, 0, "server.net").unwrap();
        }
    }
    m.append_avp(Avp::with_value(
        UNKNOWN_AVP,
        0,
        AvpValue::Raw(vec![1, 2, 3]),
    ));
    m
}

#[test]
fn a_proxy_handler_changes_requests_and_answers_and_answers_some_itself() {
    // the server keeps what it receives and answers with the request's
    // CC-Request-Number and Class AVPs
    let server = loopback_node("ocs.server.net", "server.net", true);
    let proxy_on_server = loopback_peer(&server, "proxy.proxy.net", "proxy.net", None);
    let seen: Arc<Mutex<Vec<Message>>> = Arc::default();
    let kept = seen.clone();
    server.add_application(
        ThreadingApplication::new(
            AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
            4,
            move |app, req| {
                kept.lock().unwrap().push(req.clone());
                crate::support::cc::answer(app, req)
            },
        ),
        [&proxy_on_server],
        &[],
    );
    server.start().unwrap();

    let mut proxy = loopback_node("proxy.proxy.net", "proxy.net", true);
    proxy.agent = Agent::Relay;
    let ocs = loopback_peer(
        &proxy,
        "ocs.server.net",
        "server.net",
        Some(server.listen_addresses()[0].port()),
    );
    loopback_peer(&proxy, "pgw.client.net", "client.net", None);
    proxy.add_route("server.net", None, RouteAction::Proxy, [&ocs]);
    proxy.add_proxy_handler(APP_DIAMETER_CREDIT_CONTROL_APPLICATION, Arc::new(Policy));
    proxy.start().unwrap();
    wait_until("proxy connected", Duration::from_secs(10), || {
        ocs.is_ready()
    });

    let client = loopback_node("pgw.client.net", "client.net", false);
    let p = loopback_peer(
        &client,
        "proxy.proxy.net",
        "proxy.net",
        Some(proxy.listen_addresses()[0].port()),
    );
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    client.add_application(app.clone(), [&p], &["server.net"]);
    client.start().unwrap();
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    let ask = |n: u32| {
        let sent = ccr(n);
        let a = app
            .base()
            .send_request(sent.clone(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("CCR {n}: {e}"));
        assert_eq!(
            a.header.end_to_end_identifier,
            sent.header.end_to_end_identifier
        );
        (sent, a)
    };
    let last_seen = || seen.lock().unwrap().last().cloned().unwrap();

    // unchanged: forwarded as received, its answer back as sent
    let (sent, a) = ask(1);
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(text(&a, AVP_REPLY_MESSAGE), None);
    let got = last_seen();
    assert_eq!(got.avps.len(), sent.avps.len() + 1);
    assert_eq!(got.avps[..sent.avps.len()], sent.avps[..]);
    // RFC 6733 §6.1.9: the Route-Record names the peer it came from
    assert_eq!(text(&got, AVP_ROUTE_RECORD), Some("pgw.client.net"));

    // changed both ways: the server sees the Class, the client the
    // Reply-Message, both keep the unknown AVP and the identifiers
    let (sent, a) = ask(2);
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(number(&a), Some(2));
    assert_eq!(text(&a, AVP_REPLY_MESSAGE), Some("seen by the proxy"));
    let got = last_seen();
    assert_eq!(
        got.header.end_to_end_identifier,
        sent.header.end_to_end_identifier
    );
    assert_eq!(got.avps[..sent.avps.len()], sent.avps[..]);
    let added: Vec<u32> = got.avps[sent.avps.len()..].iter().map(Avp::code).collect();
    assert_eq!(added, [AVP_CLASS, AVP_ROUTE_RECORD]);
    assert!(got.find_avp(&[(UNKNOWN_AVP, 0)]).is_some());

    // answered by the proxy: 5003 (no E bit), and its own reply
    let before = seen.lock().unwrap().len();
    let (_, a) = ask(13);
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_AUTHORIZATION_REJECTED)
    );
    assert!(!a.header.is_error());
    assert_eq!(text(&a, AVP_ORIGIN_HOST), Some("proxy.proxy.net"));
    assert_eq!(text(&a, AVP_ERROR_MESSAGE), Some("refused by the proxy"));
    assert!(text(&a, AVP_SESSION_ID).is_some());
    let (sent, a) = ask(14);
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(text(&a, AVP_REPLY_MESSAGE), Some("from the proxy itself"));
    assert_eq!(text(&a, AVP_SESSION_ID), text(&sent, AVP_SESSION_ID));
    assert_eq!(seen.lock().unwrap().len(), before, "the server saw neither");

    // a panic on a request: 5012 from the proxy, which carries on
    let (_, a) = ask(99);
    assert_eq!(
        result_code(&a),
        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY)
    );
    assert_eq!(text(&a, AVP_ORIGIN_HOST), Some("proxy.proxy.net"));
    assert_eq!(seen.lock().unwrap().len(), before);
    assert_eq!(proxy.protocol_stats().callback_panics, 1);
    // a panic on an answer: it goes back as the server sent it
    let (_, a) = ask(98);
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(text(&a, AVP_ORIGIN_HOST), Some("ocs.server.net"));
    assert_eq!(text(&a, AVP_REPLY_MESSAGE), None, "unchanged");
    assert_eq!(proxy.protocol_stats().callback_panics, 2);
    let (_, a) = ask(4);
    assert_eq!(text(&a, AVP_REPLY_MESSAGE), Some("seen by the proxy"));

    let stats = proxy.relay_stats();
    assert_eq!(stats.proxy_answered, 3);
    assert_eq!(stats.requests_relayed, 4);
    assert_eq!(stats.answers_relayed, 4);
    for n in [&client, &proxy, &server] {
        n.stop(Duration::from_secs(2), false).unwrap();
    }
}

#[test]
fn a_relay_entry_does_not_run_the_proxy_handler() {
    let server = loopback_node("ocs.server.net", "server.net", true);
    let relay_on_server = loopback_peer(&server, "proxy.proxy.net", "proxy.net", None);
    server.add_application(
        ThreadingApplication::new(
            AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
            4,
            crate::support::cc::answer,
        ),
        [&relay_on_server],
        &[],
    );
    server.start().unwrap();
    let mut relay = loopback_node("proxy.proxy.net", "proxy.net", true);
    relay.agent = Agent::Relay;
    let ocs = loopback_peer(
        &relay,
        "ocs.server.net",
        "server.net",
        Some(server.listen_addresses()[0].port()),
    );
    loopback_peer(&relay, "pgw.client.net", "client.net", None);
    relay.add_route("server.net", None, RouteAction::Relay, [&ocs]);
    relay.add_proxy_handler(APP_DIAMETER_CREDIT_CONTROL_APPLICATION, Arc::new(Policy));
    relay.start().unwrap();
    wait_until("relay connected", Duration::from_secs(10), || {
        ocs.is_ready()
    });
    let client = loopback_node("pgw.client.net", "client.net", false);
    let p = loopback_peer(
        &client,
        "proxy.proxy.net",
        "proxy.net",
        Some(relay.listen_addresses()[0].port()),
    );
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    client.add_application(app.clone(), [&p], &["server.net"]);
    client.start().unwrap();
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    // 13 would be refused and 2 tagged by the handler of a Proxy entry
    for n in [13, 2] {
        let a = app
            .base()
            .send_request(ccr(n), Duration::from_secs(10))
            .unwrap();
        assert_eq!(result_code(&a), Some(2001));
        assert_eq!(text(&a, AVP_ORIGIN_HOST), Some("ocs.server.net"));
        assert!(a.find_avp(&[(AVP_CLASS, 0)]).is_none());
    }
    assert_eq!(relay.relay_stats().proxy_answered, 0);
    for n in [&client, &relay, &server] {
        n.stop(Duration::from_secs(2), false).unwrap();
    }
}
