//! The router: a `MailboxSender` that carries envelopes to remote procs.
//!
//! Owns: mapping a destination `ProcId`'s address to a channel, dialing
//! lazily, caching one sender session per address, and the async shell that
//! runs each session (`SenderSession` decides; this file does the I/O).
//! Does not own: the protocol's decisions (`session`), accepting links
//! (`serve`), or local delivery (the proc).
//!
//! CH-7: every envelope `post` is given is either acknowledged by the peer or
//! returned through its `return_handle` as undeliverable, with a reason:
//! `NoRoute` (the proc has no address), `TooLarge`/`Malformed` (it cannot be
//! encoded), `DeliveryTimeout` (written, not acknowledged in time), and
//! `Transport` (unreachable, the peer restarted before acknowledging, the
//! channel closed, or its queue is full).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;

use super::link::{FrameTx, Link, Transport};
use super::session::{LinkState, ReturnCause, Returned, SenderSession};
use super::wire::{
    DATA_HEADER_BYTES, DataFrame, SessionMessage, decode_envelope, envelope_addresses,
};
use super::{AddrError, ChannelAddr, ChannelConfig, ChannelError};
use crate::codec::IdCache;
use crate::mailbox::{
    MailboxSender, MessageEnvelope, PortHandle, Undeliverable, UndeliverableReason,
    return_undeliverable,
};
use crate::rt::random::{self, RandomStream};
use crate::rt::time::{self, Instant};
use crate::rt::{self as runtime, JoinHandle};
use crate::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sync::Mutex;

type ReturnHandle = PortHandle<Undeliverable<MessageEnvelope>>;

/// An envelope on its way to a channel task.
/// The envelope itself is not kept: the frame is all a session needs, and
/// the rare return decodes the envelope back from it (CODEC-3 round trip).
struct Outbound {
    /// The encoded envelope, with room for the session's `Data` header.
    frame: DataFrame,
    return_handle: ReturnHandle,
}

/// What a link's reader tells its channel task.
enum Inbound {
    Welcome {
        incarnation: u64,
        known: bool,
        acked: u64,
    },
    Ack(u64),
    Failed(ChannelError),
}

/// What a router's channels have done, summed over destinations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Envelopes accepted into a session.
    pub messages_accepted: u64,
    /// Envelopes acknowledged by their peer.
    pub messages_acked: u64,
    /// Envelopes returned as undeliverable (for any reason, CH-7).
    pub messages_returned: u64,
    /// Frames due to be written again after reconnects (CH-6).
    pub frames_resent: u64,
    /// Successful reconnects, and re-handshakes after a delivery timeout
    /// (CH-11).
    pub reconnects: u64,
    /// Links that went down after connecting (failed dials not counted).
    pub links_lost: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    acked: AtomicU64,
    returned: AtomicU64,
    frames_resent: AtomicU64,
    reconnects: AtomicU64,
    links_lost: AtomicU64,
}

struct Channel {
    queue: mpsc::UnboundedSender<Outbound>,
    _task: JoinHandle<()>,
}

struct RouterState {
    transport: Arc<dyn Transport>,
    config: ChannelConfig,
    /// The most an envelope may encode to under the config: the message
    /// limit, or the room a frame of `frame_bytes_max` leaves after its
    /// header (CH-2). A destination whose links take smaller frames has
    /// its own, smaller limit ([`Destination`]).
    encode_limit: u64,
    /// The proc this router forwards for, once told: its channel tasks are
    /// named `channel:<proc>-><address>` and belong to that proc
    /// (`rt::spawn_for`: a simulator pauses them with it).
    owner: std::sync::OnceLock<String>,
    channels: Mutex<Channels>,
    counters: Arc<Counters>,
}

/// The router's open channels, and each destination address text already
/// resolved, so a post looks its channel up without parsing or allocating.
/// Both grow with the distinct addresses posted to, until `close`.
#[derive(Default)]
struct Channels {
    open: BTreeMap<ChannelAddr, Channel>,
    resolved: BTreeMap<String, Destination>,
}

/// A destination address, parsed, with the most an envelope to it may
/// encode to: the router's limit, or less if the transport's links to it
/// take smaller frames (CH-2).
struct Destination {
    addr: ChannelAddr,
    encode_limit: u64,
}

/// Routes envelopes to remote procs by their address (see the module doc).
/// Cheap to clone; give one to `Proc::with_config` as its forwarder.
#[derive(Clone)]
pub struct Router {
    state: Arc<RouterState>,
}

impl Router {
    /// A router dialing through `transport`.
    pub fn new(transport: impl Transport, config: ChannelConfig) -> Self {
        let frame_room = frame_room(config.frame_bytes_max);
        Self {
            state: Arc::new(RouterState {
                transport: Arc::new(transport),
                encode_limit: config.message_bytes_max.min(frame_room),
                config,
                owner: std::sync::OnceLock::new(),
                channels: Mutex::new(Channels::default()),
                counters: Arc::default(),
            }),
        }
    }

    /// What the router's channels have done so far.
    pub fn stats(&self) -> ChannelStats {
        let counters = &self.state.counters;
        ChannelStats {
            messages_accepted: counters.accepted.load(Ordering::Relaxed),
            messages_acked: counters.acked.load(Ordering::Relaxed),
            messages_returned: counters.returned.load(Ordering::Relaxed),
            frames_resent: counters.frames_resent.load(Ordering::Relaxed),
            reconnects: counters.reconnects.load(Ordering::Relaxed),
            links_lost: counters.links_lost.load(Ordering::Relaxed),
        }
    }

    /// Close every channel: each stops taking envelopes, waits (up to the
    /// delivery timeout) for its unacknowledged ones to be acknowledged, and
    /// returns the rest (CH-7). Later posts open new channels.
    pub fn close(&self) {
        let channels = std::mem::take(&mut *self.state.channels.lock());
        drop(channels);
    }

    fn refuse(
        return_handle: &ReturnHandle,
        envelope: MessageEnvelope,
        reason: UndeliverableReason,
    ) {
        return_undeliverable(return_handle, envelope, reason);
    }

    /// `address` (a proc id's address text) parsed, with its encode
    /// limit; resolved once per distinct address.
    fn resolve<'a>(
        &self,
        resolved: &'a mut BTreeMap<String, Destination>,
        address: &str,
    ) -> Result<&'a Destination, AddrError> {
        if !resolved.contains_key(address) {
            let addr: ChannelAddr = address.parse()?;
            let links = self.state.transport.frame_bytes_max(&addr);
            let encode_limit = links.map_or(self.state.encode_limit, |links| {
                self.state.encode_limit.min(frame_room(links))
            });
            let destination = Destination { addr, encode_limit };
            resolved.insert(address.to_owned(), destination);
        }
        Ok(&resolved[address])
    }

    /// The queue of the channel to `addr`, opening the channel if there is
    /// none or it closed. Borrowed from the locked channels, so a message is
    /// sent without cloning the queue's sender (two atomic increments and
    /// two decrements per message).
    fn queue_for<'a>(
        &self,
        open: &'a mut BTreeMap<ChannelAddr, Channel>,
        addr: &ChannelAddr,
    ) -> &'a mpsc::UnboundedSender<Outbound> {
        let is_open = matches!(open.get(addr), Some(channel) if !channel.queue.is_closed());
        if !is_open {
            // Replaces a closed one, if any.
            open.insert(addr.clone(), self.open_channel(addr));
        }
        &open[addr].queue
    }

    /// Start the channel task for `addr`.
    fn open_channel(&self, addr: &ChannelAddr) -> Channel {
        let (queue, receiver) = mpsc::unbounded_channel();
        let task = run_channel(
            addr.clone(),
            self.state.transport.clone(),
            self.state.config.clone(),
            receiver,
            self.state.counters.clone(),
        );
        // A channel (and the reader it spawns) is the proc's it forwards for.
        let task = match self.state.owner.get() {
            Some(owner) => runtime::spawn_for(owner, &format!("channel:{owner}->{addr}"), task),
            None => runtime::spawn(&format!("channel:{addr}"), task),
        };
        Channel { queue, _task: task }
    }
}

impl Router {
    /// The frame for `envelope`, or why it cannot go.
    fn encode(&self, envelope: &MessageEnvelope) -> Result<DataFrame, UndeliverableReason> {
        // Encoded once, straight after room for the session's `Data` header;
        // before the channel, so a refused message opens no connection.
        // Refused here too if its frame would exceed the frame limit (and
        // in `post` if it exceeds its destination's links' smaller one): a
        // link would fail to write it, and the session would resend it on
        // every reconnect until its delivery timeout, holding back what
        // queued behind it.
        DataFrame::encode_envelope(envelope, self.state.encode_limit)
            .map_err(|error| UndeliverableReason::from_codec(error, envelope.type_name()))
    }
}

impl MailboxSender for Router {
    fn forwards_for(&self, proc_id: &crate::id::ProcId) {
        let _ = self.state.owner.set(proc_id.name().to_owned());
    }

    fn post(&self, envelope: MessageEnvelope, return_handle: &ReturnHandle) {
        let proc_id = envelope.dest().actor_id().proc_id();
        let Some(address) = proc_id.address() else {
            let reason = UndeliverableReason::NoRoute {
                proc_id: proc_id.clone(),
            };
            return Self::refuse(return_handle, envelope, reason);
        };
        let frame = match self.encode(&envelope) {
            Ok(frame) => frame,
            Err(reason) => return Self::refuse(return_handle, envelope, reason),
        };
        let mut channels = self.state.channels.lock();
        let Channels { open, resolved } = &mut *channels;
        let destination = match self.resolve(resolved, address) {
            Ok(destination) => destination,
            Err(error) => {
                drop(channels);
                let reason = UndeliverableReason::Transport {
                    detail: error.to_string(),
                };
                return Self::refuse(return_handle, envelope, reason);
            }
        };
        let encode_limit = destination.encode_limit;
        if frame.payload().len() as u64 > encode_limit {
            // CH-2: its destination's links take smaller frames.
            drop(channels);
            let limit_bytes = encode_limit;
            let error = crate::codec::CodecError::TooLarge { limit_bytes };
            let reason = UndeliverableReason::from_codec(error, envelope.type_name());
            return Self::refuse(return_handle, envelope, reason);
        }
        let queue = self.queue_for(open, &destination.addr);
        let sent = queue.send(Outbound {
            frame,
            return_handle: return_handle.clone(),
        });
        drop(channels);
        if sent.is_err() {
            let detail = format!("channel to {address} closed");
            Self::refuse(
                return_handle,
                envelope,
                UndeliverableReason::Transport { detail },
            );
        }
    }
}

/// Where to return a message, kept by the session with its frame until
/// acked (the frame is enough to rebuild the envelope).
type Item = ReturnHandle;

fn reason_for(cause: ReturnCause, addr: &ChannelAddr) -> UndeliverableReason {
    match cause {
        ReturnCause::DeliveryTimeout { timeout_ms } => {
            UndeliverableReason::DeliveryTimeout { timeout_ms }
        }
        ReturnCause::Unreachable {
            last_error,
            timeout_ms,
        } => UndeliverableReason::Transport {
            detail: format!("{addr} unreachable for {timeout_ms} ms: {last_error}"),
        },
        ReturnCause::SessionLost { incarnation } => UndeliverableReason::Transport {
            detail: format!(
                "{addr} lost the session (restarted as incarnation {incarnation:016x}) \
                 before acknowledging; delivery unknown"
            ),
        },
        ReturnCause::Closed => UndeliverableReason::Transport {
            detail: format!("channel to {addr} closed before acknowledging"),
        },
        ReturnCause::QueueFull {
            queued_messages_max,
        } => UndeliverableReason::Transport {
            detail: format!(
                "channel to {addr} holds {queued_messages_max} unacknowledged messages"
            ),
        },
    }
}

/// The link a channel task currently uses.
struct ActiveLink {
    tx: Box<dyn FrameTx>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    reader: JoinHandle<()>,
    handshake_deadline: Option<Instant>,
}

impl Drop for ActiveLink {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_link(
    mut rx: Box<dyn super::link::FrameRx>,
    addr: ChannelAddr,
    inbound: mpsc::UnboundedSender<Inbound>,
) {
    let failure = loop {
        let frame = match rx.recv().await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                break ChannelError::Closed {
                    address: addr.to_string(),
                };
            }
            Err(error) => break error,
        };
        let message = match SessionMessage::decode(&frame) {
            Ok(SessionMessage::Welcome {
                incarnation,
                known,
                acked,
            }) => Inbound::Welcome {
                incarnation,
                known,
                acked,
            },
            Ok(SessionMessage::Ack { acked }) => Inbound::Ack(acked),
            Ok(_) => {
                break ChannelError::Session(super::SessionError::Unexpected {
                    message: "dialer-side message",
                    context: "from an acceptor",
                });
            }
            Err(error) => break error.into(),
        };
        if inbound.send(message).is_err() {
            return;
        }
    };
    let _ = inbound.send(Inbound::Failed(failure));
}

/// One destination's sender session and its I/O.
struct ChannelTask {
    addr: ChannelAddr,
    transport: Arc<dyn Transport>,
    config: ChannelConfig,
    core: SenderSession<Item>,
    link: Option<ActiveLink>,
    counters: Arc<Counters>,
    reported: super::session::SenderCounters,
}

impl ChannelTask {
    fn give_back(&mut self, returned: Vec<Returned<Item>>) {
        let limit = self.config.message_bytes_max;
        let mut ids = IdCache::new();
        for Returned {
            item: return_handle,
            payload,
            cause,
            ..
        } in returned
        {
            let reason = reason_for(cause, &self.addr);
            // The router encoded it under this very limit, so it decodes
            // (CODEC-3); failing would be a codec bug, said loudly.
            match decode_envelope(&payload, limit, &mut ids) {
                Ok(envelope) => return_undeliverable(&return_handle, envelope, reason),
                Err(error) => {
                    debug_assert!(false, "a routed envelope failed to decode: {error}");
                    tracing::error!(%error, %reason, "a returned envelope could not be rebuilt whole");
                    // Still tell its sender, with what can be read of it.
                    if let Some((sender, dest, headers, type_name)) =
                        envelope_addresses(&payload, limit)
                    {
                        let envelope =
                            MessageEnvelope::unreadable(sender, dest, headers, type_name);
                        return_undeliverable(&return_handle, envelope, reason);
                    }
                }
            }
        }
    }

    /// Publish the core's counters into the router's.
    fn report(&mut self) {
        let now = self.core.counters();
        let before = std::mem::replace(&mut self.reported, now);
        let counters = &self.counters;
        counters
            .acked
            .fetch_add(now.acked - before.acked, Ordering::Relaxed);
        counters
            .returned
            .fetch_add(now.returned - before.returned, Ordering::Relaxed);
        counters
            .frames_resent
            .fetch_add(now.frames_resent - before.frames_resent, Ordering::Relaxed);
        counters
            .reconnects
            .fetch_add(now.reconnects - before.reconnects, Ordering::Relaxed);
        counters
            .links_lost
            .fetch_add(now.links_lost - before.links_lost, Ordering::Relaxed);
    }

    fn link_down(&mut self, error: &ChannelError) {
        tracing::debug!(addr = %self.addr, %error, "channel link down");
        self.link = None;
        let jitter = random::next_u64(RandomStream::JITTER);
        self.core
            .on_link_down(error.to_string(), time::now(), jitter);
    }

    async fn write(&mut self, frames: &[&[u8]]) -> Result<(), ChannelError> {
        let link = self.link.as_mut().expect("writing needs a link");
        let timeout_ms = self.config.write_timeout_ms;
        match time::timeout(
            Duration::from_millis(timeout_ms),
            link.tx.send_batch(frames),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(ChannelError::TimedOut {
                operation: "write to",
                address: self.addr.to_string(),
                timeout_ms,
            }),
        }
    }

    async fn send_hello(&mut self, hello: SessionMessage<'static>) {
        let bytes = hello.encode();
        if let Some(link) = self.link.as_mut() {
            link.handshake_deadline =
                Some(time::now() + Duration::from_millis(self.config.dial_timeout_ms));
        }
        if let Err(error) = self.write(&[&bytes]).await {
            self.link_down(&error);
        }
    }

    async fn dial(&mut self) {
        let timeout_ms = self.config.dial_timeout_ms;
        let dialed = time::timeout(
            Duration::from_millis(timeout_ms),
            self.transport.dial(&self.addr),
        )
        .await;
        let link = match dialed {
            Ok(Ok(link)) => link,
            Ok(Err(error)) => return self.link_down(&error),
            Err(_) => {
                return self.link_down(&ChannelError::TimedOut {
                    operation: "dial",
                    address: self.addr.to_string(),
                    timeout_ms,
                });
            }
        };
        let Link { tx, rx, .. } = link;
        let (inbound_sender, inbound) = mpsc::unbounded_channel();
        let reader = runtime::spawn(
            &format!("channel-reader:{}", self.addr),
            read_link(rx, self.addr.clone(), inbound_sender),
        );
        self.link = Some(ActiveLink {
            tx,
            inbound,
            reader,
            handshake_deadline: None,
        });
        let hello = self.core.on_link_up();
        self.send_hello(hello).await;
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        let result = match inbound {
            Inbound::Welcome {
                incarnation,
                known,
                acked,
            } => self.core.on_welcome(incarnation, known, acked).map(|lost| {
                if self.core.state() == LinkState::Up {
                    if let Some(link) = self.link.as_mut() {
                        link.handshake_deadline = None;
                    }
                }
                self.give_back(lost);
            }),
            // What it releases is counted by the core (`report`).
            Inbound::Ack(acked) => self.core.on_ack(acked).map(drop),
            Inbound::Failed(error) => return self.link_down(&error),
        };
        if let Err(error) = result {
            tracing::warn!(addr = %self.addr, %error, "peer broke the session protocol");
            self.link_down(&ChannelError::Session(error));
        }
    }

    /// Take `outbound` into the session at `now` (its delivery timeout
    /// starts then).
    fn accept(&mut self, outbound: Outbound, now: Instant) {
        let Outbound {
            frame,
            return_handle,
        } = outbound;
        match self.core.push(frame, return_handle, now) {
            Ok(_) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(returned) => self.give_back(vec![returned]),
        }
    }

    /// The channel's life: until the router drops its queue and every
    /// accepted envelope is acknowledged or returned (CH-7).
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Outbound>) {
        let mut queue_open = true;
        loop {
            let (expired, hello) = self.core.expire(time::now());
            self.give_back(expired);
            if let Some(hello) = hello {
                self.send_hello(hello).await;
            }
            if let Some(deadline) = self.link.as_ref().and_then(|link| link.handshake_deadline) {
                if time::now() >= deadline {
                    self.link_down(&ChannelError::TimedOut {
                        operation: "handshake with",
                        address: self.addr.to_string(),
                        timeout_ms: self.config.dial_timeout_ms,
                    });
                }
            }
            self.report();
            if !queue_open && self.core.unacked_len() == 0 {
                break;
            }
            if let LinkState::Down { retry_at } = self.core.state() {
                if retry_at <= time::now() && self.core.unacked_len() > 0 {
                    self.dial().await;
                    continue;
                }
            }
            if self.link.is_some() {
                let batch = self
                    .core
                    .next_batch(self.config.batch_frames_max, self.config.batch_bytes_max);
                if !batch.is_empty() {
                    let frames: Vec<&[u8]> = batch;
                    // Borrow juggling: the frames borrow the core; write via the link only.
                    let link = self.link.as_mut().expect("checked");
                    let timeout_ms = self.config.write_timeout_ms;
                    let written = time::timeout(
                        Duration::from_millis(timeout_ms),
                        link.tx.send_batch(&frames),
                    )
                    .await;
                    let error = match written {
                        // Simulation only: the connection resets just after a
                        // write, so the batch's frames are resent (CH-6) and
                        // deduplicated by the acceptor (CH-4).
                        Ok(Ok(())) if crate::buggify!("channel.reset_after_write") => {
                            Some(ChannelError::Io {
                                operation: "write to",
                                address: self.addr.to_string(),
                                detail: "connection reset (buggify)".to_owned(),
                            })
                        }
                        Ok(Ok(())) => None,
                        Ok(Err(error)) => Some(error),
                        Err(_) => Some(ChannelError::TimedOut {
                            operation: "write to",
                            address: self.addr.to_string(),
                            timeout_ms,
                        }),
                    };
                    if let Some(error) = error {
                        self.link_down(&error);
                    }
                    continue;
                }
            }
            let deadline = [
                self.core.next_deadline(),
                self.link.as_ref().and_then(|link| link.handshake_deadline),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                biased;
                inbound = next_inbound(&mut self.link) => self.on_inbound(inbound),
                outbound = queue.recv(), if queue_open => match outbound {
                    Some(outbound) => {
                        // One clock read for the whole batch taken.
                        let now = time::now();
                        self.accept(outbound, now);
                        for _ in 0..self.config.batch_frames_max {
                            match queue.try_recv() {
                                Ok(outbound) => self.accept(outbound, now),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        queue_open = false;
                        self.flush_on_close().await;
                    }
                },
                () = sleep_until_or_forever(deadline) => {}
            }
        }
        if let Some(mut link) = self.link.take() {
            link.tx.close().await;
        }
        let closed = self.core.close();
        self.give_back(closed);
        self.report();
    }

    /// Ask the acceptor to acknowledge now (CH-5: acks flushed on close).
    async fn flush_on_close(&mut self) {
        if self.core.state() == LinkState::Up && self.core.unacked_len() > 0 {
            let close = SessionMessage::Close.encode();
            if let Err(error) = self.write(&[&close]).await {
                self.link_down(&error);
            }
        }
    }
}

async fn next_inbound(link: &mut Option<ActiveLink>) -> Inbound {
    match link {
        Some(link) => match link.inbound.recv().await {
            Some(inbound) => inbound,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn run_channel(
    addr: ChannelAddr,
    transport: Arc<dyn Transport>,
    config: ChannelConfig,
    queue: mpsc::UnboundedReceiver<Outbound>,
    counters: Arc<Counters>,
) {
    let session_id = random::next_u64(RandomStream::SESSION);
    let task = ChannelTask {
        core: SenderSession::new(session_id, config.clone(), time::now()),
        addr,
        transport,
        config,
        link: None,
        counters,
        reported: Default::default(),
    };
    task.run(queue).await;
}

/// The most an envelope may encode to in a frame of `frame_bytes_max`: what
/// is left after the session's `Data` header.
fn frame_room(frame_bytes_max: u32) -> u64 {
    u64::from(frame_bytes_max).saturating_sub(DATA_HEADER_BYTES as u64)
}
