//! Per-sender sequencer: stamps `SeqInfo::Session { session_id, seq }` on sends.
//!
//! Owns: one counter per receiving domain for one sending instance, and the
//! [`BindGate`] that decides whether a send is sequenced at all.
//! Does not own: drawing the session id (the caller draws it from the runtime's
//! seeded randomness, DESIGN.md §2.2), deciding what a domain is (all handler
//! ports of one actor share one; each ephemeral port is its own), or releasing
//! in order at the destination (see [`super::reorder_buffer`]).
//!
//! # Invariants (codes shared with the reorder buffer)
//! - **SEQ-1** (stamping side): the first seq for a domain is 1; 0 is never stamped.
//! - **SEQ-2** (stamping side): per domain, seqs are stamped 1, 2, 3, ... with each
//!   value handed out exactly once, whatever the number of threads calling
//!   [`Sequencer::next`] through `&self`. Counters of different domains are
//!   independent, so a slow domain never creates a gap in another.
//!
//! Both sides of the boundary assert: here when a seq is stamped, in the reorder
//! buffer when it is released. Concurrency is modelled with loom
//! (`RUSTFLAGS="--cfg lockstep_loom" cargo test --release --lib sequencing::sequencer`).

use std::collections::BTreeMap;
use std::fmt;

use super::SeqInfo;
use super::reorder_buffer::{SequencingInvariant, check};
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicBool, Ordering};

/// Stamps sequence numbers for one sending instance, one counter per
/// receiving domain `D`. Shared by reference across the instance's threads.
pub struct Sequencer<D: Ord + Clone> {
    session_id: u64,
    /// Last seq assigned per domain (absent means none yet).
    last_assigned: Mutex<BTreeMap<D, u64>>,
}

impl<D: Ord + Clone> Sequencer<D> {
    /// A sequencer for session `session_id`, with no seq assigned yet.
    ///
    /// The caller draws `session_id` from the runtime's seeded randomness, so
    /// a simulated run reproduces it.
    pub fn new(session_id: u64) -> Self {
        Self {
            session_id,
            last_assigned: Mutex::new(BTreeMap::new()),
        }
    }

    /// The session this sequencer stamps.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Stamps the next message to `domain`: seq 1 for the first, then 2, 3, ...
    ///
    /// Thread-safe: concurrent callers get distinct, gap-free seqs (SEQ-2).
    /// The caller must send the message it stamps; a stamped seq that is never
    /// sent is a gap the destination waits on.
    ///
    /// # Panics
    /// After `u64::MAX` messages to one domain.
    #[track_caller]
    pub fn next(&self, domain: &D) -> SeqInfo {
        self.next_by(domain, || domain.clone())
    }

    /// [`next`](Self::next) for the domain found by the borrowed `key`,
    /// which `domain` makes owned only the first time it is seen: a caller
    /// that would otherwise build a domain (cloning ids) per message builds
    /// none.
    ///
    /// `domain()` must borrow as `key` (a domain made from another key would
    /// start a second counter, SEQ-2); debug builds check it.
    #[track_caller]
    pub fn next_by<Q>(&self, key: &Q, domain: impl FnOnce() -> D) -> SeqInfo
    where
        D: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let mut last_assigned = self.last_assigned.lock();
        let seq = match last_assigned.get_mut(key) {
            Some(last) => {
                *last = last
                    .checked_add(1)
                    .expect("a session cannot send more than u64::MAX messages to one domain");
                *last
            }
            None => {
                // Made owned only the first time it is seen.
                let domain = domain();
                debug_assert!(
                    domain.borrow() == key,
                    "next_by: the domain made does not borrow as its key"
                );
                last_assigned.insert(domain, 1);
                1
            }
        };
        drop(last_assigned);
        check(
            SequencingInvariant::Seq1,
            seq != 0,
            format_args!("session {} stamped seq 0", self.session_id),
        );
        SeqInfo::Session {
            session_id: self.session_id,
            seq,
        }
    }

    /// The last seq stamped for `domain`, or 0 if none. For tests and introspection.
    pub fn peek(&self, domain: &D) -> u64 {
        self.last_assigned.lock().get(domain).copied().unwrap_or(0)
    }
}

impl<D: Ord + Clone> fmt::Debug for Sequencer<D> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Don't lock in Debug (a caller holding the lock would deadlock).
        formatter
            .debug_struct("Sequencer")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// Whether sends from a handle are sequenced: unbound handles send
/// [`SeqInfo::Direct`]; once bound, every send is stamped by the sequencer.
///
/// Binding is one-way. A thread that has observed the bind (through
/// [`BindGate::is_bound`], or anything that happens after [`BindGate::bind`])
/// only ever stamps from then on, and the seqs it draws stay gap-free because a
/// seq is drawn only for a send that goes out sequenced.
#[derive(Debug, Default)]
pub struct BindGate {
    bound: AtomicBool,
}

impl BindGate {
    /// An unbound gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the handle has been bound.
    pub fn is_bound(&self) -> bool {
        // Acquire pairs with `bind`'s release: whatever was set up before the
        // bind (e.g. the handle's address) is visible once the bind is seen.
        self.bound.load(Ordering::Acquire)
    }

    /// Binds the handle. Returns `true` if this call did it, `false` if it was
    /// already bound.
    pub fn bind(&self) -> bool {
        !self.bound.swap(true, Ordering::AcqRel)
    }

    /// The `SeqInfo` for one send to `domain`: [`SeqInfo::Direct`] while
    /// unbound, otherwise the sequencer's next seq for `domain`.
    pub fn stamp<D: Ord + Clone>(&self, sequencer: &Sequencer<D>, domain: &D) -> SeqInfo {
        if self.is_bound() {
            sequencer.next(domain)
        } else {
            SeqInfo::Direct
        }
    }
}

// Sequencers and gates are shared across an instance's threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sequencer<u64>>();
    assert_send_sync::<BindGate>();
};

#[cfg(all(test, not(lockstep_loom)))]
mod tests {
    //! Single-threaded behaviour of the sequencer and gate; concurrency is in
    //! the loom model below.

    use super::*;

    /// Goal: SEQ-1/SEQ-2 stamping side. Method: draw three seqs for one domain.
    #[test]
    fn seq_1_first_seq_is_one_and_counts_up_gap_free() {
        let sequencer = Sequencer::new(42);
        assert_eq!(sequencer.peek(&"a"), 0);
        for expected in 1..=3 {
            assert_eq!(
                sequencer.next(&"a"),
                SeqInfo::Session {
                    session_id: 42,
                    seq: expected
                }
            );
            assert_eq!(sequencer.peek(&"a"), expected);
        }
        assert_eq!(sequencer.session_id(), 42);
    }

    /// Goal: one counter per receiving domain. Method: interleave two domains
    /// and check each counts from 1 on its own.
    #[test]
    fn seq_2_counters_are_per_domain() {
        let sequencer = Sequencer::new(7);
        let mut stamped = Vec::new();
        for domain in [1_u32, 2, 1, 1, 2, 3] {
            let SeqInfo::Session { seq, .. } = sequencer.next(&domain) else {
                panic!("sequencer stamped Direct");
            };
            stamped.push((domain, seq));
        }
        assert_eq!(stamped, [(1, 1), (2, 1), (1, 2), (1, 3), (2, 2), (3, 1)]);
        assert_eq!(
            (sequencer.peek(&1), sequencer.peek(&2), sequencer.peek(&9)),
            (3, 2, 0)
        );
    }

    /// Goal: an unbound gate sends Direct and draws no seq (so binding later
    /// leaves no gap). Method: stamp before and after `bind`.
    #[test]
    fn bind_gate_draws_seqs_only_once_bound() {
        let sequencer = Sequencer::new(1);
        let gate = BindGate::new();
        assert_eq!(gate.stamp(&sequencer, &"port"), SeqInfo::Direct);
        assert_eq!(sequencer.peek(&"port"), 0);
        assert!(gate.bind());
        assert!(!gate.bind(), "binding twice reports it was already bound");
        assert_eq!(
            gate.stamp(&sequencer, &"port"),
            SeqInfo::Session {
                session_id: 1,
                seq: 1
            }
        );
    }
}

#[cfg(all(test, lockstep_loom))]
mod loom_model {
    //! Goal: SEQ-2 stamping side under every interleaving loom explores.
    //! Method: threads share one `Arc<Sequencer>` (and a `BindGate`); after all
    //! join, the main thread checks what each drew.

    use super::*;
    use crate::sync::Arc;
    use crate::sync::atomic::AtomicBool;
    use loom::thread;

    fn seq_of(info: SeqInfo) -> u64 {
        match info {
            SeqInfo::Session { seq, .. } => seq,
            SeqInfo::Direct => panic!("expected a sequenced send"),
        }
    }

    /// Two threads draw two seqs each for one domain: together they hold
    /// 1..=4 exactly once, and each thread's own draws increase.
    #[test]
    fn seq_2_same_domain_each_seq_assigned_once() {
        loom::model(|| {
            let sequencer = Arc::new(Sequencer::new(9));
            let other = {
                let sequencer = Arc::clone(&sequencer);
                thread::spawn(move || [seq_of(sequencer.next(&0_u8)), seq_of(sequencer.next(&0))])
            };
            let mine = [seq_of(sequencer.next(&0)), seq_of(sequencer.next(&0))];
            let theirs = other.join().unwrap();
            assert!(mine[0] < mine[1] && theirs[0] < theirs[1]);
            let mut all = [mine, theirs].concat();
            all.sort_unstable();
            assert_eq!(all, [1, 2, 3, 4]);
            assert_eq!(sequencer.peek(&0), 4);
        });
    }

    /// Two threads draw for their own domain and for a shared one: own
    /// domains count 1, 2 undisturbed; the shared domain hands out 1 and 2.
    #[test]
    fn seq_2_different_domains_are_independent() {
        loom::model(|| {
            let sequencer = Arc::new(Sequencer::new(9));
            let other = {
                let sequencer = Arc::clone(&sequencer);
                thread::spawn(move || {
                    let own = [seq_of(sequencer.next(&2_u8)), seq_of(sequencer.next(&2))];
                    (own, seq_of(sequencer.next(&0)))
                })
            };
            let own = [seq_of(sequencer.next(&1)), seq_of(sequencer.next(&1))];
            let shared = seq_of(sequencer.next(&0));
            let (their_own, their_shared) = other.join().unwrap();
            assert_eq!(own, [1, 2]);
            assert_eq!(their_own, [1, 2]);
            let mut shared = [shared, their_shared];
            shared.sort_unstable();
            assert_eq!(shared, [1, 2]);
        });
    }

    /// One thread binds the gate and then signals "bound"; the other sends
    /// twice, then waits to observe the signal, then sends once more.
    /// Checks: once a sender sees a sequenced send it never goes back to
    /// Direct; every send after the signal is observed is sequenced; and the
    /// seqs drawn across both threads are exactly 1..=n (no gap from the race).
    #[test]
    fn bind_gate_sends_after_observed_bind_are_sequenced_and_gap_free() {
        loom::model(|| {
            let sequencer = Arc::new(Sequencer::new(5));
            let gate = Arc::new(BindGate::new());
            let bound_signal = Arc::new(AtomicBool::new(false));
            let binder = {
                let (sequencer, gate, bound_signal) = (
                    Arc::clone(&sequencer),
                    Arc::clone(&gate),
                    Arc::clone(&bound_signal),
                );
                thread::spawn(move || {
                    assert!(gate.bind());
                    bound_signal.store(true, Ordering::Release);
                    gate.stamp(&sequencer, &0_u8)
                })
            };
            let mut sends = vec![gate.stamp(&sequencer, &0), gate.stamp(&sequencer, &0)];
            while !bound_signal.load(Ordering::Acquire) {
                thread::yield_now();
            }
            let after_observed = gate.stamp(&sequencer, &0);
            sends.push(after_observed);
            let binder_send = binder.join().unwrap();

            assert!(matches!(after_observed, SeqInfo::Session { .. }));
            assert!(matches!(binder_send, SeqInfo::Session { .. }));
            let first_sequenced = sends
                .iter()
                .position(|send| *send != SeqInfo::Direct)
                .expect("the send after the observed bind is sequenced");
            assert!(
                sends[first_sequenced..]
                    .iter()
                    .all(|send| *send != SeqInfo::Direct),
                "a sender went back to Direct after a sequenced send: {sends:?}"
            );
            let mut seqs: Vec<u64> = sends
                .iter()
                .chain([&binder_send])
                .filter(|send| **send != SeqInfo::Direct)
                .map(|send| seq_of(*send))
                .collect();
            seqs.sort_unstable();
            let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
            assert_eq!(seqs, expected, "seqs drawn across threads are gap-free");
            assert_eq!(sequencer.peek(&0), seqs.len() as u64);
        });
    }
}
