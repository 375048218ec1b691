//! The message envelope: what travels between mailboxes when a message is
//! sent by reference (serialized), and what comes back when it can't be delivered.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::wire::{CachedActorId, CachedPortId};
use crate::id::{ActorId, IdCache, PortId};
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
    /// Static when the envelope was made here (no allocation per message);
    /// owned when it was decoded.
    type_name: Cow<'static, str>,
    payload: Payload,
}

impl MessageEnvelope {
    /// A new envelope.
    pub fn new(
        sender: ActorId,
        dest: PortId,
        headers: Headers,
        type_name: impl Into<Cow<'static, str>>,
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

    /// The Rust type name of the message.
    pub fn type_name(&self) -> &str {
        &self.type_name
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

/// Decodes a [`MessageEnvelope`] (laid out as its derived `Serialize` writes
/// it) with its sender and destination ids going through an [`IdCache`].
pub(crate) struct CachedEnvelope<'c>(pub(crate) &'c mut IdCache);

impl<'de> serde::de::DeserializeSeed<'de> for CachedEnvelope<'_> {
    type Value = MessageEnvelope;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<MessageEnvelope, D::Error> {
        const FIELDS: &[&str] = &["sender", "dest", "headers", "type_name", "payload"];
        deserializer.deserialize_struct("MessageEnvelope", FIELDS, self)
    }
}

impl<'de> serde::de::Visitor<'de> for CachedEnvelope<'_> {
    type Value = MessageEnvelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message envelope")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut fields: A,
    ) -> Result<MessageEnvelope, A::Error> {
        use serde::de::Error as _;
        let missing = |index| A::Error::invalid_length(index, &"a message envelope");
        let sender = fields
            .next_element_seed(CachedActorId(&mut *self.0))?
            .ok_or_else(|| missing(0))?;
        let dest = fields
            .next_element_seed(CachedPortId(self.0))?
            .ok_or_else(|| missing(1))?;
        let headers = fields.next_element()?.ok_or_else(|| missing(2))?;
        let type_name = fields.next_element()?.ok_or_else(|| missing(3))?;
        let payload = fields.next_element()?.ok_or_else(|| missing(4))?;
        Ok(MessageEnvelope {
            sender,
            dest,
            headers,
            type_name,
            payload,
        })
    }
}
