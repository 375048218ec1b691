//! Property tests for the reorder buffer. Each property's doc comment states it.
//! Items are `(session_id, seq)` so each release can be checked against its claim.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

type Item = (u64, u64);

/// Sessions with their message counts: 1..6 sessions of 1..=200 messages.
fn session_counts() -> impl Strategy<Value = BTreeMap<u64, u64>> {
    prop::collection::btree_map(any::<u64>(), 1..=200_u64, 1..6)
}

/// Every message of every session once, plus up to one extra copy per message
/// count of duplicates per session, all shuffled together (which interleaves
/// the sessions and permutes each one).
fn duplicated_arrivals(counts: BTreeMap<u64, u64>) -> impl Strategy<Value = Vec<Item>> {
    let duplicates: Vec<_> = counts
        .iter()
        .map(|(&session, &count)| {
            prop::collection::vec(1..=count, 0..=count as usize)
                .prop_map(move |seqs| seqs.into_iter().map(move |seq| (session, seq)).collect())
        })
        .collect();
    duplicates.prop_flat_map(move |duplicates: Vec<Vec<Item>>| {
        let mut arrivals = every_message(&counts);
        arrivals.extend(duplicates.into_iter().flatten());
        Just(arrivals).prop_shuffle()
    })
}

fn every_message(counts: &BTreeMap<u64, u64>) -> Vec<Item> {
    counts
        .iter()
        .flat_map(|(&session, &count)| (1..=count).map(move |seq| (session, seq)))
        .collect()
}

/// Releases grouped by session, in release order.
fn by_session(released: &[Item]) -> BTreeMap<u64, Vec<u64>> {
    let mut grouped: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &(session, seq) in released {
        grouped.entry(session).or_default().push(seq);
    }
    grouped
}

proptest! {
    /// SEQ-2, SEQ-3, SEQ-4: for any interleaving of 1..6 sessions, any
    /// permutation and any duplication of each session's messages (up to 200
    /// per session), and any ring width, every message is released exactly
    /// once, each session's releases are 1, 2, ..., n in that order, every
    /// extra copy is counted as a dropped duplicate, and nothing stays buffered.
    #[test]
    fn every_message_released_exactly_once_in_seq_order(
        (counts, arrivals) in session_counts()
            .prop_flat_map(|counts| (Just(counts.clone()), duplicated_arrivals(counts))),
        ring_messages_max in 0_usize..=70,
    ) {
        let mut buffer = ReorderBuffer::new(ReorderLimits {
            ring_messages_max,
            buffered_messages_max: ReorderLimits::BUFFERED_MESSAGES_MAX_DEFAULT,
        });
        let mut released = Vec::new();
        for &(session, seq) in &arrivals {
            let before = released.len();
            let outcome = buffer.push(session, seq, (session, seq), &mut released).unwrap();
            let newly = released.len() - before;
            match outcome {
                PushOutcome::Released { count } => prop_assert_eq!(count, newly),
                PushOutcome::Buffered | PushOutcome::DuplicateDropped => prop_assert_eq!(newly, 0),
            }
        }
        let grouped = by_session(&released);
        for (&session, &count) in &counts {
            prop_assert_eq!(&grouped[&session], &(1..=count).collect::<Vec<_>>());
        }
        prop_assert_eq!(grouped.len(), counts.len());
        prop_assert!(!buffer.has_buffered());
        for ordering in buffer.snapshot() {
            let arrived = arrivals.iter().filter(|(session, _)| *session == ordering.session_id).count();
            let count = counts[&ordering.session_id];
            prop_assert_eq!(ordering.duplicates_dropped, arrived as u64 - count);
            prop_assert_eq!(ordering.released_total, count);
            prop_assert_eq!(ordering.next_expected_seq, count + 1);
        }
    }

    /// SEQ-2, SEQ-4: when one session's seq `gap` is withheld, that session
    /// releases exactly its seqs below `gap` and holds every later one (the
    /// snapshot names the gap and the held range), while every other session
    /// releases everything; delivering `gap` then releases the rest in order.
    #[test]
    fn gap_holds_back_only_its_own_session(
        (counts, gap_session, gap, arrivals) in session_counts().prop_flat_map(|counts| {
            (Just(counts), any::<Index>(), any::<Index>())
        }).prop_flat_map(|(counts, session_index, seq_index)| {
            let (&gap_session, &count) = counts.iter().nth(session_index.index(counts.len())).unwrap();
            let gap = 1 + seq_index.index(count as usize) as u64;
            let arrivals: Vec<Item> = every_message(&counts)
                .into_iter()
                .filter(|&item| item != (gap_session, gap))
                .collect();
            (Just(counts), Just(gap_session), Just(gap), Just(arrivals).prop_shuffle())
        }),
        ring_messages_max in 0_usize..=70,
    ) {
        let mut buffer = ReorderBuffer::new(ReorderLimits {
            ring_messages_max,
            buffered_messages_max: ReorderLimits::BUFFERED_MESSAGES_MAX_DEFAULT,
        });
        let mut released = Vec::new();
        for &(session, seq) in &arrivals {
            buffer.push(session, seq, (session, seq), &mut released).unwrap();
        }
        let grouped = by_session(&released);
        for (&session, &count) in &counts {
            let expected: Vec<u64> = if session == gap_session {
                (1..gap).collect()
            } else {
                (1..=count).collect()
            };
            prop_assert_eq!(grouped.get(&session).cloned().unwrap_or_default(), expected);
        }
        let count = counts[&gap_session];
        prop_assert_eq!(buffer.buffered_total() as u64, count - gap);
        if let Some(ordering) = buffer.session_ordering(gap_session) {
            prop_assert_eq!(ordering.next_expected_seq, gap);
            prop_assert_eq!(ordering.buffered_count as u64, count - gap);
            let held = (gap < count).then_some((gap + 1, count));
            prop_assert_eq!(ordering.oldest_buffered_seq.zip(ordering.newest_buffered_seq), held);
        } else {
            // Only possible when the session's sole message was withheld.
            prop_assert_eq!((gap, count), (1, 1));
        }

        let mut rest = Vec::new();
        let outcome = buffer.push(gap_session, gap, (gap_session, gap), &mut rest).unwrap();
        prop_assert_eq!(outcome, PushOutcome::Released { count: (count - gap + 1) as usize });
        prop_assert_eq!(rest, (gap..=count).map(|seq| (gap_session, seq)).collect::<Vec<_>>());
        prop_assert!(!buffer.has_buffered());
    }

    /// SEQ-5: with any buffer limit, a session never holds more than the limit;
    /// a refused push hands back exactly the pushed item and changes nothing;
    /// and a sender that re-sends refused items still gets every message
    /// released exactly once, in order.
    #[test]
    fn buffered_count_never_exceeds_limit_and_refused_items_come_back(
        arrivals in (1..=100_u64).prop_flat_map(|count| {
            let counts = BTreeMap::from([(1_u64, count)]);
            duplicated_arrivals(counts)
        }),
        buffered_messages_max in 0_usize..=20,
        ring_messages_max in 0_usize..=8,
    ) {
        let mut buffer = ReorderBuffer::new(ReorderLimits { ring_messages_max, buffered_messages_max });
        let count = arrivals.iter().map(|&(_, seq)| seq).max().unwrap();
        let mut queue: VecDeque<Item> = arrivals.into();
        let mut released = Vec::new();
        let mut attempts = 0;
        while let Some(item) = queue.pop_front() {
            attempts += 1;
            prop_assert!(attempts < 100_000, "retries made no progress");
            let before = buffer.snapshot();
            match buffer.push(item.0, item.1, item, &mut released) {
                Ok(_) => {}
                Err(ReorderError::BufferFull { session_id, seq, buffered, item: refused }) => {
                    prop_assert_eq!((session_id, seq, refused), (item.0, item.1, item));
                    prop_assert_eq!(buffered, buffered_messages_max);
                    prop_assert_eq!(buffer.snapshot(), before);
                    queue.push_back(refused);
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
            prop_assert!(buffer.buffered_total() <= buffered_messages_max);
        }
        prop_assert_eq!(released, (1..=count).map(|seq| (1, seq)).collect::<Vec<_>>());
    }

    /// SEQ-2 and SEQ-5 with skips (CH-13): for one session whose messages
    /// arrive in any order, each either delivered or refused on its way
    /// (skipped), under any window limit and ring width, the session never
    /// holds more than the limit (buffered items plus seqs to pass over); a
    /// push or skip refused for a full window changes nothing at all and
    /// succeeds when retried later (a sender's timeout resends the push; the
    /// test retries the skip too, to reach the end); and in the end exactly
    /// the delivered messages are released, in seq order, with every refused
    /// seq counted as skipped.
    #[test]
    fn skips_and_pushes_release_the_delivered_in_order_within_the_limit(
        arrivals in (1..=60_u64).prop_flat_map(|count| {
            (prop::collection::vec(any::<bool>(), count as usize), Just((1..=count).collect::<Vec<u64>>()).prop_shuffle())
        }),
        buffered_messages_max in 0_usize..=12,
        ring_messages_max in 0_usize..=6,
    ) {
        let (refused, order) = arrivals;
        let count = order.len() as u64;
        let is_refused = |seq: u64| refused[(seq - 1) as usize];
        let mut buffer = ReorderBuffer::new(ReorderLimits { ring_messages_max, buffered_messages_max });
        let mut queue: VecDeque<u64> = order.into();
        let mut released = Vec::new();
        let mut attempts = 0;
        while let Some(seq) = queue.pop_front() {
            attempts += 1;
            prop_assert!(attempts < 100_000, "retries made no progress");
            let before = format!("{:?}", buffer.sessions.get(&1));
            let full = if is_refused(seq) {
                buffer.skip(1, seq, &mut released) == SkipOutcome::WindowFull
            } else {
                match buffer.push(1, seq, (1, seq), &mut released) {
                    Ok(_) => false,
                    Err(ReorderError::BufferFull { buffered, .. }) => {
                        prop_assert_eq!(buffered, buffered_messages_max);
                        true
                    }
                    Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
                }
            };
            if full {
                // The whole session, its marks and layout too, is untouched.
                prop_assert_eq!(format!("{:?}", buffer.sessions.get(&1)), before, "a refusal changes nothing");
                queue.push_back(seq);
            }
            let held = buffer.sessions.get(&1).map_or(0, SessionBuffer::held);
            prop_assert!(held <= buffered_messages_max, "SEQ-5");
        }
        let delivered: Vec<Item> = (1..=count).filter(|&seq| !is_refused(seq)).map(|seq| (1, seq)).collect();
        prop_assert_eq!(released, delivered);
        let ordering = buffer.session_ordering(1).unwrap();
        prop_assert_eq!(ordering.skipped_total, refused.iter().filter(|&&refused| refused).count() as u64);
        prop_assert_eq!(ordering.next_expected_seq, count + 1);
    }
}
