//! The determinism self-check: compare two traces of one seed and name the
//! first event where they differ.
//!
//! DET-1: two runs of one (scenario, seed, profile) agree on the verdict and
//! on every trace event; the check compares the whole trace (and its hash),
//! not a count of random draws.

use std::fmt;

use crate::trace::Trace;

/// Where two traces part ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the first differing event (or the length of the shorter trace).
    pub index: usize,
    /// That event in the first run, as JSON (None: the trace ended).
    pub first: Option<String>,
    /// That event in the second run, as JSON.
    pub second: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |event: &Option<String>| event.clone().unwrap_or_else(|| "<trace ended>".into());
        write!(
            f,
            "runs diverge at event #{}:\n  first:  {}\n  second: {}",
            self.index,
            show(&self.first),
            show(&self.second)
        )
    }
}

/// Compare JSON-lines traces (as exported) event by event.
pub fn compare_lines(first: &str, second: &str) -> Option<Divergence> {
    let mut left = first.lines();
    let mut right = second.lines();
    let mut index = 0;
    loop {
        match (left.next(), right.next()) {
            (None, None) => return None,
            (a, b) if a == b => index += 1,
            (a, b) => {
                return Some(Divergence {
                    index,
                    first: a.map(str::to_owned),
                    second: b.map(str::to_owned),
                });
            }
        }
    }
}

/// Compare two traces; `None` when they are identical (DET-1). Two traces
/// with identical events but different schedules diverge at the end.
pub fn compare(first: &Trace, second: &Trace) -> Option<Divergence> {
    if let Some(divergence) = compare_lines(&first.to_json_lines(), &second.to_json_lines()) {
        return Some(divergence);
    }
    (first.hash() != second.hash()).then(|| Divergence {
        index: first.len(),
        first: Some(format!("schedule digest {:016x}", first.schedule_hash())),
        second: Some(format!("schedule digest {:016x}", second.schedule_hash())),
    })
}
