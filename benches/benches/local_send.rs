//! Local sends: lockstep actors against raw tokio channels, in the same run.
//!
//! - `one_way`: a client sends [`MESSAGES`] `u64`s through a cached
//!   `PortHandle<u64>`; the actor counts them and signals when it has seen
//!   them all. Baseline: an `mpsc::unbounded_channel` and a spawned task that
//!   counts the same way. Target: ≤ 2× the baseline.
//! - `ping_pong`: two actors pass a counter back and forth through handle
//!   sends ([`ROUND_TRIPS`] round trips). Baseline: two tasks over two raw
//!   unbounded channels. Target: ≤ 2.5× the baseline.
//!
//! Each runs on a current-thread runtime and on a 2-worker multi-thread
//! runtime. The unbound handle sends are `Direct` (no sequencing); the
//! sequenced path is measured in `sequencing.rs`.
//!
//! Each pair runs as two criterion benchmarks, then in alternating rounds;
//! the `ratio:` line uses each side's fastest round (see the
//! `lockstep_benches` crate docs for why). Run: `cargo bench -p lockstep-benches`.

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lockstep::Proc;
use lockstep_benches::Target;
use lockstep_benches::workloads::{
    STOP, count_batches, players_ping_pong, raw_counter, raw_player,
};
use support::{Plan, compare};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Messages per one-way iteration.
const MESSAGES: u64 = 10_000;
/// Round trips (two hops each) per ping-pong iteration.
const ROUND_TRIPS: u64 = 5_000;
const ONE_WAY_RATIO_MAX: f64 = 2.0;
const PING_PONG_RATIO_MAX: f64 = 2.5;

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a 2-worker runtime")
}

async fn one_way_lockstep(iterations: u64) -> Duration {
    count_batches(&Proc::local(), MESSAGES, false, iterations).await
}

async fn one_way_raw(iterations: u64) -> Duration {
    let (done, mut finished) = mpsc::unbounded_channel();
    let (sender, receiver) = mpsc::unbounded_channel::<u64>();
    let counter = tokio::spawn(raw_counter(MESSAGES, receiver, done));
    let start = Instant::now();
    for _ in 0..iterations {
        for message in 0..MESSAGES {
            sender.send(message).expect("the counter is alive");
        }
        finished.recv().await.expect("the counter signals");
    }
    let elapsed = start.elapsed();
    drop(sender);
    counter.await.expect("the counter ends");
    elapsed
}

async fn ping_pong_lockstep(iterations: u64) -> Duration {
    players_ping_pong(&Proc::local(), 2 * ROUND_TRIPS, iterations).await
}

async fn ping_pong_raw(iterations: u64) -> Duration {
    let (done, mut finished) = mpsc::unbounded_channel();
    let (to_ping, ping_inbox) = mpsc::unbounded_channel();
    let (to_pong, pong_inbox) = mpsc::unbounded_channel();
    let ping = tokio::spawn(raw_player(ping_inbox, to_pong, done.clone()));
    let pong = tokio::spawn(raw_player(pong_inbox, to_ping.clone(), done));
    let start = Instant::now();
    for _ in 0..iterations {
        to_ping.send(2 * ROUND_TRIPS).expect("ping is alive");
        finished.recv().await.expect("a player signals");
    }
    let elapsed = start.elapsed();
    to_ping.send(STOP).expect("ping is alive");
    ping.await.expect("ping ends");
    pong.await.expect("pong ends");
    elapsed
}

fn local_send(c: &mut Criterion) {
    let runtimes = [
        ("current_thread", current_thread()),
        ("multi_thread_2", multi_thread()),
    ];
    for (flavor, runtime) in &runtimes {
        compare(
            c,
            &format!("local_send/one_way/{flavor}"),
            Plan::new(MESSAGES, 4),
            ("lockstep_port", |n| runtime.block_on(one_way_lockstep(n))),
            ("raw_mpsc", |n| runtime.block_on(one_way_raw(n))),
            Some(Target::AtMost(ONE_WAY_RATIO_MAX)),
        );
    }
    for (flavor, runtime) in &runtimes {
        // "msg" in the ratio line is one round trip (two hops).
        compare(
            c,
            &format!("local_send/ping_pong/{flavor}"),
            Plan::new(ROUND_TRIPS, 3),
            ("lockstep_handles", |n| {
                runtime.block_on(ping_pong_lockstep(n))
            }),
            ("raw_mpsc", |n| runtime.block_on(ping_pong_raw(n))),
            Some(Target::AtMost(PING_PONG_RATIO_MAX)),
        );
    }
}

criterion_group!(benches, local_send);
criterion_main!(benches);
