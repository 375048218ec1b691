//! The modelled network's per-path order (NET-1): a burst sent in one
//! instant arrives in send order; with zero latency messages arrive within
//! the send, and must still never overtake a message that is travelling or
//! held on the same path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::{
    Actor, ActorRef, Context, Handler, HandlerError, MessageEnvelope, ProcConfig, Undeliverable,
};
use lockstep_sim::net::{self, Latency, Network, NetworkConfig};
use lockstep_sim::{Config, World};
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Debug)]
struct Collector(Arc<Mutex<Vec<u64>>>);

impl Actor for Collector {}

impl Handler<u64> for Collector {
    async fn handle(&mut self, _cx: &Context<Self>, value: u64) -> Result<(), HandlerError> {
        self.0.lock().expect("not poisoned").push(value);
        Ok(())
    }
}

lockstep::export!(Collector: u64);

/// A network whose links all take `latency`; its procs use `proc_config`.
fn network_with_latency(latency: Duration, proc_config: ProcConfig) -> Network {
    Network::new(
        NetworkConfig {
            latency: Latency::Fixed(latency),
            ..NetworkConfig::default()
        },
        proc_config,
    )
}

/// Why each message returned to `returns` so far came back, in order.
fn reasons(returns: &mut UnboundedReceiver<Undeliverable<MessageEnvelope>>) -> Vec<String> {
    std::iter::from_fn(|| returns.try_recv().ok())
        .map(|returned| returned.reason.to_string())
        .collect()
}

/// Sends 0..300 from proc `a` to a collector on proc `b` (reorder buffer
/// off, so only the network's order shows), cutting `a → b` for the middle
/// hundred; with `loss`, lost frames are retransmitted 1 ms later, so
/// delayed messages travel while later ones could arrive at once. Returns
/// what the collector saw.
fn received_in_world(seed: u64, latency: Duration, loss: f64) -> Vec<u64> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    World::new(Config::with_seed(seed))
        .run(async move {
            let network = Network::new(
                NetworkConfig {
                    latency: Latency::Fixed(latency),
                    frame_loss_probability: loss,
                    retransmit_delay: Duration::from_millis(1),
                    ..NetworkConfig::default()
                },
                ProcConfig::default().with_reorder_buffer(false),
            );
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let collector: ActorRef<Collector> = b
                .spawn("collector", Collector(record.clone()))
                .unwrap()
                .bind();
            for value in 0..100 {
                collector.send(&client, value).unwrap();
            }
            network.partition("a", "b");
            for value in 100..200 {
                collector.send(&client, value).unwrap();
            }
            lockstep::time::sleep(Duration::from_millis(5)).await;
            network.heal("a", "b");
            for value in 200..300 {
                collector.send(&client, value).unwrap();
            }
            while record.lock().unwrap().len() < 300 {
                lockstep::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .expect("the world runs");
    let seen = seen.lock().unwrap();
    seen.clone()
}

/// NET-1: with zero latency and one path, every message arrives exactly
/// once and in send order, across a partition and its heal.
#[test]
fn net_1_zero_latency_keeps_send_order_across_a_partition() {
    for seed in 0..8 {
        let seen = received_in_world(seed, Duration::ZERO, 0.0);
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// NET-1: a message that could arrive at once still waits for the ones
/// ahead of it on its path that are being retransmitted.
#[test]
fn net_1_zero_latency_messages_wait_behind_retransmitted_ones() {
    for seed in 0..8 {
        let seen = received_in_world(seed, Duration::ZERO, 0.3);
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// NET-1: a burst sent in one virtual instant over a 1 ms path arrives in
/// send order (all share one arrival time; the path's courier keeps order).
#[test]
fn net_1_a_burst_over_a_slow_path_arrives_in_send_order() {
    for seed in 0..8 {
        let seen = received_in_world(seed, Duration::from_millis(1), 0.0);
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// Records when each numbered message arrives.
#[derive(Debug)]
struct Stopwatch(Arrivals);

impl Actor for Stopwatch {}

impl Handler<u64> for Stopwatch {
    async fn handle(&mut self, _cx: &Context<Self>, value: u64) -> Result<(), HandlerError> {
        let now = lockstep::time::now();
        self.0.lock().expect("not poisoned").push((value, now));
        Ok(())
    }
}

lockstep::export!(Stopwatch: u64);

/// The timing tests' latency: uniform in 1..=50 ms.
fn one_to_fifty_ms() -> Latency {
    Latency::Uniform {
        min: Duration::from_millis(1),
        max: Duration::from_millis(50),
    }
}

/// Where a [`Stopwatch`] records arrivals.
type Arrivals = Arc<Mutex<Vec<(u64, lockstep::rt::time::Instant)>>>;

/// Runs `send` in a world of `seed` on a network of `config`. `send` gets
/// the network and a record for stopwatches, and returns when each numbered
/// message was sent; the result is each recorded arrival's transit time.
fn recorded_transits<F, Sending>(seed: u64, config: NetworkConfig, send: F) -> Vec<Duration>
where
    F: FnOnce(Network, Arrivals) -> Sending + 'static,
    Sending: std::future::Future<Output = Vec<lockstep::rt::time::Instant>> + 'static,
{
    let arrived = Arrivals::default();
    let record = arrived.clone();
    let sent = World::new(Config::with_seed(seed))
        .run(async move { send(Network::new(config, ProcConfig::default()), record).await })
        .expect("the world runs");
    let arrived = arrived.lock().unwrap();
    arrived
        .iter()
        .map(|&(value, at)| at.duration_since(sent[value as usize]))
        .collect()
}

/// Transit time of each of 40 messages from `a` to `b` sent 100 s apart
/// (far more than any delay here, so no message waits behind another), on
/// a network of `config`; with `meddle`, the sender also draws on the
/// network's stream labels before each send.
fn forty_transits(seed: u64, config: NetworkConfig, meddle: bool) -> Vec<Duration> {
    let transits = recorded_transits(seed, config, move |network, record| async move {
        let (a, b) = (network.proc("a"), network.proc("b"));
        let (client, _client) = a.instance("client").unwrap();
        let stopwatch: ActorRef<Stopwatch> =
            b.spawn("stopwatch", Stopwatch(record)).unwrap().bind();
        let mut sent = Vec::new();
        for value in 0..40 {
            if meddle {
                for stream in [net::LATENCY, net::PATHS, net::LOSS, net::DUPLICATION] {
                    lockstep::rt::random::next_u64(stream);
                }
            }
            sent.push(lockstep::time::now());
            stopwatch.send(&client, value).unwrap();
            lockstep::time::sleep(Duration::from_secs(100)).await;
        }
        sent
    });
    assert_eq!(transits.len(), 40, "every message handled once");
    transits
}

/// [`forty_transits`] with uniform latency, duplication and loss as given.
fn transit_times(seed: u64, duplicate: f64, loss: f64) -> Vec<Duration> {
    let config = NetworkConfig {
        latency: one_to_fifty_ms(),
        duplicate_probability: duplicate,
        frame_loss_probability: loss,
        retransmit_delay: Duration::from_secs(10),
        delivery_timeout: Duration::from_secs(3600),
        ..NetworkConfig::default()
    };
    forty_transits(seed, config, false)
}

/// NET-6: turning loss on changes nothing but the retransmissions: each
/// message's transit grows by a whole number of retransmit delays (its
/// latency draw is the same), and some messages were really lost.
#[test]
fn net_6_turning_loss_on_leaves_latency_draws_alone() {
    for seed in 0..4 {
        let calm = transit_times(seed, 0.0, 0.0);
        let lossy = transit_times(seed, 0.0, 0.3);
        let retransmit = Duration::from_secs(10).as_nanos();
        for (index, (calm, lossy)) in calm.iter().zip(&lossy).enumerate() {
            let extra = lossy.as_nanos() - calm.as_nanos();
            assert_eq!(
                extra % retransmit,
                0,
                "seed {seed} message {index}: {calm:?} without loss, {lossy:?} with"
            );
        }
        assert_ne!(calm, lossy, "seed {seed}: loss must have cost something");
    }
}

/// NET-6: turning duplication on never delays an original copy: each
/// message arrives no later than without duplication (a faster duplicate
/// may win), and exactly as early whenever its duplicate was slower.
#[test]
fn net_6_turning_duplication_on_leaves_the_originals_alone() {
    for seed in 0..4 {
        let single = transit_times(seed, 0.0, 0.0);
        let doubled = transit_times(seed, 0.5, 0.0);
        for (index, (single, doubled)) in single.iter().zip(&doubled).enumerate() {
            assert!(
                doubled <= single,
                "seed {seed} message {index}: {single:?} alone, {doubled:?} with duplicates"
            );
        }
        let same = single.iter().zip(&doubled).filter(|(a, b)| a == b).count();
        assert!(same >= 10, "seed {seed}: most originals win or stand alone");
    }
}

/// [`forty_transits`] with uniform latency and no faults.
fn transits_while_others_draw(seed: u64, meddle: bool) -> Vec<Duration> {
    let config = NetworkConfig {
        latency: one_to_fifty_ms(),
        ..NetworkConfig::default()
    };
    forty_transits(seed, config, meddle)
}

/// NET-7: the network draws from its own copies of its streams, and they
/// are the world's streams of those labels: each message's latency is the
/// next value of `stream_rng(seed, "network.latency")` (RAND-1), and draws
/// that other code makes on the same labels do not move it.
#[test]
fn net_7_the_networks_draws_are_its_own_copies_of_the_worlds_streams() {
    use rand::RngCore;
    for seed in 0..3 {
        let alone = transits_while_others_draw(seed, false);
        let mut latency = lockstep_sim::random::stream_rng(seed, net::LATENCY.0);
        let expected: Vec<Duration> = (0..40)
            .map(|_| one_to_fifty_ms().sample_from(latency.next_u64()))
            .collect();
        assert_eq!(alone, expected, "seed {seed}: the world's latency stream");
        let meddled = transits_while_others_draw(seed, true);
        assert_eq!(
            alone, meddled,
            "seed {seed}: other draws moved the network's"
        );
    }
}

/// The clock skews a network with skews up to 2 s gives procs `a` and `b`,
/// when other code draws on the skew label first (`meddle`) or not.
fn skews_while_others_draw(seed: u64, meddle: bool) -> (i64, i64) {
    World::new(Config::with_seed(seed))
        .run(async move {
            let config = NetworkConfig {
                clock_skew_max: Duration::from_secs(2),
                ..NetworkConfig::default()
            };
            let network = Network::new(config, ProcConfig::default());
            if meddle {
                lockstep::rt::random::next_u64(net::SKEW);
            }
            let (_a, _b) = (network.proc("a"), network.proc("b"));
            (network.clock_skew_ns("a"), network.clock_skew_ns("b"))
        })
        .expect("the world runs")
}

/// NET-7 for clock skews: each proc's skew (magnitude, then direction) is
/// the next two values of the world's `network.skew` stream, whatever
/// other code draws on that label.
#[test]
fn net_7_clock_skews_are_the_worlds_skew_stream_and_only_the_networks() {
    use rand::RngCore;
    let max_ns = Duration::from_secs(2).as_nanos() as u64;
    for seed in 0..3 {
        let mut skew = lockstep_sim::random::stream_rng(seed, net::SKEW.0);
        let mut next_skew = || {
            let magnitude = lockstep_sim::hash::below(skew.next_u64(), max_ns + 1) as i64;
            let ahead = lockstep_sim::hash::below(skew.next_u64(), 2) == 0;
            if ahead { magnitude } else { -magnitude }
        };
        let expected = (next_skew(), next_skew());
        assert_eq!(
            skews_while_others_draw(seed, false),
            expected,
            "seed {seed}"
        );
        assert_eq!(
            skews_while_others_draw(seed, true),
            expected,
            "seed {seed}, meddled"
        );
    }
}

/// Goal: a link can have its own latency distribution (the issue's
/// "per-link latency"), and held traffic waits, in order, until released.
/// Method: fixed 1 ms for the network, 400 ms for `a → c`; then `a → b` is
/// held for a second with three messages on it.
#[test]
fn per_link_latency_and_hold_release() {
    let (at_b, at_c) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let (record_b, record_c) = (at_b.clone(), at_c.clone());
    let started = World::new(Config::with_seed(9))
        .run(async move {
            let network = network_with_latency(Duration::from_millis(1), ProcConfig::default());
            let (a, b, c) = (network.proc("a"), network.proc("b"), network.proc("c"));
            let (client, _client) = a.instance("client").unwrap();
            let to_b: ActorRef<Stopwatch> = b.spawn("watch", Stopwatch(record_b)).unwrap().bind();
            let to_c: ActorRef<Stopwatch> = c.spawn("watch", Stopwatch(record_c)).unwrap().bind();
            network.set_link_latency("a", "c", Some(Latency::Fixed(Duration::from_millis(400))));
            let started = lockstep::time::now();
            to_b.send(&client, 0).unwrap();
            to_c.send(&client, 0).unwrap();
            lockstep::time::sleep(Duration::from_secs(1)).await;
            network.hold("a", "b");
            for value in 1..=3 {
                to_b.send(&client, value).unwrap();
            }
            lockstep::time::sleep(Duration::from_secs(1)).await;
            network.release("a", "b");
            lockstep::time::sleep(Duration::from_millis(10)).await;
            started
        })
        .expect("the world runs");
    let since =
        |(value, at): &(u64, lockstep::rt::time::Instant)| (*value, at.duration_since(started));
    let at_b: Vec<_> = at_b.lock().unwrap().iter().map(since).collect();
    let at_c: Vec<_> = at_c.lock().unwrap().iter().map(since).collect();
    assert_eq!(
        at_c,
        [(0, Duration::from_millis(400))],
        "a → c has its own latency"
    );
    assert_eq!(
        at_b[0],
        (0, Duration::from_millis(1)),
        "a → b keeps the network's"
    );
    let released: Vec<_> = at_b[1..].iter().map(|(value, at)| (*value, *at)).collect();
    assert_eq!(
        released,
        (1..=3)
            .map(|value| (value, Duration::from_secs(2)))
            .collect::<Vec<_>>(),
        "held until the release, then delivered in order"
    );
}

/// Opens a port on request and never reads it.
#[derive(Debug, Default)]
struct Hoarder(Option<lockstep::PortReceiver<u64>>);

impl Actor for Hoarder {}

impl Handler<lockstep::OncePortRef<lockstep::PortRef<u64>>> for Hoarder {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        reply: lockstep::OncePortRef<lockstep::PortRef<u64>>,
    ) -> Result<(), HandlerError> {
        let (port, receiver) = cx.open_port::<u64>();
        self.0 = Some(receiver);
        reply.send(cx, port.bind())?;
        Ok(())
    }
}

lockstep::export!(Hoarder: lockstep::OncePortRef<lockstep::PortRef<u64>>);

/// Goal: NET-4 — what a crashed proc's actors held is lost with them: the
/// messages queued on an actor's open port are not sent back by the dead
/// proc (a proc that is gone sends nothing), while a live receiver that is
/// dropped would return them (UD-1).
#[test]
fn net_4_a_crashed_procs_ports_send_nothing_back() {
    let returned = World::new(Config::with_seed(6))
        .run(async {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let mut returns = client.take_undeliverable_receiver().unwrap();
            let hoarder: ActorRef<Hoarder> = b.spawn("hoarder", Hoarder::default()).unwrap().bind();
            let (reply, port) = client.open_once_port();
            hoarder.send(&client, reply.bind()).unwrap();
            let port: lockstep::PortRef<u64> = port.recv().await.unwrap();
            for value in 0..3 {
                port.send(&client, value).unwrap();
            }
            lockstep::time::sleep(Duration::from_millis(50)).await;
            network.crash("b");
            lockstep::time::sleep(Duration::from_secs(1)).await;
            std::iter::from_fn(|| returns.try_recv().ok()).count()
        })
        .expect("the world runs");
    assert_eq!(returned, 0);
}

/// A network of procs `a` and `b` 100 ms apart, a client on `a`, and a
/// collector `sink` on `b`.
struct ClientAndSink {
    network: Network,
    a: lockstep::Proc,
    client: lockstep::Instance<()>,
    _client_handle: lockstep::ActorHandle<()>,
    /// What comes back to the client.
    returns: UnboundedReceiver<Undeliverable<MessageEnvelope>>,
    sink: ActorRef<Collector>,
}

fn a_client_on_a_and_a_sink_on_b() -> ClientAndSink {
    let network = network_with_latency(Duration::from_millis(100), ProcConfig::default());
    let (a, b) = (network.proc("a"), network.proc("b"));
    let (client, _client_handle) = a.instance("client").unwrap();
    let returns = client.take_undeliverable_receiver().unwrap();
    let sink = b.spawn("sink", Collector(Arc::default())).unwrap().bind();
    ClientAndSink {
        network,
        a,
        client,
        _client_handle,
        returns,
        sink,
    }
}

/// Goal: NET-4 — a restarted proc is another process: messages sent to the
/// incarnation that crashed, whether still travelling or held by a
/// partition when it crashed, come back to their sender and never reach
/// the restart; what is sent after the restart reaches it.
#[test]
fn net_4_what_was_sent_to_a_crashed_proc_never_reaches_its_restart() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let reasons = World::new(Config::with_seed(8))
        .run(async move {
            let ClientAndSink {
                network,
                a,
                client,
                _client_handle,
                mut returns,
                sink: old,
            } = a_client_on_a_and_a_sink_on_b();
            for value in 0..3 {
                old.send(&client, value).unwrap(); // travelling at the crash
            }
            network.partition("a", "b");
            old.send(&client, 3).unwrap(); // held by the cut at the crash
            lockstep::time::sleep(Duration::from_millis(10)).await;
            network.restart("b");
            let restarted = network.lookup("b").expect("b is up again");
            let new: ActorRef<Collector> =
                restarted.spawn("sink", Collector(record)).unwrap().bind();
            assert_eq!(new.actor_id(), old.actor_id(), "the same id, a new process");
            lockstep::time::sleep(Duration::from_millis(200)).await;
            network.heal("a", "b");
            // A new sender: the old one's seqs to this actor went on from
            // where its messages to the crashed incarnation stopped, and a
            // restarted actor's ordering starts at seq 1 (a gap by design).
            let (late, _late) = a.instance("late").unwrap();
            new.send(&late, 4).unwrap();
            lockstep::time::sleep(Duration::from_secs(1)).await;
            reasons(&mut returns)
        })
        .expect("the world runs");
    assert_eq!(
        *seen.lock().unwrap(),
        [4],
        "only what was sent after the restart"
    );
    assert_reasons(&reasons, 4, "proc b crashed");
}

/// `count` messages came back, each for a reason that says `why`.
fn assert_reasons(reasons: &[String], count: usize, why: &str) {
    assert_eq!(reasons.len(), count, "{reasons:?}");
    assert!(
        reasons.iter().all(|reason| reason.contains(why)),
        "{reasons:?}"
    );
}

/// Goal: NET-4 when a live proc is replaced (`Network::proc` on a name
/// already up): what was travelling to the old incarnation comes back, and
/// its reason says the proc was replaced, not that it crashed — even when
/// the replacement itself crashes and restarts before the messages land.
#[test]
fn net_4_a_proc_replaced_while_alive_returns_what_travelled_to_it_as_replaced() {
    let reasons = World::new(Config::with_seed(8))
        .run(async move {
            let ClientAndSink {
                network,
                client,
                _client_handle,
                mut returns,
                sink: old,
                ..
            } = a_client_on_a_and_a_sink_on_b();
            for value in 0..2 {
                old.send(&client, value).unwrap();
            }
            let _replacement = network.proc("b");
            // What became of later incarnations does not change how the
            // one the messages were sent to ended.
            network.crash("b");
            network.restart("b");
            lockstep::time::sleep(Duration::from_secs(1)).await;
            reasons(&mut returns)
        })
        .expect("the world runs");
    assert_reasons(&reasons, 2, "proc b was replaced by a new incarnation");
}

/// Goal: NET-4's other side — a message sent while its destination is
/// down is meant for whichever incarnation comes up next (the session
/// transport's redials would reach it too): it is delivered if the proc
/// has restarted by the time it arrives.
#[test]
fn net_4_what_is_sent_while_a_proc_is_down_reaches_its_restart() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let returned = World::new(Config::with_seed(11))
        .run(async move {
            let network = network_with_latency(Duration::from_millis(100), ProcConfig::default());
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let mut returns = client.take_undeliverable_receiver().unwrap();
            let sink: ActorRef<Collector> =
                b.spawn("sink", Collector(Arc::default())).unwrap().bind();
            network.crash("b");
            sink.send(&client, 1).unwrap(); // b is down
            lockstep::time::sleep(Duration::from_millis(50)).await;
            let restarted = network.restart("b");
            let _bound: ActorRef<Collector> =
                restarted.spawn("sink", Collector(record)).unwrap().bind();
            lockstep::time::sleep(Duration::from_secs(1)).await;
            reasons(&mut returns)
        })
        .expect("the world runs");
    assert_eq!(*seen.lock().unwrap(), [1], "returned: {returned:?}");
    assert!(returned.is_empty());
}

/// Goal: NET-3 — a partition holds messages, but not past the delivery
/// timeout: each comes back once older than it, while the cut lasts (as
/// the session protocol's own timeout would return it); what is younger at
/// the heal is delivered in order.
#[test]
fn net_3_held_messages_come_back_at_the_delivery_timeout_while_the_cut_lasts() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let returned = Arc::new(Mutex::new(Vec::new()));
    let returned_log = returned.clone();
    World::new(Config::with_seed(9))
        .run(async move {
            // The default delivery timeout, 30 s. The reorder buffer is
            // off: the returned seqs would hold the last one back (a gap by
            // design); this test is about the network alone.
            let network = network_with_latency(
                Duration::from_millis(1),
                ProcConfig::default().with_reorder_buffer(false),
            );
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let mut returns = client.take_undeliverable_receiver().unwrap();
            let start = lockstep::time::now();
            let _watch = lockstep::rt::spawn("returns", async move {
                while let Some(back) = returns.recv().await {
                    let at = (lockstep::time::now() - start).as_secs();
                    returned_log
                        .lock()
                        .unwrap()
                        .push((at, back.reason.to_string()));
                }
            });
            let sink: ActorRef<Collector> = b.spawn("sink", Collector(record)).unwrap().bind();
            network.partition("a", "b");
            sink.send(&client, 0).unwrap();
            sink.send(&client, 1).unwrap();
            lockstep::time::sleep(Duration::from_secs(10)).await;
            sink.send(&client, 2).unwrap();
            lockstep::time::sleep(Duration::from_secs(35)).await;
            sink.send(&client, 3).unwrap();
            lockstep::time::sleep(Duration::from_secs(15)).await;
            network.heal("a", "b");
            lockstep::time::sleep(Duration::from_secs(1)).await;
        })
        .expect("the world runs");
    let returned = returned.lock().unwrap().clone();
    let times: Vec<u64> = returned.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        times,
        [30, 30, 40],
        "each at its own timeout, cut or not: {returned:?}"
    );
    assert!(
        returned.iter().all(|(_, reason)| reason.contains("30000")),
        "{returned:?}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [3],
        "the one younger than the timeout"
    );
}

/// Starts a helper task that sends 0, 1, 2, ... to the collector it is
/// given, one every 100 ms, from this actor.
#[derive(Debug, Default)]
struct Ticker;

impl Actor for Ticker {}

impl Handler<ActorRef<Collector>> for Ticker {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        collector: ActorRef<Collector>,
    ) -> Result<(), HandlerError> {
        let instance = cx.instance().clone();
        let helper = lockstep::rt::spawn("ticker-helper", async move {
            for tick in 0.. {
                lockstep::time::sleep(Duration::from_millis(100)).await;
                if collector.send(&instance, tick).is_err() {
                    return;
                }
            }
        });
        drop(helper); // detached: it runs on by itself
        Ok(())
    }
}

lockstep::export!(Ticker: ActorRef<Collector>);

/// Goal: NET-4 — a crashed proc's tasks are dropped with it, not only its
/// actors': a helper task an actor spawned stops sending at the crash.
#[test]
fn net_4_a_crashed_procs_helper_tasks_stop_with_it() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    World::new(Config::with_seed(10))
        .run(async move {
            let network = network_with_latency(Duration::from_millis(1), ProcConfig::default());
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = b.instance("client").unwrap();
            let collector: ActorRef<Collector> = b.spawn("sink", Collector(record)).unwrap().bind();
            let ticker: ActorRef<Ticker> = a.spawn("ticker", Ticker).unwrap().bind();
            ticker.send(&client, collector).unwrap();
            lockstep::time::sleep(Duration::from_millis(350)).await;
            network.crash("a");
            lockstep::time::sleep(Duration::from_secs(2)).await;
        })
        .expect("the world runs");
    assert_eq!(
        *seen.lock().unwrap(),
        [0, 1, 2],
        "ticks until the crash only"
    );
}

/// Transit times of 20 messages on `a → b`, sent 100 s apart, each followed
/// by one on `a → c`; `slow_c` gives `a → c` a fixed latency of its own.
fn transit_to_b(seed: u64, slow_c: bool) -> Vec<Duration> {
    let config = NetworkConfig {
        latency: one_to_fifty_ms(),
        ..NetworkConfig::default()
    };
    recorded_transits(seed, config, move |network, record| async move {
        let (a, b, c) = (network.proc("a"), network.proc("b"), network.proc("c"));
        if slow_c {
            network.set_link_latency("a", "c", Some(Latency::Fixed(Duration::from_millis(7))));
        }
        let (client, _client) = a.instance("client").unwrap();
        let to_b: ActorRef<Stopwatch> = b.spawn("watch", Stopwatch(record)).unwrap().bind();
        let to_c: ActorRef<Stopwatch> = c.spawn("watch", Stopwatch(Arc::default())).unwrap().bind();
        let mut sent = Vec::new();
        for value in 0..20 {
            sent.push(lockstep::time::now());
            to_b.send(&client, value).unwrap();
            to_c.send(&client, value).unwrap();
            lockstep::time::sleep(Duration::from_secs(100)).await;
        }
        sent
    })
}

/// NET-6: giving one link its own (fixed) latency leaves every other link's
/// latency draws as they were: a latency takes exactly one draw, whatever
/// its distribution.
#[test]
fn net_6_a_slow_link_leaves_the_other_links_alone() {
    for seed in 0..4 {
        assert_eq!(
            transit_to_b(seed, false),
            transit_to_b(seed, true),
            "seed {seed}"
        );
    }
}

/// An actor whose destructor panics.
#[derive(Debug)]
struct LeakyOnDrop;

impl Actor for LeakyOnDrop {}

impl Handler<u64> for LeakyOnDrop {
    async fn handle(&mut self, _cx: &Context<Self>, _value: u64) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl Drop for LeakyOnDrop {
    fn drop(&mut self) {
        panic!("actor destructor bug");
    }
}

lockstep::export!(LeakyOnDrop: u64);

/// Goal: EXEC-8 — a crash drops a proc's actors without cleanup; a panic in
/// an actor's destructor then is a bug in user code, and fails the run
/// (naming the actor's task) instead of being swallowed.
#[test]
fn exec_8_an_actor_destructor_panicking_at_its_procs_crash_fails_the_run() {
    let failure = World::new(Config::with_seed(10))
        .run(async move {
            let network = network_with_latency(Duration::from_millis(1), ProcConfig::default());
            let b = network.proc("b");
            let _leaky = b.spawn("leaky", LeakyOnDrop).unwrap();
            lockstep::time::sleep(Duration::from_millis(10)).await;
            network.crash("b");
            lockstep::time::sleep(Duration::from_secs(1)).await;
        })
        .expect_err("the destructor's panic fails the run");
    let text = failure.to_string();
    assert!(
        text.contains("leaky")
            && text.contains("while being dropped after an abort: actor destructor bug"),
        "{text}"
    );
}
