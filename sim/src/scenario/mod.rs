//! Scenarios: whole simulated systems, run under a seed and a fault mix.
//!
//! Owns: the [`Scenario`] trait, the registry of built-in scenarios, and
//! [`run_one`], which runs one scenario for one seed in a fresh world and
//! returns a [`RunReport`] (verdict, trace hash, counts).
//!
//! RUN-1: a run is a pure function of (scenario, seed, profile, transport):
//! the same inputs give the same verdict and the same trace hash, in any
//! process. (The transport is `Modelled` unless [`RunOptions::transport`]
//! says `Session`.)

mod crash_restart;
mod demo_lost_update;
#[path = "introspection.rs"]
mod introspection_queries;
#[path = "sequencing.rs"]
mod many_senders;
mod ping_pong;
#[path = "supervision.rs"]
mod supervision_tree;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use lockstep::ProcConfig;

use crate::fault::{FaultMix, Profile};
use crate::net::{Network, NetworkStats, NetworkTransport};
use crate::oracle::properties::{Properties, WorldSnapshot};
use crate::oracle::sequencing::HeldAtEnd;
use crate::oracle::{self, OracleReport};
use crate::trace::Trace;
use crate::{Config, World};

/// What a scenario gets: its network (procs are created on it), the mix,
/// and where to declare properties and expectations for the oracles.
pub struct ScenarioContext {
    /// The world's network.
    pub network: Network,
    /// The faults in force.
    pub mix: FaultMix,
    /// The run's seed.
    pub seed: u64,
    /// User properties (`always`, `sometimes`, `eventually_within`).
    pub properties: Properties,
    wedged: Arc<Mutex<BTreeSet<String>>>,
}

impl ScenarioContext {
    /// Tell the liveness oracle that `actor` is stuck in a handler on
    /// purpose (LIVE-2 will not flag it).
    pub fn expect_wedged(&self, actor: &lockstep::ActorId) {
        self.wedged
            .lock()
            .expect("wedged lock")
            .insert(actor.to_string());
    }
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
    vec![
        Box::new(ping_pong::PingPongAcrossProcs),
        Box::new(many_senders::ManySenders),
        Box::new(many_senders::ArrivalOrder),
        Box::new(supervision_tree::SupervisionTree),
        Box::new(introspection_queries::IntrospectionQueries),
        Box::new(crash_restart::CrashRestart),
        Box::new(demo_lost_update::DemoLostUpdate),
    ]
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
    /// Messages handled by actors.
    pub messages: u64,
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// Executor polls.
    pub steps: u64,
    /// What the network did.
    pub network: NetworkStats,
    /// What the oracles checked and found.
    pub oracles: OracleReport,
    /// Per user property: did it hold at least once?
    pub properties: BTreeMap<String, bool>,
    /// Names of the `sometimes` properties (judged across a sweep).
    pub sometimes: Vec<String>,
    /// The whole trace.
    pub trace: Trace,
}

impl RunReport {
    /// The stable trace hash (TRACE-2), computed when asked from
    /// [`trace`](Self::trace): a sweep that only needs verdicts does not pay
    /// for it. Take the trace out of a report only after reading this.
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }
}

/// For a deadlock: every actor that is not idle or still holds messages,
/// and what it waits for (the seq a reorder buffer is stuck behind).
fn stall_report(network: &Network) -> String {
    let lines: Vec<String> = network
        .live_actors()
        .iter()
        .filter_map(lockstep::InstanceCell::stall_report)
        .collect();
    if lines.is_empty() {
        "every actor is idle with nothing queued".to_owned()
    } else {
        format!("stuck actors: {}", lines.join("; "))
    }
}

/// Virtual-time budget of one run: the fault window plus time to settle.
pub const SETTLE_TIME_MAX: Duration = Duration::from_secs(600);

/// Options for one run beyond (scenario, seed).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The fault profile.
    pub profile: Profile,
    /// Planted runtime bugs to turn on (for testing the oracles).
    pub mutations: Vec<String>,
    /// Whether the live introspection oracle probes actors during the run.
    pub probe_introspection: bool,
    /// What carries envelopes between procs: the modelled network (the
    /// default) or the real channel session protocol over `sim:` links.
    pub transport: NetworkTransport,
}

impl RunOptions {
    /// Defaults for `profile`: every oracle on, no planted bugs.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            mutations: Vec::new(),
            probe_introspection: true,
            transport: NetworkTransport::Modelled,
        }
    }

    /// The same options, over `transport`.
    pub fn with_transport(mut self, transport: NetworkTransport) -> Self {
        self.transport = transport;
        self
    }
}

/// Run `scenario` once for `seed` under `profile`, in a fresh world.
pub fn run_one(scenario: &dyn Scenario, seed: u64, profile: Profile) -> RunReport {
    run_with(scenario, seed, &RunOptions::new(profile))
}

/// Run `scenario` once for `seed` with `options`, in a fresh world, then
/// apply every oracle.
pub fn run_with(scenario: &dyn Scenario, seed: u64, options: &RunOptions) -> RunReport {
    let profile = options.profile;
    let mut mix = FaultMix::derive(profile, seed);
    mix.network.transport = options.transport;
    let mut config = Config::with_seed(seed)
        .virtual_time_max(mix.fault_window + SETTLE_TIME_MAX)
        .steps_max(20_000_000)
        .profile(profile.name());
    config.mutations = options.mutations.clone();
    let mut world = World::new(config);
    let network_config = mix.network.clone();
    let proc_config = scenario.proc_config();
    let reorder_buffer = proc_config.reorder_buffer.is_some();
    let settle_time = mix.network.delivery_timeout + Duration::from_secs(10);
    let context_mix = mix.clone();
    let properties = Properties::default();
    let live_report = Arc::new(Mutex::new(OracleReport::default()));
    let mut stats = NetworkStats::default();
    let mut held = HeldAtEnd::new();
    // Made outside the world so a deadlock report can still inspect it.
    let network = Network::new(network_config, proc_config);
    let world_network = network.clone();
    // Written by a watchdog just before the virtual-time budget runs out,
    // while the actors still exist (they are dropped with the failed world).
    let stall: Arc<Mutex<Option<String>>> = Arc::default();
    let watchdog_stall = stall.clone();
    let budget = mix.fault_window + SETTLE_TIME_MAX;
    let result = world.run(async {
        let network = world_network;
        let watched = network.clone();
        drop(lockstep::rt::spawn("oracle:watchdog", async move {
            lockstep::time::sleep(budget.saturating_sub(Duration::from_secs(1))).await;
            *watchdog_stall.lock().expect("stall lock") = Some(stall_report(&watched));
        }));
        let wedged = Arc::new(Mutex::new(BTreeSet::new()));
        if options.probe_introspection {
            drop(lockstep::rt::spawn(
                "oracle:introspection",
                oracle::introspection::probe(network.clone(), live_report.clone()),
            ));
        }
        drop(lockstep::rt::spawn(
            "oracle:properties",
            oracle::properties::watch(network.clone(), properties.clone(), live_report.clone()),
        ));
        let context = ScenarioContext {
            network: network.clone(),
            mix: context_mix,
            seed,
            properties: properties.clone(),
            wedged: wedged.clone(),
        };
        let outcome = scenario.run(context).await;
        // The liveness phase runs whatever the outcome, so the accounting
        // oracle sees a settled system even after a scenario failed.
        let wedged = wedged.lock().expect("wedged lock").clone();
        let mut report = OracleReport::default();
        held = oracle::liveness::settle(&network, settle_time, &wedged, &mut report).await;
        if outcome.is_ok() {
            let snapshot = WorldSnapshot::take(&network);
            properties.evaluate(&snapshot, &mut report);
            properties.finish(&mut report);
        } else {
            // A failed scenario may leave work half done: only the safety
            // findings of the liveness phase are kept.
            report
                .violations
                .retain(|violation| violation.code != "LIVE-1" && violation.code != "LIVE-2");
        }
        live_report
            .lock()
            .expect("oracle report lock")
            .merge(report);
        stats = network.stats();
        outcome
    });
    let trace = world.trace();
    let mut oracles = std::mem::take(&mut *live_report.lock().expect("oracle report lock"));
    // A world failure (deadlock, budget, panic) stops the run before the
    // liveness phase; the trace-wide oracles need a run that got that far.
    let settled = result.is_ok();
    let scenario_verdict = match result {
        Ok(Ok(())) => None,
        Ok(Err(reason)) => Some(reason),
        Err(failure @ crate::Failure::TimeBudgetExhausted { .. }) => {
            let stalled = stall.lock().expect("stall lock").take();
            Some(format!("{failure}; {}", stalled.unwrap_or_default()))
        }
        Err(failure) => Some(failure.to_string()),
    };
    if settled {
        let senders_hold = options.transport == NetworkTransport::Session;
        oracle::check_trace(&trace, reorder_buffer, senders_hold, &held, &mut oracles);
    }
    let verdict = match (scenario_verdict, oracles.violations.first()) {
        (Some(reason), Some(violation)) => Verdict::Fail(format!("{reason}; and {violation}")),
        (Some(reason), None) => Verdict::Fail(reason),
        (None, Some(violation)) => Verdict::Fail(violation.to_string()),
        (None, None) => Verdict::Pass,
    };
    let messages = trace.count_of_kind("handled");
    RunReport {
        scenario: scenario.name(),
        seed,
        mix,
        verdict,
        messages,
        virtual_time: world.now().since_epoch(),
        steps: world.steps(),
        network: stats,
        oracles,
        properties: properties.outcomes(),
        sometimes: properties.sometimes_names(),
        trace,
    }
}
