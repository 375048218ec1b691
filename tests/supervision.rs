//! Supervision trees (DESIGN §3 Supervision; SV-1..SV-4), on tokio and under
//! the simulator.

mod support;

use std::time::Duration;

use lockstep::{
    Actor, ActorErrorKind, ActorHandle, ActorStatus, ActorSupervisionEvent, Context, Handler,
    HandlerError, Instance, PortRef, Proc, RecordingCoordinator, UndeliverableReason,
};
use support::actors::Wedged;
use support::on_both;

/// A tree node: fails on `fail_on`, reports what it handles to `seen`, and
/// reports (then handles or not) its children's supervision events.
#[derive(Debug)]
struct Node {
    fail_on: Option<u64>,
    handles_events: bool,
    seen: Option<PortRef<u64>>,
    events: Option<PortRef<ActorSupervisionEvent>>,
    gate: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Node {
    fn plain() -> Self {
        Self {
            fail_on: None,
            handles_events: false,
            seen: None,
            events: None,
            gate: None,
        }
    }
}

impl Actor for Node {
    async fn handle_supervision_event(
        &mut self,
        this: &Instance<Self>,
        event: &ActorSupervisionEvent,
    ) -> Result<bool, HandlerError> {
        if let Some(events) = &self.events {
            events.send(this, event.clone())?;
        }
        Ok(self.handles_events)
    }
}

impl Handler<u64> for Node {
    async fn handle(&mut self, cx: &Context<Self>, value: u64) -> Result<(), HandlerError> {
        if let Some(gate) = self.gate.take() {
            let _ = gate.await;
        }
        if Some(value) == self.fail_on {
            lockstep::bail!("node failed on {value}");
        }
        if let Some(seen) = &self.seen {
            seen.send(cx, value)?;
        }
        Ok(())
    }
}

fn child(proc: &Proc, parent: &ActorHandle<Node>, node: Node) -> ActorHandle<Node> {
    proc.spawn_child(parent.cell().clone(), node).unwrap()
}

/// Goal: SV-2: a child's failure fails a parent that does not handle it, with
/// the child's error text; the failed child's sibling ends `Stopped`, not `Failed`.
#[test]
fn sv_2_child_failure_fails_unhandling_parent_and_stops_siblings() {
    on_both(|| async {
        let proc = Proc::local();
        let _coordinator = RecordingCoordinator::install(&proc).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let parent = proc.spawn("parent", Node::plain()).unwrap();
        let failing = child(
            &proc,
            &parent,
            Node {
                fail_on: Some(7),
                ..Node::plain()
            },
        );
        let sibling = child(&proc, &parent, Node::plain());
        failing.send(&client, 7u64).unwrap();

        let parent_status = parent.await;
        let ActorStatus::Failed(ActorErrorKind::UnhandledSupervisionEvent(event)) = &parent_status
        else {
            panic!("parent should fail with the unhandled event, got {parent_status}");
        };
        assert_eq!(event.actor_id, *failing.actor_id());
        assert!(
            parent_status.to_string().contains("node failed on 7"),
            "{parent_status}"
        );
        assert!(matches!(sibling.await, ActorStatus::Stopped(_)));
        assert!(failing.await.is_failed());
    });
}

/// Goal: SV-2: an event is contained at the first ancestor that handles it;
/// that ancestor and everything above it stay alive.
#[test]
fn sv_2_event_is_contained_at_the_first_handling_ancestor() {
    on_both(|| async {
        let proc = Proc::local();
        let mut coordinator = RecordingCoordinator::install(&proc).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let (events, mut reported) = client.open_port();
        let root = proc.spawn("root", Node::plain()).unwrap();
        let middle = child(
            &proc,
            &root,
            Node {
                handles_events: true,
                events: Some(events.bind()),
                ..Node::plain()
            },
        );
        let leaf = child(
            &proc,
            &middle,
            Node {
                fail_on: Some(1),
                ..Node::plain()
            },
        );
        leaf.send(&client, 1u64).unwrap();

        let event: ActorSupervisionEvent = reported.recv().await.unwrap();
        assert_eq!(event.actor_id, *leaf.actor_id());
        assert!(event.is_failure());
        // Still alive, and serving: both answer a message.
        let (seen, mut values) = client.open_port();
        let probe = child(
            &proc,
            &middle,
            Node {
                seen: Some(seen.bind()),
                ..Node::plain()
            },
        );
        probe.send(&client, 5u64).unwrap();
        assert_eq!(values.recv().await.unwrap(), 5);
        // Neither failed: each is (or, after a slow start, becomes) idle.
        for survivor in [&middle, &root] {
            let idle = survivor
                .status()
                .wait_for(|status| status.is_terminal() || *status == ActorStatus::Idle)
                .await
                .unwrap();
            assert_eq!(*idle, ActorStatus::Idle);
        }
        assert!(
            coordinator.drain().is_empty(),
            "nothing reached the coordinator"
        );
    });
}

/// Goal: SV-1, SV-2: an unhandled failure deep in the tree reaches the proc's
/// coordinator, and the event still names the leaf as root cause.
#[test]
fn sv_2_unhandled_root_failure_reaches_the_coordinator_naming_the_leaf() {
    on_both(|| async {
        let proc = Proc::local();
        let mut coordinator = RecordingCoordinator::install(&proc).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let root = proc.spawn("root", Node::plain()).unwrap();
        let middle = child(&proc, &root, Node::plain());
        let leaf = child(
            &proc,
            &middle,
            Node {
                fail_on: Some(3),
                ..Node::plain()
            },
        );
        leaf.send(&client, 3u64).unwrap();

        let event = coordinator.next().await.unwrap();
        assert_eq!(event.actor_id, *root.actor_id());
        assert!(event.is_propagated());
        let cause = event.root_cause();
        assert_eq!(cause.actor_id, *leaf.actor_id());
        assert!(
            cause.status.to_string().contains("node failed on 3"),
            "{}",
            cause.status
        );
    });
}

/// Goal: SV-1: a clean stop produces one event to the parent, and it is not a failure.
#[test]
fn sv_1_clean_stops_produce_non_error_events() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (events, mut reported) = client.open_port();
        let parent = proc
            .spawn(
                "parent",
                Node {
                    events: Some(events.bind()),
                    ..Node::plain()
                },
            )
            .unwrap();
        let kid = child(&proc, &parent, Node::plain());
        kid.drain_and_stop("done").unwrap();
        let event: ActorSupervisionEvent = reported.recv().await.unwrap();
        assert_eq!(event.actor_id, *kid.actor_id());
        assert_eq!(event.status, ActorStatus::Stopped("done".into()));
        assert!(!event.is_failure());
        // The parent carries on.
        assert!(!parent.status().borrow().is_terminal());
    });
}

/// Goal: SV-3: draining a parent drains its children first (mode inherited),
/// so their queued work is handled, and the parent is terminal only after them.
#[test]
fn sv_3_parent_drain_waits_for_children_to_finish_queued_work() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (seen, mut values) = client.open_port();
        let (release, gate) = tokio::sync::oneshot::channel();
        let parent = proc.spawn("parent", Node::plain()).unwrap();
        let kid = child(
            &proc,
            &parent,
            Node {
                seen: Some(seen.bind()),
                gate: Some(gate),
                ..Node::plain()
            },
        );
        for value in 0..5u64 {
            kid.send(&client, value).unwrap();
        }
        parent.drain_and_stop("shutting down").unwrap();
        let mut parent_status = parent.status();
        lockstep::rt::task::yield_now().await;
        assert!(
            !parent_status.borrow_and_update().is_terminal(),
            "parent waits for its child"
        );
        release.send(()).unwrap();
        assert!(matches!(parent.await, ActorStatus::Stopped(_)));
        assert!(
            kid.status().borrow().is_terminal(),
            "SV-3: no actor outlives its parent"
        );
        assert_eq!(values.drain(), vec![0, 1, 2, 3, 4]);
    });
}

/// Goal: `destroy_and_wait` stops every actor, reports what it stopped, and
/// every root's event has reached the coordinator when it returns.
#[test]
fn destroy_and_wait_stops_everything_and_loses_no_event() {
    on_both(|| async {
        let proc = Proc::local();
        let mut coordinator = RecordingCoordinator::install(&proc).unwrap();
        let (_client, _client_handle) = proc.instance("client").unwrap();
        let first = proc.spawn("first", Node::plain()).unwrap();
        let second = proc.spawn("second", Node::plain()).unwrap();
        let grandchild = child(&proc, &child(&proc, &first, Node::plain()), Node::plain());

        let report = proc
            .destroy_and_wait("teardown", Duration::from_secs(5))
            .await;
        assert_eq!(
            report.stopped,
            vec![first.actor_id().clone(), second.actor_id().clone()]
        );
        assert!(report.aborted.is_empty());
        assert!(grandchild.status().borrow().is_terminal());
        let events = coordinator.drain();
        let mut reported: Vec<_> = events.iter().map(|event| event.actor_id.clone()).collect();
        reported.sort();
        assert_eq!(
            reported,
            vec![first.actor_id().clone(), second.actor_id().clone()]
        );
        assert!(events.iter().all(|event| !event.is_failure()));
    });
}

/// Goal: SV-4: with no coordinator, a root failure is kept by the proc (and
/// logged as an error), never silent.
#[test]
fn sv_4_root_failure_without_coordinator_is_kept_by_the_proc() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let node = proc
            .spawn(
                "lonely",
                Node {
                    fail_on: Some(9),
                    ..Node::plain()
                },
            )
            .unwrap();
        node.send(&client, 9u64).unwrap();
        node.await;
        let failures = proc.unhandled_failures();
        assert_eq!(failures.len(), 1);
        assert!(failures[0].status.to_string().contains("node failed on 9"));
    });
}

/// Goal: UD-1 for an actor terminated by force in a live proc — a root
/// that does not stop in time is aborted, and the messages still queued
/// for it come back to their sender as `ActorTerminated` (not lost with its
/// task).
#[test]
fn ud_1_an_actor_terminated_by_force_returns_what_it_still_held() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client_handle) = proc.instance("client").unwrap();
        let mut returned = client.take_undeliverable_receiver().unwrap();
        let wedged = proc.spawn("wedged", Wedged).unwrap();
        for value in [1, 2, 3] {
            wedged.send(&client, value).unwrap(); // 1 wedges it; 2 and 3 queue
        }
        wedged
            .status()
            .wait_for(|status| matches!(status, ActorStatus::Processing(..)))
            .await
            .unwrap();
        let report = proc
            .destroy_and_wait("teardown", Duration::from_millis(100))
            .await;
        assert_eq!(report.aborted, vec![wedged.actor_id().clone()]);
        let mut reasons = Vec::new();
        for _ in 0..2 {
            let back = lockstep::time::timeout(Duration::from_secs(5), returned.recv())
                .await
                .expect("what it held comes back")
                .unwrap();
            reasons.push(back.reason);
        }
        let terminated = UndeliverableReason::ActorTerminated {
            actor_id: wedged.actor_id().clone(),
        };
        assert_eq!(reasons, [terminated.clone(), terminated]);
        lockstep::time::sleep(Duration::from_millis(100)).await;
        assert!(
            returned.try_recv().is_err(),
            "only what was queued comes back (1 is dropped with its handler)"
        );
    });
}
