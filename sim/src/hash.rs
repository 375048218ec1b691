//! Stable hashing: FNV-1a (64-bit) for seeds and stream derivation,
//! [`WordHasher`] for trace hashes and the schedule digest, and SplitMix64,
//! written down here so that none of them depends on std's `DefaultHasher`
//! (whose algorithm may change between Rust releases).
//!
//! Owns: the byte-level hash functions the simulator persists or prints.
//! Does not own: what gets hashed (see `random` and `trace`).
//!
//! HASH-1: every function here is a pure function of its input bytes; its
//! output for a given input never changes without a version bump of the
//! encoding that feeds it.

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// An incremental FNV-1a 64-bit hasher with length-prefixed helpers, so that
/// concatenated fields cannot collide by shifting bytes between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv1a {
    /// A hasher at the FNV-1a offset basis.
    pub const fn new() -> Self {
        Self(FNV_OFFSET_BASIS)
    }

    /// Feed raw bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// Feed a `u64`, little-endian.
    pub fn write_u64(&mut self, value: u64) {
        self.write(&value.to_le_bytes());
    }

    /// Feed a string, prefixed by its length in bytes.
    pub fn write_str(&mut self, value: &str) {
        self.write_u64(value.len() as u64);
        self.write(value.as_bytes());
    }

    /// The hash of everything fed so far.
    pub const fn finish(&self) -> u64 {
        self.0
    }
}

/// A word-at-a-time hasher for long digests (the trace hash and the
/// schedule digest): each `u64` is folded in with one 64×64→128-bit
/// multiply whose halves are XORed, so a byte costs an eighth of what FNV-1a
/// costs it, and every input bit reaches every output bit. Strings are fed
/// length first, then in little-endian words (the last one zero-padded), so
/// concatenated fields cannot collide by shifting bytes between them.
///
/// Not for seeds or stream derivation: those stay on [`Fnv1a`], whose values
/// users' saved seeds depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WordHasher(u64);

/// The multiplier of [`WordHasher`] (the 64-bit golden ratio, odd).
const WORD_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl Default for WordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl WordHasher {
    /// A hasher at its fixed starting state.
    pub const fn new() -> Self {
        Self(0x243f_6a88_85a3_08d3)
    }

    /// Feed one word.
    #[inline]
    pub fn write_u64(&mut self, value: u64) {
        // Without the added constant, a word equal to the state would zero
        // it; with it, one other word does — as likely, and as harmless: the
        // state is not stuck at zero, the next word moves it on.
        let product = u128::from((self.0 ^ value).wrapping_add(WORD_MULTIPLIER))
            * u128::from(WORD_MULTIPLIER);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    /// Feed a string, prefixed by its length in bytes.
    pub fn write_str(&mut self, value: &str) {
        self.write_u64(value.len() as u64);
        let mut chunks = value.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            let word: [u8; 8] = chunk.try_into().expect("chunks of eight");
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    /// Feed the concatenation of `parts` as one string: the same as
    /// [`write_str`](Self::write_str) of the joined text, without joining.
    pub fn write_str_parts(&mut self, parts: &[&[u8]]) {
        self.write_u64(parts.iter().map(|part| part.len() as u64).sum());
        let mut word = [0u8; 8];
        let mut filled = 0;
        for &byte in parts.iter().flat_map(|part| part.iter()) {
            word[filled] = byte;
            filled += 1;
            if filled == 8 {
                self.write_u64(u64::from_le_bytes(word));
                filled = 0;
            }
        }
        if filled > 0 {
            word[filled..].fill(0);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    /// The hash of everything fed so far.
    pub const fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a 64 of `bytes` in one call.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hasher = Fnv1a::new();
    hasher.write(bytes);
    hasher.finish()
}

/// One step of SplitMix64 (Steele, Lea, Flood 2014): advances `state` and
/// returns a well-mixed 64-bit output. Used to expand one `u64` into a key.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps 64 random bits to `0..bound` (Lemire's multiply-shift; the bias is
/// below 2^-32 for any bound a simulation uses). `bound` must be positive.
pub fn below(random: u64, bound: u64) -> u64 {
    debug_assert!(bound > 0, "below needs a positive bound");
    ((u128::from(random) * u128::from(bound)) >> 64) as u64
}

/// Maps 64 random bits to an `f64` in `[0, 1)` using the top 53 bits.
pub fn unit_f64(random: u64) -> f64 {
    (random >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the hashes are the published algorithms, and the word hasher
    // keeps its values (HASH-1: changing them takes a version bump of the
    // trace encoding). Method: compare against reference vectors.
    #[test]
    fn hash_1_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut state), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(word_hash(&[]), 0x243f_6a88_85a3_08d3);
        // Computed by an independent implementation of the same definition.
        assert_eq!(word_hash(&[""]), 0xaf09_2dee_1555_19fc);
        assert_eq!(word_hash(&["lockstep-sim/trace/v2"]), 0x49b3_eabe_bfa9_2262);
    }

    fn word_hash(parts: &[&str]) -> u64 {
        let mut hasher = WordHasher::new();
        parts.iter().for_each(|part| hasher.write_str(part));
        hasher.finish()
    }

    // Goal: the word hasher tells apart inputs a divergence check must tell
    // apart: a byte moved between fields, a trailing zero byte, a flipped bit
    // in any position of a long string.
    #[test]
    fn word_hasher_separates_fields_padding_and_every_bit() {
        assert_ne!(word_hash(&["ab", "c"]), word_hash(&["a", "bc"]));
        assert_ne!(word_hash(&["abc"]), word_hash(&["abc\0"]));
        assert_ne!(word_hash(&[""]), word_hash(&[]));
        let base = "local[0].ping[0]:9223372036854775809";
        let reference = word_hash(&[base]);
        let mut seen = std::collections::BTreeSet::from([reference]);
        for index in 0..base.len() {
            for bit in 0..7 {
                let mut bytes = base.as_bytes().to_vec();
                bytes[index] ^= 1 << bit;
                let flipped = String::from_utf8(bytes).expect("ascii stays ascii");
                assert!(
                    seen.insert(word_hash(&[&flipped])),
                    "flipping bit {bit} of byte {index} collided"
                );
            }
        }
        // Parts hash like the joined string, at every split point.
        for split in 0..=base.len() {
            let (left, right) = base.split_at(split);
            let mut parts = WordHasher::new();
            parts.write_str_parts(&[left.as_bytes(), right.as_bytes()]);
            assert_eq!(parts.finish(), reference, "split at {split}");
        }
        // Equal inputs, equal hashes (HASH-1).
        assert_eq!(word_hash(&["x", "yz"]), word_hash(&["x", "yz"]));
    }
}
