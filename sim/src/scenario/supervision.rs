//! `supervision-tree`: supervision across a tree whose work comes over the
//! faulty network (DESIGN §3 Supervision, SV-1..SV-3).
//!
//! On proc `tree`: a root (does not handle supervision events) → a middle
//! actor (handles its children's events and reports each one) → several
//! leaves. A driver client on proc `driver` sends ordinary work by `ActorRef`
//! to every leaf (each acknowledges it) and `Fail` to a seed-chosen subset.
//! Checks: every piece of work sent before a `Fail` is acknowledged; the
//! middle reports exactly one failure event per failed leaf, naming it;
//! root and middle stay alive; after drain-and-stop of the root every actor
//! of the tree is terminal (failed leaves `Failed`, the rest `Stopped`) and the
//! proc's coordinator got exactly one event, the root's, not a failure.
//!
//! When the mix has crashes, a second small tree on proc `tree2` also gets
//! work; it is crashed mid-run (`Network::crash`), restarted, and a fresh
//! tree spawned there must handle work and contain a leaf failure again.

use std::collections::BTreeSet;
use std::time::Duration;

use lockstep::{
    Actor, ActorHandle, ActorRef, ActorStatus, ActorSupervisionEvent, Context, Handler,
    HandlerError, Instance, PortReceiver, PortRef, Proc, RecordingCoordinator,
};
use serde::{Deserialize, Serialize};

use super::support::{restart_quiet_time, until};
use super::{Scenario, ScenarioContext, ScenarioFuture};
use crate::fault::drive_partitions;

/// Root → middle → leaves on one proc, driven from another.
pub struct SupervisionTree;

/// The top of a tree: supervises the middle, handles no events itself.
#[derive(Debug)]
struct Root;

impl Actor for Root {}

/// Handles (contains) its children's supervision events and reports each.
#[derive(Debug)]
struct Middle {
    events: PortRef<ActorSupervisionEvent>,
}

impl Actor for Middle {
    async fn handle_supervision_event(
        &mut self,
        this: &Instance<Self>,
        event: &ActorSupervisionEvent,
    ) -> Result<bool, HandlerError> {
        // The events port is on this proc: a local send, nothing to return.
        self.events.send(this, event.clone())?;
        Ok(true)
    }
}

/// What the driver asks of a leaf.
#[derive(Debug, Serialize, Deserialize)]
enum Task {
    /// Do work `id` and acknowledge it as `(leaf, id)`.
    Work { id: u64, ack: PortRef<(u32, u64)> },
    /// Fail now.
    Fail,
}

/// Does work, or fails when told to.
#[derive(Debug)]
struct Leaf {
    index: u32,
}

// Undeliverable returns: a leaf's only sends are acknowledgements to a port
// (sequenced, so a network duplicate is dropped by the reorder buffer, not
// returned). One coming back means the driver is gone: failing (the
// default) is right.
impl Actor for Leaf {}

impl Handler<Task> for Leaf {
    async fn handle(&mut self, cx: &Context<Self>, task: Task) -> Result<(), HandlerError> {
        match task {
            Task::Work { id, ack } => {
                ack.send(cx, (self.index, id))?;
                Ok(())
            }
            Task::Fail => lockstep::bail!("leaf {} failed on request", self.index),
        }
    }
}

lockstep::export!(Leaf: Task);

/// One spawned tree and what observes it.
struct Tree {
    root: ActorHandle<Root>,
    middle: ActorHandle<Middle>,
    leaves: Vec<ActorHandle<Leaf>>,
    refs: Vec<ActorRef<Leaf>>,
    events: PortReceiver<ActorSupervisionEvent>,
    coordinator: RecordingCoordinator,
    _observer: Instance<()>,
}

fn spawn_tree(proc: &Proc, leaves: u32) -> Result<Tree, String> {
    let coordinator = RecordingCoordinator::install(proc).map_err(|e| e.to_string())?;
    let (observer, _) = proc.instance("observer").map_err(|e| e.to_string())?;
    let (events_port, events) = observer.open_port::<ActorSupervisionEvent>();
    let root = proc.spawn("tree", Root).map_err(|e| e.to_string())?;
    let middle = proc
        .spawn_child(
            root.cell().clone(),
            Middle {
                events: events_port.bind(),
            },
        )
        .map_err(|e| e.to_string())?;
    let leaves = (0..leaves)
        .map(|index| proc.spawn_child(middle.cell().clone(), Leaf { index }))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let refs = leaves.iter().map(ActorHandle::bind).collect();
    Ok(Tree {
        root,
        middle,
        leaves,
        refs,
        events,
        coordinator,
        _observer: observer,
    })
}

fn send_task(client: &Instance<()>, leaf: &ActorRef<Leaf>, task: Task) -> Result<(), String> {
    leaf.send(client, task)
        .map_err(|error| format!("cannot send to {}: {error}", leaf.actor_id()))
}

/// Wait for `count` acknowledgements on `acks`.
async fn acknowledged(
    acks: &mut PortReceiver<(u32, u64)>,
    count: usize,
) -> Result<BTreeSet<(u32, u64)>, String> {
    let mut seen = BTreeSet::new();
    while seen.len() < count {
        let ack = acks.recv().await.map_err(|e| e.to_string())?;
        if !seen.insert(ack) {
            return Err(format!("work {ack:?} was acknowledged twice"));
        }
    }
    Ok(seen)
}

/// Wait for `failed.len()` events from the middle; each must be the failure
/// of a distinct leaf in `failed`.
async fn failure_events(
    events: &mut PortReceiver<ActorSupervisionEvent>,
    failed: &BTreeSet<lockstep::ActorId>,
) -> Result<(), String> {
    let mut reported = BTreeSet::new();
    while reported.len() < failed.len() {
        let event = events.recv().await.map_err(|e| e.to_string())?;
        if !failed.contains(&event.actor_id) {
            return Err(format!("the middle reported an unexpected event: {event}"));
        }
        if !event.is_failure() || !event.status.to_string().contains("failed on request") {
            return Err(format!("a failed leaf's event is not its failure: {event}"));
        }
        if !reported.insert(event.actor_id.clone()) {
            return Err(format!("a leaf's failure was reported twice: {event}"));
        }
    }
    Ok(())
}

/// Drain-and-stop the root; check every actor ended as expected and the
/// coordinator got exactly the root's clean stop.
async fn stop_tree(mut tree: Tree, failed: &BTreeSet<lockstep::ActorId>) -> Result<(), String> {
    if let Some(event) = tree.events.try_recv() {
        return Err(format!("the middle reported an unexpected event: {event}"));
    }
    for (name, status) in [
        ("root", tree.root.cell().status()),
        ("middle", tree.middle.cell().status()),
    ] {
        if status.is_terminal() {
            return Err(format!("the {name} did not stay alive: {status}"));
        }
    }
    tree.root
        .drain_and_stop("scenario over")
        .map_err(|e| e.to_string())?;
    let root_status = tree.root.clone().await;
    if !matches!(root_status, ActorStatus::Stopped(_)) {
        return Err(format!("the root ended {root_status}, expected stopped"));
    }
    let middle_status = tree.middle.cell().status();
    if !matches!(middle_status, ActorStatus::Stopped(_)) {
        return Err(format!(
            "the middle is {middle_status} after its parent stopped"
        ));
    }
    for leaf in &tree.leaves {
        let status = leaf.cell().status();
        let ok = if failed.contains(leaf.actor_id()) {
            status.is_failed()
        } else {
            matches!(status, ActorStatus::Stopped(_))
        };
        if !ok {
            return Err(format!(
                "leaf {} is {status} after its root stopped",
                leaf.actor_id()
            ));
        }
    }
    let event = tree
        .coordinator
        .next()
        .await
        .ok_or("the coordinator closed")?;
    if event.actor_id != *tree.root.actor_id() || event.is_failure() {
        return Err(format!(
            "the coordinator's event is not the root's clean stop: {event}"
        ));
    }
    lockstep::time::sleep(Duration::from_millis(100)).await;
    let more = tree.coordinator.drain();
    if !more.is_empty() {
        let more: Vec<String> = more.iter().map(ToString::to_string).collect();
        return Err(format!(
            "the coordinator got more than the root's event: {}",
            more.join("; ")
        ));
    }
    Ok(())
}

impl Scenario for SupervisionTree {
    fn name(&self) -> &'static str {
        "supervision-tree"
    }

    fn summary(&self) -> &'static str {
        "a driver fails random leaves of a remote tree; the middle contains each failure, then the root drains"
    }

    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(async move {
            let network = context.network;
            let mix = context.mix;
            let deadline = lockstep::time::now() + mix.fault_window + Duration::from_secs(120);
            let tree_proc = network.proc("tree");
            let driver_proc = network.proc("driver");
            let crash_tree2 = mix.crashes;
            let tree2_proc = crash_tree2.then(|| network.proc("tree2"));
            drop(lockstep::rt::spawn(
                "faults:partitions",
                drive_partitions(network.clone(), network.proc_names(), mix.clone()),
            ));

            let leaf_count = 2 + mix.size;
            let mut tree = spawn_tree(&tree_proc, leaf_count)?;
            // Seed-chosen failures: at least one leaf fails, at least one lives.
            let mut to_fail: BTreeSet<usize> = (0..leaf_count as usize)
                .filter(|_| lockstep::random::below(3) == 0)
                .collect();
            if to_fail.is_empty() {
                to_fail.insert(lockstep::random::below(u64::from(leaf_count)) as usize);
            }
            if to_fail.len() == leaf_count as usize {
                let spared = lockstep::random::below(u64::from(leaf_count)) as usize;
                to_fail.remove(&spared);
            }
            let rounds = 6u64;
            let fail_round: Vec<u64> = (0..leaf_count)
                .map(|_| lockstep::random::below(rounds))
                .collect();
            let failed_ids: BTreeSet<_> = to_fail
                .iter()
                .map(|index| tree.leaves[*index].actor_id().clone())
                .collect();

            let (client, _client) = driver_proc.instance("driver").map_err(|e| e.to_string())?;
            let (ack_port, mut acks) = client.open_port::<(u32, u64)>();
            let ack = ack_port.bind();

            // tree2 before its crash, and the fresh one spawned after the restart.
            let mut old_tree2 = match &tree2_proc {
                Some(proc) => Some(spawn_tree(proc, 2)?),
                None => None,
            };
            let mut fresh_tree2: Option<Tree> = None;
            let (old_ack_port, _old_acks) = client.open_port::<(u32, u64)>();
            let old_ack = old_ack_port.bind();
            let crash_round = lockstep::random::below(rounds);
            // The restarted tree2 is driven by a fresh client (a fresh session).
            let mut fresh: Option<Driver> = None;
            let mut fresh_sent = 0usize;

            let mut sent = 0usize;
            let mut id = 0u64;
            for round in 0..rounds {
                for (index, leaf) in tree.refs.iter().enumerate() {
                    if to_fail.contains(&index) && fail_round[index] < round {
                        continue; // already told to fail
                    }
                    id += 1;
                    send_task(
                        &client,
                        leaf,
                        Task::Work {
                            id,
                            ack: ack.clone(),
                        },
                    )?;
                    sent += 1;
                    if to_fail.contains(&index) && fail_round[index] == round {
                        send_task(&client, leaf, Task::Fail)?;
                    }
                }
                if let Some(old) = &old_tree2 {
                    for leaf in &old.refs {
                        id += 1;
                        // Acknowledged or returned (crash): either is fine.
                        let _ = leaf.send(
                            &client,
                            Task::Work {
                                id,
                                ack: old_ack.clone(),
                            },
                        );
                    }
                }
                if let Some(Driver {
                    client: fresh_client,
                    ack: fresh_ack,
                    ..
                }) = &fresh
                {
                    let tree = fresh_tree2.as_ref().ok_or("no fresh tree")?;
                    for leaf in &tree.refs {
                        id += 1;
                        send_task(
                            fresh_client,
                            leaf,
                            Task::Work {
                                id,
                                ack: fresh_ack.clone(),
                            },
                        )?;
                        fresh_sent += 1;
                    }
                }
                let pause = lockstep::random::below(300);
                lockstep::time::sleep(Duration::from_millis(pause)).await;
                if crash_tree2 && round == crash_round {
                    network.crash("tree2");
                    drop(old_tree2.take());
                    // Down long enough that nothing sent to the crashed
                    // incarnation can still arrive: the fresh tree reuses its
                    // actor ids, and a late message of an old session would
                    // wait forever in the new actors' reorder buffers.
                    let down = lockstep::random::below(500);
                    let down = restart_quiet_time(&mix) + Duration::from_millis(down);
                    lockstep::time::sleep(down).await;
                    let proc = network.restart("tree2");
                    fresh_tree2 = Some(spawn_tree(&proc, 2)?);
                    fresh = Some(Driver::new(&driver_proc, "driver-after-restart")?);
                }
            }

            let done = until(
                deadline,
                "work acknowledgements",
                acknowledged(&mut acks, sent),
            )
            .await??;
            if done.len() != sent {
                return Err(format!(
                    "{} of {sent} pieces of work acknowledged",
                    done.len()
                ));
            }
            until(
                deadline,
                "the middle's failure events",
                failure_events(&mut tree.events, &failed_ids),
            )
            .await??;
            until(deadline, "the tree to stop", stop_tree(tree, &failed_ids)).await??;

            if let (
                Some(Driver {
                    client: fresh_client,
                    acks: mut fresh_acks,
                    ack: fresh_ack,
                }),
                Some(tree),
            ) = (fresh, fresh_tree2)
            {
                // The fresh tree works: its acks arrive, and a leaf failure is
                // contained at its middle again.
                until(
                    deadline,
                    "acknowledgements from the restarted tree",
                    acknowledged(&mut fresh_acks, fresh_sent),
                )
                .await??;
                let mut tree = tree;
                let victim = &tree.refs[0];
                id += 1;
                send_task(
                    &fresh_client,
                    victim,
                    Task::Work {
                        id,
                        ack: fresh_ack.clone(),
                    },
                )?;
                send_task(&fresh_client, victim, Task::Fail)?;
                until(
                    deadline,
                    "the restarted tree's ack",
                    acknowledged(&mut fresh_acks, 1),
                )
                .await??;
                let failed: BTreeSet<_> = [tree.leaves[0].actor_id().clone()].into();
                until(
                    deadline,
                    "the restarted tree's failure event",
                    failure_events(&mut tree.events, &failed),
                )
                .await??;
                until(
                    deadline,
                    "the restarted tree to stop",
                    stop_tree(tree, &failed),
                )
                .await??;
            }
            Ok(())
        })
    }
}

/// A client that sends work, and the port its acknowledgements come to.
struct Driver {
    client: Instance<()>,
    acks: PortReceiver<(u32, u64)>,
    ack: PortRef<(u32, u64)>,
}

impl Driver {
    fn new(proc: &Proc, name: &str) -> Result<Self, String> {
        let (client, _) = proc.instance(name).map_err(|e| e.to_string())?;
        let (port, acks) = client.open_port::<(u32, u64)>();
        let ack = port.bind();
        Ok(Self { client, acks, ack })
    }
}
