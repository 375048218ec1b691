//! An actor's queues: signals, children's supervision events and ordinary
//! work, each an unbounded multi-producer queue, all read by one run loop
//! that sleeps on a single shared [`Doorbell`].
//!
//! Owns: [`Doorbell`], [`QueueSender`], [`QueueReceiver`].
//! Does not own: which queue outranks which (the run loop in
//! `proc::instance` reads them in priority order).
//!
//! Why not one tokio channel per queue: a loop waiting on three channels
//! registers its waker with each of them every time it goes idle — three
//! waker clones and drops per message in a ping-pong, a quarter of a
//! simulated hop. One doorbell keeps the waker it was given and is rung by
//! reference.
//!
//! nothing is lost. An item sent before the receiver closes is taken by
//! [`QueueReceiver::try_recv`] (the loop drains after closing); a send after
//! the close hands the item back to the sender.
//! no lost wake-ups. The loop registers with the doorbell and then
//! checks every queue again before it sleeps; a sender rings after its item
//! is queued, and the ring wakes whoever registered.
//! a queue made with [`queue_counting`] says how many of the items it
//! still holds for its receiver (sent and not yet taken) are of the kind it
//! counts — the work queue counts sequenced messages, which the simulator's
//! UD-1 accounting compares with what was sent. Once the receiver is gone
//! it holds nothing for anyone: 0 (where `len` keeps counting what was lost).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use crate::sync::Mutex;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering, seq_cst_handshake};

/// One waker slot shared by an actor's queues.
pub(crate) struct Doorbell {
    /// Whether the loop is (about to be) asleep and wants a ring.
    waiting: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Doorbell {
    /// A doorbell nobody waits on yet.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            waiting: AtomicBool::new(false),
            waker: Mutex::new(None),
        })
    }

    /// Ask to be woken by the next ring. The waker is kept (and only
    /// replaced when it would wake another task), so an actor that sleeps and
    /// wakes once per message clones nothing.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        match slot.as_ref() {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        drop(slot);
        // published after the waker, and before the caller's re-check
        // of the queues (a two-flag handshake; the sender's side is in
        // `ring`). All four accesses are `SeqCst`.
        self.waiting.store(true, Ordering::SeqCst);
        seq_cst_handshake();
    }

    /// The loop found work after registering: it is not going to sleep, so
    /// senders need not ring (a ring now would only poll it spuriously).
    pub(crate) fn cancel(&self) {
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// Let go of the waker (the loop is gone): a finished task is not kept
    /// alive by the senders that still hold this doorbell.
    pub(crate) fn clear(&self) {
        self.waiting.store(false, Ordering::SeqCst);
        let waker = self.waker.lock().take();
        drop(waker);
    }

    /// Wake the loop if it asked to be woken.
    fn ring(&self) {
        // the item's count is published before `waiting` is read.
        seq_cst_handshake();
        if self.waiting.swap(false, Ordering::SeqCst) {
            if let Some(waker) = self.waker.lock().as_ref() {
                waker.wake_by_ref();
            }
        }
    }
}

struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    /// Items sent and not yet taken by the receiver (whether still in
    /// `items` or in the receiver's batch), readable without the lock: the
    /// loop checks its three queues several times per message and most
    /// checks find them empty, and it is the work queue's depth that
    /// introspection reports. A receiver dropped with items never taken
    /// leaves them counted: they are what was lost.
    len: AtomicUsize,
    /// Whether the receiver closed. Written under `items`' lock, so a send
    /// that holds the lock sees it exactly; read without it by `is_closed`.
    closed: AtomicBool,
    doorbell: Arc<Doorbell>,
    /// Which items to count apart, if any.
    counts: Option<fn(&T) -> bool>,
    /// Counted items in the receiver's batch. Only the receiver
    /// writes it (a load and a store, no read-modify-write): set under
    /// `items`' lock as it takes a batch, lowered as it hands one out, and
    /// set to 0 when it is dropped (it holds nothing any more).
    counted_in_batch: AtomicUsize,
}

/// The sending half; cheap to clone.
pub(crate) struct QueueSender<T> {
    queue: Arc<Queue<T>>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

/// The receiving half, owned by the run loop.
pub(crate) struct QueueReceiver<T> {
    queue: Arc<Queue<T>>,
    /// Items taken from the shared queue in one batch, handed out without
    /// the lock: under load the loop takes the lock once per batch, not once
    /// per message, so senders on other threads rarely contend with it.
    taken: VecDeque<T>,
}

/// A queue whose receiver sleeps on `doorbell`.
pub(crate) fn queue<T>(doorbell: &Arc<Doorbell>) -> (QueueSender<T>, QueueReceiver<T>) {
    new_queue(doorbell, None)
}

/// A queue whose receiver sleeps on `doorbell`, and which counts the items
/// for which `counts` is true apart (Q-3, [`QueueSender::counted_len`]).
pub(crate) fn queue_counting<T>(
    doorbell: &Arc<Doorbell>,
    counts: fn(&T) -> bool,
) -> (QueueSender<T>, QueueReceiver<T>) {
    new_queue(doorbell, Some(counts))
}

fn new_queue<T>(
    doorbell: &Arc<Doorbell>,
    counts: Option<fn(&T) -> bool>,
) -> (QueueSender<T>, QueueReceiver<T>) {
    let queue = Arc::new(Queue {
        items: Mutex::new(VecDeque::new()),
        len: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        doorbell: doorbell.clone(),
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

impl<T> QueueSender<T> {
    /// Queue `item` and ring; hands it back if the receiver closed.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        let mut items = self.queue.items.lock();
        if self.queue.closed.load(Ordering::Acquire) {
            return Err(item);
        }
        items.push_back(item);
        // counted before the ring, so a loop that registered and then
        // finds `len == 0` is one this ring will wake.
        self.queue.len.fetch_add(1, Ordering::SeqCst);
        drop(items);
        self.queue.doorbell.ring();
        Ok(())
    }

    /// Items sent and not yet taken by the receiver.
    pub(crate) fn len(&self) -> usize {
        self.queue.len.load(Ordering::Relaxed)
    }

    /// Of those, the ones the queue counts apart; 0 for a queue that
    /// counts nothing. A snapshot: exact while no item is being taken.
    pub(crate) fn counted_len(&self) -> usize {
        let Some(counts) = self.queue.counts else {
            return 0;
        };
        let items = self.queue.items.lock();
        let queued = items.iter().filter(|item| counts(item)).count();
        queued + self.queue.counted_in_batch.load(Ordering::Relaxed)
    }

    /// Whether the receiver closed (or was dropped).
    pub(crate) fn is_closed(&self) -> bool {
        self.queue.closed.load(Ordering::Acquire)
    }
}

impl<T> QueueReceiver<T> {
    /// The oldest queued item, if any. Still returns what was queued before
    /// [`close`](Self::close), so the loop can drain.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        if self.taken.is_empty() {
            if self.queue.len.load(Ordering::SeqCst) == 0 {
                return None;
            }
            // Take the whole batch: the (empty) local buffer and the shared
            // queue swap places, keeping both allocations.
            let mut items = self.queue.items.lock();
            std::mem::swap(&mut self.taken, &mut *items);
            if let Some(counts) = self.queue.counts {
                // under the lock, so a count sees each item once.
                let counted = self.taken.iter().filter(|item| counts(item)).count();
                self.queue
                    .counted_in_batch
                    .store(counted, Ordering::Relaxed);
            }
            drop(items);
        }
        let item = self.taken.pop_front()?;
        // Q-3 before `len`: on one thread (the simulator) a reader never
        // sees more counted items than items; across threads the two are
        // read without ordering, so the counts are a snapshot only.
        if self.queue.counts.is_some_and(|counts| counts(&item)) {
            let counted = self.queue.counted_in_batch.load(Ordering::Relaxed);
            debug_assert!(counted > 0, "Q-3: a counted item was in the batch");
            self.queue
                .counted_in_batch
                .store(counted.saturating_sub(1), Ordering::Relaxed);
        }
        self.queue.len.fetch_sub(1, Ordering::SeqCst);
        Some(item)
    }

    /// Refuse further sends; what is queued stays for `try_recv`.
    pub(crate) fn close(&mut self) {
        // Under the lock: a send sees the queue either open or closed, never
        // half-way (an item pushed after the close would be lost).
        let _items = self.queue.items.lock();
        self.queue.closed.store(true, Ordering::Release);
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        let leftover = {
            let mut items = self.queue.items.lock();
            self.queue.closed.store(true, Ordering::Release);
            // nothing is held for a receiver that is gone.
            self.queue.counted_in_batch.store(0, Ordering::Relaxed);
            std::mem::take(&mut *items)
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
        let doorbell = Doorbell::new();
        let (sender, mut receiver) = queue::<u32>(&doorbell);
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
        let doorbell = Doorbell::new();
        let (sender, mut receiver) = queue_counting::<u32>(&doorbell, |item| item % 2 == 0);
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
        let (plain, _receiver) = queue::<u32>(&doorbell);
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
        let doorbell = Doorbell::new();
        let (sender, mut receiver) = queue::<u32>(&doorbell);
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

    /// a registered loop is woken once per ring it asked for, by any of
    /// the queues sharing the doorbell; an unregistered one is not.
    #[test]
    fn q_2_one_doorbell_wakes_the_registered_waker_once_per_registration() {
        let doorbell = Doorbell::new();
        let (signals, _signal_receiver) = queue::<u8>(&doorbell);
        let (work, _work_receiver) = queue::<u64>(&doorbell);
        let (counter, waker) = counting();
        work.send(1).unwrap();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        doorbell.register(&waker);
        signals.send(1).unwrap();
        work.send(2).unwrap();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        doorbell.register(&waker);
        work.send(3).unwrap();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Registered, then found work: no ring is owed.
        doorbell.register(&waker);
        doorbell.cancel();
        work.send(4).unwrap();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// A doorbell whose loop is gone lets go of the waker and rings no one.
    #[test]
    fn a_cleared_doorbell_releases_its_waker() {
        let doorbell = Doorbell::new();
        let (work, _receiver) = queue::<u64>(&doorbell);
        let (counter, waker) = counting();
        doorbell.register(&waker);
        drop(waker);
        assert_eq!(std::sync::Arc::strong_count(&counter), 2);
        doorbell.clear();
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

    /// no lost wake-ups between a sender and the loop going idle.
    #[test]
    fn q_2_a_send_is_seen_by_the_recheck_or_wakes_the_loop() {
        loom::model(|| {
            let doorbell = Doorbell::new();
            let (sender, mut receiver) = queue::<u32>(&doorbell);
            let woken = Arc::new(Woken(LoomBool::new(false)));
            let waker = Waker::from(woken.clone());
            let producer = thread::spawn(move || sender.send(7).unwrap());
            let seen = receiver.try_recv().or_else(|| {
                doorbell.register(&waker);
                receiver.try_recv()
            });
            producer.join().unwrap();
            if seen.is_none() {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "the item was queued, but the loop neither saw it nor was woken"
                );
                assert_eq!(receiver.try_recv(), Some(7));
            }
        });
    }
}
