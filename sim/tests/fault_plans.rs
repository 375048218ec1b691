//! Fault plans as proptest values: users property-test their protocols under
//! explicit timed faults and get a shrunk, minimal plan when one fails.

mod support;

use std::time::Duration;

use lockstep::{ActorRef, ProcConfig};
use lockstep_sim::fault::{FaultPlan, fault_plans};
use lockstep_sim::net::{Network, NetworkConfig};
use lockstep_sim::{Config, World};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use support::{Echo, Ping};

/// One request/response over the network under `plan`; `Ok(true)` if the
/// answer came back within `budget` of virtual time.
fn answered_within(plan: FaultPlan, heal_after: bool, budget: Duration) -> bool {
    let mut world = World::new(Config::with_seed(1));
    world
        .run(async move {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            let client_proc = network.proc("a");
            let server_proc = network.proc("b");
            let faults = network.clone();
            drop(lockstep::rt::spawn("faults", async move {
                plan.execute(faults.clone()).await;
                if heal_after {
                    faults.heal_all();
                }
            }));
            let (client, _client) = client_proc.instance("client").unwrap();
            let echo: ActorRef<Echo> = server_proc.spawn("echo", Echo).unwrap().bind();
            let (reply, answer) = client.open_once_port::<u64>();
            echo.send(&client, Ping(7, reply.bind())).unwrap();
            matches!(
                lockstep::time::timeout(budget, answer.recv()).await,
                Ok(Ok(7))
            )
        })
        .expect("the world runs")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// PLAN-1: under any plan of partitions, heals, pauses and slow links
    /// (no crashes), a request is answered once everything is healed and
    /// resumed: the network holds messages, it never loses them.
    #[test]
    fn plan_1_any_partition_plan_delays_but_never_loses_a_request(
        plan in fault_plans(vec!["a".into(), "b".into()], Duration::from_secs(5), 6, false)
    ) {
        prop_assert!(answered_within(plan, true, Duration::from_secs(25)));
    }
}

/// Goal: a property that fails under some plan shrinks to a minimal plan —
/// here, "answered within 1 s" fails whenever a cut on a→b or b→a is never
/// healed, and the shrunk plan is a single partition.
#[test]
fn failing_property_shrinks_to_a_minimal_plan() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = fault_plans(
        vec!["a".into(), "b".into()],
        Duration::from_millis(3),
        8,
        false,
    );
    let result = runner.run(&strategy, |plan| {
        if answered_within(plan, false, Duration::from_secs(1)) {
            Ok(())
        } else {
            Err(TestCaseError::fail("not answered within 1 s"))
        }
    });
    let Err(proptest::test_runner::TestError::Fail(_, minimal)) = result else {
        panic!("some plan must delay the answer past 1 s: {result:?}");
    };
    println!("minimal failing plan: {minimal}");
    assert!(minimal.faults.len() <= 2, "not minimal: {minimal}");
}

/// Goal: a user test's network takes the world's profile: under `check` with
/// profile `chaos`, links have chaos's paths and duplication.
#[test]
fn network_for_this_world_follows_the_profile() {
    let config = lockstep_sim::CheckConfig::new("network_for_this_world_follows_the_profile")
        .seeds(2)
        .profile("chaos");
    lockstep_sim::check(config, |world| async move {
        let network = Network::for_this_world(ProcConfig::default());
        assert_eq!(
            network.config(),
            world.network(ProcConfig::default()).config()
        );
        let config = network.config();
        assert_eq!(config.paths_per_link, 3, "chaos has three paths per link");
        assert!(config.duplicate_probability > 0.0);
        assert!(!config.clock_skew_max.is_zero());
        let calm = lockstep_sim::fault::FaultMix::derive(lockstep_sim::fault::Profile::Calm, 0);
        assert_ne!(config, calm.network);
    });
}

/// Goal: a plan's `Restart` hands the fresh proc to the caller, who brings
/// its actors back, and a `SlowLink` slows one link only.
/// Method: crash `b`, restart it with a new echo, then ask it — over a link
/// slowed to 300 ms one way.
#[test]
fn plan_restart_hands_back_the_proc_and_slow_link_slows_one_way() {
    use lockstep_sim::fault::{Fault, TimedFault};
    let plan = FaultPlan {
        faults: vec![
            TimedFault {
                at: Duration::from_millis(10),
                fault: Fault::Crash("b".into()),
            },
            TimedFault {
                at: Duration::from_millis(20),
                fault: Fault::Restart("b".into()),
            },
            TimedFault {
                at: Duration::from_millis(30),
                fault: Fault::SlowLink {
                    from: "a".into(),
                    to: "b".into(),
                    millis: 300,
                },
            },
        ],
    };
    let mut world = World::new(Config::with_seed(2));
    let round_trip = world
        .run(async move {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            let client_proc = network.proc("a");
            let _first = network.proc("b").spawn("echo", Echo).unwrap();
            plan.execute_with(network.clone(), |name, proc| {
                assert_eq!(name, "b");
                let _bound: ActorRef<Echo> = proc.spawn("echo", Echo).unwrap().bind();
            })
            .await;
            let (client, _client) = client_proc.instance("client").unwrap();
            let echo: ActorRef<Echo> = ActorRef::attest(
                network
                    .lookup("b")
                    .unwrap()
                    .proc_id()
                    .actor_id("echo", 0)
                    .unwrap(),
            );
            let (reply, answer) = client.open_once_port::<u64>();
            let sent = lockstep::time::now();
            echo.send(&client, Ping(9, reply.bind())).unwrap();
            assert_eq!(answer.recv().await.unwrap(), 9);
            lockstep::time::now().duration_since(sent)
        })
        .expect("the world runs");
    // 300 ms out on the slowed link, the network's 1 ms back.
    assert_eq!(round_trip, Duration::from_millis(301));
}
