//! The simulated network in `Session` mode: the real channel session
//! protocol (`Router`, `serve`, acks, resends, dedup, backoff, delivery
//! timeout) over `sim:` links (`sim/src/net/transport.rs`, LINK-1 … LINK-7).
//!
//! Goal: DESIGN §1 — "our simulated links carry the real session protocol
//! over a faulty in-memory pipe" — holds, and the runtime's contract still
//! holds on top of it under connection breaks and partitions.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::channel::ChannelConfig;
use lockstep::channel::session::{ReceiverSession, SenderSession};
use lockstep::channel::wire::{DataFrame, SessionMessage};
use lockstep::rt::time::Instant;
use lockstep::{ActorRef, ProcConfig, UndeliverableReason};
use lockstep_sim::fault::Profile;
use lockstep_sim::net::{Network, NetworkConfig, NetworkTransport};
use lockstep_sim::scenario::{self, RunOptions, RunReport, run_with};
use lockstep_sim::{Config, World};
use support::{Echo, Ping};

/// Seeds per (scenario, profile) in the sweeps.
const SEEDS: u64 = 50;

fn session(profile: Profile) -> RunOptions {
    RunOptions::new(profile).with_transport(NetworkTransport::Session)
}

fn run(name: &str, seed: u64, options: &RunOptions) -> RunReport {
    let scenario = scenario::find(name).expect("built-in scenario");
    run_with(scenario.as_ref(), seed, options)
}

/// Run `name` for `SEEDS` seeds under `profile` over the session protocol;
/// every run must pass with every oracle on, and the faults must really have
/// broken links (LINK-2) and frozen frames (LINK-3) somewhere in the sweep.
#[expect(
    clippy::disallowed_methods,
    reason = "reports wall time per run, outside any world"
)]
fn sweep(name: &str, profile: Profile) {
    let options = session(profile);
    assert!(options.probe_introspection, "every oracle on");
    let (mut lost, mut held, mut links, mut delivered) = (0, 0, 0, 0);
    let mut oracles = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    for seed in 0..SEEDS {
        let report = run(name, seed, &options);
        assert!(
            report.verdict.passed(),
            "{name} seed {seed} {profile} over sessions: {}\nreplay: cargo run -p lockstep-sim -- \
             replay --scenario {name} --seed {seed} --profile {profile} --transport session",
            report.verdict
        );
        assert!(
            report.mix.to_string().contains("transport=session"),
            "{}",
            report.mix
        );
        lost += report.network.retransmitted;
        held += report.network.held;
        links += report.network.links_opened;
        delivered += report.network.delivered;
        oracles.extend(report.oracles.checks.keys().copied());
    }
    println!(
        "{name} {profile}: {SEEDS} seeds pass over sessions in {:?} ({} ms/run); \
         {links} links, {lost} frames lost (links broken), {held} frames frozen, \
         {delivered} data frames delivered; oracles {oracles:?}",
        started.elapsed(),
        started.elapsed().as_millis() / u128::from(SEEDS)
    );
    assert!(lost > 0, "LINK-2: {profile} must break links");
    assert!(links > SEEDS, "LINK-2: broken links are dialed again");
    assert!(held > 0, "LINK-3: {profile} partitions must freeze frames");
    for oracle in ["sequencing", "supervision", "introspection", "liveness"] {
        assert!(oracles.contains(oracle), "oracle {oracle} never checked");
    }
}

#[test]
fn link_2_link_3_ping_pong_passes_over_sessions_under_stormy() {
    sweep("ping-pong", Profile::Stormy);
}

#[test]
fn link_2_link_3_ping_pong_passes_over_sessions_under_chaos() {
    sweep("ping-pong", Profile::Chaos);
}

#[test]
fn link_2_link_3_many_senders_passes_over_sessions_under_stormy() {
    sweep("many-senders", Profile::Stormy);
}

#[test]
fn link_2_link_3_many_senders_passes_over_sessions_under_chaos() {
    sweep("many-senders", Profile::Chaos);
}

#[test]
fn link_5_run_1_same_seed_same_trace_over_sessions() {
    // Goal: a session-mode run is a pure function of its inputs (RUN-1,
    // LINK-5). Method: run seeds twice; compare verdicts and whole trace
    // hashes; and check the mode really changed what ran.
    for name in ["ping-pong", "many-senders"] {
        for seed in [3, 17, 41] {
            let options = session(Profile::Chaos);
            let first = run(name, seed, &options);
            let second = run(name, seed, &options);
            assert_eq!(first.verdict, second.verdict, "{name} seed {seed}");
            assert_eq!(
                first.trace_hash(),
                second.trace_hash(),
                "{name} seed {seed}: {:?}",
                lockstep_sim::determinism::compare(&first.trace, &second.trace)
            );
            let modelled = run(name, seed, &RunOptions::new(Profile::Chaos));
            assert_ne!(
                modelled.trace_hash(),
                first.trace_hash(),
                "{name} seed {seed}"
            );
            let kinds = |report: &RunReport, kind: &str| report.trace.count_of_kind(kind);
            assert!(kinds(&first, "net_link_up") > 0, "session mode dials links");
            assert_eq!(kinds(&modelled, "net_link_up"), 0, "modelled mode does not");
        }
    }
}

/// What came back to the client, and when.
#[derive(Debug)]
struct Returned {
    /// The ping's number.
    ping: u64,
    reason: UndeliverableReason,
    /// Since the second ping was sent.
    after: Duration,
}

/// What a run of [`ping_into_partition`] saw.
#[derive(Debug)]
struct Outcome {
    returned: Vec<Returned>,
    /// The second ping was answered (after the heal).
    answered: bool,
}

/// A client on `a` pings a target on `b` over sessions with a 2 s delivery
/// timeout. With `first_answered_before_cut: Some(quiet)`, ping 1 is answered
/// and `quiet` passes before both directions are cut; then ping 2 is sent
/// into a partition lasting `partition`, after which everything heals.
fn ping_into_partition(
    first_answered_before_cut: Option<Duration>,
    partition: Duration,
) -> Outcome {
    let mut world = World::new(Config::with_seed(5));
    let result = world
        .run(async move {
            let config = NetworkConfig {
                delivery_timeout: Duration::from_secs(2),
                transport: NetworkTransport::Session,
                ..NetworkConfig::default()
            };
            let network = Network::new(config, ProcConfig::default());
            let a = network.proc("a");
            let b = network.proc("b");
            let (client, _client) = a.instance("client").unwrap();
            let mut returns = client.take_undeliverable_receiver().unwrap();
            let sent_at = Arc::new(Mutex::new(lockstep::time::now()));
            let returned = Arc::new(Mutex::new(Vec::new()));
            let (since, record) = (sent_at.clone(), returned.clone());
            drop(lockstep::rt::spawn("returns", async move {
                while let Some(undeliverable) = returns.recv().await {
                    let ping = match undeliverable.message.headers().seq_info() {
                        lockstep::SeqInfo::Session { seq, .. } => seq,
                        lockstep::SeqInfo::Direct => 0,
                    };
                    let sent = *since.lock().unwrap();
                    record.lock().unwrap().push(Returned {
                        ping,
                        reason: undeliverable.reason,
                        after: lockstep::time::now().duration_since(sent),
                    });
                }
            }));
            let target: ActorRef<Echo> = b.spawn("target", Echo).unwrap().bind();
            if let Some(quiet) = first_answered_before_cut {
                let (reply, answer) = client.open_once_port::<u64>();
                target.send(&client, Ping(1, reply.bind())).unwrap();
                assert_eq!(answer.recv().await.unwrap(), 1);
                lockstep::time::sleep(quiet).await;
            }
            network.partition_both("a", "b");
            *sent_at.lock().unwrap() = lockstep::time::now();
            let (reply, answer) = client.open_once_port::<u64>();
            target.send(&client, Ping(2, reply.bind())).unwrap();
            lockstep::time::sleep(partition).await;
            network.heal_all();
            // Delivered after the heal anyway? (Allowed once written: a
            // delivery timeout says "maybe delivered".)
            let answered = lockstep::time::timeout(Duration::from_secs(5), answer.recv())
                .await
                .is_ok_and(|answer| answer.is_ok());
            let returned = std::mem::take(&mut *returned.lock().unwrap());
            Outcome { returned, answered }
        })
        .expect("the world runs");
    if std::env::var_os("LOCKSTEP_DUMP_TRACE").is_some() {
        for event in world.trace().events() {
            println!("{event:?}");
        }
    }
    result
}

#[test]
fn link_3_ch_11_partition_longer_than_the_delivery_timeout_returns_the_message() {
    // Goal: a partition outlasting the delivery timeout makes the channel
    // return the message to its sender as undeliverable, with a reason from
    // the transport (CH-7, CH-11, NET-3/LINK-3) — nothing hangs, nothing
    // vanishes. Method: 2 s delivery timeout, 20 s partition.
    let partition = Duration::from_secs(20);

    // Never connected: the dial waits behind the cut and times out; the
    // message was never written, so it is `Transport` ("unreachable"). It
    // comes back once the pending dial (5 s dial timeout) gives up: the
    // delivery timeout is not checked while a dial is pending.
    let outcome = ping_into_partition(None, partition);
    let [returned] = outcome.returned.as_slice() else {
        panic!("exactly ping 2 comes back: {outcome:?}");
    };
    assert_eq!(returned.ping, 1, "the first (only) ping of the session");
    match &returned.reason {
        UndeliverableReason::Transport { detail } => {
            assert!(detail.contains("sim:b unreachable"), "{detail}");
        }
        other => panic!("expected a transport reason, got {other:?}"),
    }
    assert!(returned.after >= Duration::from_secs(2), "{returned:?}");
    assert!(returned.after <= Duration::from_secs(5), "{returned:?}");
    assert!(!outcome.answered, "never written, so never delivered");

    // Connected and quiet (ping 1 acknowledged), then cut: ping 2 is
    // written into the frozen direction and not acknowledged in time.
    let outcome = ping_into_partition(Some(Duration::from_millis(100)), partition);
    let [returned] = outcome.returned.as_slice() else {
        panic!("exactly ping 2 comes back: {outcome:?}");
    };
    assert_eq!(returned.ping, 2);
    assert_eq!(
        returned.reason,
        UndeliverableReason::DeliveryTimeout { timeout_ms: 2_000 },
        "{returned:?}"
    );
    assert!(returned.after >= Duration::from_secs(2), "{returned:?}");
    assert!(returned.after <= Duration::from_secs(3), "{returned:?}");
}

#[test]
fn link_3_a_short_partition_only_delays() {
    // Goal: a partition shorter than the delivery timeout freezes frames and
    // loses none (NET-3/LINK-3). Method: cut for 1 s of a 2 s timeout.
    let outcome = ping_into_partition(Some(Duration::from_millis(100)), Duration::from_secs(1));
    assert!(outcome.returned.is_empty(), "{outcome:?}");
    assert!(outcome.answered, "answered after the heal");
}

#[test]
fn ch_11_a_handled_message_whose_ack_is_cut_off_comes_back_too() {
    // Goal: pin down what `DeliveryTimeout` means over the real protocol:
    // "not acknowledged in time", which includes "delivered, handled and
    // answered, but its ack was frozen". Method: cut both directions 4 ms
    // after ping 1 was answered — before the acceptor's 5 ms ack went out.
    let outcome = ping_into_partition(Some(Duration::from_millis(0)), Duration::from_secs(20));
    assert!(
        outcome.returned.iter().any(|returned| returned.ping == 1
            && returned.reason == UndeliverableReason::DeliveryTimeout { timeout_ms: 2_000 }),
        "ping 1 was answered, yet comes back: {outcome:?}"
    );
}

fn at(ms: u64) -> Instant {
    Instant::from_epoch(Duration::from_millis(ms))
}

#[test]
fn ch_8_a_lost_welcome_from_a_restarted_acceptor_must_not_ack_what_it_never_got() {
    // Found by `lockstep-sim explore --scenario supervision-tree --profile
    // chaos --transport session` (seed 0x1a, before scenarios waited out the
    // delivery timeout before a restart): messages written to the old
    // incarnation of a proc vanished — neither delivered nor returned (UD-1).
    //
    // Sequence: the sender wrote seqs 1..=3 to incarnation A, unacked; A
    // crashes. The restarted acceptor B gets the `Hello` (first_unacked 1,
    // first_unwritten 4), creates the session with last = 3 and answers
    // `Welcome { known: false, acked: 3 }` — which is lost with the link.
    // On the next link B knows the session and answers `Welcome { known:
    // true, acked: 3 }`; the sender takes that as an acknowledgement and
    // releases 1..=3. CH-7/CH-8 say they must come back as `SessionLost`.
    let config = ChannelConfig::default();
    let mut sender: SenderSession<u64> = SenderSession::new(7, config, at(0));
    for item in 1..=3u64 {
        sender
            .push(DataFrame::new(&item.to_be_bytes()), item, at(0))
            .unwrap();
    }
    sender.on_link_up();
    assert!(sender.on_welcome(0xA, false, 0).unwrap().is_empty());
    assert_eq!(sender.next_batch(16, 1 << 20).len(), 3);
    sender.on_link_down("incarnation A crashed".into(), at(10), 0);

    let SessionMessage::Hello {
        first_unacked,
        first_unwritten,
        ..
    } = sender.on_link_up()
    else {
        panic!("a Hello");
    };
    let mut b = ReceiverSession::from_hello(first_unacked, first_unwritten).unwrap();
    let _lost_welcome = (0xB, false, b.last());
    sender.on_link_down("the Welcome was lost".into(), at(20), 0);

    let SessionMessage::Hello {
        first_unacked,
        first_unwritten,
        ..
    } = sender.on_link_up()
    else {
        panic!("a Hello");
    };
    let acked = b.on_hello(first_unacked, first_unwritten).unwrap();
    let returned = sender.on_welcome(0xB, true, acked).unwrap();
    assert_eq!(
        returned.len() + sender.unacked_len(),
        3,
        "CH-7: seqs 1..=3 were never delivered by B; they must be returned \
         (SessionLost) or still pending, not released as acknowledged"
    );
}

/// Goal: the runtime's own `buggify!` points fire in simulation and the
/// contract holds through them. With every site active, sender links reset
/// just after writes (`channel.reset_after_write`: frames resent, CH-6, and
/// deduplicated, CH-4) and actors start late (`actor.slow_start`); every
/// ping is still answered exactly once, in order.
#[test]
fn runtime_buggify_points_fire_and_every_ping_is_answered_once() {
    let buggify = lockstep_sim::buggify::BuggifyConfig {
        enabled: true,
        activate_probability: 1.0,
        fire_probability: 0.3,
    };
    let mut world = World::new(Config::with_seed(11).buggify(buggify));
    let answers = world
        .run(async {
            let config = NetworkConfig {
                transport: NetworkTransport::Session,
                ..NetworkConfig::default()
            };
            let network = Network::new(config, ProcConfig::default());
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let target: ActorRef<Echo> = b.spawn("target", Echo).unwrap().bind();
            let mut answers = Vec::new();
            for n in 0..40 {
                let (reply, answer) = client.open_once_port::<u64>();
                target.send(&client, Ping(n, reply.bind())).unwrap();
                answers.push(answer.recv().await.unwrap());
            }
            answers
        })
        .expect("the world runs");
    assert_eq!(answers, (0..40).collect::<Vec<u64>>());
    let fired: std::collections::BTreeMap<String, usize> = world
        .trace()
        .events()
        .filter(|event| event.kind.starts_with("buggify"))
        .filter(|event| {
            !matches!(
                event.field("fired"),
                Some(lockstep_sim::trace::Value::Bool(false))
            )
        })
        .fold(Default::default(), |mut fired, event| {
            if let Some(lockstep_sim::trace::Value::Str(site)) = event.field("site") {
                *fired.entry(site.to_string()).or_default() += 1;
            }
            fired
        });
    assert!(
        fired
            .get("channel.reset_after_write")
            .is_some_and(|&n| n > 0),
        "{fired:?}"
    );
    // Every actor start evaluates its site (active here, firing by chance).
    let slow_start_seen = world.trace().events().any(|event| {
        event.kind == "buggify_site"
            && matches!(event.field("site"), Some(lockstep_sim::trace::Value::Str(site)) if site == "actor.slow_start")
    });
    assert!(slow_start_seen);
}
