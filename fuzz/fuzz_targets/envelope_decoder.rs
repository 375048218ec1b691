//! CH-9 / CODEC-1 / CODEC-2: decoding an envelope from untrusted bytes never
//! panics and never allocates beyond the limit; what decodes re-encodes; the
//! cached decoder accepts exactly what the derived one accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::channel::wire::decode_envelope;
use lockstep::{IdCache, MessageEnvelope};

const MESSAGE_BYTES_MAX: u64 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut ids = IdCache::new();
    let derived = lockstep::codec::decode::<MessageEnvelope>(data, MESSAGE_BYTES_MAX).ok();
    let cached = decode_envelope(data, MESSAGE_BYTES_MAX, &mut ids).ok();
    assert_eq!(cached, derived);
    if let Some(envelope) = cached {
        let bytes = lockstep::codec::encode(&envelope, MESSAGE_BYTES_MAX).expect("re-encodes");
        assert_eq!(
            decode_envelope(&bytes, MESSAGE_BYTES_MAX, &mut ids).as_ref(),
            Ok(&envelope)
        );
    }
});
