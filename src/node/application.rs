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

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use log::{debug, warn};
use parking_lot::{Condvar, Mutex};

use super::node::{NodeError, Shared};
use super::peer::{AppId, AppKind};
use crate::message::constants::*;
use crate::message::{Avp, AvpEncodeError, Message};

/// Errors of applications (python's `ApplicationError` family).
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    /// No peer of the application became ready in time (python's
    /// `ApplicationError("No connection available within timeout")`).
    #[error("no connection available within {0:?}")]
    NotReady(Duration),
    /// No answer came within the timeout (python's `RequestTimeout`).
    #[error("no answer within {0:?}")]
    RequestTimeout(Duration),
    /// The request can no longer be answered: the connection carrying it
    /// closed, or the node stopped (python's `EmptyAnswer`).
    #[error("no answer: {0}")]
    EmptyAnswer(String),
    /// The application is not added to a started node.
    #[error("application is not attached to a running node")]
    NotAttached,
    /// Routing or sending failed (python's `NotRoutable`, `NodeError`).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The message could not be encoded.
    #[error(transparent)]
    Encode(#[from] AvpEncodeError),
}

/// What every application has (python's `Application` attributes and the
/// methods it offers to its handlers). Cheap to clone: handlers get one.
#[derive(Clone)]
pub struct AppBase {
    inner: Arc<AppInner>,
}

struct AppInner {
    id: AppId,
    node: OnceLock<Arc<Shared>>,
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

    pub(crate) fn attach(&self, shared: Arc<Shared>) {
        let _ = self.inner.node.set(shared);
    }

    pub(crate) fn shared(&self) -> Result<&Arc<Shared>, ApplicationError> {
        self.inner.node.get().ok_or(ApplicationError::NotAttached)
    }

    /// The node this application runs on, once the node started (python's
    /// `app.node`; an error before).
    pub fn node(&self) -> Result<super::node::NodeRef, ApplicationError> {
        self.shared().map(|s| super::node::NodeRef(s.clone()))
    }

    /// The node's Origin-Host, once added to a node.
    pub fn origin_host(&self) -> Option<&str> {
        self.inner.node.get().map(|s| s.origin_host.as_str())
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
        let deadline = Instant::now() + timeout;
        let mut ready = self.inner.ready.lock();
        while !*ready {
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
        if let Some(shared) = self.inner.node.get() {
            push(Avp::new(AVP_ORIGIN_HOST, 0, shared.origin_host.as_str()));
            push(Avp::new(AVP_ORIGIN_REALM, 0, shared.origin_realm.as_str()));
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

    /// Sends an answer back on the connection its request came from.
    pub fn send_answer(&self, answer: &Message) -> Result<(), ApplicationError> {
        let shared = self.shared()?;
        let bytes = answer.as_bytes()?;
        shared.send_answer(
            answer.header.hop_by_hop_identifier,
            answer.header.end_to_end_identifier,
            bytes,
        )?;
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
        let shared = self.shared()?;
        if request.header.end_to_end_identifier == 0 {
            request.header.end_to_end_identifier = shared.end_to_end.next_sequence();
        }
        if request.header.application_id == 0 {
            request.header.application_id = self.inner.id.id;
        }
        shared.request(self, request, timeout)
    }
}

/// A Diameter application (python's `Application`). Implement
/// `handle_request`; it runs on the node's event-loop thread.
pub trait Application: Send + Sync + 'static {
    /// The application's id, node link and readiness.
    fn base(&self) -> &AppBase;

    /// Called for every request routed to this application, on the event
    /// loop: answer with `self.base().send_answer(...)`, quickly.
    fn handle_request(&self, request: Message);

    /// Called for answers nobody waits for (late ones, after a timeout).
    fn handle_answer(&self, answer: Message) {
        debug!(target: "diameter.application", "unexpected answer {answer} dropped");
    }

    /// Called when the node stops.
    fn stop(&self) {}
}

/// python's `SimpleThreadingApplication`: the same type, built with
/// [`ThreadingApplication::new`] and a `request_handler` closure.
pub type SimpleThreadingApplication = ThreadingApplication;

/// What a threading handler returns: the answer to send (or none), or an
/// error, which is answered with 5012 DIAMETER_UNABLE_TO_COMPLY.
pub type HandlerResult = Result<Option<Message>, Box<dyn std::error::Error + Send + Sync>>;

type Handler = dyn Fn(&AppBase, Message) -> HandlerResult + Send + Sync;

/// An application whose requests are handled on worker threads, at most
/// `max_threads` at once (0: no limit); the handler's answer is sent back
/// (python's `ThreadingApplication` and `SimpleThreadingApplication`). When
/// every worker is busy a request is answered 3004 DIAMETER_TOO_BUSY at once;
/// the event loop never waits for the pool.
pub struct ThreadingApplication {
    base: AppBase,
    pool: Arc<Pool>,
}

struct Pool {
    handler: Box<Handler>,
    max_threads: usize,
    busy: AtomicUsize,
    workers: Mutex<usize>,
    jobs: Sender<Message>,
    queue: Receiver<Message>,
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
        let (jobs, queue) = unbounded();
        Arc::new(ThreadingApplication {
            base,
            pool: Arc::new(Pool {
                handler: Box::new(handler),
                max_threads,
                busy: AtomicUsize::new(0),
                workers: Mutex::new(0),
                jobs,
                queue,
            }),
        })
    }

    /// Requests being handled right now.
    pub fn busy(&self) -> usize {
        self.pool.busy.load(Ordering::Acquire)
    }

    fn answer_too_busy(&self, request: &Message) {
        let answer = self.base.generate_answer(
            request,
            Some(E_RESULT_CODE_DIAMETER_TOO_BUSY),
            Some("Insufficient resources to handle the request"),
        );
        if let Err(e) = self.base.send_answer(&answer) {
            warn!(target: "diameter.application", "cannot send 3004: {e}");
        }
    }

    fn spawn_worker(&self) {
        let pool = self.pool.clone();
        let base = self.base.clone();
        let spawned = std::thread::Builder::new()
            .name("diameter-app".into())
            .spawn(move || pool.work(&base));
        if let Err(e) = spawned {
            warn!(target: "diameter.application", "cannot start a worker: {e}");
            *self.pool.workers.lock() -= 1;
        }
    }
}

impl Pool {
    fn work(&self, base: &AppBase) {
        while let Ok(request) = self.queue.recv() {
            // what a 5012 answer needs from the request, if the handler fails
            // (the handler takes the request itself, uncopied)
            let stub = Message::new(
                request.header,
                request
                    .find_avp(&[(AVP_SESSION_ID, 0)])
                    .into_iter()
                    .chain(request.find_avps(&[(AVP_PROXY_INFO, 0)]))
                    .cloned()
                    .collect(),
            );
            let outcome = catch_unwind(AssertUnwindSafe(|| (self.handler)(base, request)));
            let request = stub;
            let answer = match outcome {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => {
                    warn!(target: "diameter.application", "handler failed for {request}: {e}");
                    Some(base.generate_answer(
                        &request,
                        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY),
                        None,
                    ))
                }
                Err(_) => {
                    warn!(target: "diameter.application", "handler panicked for {request}");
                    Some(base.generate_answer(
                        &request,
                        Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY),
                        None,
                    ))
                }
            };
            // the slot is free again whether or not there is an answer
            self.busy.fetch_sub(1, Ordering::AcqRel);
            if let Some(answer) = answer {
                if let Err(e) = base.send_answer(&answer) {
                    warn!(target: "diameter.application", "cannot send the answer to {request}: {e}");
                }
            }
        }
    }
}

impl Application for ThreadingApplication {
    fn base(&self) -> &AppBase {
        &self.base
    }

    fn handle_request(&self, request: Message) {
        let busy = self.pool.busy.fetch_add(1, Ordering::AcqRel) + 1;
        if self.pool.max_threads > 0 && busy > self.pool.max_threads {
            self.pool.busy.fetch_sub(1, Ordering::AcqRel);
            self.answer_too_busy(&request);
            return;
        }
        {
            let mut workers = self.pool.workers.lock();
            if *workers < busy {
                *workers += 1;
                drop(workers);
                self.spawn_worker();
            }
        }
        if self.pool.jobs.send(request).is_err() {
            self.pool.busy.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Waits for the answer on its one-shot crossbeam channel (used by
/// `send_request`).
pub(crate) fn wait_answer(
    rx: &AnswerReceiver,
    timeout: Duration,
) -> Result<Message, ApplicationError> {
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => Err(ApplicationError::RequestTimeout(timeout)),
        Err(RecvTimeoutError::Disconnected) => {
            Err(ApplicationError::EmptyAnswer("no answer will come".into()))
        }
    }
}

/// The loop's half of an answer channel.
pub(crate) type AnswerSender = Sender<Result<Message, ApplicationError>>;

/// The waiting half of an answer channel.
pub(crate) type AnswerReceiver = Receiver<Result<Message, ApplicationError>>;

/// A one-shot answer channel.
pub(crate) fn answer_channel() -> (AnswerSender, AnswerReceiver) {
    bounded(1)
}
