//! What it takes to send: a sender identity, its sequencer and a proc to route through.
//!
//! Every send goes through a [`SendContext`] — an actor's `Instance` or
//! `Context`, or a client instance from `Proc::instance` — which supplies the
//! [`Outbox`]. Holding one is the capability to send.

use crate::id::{ActorId, PortId};
use crate::mailbox::MessageEnvelope;
use crate::proc::Proc;
use crate::sequencing::{DomainKey, ReceivingDomain, SeqInfo, Sequencer};

/// The sending side of an instance: who it is, how it numbers messages, and
/// which proc routes what it sends by reference.
pub struct Outbox {
    actor_id: ActorId,
    sequencer: Sequencer<ReceivingDomain>,
    proc: Proc,
}

impl Outbox {
    pub(crate) fn new(actor_id: ActorId, session_id: u64, proc: Proc) -> Self {
        Self {
            actor_id,
            sequencer: Sequencer::new(session_id),
            proc,
        }
    }

    /// The sending actor.
    pub fn actor_id(&self) -> &ActorId {
        &self.actor_id
    }

    /// The sender's sequencer (one session per instance).
    pub fn sequencer(&self) -> &Sequencer<ReceivingDomain> {
        &self.sequencer
    }

    /// The proc that routes this sender's envelopes.
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stamp the next seq for the receiving domain `dest` belongs to (SEQ-0),
    /// found without building the domain unless it is new.
    pub(crate) fn next_seq(&self, dest: &PortId) -> SeqInfo {
        let key: &dyn DomainKey = dest;
        self.sequencer.next_by(key, || ReceivingDomain::of(dest))
    }

    /// Route `envelope` through the sender's proc.
    pub fn post(&self, envelope: MessageEnvelope) {
        self.proc.post(envelope);
    }
}

/// Anything that can send: it supplies an [`Outbox`].
pub trait SendContext {
    /// The sender's outbox.
    fn outbox(&self) -> &Outbox;
}
