//! Proxy handlers on the forwarding path (RFC 6733 §6.1.9): a request that
//! a `RouteAction::Proxy` entry routes, of an application with a
//! [`ProxyHandler`], goes through the handler before it is forwarded (or
//! is answered here), and its answer goes through it before it goes back.
//! The core does not run them: it hands each call to the layer around it
//! ([`Delivery::ProxyRequest`], [`Delivery::ProxyAnswer`]), which runs the
//! handler on the event loop's thread behind `catch_unwind` and gives the
//! result back.

use crate::node::core::agent::proxy::{self, ProxyHandler, ProxyVerdict};
use crate::node::core::agent::relay::{self, RouteAction};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;

use crate::message::constants::*;
use crate::message::{Message, MessageHeader};
use crate::node::core::agent::calls::NextHop;
use crate::node::core::agent::calls::{ProxiedAnswer, ProxyCall};
use crate::node::core::conn::{ConnId, Relayed};
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
            let handlers = &self.snapshot.proxy_handlers;
            handlers
                .iter()
                .find(|(id, _)| *id == app)
                .map(|(_, h)| h.clone())?
        };
        let routes = &self.snapshot.routes;
        let entry = relay::lookup(routes, realm, app)?;
        (entry.action == RouteAction::Proxy).then_some(handler)
    }

    /// A request about to be forwarded from `id` goes through `handler`
    /// first: the loop runs it ([`Delivery::ProxyRequest`]) and gives the
    /// verdict back to [`handle_proxy_verdict`](Self::handle_proxy_verdict).
    pub(crate) fn proxy_request(
        &mut self,
        id: ConnId,
        mut msg: Message,
        handler: Arc<dyn ProxyHandler>,
        to: NextHop,
    ) {
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
        self.deliveries.push_back(Delivery::ProxyRequest(ProxyCall {
            handler,
            msg,
            conn: id,
            before,
            wire,
            stub,
            to,
        }));
    }

    /// What a proxy handler said of a request (`None`: it panicked): the
    /// request is forwarded, or answered here.
    pub(crate) fn handle_proxy_verdict(
        &mut self,
        now: Instant,
        call: ProxyCall,
        verdict: Option<ProxyVerdict>,
    ) {
        let ProxyCall {
            handler,
            mut msg,
            conn: id,
            before,
            wire,
            stub,
            to,
        } = call;
        let Some(verdict) = verdict else {
            count(&self.counters.callback_panics);
            ratelimit::warn(
                now,
                &PANIC_LOG,
                format_args!("proxy handler panicked on {stub}; answered 5012"),
            );
            let answer = self.answer_for(id, &stub, E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY, None);
            return self.proxy_answered(id, &stub, answer);
        };
        if self.proxy_verdict(now, id, &mut msg, verdict, &before, wire, &stub) {
            self.relay_onward(now, id, msg, &to, Some(handler));
        }
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

    /// The answer to a request a proxy handler let through goes through
    /// it before it goes back: the loop runs it
    /// ([`Delivery::ProxyAnswer`]) and gives it back to
    /// [`handle_proxied_answer`](Self::handle_proxied_answer).
    pub(crate) fn proxy_answer(
        &mut self,
        relayed: Relayed,
        mut msg: Message,
        handler: Arc<dyn ProxyHandler>,
    ) {
        let wire = msg.wire.take();
        let before = msg.header;
        self.deliveries
            .push_back(Delivery::ProxyAnswer(ProxiedAnswer {
                handler,
                msg,
                relayed,
                before,
                wire,
            }));
    }

    /// The handler saw the answer (`panicked`: it did not finish): it goes
    /// back with the bytes the handler left (still with the next hop's
    /// hop-by-hop identifier, replaced on the way). A panic, or an answer
    /// the handler left unencodable, sends the answer back as it came
    /// (counted, logged at debug: a late answer's `handle_answer` panics
    /// are handled alike).
    pub(crate) fn handle_proxied_answer(&mut self, call: ProxiedAnswer, panicked: bool) {
        let ProxiedAnswer {
            mut msg,
            relayed,
            before,
            wire,
            ..
        } = call;
        if panicked {
            count(&self.counters.callback_panics);
            debug!(target: "diameter.node", "proxy handler panicked on an answer; sent back unchanged");
            msg.wire = wire;
        } else {
            proxy::restore_identifiers(&mut msg, &before, false);
            msg.wire = match proxy::outgoing(&msg, wire) {
                Ok(bytes) => Some(bytes),
                Err((e, wire)) => {
                    debug!(target: "diameter.node", "proxy handler left an answer unencodable ({e}); sent back unchanged");
                    wire
                }
            };
        }
        self.relay_back(&relayed, msg);
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
                record_answer(
                    &mut self.deliveries,
                    peer,
                    request.header.command_code,
                    Duration::ZERO,
                    &bytes,
                );
            }
        }
        self.dirty.push(id);
    }
}
