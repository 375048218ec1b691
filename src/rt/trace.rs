//! Structured runtime events through the seam.
//!
//! The runtime reports what it does — sends, deliveries, drops, status
//! changes, supervision — as [`TraceEvent`]s. In production nothing listens
//! and an event is never even built; under simulation the world records each
//! one with its virtual time, so oracles can check the runtime's contract
//! from the trace and two runs of a seed can be compared event by event.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::with_environment;
use crate::id::{ActorId, PortId};

/// A field value of a [`TraceEvent`]. Values borrow what they can: building
/// an event copies no ids and allocates only for text that must be formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceValue<'a> {
    /// An unsigned number.
    U64(u64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Str(Cow<'a, str>),
    /// Static text (type names, status names).
    Static(&'static str),
    /// Shared text (cached id forms).
    Shared(&'a Arc<str>),
    /// A port, shown `actor:index`: its actor's cached text and its index,
    /// so recording a destination formats nothing.
    Port {
        /// The owning actor's text form.
        actor: &'a Arc<str>,
        /// The port's index within the actor.
        index: u64,
    },
}

impl fmt::Display for TraceValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceValue::U64(value) => write!(f, "{value}"),
            TraceValue::Bool(value) => write!(f, "{value}"),
            TraceValue::Str(value) => f.write_str(value),
            TraceValue::Static(value) => f.write_str(value),
            TraceValue::Shared(value) => f.write_str(value),
            TraceValue::Port { actor, index } => write!(f, "{actor}:{index}"),
        }
    }
}

impl From<u64> for TraceValue<'_> {
    fn from(value: u64) -> Self {
        TraceValue::U64(value)
    }
}

impl From<usize> for TraceValue<'_> {
    fn from(value: usize) -> Self {
        TraceValue::U64(value as u64)
    }
}

impl From<bool> for TraceValue<'_> {
    fn from(value: bool) -> Self {
        TraceValue::Bool(value)
    }
}

impl From<String> for TraceValue<'_> {
    fn from(value: String) -> Self {
        TraceValue::Str(Cow::Owned(value))
    }
}

impl<'a> From<&'a str> for TraceValue<'a> {
    fn from(value: &'a str) -> Self {
        TraceValue::Str(Cow::Borrowed(value))
    }
}

impl<'a> From<&'a String> for TraceValue<'a> {
    fn from(value: &'a String) -> Self {
        TraceValue::Str(Cow::Borrowed(value))
    }
}

impl<'a> From<&'a Arc<str>> for TraceValue<'a> {
    fn from(value: &'a Arc<str>) -> Self {
        TraceValue::Shared(value)
    }
}

impl<'a> From<&'a ActorId> for TraceValue<'a> {
    fn from(value: &'a ActorId) -> Self {
        TraceValue::Shared(value.text())
    }
}

impl<'a> From<&'a PortId> for TraceValue<'a> {
    fn from(value: &'a PortId) -> Self {
        TraceValue::Port {
            actor: value.actor_id().text(),
            index: value.index(),
        }
    }
}

/// One thing the runtime did: a kind and named fields, both borrowed for
/// the duration of [`Environment::record`](super::Environment::record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceEvent<'a> {
    /// What happened (`send`, `handled`, `undeliverable`, `status`, ...).
    pub kind: &'static str,
    /// Named details, in a fixed order per kind.
    pub fields: &'a [(&'static str, TraceValue<'a>)],
}

impl TraceEvent<'_> {
    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&TraceValue<'_>> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value)
    }
}

/// Record an event of `kind` whose fields `build` makes, if the current
/// world records events. `build` runs only then, so production pays one
/// thread-local read; the fields live on the stack.
///
/// ```
/// use lockstep::rt::trace::record;
/// let peer = String::from("b");
/// record("link_up", || [("from", "a".into()), ("to", (&peer).into()), ("id", 3u64.into())]);
/// ```
pub fn record<'a, const N: usize>(
    kind: &'static str,
    build: impl FnOnce() -> [(&'static str, TraceValue<'a>); N],
) {
    with_environment(|environment| {
        if let Some(environment) = environment {
            if environment.records_events() {
                let fields = build();
                environment.record(TraceEvent {
                    kind,
                    fields: &fields,
                });
            }
        }
    });
}
