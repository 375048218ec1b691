//! The simulator's speed: simulated messages per wall second, and seeds per
//! wall second for a small scenario.
//!
//! - `ping_pong`: two actors ([`Player`]) pass a countdown through handle sends
//!   with zero latency inside one `lockstep_sim::World`. Baseline: the same
//!   hops between two raw-channel tasks on a tokio current-thread runtime (a
//!   bare single-threaded event loop: no simulator, no actor runtime).
//! - `ping_pong_two_procs`: the same countdown between [`RemotePlayer`]s on
//!   two procs joined by the simulated network with zero latency (every hop
//!   encoded, routed and decoded), against the same bare loop. Target (issue:
//!   simulator): ≥ 2 M simulated messages per wall second.
//! - `ping_pong_without_runtime_events`: `ping_pong` in a world that records
//!   no runtime events (no oracle reads them).
//! - `ping_pong_two_procs_without_runtime_events`: `ping_pong_two_procs` in
//!   such a world: what recording the trace costs a hop across procs.
//! - `executor`: those raw-channel tasks inside a `World` against the same
//!   bare loop, which isolates the simulator's executor from the actor
//!   runtime.
//! - `seeds`: a fresh `World` per seed running a 3-actor ring that passes 100
//!   messages, then stops the actors. Target: ≥ 1,000 seeds per wall second on
//!   2 cores; measured on 1 thread by criterion, then on 2 threads (one world
//!   per thread, WORLD-1) by hand.
//!
//! Each pair runs as two criterion benchmarks, then in alternating rounds;
//! the `ratio:` line uses each side's fastest round (see the
//! `lockstep_benches` crate docs for why). Run: `cargo bench -p lockstep-benches`.

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lockstep::{ActorHandle, Proc, ProcConfig};
use lockstep_benches::workloads::{
    Peer, Player, RemotePeer, RemotePlayer, STOP, players_ping_pong, raw_player, stop_all,
    time_batches,
};
use lockstep_benches::{Target, fastest, report_rate, selected};
use lockstep_sim::net::{Latency, Network, NetworkConfig};
use lockstep_sim::{Config, World};
use support::{Plan, compare};
use tokio::sync::mpsc;

/// Actor-to-actor hops per ping-pong iteration.
const HOPS: u64 = 20_000;
const MESSAGES_PER_SECOND_MIN: f64 = 2e6;
/// Actors in the seed scenario's ring.
const RING_ACTORS: usize = 3;
/// Messages the seed scenario passes around the ring (the client's first
/// send included).
const RING_MESSAGES: u64 = 100;
const SEEDS_PER_SECOND_MIN: f64 = 1_000.0;
/// Seeds each thread runs in the 2-thread measurement.
const SEEDS_PER_THREAD: u64 = 2_000;

fn world(seed: u64) -> World {
    World::new(Config::with_seed(seed).steps_max(u64::MAX))
}

/// A world that does not record the runtime's own events (no oracle reads
/// them): what a plain `check` body can run at.
fn quiet_world(seed: u64) -> World {
    World::new(
        Config::with_seed(seed)
            .steps_max(u64::MAX)
            .runtime_events(false),
    )
}

/// `iterations` batches of [`HOPS`] hops between two actors; wall time.
async fn actors_ping_pong(iterations: u64) -> Duration {
    players_ping_pong(&Proc::local(), HOPS, iterations).await
}

/// `iterations` batches of [`HOPS`] hops between two actors on two procs
/// joined by the simulated network with zero latency; wall time.
async fn procs_ping_pong(iterations: u64) -> Duration {
    let network = Network::new(
        NetworkConfig {
            latency: Latency::Fixed(Duration::ZERO),
            ..NetworkConfig::default()
        },
        ProcConfig::default(),
    );
    let (left, right) = (network.proc("left"), network.proc("right"));
    let (client, _client_handle) = left.instance("client").expect("a client");
    let (done, mut finished) = mpsc::unbounded_channel();
    let ping = left
        .spawn("ping", RemotePlayer::new(done.clone()))
        .expect("spawn");
    let pong = right.spawn("pong", RemotePlayer::new(done)).expect("spawn");
    ping.send(&client, RemotePeer(pong.bind()))
        .expect("ping is alive");
    pong.send(&client, RemotePeer(ping.bind()))
        .expect("pong is alive");
    let elapsed = time_batches(iterations, &mut finished, || {
        ping.send(&client, HOPS).expect("ping is alive");
    })
    .await;
    stop_all([ping, pong]).await;
    elapsed
}

/// The same hops between two raw-channel tasks, spawned through `spawn`
/// (the seam inside a world, tokio outside); wall time.
async fn raw_ping_pong(iterations: u64, spawn: fn(&str, RawPlayer)) -> Duration {
    let (done, mut finished) = mpsc::unbounded_channel();
    let (to_ping, ping_inbox) = mpsc::unbounded_channel();
    let (to_pong, pong_inbox) = mpsc::unbounded_channel();
    spawn(
        "ping",
        Box::pin(raw_player(ping_inbox, to_pong, done.clone())),
    );
    spawn(
        "pong",
        Box::pin(raw_player(pong_inbox, to_ping.clone(), done)),
    );
    let start = Instant::now();
    for _ in 0..iterations {
        to_ping.send(HOPS).expect("ping is alive");
        finished.recv().await.expect("a player signals");
    }
    let elapsed = start.elapsed();
    to_ping.send(STOP).expect("ping is alive");
    elapsed
}

type RawPlayer = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

fn spawn_in_world(name: &str, task: RawPlayer) {
    drop(lockstep::rt::spawn(name, task));
}

fn spawn_on_tokio(_name: &str, task: RawPlayer) {
    drop(tokio::spawn(task));
}

/// One seed of the ring scenario, in a fresh world.
fn ring_scenario(seed: u64) {
    world(seed)
        .run(async {
            let proc = Proc::local();
            let (client, _client_handle) = proc.instance("client").expect("a client");
            let (done, mut finished) = mpsc::unbounded_channel();
            let ring: Vec<ActorHandle<Player>> = (0..RING_ACTORS)
                .map(|index| {
                    proc.spawn(&format!("player{index}"), Player::new(done.clone()))
                        .expect("spawn")
                })
                .collect();
            for (index, player) in ring.iter().enumerate() {
                let next = &ring[(index + 1) % RING_ACTORS];
                player
                    .send(&client, Peer(next.port()))
                    .expect("the player is alive");
            }
            ring[0]
                .send(&client, RING_MESSAGES - 1)
                .expect("the player is alive");
            finished.recv().await.expect("a player signals");
            stop_all(ring).await;
        })
        .expect("the scenario passes");
}

fn bench_ping_pong(c: &mut Criterion) {
    let bare_loop = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let plan = Plan {
        measurement_time: Duration::from_secs(4),
        ..Plan::new(HOPS, 1)
    };
    let actors = compare(
        c,
        "simulator/ping_pong",
        plan,
        ("actors_in_world", |n| {
            world(1).run(actors_ping_pong(n)).expect("ping-pong passes")
        }),
        ("raw_tasks_on_tokio_current_thread", |n| {
            bare_loop.block_on(raw_ping_pong(n, spawn_on_tokio))
        }),
        None,
    );
    let quiet = compare(
        c,
        "simulator/ping_pong_without_runtime_events",
        plan,
        ("actors_in_quiet_world", |n| {
            quiet_world(1)
                .run(actors_ping_pong(n))
                .expect("ping-pong passes")
        }),
        ("raw_tasks_on_tokio_current_thread", |n| {
            bare_loop.block_on(raw_ping_pong(n, spawn_on_tokio))
        }),
        None,
    );
    let procs = compare(
        c,
        "simulator/ping_pong_two_procs",
        plan,
        ("actors_on_two_procs_in_world", |n| {
            world(1).run(procs_ping_pong(n)).expect("ping-pong passes")
        }),
        ("raw_tasks_on_tokio_current_thread", |n| {
            bare_loop.block_on(raw_ping_pong(n, spawn_on_tokio))
        }),
        None,
    );
    let procs_quiet = compare(
        c,
        "simulator/ping_pong_two_procs_without_runtime_events",
        plan,
        ("actors_on_two_procs_in_quiet_world", |n| {
            quiet_world(1)
                .run(procs_ping_pong(n))
                .expect("ping-pong passes")
        }),
        ("raw_tasks_on_tokio_current_thread", |n| {
            bare_loop.block_on(raw_ping_pong(n, spawn_on_tokio))
        }),
        None,
    );
    let executor = compare(
        c,
        "simulator/executor",
        Plan::new(HOPS, 4),
        ("raw_tasks_in_world", |n| {
            world(1)
                .run(raw_ping_pong(n, spawn_in_world))
                .expect("ping-pong passes")
        }),
        ("raw_tasks_on_tokio_current_thread", |n| {
            bare_loop.block_on(raw_ping_pong(n, spawn_on_tokio))
        }),
        None,
    );
    let rate = |per_iteration: Duration| HOPS as f64 / per_iteration.as_secs_f64();
    // The target is for two procs (every hop crosses the simulated
    // network); the one-proc figures are reported without it, so a line
    // saying "met" is never read as the target being met.
    if let Some((ours, bare)) = actors {
        let name = "simulator/ping_pong/actors_in_world";
        report_rate(name, "simulated msgs", rate(ours), None);
        let name = "simulator/ping_pong/raw_tasks_on_tokio_current_thread";
        report_rate(name, "msgs", rate(bare), None);
    }
    if let Some((ours, _)) = quiet {
        let name = "simulator/ping_pong_without_runtime_events/actors_in_quiet_world";
        report_rate(name, "simulated msgs", rate(ours), None);
    }
    if let Some((ours, _)) = procs {
        let target = Some(Target::AtLeast(MESSAGES_PER_SECOND_MIN));
        let name = "simulator/ping_pong_two_procs/actors_on_two_procs_in_world";
        report_rate(name, "simulated msgs", rate(ours), target);
    }
    if let Some((ours, _)) = procs_quiet {
        let name = "simulator/ping_pong_two_procs_without_runtime_events/actors_on_two_procs_in_quiet_world";
        report_rate(name, "simulated msgs", rate(ours), None);
    }
    if let Some((executor, _)) = executor {
        let name = "simulator/executor/raw_tasks_in_world";
        report_rate(name, "simulated msgs", rate(executor), None);
    }
}

fn bench_seeds(c: &mut Criterion) {
    let name = "simulator/seeds";
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    let mut seeds = |n: u64| {
        let start = Instant::now();
        for seed in 0..n {
            ring_scenario(seed);
        }
        start.elapsed()
    };
    group.bench_function("ring_3_actors_100_messages", |b| b.iter_custom(&mut seeds));
    group.finish();
    if !selected(name) {
        return;
    }
    let rate = 1.0 / fastest(12, 200, seeds).as_secs_f64();
    let half_target = Some(Target::AtLeast(SEEDS_PER_SECOND_MIN / 2.0));
    report_rate(&format!("{name}/1_thread"), "seeds", rate, half_target);
    let target = Some(Target::AtLeast(SEEDS_PER_SECOND_MIN));
    let name_x2 = format!("{name}/1_thread_x2_extrapolated");
    report_rate(&name_x2, "seeds", 2.0 * rate, target);
    let start = Instant::now();
    let threads: Vec<_> = (0..2u64)
        .map(|thread| {
            std::thread::spawn(move || {
                for seed in 0..SEEDS_PER_THREAD {
                    ring_scenario(thread * SEEDS_PER_THREAD + seed);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a seed thread finishes");
    }
    let rate = (2 * SEEDS_PER_THREAD) as f64 / start.elapsed().as_secs_f64();
    report_rate(&format!("{name}/2_threads"), "seeds", rate, target);
}

fn simulator(c: &mut Criterion) {
    bench_ping_pong(c);
    bench_seeds(c);
}

criterion_group!(benches, simulator);
criterion_main!(benches);
