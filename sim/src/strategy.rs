//! Scheduling strategies: which ready task the executor polls next.
//!
//! Owns: the choice among ready tasks, and the randomness that choice consumes.
//! Does not own: the ready list itself (the executor keeps it, in wake order).
//!
//! STRATEGY-1: a strategy sees the ready list in a deterministic order (the
//! order tasks were woken, modulo earlier removals) and returns an index into
//! it; given the same inputs and the same stream it returns the same choices.
//! STRATEGY-2: [`RandomStrategy`] draws from the "scheduling" stream only, and
//! only when there is a real choice (two or more ready tasks), so a run's
//! other streams are untouched by scheduling (RAND-1).

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::executor::TaskId;
use crate::hash;

/// Picks the next task to poll among the ready ones.
///
/// `choose` runs under the world's lock: it must not call into the world
/// (`lockstep::rt`, `lockstep_sim::trace::record`, spawning, waking), or it
/// would wait on that lock for ever. A strategy draws from its own stream.
pub trait Strategy: Send {
    /// The index in `ready` (never empty) of the task to poll next.
    fn choose(&mut self, ready: &[TaskId]) -> usize;
}

/// Uniformly random choice among ready tasks (the default).
#[derive(Debug)]
pub struct RandomStrategy {
    rng: ChaCha8Rng,
}

impl RandomStrategy {
    /// A strategy drawing from `rng` (normally the world's "scheduling" stream).
    pub fn new(rng: ChaCha8Rng) -> Self {
        Self { rng }
    }
}

impl Strategy for RandomStrategy {
    fn choose(&mut self, ready: &[TaskId]) -> usize {
        debug_assert!(!ready.is_empty(), "STRATEGY-1: choose needs a ready task");
        if ready.len() == 1 {
            return 0; // STRATEGY-2: no choice, no draw.
        }
        hash::below(self.rng.next_u64(), ready.len() as u64) as usize
    }
}

/// Always the task that became ready first (for debugging and baselines; it
/// consumes no randomness).
#[derive(Debug, Default)]
pub struct FifoStrategy;

impl Strategy for FifoStrategy {
    fn choose(&mut self, _ready: &[TaskId]) -> usize {
        0
    }
}
