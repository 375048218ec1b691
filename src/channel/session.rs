//! The session protocol, sans-IO: numbering, acks, resends, dedup, timeouts.
//!
//! Owns: [`SenderSession`] (one per destination address at the sender),
//! [`ReceiverSession`] (one per sending session at the acceptor),
//! [`AckSchedule`] (when an acceptor acknowledges, per link) and [`backoff`].
//! Every method takes `now` (and any random draw) as an argument and returns
//! what to do; none awaits. The async shells (`router`, `serve`) do the I/O.
//! Does not own: links, framing, envelopes or returning them (the shells map a
//! [`ReturnCause`] to an `UndeliverableReason`).
//!
//! Handshake: on every new link the dialer sends `Hello { session_id,
//! first_unacked, first_unwritten }`; the acceptor answers `Welcome {
//! incarnation, known, acked }`. Data flows only after a `Welcome`.
//!
//! - CH-4: a session numbers its frames 1, 2, 3, ...; the acceptor delivers a
//!   seq only if it is the next one (at most once, in order), drops a replay
//!   (seq already delivered) and acknowledges again, and treats a gap as a
//!   protocol error that closes the link.
//! - CH-5: acks are cumulative, sent after `ack_interval_frames` delivered
//!   frames or `ack_interval_ms` after the oldest unacknowledged one, whichever
//!   comes first, on a replay, and when the link closes.
//! - CH-6: after a `Welcome` the dialer (re)writes every unacknowledged frame
//!   in seq order; frames at or below the ack are released and never resent.
//! - CH-7: every message a sender session accepts ends exactly one way:
//!   released by an ack, or handed back as a [`Returned`] with its cause.
//! - CH-8: a `Welcome { known: false }` means the acceptor lost the session
//!   (it restarted): frames written to it and unacknowledged are returned with
//!   [`ReturnCause::SessionLost`], never resent to the new incarnation, so no
//!   message is delivered twice across a restart.
//! - CH-10: reconnects back off exponentially from `backoff_initial_ms` to
//!   `backoff_max_ms`, with jitter drawn by the caller from `rt`'s jitter stream.
//! - CH-11: a message not acknowledged within `delivery_timeout_ms` of being
//!   accepted is returned ([`ReturnCause::DeliveryTimeout`], or
//!   [`ReturnCause::Unreachable`] while no link is up). Abandoning frames
//!   forces a new handshake, whose `first_unacked` tells the acceptor to skip
//!   them, so no gap is ever seen on a live link.

use std::collections::VecDeque;
use std::time::Duration;

use super::ChannelConfig;
use super::wire::{DataFrame, SessionMessage, data_frame_payload};
use crate::rt::time::Instant;

#[cfg(test)]
mod tests;

/// A violation of the session protocol by the peer; the link closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// An ack for a seq that was never written.
    #[error("ack {acked} beyond the highest seq written ({written})")]
    AckBeyondWritten {
        /// The ack received.
        acked: u64,
        /// The highest seq written.
        written: u64,
    },
    /// A data frame that is neither the next seq nor a replay.
    #[error("gap: expected seq {expected}, got {found}")]
    Gap {
        /// The next seq the acceptor can deliver.
        expected: u64,
        /// The seq that arrived.
        found: u64,
    },
    /// A handshake whose numbers contradict each other or the session state.
    #[error("inconsistent handshake: {detail}")]
    Handshake {
        /// What was wrong.
        detail: String,
    },
    /// A message that is not valid in the link's current state.
    #[error("unexpected {message} {context}")]
    Unexpected {
        /// The message kind.
        message: &'static str,
        /// Where it arrived.
        context: &'static str,
    },
}

/// Why a sender session hands a message back (the shell turns it into an
/// `UndeliverableReason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnCause {
    /// Not acknowledged within the delivery timeout (CH-11); if it was
    /// written it may still have been delivered.
    DeliveryTimeout {
        /// The timeout.
        timeout_ms: u64,
    },
    /// Never written: no link could be established within the delivery
    /// timeout (CH-11). Certainly not delivered.
    Unreachable {
        /// The last dial or link error.
        last_error: String,
        /// The timeout.
        timeout_ms: u64,
    },
    /// The acceptor lost the session (restarted) before acknowledging (CH-8).
    SessionLost {
        /// The acceptor's new incarnation.
        incarnation: u64,
    },
    /// The sender closed with the message still unacknowledged.
    Closed,
    /// The session already holds `queued_messages_max` unacknowledged messages.
    QueueFull {
        /// The limit.
        queued_messages_max: usize,
    },
}

/// A message handed back by a sender session.
#[derive(Debug)]
#[non_exhaustive]
pub struct Returned<T> {
    /// Its seq, if it got one.
    pub seq: Option<u64>,
    /// What the caller pushed with the frame (the router: where to return
    /// the message).
    pub item: T,
    /// What it was sent as: the `Data` frame's payload (so the session need
    /// not keep anything else of a message to hand it back).
    pub payload: Vec<u8>,
    /// Why.
    pub cause: ReturnCause,
}

/// The state of the sender's current link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No link; dial again at `retry_at`.
    Down {
        /// When to dial next.
        retry_at: Instant,
    },
    /// `Hello` sent, waiting for `Welcome`.
    Handshaking,
    /// Data may flow.
    Up,
}

/// Counts of what a sender session did (read by tests, and published by
/// the router as its `ChannelStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderCounters {
    /// Messages the peer acknowledged, by an `Ack` or by a reconnect's
    /// `Welcome` (CH-5, CH-6).
    pub acked: u64,
    /// Frames due to be written again after a reconnect (CH-6), counted
    /// when its `Welcome` arrives (an ack may still release some first).
    pub frames_resent: u64,
    /// Welcomes received after the first: reconnects that succeeded, and
    /// re-handshakes on a live link after a delivery timeout (CH-11).
    pub reconnects: u64,
    /// Links that went down after connecting (failed dials not counted).
    pub links_lost: u64,
    /// Messages returned, for any cause.
    pub returned: u64,
}

struct Outgoing<T> {
    seq: u64,
    frame: Vec<u8>,
    item: T,
    deadline: Instant,
}

impl<T> Outgoing<T> {
    /// Hand this message back, for `cause`.
    fn returned(self, cause: ReturnCause) -> Returned<T> {
        Returned {
            seq: Some(self.seq),
            item: self.item,
            payload: data_frame_payload(self.frame),
            cause,
        }
    }
}

/// The sending side of one session (see the module doc).
pub struct SenderSession<T> {
    session_id: u64,
    next_seq: u64,
    acked: u64,
    /// Highest seq written on the current link.
    written: u64,
    /// Highest seq ever written on any link.
    written_ever: u64,
    unacked: VecDeque<Outgoing<T>>,
    state: LinkState,
    /// `Hello`s on the current link not yet answered.
    hellos_outstanding: u32,
    incarnation: Option<u64>,
    failed_attempts: u32,
    last_error: Option<String>,
    config: ChannelConfig,
    counters: SenderCounters,
}

impl<T> SenderSession<T> {
    /// A session with no link yet (dial at once).
    pub fn new(session_id: u64, config: ChannelConfig, now: Instant) -> Self {
        Self {
            session_id,
            next_seq: 1,
            acked: 0,
            written: 0,
            written_ever: 0,
            unacked: VecDeque::new(),
            state: LinkState::Down { retry_at: now },
            hellos_outstanding: 0,
            incarnation: None,
            failed_attempts: 0,
            last_error: None,
            config,
            counters: SenderCounters::default(),
        }
    }

    /// The session id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The link state.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// The highest cumulative ack.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Messages accepted and not yet acknowledged or returned.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Rare-path counters.
    pub fn counters(&self) -> SenderCounters {
        self.counters
    }

    fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.config.delivery_timeout_ms)
    }

    /// Accept a message whose encoded envelope is `frame`'s payload: it gets
    /// the next seq, or comes straight back if the queue is full.
    pub fn push(&mut self, frame: DataFrame, item: T, now: Instant) -> Result<u64, Returned<T>> {
        if self.unacked.len() >= self.config.queued_messages_max {
            self.counters.returned += 1;
            return Err(Returned {
                seq: None,
                item,
                payload: frame.into_payload(),
                cause: ReturnCause::QueueFull {
                    queued_messages_max: self.config.queued_messages_max,
                },
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked.push_back(Outgoing {
            seq,
            frame: frame.into_frame(seq),
            item,
            deadline: now + self.delivery_timeout(),
        });
        Ok(seq)
    }

    /// A link is up: the `Hello` to send first.
    pub fn on_link_up(&mut self) -> SessionMessage<'static> {
        self.state = LinkState::Handshaking;
        self.hellos_outstanding = 1;
        self.hello()
    }

    fn hello(&self) -> SessionMessage<'static> {
        SessionMessage::Hello {
            session_id: self.session_id,
            first_unacked: self.unacked.front().map_or(self.next_seq, |out| out.seq),
            first_unwritten: self.written_ever + 1,
        }
    }

    /// The acceptor answered a `Hello` (CH-6, CH-8). Returns the messages it
    /// lost. Data flows once every outstanding `Hello` is answered.
    pub fn on_welcome(
        &mut self,
        incarnation: u64,
        known: bool,
        acked: u64,
    ) -> Result<Vec<Returned<T>>, SessionError> {
        if self.state != LinkState::Handshaking || self.hellos_outstanding == 0 {
            return Err(SessionError::Unexpected {
                message: "Welcome",
                context: "outside a handshake",
            });
        }
        // Not `written_ever`, as for an `Ack`: a `Hello` whose unacked
        // messages all expired unwritten names `first_unacked` past
        // `first_unwritten`, and the acceptor skips to it (CH-11) and acks
        // that — seqs pushed, never written, and already returned.
        if acked >= self.next_seq {
            return Err(SessionError::AckBeyondWritten {
                acked,
                written: self.written_ever,
            });
        }
        let mut lost = Vec::new();
        // A different incarnation is a new process: its "ack" says nothing
        // about what the old one delivered (a Welcome{known: false} from it
        // may have been lost), so the old session counts as lost (CH-8).
        let restarted = self
            .incarnation
            .is_some_and(|previous| previous != incarnation);
        if known && !restarted {
            self.release(acked);
        } else {
            // CH-8: whatever was written to a lost session may or may not have
            // been delivered; hand it back rather than deliver it twice.
            while self.unacked.front().is_some_and(|out| out.seq <= acked) {
                let out = self.unacked.pop_front().expect("front checked");
                lost.push(out.returned(ReturnCause::SessionLost { incarnation }));
            }
            self.acked = self.acked.max(acked);
        }
        self.counters.returned += lost.len() as u64;
        self.hellos_outstanding -= 1;
        if self.hellos_outstanding > 0 {
            return Ok(lost);
        }
        if self.incarnation.is_some() {
            self.counters.reconnects += 1;
        }
        // CH-6: everything unacked is (re)written, from the ack on.
        let first = self.unacked.front().map_or(self.next_seq, |out| out.seq);
        self.counters.frames_resent += self.written_ever.saturating_sub(first - 1);
        self.written = first - 1;
        self.incarnation = Some(incarnation);
        self.failed_attempts = 0;
        self.last_error = None;
        self.state = LinkState::Up;
        Ok(lost)
    }

    fn release(&mut self, acked: u64) -> usize {
        let mut released = 0;
        while self.unacked.front().is_some_and(|out| out.seq <= acked) {
            self.unacked.pop_front();
            released += 1;
        }
        self.counters.acked += released as u64;
        self.acked = self.acked.max(acked);
        // An ack may cover frames another link carried (the acceptor still
        // draining an old link): never rewrite what is acknowledged.
        self.written = self.written.max(self.acked);
        released
    }

    /// A cumulative ack arrived: release what it covers (CH-5, CH-6). Acks
    /// may also arrive during a re-handshake (they were sent before the
    /// acceptor read the new `Hello`).
    pub fn on_ack(&mut self, acked: u64) -> Result<usize, SessionError> {
        if matches!(self.state, LinkState::Down { .. }) {
            return Err(SessionError::Unexpected {
                message: "Ack",
                context: "with no link",
            });
        }
        if acked > self.written_ever {
            return Err(SessionError::AckBeyondWritten {
                acked,
                written: self.written_ever,
            });
        }
        Ok(self.release(acked))
    }

    /// Frames to write now (in seq order, at most `frames_max` and about
    /// `bytes_max`), marked written. Empty unless the link is up.
    pub fn next_batch(&mut self, frames_max: usize, bytes_max: usize) -> Vec<&[u8]> {
        if self.state != LinkState::Up {
            return Vec::new();
        }
        let first = match self.unacked.front() {
            Some(front) => (self.written + 1).saturating_sub(front.seq) as usize,
            None => return Vec::new(),
        };
        let mut batch = Vec::new();
        let mut bytes = 0;
        for out in self.unacked.iter().skip(first) {
            if batch.len() >= frames_max || (bytes >= bytes_max && !batch.is_empty()) {
                break;
            }
            // CH-4, sender side: written strictly in seq order.
            assert_eq!(out.seq, self.written + 1, "CH-4: frames written in order");
            self.written = out.seq;
            bytes += out.frame.len();
            batch.push(out.frame.as_slice());
        }
        self.written_ever = self.written_ever.max(self.written);
        batch
    }

    /// The link failed with `error`: schedule the next dial (CH-10).
    /// `jitter` is a random draw from the caller's jitter stream.
    pub fn on_link_down(&mut self, error: String, now: Instant, jitter: u64) -> Instant {
        if !matches!(self.state, LinkState::Down { .. }) {
            self.counters.links_lost += 1;
        }
        let delay = backoff(self.failed_attempts, &self.config, jitter);
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        self.last_error = Some(error);
        let retry_at = now + delay;
        self.state = LinkState::Down { retry_at };
        retry_at
    }

    /// Return every message whose delivery timeout has passed (CH-11).
    /// If any is returned while a link is up (or handshaking), the link must
    /// handshake again:
    /// the result's second field is the `Hello` to send.
    pub fn expire(&mut self, now: Instant) -> (Vec<Returned<T>>, Option<SessionMessage<'static>>) {
        let timeout_ms = self.config.delivery_timeout_ms;
        let mut expired = Vec::new();
        while self.unacked.front().is_some_and(|out| out.deadline <= now) {
            let out = self.unacked.pop_front().expect("front checked");
            // Written once: it may have been delivered (DeliveryTimeout says
            // so). Never written and no link: it certainly was not.
            let cause = match (&self.state, &self.last_error) {
                (LinkState::Down { .. }, Some(last_error)) if out.seq > self.written_ever => {
                    ReturnCause::Unreachable {
                        last_error: last_error.clone(),
                        timeout_ms,
                    }
                }
                _ => ReturnCause::DeliveryTimeout { timeout_ms },
            };
            expired.push(out.returned(cause));
        }
        self.counters.returned += expired.len() as u64;
        let linked = matches!(self.state, LinkState::Up | LinkState::Handshaking);
        let rehandshake = (!expired.is_empty() && linked).then(|| {
            // CH-11: the acceptor learns to skip the abandoned seqs from the
            // new Hello's `first_unacked`.
            self.state = LinkState::Handshaking;
            self.hellos_outstanding += 1;
            self.hello()
        });
        (expired, rehandshake)
    }

    /// The next instant something is due: a message's delivery deadline, or
    /// the next dial while down. `None` when nothing waits (an idle session
    /// does not redial).
    pub fn next_deadline(&self) -> Option<Instant> {
        let expiry = self.unacked.front().map(|out| out.deadline)?;
        match self.state {
            LinkState::Down { retry_at } => Some(expiry.min(retry_at)),
            _ => Some(expiry),
        }
    }

    /// Close: hand back everything still unacknowledged.
    pub fn close(&mut self) -> Vec<Returned<T>> {
        let closed: Vec<Returned<T>> = self
            .unacked
            .drain(..)
            .map(|out| out.returned(ReturnCause::Closed))
            .collect();
        self.counters.returned += closed.len() as u64;
        closed
    }
}

/// How long to wait before dial attempt `failed_attempts + 1` (CH-10):
/// `min(max, initial * 2^failed_attempts)`, half fixed and half jittered.
pub fn backoff(failed_attempts: u32, config: &ChannelConfig, jitter: u64) -> Duration {
    let initial = config.backoff_initial_ms.max(1);
    let ceiling = initial
        .saturating_mul(1u64 << failed_attempts.min(32))
        .min(config.backoff_max_ms.max(initial));
    let half = ceiling / 2;
    Duration::from_millis(ceiling - half + jitter % (half + 1))
}

/// What an acceptor does with a data frame (CH-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataVerdict {
    /// The next seq: deliver it.
    Deliver,
    /// Already delivered: drop it and acknowledge again.
    Replay,
}

/// Counts of rare paths an acceptor took (coverage marks, read by tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverCounters {
    /// Replays dropped (CH-4).
    pub replays_dropped: u64,
    /// Seqs the sender abandoned (CH-11) and this side skipped.
    pub seqs_skipped: u64,
}

/// The accepting side of one session: the last seq delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverSession {
    last: u64,
    counters: ReceiverCounters,
}

/// The highest seq a `Hello` may name (CH-4). A session starts far below
/// it and grows by one per frame, so `last + 1` never overflows however
/// long it runs; a peer claiming more is refused at the handshake (CH-9)
/// rather than wrapping the receiver's count.
pub const HELLO_SEQ_MAX: u64 = u64::MAX / 2;

fn check_hello(first_unacked: u64, first_unwritten: u64) -> Result<(), SessionError> {
    if first_unacked == 0 || first_unwritten == 0 {
        return Err(SessionError::Handshake {
            detail: format!(
                "seqs start at 1 (first_unacked {first_unacked}, first_unwritten {first_unwritten})"
            ),
        });
    }
    if first_unacked.max(first_unwritten) > HELLO_SEQ_MAX {
        return Err(SessionError::Handshake {
            detail: format!(
                "seqs above {HELLO_SEQ_MAX} (first_unacked {first_unacked}, first_unwritten {first_unwritten})"
            ),
        });
    }
    Ok(())
}

impl ReceiverSession {
    /// A `Hello` for a session this side does not know (first contact, or
    /// this side restarted): start after everything ever written (CH-8).
    /// Returns the session and the `acked` to put in the `Welcome`.
    pub fn from_hello(first_unacked: u64, first_unwritten: u64) -> Result<Self, SessionError> {
        check_hello(first_unacked, first_unwritten)?;
        let last = first_unwritten.max(first_unacked) - 1;
        Ok(Self {
            last,
            counters: ReceiverCounters::default(),
        })
    }

    /// A `Hello` for a known session (a reconnect): skip abandoned seqs
    /// (CH-11). Returns the `acked` for the `Welcome`.
    pub fn on_hello(
        &mut self,
        first_unacked: u64,
        first_unwritten: u64,
    ) -> Result<u64, SessionError> {
        check_hello(first_unacked, first_unwritten)?;
        if self.last >= first_unwritten.max(first_unacked) {
            return Err(SessionError::Handshake {
                detail: format!(
                    "delivered up to {} but the sender wrote only up to {}",
                    self.last,
                    first_unwritten.max(first_unacked) - 1
                ),
            });
        }
        if first_unacked > self.last + 1 {
            self.counters.seqs_skipped += first_unacked - 1 - self.last;
            self.last = first_unacked - 1;
        }
        Ok(self.last)
    }

    /// The last seq delivered (the cumulative ack).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Rare-path counters.
    pub fn counters(&self) -> ReceiverCounters {
        self.counters
    }

    /// A data frame arrived (CH-4).
    pub fn on_data(&mut self, seq: u64) -> Result<DataVerdict, SessionError> {
        if seq == self.last + 1 {
            self.last = seq;
            Ok(DataVerdict::Deliver)
        } else if seq <= self.last {
            self.counters.replays_dropped += 1;
            Ok(DataVerdict::Replay)
        } else {
            Err(SessionError::Gap {
                expected: self.last + 1,
                found: seq,
            })
        }
    }
}

/// When an acceptor acknowledges on one link (CH-5).
#[derive(Debug, Clone)]
pub struct AckSchedule {
    acked_sent: u64,
    unacked_frames: u64,
    oldest_unacked_at: Option<Instant>,
    forced: bool,
    ack_interval_frames: u64,
    ack_interval: Duration,
}

impl AckSchedule {
    /// A schedule for a link whose `Welcome` carried `acked`.
    pub fn new(acked: u64, config: &ChannelConfig) -> Self {
        Self {
            acked_sent: acked,
            unacked_frames: 0,
            oldest_unacked_at: None,
            forced: false,
            ack_interval_frames: config.ack_interval_frames.max(1),
            ack_interval: Duration::from_millis(config.ack_interval_ms),
        }
    }

    /// A frame was delivered (or, `replay`, dropped as a replay: ack at once).
    pub fn on_frame(&mut self, replay: bool, now: Instant) {
        self.unacked_frames += 1;
        self.oldest_unacked_at.get_or_insert(now);
        self.forced |= replay;
    }

    /// The ack to send now, if one is due; `last` is the session's last seq.
    pub fn due(&mut self, last: u64, now: Instant) -> Option<u64> {
        let by_count = self.unacked_frames >= self.ack_interval_frames;
        let by_time = self
            .oldest_unacked_at
            .is_some_and(|at| now >= at + self.ack_interval);
        (self.forced || ((by_count || by_time) && last > self.acked_sent)).then(|| self.sent(last))
    }

    /// When the next ack falls due by time.
    pub fn deadline(&self) -> Option<Instant> {
        self.oldest_unacked_at.map(|at| at + self.ack_interval)
    }

    /// The link is closing: the ack to flush, if anything is unacknowledged.
    pub fn on_close(&mut self, last: u64) -> Option<u64> {
        (self.forced || last > self.acked_sent).then(|| self.sent(last))
    }

    fn sent(&mut self, last: u64) -> u64 {
        self.acked_sent = last;
        self.unacked_frames = 0;
        self.oldest_unacked_at = None;
        self.forced = false;
        last
    }
}
