//! CH-9 / CODEC-1 / CODEC-2: decoding an envelope from untrusted bytes never
//! panics and never allocates beyond the limit; what decodes re-encodes, and
//! the direct encoder writes bincode's bytes (CODEC-3); the direct, cached
//! decoder accepts exactly what bincode's derived one accepts; reading the
//! addresses of an envelope that does not decode whole (CH-13) never panics,
//! and agrees with the whole decode when there is one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::channel::wire::{decode_envelope, envelope_addresses};
use lockstep::{IdCache, MessageEnvelope};

const MESSAGE_BYTES_MAX: u64 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut ids = IdCache::new();
    let derived = lockstep::codec::decode::<MessageEnvelope>(data, MESSAGE_BYTES_MAX).ok();
    let cached = decode_envelope(data, MESSAGE_BYTES_MAX, &mut ids).ok();
    assert_eq!(cached, derived);
    let addresses = envelope_addresses(data, MESSAGE_BYTES_MAX);
    if let Some(envelope) = &cached {
        let (sender, dest, headers, type_name) = addresses.expect("a whole envelope has addresses");
        assert_eq!(&sender, envelope.sender());
        assert_eq!(&dest, envelope.dest());
        assert_eq!(&headers, envelope.headers());
        assert_eq!(type_name.as_deref(), Some(envelope.type_name()));
    }
    if let Some(envelope) = cached {
        let bytes = lockstep::codec::encode(&envelope, MESSAGE_BYTES_MAX).expect("re-encodes");
        let direct = lockstep::codec::encode_envelope(&envelope, MESSAGE_BYTES_MAX, 0);
        assert_eq!(direct.as_ref(), Ok(&bytes));
        assert_eq!(
            decode_envelope(&bytes, MESSAGE_BYTES_MAX, &mut ids).as_ref(),
            Ok(&envelope)
        );
    }
});
