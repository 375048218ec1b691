//! Throughput of the executor: a two-task ping-pong over tokio mpsc channels.
//!
//! Run: `cargo test -p lockstep-sim --release --test throughput -- --ignored --nocapture`
#![expect(
    clippy::disallowed_methods,
    reason = "measures wall-clock throughput of the simulator itself"
)]

mod support;

use lockstep_sim::{Config, World};

// Goal: measure simulated messages per wall second (target ≥ 2 M in release).
// Method: ping-pong 2 M messages in one world and time it on the real clock.
#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn ping_pong_messages_per_second() {
    let messages = 2_000_000;
    let mut world = World::new(Config::with_seed(1).steps_max(u64::MAX));
    let start = std::time::Instant::now();
    let count = world
        .run(support::ping_pong(messages))
        .expect("ping-pong passes");
    let elapsed = start.elapsed();
    assert_eq!(count, messages);
    let rate = messages as f64 / elapsed.as_secs_f64();
    println!(
        "ping-pong: {messages} messages, {} polls in {elapsed:?}: {:.2} M msgs/s",
        world.steps(),
        rate / 1e6
    );
}
