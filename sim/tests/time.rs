//! Virtual time: sleeps, timeouts and intervals run on the world's clock.

use std::time::Duration;

use lockstep::time::{self, Instant};
use lockstep_sim::{Config, World};

fn run<T>(future: impl Future<Output = T>) -> T {
    World::new(Config::with_seed(1))
        .run(future)
        .expect("run passes")
}

// Goal: CLOCK-2, an hour-long sleep completes at once and advances exactly one hour.
// Method: sleep 1 h in a world; compare virtual now before/after; the test suite's
// own time limit guards the "instantly" part.
#[test]
fn sleep_one_hour_is_instant_and_exact() {
    let (start, end) = run(async {
        let start = time::now();
        time::sleep(Duration::from_secs(3600)).await;
        (start, time::now())
    });
    assert_eq!(start, Instant::from_epoch(Duration::ZERO));
    assert_eq!(end - start, Duration::from_secs(3600));
}

// Goal: a timeout fires on virtual time and does not fire early.
// Method: time out a 10 s sleep after 1 s, then let a 1 s sleep beat a 10 s timeout.
#[test]
fn timeout_fires_on_virtual_time() {
    run(async {
        let elapsed =
            time::timeout(Duration::from_secs(1), time::sleep(Duration::from_secs(10))).await;
        assert!(elapsed.is_err());
        assert_eq!(time::now().since_epoch(), Duration::from_secs(1));
        let completed =
            time::timeout(Duration::from_secs(10), time::sleep(Duration::from_secs(1))).await;
        assert!(completed.is_ok());
        assert_eq!(time::now().since_epoch(), Duration::from_secs(2));
    });
}

// Goal: ENV-2, a dropped timer is disarmed and does not keep time moving.
// Method: after the timeout above completes early, the world deadlocks on a
// oneshot instead of advancing to the abandoned 10 s deadline.
#[test]
fn dropped_timer_is_disarmed() {
    let failure = World::new(Config::with_seed(1))
        .run(async {
            let _ = time::timeout(Duration::from_secs(10), std::future::ready(())).await;
            let (_sender, receiver) = tokio::sync::oneshot::channel::<()>();
            let _ = receiver.await;
        })
        .unwrap_err();
    assert!(
        matches!(failure, lockstep_sim::Failure::Deadlock { at, .. } if at.is_zero()),
        "{failure}"
    );
}

// Goal: an interval ticks at its period on virtual time, first tick immediately.
// Method: take five ticks of a 250 ms interval and check their instants.
#[test]
fn interval_ticks() {
    let ticks = run(async {
        let mut interval = time::interval(Duration::from_millis(250));
        let mut ticks = Vec::new();
        for _ in 0..5 {
            ticks.push(interval.tick().await.since_epoch().as_millis());
        }
        ticks
    });
    assert_eq!(ticks, [0, 250, 500, 750, 1000]);
}

// Goal: CLOCK-2, timers due at the same instant all fire in one advance.
// Method: three tasks sleep until the same deadline; all wake at exactly it.
#[test]
fn simultaneous_timers_fire_together() {
    let wakes = run(async {
        let handles: Vec<_> = (0..3)
            .map(|index| {
                lockstep::rt::spawn(&format!("sleeper-{index}"), async {
                    time::sleep_until(Instant::from_epoch(Duration::from_millis(5))).await;
                    time::now()
                })
            })
            .collect();
        let mut wakes = Vec::new();
        for handle in handles {
            wakes.push(handle.await.unwrap().since_epoch());
        }
        wakes
    });
    assert_eq!(wakes, [Duration::from_millis(5); 3]);
}
