//! The `lockstep-sim` binary as scripts use it: its commands, exit codes and
//! the `replay:` lines a failure prints (issue: "exactly these commands so
//! scripts can rely on them").

use std::process::{Command, Output};

fn lockstep_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockstep-sim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value after `name: ` on the line that starts with it.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

// Goal: `list` prints one scenario per line, name first, and exits 0.
#[test]
fn list_names_one_scenario_per_line() {
    let output = lockstep_sim(&["list"]);
    assert!(output.status.success());
    let text = stdout(&output);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for expected in [
        "ping-pong",
        "many-senders",
        "supervision-tree",
        "crash-restart",
    ] {
        assert!(names.contains(&expected), "{text}");
    }
}

// Goal: `replay` prints `trace-hash: <16 hex>` and `verdict: pass`, exits 0,
// and the same seed gives the same hash in another process.
#[test]
fn replay_of_a_passing_seed_is_reproducible_across_processes() {
    let args = ["replay", "--scenario", "ping-pong", "--seed", "3"];
    let first = lockstep_sim(&args);
    let second = lockstep_sim(&args);
    assert!(first.status.success(), "{}", stdout(&first));
    let text = stdout(&first);
    assert_eq!(field(&text, "verdict"), Some("pass"), "{text}");
    let hash = field(&text, "trace-hash").expect("a trace hash");
    assert_eq!(hash.len(), 16);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(field(&stdout(&second), "trace-hash"), Some(hash));
}

// Goal: `explore` exits 1 when a seed fails and prints a `replay: ` line per
// failure whose command, run as printed, fails the same way (exit 1).
#[test]
fn explore_failure_prints_a_replay_command_that_reproduces_it() {
    let output = lockstep_sim(&[
        "explore",
        "--scenario",
        "demo-lost-update",
        "--seeds",
        "0..12",
        "--jobs",
        "1",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let replay = text
        .lines()
        .find_map(|line| line.strip_prefix("replay: "))
        .expect("a replay line");
    let (_cargo, args) = replay
        .split_once(" -- ")
        .expect("the command runs the binary through cargo");
    let args: Vec<&str> = args.split_whitespace().collect();
    let replayed = lockstep_sim(&args);
    let replayed_text = stdout(&replayed);
    assert_eq!(replayed.status.code(), Some(1), "{replayed_text}");
    let verdict = field(&replayed_text, "verdict").expect("a verdict");
    assert!(verdict.starts_with("fail: "), "{replayed_text}");
}

// Goal: bad input is a clear error with its own exit code (2), not a panic.
#[test]
fn an_unknown_scenario_is_a_clear_error() {
    let output = lockstep_sim(&["replay", "--scenario", "no-such-thing", "--seed", "1"]);
    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("no-such-thing"), "{error}");
}

// Goal: `check-determinism` runs each seed twice in separate processes and
// exits 0 when every pair agrees.
#[test]
fn check_determinism_passes_for_a_builtin_scenario() {
    let output = lockstep_sim(&[
        "check-determinism",
        "--scenario",
        "ping-pong",
        "--seeds",
        "3",
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("0 diverged"), "{text}");
}
