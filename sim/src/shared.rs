//! The state a world's tasks can reach, behind the world's one lock, and the
//! thread-local that says which world is running on this thread.
//!
//! Owns: [`Shared`] (config + the locked [`Core`]), [`Core`] (clock, task table,
//! random streams, buggify sites, trace, step counter, running task) and the
//! current-world slot.
//! Does not own: the policies applied to that state (executor, clock,
//! buggify, environment modules).
//!
//! LOCK-1: the lock is never held while a task or the main future is polled,
//! while a waker is woken, or while a future, timer or waker is dropped —
//! any of those may re-enter the world (spawn, arm a timer, wake) and lock it.
//! LOCK-2: the current-world slot is per thread and scoped by a guard, so
//! worlds on different threads never see each other and sequential worlds on
//! one thread don't leak into each other.
//!
//! The lock is a spin lock. A world runs on one thread (WORLD-1), so it is
//! never contended, and it is taken several times per simulated message:
//! releasing a spin lock is a plain store, where a parking mutex pays a
//! second atomic read-modify-write (about 7% of a two-proc hop, measured in
//! `docs/PERFORMANCE.md`). A panic under the lock releases it; there is no
//! poisoning to recover from.

use std::cell::RefCell;
use std::sync::Arc;

use spin::mutex::{SpinMutex, SpinMutexGuard};

use crate::buggify::Buggify;
use crate::clock::{Clock, Readings};
use crate::executor::{TaskId, TaskTable};
use crate::random::Streams;
use crate::trace::{Recorded, Trace, Value};
use crate::world::Config;

/// Everything in a world that tasks, wakers and timers can reach.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// The clock's lock-free readings (CLOCK-4), shared with `core.clock`:
    /// what tasks read without taking the lock.
    pub(crate) clock_readings: Arc<Readings>,
    core: SpinMutex<Core>,
}

/// The mutable part of [`Shared`].
pub(crate) struct Core {
    pub(crate) clock: Clock,
    pub(crate) tasks: TaskTable,
    pub(crate) random: Streams,
    pub(crate) buggify: Buggify,
    pub(crate) trace: Trace,
    /// Polls made so far.
    pub(crate) steps: u64,
    /// The task being polled, if any: set only through
    /// [`Core::set_current`], which keeps the clock's readings in step.
    current: Option<TaskId>,
    /// How the trace stores the current task ([`Trace::task_key`]), looked
    /// up at its first event of the poll.
    current_task_key: Option<u64>,
    /// Wall-clock skew per proc name, in nanoseconds (CLOCK-3).
    pub(crate) clock_skews: std::collections::BTreeMap<String, i64>,
    /// What to ask, in registration order, when the world deadlocks: the
    /// procs created in it (dead ones are pruned as new ones register).
    pub(crate) stall_reporters: Vec<std::sync::Weak<dyn lockstep::rt::StallReporter>>,
    /// Procs whose tasks do not run (EXEC-7).
    pub(crate) paused: std::collections::BTreeSet<Arc<str>>,
    /// Tasks chosen to run while their proc was paused, in the order they
    /// were chosen (EXEC-7).
    pub(crate) parked: Vec<TaskId>,
    /// EXEC-8: an aborted task that panicked while being dropped, as the
    /// run's failure: the executor returns it before its next poll.
    pub(crate) failure_pending: Option<crate::failure::Failure>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        let mut random = Streams::new(config.seed);
        let clock = Clock::new(&mut random);
        let core = Core {
            clock,
            tasks: TaskTable::default(),
            random,
            buggify: Buggify::new(config.buggify.clone()),
            clock_skews: std::collections::BTreeMap::new(),
            trace: Trace::default(),
            steps: 0,
            current: None,
            current_task_key: None,
            stall_reporters: Vec::new(),
            paused: std::collections::BTreeSet::new(),
            parked: Vec::new(),
            failure_pending: None,
        };
        Self {
            config,
            clock_readings: core.clock.readings().clone(),
            core: SpinMutex::new(core),
        }
    }

    /// Locks the core (a spin lock: see the module doc). Never taken again
    /// by the thread holding it (LOCK-1), which would spin for ever: debug
    /// builds (every test) panic instead, naming the rule. (A world runs on
    /// one thread, so a held lock here is always this thread's.)
    pub(crate) fn lock(&self) -> SpinMutexGuard<'_, Core> {
        lock_once(&self.core, "the world")
    }
}

/// Lock one of a world's spin locks (its core, its network, a simulated
/// link). A world runs on one thread, so a lock found held is nearly always
/// held by this thread, and taking it again would spin for ever: debug
/// builds (every test) panic instead, naming the lock and LOCK-1. The
/// exception is another thread waking a task of the world (a waker handed
/// out of it), which finds the lock held only for a moment: so the panic
/// comes only after the lock stayed held for [`HELD_TRIES_MAX`] tries.
pub(crate) fn lock_once<'a, T>(lock: &'a SpinMutex<T>, what: &str) -> SpinMutexGuard<'a, T> {
    if let Some(guard) = lock.try_lock() {
        return guard;
    }
    if cfg!(debug_assertions) {
        for _ in 0..HELD_TRIES_MAX {
            std::thread::yield_now();
            if let Some(guard) = lock.try_lock() {
                return guard;
            }
        }
        panic!("LOCK-1 violated: {what}'s lock was taken while already held");
    }
    lock.lock()
}

/// How many times, yielding in between, a debug build tries a world's lock
/// found held before it calls that a re-entry (LOCK-1) rather than another
/// thread holding it for a moment (a few hundred milliseconds, far longer
/// than any critical section here).
const HELD_TRIES_MAX: u32 = 100_000;

impl Core {
    /// EXEC-7: whether ready task `id` belongs to a paused proc; if so it is
    /// parked (after those parked before it) instead of polled.
    pub(crate) fn parks(&mut self, id: TaskId) -> bool {
        let paused = !self.paused.is_empty()
            && self
                .tasks
                .proc_of(id)
                .is_some_and(|proc| self.paused.contains(proc));
        if paused {
            self.parked.push(id);
        }
        paused
    }

    /// EXEC-7: stop running proc `name`'s tasks until [`Core::resume_proc`].
    pub(crate) fn pause_proc(&mut self, name: &str) {
        self.paused.insert(Arc::from(name));
    }

    /// EXEC-7: run proc `name`'s tasks again; the ones parked meanwhile
    /// become ready, in the order they were parked.
    pub(crate) fn resume_proc(&mut self, name: &str) {
        if !self.paused.remove(name) {
            return;
        }
        let parked = std::mem::take(&mut self.parked);
        for id in parked {
            match self.tasks.proc_of(id) {
                Some(proc) if &**proc == name => self.tasks.ready.push(id),
                Some(_) => self.parked.push(id),
                // Ended or aborted while parked (EXEC-3): forgotten.
                None => {}
            }
        }
    }

    /// Set proc `name`'s wall-clock skew (CLOCK-3): for every task of the
    /// proc at once, running ones included (a clock step, as NTP makes),
    /// and for the tasks it starts later.
    pub(crate) fn set_clock_skew(&mut self, name: &str, skew_ns: i64) {
        self.clock_skews.insert(name.to_owned(), skew_ns);
        for id in self.tasks.of_proc(name) {
            self.tasks.set_skew_ns(id, skew_ns);
        }
        // CLOCK-4: a task that skews its own proc sees the step at once.
        self.publish_skew();
    }

    /// The task being polled, if any.
    pub(crate) fn current(&self) -> Option<TaskId> {
        self.current
    }

    /// Set the task being polled (`None` between polls), and publish the
    /// skew its wall-clock readings carry (CLOCK-4).
    pub(crate) fn set_current(&mut self, current: Option<TaskId>) {
        self.current = current;
        self.current_task_key = None;
        self.publish_skew();
    }

    /// Publish the wall-clock skew of the task being polled (0 between
    /// polls) to the clock's readings (CLOCK-4).
    fn publish_skew(&self) {
        let skew_ns = self.current.map_or(0, |id| self.tasks.skew_ns(id));
        self.clock.readings().set_skew_ns(skew_ns);
    }

    /// Appends an event stamped with the current time, step and running task.
    pub(crate) fn record(&mut self, kind: &'static str, fields: Vec<(&'static str, Value)>) {
        self.record_fields(
            kind,
            fields
                .iter()
                .map(|(name, value)| (*name, Recorded::from(value))),
        );
    }

    /// Appends an event whose fields borrow their values (the runtime's
    /// events take this path: no copies of interned text).
    pub(crate) fn record_fields<'a>(
        &mut self,
        kind: &'static str,
        fields: impl ExactSizeIterator<Item = (&'static str, Recorded<'a>)> + Clone,
    ) {
        let task = match self.current_task_key {
            Some(task) => task,
            None => {
                let task = self
                    .trace
                    .task_key(self.current.and_then(|id| self.tasks.name(id)));
                self.current_task_key = Some(task);
                task
            }
        };
        let time = self.clock.now().since_epoch();
        self.trace.push_keyed(time, self.steps, kind, task, fields);
    }

    /// Appends an event attributed to `task`, whose fields borrow their
    /// values (no field list is built per event: the executor records one
    /// per timer fired and per task that ends).
    pub(crate) fn record_for<'a>(
        &mut self,
        task: Option<&Arc<str>>,
        kind: &'static str,
        fields: impl ExactSizeIterator<Item = (&'static str, Recorded<'a>)> + Clone,
    ) {
        let time = self.clock.now().since_epoch();
        self.trace.push(time, self.steps, kind, task, fields);
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Restores the previously current world when dropped (LOCK-2).
pub(crate) struct CurrentGuard {
    previous: Option<Arc<Shared>>,
}

/// Makes `shared` the current world of this thread until the guard drops.
pub(crate) fn enter(shared: Arc<Shared>) -> CurrentGuard {
    let previous = CURRENT.with(|slot| slot.borrow_mut().replace(shared));
    CurrentGuard { previous }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|slot| *slot.borrow_mut() = previous);
    }
}

/// The world running on this thread, if any.
pub(crate) fn current() -> Option<Arc<Shared>> {
    CURRENT.with(|slot| slot.borrow().clone())
}

/// The address of this thread's current world, if any: compared, never
/// followed (no reference count is taken, unlike [`current`]).
pub(crate) fn current_address() -> Option<*const Shared> {
    CURRENT.with(|slot| slot.borrow().as_ref().map(Arc::as_ptr))
}

/// Runs `f` with this thread's current world, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&Shared) -> R) -> Option<R> {
    let shared = current()?;
    Some(f(&shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LOCK-1: taking the world's lock again on the thread that holds it is
    /// a panic naming the rule in debug builds, not a silent spin.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "LOCK-1 violated")]
    fn taking_the_held_world_lock_again_panics_naming_lock_1() {
        let shared = Shared::new(Config::with_seed(1));
        let _held = shared.lock();
        let _again = shared.lock();
    }

    /// LOCK-1's check is for re-entry only: another thread that finds the
    /// world's lock held for a moment (a wake from outside the world) waits
    /// for it, in debug builds too, instead of panicking.
    #[test]
    fn another_thread_finding_the_world_lock_held_waits_for_it() {
        let shared = Shared::new(Config::with_seed(1));
        let held = shared.lock();
        std::thread::scope(|scope| {
            let other = scope.spawn(|| shared.lock().steps);
            for _ in 0..1_000 {
                std::thread::yield_now();
            }
            drop(held);
            assert_eq!(other.join().expect("the other thread got the lock"), 0);
        });
    }
}
