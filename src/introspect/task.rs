//! The introspect task: one per actor (and per introspectable client), serving
//! queries from the actor's cell — never from its work queue (S1) — and
//! storing a terminated snapshot when the actor ends (CI-2).

use super::{IntrospectMessage, IntrospectResult, Reference, describe};
use crate::actor::ActorStatus;
use crate::context::{Outbox, SendContext};
use crate::id::handler_port_index;
use crate::mailbox::PortReceiver;
use crate::proc::{InstanceCell, Proc, new_outbox};
use crate::rt;

/// Sends answers with the actor's identity (answers go to once ports: `Direct`).
struct Answering {
    outbox: Outbox,
}

impl SendContext for Answering {
    fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

/// Bind `cell`'s introspect port and start serving it.
pub(crate) fn start(cell: &InstanceCell, proc: &Proc) {
    let index = handler_port_index::<IntrospectMessage>();
    let (_port, queries) = cell
        .state
        .mailbox
        .open_control_port::<IntrospectMessage>(index);
    let name = format!("introspect:{}", cell.actor_id());
    let task = serve(cell.clone(), proc.clone(), queries);
    drop(rt::spawn_for(proc.proc_id().name(), &name, task));
}

async fn serve(cell: InstanceCell, proc: Proc, mut queries: PortReceiver<IntrospectMessage>) {
    let answering = Answering {
        outbox: new_outbox(cell.actor_id().clone(), proc.clone()),
    };
    let mut status = cell.status_watch();
    loop {
        let query = tokio::select! {
            biased;
            Ok(query) = queries.recv() => query,
            _ = status.wait_terminal() => break,
        };
        if crate::rt::mutation::enabled(crate::rt::mutation::INTROSPECT_VIA_WORK_QUEUE) {
            // The planted bug: wait for the actor's current work, as if the
            // query sat in its work queue (breaks S1).
            let mut busy = cell.status_watch();
            let _ = busy
                .wait_for(|status| !matches!(status, ActorStatus::Processing(..)))
                .await
                .map(|_| ());
        }
        answer(&cell, &answering, query);
    }
    // CI-2: keep what the actor looked like at the end.
    proc.keep_terminated_snapshot(describe(&cell, &cell.status()));
    // Queries that raced with termination still get an answer.
    while let Some(query) = queries.try_recv() {
        answer(&cell, &answering, query);
    }
}

fn answer(cell: &InstanceCell, answering: &Answering, query: IntrospectMessage) {
    let (result, reply) = match query {
        IntrospectMessage::Query { reply, .. } => (super::live_actor_payload(cell), reply),
        IntrospectMessage::QueryChild { child_ref, reply } => {
            let result = cell.query_child(&child_ref).unwrap_or_else(|| {
                IntrospectResult::error(
                    "not_found",
                    &format!("{} does not know {child_ref}", cell.actor_id()),
                )
            });
            (result, reply)
        }
    };
    if let Err(error) = reply.send(answering, result) {
        tracing::warn!(actor = %cell.actor_id(), %error, "introspection answer could not be sent");
    }
}

/// Registers a callback answering `QueryChild`.
pub(crate) type QueryChildHandler = Box<dyn Fn(&Reference) -> IntrospectResult + Send + Sync>;
