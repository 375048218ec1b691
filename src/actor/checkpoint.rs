//! Checkpoints: saving an actor's state and loading an actor from it.

use std::future::Future;

use crate::mailbox::RemoteMessage;

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The actor's own save or load failed.
    #[error("checkpoint failed: {0}")]
    Failed(String),
    /// The saved state could not be encoded or decoded.
    #[error("checkpoint encoding: {0}")]
    Encoding(String),
    /// The actor terminated before it could save.
    #[error("actor terminated before saving a checkpoint")]
    Terminated,
}

/// An actor whose state can be saved and later loaded (e.g. after a simulated
/// crash and restart).
pub trait Checkpointable: Sized + Send {
    /// The saved state.
    type State: RemoteMessage;

    /// Capture the state.
    fn save(&self) -> impl Future<Output = Result<Self::State, CheckpointError>> + Send;

    /// Rebuild from saved state.
    fn load(state: Self::State) -> impl Future<Output = Result<Self, CheckpointError>> + Send;
}

/// Any cloneable, serializable value is its own checkpoint.
impl<T: RemoteMessage + Clone + Sync> Checkpointable for T {
    type State = T;

    async fn save(&self) -> Result<T, CheckpointError> {
        Ok(self.clone())
    }

    async fn load(state: T) -> Result<T, CheckpointError> {
        Ok(state)
    }
}
