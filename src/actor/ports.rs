//! How messages reach an actor: its handler ports and its work queue.
//!
//! Owns: [`Ports`] (one [`PortHandle`] per handled message type, created on
//! first use), the actor's inbox (ordering stage + work queue), and the
//! type-erased [`Work`] items the run loop consumes.
//!
//! SEQ-0: every handler port of one actor feeds one ordering stage, so sends
//! through the handle, an `ActorRef` or a `PortRef` share one counter.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;

use super::queue::{Doorbell, QueueReceiver, QueueSender, queue_counting};
use super::{Actor, Handler, HandlerError};
use crate::id::{ActorId, handler_port_index};
use crate::mailbox::{
    Headers, Mailbox, Message, MessageEnvelope, Payload, PortHandle, PortSink, RemoteMessage,
    ReturnPath, Undeliverable, UndeliverableReason,
};
use crate::proc::{Context, Instance};
use crate::sequencing::{OrderingStage, SeqInfo};
use crate::sync::Mutex;

/// A message, erased to "something actor `A` can handle".
pub(crate) trait Dispatch<A: Actor>: Send {
    fn type_name(&self) -> &'static str;
    fn dispatch<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        cx: &'a Context<A>,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

struct Typed<M>(M);

impl<A: Handler<M>, M: Message> Dispatch<A> for Typed<M> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<M>()
    }

    fn dispatch<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        cx: &'a Context<A>,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(actor.handle(cx, self.0))
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// A call run on the actor by the loop, in queue order (e.g. checkpoint saves).
pub(crate) type Call<A> =
    Box<dyn for<'a> FnOnce(&'a mut A, &'a Instance<A>) -> BoxFuture<'a, ()> + Send>;

/// One item of an actor's work queue.
pub(crate) enum Work<A: Actor> {
    /// A message for one of its handlers.
    Message {
        headers: Headers,
        sender: ActorId,
        body: Box<dyn Dispatch<A>>,
    },
    /// A message it sent, returned (boxed: rare, and large next to the rest).
    Undeliverable(Box<Undeliverable<MessageEnvelope>>),
    /// A runtime call.
    Call(Call<A>),
}

impl<A: Actor> Work<A> {
    /// Whether this is a message sequenced in a session (not `Direct`):
    /// what the work queue counts apart.
    fn is_sequenced(&self) -> bool {
        matches!(self, Work::Message { headers, .. }
            if matches!(headers.seq_info(), SeqInfo::Session { .. }))
    }

    /// What to return to the sender when this work is abandoned or refused.
    pub(crate) fn into_returnable(self, dest: &ActorId) -> Option<MessageEnvelope> {
        match self {
            Work::Message {
                headers,
                sender,
                body,
            } => {
                let type_name = body.type_name();
                Some(MessageEnvelope::new(
                    sender,
                    dest.port_id(crate::id::HANDLER_PORT_BIT),
                    headers,
                    type_name,
                    Payload::LocalOnly,
                ))
            }
            // A returned message that cannot be handled is not returned again.
            Work::Undeliverable(undeliverable) => {
                tracing::error!(
                    actor = %dest,
                    undeliverable = %undeliverable,
                    "actor terminated before handling a returned message"
                );
                None
            }
            Work::Call(_) => None,
        }
    }
}

/// An actor's work queue, with the ordering stage in front of it kept
/// under the queue's lock (one lock from admission to queue).
pub(crate) type WorkQueue<A> = QueueReceiver<Work<A>, OrderingStage<Work<A>>>;

/// An actor's inbox: the ordering stage in front of its work queue.
pub(crate) struct ActorInbox<A: Actor> {
    actor_id: ActorId,
    /// The work queue; its stage is the ordering stage.
    sender: QueueSender<Work<A>, OrderingStage<Work<A>>>,
    /// The mailbox's return path: what goes back from a proc that crashed
    /// is logged as lost with it instead (NET-4).
    returns: ReturnPath,
}

impl<A: Actor> ActorInbox<A> {
    pub(crate) fn new(actor_id: ActorId, mailbox: &Mailbox) -> (Arc<Self>, WorkQueue<A>) {
        let limits = mailbox.reorder_limits();
        let (sender, receiver) =
            queue_counting(Some(Work::is_sequenced), OrderingStage::new(limits));
        let inbox = Arc::new(Self {
            actor_id,
            sender,
            returns: mailbox.return_path(),
        });
        (inbox, receiver)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// What the actor's control queues ring: its work queue, whose lock
    /// holds the loop's waker.
    pub(crate) fn doorbell(&self) -> Arc<dyn Doorbell> {
        self.sender.doorbell()
    }

    /// The actor whose inbox this is.
    pub(crate) fn actor_id(&self) -> &ActorId {
        &self.actor_id
    }

    /// Messages released to the work queue and not yet taken by the loop.
    pub(crate) fn queue_depth(&self) -> usize {
        self.sender.len()
    }

    /// Sequenced messages it holds, not yet handled: queued or
    /// buffered behind a gap, read under one lock.
    pub(crate) fn sequenced_held(&self) -> usize {
        self.sender.counted_len_and(|stage| stage.buffered_total())
    }

    /// Read the ordering stage (under the work queue's lock).
    pub(crate) fn ordering<R>(&self, read: impl FnOnce(&mut OrderingStage<Work<A>>) -> R) -> R {
        self.sender.with_stage(read)
    }

    /// Admit `work` through the ordering stage into the queue: one lock
    /// for both, so concurrent senders can't interleave a release out of
    /// order.
    pub(crate) fn enqueue(
        &self,
        seq_info: SeqInfo,
        work: Work<A>,
    ) -> Result<(), (Work<A>, UndeliverableReason)> {
        let mut duplicate = None;
        let (admitted, refused) = self.sender.send_through(|stage, queue| {
            if !stage.reorders() && seq_info != SeqInfo::Direct {
                // SEQ-6: traced under the queue's lock, so the traced
                // arrival order is the queue's order on any runtime.
                crate::observe::arrived(&self.actor_id, seq_info);
            }
            if queue.is_closed() {
                // UD-1: the loop is gone and took what the stage held; a
                // message admitted now could wait behind a gap for ever.
                let reason = UndeliverableReason::ActorTerminated {
                    actor_id: self.actor_id.clone(),
                };
                return Err((work, reason));
            }
            stage
                .admit(seq_info, work, |work| queue.push(work), &mut duplicate)
                .map_err(|(work, error)| (work, error.into()))
        });
        // A duplicate (SEQ-3) is dropped here, with the queue's lock
        // released: its message's `Drop` may send to this very actor.
        drop(duplicate);
        self.return_refused(refused);
        admitted
    }

    /// Fill the slot of a message refused on its way here (CH-13), so what
    /// waited behind it is handled; whether a slot was filled.
    pub(crate) fn skip(&self, seq_info: SeqInfo) -> bool {
        let (skipped, refused) = self.sender.send_through(|stage, queue| {
            // Nothing waits for a slot once the loop is gone.
            !queue.is_closed() && stage.skip(seq_info, |work| queue.push(work))
        });
        self.return_refused(refused);
        skipped
    }

    /// The queue closed while releasing (the actor just terminated):
    /// everything released late goes back to its sender (UD-1).
    fn return_refused(&self, refused: Vec<Work<A>>) {
        for work in refused {
            self.return_to_sender(
                work,
                UndeliverableReason::ActorTerminated {
                    actor_id: self.actor_id.clone(),
                },
            );
        }
    }

    /// Send `work` back to whoever sent it, through the mailbox's return
    /// path: nothing goes back from a proc that crashed (NET-4), even one
    /// that crashes while this runs on another thread.
    pub(crate) fn return_to_sender(&self, work: Work<A>, reason: UndeliverableReason) {
        if let Some(envelope) = work.into_returnable(&self.actor_id) {
            self.returns.send_back(envelope, reason);
        }
    }
}

/// Delivers messages of type `M` into an actor's inbox.
struct HandlerSink<A: Actor> {
    inbox: Arc<ActorInbox<A>>,
}

impl<A: Handler<M>, M: Message> PortSink<M> for HandlerSink<A> {
    fn deliver(
        &self,
        message: M,
        headers: Headers,
        sender: &ActorId,
    ) -> Result<(), (M, UndeliverableReason)> {
        if self.inbox.is_closed() {
            let reason = UndeliverableReason::ActorTerminated {
                actor_id: self.inbox.actor_id.clone(),
            };
            return Err((message, reason));
        }
        let seq_info = headers.seq_info();
        let work = Work::Message {
            headers,
            sender: sender.clone(),
            body: Box::new(Typed(message)),
        };
        self.inbox
            .enqueue(seq_info, work)
            .map_err(|(work, reason)| {
                let Work::Message { body, .. } = work else {
                    unreachable!("a handler port only enqueues messages")
                };
                let Ok(typed) = body.into_any().downcast::<Typed<M>>() else {
                    unreachable!("a handler port only enqueues its own message type")
                };
                (typed.0, reason)
            })
    }

    fn skip(&self, seq_info: SeqInfo) -> bool {
        self.inbox.skip(seq_info)
    }
}

/// Delivers returned messages into an actor's work queue (control traffic: `Direct`).
struct UndeliverableSink<A: Actor> {
    inbox: Arc<ActorInbox<A>>,
}

impl<A: Actor> PortSink<Undeliverable<MessageEnvelope>> for UndeliverableSink<A> {
    fn deliver(
        &self,
        message: Undeliverable<MessageEnvelope>,
        _headers: Headers,
        _sender: &ActorId,
    ) -> Result<(), (Undeliverable<MessageEnvelope>, UndeliverableReason)> {
        self.inbox
            .enqueue(SeqInfo::Direct, Work::Undeliverable(Box::new(message)))
            .map_err(|(work, reason)| match work {
                Work::Undeliverable(message) => (*message, reason),
                _ => unreachable!("only undeliverables are enqueued here"),
            })
    }
}

/// An actor's handler ports, one per message type, created on first use.
pub struct Ports<A: Actor> {
    inbox: Arc<ActorInbox<A>>,
    mailbox: Mailbox,
    bound: Arc<AtomicBool>,
    handles: Mutex<BTreeMap<u64, Box<dyn Any + Send + Sync>>>,
}

impl<A: Actor> Ports<A> {
    pub(crate) fn new(inbox: Arc<ActorInbox<A>>, mailbox: Mailbox) -> Self {
        Self {
            inbox,
            mailbox,
            bound: Arc::new(AtomicBool::new(false)),
            handles: Mutex::new(BTreeMap::new()),
        }
    }

    /// The handler port for `M`.
    pub fn get<M: Message>(&self) -> PortHandle<M>
    where
        A: Handler<M>,
    {
        let index = handler_port_index::<M>();
        let mut handles = self.handles.lock();
        if let Some(handle) = handles.get(&index) {
            return handle
                .downcast_ref::<PortHandle<M>>()
                .unwrap_or_else(|| {
                    panic!(
                        "handler port index collision for {}",
                        std::any::type_name::<M>()
                    )
                })
                .clone();
        }
        let sink = Arc::new(HandlerSink {
            inbox: self.inbox.clone(),
        });
        let port_id = self.inbox.actor_id.port_id(index);
        let handle = PortHandle::new(port_id, self.bound.clone(), sink, &self.mailbox);
        handles.insert(index, Box::new(handle.clone()));
        handle
    }

    /// Make the handler for `M` reachable by reference.
    pub fn bind<M: RemoteMessage>(&self)
    where
        A: Handler<M>,
    {
        self.get::<M>().register();
    }

    /// The port returned messages arrive on.
    pub(crate) fn undeliverable_port(&self) -> PortHandle<Undeliverable<MessageEnvelope>> {
        let index = handler_port_index::<Undeliverable<MessageEnvelope>>();
        let sink = Arc::new(UndeliverableSink {
            inbox: self.inbox.clone(),
        });
        let handle = PortHandle::new(
            self.inbox.actor_id.port_id(index),
            Arc::new(AtomicBool::new(false)),
            sink,
            &self.mailbox,
        );
        handle.register();
        handle
    }

    /// Mark the actor bound: from now on, handle sends are sequenced (PORT-1).
    pub(crate) fn mark_bound(&self) {
        self.bound.store(true, Ordering::Release);
    }

    pub(crate) fn inbox(&self) -> &Arc<ActorInbox<A>> {
        &self.inbox
    }

    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }
}

#[cfg(all(test, not(lockstep_loom)))]
mod tests {
    use super::*;
    use crate::id::ProcId;
    use crate::sequencing::ReorderLimits;

    struct Idle;
    impl Actor for Idle {}

    fn call() -> Work<Idle> {
        Work::Call(Box::new(|_, _| Box::pin(async {})))
    }

    /// Seq `seq` of one session.
    fn session(seq: u64) -> SeqInfo {
        SeqInfo::Session { session_id: 7, seq }
    }

    /// An inbox with the reorder buffer on, its mailbox (kept alive) and
    /// its work queue.
    fn reordering_inbox() -> (Mailbox, Arc<ActorInbox<Idle>>, WorkQueue<Idle>) {
        let actor_id = ProcId::local("p").unwrap().actor_id("a", 0).unwrap();
        let reorder = Some(ReorderLimits::default());
        let mailbox = Mailbox::new(actor_id.clone(), reorder, 1 << 20, None);
        let (inbox, work) = ActorInbox::<Idle>::new(actor_id, &mailbox);
        (mailbox, inbox, work)
    }

    /// UD-1: once the loop closed its work queue (and took what the
    /// ordering stage held), a sequenced message that arrives out of order
    /// is refused at once, not buffered behind a gap nobody will close; a
    /// slot refused on its way fills nothing.
    #[test]
    fn ud_1_a_message_admitted_after_the_loop_closed_is_refused_not_held() {
        let (_mailbox, inbox, mut work) = reordering_inbox();
        let ahead = session(2);
        assert!(
            inbox.enqueue(ahead, call()).is_ok(),
            "buffered behind seq 1"
        );
        assert_eq!(inbox.ordering(|stage| stage.buffered_total()), 1);
        work.close();
        let taken = inbox.ordering(|stage| stage.take_buffered());
        assert_eq!(taken.len(), 1, "the loop takes what was held");
        let later = session(3);
        let refused = inbox.enqueue(later, call());
        assert!(
            matches!(
                refused,
                Err((_, UndeliverableReason::ActorTerminated { .. }))
            ),
            "refused, not buffered"
        );
        assert_eq!(inbox.ordering(|stage| stage.buffered_total()), 0);
        assert!(!inbox.skip(session(1)));
    }

    /// Sends a call to `inbox` when dropped (user code in a message's
    /// `Drop` may send to the very actor that drops it).
    struct SendsOnDrop(Arc<ActorInbox<Idle>>);

    impl Drop for SendsOnDrop {
        fn drop(&mut self) {
            let _ = self.0.enqueue(SeqInfo::Direct, call());
        }
    }

    /// SEQ-3 without a deadlock: a duplicate is dropped once the work
    /// queue's lock is released, so a message whose `Drop` sends to the
    /// same actor does not wait on a lock its own thread holds. (Run on a
    /// thread of its own, so a regression fails the test instead of
    /// hanging it.)
    #[test]
    fn seq_3_a_duplicate_whose_drop_sends_to_the_same_actor_does_not_deadlock() {
        let (mailbox, inbox, mut work) = reordering_inbox();
        let first = session(1);
        assert!(inbox.enqueue(first, call()).is_ok());
        let (done, finished) = std::sync::mpsc::channel();
        let sender = inbox.clone();
        #[expect(
            clippy::disallowed_methods,
            reason = "a watchdog thread, so a deadlock fails the test instead of hanging it"
        )]
        std::thread::spawn(move || {
            let guard = SendsOnDrop(sender.clone());
            let duplicate = Work::Call(Box::new(move |_, _| {
                let _guard = &guard;
                Box::pin(async {})
            }));
            let admitted = sender.enqueue(first, duplicate).is_ok();
            let _ = done.send(admitted);
        });
        let Ok(admitted) = finished.recv_timeout(std::time::Duration::from_secs(10)) else {
            // The stuck thread holds the queue's lock for ever: leak what
            // would take it when dropped, so the test fails, not hangs.
            std::mem::forget((work, inbox, mailbox));
            panic!("dropping the duplicate deadlocked on the work queue's lock");
        };
        assert!(
            admitted,
            "a duplicate is admitted (and dropped), not refused"
        );
        let taken = std::iter::from_fn(|| work.try_recv()).count();
        assert_eq!(
            taken, 2,
            "the first copy, and what the duplicate's drop sent"
        );
    }
}
