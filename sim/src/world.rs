//! `World`: one simulated universe as a value — seed, config, executor,
//! clocks, random streams and trace.
//!
//! Owns: composing the parts, installing the environment for the duration of
//! a run, and the run's configuration ([`Config`]).
//! Does not own: the poll loop (`executor`), time (`clock`), randomness
//! (`random`) or the seed sweep (`check`).
//!
//! WORLD-1: no process-global mutable state: everything a run touches hangs
//! off the `World`, so worlds can run one after another on one thread and
//! concurrently on different threads (DESIGN.md §1).
//! WORLD-2: while `run` executes, and only then, the world is this thread's
//! `lockstep::rt` environment and its current world for [`crate::trace::record`].
//! WORLD-3: a run ends in bounded steps and virtual time (FAIL-2).
//! WORLD-4: a world never runs inside a tokio runtime context: there,
//! `tokio::spawn` would succeed on the real runtime instead of failing
//! loudly (DESIGN.md §2.1), so `run` refuses to start.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lockstep::rt::Instant;

use crate::buggify::BuggifyConfig;
use crate::environment::SimEnvironment;
use crate::executor::{self, Executor};
use crate::failure::Failure;
use crate::random;
use crate::shared::{self, Shared};
use crate::strategy::RandomStrategy;
use crate::trace::Trace;

/// The configuration of one world.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The seed every random stream derives from (default 0).
    pub seed: u64,
    /// Polls before the run fails with [`Failure::StepBudgetExhausted`]
    /// (default 10 000 000).
    pub steps_max: u64,
    /// Virtual time before the run fails with
    /// [`Failure::TimeBudgetExhausted`] (default 24 hours).
    pub virtual_time_max: Duration,
    /// `buggify!` behaviour (default on, 0.25 / 0.25).
    pub buggify: BuggifyConfig,
    /// The named fault profile (carried for reports; scenarios read the mix).
    pub profile: Option<String>,
    /// Planted runtime bugs to turn on (`lockstep::rt::mutation`), for
    /// testing the oracles. Ignored by release builds.
    pub mutations: Vec<String>,
    /// Whether the runtime's own events (sends, deliveries, statuses) go
    /// into the trace (default on). The oracles need them; a plain `check`
    /// body that no oracle reads can turn them off for speed.
    pub runtime_events: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 0,
            steps_max: 10_000_000,
            virtual_time_max: Duration::from_secs(24 * 3600),
            buggify: BuggifyConfig::default(),
            profile: None,
            mutations: Vec::new(),
            runtime_events: true,
        }
    }
}

impl Config {
    /// The default config with `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the step budget.
    pub fn steps_max(mut self, steps_max: u64) -> Self {
        self.steps_max = steps_max;
        self
    }

    /// Sets the virtual-time budget.
    pub fn virtual_time_max(mut self, virtual_time_max: Duration) -> Self {
        self.virtual_time_max = virtual_time_max;
        self
    }

    /// Sets the buggify configuration.
    pub fn buggify(mut self, buggify: BuggifyConfig) -> Self {
        self.buggify = buggify;
        self
    }

    /// Turns on planted bug `name` (see `lockstep::rt::mutation`).
    pub fn mutation(mut self, name: impl Into<String>) -> Self {
        self.mutations.push(name.into());
        self
    }

    /// Records the runtime's own events in the trace, or not.
    pub fn runtime_events(mut self, on: bool) -> Self {
        self.runtime_events = on;
        self
    }

    /// Sets the fault profile name.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }
}

/// One simulated world. See the crate docs for an example.
pub struct World {
    shared: Arc<Shared>,
    executor: Executor,
}

impl World {
    /// A fresh world: time zero, no tasks, streams derived from `config.seed`,
    /// scheduled by a [`RandomStrategy`] on the "scheduling" stream.
    pub fn new(config: Config) -> Self {
        let scheduling = random::stream_rng(config.seed, random::SCHEDULING.0);
        let shared = Arc::new(Shared::new(config));
        Self {
            shared,
            executor: Executor::new(Box::new(RandomStrategy::new(scheduling))),
        }
    }

    /// A world scheduled by `strategy` instead of the default.
    pub fn with_strategy(config: Config, strategy: Box<dyn crate::Strategy>) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
            executor: Executor::new(strategy),
        }
    }

    /// The world's seed.
    pub fn seed(&self) -> u64 {
        self.shared.config.seed
    }

    /// The world's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Runs `main` (which need not be `Send`) and every task it spawns on this
    /// thread, with this world as the `lockstep::rt` environment (WORLD-2),
    /// until `main` finishes or the run fails. Tasks still alive when `main`
    /// finishes are dropped.
    ///
    /// Fails with [`Failure::InsideTokioRuntime`] when called inside a tokio
    /// runtime (WORLD-4).
    pub fn run<F: Future>(&mut self, main: F) -> Result<F::Output, Failure> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Failure::InsideTokioRuntime);
        }
        let environment = Arc::new(SimEnvironment::new(self.shared.clone()));
        let _environment = lockstep::rt::enter(environment);
        let _current = shared::enter(self.shared.clone());
        self.executor.run(&self.shared, main)
    }

    /// Virtual time since the world's epoch.
    pub fn now(&self) -> Instant {
        self.shared.clock_readings.now()
    }

    /// How many polls the executor has made.
    pub fn steps(&self) -> u64 {
        self.shared.lock().steps
    }

    /// A copy of the trace so far.
    pub fn trace(&self) -> Trace {
        self.shared.lock().trace.clone()
    }

    /// The stable hash of the trace so far (TRACE-2).
    pub fn trace_hash(&self) -> u64 {
        self.shared.lock().trace.hash()
    }
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<World>();
};

impl Drop for World {
    fn drop(&mut self) {
        // Break the Arc cycles (task futures and wakers hold the shared state).
        executor::teardown(&self.shared);
    }
}
