//! CH-9 / CODEC-1 / CODEC-2: decoding an envelope from untrusted bytes never
//! panics and never allocates beyond the limit; what decodes re-encodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::channel::wire::decode_envelope;

const MESSAGE_BYTES_MAX: u64 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = decode_envelope(data, MESSAGE_BYTES_MAX) {
        let bytes = lockstep::codec::encode(&envelope, MESSAGE_BYTES_MAX).expect("re-encodes");
        assert_eq!(
            decode_envelope(&bytes, MESSAGE_BYTES_MAX).as_ref(),
            Ok(&envelope)
        );
    }
});
