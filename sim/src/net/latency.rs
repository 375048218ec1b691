//! Latency distributions of a network path.

use std::time::Duration;

use lockstep::rt::random::{self, RandomStream};

/// How long one hop takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
    /// Exponential with `mean`, capped at `max` (a long tail).
    Exponential {
        /// Mean latency.
        mean: Duration,
        /// Cap.
        max: Duration,
    },
}

impl Latency {
    /// Draw one latency from the running world's stream `stream`: always
    /// exactly one draw, whatever the distribution, so giving one link
    /// another distribution never shifts the draws of the others (NET-6).
    /// The network itself draws from its own copies of its streams (NET-7)
    /// through [`Latency::sample_from`]: a draw here does not move them.
    pub fn sample(&self, stream: RandomStream) -> Duration {
        self.sample_from(random::next_u64(stream))
    }

    /// The latency that the 64 random bits `bits` pick.
    pub fn sample_from(&self, bits: u64) -> Duration {
        match self {
            Latency::Fixed(latency) => *latency,
            Latency::Uniform { min, max } => {
                let span = max.saturating_sub(*min).as_nanos() as u64;
                *min + Duration::from_nanos(crate::hash::below(bits, span.saturating_add(1)))
            }
            Latency::Exponential { mean, max } => {
                let unit = crate::hash::unit_f64(bits);
                let draw = -(1.0 - unit).ln() * mean.as_secs_f64();
                Duration::from_secs_f64(draw).min(*max)
            }
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Latency::Fixed(latency) => write!(f, "fixed {latency:?}"),
            Latency::Uniform { min, max } => write!(f, "uniform {min:?}..{max:?}"),
            Latency::Exponential { mean, max } => {
                write!(f, "exponential mean {mean:?} max {max:?}")
            }
        }
    }
}
