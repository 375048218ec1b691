//! Per-sender sequencing and the destination reorder buffer (DESIGN §3 Sequencing).
//!
//! Owns: the [`SeqInfo`] header, the receiving-domain rule, the sender's
//! [`Sequencer`] and the destination's [`ReorderBuffer`], and
//! `OrderingStage`, the one place where arriving messages are admitted in
//! order (an actor keeps it under its work queue's lock; `Inbound` gives it
//! a lock of its own for other ports).
//! Does not own: delivery itself (mailbox ports) or transport retransmission.
//!
//! SEQ-0: a sender keeps one counter per receiving domain: all handler ports
//! of one actor share [`ReceivingDomain::Actor`]; each ephemeral port is its
//! own [`ReceivingDomain::Port`].
//! SEQ-1..SEQ-5: see [`reorder_buffer`].
//! SEQ-6: with the buffer off, messages are handled in arrival order (the
//! actor inbox traces arrivals then, so the simulator's oracle can check it).
//! SEQ-7: a port served by code that may send (an enqueue port's closure)
//! is served outside its ordering lock: releases wait in line under the
//! lock and are served one at a time, in release order, by whichever caller
//! found nobody serving ([`ServedInbound`]). Code being served may send to
//! the same port, or to a port that sends back, without a deadlock: its
//! message is served once the current one returns.

pub mod reorder_buffer;
pub mod sequencer;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::id::{ActorId, PortId};
use crate::sync::Mutex;
pub use reorder_buffer::{
    PushOutcome, ReorderBuffer, ReorderError, ReorderLimits, SessionOrdering, SkipOutcome,
};
pub use sequencer::Sequencer;

/// How a message is sequenced (the `SeqInfo` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeqInfo {
    /// Not sequenced: delivered in arrival order (unbound handles, control traffic).
    Direct,
    /// The `seq`-th message (from 1) of session `session_id` to one receiving domain.
    Session {
        /// The sending instance's session.
        session_id: u64,
        /// Position within the session's stream to this domain, from 1.
        seq: u64,
    },
}

impl std::fmt::Display for SeqInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeqInfo::Direct => f.write_str("direct"),
            SeqInfo::Session { session_id, seq } => write!(f, "{session_id:016x}#{seq}"),
        }
    }
}

/// The unit a sender numbers its messages by (SEQ-0).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReceivingDomain {
    /// Every handler port of one actor.
    Actor(ActorId),
    /// One ephemeral port.
    Port(PortId),
}

impl ReceivingDomain {
    /// Whether messages to `port` are sequenced: not for control ports
    /// (introspection, signals, returned messages), whose traffic is always
    /// `Direct` (DESIGN §3 Sequencing).
    pub fn is_sequenced(port: &PortId) -> bool {
        !crate::mailbox::is_control_port(port.index())
    }

    /// The domain a message to `port` belongs to.
    pub fn of(port: &PortId) -> Self {
        if port.is_handler_port() {
            ReceivingDomain::Actor(port.actor_id().clone())
        } else {
            ReceivingDomain::Port(port.clone())
        }
    }
}

/// A receiving domain as a borrowed sort key, so a sender's [`Sequencer`]
/// finds the domain of a destination port without building a
/// [`ReceivingDomain`] (and cloning its ids) per message.
///
/// `Borrow` requires the key to order exactly as the owned value: the key is
/// (variant, actor, port index), which is `ReceivingDomain`'s derived order
/// (variants in declaration order, then `ActorId`, then `PortId`, itself
/// ordered by actor and then index). A port keys as the domain
/// [`ReceivingDomain::of`] gives it (a test checks both agree).
pub(crate) trait DomainKey {
    /// (0, actor, 0) for [`ReceivingDomain::Actor`], (1, actor, index) for
    /// [`ReceivingDomain::Port`].
    fn domain_key(&self) -> (u8, &ActorId, u64);
}

impl DomainKey for ReceivingDomain {
    fn domain_key(&self) -> (u8, &ActorId, u64) {
        match self {
            ReceivingDomain::Actor(actor_id) => (0, actor_id, 0),
            ReceivingDomain::Port(port_id) => (1, port_id.actor_id(), port_id.index()),
        }
    }
}

impl DomainKey for PortId {
    fn domain_key(&self) -> (u8, &ActorId, u64) {
        if self.is_handler_port() {
            (0, self.actor_id(), 0)
        } else {
            (1, self.actor_id(), self.index())
        }
    }
}

impl PartialEq for dyn DomainKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.domain_key() == other.domain_key()
    }
}

impl Eq for dyn DomainKey + '_ {}

impl PartialOrd for dyn DomainKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn DomainKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.domain_key().cmp(&other.domain_key())
    }
}

impl<'a> std::borrow::Borrow<dyn DomainKey + 'a> for ReceivingDomain {
    fn borrow(&self) -> &(dyn DomainKey + 'a) {
        self
    }
}

/// Why an arriving message was refused by the ordering stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// SEQ-1: seq 0 is never sent.
    #[error("session {session_id:016x} sent seq 0, which is invalid")]
    InvalidSeqZero {
        /// The offending session.
        session_id: u64,
    },
    /// SEQ-5: the session holds too much behind a gap.
    #[error(
        "reorder buffer full for session {session_id:016x}: {buffered} entries (messages, and seqs refused on their way) wait behind a gap (seq {seq} refused)"
    )]
    BufferFull {
        /// The session.
        session_id: u64,
        /// The refused seq.
        seq: u64,
        /// Entries held behind the gap: buffered messages and seqs to pass
        /// over.
        buffered: usize,
    },
}

/// The destination's ordering stage for one receiving domain: admits each
/// arriving message and releases, in order, whatever became deliverable.
///
/// With the buffer off (a per-proc switch) it releases in arrival order.
///
/// A seq refused on its way is passed over ([`OrderingStage::skip`],
/// CH-13), so what follows it is not held behind a gap that can never close.
///
/// It takes no lock of its own: an actor keeps its stage under its work
/// queue's lock, so admitting a message and queueing what it releases is
/// one critical section (concurrent senders can't interleave a release out
/// of order); [`Inbound`] is a stage with a lock of its own, for ports
/// whose queue is not the actor's, and [`ServedInbound`] one whose releases
/// are served outside that lock, for ports served by user code (SEQ-7).
pub(crate) struct OrderingStage<T> {
    buffer: Option<Reordering<T>>,
}

/// An [`OrderingStage`] behind its own lock (none with the buffer off):
/// `release` runs under the lock, so concurrent senders can't interleave a
/// release out of order. `release` must not send to the same port (it
/// would wait on the lock its own thread holds); user code is served
/// through [`ServedInbound`] instead (SEQ-7).
pub(crate) struct Inbound<T> {
    stage: Option<Mutex<OrderingStage<T>>>,
}

impl<T> Inbound<T> {
    pub(crate) fn new(reorder: Option<ReorderLimits>) -> Self {
        Self {
            stage: reorder.map(|limits| Mutex::new(OrderingStage::new(Some(limits)))),
        }
    }

    /// [`OrderingStage::admit`] under the lock.
    pub(crate) fn admit(
        &self,
        seq_info: SeqInfo,
        item: T,
        mut release: impl FnMut(T),
    ) -> Result<(), (T, AdmissionError)> {
        let Some(stage) = &self.stage else {
            release(item);
            return Ok(());
        };
        let mut duplicate = None;
        let admitted = stage.lock().admit(seq_info, item, release, &mut duplicate);
        // Dropped once the lock is released.
        drop(duplicate);
        admitted
    }

    /// [`OrderingStage::skip`] under the lock.
    pub(crate) fn skip(&self, seq_info: SeqInfo, release: impl FnMut(T)) -> bool {
        self.stage
            .as_ref()
            .is_some_and(|stage| stage.lock().skip(seq_info, release))
    }

    /// [`OrderingStage::take_buffered`] under the lock.
    pub(crate) fn take_buffered(&self) -> Vec<T> {
        self.stage
            .as_ref()
            .map_or_else(Vec::new, |stage| stage.lock().take_buffered())
    }
}

/// An [`OrderingStage`] whose releases are served by code that may send
/// back to it (SEQ-7): admitting queues what the stage releases, under the
/// lock; serving happens outside it, one release at a time, in release
/// order, never on two threads at once.
///
/// The caller that finds nobody serving serves everything waiting, its own
/// releases and those other callers queue meanwhile, so a send may return
/// before its message is served, and serving may run on another sender's
/// thread. If serving panics, the release in hand is lost with the panic
/// (it unwinds into the sender that was serving); what still waits is
/// served by the next caller.
pub(crate) struct ServedInbound<T> {
    state: Mutex<Served<T>>,
    serve: Box<dyn Fn(T) + Send + Sync>,
}

struct Served<T> {
    stage: OrderingStage<T>,
    /// Released, not yet served, in release order.
    waiting: VecDeque<T>,
    /// A caller is serving `waiting`: the others leave their releases to it.
    serving: bool,
}

impl<T> ServedInbound<T> {
    /// A stage with the buffer `reorder` (`None`: arrival order), whose
    /// releases go to `serve`.
    pub(crate) fn new(
        reorder: Option<ReorderLimits>,
        serve: impl Fn(T) + Send + Sync + 'static,
    ) -> Self {
        Self {
            state: Mutex::new(Served {
                stage: OrderingStage::new(reorder),
                waiting: VecDeque::new(),
                serving: false,
            }),
            serve: Box::new(serve),
        }
    }

    /// [`OrderingStage::admit`], then serve what waits (SEQ-7).
    pub(crate) fn admit(&self, seq_info: SeqInfo, item: T) -> Result<(), (T, AdmissionError)> {
        let mut duplicate = None;
        let admitted = {
            let mut state = self.state.lock();
            let Served { stage, waiting, .. } = &mut *state;
            stage.admit(
                seq_info,
                item,
                |released| waiting.push_back(released),
                &mut duplicate,
            )
        };
        // Dropped unlocked: its `Drop` may send here too.
        drop(duplicate);
        self.serve_waiting();
        admitted
    }

    /// [`OrderingStage::skip`], then serve what waits (SEQ-7).
    pub(crate) fn skip(&self, seq_info: SeqInfo) -> bool {
        let skipped = {
            let mut state = self.state.lock();
            let Served { stage, waiting, .. } = &mut *state;
            stage.skip(seq_info, |released| waiting.push_back(released))
        };
        self.serve_waiting();
        skipped
    }

    /// Serve what waits, unless another caller (or this thread, further up
    /// its stack) is serving already: that one serves it in turn.
    fn serve_waiting(&self) {
        {
            let mut state = self.state.lock();
            if state.serving || state.waiting.is_empty() {
                return;
            }
            state.serving = true;
        }
        let mut serving = Serving {
            inbound: self,
            armed: true,
        };
        loop {
            let next = {
                let mut state = self.state.lock();
                let next = state.waiting.pop_front();
                // Under the lock that found the line empty: a release queued
                // after it finds nobody serving and serves itself.
                state.serving = next.is_some();
                next
            };
            let Some(next) = next else {
                serving.armed = false;
                return;
            };
            (self.serve)(next);
        }
    }
}

/// Gives up serving if serving panics, so a later caller serves what still
/// waits.
struct Serving<'a, T> {
    inbound: &'a ServedInbound<T>,
    /// Still serving: the loop has not seen the line empty.
    armed: bool,
}

impl<T> Drop for Serving<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            // Unwinding already: a lock poisoned by another panic must not
            // panic again here (that would abort the process).
            self.inbound.state.lock_ignoring_poison().serving = false;
        }
    }
}

/// The reorder buffer and the list its releases go through, kept between
/// admissions so an in-order message allocates nothing.
struct Reordering<T> {
    buffer: ReorderBuffer<T>,
    released: Vec<T>,
}

impl<T> std::ops::Deref for Reordering<T> {
    type Target = ReorderBuffer<T>;
    fn deref(&self) -> &ReorderBuffer<T> {
        &self.buffer
    }
}

impl<T> std::ops::DerefMut for Reordering<T> {
    fn deref_mut(&mut self) -> &mut ReorderBuffer<T> {
        &mut self.buffer
    }
}

impl<T> OrderingStage<T> {
    pub(crate) fn new(reorder: Option<ReorderLimits>) -> Self {
        Self {
            buffer: reorder.map(|limits| Reordering {
                buffer: ReorderBuffer::new(limits),
                released: Vec::new(),
            }),
        }
    }

    /// Admit `item`; every released item (in order) goes to `release`. A
    /// duplicate is counted and traced (SEQ-3) and handed back in
    /// `duplicate`, for the caller to drop once its lock is released (a
    /// message's `Drop` is user code, which may send to this very actor).
    pub(crate) fn admit(
        &mut self,
        seq_info: SeqInfo,
        item: T,
        mut release: impl FnMut(T),
        duplicate: &mut Option<T>,
    ) -> Result<(), (T, AdmissionError)> {
        let (ordering, session_id, seq) = match (&mut self.buffer, seq_info) {
            (Some(_), SeqInfo::Session { .. })
                if crate::rt::mutation::enabled(crate::rt::mutation::REORDER_BYPASS) =>
            {
                release(item);
                return Ok(());
            }
            (Some(ordering), SeqInfo::Session { session_id, seq }) => (ordering, session_id, seq),
            _ => {
                release(item);
                return Ok(());
            }
        };
        let Reordering { buffer, released } = ordering;
        let outcome = buffer.push_handing_back(session_id, seq, item, released, duplicate);
        released.drain(..).for_each(&mut release);
        match outcome {
            Ok(PushOutcome::DuplicateDropped) => {
                crate::observe::duplicate_dropped(session_id, seq);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(ReorderError::InvalidSeqZero { session_id, item }) => {
                Err((item, AdmissionError::InvalidSeqZero { session_id }))
            }
            Err(ReorderError::BufferFull {
                session_id,
                seq,
                buffered,
                item,
            }) => Err((
                item,
                AdmissionError::BufferFull {
                    session_id,
                    seq,
                    buffered,
                },
            )),
        }
    }

    /// Pass over `seq_info`, a message refused before it got here (CH-13),
    /// and release what waited behind it, in order. With the buffer off, or
    /// for `Direct` traffic, there is nothing to pass. Whether the seq was
    /// still to come (a repeat, or a seq already passed, is not).
    pub(crate) fn skip(&mut self, seq_info: SeqInfo, release: impl FnMut(T)) -> bool {
        let (Some(ordering), SeqInfo::Session { session_id, seq }) = (&mut self.buffer, seq_info)
        else {
            return false;
        };
        if crate::rt::mutation::enabled(crate::rt::mutation::REORDER_BYPASS) {
            return false; // The planted bug bypasses the buffer: no slots.
        }
        let Reordering { buffer, released } = ordering;
        let outcome = buffer.skip(session_id, seq, released);
        released.drain(..).for_each(release);
        if outcome == SkipOutcome::WindowFull {
            // SEQ-5: the gap stays; what queues behind it is refused once the
            // window is full, and goes back to its sender.
            tracing::warn!(
                session_id,
                seq,
                "seq refused on its way not passed over: the session's window is full (SEQ-5)"
            );
        }
        outcome.skipped()
    }

    /// The ordering snapshot of every session (empty with the buffer off).
    pub(crate) fn snapshot(&self) -> Vec<SessionOrdering> {
        match &self.buffer {
            Some(ordering) => ordering.snapshot(),
            None => Vec::new(),
        }
    }

    /// Whether this stage reorders (the buffer is on).
    pub(crate) fn reorders(&self) -> bool {
        self.buffer.is_some()
    }

    /// Take every message held behind a gap (the destination is terminating).
    pub(crate) fn take_buffered(&mut self) -> Vec<T> {
        match &mut self.buffer {
            Some(ordering) => ordering.take_buffered(),
            None => Vec::new(),
        }
    }

    /// Messages held behind gaps, across sessions.
    pub(crate) fn buffered_total(&self) -> usize {
        match &self.buffer {
            Some(ordering) => ordering.buffered_total(),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(seq: u64) -> SeqInfo {
        SeqInfo::Session { session_id: 7, seq }
    }

    /// SEQ-0 through the borrowed key: a port keys as the domain
    /// `ReceivingDomain::of` gives it, and keys order exactly as the owned
    /// domains do (what `Borrow` requires, so a sequencer's map finds each
    /// domain by its key), over handler and ephemeral ports of several
    /// actors.
    #[test]
    fn seq_0_a_port_keys_as_its_domain_and_keys_order_as_domains() {
        use crate::id::{HANDLER_PORT_BIT, ProcId};
        let mut ports = Vec::new();
        for proc_name in ["a", "b"] {
            let proc_id = ProcId::local(proc_name).unwrap();
            for (name, pid) in [("x", 0), ("x", 1), ("y", 0)] {
                let actor_id = proc_id.actor_id(name, pid).unwrap();
                for index in [1, 2, HANDLER_PORT_BIT | 1, HANDLER_PORT_BIT | 9] {
                    ports.push(actor_id.port_id(index));
                }
            }
        }
        for left in &ports {
            let domain = ReceivingDomain::of(left);
            assert_eq!(domain.domain_key(), left.domain_key(), "{left}");
            for right in &ports {
                let other = ReceivingDomain::of(right);
                let (left_key, right_key): (&dyn DomainKey, &dyn DomainKey) = (left, right);
                assert_eq!(
                    domain.cmp(&other),
                    left_key.cmp(right_key),
                    "{left} vs {right}"
                );
            }
        }
    }

    /// Goal: CH-13's slot filling — skipping the seq a message waits behind
    /// releases it, in order; a skip of a seq already passed fills nothing,
    /// and `Direct` traffic or a stage without a buffer has no slots.
    #[test]
    fn skip_fills_a_refused_seq_and_releases_what_waited() {
        let mut inbound = OrderingStage::new(Some(ReorderLimits::default()));
        let mut released = Vec::new();
        inbound
            .admit(session(1), "one", |item| released.push(item), &mut None)
            .unwrap();
        inbound
            .admit(session(3), "three", |item| released.push(item), &mut None)
            .unwrap();
        assert_eq!(released, ["one"], "three waits behind seq 2");
        assert!(inbound.skip(session(2), |item| released.push(item)));
        assert_eq!(released, ["one", "three"]);
        assert!(
            !inbound.skip(session(2), |item| released.push(item)),
            "already passed"
        );
        inbound
            .admit(session(4), "four", |item| released.push(item), &mut None)
            .unwrap();
        assert_eq!(released, ["one", "three", "four"]);
        assert!(!inbound.skip(SeqInfo::Direct, |item: &str| released.push(item)));
        let mut unordered = OrderingStage::<&str>::new(None);
        assert!(!unordered.skip(session(1), |_| unreachable!()));
    }

    /// Goal: a skip ahead of the window is passed over when the window gets
    /// there: seq 6 is refused before seq 5 arrives; 5 then releases, 6 is
    /// passed, 7 is due at once.
    #[test]
    fn skip_ahead_of_a_gap_is_passed_when_the_gap_closes() {
        let mut inbound = OrderingStage::new(Some(ReorderLimits::default()));
        let mut released = Vec::new();
        for seq in 1..=4 {
            inbound
                .admit(session(seq), seq, |item| released.push(item), &mut None)
                .unwrap();
        }
        assert!(inbound.skip(session(6), |item| released.push(item)));
        assert_eq!(inbound.buffered_total(), 0, "a skip holds no message");
        inbound
            .admit(session(5), 5, |item| released.push(item), &mut None)
            .unwrap();
        inbound
            .admit(session(7), 7, |item| released.push(item), &mut None)
            .unwrap();
        assert_eq!(released, [1, 2, 3, 4, 5, 7]);
        let ordering = &inbound.snapshot()[0];
        assert_eq!(
            (ordering.released_total, ordering.skipped_total),
            (6, 1),
            "a passed seq is counted apart from the released items"
        );
    }

    /// SEQ-3: a duplicate — of a seq already released, or of one still
    /// buffered — is handed back, not dropped inside the stage (its owner
    /// drops it once its lock is released), and nothing is released twice.
    #[test]
    fn seq_3_a_duplicate_is_handed_back_to_be_dropped_outside_the_lock() {
        let mut stage = OrderingStage::new(Some(ReorderLimits::default()));
        let mut released = Vec::new();
        let mut duplicate = None;
        for (seq, item) in [
            (1, "one"),
            (1, "one again"),
            (3, "three"),
            (3, "three again"),
        ] {
            stage
                .admit(
                    session(seq),
                    item,
                    |item| released.push(item),
                    &mut duplicate,
                )
                .unwrap();
            if item.ends_with("again") {
                assert_eq!(duplicate.take(), Some(item), "handed back");
            } else {
                assert_eq!(duplicate, None);
            }
        }
        assert_eq!(released, ["one"], "three waits behind seq 2, once");
        assert_eq!(stage.buffered_total(), 1);
    }

    /// SEQ-7: a release whose serving panics gives serving up; what still
    /// waits is served by the next caller, in release order, and nothing is
    /// served twice.
    #[test]
    fn seq_7_a_panicking_serve_leaves_the_rest_to_the_next_caller() {
        let served = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = served.clone();
        let inbound = ServedInbound::new(Some(ReorderLimits::default()), move |seq: u64| {
            if seq == 1 {
                panic!("serving 1 fails");
            }
            record.lock().unwrap().push(seq);
        });
        // 2 waits behind the gap at 1; admitting 1 releases both.
        assert!(inbound.admit(session(2), 2).is_ok());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inbound.admit(session(1), 1)
        }));
        assert!(panicked.is_err(), "serving 1 panicked");
        assert!(
            served.lock().unwrap().is_empty(),
            "2 waits behind the failed serve"
        );
        assert!(inbound.admit(session(3), 3).is_ok());
        assert_eq!(
            *served.lock().unwrap(),
            [2, 3],
            "the next caller serves both, in order"
        );
    }
}

/// SEQ-7 under every interleaving loom explores
/// (`RUSTFLAGS="--cfg lockstep_loom" cargo test --release --lib sequencing::served_loom_model`).
#[cfg(all(test, lockstep_loom))]
mod served_loom_model {
    use super::*;
    use crate::sync::Arc;
    use crate::sync::atomic::{AtomicBool, Ordering};
    use loom::thread;

    /// A stage whose serving records what it serves, and fails the model
    /// if two serves overlap.
    fn recording(
        reorder: Option<ReorderLimits>,
    ) -> (Arc<ServedInbound<u64>>, Arc<Mutex<Vec<u64>>>) {
        let served = Arc::new(Mutex::new(Vec::new()));
        let serving = Arc::new(AtomicBool::new(false));
        let record = served.clone();
        let inbound = ServedInbound::new(reorder, move |value: u64| {
            assert!(!serving.swap(true, Ordering::SeqCst), "two serves at once");
            record.lock().push(value);
            serving.store(false, Ordering::SeqCst);
        });
        (Arc::new(inbound), served)
    }

    /// Two threads admit seqs 1 and 2 of one session at once: both are
    /// served exactly once, in seq order, never two serves at a time, and
    /// nothing is left waiting.
    #[test]
    fn seq_7_concurrent_admits_are_served_once_each_in_order_one_at_a_time() {
        loom::model(|| {
            let (inbound, served) = recording(Some(ReorderLimits::default()));
            let other = {
                let inbound = inbound.clone();
                thread::spawn(move || inbound.admit(session(2), 2).is_ok())
            };
            assert!(inbound.admit(session(1), 1).is_ok());
            assert!(other.join().unwrap());
            assert_eq!(*served.lock(), [1, 2]);
            assert!(inbound.state.lock().waiting.is_empty());
        });
    }

    /// With the buffer off both admits release at once (arrival order):
    /// each is served exactly once, never two at a time, nothing is left
    /// waiting, and each thread's own items keep their order.
    #[test]
    fn seq_7_buffer_off_concurrent_admits_are_served_once_each_one_at_a_time() {
        loom::model(|| {
            let (inbound, served) = recording(None);
            let other = {
                let inbound = inbound.clone();
                thread::spawn(move || {
                    inbound.admit(SeqInfo::Direct, 10).is_ok()
                        && inbound.admit(SeqInfo::Direct, 11).is_ok()
                })
            };
            assert!(inbound.admit(SeqInfo::Direct, 1).is_ok());
            assert!(other.join().unwrap());
            let served = served.lock().clone();
            let mut sorted = served.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [1, 10, 11], "each served once");
            let theirs: Vec<u64> = served
                .iter()
                .copied()
                .filter(|value| *value >= 10)
                .collect();
            assert_eq!(theirs, [10, 11], "one sender's items keep their order");
            assert!(inbound.state.lock().waiting.is_empty());
        });
    }

    fn session(seq: u64) -> SeqInfo {
        SeqInfo::Session { session_id: 7, seq }
    }
}
