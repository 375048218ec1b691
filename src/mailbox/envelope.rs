//! The message envelope: what travels between mailboxes when a message is
//! sent by reference (serialized), and what comes back when it can't be delivered.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::id::{ActorId, PortId};
use crate::sequencing::SeqInfo;

/// Typed message headers, set by the runtime when a message is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers {
    seq_info: SeqInfo,
}

impl Headers {
    /// Headers carrying `seq_info`.
    pub fn new(seq_info: SeqInfo) -> Self {
        Self { seq_info }
    }

    /// How the message was sequenced.
    pub fn seq_info(&self) -> SeqInfo {
        self.seq_info
    }
}

impl Default for Headers {
    fn default() -> Self {
        Self::new(SeqInfo::Direct)
    }
}

/// The body of an envelope.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// The message, encoded by [`crate::codec`].
    Serialized(#[serde(with = "crate::codec::bytes")] Vec<u8>),
    /// A message sent through a local handle, which never needed encoding;
    /// only its type survives when it comes back undelivered.
    LocalOnly,
}

impl Payload {
    /// The encoded message, or `None` for a local-only payload.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Payload::Serialized(bytes) => Some(bytes),
            Payload::LocalOnly => None,
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Serialized(bytes) => write!(f, "Serialized({} bytes)", bytes.len()),
            Payload::LocalOnly => f.write_str("LocalOnly"),
        }
    }
}

/// A message in transit: sender, destination port, headers, type and payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEnvelope {
    sender: ActorId,
    dest: PortId,
    headers: Headers,
    type_name: TypeName,
    payload: Payload,
}

impl MessageEnvelope {
    /// A new envelope.
    pub fn new(
        sender: ActorId,
        dest: PortId,
        headers: Headers,
        type_name: impl Into<TypeName>,
        payload: Payload,
    ) -> Self {
        Self {
            sender,
            dest,
            headers,
            type_name: type_name.into(),
            payload,
        }
    }

    /// Who sent it.
    pub fn sender(&self) -> &ActorId {
        &self.sender
    }

    /// Where it is going.
    pub fn dest(&self) -> &PortId {
        &self.dest
    }

    /// Its headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// What stands in for an envelope that could not be decoded whole (to
    /// return it to its sender): its addresses and headers, its type name
    /// if that much was readable, and no payload.
    pub fn unreadable(
        sender: ActorId,
        dest: PortId,
        headers: Headers,
        type_name: Option<String>,
    ) -> Self {
        let type_name = type_name.unwrap_or_else(|| "(unreadable)".to_owned());
        Self::new(sender, dest, headers, type_name, Payload::LocalOnly)
    }

    /// The Rust type name of the message.
    pub fn type_name(&self) -> &str {
        self.type_name.as_str()
    }

    /// The body.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }
}

impl fmt::Display for MessageEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} from {} to {} ({})",
            self.type_name, self.sender, self.dest, self.headers.seq_info
        )
    }
}

/// The Rust type name an envelope carries: static when the envelope was
/// made here, shared when it was decoded (a link's decoder hands out clones
/// of one name for every message of a type), so neither allocates per
/// message. Compares and prints as the text.
#[derive(Clone)]
pub enum TypeName {
    /// A name known at compile time (`std::any::type_name`).
    Static(&'static str),
    /// A name read from the wire.
    Shared(Arc<str>),
}

impl TypeName {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            TypeName::Static(name) => name,
            TypeName::Shared(name) => name,
        }
    }
}

impl From<&'static str> for TypeName {
    fn from(name: &'static str) -> Self {
        TypeName::Static(name)
    }
}

impl From<String> for TypeName {
    fn from(name: String) -> Self {
        TypeName::Shared(name.into())
    }
}

impl PartialEq for TypeName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TypeName {}

impl fmt::Debug for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TypeName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TypeName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(TypeName::from)
    }
}
