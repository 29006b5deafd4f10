//! A Diameter relay agent (RFC 6733 §2.8, §6.1.9): it advertises the relay
//! application, connects to its `--peer`s and forwards every request that
//! is not for itself by its `--route`s, the requests of a realm balanced
//! over that realm's hosts (the least loaded first). Requests keep all their
//! AVPs; each gets a Route-Record naming the peer it came from. Requests
//! waiting on a host whose connection fails go, with the T flag, to another
//! host of their route (failover).
//!
//! ```text
//! cargo run --release --example dra -- --listen 127.0.0.1:3868 \
//!     --origin-host dra.example.net --realm example.net [--allow-any] \
//!     --peer aaa://ocs1.example.net:3869 --peer aaa://ocs2.example.net:3870 \
//!     --route ocs.example.net=ocs1.example.net,ocs2.example.net \
//!     [--redirect REALM=HOST[,HOST...]] [--redirect-usage USAGE] \
//!     [--redirect-max-cache-time SECS] \
//!     [--peer-address HOST=IP] [--app ID] [--duration SECS]
//! ```
//! Each `--peer` is connected to (and reconnected); its address is the
//! host's, as the system resolves it, unless `--peer-address HOST=IP` names
//! it. A peer named in a `--route` belongs to that route's realm. Clients
//! connect to `--listen`: without `--allow-any`, only the `--peer`s may.
//! `--redirect REALM=HOST[,HOST...]` makes it a redirect agent for that
//! realm (RFC 6733 §6.1.7): requests for it are answered 3006
//! DIAMETER_REDIRECT_INDICATION with a Redirect-Host
//! (`aaa://HOST:PORT`) for each of those `--peer` hosts, a
//! Redirect-Host-Usage of `--redirect-usage` (a number, or its name:
//! DONT_CACHE, ALL_SESSION, ALL_REALM, REALM_AND_APPLICATION,
//! ALL_APPLICATION, ALL_HOST, ALL_USER; default ALL_REALM) and a
//! Redirect-Max-Cache-Time of `--redirect-max-cache-time` seconds (default
//! 600). The client then sends them to the host itself, and later ones of
//! the realm too, for that long.
//! `--app ID` also advertises an application id besides the relay
//! application (python-diameter 0.9.0 sends a request only to a peer that
//! advertised its application itself).
//!
//! Runs until SIGINT (Ctrl-C) or SIGTERM, or for `--duration SECS`, then
//! stops the node (DPR to every peer) and prints its counters:
//! `relayed=N answers_returned=N sent_3002=N sent_3003=N sent_3005=N
//! sent_3004=N expired=N answers_dropped=N failed_over=N sent_3006=N`,
//! then `too_large=N closed_after_sending=N without_copy=N`
//! (requests forwarded, answers sent back, requests answered here with 3002
//! DIAMETER_UNABLE_TO_DELIVER, 3003 DIAMETER_REALM_NOT_SERVED, 3005
//! DIAMETER_LOOP_DETECTED and 3004 DIAMETER_TOO_BUSY, requests whose answer
//! never came, answers whose requester was gone, requests sent again with
//! the T flag to another host of their route because the connection they
//! waited on failed, requests answered 3006 DIAMETER_REDIRECT_INDICATION,
//! requests answered 3002 because they would exceed the largest message the
//! relay accepts once their Route-Record is added, requests answered 3002
//! rather than failed over a second time because their connection closed
//! right after them again, requests forwarded without a failover copy
//! because the copies' byte budget was full).
//! Logs go to
//! standard error, filtered by `RUST_LOG` (default `warn`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use diameter::message::constants::*;
use diameter::node::peer::{AppId, Peer};
use diameter::node::{parse_diameter_uri, Agent, Node, NodeOptions, PeerOptions, RouteAction};

#[path = "common/arenas.rs"]
mod arenas;
#[path = "common/logger.rs"]
mod logger;
#[path = "common/signals.rs"]
mod signals;

const USAGE: &str = "usage: dra --listen IP:PORT --origin-host H --realm R [--allow-any] --peer aaa://HOST:PORT ... --route REALM=HOST[,HOST...] ... [--redirect REALM=HOST[,HOST...] ...] [--redirect-usage DONT_CACHE|ALL_SESSION|ALL_REALM|REALM_AND_APPLICATION|ALL_APPLICATION|ALL_HOST|ALL_USER|0-6 (default ALL_REALM)] [--redirect-max-cache-time SECS (default 600)] [--peer-address HOST=IP] [--app ID] [--duration SECS]";

const HELP: &str =
    "  --listen IP:PORT                 where clients connect (default 127.0.0.1:3868)
  --origin-host H, --realm R       this agent's identity
  --allow-any                      accept clients that are not --peers
  --peer aaa://HOST:PORT           a host to connect to (repeat)
  --peer-address HOST=IP           its address, instead of resolving HOST
  --route REALM=HOST[,HOST...]     relay the realm's requests to those --peers
  --redirect REALM=HOST[,HOST...]  answer the realm's requests 3006, naming those --peers
  --redirect-usage USAGE           Redirect-Host-Usage sent: DONT_CACHE, ALL_SESSION,
                                   ALL_REALM (default), REALM_AND_APPLICATION,
                                   ALL_APPLICATION, ALL_HOST, ALL_USER, or 0-6
  --redirect-max-cache-time SECS   Redirect-Max-Cache-Time sent (default 600)
  --app ID                         advertise this application id too (repeat)
  --duration SECS                  stop after SECS (default: at SIGINT/SIGTERM)";

/// Redirect-Host-Usage values by name (RFC 6733 §6.13).
const USAGES: [(&str, i32); 7] = [
    ("DONT_CACHE", E_REDIRECT_HOST_USAGE_DON_T_CARE),
    ("ALL_SESSION", E_REDIRECT_HOST_USAGE_ALL_SESSION),
    ("ALL_REALM", E_REDIRECT_HOST_USAGE_ALL_REALM),
    (
        "REALM_AND_APPLICATION",
        E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION,
    ),
    ("ALL_APPLICATION", E_REDIRECT_HOST_USAGE_ALL_APPLICATION),
    ("ALL_HOST", E_REDIRECT_HOST_USAGE_ALL_HOST),
    ("ALL_USER", E_REDIRECT_HOST_USAGE_ALL_USER),
];

struct Args {
    listen: SocketAddr,
    origin_host: String,
    realm: String,
    allow_any: bool,
    peers: Vec<String>,
    routes: Vec<(String, Vec<String>)>,
    redirects: Vec<(String, Vec<String>)>,
    redirect_usage: i32,
    redirect_max_cache_time: Duration,
    addresses: BTreeMap<String, IpAddr>,
    apps: Vec<u32>,
    duration: Option<Duration>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:3868".parse().map_err(|e| format!("{e}"))?,
        origin_host: "dra.example.net".into(),
        realm: "example.net".into(),
        allow_any: false,
        peers: Vec::new(),
        routes: Vec::new(),
        redirects: Vec::new(),
        redirect_usage: E_REDIRECT_HOST_USAGE_ALL_REALM,
        redirect_max_cache_time: Duration::from_secs(600),
        addresses: BTreeMap::new(),
        apps: Vec::new(),
        duration: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = val()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--origin-host" => a.origin_host = val()?,
            "--realm" => a.realm = val()?,
            "--allow-any" => a.allow_any = true,
            "--help" | "-h" => {
                println!("{USAGE}\n{HELP}");
                std::process::exit(0);
            }
            "--peer" => a.peers.push(val()?),
            "--route" => a.routes.push(realm_hosts(&flag, &val()?)?),
            "--redirect" => a.redirects.push(realm_hosts(&flag, &val()?)?),
            "--redirect-usage" => {
                let v = val()?;
                a.redirect_usage = USAGES
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(&v))
                    .map(|(_, value)| *value)
                    .or_else(|| v.parse().ok())
                    .ok_or_else(|| format!("--redirect-usage {v}: not a usage"))?;
            }
            "--redirect-max-cache-time" => {
                let v = val()?;
                a.redirect_max_cache_time = Duration::from_secs(
                    v.parse()
                        .map_err(|e| format!("--redirect-max-cache-time {v}: {e}"))?,
                );
            }
            "--peer-address" => {
                let v = val()?;
                let (host, ip) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--peer-address {v}: not HOST=IP"))?;
                let ip = ip.parse().map_err(|e| format!("--peer-address {v}: {e}"))?;
                a.addresses.insert(host.to_ascii_lowercase(), ip);
            }
            "--app" => a
                .apps
                .push(val()?.parse().map_err(|e| format!("--app: {e}"))?),
            "--duration" => {
                a.duration = Some(Duration::from_secs_f64(
                    val()?.parse().map_err(|e| format!("--duration: {e}"))?,
                ))
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// `REALM=HOST[,HOST...]` of `--route` and `--redirect`, hosts lower-cased.
fn realm_hosts(flag: &str, v: &str) -> Result<(String, Vec<String>), String> {
    let bad = || format!("{flag} {v}: not REALM=HOST[,HOST...]");
    let (realm, hosts) = v.split_once('=').ok_or_else(bad)?;
    let hosts: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if realm.is_empty() || hosts.is_empty() {
        return Err(bad());
    }
    Ok((realm.to_owned(), hosts))
}

/// A peer's address: `--peer-address`, else the system's resolution.
fn address_of(args: &Args, host: &str, port: u16) -> Result<IpAddr, String> {
    if let Some(ip) = args.addresses.get(host) {
        return Ok(*ip);
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| format!("{host}: no address"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    arenas::cap_malloc_arenas();
    logger::init("warn");
    let args = parse().inspect_err(|_| {
        eprintln!("{USAGE}");
    })?;
    let mut node = Node::new(
        &args.origin_host,
        &args.realm,
        NodeOptions {
            ip_addresses: vec![args.listen.ip().into()],
            tcp_port: Some(args.listen.port()),
            ..Default::default()
        },
    );
    node.agent = Agent::Relay;
    node.accept_unknown_peers = args.allow_any;
    for id in &args.apps {
        node.add_application_id(AppId::auth(*id));
    }
    let mut peers: BTreeMap<String, Arc<Peer>> = BTreeMap::new();
    for uri in &args.peers {
        let parsed = parse_diameter_uri(uri)?;
        let host = parsed.fqdn.to_ascii_lowercase();
        let realm = args
            .routes
            .iter()
            .chain(&args.redirects)
            .find(|(_, hosts)| hosts.contains(&host))
            .map(|(realm, _)| realm.as_str());
        let ip = address_of(&args, &host, parsed.port).unwrap_or_else(|e| {
            eprintln!("dra: --peer {uri}: {e}");
            std::process::exit(2);
        });
        let peer = node.add_peer(
            uri,
            realm,
            PeerOptions {
                ip_addresses: vec![ip.into()],
                is_persistent: true,
                ..Default::default()
            },
        )?;
        peer.set_reconnect_wait(Duration::from_secs(1));
        peers.insert(host, peer);
    }
    let servers = |flag: &str, realm: &str, hosts: &[String]| -> Vec<Arc<Peer>> {
        hosts
            .iter()
            .map(|host| match peers.get(host) {
                Some(p) => p.clone(),
                None => {
                    eprintln!("dra: {flag} {realm}: {host} is not a --peer");
                    std::process::exit(2);
                }
            })
            .collect()
    };
    for (realm, hosts) in &args.routes {
        let servers = servers("--route", realm, hosts);
        node.add_route(realm, None, RouteAction::Relay, &servers);
    }
    for (realm, hosts) in &args.redirects {
        let servers = servers("--redirect", realm, hosts);
        node.add_redirect(
            realm,
            None,
            &servers,
            args.redirect_usage,
            args.redirect_max_cache_time,
        );
    }
    let shutdown = signals::Shutdown::install()?;
    node.start()?;
    let addresses: Vec<String> = node
        .listen_addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "dra {} listening on {}",
        args.origin_host,
        addresses.join(", ")
    );
    shutdown.wait(args.duration);
    node.stop(Duration::from_secs(5), false)?;
    let s = node.relay_stats();
    println!(
        "relayed={} answers_returned={} sent_3002={} sent_3003={} sent_3005={} sent_3004={} expired={} answers_dropped={} failed_over={} sent_3006={}",
        s.requests_relayed,
        s.answers_relayed,
        s.unable_to_deliver,
        s.realm_not_served,
        s.loops_detected,
        s.too_busy,
        s.expired,
        s.answers_dropped,
        s.requests_failed_over,
        s.redirected
    );
    println!(
        "too_large={} closed_after_sending={} without_copy={}",
        s.too_large, s.closed_after_sending, s.forwarded_without_copy
    );
    Ok(())
}
