//! The cost of ordering: the destination reorder buffer on vs off, and the
//! pure buffer's release cost for shuffled vs in-order sessions.
//!
//! - `in_order`: a client sends [`MESSAGES`] sequenced `u64`s (the actor is
//!   bound, so every handle send is stamped) to an actor on a proc with the
//!   reorder buffer on, and on a proc with it off (both via `ProcConfig`).
//!   Both pay the sequencer; only the "on" side pays the ordering stage.
//!   Target: ≤ 10% overhead (ratio ≤ 1.10).
//! - `reorder_buffer`: one session of [`MESSAGES`] items pushed straight into
//!   `lockstep::sequencing::ReorderBuffer`, in order, fully shuffled (most
//!   items spill into the ordered map), and shuffled within windows of 64
//!   (every gap fits the ring). Reported as cost per message and as a ratio
//!   to in-order; no target, it is the price list of the buffer.
//!
//! Each pair runs as two criterion benchmarks, then in alternating rounds;
//! the `ratio:` line uses each side's fastest round (see the
//! `lockstep_benches` crate docs for why). Run: `cargo bench -p lockstep-benches`.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lockstep::sequencing::{ReorderBuffer, ReorderLimits};
use lockstep::{Proc, ProcConfig, ProcId};
use lockstep_benches::Target;
use lockstep_benches::workloads::count_batches;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use support::{Plan, compare};
use tokio::runtime::Runtime;

/// Messages per iteration (one session).
const MESSAGES: u64 = 10_000;
/// Reorder buffer on / off, in-order traffic.
const OVERHEAD_RATIO_MAX: f64 = 1.10;
/// The session id every pure push uses.
const SESSION: u64 = 0x5e55;

async fn in_order(reorder_buffer: bool, iterations: u64) -> Duration {
    let config = ProcConfig::default().with_reorder_buffer(reorder_buffer);
    let proc_id = ProcId::local("bench").expect("a valid name");
    // Nothing leaves this proc; the forwarder is never used.
    let proc = Proc::with_config(proc_id, Proc::local(), config);
    count_batches(&proc, MESSAGES, true, iterations).await
}

fn bench_in_order(c: &mut Criterion, flavor: &str, runtime: &Runtime) {
    compare(
        c,
        &format!("sequencing/in_order/{flavor}"),
        Plan::new(MESSAGES, 4),
        ("reorder_buffer_on", |n| runtime.block_on(in_order(true, n))),
        ("reorder_buffer_off", |n| {
            runtime.block_on(in_order(false, n))
        }),
        Some(Target::AtMost(OVERHEAD_RATIO_MAX)),
    );
}

/// Push one whole session, in `order`, into a fresh buffer; returns the time.
fn push_session(order: &[u64], iterations: u64) -> Duration {
    let mut released = Vec::with_capacity(order.len());
    let start = Instant::now();
    for _ in 0..iterations {
        let mut buffer = ReorderBuffer::new(ReorderLimits::default());
        let mut total = 0;
        for &seq in order {
            buffer
                .push(SESSION, seq, seq, &mut released)
                .expect("within limits");
            // The consumer takes what was released.
            total += released.len();
            released.clear();
        }
        assert_eq!(total, order.len(), "every item released");
        black_box(&buffer);
    }
    start.elapsed()
}

fn bench_reorder_buffer(c: &mut Criterion) {
    let in_order: Vec<u64> = (1..=MESSAGES).collect();
    let mut rng = StdRng::seed_from_u64(1);
    let mut shuffled = in_order.clone();
    shuffled.shuffle(&mut rng);
    let ring = ReorderLimits::default().ring_messages_max;
    let mut window_shuffled = in_order.clone();
    for window in window_shuffled.chunks_mut(ring) {
        window.shuffle(&mut rng);
    }
    for (label, order) in [
        ("shuffled", &shuffled),
        ("window_shuffled_64", &window_shuffled),
    ] {
        compare(
            c,
            &format!("sequencing/reorder_buffer/{label}"),
            Plan::new(MESSAGES, 20),
            (label, |n| push_session(order, n)),
            ("in_order", |n| push_session(&in_order, n)),
            None,
        );
    }
}

fn sequencing(c: &mut Criterion) {
    let current_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    bench_in_order(c, "current_thread", &current_thread);
    let multi_thread = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a 2-worker runtime");
    bench_in_order(c, "multi_thread_2", &multi_thread);
    bench_reorder_buffer(c);
}

criterion_group!(benches, sequencing);
criterion_main!(benches);
