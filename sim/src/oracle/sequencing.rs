//! The sequencing oracle, over the trace.
//!
//! SEQ-2 / SEQ-3: with the reorder buffer on, each (session, destination
//! actor incarnation) handles seqs 1, 2, 3, … — strictly increasing, no
//! duplicates, no gaps.
//! SEQ-6: with it off, each actor handles sequenced messages in exactly the
//! order they arrived (duplicates included).
//! UD-1: every sequenced message sent to a handler port ends exactly one way:
//! handled, returned to its sender as undeliverable (or refused at send),
//! lost with its destination proc's crash *after it arrived there*, lost
//! with its sender's proc's crash while its channels still held it (the
//! session transport: it had not arrived anywhere yet) — or is
//! still queued or buffered at a live actor when the run ends (counted from
//! the final state). A message still in flight when its destination crashes
//! must come back (NET-4), so it is not excused by that crash.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{OracleReport, ParsedIds};
use crate::trace::{EventRef, Trace};

const ORACLE: &str = "sequencing";

/// How far an actor has got in one session, for its current incarnation.
#[derive(Default)]
struct Progress {
    /// The last seq handled (or passed as skipped).
    last_handled: u64,
    /// Seqs whose slots were filled (CH-13), not yet passed.
    skipped: BTreeSet<u64>,
}

impl Progress {
    /// Move `last_handled` past the skipped seqs right after it.
    fn pass_skipped(&mut self) {
        while self.skipped.remove(&(self.last_handled + 1)) {
            self.last_handled += 1;
        }
    }
}

/// A sequenced send not yet accounted for.
struct Pending<'t> {
    sender: &'t str,
    at: std::time::Duration,
    arrived: bool,
}

/// Field `dest` of `event` as `(actor id text, port index)`, if it names a
/// port of a well-formed actor id (an event that does not is skipped).
fn dest<'t>(event: &EventRef<'t, '_>, ids: &mut ParsedIds<'t>) -> Option<(&'t str, u64)> {
    let (actor, index) = event.port("dest")?;
    ids.get(actor)?;
    Some((actor, index))
}

/// Sequenced messages a live actor still holds at the end of the run,
/// queued or buffered (`InstanceCell::sequenced_held`: `Direct` messages
/// are not counted, so they cannot stand in for a lost one; with the
/// reorder buffer off, a queued duplicate of a handled message still can).
pub type HeldAtEnd = BTreeMap<String, usize>;

/// Check the trace. `reorder_buffer` says whether the scenario's procs had it
/// on; `senders_hold` whether a proc holds what its actors sent until the
/// peer acknowledges it (the session transport's channels; in the modelled
/// network a message leaves its proc within the send); `held_at_end` gives,
/// per live actor id, how many sequenced messages it still holds
/// ([`HeldAtEnd`]). (A run's checks
/// feed this oracle and the supervision oracle from one pass over the
/// trace: [`super::check_trace`].)
pub fn check(
    trace: &Trace,
    reorder_buffer: bool,
    senders_hold: bool,
    held_at_end: &HeldAtEnd,
    report: &mut OracleReport,
) {
    let mut checker = Checker::new(reorder_buffer, senders_hold);
    trace.visit(|event| checker.event(&event, report));
    checker.finish(held_at_end, report);
}

/// The sequencing oracle's state over one pass of a trace: fed each event
/// in order ([`Checker::event`]), then asked for UD-1 ([`Checker::finish`]).
/// Keys borrow the actor ids' text from the trace (`'t`): a pass copies no
/// text and parses each id once.
pub struct Checker<'t> {
    reorder_buffer: bool,
    senders_hold: bool,
    /// (session, actor) → how far the actor's current incarnation has got.
    progress: BTreeMap<(u64, &'t str), Progress>,
    /// (session, seq, dest actor) → pending send: sender, when, and whether
    /// it has arrived in the destination proc (local sends arrive at once).
    pending: BTreeMap<(u64, u64, &'t str), Pending<'t>>,
    ids: ParsedIds<'t>,
    /// Buffer off: per actor, arrivals not yet handled, in arrival order.
    arrivals: BTreeMap<&'t str, VecDeque<(u64, u64)>>,
}

impl<'t> Checker<'t> {
    /// A checker for a run whose procs had the reorder buffer on or off
    /// (`reorder_buffer`), and whose senders' procs hold what they send
    /// until acknowledged or not (`senders_hold`): see [`check`].
    pub fn new(reorder_buffer: bool, senders_hold: bool) -> Self {
        Self {
            reorder_buffer,
            senders_hold,
            progress: BTreeMap::new(),
            pending: BTreeMap::new(),
            ids: ParsedIds::default(),
            arrivals: BTreeMap::new(),
        }
    }

    /// Take the trace's next event.
    pub fn event(&mut self, event: &EventRef<'t, '_>, report: &mut OracleReport) {
        let Self {
            reorder_buffer,
            senders_hold,
            progress,
            pending,
            ids,
            arrivals,
        } = self;
        match event.kind {
            "actor_spawn" => {
                let actor = event.text("actor");
                progress.retain(|(_, handled_by), _| *handled_by != actor);
                arrivals.remove(actor);
            }
            "arrived" => {
                arrivals
                    .entry(event.text("actor"))
                    .or_default()
                    .push_back((event.number("session"), event.number("seq")));
            }
            "send" => {
                let session = event.number("session");
                let Some((dest, index)) = dest(event, ids) else {
                    return;
                };
                if session == 0 || index & lockstep::id::HANDLER_PORT_BIT == 0 {
                    return;
                }
                let sender = event.text("sender");
                let arrived = ids.same_proc(sender, dest);
                pending.insert(
                    (session, event.number("seq"), dest),
                    Pending {
                        sender,
                        at: event.time,
                        arrived,
                    },
                );
            }
            "net_deliver" => {
                let Some((dest, _)) = dest(event, ids) else {
                    return;
                };
                let key = (event.number("session"), event.number("seq"), dest);
                if let Some(entry) = pending.get_mut(&key) {
                    entry.arrived = true;
                }
            }
            "handled" => {
                let session = event.number("session");
                if session == 0 {
                    return;
                }
                let seq = event.number("seq");
                let actor = event.text("actor");
                pending.remove(&(session, seq, actor));
                report.checked(ORACLE);
                if !*reorder_buffer {
                    let next = arrivals.get_mut(actor).and_then(VecDeque::pop_front);
                    if next != Some((session, seq)) {
                        report.violated(
                        ORACLE,
                        "SEQ-6",
                        format!(
                            "{actor} handled seq {seq} of session {session:016x}, but the next arrival was {}",
                            match next {
                                Some((session, seq)) => format!("seq {seq} of session {session:016x}"),
                                None => "nothing".to_owned(),
                            }
                        ),
                        Some(event.time),
                    );
                    }
                    return;
                }
                let progress = progress.entry((session, actor)).or_default();
                let last = progress.last_handled;
                if seq <= last {
                    report.violated(
                    ORACLE,
                    "SEQ-3",
                    format!(
                        "{actor} handled seq {seq} of session {session:016x} again or late (last handled {last})"
                    ),
                    Some(event.time),
                );
                } else if seq != last + 1 {
                    report.violated(
                    ORACLE,
                    "SEQ-2",
                    format!(
                        "{actor} handled seq {seq} of session {session:016x} out of order: seq {} never came first",
                        last + 1
                    ),
                    Some(event.time),
                );
                }
                progress.last_handled = last.max(seq);
                progress.pass_skipped();
            }
            "seq_skipped" => {
                // CH-13: a refused message's slot was filled; for a handler
                // port it stands in for that seq's handling once the seqs
                // before it are handled (SEQ-2 goes on past it).
                let Some((dest, index)) = dest(event, ids) else {
                    return;
                };
                if index & lockstep::id::HANDLER_PORT_BIT != 0 {
                    let progress = progress.entry((event.number("session"), dest)).or_default();
                    progress.skipped.insert(event.number("seq"));
                    progress.pass_skipped();
                }
            }
            "undeliverable" => {
                let session = event.number("session");
                let Some((dest, _)) = dest(event, ids) else {
                    return;
                };
                pending.remove(&(session, event.number("seq"), dest));
            }
            "net_crash" => {
                let proc = event.text("proc");
                // What had arrived inside the crashed proc is lost with it;
                // what is still in flight must come back (NET-4).
                // And what its own actors sent that its channels still held
                // (not arrived anywhere) is lost with its senders; a message on
                // the modelled network's wire is not inside the proc, so it
                // must still arrive or come back.
                pending.retain(|(_, _, dest), entry| {
                    let mut in_crashed =
                        |actor| ids.proc_name(actor).is_some_and(|name| name == proc);
                    if entry.arrived {
                        !in_crashed(dest)
                    } else {
                        !(*senders_hold && in_crashed(entry.sender))
                    }
                });
            }
            _ => {}
        }
    }

    /// UD-1, once every event was taken: what is left must still be held
    /// by a live actor (`held_at_end`).
    pub fn finish(self, held_at_end: &HeldAtEnd, report: &mut OracleReport) {
        let pending = self.pending;
        let mut unaccounted: BTreeMap<&str, Vec<(u64, u64, &str, std::time::Duration)>> =
            BTreeMap::new();
        for ((session, seq, dest), entry) in pending {
            unaccounted
                .entry(dest)
                .or_default()
                .push((session, seq, entry.sender, entry.at));
        }
        for (dest, messages) in unaccounted {
            report.checked_many(ORACLE, messages.len() as u64);
            let still_held = held_at_end.get(dest).copied().unwrap_or(0);
            if messages.len() > still_held {
                let (session, seq, sender, at) = &messages[0];
                report.violated(
                    ORACLE,
                    "UD-1",
                    format!(
                        "{} message(s) to {dest} vanished: neither handled, returned, nor lost with a crash \
                         (first: seq {seq} of session {session:016x} from {sender}); the actor holds {still_held}",
                        messages.len()
                    ),
                    Some(*at),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a filled slot (CH-13) counts as passed only once the seqs
    /// before it are handled, so handling those is not reported as late.
    #[test]
    fn a_skipped_seq_ahead_of_a_gap_is_passed_only_when_the_gap_closes() {
        let mut progress = Progress {
            last_handled: 1,
            skipped: BTreeSet::from([3, 5]),
        };
        progress.pass_skipped();
        assert_eq!(progress.last_handled, 1, "seq 2 is not handled yet");
        progress.last_handled = 2;
        progress.pass_skipped();
        assert_eq!(progress.last_handled, 3, "3 was skipped, 4 is next");
        assert_eq!(progress.skipped, BTreeSet::from([5]));
    }
}
