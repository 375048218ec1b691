//! Actor lifecycle status and the one place its transitions are checked.
//!
//! `Created → Initializing → Idle ⇄ Processing → Stopping → Stopped | Failed`,
//! plus `Client`, `Saving`, `Loading` and `Unknown`.
//!
//! LC-1: a terminal status (`Stopped`, `Failed`) never changes again. Checked
//! in [`StatusCell::set`]; a violation is a broken runtime invariant (panic).

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::error::ActorErrorKind;

/// Which handler an actor is running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerInfo {
    /// The message type being handled.
    pub type_name: Cow<'static, str>,
}

impl HandlerInfo {
    /// For a statically known type name (no allocation).
    pub const fn of(type_name: &'static str) -> Self {
        Self {
            type_name: Cow::Borrowed(type_name),
        }
    }
}

impl fmt::Display for HandlerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_name)
    }
}

/// The lifecycle status of an actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorStatus {
    /// Not known (e.g. the actor vanished without reporting).
    Unknown,
    /// Created, not yet started.
    Created,
    /// Running `init`.
    Initializing,
    /// A client instance whose mailbox the user drives.
    Client,
    /// Waiting for work.
    Idle,
    /// Handling a message since the given wall-clock time.
    Processing(SystemTime, Option<HandlerInfo>),
    /// Saving a checkpoint since the given time.
    Saving(SystemTime),
    /// Loading from a checkpoint since the given time.
    Loading(SystemTime),
    /// Shutting down (draining or stopping children).
    Stopping,
    /// Stopped, with the reason given.
    Stopped(String),
    /// Failed.
    Failed(ActorErrorKind),
}

impl ActorStatus {
    /// `Stopped` or `Failed` (LC-1).
    pub fn is_terminal(&self) -> bool {
        matches!(self, ActorStatus::Stopped(_) | ActorStatus::Failed(_))
    }

    /// Whether the status is `Failed`.
    pub fn is_failed(&self) -> bool {
        matches!(self, ActorStatus::Failed(_))
    }

    /// A short lowercase name of the variant (`idle`, `processing`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ActorStatus::Unknown => "unknown",
            ActorStatus::Created => "created",
            ActorStatus::Initializing => "initializing",
            ActorStatus::Client => "client",
            ActorStatus::Idle => "idle",
            ActorStatus::Processing(..) => "processing",
            ActorStatus::Saving(_) => "saving",
            ActorStatus::Loading(_) => "loading",
            ActorStatus::Stopping => "stopping",
            ActorStatus::Stopped(_) => "stopped",
            ActorStatus::Failed(_) => "failed",
        }
    }

    /// The reason of a terminal status (IA-3: only terminal statuses have one).
    pub fn reason(&self) -> Option<String> {
        match self {
            ActorStatus::Stopped(reason) => Some(reason.clone()),
            ActorStatus::Failed(kind) => Some(kind.to_string()),
            _ => None,
        }
    }
}

/// Statuses with a start time print how long they have lasted, measured on
/// the current world's wall clock (so simulated runs print virtual durations).
impl fmt::Display for ActorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = |start: &SystemTime| {
            crate::rt::time::system_now()
                .duration_since(*start)
                .unwrap_or_default()
                .as_millis()
        };
        match self {
            ActorStatus::Processing(start, None) => write!(f, "processing for {}ms", since(start)),
            ActorStatus::Processing(start, Some(handler)) => {
                write!(f, "{handler}: processing for {}ms", since(start))
            }
            ActorStatus::Saving(start) => write!(f, "saving for {}ms", since(start)),
            ActorStatus::Loading(start) => write!(f, "loading for {}ms", since(start)),
            ActorStatus::Stopped(reason) => write!(f, "stopped: {reason}"),
            ActorStatus::Failed(kind) => write!(f, "failed: {kind}"),
            other => f.write_str(other.name()),
        }
    }
}

/// The owner's side of an actor's status watch; enforces LC-1.
pub(crate) struct StatusCell {
    sender: watch::Sender<ActorStatus>,
    actor_id: Option<crate::id::ActorId>,
}

impl StatusCell {
    #[cfg(test)]
    pub(crate) fn new(initial: ActorStatus) -> Self {
        Self {
            sender: watch::Sender::new(initial),
            actor_id: None,
        }
    }

    /// A status cell that reports its changes to the world's trace.
    pub(crate) fn observed(actor_id: crate::id::ActorId, initial: ActorStatus) -> Self {
        Self {
            sender: watch::Sender::new(initial),
            actor_id: Some(actor_id),
        }
    }

    fn observe(&self, status: &ActorStatus) {
        if let Some(actor_id) = &self.actor_id {
            crate::observe::status(actor_id, status);
        }
    }

    /// Move to `next`. Panics if the current status is terminal (LC-1).
    #[track_caller]
    pub(crate) fn set(&self, next: ActorStatus) {
        self.sender.send_modify(|current| {
            assert!(
                !current.is_terminal(),
                "LC-1 violated: terminal status {current:?} would change to {next:?}"
            );
            *current = next;
        });
        self.observe(&self.sender.borrow());
    }

    /// Move to `next` unless already terminal; returns whether it moved.
    pub(crate) fn set_unless_terminal(&self, next: ActorStatus) -> bool {
        let moved = self.sender.send_if_modified(|current| {
            if current.is_terminal() {
                false
            } else {
                *current = next;
                true
            }
        });
        if moved {
            self.observe(&self.sender.borrow());
        }
        moved
    }

    pub(crate) fn get(&self) -> ActorStatus {
        self.sender.borrow().clone()
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.sender.borrow().is_terminal()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<ActorStatus> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "LC-1 violated")]
    fn lc_1_terminal_status_never_changes() {
        let cell = StatusCell::new(ActorStatus::Idle);
        cell.set(ActorStatus::Stopped("done".into()));
        cell.set(ActorStatus::Idle);
    }

    #[test]
    fn lc_1_set_unless_terminal_leaves_terminal_alone() {
        let cell = StatusCell::new(ActorStatus::Idle);
        assert!(cell.set_unless_terminal(ActorStatus::Stopping));
        cell.set(ActorStatus::Failed(ActorErrorKind::Aborted("x".into())));
        assert!(!cell.set_unless_terminal(ActorStatus::Stopped("late".into())));
        assert!(cell.get().is_failed());
    }
}
