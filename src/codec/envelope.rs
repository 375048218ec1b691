//! The envelope's wire layout, written and read directly: the hot path of
//! every channel link (an envelope per message each way).
//!
//! Owns: [`encode_envelope`], [`decode_envelope_view`] (and
//! [`decode_envelope`], the view made owned), [`envelope_addresses`] and the
//! [`IdCache`] a link's decoder keeps.
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
    let sender = actor_encoding(envelope.sender());
    let dest = actor_encoding(envelope.dest().actor_id());
    let size = sender.len() + dest.len() + envelope_len_after_ids(envelope);
    if size as u64 > limit_bytes {
        return Err(CodecError::TooLarge { limit_bytes });
    }
    let mut out = Vec::with_capacity(headroom + size);
    out.resize(headroom, 0);
    out.extend_from_slice(sender);
    out.extend_from_slice(dest);
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
    decode_envelope_view(bytes, limit_bytes, ids).map(|view| view.to_envelope())
}

/// Decode an envelope from exactly `bytes` as a view that borrows from
/// them and from `ids`: the same checks and the same acceptance as
/// [`decode_envelope`] (CODEC-1, CODEC-2, CODEC-3), but recurring ids and
/// type names are lent from the cache and the payload from `bytes`, so a
/// decode costs no reference count and no allocation. What a link delivers
/// it delivers from the view; [`EnvelopeView::to_envelope`] makes the owned
/// envelope the rare paths keep (returning it, refusing it).
// Inlined: otherwise the view is handed back through memory, and reading it
// back stalled on the stores that wrote it (a tenth of a round trip, measured).
#[inline(always)]
pub fn decode_envelope_view<'a>(
    bytes: &'a [u8],
    limit_bytes: u64,
    ids: &'a mut IdCache,
) -> Result<EnvelopeView<'a>, CodecError> {
    if bytes.len() as u64 > limit_bytes {
        return Err(CodecError::TooLarge { limit_bytes });
    }
    let mut reader = Reader { bytes, at: 0 };
    let addresses = read_addresses(&mut reader, ids)?;
    let hint = &mut ids.hints.type_name;
    let type_name = ids.type_names.resolve(&mut reader, None, hint, |reader| {
        reader.str().map(Arc::<str>::from)
    })?;
    let payload = match reader.u32()? {
        PAYLOAD_SERIALIZED => Some(reader.bytes()?),
        PAYLOAD_LOCAL_ONLY => None,
        other => return Err(malformed(format!("unknown Payload variant {other}"))),
    };
    if reader.at != bytes.len() {
        return Err(malformed(format!(
            "{} trailing bytes",
            bytes.len() - reader.at
        )));
    }
    let ids: &'a IdCache = ids;
    Ok(EnvelopeView {
        sender: ids.actors.lend(addresses.sender, ids.hints.sender),
        dest: ids.actors.lend(addresses.dest, ids.hints.dest),
        port: addresses.port,
        seq_info: addresses.seq_info,
        type_name: ids.type_names.lend(type_name, ids.hints.type_name),
        payload,
    })
}

/// An envelope read in place: see [`decode_envelope_view`].
#[derive(Debug)]
pub struct EnvelopeView<'a> {
    sender: Lent<'a, ActorId>,
    dest: Lent<'a, ActorId>,
    port: u64,
    seq_info: SeqInfo,
    type_name: Lent<'a, Arc<str>>,
    /// `None` for a `LocalOnly` payload.
    payload: Option<&'a [u8]>,
}

impl EnvelopeView<'_> {
    /// The sending actor.
    pub fn sender(&self) -> &ActorId {
        &self.sender
    }

    /// The destination port's actor.
    pub fn dest_actor(&self) -> &ActorId {
        &self.dest
    }

    /// The destination port's index on its actor.
    pub fn dest_port(&self) -> u64 {
        self.port
    }

    /// How the message was sequenced.
    pub fn seq_info(&self) -> SeqInfo {
        self.seq_info
    }

    /// The message's type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The encoded message, or `None` for a local-only payload.
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload
    }

    /// The owned envelope with the same contents.
    pub fn to_envelope(&self) -> MessageEnvelope {
        let payload = match self.payload {
            Some(bytes) => Payload::Serialized(bytes.to_vec()),
            None => Payload::LocalOnly,
        };
        MessageEnvelope::new(
            ActorId::clone(&self.sender),
            ActorId::clone(&self.dest).into_port_id(self.port),
            Headers::new(self.seq_info),
            TypeName::Shared(Arc::clone(&self.type_name)),
            payload,
        )
    }
}

/// A value lent by an [`IdCache`], or decoded afresh when the cache does
/// not keep it (its encoding is over [`IdCache::ENCODING_BYTES_MAX`]).
#[derive(Debug)]
enum Lent<'a, T> {
    Cached(&'a T),
    Decoded(T),
}

impl<T> std::ops::Deref for Lent<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Lent::Cached(value) => value,
            Lent::Decoded(value) => value,
        }
    }
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
    let mut ids = IdCache::new();
    let addresses = read_addresses(&mut reader, &mut ids).ok()?;
    let type_name = reader.str().ok().map(str::to_owned);
    let sender = ActorId::clone(&ids.actors.lend(addresses.sender, ids.hints.sender));
    let dest = ActorId::clone(&ids.actors.lend(addresses.dest, ids.hints.dest))
        .into_port_id(addresses.port);
    Some((sender, dest, Headers::new(addresses.seq_info), type_name))
}

/// The envelope's leading fields, as read: its ids are in the cache (at
/// the sender and destination hints) unless read too large to keep.
struct Addresses {
    sender: Option<ActorId>,
    dest: Option<ActorId>,
    port: u64,
    seq_info: SeqInfo,
}

/// The envelope's leading fields: sender, destination and headers. The
/// destination's id never displaces the sender's from the cache, so both
/// can be lent together.
// Inlined: its result is large, and handing it back through memory cost a
// quarter of a decode (a store-to-load stall, measured).
#[inline(always)]
fn read_addresses(reader: &mut Reader<'_>, ids: &mut IdCache) -> Result<Addresses, CodecError> {
    let hints = &mut ids.hints;
    let sender = ids
        .actors
        .resolve(reader, None, &mut hints.sender, read_actor)?;
    let pinned = sender.is_none().then_some(hints.sender);
    let dest = ids
        .actors
        .resolve(reader, pinned, &mut hints.dest, read_actor)?;
    let port = reader.u64()?;
    let seq_info = match reader.u32()? {
        SEQ_DIRECT => SeqInfo::Direct,
        SEQ_SESSION => SeqInfo::Session {
            session_id: reader.u64()?,
            seq: reader.u64()?,
        },
        other => return Err(malformed(format!("unknown SeqInfo variant {other}"))),
    };
    Ok(Addresses {
        sender,
        dest,
        port,
        seq_info,
    })
}

/// An actor id read and validated (ID-2) from its encoding.
fn read_actor(reader: &mut Reader<'_>) -> Result<ActorId, CodecError> {
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
    proc_id
        .and_then(|proc_id| ActorId::new(proc_id, name, pid))
        .map_err(|error| malformed(error.to_string()))
}

/// Recently decoded actor ids and type names, each with the bytes it was
/// read from, so a decoder that sees the same senders, destinations and
/// message types over and over (a channel link) recognises them by a byte
/// comparison and lends them out instead of parsing, validating and
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
    /// Where each field was found last (see `Recent::resolve`).
    hints: Hints,
}

#[derive(Debug, Default)]
struct Hints {
    sender: usize,
    dest: usize,
    type_name: usize,
}

// A decode pins one slot while it fills another (`Recent::remember`).
const _: () = assert!(IdCache::CAPACITY >= 2);

impl IdCache {
    /// How many ids (and how many type names) a cache keeps.
    pub const CAPACITY: usize = 16;

    /// Longer encodings are decoded every time, never kept.
    pub const ENCODING_BYTES_MAX: usize = 512;

    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
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

impl<T> Recent<T> {
    /// The value the reader's input continues with, consumed: recognised by
    /// its encoding, or read by `read` and remembered (in a slot other than
    /// `pinned`). `Ok(None)`: it is in the cache, at slot `*hint`;
    /// `Ok(Some(value))`: read, and too large to keep.
    ///
    /// (A slot number rides in `hint` rather than in the result: a result
    /// holding it was handed back through memory in a way that stalled the
    /// loads reading it, a quarter of a decode, measured.)
    #[inline(always)]
    fn resolve(
        &mut self,
        reader: &mut Reader<'_>,
        pinned: Option<usize>,
        hint: &mut usize,
        read: impl FnOnce(&mut Reader<'_>) -> Result<T, CodecError>,
    ) -> Result<Option<T>, CodecError> {
        let rest = &reader.bytes[reader.at..];
        // The slot this field was found in last time is tried first: a
        // link's senders and destinations recur.
        let hinted = self
            .entries
            .get(*hint)
            .is_some_and(|(encoding, _)| starts_with(rest, encoding));
        let found = if hinted {
            Some(*hint)
        } else {
            self.entries
                .iter()
                .position(|(encoding, _)| starts_with(rest, encoding))
        };
        if let Some(slot) = found {
            reader.at += self.entries[slot].0.len();
            *hint = slot;
            return Ok(None);
        }
        let start = reader.at;
        let value = read(reader)?;
        let encoding = &reader.bytes[start..reader.at];
        Ok(self.remember(encoding, value, pinned, hint))
    }

    /// Keep `value` in a slot other than `pinned` and point `hint` at it;
    /// hands the value back if its encoding is too large to keep.
    fn remember(
        &mut self,
        encoding: &[u8],
        value: T,
        pinned: Option<usize>,
        hint: &mut usize,
    ) -> Option<T> {
        // A peer choosing huge names must not make every link hold them.
        if encoding.len() > IdCache::ENCODING_BYTES_MAX {
            return Some(value);
        }
        let entry = (encoding.into(), value);
        if self.entries.len() < IdCache::CAPACITY {
            self.entries.push(entry);
            *hint = self.entries.len() - 1;
            return None;
        }
        // One decode pins at most one slot, so the next one is free.
        if pinned == Some(self.next) {
            self.next = (self.next + 1) % IdCache::CAPACITY;
        }
        self.entries[self.next] = entry;
        *hint = self.next;
        self.next = (self.next + 1) % IdCache::CAPACITY;
        None
    }

    /// Lend what a resolution gave: the value read, or the one at `slot`.
    fn lend(&self, read: Option<T>, slot: usize) -> Lent<'_, T> {
        match read {
            Some(value) => Lent::Decoded(value),
            None => Lent::Cached(&self.entries[slot].1),
        }
    }
}

/// `rest.starts_with(prefix)`, with prefixes of up to 64 bytes (a link's
/// ids and type names) compared by a few overlapping 8- and 16-byte loads
/// instead of a call to `memcmp`, whose call and dispatch cost more than the
/// comparison at these sizes (three per decode, measured).
#[inline(always)]
fn starts_with(rest: &[u8], prefix: &[u8]) -> bool {
    fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
        bytes[at..at + N].try_into().expect("N bytes")
    }
    let length = prefix.len();
    let Some(rest) = rest.get(..length) else {
        return false;
    };
    match length {
        8..=16 => {
            word::<8>(rest, 0) == word::<8>(prefix, 0)
                && word::<8>(rest, length - 8) == word::<8>(prefix, length - 8)
        }
        17..=32 => {
            word::<16>(rest, 0) == word::<16>(prefix, 0)
                && word::<16>(rest, length - 16) == word::<16>(prefix, length - 16)
        }
        33..=64 => {
            word::<16>(rest, 0) == word::<16>(prefix, 0)
                && word::<16>(rest, 16) == word::<16>(prefix, 16)
                && word::<16>(rest, length - 32) == word::<16>(prefix, length - 32)
                && word::<16>(rest, length - 16) == word::<16>(prefix, length - 16)
        }
        _ => rest == prefix,
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
    #[inline]
    fn take(&mut self, count: usize) -> Result<&'a [u8], CodecError> {
        let remaining = self.bytes.len() - self.at;
        if count > remaining {
            return Err(self.short(count));
        }
        let taken = &self.bytes[self.at..self.at + count];
        self.at += count;
        Ok(taken)
    }

    /// The error for a claim of `count` bytes past the input (kept out of
    /// line: the readers above it are inlined into every field's read).
    #[cold]
    #[inline(never)]
    fn short(&self, count: usize) -> CodecError {
        let remaining = self.bytes.len() - self.at;
        malformed(format!(
            "needs {count} bytes at offset {}, {remaining} remain",
            self.at
        ))
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline]
    fn u32(&mut self) -> Result<u32, CodecError> {
        self.array().map(u32::from_le_bytes)
    }

    #[inline]
    fn u64(&mut self) -> Result<u64, CodecError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length-prefixed byte string; the length is checked against what
    /// remains before anything is taken (CODEC-1).
    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let claimed = self.u64()?;
        let count = usize::try_from(claimed)
            .map_err(|_| malformed(format!("length {claimed} does not fit in memory")))?;
        self.take(count)
    }

    #[inline]
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

/// The encoded size of everything after the two ids.
fn envelope_len_after_ids(envelope: &MessageEnvelope) -> usize {
    let seq_info = match envelope.headers().seq_info() {
        SeqInfo::Direct => 4,
        SeqInfo::Session { .. } => 4 + 16,
    };
    let payload = match envelope.payload() {
        Payload::Serialized(bytes) => 4 + 8 + bytes.len(),
        Payload::LocalOnly => 4,
    };
    8 + seq_info + str_len(envelope.type_name()) + payload
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

        /// CODEC-3 through a busy cache: a stream of envelopes whose ids come
        /// from a pool larger than the cache (so ids are recognised, evicted
        /// and read again, and a destination's miss lands while its sender
        /// is lent) decodes, as views and as envelopes, each to itself.
        #[test]
        fn codec_3_a_stream_through_one_cache_decodes_each_envelope_to_itself(
            pool in proptest::collection::vec(actor(), 1..40),
            picks in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u64>()), 1..80),
        ) {
            let mut ids = IdCache::new();
            for (sender, dest, port) in picks {
                let envelope = MessageEnvelope::new(
                    pool[sender % pool.len()].clone(),
                    pool[dest % pool.len()].port_id(port),
                    Headers::new(SeqInfo::Session { session_id: port, seq: 1 }),
                    "u64",
                    Payload::Serialized(port.to_le_bytes().to_vec()),
                );
                let bytes = encode_envelope(&envelope, LIMIT, 0).unwrap();
                let view = decode_envelope_view(&bytes, LIMIT, &mut ids).unwrap();
                prop_assert_eq!(view.sender(), envelope.sender());
                prop_assert_eq!(view.dest_actor(), envelope.dest().actor_id());
                prop_assert_eq!(view.dest_port(), port);
                prop_assert_eq!(view.seq_info(), envelope.headers().seq_info());
                prop_assert_eq!(view.type_name(), "u64");
                prop_assert_eq!(view.payload(), Some(&port.to_le_bytes()[..]));
                prop_assert_eq!(view.to_envelope(), envelope);
            }
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

    /// A full cache where the sender sits in the very slot the next miss
    /// would take: the destination's miss takes another, so the view lends
    /// the right sender (without the pin it would lend the destination).
    #[test]
    fn a_destination_never_displaces_its_sender_from_the_cache() {
        let proc_id = ProcId::local("p").unwrap();
        let mut ids = IdCache::new();
        let filler: Vec<ActorId> = (0..IdCache::CAPACITY as u64)
            .map(|pid| proc_id.actor_id("a", pid).unwrap())
            .collect();
        for id in &filler {
            let envelope = MessageEnvelope::new(
                id.clone(),
                id.port_id(0),
                Headers::default(),
                "u64",
                Payload::LocalOnly,
            );
            let bytes = encode_envelope(&envelope, LIMIT, 0).unwrap();
            decode_envelope_view(&bytes, LIMIT, &mut ids).unwrap();
        }
        assert_eq!(ids.actors.entries.len(), IdCache::CAPACITY);
        assert_eq!(ids.actors.next, 0, "the next miss would take slot 0");
        let newcomer = proc_id.actor_id("b", 0).unwrap();
        let envelope = MessageEnvelope::new(
            filler[0].clone(),
            newcomer.port_id(1),
            Headers::default(),
            "u64",
            Payload::LocalOnly,
        );
        let bytes = encode_envelope(&envelope, LIMIT, 0).unwrap();
        let view = decode_envelope_view(&bytes, LIMIT, &mut ids).unwrap();
        assert_eq!(view.sender(), &filler[0]);
        assert_eq!(view.dest_actor(), &newcomer);
        assert_eq!(ids.actors.entries[0].1, filler[0], "slot 0 kept its sender");
        assert_eq!(ids.actors.entries[1].1, newcomer);
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

    /// The cache's comparison agrees with `<[u8]>::starts_with` at every
    /// prefix length it special-cases and around their edges: a prefix is
    /// found in input that continues it, and not found when any one of its
    /// bytes differs or the input is shorter (ID-2 and CODEC-3 rest on
    /// this: a false match would hand out another id).
    #[test]
    fn id_2_the_cache_comparison_is_starts_with_at_every_length() {
        for length in 0..=80usize {
            let prefix: Vec<u8> = (0..length).map(|at| (at * 7 + 1) as u8).collect();
            let mut rest = prefix.clone();
            rest.extend_from_slice(b"more");
            assert!(starts_with(&rest, &prefix), "length {length}: equal");
            assert!(starts_with(&prefix, &prefix), "length {length}: exact");
            if length > 0 {
                assert!(
                    !starts_with(&prefix[..length - 1], &prefix),
                    "length {length}: short"
                );
            }
            for changed in 0..length {
                let mut different = rest.clone();
                different[changed] ^= 0x80;
                assert!(
                    !starts_with(&different, &prefix),
                    "length {length}: byte {changed} differs"
                );
            }
        }
    }
}
