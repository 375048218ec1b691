//! Destination reorder buffer: releases each session's messages in seq order.
//!
//! One [`ReorderBuffer`] serves one receiving domain at the destination (all
//! handler ports of an actor, or one ephemeral port). Inside it, every sending
//! session (`SeqInfo::Session { session_id, .. }`) has its own state.
//!
//! Owns: per-session next expected seq, the items held back behind a gap, and
//! the counters introspection reports ([`SessionOrdering`]).
//! Does not own: stamping seqs (see [`super::sequencer`]), delivering released
//! items, `SeqInfo::Direct` traffic (never enters the buffer), or deciding when a
//! stall is a liveness failure (the simulator's oracle reads [`ReorderBuffer::snapshot`]).
//!
//! # Invariants
//! - **SEQ-1**: seq 0 is invalid and rejected ([`ReorderError::InvalidSeqZero`]
//!   hands the item back). Seqs start at 1.
//! - **SEQ-2**: items of one session are released in strictly increasing seq order
//!   with no gaps: 1, 2, 3, ...
//! - **SEQ-3**: a seq at or below the last released one, or one already buffered,
//!   is a duplicate: not released, and counted ([`PushOutcome::DuplicateDropped`];
//!   `push` drops it, `push_handing_back` hands it to the caller to drop).
//! - **SEQ-4**: a gap in one session holds back only that session's later items;
//!   other sessions keep releasing.
//! - **SEQ-5**: a session never holds more than
//!   [`ReorderLimits::buffered_messages_max`] entries ahead of its window:
//!   buffered items plus seqs it was told to pass over (CH-13). A push that
//!   would exceed it fails with [`ReorderError::BufferFull`], handing the item
//!   back; a skip that would exceed it is refused ([`SkipOutcome::WindowFull`]),
//!   so a peer sending envelopes that cannot be decoded cannot grow a
//!   session's memory without bound.
//!
//! SEQ-1, SEQ-3 and SEQ-5 are caller-observable outcomes. The internal
//! consistency SEQ-2, SEQ-3 and SEQ-5 rely on (release position, ring/spill
//! layout, buffered count) is asserted through the single `check` function,
//! which panics naming the code: a broken invariant is a bug, not an error.
//! SEQ-4 holds by construction: all state is per session and a push touches
//! only its own session's state.
//!
//! # Layout (per session)
//! An item `offset = seq - next_expected` ahead lives in a bounded ring
//! (`VecDeque<Option<T>>`, slot `offset`) when `offset < ring_messages_max`, and
//! in an ordered spill map otherwise. As the window advances, spilled items that
//! come within reach migrate into the ring. In-order arrival with nothing
//! buffered touches neither and allocates nothing beyond the caller's `released`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The sequencing invariants, by code (see the module doc for each statement).
///
/// Tests and the simulator's oracles cite the same codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SequencingInvariant {
    /// SEQ-1: seq 0 is invalid and rejected.
    Seq1,
    /// SEQ-2: one session's items are released in strictly increasing seq order, gap-free.
    Seq2,
    /// SEQ-3: a seq already released or already buffered is a duplicate: not released, and counted.
    Seq3,
    /// SEQ-4: a gap in one session holds back only that session.
    Seq4,
    /// SEQ-5: a session's buffered items plus the seqs it will pass over never
    /// exceed `buffered_messages_max`.
    Seq5,
}

impl SequencingInvariant {
    /// The code as written in docs and test names, e.g. `"SEQ-2"`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Seq1 => "SEQ-1",
            Self::Seq2 => "SEQ-2",
            Self::Seq3 => "SEQ-3",
            Self::Seq4 => "SEQ-4",
            Self::Seq5 => "SEQ-5",
        }
    }

    /// One-line statement of the invariant.
    pub const fn statement(self) -> &'static str {
        match self {
            Self::Seq1 => "seq 0 is invalid and rejected",
            Self::Seq2 => {
                "a session's items are released in strictly increasing seq order, gap-free"
            }
            Self::Seq3 => "a seq already released or already buffered is a duplicate",
            Self::Seq4 => "a gap in one session holds back only that session",
            Self::Seq5 => {
                "a session's buffered items plus passed-over seqs never exceed buffered_messages_max"
            }
        }
    }
}

impl fmt::Display for SequencingInvariant {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

/// The one place sequencing invariants are asserted: panics naming the code
/// when `holds` is false. Used by both the sequencer and the reorder buffer.
#[track_caller]
#[inline]
pub(crate) fn check(invariant: SequencingInvariant, holds: bool, detail: fmt::Arguments<'_>) {
    if !holds {
        panic!(
            "{} violated ({}): {detail}",
            invariant.code(),
            invariant.statement()
        );
    }
}

/// Limits of one [`ReorderBuffer`]; every session in it gets the same limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorderLimits {
    /// Width of the per-session fast-path ring, in messages: an item at most
    /// `ring_messages_max - 1` seqs ahead of the next expected one is held in
    /// the ring; farther ones spill into an ordered map. Bounds the ring's
    /// memory per session. 0 disables the ring (everything spills).
    /// Default [`ReorderLimits::RING_MESSAGES_MAX_DEFAULT`] (64).
    pub ring_messages_max: usize,
    /// Most entries one session may hold behind a gap: items (ring and spill
    /// together) plus seqs it will pass over (CH-13), which are also
    /// accepted only this many seqs ahead. Hitting it fails the push with
    /// [`ReorderError::BufferFull`] and refuses the skip (SEQ-5). In-order
    /// items are never buffered, so they are accepted even when it is full.
    /// Default [`ReorderLimits::BUFFERED_MESSAGES_MAX_DEFAULT`] (100,000).
    pub buffered_messages_max: usize,
}

impl ReorderLimits {
    /// Default for [`ReorderLimits::ring_messages_max`]: covers the small gaps
    /// that concurrent senders and link reordering produce.
    pub const RING_MESSAGES_MAX_DEFAULT: usize = 64;
    /// Default for [`ReorderLimits::buffered_messages_max`].
    pub const BUFFERED_MESSAGES_MAX_DEFAULT: usize = 100_000;
}

impl Default for ReorderLimits {
    fn default() -> Self {
        Self {
            ring_messages_max: Self::RING_MESSAGES_MAX_DEFAULT,
            buffered_messages_max: Self::BUFFERED_MESSAGES_MAX_DEFAULT,
        }
    }
}

/// What a successful [`ReorderBuffer::push`] did with the item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The item was the next expected one: it and `count - 1` buffered
    /// successors were appended to `released`, in seq order (SEQ-2).
    Released {
        /// Items appended to `released` by this push (at least 1).
        count: usize,
    },
    /// The item is ahead of a gap and is held back (SEQ-4).
    Buffered,
    /// The seq was already released or already buffered: the item was dropped
    /// (or, by `push_handing_back`, handed back) and counted in
    /// [`SessionOrdering::duplicates_dropped`] (SEQ-3).
    DuplicateDropped,
}

/// What [`ReorderBuffer::skip`] did with a seq that will never arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipOutcome {
    /// The seq was due or ahead: it is (or will be) passed over, and what
    /// waited behind it was appended to `released`.
    Skipped,
    /// The seq was already released or passed: nothing to fill.
    NotPending,
    /// SEQ-5: the session already holds `buffered_messages_max` entries
    /// ahead of its window, or the seq is farther ahead than that. It stays
    /// a gap for good: nothing retries a skip, and the message was refused,
    /// so only a copy of it (a duplicate on the wire) could still fill it.
    /// The session stalls there: what comes behind is held, then refused
    /// with [`ReorderError::BufferFull`] and returned to its sender, never
    /// lost. SEQ-5 takes this over memory a peer could grow without bound.
    WindowFull,
}

impl SkipOutcome {
    /// Whether the seq will be passed over.
    pub fn skipped(self) -> bool {
        self == SkipOutcome::Skipped
    }
}

/// Why [`ReorderBuffer::push`] refused an item. Every variant hands it back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ReorderError<T> {
    /// SEQ-1: seq 0 is never stamped by a sequencer.
    #[error("session {session_id}: seq 0 is invalid (SEQ-1)")]
    InvalidSeqZero {
        /// The session the item claimed to belong to.
        session_id: u64,
        /// The refused item.
        item: T,
    },
    /// SEQ-5: the session already holds `buffered` entries behind a gap
    /// (items, and seqs it will pass over).
    #[error(
        "session {session_id}: cannot buffer seq {seq}, {buffered} entries already held behind a gap (SEQ-5)"
    )]
    BufferFull {
        /// The session whose buffer is full.
        session_id: u64,
        /// The refused item's seq.
        seq: u64,
        /// Entries the session holds behind its gap: buffered items plus seqs
        /// it will pass over (equals `buffered_messages_max`).
        buffered: usize,
        /// The refused item.
        item: T,
    },
}

impl<T> ReorderError<T> {
    /// The session the refused item belongs to.
    pub fn session_id(&self) -> u64 {
        match self {
            Self::InvalidSeqZero { session_id, .. } | Self::BufferFull { session_id, .. } => {
                *session_id
            }
        }
    }

    /// Hands back the refused item.
    pub fn into_item(self) -> T {
        match self {
            Self::InvalidSeqZero { item, .. } | Self::BufferFull { item, .. } => item,
        }
    }
}

// Hand-written so the error is usable (and `Error`) for items that aren't
// `Debug`, like tokio's `SendError<T>`; the item itself is not printed.
impl<T> fmt::Debug for ReorderError<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSeqZero { session_id, .. } => formatter
                .debug_struct("InvalidSeqZero")
                .field("session_id", session_id)
                .finish_non_exhaustive(),
            Self::BufferFull {
                session_id,
                seq,
                buffered,
                ..
            } => formatter
                .debug_struct("BufferFull")
                .field("session_id", session_id)
                .field("seq", seq)
                .field("buffered", buffered)
                .finish_non_exhaustive(),
        }
    }
}

/// Ordering state of one session, as introspection reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOrdering {
    /// The sending session.
    pub session_id: u64,
    /// The seq that must arrive before anything else is released.
    pub next_expected_seq: u64,
    /// The last released seq; 0 before the first release.
    pub last_released_seq: u64,
    /// Items held back behind the gap at `next_expected_seq`.
    pub buffered_count: usize,
    /// Seqs ahead of the gap whose messages were refused on their way
    /// (CH-13): passed over when the window reaches them. Together with
    /// `buffered_count`, what SEQ-5 limits (the `buffered` a
    /// [`ReorderError::BufferFull`] reports).
    #[serde(default)]
    pub pending_skips: usize,
    /// Lowest buffered seq, if any.
    pub oldest_buffered_seq: Option<u64>,
    /// Highest buffered seq, if any.
    pub newest_buffered_seq: Option<u64>,
    /// Duplicates dropped so far (SEQ-3).
    pub duplicates_dropped: u64,
    /// Items released so far.
    pub released_total: u64,
    /// Seqs passed over so far because their messages were refused on
    /// their way (CH-13).
    pub skipped_total: u64,
}

/// The reorder buffer of one receiving domain: per-session state keyed by
/// session id. See the module doc for the invariants it keeps.
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    limits: ReorderLimits,
    sessions: BTreeMap<u64, SessionBuffer<T>>,
}

impl<T> ReorderBuffer<T> {
    /// An empty buffer; every session it later sees gets `limits`.
    pub fn new(limits: ReorderLimits) -> Self {
        Self {
            limits,
            sessions: BTreeMap::new(),
        }
    }

    /// The limits this buffer was built with.
    pub fn limits(&self) -> ReorderLimits {
        self.limits
    }

    /// Accepts `item`, the `seq`-th message of session `session_id`, and appends
    /// every item now releasable for that session to `released`, in seq order.
    ///
    /// Only the item's own session is affected (SEQ-4). A duplicate (SEQ-3) is
    /// dropped and reported as [`PushOutcome::DuplicateDropped`].
    ///
    /// # Errors
    /// [`ReorderError::InvalidSeqZero`] for seq 0 (SEQ-1);
    /// [`ReorderError::BufferFull`] if the item would have to be buffered and the
    /// session already holds `buffered_messages_max` entries (items and seqs to
    /// pass over, SEQ-5). Both hand the item back and leave the buffer
    /// unchanged.
    pub fn push(
        &mut self,
        session_id: u64,
        seq: u64,
        item: T,
        released: &mut Vec<T>,
    ) -> Result<PushOutcome, ReorderError<T>> {
        let mut duplicate = None;
        let outcome = self.push_handing_back(session_id, seq, item, released, &mut duplicate);
        drop(duplicate);
        outcome
    }

    /// [`push`](Self::push), except that a duplicate is handed back in
    /// `duplicate` (which must be `None`; it is set only with
    /// `Ok(DuplicateDropped)`) rather than dropped here: a caller that holds
    /// a lock drops it once the lock is released (a message's `Drop` is user
    /// code).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub(crate) fn push_handing_back(
        &mut self,
        session_id: u64,
        seq: u64,
        item: T,
        released: &mut Vec<T>,
        duplicate: &mut Option<T>,
    ) -> Result<PushOutcome, ReorderError<T>> {
        debug_assert!(duplicate.is_none(), "a duplicate handed back earlier");
        if seq == 0 {
            return Err(ReorderError::InvalidSeqZero { session_id, item });
        }
        self.on_session(
            session_id,
            |session, limits| session.push(session_id, seq, item, limits, released, duplicate),
            Result::is_ok,
        )
    }

    /// Run `operation` on session `session_id`'s state (checking its layout
    /// after, in debug builds). A session not seen before is recorded only
    /// if `taken` says the operation took effect, so a refusal leaves the
    /// buffer exactly as it was.
    fn on_session<R>(
        &mut self,
        session_id: u64,
        operation: impl FnOnce(&mut SessionBuffer<T>, &ReorderLimits) -> R,
        taken: impl FnOnce(&R) -> bool,
    ) -> R {
        let limits = self.limits;
        if let Some(session) = self.sessions.get_mut(&session_id) {
            let outcome = operation(session, &limits);
            #[cfg(debug_assertions)]
            session.check_layout(&limits);
            return outcome;
        }
        let mut session = SessionBuffer::new();
        let outcome = operation(&mut session, &limits);
        if taken(&outcome) {
            #[cfg(debug_assertions)]
            session.check_layout(&limits);
            self.sessions.insert(session_id, session);
        }
        outcome
    }

    /// Seq `seq` of session `session_id` was refused on its way and will
    /// never arrive (CH-13): pass over it, appending to `released` what no
    /// longer waits. A seq ahead of the window is remembered, and counts
    /// against the session's SEQ-5 limit like a buffered item.
    pub fn skip(&mut self, session_id: u64, seq: u64, released: &mut Vec<T>) -> SkipOutcome {
        if seq == 0 {
            return SkipOutcome::NotPending;
        }
        self.on_session(
            session_id,
            |session, limits| session.skip(seq, limits, released),
            |outcome| outcome.skipped(),
        )
    }

    /// Ordering state of every session seen so far, in session-id order.
    pub fn snapshot(&self) -> Vec<SessionOrdering> {
        self.sessions
            .iter()
            .map(|(&session_id, session)| session.ordering(session_id))
            .collect()
    }

    /// Ordering state of one session, if it has been seen.
    pub fn session_ordering(&self, session_id: u64) -> Option<SessionOrdering> {
        self.sessions
            .get(&session_id)
            .map(|session| session.ordering(session_id))
    }

    /// Items held back across all sessions.
    pub fn buffered_total(&self) -> usize {
        self.sessions.values().map(|session| session.buffered).sum()
    }

    /// Whether any session holds items back behind a gap. At quiescence a
    /// `true` here is a stall the liveness oracle reports.
    pub fn has_buffered(&self) -> bool {
        self.sessions.values().any(|session| session.buffered > 0)
    }

    /// Take every item held behind a gap, session by session in seq order
    /// (the destination is going away and must hand them back, UD-1). The
    /// sessions' positions are kept, so later duplicates are still dropped.
    pub fn take_buffered(&mut self) -> Vec<T> {
        let mut taken = Vec::new();
        for session in self.sessions.values_mut() {
            taken.extend(session.ring.drain(..).flatten());
            taken.extend(std::mem::take(&mut session.spill).into_values());
            session.buffered = 0;
        }
        taken
    }
}

/// One session's state. `ring[offset]` holds seq `next_expected + offset`;
/// `ring[0]` is always empty at rest (it would have been released), and the
/// ring is either empty or ends in an occupied slot. `spill` holds seqs at
/// `next_expected + ring_messages_max` and beyond.
#[derive(Debug)]
struct SessionBuffer<T> {
    next_expected: u64,
    ring: VecDeque<Option<T>>,
    spill: BTreeMap<u64, T>,
    /// Occupied ring slots plus spill entries.
    buffered: usize,
    duplicates_dropped: u64,
    /// Items released.
    released_total: u64,
    /// Seqs passed because they were skipped (SEQ-2 counts them with the
    /// released ones).
    skipped_total: u64,
    /// Seqs ahead of `next_expected` that will never arrive (refused on
    /// their way, CH-13): passed over when the window reaches them.
    skipped: BTreeSet<u64>,
}

impl<T> SessionBuffer<T> {
    fn new() -> Self {
        Self {
            next_expected: 1,
            ring: VecDeque::new(),
            spill: BTreeMap::new(),
            buffered: 0,
            duplicates_dropped: 0,
            released_total: 0,
            skipped_total: 0,
            skipped: BTreeSet::new(),
        }
    }

    fn push(
        &mut self,
        session_id: u64,
        seq: u64,
        item: T,
        limits: &ReorderLimits,
        released: &mut Vec<T>,
        duplicate: &mut Option<T>,
    ) -> Result<PushOutcome, ReorderError<T>> {
        if seq < self.next_expected {
            // SEQ-3: already released (a resend after an ack race, or a link
            // duplicate); delivering it again would break SEQ-2.
            self.duplicates_dropped += 1;
            *duplicate = Some(item);
            return Ok(PushOutcome::DuplicateDropped);
        }
        if seq == self.next_expected {
            let count = self.release_run(item, limits, released);
            return Ok(PushOutcome::Released { count });
        }
        let ring_slot = self.ring_slot(seq, limits);
        if self.is_buffered(seq, ring_slot) {
            // SEQ-3: keep the first copy; both carry the same seq from one sender.
            self.duplicates_dropped += 1;
            *duplicate = Some(item);
            return Ok(PushOutcome::DuplicateDropped);
        }
        // A seq marked to pass over that arrives after all (a copy of a
        // refused message) takes its own mark's place in the window, so it
        // is never refused (and a refusal below changes nothing).
        let took_mark = self.skipped.remove(&seq);
        if !took_mark && self.held() >= limits.buffered_messages_max {
            return Err(ReorderError::BufferFull {
                session_id,
                seq,
                buffered: self.held(),
                item,
            });
        }
        match ring_slot {
            Some(slot) => self.place_in_ring(slot, item),
            None => {
                self.spill.insert(seq, item);
            }
        }
        self.buffered += 1;
        self.check_held(limits);
        Ok(PushOutcome::Buffered)
    }

    /// The ring slot of `seq` (ahead of the window), or `None` if it would
    /// spill.
    fn ring_slot(&self, seq: u64, limits: &ReorderLimits) -> Option<usize> {
        usize::try_from(seq - self.next_expected)
            .ok()
            .filter(|&slot| slot < limits.ring_messages_max)
    }

    fn is_buffered(&self, seq: u64, ring_slot: Option<usize>) -> bool {
        match ring_slot {
            Some(slot) => matches!(self.ring.get(slot), Some(Some(_))),
            None => self.spill.contains_key(&seq),
        }
    }

    /// Entries held ahead of the window (SEQ-5 bounds them): buffered items
    /// and seqs to pass over.
    fn held(&self) -> usize {
        self.buffered + self.skipped.len()
    }

    fn check_held(&self, limits: &ReorderLimits) {
        check(
            SequencingInvariant::Seq5,
            self.held() <= limits.buffered_messages_max,
            format_args!(
                "{} items buffered and {} seqs to pass over > {}",
                self.buffered,
                self.skipped.len(),
                limits.buffered_messages_max
            ),
        );
    }

    /// Releases `first` (seq `next_expected`) and every buffered successor that
    /// is now contiguous. Returns how many items were released.
    fn release_run(&mut self, first: T, limits: &ReorderLimits, released: &mut Vec<T>) -> usize {
        let mut count = 0;
        let mut item = first;
        loop {
            released.push(item);
            count += 1;
            self.released_total += 1;
            // SEQ-2: the seq just released is exactly one past the previous one,
            // so the release count and the window position must agree.
            check(
                SequencingInvariant::Seq2,
                self.released_total + self.skipped_total == self.next_expected,
                format_args!(
                    "released {} items and skipped {} seqs but released seq {}",
                    self.released_total, self.skipped_total, self.next_expected
                ),
            );
            match self.pass(limits) {
                Some(next) => item = next,
                None => return count,
            }
        }
    }

    /// Moves the window one past `next_expected` (just released or skipped),
    /// and over any skipped seqs it then reaches; returns the item now due,
    /// if it is buffered.
    fn pass(&mut self, limits: &ReorderLimits) -> Option<T> {
        loop {
            self.next_expected = self
                .next_expected
                .checked_add(1)
                .expect("a session cannot pass more than u64::MAX messages");
            // Drop the (empty) slot of the seq just passed; the ring now
            // starts at the new next_expected.
            self.ring.pop_front();
            self.migrate_spill(limits);
            // A buffered seq is never also marked (`push` takes the mark,
            // `skip` does not mark what is buffered; `check_layout`).
            if let Some(next) = self.take_next_expected() {
                return Some(next);
            }
            if self.skipped.is_empty() || !self.skipped.remove(&self.next_expected) {
                return None;
            }
            self.skipped_total += 1;
        }
    }

    /// CH-13: seq `seq` will never arrive. If it is the one due, the window
    /// moves past it and what waited behind it goes to `released`; if it is
    /// ahead, it is passed over when the window gets there, unless the
    /// session already holds all SEQ-5 allows.
    fn skip(&mut self, seq: u64, limits: &ReorderLimits, released: &mut Vec<T>) -> SkipOutcome {
        if seq < self.next_expected {
            return SkipOutcome::NotPending;
        }
        if seq > self.next_expected {
            // Already marked, or its message is already here (a copy was
            // refused): nothing to pass over.
            if self.skipped.contains(&seq) || self.is_buffered(seq, self.ring_slot(seq, limits)) {
                return SkipOutcome::NotPending;
            }
            // A mark holds its place until the window reaches it: one past
            // anything the window could hold would hold it for good.
            let offset = seq - self.next_expected;
            let beyond = usize::try_from(offset)
                .map_or(true, |offset| offset > limits.buffered_messages_max);
            if beyond || self.held() >= limits.buffered_messages_max {
                return SkipOutcome::WindowFull;
            }
            self.skipped.insert(seq);
            self.check_held(limits);
            return SkipOutcome::Skipped;
        }
        self.skipped_total += 1;
        if let Some(next) = self.pass(limits) {
            self.release_run(next, limits, released);
        }
        SkipOutcome::Skipped
    }

    /// Removes and returns the buffered item for `next_expected`, if present.
    fn take_next_expected(&mut self) -> Option<T> {
        let item = match self.ring.front_mut() {
            Some(slot) => slot.take(),
            // With a zero-width ring, the next item can only be in the spill.
            None => match self.spill.first_entry() {
                Some(entry) if *entry.key() == self.next_expected => Some(entry.remove()),
                _ => None,
            },
        };
        if item.is_some() {
            self.buffered -= 1;
        }
        item
    }

    /// Moves spilled items that the advanced window now covers into the ring.
    fn migrate_spill(&mut self, limits: &ReorderLimits) {
        while let Some((&seq, _)) = self.spill.first_key_value() {
            let Some(slot) = self.ring_slot(seq, limits) else {
                return;
            };
            let (_, item) = self.spill.pop_first().expect("the first entry, just seen");
            self.place_in_ring(slot, item);
        }
    }

    fn place_in_ring(&mut self, slot: usize, item: T) {
        if self.ring.len() <= slot {
            self.ring.resize_with(slot + 1, || None);
        }
        let previous = self.ring[slot].replace(item);
        // SEQ-3: duplicates are filtered before placement and the ring and
        // spill cover disjoint seqs, so a slot is never filled twice.
        check(
            SequencingInvariant::Seq3,
            previous.is_none(),
            format_args!(
                "ring slot for seq {} filled twice",
                self.next_expected + slot as u64
            ),
        );
    }

    fn oldest_buffered(&self) -> Option<u64> {
        let in_ring = self.ring.iter().position(Option::is_some);
        match in_ring {
            Some(slot) => Some(self.next_expected + slot as u64),
            None => self.spill.keys().next().copied(),
        }
    }

    fn newest_buffered(&self) -> Option<u64> {
        match self.spill.keys().next_back() {
            Some(&seq) => Some(seq),
            // The ring ends in an occupied slot (layout invariant).
            None => self
                .ring
                .len()
                .checked_sub(1)
                .map(|slot| self.next_expected + slot as u64),
        }
    }

    fn ordering(&self, session_id: u64) -> SessionOrdering {
        SessionOrdering {
            session_id,
            next_expected_seq: self.next_expected,
            last_released_seq: self.next_expected - 1,
            buffered_count: self.buffered,
            pending_skips: self.skipped.len(),
            oldest_buffered_seq: self.oldest_buffered(),
            newest_buffered_seq: self.newest_buffered(),
            duplicates_dropped: self.duplicates_dropped,
            released_total: self.released_total,
            skipped_total: self.skipped_total,
        }
    }

    /// Full layout check after every push in debug builds: O(ring width).
    #[cfg(debug_assertions)]
    fn check_layout(&self, limits: &ReorderLimits) {
        use SequencingInvariant::{Seq2, Seq5};
        let next = self.next_expected;
        check(
            Seq2,
            !matches!(self.ring.front(), Some(Some(_))),
            format_args!("seq {next} is buffered but was not released"),
        );
        check(
            Seq2,
            matches!(self.ring.back(), None | Some(Some(_))),
            format_args!("ring for next seq {next} ends in an empty slot"),
        );
        check(
            Seq2,
            self.ring.len() <= limits.ring_messages_max,
            format_args!(
                "ring holds {} slots > {}",
                self.ring.len(),
                limits.ring_messages_max
            ),
        );
        if let Some(&lowest_spilled) = self.spill.keys().next() {
            check(
                Seq2,
                self.ring_slot(lowest_spilled, limits).is_none(),
                format_args!("seq {lowest_spilled} is spilled but inside the ring window"),
            );
        }
        if let Some(&marked) = self
            .skipped
            .iter()
            .find(|&&seq| self.is_buffered(seq, self.ring_slot(seq, limits)))
        {
            check(
                Seq2,
                false,
                format_args!("seq {marked} is both buffered and marked to pass over"),
            );
        }
        let counted = self.ring.iter().flatten().count() + self.spill.len();
        check(
            Seq5,
            counted == self.buffered && self.held() <= limits.buffered_messages_max,
            format_args!(
                "buffered count {} (actual {counted}), {} seqs to pass over, max {}",
                self.buffered,
                self.skipped.len(),
                limits.buffered_messages_max
            ),
        );
        check(
            Seq2,
            self.skipped.first().is_none_or(|&seq| seq > next),
            format_args!("a seq to pass over is not ahead of next seq {next}"),
        );
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
