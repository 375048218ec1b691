//! Introspection (DESIGN §3 Introspection): every invariant is checked by
//! `lockstep::introspect::check_invariants` and cited by name here. On tokio
//! and under the simulator.

mod support;

use std::time::Duration;

use lockstep::introspect::{
    IntrospectMessage, IntrospectResult, IntrospectView, Reference, check_invariants,
    live_actor_payload,
};
use lockstep::{
    Actor, ActorId, ActorStatus, Context, Handler, HandlerError, Instance, PortRef, Proc,
};
use serde_json::json;
use support::actors::{Echo, Wedged};
use support::on_both;

async fn query(client: &Instance<()>, actor_id: &ActorId) -> IntrospectResult {
    let (reply, answer) = client.open_once_port::<IntrospectResult>();
    PortRef::<IntrospectMessage>::attest_message_port(actor_id)
        .send(
            client,
            IntrospectMessage::Query {
                view: IntrospectView::Actor,
                reply: reply.bind(),
            },
        )
        .unwrap();
    let result = answer.recv().await.unwrap();
    check_invariants(&result).unwrap();
    result
}

async fn query_child(
    client: &Instance<()>,
    actor_id: &ActorId,
    child_ref: Reference,
) -> IntrospectResult {
    let (reply, answer) = client.open_once_port::<IntrospectResult>();
    PortRef::<IntrospectMessage>::attest_message_port(actor_id)
        .send(
            client,
            IntrospectMessage::QueryChild {
                child_ref,
                reply: reply.bind(),
            },
        )
        .unwrap();
    answer.recv().await.unwrap()
}

fn text(result: &IntrospectResult, attr: &str) -> Option<String> {
    result
        .attr(attr)
        .and_then(|value| value.as_str().map(str::to_owned))
}

async fn spawn_echo(proc: &Proc, client: &Instance<()>, name: &str) -> lockstep::ActorHandle<Echo> {
    let (port, receiver) = client.open_port::<u64>();
    std::mem::forget(receiver); // keep the port open for the test's life
    let handle = proc.spawn(name, Echo(port.bind())).unwrap();
    handle
        .status()
        .wait_for(|status| *status == ActorStatus::Idle)
        .await
        .unwrap();
    handle
}

/// Goal: the default payload of a plain root actor: identity, attrs with
/// status, actor type and creation time; no children, no parent (IA-1).
#[test]
fn ia_1_default_payload_of_a_root_actor() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let echo = spawn_echo(&proc, &client, "echo").await;
        let result = query(&client, echo.actor_id()).await;
        assert_eq!(result.identity, echo.actor_id().to_string());
        for attr in [
            "status",
            "actor_type",
            "created_at",
            "messages_processed",
            "queue_depth",
            "ordering",
        ] {
            assert!(result.attr(attr).is_some(), "missing {attr}");
        }
        assert!(result.children.is_empty());
        assert_eq!(result.parent, None);
    });
}

/// Goal: IA-1, IA-3, IA-4 on a running actor's payload built directly from its cell.
#[test]
fn ia_3_ia_4_running_actor_has_no_reason_and_no_failure_attrs() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let echo = spawn_echo(&proc, &client, "echo").await;
        let result = live_actor_payload(echo.cell());
        check_invariants(&result).unwrap();
        assert!(result.attr("status_reason").is_none());
        assert!(result.attr("failure_error_message").is_none());
    });
}

/// Goal: IA-3, IA-4 on terminal payloads: a failed actor's snapshot has a
/// reason and failure attrs; a stopped one a reason and none.
#[test]
fn ia_3_ia_4_terminal_snapshots_have_reasons_and_failure_attrs_only_when_failed() {
    on_both(|| async {
        let proc = Proc::local();
        let _coordinator = lockstep::RecordingCoordinator::install(&proc).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let stopped = spawn_echo(&proc, &client, "stopped").await;
        let failed = spawn_echo(&proc, &client, "failed").await;
        stopped.stop("bye").unwrap();
        failed.abort("boom").unwrap();
        let (stopped_id, failed_id) = (stopped.actor_id().clone(), failed.actor_id().clone());
        stopped.await;
        failed.await;
        let stopped_snapshot = wait_for_snapshot(&proc, &stopped_id).await;
        let failed_snapshot = wait_for_snapshot(&proc, &failed_id).await;
        check_invariants(&stopped_snapshot).unwrap();
        check_invariants(&failed_snapshot).unwrap();
        assert_eq!(
            text(&stopped_snapshot, "status_reason").as_deref(),
            Some("bye")
        );
        assert!(stopped_snapshot.attr("failure_error_message").is_none());
        assert!(
            text(&failed_snapshot, "failure_error_message")
                .unwrap()
                .contains("boom")
        );
        assert_eq!(
            text(&failed_snapshot, "failure_root_cause_actor"),
            Some(failed_id.to_string())
        );
    });
}

async fn wait_for_snapshot(proc: &Proc, actor_id: &ActorId) -> IntrospectResult {
    for _ in 0..1000 {
        if let Some(snapshot) = proc.terminated_snapshot(actor_id) {
            return snapshot;
        }
        lockstep::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("no terminated snapshot for {actor_id}");
}

/// Goal: QueryChild with no registered handler answers an error node with
/// code `not_found`.
#[test]
fn query_child_without_handler_answers_not_found() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let echo = spawn_echo(&proc, &client, "echo").await;
        let child_ref = Reference::Actor("nowhere.child[0]".parse().unwrap());
        let result = query_child(&client, echo.actor_id(), child_ref).await;
        assert!(result.identity.is_empty());
        assert_eq!(text(&result, "error_code").as_deref(), Some("not_found"));
    });
}

/// An actor that tries to answer introspection itself.
#[derive(Debug)]
struct SelfDescribing;
impl Actor for SelfDescribing {}
impl Handler<IntrospectMessage> for SelfDescribing {
    async fn handle(
        &mut self,
        _cx: &Context<Self>,
        _message: IntrospectMessage,
    ) -> Result<(), HandlerError> {
        panic!("introspection must never reach the work queue");
    }
}

/// Goal: S1's mechanism: queries go to the runtime task, never to an actor's
/// own handler for `IntrospectMessage`.
#[test]
fn s_1_actor_handlers_never_see_introspection() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let actor = proc.spawn("custom", SelfDescribing).unwrap();
        actor
            .status()
            .wait_for(|status| *status == ActorStatus::Idle)
            .await
            .unwrap();
        let result = query(&client, actor.actor_id()).await;
        assert_eq!(text(&result, "status").as_deref(), Some("idle"));
    });
}

/// Goal: parent and children links reflect supervision.
#[test]
fn parent_and_children_links_reflect_supervision() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let parent = spawn_echo(&proc, &client, "parent").await;
        let (port, _receiver) = client.open_port::<u64>();
        let child = proc
            .spawn_child(parent.cell().clone(), Echo(port.bind()))
            .unwrap();
        let child_result = query(&client, child.actor_id()).await;
        assert_eq!(child_result.parent, Some(parent.actor_id().to_string()));
        let parent_result = query(&client, parent.actor_id()).await;
        assert_eq!(parent_result.parent, None);
        assert!(
            parent_result
                .children
                .contains(&child.actor_id().to_string())
        );
    });
}

/// Goal: a fresh actor is `idle` with no last handler.
#[test]
fn fresh_actor_is_idle_with_no_handler() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let echo = spawn_echo(&proc, &client, "echo").await;
        let result = query(&client, echo.actor_id()).await;
        assert_eq!(text(&result, "status").as_deref(), Some("idle"));
        assert_eq!(result.attr("last_handler"), None);
    });
}

/// Goal: S2: after a user message, the payload names that handler and two
/// consecutive queries agree exactly.
#[test]
fn s_2_queries_report_the_user_handler_and_do_not_perturb() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, mut echoed) = client.open_port::<u64>();
        let echo = proc.spawn("echo", Echo(port.bind())).unwrap();
        echo.send(&client, 42u64).unwrap();
        assert_eq!(echoed.recv().await.unwrap(), 42);
        echo.status()
            .wait_for(|status| *status == ActorStatus::Idle)
            .await
            .unwrap();
        let first = query(&client, echo.actor_id()).await;
        let second = query(&client, echo.actor_id()).await;
        assert_eq!(text(&first, "last_handler").as_deref(), Some("u64"));
        assert_eq!(first.attr("messages_processed"), Some(json!(1)));
        assert_eq!(
            first.attrs_json(),
            second.attrs_json(),
            "S2: consecutive queries agree"
        );
    });
}

/// Goal: published attrs: replace the whole bag, merge one key, overwrite a
/// key; they appear in the payload.
#[test]
fn published_attrs_round_trip() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let echo = spawn_echo(&proc, &client, "echo").await;
        let cell = echo.cell();
        assert!(cell.published_attrs().is_none());
        let mut bag = serde_json::Map::new();
        bag.insert("a".into(), json!("hello"));
        cell.set_published_attrs(bag);
        cell.merge_published_attr("b", json!(42));
        cell.merge_published_attr("a", json!("world"));
        let published = cell.published_attrs().unwrap();
        assert_eq!(published.get("a"), Some(&json!("world")));
        assert_eq!(published.get("b"), Some(&json!(42)));
        let result = query(&client, echo.actor_id()).await;
        assert_eq!(
            result.attr("published"),
            Some(json!({"a": "world", "b": 42}))
        );
    });
}

/// Goal: a registered `query_child` callback answers QueryChild.
#[test]
fn query_child_callback_round_trip() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let echo = spawn_echo(&proc, &client, "echo").await;
        let child_ref = Reference::Named("shard-7".into());
        assert!(echo.cell().query_child(&child_ref).is_none());
        echo.cell()
            .set_query_child_handler(|child| IntrospectResult {
                identity: child.to_string(),
                attrs: json!({"num_actors": 42}).to_string(),
                children: Vec::new(),
                parent: None,
                as_of: "0".into(),
            });
        let result = query_child(&client, echo.actor_id(), child_ref).await;
        assert_eq!(result.identity, "shard-7");
        assert_eq!(result.attr("num_actors"), Some(json!(42)));
    });
}

/// Goal: Q-3 through an actor — `sequenced_held` counts the sequenced
/// messages a (wedged) actor still holds and leaves out `Direct` ones,
/// which `queue_depth` counts: an accounting of sequenced sends (the
/// simulator's UD-1) must not let a `Direct` message stand in for a lost
/// sequenced one.
#[test]
fn sequenced_held_counts_held_sequenced_messages_and_not_direct_ones() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let wedged = proc.spawn("wedged", Wedged).unwrap();
        // Through the handle before it is bound: `Direct` (PORT-1).
        for value in [1, 2] {
            wedged.send(&client, value).unwrap();
        }
        let bound: lockstep::ActorRef<Wedged> = wedged.bind();
        for value in [3, 4, 5] {
            bound.send(&client, value).unwrap(); // sequenced
        }
        wedged
            .status()
            .wait_for(|status| matches!(status, ActorStatus::Processing(..)))
            .await
            .unwrap();
        let cell = proc.lookup(wedged.actor_id()).expect("the actor is alive");
        assert_eq!(cell.queue_depth(), 4, "the first message wedged it");
        assert_eq!(cell.sequenced_held(), 3);
    });
}

/// Goal: S1: an actor stuck in a handler still answers, with status
/// `processing` and its handler, and the query is not the last handler (S2).
#[test]
fn s_1_wedged_actor_still_answers_with_processing() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let wedged = proc.spawn("wedged", Wedged).unwrap();
        wedged.send(&client, 1u64).unwrap();
        wedged
            .status()
            .wait_for(|status| matches!(status, ActorStatus::Processing(..)))
            .await
            .unwrap();
        let result =
            lockstep::time::timeout(Duration::from_secs(5), query(&client, wedged.actor_id()))
                .await
                .expect("S1: a wedged actor must answer");
        let status = text(&result, "status").unwrap();
        assert!(status.contains("processing"), "{status}");
        assert!(status.contains("u64"), "{status}");
    });
}

/// Goal: CI-1: an introspectable client answers with status `client` and
/// actor type `()`; CI-2: dropping it leaves a terminated snapshot, `stopped`.
#[test]
fn ci_1_ci_2_introspectable_instance_answers_and_leaves_a_snapshot() {
    on_both(|| async {
        let proc = Proc::local();
        let (bridge, handle) = proc.introspectable_instance("bridge").unwrap();
        let actor_id = handle.actor_id().clone();
        let result = query(&bridge, &actor_id).await;
        assert_eq!(result.identity, actor_id.to_string());
        assert_eq!(text(&result, "status").as_deref(), Some("client"));
        assert_eq!(text(&result, "actor_type").as_deref(), Some("()"));
        assert!(proc.all_actor_ids().contains(&actor_id));

        drop(bridge);
        let snapshot = wait_for_snapshot(&proc, &actor_id).await;
        assert!(text(&snapshot, "status").unwrap().starts_with("stopped"));
        check_invariants(&snapshot).unwrap();
    });
}

/// Goal: a plain client instance does not answer; the query comes back to
/// the asker as undeliverable (never silently dropped).
#[test]
fn plain_instance_does_not_answer() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let mut returned = client.take_undeliverable_receiver().unwrap();
        let (_silent, silent_handle) = proc.instance("silent").unwrap();
        let (reply, answer) = client.open_once_port::<IntrospectResult>();
        PortRef::<IntrospectMessage>::attest_message_port(silent_handle.actor_id())
            .send(
                &client,
                IntrospectMessage::Query {
                    view: IntrospectView::Actor,
                    reply: reply.bind(),
                },
            )
            .unwrap();
        let back = returned.recv().await.unwrap();
        assert!(
            matches!(
                back.reason,
                lockstep::UndeliverableReason::PortUnbound { .. }
            ),
            "{back}"
        );
        let outcome = lockstep::time::timeout(Duration::from_millis(50), answer.recv()).await;
        assert!(
            !matches!(outcome, Ok(Ok(_))),
            "a plain instance must not answer"
        );
    });
}
