//! TLS over TCP (RFC 6733 section 13) with rustls: the node's certificate
//! and CA configuration ([`TlsOptions`]), the rustls configurations built from
//! it once per node ([`TlsContext`]), and one TLS session per connection
//! ([`TlsSession`]) driven by the non-blocking event loop.
//!
//! TLS is always mutual: a server requires a client certificate, and both
//! sides verify the peer's chain against the configured CA certificates. The
//! client also checks the server certificate's name against the Diameter
//! Identity it connects to (during the handshake, unless
//! [`TlsOptions::verify_peer_name`] is false); the server checks the client
//! certificate's name when the CER's Origin-Host arrives
//! ([`TlsSession::check_peer_identity`]).

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use rustls::pki_types::CertificateDer;
use rustls::{ClientConnection, ServerConnection};

pub(crate) use crate::node::tls::{config_error, server_name, TlsContext, TlsError};

/// Most bytes a session buffers for sending (plaintext written before the
/// handshake completes, then TLS records the peer has not read yet): two
/// Diameter messages of the largest size (24-bit length), plus room for
/// records' overhead. [`TlsSession::write_plain`] fails beyond that.
const SEND_BUFFER_LIMIT: usize = 2 * (1 << 24) + (1 << 20);

/// How [`TlsSession::read_from`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// Everything available was read; the connection stays open.
    Open,
    /// The read budget is spent; more may wait in the socket.
    More,
    /// The peer closed: TCP end of stream, or a TLS close_notify.
    Closed,
}

/// One TLS connection, fed by a non-blocking socket.
///
/// The event loop calls [`read_from`](Self::read_from) when the socket is
/// readable and [`write_to`](Self::write_to) when it is writable and
/// [`wants_write`](Self::wants_write); plaintext goes in with
/// [`write_plain`](Self::write_plain) (buffered until the handshake is done).
pub(crate) struct TlsSession {
    conn: rustls::Connection,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .field("wants_write", &self.conn.wants_write())
            .finish_non_exhaustive()
    }
}

impl TlsSession {
    fn new(mut conn: rustls::Connection) -> Self {
        // Received plaintext is bounded by rustls itself (16 KiB, drained by
        // read_from after every read); this bounds what is queued to send.
        conn.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
        TlsSession { conn }
    }

    /// Reads TLS records from `io` until it would block or ends, decrypts
    /// them and hands every chunk of plaintext to `plaintext`, in order.
    ///
    /// A TLS failure (bad certificate, bad record, alert from the peer)
    /// returns an error of kind [`io::ErrorKind::InvalidData`] carrying
    /// rustls' message; the session keeps any alert to send, so the caller
    /// should still [`write_to`](Self::write_to) before closing the socket.
    ///
    /// With `stop_at_handshake` it also returns [`ReadOutcome::Open`] as
    /// soon as the handshake completes (after handing over the plaintext
    /// that came with it, at most a few records), so that the caller can
    /// check the peer's certificate before reading on. The socket may still
    /// hold data then: the caller must call again.
    pub(crate) fn read_from(
        &mut self,
        io: &mut impl Read,
        plaintext: &mut impl FnMut(&[u8]),
        stop_at_handshake: bool,
        budget: &mut usize,
    ) -> io::Result<ReadOutcome> {
        loop {
            if *budget == 0 {
                return Ok(ReadOutcome::More);
            }
            let was_handshaking = self.conn.is_handshaking();
            let eof = match self.conn.read_tls(io) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Open),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let state = self
                .conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let closed = state.peer_has_closed();
            let mut reader = self.conn.reader();
            // fill_buf fails when no plaintext is left for now (WouldBlock)
            // or the stream ended (UnexpectedEof after a TCP close without
            // close_notify); `eof` and `closed` tell which.
            while let Ok(chunk) = reader.fill_buf() {
                if chunk.is_empty() {
                    break;
                }
                let len = chunk.len();
                *budget = budget.saturating_sub(len);
                plaintext(chunk);
                reader.consume(len);
            }
            if eof || closed {
                return Ok(ReadOutcome::Closed);
            }
            if stop_at_handshake && was_handshaking && !self.conn.is_handshaking() {
                return Ok(ReadOutcome::Open);
            }
        }
    }

    /// Queues plaintext to send (encrypted at once when the handshake is
    /// done, held until then otherwise); [`write_to`](Self::write_to) sends
    /// it. Fails when more than the send buffer limit (about 33 MB) would be
    /// queued because the peer does not read: the connection should then be
    /// closed.
    pub(crate) fn write_plain(&mut self, data: &[u8]) -> io::Result<()> {
        let mut writer = self.conn.writer();
        let mut rest = data;
        while !rest.is_empty() {
            let n = writer.write(rest)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!(
                        "TLS send buffer full ({SEND_BUFFER_LIMIT} bytes queued): \
                         the peer does not read"
                    ),
                ));
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Writes queued TLS records (handshake, data, alerts) to `io` until
    /// none is left or it would block.
    pub(crate) fn write_to(&mut self, io: &mut impl Write) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(io) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the socket accepted no TLS data",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// True while TLS records are waiting to be written.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// True until the handshake is complete.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether this side is the TLS client (the node opened the connection).
    pub(crate) fn is_client(&self) -> bool {
        matches!(self.conn, rustls::Connection::Client(_))
    }

    /// Queues a close_notify alert (sent by the next
    /// [`write_to`](Self::write_to)); nothing can be written after it.
    /// A connection should end with it: freeDiameter (GnuTLS) logs "The TLS
    /// connection was non-properly terminated" when TCP closes without one.
    pub(crate) fn send_close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// The peer's end-entity certificate, once the handshake has received
    /// it.
    pub(crate) fn peer_certificate(&self) -> Option<CertificateDer<'static>> {
        self.conn
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|cert| cert.clone().into_owned())
    }

    /// Checks that the peer's certificate is valid for `identity` as a DNS
    /// name (subjectAltName): a server calls it when the client's CER
    /// arrives, with its Origin-Host. The chain was verified by the
    /// handshake.
    pub(crate) fn check_peer_identity(&self, identity: &str) -> Result<(), TlsError> {
        let cert = self
            .peer_certificate()
            .ok_or(TlsError::PeerCertificateMissing)?;
        let name = server_name(identity)?;
        let mismatch = |detail: String| TlsError::PeerNameMismatch {
            expected: identity.to_string(),
            detail,
        };
        let parsed = webpki::EndEntityCert::try_from(&cert)
            .map_err(|e| mismatch(format!("unparsable certificate: {e}")))?;
        parsed
            .verify_is_valid_for_subject_name(&name)
            .map_err(|e| match e {
                webpki::Error::CertNotValidForName(context) if context.presented.is_empty() => {
                    mismatch("it has no subjectAltName DNS name".to_string())
                }
                webpki::Error::CertNotValidForName(context) => {
                    mismatch(format!("it is valid for {}", context.presented.join(", ")))
                }
                other => mismatch(other.to_string()),
            })
    }
}

/// Sessions made from a node's [`TlsContext`].
pub(crate) trait Sessions {
    /// A session for a connection this node initiated to `peer_identity`:
    /// the handshake checks that the server's certificate is valid for that
    /// name (unless [`TlsOptions::verify_peer_name`] is false).
    fn client_session(&self, peer_identity: &str) -> Result<TlsSession, TlsError>;
    /// A session for a connection this node accepted.
    fn server_session(&self) -> Result<TlsSession, TlsError>;
}

impl Sessions for TlsContext {
    fn client_session(&self, peer_identity: &str) -> Result<TlsSession, TlsError> {
        let name = server_name(peer_identity)?;
        let conn = ClientConnection::new(self.client.clone(), name)
            .map_err(|e| config_error(format!("TLS client session to {peer_identity}"), e))?;
        Ok(TlsSession::new(rustls::Connection::Client(conn)))
    }

    fn server_session(&self) -> Result<TlsSession, TlsError> {
        let conn = ServerConnection::new(self.server.clone())
            .map_err(|e| config_error("TLS server session", e))?;
        Ok(TlsSession::new(rustls::Connection::Server(conn)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tls::TlsOptions;
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("data")
            .join("tls")
            .join(name)
    }

    /// Options for `name` (`node1.example.test`...) trusting `ca` (`ca`,
    /// `other-ca`).
    fn options(name: &str, ca: &str) -> TlsOptions {
        TlsOptions {
            cert_file: data(&format!("{name}.pem")),
            key_file: data(&format!("{name}.key")),
            ca_files: vec![data(&format!("{ca}.pem"))],
            verify_peer_name: true,
        }
    }

    fn context(name: &str, ca: &str) -> TlsContext {
        TlsContext::new(&options(name, ca)).expect("test TLS context")
    }

    /// One side of a connection: its session, socket, what it received and
    /// how it ended.
    struct End {
        session: TlsSession,
        socket: TcpStream,
        received: Vec<u8>,
        error: Option<io::Error>,
        closed: bool,
    }

    impl End {
        fn pump(&mut self) {
            if self.error.is_none() && !self.closed {
                let received = &mut self.received;
                match self.session.read_from(
                    &mut self.socket,
                    &mut |b: &[u8]| received.extend(b),
                    false,
                    &mut { usize::MAX },
                ) {
                    Ok(ReadOutcome::Open | ReadOutcome::More) => {}
                    Ok(ReadOutcome::Closed) => self.closed = true,
                    Err(e) => self.error = Some(e),
                }
            }
            // Alerts go out even after an error.
            if let Err(e) = self.session.write_to(&mut self.socket) {
                if self.error.is_none() && e.kind() != io::ErrorKind::BrokenPipe {
                    self.error = Some(e);
                }
            }
        }
    }

    fn connect(client: TlsSession, server: TlsSession) -> (End, End) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (s, _) = listener.accept().expect("accept");
        c.set_nonblocking(true).expect("nonblocking");
        s.set_nonblocking(true).expect("nonblocking");
        let end = |session, socket| End {
            session,
            socket,
            received: Vec::new(),
            error: None,
            closed: false,
        };
        (end(client, c), end(server, s))
    }

    /// Pumps both ends until `done` or 5 s.
    fn run(client: &mut End, server: &mut End, done: impl Fn(&End, &End) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(client, server) {
            assert!(Instant::now() < deadline, "TLS exchange timed out");
            client.pump();
            server.pump();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Runs a handshake between a client of `client_ctx` expecting
    /// `expected` and a server of `server_ctx`, until both finish it or one
    /// fails.
    fn handshake(client_ctx: &TlsContext, expected: &str, server_ctx: &TlsContext) -> (End, End) {
        let (mut c, mut s) = connect(
            client_ctx.client_session(expected).expect("client session"),
            server_ctx.server_session().expect("server session"),
        );
        run(&mut c, &mut s, |c, s| {
            let failed = |e: &End| e.error.is_some() || e.closed;
            (failed(c) && (failed(s) || !s.session.wants_write()))
                || (failed(s) && (failed(c) || !c.session.wants_write()))
                || (!c.session.is_handshaking() && !s.session.is_handshaking())
        });
        // Let the alert of a failing side reach the other one.
        for _ in 0..20 {
            c.pump();
            s.pump();
            std::thread::sleep(Duration::from_millis(1));
        }
        (c, s)
    }

    fn error_text(end: &End) -> String {
        end.error
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn mutual_handshake_and_data_both_ways() {
        let server_ctx = context("node1.example.test", "ca");
        let client_ctx = context("node2.example.test", "ca");
        let (mut c, mut s) = connect(
            client_ctx
                .client_session("node1.example.test")
                .expect("client session"),
            server_ctx.server_session().expect("server session"),
        );
        assert!(c.session.is_handshaking() && s.session.is_handshaking());
        // Written before the handshake: buffered, sent after it.
        c.session.write_plain(b"CER from node2").expect("write");
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        c.session.write_plain(&big).expect("write big");
        run(&mut c, &mut s, |c, s| {
            c.error.is_some() || s.error.is_some() || s.received.len() >= 14 + big.len()
        });
        assert!(c.error.is_none(), "client: {:?}", c.error);
        assert!(s.error.is_none(), "server: {:?}", s.error);
        assert_eq!(&s.received[..14], b"CER from node2");
        assert_eq!(&s.received[14..], &big[..]);
        assert!(!c.session.is_handshaking() && !s.session.is_handshaking());

        s.session.write_plain(b"CEA from node1").expect("write");
        run(&mut c, &mut s, |c, _| c.received.len() >= 14);
        assert_eq!(c.received, b"CEA from node1");

        // Certificates and names.
        assert!(c.session.peer_certificate().is_some());
        assert!(s.session.peer_certificate().is_some());
        s.session
            .check_peer_identity("node2.example.test")
            .expect("client cert valid for node2");
        let err = s
            .session
            .check_peer_identity("node1.example.test")
            .expect_err("client cert not valid for node1");
        assert!(matches!(err, TlsError::PeerNameMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("node1.example.test"), "{err}");
        c.session
            .check_peer_identity("node1.example.test")
            .expect("server cert valid for node1");
        assert!(matches!(
            s.session.check_peer_identity("not a name"),
            Err(TlsError::InvalidServerName { .. })
        ));

        // close_notify ends the other side's stream.
        c.session.send_close_notify();
        run(&mut c, &mut s, |_, s| s.closed);
        assert!(s.error.is_none(), "server: {:?}", s.error);
    }

    #[test]
    fn client_refuses_server_from_unknown_ca() {
        let server_ctx = context("node1.example.test", "ca");
        let client_ctx = context("other-node1.example.test", "other-ca");
        let (c, s) = handshake(&client_ctx, "node1.example.test", &server_ctx);
        let text = error_text(&c);
        assert_eq!(
            c.error.as_ref().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidData),
            "client: {text}"
        );
        assert!(text.contains("UnknownIssuer"), "client: {text}");
        // The server learns it through the client's alert.
        assert!(
            s.error.is_some() || s.closed,
            "server did not see the failure"
        );
    }

    #[test]
    fn server_refuses_client_from_unknown_ca() {
        let server_ctx = context("node1.example.test", "ca");
        // Trusts both CAs, so it accepts the server; presents other-ca's cert.
        let client_ctx = TlsContext::new(&TlsOptions {
            ca_files: vec![data("ca.pem"), data("other-ca.pem")],
            ..options("other-node1.example.test", "ca")
        })
        .expect("client context");
        let (c, s) = handshake(&client_ctx, "node1.example.test", &server_ctx);
        let text = error_text(&s);
        assert_eq!(
            s.error.as_ref().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidData),
            "server: {text}"
        );
        assert!(text.contains("UnknownIssuer"), "server: {text}");
        assert!(
            c.error.is_some() || c.closed,
            "client did not see the failure"
        );
    }

    #[test]
    fn client_refuses_server_name_mismatch() {
        let server_ctx = context("node1.example.test", "ca");
        let client_ctx = context("node2.example.test", "ca");
        let (c, _s) = handshake(&client_ctx, "node2.example.test", &server_ctx);
        let text = error_text(&c);
        assert!(
            c.error.is_some(),
            "client accepted a server for another name"
        );
        assert!(text.contains("node2.example.test"), "client: {text}");
    }

    #[test]
    fn no_name_check_still_verifies_the_chain() {
        let server_ctx = context("node1.example.test", "ca");
        let client_ctx = TlsContext::new(&TlsOptions {
            verify_peer_name: false,
            ..options("node2.example.test", "ca")
        })
        .expect("client context");
        let (c, s) = handshake(&client_ctx, "node2.example.test", &server_ctx);
        assert!(c.error.is_none(), "client: {:?}", c.error);
        assert!(s.error.is_none(), "server: {:?}", s.error);
        assert!(!c.session.is_handshaking() && !s.session.is_handshaking());

        let wrong_ca_ctx = TlsContext::new(&TlsOptions {
            verify_peer_name: false,
            ..options("other-node1.example.test", "other-ca")
        })
        .expect("client context");
        let (c, _s) = handshake(&wrong_ca_ctx, "node1.example.test", &server_ctx);
        assert!(
            error_text(&c).contains("UnknownIssuer"),
            "client: {:?}",
            c.error
        );
    }

    #[test]
    fn file_errors_name_the_file() {
        let missing = data("missing.pem");
        let err = TlsContext::new(&TlsOptions {
            cert_file: missing.clone(),
            ..options("node1.example.test", "ca")
        })
        .expect_err("missing certificate file");
        assert!(matches!(err, TlsError::ReadFile { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let err = TlsContext::new(&TlsOptions {
            key_file: data("ca.pem"),
            ..options("node1.example.test", "ca")
        })
        .expect_err("key file without a key");
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
        assert!(err.to_string().contains("ca.pem"), "{err}");

        let err = TlsContext::new(&TlsOptions {
            cert_file: data("node1.example.test.key"),
            ..options("node1.example.test", "ca")
        })
        .expect_err("certificate file without a certificate");
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
        assert!(err.to_string().contains("node1.example.test.key"), "{err}");

        let err = TlsContext::new(&TlsOptions {
            ca_files: vec![data("ca.key")],
            ..options("node1.example.test", "ca")
        })
        .expect_err("CA file without a certificate");
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");

        let err = TlsContext::new(&TlsOptions {
            ca_files: Vec::new(),
            ..options("node1.example.test", "ca")
        })
        .expect_err("no CA");
        assert!(matches!(err, TlsError::NoCaCertificate), "{err:?}");

        let err = TlsContext::new(&TlsOptions {
            key_file: data("node2.example.test.key"),
            ..options("node1.example.test", "ca")
        })
        .expect_err("key of another certificate");
        assert!(matches!(err, TlsError::Config { .. }), "{err:?}");

        let ctx = context("node1.example.test", "ca");
        assert!(matches!(
            ctx.client_session("bad name!"),
            Err(TlsError::InvalidServerName { .. })
        ));
    }

    #[test]
    fn default_options_check_names() {
        let options = TlsOptions::default();
        assert!(options.verify_peer_name);
        assert!(options.ca_files.is_empty());
    }
}
