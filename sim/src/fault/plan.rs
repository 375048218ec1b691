//! Fault plans: explicit lists of timed faults, and a proptest [`Strategy`]
//! that generates them, so a failing property shrinks to a minimal plan.
//!
//! PLAN-1: a plan is data (printable, comparable, replayable); executing it
//! on a [`Network`] applies each fault at its virtual time, in order.

use std::fmt;
use std::time::Duration;

use proptest::prelude::*;

use crate::net::Network;

/// One fault, in runbook words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cut the direction `from → to`.
    Partition {
        /// Sending side.
        from: String,
        /// Receiving side.
        to: String,
    },
    /// Restore `from → to`.
    Heal {
        /// Sending side.
        from: String,
        /// Receiving side.
        to: String,
    },
    /// Crash a proc.
    Crash(String),
    /// Pause a proc: none of its tasks runs until it resumes (EXEC-7).
    Pause(String),
    /// Undo a pause.
    Resume(String),
    /// Restart a (crashed) proc: a fresh proc with the same id; what runs on
    /// it is the caller's to re-create (see [`FaultPlan::execute_with`]).
    Restart(String),
    /// Give the link `from → to` a fixed latency of its own (a slow link).
    SlowLink {
        /// Sending side.
        from: String,
        /// Receiving side.
        to: String,
        /// Its latency, in milliseconds.
        millis: u64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { from, to } => write!(f, "partition {from} -> {to}"),
            Fault::Heal { from, to } => write!(f, "heal {from} -> {to}"),
            Fault::Crash(proc) => write!(f, "crash {proc}"),
            Fault::Pause(proc) => write!(f, "pause {proc}"),
            Fault::Resume(proc) => write!(f, "resume {proc}"),
            Fault::Restart(proc) => write!(f, "restart {proc}"),
            Fault::SlowLink { from, to, millis } => write!(f, "slow {from} -> {to} {millis}ms"),
        }
    }
}

/// A fault at a virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedFault {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub fault: Fault,
}

/// An ordered list of timed faults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The faults, sorted by time.
    pub faults: Vec<TimedFault>,
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.faults.is_empty() {
            return f.write_str("(no faults)");
        }
        for (index, timed) in self.faults.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "at {:?}: {}", timed.at, timed.fault)?;
        }
        Ok(())
    }
}

impl FaultPlan {
    /// Apply the plan to `network`, each fault at its time (from now)
    /// (PLAN-1). Spawn it next to the system under test. It does not heal
    /// what it cut or resume what it paused: call `network.heal_all()` (or
    /// let the liveness phase) after.
    pub async fn execute(self, network: Network) {
        self.execute_with(network, |_, _| {}).await;
    }

    /// [`FaultPlan::execute`], handing each restarted proc to `restarted`
    /// (with its name) so the caller can spawn its actors there again.
    pub async fn execute_with(
        self,
        network: Network,
        mut restarted: impl FnMut(&str, lockstep::Proc),
    ) {
        let start = lockstep::time::now();
        for timed in self.faults {
            lockstep::time::sleep_until(start + timed.at).await;
            match timed.fault {
                Fault::Partition { from, to } => network.partition(&from, &to),
                Fault::Heal { from, to } => network.heal(&from, &to),
                Fault::Crash(proc) => network.crash(&proc),
                Fault::Pause(proc) => network.pause(&proc),
                Fault::Resume(proc) => network.resume(&proc),
                Fault::Restart(proc) => restarted(&proc, network.restart(&proc)),
                Fault::SlowLink { from, to, millis } => network.set_link_latency(
                    &from,
                    &to,
                    Some(crate::net::Latency::Fixed(Duration::from_millis(millis))),
                ),
            }
        }
    }
}

/// Plans over `procs` with up to `faults_max` faults within `horizon`;
/// crashes only if `crashes`. Shrinks toward fewer, earlier, simpler faults.
pub fn fault_plans(
    procs: Vec<String>,
    horizon: Duration,
    faults_max: usize,
    crashes: bool,
) -> impl Strategy<Value = FaultPlan> {
    assert!(!procs.is_empty(), "a fault plan needs at least one proc");
    let proc = proptest::sample::select(procs);
    let link = (proc.clone(), proc.clone());
    let fault = prop_oneof![
        3 => link.clone().prop_map(|(from, to)| Fault::Partition { from, to }),
        3 => link.clone().prop_map(|(from, to)| Fault::Heal { from, to }),
        1 => proc.clone().prop_map(Fault::Pause),
        1 => proc.clone().prop_map(Fault::Resume),
        1 => (link.clone(), 1..2_000u64)
            .prop_map(|((from, to), millis)| Fault::SlowLink { from, to, millis }),
        if crashes { 1 } else { 0 } => proc.clone().prop_map(Fault::Crash),
        if crashes { 1 } else { 0 } => proc.prop_map(Fault::Restart),
    ];
    let horizon_ms = horizon.as_millis().max(1) as u64;
    let timed = (0..horizon_ms, fault).prop_map(|(at, fault)| TimedFault {
        at: Duration::from_millis(at),
        fault,
    });
    proptest::collection::vec(timed, 0..=faults_max).prop_map(|mut faults| {
        faults.sort_by_key(|timed| timed.at);
        FaultPlan { faults }
    })
}
