//! What goes out after a proxy handler ran, as pure functions: the received
//! bytes when it changed nothing, the message encoded anew when it did, the
//! identifiers always those received. The handlers themselves
//! ([`ProxyHandler`]) are user code the event loop calls.

use crate::message::{AvpEncodeError, Message, MessageHeader};

pub use crate::node::proxy::{ProxyHandler, ProxyVerdict};

/// The fields of `before` a handler may not change, put back into `msg`.
pub(crate) fn restore_identifiers(msg: &mut Message, before: &MessageHeader, request: bool) {
    let h = &mut msg.header;
    h.hop_by_hop_identifier = before.hop_by_hop_identifier;
    h.end_to_end_identifier = before.end_to_end_identifier;
    h.command_code = before.command_code;
    h.application_id = before.application_id;
    h.version = before.version;
    h.set_request(request);
}

/// What goes out for a message a handler saw: `wire` (the bytes received)
/// when the message still encodes to exactly them, else the message encoded
/// anew; `wire` is given back when it does not encode. `msg`'s identifiers
/// must be restored first.
pub(crate) fn outgoing(
    msg: &Message,
    wire: Option<Vec<u8>>,
) -> Result<Vec<u8>, (AvpEncodeError, Option<Vec<u8>>)> {
    let encoded = match msg.as_bytes() {
        Ok(encoded) => encoded,
        Err(e) => return Err((e, wire)),
    };
    match wire {
        Some(wire) if wire == encoded => Ok(wire),
        _ => Ok(encoded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::constants::*;
    use crate::message::Avp;

    fn request() -> Message {
        let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
        h.set_request(true);
        h.set_proxyable(true);
        h.hop_by_hop_identifier = 7;
        h.end_to_end_identifier = 9;
        Message::new(h, vec![Avp::new(AVP_SESSION_ID, 0, "s;1").unwrap()])
    }

    #[test]
    fn unchanged_messages_keep_their_received_bytes() {
        let msg = request();
        let wire = msg.as_bytes().unwrap();
        let at = wire.as_ptr();
        let out = outgoing(&msg, Some(wire)).unwrap();
        assert_eq!(out.as_ptr(), at, "the received buffer itself");
    }

    #[test]
    fn changed_messages_are_encoded_with_their_identifiers() {
        let mut msg = request();
        let before = msg.header;
        let wire = msg.as_bytes().unwrap();
        msg.header.end_to_end_identifier = 1;
        msg.header.hop_by_hop_identifier = 2;
        msg.header.command_code = 3;
        msg.header.set_request(false);
        msg.header.set_retransmit(true);
        msg.append_avp(Avp::new(AVP_ROUTE_RECORD, 0, "x.net").unwrap());
        restore_identifiers(&mut msg, &before, true);
        let out = outgoing(&msg, Some(wire.clone())).unwrap();
        let back = Message::from_bytes(&out).unwrap();
        assert_eq!(back.header.end_to_end_identifier, 9);
        assert_eq!(back.header.hop_by_hop_identifier, 7);
        assert_eq!(back.header.command_code, CMD_CREDIT_CONTROL);
        assert!(back.header.is_request() && back.header.is_retransmit());
        assert_eq!(back.avps.len(), 2);
        assert_eq!(&out[20..wire.len()], &wire[20..]);
    }
}
