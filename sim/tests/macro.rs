//! The `#[lockstep_sim::test]` attribute and the `check` API it expands to.

use std::cell::Cell;
use std::time::Duration;

use lockstep_sim::{CheckConfig, check};

// Goal: MACRO-1, the attribute turns an async fn into a test that runs on
// virtual time.
// Method: the body sleeps five virtual seconds and checks the clock moved
// exactly that much.
#[lockstep_sim::test(seeds = 8)]
async fn attribute_runs_an_async_test() {
    let start = lockstep::time::now();
    lockstep::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

thread_local! {
    /// Runs of `counted_body` on this thread (one job runs every world on the
    /// calling thread, so the harness's own run elsewhere doesn't count here).
    static COUNTED: Cell<u64> = const { Cell::new(0) };
}

#[lockstep_sim::test(seeds = 8)]
async fn counted_body() {
    COUNTED.with(|runs| runs.set(runs.get() + 1));
}

// Goal: MACRO-1, the generated test runs its body once per seed, `seeds`
// times (or as the LOCKSTEP_* variables say).
// Method: call the generated test function and count the body's runs.
#[test]
fn macro_1_the_body_runs_once_per_seed() {
    let jobs = std::env::var("LOCKSTEP_JOBS").ok();
    if jobs.is_some_and(|jobs| jobs.trim() != "1") {
        return; // Worlds would run on other threads; nothing to count here.
    }
    let expected = if std::env::var("LOCKSTEP_SEED").is_ok() {
        1
    } else {
        std::env::var("LOCKSTEP_SEEDS").map_or(8, |seeds| seeds.trim().parse().unwrap())
    };
    counted_body();
    assert_eq!(COUNTED.with(Cell::get), expected);
}

// Goal: a body may return Result; `profile` is accepted.
// Method: return Ok from a test with a profile argument.
#[lockstep_sim::test(seeds = 2, profile = "calm")]
async fn attribute_accepts_result_and_profile() -> Result<(), String> {
    lockstep::rt::yield_now().await;
    Ok(())
}

// Goal: check runs exactly the configured seeds, each in a fresh world.
// Method: run 8 explicit seeds, count runs, and compare against a parallel run.
#[test]
fn check_runs_every_seed_and_jobs_agree() {
    let body = |_world| async {
        lockstep_sim::trace::record("draw", [("value", lockstep::random::u64().into())]);
    };
    let sequential = check(CheckConfig::new("check_runs_every_seed").seeds(8), body);
    let parallel = check(
        CheckConfig::new("check_runs_every_seed").seeds(8).jobs(3),
        body,
    );
    assert_eq!(sequential.runs.len(), 8);
    assert_eq!(sequential, parallel);
}

// Goal: a failing body fails the test with the replay command's seed.
// Method: a body that errors on every seed; the panic names LOCKSTEP_SEED... via
// the message "seed 0x… failed".
#[test]
fn failing_body_panics_with_the_seed() {
    let result = std::panic::catch_unwind(|| {
        check(CheckConfig::new("failing").seed(0x2a), |_| async {
            Err::<(), _>("nope")
        })
    });
    let payload = result.expect_err("check fails");
    let message = payload.downcast_ref::<String>().expect("string panic");
    assert!(
        message.contains("seed 0x000000000000002a failed"),
        "{message}"
    );
    assert!(message.contains("nope"), "{message}");
}
