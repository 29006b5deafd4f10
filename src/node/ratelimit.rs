//! Rate-limited warnings for what a peer can trigger at line rate (malformed
//! messages, refused connections, accept errors): at most
//! [`LINES_PER_SECOND`] lines per call site each second; the rest are
//! counted, and the next line that gets through says how many were left out.
//! Time comes from the caller, so sans-IO code stays clock-free.

use std::fmt::Arguments;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Lines one call site may write per second.
pub const LINES_PER_SECOND: u64 = 5;

/// One call site's budget (a `static`).
#[derive(Debug)]
pub struct RateLimit {
    target: &'static str,
    /// The second (since [`epoch`]) the count is for.
    second: AtomicU64,
    /// Lines written in that second.
    written: AtomicU64,
    /// Lines left out since the last one written.
    suppressed: AtomicU64,
}

impl RateLimit {
    /// A budget for lines on `target` (python's logger name).
    pub const fn new(target: &'static str) -> RateLimit {
        RateLimit {
            target,
            second: AtomicU64::new(0),
            written: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a line may be written at `now`; when it may, also how many
    /// were left out before it.
    fn admit(&self, now: Instant) -> Option<u64> {
        let second = now.saturating_duration_since(epoch()).as_secs();
        if self.second.swap(second, Ordering::Relaxed) != second {
            self.written.store(0, Ordering::Relaxed);
        }
        if self.written.fetch_add(1, Ordering::Relaxed) < LINES_PER_SECOND {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// The instant seconds are counted from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // the first caller's time: every `now` handed in later is no earlier
    // than some clock reading after that, or saturates to second 0
    *EPOCH.get_or_init(Instant::now)
}

/// Writes `line` at warn level unless `limit`'s budget for this second is
/// spent.
pub fn warn(now: Instant, limit: &RateLimit, line: Arguments<'_>) {
    if !log::log_enabled!(target: limit.target, log::Level::Warn) {
        return;
    }
    match limit.admit(now) {
        Some(0) => log::warn!(target: limit.target, "{line}"),
        Some(n) => log::warn!(target: limit.target, "{line} ({n} similar lines left out)"),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_cut_to_the_budget_and_the_next_second_reports_the_rest() {
        let limit = RateLimit::new("test");
        let t0 = epoch() + Duration::from_secs(10);
        let admitted = (0..100).filter(|_| limit.admit(t0).is_some()).count();
        assert_eq!(admitted as u64, LINES_PER_SECOND);
        let next = t0 + Duration::from_secs(1);
        assert_eq!(limit.admit(next), Some(100 - LINES_PER_SECOND));
        assert_eq!(limit.admit(next), Some(0));
    }
}
