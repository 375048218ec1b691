//! Log lines inside a world read like tokio logs, stamped with virtual time
//! and the seed, and name the actor they came from.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::{Actor, Context, Handler, HandlerError, Proc};
use lockstep_sim::{Config, World};

#[derive(Debug)]
struct Talker;
impl Actor for Talker {}
impl Handler<u64> for Talker {
    async fn handle(&mut self, _cx: &Context<Self>, n: u64) -> Result<(), HandlerError> {
        tracing::info!(n, "routine detail");
        tracing::warn!(n, "something to look at");
        Ok(())
    }
}
lockstep::export!(Talker: u64);

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Goal: with only warnings shown, a handler's warning still carries the
/// virtual time, the seed and its actor (so its proc); info lines are left out.
#[test]
fn a_warning_names_virtual_time_seed_and_actor_even_at_warn_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        lockstep_sim::logs::subscriber_writing_to(tracing::Level::WARN, move || writer.clone());
    tracing::subscriber::with_default(subscriber, || {
        World::new(Config::with_seed(0x2a))
            .run(async {
                lockstep::time::sleep(Duration::from_millis(1500)).await;
                let proc = Proc::local();
                let (client, _client) = proc.instance("client").unwrap();
                let talker = proc.spawn("talker", Talker).unwrap();
                talker.send(&client, 7).unwrap();
                talker.drain_and_stop("done").unwrap();
                talker.await;
            })
            .unwrap();
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|line| line.contains("something to look at"))
        .unwrap_or_else(|| panic!("no warning line in {text:?}"));
    assert!(
        line.starts_with("sim+1.500000s seed=0x000000000000002a"),
        "{line}"
    );
    assert!(line.contains("actor{id=local.talker[0]}"), "{line}");
    assert!(!text.contains("routine detail"), "{text}");
}
