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

/// Waits, inside its handler, for a reply that never comes.
#[derive(Debug)]
struct Wedged(Option<tokio::sync::oneshot::Receiver<()>>);
impl Actor for Wedged {}
impl Handler<u64> for Wedged {
    async fn handle(&mut self, _cx: &Context<Self>, _n: u64) -> Result<(), HandlerError> {
        if let Some(reply) = self.0.take() {
            let _ = reply.await;
        }
        Ok(())
    }
}
lockstep::export!(Wedged: u64);

/// Goal: the deadlock report of any world (a plain `World::run`, as `check`
/// bodies run) names each stuck actor of the procs made in it and what it
/// waits for: one wedged in a handler with work queued behind it, one
/// waiting behind a sequence gap; idle actors are left out.
#[test]
fn a_deadlocked_world_names_its_stuck_actors() {
    let failure = lockstep_sim::World::new(lockstep_sim::Config::with_seed(4))
        .run(async {
            let proc = lockstep::Proc::local();
            let (_never, reply) = tokio::sync::oneshot::channel();
            let wedged = proc.spawn("wedged", Wedged(Some(reply))).unwrap();
            let sink: ActorRef<Sink> = proc.spawn("sink", Sink).unwrap().bind();
            let _idle = proc.spawn("idle", Sink).unwrap();
            let relay = lockstep::Proc::configured(
                ProcId::local("relay").unwrap(),
                ReorderingSender::by_arrival(proc.clone(), 3, vec![1, 2]),
            );
            let (client, _client) = relay.instance("client").unwrap();
            for n in 0..3 {
                wedged.send(&client, n).unwrap();
                sink.send(&client, n).unwrap();
            }
            let _keep = _never;
            std::future::pending::<()>().await;
        })
        .unwrap_err();
    let lockstep_sim::Failure::Deadlock { actors, .. } = &failure else {
        panic!("expected a deadlock, got {failure}");
    };
    // In actor-id order.
    assert_eq!(actors.len(), 2, "{failure}");
    assert!(
        actors[0].starts_with("local.sink[0] is idle, waits for seq 1 of session"),
        "{failure}"
    );
    assert!(actors[0].ends_with("(2 held behind it)"), "{failure}");
    assert_eq!(actors[1], "local.wedged[0] is processing, 2 queued");
    assert!(
        failure.to_string().contains("stuck actors: local.sink[0]"),
        "{failure}"
    );
}
