//! Failures: deadlocks, budgets, panics and tokio misuse end the run with a
//! typed, named verdict — never a hang.

mod support;

use std::time::Duration;

use lockstep_sim::{Config, Failure, World};
use tokio::sync::{mpsc, oneshot};

// Goal: FAIL-1, awaiting a oneshot nobody sends is a deadlock naming the stuck task.
// Method: a task awaits a receiver whose sender main keeps but never uses; main
// awaits the task.
#[test]
fn deadlock_names_the_waiting_task() {
    let failure = World::new(Config::with_seed(1))
        .run(async {
            let (sender, receiver) = oneshot::channel::<u32>();
            let waiter = lockstep::rt::spawn("waiter", receiver);
            let _keep = sender;
            waiter.await
        })
        .unwrap_err();
    let Failure::Deadlock { tasks, .. } = &failure else {
        panic!("expected a deadlock, got {failure}");
    };
    let names: Vec<_> = tasks.iter().map(|task| task.name.as_str()).collect();
    assert_eq!(names, ["main", "waiter"]);
    assert!(tasks.iter().all(|task| task.polls == 1), "{failure}");
    assert!(failure.to_string().contains("`waiter`"), "{failure}");
}

// Goal: FAIL-2, a timer re-armed forever exhausts the virtual-time budget and the
// failure names the task arming it.
// Method: a ticker sleeps 1 ms in a loop; the world's time budget is 1 s.
#[test]
fn rearming_timer_exhausts_the_time_budget() {
    let config = Config::with_seed(2).virtual_time_max(Duration::from_secs(1));
    let failure = World::new(config)
        .run(async {
            lockstep::rt::spawn("ticker", async {
                loop {
                    lockstep::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await
        })
        .unwrap_err();
    let Failure::TimeBudgetExhausted {
        timers,
        next_deadline,
        ..
    } = &failure
    else {
        panic!("expected a time budget failure, got {failure}");
    };
    assert_eq!(*next_deadline, Duration::from_millis(1001));
    assert_eq!(timers[0].task.as_deref(), Some("ticker"));
    assert!(failure.to_string().contains("`ticker`"), "{failure}");
}

// Goal: FAIL-2, tasks pinging each other forever exhaust the step budget, and the
// failure names them.
// Method: two tasks bounce a message over mpsc channels with no end; budget 10 000.
#[test]
fn endless_ping_pong_exhausts_the_step_budget() {
    let failure = World::new(Config::with_seed(3).steps_max(10_000))
        .run(support::ping_pong(u64::MAX))
        .unwrap_err();
    let Failure::StepBudgetExhausted {
        recent, steps_max, ..
    } = &failure
    else {
        panic!("expected a step budget failure, got {failure}");
    };
    assert_eq!(*steps_max, 10_000);
    let mut names: Vec<_> = recent.iter().map(|task| task.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ping", "pong"], "{failure}");
}

// Goal: EXEC-5, a panicking task fails the run with its name and message.
// Method: spawn a task that panics; main awaits it.
#[test]
fn task_panic_names_the_task() {
    let failure = World::new(Config::with_seed(4))
        .run(async { lockstep::rt::spawn("doomed", async { panic!("boom {}", 7) }).await })
        .unwrap_err();
    assert_eq!(
        failure,
        Failure::TaskPanicked {
            task: "doomed".into(),
            message: "boom 7".into()
        }
    );
}

// Goal: a panic in the main future is its own verdict.
// Method: panic in main after a sleep.
#[test]
fn main_panic() {
    let failure = World::new(Config::with_seed(4))
        .run(async {
            lockstep::time::sleep(Duration::from_secs(1)).await;
            panic!("main gave up");
        })
        .unwrap_err();
    assert_eq!(
        failure,
        Failure::MainPanicked {
            message: "main gave up".into()
        }
    );
}

// Goal: DESIGN §2.1, tokio::spawn inside a world fails loudly and names the facade.
// Method: call tokio::spawn from a task; inspect the failure message.
#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "the test is that this misuse is caught"
)]
fn tokio_spawn_inside_a_world_names_the_facade() {
    let failure = World::new(Config::with_seed(5))
        .run(async {
            lockstep::rt::spawn("misuser", async {
                drop(tokio::spawn(async {}));
            })
            .await
        })
        .unwrap_err();
    assert!(
        matches!(&failure, Failure::TokioOutsideFacade { task, .. } if task == "misuser"),
        "{failure:?}"
    );
    let message = failure.to_string();
    assert!(message.contains("lockstep::rt::spawn"), "{message}");
    assert!(message.contains("lockstep::time::sleep"), "{message}");
}

// Goal: tokio::time inside a world is caught the same way, also in main.
// Method: call tokio::time::sleep from the main future.
#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "the test is that this misuse is caught"
)]
fn tokio_sleep_inside_a_world_names_the_facade() {
    let failure = World::new(Config::with_seed(5))
        .run(async { tokio::time::sleep(Duration::from_secs(1)).await })
        .unwrap_err();
    assert!(
        matches!(&failure, Failure::TokioOutsideFacade { task, .. } if task == "main"),
        "{failure:?}"
    );
}

// Goal: a deadlock is reported even when a channel keeps tasks alive.
// Method: two tasks each wait to receive from the other; nobody sends.
#[test]
fn mutual_wait_is_a_deadlock() {
    let failure = World::new(Config::with_seed(6))
        .run(async {
            let (a_sender, mut a_receiver) = mpsc::channel::<()>(1);
            let (b_sender, mut b_receiver) = mpsc::channel::<()>(1);
            let a = lockstep::rt::spawn("a", async move {
                let _keep = b_sender;
                a_receiver.recv().await
            });
            let b = lockstep::rt::spawn("b", async move {
                let _keep = a_sender;
                b_receiver.recv().await
            });
            (a.await, b.await)
        })
        .unwrap_err();
    let Failure::Deadlock { tasks, .. } = failure else {
        panic!("expected a deadlock");
    };
    assert_eq!(tasks.len(), 3);
}

// Goal: WORLD-4, a world refuses to run inside a tokio runtime, where tokio::spawn
// would silently escape the simulation.
// Method: call World::run from inside a current-thread tokio runtime's block_on.
#[test]
fn world_refuses_to_run_inside_tokio() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let failure = runtime.block_on(async { World::new(Config::with_seed(7)).run(async {}) });
    assert_eq!(failure, Err(Failure::InsideTokioRuntime));
}
