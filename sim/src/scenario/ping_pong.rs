//! `ping-pong`: two actors on two procs pass a ball over the faulty network.

use std::time::Duration;

use lockstep::{Actor, ActorRef, Context, Handler, HandlerError, OncePortRef};
use serde::{Deserialize, Serialize};

use super::{Scenario, ScenarioContext, ScenarioFuture};
use crate::fault::drive_partitions;

/// Two procs, one player each, a ball passed `20 × size` times.
pub struct PingPongAcrossProcs;

#[derive(Debug)]
struct Player;

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
            done.send(cx, left)?;
        } else {
            peer.send(cx, Ball(left - 1, cx.bind(), done))?;
        }
        Ok(())
    }
}

lockstep::export!(Player: Ball);

impl Scenario for PingPongAcrossProcs {
    fn name(&self) -> &'static str {
        "ping-pong"
    }

    fn summary(&self) -> &'static str {
        "two actors on two procs pass a ball across the faulty network"
    }

    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(async move {
            let network = context.network;
            let left = network.proc("p0");
            let right = network.proc("p1");
            drop(lockstep::rt::spawn(
                "faults:partitions",
                drive_partitions(network.clone(), network.proc_names(), context.mix.clone()),
            ));
            let (client, _client) = left.instance("client").map_err(|error| error.to_string())?;
            let ping = left
                .spawn("ping", Player)
                .map_err(|error| error.to_string())?;
            let pong = right
                .spawn("pong", Player)
                .map_err(|error| error.to_string())?;
            let hits = 20 * u64::from(context.mix.size);
            let (done, finished) = client.open_once_port::<u64>();
            ping.send(&client, Ball(hits, pong.bind(), done.bind()))
                .map_err(|error| error.to_string())?;
            let budget = context.mix.fault_window + Duration::from_secs(120);
            match lockstep::time::timeout(budget, finished.recv()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(format!("the game's done port closed: {error}")),
                Err(_) => Err(format!("the ball did not come back within {budget:?}")),
            }
        })
    }
}
