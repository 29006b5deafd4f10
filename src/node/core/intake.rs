//! Requests and answers read on a connection: a request is checked (RFC
//! 6733 §6.1, §7), deduplicated (§5.5.4), owed and handed to its
//! application, or answered here; an answer completes the request it
//! matches, or is dropped.

use std::sync::Arc;
use std::time::Instant;

use log::debug;

use crate::message::constants::*;
use crate::message::{Avp, Message};
use crate::node::core::agent::duplicates::{Intake, RequestKey};
use crate::node::core::agent::relay::Agent;
use crate::node::core::checks;
use crate::node::core::conn::{ConnId, Owed, Unmatched};
use crate::node::core::dispatch::{later, *};
use crate::node::peer::*;
use crate::node::shared::count;

impl Dispatch {
    /// A request arrived: checked, deduplicated, then handed to its
    /// application (or answered here).
    pub(crate) fn intake(&mut self, now: Instant, id: ConnId, mut msg: Message) {
        if self.config.agent == Agent::Relay {
            match self.relay_intake(now, id, msg) {
                Some(local) => msg = local,
                None => return,
            }
        }
        let Some(app) = self.checked_application(now, id, &msg) else {
            return;
        };
        let Some(key) = self.deduplicate(now, id, &msg) else {
            return;
        };
        if !self.owe_request(now, id, &msg, app, key) {
            return;
        }
        msg.received_on = id;
        self.deliveries.push_back(Delivery::Request { app, msg });
    }

    /// The application a request received on `id` goes to (its index in
    /// the snapshot), once it passed the checks; `None` when it was
    /// answered here with an error.
    fn checked_application(&mut self, now: Instant, id: ConnId, msg: &Message) -> Option<usize> {
        let (app, supported) = self.application_for(id, msg)?;
        let (rejection, failed_many) = self.request_rejection(msg, supported);
        match (rejection, app) {
            (Some(r), _) => {
                self.error_answer(now, id, msg, r, failed_many);
                None
            }
            (None, None) => {
                let r = checks::Rejection {
                    result_code: E_RESULT_CODE_DIAMETER_APPLICATION_UNSUPPORTED,
                    error_message: "no application handles this request".into(),
                    failed_avp: None,
                };
                self.error_answer(now, id, msg, r, failed_many);
                None
            }
            (None, Some(app)) => Some(app),
        }
    }

    /// The application that serves a request received on `id` (of its
    /// application id, for the peer it came from), and whether this node
    /// supports its application at all (a relay supports them all).
    fn application_for(&self, id: ConnId, msg: &Message) -> Option<(Option<usize>, bool)> {
        let conn = self.conns.get(&id)?;
        let from = conn.peer.as_ref();
        let app = self.snapshot.apps.iter().position(|r| {
            r.id.id == msg.header.application_id
                && (r.peers.is_empty()
                    || from.is_some_and(|f| r.peers.iter().any(|p| Arc::ptr_eq(p, f))))
        });
        let supported = app.is_some()
            || self
                .snapshot
                .applications
                .iter()
                .any(|a| a.id == RELAY_APPLICATION_ID);
        Some((app, supported))
    }

    /// Why a request must be answered here with an error, if it must (RFC
    /// 6733 §6.1, §7), and the AVPs its Failed-AVP lists when several are
    /// missing.
    fn request_rejection(
        &self,
        msg: &Message,
        supported: bool,
    ) -> (Option<checks::Rejection>, Vec<Avp>) {
        let identity = self.snapshot.identity.clone();
        let rejection = checks::check_request(
            msg,
            &identity.origin_host,
            &identity.origin_realm,
            supported,
        );
        if rejection.is_some() || !self.config.validate_received_request_avps {
            return (rejection, Vec::new());
        }
        let missing = crate::message::commands::missing_avps(msg);
        if !missing.is_empty() {
            let r = checks::Rejection {
                result_code: E_RESULT_CODE_DIAMETER_MISSING_AVP,
                error_message: "Mandatory AVPs missing".into(),
                failed_avp: None,
            };
            return (Some(r), missing);
        }
        if self.config.accept_unknown_enumerated_values {
            return (None, Vec::new());
        }
        let rejection = checks::unknown_enumerated_value(&msg.avps).map(|avp| checks::Rejection {
            result_code: E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE,
            error_message: format!(
                "avp {} (vendor {}) has a value the dictionary does not list",
                avp.code(),
                avp.vendor_id()
            ),
            failed_avp: Some(avp.clone()),
        });
        (rejection, Vec::new())
    }

    /// Duplicate detection (RFC 6733 §5.5.4): the request's key when it is
    /// new (`Some(None)` for a connection without identity); `None` when it
    /// is a retransmission, answered again, waited for or dropped.
    fn deduplicate(
        &mut self,
        now: Instant,
        id: ConnId,
        msg: &Message,
    ) -> Option<Option<RequestKey>> {
        let h = msg.header;
        let conn = self.conns.get_mut(&id)?;
        let Some(peer) = conn.identity.as_ref() else {
            return Some(None);
        };
        let origin = msg
            .find_avp(&[(AVP_ORIGIN_HOST, 0)])
            .and_then(Avp::as_str)
            .unwrap_or_default();
        let key = RequestKey::new(peer, origin, h.end_to_end_identifier, msg.request_digest);
        let intake =
            self.duplicates
                .intake(now, key, h.is_retransmit(), (id, h.hop_by_hop_identifier));
        let counters = &self.counters;
        match intake {
            Intake::New => return Some(Some(key)),
            Intake::Answered(bytes) => {
                count(&counters.retransmissions_answered);
                debug!(target: "diameter.node", "retransmitted request {msg} answered again");
                queue_answer(conn, &bytes);
            }
            Intake::InProgress => count(&counters.retransmissions_waiting),
            Intake::Dropped => count(&counters.retransmissions_dropped),
        }
        None
    }

    /// Records the answer `id` owes for a request handed to `app`; false
    /// when the connection owes too many already (answered 3004 here).
    fn owe_request(
        &mut self,
        now: Instant,
        id: ConnId,
        msg: &Message,
        app: usize,
        key: Option<RequestKey>,
    ) -> bool {
        let h = msg.header;
        let max_owed = self.max_owed(app);
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        let owed = Owed {
            received: now,
            command_code: h.command_code,
            expires: later(now, self.config.limits.owed_answer_ttl),
            key,
        };
        if conn.owe(
            h.hop_by_hop_identifier,
            h.end_to_end_identifier,
            owed,
            max_owed,
            &self.owed,
        ) {
            return true;
        }
        if let Some(key) = &key {
            self.duplicates.abandon(key);
        }
        count(&self.counters.requests_refused_busy);
        let r = checks::Rejection {
            result_code: E_RESULT_CODE_DIAMETER_TOO_BUSY,
            error_message: "too many requests waiting for answers".into(),
            failed_avp: None,
        };
        self.error_answer(now, id, msg, r, Vec::new());
        false
    }

    /// How many answers one connection may owe `app`: with other
    /// connections about, one may not take a whole bounded application (a
    /// quarter of it stays for the others).
    fn max_owed(&self, app: usize) -> usize {
        let max = self.config.limits.max_owed_per_connection;
        match self.snapshot.apps.get(app).and_then(|a| a.limit) {
            Some(limit) if self.conns.len() > 1 && limit >= FAIR_SHARE_MIN_LIMIT => {
                max.min(limit - limit / 4)
            }
            _ => max,
        }
    }

    /// Answers a request here, with an error (RFC 6733 §7).
    pub(crate) fn error_answer(
        &mut self,
        _now: Instant,
        id: ConnId,
        msg: &Message,
        rejection: checks::Rejection,
        failed_many: Vec<Avp>,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(machine) = conn.machine.as_mut() else {
            return;
        };
        let mut answer = machine.error_answer(
            &msg.header,
            rejection.result_code,
            Some(&rejection.error_message),
            rejection.failed_avp,
        );
        // RFC 6733 §7.2: an answer starts with the request's Session-Id
        if let Some(session) = msg.find_avp(&[(AVP_SESSION_ID, 0)]) {
            answer.avps.insert(0, session.clone());
        }
        if !failed_many.is_empty() {
            let capped: Vec<Avp> = failed_many.into_iter().map(cap_failed_avp).collect();
            if let Ok(failed) = Avp::new(AVP_FAILED_AVP, 0, capped) {
                answer.append_avp(failed);
            }
        }
        send_own_answer(
            &mut self.deliveries,
            machine,
            conn.peer.as_ref(),
            msg.header.command_code,
            &answer,
        );
    }

    /// An answer arrived: it completes a request sent on this same
    /// connection with the same End-to-End id, or it is dropped.
    pub(crate) fn answer_received(&mut self, now: Instant, id: ConnId, msg: Message) {
        // only an agent relays: other nodes skip the relay table's lookup
        let msg = if self.config.agent == Agent::Relay {
            match self.relay_answer(id, msg) {
                Some(msg) => msg,
                None => return,
            }
        } else {
            msg
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let counters = &self.counters;
        let pending = match conn.take_pending(&msg) {
            Ok(p) => p,
            Err(Unmatched::NoRequest) => {
                count(&counters.answers_unmatched);
                debug!(target: "diameter.node", "{}: answer {msg} matches no request sent there, dropped", conn.name());
                return;
            }
            Err(Unmatched::WrongEndToEnd) => {
                count(&counters.answers_wrong_end_to_end);
                debug!(target: "diameter.node", "{}: answer {msg} has another End-to-End id than its request, dropped", conn.name());
                return;
            }
        };
        // a 3006 may send the request elsewhere instead
        let Some((pending, msg)) = self.follow_redirect(now, id, pending, msg) else {
            return;
        };
        let Err(late) = pending.reply.send(Ok(msg)) else {
            return;
        };
        // the caller gave up (timeout): python hands it to handle_answer
        let Ok(msg) = late else {
            return;
        };
        let app = self
            .snapshot
            .apps
            .iter()
            .position(|r| r.id.id == msg.header.application_id);
        match app {
            Some(app) => self.deliveries.push_back(Delivery::LateAnswer { app, msg }),
            None => count(&self.counters.answers_late_dropped),
        }
    }
}
