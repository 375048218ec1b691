//! Channels: the transport between procs — one session protocol over any
//! framed link (DESIGN §3 Transport).
//!
//! Start here: a proc that talks to other procs is built with a [`Router`] as
//! its forwarder and serves its own address with [`serve()`], so remote senders
//! reach its actors and undeliverable returns find their way back.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lockstep::channel::{ChannelConfig, LocalNetwork, Router, Transport, Transports, serve};
//! use lockstep::{Proc, ProcConfig, ProcId};
//!
//! let config = ChannelConfig::default();
//! let transports = Transports::new(LocalNetwork::new(), config.frame_bytes_max);
//! // Bind first, so the proc's id carries the address actually served.
//! let listener = transports.listen(&"local:p0".parse().unwrap()).await.unwrap();
//! let proc_id = ProcId::remote("p0", &listener.local_addr().to_string()).unwrap();
//! let router = Router::new(transports.clone(), config.clone());
//! let proc = Proc::with_config(proc_id, router, ProcConfig::default());
//! let server = serve(&proc, listener, config);
//! assert_eq!(server.local_addr().to_string(), "local:p0");
//! # }
//! ```
//!
//! Files, one concept each:
//! - `addr` — [`ChannelAddr`]: `local:`, `tcp:`, `unix:`, plugged-in schemes (CH-1).
//! - `link` — [`Link`], [`Listener`], [`Transport`], and [`Transports`] (dispatch by scheme).
//! - `frame` — length-prefixed frames, the pure [`FrameDecoder`] (CH-2, CH-3).
//! - `wire` — session messages and the hardened envelope decoder (CH-9).
//! - `session` — the sans-IO protocol core (CH-4 … CH-11).
//! - `local`, `tcp`, `unix` — the built-in transports.
//! - `router` — [`Router`], the `MailboxSender` that dials lazily and runs one
//!   sender session per destination address.
//! - `serve` — [`serve()`] and [`Server`]: accept links, run acceptor sessions,
//!   post envelopes into the proc.
//!
//! Invariants (tests cite the codes):
//! - CH-1: addresses print and parse back identically; bad text is a typed error.
//! - CH-2: oversized or empty frames are typed errors that close the link;
//!   memory grows with bytes received, never with a claimed length.
//! - CH-3: writes are coalesced, one flush per batch.
//! - CH-4: per session, frames are numbered from 1 and delivered at most once,
//!   in order; replays are dropped; a gap closes the link.
//! - CH-5: acks are cumulative: every `ack_interval_frames` frames or
//!   `ack_interval_ms`, on a replay, and on close.
//! - CH-6: on reconnect every unacknowledged frame is resent in order; acked
//!   frames never are.
//! - CH-7: every envelope the router accepts is acknowledged by the peer or
//!   returned to its sender as undeliverable with a reason (UD-1).
//! - CH-8: a peer that lost the session (restarted) gets no resends: what was
//!   written to it unacknowledged is returned, so nothing is delivered twice.
//! - CH-9: decoding untrusted bytes never panics or allocates from an
//!   unchecked length; a bad frame closes only its link, with a typed error,
//!   and the server keeps serving the others.
//! - CH-10: reconnects back off exponentially with jitter from `rt`.
//! - CH-11: a message unacknowledged after `delivery_timeout_ms` is returned.
//! - CH-12, CH-13, CH-14 (`serve`): a served proc takes envelopes for itself
//!   only; one it cannot take goes back and its seq's slot is filled; the
//!   sessions it forgets are idle ones, least recently greeted first.

mod addr;
mod frame;
mod link;
mod local;
mod router;
mod serve;
pub mod session;
mod tcp;
mod unix;
pub mod wire;

use std::fmt;

pub use addr::{AddrError, ChannelAddr};
pub use frame::{FRAME_HEADER_BYTES, FrameDecoder, FrameError, encode_frame, stream_link};
pub use link::{FrameRx, FrameTx, Link, Listener, QueueListener, Transport, Transports};
pub use local::LocalNetwork;
pub use router::{ChannelStats, Router};
pub use serve::{LinkFailure, ServeStats, Server, serve};
pub use session::SessionError;
pub use wire::WireError;

use crate::codec::{self, CodecError};

/// The default frame limit: the default message limit plus room for headers.
pub const FRAME_BYTES_MAX_DEFAULT: u32 = codec::MESSAGE_BYTES_MAX_DEFAULT as u32 + 1024;

/// Limits and timings of channels (each with its default; units last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The largest frame, in bytes, either way (CH-2). Default 8 MiB + 1 KiB.
    pub frame_bytes_max: u32,
    /// The largest encoded envelope, in bytes. Default 8 MiB (the proc default).
    pub message_bytes_max: u64,
    /// Acknowledge after this many delivered frames (CH-5). Default 256.
    pub ack_interval_frames: u64,
    /// ... or this long after the oldest unacknowledged one (CH-5). Default 5 ms.
    pub ack_interval_ms: u64,
    /// Return a message not acknowledged within this (CH-11). Default 30 s.
    pub delivery_timeout_ms: u64,
    /// First reconnect delay (CH-10). Default 10 ms.
    pub backoff_initial_ms: u64,
    /// Longest reconnect delay (CH-10). Default 2 s.
    pub backoff_max_ms: u64,
    /// Give up on a dial or handshake after this. Default 5 s.
    pub dial_timeout_ms: u64,
    /// Give up on a link whose write blocks this long. Default 10 s.
    pub write_timeout_ms: u64,
    /// Unacknowledged messages one sender session holds; more are returned
    /// at once. Default 1,048,576.
    pub queued_messages_max: usize,
    /// Frames written per batch (CH-3). Default 1,024.
    pub batch_frames_max: usize,
    /// Bytes written per batch, about (CH-3). Default 1 MiB.
    pub batch_bytes_max: usize,
    /// Sending sessions a server remembers (beyond it, the least recently
    /// greeted one no link is using is forgotten, CH-14; a forgotten
    /// session's sender sees CH-8). Default 4,096.
    pub sessions_max: usize,
    /// Link failures a server keeps for [`Server::failures`]. Default 64.
    pub failures_kept_max: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            frame_bytes_max: FRAME_BYTES_MAX_DEFAULT,
            message_bytes_max: codec::MESSAGE_BYTES_MAX_DEFAULT,
            ack_interval_frames: 256,
            ack_interval_ms: 5,
            delivery_timeout_ms: 30_000,
            backoff_initial_ms: 10,
            backoff_max_ms: 2_000,
            dial_timeout_ms: 5_000,
            write_timeout_ms: 10_000,
            queued_messages_max: 1 << 20,
            batch_frames_max: 1_024,
            batch_bytes_max: 1 << 20,
            sessions_max: 4_096,
            failures_kept_max: 64,
        }
    }
}

/// Why a channel operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The text is not a channel address (CH-1).
    #[error(transparent)]
    Address(#[from] AddrError),
    /// The byte stream broke framing (CH-2).
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// A frame is not a session message (CH-9).
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    /// The peer broke the session protocol.
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// A data frame's payload is not an envelope (CH-9).
    #[error("envelope: {0}")]
    Envelope(CodecError),
    /// An I/O operation failed.
    #[error("{operation} {address}: {detail}")]
    Io {
        /// What was being done (`connect to`, `read from`, ...).
        operation: &'static str,
        /// With whom.
        address: String,
        /// The OS error.
        detail: String,
    },
    /// Nobody listens at the address.
    #[error("connection to {address} refused")]
    Refused {
        /// The address.
        address: String,
    },
    /// The address is already served.
    #[error("address {address} already in use")]
    AddressInUse {
        /// The address.
        address: String,
    },
    /// No transport serves the address's scheme.
    #[error("no transport serves {address}")]
    UnsupportedScheme {
        /// The address.
        address: String,
    },
    /// The link or listener closed.
    #[error("{address} closed")]
    Closed {
        /// The address.
        address: String,
    },
    /// A dial, handshake or write took too long.
    #[error("{operation} {address} timed out after {timeout_ms} ms")]
    TimedOut {
        /// What was being done.
        operation: &'static str,
        /// With whom.
        address: String,
        /// The limit.
        timeout_ms: u64,
    },
}

impl ChannelError {
    pub(crate) fn io(
        operation: &'static str,
        address: &impl fmt::Display,
        error: &std::io::Error,
    ) -> Self {
        if error.kind() == std::io::ErrorKind::ConnectionRefused {
            return ChannelError::Refused {
                address: address.to_string(),
            };
        }
        ChannelError::Io {
            operation,
            address: address.to_string(),
            detail: error.to_string(),
        }
    }
}
