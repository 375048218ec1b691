//! Instances and the actor run loop.
//!
//! Owns: [`Instance`] (an actor's identity, ports and sender side),
//! [`Context`] (the instance plus the current message's headers), and the
//! loop that runs `init`, handles one message at a time, obeys signals
//! (which outrank messages), handles children's supervision events and
//! shuts down in order.
//!
//! LC-2: `init` completes before the first message is handled.
//! LC-3: a handler error or panic fails the actor with its message; `cleanup`
//! does not run after a panic.
//! LC-4: `Stop` abandons queued work and `DrainAndStop` handles everything
//! queued before it; either way, work left in the queue at the end goes back
//! to its senders (UD-1).
//! SV-1, SV-2, SV-3: see `supervision`.

use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;

use futures::FutureExt;
use tokio::sync::mpsc;

use super::{InstanceCell, Proc, ProcError, Startup, new_outbox};
use crate::actor::queue::QueueReceiver;
use crate::actor::{
    Actor, ActorError, ActorErrorKind, ActorHandle, ActorInbox, ActorStatus, Binds, HandlerInfo,
    Ports, Signal, Work, WorkQueue,
};
use crate::context::{Outbox, SendContext};
use crate::id::ActorId;
use crate::mailbox::{
    Headers, Mailbox, Message, MessageEnvelope, OncePortHandle, OncePortReceiver, PortHandle,
    PortReceiver, Undeliverable, UndeliverableReason,
};
use crate::reference::ActorRef;
use crate::rt;
use crate::sequencing::{ReceivingDomain, Sequencer};
use crate::supervision::ActorSupervisionEvent;
use crate::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a client instance's returned messages go. The channel is made
/// only when the client takes its receiver: a client that never does (most
/// are short-lived) allocates nothing for it.
pub(crate) enum ReturnsQueue {
    /// Not taken yet: what came back so far, oldest first (an empty `Vec`
    /// allocates nothing).
    Waiting(Vec<Undeliverable<MessageEnvelope>>),
    /// Taken: returns go to the receiver (if the client dropped it, the
    /// warning logged for each return is the record).
    Taken(mpsc::UnboundedSender<Undeliverable<MessageEnvelope>>),
    /// The client instance was dropped before taking its receiver: nobody
    /// can read returns any more (the warning logged for each is the
    /// record), so none is kept.
    Closed,
}

impl Default for ReturnsQueue {
    fn default() -> Self {
        ReturnsQueue::Waiting(Vec::new())
    }
}

impl ReturnsQueue {
    /// Hand `returned` to the client.
    pub(crate) fn push(&mut self, returned: Undeliverable<MessageEnvelope>) {
        match self {
            ReturnsQueue::Waiting(waiting) => waiting.push(returned),
            ReturnsQueue::Taken(sender) => {
                let _ = sender.send(returned);
            }
            ReturnsQueue::Closed => drop(returned),
        }
    }

    /// The client instance is gone: drop what waits for a receiver nobody
    /// can take now (a receiver already taken keeps its returns coming).
    /// Returns what to drop, for the caller to drop unlocked.
    fn close(&mut self) -> Option<Vec<Undeliverable<MessageEnvelope>>> {
        let ReturnsQueue::Waiting(waiting) = self else {
            return None;
        };
        let waiting = std::mem::take(waiting);
        *self = ReturnsQueue::Closed;
        Some(waiting)
    }

    /// The receiver, with whatever came back before it was asked for; `None`
    /// once taken.
    fn take_receiver(&mut self) -> Option<mpsc::UnboundedReceiver<Undeliverable<MessageEnvelope>>> {
        let waiting = match std::mem::take(self) {
            ReturnsQueue::Waiting(waiting) => waiting,
            kept @ (ReturnsQueue::Taken(_) | ReturnsQueue::Closed) => {
                *self = kept;
                return None;
            }
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        for returned in waiting {
            let _ = sender.send(returned); // the receiver is right here
        }
        *self = ReturnsQueue::Taken(sender);
        Some(receiver)
    }
}

/// A client instance's queue of returned messages.
pub(crate) struct ClientState {
    returns: Arc<Mutex<ReturnsQueue>>,
}

impl ClientState {
    pub(crate) fn new(returns: Arc<Mutex<ReturnsQueue>>) -> Self {
        Self { returns }
    }
}

struct InstanceState<A: Actor> {
    cell: InstanceCell,
    ports: Arc<Ports<A>>,
    outbox: Outbox,
    client: Option<ClientState>,
}

impl<A: Actor> Drop for InstanceState<A> {
    fn drop(&mut self) {
        if let Some(client) = &self.client {
            let state = &self.cell.state;
            let unread = client.returns.lock().close();
            drop(unread);
            state.mailbox.close();
            self.outbox.proc().forget(&state.actor_id);
            state
                .status
                .set_unless_terminal(ActorStatus::Stopped("client instance dropped".into()));
        }
    }
}

/// An actor's own view of itself: identity, ports, the capability to send
/// and to spawn children. Cheap to clone.
pub struct Instance<A: Actor> {
    state: Arc<InstanceState<A>>,
}

impl<A: Actor> Clone for Instance<A> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }
}

impl<A: Actor> std::fmt::Debug for Instance<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Instance({})", self.self_id())
    }
}

impl<A: Actor> Instance<A> {
    pub(crate) fn new(
        cell: InstanceCell,
        ports: Arc<Ports<A>>,
        proc: Proc,
        client: Option<ClientState>,
    ) -> Self {
        let outbox = new_outbox(cell.actor_id().clone(), proc);
        Self {
            state: Arc::new(InstanceState {
                cell,
                ports,
                outbox,
                client,
            }),
        }
    }

    /// This actor's id.
    pub fn self_id(&self) -> &ActorId {
        self.state.cell.actor_id()
    }

    /// The type-erased cell (status, family, introspection state).
    pub fn cell(&self) -> &InstanceCell {
        &self.state.cell
    }

    /// The proc this actor lives in.
    pub fn proc(&self) -> &Proc {
        self.state.outbox.proc()
    }

    /// This instance's sequencer (its session).
    pub fn sequencer(&self) -> &Sequencer<ReceivingDomain> {
        self.state.outbox.sequencer()
    }

    /// This actor's mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        self.state.ports.mailbox()
    }

    /// Open an ephemeral port and its receiver.
    pub fn open_port<M: Message>(&self) -> (PortHandle<M>, PortReceiver<M>) {
        self.mailbox().open_port()
    }

    /// Open a port that accepts one message.
    pub fn open_once_port<M: Message>(&self) -> (OncePortHandle<M>, OncePortReceiver<M>) {
        self.mailbox().open_once_port()
    }

    /// Open a port served, in order, by `serve`, never on two threads at
    /// once and outside the port's locks, so `serve` may send to it (see
    /// [`Mailbox::open_enqueue_port`](crate::mailbox::Mailbox::open_enqueue_port)).
    pub fn open_enqueue_port<M: Message>(
        &self,
        serve: impl Fn(Headers, M) + Send + Sync + 'static,
    ) -> PortHandle<M> {
        self.mailbox().open_enqueue_port(serve)
    }

    /// A handle to this actor.
    pub fn handle(&self) -> ActorHandle<A> {
        ActorHandle::new(self.state.cell.clone(), self.state.ports.clone())
    }

    /// A reference to this actor, binding the ports `R` exposes.
    pub fn bind<R: Binds<A>>(&self) -> ActorRef<R> {
        self.handle().bind()
    }

    /// Spawn a supervised child (it shares this actor's name, with a fresh pid).
    pub fn spawn<C: Actor>(&self, child: C) -> Result<ActorHandle<C>, ProcError> {
        self.proc().spawn_child(self.state.cell.clone(), child)
    }

    /// Spawn a supervised child with its own name.
    pub fn spawn_with_name<C: Actor>(
        &self,
        name: &str,
        child: C,
    ) -> Result<ActorHandle<C>, ProcError> {
        self.proc()
            .spawn_child_named(self.state.cell.clone(), name, child)
    }

    /// For client instances: take the queue of messages returned to this
    /// client as undeliverable (each is also logged as a warning).
    pub fn take_undeliverable_receiver(
        &self,
    ) -> Option<mpsc::UnboundedReceiver<Undeliverable<MessageEnvelope>>> {
        self.state.client.as_ref()?.returns.lock().take_receiver()
    }

    pub(crate) fn ports(&self) -> &Arc<Ports<A>> {
        &self.state.ports
    }
}

impl<A: Actor> SendContext for Instance<A> {
    fn outbox(&self) -> &Outbox {
        &self.state.outbox
    }
}

/// What a handler sees: its instance, plus the headers and sender of the
/// message being handled.
pub struct Context<A: Actor> {
    instance: Instance<A>,
    headers: Headers,
    sender: ActorId,
    /// The type name of the last handled message (to skip unchanged writes).
    last_handler: &'static str,
}

impl<A: Actor> Context<A> {
    /// Headers of the message being handled.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Who sent the message being handled.
    pub fn sender(&self) -> &ActorId {
        &self.sender
    }

    /// The instance.
    pub fn instance(&self) -> &Instance<A> {
        &self.instance
    }
}

impl<A: Actor> Deref for Context<A> {
    type Target = Instance<A>;
    fn deref(&self) -> &Instance<A> {
        &self.instance
    }
}

impl<A: Actor> SendContext for Context<A> {
    fn outbox(&self) -> &Outbox {
        &self.instance.state.outbox
    }
}

/// The queues the run loop reads.
pub(crate) struct Queues<A: Actor> {
    pub(crate) work: WorkQueue<A>,
    pub(crate) signals: QueueReceiver<Signal>,
    pub(crate) supervision: QueueReceiver<ActorSupervisionEvent>,
    /// What the loop still holds goes back to its senders if the loop is
    /// dropped after the actor's end was claimed (UD-1).
    pub(crate) held: HeldWork<A>,
}

/// How a loop dropped mid-way gives back the work it held: the actor's
/// inbox (its ordering stage and return path), and whether its end was
/// claimed (SV-1; a termination by force claims it before the abort).
pub(crate) struct HeldWork<A: Actor> {
    pub(crate) inbox: Arc<ActorInbox<A>>,
    pub(crate) end_claimed: Arc<AtomicBool>,
}

/// The loop is gone: let go of its waker (held by its work queue, Q-2). And
/// UD-1 once the actor's end was claimed: by a termination by force, whose
/// abort keeps the loop from draining in `finish` (it never gets there, or
/// `finish` returns early on the terminal status), so what it still held
/// (queued, in its batch, or buffered behind a gap) goes back to its
/// senders as `ActorTerminated` — if its proc crashed, the return path logs
/// each as lost with it instead (NET-4); or by the loop's own `finish`,
/// which closed and drained everything first, so nothing is left. A drop
/// with no claim (a world or runtime shutting down) returns nothing.
impl<A: Actor> Drop for Queues<A> {
    fn drop(&mut self) {
        self.work.clear_waker();
        if !self.held.end_claimed.load(Ordering::Acquire) {
            return;
        }
        self.work.close();
        let held = &self.held;
        let mut work: Vec<Work<A>> = std::iter::from_fn(|| self.work.try_recv()).collect();
        work.extend(held.inbox.ordering(|stage| stage.take_buffered()));
        for work in work {
            let reason = UndeliverableReason::ActorTerminated {
                actor_id: held.inbox.actor_id().clone(),
            };
            held.inbox.return_to_sender(work, reason);
        }
    }
}

/// How the loop ended.
enum Exit {
    Stopped {
        reason: String,
        drained: bool,
    },
    Failed {
        kind: ActorErrorKind,
        panicked: bool,
        headers: Option<Headers>,
    },
}

impl Exit {
    fn failed(kind: ActorErrorKind) -> Self {
        Exit::Failed {
            kind,
            panicked: false,
            headers: None,
        }
    }

    fn panicked(payload: Box<dyn std::any::Any + Send>, headers: Option<Headers>) -> Self {
        Exit::Failed {
            kind: ActorErrorKind::Panic(panic_message(payload.as_ref())),
            panicked: true,
            headers,
        }
    }

    fn status(&self) -> ActorStatus {
        match self {
            Exit::Stopped { reason, .. } => ActorStatus::Stopped(reason.clone()),
            Exit::Failed { kind, .. } => ActorStatus::Failed(kind.clone()),
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

/// The actor task.
pub(crate) async fn run<A: Actor>(
    startup: Startup<A>,
    instance: Instance<A>,
    mut queues: Queues<A>,
) {
    let status = &instance.cell().state.status;
    if startup.loading {
        status.set(ActorStatus::Loading(rt::time::system_now()));
    }
    match AssertUnwindSafe(startup.actor).catch_unwind().await {
        Ok(Ok(mut actor)) => {
            let exit = serve(&mut actor, &instance, &mut queues).await;
            finish(Some(&mut actor), &instance, &mut queues, exit).await;
        }
        Ok(Err(kind)) => finish(None, &instance, &mut queues, Exit::failed(kind)).await,
        Err(payload) => finish(None, &instance, &mut queues, Exit::panicked(payload, None)).await,
    }
}

async fn serve<A: Actor>(actor: &mut A, instance: &Instance<A>, queues: &mut Queues<A>) -> Exit {
    let status = &instance.cell().state.status;
    status.set_unless_terminal(ActorStatus::Initializing);
    // Simulation only: a slow start, so messages and signals queue up before
    // the actor's first handler (LC-2 still holds: init runs first).
    if crate::buggify!("actor.slow_start") {
        rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // LC-2: init before anything else.
    match AssertUnwindSafe(actor.init(instance)).catch_unwind().await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Exit::failed(ActorErrorKind::Init(error.to_string())),
        Err(payload) => return Exit::panicked(payload, None),
    }
    status.set_unless_terminal(ActorStatus::Idle);
    let mut cx = Context {
        instance: instance.clone(),
        headers: Headers::default(),
        sender: instance.self_id().clone(),
        last_handler: "",
    };
    let mut streak = 0;
    loop {
        match next(queues, &mut streak).await {
            Next::Signal(Signal::Stop(reason)) => {
                return Exit::Stopped {
                    reason,
                    drained: false,
                };
            }
            Next::Signal(Signal::Abort(reason)) => {
                return Exit::failed(ActorErrorKind::Aborted(reason));
            }
            Next::Signal(Signal::DrainAndStop(reason)) => {
                return drain(actor, &mut cx, queues, reason).await;
            }
            Next::Signal(Signal::ChildStopped(pid)) => instance.cell().remove_child(pid),
            Next::Event(event) => {
                if let Err(exit) = supervise(actor, instance, event).await {
                    return exit;
                }
            }
            Next::Work(work) => {
                if let Err(exit) = process(actor, &mut cx, work, &ActorStatus::Idle).await {
                    return exit;
                }
            }
        }
    }
}

/// What the loop handles next.
enum Next<A: Actor> {
    Signal(Signal),
    Event(ActorSupervisionEvent),
    Work(Work<A>),
}

/// Work items taken in a row before the loop yields to other tasks.
const WORK_STREAK_MAX: u32 = 64;

/// The next thing to handle. Signals outrank children's events, which
/// outrank ordinary work. What is already queued is taken without
/// registering wakers (the hot path); only an idle actor waits.
async fn next<A: Actor>(queues: &mut Queues<A>, streak: &mut u32) -> Next<A> {
    if *streak < WORK_STREAK_MAX {
        if let Some(next) = queues.take_next() {
            if matches!(next, Next::Work(_)) {
                *streak += 1;
            }
            return next;
        }
    } else {
        // A long streak of ready work: let other tasks run first.
        rt::task::yield_now().await;
    }
    *streak = 0;
    std::future::poll_fn(|context| {
        if let Some(next) = queues.take_next() {
            return Poll::Ready(next);
        }
        if !queues.work.register(context.waker()) {
            // Work came in since the check: take it (behind any signal).
            return Poll::Ready(queues.take_next().expect("work is queued"));
        }
        // a control item sent before the registration is seen here;
        // one sent after it rings the work queue.
        match queues.take_control() {
            Some(next) => {
                queues.work.cancel_wait();
                Poll::Ready(next)
            }
            None => Poll::Pending,
        }
    })
    .await
}

impl<A: Actor> Queues<A> {
    /// The highest-ranked queued item, if any.
    fn take_next(&mut self) -> Option<Next<A>> {
        self.take_control()
            .or_else(|| self.work.try_recv().map(Next::Work))
    }

    /// A signal, else a child's supervision event, if any.
    fn take_control(&mut self) -> Option<Next<A>> {
        if let Some(signal) = self.signals.try_recv() {
            return Some(Next::Signal(signal));
        }
        self.supervision.try_recv().map(Next::Event)
    }
}

/// LC-4: handle everything queued now; `Stop` and `Abort` still cut it short.
async fn drain<A: Actor>(
    actor: &mut A,
    cx: &mut Context<A>,
    queues: &mut Queues<A>,
    reason: String,
) -> Exit {
    cx.instance
        .cell()
        .state
        .status
        .set_unless_terminal(ActorStatus::Stopping);
    // LC-4: exactly what was accepted before the signal; later arrivals go
    // back to their senders (in `finish`), so a self-feeding actor still stops.
    let mut accepted = cx.instance.ports().inbox().queue_depth();
    loop {
        if accepted == 0 {
            return Exit::Stopped {
                reason,
                drained: true,
            };
        }
        match queues.signals.try_recv() {
            Some(Signal::Stop(reason)) => {
                return Exit::Stopped {
                    reason,
                    drained: false,
                };
            }
            Some(Signal::Abort(reason)) => return Exit::failed(ActorErrorKind::Aborted(reason)),
            _ => {}
        }
        match queues.work.try_recv() {
            Some(work) => {
                accepted -= 1;
                if let Err(exit) = process(actor, cx, work, &ActorStatus::Stopping).await {
                    return exit;
                }
            }
            None => {
                return Exit::Stopped {
                    reason,
                    drained: true,
                };
            }
        }
    }
}

/// Handle one work item; `resting` is the status to return to afterwards.
async fn process<A: Actor>(
    actor: &mut A,
    cx: &mut Context<A>,
    work: Work<A>,
    resting: &ActorStatus,
) -> Result<(), Exit> {
    // Borrowed, not cloned: a reference count per message (measured).
    let cell = cx.instance.cell();
    let status = &cell.state.status;
    match work {
        Work::Message {
            headers,
            sender,
            body,
        } => {
            let handler = HandlerInfo::of(body.type_name());
            status.set_unless_terminal(ActorStatus::Processing(
                rt::time::system_now(),
                Some(handler.clone()),
            ));
            crate::observe::handled(
                cell.actor_id(),
                &sender,
                headers.seq_info(),
                body.type_name(),
            );
            cx.headers = headers;
            cx.sender = sender;
            let changed = !std::ptr::eq(cx.last_handler, body.type_name());
            cx.last_handler = body.type_name();
            let cx: &Context<A> = cx;
            let result = AssertUnwindSafe(body.dispatch(actor, cx))
                .catch_unwind()
                .await;
            cell.record_handled(&handler, changed);
            match result {
                Ok(Ok(())) => {}
                // LC-3
                Ok(Err(error)) => {
                    return Err(Exit::Failed {
                        kind: error.into_kind(),
                        panicked: false,
                        headers: Some(cx.headers.clone()),
                    });
                }
                Err(payload) => return Err(Exit::panicked(payload, Some(cx.headers.clone()))),
            }
        }
        Work::Undeliverable(returned) => {
            let returned = *returned;
            let handler = HandlerInfo::of(std::any::type_name::<Undeliverable<MessageEnvelope>>());
            status.set_unless_terminal(ActorStatus::Processing(
                rt::time::system_now(),
                Some(handler.clone()),
            ));
            let result =
                AssertUnwindSafe(actor.handle_undeliverable_message(&cx.instance, returned))
                    .catch_unwind()
                    .await;
            cx.last_handler = "";
            cell.record_handled(&handler, true);
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(Exit::failed(error.into_kind())),
                Err(payload) => return Err(Exit::panicked(payload, None)),
            }
        }
        Work::Call(call) => {
            if let Err(payload) = AssertUnwindSafe(call(actor, &cx.instance))
                .catch_unwind()
                .await
            {
                return Err(Exit::panicked(payload, None));
            }
        }
    }
    // Under load the next message sets `Processing` again at once: skip the
    // round trip through the resting status while work is already queued.
    if cx.instance.ports().inbox().queue_depth() == 0 || resting != &ActorStatus::Idle {
        status.set_unless_terminal(resting.clone());
    }
    Ok(())
}

/// A child terminated (SV-2).
async fn supervise<A: Actor>(
    actor: &mut A,
    instance: &Instance<A>,
    event: ActorSupervisionEvent,
) -> Result<(), Exit> {
    instance.cell().remove_child(event.actor_id.pid());
    let result = AssertUnwindSafe(actor.handle_supervision_event(instance, &event))
        .catch_unwind()
        .await;
    match result {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) if !event.is_failure() => Ok(()),
        Ok(Ok(false)) => Err(Exit::failed(ActorErrorKind::UnhandledSupervisionEvent(
            Box::new(event),
        ))),
        Ok(Err(error)) => Err(Exit::failed(
            ActorErrorKind::ErrorDuringHandlingSupervision(error.to_string(), Box::new(event)),
        )),
        Err(payload) => Err(Exit::panicked(payload, None)),
    }
}

/// Shut down in order: children, cleanup, abandoned work, terminal status,
/// then exactly one supervision event (SV-1, SV-3).
async fn finish<A: Actor>(
    mut actor: Option<&mut A>,
    instance: &Instance<A>,
    queues: &mut Queues<A>,
    mut exit: Exit,
) {
    let cell = instance.cell();
    let actor_id = cell.actor_id().clone();
    // Terminated by force meanwhile (a wedged actor's parent gave up, or its
    // proc crashed): that path already published the end and reported it,
    // and the queues, left undrained here, give back what they hold when
    // the aborted task drops them.
    if !cell.state.status.set_unless_terminal(ActorStatus::Stopping) {
        return;
    }

    let child_signal = match &exit {
        Exit::Stopped { drained: true, .. } => Signal::DrainAndStop("parent is draining".into()),
        _ => Signal::Stop("parent is stopping".into()),
    };
    stop_children(
        cell,
        child_signal,
        instance.proc().config().child_stop_timeout,
    )
    .await;

    let panicked = matches!(exit, Exit::Failed { panicked: true, .. });
    if let Some(actor) = actor.as_deref_mut().filter(|_| !panicked) {
        let error = match &exit {
            Exit::Failed { kind, .. } => Some(ActorError {
                actor_id: actor_id.clone(),
                kind: kind.clone(),
            }),
            Exit::Stopped { .. } => None,
        };
        let result = AssertUnwindSafe(actor.cleanup(instance, error.as_ref()))
            .catch_unwind()
            .await;
        match (result, error.is_some()) {
            (Ok(Ok(())), _) => {}
            (Ok(Err(cleanup_error)), false) => {
                exit = Exit::failed(ActorErrorKind::Cleanup(cleanup_error.to_string()));
            }
            (Ok(Err(cleanup_error)), true) => {
                tracing::warn!(actor = %actor_id, error = %cleanup_error, "cleanup failed after a failure");
            }
            (Err(payload), _) => exit = Exit::panicked(payload, None),
        }
    }

    let terminal = exit.status();
    // LC-4 / UD-1: whatever is still queued goes back to its senders.
    queues.work.close();
    // LC-1: once the status is terminal, signals are refused (not queued for
    // a loop that is gone), and children's events go to nobody.
    queues.signals.close();
    queues.supervision.close();
    let inbox = instance.ports().inbox();
    let abandoned = || UndeliverableReason::AbandonedOnStop {
        actor_id: actor_id.clone(),
        status: terminal.to_string(),
    };
    while let Some(work) = queues.work.try_recv() {
        inbox.return_to_sender(work, abandoned());
    }
    // Messages held behind a sequence gap go back too (UD-1).
    for work in inbox.ordering(|stage| stage.take_buffered()) {
        inbox.return_to_sender(work, abandoned());
    }
    cell.state.mailbox.close();
    let display_name = actor.as_deref().and_then(|actor| {
        std::panic::catch_unwind(AssertUnwindSafe(|| actor.display_name()))
            .ok()
            .flatten()
    });
    let headers = match &mut exit {
        Exit::Failed { headers, .. } => headers.take(),
        Exit::Stopped { .. } => None,
    };
    let event = ActorSupervisionEvent {
        actor_id: actor_id.clone(),
        display_name,
        status: terminal.clone(),
        occurred_at: rt::time::system_now(),
        message_headers: headers,
    };
    // SV-1: one end per actor. A termination by force that claimed it
    // meanwhile (from another worker, while this loop ran past its last
    // `await`) reports it and publishes its status instead.
    if !cell.claim_end() {
        return;
    }
    // SV-1: the event goes out before the terminal status is published, so
    // whoever sees the end (an `await`ing caller, `destroy_and_wait`) can
    // already see its event.
    if !rt::mutation::enabled(rt::mutation::DROP_SUPERVISION_EVENT) {
        report(cell, instance.proc(), event);
    }
    // The name is free before anyone can see the end, so an awaiting caller
    // may spawn a successor under the same name at once.
    instance.proc().forget(&actor_id);
    cell.state.status.set_unless_terminal(terminal);
}

/// Deliver `event` to the parent's supervision queue, or the proc's
/// coordinator for a root actor.
fn report(cell: &InstanceCell, proc: &Proc, event: ActorSupervisionEvent) {
    let parent = cell.parent();
    crate::observe::supervision_event(&event, parent.as_ref().map(InstanceCell::actor_id));
    match (&cell.state.parent, parent) {
        (None, _) => proc.report_root(event),
        (Some(_), Some(parent)) => {
            let actor_id = event.actor_id.clone();
            if parent.state.supervision.send(event).is_err() {
                // The parent terminated without waiting: a broken SV-3.
                tracing::error!(actor = %actor_id, "parent terminated before its child");
            }
        }
        (Some(_), None) => {
            tracing::error!(actor = %event.actor_id, "parent is gone; supervision event lost")
        }
    }
}

/// SV-3: signal every child, then wait (bounded, on the world's clock) until
/// each is terminal; a child that does not stop in time is terminated by force.
async fn stop_children(cell: &InstanceCell, signal: Signal, timeout: std::time::Duration) {
    let children = cell.children();
    for child in &children {
        let _ = child.signal(signal.clone());
    }
    for child in children {
        let mut status = child.status_watch();
        let stopped = rt::time::timeout(timeout, status.wait_terminal()).await;
        if !matches!(stopped, Ok(Ok(_))) {
            tracing::error!(child = %child.actor_id(), ?timeout, "child did not stop in time; terminating it");
            child.terminate_by_force(format!("did not stop within {timeout:?}"));
        }
        cell.remove_child(child.actor_id().pid());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{Headers, Payload};

    fn returned(value: u8) -> Undeliverable<MessageEnvelope> {
        let proc = crate::id::ProcId::local("p").unwrap();
        let sender = proc.actor_id("client", 0).unwrap();
        let dest = proc.actor_id("gone", 0).unwrap().port_id(1);
        let message = MessageEnvelope::new(
            sender,
            dest,
            Headers::default(),
            "u8",
            Payload::Serialized(vec![value]),
        );
        let reason = UndeliverableReason::NoRoute {
            proc_id: proc.clone(),
        };
        Undeliverable { message, reason }
    }

    fn value_of(returned: &Undeliverable<MessageEnvelope>) -> u8 {
        returned.message.payload().bytes().unwrap()[0]
    }

    /// Goal: a client's returns wait, in order, until its receiver is taken,
    /// then flow to it; the receiver is handed out once; a client dropped
    /// without taking it keeps nothing (what waited is handed back to drop,
    /// later returns are not kept), and one that took it keeps it.
    #[test]
    fn returns_wait_for_the_receiver_and_are_not_kept_once_the_client_is_gone() {
        let mut queue = ReturnsQueue::default();
        queue.push(returned(1));
        queue.push(returned(2));
        let mut receiver = queue.take_receiver().expect("the first take");
        assert!(queue.take_receiver().is_none(), "handed out once");
        queue.push(returned(3));
        let values: Vec<u8> = std::iter::from_fn(|| receiver.try_recv().ok())
            .map(|returned| value_of(&returned))
            .collect();
        assert_eq!(values, [1, 2, 3]);
        assert!(queue.close().is_none(), "a taken receiver stays");
        queue.push(returned(4));
        assert_eq!(
            receiver.try_recv().map(|returned| value_of(&returned)),
            Ok(4)
        );

        let mut untaken = ReturnsQueue::default();
        untaken.push(returned(5));
        let unread = untaken.close().expect("what waited");
        assert_eq!(unread.iter().map(value_of).collect::<Vec<_>>(), [5]);
        untaken.push(returned(6));
        assert!(matches!(untaken, ReturnsQueue::Closed), "6 is not kept");
        assert!(untaken.take_receiver().is_none());
    }
}
