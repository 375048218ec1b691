//! The session transport of the simulated network: `sim:` links that carry
//! the real channel session protocol over faulty in-memory frame pipes
//! (DESIGN §1: "our simulated links carry the real session protocol").
//!
//! Owns: [`SimTransport`] (one proc's `lockstep::channel::Transport` for
//! `sim:` addresses), the fabric of one network's listeners and links, and
//! how the network's faults look to a link: latency per frame, frame loss as
//! a connection break, partitions as frozen frames, crashes as broken links.
//! Does not own: the protocol — numbering, acks, resends, dedup, backoff and
//! the delivery timeout are `lockstep::channel`'s, run unchanged by the
//! procs' `Router`s and `Server`s; the cut set and the fault rates (the
//! network's state, `super`).
//!
//! Invariants (tests cite the codes):
//! - LINK-1: a link is FIFO per direction and hands over frames intact, in
//!   order, each after its latency (drawn per frame, never earlier than the
//!   frame before it) — or it ends. That is all a link promises
//!   (`lockstep::channel::link`); the session layer does the rest.
//! - LINK-2: a lost frame breaks its link when its reader reaches it: the
//!   frames before it are delivered, it and everything written after it in
//!   its direction are not, then both ends fail every read and write, and
//!   the session layer must reconnect and resend (CH-6). Duplicates within
//!   a link are not simulated (a link never shows them); replays come from
//!   resends.
//! - LINK-3 (NET-3): a cut direction freezes its frames where they are —
//!   never dropping, corrupting or truncating one; on heal they flow on in
//!   order. A dial waits while either direction between its ends is cut
//!   (the dialer's own timeout gives up), then takes one latency.
//! - LINK-4 (NET-4): crashing a proc breaks every link it is an end of and
//!   closes its listener; the transports of its old incarnation dial
//!   nothing. Peers see broken links; what they never got acknowledged comes
//!   back through their delivery timeout (CH-7, CH-11).
//! - LINK-5 (NET-5): every draw comes from the `network.frames` stream;
//!   listeners and links live in `BTreeMap`s keyed by names and counters;
//!   waiting is on virtual time and `tokio::sync::Notify` — so a seed replays
//!   bit for bit, with no real time and no threads.
//! - LINK-6: a data frame handed to an acceptor is traced as `net_deliver`
//!   (the sequencing oracle's "arrived in the destination proc" mark) in the
//!   same poll in which the server posts its envelope into the proc.
//! - LINK-7 (LOCK-1): no reader is woken while a link's or the network's
//!   lock is held: what changes under a lock collects the readers to wake
//!   ([`Wakes`]), and they are woken once the locks are released.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Weak};

use spin::mutex::SpinMutex as Mutex;

use futures::future::{BoxFuture, Either, select};
use lockstep::channel::wire::{SessionMessage, decode_envelope_view};
use lockstep::channel::{
    ChannelAddr, ChannelError, FrameRx, FrameTx, Link, Listener, QueueListener, Transport,
};
use lockstep::rt::RandomStream;
use lockstep::rt::time::{self, Instant};
use lockstep::rt::trace::record;
use tokio::sync::{Notify, mpsc};

use super::State;

/// Frame latencies on `sim:` links (LINK-5; NET-6: latency and loss each
/// draw from their own stream; NET-7: the network's own copy of it).
pub const FRAME_LATENCY: RandomStream = RandomStream("network.frames.latency");
/// Whether a frame is lost (NET-6: its own stream).
pub const FRAME_LOSS: RandomStream = RandomStream("network.frames.loss");

/// The scheme of simulated addresses.
pub const SCHEME: &str = "sim";

/// Readers to wake once the locks held while deciding so are released
/// (LINK-7). Dropping it unwoken is a bug: a reader would miss its frame.
#[must_use = "wake the readers once the locks are released (LINK-7)"]
#[derive(Default)]
pub(super) struct Wakes(Vec<Arc<Notify>>);

impl Wakes {
    fn add(&mut self, notify: &Arc<Notify>) {
        self.0.push(notify.clone());
    }

    fn extend(&mut self, other: Wakes) {
        self.0.extend(other.0);
    }

    /// Wake every waiter collected. Call with no lock held.
    pub(super) fn wake(self) {
        for notify in self.0 {
            notify.notify_waiters();
        }
    }
}

/// The listeners and links of one network; lives inside its state.
#[derive(Default)]
pub(super) struct Fabric {
    /// Listener per proc name: its id and where accepted links go.
    listeners: BTreeMap<String, (u64, mpsc::UnboundedSender<Link>)>,
    /// Every link that may still be alive, by id (LINK-5).
    links: BTreeMap<u64, Weak<Mutex<SimLink>>>,
    next_id: u64,
    /// Woken on every heal (LINK-3).
    healed: Arc<Notify>,
}

impl Fabric {
    /// Everything waiting for a cut to heal, to wake once the network's
    /// lock is released (LINK-7).
    pub(super) fn on_heal(&self) -> Wakes {
        let mut wakes = Wakes::default();
        wakes.add(&self.healed);
        wakes
    }

    /// LINK-4: break every link `name` is an end of and unregister its
    /// listener (the network ends its incarnation, which `ending` says how:
    /// `crashed`, `was replaced ...`). The listener's queue and the readers
    /// to wake are handed back, for the caller to drop and wake outside the
    /// network's lock (LINK-7).
    pub(super) fn end_incarnation(
        &mut self,
        name: &str,
        ending: &str,
    ) -> (Option<mpsc::UnboundedSender<Link>>, Wakes) {
        let mut wakes = Wakes::default();
        for link in self.links.values().filter_map(Weak::upgrade) {
            let mut link = lock_link(&link);
            if link.dirs.iter().any(|dir| dir.from == name) {
                wakes.extend(link.break_now(format!("proc {name} {ending}")));
            }
        }
        let listener = self.listeners.remove(name).map(|(_, accept)| accept);
        (listener, wakes)
    }

    /// Frames now frozen by a cut direction (LINK-3).
    pub(super) fn frozen_frames(&self, cut: &BTreeSet<(String, String)>) -> usize {
        self.links
            .values()
            .filter_map(Weak::upgrade)
            .map(|link| {
                let link = lock_link(&link);
                if link.broken.is_some() {
                    return 0;
                }
                link.dirs
                    .iter()
                    .filter(|dir| cut.contains(&(dir.from.clone(), dir.to.clone())))
                    .map(|dir| dir.frames.len())
                    .sum()
            })
            .sum()
    }
}

fn address(name: &str) -> ChannelAddr {
    ChannelAddr::Other {
        scheme: SCHEME.to_owned(),
        address: name.to_owned(),
    }
}

/// A frame on its way.
struct InFlight {
    /// When it reaches the far end (if its direction is not cut).
    arrival: Instant,
    frame: Vec<u8>,
    /// Counted as held by a partition already.
    frozen: bool,
}

/// One direction of a link.
struct Direction {
    from: String,
    to: String,
    frames: VecDeque<InFlight>,
    /// Arrival of the last frame written: the next is never earlier (LINK-1).
    last_arrival: Option<Instant>,
    /// LINK-2: when the lost frame would have arrived; nothing written after
    /// it is queued, and the reader breaks the link on reaching it.
    lost_at: Option<Instant>,
    writer_closed: bool,
    reader_gone: bool,
    /// Wakes this direction's reader.
    wake: Arc<Notify>,
}

/// One link: `dirs[0]` dialer → acceptor, `dirs[1]` acceptor → dialer.
struct SimLink {
    id: u64,
    dirs: [Direction; 2],
    /// Why the link is broken, once it is.
    broken: Option<String>,
}

impl SimLink {
    /// Break the link: both directions drop their frames; their readers are
    /// handed back to wake (LINK-7).
    fn break_now(&mut self, why: String) -> Wakes {
        if self.broken.is_some() {
            return Wakes::default();
        }
        let (from, to) = (self.dirs[0].from.clone(), self.dirs[0].to.clone());
        let id = self.id;
        record("net_link_broken", || {
            [
                ("link", id.into()),
                ("from", from.into()),
                ("to", to.into()),
                ("why", why.as_str().into()),
            ]
        });
        self.broken = Some(why);
        for dir in &mut self.dirs {
            dir.frames.clear();
        }
        self.both_readers()
    }

    /// Both directions' readers, to wake (LINK-7).
    fn both_readers(&self) -> Wakes {
        let mut wakes = Wakes::default();
        for dir in &self.dirs {
            wakes.add(&dir.wake);
        }
        wakes
    }
}

/// One proc's transport for `sim:` addresses: plug it into the proc's
/// `Transports` under [`SCHEME`]. Dials from its proc's incarnation only
/// (LINK-4).
#[derive(Clone)]
pub struct SimTransport {
    state: Weak<Mutex<State>>,
    owner: String,
    incarnation: u64,
    message_bytes_max: u64,
}

impl SimTransport {
    pub(super) fn new(
        state: Weak<Mutex<State>>,
        owner: &str,
        incarnation: u64,
        message_bytes_max: u64,
    ) -> Self {
        Self {
            state,
            owner: owner.to_owned(),
            incarnation,
            message_bytes_max,
        }
    }

    fn gone(addr: &ChannelAddr) -> ChannelError {
        ChannelError::Closed {
            address: addr.to_string(),
        }
    }

    fn name(addr: &ChannelAddr) -> Result<&str, ChannelError> {
        match addr {
            ChannelAddr::Other { scheme, address } if scheme == SCHEME => Ok(address),
            other => Err(ChannelError::UnsupportedScheme {
                address: other.to_string(),
            }),
        }
    }

    fn check_alive(&self, state: &State) -> Result<(), ChannelError> {
        if state.incarnation(&self.owner) == self.incarnation {
            Ok(())
        } else {
            Err(ChannelError::Io {
                operation: "dial from",
                address: address(&self.owner).to_string(),
                detail: format!(
                    "the incarnation of proc {} this transport belongs to has ended",
                    self.owner
                ),
            })
        }
    }

    /// Register a listener for `addr` now (a restarted proc serves at once).
    pub(super) fn listen_now(&self, addr: &ChannelAddr) -> Result<QueueListener, ChannelError> {
        let name = Self::name(addr)?.to_owned();
        let state = self.state.upgrade().ok_or_else(|| Self::gone(addr))?;
        let mut locked = super::lock_state(&state);
        self.check_alive(&locked)?;
        let fabric = &mut locked.fabric;
        if fabric
            .listeners
            .get(&name)
            .is_some_and(|(_, accept)| !accept.is_closed())
        {
            return Err(ChannelError::AddressInUse {
                address: addr.to_string(),
            });
        }
        fabric.next_id += 1;
        let id = fabric.next_id;
        let (accept, accepted) = mpsc::unbounded_channel();
        let replaced = fabric.listeners.insert(name.clone(), (id, accept));
        drop(locked);
        drop(replaced);
        let state = self.state.clone();
        Ok(QueueListener::new(addr.clone(), accepted, move || {
            let Some(state) = state.upgrade() else {
                return;
            };
            // Free the name, unless a newer listener took it meanwhile; drop
            // the removed sender with the lock released.
            let mut locked = super::lock_state(&state);
            let listeners = &mut locked.fabric.listeners;
            let removed = if listeners
                .get(&name)
                .is_some_and(|(current, _)| *current == id)
            {
                listeners.remove(&name)
            } else {
                None
            };
            drop(locked);
            drop(removed);
        }))
    }

    /// LINK-3: wait until neither direction between the ends is cut, then
    /// one latency; repeat if a cut came meanwhile.
    async fn dial_link(self, addr: ChannelAddr) -> Result<Link, ChannelError> {
        let to = Self::name(&addr)?.to_owned();
        let from = self.owner.clone();
        loop {
            let state = self.state.upgrade().ok_or_else(|| Self::gone(&addr))?;
            let healed_notify = super::lock_state(&state).fabric.healed.clone();
            let mut healed = pin!(healed_notify.notified());
            healed.as_mut().enable();
            let latency = {
                let mut locked = super::lock_state(&state);
                self.check_alive(&locked)?;
                let cut = locked.cut.contains(&(from.clone(), to.clone()))
                    || locked.cut.contains(&(to.clone(), from.clone()));
                (!cut).then(|| {
                    let bits = locked.random.next_u64(FRAME_LATENCY);
                    locked.latency(&from, &to).sample_from(bits)
                })
            };
            drop(state);
            match latency {
                None => healed.await,
                Some(latency) => {
                    time::sleep(latency).await;
                    if let Some(link) = self.connect(&addr, &to)? {
                        return Ok(link);
                    }
                }
            }
        }
    }

    /// Make the link if the path is open now (`None`: cut again, wait).
    fn connect(&self, addr: &ChannelAddr, to: &str) -> Result<Option<Link>, ChannelError> {
        let state = self.state.upgrade().ok_or_else(|| Self::gone(addr))?;
        let mut locked = super::lock_state(&state);
        self.check_alive(&locked)?;
        let from = self.owner.clone();
        if locked.cut.contains(&(from.clone(), to.to_owned()))
            || locked.cut.contains(&(to.to_owned(), from.clone()))
        {
            return Ok(None);
        }
        let refused = || ChannelError::Refused {
            address: addr.to_string(),
        };
        let accept = match locked.fabric.listeners.get(to) {
            Some((_, accept)) if !accept.is_closed() => accept.clone(),
            _ => return Err(refused()),
        };
        let fabric = &mut locked.fabric;
        fabric.next_id += 1;
        let id = fabric.next_id;
        let direction = |from: &str, to: &str| Direction {
            from: from.to_owned(),
            to: to.to_owned(),
            frames: VecDeque::new(),
            last_arrival: None,
            lost_at: None,
            writer_closed: false,
            reader_gone: false,
            wake: Arc::new(Notify::new()),
        };
        let link = Arc::new(Mutex::new(SimLink {
            id,
            dirs: [direction(&from, to), direction(to, &from)],
            broken: None,
        }));
        fabric.links.retain(|_, link| link.strong_count() > 0);
        fabric.links.insert(id, Arc::downgrade(&link));
        let healed = fabric.healed.clone();
        locked.stats.links_opened += 1;
        drop(locked);
        record("net_link_up", || {
            [
                ("link", id.into()),
                ("from", from.as_str().into()),
                ("to", to.into()),
            ]
        });
        let half = |dir: usize, peer: &str, acceptor: bool| {
            let wake = lock_link(&link).dirs[dir].wake.clone();
            Link {
                tx: Box::new(SimTx {
                    state: self.state.clone(),
                    link: link.clone(),
                    dir: 1 - dir,
                    peer: address(peer),
                }),
                rx: Box::new(SimRx {
                    state: self.state.clone(),
                    link: link.clone(),
                    dir,
                    peer: address(peer),
                    wake,
                    healed: healed.clone(),
                    acceptor,
                    message_bytes_max: self.message_bytes_max,
                    ids: lockstep::IdCache::new(),
                }),
                peer: address(peer),
            }
        };
        // The dialer reads direction 1 and writes 0; the acceptor the reverse.
        let near = half(1, to, false);
        let far = half(0, &from, true);
        match accept.send(far) {
            Ok(()) => Ok(Some(near)),
            Err(_) => Err(refused()),
        }
    }
}

impl Transport for SimTransport {
    fn dial(&self, addr: &ChannelAddr) -> BoxFuture<'static, Result<Link, ChannelError>> {
        Box::pin(self.clone().dial_link(addr.clone()))
    }

    fn listen(
        &self,
        addr: &ChannelAddr,
    ) -> BoxFuture<'static, Result<Box<dyn Listener>, ChannelError>> {
        let result = self
            .listen_now(addr)
            .map(|listener| Box::new(listener) as Box<dyn Listener>);
        Box::pin(async move { result })
    }
}

/// The writing half of one end.
struct SimTx {
    state: Weak<Mutex<State>>,
    link: Arc<Mutex<SimLink>>,
    dir: usize,
    peer: ChannelAddr,
}

impl SimTx {
    /// LINK-1, LINK-2: queue each frame with its arrival, or lose it.
    fn write(&mut self, frames: &[&[u8]]) -> Result<(), ChannelError> {
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| SimTransport::gone(&self.peer))?;
        let mut locked = super::lock_state(&state);
        let now = time::now();
        let mut link = lock_link(&self.link);
        if let Some(why) = link.broken.clone() {
            return Err(ChannelError::Io {
                operation: "write to",
                address: self.peer.to_string(),
                detail: why,
            });
        }
        if link.dirs[self.dir].reader_gone {
            return Err(ChannelError::Closed {
                address: self.peer.to_string(),
            });
        }
        let loss = if locked.faults_stopped {
            0.0
        } else {
            locked.config.frame_loss_probability
        };
        let latency = {
            let dir = &link.dirs[self.dir];
            locked.latency(&dir.from, &dir.to).clone()
        };
        for frame in frames {
            if matches!(
                SessionMessage::decode(frame),
                Ok(SessionMessage::Data { .. })
            ) {
                locked.stats.sent += 1;
            }
            let id = link.id;
            let dir = &mut link.dirs[self.dir];
            if dir.lost_at.is_some() {
                // LINK-2: written after a lost frame: never arrives.
                break;
            }
            let delay = latency.sample_from(locked.random.next_u64(FRAME_LATENCY));
            let arrival = (now + delay).max(dir.last_arrival.unwrap_or(now));
            dir.last_arrival = Some(arrival);
            if loss > 0.0 && locked.random.unit_f64(FRAME_LOSS) < loss {
                // LINK-2: this frame and everything after it never arrive.
                locked.stats.retransmitted += 1;
                let (from, to) = (dir.from.clone(), dir.to.clone());
                record("net_frame_lost", || {
                    [
                        ("link", id.into()),
                        ("from", from.into()),
                        ("to", to.into()),
                    ]
                });
                dir.lost_at = Some(arrival);
                break;
            }
            dir.frames.push_back(InFlight {
                arrival,
                frame: frame.to_vec(),
                frozen: false,
            });
        }
        let wakes = link.both_readers();
        drop(link);
        drop(locked);
        wakes.wake();
        Ok(())
    }
}

impl FrameTx for SimTx {
    fn send_batch<'a>(
        &'a mut self,
        frames: &'a [&'a [u8]],
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        let result = self.write(frames);
        Box::pin(async move { result })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        self.mark_closed();
        Box::pin(async {})
    }
}

impl SimTx {
    fn mark_closed(&mut self) {
        let wake = {
            let mut link = lock_link(&self.link);
            let dir = &mut link.dirs[self.dir];
            dir.writer_closed = true;
            dir.wake.clone()
        };
        wake.notify_waiters(); // LINK-7: with the link unlocked.
    }
}

impl Drop for SimTx {
    fn drop(&mut self) {
        self.mark_closed();
    }
}

/// The reading half of one end.
struct SimRx {
    state: Weak<Mutex<State>>,
    link: Arc<Mutex<SimLink>>,
    dir: usize,
    peer: ChannelAddr,
    wake: Arc<Notify>,
    healed: Arc<Notify>,
    /// The acceptor's end: data frames it takes are traced (LINK-6).
    acceptor: bool,
    message_bytes_max: u64,
    /// The ids this end's traced envelopes keep naming.
    ids: lockstep::IdCache,
}

/// What a reader finds.
enum Next {
    /// A frame, or `None` when the writer closed and nothing is left.
    Frame(Option<Vec<u8>>),
    /// Nothing yet; look again at this instant (or when woken).
    Wait(Option<Instant>),
}

impl SimRx {
    /// Take the next due frame, if the direction is open (LINK-3).
    fn poll_frame(&mut self) -> Result<Next, ChannelError> {
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| SimTransport::gone(&self.peer))?;
        let mut locked = super::lock_state(&state);
        let now = time::now();
        let mut link = lock_link(&self.link);
        let failed = |why: String| ChannelError::Io {
            operation: "read from",
            address: self.peer.to_string(),
            detail: why,
        };
        if let Some(why) = link.broken.clone() {
            return Err(failed(why));
        }
        let dir = &mut link.dirs[self.dir];
        let cut = locked.cut.contains(&(dir.from.clone(), dir.to.clone()));
        let next = match dir.frames.front_mut() {
            Some(front) if front.arrival <= now && cut => {
                if !front.frozen {
                    front.frozen = true;
                    locked.stats.held += 1;
                }
                Next::Wait(None)
            }
            Some(front) if front.arrival <= now => {
                let frame = dir.frames.pop_front().expect("front checked").frame;
                drop(link);
                if self.acceptor {
                    self.trace_delivery(&mut locked, &frame);
                }
                return Ok(Next::Frame(Some(frame)));
            }
            Some(front) => Next::Wait(Some(front.arrival)),
            // LINK-2: the reader reached the lost frame (a cut freezes it too).
            None if dir.lost_at.is_some_and(|at| at <= now) && !cut => {
                let wakes = link.break_now("a frame was lost: connection reset".to_owned());
                let error = failed(link.broken.clone().unwrap_or_default());
                drop(link);
                drop(locked);
                wakes.wake();
                return Err(error);
            }
            None if dir.lost_at.is_some() => Next::Wait(dir.lost_at.filter(|_| !cut)),
            None if dir.writer_closed => Next::Frame(None),
            None => Next::Wait(None),
        };
        Ok(next)
    }

    /// LINK-6: the server posts this frame's envelope in this same poll.
    fn trace_delivery(&mut self, state: &mut State, frame: &[u8]) {
        let Ok(SessionMessage::Data { payload, .. }) = SessionMessage::decode(frame) else {
            return;
        };
        // Read in place, as the server will: no owned copy just to trace it.
        let Ok(view) = decode_envelope_view(payload, self.message_bytes_max, &mut self.ids) else {
            return;
        };
        state.stats.delivered += 1;
        super::trace_delivery(view.dest_actor(), view.dest_port(), view.seq_info());
    }

    async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        loop {
            let wake = self.wake.clone();
            let healed = self.healed.clone();
            let mut woken = pin!(wake.notified());
            let mut heal = pin!(healed.notified());
            woken.as_mut().enable();
            heal.as_mut().enable();
            let deadline = match self.poll_frame()? {
                Next::Frame(frame) => return Ok(frame),
                Next::Wait(deadline) => deadline,
            };
            let timer = pin!(sleep_until_or_forever(deadline));
            let notified = select(woken, heal);
            match select(notified, timer).await {
                Either::Left(_) | Either::Right(_) => {}
            }
        }
    }
}

impl FrameRx for SimRx {
    fn recv(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, ChannelError>> {
        Box::pin(self.next_frame())
    }
}

impl Drop for SimRx {
    fn drop(&mut self) {
        lock_link(&self.link).dirs[self.dir].reader_gone = true;
    }
}

async fn sleep_until_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Lock one simulated link, with the re-entry check of
/// [`lock_once`](crate::shared::lock_once).
fn lock_link(link: &Mutex<SimLink>) -> spin::mutex::SpinMutexGuard<'_, SimLink> {
    crate::shared::lock_once(link, "a simulated link")
}
