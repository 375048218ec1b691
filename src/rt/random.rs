//! Randomness through the seam.
//!
//! Every draw names a [`RandomStream`]. Under simulation each stream is its own
//! seeded generator, so adding draws to one concern (say, fault injection)
//! never reshuffles another (say, session ids). In production every stream
//! reads the thread's OS-seeded generator.

use super::with_environment;

/// A labelled sub-stream of randomness. The label is part of the seed
/// derivation in simulation, so it must stay stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RandomStream(pub &'static str);

impl RandomStream {
    /// Session ids of sequencers (DESIGN §3 Sequencing).
    pub const SESSION: Self = Self("session");
    /// Reconnect and retry jitter.
    pub const JITTER: Self = Self("jitter");
    /// Draws made by user code through `lockstep::random`.
    pub const USER: Self = Self("user");
}

/// The next 64 random bits of `stream`.
pub fn next_u64(stream: RandomStream) -> u64 {
    with_environment(|environment| match environment {
        Some(environment) => environment.random_u64(stream),
        None => super::tokio_env::random_u64(),
    })
}

/// A uniformly random value in `0..bound` (`bound` > 0) from `stream`.
pub fn below(stream: RandomStream, bound: u64) -> u64 {
    assert!(bound > 0, "random::below needs a positive bound");
    // Lemire's multiply-shift; the tiny bias is irrelevant for jitter and tests.
    ((u128::from(next_u64(stream)) * u128::from(bound)) >> 64) as u64
}

/// A random `f64` in `[0, 1)` from `stream`.
pub fn unit_f64(stream: RandomStream) -> f64 {
    (next_u64(stream) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
