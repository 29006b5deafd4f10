//! A cheap hash for the node's tables keyed by small integers (connection
//! ids, hop-by-hop and end-to-end identifiers), which every request and
//! answer looks up. SipHash, the standard default, costs several times more
//! for a `u32`.
//!
//! Each table gets its own random seed, so a peer that picks its
//! identifiers (or, in the duplicate-detection table, its Origin-Host)
//! cannot tell which of them collide: the seed enters the first mixing step,
//! and one differing word changes the hash through a bijection. The
//! tables are bounded as well, so even a lucky collision costs a probe
//! sequence, not unbounded work.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A `HashMap` with [`IdHash`].
pub(crate) type IdMap<K, V> = HashMap<K, V, IdHash>;

/// Multiplier of the mixing step (the golden ratio in 64 bits, odd).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Builds [`IdHasher`]s with one random seed per table.
#[derive(Clone)]
pub(crate) struct IdHash {
    seed: u64,
}

impl Default for IdHash {
    fn default() -> IdHash {
        IdHash {
            seed: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher { h: self.seed }
    }
}

/// Multiply-rotate mixing of each word written, finished with a final
/// avalanche so that the table's low bits depend on every input bit.
pub(crate) struct IdHasher {
    h: u64,
}

impl IdHasher {
    fn mix(&mut self, word: u64) {
        self.h = (self.h.rotate_left(23) ^ word).wrapping_mul(K);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // murmur3's finaliser
        let mut h = self.h;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sequential_ids_spread_over_the_low_bits() {
        let build = IdHash::default();
        let buckets: HashSet<u64> = (0u32..1024).map(|id| build.hash_one(id) & 1023).collect();
        // a random function fills about 63% of 1024 buckets with 1024 keys
        assert!(buckets.len() > 550, "{}", buckets.len());
    }

    #[test]
    fn tables_get_different_seeds() {
        let (a, b) = (IdHash::default(), IdHash::default());
        assert_ne!(a.hash_one(7u32), b.hash_one(7u32));
    }

    #[test]
    fn pairs_and_bytes_hash() {
        let build = IdHash::default();
        assert_ne!(build.hash_one((1u32, 2u32)), build.hash_one((2u32, 1u32)));
        assert_ne!(build.hash_one(&b"abc"[..]), build.hash_one(&b"abd"[..]));
    }

    #[test]
    fn a_map_works() {
        let mut map: IdMap<u32, u32> = IdMap::default();
        for i in 0..1000 {
            map.insert(i, i * 2);
        }
        assert!((0..1000).all(|i| map.get(&i) == Some(&(i * 2))));
    }
}
