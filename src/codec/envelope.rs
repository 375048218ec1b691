//! The envelope's wire layout, written and read directly: the hot path of
//! every channel link (an envelope per message each way).
//!
//! Owns: [`encode_envelope`], [`decode_envelope`], [`envelope_addresses`]
//! and the [`IdCache`] a link's decoder keeps.
//!
//! CODEC-3: the layout is the one bincode gives `MessageEnvelope`'s derived
//! `Serialize` under [`super`]'s options, byte for byte: `encode_envelope`
//! writes exactly what `codec::encode` writes, and `decode_envelope` accepts
//! exactly the bytes the derived decoder accepts, as the same envelope (the
//! property tests below check both against bincode). Doing it by hand is what
//! makes it cheap: one pass to write, no serde visitor per field, ids and type
//! names recognised by their bytes instead of being parsed and validated again.
//! CODEC-1 and CODEC-2 hold as for every decoder here: nothing past the input
//! is read, no length claim is allocated before it is checked against the
//! bytes that remain, and no input panics.
//!
//! The layout (little-endian, fixed-width integers; `str` and byte strings are
//! a `u64` length and the bytes; `Option` a `u8` tag; enum variants a `u32`):
//!
//! ```text
//! envelope = sender:actor dest:actor port:u64 seq_info type_name:str payload
//! actor    = proc_name:str address:(0 | 1 str) name:str pid:u64
//! seq_info = 0 (Direct) | 1 session_id:u64 seq:u64 (Session)
//! payload  = 0 bytes:str (Serialized) | 1 (LocalOnly)
//! ```

use std::sync::Arc;

use super::CodecError;
use crate::id::{ActorId, PortId, ProcId};
use crate::mailbox::{Headers, MessageEnvelope, Payload, TypeName};
use crate::sequencing::SeqInfo;

const OPTION_NONE: u8 = 0;
const OPTION_SOME: u8 = 1;
const SEQ_DIRECT: u32 = 0;
const SEQ_SESSION: u32 = 1;
const PAYLOAD_SERIALIZED: u32 = 0;
const PAYLOAD_LOCAL_ONLY: u32 = 1;

/// Encode `envelope` after `headroom` zero bytes a caller will fill in (a
/// frame header); fails if the encoding alone would exceed `limit_bytes`.
pub fn encode_envelope(
    envelope: &MessageEnvelope,
    limit_bytes: u64,
    headroom: usize,
) -> Result<Vec<u8>, CodecError> {
    let size = envelope_len(envelope);
    if size as u64 > limit_bytes {
        return Err(CodecError::TooLarge { limit_bytes });
    }
    let mut out = Vec::with_capacity(headroom + size);
    out.resize(headroom, 0);
    out.extend_from_slice(actor_encoding(envelope.sender()));
    out.extend_from_slice(actor_encoding(envelope.dest().actor_id()));
    put_u64(&mut out, envelope.dest().index());
    match envelope.headers().seq_info() {
        SeqInfo::Direct => put_u32(&mut out, SEQ_DIRECT),
        SeqInfo::Session { session_id, seq } => {
            put_u32(&mut out, SEQ_SESSION);
            put_u64(&mut out, session_id);
            put_u64(&mut out, seq);
        }
    }
    put_str(&mut out, envelope.type_name().as_bytes());
    match envelope.payload() {
        Payload::Serialized(bytes) => {
            put_u32(&mut out, PAYLOAD_SERIALIZED);
            put_str(&mut out, bytes);
        }
        Payload::LocalOnly => put_u32(&mut out, PAYLOAD_LOCAL_ONLY),
    }
    debug_assert_eq!(out.len(), headroom + size);
    Ok(out)
}

/// Decode an envelope from exactly `bytes`, bounded by `limit_bytes`
/// (CODEC-1, CODEC-2, CODEC-3). Ids are validated as they are read (ID-2);
/// ids and type names `ids` has seen recently are recognised by their bytes
/// and handed out as clones.
pub fn decode_envelope(
    bytes: &[u8],
    limit_bytes: u64,
    ids: &mut IdCache,
) -> Result<MessageEnvelope, CodecError> {
    if bytes.len() as u64 > limit_bytes {
        return Err(CodecError::TooLarge { limit_bytes });
    }
    let mut reader = Reader { bytes, at: 0 };
    let (sender, dest, headers) = read_addresses(&mut reader, ids)?;
    let type_name = ids.type_name(&mut reader)?;
    let payload = match reader.u32()? {
        PAYLOAD_SERIALIZED => Payload::Serialized(reader.bytes()?.to_vec()),
        PAYLOAD_LOCAL_ONLY => Payload::LocalOnly,
        other => return Err(malformed(format!("unknown Payload variant {other}"))),
    };
    if reader.at != bytes.len() {
        return Err(malformed(format!(
            "{} trailing bytes",
            bytes.len() - reader.at
        )));
    }
    Ok(MessageEnvelope::new(
        sender, dest, headers, type_name, payload,
    ))
}

/// What can still be read of an envelope that does not decode whole (too
/// large for this proc, or malformed past its addresses): who sent it, to
/// where, how it was sequenced, and its type name if that much is readable.
/// `None` when not even the addresses are (not an envelope at all). Reads
/// at most `limit_bytes` of the input (CODEC-1, CODEC-2).
pub fn envelope_addresses(
    bytes: &[u8],
    limit_bytes: u64,
) -> Option<(ActorId, PortId, Headers, Option<String>)> {
    let readable = usize::try_from(limit_bytes).map_or(bytes.len(), |limit| limit.min(bytes.len()));
    let mut reader = Reader {
        bytes: &bytes[..readable],
        at: 0,
    };
    let (sender, dest, headers) = read_addresses(&mut reader, &mut IdCache::new()).ok()?;
    let type_name = reader.str().ok().map(str::to_owned);
    Some((sender, dest, headers, type_name))
}

/// The envelope's leading fields: sender, destination and headers.
fn read_addresses(
    reader: &mut Reader<'_>,
    ids: &mut IdCache,
) -> Result<(ActorId, PortId, Headers), CodecError> {
    let sender = ids.actor(reader)?;
    let dest = ids.actor(reader)?.into_port_id(reader.u64()?);
    let seq_info = match reader.u32()? {
        SEQ_DIRECT => SeqInfo::Direct,
        SEQ_SESSION => SeqInfo::Session {
            session_id: reader.u64()?,
            seq: reader.u64()?,
        },
        other => return Err(malformed(format!("unknown SeqInfo variant {other}"))),
    };
    Ok((sender, dest, Headers::new(seq_info)))
}

/// Recently decoded actor ids and type names, each with the bytes it was
/// read from, so a decoder that sees the same senders, destinations and
/// message types over and over (a channel link) recognises them by a byte
/// comparison and hands out clones instead of parsing, validating and
/// allocating them again for every message.
///
/// A pure cache: a hit is exactly what decoding those bytes would give
/// (the layout is self-delimiting, and what was cached passed validation),
/// so whether an id came from it never changes behaviour. Holds at most
/// [`IdCache::CAPACITY`] ids and as many type names, each encoded in at most
/// [`IdCache::ENCODING_BYTES_MAX`] bytes.
#[derive(Debug, Default)]
pub struct IdCache {
    actors: Recent<ActorId>,
    type_names: Recent<Arc<str>>,
}

impl IdCache {
    /// How many ids (and how many type names) a cache keeps.
    pub const CAPACITY: usize = 16;

    /// Longer encodings are decoded every time, never kept.
    pub const ENCODING_BYTES_MAX: usize = 512;

    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn actor(&mut self, reader: &mut Reader<'_>) -> Result<ActorId, CodecError> {
        if let Some(id) = self.actors.find(reader) {
            return Ok(id);
        }
        let start = reader.at;
        let proc_name = reader.str()?;
        let address = match reader.u8()? {
            OPTION_NONE => None,
            OPTION_SOME => Some(reader.str()?),
            tag => return Err(malformed(format!("invalid Option tag {tag}"))),
        };
        let name = reader.str()?;
        let pid = reader.u64()?;
        let proc_id = match address {
            Some(address) => ProcId::remote(proc_name, address),
            None => ProcId::local(proc_name),
        };
        let id = proc_id
            .and_then(|proc_id| ActorId::new(proc_id, name, pid))
            .map_err(|error| malformed(error.to_string()))?;
        self.actors
            .remember(&reader.bytes[start..reader.at], id.clone());
        Ok(id)
    }

    fn type_name(&mut self, reader: &mut Reader<'_>) -> Result<TypeName, CodecError> {
        if let Some(name) = self.type_names.find(reader) {
            return Ok(TypeName::Shared(name));
        }
        let start = reader.at;
        let name: Arc<str> = reader.str()?.into();
        self.type_names
            .remember(&reader.bytes[start..reader.at], name.clone());
        Ok(TypeName::Shared(name))
    }
}

/// Values remembered with their encodings, replaced round robin once full.
#[derive(Debug)]
struct Recent<T> {
    entries: Vec<(Box<[u8]>, T)>,
    /// The slot the next miss overwrites once full.
    next: usize,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            next: 0,
        }
    }
}

impl<T: Clone> Recent<T> {
    /// The value whose encoding the reader's input continues with, consumed.
    fn find(&self, reader: &mut Reader<'_>) -> Option<T> {
        let rest = &reader.bytes[reader.at..];
        let (encoding, value) = self
            .entries
            .iter()
            .find(|(encoding, _)| rest.starts_with(encoding))?;
        reader.at += encoding.len();
        Some(value.clone())
    }

    fn remember(&mut self, encoding: &[u8], value: T) {
        // A peer choosing huge names must not make every link hold them.
        if encoding.len() > IdCache::ENCODING_BYTES_MAX {
            return;
        }
        let entry = (encoding.into(), value);
        if self.entries.len() < IdCache::CAPACITY {
            self.entries.push(entry);
        } else {
            self.entries[self.next] = entry;
            self.next = (self.next + 1) % IdCache::CAPACITY;
        }
    }
}

fn malformed(reason: String) -> CodecError {
    CodecError::Malformed {
        type_name: std::any::type_name::<MessageEnvelope>(),
        reason,
    }
}

/// A cursor over untrusted bytes; every read checks what remains (CODEC-2).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next `count` bytes. The whole input is within the limit (checked
    /// before reading), so a claim past its end is `Malformed` whatever its
    /// size: the bytes lie about their length. (Bincode answers `TooLarge`
    /// for some such claims and `Malformed` for others; CODEC-3 is about
    /// which inputs decode, not which words a refusal uses.)
    fn take(&mut self, count: usize) -> Result<&'a [u8], CodecError> {
        let remaining = self.bytes.len() - self.at;
        if count > remaining {
            return Err(malformed(format!(
                "needs {count} bytes at offset {}, {remaining} remain",
                self.at
            )));
        }
        let taken = &self.bytes[self.at..self.at + count];
        self.at += count;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length-prefixed byte string; the length is checked against what
    /// remains before anything is taken (CODEC-1).
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let claimed = self.u64()?;
        let count = usize::try_from(claimed)
            .map_err(|_| malformed(format!("length {claimed} does not fit in memory")))?;
        self.take(count)
    }

    fn str(&mut self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.bytes()?).map_err(|error| malformed(error.to_string()))
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The id's encoding, made on first use and kept on the id.
fn actor_encoding(id: &ActorId) -> &[u8] {
    id.encoded(|id| {
        let mut encoding = Vec::with_capacity(actor_len(id));
        write_actor(&mut encoding, id);
        encoding.into()
    })
}

fn write_actor(out: &mut Vec<u8>, id: &ActorId) {
    let proc_id = id.proc_id();
    put_str(out, proc_id.name().as_bytes());
    match proc_id.address() {
        None => out.push(OPTION_NONE),
        Some(address) => {
            out.push(OPTION_SOME);
            put_str(out, address.as_bytes());
        }
    }
    put_str(out, id.name().as_bytes());
    put_u64(out, id.pid());
}

fn str_len(text: &str) -> usize {
    8 + text.len()
}

fn actor_len(id: &ActorId) -> usize {
    let proc_id = id.proc_id();
    str_len(proc_id.name()) + 1 + proc_id.address().map_or(0, str_len) + str_len(id.name()) + 8
}

fn envelope_len(envelope: &MessageEnvelope) -> usize {
    let seq_info = match envelope.headers().seq_info() {
        SeqInfo::Direct => 4,
        SeqInfo::Session { .. } => 4 + 16,
    };
    let payload = match envelope.payload() {
        Payload::Serialized(bytes) => 4 + 8 + bytes.len(),
        Payload::LocalOnly => 4,
    };
    actor_encoding(envelope.sender()).len()
        + actor_encoding(envelope.dest().actor_id()).len()
        + 8
        + seq_info
        + str_len(envelope.type_name())
        + payload
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec;

    const LIMIT: u64 = 1 << 20;

    fn name() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,6}"
    }

    fn actor() -> impl Strategy<Value = ActorId> {
        (
            name(),
            proptest::option::of("tcp:[0-9.]{1,9}"),
            name(),
            any::<u64>(),
        )
            .prop_map(|(proc_name, address, name, pid)| {
                let proc_id = match address {
                    Some(address) => ProcId::remote(&proc_name, &address),
                    None => ProcId::local(&proc_name),
                }
                .unwrap();
                ActorId::new(proc_id, &name, pid).unwrap()
            })
    }

    fn envelope() -> impl Strategy<Value = MessageEnvelope> {
        (
            actor(),
            actor(),
            any::<u64>(),
            proptest::option::of((any::<u64>(), any::<u64>())),
            "[a-z:<>]{0,20}",
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        )
            .prop_map(|(sender, dest, port, session, type_name, payload)| {
                let seq_info = match session {
                    Some((session_id, seq)) => SeqInfo::Session { session_id, seq },
                    None => SeqInfo::Direct,
                };
                MessageEnvelope::new(
                    sender,
                    dest.port_id(port),
                    Headers::new(seq_info),
                    type_name,
                    payload.map_or(Payload::LocalOnly, Payload::Serialized),
                )
            })
    }

    proptest! {
        /// CODEC-3: the direct encoder writes bincode's bytes for the derived
        /// `Serialize`, after the requested headroom, on an id's first use
        /// and from its kept encoding afterwards.
        #[test]
        fn codec_3_encoding_is_bincodes_layout_byte_for_byte(envelope in envelope(), headroom in 0usize..12) {
            let direct = encode_envelope(&envelope, LIMIT, headroom).unwrap();
            prop_assert_eq!(&direct[..headroom], &vec![0u8; headroom][..]);
            prop_assert_eq!(&direct[headroom..], &codec::encode(&envelope, LIMIT).unwrap()[..]);
            // Again, from the encodings the ids now keep.
            prop_assert_eq!(encode_envelope(&envelope, LIMIT, headroom).unwrap(), direct);
        }

        /// CODEC-3: every encoding decodes to the same envelope, through a
        /// cold cache and again through the warm one.
        #[test]
        fn codec_3_every_envelope_round_trips_cold_and_warm(envelope in envelope()) {
            let bytes = encode_envelope(&envelope, LIMIT, 0).unwrap();
            let mut ids = IdCache::new();
            prop_assert_eq!(decode_envelope(&bytes, LIMIT, &mut ids).unwrap(), envelope.clone());
            prop_assert_eq!(decode_envelope(&bytes, LIMIT, &mut ids).unwrap(), envelope.clone());
        }

        /// CH-13: the addresses of an envelope are read even when the limit
        /// cuts it short (too large to take) — and its type name when the
        /// limit still covers it.
        #[test]
        fn addresses_are_read_from_an_envelope_too_large_to_take(envelope in envelope(), cut in 0usize..64) {
            let bytes = encode_envelope(&envelope, LIMIT, 0).unwrap();
            let type_name_end = bytes.len() - match envelope.payload() {
                Payload::Serialized(payload) => 12 + payload.len(),
                Payload::LocalOnly => 4,
            };
            let limit = type_name_end.saturating_sub(cut) as u64;
            let (sender, dest, headers, type_name) = match envelope_addresses(&bytes, limit) {
                Some(addresses) => addresses,
                None => {
                    // Only when the limit cuts into the addresses themselves.
                    prop_assert!(limit < (type_name_end - 8 - envelope.type_name().len()) as u64);
                    return Ok(());
                }
            };
            prop_assert_eq!(&sender, envelope.sender());
            prop_assert_eq!(&dest, envelope.dest());
            prop_assert_eq!(&headers, envelope.headers());
            prop_assert_eq!(type_name.is_some(), cut == 0);
            if let Some(type_name) = type_name {
                prop_assert_eq!(type_name, envelope.type_name());
            }
        }

        /// CODEC-2, CODEC-3: bytes flipped, cut or extended decode exactly
        /// when bincode's derived decoder decodes them, to the same envelope,
        /// whether the cache is cold or warm — and never panic.
        #[test]
        fn codec_3_damaged_bytes_are_accepted_exactly_when_bincode_accepts_them(
            envelope in envelope(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in any::<usize>(),
            extra in proptest::collection::vec(any::<u8>(), 0..3),
            slack in 0u64..24,
        ) {
            let original = encode_envelope(&envelope, LIMIT, 0).unwrap();
            let mut bytes = original.clone();
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            bytes.extend_from_slice(&extra);
            // A limit near the input's length, where reads run into it.
            let limit = original.len() as u64 + slack;
            let derived = codec::decode::<MessageEnvelope>(&bytes, limit).ok();
            let mut warm = IdCache::new();
            decode_envelope(&original, LIMIT, &mut warm).unwrap();
            prop_assert_eq!(decode_envelope(&bytes, limit, &mut warm).ok(), derived.clone());
            prop_assert_eq!(decode_envelope(&bytes, limit, &mut IdCache::new()).ok(), derived);
        }
    }

    #[test]
    fn codec_1_limits_bound_both_directions() {
        let sender = ProcId::local("a").unwrap().actor_id("s", 0).unwrap();
        let envelope = MessageEnvelope::new(
            sender.clone(),
            sender.port_id(1),
            Headers::default(),
            "u64",
            Payload::Serialized(vec![0; 100]),
        );
        assert_eq!(
            encode_envelope(&envelope, 64, 0),
            Err(CodecError::TooLarge { limit_bytes: 64 })
        );
        let bytes = encode_envelope(&envelope, LIMIT, 0).unwrap();
        assert_eq!(
            decode_envelope(&bytes, 64, &mut IdCache::new()),
            Err(CodecError::TooLarge { limit_bytes: 64 })
        );
        // A payload length claiming more than the input holds, far more or
        // just one byte more, is refused as malformed before anything is
        // allocated for it.
        let mut claim = bytes.clone();
        let at = claim.len() - 100 - 8;
        for claimed in [1u64 << 60, 101] {
            claim[at..at + 8].copy_from_slice(&claimed.to_le_bytes());
            assert!(matches!(
                decode_envelope(&claim, LIMIT, &mut IdCache::new()),
                Err(CodecError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn a_cache_keeps_no_encoding_over_its_bound_and_still_decodes_it() {
        let proc_id = ProcId::local("p").unwrap();
        let long_name = "t".repeat(IdCache::ENCODING_BYTES_MAX);
        let envelope = MessageEnvelope::new(
            proc_id.actor_id("s", 0).unwrap(),
            proc_id.actor_id("d", 0).unwrap().port_id(1),
            Headers::default(),
            long_name.clone(),
            Payload::LocalOnly,
        );
        let bytes = encode_envelope(&envelope, LIMIT, 0).unwrap();
        let mut ids = IdCache::new();
        for _ in 0..2 {
            assert_eq!(decode_envelope(&bytes, LIMIT, &mut ids).unwrap(), envelope);
        }
        assert_eq!(ids.actors.entries.len(), 2);
        assert!(
            ids.type_names.entries.is_empty(),
            "a {long_name:.8}… name was kept"
        );
    }

    #[test]
    fn id_2_a_cached_id_is_never_matched_by_a_different_one() {
        let proc_id = ProcId::local("p").unwrap();
        let first = proc_id.actor_id("worker", 1).unwrap();
        // Same bytes up to the pid: the cache must compare the pid too.
        let second = proc_id.actor_id("worker", 2).unwrap();
        let envelope = |sender: &ActorId| {
            MessageEnvelope::new(
                sender.clone(),
                first.port_id(3),
                Headers::default(),
                "u64",
                Payload::LocalOnly,
            )
        };
        let mut ids = IdCache::new();
        for sender in [&first, &second, &first] {
            let bytes = encode_envelope(&envelope(sender), LIMIT, 0).unwrap();
            let decoded = decode_envelope(&bytes, LIMIT, &mut ids).unwrap();
            assert_eq!(decoded.sender(), sender);
        }
    }
}
