//! Workloads shared by several test binaries.
#![allow(dead_code, reason = "each test binary uses a subset")]

use std::time::Duration;

use lockstep::{Actor, Context, Handler, HandlerError, OncePortRef};
use lockstep_sim::trace;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Answers each [`Ping`] with its number: a request/response target.
#[derive(Debug)]
pub struct Echo;

/// A numbered request and where to answer it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ping(pub u64, pub OncePortRef<u64>);

impl Actor for Echo {}

impl Handler<Ping> for Echo {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Ping(n, reply): Ping,
    ) -> Result<(), HandlerError> {
        reply.send(cx, n)?;
        Ok(())
    }
}

lockstep::export!(Echo: Ping);

/// A racy workload: `writers` tasks each yield a seed-dependent number of times
/// and sleep a little, then record a "write" event; the order of the events is
/// the schedule the seed chose.
pub async fn racy_writers(writers: u64) {
    let mut handles = Vec::new();
    for writer in 0..writers {
        handles.push(lockstep::rt::spawn(
            &format!("writer-{writer}"),
            async move {
                for round in 0..3u64 {
                    lockstep::rt::yield_now().await;
                    if lockstep::random::below(4) == 0 {
                        lockstep::time::sleep(Duration::from_millis(1)).await;
                    }
                    trace::record(
                        "write",
                        [("writer", writer.into()), ("round", round.into())],
                    );
                }
            },
        ));
    }
    for handle in handles {
        handle.await.expect("writer finishes");
    }
}

/// Two tasks bouncing a counter over tokio mpsc channels `messages` times;
/// returns the final count.
pub async fn ping_pong(messages: u64) -> u64 {
    let (to_pong, mut pong_inbox) = mpsc::channel::<u64>(1);
    let (to_ping, mut ping_inbox) = mpsc::channel::<u64>(1);
    let pong = lockstep::rt::spawn("pong", async move {
        while let Some(count) = pong_inbox.recv().await {
            if to_ping.send(count + 1).await.is_err() {
                break;
            }
        }
    });
    let ping = lockstep::rt::spawn("ping", async move {
        let mut count = 0;
        to_pong.send(0).await.expect("pong is alive");
        while let Some(received) = ping_inbox.recv().await {
            count = received + 1;
            if count >= messages {
                break;
            }
            to_pong.send(count).await.expect("pong is alive");
        }
        count
    });
    let count = ping.await.expect("ping finishes");
    let _ = pong.await;
    count
}
