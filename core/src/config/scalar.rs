//! Option value shapes shared by several blocks: sizes, ports, `host:port` addresses,
//! and "one string or a list of strings".

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

use crate::conf::units;

/// Port that asks the operating system to choose (nats-server's `-1`, `RANDOM_PORT`).
pub const EPHEMERAL_PORT: u16 = 0;

/// A listen address: `host:port`, or just a port (the host then comes from elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    pub host: Option<String>,
    /// [`EPHEMERAL_PORT`] lets the operating system choose.
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostPort {
            host: Some(host.into()),
            port,
        }
    }

    /// Parses `host:port`, `[v6]:port` or `:port`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("could not parse address string \"{s}\": missing port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("could not parse address string \"{s}\": invalid port"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.contains(':') && !s.starts_with('[') {
            return Err(format!(
                "could not parse address string \"{s}\": IPv6 hosts need brackets"
            ));
        }
        Ok(HostPort {
            host: (!host.is_empty()).then(|| host.to_string()),
            port,
        })
    }

    /// The host, or `default` when the address only named a port.
    pub fn host_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.host.as_deref().unwrap_or(default)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) if h.contains(':') => write!(f, "[{h}]:{}", self.port),
            Some(h) => write!(f, "{h}:{}", self.port),
            None => write!(f, ":{}", self.port),
        }
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HostPort;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"host:port\" or a port number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HostPort, E> {
                Ok(HostPort {
                    host: None,
                    port: port_from_i64(v)?.unwrap_or(EPHEMERAL_PORT),
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HostPort, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HostPort, E> {
                HostPort::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `-1` is "let the OS choose", `0` is "not set" (nats-server's conventions).
fn port_from_i64<E: de::Error>(v: i64) -> Result<Option<u16>, E> {
    match v {
        -1 => Some(Some(EPHEMERAL_PORT)),
        0 => Some(None),
        p => u16::try_from(p).ok().map(Some),
    }
    .ok_or_else(|| {
        E::custom(format!(
            "invalid port {v}: expected 1-65535, or -1 for any free port"
        ))
    })
}

struct PortVisitor;

impl Visitor<'_> for PortVisitor {
    type Value = Option<u16>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port number (-1 for any free port)")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u16>, E> {
        port_from_i64(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u16>, E> {
        port_from_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// The client port: `0` (or absent) means the default 4222, `-1` any free port.
pub fn client_port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    Ok(d.deserialize_any(PortVisitor)?
        .unwrap_or(super::DEFAULT_PORT))
}

/// A port that may be off: `0` (or absent) is off, `-1` any free port.
pub fn optional_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    d.deserialize_any(PortVisitor)
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size such as 1048576, 1MB or \"512KB\"")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("invalid size {v}: must not be negative")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        let n = units::parse_int_with_unit(v).map_err(E::custom)?;
        self.visit_i64(n)
    }
}

/// `deserialize_with` for a size in bytes (or a count): integer, or string with a unit.
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(SizeVisitor)
}

/// `deserialize_with` for a `u32` count that may be written with units (`10k`).
pub fn count_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = d.deserialize_any(SizeVisitor)?;
    u32::try_from(n)
        .map_err(|_| de::Error::custom(format!("{n} is too large (maximum {})", u32::MAX)))
}

struct StringsVisitor;

impl<'de> Visitor<'de> for StringsVisitor {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            out.push(s);
        }
        Ok(out)
    }
}

/// `deserialize_with` for options that take one string or a list of them.
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringsVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            HostPort::parse("127.0.0.1:4222"),
            Ok(HostPort::new("127.0.0.1", 4222))
        );
        assert_eq!(
            HostPort::parse("localhost:1"),
            Ok(HostPort::new("localhost", 1))
        );
        assert_eq!(
            HostPort::parse("[::1]:4222"),
            Ok(HostPort::new("::1", 4222))
        );
        assert_eq!(
            HostPort::parse(":4222"),
            Ok(HostPort {
                host: None,
                port: 4222
            })
        );
        assert!(HostPort::parse("localhost").is_err());
        assert!(HostPort::parse("h:70000").is_err());
        assert!(HostPort::parse("::1:4222").is_err());
        assert_eq!(HostPort::new("::1", 5).to_string(), "[::1]:5");
        assert_eq!(HostPort::new("h", 5).to_string(), "h:5");
    }
}
