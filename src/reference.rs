//! Serializable references to actors, typed by what they expose.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::actor::{Referable, RemoteHandles};
use crate::context::SendContext;
use crate::id::{ActorId, handler_port_index};
use crate::mailbox::{PortRef, RemoteMessage, SendError};

/// A reference to an actor that can be sent anywhere. `R` is the actor type
/// or a behavior; it decides which messages the reference accepts.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ActorRef<R> {
    actor_id: ActorId,
    #[serde(skip)]
    referable: PhantomData<fn() -> R>,
}

impl<R> Clone for ActorRef<R> {
    fn clone(&self) -> Self {
        Self::attest(self.actor_id.clone())
    }
}

impl<R> PartialEq for ActorRef<R> {
    fn eq(&self, other: &Self) -> bool {
        self.actor_id == other.actor_id
    }
}

impl<R> Eq for ActorRef<R> {}

impl<R> fmt::Debug for ActorRef<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef({})", self.actor_id)
    }
}

impl<R> ActorRef<R> {
    /// A reference to `actor_id`, trusted to be an `R`.
    pub fn attest(actor_id: ActorId) -> Self {
        Self {
            actor_id,
            referable: PhantomData,
        }
    }

    /// The referenced actor.
    pub fn actor_id(&self) -> &ActorId {
        &self.actor_id
    }
}

impl<R: Referable> ActorRef<R> {
    /// The port for message type `M`.
    pub fn port<M: RemoteMessage>(&self) -> PortRef<M>
    where
        R: RemoteHandles<M>,
    {
        PortRef::attest_message_port(&self.actor_id)
    }

    /// Send `message` by reference.
    pub fn send<M: RemoteMessage>(
        &self,
        cx: &impl SendContext,
        message: M,
    ) -> Result<(), SendError<M>>
    where
        R: RemoteHandles<M>,
    {
        let dest = self.actor_id.port_id(handler_port_index::<M>());
        crate::mailbox::send_by_reference(cx, dest, message)
    }
}
