//! Worlds are values: several on one thread in sequence, or on many threads at
//! once, each give the same result for the same seed (WORLD-1, LOCK-2).

mod support;

use lockstep_sim::{Config, World};

fn hash(seed: u64) -> u64 {
    let mut world = World::new(Config::with_seed(seed));
    world
        .run(support::racy_writers(5))
        .expect("workload passes");
    world.trace_hash()
}

// Goal: two worlds on two OS threads at once produce the hashes they produce
// when run one after another on one thread.
// Method: compute hashes sequentially, then concurrently in scoped threads.
#[test]
fn concurrent_worlds_match_sequential() {
    let seeds = [11u64, 12, 13, 14];
    let sequential: Vec<u64> = seeds.iter().map(|&seed| hash(seed)).collect();
    let concurrent: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .iter()
            .map(|&seed| scope.spawn(move || hash(seed)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    assert_eq!(sequential, concurrent);
}

// Goal: LOCK-2 / WORLD-2, a finished run leaves no environment or current world
// behind on its thread.
// Method: after a run, lockstep::rt::current() is None and trace::record is a no-op.
#[test]
fn run_leaves_no_environment_behind() {
    hash(1);
    assert!(lockstep::rt::current().is_none());
    assert!(!lockstep_sim::trace::record("outside", []));
}
