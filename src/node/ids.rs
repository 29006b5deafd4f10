//! Hop-by-hop, end-to-end and Session-Id generators (python's
//! `SequenceGenerator` and `SessionGenerator`), safe to share between threads.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A random 64-bit number from the standard library's per-process hash keys
/// (no random-number crate needed for identifiers).
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// A wrapping 32-bit sequence that never yields 0: hop-by-hop and
/// end-to-end identifiers.
#[derive(Debug)]
pub struct SequenceGenerator {
    sequence: AtomicU32,
}

impl SequenceGenerator {
    /// Smallest value.
    pub const MIN_SEQUENCE: u32 = 0x0000_0001;
    /// Largest value; the next one is [`MIN_SEQUENCE`](Self::MIN_SEQUENCE).
    pub const MAX_SEQUENCE: u32 = 0xffff_ffff;

    /// A sequence starting at a random value (hop-by-hop identifiers).
    pub fn new() -> Self {
        Self::starting_at((random_u64() as u32).max(Self::MIN_SEQUENCE))
    }

    /// A sequence whose high 12 bits are the low 12 bits of `now` (Unix
    /// seconds) and whose low 20 bits are random, as RFC 6733 §3 suggests
    /// for end-to-end identifiers (python's `include_now`).
    pub fn with_time(now: u64) -> Self {
        let low = (random_u64() as u32 & 0x000f_ffff).max(1);
        Self::starting_at(((now as u32) << 20) | low)
    }

    /// A sequence whose current value is `value`.
    pub fn starting_at(value: u32) -> Self {
        SequenceGenerator {
            sequence: AtomicU32::new(value),
        }
    }

    /// The current value.
    pub fn sequence(&self) -> u32 {
        self.sequence.load(Ordering::Relaxed)
    }

    /// Advances and returns the new value (after 0xffffffff comes 1).
    pub fn next_sequence(&self) -> u32 {
        let step = |s: u32| {
            Some(if s == Self::MAX_SEQUENCE {
                Self::MIN_SEQUENCE
            } else {
                s + 1
            })
        };
        let prev = self
            .sequence
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, step)
            .unwrap_or_else(|s| s);
        step(prev).unwrap_or(Self::MIN_SEQUENCE)
    }
}

impl Default for SequenceGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// Session-Id values unique for the life of the process (RFC 6733 §8.8):
/// `<origin host>;<start time, 8 hex>;<high 32 bits>;<low 32 bits>[;<extra>...]`,
/// from a random 64-bit counter (python's `SessionGenerator`).
#[derive(Debug)]
pub struct SessionGenerator {
    diameter_identity: String,
    start: u32,
    counter: AtomicU64,
}

impl SessionGenerator {
    /// The smallest value of the id's counter (python's `MIN_SEQUENCE`).
    pub const MIN_SEQUENCE: u64 = 1;
    /// The largest value of the id's counter (python's `MAX_SEQUENCE`).
    pub const MAX_SEQUENCE: u64 = u64::MAX;

    /// The identity the ids start with (python's `diameter_identity`).
    pub fn diameter_identity(&self) -> &str {
        &self.diameter_identity
    }

    /// A generator for ids starting with `diameter_identity`.
    pub fn new(diameter_identity: impl Into<String>) -> Self {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        SessionGenerator {
            diameter_identity: diameter_identity.into(),
            start,
            counter: AtomicU64::new(random_u64()),
        }
    }

    /// The next Session-Id; `extra` values are appended, `;`-separated
    /// (python's `next_id(*args)`).
    ///
    /// ```
    /// use diameter::node::SessionGenerator;
    /// let g = SessionGenerator::new("client.example.net");
    /// let a = g.next_id(&[]);
    /// let b = g.next_id(&["gy"]);
    /// assert!(a.starts_with("client.example.net;") && a.split(';').count() == 4);
    /// assert!(b.ends_with(";gy") && a != b);
    /// assert_eq!(g.diameter_identity(), "client.example.net");
    /// ```
    pub fn next_id(&self, extra: &[&str]) -> String {
        // after MAX_SEQUENCE comes MIN_SEQUENCE, as in python
        let n = self
            .counter
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            .max(Self::MIN_SEQUENCE);
        let mut id = format!(
            "{};{:08x};{:08x};{:08x}",
            self.diameter_identity,
            self.start,
            n >> 32,
            n as u32
        );
        for part in extra {
            id.push(';');
            id.push_str(part);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn sequences_wrap_to_one() {
        let g = SequenceGenerator::starting_at(0xffff_fffe);
        assert_eq!(g.next_sequence(), 0xffff_ffff);
        assert_eq!(g.next_sequence(), 1);
        assert_eq!(g.sequence(), 1);
    }

    #[test]
    fn end_to_end_start_carries_the_time() {
        let g = SequenceGenerator::with_time(0x1234_5678);
        assert_eq!(g.sequence() >> 20, 0x678);
        assert_ne!(g.sequence() & 0xfffff, 0);
    }

    #[test]
    fn generators_are_unique_across_threads() {
        let seq = Arc::new(SequenceGenerator::starting_at(1));
        let sess = Arc::new(SessionGenerator::new("h"));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (seq, sess) = (seq.clone(), sess.clone());
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| (seq.next_sequence(), sess.next_id(&[])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let seqs: HashSet<_> = all.iter().map(|(s, _)| *s).collect();
        let ids: HashSet<_> = all.iter().map(|(_, i)| i.clone()).collect();
        assert_eq!((seqs.len(), ids.len()), (4000, 4000));
    }
}
