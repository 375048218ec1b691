//! `many-senders`: per-sender FIFO and exactly-once delivery (DESIGN §3
//! Sequencing, SEQ-2 and SEQ-3) end to end over the faulty network.
//!
//! `size` sender procs each run a client instance that sends 50 numbered
//! messages `(sender, n)` by `ActorRef` to one `Collector` on proc `sink`,
//! while the network reorders them across paths, duplicates them, retransmits
//! lost frames and partitions links. The collector fails its handler the
//! moment a sender's numbers are not exactly 0, 1, 2, … (a reordered message
//! or a duplicate that got through the reorder buffer); once it has all
//! `size × 50`, it reports the count on a once port.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::time::Duration;

use futures::future::{Either, select};
use lockstep::{Actor, ActorRef, Context, Handler, HandlerError, OncePortRef};
use serde::{Deserialize, Serialize};

use super::{Scenario, ScenarioContext, ScenarioFuture};
use crate::fault::drive_partitions;

/// `size` senders, 50 numbered messages each, one collector checking order.
pub struct ManySenders;

/// The same traffic with the reorder buffer off: the collector only counts
/// distinct messages, and the sequencing oracle checks that handling order
/// equals arrival order (SEQ-6).
pub struct ArrivalOrder;

/// Messages each sender sends.
const MESSAGES_PER_SENDER: u64 = 50;

/// The `n`-th message (from 0) of sender `sender`.
#[derive(Debug, Serialize, Deserialize)]
struct Numbered {
    sender: u32,
    n: u64,
}

/// Checks that each sender's numbers arrive exactly once, in order.
#[derive(Debug)]
struct Collector {
    /// Whether per-sender order is required (buffer on) or only completeness.
    check_order: bool,
    distinct: std::collections::BTreeSet<(u32, u64)>,
    senders: u32,
    /// Next expected `n` per sender.
    next: BTreeMap<u32, u64>,
    received: u64,
    done: Option<OncePortRef<u64>>,
}

// Undeliverable returns: the collector's only send is its report, to a port
// on its own proc (no network, so no duplicate copy can come back); if that
// report came back anyway, failing the collector (the default) is right.
impl Actor for Collector {}

impl Handler<Numbered> for Collector {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Numbered { sender, n }: Numbered,
    ) -> Result<(), HandlerError> {
        if sender >= self.senders {
            lockstep::bail!("message from unknown sender {sender}");
        }
        if !self.check_order {
            // Buffer off: arrival order, duplicates possible; count distinct.
            self.distinct.insert((sender, n));
            self.received = self.distinct.len() as u64;
            return self.report_if_complete(cx);
        }
        let expected = self.next.entry(sender).or_insert(0);
        if n != *expected {
            let what = if n < *expected {
                "a duplicate or an old message got through"
            } else {
                "a message overtook an earlier one"
            };
            lockstep::bail!("sender {sender}: got n={n}, expected n={expected} ({what})");
        }
        *expected += 1;
        self.received += 1;
        self.report_if_complete(cx)
    }
}

impl Collector {
    fn report_if_complete(&mut self, cx: &Context<Self>) -> Result<(), HandlerError> {
        if self.received == u64::from(self.senders) * MESSAGES_PER_SENDER {
            if let Some(done) = self.done.take() {
                done.send(cx, self.received)?;
            }
        }
        Ok(())
    }
}

lockstep::export!(Collector: Numbered);

impl Scenario for ManySenders {
    fn name(&self) -> &'static str {
        "many-senders"
    }

    fn summary(&self) -> &'static str {
        "`size` procs send numbered messages to one collector that checks per-sender FIFO and exactly-once"
    }

    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(run_senders(context, true))
    }
}

impl Scenario for ArrivalOrder {
    fn name(&self) -> &'static str {
        "arrival-order"
    }

    fn summary(&self) -> &'static str {
        "many-senders with the reorder buffer off: handling order must equal arrival order"
    }

    fn proc_config(&self) -> lockstep::ProcConfig {
        lockstep::ProcConfig::default().with_reorder_buffer(false)
    }

    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(run_senders(context, false))
    }
}

async fn run_senders(context: ScenarioContext, check_order: bool) -> Result<(), String> {
    {
        {
            let network = context.network;
            let mix = context.mix;
            let senders = mix.size;
            let sink = network.proc("sink");
            let sender_procs: Vec<_> = (0..senders)
                .map(|index| network.proc(&format!("sender{index}")))
                .collect();
            drop(lockstep::rt::spawn(
                "faults:partitions",
                drive_partitions(network.clone(), network.proc_names(), mix.clone()),
            ));
            let (observer, _observer) = sink.instance("observer").map_err(|e| e.to_string())?;
            let (done, finished) = observer.open_once_port::<u64>();
            let collector = sink
                .spawn(
                    "collector",
                    Collector {
                        check_order,
                        distinct: std::collections::BTreeSet::new(),
                        senders,
                        next: BTreeMap::new(),
                        received: 0,
                        done: Some(done.bind()),
                    },
                )
                .map_err(|e| e.to_string())?;
            let target: ActorRef<Collector> = collector.bind();

            // One client per sender proc, kept alive (handles below) until the end.
            let mut clients = Vec::new();
            for (index, proc) in sender_procs.iter().enumerate() {
                let (client, handle) = proc.instance("client").map_err(|e| e.to_string())?;
                clients.push(handle);
                let target = target.clone();
                let sender = index as u32;
                drop(lockstep::rt::spawn(&format!("sender{index}"), async move {
                    for n in 0..MESSAGES_PER_SENDER {
                        // Uneven pacing, so the senders' streams interleave.
                        let gap = lockstep::random::below(20);
                        if gap > 0 {
                            lockstep::time::sleep(Duration::from_millis(gap)).await;
                        }
                        if let Err(error) = target.send(&client, Numbered { sender, n }) {
                            tracing::error!(%error, "sender{sender} could not send n={n}");
                            return;
                        }
                    }
                    // Keep the session alive while its messages are in flight.
                    std::future::pending::<()>().await;
                }));
            }

            let expected = u64::from(senders) * MESSAGES_PER_SENDER;
            let budget = mix.fault_window + Duration::from_secs(120);
            let watch = collector.clone();
            let outcome = lockstep::time::timeout(
                budget,
                select(Box::pin(finished.recv()), watch.into_future()),
            )
            .await;
            drop(clients);
            match outcome {
                Ok(Either::Left((Ok(count), _))) if count == expected => Ok(()),
                Ok(Either::Left((Ok(count), _))) => Err(format!(
                    "the collector reported {count} messages, expected {expected}"
                )),
                Ok(Either::Left((Err(error), _))) => {
                    Err(format!("the collector's done port closed: {error}"))
                }
                Ok(Either::Right((status, _))) => Err(format!(
                    "the collector terminated before receiving everything: {status}"
                )),
                Err(_) => Err(format!(
                    "the collector handled {} of {expected} messages within {budget:?} \
                     ({} held back behind gaps)",
                    collector.cell().messages_processed(),
                    collector.cell().buffered_total(),
                )),
            }
        }
    }
}
