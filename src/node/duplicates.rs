//! Duplicate detection for retransmitted requests (RFC 6733 §3, the T flag,
//! and §5.5.4 failover): a request that comes again with the T flag, the
//! same End-to-End identifier and the same Origin-Host gets the answer that
//! was already sent, instead of being processed a second time.
//!
//! Pure bookkeeping, no I/O and no clock: every method that needs the time
//! takes `now`, so tests drive it with a fake clock.
//!
//! What it guards against:
//!
//! - **Reading another peer's answers.** A record is keyed by the
//!   authenticated peer the connection belongs to (its identity from the
//!   capabilities exchange) as well as by the Origin-Host written in the
//!   request. A peer that claims somebody else's Origin-Host and
//!   End-to-End identifier gets its own, new record, never their answer.
//! - **Unbounded memory.** One budget for all peers, in records and in bytes
//!   (answers plus a fixed per-record overhead that includes the key
//!   lengths); over it, the oldest records go first. Forged Origin-Hosts
//!   only push out older records.
//! - **Stale records.** A record expires `ttl` after it was recorded or
//!   answered, whichever is later.
//! - **Double processing.** A retransmission that arrives while the first
//!   copy is still being processed is not processed again: it waits (a
//!   bounded list per record) and gets the answer when it is sent.
//!
//! ```text
//!            intake, no T flag / T flag and unknown or expired key
//!   (none) ----------------------------------------------------> InProgress
//!                                                                 |  ^ intake, T: add waiter
//!                                   answered(): waiters returned  |  | (or Dropped when full)
//!                                                                 v
//!   (none) <------ expired / evicted / abandon / too large ---- Answered
//!                                                                    intake, T: Answered(bytes)
//! ```
//!
//! Eviction order is a `VecDeque` of `(key, generation, recorded)` in the
//! order the requests were recorded: the answer goes into its record in
//! place (the record keeps its place), while a request recorded again (a
//! new request with a known key, or one whose record was dropped) gets a
//! new generation and a new entry at the back, and the old entry goes
//! stale. Stale
//! entries are skipped when they reach the front and the whole deque is
//! compacted when it holds more than about twice as many entries as there are
//! records, so every operation is amortised O(1) and the deque stays bounded.

use super::idhash::IdMap;
use std::collections::hash_map::Entry;
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem::size_of;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Identifies a request: the authenticated peer the connection belongs to,
/// the request's Origin-Host (ASCII lower-cased; Diameter identities are
/// FQDNs) and its End-to-End identifier.
///
/// The peer and the host are kept as a 128-bit digest: two SipHash-1-3
/// sums under random keys of this process. A key is then a few words, with
/// nothing allocated per request (a table of 65,536 records of strings cost
/// the node a third of its throughput in cache misses), and a peer that
/// does not know the keys cannot make two names collide: telling the sums
/// apart is SipHash's job as a keyed function. The table hashes the digest
/// as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestKey {
    /// The two sums over (peer, Origin-Host).
    digest: [u64; 2],
    /// The End-to-End identifier of the request.
    end_to_end: u32,
}

impl RequestKey {
    /// The key of a request received from `peer` (already lower-cased by
    /// whoever owns the connection) with this Origin-Host, lower-cased
    /// here.
    pub(crate) fn new(peer: &str, origin_host: &str, end_to_end: u32) -> Self {
        static KEYS: OnceLock<[RandomState; 2]> = OnceLock::new();
        let [a, b] = KEYS.get_or_init(|| [RandomState::new(), RandomState::new()]);
        let (mut a, mut b) = (a.build_hasher(), b.build_hasher());
        // `str`'s hash ends with 0xff, which UTF-8 never holds: the pair is
        // written unambiguously
        peer.hash(&mut a);
        peer.hash(&mut b);
        // lower-cased a chunk at a time, without allocating
        let mut chunk = [0u8; 64];
        for part in origin_host.as_bytes().chunks(chunk.len()) {
            let lower = &mut chunk[..part.len()];
            lower.copy_from_slice(part);
            lower.make_ascii_lowercase();
            a.write(lower);
            b.write(lower);
        }
        a.write_u8(0xff);
        b.write_u8(0xff);
        RequestKey {
            digest: [a.finish(), b.finish()],
            end_to_end,
        }
    }
}

impl Hash for RequestKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest[0] ^ u64::from(self.end_to_end));
    }
}

/// Where a waiting retransmission must be answered: (connection id,
/// Hop-by-Hop identifier of the retransmission).
pub(crate) type Waiter = (u64, u32);

/// The bounds of the node's duplicate-detection table (T flag), shared by
/// all peers ([`NodeLimits::duplicates`](crate::node::NodeLimits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateLimits {
    /// Most records kept at once (default 65,536).
    pub max_entries: usize,
    /// Most bytes kept at once (default 32 MiB): stored answers plus a fixed
    /// per-record overhead that includes the key lengths and waiters. An
    /// answer larger than `max_bytes / 16` is never stored.
    pub max_bytes: usize,
    /// How long a record lives after it was recorded or answered, whichever
    /// is later (default 4 minutes).
    pub ttl: Duration,
    /// Most retransmissions waiting for one request still in progress
    /// (default 4); more are dropped.
    pub max_waiters: usize,
}

impl Default for DuplicateLimits {
    /// 65,536 records, 32 MiB, 4 minutes, 4 waiters per record.
    fn default() -> Self {
        DuplicateLimits {
            max_entries: 65_536,
            max_bytes: 32 * 1024 * 1024,
            ttl: Duration::from_secs(4 * 60),
            max_waiters: 4,
        }
    }
}

/// What to do with a request that has just arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Intake {
    /// Process the request (it is now recorded as in progress).
    New,
    /// Already answered: send these bytes (the stored answer with its
    /// Hop-by-Hop field, bytes 12..16, set to the retransmission's).
    Answered(Vec<u8>),
    /// The same request is still being processed: the retransmission was
    /// recorded as a waiter and will get the answer when it is sent (nothing
    /// to do now).
    InProgress,
    /// Still in progress and its waiter list is full: drop this
    /// retransmission.
    Dropped,
}

/// Where a recorded request stands.
#[derive(Debug)]
enum State {
    /// Being processed; retransmissions waiting for its answer.
    InProgress(Vec<Waiter>),
    /// Answered with these bytes.
    Answered(Box<[u8]>),
}

/// One recorded request.
#[derive(Debug)]
struct Record {
    /// Matches the live entry of this record in the order deque.
    generation: u64,
    /// When it was last recorded or answered; it expires `ttl` later.
    since: Instant,
    /// What it counts against the byte budget: [`ENTRY_OVERHEAD`] plus its
    /// answer or waiters.
    cost: usize,
    /// In progress or answered.
    state: State,
}

/// Bytes counted for every record besides its answer and waiters: the map
/// slot (key, record and control byte, rounded up) and the two order-deque
/// entries (live and, at most, one stale) it may cost.
const ENTRY_OVERHEAD: usize = size_of::<(RequestKey, Record)>()
    + size_of::<usize>()
    + 2 * size_of::<(RequestKey, u64, Instant)>();

/// Bytes counted for each waiting retransmission.
const WAITER_COST: usize = size_of::<Waiter>();

/// Stale order entries tolerated beyond twice the record count before the
/// deque is compacted (keeps small tables from compacting at every step).
const COMPACT_SLACK: usize = 64;

/// The requests seen recently, in progress or answered, for all peers.
#[derive(Debug)]
pub(crate) struct Duplicates {
    /// The bounds.
    limits: DuplicateLimits,
    /// The records by key.
    records: IdMap<RequestKey, Record>,
    /// Keys in the order they were recorded; an entry is live when its
    /// generation is the record's, stale otherwise.
    order: VecDeque<(RequestKey, u64, Instant)>,
    /// Sum of the records' costs.
    bytes: usize,
    /// Generation of the next record.
    next_generation: u64,
}

/// A copy of an encoded message with its Hop-by-Hop identifier (bytes
/// 12..16) set to `hbh`; a message too short to have one is copied as is.
pub(crate) fn with_hop_by_hop(bytes: &[u8], hbh: u32) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if let Some(field) = out.get_mut(12..16) {
        field.copy_from_slice(&hbh.to_be_bytes());
    }
    out
}

/// Whether a record recorded at `since` has expired at `now`. A deadline
/// past the end of `Instant` never comes.
fn is_expired(since: Instant, ttl: Duration, now: Instant) -> bool {
    since
        .checked_add(ttl)
        .is_some_and(|deadline| now >= deadline)
}

impl Duplicates {
    /// An empty table with these bounds.
    pub(crate) fn new(limits: DuplicateLimits) -> Self {
        Duplicates {
            limits,
            records: IdMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            next_generation: 0,
        }
    }

    /// A request arrives. `retransmit` is its T flag; `waiter` identifies
    /// this copy. Requests without the T flag are always `New` (and replace
    /// any older record of that key). With the T flag: `Answered`,
    /// `InProgress` or `Dropped` when the key is known and not expired, else
    /// `New`.
    pub(crate) fn intake(
        &mut self,
        now: Instant,
        key: RequestKey,
        retransmit: bool,
        waiter: Waiter,
    ) -> Intake {
        self.expire(now);
        if retransmit {
            let ttl = self.limits.ttl;
            let max_waiters = self.limits.max_waiters;
            if let Some(record) = self.records.get_mut(&key) {
                if !is_expired(record.since, ttl, now) {
                    let waiters = match &mut record.state {
                        State::Answered(answer) => {
                            return Intake::Answered(with_hop_by_hop(answer, waiter.1));
                        }
                        State::InProgress(waiters) => waiters,
                    };
                    if waiters.len() >= max_waiters {
                        return Intake::Dropped;
                    }
                    waiters.push(waiter);
                    record.cost = record.cost.saturating_add(WAITER_COST);
                    let generation = record.generation;
                    self.bytes = self.bytes.saturating_add(WAITER_COST);
                    self.enforce_budget();
                    // The waiter may have pushed its own record out of the
                    // budget: then nobody will answer it.
                    return if self.is_live(&key, generation) {
                        Intake::InProgress
                    } else {
                        Intake::Dropped
                    };
                }
            }
        }
        // replaces any record of the key
        self.insert(key, now, State::InProgress(Vec::new()));
        Intake::New
    }

    /// The answer to `key` is being sent: remember it (unless it is larger
    /// than `max_bytes / 16`; then the record is dropped) and return the
    /// retransmissions that were waiting for it, with the bytes they must
    /// get (each with its own Hop-by-Hop identifier, [`with_hop_by_hop`]):
    /// `None` when nobody waits. The answer is kept as given (shrunk to its
    /// length), not copied. Waiters on connections that have closed since
    /// are the caller's to skip.
    pub(crate) fn answered_owned(
        &mut self,
        now: Instant,
        key: &RequestKey,
        answer: Vec<u8>,
    ) -> (Vec<Waiter>, Option<Box<[u8]>>) {
        let answer = answer.into_boxed_slice();
        let len = answer.len();
        // Taken before expiry: waiters still get the answer even when the
        // request outlived its record's ttl.
        let fits = len <= self.limits.max_bytes / 16;
        if fits {
            if let Some(record) = self.records.get_mut(key) {
                // answered in place: the record keeps its place in the
                // order (eviction goes by when requests came; expiry still
                // by `since`, so one answered late only delays the
                // reclaiming of younger expired records, within the budget)
                let waiters = match std::mem::replace(&mut record.state, State::Answered(answer)) {
                    State::InProgress(waiters) => waiters,
                    State::Answered(_) => Vec::new(),
                };
                let copy = match (&record.state, waiters.is_empty()) {
                    (State::Answered(stored), false) => Some(stored.clone()),
                    _ => None,
                };
                let cost = ENTRY_OVERHEAD.saturating_add(len);
                self.bytes = self.bytes.saturating_sub(record.cost).saturating_add(cost);
                record.cost = cost;
                record.since = record.since.max(now);
                self.expire(now);
                self.enforce_budget();
                return (waiters, copy);
            }
        }
        let (stored_key, since, waiters) = match self.remove(key) {
            Some((stored_key, record)) => {
                let waiters = match record.state {
                    State::InProgress(waiters) => waiters,
                    State::Answered(_) => Vec::new(),
                };
                (stored_key, record.since.max(now), waiters)
            }
            None => (*key, now, Vec::new()),
        };
        self.expire(now);
        let copy = (!waiters.is_empty()).then(|| answer.clone());
        if fits {
            self.insert(stored_key, since, State::Answered(answer));
        } else {
            self.compact_if_needed();
        }
        (waiters, copy)
    }

    /// [`answered_owned`](Self::answered_owned) with a copy of `answer`:
    /// just the waiters.
    #[cfg(test)]
    pub(crate) fn answered(
        &mut self,
        now: Instant,
        key: &RequestKey,
        answer: &[u8],
    ) -> Vec<Waiter> {
        self.answered_owned(now, key, answer.to_vec()).0
    }

    /// The request will never be answered (the handler gave no answer, its
    /// owed entry expired, its connection closed): forget it and its
    /// waiters.
    pub(crate) fn abandon(&mut self, key: &RequestKey) {
        self.remove(key);
        self.compact_if_needed();
    }

    /// Drops the records that have expired at `now` (also done inside
    /// `intake` and `answered`); amortised O(1) per record.
    pub(crate) fn expire(&mut self, now: Instant) {
        let ttl = self.limits.ttl;
        while let Some((key, generation, recorded)) = self.order.front() {
            // a record's `since` is never earlier than when it was recorded:
            // most calls stop here without a lookup
            if !is_expired(*recorded, ttl, now) {
                break;
            }
            let fresh = self
                .records
                .get(key)
                .is_some_and(|r| r.generation == *generation && !is_expired(r.since, ttl, now));
            if fresh {
                break;
            }
            self.pop_front();
        }
    }

    /// How many requests are recorded (in progress or answered).
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Bytes counted against `max_bytes`.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The bounds of this table.
    pub(crate) fn limits(&self) -> &DuplicateLimits {
        &self.limits
    }

    /// Length of the order deque, live and stale entries.
    #[cfg(test)]
    fn order_len(&self) -> usize {
        self.order.len()
    }

    /// Whether the record of `key` still has this generation.
    fn is_live(&self, key: &RequestKey, generation: u64) -> bool {
        self.records
            .get(key)
            .is_some_and(|r| r.generation == generation)
    }

    /// Removes the record of `key`, if any, and its cost; its order entry
    /// goes stale.
    fn remove(&mut self, key: &RequestKey) -> Option<(RequestKey, Record)> {
        let (stored_key, record) = self.records.remove_entry(key)?;
        self.bytes = self.bytes.saturating_sub(record.cost);
        Some((stored_key, record))
    }

    /// Records `key` at the back of the order (replacing its record, if it
    /// has one: that record's order entry goes stale), then brings the
    /// table back within its bounds.
    fn insert(&mut self, key: RequestKey, since: Instant, state: State) {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let payload = match &state {
            State::InProgress(waiters) => waiters.len().saturating_mul(WAITER_COST),
            State::Answered(answer) => answer.len(),
        };
        let cost = ENTRY_OVERHEAD.saturating_add(payload);
        self.bytes = self.bytes.saturating_add(cost);
        self.order.push_back((key, generation, since));
        let old = self.records.insert(
            key,
            Record {
                generation,
                since,
                cost,
                state,
            },
        );
        if let Some(old) = old {
            self.bytes = self.bytes.saturating_sub(old.cost);
        }
        self.enforce_budget();
        self.compact_if_needed();
    }

    /// Evicts the oldest records until the table is within `max_entries` and
    /// `max_bytes`.
    fn enforce_budget(&mut self) {
        while self.records.len() > self.limits.max_entries || self.bytes > self.limits.max_bytes {
            if !self.pop_front() {
                break;
            }
        }
    }

    /// Pops the front order entry, removing its record when the entry is
    /// live; false when the deque is empty.
    fn pop_front(&mut self) -> bool {
        let Some((key, generation, _)) = self.order.pop_front() else {
            return false;
        };
        // one lookup: the entry API hashes the key once
        if let Entry::Occupied(record) = self.records.entry(key) {
            if record.get().generation == generation {
                let (_, record) = record.remove_entry();
                self.bytes = self.bytes.saturating_sub(record.cost);
            }
        }
        true
    }

    /// Drops the stale order entries once they outnumber the records (plus
    /// some slack). Each record has exactly one live entry, so afterwards the
    /// deque is as long as the map and the next compaction is at least that
    /// many insertions away: amortised O(1).
    fn compact_if_needed(&mut self) {
        let bound = self
            .records
            .len()
            .saturating_mul(2)
            .saturating_add(COMPACT_SLACK);
        if self.order.len() > bound {
            let records = &self.records;
            self.order.retain(|(key, generation, _)| {
                records
                    .get(key)
                    .is_some_and(|r| r.generation == *generation)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer of `size` bytes (at least 20) with this Hop-by-Hop id and a
    /// recognisable body.
    fn answer(hbh: u32, size: usize) -> Vec<u8> {
        let mut a: Vec<u8> = (0..size.max(20)).map(|i| (i % 251) as u8).collect();
        a[12..16].copy_from_slice(&hbh.to_be_bytes());
        a
    }

    fn peer(name: &str) -> std::sync::Arc<str> {
        std::sync::Arc::from(name)
    }

    fn hop_by_hop(bytes: &[u8]) -> u32 {
        u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]])
    }

    /// Recomputes what the table counts and checks it against its bounds.
    fn assert_consistent(d: &Duplicates) {
        let sum: usize = d.records.values().map(|r| r.cost).sum();
        assert_eq!(sum, d.bytes());
        let live = d.order.iter().filter(|(k, g, _)| d.is_live(k, *g)).count();
        assert_eq!(live, d.len(), "every record has exactly one live entry");
        assert!(d.len() <= d.limits().max_entries);
        assert!(d.bytes() <= d.limits().max_bytes);
        assert!(d.order_len() <= 2 * d.len() + COMPACT_SLACK + 1);
    }

    #[test]
    fn answered_retransmission_gets_same_bytes_with_own_hop_by_hop() {
        let t0 = Instant::now();
        let p = peer("client.example.net");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let key = RequestKey::new(&p, "Client.Example.NET", 7);
        assert_eq!(d.intake(t0, key, false, (1, 100)), Intake::New);
        let sent = answer(100, 64);
        assert!(d.answered(t0, &key, &sent).is_empty());

        // Same request again with the T flag, on another connection of the
        // same peer, Origin-Host in another case.
        let again = RequestKey::new(&p, "client.example.net", 7);
        let Intake::Answered(bytes) = d.intake(t0, again, true, (2, 555)) else {
            panic!("expected the stored answer");
        };
        assert_eq!(hop_by_hop(&bytes), 555);
        assert_eq!(bytes[..12], sent[..12]);
        assert_eq!(bytes[16..], sent[16..]);
        assert_eq!(d.len(), 1);
        assert_consistent(&d);
    }

    #[test]
    fn another_peer_claiming_same_origin_host_gets_new() {
        let t0 = Instant::now();
        let victim = peer("victim.example.net");
        let thief = peer("thief.example.net");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let key = RequestKey::new(&victim, "victim.example.net", 42);
        assert_eq!(d.intake(t0, key, false, (1, 1)), Intake::New);
        d.answered(t0, &key, &answer(1, 100));

        let forged = RequestKey::new(&thief, "victim.example.net", 42);
        assert_eq!(d.intake(t0, forged, true, (9, 9)), Intake::New);
        // Its own record, which does not touch the victim's.
        assert_eq!(d.len(), 2);
        assert!(matches!(
            d.intake(t0, key, true, (1, 2)),
            Intake::Answered(_)
        ));
        assert_eq!(d.intake(t0, forged, true, (9, 10)), Intake::InProgress);
        assert_consistent(&d);
    }

    #[test]
    fn in_progress_retransmission_waits_and_overflow_is_dropped() {
        let t0 = Instant::now();
        let p = peer("p");
        let limits = DuplicateLimits {
            max_waiters: 2,
            ..DuplicateLimits::default()
        };
        let mut d = Duplicates::new(limits);
        let key = RequestKey::new(&p, "h", 1);
        assert_eq!(d.intake(t0, key, false, (1, 10)), Intake::New);
        assert_eq!(d.intake(t0, key, true, (2, 20)), Intake::InProgress);
        assert_eq!(d.intake(t0, key, true, (3, 30)), Intake::InProgress);
        assert_eq!(d.intake(t0, key, true, (4, 40)), Intake::Dropped);
        assert_consistent(&d);

        let sent = answer(10, 40);
        // the waiters get the bytes sent; with nobody waiting, none come back
        let (waiters, copy) = d.answered_owned(t0, &key, sent.clone());
        assert_eq!(waiters, vec![(2, 20), (3, 30)]);
        assert_eq!(copy.as_deref(), Some(&sent[..]));
        let other = RequestKey::new(&p, "h", 2);
        assert_eq!(d.intake(t0, other, false, (1, 11)), Intake::New);
        assert_eq!(d.answered_owned(t0, &other, answer(11, 40)), (vec![], None));
        // an answer too large to keep still reaches its waiters
        let mut small = Duplicates::new(DuplicateLimits {
            max_bytes: 16 * 64,
            ..limits
        });
        assert_eq!(small.intake(t0, key, false, (1, 10)), Intake::New);
        assert_eq!(small.intake(t0, key, true, (2, 20)), Intake::InProgress);
        let large = answer(10, 200);
        let (waiters, copy) = small.answered_owned(t0, &key, large.clone());
        assert_eq!(waiters, vec![(2, 20)]);
        assert_eq!(copy.as_deref(), Some(&large[..]));
        assert_eq!(small.len(), 0);
        let forwarded = with_hop_by_hop(&sent, 20);
        assert_eq!(hop_by_hop(&forwarded), 20);
        // Later copies get the answer directly.
        assert_eq!(
            d.intake(t0, key, true, (4, 41)),
            Intake::Answered(with_hop_by_hop(&sent, 41))
        );
        assert_consistent(&d);

        // No waiters allowed at all: every in-progress retransmission drops.
        let mut none = Duplicates::new(DuplicateLimits {
            max_waiters: 0,
            ..DuplicateLimits::default()
        });
        let key = RequestKey::new(&p, "h", 2);
        assert_eq!(none.intake(t0, key, false, (1, 1)), Intake::New);
        assert_eq!(none.intake(t0, key, true, (1, 2)), Intake::Dropped);
    }

    #[test]
    fn requests_without_t_flag_are_always_new() {
        let t0 = Instant::now();
        let p = peer("p");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let key = RequestKey::new(&p, "h", 5);
        assert_eq!(d.intake(t0, key, false, (1, 1)), Intake::New);
        assert_eq!(d.intake(t0, key, true, (1, 2)), Intake::InProgress);
        // A new request with the same key replaces the record and its waiters.
        assert_eq!(d.intake(t0, key, false, (1, 3)), Intake::New);
        assert!(d.answered(t0, &key, &answer(3, 30)).is_empty());
        assert_eq!(d.intake(t0, key, false, (1, 4)), Intake::New);
        assert_eq!(d.intake(t0, key, true, (1, 5)), Intake::InProgress);
        assert_eq!(d.len(), 1);
        assert_consistent(&d);
    }

    #[test]
    fn records_expire_after_ttl() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(240);
        let p = peer("p");
        let mut d = Duplicates::new(DuplicateLimits {
            ttl,
            ..DuplicateLimits::default()
        });
        let key = RequestKey::new(&p, "h", 1);
        assert_eq!(d.intake(t0, key, false, (1, 1)), Intake::New);
        // Answered 100 s later: the ttl counts from the answer.
        let answered_at = t0 + Duration::from_secs(100);
        d.answered(answered_at, &key, &answer(1, 50));
        let just_before = answered_at + ttl - Duration::from_millis(1);
        assert!(matches!(
            d.intake(just_before, key, true, (1, 2)),
            Intake::Answered(_)
        ));
        d.expire(answered_at + ttl);
        assert_eq!(d.len(), 0);
        assert_eq!(d.bytes(), 0);
        assert_eq!(d.intake(answered_at + ttl, key, true, (1, 3)), Intake::New);

        // The retransmission above is now in progress since `answered_at +
        // ttl`; that record expires too, and a later copy is processed anew.
        let recorded_at = answered_at + ttl;
        assert_eq!(
            d.intake(recorded_at + ttl / 2, key, true, (1, 4)),
            Intake::InProgress
        );
        assert_eq!(d.intake(recorded_at + ttl, key, true, (1, 5)), Intake::New);
        assert_eq!(d.len(), 1);
        assert_consistent(&d);

        // A ttl past the end of Instant never expires, and does not panic.
        let mut forever = Duplicates::new(DuplicateLimits {
            ttl: Duration::MAX,
            ..DuplicateLimits::default()
        });
        let key = RequestKey::new(&p, "h", 9);
        forever.intake(t0, key, false, (1, 1));
        forever.expire(t0 + Duration::from_secs(1_000_000));
        assert_eq!(forever.len(), 1);
    }

    #[test]
    fn forged_origin_hosts_stay_within_budget() {
        let t0 = Instant::now();
        let p = peer("attacker.example.net");
        let budgets = [
            DuplicateLimits::default(),
            DuplicateLimits {
                max_bytes: 1 << 20,
                ..DuplicateLimits::default()
            },
            DuplicateLimits {
                max_entries: 1000,
                ..DuplicateLimits::default()
            },
        ];
        let body = answer(0, 200);
        for limits in budgets {
            let mut d = Duplicates::new(limits);
            for i in 0..100_000u32 {
                let key = RequestKey::new(&p, &format!("forged-{i}.example.net"), i);
                let now = t0 + Duration::from_micros(u64::from(i));
                assert_eq!(d.intake(now, key, false, (1, i)), Intake::New);
                d.answered(now, &key, &body);
                assert!(d.bytes() <= limits.max_bytes);
                assert!(d.len() <= limits.max_entries);
                assert!(d.order_len() <= 2 * limits.max_entries + COMPACT_SLACK + 1);
                if i % 10_000 == 0 {
                    assert_consistent(&d);
                }
            }
            assert_consistent(&d);
            assert!(d.len() > 0);
            // The newest record survived, the oldest did not.
            let newest = RequestKey::new(&p, "forged-99999.example.net", 99_999);
            assert!(matches!(
                d.intake(t0 + Duration::from_secs(1), newest, true, (1, 1)),
                Intake::Answered(_)
            ));
            let oldest = RequestKey::new(&p, "forged-0.example.net", 0);
            assert_eq!(
                d.intake(t0 + Duration::from_secs(1), oldest, true, (1, 1)),
                Intake::New
            );
        }
    }

    #[test]
    fn re_recording_one_key_keeps_the_order_deque_bounded() {
        let t0 = Instant::now();
        let p = peer("p");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let key = RequestKey::new(&p, "h", 1);
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            d.intake(now, key, i % 3 == 0, (1, i));
            d.answered(now, &key, &answer(i, 30));
            assert!(d.order_len() <= 2 * d.len() + COMPACT_SLACK + 1);
        }
        assert_eq!(d.len(), 1);
        assert_consistent(&d);
    }

    #[test]
    fn oldest_recorded_is_evicted_first() {
        let t0 = Instant::now();
        let p = peer("p");
        let mut d = Duplicates::new(DuplicateLimits {
            max_entries: 2,
            ..DuplicateLimits::default()
        });
        let a = RequestKey::new(&p, "h", 1);
        let b = RequestKey::new(&p, "h", 2);
        let c = RequestKey::new(&p, "h", 3);
        d.intake(t0, a, false, (1, 1));
        d.intake(t0, b, false, (1, 2));
        // Answering `a` keeps its place: it is still the oldest.
        d.answered(t0, &a, &answer(1, 20));
        d.intake(t0, c, false, (1, 3));
        assert_eq!(d.len(), 2);
        assert_eq!(d.intake(t0, b, true, (1, 4)), Intake::InProgress);
        assert_eq!(d.intake(t0, c, true, (1, 5)), Intake::InProgress);
        assert_eq!(d.intake(t0, a, true, (1, 6)), Intake::New);
        assert_consistent(&d);
    }

    #[test]
    fn abandon_forgets_the_request_and_its_waiters() {
        let t0 = Instant::now();
        let p = peer("p");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let key = RequestKey::new(&p, "h", 1);
        d.intake(t0, key, false, (1, 1));
        assert_eq!(d.intake(t0, key, true, (2, 2)), Intake::InProgress);
        d.abandon(&key);
        assert_eq!(d.len(), 0);
        assert_eq!(d.bytes(), 0);
        assert_eq!(d.intake(t0, key, true, (3, 3)), Intake::New);
        // The old waiter is gone: only the new copy is owed an answer.
        assert!(d.answered(t0, &key, &answer(3, 20)).is_empty());
        d.abandon(&key);
        d.abandon(&key);
        assert_eq!(d.len(), 0);
        assert_consistent(&d);
    }

    #[test]
    fn oversized_answer_is_not_stored() {
        let t0 = Instant::now();
        let p = peer("p");
        let limits = DuplicateLimits {
            max_bytes: 16 * 1000,
            ..DuplicateLimits::default()
        };
        let mut d = Duplicates::new(limits);
        let key = RequestKey::new(&p, "h", 1);
        d.intake(t0, key, false, (1, 1));
        assert_eq!(d.intake(t0, key, true, (2, 2)), Intake::InProgress);
        // Waiters still get the answer, but the record is dropped.
        assert_eq!(d.answered(t0, &key, &answer(1, 1001)), vec![(2, 2)]);
        assert_eq!(d.len(), 0);
        assert_eq!(d.bytes(), 0);
        assert_eq!(d.intake(t0, key, true, (3, 3)), Intake::New);
        // Exactly max_bytes / 16 still fits.
        d.answered(t0, &key, &answer(1, 1000));
        assert!(matches!(
            d.intake(t0, key, true, (4, 4)),
            Intake::Answered(_)
        ));
        assert_consistent(&d);
    }

    #[test]
    fn degenerate_limits_and_inputs_do_not_panic() {
        let t0 = Instant::now();
        let p = peer("");
        let zero = DuplicateLimits {
            max_entries: 0,
            max_bytes: 0,
            ttl: Duration::ZERO,
            max_waiters: 0,
        };
        let mut d = Duplicates::new(zero);
        let key = RequestKey::new(&p, "", u32::MAX);
        for retransmit in [false, true, true] {
            assert_eq!(
                d.intake(t0, key, retransmit, (u64::MAX, u32::MAX)),
                Intake::New
            );
            assert_eq!(d.len(), 0);
        }
        assert!(d.answered(t0, &key, &[]).is_empty());
        d.abandon(&key);
        // A clock going backwards is tolerated.
        d.expire(t0);
        assert_consistent(&d);

        // Answers shorter than a header pass through unchanged.
        assert_eq!(with_hop_by_hop(&[1, 2, 3], 7), vec![1, 2, 3]);
        let mut d = Duplicates::new(DuplicateLimits::default());
        d.intake(t0, key, false, (1, 1));
        d.answered(t0, &key, &[9; 5]);
        assert_eq!(
            d.intake(t0, key, true, (1, 2)),
            Intake::Answered(vec![9; 5])
        );

        // Budget too small for a single record: nothing is kept, no panic.
        let mut tiny = Duplicates::new(DuplicateLimits {
            max_bytes: ENTRY_OVERHEAD - 1,
            ..DuplicateLimits::default()
        });
        let long = RequestKey::new(&p, &"x".repeat(10_000), 1);
        assert_eq!(tiny.intake(t0, long, false, (1, 1)), Intake::New);
        assert_eq!(tiny.len(), 0);
        assert!(tiny.answered(t0, &long, &answer(1, 20)).is_empty());
        assert_consistent(&tiny);
    }

    #[test]
    fn origin_host_is_compared_without_case() {
        let p = peer("p");
        assert_eq!(
            RequestKey::new(&p, "MiXeD.Example", 3),
            RequestKey::new(&p, "mixed.example", 3)
        );
        assert_ne!(
            RequestKey::new(&p, "h", 3),
            RequestKey::new(&peer("q"), "h", 3)
        );
    }
}
