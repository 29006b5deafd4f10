//! One connection of the node, as the protocol layer sees it (sans-IO): its
//! peer machine, the peer it belongs to once known, its deadlines, the
//! requests sent on it waiting for answers and the requests received on it
//! waiting for the application's answer. Each table is bounded and expires;
//! when the connection goes, so does everything it owned. The socket itself
//! belongs to the event loop's slot with the same id.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::message::Message;
use crate::node::core::agent::duplicates::RequestKey;
use crate::node::core::agent::proxy::ProxyHandler;
use crate::node::error::{ApplicationError, EmptyReason, NodeError};
use crate::node::idhash::IdMap;
use crate::node::peer::{AppId, Connection, Peer, PEER_RECV, PEER_SEND};
use crate::node::shared::owed::OwedBook;
use crate::node::shared::Reply;

pub(crate) use crate::node::shared::{next_conn_id, ConnId};

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// We connected to the peer.
    Outgoing,
    /// The peer connected to us.
    Incoming,
}

impl Direction {
    /// python's PEER_SEND / PEER_RECV.
    pub(crate) fn code(self) -> u8 {
        match self {
            Direction::Outgoing => PEER_SEND,
            Direction::Incoming => PEER_RECV,
        }
    }
}

/// A request sent on this connection, waiting for its answer.
pub(crate) struct Pending {
    /// End-to-End identifier the answer must carry.
    pub end_to_end: u32,
    /// The waiting caller.
    pub reply: Reply,
    /// When the entry is forgotten (caller's timeout plus the late window).
    pub expires: Instant,
    /// What it takes to send it to another peer if this connection fails
    /// (`None` when failover is off or nobody waits).
    pub failover: Option<Failover>,
}

/// A request kept while it waits for its answer, so that it can be sent
/// to another peer when its connection fails (RFC 6733 §5.5.4).
pub(crate) struct Failover {
    /// The encoded request (its hop-by-hop is replaced when sent again).
    pub bytes: Vec<u8>,
    /// Routing and bounds.
    pub retry: Retry,
}

/// How a request may be failed over.
#[derive(Clone, Copy)]
pub(crate) struct Retry {
    /// The application it was routed for.
    pub app: AppId,
    /// Times it was failed over already.
    pub attempts: u8,
    /// Times it was redirected already (3006 answers followed).
    pub redirects: u8,
    /// When its caller stops waiting: no failover after that.
    pub caller_deadline: Instant,
}

/// A request received on this connection and handed to an application.
pub(crate) struct Owed {
    /// When it arrived (processing time statistics).
    pub received: Instant,
    /// Its command code (statistics).
    pub command_code: u32,
    /// When it is forgotten.
    pub expires: Instant,
    /// Its duplicate-detection record.
    pub key: Option<RequestKey>,
}

/// One connection's protocol state.
pub(crate) struct Conn {
    /// The id.
    pub id: ConnId,
    /// The peer machine; `None` while an outgoing connect is in progress.
    pub machine: Option<Connection>,
    /// The configured peer, once known (outgoing: from the start; incoming:
    /// once its CER is accepted).
    pub peer: Option<Arc<Peer>>,
    /// The authenticated identity (lower-cased Origin-Host of an accepted
    /// CER or of the CEA), keying duplicate detection.
    pub identity: Option<Arc<str>>,
    /// Who opened it.
    pub direction: Direction,
    /// The peer's (primary) address.
    pub remote: SocketAddr,
    /// Every address of the peer (several for SCTP).
    pub remote_ips: Vec<IpAddr>,
    /// TLS from the first byte.
    pub secure: bool,
    /// TLS can still start on it (in-band).
    pub can_start_tls: bool,
    /// The transport's largest message, when it has one (SCTP).
    pub max_send: Option<usize>,
    /// An outgoing connect must finish by then.
    pub connect_deadline: Option<Instant>,
    /// A closed connection's last bytes must be written by then.
    pub flush_deadline: Option<Instant>,
    /// The node's applications generation when it was opened: a connection
    /// refused before the applications changed is retried at once.
    pub apps_generation: u64,
    /// The Disconnect-Cause of the DPR its peer sent on it, if any.
    pub dpr_cause: Option<i32>,
    pending: IdMap<u32, Pending>,
    pending_order: VecDeque<(Instant, u32)>,
    owed: IdMap<(u32, u32), Owed>,
    owed_order: VecDeque<(Instant, (u32, u32))>,
    /// Requests relayed on this connection, waiting for their answers (a
    /// table of their own, keyed by the hop-by-hop identifier given here,
    /// and counted in `max_pending_per_connection` with `pending`).
    relayed: IdMap<u32, Relayed>,
    relayed_order: VecDeque<(Instant, u32)>,
    /// Bytes of the copies kept for failover of the requests relayed on
    /// it (at most `relay_copy_bytes_per_connection`).
    copy_bytes: Arc<AtomicUsize>,
}

/// A request relayed on this connection (RFC 6733 §6.1.9): where its answer
/// goes back, and what it takes to send it to another next hop if this
/// connection fails (RFC 6733 §5.5.4).
pub(crate) struct Relayed {
    /// The connection the request came in on.
    pub from: ConnId,
    /// The request's header as received (its hop-by-hop identifier is
    /// restored in the answer).
    pub header: crate::message::MessageHeader,
    /// Its Session-Id, for an error answer if this connection closes first.
    pub session: Option<crate::message::Avp>,
    /// The peer it went to (its load counts the request).
    pub to: Arc<Peer>,
    /// When it is forgotten.
    pub expires: Instant,
    /// The request as forwarded (Route-Record included), kept for failover
    /// when `max_failovers` is not 0 and the byte budgets have room
    /// ([`CopyBudget`]).
    pub request: Option<KeptCopy>,
    /// Times it was failed over already.
    pub attempts: u8,
    /// The connection's [`bytes_read`](Connection::bytes_read) when it was
    /// queued there: unchanged at a close, the close came before anything
    /// was read after it (RFC 6733 gives no way to tell why a peer closes;
    /// this is as near as the relay can get to "closed because of it").
    pub read_mark: u64,
    /// The proxy handler that saw it (its answer goes through it too).
    pub proxy: Option<Arc<dyn ProxyHandler>>,
}

/// The byte budgets of the copies of relayed requests kept for failover:
/// per connection they go out on, and for the node.
pub(crate) struct CopyBudget {
    /// Bytes kept on the whole node now (shared with [`RelayStats`](crate::node::RelayStats)).
    pub node: Arc<AtomicUsize>,
    /// Most bytes kept for one connection.
    pub per_connection: usize,
    /// Most bytes kept for the node.
    pub per_node: usize,
}

/// The copy of a relayed request kept for failover: counted in its
/// connection's and the node's budgets until it is dropped or taken back
/// ([`take_bytes`](Self::take_bytes)).
pub(crate) struct KeptCopy {
    bytes: Vec<u8>,
    counted: usize,
    conn: Arc<AtomicUsize>,
    node: Arc<AtomicUsize>,
}

impl KeptCopy {
    /// The request's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes its bytes out, no longer counted (to be sent again).
    pub(crate) fn take_bytes(&mut self) -> Vec<u8> {
        self.release();
        std::mem::take(&mut self.bytes)
    }

    /// Puts back bytes taken out (they could not be sent), counted again.
    pub(crate) fn restore(&mut self, bytes: Vec<u8>) {
        self.release();
        self.counted = bytes.len();
        self.conn.fetch_add(self.counted, Ordering::Relaxed);
        self.node.fetch_add(self.counted, Ordering::Relaxed);
        self.bytes = bytes;
    }

    fn release(&mut self) {
        let n = std::mem::take(&mut self.counted);
        self.conn.fetch_sub(n, Ordering::Relaxed);
        self.node.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Drop for KeptCopy {
    fn drop(&mut self) {
        self.release();
    }
}

/// Why a request could not be registered.
pub(crate) enum PendingRefused {
    /// The connection does not carry requests now.
    NotReady,
    /// Too many requests wait already.
    Full,
}

impl Conn {
    /// A connection without its machine yet.
    pub(crate) fn new(id: ConnId, direction: Direction, remote: SocketAddr) -> Conn {
        Conn {
            id,
            machine: None,
            peer: None,
            identity: None,
            direction,
            remote,
            remote_ips: vec![remote.ip()],
            secure: false,
            can_start_tls: false,
            max_send: None,
            connect_deadline: None,
            flush_deadline: None,
            apps_generation: 0,
            dpr_cause: None,
            pending: IdMap::default(),
            pending_order: VecDeque::new(),
            owed: IdMap::default(),
            owed_order: VecDeque::new(),
            relayed: IdMap::default(),
            relayed_order: VecDeque::new(),
            copy_bytes: Arc::default(),
        }
    }

    /// A short name for logs: the peer, else the address.
    pub(crate) fn name(&self) -> String {
        match (&self.peer, &self.identity) {
            (Some(p), _) => p.node_name.clone(),
            (None, Some(i)) => i.to_string(),
            _ => self.remote.to_string(),
        }
    }

    /// Whether requests may be sent on it now.
    pub(crate) fn is_ready(&self) -> bool {
        self.machine.as_ref().is_some_and(Connection::is_ready)
    }

    /// Bytes waiting to be written.
    pub(crate) fn output_len(&self) -> usize {
        self.machine
            .as_ref()
            .map_or(0, |m| m.pending_output().len())
    }

    /// Requests waiting for answers on it.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Answers owed on it.
    pub(crate) fn owed_len(&self) -> usize {
        self.owed.len()
    }

    /// Queues an encoded request: assigns it a hop-by-hop identifier unique
    /// on this connection (patched into `bytes`), and remembers where its
    /// answer goes; with `retry`, keeps `bytes` for failover.
    pub(crate) fn send_request(
        &mut self,
        mut bytes: Vec<u8>,
        end_to_end: u32,
        reply: Reply,
        expires: Instant,
        max_pending: usize,
        retry: Option<Retry>,
    ) -> Result<(), (PendingRefused, Reply)> {
        let Some(machine) = self.machine.as_mut() else {
            return Err((PendingRefused::NotReady, reply));
        };
        if !machine.is_ready() {
            return Err((PendingRefused::NotReady, reply));
        }
        if self.pending.len() + self.relayed.len() >= max_pending {
            return Err((PendingRefused::Full, reply));
        }
        // the machine's sequence starts at a random value; skip the (rare)
        // ones still in use after a wrap
        let mut hop_by_hop = machine.next_hop_by_hop();
        while self.pending.contains_key(&hop_by_hop) || self.relayed.contains_key(&hop_by_hop) {
            hop_by_hop = machine.next_hop_by_hop();
        }
        if let Some(field) = bytes.get_mut(12..16) {
            field.copy_from_slice(&hop_by_hop.to_be_bytes());
        }
        if machine.send_bytes(&bytes, true).is_err() {
            return Err((PendingRefused::Full, reply));
        }
        let failover = retry.map(|retry| Failover { bytes, retry });
        self.pending.insert(
            hop_by_hop,
            Pending {
                end_to_end,
                reply,
                expires,
                failover,
            },
        );
        self.pending_order.push_back((expires, hop_by_hop));
        Ok(())
    }

    /// The request an answer received on this connection belongs to:
    /// matched by hop-by-hop and checked against the End-to-End id.
    pub(crate) fn take_pending(&mut self, answer: &Message) -> Result<Pending, Unmatched> {
        let h = &answer.header;
        let Some(p) = self.pending.get(&h.hop_by_hop_identifier) else {
            return Err(Unmatched::NoRequest);
        };
        if p.end_to_end != h.end_to_end_identifier {
            return Err(Unmatched::WrongEndToEnd);
        }
        self.pending
            .remove(&h.hop_by_hop_identifier)
            .ok_or(Unmatched::NoRequest)
    }

    /// Queues a request this node relays: gives it a hop-by-hop identifier
    /// of this connection (patched into `bytes`) and remembers where its
    /// answer goes, with a copy of `bytes` for failover when `keep` is
    /// given and its budgets have room. Relayed and own requests share
    /// `max_pending`. Returns whether the copy was kept; refused, it gives
    /// both back.
    // the refused request comes back whole, rarely: cheaper than boxing it
    // on every call
    #[allow(clippy::result_large_err)]
    pub(crate) fn relay_request(
        &mut self,
        mut bytes: Vec<u8>,
        mut relayed: Relayed,
        keep: Option<&CopyBudget>,
        max_pending: usize,
    ) -> Result<bool, (PendingRefused, Vec<u8>, Relayed)> {
        let Some(machine) = self.machine.as_mut().filter(|m| m.is_ready()) else {
            return Err((PendingRefused::NotReady, bytes, relayed));
        };
        if self.pending.len() + self.relayed.len() >= max_pending {
            return Err((PendingRefused::Full, bytes, relayed));
        }
        let mut hop_by_hop = machine.next_hop_by_hop();
        while self.pending.contains_key(&hop_by_hop) || self.relayed.contains_key(&hop_by_hop) {
            hop_by_hop = machine.next_hop_by_hop();
        }
        crate::node::core::agent::relay::set_hop_by_hop(&mut bytes, hop_by_hop);
        if machine.send_bytes(&bytes, true).is_err() {
            return Err((PendingRefused::Full, bytes, relayed));
        }
        relayed.read_mark = machine.bytes_read();
        let n = bytes.len();
        let room = |used: &AtomicUsize, limit: usize| {
            used.load(Ordering::Relaxed)
                .checked_add(n)
                .is_some_and(|t| t <= limit)
        };
        let kept =
            keep.filter(|b| room(&self.copy_bytes, b.per_connection) && room(&b.node, b.per_node));
        relayed.request = kept.map(|b| {
            self.copy_bytes.fetch_add(n, Ordering::Relaxed);
            b.node.fetch_add(n, Ordering::Relaxed);
            KeptCopy {
                bytes,
                counted: n,
                conn: self.copy_bytes.clone(),
                node: b.node.clone(),
            }
        });
        let copied = relayed.request.is_some();
        self.relayed_order.push_back((relayed.expires, hop_by_hop));
        self.relayed.insert(hop_by_hop, relayed);
        Ok(copied)
    }

    /// Requests relayed on it waiting for answers.
    pub(crate) fn relayed_len(&self) -> usize {
        self.relayed.len()
    }

    /// Takes every relayed request waiting here, with its hop-by-hop
    /// identifier (the connection failed: they may go elsewhere); those
    /// that cannot go are given back with [`keep_relayed`](Self::keep_relayed).
    pub(crate) fn take_all_relayed(&mut self) -> Vec<(u32, Relayed)> {
        self.relayed.drain().collect()
    }

    /// Puts back relayed requests taken by
    /// [`take_all_relayed`](Self::take_all_relayed) (their expiry order was
    /// kept).
    pub(crate) fn keep_relayed(&mut self, kept: Vec<(u32, Relayed)>) {
        self.relayed.extend(kept);
    }

    /// The relayed request an answer received here belongs to, if any:
    /// `None` when its hop-by-hop is not a relayed one; `Err` when the
    /// End-to-End id differs (the answer is dropped, the entry kept).
    pub(crate) fn take_relayed(&mut self, answer: &Message) -> Option<Result<Relayed, Unmatched>> {
        if self.relayed.is_empty() {
            return None;
        }
        let h = &answer.header;
        let r = self.relayed.get(&h.hop_by_hop_identifier)?;
        if r.header.end_to_end_identifier != h.end_to_end_identifier {
            return Some(Err(Unmatched::WrongEndToEnd));
        }
        self.relayed.remove(&h.hop_by_hop_identifier).map(Ok)
    }

    /// Forgets the relayed requests whose answers are overdue.
    pub(crate) fn expire_relayed(&mut self, now: Instant) -> Vec<Relayed> {
        let mut out = Vec::new();
        while let Some((at, hbh)) = self.relayed_order.front().copied() {
            if at > now {
                break;
            }
            self.relayed_order.pop_front();
            if self.relayed.get(&hbh).is_some_and(|r| r.expires <= now) {
                out.extend(self.relayed.remove(&hbh));
            }
        }
        if self.relayed_order.len() > 2 * self.relayed.len() + 64 {
            let live = &self.relayed;
            self.relayed_order.retain(|(_, h)| live.contains_key(h));
        }
        out
    }

    /// The connection is gone: its relayed requests, to be answered where
    /// they came from.
    pub(crate) fn close_relayed(&mut self) -> Vec<Relayed> {
        self.relayed_order.clear();
        self.relayed.drain().map(|(_, r)| r).collect()
    }

    /// Records a request handed to an application; false when the
    /// connection owes too many answers already.
    pub(crate) fn owe(
        &mut self,
        hop_by_hop: u32,
        end_to_end: u32,
        owed: Owed,
        max_owed: usize,
        book: &OwedBook,
    ) -> bool {
        if self.owed.len() >= max_owed {
            return false;
        }
        let expires = owed.expires;
        let key = (hop_by_hop, end_to_end);
        if self.owed.insert(key, owed).is_none() {
            self.owed_order.push_back((expires, key));
        }
        book.insert(hop_by_hop, end_to_end, self.id);
        true
    }

    /// Whether this connection owes the answer `(hop_by_hop, end_to_end)`.
    pub(crate) fn owes(&self, hop_by_hop: u32, end_to_end: u32) -> bool {
        self.owed.contains_key(&(hop_by_hop, end_to_end))
    }

    /// Takes the owed entry an answer settles; `book` when the answer's
    /// sender did not claim the shared entry already.
    pub(crate) fn take_owed(
        &mut self,
        hop_by_hop: u32,
        end_to_end: u32,
        book: Option<&OwedBook>,
    ) -> Option<Owed> {
        let owed = self.owed.remove(&(hop_by_hop, end_to_end))?;
        if let Some(book) = book {
            book.remove(hop_by_hop, end_to_end, self.id);
        }
        Some(owed)
    }

    /// Forgets what expired: requests whose caller is long gone, and
    /// answers the application never gave. Returns the duplicate records of
    /// the latter, and how many of each expired.
    pub(crate) fn expire(&mut self, now: Instant, book: &OwedBook) -> Expired {
        let mut out = Expired::default();
        while let Some((at, hbh)) = self.pending_order.front().copied() {
            if at > now {
                break;
            }
            self.pending_order.pop_front();
            if self.pending.get(&hbh).is_some_and(|p| p.expires <= now) {
                self.pending.remove(&hbh);
                out.pending += 1;
            }
        }
        while let Some((at, key)) = self.owed_order.front().copied() {
            if at > now {
                break;
            }
            self.owed_order.pop_front();
            if self.owed.get(&key).is_some_and(|o| o.expires <= now) {
                if let Some(o) = self.owed.remove(&key) {
                    book.remove(key.0, key.1, self.id);
                    out.owed += 1;
                    out.keys.extend(o.key);
                }
            }
        }
        // stale order entries (settled ones) cannot pile up beyond the tables
        if self.pending_order.len() > 2 * self.pending.len() + 64 {
            let live = &self.pending;
            self.pending_order.retain(|(_, h)| live.contains_key(h));
        }
        if self.owed_order.len() > 2 * self.owed.len() + 64 {
            let live = &self.owed;
            self.owed_order.retain(|(_, k)| live.contains_key(k));
        }
        out
    }

    /// Takes every request waiting for an answer on this connection (it
    /// failed: they go elsewhere or fail); an answer that still comes on it
    /// matches nothing and is dropped.
    pub(crate) fn take_all_pending(&mut self) -> Vec<Pending> {
        self.pending_order.clear();
        self.pending.drain().map(|(_, p)| p).collect()
    }

    /// The connection is gone: every waiting caller gets `EmptyAnswer` at
    /// once; owed answers are dropped. Returns the owed requests'
    /// duplicate records.
    pub(crate) fn close_tables(&mut self, reason: EmptyReason, book: &OwedBook) -> Vec<RequestKey> {
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(ApplicationError::EmptyAnswer(reason)));
        }
        self.pending_order.clear();
        self.owed_order.clear();
        let id = self.id;
        self.owed
            .drain()
            .filter_map(|((hbh, e2e), o)| {
                book.remove(hbh, e2e, id);
                o.key
            })
            .collect()
    }

    /// Fails one waiting caller at once (its request could not be sent).
    pub(crate) fn fail_reply(reply: Reply, error: NodeError) {
        let _ = reply.send(Err(ApplicationError::Node(error)));
    }
}

/// What [`Conn::expire`] removed.
#[derive(Default)]
pub(crate) struct Expired {
    pub pending: usize,
    pub owed: usize,
    pub keys: Vec<RequestKey>,
}

/// Why an answer matched no request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unmatched {
    /// No request with its hop-by-hop went out on this connection.
    NoRequest,
    /// The hop-by-hop matched, the End-to-End did not.
    WrongEndToEnd,
}
