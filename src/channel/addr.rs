//! Channel addresses: where a link can be dialed or served.
//!
//! Owns: the text form `scheme:rest` and its validation.
//! Does not own: resolving or connecting (see `transport`).
//!
//! CH-1: `Display` and `FromStr` round-trip for every valid address
//! (`parse(addr.to_string()) == addr`); malformed text is an [`AddrError`]
//! that names the text and the expected form.
//!
//! Forms:
//! - `local:NAME` — an in-process listener of a `LocalNetwork` value; `NAME`
//!   uses `[A-Za-z0-9_.-]`.
//! - `tcp:HOST:PORT` — `HOST` a name, an IPv4 address or a bracketed IPv6
//!   address (`tcp:[::1]:4000`); `PORT` decimal digits, `0..=65535`.
//! - `unix:PATH` — a Unix socket path (non-empty, no NUL).
//! - `SCHEME:ADDRESS` — any other lowercase scheme, for transports plugged
//!   in from outside the runtime (a simulated network serves `sim:`). Dialing
//!   one no transport serves is a [`super::ChannelError::UnsupportedScheme`].

use std::fmt;
use std::str::FromStr;

/// Where a link can be dialed or served. See the module doc for the forms.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ChannelAddr {
    /// `local:NAME`: an in-process listener.
    Local(String),
    /// `tcp:HOST:PORT`.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// Port number (0 when serving: pick a free one).
        port: u16,
    },
    /// `unix:PATH`.
    Unix(String),
    /// `SCHEME:ADDRESS` for a transport plugged in from outside.
    Other {
        /// The scheme, lowercase.
        scheme: String,
        /// Everything after the first `:`.
        address: String,
    },
}

/// Why text is not a [`ChannelAddr`] (CH-1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// The text has no `scheme:` prefix, or the scheme is not lowercase
    /// letters, digits, `+`, `-`, `.` starting with a letter.
    #[error(
        "cannot parse {text:?} as a channel address: expected SCHEME:ADDRESS (local:NAME, tcp:HOST:PORT, unix:PATH)"
    )]
    MissingScheme {
        /// The text given.
        text: String,
    },
    /// The part after a known scheme is malformed.
    #[error("cannot parse {text:?} as a {scheme} address: expected {expected}")]
    Malformed {
        /// The text given.
        text: String,
        /// The scheme it named.
        scheme: &'static str,
        /// The expected form.
        expected: &'static str,
    },
}

impl ChannelAddr {
    /// The scheme: `local`, `tcp`, `unix`, or the plugged-in one.
    pub fn scheme(&self) -> &str {
        match self {
            ChannelAddr::Local(_) => "local",
            ChannelAddr::Tcp { .. } => "tcp",
            ChannelAddr::Unix(_) => "unix",
            ChannelAddr::Other { scheme, .. } => scheme,
        }
    }
}

impl fmt::Display for ChannelAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelAddr::Local(name) => write!(f, "local:{name}"),
            ChannelAddr::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp:[{host}]:{port}")
            }
            ChannelAddr::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            ChannelAddr::Unix(path) => write!(f, "unix:{path}"),
            ChannelAddr::Other { scheme, address } => write!(f, "{scheme}:{address}"),
        }
    }
}

fn is_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

fn is_local_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn is_ipv6(host: &str) -> bool {
    host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_ok()
}

fn parse_tcp(text: &str, rest: &str) -> Result<ChannelAddr, AddrError> {
    let malformed = || AddrError::Malformed {
        text: text.to_owned(),
        scheme: "tcp",
        expected: "tcp:HOST:PORT (HOST a name, IPv4 address or [IPv6] address; PORT 0..=65535)",
    };
    let (host, port) = rest.rsplit_once(':').ok_or_else(malformed)?;
    let host = match host.strip_prefix('[') {
        Some(bracketed) => {
            let inner = bracketed.strip_suffix(']').ok_or_else(malformed)?;
            if !is_ipv6(inner) {
                return Err(malformed());
            }
            inner
        }
        None if is_host_name(host) => host,
        None => return Err(malformed()),
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
        return Err(malformed());
    }
    let port: u16 = port.parse().map_err(|_| malformed())?;
    Ok(ChannelAddr::Tcp {
        host: host.to_owned(),
        port,
    })
}

impl FromStr for ChannelAddr {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<Self, AddrError> {
        let missing = || AddrError::MissingScheme {
            text: text.to_owned(),
        };
        let (scheme, rest) = text.split_once(':').ok_or_else(missing)?;
        match scheme {
            "local" if is_local_name(rest) => Ok(ChannelAddr::Local(rest.to_owned())),
            "local" => Err(AddrError::Malformed {
                text: text.to_owned(),
                scheme: "local",
                expected: "local:NAME (NAME non-empty, using letters, digits, '_', '.', '-')",
            }),
            "tcp" => parse_tcp(text, rest),
            "unix" if !rest.is_empty() && !rest.contains('\0') => {
                Ok(ChannelAddr::Unix(rest.to_owned()))
            }
            "unix" => Err(AddrError::Malformed {
                text: text.to_owned(),
                scheme: "unix",
                expected: "unix:PATH (a non-empty path without NUL)",
            }),
            _ if is_scheme(scheme) && !rest.is_empty() => Ok(ChannelAddr::Other {
                scheme: scheme.to_owned(),
                address: rest.to_owned(),
            }),
            _ => Err(missing()),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ch_1_known_forms_parse_and_print_back() {
        for text in [
            "local:p0",
            "tcp:127.0.0.1:4000",
            "tcp:example.org:0",
            "tcp:[::1]:65535",
            "unix:/tmp/lockstep.sock",
            "sim:p1",
        ] {
            let addr: ChannelAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        assert_eq!(
            "tcp:[::1]:80".parse::<ChannelAddr>().unwrap(),
            ChannelAddr::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
    }

    #[test]
    fn ch_1_bad_addresses_are_typed_errors() {
        for text in [
            "",
            "nocolon",
            ":x",
            "TCP:1.2.3.4:5",
            "local:",
            "local:a b",
            "tcp:",
            "tcp:host",
            "tcp:host:",
            "tcp:host:+80",
            "tcp:host:65536",
            "tcp:host:123456",
            "tcp::80",
            "tcp:[::1:80",
            "tcp:[nothex]:80",
            "tcp:a/b:80",
            "unix:",
            "sim:",
        ] {
            let error = text.parse::<ChannelAddr>().unwrap_err();
            assert!(error.to_string().contains("expected"), "{text}: {error}");
        }
    }

    fn addr_strategy() -> impl Strategy<Value = ChannelAddr> {
        prop_oneof![
            "[A-Za-z0-9_.-]{1,12}".prop_map(ChannelAddr::Local),
            ("[a-z0-9.-]{1,20}", any::<u16>())
                .prop_map(|(host, port)| ChannelAddr::Tcp { host, port }),
            (any::<[u16; 8]>(), any::<u16>()).prop_map(|(segments, port)| ChannelAddr::Tcp {
                host: std::net::Ipv6Addr::from(segments).to_string(),
                port
            }),
            "[^\u{0}]{1,30}".prop_map(ChannelAddr::Unix),
            ("[a-z][a-z0-9+.-]{0,6}", "[^\u{0}]{1,20}")
                .prop_filter("not a built-in scheme", |(scheme, _)| !matches!(
                    scheme.as_str(),
                    "local" | "tcp" | "unix"
                ))
                .prop_map(|(scheme, address)| ChannelAddr::Other { scheme, address }),
        ]
    }

    proptest! {
        /// CH-1: every valid address prints to text that parses back to it.
        #[test]
        fn ch_1_display_parse_round_trip(addr in addr_strategy()) {
            let text = addr.to_string();
            prop_assert_eq!(text.parse::<ChannelAddr>(), Ok(addr));
        }

        /// CH-1: parsing arbitrary text never panics, and what parses prints back identically.
        #[test]
        fn ch_1_parse_arbitrary_text(text in "\\PC{0,40}") {
            if let Ok(addr) = text.parse::<ChannelAddr>() {
                prop_assert_eq!(addr.to_string().parse::<ChannelAddr>(), Ok(addr));
            }
        }
    }
}
