//! Identifiers: procs, actors and ports.
//!
//! Owns: [`ProcId`], [`ActorId`], [`PortId`], their text form and its parsing.
//! Does not own: allocation of pids (the proc's counter) or port indices (the
//! mailbox's counter, or the message type for handler ports).
//!
//! ID-1: `Display` and `FromStr` round-trip for every valid id.
//! ID-2: names are non-empty and use only `[A-Za-z0-9_-]`, so the text form
//! parses without escapes: `proc.actor[pid]` and `proc.actor[pid]:port`, where
//! a remote proc is `name@address`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why an id could not be made or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// A name broke ID-2.
    #[error("invalid name {name:?}: names are non-empty and use only letters, digits, '_' and '-'")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// The text is not an id of the expected kind.
    #[error("cannot parse {text:?} as {kind}: expected {expected}")]
    Malformed {
        /// The text given.
        text: String,
        /// What was being parsed.
        kind: &'static str,
        /// The expected form.
        expected: &'static str,
    },
}

fn check_name(name: &str) -> Result<(), IdError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(IdError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Identifies a proc: a name, plus the address it serves on when remote.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProcId {
    name: Arc<str>,
    address: Option<Arc<str>>,
}

impl ProcId {
    /// A proc reachable only in this process.
    pub fn local(name: &str) -> Result<Self, IdError> {
        check_name(name)?;
        Ok(Self {
            name: name.into(),
            address: None,
        })
    }

    /// A proc reachable at `address` (e.g. `tcp:127.0.0.1:4000`, `sim:p1`).
    pub fn remote(name: &str, address: &str) -> Result<Self, IdError> {
        check_name(name)?;
        if address.is_empty() || address.contains('[') || address.contains(']') {
            return Err(IdError::Malformed {
                text: address.to_owned(),
                kind: "address",
                expected: "a non-empty address without brackets",
            });
        }
        Ok(Self {
            name: name.into(),
            address: Some(address.into()),
        })
    }

    /// The proc's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address it serves on, if remote.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// The root actor `name` of this proc (pid 0).
    pub fn actor_id(&self, name: &str, pid: u64) -> Result<ActorId, IdError> {
        ActorId::new(self.clone(), name, pid)
    }
}

impl fmt::Display for ProcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.address {
            Some(address) => write!(f, "{}@{}", self.name, address),
            None => f.write_str(&self.name),
        }
    }
}

impl fmt::Debug for ProcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProcId({self})")
    }
}

impl FromStr for ProcId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        match text.split_once('@') {
            Some((name, address)) => Self::remote(name, address),
            None => Self::local(text),
        }
    }
}

#[derive(Serialize)]
struct ActorIdParts {
    proc_id: ProcId,
    name: Arc<str>,
    pid: u64,
    /// The text form, made on first use (traces print ids on every event).
    #[serde(skip)]
    text: std::sync::OnceLock<Arc<str>>,
    /// The wire form, made on first use by the envelope encoder (links
    /// write the same senders and destinations on every message).
    #[serde(skip)]
    encoded: std::sync::OnceLock<Box<[u8]>>,
}

impl ActorIdParts {
    fn key(&self) -> (&ProcId, &str, u64) {
        (&self.proc_id, &self.name, self.pid)
    }
}

impl PartialEq for ActorIdParts {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ActorIdParts {}

impl PartialOrd for ActorIdParts {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ActorIdParts {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Ids are shared: a lookup by a clone of the key finds it without
        // comparing names.
        if std::ptr::eq(self, other) {
            return std::cmp::Ordering::Equal;
        }
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for ActorIdParts {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

/// Identifies an actor: its proc, its name and its pid (0 for root actors,
/// fresh per-proc numbers for children). Cheap to clone.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ActorId(Arc<ActorIdParts>);

impl ActorId {
    /// An actor id; `name` must satisfy ID-2.
    pub fn new(proc_id: ProcId, name: &str, pid: u64) -> Result<Self, IdError> {
        check_name(name)?;
        Ok(Self(Arc::new(ActorIdParts {
            proc_id,
            name: name.into(),
            pid,
            text: std::sync::OnceLock::new(),
            encoded: std::sync::OnceLock::new(),
        })))
    }

    /// The proc the actor lives in.
    pub fn proc_id(&self) -> &ProcId {
        &self.0.proc_id
    }

    /// The actor's name (children share their parent's name).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The actor's pid within its proc.
    pub fn pid(&self) -> u64 {
        self.0.pid
    }

    /// The port `index` of this actor.
    pub fn port_id(&self, index: u64) -> PortId {
        PortId {
            actor_id: self.clone(),
            index,
        }
    }

    /// The port `index` of this actor, consuming the id (no reference-count
    /// traffic, where [`ActorId::port_id`] clones).
    pub fn into_port_id(self, index: u64) -> PortId {
        PortId {
            actor_id: self,
            index,
        }
    }

    /// True when both ids name the same actor (a pointer check first).
    pub fn same(&self, other: &ActorId) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self == other
    }
}

impl ActorId {
    /// The text form (`proc.name[pid]`), formatted once and shared.
    pub fn text(&self) -> &Arc<str> {
        self.0
            .text
            .get_or_init(|| format!("{}.{}[{}]", self.0.proc_id, self.0.name, self.0.pid).into())
    }
}

impl ActorId {
    /// This id's encoding, made by `encode` the first time and kept (the
    /// codec owns the layout; the id only stores what it made).
    pub(crate) fn encoded(&self, encode: impl FnOnce(&ActorId) -> Box<[u8]>) -> &[u8] {
        self.0.encoded.get_or_init(|| encode(self))
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorId({self})")
    }
}

impl FromStr for ActorId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        let malformed = || IdError::Malformed {
            text: text.to_owned(),
            kind: "actor id",
            expected: "proc.name[pid]",
        };
        let body = text.strip_suffix(']').ok_or_else(malformed)?;
        let (head, pid) = body.rsplit_once('[').ok_or_else(malformed)?;
        let pid: u64 = pid.parse().map_err(|_| malformed())?;
        let (proc_text, name) = head.rsplit_once('.').ok_or_else(malformed)?;
        ActorId::new(proc_text.parse()?, name, pid)
    }
}

/// Identifies a port of an actor's mailbox.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortId {
    actor_id: ActorId,
    index: u64,
}

/// Handler ports have this bit set; ephemeral ports count up from 1 below it.
pub const HANDLER_PORT_BIT: u64 = 1 << 63;

impl PortId {
    /// The actor owning the port.
    pub fn actor_id(&self) -> &ActorId {
        &self.actor_id
    }

    /// The port's index in its mailbox.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Whether this is a handler port (index derived from a message type).
    pub fn is_handler_port(&self) -> bool {
        self.index & HANDLER_PORT_BIT != 0
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.actor_id, self.index)
    }
}

impl fmt::Debug for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortId({self})")
    }
}

impl FromStr for PortId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        let malformed = || IdError::Malformed {
            text: text.to_owned(),
            kind: "port id",
            expected: "proc.name[pid]:index",
        };
        let (actor, index) = text.rsplit_once(':').ok_or_else(malformed)?;
        if !actor.ends_with(']') {
            return Err(malformed());
        }
        let index: u64 = index.parse().map_err(|_| malformed())?;
        Ok(actor.parse::<ActorId>()?.into_port_id(index))
    }
}

/// The stable handler-port index of message type `M`: a 63-bit FNV-1a hash of
/// its type name with [`HANDLER_PORT_BIT`] set. Stable for one build of a
/// program, which is what two processes of one deployment share.
pub fn handler_port_index<M: ?Sized + 'static>() -> u64 {
    fnv1a(std::any::type_name::<M>().as_bytes()) | HANDLER_PORT_BIT
}

/// FNV-1a, 64-bit: a small, stable hash (unlike std's `DefaultHasher`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Deserialization through the validating constructors (ID-2 holds for
/// every id decoded from untrusted bytes, with no second parse), borrowing
/// names from the input where the format allows (serde copies the optional
/// address). The layouts mirror the derived `Serialize` impls field for
/// field, so the encoding is unchanged. (Links decode envelopes, and the ids
/// in them, without serde: `codec::decode_envelope`.)
mod wire {
    use std::borrow::Cow;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    use super::{ActorId, IdError, ProcId};

    #[derive(Deserialize)]
    #[serde(rename = "ProcId")]
    struct ProcIdWire<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        address: Option<Cow<'a, str>>,
    }

    impl ProcIdWire<'_> {
        fn to_proc_id(&self) -> Result<ProcId, IdError> {
            match &self.address {
                Some(address) => ProcId::remote(&self.name, address),
                None => ProcId::local(&self.name),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(rename = "ActorIdParts")]
    struct ActorIdPartsWire<'a> {
        #[serde(borrow)]
        proc_id: ProcIdWire<'a>,
        #[serde(borrow)]
        name: Cow<'a, str>,
        pid: u64,
    }

    impl ActorIdPartsWire<'_> {
        fn to_actor_id(&self) -> Result<ActorId, IdError> {
            ActorId::new(self.proc_id.to_proc_id()?, &self.name, self.pid)
        }
    }

    #[derive(Deserialize)]
    #[serde(rename = "ActorId")]
    struct ActorIdWire<'a>(#[serde(borrow)] ActorIdPartsWire<'a>);

    impl<'de> Deserialize<'de> for ProcId {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            ProcIdWire::deserialize(deserializer)?
                .to_proc_id()
                .map_err(D::Error::custom)
        }
    }

    impl<'de> Deserialize<'de> for ActorId {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let ActorIdWire(parts) = ActorIdWire::deserialize(deserializer)?;
            parts.to_actor_id().map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_-]{1,12}"
    }

    fn address() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            "tcp:[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}:[0-9]{1,5}",
            "unix:/[a-z./_-]{1,20}",
            "sim:[a-z0-9]{1,8}",
            "local:[0-9]{1,4}",
        ])
    }

    proptest! {
        /// ID-1: every valid port id (and so actor and proc id) prints and
        /// parses back to itself.
        #[test]
        fn id_1_display_and_parse_round_trip(
            proc_name in name(), address in address(), actor in name(),
            pid in any::<u64>(), index in any::<u64>(),
        ) {
            let proc_id = match &address {
                Some(address) => ProcId::remote(&proc_name, address).unwrap(),
                None => ProcId::local(&proc_name).unwrap(),
            };
            prop_assert_eq!(proc_id.to_string().parse::<ProcId>().unwrap(), proc_id.clone());
            let actor_id = proc_id.actor_id(&actor, pid).unwrap();
            prop_assert_eq!(actor_id.to_string().parse::<ActorId>().unwrap(), actor_id.clone());
            let port_id = actor_id.port_id(index);
            prop_assert_eq!(port_id.to_string().parse::<PortId>().unwrap(), port_id.clone());
            // The same ids survive the wire (validating decode, same bytes).
            let bytes = crate::codec::encode(&port_id, 1 << 16).unwrap();
            prop_assert_eq!(crate::codec::decode::<PortId>(&bytes, 1 << 16).unwrap(), port_id);
        }

        /// ID-2: parsing arbitrary text never panics; it returns an id or an error.
        #[test]
        fn id_2_parsing_garbage_is_an_error_not_a_panic(text in ".{0,40}") {
            let _ = text.parse::<PortId>();
            let _ = text.parse::<ActorId>();
            let _ = text.parse::<ProcId>();
        }
    }

    /// ID-2 holds for ids decoded from bytes: a name or address the
    /// constructors would refuse is a decode error, not an id.
    #[test]
    fn id_2_decoding_refuses_ids_the_constructors_refuse() {
        let actor_id = ProcId::remote("p", "tcp:h:1")
            .unwrap()
            .actor_id("worker", 2)
            .unwrap();
        let bytes = crate::codec::encode(&actor_id, 1 << 16).unwrap();
        assert_eq!(
            crate::codec::decode::<ActorId>(&bytes, 1 << 16).unwrap(),
            actor_id
        );
        for (from, to) in [(b'w', b'.'), (b'p', b' '), (b'h', b'[')] {
            let mut bad = bytes.clone();
            let at = bad.iter().position(|&byte| byte == from).unwrap();
            bad[at] = to;
            assert!(
                crate::codec::decode::<ActorId>(&bad, 1 << 16).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(&bad)
            );
        }
    }

    #[test]
    fn id_2_rejects_names_that_would_not_round_trip() {
        assert!(ProcId::local("a.b").is_err());
        assert!(ProcId::local("").is_err());
        let proc_id = ProcId::local("p").unwrap();
        assert!(proc_id.actor_id("x[1]", 0).is_err());
        assert_eq!(
            "p.x[3]:7".parse::<PortId>().unwrap(),
            proc_id.actor_id("x", 3).unwrap().port_id(7)
        );
    }

    #[test]
    fn handler_ports_are_stable_and_distinct_from_ephemeral_ports() {
        assert_eq!(handler_port_index::<u64>(), handler_port_index::<u64>());
        assert_ne!(handler_port_index::<u64>(), handler_port_index::<String>());
        let actor = ProcId::local("p").unwrap().actor_id("a", 0).unwrap();
        assert!(actor.port_id(handler_port_index::<u64>()).is_handler_port());
        assert!(!actor.port_id(1).is_handler_port());
    }
}
