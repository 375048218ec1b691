//! `lockstep-sim replay --scenario NAME --seed S [--profile P] [--transport T] [--trace FILE]`

use std::path::PathBuf;

use lockstep_sim::fault::Profile;
use lockstep_sim::net::NetworkTransport;
use lockstep_sim::scenario::{RunOptions, run_with};

#[derive(clap::Args)]
pub struct Args {
    /// The scenario to run.
    #[arg(long)]
    scenario: String,
    /// The seed: decimal, 0x-hex, or a 40-hex commit hash.
    #[arg(long, value_parser = super::parse_seed)]
    seed: u64,
    /// Fault profile: calm, stormy, chaos or swarm.
    #[arg(long, default_value = "swarm", value_parser = super::parse_profile)]
    profile: Profile,
    /// What carries envelopes: `modelled` (the modelled network) or
    /// `session` (the real channel session protocol over `sim:` links).
    #[arg(long, default_value = "modelled", value_parser = super::parse_transport)]
    transport: NetworkTransport,
    /// Write the run's trace here as JSON lines.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Print the runtime's log lines at this level (error, warn, info, debug,
    /// trace), stamped with virtual time, seed and actor.
    #[arg(long)]
    log: Option<tracing::Level>,
}

pub fn run(args: Args) -> Result<bool, String> {
    let scenario = super::select(std::slice::from_ref(&args.scenario))?.remove(0);
    let _logs = args
        .log
        .map(|level| tracing::subscriber::set_default(lockstep_sim::logs::subscriber(level)));
    let options = RunOptions::new(args.profile).with_transport(args.transport);
    let report = run_with(scenario.as_ref(), args.seed, &options);
    eprintln!(
        "lockstep-sim: {} seed {} ({})",
        scenario.name(),
        lockstep_sim::seed::display(args.seed),
        report.mix
    );
    if let Some(path) = &args.trace {
        std::fs::write(path, report.trace.to_json_lines())
            .map_err(|error| format!("cannot write trace to {}: {error}", path.display()))?;
        eprintln!(
            "trace: {} events written to {}",
            report.trace.len(),
            path.display()
        );
    }
    println!(
        "messages: {}  virtual-time: {:?}  steps: {}",
        report.messages, report.virtual_time, report.steps
    );
    println!("trace-hash: {:016x}", report.trace_hash());
    println!("verdict: {}", report.verdict);
    Ok(report.verdict.passed())
}
