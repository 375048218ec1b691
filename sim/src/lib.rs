//! lockstep-sim: the deterministic simulator for the lockstep actor runtime.
//!
//! It implements `lockstep::rt::Environment` — tasks, time, timers,
//! randomness, `buggify!` — so the runtime's own code runs unchanged under a
//! seed, single-threaded, on virtual time, and every run replays bit for bit.
//!
//! # Map of the crate (start here)
//! - [`check()`] and [`macro@test`] — the test API: a body run in a fresh world per
//!   seed; seed banner, failure footer with a replay command. (`check.rs`, `seed.rs`)
//! - [`World`], [`Config`] — one simulated universe as a value. (`world.rs`)
//! - `executor.rs` — the poll loop, task slab, wakers, deadlock and budget
//!   verdicts (a deadlock names the live tasks and, through the procs made in
//!   the world, each stuck actor and what it waits for); [`Strategy`] /
//!   [`RandomStrategy`] choose the next task. (`strategy.rs`)
//! - `clock.rs` — virtual monotonic and wall clocks, the timer registry.
//! - `environment.rs` — [`SimEnvironment`], the seam implementation.
//! - [`random`] — per-world labelled ChaCha8 streams derived from the seed.
//! - [`buggify`] — FoundationDB-style fault points.
//! - [`trace`] — the structured event log, its stable hash, JSON lines, and
//!   [`trace::record`] for code running inside a world.
//! - [`Failure`] — how a run fails. (`failure.rs`)
//! - [`hash`] — the stable hashes everything above relies on.
//! - [`net`] — the simulated network: `sim:` procs, latency, reordering
//!   across paths, duplication, loss, partitions, crash/restart; modelled,
//!   or (`NetworkTransport::Session`) the real channel session protocol over
//!   faulty `sim:` links ([`net::SimTransport`]). (`net/transport.rs`)
//! - [`fault`] — profiles (`calm`, `stormy`, `chaos`, `swarm`) and the fault mix.
//! - [`scenario`] — built-in systems and [`scenario::run_one`].
//! - [`logs`] — log lines stamped with virtual time, seed and actor.
//! - [`oracle`] — the runtime's contract checked on every run: sequencing,
//!   supervision, introspection, liveness, user properties.
//! - [`determinism`] — compare two runs' traces, name the first divergence.
//! - `bin/lockstep-sim/` — the CLI: `list`, `explore`, `replay`, `check-determinism`.
//!
//! ```
//! use std::time::Duration;
//! use lockstep_sim::{Config, World};
//!
//! let mut world = World::new(Config::with_seed(7));
//! let slept = world
//!     .run(async {
//!         let start = lockstep::time::now();
//!         let task = lockstep::rt::spawn("sleeper", async {
//!             lockstep::time::sleep(Duration::from_secs(3600)).await;
//!             42
//!         });
//!         assert_eq!(task.await.unwrap(), 42);
//!         lockstep::time::now() - start
//!     })
//!     .unwrap();
//! assert_eq!(slept, Duration::from_secs(3600)); // instantly, in wall time
//! ```
#![forbid(unsafe_code)]

pub mod buggify;
mod check;
mod clock;
pub mod determinism;
mod environment;
mod executor;
mod failure;
pub mod fault;
pub mod hash;
pub mod logs;
pub mod net;
pub mod oracle;
pub mod random;
pub mod scenario;
pub mod seed;
mod shared;
mod strategy;
pub mod trace;
mod world;

pub use buggify::BuggifyConfig;
pub use check::{CheckConfig, CheckReport, Outcome, PlanError, SeedRun, WorldHandle, check};
pub use environment::SimEnvironment;
pub use executor::TaskId;
pub use failure::{Failure, TaskReport, TimerReport};
pub use lockstep_sim_macros::test;
pub use strategy::{FifoStrategy, RandomStrategy, Strategy};
pub use world::{Config, World};

/// Not public API: used by the `#[lockstep_sim::test]` expansion.
#[doc(hidden)]
pub mod __private {
    pub use crate::check::test_name;
}
