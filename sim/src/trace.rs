//! The structured in-memory trace of one world: what happened, in order, on
//! virtual time.
//!
//! Owns: [`Event`]s, their canonical encoding, the trace hash and the
//! JSON-lines export. Does not own: deciding what to record (the executor,
//! the clock and later the runtime's delivery/status hooks call [`record`]).
//!
//! TRACE-1: events are appended in the order they happen in the world; a
//! world's trace is a pure function of its seed, config and code.
//! TRACE-2: [`Trace::hash`] is FNV-1a 64 over a canonical, length-prefixed
//! encoding of every event (time, step, kind, task, fields in order) followed
//! by the schedule digest (the sequence of task ids polled), so two runs with
//! equal hashes made the same scheduling choices and recorded the same events.
//! TRACE-3: recording never reads the real clock or any state outside the
//! world.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::hash::Fnv1a;

/// A field value in a trace event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(Cow<'static, str>),
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Value::U64(value)
    }
}
impl From<u32> for Value {
    fn from(value: u32) -> Self {
        Value::U64(value.into())
    }
}
impl From<usize> for Value {
    fn from(value: usize) -> Self {
        Value::U64(value as u64)
    }
}
impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::I64(value)
    }
}
impl From<i32> for Value {
    fn from(value: i32) -> Self {
        Value::I64(value.into())
    }
}
impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}
impl From<&'static str> for Value {
    fn from(value: &'static str) -> Self {
        Value::Str(Cow::Borrowed(value))
    }
}
impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Str(Cow::Owned(value))
    }
}
impl From<&Arc<str>> for Value {
    fn from(value: &Arc<str>) -> Self {
        Value::Str(Cow::Owned(value.to_string()))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U64(value) => write!(f, "{value}"),
            Value::I64(value) => write!(f, "{value}"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Str(value) => write!(f, "{value:?}"),
        }
    }
}

/// Built-in event kinds recorded by the simulator itself.
pub mod kind {
    /// A task was spawned (`name`, `id`); `task` is the spawner.
    pub const TASK_SPAWN: &str = "task_spawn";
    /// A task's future completed (`id`, `polls`).
    pub const TASK_EXIT: &str = "task_exit";
    /// A task was aborted and dropped (`id`).
    pub const TASK_ABORT: &str = "task_abort";
    /// A task or the main future panicked (`message`).
    pub const PANIC: &str = "panic";
    /// Virtual time jumped forward (`from_ns`, `to_ns`).
    pub const TIME_ADVANCE: &str = "time_advance";
    /// A timer became due and woke its waiter (`deadline_ns`); `task` is the
    /// task that armed it.
    pub const TIMER_FIRE: &str = "timer_fire";
    /// A `buggify!` site was seen for the first time (`site`, `active`).
    pub const BUGGIFY_SITE: &str = "buggify_site";
    /// An active `buggify!` site fired (`site`).
    pub const BUGGIFY_FIRE: &str = "buggify_fire";
}

/// One thing that happened in a world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Virtual time since the world's epoch.
    pub time: Duration,
    /// How many polls the executor had made when the event was recorded.
    pub step: u64,
    /// What happened (see [`kind`] for the simulator's own kinds).
    pub kind: &'static str,
    /// The task that was running when the event was recorded, if any.
    pub task: Option<Arc<str>>,
    /// Named values, in recording order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Event {
    /// The value of field `name`, if present.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value)
    }

    fn hash_into(&self, hasher: &mut Fnv1a) {
        hasher.write_u128(self.time.as_nanos());
        hasher.write_u64(self.step);
        hasher.write_str(self.kind);
        match &self.task {
            Some(task) => {
                hasher.write_u8(1);
                hasher.write_str(task);
            }
            None => hasher.write_u8(0),
        }
        hasher.write_u64(self.fields.len() as u64);
        for (name, value) in &self.fields {
            hasher.write_str(name);
            match value {
                Value::U64(value) => {
                    hasher.write_u8(0);
                    hasher.write_u64(*value);
                }
                Value::I64(value) => {
                    hasher.write_u8(1);
                    hasher.write_u64(*value as u64);
                }
                Value::Bool(value) => {
                    hasher.write_u8(2);
                    hasher.write_u8(u8::from(*value));
                }
                Value::Str(value) => {
                    hasher.write_u8(3);
                    hasher.write_str(value);
                }
            }
        }
    }

    /// This event as one JSON object (no trailing newline).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(96);
        let _ = write!(
            out,
            "{{\"time_ns\":{},\"step\":{},\"kind\":",
            self.time.as_nanos(),
            self.step
        );
        json_string(&mut out, self.kind);
        if let Some(task) = &self.task {
            out.push_str(",\"task\":");
            json_string(&mut out, task);
        }
        out.push_str(",\"fields\":{");
        for (index, (name, value)) in self.fields.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            json_string(&mut out, name);
            out.push(':');
            match value {
                Value::U64(value) => {
                    let _ = write!(out, "{value}");
                }
                Value::I64(value) => {
                    let _ = write!(out, "{value}");
                }
                Value::Bool(value) => {
                    let _ = write!(out, "{value}");
                }
                Value::Str(value) => json_string(&mut out, value),
            }
        }
        out.push_str("}}");
        out
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?} #{}] {}", self.time, self.step, self.kind)?;
        if let Some(task) = &self.task {
            write!(f, " task={task:?}")?;
        }
        for (name, value) in &self.fields {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}

/// Appends `value` as a JSON string literal (RFC 8259 escaping).
fn json_string(out: &mut String, value: &str) {
    out.push('"');
    for character in value.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if (control as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", control as u32);
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

/// The events of one world plus a digest of its schedule.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    events: Vec<Event>,
    schedule: Fnv1a,
}

impl Trace {
    /// Every event, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The stable 64-bit hash of the whole run so far (TRACE-2).
    pub fn hash(&self) -> u64 {
        let mut hasher = Fnv1a::new();
        hasher.write_str("lockstep-sim/trace/v1");
        hasher.write_u64(self.events.len() as u64);
        for event in &self.events {
            event.hash_into(&mut hasher);
        }
        hasher.write_u64(self.schedule.finish());
        hasher.finish()
    }

    /// The digest of the sequence of polled task ids alone.
    pub fn schedule_hash(&self) -> u64 {
        self.schedule.finish()
    }

    /// The events as JSON lines, one object per line.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            out.push_str(&event.to_json());
            out.push('\n');
        }
        out
    }

    /// Writes the events as JSON lines to `writer`.
    pub fn write_json_lines(&self, mut writer: impl io::Write) -> io::Result<()> {
        for event in &self.events {
            writeln!(writer, "{}", event.to_json())?;
        }
        Ok(())
    }

    pub(crate) fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Folds one poll of task slot `index` (generation `generation`) into the
    /// schedule digest.
    pub(crate) fn note_poll(&mut self, index: u32, generation: u32) {
        self.schedule
            .write_u64(u64::from(index) | (u64::from(generation) << 32));
    }
}

/// Appends an event to the trace of the world running on this thread.
///
/// Returns false (and records nothing) outside a world. The event is stamped
/// with the world's virtual time, step and the running task.
///
/// ```
/// # use lockstep_sim::trace::record;
/// record("deliver", [("seq", 3u64.into()), ("port", "p0".into())]);
/// ```
pub fn record(kind: &'static str, fields: impl IntoIterator<Item = (&'static str, Value)>) -> bool {
    let fields: Vec<_> = fields.into_iter().collect();
    crate::shared::with_current(|shared| shared.lock().record(kind, fields)).is_some()
}
