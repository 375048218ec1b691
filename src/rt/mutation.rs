//! Planted bugs, for testing the simulator's oracles (never for users).
//!
//! Each switch names one way the runtime could break its contract. A world
//! can turn some on (the simulator's `Config::mutations`); the oracles must
//! then catch the breakage. In release builds [`enabled`] is a constant
//! `false`, so the switches are compiled out.

/// The reorder stage releases in arrival order and lets duplicates through.
pub const REORDER_BYPASS: &str = "reorder-bypass";
/// A terminating actor does not send its supervision event.
pub const DROP_SUPERVISION_EVENT: &str = "drop-supervision-event";
/// Introspection waits behind the actor's work (as if served from its queue).
pub const INTROSPECT_VIA_WORK_QUEUE: &str = "introspect-via-work-queue";
/// A message arriving at a crashed proc is dropped instead of returned.
pub const SILENT_DROP_ON_CRASH: &str = "silent-drop-on-crash";

/// Every planted bug, by name.
pub const ALL: [&str; 4] = [
    REORDER_BYPASS,
    DROP_SUPERVISION_EVENT,
    INTROSPECT_VIA_WORK_QUEUE,
    SILENT_DROP_ON_CRASH,
];

/// Whether the current world planted bug `name`.
#[cfg(debug_assertions)]
pub fn enabled(name: &'static str) -> bool {
    super::with_environment(|environment| {
        environment.is_some_and(|environment| environment.mutation_enabled(name))
    })
}

/// Release builds: planted bugs are compiled out.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn enabled(_name: &'static str) -> bool {
    false
}
