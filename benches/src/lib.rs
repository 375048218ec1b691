//! Shared helpers for the benchmarks in `benches/` (run: `cargo bench -p lockstep-benches`).
//!
//! Every benchmark measures lockstep next to a baseline in the same run and
//! prints the ratio, so a figure never depends on a number taken on another
//! machine or another day. Two measurements per pair:
//!
//! 1. criterion runs each side as its own benchmark (`iter_custom`, so the
//!    timed region is exactly the messages) and prints its statistics;
//! 2. [`interleaved`] then times the two sides in alternating rounds and
//!    keeps each side's fastest round. That is the figure the ratio lines
//!    (`ratio: X.XXx`) and `docs/PERFORMANCE.md` use: on a shared 2-core
//!    machine, background load comes and goes during criterion's sequential
//!    runs and would bias whichever side it lands on; alternating rounds see
//!    the same load, and the fastest round is the one it disturbed least.
//!
//! The workloads (actors and their raw-channel twins) live in [`workloads`].

pub mod workloads;

use std::time::Duration;

/// Time `ours` and `baseline` in `rounds` alternating rounds (the order flips
/// every round), each call running `iterations` iterations and returning the
/// time they took. Returns each side's fastest time per iteration.
pub fn interleaved(
    rounds: usize,
    iterations: u64,
    mut ours: impl FnMut(u64) -> Duration,
    mut baseline: impl FnMut(u64) -> Duration,
) -> (Duration, Duration) {
    assert!(rounds > 0 && iterations > 0, "measure something");
    let mut fastest = (Duration::MAX, Duration::MAX);
    for round in 0..rounds {
        let (first, second) = if round % 2 == 0 {
            (ours(iterations), baseline(iterations))
        } else {
            let second = baseline(iterations);
            (ours(iterations), second)
        };
        fastest.0 = fastest.0.min(first);
        fastest.1 = fastest.1.min(second);
    }
    let per_iteration = |total: Duration| total.div_f64(iterations as f64);
    (per_iteration(fastest.0), per_iteration(fastest.1))
}

/// The fastest time per iteration of `rounds` calls of `routine`, each
/// running `iterations` iterations (for figures with no baseline).
pub fn fastest(
    rounds: usize,
    iterations: u64,
    mut routine: impl FnMut(u64) -> Duration,
) -> Duration {
    let (fastest, _) = interleaved(rounds, iterations, &mut routine, |_| Duration::ZERO);
    fastest
}

/// Whether a benchmark named `name` should run its extra [`interleaved`]
/// comparison: not in `--test` or `--list` mode, and only if it matches the
/// command line's filter (a plain substring; criterion itself takes a regex).
pub fn selected(name: &str) -> bool {
    let mut args = std::env::args().skip(1);
    let mut filters = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--test" | "--list" => return false,
            // Options that take a value: skip the value.
            "--profile-time"
            | "--save-baseline"
            | "--baseline"
            | "--baseline-lenient"
            | "--load-baseline"
            | "--sample-size"
            | "--warm-up-time"
            | "--measurement-time"
            | "--nresamples"
            | "--noise-threshold"
            | "--confidence-level"
            | "--significance-level"
            | "--format"
            | "--color"
            | "--plotting-backend"
            | "--output-format" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter.to_owned()),
        }
    }
    filters.is_empty() || filters.iter().any(|filter| name.contains(filter.as_str()))
}

/// Which way a target points.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The figure must be at most this.
    AtMost(f64),
    /// The figure must be at least this.
    AtLeast(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met_by(self, value: f64) -> bool {
        match self {
            Target::AtMost(limit) => value <= limit,
            Target::AtLeast(limit) => value >= limit,
        }
    }

    fn describe(self, show: impl Fn(f64) -> String) -> String {
        match self {
            Target::AtMost(limit) => format!("≤ {}", show(limit)),
            Target::AtLeast(limit) => format!("≥ {}", show(limit)),
        }
    }
}

/// "met" or "MISSED".
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn verdict_suffix(target: Option<Target>, value: f64, show: impl Fn(f64) -> String) -> String {
    target.map_or_else(String::new, |target| {
        format!(
            " (target {}: {})",
            target.describe(show),
            verdict(target.met_by(value))
        )
    })
}

/// Print `ours` against `baseline` (times per iteration, each iteration
/// handling `messages`) per message, and their ratio against `target`:
///
/// `local_send/one_way/current_thread: ours 420.1 ns/msg, baseline 30.2 ns/msg, ratio: 13.91x (target ≤ 2.00x: MISSED)`
///
/// Returns the ratio.
pub fn report_ratio(
    name: &str,
    (ours, baseline): (Duration, Duration),
    messages: u64,
    target: Option<Target>,
) -> f64 {
    let ratio = ours.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "{name}: ours {:.1} ns/msg, baseline {:.1} ns/msg, ratio: {ratio:.2}x{}",
        nanos_per_message(ours, messages),
        nanos_per_message(baseline, messages),
        verdict_suffix(target, ratio, |limit| format!("{limit:.2}x")),
    );
    ratio
}

/// Nanoseconds per message when one iteration of `per_iteration` handles `messages`.
pub fn nanos_per_message(per_iteration: Duration, messages: u64) -> f64 {
    per_iteration.as_secs_f64() * 1e9 / messages as f64
}

/// Print a rate (`what` per wall second), against `target` if there is one.
pub fn report_rate(name: &str, what: &str, rate: f64, target: Option<Target>) {
    println!(
        "{name}: {} {what}/s{}",
        human(rate),
        verdict_suffix(target, rate, human)
    );
}

/// `1234567.0` as `1.23 M`.
pub fn human(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_keeps_each_sides_fastest_round() {
        let mut ours = [30, 10, 20].into_iter();
        let mut baseline = [5, 7, 4].into_iter();
        let (ours, baseline) = interleaved(
            3,
            2,
            |_| Duration::from_millis(ours.next().unwrap()),
            |_| Duration::from_millis(baseline.next().unwrap()),
        );
        assert_eq!(ours, Duration::from_millis(5));
        assert_eq!(baseline, Duration::from_millis(2));
    }

    #[test]
    fn targets_point_both_ways() {
        assert!(Target::AtMost(2.0).met_by(2.0));
        assert!(!Target::AtMost(2.0).met_by(2.1));
        assert!(Target::AtLeast(1e6).met_by(2e6));
        assert_eq!(human(2_340_000.0), "2.34 M");
    }
}
