//! Logs that read like tokio logs, stamped with virtual time and the seed.
//!
//! Owns: [`SimTimer`], a `tracing-subscriber` timer that writes the current
//! world's virtual time and seed (or wall time outside a world), and
//! [`subscriber`], a ready-made formatter. The runtime puts every actor's
//! work in an `actor{id=…}` span, so each line also names its actor (and so
//! its proc).
//!
//! ```no_run
//! let _guard = tracing::subscriber::set_default(lockstep_sim::logs::subscriber(tracing::Level::INFO));
//! // run worlds; log lines look like
//! // sim+1.250000s seed=0x…2a  WARN actor{id=p0@sim:p0.ping[0]}: lockstep: message returned to client
//! ```

use std::fmt;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Writes `sim+<virtual seconds> seed=<seed>` inside a world.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTimer;

impl FormatTime for SimTimer {
    fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
        let stamp = crate::shared::with_current(|shared| {
            let now = shared.clock_readings.now();
            (now.since_epoch(), shared.config.seed)
        });
        match stamp {
            Some((now, seed)) => write!(
                writer,
                "sim+{:.6}s seed={}",
                now.as_secs_f64(),
                crate::seed::display(seed)
            ),
            None => writer.write_str("outside-world"),
        }
    }
}

/// A formatting subscriber at `level` that stamps lines with [`SimTimer`].
/// Spans are kept whatever the level, so a line always names its actor
/// (`actor{id=…}`), even with only warnings shown.
pub fn subscriber(level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
    subscriber_writing_to(level, std::io::stderr)
}

/// [`subscriber`], writing to `writer` (tests capture lines this way).
pub fn subscriber_writing_to<W>(
    level: tracing::Level,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    let keep =
        move |metadata: &tracing::Metadata<'_>| metadata.is_span() || *metadata.level() <= level;
    tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_timer(SimTimer)
            .with_writer(writer)
            .with_ansi(false)
            .with_filter(tracing_subscriber::filter::filter_fn(keep)),
    )
}
