//! The production environment: tokio's runtime, the OS clocks and an OS-seeded RNG.
//!
//! RT-3: this is what the seam falls through to when no world is installed,
//! so the production path pays one thread-local read and nothing else.
#![expect(
    clippy::disallowed_methods,
    reason = "the one production backend of the rt seam (DESIGN.md §2.1)"
)]

use std::sync::OnceLock;
use std::time::SystemTime;

use rand::RngCore;

use super::{AbortTask, TaskFuture, TimerFuture, time::Instant};

/// The process's monotonic epoch. Written once; only ever used to express tokio
/// instants as durations, so it cannot make two runs differ in behaviour.
fn epoch() -> tokio::time::Instant {
    static EPOCH: OnceLock<tokio::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(tokio::time::Instant::now)
}

pub(super) fn now() -> Instant {
    Instant::from_epoch(tokio::time::Instant::now().saturating_duration_since(epoch()))
}

pub(super) fn system_now() -> SystemTime {
    SystemTime::now()
}

pub(super) fn sleep_until(deadline: Instant) -> TimerFuture {
    let deadline = epoch() + deadline.since_epoch();
    Box::pin(tokio::time::sleep_until(deadline))
}

struct TokioAbort(tokio::task::AbortHandle);

impl AbortTask for TokioAbort {
    fn abort(&self) {
        self.0.abort();
    }
}

pub(super) fn spawn(_name: &str, task: TaskFuture) -> Box<dyn AbortTask> {
    Box::new(TokioAbort(tokio::spawn(task).abort_handle()))
}

pub(super) fn random_u64() -> u64 {
    rand::rng().next_u64()
}
