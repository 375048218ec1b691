//! Supervision: how an actor's termination reaches its parent.
//!
//! Owns: [`ActorSupervisionEvent`] and the test coordinator
//! ([`RecordingCoordinator`]).
//! Does not own: the decisions, which the run loop makes (`proc::instance`):
//!
//! SV-1: every actor termination (clean stops included) produces exactly one
//! event, to its parent, or to the proc's coordinator for a root actor. The
//! end is claimed once (`InstanceCell::claim_end`): by the run loop as it
//! finishes, or by a termination by force; whoever claims it reports it,
//! then publishes the terminal status.
//! SV-2: a failure the parent does not handle fails the parent with
//! `UnhandledSupervisionEvent`, whose [`ActorSupervisionEvent::root_cause`]
//! still names the leaf.
//! SV-3: a parent's terminal status is published only after all its children
//! are terminal (no actor outlives its parent).

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::actor::{ActorErrorKind, ActorStatus};
use crate::id::ActorId;
use crate::mailbox::Headers;

/// An actor terminated; sent to its parent (or the proc's coordinator).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorSupervisionEvent {
    /// The actor that terminated.
    pub actor_id: ActorId,
    /// Its display name, if it has one.
    pub display_name: Option<String>,
    /// Its terminal status.
    pub status: ActorStatus,
    /// When, on the world's wall clock.
    pub occurred_at: SystemTime,
    /// Headers of the message being handled when it failed, if any.
    pub message_headers: Option<Headers>,
}

impl ActorSupervisionEvent {
    /// Whether the actor failed (rather than stopped cleanly).
    pub fn is_failure(&self) -> bool {
        self.status.is_failed()
    }

    /// The leaf event: follows propagated failures down to the actor that
    /// failed first (SV-2).
    pub fn root_cause(&self) -> &ActorSupervisionEvent {
        match &self.status {
            ActorStatus::Failed(ActorErrorKind::UnhandledSupervisionEvent(inner))
            | ActorStatus::Failed(ActorErrorKind::ErrorDuringHandlingSupervision(_, inner)) => {
                inner.root_cause()
            }
            _ => self,
        }
    }

    /// True when this event was propagated from a descendant.
    pub fn is_propagated(&self) -> bool {
        !std::ptr::eq(self.root_cause(), self)
    }
}

impl fmt::Display for ActorSupervisionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.display_name {
            Some(name) => write!(f, "{name} ({}) {}", self.actor_id, self.status),
            None => write!(f, "{} {}", self.actor_id, self.status),
        }
    }
}

/// A supervision coordinator for tests: records every event a proc's root
/// actors report.
pub struct RecordingCoordinator {
    events: mpsc::UnboundedReceiver<ActorSupervisionEvent>,
}

impl RecordingCoordinator {
    /// Install a recording coordinator on `proc`. Fails if one is already set.
    pub fn install(proc: &crate::Proc) -> Result<Self, crate::proc::ProcError> {
        let (sender, events) = mpsc::unbounded_channel();
        proc.set_supervision_coordinator(sender)?;
        Ok(Self { events })
    }

    /// The next event reported.
    pub async fn next(&mut self) -> Option<ActorSupervisionEvent> {
        self.events.recv().await
    }

    /// Every event reported so far.
    pub fn drain(&mut self) -> Vec<ActorSupervisionEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }
}
