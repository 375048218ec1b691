//! Structured runtime events through the seam.
//!
//! The runtime reports what it does — sends, deliveries, drops, status
//! changes, supervision — as [`TraceEvent`]s. In production nothing listens
//! and an event is never even built; under simulation the world records each
//! one with its virtual time, so oracles can check the runtime's contract
//! from the trace and two runs of a seed can be compared event by event.

use std::fmt;

use super::with_environment;

/// A field value of a [`TraceEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceValue {
    /// An unsigned number.
    U64(u64),
    /// A boolean.
    Bool(bool),
    /// Text (ids print in their `Display` form).
    Str(String),
    /// Static text (type names): no allocation.
    Static(&'static str),
    /// Shared text (cached id forms): no formatting.
    Shared(std::sync::Arc<str>),
    /// A port, shown `actor:index`: its actor's cached text and its index,
    /// so recording a destination formats nothing.
    Port {
        /// The owning actor's text form.
        actor: std::sync::Arc<str>,
        /// The port's index within the actor.
        index: u64,
    },
}

impl fmt::Display for TraceValue {
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

impl From<u64> for TraceValue {
    fn from(value: u64) -> Self {
        TraceValue::U64(value)
    }
}

impl From<usize> for TraceValue {
    fn from(value: usize) -> Self {
        TraceValue::U64(value as u64)
    }
}

impl From<bool> for TraceValue {
    fn from(value: bool) -> Self {
        TraceValue::Bool(value)
    }
}

impl From<String> for TraceValue {
    fn from(value: String) -> Self {
        TraceValue::Str(value)
    }
}

impl From<&str> for TraceValue {
    fn from(value: &str) -> Self {
        TraceValue::Str(value.to_owned())
    }
}

impl From<std::sync::Arc<str>> for TraceValue {
    fn from(value: std::sync::Arc<str>) -> Self {
        TraceValue::Shared(value)
    }
}

impl From<&crate::id::ActorId> for TraceValue {
    fn from(value: &crate::id::ActorId) -> Self {
        TraceValue::Shared(value.text().clone())
    }
}

impl From<&crate::id::PortId> for TraceValue {
    fn from(value: &crate::id::PortId) -> Self {
        TraceValue::Port {
            actor: value.actor_id().text().clone(),
            index: value.index(),
        }
    }
}

/// Fields a typical event carries; reserved up front so building one
/// allocates once.
const TYPICAL_FIELDS: usize = 6;

/// One thing the runtime did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// What happened (`send`, `handled`, `undeliverable`, `status`, ...).
    pub kind: &'static str,
    /// Named details, in a fixed order per kind.
    pub fields: Vec<(&'static str, TraceValue)>,
}

impl TraceEvent {
    /// An event of `kind` with no fields yet.
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            fields: Vec::with_capacity(TYPICAL_FIELDS),
        }
    }

    /// Add a field.
    pub fn with(mut self, name: &'static str, value: impl Into<TraceValue>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&TraceValue> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value)
    }
}

/// Record the event `build` makes, if the current world records events.
/// `build` runs only then, so production pays one thread-local read.
pub fn record(build: impl FnOnce() -> TraceEvent) {
    with_environment(|environment| {
        if let Some(environment) = environment {
            if environment.records_events() {
                environment.record(build());
            }
        }
    });
}
