//! lockstep: an actor runtime written against an abstract environment, so a
//! deterministic simulator (`lockstep-sim`) can run the same code under a seed.
//!
//! # Map of the crate (start here)
//! - [`rt`] — the seam: spawn, time, timers, randomness. Everything
//!   nondeterministic goes through it (DESIGN.md §2.1). [`time`] and
//!   [`random`] are the same seam as the facade user actors call.
//! - [`id`], [`codec`] — identifiers and the wire encoding.
//! - [`channel`] — transport between procs: addresses, framed links (local, TCP, Unix), the session protocol, the router and `serve`.
//! - [`sequencing`] — per-sender sequence numbers and the destination reorder
//!   buffer (pure; no I/O).
//! - [`mailbox`] — ports, envelopes, undeliverable messages, the
//!   [`MailboxSender`] seam.
//! - [`actor`] — the [`Actor`] and [`Handler`] traits, statuses, handles,
//!   behaviors, checkpoints.
//! - [`proc`] — procs (spawn, route) and the actor run loop
//!   (`proc::instance`).
//! - [`supervision`] — supervision events and the test coordinator.
//! - [`observe`] — the runtime events a simulated world records (for oracles).
//! - [`introspect`] — what every actor answers about itself, even when wedged.
//!
//! ```
//! use lockstep::{Actor, Context, Handler, HandlerError, Proc};
//!
//! #[derive(Debug)]
//! struct Doubler;
//! impl Actor for Doubler {}
//!
//! impl Handler<(u64, lockstep::OncePortHandle<u64>)> for Doubler {
//!     async fn handle(
//!         &mut self,
//!         cx: &Context<Self>,
//!         (n, reply): (u64, lockstep::OncePortHandle<u64>),
//!     ) -> Result<(), HandlerError> {
//!         reply.send(cx, n * 2)?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let proc = Proc::local();
//! let (client, _client_handle) = proc.instance("client").unwrap();
//! let doubler = proc.spawn("doubler", Doubler).unwrap();
//! let (reply, answer) = client.open_once_port();
//! doubler.send(&client, (21, reply)).unwrap();
//! assert_eq!(answer.recv().await.unwrap(), 42);
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod actor;
pub mod channel;
pub mod codec;
pub mod context;
pub mod id;
pub mod introspect;
pub mod mailbox;
pub mod observe;
pub mod proc;
pub mod reference;
pub mod rt;
pub mod sequencing;
pub mod supervision;
pub mod sync;

pub use actor::{
    Actor, ActorError, ActorErrorKind, ActorHandle, ActorStatus, Binds, CheckpointError,
    Checkpointable, Handler, HandlerError, Referable, RemoteHandles, Signal,
};
pub use codec::IdCache;
pub use context::SendContext;
pub use id::{ActorId, PortId, ProcId};
pub use mailbox::{
    Headers, MailboxSender, Message, MessageEnvelope, OncePortHandle, OncePortRef, PortHandle,
    PortReceiver, PortRef, RemoteMessage, SendError, Undeliverable, UndeliverableReason,
};
pub use proc::{Context, Instance, InstanceCell, Proc, ProcConfig, ProcError};
pub use reference::ActorRef;
pub use sequencing::SeqInfo;
pub use supervision::{ActorSupervisionEvent, RecordingCoordinator};

/// Time for user actors: `lockstep::time::sleep` instead of `tokio::time::sleep`,
/// so the simulator can run actor code on virtual time.
pub mod time {
    pub use crate::rt::time::{
        Elapsed, Instant, Interval, Sleep, interval, now, sleep, sleep_until, system_now, timeout,
    };
}

/// Randomness for user actors, seeded under simulation.
pub mod random {
    use crate::rt::random::{self, RandomStream};

    /// 64 random bits from the user stream.
    pub fn u64() -> u64 {
        random::next_u64(RandomStream::USER)
    }

    /// A uniformly random value in `0..bound` from the user stream.
    pub fn below(bound: u64) -> u64 {
        random::below(RandomStream::USER, bound)
    }

    /// A random `f64` in `[0, 1)` from the user stream.
    pub fn unit_f64() -> f64 {
        random::unit_f64(RandomStream::USER)
    }
}
