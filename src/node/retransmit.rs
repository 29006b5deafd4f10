//! Answers remembered for retransmitted requests (RFC 6733 §3, T flag): a
//! request that comes again with the T bit gets the same answer again instead
//! of being processed twice. Bounded per peer by count and by bytes.

use std::collections::{HashMap, VecDeque};

/// The answers sent to one peer, keyed by the request's End-to-End identifier.
#[derive(Debug, Default)]
struct PeerAnswers {
    answers: HashMap<u32, Vec<u8>>,
    order: VecDeque<u32>,
    bytes: usize,
}

/// Remembered answers for every peer (keyed by lower-cased Origin-Host).
#[derive(Debug)]
pub struct RetransmitCache {
    per_peer: HashMap<String, PeerAnswers>,
    max_answers: usize,
    max_bytes: usize,
}

impl RetransmitCache {
    /// A cache keeping at most `max_answers` answers and `max_bytes` bytes per peer.
    pub fn new(max_answers: usize, max_bytes: usize) -> Self {
        RetransmitCache {
            per_peer: HashMap::new(),
            max_answers,
            max_bytes,
        }
    }

    /// Remembers the answer (its encoded bytes) to the request `end_to_end`
    /// from `origin_host`.
    pub fn remember(&mut self, origin_host: &str, end_to_end: u32, answer: &[u8]) {
        if self.max_answers == 0 || answer.len() > self.max_bytes {
            return;
        }
        let peer = self
            .per_peer
            .entry(origin_host.to_ascii_lowercase())
            .or_default();
        if let Some(old) = peer.answers.insert(end_to_end, answer.to_vec()) {
            peer.bytes -= old.len();
            peer.order.retain(|e| *e != end_to_end);
        }
        peer.bytes += answer.len();
        peer.order.push_back(end_to_end);
        while peer.order.len() > self.max_answers || peer.bytes > self.max_bytes {
            let Some(oldest) = peer.order.pop_front() else {
                break;
            };
            if let Some(old) = peer.answers.remove(&oldest) {
                peer.bytes -= old.len();
            }
        }
    }

    /// The answer already sent for this request, with its Hop-by-Hop
    /// identifier set to the retransmission's.
    pub fn lookup(&self, origin_host: &str, end_to_end: u32, hop_by_hop: u32) -> Option<Vec<u8>> {
        let peer = self.per_peer.get(&origin_host.to_ascii_lowercase())?;
        let mut answer = peer.answers.get(&end_to_end)?.clone();
        if let Some(field) = answer.get_mut(12..16) {
            field.copy_from_slice(&hop_by_hop.to_be_bytes());
        }
        Some(answer)
    }

    /// How many answers are remembered for a peer.
    pub fn len(&self, origin_host: &str) -> usize {
        self.per_peer
            .get(&origin_host.to_ascii_lowercase())
            .map_or(0, |p| p.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(e2e: u32, size: usize) -> Vec<u8> {
        let mut a = vec![0u8; size.max(20)];
        a[16..20].copy_from_slice(&e2e.to_be_bytes());
        a
    }

    #[test]
    fn answers_come_back_with_the_new_hop_by_hop() {
        let mut c = RetransmitCache::new(10, 1 << 20);
        c.remember("Peer.Example", 7, &answer(7, 20));
        let again = c.lookup("peer.example", 7, 0xabcd).unwrap();
        assert_eq!(&again[12..16], &0xabcdu32.to_be_bytes());
        assert!(c.lookup("peer.example", 8, 1).is_none());
        assert!(c.lookup("other", 7, 1).is_none());
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let mut c = RetransmitCache::new(3, 1000);
        for e2e in 0..10 {
            c.remember("p", e2e, &answer(e2e, 20));
        }
        assert_eq!(c.len("p"), 3);
        assert!(c.lookup("p", 6, 0).is_none() && c.lookup("p", 9, 0).is_some());
        let mut c = RetransmitCache::new(100, 100);
        for e2e in 0..10 {
            c.remember("p", e2e, &answer(e2e, 40));
        }
        assert_eq!(c.len("p"), 2);
        c.remember("p", 99, &answer(99, 500)); // larger than the budget: not kept
        assert!(c.lookup("p", 99, 0).is_none());
        let mut off = RetransmitCache::new(0, 100);
        off.remember("p", 1, &answer(1, 20));
        assert_eq!(off.len("p"), 0);
    }
}
