//! A run that cannot finish names the stuck actors and what they wait for.

use lockstep::mailbox::ReorderingSender;
use lockstep::{Actor, ActorRef, Context, Handler, HandlerError, ProcId};
use lockstep_sim::fault::Profile;
use lockstep_sim::scenario::{RunOptions, Scenario, ScenarioContext, ScenarioFuture, run_with};

#[derive(Debug)]
struct Sink;
impl Actor for Sink {}
impl Handler<u64> for Sink {
    async fn handle(&mut self, _cx: &Context<Self>, _n: u64) -> Result<(), HandlerError> {
        Ok(())
    }
}
lockstep::export!(Sink: u64);

/// Seq 1 of the only session is never relayed; the scenario waits forever.
struct Gap;

impl Scenario for Gap {
    fn name(&self) -> &'static str {
        "gap"
    }
    fn summary(&self) -> &'static str {
        "a session whose first message never arrives"
    }
    fn run(&self, context: ScenarioContext) -> ScenarioFuture {
        Box::pin(async move {
            let sink_proc = context.network.proc("sink");
            let sink: ActorRef<Sink> = sink_proc.spawn("sink", Sink).unwrap().bind();
            let relay = lockstep::Proc::configured(
                ProcId::local("relay").unwrap(),
                ReorderingSender::by_arrival(sink_proc.clone(), 3, vec![1, 2]),
            );
            let (client, _client) = relay.instance("client").unwrap();
            for n in 0..3 {
                sink.send(&client, n).unwrap();
            }
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// Goal: the failure names the actor, the session and the seq it waits for.
#[test]
fn a_stuck_run_names_the_actor_and_the_seq_it_waits_for() {
    let mut options = RunOptions::new(Profile::Calm);
    options.probe_introspection = false;
    let report = run_with(&Gap, 1, &options);
    let verdict = report.verdict.to_string();
    assert!(
        verdict.contains("stuck actors: sink@sim:sink.sink[0]"),
        "{verdict}"
    );
    assert!(verdict.contains("waits for seq 1 of session"), "{verdict}");
    assert!(verdict.contains("(2 held behind it)"), "{verdict}");
}
