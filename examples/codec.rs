//! Builds a Gy Credit-Control-Request, encodes it, decodes the bytes back and
//! prints python-diameter's dump of it; then splits a byte stream holding two
//! messages with the framer.
//!
//! Run with `cargo run --example codec`.

use std::time::SystemTime;

use diameter::message::constants::*;
use diameter::message::framer::Framer;
use diameter::message::{dump, Avp, Message, MessageHeader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut header =
        MessageHeader::new(CMD_CREDIT_CONTROL, APP_DIAMETER_CREDIT_CONTROL_APPLICATION);
    header.set_request(true);
    header.set_proxyable(true);
    header.hop_by_hop_identifier = 0x2711;
    header.end_to_end_identifier = 0x4e21;

    let mut ccr = Message::new(header, vec![]);
    ccr.append_avp(Avp::new(
        AVP_SESSION_ID,
        0,
        "client.example.net;1700000000;1",
    )?);
    ccr.append_avp(Avp::new(AVP_ORIGIN_HOST, 0, "client.example.net")?);
    ccr.append_avp(Avp::new(AVP_ORIGIN_REALM, 0, "example.net")?);
    ccr.append_avp(Avp::new(AVP_DESTINATION_REALM, 0, "ocs.example.net")?);
    ccr.append_avp(Avp::new(
        AVP_AUTH_APPLICATION_ID,
        0,
        APP_DIAMETER_CREDIT_CONTROL_APPLICATION,
    )?);
    ccr.append_avp(Avp::new(
        AVP_SERVICE_CONTEXT_ID,
        0,
        SERVICE_CONTEXT_PS_CHARGING,
    )?);
    ccr.append_avp(Avp::new(
        AVP_CC_REQUEST_TYPE,
        0,
        E_CC_REQUEST_TYPE_INITIAL_REQUEST,
    )?);
    ccr.append_avp(Avp::new(AVP_CC_REQUEST_NUMBER, 0, 0u32)?);
    ccr.append_avp(Avp::new(AVP_EVENT_TIMESTAMP, 0, SystemTime::now())?);
    ccr.append_avp(Avp::new(
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
    )?);
    ccr.append_avp(Avp::new(
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
    )?);

    let bytes = ccr.as_bytes()?;
    println!("encoded {} bytes", bytes.len());

    let decoded = Message::from_bytes(&bytes)?;
    print!("{}", dump(&decoded));

    let octets = decoded.find_avp(&[
        (AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, 0),
        (AVP_REQUESTED_SERVICE_UNIT, 0),
        (AVP_CC_TOTAL_OCTETS, 0),
    ]);
    match octets.and_then(Avp::as_u64) {
        Some(octets) => println!("requested octets: {octets}"),
        None => println!("requested octets: none"),
    }

    // two messages arriving in odd-sized pieces
    let mut stream = bytes.clone();
    stream.extend_from_slice(&bytes);
    let mut framer = Framer::new();
    let mut count = 0;
    for chunk in stream.chunks(100) {
        framer.feed(chunk);
        while let Some(frame) = framer.next_frame()? {
            count += 1;
            println!("frame {count}: {}", Message::from_bytes(frame)?);
        }
    }
    Ok(())
}
