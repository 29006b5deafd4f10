//! Duplicate detection for retransmitted requests (RFC 6733 §3, the T flag,
//! and §5.5.4 failover): a request that comes again with the T flag gets
//! the answer that was already sent, instead of being processed a second
//! time, when it is the same request: the same authenticated peer, the same
//! Origin-Host and End-to-End identifier, and the same content.
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
//! - **Reading another client's answers through a relay.** Behind a relay
//!   the authenticated peer is the relay, shared by all its clients. So the
//!   key also holds a digest of the request's content
//!   ([`request_digest`]): its command code, its application id and every
//!   top-level AVP as received, except the Route-Record and Proxy-Info AVPs
//!   that relays and proxies add on the way (the flags, the Hop-by-Hop
//!   identifier and the End-to-End identifier, which is in the key on its
//!   own, are not part of it either). A cached answer, or a place among the
//!   retransmissions waiting for one, goes only to the same request: same
//!   command, application, Session-Id and AVPs. A request that claims
//!   another's Origin-Host and End-to-End identifier with anything else
//!   (its own Session-Id, say) has another key: it is processed as a new
//!   request and recorded under its own key, and the original's record is
//!   neither answered from, overwritten nor removed by it. The digest is a
//!   keyed 64-bit SipHash-1-3 under a random key of this process: a peer
//!   that does not know the key can only guess a colliding content, one
//!   chance in 2^64 per request.
//! - **One peer pushing out another's records.** The budget is shared
//!   fairly between peers (authenticated peers: all the clients behind a
//!   relay share the relay's part). Each peer's records are kept in their
//!   own queue, oldest first; when the table is over its budget, the oldest
//!   record of the peer holding the largest share goes first. A peer's
//!   share is the larger of its part of `max_entries` and its part of
//!   `max_bytes`, so a busy peer only ever pushes out its own records while
//!   it holds more than any other peer, and a quiet peer's records stay
//!   until they expire or it becomes the largest holder itself. Between
//!   peers holding equal shares, the oldest record goes first.
//! - **Unbounded memory.** One budget for all peers, in records and in bytes
//!   (answers plus a fixed per-record overhead); over it, records are
//!   evicted as above. Forged Origin-Hosts only push out the forger's own
//!   older records.
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
//! Each peer's eviction order is a `VecDeque` of `(key, generation,
//! recorded)` in the order its requests were recorded: the answer goes into
//! its record in place (the record keeps its place), while a request
//! recorded again (a new request with a known key, or one whose record was
//! dropped) gets a new generation and a new entry at the back, and the old
//! entry goes stale. Stale entries are skipped when they reach the front,
//! and a peer's deque is compacted when it holds more than twice as many
//! entries as the peer has records, so the deques together never hold more
//! than two entries per record. The peers are kept in a binary max-heap by
//! share, updated in place whenever a record is added, answered or
//! removed: every operation is amortised O(1) plus O(log peers) for the
//! heap, with no allocation per request once a peer's deque has grown.
//! Expiry looks at the requesting peer's queue at each request and at every
//! peer's queue when [`expire`](Duplicates::expire) is called (the node does
//! it once a second); a record found expired is never answered from.

use crate::node::idhash::IdMap;
use std::collections::hash_map::Entry;
use std::collections::hash_map::RandomState;

pub use crate::node::config::DuplicateLimits;
pub(crate) use crate::node::peer::digest::request_digest;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem::size_of;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Identifies a request: the authenticated peer the connection belongs to,
/// the request's Origin-Host (ASCII lower-cased; Diameter identities are
/// FQDNs), its End-to-End identifier and the digest of its content
/// ([`request_digest`]).
///
/// The peer, the host and the content digest are kept as a 128-bit digest:
/// two SipHash-1-3 sums under random keys of this process. A key is then a
/// few words, with nothing allocated per request (a table of 65,536 records
/// of strings cost the node a third of its throughput in cache misses), and
/// a peer that does not know the keys cannot make two names collide:
/// telling the sums apart is SipHash's job as a keyed function. The table
/// hashes the digest as it is. A third sum over the peer alone says whose
/// share of the table the record counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestKey {
    /// The two sums over (peer, Origin-Host, content digest).
    digest: [u64; 2],
    /// The sum over the peer alone.
    peer: u64,
    /// The End-to-End identifier of the request.
    end_to_end: u32,
}

impl RequestKey {
    /// The key of a request received from `peer` (already lower-cased by
    /// whoever owns the connection) with this Origin-Host, lower-cased
    /// here, End-to-End identifier and content digest
    /// ([`request_digest`] of the request as received).
    pub(crate) fn new(peer: &str, origin_host: &str, end_to_end: u32, content: u64) -> Self {
        static KEYS: OnceLock<[RandomState; 2]> = OnceLock::new();
        let [a, b] = KEYS.get_or_init(|| [RandomState::new(), RandomState::new()]);
        let (mut a, mut b) = (a.build_hasher(), b.build_hasher());
        // `str`'s hash ends with 0xff, which UTF-8 never holds: the pair is
        // written unambiguously
        peer.hash(&mut a);
        peer.hash(&mut b);
        let peer_sum = a.clone().finish();
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
        a.write_u64(content);
        b.write_u64(content);
        RequestKey {
            digest: [a.finish(), b.finish()],
            peer: peer_sum,
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
    /// Matches the live entry of this record in its peer's order deque.
    generation: u64,
    /// When it was last recorded or answered; it expires `ttl` later.
    since: Instant,
    /// What it counts against the byte budget: [`ENTRY_OVERHEAD`] plus its
    /// answer or waiters.
    cost: usize,
    /// Index of its peer's [`Share`].
    owner: usize,
    /// In progress or answered.
    state: State,
}

/// An entry of a peer's order deque: key, generation, when recorded.
type OrderEntry = (RequestKey, u64, Instant);

/// Bytes counted for every record besides its answer and waiters, so that
/// the budget bounds the memory the table really takes: two map slots (key,
/// record and control byte; a hash table at most 7/8 full that doubles as it
/// grows holds between 1.1 and 2.3 slots per record), four order-deque
/// entries (the live one and at most one stale, in deques that may be twice
/// as long as what they hold) and the allocator's header of a stored answer.
const ENTRY_OVERHEAD: usize =
    2 * (size_of::<(RequestKey, Record)>() + 1) + 4 * size_of::<OrderEntry>() + 16;

/// Bytes counted for each waiting retransmission.
const WAITER_COST: usize = size_of::<Waiter>();

/// [`Share::heap`] of a share no peer uses.
const UNUSED: usize = usize::MAX;

/// One peer's part of the table: its records in the order they were
/// recorded, and what they count against the budget. A share exists while
/// its peer has at least one record, so there are never more shares in use
/// than records.
#[derive(Debug)]
struct Share {
    /// The peer's sum ([`RequestKey`]'s `peer`).
    peer: u64,
    /// Its keys in the order they were recorded; an entry is live when its
    /// generation is the record's, stale otherwise.
    order: VecDeque<OrderEntry>,
    /// How many records it holds.
    records: usize,
    /// Sum of their costs.
    bytes: usize,
    /// Its index in the heap, [`UNUSED`] when free.
    heap: usize,
}

/// The requests seen recently, in progress or answered, for all peers.
#[derive(Debug)]
pub(crate) struct Duplicates {
    /// The bounds.
    limits: DuplicateLimits,
    /// The records by key.
    records: IdMap<RequestKey, Record>,
    /// The peers' shares, in use or free (at most as many as records were
    /// kept at once, plus one).
    shares: Vec<Share>,
    /// Indices of the free shares.
    free: Vec<usize>,
    /// The share in use of each peer, by the peer's sum.
    by_peer: IdMap<u64, usize>,
    /// The shares in use as a binary max-heap by [`Duplicates::weight`]:
    /// the first is the peer that gives up a record when over budget (the
    /// largest share; between equal ones, the one with the oldest entry).
    heap: Vec<usize>,
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
            shares: Vec::new(),
            free: Vec::new(),
            by_peer: IdMap::default(),
            heap: Vec::new(),
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
        if let Some(&share) = self.by_peer.get(&key.peer) {
            self.expire_share(share, now);
        }
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
                    let (generation, owner) = (record.generation, record.owner);
                    self.add_cost(owner, WAITER_COST, 0);
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
                let (old, owner) = (record.cost, record.owner);
                record.cost = cost;
                record.since = record.since.max(now);
                self.add_cost(owner, cost, old);
                self.expire_share(owner, now);
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
                (stored_key, record.since, waiters)
            }
            None => (*key, now, Vec::new()),
        };
        if let Some(&share) = self.by_peer.get(&key.peer) {
            self.expire_share(share, now);
        }
        let copy = (!waiters.is_empty()).then(|| answer.clone());
        if fits {
            self.insert(stored_key, since, State::Answered(answer));
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
    }

    /// Drops the records of every peer that have expired at `now` (each
    /// request does it for its own peer); O(peers) plus amortised O(1) per
    /// record.
    pub(crate) fn expire(&mut self, now: Instant) {
        for share in 0..self.shares.len() {
            self.expire_share(share, now);
        }
    }

    /// Drops the records of one share that have expired at `now`.
    fn expire_share(&mut self, share: usize, now: Instant) {
        let ttl = self.limits.ttl;
        while let Some((key, generation, recorded)) =
            self.shares.get(share).and_then(|s| s.order.front())
        {
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
            self.pop_front(share);
        }
    }

    #[cfg(any(test, fuzzing))]
    /// How many requests are recorded (in progress or answered).
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    #[cfg(any(test, fuzzing))]
    /// Bytes counted against `max_bytes`.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(any(test, fuzzing))]
    /// The bounds of this table.
    pub(crate) fn limits(&self) -> &DuplicateLimits {
        &self.limits
    }

    /// Length of the order deques, live and stale entries.
    #[cfg(test)]
    fn order_len(&self) -> usize {
        self.shares.iter().map(|s| s.order.len()).sum()
    }

    /// Whether the record of `key` still has this generation.
    fn is_live(&self, key: &RequestKey, generation: u64) -> bool {
        self.records
            .get(key)
            .is_some_and(|r| r.generation == generation)
    }

    /// The share of the peer `peer`, taken from the free ones (or added)
    /// when the peer has none.
    fn share_of(&mut self, peer: u64) -> usize {
        if let Some(&share) = self.by_peer.get(&peer) {
            return share;
        }
        let share = match self.free.pop() {
            Some(share) => share,
            None => {
                self.shares.push(Share {
                    peer,
                    order: VecDeque::new(),
                    records: 0,
                    bytes: 0,
                    heap: UNUSED,
                });
                self.shares.len() - 1
            }
        };
        if let Some(s) = self.shares.get_mut(share) {
            s.peer = peer;
            s.records = 0;
            s.bytes = 0;
            // weight (0, 0) at the bottom keeps the heap a heap
            s.heap = self.heap.len();
        }
        self.heap.push(share);
        self.by_peer.insert(peer, share);
        share
    }

    /// Frees `share` once it holds no record: out of the heap and the peer
    /// map, its deque's memory returned.
    fn release_if_empty(&mut self, share: usize) {
        let Some(s) = self.shares.get_mut(share) else {
            return;
        };
        if s.records > 0 || s.heap == UNUSED {
            return;
        }
        let (at, peer) = (s.heap, s.peer);
        s.heap = UNUSED;
        s.bytes = 0;
        s.order = VecDeque::new();
        self.by_peer.remove(&peer);
        self.free.push(share);
        // the last heap entry takes its place, then finds its own
        let Some(last) = self.heap.pop() else {
            return;
        };
        if last != share {
            if let Some(slot) = self.heap.get_mut(at) {
                *slot = last;
                if let Some(s) = self.shares.get_mut(last) {
                    s.heap = at;
                }
                self.fix(last);
            }
        }
    }

    /// What a share weighs: the larger of its part of `max_entries` and its
    /// part of `max_bytes` (cross-multiplied, so no division); between
    /// equal shares, the one whose front entry is older weighs more, so
    /// that peers holding as much as each other give up their records
    /// oldest first.
    fn weight(&self, share: usize) -> (u128, u64) {
        self.shares.get(share).map_or((0, 0), |s| {
            let by_count = s.records as u128 * self.limits.max_bytes as u128;
            let by_bytes = s.bytes as u128 * self.limits.max_entries as u128;
            let age = s.order.front().map_or(0, |(_, generation, _)| !generation);
            (by_count.max(by_bytes), age)
        })
    }

    /// Moves `share` up or down the heap after its weight changed.
    fn fix(&mut self, share: usize) {
        let Some(mut at) = self.shares.get(share).map(|s| s.heap) else {
            return;
        };
        if at >= self.heap.len() {
            return;
        }
        let weight = self.weight(share);
        while at > 0 {
            let parent = (at - 1) / 2;
            let above = self.heap[parent];
            if self.weight(above) >= weight {
                break;
            }
            self.put(at, above);
            at = parent;
        }
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut child = l;
            if r < self.heap.len() && self.weight(self.heap[r]) > self.weight(self.heap[l]) {
                child = r;
            }
            if child >= self.heap.len() || self.weight(self.heap[child]) <= weight {
                break;
            }
            self.put(at, self.heap[child]);
            at = child;
        }
        self.put(at, share);
    }

    /// Places `share` at `at` in the heap (`at` is within it).
    fn put(&mut self, at: usize, share: usize) {
        self.heap[at] = share;
        if let Some(s) = self.shares.get_mut(share) {
            s.heap = at;
        }
    }

    /// A record of `share` now costs `new` instead of `old` bytes.
    fn add_cost(&mut self, share: usize, new: usize, old: usize) {
        self.bytes = self.bytes.saturating_sub(old).saturating_add(new);
        if let Some(s) = self.shares.get_mut(share) {
            s.bytes = s.bytes.saturating_sub(old).saturating_add(new);
        }
        self.fix(share);
    }

    /// Removes the record of `key`, if any, and its cost; its order entry
    /// goes stale, and its share is compacted or freed as needed.
    fn remove(&mut self, key: &RequestKey) -> Option<(RequestKey, Record)> {
        let (stored_key, record) = self.records.remove_entry(key)?;
        self.forget(&record);
        Some((stored_key, record))
    }

    /// Takes a record just removed from the map off its share's counts.
    fn forget(&mut self, record: &Record) {
        let share = record.owner;
        self.bytes = self.bytes.saturating_sub(record.cost);
        if let Some(s) = self.shares.get_mut(share) {
            s.records = s.records.saturating_sub(1);
            s.bytes = s.bytes.saturating_sub(record.cost);
        }
        self.fix(share);
        self.release_if_empty(share);
        self.compact_if_needed(share);
    }

    /// Records `key` at the back of its peer's order (replacing its record,
    /// if it has one: that record's order entry goes stale), then brings the
    /// table back within its bounds.
    fn insert(&mut self, key: RequestKey, since: Instant, state: State) {
        if let Some(old) = self.records.remove(&key) {
            self.forget(&old);
        }
        let owner = self.share_of(key.peer);
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let payload = match &state {
            State::InProgress(waiters) => waiters.len().saturating_mul(WAITER_COST),
            State::Answered(answer) => answer.len(),
        };
        let cost = ENTRY_OVERHEAD.saturating_add(payload);
        self.records.insert(
            key,
            Record {
                generation,
                since,
                cost,
                owner,
                state,
            },
        );
        if let Some(s) = self.shares.get_mut(owner) {
            s.order.push_back((key, generation, since));
            s.records = s.records.saturating_add(1);
        }
        self.add_cost(owner, cost, 0);
        self.enforce_budget();
        self.compact_if_needed(owner);
    }

    /// Evicts records until the table is within `max_entries` and
    /// `max_bytes`: each time the oldest of the peer with the largest share.
    fn enforce_budget(&mut self) {
        while self.records.len() > self.limits.max_entries || self.bytes > self.limits.max_bytes {
            let Some(&largest) = self.heap.first() else {
                break;
            };
            if !self.evict_oldest(largest) {
                break;
            }
        }
    }

    /// Removes the oldest record of `share`, dropping the stale entries in
    /// front of it; false when it has none.
    fn evict_oldest(&mut self, share: usize) -> bool {
        loop {
            match self.pop_front(share) {
                Some(true) => return true,
                Some(false) => continue,
                None => return false,
            }
        }
    }

    /// Pops the front order entry of `share`, removing its record when the
    /// entry is live: `Some(true)` then, `Some(false)` for a stale entry,
    /// `None` when the deque is empty.
    fn pop_front(&mut self, share: usize) -> Option<bool> {
        let (key, generation, _) = self.shares.get_mut(share)?.order.pop_front()?;
        // one lookup: the entry API hashes the key once
        if let Entry::Occupied(record) = self.records.entry(key) {
            if record.get().generation == generation {
                let (_, record) = record.remove_entry();
                self.forget(&record);
                return Some(true);
            }
        }
        // its front moved
        self.fix(share);
        Some(false)
    }

    /// Drops the stale order entries of `share` once they outnumber its
    /// records. Each record has exactly one live entry, so afterwards the
    /// deque is as long as the share's record count, and the next
    /// compaction is at least that many changes away: amortised O(1).
    fn compact_if_needed(&mut self, share: usize) {
        let Some(s) = self.shares.get_mut(share) else {
            return;
        };
        if s.order.len() > s.records.saturating_mul(2) {
            let records = &self.records;
            s.order.retain(|(key, generation, _)| {
                records
                    .get(key)
                    .is_some_and(|r| r.generation == *generation)
            });
            // its front may have moved
            self.fix(share);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Avp;

    /// An answer of `size` bytes (at least 20) with this Hop-by-Hop id and a
    /// recognisable body.
    fn answer(hbh: u32, size: usize) -> Vec<u8> {
        let mut a: Vec<u8> = (0..size.max(20)).map(|i| (i % 251) as u8).collect();
        a[12..16].copy_from_slice(&hbh.to_be_bytes());
        a
    }

    /// The key of a request whose content digest is 0.
    fn rkey(peer: &str, origin_host: &str, end_to_end: u32) -> RequestKey {
        RequestKey::new(peer, origin_host, end_to_end, 0)
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
        let mut live = 0;
        for (i, s) in d.shares.iter().enumerate() {
            let mine = d.records.values().filter(|r| r.owner == i);
            let (count, bytes) = mine.fold((0, 0), |(n, b), r| (n + 1, b + r.cost));
            assert_eq!((s.records, s.bytes), (count, bytes), "share {i}");
            assert!(s.order.len() <= 2 * s.records, "share {i}");
            if s.heap == UNUSED {
                assert_eq!(s.records, 0);
                assert!(d.free.contains(&i));
                continue;
            }
            assert!(s.records > 0, "a share in use has records");
            assert_eq!(d.heap[s.heap], i);
            assert_eq!(d.by_peer.get(&s.peer), Some(&i));
            live += s.order.iter().filter(|(k, g, _)| d.is_live(k, *g)).count();
        }
        assert_eq!(live, d.len(), "every record has exactly one live entry");
        assert_eq!(d.heap.len(), d.by_peer.len());
        for at in 1..d.heap.len() {
            let parent = d.weight(d.heap[(at - 1) / 2]);
            assert!(parent >= d.weight(d.heap[at]), "heap order at {at}");
        }
        assert!(d.len() <= d.limits().max_entries);
        assert!(d.bytes() <= d.limits().max_bytes);
        assert!(d.order_len() <= 2 * d.len());
    }

    #[test]
    fn answered_retransmission_gets_same_bytes_with_own_hop_by_hop() {
        let t0 = Instant::now();
        let p = peer("client.example.net");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let key = rkey(&p, "Client.Example.NET", 7);
        assert_eq!(d.intake(t0, key, false, (1, 100)), Intake::New);
        let sent = answer(100, 64);
        assert!(d.answered(t0, &key, &sent).is_empty());

        // Same request again with the T flag, on another connection of the
        // same peer, Origin-Host in another case.
        let again = rkey(&p, "client.example.net", 7);
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
        let key = rkey(&victim, "victim.example.net", 42);
        assert_eq!(d.intake(t0, key, false, (1, 1)), Intake::New);
        d.answered(t0, &key, &answer(1, 100));

        let forged = rkey(&thief, "victim.example.net", 42);
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
        let key = rkey(&p, "h", 1);
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
        let other = rkey(&p, "h", 2);
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
        let key = rkey(&p, "h", 2);
        assert_eq!(none.intake(t0, key, false, (1, 1)), Intake::New);
        assert_eq!(none.intake(t0, key, true, (1, 2)), Intake::Dropped);
    }

    #[test]
    fn requests_without_t_flag_are_always_new() {
        let t0 = Instant::now();
        let p = peer("p");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let key = rkey(&p, "h", 5);
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
        let key = rkey(&p, "h", 1);
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
        let key = rkey(&p, "h", 9);
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
                let key = rkey(&p, &format!("forged-{i}.example.net"), i);
                let now = t0 + Duration::from_micros(u64::from(i));
                assert_eq!(d.intake(now, key, false, (1, i)), Intake::New);
                d.answered(now, &key, &body);
                assert!(d.bytes() <= limits.max_bytes);
                assert!(d.len() <= limits.max_entries);
                assert!(d.order_len() <= 2 * limits.max_entries);
                if i % 10_000 == 0 {
                    assert_consistent(&d);
                }
            }
            assert_consistent(&d);
            assert!(d.len() > 0);
            // The newest record survived, the oldest did not.
            let newest = rkey(&p, "forged-99999.example.net", 99_999);
            assert!(matches!(
                d.intake(t0 + Duration::from_secs(1), newest, true, (1, 1)),
                Intake::Answered(_)
            ));
            let oldest = rkey(&p, "forged-0.example.net", 0);
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
        let key = rkey(&p, "h", 1);
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            d.intake(now, key, i % 3 == 0, (1, i));
            d.answered(now, &key, &answer(i, 30));
            assert!(d.order_len() <= 2 * d.len());
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
        let a = rkey(&p, "h", 1);
        let b = rkey(&p, "h", 2);
        let c = rkey(&p, "h", 3);
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
        let key = rkey(&p, "h", 1);
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
        let key = rkey(&p, "h", 1);
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
        let key = rkey(&p, "", u32::MAX);
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
        let long = rkey(&p, &"x".repeat(10_000), 1);
        assert_eq!(tiny.intake(t0, long, false, (1, 1)), Intake::New);
        assert_eq!(tiny.len(), 0);
        assert!(tiny.answered(t0, &long, &answer(1, 20)).is_empty());
        assert_consistent(&tiny);
    }

    #[test]
    fn origin_host_is_compared_without_case() {
        let p = peer("p");
        assert_eq!(rkey(&p, "MiXeD.Example", 3), rkey(&p, "mixed.example", 3));
        assert_ne!(rkey(&p, "h", 3), rkey(&peer("q"), "h", 3));
    }

    /// A CCR as a client sends it, encoded.
    fn ccr_bytes(session: &str, hbh: u32, e2e: u32, extra: Vec<Avp>) -> Vec<u8> {
        use crate::message::constants::*;
        use crate::message::{Message, MessageHeader};
        let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
        h.set_request(true);
        h.set_proxyable(true);
        h.hop_by_hop_identifier = hbh;
        h.end_to_end_identifier = e2e;
        let mut avps = vec![
            Avp::new(AVP_SESSION_ID, 0, session).unwrap(),
            Avp::new(AVP_ORIGIN_HOST, 0, "x.client.net").unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, "client.net").unwrap(),
            Avp::new(AVP_CC_REQUEST_NUMBER, 0, 1u32).unwrap(),
        ];
        avps.extend(extra);
        Message::new(h, avps).as_bytes().unwrap()
    }

    #[test]
    fn request_digest_leaves_out_what_relays_change_and_nothing_else() {
        use crate::message::constants::*;
        let original = ccr_bytes("x;1", 10, 77, vec![]);
        let digest = request_digest(&original);
        // the T flag, another hop-by-hop and End-to-End identifier, and the
        // Route-Record and Proxy-Info AVPs of relays and proxies on the way
        let mut again = ccr_bytes(
            "x;1",
            99,
            78,
            vec![
                Avp::new(AVP_ROUTE_RECORD, 0, "relay.relay.net").unwrap(),
                Avp::new(
                    AVP_PROXY_INFO,
                    0,
                    vec![
                        Avp::new(AVP_PROXY_HOST, 0, "proxy.net").unwrap(),
                        Avp::new(AVP_PROXY_STATE, 0, b"st".to_vec()).unwrap(),
                    ],
                )
                .unwrap(),
            ],
        );
        again[4] |= 0x10;
        assert_eq!(request_digest(&again), digest);

        // anything else is another request
        let other_session = ccr_bytes("y;1", 10, 77, vec![]);
        assert_ne!(request_digest(&other_session), digest);
        let more = ccr_bytes(
            "x;1",
            10,
            77,
            vec![Avp::new(AVP_USER_NAME, 0, "someone").unwrap()],
        );
        assert_ne!(request_digest(&more), digest);
        let mut other_app = original.clone();
        other_app[11] ^= 1;
        assert_ne!(request_digest(&other_app), digest);
        let mut other_command = original.clone();
        other_command[7] ^= 1;
        assert_ne!(request_digest(&other_command), digest);
        // a vendor-specific AVP numbered 282 is not a Route-Record
        let vendor = ccr_bytes(
            "x;1",
            10,
            77,
            vec![Avp::with_value(
                AVP_ROUTE_RECORD,
                10415,
                crate::message::AvpValue::Raw(b"relay".to_vec()),
            )],
        );
        assert_ne!(request_digest(&vendor), digest);
        // the same bytes give the same digest; broken ones do not panic
        assert_eq!(request_digest(&original.clone()), digest);
        for cut in 0..original.len() {
            request_digest(&original[..cut]);
        }
        let mut bad_length = original.clone();
        bad_length[20 + 5..20 + 8].copy_from_slice(&[0xff, 0xff, 0xff]);
        request_digest(&bad_length);
        bad_length[20 + 5..20 + 8].copy_from_slice(&[0, 0, 3]);
        request_digest(&bad_length);
    }

    #[test]
    fn another_request_with_the_same_identifiers_never_gets_the_answer() {
        // two clients behind one relay: the authenticated peer is the relay
        let t0 = Instant::now();
        let relay = peer("relay.relay.net");
        let mut d = Duplicates::new(DuplicateLimits::default());
        let x = RequestKey::new(&relay, "x.client.net", 7, 0x1111);
        let y = RequestKey::new(&relay, "x.client.net", 7, 0x2222);
        assert_ne!(x, y);
        assert_eq!(d.intake(t0, x, false, (1, 1)), Intake::New);
        let x_answer = answer(1, 64);
        assert!(d.answered(t0, &x, &x_answer).is_empty());

        // y claims x's Origin-Host and End-to-End with the T flag: new
        assert_eq!(d.intake(t0, y, true, (2, 2)), Intake::New);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d.intake(t0, x, true, (1, 3)),
            Intake::Answered(with_hop_by_hop(&x_answer, 3))
        );
        // without the T flag it neither replaces nor removes x's record
        assert_eq!(d.intake(t0, y, false, (2, 4)), Intake::New);
        d.abandon(&y);
        assert_eq!(
            d.intake(t0, x, true, (1, 5)),
            Intake::Answered(with_hop_by_hop(&x_answer, 5))
        );

        // nor does it wait for x's answer while x is in progress
        let x2 = RequestKey::new(&relay, "x.client.net", 8, 0x3333);
        let y2 = RequestKey::new(&relay, "x.client.net", 8, 0x4444);
        assert_eq!(d.intake(t0, x2, false, (1, 6)), Intake::New);
        assert_eq!(d.intake(t0, y2, true, (2, 7)), Intake::New);
        assert_eq!(d.intake(t0, x2, true, (1, 8)), Intake::InProgress);
        assert_eq!(d.answered(t0, &x2, &answer(6, 40)), vec![(1, 8)]);
        assert!(d.answered(t0, &y2, &answer(7, 40)).is_empty());
        assert_consistent(&d);
    }

    #[test]
    fn a_busy_peer_does_not_evict_a_quiet_peers_record() {
        let t0 = Instant::now();
        let (quiet, busy) = (peer("quiet.example.net"), peer("busy.example.net"));
        let body = answer(0, 100);
        for limits in [
            DuplicateLimits {
                max_entries: 100,
                ..DuplicateLimits::default()
            },
            DuplicateLimits {
                max_bytes: 100 * (ENTRY_OVERHEAD + 100),
                ..DuplicateLimits::default()
            },
        ] {
            let mut d = Duplicates::new(limits);
            let mine = rkey(&quiet, "quiet.example.net", 1);
            assert_eq!(d.intake(t0, mine, false, (1, 1)), Intake::New);
            d.answered(t0, &mine, &body);
            for i in 0..1000u32 {
                let key = rkey(&busy, "busy.example.net", i);
                assert_eq!(d.intake(t0, key, false, (2, i)), Intake::New);
                d.answered(t0, &key, &body);
                assert!(d.len() <= limits.max_entries && d.bytes() <= limits.max_bytes);
            }
            assert_consistent(&d);
            assert!(matches!(
                d.intake(t0, mine, true, (1, 2)),
                Intake::Answered(_)
            ));
            // the busy peer gave up its own oldest records
            let newest = rkey(&busy, "busy.example.net", 999);
            assert!(matches!(
                d.intake(t0, newest, true, (2, 1000)),
                Intake::Answered(_)
            ));
            let oldest = rkey(&busy, "busy.example.net", 0);
            assert_eq!(d.intake(t0, oldest, true, (2, 1001)), Intake::New);
            assert_consistent(&d);
        }
    }

    #[test]
    fn the_largest_share_gives_up_records_first() {
        let t0 = Instant::now();
        let mut d = Duplicates::new(DuplicateLimits {
            max_entries: 10,
            ..DuplicateLimits::default()
        });
        let keys = |p: &str, n: u32| (0..n).map(|i| rkey(p, p, i)).collect::<Vec<_>>();
        let (a, b, c) = (keys("a", 5), keys("b", 3), keys("c", 2));
        for k in a.iter().chain(&b).chain(&c) {
            d.intake(t0, *k, false, (1, 1));
        }
        assert_eq!(d.len(), 10);
        // a holds 5: c's new records cost the largest holder its oldest (a
        // first, then a or c, level at 4)
        let more_c: Vec<_> = (2..4).map(|i| rkey("c", "c", i)).collect();
        for k in &more_c {
            d.intake(t0, *k, false, (1, 1));
        }
        assert_consistent(&d);
        assert_eq!(d.intake(t0, a[0], true, (1, 1)), Intake::New);
        // a[0] was pushed out and comes back as new, again at the cost of
        // a or c, never of b, the smallest
        for k in &b {
            assert_eq!(d.intake(t0, *k, true, (1, 1)), Intake::InProgress);
        }
        assert_eq!(d.len(), 10);
        assert_consistent(&d);
    }

    #[test]
    fn shares_stay_consistent_under_mixed_operations() {
        // a fixed pseudo-random mix of every operation over a few peers
        let t0 = Instant::now();
        let mut d = Duplicates::new(DuplicateLimits {
            max_entries: 50,
            max_bytes: 50 * (ENTRY_OVERHEAD + 200),
            ttl: Duration::from_secs(10),
            max_waiters: 2,
        });
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p = format!("p{}", x % 7);
            let key = rkey(&p, "h", ((x >> 8) % 40) as u32);
            let now = t0 + Duration::from_millis(u64::from(step));
            match (x >> 20) % 6 {
                0 | 1 => {
                    d.intake(now, key, (x >> 30) % 2 == 0, (1, step));
                }
                2 | 3 => {
                    d.answered(now, &key, &answer(step, 20 + ((x >> 32) % 400) as usize));
                }
                4 => d.abandon(&key),
                _ => d.expire(now),
            }
            if step % 97 == 0 {
                assert_consistent(&d);
            }
        }
        assert_consistent(&d);
        d.expire(t0 + Duration::from_secs(1000));
        assert_eq!((d.len(), d.bytes(), d.heap.len()), (0, 0, 0));
        assert_consistent(&d);
    }

    #[test]
    fn equal_shares_give_up_their_oldest_records_first() {
        let t0 = Instant::now();
        let mut d = Duplicates::new(DuplicateLimits {
            max_entries: 10,
            ..DuplicateLimits::default()
        });
        let one = |i: u32| rkey(&format!("p{i}"), "h", i);
        for i in 0..10 {
            assert_eq!(d.intake(t0, one(i), false, (1, i)), Intake::New);
        }
        // one record each: a newcomer pushes out the oldest, then the next
        for i in 10..13 {
            assert_eq!(d.intake(t0, one(i), false, (1, i)), Intake::New);
            assert_consistent(&d);
        }
        for i in 0..3 {
            assert_eq!(d.intake(t0, one(i), true, (2, i)), Intake::New);
            // which pushed out the oldest left, p3 and on in turn
            assert_consistent(&d);
        }
        for i in 6..13 {
            assert_eq!(d.intake(t0, one(i), true, (3, i)), Intake::InProgress);
        }
        assert_eq!(d.len(), 10);
    }
}
