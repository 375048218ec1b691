//! Virtual time: the world's monotonic clock, its wall clock and its timers.
//!
//! Owns: the current virtual instant, the wall-clock epoch, and the timer
//! registry (`BTreeMap<(deadline, sequence), Timer>`).
//! Does not own: deciding *when* to advance (the executor does, only when no
//! task is ready) or waking (the caller wakes the returned wakers after
//! releasing the world's lock).
//!
//! CLOCK-1: monotonic time starts at zero and never goes backwards.
//! CLOCK-2: time moves only in [`Clock::advance`], straight to the earliest
//! deadline; every timer due at that instant fires, in (deadline, arming
//! order).
//! CLOCK-3: wall time is `epoch + monotonic`, where the epoch is
//! 2020-01-01T00:00:00Z plus a seed-derived offset below three years (drawn
//! from the reserved "clock" stream), so code cannot mistake virtual time for
//! the real date, yet every seed sees a plausible calendar.
//! CLOCK-4: the world's tasks read the time without the world's lock, from
//! [`Readings`]: the clock writes the monotonic time there whenever it moves,
//! and the world writes the wall-clock skew of the task being polled (zero
//! between polls) whenever that task or its proc's skew changes, so a
//! reading always equals what the locked clock would answer at that moment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::task::Waker;
use std::time::{Duration, SystemTime};

use lockstep::rt::Instant;

use crate::random::{self, Streams};

/// 2020-01-01T00:00:00Z in seconds since the Unix epoch.
const WALL_EPOCH_BASE_SECONDS: u64 = 1_577_836_800;
/// The wall epoch's seed-derived offset stays below this (three 365-day years).
const WALL_EPOCH_OFFSET_NANOS_MAX: u64 = 3 * 365 * 24 * 3600 * 1_000_000_000;

/// Identifies one armed timer: its deadline and its arming sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    deadline: Instant,
    sequence: u64,
}

/// An armed timer: who waits, and which task armed it (for budget reports).
pub(crate) struct Timer {
    pub(crate) waker: Waker,
    pub(crate) owner: Option<Arc<str>>,
}

/// A timer taken out of the registry because it became due.
pub(crate) struct FiredTimer {
    pub(crate) deadline: Instant,
    pub(crate) timer: Timer,
}

/// What the world's tasks read of the clock without its lock (CLOCK-4).
/// Only the world's thread writes it (the clock when it moves, the executor
/// when it sets the polled task, a clock step while a task runs); the
/// atomics make it shareable, not contended, so every access is a plain
/// load or store.
#[derive(Debug)]
pub(crate) struct Readings {
    now_ns: AtomicU64,
    /// The wall-clock skew of the task being polled, in nanoseconds.
    skew_ns: AtomicI64,
    wall_epoch: SystemTime,
}

impl Readings {
    /// The current virtual instant.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_epoch(Duration::from_nanos(self.now_ns.load(Ordering::Relaxed)))
    }

    /// The wall-clock time the task being polled sees: `epoch + now`, moved
    /// by its proc's skew.
    pub(crate) fn system_now(&self) -> SystemTime {
        skewed(
            self.wall_epoch + self.now().since_epoch(),
            self.skew_ns.load(Ordering::Relaxed),
        )
    }

    /// The skew of the task being polled (0: no task is).
    pub(crate) fn set_skew_ns(&self, skew_ns: i64) {
        self.skew_ns.store(skew_ns, Ordering::Relaxed);
    }
}

/// `time` on a clock `skew_ns` nanoseconds ahead (negative: behind).
pub(crate) fn skewed(time: SystemTime, skew_ns: i64) -> SystemTime {
    match skew_ns {
        ahead if ahead >= 0 => time + Duration::from_nanos(ahead as u64),
        behind => time - Duration::from_nanos(behind.unsigned_abs()),
    }
}

/// The world's clocks and timers.
pub(crate) struct Clock {
    /// The current time lives in the readings, the one place it is kept.
    readings: Arc<Readings>,
    timers: BTreeMap<TimerKey, Timer>,
    next_sequence: u64,
}

impl Clock {
    /// A clock at zero whose wall epoch derives from `streams` (CLOCK-3).
    pub(crate) fn new(streams: &mut Streams) -> Self {
        let offset = streams.below(random::CLOCK, WALL_EPOCH_OFFSET_NANOS_MAX);
        let wall_epoch = SystemTime::UNIX_EPOCH
            + Duration::from_secs(WALL_EPOCH_BASE_SECONDS)
            + Duration::from_nanos(offset);
        Self {
            readings: Arc::new(Readings {
                now_ns: AtomicU64::new(0),
                skew_ns: AtomicI64::new(0),
                wall_epoch,
            }),
            timers: BTreeMap::new(),
            next_sequence: 0,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.readings.now()
    }

    /// The readings tasks take without the world's lock (CLOCK-4).
    pub(crate) fn readings(&self) -> &Arc<Readings> {
        &self.readings
    }

    /// Arms a timer for `deadline`.
    pub(crate) fn arm(
        &mut self,
        deadline: Instant,
        waker: Waker,
        owner: Option<Arc<str>>,
    ) -> TimerKey {
        let key = TimerKey {
            deadline,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        self.timers.insert(key, Timer { waker, owner });
        key
    }

    /// Replaces the waker of an armed timer; returns the old one so the caller
    /// can drop it after releasing the lock. `None` if the timer already fired.
    pub(crate) fn rearm(&mut self, key: TimerKey, waker: &Waker) -> Option<Waker> {
        let timer = self.timers.get_mut(&key)?;
        if timer.waker.will_wake(waker) {
            return None;
        }
        Some(std::mem::replace(&mut timer.waker, waker.clone()))
    }

    /// Disarms a timer; returns it (to be dropped outside the lock) if it was
    /// still armed.
    pub(crate) fn disarm(&mut self, key: TimerKey) -> Option<Timer> {
        self.timers.remove(&key)
    }

    /// The earliest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.first_key_value().map(|(key, _)| key.deadline)
    }

    /// CLOCK-2: jumps to the earliest deadline and moves every timer due then
    /// into `fired`, in firing order. Returns the new time, or `None` if no
    /// timer is armed.
    pub(crate) fn advance(&mut self, fired: &mut Vec<FiredTimer>) -> Option<Instant> {
        let deadline = self.next_deadline()?;
        // CLOCK-1: a timer armed in the past is due now; time never goes back.
        let now = self.now().max(deadline);
        // Virtual time stays far below 2^64 ns (584 years).
        let now_ns = u64::try_from(now.since_epoch().as_nanos()).unwrap_or(u64::MAX);
        self.readings.now_ns.store(now_ns, Ordering::Relaxed);
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().deadline > now {
                break;
            }
            let (key, timer) = entry.remove_entry();
            fired.push(FiredTimer {
                deadline: key.deadline,
                timer,
            });
        }
        Some(now)
    }

    /// Armed timers in firing order: (deadline, owning task).
    pub(crate) fn armed(&self) -> impl Iterator<Item = (Instant, Option<&Arc<str>>)> {
        self.timers
            .iter()
            .map(|(key, timer)| (key.deadline, timer.owner.as_ref()))
    }

    /// Removes every timer (world teardown); the caller drops them unlocked.
    pub(crate) fn take_all(&mut self) -> BTreeMap<TimerKey, Timer> {
        std::mem::take(&mut self.timers)
    }
}
