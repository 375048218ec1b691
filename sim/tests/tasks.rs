//! Tasks: `lockstep::rt::spawn` inside a world runs on the sim executor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lockstep::rt::JoinError;
use lockstep_sim::{Config, World};

// Goal: a spawned task runs on the sim executor and its JoinHandle yields the value.
// Method: spawn a task that sleeps on virtual time and returns a value; check
// the trace saw its spawn and exit.
#[test]
fn spawn_and_join() {
    let mut world = World::new(Config::with_seed(3));
    let value = world
        .run(async {
            let handle = lockstep::rt::spawn("adder", async {
                lockstep::time::sleep(Duration::from_millis(5)).await;
                2 + 2
            });
            assert_eq!(handle.name(), "adder");
            handle.await
        })
        .unwrap();
    assert_eq!(value, Ok(4));
    let trace = world.trace();
    let kinds: Vec<_> = trace
        .events()
        .filter(|event| event.task.as_deref() == Some("adder") || event.kind == "task_spawn")
        .map(|event| event.kind)
        .collect();
    assert_eq!(kinds, ["task_spawn", "timer_fire", "task_exit"]);
}

// Goal: EXEC-5, aborting a task drops it: it never runs again and its join fails.
// Method: abort a sleeping task; its drop guard flips a flag; join yields JoinError.
#[test]
fn abort_drops_the_task() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(dropped.clone());
    let mut world = World::new(Config::with_seed(3));
    let result = world
        .run(async move {
            let handle = lockstep::rt::spawn("sleeper", async move {
                let _guard = guard;
                lockstep::time::sleep(Duration::from_secs(60)).await;
                unreachable!("aborted before waking");
            });
            lockstep::rt::yield_now().await;
            handle.abort();
            handle.await
        })
        .unwrap();
    assert!(matches!(result, Err(JoinError::Ended { .. })));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(
        world.now().since_epoch(),
        Duration::ZERO,
        "the aborted timer never fired"
    );
}

// Goal: a task may abort itself mid-poll; it is dropped when the poll returns.
// Method: the task aborts its own handle (received over a oneshot) then yields.
#[test]
fn self_abort_is_deferred_to_the_end_of_the_poll() {
    let result = World::new(Config::with_seed(4))
        .run(async {
            let (sender, receiver) =
                tokio::sync::oneshot::channel::<lockstep::rt::JoinHandle<()>>();
            let (done_sender, done_receiver) = tokio::sync::oneshot::channel::<()>();
            let handle = lockstep::rt::spawn("self-aborter", async move {
                let own = receiver.await.expect("handle arrives");
                own.abort();
                let _keep = done_sender;
                lockstep::rt::yield_now().await;
                unreachable!("dropped after the aborting poll");
            });
            sender.send(handle).ok().expect("task alive");
            // The sender is dropped with the task: the receiver sees an error.
            done_receiver.await
        })
        .unwrap();
    assert!(result.is_err());
}

// Goal: tasks still alive when main finishes are dropped (EXEC-6), not run on.
// Method: main returns while a spawned task sleeps forever; the run succeeds.
#[test]
fn leftover_tasks_are_dropped_when_main_finishes() {
    let mut world = World::new(Config::with_seed(5));
    world
        .run(async {
            let _detached = lockstep::rt::spawn("forever", async {
                loop {
                    lockstep::time::sleep(Duration::from_secs(1)).await;
                }
            });
            lockstep::rt::yield_now().await;
        })
        .unwrap();
    // The world can run again, starting from the same virtual time.
    let now = world.run(async { lockstep::time::now() }).unwrap();
    assert_eq!(now, world.now());
}

// Goal: many spawns reuse slots without confusing stale wakers (EXEC-3).
// Method: spawn 1000 short tasks in waves and join them all.
#[test]
fn slot_reuse() {
    let total = World::new(Config::with_seed(6))
        .run(async {
            let mut total = 0u64;
            for wave in 0..10u64 {
                let handles: Vec<_> = (0..100u64)
                    .map(|index| {
                        lockstep::rt::spawn("worker", async move {
                            lockstep::rt::yield_now().await;
                            wave * 100 + index
                        })
                    })
                    .collect();
                for handle in handles {
                    total += handle.await.unwrap();
                }
            }
            total
        })
        .unwrap();
    assert_eq!(total, (0..1000).sum::<u64>());
}

/// Always the longest-waiting ready task: a round-robin schedule.
struct OldestFirst;

impl lockstep_sim::Strategy for OldestFirst {
    fn choose(&mut self, _ready: &[lockstep_sim::TaskId]) -> usize {
        0
    }
}

/// The order in which three tasks, each yielding between three steps, take
/// their steps, under `world`.
fn step_order(mut world: World) -> Vec<(u64, u64)> {
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = order.clone();
    world
        .run(async move {
            let handles: Vec<_> = (0..3u64)
                .map(|task| {
                    let record = record.clone();
                    lockstep::rt::spawn(&format!("stepper-{task}"), async move {
                        for step in 0..3u64 {
                            record.lock().unwrap().push((task, step));
                            lockstep::rt::yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        })
        .unwrap();
    std::mem::take(&mut *order.lock().unwrap())
}

// Goal: the executor's choice is pluggable (`Strategy`): a world built with
// its own strategy runs exactly that schedule, whatever the seed, while the
// default random strategy's schedule depends on the seed.
#[test]
fn a_custom_strategy_decides_the_schedule() {
    let round_robin: Vec<(u64, u64)> = (0..3)
        .flat_map(|step| (0..3).map(move |task| (task, step)))
        .collect();
    for seed in [1, 2, 3] {
        let world = World::with_strategy(Config::with_seed(seed), Box::new(OldestFirst));
        assert_eq!(step_order(world), round_robin, "seed {seed}");
    }
    let random: std::collections::BTreeSet<Vec<(u64, u64)>> = (0..8)
        .map(|seed| step_order(World::new(Config::with_seed(seed))))
        .collect();
    assert!(random.len() > 1, "the random strategy varies with the seed");
}
