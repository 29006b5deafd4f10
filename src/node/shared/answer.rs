//! How an answer gets from the event loop to the thread waiting for it.
//!
//! Each request carries a [`Reply`]: the sending half of a one-slot
//! crossbeam channel plus a [`Signal`] naming the waiting thread. The loop
//! puts exactly one value in the channel (the answer, or an error if the
//! reply is dropped unsent) and then unparks that thread. The caller parks
//! until it is signalled, then takes the value with
//! `Receiver::recv_timeout`, which finds it there and returns at once.
//! Parking first matters on busy machines: crossbeam's receive spins and
//! calls `sched_yield` several times before it sleeps, and with many
//! callers those yields take CPU from the loop that would answer them.
//!
//! Channels are reused: each thread keeps a few [`Waiter`]s (channel and
//! signal), so a request allocates nothing for its answer. A waiter goes
//! back to its thread's stock only after its one value was taken; after a
//! timeout it is dropped, so a late answer finds its receiver gone (and
//! goes to `handle_answer`, as python does) and can never be mistaken for
//! the answer to a later request.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::message::Message;
use crate::node::error::{ApplicationError, EmptyReason};

/// What a request's waiter gets.
pub(crate) type Answer = Result<Message, ApplicationError>;

/// Waiters a thread keeps for reuse, at most (one per request it has in
/// flight at once; more are allocated and dropped).
const STOCK: usize = 256;

/// Set (and the thread unparked) once the reply was sent or dropped.
pub(crate) struct Signal {
    thread: Thread,
    fired: AtomicBool,
}

impl Signal {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Where a request's answer goes: sent once by the loop. Dropped unsent, it
/// sends `EmptyAnswer(NodeStopped)` (the waiter tells a dead loop apart).
pub(crate) struct Reply {
    tx: Option<Sender<Answer>>,
    signal: Option<Arc<Signal>>,
}

impl Reply {
    /// Sends the answer; gives it back when nobody waits any more (the
    /// caller timed out).
    pub(crate) fn send(mut self, answer: Answer) -> Result<(), Answer> {
        match self.tx.take() {
            // one slot, one value: `try_send` never finds it full
            Some(tx) => tx.try_send(answer).map_err(|e| e.into_inner()),
            None => Err(answer),
        }
        // dropping `self` fires the signal
    }

    #[cfg(any(test, fuzzing))]
    /// A reply on a plain one-slot channel, with no thread to signal.
    pub(crate) fn channel() -> (Reply, Receiver<Answer>) {
        let (tx, rx) = bounded(1);
        let reply = Reply {
            tx: Some(tx),
            signal: None,
        };
        (reply, rx)
    }

    /// A reply nobody waits for: what is sent to it is given back.
    pub(crate) fn nobody() -> Reply {
        Reply {
            tx: None,
            signal: None,
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Err(ApplicationError::EmptyAnswer(EmptyReason::NodeStopped)));
        }
        if let Some(signal) = self.signal.take() {
            signal.fire();
        }
    }
}

/// The receiving end of one request's answer, reusable.
pub(crate) struct Waiter {
    tx: Sender<Answer>,
    rx: Receiver<Answer>,
    signal: Arc<Signal>,
}

thread_local! {
    static STOCK_OF_THREAD: RefCell<Vec<Waiter>> = const { RefCell::new(Vec::new()) };
}

impl Waiter {
    /// One from this thread's stock, or a new one.
    pub(crate) fn take() -> Waiter {
        STOCK_OF_THREAD
            .try_with(|s| s.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let (tx, rx) = bounded(1);
                Waiter {
                    tx,
                    rx,
                    signal: Arc::new(Signal {
                        thread: std::thread::current(),
                        fired: AtomicBool::new(false),
                    }),
                }
            })
    }

    /// The reply for the next request: one value, one signal.
    pub(crate) fn reply(&self) -> Reply {
        self.signal.fired.store(false, Ordering::Relaxed);
        Reply {
            tx: Some(self.tx.clone()),
            signal: Some(self.signal.clone()),
        }
    }

    /// Waits until `deadline` for the reply's value. `None` on timeout:
    /// the waiter is then dropped, never reused.
    pub(crate) fn wait(self, deadline: Instant) -> Option<Answer> {
        let own = std::thread::current().id() == self.signal.thread.id();
        let left = || deadline.saturating_duration_since(Instant::now());
        if own {
            // park until the loop signals; wakeups for other reasons (an
            // unpark meant for another of this thread's requests) look again
            while !self.signal.fired.load(Ordering::Acquire) {
                let left = left();
                if left.is_zero() {
                    break;
                }
                std::thread::park_timeout(left);
            }
        }
        // signalled: the value is there; another thread waiting (a moved
        // handle) blocks here; past the deadline: one last look
        let got = match self.rx.recv_timeout(left()) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        if own {
            let _ = STOCK_OF_THREAD.try_with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < STOCK {
                    s.push(self);
                }
            });
        }
        Some(got)
    }
}

/// The deadline `timeout` from now (far away for huge timeouts).
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Answer {
        Ok(Message::default())
    }

    #[test]
    fn a_sent_answer_is_taken_and_the_waiter_reused() {
        let w = Waiter::take();
        let signal = Arc::as_ptr(&w.signal);
        let reply = w.reply();
        let t = std::thread::spawn(move || reply.send(ok()).is_ok());
        assert!(t.join().unwrap());
        assert!(w
            .wait(deadline_after(Duration::from_secs(5)))
            .unwrap()
            .is_ok());
        let again = Waiter::take();
        assert_eq!(Arc::as_ptr(&again.signal), signal);
    }

    #[test]
    fn a_dropped_reply_is_an_empty_answer_at_once() {
        let w = Waiter::take();
        drop(w.reply());
        let got = w.wait(deadline_after(Duration::from_secs(60)));
        assert!(matches!(
            got,
            Some(Err(ApplicationError::EmptyAnswer(EmptyReason::NodeStopped)))
        ));
    }

    #[test]
    fn after_a_timeout_the_late_answer_is_given_back() {
        let w = Waiter::take();
        let reply = w.reply();
        assert!(w.wait(deadline_after(Duration::from_millis(10))).is_none());
        assert!(reply.send(ok()).is_err());
        assert!(Reply::nobody().send(ok()).is_err());
    }

    #[test]
    fn a_waiter_moved_to_another_thread_still_gets_its_answer() {
        let w = Waiter::take();
        let reply = w.reply();
        let t = std::thread::spawn(move || w.wait(deadline_after(Duration::from_secs(5))));
        std::thread::sleep(Duration::from_millis(20));
        assert!(reply.send(ok()).is_ok());
        assert!(t.join().unwrap().unwrap().is_ok());
    }
}
