//! Links and transports: the seam between the session protocol and the bytes.
//!
//! Owns: [`Link`] (one bidirectional connection carrying frames), the
//! [`Listener`] and [`Transport`] traits (dial and serve by address), and
//! [`Transports`], the value that dispatches an address to the transport for
//! its scheme.
//! Does not own: framing bytes (`frame`), what frames mean (`wire`,
//! `session`).
//!
//! A transport implemented outside the runtime (a simulated network) plugs in
//! with [`Transports::plug`]; the runtime never names it (STYLE rule 7).
//! Delivery a link must give: frames arrive in order and intact, or the link
//! ends. Everything else (loss across reconnects, duplicates, replays) is the
//! session protocol's job.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::local::LocalNetwork;
use super::{ChannelAddr, ChannelError, tcp, unix};

/// The sending half of a link.
pub trait FrameTx: Send + 'static {
    /// Write every frame of `frames`, in order, then flush once (CH-3).
    fn send_batch<'a>(
        &'a mut self,
        frames: &'a [&'a [u8]],
    ) -> BoxFuture<'a, Result<(), ChannelError>>;

    /// Tell the peer no more frames follow (best effort).
    fn close(&mut self) -> BoxFuture<'_, ()>;
}

/// The receiving half of a link.
pub trait FrameRx: Send + 'static {
    /// The next frame; `Ok(None)` when the peer closed cleanly. Must be
    /// cancel-safe: dropping the future loses no frame.
    fn recv(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, ChannelError>>;

    /// A frame already received whole, without waiting or reading more:
    /// lets a reader drain a burst in one go instead of awaiting (and
    /// allocating a future) per frame. Links that buffer nothing answer
    /// `Ok(None)`; an error is the one `recv` would return.
    fn try_recv_buffered(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        Ok(None)
    }
}

/// One connection: frames out, frames in.
pub struct Link {
    /// Frames to the peer.
    pub tx: Box<dyn FrameTx>,
    /// Frames from the peer.
    pub rx: Box<dyn FrameRx>,
    /// Who the peer is (for errors and logs).
    pub peer: ChannelAddr,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link({})", self.peer)
    }
}

/// Accepts links on an address.
pub trait Listener: Send + 'static {
    /// The address peers dial (with the real port when serving on port 0).
    fn local_addr(&self) -> &ChannelAddr;

    /// The next accepted link.
    fn accept(&mut self) -> BoxFuture<'_, Result<Link, ChannelError>>;
}

/// Dials and serves addresses of the schemes it knows.
pub trait Transport: Send + Sync + 'static {
    /// Connect to `addr`.
    fn dial(&self, addr: &ChannelAddr) -> BoxFuture<'static, Result<Link, ChannelError>>;

    /// Serve on `addr`.
    fn listen(
        &self,
        addr: &ChannelAddr,
    ) -> BoxFuture<'static, Result<Box<dyn Listener>, ChannelError>>;

    /// The largest frame its links to `addr` carry (CH-2), if they refuse
    /// larger ones; `None` when they take any size. A router refuses
    /// envelopes whose frames would exceed it before they reach a link. A
    /// transport that wraps another must forward this: the default (`None`)
    /// would hide the inner transport's limit.
    fn frame_bytes_max(&self, addr: &ChannelAddr) -> Option<u32> {
        let _ = addr;
        None
    }
}

/// The transports of one world, by scheme: `local:` (its own
/// [`LocalNetwork`]), `tcp:`, `unix:`, and any plugged in. A value, cheap to
/// clone; two worlds in one process each have their own.
#[derive(Clone)]
pub struct Transports {
    local: LocalNetwork,
    frame_bytes_max: u32,
    plugged: BTreeMap<String, Arc<dyn Transport>>,
}

impl Transports {
    /// Transports whose `local:` addresses live in `local`, framing with
    /// `frame_bytes_max`.
    pub fn new(local: LocalNetwork, frame_bytes_max: u32) -> Self {
        Self {
            local,
            frame_bytes_max,
            plugged: BTreeMap::new(),
        }
    }

    /// Serve `scheme` (not `local`, `tcp` or `unix`) with `transport`.
    pub fn plug(mut self, scheme: &str, transport: Arc<dyn Transport>) -> Self {
        self.plugged.insert(scheme.to_owned(), transport);
        self
    }

    /// The in-process network behind `local:` addresses.
    pub fn local(&self) -> &LocalNetwork {
        &self.local
    }

    fn plugged(&self, addr: &ChannelAddr) -> Result<&Arc<dyn Transport>, ChannelError> {
        self.plugged
            .get(addr.scheme())
            .ok_or_else(|| ChannelError::UnsupportedScheme {
                address: addr.to_string(),
            })
    }
}

impl Transport for Transports {
    fn dial(&self, addr: &ChannelAddr) -> BoxFuture<'static, Result<Link, ChannelError>> {
        let frame_bytes_max = self.frame_bytes_max;
        match addr {
            ChannelAddr::Local(_) => self.local.dial(addr),
            ChannelAddr::Tcp { host, port } => {
                Box::pin(tcp::dial(host.clone(), *port, frame_bytes_max))
            }
            ChannelAddr::Unix(path) => Box::pin(unix::dial(path.clone(), frame_bytes_max)),
            _ => match self.plugged(addr) {
                Ok(transport) => transport.dial(addr),
                Err(error) => Box::pin(async move { Err(error) }),
            },
        }
    }

    fn listen(
        &self,
        addr: &ChannelAddr,
    ) -> BoxFuture<'static, Result<Box<dyn Listener>, ChannelError>> {
        let frame_bytes_max = self.frame_bytes_max;
        match addr {
            ChannelAddr::Local(_) => self.local.listen(addr),
            ChannelAddr::Tcp { host, port } => {
                Box::pin(tcp::listen(host.clone(), *port, frame_bytes_max))
            }
            ChannelAddr::Unix(path) => Box::pin(unix::listen(path.clone(), frame_bytes_max)),
            _ => match self.plugged(addr) {
                Ok(transport) => transport.listen(addr),
                Err(error) => Box::pin(async move { Err(error) }),
            },
        }
    }

    /// `tcp:` and `unix:` links frame with its own limit, `local:` links
    /// with their network's, plugged transports with theirs.
    fn frame_bytes_max(&self, addr: &ChannelAddr) -> Option<u32> {
        match addr {
            ChannelAddr::Local(_) => self.local.frame_bytes_max(addr),
            ChannelAddr::Tcp { .. } | ChannelAddr::Unix(_) => Some(self.frame_bytes_max),
            _ => self
                .plugged(addr)
                .ok()
                .and_then(|transport| transport.frame_bytes_max(addr)),
        }
    }
}

/// A listener whose accepted links arrive on a queue: what in-memory
/// transports (`local:`, the simulator's `sim:`) hand out. `on_close` runs
/// when it is dropped, so the transport can free the address.
pub struct QueueListener {
    addr: ChannelAddr,
    accepted: tokio::sync::mpsc::UnboundedReceiver<Link>,
    on_close: Option<Box<dyn FnOnce() + Send>>,
}

impl QueueListener {
    /// A listener on `addr` taking links from `accepted`.
    pub fn new(
        addr: ChannelAddr,
        accepted: tokio::sync::mpsc::UnboundedReceiver<Link>,
        on_close: impl FnOnce() + Send + 'static,
    ) -> Self {
        Self {
            addr,
            accepted,
            on_close: Some(Box::new(on_close)),
        }
    }
}

impl Listener for QueueListener {
    fn local_addr(&self) -> &ChannelAddr {
        &self.addr
    }

    fn accept(&mut self) -> BoxFuture<'_, Result<Link, ChannelError>> {
        Box::pin(async move {
            self.accepted
                .recv()
                .await
                .ok_or_else(|| ChannelError::Closed {
                    address: self.addr.to_string(),
                })
        })
    }
}

impl Drop for QueueListener {
    fn drop(&mut self) {
        if let Some(on_close) = self.on_close.take() {
            on_close();
        }
    }
}
