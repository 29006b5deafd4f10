//! Admission of incoming connections that have not sent their CER yet
//! (sans-IO: the protocol layer asks, the event loop closes what it is told
//! to).
//!
//! A connection is *unauthenticated* from its accept until its capabilities
//! exchange completes. Such connections are bounded twice: at most
//! `max_unauthenticated` of them in all (never more than the node's
//! `max_connections`), and at most `max_unauthenticated_per_ip` from one
//! source (one IPv4 address, one IPv6 /64). So at least `max_connections -
//! max_unauthenticated` connections are always left for peers that
//! completed their CER and for the node's own outgoing connections.
//!
//! When a bound is hit, the new connection is admitted and the *oldest*
//! unauthenticated connection of that bound is closed instead of refusing
//! the new one: a flood that reopens connections as fast as they close can
//! then hold a slot only until `max_unauthenticated` newer connections come,
//! and a peer that sends its CER within that window gets in, however many
//! addresses the flood uses. Connections from an address some configured
//! peer has are closed last: a connection from any other address never
//! closes one of them (it is refused instead when only they are left).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::node::core::conn::ConnId;
use crate::node::idhash::IdMap;

/// What a per-source bound counts: one IPv4 address, or one IPv6 /64 (a
/// single host usually has a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4(u32),
    V6(u64),
}

impl Source {
    pub(crate) fn of(ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => Source::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

/// The decision on a new incoming connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Admitted; close this older unauthenticated connection to make room.
    Yes(Option<ConnId>),
    /// Refused: close the new connection at once.
    No,
}

struct Entry {
    source: Source,
}

/// The unauthenticated connections, oldest first.
pub(crate) struct Admission {
    max: usize,
    per_source: usize,
    entries: IdMap<ConnId, Entry>,
    /// Admission order of connections from addresses no configured peer
    /// has; ids no longer in `entries` are skipped (and compacted away).
    others: VecDeque<ConnId>,
    /// The same for addresses of configured peers.
    known: VecDeque<ConnId>,
    /// Each source's connections, oldest first (at most `per_source`).
    sources: HashMap<Source, VecDeque<ConnId>>,
}

impl Admission {
    /// Bounds of `max` in all and `per_source` per source (each at least 1).
    pub(crate) fn new(max: usize, per_source: usize) -> Admission {
        Admission {
            max: max.max(1),
            per_source: per_source.max(1),
            entries: IdMap::default(),
            others: VecDeque::new(),
            known: VecDeque::new(),
            sources: HashMap::new(),
        }
    }

    /// How many unauthenticated connections there are.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Decides on connection `id` from `ip` (`known`: an address of a
    /// configured peer), while the node holds `conns` connections of
    /// `max_connections` at most. An admitted connection is counted until
    /// [`remove`](Self::remove).
    pub(crate) fn admit(
        &mut self,
        id: ConnId,
        ip: IpAddr,
        known: bool,
        conns: usize,
        max_connections: usize,
    ) -> Admit {
        let source = Source::of(ip);
        let max = self.max.min(max_connections);
        let mut evict = None;
        let same = self.sources.get(&source).map_or(0, VecDeque::len);
        if same >= self.per_source {
            // the source's own oldest makes room: one source cannot take
            // more, nor shut out another connection from it that is quick
            // with its CER
            evict = self.sources.get(&source).and_then(|q| q.front().copied());
        } else if self.entries.len() >= max || conns >= max_connections {
            evict = self.oldest(known);
            if evict.is_none() {
                // full of peers that completed their CER (or of
                // connections from configured peers' addresses)
                return Admit::No;
            }
        }
        if let Some(old) = evict {
            self.remove(old);
        }
        self.entries.insert(id, Entry { source });
        match known {
            true => self.known.push_back(id),
            false => self.others.push_back(id),
        }
        self.sources.entry(source).or_default().push_back(id);
        Admit::Yes(evict)
    }

    /// The connection to close for a new one: the oldest from an address
    /// no configured peer has; for a new connection from a configured
    /// peer's address, else the oldest from such an address.
    fn oldest(&mut self, known: bool) -> Option<ConnId> {
        let live = |q: &mut VecDeque<ConnId>, entries: &IdMap<ConnId, Entry>| {
            while let Some(id) = q.front() {
                if entries.contains_key(id) {
                    return Some(*id);
                }
                q.pop_front();
            }
            None
        };
        live(&mut self.others, &self.entries).or_else(|| match known {
            true => live(&mut self.known, &self.entries),
            false => None,
        })
    }

    /// Connection `id` is no longer unauthenticated (its CER was accepted)
    /// or is gone; nothing when it was not counted.
    pub(crate) fn remove(&mut self, id: ConnId) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        if let Some(q) = self.sources.get_mut(&entry.source) {
            q.retain(|c| *c != id);
            if q.is_empty() {
                self.sources.remove(&entry.source);
            }
        }
        // the order queues drop dead ids lazily; compacted when they would
        // hold more dead ids than live ones
        let entries = &self.entries;
        for q in [&mut self.others, &mut self.known] {
            if q.len() > 2 * entries.len() + 16 {
                q.retain(|c| entries.contains_key(c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_oldest_makes_room_within_the_total_bound() {
        let mut a = Admission::new(3, 10);
        for id in 1..=3 {
            assert_eq!(
                a.admit(id, ip(&format!("10.0.0.{id}")), false, 0, 100),
                Admit::Yes(None)
            );
        }
        assert_eq!(
            a.admit(4, ip("10.0.0.4"), false, 3, 100),
            Admit::Yes(Some(1))
        );
        assert_eq!(
            a.admit(5, ip("10.0.0.5"), false, 3, 100),
            Admit::Yes(Some(2))
        );
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn one_source_evicts_its_own_oldest() {
        let mut a = Admission::new(100, 2);
        assert_eq!(a.admit(1, ip("10.0.0.1"), false, 0, 100), Admit::Yes(None));
        assert_eq!(a.admit(2, ip("10.0.0.9"), false, 1, 100), Admit::Yes(None));
        assert_eq!(a.admit(3, ip("10.0.0.1"), false, 2, 100), Admit::Yes(None));
        assert_eq!(
            a.admit(4, ip("10.0.0.1"), false, 3, 100),
            Admit::Yes(Some(1))
        );
        assert_eq!(
            a.admit(5, ip("10.0.0.1"), false, 3, 100),
            Admit::Yes(Some(3))
        );
        // IPv6 counts per /64
        assert_eq!(
            a.admit(6, ip("2001:db8::1"), false, 3, 100),
            Admit::Yes(None)
        );
        assert_eq!(
            a.admit(7, ip("2001:db8::2"), false, 4, 100),
            Admit::Yes(None)
        );
        assert_eq!(
            a.admit(8, ip("2001:db8::3"), false, 5, 100),
            Admit::Yes(Some(6))
        );
        // IPv4-mapped IPv6 is the IPv4 address
        assert_eq!(
            a.admit(9, ip("::ffff:10.0.0.9"), false, 5, 100),
            Admit::Yes(None)
        );
        assert_eq!(
            a.admit(10, ip("10.0.0.9"), false, 6, 100),
            Admit::Yes(Some(2))
        );
    }

    #[test]
    fn configured_addresses_are_closed_last() {
        let mut a = Admission::new(2, 10);
        assert_eq!(a.admit(1, ip("192.0.2.1"), true, 0, 100), Admit::Yes(None));
        assert_eq!(a.admit(2, ip("10.0.0.2"), false, 1, 100), Admit::Yes(None));
        // the flood only closes its own
        assert_eq!(
            a.admit(3, ip("10.0.0.3"), false, 2, 100),
            Admit::Yes(Some(2))
        );
        assert_eq!(
            a.admit(4, ip("10.0.0.4"), false, 2, 100),
            Admit::Yes(Some(3))
        );
        // a configured address closes the flood's first
        assert_eq!(
            a.admit(5, ip("192.0.2.5"), true, 2, 100),
            Admit::Yes(Some(4))
        );
        // only configured addresses left: others are refused
        assert_eq!(a.admit(6, ip("10.0.0.6"), false, 2, 100), Admit::No);
        assert_eq!(
            a.admit(7, ip("192.0.2.7"), true, 2, 100),
            Admit::Yes(Some(1))
        );
    }

    #[test]
    fn authenticated_connections_are_not_closed() {
        let mut a = Admission::new(10, 10);
        assert_eq!(a.admit(1, ip("10.0.0.1"), false, 0, 4), Admit::Yes(None));
        a.remove(1); // its CER was accepted
                     // the node is full of authenticated connections: refused
        assert_eq!(a.admit(2, ip("10.0.0.2"), false, 4, 4), Admit::No);
        assert_eq!(a.len(), 0);
        // the total bound never exceeds max_connections
        assert_eq!(a.admit(3, ip("10.0.0.3"), false, 3, 4), Admit::Yes(None));
        assert_eq!(a.admit(4, ip("10.0.0.4"), false, 4, 4), Admit::Yes(Some(3)));
    }

    #[test]
    fn order_queues_stay_bounded() {
        let mut a = Admission::new(4, 4);
        for id in 0..10_000u64 {
            let _ = a.admit(id, ip("10.0.0.1"), id % 2 == 0, a.len(), 100);
            if id % 3 == 0 {
                a.remove(id);
            }
        }
        assert!(a.len() <= 4);
        assert!(a.others.len() + a.known.len() <= 2 * (2 * a.len() + 16) + 2);
        assert!(a.sources.values().all(|q| q.len() <= 4));
    }
}
