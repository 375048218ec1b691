//! What a frame means: the session protocol's messages, and envelopes.
//!
//! Owns: the byte layout of [`SessionMessage`] (one tag byte, then fixed
//! big-endian fields; `Data` carries the rest of the frame as its payload).
//! Envelopes decode through [`decode_envelope_view`] (read in place, what
//! `serve` delivers from), [`decode_envelope`] (owned) and, when they cannot
//! be taken whole, [`envelope_addresses`], re-exported from `codec`, which
//! owns their layout.
//! Does not own: framing (`frame`) or what to do with a message (`session`).
//!
//! CH-9: decoding untrusted bytes never panics and never allocates from an
//! unchecked length: session messages have fixed sizes (checked before any
//! read), and envelopes decode through `codec`'s envelope decoder with the
//! message size limit (CODEC-1 to CODEC-3), their ids validated as they are
//! read (ID-2).
//!
//! Layout (tag, then fields):
//! - `0` Hello: `session_id: u64`, `first_unacked: u64`, `first_unwritten: u64`
//! - `1` Welcome: `incarnation: u64`, `known: u8 (0|1)`, `acked: u64`
//! - `2` Data: `seq: u64`, payload (the remaining bytes, non-empty)
//! - `3` Ack: `acked: u64`
//! - `4` Close

use crate::codec::{self, CodecError};
pub use crate::codec::{EnvelopeView, decode_envelope, decode_envelope_view, envelope_addresses};
use crate::mailbox::MessageEnvelope;

/// One message of the session protocol (see the module doc for the layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMessage<'a> {
    /// Dialer → acceptor, first on every link: which session, and where the
    /// dialer's unacknowledged and never-written frames start.
    Hello {
        /// The sending session.
        session_id: u64,
        /// The oldest unacknowledged seq (next seq if none).
        first_unacked: u64,
        /// The first seq never written to any link.
        first_unwritten: u64,
    },
    /// Acceptor → dialer, the answer to `Hello`.
    Welcome {
        /// The acceptor's incarnation (random per server start).
        incarnation: u64,
        /// Whether the acceptor had state for this session.
        known: bool,
        /// The highest seq it has delivered (cumulative).
        acked: u64,
    },
    /// One message of the session.
    Data {
        /// Its seq (1, 2, 3, ... per session).
        seq: u64,
        /// The encoded envelope.
        payload: &'a [u8],
    },
    /// Acceptor → dialer: everything up to `acked` was delivered.
    Ack {
        /// Cumulative acknowledgement.
        acked: u64,
    },
    /// Dialer → acceptor: no more data on this link; acknowledge now.
    Close,
}

/// Why a frame is not a session message (CH-9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The first byte is no known tag.
    #[error("unknown session message tag {tag}")]
    UnknownTag {
        /// The tag found.
        tag: u8,
    },
    /// The frame's length does not fit the message its tag names.
    #[error("{message} frame of {found_bytes} bytes; expected {expected}")]
    BadLength {
        /// The message the tag names.
        message: &'static str,
        /// What the layout requires.
        expected: &'static str,
        /// The frame's length.
        found_bytes: usize,
    },
    /// A `Welcome` whose `known` byte is neither 0 nor 1.
    #[error("Welcome with invalid flag byte {flag}")]
    BadFlag {
        /// The byte found.
        flag: u8,
    },
}

const HELLO: u8 = 0;
const WELCOME: u8 = 1;
const DATA: u8 = 2;
const ACK: u8 = 3;
const CLOSE: u8 = 4;

/// The bytes of a `Data` frame before its payload.
pub const DATA_HEADER_BYTES: usize = 9;

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let field: [u8; 8] = bytes[offset..offset + 8]
        .try_into()
        .expect("length checked by the caller");
    u64::from_be_bytes(field)
}

impl<'a> SessionMessage<'a> {
    /// The frame for this message.
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            SessionMessage::Hello {
                session_id,
                first_unacked,
                first_unwritten,
            } => {
                let mut bytes = vec![HELLO];
                bytes.extend_from_slice(&session_id.to_be_bytes());
                bytes.extend_from_slice(&first_unacked.to_be_bytes());
                bytes.extend_from_slice(&first_unwritten.to_be_bytes());
                bytes
            }
            SessionMessage::Welcome {
                incarnation,
                known,
                acked,
            } => {
                let mut bytes = vec![WELCOME];
                bytes.extend_from_slice(&incarnation.to_be_bytes());
                bytes.push(u8::from(known));
                bytes.extend_from_slice(&acked.to_be_bytes());
                bytes
            }
            SessionMessage::Data { seq, payload } => encode_data(seq, payload),
            SessionMessage::Ack { acked } => {
                let mut bytes = vec![ACK];
                bytes.extend_from_slice(&acked.to_be_bytes());
                bytes
            }
            SessionMessage::Close => vec![CLOSE],
        }
    }

    /// Parse a frame (CH-9: never panics).
    pub fn decode(frame: &'a [u8]) -> Result<Self, WireError> {
        let Some((&tag, body)) = frame.split_first() else {
            return Err(WireError::BadLength {
                message: "session",
                expected: "at least a tag byte",
                found_bytes: 0,
            });
        };
        let exact = |message, expected, length| {
            if frame.len() == length {
                Ok(())
            } else {
                Err(WireError::BadLength {
                    message,
                    expected,
                    found_bytes: frame.len(),
                })
            }
        };
        match tag {
            HELLO => {
                exact("Hello", "25 bytes", 25)?;
                Ok(SessionMessage::Hello {
                    session_id: u64_at(body, 0),
                    first_unacked: u64_at(body, 8),
                    first_unwritten: u64_at(body, 16),
                })
            }
            WELCOME => {
                exact("Welcome", "18 bytes", 18)?;
                let known = match body[8] {
                    0 => false,
                    1 => true,
                    flag => return Err(WireError::BadFlag { flag }),
                };
                Ok(SessionMessage::Welcome {
                    incarnation: u64_at(body, 0),
                    known,
                    acked: u64_at(body, 9),
                })
            }
            DATA if frame.len() > DATA_HEADER_BYTES => Ok(SessionMessage::Data {
                seq: u64_at(body, 0),
                payload: &frame[DATA_HEADER_BYTES..],
            }),
            DATA => Err(WireError::BadLength {
                message: "Data",
                expected: "more than 9 bytes",
                found_bytes: frame.len(),
            }),
            ACK => {
                exact("Ack", "9 bytes", 9)?;
                Ok(SessionMessage::Ack {
                    acked: u64_at(body, 0),
                })
            }
            CLOSE => {
                exact("Close", "1 byte", 1)?;
                Ok(SessionMessage::Close)
            }
            tag => Err(WireError::UnknownTag { tag }),
        }
    }
}

/// The frame of `Data { seq, payload }`.
pub fn encode_data(seq: u64, payload: &[u8]) -> Vec<u8> {
    DataFrame::new(payload).into_frame(seq)
}

/// A `Data` payload with room for its header in front: what
/// [`SenderSession::push`](super::session::SenderSession::push) takes, so
/// the payload is never copied again to frame it. Only its constructors
/// make one, so the room is always there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFrame(Vec<u8>);

impl DataFrame {
    /// A copy of `payload`, after room for the header.
    pub fn new(payload: &[u8]) -> Self {
        let mut frame = Vec::with_capacity(DATA_HEADER_BYTES + payload.len());
        frame.resize(DATA_HEADER_BYTES, 0);
        frame.extend_from_slice(payload);
        Self(frame)
    }

    /// `envelope` encoded straight after room for the header; the limit
    /// applies to the encoding.
    pub fn encode_envelope(
        envelope: &MessageEnvelope,
        limit_bytes: u64,
    ) -> Result<Self, CodecError> {
        codec::encode_envelope(envelope, limit_bytes, DATA_HEADER_BYTES).map(Self)
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.0[DATA_HEADER_BYTES..]
    }

    /// The payload, keeping the allocation.
    pub fn into_payload(self) -> Vec<u8> {
        data_frame_payload(self.0)
    }

    /// The frame of `Data { seq, payload }`.
    pub fn into_frame(mut self, seq: u64) -> Vec<u8> {
        self.0[0] = DATA;
        self.0[1..DATA_HEADER_BYTES].copy_from_slice(&seq.to_be_bytes());
        self.0
    }
}

/// The payload of a frame [`DataFrame::into_frame`] made, keeping the
/// allocation (the header goes).
pub(crate) fn data_frame_payload(mut frame: Vec<u8>) -> Vec<u8> {
    frame.drain(..DATA_HEADER_BYTES);
    frame
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::IdCache;
    use crate::id::ProcId;
    use crate::mailbox::{Headers, Payload};
    use crate::sequencing::SeqInfo;

    fn envelope() -> MessageEnvelope {
        let proc_id = ProcId::remote("p", "tcp:127.0.0.1:4000").unwrap();
        let sender = proc_id.actor_id("client", 0).unwrap();
        let dest = ProcId::remote("q", "unix:/tmp/q.sock")
            .unwrap()
            .actor_id("echo", 3)
            .unwrap()
            .port_id(7);
        MessageEnvelope::new(
            sender,
            dest,
            Headers::new(SeqInfo::Session {
                session_id: 9,
                seq: 1,
            }),
            "u64",
            Payload::Serialized(vec![1, 2, 3]),
        )
    }

    #[test]
    fn ch_9_every_message_round_trips() {
        let payload = [7u8; 5];
        for message in [
            SessionMessage::Hello {
                session_id: 1,
                first_unacked: 2,
                first_unwritten: 3,
            },
            SessionMessage::Welcome {
                incarnation: u64::MAX,
                known: true,
                acked: 4,
            },
            SessionMessage::Data {
                seq: 5,
                payload: &payload,
            },
            SessionMessage::Ack { acked: 6 },
            SessionMessage::Close,
        ] {
            assert_eq!(SessionMessage::decode(&message.encode()), Ok(message));
        }
    }

    /// A `Data` frame built from room-first payloads decodes back; an empty
    /// payload still encodes (no panic) and is refused on decode.
    #[test]
    fn ch_9_data_frames_keep_their_payload_and_empty_ones_are_refused() {
        let frame = DataFrame::new(b"hello");
        assert_eq!(frame.payload(), b"hello");
        assert_eq!(
            SessionMessage::decode(&frame.into_frame(42)),
            Ok(SessionMessage::Data {
                seq: 42,
                payload: b"hello"
            })
        );
        let envelope = envelope();
        let encoded = DataFrame::encode_envelope(&envelope, 1 << 20).unwrap();
        assert_eq!(
            encoded.payload(),
            codec::encode(&envelope, 1 << 20).unwrap()
        );
        let empty = encode_data(3, &[]);
        assert_eq!(empty.len(), DATA_HEADER_BYTES);
        assert!(matches!(
            SessionMessage::decode(&empty),
            Err(WireError::BadLength { .. })
        ));
    }

    #[test]
    fn ch_9_envelopes_round_trip_and_bad_ids_are_refused() {
        let envelope = envelope();
        let bytes = codec::encode(&envelope, 1 << 20).unwrap();
        let mut ids = IdCache::new();
        assert_eq!(
            decode_envelope(&bytes, 1 << 20, &mut ids),
            Ok(envelope.clone())
        );
        // Again, with the ids now cached: the same envelope.
        assert_eq!(decode_envelope(&bytes, 1 << 20, &mut ids), Ok(envelope));
        // Corrupt the proc name "p" (after its 8-byte length) into "!".
        let mut bad = bytes.clone();
        let at = bad.iter().position(|&b| b == b'p').unwrap();
        bad[at] = b'!';
        assert!(matches!(
            decode_envelope(&bad, 1 << 20, &mut ids),
            Err(CodecError::Malformed { .. })
        ));
        assert_eq!(
            decode_envelope(&bytes, 16, &mut ids),
            Err(CodecError::TooLarge { limit_bytes: 16 })
        );
    }

    proptest! {
        /// CH-9: arbitrary frames decode to a message or a typed error.
        #[test]
        fn ch_9_arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = SessionMessage::decode(&bytes);
        }
    }
}
