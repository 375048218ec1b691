//! DET-1: the determinism check names the first event where two runs of one
//! seed differ. A scenario with a planted nondeterminism source (a real
//! clock read reaching the trace) must be caught, naming that event.
#![expect(
    clippy::disallowed_methods,
    reason = "the planted bug is exactly a real clock read"
)]

use lockstep_sim::determinism::compare;
use lockstep_sim::fault::Profile;
use lockstep_sim::scenario::{Scenario, ScenarioContext, ScenarioFuture, builtin, run_one};

/// Ping-pong, plus one trace event carrying the real clock's nanoseconds.
struct Leaky;

impl Scenario for Leaky {
    fn name(&self) -> &'static str {
        "leaky"
    }
    fn summary(&self) -> &'static str {
        "ping-pong that leaks the real clock into its trace"
    }
    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        let inner = lockstep_sim::scenario::find("ping-pong").expect("ping-pong exists");
        Box::pin(async move {
            lockstep::time::sleep(std::time::Duration::from_millis(3)).await;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            lockstep_sim::trace::record("planted", [("wall_nanos", nanos.into())]);
            inner.run(context).await
        })
    }
}

/// Goal: the check catches the planted source and names the planted event.
#[test]
fn det_1_planted_real_clock_read_is_named_as_the_divergence() {
    let first = run_one(&Leaky, 11, Profile::Calm);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let second = run_one(&Leaky, 11, Profile::Calm);
    assert_ne!(first.trace_hash(), second.trace_hash());
    let divergence = compare(&first.trace, &second.trace).expect("the runs must diverge");
    let named = divergence.first.as_deref().unwrap_or_default();
    assert!(
        named.contains("planted"),
        "divergence should name the planted event: {divergence}"
    );
}

/// Real time since this test binary first asked (the planted source below).
static STARTED: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

/// Ping-pong that waits a real-clock-dependent while first: the leak never
/// reaches the trace itself, only the behaviour does.
struct Drifty;

impl Scenario for Drifty {
    fn name(&self) -> &'static str {
        "drifty"
    }
    fn summary(&self) -> &'static str {
        "ping-pong whose first sleep depends on the real clock"
    }
    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        let inner = lockstep_sim::scenario::find("ping-pong").expect("ping-pong exists");
        Box::pin(async move {
            let real_ms = STARTED.elapsed().as_millis() as u64;
            lockstep::time::sleep(std::time::Duration::from_millis(1 + real_ms)).await;
            inner.run(context).await
        })
    }
}

/// Goal: the check catches a real clock read that changes *behaviour* (a
/// sleep's length), and names the first event where the runs differ with
/// both sides shown: the virtual clock's jump.
#[test]
fn det_1_a_real_clock_read_that_changes_behaviour_is_caught() {
    let _ = *STARTED;
    let first = run_one(&Drifty, 11, Profile::Calm);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = run_one(&Drifty, 11, Profile::Calm);
    assert_ne!(first.trace_hash(), second.trace_hash());
    let divergence = compare(&first.trace, &second.trace).expect("the runs must diverge");
    let (left, right) = (
        divergence.first.as_deref().unwrap_or_default(),
        divergence.second.as_deref().unwrap_or_default(),
    );
    assert!(
        left.contains("time_advance") && right.contains("time_advance") && left != right,
        "divergence should be the clock's first jump, shown on both sides: {divergence}"
    );
}

/// Goal: DET-1 holds for every built-in scenario: no divergence between two
/// fresh worlds of one seed.
#[test]
fn det_1_builtin_scenarios_do_not_diverge() {
    for scenario in builtin() {
        for seed in [1, 2, 3] {
            let first = run_one(scenario.as_ref(), seed, Profile::Swarm);
            let second = run_one(scenario.as_ref(), seed, Profile::Swarm);
            assert_eq!(
                compare(&first.trace, &second.trace),
                None,
                "{} seed {seed}",
                scenario.name()
            );
        }
    }
}
