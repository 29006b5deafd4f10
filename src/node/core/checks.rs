//! Protocol checks of received requests that need more than the codec
//! (RFC 6733 §6.1 and §7.1): unknown commands, requests for another host,
//! mandatory AVPs the node does not understand. Pure functions.

use crate::message::constants::*;
use crate::message::{dictionary, Avp, AvpValue, Message};
use crate::node::peer::cap_error_message;

/// A request the node must answer itself: Result-Code, Error-Message and
/// the Failed-AVP.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Result-Code of the error answer.
    pub result_code: u32,
    /// Error-Message text.
    pub error_message: String,
    /// Failed-AVP content, when an AVP is at fault.
    pub failed_avp: Option<Avp>,
}

/// The first AVP, at any depth, that has the M bit and that the dictionary
/// does not know (RFC 6733 §4.1: DIAMETER_AVP_UNSUPPORTED). A member inside
/// a grouped AVP comes back wrapped in its parents.
pub fn unsupported_mandatory_avp(avps: &[Avp]) -> Option<Avp> {
    for avp in avps {
        match avp.value() {
            AvpValue::Raw(_) if avp.is_mandatory() => return Some(avp.clone()),
            AvpValue::Grouped(members) => {
                if let Some(inner) = unsupported_mandatory_avp(members) {
                    let mut parent = Avp::with_value(
                        avp.code(),
                        avp.vendor_id(),
                        AvpValue::Grouped(vec![inner]),
                    );
                    parent.set_flags(avp.flags());
                    return Some(parent);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first top-level AVP with the M bit whose type is Enumerated and
/// whose value is not one the dictionary lists for it
/// ([`dictionary::enumerated_values`]): RFC 6733 §7.1.5,
/// DIAMETER_INVALID_AVP_VALUE (5004), with the AVP in Failed-AVP. AVPs
/// without the M bit, AVPs inside grouped ones, and Enumerated AVPs the
/// dictionary lists no values for are not checked.
pub fn unknown_enumerated_value(avps: &[Avp]) -> Option<&Avp> {
    avps.iter().find(|avp| {
        let AvpValue::Enumerated(value) = avp.value() else {
            return false;
        };
        avp.is_mandatory()
            && dictionary::enumerated_values(avp.code(), avp.vendor_id())
                .is_some_and(|known| known.binary_search(value).is_err())
    })
}

/// Checks a received request against what this node is: `local_host` and
/// `local_realm` are its identity; `application_supported` says whether some
/// local application serves the request's application id.
pub fn check_request(
    msg: &Message,
    local_host: &str,
    local_realm: &str,
    application_supported: bool,
) -> Option<Rejection> {
    if dictionary::command_name(msg.header.command_code) == "Unknown" {
        return Some(Rejection {
            result_code: E_RESULT_CODE_DIAMETER_COMMAND_UNSUPPORTED,
            error_message: format!("command code {} is not supported", msg.header.command_code),
            failed_avp: None,
        });
    }
    if let Some(dest) = msg
        .find_avp(&[(AVP_DESTINATION_HOST, 0)])
        .and_then(Avp::as_str)
    {
        if !dest.eq_ignore_ascii_case(local_host) {
            return Some(Rejection {
                result_code: E_RESULT_CODE_DIAMETER_UNABLE_TO_DELIVER,
                error_message: format!("no route to Destination-Host {}", cap_error_message(dest)),
                failed_avp: None,
            });
        }
    }
    if let Some(realm) = msg
        .find_avp(&[(AVP_DESTINATION_REALM, 0)])
        .and_then(Avp::as_str)
    {
        if !realm.eq_ignore_ascii_case(local_realm) && !application_supported {
            return Some(Rejection {
                result_code: E_RESULT_CODE_DIAMETER_REALM_NOT_SERVED,
                error_message: format!("realm {} is not served", cap_error_message(realm)),
                failed_avp: None,
            });
        }
    }
    if !application_supported {
        return Some(Rejection {
            result_code: E_RESULT_CODE_DIAMETER_APPLICATION_UNSUPPORTED,
            error_message: format!("application {} is not supported", msg.header.application_id),
            failed_avp: None,
        });
    }
    if let Some(avp) = unsupported_mandatory_avp(&msg.avps) {
        return Some(Rejection {
            result_code: E_RESULT_CODE_DIAMETER_AVP_UNSUPPORTED,
            error_message: format!(
                "avp {} (vendor {}) is not supported",
                avp.code(),
                avp.vendor_id()
            ),
            failed_avp: Some(avp),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageHeader;

    fn req(avps: Vec<Avp>) -> Message {
        let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
        h.set_request(true);
        Message::new(h, avps)
    }

    #[test]
    fn each_check_gives_its_result_code() {
        let ok = req(vec![
            Avp::new(AVP_DESTINATION_HOST, 0, "me.example").unwrap()
        ]);
        assert_eq!(check_request(&ok, "ME.example", "example", true), None);
        let other = req(vec![
            Avp::new(AVP_DESTINATION_HOST, 0, "other.example").unwrap()
        ]);
        assert_eq!(
            check_request(&other, "me.example", "example", true)
                .unwrap()
                .result_code,
            3002
        );
        let mut unknown = req(vec![]);
        unknown.header.command_code = 9_999_999;
        assert_eq!(
            check_request(&unknown, "me", "r", true)
                .unwrap()
                .result_code,
            3001
        );
        assert_eq!(
            check_request(&req(vec![]), "me", "r", false)
                .unwrap()
                .result_code,
            3007
        );
        let realm = req(vec![
            Avp::new(AVP_DESTINATION_REALM, 0, "elsewhere").unwrap()
        ]);
        assert_eq!(
            check_request(&realm, "me", "r", false).unwrap().result_code,
            3003
        );
        let m = Avp::with_value(99_999, 0, AvpValue::Raw(vec![1])).with_mandatory(true);
        let nested = Avp::new(AVP_PROXY_INFO, 0, vec![m.clone()]).unwrap();
        let r = check_request(&req(vec![nested]), "me", "r", true).unwrap();
        assert_eq!(r.result_code, 5001);
        let failed = r.failed_avp.unwrap();
        assert_eq!(failed.code(), AVP_PROXY_INFO);
        assert_eq!(failed.as_grouped().unwrap()[0], m);
        let not_m = Avp::with_value(99_999, 0, AvpValue::Raw(vec![1]));
        assert_eq!(check_request(&req(vec![not_m]), "me", "r", true), None);
    }
}
