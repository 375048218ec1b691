//! A paused proc stops like a stopped process: none of its tasks runs until
//! it resumes; traffic to it waits in its queues (EXEC-7).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lockstep::{Actor, ActorRef, Context, Handler, HandlerError, ProcConfig};
use lockstep_sim::net::{Latency, Network, NetworkConfig};
use lockstep_sim::{Config, World};

/// Counts the messages it handles; the first starts a ticker task (spawned
/// from its handler, so it belongs to the actor's proc) that counts ticks.
#[derive(Debug)]
struct Tally {
    handled: Arc<AtomicU64>,
    ticks: Arc<AtomicU64>,
}

impl Actor for Tally {}

impl Handler<u64> for Tally {
    async fn handle(&mut self, _cx: &Context<Self>, _n: u64) -> Result<(), HandlerError> {
        if self.handled.fetch_add(1, Ordering::SeqCst) == 0 {
            spawn_ticker("ticker", self.ticks.clone());
        }
        Ok(())
    }
}

lockstep::export!(Tally: u64);

/// Start, from the running task, a task named `name` that counts a tick
/// every 100 ms of virtual time.
fn spawn_ticker(name: &str, ticks: Arc<AtomicU64>) {
    drop(lockstep::rt::spawn(name, async move {
        loop {
            lockstep::time::sleep(Duration::from_millis(100)).await;
            ticks.fetch_add(1, Ordering::SeqCst);
        }
    }));
}

/// Goal: EXEC-7 — while `b` is paused neither its actor nor a task its actor
/// spawned makes progress, though messages to it arrive; after the resume
/// both go on and every message is handled.
#[test]
fn exec_7_a_paused_proc_runs_nothing_until_it_resumes() {
    let handled = Arc::new(AtomicU64::new(0));
    let ticks = Arc::new(AtomicU64::new(0));
    let (handled_seen, ticks_seen) = (handled.clone(), ticks.clone());
    let mut world = World::new(Config::with_seed(3));
    world
        .run(async move {
            let network = Network::new(
                NetworkConfig {
                    latency: Latency::Fixed(Duration::ZERO),
                    ..NetworkConfig::default()
                },
                ProcConfig::default(),
            );
            let (a, b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let tally: ActorRef<Tally> = b.spawn("tally", Tally { handled, ticks }).unwrap().bind();
            tally.send(&client, 0).unwrap();
            lockstep::time::sleep(Duration::from_millis(1050)).await;
            assert_eq!(handled_seen.load(Ordering::SeqCst), 1);
            let ticks_before = ticks_seen.load(Ordering::SeqCst);
            assert!(ticks_before >= 9, "the ticker runs: {ticks_before}");

            network.pause("b");
            for n in 1..=5 {
                tally.send(&client, n).unwrap();
            }
            lockstep::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(handled_seen.load(Ordering::SeqCst), 1, "no handler ran");
            assert_eq!(ticks_seen.load(Ordering::SeqCst), ticks_before, "no tick");

            network.resume("b");
            lockstep::time::sleep(Duration::from_millis(550)).await;
            assert_eq!(handled_seen.load(Ordering::SeqCst), 6, "all handled");
            assert!(
                ticks_seen.load(Ordering::SeqCst) > ticks_before,
                "ticking again"
            );
        })
        .expect("the world runs");
    let kinds: Vec<String> = world
        .trace()
        .events()
        .filter(|event| event.kind.starts_with("net_pause") || event.kind.starts_with("net_resume"))
        .map(|event| event.kind.to_string())
        .collect();
    assert_eq!(kinds, ["net_pause", "net_resume"]);
}

/// Starts, on its first message, a ticker task with the name it was given.
#[derive(Debug)]
struct NamedTicker {
    task_name: String,
    ticks: Arc<AtomicU64>,
}

impl Actor for NamedTicker {}

impl Handler<u64> for NamedTicker {
    async fn handle(&mut self, _cx: &Context<Self>, _n: u64) -> Result<(), HandlerError> {
        spawn_ticker(&self.task_name, self.ticks.clone());
        Ok(())
    }
}

lockstep::export!(NamedTicker: u64);

/// Goal: EXEC-7 — a task belongs to the proc of the task that spawned it,
/// whatever its name says: a ticker an actor on `a` starts under a name that
/// looks like `b`'s actor task keeps running while `b` is paused, and stops
/// while `a` is. (Procs are told explicitly which tasks are theirs; names
/// are for traces only.)
#[test]
fn exec_7_a_task_belongs_to_its_spawners_proc_whatever_its_name() {
    let ticks = Arc::new(AtomicU64::new(0));
    let seen = ticks.clone();
    let mut world = World::new(Config::with_seed(5));
    world
        .run(async move {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            let (a, _b) = (network.proc("a"), network.proc("b"));
            let (client, _client) = a.instance("client").unwrap();
            let ticker = NamedTicker {
                task_name: "actor:b@sim:b.tally[0]".into(),
                ticks,
            };
            a.spawn("ticker", ticker).unwrap().send(&client, 1).unwrap();
            lockstep::time::sleep(Duration::from_millis(550)).await;
            let running = seen.load(Ordering::SeqCst);
            assert!(running >= 4, "ticking: {running}");

            network.pause("b");
            lockstep::time::sleep(Duration::from_secs(1)).await;
            let with_b_paused = seen.load(Ordering::SeqCst);
            assert!(
                with_b_paused >= running + 9,
                "b's pause stops nothing of a's: {with_b_paused}"
            );
            network.resume("b");

            network.pause("a");
            lockstep::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(
                seen.load(Ordering::SeqCst),
                with_b_paused,
                "a's pause stops it"
            );
            network.resume("a");
        })
        .expect("the world runs");
}

/// Procs `a` and `b` over the real session protocol; a client on `a` and a
/// tally on `b` (counting into `handled`).
struct SessionPair {
    network: Network,
    client: lockstep::Instance<()>,
    _client: lockstep::ActorHandle<()>,
    tally: ActorRef<Tally>,
    handled: Arc<AtomicU64>,
}

/// Builds a [`SessionPair`]; call inside a world.
fn session_pair() -> SessionPair {
    let network = Network::new(
        NetworkConfig {
            transport: lockstep_sim::net::NetworkTransport::Session,
            ..NetworkConfig::default()
        },
        ProcConfig::default(),
    );
    let (a, b) = (network.proc("a"), network.proc("b"));
    let (client, client_handle) = a.instance("client").unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let tally = b
        .spawn(
            "tally",
            Tally {
                handled: handled.clone(),
                ticks: Arc::default(),
            },
        )
        .unwrap()
        .bind();
    SessionPair {
        network,
        client,
        _client: client_handle,
        tally,
        handled,
    }
}

/// Goal: EXEC-7 over the real session protocol: a paused proc's server
/// and actors stop too, so a request to it is answered only after the resume.
#[test]
fn exec_7_a_paused_proc_answers_nothing_over_sessions_until_it_resumes() {
    let mut world = World::new(Config::with_seed(8));
    let waited = world
        .run(async {
            let pair = session_pair();
            pair.network.pause("b");
            let paused_at = lockstep::time::now();
            pair.tally.send(&pair.client, 1).unwrap();
            lockstep::time::sleep(Duration::from_secs(3)).await;
            assert_eq!(pair.handled.load(Ordering::SeqCst), 0, "nothing ran on b");
            pair.network.resume("b");
            while pair.handled.load(Ordering::SeqCst) == 0 {
                lockstep::time::sleep(Duration::from_millis(1)).await;
            }
            lockstep::time::now().duration_since(paused_at)
        })
        .expect("the world runs");
    assert!(waited >= Duration::from_secs(3), "{waited:?}");
    // Its server took no frame while paused either (LINK-6 traces each).
    let mut paused = false;
    let mut taken_while_paused = 0;
    for event in world.trace().events() {
        match event.kind {
            "net_pause" => paused = true,
            "net_resume" => paused = false,
            "net_deliver" if paused => taken_while_paused += 1,
            _ => {}
        }
    }
    assert_eq!(taken_while_paused, 0);
}

/// Goal: EXEC-7 — what a paused proc would send does not leave it, even
/// when its router's channel was opened from outside any actor (a client
/// instance driven by the test's main task): the channel belongs to the proc
/// it forwards for.
#[test]
fn exec_7_a_paused_sender_sends_nothing_over_sessions() {
    let mut world = World::new(Config::with_seed(12));
    world
        .run(async {
            let pair = session_pair();
            pair.network.pause("a");
            pair.tally.send(&pair.client, 1).unwrap();
            lockstep::time::sleep(Duration::from_secs(3)).await;
            assert_eq!(pair.handled.load(Ordering::SeqCst), 0, "nothing left a");
            pair.network.resume("a");
            lockstep::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(
                pair.handled.load(Ordering::SeqCst),
                1,
                "sent after the resume"
            );
        })
        .expect("the world runs");
}
