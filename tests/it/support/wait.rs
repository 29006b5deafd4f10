//! Waiting with deadlines: for a condition ([`wait_until`], [`poll_until`]),
//! for a gate the test opens ([`Gate`]), for handlers to arrive
//! ([`Arrivals`]); and running a test alone in a process of its own
//! ([`alone`]). Nothing here sleeps for a fixed time to decide an outcome:
//! the only sleep is the poll interval of [`poll_until`].

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often [`poll_until`] looks at its condition.
const POLL: Duration = Duration::from_millis(5);

/// Polls `f` until it holds or `timeout` passes; whether it held.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Polls `f` until it holds; panics after `timeout`, naming `what`.
pub fn wait_until(what: &str, timeout: Duration, f: impl FnMut() -> bool) {
    assert!(poll_until(timeout, f), "timed out waiting for {what}");
}

/// Checks that `f` holds all through `window` (it is looked at every few
/// milliseconds); panics, naming `what`, as soon as it does not. For what
/// must *not* happen, such as a second connection or an early exit, where
/// no event says that it never will.
pub fn holds_for(what: &str, window: Duration, mut f: impl FnMut() -> bool) {
    let broke = poll_until(window, || !f());
    assert!(!broke, "{what} stopped holding within {window:?}");
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A gate that handlers wait at until the test opens it: the stimulus "a
/// slow handler" without a fixed sleep. Clones share the gate.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Opens the gate: every waiter goes on, later ones do not wait.
    pub fn open(&self) {
        *lock(&self.0 .0) = true;
        self.0 .1.notify_all();
    }

    /// Closes the gate again: later waiters wait.
    pub fn close(&self) {
        *lock(&self.0 .0) = false;
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        *lock(&self.0 .0)
    }

    /// Waits until the gate is open, at most `limit` (a bound, so that a
    /// test that fails before opening it does not hang its handlers);
    /// whether it opened.
    pub fn wait(&self, limit: Duration) -> bool {
        let (open, cv) = &*self.0;
        let guard = lock(open);
        let (guard, _) = cv
            .wait_timeout_while(guard, limit, |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// Counts arrivals (handlers that started, say) and lets anyone wait for a
/// number of them. Clones share the count.
#[derive(Clone, Default)]
pub struct Arrivals(Arc<(Mutex<usize>, Condvar)>);

impl Arrivals {
    /// None arrived yet.
    pub fn new() -> Arrivals {
        Arrivals::default()
    }

    /// One more arrived; returns how many did.
    pub fn arrive(&self) -> usize {
        let mut n = lock(&self.0 .0);
        *n += 1;
        self.0 .1.notify_all();
        *n
    }

    /// How many arrived so far.
    pub fn count(&self) -> usize {
        *lock(&self.0 .0)
    }

    /// Waits until `n` arrived, at most `limit`; whether they did.
    pub fn wait_for(&self, n: usize, limit: Duration) -> bool {
        let (count, cv) = &*self.0;
        let guard = lock(count);
        let (guard, _) = cv
            .wait_timeout_while(guard, limit, |c| *c < n)
            .unwrap_or_else(PoisonError::into_inner);
        *guard >= n
    }
}

/// The variable that tells a child process of this binary which test it
/// runs alone.
const ALONE: &str = "DIAMETER_IT_ALONE";
/// How long a test run alone may take.
const ALONE_LIMIT: Duration = Duration::from_secs(120);

/// For a test that changes the whole process (its descriptor limit, its
/// logger), which would disturb the tests running beside it in this binary:
/// runs the test `name` of the module `module` (`module_path!()`) alone in
/// a child process of this test binary. Returns true in that child, where
/// the caller goes on with its body; in the test process it runs the child,
/// prints its output, checks that the one test ran and passed, and returns
/// false (the caller returns).
pub fn alone(module: &str, name: &str) -> bool {
    // module_path!() starts with the crate's name, which test names omit
    let module = module.split_once("::").map_or("", |(_, rest)| rest);
    let test = format!("{module}::{name}");
    if std::env::var(ALONE).as_deref() == Ok(test.as_str()) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, &test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the test binary again");
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = read(child.stderr.take().map(|s| Box::new(s) as _));
    let mut status = None;
    poll_until(ALONE_LIMIT, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    print!("{out}");
    eprint!("{err}");
    let status = status.unwrap_or_else(|| panic!("{test} alone: not done in {ALONE_LIMIT:?}"));
    assert!(status.success(), "{test} alone: {status}");
    assert!(
        out.contains("test result: ok. 1 passed"),
        "{test} alone: it did not run (no such test?)"
    );
    false
}
