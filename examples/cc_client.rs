//! A Credit-Control load client: C threads send N CCRs in all through
//! `send_request` and report the rate and latency percentiles.
//!
//! ```text
//! cargo run --release --example cc_client -- --peer 127.0.0.1:3868 \
//!     --peer-host ocs.example.net --peer-realm example.net \
//!     --origin-host pgw.example.net --realm example.net \
//!     --requests 100000 --concurrency 64 [--pipeline P] [--timeout SECS] [--dest-realm R] \
//!     [--sched-batch] [--transport tcp|tls|sctp] [--tls-cert FILE --tls-key FILE --tls-ca FILE]
//! ```
//! The CCRs' Destination-Realm is `--dest-realm`, `--peer-realm` by default;
//! another realm reaches its server through the peer, a relay agent (see the
//! `dra` example).
//! The last line is `requests=N answered=A errors=E rate=R/s p50_us=X p99_us=Y
//! refused=F timed_out=T`: of the errors (requests not answered 2001), F
//! were answered with another Result-Code (a relay's 3002, ...) and T got
//! no answer within `--timeout`.
//!
//! `--pipeline P` makes each of the C threads keep P requests in flight with
//! `send_request_nowait` (C x P outstanding in all): `--concurrency 1
//! --pipeline 64` loads a server from one thread, so that the server, not
//! the client's threads, is what is measured. Latency is then from sending
//! a request to taking its answer.
//!
//! `--sched-batch` (Linux) runs the C load threads under the `SCHED_BATCH`
//! scheduling policy: a thread woken by its answer then waits for the running
//! thread to yield the core instead of preempting it (often the node's event
//! loop, handing out answers). On a small virtual machine this gave 1.1 to
//! 1.2 times the rate with blocking `send_request` threads, as much as the
//! same policy gives diameter-rs; see docs/guide/benchmarks.md. The node's
//! own threads keep the default policy.
//!
//! `--peer` and `--peer-host` may be repeated (paired in order) for several
//! servers of `--peer-realm`: requests go to the least loaded, and those
//! waiting on a server that fails go to another (failover). The line before
//! the last is `failed_over=F`.
//! Logs go to standard error, filtered by `RUST_LOG` (default `warn`).
//!
//! `--transport` picks how the client connects to `--peer` (TCP by default):
//! - `tls`: TLS/TCP from the first byte (`aaas://` peer; needs the `tls`
//!   feature, e.g. `cargo run --release --features tls --example cc_client --
//!   ...`), with the node's certificate and key and the CA that the server's
//!   certificate must chain to (PEM files). TLS is mutual, and the server's
//!   certificate must name `--peer-host`. Against `cc_server` run with the
//!   test certificates of `tests/data/tls`: `--peer-host node2.example.test
//!   --peer-realm example.test --origin-host node1.example.test --realm
//!   example.test --transport tls --tls-cert
//!   tests/data/tls/node1.example.test.pem --tls-key
//!   tests/data/tls/node1.example.test.key --tls-ca tests/data/tls/ca.pem`.
//! - `sctp`: an SCTP association; where the kernel has no SCTP the client says
//!   so and exits with status 1.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diameter::message::constants::*;
use diameter::message::{Avp, Message, MessageHeader};
use diameter::node::application::{AppBase, Application, ThreadingApplication};
use diameter::node::{ApplicationError, Node, NodeError, NodeOptions, PeerOptions};

#[path = "common/logger.rs"]
mod logger;

const USAGE: &str = "usage: cc_client --peer IP:PORT --peer-host H [--peer IP:PORT --peer-host H ...] --peer-realm R --origin-host H --realm R --requests N --concurrency C [--pipeline P] [--timeout SECS] [--dest-realm R] [--sched-batch] [--transport tcp|tls|sctp] [--tls-cert FILE --tls-key FILE --tls-ca FILE]";

/// How the client connects to its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Tls,
    Sctp,
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Transport::Tcp),
            "tls" => Ok(Transport::Tls),
            "sctp" => Ok(Transport::Sctp),
            other => Err(format!("--transport: {other} is not tcp, tls or sctp")),
        }
    }
}

struct Args {
    peer: SocketAddr,
    peer_host: String,
    /// Further `--peer`/`--peer-host` pairs.
    more_peers: Vec<(SocketAddr, String)>,
    peer_realm: String,
    dest_realm: Option<String>,
    origin_host: String,
    realm: String,
    requests: u64,
    concurrency: usize,
    pipeline: usize,
    /// Load threads run under `SCHED_BATCH`.
    sched_batch: bool,
    timeout: Duration,
    transport: Transport,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        peer: "127.0.0.1:3868".parse().map_err(|e| format!("{e}"))?,
        peer_host: "ocs.example.net".into(),
        more_peers: Vec::new(),
        peer_realm: "example.net".into(),
        dest_realm: None,
        origin_host: "pgw.example.net".into(),
        realm: "example.net".into(),
        requests: 10_000,
        concurrency: 16,
        pipeline: 1,
        sched_batch: false,
        timeout: Duration::from_secs(5),
        transport: Transport::Tcp,
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
    };
    let mut it = std::env::args().skip(1);
    let (mut addrs, mut hosts) = (Vec::new(), Vec::new());
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--peer" => addrs.push(
                val()?
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("--peer: {e}"))?,
            ),
            "--peer-host" => hosts.push(val()?),
            "--peer-realm" => a.peer_realm = val()?,
            "--dest-realm" => a.dest_realm = Some(val()?),
            "--origin-host" => a.origin_host = val()?,
            "--realm" => a.realm = val()?,
            "--requests" => a.requests = val()?.parse().map_err(|e| format!("--requests: {e}"))?,
            "--concurrency" => {
                a.concurrency = val()?.parse().map_err(|e| format!("--concurrency: {e}"))?
            }
            "--pipeline" => a.pipeline = val()?.parse().map_err(|e| format!("--pipeline: {e}"))?,
            "--sched-batch" => a.sched_batch = true,
            "--timeout" => {
                a.timeout =
                    Duration::from_secs_f64(val()?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "--transport" => a.transport = val()?.parse()?,
            "--tls-cert" => a.tls_cert = Some(val()?.into()),
            "--tls-key" => a.tls_key = Some(val()?.into()),
            "--tls-ca" => a.tls_ca = Some(val()?.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if addrs.len() > 1 && addrs.len() != hosts.len() {
        return Err("several --peer need as many --peer-host, in the same order".into());
    }
    let mut pairs = addrs.into_iter().zip(
        hosts
            .iter()
            .cloned()
            .map(Some)
            .chain(std::iter::repeat(None)),
    );
    if let Some((addr, host)) = pairs.next() {
        a.peer = addr;
        a.peer_host = host.unwrap_or(a.peer_host);
    } else if let Some(host) = hosts.first() {
        a.peer_host = host.clone();
    }
    a.more_peers = pairs
        .map(|(addr, host)| (addr, host.unwrap_or_default()))
        .collect();
    if a.concurrency == 0 || a.pipeline == 0 {
        return Err("--concurrency and --pipeline must be at least 1".into());
    }
    let tls_files = [&a.tls_cert, &a.tls_key, &a.tls_ca];
    if a.transport != Transport::Tls && tls_files.iter().any(|f| f.is_some()) {
        return Err("--tls-cert, --tls-key and --tls-ca go with --transport tls".into());
    }
    Ok(a)
}

/// The node's options and the peers' URIs and addresses for `--transport`.
fn transport_setup(args: &Args) -> Result<(NodeOptions, Vec<(String, SocketAddr)>), String> {
    let mut options = NodeOptions::default();
    let (scheme, transport) = match args.transport {
        Transport::Tcp => ("aaa", "tcp"),
        Transport::Sctp => ("aaa", "sctp"),
        Transport::Tls => {
            set_tls(&mut options, args)?;
            ("aaas", "tcp")
        }
    };
    let first = (args.peer, args.peer_host.clone());
    let uris = std::iter::once(&first)
        .chain(&args.more_peers)
        .map(|(addr, host)| {
            let uri = format!("{scheme}://{host}:{};transport={transport}", addr.port());
            (uri, *addr)
        })
        .collect();
    Ok((options, uris))
}

/// The node's certificate, key and CA (mutual TLS: the server's certificate
/// must name `--peer-host`).
#[cfg(feature = "tls")]
fn set_tls(options: &mut NodeOptions, args: &Args) -> Result<(), String> {
    let (Some(cert_file), Some(key_file), Some(ca)) = (&args.tls_cert, &args.tls_key, &args.tls_ca)
    else {
        return Err("--transport tls needs --tls-cert, --tls-key and --tls-ca".into());
    };
    options.tls = Some(diameter::node::TlsOptions {
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        ca_files: vec![ca.clone()],
        ..Default::default()
    });
    Ok(())
}

#[cfg(not(feature = "tls"))]
fn set_tls(_: &mut NodeOptions, _: &Args) -> Result<(), String> {
    Err("--transport tls needs TLS support, which this build lacks: build with `--features tls` (cargo run --release --features tls --example cc_client -- ...)".into())
}

fn ccr(
    session: &str,
    origin_host: &str,
    realm: &str,
    peer_realm: &str,
    n: u32,
) -> Result<Message, diameter::AvpEncodeError> {
    let mut header =
        MessageHeader::new(CMD_CREDIT_CONTROL, APP_DIAMETER_CREDIT_CONTROL_APPLICATION);
    header.set_request(true);
    header.set_proxyable(true);
    Ok(Message::new(
        header,
        vec![
            Avp::new(AVP_SESSION_ID, 0, session)?,
            Avp::new(AVP_ORIGIN_HOST, 0, origin_host)?,
            Avp::new(AVP_ORIGIN_REALM, 0, realm)?,
            Avp::new(AVP_DESTINATION_REALM, 0, peer_realm)?,
            Avp::new(
                AVP_AUTH_APPLICATION_ID,
                0,
                APP_DIAMETER_CREDIT_CONTROL_APPLICATION,
            )?,
            Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING)?,
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_INITIAL_REQUEST)?,
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, n)?,
            Avp::new(
                AVP_SUBSCRIPTION_ID,
                0,
                vec![
                    Avp::new(
                        AVP_SUBSCRIPTION_ID_TYPE,
                        0,
                        E_SUBSCRIPTION_ID_TYPE_END_USER_E164,
                    )?,
                    Avp::new(AVP_SUBSCRIPTION_ID_DATA, 0, "41780000001")?,
                ],
            )?,
            Avp::new(
                AVP_MULTIPLE_SERVICES_CREDIT_CONTROL,
                0,
                vec![
                    Avp::new(
                        AVP_REQUESTED_SERVICE_UNIT,
                        0,
                        Avp::new(AVP_CC_TOTAL_OCTETS, 0, 0u64)?,
                    )?,
                    Avp::new(AVP_RATING_GROUP, 0, 8000u32)?,
                ],
            )?,
        ],
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logger::init("warn");
    let args = parse().inspect_err(|_| {
        eprintln!("{USAGE}");
    })?;
    let (options, uris) = transport_setup(&args).unwrap_or_else(|e| {
        eprintln!("cc_client: {e}");
        std::process::exit(2);
    });
    let node = Node::new(&args.origin_host, &args.realm, options);
    let mut peers = Vec::new();
    for (uri, addr) in &uris {
        peers.push(
            match node.add_peer(
                uri,
                Some(&args.peer_realm),
                PeerOptions {
                    ip_addresses: vec![addr.ip().into()],
                    is_persistent: true,
                    ..Default::default()
                },
            ) {
                Err(e @ NodeError::SctpUnavailable(_)) => {
                    eprintln!("cc_client: {e}");
                    std::process::exit(1);
                }
                added => added?,
            },
        );
    }
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    let dest_realm = args.dest_realm.as_deref().unwrap_or(&args.peer_realm);
    node.add_application(app.clone(), &peers, &[dest_realm]);
    node.start()?;
    app.wait_for_ready(Duration::from_secs(10))?;
    // with several peers, start once all are up (or 10 s passed)
    let deadline = Instant::now() + Duration::from_secs(10);
    while peers.len() > 1 && !peers.iter().all(|p| p.is_ready()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }

    let next = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let (refused, timed_out) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let mut latencies: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.concurrency)
            .map(|w| {
                let (next, answered, errors, app, args) = (&next, &answered, &errors, &app, &args);
                let (refused, timed_out) = (&refused, &timed_out);
                scope.spawn(move || {
                    if args.sched_batch {
                        if let Err(e) = sched_batch() {
                            // the first thread says why; the run goes on
                            if w == 0 {
                                eprintln!("cc_client: --sched-batch: {e}");
                            }
                        }
                    }
                    let mut lat = Vec::new();
                    let session = args.origin_host.clone() + ";load;" + &w.to_string();
                    let mut record = |t: Instant, got: Result<Message, String>| match got {
                        Ok(a)
                            if a.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32)
                                == Some(2001) =>
                        {
                            answered.fetch_add(1, Ordering::Relaxed);
                            lat.push(t.elapsed().as_micros() as u64);
                        }
                        other => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            match other {
                                Ok(_) => refused.fetch_add(1, Ordering::Relaxed),
                                Err(e) if e == TIMED_OUT => {
                                    timed_out.fetch_add(1, Ordering::Relaxed)
                                }
                                Err(_) => 0,
                            };
                        }
                    };
                    let request = |n: u64| {
                        ccr(
                            &session,
                            &args.origin_host,
                            &args.realm,
                            dest_realm,
                            n as u32,
                        )
                        .map_err(|e| e.to_string())
                    };
                    if args.pipeline == 1 {
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            if n >= args.requests {
                                break;
                            }
                            let t = Instant::now();
                            let got = request(n).and_then(|m| {
                                app.base().send_request(m, args.timeout).map_err(failure)
                            });
                            record(t, got);
                        }
                    } else {
                        let mut in_flight = VecDeque::with_capacity(args.pipeline);
                        loop {
                            while in_flight.len() < args.pipeline {
                                let n = next.fetch_add(1, Ordering::Relaxed);
                                if n >= args.requests {
                                    break;
                                }
                                let t = Instant::now();
                                let sent = request(n).and_then(|m| {
                                    app.base()
                                        .send_request_nowait(m, args.timeout)
                                        .map_err(failure)
                                });
                                match sent {
                                    Ok(pending) => in_flight.push_back((t, pending)),
                                    Err(e) => record(t, Err(e)),
                                }
                            }
                            let Some((t, pending)) = in_flight.pop_front() else {
                                break;
                            };
                            record(t, pending.wait(args.timeout).map_err(failure));
                        }
                    }
                    lat
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let failed_over = node.protocol_stats().requests_failed_over;
    node.stop(Duration::from_secs(5), false)?;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let answered = answered.load(Ordering::Relaxed);
    if !args.more_peers.is_empty() {
        println!("failed_over={failed_over}");
    }
    println!(
        "requests={} answered={} errors={} rate={:.0}/s p50_us={} p99_us={} refused={} timed_out={}",
        args.requests,
        answered,
        errors.load(Ordering::Relaxed),
        answered as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        refused.load(Ordering::Relaxed),
        timed_out.load(Ordering::Relaxed)
    );
    Ok(())
}

/// How an error is recorded: [`TIMED_OUT`] for a request no answer came
/// to in time, else its text.
const TIMED_OUT: &str = "timed out";

fn failure(e: ApplicationError) -> String {
    match e {
        ApplicationError::RequestTimeout(_) => TIMED_OUT.to_string(),
        e => e.to_string(),
    }
}

/// Puts the calling thread under `SCHED_BATCH` (its nice value kept).
#[cfg(target_os = "linux")]
fn sched_batch() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, initialised `sched_param` that outlives the
    // call; pid 0 names the calling thread, and the call changes nothing but
    // that thread's policy.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// `SCHED_BATCH` is Linux's.
#[cfg(not(target_os = "linux"))]
fn sched_batch() -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
