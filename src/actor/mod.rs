//! Actors: the traits users implement, and how an actor's handlers are reached.
//!
//! Owns: [`Actor`], [`Handler`], [`Signal`], behaviors ([`Referable`],
//! [`Binds`], [`RemoteHandles`] and the `export!` / `behavior!` /
//! `assert_behaves!` macros), statuses, errors, checkpoints and handles.
//! Does not own: the run loop (`proc::instance`) or supervision policy
//! (`supervision`).

mod checkpoint;
mod error;
mod handle;
mod ports;
pub(crate) mod queue;
mod status;

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};

pub use checkpoint::{CheckpointError, Checkpointable};
pub use error::{ActorError, ActorErrorKind, HandlerError};
pub use handle::ActorHandle;
pub use ports::Ports;
pub(crate) use ports::{ActorInbox, Work, WorkQueue};
pub(crate) use status::StatusCell;
pub use status::{ActorStatus, HandlerInfo, StatusClosed, StatusReceiver, StatusRef};

use crate::mailbox::{MessageEnvelope, RemoteMessage, Undeliverable};
use crate::proc::{Context, Instance};
use crate::supervision::ActorSupervisionEvent;

/// An independent thread of execution that handles one message at a time.
///
/// Every method has a default; implement the [`Handler`]s you need.
///
/// ```
/// use lockstep::{Actor, Context, Handler, HandlerError};
///
/// #[derive(Debug, Default)]
/// struct Counter(u64);
///
/// impl Actor for Counter {}
///
/// impl Handler<u64> for Counter {
///     async fn handle(&mut self, _cx: &Context<Self>, n: u64) -> Result<(), HandlerError> {
///         self.0 += n;
///         Ok(())
///     }
/// }
/// ```
pub trait Actor: Sized + Send + 'static {
    /// Runs once, before the first message.
    fn init(
        &mut self,
        _this: &Instance<Self>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }

    /// Runs on the way out (after a clean stop, or with the error after a
    /// failure) — but not after a panic, when the actor's state is suspect.
    fn cleanup(
        &mut self,
        _this: &Instance<Self>,
        _error: Option<&ActorError>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }

    /// A child terminated. Return `Ok(true)` if handled here; `Ok(false)` lets
    /// a child's *failure* fail this actor too (propagating up the tree).
    fn handle_supervision_event(
        &mut self,
        _this: &Instance<Self>,
        _event: &ActorSupervisionEvent,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send {
        async { Ok(false) }
    }

    /// A message this actor sent came back. The default fails the actor
    /// (UD-1: nothing is dropped silently); override to handle it.
    fn handle_undeliverable_message(
        &mut self,
        _this: &Instance<Self>,
        undeliverable: Undeliverable<MessageEnvelope>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            Err(HandlerError::kind(ActorErrorKind::Undeliverable(
                undeliverable.to_string(),
            )))
        }
    }

    /// A name to use instead of the actor id in supervision messages.
    fn display_name(&self) -> Option<String> {
        None
    }
}

/// A client instance is an actor of type `()`: it has a mailbox and can send,
/// but runs no loop.
impl Actor for () {}

/// Handles messages of type `M`.
pub trait Handler<M>: Actor {
    /// Handle one `M`.
    fn handle(
        &mut self,
        cx: &Context<Self>,
        message: M,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Control signals. They outrank ordinary messages and are handled by the
/// runtime, never by actor code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// Finish everything accepted before this signal, then stop.
    DrainAndStop(String),
    /// Stop now, abandoning queued work (returned to senders as undeliverable).
    Stop(String),
    /// Fail now.
    Abort(String),
    /// Internal: the direct child with this pid terminated.
    ChildStopped(u64),
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::DrainAndStop(reason) => write!(f, "DrainAndStop({reason})"),
            Signal::Stop(reason) => write!(f, "Stop({reason})"),
            Signal::Abort(reason) => write!(f, "Abort({reason})"),
            Signal::ChildStopped(pid) => write!(f, "ChildStopped({pid})"),
        }
    }
}

/// A type that can appear in an [`crate::ActorRef`]: an actor, or a behavior
/// (a restricted view exposing only some handlers).
pub trait Referable: Send + Sync + 'static {}

/// How a reference type `Self` binds the ports of actor `A`.
pub trait Binds<A: Actor>: Referable {
    /// Register the handler ports this reference type exposes.
    fn bind(ports: &Ports<A>);
}

/// Marks that references of type `Self` accept messages of type `M`.
pub trait RemoteHandles<M: RemoteMessage>: Referable {}

/// Export an actor's handlers so `ActorRef<Actor>` can reach them.
///
/// ```
/// # use lockstep::{Actor, Context, Handler, HandlerError};
/// #[derive(Debug)]
/// struct Echo;
/// impl Actor for Echo {}
/// impl Handler<u64> for Echo {
///     async fn handle(&mut self, _cx: &Context<Self>, _n: u64) -> Result<(), HandlerError> { Ok(()) }
/// }
/// lockstep::export!(Echo: u64);
/// ```
#[macro_export]
macro_rules! export {
    ($actor:ty $(: $($message:ty),* $(,)?)?) => {
        impl $crate::actor::Referable for $actor {}
        impl $crate::actor::Binds<$actor> for $actor {
            fn bind(_ports: &$crate::actor::Ports<$actor>) {
                $($( _ports.bind::<$message>(); )*)?
            }
        }
        $($( impl $crate::actor::RemoteHandles<$message> for $actor {} )*)?
    };
}

/// Declare a behavior: a reference type that exposes only the listed
/// handlers, usable as `ActorRef<Behavior>` for any actor that handles them.
///
/// ```
/// lockstep::behavior!(pub Adder: u64);
/// ```
#[macro_export]
macro_rules! behavior {
    ($vis:vis $name:ident : $($message:ty),+ $(,)?) => {
        #[doc = concat!("The `", stringify!($name), "` behavior.")]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::actor::Referable for $name {}
        $( impl $crate::actor::RemoteHandles<$message> for $name {} )+
        impl<A> $crate::actor::Binds<A> for $name
        where
            A: $crate::actor::Actor $( + $crate::actor::Handler<$message> )+,
        {
            fn bind(ports: &$crate::actor::Ports<A>) {
                $( ports.bind::<$message>(); )+
            }
        }
    };
}

/// Compile-time check that actor `A` can be referenced as behavior `B`.
///
/// ```
/// # use lockstep::{Actor, Context, Handler, HandlerError};
/// lockstep::behavior!(Adder: u64);
/// struct Sum(u64);
/// impl Actor for Sum {}
/// impl Handler<u64> for Sum {
///     async fn handle(&mut self, _cx: &Context<Self>, n: u64) -> Result<(), HandlerError> {
///         self.0 += n;
///         Ok(())
///     }
/// }
/// lockstep::assert_behaves!(Sum as Adder);
/// ```
#[macro_export]
macro_rules! assert_behaves {
    ($actor:ty as $behavior:ty) => {
        const _: fn() = || {
            fn check<B: $crate::actor::Binds<$actor>>() {}
            check::<$behavior>();
        };
    };
}
