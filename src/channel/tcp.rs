//! TCP links: `tcp:HOST:PORT`.
//!
//! Owns: connecting, listening and accepting TCP sockets, and turning each
//! stream into a framed [`Link`] (`frame::stream_link`). Nagle is off: the
//! framing layer already coalesces writes (CH-3).
//! Does not own: retries or timeouts (the router's session shell).

use futures::future::BoxFuture;
use tokio::net::{TcpListener, TcpStream};

use super::frame::stream_link;
use super::link::{Link, Listener};
use super::{ChannelAddr, ChannelError};

fn link(stream: TcpStream, frame_bytes_max: u32, peer: ChannelAddr) -> Link {
    // Best effort: a socket that refuses TCP_NODELAY still works, only slower.
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    stream_link(reader, writer, frame_bytes_max, peer)
}

fn addr_of(socket: std::net::SocketAddr) -> ChannelAddr {
    ChannelAddr::Tcp {
        host: socket.ip().to_string(),
        port: socket.port(),
    }
}

/// Connect to `host:port`.
pub(super) async fn dial(
    host: String,
    port: u16,
    frame_bytes_max: u32,
) -> Result<Link, ChannelError> {
    let peer = ChannelAddr::Tcp {
        host: host.clone(),
        port,
    };
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|error| ChannelError::io("connect to", &peer, &error))?;
    Ok(link(stream, frame_bytes_max, peer))
}

/// Listen on `host:port` (port 0: any free port; see [`Listener::local_addr`]).
pub(super) async fn listen(
    host: String,
    port: u16,
    frame_bytes_max: u32,
) -> Result<Box<dyn Listener>, ChannelError> {
    let requested = ChannelAddr::Tcp {
        host: host.clone(),
        port,
    };
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|error| ChannelError::io("listen on", &requested, &error))?;
    let bound = listener
        .local_addr()
        .map_err(|error| ChannelError::io("listen on", &requested, &error))?;
    Ok(Box::new(TcpLinkListener {
        listener,
        addr: addr_of(bound),
        frame_bytes_max,
    }))
}

struct TcpLinkListener {
    listener: TcpListener,
    addr: ChannelAddr,
    frame_bytes_max: u32,
}

impl Listener for TcpLinkListener {
    fn local_addr(&self) -> &ChannelAddr {
        &self.addr
    }

    fn accept(&mut self) -> BoxFuture<'_, Result<Link, ChannelError>> {
        Box::pin(async move {
            let (stream, peer) = self
                .listener
                .accept()
                .await
                .map_err(|error| ChannelError::io("accept on", &self.addr, &error))?;
            Ok(link(stream, self.frame_bytes_max, addr_of(peer)))
        })
    }
}
