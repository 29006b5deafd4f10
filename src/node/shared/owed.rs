//! The answers the node owes, as seen from the applications' threads: which
//! connection waits for the answer `(hop-by-hop, end-to-end)`.
//!
//! The event loop records each request it hands to an application here
//! (next to its own per-connection table, which keeps the bounds and the
//! expiry) and forgets it when the request expires or its connection
//! closes. `send_answer` claims the entry on the caller's thread, so that an
//! answer nothing waits for is an error the caller sees at once (python's
//! `NotRoutable` from `route_answer`) instead of a silent drop on the loop.
//!
//! Owner: the node's shared handle. Bound: the per-connection owed bound
//! times the number of connections (an entry exists only while the loop's
//! own table holds it). Sharded so that the loop and the workers rarely meet
//! on one lock.

use parking_lot::Mutex;

use crate::node::idhash::IdMap;
use crate::node::shared::ConnId;

const SHARDS: usize = 16;

/// Who waits for one answer: almost always one connection; several only
/// when different peers picked the same identifiers.
enum Waiting {
    One(ConnId),
    Many(Vec<ConnId>),
}

impl Waiting {
    /// Drops `conn`; a single waiter left is `One` again, none left is an
    /// empty `Many` (see `is_empty`).
    fn forget(&mut self, conn: ConnId) {
        match self {
            Waiting::One(c) if *c == conn => *self = Waiting::Many(Vec::new()),
            Waiting::One(_) => {}
            Waiting::Many(v) => {
                v.retain(|c| *c != conn);
                if let [only] = v[..] {
                    *self = Waiting::One(only);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Waiting::Many(v) if v.is_empty())
    }
}

/// Why `claim` found nothing to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unclaimed {
    /// No connection waits for these identifiers.
    NoRequest,
    /// Several connections wait for them and the answer does not say which
    /// (it was not built from its request).
    Ambiguous,
}

/// Requests handed to applications and not answered yet, by identifiers.
pub(crate) struct OwedBook {
    shards: [Mutex<IdMap<(u32, u32), Waiting>>; SHARDS],
}

impl Default for OwedBook {
    fn default() -> OwedBook {
        OwedBook {
            shards: std::array::from_fn(|_| Mutex::new(IdMap::default())),
        }
    }
}

impl OwedBook {
    fn shard(&self, hop_by_hop: u32) -> &Mutex<IdMap<(u32, u32), Waiting>> {
        // hop-by-hop ids are per connection and spread; the map's own
        // seeded hash does the rest
        &self.shards[(hop_by_hop as usize) % SHARDS]
    }

    /// The loop handed the request `(hop_by_hop, end_to_end)` of `conn` to
    /// an application.
    pub(crate) fn insert(&self, hop_by_hop: u32, end_to_end: u32, conn: ConnId) {
        let mut map = self.shard(hop_by_hop).lock();
        match map.get_mut(&(hop_by_hop, end_to_end)) {
            None => {
                map.insert((hop_by_hop, end_to_end), Waiting::One(conn));
            }
            Some(Waiting::One(c)) if *c == conn => {}
            Some(w) => {
                let mut all = match w {
                    Waiting::One(c) => vec![*c],
                    Waiting::Many(v) => std::mem::take(v),
                };
                if !all.contains(&conn) {
                    all.push(conn);
                }
                *w = Waiting::Many(all);
            }
        }
    }

    /// The loop forgot the entry (expired, connection closed, or answered
    /// through a path that did not claim it).
    pub(crate) fn remove(&self, hop_by_hop: u32, end_to_end: u32, conn: ConnId) {
        let key = (hop_by_hop, end_to_end);
        let mut map = self.shard(hop_by_hop).lock();
        if let Some(w) = map.get_mut(&key) {
            w.forget(conn);
            if w.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// An answer is about to be sent: takes the entry of the connection it
    /// answers (`via`, or the only one waiting when `via` is 0).
    pub(crate) fn claim(
        &self,
        hop_by_hop: u32,
        end_to_end: u32,
        via: ConnId,
    ) -> Result<ConnId, Unclaimed> {
        let key = (hop_by_hop, end_to_end);
        let mut map = self.shard(hop_by_hop).lock();
        let Some(w) = map.get_mut(&key) else {
            return Err(Unclaimed::NoRequest);
        };
        let found = match w {
            Waiting::One(c) if via == 0 || *c == via => *c,
            Waiting::Many(_) if via == 0 => return Err(Unclaimed::Ambiguous),
            Waiting::Many(v) if v.contains(&via) => via,
            _ => return Err(Unclaimed::NoRequest),
        };
        w.forget(found);
        if w.is_empty() {
            map.remove(&key);
        }
        Ok(found)
    }

    /// Entries held (for tests and bounds checks).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_takes_the_entry_once() {
        let book = OwedBook::default();
        book.insert(7, 9, 1);
        assert_eq!(book.claim(7, 9, 2), Err(Unclaimed::NoRequest));
        assert_eq!(book.claim(7, 9, 1), Ok(1));
        assert_eq!(book.claim(7, 9, 1), Err(Unclaimed::NoRequest));
        assert_eq!(book.len(), 0);
    }

    #[test]
    fn an_answer_without_its_connection_needs_a_single_waiter() {
        let book = OwedBook::default();
        book.insert(7, 9, 1);
        assert_eq!(book.claim(7, 9, 0), Ok(1));
        book.insert(7, 9, 1);
        book.insert(7, 9, 2);
        assert_eq!(book.claim(7, 9, 0), Err(Unclaimed::Ambiguous));
        assert_eq!(book.claim(7, 9, 2), Ok(2));
        assert_eq!(book.claim(7, 9, 0), Ok(1));
        assert_eq!(book.len(), 0);
    }

    #[test]
    fn removal_forgets_only_that_connection() {
        let book = OwedBook::default();
        book.insert(1, 2, 5);
        book.insert(1, 2, 6);
        book.remove(1, 2, 5);
        assert_eq!(book.claim(1, 2, 5), Err(Unclaimed::NoRequest));
        book.remove(1, 2, 6);
        assert_eq!(book.len(), 0);
        book.remove(1, 2, 6);
    }
}
