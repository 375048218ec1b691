//! The supervision oracle, over the trace.
//!
//! LC-1: once an actor incarnation's status is terminal it never changes.
//! SV-1: every terminated actor produces exactly one supervision event (to
//! its parent, or the coordinator for a root).
//! SV-2: a propagated failure names its leaf as root cause: an actor of the
//! reporter's subtree that failed (on its own) before the report.
//! SV-3: no actor outlives its parent: a child is terminal before its parent is.
//! Actors of a crashed proc are exempt (the process died: nobody reports).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{OracleReport, ParsedIds};
use crate::trace::{EventRef, Trace};

const ORACLE: &str = "supervision";

/// One life of an actor id; its text borrows from the trace (`'t`).
#[derive(Default)]
struct Incarnation<'t> {
    parent: Option<&'t str>,
    /// The parent's incarnation when this one was spawned.
    parent_slot: Option<usize>,
    terminal_at: Option<(usize, Duration)>,
    events: u32,
    client: bool,
    crashed: bool,
}

/// Check the trace. (A run's checks feed this oracle and the sequencing
/// oracle from one pass over the trace: [`super::check_trace`].)
pub fn check(trace: &Trace, report: &mut OracleReport) {
    let mut checker = Checker::default();
    trace.visit(|event| checker.event(&event, report));
    checker.finish(report);
}

/// The supervision oracle's state over one pass of a trace: fed each event
/// in order ([`Checker::event`]), then asked for SV-1 and SV-3
/// ([`Checker::finish`]). Actor ids borrow their text from the trace (`'t`).
#[derive(Default)]
pub struct Checker<'t> {
    /// Every actor life, in spawn order.
    incarnations: Vec<(&'t str, Incarnation<'t>)>,
    /// Per actor id, its current life (an index into `incarnations`).
    current: BTreeMap<&'t str, usize>,
    ids: ParsedIds<'t>,
    /// The position of the next event in the trace.
    index: usize,
}

impl<'t> Checker<'t> {
    /// Take the trace's next event.
    pub fn event(&mut self, event: &EventRef<'t, '_>, report: &mut OracleReport) {
        let Self {
            incarnations,
            current,
            ids,
            index,
        } = self;
        let this = *index;
        *index += 1;
        match event.kind {
            "actor_spawn" => {
                let actor = event.text("actor");
                let parent = Some(event.text("parent")).filter(|parent| !parent.is_empty());
                let parent_slot = parent.and_then(|parent| current.get(parent).copied());
                current.insert(actor, incarnations.len());
                incarnations.push((
                    actor,
                    Incarnation {
                        parent,
                        parent_slot,
                        client: event.is_true("client"),
                        ..Incarnation::default()
                    },
                ));
            }
            "net_crash" => {
                let proc = event.text("proc");
                for (actor, slot) in current.iter() {
                    let on_proc = ids.proc_name(actor) == Some(proc);
                    if on_proc && incarnations[*slot].1.terminal_at.is_none() {
                        incarnations[*slot].1.crashed = true;
                    }
                }
            }
            "status" => {
                let actor = event.text("actor");
                let Some(slot) = current.get(actor) else {
                    return;
                };
                let incarnation = &mut incarnations[*slot].1;
                let status = event.text("status");
                if status == "client" {
                    incarnation.client = true;
                }
                report.checked(ORACLE);
                if incarnation.terminal_at.is_some() {
                    report.violated(
                        ORACLE,
                        "LC-1",
                        format!("{actor} changed status to {status} after it was terminal"),
                        Some(event.time),
                    );
                }
                if event.is_true("terminal") && incarnation.terminal_at.is_none() {
                    incarnation.terminal_at = Some((this, event.time));
                }
            }
            "supervision_event" => {
                let actor = event.text("actor");
                if let Some(slot) = current.get(actor) {
                    incarnations[*slot].1.events += 1;
                }
                let root_cause = event.text("root_cause");
                if event.is_true("failed") && root_cause != actor {
                    report.checked(ORACLE);
                    // SV-2: the leaf failed first, and sits below the reporter.
                    let leaf = current.get(root_cause).map(|slot| &incarnations[*slot].1);
                    let failed_first = leaf.is_some_and(|leaf| leaf.terminal_at.is_some());
                    let mut below = false;
                    let mut cursor = current.get(root_cause).copied();
                    while let Some(slot) = cursor {
                        let (id, incarnation) = &incarnations[slot];
                        if *id == actor {
                            below = true;
                            break;
                        }
                        cursor = incarnation.parent_slot;
                    }
                    if !failed_first || !below {
                        report.violated(
                            ORACLE,
                            "SV-2",
                            format!(
                                "{actor} reported a failure rooted at {root_cause}, which {}",
                                if failed_first {
                                    "is not in its subtree"
                                } else {
                                    "had not failed"
                                }
                            ),
                            Some(event.time),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// SV-1 and SV-3, once every event was taken.
    pub fn finish(self, report: &mut OracleReport) {
        let incarnations = self.incarnations;
        // Where the parent incarnation became terminal, for SV-3.
        let parent_terminal = |incarnation: &Incarnation| -> Option<usize> {
            let (_, parent) = &incarnations[incarnation.parent_slot?];
            if parent.crashed {
                return None;
            }
            parent.terminal_at.map(|(index, _)| index)
        };
        for (actor, incarnation) in &incarnations {
            if incarnation.client || incarnation.crashed {
                continue;
            }
            let Some((terminal_index, terminal_time)) = incarnation.terminal_at else {
                // Alive at the end: its parent must be too (SV-3).
                if let Some(parent) = &incarnation.parent {
                    report.checked(ORACLE);
                    if parent_terminal(incarnation).is_some() {
                        report.violated(
                            ORACLE,
                            "SV-3",
                            format!("{actor} is still alive but its parent {parent} terminated"),
                            None,
                        );
                    }
                }
                continue;
            };
            report.checked(ORACLE);
            if incarnation.events != 1 {
                report.violated(
                ORACLE,
                "SV-1",
                format!(
                    "{actor} terminated but produced {} supervision events (expected exactly one)",
                    incarnation.events
                ),
                Some(terminal_time),
            );
            }
            if let Some(parent) = &incarnation.parent {
                report.checked(ORACLE);
                if let Some(parent_terminal) = parent_terminal(incarnation) {
                    if parent_terminal < terminal_index {
                        report.violated(
                            ORACLE,
                            "SV-3",
                            format!("{actor} outlived its parent {parent}"),
                            Some(terminal_time),
                        );
                    }
                }
            }
        }
    }
}
