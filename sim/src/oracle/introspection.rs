//! The introspection oracle: at seed-chosen moments during a run, query a
//! random live actor through its introspect port — the way a user's tooling
//! would — and check the answer.
//!
//! S1: a live actor answers within [`ANSWER_TIME_MAX`], even while it is
//! busy or wedged in a handler.
//! IA-1, IA-3, IA-4, S2: checked on every answer by
//! `lockstep::introspect::check_invariants` (the one place they are defined).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::introspect::{IntrospectMessage, IntrospectResult, IntrospectView, check_invariants};
use lockstep::rt::RandomStream;
use lockstep::rt::random;
use lockstep::{ActorStatus, PortRef};

use super::OracleReport;
use crate::net::Network;

const ORACLE: &str = "introspection";

/// The oracle's own random stream: probing never reshuffles other draws.
pub const PROBES: RandomStream = RandomStream("oracle.introspection");

/// How long a live actor may take to answer (virtual time).
pub const ANSWER_TIME_MAX: Duration = Duration::from_secs(1);

/// Mean virtual time between probes.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Probe forever (the runner drops this task when the run ends).
pub async fn probe(network: Network, report: Arc<Mutex<OracleReport>>) {
    loop {
        let gap = random::below(PROBES, 2 * PROBE_EVERY.as_micros() as u64) + 1;
        lockstep::time::sleep(Duration::from_micros(gap)).await;
        let names = network.proc_names();
        if names.is_empty() {
            continue; // nothing to ask yet
        }
        let name = &names[random::below(PROBES, names.len() as u64) as usize];
        // A paused proc runs nothing, so it cannot answer: S1 is owed by
        // live, running actors only.
        if network.is_paused(name) {
            continue;
        }
        let Some(proc) = network.lookup(name) else {
            continue;
        };
        let actors: Vec<_> = proc
            .all_actor_ids()
            .into_iter()
            .filter(|actor| actor.name() != "oracle")
            .filter_map(|actor| proc.lookup(&actor))
            .filter(|cell| cell.status() != ActorStatus::Client)
            .collect();
        if actors.is_empty() {
            continue;
        }
        let cell = &actors[random::below(PROBES, actors.len() as u64) as usize];
        let client = match proc.lookup(&proc.proc_id().actor_id("oracle", 0).expect("valid name")) {
            Some(_) => None,
            None => proc.instance("oracle").ok(),
        };
        let Some((client, _handle)) = client else {
            continue;
        };
        let (reply, answer) = client.open_once_port::<IntrospectResult>();
        let query = IntrospectMessage::Query {
            view: IntrospectView::Actor,
            reply: reply.bind(),
        };
        if PortRef::<IntrospectMessage>::attest_message_port(cell.actor_id())
            .send(&client, query)
            .is_err()
        {
            continue;
        }
        let outcome = lockstep::time::timeout(ANSWER_TIME_MAX, answer.recv()).await;
        let mut report = report.lock().expect("oracle report lock");
        match outcome {
            Ok(Ok(result)) => {
                report.checked(ORACLE);
                if let Err(violation) = check_invariants(&result) {
                    report.violated(
                        ORACLE,
                        violation.code,
                        format!("{}: {}", cell.actor_id(), violation.detail),
                        Some(lockstep::time::now().since_epoch()),
                    );
                }
            }
            // The actor terminated, or its proc was paused, meanwhile: no
            // answer is owed.
            _ if cell.status().is_terminal() || network.is_paused(name) => {
                report.checked(ORACLE);
            }
            Ok(Err(_)) => report.checked(ORACLE),
            Err(_) => {
                report.checked(ORACLE);
                report.violated(
                    ORACLE,
                    "S1",
                    format!(
                        "{} did not answer introspection within {ANSWER_TIME_MAX:?} (status: {})",
                        cell.actor_id(),
                        cell.status()
                    ),
                    Some(lockstep::time::now().since_epoch()),
                );
            }
        }
    }
}
