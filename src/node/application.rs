//! Applications (python's `diameter.node.application`): what handles the
//! requests a node receives and sends requests of its own.
//!
//! An [`Application`] is registered with [`Node::add_application`](crate::node::Node::add_application)
//! for a set of peers. A plain application's `handle_request` runs on the
//! event-loop thread, as in python, and must be quick; a
//! [`ThreadingApplication`] hands each request to a bounded pool of worker
//! threads and sends back whatever the handler returns. `send_request` may be
//! called from any thread: it encodes the request on the caller's thread and
//! blocks until the answer or the timeout.
//!
//! ```no_run
//! use std::time::Duration;
//! use diameter::message::constants::*;
//! use diameter::node::application::{AppBase, ThreadingApplication};
//! use diameter::node::{Node, NodeOptions, PeerOptions};
//!
//! let mut node = Node::new("ocs.example.net", "example.net", NodeOptions::default());
//! let peer = node.add_peer("aaa://pgw.example.net", None, PeerOptions::default())?;
//! let app = ThreadingApplication::new(
//!     AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
//!     16,
//!     |app, request| Ok(Some(app.generate_answer(&request, Some(E_RESULT_CODE_DIAMETER_SUCCESS), None))),
//! );
//! node.add_application(app, [peer], &[]);
//! node.start()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use log::{debug, warn};
use parking_lot::{Condvar, Mutex};

use super::handle::{Command, Handle, OutAnswer};
use super::peer::{AppId, AppKind, Peer};
use super::pool::{PoolConfig, WorkerPool};
use super::{SequenceGenerator, SessionGenerator};
use crate::message::constants::*;
use crate::message::{Avp, AvpEncodeError, Message};

pub use super::error::{ApplicationError, EmptyReason};

/// What every application has (python's `Application` attributes and the
/// methods it offers to its handlers). Cheap to clone: handlers get one.
#[derive(Clone)]
pub struct AppBase {
    inner: Arc<AppInner>,
}

struct AppInner {
    id: AppId,
    node: OnceLock<Arc<Handle>>,
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

    pub(crate) fn attach(&self, handle: Arc<Handle>) {
        let _ = self.inner.node.set(handle);
    }

    pub(crate) fn shared(&self) -> Result<&Arc<Handle>, ApplicationError> {
        self.inner.node.get().ok_or(ApplicationError::NotAttached)
    }

    /// The node this application runs on, once the node started (python's
    /// `app.node`; an error before).
    pub fn node(&self) -> Result<NodeRef, ApplicationError> {
        self.shared().map(|s| NodeRef(s.clone()))
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
    /// Error-Message when given, Proxy-Info copied.
    pub fn generate_answer(
        &self,
        request: &Message,
        result_code: Option<u32>,
        error_message: Option<&str>,
    ) -> Message {
        let mut answer = request.to_answer();
        let mut push = |a: Result<Avp, AvpEncodeError>| {
            if let Ok(a) = a {
                answer.avps.push(a);
            }
        };
        if let Some(session) = request.find_avp(&[(AVP_SESSION_ID, 0)]) {
            push(Ok(session.clone()));
        }
        if let Some(code) = result_code {
            push(Avp::new(AVP_RESULT_CODE, 0, code));
        }
        if let Some(handle) = self.inner.node.get() {
            let identity = handle.identity();
            push(Avp::new(AVP_ORIGIN_HOST, 0, identity.origin_host.as_str()));
            push(Avp::new(
                AVP_ORIGIN_REALM,
                0,
                identity.origin_realm.as_str(),
            ));
        }
        let id_code = match self.inner.id.kind {
            AppKind::Auth => AVP_AUTH_APPLICATION_ID,
            AppKind::Acct => AVP_ACCT_APPLICATION_ID,
        };
        push(Avp::new(id_code, 0, self.inner.id.id));
        if let Some(text) = error_message {
            push(Avp::new(AVP_ERROR_MESSAGE, 0, text).map(|a| a.with_mandatory(false)));
        }
        if let Some(code) = result_code {
            answer.header.set_error((3000..4000).contains(&code));
        }
        for proxy in request.find_avps(&[(AVP_PROXY_INFO, 0)]) {
            push(Ok(proxy.clone()));
        }
        answer
    }

    /// Sends an answer back on the connection its request came in on (the
    /// request's connection travels with it through `to_answer` and
    /// `generate_answer`; an answer built otherwise goes where exactly one
    /// connection owes its identifiers, else it is dropped and counted).
    pub fn send_answer(&self, answer: &Message) -> Result<(), ApplicationError> {
        let handle = self.shared()?;
        let bytes = answer.as_bytes()?;
        handle.command(Command::Answer(OutAnswer {
            via: answer.received_on,
            hop_by_hop: answer.header.hop_by_hop_identifier,
            end_to_end: answer.header.end_to_end_identifier,
            bytes,
        }))?;
        Ok(())
    }

    /// Sends a request and blocks until its answer (python's
    /// `send_request`): the End-to-End identifier and the header's
    /// application id are set when zero, the request is routed (RFC 6733
    /// §6.1) and encoded on this thread. A timeout is
    /// [`ApplicationError::RequestTimeout`]; a connection lost meanwhile is
    /// [`ApplicationError::EmptyAnswer`] at once.
    pub fn send_request(
        &self,
        mut request: Message,
        timeout: Duration,
    ) -> Result<Message, ApplicationError> {
        let handle = self.shared()?;
        if request.header.end_to_end_identifier == 0 {
            request.header.end_to_end_identifier = handle.identity().end_to_end.next_sequence();
        }
        if request.header.application_id == 0 {
            request.header.application_id = self.inner.id.id;
        }
        handle.request(self, &request, timeout)
    }
}

/// A Diameter application (python's `Application`). Implement
/// `handle_request`; it runs on the node's event-loop thread, under
/// `catch_unwind` (a panic is answered 5012 and counted; the node carries
/// on).
pub trait Application: Send + Sync + 'static {
    /// The application's id, node link and readiness.
    fn base(&self) -> &AppBase;

    /// Called for every request routed to this application, on the event
    /// loop: answer with `self.base().send_answer(...)`, quickly.
    fn handle_request(&self, request: Message);

    /// Called for answers whose caller stopped waiting (late ones, after a
    /// timeout, within the node's late-answer window).
    fn handle_answer(&self, answer: Message) {
        debug!(target: "diameter.application", "unexpected answer {answer} dropped");
    }

    /// Called when the node stops.
    fn stop(&self) {}
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
    pub fn statistics(&self) -> super::stats::NodeStats {
        super::stats::node_stats(self.0.peers.read().iter())
    }
}

/// python's `SimpleThreadingApplication`: the same type, built with
/// [`ThreadingApplication::new`] and a `request_handler` closure.
pub type SimpleThreadingApplication = ThreadingApplication;

/// What a threading handler returns: the answer to send (or none), or an
/// error, which is answered with 5012 DIAMETER_UNABLE_TO_COMPLY.
pub type HandlerResult = Result<Option<Message>, Box<dyn std::error::Error + Send + Sync>>;

type Handler = dyn Fn(&AppBase, Message) -> HandlerResult + Send + Sync;

/// Most worker threads of one [`ThreadingApplication`], whatever
/// `max_threads` says (python's `max_threads = 0`, "no limit", stops here):
/// beyond it requests are answered 3004 DIAMETER_TOO_BUSY.
pub const MAX_WORKER_THREADS: usize = 1024;

/// How long an idle worker thread waits for work before it exits.
pub const WORKER_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long `stop` waits for handlers still running before it returns.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// An application whose requests are handled on worker threads, at most
/// `max_threads` at once (0: up to [`MAX_WORKER_THREADS`]); the handler's
/// answer is sent back (python's `ThreadingApplication` and
/// `SimpleThreadingApplication`). When every worker is busy a request is
/// answered 3004 DIAMETER_TOO_BUSY at once; the event loop never waits for
/// the pool. Idle workers park, and exit after [`WORKER_KEEP_ALIVE`]; the
/// node's `stop()` joins them.
pub struct ThreadingApplication {
    base: AppBase,
    handler: Arc<Handler>,
    /// Handlers running now, and the most at once.
    running: Arc<AtomicUsize>,
    limit: usize,
    pool: Arc<WorkerPool>,
}

impl ThreadingApplication {
    /// An application calling `handler(app, request)` on a worker thread for
    /// each request (python's `SimpleThreadingApplication(..., max_threads,
    /// request_handler)`).
    pub fn new(
        base: AppBase,
        max_threads: usize,
        handler: impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
    ) -> Arc<ThreadingApplication> {
        Self::with_keep_alive(base, max_threads, WORKER_KEEP_ALIVE, handler)
    }

    /// [`new`](Self::new) with another idle-worker keep-alive.
    pub fn with_keep_alive(
        base: AppBase,
        max_threads: usize,
        keep_alive: Duration,
        handler: impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
    ) -> Arc<ThreadingApplication> {
        let limit = match max_threads {
            0 => MAX_WORKER_THREADS,
            n => n.min(MAX_WORKER_THREADS),
        };
        // a worker still sending its answer is no longer a running handler:
        // the pool has room for those few moments (up to twice the limit)
        let pool = WorkerPool::new(PoolConfig {
            max_threads: limit * 2,
            hard_cap: MAX_WORKER_THREADS * 2,
            keep_alive,
            name: "diameter-app".into(),
        });
        Arc::new(ThreadingApplication {
            base,
            handler: Arc::new(handler),
            running: Arc::new(AtomicUsize::new(0)),
            limit,
            pool,
        })
    }

    /// Requests being handled right now.
    pub fn busy(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Worker threads alive now (busy or idle).
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    fn answer_too_busy(&self, request: &Message) {
        let answer = self.base.generate_answer(
            request,
            Some(E_RESULT_CODE_DIAMETER_TOO_BUSY),
            Some("Insufficient resources to handle the request"),
        );
        if let Err(e) = self.base.send_answer(&answer) {
            debug!(target: "diameter.application", "cannot send 3004: {e}");
        }
    }
}

/// Runs the handler for one request on a worker and sends its answer;
/// `running` is released as soon as the handler returns.
fn run_handler(base: &AppBase, handler: &Handler, running: &AtomicUsize, request: Message) {
    // what a 5012 answer needs from the request, if the handler fails (the
    // handler takes the request itself, uncopied)
    let mut stub = Message::new(
        request.header,
        request
            .find_avp(&[(AVP_SESSION_ID, 0)])
            .into_iter()
            .chain(request.find_avps(&[(AVP_PROXY_INFO, 0)]))
            .cloned()
            .collect(),
    );
    stub.received_on = request.received_on;
    let outcome = catch_unwind(AssertUnwindSafe(|| handler(base, request)));
    running.fetch_sub(1, Ordering::AcqRel);
    let answer = match outcome {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            debug!(target: "diameter.application", "handler failed for {stub}: {e}");
            Some(base.generate_answer(&stub, Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY), None))
        }
        Err(_) => {
            debug!(target: "diameter.application", "handler panicked for {stub}");
            Some(base.generate_answer(&stub, Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY), None))
        }
    };
    if let Some(mut answer) = answer {
        if answer.received_on == 0 {
            // an answer built without `to_answer`: it still answers this request
            answer.received_on = stub.received_on;
        }
        if let Err(e) = base.send_answer(&answer) {
            debug!(target: "diameter.application", "cannot send the answer to {stub}: {e}");
        }
    }
}

impl Application for ThreadingApplication {
    fn base(&self) -> &AppBase {
        &self.base
    }

    fn handle_request(&self, request: Message) {
        if self.running.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.running.fetch_sub(1, Ordering::AcqRel);
            self.answer_too_busy(&request);
            return;
        }
        let base = self.base.clone();
        let handler = self.handler.clone();
        let running = self.running.clone();
        let job = Box::new(move || run_handler(&base, &*handler, &running, request));
        // the pool has room for twice the handlers: it refuses only when
        // it is closed (the node stops) or a thread cannot be spawned
        if self.pool.try_execute(job).is_err() {
            self.running.fetch_sub(1, Ordering::AcqRel);
            debug!(target: "diameter.application", "no worker could take a request (stopping?)");
        }
    }

    fn stop(&self) {
        if !self.pool.shutdown(STOP_WAIT) {
            warn!(target: "diameter.application", "some handlers did not finish within {STOP_WAIT:?}");
        }
    }
}
