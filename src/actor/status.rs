//! Actor lifecycle status and the one place its transitions are checked.
//!
//! `Created → Initializing → Idle ⇄ Processing → Stopping → Stopped | Failed`,
//! plus `Client`, `Saving`, `Loading` and `Unknown`.
//!
//! LC-1: a terminal status (`Stopped`, `Failed`) never changes again. Checked
//! in [`StatusCell::set`]; a violation is a broken runtime invariant (panic).

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Poll, Waker};

use serde::{Deserialize, Serialize};

use crate::sync::Mutex;
use crate::sync::atomic::{AtomicBool, Ordering};

use super::error::ActorErrorKind;

/// Which handler an actor is running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerInfo {
    /// The message type being handled.
    pub type_name: Cow<'static, str>,
}

impl HandlerInfo {
    /// For a statically known type name (no allocation).
    pub const fn of(type_name: &'static str) -> Self {
        Self {
            type_name: Cow::Borrowed(type_name),
        }
    }
}

impl fmt::Display for HandlerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_name)
    }
}

/// The lifecycle status of an actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorStatus {
    /// Not known (e.g. the actor vanished without reporting).
    Unknown,
    /// Created, not yet started.
    Created,
    /// Running `init`.
    Initializing,
    /// A client instance whose mailbox the user drives.
    Client,
    /// Waiting for work.
    Idle,
    /// Handling a message since the given wall-clock time.
    Processing(SystemTime, Option<HandlerInfo>),
    /// Saving a checkpoint since the given time.
    Saving(SystemTime),
    /// Loading from a checkpoint since the given time.
    Loading(SystemTime),
    /// Shutting down (draining or stopping children).
    Stopping,
    /// Stopped, with the reason given.
    Stopped(String),
    /// Failed.
    Failed(ActorErrorKind),
}

impl ActorStatus {
    /// `Stopped` or `Failed` (LC-1).
    pub fn is_terminal(&self) -> bool {
        matches!(self, ActorStatus::Stopped(_) | ActorStatus::Failed(_))
    }

    /// Whether the status is `Failed`.
    pub fn is_failed(&self) -> bool {
        matches!(self, ActorStatus::Failed(_))
    }

    /// A short lowercase name of the variant (`idle`, `processing`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ActorStatus::Unknown => "unknown",
            ActorStatus::Created => "created",
            ActorStatus::Initializing => "initializing",
            ActorStatus::Client => "client",
            ActorStatus::Idle => "idle",
            ActorStatus::Processing(..) => "processing",
            ActorStatus::Saving(_) => "saving",
            ActorStatus::Loading(_) => "loading",
            ActorStatus::Stopping => "stopping",
            ActorStatus::Stopped(_) => "stopped",
            ActorStatus::Failed(_) => "failed",
        }
    }

    /// The reason of a terminal status (IA-3: only terminal statuses have one).
    pub fn reason(&self) -> Option<String> {
        match self {
            ActorStatus::Stopped(reason) => Some(reason.clone()),
            ActorStatus::Failed(kind) => Some(kind.to_string()),
            _ => None,
        }
    }
}

/// Statuses with a start time print how long they have lasted, measured on
/// the current world's wall clock (so simulated runs print virtual durations).
impl fmt::Display for ActorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = |start: &SystemTime| {
            crate::rt::time::system_now()
                .duration_since(*start)
                .unwrap_or_default()
                .as_millis()
        };
        match self {
            ActorStatus::Processing(start, None) => write!(f, "processing for {}ms", since(start)),
            ActorStatus::Processing(start, Some(handler)) => {
                write!(f, "{handler}: processing for {}ms", since(start))
            }
            ActorStatus::Saving(start) => write!(f, "saving for {}ms", since(start)),
            ActorStatus::Loading(start) => write!(f, "loading for {}ms", since(start)),
            ActorStatus::Stopped(reason) => write!(f, "stopped: {reason}"),
            ActorStatus::Failed(kind) => write!(f, "failed: {kind}"),
            other => f.write_str(other.name()),
        }
    }
}

/// The owner's side of an actor's status watch; enforces LC-1.
///
/// LC-5: waiters are woken in the order they started waiting. (tokio's
/// `watch` spreads waiters over several internal queues chosen by tokio's own
/// thread-local RNG, so its wake order differs between runs of one seed —
/// which is why this is not a `tokio::sync::watch`.)
pub(crate) struct StatusCell {
    shared: Arc<StatusShared>,
    actor_id: Option<crate::id::ActorId>,
}

struct StatusShared {
    state: Mutex<StatusState>,
    /// Set (under `state`'s lock) when the status becomes terminal, which it
    /// then stays (LC-1): every delivery asks, and a load needs no lock.
    terminal: AtomicBool,
}

struct StatusState {
    status: ActorStatus,
    version: u64,
    closed: bool,
    next_waiter: u64,
    /// Receivers waiting for any change, in the order they registered (LC-5).
    waiters: BTreeMap<u64, Waker>,
    /// Receivers waiting only for a terminal status: not woken by the
    /// per-message Idle/Processing flips (the hot path).
    terminal_waiters: BTreeMap<u64, Waker>,
}

impl StatusCell {
    fn with_status(initial: ActorStatus, actor_id: Option<crate::id::ActorId>) -> Self {
        Self {
            shared: Arc::new(StatusShared {
                terminal: AtomicBool::new(initial.is_terminal()),
                state: Mutex::new(StatusState {
                    status: initial,
                    version: 0,
                    closed: false,
                    next_waiter: 0,
                    waiters: BTreeMap::new(),
                    terminal_waiters: BTreeMap::new(),
                }),
            }),
            actor_id,
        }
    }

    #[cfg(test)]
    pub(crate) fn new(initial: ActorStatus) -> Self {
        Self::with_status(initial, None)
    }

    /// A status cell that reports its changes to the world's trace.
    pub(crate) fn observed(actor_id: crate::id::ActorId, initial: ActorStatus) -> Self {
        Self::with_status(initial, Some(actor_id))
    }

    /// Apply `change`; if it changed the status, wake the waiters it concerns,
    /// in order, and trace lifecycle changes (not the per-message
    /// Idle/Processing flips, which would dominate the trace).
    fn update(&self, change: impl FnOnce(&mut ActorStatus) -> bool) -> bool {
        let (waiters, terminal_waiters, observed) = {
            let mut state = self.shared.state.lock();
            if !change(&mut state.status) {
                return false;
            }
            state.version += 1;
            // The per-message flips usually find nobody waiting: they take
            // (and later drop) no map at all.
            let waiters = if state.waiters.is_empty() {
                None
            } else {
                Some(std::mem::take(&mut state.waiters))
            };
            let terminal = state.status.is_terminal();
            let mut terminal_waiters = None;
            if terminal {
                self.shared.terminal.store(true, Ordering::Release);
                terminal_waiters = Some(std::mem::take(&mut state.terminal_waiters));
            }
            let lifecycle = !matches!(
                state.status,
                ActorStatus::Idle | ActorStatus::Processing(..)
            );
            let observed = (lifecycle && self.actor_id.is_some()).then(|| state.status.clone());
            (waiters, terminal_waiters, observed)
        };
        if let (Some(actor_id), Some(status)) = (&self.actor_id, &observed) {
            crate::observe::status(actor_id, status);
        }
        if waiters.is_some() || terminal_waiters.is_some() {
            for waker in waiters
                .into_iter()
                .chain(terminal_waiters)
                .flat_map(BTreeMap::into_values)
            {
                waker.wake();
            }
        }
        true
    }

    /// Move to `next`. Panics if the current status is terminal (LC-1).
    #[track_caller]
    pub(crate) fn set(&self, next: ActorStatus) {
        let mut violation = None;
        self.update(|current| {
            if current.is_terminal() {
                violation = Some(format!(
                    "terminal status {current:?} would change to {next:?}"
                ));
                return false;
            }
            *current = next;
            true
        });
        // Panic with the lock released, so the cell stays usable for reports.
        if let Some(violation) = violation {
            panic!("LC-1 violated: {violation}");
        }
    }

    /// Move to `next` unless already terminal; returns whether it moved.
    pub(crate) fn set_unless_terminal(&self, next: ActorStatus) -> bool {
        self.update(|current| {
            if current.is_terminal() {
                false
            } else {
                *current = next;
                true
            }
        })
    }

    pub(crate) fn get(&self) -> ActorStatus {
        self.shared.state.lock().status.clone()
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.shared.terminal.load(Ordering::Acquire)
    }

    pub(crate) fn subscribe(&self) -> StatusReceiver {
        let seen = self.shared.state.lock().version;
        StatusReceiver {
            shared: self.shared.clone(),
            seen,
        }
    }
}

impl Drop for StatusCell {
    fn drop(&mut self) {
        let (waiters, terminal_waiters) = {
            let mut state = self.shared.state.lock();
            state.closed = true;
            (
                std::mem::take(&mut state.waiters),
                std::mem::take(&mut state.terminal_waiters),
            )
        };
        for waker in waiters.into_values().chain(terminal_waiters.into_values()) {
            waker.wake();
        }
    }
}

/// The status cell is gone (its actor was dropped without a terminal status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the actor's status can no longer change: its cell is gone")]
pub struct StatusClosed;

/// A read-only snapshot of a status, returned by [`StatusReceiver`]; derefs
/// to the [`ActorStatus`] (`.clone()` gives the status itself).
#[derive(Debug, PartialEq, Eq)]
pub struct StatusRef(ActorStatus);

impl fmt::Display for StatusRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::ops::Deref for StatusRef {
    type Target = ActorStatus;
    fn deref(&self) -> &ActorStatus {
        &self.0
    }
}

/// Observes an actor's status: read it now, or wait for a change or a
/// condition. Waiters wake in the order they began waiting (LC-5).
#[derive(Clone)]
pub struct StatusReceiver {
    shared: Arc<StatusShared>,
    seen: u64,
}

impl std::fmt::Debug for StatusReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusReceiver({:?})", self.shared.state.lock().status)
    }
}

impl StatusReceiver {
    /// The current status.
    pub fn borrow(&self) -> StatusRef {
        StatusRef(self.shared.state.lock().status.clone())
    }

    /// The current status, marking it seen (for [`StatusReceiver::changed`]).
    pub fn borrow_and_update(&mut self) -> StatusRef {
        let state = self.shared.state.lock();
        self.seen = state.version;
        StatusRef(state.status.clone())
    }

    /// Wait until the status satisfies `condition`; returns that status.
    pub async fn wait_for(
        &mut self,
        condition: impl FnMut(&ActorStatus) -> bool,
    ) -> Result<StatusRef, StatusClosed> {
        self.wait(false, condition).await
    }

    /// Wait until the status is terminal; returns it. Unlike
    /// `wait_for(ActorStatus::is_terminal)`, this is not woken by the
    /// actor's per-message status changes.
    pub async fn wait_terminal(&mut self) -> Result<StatusRef, StatusClosed> {
        self.wait(true, ActorStatus::is_terminal).await
    }

    /// Wait until `condition` holds, registered among all waiters or only
    /// among those woken by terminal transitions.
    async fn wait(
        &mut self,
        terminal_only: bool,
        mut condition: impl FnMut(&ActorStatus) -> bool,
    ) -> Result<StatusRef, StatusClosed> {
        let mut waiting = Waiting {
            shared: &self.shared,
            slot: None,
            terminal_only,
        };
        std::future::poll_fn(|cx| {
            let mut state = self.shared.state.lock();
            if condition(&state.status) {
                self.seen = state.version;
                return Poll::Ready(Ok(StatusRef(state.status.clone())));
            }
            if state.closed {
                return Poll::Ready(Err(StatusClosed));
            }
            waiting.register(&mut state, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Wait until the status changes from the last one seen.
    pub async fn changed(&mut self) -> Result<(), StatusClosed> {
        let mut waiting = Waiting {
            shared: &self.shared,
            slot: None,
            terminal_only: false,
        };
        std::future::poll_fn(|cx| {
            let mut state = self.shared.state.lock();
            if state.version != self.seen {
                self.seen = state.version;
                return Poll::Ready(Ok(()));
            }
            if state.closed {
                return Poll::Ready(Err(StatusClosed));
            }
            waiting.register(&mut state, cx.waker());
            Poll::Pending
        })
        .await
    }
}

/// One pending wait: keeps its place in line across polls, leaves on drop.
struct Waiting<'a> {
    shared: &'a Arc<StatusShared>,
    slot: Option<u64>,
    terminal_only: bool,
}

impl Waiting<'_> {
    fn list<'s>(&self, state: &'s mut StatusState) -> &'s mut BTreeMap<u64, Waker> {
        if self.terminal_only {
            &mut state.terminal_waiters
        } else {
            &mut state.waiters
        }
    }

    fn register(&mut self, state: &mut StatusState, waker: &Waker) {
        let slot = match self.slot {
            // Still registered (not woken yet): keep its place in line.
            Some(slot) if self.list(state).contains_key(&slot) => slot,
            _ => {
                let slot = state.next_waiter;
                state.next_waiter += 1;
                self.slot = Some(slot);
                slot
            }
        };
        self.list(state).insert(slot, waker.clone());
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut state = self.shared.state.lock();
            self.list(&mut state).remove(&slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "LC-1 violated")]
    fn lc_1_terminal_status_never_changes() {
        let cell = StatusCell::new(ActorStatus::Idle);
        cell.set(ActorStatus::Stopped("done".into()));
        cell.set(ActorStatus::Idle);
    }

    /// The lock-free terminal flag agrees with the status itself: from a
    /// terminal start, after `set`, and after `set_unless_terminal`, both
    /// before and after the status turns terminal.
    #[test]
    fn is_terminal_agrees_with_the_status() {
        let agree = |cell: &StatusCell| assert_eq!(cell.is_terminal(), cell.get().is_terminal());
        let born_stopped = StatusCell::new(ActorStatus::Stopped("never ran".into()));
        agree(&born_stopped);
        assert!(born_stopped.is_terminal());
        let cell = StatusCell::new(ActorStatus::Idle);
        agree(&cell);
        assert!(cell.set_unless_terminal(ActorStatus::Stopping));
        agree(&cell);
        assert!(!cell.is_terminal());
        cell.set(ActorStatus::Stopped("done".into()));
        agree(&cell);
        assert!(cell.is_terminal());
        let failing = StatusCell::new(ActorStatus::Idle);
        assert!(
            failing.set_unless_terminal(ActorStatus::Failed(ActorErrorKind::Aborted("x".into())))
        );
        agree(&failing);
        assert!(failing.is_terminal());
    }

    #[test]
    fn lc_1_set_unless_terminal_leaves_terminal_alone() {
        let cell = StatusCell::new(ActorStatus::Idle);
        assert!(cell.set_unless_terminal(ActorStatus::Stopping));
        cell.set(ActorStatus::Failed(ActorErrorKind::Aborted("x".into())));
        assert!(!cell.set_unless_terminal(ActorStatus::Stopped("late".into())));
        assert!(cell.get().is_failed());
    }
}
