//! `lockstep-sim explore [--scenario NAME]... [--seeds N | --seeds A..B] [--jobs N] [--profile P] [--transport T]`
//!
//! The summary's `run-time` column adds up each scenario's runs (time on one
//! core; runs overlap across jobs), so its `sim-msgs/s` is per core; the
//! `total:` line divides by the wall time of the whole exploration.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use lockstep_sim::fault::Profile;
use lockstep_sim::net::NetworkTransport;
use lockstep_sim::scenario::{RunOptions, RunReport, Scenario, run_with};

/// Seeds per scenario when `--seeds` is not given.
const SEEDS_DEFAULT: u64 = 300;

#[derive(clap::Args)]
pub struct Args {
    /// Scenarios to run (repeatable); default: every non-demo scenario.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// How many seeds (`N`, meaning 0..N) or which (`A..B`), per scenario.
    #[arg(long, default_value_t = SeedRange { start: 0, end: SEEDS_DEFAULT }, value_parser = parse_range)]
    seeds: SeedRange,
    /// Worlds run in parallel (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Fault profile: calm, stormy, chaos or swarm.
    #[arg(long, default_value = "swarm", value_parser = super::parse_profile)]
    profile: Profile,
    /// What carries envelopes: `modelled` (the modelled network) or
    /// `session` (the real channel session protocol over `sim:` links).
    #[arg(long, default_value = "modelled", value_parser = super::parse_transport)]
    transport: NetworkTransport,
}

/// A half-open range of seeds.
#[derive(Clone, Copy, Debug)]
pub struct SeedRange {
    start: u64,
    end: u64,
}

impl std::fmt::Display for SeedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

fn parse_range(text: &str) -> Result<SeedRange, String> {
    let range = match text.split_once("..") {
        Some((start, end)) => SeedRange {
            start: super::parse_seed(start)?,
            end: super::parse_seed(end)?,
        },
        None => SeedRange {
            start: 0,
            end: super::parse_seed(text)?,
        },
    };
    if range.end <= range.start {
        return Err(format!("empty seed range {text:?}"));
    }
    Ok(range)
}

#[derive(Default)]
struct Tally {
    oracle_checks: std::collections::BTreeMap<&'static str, u64>,
    /// Per user property: in how many seeds it held (and whether it is a `sometimes`).
    properties: std::collections::BTreeMap<String, (u64, bool)>,
    seeds: u64,
    failures: Vec<(u64, String)>,
    messages: u64,
    virtual_time: Duration,
    wall: Duration,
}

pub fn run(args: Args) -> Result<bool, String> {
    let scenarios = super::select(&args.scenarios)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let seeds: Vec<u64> = (args.seeds.start..args.seeds.end).collect();
    let work: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|index| seeds.iter().map(move |seed| (index, *seed)))
        .collect();
    let transport = match args.transport {
        NetworkTransport::Modelled => String::new(),
        other => format!(", transport {other}"),
    };
    println!(
        "exploring {} scenario(s) x {} seeds ({}), profile {}{transport}, {jobs} job(s)",
        scenarios.len(),
        seeds.len(),
        args.seeds,
        args.profile
    );
    let options = RunOptions::new(args.profile).with_transport(args.transport);
    let progress = ProgressBar::new(work.len() as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} runs, {msg}",
        )
        .expect("valid template"),
    );
    let tallies: Vec<Mutex<Tally>> = scenarios.iter().map(|_| Mutex::default()).collect();
    let exploring = Instant::now();
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((scenario_index, seed)) = work.get(index).copied() else {
                        break;
                    };
                    let scenario: &dyn Scenario = scenarios[scenario_index].as_ref();
                    let started = Instant::now();
                    let report = run_with(scenario, seed, &options);
                    record(&tallies[scenario_index], &report, started.elapsed());
                    if !report.verdict.passed() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        // Every failure gets its replay line on stdout, progress bar or not.
                        progress.suspend(|| {
                            println!(
                                "FAIL {} seed {}: {}",
                                scenario.name(),
                                lockstep_sim::seed::display(seed),
                                report.verdict
                            );
                            println!(
                                "replay: {}",
                                super::replay_command(
                                    scenario.name(),
                                    seed,
                                    args.profile,
                                    args.transport
                                )
                            );
                        });
                    }
                    progress.set_message(format!("{} failed", failed.load(Ordering::Relaxed)));
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let Summary {
        never_held,
        messages,
    } = print_summary(&scenarios, &tallies, args.profile, args.transport);
    let wall = exploring.elapsed().as_secs_f64();
    println!(
        "total: {} runs, {messages} simulated messages in {wall:.2}s wall on {jobs} job(s) \
         ({:.0} runs/s, {:.0} simulated msgs/s)",
        work.len(),
        work.len() as f64 / wall.max(1e-9),
        messages as f64 / wall.max(1e-9)
    );
    Ok(failed.load(Ordering::Relaxed) == 0 && never_held == 0)
}

fn record(tally: &Mutex<Tally>, report: &RunReport, wall: Duration) {
    let mut tally = tally.lock().expect("tally lock");
    tally.seeds += 1;
    for (oracle, count) in &report.oracles.checks {
        *tally.oracle_checks.entry(oracle).or_default() += count;
    }
    for (name, held) in &report.properties {
        let entry = tally.properties.entry(name.clone()).or_default();
        entry.0 += u64::from(*held);
        entry.1 = report.sometimes.contains(name);
    }
    tally.messages += report.messages;
    tally.virtual_time += report.virtual_time;
    tally.wall += wall;
    if !report.verdict.passed() {
        tally
            .failures
            .push((report.seed, report.verdict.to_string()));
    }
}

/// What the summary table adds up to.
struct Summary {
    /// `sometimes` properties that never held in any seed.
    never_held: usize,
    /// Simulated messages across every scenario.
    messages: u64,
}

/// Prints the table; returns what it added up.
fn print_summary(
    scenarios: &[Box<dyn Scenario>],
    tallies: &[Mutex<Tally>],
    profile: Profile,
    transport: NetworkTransport,
) -> Summary {
    let mut never_held = 0;
    let mut messages = 0;
    println!(
        "{:<20} {:>6} {:>8} {:>12} {:>14} {:>10} {:>14}",
        "scenario", "seeds", "failures", "messages", "sim-time", "run-time", "sim-msgs/s"
    );
    for (scenario, tally) in scenarios.iter().zip(tallies) {
        let tally = tally.lock().expect("tally lock");
        messages += tally.messages;
        let rate = tally.messages as f64 / tally.wall.as_secs_f64().max(1e-9);
        println!(
            "{:<20} {:>6} {:>8} {:>12} {:>14} {:>10} {:>14.0}",
            scenario.name(),
            tally.seeds,
            tally.failures.len(),
            tally.messages,
            format!("{:.1}s", tally.virtual_time.as_secs_f64()),
            format!("{:.2}s", tally.wall.as_secs_f64()),
            rate
        );
        let checks: Vec<String> = tally
            .oracle_checks
            .iter()
            .map(|(oracle, count)| format!("{oracle}={count}"))
            .collect();
        println!("  oracle checks: {}", checks.join(" "));
        for (name, (held, sometimes)) in &tally.properties {
            let kind = if *sometimes { "sometimes" } else { "property" };
            println!("  {kind} {name}: held in {held}/{} seeds", tally.seeds);
            if *sometimes && *held == 0 {
                never_held += 1;
                println!(
                    "  FAIL: sometimes({name}) never held: the situation it describes was never exercised"
                );
            }
        }
        let mut failures = tally.failures.clone();
        failures.sort();
        for (seed, verdict) in failures.iter().take(5) {
            println!(
                "  first failures: seed {} ({verdict}) — {}",
                lockstep_sim::seed::display(*seed),
                super::replay_command(scenario.name(), *seed, profile, transport)
            );
        }
    }
    Summary {
        never_held,
        messages,
    }
}
