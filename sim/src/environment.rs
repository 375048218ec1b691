//! `SimEnvironment`: the simulator's implementation of the runtime's
//! [`lockstep::rt::Environment`] seam.
//!
//! Owns: the translation of each seam call (time, timers, spawn, randomness,
//! buggify) into operations on the world's shared state.
//! Does not own: any policy — clock, executor, random and buggify modules do.
//!
//! ENV-1: `SimEnvironment` is `Send + Sync`; a call either reads the
//! clock's lock-free readings (`now`, `system_now`: CLOCK-4) or locks the
//! world briefly, and never polls, wakes or drops user code while locked
//! (LOCK-1).
//! ENV-2: a timer registers with the clock on its first pending poll and
//! deregisters when dropped, so abandoned sleeps (a `timeout` whose future
//! won) never keep a world alive or distort budget reports.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::SystemTime;

use lockstep::rt::trace::TraceValue;
use lockstep::rt::{
    AbortTask, BuggifySite, Environment, Instant, RandomStream, StallReporter, TaskFuture,
    TimerFuture,
};

use crate::clock::TimerKey;
use crate::executor::{Executor, TaskId};
use crate::shared::Shared;
use crate::trace::{Recorded, kind};

/// The environment a world installs with `lockstep::rt::enter` while it runs.
pub struct SimEnvironment {
    shared: Arc<Shared>,
}

impl SimEnvironment {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SimEnvironment>();
};

impl Environment for SimEnvironment {
    fn now(&self) -> Instant {
        self.shared.clock_readings.now()
    }

    fn system_now(&self) -> SystemTime {
        self.shared.clock_readings.system_now()
    }

    fn sleep_until(&self, deadline: Instant) -> TimerFuture {
        Box::pin(SimSleep {
            shared: self.shared.clone(),
            deadline,
            key: None,
        })
    }

    fn spawn(&self, name: &str, task: TaskFuture) -> Box<dyn AbortTask> {
        self.start(Owner::Spawner, name, task)
    }

    fn spawn_for(&self, owner: &str, name: &str, task: TaskFuture) -> Box<dyn AbortTask> {
        self.start(Owner::Proc(owner), name, task)
    }

    fn random_u64(&self, stream: RandomStream) -> u64 {
        self.shared.lock().random.next_u64(stream)
    }

    fn mutation_enabled(&self, name: &str) -> bool {
        self.shared
            .config
            .mutations
            .iter()
            .any(|planted| planted == name)
    }

    fn records_events(&self) -> bool {
        self.shared.config.runtime_events
    }

    fn record(&self, event: lockstep::rt::trace::TraceEvent<'_>) {
        let fields = event.fields.iter().map(|(name, value)| {
            let value = match value {
                TraceValue::U64(value) => Recorded::U64(*value),
                TraceValue::Bool(value) => Recorded::Bool(*value),
                TraceValue::Str(value) => Recorded::Text(value),
                TraceValue::Static(value) => Recorded::Static(value),
                TraceValue::Shared(value) => Recorded::Shared(value),
                TraceValue::Port { actor, index } => Recorded::Port(actor, *index),
            };
            (*name, value)
        });
        self.shared.lock().record_fields(event.kind, fields);
    }

    fn register_stall_reporter(&self, reporter: Weak<dyn StallReporter>) {
        let mut core = self.shared.lock();
        core.stall_reporters
            .retain(|known| known.strong_count() > 0);
        core.stall_reporters.push(reporter);
    }

    fn buggify(&self, site: BuggifySite) -> bool {
        let mut core = self.shared.lock();
        let core = &mut *core;
        let decision = core.buggify.evaluate(site, &mut core.random);
        let fired = decision.fired();
        if let Some((kind, fields)) = decision.trace_fields() {
            core.record(kind, fields);
        }
        fired
    }
}

/// Whose a new task is (EXEC-7: a paused proc's tasks are not polled;
/// CLOCK-3: a task reads its proc's skewed wall clock).
#[derive(Clone, Copy)]
enum Owner<'a> {
    /// The proc named (`rt::spawn_for`): its current skew.
    Proc(&'a str),
    /// The spawning task's proc and skew (`rt::spawn`).
    Spawner,
    /// No proc (the network's couriers: what is on the wire still arrives
    /// while procs are paused), and no skew (a courier reads no wall clock).
    Nobody,
}

/// Start `task` as no proc's: see [`Owner::Nobody`]. Inside a world only.
pub(crate) fn spawn_unowned(name: &str, task: impl Future<Output = ()> + Send + 'static) {
    let shared = crate::shared::current().expect("the network spawns its couriers inside a world");
    // Detached, like a dropped join handle: the courier ends by itself.
    add_task(&shared, Owner::Nobody, name, Box::pin(task));
}

/// Add `task` to the world's table, attributed to `owner`, and trace it.
fn add_task(shared: &Arc<Shared>, owner: Owner<'_>, name: &str, task: TaskFuture) -> TaskId {
    let mut core = shared.lock();
    let (proc, skew) = match owner {
        Owner::Proc(owner) => (
            Some(core.tasks.intern_name(owner)),
            core.clock_skews.get(owner).copied().unwrap_or(0),
        ),
        Owner::Spawner => match core.current() {
            Some(spawner) => (
                core.tasks.proc_of(spawner).cloned(),
                core.tasks.skew_ns(spawner),
            ),
            None => (None, 0),
        },
        Owner::Nobody => (None, 0),
    };
    let name = core.tasks.intern_name(name);
    let id = core.tasks.insert(name.clone(), Some(task), shared);
    core.tasks.set_skew_ns(id, skew);
    core.tasks.set_proc(id, proc);
    let id_text = id.to_string();
    core.record_fields(
        kind::TASK_SPAWN,
        [
            ("name", Recorded::Shared(&name)),
            ("id", Recorded::Text(&id_text)),
        ]
        .into_iter(),
    );
    id
}

impl SimEnvironment {
    fn start(&self, owner: Owner<'_>, name: &str, task: TaskFuture) -> Box<dyn AbortTask> {
        let id = add_task(&self.shared, owner, name, task);
        Box::new(SimAbort {
            shared: self.shared.clone(),
            id,
        })
    }
}

/// Aborts one simulated task.
struct SimAbort {
    shared: Arc<Shared>,
    id: TaskId,
}

impl AbortTask for SimAbort {
    fn abort(&self) {
        Executor::abort(&self.shared, self.id);
    }
}

/// A virtual-time timer (ENV-2).
struct SimSleep {
    shared: Arc<Shared>,
    deadline: Instant,
    key: Option<TimerKey>,
}

impl Future for SimSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut core = this.shared.lock();
        if core.clock.now() >= this.deadline {
            let armed = this.key.take().and_then(|key| core.clock.disarm(key));
            drop(core);
            drop(armed); // LOCK-1: the waker is dropped unlocked.
            return Poll::Ready(());
        }
        match this.key {
            Some(key) => {
                let previous = core.clock.rearm(key, context.waker());
                drop(core);
                drop(previous);
            }
            None => {
                let owner = core.current().and_then(|id| core.tasks.name(id)).cloned();
                this.key = Some(
                    core.clock
                        .arm(this.deadline, context.waker().clone(), owner),
                );
            }
        }
        Poll::Pending
    }
}

impl Drop for SimSleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let armed = self.shared.lock().clock.disarm(key);
            drop(armed);
        }
    }
}
