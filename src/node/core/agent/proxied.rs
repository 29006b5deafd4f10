//! Proxy handlers on the forwarding path (RFC 6733 §6.1.9): a request that
//! a `RouteAction::Proxy` entry routes, of an application with a
//! [`ProxyHandler`], goes through the handler before it is forwarded (or
//! is answered here), and its answer goes through it before it goes back.
//! Handlers run here, on the event loop, each call behind `catch_unwind`.

use crate::node::core::agent::proxy::{self, ProxyHandler, ProxyVerdict};
use crate::node::core::agent::relay::{self, RouteAction};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;

use crate::message::constants::*;
use crate::message::{Message, MessageHeader};
use crate::node::core::conn::ConnId;
use crate::node::core::dispatch::*;
use crate::node::ratelimit::{self, RateLimit};
use crate::node::shared::count;

static PROXY_LOG: RateLimit = RateLimit::new("diameter.node");

impl Dispatch {
    /// The proxy handler for a request to be forwarded to `realm`: the
    /// handler of its application, when the routing table entry that
    /// routes it says `Proxy`.
    pub(crate) fn proxy_handler_for(
        &self,
        msg: &Message,
        realm: &str,
    ) -> Option<Arc<dyn ProxyHandler>> {
        let app = msg.header.application_id;
        let handler = {
            let handlers = &self.registry.proxy_handlers;
            handlers
                .iter()
                .find(|(id, _)| *id == app)
                .map(|(_, h)| h.clone())?
        };
        let routes = &self.registry.routes;
        let entry = relay::lookup(routes, realm, app)?;
        (entry.action == RouteAction::Proxy).then_some(handler)
    }

    /// Runs the handler on a request about to be forwarded from `id`: true
    /// when it goes on (`msg` then carries the bytes to forward), false when
    /// it was answered here.
    pub(crate) fn proxy_request(
        &mut self,
        now: Instant,
        id: ConnId,
        msg: &mut Message,
        handler: &Arc<dyn ProxyHandler>,
    ) -> bool {
        let wire = msg.wire.take();
        let before = msg.header;
        // what an answer needs if the handler changes the request or panics
        let stub = Message::new(
            before,
            msg.avps
                .iter()
                .filter(|a| {
                    a.vendor_id() == 0 && (a.code() == AVP_SESSION_ID || a.code() == AVP_PROXY_INFO)
                })
                .cloned()
                .collect(),
        );
        let verdict = match catch_unwind(AssertUnwindSafe(|| handler.handle_request(msg))) {
            Ok(v) => v,
            Err(_) => {
                count(&self.counters.callback_panics);
                ratelimit::warn(
                    now,
                    &PANIC_LOG,
                    format_args!("proxy handler panicked on {stub}; answered 5012"),
                );
                let answer =
                    self.answer_for(id, &stub, E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY, None);
                self.proxy_answered(id, &stub, answer);
                return false;
            }
        };
        self.proxy_verdict(now, id, msg, verdict, &before, wire, &stub)
    }

    /// Carries out a proxy handler's verdict on a request received on
    /// `id` (`before` its header as received, `wire` its bytes, `stub` what
    /// an answer needs): true when it goes on (`msg` then carries the bytes
    /// to forward), false when it was answered here.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn proxy_verdict(
        &mut self,
        now: Instant,
        id: ConnId,
        msg: &mut Message,
        verdict: ProxyVerdict,
        before: &MessageHeader,
        wire: Option<Vec<u8>>,
        stub: &Message,
    ) -> bool {
        match verdict {
            ProxyVerdict::Forward => {
                proxy::restore_identifiers(msg, before, true);
                match proxy::outgoing(msg, wire) {
                    Ok(bytes) => {
                        msg.wire = Some(bytes);
                        true
                    }
                    Err((e, _)) => {
                        ratelimit::warn(
                            now,
                            &PROXY_LOG,
                            format_args!(
                                "proxy handler left {stub} unencodable ({e}); answered 5012"
                            ),
                        );
                        let answer = self.answer_for(
                            id,
                            stub,
                            E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY,
                            None,
                        );
                        self.proxy_answered(id, stub, answer);
                        false
                    }
                }
            }
            ProxyVerdict::Answer {
                result_code,
                error_message,
            } => {
                let answer = self.answer_for(id, stub, result_code, error_message.as_deref());
                self.proxy_answered(id, stub, answer);
                false
            }
            ProxyVerdict::Reply(mut answer) => {
                proxy::restore_identifiers(&mut answer, before, false);
                if answer.find_avp(&[(AVP_PROXY_INFO, 0)]).is_none() {
                    answer.avps.extend(
                        stub.avps
                            .iter()
                            .filter(|a| a.code() == AVP_PROXY_INFO)
                            .cloned(),
                    );
                }
                self.proxy_answered(id, stub, Some(answer));
                false
            }
        }
    }

    /// Runs the handler on the answer to a request it let through: `msg`
    /// then carries the bytes to send back (still with the next hop's
    /// hop-by-hop identifier). A panic, or an answer the handler left
    /// unencodable, sends the answer back as it came (counted, logged at
    /// debug: a late answer's `handle_answer` panics are handled alike).
    pub(crate) fn proxy_answer(&mut self, msg: &mut Message, handler: &Arc<dyn ProxyHandler>) {
        let wire = msg.wire.take();
        let before = msg.header;
        if catch_unwind(AssertUnwindSafe(|| handler.handle_answer(msg))).is_err() {
            count(&self.counters.callback_panics);
            debug!(target: "diameter.node", "proxy handler panicked on an answer; sent back unchanged");
            msg.wire = wire;
            return;
        }
        proxy::restore_identifiers(msg, &before, false);
        msg.wire = match proxy::outgoing(msg, wire) {
            Ok(bytes) => Some(bytes),
            Err((e, wire)) => {
                debug!(target: "diameter.node", "proxy handler left an answer unencodable ({e}); sent back unchanged");
                wire
            }
        };
    }

    /// This node's answer to `request` (received on `id`): Result-Code
    /// (E bit for 3xxx), Origin-Host/Realm, Error-Message, the request's
    /// Session-Id first and its Proxy-Info last (RFC 6733 §6.2).
    pub(crate) fn answer_for(
        &self,
        id: ConnId,
        request: &Message,
        result_code: u32,
        error_message: Option<&str>,
    ) -> Option<Message> {
        let machine = self.conns.get(&id)?.machine.as_ref()?;
        let mut answer = machine.error_answer(&request.header, result_code, error_message, None);
        if let Some(session) = request.find_avp(&[(AVP_SESSION_ID, 0)]) {
            answer.avps.insert(0, session.clone());
        }
        answer.avps.extend(
            request
                .avps
                .iter()
                .filter(|a| a.code() == AVP_PROXY_INFO && a.vendor_id() == 0)
                .cloned(),
        );
        Some(answer)
    }

    /// Sends a proxy's own answer to `request` on `id`, counted.
    pub(crate) fn proxy_answered(
        &mut self,
        id: ConnId,
        request: &Message,
        answer: Option<Message>,
    ) {
        count(&self.relay.proxy_answered);
        let Some(bytes) = answer.and_then(|a| a.as_bytes().ok()) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if queue_answer(conn, &bytes) {
            if let Some(peer) = &conn.peer {
                record_answer(peer, request.header.command_code, Duration::ZERO, &bytes);
            }
        }
        self.dirty.push(id);
    }
}
