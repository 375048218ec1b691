//! The type-erased, shared state of one actor instance.
//!
//! Owns: what outlives any one message and is read from outside the actor's
//! task: status watch, signal and supervision queues, family links, the
//! mailbox, counters for introspection, published attrs.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use crate::actor::queue::QueueSender;
use crate::actor::{
    Actor, ActorError, ActorErrorKind, ActorHandle, ActorStatus, HandlerInfo, Ports, Signal,
    StatusCell,
};
use crate::id::ActorId;
use crate::mailbox::{Mailbox, MessageEnvelope, PortHandle, Undeliverable};
use crate::sequencing::SessionOrdering;
use crate::supervision::ActorSupervisionEvent;
use crate::sync::Mutex;

/// Read-only view of an actor's inbox, for introspection.
pub(crate) trait InboxView: Send + Sync {
    fn queue_depth(&self) -> usize;
    fn sequenced_held(&self) -> usize;
    fn ordering(&self) -> Vec<SessionOrdering>;
    fn buffered_total(&self) -> usize;
}

impl<A: Actor> InboxView for crate::actor::ActorInbox<A> {
    fn queue_depth(&self) -> usize {
        crate::actor::ActorInbox::queue_depth(self)
    }
    fn sequenced_held(&self) -> usize {
        crate::actor::ActorInbox::sequenced_held(self)
    }
    fn ordering(&self) -> Vec<SessionOrdering> {
        self.ordering(|stage| stage.snapshot())
    }
    fn buffered_total(&self) -> usize {
        self.ordering(|stage| stage.buffered_total())
    }
}

pub(crate) struct CellState {
    pub(crate) actor_id: ActorId,
    pub(crate) actor_type: &'static str,
    pub(crate) created_at: SystemTime,
    pub(crate) status: StatusCell,
    pub(crate) signals: QueueSender<Signal>,
    pub(crate) supervision: QueueSender<ActorSupervisionEvent>,
    pub(crate) parent: Option<Weak<CellState>>,
    pub(crate) children: Mutex<BTreeMap<u64, InstanceCell>>,
    pub(crate) mailbox: Mailbox,
    pub(crate) undeliverable: PortHandle<Undeliverable<MessageEnvelope>>,
    pub(crate) inbox: Option<Arc<dyn InboxView>>,
    pub(crate) ports: Box<dyn Any + Send + Sync>,
    pub(crate) messages_processed: AtomicU64,
    pub(crate) last_handler: Mutex<Option<HandlerInfo>>,
    pub(crate) published_attrs: Mutex<Option<serde_json::Map<String, serde_json::Value>>>,
    pub(crate) task: Mutex<Option<crate::rt::JoinHandle<()>>>,
    /// SV-1: taken by whoever ends the actor first — its loop finishing, or
    /// a termination by force — which then reports the one supervision
    /// event and publishes the terminal status; the other does neither.
    /// Shared with the loop's queues: dropped after a claim they give back
    /// what they still hold (UD-1; see `Queues`' `Drop`).
    pub(crate) end_claimed: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) query_child: Mutex<Option<crate::introspect::task::QueryChildHandler>>,
}

/// How many times a termination by force yields its thread, at most,
/// waiting for a loop that claimed the end first to publish it (SV-1).
const END_WAIT_YIELDS_MAX: u32 = 10_000;

/// A type-erased handle to an actor instance: lifecycle, family, and what
/// introspection reads. Cheap to clone.
#[derive(Clone)]
pub struct InstanceCell {
    pub(crate) state: Arc<CellState>,
}

impl std::fmt::Debug for InstanceCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InstanceCell({})", self.state.actor_id)
    }
}

impl InstanceCell {
    /// The actor's id.
    pub fn actor_id(&self) -> &ActorId {
        &self.state.actor_id
    }

    /// The actor's Rust type name.
    pub fn actor_type(&self) -> &'static str {
        self.state.actor_type
    }

    /// When the actor was created (world wall clock).
    pub fn created_at(&self) -> SystemTime {
        self.state.created_at
    }

    /// The current status.
    pub fn status(&self) -> ActorStatus {
        self.state.status.get()
    }

    /// A watch of the status.
    pub fn status_watch(&self) -> crate::actor::StatusReceiver {
        self.state.status.subscribe()
    }

    /// Send a control signal. Fails if the actor has already terminated.
    pub fn signal(&self, signal: Signal) -> Result<(), ActorError> {
        self.state.signals.send(signal).map_err(|_| ActorError {
            actor_id: self.actor_id().clone(),
            kind: ActorErrorKind::Handler(format!(
                "cannot signal: actor is {}",
                self.state.status.get()
            )),
        })
    }

    /// The parent, if this is a child actor and the parent still exists.
    pub fn parent(&self) -> Option<InstanceCell> {
        self.state
            .parent
            .as_ref()
            .and_then(Weak::upgrade)
            .map(|state| InstanceCell { state })
    }

    /// Live children, in pid order.
    pub fn children(&self) -> Vec<InstanceCell> {
        self.state.children.lock().values().cloned().collect()
    }

    pub(crate) fn add_child(&self, child: InstanceCell) {
        self.state
            .children
            .lock()
            .insert(child.actor_id().pid(), child);
    }

    pub(crate) fn remove_child(&self, pid: u64) {
        self.state.children.lock().remove(&pid);
    }

    /// Messages handled so far.
    pub fn messages_processed(&self) -> u64 {
        self.state.messages_processed.load(Ordering::Relaxed)
    }

    /// The handler of the last message handled (never introspection, S2).
    pub fn last_handler(&self) -> Option<HandlerInfo> {
        self.state.last_handler.lock().clone()
    }

    /// Count one handled message; `changed` says whether its handler differs
    /// from the last one recorded (the lock is taken only then: hot path).
    pub(crate) fn record_handled(&self, handler: &HandlerInfo, changed: bool) {
        // One writer (the actor's own loop, which calls this), so a load and
        // a store count exactly, without a read-modify-write per message.
        let processed = &self.state.messages_processed;
        processed.store(processed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if changed {
            *self.state.last_handler.lock() = Some(handler.clone());
        }
    }

    /// Messages waiting in the work queue.
    pub fn queue_depth(&self) -> usize {
        self.state
            .inbox
            .as_ref()
            .map_or(0, |inbox| inbox.queue_depth())
    }

    /// Ordering snapshot of the actor's handler-port domain, per session.
    pub fn ordering(&self) -> Vec<SessionOrdering> {
        self.state
            .inbox
            .as_ref()
            .map_or_else(Vec::new, |inbox| inbox.ordering())
    }

    /// What a stall report says of this actor, or `None` if it is idle with
    /// nothing queued or held: its status, queued messages, and each
    /// session's seq its reorder buffer waits for.
    ///
    /// ```text
    /// local.sink[0] is idle, waits for seq 1 of session 00000000000000aa (2 held behind it)
    /// ```
    pub fn stall_report(&self) -> Option<String> {
        let status = self.status();
        let gaps: Vec<String> = self
            .ordering()
            .iter()
            .filter(|session| session.buffered_count > 0)
            .map(|session| {
                format!(
                    "waits for seq {} of session {:016x} ({} held behind it)",
                    session.next_expected_seq, session.session_id, session.buffered_count
                )
            })
            .collect();
        let queued = self.queue_depth();
        let idle = matches!(status, ActorStatus::Idle | ActorStatus::Client);
        if idle && queued == 0 && gaps.is_empty() {
            return None;
        }
        let mut line = format!("{} is {}", self.actor_id(), status.name());
        if queued > 0 {
            line.push_str(&format!(", {queued} queued"));
        }
        for gap in gaps {
            line.push_str(", ");
            line.push_str(&gap);
        }
        Some(line)
    }

    /// Messages held behind sequence gaps.
    pub fn buffered_total(&self) -> usize {
        self.state
            .inbox
            .as_ref()
            .map_or(0, |inbox| inbox.buffered_total())
    }

    /// Messages sequenced in a session that the actor still holds, not yet
    /// handled: queued for its handlers, or buffered behind a gap. Unlike
    /// `queue_depth() + buffered_total()`, it leaves out `Direct` messages,
    /// returned ones, and what a loop that is gone can no longer handle —
    /// what an accounting of sequenced sends (the simulator's UD-1)
    /// compares with. (With the reorder buffer off, a duplicate of a
    /// handled message still queued is counted.)
    pub fn sequenced_held(&self) -> usize {
        self.state
            .inbox
            .as_ref()
            .map_or(0, |inbox| inbox.sequenced_held())
    }

    /// Replace the whole published-attrs bag.
    pub fn set_published_attrs(&self, attrs: serde_json::Map<String, serde_json::Value>) {
        *self.state.published_attrs.lock() = Some(attrs);
    }

    /// Merge one key into the published attrs.
    pub fn merge_published_attr(&self, key: &str, value: serde_json::Value) {
        self.state
            .published_attrs
            .lock()
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_owned(), value);
    }

    /// The published attrs, if any were published.
    pub fn published_attrs(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.state.published_attrs.lock().clone()
    }

    /// Recover the typed handle if the actor is an `A`.
    pub fn downcast_handle<A: Actor>(&self) -> Option<ActorHandle<A>> {
        let ports = self.state.ports.downcast_ref::<Arc<Ports<A>>>()?;
        Some(ActorHandle::new(self.clone(), ports.clone()))
    }

    /// Register the callback that answers `QueryChild` queries.
    pub fn set_query_child_handler(
        &self,
        handler: impl Fn(&crate::introspect::Reference) -> crate::introspect::IntrospectResult
        + Send
        + Sync
        + 'static,
    ) {
        *self.state.query_child.lock() = Some(Box::new(handler));
    }

    /// Answer a `QueryChild` through the registered callback, if any.
    pub fn query_child(
        &self,
        child: &crate::introspect::Reference,
    ) -> Option<crate::introspect::IntrospectResult> {
        self.state
            .query_child
            .lock()
            .as_ref()
            .map(|handler| handler(child))
    }

    pub(crate) fn undeliverable_port(&self) -> &PortHandle<Undeliverable<MessageEnvelope>> {
        &self.state.undeliverable
    }
}

impl InstanceCell {
    /// Its proc crashed: what its ports hold is lost with it, like its work
    /// queue (NET-4), rather than returned by a proc that is gone.
    pub(crate) fn mark_lost_with_proc(&self) {
        self.state.mailbox.mark_lost_with_proc();
    }

    /// SV-1: claim the right to end this actor (report its supervision event
    /// and publish its terminal status); false if it was claimed already.
    /// On tokio's multi-threaded runtime the loop may be past its last
    /// `await` in `finish` on one worker while another terminates it by
    /// force: without the claim both would report.
    pub(crate) fn claim_end(&self) -> bool {
        !self
            .state
            .end_claimed
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// Terminate a wedged actor from outside: abort its task, fail it, and do
    /// the same to its children first. Work it still held (not the message
    /// being handled, which is dropped with the handler) goes back to its
    /// senders as `ActorTerminated` when the aborted loop's queues are
    /// dropped (UD-1): at once in the simulator, which drops an aborted task
    /// inside `abort`; soon after on tokio, which drops it on a worker. If
    /// its proc crashed it is logged as lost with it instead (NET-4).
    ///
    /// Returns whether this call ended the actor (and so reported it to its
    /// parent, if it has one): false if it had ended already, or if its loop
    /// claimed the end first (SV-1) and so reports it itself.
    pub(crate) fn terminate_by_force(&self, reason: String) -> bool {
        for child in self.children() {
            child.terminate_by_force(format!("parent {} was terminated", self.actor_id()));
        }
        let queued = self.queue_depth();
        if queued > 0 {
            tracing::warn!(actor = %self.actor_id(), queued, "terminated by force with queued messages");
        }
        if !self.claim_end() {
            // SV-1: the loop claimed the end first (on another worker, past
            // its last `await` in `finish`) and reports it; its terminal
            // status follows a few instructions later. Wait for that,
            // briefly, so a caller that goes on (a parent about to close
            // its own queues) has had the child's event first (SV-3). A
            // heuristic bound: a claimant preempted for longer is not waited
            // for.
            for _ in 0..END_WAIT_YIELDS_MAX {
                if self.state.status.is_terminal() {
                    break;
                }
                std::thread::yield_now();
            }
            return false;
        }
        // Claimed before the abort: the aborted loop's queues, dropped, see
        // the claim and give back what they held. Taken out first: the abort
        // may drop the task's future here (the simulator does), and that
        // returns messages; no lock is held then.
        let task = self.state.task.lock().take();
        if let Some(task) = task {
            task.abort();
        }
        if self.state.status.is_terminal() {
            return false;
        }
        let status = ActorStatus::Failed(ActorErrorKind::Aborted(reason));
        self.state.mailbox.close();
        // SV-1's order, as the loop's: the event goes out before the
        // terminal status is published, so a parent that sees the end (and
        // then closes its own queues) has had the event.
        if let Some(parent) = self.parent() {
            let _ = parent.state.supervision.send(ActorSupervisionEvent {
                actor_id: self.actor_id().clone(),
                display_name: None,
                status: status.clone(),
                occurred_at: crate::rt::time::system_now(),
                message_headers: None,
            });
        }
        self.state.status.set_unless_terminal(status)
    }
}
