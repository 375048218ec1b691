//! An actor's queues: signals, children's supervision events and ordinary
//! work, each an unbounded multi-producer queue, all read by one run loop.
//! The loop sleeps on the work queue: its waker lives under the work
//! queue's own lock, and the other two queues ring it there.
//!
//! Owns: [`QueueSender`], [`QueueReceiver`], [`Doorbell`], and a place
//! under the queue's lock for a *stage* the sender passes items through
//! (the work queue's is the actor's ordering stage, so admitting a message
//! and queueing what it releases is one lock: [`QueueSender::send_through`]).
//! Does not own: which queue outranks which (the run loop in
//! `proc::instance` reads them in priority order).
//!
//! Why not one tokio channel per queue: a loop waiting on three channels
//! registers its waker with each of them every time it goes idle — three
//! waker clones and drops per message in a ping-pong, a quarter of a
//! simulated hop. Why the waker under the work queue's lock: a work send
//! then takes one lock for the item and the wake-up both, and a loop going
//! idle registers and re-checks its work under that same lock, with no
//! flag handshake and no second lock beside it (`docs/PERFORMANCE.md`,
//! ninth round).
//!
//! nothing is lost. An item sent before the receiver closes is taken by
//! [`QueueReceiver::try_recv`] (the loop drains after closing); a send after
//! the close hands the item back to the sender.
//! no lost wake-ups. A work send finds, under the lock, either the
//! loop registered (and wakes it) or the loop not yet idle (it will see the
//! item when it registers, under the same lock:
//! [`QueueReceiver::register`]). A control queue's send counts
//! its item before it rings the work queue's lock, and the loop reads the
//! control queues' counts after it registered under that lock: whichever
//! takes the lock second sees what the other did.
//! a queue made with [`queue_counting`] says how many of the items it
//! still holds for its receiver (sent and not yet taken) are of the kind it
//! counts — the work queue counts sequenced messages, which the simulator's
//! UD-1 accounting compares with what was sent. Once the receiver is gone
//! it holds nothing for anyone: 0 (where `len` keeps counting what was lost).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use crate::sync::Mutex;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What a control queue rings after a send: the work queue, whose lock
/// holds the loop's waker.
pub(crate) trait Doorbell: Send + Sync {
    /// Wake the loop if it is asleep (or going to sleep).
    fn ring(&self);
}

struct Queue<T, S> {
    shared: Mutex<Shared<T, S>>,
    /// Items in `shared.items`: written under the lock (a plain store, no
    /// read-modify-write), read without it, so the loop's checks of its
    /// three queues (most find them empty) and introspection's depth take
    /// no lock.
    queued: AtomicUsize,
    /// Items in the receiver's batch: written by the receiver only.
    in_batch: AtomicUsize,
    /// Whether the receiver closed. Written under the lock, so a send that
    /// holds the lock sees it exactly; read without it by `is_closed`.
    closed: AtomicBool,
    /// Who wakes the loop after a send: this queue's own waker slot (the
    /// work queue), or the work queue's (a control queue).
    rings: Rings,
    /// Which items to count apart, if any.
    counts: Option<fn(&T) -> bool>,
    /// Counted items in the receiver's batch. Only the receiver
    /// writes it: set under the lock as it takes a batch, lowered as it
    /// hands one out, and set to 0 when it is dropped (it holds nothing any
    /// more).
    counted_in_batch: AtomicUsize,
}

/// What a queue's lock guards.
struct Shared<T, S> {
    items: VecDeque<T>,
    /// What sends pass through on their way in ([`QueueSender::send_through`]).
    stage: S,
    /// The loop's waker, kept between sleeps (only replaced when it would
    /// wake another task), so an actor that sleeps and wakes once per
    /// message clones nothing. Only the work queue's is ever set.
    waker: Option<Waker>,
    /// Whether the loop is (about to be) asleep and wants a wake-up.
    waiting: bool,
}

enum Rings {
    /// This queue holds the loop's waker (the work queue).
    Own,
    /// Another queue does (a control queue rings the work queue).
    Other(Arc<dyn Doorbell>),
}

/// The sending half; cheap to clone.
pub(crate) struct QueueSender<T, S = ()> {
    queue: Arc<Queue<T, S>>,
}

impl<T, S> Clone for QueueSender<T, S> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

/// The receiving half, owned by the run loop.
pub(crate) struct QueueReceiver<T, S = ()> {
    queue: Arc<Queue<T, S>>,
    /// Items taken from the shared queue in one batch, handed out without
    /// the lock: under load the loop takes the lock once per batch, not once
    /// per message, so senders on other threads rarely contend with it.
    taken: VecDeque<T>,
}

/// The work queue: it holds the loop's waker, keeps `stage` under its
/// lock, and counts the items for which `counts` is true apart (Q-3,
/// [`QueueSender::counted_len`]), if given. Its sender is the
/// [`Doorbell`] the control queues ring.
pub(crate) fn queue_counting<T, S>(
    counts: Option<fn(&T) -> bool>,
    stage: S,
) -> (QueueSender<T, S>, QueueReceiver<T, S>) {
    new_queue(Rings::Own, counts, stage)
}

/// A control queue: a send rings `doorbell` (the work queue's).
pub(crate) fn queue<T>(doorbell: Arc<dyn Doorbell>) -> (QueueSender<T>, QueueReceiver<T>) {
    new_queue(Rings::Other(doorbell), None, ())
}

fn new_queue<T, S>(
    rings: Rings,
    counts: Option<fn(&T) -> bool>,
    stage: S,
) -> (QueueSender<T, S>, QueueReceiver<T, S>) {
    let queue = Arc::new(Queue {
        shared: Mutex::new(Shared {
            items: VecDeque::new(),
            stage,
            waker: None,
            waiting: false,
        }),
        queued: AtomicUsize::new(0),
        in_batch: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        rings,
        counts,
        counted_in_batch: AtomicUsize::new(0),
    });
    (
        QueueSender {
            queue: queue.clone(),
        },
        QueueReceiver {
            queue,
            taken: VecDeque::new(),
        },
    )
}

impl<T, S> Shared<T, S> {
    /// Wake the loop if it asked to be woken (called under the lock).
    fn wake_if_waiting(&mut self) {
        if self.waiting {
            self.waiting = false;
            if let Some(waker) = &self.waker {
                waker.wake_by_ref();
            }
        }
    }
}

impl<T, S> Queue<T, S> {
    /// Move the shared queue into the receiver's (empty) batch `taken`:
    /// the two swap places, keeping both allocations.
    fn take_batch(&self, taken: &mut VecDeque<T>, shared: &mut Shared<T, S>) {
        std::mem::swap(taken, &mut shared.items);
        // The batch is counted before the queue is emptied, and a reader
        // that sees the queue empty (Acquire) sees the batch counted: it may
        // count an item twice for a moment, never miss a whole batch.
        self.in_batch.store(taken.len(), Ordering::Relaxed);
        self.queued.store(0, Ordering::Release);
        if let Some(counts) = self.counts {
            // under the lock, so a count sees each item once.
            let counted = taken.iter().filter(|item| counts(item)).count();
            self.counted_in_batch.store(counted, Ordering::Relaxed);
        }
    }
}

impl<T: Send + 'static, S: Send + 'static> Doorbell for Queue<T, S> {
    fn ring(&self) {
        self.shared.lock().wake_if_waiting();
    }
}

impl<T: Send + 'static, S: Send + 'static> QueueSender<T, S> {
    /// What a control queue rings: this queue's waker slot. Only the work
    /// queue's is ever set (a control queue ringing another control queue
    /// would wake no one).
    pub(crate) fn doorbell(&self) -> Arc<dyn Doorbell> {
        debug_assert!(
            matches!(self.queue.rings, Rings::Own),
            "Q-2: only the work queue holds the loop's waker"
        );
        self.queue.clone()
    }
}

impl<T, S> QueueSender<T, S> {
    /// Queue `item` and wake the loop if it waits; hands the item back if
    /// the receiver closed.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        let mut shared = self.queue.shared.lock();
        if self.queue.closed.load(Ordering::Relaxed) {
            return Err(item);
        }
        shared.items.push_back(item);
        self.published(shared);
        Ok(())
    }

    /// Run `pass` on the stage under the queue's lock; what it releases
    /// (through [`Release::push`]) is queued in that order, and the loop
    /// woken once. What the closed queue refuses comes back with `pass`'s
    /// result, to go back to its senders.
    pub(crate) fn send_through<R>(
        &self,
        pass: impl FnOnce(&mut S, &mut Release<'_, T>) -> R,
    ) -> (R, Vec<T>) {
        let mut shared = self.queue.shared.lock();
        let Shared { items, stage, .. } = &mut *shared;
        let before = items.len();
        let mut release = Release {
            items,
            closed: self.queue.closed.load(Ordering::Relaxed),
            refused: Vec::new(),
        };
        let result = pass(stage, &mut release);
        let refused = release.refused;
        if shared.items.len() != before {
            self.published(shared);
        }
        (result, refused)
    }

    /// Run `read` on the stage, under the queue's lock.
    pub(crate) fn with_stage<R>(&self, read: impl FnOnce(&mut S) -> R) -> R {
        read(&mut self.queue.shared.lock().stage)
    }

    /// Items were queued under `shared`: count them and wake the loop.
    fn published(&self, mut shared: crate::sync::MutexGuard<'_, Shared<T, S>>) {
        // counted under the lock; a control queue's count is
        // published by the unlock below, before it rings.
        self.queue
            .queued
            .store(shared.items.len(), Ordering::Release);
        match &self.queue.rings {
            Rings::Own => shared.wake_if_waiting(),
            Rings::Other(doorbell) => {
                drop(shared);
                doorbell.ring();
            }
        }
    }

    /// Items sent and not yet taken by the receiver. Exact on the
    /// receiver's own thread (the run loop's checks) and in the simulator;
    /// from another thread (introspection) a snapshot: the two counts are
    /// read one after the other while sends and takes go on.
    pub(crate) fn len(&self) -> usize {
        self.queue.queued.load(Ordering::Acquire) + self.queue.in_batch.load(Ordering::Relaxed)
    }

    /// Of those, the ones the queue counts apart; 0 for a queue that
    /// counts nothing. A snapshot: exact while no item is being taken.
    #[cfg(all(test, not(lockstep_loom)))]
    pub(crate) fn counted_len(&self) -> usize {
        self.counted_len_and(|_| 0)
    }

    /// [`counted_len`](Self::counted_len) plus what `also` counts in the
    /// stage, both read under one lock (one snapshot of the two).
    pub(crate) fn counted_len_and(&self, also: impl FnOnce(&S) -> usize) -> usize {
        let shared = self.queue.shared.lock();
        let counted = self.queue.counts.map_or(0, |counts| {
            let queued = shared.items.iter().filter(|item| counts(item)).count();
            queued + self.queue.counted_in_batch.load(Ordering::Relaxed)
        });
        counted + also(&shared.stage)
    }

    /// Whether the receiver closed (or was dropped).
    pub(crate) fn is_closed(&self) -> bool {
        self.queue.closed.load(Ordering::Acquire)
    }
}

/// Where a stage's releases go ([`QueueSender::send_through`]): into the
/// queue, or, once the receiver closed, back to the caller.
pub(crate) struct Release<'a, T> {
    items: &'a mut VecDeque<T>,
    closed: bool,
    refused: Vec<T>,
}

impl<T> Release<'_, T> {
    /// Whether the receiver closed: what is pushed now comes back.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Queue `item` (behind what was released before it).
    pub(crate) fn push(&mut self, item: T) {
        if self.closed {
            self.refused.push(item);
        } else {
            self.items.push_back(item);
        }
    }
}

impl<T, S> QueueReceiver<T, S> {
    /// The oldest queued item, if any. Still returns what was queued before
    /// [`close`](Self::close), so the loop can drain.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        if self.taken.is_empty() {
            if self.queue.queued.load(Ordering::Acquire) == 0 {
                return None;
            }
            let Self { queue, taken } = self;
            queue.take_batch(taken, &mut queue.shared.lock());
        }
        self.pop()
    }

    /// The work queue's idle path: register the loop's `waker` to be woken
    /// by the next send (to this queue, or to a control queue that rings
    /// it), unless work is queued already — checked under the same lock as
    /// the registration, so no send falls between the two. Whether
    /// it registered (if not, [`try_recv`](Self::try_recv) has an item).
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        if !self.taken.is_empty() {
            return false;
        }
        let mut shared = self.queue.shared.lock();
        if !shared.items.is_empty() {
            // Not going to sleep: a wait left from an earlier registration
            // would only earn a spurious wake-up.
            shared.waiting = false;
            return false;
        }
        match &shared.waker {
            Some(current) if current.will_wake(waker) => {}
            _ => shared.waker = Some(waker.clone()),
        }
        shared.waiting = true;
        true
    }

    /// The loop found work after registering: it is not going to sleep, so
    /// senders need not wake it (a wake now would only poll it spuriously).
    pub(crate) fn cancel_wait(&self) {
        self.queue.shared.lock().waiting = false;
    }

    /// Let go of the waker (the loop is gone): a finished task is not kept
    /// alive by the senders that still hold this queue.
    pub(crate) fn clear_waker(&self) {
        let waker = {
            let mut shared = self.queue.shared.lock();
            shared.waiting = false;
            shared.waker.take()
        };
        drop(waker);
    }

    /// The next item of the batch.
    fn pop(&mut self) -> Option<T> {
        let item = self.taken.pop_front()?;
        // Q-3 before the batch's length: on one thread (the simulator) a
        // reader never sees more counted items than items; across threads
        // the counts are read without ordering, so they are a snapshot only.
        if self.queue.counts.is_some_and(|counts| counts(&item)) {
            let counted = self.queue.counted_in_batch.load(Ordering::Relaxed);
            debug_assert!(counted > 0, "Q-3: a counted item was in the batch");
            self.queue
                .counted_in_batch
                .store(counted.saturating_sub(1), Ordering::Relaxed);
        }
        self.queue
            .in_batch
            .store(self.taken.len(), Ordering::Relaxed);
        Some(item)
    }

    /// Refuse further sends; what is queued stays for `try_recv`.
    pub(crate) fn close(&mut self) {
        // Under the lock: a send sees the queue either open or closed, never
        // half-way (an item pushed after the close would be lost).
        let _shared = self.queue.shared.lock();
        self.queue.closed.store(true, Ordering::Release);
    }
}

impl<T, S> Drop for QueueReceiver<T, S> {
    fn drop(&mut self) {
        let leftover = {
            let mut shared = self.queue.shared.lock();
            self.queue.closed.store(true, Ordering::Release);
            // nothing is held for a receiver that is gone.
            self.queue.counted_in_batch.store(0, Ordering::Relaxed);
            std::mem::take(&mut shared.items)
        };
        // Dropped outside the lock: an item's drop may send to this queue.
        drop(leftover);
    }
}

#[cfg(all(test, not(lockstep_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counting() -> (std::sync::Arc<CountingWaker>, Waker) {
        let counter = std::sync::Arc::new(CountingWaker(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    /// items come out in order; after `close` the queued ones are still
    /// taken and new sends are handed back.
    #[test]
    fn q_1_close_keeps_queued_items_and_hands_back_later_sends() {
        let (sender, mut receiver) = queue_counting::<u32, ()>(None, ());
        sender.send(1).unwrap();
        sender.send(2).unwrap();
        receiver.close();
        assert!(sender.is_closed());
        assert_eq!(sender.send(3), Err(3));
        assert_eq!(receiver.try_recv(), Some(1));
        assert_eq!(receiver.try_recv(), Some(2));
        assert_eq!(receiver.try_recv(), None);
        drop(receiver);
        assert_eq!(sender.send(4), Err(4));
    }

    /// a counting queue's counted length covers the counted items
    /// still queued and those in the receiver's batch, and drops as each is
    /// taken; a queue that counts nothing says 0.
    #[test]
    fn q_3_counted_len_covers_the_shared_queue_and_the_taken_batch() {
        let (sender, mut receiver) = queue_counting::<u32, ()>(Some(|item| item % 2 == 0), ());
        for item in 1..=4 {
            sender.send(item).unwrap();
        }
        assert_eq!(sender.counted_len(), 2);
        assert_eq!(receiver.try_recv(), Some(1), "takes the batch 1..=4");
        assert_eq!(sender.counted_len(), 2, "2 and 4, in the batch");
        sender.send(6).unwrap();
        assert_eq!(sender.counted_len(), 3, "and 6, queued");
        assert_eq!(receiver.try_recv(), Some(2));
        assert_eq!(sender.counted_len(), 2);
        for expected in [3, 4, 6] {
            assert_eq!(receiver.try_recv(), Some(expected));
        }
        assert_eq!(sender.counted_len(), 0);
        let (plain, _receiver) = queue::<u32>(sender.doorbell());
        plain.send(2).unwrap();
        assert_eq!(plain.counted_len(), 0);
        // A receiver dropped with counted items in its batch and in the
        // queue leaves nothing held (while `len` counts what was lost).
        for item in [8, 10] {
            sender.send(item).unwrap();
        }
        assert_eq!(receiver.try_recv(), Some(8), "takes the batch 8, 10");
        sender.send(12).unwrap();
        assert_eq!(sender.counted_len(), 2);
        drop(receiver);
        assert_eq!(sender.counted_len(), 0);
        assert_eq!(sender.len(), 2, "10 and 12 were lost");
    }

    /// The count is of items sent and not yet taken, wherever they wait: in
    /// the shared queue or in the batch the receiver took (it is the work
    /// queue's depth). What a dropped receiver never took stays counted
    /// (lost), and a refused send is not counted.
    #[test]
    fn len_counts_items_sent_and_not_yet_taken_including_the_taken_batch() {
        let (sender, mut receiver) = queue_counting::<u32, ()>(None, ());
        for item in 1..=3 {
            sender.send(item).unwrap();
        }
        assert_eq!(sender.len(), 3);
        // The first take moves all three into the receiver's batch.
        assert_eq!(receiver.try_recv(), Some(1));
        assert_eq!(sender.len(), 2);
        sender.send(4).unwrap();
        assert_eq!(sender.len(), 3);
        assert_eq!(receiver.try_recv(), Some(2));
        assert_eq!(sender.len(), 2);
        drop(receiver);
        assert_eq!(sender.len(), 2, "never taken: lost, and still counted");
        assert_eq!(sender.send(5), Err(5));
        assert_eq!(sender.len(), 2);
    }

    /// a registered loop is woken once per registration, by a send to
    /// the work queue or to a control queue that rings it; an unregistered
    /// one is not; and it does not register while work is queued.
    #[test]
    fn q_2_the_work_queue_wakes_the_registered_waker_once_per_registration() {
        let (work, mut work_receiver) = queue_counting::<u64, ()>(None, ());
        let (signals, _signal_receiver) = queue::<u8>(work.doorbell());
        let (counter, waker) = counting();
        let woken = || counter.0.load(std::sync::atomic::Ordering::SeqCst);
        work.send(1).unwrap();
        assert_eq!(woken(), 0);
        assert!(!work_receiver.register(&waker), "work is queued");
        assert_eq!(work_receiver.try_recv(), Some(1));
        assert!(work_receiver.register(&waker));
        signals.send(1).unwrap();
        work.send(2).unwrap();
        assert_eq!(
            woken(),
            1,
            "the signal's ring woke it; the send owed nothing"
        );
        assert_eq!(work_receiver.try_recv(), Some(2));
        assert!(work_receiver.register(&waker));
        work.send(3).unwrap();
        assert_eq!(woken(), 2);
        assert_eq!(work_receiver.try_recv(), Some(3));
        // Registered, then found work elsewhere: no wake-up is owed.
        assert!(work_receiver.register(&waker));
        work_receiver.cancel_wait();
        work.send(4).unwrap();
        assert_eq!(woken(), 2);
    }

    /// A work queue whose loop is gone lets go of the waker and wakes no one.
    #[test]
    fn a_cleared_work_queue_releases_its_waker() {
        let (work, receiver) = queue_counting::<u64, ()>(None, ());
        let (counter, waker) = counting();
        assert!(receiver.register(&waker));
        drop(waker);
        assert_eq!(std::sync::Arc::strong_count(&counter), 2);
        receiver.clear_waker();
        assert_eq!(std::sync::Arc::strong_count(&counter), 1);
        work.send(1).unwrap();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}

#[cfg(all(test, lockstep_loom))]
mod loom_model {
    //! Goal: Q-2 under every interleaving loom explores. Method: a sender on
    //! another thread queues one item while the loop runs its idle path
    //! (check, register, check again); afterwards the loop either saw the
    //! item or was woken, and the item is there to take.

    use std::task::Wake;

    use loom::sync::atomic::AtomicBool as LoomBool;
    use loom::thread;

    use super::*;

    struct Woken(LoomBool);

    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// The loop's idle path as `proc::instance::next` runs it: check,
    /// register under the work queue's lock, then check the control queue.
    fn idle_path(
        work: &mut QueueReceiver<u32>,
        control: &mut QueueReceiver<u32>,
        waker: &Waker,
    ) -> Option<u32> {
        control.try_recv().or_else(|| work.try_recv()).or_else(|| {
            if work.register(waker) {
                control.try_recv()
            } else {
                work.try_recv()
            }
        })
    }

    /// no lost wake-ups between a sender (of work, or of a control
    /// item, which rings the work queue) and the loop going idle.
    #[test]
    fn q_2_a_send_is_seen_by_the_recheck_or_wakes_the_loop() {
        for control_send in [false, true] {
            loom::model(move || {
                let (work_sender, mut work) = queue_counting::<u32, ()>(None, ());
                let (control_sender, mut control) = queue::<u32>(work_sender.doorbell());
                let woken = Arc::new(Woken(LoomBool::new(false)));
                let waker = Waker::from(woken.clone());
                let producer = thread::spawn(move || {
                    if control_send {
                        control_sender.send(7).unwrap();
                    } else {
                        work_sender.send(7).unwrap();
                    }
                });
                let seen = idle_path(&mut work, &mut control, &waker);
                producer.join().unwrap();
                if seen.is_none() {
                    assert!(
                        woken.0.load(Ordering::SeqCst),
                        "the item was queued, but the loop neither saw it nor was woken"
                    );
                    assert_eq!(control.try_recv().or_else(|| work.try_recv()), Some(7));
                }
            });
        }
    }
}
