//! The session protocol end to end over in-memory links, through a test
//! double that drops connections, duplicates and delays frames — on tokio and
//! under the simulator (`on_both`). Two procs per test, each with a `Router`
//! and a `serve`d `local:` address in its own `LocalNetwork`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use lockstep::channel::{
    ChannelAddr, ChannelConfig, ChannelError, FrameTx, Link, Listener, LocalNetwork, Router,
    Server, Transport, Transports, serve,
};
use lockstep::rt::time;
use lockstep::{
    Instance, MessageEnvelope, PortReceiver, PortRef, Proc, ProcConfig, ProcId, SeqInfo,
    Undeliverable, UndeliverableReason,
};
use support::on_both;
use tokio::sync::mpsc::UnboundedReceiver;

/// What the test double does to the frames a dialer writes.
#[derive(Clone, Default)]
struct Faults {
    /// Drop the connection at every n-th data frame (counted across links).
    drop_every_frames: Option<u64>,
    /// Write every n-th data frame twice.
    duplicate_every_frames: Option<u64>,
    /// Wait this long before writing each batch.
    delay_ms: u64,
    /// Swallow every data frame (the link looks alive; nothing arrives).
    black_hole: bool,
    data_frames: Arc<AtomicU64>,
}

/// A transport whose dialed links misbehave as `faults` says.
#[derive(Clone)]
struct FaultyTransport {
    inner: Transports,
    faults: Faults,
}

struct FaultyTx {
    inner: Box<dyn FrameTx>,
    faults: Faults,
    peer: ChannelAddr,
}

const DATA_TAG: u8 = 2;

impl FrameTx for FaultyTx {
    fn send_batch<'a>(
        &'a mut self,
        frames: &'a [&'a [u8]],
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            if self.faults.delay_ms > 0 {
                time::sleep(Duration::from_millis(self.faults.delay_ms)).await;
            }
            let mut out: Vec<&[u8]> = Vec::new();
            for frame in frames {
                if frame.first() != Some(&DATA_TAG) {
                    out.push(frame);
                    continue;
                }
                let n = self.faults.data_frames.fetch_add(1, Ordering::Relaxed) + 1;
                if self.faults.black_hole {
                    continue;
                }
                if self
                    .faults
                    .drop_every_frames
                    .is_some_and(|every| n % every == 0)
                {
                    self.inner.send_batch(&out).await?;
                    self.inner.close().await;
                    return Err(ChannelError::Closed {
                        address: self.peer.to_string(),
                    });
                }
                out.push(frame);
                if self
                    .faults
                    .duplicate_every_frames
                    .is_some_and(|every| n % every == 0)
                {
                    out.push(frame);
                }
            }
            self.inner.send_batch(&out).await
        })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}

impl Transport for FaultyTransport {
    fn dial(&self, addr: &ChannelAddr) -> BoxFuture<'static, Result<Link, ChannelError>> {
        let dialing = self.inner.dial(addr);
        let faults = self.faults.clone();
        Box::pin(async move {
            let link = dialing.await?;
            Ok(Link {
                tx: Box::new(FaultyTx {
                    inner: link.tx,
                    faults,
                    peer: link.peer.clone(),
                }),
                rx: link.rx,
                peer: link.peer,
            })
        })
    }

    fn listen(
        &self,
        addr: &ChannelAddr,
    ) -> BoxFuture<'static, Result<Box<dyn Listener>, ChannelError>> {
        self.inner.listen(addr)
    }

    fn frame_bytes_max(&self, addr: &ChannelAddr) -> Option<u32> {
        self.inner.frame_bytes_max(addr)
    }
}

/// A proc with a router and a served `local:` address.
struct Node {
    proc: Proc,
    router: Router,
    server: Server,
}

async fn node(name: &str, transport: &FaultyTransport, config: &ChannelConfig) -> Node {
    let addr: ChannelAddr = format!("local:{name}").parse().unwrap();
    let listener = transport.listen(&addr).await.unwrap();
    let proc_id = ProcId::remote(name, &listener.local_addr().to_string()).unwrap();
    let router = Router::new(transport.clone(), config.clone());
    let proc = Proc::with_config(proc_id, router.clone(), ProcConfig::default());
    let server = serve(&proc, listener, config.clone());
    Node {
        proc,
        router,
        server,
    }
}

/// Sender `a` and receiver `b` on one network with `faults` on a's dials.
struct Pair {
    a: Node,
    b: Node,
    client: Instance<()>,
    returned: UnboundedReceiver<Undeliverable<MessageEnvelope>>,
    target: PortRef<u64>,
    received: PortReceiver<u64>,
    _b_client: Instance<()>,
}

async fn pair(faults: Faults, config: ChannelConfig) -> Pair {
    let network = LocalNetwork::new();
    let transports = Transports::new(network, config.frame_bytes_max);
    let faulty = FaultyTransport {
        inner: transports.clone(),
        faults,
    };
    let clean = FaultyTransport {
        inner: transports,
        faults: Faults::default(),
    };
    let a = node("a", &faulty, &config).await;
    let b = node("b", &clean, &config).await;
    let (client, _) = a.proc.instance("client").unwrap();
    let returned = client.take_undeliverable_receiver().unwrap();
    let (b_client, _) = b.proc.instance("sink").unwrap();
    let (port, received) = b_client.open_port::<u64>();
    Pair {
        a,
        b,
        client,
        returned,
        target: port.bind(),
        received,
        _b_client: b_client,
    }
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn receive_in_order(pair: &mut Pair, count: u64) {
    for expected in 1..=count {
        let got = within("a message", pair.received.recv()).await.unwrap();
        assert_eq!(got, expected, "CH-4: delivered in order, exactly once");
    }
}

/// Goal: CH-6 — after connections drop, exactly the unacknowledged frames
/// are resent and everything arrives once, in order. Method: drop the link
/// at every 150th data frame while 2,000 messages flow.
#[test]
fn ch_6_unacked_frames_are_resent_after_connections_drop() {
    on_both(|| async {
        let faults = Faults {
            drop_every_frames: Some(150),
            ..Faults::default()
        };
        let mut pair = pair(faults, ChannelConfig::default()).await;
        for n in 1..=2_000u64 {
            pair.target.send(&pair.client, n).unwrap();
        }
        receive_in_order(&mut pair, 2_000).await;
        let stats = pair.a.router.stats();
        assert!(stats.links_lost >= 10, "{stats:?}");
        assert!(stats.reconnects >= 10, "{stats:?}");
        assert!(stats.frames_resent > 0, "{stats:?}");
        assert!(pair.returned.try_recv().is_err(), "nothing comes back");
        assert!(pair.received.try_recv().is_none(), "nothing extra arrives");
    });
}

/// Goal: CH-4 — duplicated frames are dropped as replays, and delayed
/// batches change nothing but timing. Method: duplicate every 3rd data frame
/// and delay every batch by 2 ms.
#[test]
fn ch_4_duplicated_and_delayed_frames_arrive_exactly_once() {
    on_both(|| async {
        let faults = Faults {
            duplicate_every_frames: Some(3),
            delay_ms: 2,
            ..Faults::default()
        };
        let mut pair = pair(faults, ChannelConfig::default()).await;
        for n in 1..=600u64 {
            pair.target.send(&pair.client, n).unwrap();
        }
        receive_in_order(&mut pair, 600).await;
        // Replayed copies may still be in flight when the last message lands.
        within("the dropped replays", async {
            while pair.b.server.stats().replays_dropped < 150 {
                time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(pair.received.try_recv().is_none());
    });
}

/// Goal: CH-11/CH-7 — a link that swallows everything returns every
/// unacknowledged message to its sender after the delivery timeout.
#[test]
fn ch_11_delivery_timeout_returns_every_unacked_message() {
    on_both(|| async {
        let faults = Faults {
            black_hole: true,
            ..Faults::default()
        };
        let config = ChannelConfig {
            delivery_timeout_ms: 300,
            ..ChannelConfig::default()
        };
        let mut pair = pair(faults, config).await;
        for n in 1..=20u64 {
            pair.target.send(&pair.client, n).unwrap();
        }
        let mut values = Vec::new();
        for _ in 1..=20 {
            let back = within("a returned message", pair.returned.recv())
                .await
                .unwrap();
            assert_eq!(
                back.reason,
                UndeliverableReason::DeliveryTimeout { timeout_ms: 300 }
            );
            // The session keeps only the frame; what comes back is the
            // envelope that was sent, rebuilt whole from it.
            assert_eq!(back.message.sender(), pair.client.self_id());
            assert_eq!(back.message.dest(), pair.target.port_id());
            assert!(
                matches!(back.message.headers().seq_info(), SeqInfo::Session { seq, .. } if seq == values.len() as u64 + 1),
                "{:?}",
                back.message.headers()
            );
            assert_eq!(back.message.type_name(), std::any::type_name::<u64>());
            let lockstep::mailbox::Payload::Serialized(bytes) = back.message.payload() else {
                panic!("a remote send is serialized");
            };
            values.push(lockstep::codec::decode::<u64>(bytes, 64).unwrap());
        }
        assert_eq!(
            values,
            (1..=20).collect::<Vec<u64>>(),
            "every one, in order"
        );
        // The router counts a return just after handing it back: wait for it.
        within("the return count", async {
            while pair.a.router.stats().messages_returned < 20 {
                time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert_eq!(pair.a.router.stats().messages_returned, 20);
        assert!(pair.received.try_recv().is_none());
    });
}

/// Goal: CH-5 — when a sender closes, the acceptor flushes its ack at once
/// (not after the ack interval). Method: acks only every 10,000 frames or
/// 60 s; send 10, close the router, see all 10 acknowledged promptly.
#[test]
fn ch_5_acks_are_flushed_on_close() {
    on_both(|| async {
        let config = ChannelConfig {
            ack_interval_frames: 10_000,
            ack_interval_ms: 60_000,
            ..ChannelConfig::default()
        };
        let mut pair = pair(Faults::default(), config).await;
        for n in 1..=10u64 {
            pair.target.send(&pair.client, n).unwrap();
        }
        receive_in_order(&mut pair, 10).await;
        assert_eq!(pair.a.router.stats().messages_acked, 0, "no ack yet");
        pair.a.router.close();
        within("the flushed ack", async {
            while pair.a.router.stats().messages_acked < 10 {
                time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(pair.a.router.stats().messages_returned, 0);
    });
}

/// Goal: CH-7 — what cannot be routed comes back with a reason: a proc with
/// no address (NoRoute), an address nobody serves (Transport, after the
/// delivery timeout), an address no transport knows.
#[test]
fn ch_7_unroutable_envelopes_come_back_with_a_reason() {
    on_both(|| async {
        let config = ChannelConfig {
            delivery_timeout_ms: 200,
            ..ChannelConfig::default()
        };
        let mut pair = pair(Faults::default(), config).await;
        let send_to = |proc_id: &str| {
            let proc_id: ProcId = proc_id.parse().unwrap();
            let target = proc_id.actor_id("x", 0).unwrap();
            PortRef::<u64>::attest_message_port(&target)
                .send(&pair.client, 1)
                .unwrap();
        };
        send_to("nowhere");
        send_to("ghost@local:ghost");
        send_to("alien@sim:p9");
        let mut reasons = Vec::new();
        for _ in 0..3 {
            let back = within("a returned message", pair.returned.recv())
                .await
                .unwrap();
            reasons.push(back.reason.to_string());
        }
        reasons.sort();
        assert!(
            reasons[0].starts_with("no route to proc nowhere"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].contains("local:ghost unreachable") && reasons[1].contains("refused"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].contains("no transport serves sim:p9"),
            "{reasons:?}"
        );
    });
}

/// Goal: CH-12 — a proc serving an address takes only messages for itself:
/// an envelope that reaches it addressed to another proc (here a name the
/// sender paired with this proc's address) comes back to its sender as
/// `Misdirected`, and is never relayed onwards (relaying it would send it
/// straight back to this address, forever).
#[test]
fn ch_12_a_misdirected_envelope_comes_back_and_is_not_relayed() {
    on_both(|| async {
        let mut pair = pair(Faults::default(), ChannelConfig::default()).await;
        let served_by = pair.b.proc.proc_id().clone();
        let impostor = ProcId::remote("impostor", served_by.address().unwrap()).unwrap();
        let target = impostor.actor_id("x", 0).unwrap();
        PortRef::<u64>::attest_message_port(&target)
            .send(&pair.client, 1)
            .unwrap();
        let back = within("the misdirected message", pair.returned.recv())
            .await
            .unwrap();
        assert_eq!(
            back.reason,
            UndeliverableReason::Misdirected {
                proc_id: impostor,
                served_by,
            }
        );
        // The proc still serves its own actors.
        pair.target.send(&pair.client, 1).unwrap();
        receive_in_order(&mut pair, 1).await;
    });
}

/// Nodes `a` (default limits) and `b`, which takes messages of at most
/// 1,024 bytes, on one fault-free network (CH-13's setting).
async fn sender_and_small_receiver() -> (Node, Node) {
    let config = ChannelConfig::default();
    let transport = FaultyTransport {
        inner: Transports::new(LocalNetwork::new(), config.frame_bytes_max),
        faults: Faults::default(),
    };
    let small = ChannelConfig {
        message_bytes_max: 1024,
        ..config.clone()
    };
    let a = node("a", &transport, &config).await;
    let b = node("b", &transport, &small).await;
    (a, b)
}

/// A client on `a` (and its undeliverable returns), and two ports of a
/// sink instance on `b`: one for blobs, one for numbers.
struct BlobsAndNumbers {
    client: Instance<()>,
    _client_handle: lockstep::ActorHandle<()>,
    returned: UnboundedReceiver<Undeliverable<MessageEnvelope>>,
    _sink: (Instance<()>, lockstep::ActorHandle<()>),
    blobs: PortRef<Vec<u8>>,
    blobs_received: PortReceiver<Vec<u8>>,
    numbers: PortRef<u64>,
    numbers_received: PortReceiver<u64>,
}

fn blobs_and_numbers(a: &Node, b: &Node) -> BlobsAndNumbers {
    let (client, client_handle) = a.proc.instance("client").unwrap();
    let returned = client.take_undeliverable_receiver().unwrap();
    let sink = b.proc.instance("sink").unwrap();
    let (blobs, blobs_received) = sink.0.open_port::<Vec<u8>>();
    let (numbers, numbers_received) = sink.0.open_port::<u64>();
    BlobsAndNumbers {
        blobs: blobs.bind(),
        numbers: numbers.bind(),
        client,
        _client_handle: client_handle,
        returned,
        _sink: sink,
        blobs_received,
        numbers_received,
    }
}

/// A blob refused for exceeding `limit_bytes`.
fn blob_too_large(limit_bytes: u64) -> UndeliverableReason {
    UndeliverableReason::TooLarge {
        type_name: std::any::type_name::<Vec<u8>>().to_owned(),
        limit_bytes,
    }
}

/// Goal: CH-13 — an envelope the receiving proc cannot take (larger than its
/// `message_bytes_max`) comes back to its sender as `TooLarge`, and the
/// session goes on: traffic behind it is delivered at once, without the link
/// closing or anything waiting for a delivery timeout — to another port, and
/// to the same port too (the refused seq's slot is filled, so the next one
/// is not held behind a gap).
#[test]
fn ch_13_an_envelope_too_large_for_the_receiver_comes_back_and_the_rest_go_on() {
    on_both(|| async {
        let (a, b) = sender_and_small_receiver().await;
        let BlobsAndNumbers {
            client,
            mut returned,
            blobs,
            mut blobs_received,
            numbers,
            mut numbers_received,
            _client_handle,
            _sink,
        } = blobs_and_numbers(&a, &b);
        blobs.send(&client, vec![1; 8]).unwrap();
        blobs.send(&client, vec![2; 4096]).unwrap();
        numbers.send(&client, 3).unwrap();
        blobs.send(&client, vec![4; 8]).unwrap();
        let first = within("the first", blobs_received.recv()).await.unwrap();
        assert_eq!(first, vec![1; 8]);
        let after = within("the one behind", numbers_received.recv()).await;
        assert_eq!(after.unwrap(), 3);
        let same_port = within("the next on the same port", blobs_received.recv()).await;
        assert_eq!(same_port.unwrap(), vec![4; 8]);
        let back = within("the refused message", returned.recv())
            .await
            .unwrap();
        assert_eq!(back.reason, blob_too_large(1024));
        assert_eq!(back.message.dest(), blobs.port_id());
        assert_eq!(back.message.sender(), client.self_id());
        let stats = b.server.stats();
        assert_eq!((stats.envelopes_refused, stats.links_failed), (1, 0));
    });
}

/// Sends a 4 KiB blob over links that frame at most 1 KiB, then a number
/// behind it: the blob must come back at once as `TooLarge` (naming the
/// room a 1 KiB frame leaves), the number must arrive, and no link may fail.
async fn too_large_comes_back_at_once(config: ChannelConfig) {
    let transport = FaultyTransport {
        inner: Transports::new(LocalNetwork::with_frame_bytes_max(1024), 1024),
        faults: Faults::default(),
    };
    let a = node("a", &transport, &config).await;
    let b = node("b", &transport, &config).await;
    let BlobsAndNumbers {
        client,
        mut returned,
        blobs,
        blobs_received: _blobs_received,
        numbers,
        mut numbers_received,
        _client_handle,
        _sink,
    } = blobs_and_numbers(&a, &b);
    blobs.send(&client, vec![1; 4096]).unwrap();
    numbers.send(&client, 2).unwrap();
    let back = within("the refused message", returned.recv())
        .await
        .unwrap();
    assert_eq!(back.reason, blob_too_large(1024 - 9));
    let behind = within("the one behind", numbers_received.recv()).await;
    assert_eq!(behind.unwrap(), 2);
    assert_eq!(a.router.stats().links_lost, 0, "no write failed");
}

/// Goal: CH-2 at the sender — an envelope whose frame would exceed the
/// sender's frame limit comes back at once as `TooLarge` (naming the room a
/// frame leaves), instead of failing the link on every write and resend
/// until its delivery timeout; traffic behind it goes on, on the same link.
#[test]
fn ch_2_an_envelope_too_large_for_a_frame_comes_back_at_once() {
    on_both(|| {
        too_large_comes_back_at_once(ChannelConfig {
            frame_bytes_max: 1024,
            ..ChannelConfig::default()
        })
    });
}

/// Goal: CH-2 at the sender when the limits disagree — links that frame
/// with a smaller limit than the channel config's: the router refuses at
/// the smaller one (`Transport::frame_bytes_max`), so the envelope still
/// comes back at once and no link fails writing it.
#[test]
fn ch_2_the_router_refuses_at_the_transports_frame_limit_when_it_is_smaller() {
    let config = ChannelConfig::default();
    assert!(config.frame_bytes_max > 1024);
    on_both(move || too_large_comes_back_at_once(config.clone()));
}

/// Goal: CH-2's limit is per destination — links to `local:` that take
/// only 1 KiB frames do not cap what goes to `tcp:`, whose links frame with
/// the transports' own (larger) limit: a 4 KiB blob to an unreachable
/// `tcp:` proc comes back as unreachable, not as `TooLarge`. (On tokio:
/// it dials a real socket.)
#[test]
fn ch_2_a_destinations_frame_limit_is_that_of_its_own_links() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime with IO");
    runtime.block_on(async {
        let config = ChannelConfig {
            delivery_timeout_ms: 200,
            ..ChannelConfig::default()
        };
        let transport = FaultyTransport {
            inner: Transports::new(
                LocalNetwork::with_frame_bytes_max(1024),
                config.frame_bytes_max,
            ),
            faults: Faults::default(),
        };
        let a = node("a", &transport, &config).await;
        let (client, _client_handle) = a.proc.instance("client").unwrap();
        let mut returned = client.take_undeliverable_receiver().unwrap();
        let far = ProcId::remote("far", "tcp:127.0.0.1:9").unwrap();
        let blobs: PortRef<Vec<u8>> = PortRef::attest(far.actor_id("sink", 0).unwrap().port_id(1));
        blobs.send(&client, vec![1; 4096]).unwrap();
        let back = within("the unreachable message", returned.recv())
            .await
            .unwrap();
        assert!(
            matches!(back.reason, UndeliverableReason::Transport { .. }),
            "{:?}",
            back.reason
        );
    });
}

/// Hands each blob it handles to the test.
#[derive(Debug)]
struct Collect(tokio::sync::mpsc::UnboundedSender<Vec<u8>>);

impl lockstep::Actor for Collect {}

impl lockstep::Handler<Vec<u8>> for Collect {
    async fn handle(
        &mut self,
        _cx: &lockstep::Context<Self>,
        blob: Vec<u8>,
    ) -> Result<(), lockstep::HandlerError> {
        self.0.send(blob)?;
        Ok(())
    }
}

lockstep::export!(Collect: Vec<u8>);

/// Goal: CH-13 through an actor's handler port: after a refused (too large)
/// message, the actor handles the next one from the same sender — its seq's
/// slot in the actor's ordering stage was filled (`seq_skipped`).
#[test]
fn ch_13_an_actor_handles_what_follows_a_refused_message() {
    on_both(|| async {
        let (a, b) = sender_and_small_receiver().await;
        let (client, _client) = a.proc.instance("client").unwrap();
        let _returned = client.take_undeliverable_receiver().unwrap();
        let (seen, mut collected) = tokio::sync::mpsc::unbounded_channel();
        let collector: lockstep::ActorRef<Collect> =
            b.proc.spawn("collect", Collect(seen)).unwrap().bind();
        for blob in [vec![1; 8], vec![2; 4096], vec![3; 8]] {
            collector.send(&client, blob).unwrap();
        }
        assert_eq!(
            within("the first", collected.recv()).await,
            Some(vec![1; 8])
        );
        assert_eq!(
            within("the third", collected.recv()).await,
            Some(vec![3; 8])
        );
    });
}
