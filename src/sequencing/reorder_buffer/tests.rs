//! Unit tests for the reorder buffer, one or more per invariant, named for it.
//! Items are `(session_id, seq)` pairs so every release can be checked against
//! what it claims to be.

use super::*;

type Item = (u64, u64);

fn buffer(ring_messages_max: usize, buffered_messages_max: usize) -> ReorderBuffer<Item> {
    ReorderBuffer::new(ReorderLimits {
        ring_messages_max,
        buffered_messages_max,
    })
}

/// Pushes `(session, seq)` with itself as the item; returns outcome and releases.
fn push(buffer: &mut ReorderBuffer<Item>, session: u64, seq: u64) -> (PushOutcome, Vec<Item>) {
    let mut released = Vec::new();
    let outcome = buffer
        .push(session, seq, (session, seq), &mut released)
        .expect("push accepted");
    (outcome, released)
}

fn seqs(released: &[Item]) -> Vec<u64> {
    released.iter().map(|&(_, seq)| seq).collect()
}

fn session(buffer: &ReorderBuffer<Item>, session_id: u64) -> &SessionBuffer<Item> {
    &buffer.sessions[&session_id]
}

/// Goal: SEQ-1. Method: push seq 0; the item comes back, nothing is created.
#[test]
fn seq_1_seq_zero_is_rejected_and_handed_back() {
    let mut buffer = buffer(4, 10);
    let mut released = Vec::new();
    let error = buffer.push(3, 0, (3, 0), &mut released).unwrap_err();
    assert!(matches!(
        error,
        ReorderError::InvalidSeqZero { session_id: 3, .. }
    ));
    assert_eq!(error.to_string(), "session 3: seq 0 is invalid (SEQ-1)");
    assert_eq!(error.into_item(), (3, 0));
    assert!(released.is_empty());
    assert!(
        buffer.snapshot().is_empty(),
        "a rejected push creates no session"
    );
}

/// Goal: SEQ-2 in the simplest case. Method: push 1..=5 in order; each push
/// releases exactly itself.
#[test]
fn seq_2_in_order_arrival_releases_each_immediately() {
    let mut buffer = buffer(4, 10);
    for seq in 1..=5 {
        assert_eq!(
            push(&mut buffer, 1, seq),
            (PushOutcome::Released { count: 1 }, vec![(1, seq)])
        );
    }
    assert!(!buffer.has_buffered());
}

/// Goal: the in-order fast path is O(1) and allocation-free. Method: after
/// many in-order pushes the ring and spill have never allocated.
#[test]
fn seq_2_in_order_fast_path_never_touches_ring_or_spill() {
    let mut buffer = buffer(64, 100);
    let mut released = Vec::with_capacity(1_000);
    for seq in 1..=1_000 {
        buffer.push(1, seq, (1, seq), &mut released).unwrap();
    }
    assert_eq!(released.len(), 1_000);
    let state = session(&buffer, 1);
    assert_eq!(state.ring.capacity(), 0, "ring never allocated");
    assert!(state.spill.is_empty());
}

/// Goal: SEQ-2 under reordering. Method: push a fixed scrambled order; the
/// releases concatenate to 1..=8 and each push releases exactly the run it completes.
#[test]
fn seq_2_release_order_survives_reordering() {
    let mut buffer = buffer(4, 10);
    let mut all = Vec::new();
    let expected_counts = [
        (3, PushOutcome::Buffered),
        (2, PushOutcome::Buffered),
        (1, PushOutcome::Released { count: 3 }),
        (6, PushOutcome::Buffered),
        (5, PushOutcome::Buffered),
        (8, PushOutcome::Buffered),
        (4, PushOutcome::Released { count: 3 }),
        (7, PushOutcome::Released { count: 2 }),
    ];
    for (seq, expected) in expected_counts {
        let (outcome, released) = push(&mut buffer, 1, seq);
        assert_eq!(outcome, expected, "push of seq {seq}");
        all.extend(released);
    }
    assert_eq!(seqs(&all), (1..=8).collect::<Vec<_>>());
    assert!(!buffer.has_buffered());
}

/// Goal: SEQ-2 across the ring/spill boundary, with gaps wider than the ring
/// window. Method: ring of 4; buffer seqs spread over 2..=20 (most spill),
/// then fill the gaps one by one, watching items migrate spill -> ring and
/// release in order.
#[test]
fn seq_2_ring_spill_ring_migration_across_gaps_wider_than_the_window() {
    let mut buffer = buffer(4, 100);
    for seq in [20, 3, 9, 10, 4, 15, 11, 2] {
        assert_eq!(push(&mut buffer, 1, seq).0, PushOutcome::Buffered);
    }
    // Window covers 1..=4: 2, 3, 4 in the ring; the rest spilled.
    let state = session(&buffer, 1);
    assert_eq!(state.ring.iter().flatten().count(), 3);
    assert_eq!(
        state.spill.keys().copied().collect::<Vec<_>>(),
        [9, 10, 11, 15, 20]
    );

    // Seq 1 releases 1..=4; the window moves to 5..=8, still short of 9.
    let (outcome, released) = push(&mut buffer, 1, 1);
    assert_eq!(
        (outcome, seqs(&released)),
        (PushOutcome::Released { count: 4 }, vec![1, 2, 3, 4])
    );
    assert_eq!(session(&buffer, 1).ring.len(), 0);
    assert_eq!(session(&buffer, 1).spill.len(), 5);

    // Seqs 5..=7 arrive in order; after 6 the window (7..=10) reaches 9 and 10.
    for seq in 5..=6 {
        assert_eq!(seqs(&push(&mut buffer, 1, seq).1), [seq]);
    }
    let state = session(&buffer, 1);
    assert_eq!(
        state.ring.iter().flatten().count(),
        2,
        "9 and 10 migrated into the ring"
    );
    assert_eq!(
        state.spill.keys().copied().collect::<Vec<_>>(),
        [11, 15, 20]
    );

    // Seq 8 is still missing; 7 releases only itself, pulling 11 into the ring.
    assert_eq!(seqs(&push(&mut buffer, 1, 7).1), [7]);
    assert_eq!(
        session(&buffer, 1)
            .spill
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [15, 20]
    );

    // Seq 8 releases 8..=11 (ring) and stops at the gap at 12.
    let (outcome, released) = push(&mut buffer, 1, 8);
    assert_eq!(
        (outcome, seqs(&released)),
        (PushOutcome::Released { count: 4 }, vec![8, 9, 10, 11])
    );

    // Fill 12..=19 out of order; everything drains through ring and spill.
    let mut rest = Vec::new();
    for seq in [19, 13, 17, 14, 16, 18, 12] {
        rest.extend(push(&mut buffer, 1, seq).1);
    }
    assert_eq!(seqs(&rest), (12..=20).collect::<Vec<_>>());
    assert!(!buffer.has_buffered());
    let state = session(&buffer, 1);
    assert!(state.ring.is_empty() && state.spill.is_empty());
}

/// Goal: SEQ-2 with the ring disabled (`ring_messages_max: 0`). Method:
/// everything spills; releases still come out in order.
#[test]
fn seq_2_zero_width_ring_releases_from_spill() {
    let mut buffer = buffer(0, 10);
    for seq in [3, 5, 2] {
        assert_eq!(push(&mut buffer, 1, seq).0, PushOutcome::Buffered);
    }
    assert_eq!(session(&buffer, 1).spill.len(), 3);
    assert_eq!(seqs(&push(&mut buffer, 1, 1).1), [1, 2, 3]);
    assert_eq!(seqs(&push(&mut buffer, 1, 4).1), [4, 5]);
    assert!(!buffer.has_buffered());
}

/// Goal: SEQ-3 for already-released seqs. Method: release 1..=3, then replay
/// 2 and 1; both are dropped and counted, and nothing changes.
#[test]
fn seq_3_replay_of_released_seq_is_dropped_and_counted() {
    let mut buffer = buffer(4, 10);
    for seq in 1..=3 {
        push(&mut buffer, 1, seq);
    }
    for seq in [2, 1, 3] {
        assert_eq!(
            push(&mut buffer, 1, seq),
            (PushOutcome::DuplicateDropped, vec![])
        );
    }
    let ordering = buffer.session_ordering(1).unwrap();
    assert_eq!(ordering.duplicates_dropped, 3);
    assert_eq!(ordering.released_total, 3);
    assert_eq!(ordering.next_expected_seq, 4);
}

/// Goal: SEQ-3 for already-buffered seqs, in the ring and in the spill.
/// Method: buffer 3 (ring) and 10 (spill) twice each with distinguishable
/// items; the first copy is kept and released, the second dropped.
#[test]
fn seq_3_duplicate_of_buffered_seq_keeps_the_first_copy() {
    let mut buffer: ReorderBuffer<&str> = ReorderBuffer::new(ReorderLimits {
        ring_messages_max: 4,
        buffered_messages_max: 10,
    });
    let mut released = Vec::new();
    for (seq, item, expected) in [
        (3, "first 3", PushOutcome::Buffered),
        (3, "second 3", PushOutcome::DuplicateDropped),
        (10, "first 10", PushOutcome::Buffered),
        (10, "second 10", PushOutcome::DuplicateDropped),
    ] {
        assert_eq!(buffer.push(1, seq, item, &mut released).unwrap(), expected);
    }
    assert_eq!(buffer.buffered_total(), 2);
    for seq in [1, 2, 4, 5, 6, 7, 8, 9] {
        buffer.push(1, seq, "filler", &mut released).unwrap();
    }
    assert_eq!(released[2], "first 3");
    assert_eq!(released[9], "first 10");
    assert_eq!(buffer.session_ordering(1).unwrap().duplicates_dropped, 2);
}

/// Goal: SEQ-4. Method: session 1 has a gap at 1; session 2 sends 1..=3.
/// Session 2 releases everything while session 1 holds its items.
#[test]
fn seq_4_gap_in_one_session_does_not_block_another() {
    let mut buffer = buffer(4, 10);
    assert_eq!(push(&mut buffer, 1, 2).0, PushOutcome::Buffered);
    assert_eq!(push(&mut buffer, 1, 3).0, PushOutcome::Buffered);
    for seq in 1..=3 {
        assert_eq!(push(&mut buffer, 2, seq).1, [(2, seq)]);
    }
    assert_eq!(buffer.buffered_total(), 2);
    let released = push(&mut buffer, 1, 1).1;
    assert_eq!(released, [(1, 1), (1, 2), (1, 3)], "only session 1's items");
}

/// Goal: SEQ-5. Method: limit 3; the 4th out-of-order item is refused and
/// handed back, the buffer is unchanged, duplicates are still dropped (not
/// refused), and the in-order seq is still accepted and drains the buffer.
#[test]
fn seq_5_buffer_full_hands_the_item_back_and_in_order_still_drains() {
    let mut buffer = buffer(2, 3);
    for seq in [2, 3, 9] {
        assert_eq!(push(&mut buffer, 1, seq).0, PushOutcome::Buffered);
    }
    let mut released = Vec::new();
    let error = buffer.push(1, 4, (1, 4), &mut released).unwrap_err();
    assert!(matches!(
        error,
        ReorderError::BufferFull {
            session_id: 1,
            seq: 4,
            buffered: 3,
            ..
        }
    ));
    assert_eq!(error.session_id(), 1);
    assert_eq!(
        format!("{error:?}"),
        "BufferFull { session_id: 1, seq: 4, buffered: 3, .. }"
    );
    assert_eq!(error.into_item(), (1, 4));
    assert_eq!(
        buffer.buffered_total(),
        3,
        "a refused push leaves the buffer unchanged"
    );
    assert_eq!(push(&mut buffer, 1, 9).0, PushOutcome::DuplicateDropped);

    assert_eq!(seqs(&push(&mut buffer, 1, 1).1), [1, 2, 3]);
    assert_eq!(buffer.buffered_total(), 1, "only 9 is still held back");
}

/// Goal: SEQ-5 with a zero limit: nothing can be buffered, in-order still flows.
#[test]
fn seq_5_zero_limit_refuses_every_out_of_order_item() {
    let mut buffer = buffer(4, 0);
    let mut released = Vec::new();
    assert!(matches!(
        buffer.push(1, 2, (1, 2), &mut released),
        Err(ReorderError::BufferFull { buffered: 0, .. })
    ));
    assert_eq!(push(&mut buffer, 1, 1).1, [(1, 1)]);
    assert_eq!(push(&mut buffer, 1, 2).1, [(1, 2)]);
}

/// Goal: SEQ-5 counts seqs to pass over (CH-13) like buffered items, so a
/// peer whose envelopes cannot be decoded cannot grow a session without
/// bound. Method: limit 3; one buffered item and two skips ahead fill the
/// window; a third skip and a buffered push are refused; a skip farther
/// ahead than the limit is refused even with room (it would hold its place
/// for good); the seq due is still skipped, and closing the gap frees the
/// window again.
#[test]
fn seq_5_skips_ahead_count_against_the_window() {
    let mut buffer = buffer(4, 3);
    let mut released = Vec::new();
    assert_eq!(
        buffer.skip(1, 5, &mut released),
        SkipOutcome::WindowFull,
        "4 seqs ahead of seq 1 is beyond a window of 3"
    );
    assert!(
        buffer.sessions.is_empty(),
        "a refused skip creates no session"
    );
    assert_eq!(push(&mut buffer, 1, 4).0, PushOutcome::Buffered);
    assert_eq!(buffer.skip(1, 3, &mut released), SkipOutcome::Skipped);
    assert_eq!(
        buffer.skip(1, u64::MAX, &mut released),
        SkipOutcome::WindowFull,
        "far beyond the window"
    );
    assert_eq!(buffer.skip(1, 2, &mut released), SkipOutcome::Skipped);
    assert_eq!(
        buffer.skip(1, 3, &mut released),
        SkipOutcome::NotPending,
        "a repeat fills nothing"
    );
    let full = format!("{:?}", session(&buffer, 1));
    assert_eq!(
        buffer.skip(1, 4, &mut released),
        SkipOutcome::NotPending,
        "seq 4 is buffered, not to come"
    );
    assert!(matches!(
        buffer.push(1, 5, (1, 5), &mut released),
        Err(ReorderError::BufferFull { buffered: 3, .. })
    ));
    // Introspection shows what the refusal counted: one item, two marks.
    let ordering = buffer.session_ordering(1).unwrap();
    assert_eq!((ordering.buffered_count, ordering.pending_skips), (1, 2));
    assert_eq!(
        format!("{:?}", session(&buffer, 1)),
        full,
        "refusals change nothing"
    );
    assert!(released.is_empty());

    // The seq due is never refused: skipping it moves the window past 2
    // and 3, releasing 4.
    assert_eq!(buffer.skip(1, 1, &mut released), SkipOutcome::Skipped);
    assert_eq!(seqs(&released), [4]);
    assert_eq!(
        buffer.skip(1, 7, &mut released),
        SkipOutcome::Skipped,
        "room again"
    );
    let ordering = buffer.session_ordering(1).unwrap();
    assert_eq!((ordering.released_total, ordering.skipped_total), (1, 3));
    assert_eq!(ordering.pending_skips, 1, "seq 7 is still ahead");
}

/// Goal: a message whose seq was marked to pass over that arrives after all
/// (a copy of a refused one) takes its mark's place: it is buffered even
/// with the window full, and released in order.
#[test]
fn seq_5_a_skipped_seq_that_arrives_takes_its_marks_place() {
    let mut buffer = buffer(4, 2);
    let mut released = Vec::new();
    assert_eq!(buffer.skip(1, 2, &mut released), SkipOutcome::Skipped);
    assert_eq!(push(&mut buffer, 1, 3).0, PushOutcome::Buffered);
    assert_eq!(push(&mut buffer, 1, 2).0, PushOutcome::Buffered);
    assert_eq!(seqs(&push(&mut buffer, 1, 1).1), [1, 2, 3]);
    let ordering = buffer.session_ordering(1).unwrap();
    assert_eq!((ordering.released_total, ordering.skipped_total), (3, 0));
}

/// Goal: a stall is visible in introspection (DESIGN.md §3). Method: open a
/// gap at 3 with items on both sides of the ring window, then check the
/// snapshot; fill the gap and check again.
#[test]
fn snapshot_shows_an_open_gap_and_its_resolution() {
    let mut buffer = buffer(4, 100);
    for seq in [1, 2, 5, 4, 40] {
        push(&mut buffer, 7, seq);
    }
    push(&mut buffer, 9, 1);
    assert_eq!(push(&mut buffer, 7, 2).0, PushOutcome::DuplicateDropped);
    assert_eq!(
        buffer.snapshot(),
        [
            SessionOrdering {
                session_id: 7,
                next_expected_seq: 3,
                last_released_seq: 2,
                buffered_count: 3,
                pending_skips: 0,
                oldest_buffered_seq: Some(4),
                newest_buffered_seq: Some(40),
                duplicates_dropped: 1,
                released_total: 2,
                skipped_total: 0,
            },
            SessionOrdering {
                session_id: 9,
                next_expected_seq: 2,
                last_released_seq: 1,
                buffered_count: 0,
                pending_skips: 0,
                oldest_buffered_seq: None,
                newest_buffered_seq: None,
                duplicates_dropped: 0,
                released_total: 1,
                skipped_total: 0,
            },
        ]
    );
    assert!(buffer.has_buffered());

    assert_eq!(seqs(&push(&mut buffer, 7, 3).1), [3, 4, 5]);
    let ordering = buffer.session_ordering(7).unwrap();
    assert_eq!(
        (ordering.next_expected_seq, ordering.buffered_count),
        (6, 1)
    );
    assert_eq!(
        (ordering.oldest_buffered_seq, ordering.newest_buffered_seq),
        (Some(40), Some(40))
    );
    assert_eq!(buffer.session_ordering(8), None);
}

/// Goal: the limits' defaults are the documented ones.
#[test]
fn limits_default_as_documented() {
    let limits = ReorderLimits::default();
    assert_eq!(limits.ring_messages_max, 64);
    assert_eq!(limits.buffered_messages_max, 100_000);
    assert_eq!(buffer(1, 1).limits().buffered_messages_max, 1);
}

/// Goal: the ordering snapshot survives serde (introspection ships it as JSON).
/// Method: JSON round trip of a snapshot taken with a gap open.
#[test]
fn snapshot_round_trips_through_json() {
    let mut buffer = buffer(4, 10);
    push(&mut buffer, 1, 3);
    let snapshot = buffer.snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    assert!(json.contains("\"next_expected_seq\":1"), "{json}");
    let back: Vec<SessionOrdering> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
}

/// Goal: SEQ-2 at scale (a plain test with a fixed-seed shuffle). Method:
/// push 10,000 seqs in a deterministic pseudo-random order with the default
/// limits; the concatenated releases are 1..=10,000 and nothing is left.
#[test]
fn seq_2_ten_thousand_shuffled_messages_release_in_order() {
    const MESSAGES: u64 = 10_000;
    let mut order: Vec<u64> = (1..=MESSAGES).collect();
    shuffle(&mut order, 0x5eed_1234_abcd_0042);
    let mut buffer = ReorderBuffer::new(ReorderLimits::default());
    let mut released = Vec::new();
    for seq in order {
        buffer.push(1, seq, seq, &mut released).unwrap();
    }
    assert_eq!(released, (1..=MESSAGES).collect::<Vec<_>>());
    assert!(!buffer.has_buffered());
}

/// The invariant check names the code it guards.
#[test]
#[should_panic(expected = "SEQ-2 violated")]
fn check_panics_naming_the_invariant() {
    check(SequencingInvariant::Seq2, false, format_args!("deliberate"));
}

/// Fisher-Yates with splitmix64: deterministic, no dependency.
fn shuffle<V>(values: &mut [V], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    };
    for index in (1..values.len()).rev() {
        let other = (next() % (index as u64 + 1)) as usize;
        values.swap(index, other);
    }
}
