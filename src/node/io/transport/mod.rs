//! The transport seam: the sockets the event loop reads and writes, behind
//! two small enums. TCP and TLS/TCP carry a byte stream; SCTP carries one
//! Diameter message per SCTP message, with payload protocol id 46 and
//! CER/CEA and DPR/DPA on stream 0. Only the event loop owns these sockets;
//! the protocol above them (the peer machine) never sees which one it runs
//! on, and these types never see the machine: a read fills the loop's
//! [`Inbox`] and says what it holds ([`Got`]); a write takes bytes from
//! the front of an [`Outbox`].

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream};

pub(crate) mod sctp_sys;
#[cfg(feature = "tls")]
pub mod tls;

use sctp_sys::SctpSocket;

static SCTP_BUFFER_LOG: crate::node::ratelimit::RateLimit =
    crate::node::ratelimit::RateLimit::new("diameter.connection");

/// How a read ended.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// Everything available was read.
    WouldBlock,
    /// The read budget is spent: more may wait, and no new readiness event
    /// will say so; read again on the next turn.
    More,
    /// The peer closed the connection.
    Closed,
    /// The socket (or the TLS session) failed.
    Failed(io::Error),
    /// The TLS peer's certificate does not name its Origin-Host (an in-band
    /// responder checks it as soon as the handshake is done, before reading
    /// anything sent through it).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    IdentityMismatch(String),
}

/// Where reads land: the loop's buffers, reused for every connection.
pub(crate) struct Inbox {
    /// Bytes as they came off the wire (TCP, an SCTP message, TCP before
    /// TLS starts); a read fills at most its length.
    pub chunk: Vec<u8>,
    /// TLS plaintext decrypted by the last read.
    pub plain: Vec<u8>,
    /// TLS plaintext that came with the end of an in-band handshake and was
    /// held until the peer's certificate is checked against its identity.
    pub held: Vec<u8>,
}

impl Inbox {
    /// Buffers for reads of at most `chunk` bytes off the wire.
    pub(crate) fn new(chunk: usize) -> Inbox {
        Inbox {
            chunk: vec![0; chunk],
            plain: Vec::new(),
            held: Vec::new(),
        }
    }
}

/// What one read gave.
#[derive(Debug)]
pub(crate) enum Got {
    /// `n` bytes in `inbox.chunk[..n]`.
    Clear(usize),
    /// TLS plaintext in `inbox.plain` (possibly none). When
    /// `handshake_done`, the handshake finished with this read: the peer's
    /// certificate may now be checked ([`Stream::check_tls_identity`]), and
    /// `inbox.held` has what came after it. `end` is how the read ended
    /// (`None`: read on).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Secure {
        /// The handshake finished with this read.
        handshake_done: bool,
        /// How the read ended, or `None` to read on.
        end: Option<ReadEnd>,
    },
    /// Nothing for the peer (an SCTP notification, an interrupted call):
    /// read on.
    Again,
    /// The read ended.
    End(ReadEnd),
}

/// What a connection has queued to send, as a transport sees it: bytes
/// taken from the front (whole Diameter messages, back to back).
pub(crate) trait Outbox {
    /// The bytes waiting, oldest first.
    fn pending(&self) -> &[u8];
    /// Drops the first `n` bytes (they were sent).
    fn consume(&mut self, n: usize);
}

impl Outbox for crate::node::peer::Connection {
    fn pending(&self) -> &[u8] {
        self.pending_output()
    }

    fn consume(&mut self, n: usize) {
        self.consume_output(n)
    }
}

/// A listening socket.
pub(crate) enum Listener {
    /// TCP; `secure` listeners start TLS at once (`aaas://`).
    Tcp {
        /// The socket.
        socket: TcpListener,
        /// TLS from the first byte.
        secure: bool,
    },
    /// One SCTP socket bound to every local address.
    Sctp(SctpSocket),
}

impl Listener {
    /// Every address it listens on.
    pub(crate) fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        match self {
            Listener::Tcp { socket, .. } => Ok(vec![socket.local_addr()?]),
            Listener::Sctp(s) => s.local_addrs(),
        }
    }

    /// Accepts one connection; `WouldBlock` when none waits. `tcp` makes
    /// the stream of an accepted TCP connection (TLS-capable or not). A
    /// secure listener's stream still needs its TLS session
    /// ([`Stream::start_tls`]); `secure` says so.
    pub(crate) fn accept(
        &self,
        max_message: usize,
        tcp: impl FnOnce(TcpStream) -> Stream,
    ) -> io::Result<(Stream, SocketAddr, bool)> {
        match self {
            Listener::Tcp { socket, secure } => {
                let (s, remote) = socket.accept()?;
                let _ = s.set_nodelay(true);
                Ok((tcp(s), remote, *secure))
            }
            Listener::Sctp(l) => {
                let (s, remote) = l.accept()?;
                Ok((Stream::sctp(s, max_message), remote, false))
            }
        }
    }

    /// The socket, for mio.
    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Listener::Tcp { socket, .. } => socket,
            Listener::Sctp(s) => s,
        }
    }
}

/// A connection's socket.
pub(crate) enum Stream {
    /// A TCP byte stream.
    Tcp(TcpStream),
    /// An SCTP association (one-to-one style socket).
    Sctp(SctpStream),
    /// TCP carrying TLS, from the first byte or after an in-band CER/CEA.
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

/// An SCTP association and the streams it may send on.
pub(crate) struct SctpStream {
    socket: SctpSocket,
    /// Outbound streams negotiated; 0 until known.
    out_streams: u16,
    next_stream: u16,
    /// The largest message the socket can send (its send buffer).
    send_limit: usize,
}

/// TCP with a TLS session; cleartext until the session starts (in-band TLS
/// runs the CER/CEA in the clear first).
#[cfg(feature = "tls")]
pub(crate) struct TlsStream {
    tcp: TcpStream,
    session: Option<tls::TlsSession>,
    /// Cleartext to write before the first TLS record (the CEA that agreed
    /// on in-band TLS).
    prefix: Vec<u8>,
    /// Whether the peer's certificate was checked against its identity.
    identity_checked: bool,
    /// Whether the peer's certificate must name its Origin-Host.
    verify_name: bool,
    /// Plaintext that came with the end of an in-band handshake, held until
    /// the peer's certificate is checked.
    plain: Vec<u8>,
}

impl Stream {
    /// An SCTP association able to send messages of `max_message` bytes
    /// where the system lets it (see [`SctpSocket::set_send_buffer`]).
    pub(crate) fn sctp(socket: SctpSocket, max_message: usize) -> Stream {
        // a send buffer twice the largest message keeps one in flight while
        // the next is queued
        let send_limit = socket
            .set_send_buffer(max_message.saturating_mul(2))
            .unwrap_or(0);
        if send_limit < max_message {
            crate::node::ratelimit::warn(
                Instant::now(),
                &SCTP_BUFFER_LOG,
                format_args!(
                    "SCTP send buffer is {send_limit} bytes: larger messages cannot be sent \
                     (raise net.core.wmem_max, or run with CAP_NET_ADMIN)"
                ),
            );
        }
        Stream::Sctp(SctpStream {
            socket,
            out_streams: 0,
            next_stream: 0,
            send_limit,
        })
    }

    /// Connects over SCTP to every address of the peer, from `local` (all
    /// of them bound) when given.
    pub(crate) fn connect_sctp(
        local: &[std::net::IpAddr],
        remote: &[SocketAddr],
        max_message: usize,
    ) -> io::Result<Stream> {
        SctpSocket::connect(local, remote).map(|s| Stream::sctp(s, max_message))
    }

    /// Whether TLS can still start on it (TCP made TLS-capable, not started).
    pub(crate) fn can_start_tls(&self) -> bool {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.session.is_none(),
            _ => false,
        }
    }

    /// Whether a TLS handshake is under way.
    pub(crate) fn tls_handshaking(&self) -> bool {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.session.as_ref().is_some_and(|s| s.is_handshaking()),
            _ => false,
        }
    }

    /// The socket, for mio (registered, re-registered and deregistered by
    /// the event loop).
    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Sctp(s) => &mut s.socket,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &mut s.tcp,
        }
    }

    /// A pending error of a non-blocking connect.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Sctp(s) => s.socket.take_error(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.take_error(),
        }
    }

    /// The peer's (primary) address; `NotConnected` while connecting.
    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr(),
            Stream::Sctp(s) => s.socket.peer_addr(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.peer_addr(),
        }
    }

    /// The local (primary) address.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr(),
            Stream::Sctp(s) => s.socket.local_addr(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.local_addr(),
        }
    }

    /// Every local address of the connection (several for a multi-homed
    /// SCTP association).
    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        match self {
            Stream::Sctp(s) => s.socket.local_addrs().unwrap_or_default(),
            _ => self.local_addr().into_iter().collect(),
        }
    }

    /// Every address of the peer (several for a multi-homed SCTP association).
    pub(crate) fn peer_addrs(&self) -> Vec<SocketAddr> {
        match self {
            Stream::Sctp(s) => s.socket.peer_addrs().unwrap_or_default(),
            _ => self.peer_addr().into_iter().collect(),
        }
    }

    /// Disables Nagle's algorithm on TCP (SCTP sockets are opened with
    /// SCTP_NODELAY).
    pub(crate) fn set_nodelay(&self) {
        match self {
            Stream::Tcp(s) => {
                let _ = s.set_nodelay(true);
            }
            Stream::Sctp(_) => {}
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let _ = s.tcp.set_nodelay(true);
            }
        }
    }

    /// Closes both directions (after a TLS close_notify).
    pub(crate) fn shutdown(&mut self) {
        match self {
            Stream::Tcp(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Stream::Sctp(s) => {
                let _ = s.socket.shutdown();
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                // a TLS close_notify first, as far as the socket takes it
                if let Some(session) = s.session.as_mut() {
                    session.send_close_notify();
                    let _ = session.write_to(&mut s.tcp);
                }
                let _ = s.tcp.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Reads once into `inbox`, taking at most `budget` bytes off the wire
    /// (lowered by what was read). TLS reads every record available within
    /// the budget at once.
    pub(crate) fn read(&mut self, inbox: &mut Inbox, budget: &mut usize) -> Got {
        match self {
            Stream::Tcp(s) => read_plain(s, &mut inbox.chunk, budget),
            Stream::Sctp(s) => s.read(&mut inbox.chunk, budget),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(inbox, budget),
        }
    }

    /// Whether reading must stop while the peer machine waits for in-band
    /// TLS: a byte stream whose TLS session has not started (what follows
    /// is TLS records, read once it starts). SCTP carries no TLS.
    pub(crate) fn stops_for_tls(&self) -> bool {
        match self {
            Stream::Tcp(_) => true,
            Stream::Sctp(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.session.is_none(),
        }
    }

    /// The largest message this transport can send, when it has a limit
    /// (an SCTP message must fit the send buffer).
    pub(crate) fn max_send_message(&self) -> Option<usize> {
        match self {
            Stream::Sctp(s) => Some(s.send_limit),
            _ => None,
        }
    }

    /// Writes what `out` has queued until the socket would block.
    pub(crate) fn flush(&mut self, out: &mut impl Outbox) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => write_plain(s, out),
            Stream::Sctp(s) => s.flush(out),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(out),
        }
    }

    /// Whether bytes wait to be written (the machine's, or TLS records).
    pub(crate) fn wants_write(&self, out: &impl Outbox) -> bool {
        if !out.pending().is_empty() {
            return true;
        }
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                !s.prefix.is_empty() || s.session.as_ref().is_some_and(|t| t.wants_write())
            }
            _ => false,
        }
    }
}

/// Reads a byte stream once, at most `budget` bytes.
fn read_plain(s: &mut impl Read, buf: &mut [u8], budget: &mut usize) -> Got {
    let want = buf.len().min(*budget);
    match s.read(buf.get_mut(..want).unwrap_or_default()) {
        Ok(0) => Got::End(ReadEnd::Closed),
        Ok(n) => {
            *budget = budget.saturating_sub(n);
            Got::Clear(n)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::End(ReadEnd::WouldBlock),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Got::Again,
        Err(e) => Got::End(ReadEnd::Failed(e)),
    }
}

/// Plaintext handed to a TLS session at once, at most.
#[cfg(feature = "tls")]
const TLS_WRITE_CHUNK: usize = 256 * 1024;

/// Writes what `out` has queued to a byte stream until it would block.
fn write_plain(s: &mut impl Write, out: &mut impl Outbox) -> io::Result<()> {
    while !out.pending().is_empty() {
        match s.write(out.pending()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out.consume(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The stream an SCTP message goes on: CER/CEA and DPR/DPA (and anything
/// unparsable) on stream 0, the rest spread over the other streams.
fn sctp_stream_for(message: &[u8], out_streams: u16, next: &mut u16) -> u16 {
    let code = match message.get(5..8) {
        Some(c) => u32::from_be_bytes([0, c[0], c[1], c[2]]),
        None => return 0,
    };
    if out_streams <= 1
        || code == crate::message::constants::CMD_CAPABILITIES_EXCHANGE
        || code == crate::message::constants::CMD_DISCONNECT_PEER
    {
        return 0;
    }
    *next = next.wrapping_add(1);
    1 + *next % (out_streams - 1)
}

impl SctpStream {
    /// Reads one SCTP message (or notification) into `buf`.
    fn read(&mut self, buf: &mut [u8], budget: &mut usize) -> Got {
        match self.socket.recv(buf) {
            Ok(info) if info.notification => Got::Again,
            Ok(info) if info.len == 0 => Got::End(ReadEnd::Closed),
            Ok(info) => {
                *budget = budget.saturating_sub(info.len.max(1));
                Got::Clear(info.len)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::End(ReadEnd::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Got::Again,
            Err(e) => Got::End(ReadEnd::Failed(e)),
        }
    }

    /// Sends the queued messages one SCTP message each.
    fn flush(&mut self, out: &mut impl Outbox) -> io::Result<()> {
        if self.out_streams == 0 {
            self.out_streams = self.socket.out_streams().unwrap_or(1).max(1);
        }
        loop {
            let pending = out.pending();
            if pending.is_empty() {
                return Ok(());
            }
            // the machine queues whole, well-formed messages: the header's
            // length says where each ends
            let len = match pending.get(1..4) {
                Some(l) => u32::from_be_bytes([0, l[0], l[1], l[2]]) as usize,
                None => pending.len(),
            };
            let len = if len < crate::message::HEADER_LENGTH {
                pending.len()
            } else {
                len.min(pending.len())
            };
            let message = pending.get(..len).unwrap_or(pending);
            let stream = sctp_stream_for(message, self.out_streams, &mut self.next_stream);
            match self.socket.send(stream, sctp_sys::DIAMETER_PPID, message) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => out.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    // larger than the send buffer: this message can never
                    // go; the association carries on without it
                    crate::node::ratelimit::warn(
                        Instant::now(),
                        &SCTP_BUFFER_LOG,
                        format_args!(
                            "a {len}-byte message does not fit the SCTP send buffer \
                             ({} bytes); dropped (raise net.core.wmem_max)",
                            self.send_limit
                        ),
                    );
                    out.consume(len);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(feature = "tls")]
impl Stream {
    /// TCP that starts TLS later (in-band) or at once ([`Stream::start_tls`]
    /// right after).
    pub(crate) fn tls_capable(s: TcpStream, verify_name: bool) -> Stream {
        Stream::Tls(Box::new(TlsStream {
            tcp: s,
            session: None,
            prefix: Vec::new(),
            identity_checked: false,
            verify_name,
            plain: Vec::new(),
        }))
    }

    /// Starts TLS on a stream made by [`Stream::tls_capable`]:
    /// `cleartext` (the CEA of an in-band exchange) still goes out in the
    /// clear, everything after through `session`. False (and nothing
    /// changed) for other streams.
    pub(crate) fn start_tls(&mut self, session: tls::TlsSession, cleartext: Vec<u8>) -> bool {
        let Stream::Tls(t) = self else {
            return false;
        };
        if t.session.is_some() {
            return false;
        }
        t.prefix.extend_from_slice(&cleartext);
        t.session = Some(session);
        true
    }

    /// Checks, once, that the peer's TLS certificate names `identity` (its
    /// Origin-Host): `None` when there is nothing to check (no TLS, the
    /// handshake still running, or already checked).
    pub(crate) fn check_tls_identity(
        &mut self,
        identity: &str,
    ) -> Option<Result<(), tls::TlsError>> {
        let Stream::Tls(t) = self else {
            return None;
        };
        let session = t.session.as_ref()?;
        if !t.verify_name || t.identity_checked || session.is_handshaking() {
            return None;
        }
        t.identity_checked = true;
        Some(session.check_peer_identity(identity))
    }
}

#[cfg(feature = "tls")]
impl TlsStream {
    /// Reads cleartext before the session starts; then every TLS record
    /// available within the budget, into `inbox.plain`.
    fn read(&mut self, inbox: &mut Inbox, budget: &mut usize) -> Got {
        let Some(session) = self.session.as_mut() else {
            return read_plain(&mut self.tcp, &mut inbox.chunk, budget);
        };
        // in-band responder: the CER came before the handshake, so the
        // certificate is checked once the handshake is done, before
        // anything sent through it is read (what came with the last
        // handshake flight, a few records at most, is held)
        let check = self.verify_name && !self.identity_checked && !session.is_client();
        let handshaking = session.is_handshaking();
        let hold = check && handshaking;
        let (plain, held) = (&mut inbox.plain, &mut self.plain);
        let outcome = session.read_from(
            &mut self.tcp,
            &mut |p: &[u8]| {
                if hold {
                    held.extend_from_slice(p);
                } else {
                    plain.extend_from_slice(p);
                }
            },
            hold,
            budget,
        );
        let handshake_done = handshaking && !session.is_handshaking();
        if handshake_done {
            inbox.held.clear();
            std::mem::swap(&mut inbox.held, &mut self.plain);
        }
        let end = match outcome {
            // more may wait in the socket once the handshake is done
            Ok(tls::ReadOutcome::Open) if handshake_done => None,
            Ok(tls::ReadOutcome::Open) => Some(ReadEnd::WouldBlock),
            Ok(tls::ReadOutcome::More) => Some(ReadEnd::More),
            Ok(tls::ReadOutcome::Closed) => Some(ReadEnd::Closed),
            Err(e) => Some(ReadEnd::Failed(e)),
        };
        Got::Secure {
            handshake_done,
            end,
        }
    }

    fn flush(&mut self, out: &mut impl Outbox) -> io::Result<()> {
        while !self.prefix.is_empty() {
            match self.tcp.write(&self.prefix) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.prefix.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let Some(session) = self.session.as_mut() else {
            return write_plain(&mut self.tcp, out);
        };
        // records go out before more plaintext is encrypted: what the socket
        // does not take stays in the machine's output, where the node sees
        // it (backpressure), not in the TLS session
        loop {
            session.write_to(&mut self.tcp)?;
            let pending = out.pending();
            if session.wants_write() || pending.is_empty() {
                return Ok(());
            }
            let n = pending.len().min(TLS_WRITE_CHUNK);
            session.write_plain(pending.get(..n).unwrap_or(pending))?;
            out.consume(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::constants::*;
    use crate::message::{Avp, Message, MessageHeader};
    use crate::node::peer::Connection;
    use crate::node::peer::{AppId, ConnectionConfig, LocalCapabilities};
    use crate::node::SequenceGenerator;
    use std::sync::Arc;
    use std::time::Duration;

    fn caps(host: &str) -> Arc<LocalCapabilities> {
        Arc::new(LocalCapabilities {
            origin_host: host.into(),
            origin_realm: "example.net".into(),
            host_ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            vendor_id: 99999,
            product_name: "test".into(),
            firmware_revision: None,
            origin_state_id: 1,
            supported_vendor_ids: vec![],
            applications: vec![AppId::auth(4)],
            inband_security: vec![],
        })
    }

    /// Retries `f` while it would block, for up to five seconds.
    fn retry<T>(what: &str, mut f: impl FnMut() -> io::Result<Option<T>>) -> T {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match f() {
                Ok(Some(v)) => return v,
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{what}: {e}"),
            }
            assert!(Instant::now() < deadline, "{what}: timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The node's SCTP stream: every message is one SCTP message with PPID
    /// 46; CER and DPR go on stream 0, application messages on the others.
    #[test]
    fn sctp_messages_carry_ppid_46_and_base_messages_use_stream_0() {
        if !sctp_sys::tests::sctp_or_skip() {
            return;
        }
        let listener = SctpSocket::listen(&["127.0.0.1:0".parse().unwrap()], 8).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = Stream::connect_sctp(&[], &[addr], 1 << 20).unwrap();
        let server = retry("accept", || listener.accept().map(Some)).0;
        retry("connect", || client.peer_addr().map(Some));

        let now = Instant::now();
        let e2e = Arc::new(SequenceGenerator::new());
        let mut machine = Connection::new_initiator(
            now,
            caps("a.example.net"),
            ConnectionConfig::default(),
            e2e,
            Some("b.example.net".into()),
            false,
            7,
        );
        let mut buf = vec![0u8; 65536];
        let mut receive = |machine: &mut Connection, client: &mut Stream| {
            client.flush(machine).unwrap();
            assert!(machine.pending_output().is_empty());
            let info = retry("recv", || server.recv(&mut buf).map(Some));
            assert!(info.eor, "one Diameter message per SCTP message");
            assert_eq!(info.ppid, Some(sctp_sys::DIAMETER_PPID));
            let msg = Message::from_bytes(&buf[..info.len]).unwrap();
            (info.stream.unwrap(), msg)
        };

        // CER on stream 0
        let (stream, cer) = receive(&mut machine, &mut client);
        assert_eq!(
            (stream, cer.header.command_code),
            (0, CMD_CAPABILITIES_EXCHANGE)
        );
        let cea = caps("b.example.net").cea(&cer.header, 2001, None).unwrap();
        machine.handle_bytes(now, &cea.as_bytes().unwrap());
        assert!(machine.is_ready());

        // requests on the other streams
        let mut seen = Vec::new();
        for i in 0..4u32 {
            let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
            h.set_request(true);
            h.hop_by_hop_identifier = i;
            let ccr = Message::new(h, vec![Avp::new(AVP_CC_REQUEST_NUMBER, 0, i).unwrap()]);
            machine.send_bytes(&ccr.as_bytes().unwrap(), true).unwrap();
            let (stream, got) = receive(&mut machine, &mut client);
            assert_eq!(got.header.hop_by_hop_identifier, i);
            assert_ne!(
                stream, 0,
                "application messages leave stream 0 to the base protocol"
            );
            seen.push(stream);
        }
        seen.dedup();
        assert!(seen.len() > 1, "spread over several streams: {seen:?}");

        // DPR on stream 0
        machine.disconnect(now, 0);
        let (stream, dpr) = receive(&mut machine, &mut client);
        assert_eq!((stream, dpr.header.command_code), (0, CMD_DISCONNECT_PEER));
    }

    /// A message larger than the send buffer can never go as one SCTP
    /// message: it is dropped, and the association carries on.
    #[test]
    fn sctp_a_message_beyond_the_send_buffer_is_dropped_and_the_rest_flows() {
        if !sctp_sys::tests::sctp_or_skip() {
            return;
        }
        let listener = SctpSocket::listen(&["127.0.0.1:0".parse().unwrap()], 8).unwrap();
        let addr = listener.local_addr().unwrap();
        // a send buffer for 4 kB messages (the kernel may round it up)
        let mut client = Stream::connect_sctp(&[], &[addr], 4096).unwrap();
        let server = retry("accept", || listener.accept().map(Some)).0;
        retry("connect", || client.peer_addr().map(Some));
        let Stream::Sctp(sctp) = &client else {
            panic!("not SCTP")
        };
        let limit = sctp.send_limit;
        assert!(limit >= 4096);

        let now = Instant::now();
        let mut machine = Connection::new_initiator(
            now,
            caps("a.example.net"),
            ConnectionConfig::default(),
            Arc::new(SequenceGenerator::new()),
            Some("b.example.net".into()),
            false,
            7,
        );
        client.flush(&mut machine).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let info = retry("CER", || server.recv(&mut buf).map(Some));
        let cer = Message::from_bytes(&buf[..info.len]).unwrap();
        let cea = caps("b.example.net").cea(&cer.header, 2001, None).unwrap();
        machine.handle_bytes(now, &cea.as_bytes().unwrap());

        let message = |hop: u32, size: usize| {
            let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
            h.set_request(true);
            h.hop_by_hop_identifier = hop;
            let avp = Avp::new(AVP_CLASS, 0, vec![7u8; size]).unwrap();
            Message::new(h, vec![avp]).as_bytes().unwrap()
        };
        machine.send_bytes(&message(1, limit + 1000), true).unwrap();
        machine.send_bytes(&message(2, 100), true).unwrap();
        client.flush(&mut machine).unwrap();
        assert!(machine.pending_output().is_empty());
        let info = retry("the small message", || server.recv(&mut buf).map(Some));
        let got = Message::from_bytes(&buf[..info.len]).unwrap();
        assert_eq!(
            got.header.hop_by_hop_identifier, 2,
            "the large one was dropped"
        );
    }

    fn message(code: u32) -> Vec<u8> {
        let mut m = vec![1, 0, 0, 20, 0x80];
        m.extend_from_slice(&code.to_be_bytes()[1..]);
        m.resize(20, 0);
        m
    }

    #[test]
    fn base_messages_go_on_stream_zero() {
        let mut next = 0;
        assert_eq!(sctp_stream_for(&message(257), 10, &mut next), 0);
        assert_eq!(sctp_stream_for(&message(282), 10, &mut next), 0);
        assert_eq!(sctp_stream_for(&[1, 0], 10, &mut next), 0);
        assert_eq!(sctp_stream_for(&message(272), 1, &mut next), 0);
        let streams: Vec<u16> = (0..18)
            .map(|_| sctp_stream_for(&message(272), 10, &mut next))
            .collect();
        assert!(streams.iter().all(|s| (1..10).contains(s)));
        assert!((1..10).all(|s| streams.contains(&s)));
    }
}
