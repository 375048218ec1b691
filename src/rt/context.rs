//! Where the current environment lives: one thread-local slot per thread.
//!
//! RT-2: entering an environment is scoped by a guard; leaving restores the
//! previous one, so nested or sequential worlds on one thread don't leak.

use std::cell::RefCell;
use std::sync::Arc;

use super::Environment;

thread_local! {
    static CURRENT: RefCell<Option<Arc<dyn Environment>>> = const { RefCell::new(None) };
}

/// Restores the previously installed environment when dropped.
#[must_use = "the environment is uninstalled when the guard drops"]
pub struct EnterGuard {
    previous: Option<Arc<dyn Environment>>,
}

/// Install `environment` for the current thread until the guard drops.
pub fn enter(environment: Arc<dyn Environment>) -> EnterGuard {
    let previous = CURRENT.with(|slot| slot.borrow_mut().replace(environment));
    EnterGuard { previous }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: a guard may drop during thread teardown.
        let _ = CURRENT.try_with(|slot| *slot.borrow_mut() = previous);
    }
}

/// The environment installed on this thread, if any.
pub fn current() -> Option<Arc<dyn Environment>> {
    CURRENT.with(|slot| slot.borrow().clone())
}

/// Borrow the current environment without cloning the `Arc` (the hot path).
///
/// `f` runs while the slot is borrowed: it must not call [`enter`] (no
/// environment method does; worlds are entered before they run anything).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Arc<dyn Environment>>) -> R) -> R {
    CURRENT.with(|slot| f(slot.borrow().as_ref()))
}
