//! Capabilities exchange (RFC 6733 §5.3): building CER/CEA and reading what
//! the other side offers. Pure functions over messages.

use std::net::IpAddr;

use crate::message::constants::*;
use crate::message::{Avp, AvpEncodeError, Message, MessageHeader};

/// The relay application id: a peer advertising it supports every application.
pub const RELAY_APPLICATION_ID: u32 = 0xffff_ffff;

/// Whether an application is for authorization or accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AppKind {
    /// Advertised in Auth-Application-Id.
    Auth,
    /// Advertised in Acct-Application-Id.
    Acct,
}

/// An application a node advertises: its id, whether it is auth or acct, and
/// the vendor for vendor-specific applications (3GPP's are advertised in
/// Vendor-Specific-Application-Id with Vendor-Id 10415).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId {
    /// Application id.
    pub id: u32,
    /// Auth or acct.
    pub kind: AppKind,
    /// Vendor of a vendor-specific application, 0 for IETF applications.
    pub vendor_id: u32,
}

impl AppId {
    /// An IETF auth application.
    pub const fn auth(id: u32) -> AppId {
        AppId {
            id,
            kind: AppKind::Auth,
            vendor_id: 0,
        }
    }

    /// An IETF acct application.
    pub const fn acct(id: u32) -> AppId {
        AppId {
            id,
            kind: AppKind::Acct,
            vendor_id: 0,
        }
    }

    /// A vendor-specific application (e.g. 3GPP S6a: `AppId::vendor(16777251, VENDOR_TGPP, AppKind::Auth)`).
    pub const fn vendor(id: u32, vendor_id: u32, kind: AppKind) -> AppId {
        AppId {
            id,
            kind,
            vendor_id,
        }
    }
}

/// What this node says about itself in CER, CEA and DWR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCapabilities {
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Host-IP-Address values (at least one should be given).
    pub host_ip_addresses: Vec<IpAddr>,
    /// Vendor-Id.
    pub vendor_id: u32,
    /// Product-Name.
    pub product_name: String,
    /// Firmware-Revision, when set.
    pub firmware_revision: Option<u32>,
    /// Origin-State-Id.
    pub origin_state_id: u32,
    /// Supported-Vendor-Id values.
    pub supported_vendor_ids: Vec<u32>,
    /// Applications advertised.
    pub applications: Vec<AppId>,
    /// Inband-Security-Id values offered in a CER (RFC 6733 §6.10:
    /// 0 NO_INBAND_SECURITY, 1 TLS); none sent when empty, which means
    /// cleartext only. The CEA carries the value chosen instead.
    pub inband_security: Vec<u32>,
}

/// What CER/CEA agreed on for in-band security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InbandChoice {
    /// Stay in the clear.
    Clear,
    /// Start TLS right after the CEA.
    Tls,
    /// No value both sides accept (DIAMETER_NO_COMMON_SECURITY).
    NoCommon,
}

/// Picks the in-band security of a connection from what this side offers
/// (`local`, empty meaning cleartext only) and what the other side sent
/// (`remote`, empty meaning NO_INBAND_SECURITY): TLS when both offer it,
/// else cleartext when both accept it.
pub fn choose_inband_security(local: &[u32], remote: &[u32]) -> InbandChoice {
    let tls = E_INBAND_SECURITY_ID_TLS as u32;
    let clear = E_INBAND_SECURITY_ID_NO_INBAND_SECURITY as u32;
    let offers = |list: &[u32], v: u32| list.contains(&v) || (list.is_empty() && v == clear);
    if offers(local, tls) && offers(remote, tls) {
        InbandChoice::Tls
    } else if offers(local, clear) && offers(remote, clear) {
        InbandChoice::Clear
    } else {
        InbandChoice::NoCommon
    }
}

/// An Inband-Security-Id AVP (M set; Enumerated in python's dictionary,
/// Unsigned32 in RFC 6733: the same four bytes).
pub fn inband_security_avp(id: u32) -> Avp {
    Avp::with_value(
        AVP_INBAND_SECURITY_ID,
        0,
        crate::message::AvpValue::Enumerated(id as i32),
    )
    .with_mandatory(true)
}

fn avp(code: u32, value: impl Into<crate::message::AvpValue>) -> Result<Avp, AvpEncodeError> {
    Avp::new(code, 0, value)
}

impl LocalCapabilities {
    /// The AVPs of a CER or CEA after Origin-Host/Realm (RFC 6733 §5.3.1/2 order).
    fn capability_avps(&self, out: &mut Vec<Avp>) -> Result<(), AvpEncodeError> {
        out.push(avp(AVP_ORIGIN_HOST, self.origin_host.as_str())?);
        out.push(avp(AVP_ORIGIN_REALM, self.origin_realm.as_str())?);
        for ip in &self.host_ip_addresses {
            out.push(avp(AVP_HOST_IP_ADDRESS, *ip)?);
        }
        out.push(avp(AVP_VENDOR_ID, self.vendor_id)?);
        // RFC 6733 §4.5: Product-Name and Firmware-Revision never carry M
        out.push(avp(AVP_PRODUCT_NAME, self.product_name.as_str())?.with_mandatory(false));
        out.push(avp(AVP_ORIGIN_STATE_ID, self.origin_state_id)?);
        for vendor in &self.supported_vendor_ids {
            out.push(avp(AVP_SUPPORTED_VENDOR_ID, *vendor)?);
        }
        let mut apps = self.applications.clone();
        apps.sort();
        apps.dedup();
        for app in apps.iter().filter(|a| a.vendor_id == 0) {
            let code = match app.kind {
                AppKind::Auth => AVP_AUTH_APPLICATION_ID,
                AppKind::Acct => AVP_ACCT_APPLICATION_ID,
            };
            out.push(avp(code, app.id)?);
        }
        for app in apps.iter().filter(|a| a.vendor_id != 0) {
            let code = match app.kind {
                AppKind::Auth => AVP_AUTH_APPLICATION_ID,
                AppKind::Acct => AVP_ACCT_APPLICATION_ID,
            };
            out.push(avp(
                AVP_VENDOR_SPECIFIC_APPLICATION_ID,
                vec![avp(AVP_VENDOR_ID, app.vendor_id)?, avp(code, app.id)?],
            )?);
        }
        if let Some(rev) = self.firmware_revision {
            out.push(avp(AVP_FIRMWARE_REVISION, rev)?.with_mandatory(false));
        }
        Ok(())
    }

    /// A CER with the given identifiers.
    pub fn cer(&self, hop_by_hop: u32, end_to_end: u32) -> Result<Message, AvpEncodeError> {
        let mut header = MessageHeader::new(CMD_CAPABILITIES_EXCHANGE, 0);
        header.set_request(true);
        header.hop_by_hop_identifier = hop_by_hop;
        header.end_to_end_identifier = end_to_end;
        let mut avps = Vec::with_capacity(16);
        self.capability_avps(&mut avps)?;
        for id in &self.inband_security {
            avps.push(inband_security_avp(*id));
        }
        Ok(Message::new(header, avps))
    }

    /// A CEA answering `cer` with `result_code`; an `error_message` is added
    /// when given, and the E bit is set for 3xxx protocol errors.
    pub fn cea(
        &self,
        cer: &MessageHeader,
        result_code: u32,
        error_message: Option<&str>,
    ) -> Result<Message, AvpEncodeError> {
        let mut answer = Message::new(answer_header(cer), Vec::with_capacity(16));
        answer.header.set_error((3000..4000).contains(&result_code));
        answer.avps.push(avp(AVP_RESULT_CODE, result_code)?);
        self.capability_avps(&mut answer.avps)?;
        if let Some(text) = error_message {
            answer.avps.push(
                avp(AVP_ERROR_MESSAGE, cap_error_message(text).as_ref())?.with_mandatory(false),
            );
        }
        Ok(answer)
    }
}

/// The header of an answer: the request's code, application and identifiers,
/// only the P bit kept.
pub fn answer_header(request: &MessageHeader) -> MessageHeader {
    request.to_answer()
}

/// What a received CER or CEA says about the other side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteCapabilities {
    /// Origin-Host as sent.
    pub origin_host: String,
    /// Origin-Realm as sent.
    pub origin_realm: String,
    /// Host-IP-Address values.
    pub host_ip_addresses: Vec<IpAddr>,
    /// Vendor-Id.
    pub vendor_id: Option<u32>,
    /// Product-Name.
    pub product_name: Option<String>,
    /// Origin-State-Id.
    pub origin_state_id: Option<u32>,
    /// Supported-Vendor-Id values.
    pub supported_vendor_ids: Vec<u32>,
    /// Applications, Vendor-Specific-Application-Id contents included.
    pub applications: Vec<AppId>,
    /// Result-Code (CEA only).
    pub result_code: Option<u32>,
    /// Inband-Security-Id values.
    pub inband_security: Vec<u32>,
}

impl RemoteCapabilities {
    /// Reads a CER or CEA. `Err` names the first required AVP that is
    /// missing (Origin-Host or Origin-Realm), for a 5005 answer.
    pub fn from_message(msg: &Message) -> Result<RemoteCapabilities, (u32, &'static str)> {
        let mut caps = RemoteCapabilities::default();
        let mut has_host = false;
        let mut has_realm = false;
        for avp in &msg.avps {
            if avp.vendor_id() != 0 {
                continue;
            }
            match avp.code() {
                AVP_ORIGIN_HOST => {
                    has_host = true;
                    caps.origin_host = avp.as_str().unwrap_or_default().to_owned();
                }
                AVP_ORIGIN_REALM => {
                    has_realm = true;
                    caps.origin_realm = avp.as_str().unwrap_or_default().to_owned();
                }
                AVP_HOST_IP_ADDRESS => caps.host_ip_addresses.extend(avp.as_ip()),
                AVP_VENDOR_ID => caps.vendor_id = avp.as_u32(),
                AVP_PRODUCT_NAME => caps.product_name = avp.as_str().map(str::to_owned),
                AVP_ORIGIN_STATE_ID => caps.origin_state_id = avp.as_u32(),
                AVP_SUPPORTED_VENDOR_ID => caps.supported_vendor_ids.extend(avp.as_u32()),
                AVP_RESULT_CODE => caps.result_code = avp.as_u32(),
                AVP_INBAND_SECURITY_ID => caps
                    .inband_security
                    .extend(avp.as_u32().or(avp.as_i32().map(|v| v as u32))),
                AVP_AUTH_APPLICATION_ID => caps.applications.extend(avp.as_u32().map(AppId::auth)),
                AVP_ACCT_APPLICATION_ID => caps.applications.extend(avp.as_u32().map(AppId::acct)),
                AVP_VENDOR_SPECIFIC_APPLICATION_ID => {
                    let members = avp.as_grouped().unwrap_or_default();
                    let vendor = members
                        .iter()
                        .find(|m| m.code() == AVP_VENDOR_ID && m.vendor_id() == 0)
                        .and_then(Avp::as_u32)
                        .unwrap_or(0);
                    for m in members.iter().filter(|m| m.vendor_id() == 0) {
                        let kind = match m.code() {
                            AVP_AUTH_APPLICATION_ID => AppKind::Auth,
                            AVP_ACCT_APPLICATION_ID => AppKind::Acct,
                            _ => continue,
                        };
                        if let Some(id) = m.as_u32() {
                            caps.applications.push(AppId::vendor(id, vendor, kind));
                        }
                    }
                }
                _ => {}
            }
        }
        if !has_host {
            return Err((AVP_ORIGIN_HOST, "Origin-Host"));
        }
        if !has_realm {
            return Err((AVP_ORIGIN_REALM, "Origin-Realm"));
        }
        Ok(caps)
    }
}

/// The applications both sides can use (RFC 6733 §5.3): the ids both
/// advertised, of the same kind (auth or acct), vendor ignored; the relay id
/// on either side matches everything the other advertised.
pub fn common_applications(local: &[AppId], remote: &[AppId]) -> Vec<AppId> {
    let relay = |apps: &[AppId]| apps.iter().any(|a| a.id == RELAY_APPLICATION_ID);
    let mut common: Vec<AppId> = if relay(local) {
        remote.to_vec()
    } else if relay(remote) {
        local.to_vec()
    } else {
        local
            .iter()
            .filter(|l| remote.iter().any(|r| r.id == l.id && r.kind == l.kind))
            .copied()
            .collect()
    };
    common.sort();
    common.dedup();
    common
}

/// Election between two connections to the same peer (RFC 6733 §5.6.4):
/// the side with the higher Origin-Host (compared case-insensitively, byte by
/// byte) keeps the connection it accepted.
pub fn election_won(local_origin_host: &str, remote_origin_host: &str) -> bool {
    local_origin_host.to_ascii_lowercase() > remote_origin_host.to_ascii_lowercase()
}

/// Longest Error-Message the node writes, in bytes: its texts quote what the
/// peer sent (a Destination-Host, a realm, an Origin-Host), and a peer must
/// not be able to make an answer as large as its request by sending a long
/// name. Longer texts are cut at a character boundary, with `...` appended.
pub const MAX_ERROR_MESSAGE: usize = 256;

/// `text`, cut to at most [`MAX_ERROR_MESSAGE`] bytes (at a character
/// boundary, ending with `...` when cut).
pub fn cap_error_message(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_ERROR_MESSAGE {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_ERROR_MESSAGE - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}...", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalCapabilities {
        LocalCapabilities {
            origin_host: "a.example.net".into(),
            origin_realm: "example.net".into(),
            host_ip_addresses: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            vendor_id: 99999,
            product_name: "diameter-stack".into(),
            firmware_revision: Some(1),
            origin_state_id: 7,
            supported_vendor_ids: vec![VENDOR_TGPP],
            applications: vec![
                AppId::auth(4),
                AppId::acct(3),
                AppId::vendor(16777251, VENDOR_TGPP, AppKind::Auth),
            ],
            inband_security: vec![],
        }
    }

    #[test]
    fn cer_carries_every_capability_and_reads_back() {
        let cer = local().cer(1, 2).unwrap();
        assert!(cer.header.is_request() && !cer.header.is_proxyable());
        let bytes = cer.as_bytes().unwrap();
        let back = Message::from_bytes(&bytes).unwrap();
        let caps = RemoteCapabilities::from_message(&back).unwrap();
        assert_eq!(caps.origin_host, "a.example.net");
        assert_eq!(caps.host_ip_addresses.len(), 2);
        assert_eq!(caps.supported_vendor_ids, [VENDOR_TGPP]);
        assert_eq!(caps.origin_state_id, Some(7));
        let mut apps = caps.applications.clone();
        apps.sort();
        let mut want = local().applications;
        want.sort();
        assert_eq!(apps, want);
        let product = back.find_avp(&[(AVP_PRODUCT_NAME, 0)]).unwrap();
        assert!(!product.is_mandatory());
        assert!(back.find_avp(&[(AVP_FIRMWARE_REVISION, 0)]).is_some());
        let vsai = back.find_avps(&[(AVP_VENDOR_SPECIFIC_APPLICATION_ID, 0), (AVP_VENDOR_ID, 0)]);
        assert_eq!(vsai[0].as_u32(), Some(VENDOR_TGPP));
    }

    #[test]
    fn cea_sets_e_for_protocol_errors() {
        let cer = local().cer(5, 6).unwrap();
        let cea = local()
            .cea(&cer.header, 3010, Some("unknown peer"))
            .unwrap();
        assert!(cea.header.is_error() && !cea.header.is_request());
        assert_eq!(cea.header.hop_by_hop_identifier, 5);
        assert_eq!(
            cea.find_avp(&[(AVP_RESULT_CODE, 0)]).unwrap().as_u32(),
            Some(3010)
        );
        let ok = local().cea(&cer.header, 2001, None).unwrap();
        assert!(!ok.header.is_error());
        let busy = local().cea(&cer.header, 5010, None).unwrap();
        assert!(!busy.header.is_error());
    }

    #[test]
    fn common_applications_follow_the_rfc() {
        let local = [AppId::auth(4), AppId::acct(3)];
        assert_eq!(
            common_applications(&local, &[AppId::auth(4)]),
            [AppId::auth(4)]
        );
        assert!(common_applications(&local, &[AppId::auth(3)]).is_empty());
        assert!(common_applications(&local, &[AppId::auth(5)]).is_empty());
        let relay = [AppId::auth(RELAY_APPLICATION_ID)];
        assert_eq!(common_applications(&local, &relay).len(), 2);
        assert_eq!(
            common_applications(&relay, &[AppId::auth(9)]),
            [AppId::auth(9)]
        );
        // a vendor-specific advertisement of the same id matches
        let s6a = AppId::vendor(16777251, VENDOR_TGPP, AppKind::Auth);
        assert_eq!(common_applications(&[s6a], &[AppId::auth(16777251)]), [s6a]);
    }

    #[test]
    fn election_compares_origin_hosts() {
        assert!(election_won("b.example", "a.example"));
        assert!(!election_won("a.example", "b.example"));
        assert!(!election_won("A.example", "a.example"));
        assert!(election_won("B.example", "a.example"));
    }
}
