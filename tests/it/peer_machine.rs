//! The sans-IO connection core driven under a fake clock: one test per
//! RFC 6733 §5.6 transition and RFC 3539 watchdog state. No sockets, no sleeps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diameter::message::constants::*;
use diameter::message::{Avp, Message, MessageHeader};
use diameter::node::peer::*;
use diameter::node::SequenceGenerator;

fn caps(host: &str, apps: Vec<AppId>) -> Arc<LocalCapabilities> {
    Arc::new(LocalCapabilities {
        origin_host: host.into(),
        origin_realm: "example.net".into(),
        host_ip_addresses: vec!["127.0.0.1".parse().unwrap()],
        vendor_id: 99999,
        product_name: "test".into(),
        firmware_revision: None,
        origin_state_id: 1,
        supported_vendor_ids: vec![],
        applications: apps,
        inband_security: vec![],
    })
}

fn cfg() -> ConnectionConfig {
    ConnectionConfig {
        idle_timeout: Duration::from_secs(10),
        dwa_timeout: Duration::from_secs(3),
        max_jitter: Duration::from_secs(2),
        ..ConnectionConfig::default()
    }
}

struct Pair {
    now: Instant,
    client: Connection,
    server: Connection,
}

impl Pair {
    fn new(client_apps: Vec<AppId>, server_apps: Vec<AppId>) -> Pair {
        let now = Instant::now();
        let e2e = Arc::new(SequenceGenerator::starting_at(100));
        Pair {
            now,
            client: Connection::new_initiator(
                now,
                caps("client.example.net", client_apps),
                cfg(),
                e2e.clone(),
                Some("server.example.net".into()),
                false,
                7,
            ),
            server: Connection::new_responder(
                now,
                caps("server.example.net", server_apps),
                cfg(),
                e2e,
                9,
            ),
        }
    }

    fn open() -> Pair {
        let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
        p.deliver_to_server();
        assert!(matches!(
            p.server.poll_event(),
            Some(PeerEvent::CerReceived(_))
        ));
        p.server.accept_cer(p.now);
        p.deliver_to_client();
        drain(&mut p.client);
        drain(&mut p.server);
        assert!(p.client.is_ready() && p.server.is_ready());
        p
    }

    fn deliver_to_server(&mut self) -> Vec<Message> {
        let bytes = self.client.take_output();
        let msgs = split(&bytes);
        self.server.handle_bytes(self.now, &bytes);
        msgs
    }

    fn deliver_to_client(&mut self) -> Vec<Message> {
        let bytes = self.server.take_output();
        let msgs = split(&bytes);
        self.client.handle_bytes(self.now, &bytes);
        msgs
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }
}

fn split(mut bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while bytes.len() >= 20 {
        let len = u32::from_be_bytes([0, bytes[1], bytes[2], bytes[3]]) as usize;
        out.push(Message::from_bytes(&bytes[..len]).unwrap());
        bytes = &bytes[len..];
    }
    out
}

fn drain(c: &mut Connection) -> Vec<PeerEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn result_code(m: &Message) -> Option<u32> {
    m.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32)
}

fn request(code: u32, hbh: u32) -> Message {
    let mut h = MessageHeader::new(code, 4);
    h.set_request(true);
    h.hop_by_hop_identifier = hbh;
    Message::new(
        h,
        vec![
            Avp::new(AVP_ORIGIN_HOST, 0, "client.example.net").unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, "example.net").unwrap(),
        ],
    )
}

#[test]
fn initiator_sends_cer_and_opens_on_cea_2001() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4), AppId::acct(3)]);
    assert_eq!(p.client.state(), State::WaitCea);
    assert_eq!(p.client.python_state(), PEER_CONNECTED);
    let sent = p.deliver_to_server();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header.command_code, CMD_CAPABILITIES_EXCHANGE);
    assert!(sent[0].header.is_request());
    let Some(PeerEvent::CerReceived(remote)) = p.server.poll_event() else {
        panic!()
    };
    assert_eq!(remote.origin_host, "client.example.net");
    assert_eq!(p.server.state(), State::WaitCerDecision);
    p.server.accept_cer(p.now);
    let cea = p.deliver_to_client();
    assert_eq!(result_code(&cea[0]), Some(2001));
    assert!(!cea[0].header.is_error());
    let events = drain(&mut p.client);
    assert!(
        matches!(&events[0], PeerEvent::Opened { applications, .. } if applications == &[AppId::auth(4)])
    );
    assert_eq!(events[1], PeerEvent::Ready);
    assert_eq!(p.client.state(), State::Open);
    assert_eq!(p.client.python_state(), PEER_READY);
    assert_eq!(p.server.applications(), [AppId::auth(4)]);
}

#[test]
fn cea_with_an_error_result_closes() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
    p.deliver_to_server();
    drain(&mut p.server);
    p.server.reject_cer(
        p.now,
        E_RESULT_CODE_DIAMETER_UNKNOWN_PEER,
        Some("who are you"),
    );
    let cea = p.deliver_to_client();
    assert_eq!(result_code(&cea[0]), Some(3010));
    assert!(cea[0].header.is_error(), "3xxx answers carry the E bit");
    assert_eq!(
        drain(&mut p.client),
        [PeerEvent::Closed(DISCONNECT_REASON_CER_REJECTED)]
    );
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::Closed(DISCONNECT_REASON_FAILED_CONNECT_CE)]
    );
    assert!(p.client.wants_close() && p.server.wants_close());
}

#[test]
fn cea_from_another_host_closes() {
    let now = Instant::now();
    let e2e = Arc::new(SequenceGenerator::new());
    let mut client = Connection::new_initiator(
        now,
        caps("c.example.net", vec![AppId::auth(4)]),
        cfg(),
        e2e.clone(),
        Some("expected.example.net".into()),
        false,
        1,
    );
    let mut server = Connection::new_responder(
        now,
        caps("other.example.net", vec![AppId::auth(4)]),
        cfg(),
        e2e,
        2,
    );
    server.handle_bytes(now, &client.take_output());
    server.accept_cer(now);
    client.handle_bytes(now, &server.take_output());
    assert_eq!(
        drain(&mut client),
        [PeerEvent::Closed(DISCONNECT_REASON_CER_REJECTED)]
    );
}

#[test]
fn no_common_application_gives_5010_and_closes() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::acct(3)]);
    p.deliver_to_server();
    drain(&mut p.server);
    p.server.accept_cer(p.now);
    let cea = p.deliver_to_client();
    assert_eq!(result_code(&cea[0]), Some(5010));
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::Closed(DISCONNECT_REASON_FAILED_CONNECT_CE)]
    );
    assert_eq!(
        drain(&mut p.client),
        [PeerEvent::Closed(DISCONNECT_REASON_CER_REJECTED)]
    );
}

#[test]
fn relay_on_either_side_matches_everything() {
    for (c, s) in [
        (
            vec![AppId::auth(RELAY_APPLICATION_ID)],
            vec![AppId::auth(4)],
        ),
        (
            vec![AppId::auth(4)],
            vec![AppId::auth(RELAY_APPLICATION_ID)],
        ),
    ] {
        let mut p = Pair::new(c, s);
        p.deliver_to_server();
        drain(&mut p.server);
        p.server.accept_cer(p.now);
        p.deliver_to_client();
        assert!(p.client.is_ready() && p.server.is_ready());
        assert_eq!(p.client.applications(), [AppId::auth(4)]);
    }
}

#[test]
fn cea_timer_closes_the_initiator() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
    assert_eq!(
        p.client.poll_timeout(),
        Some(p.now + Duration::from_secs(4))
    );
    p.advance(Duration::from_millis(3999));
    assert!(drain(&mut p.client).is_empty());
    p.advance(Duration::from_millis(1));
    assert_eq!(
        drain(&mut p.client),
        [PeerEvent::Closed(DISCONNECT_REASON_FAILED_CONNECT_CE)]
    );
}

#[test]
fn cer_timer_closes_the_responder() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
    p.advance(Duration::from_secs(4));
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::Closed(DISCONNECT_REASON_FAILED_CONNECT_CE)]
    );
}

#[test]
fn cer_without_origin_host_gets_5005() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
    let mut h = MessageHeader::new(CMD_CAPABILITIES_EXCHANGE, 0);
    h.set_request(true);
    let cer = Message::new(
        h,
        vec![Avp::new(AVP_ORIGIN_REALM, 0, "example.net").unwrap()],
    );
    p.server.handle_bytes(p.now, &cer.as_bytes().unwrap());
    let cea = p.deliver_to_client();
    assert_eq!(result_code(&cea[0]), Some(5005));
    let failed = cea[0].find_avps(&[(AVP_FAILED_AVP, 0), (AVP_ORIGIN_HOST, 0)]);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::Closed(DISCONNECT_REASON_FAILED_CONNECT_CE)]
    );
}

#[test]
fn a_message_other_than_cer_first_closes_the_responder_at_once() {
    // RFC 6733 §5.6: a CER is the only thing expected first on an incoming
    // connection; anything else closes it at once, not at the CER timer
    for first in [
        request(CMD_DEVICE_WATCHDOG, 1),
        request(272, 2),
        Message::new(MessageHeader::new(CMD_CAPABILITIES_EXCHANGE, 0), vec![]),
    ] {
        let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
        p.server.handle_bytes(p.now, &first.as_bytes().unwrap());
        assert!(p.server.pending_output().is_empty(), "{first:?}");
        assert_eq!(
            drain(&mut p.server),
            [PeerEvent::Closed(DISCONNECT_REASON_PROTOCOL_ERROR)],
            "{first:?}"
        );
        assert_eq!(p.server.state(), State::Closed);
        assert!(p.server.wants_close());
    }
}

#[test]
fn an_undecodable_first_message_closes_the_responder_at_once() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
    // a request header with an AVP whose length runs past the message
    let mut bytes = request(272, 1).as_bytes().unwrap();
    bytes.extend_from_slice(&[0, 0, 1, 7, 0x40, 0, 0, 200]);
    let len = bytes.len() as u32;
    bytes[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
    p.server.handle_bytes(p.now, &bytes);
    assert!(p.server.pending_output().is_empty());
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::Closed(DISCONNECT_REASON_PROTOCOL_ERROR)]
    );
}

#[test]
fn dwr_is_answered_with_dwa() {
    let mut p = Pair::open();
    p.client
        .handle_bytes(p.now, &request(CMD_DEVICE_WATCHDOG, 77).as_bytes().unwrap());
    let dwa = split(&p.client.take_output());
    assert_eq!(dwa[0].header.command_code, CMD_DEVICE_WATCHDOG);
    assert!(!dwa[0].header.is_request());
    assert_eq!(dwa[0].header.hop_by_hop_identifier, 77);
    assert_eq!(result_code(&dwa[0]), Some(2001));
    assert!(dwa[0].find_avp(&[(AVP_ORIGIN_STATE_ID, 0)]).is_some());
}

#[test]
fn watchdog_sends_dwr_after_jittered_idle_time() {
    let mut p = Pair::open();
    let deadline = p.client.poll_timeout().unwrap() - p.now;
    assert!(
        deadline >= Duration::from_secs(8) && deadline <= Duration::from_secs(12),
        "{deadline:?}"
    );
    p.now += deadline;
    p.client.handle_timeout(p.now);
    let dwr = p.deliver_to_server();
    assert_eq!(dwr[0].header.command_code, CMD_DEVICE_WATCHDOG);
    assert!(dwr[0].header.is_request());
    assert_eq!(p.client.watchdog(), Watchdog::Okay { pending: true });
    assert_eq!(p.client.python_state(), PEER_READY_WAITING_DWA);
    p.deliver_to_client(); // the DWA
    assert_eq!(p.client.watchdog(), Watchdog::Okay { pending: false });
    assert_eq!(p.client.python_state(), PEER_READY);
}

#[test]
fn jitter_varies_and_stays_within_bounds() {
    let mut seen = std::collections::HashSet::new();
    for seed in 0..20 {
        let now = Instant::now();
        let e2e = Arc::new(SequenceGenerator::new());
        let mut c = Connection::new_initiator(
            now,
            caps("a.example.net", vec![AppId::auth(4)]),
            cfg(),
            e2e.clone(),
            None,
            false,
            seed,
        );
        let mut s = Connection::new_responder(
            now,
            caps("b.example.net", vec![AppId::auth(4)]),
            cfg(),
            e2e,
            seed + 100,
        );
        s.handle_bytes(now, &c.take_output());
        s.accept_cer(now);
        c.handle_bytes(now, &s.take_output());
        let d = c.poll_timeout().unwrap() - now;
        assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12));
        seen.insert(d);
    }
    assert!(seen.len() > 5, "jitter should vary: {seen:?}");
}

#[test]
fn missed_dwa_makes_the_connection_suspect_then_down() {
    let mut p = Pair::open();
    let t = p.client.poll_timeout().unwrap();
    p.now = t;
    p.client.handle_timeout(p.now); // DWR sent
    drain(&mut p.client);
    p.client.take_output(); // lost
    p.advance(Duration::from_secs(3)); // first miss
    assert_eq!(p.client.watchdog(), Watchdog::Suspect);
    assert_eq!(drain(&mut p.client), [PeerEvent::NotReady]);
    assert!(!p.client.is_ready());
    assert_eq!(p.client.send_bytes(b"x", true), Err(SendError::NotReady));
    p.advance(Duration::from_secs(3)); // second miss
    assert_eq!(
        drain(&mut p.client),
        [PeerEvent::Closed(DISCONNECT_REASON_DWA_TIMEOUT)]
    );
    assert_eq!(p.client.state(), State::Closed);
}

#[test]
fn a_suspect_connection_recovers_on_any_traffic() {
    let mut p = Pair::open();
    p.now = p.client.poll_timeout().unwrap();
    p.client.handle_timeout(p.now);
    p.client.take_output();
    p.advance(Duration::from_secs(3));
    assert_eq!(p.client.watchdog(), Watchdog::Suspect);
    drain(&mut p.client);
    p.client
        .handle_bytes(p.now, &request(CMD_CREDIT_CONTROL, 5).as_bytes().unwrap());
    let events = drain(&mut p.client);
    assert_eq!(events[0], PeerEvent::Ready);
    assert!(matches!(events[1], PeerEvent::Message(_)));
    assert!(p.client.is_ready());
}

/// A client starting in the REOPEN phase (its last connection failed its
/// watchdog) and a server, not yet exchanged.
fn reopening_pair() -> (Instant, Connection, Connection) {
    let now = Instant::now();
    let e2e = Arc::new(SequenceGenerator::new());
    let caps4 = |host| caps(host, vec![AppId::auth(4)]);
    let c = Connection::new_initiator(
        now,
        caps4("a.example.net"),
        cfg(),
        e2e.clone(),
        None,
        true,
        3,
    );
    let s = Connection::new_responder(now, caps4("b.example.net"), cfg(), e2e, 4);
    (now, c, s)
}

#[test]
fn reopen_needs_three_dwas_before_traffic() {
    let (now, mut c, mut s) = reopening_pair();
    s.handle_bytes(now, &c.take_output());
    drain(&mut s);
    s.accept_cer(now);
    c.handle_bytes(now, &s.take_output());
    let events = drain(&mut c);
    assert!(
        matches!(events[..], [PeerEvent::Opened { .. }]),
        "{events:?}"
    );
    assert!(!c.is_ready());
    assert_eq!(c.python_state(), PEER_CONNECTED);
    // requests from the peer are thrown away while reopening
    c.handle_bytes(now, &request(CMD_CREDIT_CONTROL, 9).as_bytes().unwrap());
    assert!(drain(&mut c).is_empty());
    let mut t = now;
    for round in 1..=3 {
        // the DWR is out; answer it
        s.handle_bytes(t, &c.take_output());
        c.handle_bytes(t, &s.take_output());
        if round < 3 {
            assert!(!c.is_ready(), "round {round}");
            assert_eq!(
                c.watchdog(),
                Watchdog::Reopen {
                    pending: false,
                    num_dwa: round
                }
            );
            t = c.poll_timeout().unwrap();
            c.handle_timeout(t);
        }
    }
    assert_eq!(drain(&mut c), [PeerEvent::Ready]);
    assert!(c.is_ready());
}

#[test]
fn a_missed_dwa_while_reopening_closes() {
    let (now, mut c, mut s) = reopening_pair();
    s.handle_bytes(now, &c.take_output());
    s.accept_cer(now);
    c.handle_bytes(now, &s.take_output());
    drain(&mut c);
    c.take_output();
    c.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(
        drain(&mut c),
        [PeerEvent::Closed(DISCONNECT_REASON_DWA_TIMEOUT)]
    );
}

#[test]
fn disconnect_sends_dpr_and_closes_on_dpa() {
    let mut p = Pair::open();
    p.client.disconnect(p.now, E_DISCONNECT_CAUSE_REBOOTING);
    assert_eq!(p.client.state(), State::Closing);
    assert_eq!(p.client.python_state(), PEER_DISCONNECTING);
    assert_eq!(drain(&mut p.client), [PeerEvent::NotReady]);
    let dpr = p.deliver_to_server();
    assert_eq!(dpr[0].header.command_code, CMD_DISCONNECT_PEER);
    assert_eq!(
        dpr[0]
            .find_avp(&[(AVP_DISCONNECT_CAUSE, 0)])
            .unwrap()
            .as_i32(),
        Some(0)
    );
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::NotReady, PeerEvent::DprReceived(Some(0))]
    );
    assert_eq!(p.server.state(), State::Disconnecting);
    let dpa = p.deliver_to_client();
    assert_eq!(result_code(&dpa[0]), Some(2001));
    assert_eq!(
        drain(&mut p.client),
        [PeerEvent::Closed(DISCONNECT_REASON_CLEAN_DISCONNECT)]
    );
    assert!(p.client.wants_close());
    // the DPR's receiver closes when the transport goes
    p.server
        .handle_transport_closed(p.now, DISCONNECT_REASON_GONE_AWAY);
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::Closed(DISCONNECT_REASON_DPR)]
    );
}

#[test]
fn dpa_timer_closes_when_no_dpa_comes() {
    let mut p = Pair::open();
    p.client
        .disconnect(p.now, E_DISCONNECT_CAUSE_DO_NOT_WANT_TO_TALK_TO_YOU);
    drain(&mut p.client);
    p.advance(Duration::from_secs(4));
    assert_eq!(
        drain(&mut p.client),
        [PeerEvent::Closed(DISCONNECT_REASON_CLEAN_DISCONNECT)]
    );
}

#[test]
fn dpr_receiver_closes_after_its_timer() {
    let mut p = Pair::open();
    p.client.disconnect(p.now, E_DISCONNECT_CAUSE_BUSY);
    p.deliver_to_server();
    drain(&mut p.server);
    p.advance(Duration::from_secs(4));
    assert_eq!(
        drain(&mut p.server),
        [PeerEvent::Closed(DISCONNECT_REASON_DPR)]
    );
}

#[test]
fn disconnect_before_open_closes_at_once() {
    let mut p = Pair::new(vec![AppId::auth(4)], vec![AppId::auth(4)]);
    p.client.disconnect(p.now, E_DISCONNECT_CAUSE_REBOOTING);
    assert_eq!(
        drain(&mut p.client),
        [PeerEvent::Closed(DISCONNECT_REASON_NODE_SHUTDOWN)]
    );
}

#[test]
fn application_messages_are_events_and_sends_need_ready() {
    let mut p = Pair::open();
    let req = request(CMD_CREDIT_CONTROL, 42).as_bytes().unwrap();
    p.client.send_bytes(&req, true).unwrap();
    p.deliver_to_server();
    let events = drain(&mut p.server);
    assert!(matches!(&events[..], [PeerEvent::Message(m)] if m.header.hop_by_hop_identifier == 42));
    // answers may still go out while disconnecting, requests may not
    p.client.disconnect(p.now, 0);
    assert_eq!(p.client.send_bytes(&req, true), Err(SendError::NotReady));
    let mut ans = request(CMD_CREDIT_CONTROL, 43);
    ans.header.set_request(false);
    assert_eq!(p.client.send_bytes(&ans.as_bytes().unwrap(), false), Ok(()));
}

#[test]
fn an_undecodable_request_gets_an_error_answer_and_the_connection_stays() {
    let mut p = Pair::open();
    let mut bytes = request(CMD_CREDIT_CONTROL, 11).as_bytes().unwrap();
    // an Unsigned32 of 5 bytes: Origin-State-Id with length 13
    bytes.extend_from_slice(&[0, 0, 1, 22, 0x40, 0, 0, 13, 0, 0, 0, 1, 0, 0, 0, 0]);
    let len = bytes.len() as u32;
    bytes[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
    p.server.handle_bytes(p.now, &bytes);
    let answers = split(&p.server.take_output());
    assert_eq!(result_code(&answers[0]), Some(5014));
    assert!(!answers[0].header.is_error());
    assert_eq!(answers[0].header.hop_by_hop_identifier, 11);
    let failed = answers[0].find_avps(&[(AVP_FAILED_AVP, 0), (AVP_ORIGIN_STATE_ID, 0)]);
    assert_eq!(failed.len(), 1);
    assert!(p.server.is_ready());
    // request with the E bit: 3008, E set
    let mut bad = request(CMD_CREDIT_CONTROL, 12);
    bad.header.set_error(true);
    p.server.handle_bytes(p.now, &bad.as_bytes().unwrap());
    let answers = split(&p.server.take_output());
    assert_eq!(result_code(&answers[0]), Some(3008));
    assert!(answers[0].header.is_error());
}

#[test]
fn a_broken_frame_closes_the_connection() {
    let mut p = Pair::open();
    p.server.handle_bytes(p.now, &[1, 0, 0, 8, 0, 0, 0, 0]);
    let events = drain(&mut p.server);
    assert_eq!(
        events,
        [
            PeerEvent::NotReady,
            PeerEvent::Closed(DISCONNECT_REASON_PROTOCOL_ERROR)
        ]
    );
    assert!(p.server.wants_close());
}

#[test]
fn a_second_cer_on_an_open_connection_is_refused() {
    let mut p = Pair::open();
    p.server.handle_bytes(
        p.now,
        &request(CMD_CAPABILITIES_EXCHANGE, 3).as_bytes().unwrap(),
    );
    let cea = split(&p.server.take_output());
    assert_eq!(result_code(&cea[0]), Some(5012));
    assert!(p.server.is_ready());
}

#[test]
fn traffic_postpones_the_watchdog() {
    let mut p = Pair::open();
    let first = p.server.poll_timeout().unwrap();
    p.now += Duration::from_secs(5);
    p.server
        .handle_bytes(p.now, &request(CMD_CREDIT_CONTROL, 1).as_bytes().unwrap());
    assert!(p.server.poll_timeout().unwrap() > first);
}

#[test]
fn error_messages_are_cut_at_a_character_boundary() {
    use diameter::node::peer::{cap_error_message, MAX_ERROR_MESSAGE};
    assert_eq!(cap_error_message("short"), "short");
    let exact = "x".repeat(MAX_ERROR_MESSAGE);
    assert_eq!(cap_error_message(&exact), exact.as_str());
    // two-byte characters: the cut may not split one
    let long = "é".repeat(MAX_ERROR_MESSAGE);
    let cut = cap_error_message(&long);
    assert!(cut.len() <= MAX_ERROR_MESSAGE, "{}", cut.len());
    assert!(cut.ends_with("..."));
    assert!(cut.trim_end_matches("...").chars().all(|c| c == 'é'));
}

#[test]
fn the_output_stays_within_its_bound_when_the_peer_does_not_read() {
    let now = Instant::now();
    let e2e = Arc::new(SequenceGenerator::starting_at(100));
    let mut client = Connection::new_initiator(
        now,
        caps("client.example.net", vec![AppId::auth(4)]),
        cfg(),
        e2e.clone(),
        Some("server.example.net".into()),
        false,
        7,
    );
    let limit = 4096;
    let config = ConnectionConfig {
        max_output_buffer: limit,
        ..cfg()
    };
    let mut server = Connection::new_responder(
        now,
        caps("server.example.net", vec![AppId::auth(4)]),
        config,
        e2e,
        9,
    );
    server.handle_bytes(now, &client.take_output());
    assert!(matches!(
        server.poll_event(),
        Some(PeerEvent::CerReceived(_))
    ));
    server.accept_cer(now);
    client.handle_bytes(now, &server.take_output());
    drain(&mut server);
    assert!(server.is_ready());
    // 5,000 DWRs in one read, and nothing of the output ever written
    let mut flood = Vec::new();
    for hbh in 0..5_000 {
        flood.extend(request(CMD_DEVICE_WATCHDOG, hbh).as_bytes().unwrap());
    }
    server.handle_bytes(now, &flood);
    // the output passes its bound by one DWA at most; the rest waits
    let dwa_len = split(server.pending_output())[0].as_bytes().unwrap().len();
    assert!(
        server.pending_output().len() <= limit + dwa_len,
        "{} bytes queued against a bound of {limit}",
        server.pending_output().len()
    );
    assert!(!server.wants_read());
    assert!(server.holds_input());
    assert!(server.is_ready());
    // as the output is written, the held DWRs are answered, all of them
    let mut answered = Vec::new();
    while server.holds_input() || !server.pending_output().is_empty() {
        answered.extend(split(&server.take_output()));
        assert!(server.wants_read());
        server.resume(now);
        assert!(server.pending_output().len() <= limit + dwa_len);
    }
    let hbh: Vec<u32> = answered
        .iter()
        .map(|m| m.header.hop_by_hop_identifier)
        .collect();
    assert_eq!(hbh, (0..5_000).collect::<Vec<u32>>());
    assert!(answered
        .iter()
        .all(|m| m.header.command_code == CMD_DEVICE_WATCHDOG && !m.header.is_request()));
}

#[test]
fn a_silent_peer_gets_a_dwr_at_once_and_is_suspect_soon_after() {
    // Tw 10 s, DWA timeout 3 s, the silent-peer rule 1 s
    let mut p = Pair::open();
    let tw = p.client.poll_timeout().unwrap();
    let req = request(CMD_CREDIT_CONTROL, 11).as_bytes().unwrap();
    p.client.send_bytes(&req, true).unwrap();
    p.client.requests_written(p.now);
    assert_eq!(
        p.client.poll_timeout(),
        Some(p.now + Duration::from_secs(1))
    );
    assert!(p.client.poll_timeout().unwrap() < tw);
    p.client.take_output(); // the peer hangs: nothing comes back
    p.advance(Duration::from_secs(1));
    let dwr = split(&p.client.take_output());
    assert_eq!(dwr.len(), 1, "a DWR at once");
    assert_eq!(dwr[0].header.command_code, CMD_DEVICE_WATCHDOG);
    assert!(p.client.is_ready());
    p.advance(Duration::from_secs(1));
    assert_eq!(p.client.watchdog(), Watchdog::Suspect);
    assert_eq!(drain(&mut p.client), [PeerEvent::NotReady]);
    assert_eq!(p.client.python_state(), PEER_CONNECTED);
}

#[test]
fn a_slow_peer_that_answers_the_dwr_stays_ready() {
    let mut p = Pair::open();
    let req = request(CMD_CREDIT_CONTROL, 12).as_bytes().unwrap();
    p.client.send_bytes(&req, true).unwrap();
    p.client.requests_written(p.now);
    p.deliver_to_server(); // the request: its answer is slow in coming
    drain(&mut p.server);
    p.advance(Duration::from_secs(1));
    let dwr = p.deliver_to_server();
    assert_eq!(dwr[0].header.command_code, CMD_DEVICE_WATCHDOG);
    p.advance(Duration::from_millis(500));
    p.deliver_to_client(); // the DWA
    p.advance(Duration::from_secs(2));
    assert_eq!(p.client.watchdog(), Watchdog::Okay { pending: false });
    assert!(p.client.is_ready());
    // nothing sent since the DWA came: no more DWRs before Tw
    assert!(p.client.poll_timeout().unwrap() > p.now + Duration::from_secs(5));
    // and a connection that only answers, never sends, is never probed
    let mut q = Pair::open();
    q.client.send_bytes(&req, true).unwrap();
    q.deliver_to_server();
    q.server.requests_written(q.now);
    assert!(q.server.poll_timeout().unwrap() > q.now + Duration::from_secs(5));
}
