//! The test API: run a body in a fresh world for each of many seeds, and make
//! any failure reproducible from the seed it prints.
//!
//! Owns: choosing the seeds (config or environment variables), running them
//! (optionally on several OS threads), the start banner and the failure
//! footer with its replay command.
//! Does not own: running one world (`world`).
//!
//! Environment variables (read here and nowhere else):
//! - `LOCKSTEP_SEED=<seed>` replays exactly that seed, once, and nothing else
//!   (CHECK-1). A seed is decimal, `0x` hex or a 40-hex commit hash (`seed`).
//! - `LOCKSTEP_SEEDS=<n>` runs `n` seeds instead of the configured count.
//! - `LOCKSTEP_JOBS=<n>` runs worlds on `n` OS threads (default 1).
//! - `LOCKSTEP_PROFILE=<calm|stormy|chaos|swarm>` sets the fault profile a
//!   body's network uses (`Network::for_this_world`).
//!
//! CHECK-1: a replay never draws more seeds — no stop rule applies to it.
//! CHECK-2: without an explicit list, a test's seeds are `base, base+1, …`
//! where `base` is FNV-1a 64 of the test name, so each test explores its own
//! seeds and a CI run is reproducible without any input.
//! CHECK-3: with several jobs, the failure reported is the one with the
//! lowest seed index among the seeds that ran, and no new seed starts after a
//! failure; each world still runs alone on its thread (WORLD-1).

use std::fmt::Display;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::failure::Failure;
use crate::fault::{FaultMix, Profile, UnknownProfile};
use crate::hash;
use crate::seed::{self, SeedParseError};
use crate::world::{Config, World};

/// How [`check`] runs a test.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckConfig {
    /// The template for every world; its `seed` is replaced per run.
    pub world: Config,
    /// How many seeds to run when no list is given (default 16).
    pub seeds: u64,
    /// Explicit seeds, run in order instead of the derived ones.
    pub seed_list: Vec<u64>,
    /// Worlds run in parallel on this many OS threads (default 1).
    pub jobs: usize,
    /// The test's name as `cargo test -- --exact` wants it.
    pub test_name: Option<String>,
    /// The package the test lives in, for the replay command.
    pub package: Option<String>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            world: Config::default(),
            seeds: 16,
            seed_list: Vec::new(),
            jobs: 1,
            test_name: None,
            package: None,
        }
    }
}

impl CheckConfig {
    /// The default config for the test called `test_name`.
    pub fn new(test_name: impl Into<String>) -> Self {
        Self {
            test_name: Some(test_name.into()),
            ..Self::default()
        }
    }

    /// Runs `seeds` derived seeds.
    pub fn seeds(mut self, seeds: u64) -> Self {
        self.seeds = seeds;
        self
    }

    /// Adds an explicit seed (the derived ones are then not used).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed_list.push(seed);
        self
    }

    /// Runs on `jobs` OS threads.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Uses `world` as the template of every world.
    pub fn world(mut self, world: Config) -> Self {
        self.world = world;
        self
    }

    /// Sets the fault profile name carried in the world config.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.world.profile = Some(profile.into());
        self
    }

    /// Names the package, for the replay command.
    pub fn package(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }
}

/// What a test body may return: `()` or `Result<(), E: Display>`.
pub trait Outcome {
    /// `Err(message)` if the body failed.
    fn into_result(self) -> Result<(), String>;
}

impl Outcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> Outcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|error| error.to_string())
    }
}

/// One seed's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// The run's trace hash (TRACE-2).
    pub trace_hash: u64,
    /// Polls made.
    pub steps: u64,
    /// Virtual time at the end.
    pub virtual_time: Duration,
    /// Why it failed, if it did.
    pub failure: Option<Failure>,
}

/// The runs of a passing [`check`], in seed order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// One entry per seed.
    pub runs: Vec<SeedRun>,
}

/// What a [`check`] body knows of the world it runs in: the seed and the
/// fault profile, and the network they call for.
///
/// ```
/// use lockstep_sim::{CheckConfig, check};
/// check(CheckConfig::new("doc_world").seeds(2).profile("stormy"), |world| async move {
///     let network = world.network(lockstep::ProcConfig::default());
///     assert_eq!(network.config(), world.fault_mix().network);
/// });
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WorldHandle {
    seed: u64,
    profile: Profile,
}

impl WorldHandle {
    /// This run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The fault profile (`calm` unless configured or `LOCKSTEP_PROFILE`).
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The faults this seed and profile derive.
    pub fn fault_mix(&self) -> FaultMix {
        FaultMix::derive(self.profile, self.seed)
    }

    /// A network with this run's fault mix ([`crate::net::Network::for_this_world`]).
    pub fn network(&self, proc_config: lockstep::ProcConfig) -> crate::net::Network {
        crate::net::Network::for_profile(self.profile, self.seed, proc_config)
    }
}

/// Which seeds to run and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) seeds: Vec<u64>,
    pub(crate) jobs: usize,
    pub(crate) replay: bool,
    /// The fault profile `Network::for_this_world` builds (`calm` if unset).
    pub(crate) profile: Profile,
}

/// Why the environment variables could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// `LOCKSTEP_SEED` is not a seed.
    #[error("LOCKSTEP_SEED: {0}")]
    Seed(#[from] SeedParseError),
    /// The configured profile (or `LOCKSTEP_PROFILE`) is not a profile.
    #[error(transparent)]
    Profile(#[from] UnknownProfile),
    /// `LOCKSTEP_SEEDS` or `LOCKSTEP_JOBS` is not a positive integer.
    #[error("{name}=`{value}` is not a positive integer")]
    Count {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

fn count(name: &'static str, value: Option<String>) -> Result<Option<u64>, PlanError> {
    let Some(value) = value else { return Ok(None) };
    match value.trim().parse::<u64>() {
        Ok(count) if count > 0 => Ok(Some(count)),
        _ => Err(PlanError::Count { name, value }),
    }
}

/// Resolves seeds and jobs from `config` and the variables `lookup` returns.
pub(crate) fn plan(
    config: &CheckConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Plan, PlanError> {
    let profile = Profile::named_or_calm(config.world.profile.as_deref())?;
    if let Some(text) = lookup("LOCKSTEP_SEED") {
        // CHECK-1: exactly this seed, once.
        return Ok(Plan {
            seeds: vec![seed::parse(&text)?],
            jobs: 1,
            replay: true,
            profile,
        });
    }
    let jobs =
        count("LOCKSTEP_JOBS", lookup("LOCKSTEP_JOBS"))?.map_or(config.jobs, |jobs| jobs as usize);
    let seeds = match count("LOCKSTEP_SEEDS", lookup("LOCKSTEP_SEEDS"))? {
        Some(count) => derived_seeds(config, count),
        None if !config.seed_list.is_empty() => config.seed_list.clone(),
        None => derived_seeds(config, config.seeds),
    };
    Ok(Plan {
        seeds,
        jobs: jobs.max(1),
        replay: false,
        profile,
    })
}

/// CHECK-2: `count` consecutive seeds from the test name's hash.
fn derived_seeds(config: &CheckConfig, count: u64) -> Vec<u64> {
    let base = hash::fnv1a(config.test_name.as_deref().unwrap_or("").as_bytes());
    (0..count).map(|index| base.wrapping_add(index)).collect()
}

/// Runs `body` in a fresh world for every seed (see the module doc), and
/// panics with a replay command if any seed fails.
///
/// ```
/// use lockstep_sim::{CheckConfig, check};
/// check(CheckConfig::new("doc_example").seeds(4), |world| async move {
///     let start = lockstep::time::now();
///     lockstep::time::sleep(std::time::Duration::from_secs(60)).await;
///     assert_eq!(start.elapsed(), std::time::Duration::from_secs(60), "seed {}", world.seed());
/// });
/// ```
pub fn check<F, Fut>(config: CheckConfig, body: F) -> CheckReport
where
    F: Fn(WorldHandle) -> Fut + Sync,
    Fut: Future,
    Fut::Output: Outcome,
{
    let mut config = config;
    if let Ok(profile) = std::env::var("LOCKSTEP_PROFILE") {
        config.world.profile = Some(profile);
    }
    // The plan validates the profile, wherever it came from (the attribute,
    // the config or `LOCKSTEP_PROFILE`): a typo is an error, not a calm run.
    let plan = plan(&config, |name| std::env::var(name).ok())
        .unwrap_or_else(|error| panic!("lockstep-sim: {error}"));
    eprintln!("{}", banner(&config, &plan));
    let runs = run_plan(&config, &plan, &body);
    if let Some(failed) = runs.iter().find(|run| run.failure.is_some()) {
        eprintln!("{}", footer(&config, failed));
        let failure = failed
            .failure
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        panic!(
            "lockstep-sim: seed {} failed: {failure}",
            seed::display(failed.seed)
        );
    }
    CheckReport { runs }
}

fn run_plan<F, Fut>(config: &CheckConfig, plan: &Plan, body: &F) -> Vec<SeedRun>
where
    F: Fn(WorldHandle) -> Fut + Sync,
    Fut: Future,
    Fut::Output: Outcome,
{
    if plan.jobs <= 1 || plan.seeds.len() <= 1 {
        let mut runs = Vec::with_capacity(plan.seeds.len());
        for &seed in &plan.seeds {
            let run = run_seed(&config.world, plan.profile, seed, body);
            let failed = run.failure.is_some();
            runs.push(run);
            if failed {
                break;
            }
        }
        return runs;
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<SeedRun>>> = Mutex::new(vec![None; plan.seeds.len()]);
    std::thread::scope(|scope| {
        for _ in 0..plan.jobs.min(plan.seeds.len()) {
            scope.spawn(|| {
                while !stop.load(Ordering::Acquire) {
                    let index = next.fetch_add(1, Ordering::AcqRel);
                    let Some(&seed) = plan.seeds.get(index) else {
                        break;
                    };
                    let run = run_seed(&config.world, plan.profile, seed, body);
                    if run.failure.is_some() {
                        stop.store(true, Ordering::Release);
                    }
                    results.lock().unwrap_or_else(|poison| poison.into_inner())[index] = Some(run);
                }
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    // CHECK-3: report in seed order, up to and including the first failure.
    let mut runs = Vec::new();
    for run in results.into_iter().flatten() {
        let failed = run.failure.is_some();
        runs.push(run);
        if failed {
            break;
        }
    }
    runs
}

/// Runs one seed in a fresh world; the body is called inside the world.
fn run_seed<F, Fut>(template: &Config, profile: Profile, seed: u64, body: &F) -> SeedRun
where
    F: Fn(WorldHandle) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let handle = WorldHandle { seed, profile };
    let mut world = World::new(template.clone().seed(seed));
    let outcome = world.run(async { body(handle).await.into_result() });
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(message)) => Some(Failure::BodyFailed { message }),
        Err(failure) => Some(failure),
    };
    SeedRun {
        seed,
        trace_hash: world.trace_hash(),
        steps: world.steps(),
        virtual_time: world.now().since_epoch(),
        failure,
    }
}

fn banner(config: &CheckConfig, plan: &Plan) -> String {
    let name = config.test_name.as_deref().unwrap_or("(unnamed)");
    let profile = plan.profile;
    if plan.replay {
        // One seed: its whole derived fault mix, as `Network::for_this_world`
        // will build it.
        let seed = plan.seeds[0];
        return format!(
            "lockstep-sim: {name}: replaying seed {} (LOCKSTEP_SEED); fault mix: {}",
            seed::display(seed),
            FaultMix::derive(profile, seed)
        );
    }
    let shown: Vec<String> = plan
        .seeds
        .iter()
        .take(8)
        .map(|&seed| seed::display(seed))
        .collect();
    let more = if plan.seeds.len() > shown.len() {
        format!(" … (+{} consecutive)", plan.seeds.len() - shown.len())
    } else {
        String::new()
    };
    format!(
        "lockstep-sim: {name}: {} seeds on {} job(s), profile {profile}: {}{more}",
        plan.seeds.len(),
        plan.jobs,
        shown.join(" ")
    )
}

/// The failure footer, with a command that replays exactly the failed run.
fn footer(config: &CheckConfig, run: &SeedRun) -> String {
    let package = config
        .package
        .as_deref()
        .map(|package| format!(" -p {package}"))
        .unwrap_or_default();
    let filter = config
        .test_name
        .as_deref()
        .map(|name| format!(" -- --exact {name}"))
        .unwrap_or_default();
    // The profile goes into the command too: the run's faults depend on it.
    let profile = config
        .world
        .profile
        .as_deref()
        .map(|profile| format!(" LOCKSTEP_PROFILE={profile}"))
        .unwrap_or_default();
    let failure = run
        .failure
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    format!(
        "lockstep-sim: FAILED seed {seed} after {steps} steps at virtual time {time:?} \
         (trace hash {hash:#018x})\n\
         lockstep-sim: {failure}\n\
         lockstep-sim: replay exactly this run with:\n\
         \n    LOCKSTEP_SEED={seed}{profile} cargo test{package}{filter}\n",
        seed = seed::display(run.seed),
        steps = run.steps,
        time = run.virtual_time,
        hash = run.trace_hash,
    )
}

/// The name `cargo test -- --exact` uses for test `function` defined in
/// module `module_path` (the crate name is dropped). Used by the
/// `#[lockstep_sim::test]` expansion.
#[doc(hidden)]
pub fn test_name(module_path: &str, function: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, rest)) => format!("{rest}::{function}"),
        None => function.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    // Goal: CHECK-1, a replay runs exactly one seed even when a count is set.
    // Method: resolve a plan with LOCKSTEP_SEED and LOCKSTEP_SEEDS both set.
    #[test]
    fn check_1_replay_is_one_seed() {
        let config = CheckConfig::new("t").seeds(64);
        let plan = plan(
            &config,
            lookup(&[("LOCKSTEP_SEED", "0x2a"), ("LOCKSTEP_SEEDS", "9")]),
        )
        .unwrap();
        assert_eq!(
            plan,
            Plan {
                seeds: vec![42],
                jobs: 1,
                replay: true,
                profile: Profile::Calm,
            }
        );
    }

    // Goal: CHECK-2, derived seeds depend on the test name and the count only.
    // Method: compare plans of two names; LOCKSTEP_SEEDS overrides the count.
    #[test]
    fn check_2_derived_seeds() {
        let a = plan(&CheckConfig::new("a").seeds(3), lookup(&[])).unwrap();
        let b = plan(&CheckConfig::new("b").seeds(3), lookup(&[])).unwrap();
        assert_eq!(a.seeds.len(), 3);
        assert_eq!(a.seeds[1], a.seeds[0].wrapping_add(1));
        assert_ne!(a.seeds, b.seeds);
        let more = plan(
            &CheckConfig::new("a").seeds(3),
            lookup(&[("LOCKSTEP_SEEDS", "5"), ("LOCKSTEP_JOBS", "2")]),
        )
        .unwrap();
        assert_eq!(&more.seeds[..3], &a.seeds[..]);
        assert_eq!((more.seeds.len(), more.jobs), (5, 2));
        assert!(plan(&CheckConfig::new("a"), lookup(&[("LOCKSTEP_JOBS", "zero")])).is_err());
    }

    // Goal: a failure's replay command reproduces the same world: it carries
    // the seed and the fault profile (the faults depend on both).
    #[test]
    fn footer_replays_with_seed_and_profile() {
        let config = CheckConfig::new("suite::case")
            .package("demo")
            .profile("chaos");
        let run = SeedRun {
            seed: 7,
            trace_hash: 1,
            steps: 2,
            virtual_time: Duration::ZERO,
            failure: Some(Failure::BodyFailed {
                message: "boom".into(),
            }),
        };
        let footer = footer(&config, &run);
        assert!(
            footer.contains(
                "LOCKSTEP_SEED=0x0000000000000007 LOCKSTEP_PROFILE=chaos cargo test -p demo -- --exact suite::case"
            ),
            "{footer}"
        );
    }

    // Goal: the start banner names the profile; a replay's banner shows the
    // seed's whole derived fault mix.
    #[test]
    fn banner_names_the_profile_and_a_replay_shows_the_fault_mix() {
        let config = CheckConfig::new("t").profile("stormy");
        let sweep = plan(&config.clone().seeds(2), lookup(&[])).unwrap();
        assert!(banner(&config, &sweep).contains("profile stormy"));
        let replay = plan(&config, lookup(&[("LOCKSTEP_SEED", "3")])).unwrap();
        let text = banner(&config, &replay);
        let mix = FaultMix::derive(Profile::Stormy, 3).to_string();
        assert!(text.contains(&mix), "{text}");
    }

    // Goal: a misspelt profile is an error naming the valid ones, never a
    // silent calm run.
    #[test]
    #[should_panic(expected = "unknown profile \"storm\": expected one of calm")]
    fn an_unknown_profile_is_refused() {
        check(CheckConfig::new("t").seeds(1).profile("storm"), |_| async {
        });
    }

    #[test]
    fn test_name_drops_the_crate() {
        assert_eq!(test_name("macro_test", "f"), "f");
        assert_eq!(test_name("macro_test::inner", "f"), "inner::f");
    }
}
