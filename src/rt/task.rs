//! Spawning tasks through the seam.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::{AbortTask, with_environment};

/// Why a [`JoinHandle`] produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was aborted, panicked, or its world was torn down first.
    #[error("task `{name}` ended without producing a value (aborted, panicked or dropped)")]
    Ended {
        /// The name the task was spawned with.
        name: String,
    },
}

/// Awaits a spawned task's output; dropping it detaches the task.
pub struct JoinHandle<T> {
    name: String,
    output: oneshot::Receiver<T>,
    abort: Box<dyn AbortTask>,
}

impl<T> JoinHandle<T> {
    /// Cancel the task. Awaiting the handle afterwards yields [`JoinError::Ended`].
    pub fn abort(&self) {
        self.abort.abort();
    }

    /// The name the task was spawned with.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.output).poll(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(Ok(value)),
            Poll::Ready(Err(_)) => Poll::Ready(Err(JoinError::Ended {
                name: self.name.clone(),
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Start `future` as a task of the current world, named for traces and
/// deadlock reports.
///
/// Under simulation the world's executor schedules it; otherwise it goes to
/// the ambient tokio runtime (and, like `tokio::spawn`, panics outside one).
pub fn spawn<F>(name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    start(None, name, future)
}

/// [`spawn`] a task that belongs to the proc named `owner` whoever spawns
/// it (an actor's run loop, a proc's server): under simulation it is paused
/// with that proc and reads that proc's skewed wall clock. (A task started
/// with [`spawn`] belongs to its spawner's proc.)
pub fn spawn_for<F>(owner: &str, name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    start(Some(owner), name, future)
}

fn start<F>(owner: Option<&str>, name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (sender, output) = oneshot::channel();
    let task = Box::pin(async move {
        let value = future.await;
        let _ = sender.send(value);
    });
    let abort = with_environment(|environment| match (environment, owner) {
        (Some(environment), Some(owner)) => environment.spawn_for(owner, name, task),
        (Some(environment), None) => environment.spawn(name, task),
        (None, _) => super::tokio_env::spawn(name, task),
    });
    JoinHandle {
        name: name.to_owned(),
        output,
        abort,
    }
}

/// Give other tasks a chance to run before continuing.
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
