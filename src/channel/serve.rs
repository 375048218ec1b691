//! Serving a proc on an address: accept links, run acceptor sessions, post
//! the envelopes they carry into the proc.
//!
//! Owns: the accept loop, one task per link (the async shell around
//! `ReceiverSession` and `AckSchedule`), the table of known sending sessions
//! (bounded by `sessions_max`), the server's incarnation, and the record of
//! links that failed.
//! Does not own: delivery inside the proc (`Proc::post`, which also routes
//! undeliverable returns back to remote senders through its forwarder).
//!
//! CH-9: a link that sends garbage, a truncated or oversized frame, a
//! malformed session message or an undecodable envelope is closed with a
//! typed error, recorded in [`Server::failures`] and logged; the accept loop
//! and every other link carry on. A `Data` frame whose payload is not an
//! envelope at all is never acknowledged, so its sender's delivery timeout
//! returns it (UD-1).
//! CH-13: an envelope this proc cannot take whole (larger than its
//! `message_bytes_max`, or malformed past its addresses) goes back to its
//! sender as undeliverable (`TooLarge` / `Malformed`), its session seq is
//! consumed and its slot in the destination's ordering stage is filled
//! (`Proc::skip_refused`): the link stays up and the messages behind it —
//! to any port, the same one included — are delivered in order.
//! CH-12: a served proc takes envelopes for itself only; one addressed to
//! another proc goes back to its sender as `Misdirected`, never relayed.
//! CH-4: within a session, envelopes are posted in seq order, at most once,
//! even when two links of one session overlap (the session's state is locked
//! around the post).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::link::{Link, Listener};
use super::session::{AckSchedule, DataVerdict, ReceiverSession, SessionError};
use super::wire::{SessionMessage, decode_envelope_view, envelope_addresses};
use super::{ChannelAddr, ChannelConfig, ChannelError};
use crate::codec::CodecError;
use crate::codec::IdCache;
use crate::id::{ActorId, PortId};
use crate::mailbox::{Headers, MessageEnvelope, UndeliverableReason};
use crate::proc::Proc;
use crate::rt::random::{self, RandomStream};
use crate::rt::time::{self, Instant};
use crate::rt::{self as runtime, JoinHandle};
use crate::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sync::Mutex;

/// A link the server closed because of an error (CH-9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFailure {
    /// Who was on the other end.
    pub peer: ChannelAddr,
    /// What went wrong.
    pub error: ChannelError,
}

/// What a server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Links accepted.
    pub links_accepted: u64,
    /// Links closed because of an error (CH-9).
    pub links_failed: u64,
    /// Envelopes posted into the proc.
    pub messages_delivered: u64,
    /// Replayed frames dropped (CH-4).
    pub replays_dropped: u64,
    /// Seqs skipped because their sender abandoned them (CH-11).
    pub seqs_skipped: u64,
    /// Envelopes this proc did not take and returned to their senders:
    /// misdirected (CH-12), too large for it or partly malformed (CH-13).
    pub envelopes_refused: u64,
}

#[derive(Default)]
struct Counters {
    links_accepted: AtomicU64,
    links_failed: AtomicU64,
    messages_delivered: AtomicU64,
    replays_dropped: AtomicU64,
    seqs_skipped: AtomicU64,
    envelopes_refused: AtomicU64,
}

type SharedSession = Arc<Mutex<ReceiverSession>>;

/// The sending sessions a server remembers, at most `sessions_max`.
///
/// CH-14: beyond the limit the server forgets the session greeted least
/// recently that no link is using; only when every one is in use does it
/// forget the least recently greeted. A forgotten session's sender sees
/// CH-8 at its next `Hello` (what it wrote unacknowledged comes back as
/// lost) — so the sessions forgotten are the ones least likely to greet
/// again, never one whose link is carrying its traffic.
#[derive(Default)]
struct SessionTable {
    sessions: BTreeMap<u64, SharedSession>,
    /// Session ids, least recently greeted first.
    order: VecDeque<u64>,
}

impl SessionTable {
    /// The known session `session_id`, now the most recently greeted.
    fn greet(&mut self, session_id: u64) -> Option<SharedSession> {
        let session = self.sessions.get(&session_id)?.clone();
        if let Some(position) = self.order.iter().position(|id| *id == session_id) {
            self.order.remove(position);
        }
        self.order.push_back(session_id);
        Some(session)
    }

    /// Remember `session`, forgetting one first if `sessions_max` are
    /// already remembered (CH-14).
    fn insert(&mut self, session_id: u64, session: SharedSession, sessions_max: usize) {
        if self.order.len() >= sessions_max.max(1) {
            // Only the table holds a session no link is using.
            let idle = self.order.iter().position(|id| {
                self.sessions
                    .get(id)
                    .is_some_and(|known| Arc::strong_count(known) == 1)
            });
            if let Some(forgotten) = self.order.remove(idle.unwrap_or(0)) {
                self.sessions.remove(&forgotten);
            }
        }
        self.order.push_back(session_id);
        self.sessions.insert(session_id, session);
    }
}

struct ServerState {
    proc: Proc,
    config: ChannelConfig,
    incarnation: u64,
    sessions: Mutex<SessionTable>,
    failures: Mutex<VecDeque<LinkFailure>>,
    counters: Counters,
}

/// A proc serving on an address. Dropping it (or [`Server::shutdown`]) stops
/// accepting and closes every link.
pub struct Server {
    state: Arc<ServerState>,
    addr: ChannelAddr,
    shutdown: Shutdown,
    accept_task: JoinHandle<()>,
}

/// Serve `proc` on `listener`: envelopes arriving on accepted links are
/// posted into the proc. Obtain the listener from a [`super::Transport`]
/// first, so the proc's id can carry the address actually bound.
pub fn serve(proc: &Proc, listener: Box<dyn Listener>, config: ChannelConfig) -> Server {
    let addr = listener.local_addr().clone();
    let state = Arc::new(ServerState {
        proc: proc.clone(),
        config,
        incarnation: random::next_u64(RandomStream::SESSION),
        sessions: Mutex::new(SessionTable::default()),
        failures: Mutex::new(VecDeque::new()),
        counters: Counters::default(),
    });
    let shutdown = Shutdown::default();
    let stopped = shutdown.clone();
    // The server and the links it accepts (spawned by it) are its proc's.
    let accept_task = runtime::spawn_for(
        proc.proc_id().name(),
        &format!("serve:{addr}"),
        accept_links(state.clone(), listener, stopped),
    );
    Server {
        state,
        addr,
        shutdown,
        accept_task,
    }
}

impl Server {
    /// The address served (with the real port when bound to port 0).
    pub fn local_addr(&self) -> &ChannelAddr {
        &self.addr
    }

    /// This server's incarnation (random per start; CH-8).
    pub fn incarnation(&self) -> u64 {
        self.state.incarnation
    }

    /// The most recent link failures (at most `failures_kept_max`), oldest first.
    pub fn failures(&self) -> Vec<LinkFailure> {
        self.state.failures.lock().iter().cloned().collect()
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServeStats {
        let counters = &self.state.counters;
        ServeStats {
            links_accepted: counters.links_accepted.load(Ordering::Relaxed),
            links_failed: counters.links_failed.load(Ordering::Relaxed),
            messages_delivered: counters.messages_delivered.load(Ordering::Relaxed),
            replays_dropped: counters.replays_dropped.load(Ordering::Relaxed),
            seqs_skipped: counters.seqs_skipped.load(Ordering::Relaxed),
            envelopes_refused: counters.envelopes_refused.load(Ordering::Relaxed),
        }
    }

    /// Stop accepting and close every link.
    pub fn shutdown(&self) {
        self.shutdown.stop();
        self.accept_task.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A one-way "stop" flag with FIFO wake-ups. (Not a `tokio::sync::watch`:
/// its waiters wake in an order drawn from tokio's thread-local RNG, which
/// would make simulated runs of one seed differ — see LC-5.)
#[derive(Clone, Default)]
struct Shutdown(Arc<ShutdownState>);

#[derive(Default)]
struct ShutdownState {
    stopped: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Shutdown {
    fn stop(&self) {
        self.0.stopped.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }

    async fn wait(&self) {
        loop {
            let notified = self.0.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a stop in between is not missed.
            notified.as_mut().enable();
            if self.0.stopped.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

async fn accept_links(state: Arc<ServerState>, mut listener: Box<dyn Listener>, stopped: Shutdown) {
    let addr = listener.local_addr().clone();
    loop {
        match listener.accept().await {
            Ok(link) => {
                state
                    .counters
                    .links_accepted
                    .fetch_add(1, Ordering::Relaxed);
                let name = format!("serve-link:{addr}<-{}", link.peer);
                let task = run_link(state.clone(), link, stopped.clone());
                runtime::spawn_for(state.proc.proc_id().name(), &name, task);
            }
            Err(error) => {
                // E.g. out of file descriptors: record, pause, keep serving.
                state.record_failure(addr.clone(), error);
                time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

impl ServerState {
    fn record_failure(&self, peer: ChannelAddr, error: ChannelError) {
        tracing::warn!(%peer, %error, proc = %self.proc.proc_id(), "channel link closed on error");
        self.counters.links_failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = self.failures.lock();
        if failures.len() >= self.config.failures_kept_max.max(1) {
            failures.pop_front();
        }
        failures.push_back(LinkFailure { peer, error });
    }

    /// The session a `Hello` names, and the `acked`/`known` of the `Welcome`.
    fn hello(
        &self,
        session_id: u64,
        first_unacked: u64,
        first_unwritten: u64,
    ) -> Result<(SharedSession, bool, u64), SessionError> {
        let mut table = self.sessions.lock();
        if let Some(session) = table.greet(session_id) {
            drop(table);
            let mut locked = session.lock();
            let skipped_before = locked.counters().seqs_skipped;
            let acked = locked.on_hello(first_unacked, first_unwritten)?;
            let skipped = locked.counters().seqs_skipped - skipped_before;
            drop(locked);
            self.counters
                .seqs_skipped
                .fetch_add(skipped, Ordering::Relaxed);
            return Ok((session, true, acked));
        }
        let created = ReceiverSession::from_hello(first_unacked, first_unwritten)?;
        let acked = created.last();
        let session = Arc::new(Mutex::new(created));
        table.insert(session_id, session.clone(), self.config.sessions_max);
        Ok((session, false, acked))
    }
}

/// One accepted link: its state between frames.
struct LinkTask {
    state: Arc<ServerState>,
    link: Link,
    session: Option<SharedSession>,
    schedule: Option<AckSchedule>,
    /// The senders and destinations this link keeps seeing.
    ids: IdCache,
}

async fn run_link(state: Arc<ServerState>, link: Link, stopped: Shutdown) {
    let peer = link.peer.clone();
    let mut task = LinkTask {
        state: state.clone(),
        link,
        session: None,
        schedule: None,
        ids: IdCache::new(),
    };
    let result = task.serve(&stopped).await;
    // CH-5: acks are flushed on close, even after an error (best effort).
    let _ = task.flush_ack().await;
    task.link.tx.close().await;
    if let Err(error) = result {
        state.record_failure(peer, error);
    }
}

impl LinkTask {
    async fn send(&mut self, message: SessionMessage<'_>) -> Result<(), ChannelError> {
        let bytes = message.encode();
        let timeout_ms = self.state.config.write_timeout_ms;
        time::timeout(
            Duration::from_millis(timeout_ms),
            self.link.tx.send_batch(&[&bytes]),
        )
        .await
        .map_err(|_| ChannelError::TimedOut {
            operation: "write to",
            address: self.link.peer.to_string(),
            timeout_ms,
        })?
    }

    async fn flush_ack(&mut self) -> Result<(), ChannelError> {
        let (Some(session), Some(schedule)) = (&self.session, &mut self.schedule) else {
            return Ok(());
        };
        let last = session.lock().last();
        match schedule.on_close(last) {
            Some(acked) => self.send(SessionMessage::Ack { acked }).await,
            None => Ok(()),
        }
    }

    async fn serve(&mut self, stopped: &Shutdown) -> Result<(), ChannelError> {
        loop {
            let deadline = self.schedule.as_ref().and_then(AckSchedule::deadline);
            let frame = tokio::select! {
                biased;
                _ = stopped.wait() => return Ok(()),
                frame = self.link.rx.recv() => frame?,
                () = sleep_until_or_forever(deadline) => {
                    self.ack_if_due(time::now()).await?;
                    continue;
                }
            };
            let Some(frame) = frame else {
                return Ok(());
            };
            // The frames already buffered behind this one (at most a
            // batch) are handled without going back to `select!`, with one
            // clock read for the burst. A `Data` frame awaits nothing, so no
            // time passes between them; a `Hello` or `Close` among them may
            // await a send, and the frames after it then date their ack
            // deadline from a little earlier: an ack sent a little early,
            // never late.
            let now = time::now();
            self.on_frame(&frame, now).await?;
            for _ in 1..self.state.config.batch_frames_max {
                match self.link.rx.try_recv_buffered()? {
                    Some(frame) => self.on_frame(&frame, now).await?,
                    None => break,
                }
            }
            self.ack_if_due(time::now()).await?;
        }
    }

    async fn ack_if_due(&mut self, now: Instant) -> Result<(), ChannelError> {
        let (Some(session), Some(schedule)) = (&self.session, &mut self.schedule) else {
            return Ok(());
        };
        let last = session.lock().last();
        match schedule.due(last, now) {
            Some(acked) => self.send(SessionMessage::Ack { acked }).await,
            None => Ok(()),
        }
    }

    async fn on_frame(&mut self, frame: &[u8], now: Instant) -> Result<(), ChannelError> {
        match SessionMessage::decode(frame)? {
            SessionMessage::Hello {
                session_id,
                first_unacked,
                first_unwritten,
            } => {
                let (session, known, acked) =
                    self.state
                        .hello(session_id, first_unacked, first_unwritten)?;
                self.session = Some(session);
                self.schedule = Some(AckSchedule::new(acked, &self.state.config));
                let incarnation = self.state.incarnation;
                self.send(SessionMessage::Welcome {
                    incarnation,
                    known,
                    acked,
                })
                .await
            }
            SessionMessage::Data { seq, payload } => self.on_data(seq, payload, now),
            SessionMessage::Close => self.flush_ack().await,
            SessionMessage::Welcome { .. } | SessionMessage::Ack { .. } => {
                Err(ChannelError::Session(SessionError::Unexpected {
                    message: "acceptor-side message",
                    context: "from a dialer",
                }))
            }
        }
    }

    fn on_data(&mut self, seq: u64, payload: &[u8], now: Instant) -> Result<(), ChannelError> {
        let (Some(session), Some(schedule)) = (&self.session, &mut self.schedule) else {
            return Err(ChannelError::Session(SessionError::Unexpected {
                message: "Data",
                context: "before Hello",
            }));
        };
        let state = &self.state;
        let mut session = session.lock();
        if seq == session.last() + 1 {
            let limit = state.config.message_bytes_max;
            let envelope = match decode_envelope_view(payload, limit, &mut self.ids) {
                Ok(envelope) => envelope,
                Err(error) => {
                    // CH-9: not an envelope at all: never acknowledged, the
                    // link closes (its sender's timeout returns it).
                    let Some(addresses) = envelope_addresses(payload, limit) else {
                        return Err(ChannelError::Envelope(error));
                    };
                    // CH-13: an envelope this proc cannot take goes back to
                    // its sender; the seq is consumed so the session goes on.
                    let verdict = session.on_data(seq)?;
                    debug_assert_eq!(verdict, DataVerdict::Deliver);
                    state
                        .counters
                        .envelopes_refused
                        .fetch_add(1, Ordering::Relaxed);
                    refuse(&state.proc, addresses, error);
                    schedule.on_frame(false, now);
                    return Ok(());
                }
            };
            let verdict = session.on_data(seq)?;
            debug_assert_eq!(verdict, DataVerdict::Deliver);
            let served_by = state.proc.proc_id();
            let addressed_to = envelope.dest_actor().proc_id();
            if addressed_to != served_by {
                // CH-12: never relayed (the router would send it on by its
                // address, possibly straight back here); its sender hears why.
                let reason = UndeliverableReason::Misdirected {
                    proc_id: addressed_to.clone(),
                    served_by: served_by.clone(),
                };
                state
                    .proc
                    .return_undeliverable(envelope.to_envelope(), reason);
                state
                    .counters
                    .envelopes_refused
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                // CH-4: posted under the session lock, so in order across
                // links; delivered from the frame itself (no owned copy).
                state.proc.post_view(&envelope);
                state
                    .counters
                    .messages_delivered
                    .fetch_add(1, Ordering::Relaxed);
            }
            schedule.on_frame(false, now);
        } else {
            let before = session.counters().replays_dropped;
            session.on_data(seq)?;
            let dropped = session.counters().replays_dropped - before;
            state
                .counters
                .replays_dropped
                .fetch_add(dropped, Ordering::Relaxed);
            schedule.on_frame(true, now);
        }
        Ok(())
    }
}

/// Return an envelope that did not decode whole to its sender (CH-13),
/// with what could be read of it and why it was refused.
fn refuse(
    proc: &Proc,
    (sender, dest, headers, type_name): (ActorId, PortId, Headers, Option<String>),
    error: CodecError,
) {
    if sender.proc_id() == proc.proc_id() {
        // Over a link, from this very proc? A spoofed sender: returning it
        // would fail an actor here, and filling its slot could drop a real
        // message. Refused, nothing else.
        tracing::warn!(%sender, %dest, %error, "refused an undecodable envelope claiming a local sender");
        return;
    }
    tracing::warn!(%sender, %dest, %error, "refused an envelope this proc cannot take");
    // Its seq must not become a gap the messages behind it wait on forever.
    proc.skip_refused(&dest, headers.seq_info());
    let envelope = MessageEnvelope::unreadable(sender, dest, headers, type_name);
    let reason = UndeliverableReason::from_codec(error, envelope.type_name());
    proc.return_undeliverable(envelope, reason);
}

async fn sleep_until_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SharedSession {
        Arc::new(Mutex::new(ReceiverSession::from_hello(1, 1).unwrap()))
    }

    /// Goal: CH-14 — the table forgets the least recently greeted session
    /// no link is using; a greeting makes a session the last to go; only
    /// with every session in use does the least recently greeted go.
    #[test]
    fn ch_14_the_table_forgets_idle_sessions_least_recently_greeted_first() {
        let mut table = SessionTable::default();
        let in_use = session();
        table.insert(1, in_use.clone(), 3);
        table.insert(2, session(), 3);
        table.insert(3, session(), 3);
        assert!(table.greet(2).is_some(), "2 is known; now greeted last");
        table.insert(4, session(), 3);
        let known = |table: &SessionTable| table.sessions.keys().copied().collect::<Vec<_>>();
        assert_eq!(
            known(&table),
            [1, 2, 4],
            "3: idle and greeted least recently"
        );
        table.insert(5, session(), 3);
        assert_eq!(known(&table), [1, 4, 5], "2 went next; 1 is in use");
        assert!(table.greet(3).is_none(), "a forgotten session is unknown");
        // Every session in use: the least recently greeted goes.
        let (four, five) = (table.greet(4).unwrap(), table.greet(5).unwrap());
        table.insert(6, session(), 3);
        assert_eq!(known(&table), [4, 5, 6]);
        drop((in_use, four, five));
    }
}
