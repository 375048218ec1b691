//! `introspection`: asking actors what they are doing, over the faulty
//! network (DESIGN §3 Introspection: S1, S2, IA-1, IA-3, IA-4).
//!
//! Proc `p0` holds busy actors (handlers that sleep on virtual time, fed
//! chores by reference from `p1`), a wedged actor (its handler awaits
//! forever), an idle one and a stopped one. A client on `p1` queries them at
//! seed-chosen moments through `PortRef::<IntrospectMessage>::attest_message_port`.
//! Checks: every answer passes `check_invariants` and names the actor asked;
//! the wedged actor answers, `processing` (S1); busy actors answer `idle` or
//! `processing`; the stopped one's query comes back undeliverable (or is
//! answered `stopped`) and `p0` keeps a `stopped` terminated snapshot of it;
//! two back-to-back queries of the idle actor agree exactly (S2).

use std::time::Duration;

use futures::future::{Either, select};
use lockstep::introspect::{IntrospectMessage, IntrospectResult, IntrospectView, check_invariants};
use lockstep::{
    Actor, ActorId, ActorRef, ActorStatus, Context, Handler, HandlerError, Instance,
    MessageEnvelope, PortRef, Undeliverable,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

use super::support::{is_returned_reply, until};
use super::{Scenario, ScenarioContext, ScenarioFuture};
use crate::fault::drive_partitions;

/// Busy, wedged, idle and stopped actors, queried from another proc.
pub struct IntrospectionQueries;

/// Work that takes `ms` of virtual time.
#[derive(Debug, Serialize, Deserialize)]
struct Chore {
    ms: u64,
}

/// Does chores (sleeps on virtual time). Also the idle and stopped actors.
#[derive(Debug)]
struct Worker;

impl Actor for Worker {
    /// A worker sends nothing itself; what can come back to it is an
    /// introspection answer its runtime task sent in its name, when the
    /// network duplicated the query or the answer and the copy found the
    /// asker's once port already used. That is not the worker's failure, so
    /// it is ignored; anything else fails the worker, as by default.
    async fn handle_undeliverable_message(
        &mut self,
        _this: &Instance<Self>,
        undeliverable: Undeliverable<MessageEnvelope>,
    ) -> Result<(), HandlerError> {
        if is_returned_reply(&undeliverable)
            && undeliverable
                .message
                .type_name()
                .contains("IntrospectResult")
        {
            return Ok(());
        }
        Err(HandlerError::msg(undeliverable))
    }
}

impl Handler<Chore> for Worker {
    async fn handle(&mut self, _cx: &Context<Self>, chore: Chore) -> Result<(), HandlerError> {
        lockstep::time::sleep(Duration::from_millis(chore.ms)).await;
        Ok(())
    }
}

lockstep::export!(Worker: Chore);

/// Never finishes its first chore.
#[derive(Debug)]
struct Wedged;

impl Actor for Wedged {}

impl Handler<Chore> for Wedged {
    async fn handle(&mut self, _cx: &Context<Self>, _chore: Chore) -> Result<(), HandlerError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// What came of one query.
enum Reply {
    Answer(IntrospectResult),
    Returned(Undeliverable<MessageEnvelope>),
}

/// Query `target` from `client`; the answer, or the query coming back.
async fn query(
    client: &Instance<()>,
    returns: &mut UnboundedReceiver<Undeliverable<MessageEnvelope>>,
    target: &ActorId,
) -> Result<Reply, String> {
    let (reply, answer) = client.open_once_port::<IntrospectResult>();
    PortRef::<IntrospectMessage>::attest_message_port(target)
        .send(
            client,
            IntrospectMessage::Query {
                view: IntrospectView::Actor,
                reply: reply.bind(),
            },
        )
        .map_err(|error| format!("cannot query {target}: {error}"))?;
    let returned = async {
        loop {
            match returns.recv().await {
                Some(back)
                    if back.message.dest().actor_id() == target
                        && back.message.type_name().contains("IntrospectMessage") =>
                {
                    return Some(back);
                }
                Some(_) => continue, // a copy of an earlier query, or a chore
                None => return None,
            }
        }
    };
    match select(Box::pin(answer.recv()), Box::pin(returned)).await {
        Either::Left((Ok(result), _)) => Ok(Reply::Answer(result)),
        Either::Left((Err(error), _)) => {
            Err(format!("the answer port for {target} closed: {error}"))
        }
        Either::Right((Some(back), _)) => Ok(Reply::Returned(back)),
        Either::Right((None, _)) => Err("the client's undeliverable queue closed".into()),
    }
}

fn status_of(result: &IntrospectResult) -> String {
    result
        .attr("status")
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Query `target` and check the answer's invariants and identity.
async fn answer_of(
    client: &Instance<()>,
    returns: &mut UnboundedReceiver<Undeliverable<MessageEnvelope>>,
    target: &ActorId,
) -> Result<IntrospectResult, String> {
    match query(client, returns, target).await? {
        Reply::Answer(result) => {
            check_invariants(&result).map_err(|violation| format!("{target}: {violation}"))?;
            if result.identity != target.to_string() {
                return Err(format!("asked {target}, answered by {:?}", result.identity));
            }
            Ok(result)
        }
        Reply::Returned(back) => Err(format!("a query to live actor {target} came back: {back}")),
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Busy,
    Wedged,
    Idle,
    Stopped,
}

impl Scenario for IntrospectionQueries {
    fn name(&self) -> &'static str {
        "introspection"
    }

    fn summary(&self) -> &'static str {
        "a remote client queries busy, wedged, idle and stopped actors at random moments"
    }

    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(async move {
            let network = context.network.clone();
            let mix = context.mix.clone();
            let deadline = lockstep::time::now() + mix.fault_window + Duration::from_secs(120);
            let p0 = network.proc("p0");
            let p1 = network.proc("p1");
            drop(lockstep::rt::spawn(
                "faults:partitions",
                drive_partitions(network.clone(), network.proc_names(), mix.clone()),
            ));
            let err = |error: lockstep::ProcError| error.to_string();

            // p0: the actors to ask about.
            let (local, _local) = p0.instance("local").map_err(err)?;
            let busy: Vec<_> = (0..2 + mix.size / 2)
                .map(|index| p0.spawn(&format!("busy{index}"), Worker))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            let wedged = p0.spawn("wedged", Wedged).map_err(err)?;
            context.expect_wedged(wedged.actor_id());
            wedged
                .send(&local, Chore { ms: 0 })
                .map_err(|error| error.to_string())?;
            let idle = p0.spawn("idle", Worker).map_err(err)?;
            idle.send(&local, Chore { ms: 0 })
                .map_err(|error| error.to_string())?;
            let stopped = p0.spawn("stopped", Worker).map_err(err)?;
            stopped.stop("retired").map_err(|error| error.to_string())?;
            let mut settled = (wedged.status(), idle.status());
            until(deadline, "the wedged and idle actors to settle", async {
                let wedged = settled
                    .0
                    .wait_for(|status| matches!(status, ActorStatus::Processing(..)))
                    .await
                    .is_ok();
                let idle = settled
                    .1
                    .wait_for(|status| *status == ActorStatus::Idle)
                    .await
                    .is_ok();
                wedged && idle
            })
            .await?;
            // Busy actors too have started (an actor may start late —
            // `actor.slow_start` — and answers `initializing` until then).
            let mut started: Vec<_> = busy.iter().map(|handle| handle.status()).collect();
            until(deadline, "the busy actors to start", async {
                for status in &mut started {
                    let _ = status
                        .wait_for(|status| {
                            !matches!(
                                status,
                                ActorStatus::Created
                                    | ActorStatus::Initializing
                                    | ActorStatus::Loading(_)
                            )
                        })
                        .await;
                }
            })
            .await?;
            let stopped_status = until(deadline, "the stopped actor", stopped.clone()).await?;
            if !matches!(stopped_status, ActorStatus::Stopped(_)) {
                return Err(format!("the stopped actor ended {stopped_status}"));
            }

            // p1: a feeder keeps the busy actors busy, by reference.
            let (feeder, _feeder) = p1.instance("feeder").map_err(err)?;
            let busy_refs: Vec<ActorRef<Worker>> =
                busy.iter().map(|handle| handle.bind()).collect();
            drop(lockstep::rt::spawn("feeder", async move {
                for _ in 0..12 {
                    for target in &busy_refs {
                        let ms = 20 + lockstep::random::below(300);
                        if target.send(&feeder, Chore { ms }).is_err() {
                            return;
                        }
                    }
                    let gap = lockstep::random::below(400);
                    lockstep::time::sleep(Duration::from_millis(gap)).await;
                }
                // Keep the session alive while its chores are in flight.
                std::future::pending::<()>().await;
            }));

            // p1: the asker.
            let (client, _client) = p1.instance("inspector").map_err(err)?;
            let mut returns = client
                .take_undeliverable_receiver()
                .ok_or("the inspector's undeliverable queue was taken")?;
            let mut targets: Vec<(Kind, ActorId)> = busy
                .iter()
                .map(|handle| (Kind::Busy, handle.actor_id().clone()))
                .collect();
            targets.push((Kind::Wedged, wedged.actor_id().clone()));
            targets.push((Kind::Idle, idle.actor_id().clone()));
            targets.push((Kind::Stopped, stopped.actor_id().clone()));

            let queries = 12 + 2 * mix.size;
            for _ in 0..queries {
                let gap = lockstep::random::below(400);
                lockstep::time::sleep(Duration::from_millis(gap)).await;
                let (kind, target) =
                    &targets[lockstep::random::below(targets.len() as u64) as usize];
                let what = format!("an answer from {target}");
                match kind {
                    Kind::Busy => {
                        let result =
                            until(deadline, &what, answer_of(&client, &mut returns, target))
                                .await??;
                        let status = status_of(&result);
                        if status != "idle" && !status.starts_with("processing") {
                            return Err(format!("busy actor {target} answered status {status:?}"));
                        }
                    }
                    Kind::Wedged => {
                        let result =
                            until(deadline, &what, answer_of(&client, &mut returns, target))
                                .await??;
                        let status = status_of(&result);
                        if !status.contains("processing") {
                            return Err(format!(
                                "S1: wedged actor {target} answered status {status:?}, expected processing"
                            ));
                        }
                    }
                    Kind::Idle => {
                        let first =
                            until(deadline, &what, answer_of(&client, &mut returns, target))
                                .await??;
                        let second =
                            until(deadline, &what, answer_of(&client, &mut returns, target))
                                .await??;
                        if status_of(&first) != "idle" {
                            return Err(format!(
                                "idle actor {target} answered status {:?}",
                                status_of(&first)
                            ));
                        }
                        if first.attrs_json() != second.attrs_json() {
                            return Err(format!(
                                "S2: two back-to-back queries of {target} disagree: {} then {}",
                                first.attrs, second.attrs
                            ));
                        }
                    }
                    Kind::Stopped => {
                        match until(deadline, &what, query(&client, &mut returns, target)).await?? {
                            Reply::Returned(_) => {}
                            Reply::Answer(result) => {
                                check_invariants(&result)
                                    .map_err(|violation| format!("{target}: {violation}"))?;
                                if !status_of(&result).starts_with("stopped") {
                                    return Err(format!(
                                        "stopped actor {target} answered status {:?}",
                                        status_of(&result)
                                    ));
                                }
                            }
                        }
                        let snapshot = p0
                            .terminated_snapshot(target)
                            .ok_or_else(|| format!("{target} left no terminated snapshot"))?;
                        check_invariants(&snapshot)
                            .map_err(|violation| format!("{target} snapshot: {violation}"))?;
                        if !status_of(&snapshot).starts_with("stopped") {
                            return Err(format!(
                                "{target}'s terminated snapshot says {:?}",
                                status_of(&snapshot)
                            ));
                        }
                    }
                }
            }
            Ok(())
        })
    }
}
