//! The structured in-memory trace of one world: what happened, in order, on
//! virtual time.
//!
//! Owns: [`Event`]s, their canonical encoding, reading them in place
//! ([`Trace::visit`], [`EventRef`], [`FieldRef`]) or as owned copies, the
//! per-kind counts, the trace hash and the JSON-lines export. Does not own: deciding what to record (the executor,
//! the clock and later the runtime's delivery/status hooks call [`record`]).
//!
//! TRACE-1: events are appended in the order they happen in the world; a
//! world's trace is a pure function of its seed, config and code.
//! TRACE-2: [`Trace::hash`] is a 64-bit [`WordHasher`] digest of a
//! canonical, length-prefixed encoding of every event (time, step, kind,
//! task, fields in order, every text as a string) followed by the schedule
//! digest (the sequence of task ids polled), so two runs with equal hashes
//! made the same scheduling choices and recorded the same events.
//! TRACE-3: recording never reads the real clock or any state outside the
//! world.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::hash::WordHasher;

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

/// A field value as it is recorded: borrowed, so recording copies only what
/// it cannot intern (TRACE-4).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Recorded<'a> {
    U64(u64),
    I64(i64),
    Bool(bool),
    /// Text copied into the trace.
    Text(&'a str),
    /// Static text, interned by address.
    Static(&'static str),
    /// Shared text (cached id forms), interned by address.
    Shared(&'a Arc<str>),
    /// A port: its actor's shared text and its index, shown `actor:index`.
    Port(&'a Arc<str>, u64),
}

impl<'a> From<&'a Value> for Recorded<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::U64(value) => Recorded::U64(*value),
            Value::I64(value) => Recorded::I64(*value),
            Value::Bool(value) => Recorded::Bool(*value),
            Value::Str(Cow::Borrowed(text)) => Recorded::Static(text),
            Value::Str(Cow::Owned(text)) => Recorded::Text(text),
        }
    }
}

/// A field value read in place from the trace (see [`Trace::visit`]),
/// borrowing its text from the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldRef<'a> {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
    /// Static text.
    Static(&'static str),
    /// Text (copied into the trace, or shared).
    Text(&'a str),
    /// A port: its actor's id text and its index; reads as `actor:index`.
    Port(&'a str, u64),
}

impl<'a> FieldRef<'a> {
    /// The value as an owned [`Value`] (a port as its `actor:index` text).
    pub fn to_value(self) -> Value {
        match self {
            FieldRef::U64(value) => Value::U64(value),
            FieldRef::I64(value) => Value::I64(value),
            FieldRef::Bool(value) => Value::Bool(value),
            FieldRef::Static(text) => Value::Str(Cow::Borrowed(text)),
            FieldRef::Text(text) => Value::Str(Cow::Owned(text.to_owned())),
            FieldRef::Port(actor, index) => Value::Str(Cow::Owned(format!("{actor}:{index}"))),
        }
    }

    /// The text, if the value is text (a port is not: see [`port`](Self::port)).
    pub fn text(self) -> Option<&'a str> {
        match self {
            FieldRef::Static(text) => Some(text),
            FieldRef::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value as a port, `(actor id text, index)`: a port as recorded, or
    /// text of the form `actor:index` (how a port reads as text).
    pub fn port(self) -> Option<(&'a str, u64)> {
        match self {
            FieldRef::Port(actor, index) => Some((actor, index)),
            _ => {
                let (actor, index) = self.text()?.rsplit_once(':')?;
                Some((actor, index.parse().ok()?))
            }
        }
    }

    /// Feeds the value in the canonical encoding of the owned [`Value`] it
    /// stands for (every text as a string), so the hash does not depend on
    /// how a value was stored.
    fn hash_into(self, hasher: &mut WordHasher) {
        match self {
            FieldRef::U64(value) => {
                hasher.write_u64(0);
                hasher.write_u64(value);
            }
            FieldRef::I64(value) => {
                hasher.write_u64(1);
                hasher.write_u64(value as u64);
            }
            FieldRef::Bool(value) => {
                hasher.write_u64(2);
                hasher.write_u64(u64::from(value));
            }
            FieldRef::Static(text) | FieldRef::Text(text) => {
                hasher.write_u64(3);
                hasher.write_str(text);
            }
            FieldRef::Port(actor, index) => {
                // As the text `actor:index`, without formatting it.
                let mut digits = [0u8; 20];
                let start = decimal(index, &mut digits);
                hasher.write_u64(3);
                hasher.write_str_parts(&[actor.as_bytes(), b":", &digits[start..]]);
            }
        }
    }
}

/// Writes `value` in decimal at the end of `digits`; returns where it starts.
fn decimal(mut value: u64, digits: &mut [u8; 20]) -> usize {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return start;
        }
    }
}

/// Kinds of stored field values. A value is stored as one varint of
/// `payload << tag::BITS | tag`: the number itself, a text's length (its
/// bytes follow) or an interned index.
mod tag {
    pub const BITS: u32 = 4;
    pub const MASK: u64 = (1 << BITS) - 1;
    /// Payloads from this bound up do not fit beside a tag.
    pub const PAYLOAD_LIMIT: u64 = 1 << (64 - BITS);
    pub const U64: u64 = 0;
    pub const I64: u64 = 1;
    pub const FALSE: u64 = 2;
    pub const TRUE: u64 = 3;
    pub const TEXT: u64 = 4;
    pub const STATIC: u64 = 5;
    pub const SHARED: u64 = 6;
    pub const PORT: u64 = 7;
    /// A wide number (session ids, hashes), interned: they repeat, and
    /// would take ten bytes each time.
    pub const WIDE: u64 = 8;
    /// A signed number too large for the payload; its zigzag form follows
    /// as a varint of its own.
    pub const I64_LARGE: u64 = 9;
}

/// Numbers from this bound up are stored interned ([`tag::WIDE`]): random
/// 64-bit ids (session ids) nearly always are, while times in nanoseconds
/// (2^56 ns is over two years), counters and sequence numbers stay inline.
/// A unique wide number costs its table entry, so only ids should be here.
const WIDE_FROM: u64 = 1 << 56;

/// Interns values by address: each distinct address gets the next index, so
/// the indices (and the bytes that carry them) follow first use, never the
/// addresses themselves (TRACE-1 holds under address randomisation).
#[derive(Clone, Debug)]
struct Interner<T> {
    values: Vec<T>,
    /// Open addressing, linear probing: `(address, length or port index,
    /// index + 1)`; index 0 marks an empty slot. At most half full.
    slots: Vec<(usize, u64, u32)>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            slots: vec![(0, 0, 0); 64],
        }
    }
}

impl<T> Interner<T> {
    /// The index of the value at `(address, length)`, interning `make()` on
    /// first sight.
    #[inline]
    fn index(&mut self, address: usize, length: u64, make: impl FnOnce() -> T) -> u32 {
        let mask = self.slots.len() - 1;
        let mut slot = Self::home(address, length, mask);
        loop {
            let (slot_address, slot_length, index) = self.slots[slot];
            if index == 0 {
                break;
            }
            if slot_address == address && slot_length == length {
                return index - 1;
            }
            slot = (slot + 1) & mask;
        }
        let index = self.values.len() as u32;
        self.values.push(make());
        self.slots[slot] = (address, length, index + 1);
        if self.values.len() * 2 > self.slots.len() {
            self.grow();
        }
        index
    }

    fn home(address: usize, length: u64, mask: usize) -> usize {
        let mixed = (address as u64 ^ length.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // The top bits of the product, as many as the table needs (the
        // table has at least 64 slots, so the shift is below 64).
        (mixed >> (64 - mask.count_ones())) as usize & mask
    }

    fn grow(&mut self) {
        let doubled = vec![(0, 0, 0); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for entry in old.into_iter().filter(|entry| entry.2 != 0) {
            let mut slot = Self::home(entry.0, entry.1, mask);
            while self.slots[slot].2 != 0 {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = entry;
        }
    }

    fn get(&self, index: u64) -> &T {
        &self.values[index as usize]
    }
}

/// The events of one world plus a digest of its schedule.
///
/// TRACE-4: events are stored compactly — one byte buffer of varints, with
/// kinds, field names, static text, shared ids and wide numbers (session
/// ids) interned per trace, and each value's kind packed into its varint —
/// so a long run keeps about a dozen bytes per event, not hundreds; they are
/// decoded only when read: in place ([`Trace::visit`]) or into owned
/// [`Event`]s. (Bytes are what a long run pays for: each new page of them is
/// a page fault.)
#[derive(Clone, Debug, Default)]
pub struct Trace {
    bytes: Vec<u8>,
    len: usize,
    statics: Interner<&'static str>,
    shared: Interner<Arc<str>>,
    ports: Interner<(Arc<str>, u64)>,
    /// Wide numbers, interned by value.
    wides: Interner<u64>,
    /// Where the writer is: the last time and step, and per kind the field
    /// names it last wrote (the reader rebuilds the same state).
    writer: Cursor,
    /// Events per kind, indexed by the kind's static index.
    kind_counts: Vec<u64>,
    schedule: WordHasher,
}

/// Encoding state shared by the writer and every reader: events store time
/// and step as deltas from the previous event, and an event whose field
/// names equal its kind's previous ones (the usual case) omits them.
#[derive(Clone, Debug, Default)]
struct Cursor {
    position: usize,
    time_ns: u64,
    step: u64,
    /// Indexed by the kind's static index.
    schemas: Vec<Vec<&'static str>>,
}

impl Cursor {
    fn schema(&mut self, kind: u64) -> &mut Vec<&'static str> {
        let kind = kind as usize;
        if self.schemas.len() <= kind {
            self.schemas.resize_with(kind + 1, Vec::new);
        }
        &mut self.schemas[kind]
    }
}

fn same_text(left: &str, right: &str) -> bool {
    std::ptr::eq(left, right)
}

impl Trace {
    /// Every event, in order, decoded from the compact store.
    pub fn events(&self) -> impl ExactSizeIterator<Item = Event> + '_ {
        let mut cursor = Cursor::default();
        let mut fields = Vec::new();
        (0..self.len).map(move |_| {
            let header = self.decode(&mut cursor, &mut fields);
            header.with_fields(&fields).to_event()
        })
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the stored events take (the compact store, not the interned
    /// names).
    pub fn stored_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// How many events of kind `kind` were recorded (counted as they are,
    /// so this reads no event).
    pub fn count_of_kind(&self, kind: &str) -> u64 {
        self.statics
            .values
            .iter()
            .zip(&self.kind_counts)
            .filter(|(known, _)| **known == kind)
            .map(|(_, count)| count)
            .sum()
    }

    /// Calls `visitor` with every event, in order, read in place: no event
    /// is copied out of the trace, so a pass over a long trace allocates
    /// nothing per event (what the oracles use; [`events`](Self::events)
    /// hands out owned copies).
    ///
    /// ```
    /// use lockstep_sim::{Config, World};
    ///
    /// let mut world = World::new(Config::with_seed(1));
    /// world
    ///     .run(async {
    ///         lockstep_sim::trace::record("deposit", [("amount", 5u64.into())]);
    ///         lockstep_sim::trace::record("deposit", [("amount", 7u64.into())]);
    ///     })
    ///     .unwrap();
    /// let trace = world.trace();
    /// let mut total = 0;
    /// trace.visit(|event| {
    ///     if event.kind == "deposit" {
    ///         total += event.number("amount");
    ///     }
    /// });
    /// assert_eq!(total, 12);
    /// assert_eq!(trace.count_of_kind("deposit"), 2);
    /// ```
    pub fn visit<'t>(&'t self, mut visitor: impl FnMut(EventRef<'t, '_>)) {
        let mut cursor = Cursor::default();
        let mut fields = Vec::new();
        for _ in 0..self.len {
            let header = self.decode(&mut cursor, &mut fields);
            visitor(header.with_fields(&fields));
        }
    }

    /// The stable 64-bit hash of the whole run so far (TRACE-2).
    pub fn hash(&self) -> u64 {
        let mut hasher = WordHasher::new();
        hasher.write_str("lockstep-sim/trace/v2");
        hasher.write_u64(self.len as u64);
        self.visit(|event| {
            hasher.write_u64(event.time.as_nanos() as u64);
            hasher.write_u64(event.step);
            hasher.write_str(event.kind);
            match event.task {
                Some(task) => {
                    hasher.write_u64(1);
                    hasher.write_str(task);
                }
                None => hasher.write_u64(0),
            }
            hasher.write_u64(event.fields.len() as u64);
            for (name, value) in event.fields {
                hasher.write_str(name);
                value.hash_into(&mut hasher);
            }
        });
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
        for event in self.events() {
            out.push_str(&event.to_json());
            out.push('\n');
        }
        out
    }

    /// Writes the events as JSON lines to `writer`.
    pub fn write_json_lines(&self, mut writer: impl io::Write) -> io::Result<()> {
        for event in self.events() {
            writeln!(writer, "{}", event.to_json())?;
        }
        Ok(())
    }

    /// Appends one event.
    pub(crate) fn push<'a>(
        &mut self,
        time: Duration,
        step: u64,
        kind: &'static str,
        task: Option<&Arc<str>>,
        fields: impl ExactSizeIterator<Item = (&'static str, Recorded<'a>)> + Clone,
    ) {
        let task = self.task_key(task);
        self.push_keyed(time, step, kind, task, fields);
    }

    /// How events store `task`: 0 for none, else its interned index + 1. A
    /// name keeps its key for the whole trace, so a caller recording many
    /// events for one task may look it up once ([`Trace::push_keyed`]).
    pub(crate) fn task_key(&mut self, task: Option<&Arc<str>>) -> u64 {
        task.map_or(0, |task| self.intern_shared(task) + 1)
    }

    /// [`Trace::push`] for the task whose [`Trace::task_key`] is `task`.
    pub(crate) fn push_keyed<'a>(
        &mut self,
        time: Duration,
        step: u64,
        kind: &'static str,
        task: u64,
        fields: impl ExactSizeIterator<Item = (&'static str, Recorded<'a>)> + Clone,
    ) {
        // Virtual time stays far below 2^64 ns (584 years).
        let time_ns = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        let time_delta = time_ns.wrapping_sub(self.writer.time_ns);
        let step_delta = step.wrapping_sub(self.writer.step);
        (self.writer.time_ns, self.writer.step) = (time_ns, step);
        write_varint(&mut self.bytes, zigzag(time_delta as i64));
        write_varint(&mut self.bytes, zigzag(step_delta as i64));
        let kind = self.intern_static(kind);
        write_varint(&mut self.bytes, kind);
        let kind_index = kind as usize;
        if self.kind_counts.len() <= kind_index {
            self.kind_counts.resize(kind_index + 1, 0);
        }
        self.kind_counts[kind_index] += 1;
        write_varint(&mut self.bytes, task);
        let count = fields.len() as u64;
        let schema = self.writer.schema(kind);
        let same_names = schema.len() == fields.len()
            && schema
                .iter()
                .zip(fields.clone())
                .all(|(known, (name, _))| same_text(known, name));
        if same_names {
            write_varint(&mut self.bytes, count << 1 | 1);
        } else {
            write_varint(&mut self.bytes, count << 1);
            schema.clear();
            schema.extend(fields.clone().map(|(name, _)| name));
        }
        for (name, value) in fields {
            if !same_names {
                let name = self.intern_static(name);
                write_varint(&mut self.bytes, name);
            }
            let stored = match value {
                Recorded::U64(value) if value >= WIDE_FROM => {
                    // Keyed by the whole value (the length slot is a u64;
                    // an address is a usize, 32 bits on some targets).
                    let index = self.wides.index(0, value, || value);
                    packed(u64::from(index), tag::WIDE)
                }
                Recorded::U64(value) => packed(value, tag::U64),
                Recorded::I64(value) => {
                    let zigzagged = zigzag(value);
                    if zigzagged < tag::PAYLOAD_LIMIT {
                        packed(zigzagged, tag::I64)
                    } else {
                        write_varint(&mut self.bytes, tag::I64_LARGE);
                        zigzagged
                    }
                }
                Recorded::Bool(value) => {
                    if value {
                        tag::TRUE
                    } else {
                        tag::FALSE
                    }
                }
                Recorded::Text(text) => {
                    write_varint(&mut self.bytes, packed(text.len() as u64, tag::TEXT));
                    self.bytes.extend_from_slice(text.as_bytes());
                    continue;
                }
                Recorded::Static(text) => packed(self.intern_static(text), tag::STATIC),
                Recorded::Shared(text) => packed(self.intern_shared(text), tag::SHARED),
                Recorded::Port(actor, index) => {
                    let port =
                        self.ports
                            .index(Arc::as_ptr(actor).cast::<u8>() as usize, index, || {
                                (actor.clone(), index)
                            });
                    packed(u64::from(port), tag::PORT)
                }
            };
            write_varint(&mut self.bytes, stored);
        }
        self.len += 1;
    }

    fn intern_static(&mut self, text: &'static str) -> u64 {
        u64::from(
            self.statics
                .index(text.as_ptr() as usize, text.len() as u64, || text),
        )
    }

    fn intern_shared(&mut self, text: &Arc<str>) -> u64 {
        u64::from(self.shared.index(
            Arc::as_ptr(text).cast::<u8>() as usize,
            text.len() as u64,
            || text.clone(),
        ))
    }

    /// Decodes the event at `position` (advancing it); its fields go to
    /// `fields`. The bytes were written by [`Trace::push`], so a malformed
    /// store is a bug here, not bad input.
    fn decode<'a>(
        &'a self,
        cursor: &mut Cursor,
        fields: &mut Vec<(&'static str, FieldRef<'a>)>,
    ) -> Header<'a> {
        let bytes = &self.bytes;
        let position = &mut cursor.position;
        let time_delta = unzigzag(read_varint(bytes, position));
        let step_delta = unzigzag(read_varint(bytes, position));
        cursor.time_ns = cursor.time_ns.wrapping_add(time_delta as u64);
        cursor.step = cursor.step.wrapping_add(step_delta as u64);
        let kind_index = read_varint(bytes, position);
        let kind = *self.statics.get(kind_index);
        let task = match read_varint(bytes, position) {
            0 => None,
            index => Some(self.shared.get(index - 1)),
        };
        let count_and_flag = read_varint(bytes, position);
        let same_names = count_and_flag & 1 == 1;
        let count = (count_and_flag >> 1) as usize;
        fields.clear();
        for field in 0..count {
            let position = &mut cursor.position;
            let name = if same_names {
                cursor.schemas[kind_index as usize][field]
            } else {
                *self.statics.get(read_varint(bytes, position))
            };
            let stored = read_varint(bytes, position);
            let payload = stored >> tag::BITS;
            let value = match stored & tag::MASK {
                tag::U64 => FieldRef::U64(payload),
                tag::WIDE => FieldRef::U64(*self.wides.get(payload)),
                tag::I64 => FieldRef::I64(unzigzag(payload)),
                tag::I64_LARGE => FieldRef::I64(unzigzag(read_varint(bytes, position))),
                tag::FALSE => FieldRef::Bool(false),
                tag::TRUE => FieldRef::Bool(true),
                tag::TEXT => {
                    let length = payload as usize;
                    let text = &bytes[*position..*position + length];
                    *position += length;
                    // Written from a `&str` by `push`.
                    FieldRef::Text(std::str::from_utf8(text).unwrap_or("<invalid utf-8>"))
                }
                tag::STATIC => FieldRef::Static(self.statics.get(payload)),
                tag::SHARED => FieldRef::Text(self.shared.get(payload)),
                tag::PORT => {
                    let (actor, index) = self.ports.get(payload);
                    FieldRef::Port(actor, *index)
                }
                other => unreachable!("trace store holds an unknown value tag {other}"),
            };
            fields.push((name, value));
        }
        if !same_names {
            let schema = cursor.schema(kind_index);
            schema.clear();
            schema.extend(fields.iter().map(|(name, _)| *name));
        }
        Header {
            time_ns: cursor.time_ns,
            step: cursor.step,
            kind,
            task,
        }
    }

    /// Folds one poll of task slot `index` (generation `generation`) into the
    /// schedule digest.
    pub(crate) fn note_poll(&mut self, index: u32, generation: u32) {
        self.schedule
            .write_u64(u64::from(index) | (u64::from(generation) << 32));
    }
}

/// One event read in place by [`Trace::visit`]: its text borrows from the
/// trace (`'t`), its list of fields from the reader (`'f`, this call only).
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'t, 'f> {
    /// Virtual time since the world's epoch.
    pub time: Duration,
    /// How many polls the executor had made when the event was recorded.
    pub step: u64,
    /// What happened.
    pub kind: &'static str,
    /// The task that was running when the event was recorded, if any.
    pub task: Option<&'t Arc<str>>,
    fields: &'f [(&'static str, FieldRef<'t>)],
}

impl<'t> EventRef<'t, '_> {
    /// The value of field `name`, if present.
    pub fn field(&self, name: &str) -> Option<FieldRef<'t>> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| *value)
    }

    /// Field `name` as text; empty if it is absent or not text. A port is
    /// not text here (it is stored as parts): read it with
    /// [`port`](Self::port); debug builds panic if asked for one as text.
    pub fn text(&self, name: &str) -> &'t str {
        let field = self.field(name);
        debug_assert!(
            !matches!(field, Some(FieldRef::Port(..))),
            "field {name:?} of a {:?} event is a port: read it with EventRef::port",
            self.kind
        );
        field.and_then(FieldRef::text).unwrap_or("")
    }

    /// Field `name` as an unsigned integer; 0 if it is absent or not one.
    pub fn number(&self, name: &str) -> u64 {
        match self.field(name) {
            Some(FieldRef::U64(value)) => value,
            _ => 0,
        }
    }

    /// Whether field `name` is the boolean `true`.
    pub fn is_true(&self, name: &str) -> bool {
        self.field(name) == Some(FieldRef::Bool(true))
    }

    /// Field `name` as a port, `(actor id text, index)` (see [`FieldRef::port`]).
    pub fn port(&self, name: &str) -> Option<(&'t str, u64)> {
        self.field(name)?.port()
    }

    /// An owned copy of the event.
    pub fn to_event(&self) -> Event {
        Event {
            time: self.time,
            step: self.step,
            kind: self.kind,
            task: self.task.cloned(),
            fields: self
                .fields
                .iter()
                .map(|(name, value)| (*name, value.to_value()))
                .collect(),
        }
    }
}

/// The fixed part of a stored event.
struct Header<'a> {
    time_ns: u64,
    step: u64,
    kind: &'static str,
    task: Option<&'a Arc<str>>,
}

impl<'t> Header<'t> {
    /// The whole event, with the fields the same decode read.
    fn with_fields<'f>(self, fields: &'f [(&'static str, FieldRef<'t>)]) -> EventRef<'t, 'f> {
        EventRef {
            time: Duration::from_nanos(self.time_ns),
            step: self.step,
            kind: self.kind,
            task: self.task,
            fields,
        }
    }
}

/// A stored value: `payload` beside its `tag` (the payload is below
/// [`tag::PAYLOAD_LIMIT`]: numbers from [`WIDE_FROM`] up are interned, and
/// indices and text lengths are far smaller).
fn packed(payload: u64, tag: u64) -> u64 {
    debug_assert!(
        payload < tag::PAYLOAD_LIMIT,
        "a payload fits beside its tag"
    );
    payload << tag::BITS | tag
}

/// LEB128: seven bits per byte, high bit set on all but the last.
#[inline]
fn write_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// Small magnitudes of either sign become small varints.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn read_varint(bytes: &[u8], position: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = bytes[*position];
        *position += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn push(trace: &mut Trace, task: Option<&Arc<str>>, fields: &[(&'static str, Recorded<'_>)]) {
        trace.push(
            Duration::from_nanos(1_234_567),
            42,
            "kind",
            task,
            fields.iter().copied(),
        );
    }

    /// TRACE-4: what is pushed in compact form reads back as the same event.
    #[test]
    fn compact_store_round_trips_every_value_kind() {
        let actor: Arc<str> = "local[0].ping[0]".into();
        let task: Arc<str> = "runner".into();
        let mut trace = Trace::default();
        push(
            &mut trace,
            Some(&task),
            &[
                ("small", Recorded::U64(5)),
                ("large", Recorded::U64(u64::MAX)),
                ("negative", Recorded::I64(-7)),
                ("yes", Recorded::Bool(true)),
                ("no", Recorded::Bool(false)),
                ("text", Recorded::Text("héllo\n")),
                ("static", Recorded::Static("Static")),
                ("shared", Recorded::Shared(&actor)),
                ("port", Recorded::Port(&actor, 1 << 63)),
                ("most_negative", Recorded::I64(i64::MIN)),
                ("most_positive", Recorded::I64(i64::MAX)),
                ("large_again", Recorded::U64(u64::MAX)),
                ("below_wide", Recorded::U64(WIDE_FROM - 1)),
                ("wide", Recorded::U64(WIDE_FROM)),
                ("wide_above", Recorded::U64(WIDE_FROM << 1)),
                ("signed_inline_max", Recorded::I64((1 << 59) - 1)),
                ("signed_escaped", Recorded::I64(1 << 59)),
                ("signed_inline_min", Recorded::I64(-(1 << 59))),
                ("signed_escaped_min", Recorded::I64(-(1 << 59) - 1)),
                ("empty", Recorded::Text("")),
                (
                    "long",
                    Recorded::Text("a text longer than one byte's worth of length bits"),
                ),
            ],
        );
        push(&mut trace, None, &[]);
        let events: Vec<Event> = trace.events().collect();
        assert_eq!(events.len(), 2);
        assert_eq!(trace.len(), 2);
        let first = &events[0];
        assert_eq!(first.time, Duration::from_nanos(1_234_567));
        assert_eq!(first.step, 42);
        assert_eq!(first.kind, "kind");
        assert_eq!(first.task.as_deref(), Some("runner"));
        let text = |value: &str| Some(Value::Str(value.to_owned().into()));
        assert_eq!(first.field("small").cloned(), Some(Value::U64(5)));
        assert_eq!(first.field("large").cloned(), Some(Value::U64(u64::MAX)));
        assert_eq!(first.field("negative").cloned(), Some(Value::I64(-7)));
        assert_eq!(first.field("yes").cloned(), Some(Value::Bool(true)));
        assert_eq!(first.field("no").cloned(), Some(Value::Bool(false)));
        assert_eq!(first.field("text").cloned(), text("héllo\n"));
        assert_eq!(first.field("static").cloned(), text("Static"));
        assert_eq!(first.field("shared").cloned(), text("local[0].ping[0]"));
        assert_eq!(
            first.field("port").cloned(),
            text("local[0].ping[0]:9223372036854775808")
        );
        let number = |name: &str| first.field(name).cloned();
        assert_eq!(number("most_negative"), Some(Value::I64(i64::MIN)));
        assert_eq!(number("most_positive"), Some(Value::I64(i64::MAX)));
        assert_eq!(number("large_again"), Some(Value::U64(u64::MAX)));
        assert_eq!(number("below_wide"), Some(Value::U64(WIDE_FROM - 1)));
        assert_eq!(number("wide"), Some(Value::U64(WIDE_FROM)));
        assert_eq!(number("wide_above"), Some(Value::U64(WIDE_FROM << 1)));
        assert_eq!(number("signed_inline_max"), Some(Value::I64((1 << 59) - 1)));
        assert_eq!(number("signed_escaped"), Some(Value::I64(1 << 59)));
        assert_eq!(number("signed_inline_min"), Some(Value::I64(-(1 << 59))));
        assert_eq!(
            number("signed_escaped_min"),
            Some(Value::I64(-(1 << 59) - 1))
        );
        assert_eq!(number("empty"), text(""));
        assert_eq!(
            number("long"),
            text("a text longer than one byte's worth of length bits")
        );
        assert_eq!(events[1].task, None);
        assert!(events[1].fields.is_empty());
    }

    /// TRACE-4: a wide number (a session id) is stored once; every later
    /// event names it by its interned index in a byte, and reads back whole.
    #[test]
    fn wide_numbers_are_interned_and_read_back_whole() {
        let session = 0x9e37_79b9_7f4a_7c15_u64;
        assert!(session >= WIDE_FROM);
        let mut trace = Trace::default();
        push(&mut trace, None, &[("session", Recorded::U64(session))]);
        let first = trace.stored_bytes();
        push(&mut trace, None, &[("session", Recorded::U64(session))]);
        let second = trace.stored_bytes() - first;
        // Time, step, kind, task, field count, then the value: one byte each.
        assert_eq!(second, 6, "the second event names the number by index");
        let sessions: Vec<Value> = trace
            .events()
            .filter_map(|event| event.field("session").cloned())
            .collect();
        assert_eq!(sessions, [Value::U64(session), Value::U64(session)]);
    }

    /// Reading in place (`visit`) sees exactly what owned copies (`events`)
    /// see; kinds are counted as recorded, the same text under two static
    /// addresses as one kind; a port reads as its parts, and so does text
    /// of the form `actor:index`.
    #[test]
    fn visit_reads_what_events_copy_and_kinds_are_counted_as_recorded() {
        let actor: Arc<str> = "p.a[0]".into();
        let mut trace = Trace::default();
        push(
            &mut trace,
            None,
            &[("dest", Recorded::Port(&actor, 7)), ("n", Recorded::U64(3))],
        );
        push(
            &mut trace,
            Some(&actor),
            &[
                ("dest", Recorded::Text("p.b[1]:9")),
                ("n", Recorded::U64(4)),
            ],
        );
        let same_kind_elsewhere: &'static str = Box::leak(String::from("kind").into_boxed_str());
        let no_fields = std::iter::empty::<(&'static str, Recorded<'_>)>;
        trace.push(Duration::ZERO, 0, same_kind_elsewhere, None, no_fields());
        trace.push(Duration::ZERO, 0, "other", None, no_fields());
        let owned: Vec<Event> = trace.events().collect();
        let mut read = Vec::new();
        trace.visit(|event| read.push(event.to_event()));
        assert_eq!(read, owned);
        assert_eq!(trace.count_of_kind("kind"), 3);
        assert_eq!(trace.count_of_kind("other"), 1);
        assert_eq!(trace.count_of_kind("missing"), 0);
        let mut ports = Vec::new();
        let mut numbers = Vec::new();
        trace.visit(|event| {
            ports.push(event.port("dest"));
            numbers.push(event.number("n"));
        });
        assert_eq!(
            ports,
            [Some(("p.a[0]", 7)), Some(("p.b[1]", 9)), None, None]
        );
        assert_eq!(numbers, [3, 4, 0, 0]);
    }

    /// TRACE-2: the hash sees text, not how it was stored — a port recorded
    /// as parts hashes like the same text copied in.
    #[test]
    fn hash_does_not_depend_on_how_text_was_stored() {
        let actor: Arc<str> = "a[0]".into();
        let mut parts = Trace::default();
        push(&mut parts, None, &[("dest", Recorded::Port(&actor, 3))]);
        let mut copied = Trace::default();
        push(&mut copied, None, &[("dest", Recorded::Text("a[0]:3"))]);
        assert_eq!(parts.hash(), copied.hash());
        let mut other = Trace::default();
        push(&mut other, None, &[("dest", Recorded::Text("a[0]:4"))]);
        assert_ne!(parts.hash(), other.hash());
    }

    /// TRACE-1: interned indices follow first use, not addresses, so equal
    /// content from different allocations is stored as equal bytes; the
    /// interner keeps working past its growth points.
    #[test]
    fn equal_content_from_different_allocations_stores_equal_bytes() {
        let build = || {
            let ids: Vec<Arc<str>> = (0..300)
                .map(|index| format!("actor{index}").into())
                .collect();
            let mut trace = Trace::default();
            for round in 0..3 {
                for id in ids.iter().rev() {
                    push(&mut trace, Some(id), &[("round", Recorded::U64(round))]);
                }
            }
            trace
        };
        let (first, second) = (build(), build());
        assert_eq!(first.bytes, second.bytes);
        assert_eq!(first.hash(), second.hash());
        let tasks: Vec<_> = first.events().map(|event| event.task).collect();
        assert_eq!(tasks[0].as_deref(), Some("actor299"));
        assert_eq!(tasks[300].as_deref(), Some("actor299"));
        assert_eq!(tasks[899].as_deref(), Some("actor0"));
        assert_eq!(first.shared.values.len(), 300);
    }

    /// TRACE-4: names omitted because they repeat the kind's last ones, and
    /// times and steps stored as deltas (even backwards ones), read back
    /// exactly — whatever order the variations come in.
    #[test]
    fn schemas_and_deltas_read_back_exactly() {
        let mut trace = Trace::default();
        let shapes: [&[(&'static str, Recorded<'_>)]; 4] = [
            &[("a", Recorded::U64(1)), ("b", Recorded::U64(2))],
            &[("a", Recorded::U64(3)), ("b", Recorded::U64(4))],
            &[("b", Recorded::U64(5)), ("a", Recorded::U64(6))],
            &[("a", Recorded::U64(7))],
        ];
        let times = [5_000_u64, 5_000, 1, u64::MAX / 2, 0, 17, 17, 3];
        for (index, time) in times.iter().enumerate() {
            let shape = shapes[index % shapes.len()];
            let kind = if index % 3 == 0 { "one" } else { "other" };
            trace.push(
                Duration::from_nanos(*time),
                (index as u64 * 7919) % 13,
                kind,
                None,
                shape.iter().copied(),
            );
        }
        for (index, event) in trace.events().enumerate() {
            assert_eq!(event.time, Duration::from_nanos(times[index]));
            assert_eq!(event.step, (index as u64 * 7919) % 13);
            assert_eq!(event.kind, if index % 3 == 0 { "one" } else { "other" });
            let shape = shapes[index % shapes.len()];
            let names: Vec<_> = event.fields.iter().map(|(name, _)| *name).collect();
            let expected: Vec<_> = shape.iter().map(|(name, _)| *name).collect();
            assert_eq!(names, expected, "event {index}");
        }
    }
}
