//! Two actors pass a ball back and forth: once on tokio, then inside the
//! deterministic simulator for a few seeds, printing each run's trace hash.
//!
//! Run: `cargo run --example ping_pong` (optionally `-- <rounds> <seeds>`).

use lockstep::{Actor, ActorRef, Context, Handler, HandlerError, OncePortRef, Proc};
use serde::{Deserialize, Serialize};

#[derive(Debug)]
struct Player;

/// The ball: hits left, who to pass it to, and where to report the last hit.
#[derive(Debug, Serialize, Deserialize)]
struct Ball(u64, ActorRef<Player>, OncePortRef<u64>);

impl Actor for Player {}

impl Handler<Ball> for Player {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Ball(left, peer, done): Ball,
    ) -> Result<(), HandlerError> {
        if left == 0 {
            done.send(cx, lockstep::time::now().since_epoch().as_micros() as u64)?;
        } else {
            peer.send(cx, Ball(left - 1, cx.bind(), done))?;
        }
        Ok(())
    }
}

lockstep::export!(Player: Ball);

/// One game: returns the virtual (or real) microseconds it took.
async fn game(rounds: u64) -> u64 {
    let proc = Proc::local();
    let (client, _client) = proc.instance("client").expect("client instance");
    let ping = proc.spawn("ping", Player).expect("spawn ping");
    let pong = proc.spawn("pong", Player).expect("spawn pong");
    let (done, finished) = client.open_once_port();
    ping.send(&client, Ball(rounds, pong.bind(), done.bind()))
        .expect("serve");
    finished.recv().await.expect("the game ends")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u64 = args
        .next()
        .map_or(1_000, |text| text.parse().expect("rounds: a number"));
    let seeds: u64 = args
        .next()
        .map_or(5, |text| text.parse().expect("seeds: a number"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    runtime.block_on(game(rounds));
    println!("tokio:     {rounds} hits between local.ping[0] and local.pong[0], ball came back");

    for seed in 1..=seeds {
        let mut world = lockstep_sim::World::new(lockstep_sim::Config::with_seed(seed));
        match world.run(game(rounds)) {
            Ok(_) => println!(
                "simulator: seed {seed}: {rounds} hits in {} scheduling steps, trace-hash {:016x}",
                world.steps(),
                world.trace_hash()
            ),
            Err(failure) => {
                eprintln!("simulator: seed {seed} failed: {failure}");
                std::process::exit(1);
            }
        }
    }
    println!("replay any seed and you get the same trace hash, bit for bit.");
}
