//! Runtime core behaviours (issue: runtime core), each on tokio and under the
//! simulator: echo, ping-pong, init order, multiple handlers, behaviors,
//! downcasts, checkpoints, lifecycle signals, undeliverable returns, panics.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::{
    Actor, ActorErrorKind, ActorRef, ActorStatus, Context, Handler, HandlerError, Instance,
    MessageEnvelope, PortRef, Proc, RecordingCoordinator, Undeliverable, UndeliverableReason,
};
use support::actors::{Ball, Echo, InitFirst, Multi, MultiValues, PingPong, Summer};
use support::on_both;

/// A local proc and a client on it whose returned messages the test reads
/// (the third value keeps the client alive).
fn returning_client() -> (
    Proc,
    Instance<()>,
    impl Sized,
    tokio::sync::mpsc::UnboundedReceiver<Undeliverable<MessageEnvelope>>,
) {
    let proc = Proc::local();
    let (client, handle) = proc.instance("client").unwrap();
    let returned = client.take_undeliverable_receiver().unwrap();
    (proc, client, handle, returned)
}

/// Goal: a handle send reaches the handler and drain-and-stop waits for it.
#[test]
fn echo_server_handles_a_message_before_draining() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, mut receiver) = client.open_port();
        let echo = proc.spawn("echo", Echo(port.bind())).unwrap();
        echo.send(&client, 123u64).unwrap();
        echo.drain_and_stop("test").unwrap();
        assert_eq!(echo.await, ActorStatus::Stopped("test".into()));
        assert_eq!(receiver.drain(), vec![123]);
    });
}

/// Goal: two actors pass a ball by reference until its ttl runs out.
#[test]
fn ping_pong_reaches_zero_and_reports() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let ping = proc.spawn("ping", PingPong::new(None)).unwrap();
        let pong = proc.spawn("pong", PingPong::new(None)).unwrap();
        let (done, finished) = client.open_once_port();
        ping.send(&client, Ball(10, pong.bind(), done.bind()))
            .unwrap();
        assert!(finished.recv().await.unwrap());
    });
}

/// Goal: a handler error at a given ttl fails that actor, the failure reaches
/// the proc's coordinator, and the game never reports completion.
#[test]
fn ping_pong_handler_error_fails_the_actor_and_reaches_the_coordinator() {
    on_both(|| async {
        let proc = Proc::local();
        let mut coordinator = RecordingCoordinator::install(&proc).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let error_ttl = 66;
        let ping = proc.spawn("ping", PingPong::new(Some(error_ttl))).unwrap();
        let pong = proc.spawn("pong", PingPong::new(Some(error_ttl))).unwrap();
        let (done, finished) = client.open_once_port();
        ping.send(&client, Ball(error_ttl + 1, pong.bind(), done.bind()))
            .unwrap();

        // ttl 67 at ping, 66 at pong: pong fails.
        let event = coordinator.next().await.unwrap();
        assert_eq!(event.actor_id, *pong.actor_id());
        assert!(
            matches!(&event.status, ActorStatus::Failed(ActorErrorKind::Handler(text)) if text.contains("ttl 66")),
            "{event}"
        );
        let outcome = lockstep::time::timeout(Duration::from_millis(300), finished.recv()).await;
        assert!(
            outcome.is_err() || outcome.unwrap().is_err(),
            "the game must not finish"
        );
        drop(ping);
    });
}

/// Goal: LC-2, `init` runs before the first message.
#[test]
fn lc_2_init_runs_before_the_first_message() {
    on_both(|| async {
        let proc = Proc::local();
        let actor = proc.spawn("init", InitFirst(false)).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, answer) = client.open_once_port();
        actor.send(&client, port).unwrap();
        assert!(answer.recv().await.unwrap());
        actor.drain_and_stop("test").unwrap();
        actor.await;
    });
}

async fn sync(multi: &lockstep::ActorHandle<Multi>, client: &Instance<()>) {
    let (port, done) = client.open_once_port::<bool>();
    multi.send(client, port).unwrap();
    assert!(done.recv().await.unwrap());
}

/// Goal: one actor, several handlers, reached through the handle and through
/// an `ActorRef` to the actor type.
#[test]
fn multiple_handlers_through_handle_and_ref() {
    on_both(|| async {
        let proc = Proc::local();
        let values: MultiValues = Arc::new(Mutex::new((0, String::new())));
        let multi = proc.spawn("multi", Multi(values.clone())).unwrap();
        let (client, _client) = proc.instance("client").unwrap();

        multi.send(&client, 123u64).unwrap();
        multi.send(&client, "foo".to_string()).unwrap();
        sync(&multi, &client).await;
        assert_eq!(*values.lock().unwrap(), (123, "foo".to_string()));

        let reference: ActorRef<Multi> = multi.bind();
        reference.port().send(&client, 321u64).unwrap();
        sync(&multi, &client).await;
        assert_eq!(*values.lock().unwrap(), (321, "foo".to_string()));
        reference.port().send(&client, "bar".to_string()).unwrap();
        sync(&multi, &client).await;
        assert_eq!(*values.lock().unwrap(), (321, "bar".to_string()));
    });
}

lockstep::behavior!(StringAndNumber: u64, String);
lockstep::assert_behaves!(Multi as StringAndNumber);

/// Goal: a behavior reference exposes only its handlers and reaches them.
#[test]
fn behavior_reference_reaches_its_handlers() {
    on_both(|| async {
        let proc = Proc::local();
        let values: MultiValues = Arc::new(Mutex::new((0, String::new())));
        let multi = proc.spawn("multi", Multi(values.clone())).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let reference: ActorRef<StringAndNumber> = multi.bind();
        reference.send(&client, "biz".to_string()).unwrap();
        reference.send(&client, 999u64).unwrap();
        sync(&multi, &client).await;
        assert_eq!(*values.lock().unwrap(), (999, "biz".to_string()));
    });
}

#[derive(Debug, Default)]
struct Nothing;
impl Actor for Nothing {}

/// Goal: a type-erased cell gives back the typed handle, and only for its type.
#[test]
fn handle_downcast_round_trips() {
    on_both(|| async {
        let proc = Proc::local();
        let handle = proc.spawn("nothing", Nothing).unwrap();
        assert!(handle.cell().downcast_handle::<Echo>().is_none());
        let again = handle.cell().downcast_handle::<Nothing>().unwrap();
        again.drain_and_stop("test").unwrap();
        assert!(matches!(again.await, ActorStatus::Stopped(_)));
    });
}

/// Goal: a checkpoint taken after some messages loads into a new actor that
/// continues from the saved state (status `Loading` first).
#[test]
fn checkpoint_round_trip_restores_state() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, mut sums) = client.open_port();
        let summer = proc
            .spawn(
                "summer",
                Summer {
                    sum: 0,
                    report: port.bind(),
                },
            )
            .unwrap();
        for value in [1u64, 2, 3] {
            summer.send(&client, value).unwrap();
        }
        let saved = summer.checkpoint().await.unwrap();
        assert_eq!(saved.sum, 6);
        summer.stop("replaced").unwrap();
        summer.await;

        let restored = proc.spawn_loaded::<Summer>("summer", saved).unwrap();
        restored.send(&client, 4u64).unwrap();
        let reported: Vec<u64> = {
            let mut all = Vec::new();
            while all.len() < 4 {
                all.push(sums.recv().await.unwrap());
            }
            all
        };
        assert_eq!(reported, vec![1, 3, 6, 10]);
    });
}

/// Blocks in its handler until released, so tests can queue work behind it.
#[derive(Debug)]
struct Gate {
    open: Option<tokio::sync::oneshot::Receiver<()>>,
    seen: PortRef<u64>,
}

impl Actor for Gate {}

impl Handler<u64> for Gate {
    async fn handle(&mut self, cx: &Context<Self>, message: u64) -> Result<(), HandlerError> {
        if let Some(open) = self.open.take() {
            let _ = open.await;
        }
        self.seen.send(cx, message)?;
        Ok(())
    }
}

/// A closed gate actor, the key that opens it, and what it let through.
fn spawn_gate(
    proc: &Proc,
    client: &Instance<()>,
) -> (
    lockstep::ActorHandle<Gate>,
    tokio::sync::oneshot::Sender<()>,
    lockstep::PortReceiver<u64>,
) {
    let (port, seen) = client.open_port();
    let (release, open) = tokio::sync::oneshot::channel();
    let gate = Gate {
        open: Some(open),
        seen: port.bind(),
    };
    (proc.spawn("gate", gate).unwrap(), release, seen)
}

/// Goal: LC-4, drain-and-stop handles everything accepted before it.
#[test]
fn lc_4_drain_and_stop_handles_everything_queued_before_it() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (gate, release, mut seen) = spawn_gate(&proc, &client);
        for value in 0..5u64 {
            gate.send(&client, value).unwrap();
        }
        gate.drain_and_stop("drained").unwrap();
        release.send(()).unwrap();
        assert_eq!(gate.await, ActorStatus::Stopped("drained".into()));
        assert_eq!(seen.drain(), vec![0, 1, 2, 3, 4]);
    });
}

/// Goal: LC-4 and UD-1, stop abandons queued work, and the abandoned messages
/// come back to their sender as undeliverable.
#[test]
fn lc_4_stop_abandons_queued_work_and_returns_it() {
    on_both(|| async {
        let (proc, client, _client, mut returned) = returning_client();
        let (gate, release, mut seen) = spawn_gate(&proc, &client);
        let mut status = gate.status();
        for value in 0..4u64 {
            gate.send(&client, value).unwrap();
        }
        status
            .wait_for(|status| matches!(status, ActorStatus::Processing(..)))
            .await
            .unwrap();
        gate.stop("now").unwrap();
        release.send(()).unwrap();
        assert_eq!(gate.await, ActorStatus::Stopped("now".into()));
        // The one in progress finished; the three queued behind it came back.
        assert_eq!(seen.drain(), vec![0]);
        let mut abandoned = 0;
        while let Ok(back) = returned.try_recv() {
            assert!(
                matches!(back.reason, UndeliverableReason::AbandonedOnStop { .. }),
                "{back}"
            );
            assert_eq!(back.message.sender(), client.self_id());
            abandoned += 1;
        }
        assert_eq!(abandoned, 3);
    });
}

/// Goal: abort fails the actor with the reason.
#[test]
fn abort_fails_the_actor() {
    on_both(|| async {
        let proc = Proc::local();
        let _coordinator = RecordingCoordinator::install(&proc).unwrap();
        let handle = proc.spawn("nothing", Nothing).unwrap();
        handle.abort("enough").unwrap();
        assert_eq!(
            handle.await,
            ActorStatus::Failed(ActorErrorKind::Aborted("enough".into()))
        );
    });
}

/// Goal: LC-1, once terminal, the status stays put: later signals fail and the
/// watch never moves again.
#[test]
fn lc_1_terminal_status_never_changes() {
    on_both(|| async {
        let proc = Proc::local();
        let handle = proc.spawn("nothing", Nothing).unwrap();
        handle.stop("first").unwrap();
        let terminal = handle.clone().await;
        assert_eq!(terminal, ActorStatus::Stopped("first".into()));
        assert!(handle.abort("second").is_err());
        assert!(handle.drain_and_stop("third").is_err());
        lockstep::rt::task::yield_now().await;
        assert_eq!(*handle.status().borrow(), terminal);
    });
}

#[derive(Debug)]
struct Sender(PortRef<u64>);

impl Actor for Sender {}

impl Handler<()> for Sender {
    async fn handle(&mut self, cx: &Context<Self>, _: ()) -> Result<(), HandlerError> {
        self.0.send(cx, 7)?;
        Ok(())
    }
}

/// Goal: UD-1, a send by reference to an actor that does not exist comes
/// back to the sending actor, whose default handler then fails it with the reason.
#[test]
fn ud_1_undeliverable_fails_the_sender_by_default() {
    on_both(|| async {
        let proc = Proc::local();
        let mut coordinator = RecordingCoordinator::install(&proc).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let nowhere = proc.proc_id().actor_id("nobody", 0).unwrap();
        let sender = proc
            .spawn("sender", Sender(PortRef::attest_message_port(&nowhere)))
            .unwrap();
        sender.send(&client, ()).unwrap();
        let status = sender.await;
        let ActorStatus::Failed(ActorErrorKind::Undeliverable(text)) = &status else {
            panic!("expected an undeliverable failure, got {status}");
        };
        assert!(text.contains("no actor local.nobody[0]"), "{text}");
        assert!(coordinator.next().await.unwrap().is_failure());
    });
}

/// Goal: UD-1, the returned envelope names the sender, the destination and a
/// structured reason (here a remote proc with no route).
#[test]
fn ud_1_undeliverable_carries_a_structured_reason() {
    on_both(|| async {
        let (_proc, client, _client, mut returned) = returning_client();
        let elsewhere = "far@tcp:10.0.0.1:1".parse::<lockstep::ProcId>().unwrap();
        let target = elsewhere.actor_id("x", 0).unwrap();
        PortRef::<u64>::attest_message_port(&target)
            .send(&client, 1)
            .unwrap();
        let back: Undeliverable<MessageEnvelope> = returned.recv().await.unwrap();
        assert_eq!(
            back.reason,
            UndeliverableReason::NoRoute { proc_id: elsewhere }
        );
        assert_eq!(back.message.sender(), client.self_id());
        assert_eq!(back.message.dest().actor_id(), &target);
    });
}

/// Goal: UD-1 for a client that takes its receiver late: what came back
/// before is waiting in it, in order, then what comes back after; the
/// receiver is handed out once.
#[test]
fn ud_1_returns_before_a_client_takes_its_receiver_wait_in_it() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let elsewhere = "far@tcp:10.0.0.1:1".parse::<lockstep::ProcId>().unwrap();
        let target = PortRef::<u64>::attest_message_port(&elsewhere.actor_id("x", 0).unwrap());
        for value in [1, 2] {
            target.send(&client, value).unwrap(); // no route: back at once
        }
        let mut returned = client.take_undeliverable_receiver().unwrap();
        assert!(
            client.take_undeliverable_receiver().is_none(),
            "handed out once"
        );
        target.send(&client, 3).unwrap();
        let mut values = Vec::new();
        for _ in 0..3 {
            let back = lockstep::time::timeout(Duration::from_secs(5), returned.recv())
                .await
                .expect("every return reaches the receiver")
                .unwrap();
            let bytes = back.message.payload().bytes().unwrap();
            values.push(lockstep::codec::decode::<u64>(bytes, 64).unwrap());
        }
        assert_eq!(values, [1, 2, 3]);
    });
}

/// Goal: UD-1 for ephemeral ports: messages a port queued (sent through its
/// handle or by reference) but never handed over come back to their sender
/// as undeliverable (`PortClosed`) when the receiver is dropped; later sends
/// are refused with the same reason.
#[test]
fn ud_1_messages_queued_on_a_dropped_port_receiver_are_returned() {
    on_both(|| async {
        let (_proc, client, _client, mut returned) = returning_client();
        let (port, receiver) = client.open_port::<u64>();
        let port_ref = port.bind();
        port.send(&client, 1).unwrap();
        port_ref.send(&client, 2).unwrap();
        let port_id = receiver.port_id().clone();
        drop(receiver);
        for _ in 0..2 {
            let back = returned.try_recv().expect("returned within the drop");
            assert_eq!(
                back.reason,
                UndeliverableReason::PortClosed {
                    port_id: port_id.clone()
                }
            );
            assert_eq!(back.message.sender(), client.self_id());
            assert_eq!(back.message.dest(), &port_id);
            assert_eq!(back.message.type_name(), std::any::type_name::<u64>());
        }
        let refused = port.send(&client, 3).unwrap_err();
        assert_eq!(refused.message, 3);
        assert_eq!(refused.reason, UndeliverableReason::PortClosed { port_id });
        assert!(returned.try_recv().is_err(), "nothing else came back");
    });
}

/// Goal: UD-1 for the reorder buffer behind a port: a message waiting there
/// for an earlier seq (SEQ-1) when the receiver is dropped comes back too.
#[test]
fn ud_1_messages_buffered_out_of_order_on_a_dropped_port_are_returned() {
    on_both(|| async {
        let (proc, client, _client, mut returned) = returning_client();
        let (port, mut receiver) = client.open_port::<u64>();
        let port_id = port.bind().port_id().clone();
        let seq = |seq| lockstep::SeqInfo::Session { session_id: 9, seq };
        let envelope = |seq_info, value: u64| {
            MessageEnvelope::new(
                client.self_id().clone(),
                port_id.clone(),
                lockstep::mailbox::Headers::new(seq_info),
                std::any::type_name::<u64>(),
                lockstep::mailbox::Payload::Serialized(
                    lockstep::codec::encode(&value, 1024).unwrap(),
                ),
            )
        };
        // Seq 2 waits in the reorder buffer for seq 1, which never comes.
        proc.post(envelope(seq(2), 20));
        assert_eq!(receiver.try_recv(), None);
        drop(receiver);
        let back = returned.try_recv().expect("returned within the drop");
        assert_eq!(back.reason, UndeliverableReason::PortClosed { port_id });
        assert_eq!(back.message.headers().seq_info(), seq(2));
    });
}

/// Goal: UD-1 for once ports: a message that arrived but was never read
/// goes back to its sender when the receiver is dropped.
#[test]
fn ud_1_an_unread_once_port_message_is_returned_when_its_receiver_drops() {
    on_both(|| async {
        let (_proc, client, _client, mut returned) = returning_client();
        let (port, receiver) = client.open_once_port::<u64>();
        let port_id = port.port_id().clone();
        port.send(&client, 5).unwrap();
        drop(receiver);
        let back = returned.try_recv().expect("returned within the drop");
        assert_eq!(back.reason, UndeliverableReason::PortClosed { port_id });
        assert_eq!(back.message.sender(), client.self_id());
    });
}

/// Goal: a port's receiver learns the port can never receive again: with
/// every handle dropped (and the port not bound), `recv` fails instead of
/// waiting forever.
#[test]
fn recv_fails_once_every_handle_is_gone() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, mut receiver) = client.open_port::<u64>();
        port.send(&client, 1).unwrap();
        drop(port);
        assert_eq!(
            receiver.recv().await,
            Ok(1),
            "what was queued still arrives"
        );
        let closed = lockstep::time::timeout(Duration::from_secs(5), receiver.recv())
            .await
            .expect("recv ends instead of waiting forever")
            .unwrap_err();
        assert_eq!(&closed.port_id, receiver.port_id());
    });
}

/// Goal: UD-1 for a once port whose wait is abandoned (a timeout): the
/// message that arrived meanwhile goes back to its sender, not into the void.
#[test]
fn ud_1_an_abandoned_once_port_wait_returns_its_message() {
    on_both(|| async {
        let (_proc, client, _client, mut returned) = returning_client();
        let (port, receiver) = client.open_once_port::<u64>();
        let port_id = port.port_id().clone();
        let mut wait = Box::pin(receiver.recv());
        // Polled once (waiting), then the message arrives, then the wait is dropped.
        assert!(futures::poll!(wait.as_mut()).is_pending());
        port.send(&client, 5).unwrap();
        drop(wait);
        let back = returned
            .try_recv()
            .expect("returned when the wait was dropped");
        assert_eq!(back.reason, UndeliverableReason::PortClosed { port_id });
    });
}

/// Goal: CH-13 at the port: a sequenced message the port refuses (here, the
/// wrong type) comes back, and its seq's slot is filled, so the next message
/// from the same sender is delivered rather than held behind a gap.
#[test]
fn a_refused_message_does_not_hold_back_the_next_one() {
    on_both(|| async {
        let (_proc, client, _client, mut returned) = returning_client();
        let (port, mut receiver) = client.open_port::<u64>();
        let port_ref = port.bind();
        PortRef::<String>::attest(port_ref.port_id().clone())
            .send(&client, "not a number".to_owned())
            .unwrap();
        port_ref.send(&client, 7).unwrap();
        let back = returned.recv().await.unwrap();
        assert!(
            matches!(back.reason, UndeliverableReason::TypeMismatch { .. }),
            "{back}"
        );
        let next = lockstep::time::timeout(Duration::from_secs(5), receiver.recv()).await;
        assert_eq!(next.expect("not held behind the refused seq"), Ok(7));
    });
}

/// Goal: CH-13 across an actor's handler ports, which share one ordering
/// domain: a sequenced message for a handler the actor does not have comes
/// back `PortUnbound`, and its slot in that domain is filled, so the next
/// message to the actor is handled rather than held behind a gap.
#[test]
fn a_message_for_a_missing_handler_does_not_hold_back_the_next_one() {
    on_both(|| async {
        let (proc, client, _client, mut returned) = returning_client();
        let (port, mut seen) = client.open_port::<u64>();
        let echo: ActorRef<Echo> = proc.spawn("echo", Echo(port.bind())).unwrap().bind();
        let missing = echo
            .actor_id()
            .port_id(lockstep::id::handler_port_index::<String>());
        PortRef::<String>::attest(missing)
            .send(&client, "no handler for this".to_owned())
            .unwrap();
        echo.send(&client, 7).unwrap();
        let back = returned.recv().await.unwrap();
        assert!(
            matches!(back.reason, UndeliverableReason::PortUnbound { .. }),
            "{back}"
        );
        let next = lockstep::time::timeout(Duration::from_secs(5), seen.recv()).await;
        assert_eq!(next.expect("not held behind the refused seq"), Ok(7));
    });
}

/// Goal: UD-1 for local sends: a handle send to a terminated actor fails
/// synchronously and hands the message back.
#[test]
fn ud_1_send_to_a_stopped_actor_hands_the_message_back() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, _seen) = client.open_port();
        let echo = proc.spawn("echo", Echo(port.bind())).unwrap();
        echo.stop("gone").unwrap();
        echo.clone().await;
        let error = echo.send(&client, 42u64).unwrap_err();
        assert_eq!(error.message, 42);
        assert!(matches!(
            error.reason,
            UndeliverableReason::ActorTerminated { .. }
        ));
    });
}

#[derive(Debug)]
struct Panicker;
impl Actor for Panicker {
    async fn cleanup(
        &mut self,
        _this: &Instance<Self>,
        _error: Option<&lockstep::ActorError>,
    ) -> Result<(), HandlerError> {
        panic!("LC-3: cleanup must not run after a panic");
    }
}
impl Handler<u64> for Panicker {
    async fn handle(&mut self, _cx: &Context<Self>, value: u64) -> Result<(), HandlerError> {
        if value == 13 {
            panic!("unlucky {value}");
        }
        Ok(())
    }
}

/// Goal: LC-3, a panic in a handler becomes `Failed` with the panic message,
/// skips cleanup, and the process (and the proc's other actors) carry on.
#[test]
fn lc_3_handler_panic_becomes_failed_and_the_process_survives() {
    on_both(|| async {
        let proc = Proc::local();
        let _coordinator = RecordingCoordinator::install(&proc).unwrap();
        let (client, _client) = proc.instance("client").unwrap();
        let panicker = proc.spawn("panicker", Panicker).unwrap();
        panicker.send(&client, 13u64).unwrap();
        assert_eq!(
            panicker.await,
            ActorStatus::Failed(ActorErrorKind::Panic("unlucky 13".into()))
        );
        let (port, mut seen) = client.open_port();
        let echo = proc.spawn("echo", Echo(port.bind())).unwrap();
        echo.send(&client, 5u64).unwrap();
        assert_eq!(seen.recv().await.unwrap(), 5);
    });
}

#[derive(Debug)]
struct BadInit;
impl Actor for BadInit {
    async fn init(&mut self, _this: &Instance<Self>) -> Result<(), HandlerError> {
        Err(HandlerError::msg("no config"))
    }
}

/// Goal: an init error fails the actor with "initialization error: …".
#[test]
fn init_error_fails_with_initialization_error() {
    on_both(|| async {
        let proc = Proc::local();
        let _coordinator = RecordingCoordinator::install(&proc).unwrap();
        let status = proc.spawn("bad", BadInit).unwrap().await;
        assert_eq!(
            status.to_string(),
            "failed: initialization error: no config"
        );
    });
}

/// Goal: ids are deterministic: root actors get pid 0, children fresh pids,
/// and a root name can't be taken twice while alive.
#[test]
fn pids_come_from_the_proc_and_names_are_unique() {
    on_both(|| async {
        let proc = Proc::local();
        let parent = proc.spawn("parent", Nothing).unwrap();
        let first = proc.spawn_child(parent.cell().clone(), Nothing).unwrap();
        let second = proc.spawn_child(parent.cell().clone(), Nothing).unwrap();
        assert_eq!(parent.actor_id().to_string(), "local.parent[0]");
        assert_eq!(first.actor_id().to_string(), "local.parent[1]");
        assert_eq!(second.actor_id().to_string(), "local.parent[2]");
        assert!(matches!(
            proc.spawn("parent", Nothing),
            Err(lockstep::ProcError::DuplicateName { .. })
        ));
    });
}
