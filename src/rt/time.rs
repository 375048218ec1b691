//! Time through the seam: an [`Instant`] type, clocks, sleeps, timeouts and intervals.
//!
//! Call these the way you would call `tokio::time`; under simulation they read
//! and wait on virtual time.

use std::future::Future;
use std::ops::{Add, AddAssign, Sub};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use super::{TimerFuture, with_environment};

/// A point on the current world's monotonic clock.
///
/// Measured from the world's epoch (in simulation: the start of the run), so
/// two runs of one seed see the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(Duration);

impl Instant {
    /// The instant `since_epoch` after the world's epoch. For environment implementors.
    pub const fn from_epoch(since_epoch: Duration) -> Self {
        Self(since_epoch)
    }

    /// Time since the world's epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// Time since `self` on the current world's clock.
    pub fn elapsed(self) -> Duration {
        now().duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0 + rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.duration_since(rhs)
    }
}

/// The current world's monotonic time.
pub fn now() -> Instant {
    with_environment(|environment| match environment {
        Some(environment) => environment.now(),
        None => super::tokio_env::now(),
    })
}

/// The current world's wall-clock time.
pub fn system_now() -> SystemTime {
    with_environment(|environment| match environment {
        Some(environment) => environment.system_now(),
        None => super::tokio_env::system_now(),
    })
}

/// Milliseconds since the Unix epoch on the current world's wall clock.
pub fn system_now_millis() -> u128 {
    system_now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Completes after `duration` on the current world's clock.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(now() + duration)
}

/// Completes once the current world's clock reaches `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    let timer = with_environment(|environment| match environment {
        Some(environment) => environment.sleep_until(deadline),
        None => super::tokio_env::sleep_until(deadline),
    });
    Sleep { deadline, timer }
}

/// The future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    timer: TimerFuture,
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.timer.as_mut().poll(cx)
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed after {after:?}")]
pub struct Elapsed {
    /// The timeout that elapsed.
    pub after: Duration,
}

/// Runs `future` until it completes or `duration` passes on the world's clock.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let sleep = sleep(duration);
    let mut future = std::pin::pin!(future);
    let mut sleep = std::pin::pin!(sleep);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed { after: duration })),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Ticks every `period`, the first tick immediately. Missed ticks are skipped,
/// not burst (like tokio's `MissedTickBehavior::Skip`).
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be positive");
    Interval {
        period,
        next: now(),
    }
}

/// A periodic timer; see [`interval`].
pub struct Interval {
    period: Duration,
    next: Instant,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        let scheduled = self.next;
        sleep_until(scheduled).await;
        let current = now();
        let mut next = scheduled + self.period;
        if next <= current {
            let behind = current.duration_since(scheduled).as_nanos() / self.period.as_nanos();
            next = scheduled + self.period * (behind as u32 + 1);
        }
        self.next = next;
        scheduled
    }

    /// The interval's period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
