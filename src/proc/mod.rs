//! Procs: a set of actors sharing a routing table, an id and a configuration.
//!
//! Owns: spawning (pids from a per-proc counter; root actors get pid 0),
//! routing envelopes to local mailboxes or the outbound forwarder, returning
//! undeliverable messages to their senders, and the supervision coordinator
//! of root actors.
//! Does not own: the run loop (`instance`), transports (`channel`).
//!
//! PROC-1: no process-global state: two procs in one process may differ in
//! every setting (reorder buffer on/off, limits).
//! SV-4: a root actor's failure with no coordinator set is never silent: it is
//! logged as an error and kept in [`Proc::unhandled_failures`].
//! UD-2: a returned message is never returned again, and a returned
//! introspection answer never reaches (or fails) the actor it describes;
//! both are traced and logged instead.

mod cell;
pub(crate) mod instance;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub(crate) use cell::CellState;
pub use cell::InstanceCell;
pub use instance::{Context, Instance};

use crate::actor::queue::{QueueSender, queue};
use crate::actor::{
    Actor, ActorErrorKind, ActorHandle, ActorInbox, ActorStatus, Checkpointable, Ports, Signal,
    StatusCell,
};
use crate::codec;
use crate::context::Outbox;
use crate::id::{ActorId, IdError, ProcId, handler_port_index};
use crate::introspect::IntrospectResult;
use crate::mailbox::{
    Headers, Mailbox, MailboxSender, MessageEnvelope, Payload, PortHandle, PortSink, Undeliverable,
    UndeliverableReason, return_undeliverable,
};
use crate::rt;
use crate::sequencing::{ReorderLimits, SeqInfo};
use crate::supervision::ActorSupervisionEvent;
use crate::sync::Mutex;

/// A proc's settings. Every proc has its own (PROC-1).
#[derive(Clone, Debug)]
pub struct ProcConfig {
    /// The destination reorder buffer's limits; `None` turns it off
    /// (messages are then handled in arrival order). Default: on.
    pub reorder_buffer: Option<ReorderLimits>,
    /// The largest encoded message, in bytes. Default 8 MiB.
    pub message_bytes_max: u64,
    /// How long a stopping parent waits for each child before aborting it.
    /// Default 30 s (on the world's clock).
    pub child_stop_timeout: Duration,
}

impl Default for ProcConfig {
    fn default() -> Self {
        Self {
            reorder_buffer: Some(ReorderLimits::default()),
            message_bytes_max: codec::MESSAGE_BYTES_MAX_DEFAULT,
            child_stop_timeout: Duration::from_secs(30),
        }
    }
}

impl ProcConfig {
    /// This configuration with the reorder buffer on or off.
    pub fn with_reorder_buffer(mut self, enabled: bool) -> Self {
        self.reorder_buffer = enabled.then(ReorderLimits::default);
        self
    }
}

/// Why a proc operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcError {
    /// A root actor with this name is alive in the proc.
    #[error("actor {actor_id} already exists")]
    DuplicateName {
        /// The taken id.
        actor_id: ActorId,
    },
    /// The name is not a valid id name.
    #[error(transparent)]
    InvalidName(#[from] IdError),
    /// The coordinator can be set once per proc.
    #[error("proc {proc_id} already has a supervision coordinator")]
    CoordinatorAlreadySet {
        /// The proc.
        proc_id: ProcId,
    },
    /// The parent terminated, so it cannot take children.
    #[error("parent {actor_id} has terminated")]
    ParentTerminated {
        /// The parent.
        actor_id: ActorId,
    },
}

/// What [`Proc::destroy_and_wait`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestroyReport {
    /// Root actors that stopped in time (their children stopped first).
    pub stopped: Vec<ActorId>,
    /// Root actors terminated by force.
    pub aborted: Vec<ActorId>,
}

/// Returns every envelope it is given as undeliverable: the forwarder of a
/// proc that talks to no one else.
struct Unroutable;

impl MailboxSender for Unroutable {
    fn post(
        &self,
        envelope: MessageEnvelope,
        return_handle: &PortHandle<Undeliverable<MessageEnvelope>>,
    ) {
        let proc_id = envelope.dest().actor_id().proc_id().clone();
        return_undeliverable(
            return_handle,
            envelope,
            UndeliverableReason::NoRoute { proc_id },
        );
    }
}

pub(crate) struct ProcState {
    proc_id: ProcId,
    config: ProcConfig,
    forwarder: Box<dyn MailboxSender>,
    actors: Mutex<BTreeMap<ActorId, Weak<CellState>>>,
    next_pid: AtomicU64,
    coordinator: OnceLock<mpsc::UnboundedSender<ActorSupervisionEvent>>,
    unhandled_failures: Mutex<Vec<ActorSupervisionEvent>>,
    returns: OnceLock<PortHandle<Undeliverable<MessageEnvelope>>>,
    terminated: Mutex<TerminatedSnapshots>,
}

impl crate::rt::StallReporter for ProcState {
    fn stuck(&self) -> Vec<String> {
        // Cells are gathered first: their reports take their own locks.
        let cells: Vec<InstanceCell> = self
            .actors
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .map(|state| InstanceCell { state })
            .collect();
        cells
            .iter()
            .filter_map(InstanceCell::stall_report)
            .collect()
    }
}

/// Snapshots of terminated actors, bounded; when full, the oldest clean stop
/// makes room, so the earliest failures are kept.
struct TerminatedSnapshots {
    snapshots: BTreeMap<ActorId, (u64, bool, IntrospectResult)>,
    next_order: u64,
    snapshots_max: usize,
}

impl TerminatedSnapshots {
    fn get(&self, actor_id: &ActorId) -> Option<IntrospectResult> {
        self.snapshots
            .get(actor_id)
            .map(|(_, _, snapshot)| snapshot.clone())
    }

    fn keep(&mut self, snapshot: IntrospectResult) {
        let Ok(actor_id) = snapshot.identity.parse::<ActorId>() else {
            return;
        };
        let failed = snapshot
            .attr("status")
            .and_then(|status| status.as_str().map(|text| text.starts_with("failed")))
            .unwrap_or(false);
        if self.snapshots.len() >= self.snapshots_max {
            let evict = self
                .snapshots
                .iter()
                .filter(|(_, (_, failed, _))| !failed)
                .min_by_key(|(_, (order, _, _))| *order)
                .map(|(actor_id, _)| actor_id.clone());
            match evict {
                Some(evict) => {
                    self.snapshots.remove(&evict);
                }
                None => return, // all kept snapshots are failures: keep the earliest
            }
        }
        self.next_order += 1;
        self.snapshots
            .insert(actor_id, (self.next_order, failed, snapshot));
    }
}

/// A proc: spawns actors and routes their messages. Cheap to clone.
#[derive(Clone)]
pub struct Proc {
    state: Arc<ProcState>,
}

/// A proc reference that does not keep it alive (held by its actors' inboxes).
#[derive(Clone)]
pub(crate) struct WeakProc(Weak<ProcState>);

impl WeakProc {
    pub(crate) fn upgrade(&self) -> Option<Proc> {
        self.0.upgrade().map(|state| Proc { state })
    }

    /// See [`Proc::return_undeliverable`]; logs if the proc is gone.
    pub(crate) fn return_undeliverable(
        &self,
        envelope: MessageEnvelope,
        reason: UndeliverableReason,
    ) {
        match self.upgrade() {
            Some(proc) => proc.return_undeliverable(envelope, reason),
            None => tracing::error!(%envelope, %reason, "proc gone; undeliverable message lost"),
        }
    }
}

/// Hands returned envelopes to [`Proc::return_undeliverable`].
struct ReturnToSender(WeakProc);

impl PortSink<Undeliverable<MessageEnvelope>> for ReturnToSender {
    fn deliver(
        &self,
        returned: Undeliverable<MessageEnvelope>,
        _headers: Headers,
        _sender: &ActorId,
    ) -> Result<(), (Undeliverable<MessageEnvelope>, UndeliverableReason)> {
        self.0
            .return_undeliverable(returned.message, returned.reason);
        Ok(())
    }
}

/// Delivers signals sent by reference to the actor's signal queue.
struct SignalSink(QueueSender<Signal>, ActorId);

impl PortSink<Signal> for SignalSink {
    fn deliver(
        &self,
        signal: Signal,
        _headers: Headers,
        _sender: &ActorId,
    ) -> Result<(), (Signal, UndeliverableReason)> {
        self.0.send(signal).map_err(|signal| {
            let reason = UndeliverableReason::ActorTerminated {
                actor_id: self.1.clone(),
            };
            (signal, reason)
        })
    }
}

/// Delivers a client's returned messages to a queue it may read, and logs them.
struct ClientReturns(Arc<Mutex<instance::ReturnsQueue>>);

impl PortSink<Undeliverable<MessageEnvelope>> for ClientReturns {
    fn deliver(
        &self,
        returned: Undeliverable<MessageEnvelope>,
        _headers: Headers,
        _sender: &ActorId,
    ) -> Result<(), (Undeliverable<MessageEnvelope>, UndeliverableReason)> {
        tracing::warn!(%returned, "message returned to client");
        self.0.lock().push(returned);
        Ok(())
    }
}

/// How a new actor comes to exist: given, or loaded from a checkpoint.
pub(crate) struct Startup<A> {
    pub(crate) loading: bool,
    pub(crate) actor: BoxFuture<'static, Result<A, ActorErrorKind>>,
}

impl Proc {
    /// A proc named `local` that routes only to its own actors; everything
    /// else comes back as undeliverable (`NoRoute`).
    pub fn local() -> Self {
        let proc_id = ProcId::local("local").expect("`local` is a valid name");
        Self::configured(proc_id, Unroutable)
    }

    /// A proc with this id whose non-local envelopes go to `forwarder`.
    pub fn configured(proc_id: ProcId, forwarder: impl MailboxSender) -> Self {
        Self::with_config(proc_id, forwarder, ProcConfig::default())
    }

    /// A proc with an explicit configuration.
    pub fn with_config(proc_id: ProcId, forwarder: impl MailboxSender, config: ProcConfig) -> Self {
        forwarder.forwards_for(&proc_id);
        let state = Arc::new(ProcState {
            proc_id,
            config,
            forwarder: Box::new(forwarder),
            actors: Mutex::new(BTreeMap::new()),
            next_pid: AtomicU64::new(1),
            coordinator: OnceLock::new(),
            unhandled_failures: Mutex::new(Vec::new()),
            returns: OnceLock::new(),
            terminated: Mutex::new(TerminatedSnapshots {
                snapshots: BTreeMap::new(),
                next_order: 0,
                snapshots_max: 1024,
            }),
        });
        let proc = Proc { state };
        let mailbox = Mailbox::new(
            proc.proc_id()
                .actor_id("proc", 0)
                .expect("`proc` is a valid name"),
            None,
            proc.state.config.message_bytes_max,
            None,
        );
        let returns = PortHandle::new(
            mailbox.actor_id().port_id(0),
            Arc::default(),
            Arc::new(ReturnToSender(proc.downgrade())),
            &mailbox,
        );
        let _ = proc.state.returns.set(returns);
        // Inside a simulated world, a stall report names this proc's stuck actors.
        let reporter: Weak<ProcState> = Arc::downgrade(&proc.state);
        crate::rt::register_stall_reporter(reporter);
        proc
    }

    /// The proc's id.
    pub fn proc_id(&self) -> &ProcId {
        &self.state.proc_id
    }

    /// The proc's configuration.
    pub fn config(&self) -> &ProcConfig {
        &self.state.config
    }

    pub(crate) fn downgrade(&self) -> WeakProc {
        WeakProc(Arc::downgrade(&self.state))
    }

    fn returns(&self) -> &PortHandle<Undeliverable<MessageEnvelope>> {
        self.state
            .returns
            .get()
            .expect("set when the proc is built")
    }

    /// The live actor `actor_id` of this proc.
    pub fn lookup(&self, actor_id: &ActorId) -> Option<InstanceCell> {
        let state = self.state.actors.lock().get(actor_id)?.upgrade()?;
        Some(InstanceCell { state })
    }

    /// Ids of every live actor (and client instance), in id order.
    pub fn all_actor_ids(&self) -> Vec<ActorId> {
        self.state
            .actors
            .lock()
            .iter()
            .filter(|(_, cell)| cell.strong_count() > 0)
            .map(|(actor_id, _)| actor_id.clone())
            .collect()
    }

    /// Route `envelope`: to a local mailbox, or out through the forwarder.
    pub fn post(&self, envelope: MessageEnvelope) {
        if envelope.dest().actor_id().proc_id() != self.proc_id() {
            self.state.forwarder.post(envelope, self.returns());
            return;
        }
        match self.live_cell(envelope.dest().actor_id()) {
            Ok(cell) => self.deliver_serialized(&cell, envelope),
            Err(reason) => self.return_undeliverable(envelope, reason),
        }
    }

    /// Deliver an envelope read in place from a link (`serve`, which has
    /// already refused what is not addressed to this proc, CH-12): a live
    /// local actor's bound port (a once port too) takes its payload straight
    /// from the frame. Every refusal is the one [`Proc::post`] gives, and
    /// what no bound port takes goes to the mailbox owned (a spent once
    /// port's duplicate, an unbound port).
    pub(crate) fn post_view(&self, view: &crate::codec::EnvelopeView<'_>) {
        debug_assert_eq!(view.dest_actor().proc_id(), self.proc_id(), "CH-12");
        let cell = match self.live_cell(view.dest_actor()) {
            Ok(cell) => cell,
            Err(reason) => return self.return_undeliverable(view.to_envelope(), reason),
        };
        match cell.state.mailbox.deliver_view(view) {
            crate::mailbox::ViewDelivery::Delivered => {}
            crate::mailbox::ViewDelivery::Refused(reason) => {
                self.return_undeliverable(view.to_envelope(), reason);
            }
            crate::mailbox::ViewDelivery::NotTaken => {
                self.deliver_serialized(&cell, view.to_envelope());
            }
        }
    }

    /// The local actor `actor_id` if it can take messages, else why not.
    /// (The id is cloned only for the refusal's reason.)
    fn live_cell(&self, actor_id: &ActorId) -> Result<InstanceCell, UndeliverableReason> {
        match self.lookup(actor_id) {
            Some(cell) if cell.state.status.is_terminal() => {
                Err(UndeliverableReason::ActorTerminated {
                    actor_id: actor_id.clone(),
                })
            }
            Some(cell) => Ok(cell),
            None => Err(UndeliverableReason::ActorNotFound {
                actor_id: actor_id.clone(),
            }),
        }
    }

    /// Hand `envelope` to `cell`'s mailbox; what it refuses goes back.
    fn deliver_serialized(&self, cell: &InstanceCell, envelope: MessageEnvelope) {
        if let Err((envelope, reason)) = cell.state.mailbox.deliver_serialized(envelope) {
            self.return_undeliverable(envelope, reason);
        }
    }

    /// A sequenced message for `dest` was refused before it reached this
    /// proc's actor (CH-13: it could not be decoded here) and went back to
    /// its sender: fill its slot in the destination's ordering stage, so the
    /// messages behind it are handled rather than held behind a gap that can
    /// never close. Traced as `seq_skipped`.
    pub(crate) fn skip_refused(&self, dest: &crate::id::PortId, seq_info: SeqInfo) {
        // (Another proc's actor is never found here.)
        if let Some(cell) = self.lookup(dest.actor_id()) {
            if cell.state.mailbox.skip(dest, seq_info) {
                crate::observe::skipped(dest, seq_info);
            }
        }
    }

    /// Send `envelope` back to its sender as undeliverable (UD-1). A returned
    /// message is never returned again: if it cannot reach its sender, the
    /// loss is logged as an error.
    pub fn return_undeliverable(&self, envelope: MessageEnvelope, reason: UndeliverableReason) {
        if envelope.type_name() == std::any::type_name::<Undeliverable<MessageEnvelope>>() {
            tracing::error!(%envelope, %reason, "a returned message could not be returned; dropping it");
            return;
        }
        // Every return passes here exactly once (forwarders hand theirs to the
        // proc's return port), so this is where the trace records it.
        crate::observe::undeliverable(&envelope, &reason);
        if envelope.type_name() == std::any::type_name::<IntrospectResult>() {
            // An introspection answer is sent by the runtime on the actor's
            // behalf; the asker went away. That must never fail the actor.
            tracing::debug!(%envelope, %reason, "introspection answer not delivered");
            return;
        }
        let sender = envelope.sender().clone();
        if sender.proc_id() == self.proc_id() {
            match self.lookup(&sender) {
                Some(cell) => return_undeliverable(cell.undeliverable_port(), envelope, reason),
                None => tracing::error!(
                    %envelope, %reason, "sender is gone; undeliverable message cannot be returned"
                ),
            }
            return;
        }
        // A remote sender: route the return to its undeliverable port.
        let returned = Undeliverable {
            message: envelope,
            reason,
        };
        match codec::encode(&returned, self.state.config.message_bytes_max) {
            Ok(bytes) => {
                let back = MessageEnvelope::new(
                    returned.message.dest().actor_id().clone(),
                    sender.port_id(handler_port_index::<Undeliverable<MessageEnvelope>>()),
                    Headers::new(SeqInfo::Direct),
                    std::any::type_name::<Undeliverable<MessageEnvelope>>(),
                    Payload::Serialized(bytes),
                );
                self.state.forwarder.post(back, self.returns());
            }
            Err(error) => tracing::error!(%returned, %error, "cannot encode a returned message"),
        }
    }

    /// Set the coordinator that root actors report to (once per proc).
    pub fn set_supervision_coordinator(
        &self,
        coordinator: mpsc::UnboundedSender<ActorSupervisionEvent>,
    ) -> Result<(), ProcError> {
        self.state
            .coordinator
            .set(coordinator)
            .map_err(|_| ProcError::CoordinatorAlreadySet {
                proc_id: self.proc_id().clone(),
            })
    }

    /// Root failures that found no coordinator (SV-4).
    pub fn unhandled_failures(&self) -> Vec<ActorSupervisionEvent> {
        self.state.unhandled_failures.lock().clone()
    }

    /// A root actor terminated: tell the coordinator, or keep it loudly (SV-4).
    pub(crate) fn report_root(&self, event: ActorSupervisionEvent) {
        if let Some(coordinator) = self.state.coordinator.get() {
            if coordinator.send(event.clone()).is_ok() {
                return;
            }
        }
        if event.is_failure() {
            tracing::error!(
                proc = %self.proc_id(),
                root_cause = %event.root_cause(),
                "unhandled actor failure: no supervision coordinator for {}: {}",
                event.actor_id,
                event.status
            );
            self.state.unhandled_failures.lock().push(event);
        }
    }

    pub(crate) fn forget(&self, actor_id: &ActorId) {
        self.state.actors.lock().remove(actor_id);
    }

    /// Stop every root actor (and so, SV-3, every actor) and wait, up to
    /// `timeout` per actor on the world's clock, for each to be terminal;
    /// those that don't stop in time are terminated by force. Every root's
    /// supervision event has reached the coordinator when this returns (the
    /// coordinator is a queue, so it is by construction the last to stop).
    pub async fn destroy_and_wait(&self, reason: &str, timeout: Duration) -> DestroyReport {
        let roots: Vec<InstanceCell> = self
            .all_actor_ids()
            .iter()
            .filter_map(|actor_id| self.lookup(actor_id))
            .filter(|cell| cell.state.parent.is_none() && cell.status() != ActorStatus::Client)
            .collect();
        for root in &roots {
            let _ = root.signal(Signal::Stop(reason.to_owned()));
        }
        let mut report = DestroyReport::default();
        for root in roots {
            let mut status = root.status_watch();
            let stopped = rt::time::timeout(timeout, status.wait_terminal()).await;
            if matches!(stopped, Ok(Ok(_))) {
                report.stopped.push(root.actor_id().clone());
            } else {
                let reason = format!("proc destroyed: did not stop within {timeout:?}");
                if !root.terminate_by_force(reason) {
                    // Its loop ended it meanwhile, and reported it (SV-1).
                    report.stopped.push(root.actor_id().clone());
                    continue;
                }
                // SV-1, SV-4: a root ended by force still reports, and frees its name.
                let event = ActorSupervisionEvent {
                    actor_id: root.actor_id().clone(),
                    display_name: None,
                    status: root.status(),
                    occurred_at: rt::time::system_now(),
                    message_headers: None,
                };
                crate::observe::supervision_event(&event, None);
                self.report_root(event);
                self.forget(root.actor_id());
                report.aborted.push(root.actor_id().clone());
            }
        }
        report
    }

    /// Crash the proc, as if its process died: every actor's task is dropped
    /// without cleanup (children first), statuses become `Failed` with
    /// `reason`, and messages still queued are lost with it. Used by the
    /// simulator's crash fault; a crashed proc keeps its id so a new proc can
    /// take its place on restart.
    pub fn crash(&self, reason: &str) {
        let cells: Vec<InstanceCell> = self
            .all_actor_ids()
            .iter()
            .filter_map(|actor_id| self.lookup(actor_id))
            .collect();
        // Every actor, child and client first: what their ports hold is lost
        // with the proc (NET-4), before any is dropped.
        for cell in &cells {
            cell.mark_lost_with_proc();
        }
        for cell in cells.into_iter().filter(|cell| cell.state.parent.is_none()) {
            if cell.status() == ActorStatus::Client {
                cell.state
                    .status
                    .set_unless_terminal(ActorStatus::Stopped(reason.to_owned()));
            } else {
                cell.terminate_by_force(reason.to_owned());
            }
            self.forget(cell.actor_id());
        }
    }

    /// Spawn a root actor named `name` (pid 0).
    pub fn spawn<A: Actor>(&self, name: &str, actor: A) -> Result<ActorHandle<A>, ProcError> {
        let actor_id = self.proc_id().actor_id(name, 0)?;
        self.start(actor_id, None, ready(actor))
    }

    /// Spawn a root actor loaded from checkpointed `state` (status `Loading` first).
    pub fn spawn_loaded<A: Actor + Checkpointable>(
        &self,
        name: &str,
        state: A::State,
    ) -> Result<ActorHandle<A>, ProcError> {
        let actor_id = self.proc_id().actor_id(name, 0)?;
        let startup = Startup {
            loading: true,
            actor: Box::pin(async move {
                A::load(state)
                    .await
                    .map_err(|error| ActorErrorKind::Checkpoint(error.to_string()))
            }),
        };
        self.start(actor_id, None, startup)
    }

    /// Spawn `actor` as a child of `parent` (it shares the parent's name and
    /// gets a fresh pid).
    pub fn spawn_child<A: Actor>(
        &self,
        parent: InstanceCell,
        actor: A,
    ) -> Result<ActorHandle<A>, ProcError> {
        let name = parent.actor_id().name().to_owned();
        self.spawn_child_named(parent, &name, actor)
    }

    /// Spawn a named child of `parent` with a fresh pid.
    pub fn spawn_child_named<A: Actor>(
        &self,
        parent: InstanceCell,
        name: &str,
        actor: A,
    ) -> Result<ActorHandle<A>, ProcError> {
        let pid = self.state.next_pid.fetch_add(1, Ordering::Relaxed);
        let actor_id = self.proc_id().actor_id(name, pid)?;
        self.start(actor_id, Some(parent), ready(actor))
    }

    fn start<A: Actor>(
        &self,
        actor_id: ActorId,
        parent: Option<InstanceCell>,
        startup: Startup<A>,
    ) -> Result<ActorHandle<A>, ProcError> {
        if let Some(parent) = &parent {
            if parent.state.status.is_terminal() {
                return Err(ProcError::ParentTerminated {
                    actor_id: parent.actor_id().clone(),
                });
            }
        }
        let (cell, ports, queues) = self.create_cell::<A>(actor_id, parent, None)?;
        let instance = Instance::new(cell.clone(), ports.clone(), self.clone(), None);
        let task_name = format!("actor:{}", cell.actor_id());
        // One span per actor: every log line its handlers write names it.
        let span = tracing::info_span!("actor", id = %cell.actor_id());
        let task = rt::spawn_for(
            self.proc_id().name(),
            &task_name,
            tracing::Instrument::instrument(instance::run(startup, instance, queues), span),
        );
        *cell.state.task.lock() = Some(task);
        crate::introspect::task::start(&cell, self);
        Ok(ActorHandle::new(cell, ports))
    }

    /// A client instance: a mailbox and an identity to send from, with no
    /// run loop (status `client`). Dropping the instance stops it.
    pub fn instance(&self, name: &str) -> Result<(Instance<()>, ActorHandle<()>), ProcError> {
        let actor_id = self.proc_id().actor_id(name, 0)?;
        let returns = Arc::new(Mutex::new(instance::ReturnsQueue::default()));
        let client = Some(ClientReturns(returns.clone()));
        let (cell, ports, _queues) = self.create_cell::<()>(actor_id, None, client)?;
        let instance = Instance::new(
            cell.clone(),
            ports.clone(),
            self.clone(),
            Some(instance::ClientState::new(returns)),
        );
        Ok((instance, ActorHandle::new(cell, ports)))
    }

    /// A client instance that also answers introspection queries (CI-1):
    /// status `client`, actor type `()`. Dropping it leaves a terminated
    /// snapshot (CI-2).
    pub fn introspectable_instance(
        &self,
        name: &str,
    ) -> Result<(Instance<()>, ActorHandle<()>), ProcError> {
        let (instance, handle) = self.instance(name)?;
        crate::introspect::task::start(instance.cell(), self);
        Ok((instance, handle))
    }

    /// The snapshot kept when `actor_id` terminated, if still kept.
    pub fn terminated_snapshot(&self, actor_id: &ActorId) -> Option<IntrospectResult> {
        self.state.terminated.lock().get(actor_id)
    }

    pub(crate) fn keep_terminated_snapshot(&self, snapshot: IntrospectResult) {
        self.state.terminated.lock().keep(snapshot);
    }

    fn create_cell<A: Actor>(
        &self,
        actor_id: ActorId,
        parent: Option<InstanceCell>,
        client: Option<ClientReturns>,
    ) -> Result<NewCell<A>, ProcError> {
        let is_client = client.is_some();
        let mut actors = self.state.actors.lock();
        if actors
            .get(&actor_id)
            .is_some_and(|cell| cell.strong_count() > 0)
        {
            return Err(ProcError::DuplicateName { actor_id });
        }
        let config = &self.state.config;
        let mailbox = Mailbox::new(
            actor_id.clone(),
            config.reorder_buffer,
            config.message_bytes_max,
            self.state.returns.get().cloned(),
        );
        let (inbox, work) = ActorInbox::<A>::new(actor_id.clone(), &mailbox);
        let end_claimed = Arc::new(AtomicBool::new(false));
        let held = instance::HeldWork {
            inbox: inbox.clone(),
            end_claimed: end_claimed.clone(),
        };
        let ports = Arc::new(Ports::new(inbox.clone(), mailbox.clone()));
        // the loop sleeps on its work queue, which these two ring.
        let (signals_sender, signals) = queue(inbox.doorbell());
        let (supervision_sender, supervision) = queue(inbox.doorbell());
        let signal_port = PortHandle::new(
            actor_id.port_id(handler_port_index::<Signal>()),
            Arc::new(AtomicBool::new(false)),
            Arc::new(SignalSink(signals_sender.clone(), actor_id.clone())),
            &mailbox,
        );
        signal_port.register();
        let undeliverable = match client {
            Some(client_returns) => {
                let port = PortHandle::new(
                    actor_id.port_id(handler_port_index::<Undeliverable<MessageEnvelope>>()),
                    Arc::new(AtomicBool::new(false)),
                    Arc::new(client_returns),
                    &mailbox,
                );
                port.register();
                port
            }
            None => ports.undeliverable_port(),
        };
        let status = if is_client {
            ActorStatus::Client
        } else {
            ActorStatus::Created
        };
        let cell = InstanceCell {
            state: Arc::new(CellState {
                actor_id: actor_id.clone(),
                actor_type: std::any::type_name::<A>(),
                created_at: rt::time::system_now(),
                status: StatusCell::observed(actor_id.clone(), status),
                signals: signals_sender,
                supervision: supervision_sender,
                parent: parent.as_ref().map(|parent| Arc::downgrade(&parent.state)),
                children: Mutex::new(BTreeMap::new()),
                mailbox,
                undeliverable,
                inbox: (!is_client).then(|| inbox.clone() as Arc<dyn cell::InboxView>),
                ports: Box::new(ports.clone()),
                messages_processed: AtomicU64::new(0),
                last_handler: Mutex::new(None),
                published_attrs: Mutex::new(None),
                task: Mutex::new(None),
                end_claimed,
                query_child: Mutex::new(None),
            }),
        };
        if let Some(parent) = &parent {
            parent.add_child(cell.clone());
        }
        crate::observe::spawned(
            &actor_id,
            parent.as_ref().map(InstanceCell::actor_id),
            is_client,
        );
        actors.insert(actor_id, Arc::downgrade(&cell.state));
        Ok((
            cell,
            ports,
            instance::Queues {
                work,
                signals,
                supervision,
                held,
            },
        ))
    }
}

/// What `create_cell` makes: the cell, its ports, and the queues its loop reads.
type NewCell<A> = (InstanceCell, Arc<Ports<A>>, instance::Queues<A>);

fn ready<A: Actor>(actor: A) -> Startup<A> {
    Startup {
        loading: false,
        actor: Box::pin(async move { Ok(actor) }),
    }
}

impl MailboxSender for Proc {
    fn post(
        &self,
        envelope: MessageEnvelope,
        _return_handle: &PortHandle<Undeliverable<MessageEnvelope>>,
    ) {
        Proc::post(self, envelope);
    }
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proc({})", self.proc_id())
    }
}

/// The session id for a new instance's sequencer, from the world's randomness.
pub(crate) fn new_outbox(actor_id: ActorId, proc: Proc) -> Outbox {
    let session_id = rt::random::next_u64(rt::RandomStream::SESSION);
    Outbox::new(actor_id, session_id, proc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{self, IdCache};
    use crate::id::PortId;
    use crate::mailbox::{Headers, Payload};

    /// Goal: delivering an envelope read in place from a frame (`post_view`,
    /// what `serve` does) and delivering the owned envelope (`post`) are one
    /// behaviour: the same message reaches the port, and every refusal
    /// (wrong type, bad payload, local-only payload, unbound port, no such
    /// actor) comes back to the sender with the same reason.
    #[tokio::test]
    async fn post_view_delivers_and_refuses_exactly_as_post_does() {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let mut returned = client.take_undeliverable_receiver().unwrap();
        let (port, mut receiver) = client.open_port::<u64>();
        let port_id = port.bind().port_id().clone();
        let nobody = proc.proc_id().actor_id("nobody", 0).unwrap();
        let limit = codec::MESSAGE_BYTES_MAX_DEFAULT;
        let envelope = |dest: PortId, type_name: &'static str, payload: Payload| {
            MessageEnvelope::new(
                client.self_id().clone(),
                dest,
                Headers::default(),
                type_name,
                payload,
            )
        };
        let seven = || Payload::Serialized(codec::encode(&7u64, limit).unwrap());
        let u64_name = std::any::type_name::<u64>();
        let cases = [
            envelope(port_id.clone(), u64_name, seven()),
            envelope(port_id.clone(), "i32", seven()),
            envelope(port_id.clone(), u64_name, Payload::Serialized(vec![1, 2])),
            envelope(port_id.clone(), u64_name, Payload::LocalOnly),
            envelope(client.self_id().port_id(999), u64_name, seven()),
            envelope(nobody.port_id(1), u64_name, seven()),
        ];
        let mut ids = IdCache::new();
        for case in cases {
            let mut outcomes = Vec::new();
            for by_view in [false, true] {
                if by_view {
                    let bytes = codec::encode_envelope(&case, limit, 0).unwrap();
                    let view = codec::decode_envelope_view(&bytes, limit, &mut ids).unwrap();
                    proc.post_view(&view);
                } else {
                    proc.post(case.clone());
                }
                let delivered = receiver.try_recv();
                let back = returned.try_recv().ok();
                assert!(returned.try_recv().is_err(), "one outcome per post");
                outcomes.push((delivered, back.map(|back| (back.message, back.reason))));
            }
            assert_eq!(outcomes[0], outcomes[1], "{case}");
            let (delivered, back) = &outcomes[0];
            assert!(
                delivered.is_some() != back.is_some(),
                "{case}: exactly one outcome"
            );
        }
    }

    /// Goal: a reply to a once port read in place from a frame is delivered
    /// from the view like any bound port's message, and a second copy (a
    /// duplicate on the wire) is dropped as a spent once port's (PORT-3),
    /// not returned: the same as the owned path gives.
    #[tokio::test]
    async fn post_view_delivers_to_a_once_port_and_drops_its_duplicate() {
        let proc = Proc::local();
        let (client, _client) = proc.instance("client").unwrap();
        let mut returned = client.take_undeliverable_receiver().unwrap();
        let (port, receiver) = client.open_once_port::<u64>();
        let port_id = port.bind().port_id().clone();
        let limit = codec::MESSAGE_BYTES_MAX_DEFAULT;
        let reply = MessageEnvelope::new(
            client.self_id().clone(),
            port_id,
            Headers::default(),
            std::any::type_name::<u64>(),
            Payload::Serialized(codec::encode(&7u64, limit).unwrap()),
        );
        let bytes = codec::encode_envelope(&reply, limit, 0).unwrap();
        let mut ids = IdCache::new();
        for _copy in 0..2 {
            let view = codec::decode_envelope_view(&bytes, limit, &mut ids).unwrap();
            proc.post_view(&view);
        }
        assert_eq!(receiver.recv().await.unwrap(), 7);
        assert!(
            returned.try_recv().is_err(),
            "the duplicate is dropped, not returned"
        );
    }

    struct Quiet;
    impl crate::actor::Actor for Quiet {}

    /// SV-1: an actor ends once. Whoever claims the end first — its loop
    /// in `finish`, or a termination by force — reports the one supervision
    /// event and publishes the terminal status; the other does neither. On
    /// tokio's multi-threaded runtime the two can meet (the loop past its
    /// last `await` on one worker, the force on another); here the loop's
    /// claim is taken by hand, as `finish` takes it just before it reports.
    /// (The force then waits, bounded, for the status the claimant would
    /// publish; nobody publishes it here, so it gives up and returns.) The
    /// runtime is current-thread and the test never yields to it, so the
    /// parent's loop takes nothing from its supervision queue meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn sv_1_a_termination_by_force_after_the_loop_claimed_the_end_reports_nothing() {
        let proc = Proc::local();
        let parent = proc.spawn("parent", Quiet).unwrap();
        let parent_cell = proc.lookup(parent.actor_id()).unwrap();
        let events = || parent_cell.state.supervision.len();

        let finishing = proc.spawn_child(parent_cell.clone(), Quiet).unwrap();
        let finishing = proc.lookup(finishing.actor_id()).unwrap();
        assert!(finishing.claim_end(), "nobody ended it yet");
        assert!(!finishing.terminate_by_force("too slow".into()));
        assert_eq!(events(), 0, "the loop that claimed the end reports it");
        assert!(!finishing.status().is_terminal(), "nor is its status taken");

        let wedged = proc.spawn_child(parent_cell.clone(), Quiet).unwrap();
        let wedged = proc.lookup(wedged.actor_id()).unwrap();
        assert!(wedged.terminate_by_force("too slow".into()));
        assert!(!wedged.terminate_by_force("again".into()), "ended already");
        assert_eq!(events(), 1, "forced once, reported once");
        assert!(matches!(
            wedged.status(),
            ActorStatus::Failed(ActorErrorKind::Aborted(reason)) if reason == "too slow"
        ));
    }
}
