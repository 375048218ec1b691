//! The liveness phase: after the scenario's work is done, heal the network,
//! stop injecting faults, let in-flight messages land, and require that
//! everything settled.
//!
//! LIVE-1: no message is held in a reorder buffer behind a gap (names the
//! actor, the session and the seq it waits for).
//! LIVE-2: no actor is stuck processing one message (unless the scenario
//! declared it wedged on purpose).

use std::collections::BTreeSet;
use std::time::Duration;

use lockstep::ActorStatus;

use super::OracleReport;
use super::sequencing::HeldAtEnd;
use crate::net::Network;

const ORACLE: &str = "liveness";

/// Heal, wait `settle` of virtual time, then inspect every live actor.
/// Returns what each live actor still holds (for the accounting check).
pub async fn settle(
    network: &Network,
    settle: Duration,
    wedged_on_purpose: &BTreeSet<String>,
    report: &mut OracleReport,
) -> HeldAtEnd {
    network.stop_faults();
    network.heal_all();
    lockstep::time::sleep(settle).await;
    let mut held = HeldAtEnd::new();
    let now = lockstep::time::system_now();
    for cell in network.live_actors() {
        let actor_id = cell.actor_id().clone();
        report.checked(ORACLE);
        let id = actor_id.to_string();
        held.insert(id.clone(), cell.sequenced_held());
        for session in cell.ordering() {
            if session.buffered_count > 0 {
                report.violated(
                    ORACLE,
                    "LIVE-1",
                    format!(
                        "{id} holds {} message(s) of session {:016x} behind a gap: waiting for seq {} \
                         (last released {}, oldest buffered {:?})",
                        session.buffered_count,
                        session.session_id,
                        session.next_expected_seq,
                        session.last_released_seq,
                        session.oldest_buffered_seq
                    ),
                    None,
                );
            }
        }
        if let ActorStatus::Processing(since, handler) = cell.status() {
            // `since` was read from the actor's proc's (skewed) wall clock
            // (CLOCK-3): compare it with that clock's now, not the world's.
            let skew_ns = network.clock_skew_ns(cell.actor_id().proc_id().name());
            let proc_now = crate::clock::skewed(now, skew_ns);
            let stuck = proc_now.duration_since(since).unwrap_or_default();
            if stuck >= settle && !wedged_on_purpose.contains(&id) {
                let handler = handler
                    .map(|handler| handler.to_string())
                    .unwrap_or_default();
                report.violated(
                    ORACLE,
                    "LIVE-2",
                    format!("{id} is stuck processing {handler} for {stuck:?}"),
                    None,
                );
            }
        }
    }
    held
}
