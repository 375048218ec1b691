//! Why a world's run failed: the typed verdicts of the executor and the
//! budgets.
//!
//! Owns: [`Failure`] and the reports it carries. Does not own: detecting the
//! conditions (see `executor`).
//!
//! FAIL-1: every failure names the tasks involved (by the name they were
//! spawned with), so a report is actionable without a debugger.
//! FAIL-2: a run never hangs: it ends in the main future's output or in one of
//! these failures (deadlock, or a step or virtual-time budget).

use std::fmt;
use std::time::Duration;

use crate::executor::TaskId;

/// A task as named in a failure report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskReport {
    /// The name the task was spawned with (`main` for the main future).
    pub name: String,
    /// The task's slot id.
    pub id: TaskId,
    /// How many times the executor polled it.
    pub polls: u64,
}

impl fmt::Display for TaskReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({}, polled {} times)",
            self.name, self.id, self.polls
        )
    }
}

/// A timer still armed when the virtual-time budget ran out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerReport {
    /// The task that armed it, if known.
    pub task: Option<String>,
    /// When it is due, since the world's epoch.
    pub deadline: Duration,
}

impl fmt::Display for TimerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(task) => write!(f, "`{task}` due at {:?}", self.deadline),
            None => write!(f, "(unowned) due at {:?}", self.deadline),
        }
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a simulated run failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// Nothing runnable, no timer armed, and the main future has not finished.
    #[error(
        "deadlock at virtual time {at:?}: nothing runnable, no timer armed, main not finished; live tasks: {}; stuck actors: {}",
        list(tasks),
        list(actors)
    )]
    Deadlock {
        /// Virtual time when it was detected.
        at: Duration,
        /// Every live task, main first, in slot order.
        tasks: Vec<TaskReport>,
        /// Every actor of the world's procs that is not idle or still holds
        /// messages, and what it waits for (procs in creation order).
        actors: Vec<String>,
    },
    /// The executor polled `steps_max` times without the main future finishing.
    #[error(
        "step budget exhausted: {steps_max} polls at virtual time {at:?}; still being woken most recently: {}",
        list(recent)
    )]
    StepBudgetExhausted {
        /// The budget.
        steps_max: u64,
        /// Virtual time when it ran out.
        at: Duration,
        /// Live tasks among the most recent polls, most frequent first.
        recent: Vec<TaskReport>,
    },
    /// The next timer is due after the virtual-time budget.
    #[error(
        "virtual-time budget of {virtual_time_max:?} exhausted: next timer due at {next_deadline:?}; timers still re-arming: {}",
        list(timers)
    )]
    TimeBudgetExhausted {
        /// The budget.
        virtual_time_max: Duration,
        /// The earliest armed deadline, past the budget.
        next_deadline: Duration,
        /// Armed timers in firing order (at most 16).
        timers: Vec<TimerReport>,
    },
    /// A spawned task panicked.
    #[error("task `{task}` panicked: {message}")]
    TaskPanicked {
        /// The task's name.
        task: String,
        /// The panic message.
        message: String,
    },
    /// The main future panicked.
    #[error("the main future panicked: {message}")]
    MainPanicked {
        /// The panic message.
        message: String,
    },
    /// Code inside the world called tokio's spawn or time functions, which
    /// have no runtime here.
    #[error(
        "task `{task}` called tokio::spawn / tokio::time inside a lockstep simulation; \
         use the lockstep facade instead: lockstep::rt::spawn, lockstep::time::sleep, \
         lockstep::time::sleep_until, lockstep::time::timeout, lockstep::time::interval, \
         lockstep::time::now (tokio's panic: {message})"
    )]
    TokioOutsideFacade {
        /// The task's name (`main` for the main future).
        task: String,
        /// tokio's panic message.
        message: String,
    },
    /// `World::run` was called on a thread inside a tokio runtime: tokio's
    /// spawn and time functions would silently escape the simulation there,
    /// so the world refuses to start.
    #[error(
        "World::run was called inside a tokio runtime (e.g. from #[tokio::test]); \
         tokio::spawn / tokio::time would escape the simulation there. Run worlds from \
         a plain #[test] or #[lockstep_sim::test], and use lockstep::rt::spawn and \
         lockstep::time inside them"
    )]
    InsideTokioRuntime,
    /// The test body returned an error.
    #[error("the test body returned an error: {message}")]
    BodyFailed {
        /// The error, displayed.
        message: String,
    },
}

/// Does `message` come from tokio finding no runtime (`tokio::spawn`,
/// `tokio::time::sleep`, ... called outside a tokio runtime)?
pub(crate) fn is_tokio_without_runtime(message: &str) -> bool {
    message.contains("no reactor running")
        || message.contains("must be called from the context of a Tokio")
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

/// The failure for a panic in `task` (`None` = the main future).
pub(crate) fn for_panic(task: Option<&str>, message: String) -> Failure {
    match task {
        _ if is_tokio_without_runtime(&message) => Failure::TokioOutsideFacade {
            task: task.unwrap_or("main").to_owned(),
            message,
        },
        Some(task) => Failure::TaskPanicked {
            task: task.to_owned(),
            message,
        },
        None => Failure::MainPanicked { message },
    }
}
