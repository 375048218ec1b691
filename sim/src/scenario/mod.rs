//! Scenarios: whole simulated systems, run under a seed and a fault mix.
//!
//! Owns: the [`Scenario`] trait, the registry of built-in scenarios, and
//! [`run_one`], which runs one scenario for one seed in a fresh world and
//! returns a [`RunReport`] (verdict, trace hash, counts).
//!
//! RUN-1: a run is a pure function of (scenario, seed, profile): the same
//! triple gives the same verdict and the same trace hash, in any process.

mod ping_pong;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lockstep::ProcConfig;

use crate::fault::{FaultMix, Profile};
use crate::net::{Network, NetworkStats};
use crate::trace::Trace;
use crate::{Config, World};

/// What a scenario gets: its network (procs are created on it) and the mix.
pub struct ScenarioContext {
    /// The world's network.
    pub network: Network,
    /// The faults in force.
    pub mix: FaultMix,
    /// The run's seed.
    pub seed: u64,
}

/// A scenario's body: finishes with `Ok` when the system did what it should.
pub type ScenarioFuture = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// A simulated system that exercises the runtime the way users do.
pub trait Scenario: Send + Sync {
    /// Stable name (used on the command line and in replay commands).
    fn name(&self) -> &'static str;
    /// One line saying what it exercises.
    fn summary(&self) -> &'static str;
    /// A demonstration scenario with a planted bug: run only when named,
    /// never by a default `explore`.
    fn is_demo(&self) -> bool {
        false
    }
    /// Proc configuration for the scenario's procs.
    fn proc_config(&self) -> ProcConfig {
        ProcConfig::default()
    }
    /// Run it.
    fn run(&self, context: ScenarioContext) -> ScenarioFuture;
}

/// Every built-in scenario, in a stable order.
pub fn builtin() -> Vec<Box<dyn Scenario>> {
    vec![Box::new(ping_pong::PingPongAcrossProcs)]
}

/// The built-in scenario called `name`.
pub fn find(name: &str) -> Option<Box<dyn Scenario>> {
    builtin()
        .into_iter()
        .find(|scenario| scenario.name() == name)
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything held.
    Pass,
    /// Why it failed.
    Fail(String),
}

impl Verdict {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Fail(reason) => write!(f, "fail: {reason}"),
        }
    }
}

/// The outcome of one run.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The scenario.
    pub scenario: &'static str,
    /// The seed.
    pub seed: u64,
    /// The faults.
    pub mix: FaultMix,
    /// Pass or fail.
    pub verdict: Verdict,
    /// The stable trace hash.
    pub trace_hash: u64,
    /// Messages handled by actors.
    pub messages: u64,
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// Executor polls.
    pub steps: u64,
    /// What the network did.
    pub network: NetworkStats,
    /// The whole trace.
    pub trace: Trace,
}

/// Virtual-time budget of one run: the fault window plus time to settle.
pub const SETTLE_TIME_MAX: Duration = Duration::from_secs(600);

/// Run `scenario` once for `seed` under `profile`, in a fresh world.
pub fn run_one(scenario: &dyn Scenario, seed: u64, profile: Profile) -> RunReport {
    let mix = FaultMix::derive(profile, seed);
    let config = Config::with_seed(seed)
        .virtual_time_max(mix.fault_window + SETTLE_TIME_MAX)
        .steps_max(20_000_000)
        .profile(profile.name());
    let mut world = World::new(config);
    let network_config = mix.network.clone();
    let proc_config = scenario.proc_config();
    let context_mix = mix.clone();
    let mut stats = NetworkStats::default();
    let result = world.run(async {
        let network = Network::new(network_config, proc_config);
        let context = ScenarioContext {
            network: network.clone(),
            mix: context_mix,
            seed,
        };
        let outcome = scenario.run(context).await;
        stats = network.stats();
        outcome
    });
    let verdict = match result {
        Ok(Ok(())) => Verdict::Pass,
        Ok(Err(reason)) => Verdict::Fail(reason),
        Err(failure) => Verdict::Fail(failure.to_string()),
    };
    let trace = world.trace();
    let messages = trace
        .events()
        .iter()
        .filter(|event| event.kind == "handled")
        .count() as u64;
    RunReport {
        scenario: scenario.name(),
        seed,
        mix,
        verdict,
        trace_hash: trace.hash(),
        messages,
        virtual_time: world.now().since_epoch(),
        steps: world.steps(),
        network: stats,
        trace,
    }
}
