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

/// An actor's attrs as they are written: straight to JSON text, with no
/// tree of values built on the way (an answer is made for every query).
/// Fields are in name order (the order a `serde_json::Map` keeps without
/// serde_json's `preserve_order` feature); no reader depends on key order.
#[derive(Serialize)]
struct Attrs<'a> {
    actor_type: &'a str,
    created_at: String,
    created_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_is_propagated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_root_cause_actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_handler: Option<String>,
    messages_processed: u64,
    ordering: Vec<crate::sequencing::SessionOrdering>,
    /// Wall-clock durations would make two queries differ (S2); the start
    /// time is stable.
    #[serde(skip_serializing_if = "Option::is_none")]
    processing_since_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    published: Option<Map<String, Value>>,
    queue_depth: usize,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
}

fn describe(cell: &InstanceCell, status: &ActorStatus) -> IntrospectResult {
    let (status_text, processing_since_ms) = match status {
        ActorStatus::Processing(since, handler) => {
            let text = match handler {
                Some(handler) => format!("processing {handler}"),
                None => "processing".into(),
            };
            (text, Some(millis(*since) as u64))
        }
        other => (other.to_string(), None),
    };
    let failure = match status {
        ActorStatus::Failed(kind) => {
            let (root_cause, propagated) = match kind {
                ActorErrorKind::UnhandledSupervisionEvent(event)
                | ActorErrorKind::ErrorDuringHandlingSupervision(_, event) => {
                    (event.root_cause().actor_id.to_string(), true)
                }
                _ => (cell.actor_id().to_string(), false),
            };
            Some((kind.to_string(), root_cause, propagated))
        }
        _ => None,
    };
    let (failure_error_message, failure_root_cause_actor, failure_is_propagated) = match failure {
        Some((message, root_cause, propagated)) => {
            (Some(message), Some(root_cause), Some(propagated))
        }
        None => (None, None, None),
    };
    let created_at = millis(cell.created_at());
    let attrs = Attrs {
        actor_type: cell.actor_type(),
        created_at: created_at.to_string(),
        created_at_ms: created_at as u64,
        failure_error_message,
        failure_is_propagated,
        failure_root_cause_actor,
        last_handler: cell.last_handler().map(|handler| handler.to_string()),
        messages_processed: cell.messages_processed(),
        ordering: cell.ordering(),
        processing_since_ms,
        published: cell.published_attrs(),
        queue_depth: cell.queue_depth(),
        status: status_text,
        status_reason: status.reason(),
    };
    IntrospectResult {
        identity: cell.actor_id().to_string(),
        // IA-1: a struct serializes to an object. (It cannot fail: string
        // keys, no fallible `Serialize` inside; were it to, the answer
        // still carries an object saying so.)
        attrs: serde_json::to_string(&attrs).unwrap_or_else(|error| {
            json!({ "error_code": "attrs_unserializable", "error_message": error.to_string() })
                .to_string()
        }),
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
    let Ok(attrs) = serde_json::from_str::<AttrsSummary>(&result.attrs) else {
        return violation(
            "IA-1",
            format!("attrs is not a JSON object: {}", result.attrs),
        );
    };
    if result.identity.is_empty() {
        return Ok(()); // an error answer carries only error attrs
    }
    let status = attrs
        .status
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default();
    let terminal = status.starts_with("stopped") || status.starts_with("failed");
    if attrs.status_reason.is_some() != terminal {
        return violation(
            "IA-3",
            format!(
                "status {status:?} with status_reason {:?}",
                attrs.status_reason
            ),
        );
    }
    let failed = status.starts_with("failed");
    if attrs.failure_attrs != failed {
        return violation(
            "IA-4",
            format!(
                "status {status:?} but failure attrs present: {}",
                attrs.failure_attrs
            ),
        );
    }
    if let Some(handler) = attrs.last_handler.as_ref().and_then(Value::as_str) {
        if handler.contains("IntrospectMessage") {
            return violation("S2", format!("last_handler is the query itself: {handler}"));
        }
    }
    Ok(())
}

/// What [`check_invariants`] reads of an attrs object, taken as it is
/// parsed: the other values are skipped, never built (the simulator checks
/// every answer it sees). Anything but an object fails to parse (IA-1).
/// A repeated key counts its last value, as a parsed `Map` would. A skipped
/// value is checked for JSON syntax only: nesting deeper than serde_json's
/// 128 levels, a number out of `f64` range, or a lone surrogate escape in
/// it still passes (IA-1 asks for an object; no answer the runtime builds
/// contains any of them).
#[derive(Default)]
struct AttrsSummary {
    status: Option<Value>,
    status_reason: Option<Value>,
    last_handler: Option<Value>,
    /// Whether any key starts with `failure_`.
    failure_attrs: bool,
}

impl<'de> Deserialize<'de> for AttrsSummary {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AttrsSummary;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object of attrs")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<AttrsSummary, M::Error> {
                let mut summary = AttrsSummary::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match &*key {
                        "status" => &mut summary.status,
                        "status_reason" => &mut summary.status_reason,
                        "last_handler" => &mut summary.last_handler,
                        other => {
                            summary.failure_attrs |= other.starts_with("failure_");
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(summary)
            }
        }

        deserializer.deserialize_map(Visitor)
    }
}

pub(crate) mod task;

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(attrs: &str) -> IntrospectResult {
        IntrospectResult {
            identity: "local[0].a[0]".into(),
            attrs: attrs.into(),
            children: Vec::new(),
            parent: None,
            as_of: "0".into(),
        }
    }

    fn code_of(attrs: &str) -> Option<&'static str> {
        check_invariants(&answer(attrs))
            .err()
            .map(|violation| violation.code)
    }

    /// Goal: the checker catches each invariant it names (IA-1, IA-3, IA-4,
    /// S2), and passes answers that keep them — including keys spelled with
    /// JSON escapes and values of any shape it skips.
    #[test]
    fn check_invariants_names_each_broken_invariant() {
        for not_an_object in ["[]", "\"idle\"", "{", "{} trailing", ""] {
            assert_eq!(code_of(not_an_object), Some("IA-1"), "{not_an_object:?}");
        }
        assert_eq!(
            code_of(r#"{"status":"idle","status_reason":"x"}"#),
            Some("IA-3")
        );
        assert_eq!(code_of(r#"{"status":"stopped: done"}"#), Some("IA-3"));
        assert_eq!(
            code_of(r#"{"status":"failed: boom","status_reason":"boom"}"#),
            Some("IA-4")
        );
        assert_eq!(
            code_of(r#"{"status":"idle","failure_is_propagated":false}"#),
            Some("IA-4")
        );
        assert_eq!(
            code_of(r#"{"status":"idle","last_handler":"lockstep::IntrospectMessage"}"#),
            Some("S2")
        );
        // An escaped key is the same key.
        assert_eq!(
            code_of(r#"{"st\u0061tus":"idle","status_reason":"x"}"#),
            Some("IA-3")
        );
        let kept = [
            r#"{"status":"idle","ordering":[{"session_id":1,"buffered":[1,2]}],"published":{"a":null}}"#,
            r#"{"status":"stopped: done","status_reason":"done","last_handler":"u64"}"#,
            r#"{"status":"failed: boom","status_reason":"boom","failure_error_message":"boom"}"#,
            r#"{"status":7}"#,
            // A skipped value is checked for syntax only (see AttrsSummary).
            r#"{"status":"idle","huge":1e400}"#,
        ];
        for attrs in kept {
            assert_eq!(code_of(attrs), None, "{attrs}");
        }
        // An error answer (no identity) need only be an object.
        let mut error = answer(r#"{"error_code":"not_found","status_reason":"x"}"#);
        error.identity.clear();
        assert!(check_invariants(&error).is_ok());
    }
}
