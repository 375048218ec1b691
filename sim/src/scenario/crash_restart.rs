//! `crash-restart`: checkpoints, proc crashes and restart from the last
//! checkpoint (DESIGN §3 Checkpointing; NET-4), with request/response over
//! the faulty network.
//!
//! A checkpointable `Counter` lives on proc `store`; a client on proc `app`
//! sends it numbered increments one at a time and waits for each
//! acknowledgement (a once-port reply). Every few acknowledged increments the
//! app takes a checkpoint (`ActorHandle::checkpoint`). At seed-chosen points
//! the scenario crashes `store` — possibly mid-request or mid-checkpoint —
//! and the app sees an undeliverable return or a timeout. It then restarts
//! the proc, spawns the counter from the last checkpoint (`spawn_loaded`),
//! replays the increments acknowledged since that checkpoint, and goes on.
//! Checks: every acknowledgement reports exactly the sum of the increments
//! up to it (none lost, none applied twice), and at the end the counter's
//! total is the sum of all increments.
//!
//! Increments carry ids and the counter applies each id once, so a retry
//! after a timeout, or a network duplicate, never counts twice.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use futures::future::{Either, select};
use lockstep::{
    Actor, ActorHandle, ActorRef, Context, Handler, HandlerError, Instance, MessageEnvelope,
    OncePortRef, Proc, Undeliverable,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

use super::support::{flight_time_max, restart_quiet_time, until};
use super::{Scenario, ScenarioContext, ScenarioFuture};
use crate::fault::drive_partitions;
use crate::net::Network;

/// A counter on `store`, crashed and restarted from checkpoints.
pub struct CrashRestart;

/// The counter's whole state; `Clone + Serialize`, so it is its own checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    total: u64,
    /// Every increment with an id up to this one has been applied.
    applied_through: u64,
}

/// Add `amount`, once per `id`; acknowledge on `reply`.
#[derive(Debug, Serialize, Deserialize)]
struct Increment {
    id: u64,
    amount: u64,
    reply: OncePortRef<Ack>,
}

/// The counter after increment `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Ack {
    id: u64,
    total: u64,
}

impl Actor for Counter {
    /// The counter's only sends are acknowledgements. One comes back when
    /// the app stopped waiting for it (it timed out and retried, or moved to
    /// a new session after a restart) or when a network duplicate of the
    /// request or the reply found the once port already used. The request
    /// was applied either way and the app retries what it did not see
    /// acknowledged, so a returned acknowledgement is ignored; any other
    /// return fails the counter, as by default.
    async fn handle_undeliverable_message(
        &mut self,
        _this: &Instance<Self>,
        undeliverable: Undeliverable<MessageEnvelope>,
    ) -> Result<(), HandlerError> {
        if undeliverable.message.type_name() == std::any::type_name::<Ack>() {
            return Ok(());
        }
        Err(HandlerError::msg(undeliverable))
    }
}

impl Handler<Increment> for Counter {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Increment { id, amount, reply }: Increment,
    ) -> Result<(), HandlerError> {
        if id == self.applied_through + 1 {
            self.total += amount;
            self.applied_through = id;
        } else if id > self.applied_through + 1 {
            lockstep::bail!(
                "increment {id} arrived before {}: the app never sends ahead",
                self.applied_through + 1
            );
        }
        // id <= applied_through: a retry or a copy; acknowledge again.
        reply.send(
            cx,
            Ack {
                id,
                total: self.total,
            },
        )?;
        Ok(())
    }
}

lockstep::export!(Counter: Increment);

/// The app's view of the current counter incarnation.
struct Store {
    handle: ActorHandle<Counter>,
    target: ActorRef<Counter>,
    client: Instance<()>,
    returns: UnboundedReceiver<Undeliverable<MessageEnvelope>>,
}

/// Start a counter incarnation from `state`, and a fresh app session for it.
///
/// A fresh session (a new client instance) matters: the restarted counter has
/// the same actor id, and its reorder buffer expects seq 1 from every
/// session; the old session's counter to that id would never be released.
fn incarnation(
    proc: Proc,
    app: &Proc,
    generation: u32,
    state: Option<Counter>,
) -> Result<Store, String> {
    let handle = match state {
        Some(state) => proc.spawn_loaded::<Counter>("counter", state),
        None => proc.spawn("counter", Counter::default()),
    }
    .map_err(|error| error.to_string())?;
    let target = handle.bind();
    let (client, _) = app
        .instance(&format!("client{generation}"))
        .map_err(|error| error.to_string())?;
    let returns = client
        .take_undeliverable_receiver()
        .ok_or("the client's undeliverable queue was taken")?;
    Ok(Store {
        handle,
        target,
        client,
        returns,
    })
}

/// Why a request got no acknowledgement.
enum NoAck {
    Returned(String),
    TimedOut,
}

/// Send increment `id` and wait for its acknowledgement.
async fn request(store: &mut Store, id: u64, amount: u64, wait: Duration) -> Result<Ack, NoAck> {
    let (reply, answer) = store.client.open_once_port::<Ack>();
    let increment = Increment {
        id,
        amount,
        reply: reply.bind(),
    };
    if let Err(error) = store.target.send(&store.client, increment) {
        return Err(NoAck::Returned(error.to_string()));
    }
    let counter = store.target.actor_id().clone();
    let returns = &mut store.returns;
    let returned = async move {
        loop {
            match returns.recv().await {
                Some(back) if back.message.dest().actor_id() == &counter => {
                    return back.to_string();
                }
                Some(_) => continue,
                None => return "the client's undeliverable queue closed".to_owned(),
            }
        }
    };
    let outcome =
        lockstep::time::timeout(wait, select(Box::pin(answer.recv()), Box::pin(returned)));
    match outcome.await {
        Ok(Either::Left((Ok(ack), _))) => Ok(ack),
        Ok(Either::Left((Err(error), _))) => Err(NoAck::Returned(error.to_string())),
        Ok(Either::Right((back, _))) => Err(NoAck::Returned(back)),
        Err(_) => Err(NoAck::TimedOut),
    }
}

fn is_up(network: &Network, store: &Store) -> bool {
    network.lookup("store").is_some() && !store.handle.cell().status().is_terminal()
}

impl Scenario for CrashRestart {
    fn name(&self) -> &'static str {
        "crash-restart"
    }

    fn summary(&self) -> &'static str {
        "a checkpointed counter's proc crashes and restarts from its last checkpoint; no increment is lost or doubled"
    }

    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(async move {
            let network = context.network;
            let mix = context.mix;
            // Over the session protocol a crashed store stays down longer
            // (`restart_quiet_time`): up to three restarts get that extra.
            let extra_downtime = restart_quiet_time(&mix).saturating_sub(flight_time_max(&mix));
            let deadline = lockstep::time::now()
                + mix.fault_window
                + Duration::from_secs(120)
                + 3 * extra_downtime;
            let store_proc = network.proc("store");
            let app = network.proc("app");
            drop(lockstep::rt::spawn(
                "faults:partitions",
                drive_partitions(network.clone(), network.proc_names(), mix.clone()),
            ));
            let flight = flight_time_max(&mix);
            let wait = 2 * flight + Duration::from_secs(1);

            let count = 15 + 3 * u64::from(mix.size);
            let amounts: Vec<u64> = (0..count)
                .map(|_| 1 + lockstep::random::below(100))
                .collect();
            // prefix[id] = sum of the first `id` increments.
            let prefix: Vec<u64> = std::iter::once(0)
                .chain(amounts.iter().scan(0, |sum, amount| {
                    *sum += amount;
                    Some(*sum)
                }))
                .collect();
            let crashes = if mix.crashes {
                1 + lockstep::random::below(3)
            } else {
                1
            };
            let mut crash_at: BTreeSet<u64> = BTreeSet::new();
            while (crash_at.len() as u64) < crashes {
                crash_at.insert(1 + lockstep::random::below(count));
            }
            let checkpoint_every = 2 + lockstep::random::below(5);

            let mut generation = 0;
            let mut store = incarnation(store_proc, &app, generation, None)?;
            let mut checkpoint = Counter::default();
            let mut acked_since_checkpoint: Vec<(u64, u64)> = Vec::new();
            let mut replay: VecDeque<(u64, u64)> = VecDeque::new();
            let mut pending_crash = None;
            let mut old_sessions = Vec::new();
            let mut next_id = 1;
            let mut restarts = 0;
            let mut retries = 0;

            loop {
                if lockstep::time::now() >= deadline {
                    return Err(format!(
                        "out of time at increment {next_id} of {count} after {restarts} restarts"
                    ));
                }
                let up = is_up(&network, &store);
                let (id, amount) = match replay.front() {
                    Some(next) if up => *next,
                    None if up && next_id <= count => (next_id, amounts[next_id as usize - 1]),
                    _ => {
                        // Nothing to send now: either all is done, or the
                        // store is down. Let a scheduled crash happen first.
                        if let Some(crash) = pending_crash.take() {
                            let _ = crash.await;
                            continue;
                        }
                        if up {
                            break;
                        }
                        // Down: wait until nothing addressed to the old
                        // incarnation can still arrive, then restart it from
                        // the last checkpoint and replay what came after.
                        lockstep::time::sleep(restart_quiet_time(&mix)).await;
                        restarts += 1;
                        generation += 1;
                        let proc = network.restart("store");
                        let previous = std::mem::replace(
                            &mut store,
                            incarnation(proc, &app, generation, Some(checkpoint.clone()))?,
                        );
                        old_sessions.push(previous.client);
                        replay = acked_since_checkpoint.iter().copied().collect();
                        continue;
                    }
                };
                if replay.is_empty() && crash_at.remove(&id) {
                    // Crash soon: before, during or after this request.
                    let delay = Duration::from_micros(lockstep::random::below(100_000));
                    let network = network.clone();
                    pending_crash = Some(lockstep::rt::spawn("faults:crash", async move {
                        lockstep::time::sleep(delay).await;
                        network.crash("store");
                    }));
                }
                let ack = match request(&mut store, id, amount, wait).await {
                    Ok(ack) => ack,
                    Err(why) => {
                        retries += 1;
                        if retries > 1000 {
                            let why = match why {
                                NoAck::Returned(back) => back,
                                NoAck::TimedOut => format!("no answer within {wait:?}"),
                            };
                            return Err(format!("increment {id} keeps failing: {why}"));
                        }
                        continue; // retry, or restart if the store is down
                    }
                };
                if ack.id != id || ack.total != prefix[id as usize] {
                    return Err(format!(
                        "increment {id} acknowledged as {ack:?}, expected total {} \
                         (an increment was lost or applied twice; {restarts} restarts)",
                        prefix[id as usize]
                    ));
                }
                if replay.front() == Some(&(id, amount)) {
                    replay.pop_front();
                    continue;
                }
                acked_since_checkpoint.push((id, amount));
                next_id += 1;
                if id % checkpoint_every == 0 {
                    // Only if the store is still up; a crash mid-checkpoint
                    // keeps the previous one.
                    if let Ok(saved) = store.handle.checkpoint().await {
                        if saved.applied_through != id || saved.total != prefix[id as usize] {
                            return Err(format!(
                                "checkpoint after increment {id} saved {saved:?}, expected total {}",
                                prefix[id as usize]
                            ));
                        }
                        checkpoint = saved;
                        acked_since_checkpoint.clear();
                    }
                }
            }

            let last = until(deadline, "the final checkpoint", store.handle.checkpoint())
                .await?
                .map_err(|error| format!("the final checkpoint failed: {error}"))?;
            let expected = prefix[count as usize];
            if last.total != expected || last.applied_through != count {
                return Err(format!(
                    "lost or doubled increments: the counter ends at {last:?}, expected total \
                     {expected} through {count} ({restarts} restarts)"
                ));
            }
            if restarts == 0 {
                return Err("the store was never restarted".into());
            }
            drop(old_sessions);
            Ok(())
        })
    }
}
