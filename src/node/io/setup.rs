//! Setting up transports for the event loop: listeners, outgoing streams,
//! TLS sessions, and the certificate check the protocol layer asks for.

use std::net::SocketAddr;

use log::warn;
use mio::net::TcpListener;

use crate::node::config::{ListenTransport, NodeConfig};
use crate::node::core::dispatch::CertificateCheck;
use crate::node::error::NodeError;
use crate::node::io::transport::sctp_sys::SctpSocket;
use crate::node::io::transport::{Listener, Stream};
use crate::node::peer::{Peer, PEER_TRANSPORT_SCTP};

/// A listening socket to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListenSpec {
    /// TCP on one address.
    Tcp(SocketAddr),
    /// TLS/TCP (TLS from the first byte) on one address.
    Tls(SocketAddr),
    /// One SCTP socket bound to all these addresses (same port).
    Sctp(Vec<SocketAddr>),
}

fn bind(spec: &ListenSpec) -> Result<(Listener, ListenTransport), NodeError> {
    let listen_err = |addr: SocketAddr| move |source| NodeError::Listen { addr, source };
    Ok(match spec {
        ListenSpec::Tcp(addr) | ListenSpec::Tls(addr) => {
            let secure = matches!(spec, ListenSpec::Tls(_));
            let socket = TcpListener::bind(*addr).map_err(listen_err(*addr))?;
            let kind = if secure {
                ListenTransport::Tls
            } else {
                ListenTransport::Tcp
            };
            (Listener::Tcp { socket, secure }, kind)
        }
        ListenSpec::Sctp(addrs) => {
            let first = addrs
                .first()
                .copied()
                .unwrap_or_else(|| SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0));
            let socket = SctpSocket::listen(addrs, 1024).map_err(listen_err(first))?;
            (Listener::Sctp(socket), ListenTransport::Sctp)
        }
    })
}

/// A stream's certificate, as the protocol layer asks for it.
pub(crate) struct StreamCertificate<'a>(pub(crate) &'a mut Stream);

impl CertificateCheck for StreamCertificate<'_> {
    fn check_identity(&mut self, origin_host: &str) -> Option<Result<(), String>> {
        #[cfg(feature = "tls")]
        return self
            .0
            .check_tls_identity(origin_host)
            .map(|r| r.map_err(|e| e.to_string()));
        #[cfg(not(feature = "tls"))]
        {
            let _ = (&self.0, origin_host);
            None
        }
    }
}

/// Starts TLS on `stream`: as the client checking the server's certificate
/// against `peer_name`, or as the server when `peer_name` is `None`.
/// `cleartext` goes out first, unencrypted (an in-band CEA). False, with a
/// warning, when TLS cannot start (no certificates, or built without the
/// `tls` feature).
pub(crate) fn start_secure(
    config: &NodeConfig,
    stream: &mut Stream,
    peer_name: Option<&str>,
    cleartext: Vec<u8>,
) -> bool {
    #[cfg(feature = "tls")]
    {
        use crate::node::io::transport::tls::Sessions;
        let Some(ctx) = config.tls.as_ref() else {
            warn!(target: "diameter.connection", "TLS asked for, but the node has no certificates (NodeOptions::tls)");
            return false;
        };
        let session = match peer_name {
            Some(name) => ctx.client_session(name),
            None => ctx.server_session(),
        };
        match session {
            Ok(session) => stream.start_tls(session, cleartext),
            Err(e) => {
                warn!(target: "diameter.connection", "cannot start TLS: {e}");
                false
            }
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (config, stream, peer_name, cleartext);
        warn!(target: "diameter.connection", "TLS asked for, but this build has no `tls` feature");
        false
    }
}

/// A stream for a new TCP connection: able to start TLS when the node has
/// certificates (TLS from the first byte, or in-band).
pub(crate) fn tcp_stream(config: &NodeConfig, tcp: mio::net::TcpStream) -> Stream {
    #[cfg(feature = "tls")]
    if let Some(ctx) = &config.tls {
        return Stream::tls_capable(tcp, ctx.verify_peer_name());
    }
    let _ = config;
    Stream::Tcp(tcp)
}

/// Opens a connection to `peer` (SCTP to all its addresses, else TCP to
/// the first), non-blocking; the address it goes to.
pub(crate) fn connect(config: &NodeConfig, peer: &Peer) -> std::io::Result<(Stream, SocketAddr)> {
    let Some(ip) = peer.ip_addresses.first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "no address to connect to",
        ));
    };
    let addr = SocketAddr::new(*ip, peer.port);
    let stream = if peer.transport == PEER_TRANSPORT_SCTP {
        let remote: Vec<SocketAddr> = peer
            .ip_addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, peer.port))
            .collect();
        let max = config.connection.max_message_size as usize;
        Stream::connect_sctp(&config.sctp_local, &remote, max)?
    } else {
        tcp_stream(config, mio::net::TcpStream::connect(addr)?)
    };
    if peer.is_secure && !stream.can_start_tls() {
        return Err(std::io::Error::other(
            "TLS needs the node's certificates (NodeOptions::tls)",
        ));
    }
    Ok((stream, addr))
}

/// A connection taken from a listener.
pub(crate) struct Accepted {
    pub stream: Stream,
    pub remote: SocketAddr,
    pub remote_ips: Vec<std::net::IpAddr>,
    pub local_ips: Vec<std::net::IpAddr>,
    /// Came in on the TLS port (its TLS session is started).
    pub secure: bool,
}

/// Accepts one connection (`WouldBlock` when none waits); `None` when a
/// TLS listener's connection cannot start TLS (it is dropped: closed).
pub(crate) fn accept(
    config: &NodeConfig,
    listener: &Listener,
) -> std::io::Result<Option<Accepted>> {
    let max_message = config.connection.max_message_size as usize;
    let (mut stream, remote, secure) =
        listener.accept(max_message, |tcp| tcp_stream(config, tcp))?;
    if secure && !start_secure(config, &mut stream, None, Vec::new()) {
        return Ok(None);
    }
    let ips = |addrs: Vec<SocketAddr>| addrs.iter().map(SocketAddr::ip).collect();
    Ok(Some(Accepted {
        remote_ips: ips(stream.peer_addrs()),
        local_ips: ips(stream.local_addrs()),
        stream,
        remote,
        secure,
    }))
}

/// Whether an accept error means "no descriptors or memory now".
pub(crate) fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether a non-blocking connect finished: `Ok(None)` while it goes on,
/// the local addresses once connected (Nagle off), the error if it failed.
pub(crate) fn finish_connect(stream: &Stream) -> std::io::Result<Option<Vec<std::net::IpAddr>>> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return Ok(None),
        Err(e) => return Err(e),
    }
    stream.set_nodelay();
    Ok(Some(
        stream.local_addrs().iter().map(SocketAddr::ip).collect(),
    ))
}

/// Binds every listener and registers it with `registry` under
/// `token(index)`; the addresses each is bound to.
#[allow(clippy::type_complexity)]
pub(crate) fn bind_all(
    registry: &mio::Registry,
    listen: &[ListenSpec],
    token: impl Fn(usize) -> mio::Token,
) -> Result<(Vec<Listener>, Vec<(ListenTransport, SocketAddr)>), NodeError> {
    let mut listeners = Vec::new();
    let mut local_addrs = Vec::new();
    for (i, spec) in listen.iter().enumerate() {
        let (mut l, kind) = bind(spec)?;
        registry
            .register(l.source(), token(i), mio::Interest::READABLE)
            .map_err(NodeError::EventLoop)?;
        for addr in l.local_addrs().map_err(NodeError::EventLoop)? {
            local_addrs.push((kind, addr));
        }
        listeners.push(l);
    }
    Ok((listeners, local_addrs))
}
