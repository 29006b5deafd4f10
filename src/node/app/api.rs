//! The public application API (python's `Application` and what a handler
//! sees of the node): [`Application`], [`AppBase`], [`PendingAnswer`],
//! [`NodeRef`], and what callers' threads do with a request before the
//! event loop sees it: routing it (RFC 6733 §6.1, the redirect cache, the
//! user's selector) and waiting for its answer.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use log::debug;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::message::constants::*;
use crate::message::typed::{AvpStruct, Command as TypedCommand, Request};
use crate::message::{Avp, AvpEncodeError, Message, MessageHeader};
use crate::node::app::pool::HandoffDesk;
use crate::node::error::{ApplicationError, EmptyReason, NoRoute, NoRouteReason, NodeError};
use crate::node::peer::node_stats;
use crate::node::peer::{AppId, AppKind, Peer};
use crate::node::proxy::ProxyHandler;
use crate::node::routing;
use crate::node::shared::answer::{deadline_after, Waiter};
use crate::node::shared::owed::Unclaimed;
use crate::node::shared::{count, Command, Handle, Life, OutAnswer, OutRequest};
use crate::node::{SequenceGenerator, SessionGenerator};

/// A request [`send_request`](AppBase::send_request) takes: a generic
/// [`Message`], answered by a `Message`, or a typed request (any
/// [`Request`], such as `CreditControlRequest`), answered by its typed
/// answer (`CreditControlAnswer`).
pub trait OutgoingRequest {
    /// What the answer is given back as.
    type Answer;
    /// The request as a generic message.
    fn into_request(self) -> Result<Message, AvpEncodeError>;
    /// The received answer in this request's answer type.
    fn answer_from(answer: Message) -> Result<Self::Answer, ApplicationError>;
}

impl OutgoingRequest for Message {
    type Answer = Message;
    fn into_request(self) -> Result<Message, AvpEncodeError> {
        Ok(self)
    }
    fn answer_from(answer: Message) -> Result<Message, ApplicationError> {
        Ok(answer)
    }
}

impl<T: Request> OutgoingRequest for T {
    type Answer = T::Answer;
    fn into_request(self) -> Result<Message, AvpEncodeError> {
        self.to_message()
    }
    fn answer_from(answer: Message) -> Result<T::Answer, ApplicationError> {
        T::Answer::from_message(answer)
            .map_err(|e| ApplicationError::UnexpectedAnswer(Box::new(e.into_message())))
    }
}

/// An answer [`send_answer`](AppBase::send_answer) takes: a generic
/// [`Message`] or a typed answer command.
pub trait OutgoingAnswer {
    /// The answer's header (its identifiers say which request it answers).
    fn answer_header(&self) -> &MessageHeader;
    /// The connection its request came in on, when known (0 otherwise).
    fn answer_connection(&self) -> u64;
    /// The answer on the wire.
    fn answer_bytes(&self) -> Result<Vec<u8>, AvpEncodeError>;
}

impl OutgoingAnswer for Message {
    fn answer_header(&self) -> &MessageHeader {
        &self.header
    }
    fn answer_connection(&self) -> u64 {
        self.received_on
    }
    fn answer_bytes(&self) -> Result<Vec<u8>, AvpEncodeError> {
        self.as_bytes()
    }
}

impl<T: TypedCommand> OutgoingAnswer for T {
    fn answer_header(&self) -> &MessageHeader {
        self.header()
    }
    fn answer_connection(&self) -> u64 {
        0
    }
    fn answer_bytes(&self) -> Result<Vec<u8>, AvpEncodeError> {
        self.as_bytes()
    }
}

/// A request [`generate_answer`](AppBase::generate_answer) answers: a
/// generic [`Message`] (answered by a `Message`) or a typed request
/// (answered by its typed answer, with python's fields set).
pub trait AnswerTo {
    /// The answer's type.
    type Answer;
    /// The request's header.
    fn request_header(&self) -> &MessageHeader;
    /// The request's AVPs of `code` (vendor 0), such as its Session-Id.
    fn request_avps(&self, code: u32) -> Vec<Avp>;
    /// Builds the answer from its header and AVPs.
    fn make_answer(&self, header: MessageHeader, avps: Vec<Avp>) -> Self::Answer;
}

impl AnswerTo for Message {
    type Answer = Message;
    fn request_header(&self) -> &MessageHeader {
        &self.header
    }
    fn request_avps(&self, code: u32) -> Vec<Avp> {
        self.find_avps(&[(code, 0)]).into_iter().cloned().collect()
    }
    fn make_answer(&self, header: MessageHeader, avps: Vec<Avp>) -> Message {
        let mut answer = Message::new(header, avps);
        answer.received_on = self.received_on;
        answer
    }
}

impl<T: Request> AnswerTo for T {
    type Answer = T::Answer;
    fn request_header(&self) -> &MessageHeader {
        self.header()
    }
    fn request_avps(&self, code: u32) -> Vec<Avp> {
        // a field that cannot be encoded has nothing to copy
        self.field_avps(code, 0).unwrap_or_default()
    }
    fn make_answer(&self, header: MessageHeader, avps: Vec<Avp>) -> T::Answer {
        let mut answer = T::Answer::from_avps(avps);
        *answer.header_mut() = header;
        answer
    }
}

// ---- threading applications ----

/// An application with the peers and realms it serves.
#[derive(Clone)]
pub(crate) struct AppRoute {
    pub app: Arc<dyn Application>,
    pub peers: Vec<Arc<Peer>>,
    pub realms: Vec<String>,
}

/// A peer selector (python's `peer_route_select_func(node, app, message,
/// peers)`): given the application, the request and the ready peers that
/// negotiated the application (two or more), returns the one to use.
pub type RouteSelect =
    Arc<dyn Fn(&AppBase, &Message, &[Arc<Peer>]) -> Result<Arc<Peer>, NodeError> + Send + Sync>;

/// The application side of a node: the shared record, and what only
/// callers' threads and the loop's calls into user code need (the
/// applications, the user's peer selector, the proxy handlers).
pub(crate) struct Registry {
    /// The seam shared with the loop.
    pub shared: Arc<Handle>,
    /// The applications, with the peers and realms each serves.
    pub apps: RwLock<Vec<AppRoute>>,
    /// The user's peer selector (python's `peer_route_select_func`).
    pub select: RwLock<Option<RouteSelect>>,
    /// Where the node's event loop and its applications' worker pools meet
    /// (the loop's hand-off of quick jobs).
    pub handoffs: Arc<HandoffDesk>,
    /// A proxy's handlers, by application id ([`Node::add_proxy_handler`](crate::node::Node::add_proxy_handler)).
    pub proxy_handlers: RwLock<Vec<(u32, Arc<dyn ProxyHandler>)>>,
}

impl Registry {
    pub(crate) fn new(shared: Arc<Handle>) -> Arc<Registry> {
        Arc::new(Registry {
            shared,
            apps: RwLock::new(Vec::new()),
            select: RwLock::new(None),
            proxy_handlers: RwLock::new(Vec::new()),
            handoffs: Arc::default(),
        })
    }
}

impl std::ops::Deref for Registry {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.shared
    }
}

/// What callers' threads do through the shared record.
impl Registry {
    /// Stops every application (python's `app.stop()`: joins the workers);
    /// a panic in one is counted and the others are still stopped.
    pub(crate) fn stop_applications(&self) {
        let apps: Vec<Arc<dyn Application>> =
            self.apps.read().iter().map(|r| r.app.clone()).collect();
        for app in apps {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.stop())).is_err() {
                count(&self.counters.callback_panics);
            }
        }
    }

    /// RFC 6733 §6.1: the peer for a request of `base`'s application.
    pub(crate) fn route(&self, base: &AppBase, msg: &Message) -> Result<Arc<Peer>, NodeError> {
        let app = base.app_id();
        let identity = self.identity();
        let candidates = {
            let apps = self.apps.read();
            let peers = self.peers.read();
            let routes = apps.iter().map(|r| routing::Route {
                app: r.app.base().app_id(),
                peers: &r.peers,
                realms: &r.realms,
            });
            routing::candidates(msg, app, &identity.origin_realm, routes, &peers, &|p| {
                routing::negotiated(p, app)
            })
        };
        let candidates = match candidates {
            Ok(c) => c,
            Err(realm) => {
                return Err(NodeError::NotRoutable(NoRoute {
                    application_id: app.id,
                    realm,
                    reason: NoRouteReason::NoReadyPeer,
                }))
            }
        };
        if candidates.peers.len() > 1 {
            let select = self.select.read().clone();
            if let Some(select) = select {
                // user code: a panic is a routing failure, not a dead caller
                let picked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    select(base, msg, &candidates.peers)
                }));
                return match picked {
                    Ok(r) => r,
                    Err(_) => {
                        self.counters
                            .callback_panics
                            .fetch_add(1, Ordering::Relaxed);
                        Err(NodeError::NotRoutable(NoRoute {
                            application_id: app.id,
                            realm: candidates.realm,
                            reason: NoRouteReason::SelectorFailed,
                        }))
                    }
                };
            }
        }
        let turn = self.round_robin.fetch_add(1, Ordering::Relaxed);
        routing::least_loaded(&candidates.peers, turn).ok_or(NodeError::NotRoutable(NoRoute {
            application_id: app.id,
            realm: candidates.realm,
            reason: NoRouteReason::NoReadyPeer,
        }))
    }

    /// Routes and sends an encoded request, then waits for its answer.
    pub(crate) fn request(
        &self,
        base: &AppBase,
        msg: &Message,
        timeout: Duration,
    ) -> Result<Message, ApplicationError> {
        let (waiter, peer, deadline) = self.submit(base, msg, timeout)?;
        let result = wait_answer(waiter, deadline, timeout, self);
        peer.outstanding.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Routes and sends an encoded request: the waiter for its answer, the
    /// peer it went to (its `outstanding` count raised: the caller lowers
    /// it once done) and the caller's deadline.
    pub(crate) fn submit(
        &self,
        base: &AppBase,
        msg: &Message,
        timeout: Duration,
    ) -> Result<(Waiter, Arc<Peer>, Instant), ApplicationError> {
        if self.life() != Life::Running {
            return Err(self.not_running().into());
        }
        // routing, then the redirect cache (one atomic load when it is
        // empty), whose entries hold for the next hop routing picked
        let routed = self.route(base, msg);
        let (peer, to_redirect_host) = match self.cached_route(msg, routed.as_ref().ok()) {
            Some(peer) => (peer, true),
            None => (routed?, false),
        };
        if to_redirect_host {
            count(&self.counters.redirect_cache_hits);
        }
        let bytes = msg.as_bytes()?;
        let waiter = Waiter::take();
        let deadline = deadline_after(timeout);
        peer.outstanding.fetch_add(1, Ordering::Relaxed);
        let sent = self.command(Command::Request(OutRequest {
            peer: peer.clone(),
            bytes,
            end_to_end: msg.header.end_to_end_identifier,
            timeout,
            reply: waiter.reply(),
            app: Some(base.app_id()),
            to_redirect_host,
        }));
        match sent {
            Ok(()) => Ok((waiter, peer, deadline)),
            Err(e) => {
                peer.outstanding.fetch_sub(1, Ordering::Relaxed);
                Err(e.into())
            }
        }
    }

    /// The host the redirect cache names for `msg` (by its Session-Id,
    /// User-Name, realm and application, Destination-Host), routed to
    /// `next` (`None`: routing found no peer): a ready one, the least
    /// loaded; else the first, to be connected.
    fn cached_route(&self, msg: &Message, next: Option<&Arc<Peer>>) -> Option<Arc<Peer>> {
        self.redirects.read(|cache| {
            let facts = crate::node::shared::redirect::Facts::of(msg);
            let is_hop = |via: &Arc<Peer>| next.is_some_and(|n| Arc::ptr_eq(n, via));
            let entry = cache.lookup(Instant::now(), &facts, is_hop)?;
            self.pick_redirect_host(&entry.targets)
        })
    }

    fn pick_redirect_host(&self, hosts: &[Arc<Peer>]) -> Option<Arc<Peer>> {
        let ready: Vec<Arc<Peer>> = hosts.iter().filter(|p| p.is_ready()).cloned().collect();
        let turn = self.round_robin.fetch_add(1, Ordering::Relaxed);
        routing::least_loaded(&ready, turn).or_else(|| hosts.first().cloned())
    }

    /// Recomputes every application's readiness.
    pub(crate) fn update_ready(&self) {
        let peers = self.peers.read();
        for route in self.apps.read().iter() {
            let base: &AppBase = route.app.base();
            let id = base.app_id();
            let serving: &[Arc<Peer>] = if route.peers.is_empty() {
                &peers
            } else {
                &route.peers
            };
            base.set_ready(serving.iter().any(|p| routing::negotiated(p, id)));
        }
    }
}

/// Waits for the answer until `deadline`. An empty answer for a stopped
/// node is a dead loop's when the loop died.
pub(crate) fn wait_answer(
    waiter: Waiter,
    deadline: Instant,
    timeout: Duration,
    handle: &Handle,
) -> Result<Message, ApplicationError> {
    match waiter.wait(deadline) {
        Some(Err(ApplicationError::EmptyAnswer(EmptyReason::NodeStopped)))
            if handle.life() == Life::Died =>
        {
            Err(ApplicationError::EmptyAnswer(EmptyReason::LoopDied))
        }
        Some(answer) => answer,
        None => Err(ApplicationError::RequestTimeout(timeout)),
    }
}

/// What every application has (python's `Application` attributes and the
/// methods it offers to its handlers). Cheap to clone: handlers get one.
#[derive(Clone)]
pub struct AppBase {
    inner: Arc<AppInner>,
}

struct AppInner {
    id: AppId,
    node: OnceLock<Arc<Registry>>,
    ready: Mutex<bool>,
    ready_changed: Condvar,
}

impl std::fmt::Debug for AppBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBase")
            .field("id", &self.inner.id)
            .finish()
    }
}

impl AppBase {
    /// An application advertised in Auth-Application-Id (python's
    /// `is_auth_application=True`).
    pub fn auth(application_id: u32) -> AppBase {
        Self::with_id(AppId::auth(application_id))
    }

    /// An application advertised in Acct-Application-Id (python's
    /// `is_acct_application=True`).
    pub fn acct(application_id: u32) -> AppBase {
        Self::with_id(AppId::acct(application_id))
    }

    /// Any application id, vendor-specific ones included (advertised in
    /// Vendor-Specific-Application-Id).
    pub fn with_id(id: AppId) -> AppBase {
        AppBase {
            inner: Arc::new(AppInner {
                id,
                node: OnceLock::new(),
                ready: Mutex::new(false),
                ready_changed: Condvar::new(),
            }),
        }
    }

    /// The application id.
    pub fn application_id(&self) -> u32 {
        self.inner.id.id
    }

    /// The full application id (kind and vendor).
    pub fn app_id(&self) -> AppId {
        self.inner.id
    }

    /// Whether it is an auth application.
    pub fn is_auth_application(&self) -> bool {
        self.inner.id.kind == AppKind::Auth
    }

    /// Whether it is an acct application.
    pub fn is_acct_application(&self) -> bool {
        self.inner.id.kind == AppKind::Acct
    }

    /// The application's name from python's `APPLICATIONS` table
    /// ("Unknown Application" when it has none).
    pub fn name(&self) -> &'static str {
        crate::message::dictionary::application_name(self.inner.id.id)
    }

    pub(crate) fn attach(&self, handle: Arc<Registry>) {
        let _ = self.inner.node.set(handle);
    }

    /// Its node's hand-off desk, once added to a node.
    pub(crate) fn handoffs(&self) -> Option<&HandoffDesk> {
        self.inner.node.get().map(|node| &*node.handoffs)
    }

    pub(crate) fn shared(&self) -> Result<&Arc<Registry>, ApplicationError> {
        self.inner.node.get().ok_or(ApplicationError::NotAttached)
    }

    /// The node this application runs on, once the node started (python's
    /// `app.node`; an error before).
    pub fn node(&self) -> Result<NodeRef, ApplicationError> {
        self.shared().map(|s| NodeRef(s.shared.clone()))
    }

    /// The node's Origin-Host, once added to a node.
    pub fn origin_host(&self) -> Option<String> {
        self.inner
            .node
            .get()
            .map(|h| h.identity().origin_host.clone())
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        let mut r = self.inner.ready.lock();
        if *r != ready {
            *r = ready;
            self.inner.ready_changed.notify_all();
        }
    }

    /// Whether a peer of this application is ready and negotiated it.
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.lock()
    }

    /// Blocks until a peer of this application has finished the
    /// capabilities exchange and negotiated it (python's `wait_for_ready`);
    /// blocks again once all its peers are down.
    pub fn wait_for_ready(&self, timeout: Duration) -> Result<(), ApplicationError> {
        // a timeout near Duration::MAX means "wait as long as it takes"
        let deadline = Instant::now().checked_add(timeout);
        let mut ready = self.inner.ready.lock();
        while !*ready {
            match deadline {
                Some(deadline) => {
                    if self
                        .inner
                        .ready_changed
                        .wait_until(&mut ready, deadline)
                        .timed_out()
                        && !*ready
                    {
                        return Err(ApplicationError::NotReady(timeout));
                    }
                }
                None => self.inner.ready_changed.wait(&mut ready),
            }
        }
        Ok(())
    }

    /// An answer to `request` (python's `generate_answer`): the request's
    /// header rules (`to_answer`), Session-Id copied, this node's
    /// Origin-Host and Origin-Realm, the application id AVP, Result-Code and
    /// Error-Message when given, Proxy-Info copied. A typed request gives
    /// its typed answer with those fields set; a [`Message`] a `Message`.
    ///
    /// `result_code` and `error_message` take a value or `None`:
    /// `app.generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None)`.
    /// An error ([`ApplicationError::NotAttached`]) before the application
    /// is added to a node, as python raises then.
    pub fn generate_answer<'a, R: AnswerTo + ?Sized>(
        &self,
        request: &R,
        result_code: impl Into<Option<u32>>,
        error_message: impl Into<Option<&'a str>>,
    ) -> Result<R::Answer, ApplicationError> {
        let handle = self.shared()?;
        Ok(self.answer_on(handle, request, result_code.into(), error_message.into()))
    }

    /// [`generate_answer`](Self::generate_answer) for the node's own use,
    /// where the application is attached.
    pub(crate) fn answer_on<R: AnswerTo + ?Sized>(
        &self,
        handle: &Handle,
        request: &R,
        result_code: Option<u32>,
        error_message: Option<&str>,
    ) -> R::Answer {
        let mut avps = Vec::with_capacity(8);
        let mut push = |a: Result<Avp, AvpEncodeError>| {
            if let Ok(a) = a {
                avps.push(a);
            }
        };
        for session in request.request_avps(AVP_SESSION_ID) {
            push(Ok(session));
        }
        if let Some(code) = result_code {
            push(Avp::new(AVP_RESULT_CODE, 0, code));
        }
        let identity = handle.identity();
        push(Avp::new(AVP_ORIGIN_HOST, 0, identity.origin_host.as_str()));
        push(Avp::new(
            AVP_ORIGIN_REALM,
            0,
            identity.origin_realm.as_str(),
        ));
        let id_code = match self.inner.id.kind {
            AppKind::Auth => AVP_AUTH_APPLICATION_ID,
            AppKind::Acct => AVP_ACCT_APPLICATION_ID,
        };
        push(Avp::new(id_code, 0, self.inner.id.id));
        if let Some(text) = error_message {
            push(Avp::new(AVP_ERROR_MESSAGE, 0, text).map(|a| a.with_mandatory(false)));
        }
        for proxy in request.request_avps(AVP_PROXY_INFO) {
            push(Ok(proxy));
        }
        let mut header = request.request_header().to_answer();
        if let Some(code) = result_code {
            header.set_error((3000..4000).contains(&code));
        }
        request.make_answer(header, avps)
    }

    /// Sends an answer back on the connection its request came in on
    /// (python's `send_answer`). The request's connection travels with it
    /// through `to_answer` and `generate_answer`; an answer built otherwise
    /// goes to the one connection waiting for its identifiers.
    ///
    /// An error when nothing waits for this answer (python's `NotRoutable`
    /// from `route_answer`): it was answered already, its connection
    /// closed, it expired ([`NodeLimits::owed_answer_ttl`](crate::node::NodeLimits)),
    /// or its identifiers match no request handed to an application.
    pub fn send_answer<A: OutgoingAnswer + ?Sized>(
        &self,
        answer: &A,
    ) -> Result<(), ApplicationError> {
        let handle = self.shared()?;
        let header = answer.answer_header();
        let (hop_by_hop, end_to_end) = (header.hop_by_hop_identifier, header.end_to_end_identifier);
        let via = handle
            .owed
            .claim(hop_by_hop, end_to_end, answer.answer_connection())
            .map_err(|why| ApplicationError::NoRequestWaiting {
                hop_by_hop,
                end_to_end,
                ambiguous: why == Unclaimed::Ambiguous,
            })?;
        let bytes = match answer.answer_bytes() {
            Ok(bytes) => bytes,
            Err(e) => {
                // the loop still owes it: let it settle the entry
                handle.owed.insert(hop_by_hop, end_to_end, via);
                return Err(e.into());
            }
        };
        handle.command(Command::Answer(OutAnswer {
            via,
            hop_by_hop,
            end_to_end,
            bytes,
            claimed: true,
        }))?;
        Ok(())
    }

    /// The request as sent: the End-to-End identifier and the header's
    /// application id set when zero.
    fn prepare<R: OutgoingRequest>(
        &self,
        handle: &Handle,
        request: R,
    ) -> Result<Message, ApplicationError> {
        let mut request = request.into_request()?;
        if request.header.end_to_end_identifier == 0 {
            request.header.end_to_end_identifier = handle.identity().end_to_end.next_sequence();
        }
        if request.header.application_id == 0 {
            request.header.application_id = self.inner.id.id;
        }
        Ok(request)
    }

    /// Sends a request and blocks until its answer (python's
    /// `send_request`): the End-to-End identifier and the header's
    /// application id are set when zero, the request is routed (RFC 6733
    /// §6.1) and encoded on this thread. A typed request (a
    /// `CreditControlRequest`) gives its typed answer (a
    /// `CreditControlAnswer`); a [`Message`] gives a `Message`.
    ///
    /// A timeout is [`ApplicationError::RequestTimeout`]; a connection lost
    /// meanwhile is [`ApplicationError::EmptyAnswer`] at once.
    ///
    /// The node wakes the waiting thread once per answer. For many requests
    /// in flight, [`send_request_nowait`](Self::send_request_nowait) from
    /// fewer threads costs less (docs/guide/benchmarks.md compares both).
    pub fn send_request<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::Answer, ApplicationError> {
        let handle = self.shared()?;
        let request = self.prepare(handle, request)?;
        R::answer_from(handle.request(self, &request, timeout)?)
    }

    /// Sends a request without waiting for its answer: the returned
    /// [`PendingAnswer`]'s `wait` gives it, so that one thread can keep
    /// many requests in flight (pipelining). Routing, encoding, failover and
    /// `timeout` are those of [`send_request`](Self::send_request); errors
    /// before the request is handed to the node come back here.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use diameter::message::Message;
    /// # use diameter::node::application::AppBase;
    /// # fn requests() -> Vec<Message> { Vec::new() }
    /// # fn f(app: &AppBase) -> Result<(), diameter::node::ApplicationError> {
    /// let timeout = Duration::from_secs(5);
    /// let in_flight: Vec<_> = requests()
    ///     .into_iter()
    ///     .map(|ccr| app.send_request_nowait(ccr, timeout))
    ///     .collect::<Result<_, _>>()?;
    /// for pending in in_flight {
    ///     let cca = pending.wait(timeout)?;
    ///     println!("{cca}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_request_nowait<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<PendingAnswer<R::Answer>, ApplicationError> {
        let handle = self.shared()?;
        let request = self.prepare(handle, request)?;
        let (waiter, peer, deadline) = handle.submit(self, &request, timeout)?;
        Ok(PendingAnswer {
            waiter: Some(waiter),
            peer,
            deadline,
            timeout,
            handle: handle.clone(),
            convert: R::answer_from,
        })
    }
}

/// A request sent with [`AppBase::send_request_nowait`], its answer still
/// to come. Dropping it gives up on the answer (which then goes to the
/// application's `handle_answer`, as a late one does).
pub struct PendingAnswer<A> {
    waiter: Option<Waiter>,
    peer: Arc<Peer>,
    deadline: Instant,
    timeout: Duration,
    handle: Arc<Registry>,
    convert: fn(Message) -> Result<A, ApplicationError>,
}

impl<A> PendingAnswer<A> {
    /// Blocks until the answer comes, for at most `timeout` and never past
    /// the request's own timeout: its answer, or the error
    /// [`send_request`](AppBase::send_request) would have returned
    /// (`RequestTimeout` when either time runs out first). Waiting on the
    /// thread that sent the request costs least: it parks until the node
    /// signals it; another thread blocks on the answer's channel.
    pub fn wait(mut self, timeout: Duration) -> Result<A, ApplicationError> {
        let Some(waiter) = self.waiter.take() else {
            return Err(ApplicationError::RequestTimeout(self.timeout));
        };
        let mine = deadline_after(timeout);
        let (deadline, reported) = if mine < self.deadline {
            (mine, timeout)
        } else {
            (self.deadline, self.timeout)
        };
        wait_answer(waiter, deadline, reported, &self.handle).and_then(self.convert)
    }

    /// The peer the request went to.
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }
}

impl<A> Drop for PendingAnswer<A> {
    fn drop(&mut self) {
        self.peer.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<A> std::fmt::Debug for PendingAnswer<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAnswer")
            .field("peer", &self.peer.node_name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Display for AppBase {
    /// python's `str(app)`: `<Diameter Credit Control Application (4)>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} ({})>", self.name(), self.application_id())
    }
}

/// A Diameter application (python's `Application`, subclassed). Implement
/// `base` and `handle_request`; `handle_request` runs on the node's
/// event-loop thread, under `catch_unwind` (a panic is answered 5012 and
/// counted; the node carries on). The methods python's subclasses call on
/// `self` (`send_request`, `send_answer`, `generate_answer`,
/// `wait_for_ready`, `node`, `is_ready`) are provided here too.
///
/// ```
/// use diameter::message::constants::*;
/// use diameter::message::Message;
/// use diameter::node::application::{AppBase, Application};
///
/// /// python: `class EchoApp(Application)`
/// struct EchoApp {
///     base: AppBase,
/// }
///
/// impl Application for EchoApp {
///     fn base(&self) -> &AppBase {
///         &self.base
///     }
///     fn handle_request(&self, request: Message) {
///         // answer = self.generate_answer(message, E_RESULT_CODE_DIAMETER_SUCCESS)
///         // self.send_answer(answer)
///         if let Ok(answer) = self.generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None) {
///             let _ = self.send_answer(&answer);
///         }
///     }
/// }
///
/// let app = EchoApp { base: AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION) };
/// assert_eq!(app.base().to_string(), "<Diameter Credit Control Application (4)>");
/// assert!(app.node().is_err()); // not added to a node yet
/// ```
pub trait Application: Send + Sync + 'static {
    /// The application's id, node link and readiness.
    fn base(&self) -> &AppBase;

    /// Called for every request routed to this application, on the event
    /// loop: answer with `self.send_answer(...)`, quickly.
    fn handle_request(&self, request: Message);

    /// Called for answers whose caller stopped waiting (late ones, after a
    /// timeout, within the node's late-answer window).
    fn handle_answer(&self, answer: Message) {
        debug!(target: "diameter.application", "unexpected answer {answer} dropped");
    }

    /// The most requests this application takes at once, when it has such a
    /// bound (a [`ThreadingApplication`](crate::node::app::application::ThreadingApplication):
    /// its `max_threads`); `None` (the default) when it has none. While the
    /// node has more than one connection, it shares a bound of 16 or more
    /// between them: requests from one connection that already holds three
    /// quarters of it, unanswered, get 3004 DIAMETER_TOO_BUSY, so one peer
    /// cannot take all of it. A single connection may use all of it.
    fn request_limit(&self) -> Option<usize> {
        None
    }

    /// Called when the application is added to a node (python's
    /// `app.start()`, which `add_application` calls).
    fn start(&self) {}

    /// Called when the node stops.
    fn stop(&self) {}

    /// [`AppBase::send_request`] on this application.
    fn send_request<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::Answer, ApplicationError>
    where
        Self: Sized,
    {
        self.base().send_request(request, timeout)
    }

    /// [`AppBase::send_request_nowait`] on this application.
    fn send_request_nowait<R: OutgoingRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<PendingAnswer<R::Answer>, ApplicationError>
    where
        Self: Sized,
    {
        self.base().send_request_nowait(request, timeout)
    }

    /// [`AppBase::send_answer`] on this application.
    fn send_answer<A: OutgoingAnswer + ?Sized>(&self, answer: &A) -> Result<(), ApplicationError>
    where
        Self: Sized,
    {
        self.base().send_answer(answer)
    }

    /// [`AppBase::generate_answer`] on this application.
    fn generate_answer<'a, R: AnswerTo + ?Sized>(
        &self,
        request: &R,
        result_code: impl Into<Option<u32>>,
        error_message: impl Into<Option<&'a str>>,
    ) -> Result<R::Answer, ApplicationError>
    where
        Self: Sized,
    {
        self.base()
            .generate_answer(request, result_code, error_message)
    }

    /// [`AppBase::wait_for_ready`] on this application.
    fn wait_for_ready(&self, timeout: Duration) -> Result<(), ApplicationError>
    where
        Self: Sized,
    {
        self.base().wait_for_ready(timeout)
    }

    /// [`AppBase::node`] on this application.
    fn node(&self) -> Result<NodeRef, ApplicationError>
    where
        Self: Sized,
    {
        self.base().node()
    }

    /// [`AppBase::is_ready`] on this application.
    fn is_ready(&self) -> bool
    where
        Self: Sized,
    {
        self.base().is_ready()
    }
}

/// What an application sees of its node (python's `app.node`): its identity,
/// generators, peers and statistics. Cheap to clone.
#[derive(Clone)]
pub struct NodeRef(pub(crate) Arc<Handle>);

impl NodeRef {
    /// The node's Origin-Host.
    pub fn origin_host(&self) -> String {
        self.0.identity().origin_host.clone()
    }

    /// The node's realm.
    pub fn realm_name(&self) -> String {
        self.0.identity().origin_realm.clone()
    }

    /// The node's Session-Id generator.
    pub fn session_generator(&self) -> Arc<SessionGenerator> {
        self.0.identity().session_generator.clone()
    }

    /// The node's End-to-End identifier sequence.
    pub fn end_to_end_seq(&self) -> Arc<SequenceGenerator> {
        self.0.identity().end_to_end.clone()
    }

    /// The node's configured peers.
    pub fn peers(&self) -> Vec<Arc<Peer>> {
        self.0.peers.read().clone()
    }

    /// The node's statistics now.
    pub fn statistics(&self) -> crate::node::stats::NodeStats {
        node_stats(self.0.peers.read().iter())
    }
}
