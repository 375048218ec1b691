//! Wire encoding: the only module that knows the format (bincode 1.3).
//!
//! Owns: encoding and decoding values with an explicit size limit.
//!
//! CODEC-1: decoding never reads or allocates more than the limit, whatever
//! lengths the bytes claim; it fails with [`CodecError`] instead.
//! CODEC-2: decoding untrusted bytes never panics.
//! CODEC-3 ([`encode_envelope`], [`decode_envelope`], [`decode_envelope_view`]):
//! the envelope, which every link message is, is written and read directly,
//! in exactly the layout bincode gives it.

mod envelope;

pub use envelope::{
    EnvelopeView, IdCache, decode_envelope, decode_envelope_view, encode_envelope,
    envelope_addresses,
};

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The default limit for one encoded message: 8 MiB.
pub const MESSAGE_BYTES_MAX_DEFAULT: u64 = 8 * 1024 * 1024;

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The encoded form would exceed (or claims to exceed) the limit.
    #[error("encoded size exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// The limit in force.
        limit_bytes: u64,
    },
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed {type_name}: {reason}")]
    Malformed {
        /// The type being decoded.
        type_name: &'static str,
        /// What the decoder found.
        reason: String,
    },
}

fn options(limit_bytes: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(limit_bytes)
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

fn classify<T: ?Sized>(error: &bincode::ErrorKind, limit_bytes: u64) -> CodecError {
    match error {
        bincode::ErrorKind::SizeLimit => CodecError::TooLarge { limit_bytes },
        other => CodecError::Malformed {
            type_name: std::any::type_name::<T>(),
            reason: other.to_string(),
        },
    }
}

/// Encode `value`, failing if it would exceed `limit_bytes`.
pub fn encode<T: Serialize + ?Sized>(value: &T, limit_bytes: u64) -> Result<Vec<u8>, CodecError> {
    let classify = |error: bincode::Error| classify::<T>(&error, limit_bytes);
    let size = options(limit_bytes)
        .serialized_size(value)
        .map_err(classify)?;
    let mut bytes = Vec::with_capacity(size as usize);
    // Already sized within the limit: write without sizing it again.
    options(limit_bytes)
        .with_no_limit()
        .serialize_into(&mut bytes, value)
        .map_err(classify)?;
    Ok(bytes)
}

/// Decode a `T` from exactly `bytes`, bounded by `limit_bytes` (CODEC-1, CODEC-2).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit_bytes: u64) -> Result<T, CodecError> {
    if bytes.len() as u64 > limit_bytes {
        return Err(CodecError::TooLarge { limit_bytes });
    }
    options(limit_bytes)
        .deserialize(bytes)
        .map_err(|error| classify::<T>(&error, limit_bytes))
}

/// Serde adapter that writes a `Vec<u8>` as one byte string (a bulk copy)
/// rather than a sequence of integers. Use with `#[serde(with = "lockstep::codec::bytes")]`.
pub mod bytes {
    use serde::{Deserializer, Serializer};

    /// Serialize as a byte string.
    pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(value)
    }

    /// Deserialize a byte string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E>(self, value: &[u8]) -> Result<Vec<u8>, E> {
                Ok(value.to_vec())
            }
            fn visit_byte_buf<E>(self, value: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(value)
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn codec_1_claimed_length_beyond_limit_is_rejected_without_allocating() {
        // A Vec<u8> whose length prefix claims 2^60 bytes.
        let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        // Reaching this line at all shows nothing tried to allocate 2^60 bytes.
        let result = decode::<Vec<u8>>(&bytes, 1024);
        assert!(
            matches!(
                result,
                Err(CodecError::TooLarge { .. } | CodecError::Malformed { .. })
            ),
            "{result:?}"
        );
        // The same claim inside the limit's reach is refused by the limit.
        assert_eq!(
            decode::<Vec<u8>>(&[0u8; 2048], 1024),
            Err(CodecError::TooLarge { limit_bytes: 1024 })
        );
    }

    #[test]
    fn encode_respects_the_limit() {
        assert_eq!(
            encode(&vec![0u8; 100], 50),
            Err(CodecError::TooLarge { limit_bytes: 50 })
        );
        let bytes = encode(&(7u64, "hi".to_string()), 1024).unwrap();
        assert_eq!(
            decode::<(u64, String)>(&bytes, 1024).unwrap(),
            (7, "hi".into())
        );
    }

    proptest! {
        /// CODEC-2: arbitrary bytes decode to a value or an error, never a panic.
        #[test]
        fn codec_2_decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<(u64, String, Vec<u8>, Option<u32>)>(&bytes, 4096);
        }
    }
}
