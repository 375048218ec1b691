//! Per-world randomness: one `u64` seed, split into independent labelled
//! sub-streams.
//!
//! Owns: the derivation of every random stream of a world from its seed, and
//! the generators themselves (ChaCha8, from `rand_chacha` 0.9).
//! Does not own: what a draw means (scheduling, buggify, user code decide).
//!
//! Derivation (version 1, HASH-1 stable): the stream labelled `L` of seed `S`
//! is `ChaCha8Rng::from_seed(key)`, where `h` is FNV-1a 64 over the domain tag
//! `"lockstep-sim/stream/v1"`, then `S`, then `L` (strings prefixed by their
//! byte length, integers as 8 bytes little-endian), and `key` is four
//! SplitMix64 outputs from state `h`, each little-endian.
//!
//! RAND-1: a stream depends only on (seed, label): drawing from, adding or
//! removing another label never changes it.
//! RAND-2: streams are created lazily and kept in a `BTreeMap`, so nothing here
//! iterates in hash order.
//! RAND-3: labels [`SCHEDULING`], [`BUGGIFY`] and [`CLOCK`] are reserved for the
//! simulator itself.

use std::collections::BTreeMap;

use lockstep::rt::RandomStream;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::hash::{self, Fnv1a};

/// The executor's stream: which ready task to poll next.
pub const SCHEDULING: RandomStream = RandomStream("scheduling");
/// `buggify!` site activation and firing.
pub const BUGGIFY: RandomStream = RandomStream("buggify");
/// The wall clock's epoch offset.
pub const CLOCK: RandomStream = RandomStream("clock");

/// The generator for stream `label` of `seed` (see the module doc for the
/// derivation). Two calls with the same arguments give identical generators.
pub fn stream_rng(seed: u64, label: &str) -> ChaCha8Rng {
    let mut hasher = Fnv1a::new();
    hasher.write_str("lockstep-sim/stream/v1");
    hasher.write_u64(seed);
    hasher.write_str(label);
    let mut state = hasher.finish();
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&hash::splitmix64(&mut state).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// All labelled streams of one world.
#[derive(Debug)]
pub struct Streams {
    seed: u64,
    streams: BTreeMap<&'static str, ChaCha8Rng>,
}

impl Streams {
    /// The streams of `seed`; none are created until first drawn from.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            streams: BTreeMap::new(),
        }
    }

    /// The seed every stream derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The next 64 bits of `stream`.
    pub fn next_u64(&mut self, stream: RandomStream) -> u64 {
        let seed = self.seed;
        self.streams
            .entry(stream.0)
            .or_insert_with(|| stream_rng(seed, stream.0))
            .next_u64()
    }

    /// A uniform value in `0..bound` (`bound` > 0) from `stream`.
    pub fn below(&mut self, stream: RandomStream, bound: u64) -> u64 {
        assert!(bound > 0, "Streams::below needs a positive bound");
        hash::below(self.next_u64(stream), bound)
    }

    /// A uniform `f64` in `[0, 1)` from `stream`.
    pub fn unit_f64(&mut self, stream: RandomStream) -> f64 {
        hash::unit_f64(self.next_u64(stream))
    }

    /// True with probability `probability` (clamped to `[0, 1]`), one draw.
    pub fn chance(&mut self, stream: RandomStream, probability: f64) -> bool {
        self.unit_f64(stream) < probability
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: RAND-1, a stream is independent of draws on other labels.
    // Method: draw from "a" alone, then interleaved with "b", compare.
    #[test]
    fn rand_1_streams_are_independent() {
        let mut alone = Streams::new(7);
        let expected: Vec<u64> = (0..8).map(|_| alone.next_u64(RandomStream("a"))).collect();
        let mut mixed = Streams::new(7);
        let got: Vec<u64> = (0..8)
            .map(|_| {
                mixed.next_u64(RandomStream("b"));
                mixed.next_u64(RandomStream("a"))
            })
            .collect();
        assert_eq!(expected, got);
        assert_ne!(
            Streams::new(8).next_u64(RandomStream("a")),
            expected[0],
            "another seed gives another stream"
        );
    }
}
