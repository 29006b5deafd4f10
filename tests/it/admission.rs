//! Admission of incoming connections, over loopback: connections that
//! never send a CER cannot lock a configured peer out (they have their own
//! bound, and the oldest of them makes room for a new one), and a first
//! message other than a CER closes the connection at once. The flood comes
//! from raw std sockets bound to 127.0.0.2 and up, the configured peer from
//! 127.0.0.1.

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::cc::{answer, ccr};
use crate::support::raw::{cer, closed_by_peer, result_code, RawPeer};
use crate::support::{poll_until, wait_until, Gate, PeerSpec, TestNode};
use diameter::node::application::{AppBase, ThreadingApplication};
use diameter::node::Node;

const REALM: &str = "example.net";
const SERVER: &str = "ocs.example.net";
const PEER: &str = "pgw.example.net";
/// How long a configured peer may take to get in and be served, generous
/// for a loaded machine.
const SERVED: Duration = Duration::from_secs(10);

/// A started server on 127.0.0.1 with the configured peer `PEER` (from
/// 127.0.0.1) and application 4 answering CCRs; `configure` sets options.
fn server(configure: impl FnOnce(&mut Node)) -> (Node, SocketAddr) {
    let node = TestNode::builder(SERVER, REALM)
        .listen()
        .configure(configure)
        .peer(PeerSpec::uri(&format!("aaa://{PEER}")))
        .app(ThreadingApplication::new(AppBase::auth(4), 2, answer))
        .start();
    let addr = node.addr();
    (node.node, addr)
}

/// A TCP connection to `to` from the address `from` (any port).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else {
        return Err(ErrorKind::Unsupported.into());
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a new socket, owned by the TcpStream from here on (closed on
    // every path); the addresses are valid sockaddr_in of `len` bytes
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(from, 0);
        if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = sockaddr(*to.ip(), to.port());
        if libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// Connections that never send anything, opened from 127.0.0.2 and up at
/// about a thousand a second and reopened as the server closes them, until
/// `max` were opened; each is held until the server closes it or the flood
/// stops.
struct Flood {
    stop: Gate,
    opened: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Flood {
    fn start(to: SocketAddr, max: u64) -> Flood {
        let stop = Gate::new();
        let opened = Arc::new(AtomicU64::new(0));
        let (s, o) = (stop.clone(), opened.clone());
        let thread = thread::spawn(move || {
            let mut open: Vec<TcpStream> = Vec::new();
            let mut buf = [0u8; 1024];
            let mut n = 0u64;
            // held until stopped, even after the last one was opened
            while !s.is_open() {
                for _ in 0..4 {
                    if open.len() >= 256 || n >= max {
                        break;
                    }
                    let from = Ipv4Addr::new(127, 0, 0, 2 + (n % 200) as u8);
                    n += 1;
                    if let Ok(c) = connect_from(from, to) {
                        if c.set_nonblocking(true).is_ok() {
                            open.push(c);
                        }
                    }
                    o.store(n, Ordering::Relaxed);
                }
                // closed by the server: reopened in the next rounds
                open.retain_mut(|c| match c.read(&mut buf) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(e) => e.kind() == ErrorKind::WouldBlock,
                });
                // pacing, a stimulus: a round every 4 ms until stopped
                s.wait(Duration::from_millis(4));
            }
        });
        Flood {
            stop,
            opened,
            thread: Some(thread),
        }
    }

    fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.open();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The configured peer connects (again and again until `deadline`), sends
/// its CER and, once accepted, a CCR: the connection once served.
fn get_in_and_be_served(addr: SocketAddr, n: u32, deadline: Instant) -> RawPeer {
    let mut admitted = None;
    poll_until(deadline.saturating_duration_since(Instant::now()), || {
        let mut raw = RawPeer::open(addr, PEER, REALM);
        raw.stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let cea = raw.exchange(&cer(PEER, REALM, &[4], &[]).as_bytes().unwrap());
        // refused, or closed before its CER was read: try again
        let ok = cea.as_ref().and_then(result_code) == Some(2001);
        admitted = ok.then_some(raw);
        ok
    });
    let Some(mut raw) = admitted else {
        panic!("the configured peer was not served within {SERVED:?}");
    };
    raw.stream.set_read_timeout(Some(SERVED)).unwrap();
    let cca = raw
        .exchange(&ccr(PEER, REALM, n).as_bytes().unwrap())
        .expect("CCA");
    assert_eq!(result_code(&cca), Some(2001), "{cca:?}");
    raw
}

#[test]
fn connections_without_cer_do_not_lock_a_configured_peer_out() {
    // a small node, a CER timer longer than the test: without a bound of
    // their own, the flood's connections fill it for good
    let (node, addr) = server(|n| {
        n.max_connections = 64;
        n.cer_timeout = Duration::from_secs(30);
        n.limits.max_unauthenticated = 32;
        n.limits.max_unauthenticated_per_ip = 4;
    });
    let flood = Flood::start(addr, 6000);
    wait_until("the flood to fill the node", SERVED, || {
        flood.opened() >= 300
    });

    // the peer reconnects a few times, each time served within its time
    let mut served = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        let raw = get_in_and_be_served(addr, round, started + SERVED);
        served.push(started.elapsed());
        drop(raw);
    }
    // its last connection stays up and is served while the flood goes on
    let mut raw = get_in_and_be_served(addr, 10, Instant::now() + SERVED);
    let before = flood.opened();
    wait_until(
        "a few thousand flood connections",
        Duration::from_secs(20),
        || flood.opened() >= before.max(2000) + 200,
    );
    let cca = raw
        .exchange(&ccr(PEER, REALM, 11).as_bytes().unwrap())
        .expect("CCA after the flood went on");
    assert_eq!(result_code(&cca), Some(2001));
    let opened = flood.opened();
    drop(flood);

    let stats = node.protocol_stats();
    assert!(
        stats.unauthenticated_closed > 0,
        "the flood made room for itself: {stats:?}"
    );
    eprintln!(
        "served after {served:?} during a flood of {opened} connections; {} closed, {} refused",
        stats.unauthenticated_closed, stats.unauthenticated_refused
    );
    node.stop(Duration::from_secs(1), true).unwrap();
}

#[test]
fn a_request_before_the_cer_closes_the_connection_at_once() {
    // a CER timer far longer than the wait: only closing at once passes
    let (node, addr) = server(|n| n.cer_timeout = Duration::from_secs(30));
    let mut raw = RawPeer::open(addr, PEER, REALM);
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    raw.send(&ccr(PEER, REALM, 1).as_bytes().unwrap());
    assert!(
        closed_by_peer(&mut raw.stream),
        "still open after {:?}",
        started.elapsed()
    );
    // nothing was answered, and a CER first still gets in
    let _peer = RawPeer::connect(addr, PEER, REALM);
    node.stop(Duration::from_secs(1), true).unwrap();
}
