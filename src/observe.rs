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
//! - `seq_skipped`: `dest` (port), `session`, `seq` — the slot of a sequenced
//!   message refused on its way (CH-13) was filled, so its successors go on
//! - `status`: `actor`, `status` (its name), `terminal`
//! - `supervision_event`: `actor`, `to` (parent id, or `coordinator`), `failed`,
//!   `root_cause` (the leaf a propagated failure started at; else `actor`)

use crate::actor::ActorStatus;
use crate::id::{ActorId, PortId};
use crate::mailbox::{MessageEnvelope, UndeliverableReason};
use crate::rt::trace::{TraceValue, record};
use crate::sequencing::SeqInfo;
use crate::supervision::ActorSupervisionEvent;

/// `(session, seq)` as traced: `(0, 0)` for `Direct`.
fn session_and_seq(seq_info: SeqInfo) -> (TraceValue<'static>, TraceValue<'static>) {
    match seq_info {
        SeqInfo::Direct => (0u64.into(), 0u64.into()),
        SeqInfo::Session { session_id, seq } => (session_id.into(), seq.into()),
    }
}

pub(crate) fn spawned(actor: &ActorId, parent: Option<&ActorId>, client: bool) {
    record("actor_spawn", || {
        [
            ("actor", actor.into()),
            ("parent", parent.map_or(TraceValue::Static(""), Into::into)),
            ("client", client.into()),
        ]
    });
}

pub(crate) fn sent(sender: &ActorId, dest: &PortId, seq_info: SeqInfo, type_name: &'static str) {
    record("send", || {
        let (session, seq) = session_and_seq(seq_info);
        [
            ("sender", sender.into()),
            ("dest", dest.into()),
            ("session", session),
            ("seq", seq),
            ("type", TraceValue::Static(type_name)),
        ]
    });
}

pub(crate) fn handled(
    actor: &ActorId,
    sender: &ActorId,
    seq_info: SeqInfo,
    type_name: &'static str,
) {
    record("handled", || {
        let (session, seq) = session_and_seq(seq_info);
        [
            ("actor", actor.into()),
            ("sender", sender.into()),
            ("session", session),
            ("seq", seq),
            ("type", TraceValue::Static(type_name)),
        ]
    });
}

pub(crate) fn undeliverable(envelope: &MessageEnvelope, reason: &UndeliverableReason) {
    refused(
        envelope.sender(),
        envelope.dest(),
        envelope.headers().seq_info(),
        reason,
    );
}

pub(crate) fn refused(
    sender: &ActorId,
    dest: &PortId,
    seq_info: SeqInfo,
    reason: &UndeliverableReason,
) {
    record("undeliverable", || {
        let (session, seq) = session_and_seq(seq_info);
        [
            ("sender", sender.into()),
            ("dest", dest.into()),
            ("session", session),
            ("seq", seq),
            ("reason", reason.to_string().into()),
        ]
    });
}

pub(crate) fn arrived(actor: &ActorId, seq_info: SeqInfo) {
    record("arrived", || {
        let (session, seq) = session_and_seq(seq_info);
        [("actor", actor.into()), ("session", session), ("seq", seq)]
    });
}

pub(crate) fn skipped(dest: &PortId, seq_info: SeqInfo) {
    record("seq_skipped", || {
        let (session, seq) = session_and_seq(seq_info);
        [("dest", dest.into()), ("session", session), ("seq", seq)]
    });
}

pub(crate) fn duplicate_dropped(session_id: u64, seq: u64) {
    record("duplicate_dropped", || {
        [("session", session_id.into()), ("seq", seq.into())]
    });
}

pub(crate) fn status(actor: &ActorId, status: &ActorStatus) {
    record("status", || {
        [
            ("actor", actor.into()),
            ("status", TraceValue::Static(status.name())),
            ("terminal", status.is_terminal().into()),
        ]
    });
}

pub(crate) fn supervision_event(event: &ActorSupervisionEvent, parent: Option<&ActorId>) {
    record("supervision_event", || {
        [
            ("actor", (&event.actor_id).into()),
            (
                "to",
                parent.map_or(TraceValue::Static("coordinator"), Into::into),
            ),
            ("failed", event.is_failure().into()),
            ("root_cause", (&event.root_cause().actor_id).into()),
        ]
    });
}
