//! `lockstep-sim check-determinism [--scenario NAME]... [--seeds N] [--profile P] [--transport T]`
//!
//! Runs every seed twice, each time in a fresh process (`replay --trace`), and
//! compares verdicts, trace hashes and the traces event by event (DET-1).

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::ProgressBar;
use lockstep_sim::determinism::compare_lines;
use lockstep_sim::fault::Profile;
use lockstep_sim::net::NetworkTransport;

#[derive(clap::Args)]
pub struct Args {
    /// Scenarios to check (repeatable); default: every scenario, demos included.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Seeds 0..N per scenario.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Fault profile.
    #[arg(long, default_value = "swarm", value_parser = super::parse_profile)]
    profile: Profile,
    /// Parallel pairs of processes (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Network transport: modelled or session.
    #[arg(long, default_value = "modelled", value_parser = super::parse_transport)]
    transport: NetworkTransport,
}

struct Run {
    stdout: String,
    trace: String,
}

fn replay(
    scenario: &str,
    seed: u64,
    profile: Profile,
    transport: NetworkTransport,
    tag: &str,
) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let trace_path = std::env::temp_dir().join(format!(
        "lockstep-det-{}-{scenario}-{seed}-{tag}.jsonl",
        std::process::id()
    ));
    let output = Command::new(exe)
        .args([
            "replay",
            "--scenario",
            scenario,
            "--seed",
            &seed.to_string(),
        ])
        .args(["--profile", profile.name()])
        .args(["--transport", &transport.to_string(), "--trace"])
        .arg(&trace_path)
        .output()
        .map_err(|error| format!("cannot start a replay process: {error}"))?;
    let trace = std::fs::read_to_string(&trace_path).map_err(|error| error.to_string())?;
    let _ = std::fs::remove_file(&trace_path);
    Ok(Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        trace,
    })
}

fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or("<missing>")
}

pub fn run(args: Args) -> Result<bool, String> {
    let scenarios: Vec<&'static str> = if args.scenarios.is_empty() {
        lockstep_sim::scenario::builtin()
            .iter()
            .map(|s| s.name())
            .collect()
    } else {
        super::select(&args.scenarios)?
            .iter()
            .map(|s| s.name())
            .collect()
    };
    let work: Vec<(&str, u64)> = scenarios
        .iter()
        .flat_map(|name| (0..args.seeds).map(move |seed| (*name, seed)))
        .collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    println!(
        "checking determinism: {} scenario(s) x {} seeds, each run twice in separate processes",
        scenarios.len(),
        args.seeds
    );
    let progress = ProgressBar::new(work.len() as u64);
    let next = AtomicUsize::new(0);
    let divergences: Mutex<Vec<String>> = Mutex::default();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some((scenario, seed)) =
                    work.get(next.fetch_add(1, Ordering::Relaxed)).copied()
                {
                    let outcome = (|| -> Result<Option<String>, String> {
                        let first = replay(scenario, seed, args.profile, args.transport, "a")?;
                        let second = replay(scenario, seed, args.profile, args.transport, "b")?;
                        let same_hash =
                            line(&first.stdout, "trace-hash") == line(&second.stdout, "trace-hash");
                        let same_verdict =
                            line(&first.stdout, "verdict") == line(&second.stdout, "verdict");
                        if same_hash && same_verdict {
                            return Ok(None);
                        }
                        let detail = match compare_lines(&first.trace, &second.trace) {
                            Some(divergence) => divergence.to_string(),
                            None => "traces agree event by event; the schedules differ".into(),
                        };
                        Ok(Some(format!(
                            "{scenario} seed {seed}: {} vs {}; {} vs {}\n{detail}",
                            line(&first.stdout, "trace-hash"),
                            line(&second.stdout, "trace-hash"),
                            line(&first.stdout, "verdict"),
                            line(&second.stdout, "verdict"),
                        )))
                    })();
                    match outcome {
                        Ok(None) => {}
                        Ok(Some(report)) => divergences.lock().expect("lock").push(report),
                        Err(error) => divergences
                            .lock()
                            .expect("lock")
                            .push(format!("{scenario} seed {seed}: {error}")),
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let divergences = divergences.into_inner().expect("lock");
    for divergence in &divergences {
        println!("NONDETERMINISTIC {divergence}");
    }
    println!(
        "{} run pairs compared, {} diverged",
        work.len(),
        divergences.len()
    );
    Ok(divergences.is_empty())
}
