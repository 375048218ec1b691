//! A forwarder that holds envelopes and relays them in a chosen order — the
//! tool for making messages arrive out of order, duplicated, on purpose.

use std::collections::BTreeMap;

use super::{MailboxSender, MessageEnvelope, PortHandle, Undeliverable};
use crate::sequencing::SeqInfo;
use crate::sync::Mutex;

/// What the forwarder does with the envelopes it collects.
#[derive(Clone, Debug)]
enum Plan {
    /// Relay sequenced message `seq` at position `positions[seq - 1]`.
    BySeq(Vec<usize>),
    /// Collect `expected` envelopes, then relay `relay[i]`-th collected one
    /// at step `i` (indices may repeat: duplicates; may skip: losses).
    ByArrival { expected: usize, relay: Vec<usize> },
}

/// Holds envelopes and relays them to `destination` by a plan. Envelopes
/// beyond the plan (and, for `by_seq`, unsequenced ones) pass straight through.
///
/// ```
/// # use lockstep::{Proc, mailbox::ReorderingSender};
/// let destination = Proc::local();
/// // The first message sent arrives third, the second first, the third second.
/// let forwarder = ReorderingSender::by_seq(destination, vec![2, 0, 1]);
/// ```
pub struct ReorderingSender<S: MailboxSender> {
    destination: S,
    plan: Plan,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    by_position: BTreeMap<usize, MessageEnvelope>,
    arrived: Vec<MessageEnvelope>,
    released: bool,
}

impl<S: MailboxSender> ReorderingSender<S> {
    /// Relay the message with seq `s` as the `relay_positions[s - 1]`-th, once
    /// all `relay_positions.len()` sequenced messages have arrived.
    pub fn by_seq(destination: S, relay_positions: Vec<usize>) -> Self {
        let mut sorted = relay_positions.clone();
        sorted.sort_unstable();
        assert!(
            sorted.iter().copied().eq(0..relay_positions.len()),
            "relay positions must be a permutation of 0..n"
        );
        Self {
            destination,
            plan: Plan::BySeq(relay_positions),
            held: Mutex::default(),
        }
    }

    /// Collect `expected` envelopes in arrival order, then relay them as
    /// `relay` lists (indices into the arrivals; repeats duplicate, omissions drop).
    pub fn by_arrival(destination: S, expected: usize, relay: Vec<usize>) -> Self {
        assert!(
            relay.iter().all(|index| *index < expected),
            "relay indices must be below `expected`"
        );
        Self {
            destination,
            plan: Plan::ByArrival { expected, relay },
            held: Mutex::default(),
        }
    }
}

impl<S: MailboxSender> MailboxSender for ReorderingSender<S> {
    fn forwards_for(&self, proc_id: &crate::id::ProcId) {
        self.destination.forwards_for(proc_id);
    }

    fn post(
        &self,
        envelope: MessageEnvelope,
        return_handle: &PortHandle<Undeliverable<MessageEnvelope>>,
    ) {
        let ready: Vec<MessageEnvelope> = {
            let mut held = self.held.lock();
            if held.released {
                drop(held);
                self.destination.post(envelope, return_handle);
                return;
            }
            match &self.plan {
                Plan::BySeq(positions) => match envelope.headers().seq_info() {
                    SeqInfo::Session { seq, .. }
                        if (seq as usize) <= positions.len() && seq > 0 =>
                    {
                        held.by_position
                            .insert(positions[seq as usize - 1], envelope);
                        if held.by_position.len() < positions.len() {
                            return;
                        }
                        held.released = true;
                        std::mem::take(&mut held.by_position)
                            .into_values()
                            .collect()
                    }
                    _ => vec![envelope],
                },
                Plan::ByArrival { expected, relay } => {
                    held.arrived.push(envelope);
                    if held.arrived.len() < *expected {
                        return;
                    }
                    held.released = true;
                    let arrived = std::mem::take(&mut held.arrived);
                    relay.iter().map(|index| arrived[*index].clone()).collect()
                }
            }
        };
        for envelope in ready {
            self.destination.post(envelope, return_handle);
        }
    }
}
