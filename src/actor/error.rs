//! Errors of actors: what a handler returns, and why an actor failed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::ActorId;
use crate::supervision::ActorSupervisionEvent;

/// Why an actor failed: the `kind` of its `Failed` status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum ActorErrorKind {
    /// A handler returned an error.
    #[error("{0}")]
    Handler(String),
    /// A handler (or `init`) panicked.
    #[error("panic: {0}")]
    Panic(String),
    /// `init` returned an error.
    #[error("initialization error: {0}")]
    Init(String),
    /// `cleanup` returned an error on a clean stop.
    #[error("cleanup error: {0}")]
    Cleanup(String),
    /// A child's failure that this actor did not handle; still names the leaf.
    #[error("{0}")]
    UnhandledSupervisionEvent(Box<ActorSupervisionEvent>),
    /// `handle_supervision_event` itself failed.
    #[error("{0} while handling {1}")]
    ErrorDuringHandlingSupervision(String, Box<ActorSupervisionEvent>),
    /// Told to `Abort`.
    #[error("actor explicitly aborted due to: {0}")]
    Aborted(String),
    /// A returned message the actor did not handle (the default undeliverable handler).
    #[error("{0}")]
    Undeliverable(String),
    /// Checkpoint save or load failed.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// An actor's failure, with the actor it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("serving {actor_id}: {kind}")]
pub struct ActorError {
    /// The actor.
    pub actor_id: ActorId,
    /// What went wrong.
    pub kind: ActorErrorKind,
}

/// The error a handler (or `init`, `cleanup`, a supervision hook) returns.
///
/// Like `anyhow::Error`, anything that implements `std::error::Error` converts
/// into it with `?`; [`HandlerError::msg`] makes one from text.
pub struct HandlerError {
    repr: Repr,
}

enum Repr {
    Message(String),
    Source(Box<dyn std::error::Error + Send + Sync + 'static>),
    Kind(ActorErrorKind),
}

impl HandlerError {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            repr: Repr::Message(message.to_string()),
        }
    }

    /// Fail with a specific kind (used by the runtime to propagate supervision).
    pub fn kind(kind: ActorErrorKind) -> Self {
        Self {
            repr: Repr::Kind(kind),
        }
    }

    /// The failure kind this error becomes when it fails an actor.
    pub fn into_kind(self) -> ActorErrorKind {
        match self.repr {
            Repr::Kind(kind) => kind,
            other => ActorErrorKind::Handler(Self { repr: other }.to_string()),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Message(message) => f.write_str(message),
            Repr::Kind(kind) => write!(f, "{kind}"),
            Repr::Source(error) => {
                write!(f, "{error}")?;
                let mut source = error.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandlerError({self})")
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self {
            repr: Repr::Source(Box::new(error)),
        }
    }
}

/// Returns early from a handler with an error made from a format string.
///
/// ```
/// # fn check(x: u64) -> Result<(), lockstep::HandlerError> {
/// if x > 10 {
///     lockstep::bail!("{x} is too large");
/// }
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::std::result::Result::Err($crate::HandlerError::msg(::std::format!($($arg)*)))
    };
}
