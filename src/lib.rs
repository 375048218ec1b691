//! lockstep: an actor runtime written against an abstract environment, so a
//! deterministic simulator (`lockstep-sim`) can run the same code under a seed.
//!
//! # Map of the crate (start here)
//! - [`rt`] — the seam: spawn, time, timers, randomness. Everything
//!   nondeterministic goes through it (DESIGN.md §2.1).
//! - [`time`], [`random`] — the same seam, as the facade user actors call.
#![forbid(unsafe_code)]

pub mod rt;

/// Time for user actors: `lockstep::time::sleep` instead of `tokio::time::sleep`,
/// so the simulator can run actor code on virtual time.
pub mod time {
    pub use crate::rt::time::{
        Elapsed, Instant, Interval, Sleep, interval, now, sleep, sleep_until, system_now, timeout,
    };
}

/// Randomness for user actors, seeded under simulation.
pub mod random {
    use crate::rt::random::{self, RandomStream};

    /// 64 random bits from the user stream.
    pub fn u64() -> u64 {
        random::next_u64(RandomStream::USER)
    }

    /// A uniformly random value in `0..bound` from the user stream.
    pub fn below(bound: u64) -> u64 {
        random::below(RandomStream::USER, bound)
    }

    /// A random `f64` in `[0, 1)` from the user stream.
    pub fn unit_f64() -> f64 {
        random::unit_f64(RandomStream::USER)
    }
}
