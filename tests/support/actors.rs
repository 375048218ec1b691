//! Small actors the tests share (the seed's test actors, in our own words).

use std::sync::{Arc, Mutex};

use lockstep::{
    Actor, ActorRef, Context, Handler, HandlerError, Instance, MessageEnvelope, OncePortHandle,
    OncePortRef, PortRef, SeqInfo, Undeliverable,
};
use serde::{Deserialize, Serialize};

/// Sends every number it gets to a port.
#[derive(Debug)]
pub struct Echo(pub PortRef<u64>);

impl Actor for Echo {}

impl Handler<u64> for Echo {
    async fn handle(&mut self, cx: &Context<Self>, message: u64) -> Result<(), HandlerError> {
        self.0.send(cx, message)?;
        Ok(())
    }
}

lockstep::export!(Echo: u64);

/// Ping-pong: passes the ball back and forth until its ttl runs out, then
/// reports `true`. Fails on purpose when the ttl equals `error_ttl`.
#[derive(Debug)]
pub struct PingPong {
    pub error_ttl: Option<u64>,
    pub returned: Option<PortRef<Undeliverable<MessageEnvelope>>>,
}

impl PingPong {
    /// A player that fails at `error_ttl` (if any) and keeps no returns.
    pub fn new(error_ttl: Option<u64>) -> Self {
        Self {
            error_ttl,
            returned: None,
        }
    }
}

/// The ball: remaining ttl, who to pass it to, where to report the end.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ball(pub u64, pub ActorRef<PingPong>, pub OncePortRef<bool>);

impl Actor for PingPong {
    async fn handle_undeliverable_message(
        &mut self,
        this: &Instance<Self>,
        undeliverable: Undeliverable<MessageEnvelope>,
    ) -> Result<(), HandlerError> {
        match &self.returned {
            Some(port) => {
                port.send(this, undeliverable)?;
                Ok(())
            }
            None => Err(HandlerError::msg(undeliverable)),
        }
    }
}

impl Handler<Ball> for PingPong {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Ball(ttl, peer, done): Ball,
    ) -> Result<(), HandlerError> {
        if Some(ttl) == self.error_ttl {
            lockstep::bail!("ping-pong failed on purpose at ttl {ttl}");
        }
        if ttl == 0 {
            done.send(cx, true)?;
        } else {
            let me: ActorRef<PingPong> = cx.bind();
            peer.send(cx, Ball(ttl - 1, me, done))?;
        }
        Ok(())
    }
}

lockstep::export!(PingPong: Ball);

/// Records whether `init` ran before its first message.
#[derive(Debug)]
pub struct InitFirst(pub bool);

impl Actor for InitFirst {
    async fn init(&mut self, _this: &Instance<Self>) -> Result<(), HandlerError> {
        self.0 = true;
        Ok(())
    }
}

impl Handler<OncePortHandle<bool>> for InitFirst {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        port: OncePortHandle<bool>,
    ) -> Result<(), HandlerError> {
        port.send(cx, self.0)?;
        Ok(())
    }
}

/// Shared values a `Multi` actor writes.
pub type MultiValues = Arc<Mutex<(u64, String)>>;

/// Handles `u64` and `String`, storing each; answers a sync port.
#[derive(Debug)]
pub struct Multi(pub MultiValues);

impl Actor for Multi {}

impl Handler<u64> for Multi {
    async fn handle(&mut self, _cx: &Context<Self>, message: u64) -> Result<(), HandlerError> {
        self.0.lock().unwrap().0 = message;
        Ok(())
    }
}

impl Handler<String> for Multi {
    async fn handle(&mut self, _cx: &Context<Self>, message: String) -> Result<(), HandlerError> {
        self.0.lock().unwrap().1 = message;
        Ok(())
    }
}

impl Handler<OncePortHandle<bool>> for Multi {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        port: OncePortHandle<bool>,
    ) -> Result<(), HandlerError> {
        port.send(cx, true)?;
        Ok(())
    }
}

lockstep::export!(Multi: u64, String);

/// Replies to each string with the string and the `SeqInfo` it arrived with.
#[derive(Debug)]
pub struct GetSeq(pub PortRef<(String, SeqInfo)>);

/// Asks `GetSeq` for a fresh callback port, then sends the string there.
#[derive(Debug, Serialize, Deserialize)]
pub struct Callback(pub PortRef<PortRef<String>>);

impl Actor for GetSeq {}

impl Handler<String> for GetSeq {
    async fn handle(&mut self, cx: &Context<Self>, message: String) -> Result<(), HandlerError> {
        let seq_info = cx.headers().seq_info();
        self.0.send(cx, (message, seq_info))?;
        Ok(())
    }
}

impl Handler<Callback> for GetSeq {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        Callback(reply): Callback,
    ) -> Result<(), HandlerError> {
        // Wait, inside this handler, for a message on a port of our own: it
        // must not queue behind the handler-port domain this message came from.
        let (port, mut receiver) = cx.open_port::<String>();
        reply.send(cx, port.bind())?;
        let message = receiver.recv().await?;
        // Reported with this Callback's own headers, like any string we handle.
        Handler::<String>::handle(self, cx, message).await
    }
}

lockstep::export!(GetSeq: String, Callback);

/// Sums what it gets and reports each running sum; checkpointable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summer {
    pub sum: u64,
    pub report: PortRef<u64>,
}

impl Actor for Summer {}

impl Handler<u64> for Summer {
    async fn handle(&mut self, cx: &Context<Self>, value: u64) -> Result<(), HandlerError> {
        self.sum += value;
        self.report.send(cx, self.sum)?;
        Ok(())
    }
}

/// Never finishes handling a `u64`: a wedged actor (S1, forced termination).
#[derive(Debug)]
pub struct Wedged;

impl Actor for Wedged {}

impl Handler<u64> for Wedged {
    async fn handle(&mut self, _cx: &Context<Self>, _value: u64) -> Result<(), HandlerError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

lockstep::export!(Wedged: u64);
