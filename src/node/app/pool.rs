//! A bounded pool of worker threads, the engine under `ThreadingApplication`
//! (python's `ThreadingApplication`: each request is handled on a worker
//! thread, at most `max_threads` at once, 0 meaning no fixed limit).
//!
//! [`WorkerPool::try_execute`] never queues work behind busy workers: it
//! accepts a job only while fewer than [`WorkerPool::limit`] jobs are in
//! hand, and otherwise gives it straight back, so the event loop can answer
//! 3004 DIAMETER_TOO_BUSY at once.
//!
//! ```text
//! try_execute --lock--+-- closed, or busy == limit ------------------> Err(job)
//!                     +-- queue it; nobody searching: wake or start one -> Ok
//! ```
//!
//! How it works:
//! - One mutex guards the queue and the bookkeeping. A worker is running a
//!   job, *searching* (awake, about to look at the queue) or parked on its
//!   own condvar.
//! - Every queued job has a searching worker where one exists: when jobs
//!   outnumber the searchers, `try_execute` and a worker that takes a job
//!   wake a parked worker, and start a new one only when nobody searches.
//!   A handler that blocks therefore never holds up the jobs behind it,
//!   and under load jobs change hands without a wake-up each: a worker that
//!   finishes takes the next job itself, and one that finds none looks again
//!   for a few microseconds before it parks.
//! - The queue never holds more than `limit` jobs: `busy` counts queued and
//!   running jobs, and `busy <= limit`.
//! - Hand-off on the node's loop (see [`Handoffs`], which the loop owns,
//!   and [`HandoffDesk`], which the node gives its applications): when the
//!   event loop queues a job while every worker is in a job and the pool's
//!   jobs are quick (their average run time under [`QUICK_JOB`]), nobody is
//!   woken: the first worker to finish takes it, so a burst of cheap
//!   requests runs on one or two threads without a wake-up per job. A job
//!   that waits longer than [`HANDOFF_WAIT`] gets a worker anyway: one that
//!   takes a job checks the wait of the next, and the loop checks the pools
//!   it queued to after every turn (and sleeps no longer than that), so a
//!   handler that blocks still never holds up the jobs behind it. A job
//!   queued on any other thread gets a worker at once.
//! - Parked workers form a LIFO stack: the most recently parked one is woken
//!   first, so under light load the surplus workers stay parked long enough
//!   to reach their `keep_alive` and exit.
//! - A worker that exits leaves its `JoinHandle` behind; the next spawn and
//!   [`WorkerPool::shutdown`] join the finished ones, so they do not pile up.
//! - Workers hold the shared state, never the [`WorkerPool`]: dropping the
//!   pool closes it without waiting; parked workers exit at once and the
//!   others once the queue is empty. Accepted jobs always run.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use log::warn;
use parking_lot::{Condvar, Mutex, MutexGuard};

/// Log target (python's logger name).
const TARGET: &str = "diameter.application";

/// Default [`PoolConfig::hard_cap`].
pub(crate) const DEFAULT_HARD_CAP: usize = 1024;

/// Default [`PoolConfig::keep_alive`].
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Steps of [`look_again`] that spin (2^step times each) ...
const SPIN_STEPS: u32 = 6;

/// ... and its last step: the ones after `SPIN_STEPS` yield the core.
const LOOK_STEPS: u32 = 10;

/// How long the only searching worker keeps looking before it parks.
const LOOK_ALONE: Duration = Duration::from_micros(50);

/// A pool whose jobs take less than this on average (moving average over
/// the last few) hands jobs queued by the node's loop to the workers
/// already running instead of waking one per job.
pub(crate) const QUICK_JOB: Duration = Duration::from_micros(25);

/// How long a job handed off that way may wait before a worker is woken or
/// started for it anyway.
pub(crate) const HANDOFF_WAIT: Duration = Duration::from_micros(500);

/// Work handed to the pool.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Settings of a [`WorkerPool`].
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    /// Most jobs running at once; 0 = no fixed limit (then `hard_cap` applies).
    pub max_threads: usize,
    /// Absolute ceiling on threads whatever `max_threads` says (default 1024).
    pub hard_cap: usize,
    /// How long an idle worker waits for work before its thread exits
    /// (default 10 s; `Duration::MAX` keeps idle workers until the pool
    /// closes).
    pub keep_alive: Duration,
    /// Thread name (NUL characters are left out).
    pub name: String,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_threads: 0,
            hard_cap: DEFAULT_HARD_CAP,
            keep_alive: DEFAULT_KEEP_ALIVE,
            name: "diameter-app".into(),
        }
    }
}

/// The pools' side of a node's hand-off (see [`Handoffs`]): which thread is
/// the node's event loop, and the pools that loop handed a job to and has
/// not looked at yet. Shared by the node, its applications and its loop.
#[derive(Default)]
pub(crate) struct HandoffDesk {
    /// The loop's thread, once it runs: only jobs queued there may wait for
    /// a running worker.
    loop_thread: OnceLock<ThreadId>,
    /// Pools the loop handed their first job to since it last looked (each
    /// pool comes here once: the lock is taken once per pool).
    joined: Mutex<Vec<Weak<Inner>>>,
    /// `joined` is not empty: what the loop reads every turn, without the
    /// lock.
    fresh: AtomicBool,
}

impl HandoffDesk {
    /// Whether the calling thread is the loop this desk serves.
    fn on_loop(&self) -> bool {
        self.loop_thread
            .get()
            .is_some_and(|id| *id == thread::current().id())
    }

    /// Tells the loop about a pool it handed a job to (once per pool; on the
    /// loop's thread).
    fn join(&self, inner: &Arc<Inner>) {
        if inner.joined.load(Ordering::Relaxed) {
            return;
        }
        inner.joined.store(true, Ordering::Relaxed);
        self.joined.lock().push(Arc::downgrade(inner));
        self.fresh.store(true, Ordering::Release);
    }
}

impl fmt::Debug for HandoffDesk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandoffDesk")
            .field("loop_thread", &self.loop_thread.get())
            .finish()
    }
}

/// The node's event loop's hold on the jobs it hands to worker pools,
/// owned by the loop: it comes back to them after every turn
/// ([`check`](Self::check)) and sleeps no longer than
/// [`deadline`](Self::deadline) says, so jobs it queues to a busy pool of
/// quick handlers may wait for a running worker instead of waking one. It
/// knows only the pools the loop handed jobs to (through a
/// [`WorkerPool::try_execute`] given its [`HandoffDesk`]).
pub(crate) struct Handoffs {
    /// What the pools see.
    desk: Arc<HandoffDesk>,
    /// Every pool the loop handed a job to, once each.
    served: Vec<Weak<Inner>>,
}

impl Handoffs {
    /// The loop's side of `desk`, serving no thread yet.
    pub(crate) fn new(desk: Arc<HandoffDesk>) -> Handoffs {
        Handoffs {
            desk,
            served: Vec::new(),
        }
    }

    /// Makes the calling thread the loop: it calls [`check`](Self::check)
    /// after every turn (a desk serves one thread, the first to call this).
    pub(crate) fn serve_this_thread(&self) {
        let _ = self.desk.loop_thread.set(thread::current().id());
    }

    /// Takes in the pools that joined since the last look (an atomic read
    /// when none did).
    fn take_joined(&mut self) {
        if self.desk.fresh.load(Ordering::Acquire) {
            self.desk.fresh.store(false, Ordering::Relaxed);
            self.served.append(&mut self.desk.joined.lock());
        }
    }

    /// Whether a pool the loop handed jobs to has some in hand and runs
    /// quick ones: their answers are due within microseconds, so the loop
    /// had better look for them than sleep.
    pub(crate) fn quick_jobs_in_hand(&mut self) -> bool {
        self.take_joined();
        self.served.iter().any(|weak| {
            weak.upgrade()
                .is_some_and(|inner| inner.in_hand.load(Ordering::Acquire) > 0 && inner.quick())
        })
    }

    /// When the loop must next call [`check`](Self::check): `None` while no
    /// job it queued waits for a running worker.
    pub(crate) fn deadline(&mut self, now: Instant) -> Option<Instant> {
        self.take_joined();
        let waiting = self.served.iter().any(|weak| {
            weak.upgrade()
                .is_some_and(|inner| inner.handoff.load(Ordering::Acquire))
        });
        waiting.then(|| now + HANDOFF_WAIT)
    }

    /// Wakes or starts a worker for each pool, among those the loop handed
    /// jobs to without waking one, whose next job has waited
    /// [`HANDOFF_WAIT`] with nobody searching (its workers may all be
    /// blocked); ends the hand-off of the pools whose queue is empty, and
    /// forgets the pools that are gone.
    pub(crate) fn check(&mut self, now: Instant) {
        self.take_joined();
        self.served.retain(|weak| {
            let Some(inner) = weak.upgrade() else {
                return false;
            };
            if inner.handoff.load(Ordering::Acquire) {
                check_handoff(&inner, now);
            }
            true
        });
    }
}

/// [`Handoffs::check`] on one pool whose jobs wait for running workers.
fn check_handoff(inner: &Arc<Inner>, now: Instant) {
    let mut state = inner.state.lock();
    let Some(&(queued_at, _)) = state.queue.front() else {
        inner.handoff.store(false, Ordering::Release);
        return;
    };
    let next = if state.searching == 0 && now >= queued_at + HANDOFF_WAIT {
        state.add_searcher(inner.limit)
    } else {
        None
    };
    drop(state);
    if let Some(idx) = next {
        spawn(inner, idx);
    }
}

/// A bounded pool of worker threads (see the module docs). `Send + Sync`,
/// used behind an `Arc`; dropping it closes the pool without waiting.
pub(crate) struct WorkerPool {
    /// The state shared with the workers.
    inner: Arc<Inner>,
}

/// What the pool and its workers share.
struct Inner {
    /// The queue and all bookkeeping, under one lock.
    state: Mutex<State>,
    /// Jobs in the queue, readable without the lock: what a worker looking
    /// again before it parks watches.
    queued: AtomicUsize,
    /// Jobs accepted and not finished (`State::busy`), readable without the
    /// lock.
    in_hand: AtomicUsize,
    /// Moving average of how long a job runs, in nanoseconds.
    job_nanos: AtomicU64,
    /// Jobs queued by the node's loop wait for running workers (see
    /// [`Handoffs::check`]); written under the `state` lock.
    handoff: AtomicBool,
    /// The loop has been told about this pool ([`HandoffDesk::join`]; a
    /// pool joins one desk, its application's node's).
    joined: AtomicBool,
    /// Signalled when a worker exits, a spawn settles or a join ends: what
    /// `shutdown` waits for.
    changed: Condvar,
    /// Most jobs accepted and not finished.
    limit: usize,
    /// How long an idle worker waits before it exits.
    keep_alive: Duration,
    /// Thread name.
    name: String,
}

impl Inner {
    /// Whether its jobs run under [`QUICK_JOB`] on average.
    fn quick(&self) -> bool {
        self.job_nanos.load(Ordering::Relaxed) < QUICK_JOB.as_nanos() as u64
    }
}

/// The pool's bookkeeping. Between critical sections: `busy <= limit`,
/// `threads == running + searching + parked`, and a non-empty queue has a
/// searching worker (or one being started).
struct State {
    /// No more jobs are accepted; workers exit once the queue is empty.
    closed: bool,
    /// Jobs accepted and not finished (queued or running).
    busy: usize,
    /// Accepted jobs no worker has taken yet, with when they were queued.
    queue: VecDeque<(Instant, Job)>,
    /// Live workers, counting a thread being spawned.
    threads: usize,
    /// Workers awake and about to look at the queue (counting one being
    /// spawned).
    searching: usize,
    /// Parked workers' slots, most recently parked last.
    parked: Vec<usize>,
    /// One per live worker, reused after it exits.
    slots: Vec<Slot>,
    /// Indices in `slots` with no worker.
    free: Vec<usize>,
    /// Threads spawned and not joined yet.
    handles: Vec<JoinHandle<()>>,
    /// Workers that exited since the last reaping (a hint that `handles`
    /// holds finished threads).
    exited: usize,
    /// Threads being spawned whose handle is not in `handles` yet.
    spawning: usize,
    /// Handles taken out of `handles` and being joined.
    joining: usize,
}

/// One worker's parking place.
struct Slot {
    /// The worker's thread, from its first look at the queue until it
    /// leaves: how `shutdown` called from a job knows its own thread.
    worker: Option<ThreadId>,
    /// Set by whoever wakes the worker (it was taken off `parked`).
    woken: bool,
    /// What the worker parks on.
    wake: Arc<Condvar>,
}

impl State {
    /// A slot with no worker.
    fn alloc_slot(&mut self) -> usize {
        if let Some(idx) = self.free.pop() {
            self.slots[idx].woken = false;
            self.slots[idx].worker = None;
            return idx;
        }
        self.slots.push(Slot {
            worker: None,
            woken: false,
            wake: Arc::new(Condvar::new()),
        });
        self.slots.len() - 1
    }

    /// Called when jobs may outnumber the searching workers: wakes the most
    /// recently parked worker, or, when nobody searches at all, reserves a
    /// new one if there is room: the slot the caller must [`spawn`] once
    /// the lock is released.
    #[must_use]
    fn add_searcher(&mut self, limit: usize) -> Option<usize> {
        if self.queue.len() <= self.searching {
            return None;
        }
        if let Some(idx) = self.parked.pop() {
            self.wake_parked(idx);
            return None;
        }
        if self.searching > 0 || self.threads >= limit || self.spawning > 0 {
            // a new thread only when every thread runs a job (a handler that
            // blocks must not hold up the queue); else the searchers take
            // the jobs in turn, and no thread is started for a burst of quick
            // ones
            return None;
        }
        let idx = self.alloc_slot();
        self.threads += 1;
        self.searching += 1;
        self.spawning += 1;
        Some(idx)
    }

    /// Wakes the worker of slot `idx`, just taken off `parked`: it counts
    /// as searching from now on.
    fn wake_parked(&mut self, idx: usize) {
        self.slots[idx].woken = true;
        self.searching += 1;
        self.slots[idx].wake.notify_one();
    }

    /// Stops accepting jobs and wakes every parked worker so that it exits.
    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        while let Some(idx) = self.parked.pop() {
            self.wake_parked(idx);
        }
    }

    /// Takes out the handles `pick` chooses and counts them as being joined.
    fn take_handles(
        &mut self,
        mut pick: impl FnMut(&JoinHandle<()>) -> bool,
    ) -> Vec<JoinHandle<()>> {
        let mut taken = Vec::new();
        let mut i = 0;
        while i < self.handles.len() {
            if pick(&self.handles[i]) {
                taken.push(self.handles.swap_remove(i));
            } else {
                i += 1;
            }
        }
        self.joining += taken.len();
        self.exited = self.exited.saturating_sub(taken.len());
        taken
    }

    /// Whether every worker but `own` (0 or 1: the caller's own thread)
    /// has exited and every handle is in `handles` and not being joined.
    fn settled(&self, own: usize) -> bool {
        self.threads <= own && self.spawning == 0 && self.joining == 0
    }
}

impl WorkerPool {
    /// An open pool with no threads yet.
    pub(crate) fn new(config: PoolConfig) -> Arc<WorkerPool> {
        let limit = match config.max_threads {
            0 => config.hard_cap,
            n => n.min(config.hard_cap),
        };
        Arc::new(WorkerPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    closed: false,
                    busy: 0,
                    queue: VecDeque::new(),
                    threads: 0,
                    searching: 0,
                    parked: Vec::new(),
                    slots: Vec::new(),
                    free: Vec::new(),
                    handles: Vec::new(),
                    exited: 0,
                    spawning: 0,
                    joining: 0,
                }),
                queued: AtomicUsize::new(0),
                in_hand: AtomicUsize::new(0),
                job_nanos: AtomicU64::new(0),
                handoff: AtomicBool::new(false),
                joined: AtomicBool::new(false),
                changed: Condvar::new(),
                limit,
                keep_alive: config.keep_alive,
                // a NUL in a thread name would make the spawn panic
                name: config.name.replace('\0', ""),
            }),
        })
    }

    /// Accepts `job` for a worker. Never blocks on busy workers: when
    /// `limit()` jobs are already accepted and not finished (running or
    /// queued), or the pool is closed, or no thread exists and none can be
    /// started, gives the job back: `Err(job)`. `desk`: the hand-off desk of
    /// the node the pool works for; when the caller is that node's loop, a
    /// job queued behind a worker in a quick job may wait for it (see
    /// [`Handoffs`]). Anywhere else, or with `None`, a worker is woken or
    /// started for it at once.
    pub(crate) fn try_execute(&self, job: Job, desk: Option<&HandoffDesk>) -> Result<(), Job> {
        let inner = &*self.inner;
        let desk = desk.filter(|desk| desk.on_loop());
        let mut state = inner.state.lock();
        if state.closed || state.busy >= inner.limit {
            return Err(job);
        }
        state.busy += 1;
        inner.in_hand.store(state.busy, Ordering::Release);
        let now = Instant::now();
        state.queue.push_back((now, job));
        inner.queued.store(state.queue.len(), Ordering::Release);
        let running = state.busy - state.queue.len();
        let next = if desk.is_some() && (running > 0 || state.searching > 0) && inner.quick() {
            // a worker is about to take it, or one in a quick job will
            // soon; the loop comes back to it if none has in HANDOFF_WAIT
            inner.handoff.store(true, Ordering::Release);
            None
        } else {
            state.add_searcher(inner.limit)
        };
        drop(state);
        if let Some(desk) = desk {
            desk.join(&self.inner);
        }
        let Some(idx) = next else {
            return Ok(());
        };
        if spawn(&self.inner, idx) {
            return Ok(());
        }
        // nobody may be left to take it: give the newest job back
        let mut state = inner.state.lock();
        if state.threads > 0 {
            return Ok(());
        }
        match state.queue.pop_back() {
            Some((_, job)) => {
                inner.queued.store(state.queue.len(), Ordering::Release);
                state.busy -= 1;
                inner.in_hand.store(state.busy, Ordering::Release);
                Err(job)
            }
            None => Ok(()),
        }
    }

    /// The effective limit: `max_threads` if non-zero (but never above
    /// `hard_cap`), else `hard_cap`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Jobs accepted and not finished.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn busy(&self) -> usize {
        self.inner.state.lock().busy
    }

    /// Live worker threads (busy or idle), counting one being spawned and
    /// not counting one that has left its loop and is ending.
    pub(crate) fn threads(&self) -> usize {
        self.inner.state.lock().threads
    }

    /// Closes the pool: further `try_execute` fail; idle workers exit at
    /// once; waits up to `timeout` for running jobs to finish, then joins
    /// every thread that finished. Returns true when every worker thread was
    /// joined. Idempotent; callable from any thread. Called from inside one
    /// of this pool's jobs, it waits for the other jobs only, never joins its
    /// own thread and returns false (two jobs shutting down their pool wait
    /// for each other until their timeouts).
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let inner = &*self.inner;
        let deadline = Instant::now().checked_add(timeout);
        let me = thread::current().id();

        let mut state = inner.state.lock();
        // a worker of this pool (it runs the job that called this) is
        // known by its slot from before it took a job until it leaves
        let inside = state.slots.iter().any(|slot| slot.worker == Some(me));
        let own = usize::from(inside);
        state.close();
        let mut stopped = state.settled(own);
        while !stopped {
            let timed_out = match deadline {
                Some(deadline) => inner.changed.wait_until(&mut state, deadline).timed_out(),
                None => {
                    inner.changed.wait(&mut state);
                    false
                }
            };
            stopped = state.settled(own);
            if timed_out {
                break;
            }
        }
        // once settled every other worker has left its loop, so joining it
        // returns at once; otherwise only threads already finished are joined
        let handles = state.take_handles(|h| (stopped || h.is_finished()) && h.thread().id() != me);
        let left = state.handles.len();
        drop(state);

        let joined = handles.len();
        join_all(handles, &inner.name);
        inner.state.lock().joining -= joined;
        inner.changed.notify_all();
        stopped && !inside && left == 0
    }
}

impl Drop for WorkerPool {
    /// Closes the pool without waiting: parked workers exit at once, the
    /// others once the queue is empty.
    fn drop(&mut self) {
        self.inner.state.lock().close();
    }
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("WorkerPool")
            .field("name", &self.inner.name)
            .field("limit", &self.inner.limit)
            .field("busy", &state.busy)
            .field("threads", &state.threads)
            .field("closed", &state.closed)
            .finish()
    }
}

/// Starts the worker of slot `idx` (already counted in `threads`,
/// `searching` and `spawning`), joining finished threads on the way, then
/// the searcher a queued job was refused while it was being started (see
/// [`start_one`]). False when the first thread could not be started (its
/// counts are undone).
fn spawn(inner: &Arc<Inner>, idx: usize) -> bool {
    let (started, mut next) = start_one(inner, idx);
    while let Some(idx) = next {
        next = start_one(inner, idx).1;
    }
    started
}

/// [`spawn`] for one thread: whether it started, and then the slot of a
/// worker to start next. The new worker may have taken a job before its
/// start was counted here, and, seeing `spawning`, started nobody for the
/// job behind it: that job gets its searcher now.
fn start_one(inner: &Arc<Inner>, idx: usize) -> (bool, Option<usize>) {
    let (wake, reaped) = {
        let mut state = inner.state.lock();
        let reaped = if state.exited > 0 {
            state.take_handles(JoinHandle::is_finished)
        } else {
            Vec::new()
        };
        (Arc::clone(&state.slots[idx].wake), reaped)
    };
    let shared = Arc::clone(inner);
    let spawned = thread::Builder::new()
        .name(inner.name.clone())
        .spawn(move || work(&shared, idx, &wake));
    let reaped_count = reaped.len();
    // finished threads: each join returns at once
    join_all(reaped, &inner.name);

    let mut state = inner.state.lock();
    state.spawning -= 1;
    state.joining -= reaped_count;
    let started = match spawned {
        Ok(handle) => {
            state.handles.push(handle);
            true
        }
        Err(e) => {
            state.threads -= 1;
            state.searching -= 1;
            state.free.push(idx);
            warn!(target: TARGET, "{}: cannot start a worker thread: {e}", inner.name);
            false
        }
    };
    let next = if started {
        searcher_for_next(inner, &mut state)
    } else {
        None
    };
    drop(state);
    inner.changed.notify_all();
    (started, next)
}

/// A worker's life: takes jobs from the queue and runs them, parks on
/// `wake` when it is empty until woken; exits when the pool is closed and
/// the queue empty, or `keep_alive` passes parked.
fn work(inner: &Arc<Inner>, idx: usize, wake: &Condvar) {
    let mut state = inner.state.lock();
    state.slots[idx].worker = Some(thread::current().id());
    let mut spun = false;
    // jobs run back to back since this worker last found the queue empty
    let mut streak = 0u32;
    loop {
        // searching
        if let Some((_, job)) = state.queue.pop_front() {
            streak = streak.saturating_add(1);
            let next = took_job(inner, &mut state);
            MutexGuard::unlocked(&mut state, || {
                if let Some(next) = next {
                    spawn(inner, next);
                }
                // one job in four is timed: enough for the average
                run_timed(inner, job, streak % 4 == 1);
            });
            state.busy -= 1;
            inner.in_hand.store(state.busy, Ordering::Release);
            state.searching += 1;
            spun = false;
        } else if state.closed {
            break;
        } else if !spun {
            // work often comes right behind: look again for a moment (still
            // searching, so nobody is woken for it) before parking
            spun = true;
            // with nothing else running or queued, the only searcher looks
            // longer: the next request or batch then needs no wake-up
            let alone = state.searching == 1 && state.busy == 0;
            streak = 0;
            MutexGuard::unlocked(&mut state, || look_again(inner, alone));
        } else if park(&mut state, idx, wake, inner.keep_alive) {
            spun = false;
        } else {
            break;
        }
    }
    leave(inner, state, idx);
}

/// Bookkeeping of a worker that just took a job off the queue: it stops
/// searching, and the next job gets a searcher (see [`searcher_for_next`]).
/// Returns the slot the caller must [`spawn`] once the lock is released.
#[must_use]
fn took_job(inner: &Inner, state: &mut State) -> Option<usize> {
    inner.queued.store(state.queue.len(), Ordering::Release);
    state.searching -= 1;
    searcher_for_next(inner, state)
}

/// [`State::add_searcher`] for the job at the head of the queue, unless
/// the loop hands it to a worker that finishes and it has not waited
/// [`HANDOFF_WAIT`] yet: the slot the caller must [`spawn`] once the lock
/// is released.
#[must_use]
fn searcher_for_next(inner: &Inner, state: &mut State) -> Option<usize> {
    match state.queue.front() {
        None => None,
        Some(&(queued_at, _))
            if inner.handoff.load(Ordering::Relaxed)
                && Instant::now() < queued_at + HANDOFF_WAIT =>
        {
            None
        }
        Some(_) => state.add_searcher(inner.limit),
    }
}

/// Runs `job`; when `timed`, folds how long it took into the pool's
/// moving average.
fn run_timed(inner: &Inner, job: Job, timed: bool) {
    let started = timed.then(Instant::now);
    run(job, &inner.name);
    if let Some(started) = started {
        let took = started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        let avg = inner.job_nanos.load(Ordering::Relaxed);
        inner
            .job_nanos
            .store(avg - avg / 8 + took / 8, Ordering::Relaxed);
    }
}

/// Parks the worker of slot `idx` until it is woken (taken off `parked`
/// and counted as searching again: true) or `keep_alive` passes (false:
/// it leaves, still counted as searching).
fn park(
    state: &mut MutexGuard<'_, State>,
    idx: usize,
    wake: &Condvar,
    keep_alive: Duration,
) -> bool {
    state.searching -= 1;
    state.slots[idx].woken = false;
    state.parked.push(idx);
    // `None`: a keep-alive too long to add to now, i.e. wait for ever
    let deadline = Instant::now().checked_add(keep_alive);
    while !state.slots[idx].woken {
        let timed_out = match deadline {
            Some(deadline) => wake.wait_until(state, deadline).timed_out(),
            None => {
                wake.wait(state);
                false
            }
        };
        if timed_out && !state.slots[idx].woken {
            // idle for the whole keep-alive: leave
            if let Some(pos) = state.parked.iter().position(|&i| i == idx) {
                state.parked.remove(pos);
            }
            state.searching += 1;
            return false;
        }
    }
    true
}

/// The end of a worker that leaves its loop while counted as searching: a
/// queued job needs another.
fn leave(inner: &Arc<Inner>, mut state: MutexGuard<'_, State>, idx: usize) {
    state.searching -= 1;
    state.threads -= 1;
    state.exited += 1;
    state.slots[idx].worker = None;
    state.free.push(idx);
    let next = state.add_searcher(inner.limit);
    drop(state);
    if let Some(next) = next {
        spawn(inner, next);
    }
    inner.changed.notify_all();
}

/// Spins, then yields, for a few microseconds or until a job is queued (the
/// pattern of crossbeam's `Backoff`): under load the next request usually
/// arrives within that time, and taking it costs no wake-up. `alone` (the
/// pool's only searching worker) goes on yielding for up to `LOOK_ALONE`.
fn look_again(inner: &Inner, alone: bool) {
    let queued = || inner.queued.load(Ordering::Acquire) > 0;
    for step in 0..=LOOK_STEPS {
        if queued() {
            return;
        }
        if step <= SPIN_STEPS {
            for _ in 0..1u32 << step {
                std::hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
    }
    if alone {
        let until = Instant::now() + LOOK_ALONE;
        while !queued() && Instant::now() < until {
            thread::yield_now();
        }
    }
}

/// Runs `job`; a panic is caught and logged, and the job counts as finished.
fn run(job: Job, name: &str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
        warn!(target: TARGET, "{name}: a job panicked: {}", panic_message(&*payload));
        // a payload whose own drop panics must not end the worker either
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// The message of a panic payload, when it is a string.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Joins finished worker threads, logging any that panicked outside a job.
fn join_all(handles: Vec<JoinHandle<()>>, name: &str) {
    for handle in handles {
        if handle.join().is_err() {
            warn!(target: TARGET, "{name}: a worker thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Generous deadline for anything a test waits for.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// Polls `cond` until it holds (true) or `PATIENCE` runs out (false).
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if cond() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// A test pool's settings.
    fn config(max_threads: usize) -> PoolConfig {
        PoolConfig {
            max_threads,
            name: "pool-test".into(),
            ..PoolConfig::default()
        }
    }

    /// A job that says it started, then blocks until `release` yields a
    /// message or is disconnected.
    fn blocking_job(started: &Sender<()>, release: &Receiver<()>) -> Job {
        let (started, release) = (started.clone(), release.clone());
        Box::new(move || {
            let _ = started.send(());
            let _ = release.recv();
        })
    }

    /// Runs one job and waits until it has run.
    fn runs_a_job(pool: &WorkerPool) -> bool {
        runs_a_job_with(pool, None)
    }

    /// Runs one job, queued with the hand-off desk `desk`, and waits until
    /// it has run.
    fn runs_a_job_with(pool: &WorkerPool, desk: Option<&HandoffDesk>) -> bool {
        let (done_tx, done_rx) = bounded(1);
        let job: Job = Box::new(move || {
            let _ = done_tx.send(());
        });
        pool.try_execute(job, desk).is_ok() && done_rx.recv_timeout(PATIENCE).is_ok()
    }

    /// A node's hand-off desk and its loop's side of it.
    fn handoffs() -> (Arc<HandoffDesk>, Handoffs) {
        let desk = Arc::new(HandoffDesk::default());
        let handoffs = Handoffs::new(Arc::clone(&desk));
        (desk, handoffs)
    }

    /// Fills the pool with `n` blocking jobs, all started; dropping the
    /// returned sender releases them.
    fn fill(pool: &WorkerPool, n: usize) -> Sender<()> {
        let (started_tx, started_rx) = unbounded();
        let (release_tx, release_rx) = unbounded();
        for _ in 0..n {
            assert!(pool
                .try_execute(blocking_job(&started_tx, &release_rx), None)
                .is_ok());
        }
        for _ in 0..n {
            assert!(started_rx.recv_timeout(PATIENCE).is_ok());
        }
        release_tx
    }

    /// The pool can be shared across threads behind an `Arc`.
    #[test]
    fn pool_is_send_sync() {
        /// Compiles only for `Send + Sync` types.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<WorkerPool>();
        assert_send_sync::<Arc<WorkerPool>>();
    }

    /// `limit()` is `max_threads` capped by `hard_cap`, or `hard_cap` for 0.
    #[test]
    fn limit_follows_max_threads_and_hard_cap() {
        assert_eq!(WorkerPool::new(config(2)).limit(), 2);
        assert_eq!(WorkerPool::new(config(0)).limit(), DEFAULT_HARD_CAP);
        assert_eq!(WorkerPool::new(config(5000)).limit(), DEFAULT_HARD_CAP);
        let capped = PoolConfig {
            hard_cap: 7,
            ..config(9)
        };
        assert_eq!(WorkerPool::new(capped).limit(), 7);
    }

    /// With `max_threads = 2`, a third job is given back while two run, and jobs are accepted again
    /// once they finish.
    #[test]
    fn limit_is_enforced() {
        let pool = WorkerPool::new(config(2));
        let release = fill(&pool, 2);
        assert_eq!(pool.busy(), 2);
        assert_eq!(pool.threads(), 2);

        // the refused job comes back whole
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let refused = pool.try_execute(Box::new(move || flag.store(true, Ordering::SeqCst)), None);
        match refused {
            Err(job) => job(),
            Ok(()) => panic!("a third job was accepted"),
        }
        assert!(ran.load(Ordering::SeqCst));

        drop(release);
        assert!(eventually(|| pool.busy() == 0));
        assert!(runs_a_job(&pool));
        assert!(runs_a_job(&pool));
        assert!(pool.threads() <= 2);
        assert!(pool.shutdown(PATIENCE));
    }

    /// `max_threads = 0` means `hard_cap` jobs at most.
    #[test]
    fn zero_max_threads_uses_hard_cap() {
        let pool = WorkerPool::new(PoolConfig {
            hard_cap: 3,
            ..config(0)
        });
        assert_eq!(pool.limit(), 3);
        let release = fill(&pool, 3);
        assert!(pool.try_execute(Box::new(|| {}), None).is_err());
        assert_eq!(pool.threads(), 3);
        drop(release);
        assert!(eventually(|| pool.busy() == 0));
        assert!(runs_a_job(&pool));
        assert!(pool.shutdown(PATIENCE));
    }

    /// Idle workers exit after `keep_alive`, and later jobs start new ones.
    #[test]
    fn idle_workers_exit_after_keep_alive() {
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_millis(50),
            ..config(4)
        });
        drop(fill(&pool, 4));
        assert!(eventually(|| pool.threads() == 0));
        assert_eq!(pool.busy(), 0);
        // new jobs start new workers, which expire in turn
        assert!(runs_a_job(&pool));
        assert!(eventually(|| pool.threads() == 0));
        assert!(runs_a_job(&pool));
        assert!(pool.shutdown(PATIENCE));
    }

    /// Handles of exited threads are joined by the next spawn, not kept.
    #[test]
    fn exited_threads_are_reaped_on_spawn() {
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_millis(20),
            ..config(4)
        });
        drop(fill(&pool, 4));
        assert!(eventually(|| pool.threads() == 0));
        assert!(eventually(|| {
            let state = pool.inner.state.lock();
            state.handles.len() == 4 && state.handles.iter().all(JoinHandle::is_finished)
        }));
        // the spawn for this job joins the four finished threads
        assert!(runs_a_job(&pool));
        assert_eq!(pool.inner.state.lock().handles.len(), 1);
        assert!(pool.shutdown(PATIENCE));
        assert!(pool.inner.state.lock().handles.is_empty());
    }

    /// `shutdown` refuses new jobs, reports false while jobs outlast its timeout, and joins every
    /// thread once they finish.
    #[test]
    fn shutdown_joins_all_threads() {
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_secs(3600),
            ..config(3)
        });
        let release = fill(&pool, 3);
        // the jobs are blocked: the wait times out and nothing is joined
        assert!(!pool.shutdown(Duration::from_millis(20)));
        assert!(pool.try_execute(Box::new(|| {}), None).is_err());
        assert_eq!(pool.threads(), 3);
        drop(release);
        // idempotent: the second call finds the jobs finishing
        assert!(pool.shutdown(PATIENCE));
        assert_eq!(pool.threads(), 0);
        assert_eq!(pool.busy(), 0);
        assert!(pool.inner.state.lock().handles.is_empty());
        assert!(pool.try_execute(Box::new(|| {}), None).is_err());
        assert!(pool.shutdown(PATIENCE));
    }

    /// `shutdown` does not wait for idle workers' keep-alive.
    #[test]
    fn shutdown_wakes_idle_workers() {
        // keep_alive outlasts the shutdown timeout: only waking the idle
        // workers lets shutdown succeed
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_secs(3600),
            ..config(3)
        });
        drop(fill(&pool, 3));
        assert!(eventually(|| pool.busy() == 0));
        assert_eq!(pool.threads(), 3);
        assert!(pool.shutdown(PATIENCE));
        assert_eq!(pool.threads(), 0);
    }

    /// On the loop's thread, a job queued while the only worker runs a
    /// (so far quick) job waits for it instead of waking another; when
    /// that worker blocks, the loop's check after `HANDOFF_WAIT` gets the
    /// job a worker of its own, and the blocked one holds nothing up.
    #[test]
    fn a_handed_off_job_gets_a_worker_when_the_running_one_blocks() {
        // this thread is the loop
        let (desk, mut handoffs) = handoffs();
        handoffs.serve_this_thread();
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_secs(3600),
            ..config(4)
        });
        let (started_tx, started_rx) = unbounded();
        let (release_tx, release_rx) = unbounded::<()>();
        assert!(pool
            .try_execute(blocking_job(&started_tx, &release_rx), Some(&desk))
            .is_ok());
        assert!(started_rx.recv_timeout(PATIENCE).is_ok());
        assert_eq!(handoffs.deadline(Instant::now()), None);
        // the loop knows the pool now, and it has a (so far quick) job in hand
        assert!(handoffs.quick_jobs_in_hand());

        // the worker is in a job: nobody is woken for the next one
        let (done_tx, done_rx) = bounded(1);
        let job: Job = Box::new(move || {
            let _ = done_tx.send(thread::current().id());
        });
        let before = Instant::now();
        assert!(pool.try_execute(job, Some(&desk)).is_ok());
        assert_eq!(pool.threads(), 1);
        assert!(handoffs.deadline(Instant::now()).is_some());
        // before HANDOFF_WAIT the check leaves it to the running worker
        handoffs.check(before);
        assert_eq!(pool.threads(), 1);
        assert!(done_rx.try_recv().is_err(), "the blocked worker ran it");

        // after it, the job gets a worker of its own
        handoffs.check(Instant::now() + HANDOFF_WAIT);
        assert!(done_rx.recv_timeout(PATIENCE).is_ok());
        assert_eq!(pool.threads(), 2);
        assert!(eventually(|| {
            handoffs.check(Instant::now());
            handoffs.deadline(Instant::now()).is_none()
        }));
        drop(release_tx);
        assert!(pool.shutdown(PATIENCE));
        // a pool that is gone is forgotten
        drop(pool);
        handoffs.check(Instant::now());
        assert!(handoffs.served.is_empty());
    }

    /// Off the loop's thread nothing waits, even with the node's desk: a
    /// job queued while the worker is in a job wakes or starts another at
    /// once, and the loop learns nothing of a pool it handed no job to.
    #[test]
    fn off_the_loop_a_queued_job_gets_a_worker_at_once() {
        let (desk, mut handoffs) = handoffs();
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_secs(3600),
            ..config(4)
        });
        // before the loop runs, and once it runs on another thread
        for loop_runs in [false, true] {
            if loop_runs {
                thread::scope(|s| {
                    s.spawn(|| handoffs.serve_this_thread());
                });
            }
            let release = fill(&pool, 1);
            assert!(runs_a_job_with(&pool, Some(&desk)));
            assert_eq!(handoffs.deadline(Instant::now()), None);
            assert!(!handoffs.quick_jobs_in_hand(), "the pool has a job in hand");
            assert!(handoffs.served.is_empty());
            drop(release);
            assert!(eventually(|| pool.busy() == 0));
        }
        assert!(pool.shutdown(PATIENCE));
    }

    /// Jobs queued while their workers are being started all get one: a
    /// worker that takes a job before the thread that started it has
    /// counted it started leaves no job behind without a searcher.
    #[test]
    fn jobs_queued_while_workers_start_all_run() {
        for _ in 0..300 {
            let pool = WorkerPool::new(PoolConfig {
                keep_alive: Duration::from_secs(3600),
                ..config(4)
            });
            // `fill` waits for every job to start
            drop(fill(&pool, 4));
            assert!(pool.shutdown(PATIENCE));
        }
    }

    /// A panicking job frees its slot, and its worker goes on to the next job.
    #[test]
    fn panicking_job_frees_its_slot() {
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_secs(3600),
            ..config(1)
        });
        let (ids_tx, ids_rx) = unbounded();
        let tx = ids_tx.clone();
        let panicking: Job = Box::new(move || {
            let _ = tx.send(thread::current().id());
            panic!("this job panics on purpose");
        });
        assert!(pool.try_execute(panicking, None).is_ok());
        assert!(eventually(|| pool.busy() == 0));
        let calm: Job = Box::new(move || {
            let _ = ids_tx.send(thread::current().id());
        });
        assert!(pool.try_execute(calm, None).is_ok());
        let first = ids_rx.recv_timeout(PATIENCE);
        let second = ids_rx.recv_timeout(PATIENCE);
        assert!(first.is_ok());
        // the same worker ran both
        assert_eq!(first, second);
        assert_eq!(pool.threads(), 1);
        assert!(pool.shutdown(PATIENCE));
    }

    /// Under 10,000 quick jobs from 4 threads, threads and running jobs stay within the limit and
    /// the bookkeeping stays consistent.
    #[test]
    fn threads_never_exceed_limit_under_load() {
        const SUBMITTERS: usize = 4;
        const JOBS_EACH: usize = 2500;
        let pool = WorkerPool::new(config(3));
        let limit = pool.limit();
        let running = Arc::new(AtomicUsize::new(0));
        let most_running = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));

        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|_| {
                let pool = Arc::clone(&pool);
                let (running, most_running, done) = (
                    Arc::clone(&running),
                    Arc::clone(&most_running),
                    Arc::clone(&done),
                );
                thread::spawn(move || {
                    for _ in 0..JOBS_EACH {
                        let (running, most_running, done) = (
                            Arc::clone(&running),
                            Arc::clone(&most_running),
                            Arc::clone(&done),
                        );
                        let mut job: Job = Box::new(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most_running.fetch_max(now, Ordering::SeqCst);
                            running.fetch_sub(1, Ordering::SeqCst);
                            done.fetch_add(1, Ordering::SeqCst);
                        });
                        loop {
                            let outcome = pool.try_execute(job, None);
                            {
                                let state = pool.inner.state.lock();
                                assert!(state.threads <= limit);
                                assert!(state.busy <= limit);
                                assert_eq!(
                                    state.threads,
                                    state.searching
                                        + state.parked.len()
                                        + (state.busy - state.queue.len())
                                );
                                // every queued job has a searcher
                                assert!(
                                    state.queue.is_empty()
                                        || state.searching > 0
                                        || state.spawning > 0
                                );
                            }
                            match outcome {
                                Ok(()) => break,
                                Err(back) => {
                                    job = back;
                                    thread::yield_now();
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for submitter in submitters {
            assert!(submitter.join().is_ok());
        }
        assert!(eventually(
            || done.load(Ordering::SeqCst) == SUBMITTERS * JOBS_EACH
        ));
        assert!(most_running.load(Ordering::SeqCst) <= limit);
        assert!(pool.threads() <= limit);
        assert!(pool.shutdown(PATIENCE));
    }

    /// `shutdown` called from one of the pool's own jobs returns (false) instead of joining itself.
    #[test]
    fn shutdown_inside_a_job_does_not_deadlock() {
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_secs(3600),
            ..config(2)
        });
        // two workers, both idle
        drop(fill(&pool, 2));
        assert!(eventually(|| pool.busy() == 0));

        let (result_tx, result_rx) = bounded(1);
        let own = Arc::clone(&pool);
        let job: Job = Box::new(move || {
            // an hour: a deadlock shows as the answer not coming in time
            let _ = result_tx.send(own.shutdown(Duration::from_secs(3600)));
        });
        assert!(pool.try_execute(job, None).is_ok());
        // false: the calling worker cannot join itself
        assert_eq!(result_rx.recv_timeout(PATIENCE), Ok(false));
        // from outside, the worker that called shutdown is joined too
        assert!(pool.shutdown(PATIENCE));
        assert_eq!(pool.threads(), 0);
        assert!(pool.inner.state.lock().handles.is_empty());
    }

    /// Dropping the pool closes it: idle workers exit at once, busy ones after their job, and none
    /// keeps the shared state alive.
    #[test]
    fn dropping_the_pool_stops_its_workers() {
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::from_secs(3600),
            ..config(2)
        });
        drop(fill(&pool, 2));
        assert!(eventually(|| pool.busy() == 0));
        let release = fill(&pool, 1);
        assert_eq!(pool.threads(), 2);
        let inner = Arc::clone(&pool.inner);
        drop(pool);
        // the idle worker exits at once, the busy one after its job
        assert!(eventually(|| inner.state.lock().threads == 1));
        drop(release);
        assert!(eventually(|| inner.state.lock().threads == 0));
        assert!(eventually(|| Arc::strong_count(&inner) == 1));
    }

    /// `Duration::MAX` keep-alive and timeout, a NUL in the name and a zero limit are handled.
    #[test]
    fn odd_settings_do_not_panic() {
        let pool = WorkerPool::new(PoolConfig {
            keep_alive: Duration::MAX,
            name: "nul\0in name".into(),
            ..config(1)
        });
        assert!(runs_a_job(&pool));
        assert!(pool.shutdown(Duration::MAX));

        let none = WorkerPool::new(PoolConfig {
            hard_cap: 0,
            ..config(0)
        });
        assert_eq!(none.limit(), 0);
        assert!(none.try_execute(Box::new(|| {}), None).is_err());
        assert!(none.shutdown(Duration::ZERO));
    }
}
