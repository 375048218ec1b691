//! The `rt` seam: every source of nondeterminism the runtime uses.
//!
//! Owns: task spawning, monotonic and wall-clock time, timers, randomness and
//! `buggify!` points — each routed to the [`Environment`] installed for the
//! current world, or straight to tokio when none is installed.
//!
//! Does not own: scheduling policy, virtual time or fault injection; those live
//! in the environment implementation (the simulator, `lockstep-sim`).
//!
//! Rules (DESIGN.md §2.1):
//! - RT-1: nothing else in `src/` calls `tokio::spawn`, `tokio::time`,
//!   `Instant::now`, `SystemTime::now` or an OS-seeded RNG (`clippy.toml`
//!   enforces it; only `tokio_env` is exempt).
//! - RT-2: the environment is found from the current thread, the way
//!   `tokio::spawn` finds its runtime, so call sites carry no clock parameter and
//!   two worlds can live in one process on different threads.
//! - RT-3: with no environment installed the cost is one thread-local read
//!   before going to tokio.
//!
//! ```
//! # async fn demo() {
//! use lockstep::rt::time::{sleep, now};
//! use std::time::Duration;
//! let start = now();
//! sleep(Duration::from_millis(1)).await;
//! assert!(now().duration_since(start) >= Duration::from_millis(1));
//! # }
//! ```

mod context;
pub mod mutation;
pub mod random;
pub mod task;
pub mod time;
mod tokio_env;
pub mod trace;

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

pub use context::{EnterGuard, current, enter};
pub use random::RandomStream;
pub use task::{JoinError, JoinHandle, spawn, spawn_for, yield_now};
pub use time::Instant;

/// A boxed, sendable future with no output: the unit of work an environment runs.
pub type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A boxed timer future returned by [`Environment::sleep_until`].
pub type TimerFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Lets a spawned task be cancelled.
pub trait AbortTask: Send + Sync {
    /// Stop polling the task and drop it. Idempotent.
    fn abort(&self);
}

/// The world a piece of runtime code runs in: its clocks, its scheduler and its
/// randomness.
///
/// The simulator implements this from outside the runtime; the runtime never
/// names any implementation. All methods are called from the thread the
/// environment is entered on.
pub trait Environment: Send + Sync + 'static {
    /// Monotonic time.
    fn now(&self) -> Instant;
    /// Wall-clock time (in simulation: a seed-derived epoch plus virtual time, plus any skew).
    fn system_now(&self) -> SystemTime;
    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Instant) -> TimerFuture;
    /// Start a task. `name` is for traces and deadlock reports. The task
    /// belongs to the proc its spawner belongs to, if any.
    fn spawn(&self, name: &str, task: TaskFuture) -> Box<dyn AbortTask>;
    /// Start a task that belongs to the proc named `owner`, whoever spawns
    /// it: a simulator pauses it with that proc and runs it on that proc's
    /// skewed wall clock. An environment without procs of its own runs it
    /// like any task.
    fn spawn_for(&self, owner: &str, name: &str, task: TaskFuture) -> Box<dyn AbortTask> {
        let _ = owner;
        self.spawn(name, task)
    }
    /// The next 64 random bits of the labelled stream.
    fn random_u64(&self, stream: RandomStream) -> u64;
    /// Whether the `buggify!` point at `site` fires now.
    fn buggify(&self, site: BuggifySite) -> bool;

    /// Whether [`Environment::record`] wants runtime events (default: no).
    fn records_events(&self) -> bool {
        false
    }

    /// Take one runtime event (see [`trace`]). Default: ignore it.
    fn record(&self, _event: trace::TraceEvent<'_>) {}

    /// Whether planted bug `name` is on in this world (see [`mutation`]).
    /// Default: never.
    fn mutation_enabled(&self, _name: &str) -> bool {
        false
    }

    /// Keep `reporter` to ask, should this world stall (nothing runnable, no
    /// timer armed), what is stuck and on what. Default: not kept.
    fn register_stall_reporter(&self, _reporter: Weak<dyn StallReporter>) {}
}

/// A part of the runtime that can say what in it is stuck (a proc: its
/// actors that are not idle or still hold messages, and what they wait for).
pub trait StallReporter: Send + Sync + 'static {
    /// One line per stuck thing; empty if nothing is.
    fn stuck(&self) -> Vec<String>;
}

/// Offer `reporter` to the installed environment (see
/// [`Environment::register_stall_reporter`]); nothing happens outside one.
pub fn register_stall_reporter(reporter: Weak<dyn StallReporter>) {
    with_environment(|environment| {
        if let Some(environment) = environment {
            environment.register_stall_reporter(reporter);
        }
    });
}

/// Returns true at a `buggify!` point when the current world decides to inject
/// a rare behaviour there. Always false outside simulation.
///
/// A point is known by its call site; the runtime's own points are named
/// instead (`buggify!("channel.reset_after_write")`), so editing the runtime
/// around them does not rename them in users' traces. (All points share the
/// world's buggify stream: a runtime change in how often a point is reached
/// can still shift what later points decide.)
///
/// ```
/// if lockstep::buggify!() {
///     // take the slow, rarely exercised path
/// }
/// ```
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::rt::buggify_at($crate::rt::BuggifySite::Location(
            ::std::panic::Location::caller(),
        ))
    };
    ($name:literal) => {
        $crate::rt::buggify_at($crate::rt::BuggifySite::Named($name))
    };
}

/// Where a `buggify!` point is: its call site, or a stable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BuggifySite {
    /// `buggify!()` at this source location.
    Location(&'static Location<'static>),
    /// `buggify!("name")`.
    Named(&'static str),
}

impl std::fmt::Display for BuggifySite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuggifySite::Location(location) => location.fmt(f),
            BuggifySite::Named(name) => f.write_str(name),
        }
    }
}

/// The function behind [`buggify!`]; prefer the macro, which records the site.
pub fn buggify_at(site: BuggifySite) -> bool {
    with_environment(|environment| environment.is_some_and(|environment| environment.buggify(site)))
}

/// Run `f` with the installed environment, if any (the facade functions' hot path).
pub(crate) fn with_environment<R>(f: impl FnOnce(Option<&Arc<dyn Environment>>) -> R) -> R {
    context::with_current(f)
}
