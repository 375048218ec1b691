//! User properties over snapshots of the world: `always`, `sometimes`,
//! `eventually_within`.
//!
//! PROP-1: an `always` property holds at every evaluation; an
//! `eventually_within(d)` property holds at some evaluation no later than `d`
//! after the run started; a `sometimes` property is reported per run and a
//! sweep fails if it never held in any seed (a fault that never fired is a
//! test that tested nothing).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::ActorStatus;
use lockstep::sequencing::SessionOrdering;

use super::OracleReport;
use crate::net::Network;

const ORACLE: &str = "properties";

/// One actor, as a property sees it.
#[derive(Clone, Debug)]
pub struct ActorSnapshot {
    /// Its id.
    pub actor_id: String,
    /// Its status.
    pub status: ActorStatus,
    /// Messages queued.
    pub queue_depth: usize,
    /// Ordering state per session.
    pub ordering: Vec<SessionOrdering>,
    /// Attrs the actor published (user-exposed state).
    pub published: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The world, as a property sees it.
#[derive(Clone, Debug)]
pub struct WorldSnapshot {
    /// Virtual time since the run started.
    pub now: Duration,
    /// Every live actor of every live proc.
    pub actors: Vec<ActorSnapshot>,
    /// Messages held by partitions right now.
    pub held_in_network: usize,
    /// Whether any link is cut right now.
    pub partitioned: bool,
}

impl WorldSnapshot {
    /// Take a snapshot of `network`'s procs.
    pub fn take(network: &Network) -> Self {
        let actors = network
            .live_actors()
            .into_iter()
            .map(|cell| ActorSnapshot {
                actor_id: cell.actor_id().to_string(),
                status: cell.status(),
                queue_depth: cell.queue_depth(),
                ordering: cell.ordering(),
                published: cell.published_attrs(),
            })
            .collect();
        Self {
            now: lockstep::time::now().since_epoch(),
            actors,
            held_in_network: network.held_count(),
            partitioned: network.is_partitioned(),
        }
    }
}

type Predicate = Arc<dyn Fn(&WorldSnapshot) -> bool + Send + Sync>;

#[derive(Clone)]
enum Kind {
    Always,
    Sometimes,
    EventuallyWithin(Duration),
}

#[derive(Clone)]
struct Property {
    name: String,
    kind: Kind,
    predicate: Predicate,
    held: bool,
    failed: bool,
}

/// The properties a scenario declares. Cheap to clone.
#[derive(Clone, Default)]
pub struct Properties {
    declared: Arc<Mutex<Vec<Property>>>,
}

impl Properties {
    fn declare(
        &self,
        name: &str,
        kind: Kind,
        predicate: impl Fn(&WorldSnapshot) -> bool + Send + Sync + 'static,
    ) {
        self.declared
            .lock()
            .expect("properties lock")
            .push(Property {
                name: name.to_owned(),
                kind,
                predicate: Arc::new(predicate),
                held: false,
                failed: false,
            });
    }

    /// `predicate` must hold at every evaluation.
    pub fn always(
        &self,
        name: &str,
        predicate: impl Fn(&WorldSnapshot) -> bool + Send + Sync + 'static,
    ) {
        self.declare(name, Kind::Always, predicate);
    }

    /// `predicate` should hold at least once in some seed of a sweep.
    pub fn sometimes(
        &self,
        name: &str,
        predicate: impl Fn(&WorldSnapshot) -> bool + Send + Sync + 'static,
    ) {
        self.declare(name, Kind::Sometimes, predicate);
    }

    /// `predicate` must hold at least once within `within` of the start.
    pub fn eventually_within(
        &self,
        name: &str,
        within: Duration,
        predicate: impl Fn(&WorldSnapshot) -> bool + Send + Sync + 'static,
    ) {
        self.declare(name, Kind::EventuallyWithin(within), predicate);
    }

    /// Evaluate every property on `snapshot`.
    pub fn evaluate(&self, snapshot: &WorldSnapshot, report: &mut OracleReport) {
        let mut declared = self.declared.lock().expect("properties lock");
        for property in declared.iter_mut() {
            report.checked(ORACLE);
            let holds = (property.predicate)(snapshot);
            // PROP-1: an `eventually_within` holding past its deadline is
            // late, not held.
            let in_time = match property.kind {
                Kind::EventuallyWithin(within) => snapshot.now <= within,
                _ => true,
            };
            property.held |= holds && in_time;
            match property.kind {
                Kind::Always if !holds && !property.failed => {
                    property.failed = true;
                    report.violated(
                        ORACLE,
                        "PROP-1",
                        format!("always({}) failed", property.name),
                        Some(snapshot.now),
                    );
                }
                Kind::EventuallyWithin(within)
                    if !property.held && !property.failed && snapshot.now > within =>
                {
                    property.failed = true;
                    report.violated(
                        ORACLE,
                        "PROP-1",
                        format!(
                            "eventually_within({}, {within:?}) did not hold in time",
                            property.name
                        ),
                        Some(snapshot.now),
                    );
                }
                _ => {}
            }
        }
    }

    /// At the end: an `eventually_within` that never held fails.
    pub fn finish(&self, report: &mut OracleReport) {
        let mut declared = self.declared.lock().expect("properties lock");
        for property in declared.iter_mut() {
            if let Kind::EventuallyWithin(within) = property.kind {
                if !property.held && !property.failed {
                    property.failed = true;
                    report.violated(
                        ORACLE,
                        "PROP-1",
                        format!(
                            "eventually_within({}, {within:?}) never held",
                            property.name
                        ),
                        None,
                    );
                }
            }
        }
    }

    /// Per property: did it hold at least once in this run?
    pub fn outcomes(&self) -> BTreeMap<String, bool> {
        self.declared
            .lock()
            .expect("properties lock")
            .iter()
            .map(|property| (property.name.clone(), property.held))
            .collect()
    }

    /// Names of the `sometimes` properties.
    pub fn sometimes_names(&self) -> Vec<String> {
        self.declared
            .lock()
            .expect("properties lock")
            .iter()
            .filter(|property| matches!(property.kind, Kind::Sometimes))
            .map(|property| property.name.clone())
            .collect()
    }
}

/// Mean virtual time between evaluations.
pub const EVALUATE_EVERY: Duration = Duration::from_millis(50);

/// Evaluate `properties` periodically (the runner drops this task at the end).
pub async fn watch(network: Network, properties: Properties, report: Arc<Mutex<OracleReport>>) {
    loop {
        lockstep::time::sleep(EVALUATE_EVERY).await;
        if properties
            .declared
            .lock()
            .expect("properties lock")
            .is_empty()
        {
            continue;
        }
        let snapshot = WorldSnapshot::take(&network);
        properties.evaluate(&snapshot, &mut report.lock().expect("oracle report lock"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> WorldSnapshot {
        WorldSnapshot {
            now: Duration::from_millis(millis),
            actors: Vec::new(),
            held_in_network: 0,
            partitioned: false,
        }
    }

    /// Goal: PROP-1 — `eventually_within(d)` must hold at an evaluation no
    /// later than `d`: first holding at the evaluation just after `d` is a
    /// violation, holding exactly at `d` is not.
    #[test]
    fn prop_1_eventually_within_holding_only_after_its_deadline_fails() {
        for (first_true_ms, late) in [(1_050, true), (1_000, false)] {
            let properties = Properties::default();
            properties.eventually_within("ready", Duration::from_secs(1), move |snapshot| {
                snapshot.now >= Duration::from_millis(first_true_ms)
            });
            let mut report = OracleReport::default();
            for millis in [950, 1_000, 1_050, 1_100] {
                properties.evaluate(&at(millis), &mut report);
            }
            properties.finish(&mut report);
            assert_eq!(
                !report.violations.is_empty(),
                late,
                "first true at {first_true_ms} ms: {:?}",
                report.violations
            );
            assert_eq!(properties.outcomes()["ready"], !late);
        }
    }
}
