//! A Credit-Control server: answers every CCR with a CCA 2001 and a
//! Granted-Service-Unit. Also a load target for `cc_client`.
//!
//! ```text
//! cargo run --release --example cc_server -- --listen 127.0.0.1:3868 \
//!     --origin-host ocs.example.net --realm example.net [--max-threads N] [--allow-any] \
//!     [--client-host H] [--client-ip IP] [--transport tcp|tls|sctp] \
//!     [--tls-cert FILE --tls-key FILE --tls-ca FILE] \
//!     [--max-connections N] [--cer-timeout SECS] \
//!     [--max-unauthenticated N] [--max-unauthenticated-per-ip N] \
//!     [--delay-ms MS]
//! ```
//! `--delay-ms` makes each answer wait that long in its handler (a slow
//! server, for fault benchmarks); its watchdog answers are not delayed.
//! Without `--allow-any` only the peer `--client-host` (`pgw.example.net` by
//! default) may connect, from `--client-ip` when given (its configured
//! address). `--max-connections`, `--cer-timeout`, `--max-unauthenticated`
//! and `--max-unauthenticated-per-ip` set the node's settings of those names
//! (`NodeOptions`, `NodeLimits`); the counters printed at the end include
//! the connections closed or refused for want of a CER
//! (`unauthenticated_closed`, `unauthenticated_refused`). Serves until SIGINT (Ctrl-C) or SIGTERM, or for
//! `--duration SECS`, then stops the node (DPR with Disconnect-Cause
//! REBOOTING to every connected peer), prints `cc_server H stopped:`, some
//! of its protocol counters (requests received with the T flag among them)
//! and `answered=N` (the CCAs it built), and exits with status 0. Standard input
//! is not read, so a service manager may start it with stdin closed. Logs go
//! to standard error, filtered by `RUST_LOG` (default `warn`).
//!
//! `--transport` picks the listener on `--listen` (TCP by default):
//! - `tls`: TLS/TCP from the first byte (needs the `tls` feature, e.g.
//!   `cargo run --release --features tls --example cc_server -- ...`), with the
//!   node's certificate and key and the CA that clients' certificates must
//!   chain to (PEM files). TLS is mutual: a client must present a certificate
//!   naming its Origin-Host. With the test certificates of `tests/data/tls`:
//!   `--origin-host node2.example.test --realm example.test --client-host
//!   node1.example.test --transport tls --tls-cert
//!   tests/data/tls/node2.example.test.pem --tls-key
//!   tests/data/tls/node2.example.test.key --tls-ca tests/data/tls/ca.pem`.
//! - `sctp`: an SCTP listener; where the kernel has no SCTP the server says so
//!   and exits with status 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::{AppBase, HandlerResult, ThreadingApplication};
use diameter::node::{Node, NodeError, NodeOptions, PeerOptions};

#[path = "common/arenas.rs"]
mod arenas;
#[path = "common/logger.rs"]
mod logger;
#[path = "common/signals.rs"]
mod signals;

const USAGE: &str = "usage: cc_server --listen IP:PORT --origin-host H --realm R [--max-threads N] [--allow-any] [--duration SECS] [--client-host H] [--client-ip IP] [--transport tcp|tls|sctp] [--tls-cert FILE --tls-key FILE --tls-ca FILE] [--max-connections N] [--cer-timeout SECS] [--max-unauthenticated N] [--max-unauthenticated-per-ip N] [--delay-ms MS]";

/// What the server listens on.
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
    listen: SocketAddr,
    origin_host: String,
    realm: String,
    max_threads: usize,
    allow_any: bool,
    duration: Option<Duration>,
    client_host: String,
    client_ip: Option<std::net::IpAddr>,
    transport: Transport,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    max_connections: Option<usize>,
    cer_timeout: Option<Duration>,
    max_unauthenticated: Option<usize>,
    max_unauthenticated_per_ip: Option<usize>,
    delay: Duration,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:3868".parse().map_err(|e| format!("{e}"))?,
        origin_host: "ocs.example.net".into(),
        realm: "example.net".into(),
        max_threads: 0,
        allow_any: false,
        duration: None,
        client_host: "pgw.example.net".into(),
        client_ip: None,
        transport: Transport::Tcp,
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
        max_connections: None,
        cer_timeout: None,
        max_unauthenticated: None,
        max_unauthenticated_per_ip: None,
        delay: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = val()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--origin-host" => a.origin_host = val()?,
            "--realm" => a.realm = val()?,
            "--max-threads" => {
                a.max_threads = val()?.parse().map_err(|e| format!("--max-threads: {e}"))?
            }
            "--allow-any" => a.allow_any = true,
            "--duration" => {
                a.duration = Some(Duration::from_secs_f64(
                    val()?.parse().map_err(|e| format!("--duration: {e}"))?,
                ))
            }
            "--client-host" => a.client_host = val()?,
            "--client-ip" => {
                a.client_ip = Some(val()?.parse().map_err(|e| format!("--client-ip: {e}"))?)
            }
            "--max-connections" => {
                a.max_connections = Some(
                    val()?
                        .parse()
                        .map_err(|e| format!("--max-connections: {e}"))?,
                )
            }
            "--cer-timeout" => {
                let secs: f64 = val()?.parse().map_err(|e| format!("--cer-timeout: {e}"))?;
                a.cer_timeout = Some(
                    Duration::try_from_secs_f64(secs).map_err(|e| format!("--cer-timeout: {e}"))?,
                )
            }
            "--max-unauthenticated" => {
                a.max_unauthenticated = Some(
                    val()?
                        .parse()
                        .map_err(|e| format!("--max-unauthenticated: {e}"))?,
                )
            }
            "--max-unauthenticated-per-ip" => {
                a.max_unauthenticated_per_ip = Some(
                    val()?
                        .parse()
                        .map_err(|e| format!("--max-unauthenticated-per-ip: {e}"))?,
                )
            }
            "--transport" => a.transport = val()?.parse()?,
            "--tls-cert" => a.tls_cert = Some(val()?.into()),
            "--tls-key" => a.tls_key = Some(val()?.into()),
            "--tls-ca" => a.tls_ca = Some(val()?.into()),
            "--delay-ms" => {
                let ms = val()?.parse().map_err(|e| format!("--delay-ms: {e}"))?;
                a.delay = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let tls_files = [&a.tls_cert, &a.tls_key, &a.tls_ca];
    if a.transport != Transport::Tls && tls_files.iter().any(|f| f.is_some()) {
        return Err("--tls-cert, --tls-key and --tls-ca go with --transport tls".into());
    }
    Ok(a)
}

/// The node's listener: `--transport` on the address of `--listen`.
fn node_options(args: &Args) -> Result<NodeOptions, String> {
    let mut options = NodeOptions {
        ip_addresses: vec![args.listen.ip().into()],
        ..Default::default()
    };
    let port = Some(args.listen.port());
    match args.transport {
        Transport::Tcp => options.tcp_port = port,
        Transport::Sctp => options.sctp_port = port,
        Transport::Tls => {
            options.tls_port = port;
            set_tls(&mut options, args)?;
        }
    }
    Ok(options)
}

/// The node's certificate, key and CA (mutual TLS: clients must present a
/// certificate naming their Origin-Host).
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
    Err("--transport tls needs TLS support, which this build lacks: build with `--features tls` (cargo run --release --features tls --example cc_server -- ...)".into())
}

/// The CCA: Result-Code 2001, the request's CC-Request-Type/Number, and a
/// Granted-Service-Unit of 1 MB per Multiple-Services-Credit-Control.
fn answer(app: &AppBase, ccr: Message) -> HandlerResult {
    let mut cca = app.generate_answer(&ccr, E_RESULT_CODE_DIAMETER_SUCCESS, None)?;
    for code in [AVP_CC_REQUEST_TYPE, AVP_CC_REQUEST_NUMBER] {
        if let Some(avp) = ccr.find_avp(&[(code, 0)]) {
            cca.append_avp(avp.clone());
        }
    }
    let gsu = Avp::new(
        AVP_GRANTED_SERVICE_UNIT,
        0,
        Avp::new(AVP_CC_TOTAL_OCTETS, 0, 1_000_000u64)?,
    )?;
    let rating_groups: Vec<Avp> = ccr
        .find_avps(&[
            (AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, 0),
            (AVP_RATING_GROUP, 0),
        ])
        .into_iter()
        .cloned()
        .collect();
    if rating_groups.is_empty() {
        cca.append_avp(gsu);
    } else {
        for rg in rating_groups {
            cca.append_avp(Avp::new(
                AVP_MULTIPLE_SERVICES_CREDIT_CONTROL,
                0,
                vec![
                    gsu.clone(),
                    rg,
                    Avp::new(AVP_RESULT_CODE, 0, E_RESULT_CODE_DIAMETER_SUCCESS)?,
                ],
            )?);
        }
    }
    Ok(Some(cca))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    arenas::cap_malloc_arenas();
    logger::init("warn");
    let args = parse().inspect_err(|_| {
        eprintln!("{USAGE}");
    })?;
    let options = node_options(&args).unwrap_or_else(|e| {
        eprintln!("cc_server: {e}");
        std::process::exit(2);
    });
    let mut node = Node::new(&args.origin_host, &args.realm, options);
    node.accept_unknown_peers = args.allow_any;
    if let Some(n) = args.max_connections {
        node.max_connections = n;
    }
    if let Some(t) = args.cer_timeout {
        node.cer_timeout = t;
    }
    if let Some(n) = args.max_unauthenticated {
        node.limits.max_unauthenticated = n;
    }
    if let Some(n) = args.max_unauthenticated_per_ip {
        node.limits.max_unauthenticated_per_ip = n;
    }
    let peers = if args.allow_any {
        Vec::new()
    } else {
        vec![node.add_peer(
            &format!("aaa://{}", args.client_host),
            None,
            PeerOptions {
                ip_addresses: args.client_ip.into_iter().map(Into::into).collect(),
                ..Default::default()
            },
        )?]
    };
    let answered = Arc::new(AtomicU64::new(0));
    let count = answered.clone();
    let delay = args.delay;
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        args.max_threads,
        move |app: &AppBase, ccr: Message| {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            let cca = answer(app, ccr)?;
            count.fetch_add(1, Ordering::Relaxed);
            Ok(cca)
        },
    );
    node.add_application(app.clone() as Arc<_>, &peers, &[]);
    let shutdown = signals::Shutdown::install()?;
    match node.start() {
        Err(e @ NodeError::SctpUnavailable(_)) => {
            eprintln!("cc_server: {e}");
            std::process::exit(1);
        }
        started => started?,
    }
    let addresses: Vec<String> = node
        .listen_addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "cc_server {} listening on {}",
        args.origin_host,
        addresses.join(", ")
    );
    shutdown.wait(args.duration);
    node.stop(Duration::from_secs(5), false)?;
    let p = node.protocol_stats();
    println!(
        "cc_server {} stopped: retransmissions_received={} retransmissions_answered={} requests_refused_busy={} answers_unsent={} unauthenticated_closed={} unauthenticated_refused={} answered={}",
        args.origin_host,
        p.retransmissions_received,
        p.retransmissions_answered,
        p.requests_refused_busy,
        p.answers_unsent,
        p.unauthenticated_closed,
        p.unauthenticated_refused,
        answered.load(Ordering::Relaxed)
    );
    Ok(())
}
