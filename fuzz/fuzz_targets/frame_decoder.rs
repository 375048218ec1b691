//! CH-2: the frame decoder, fed arbitrary bytes in arbitrary chunks, returns
//! frames within the limit or a typed error — never a panic — and never holds
//! more than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::channel::FrameDecoder;
use lockstep::channel::wire::SessionMessage;

const FRAME_BYTES_MAX: u32 = 4096;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, so splits are explored too.
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX);
    let mut pushed = 0;
    for piece in bytes.chunks(chunk) {
        decoder.push(piece);
        pushed += piece.len();
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(!frame.is_empty() && frame.len() <= FRAME_BYTES_MAX as usize);
                    // Whatever a frame holds, reading it as a session message is safe.
                    let _ = SessionMessage::decode(&frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(decoder.buffered_bytes() <= pushed);
    }
    let _ = decoder.finish();
});
