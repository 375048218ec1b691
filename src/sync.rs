//! Loom shim: the synchronization primitives the runtime's pure cores use.
//!
//! Owns: one import path (`crate::sync::{Arc, Mutex, ...}`) that resolves to
//! `std::sync` in normal builds and to `loom::sync` when built with
//! `RUSTFLAGS="--cfg lockstep_loom"`, so loom models exercise the same code the
//! runtime runs. Call sites never name std or loom directly.
//! Does not own: async primitives (use `tokio::sync`, which is runtime-agnostic)
//! or anything the simulator schedules.
//!
//! The cfg is crate-specific (`lockstep_loom`, not `loom`) because `--cfg loom`
//! switches tokio into its own loom mode, which breaks the build.
//!
//! [`Mutex`] is a thin wrapper with the same API under both backends: `lock()`
//! returns the guard directly. A poisoned lock means another thread panicked
//! while holding it, i.e. an internal invariant already broke; we propagate that
//! panic instead of handing every caller a `Result` it cannot act on.

#[cfg(lockstep_loom)]
use loom::sync as backend;
#[cfg(not(lockstep_loom))]
use std::sync as backend;

pub use backend::Arc;
pub use backend::MutexGuard;

/// Atomics from the active backend.
pub mod atomic {
    #[cfg(lockstep_loom)]
    pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    #[cfg(not(lockstep_loom))]
    pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

    pub use std::sync::atomic::Ordering;
}

/// A mutual-exclusion lock whose [`lock`](Mutex::lock) returns the guard.
///
/// Same API under std and loom; see the module doc for why poisoning panics.
pub struct Mutex<T> {
    inner: backend::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            inner: backend::Mutex::new(value),
        }
    }

    /// The guard even if another thread panicked while holding the lock:
    /// for code that runs while unwinding, where a second panic would abort.
    pub fn lock_ignoring_poison(&self) -> MutexGuard<'_, T> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Blocks until the lock is held and returns its guard.
    ///
    /// # Panics
    /// If another thread panicked while holding the lock (the protected state
    /// may be half-updated, so continuing would hide a broken invariant).
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(_) => {
                panic!("lockstep::sync::Mutex poisoned: another thread panicked while holding it")
            }
        }
    }

    /// Consumes the mutex and returns the value.
    ///
    /// # Panics
    /// If the lock was poisoned (see [`lock`](Mutex::lock)).
    #[track_caller]
    pub fn into_inner(self) -> T {
        match self.inner.into_inner() {
            Ok(value) => value,
            Err(_) => {
                panic!("lockstep::sync::Mutex poisoned: another thread panicked while holding it")
            }
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never lock in Debug: formatting while the lock is held would deadlock.
        formatter.debug_struct("Mutex").finish_non_exhaustive()
    }
}
