//! The simulated network: procs on `sim:` addresses, and the faults between them.
//!
//! Owns: routing envelopes between the procs of one world, latency (the
//! network's, or a link's own: `set_link_latency`), reordering across paths,
//! duplication, frame loss (as retransmission delay), directional partitions
//! with heal, hold/release of a link, and proc crash, restart and pause
//! (EXEC-7: a paused proc's tasks do not run).
//!
//! The model is the delivery contract the channel session protocol gives
//! (DESIGN §3 Transport), so faults look the way they would above it:
//! - NET-1: each link has 1..n *paths*; a path is FIFO, paths race each other,
//!   so messages of one sender reorder only across paths.
//! - NET-2: a lost frame is retransmitted: it costs a retransmission delay,
//!   never the message. A duplicated frame arrives twice (the destination's
//!   reorder buffer must drop the copy).
//! - NET-3: a partition freezes traffic on the cut direction; it never
//!   corrupts or truncates a message. Held messages are released in order on
//!   heal, or, once older than the delivery timeout, returned to their sender
//!   as undeliverable (`DeliveryTimeout`) — nothing vanishes.
//! - NET-4: a message to a crashed proc comes back to its sender as
//!   undeliverable; messages inside a crashed proc are lost with it, and
//!   so is every task it owned. A
//!   restarted proc is another process: what was sent to the one before
//!   (still travelling, or held by a partition) comes back too, never
//!   reaching it.
//! - NET-5: every draw comes from the network's own streams (never
//!   scheduling's or the user's), and a fault kind that is off draws nothing.
//! - NET-6: each fault concern has its own stream (latency, paths,
//!   duplication, loss), so turning one kind off or changing its rate leaves
//!   the others' draws exactly as they were (DESIGN §2.2).
//! - NET-7: the network draws from its own copies of its streams (every
//!   `network.*` label: the four above, `network.skew` and the session
//!   transport's `network.frames.*`), made from the running world's seed
//!   and kept under the network's lock. RAND-1 makes them the world's
//!   streams of those labels, value for value, without a trip through the
//!   environment per draw. Being copies: a draw elsewhere on one of these
//!   labels does not move the network's, two networks in one world draw
//!   the same sequences, and a network used in another world starts that
//!   world's streams from their beginning.
//!
//! Two modes ([`NetworkTransport`]). `Modelled` (the default) is the model
//! above: envelopes are routed between procs directly. `Session` runs the
//! real thing instead: each proc forwards through a `lockstep::channel`
//! `Router` and serves its `sim:` address with `lockstep::channel::serve`,
//! over the links of [`SimTransport`] (`transport.rs`, LINK-1 … LINK-7);
//! frame loss then breaks links (the session protocol reconnects and
//! resends), partitions freeze frames, and a crash breaks the crashed proc's
//! links so its peers' delivery timeouts return what was not acknowledged.
//! Duplication and reordering across paths do not exist there (a session
//! runs over one FIFO link at a time).

mod latency;
mod transport;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

// The network lives in one world, on one thread (WORLD-1): its lock is never
// contended, so it is a spin lock, whose release is a plain store.
use spin::mutex::{SpinMutex as Mutex, SpinMutexGuard as MutexGuard};

use lockstep::channel::{
    ChannelAddr, ChannelConfig, LocalNetwork, Router, Server, Transports, serve,
};
use lockstep::mailbox::return_undeliverable;
use lockstep::rt::random::{self, RandomStream};
use lockstep::rt::time::{self, Instant};
use lockstep::rt::trace::{TraceValue, record};
use lockstep::{
    MailboxSender, MessageEnvelope, PortHandle, Proc, ProcConfig, ProcId, Undeliverable,
    UndeliverableReason,
};

pub use latency::Latency;
pub use transport::{FRAME_LATENCY, FRAME_LOSS, SCHEME, SimTransport};

/// How a path's courier task's name starts (`net:a->b`, for traces). The
/// courier is started as no proc's (`spawn_unowned`), so pausing a proc
/// never stops what is already on the wire.
const COURIER_TASK_PREFIX: &str = "net:";

// NET-6: one stream per fault concern. A duplicate takes one draw from the
// duplication stream and derives its path, delay and losses from it (`Draws`).
// NET-7: the network draws every `network.*` stream from its own copy.
/// Per-message latency of the original copy.
pub const LATENCY: RandomStream = RandomStream("network.latency");
/// Which path of a link a message takes.
pub const PATHS: RandomStream = RandomStream("network.paths");
/// Whether a message is duplicated, and everything about the duplicate.
pub const DUPLICATION: RandomStream = RandomStream("network.duplication");
/// Whether (and how often) a message's frames are lost and retransmitted.
pub const LOSS: RandomStream = RandomStream("network.loss");

/// What carries envelopes between procs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetworkTransport {
    /// Envelopes are routed between procs directly, and the session
    /// protocol's contract is modelled (NET-1 … NET-4). The default.
    #[default]
    Modelled,
    /// Each proc runs the real channel session protocol (`Router` and
    /// `serve`) over simulated `sim:` links (LINK-1 … LINK-7).
    Session,
}

impl NetworkTransport {
    /// Both, in order.
    pub const ALL: [NetworkTransport; 2] = [NetworkTransport::Modelled, NetworkTransport::Session];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            NetworkTransport::Modelled => "modelled",
            NetworkTransport::Session => "session",
        }
    }
}

impl std::fmt::Display for NetworkTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for NetworkTransport {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|transport| transport.name() == text)
            .ok_or_else(|| format!("unknown transport {text:?}: expected modelled or session"))
    }
}

/// How the network behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Latency of one path.
    pub latency: Latency,
    /// Paths per link (1 = FIFO link, more = reordering across paths).
    pub paths_per_link: u32,
    /// Probability that a message is also sent over a second path.
    pub duplicate_probability: f64,
    /// Probability that a frame is lost (and so retransmitted), per attempt.
    pub frame_loss_probability: f64,
    /// The delay a retransmission adds.
    pub retransmit_delay: Duration,
    /// Held messages older than this come back as undeliverable (in
    /// `Session` mode: the channels' `delivery_timeout_ms`).
    pub delivery_timeout: Duration,
    /// Modelled routing, or the real session protocol over `sim:` links.
    pub transport: NetworkTransport,
    /// Each proc's wall clock is skewed by up to this, ahead or behind,
    /// drawn per proc from the "network.skew" stream (CLOCK-3). Zero: off.
    pub clock_skew_max: Duration,
}

/// The stream per-proc clock skews are drawn from (the network's own copy,
/// NET-7).
pub const SKEW: RandomStream = RandomStream("network.skew");

impl Default for NetworkConfig {
    /// A calm network: 1 ms, one path, no faults.
    fn default() -> Self {
        Self {
            latency: Latency::Fixed(Duration::from_millis(1)),
            paths_per_link: 1,
            duplicate_probability: 0.0,
            frame_loss_probability: 0.0,
            retransmit_delay: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(30),
            transport: NetworkTransport::Modelled,
            clock_skew_max: Duration::ZERO,
        }
    }
}

impl NetworkConfig {
    /// The channel configuration of `Session` mode: the defaults, with this
    /// network's delivery timeout.
    pub fn channel_config(&self) -> ChannelConfig {
        ChannelConfig {
            delivery_timeout_ms: self.delivery_timeout.as_millis() as u64,
            ..ChannelConfig::default()
        }
    }
}

/// Counters of what the network did. In `Session` mode the network sees
/// frames, not envelopes: `sent` counts data frames written (resends
/// included), `delivered` data frames handed to an acceptor (replays
/// included), `retransmitted` frames lost (each breaks its link), `held`
/// frames frozen by a partition; `duplicated` and `returned` stay 0 (the
/// channels return envelopes themselves).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Envelopes handed to the network.
    pub sent: u64,
    /// Envelopes handed to a destination proc (duplicates included).
    pub delivered: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames lost and retransmitted.
    pub retransmitted: u64,
    /// Envelopes held by a partition at some point.
    pub held: u64,
    /// Envelopes returned as undeliverable by the network.
    pub returned: u64,
    /// `Session` mode: links dialed.
    pub links_opened: u64,
}

struct Held {
    sent: Sent,
    envelope: MessageEnvelope,
    returns: PortHandle<Undeliverable<MessageEnvelope>>,
}

/// When a message was sent, and to which incarnation of its destination.
#[derive(Clone, Copy)]
struct Sent {
    at: Instant,
    /// A restarted destination is another process (NET-4).
    to_incarnation: u64,
}

/// A proc name's entry in the network.
#[derive(Default)]
struct ProcEntry {
    /// The proc's name.
    name: String,
    /// The running proc; `None` while crashed.
    proc: Option<Proc>,
    /// Which process is behind the name: it changes when one starts
    /// (created, restarted) and when one ends (crashed). A message sent to
    /// one incarnation never reaches another (NET-4), and a proc's `sim:`
    /// transports dial from theirs only (LINK-4).
    incarnation: u64,
    /// Incarnations that ended by being replaced while alive (rather than
    /// by a crash): what a message's reason says when it comes back.
    replaced: BTreeSet<u64>,
}

/// A proc's channel machinery in `Session` mode.
struct Endpoint {
    server: Server,
    router: Router,
}

struct State {
    config: NetworkConfig,
    /// The network's random streams (NET-7).
    random: NetworkRandom,
    /// Per proc name, in name order: its slot in `entries`.
    procs: BTreeMap<String, usize>,
    /// Per proc slot: the proc (`None` while crashed) and its incarnation.
    /// A slot is never reused, so one a sender cached stays its name's.
    entries: Vec<ProcEntry>,
    /// `Session` mode: each live proc's server and router.
    endpoints: BTreeMap<String, Endpoint>,
    /// `Session` mode: listeners and links.
    fabric: transport::Fabric,
    proc_config: ProcConfig,
    cut: BTreeSet<(String, String)>,
    held: BTreeMap<(String, String), VecDeque<Held>>,
    /// Per cut direction holding messages, its watcher (returning expired
    /// ones, NET-3): the deadline it is armed for, and its number. A held
    /// message due earlier starts a new watcher that replaces it; a replaced
    /// watcher ends when it wakes.
    held_watch: BTreeMap<(String, String), (Instant, u64)>,
    /// Watchers to start once the lock is released: direction and number.
    watchers_due: Vec<((String, String), u64)>,
    /// The number of the next watcher.
    next_watcher: u64,
    /// Per link `from → to`: its slot in `links`. Nested so a lookup
    /// allocates no key.
    link_slots: BTreeMap<String, BTreeMap<String, usize>>,
    /// Per link slot: its paths and its own latency, if any. Never reused.
    links: Vec<Link>,
    /// Per proc slot of a sender: where its last message went. A sender
    /// that keeps writing to one proc finds its link and its destination's
    /// entry without looking a name up.
    routes: Vec<Option<Route>>,
    stats: NetworkStats,
    faults_stopped: bool,
    /// Procs whose clock skew was drawn (a restart keeps its skew).
    skewed: BTreeSet<String>,
}

/// The network of one world. Cheap to clone; create it inside the world.
#[derive(Clone)]
pub struct Network {
    state: Arc<Mutex<State>>,
}

impl Network {
    /// A network with `config`; procs it creates use `proc_config`.
    pub fn new(config: NetworkConfig, proc_config: ProcConfig) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                config,
                random: NetworkRandom::default(),
                procs: BTreeMap::new(),
                entries: Vec::new(),
                endpoints: BTreeMap::new(),
                fabric: transport::Fabric::default(),
                proc_config,
                cut: BTreeSet::new(),
                held: BTreeMap::new(),
                held_watch: BTreeMap::new(),
                watchers_due: Vec::new(),
                next_watcher: 0,
                link_slots: BTreeMap::new(),
                links: Vec::new(),
                routes: Vec::new(),
                stats: NetworkStats::default(),
                faults_stopped: false,
                skewed: BTreeSet::new(),
            })),
        }
    }

    /// A network with the fault mix of the world running this code: its
    /// profile (`Config::profile`, or `LOCKSTEP_PROFILE` under `check`;
    /// default `calm`) and its seed. For user tests written with `check` or
    /// `#[lockstep_sim::test(profile = "...")]`.
    pub fn for_this_world(proc_config: ProcConfig) -> Self {
        let (profile, seed) = crate::shared::with_current(|shared| {
            (shared.config.profile.clone(), shared.config.seed)
        })
        .expect("Network::for_this_world runs inside a simulated world");
        let profile = crate::fault::Profile::named_or_calm(profile.as_deref())
            .unwrap_or_else(|error| panic!("lockstep-sim: {error}"));
        Self::for_profile(profile, seed, proc_config)
    }

    /// A network with the fault mix `profile` derives for `seed`.
    pub fn for_profile(profile: crate::fault::Profile, seed: u64, proc_config: ProcConfig) -> Self {
        Self::new(
            crate::fault::FaultMix::derive(profile, seed).network,
            proc_config,
        )
    }

    /// The network's configuration (faults stop after `stop_faults`).
    pub fn config(&self) -> NetworkConfig {
        self.lock().config.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// The address of proc `name`.
    pub fn address(name: &str) -> String {
        format!("sim:{name}")
    }

    /// The transport carrying envelopes.
    pub fn transport(&self) -> NetworkTransport {
        self.lock().config.transport
    }

    /// Create (or re-create after a crash) the proc `name` on this network.
    pub fn proc(&self, name: &str) -> Proc {
        let skew = {
            let mut state = self.lock();
            let skew_max = state.config.clock_skew_max;
            (!skew_max.is_zero() && state.skewed.insert(name.to_owned())).then(|| {
                let skew = state.random.below(SKEW, skew_max.as_nanos() as u64 + 1);
                let ahead = state.random.below(SKEW, 2) == 0;
                (Duration::from_nanos(skew), ahead)
            })
        };
        if let Some((skew, ahead)) = skew {
            self.set_clock_skew(name, skew, ahead);
        }
        let proc_id = ProcId::remote(name, &Self::address(name)).expect("valid proc name");
        let (proc_config, transport) = {
            let mut state = self.lock();
            // A new process behind the name (NET-4; its transports dial
            // from this incarnation only, LINK-4).
            let (_, entry) = state.entry_or_insert(name);
            if entry.proc.is_some() {
                let replaced = entry.incarnation;
                entry.replaced.insert(replaced);
            }
            entry.incarnation += 1;
            (state.proc_config.clone(), state.config.transport)
        };
        let proc = match transport {
            NetworkTransport::Modelled => {
                let (from_slot, _) = self.lock().entry_or_insert(name);
                let sender = NetworkSender {
                    network: Arc::downgrade(&self.state),
                    from: name.to_owned(),
                    from_slot,
                };
                Proc::with_config(proc_id, sender, proc_config)
            }
            NetworkTransport::Session => self.session_proc(name, proc_id, proc_config),
        };
        // LOCK-1: a proc this one replaces is dropped once the lock is
        // released (its last reference may tear down what locks it again).
        let replaced = self
            .lock()
            .entry_or_insert(name)
            .1
            .proc
            .replace(proc.clone());
        drop(replaced);
        record("net_proc_up", || [("proc", name.into())]);
        proc
    }

    /// `Session` mode: a proc whose forwarder is a `Router` over `sim:`
    /// links, served on its `sim:` address.
    fn session_proc(&self, name: &str, proc_id: ProcId, proc_config: ProcConfig) -> Proc {
        if self.lock().endpoints.contains_key(name) {
            // Re-created while alive: the old incarnation goes (LINK-4).
            self.retire(name, "was replaced by a new incarnation");
        }
        let (channel_config, incarnation) = {
            let state = self.lock();
            (state.config.channel_config(), state.incarnation(name))
        };
        let transport = SimTransport::new(
            Arc::downgrade(&self.state),
            name,
            incarnation,
            channel_config.message_bytes_max,
        );
        let addr = ChannelAddr::Other {
            scheme: SCHEME.to_owned(),
            address: name.to_owned(),
        };
        let listener = transport
            .listen_now(&addr)
            .expect("a sim: address is free once its old incarnation retired");
        let transports = Transports::new(LocalNetwork::new(), channel_config.frame_bytes_max)
            .plug(SCHEME, Arc::new(transport));
        let router = Router::new(transports, channel_config.clone());
        let proc = Proc::with_config(proc_id, router.clone(), proc_config);
        let server = serve(&proc, Box::new(listener), channel_config);
        let replaced = self
            .lock()
            .endpoints
            .insert(name.to_owned(), Endpoint { server, router });
        drop(replaced);
        proc
    }

    /// `Session` mode: end proc `name`'s incarnation — break its links
    /// (their reason says how it ended: `ending`, e.g. `crashed`), stop its
    /// server and close its router (LINK-4). Everything is dropped outside
    /// the state's lock (dropping a server aborts tasks whose destructors
    /// lock it again).
    fn retire(&self, name: &str, ending: &str) {
        let (endpoint, listener, wakes) = {
            let mut state = self.lock();
            let (listener, wakes) = state.fabric.end_incarnation(name, ending);
            (state.endpoints.remove(name), listener, wakes)
        };
        wakes.wake();
        drop(listener);
        if let Some(Endpoint { server, router }) = endpoint {
            server.shutdown();
            drop(server);
            // Its unacknowledged envelopes come back (it can dial no more).
            router.close();
        }
    }

    /// Run proc `name`'s wall clock `skew` ahead (`ahead`) or behind the
    /// world's (CLOCK-3): `lockstep::time::system_now()` in its actors reads
    /// the skewed clock; monotonic time is unaffected. Applies at once to
    /// every task of the proc (its actors, server and channels, and the
    /// tasks they started), running or started later: set while the proc
    /// runs, it is a step of its clock, as an NTP correction makes.
    pub fn set_clock_skew(&self, name: &str, skew: Duration, ahead: bool) {
        let nanos = i64::try_from(skew.as_nanos()).unwrap_or(i64::MAX);
        let nanos = if ahead { nanos } else { -nanos };
        crate::shared::with_current(|shared| shared.lock().set_clock_skew(name, nanos));
        record("net_clock_skew", || {
            [
                ("proc", name.into()),
                ("skew_ns", nanos.unsigned_abs().into()),
                ("ahead", ahead.into()),
            ]
        });
    }

    /// How far proc `name`'s wall clock runs ahead of the world's, in
    /// nanoseconds (negative: behind; 0 if never skewed). CLOCK-3.
    pub fn clock_skew_ns(&self, name: &str) -> i64 {
        crate::shared::with_current(|shared| {
            shared.lock().clock_skews.get(name).copied().unwrap_or(0)
        })
        .expect("Network::clock_skew_ns runs inside a simulated world")
    }

    /// The live proc `name`, if any.
    pub fn lookup(&self, name: &str) -> Option<Proc> {
        self.lock().entry(name)?.proc.clone()
    }

    /// Every live actor (and client instance) of every live proc, in proc
    /// then actor-id order: the one walk the oracles share.
    pub fn live_actors(&self) -> Vec<lockstep::InstanceCell> {
        self.proc_names()
            .iter()
            .filter_map(|name| self.lookup(name))
            .flat_map(|proc| {
                proc.all_actor_ids()
                    .iter()
                    .filter_map(|actor_id| proc.lookup(actor_id))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Names of every proc ever created, in order.
    pub fn proc_names(&self) -> Vec<String> {
        self.lock().procs.keys().cloned().collect()
    }

    /// Stop injecting faults for good (the liveness phase): later partitions
    /// are ignored, and links stop losing or duplicating frames.
    pub fn stop_faults(&self) {
        let mut state = self.lock();
        state.faults_stopped = true;
        state.config.duplicate_probability = 0.0;
        state.config.frame_loss_probability = 0.0;
        drop(state);
        record("net_faults_stopped", || []);
    }

    /// Give link `from → to` its own latency distribution (the others keep
    /// the network's); `None` returns it to the network's. Draws still come
    /// from the latency stream (NET-6).
    pub fn set_link_latency(&self, from: &str, to: &str, latency: Option<Latency>) {
        let mut state = self.lock();
        let link = state.link_slot(from, to);
        state.links[link].latency = latency.clone();
        drop(state);
        let shown = latency.map_or_else(|| "network".to_owned(), |latency| latency.to_string());
        record("net_link_latency", || {
            [
                ("from", from.into()),
                ("to", to.into()),
                ("latency", shown.as_str().into()),
            ]
        });
    }

    /// Hold what travels `from → to` until [`Network::release`]: nothing on
    /// the link is reordered, it just waits (a stalled link); on release,
    /// what waited longer than the delivery timeout goes back to its sender.
    /// The same mechanism as a directional partition (NET-3).
    pub fn hold(&self, from: &str, to: &str) {
        self.partition(from, to);
    }

    /// Deliver what [`Network::hold`] kept on `from → to`, in order, and let
    /// traffic flow again.
    pub fn release(&self, from: &str, to: &str) {
        self.heal(from, to);
    }

    /// Cut the direction `from → to`: traffic on it is held (NET-3).
    pub fn partition(&self, from: &str, to: &str) {
        let mut state = self.lock();
        if state.faults_stopped {
            return;
        }
        state.cut.insert((from.to_owned(), to.to_owned()));
        drop(state);
        record("net_partition", || {
            [("from", from.into()), ("to", to.into())]
        });
    }

    /// Cut both directions between `a` and `b`.
    pub fn partition_both(&self, a: &str, b: &str) {
        self.partition(a, b);
        self.partition(b, a);
    }

    /// Restore `from → to` and release what it held, in order.
    pub fn heal(&self, from: &str, to: &str) {
        let key = (from.to_owned(), to.to_owned());
        let (released, to_slot, wakes) = {
            let mut state = self.lock();
            state.cut.remove(&key);
            // LINK-3: frozen frames and waiting dials go on.
            let wakes = state.fabric.on_heal();
            state.held_watch.remove(&key);
            let released = state.held.remove(&key).unwrap_or_default();
            (released, state.procs.get(to).copied(), wakes)
        };
        wakes.wake();
        record("net_heal", || [("from", from.into()), ("to", to.into())]);
        // Only a message to a proc with a slot is ever held (`arrival`).
        debug_assert!(to_slot.is_some() || released.is_empty());
        if let Some(to_slot) = to_slot {
            for held in released {
                self.arrive(from, to_slot, held);
            }
        }
    }

    /// End every standing fault: heal every cut direction and resume every
    /// paused proc (what the liveness phase needs before it waits for the
    /// system to settle). Crashed procs stay down; restarting is the
    /// scenario's decision.
    pub fn heal_all(&self) {
        let cut: Vec<(String, String)> = self.lock().cut.iter().cloned().collect();
        for (from, to) in cut {
            self.heal(&from, &to);
        }
        self.resume_all();
    }

    /// Whether any direction is cut.
    pub fn is_partitioned(&self) -> bool {
        !self.lock().cut.is_empty()
    }

    /// Pause proc `name` like a stopped process (SIGSTOP, a long GC pause):
    /// none of its tasks runs — actors, introspection, its channel tasks —
    /// until [`Network::resume`] (EXEC-7). Traffic to it still arrives and
    /// waits in its queues; nothing it would send leaves.
    pub fn pause(&self, name: &str) {
        record("net_pause", || [("proc", name.into())]);
        crate::shared::with_current(|shared| shared.lock().pause_proc(name))
            .expect("Network::pause runs inside a simulated world");
    }

    /// Whether proc `name` is paused ([`Network::pause`]).
    pub fn is_paused(&self, name: &str) -> bool {
        crate::shared::with_current(|shared| shared.lock().paused.contains(name))
            .expect("Network::is_paused runs inside a simulated world")
    }

    /// Undo [`Network::pause`]: the proc's tasks woken meanwhile run again
    /// (EXEC-7: ready once more, in the order they were parked).
    pub fn resume(&self, name: &str) {
        record("net_resume", || [("proc", name.into())]);
        crate::shared::with_current(|shared| shared.lock().resume_proc(name))
            .expect("Network::resume runs inside a simulated world");
    }

    /// Resume every paused proc, in name order.
    pub fn resume_all(&self) {
        let paused: Vec<Arc<str>> =
            crate::shared::with_current(|shared| shared.lock().paused.iter().cloned().collect())
                .expect("Network::resume_all runs inside a simulated world");
        for name in paused {
            self.resume(&name);
        }
    }

    /// Crash proc `name`: its actors die without cleanup, every task it owns
    /// is dropped (helpers its actors spawned; in `Session` mode its
    /// channels, with what they still held), and traffic to it comes back
    /// undeliverable until it restarts (NET-4).
    pub fn crash(&self, name: &str) {
        // The process behind the name ends: a new incarnation (NET-4, LINK-4).
        let proc = self.lock().entry_mut(name).and_then(|entry| {
            entry.incarnation += 1;
            entry.proc.take()
        });
        record("net_crash", || [("proc", name.into())]);
        // A crashed process is no longer stopped: its restart starts running.
        crate::shared::with_current(|shared| shared.lock().resume_proc(name));
        if self.transport() == NetworkTransport::Session {
            self.retire(name, "crashed");
        }
        if let Some(proc) = proc {
            proc.crash("proc crashed");
        }
        // NET-4: nothing of the crashed process runs on.
        crate::shared::with_current(|shared| crate::executor::Executor::abort_proc(shared, name))
            .expect("Network::crash runs inside a simulated world");
    }

    /// Restart a proc: a fresh proc with the same id. One still running is
    /// crashed first, so two incarnations never serve one id.
    pub fn restart(&self, name: &str) -> Proc {
        let running = self
            .lock()
            .entry(name)
            .is_some_and(|entry| entry.proc.is_some());
        if running {
            self.crash(name);
        }
        record("net_restart", || [("proc", name.into())]);
        self.proc(name)
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetworkStats {
        self.lock().stats.clone()
    }

    /// How many messages are held by partitions now.
    /// (`Session` mode: frames frozen on cut directions.)
    pub fn held_count(&self) -> usize {
        let state = self.lock();
        match state.config.transport {
            NetworkTransport::Modelled => state.held.values().map(VecDeque::len).sum(),
            NetworkTransport::Session => state.fabric.frozen_frames(&state.cut),
        }
    }

    fn transmit(
        &self,
        from: (&str, usize),
        envelope: MessageEnvelope,
        returns: &PortHandle<Undeliverable<MessageEnvelope>>,
    ) {
        let now = time::now();
        let mut couriers = Vec::new();
        // Copies due now with nothing ahead of them: decided under the same
        // lock as the send, completed once it is released (LOCK-1). One slot
        // per copy, in the order decided: no allocation per message (and
        // no array, which moved both slots whole on every send).
        let (mut first, mut second): (Option<Arrival>, Option<Arrival>) = (None, None);
        let watchers;
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            state.stats.sent += 1;
            let Some(route) = state.route(from, envelope.dest().actor_id().proc_id()) else {
                state.stats.returned += 1;
                drop(guard);
                let proc_id = envelope.dest().actor_id().proc_id().clone();
                return_undeliverable(returns, envelope, UndeliverableReason::NoRoute { proc_id });
                return;
            };
            // Sent while `to` is down: meant for whichever incarnation comes
            // up next (the session transport's redials would reach it too).
            let entry = &state.entries[route.to_slot];
            let sent = Sent {
                at: now,
                to_incarnation: entry.incarnation + u64::from(entry.proc.is_none()),
            };
            let config = &state.config;
            let (paths_per_link, duplicate_probability) =
                (config.paths_per_link, config.duplicate_probability);
            let (loss_probability, retransmit_delay) =
                (config.frame_loss_probability, config.retransmit_delay);
            // NET-5: a fault kind that is off draws nothing.
            let duplicate = duplicate_probability > 0.0
                && state.random.unit_f64(DUPLICATION) < duplicate_probability;
            let copies: u32 = if duplicate {
                state.stats.duplicated += 1;
                COPIES_MAX as u32
            } else {
                1
            };
            let mut envelope = Some(envelope);
            let mut arrive_now = 0;
            for copy in 0..copies {
                // NET-6: the original draws from each concern's stream; a
                // duplicate takes exactly one draw from the duplication
                // stream and derives everything about itself from it.
                let mut draws = Draws::for_copy(copy, &mut state.random);
                let path = match paths_per_link {
                    0 | 1 => 0,
                    paths => draws.below(PATHS, u64::from(paths)) as u32,
                };
                // NET-6: one draw whatever the distribution (a fixed latency
                // too), so changing one link's latency leaves the others'.
                let link = &mut state.links[route.link];
                let latency = link.latency.as_ref().unwrap_or(&state.config.latency);
                let mut delay = latency.sample_from(draws.next(LATENCY));
                let mut losses = 0;
                while losses < 8 && loss_probability > 0.0 && draws.unit(LOSS) < loss_probability {
                    delay += retransmit_delay;
                    losses += 1;
                }
                state.stats.retransmitted += losses;
                let path_state = link.path_mut(path);
                let at = (now + delay).max(path_state.free_at.unwrap_or(now));
                path_state.free_at = Some(at);
                // NET-1: due now, behind nothing on its path: it arrives
                // within the send, no courier involved.
                if at == now && path_state.travelling.is_empty() {
                    arrive_now += 1;
                    continue;
                }
                // Copies still to place, plus the ones arriving at once.
                let copies_left = copies - copy - 1 + arrive_now;
                path_state.travelling.push_back(Travelling {
                    at,
                    held: Held {
                        sent,
                        envelope: copy_of(&mut envelope, copies_left),
                        returns: returns.clone(),
                    },
                });
                if !path_state.courier {
                    path_state.courier = true;
                    couriers.push(Courier {
                        from: from.0.to_owned(),
                        to: state.entries[route.to_slot].name.clone(),
                        to_slot: route.to_slot,
                        link: route.link,
                        path,
                    });
                }
            }
            debug_assert!(arrive_now <= copies, "one slot per copy");
            for (slot, left) in [&mut first, &mut second]
                .into_iter()
                .zip((0..arrive_now).rev())
            {
                let envelope = copy_of(&mut envelope, left);
                *slot = state.arrival(from.0, route.to_slot, now, sent, envelope, returns);
            }
            watchers = std::mem::take(&mut state.watchers_due);
        }
        self.start_watchers(watchers);
        if let Some(arrival) = first {
            arrival.complete();
        }
        if let Some(arrival) = second {
            arrival.complete();
        }
        for courier in couriers {
            let network = self.clone();
            let name = format!("{COURIER_TASK_PREFIX}{}->{}", courier.from, courier.to);
            crate::environment::spawn_unowned(&name, network.carry(courier));
        }
    }

    /// A path's courier: delivers what travels on the path, in order (NET-1),
    /// each at its arrival time; ends when the path is empty.
    async fn carry(self, courier: Courier) {
        loop {
            let at = {
                let mut state = self.lock();
                let path = state.links[courier.link].path_mut(courier.path);
                match path.travelling.front() {
                    Some(next) => next.at,
                    None => {
                        path.courier = false;
                        return;
                    }
                }
            };
            time::sleep_until(at).await;
            let next = self.lock().links[courier.link]
                .path_mut(courier.path)
                .travelling
                .pop_front();
            if let Some(Travelling { held, .. }) = next {
                self.arrive(&courier.from, courier.to_slot, held);
            }
        }
    }

    /// Start the watchers in `due` (outside the lock).
    fn start_watchers(&self, due: Vec<((String, String), u64)>) {
        for (key, watcher) in due {
            let name = format!("{COURIER_TASK_PREFIX}held:{}->{}", key.0, key.1);
            crate::environment::spawn_unowned(&name, self.clone().expire_held(key, watcher));
        }
    }

    /// NET-3: while `key`'s direction holds messages, return each once it is
    /// older than the delivery timeout (the rest stay, in order); ends when
    /// nothing is held there (a heal released it all) or a watcher armed
    /// earlier replaced this one (`watcher` is its number).
    async fn expire_held(self, key: (String, String), watcher: u64) {
        loop {
            let (expired, next) = {
                let mut state = self.lock();
                if state.held_watch.get(&key).map(|(_, current)| *current) != Some(watcher) {
                    return;
                }
                let now = time::now();
                let Some(queue) = state.held.remove(&key) else {
                    state.held_watch.remove(&key);
                    return;
                };
                let (mut expired, mut kept) = (Vec::new(), VecDeque::new());
                for held in queue {
                    match state.timed_out(held.sent, now) {
                        Some(reason) => expired.push((held, reason)),
                        None => kept.push_back(held),
                    }
                }
                let timeout = state.config.delivery_timeout;
                let next = kept.iter().map(|held| held.sent.at + timeout).min();
                match next {
                    Some(deadline) => {
                        state.held_watch.insert(key.clone(), (deadline, watcher));
                        state.held.insert(key.clone(), kept);
                    }
                    None => {
                        state.held_watch.remove(&key);
                    }
                }
                (expired, next)
            };
            for (held, reason) in expired {
                return_undeliverable(&held.returns, held.envelope, reason);
            }
            match next {
                // Strictly older than the timeout, as on arrival.
                Some(deadline) => time::sleep_until(deadline + Duration::from_nanos(1)).await,
                None => return,
            }
        }
    }

    /// `held` reaches the end of the link from `from` to the proc in slot
    /// `to_slot` now.
    fn arrive(&self, from: &str, to_slot: usize, held: Held) {
        let now = time::now();
        let Held {
            sent,
            envelope,
            returns,
        } = held;
        let (arrival, watchers) = {
            let mut state = self.lock();
            let arrival = state.arrival(from, to_slot, now, sent, envelope, &returns);
            (arrival, std::mem::take(&mut state.watchers_due))
        };
        self.start_watchers(watchers);
        if let Some(arrival) = arrival {
            arrival.complete();
        }
    }
}

impl State {
    /// The entry of proc `name`, if it was ever created.
    fn entry(&self, name: &str) -> Option<&ProcEntry> {
        self.procs.get(name).map(|&slot| &self.entries[slot])
    }

    fn entry_mut(&mut self, name: &str) -> Option<&mut ProcEntry> {
        self.procs.get(name).map(|&slot| &mut self.entries[slot])
    }

    /// The slot and entry of proc `name`, made on first use.
    fn entry_or_insert(&mut self, name: &str) -> (usize, &mut ProcEntry) {
        let slot = match self.procs.get(name) {
            Some(&slot) => slot,
            None => {
                let slot = self.entries.len();
                self.entries.push(ProcEntry {
                    name: name.to_owned(),
                    ..ProcEntry::default()
                });
                self.routes.push(None);
                self.procs.insert(name.to_owned(), slot);
                slot
            }
        };
        (slot, &mut self.entries[slot])
    }

    /// The incarnation of proc `name` (see [`ProcEntry`]; 0 before any).
    fn incarnation(&self, name: &str) -> u64 {
        self.entry(name).map_or(0, |entry| entry.incarnation)
    }

    /// The slot of link `from → to`, made on first use.
    fn link_slot(&mut self, from: &str, to: &str) -> usize {
        if let Some(&slot) = self.link_slots.get(from).and_then(|links| links.get(to)) {
            return slot;
        }
        let slot = self.links.len();
        self.links.push(Link::default());
        self.link_slots
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned(), slot);
        slot
    }

    /// The latency distribution of link `from → to`.
    pub(crate) fn latency(&self, from: &str, to: &str) -> &Latency {
        self.link_slots
            .get(from)
            .and_then(|links| links.get(to))
            .and_then(|&slot| self.links[slot].latency.as_ref())
            .unwrap_or(&self.config.latency)
    }

    /// Where a message from the proc in slot `from.1` (named `from.0`) to
    /// proc `to` goes: the sender's cached route if it still names `to`,
    /// else looked up by name and cached. `None`: no proc was ever called
    /// `to`.
    fn route(&mut self, from: (&str, usize), to: &ProcId) -> Option<RouteSlots> {
        // `ProcId` equality compares its shared name by address first: a
        // sender writing to one peer compares no text.
        if let Some(route) = self.routes[from.1].as_ref().filter(|route| route.to == *to) {
            return Some(route.slots);
        }
        let to_slot = *self.procs.get(to.name())?;
        let link = self.link_slot(from.0, to.name());
        let slots = RouteSlots { to_slot, link };
        self.routes[from.1] = Some(Route {
            to: to.clone(),
            slots,
        });
        Some(slots)
    }

    /// Why a message `sent` as it says goes back at `now` if it is older
    /// than the delivery timeout (counted as returned), or `None`: the one
    /// check for arrivals and for messages a partition holds (NET-3).
    fn timed_out(&mut self, sent: Sent, now: Instant) -> Option<UndeliverableReason> {
        let timeout = self.config.delivery_timeout;
        if now.duration_since(sent.at) <= timeout {
            return None;
        }
        self.stats.returned += 1;
        Some(UndeliverableReason::DeliveryTimeout {
            timeout_ms: timeout.as_millis() as u64,
        })
    }

    /// What happens to `envelope`, `sent` as it says, reaching the end of
    /// the link from `from` to the proc in slot `to_slot` at `now`: kept by
    /// a partition (`None`), or an
    /// [`Arrival`] to complete once the network's lock is released.
    /// `returns` is cloned only if the envelope is kept or goes back.
    fn arrival(
        &mut self,
        from: &str,
        to_slot: usize,
        now: Instant,
        sent: Sent,
        envelope: MessageEnvelope,
        returns: &PortHandle<Undeliverable<MessageEnvelope>>,
    ) -> Option<Arrival> {
        let held = |envelope| Held {
            sent,
            envelope,
            returns: returns.clone(),
        };
        if !self.cut.is_empty() {
            let key = (from.to_owned(), self.entries[to_slot].name.clone());
            if self.cut.contains(&key) {
                self.stats.held += 1;
                // NET-3: returned once older than the delivery timeout,
                // even while the cut lasts.
                let deadline = sent.at + self.config.delivery_timeout;
                if self
                    .held_watch
                    .get(&key)
                    .is_none_or(|(armed, _)| deadline < *armed)
                {
                    let watcher = self.next_watcher;
                    self.next_watcher += 1;
                    self.held_watch.insert(key.clone(), (deadline, watcher));
                    self.watchers_due.push((key.clone(), watcher));
                }
                self.held.entry(key).or_default().push_back(held(envelope));
                return None;
            }
        }
        if let Some(reason) = self.timed_out(sent, now) {
            return Some(Arrival::Return(Box::new((held(envelope), reason))));
        }
        // NET-4: sent to an incarnation that crashed since: never reaches
        // the next one.
        let entry = &self.entries[to_slot];
        let destination = (entry.incarnation == sent.to_incarnation)
            .then(|| entry.proc.clone())
            .flatten();
        match destination {
            Some(proc) => {
                self.stats.delivered += 1;
                Some(Arrival::Deliver(proc, envelope))
            }
            None if lockstep::rt::mutation::enabled(
                lockstep::rt::mutation::SILENT_DROP_ON_CRASH,
            ) =>
            {
                // The planted bug: the message vanishes (breaks NET-4, UD-1).
                None
            }
            None => {
                self.stats.returned += 1;
                // The incarnation it was sent to is gone: crashed (and maybe
                // restarted since), or replaced while alive.
                let replaced = self.entries[to_slot]
                    .replaced
                    .contains(&sent.to_incarnation);
                let to = &self.entries[to_slot].name;
                let detail = if replaced {
                    format!("proc {to} was replaced by a new incarnation")
                } else {
                    format!("proc {to} crashed")
                };
                let reason = UndeliverableReason::Transport { detail };
                Some(Arrival::Return(Box::new((held(envelope), reason))))
            }
        }
    }
}

/// Where one copy of a message draws its randomness (NET-6): the original
/// from each concern's stream, a duplicate from one seed drawn from the
/// duplication stream (so how many draws a duplicate needs never shifts the
/// duplication stream, and through it which later messages are duplicated).
enum Draws<'a> {
    /// The network's own streams (NET-7).
    Original(&'a mut NetworkRandom),
    /// A splitmix64 state seeded from one duplication draw.
    Duplicate(u64),
}

impl<'a> Draws<'a> {
    fn for_copy(copy: u32, random: &'a mut NetworkRandom) -> Self {
        if copy == 0 {
            Draws::Original(random)
        } else {
            Draws::Duplicate(random.next_u64(DUPLICATION))
        }
    }

    fn next(&mut self, stream: RandomStream) -> u64 {
        match self {
            Draws::Original(random) => random.next_u64(stream),
            Draws::Duplicate(state) => crate::hash::splitmix64(state),
        }
    }

    fn below(&mut self, stream: RandomStream, bound: u64) -> u64 {
        crate::hash::below(self.next(stream), bound)
    }

    fn unit(&mut self, stream: RandomStream) -> f64 {
        crate::hash::unit_f64(self.next(stream))
    }
}

/// The network's random streams (NET-7): copies of the running world's
/// streams of the network's labels, made from its seed on the first draw in
/// that world. Outside a world there is no seed to copy, and draws go to the
/// environment's randomness.
#[derive(Default)]
pub(crate) struct NetworkRandom {
    /// The world the copies belong to (kept so its address is not reused),
    /// and the copies.
    streams: Option<(Weak<crate::shared::Shared>, crate::random::Streams)>,
}

impl NetworkRandom {
    pub(crate) fn next_u64(&mut self, stream: RandomStream) -> u64 {
        let world = crate::shared::current_address();
        let copied_here = matches!(
            (&self.streams, world),
            (Some((copied_in, _)), Some(world)) if Weak::as_ptr(copied_in) == world
        );
        if !copied_here {
            self.streams = crate::shared::current().map(|shared| {
                let streams = crate::random::Streams::new(shared.config.seed);
                (Arc::downgrade(&shared), streams)
            });
        }
        match &mut self.streams {
            Some((_, streams)) => streams.next_u64(stream),
            None => random::next_u64(stream),
        }
    }

    pub(crate) fn below(&mut self, stream: RandomStream, bound: u64) -> u64 {
        crate::hash::below(self.next_u64(stream), bound)
    }

    pub(crate) fn unit_f64(&mut self, stream: RandomStream) -> f64 {
        crate::hash::unit_f64(self.next_u64(stream))
    }
}

/// A message that reached the end of its link, and where it goes next.
enum Arrival {
    /// Into its destination proc (traced as `net_deliver`).
    Deliver(Proc, MessageEnvelope),
    /// Back to its sender (NET-4, UD-1). Boxed: the rare case should not
    /// make every arrival (moved on every send) larger.
    Return(Box<(Held, UndeliverableReason)>),
}

impl Arrival {
    /// Hand the message on; called without the network's lock (LOCK-1).
    fn complete(self) {
        match self {
            Arrival::Deliver(proc, envelope) => {
                let dest = envelope.dest();
                trace_delivery(dest.actor_id(), dest.index(), envelope.headers().seq_info());
                proc.post(envelope);
            }
            Arrival::Return(returned) => {
                let (held, reason) = *returned;
                return_undeliverable(&held.returns, held.envelope, reason);
            }
        }
    }
}

/// Lock the network's state (every lock of it goes through here), with
/// the re-entry check of [`lock_once`](crate::shared::lock_once).
fn lock_state(state: &Mutex<State>) -> MutexGuard<'_, State> {
    crate::shared::lock_once(state, "the network")
}

/// Trace a message's arrival in its destination proc (`net_deliver`): port
/// `index` of actor `dest`.
fn trace_delivery(dest: &lockstep::ActorId, index: u64, seq_info: lockstep::SeqInfo) {
    let (session, seq) = match seq_info {
        lockstep::SeqInfo::Session { session_id, seq } => (session_id, seq),
        lockstep::SeqInfo::Direct => (0, 0),
    };
    record("net_deliver", || {
        [
            (
                "dest",
                TraceValue::Port {
                    actor: dest.text(),
                    index,
                },
            ),
            ("session", session.into()),
            ("seq", seq.into()),
        ]
    });
}

/// The copies of one message: itself and at most one duplicate.
const COPIES_MAX: usize = 2;
// A send keeps its immediate arrivals in two locals (`transmit`): more
// copies need more slots, or one would vanish.
const _: () = assert!(COPIES_MAX == 2);

/// The envelope for one more copy: a clone while `copies_left` more will be
/// needed after this one, the envelope itself for the last.
fn copy_of(envelope: &mut Option<MessageEnvelope>, copies_left: u32) -> MessageEnvelope {
    match copies_left {
        0 => envelope.take().expect("one envelope per copy"),
        _ => envelope.clone().expect("one envelope per copy"),
    }
}

/// A link `from → to` (see `State::links`).
#[derive(Default)]
struct Link {
    /// Per path: when it is next free and what travels on it, in order
    /// (NET-1).
    paths: Vec<PathState>,
    /// The link's own latency ([`Network::set_link_latency`]); `None`: the
    /// network's.
    latency: Option<Latency>,
}

impl Link {
    /// Path `path`, made on first use.
    fn path_mut(&mut self, path: u32) -> &mut PathState {
        let index = path as usize;
        if self.paths.len() <= index {
            self.paths.resize_with(index + 1, PathState::default);
        }
        &mut self.paths[index]
    }
}

/// A sender's way to one destination proc (see `State::routes`).
struct Route {
    /// The destination, as the sender's envelopes name it.
    to: ProcId,
    slots: RouteSlots,
}

/// Where a route leads, copied out under the network's lock (no reference
/// count to take).
#[derive(Clone, Copy)]
struct RouteSlots {
    /// The destination's slot in `State::entries`.
    to_slot: usize,
    /// The link's slot in `State::links`.
    link: usize,
}

/// A path's courier task: the link's names (for arrival and its task name)
/// and where its path lives.
struct Courier {
    from: String,
    to: String,
    /// The destination's slot in `State::entries`.
    to_slot: usize,
    link: usize,
    path: u32,
}

/// One path of a link.
#[derive(Default)]
struct PathState {
    /// When the path is next free: no message arrives before the one sent
    /// ahead of it (NET-1).
    free_at: Option<Instant>,
    /// Messages on the path, in arrival order.
    travelling: VecDeque<Travelling>,
    /// Whether a courier task is delivering `travelling`.
    courier: bool,
}

/// A message on a path and when it arrives.
struct Travelling {
    at: Instant,
    held: Held,
}

/// A proc's forwarder onto the network.
struct NetworkSender {
    network: Weak<Mutex<State>>,
    /// The proc's name and slot in `State::entries`.
    from: String,
    from_slot: usize,
}

impl MailboxSender for NetworkSender {
    fn post(
        &self,
        envelope: MessageEnvelope,
        return_handle: &PortHandle<Undeliverable<MessageEnvelope>>,
    ) {
        match self.network.upgrade() {
            Some(state) => {
                Network { state }.transmit((&self.from, self.from_slot), envelope, return_handle)
            }
            None => {
                let reason = UndeliverableReason::Transport {
                    detail: "the simulated network is gone".into(),
                };
                return_undeliverable(return_handle, envelope, reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::RngCore;

    use super::*;
    use crate::{Config, World};

    /// The first `count` values of `label` in the world of `seed` (RAND-1).
    fn stream(seed: u64, label: &str, count: usize) -> Vec<u64> {
        let mut rng = crate::random::stream_rng(seed, label);
        (0..count).map(|_| rng.next_u64()).collect()
    }

    /// Goal: NET-7 across worlds — the network's copies belong to the world
    /// they were made in: the same `NetworkRandom` used in a second world
    /// draws that world's streams from their beginning, not the first
    /// world's where it left off.
    #[test]
    fn net_7_copies_follow_the_world_that_draws() {
        let mut random = NetworkRandom::default();
        let mut draw = |seed: u64, count: usize| {
            let random = &mut random;
            World::new(Config::with_seed(seed))
                .run(async move {
                    (0..count)
                        .map(|_| random.next_u64(LATENCY))
                        .collect::<Vec<_>>()
                })
                .expect("the world runs")
        };
        assert_eq!(draw(3, 2), stream(3, LATENCY.0, 2));
        assert_eq!(
            draw(4, 2),
            stream(4, LATENCY.0, 2),
            "the second world's own stream"
        );
    }
}
