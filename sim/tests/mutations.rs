//! Mutation check of the oracles themselves (issue: oracles): each planted
//! runtime bug (`lockstep::rt::mutation`) is caught by the oracle that owns
//! the broken invariant within 200 seeds. Planted bugs exist only in debug
//! builds, which is how `cargo test` builds.

use lockstep::rt::mutation;
use lockstep_sim::fault::Profile;
use lockstep_sim::scenario::{RunOptions, find, run_with};

/// Run `scenario` with bug `planted` over seeds 0..200 until an oracle
/// reports `code`; returns (seed, the oracle's message).
fn first_catch(scenario: &str, planted: &str, profile: Profile, codes: &[&str]) -> (u64, String) {
    let scenario = find(scenario).unwrap_or_else(|| panic!("no scenario {scenario}"));
    let mut options = RunOptions::new(profile);
    options.mutations.push(planted.to_owned());
    for seed in 0..200 {
        let report = run_with(scenario.as_ref(), seed, &options);
        if let Some(violation) = report
            .oracles
            .violations
            .iter()
            .find(|violation| codes.contains(&violation.code))
        {
            return (seed, violation.to_string());
        }
    }
    panic!(
        "planted bug {planted} was not caught by {codes:?} within 200 seeds of {}",
        scenario.name()
    );
}

/// Goal: the reorder stage letting messages through in arrival order (and
/// duplicates twice) is caught by the sequencing oracle (SEQ-2 / SEQ-3).
#[test]
fn mutation_reorder_bypass_is_caught_by_the_sequencing_oracle() {
    let (seed, message) = first_catch(
        "many-senders",
        mutation::REORDER_BYPASS,
        Profile::Chaos,
        &["SEQ-2", "SEQ-3"],
    );
    println!("caught at seed {seed}: {message}");
    assert!(message.starts_with("sequencing oracle"));
}

/// Goal: a supervision event that is never sent is caught by the
/// supervision oracle (SV-1).
#[test]
fn mutation_dropped_supervision_event_is_caught_by_the_supervision_oracle() {
    let (seed, message) = first_catch(
        "supervision-tree",
        mutation::DROP_SUPERVISION_EVENT,
        Profile::Calm,
        &["SV-1"],
    );
    println!("caught at seed {seed}: {message}");
    assert!(
        message.contains("produced 0 supervision events"),
        "{message}"
    );
}

/// Goal: introspection served behind the actor's work (so a wedged actor
/// never answers) is caught by the introspection oracle (S1).
#[test]
fn mutation_introspection_via_work_queue_is_caught_by_the_introspection_oracle() {
    let (seed, message) = first_catch(
        "introspection",
        mutation::INTROSPECT_VIA_WORK_QUEUE,
        Profile::Calm,
        &["S1"],
    );
    println!("caught at seed {seed}: {message}");
    assert!(
        message.contains("did not answer introspection"),
        "{message}"
    );
}

/// Goal: a message silently dropped at a crashed proc (instead of returned)
/// is caught by the accounting check of the sequencing oracle (UD-1).
#[test]
fn mutation_silent_drop_on_crash_is_caught_by_the_accounting_oracle() {
    let (seed, message) = first_catch(
        "crash-restart",
        mutation::SILENT_DROP_ON_CRASH,
        Profile::Stormy,
        &["UD-1"],
    );
    println!("caught at seed {seed}: {message}");
    assert!(message.contains("vanished"), "{message}");
}
