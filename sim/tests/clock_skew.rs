//! CLOCK-3: each proc can run on a skewed wall clock; actors read it through
//! `lockstep::time::system_now()`, while monotonic time stays shared.

use std::time::Duration;

use lockstep::{Actor, Context, Handler, HandlerError, OncePortHandle, ProcConfig};
use lockstep_sim::net::{Network, NetworkConfig};
use lockstep_sim::{Config, World};

#[derive(Debug)]
struct Clock;
impl Actor for Clock {}
impl Handler<OncePortHandle<(std::time::SystemTime, Duration)>> for Clock {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        reply: OncePortHandle<(std::time::SystemTime, Duration)>,
    ) -> Result<(), HandlerError> {
        let now = (
            lockstep::time::system_now(),
            lockstep::time::now().since_epoch(),
        );
        reply.send(cx, now)?;
        Ok(())
    }
}

/// What a `Clock` read: the wall clock and the monotonic time.
type Reading = (std::time::SystemTime, Duration);

/// Ask both clocks, both asks sent before either answer is awaited (so
/// both read at the same virtual instant).
async fn read_both(
    client: &lockstep::Instance<()>,
    first: &lockstep::ActorHandle<Clock>,
    second: &lockstep::ActorHandle<Clock>,
) -> (Reading, Reading) {
    let ask = |handle: &lockstep::ActorHandle<Clock>| {
        let (reply, answer) = client.open_once_port();
        handle.send(client, reply).unwrap();
        answer.recv()
    };
    let (first, second) = (ask(first), ask(second));
    (first.await.unwrap(), second.await.unwrap())
}

/// Goal: an actor on a proc skewed 750 ms ahead reads a wall clock 750 ms
/// ahead of an actor on an unskewed proc at the same virtual instant, and
/// both read the same monotonic time.
#[test]
fn clock_3_a_skewed_proc_reads_a_skewed_wall_clock() {
    let mut world = World::new(Config::with_seed(5));
    let (fast, plain) = world
        .run(async {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            network.set_clock_skew("fast", Duration::from_millis(750), true);
            let fast = network.proc("fast").spawn("clock", Clock).unwrap();
            let plain = network.proc("plain").spawn("clock", Clock).unwrap();
            let (client, _client) = network.proc("plain").instance("client").unwrap();
            read_both(&client, &fast, &plain).await
        })
        .unwrap();
    assert_eq!(fast.1, plain.1, "monotonic time is not skewed");
    let ahead = fast.0.duration_since(plain.0).expect("fast is ahead");
    assert_eq!(ahead, Duration::from_millis(750));
}

/// Goal: CLOCK-3 when a skew is set on a running proc — a step of its
/// clock: its actors already running read the new skew at once (as does
/// LIVE-2, which reads the proc's current skew).
#[test]
fn clock_3_a_skew_set_while_a_proc_runs_steps_its_running_actors_clocks() {
    let mut world = World::new(Config::with_seed(5));
    let (stepped, plain) = world
        .run(async {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            let stepped = network.proc("stepped").spawn("clock", Clock).unwrap();
            let plain = network.proc("plain").spawn("clock", Clock).unwrap();
            let (client, _client) = network.proc("plain").instance("client").unwrap();
            // Both answer once on the same clock before the step.
            let (stepped_before, plain_before) = read_both(&client, &stepped, &plain).await;
            assert_eq!(stepped_before.0, plain_before.0, "no skew yet");
            network.set_clock_skew("stepped", Duration::from_millis(500), true);
            read_both(&client, &stepped, &plain).await
        })
        .unwrap();
    let ahead = stepped.0.duration_since(plain.0).expect("stepped is ahead");
    assert_eq!(ahead, Duration::from_millis(500));
}

/// Handles a `u64` by staying busy that many milliseconds.
#[derive(Debug)]
struct Busy;
impl Actor for Busy {}
impl Handler<u64> for Busy {
    async fn handle(&mut self, _cx: &Context<Self>, millis: u64) -> Result<(), HandlerError> {
        lockstep::time::sleep(Duration::from_millis(millis)).await;
        Ok(())
    }
}
lockstep::export!(Busy: u64);

/// The LIVE-2 codes `settle` (1 s) reports for an actor on a proc skewed
/// `skew` (`ahead` or behind) that starts a 10 s handler `started_ms` into
/// the settle.
fn live_2_with_skew(skew: Duration, ahead: bool, started_ms: u64) -> Vec<&'static str> {
    World::new(Config::with_seed(3))
        .run(async move {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            network.set_clock_skew("skewed", skew, ahead);
            let proc = network.proc("skewed");
            let busy = proc.spawn("busy", Busy).unwrap();
            let (client, _client) = proc.instance("client").unwrap();
            let _send = lockstep::rt::spawn("send", async move {
                lockstep::time::sleep(Duration::from_millis(started_ms)).await;
                busy.send(&client, 10_000).unwrap();
                std::future::pending::<()>().await;
            });
            let mut report = lockstep_sim::oracle::OracleReport::default();
            let wedged = std::collections::BTreeSet::new();
            lockstep_sim::oracle::liveness::settle(
                &network,
                Duration::from_secs(1),
                &wedged,
                &mut report,
            )
            .await;
            report
                .violations
                .iter()
                .map(|violation| violation.code)
                .filter(|code| *code == "LIVE-2")
                .collect()
        })
        .expect("the world runs")
}

/// Goal: LIVE-2 measures how long an actor has been processing on its own
/// proc's (skewed) wall clock, the one it stamped the start with: 500 ms
/// of processing on a proc 2 s behind is not a stall, and 1 s on a proc
/// 2 s ahead is one.
#[test]
fn live_2_reads_the_start_of_processing_on_the_actors_own_clock() {
    let two_seconds = Duration::from_secs(2);
    assert!(live_2_with_skew(two_seconds, false, 500).is_empty());
    assert_eq!(live_2_with_skew(two_seconds, true, 0), ["LIVE-2"]);
    assert_eq!(live_2_with_skew(Duration::ZERO, true, 0), ["LIVE-2"]);
    assert!(live_2_with_skew(Duration::ZERO, true, 500).is_empty());
}

/// Steps its own proc's clock inside a handler and reports the wall clock
/// read just before and just after.
struct SelfStepper {
    network: Network,
}
impl std::fmt::Debug for SelfStepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfStepper")
    }
}
impl Actor for SelfStepper {}
impl Handler<OncePortHandle<(std::time::SystemTime, std::time::SystemTime)>> for SelfStepper {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        reply: OncePortHandle<(std::time::SystemTime, std::time::SystemTime)>,
    ) -> Result<(), HandlerError> {
        let before = lockstep::time::system_now();
        let own_proc = cx.self_id().proc_id().name().to_owned();
        self.network
            .set_clock_skew(&own_proc, Duration::from_millis(300), true);
        let after = lockstep::time::system_now();
        reply.send(cx, (before, after))?;
        Ok(())
    }
}

/// Goal: CLOCK-4 — the lock-free wall-clock reading follows a skew set
/// while the reader's own task is being polled: the actor that steps its
/// proc's clock reads the new skew in the same poll (no virtual time
/// passes in between, so the two readings differ by exactly the step).
#[test]
fn clock_4_a_task_that_steps_its_own_procs_clock_reads_the_step_at_once() {
    let mut world = World::new(Config::with_seed(9));
    let (before, after) = world
        .run(async {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            let stepper = network
                .proc("stepper")
                .spawn(
                    "stepper",
                    SelfStepper {
                        network: network.clone(),
                    },
                )
                .unwrap();
            let (client, _client) = network.proc("plain").instance("client").unwrap();
            let (reply, answer) = client.open_once_port();
            stepper.send(&client, reply).unwrap();
            answer.recv().await.unwrap()
        })
        .unwrap();
    let stepped = after
        .duration_since(before)
        .expect("the clock stepped ahead");
    assert_eq!(stepped, Duration::from_millis(300));
}
