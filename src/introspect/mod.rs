//! Introspection: every actor answers "what are you doing?" from a runtime
//! task beside it, never from its work queue — so a wedged actor still answers.
//!
//! Owns: [`IntrospectMessage`], [`IntrospectResult`], how a payload is built
//! from an actor's cell, the per-actor introspect task, terminated snapshots,
//! and [`check_invariants`], the one place the invariants below are checked.
//!
//! S1: a wedged actor still answers; its status shows `processing`.
//! S2: queries never perturb what they report: `last_handler` is never the
//! introspection message, and two queries in a row agree.
//! IA-1: `attrs` is always a JSON object.
//! IA-3: `status_reason` is present only on terminal statuses.
//! IA-4: `failure_*` attrs are present if and only if the actor failed.
//! CI-1: an introspectable client reports status `client` and actor_type `()`.
//! CI-2: dropping an introspectable client leaves a terminated snapshot.
//! A plain client instance does not answer (its introspect port is unbound,
//! so the query comes back to the asker as undeliverable).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::actor::{ActorErrorKind, ActorStatus};
use crate::id::ActorId;
use crate::mailbox::OncePortRef;
use crate::proc::InstanceCell;

/// Which view a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntrospectView {
    /// The actor itself.
    Actor,
}

/// What a query refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reference {
    /// An actor.
    Actor(ActorId),
    /// Anything else, by name (for user-defined `query_child` handlers).
    Named(String),
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Actor(actor_id) => write!(f, "{actor_id}"),
            Reference::Named(name) => f.write_str(name),
        }
    }
}

/// A query, sent to an actor's introspect port
/// (`PortRef::<IntrospectMessage>::attest_message_port(actor_id)`).
#[derive(Debug, Serialize, Deserialize)]
pub enum IntrospectMessage {
    /// Describe yourself.
    Query {
        /// The view wanted.
        view: IntrospectView,
        /// Where to answer.
        reply: OncePortRef<IntrospectResult>,
    },
    /// Describe something you know about (through the cell's `query_child` callback).
    QueryChild {
        /// What to describe.
        child_ref: Reference,
        /// Where to answer.
        reply: OncePortRef<IntrospectResult>,
    },
}

/// An introspection answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntrospectResult {
    /// The actor id (empty for an error answer).
    pub identity: String,
    /// A JSON object of attributes (IA-1).
    pub attrs: String,
    /// Ids of live children, in pid order.
    pub children: Vec<String>,
    /// The supervising parent, if any.
    pub parent: Option<String>,
    /// When this answer was made (world wall clock, ms since the Unix epoch).
    pub as_of: String,
}

impl IntrospectResult {
    /// The attrs, parsed.
    pub fn attrs_json(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.attrs) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// One attr.
    pub fn attr(&self, name: &str) -> Option<Value> {
        self.attrs_json().get(name).cloned()
    }

    /// The error answer for a reference nobody can describe.
    pub fn error(code: &str, message: &str) -> Self {
        Self {
            identity: String::new(),
            attrs: json!({ "error_code": code, "error_message": message }).to_string(),
            children: Vec::new(),
            parent: None,
            as_of: now_millis(),
        }
    }
}

fn millis(time: SystemTime) -> u128 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn now_millis() -> String {
    crate::rt::time::system_now_millis().to_string()
}

/// Build the payload describing `cell` now. Reads only the cell, never the
/// actor's queue (S1, S2).
pub fn live_actor_payload(cell: &InstanceCell) -> IntrospectResult {
    describe(cell, &cell.status())
}

fn describe(cell: &InstanceCell, status: &ActorStatus) -> IntrospectResult {
    let mut attrs = Map::new();
    let status_text = match status {
        // Wall-clock durations would make two queries differ (S2); the start time is stable.
        ActorStatus::Processing(since, handler) => {
            attrs.insert("processing_since_ms".into(), json!(millis(*since) as u64));
            match handler {
                Some(handler) => format!("processing {handler}"),
                None => "processing".into(),
            }
        }
        other => other.to_string(),
    };
    attrs.insert("status".into(), json!(status_text));
    if let Some(reason) = status.reason() {
        attrs.insert("status_reason".into(), json!(reason));
    }
    attrs.insert("actor_type".into(), json!(cell.actor_type()));
    attrs.insert(
        "created_at_ms".into(),
        json!(millis(cell.created_at()) as u64),
    );
    attrs.insert(
        "created_at".into(),
        json!(millis(cell.created_at()).to_string()),
    );
    if let Some(handler) = cell.last_handler() {
        attrs.insert("last_handler".into(), json!(handler.to_string()));
    }
    attrs.insert(
        "messages_processed".into(),
        json!(cell.messages_processed()),
    );
    attrs.insert("queue_depth".into(), json!(cell.queue_depth()));
    attrs.insert(
        "ordering".into(),
        serde_json::to_value(cell.ordering()).unwrap_or(Value::Null),
    );
    if let ActorStatus::Failed(kind) = status {
        attrs.insert("failure_error_message".into(), json!(kind.to_string()));
        let (root_cause, propagated) = match kind {
            ActorErrorKind::UnhandledSupervisionEvent(event)
            | ActorErrorKind::ErrorDuringHandlingSupervision(_, event) => {
                (event.root_cause().actor_id.to_string(), true)
            }
            _ => (cell.actor_id().to_string(), false),
        };
        attrs.insert("failure_root_cause_actor".into(), json!(root_cause));
        attrs.insert("failure_is_propagated".into(), json!(propagated));
    }
    if let Some(published) = cell.published_attrs() {
        attrs.insert("published".into(), Value::Object(published));
    }
    IntrospectResult {
        identity: cell.actor_id().to_string(),
        attrs: Value::Object(attrs).to_string(),
        children: cell
            .children()
            .iter()
            .map(|child| child.actor_id().to_string())
            .collect(),
        parent: cell.parent().map(|parent| parent.actor_id().to_string()),
        as_of: now_millis(),
    }
}

/// An introspection invariant that an answer broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct InvariantViolation {
    /// The invariant's code (`IA-1`, ...).
    pub code: &'static str,
    /// What was wrong.
    pub detail: String,
}

/// Check IA-1, IA-3, IA-4 and S2 on an actor's answer — the one place they
/// are checked; tests and the simulator's oracle call it.
pub fn check_invariants(result: &IntrospectResult) -> Result<(), InvariantViolation> {
    let violation = |code, detail: String| Err(InvariantViolation { code, detail });
    let attrs = match serde_json::from_str::<Value>(&result.attrs) {
        Ok(Value::Object(attrs)) => attrs,
        _ => {
            return violation(
                "IA-1",
                format!("attrs is not a JSON object: {}", result.attrs),
            );
        }
    };
    if result.identity.is_empty() {
        return Ok(()); // an error answer carries only error attrs
    }
    let status = attrs
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let terminal = status.starts_with("stopped") || status.starts_with("failed");
    if attrs.contains_key("status_reason") != terminal {
        return violation(
            "IA-3",
            format!(
                "status {status:?} with status_reason {:?}",
                attrs.get("status_reason")
            ),
        );
    }
    let failed = status.starts_with("failed");
    let failure_attrs = attrs.keys().any(|key| key.starts_with("failure_"));
    if failure_attrs != failed {
        return violation(
            "IA-4",
            format!("status {status:?} but failure attrs present: {failure_attrs}"),
        );
    }
    if let Some(handler) = attrs.get("last_handler").and_then(Value::as_str) {
        if handler.contains("IntrospectMessage") {
            return violation("S2", format!("last_handler is the query itself: {handler}"));
        }
    }
    Ok(())
}

pub(crate) mod task;
