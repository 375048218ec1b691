//! The criterion side of a comparison, shared by every bench binary.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use lockstep_benches::{Target, interleaved, report_ratio, selected};

/// How one pair is measured.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Messages (criterion's "elements") one iteration handles.
    pub messages: u64,
    /// Criterion samples per side.
    pub sample_size: usize,
    /// Criterion's measurement time per side.
    pub measurement_time: Duration,
    /// Alternating rounds for the ratio.
    pub rounds: usize,
    /// Iterations per round.
    pub iterations: u64,
}

impl Plan {
    /// 10 samples over 3 s per side; 12 rounds of `iterations` for the ratio.
    pub fn new(messages: u64, iterations: u64) -> Self {
        Self {
            messages,
            sample_size: 10,
            measurement_time: Duration::from_secs(3),
            rounds: 12,
            iterations,
        }
    }
}

/// Benchmark `ours` and `baseline` (each: run this many iterations, return
/// the time they took) as two criterion benchmarks of `group`, then time them
/// in alternating rounds and print the ratio against `target`. Returns each
/// side's fastest time per iteration, unless the group was filtered out.
pub fn compare(
    c: &mut Criterion,
    group: &str,
    plan: Plan,
    (ours_label, mut ours): (&str, impl FnMut(u64) -> Duration),
    (baseline_label, mut baseline): (&str, impl FnMut(u64) -> Duration),
    target: Option<Target>,
) -> Option<(Duration, Duration)> {
    let mut benchmarks = c.benchmark_group(group);
    benchmarks
        .sample_size(plan.sample_size)
        .measurement_time(plan.measurement_time)
        .warm_up_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(plan.messages));
    benchmarks.bench_function(ours_label, |b| b.iter_custom(&mut ours));
    benchmarks.bench_function(baseline_label, |b| b.iter_custom(&mut baseline));
    benchmarks.finish();
    if !selected(group) {
        return None;
    }
    let fastest = interleaved(plan.rounds, plan.iterations, ours, baseline);
    report_ratio(
        &format!("{group} ({ours_label} vs {baseline_label})"),
        fastest,
        plan.messages,
        target,
    );
    Some(fastest)
}
