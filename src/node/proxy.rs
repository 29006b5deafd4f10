//! Proxy handlers (RFC 6733 §2.8.2, §6.1.9): code of the user's that an
//! agent runs on the requests it forwards by a
//! [`RouteAction::Proxy`](crate::node::RouteAction::Proxy) entry of one
//! application, and on their answers. It sees each as a `&mut Message`, may
//! change it, and may answer a request itself instead of forwarding it.
//! The node is told of them (`Node::add_proxy_handler`); its event loop
//! calls them, and the protocol core acts on their verdicts.

use crate::message::Message;

/// What a proxy agent does to the requests of one application, and to
/// their answers ([`Node::add_proxy_handler`](crate::node::Node::add_proxy_handler)).
///
/// Both methods run on the node's event-loop thread, between reading and
/// writing every connection's messages: they must be quick (no blocking
/// I/O, no waiting on locks held by slow code) or every peer waits. A
/// panic in one is caught and counted
/// ([`ProtocolStats::callback_panics`](crate::node::ProtocolStats::callback_panics)):
/// the request is answered 5012 DIAMETER_UNABLE_TO_COMPLY, or the answer
/// goes back as it came.
///
/// What a handler may not change is put back before the message goes on:
/// the hop-by-hop and End-to-End identifiers, the command code, the
/// application id and the R bit. Anything else (the P, E and T bits, any
/// AVP) goes as the handler left it.
///
/// ```
/// use diameter::message::constants::*;
/// use diameter::message::{Avp, Message};
/// use diameter::node::{ProxyHandler, ProxyVerdict};
///
/// /// Refuses requests without a Subscription-Id, tags the others, and
/// /// removes the server's Reply-Message from answers.
/// struct Policy;
///
/// impl ProxyHandler for Policy {
///     fn handle_request(&self, request: &mut Message) -> ProxyVerdict {
///         if request.find_avp(&[(AVP_SUBSCRIPTION_ID, 0)]).is_none() {
///             return ProxyVerdict::Answer {
///                 result_code: E_RESULT_CODE_DIAMETER_MISSING_AVP,
///                 error_message: Some("Subscription-Id required".into()),
///             };
///         }
///         if let Ok(tag) = Avp::new(AVP_PROXY_HOST, 0, "proxy.example.net") {
///             request.append_avp(tag);
///         }
///         ProxyVerdict::Forward
///     }
///
///     fn handle_answer(&self, answer: &mut Message) {
///         answer.avps.retain(|a| a.code() != AVP_REPLY_MESSAGE);
///     }
/// }
/// ```
pub trait ProxyHandler: Send + Sync {
    /// A request about to be forwarded: change it in place and say what
    /// happens to it. By default it is forwarded unchanged.
    fn handle_request(&self, request: &mut Message) -> ProxyVerdict {
        let _ = request;
        ProxyVerdict::Forward
    }

    /// The answer to a request this handler let through, from the next
    /// hop, before it goes back to the requester: change it in place. Not
    /// called for the answers the agent gives itself (3002, 3004, ...). By
    /// default it goes back unchanged.
    fn handle_answer(&self, answer: &mut Message) {
        let _ = answer;
    }
}

/// What happens to a request after [`ProxyHandler::handle_request`].
#[derive(Debug, Clone, PartialEq)]
pub enum ProxyVerdict {
    /// Forward it, as the handler left it: byte for byte as received when
    /// it changed nothing, encoded anew when it did; a Route-Record is
    /// added either way.
    Forward,
    /// Answer it here with this Result-Code (the E bit set for 3xxx
    /// protocol errors), this node's Origin-Host and Origin-Realm, the
    /// request's Session-Id and Proxy-Info, and the Error-Message if given.
    Answer {
        /// The answer's Result-Code.
        result_code: u32,
        /// The answer's Error-Message, if any.
        error_message: Option<String>,
    },
    /// Answer it here with this message (built with
    /// [`Message::to_answer`] on the request, for example). Its identifiers,
    /// command code and application id are set to the request's and its R
    /// bit cleared; the request's Proxy-Info AVPs are added when it has
    /// none.
    Reply(Message),
}
