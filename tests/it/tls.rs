//! Two Rust nodes over TLS on loopback (`--features tls`): mutual TLS from the
//! first byte (`aaas://`) and in-band TLS after CER/CEA, with CCR/CCA,
//! DWR/DWA and DPR/DPA through it; a certificate from another CA, a server
//! certificate that does not name the peer, and a client certificate that
//! does not name its Origin-Host are refused, logged and counted.

use std::sync::Arc;
use std::time::Duration;

use crate::support::cc::{answer, app_requests, count, exchange};
use crate::support::node::lo;
use crate::support::{wait_until, PeerSpec, TestNode};
use diameter::message::constants::*;
use diameter::message::{Avp, Message, MessageHeader};
use diameter::node::application::{AppBase, Application, ThreadingApplication};
use diameter::node::peer::*;
use diameter::node::{
    InbandTls, ListenTransport, Node, NodeError, NodeOptions, PeerOptions, TlsOptions,
};

const SERVER: &str = "node2.example.test";
const CLIENT: &str = "node1.example.test";
const REALM: &str = "example.test";

/// TLS options with `cert` (its .pem and .key) trusting `ca`.
fn tls(cert: &str, ca: &str) -> TlsOptions {
    crate::support::tls_options(cert, ca)
}

/// The server: TLS port and cleartext TCP port, both on loopback port 0.
fn server(options: Option<TlsOptions>, inband: InbandTls) -> (Node, Arc<Peer>) {
    let (n, mut peers) = TestNode::builder(SERVER, REALM)
        .listen()
        .options(|o| {
            o.tls_port = options.is_some().then_some(0);
            o.inband_tls = inband;
            o.tls = options;
        })
        .clients(&[CLIENT])
        .app(ThreadingApplication::new(AppBase::auth(4), 4, answer))
        .start()
        .into_parts();
    (n, peers.remove(0))
}

fn port_of(n: &Node, t: ListenTransport) -> u16 {
    n.listen_addresses_for(t)[0].port()
}

/// The client, connecting to `uri`.
fn client(
    options: Option<TlsOptions>,
    inband: InbandTls,
    uri: &str,
) -> (Node, Arc<Peer>, Arc<ThreadingApplication>) {
    let app = ThreadingApplication::new(AppBase::auth(4), 0, |_, _| Ok(None));
    let (n, mut peers) = TestNode::builder(CLIENT, REALM)
        .loopback()
        .options(|o| {
            o.inband_tls = inband;
            o.tls = options;
        })
        .configure(|n| n.idle_timeout = Duration::from_millis(300))
        .peer(
            PeerSpec::uri(uri)
                .persistent(true)
                .reconnect_wait(Duration::from_millis(200)),
        )
        .app(app.clone())
        .start()
        .into_parts();
    (n, peers.remove(0), app)
}

/// CCR/CCA, DWR/DWA and DPR/DPA over an open connection, then both stop.
fn full_exchange(
    server: Node,
    client_on_server: &Peer,
    client: Node,
    server_on_client: &Peer,
    app: &ThreadingApplication,
) {
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    assert_eq!(count(&server_on_client.counters.cea), 1);
    exchange(app, CLIENT, REALM, 0..100);
    wait_until("100 counted", Duration::from_secs(5), || {
        app_requests(client_on_server) == 100
    });
    wait_until("DWR/DWA", Duration::from_secs(10), || {
        count(&server_on_client.counters.dwa) >= 2
    });
    client.stop(Duration::from_secs(5), false).unwrap();
    assert_eq!(count(&server_on_client.counters.dpa), 1);
    wait_until("the server sees the DPR", Duration::from_secs(5), || {
        count(&client_on_server.counters.dpr) == 1
            && client_on_server.status.lock().connection.is_none()
    });
    assert_eq!(client.transport_stats(), Default::default());
    assert_eq!(server.transport_stats(), Default::default());
    server.stop(Duration::from_secs(5), false).unwrap();
}

#[test]
fn mutual_tls_from_the_first_byte() {
    let (server, client_on_server) = server(Some(tls(SERVER, "ca.pem")), InbandTls::Off);
    let port = port_of(&server, ListenTransport::Tls);
    let (client, server_on_client, app) = client(
        Some(tls(CLIENT, "ca.pem")),
        InbandTls::Off,
        &format!("aaas://{SERVER}:{port};transport=tcp"),
    );
    full_exchange(server, &client_on_server, client, &server_on_client, &app);
}

#[test]
fn in_band_tls_after_cer_cea() {
    let (server, client_on_server) = server(Some(tls(SERVER, "ca.pem")), InbandTls::Optional);
    let port = port_of(&server, ListenTransport::Tcp);
    let (client, server_on_client, app) = client(
        Some(tls(CLIENT, "ca.pem")),
        InbandTls::Required,
        &format!("aaa://{SERVER}:{port};transport=tcp"),
    );
    full_exchange(server, &client_on_server, client, &server_on_client, &app);
}

/// Connects a client to a server that must refuse it; returns both nodes and
/// the client's view of the server once `settled` says the failure was seen.
fn refused(
    server_tls: TlsOptions,
    server_inband: InbandTls,
    client_tls: Option<TlsOptions>,
    client_inband: InbandTls,
    secure: bool,
    settled: impl Fn(&Node, &Node) -> bool,
) -> (Node, Node, Arc<Peer>) {
    let (server, client_on_server) = server(Some(server_tls), server_inband);
    let (scheme, port) = if secure {
        ("aaas", port_of(&server, ListenTransport::Tls))
    } else {
        ("aaa", port_of(&server, ListenTransport::Tcp))
    };
    let (client, server_on_client, app) = client(
        client_tls,
        client_inband,
        &format!("{scheme}://{SERVER}:{port};transport=tcp"),
    );
    wait_until("the refusal", Duration::from_secs(10), || {
        settled(&server, &client)
    });
    if secure {
        // TLS first: no CER gets through, the client never opens
        assert!(
            app.base()
                .wait_for_ready(Duration::from_millis(300))
                .is_err(),
            "the connection must not open"
        );
    }
    // in-band with TLS 1.3, the client finishes its handshake before the
    // server has checked its certificate: it may open, and is closed at once
    wait_until("the client's side closes", Duration::from_secs(5), || {
        !server_on_client.is_ready()
    });
    assert_eq!(
        client_on_server.status.lock().last_connect,
        None,
        "the server never opens the connection"
    );
    (server, client, server_on_client)
}

fn stop(a: Node, b: Node) {
    b.stop(Duration::from_secs(2), true).unwrap();
    a.stop(Duration::from_secs(2), true).unwrap();
}

/// Sends node1's CER over a plain TCP connection to `port`, offering these
/// Inband-Security-Id values, and reads the CEA: (the connection, the CEA,
/// its Result-Code).
fn raw_cer(port: u16, inband: &[i32]) -> (std::net::TcpStream, Message, Option<u32>) {
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect((lo(), port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut header = MessageHeader::new(CMD_CAPABILITIES_EXCHANGE, 0);
    header.set_request(true);
    let mut cer = Message::new(
        header,
        vec![
            Avp::new(AVP_ORIGIN_HOST, 0, CLIENT).unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, REALM).unwrap(),
            Avp::new(AVP_HOST_IP_ADDRESS, 0, lo()).unwrap(),
            Avp::new(AVP_VENDOR_ID, 0, 99999u32).unwrap(),
            Avp::new(AVP_PRODUCT_NAME, 0, "raw").unwrap(),
            Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
        ],
    );
    for id in inband {
        cer.append_avp(Avp::new(AVP_INBAND_SECURITY_ID, 0, *id).unwrap());
    }
    raw.write_all(&cer.as_bytes().unwrap()).unwrap();
    let mut head = [0u8; 20];
    raw.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    let mut bytes = head.to_vec();
    bytes.resize(len, 0);
    raw.read_exact(&mut bytes[20..]).unwrap();
    let cea = Message::from_bytes(&bytes).unwrap();
    let code = cea.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32);
    (raw, cea, code)
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let (server, client, _) = refused(
        tls(SERVER, "ca.pem"),
        InbandTls::Off,
        // signed by other-ca, for node1's name; trusts the right CA itself
        Some(tls("other-node1.example.test", "ca.pem")),
        InbandTls::Off,
        true,
        |s, _| s.transport_stats().tls_handshake_failures >= 1,
    );
    stop(server, client);
}

#[test]
fn a_server_from_an_untrusted_ca_is_refused() {
    let (server, client, _) = refused(
        tls(SERVER, "ca.pem"),
        InbandTls::Off,
        Some(tls(CLIENT, "other-ca.pem")),
        InbandTls::Off,
        true,
        |_, c| c.transport_stats().tls_handshake_failures >= 1,
    );
    stop(server, client);
}

#[test]
fn a_server_certificate_for_another_name_is_refused() {
    // node2 presents fd.example.test's certificate: the client meant node2
    let (server, client, _) = refused(
        tls("fd.example.test", "ca.pem"),
        InbandTls::Off,
        Some(tls(CLIENT, "ca.pem")),
        InbandTls::Off,
        true,
        |_, c| c.transport_stats().tls_handshake_failures >= 1,
    );
    stop(server, client);
}

#[test]
fn a_client_certificate_for_another_name_gets_its_cer_refused() {
    // node1 presents py.example.test's certificate: its CER is refused (CEA
    // 3010, sent through TLS)
    let (server, client, server_on_client) = refused(
        tls(SERVER, "ca.pem"),
        InbandTls::Off,
        Some(tls("py.example.test", "ca.pem")),
        InbandTls::Off,
        true,
        |s, _| s.transport_stats().tls_identity_mismatches >= 1,
    );
    wait_until("the CEA", Duration::from_secs(5), || {
        server_on_client.status.lock().disconnect_reason.is_some()
    });
    assert_eq!(
        server_on_client.status.lock().disconnect_reason,
        Some(DISCONNECT_REASON_CER_REJECTED)
    );
    stop(server, client);
}

#[test]
fn in_band_tls_with_an_untrusted_certificate_is_refused() {
    let (server, client, _) = refused(
        tls(SERVER, "ca.pem"),
        InbandTls::Optional,
        Some(tls("other-node1.example.test", "ca.pem")),
        InbandTls::Required,
        false,
        |s, _| s.transport_stats().tls_handshake_failures >= 1,
    );
    stop(server, client);
}

#[test]
fn in_band_tls_with_a_client_certificate_for_another_name_is_refused() {
    let (server, client, _) = refused(
        tls(SERVER, "ca.pem"),
        InbandTls::Optional,
        Some(tls("py.example.test", "ca.pem")),
        InbandTls::Required,
        false,
        |s, _| s.transport_stats().tls_identity_mismatches >= 1,
    );
    stop(server, client);
}

#[test]
fn in_band_tls_required_against_a_cleartext_server_gets_5017() {
    let (server, client, server_on_client) = refused(
        tls(SERVER, "ca.pem"),
        InbandTls::Off,
        Some(tls(CLIENT, "ca.pem")),
        InbandTls::Required,
        false,
        |_, _| true,
    );
    wait_until("the CEA", Duration::from_secs(5), || {
        server_on_client.status.lock().disconnect_reason.is_some()
    });
    assert_eq!(
        server_on_client.status.lock().disconnect_reason,
        Some(DISCONNECT_REASON_CER_REJECTED)
    );
    // the CEA such a CER gets
    let port = port_of(&server, ListenTransport::Tcp);
    let (_, cea, code) = raw_cer(port, &[E_INBAND_SECURITY_ID_TLS]);
    assert_eq!(
        code,
        Some(E_RESULT_CODE_DIAMETER_NO_COMMON_SECURITY),
        "{cea}"
    );
    stop(server, client);
}

#[test]
fn in_band_tls_optional_stays_clear_with_a_cleartext_client() {
    let (server, client_on_server) = server(Some(tls(SERVER, "ca.pem")), InbandTls::Optional);
    let port = port_of(&server, ListenTransport::Tcp);
    let (client, server_on_client, app) =
        client(None, InbandTls::Off, &format!("aaa://{SERVER}:{port}"));
    full_exchange(server, &client_on_server, client, &server_on_client, &app);
}

#[test]
fn configuration_errors_name_what_is_wrong() {
    // aaas without certificates
    let n = Node::new(CLIENT, REALM, NodeOptions::default());
    match n.add_peer(&format!("aaas://{SERVER}"), None, PeerOptions::default()) {
        Err(NodeError::TlsNotConfigured(why)) => assert!(why.contains("NodeOptions::tls"), "{why}"),
        other => panic!("{other:?}"),
    }
    // a missing key file
    let mut bad = tls(CLIENT, "ca.pem");
    bad.key_file = crate::support::test_cert("ca.key").with_file_name("no-such.key");
    let n = Node::new(
        CLIENT,
        REALM,
        NodeOptions {
            tls: Some(bad),
            ..Default::default()
        },
    );
    match n.start() {
        Err(NodeError::Tls(e)) => assert!(e.to_string().contains("no-such.key"), "{e}"),
        other => panic!("{other:?}"),
    }
    // a CA file that is a key, not a certificate
    let mut bad = tls(CLIENT, "ca.pem");
    bad.ca_files = vec![crate::support::test_cert("ca.key")];
    let n = Node::new(
        CLIENT,
        REALM,
        NodeOptions {
            tls: Some(bad),
            ..Default::default()
        },
    );
    match n.start() {
        Err(NodeError::Tls(e)) => assert!(e.to_string().contains("ca.key"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_peer_configured_for_tls_cannot_come_in_the_clear() {
    // the server knows node1 as aaas://: a cleartext CER from it gets 5017
    let (server, mut peers) = TestNode::builder(SERVER, REALM)
        .listen()
        .options(|o| o.tls = Some(tls(SERVER, "ca.pem")))
        .peer(PeerSpec::uri(&format!("aaas://{CLIENT}")).anywhere())
        .start()
        .into_parts();
    let client_on_server = peers.remove(0);
    let port = port_of(&server, ListenTransport::Tcp);
    let (_, cea, code) = raw_cer(port, &[]);
    assert_eq!(
        code,
        Some(E_RESULT_CODE_DIAMETER_NO_COMMON_SECURITY),
        "{cea}"
    );
    // a node gets no further
    let (client, server_on_client, app) =
        client(None, InbandTls::Off, &format!("aaa://{SERVER}:{port}"));
    wait_until("the CEA", Duration::from_secs(5), || {
        server_on_client.status.lock().disconnect_reason.is_some()
    });
    assert!(app
        .base()
        .wait_for_ready(Duration::from_millis(200))
        .is_err());
    assert_eq!(client_on_server.status.lock().last_connect, None);
    stop(server, client);
}

#[test]
fn garbage_on_the_tls_port_is_a_counted_failure_and_others_are_still_served() {
    use std::io::{Read, Write};
    let (server, client_on_server) = server(Some(tls(SERVER, "ca.pem")), InbandTls::Optional);
    let tls_port = port_of(&server, ListenTransport::Tls);
    let tcp_port = port_of(&server, ListenTransport::Tcp);
    // not TLS at all: a Diameter header and noise
    let mut raw = std::net::TcpStream::connect((lo(), tls_port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut noise = vec![1u8, 0, 0, 20, 0x80, 0, 1, 1];
    noise.extend((0..65536u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    let _ = raw.write_all(&noise);
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink); // the server closes
    wait_until("the failure is counted", Duration::from_secs(5), || {
        server.transport_stats().tls_handshake_failures >= 1
    });
    // in-band: a TLS offer in the CER, then noise instead of a ClientHello
    let (mut raw, cea, code) = raw_cer(tcp_port, &[E_INBAND_SECURITY_ID_TLS]);
    assert_eq!(code, Some(E_RESULT_CODE_DIAMETER_SUCCESS), "{cea}");
    assert_eq!(
        cea.find_avp(&[(AVP_INBAND_SECURITY_ID, 0)])
            .and_then(Avp::as_i32),
        Some(E_INBAND_SECURITY_ID_TLS)
    );
    let _ = raw.write_all(&noise);
    let _ = raw.read_to_end(&mut sink);
    wait_until(
        "the second failure is counted",
        Duration::from_secs(5),
        || server.transport_stats().tls_handshake_failures >= 2,
    );
    assert_eq!(client_on_server.status.lock().last_connect, None);
    // a real client is still served
    let (client, _, app) = client(
        Some(tls(CLIENT, "ca.pem")),
        InbandTls::Off,
        &format!("aaas://{SERVER}:{tls_port};transport=tcp"),
    );
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    exchange(&app, CLIENT, REALM, 0..10);
    assert_eq!(server.transport_stats().tls_handshake_failures, 2);
    stop(server, client);
}

/// In-band TLS is Required: once CER/CEA chose TLS, a cleartext request
/// instead of a ClientHello is never handed to the application and the
/// connection closes; a cleartext request sent together with the CER is
/// not processed either. A real in-band client is served afterwards (the
/// handler does count).
#[test]
fn cleartext_after_in_band_tls_was_agreed_is_not_processed() {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const RAW: &str = "raw.example.test";
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let (server, peers) = TestNode::builder(SERVER, REALM)
        .listen()
        .options(|o| {
            o.inband_tls = InbandTls::Required;
            o.tls = Some(tls(SERVER, "ca.pem"));
        })
        .clients(&[RAW, CLIENT])
        .app(ThreadingApplication::new(
            AppBase::auth(4),
            0,
            move |app, req| {
                counted.fetch_add(1, Ordering::SeqCst);
                answer(app, req)
            },
        ))
        .start()
        .into_parts();
    let raw_on_server = peers[0].clone();
    let addr = server.listen_addresses_for(ListenTransport::Tcp)[0];
    let offer = crate::support::raw::cer(RAW, REALM, &[4], &[E_INBAND_SECURITY_ID_TLS]);
    let tls_chosen = |cea: &Message| {
        assert_eq!(crate::support::raw::result_code(cea), Some(2001), "{cea}");
        assert_eq!(
            cea.find_avp(&[(AVP_INBAND_SECURITY_ID, 0)])
                .and_then(Avp::as_i32),
            Some(E_INBAND_SECURITY_ID_TLS),
            "{cea}"
        );
    };

    // the CEA first, then a CCR in the clear where the ClientHello belongs
    let mut raw = crate::support::raw::RawPeer::open(addr, RAW, REALM);
    let cea = raw.exchange(&offer.as_bytes().unwrap()).expect("CEA");
    tls_chosen(&cea);
    let ccr = crate::support::cc::ccr(RAW, REALM, 1).as_bytes().unwrap();
    let _ = raw.stream.write_all(&ccr);
    assert!(
        crate::support::raw::closed_by_peer(&mut raw.stream),
        "the server must close the connection"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the CCR was handled");

    // the CCR in the same segment as the CER
    let mut raw = crate::support::raw::RawPeer::open(addr, RAW, REALM);
    let mut both = offer.as_bytes().unwrap();
    both.extend_from_slice(&crate::support::cc::ccr(RAW, REALM, 2).as_bytes().unwrap());
    let cea = raw.exchange(&both).expect("CEA");
    tls_chosen(&cea);
    raw.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        crate::support::raw::closed_by_peer(&mut raw.stream),
        "the server must close the connection"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the CCR was handled");
    assert_eq!(raw_on_server.status.lock().last_connect, None);

    // a real in-band client is served, and counted
    let (client, _, app) = client(
        Some(tls(CLIENT, "ca.pem")),
        InbandTls::Required,
        &format!("aaa://{SERVER}:{}", addr.port()),
    );
    app.base().wait_for_ready(Duration::from_secs(10)).unwrap();
    exchange(&app, CLIENT, REALM, 0..3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(raw_on_server.status.lock().last_connect, None);
    stop(server, client);
}
