//! Framing: length-prefixed frames over a byte stream.
//!
//! Owns: the frame layout (a 4-byte big-endian length, then that many bytes),
//! the hard size limit, the pure [`FrameDecoder`], and [`stream_link`], which
//! turns any async byte stream (TCP, Unix, an in-memory pipe) into a [`Link`].
//! Does not own: what a frame means (see `wire`) or sessions (see `session`).
//!
//! CH-2: a frame longer than `frame_bytes_max`, or empty, is a [`FrameError`];
//! the link that carried it is closed. The decoder's memory grows only with
//! bytes actually received — never with a length a peer claims — so it holds
//! at most `frame_bytes_max + FRAME_HEADER_BYTES + READ_CHUNK_BYTES` bytes.
//! CH-3: writes are coalesced: a batch of frames is written into one buffer and
//! flushed once, not once per frame.

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::link::{FrameRx, FrameTx, Link};
use super::{ChannelAddr, ChannelError};

/// Bytes of the length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;

/// How much one read asks the byte stream for.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Above this, a batch being written is handed to the stream before the rest
/// is encoded (bounds the write buffer); the flush still happens once (CH-3).
const WRITE_BUFFER_BYTES_SOFT_MAX: usize = 256 * 1024;

/// Why bytes are not a valid frame stream (CH-2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A length prefix beyond the limit (nothing was allocated for it).
    #[error("frame of {claimed_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// The length the prefix claims (or the frame to be written has).
        claimed_bytes: u64,
        /// The limit in force.
        limit_bytes: u32,
    },
    /// A length prefix of zero: no frame is empty.
    #[error("empty frame (length prefix 0)")]
    Empty,
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame: {buffered_bytes} bytes of an unfinished frame")]
    Truncated {
        /// Bytes of the unfinished frame (prefix included) that did arrive.
        buffered_bytes: usize,
    },
}

/// Append one frame (prefix and payload) to `buffer`.
pub fn encode_frame(
    payload: &[u8],
    frame_bytes_max: u32,
    buffer: &mut Vec<u8>,
) -> Result<(), FrameError> {
    if payload.is_empty() {
        return Err(FrameError::Empty);
    }
    if payload.len() as u64 > u64::from(frame_bytes_max) {
        return Err(FrameError::TooLarge {
            claimed_bytes: payload.len() as u64,
            limit_bytes: frame_bytes_max,
        });
    }
    buffer.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buffer.extend_from_slice(payload);
    Ok(())
}

/// Splits a byte stream into frames. Pure: feed it bytes, take frames out.
///
/// After an error the decoder is poisoned and returns the same error again
/// (the link must close: CH-2).
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    start: usize,
    frame_bytes_max: u32,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `frame_bytes_max`.
    pub fn new(frame_bytes_max: u32) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            frame_bytes_max,
            failed: None,
        }
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_bytes(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Add received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let available = &self.buffer[self.start..];
        let Some(prefix) = available.first_chunk::<FRAME_HEADER_BYTES>() else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(*prefix);
        if length == 0 {
            return Err(self.fail(FrameError::Empty));
        }
        if length > self.frame_bytes_max {
            return Err(self.fail(FrameError::TooLarge {
                claimed_bytes: u64::from(length),
                limit_bytes: self.frame_bytes_max,
            }));
        }
        let end = FRAME_HEADER_BYTES + length as usize;
        if available.len() < end {
            return Ok(None);
        }
        let frame = available[FRAME_HEADER_BYTES..end].to_vec();
        self.start += end;
        // CH-2, after decoding: the frame is exactly what the prefix claimed.
        assert_eq!(frame.len(), length as usize, "CH-2: frame length");
        Ok(Some(frame))
    }

    /// The stream ended: an error if it ended inside a frame.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        match self.buffered_bytes() {
            0 => Ok(()),
            buffered_bytes => Err(self.fail(FrameError::Truncated { buffered_bytes })),
        }
    }

    fn fail(&mut self, error: FrameError) -> FrameError {
        self.failed = Some(error.clone());
        error
    }
}

/// Reads frames from a byte stream (see [`stream_link`]).
struct StreamFrameRx<R> {
    reader: R,
    decoder: FrameDecoder,
    chunk: Box<[u8]>,
    peer: ChannelAddr,
}

impl<R: AsyncRead + Send + Unpin + 'static> FrameRx for StreamFrameRx<R> {
    fn recv(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, ChannelError>> {
        Box::pin(async move {
            loop {
                if let Some(frame) = self.decoder.next_frame()? {
                    return Ok(Some(frame));
                }
                // Cancel-safe: `read` is, and its bytes are pushed before any
                // other await.
                let read = self
                    .reader
                    .read(&mut self.chunk)
                    .await
                    .map_err(|error| ChannelError::io("read from", &self.peer, &error))?;
                if read == 0 {
                    self.decoder.finish()?;
                    return Ok(None);
                }
                self.decoder.push(&self.chunk[..read]);
            }
        })
    }

    fn try_recv_buffered(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        Ok(self.decoder.next_frame()?)
    }
}

/// Writes frames to a byte stream (see [`stream_link`]).
struct StreamFrameTx<W> {
    writer: W,
    buffer: Vec<u8>,
    frame_bytes_max: u32,
    peer: ChannelAddr,
}

impl<W: AsyncWrite + Send + Unpin + 'static> StreamFrameTx<W> {
    async fn write_buffer(&mut self) -> Result<(), ChannelError> {
        let result = self.writer.write_all(&self.buffer).await;
        self.buffer.clear();
        result.map_err(|error| ChannelError::io("write to", &self.peer, &error))
    }
}

impl<W: AsyncWrite + Send + Unpin + 'static> FrameTx for StreamFrameTx<W> {
    fn send_batch<'a>(
        &'a mut self,
        frames: &'a [&'a [u8]],
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            for frame in frames {
                encode_frame(frame, self.frame_bytes_max, &mut self.buffer)?;
                if self.buffer.len() >= WRITE_BUFFER_BYTES_SOFT_MAX {
                    self.write_buffer().await?;
                }
            }
            if !self.buffer.is_empty() {
                self.write_buffer().await?;
            }
            // CH-3: one flush per batch.
            self.writer
                .flush()
                .await
                .map_err(|error| ChannelError::io("flush to", &self.peer, &error))
        })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.writer.shutdown().await;
        })
    }
}

/// A [`Link`] over a byte stream's two halves, framed by this module.
pub fn stream_link<R, W>(reader: R, writer: W, frame_bytes_max: u32, peer: ChannelAddr) -> Link
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    Link {
        tx: Box::new(StreamFrameTx {
            writer,
            buffer: Vec::new(),
            frame_bytes_max,
            peer: peer.clone(),
        }),
        rx: Box::new(StreamFrameRx {
            reader,
            decoder: FrameDecoder::new(frame_bytes_max),
            chunk: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
            peer: peer.clone(),
        }),
        peer,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frames_of(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for payload in payloads {
            encode_frame(payload, 1024, &mut bytes).unwrap();
        }
        bytes
    }

    #[test]
    fn ch_2_oversized_prefix_is_refused_without_allocating() {
        let mut decoder = FrameDecoder::new(1024);
        decoder.push(&u32::MAX.to_be_bytes());
        decoder.push(&[1, 2, 3]);
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                claimed_bytes: u64::from(u32::MAX),
                limit_bytes: 1024
            })
        );
        // Reaching here shows nothing reserved 4 GiB; the buffer holds 7 bytes.
        assert!(decoder.buffer.capacity() < 1024);
        // Poisoned: the same error again.
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn ch_2_empty_and_truncated_frames_are_errors() {
        let mut decoder = FrameDecoder::new(1024);
        decoder.push(&[0, 0, 0, 0]);
        assert_eq!(decoder.next_frame(), Err(FrameError::Empty));

        let mut decoder = FrameDecoder::new(1024);
        decoder.push(&[0, 0, 0, 9, 1, 2]);
        assert_eq!(decoder.next_frame(), Ok(None));
        assert_eq!(
            decoder.finish(),
            Err(FrameError::Truncated { buffered_bytes: 6 })
        );
        assert_eq!(
            encode_frame(&[0; 2000], 1024, &mut Vec::new()),
            Err(FrameError::TooLarge {
                claimed_bytes: 2000,
                limit_bytes: 1024
            })
        );
    }

    /// Two stream links joined by an in-memory pipe buffering
    /// `pipe_bytes`, with frames of up to 1 KiB.
    fn linked_pair(pipe_bytes: usize) -> (Link, Link) {
        let (near, far) = tokio::io::duplex(pipe_bytes);
        let (near_read, near_write) = tokio::io::split(near);
        let (far_read, far_write) = tokio::io::split(far);
        let peer = ChannelAddr::Local("pipe".into());
        (
            stream_link(near_read, near_write, 1024, peer.clone()),
            stream_link(far_read, far_write, 1024, peer),
        )
    }

    #[tokio::test]
    async fn ch_3_a_batch_round_trips_over_a_byte_pipe() {
        let (mut near, mut far) = linked_pair(64);
        let payloads: Vec<Vec<u8>> = (1..=50u8).map(|n| vec![n; usize::from(n)]).collect();
        let sent = payloads.clone();
        let writer = crate::rt::spawn("writer", async move {
            let refs: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
            near.tx.send_batch(&refs).await.unwrap();
            near.tx.close().await;
            near
        });
        for payload in &payloads {
            assert_eq!(far.rx.recv().await.unwrap().as_ref(), Some(payload));
        }
        assert_eq!(far.rx.recv().await.unwrap(), None);
        drop(writer.await.unwrap());
        drop(far.tx);
    }

    /// A burst written at once is read whole by one `recv`; the frames
    /// behind the first are handed out by `try_recv_buffered` without a
    /// read, in order, and it answers `None` (not an error, not a wait) once
    /// the buffer holds no whole frame.
    #[tokio::test]
    async fn a_burst_is_drained_from_the_buffer_in_order() {
        let (mut near, mut far) = linked_pair(4096);
        let payloads: Vec<Vec<u8>> = (1..=5u8).map(|n| vec![n; usize::from(n) * 3]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        near.tx.send_batch(&refs).await.unwrap();
        assert_eq!(far.rx.recv().await.unwrap().as_ref(), Some(&payloads[0]));
        for payload in &payloads[1..] {
            assert_eq!(far.rx.try_recv_buffered().unwrap().as_ref(), Some(payload));
        }
        assert_eq!(far.rx.try_recv_buffered().unwrap(), None);
        near.tx.close().await;
        assert_eq!(far.rx.recv().await.unwrap(), None);
    }

    proptest! {
        /// CH-2: any split of a valid stream decodes to the same frames.
        #[test]
        fn ch_2_frames_survive_any_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..100), 0..20),
            cut in 1usize..50,
        ) {
            let bytes = frames_of(&payloads);
            let mut decoder = FrameDecoder::new(1024);
            let mut decoded = Vec::new();
            for chunk in bytes.chunks(cut) {
                decoder.push(chunk);
                while let Some(frame) = decoder.next_frame().unwrap() {
                    decoded.push(frame);
                }
            }
            prop_assert_eq!(decoder.finish(), Ok(()));
            prop_assert_eq!(decoded, payloads);
        }

        /// CH-2: arbitrary bytes give frames or a typed error, never a panic,
        /// and the buffer never exceeds what was pushed.
        #[test]
        fn ch_2_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut decoder = FrameDecoder::new(64);
            decoder.push(&bytes);
            while let Ok(Some(frame)) = decoder.next_frame() {
                prop_assert!(!frame.is_empty() && frame.len() <= 64);
            }
            prop_assert!(decoder.buffered_bytes() <= bytes.len());
        }
    }
}
