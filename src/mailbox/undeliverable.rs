//! Undeliverable messages and why.
//!
//! UD-1: nothing is dropped silently. A message that cannot be delivered goes
//! back to its sender as [`Undeliverable`] with a [`UndeliverableReason`];
//! a local send that fails returns a [`SendError`] handing the message back.
//! A message may end without reaching anyone only where that is the model,
//! and then it is logged: a returned undeliverable whose own sender is gone
//! (see `Proc::return_undeliverable`), what a crashed proc held (NET-4),
//! and the message an actor was handling when it was terminated by force.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{ActorId, PortId, ProcId};
use crate::sequencing::AdmissionError;

/// A message returned to its sender, with the reason it could not be delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undeliverable<M> {
    /// The message (usually a [`super::MessageEnvelope`]).
    pub message: M,
    /// Why it came back.
    pub reason: UndeliverableReason,
}

impl<M: fmt::Display> fmt::Display for Undeliverable<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undeliverable {}: {}", self.message, self.reason)
    }
}

/// Why a message could not be delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum UndeliverableReason {
    /// The destination proc has no actor with this id.
    #[error("no actor {actor_id} in its proc")]
    ActorNotFound {
        /// The destination actor.
        actor_id: ActorId,
    },
    /// The actor has terminated (or is stopping and no longer accepts work).
    #[error("actor {actor_id} has terminated")]
    ActorTerminated {
        /// The destination actor.
        actor_id: ActorId,
    },
    /// Work the actor had accepted but abandoned when told to `Stop`.
    #[error("actor {actor_id} stopped before handling it: {status}")]
    AbandonedOnStop {
        /// The actor.
        actor_id: ActorId,
        /// Its terminal status.
        status: String,
    },
    /// The destination port is not bound (never was, or was closed).
    #[error("port {port_id} is not bound")]
    PortUnbound {
        /// The port.
        port_id: PortId,
    },
    /// The port's receiver was dropped.
    #[error("port {port_id} is closed")]
    PortClosed {
        /// The port.
        port_id: PortId,
    },
    /// No route to the destination proc.
    #[error("no route to proc {proc_id}")]
    NoRoute {
        /// The unreachable proc.
        proc_id: ProcId,
    },
    /// The transport failed or closed.
    #[error("transport: {detail}")]
    Transport {
        /// What happened.
        detail: String,
    },
    /// Not acknowledged within the delivery timeout.
    #[error("not delivered within {timeout_ms} ms")]
    DeliveryTimeout {
        /// The timeout in force.
        timeout_ms: u64,
    },
    /// The encoded message exceeds the size limit.
    #[error("message of type {type_name} exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// The message type.
        type_name: String,
        /// The limit.
        limit_bytes: u64,
    },
    /// The payload could not be decoded as the port's message type.
    #[error("cannot decode payload: {detail}")]
    Malformed {
        /// The decoder's complaint.
        detail: String,
    },
    /// The port expects a different message type than the envelope carries.
    #[error("port {port_id} handles {expected}, not {found}")]
    TypeMismatch {
        /// The port.
        port_id: PortId,
        /// What it handles.
        expected: String,
        /// What arrived.
        found: String,
    },
    /// The ordering stage refused the message.
    #[error("ordering: {0}")]
    Ordering(String),
    /// It reached a proc serving an address, but was addressed to another
    /// proc: procs deliver only to their own actors and never relay.
    #[error("proc {served_by} does not relay messages for proc {proc_id}")]
    Misdirected {
        /// The proc it was addressed to.
        proc_id: ProcId,
        /// The proc that received it.
        served_by: ProcId,
    },
}

impl UndeliverableReason {
    /// Why a message of type `type_name` could not be encoded or decoded.
    pub fn from_codec(error: crate::codec::CodecError, type_name: &str) -> Self {
        match error {
            crate::codec::CodecError::TooLarge { limit_bytes } => UndeliverableReason::TooLarge {
                type_name: type_name.to_owned(),
                limit_bytes,
            },
            other => UndeliverableReason::Malformed {
                detail: other.to_string(),
            },
        }
    }
}

impl From<AdmissionError> for UndeliverableReason {
    fn from(error: AdmissionError) -> Self {
        UndeliverableReason::Ordering(error.to_string())
    }
}

/// A local send that failed; hands the message back.
#[derive(thiserror::Error)]
#[error("cannot deliver {type_name}: {reason}")]
pub struct SendError<M> {
    /// The message that was not delivered.
    pub message: M,
    /// Why.
    pub reason: UndeliverableReason,
    /// The message's type name.
    pub type_name: &'static str,
}

impl<M> SendError<M> {
    pub(crate) fn new(message: M, reason: UndeliverableReason) -> Self {
        Self {
            message,
            reason,
            type_name: std::any::type_name::<M>(),
        }
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("type_name", &self.type_name)
            .field("reason", &self.reason)
            .finish()
    }
}
