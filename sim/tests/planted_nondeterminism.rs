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
    assert_ne!(first.trace_hash, second.trace_hash);
    let divergence = compare(&first.trace, &second.trace).expect("the runs must diverge");
    let named = divergence.first.as_deref().unwrap_or_default();
    assert!(
        named.contains("planted"),
        "divergence should name the planted event: {divergence}"
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
