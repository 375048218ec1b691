//! Built-in scenarios pass under every profile, and a run is a pure function
//! of (scenario, seed, profile) (RUN-1).

use lockstep_sim::fault::Profile;
use lockstep_sim::scenario::{builtin, run_one};

/// Goal: every built-in scenario passes a handful of seeds under each profile.
/// (The CLI's `explore` runs thousands; this keeps `cargo test` quick.)
#[test]
fn every_builtin_scenario_passes_a_few_seeds_under_each_profile() {
    for scenario in builtin() {
        for profile in Profile::ALL {
            for seed in 0..6 {
                let report = run_one(scenario.as_ref(), seed, profile);
                assert!(
                    report.verdict.passed(),
                    "{} seed {seed} {profile}: {} (mix {})",
                    scenario.name(),
                    report.verdict,
                    report.mix
                );
                assert!(report.messages > 0, "{} handled nothing", scenario.name());
            }
        }
    }
}

/// Goal: RUN-1: the same (scenario, seed, profile) gives the same trace hash
/// in two fresh worlds; different seeds explore different schedules.
#[test]
fn run_1_same_seed_same_trace_hash() {
    for scenario in builtin() {
        let first = run_one(scenario.as_ref(), 42, Profile::Chaos);
        let second = run_one(scenario.as_ref(), 42, Profile::Chaos);
        assert_eq!(first.trace_hash, second.trace_hash, "{}", scenario.name());
        assert_eq!(first.verdict, second.verdict);
        let other = run_one(scenario.as_ref(), 43, Profile::Chaos);
        assert_ne!(first.trace_hash, other.trace_hash, "{}", scenario.name());
    }
}
