//! The single-threaded executor: runs the main future and every task it
//! spawns, one poll at a time, in an order chosen by a [`Strategy`].
//!
//! Owns: the task table (a slab of named tasks), the ready list, wakers, the
//! poll loop, panic capture, teardown, and the deadlock and budget verdicts.
//! Does not own: *which* ready task runs next (`strategy`), timers (`clock`).
//!
//! EXEC-1: a task is in the ready list at most once: its slot's `queued`
//! flag is set when it is pushed and cleared just before it is polled (both
//! under the world's lock), so a wake during its own poll queues it again.
//! EXEC-2: the ready list is a `Vec` in wake order; nothing here iterates a
//! hash container, so the schedule is a function of the seed alone.
//! EXEC-3: slots are reused with a bumped generation; a stale waker or ready
//! entry of an ended task finds no slot of its generation and is ignored.
//! EXEC-4: time advances only when no task is ready (CLOCK-2).
//! EXEC-5: every poll runs under `catch_unwind`; a panic ends the run with the
//! task's name and message. An aborted task is dropped, never polled again.
//! EXEC-6: when the run ends (main finished or failure), every remaining task
//! is dropped with the world still entered, then every timer.
//! EXEC-7: a task belongs to the proc it was started for (`rt::spawn_for`:
//! actors, their introspection, a proc's server and channels), else to its
//! spawner's proc (the network's couriers to none). While a proc is paused its
//! tasks are never polled: one chosen from the ready list is parked instead,
//! and on resume the parked tasks rejoin the ready list in the order they
//! were parked (the order the strategy chose them, so the seed decides it).
//! Its timers still fire (a paused process's clock runs on); what they wake
//! waits for the resume.
//! EXEC-8: a panic while a task's future is dropped after an abort or after
//! it finished (its destructors, e.g. an actor's when its proc crashes) is
//! never swallowed: it is recorded and ends the run like a panic in a poll,
//! even one in the poll that finishes main. Only the teardown after the
//! verdict contains such panics without reporting them.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use lockstep::rt::TaskFuture;

use crate::clock::FiredTimer;
use crate::failure::{self, Failure, TaskReport, TimerReport};
use crate::shared::{Core, Shared};
use crate::strategy::Strategy;
use crate::trace::{Recorded, kind};

/// How many recent polls a step-budget report looks at.
const RECENT_POLLS_MAX: usize = 64;
/// How many armed timers a time-budget report lists.
const REPORT_TIMERS_MAX: usize = 16;
/// Teardown rounds (dropping a task may spawn another) before giving up.
const TEARDOWN_ROUNDS_MAX: usize = 16;

/// Identifies a task slot: index in the slab plus the slot's generation
/// (EXEC-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    index: u32,
    generation: u32,
}

impl TaskId {
    /// The slot index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many earlier tasks used this slot.
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

/// The waker of one task (EXEC-1). Waking takes the world's lock, even for
/// a task already queued or ended: a wake from another thread waits while
/// the world's thread holds it.
pub(crate) struct TaskWaker {
    id: TaskId,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.lock().tasks.wake(self.id);
    }
}

/// One live task.
pub(crate) struct Slot {
    name: Arc<str>,
    /// Wall-clock skew of the proc this task belongs to, in nanoseconds.
    skew_ns: i64,
    /// The proc this task belongs to (the one it was started for, else its
    /// spawner's), if any: pausing that proc parks the task (EXEC-7).
    proc: Option<Arc<str>>,
    /// `None` for the main future (it lives on `World::run`'s stack) and while
    /// the task is being polled.
    future: Option<TaskFuture>,
    /// In the ready list (or parked), not yet polled since (EXEC-1).
    queued: bool,
    /// The `Waker` a poll is given: moved out for the poll and back after
    /// it, so a poll clones and drops no reference count. `None` while the
    /// task is being polled.
    poll_waker: Option<Waker>,
    polls: u64,
    abort_requested: bool,
    /// The main future's slot (polled from `World::run`'s stack).
    main: bool,
}

struct Entry {
    generation: u32,
    slot: Option<Slot>,
}

/// The slab of tasks plus the ready list.
#[derive(Default)]
pub(crate) struct TaskTable {
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// One shared copy of each task name ever used: tasks spawned per
    /// message (network couriers) share their name instead of allocating it,
    /// and the trace interns it once.
    names: std::collections::BTreeSet<Arc<str>>,
    /// Ready tasks in wake order (EXEC-2).
    pub(crate) ready: Vec<TaskId>,
}

/// What the executor polls.
pub(crate) enum Polled {
    Main(Waker),
    Task(TaskFuture, Waker),
}

/// The outcome of [`TaskTable::abort`].
pub(crate) enum Abort {
    /// No such task (ended, or already aborted).
    Gone,
    /// The task is being polled; it is dropped when its poll returns.
    Deferred,
    /// Removed; the caller drops the slot after releasing the lock (LOCK-1).
    Removed(Slot),
}

impl TaskTable {
    /// The shared copy of `name`.
    pub(crate) fn intern_name(&mut self, name: &str) -> Arc<str> {
        if let Some(name) = self.names.get(name) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(name);
        self.names.insert(name.clone());
        name
    }

    /// Adds a task and makes it ready; `future: None` adds the main future.
    pub(crate) fn insert(
        &mut self,
        name: Arc<str>,
        future: Option<TaskFuture>,
        shared: &Arc<Shared>,
    ) -> TaskId {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.entries.len()).expect("fewer than 2^32 task slots");
                self.entries.push(Entry {
                    generation: 0,
                    slot: None,
                });
                index
            }
        };
        let entry = &mut self.entries[index as usize];
        let id = TaskId {
            index,
            generation: entry.generation,
        };
        let waker = Arc::new(TaskWaker {
            id,
            shared: shared.clone(),
        });
        let main = future.is_none();
        entry.slot = Some(Slot {
            name,
            skew_ns: 0,
            proc: None,
            future,
            queued: true,
            poll_waker: Some(Waker::from(waker)),
            polls: 0,
            abort_requested: false,
            main,
        });
        self.ready.push(id);
        id
    }

    fn slot(&self, id: TaskId) -> Option<&Slot> {
        let entry = self.entries.get(id.index as usize)?;
        (entry.generation == id.generation).then_some(entry.slot.as_ref()?)
    }

    fn slot_mut(&mut self, id: TaskId) -> Option<&mut Slot> {
        let entry = self.entries.get_mut(id.index as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        entry.slot.as_mut()
    }

    /// The wall-clock skew of a live task (0 if unknown).
    pub(crate) fn skew_ns(&self, id: TaskId) -> i64 {
        self.slot(id).map_or(0, |slot| slot.skew_ns)
    }

    /// The proc a live task belongs to.
    pub(crate) fn proc_of(&self, id: TaskId) -> Option<&Arc<str>> {
        self.slot(id).and_then(|slot| slot.proc.as_ref())
    }

    /// Set the proc a task belongs to.
    pub(crate) fn set_proc(&mut self, id: TaskId, proc: Option<Arc<str>>) {
        if let Some(slot) = self.slot_mut(id) {
            slot.proc = proc;
        }
    }

    /// Set a task's wall-clock skew.
    pub(crate) fn set_skew_ns(&mut self, id: TaskId, skew_ns: i64) {
        if let Some(slot) = self.slot_mut(id) {
            slot.skew_ns = skew_ns;
        }
    }

    /// The name of a live task.
    pub(crate) fn name(&self, id: TaskId) -> Option<&Arc<str>> {
        self.slot(id).map(|slot| &slot.name)
    }

    /// Queue live task `id` unless it is queued already (EXEC-1); an ended
    /// task's waker finds no slot (EXEC-3).
    fn wake(&mut self, id: TaskId) {
        let newly_queued = self
            .slot_mut(id)
            .is_some_and(|slot| !std::mem::replace(&mut slot.queued, true));
        if newly_queued {
            self.ready.push(id);
        }
    }

    /// Removes a task's slot (EXEC-3); the caller drops it unlocked.
    pub(crate) fn remove(&mut self, id: TaskId) -> Option<Slot> {
        let entry = self.entries.get_mut(id.index as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        let slot = entry.slot.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(id.index);
        Some(slot)
    }

    /// Requests that a task be dropped (EXEC-5).
    pub(crate) fn abort(&mut self, id: TaskId) -> Abort {
        let Some(slot) = self.slot_mut(id) else {
            return Abort::Gone;
        };
        if slot.future.is_none() {
            // Being polled (the main future is never aborted: it has no handle).
            slot.abort_requested = true;
            return Abort::Deferred;
        }
        match self.remove(id) {
            Some(slot) => Abort::Removed(slot),
            None => Abort::Gone,
        }
    }

    /// Every live task in slot order.
    pub(crate) fn live(&self) -> Vec<TaskReport> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let slot = entry.slot.as_ref()?;
                Some(TaskReport {
                    name: slot.name.to_string(),
                    id: TaskId {
                        index: index as u32,
                        generation: entry.generation,
                    },
                    polls: slot.polls,
                })
            })
            .collect()
    }

    fn report(&self, id: TaskId) -> Option<TaskReport> {
        let slot = self.slot(id)?;
        Some(TaskReport {
            name: slot.name.to_string(),
            id,
            polls: slot.polls,
        })
    }

    /// The live tasks of proc `name`, in slot order.
    pub(crate) fn of_proc(&self, name: &str) -> Vec<TaskId> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let slot = entry.slot.as_ref()?;
                (slot.proc.as_deref() == Some(name)).then_some(TaskId {
                    index: index as u32,
                    generation: entry.generation,
                })
            })
            .collect()
    }

    /// Removes every task (teardown, EXEC-6).
    fn take_all(&mut self) -> Vec<Slot> {
        self.ready.clear();
        let ids: Vec<TaskId> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.slot.is_some())
            .map(|(index, entry)| TaskId {
                index: index as u32,
                generation: entry.generation,
            })
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }
}

impl Core {
    /// Starts polling `id`: takes its future out, counts the step, marks it
    /// running and clears its `queued` flag (EXEC-1). `None` for a stale entry.
    fn begin_poll(&mut self, id: TaskId) -> Option<Polled> {
        let slot = self.tasks.slot_mut(id)?;
        let future = slot.future.take();
        if future.is_none() && !slot.main {
            return None; // Being polled already: cannot happen single-threaded.
        }
        slot.polls += 1;
        slot.queued = false;
        let waker = slot
            .poll_waker
            .take()
            .expect("a task's waker is back in its slot after every poll");
        self.steps += 1;
        self.set_current(Some(id));
        self.trace.note_poll(id.index, id.generation);
        Some(match future {
            Some(future) => Polled::Task(future, waker),
            None => Polled::Main(waker),
        })
    }

    /// Ends a poll that returned `Pending`, taking back the task's future
    /// and waker; hands them back if the task was aborted meanwhile (to be
    /// dropped unlocked, LOCK-1).
    fn end_poll(&mut self, id: TaskId, future: TaskFuture, waker: Waker) -> Option<Unpolled> {
        self.set_current(None);
        let Some(slot) = self.tasks.slot_mut(id) else {
            return Some(Unpolled {
                future,
                slot: None,
                waker,
            });
        };
        if slot.abort_requested {
            let name = slot.name.clone();
            let id_text = id.to_string();
            self.record_for(
                Some(&name),
                kind::TASK_ABORT,
                [
                    ("name", Recorded::Text(&name)),
                    ("id", Recorded::Text(&id_text)),
                ]
                .into_iter(),
            );
            let slot = self.tasks.remove(id);
            return Some(Unpolled {
                future,
                slot,
                waker,
            });
        }
        slot.future = Some(future);
        slot.poll_waker = Some(waker);
        None
    }

    /// Ends a poll of the main future that returned `Pending`, taking back
    /// its waker.
    fn end_main_poll(&mut self, id: TaskId, waker: Waker) {
        self.set_current(None);
        self.tasks
            .slot_mut(id)
            .expect("the main future's slot lives until the run returns")
            .poll_waker = Some(waker);
    }

    /// A task's future completed.
    fn exit(&mut self, id: TaskId) -> Option<Slot> {
        let slot = self.tasks.remove(id)?;
        let id_text = id.to_string();
        self.record_for(
            Some(&slot.name),
            kind::TASK_EXIT,
            [
                ("id", Recorded::Text(&id_text)),
                ("polls", Recorded::U64(slot.polls)),
            ]
            .into_iter(),
        );
        self.set_current(None);
        Some(slot)
    }
}

/// What [`Core::end_poll`] hands back of an aborted task, to be dropped
/// once the world is unlocked (LOCK-1).
struct Unpolled {
    future: TaskFuture,
    slot: Option<Slot>,
    waker: Waker,
}

/// The main future's task name.
const MAIN_NAME: &str = "main";

/// The poll loop of one world.
pub(crate) struct Executor {
    strategy: Box<dyn Strategy>,
    /// The last polled tasks, a ring (for step-budget reports).
    recent: Vec<TaskId>,
    recent_next: usize,
    /// Reused buffer for timers that fire together.
    fired: Vec<FiredTimer>,
}

impl Executor {
    pub(crate) fn new(strategy: Box<dyn Strategy>) -> Self {
        Self {
            strategy,
            recent: Vec::with_capacity(RECENT_POLLS_MAX),
            recent_next: 0,
            fired: Vec::new(),
        }
    }

    /// Runs `main` and everything it spawns until `main` finishes or the run
    /// fails, then tears the world's tasks down (EXEC-6).
    pub(crate) fn run<F: Future>(
        &mut self,
        shared: &Arc<Shared>,
        main: F,
    ) -> Result<F::Output, Failure> {
        let main = std::pin::pin!(main);
        let main_id = {
            let mut core = shared.lock();
            core.failure_pending = None; // EXEC-8: nothing from a run before
            core.tasks.insert(Arc::from(MAIN_NAME), None, shared)
        };
        let mut result = self.poll_loop(shared, main_id, main);
        // EXEC-8: a destructor that panicked in the last poll (main finished
        // or failed in the same poll that aborted the task) still counts; a
        // failure the poll loop already returned comes first.
        if let Some(failure) = shared.lock().failure_pending.take() {
            if result.is_ok() {
                result = Err(failure);
            }
        }
        let main_slot = shared.lock().tasks.remove(main_id);
        drop(main_slot);
        teardown(shared);
        // What teardown's drops aborted is after the verdict (EXEC-6).
        let after_verdict = shared.lock().failure_pending.take();
        drop(after_verdict);
        result
    }

    fn poll_loop<F: Future>(
        &mut self,
        shared: &Arc<Shared>,
        main_id: TaskId,
        mut main: Pin<&mut F>,
    ) -> Result<F::Output, Failure> {
        // The lock a poll that returned `Pending` ended under, kept to
        // choose the next task: one lock between two polls, not two. Held
        // only over bookkeeping: never over a poll, a wake or a drop (LOCK-1).
        let mut between_polls = None;
        loop {
            let (id, polled) = {
                let mut core = between_polls.take().unwrap_or_else(|| shared.lock());
                if let Some(failure) = core.failure_pending.take() {
                    return Err(failure); // EXEC-8
                }
                if core.tasks.ready.is_empty() {
                    drop(core);
                    self.advance(shared)?;
                    continue;
                }
                let choice = self.strategy.choose(&core.tasks.ready);
                let id = core.tasks.ready.remove(choice);
                if core.parks(id) {
                    continue; // EXEC-7: its proc is paused.
                }
                if core.steps >= shared.config.steps_max {
                    return Err(self.step_budget_exhausted(&core, shared.config.steps_max));
                }
                match core.begin_poll(id) {
                    Some(polled) => (id, polled),
                    None => continue, // EXEC-3: a stale entry.
                }
            };
            self.note_recent(id);
            match polled {
                Polled::Main(waker) => {
                    debug_assert_eq!(id, main_id);
                    let mut context = Context::from_waker(&waker);
                    match catch_unwind(AssertUnwindSafe(|| main.as_mut().poll(&mut context))) {
                        Ok(Poll::Ready(output)) => return Ok(output),
                        Ok(Poll::Pending) => {
                            let mut core = shared.lock();
                            core.end_main_poll(id, waker);
                            between_polls = Some(core);
                        }
                        Err(payload) => {
                            let message = failure::panic_message(&*payload);
                            shared
                                .lock()
                                .record(kind::PANIC, vec![("message", message.clone().into())]);
                            return Err(failure::for_panic(None, message));
                        }
                    }
                }
                Polled::Task(mut future, waker) => {
                    let mut context = Context::from_waker(&waker);
                    let outcome =
                        catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut context)));
                    match outcome {
                        Ok(Poll::Pending) => {
                            let mut core = shared.lock();
                            let aborted = core.end_poll(id, future, waker);
                            if aborted.is_none() {
                                between_polls = Some(core);
                            } else {
                                drop(core);
                            }
                            if let Some(unpolled) = aborted {
                                // LOCK-1: dropped unlocked.
                                let name = unpolled.slot.as_ref().map_or_else(
                                    || Arc::from("(a removed task)"),
                                    |slot| slot.name.clone(),
                                );
                                drop(unpolled.slot);
                                drop(unpolled.waker);
                                drop_task_future(shared, name, unpolled.future, "after an abort");
                            }
                        }
                        Ok(Poll::Ready(())) => {
                            let slot = shared.lock().exit(id);
                            let name = slot.as_ref().map(|slot| slot.name.clone());
                            drop(slot);
                            let name = name.unwrap_or_else(|| Arc::from("(a removed task)"));
                            drop_task_future(shared, name, future, "after it finished");
                        }
                        Err(payload) => {
                            let message = failure::panic_message(&*payload);
                            let (name, slot) = {
                                let mut core = shared.lock();
                                core.record(kind::PANIC, vec![("message", message.clone().into())]);
                                core.set_current(None);
                                let slot = core.tasks.remove(id);
                                let name = slot.as_ref().map(|slot| slot.name.to_string());
                                (name.unwrap_or_default(), slot)
                            };
                            drop(slot);
                            quietly_drop(future);
                            return Err(failure::for_panic(Some(&name), message));
                        }
                    }
                }
            }
        }
    }

    fn note_recent(&mut self, id: TaskId) {
        if self.recent.len() < RECENT_POLLS_MAX {
            self.recent.push(id);
        } else {
            self.recent[self.recent_next] = id;
            self.recent_next = (self.recent_next + 1) % RECENT_POLLS_MAX;
        }
    }

    /// EXEC-4: nothing is ready; fire the next timers, or fail.
    fn advance(&mut self, shared: &Arc<Shared>) -> Result<(), Failure> {
        let mut fired = std::mem::take(&mut self.fired);
        {
            let mut core = shared.lock();
            core.set_current(None);
            let from = core.clock.now();
            let Some(deadline) = core.clock.next_deadline() else {
                let (at, tasks) = (from.since_epoch(), core.tasks.live());
                let reporters = core.stall_reporters.clone();
                drop(core);
                // LOCK-1: the procs answer without the world locked.
                let actors = reporters
                    .iter()
                    .filter_map(std::sync::Weak::upgrade)
                    .flat_map(|reporter| reporter.stuck())
                    .collect();
                return Err(Failure::Deadlock { at, tasks, actors });
            };
            let virtual_time_max = shared.config.virtual_time_max;
            if deadline.since_epoch() > virtual_time_max {
                let timers = core
                    .clock
                    .armed()
                    .take(REPORT_TIMERS_MAX)
                    .map(|(deadline, owner)| TimerReport {
                        task: owner.map(ToString::to_string),
                        deadline: deadline.since_epoch(),
                    })
                    .collect();
                return Err(Failure::TimeBudgetExhausted {
                    virtual_time_max,
                    next_deadline: deadline.since_epoch(),
                    timers,
                });
            }
            let to = core.clock.advance(&mut fired).unwrap_or(from);
            if to > from {
                let nanos =
                    |instant: lockstep::rt::Instant| instant.since_epoch().as_nanos() as u64;
                core.record_fields(
                    kind::TIME_ADVANCE,
                    [
                        ("from_ns", Recorded::U64(nanos(from))),
                        ("to_ns", Recorded::U64(nanos(to))),
                    ]
                    .into_iter(),
                );
            }
            for timer in &fired {
                let deadline_ns = timer.deadline.since_epoch().as_nanos() as u64;
                core.record_for(
                    timer.timer.owner.as_ref(),
                    kind::TIMER_FIRE,
                    [("deadline_ns", Recorded::U64(deadline_ns))].into_iter(),
                );
            }
        }
        // LOCK-1: wake (and drop the wakers) with the lock released.
        for timer in fired.drain(..) {
            timer.timer.waker.wake();
        }
        self.fired = fired;
        Ok(())
    }

    fn step_budget_exhausted(&self, core: &Core, steps_max: u64) -> Failure {
        // Count each live task's appearances among the recent polls.
        let mut counts: Vec<(TaskId, usize)> = Vec::new();
        for &id in &self.recent {
            match counts.iter_mut().find(|(seen, _)| *seen == id) {
                Some((_, count)) => *count += 1,
                None => counts.push((id, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Failure::StepBudgetExhausted {
            steps_max,
            at: core.clock.now().since_epoch(),
            recent: counts
                .into_iter()
                .filter_map(|(id, _)| core.tasks.report(id))
                .collect(),
        }
    }

    /// Requests an abort of every live task of proc `name` (a crash: its
    /// process is gone), in slot order.
    pub(crate) fn abort_proc(shared: &Shared, name: &str) {
        let tasks = shared.lock().tasks.of_proc(name);
        for id in tasks {
            Self::abort(shared, id);
        }
    }

    /// Requests an abort of task `id` (the `AbortTask` behind a `JoinHandle`).
    pub(crate) fn abort(shared: &Shared, id: TaskId) {
        let removed = {
            let mut core = shared.lock();
            match core.tasks.abort(id) {
                Abort::Removed(slot) => {
                    core.record(
                        kind::TASK_ABORT,
                        vec![("name", (&slot.name).into()), ("id", id.to_string().into())],
                    );
                    Some(slot)
                }
                Abort::Deferred | Abort::Gone => None,
            }
        };
        if let Some(mut slot) = removed {
            let future = slot.future.take();
            let name = slot.name.clone();
            drop(slot);
            // LOCK-1: the future's destructors may lock the world again.
            if let Some(future) = future {
                drop_task_future(shared, name, future, "after an abort");
            }
        }
    }
}

/// EXEC-6: drops every remaining task, then every timer, all unlocked.
pub(crate) fn teardown(shared: &Shared) {
    for _ in 0..TEARDOWN_ROUNDS_MAX {
        let slots = {
            let mut core = shared.lock();
            core.set_current(None);
            core.tasks.take_all()
        };
        if slots.is_empty() {
            break;
        }
        for mut slot in slots {
            if let Some(future) = slot.future.take() {
                quietly_drop(future);
            }
        }
    }
    let timers = shared.lock().clock.take_all();
    drop(timers);
}

/// EXEC-8: drops task `name`'s future (aborted, or finished: `when` says
/// which); a panic from its destructors is recorded and becomes the run's
/// failure (as a panic while it was polled would), returned before the next
/// poll or when the run ends. The first such failure is kept.
fn drop_task_future(shared: &Shared, name: Arc<str>, future: TaskFuture, when: &str) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(future))) else {
        return;
    };
    let message = format!(
        "while being dropped {when}: {}",
        failure::panic_message(&*payload)
    );
    let mut core = shared.lock();
    core.record_for(
        Some(&name),
        kind::PANIC,
        [("message", Recorded::Text(&message))].into_iter(),
    );
    if core.failure_pending.is_none() {
        core.failure_pending = Some(failure::for_panic(Some(&name), message));
    }
}

/// Drops a future, containing any panic from its destructors (the run's
/// verdict is already decided; a second panic must not abort the process).
fn quietly_drop(future: TaskFuture) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
}
