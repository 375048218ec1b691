//! `buggify!` decisions, FoundationDB style.
//!
//! Owns: per-site activation state and the fire decision.
//! Does not own: the call sites (the runtime's `lockstep::buggify!()`).
//!
//! BUGGIFY-1: with buggify disabled in the world config, every site answers
//! false and no random draw is made.
//! BUGGIFY-2: a site (`file:line:column`, or a name for the runtime's own
//! points) is activated at most once per run,
//! on its first evaluation, with probability `activate_probability`; an
//! inactive site never fires in that run.
//! BUGGIFY-3: an active site fires with probability `fire_probability` per
//! evaluation. All draws come from the reserved "buggify" stream, so turning
//! buggify on or off never reshuffles scheduling or user randomness (RAND-1).

use lockstep::rt::BuggifySite;
use std::collections::BTreeMap;

use crate::random::{self, Streams};
use crate::trace::Value;

/// How `buggify!` behaves in a world.
#[derive(Clone, Debug, PartialEq)]
pub struct BuggifyConfig {
    /// Whether any site may fire (default true).
    pub enabled: bool,
    /// Chance a site is active for the run (default 0.25).
    pub activate_probability: f64,
    /// Chance an active site fires per evaluation (default 0.25).
    pub fire_probability: f64,
}

impl Default for BuggifyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            activate_probability: 0.25,
            fire_probability: 0.25,
        }
    }
}

impl BuggifyConfig {
    /// Buggify off: every site answers false (BUGGIFY-1).
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// What happened at one evaluation, for the trace.
pub(crate) enum Decision {
    /// Disabled or inactive site, already known: nothing to record.
    Quiet,
    /// First evaluation of the site: record whether it is active.
    FirstSeen {
        site: String,
        active: bool,
        fired: bool,
    },
    /// Known active site that fired.
    Fired { site: String },
}

impl Decision {
    pub(crate) fn fired(&self) -> bool {
        matches!(
            self,
            Decision::Fired { .. } | Decision::FirstSeen { fired: true, .. }
        )
    }
}

/// A site's identity: a call site by file, line and column (not by address:
/// the same code may be inlined in several places), a named one by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SiteKey {
    Location(&'static str, u32, u32),
    Named(&'static str),
}

/// The per-run state of every `buggify!` site seen so far.
pub(crate) struct Buggify {
    config: BuggifyConfig,
    sites: BTreeMap<SiteKey, bool>,
}

impl Buggify {
    pub(crate) fn new(config: BuggifyConfig) -> Self {
        Self {
            config,
            sites: BTreeMap::new(),
        }
    }

    /// Decide whether the site fires now (BUGGIFY-1..3).
    pub(crate) fn evaluate(&mut self, site: BuggifySite, streams: &mut Streams) -> Decision {
        if !self.config.enabled {
            return Decision::Quiet;
        }
        let key = match site {
            BuggifySite::Location(location) => {
                SiteKey::Location(location.file(), location.line(), location.column())
            }
            BuggifySite::Named(name) => SiteKey::Named(name),
        };
        match self.sites.get(&key) {
            Some(false) => Decision::Quiet,
            Some(true) => {
                if streams.chance(random::BUGGIFY, self.config.fire_probability) {
                    Decision::Fired {
                        site: site.to_string(),
                    }
                } else {
                    Decision::Quiet
                }
            }
            None => {
                let active = streams.chance(random::BUGGIFY, self.config.activate_probability);
                self.sites.insert(key, active);
                let fired = active && streams.chance(random::BUGGIFY, self.config.fire_probability);
                Decision::FirstSeen {
                    site: site.to_string(),
                    active,
                    fired,
                }
            }
        }
    }
}

impl Decision {
    /// The trace fields for this decision, if it is worth recording.
    pub(crate) fn trace_fields(self) -> Option<(&'static str, Vec<(&'static str, Value)>)> {
        use crate::trace::kind;
        match self {
            Decision::Quiet => None,
            Decision::FirstSeen {
                site,
                active,
                fired,
            } => Some((
                kind::BUGGIFY_SITE,
                vec![
                    ("site", site.into()),
                    ("active", active.into()),
                    ("fired", fired.into()),
                ],
            )),
            Decision::Fired { site } => Some((kind::BUGGIFY_FIRE, vec![("site", site.into())])),
        }
    }
}
