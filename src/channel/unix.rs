//! Unix-domain socket links: `unix:PATH`.
//!
//! Owns: connecting, listening and accepting Unix sockets, and turning each
//! stream into a framed [`Link`] (`frame::stream_link`).
//! Does not own: retries or timeouts (the router's session shell).
//!
//! Listening removes a stale socket file left at `PATH` by a process that
//! died without cleaning up (a killed peer restarting on the same path), and
//! the listener removes its file when dropped.

use futures::future::BoxFuture;
use tokio::net::{UnixListener, UnixStream};

use super::frame::stream_link;
use super::link::{Link, Listener};
use super::{ChannelAddr, ChannelError};

/// Connect to the socket at `path`.
pub(super) async fn dial(path: String, frame_bytes_max: u32) -> Result<Link, ChannelError> {
    let peer = ChannelAddr::Unix(path.clone());
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|error| ChannelError::io("connect to", &peer, &error))?;
    let (reader, writer) = stream.into_split();
    Ok(stream_link(reader, writer, frame_bytes_max, peer))
}

/// Listen on `path`.
pub(super) async fn listen(
    path: String,
    frame_bytes_max: u32,
) -> Result<Box<dyn Listener>, ChannelError> {
    let addr = ChannelAddr::Unix(path.clone());
    // A socket file nobody accepts on is stale: connecting to it is refused.
    if std::path::Path::new(&path).exists() && UnixStream::connect(&path).await.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    let listener = UnixListener::bind(&path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            ChannelError::AddressInUse {
                address: addr.to_string(),
            }
        } else {
            ChannelError::io("listen on", &addr, &error)
        }
    })?;
    Ok(Box::new(UnixLinkListener {
        listener,
        addr,
        path,
        frame_bytes_max,
    }))
}

struct UnixLinkListener {
    listener: UnixListener,
    addr: ChannelAddr,
    path: String,
    frame_bytes_max: u32,
}

impl Listener for UnixLinkListener {
    fn local_addr(&self) -> &ChannelAddr {
        &self.addr
    }

    fn accept(&mut self) -> BoxFuture<'_, Result<Link, ChannelError>> {
        Box::pin(async move {
            let (stream, _) = self
                .listener
                .accept()
                .await
                .map_err(|error| ChannelError::io("accept on", &self.addr, &error))?;
            let (reader, writer) = stream.into_split();
            Ok(stream_link(
                reader,
                writer,
                self.frame_bytes_max,
                self.addr.clone(),
            ))
        })
    }
}

impl Drop for UnixLinkListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
