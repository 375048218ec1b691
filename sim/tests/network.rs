//! The modelled network's per-path order (NET-1): a burst sent in one
//! instant arrives in send order; with zero latency messages arrive within
//! the send, and must still never overtake a message that is travelling or
//! held on the same path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::{Actor, ActorRef, Context, Handler, HandlerError, ProcConfig};
use lockstep_sim::net::{Latency, Network, NetworkConfig};
use lockstep_sim::{Config, World};

#[derive(Debug)]
struct Collector(Arc<Mutex<Vec<u64>>>);

impl Actor for Collector {}

impl Handler<u64> for Collector {
    async fn handle(&mut self, _cx: &Context<Self>, value: u64) -> Result<(), HandlerError> {
        self.0.lock().expect("not poisoned").push(value);
        Ok(())
    }
}

lockstep::export!(Collector: u64);

/// Sends 0..300 from proc `a` to a collector on proc `b` (reorder buffer
/// off, so only the network's order shows), cutting `a → b` for the middle
/// hundred; with `loss`, lost frames are retransmitted 1 ms later, so
/// delayed messages travel while later ones could arrive at once. Returns
/// what the collector saw.
fn received_in_world(seed: u64, latency: Duration, loss: f64) -> Vec<u64> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    World::new(Config::with_seed(seed))
        .run(async move {
            let network = Network::new(
                NetworkConfig {
                    latency: Latency::Fixed(latency),
                    frame_loss_probability: loss,
                    retransmit_delay: Duration::from_millis(1),
                    ..NetworkConfig::default()
                },
                ProcConfig::default().with_reorder_buffer(false),
            );
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let collector: ActorRef<Collector> = b
                .spawn("collector", Collector(record.clone()))
                .unwrap()
                .bind();
            for value in 0..100 {
                collector.send(&client, value).unwrap();
            }
            network.partition("a", "b");
            for value in 100..200 {
                collector.send(&client, value).unwrap();
            }
            lockstep::time::sleep(Duration::from_millis(5)).await;
            network.heal("a", "b");
            for value in 200..300 {
                collector.send(&client, value).unwrap();
            }
            while record.lock().unwrap().len() < 300 {
                lockstep::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .expect("the world runs");
    let seen = seen.lock().unwrap();
    seen.clone()
}

/// NET-1: with zero latency and one path, every message arrives exactly
/// once and in send order, across a partition and its heal.
#[test]
fn net_1_zero_latency_keeps_send_order_across_a_partition() {
    for seed in 0..8 {
        let seen = received_in_world(seed, Duration::ZERO, 0.0);
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// NET-1: a message that could arrive at once still waits for the ones
/// ahead of it on its path that are being retransmitted.
#[test]
fn net_1_zero_latency_messages_wait_behind_retransmitted_ones() {
    for seed in 0..8 {
        let seen = received_in_world(seed, Duration::ZERO, 0.3);
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// NET-1: a burst sent in one virtual instant over a 1 ms path arrives in
/// send order (all share one arrival time; the path's courier keeps order).
#[test]
fn net_1_a_burst_over_a_slow_path_arrives_in_send_order() {
    for seed in 0..8 {
        let seen = received_in_world(seed, Duration::from_millis(1), 0.0);
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "seed {seed}");
    }
}
