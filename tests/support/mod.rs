//! Shared test actors and the "on both backends" harness.
//!
//! `on_both` runs a test body on a multi-threaded tokio runtime, then under
//! the deterministic simulator for several seeds: one behaviour test, two
//! environments, so the `rt` seam can't rot (DESIGN §1).
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod actors;

use std::future::Future;

/// How many simulator seeds `on_both` runs (override with `LOCKSTEP_SEEDS`).
pub const SIM_SEEDS_DEFAULT: u64 = 16;

/// Run `test` on tokio, then under the simulator.
pub fn on_both<F, Fut>(test: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    on_tokio(&test);
    on_simulator(test);
}

/// Run `test` on a two-worker tokio runtime.
pub fn on_tokio<F, Fut>(test: &F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime")
        .block_on(test());
}

/// Run `test` under the simulator for several seeds.
pub fn on_simulator<F, Fut>(test: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    simulator::run(test);
}

#[path = "simulator.rs"]
mod simulator;
