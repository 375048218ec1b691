//! In-process links: `local:NAME` addresses served inside one [`LocalNetwork`].
//!
//! Owns: the registry of local listeners — a value, not process-global state
//! (DESIGN §1, PROC-1): two networks in one process never see each other.
//! Does not own: framing (each link is an in-memory byte pipe framed by
//! `frame`, so local links run the same code as sockets).
//!
//! Uses only runtime-agnostic tokio types (`tokio::io::duplex`,
//! `tokio::sync`), so local links work under the simulator too.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::frame::stream_link;
use super::link::{Link, Listener, QueueListener, Transport};
use super::{ChannelAddr, ChannelError, FRAME_BYTES_MAX_DEFAULT};
use std::sync::Arc;

use crate::sync::Mutex;

/// Bytes buffered in each direction of an in-memory pipe.
const PIPE_BYTES: usize = 256 * 1024;

struct Registry {
    listeners: BTreeMap<String, (u64, mpsc::UnboundedSender<Link>)>,
    next_listener: u64,
}

/// An in-process network: `local:NAME` listeners and the links dialed to them.
/// Cheap to clone (clones share the registry).
#[derive(Clone)]
pub struct LocalNetwork {
    registry: Arc<Mutex<Registry>>,
    frame_bytes_max: u32,
}

impl Default for LocalNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalNetwork {
    /// An empty network framing with [`FRAME_BYTES_MAX_DEFAULT`].
    pub fn new() -> Self {
        Self::with_frame_bytes_max(FRAME_BYTES_MAX_DEFAULT)
    }

    /// An empty network whose links refuse frames above `frame_bytes_max`.
    pub fn with_frame_bytes_max(frame_bytes_max: u32) -> Self {
        Self {
            registry: Arc::new(Mutex::new(Registry {
                listeners: BTreeMap::new(),
                next_listener: 1,
            })),
            frame_bytes_max,
        }
    }

    fn name(addr: &ChannelAddr) -> Result<&str, ChannelError> {
        match addr {
            ChannelAddr::Local(name) => Ok(name),
            other => Err(ChannelError::UnsupportedScheme {
                address: other.to_string(),
            }),
        }
    }

    /// A connected pair of links (dialer side, acceptor side).
    pub fn pair(&self, addr: &ChannelAddr) -> (Link, Link) {
        let (near, far) = tokio::io::duplex(PIPE_BYTES);
        let (near_read, near_write) = tokio::io::split(near);
        let (far_read, far_write) = tokio::io::split(far);
        (
            stream_link(near_read, near_write, self.frame_bytes_max, addr.clone()),
            stream_link(far_read, far_write, self.frame_bytes_max, addr.clone()),
        )
    }

    fn dial_now(&self, addr: &ChannelAddr) -> Result<Link, ChannelError> {
        let name = Self::name(addr)?;
        let registry = self.registry.lock();
        let refused = || ChannelError::Refused {
            address: addr.to_string(),
        };
        let (_, accept) = registry.listeners.get(name).ok_or_else(refused)?;
        let (near, far) = self.pair(addr);
        accept.send(far).map_err(|_| refused())?;
        Ok(near)
    }

    fn listen_now(&self, addr: &ChannelAddr) -> Result<Box<dyn Listener>, ChannelError> {
        let name = Self::name(addr)?.to_owned();
        let mut registry = self.registry.lock();
        if registry
            .listeners
            .get(&name)
            .is_some_and(|(_, accept)| !accept.is_closed())
        {
            return Err(ChannelError::AddressInUse {
                address: addr.to_string(),
            });
        }
        let id = registry.next_listener;
        registry.next_listener += 1;
        let (accept, accepted) = mpsc::unbounded_channel();
        registry.listeners.insert(name.clone(), (id, accept));
        let registry = self.registry.clone();
        Ok(Box::new(QueueListener::new(
            addr.clone(),
            accepted,
            move || {
                // Free the name, unless a newer listener took it meanwhile.
                let mut registry = registry.lock();
                if registry
                    .listeners
                    .get(&name)
                    .is_some_and(|(current, _)| *current == id)
                {
                    registry.listeners.remove(&name);
                }
            },
        )))
    }
}

impl Transport for LocalNetwork {
    fn dial(&self, addr: &ChannelAddr) -> BoxFuture<'static, Result<Link, ChannelError>> {
        let result = self.dial_now(addr);
        Box::pin(async move { result })
    }

    fn listen(
        &self,
        addr: &ChannelAddr,
    ) -> BoxFuture<'static, Result<Box<dyn Listener>, ChannelError>> {
        let result = self.listen_now(addr);
        Box::pin(async move { result })
    }

    fn frame_bytes_max(&self, _addr: &ChannelAddr) -> Option<u32> {
        Some(self.frame_bytes_max)
    }
}
