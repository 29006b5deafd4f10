//! Port of the complete script of python-diameter's guide, "A sample
//! application" (docs/guide/sample_application.md): a Credit-Control client
//! that sends one SMS charging request (an EVENT CCR with 3GPP
//! SMS-Information), prints the answer's Result-Code and disconnects. The
//! guide walks through python's examples/credit_control_sms_client.py, so
//! this is that script again, with the guide's sections as headings and its
//! one extra line (`diameter.stats` at INFO).
//!
//! ```text
//! cargo run --example cc_server -- --listen 127.0.0.1:3868 --origin-host ocs.gy \
//!     --realm testrealm.local --allow-any --duration 30 &
//! cargo run --example sample_application -- --peer 127.0.0.1:3868
//! ```
//! The guide's peer is `ocs.gy` at 10.0.0.50, port 3868; here the address is
//! `--peer IP:PORT`, 127.0.0.1:3868 unless given. Message dumps and peer
//! statistics go to standard error (`RUST_LOG` overrides the default
//! filter).

use std::time::{Duration, SystemTime};

use diameter::message::commands::{CreditControlAnswer, CreditControlRequest, MsccOptions};
use diameter::message::constants::*;
use diameter::message::grouped::{
    RecipientAddress, RecipientInfo, RequestedServiceUnit, ServiceInformation, SmsInformation,
};
use diameter::node::application::{AppBase, ThreadingApplication, DEFAULT_READY_TIMEOUT};
use diameter::node::{Node, NodeOptions, PeerOptions};

#[path = "common/logger.rs"]
mod logger;

/// `--peer IP:PORT`, where `ocs.gy` listens (127.0.0.1:3868 unless given).
fn peer_address() -> Result<std::net::SocketAddr, String> {
    let mut peer = "127.0.0.1:3868".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--peer" => peer = args.next().ok_or("--peer needs a value")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    peer.parse().map_err(|e| format!("--peer: {e}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let peer_addr =
        peer_address().inspect_err(|_| eprintln!("usage: sample_application [--peer IP:PORT]"))?;

    // --- the guide's section "Setting up logging" ---
    // logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    // logging.getLogger("diameter.peer.msg").setLevel(logging.DEBUG)
    // logging.getLogger("diameter.stats").setLevel(logging.INFO)
    logger::init("warn,diameter.peer.msg=debug,diameter.stats=info");

    // --- "Creating a diameter node" ---
    // node = Node(
    //     "smsgw.gy", "testrealm.local",
    //     vendor_ids=[VENDOR_ETSI, VENDOR_TGPP, VENDOR_TGPP2])
    let node = Node::new(
        "smsgw.gy",
        "testrealm.local",
        NodeOptions {
            vendor_ids: vec![VENDOR_ETSI, VENDOR_TGPP, VENDOR_TGPP2],
            ..Default::default()
        },
    );
    // ocs_cfg = node.add_peer(
    //     "aaa://ocs.gy", "testrealm.local",
    //     ip_addresses=["10.0.0.50"], is_persistent=True)
    let ocs_cfg = node.add_peer(
        &format!("aaa://ocs.gy:{}", peer_addr.port()),
        Some("testrealm.local"),
        PeerOptions {
            ip_addresses: vec![peer_addr.ip().into()],
            is_persistent: true,
            ..Default::default()
        },
    )?;
    // node.start()   (below, once the application is added: a CER sent
    // before it would advertise no application, which a quick peer answers
    // 5010)

    // --- "Creating the charging application" ---
    // client = SimpleThreadingApplication(
    //     APP_DIAMETER_CREDIT_CONTROL_APPLICATION,
    //     is_auth_application=True)
    // (a client only: its handler, for requests it would receive, answers none)
    let client = ThreadingApplication::new(
        AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
        0,
        |_, _| Ok(None),
    );
    // node.add_application(client, [ocs_cfg])
    node.add_application(client.clone(), [&ocs_cfg], &[]);
    // node.start()
    node.start()?;

    // --- "Constructing a charging request" ---
    // ccr = CreditControlRequest()
    let mut ccr = CreditControlRequest::new();

    // (the AVPs a CCR must have)
    // ccr.session_id = client.node.session_generator.next_id()
    ccr.session_id = Some(node.session_generator.next_id(&[]));
    // ccr.origin_host = client.node.origin_host.encode()
    ccr.origin_host = Some(node.origin_host.clone());
    // ccr.origin_realm = client.node.realm_name.encode()
    ccr.origin_realm = Some(node.realm_name.clone());
    // ccr.destination_realm = client.node.realm_name.encode()
    ccr.destination_realm = Some(node.realm_name.clone());
    // ccr.auth_application_id = client.application_id
    ccr.auth_application_id = Some(client.application_id());
    // ccr.service_context_id = "32274@3gpp.org"
    ccr.service_context_id = Some("32274@3gpp.org".into());
    // ccr.cc_request_type = E_CC_REQUEST_TYPE_EVENT_REQUEST
    ccr.cc_request_type = Some(E_CC_REQUEST_TYPE_EVENT_REQUEST);
    // ccr.cc_request_number = 1
    ccr.cc_request_number = Some(1);

    // (what an online charging server usually expects too)
    // ccr.user_name = "diameter"
    ccr.user_name = Some("diameter".into());
    // ccr.event_timestamp = datetime.datetime.now()
    ccr.event_timestamp = Some(SystemTime::now());
    // ccr.requested_action = E_REQUESTED_ACTION_DIRECT_DEBITING
    ccr.requested_action = Some(E_REQUESTED_ACTION_DIRECT_DEBITING);

    // ccr.add_subscription_id(
    //     subscription_id_type=E_SUBSCRIPTION_ID_TYPE_END_USER_E164,
    //     subscription_id_data="41780000001")
    ccr.add_subscription_id(E_SUBSCRIPTION_ID_TYPE_END_USER_E164, "41780000001");
    // ccr.add_multiple_services_credit_control(
    //     requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
    //     service_identifier=1)
    ccr.add_multiple_services_credit_control_with(
        MsccOptions::new()
            .requested_service_unit(RequestedServiceUnit {
                cc_service_specific_units: Some(1),
                ..Default::default()
            })
            .service_identifier(1),
    );

    // The 3GPP vendor-specific Service-Information at the end: the SMS type
    // and its recipient (lists, as a message may have several recipients).
    // ccr.service_information = ServiceInformation(
    //     sms_information=SmsInformation(
    //         data_coding_scheme=8,
    //         sm_message_type=E_SM_MESSAGE_TYPE_SUBMISSION,
    //         recipient_info=[RecipientInfo(
    //             recipient_address=[RecipientAddress(
    //                 address_type=E_ADDRESS_TYPE_MSISDN,
    //                 address_data="41780000002"
    //             )]
    //         )]
    //     )
    // )
    ccr.service_information = Some(ServiceInformation {
        sms_information: Some(SmsInformation {
            data_coding_scheme: Some(8),
            sm_message_type: Some(E_SM_MESSAGE_TYPE_SUBMISSION),
            recipient_info: vec![RecipientInfo {
                recipient_address: vec![RecipientAddress {
                    address_type: Some(E_ADDRESS_TYPE_MSISDN),
                    address_data: Some("41780000002".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    });

    // --- "Sending the message" ---
    // client.wait_for_ready()
    client.wait_for_ready(DEFAULT_READY_TIMEOUT)?;
    // cca = client.send_request(ccr, timeout=5)
    let cca: CreditControlAnswer = client.send_request(ccr, Duration::from_secs(5))?;

    // print(cca.result_code)
    match cca.result_code {
        Some(result_code) => println!("{result_code}"),
        None => println!("no Result-Code"),
    }

    // node.stop()
    node.stop(Duration::from_secs(180), false)?;
    Ok(())
}
