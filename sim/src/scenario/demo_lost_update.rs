//! `demo-lost-update`: a DEMO with a planted concurrency bug, for newcomers
//! to see what a failing seed looks like and how to replay it.
//!
//! An `Account` actor on proc `bank` holds a balance and answers `Read`
//! (reply with the balance) and `Write` (set the balance). Two tellers, each
//! a client on its own proc, make deposits by read-modify-write: `Read`,
//! then `Write(balance + 10)`. Each teller assumes nobody writes in between.
//!
//! The bug: lockstep keeps each *sender's* messages in order (per-session
//! FIFO), but says nothing about the order *across* senders, and the
//! read-modify-write spans two messages, so it is not atomic. When the two
//! tellers' round trips overlap (network latency, partitions and the seed's
//! pacing decide), both read the same balance and one deposit is lost. The
//! scenario then fails with "lost update: balance is X, expected Y".
//!
//! Fixes a newcomer might try: a single `Deposit(amount)` message the account
//! applies itself, or a compare-and-set `Write { expected, new }`.

use std::time::Duration;

use lockstep::{
    Actor, ActorRef, Context, Handler, HandlerError, Instance, MessageEnvelope, OncePortRef, Proc,
    Undeliverable,
};
use serde::{Deserialize, Serialize};

use super::support::{is_returned_reply, until};
use super::{Scenario, ScenarioContext, ScenarioFuture};
use crate::fault::drive_partitions;

/// Two tellers' read-modify-write deposits race on one account.
pub struct DemoLostUpdate;

/// Deposits each teller makes.
const DEPOSITS: u64 = 3;

/// A teller waits up to this long (uniformly) before each deposit.
const THINK_MS_MAX: u64 = 3_000;

/// The amount of one deposit.
const AMOUNT: u64 = 10;

/// Reply with the balance.
#[derive(Debug, Serialize, Deserialize)]
struct Read {
    reply: OncePortRef<u64>,
}

/// Set the balance; acknowledge on `ack`.
#[derive(Debug, Serialize, Deserialize)]
struct Write {
    balance: u64,
    ack: OncePortRef<()>,
}

/// Holds the balance; does exactly what it is told.
#[derive(Debug, Default)]
struct Account {
    balance: u64,
}

impl Actor for Account {
    /// The account only sends replies to once ports. One comes back when a
    /// network duplicate of a request (or of a reply) finds the port already
    /// used, or finds the teller gone (it finished). That is not the
    /// account's failure: ignore it. Anything else fails, as by default.
    async fn handle_undeliverable_message(
        &mut self,
        _this: &Instance<Self>,
        undeliverable: Undeliverable<MessageEnvelope>,
    ) -> Result<(), HandlerError> {
        if is_returned_reply(&undeliverable) {
            return Ok(());
        }
        Err(HandlerError::msg(undeliverable))
    }
}

impl Handler<Read> for Account {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Read { reply }: Read,
    ) -> Result<(), HandlerError> {
        reply.send(cx, self.balance)?;
        Ok(())
    }
}

impl Handler<Write> for Account {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Write { balance, ack }: Write,
    ) -> Result<(), HandlerError> {
        self.balance = balance;
        ack.send(cx, ())?;
        Ok(())
    }
}

lockstep::export!(Account: Read, Write);

/// One teller: `DEPOSITS` read-modify-write deposits, with think time
/// between them.
async fn teller(proc: Proc, account: ActorRef<Account>) -> Result<(), String> {
    let (client, _client) = proc.instance("teller").map_err(|error| error.to_string())?;
    for _ in 0..DEPOSITS {
        let think = lockstep::random::below(THINK_MS_MAX);
        lockstep::time::sleep(Duration::from_millis(think)).await;
        // Read …
        let (reply, balance) = client.open_once_port::<u64>();
        account
            .send(
                &client,
                Read {
                    reply: reply.bind(),
                },
            )
            .map_err(|error| error.to_string())?;
        let balance = balance.recv().await.map_err(|error| error.to_string())?;
        // … modify, write (assuming nobody wrote in between: the bug).
        let (ack, written) = client.open_once_port::<()>();
        let write = Write {
            balance: balance + AMOUNT,
            ack: ack.bind(),
        };
        account
            .send(&client, write)
            .map_err(|error| error.to_string())?;
        written.recv().await.map_err(|error| error.to_string())?;
    }
    Ok(())
}

impl Scenario for DemoLostUpdate {
    fn name(&self) -> &'static str {
        "demo-lost-update"
    }

    fn summary(&self) -> &'static str {
        "DEMO (fails on purpose): two tellers' read-modify-write deposits interleave and lose an update"
    }

    fn is_demo(&self) -> bool {
        true
    }

    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(async move {
            let network = context.network;
            let mix = context.mix;
            let deadline = lockstep::time::now() + mix.fault_window + Duration::from_secs(120);
            let bank = network.proc("bank");
            let tellers = [network.proc("teller0"), network.proc("teller1")];
            drop(lockstep::rt::spawn(
                "faults:partitions",
                drive_partitions(network.clone(), network.proc_names(), mix.clone()),
            ));
            let account = bank
                .spawn("account", Account::default())
                .map_err(|error| error.to_string())?;
            let reference: ActorRef<Account> = account.bind();
            let running: Vec<_> = tellers
                .into_iter()
                .enumerate()
                .map(|(index, proc)| {
                    lockstep::rt::spawn(&format!("teller{index}"), teller(proc, reference.clone()))
                })
                .collect();
            for (index, running) in running.into_iter().enumerate() {
                until(deadline, format!("teller{index} to finish"), running)
                    .await?
                    .map_err(|error| format!("teller{index} panicked: {error}"))?
                    .map_err(|error| format!("teller{index}: {error}"))?;
            }
            // Both tellers saw their last write acknowledged: read the result.
            let (auditor, _auditor) = bank
                .instance("auditor")
                .map_err(|error| error.to_string())?;
            let (reply, balance) = auditor.open_once_port::<u64>();
            account
                .send(
                    &auditor,
                    Read {
                        reply: reply.bind(),
                    },
                )
                .map_err(|error| error.to_string())?;
            let balance = until(deadline, "the final balance", balance.recv())
                .await?
                .map_err(|error| error.to_string())?;
            let expected = 2 * DEPOSITS * AMOUNT;
            if balance != expected {
                return Err(format!(
                    "lost update: balance is {balance}, expected {expected} \
                     (two tellers' read-modify-write interleaved)"
                ));
            }
            Ok(())
        })
    }
}
