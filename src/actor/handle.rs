//! [`ActorHandle`]: the local, typed capability to a running actor.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::{
    Actor, ActorError, ActorStatus, Binds, CheckpointError, Checkpointable, Handler, Ports, Signal,
    Work,
};
use crate::context::SendContext;
use crate::id::ActorId;
use crate::mailbox::{Message, PortHandle, SendError};
use crate::proc::InstanceCell;
use crate::reference::ActorRef;
use crate::rt;
use crate::sequencing::SeqInfo;

/// A local handle to an actor: typed sends, lifecycle control, and awaiting
/// its end (`handle.await` yields the terminal [`ActorStatus`]).
pub struct ActorHandle<A: Actor> {
    cell: InstanceCell,
    ports: Arc<Ports<A>>,
}

impl<A: Actor> Clone for ActorHandle<A> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            ports: self.ports.clone(),
        }
    }
}

impl<A: Actor> fmt::Debug for ActorHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorHandle({})", self.cell.actor_id())
    }
}

impl<A: Actor> ActorHandle<A> {
    pub(crate) fn new(cell: InstanceCell, ports: Arc<Ports<A>>) -> Self {
        Self { cell, ports }
    }

    /// The actor's id.
    pub fn actor_id(&self) -> &ActorId {
        self.cell.actor_id()
    }

    /// The type-erased cell.
    pub fn cell(&self) -> &InstanceCell {
        &self.cell
    }

    /// A watch of the actor's status.
    pub fn status(&self) -> super::StatusReceiver {
        self.cell.status_watch()
    }

    /// Send `message` to the actor's handler for `M`, without encoding.
    /// `Direct` until the actor is bound, sequenced after (PORT-1).
    pub fn send<M: Message>(&self, cx: &impl SendContext, message: M) -> Result<(), SendError<M>>
    where
        A: Handler<M>,
    {
        self.ports.get::<M>().send(cx, message)
    }

    /// The handler port for `M` (cache it to skip the per-send lookup).
    pub fn port<M: Message>(&self) -> PortHandle<M>
    where
        A: Handler<M>,
    {
        self.ports.get()
    }

    /// A reference of type `R`, binding the handlers `R` exposes. From now on
    /// handle sends are sequenced and share the reference's counter (SEQ-0).
    pub fn bind<R: Binds<A>>(&self) -> ActorRef<R> {
        R::bind(&self.ports);
        self.ports.mark_bound();
        ActorRef::attest(self.actor_id().clone())
    }

    /// Finish everything accepted so far, then stop.
    pub fn drain_and_stop(&self, reason: &str) -> Result<(), ActorError> {
        self.cell.signal(Signal::DrainAndStop(reason.to_owned()))
    }

    /// Stop now; queued work goes back to its senders.
    pub fn stop(&self, reason: &str) -> Result<(), ActorError> {
        self.cell.signal(Signal::Stop(reason.to_owned()))
    }

    /// Fail now.
    pub fn abort(&self, reason: &str) -> Result<(), ActorError> {
        self.cell.signal(Signal::Abort(reason.to_owned()))
    }

    /// Save a checkpoint after everything queued before this call (status
    /// `Saving` meanwhile).
    pub async fn checkpoint(&self) -> Result<A::State, CheckpointError>
    where
        A: Checkpointable + Sync,
    {
        let (reply, saved) = oneshot::channel();
        let call: super::ports::Call<A> = Box::new(move |actor, instance| {
            Box::pin(async move {
                instance
                    .cell()
                    .state
                    .status
                    .set(ActorStatus::Saving(rt::time::system_now()));
                let _ = reply.send(actor.save().await);
            })
        });
        self.ports
            .inbox()
            .enqueue(SeqInfo::Direct, Work::Call(call))
            .map_err(|_| CheckpointError::Terminated)?;
        saved.await.map_err(|_| CheckpointError::Terminated)?
    }
}

impl<A: Actor> IntoFuture for ActorHandle<A> {
    type Output = ActorStatus;
    type IntoFuture = BoxFuture<'static, ActorStatus>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut status = self.cell.status_watch();
            match status.wait_terminal().await {
                Ok(terminal) => (*terminal).clone(),
                Err(_) => ActorStatus::Unknown,
            }
        })
    }
}
