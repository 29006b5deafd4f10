//! A Credit-Control pair for transport tests: the CCR a client sends, the
//! handler that answers it, and the checks on both sides.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diameter::message::constants::*;
use diameter::message::{Avp, Message, MessageHeader};
use diameter::node::application::{AppBase, Application, HandlerResult, ThreadingApplication};
use diameter::node::peer::Peer;

/// A counter's value.
pub fn count(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Requests received from `peer` other than CER, DWR and DPR. The counters
/// are read one by one, so a watchdog arriving meanwhile can put it off by
/// one for a moment: compare it inside [`super::wait_until`].
pub fn app_requests(peer: &Peer) -> u64 {
    let c = &peer.counters;
    count(&c.requests).saturating_sub(count(&c.cer) + count(&c.dwr) + count(&c.dpr))
}

/// Answers received from `peer` other than CEA, DWA and DPA (read like
/// [`app_requests`]).
pub fn app_answers(peer: &Peer) -> u64 {
    let c = &peer.counters;
    count(&c.answers).saturating_sub(count(&c.cea) + count(&c.dwa) + count(&c.dpa))
}

/// An event CCR number `n` from `origin` in `realm` (application 4).
pub fn ccr(origin: &str, realm: &str, n: u32) -> Message {
    let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
    h.set_request(true);
    h.set_proxyable(true);
    Message::new(
        h,
        vec![
            Avp::new(AVP_SESSION_ID, 0, format!("{origin};1;{n}")).unwrap(),
            Avp::new(AVP_ORIGIN_HOST, 0, origin).unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, realm).unwrap(),
            Avp::new(AVP_DESTINATION_REALM, 0, realm).unwrap(),
            Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap(),
            Avp::new(AVP_SERVICE_CONTEXT_ID, 0, SERVICE_CONTEXT_PS_CHARGING).unwrap(),
            Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_EVENT_REQUEST).unwrap(),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, n).unwrap(),
        ],
    )
}

/// The server's handler: a CCA 2001 with the request's CC-Request-Number
/// and its Class AVPs, whatever their size.
pub fn answer(app: &AppBase, req: Message) -> HandlerResult {
    let mut a = app.generate_answer(&req, E_RESULT_CODE_DIAMETER_SUCCESS, None)?;
    let number = req
        .find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
        .and_then(Avp::as_u32)
        .unwrap_or(0);
    a.avps
        .push(Avp::new(AVP_CC_REQUEST_NUMBER, 0, number).unwrap());
    for class in req.find_avps(&[(AVP_CLASS, 0)]) {
        a.avps.push(class.clone());
    }
    Ok(Some(a))
}

/// Sends the CCRs numbered `range` one after the other and checks each CCA.
pub fn exchange(app: &ThreadingApplication, origin: &str, realm: &str, range: Range<u32>) {
    for i in range {
        let a = app
            .base()
            .send_request(ccr(origin, realm, i), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("CCR {i}: {e}"));
        assert_eq!(
            a.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32),
            Some(E_RESULT_CODE_DIAMETER_SUCCESS)
        );
        assert_eq!(
            a.find_avp(&[(AVP_CC_REQUEST_NUMBER, 0)])
                .and_then(Avp::as_u32),
            Some(i)
        );
    }
}
