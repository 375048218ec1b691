//! Helpers the built-in scenarios share: deadlines on virtual time, the
//! recognition of returned replies, and how long a message can be in flight.

use std::future::IntoFuture;
use std::time::Duration;

use lockstep::time::Instant;
use lockstep::{MessageEnvelope, Undeliverable, UndeliverableReason};

use crate::fault::FaultMix;
use crate::net::{Latency, NetworkTransport};

/// Await `future` until `deadline` (virtual time); on expiry, say what was
/// being waited for.
pub(crate) async fn until<F: IntoFuture>(
    deadline: Instant,
    what: impl std::fmt::Display,
    future: F,
) -> Result<F::Output, String> {
    let left = deadline
        .duration_since(lockstep::time::now())
        .max(Duration::from_millis(1));
    lockstep::time::timeout(left, future.into_future())
        .await
        .map_err(|_| format!("timed out waiting for {what}"))
}

/// Whether `returned` is a reply to a port (not a handler) that no longer
/// takes it: a once port that already took its one message, a port whose
/// receiver stopped waiting, or an asker that is gone. That is what a
/// network-duplicated copy of a reply (or of the request that caused it)
/// looks like when it comes back: replies are `Direct`, so no reorder buffer
/// drops the copy.
pub(crate) fn is_returned_reply(returned: &Undeliverable<MessageEnvelope>) -> bool {
    matches!(
        returned.reason,
        UndeliverableReason::PortUnbound { .. }
            | UndeliverableReason::PortClosed { .. }
            | UndeliverableReason::ActorNotFound { .. }
            | UndeliverableReason::ActorTerminated { .. }
    ) && !returned.message.dest().is_handler_port()
}

/// The longest a message can be under way in this mix: latency, every
/// retransmission, and a partition holding it.
pub(crate) fn flight_time_max(mix: &FaultMix) -> Duration {
    let latency = match mix.network.latency {
        Latency::Fixed(latency) => latency,
        Latency::Uniform { max, .. } | Latency::Exponential { max, .. } => max,
    };
    let retransmits = mix.network.retransmit_delay * 8;
    let partition = match mix.partition_every {
        Some(_) => mix.partition_for_max,
        None => Duration::ZERO,
    };
    latency + retransmits + partition + Duration::from_secs(1)
}

/// How long to keep a crashed proc down before restarting it so that every
/// message addressed to the old incarnation comes back undeliverable
/// instead of reaching the new one: its flight time, or — over the real
/// session protocol (`NetworkTransport::Session`), where a sender's channel
/// holds a message to a crashed proc until its delivery timeout returns it
/// (LINK-4, CH-11) — the delivery timeout.
pub(crate) fn restart_quiet_time(mix: &FaultMix) -> Duration {
    match mix.network.transport {
        NetworkTransport::Modelled => flight_time_max(mix),
        NetworkTransport::Session => {
            flight_time_max(mix).max(mix.network.delivery_timeout + Duration::from_secs(1))
        }
    }
}
