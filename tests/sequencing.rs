//! Per-sender sequencing and the destination reorder buffer (DESIGN §3
//! Sequencing), end to end through procs and actors, on tokio and under the
//! simulator. The pure buffer has its own unit tests and properties in
//! `src/sequencing/reorder_buffer/`.

mod support;

use std::sync::{Arc, Mutex, OnceLock};

use lockstep::mailbox::ReorderingSender;
use lockstep::{ActorRef, Headers, PortHandle, Proc, ProcConfig, ProcId, SeqInfo};
use proptest::prelude::*;
use support::actors::{Callback, GetSeq};
use support::on_both;

fn session(session_id: u64, seq: u64) -> SeqInfo {
    SeqInfo::Session { session_id, seq }
}

/// Goal: PORT-1 and SEQ-0: an unbound handle sends `Direct`; once bound, the
/// handle and the reference share one counter.
#[test]
fn seq_0_handle_and_ref_share_one_counter_after_bind() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, mut replies) = client.open_port();
        let actor = proc.spawn("get_seq", GetSeq(port.bind())).unwrap();

        actor.send(&client, "unbound".to_string()).unwrap();
        assert_eq!(
            replies.recv().await.unwrap(),
            ("unbound".into(), SeqInfo::Direct)
        );

        let reference: ActorRef<GetSeq> = actor.bind();
        let session_id = client.sequencer().session_id();
        let mut expected = 0;
        for m in 0..10 {
            actor.send(&client, format!("{m}")).unwrap();
            expected += 1;
            assert_eq!(
                replies.recv().await.unwrap(),
                (format!("{m}"), session(session_id, expected))
            );
            for n in 0..2 {
                reference.port().send(&client, format!("{m}-{n}")).unwrap();
                expected += 1;
                assert_eq!(
                    replies.recv().await.unwrap(),
                    (format!("{m}-{n}"), session(session_id, expected))
                );
            }
        }
    });
}

/// Goal: SEQ-0: handler ports of one actor share a counter, while an
/// ephemeral (non-actor) port has its own, starting at 1.
#[test]
fn seq_0_actor_ports_share_a_sequence_and_other_ports_have_their_own() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (actor_port, mut actor_replies) = client.open_port();
        let (other_sender, mut other_replies) = tokio::sync::mpsc::unbounded_channel::<SeqInfo>();
        let other_port = client.open_enqueue_port(move |headers: Headers, _: ()| {
            other_sender.send(headers.seq_info()).unwrap();
        });
        other_port.bind();

        let actor = proc.spawn("get_seq", GetSeq(actor_port.bind())).unwrap();
        let reference: ActorRef<GetSeq> = actor.bind();
        let session_id = client.sequencer().session_id();

        actor.send(&client, "msg1".to_string()).unwrap();
        assert_eq!(
            actor_replies.recv().await.unwrap().1,
            session(session_id, 1)
        );
        reference.port().send(&client, "msg2".to_string()).unwrap();
        assert_eq!(
            actor_replies.recv().await.unwrap().1,
            session(session_id, 2)
        );
        other_port.send(&client, ()).unwrap();
        assert_eq!(other_replies.recv().await.unwrap(), session(session_id, 1));
        actor.send(&client, "msg3".to_string()).unwrap();
        assert_eq!(
            actor_replies.recv().await.unwrap().1,
            session(session_id, 3)
        );
        other_port.send(&client, ()).unwrap();
        assert_eq!(other_replies.recv().await.unwrap(), session(session_id, 2));
        reference.port().send(&client, "msg4".to_string()).unwrap();
        assert_eq!(
            actor_replies.recv().await.unwrap().1,
            session(session_id, 4)
        );
        actor.drain_and_stop("test").unwrap();
        actor.await;
    });
}

/// Goal: every sending instance has its own session; their counters are independent.
#[test]
fn sessions_of_different_clients_are_independent() {
    on_both(|| async {
        let proc = Proc::local();
        let (first, _first) = proc.instance("client1").unwrap();
        let (second, _second) = proc.instance("client2").unwrap();
        let (port, mut replies) = first.open_port();
        let actor = proc.spawn("get_seq", GetSeq(port.bind())).unwrap();
        let reference: ActorRef<GetSeq> = actor.bind();
        let (one, two) = (
            first.sequencer().session_id(),
            second.sequencer().session_id(),
        );
        assert_ne!(one, two);

        actor.send(&first, "a".to_string()).unwrap();
        assert_eq!(replies.recv().await.unwrap().1, session(one, 1));
        actor.send(&second, "b".to_string()).unwrap();
        assert_eq!(replies.recv().await.unwrap().1, session(two, 1));
        reference.port().send(&first, "c".to_string()).unwrap();
        assert_eq!(replies.recv().await.unwrap().1, session(one, 2));
        reference.port().send(&second, "d".to_string()).unwrap();
        assert_eq!(replies.recv().await.unwrap().1, session(two, 2));
        actor.send(&first, "e".to_string()).unwrap();
        assert_eq!(replies.recv().await.unwrap().1, session(one, 3));
        reference.port().send(&second, "f".to_string()).unwrap();
        assert_eq!(replies.recv().await.unwrap().1, session(two, 3));
    });
}

/// Goal: SEQ-0 prevents a deadlock: while the actor handles a `Callback` and
/// waits on one of its own ephemeral ports, a message to that port (its own
/// domain) is not held behind the actor's handler-port domain.
#[test]
fn seq_0_callback_to_an_ephemeral_port_does_not_deadlock() {
    on_both(|| async {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let (port, mut replies) = client.open_port();
        let actor = proc.spawn("get_seq", GetSeq(port.bind())).unwrap();
        let reference: ActorRef<GetSeq> = actor.bind();
        let (callback, mut callbacks) = client.open_port();
        reference.send(&client, Callback(callback.bind())).unwrap();
        let message_port = callbacks.recv().await.unwrap();
        message_port.send(&client, "finally".to_string()).unwrap();
        let session_id = client.sequencer().session_id();
        assert_eq!(
            replies.recv().await.unwrap(),
            ("finally".into(), session(session_id, 1))
        );
    });
}

/// Sends `messages` in order from a client of a second proc whose forwarder
/// relays them to `local` reordered by `relay_positions`; returns what the
/// actor handled, in handling order.
async fn relay_and_collect(
    reorder_buffer: bool,
    messages: usize,
    relay_positions: Vec<usize>,
) -> Vec<(String, u64)> {
    let config = ProcConfig::default().with_reorder_buffer(reorder_buffer);
    let local = Proc::with_config(ProcId::local("local").unwrap(), NoForwarding, config);
    let (client, _client) = local.instance("local").unwrap();
    let (port, mut replies) = client.open_port();
    let actor = local.spawn("get_seq", GetSeq(port.bind())).unwrap();
    let reference: ActorRef<GetSeq> = actor.bind();

    let remote = Proc::configured(
        ProcId::local("remote_0").unwrap(),
        ReorderingSender::by_seq(local.clone(), relay_positions),
    );
    let (remote_client, _remote_client) = remote.instance("remote").unwrap();
    for index in 0..messages {
        reference
            .send(&remote_client, format!("msg{index}"))
            .unwrap();
    }
    let session_id = remote_client.sequencer().session_id();
    let mut handled = Vec::new();
    for _ in 0..messages {
        let (message, seq_info) = replies.recv().await.unwrap();
        let SeqInfo::Session {
            session_id: got,
            seq,
        } = seq_info
        else {
            panic!("expected a sequenced message, got {seq_info}");
        };
        assert_eq!(got, session_id);
        handled.push((message, seq));
    }
    actor.drain_and_stop("test").unwrap();
    actor.await;
    handled
}

/// A forwarder for a proc that sends nowhere else.
struct NoForwarding;
impl lockstep::MailboxSender for NoForwarding {
    fn post(
        &self,
        envelope: lockstep::MessageEnvelope,
        return_handle: &lockstep::PortHandle<lockstep::Undeliverable<lockstep::MessageEnvelope>>,
    ) {
        let proc_id = envelope.dest().actor_id().proc_id().clone();
        lockstep::mailbox::return_undeliverable(
            return_handle,
            envelope,
            lockstep::UndeliverableReason::NoRoute { proc_id },
        );
    }
}

/// Goal: with the buffer off, messages are handled in arrival order (2-3-1);
/// with it on, in send order (1-2-3). The switch is per proc (PROC-1).
#[test]
fn seq_2_known_relay_order_arrival_order_when_off_send_order_when_on() {
    on_both(|| async {
        let off = relay_and_collect(false, 3, vec![2, 0, 1]).await;
        assert_eq!(
            off,
            vec![("msg1".into(), 2), ("msg2".into(), 3), ("msg0".into(), 1)]
        );
        let on = relay_and_collect(true, 3, vec![2, 0, 1]).await;
        assert_eq!(
            on,
            vec![("msg0".into(), 1), ("msg1".into(), 2), ("msg2".into(), 3)]
        );
    });
}

/// Goal: SEQ-2 at scale: 10,000 messages relayed in a random order are handled
/// in send order.
#[test]
fn seq_2_ten_thousand_shuffled_messages_are_handled_in_send_order() {
    on_both(|| async {
        let count = 10_000;
        let mut positions: Vec<usize> = (0..count).collect();
        // Fisher–Yates driven by the world's user stream (seeded under simulation).
        for index in (1..count).rev() {
            let other = lockstep::random::below(index as u64 + 1) as usize;
            positions.swap(index, other);
        }
        let handled = relay_and_collect(true, count, positions).await;
        let expected: Vec<(String, u64)> = (0..count)
            .map(|index| (format!("msg{index}"), index as u64 + 1))
            .collect();
        assert_eq!(handled, expected);
    });
}

/// A message's place: (session id, seq).
type SessionSeq = (u64, u64);

/// Collects what a handler saw, in handling order.
type Seen = Arc<Mutex<Vec<SessionSeq>>>;

/// Drives the property tests: `senders` clients on a remote proc each send
/// `per_sender` messages; the forwarder relays arrivals by `relay` (indices
/// into arrival order: a permutation, possibly with duplicates); returns what
/// the port's handler saw and what was sent, both as (session, seq).
fn run_property_case(
    reorder_buffer: bool,
    per_sender: Vec<usize>,
    relay: Vec<usize>,
) -> (Vec<SessionSeq>, Vec<SessionSeq>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let config = ProcConfig::default().with_reorder_buffer(reorder_buffer);
        let local = Proc::with_config(ProcId::local("local").unwrap(), NoForwarding, config);
        let seen: Seen = Arc::default();
        let (client, _client) = local.instance("observer").unwrap();
        let recorder = {
            let seen = seen.clone();
            client.open_enqueue_port(move |headers: Headers, _: u64| {
                if let SeqInfo::Session { session_id, seq } = headers.seq_info() {
                    seen.lock().unwrap().push((session_id, seq));
                }
            })
        };
        recorder.bind();
        let target = lockstep::PortRef::<u64>::attest(recorder.port_id().clone());
        let total: usize = per_sender.iter().sum();
        let remote = Proc::configured(
            ProcId::local("remote").unwrap(),
            ReorderingSender::by_arrival(local.clone(), total, relay.clone()),
        );
        let mut sent = Vec::new();
        let mut clients = Vec::new();
        for (index, count) in per_sender.iter().enumerate() {
            let (sender, handle) = remote.instance(&format!("sender{index}")).unwrap();
            for _ in 0..*count {
                target.send(&sender, 0).unwrap();
                let session_id = sender.sequencer().session_id();
                let seq = sent.iter().filter(|(s, _)| *s == session_id).count() as u64 + 1;
                sent.push((session_id, seq));
            }
            clients.push((sender, handle));
        }
        lockstep::rt::task::yield_now().await;
        let handled = seen.lock().unwrap().clone();
        (handled, sent)
    })
}

/// Interleaved sends from several senders, then a permutation of them with
/// some duplicated.
fn senders_and_relay() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    proptest::collection::vec(1usize..25, 1..5).prop_flat_map(|per_sender| {
        let total: usize = per_sender.iter().sum();
        let permutation = Just((0..total).collect::<Vec<_>>()).prop_shuffle();
        let duplicates = proptest::collection::vec(0..total, 0..total.min(10));
        (Just(per_sender), permutation, duplicates).prop_map(|(per_sender, mut relay, dups)| {
            relay.extend(dups);
            (per_sender, relay)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// SEQ-2, SEQ-3, SEQ-4 end to end: for any number of sessions, any
    /// interleaving and permutation of their messages, and any duplication,
    /// the handler sees each session's messages exactly once, in seq order.
    #[test]
    fn seq_2_each_session_is_handled_exactly_once_in_order_under_any_permutation_and_duplication(
        (per_sender, relay) in senders_and_relay()
    ) {
        let (handled, _) = run_property_case(true, per_sender.clone(), relay);
        let mut sessions: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for (session_id, seq) in handled {
            sessions.entry(session_id).or_default().push(seq);
        }
        prop_assert_eq!(sessions.len(), per_sender.len());
        let mut counts: Vec<usize> = per_sender.clone();
        counts.sort_unstable();
        let mut seen_counts: Vec<usize> = sessions.values().map(Vec::len).collect();
        seen_counts.sort_unstable();
        prop_assert_eq!(seen_counts, counts);
        for seqs in sessions.values() {
            prop_assert_eq!(seqs.clone(), (1..=seqs.len() as u64).collect::<Vec<_>>());
        }
    }

    /// With the buffer off, handling order equals arrival order exactly
    /// (duplicates included).
    #[test]
    fn buffer_off_handling_order_equals_arrival_order(
        (per_sender, relay) in senders_and_relay()
    ) {
        let (handled, sent) = run_property_case(false, per_sender, relay.clone());
        let arrivals: Vec<(u64, u64)> = relay.iter().map(|index| sent[*index]).collect();
        prop_assert_eq!(handled, arrivals);
    }

    /// SEQ-4: withholding one message of one session holds back only that
    /// session's later messages; every other session is handled completely.
    #[test]
    fn seq_4_a_gap_holds_back_only_its_own_session(
        (per_sender, relay) in senders_and_relay(), withheld in any::<prop::sample::Index>()
    ) {
        let total: usize = per_sender.iter().sum();
        let withheld = withheld.index(total);
        let relay: Vec<usize> = relay.into_iter().filter(|index| *index != withheld).collect();
        let (handled, sent) = run_property_case(true, per_sender, relay);
        let (gapped_session, gap_seq) = sent[withheld];
        let mut expected: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for (session_id, seq) in &sent {
            if *session_id != gapped_session || *seq < gap_seq {
                expected.entry(*session_id).or_default().push(*seq);
            }
        }
        let mut actual: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for (session_id, seq) in handled {
            actual.entry(session_id).or_default().push(seq);
        }
        // The gapped session got exactly its seqs below the gap; every other
        // session got everything, in order.
        prop_assert_eq!(actual, expected);
    }
}

/// Goal: SEQ-7 — an enqueue port's closure runs outside the port's
/// ordering lock, so a closure that sends to its own port (a loop-back) is
/// not stuck on a lock its own thread holds; what it sends is served once
/// the current call returns, in send order. With the reorder buffer on and
/// off, on tokio and in the simulator, on a thread of its own so a
/// regression fails instead of hanging.
#[test]
fn seq_7_an_enqueue_port_whose_closure_sends_to_its_own_port_serves_each_in_order() {
    for reorder_buffer in [true, false] {
        let (done, finished) = std::sync::mpsc::channel();
        #[expect(
            clippy::disallowed_methods,
            reason = "a watchdog thread, so a deadlock fails the test instead of hanging it"
        )]
        let body = std::thread::spawn(move || {
            on_both(move || loop_back_through_an_enqueue_port(reorder_buffer));
            let _ = done.send(());
        });
        match finished.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(()) => body.join().expect("the body finished"),
            // The body panicked: join to show its own message.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(panic) = body.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
                "serving an enqueue port's loop-back send deadlocked (reorder buffer {reorder_buffer})"
            ),
        }
    }
}

/// A client's enqueue port whose closure sends the next number to the same
/// port until 5; checks each was served once, in send order, after the
/// call that sent it returned.
async fn loop_back_through_an_enqueue_port(reorder_buffer: bool) {
    let config = ProcConfig::default().with_reorder_buffer(reorder_buffer);
    let proc = Proc::with_config(ProcId::local("loop").unwrap(), NoForwarding, config);
    let (client, _client) = proc.instance("client").unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let own_port = Arc::new(OnceLock::<PortHandle<u64>>::new());
    let (sender, record, port_slot) = (client.clone(), served.clone(), own_port.clone());
    let port = client.open_enqueue_port(move |headers: Headers, value: u64| {
        if value < 5 {
            let port = port_slot.get().expect("set before the first send");
            port.send(&sender, value + 1).expect("the port is open");
        }
        // Recorded after the send: the message sent above must not be
        // served before this call returns.
        record.lock().unwrap().push((value, headers.seq_info()));
    });
    port.bind();
    assert!(own_port.set(port.clone()).is_ok());
    port.send(&client, 0).unwrap();
    let session_id = client.sequencer().session_id();
    let expected: Vec<(u64, SeqInfo)> = (0..6)
        .map(|value| (value, session(session_id, value + 1)))
        .collect();
    assert_eq!(*served.lock().unwrap(), expected);
}

/// Goal: SEQ-7 under real threads — four threads, each a client of its own,
/// send 20,000 sequenced messages each to one enqueue port at once: every
/// message is served exactly once, each sender's in its send order, and the
/// closure never runs on two threads at once (whichever sender finds nobody
/// serving serves the others' messages too).
#[test]
fn seq_7_concurrent_senders_are_each_served_once_in_order_never_two_at_once() {
    const SENDERS: usize = 4;
    const EACH: u64 = 20_000;
    let proc = Proc::local();
    let (owner, _owner) = proc.instance("owner").unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let serving = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (record, busy) = (served.clone(), serving.clone());
    let port = owner.open_enqueue_port(move |headers: Headers, _: u64| {
        assert!(
            !busy.swap(true, std::sync::atomic::Ordering::SeqCst),
            "two serves at once"
        );
        record.lock().unwrap().push(headers.seq_info());
        busy.store(false, std::sync::atomic::Ordering::SeqCst);
    });
    port.bind();
    let sessions: Vec<u64> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|index| {
                let (proc, port) = (&proc, &port);
                scope.spawn(move || {
                    let (client, _client) = proc.instance(&format!("client{index}")).unwrap();
                    for value in 0..EACH {
                        port.send(&client, value).unwrap();
                    }
                    client.sequencer().session_id()
                })
            })
            .collect();
        senders
            .into_iter()
            .map(|sender| sender.join().unwrap())
            .collect()
    });
    let served = served.lock().unwrap();
    assert_eq!(served.len(), SENDERS * EACH as usize, "each served once");
    for session_id in sessions {
        let seqs: Vec<u64> = served
            .iter()
            .filter_map(|seq_info| match seq_info {
                SeqInfo::Session {
                    session_id: id,
                    seq,
                } if *id == session_id => Some(*seq),
                _ => None,
            })
            .collect();
        assert_eq!(
            seqs,
            (1..=EACH).collect::<Vec<_>>(),
            "session {session_id:x} in order"
        );
    }
}
