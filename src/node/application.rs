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
use std::sync::Arc;
use std::time::Duration;

use log::{debug, warn};

use super::pool::{PoolConfig, WorkerPool};
use crate::message::constants::*;
use crate::message::Message;

pub use super::error::{ApplicationError, EmptyReason};
pub use super::handle::{AppBase, Application, NodeRef};

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
