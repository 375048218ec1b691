//! Mailboxes: an actor's ports, and delivery of envelopes to them.
//!
//! Owns: port allocation (ephemeral ports count up from 1, SEQ-0's port
//! domains), the table of ports reachable by reference, message traits, and
//! the [`MailboxSender`] seam that procs and transports implement.
//! Does not own: routing between procs (`proc`), ordering (`sequencing`).

mod envelope;
mod port;
mod reordering;
mod undeliverable;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use envelope::{Headers, MessageEnvelope, Payload, TypeName};
pub use port::{
    OncePortHandle, OncePortReceiver, OncePortRef, PortHandle, PortReceiver, PortRef, RecvError,
};
pub(crate) use port::{PortSink, SerializedPort, ViewDelivery, send_by_reference};
pub use reordering::ReorderingSender;
pub use undeliverable::{SendError, Undeliverable, UndeliverableReason};

use crate::id::{ActorId, HANDLER_PORT_BIT, PortId, ProcId};
use crate::sequencing::ReorderLimits;
use crate::sync::Mutex;

/// Any value that can be sent to a local port.
pub trait Message: Send + 'static {}
impl<T: Send + 'static> Message for T {}

/// A message that can also be sent by reference (encoded).
pub trait RemoteMessage: Message + Serialize + DeserializeOwned {}
impl<T: Message + Serialize + DeserializeOwned> RemoteMessage for T {}

/// Whether `index` is a control port: introspection, signals, or returned
/// messages. Control traffic is never sequenced.
pub fn is_control_port(index: u64) -> bool {
    // Immutable after first use: the three handler indices of the control types.
    static CONTROL: std::sync::LazyLock<[u64; 3]> = std::sync::LazyLock::new(|| {
        [
            crate::id::handler_port_index::<crate::introspect::IntrospectMessage>(),
            crate::id::handler_port_index::<crate::actor::Signal>(),
            crate::id::handler_port_index::<Undeliverable<MessageEnvelope>>(),
        ]
    });
    index & crate::id::HANDLER_PORT_BIT != 0 && CONTROL.contains(&index)
}

/// Something that accepts envelopes for delivery: a proc, a router, a
/// transport, or a test forwarder that reorders them.
pub trait MailboxSender: Send + Sync + 'static {
    /// Take `envelope`; if it cannot be delivered, send it back through
    /// `return_handle` as [`Undeliverable`] (UD-1).
    fn post(
        &self,
        envelope: MessageEnvelope,
        return_handle: &PortHandle<Undeliverable<MessageEnvelope>>,
    );

    /// Told once, by the proc it forwards for, which proc that is (a router
    /// names its channel tasks after it). Default: not needed.
    fn forwards_for(&self, _proc_id: &ProcId) {}
}

/// Return `envelope` through `return_handle` with `reason`; if even that
/// fails, log it as an error — the one documented end of UD-1.
pub fn return_undeliverable(
    return_handle: &PortHandle<Undeliverable<MessageEnvelope>>,
    envelope: MessageEnvelope,
    reason: UndeliverableReason,
) {
    let sender = envelope.sender().clone();
    let returned = Undeliverable {
        message: envelope,
        reason,
    };
    if let Err(error) = return_handle.deliver(returned, Headers::default(), &sender) {
        tracing::error!(
            message = %error.message.message,
            reason = %error.message.reason,
            return_failure = %error.reason,
            "undeliverable message could not be returned to its sender"
        );
    }
}

pub(crate) struct MailboxState {
    actor_id: ActorId,
    next_port: AtomicU64,
    reorder: Option<ReorderLimits>,
    message_bytes_max: u64,
    registered: Mutex<BTreeMap<u64, Arc<dyn SerializedPort>>>,
    /// Where messages this mailbox's ports took but never handed over go
    /// back to their senders.
    returns: ReturnPath,
    /// Once ports that already took their message, most recent last (PORT-3).
    spent_once_ports: Mutex<std::collections::VecDeque<u64>>,
}

/// Where a mailbox's ports send back what they took but never handed over
/// (UD-1): the proc's return port (`None` only for the proc's own mailbox,
/// whose ports queue nothing).
#[derive(Clone)]
pub(crate) struct ReturnPath {
    handle: Option<PortHandle<Undeliverable<MessageEnvelope>>>,
    /// Set when the actor's proc crashed: what its ports still hold is lost
    /// with it, as its work queue is (NET-4), not sent on by a proc that is
    /// gone. (An actor terminated by force in a live proc still returns.)
    lost_with_proc: Arc<std::sync::atomic::AtomicBool>,
}

impl ReturnPath {
    /// Return `envelope` to its sender with `reason`, unless the actor's
    /// proc crashed (then it is logged as lost).
    pub(crate) fn send_back(&self, envelope: MessageEnvelope, reason: UndeliverableReason) {
        if self.lost_with_proc.load(Ordering::Acquire) {
            tracing::error!(%envelope, %reason, "lost with its crashed proc");
            return;
        }
        match &self.handle {
            Some(handle) => return_undeliverable(handle, envelope, reason),
            // Kept loud in case a mailbox without a return port ever queues.
            None => tracing::error!(%envelope, %reason, "no return port; message lost"),
        }
    }
}

/// How many spent once ports a mailbox remembers (PORT-3).
const SPENT_ONCE_PORTS_MAX: usize = 4096;

/// An actor's mailbox: its ports, and the table of those reachable by reference.
#[derive(Clone)]
pub struct Mailbox {
    state: Arc<MailboxState>,
}

impl Mailbox {
    pub(crate) fn new(
        actor_id: ActorId,
        reorder: Option<ReorderLimits>,
        message_bytes_max: u64,
        returns: Option<PortHandle<Undeliverable<MessageEnvelope>>>,
    ) -> Self {
        Self {
            state: Arc::new(MailboxState {
                actor_id,
                next_port: AtomicU64::new(1),
                reorder,
                message_bytes_max,
                registered: Mutex::new(BTreeMap::new()),
                returns: ReturnPath {
                    handle: returns,
                    lost_with_proc: Arc::default(),
                },
                spent_once_ports: Mutex::new(std::collections::VecDeque::new()),
            }),
        }
    }

    /// The owning actor.
    pub fn actor_id(&self) -> &ActorId {
        &self.state.actor_id
    }

    /// Ordering limits for this mailbox's ports (`None`: reorder buffer off).
    pub(crate) fn reorder_limits(&self) -> Option<ReorderLimits> {
        self.state.reorder
    }

    fn allocate_port(&self) -> PortId {
        let index = self.state.next_port.fetch_add(1, Ordering::Relaxed);
        assert!(
            index & HANDLER_PORT_BIT == 0,
            "ephemeral port indices exhausted"
        );
        self.state.actor_id.port_id(index)
    }

    pub(crate) fn register(&self, index: u64, port: Arc<dyn SerializedPort>) {
        self.state.registered.lock().insert(index, port);
    }

    pub(crate) fn unregister(&self, index: u64) {
        self.state.registered.lock().remove(&index);
    }

    /// Remember that once port `index` took its message (PORT-3).
    pub(crate) fn mark_once_port_spent(&self, index: u64) {
        let mut spent = self.state.spent_once_ports.lock();
        if spent.len() >= SPENT_ONCE_PORTS_MAX {
            spent.pop_front();
        }
        spent.push_back(index);
    }

    /// The actor's proc crashed: its ports keep what they hold (lost with
    /// it) rather than return it (see [`ReturnPath`]).
    pub(crate) fn mark_lost_with_proc(&self) {
        self.state
            .returns
            .lost_with_proc
            .store(true, Ordering::Release);
    }

    /// Where this mailbox's ports send back what they cannot hand over.
    pub(crate) fn return_path(&self) -> ReturnPath {
        self.state.returns.clone()
    }

    /// Forget every registered port (the actor terminated); breaks the
    /// mailbox ↔ port reference cycle.
    pub(crate) fn close(&self) {
        let ports = std::mem::take(&mut *self.state.registered.lock());
        drop(ports);
    }

    /// Fill the ordering slot of a message for `dest` that was refused on
    /// its way here (CH-13); whether a slot was filled.
    pub(crate) fn skip(&self, dest: &PortId, seq_info: crate::sequencing::SeqInfo) -> bool {
        self.ordering_port(dest)
            .is_some_and(|port| port.skip(seq_info))
    }

    /// The port whose ordering stage a message for `dest` passes through:
    /// its own, or, for a handler port this actor does not have, any of its
    /// sequenced handler ports, since they all share one ordering domain
    /// ([`ReceivingDomain::of`](crate::sequencing::ReceivingDomain::of);
    /// control ports are never sequenced and have no ordering stage).
    fn ordering_port(&self, dest: &PortId) -> Option<Arc<dyn SerializedPort>> {
        let registered = self.state.registered.lock();
        if let Some(port) = registered.get(&dest.index()) {
            return Some(port.clone());
        }
        if !dest.is_handler_port() {
            return None;
        }
        registered
            .range(crate::id::HANDLER_PORT_BIT..)
            .find(|(index, _)| !is_control_port(**index))
            .map(|(_, port)| port.clone())
    }

    /// Deliver an envelope read in place to one of this mailbox's ports
    /// (see [`SerializedPort::deliver_encoded`]); `NotTaken` (nothing done)
    /// when no port is bound at its index.
    pub(crate) fn deliver_view(&self, view: &crate::codec::EnvelopeView<'_>) -> ViewDelivery {
        let port = self.state.registered.lock().get(&view.dest_port()).cloned();
        let Some(port) = port else {
            return ViewDelivery::NotTaken;
        };
        let delivered = port.deliver_encoded(
            view.type_name(),
            view.payload(),
            view.seq_info(),
            view.sender(),
            self.state.message_bytes_max,
        );
        match delivered {
            Ok(()) => ViewDelivery::Delivered,
            Err(reason) => ViewDelivery::Refused(reason),
        }
    }

    /// Deliver an envelope addressed to one of this mailbox's ports.
    pub(crate) fn deliver_serialized(
        &self,
        envelope: MessageEnvelope,
    ) -> Result<(), (MessageEnvelope, UndeliverableReason)> {
        let index = envelope.dest().index();
        let port = self.state.registered.lock().get(&index).cloned();
        match port {
            // The mailbox delivering is alive: its limit applies.
            Some(port) => port
                .deliver_encoded(
                    envelope.type_name(),
                    envelope.payload().bytes(),
                    envelope.headers().seq_info(),
                    envelope.sender(),
                    self.state.message_bytes_max,
                )
                .map_err(|reason| (envelope, reason)),
            // PORT-3: another copy for a once port that already took its
            // message is a duplicate (the network may duplicate): dropped, traced.
            None if self.state.spent_once_ports.lock().contains(&index) => {
                crate::observe::duplicate_dropped(0, 0);
                tracing::debug!(%envelope, "duplicate for a spent once port dropped");
                Ok(())
            }
            None => {
                // CH-13: refused here, so its seq must not become a gap the
                // actor's other handlers wait behind forever.
                let seq_info = envelope.headers().seq_info();
                if self.skip(envelope.dest(), seq_info) {
                    crate::observe::skipped(envelope.dest(), seq_info);
                }
                let reason = UndeliverableReason::PortUnbound {
                    port_id: envelope.dest().clone(),
                };
                Err((envelope, reason))
            }
        }
    }
}
