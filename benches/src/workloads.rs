//! The actors and raw tasks the benchmarks share, so each workload has one
//! definition and its baseline sits right beside it.
//!
//! - [`Counter`] / [`raw_counter`]: count `u64`s, signal after every `batch`.
//! - [`Player`] / [`raw_player`]: pass a countdown to a peer; signal at 0.
//! - [`RemotePlayer`]: [`Player`] with an [`ActorRef`] peer, so every hop is
//!   serialized and leaves through the proc's forwarder (across procs).
//!
//! And the drivers that time them: [`count_batches`] (a client streams to a
//! [`Counter`]) and [`players_ping_pong`] (a countdown between two
//! [`Player`]s).

use std::hint::black_box;
use std::time::{Duration, Instant};

use lockstep::{Actor, ActorHandle, ActorRef, Context, Handler, HandlerError, PortHandle, Proc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Counts `u64`s and signals `done` after every `batch` of them.
#[derive(Debug)]
pub struct Counter {
    batch: u64,
    seen: u64,
    done: mpsc::UnboundedSender<()>,
}

impl Counter {
    /// A counter that signals `done` after every `batch` messages.
    pub fn new(batch: u64, done: mpsc::UnboundedSender<()>) -> Self {
        Self {
            batch,
            seen: 0,
            done,
        }
    }
}

impl Actor for Counter {}

impl Handler<u64> for Counter {
    async fn handle(&mut self, _cx: &Context<Self>, message: u64) -> Result<(), HandlerError> {
        black_box(message);
        self.seen += 1;
        if self.seen % self.batch == 0 {
            self.done.send(())?;
        }
        Ok(())
    }
}

lockstep::export!(Counter: u64);

/// [`Counter`]'s baseline: the same count over a raw channel, as a task.
pub async fn raw_counter(
    batch: u64,
    mut inbox: mpsc::UnboundedReceiver<u64>,
    done: mpsc::UnboundedSender<()>,
) {
    let mut seen = 0u64;
    while let Some(message) = inbox.recv().await {
        black_box(message);
        seen += 1;
        if seen % batch == 0 && done.send(()).is_err() {
            return;
        }
    }
}

/// The countdown both players run: pass `remaining - 1` to the peer, or
/// signal `done` at 0.
#[derive(Debug)]
struct Countdown<P> {
    peer: Option<P>,
    done: mpsc::UnboundedSender<()>,
}

impl<P> Countdown<P> {
    fn new(done: mpsc::UnboundedSender<()>) -> Self {
        Self { peer: None, done }
    }

    fn hop(
        &self,
        remaining: u64,
        pass: impl FnOnce(&P, u64) -> Result<(), HandlerError>,
    ) -> Result<(), HandlerError> {
        match (remaining, &self.peer) {
            (0, _) => self.done.send(())?,
            (_, Some(peer)) => pass(peer, remaining - 1)?,
            (_, None) => lockstep::bail!("no peer yet"),
        }
        Ok(())
    }
}

/// Passes a countdown to its peer until it reaches 0, then signals `done`.
#[derive(Debug)]
pub struct Player(Countdown<PortHandle<u64>>);

impl Player {
    /// A player with no peer yet (send it a [`Peer`]).
    pub fn new(done: mpsc::UnboundedSender<()>) -> Self {
        Self(Countdown::new(done))
    }
}

impl Actor for Player {}

/// Introduces a [`Player`]'s peer.
#[derive(Debug)]
pub struct Peer(pub PortHandle<u64>);

impl Handler<Peer> for Player {
    async fn handle(&mut self, _cx: &Context<Self>, Peer(peer): Peer) -> Result<(), HandlerError> {
        self.0.peer = Some(peer);
        Ok(())
    }
}

impl Handler<u64> for Player {
    async fn handle(&mut self, cx: &Context<Self>, remaining: u64) -> Result<(), HandlerError> {
        self.0.hop(remaining, |peer, next| Ok(peer.send(cx, next)?))
    }
}

/// [`Player`] across procs: the countdown goes to an [`ActorRef`], so each
/// hop is encoded, routed by the sending proc's forwarder and decoded.
#[derive(Debug)]
pub struct RemotePlayer(Countdown<ActorRef<RemotePlayer>>);

impl RemotePlayer {
    /// A player with no peer yet (send it a [`RemotePeer`]).
    pub fn new(done: mpsc::UnboundedSender<()>) -> Self {
        Self(Countdown::new(done))
    }
}

impl Actor for RemotePlayer {}

/// Introduces a [`RemotePlayer`]'s peer.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemotePeer(pub ActorRef<RemotePlayer>);

impl Handler<RemotePeer> for RemotePlayer {
    async fn handle(
        &mut self,
        _cx: &Context<Self>,
        RemotePeer(peer): RemotePeer,
    ) -> Result<(), HandlerError> {
        self.0.peer = Some(peer);
        Ok(())
    }
}

impl Handler<u64> for RemotePlayer {
    async fn handle(&mut self, cx: &Context<Self>, remaining: u64) -> Result<(), HandlerError> {
        self.0.hop(remaining, |peer, next| Ok(peer.send(cx, next)?))
    }
}

lockstep::export!(RemotePlayer: u64, RemotePeer);

/// Sent to a [`raw_player`] to stop it (it passes the stop on first).
pub const STOP: u64 = u64::MAX;

/// [`Player`]'s baseline: the same countdown over raw channels, as a task.
pub async fn raw_player(
    mut inbox: mpsc::UnboundedReceiver<u64>,
    peer: mpsc::UnboundedSender<u64>,
    done: mpsc::UnboundedSender<()>,
) {
    while let Some(remaining) = inbox.recv().await {
        match remaining {
            STOP => {
                let _ = peer.send(STOP);
                return;
            }
            0 => {
                if done.send(()).is_err() {
                    return;
                }
            }
            _ => {
                if peer.send(remaining - 1).is_err() {
                    return;
                }
            }
        }
    }
}

/// Spawns a [`Counter`] on `proc`, then times `iterations` batches of
/// `batch` sends from a client through the counter's `u64` port (bound
/// first, so sends are sequenced, when `sequenced`); stops the counter.
pub async fn count_batches(proc: &Proc, batch: u64, sequenced: bool, iterations: u64) -> Duration {
    let (client, _client_handle) = proc.instance("client").expect("a client");
    let (done, mut finished) = mpsc::unbounded_channel();
    let counter = proc
        .spawn("counter", Counter::new(batch, done))
        .expect("spawn");
    let _reference = sequenced.then(|| counter.bind::<Counter>());
    let port = counter.port::<u64>();
    assert_eq!(port.is_bound(), sequenced, "sends are sequenced iff bound");
    let elapsed = time_batches(iterations, &mut finished, || {
        for message in 0..batch {
            port.send(&client, message).expect("the counter is alive");
        }
    })
    .await;
    stop_all([counter]).await;
    elapsed
}

/// Spawns two [`Player`]s on `proc`, then times `iterations` countdowns of
/// `hops` hops between them; stops both.
pub async fn players_ping_pong(proc: &Proc, hops: u64, iterations: u64) -> Duration {
    let (client, _client_handle) = proc.instance("client").expect("a client");
    let (done, mut finished) = mpsc::unbounded_channel();
    let ping = proc
        .spawn("ping", Player::new(done.clone()))
        .expect("spawn");
    let pong = proc.spawn("pong", Player::new(done)).expect("spawn");
    ping.send(&client, Peer(pong.port()))
        .expect("ping is alive");
    pong.send(&client, Peer(ping.port()))
        .expect("pong is alive");
    let serve = ping.port::<u64>();
    let elapsed = time_batches(iterations, &mut finished, || {
        serve.send(&client, hops).expect("ping is alive");
    })
    .await;
    stop_all([ping, pong]).await;
    elapsed
}

/// Wall time of `iterations` rounds: `start_round`, then wait for one
/// signal on `finished`.
pub async fn time_batches(
    iterations: u64,
    finished: &mut mpsc::UnboundedReceiver<()>,
    mut start_round: impl FnMut(),
) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        start_round();
        finished.recv().await.expect("the workload signals");
    }
    start.elapsed()
}

/// Drain and stop each of `actors`, waiting for each to end.
pub async fn stop_all<A: Actor>(actors: impl IntoIterator<Item = ActorHandle<A>>) {
    for actor in actors {
        actor.drain_and_stop("benchmark done").expect("stop");
        actor.await;
    }
}
