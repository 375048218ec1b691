//! Oracles: the runtime's contract (DESIGN §3), checked on every simulated run
//! with no test code from the user.
//!
//! Owns: one checker per invariant family — [`sequencing`] (order and
//! accounting of every sequenced message), [`supervision`] (LC-1, SV-1,
//! SV-3), [`introspection`] (S1, S2, IA-1/3/4 probed live at seed-chosen
//! moments), [`liveness`] (after heal, everything settles) — plus user
//! [`properties`] (`always`, `sometimes`, `eventually_within`).
//!
//! ORACLE-1: every check counts itself, so a report shows the oracles ran;
//! every violation names its invariant code, what broke, and when.

pub mod introspection;
pub mod liveness;
pub mod properties;
pub mod sequencing;
pub mod supervision;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use lockstep::ActorId;

/// One broken promise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The oracle that found it (`sequencing`, `supervision`, ...).
    pub oracle: &'static str,
    /// The invariant code (`SEQ-2`, `UD-1`, `SV-1`, `S1`, `LIVE-1`, ...).
    pub code: &'static str,
    /// What happened, with the ids needed to act.
    pub message: String,
    /// Virtual time of the offending event, when known.
    pub at: Option<Duration>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} oracle, {}: {}", self.oracle, self.code, self.message)?;
        if let Some(at) = self.at {
            write!(f, " (at {at:?})")?;
        }
        Ok(())
    }
}

/// What the oracles did in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OracleReport {
    /// Checks made, per oracle.
    pub checks: BTreeMap<&'static str, u64>,
    /// Violations found, in the order found.
    pub violations: Vec<Violation>,
}

impl OracleReport {
    /// Count one check by `oracle`.
    pub fn checked(&mut self, oracle: &'static str) {
        *self.checks.entry(oracle).or_default() += 1;
    }

    /// Count `count` checks by `oracle`.
    pub fn checked_many(&mut self, oracle: &'static str, count: u64) {
        *self.checks.entry(oracle).or_default() += count;
    }

    /// Record a violation.
    pub fn violated(
        &mut self,
        oracle: &'static str,
        code: &'static str,
        message: String,
        at: Option<Duration>,
    ) {
        self.violations.push(Violation {
            oracle,
            code,
            message,
            at,
        });
    }

    /// Fold another report into this one.
    pub fn merge(&mut self, other: OracleReport) {
        for (oracle, count) in other.checks {
            self.checked_many(oracle, count);
        }
        self.violations.extend(other.violations);
    }
}

/// Run the trace-wide oracles ([`sequencing`], then [`supervision`]) over
/// `trace` in one pass: each event is decoded once and handed to both.
/// Their findings land in `report` as if each had run alone, sequencing's
/// first. The parameters are [`sequencing::check`]'s.
pub fn check_trace(
    trace: &crate::trace::Trace,
    reorder_buffer: bool,
    senders_hold: bool,
    held_at_end: &sequencing::HeldAtEnd,
    report: &mut OracleReport,
) {
    let mut ordering = sequencing::Checker::new(reorder_buffer, senders_hold);
    let mut lifecycle = supervision::Checker::default();
    let (mut ordering_report, mut lifecycle_report) =
        (OracleReport::default(), OracleReport::default());
    trace.visit(|event| {
        ordering.event(&event, &mut ordering_report);
        lifecycle.event(&event, &mut lifecycle_report);
    });
    ordering.finish(held_at_end, &mut ordering_report);
    lifecycle.finish(&mut lifecycle_report);
    report.merge(ordering_report);
    report.merge(lifecycle_report);
}

/// Actor ids as the trace writes them, each parsed once per pass (the text
/// borrows from the trace, `'t`).
#[derive(Default)]
pub(crate) struct ParsedIds<'t>(BTreeMap<&'t str, Option<ActorId>>);

impl<'t> ParsedIds<'t> {
    /// The id `text` spells, if it is well formed.
    pub(crate) fn get(&mut self, text: &'t str) -> Option<&ActorId> {
        self.0
            .entry(text)
            .or_insert_with(|| text.parse().ok())
            .as_ref()
    }

    /// Whether both actors are well formed and live in the same proc.
    pub(crate) fn same_proc(&mut self, left: &'t str, right: &'t str) -> bool {
        // Parsed first, then compared in place: no id is cloned per send.
        self.get(left);
        self.get(right);
        match (self.0.get(left), self.0.get(right)) {
            (Some(Some(left)), Some(Some(right))) => left.proc_id() == right.proc_id(),
            _ => false,
        }
    }

    /// The name of the proc `actor` lives in, if its id is well formed.
    pub(crate) fn proc_name(&mut self, actor: &'t str) -> Option<&str> {
        self.get(actor).map(|id| id.proc_id().name())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::trace::{Recorded, Trace};

    /// A trace that breaks both trace-wide oracles, more than once each:
    /// out-of-order and vanished sequenced messages (SEQ-2, UD-1), a status
    /// after a terminal one (LC-1), and a terminated actor with no
    /// supervision event (SV-1).
    fn trace_breaking_both_oracles() -> Trace {
        let actor_id = |name: &str| -> Arc<str> {
            let proc = lockstep::ProcId::local("p").expect("a proc id");
            proc.actor_id(name, 0)
                .expect("an actor id")
                .to_string()
                .into()
        };
        let (sender, sink, worker) = (actor_id("sender"), actor_id("sink"), actor_id("worker"));
        let port = lockstep::id::HANDLER_PORT_BIT | 7;
        let mut trace = Trace::default();
        let mut step = 0;
        let mut push = |kind: &'static str, fields: &[(&'static str, Recorded<'_>)]| {
            step += 1;
            let time = Duration::from_millis(step);
            trace.push(time, step, kind, None, fields.iter().copied());
        };
        for actor in [&sink, &worker] {
            push(
                "actor_spawn",
                &[
                    ("actor", Recorded::Shared(actor)),
                    ("parent", Recorded::Text("")),
                ],
            );
        }
        for seq in 1..=3 {
            let fields = [
                ("sender", Recorded::Shared(&sender)),
                ("dest", Recorded::Port(&sink, port)),
                ("session", Recorded::U64(9)),
                ("seq", Recorded::U64(seq)),
            ];
            push("send", &fields);
        }
        push(
            "handled",
            &[
                ("actor", Recorded::Shared(&sink)),
                ("session", Recorded::U64(9)),
                ("seq", Recorded::U64(2)),
            ],
        );
        for status in ["stopped: done", "idle"] {
            let fields = [
                ("actor", Recorded::Shared(&worker)),
                ("status", Recorded::Text(status)),
                ("terminal", Recorded::Bool(status.starts_with("stopped"))),
            ];
            push("status", &fields);
        }
        trace
    }

    /// Goal: `check_trace` (one pass feeding both oracles) reports exactly
    /// what running the sequencing oracle and then the supervision oracle
    /// over the trace reports: the same checks, the same violations, in
    /// the same order.
    #[test]
    fn one_pass_reports_what_the_two_oracles_report_one_after_the_other() {
        let trace = trace_breaking_both_oracles();
        let held = sequencing::HeldAtEnd::new();
        let mut one_after_the_other = OracleReport::default();
        sequencing::check(&trace, true, false, &held, &mut one_after_the_other);
        supervision::check(&trace, &mut one_after_the_other);
        let mut one_pass = OracleReport::default();
        check_trace(&trace, true, false, &held, &mut one_pass);
        let codes: Vec<_> = one_pass
            .violations
            .iter()
            .map(|violation| violation.code)
            .collect();
        assert_eq!(codes, ["SEQ-2", "UD-1", "LC-1", "SV-1"], "{one_pass:?}");
        assert_eq!(one_pass, one_after_the_other);
    }
}
