//! Raw sockets against a running node: each protocol error gets its RFC 6733
//! answer (Result-Code, E bit, Failed-AVP) while a well-behaved peer keeps
//! being served; broken frames close only their own connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use diameter::message::constants::*;
use diameter::message::framer::Framer;
use diameter::message::{Avp, AvpValue, Message, MessageHeader};
use diameter::node::application::{AppBase, ThreadingApplication};
use diameter::node::peer::AppId;
use diameter::node::{Node, NodeOptions, PeerOptions};

use crate::support::raw::fix_length;
use crate::support::{poll_until, result_code, PeerSpec, TestNode};

struct Raw {
    stream: TcpStream,
    framer: Framer,
    host: String,
    hbh: u32,
}

impl Raw {
    fn connect(addr: SocketAddr, host: &str) -> Raw {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut raw = Raw {
            stream,
            framer: Framer::new(),
            host: host.into(),
            hbh: 100,
        };
        let mut cer = raw.request(CMD_CAPABILITIES_EXCHANGE, 0, vec![]);
        cer.avps
            .push(Avp::new(AVP_HOST_IP_ADDRESS, 0, "127.0.0.1").unwrap());
        cer.avps.push(Avp::new(AVP_VENDOR_ID, 0, 1u32).unwrap());
        cer.avps.push(Avp::new(AVP_PRODUCT_NAME, 0, "raw").unwrap());
        cer.avps
            .push(Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap());
        let cea = raw.exchange(&cer.as_bytes().unwrap()).unwrap();
        assert_eq!(result_code(&cea), Some(2001), "{cea:?}");
        raw
    }

    fn request(&mut self, code: u32, app: u32, mut avps: Vec<Avp>) -> Message {
        let mut h = MessageHeader::new(code, app);
        h.set_request(true);
        self.hbh += 1;
        h.hop_by_hop_identifier = self.hbh;
        h.end_to_end_identifier = self.hbh;
        let mut all = vec![
            Avp::new(AVP_ORIGIN_HOST, 0, self.host.as_str()).unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, "example.net").unwrap(),
        ];
        all.append(&mut avps);
        Message::new(h, all)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn recv(&mut self) -> Option<Message> {
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(Some(frame)) = self.framer.next_frame() {
                return Some(Message::from_bytes(frame).unwrap());
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.framer.feed(&buf[..n]),
            }
        }
    }

    fn exchange(&mut self, bytes: &[u8]) -> Option<Message> {
        self.send(bytes);
        self.recv()
    }

    /// A DWR/DWA round trip: the connection is alive and served.
    fn still_served(&mut self) {
        let dwr = self.request(CMD_DEVICE_WATCHDOG, 0, vec![]);
        let dwa = self.exchange(&dwr.as_bytes().unwrap()).expect("DWA");
        assert_eq!(dwa.header.command_code, CMD_DEVICE_WATCHDOG);
        assert_eq!(result_code(&dwa), Some(2001));
    }

    fn closed(&mut self) -> bool {
        closed_by_peer(&mut self.stream)
    }
}

/// Whether the other side closed `stream` (end of stream or a reset); a
/// read that times out (5 s) means it is still open.
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
        Ok(_) => false,
    }
}

fn failed(m: &Message) -> Vec<Avp> {
    m.find_avp(&[(AVP_FAILED_AVP, 0)])
        .and_then(Avp::as_grouped)
        .map(<[Avp]>::to_vec)
        .unwrap_or_default()
}

fn server() -> (Node, SocketAddr) {
    server_with(|_| {})
}

fn server_with(set: impl FnOnce(&mut Node)) -> (Node, SocketAddr) {
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |app, req| {
        Ok(Some(app.generate_answer(
            &req,
            E_RESULT_CODE_DIAMETER_SUCCESS,
            None,
        )?))
    });
    let mut n = TestNode::builder("server.example.net", "example.net")
        .listen()
        // raw peers never answer the DPR of stop()
        .configure(|n| n.dpa_timeout = Duration::from_millis(300))
        .clients(&["bad.example.net", "good.example.net", "bad2.example.net"])
        .app(app)
        .build();
    set(&mut n.node);
    let n = n.start();
    let addr = n.addr();
    (n.node, addr)
}

#[test]
fn protocol_errors_get_their_answers_and_others_are_still_served() {
    let (node, addr) = server();
    let mut bad = Raw::connect(addr, "bad.example.net");
    let mut good = Raw::connect(addr, "good.example.net");

    // 3001: a command code nobody knows
    let req = bad.request(9_999_999, 4, vec![]);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(3001));
    assert!(ans.header.is_error());
    assert_eq!(
        ans.header.hop_by_hop_identifier,
        req.header.hop_by_hop_identifier
    );
    assert_eq!(
        ans.find_avp(&[(AVP_ORIGIN_HOST, 0)]).unwrap().as_str(),
        Some("server.example.net")
    );
    good.still_served();

    // 3002: for another host, and no route to it
    let dest = Avp::new(AVP_DESTINATION_HOST, 0, "elsewhere.example.net").unwrap();
    let req = bad.request(CMD_CREDIT_CONTROL, 4, vec![dest]);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(3002));
    assert!(ans.header.is_error());
    good.still_served();

    // 3007: an application this node does not serve
    let req = bad.request(CMD_CREDIT_CONTROL, 16_777_238, vec![]);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(3007));
    assert!(ans.header.is_error());
    good.still_served();

    // 3008: a request with the E bit
    let mut req = bad.request(CMD_CREDIT_CONTROL, 4, vec![]);
    req.header.set_error(true);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(3008));
    assert!(ans.header.is_error());
    good.still_served();

    // 5001: an AVP with the M bit that nobody knows
    let unknown = Avp::with_value(65_000, 0, AvpValue::Raw(b"??".to_vec())).with_mandatory(true);
    let req = bad.request(CMD_CREDIT_CONTROL, 4, vec![unknown.clone()]);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(5001));
    assert!(!ans.header.is_error());
    assert_eq!(failed(&ans), [unknown]);
    good.still_served();

    // 5004: a UTF8String that is not UTF-8
    let session = Avp::with_value(AVP_SESSION_ID, 0, AvpValue::Raw(b"\xff\xfe".to_vec()))
        .with_mandatory(true);
    let req = bad.request(CMD_CREDIT_CONTROL, 4, vec![session.clone()]);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(5004));
    assert!(!ans.header.is_error());
    assert_eq!(failed(&ans), [session]);
    good.still_served();

    // 5014: an Unsigned32 of 5 bytes
    let mut bytes = bad
        .request(CMD_CREDIT_CONTROL, 4, vec![])
        .as_bytes()
        .unwrap();
    bytes.extend_from_slice(&[0, 0, 1, 22, 0x40, 0, 0, 13, 0, 0, 0, 1, 7, 0, 0, 0]);
    fix_length(&mut bytes);
    let ans = bad.exchange(&bytes).unwrap();
    assert_eq!(result_code(&ans), Some(5014));
    let f = failed(&ans);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].code(), f[0].length()), (AVP_ORIGIN_STATE_ID, 12));
    good.still_served();

    // 5005: required AVPs missing (validate_received_request_avps); the
    // Failed-AVP names each, with a zero-filled value of its minimum size
    let req = bad.request(CMD_CREDIT_CONTROL, 4, vec![]);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(5005));
    assert!(!ans.header.is_error());
    let missing: Vec<(u32, usize)> = failed(&ans)
        .iter()
        .map(|a| (a.code(), a.length()))
        .collect();
    assert_eq!(
        missing,
        [
            (AVP_SESSION_ID, 8),
            (AVP_DESTINATION_REALM, 8),
            (AVP_AUTH_APPLICATION_ID, 12),
            (AVP_SERVICE_CONTEXT_ID, 8),
            (AVP_CC_REQUEST_TYPE, 12),
            (AVP_CC_REQUEST_NUMBER, 12)
        ]
    );
    good.still_served();

    // a valid request reaches the application
    let complete = vec![
        Avp::new(AVP_SESSION_ID, 0, "bad.example.net;1").unwrap(),
        Avp::new(AVP_DESTINATION_REALM, 0, "example.net").unwrap(),
        Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
        Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
        Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
        Avp::new(AVP_CC_REQUEST_NUMBER, 0, 0u32).unwrap(),
    ];
    let req = bad.request(CMD_CREDIT_CONTROL, 4, complete);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    assert!(!ans.header.is_error());

    // the bad peer is still connected after all of that
    bad.still_served();
    node.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn retransmitted_requests_get_the_same_answer_again() {
    let (node, addr) = server();
    let mut peer = Raw::connect(addr, "bad.example.net");
    let req = peer.request(CMD_CREDIT_CONTROL, 16_777_238, vec![]);
    let first = peer.exchange(&req.as_bytes().unwrap()).unwrap();
    // again with the T flag and a new hop-by-hop identifier
    let mut again = req.clone();
    again.header.set_retransmit(true);
    again.header.hop_by_hop_identifier = 0xdead;
    let second = peer.exchange(&again.as_bytes().unwrap()).unwrap();
    assert_eq!(second.header.hop_by_hop_identifier, 0xdead);
    let mut expected = first.clone();
    expected.header.hop_by_hop_identifier = 0xdead;
    assert_eq!(second, expected);
    node.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn broken_frames_close_only_their_connection() {
    let (node, addr) = server();
    let mut good = Raw::connect(addr, "good.example.net");
    for (name, header) in [
        (
            "length below 20",
            [
                1u8, 0, 0, 8, 0x80, 0, 1, 16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ],
        ),
        (
            "16 MiB length",
            [
                1u8, 0xff, 0xff, 0xfc, 0x80, 0, 1, 16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ],
        ),
        (
            "version 2",
            [
                2u8, 0, 0, 20, 0x80, 0, 1, 16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ],
        ),
    ] {
        let mut bad = Raw::connect(addr, "bad2.example.net");
        bad.send(&header);
        assert!(bad.closed(), "{name}: the connection should close");
        good.still_served();
    }
    node.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn connections_beyond_the_limit_are_closed_at_once() {
    let n = TestNode::builder("server.example.net", "example.net")
        .listen()
        .configure(|n| n.max_connections = 2)
        .app_id(AppId::auth(4))
        .clients(&["good.example.net"])
        .start();
    let addr = n.addr();
    let mut good = Raw::connect(addr, "good.example.net");
    // connect returns once the connection is in the listener's queue,
    // which the node accepts in order: the idle one before the third
    let _idle = TcpStream::connect(addr).unwrap();
    let mut third = TcpStream::connect(addr).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        closed_by_peer(&mut third),
        "the third connection should be closed"
    );
    good.still_served();
    n.stop(Duration::from_secs(2), true).unwrap();
}

/// A raw server: accepts one connection, answers the CER, sends a DPR with
/// `cause`, reads the DPA and closes.
fn raw_server_sends_dpr(listener: &std::net::TcpListener, cause: i32) -> Message {
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut raw = Raw {
        stream,
        framer: Framer::new(),
        host: "raw-server.example.net".into(),
        hbh: 1,
    };
    let cer = raw.recv().expect("CER");
    let mut cea = cer.to_answer();
    cea.avps = vec![
        Avp::new(AVP_RESULT_CODE, 0, 2001u32).unwrap(),
        Avp::new(AVP_ORIGIN_HOST, 0, "raw-server.example.net").unwrap(),
        Avp::new(AVP_ORIGIN_REALM, 0, "example.net").unwrap(),
        Avp::new(AVP_HOST_IP_ADDRESS, 0, "127.0.0.1").unwrap(),
        Avp::new(AVP_VENDOR_ID, 0, 1u32).unwrap(),
        Avp::new(AVP_PRODUCT_NAME, 0, "raw").unwrap(),
        Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
    ];
    raw.send(&cea.as_bytes().unwrap());
    let dpr = raw.request(
        CMD_DISCONNECT_PEER,
        0,
        vec![Avp::new(AVP_DISCONNECT_CAUSE, 0, cause).unwrap()],
    );
    raw.exchange(&dpr.as_bytes().unwrap()).expect("DPA")
}

#[test]
fn disconnect_cause_decides_reconnection() {
    for (cause, always, expect_reconnect) in [
        (E_DISCONNECT_CAUSE_DO_NOT_WANT_TO_TALK_TO_YOU, false, false),
        (E_DISCONNECT_CAUSE_BUSY, false, false),
        (E_DISCONNECT_CAUSE_DO_NOT_WANT_TO_TALK_TO_YOU, true, true),
        (E_DISCONNECT_CAUSE_REBOOTING, false, true),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = TestNode::builder("client.example.net", "example.net")
            .app_id(AppId::auth(4))
            .peer(
                PeerSpec::at("raw-server.example.net", port)
                    .reconnect_wait(Duration::from_millis(100)),
            )
            .build();
        let peer = client.peer(0).clone();
        peer.set_always_reconnect(always);
        let client = client.start();
        let dpa = raw_server_sends_dpr(&listener, cause);
        assert_eq!(result_code(&dpa), Some(2001));
        assert_eq!(dpa.header.command_code, CMD_DISCONNECT_PEER);
        listener.set_nonblocking(true).unwrap();
        // the reconnect wait is 100 ms: 1.5 s to come back, or never
        let reconnected = poll_until(Duration::from_millis(1500), || listener.accept().is_ok());
        assert_eq!(
            reconnected, expect_reconnect,
            "cause {cause}, always_reconnect {always}"
        );
        assert_eq!(peer.status.lock().dpr_cause, Some(cause));
        client.stop(Duration::from_secs(2), true).unwrap();
    }
}

/// python's `ip_addresses=["10.0.0.50"]` shape: text is read at
/// `add_peer`/`start`, and text that is not an address is an error naming it.
#[test]
fn addresses_given_as_text_are_checked_where_used() {
    use diameter::node::NodeError;

    let node = Node::new(
        "text.example.net",
        "example.net",
        NodeOptions {
            ip_addresses: vec!["127.0.0.1".into(), "localhost".into()],
            tcp_port: Some(0),
            ..Default::default()
        },
    );
    let peer = node
        .add_peer(
            "aaa://good.example.net",
            None,
            PeerOptions {
                ip_addresses: vec!["127.0.0.2".into(), String::from("::1").into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        peer.ip_addresses,
        vec![
            "127.0.0.2".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    let bad = node.add_peer(
        "aaa://bad.example.net",
        None,
        PeerOptions {
            ip_addresses: vec!["10.0.0.300".into()],
            ..Default::default()
        },
    );
    assert!(matches!(bad, Err(NodeError::InvalidAddress(ref a)) if a == "10.0.0.300"));
    assert!(!node.peers().contains_key("bad.example.net"));
    match node.start() {
        Err(e @ NodeError::InvalidAddress(_)) => assert!(e.to_string().contains("localhost")),
        other => panic!("expected InvalidAddress, got {other:?}"),
    }
    assert!(node.listen_addresses().is_empty());
}

#[test]
fn error_messages_do_not_echo_long_names_whole() {
    let (node, addr) = server();
    let mut bad = Raw::connect(addr, "bad.example.net");
    let mut good = Raw::connect(addr, "good.example.net");
    let long = format!("{}.example.net", "h".repeat(200_000));
    // 3002 quotes the Destination-Host, 3003 the Destination-Realm (with an
    // application the node does not serve)
    for (code, app, avp) in [
        (3002, 4, AVP_DESTINATION_HOST),
        (3003, 16_777_238, AVP_DESTINATION_REALM),
    ] {
        let name = Avp::new(avp, 0, long.as_str()).unwrap();
        let req = bad.request(CMD_CREDIT_CONTROL, app, vec![name]);
        let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
        assert_eq!(result_code(&ans), Some(code));
        let text = ans
            .find_avp(&[(AVP_ERROR_MESSAGE, 0)])
            .and_then(Avp::as_str)
            .unwrap()
            .to_owned();
        assert!(text.len() <= 256, "Error-Message of {} bytes", text.len());
        assert!(text.ends_with("..."), "{text}");
        assert!(ans.as_bytes().unwrap().len() < 1024, "answer of {code}");
        good.still_served();
    }
    node.stop(Duration::from_secs(5), false).unwrap();
}

/// A complete CCR, with this CC-Request-Type (M bit as given).
fn ccr_of_type(raw: &mut Raw, request_type: Avp) -> Message {
    let avps = vec![
        Avp::new(AVP_SESSION_ID, 0, "bad.example.net;2").unwrap(),
        Avp::new(AVP_DESTINATION_REALM, 0, "example.net").unwrap(),
        Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
        Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
        request_type,
        Avp::new(AVP_CC_REQUEST_NUMBER, 0, 0u32).unwrap(),
    ];
    raw.request(CMD_CREDIT_CONTROL, 4, avps)
}

#[test]
fn enumerated_values_the_dictionary_does_not_list_get_5004() {
    let (node, addr) = server();
    let mut bad = Raw::connect(addr, "bad.example.net");
    let unknown =
        Avp::with_value(AVP_CC_REQUEST_TYPE, 0, AvpValue::Enumerated(99)).with_mandatory(true);
    let req = ccr_of_type(&mut bad, unknown.clone());
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(5004), "{ans:?}");
    assert!(!ans.header.is_error());
    assert_eq!(failed(&ans), std::slice::from_ref(&unknown));
    // a listed value, and an unlisted one without the M bit, are served
    for avp in [
        Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
        Avp::with_value(AVP_CC_REQUEST_TYPE, 0, AvpValue::Enumerated(99)).with_mandatory(false),
    ] {
        let req = ccr_of_type(&mut bad, avp);
        let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
        assert_eq!(result_code(&ans), Some(2001), "{ans:?}");
    }
    node.stop(Duration::from_secs(5), false).unwrap();

    // the node option takes values newer than the dictionary
    let (node, addr) = server_with(|n| n.accept_unknown_enumerated_values = true);
    let mut bad = Raw::connect(addr, "bad.example.net");
    let req = ccr_of_type(&mut bad, unknown);
    let ans = bad.exchange(&req.as_bytes().unwrap()).unwrap();
    assert_eq!(result_code(&ans), Some(2001), "{ans:?}");
    node.stop(Duration::from_secs(5), false).unwrap();
}
