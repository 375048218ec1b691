//! The runtime's events, named once: what a simulated world records so its
//! oracles can check the contract (DESIGN §3) from the trace.
//!
//! Owns: the event kinds and their fields. Every function here costs one
//! thread-local read in production (nothing listens) — see `rt::trace`.
//!
//! Kinds and fields:
//! - `actor_spawn`: `actor`, `parent` (empty for roots), `client`
//! - `send`: `sender`, `dest` (port), `session`, `seq` (0 for `Direct`), `type`
//! - `handled`: `actor`, `sender`, `session`, `seq`, `type`
//! - `undeliverable`: `sender`, `dest`, `session`, `seq`, `reason` (returned,
//!   or refused synchronously by a local send)
//! - `arrived`: `actor`, `session`, `seq` — a sequenced message reached an
//!   actor whose reorder buffer is off (SEQ-6)
//! - `duplicate_dropped`: `session`, `seq`
//! - `status`: `actor`, `status` (its name), `terminal`
//! - `supervision_event`: `actor`, `to` (parent id, or `coordinator`), `failed`,
//!   `root_cause` (the leaf a propagated failure started at; else `actor`)

use crate::actor::ActorStatus;
use crate::id::{ActorId, PortId};
use crate::mailbox::{MessageEnvelope, UndeliverableReason};
use crate::rt::trace::{TraceEvent, TraceValue, record};
use crate::sequencing::SeqInfo;
use crate::supervision::ActorSupervisionEvent;

fn seq_fields(event: TraceEvent, seq_info: SeqInfo) -> TraceEvent {
    match seq_info {
        SeqInfo::Direct => event.with("session", 0u64).with("seq", 0u64),
        SeqInfo::Session { session_id, seq } => event.with("session", session_id).with("seq", seq),
    }
}

pub(crate) fn spawned(actor: &ActorId, parent: Option<&ActorId>, client: bool) {
    record(|| {
        TraceEvent::new("actor_spawn")
            .with("actor", actor)
            .with(
                "parent",
                parent.map(ToString::to_string).unwrap_or_default(),
            )
            .with("client", client)
    });
}

pub(crate) fn sent(sender: &ActorId, dest: &PortId, seq_info: SeqInfo, type_name: &'static str) {
    record(|| {
        let event = TraceEvent::new("send")
            .with("sender", sender)
            .with("dest", dest);
        seq_fields(event, seq_info).with("type", TraceValue::Static(type_name))
    });
}

pub(crate) fn handled(
    actor: &ActorId,
    sender: &ActorId,
    seq_info: SeqInfo,
    type_name: &'static str,
) {
    record(|| {
        let event = TraceEvent::new("handled")
            .with("actor", actor)
            .with("sender", sender);
        seq_fields(event, seq_info).with("type", TraceValue::Static(type_name))
    });
}

pub(crate) fn undeliverable(envelope: &MessageEnvelope, reason: &UndeliverableReason) {
    record(|| {
        let event = TraceEvent::new("undeliverable")
            .with("sender", envelope.sender().to_string())
            .with("dest", envelope.dest());
        seq_fields(event, envelope.headers().seq_info()).with("reason", reason.to_string())
    });
}

pub(crate) fn refused(
    sender: &ActorId,
    dest: &PortId,
    seq_info: SeqInfo,
    reason: &UndeliverableReason,
) {
    record(|| {
        let event = TraceEvent::new("undeliverable")
            .with("sender", sender)
            .with("dest", dest);
        seq_fields(event, seq_info).with("reason", reason.to_string())
    });
}

pub(crate) fn arrived(actor: &ActorId, seq_info: SeqInfo) {
    record(|| seq_fields(TraceEvent::new("arrived").with("actor", actor), seq_info));
}

pub(crate) fn duplicate_dropped(session_id: u64, seq: u64) {
    record(|| {
        TraceEvent::new("duplicate_dropped")
            .with("session", session_id)
            .with("seq", seq)
    });
}

pub(crate) fn status(actor: &ActorId, status: &ActorStatus) {
    record(|| {
        TraceEvent::new("status")
            .with("actor", actor)
            .with("status", TraceValue::Static(status.name()))
            .with("terminal", status.is_terminal())
    });
}

pub(crate) fn supervision_event(event: &ActorSupervisionEvent, parent: Option<&ActorId>) {
    record(|| {
        TraceEvent::new("supervision_event")
            .with("actor", event.actor_id.to_string())
            .with(
                "to",
                parent.map_or_else(|| "coordinator".to_owned(), ToString::to_string),
            )
            .with("failed", event.is_failure())
            .with("root_cause", event.root_cause().actor_id.to_string())
    });
}
