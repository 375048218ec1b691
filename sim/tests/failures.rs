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

/// Panics when dropped: a destructor with a bug.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor bug");
    }
}

/// The failure an aborted task `task` that holds a [`PanicOnDrop`] ends the
/// run with (EXEC-8), and whether main got past the abort's next poll.
fn failure_of_a_destructor_panic(self_abort: bool) -> (Failure, bool) {
    let reached_end = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reached = reached_end.clone();
    let failure = World::new(Config::with_seed(4))
        .run(async move {
            let (handle_sender, handle_receiver) = oneshot::channel();
            // Captured (not built inside), so even a future dropped before
            // its first poll holds it.
            let guard = PanicOnDrop;
            let handle = lockstep::rt::spawn("leaky", async move {
                let _guard = guard;
                if self_abort {
                    let own: lockstep::rt::JoinHandle<()> =
                        handle_receiver.await.expect("the handle arrives");
                    own.abort();
                    lockstep::rt::yield_now().await;
                }
                std::future::pending::<()>().await;
            });
            lockstep::rt::yield_now().await;
            if self_abort {
                handle_sender.send(handle).ok().expect("the task is alive");
            } else {
                handle.abort();
            }
            lockstep::time::sleep(Duration::from_secs(1)).await;
            reached.store(true, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap_err();
    (
        failure,
        reached_end.load(std::sync::atomic::Ordering::SeqCst),
    )
}

// Goal: EXEC-8, a panic while an aborted task is dropped is not swallowed:
// it fails the run with the task's name, before main's next poll.
// Method: main aborts a task whose future holds a value that panics when
// dropped, then sleeps; it must never wake.
#[test]
fn exec_8_a_panic_while_dropping_an_aborted_task_fails_the_run() {
    let (failure, reached_end) = failure_of_a_destructor_panic(false);
    assert_eq!(
        failure,
        Failure::TaskPanicked {
            task: "leaky".into(),
            message: "while being dropped after an abort: destructor bug".into()
        }
    );
    assert!(!reached_end, "the run ended at the panic");
}

// Goal: EXEC-8 for a task that aborts itself: dropped when its poll
// returns, and its destructor's panic fails the run just the same.
// Method: as above, the task aborting its own handle.
#[test]
fn exec_8_a_panic_while_dropping_a_self_aborted_task_fails_the_run() {
    let (failure, reached_end) = failure_of_a_destructor_panic(true);
    assert!(
        matches!(&failure, Failure::TaskPanicked { task, message }
            if task == "leaky" && message.ends_with("destructor bug")),
        "{failure}"
    );
    assert!(!reached_end, "the run ended at the panic");
}

// Goal: EXEC-8 when main finishes in the poll that aborted the task: the
// destructor's panic still fails the run, and the world's next run starts
// clean (no failure carried over).
// Method: main aborts the task and returns at once; then the same world
// runs a main that does nothing.
#[test]
fn exec_8_a_destructor_panic_in_mains_last_poll_fails_the_run_and_not_the_next() {
    let mut world = World::new(Config::with_seed(4));
    let failure = world
        .run(async {
            let guard = PanicOnDrop;
            let handle = lockstep::rt::spawn("leaky", async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
            handle.abort();
        })
        .unwrap_err();
    assert_eq!(
        failure,
        Failure::TaskPanicked {
            task: "leaky".into(),
            message: "while being dropped after an abort: destructor bug".into()
        }
    );
    world
        .run(async {})
        .expect("the next run owes nothing to the last");
}

/// A future that is ready at once and panics when dropped.
struct ReadyThenPanicOnDrop;

impl Future for ReadyThenPanicOnDrop {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

impl Drop for ReadyThenPanicOnDrop {
    fn drop(&mut self) {
        panic!("dropped after finishing");
    }
}

// Goal: a task whose future panics when dropped after finishing fails the
// run, naming the task, instead of unwinding out of `World::run`. (The
// spawn wrapper drops the finished future inside its last poll, so this is
// a poll's panic (EXEC-5); EXEC-8 covers a wrapper dropped after `Ready`.)
// Method: spawn a future that is ready at once and panics when dropped.
#[test]
fn a_panic_while_dropping_a_finished_tasks_future_fails_the_run() {
    let failure = World::new(Config::with_seed(4))
        .run(async {
            drop(lockstep::rt::spawn("finisher", ReadyThenPanicOnDrop));
            lockstep::time::sleep(Duration::from_secs(1)).await;
        })
        .unwrap_err();
    assert_eq!(
        failure,
        Failure::TaskPanicked {
            task: "finisher".into(),
            message: "dropped after finishing".into()
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
