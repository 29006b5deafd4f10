//! A Credit-Control server: answers every CCR with a CCA 2001 and a
//! Granted-Service-Unit. Also a load target for `cc_client`.
//!
//! ```text
//! cargo run --release --example cc_server -- --listen 127.0.0.1:3868 \
//!     --origin-host ocs.example.net --realm example.net [--max-threads N] [--allow-any]
//! ```
//! Without `--allow-any` only the peer `pgw.example.net` may connect. Stops on
//! end of standard input or after `--duration SECS`.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::{AppBase, HandlerResult, ThreadingApplication};
use diameter::node::{Node, NodeOptions, PeerOptions};

struct Args {
    listen: SocketAddr,
    origin_host: String,
    realm: String,
    max_threads: usize,
    allow_any: bool,
    duration: Option<Duration>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:3868".parse().map_err(|e| format!("{e}"))?,
        origin_host: "ocs.example.net".into(),
        realm: "example.net".into(),
        max_threads: 0,
        allow_any: false,
        duration: None,
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// The CCA: Result-Code 2001, the request's CC-Request-Type/Number, and a
/// Granted-Service-Unit of 1 MB per Multiple-Services-Credit-Control.
fn answer(app: &AppBase, ccr: Message) -> HandlerResult {
    let mut cca = app.generate_answer(&ccr, Some(E_RESULT_CODE_DIAMETER_SUCCESS), None);
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
    let args = parse().inspect_err(|_| {
        eprintln!("usage: cc_server --listen IP:PORT --origin-host H --realm R [--max-threads N] [--allow-any] [--duration SECS]");
    })?;
    let mut node = Node::new(
        &args.origin_host,
        &args.realm,
        NodeOptions {
            ip_addresses: vec![args.listen.ip()],
            tcp_port: Some(args.listen.port()),
            ..Default::default()
        },
    );
    node.accept_unknown_peers = args.allow_any;
    let peers = if args.allow_any {
        Vec::new()
    } else {
        vec![node.add_peer("aaa://pgw.example.net", None, PeerOptions::default())?]
    };
    let app = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        args.max_threads,
        answer,
    );
    node.add_application(app.clone() as Arc<_>, &peers, &[]);
    node.start()?;
    println!(
        "cc_server {} listening on {:?}",
        args.origin_host,
        node.listen_addresses()
    );
    match args.duration {
        Some(d) => std::thread::sleep(d),
        None => {
            // until standard input closes
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        }
    }
    node.stop(Duration::from_secs(5), false)?;
    Ok(())
}
