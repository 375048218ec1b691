//! Ports: typed endpoints of a mailbox, their serializable references and receivers.
//!
//! Owns: [`PortHandle`], [`PortRef`], [`OncePortHandle`], [`OncePortRef`],
//! [`PortReceiver`], [`OncePortReceiver`], and how a port's messages reach its
//! sink (a queue, a closure, or an actor's work queue) through the ordering stage.
//!
//! PORT-1: a send through an unbound handle is `Direct`; once bound (or, for
//! handler ports, once the actor is bound) every send is sequenced (SEQ-0).
//! PORT-2: a once port delivers at most one message, then unbinds itself.
//! PORT-3: later copies of a once port's message (network duplicates) are
//! dropped as duplicates and traced, not returned: the port's contract is
//! "at most one", and its sender did nothing wrong.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::envelope::{Headers, MessageEnvelope, Payload};
use super::undeliverable::{SendError, UndeliverableReason};
use super::{Mailbox, MailboxState, Message, RemoteMessage, ReturnPath};
use crate::codec;
use crate::context::SendContext;
use crate::id::{ActorId, PortId, handler_port_index};
use crate::sequencing::{Inbound, ReceivingDomain, ReorderLimits, SeqInfo, ServedInbound};
use crate::sync::Mutex;

/// Where a port's messages go once admitted.
pub(crate) trait PortSink<M>: Send + Sync + 'static {
    /// Deliver one message; on failure hand it back with the reason.
    fn deliver(
        &self,
        message: M,
        headers: Headers,
        sender: &ActorId,
    ) -> Result<(), (M, UndeliverableReason)>;

    /// A message stamped `seq_info` for this port was refused on its way
    /// (CH-13): fill its slot in the ordering stage. Whether one was filled.
    fn skip(&self, _seq_info: SeqInfo) -> bool {
        false
    }
}

/// Delivery of an envelope's encoded payload to a bound port.
pub(crate) trait SerializedPort: Send + Sync + 'static {
    /// Decode the message of type name `type_name` from `payload` (`None`:
    /// local-only) within `limit_bytes` (the delivering mailbox's message
    /// size limit) and deliver it from `sender`, sequenced as `seq_info`;
    /// or why it is refused. Owned envelopes and envelopes read in place (a
    /// link's frame, nothing owned made) both deliver here, so both get the
    /// same delivery and the same refusals.
    fn deliver_encoded(
        &self,
        type_name: &str,
        payload: Option<&[u8]>,
        seq_info: SeqInfo,
        sender: &ActorId,
        limit_bytes: u64,
    ) -> Result<(), UndeliverableReason>;

    /// See [`PortSink::skip`].
    fn skip(&self, _seq_info: SeqInfo) -> bool {
        false
    }
}

/// What [`Mailbox::deliver_view`](super::Mailbox::deliver_view) did.
pub(crate) enum ViewDelivery {
    /// Taken by the port's sink.
    Delivered,
    /// Refused (wrong type, bad payload, sink closed or full): it goes back
    /// to its sender.
    Refused(UndeliverableReason),
    /// No port is bound at its index: nothing was done, and the owned
    /// envelope decides (a spent once port's duplicate, or an unbound port).
    NotTaken,
}

/// The message of type `M` for `port_id` from an envelope's type name and
/// payload (`None`: local-only), within `limit_bytes`; or why it is refused.
/// Owned envelopes and envelopes read in place both decode here.
fn decode_payload<M: RemoteMessage>(
    port_id: &PortId,
    type_name: &str,
    payload: Option<&[u8]>,
    limit_bytes: u64,
) -> Result<M, UndeliverableReason> {
    if type_name != std::any::type_name::<M>() {
        return Err(UndeliverableReason::TypeMismatch {
            port_id: port_id.clone(),
            expected: std::any::type_name::<M>().to_owned(),
            found: type_name.to_owned(),
        });
    }
    match payload {
        Some(bytes) => {
            codec::decode(bytes, limit_bytes).map_err(|error| UndeliverableReason::Malformed {
                detail: error.to_string(),
            })
        }
        None => Err(UndeliverableReason::Malformed {
            detail: "a local-only message cannot be delivered by reference".into(),
        }),
    }
}

pub(crate) struct PortState<M> {
    port_id: PortId,
    /// Shared by all handler ports of one actor (set by the actor's `bind`).
    bound: Arc<AtomicBool>,
    sink: Arc<dyn PortSink<M>>,
    mailbox: Weak<MailboxState>,
}

/// A local, typed handle to a port: sends without encoding.
pub struct PortHandle<M> {
    state: Arc<PortState<M>>,
}

impl<M> Clone for PortHandle<M> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }
}

impl<M> fmt::Debug for PortHandle<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortHandle({})", self.state.port_id)
    }
}

impl<M: Message> PortHandle<M> {
    pub(crate) fn new(
        port_id: PortId,
        bound: Arc<AtomicBool>,
        sink: Arc<dyn PortSink<M>>,
        mailbox: &Mailbox,
    ) -> Self {
        Self {
            state: Arc::new(PortState {
                port_id,
                bound,
                sink,
                mailbox: Arc::downgrade(&mailbox.state),
            }),
        }
    }

    /// The port's id.
    pub fn port_id(&self) -> &PortId {
        &self.state.port_id
    }

    /// Whether sends through this handle are sequenced (PORT-1).
    pub fn is_bound(&self) -> bool {
        self.state.bound.load(Ordering::Acquire)
    }

    /// Send `message` from `cx`. Fails (handing the message back) if the port
    /// is closed or its actor has terminated.
    pub fn send(&self, cx: &impl SendContext, message: M) -> Result<(), SendError<M>> {
        let outbox = cx.outbox();
        let seq_info = if self.is_bound() {
            outbox.next_seq(&self.state.port_id)
        } else {
            SeqInfo::Direct
        };
        crate::observe::sent(
            outbox.actor_id(),
            &self.state.port_id,
            seq_info,
            std::any::type_name::<M>(),
        );
        self.deliver(message, Headers::new(seq_info), outbox.actor_id())
            .inspect_err(|error| {
                crate::observe::refused(
                    outbox.actor_id(),
                    &self.state.port_id,
                    seq_info,
                    &error.reason,
                )
            })
    }

    /// Deliver with explicit headers (control traffic and returned messages).
    pub(crate) fn deliver(
        &self,
        message: M,
        headers: Headers,
        sender: &ActorId,
    ) -> Result<(), SendError<M>> {
        self.state
            .sink
            .deliver(message, headers, sender)
            .map_err(|(message, reason)| SendError::new(message, reason))
    }

    /// Mark sends through this handle as sequenced, without registering it for
    /// delivery by reference (for local-only message types).
    pub fn bind_local(&self) {
        self.state.bound.store(true, Ordering::Release);
    }
}

impl<M: RemoteMessage> PortHandle<M> {
    /// Make the port reachable by reference and return that reference. From
    /// now on, sends through this handle are sequenced too (PORT-1).
    pub fn bind(&self) -> PortRef<M> {
        self.register();
        self.state.bound.store(true, Ordering::Release);
        PortRef::attest(self.state.port_id.clone())
    }

    /// Register for delivery by reference without changing sequencing.
    pub(crate) fn register(&self) {
        if let Some(mailbox) = self.state.mailbox.upgrade() {
            Mailbox { state: mailbox }.register(self.state.port_id.index(), self.state.clone());
        }
    }
}

impl<M: RemoteMessage> SerializedPort for PortState<M> {
    fn skip(&self, seq_info: SeqInfo) -> bool {
        self.sink.skip(seq_info)
    }

    fn deliver_encoded(
        &self,
        type_name: &str,
        payload: Option<&[u8]>,
        seq_info: SeqInfo,
        sender: &ActorId,
        limit_bytes: u64,
    ) -> Result<(), UndeliverableReason> {
        let message = self.decode(type_name, payload, seq_info, limit_bytes)?;
        self.sink
            .deliver(message, Headers::new(seq_info), sender)
            .map_err(|(_message, reason)| reason)
    }
}

impl<M: RemoteMessage> PortState<M> {
    /// The message for this port, or why not; a refused one's seq is
    /// passed over (CH-13: refused here, so it must not become a gap the
    /// messages behind it wait on forever).
    fn decode(
        &self,
        type_name: &str,
        payload: Option<&[u8]>,
        seq_info: SeqInfo,
        limit_bytes: u64,
    ) -> Result<M, UndeliverableReason> {
        decode_payload(&self.port_id, type_name, payload, limit_bytes).inspect_err(|_| {
            if self.sink.skip(seq_info) {
                crate::observe::skipped(&self.port_id, seq_info);
            }
        })
    }
}

/// A serializable reference to a port of message type `M`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct PortRef<M> {
    port_id: PortId,
    #[serde(skip)]
    message: PhantomData<fn() -> M>,
}

impl<M> Clone for PortRef<M> {
    fn clone(&self) -> Self {
        Self::attest(self.port_id.clone())
    }
}

impl<M> PartialEq for PortRef<M> {
    fn eq(&self, other: &Self) -> bool {
        self.port_id == other.port_id
    }
}

impl<M> Eq for PortRef<M> {}

impl<M> fmt::Debug for PortRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortRef({})", self.port_id)
    }
}

impl<M> PortRef<M> {
    /// A reference to `port_id`, trusted to carry `M`.
    pub fn attest(port_id: PortId) -> Self {
        Self {
            port_id,
            message: PhantomData,
        }
    }

    /// The handler port of message type `M` on `actor_id`.
    pub fn attest_message_port(actor_id: &ActorId) -> Self
    where
        M: 'static,
    {
        Self::attest(actor_id.port_id(handler_port_index::<M>()))
    }

    /// The referenced port.
    pub fn port_id(&self) -> &PortId {
        &self.port_id
    }
}

/// Encode `message` into an envelope from `cx` to `dest`, stamped by
/// `stamp` (the destination moves into the envelope: no id is cloned).
pub(crate) fn envelope_for<M: RemoteMessage>(
    cx: &impl SendContext,
    dest: PortId,
    stamp: impl FnOnce(&PortId) -> SeqInfo,
    message: M,
) -> Result<MessageEnvelope, SendError<M>> {
    let outbox = cx.outbox();
    let limit = outbox.proc().config().message_bytes_max;
    match codec::encode(&message, limit) {
        // Stamped only once encoding succeeded: a refused message must not
        // use up a seq, or every later one would wait behind the gap (SEQ-0).
        Ok(bytes) => {
            let headers = Headers::new(stamp(&dest));
            Ok(MessageEnvelope::new(
                outbox.actor_id().clone(),
                dest,
                headers,
                std::any::type_name::<M>(),
                Payload::Serialized(bytes),
            ))
        }
        Err(error) => {
            let reason = UndeliverableReason::from_codec(error, std::any::type_name::<M>());
            Err(SendError::new(message, reason))
        }
    }
}

impl<M: RemoteMessage> PortRef<M> {
    /// Send `message` by reference: it is encoded, sequenced for the port's
    /// receiving domain, and routed by `cx`'s proc. Failures after this point
    /// come back to the sender as undeliverable.
    pub fn send(&self, cx: &impl SendContext, message: M) -> Result<(), SendError<M>> {
        send_by_reference(cx, self.port_id.clone(), message)
    }
}

/// [`PortRef::send`] to `dest`, taken by value so a caller that builds the
/// id for this one send (an [`ActorRef`](crate::ActorRef)) moves it into
/// the envelope.
pub(crate) fn send_by_reference<M: RemoteMessage>(
    cx: &impl SendContext,
    dest: PortId,
    message: M,
) -> Result<(), SendError<M>> {
    let stamp = |dest: &PortId| {
        if ReceivingDomain::is_sequenced(dest) {
            cx.outbox().next_seq(dest)
        } else {
            SeqInfo::Direct
        }
    };
    let envelope = envelope_for(cx, dest, stamp, message)?;
    crate::observe::sent(
        cx.outbox().actor_id(),
        envelope.dest(),
        envelope.headers().seq_info(),
        std::any::type_name::<M>(),
    );
    cx.outbox().post(envelope);
    Ok(())
}

/// Receives the messages of a port opened with `open_port`.
///
/// Dropping the receiver closes the port: messages it queued but never handed
/// over go back to their senders as undeliverable (`PortClosed`, UD-1); later
/// sends through a handle are refused with the same reason, and sends by
/// reference find the port unbound (`PortUnbound`). With every handle gone
/// (and the port not bound), `recv` fails.
pub struct PortReceiver<M: Message> {
    receiver: mpsc::UnboundedReceiver<Queued<M>>,
    /// What the receiver shares with the sink in front of the queue (not
    /// the queue's sender: with every handle gone, `recv` must fail).
    shared: Arc<QueueShared<M>>,
    mailbox: Weak<MailboxState>,
}

/// A message in a port's queue, with what it takes to return it (UD-1).
pub(crate) struct Queued<M> {
    message: M,
    headers: Headers,
    sender: ActorId,
}

/// Send a message that `port_id` took but never handed over back to its
/// sender as undeliverable (`PortClosed`). Only its type survives: local
/// messages were never encoded.
fn return_queued<M>(returns: &ReturnPath, port_id: &PortId, queued: Queued<M>) {
    let envelope = MessageEnvelope::new(
        queued.sender,
        port_id.clone(),
        queued.headers,
        std::any::type_name::<M>(),
        Payload::LocalOnly,
    );
    let reason = UndeliverableReason::PortClosed {
        port_id: port_id.clone(),
    };
    returns.send_back(envelope, reason);
}

/// The port's sender side is gone (the port can never receive again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("port {port_id} is closed")]
pub struct RecvError {
    /// The port.
    pub port_id: PortId,
}

impl<M: Message> PortReceiver<M> {
    /// The port's id.
    pub fn port_id(&self) -> &PortId {
        &self.shared.port_id
    }

    /// Wait for the next message.
    pub async fn recv(&mut self) -> Result<M, RecvError> {
        match self.receiver.recv().await {
            Some(queued) => Ok(queued.message),
            None => Err(RecvError {
                port_id: self.shared.port_id.clone(),
            }),
        }
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<M> {
        self.receiver.try_recv().ok().map(|queued| queued.message)
    }

    /// Every message queued now.
    pub fn drain(&mut self) -> Vec<M> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }
}

impl<M: Message> fmt::Debug for PortReceiver<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortReceiver({})", self.shared.port_id)
    }
}

impl<M: Message> Drop for PortReceiver<M> {
    fn drop(&mut self) {
        if let Some(mailbox) = self.mailbox.upgrade() {
            Mailbox { state: mailbox }.unregister(self.shared.port_id.index());
        }
        // Closed first, so every message is either refused at the door or
        // still here to be returned (the sink checks again after admitting).
        self.receiver.close();
        while let Ok(queued) = self.receiver.try_recv() {
            self.shared.return_queued(queued);
        }
        self.shared.return_buffered();
    }
}

/// A port's queue, behind the port's own ordering stage (its own domain, SEQ-0).
pub(crate) struct QueueSink<M> {
    shared: Arc<QueueShared<M>>,
    sender: mpsc::UnboundedSender<Queued<M>>,
}

/// The part of a queue port both its sink and its receiver hold.
struct QueueShared<M> {
    port_id: PortId,
    inbound: Inbound<Queued<M>>,
    returns: ReturnPath,
}

impl<M> QueueShared<M> {
    fn return_queued(&self, queued: Queued<M>) {
        return_queued(&self.returns, &self.port_id, queued);
    }

    /// Return what the reorder buffer holds (the receiver is gone, so the
    /// gap it waits on would never be handed over).
    fn return_buffered(&self) {
        for queued in self.inbound.take_buffered() {
            self.return_queued(queued);
        }
    }
}

impl<M: Message> PortSink<M> for QueueSink<M> {
    fn deliver(
        &self,
        message: M,
        headers: Headers,
        sender: &ActorId,
    ) -> Result<(), (M, UndeliverableReason)> {
        if self.sender.is_closed() {
            let reason = UndeliverableReason::PortClosed {
                port_id: self.shared.port_id.clone(),
            };
            return Err((message, reason));
        }
        let seq_info = headers.seq_info();
        let queued = Queued {
            message,
            headers,
            sender: sender.clone(),
        };
        let admitted = self
            .shared
            .inbound
            .admit(seq_info, queued, |queued| self.release(queued))
            .map_err(|(queued, error)| (queued.message, error.into()));
        if self.sender.is_closed() {
            // Buffered after the receiver took the buffer's contents.
            self.shared.return_buffered();
        }
        admitted
    }

    fn skip(&self, seq_info: SeqInfo) -> bool {
        self.shared
            .inbound
            .skip(seq_info, |queued| self.release(queued))
    }
}

impl<M: Message> QueueSink<M> {
    /// Queue what the ordering stage released; if the receiver closed
    /// meanwhile, it goes back to its sender.
    fn release(&self, queued: Queued<M>) {
        if let Err(mpsc::error::SendError(queued)) = self.sender.send(queued) {
            self.shared.return_queued(queued);
        }
    }
}

/// A port served by a closure, called in order with each message and its
/// headers, outside the port's ordering lock (SEQ-7).
pub(crate) struct EnqueueSink<M> {
    inbound: ServedInbound<(M, Headers)>,
}

impl<M: Message> PortSink<M> for EnqueueSink<M> {
    fn deliver(
        &self,
        message: M,
        headers: Headers,
        _sender: &ActorId,
    ) -> Result<(), (M, UndeliverableReason)> {
        let seq_info = headers.seq_info();
        self.inbound
            .admit(seq_info, (message, headers))
            .map_err(|((message, _), error)| (message, error.into()))
    }

    fn skip(&self, seq_info: SeqInfo) -> bool {
        self.inbound.skip(seq_info)
    }
}

impl Mailbox {
    /// Open an ephemeral port and its receiver.
    pub fn open_port<M: Message>(&self) -> (PortHandle<M>, PortReceiver<M>) {
        let port_id = self.allocate_port();
        self.open_queue_port(port_id, self.state.reorder)
    }

    fn open_queue_port<M: Message>(
        &self,
        port_id: PortId,
        reorder: Option<ReorderLimits>,
    ) -> (PortHandle<M>, PortReceiver<M>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(QueueShared {
            port_id: port_id.clone(),
            inbound: Inbound::new(reorder),
            returns: self.return_path(),
        });
        let sink = Arc::new(QueueSink {
            shared: shared.clone(),
            sender,
        });
        let handle = PortHandle::new(port_id, Arc::default(), sink, self);
        let receiver = PortReceiver {
            receiver,
            shared,
            mailbox: Arc::downgrade(&self.state),
        };
        (handle, receiver)
    }

    /// Open an unordered port at a fixed index, registered for delivery by
    /// reference: control traffic (introspection) that bypasses the work queue.
    pub(crate) fn open_control_port<M: RemoteMessage>(
        &self,
        index: u64,
    ) -> (PortHandle<M>, PortReceiver<M>) {
        let port_id = self.state.actor_id.port_id(index);
        let (handle, receiver) = self.open_queue_port(port_id, None);
        handle.register();
        (handle, receiver)
    }

    /// Open an ephemeral port whose messages are handed, in order, to `serve`.
    ///
    /// `serve` is never called on two threads at once, and never under a
    /// lock of the port (SEQ-7), so it may send to this port or to one that
    /// sends back: such a message is served once the current call returns.
    /// A send to the port may therefore return before `serve` has seen its
    /// message, and `serve` may run on the thread of another sender, which
    /// serves whatever is waiting before its send returns. If `serve`
    /// panics, the panic unwinds into the sender that was serving and that
    /// message is lost; what still waits is served by the next send.
    pub fn open_enqueue_port<M: Message>(
        &self,
        serve: impl Fn(Headers, M) + Send + Sync + 'static,
    ) -> PortHandle<M> {
        let port_id = self.allocate_port();
        let sink = Arc::new(EnqueueSink {
            inbound: ServedInbound::new(self.state.reorder, move |(message, headers)| {
                serve(headers, message)
            }),
        });
        PortHandle::new(port_id, Arc::default(), sink, self)
    }

    /// Open a port that accepts at most one message (PORT-2).
    pub fn open_once_port<M: Message>(&self) -> (OncePortHandle<M>, OncePortReceiver<M>) {
        let port_id = self.allocate_port();
        let (sender, receiver) = oneshot::channel();
        let state = Arc::new(OnceState {
            port_id: port_id.clone(),
            sender: Mutex::new(Some(sender)),
            mailbox: Arc::downgrade(&self.state),
        });
        let receiver = OncePortReceiver {
            port_id,
            receiver: Some(receiver),
            returns: self.return_path(),
        };
        (OncePortHandle { state }, receiver)
    }
}

struct OnceState<M> {
    port_id: PortId,
    sender: Mutex<Option<oneshot::Sender<Queued<M>>>>,
    mailbox: Weak<MailboxState>,
}

impl<M: Message> OnceState<M> {
    fn deliver(
        &self,
        message: M,
        headers: Headers,
        from: &ActorId,
    ) -> Result<(), (M, UndeliverableReason)> {
        let sender = self.sender.lock().take();
        if let Some(mailbox) = self.mailbox.upgrade() {
            let mailbox = Mailbox { state: mailbox };
            // Spent first: a duplicate racing in between is then dropped,
            // never returned as "unbound" (PORT-3).
            mailbox.mark_once_port_spent(self.port_id.index());
            mailbox.unregister(self.port_id.index());
        }
        let reason = || UndeliverableReason::PortClosed {
            port_id: self.port_id.clone(),
        };
        let queued = Queued {
            message,
            headers,
            sender: from.clone(),
        };
        match sender {
            Some(sender) => sender
                .send(queued)
                .map_err(|queued| (queued.message, reason())),
            None => Err((queued.message, reason())),
        }
    }
}

impl<M: RemoteMessage> SerializedPort for OnceState<M> {
    fn deliver_encoded(
        &self,
        type_name: &str,
        payload: Option<&[u8]>,
        seq_info: SeqInfo,
        sender: &ActorId,
        limit_bytes: u64,
    ) -> Result<(), UndeliverableReason> {
        let message = decode_payload::<M>(&self.port_id, type_name, payload, limit_bytes)?;
        self.deliver(message, Headers::new(seq_info), sender)
            .map_err(|(_message, reason)| reason)
    }
}

/// A local handle to a once port; sending consumes it.
pub struct OncePortHandle<M> {
    state: Arc<OnceState<M>>,
}

impl<M> fmt::Debug for OncePortHandle<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OncePortHandle({})", self.state.port_id)
    }
}

impl<M: Message> OncePortHandle<M> {
    /// The port's id.
    pub fn port_id(&self) -> &PortId {
        &self.state.port_id
    }

    /// Send the one message. Once ports are `Direct` (a single message has no
    /// order to keep).
    pub fn send(self, cx: &impl SendContext, message: M) -> Result<(), SendError<M>> {
        self.state
            .deliver(message, Headers::default(), cx.outbox().actor_id())
            .map_err(|(message, reason)| SendError::new(message, reason))
    }
}

impl<M: RemoteMessage> OncePortHandle<M> {
    /// Make the port reachable by reference.
    pub fn bind(self) -> OncePortRef<M> {
        if let Some(mailbox) = self.state.mailbox.upgrade() {
            Mailbox { state: mailbox }.register(self.state.port_id.index(), self.state.clone());
        }
        OncePortRef {
            port_id: self.state.port_id.clone(),
            message: PhantomData,
        }
    }
}

/// A serializable reference to a once port.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct OncePortRef<M> {
    port_id: PortId,
    #[serde(skip)]
    message: PhantomData<fn() -> M>,
}

impl<M> fmt::Debug for OncePortRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OncePortRef({})", self.port_id)
    }
}

impl<M> Clone for OncePortRef<M> {
    fn clone(&self) -> Self {
        Self {
            port_id: self.port_id.clone(),
            message: PhantomData,
        }
    }
}

impl<M: RemoteMessage> OncePortRef<M> {
    /// The referenced port.
    pub fn port_id(&self) -> &PortId {
        &self.port_id
    }

    /// Send the one message by reference.
    pub fn send(self, cx: &impl SendContext, message: M) -> Result<(), SendError<M>> {
        let envelope = envelope_for(cx, self.port_id, |_| SeqInfo::Direct, message)?;
        cx.outbox().post(envelope);
        Ok(())
    }
}

/// Receives the one message of a once port.
///
/// Dropped unread, it closes the port; a message that had already arrived
/// goes back to its sender as undeliverable (`PortClosed`, UD-1).
pub struct OncePortReceiver<M> {
    port_id: PortId,
    /// Cleared when `recv` ends; still here on drop means never read.
    receiver: Option<oneshot::Receiver<Queued<M>>>,
    returns: ReturnPath,
}

impl<M> OncePortReceiver<M> {
    /// The port's id.
    pub fn port_id(&self) -> &PortId {
        &self.port_id
    }

    /// Wait for the message; fails if every handle and reference is gone.
    /// Dropping the wait (a timeout, a `select!`) drops the receiver, so a
    /// message that had arrived goes back to its sender.
    pub async fn recv(mut self) -> Result<M, RecvError> {
        let receiver = self.receiver.as_mut().expect("present until `recv` ends");
        let received = receiver.await;
        // Handed over (or never coming): nothing left for `drop` to return.
        self.receiver = None;
        match received {
            Ok(queued) => Ok(queued.message),
            Err(_) => Err(RecvError {
                port_id: self.port_id.clone(),
            }),
        }
    }
}

impl<M> fmt::Debug for OncePortReceiver<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OncePortReceiver({})", self.port_id)
    }
}

impl<M> Drop for OncePortReceiver<M> {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if let Ok(queued) = receiver.try_recv() {
                return_queued(&self.returns, &self.port_id, queued);
            }
        }
    }
}
