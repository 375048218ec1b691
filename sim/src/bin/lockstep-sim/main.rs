//! `lockstep-sim`: explore built-in scenarios over many seeds, replay one run,
//! and check that runs are deterministic.
//!
//! Results go to stdout, progress to stderr. Exit status: 0 when everything
//! passed, 1 when a run failed, 2 for usage errors.
#![expect(
    clippy::disallowed_methods,
    reason = "the CLI measures wall time for its reports and runs worlds on OS threads"
)]

mod check_determinism;
mod explore;
mod list;
mod replay;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lockstep_sim::fault::Profile;
use lockstep_sim::net::NetworkTransport;
use lockstep_sim::scenario::{self, Scenario};

/// Deterministic simulation of lockstep actor systems.
#[derive(Parser)]
#[command(name = "lockstep-sim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in scenarios, one per line, name first.
    List,
    /// Run scenarios over many seeds and report failures with replay commands.
    Explore(explore::Args),
    /// Run one scenario for one seed; print its trace hash and verdict.
    Replay(replay::Args),
    /// Run each seed twice in separate processes and compare the traces.
    CheckDeterminism(check_determinism::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List => list::run(),
        Command::Explore(args) => explore::run(args),
        Command::Replay(args) => replay::run(args),
        Command::CheckDeterminism(args) => check_determinism::run(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Parse a profile name for clap.
fn parse_profile(text: &str) -> Result<Profile, String> {
    text.parse()
        .map_err(|error: lockstep_sim::fault::UnknownProfile| error.to_string())
}

/// Parse a seed (decimal, 0x-hex or 40-hex commit hash) for clap.
fn parse_seed(text: &str) -> Result<u64, String> {
    lockstep_sim::seed::parse(text).map_err(|error| error.to_string())
}

/// The scenarios named, or every non-demo scenario when none is.
fn select(names: &[String]) -> Result<Vec<Box<dyn Scenario>>, String> {
    if names.is_empty() {
        return Ok(scenario::builtin()
            .into_iter()
            .filter(|scenario| !scenario.is_demo())
            .collect());
    }
    names
        .iter()
        .map(|name| {
            scenario::find(name).ok_or_else(|| {
                let known: Vec<_> = scenario::builtin().iter().map(|s| s.name()).collect();
                format!("unknown scenario {name:?}; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// Parse a network transport (`modelled` or `session`) for clap.
fn parse_transport(text: &str) -> Result<NetworkTransport, String> {
    text.parse()
}

/// The command that replays one run exactly.
fn replay_command(
    scenario: &str,
    seed: u64,
    profile: Profile,
    transport: NetworkTransport,
) -> String {
    let transport = match transport {
        NetworkTransport::Modelled => String::new(),
        other => format!(" --transport {other}"),
    };
    format!(
        "cargo run --release -p lockstep-sim -- replay --scenario {scenario} --seed {} --profile {profile}{transport}",
        lockstep_sim::seed::display(seed)
    )
}
