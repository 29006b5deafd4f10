//! The redirect-following agent's own tables (RFC 6733 §6.1.7): requests
//! waiting for the connection to the host a 3006 named, and the peers the
//! node added for Redirect-Hosts that name an address. Both bounded
//! (`NodeLimits::max_redirect_waiting`, `max_redirect_peers`, and the bytes
//! of the 3006 answers kept). The glue that connects, sends and fails
//! requests is `core/agent/follow.rs`; the cache of learned redirects is
//! shared with callers (`shared/redirect.rs`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::message::Message;
use crate::node::core::conn::Retry;
use crate::node::peer::{later, AppId, Peer};
use crate::node::shared::Reply;
use crate::node::uri::DiameterUri;

/// A peer added for a redirect is closed once it has been unused this long
/// (no cache entry names it, nothing waits for it or on it).
const LEARNED_IDLE: Duration = Duration::from_secs(60);

/// Bytes of 3006 answers kept for requests waiting for their redirect
/// host's connection, at most: beyond, a redirect that must wait is not
/// followed (its caller gets the 3006 at once).
const WAITING_ANSWER_BYTES: usize = 16 << 20;

/// A request waiting for the connection to its redirect host.
pub(crate) struct Waiting {
    /// The host.
    pub peer: Arc<Peer>,
    /// The encoded request.
    pub bytes: Vec<u8>,
    /// Its End-to-End identifier.
    pub end_to_end: u32,
    /// The caller.
    pub reply: Reply,
    /// When its pending entry expires once sent.
    pub expires: Instant,
    /// Its failover and redirect bounds.
    pub retry: Option<Retry>,
    /// The application it was routed for.
    pub app: Option<AppId>,
    /// When its caller stops waiting: it is dropped then.
    pub deadline: Instant,
    /// The 3006 the caller gets when the host cannot be reached; `None`
    /// for a request the cache sent there (it goes by routing instead).
    pub answer: Option<Message>,
}

/// A peer the node added for a Redirect-Host naming an IP address.
struct Learned {
    peer: Arc<Peer>,
    last_used: Instant,
}

/// The loop's redirect state: requests waiting for connections, and the
/// peers added for redirects. Both bounded (`NodeLimits`).
#[derive(Default)]
pub(crate) struct Redirects {
    waiting: Vec<Waiting>,
    /// Bytes of the 3006 answers kept in `waiting`.
    answer_bytes: usize,
    learned: Vec<Learned>,
}

/// The bytes a waiting request's kept 3006 takes (its encoded length).
pub(crate) fn kept(w: &Waiting) -> usize {
    w.answer.as_ref().map_or(0, Message::length)
}

impl Redirects {
    /// Whether any request waits for a redirect host.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Whether a request waits for `peer`.
    pub(crate) fn waits_for(&self, peer: &Arc<Peer>) -> bool {
        self.waiting.iter().any(|w| Arc::ptr_eq(&w.peer, peer))
    }

    /// Whether `w` may wait: fewer than `max_waiting` wait, and the 3006
    /// answers kept stay within their byte bound.
    pub(crate) fn has_room_for(&self, w: &Waiting, max_waiting: usize) -> bool {
        self.waiting.len() < max_waiting
            && self.answer_bytes.saturating_add(kept(w)) <= WAITING_ANSWER_BYTES
    }

    /// `w` waits for its host's connection ([`has_room_for`](Self::has_room_for) said yes).
    pub(crate) fn wait(&mut self, w: Waiting) {
        self.answer_bytes = self.answer_bytes.saturating_add(kept(&w));
        self.waiting.push(w);
    }

    /// The requests waiting for `peer`, taken out.
    pub(crate) fn take_waiting(&mut self, peer: &Arc<Peer>) -> Vec<Waiting> {
        let (mine, others): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| Arc::ptr_eq(&w.peer, peer));
        self.waiting = others;
        let freed: usize = mine.iter().map(kept).sum();
        self.answer_bytes = self.answer_bytes.saturating_sub(freed);
        mine
    }

    /// Every waiting request, taken out (the node stops).
    pub(crate) fn take_all_waiting(&mut self) -> Vec<Waiting> {
        self.answer_bytes = 0;
        std::mem::take(&mut self.waiting)
    }

    /// Waiting requests whose callers stopped waiting go (nobody to tell).
    pub(crate) fn drop_given_up(&mut self, now: Instant) {
        if self.waiting.iter().any(|w| w.deadline <= now) {
            self.waiting.retain(|w| w.deadline > now);
            self.answer_bytes = self.waiting.iter().map(kept).sum();
        }
    }

    /// How many peers were added for redirects.
    pub(crate) fn learned_len(&self) -> usize {
        self.learned.len()
    }

    /// The peer added earlier for `host` at the URI's port and security.
    pub(crate) fn learned_for(&self, host: &str, uri: &DiameterUri) -> Option<Arc<Peer>> {
        self.learned
            .iter()
            .find(|l| {
                l.peer.node_name.eq_ignore_ascii_case(host)
                    && l.peer.port == uri.port
                    && l.peer.is_secure == uri.is_secure
            })
            .map(|l| l.peer.clone())
    }

    /// Whether `peer` was added for a redirect.
    pub(crate) fn is_learned(&self, peer: &Arc<Peer>) -> bool {
        self.learned.iter().any(|l| Arc::ptr_eq(&l.peer, peer))
    }

    /// Whether `peer` was added for a Redirect-Host naming an address (its
    /// Origin-Host is not known).
    pub(crate) fn learned_by_address(&self, peer: &Arc<Peer>) -> bool {
        self.learned
            .iter()
            .any(|l| Arc::ptr_eq(&l.peer, peer) && l.peer.node_name.parse::<IpAddr>().is_ok())
    }

    /// Remembers a peer added for a redirect, used now.
    pub(crate) fn add_learned(&mut self, peer: Arc<Peer>, now: Instant) {
        self.learned.push(Learned {
            peer,
            last_used: now,
        });
    }

    /// A request goes to `peer` now (if it is one added for a redirect).
    pub(crate) fn used(&mut self, peer: &Arc<Peer>, now: Instant) {
        if let Some(l) = self.learned.iter_mut().find(|l| Arc::ptr_eq(&l.peer, peer)) {
            l.last_used = now;
        }
    }

    /// The added peer unused longest (and not used at `now`) among those
    /// `unused` says nothing needs.
    pub(crate) fn least_recently_used(
        &self,
        now: Instant,
        unused: impl Fn(&Arc<Peer>) -> bool,
    ) -> Option<Arc<Peer>> {
        self.learned
            .iter()
            .filter(|l| l.last_used < now && unused(&l.peer))
            .min_by_key(|l| l.last_used)
            .map(|l| l.peer.clone())
    }

    /// Added peers unused for a while (candidates to close).
    pub(crate) fn idle_learned(&self, now: Instant) -> impl Iterator<Item = Arc<Peer>> + '_ {
        self.learned
            .iter()
            .filter(move |l| later(l.last_used, LEARNED_IDLE) <= now)
            .map(|l| l.peer.clone())
    }

    /// Forgets a peer added for a redirect.
    pub(crate) fn forget_learned(&mut self, peer: &Arc<Peer>) {
        self.learned.retain(|l| !Arc::ptr_eq(&l.peer, peer));
    }
}
