//! CLOCK-3: each proc can run on a skewed wall clock; actors read it through
//! `lockstep::time::system_now()`, while monotonic time stays shared.

use std::time::Duration;

use lockstep::{Actor, Context, Handler, HandlerError, OncePortHandle, ProcConfig};
use lockstep_sim::net::{Network, NetworkConfig};
use lockstep_sim::{Config, World};

#[derive(Debug)]
struct Clock;
impl Actor for Clock {}
impl Handler<OncePortHandle<(std::time::SystemTime, Duration)>> for Clock {
    async fn handle(
        &mut self,
        cx: &Context<Self>,
        reply: OncePortHandle<(std::time::SystemTime, Duration)>,
    ) -> Result<(), HandlerError> {
        let now = (
            lockstep::time::system_now(),
            lockstep::time::now().since_epoch(),
        );
        reply.send(cx, now)?;
        Ok(())
    }
}

/// Goal: an actor on a proc skewed 750 ms ahead reads a wall clock 750 ms
/// ahead of an actor on an unskewed proc at the same virtual instant, and
/// both read the same monotonic time.
#[test]
fn clock_3_a_skewed_proc_reads_a_skewed_wall_clock() {
    let mut world = World::new(Config::with_seed(5));
    let (fast, plain) = world
        .run(async {
            let network = Network::new(NetworkConfig::default(), ProcConfig::default());
            network.set_clock_skew("fast", Duration::from_millis(750), true);
            let fast = network.proc("fast").spawn("clock", Clock).unwrap();
            let plain = network.proc("plain").spawn("clock", Clock).unwrap();
            let (client, _client) = network.proc("plain").instance("client").unwrap();
            let ask = |handle: &lockstep::ActorHandle<Clock>| {
                let (reply, answer) = client.open_once_port();
                handle.send(&client, reply).unwrap();
                answer.recv()
            };
            let (fast_answer, plain_answer) = (ask(&fast), ask(&plain));
            (fast_answer.await.unwrap(), plain_answer.await.unwrap())
        })
        .unwrap();
    assert_eq!(fast.1, plain.1, "monotonic time is not skewed");
    let ahead = fast.0.duration_since(plain.0).expect("fast is ahead");
    assert_eq!(ahead, Duration::from_millis(750));
}
