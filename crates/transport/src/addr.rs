//! The address type shared by every configuration file and command line of Sigil.
//!
//! Three schemes, each printed back exactly as parsed:
//! `vsock://CID:PORT` (CID a number or `any`), `unix:///absolute/path`, and
//! `tcp://HOST:PORT` (HOST an IPv4 literal, a bracketed IPv6 literal or a DNS name).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// `VMADDR_CID_ANY`: bind on every CID the kernel gives this side.
pub const VSOCK_CID_ANY: u32 = u32::MAX;
/// The parent instance as seen from inside a Nitro Enclave.
pub const VSOCK_CID_PARENT: u32 = 3;

/// A host in a `tcp://` address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP literal.
    Ip(IpAddr),
    /// A DNS name (lower-cased, without a trailing dot).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl Host {
    /// Parses a host as it appears in `host:port` (IPv6 literals in brackets).
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| format!("IPv6 literal `{s}` lacks its closing `]`"))?;
            return inner
                .parse::<std::net::Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| format!("`{inner}` is not an IPv6 address"));
        }
        if let Ok(ip) = s.parse::<std::net::Ipv4Addr>() {
            return Ok(Host::Ip(IpAddr::V4(ip)));
        }
        if s.contains(':') {
            return Err(format!(
                "IPv6 literal `{s}` must be written in brackets: `[{s}]`"
            ));
        }
        validate_dns_name(s).map(Host::Name)
    }
}

/// Checks a DNS name (RFC 1123 labels) and returns its canonical form: lower case, no
/// trailing dot. Anything else — empty labels, underscores, spaces, over-long names — is
/// refused, so a name can be logged and matched without surprises.
pub fn validate_dns_name(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return Err("host name is empty".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "host name is {} bytes long; the limit is 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("host name `{s}` has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("host name `{s}` has a label over 63 bytes"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "host name `{s}` has a label starting or ending with `-`"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("host name `{s}` contains the character {c:?}"));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("`{s}` is neither an IPv4 address nor a host name"));
    }
    Ok(name.to_ascii_lowercase())
}

/// Where to listen or to connect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// An AF_VSOCK address. `cid` is [`VSOCK_CID_ANY`] for `vsock://any:PORT`.
    Vsock {
        /// Context id (16 by default for the enclave, 3 for the parent as seen from it).
        cid: u32,
        /// vsock port.
        port: u32,
    },
    /// A Unix stream socket at an absolute path.
    Unix(PathBuf),
    /// A TCP endpoint.
    Tcp {
        /// IP literal or DNS name.
        host: Host,
        /// TCP port.
        port: u16,
    },
}

impl Addr {
    /// A TCP address for a socket address.
    pub fn tcp(sa: SocketAddr) -> Self {
        Addr::Tcp {
            host: Host::Ip(sa.ip()),
            port: sa.port(),
        }
    }
}

/// Why a string is not an [`Addr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{input}`: {reason}")]
pub struct AddrParseError {
    input: String,
    reason: String,
}

impl FromStr for Addr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| AddrParseError {
            input: s.to_owned(),
            reason,
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            fail("expected `vsock://CID:PORT`, `unix:///path` or `tcp://HOST:PORT`".into())
        })?;
        match scheme {
            "vsock" => {
                let (cid, port) = rest
                    .split_once(':')
                    .ok_or_else(|| fail("a vsock address is `vsock://CID:PORT`".into()))?;
                let cid = match cid {
                    "any" => VSOCK_CID_ANY,
                    _ => cid.parse::<u32>().map_err(|_| {
                        fail(format!("CID `{cid}` is not a number below 2^32 or `any`"))
                    })?,
                };
                if cid == VSOCK_CID_ANY && rest.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(fail("write CID 4294967295 as `any`".into()));
                }
                let port = port
                    .parse::<u32>()
                    .map_err(|_| fail(format!("port `{port}` is not a number below 2^32")))?;
                Ok(Addr::Vsock { cid, port })
            }
            "unix" => {
                if rest.is_empty() {
                    return Err(fail("the socket path is empty".into()));
                }
                if !rest.starts_with('/') {
                    return Err(fail(format!(
                        "the socket path must be absolute: `unix:///{rest}` has three slashes"
                    )));
                }
                if rest.len() > 107 {
                    return Err(fail(format!(
                        "the socket path is {} bytes; Unix sockets allow 107",
                        rest.len()
                    )));
                }
                Ok(Addr::Unix(PathBuf::from(rest)))
            }
            "tcp" => {
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| fail("a TCP address is `tcp://HOST:PORT`".into()))?;
                let port = port
                    .parse::<u16>()
                    .map_err(|_| fail(format!("port `{port}` is not a number from 0 to 65535")))?;
                let host = Host::parse(host).map_err(fail)?;
                Ok(Addr::Tcp { host, port })
            }
            other => Err(fail(format!(
                "unknown scheme `{other}`; use `vsock`, `unix` or `tcp`"
            ))),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Vsock {
                cid: VSOCK_CID_ANY,
                port,
            } => write!(f, "vsock://any:{port}"),
            Addr::Vsock { cid, port } => write!(f, "vsock://{cid}:{port}"),
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
            Addr::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Addr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Addr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "vsock://16:50051",
            "vsock://any:8000",
            "vsock://3:7000",
            "unix:///run/sigil/x.sock",
            "tcp://127.0.0.1:50051",
            "tcp://0.0.0.0:0",
            "tcp://[::1]:8080",
            "tcp://kms.eu-west-1.amazonaws.com:443",
        ] {
            let a: Addr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn names_are_canonical() {
        let a: Addr = "tcp://KMS.Example.COM.:443".parse().unwrap();
        assert_eq!(a.to_string(), "tcp://kms.example.com:443");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("16:50051", "expected `vsock://"),
            ("vsock://16", "vsock://CID:PORT"),
            ("vsock://x:1", "CID `x`"),
            ("vsock://16:port", "port `port`"),
            ("vsock://4294967295:1", "as `any`"),
            ("unix://run/x.sock", "must be absolute"),
            ("unix://", "empty"),
            ("tcp://127.0.0.1", "HOST:PORT"),
            ("tcp://127.0.0.1:70000", "0 to 65535"),
            ("tcp://::1:80", "brackets"),
            ("tcp://[::1:80", "closing"),
            ("tcp://bad_name:80", "'_'"),
            ("tcp://a..b:80", "empty label"),
            ("tcp://1.2.3.999:80", "neither an IPv4"),
            ("http://x:80", "unknown scheme `http`"),
        ];
        for (input, needle) in cases {
            let err = input.parse::<Addr>().unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
            assert!(err.contains(input), "{input}: {err}");
        }
        let long = format!("unix:///{}", "a".repeat(200));
        assert!(
            long.parse::<Addr>()
                .unwrap_err()
                .to_string()
                .contains("107")
        );
    }
}
