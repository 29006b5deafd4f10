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
//!     |app, request| Ok(Some(app.generate_answer(&request, E_RESULT_CODE_DIAMETER_SUCCESS, None)?)),
//! );
//! node.add_application(app, [peer], &[]);
//! node.start()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use log::{debug, warn};

use crate::message::constants::*;
use crate::message::Message;
use crate::node::app::pool::{PoolConfig, WorkerPool};

pub use crate::node::app::api::{
    AnswerTo, AppBase, Application, NodeRef, OutgoingAnswer, OutgoingRequest, PendingAnswer,
};
pub use crate::node::error::{ApplicationError, EmptyReason};

/// python's `SimpleThreadingApplication`: the same type, built with
/// [`ThreadingApplication::new`] and a `request_handler` closure.
pub type SimpleThreadingApplication<H = FnHandler> = ThreadingApplication<H>;

/// What a threading handler returns: the answer to send (or none), or an
/// error, which is answered with 5012 DIAMETER_UNABLE_TO_COMPLY.
pub type HandlerResult = Result<Option<Message>, Box<dyn std::error::Error + Send + Sync>>;

/// Most worker threads of one [`ThreadingApplication`], whatever
/// `max_threads` says (python's `max_threads = 0`, "no limit", stops here):
/// beyond it requests are answered 3004 DIAMETER_TOO_BUSY.
pub const MAX_WORKER_THREADS: usize = 1024;

/// How long an idle worker thread waits for work before it exits.
pub const WORKER_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// python's default `send_request` timeout (30 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// python's default `wait_for_ready` timeout (30 s).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `stop` waits for handlers still running before it returns.
const STOP_WAIT: Duration = Duration::from_secs(5);

// ---- what send_request, send_answer and generate_answer take ----

/// What a [`ThreadingApplication`] runs for each request (python's
/// `ThreadingApplication` subclass with its `handle_request` and
/// `handle_answer`), with state of the user's own type in `self`; `app` is
/// the application, for `app.generate_answer`, `app.send_request`,
/// `app.node()` and the rest of python's `self.` calls.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use diameter::message::constants::*;
/// use diameter::message::Message;
/// use diameter::node::application::{AppBase, HandlerResult, RequestHandler, ThreadingApplication};
///
/// /// python: `class Counter(ThreadingApplication)` with `self.handled = 0`
/// #[derive(Default)]
/// struct Counter {
///     handled: AtomicU64,
/// }
///
/// impl RequestHandler for Counter {
///     fn handle_request(&self, app: &AppBase, message: Message) -> HandlerResult {
///         self.handled.fetch_add(1, Ordering::Relaxed);
///         // return self.generate_answer(message, E_RESULT_CODE_DIAMETER_SUCCESS)
///         Ok(Some(app.generate_answer(&message, E_RESULT_CODE_DIAMETER_SUCCESS, None)?))
///     }
/// }
///
/// // Counter(APP_DIAMETER_CREDIT_CONTROL_APPLICATION, is_auth_application=True, max_threads=8)
/// let app = ThreadingApplication::with_handler(
///     AppBase::auth(APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
///     8,
///     Counter::default(),
/// );
/// assert_eq!(app.handler().handled.load(Ordering::Relaxed), 0);
/// assert_eq!(app.to_string(), "<Diameter Credit Control Application (4)>");
/// ```
pub trait RequestHandler: Send + Sync + 'static {
    /// Handles one request on a worker thread and returns its answer (or
    /// none); an error or a panic is answered 5012.
    fn handle_request(&self, app: &AppBase, request: Message) -> HandlerResult;

    /// Called on the event loop for answers whose caller stopped waiting
    /// (python's `handle_answer`); must be quick. Drops them by default.
    fn handle_answer(&self, app: &AppBase, answer: Message) {
        let _ = app;
        debug!(target: "diameter.application", "unexpected answer {answer} dropped");
    }
}

/// The handler of [`ThreadingApplication::new`]: a closure
/// `f(app, request)` (python's `request_handler`).
pub struct FnHandler(Box<HandlerFn>);

/// The closure a [`FnHandler`] holds.
type HandlerFn = dyn Fn(&AppBase, Message) -> HandlerResult + Send + Sync;

impl RequestHandler for FnHandler {
    fn handle_request(&self, app: &AppBase, request: Message) -> HandlerResult {
        (self.0)(app, request)
    }
}

impl fmt::Debug for FnHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnHandler")
    }
}

/// An application whose requests are handled on worker threads, at most
/// `max_threads` at once (0: up to [`MAX_WORKER_THREADS`]); the handler's
/// answer is sent back (python's `ThreadingApplication` and
/// `SimpleThreadingApplication`). When every worker is busy a request is
/// answered 3004 DIAMETER_TOO_BUSY at once; the event loop never waits for
/// the pool. Idle workers park, and exit after [`WORKER_KEEP_ALIVE`]; the
/// node's `stop()` joins them.
///
/// It dereferences to its [`AppBase`], so python's calls on the application
/// work as written: `app.send_request(...)`, `app.wait_for_ready(...)`,
/// `app.node()`, `app.is_ready()`. `H` is the handler: a closure
/// ([`new`](Self::new)) or a [`RequestHandler`] of your own type
/// ([`with_handler`](Self::with_handler)), reachable with
/// [`handler`](Self::handler).
pub struct ThreadingApplication<H: RequestHandler = FnHandler> {
    base: AppBase,
    handler: Arc<H>,
    /// Handlers running now, and the most at once.
    running: Arc<AtomicUsize>,
    limit: usize,
    pool: Arc<WorkerPool>,
}

impl ThreadingApplication<FnHandler> {
    /// An application calling `handler(app, request)` on a worker thread for
    /// each request (python's `SimpleThreadingApplication(..., max_threads,
    /// request_handler)`).
    pub fn new(
        base: AppBase,
        max_threads: usize,
        handler: impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
    ) -> Arc<ThreadingApplication> {
        Self::with_handler(base, max_threads, FnHandler(Box::new(handler)))
    }

    /// An application that only sends requests (python's
    /// `SimpleThreadingApplication` without `request_handler`): requests it
    /// receives get no answer from it.
    pub fn without_handler(base: AppBase, max_threads: usize) -> Arc<ThreadingApplication> {
        Self::new(base, max_threads, |_, _| Ok(None))
    }

    /// [`new`](Self::new) with another idle-worker keep-alive.
    pub fn with_keep_alive(
        base: AppBase,
        max_threads: usize,
        keep_alive: Duration,
        handler: impl Fn(&AppBase, Message) -> HandlerResult + Send + Sync + 'static,
    ) -> Arc<ThreadingApplication> {
        ThreadingApplication::build(base, max_threads, keep_alive, FnHandler(Box::new(handler)))
    }
}

impl<H: RequestHandler> ThreadingApplication<H> {
    /// An application whose requests go to `handler`, a value of your own
    /// type implementing [`RequestHandler`] (python's `ThreadingApplication`
    /// subclass, `max_threads` as python's).
    pub fn with_handler(
        base: AppBase,
        max_threads: usize,
        handler: H,
    ) -> Arc<ThreadingApplication<H>> {
        Self::build(base, max_threads, WORKER_KEEP_ALIVE, handler)
    }

    fn build(base: AppBase, max_threads: usize, keep_alive: Duration, handler: H) -> Arc<Self> {
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

    /// The handler (the state of a [`RequestHandler`] of your own type).
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The application's base: id, node link and readiness.
    pub fn app_base(&self) -> &AppBase {
        &self.base
    }

    /// Requests being handled right now.
    pub fn busy(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Worker threads alive now (busy or idle).
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// The most requests handled at once (python's `max_threads`; 0 became
    /// [`MAX_WORKER_THREADS`]).
    pub fn max_threads(&self) -> usize {
        self.limit
    }

    fn answer_too_busy(&self, request: &Message) {
        let Ok(handle) = self.base.shared() else {
            return;
        };
        let answer = self.base.answer_on(
            handle,
            request,
            Some(E_RESULT_CODE_DIAMETER_TOO_BUSY),
            Some("Insufficient resources to handle the request"),
        );
        if let Err(e) = self.base.send_answer(&answer) {
            debug!(target: "diameter.application", "cannot send 3004: {e}");
        }
    }
}

impl<H: RequestHandler> Deref for ThreadingApplication<H> {
    type Target = AppBase;
    fn deref(&self) -> &AppBase {
        &self.base
    }
}

impl<H: RequestHandler> fmt::Display for ThreadingApplication<H> {
    /// python's `str(app)`: `<Diameter Credit Control Application (4)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.base, f)
    }
}

impl<H: RequestHandler> fmt::Debug for ThreadingApplication<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadingApplication")
            .field("base", &self.base)
            .field("max_threads", &self.limit)
            .finish()
    }
}

/// Runs the handler for one request on a worker and sends its answer;
/// `running` is released as soon as the handler returns.
fn run_handler<H: RequestHandler>(
    base: &AppBase,
    handler: &H,
    running: &AtomicUsize,
    request: Message,
) {
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
    let outcome = catch_unwind(AssertUnwindSafe(|| handler.handle_request(base, request)));
    running.fetch_sub(1, Ordering::AcqRel);
    let failed = |what: &dyn fmt::Display| {
        debug!(target: "diameter.application", "handler failed for {stub}: {what}");
        base.shared().ok().map(|handle| {
            base.answer_on(
                handle,
                &stub,
                Some(E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY),
                None,
            )
        })
    };
    let answer = match outcome {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => failed(&e),
        Err(_) => failed(&"panic"),
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

impl<H: RequestHandler> Application for ThreadingApplication<H> {
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
        // it is closed (the node stops) or a thread cannot be spawned; on
        // the node's loop the job may wait for a running worker
        if self.pool.try_execute(job, self.base.handoffs()).is_err() {
            self.running.fetch_sub(1, Ordering::AcqRel);
            debug!(target: "diameter.application", "no worker could take a request (stopping?)");
        }
    }

    fn handle_answer(&self, answer: Message) {
        self.handler.handle_answer(&self.base, answer);
    }

    fn request_limit(&self) -> Option<usize> {
        Some(self.limit)
    }

    fn stop(&self) {
        if !self.pool.shutdown(STOP_WAIT) {
            warn!(target: "diameter.application", "some handlers did not finish within {STOP_WAIT:?}");
        }
    }
}
