//! Allowlist entries and matching, independent of DNS.
//!
//! An entry is `{ host = "...", port = N }`. `host` is an exact DNS name
//! (`kms.eu-west-1.amazonaws.com`), a wildcard (`*.example.com`: any name strictly below
//! `example.com`, not `example.com` itself), an IP literal (`10.0.0.5`, `::1`) or a CIDR
//! (`10.0.0.0/8`). The port is required: there is no "any port".

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use sigil_transport::{Host, validate_dns_name};

use crate::ranges::{canonical, names_special_range};

/// The host half of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// One DNS name, canonical (lower case, no trailing dot).
    Exact(String),
    /// `*.suffix`: stored as the suffix without `*.`.
    Wildcard(String),
    /// An IP network; an IP literal is a /32 or /128.
    Net(IpNet),
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(n) => f.write_str(n),
            HostPattern::Wildcard(s) => write!(f, "*.{s}"),
            HostPattern::Net(n) if n.prefix_len() == n.max_prefix_len() => {
                write!(f, "{}", n.addr())
            }
            HostPattern::Net(n) => write!(f, "{n}"),
        }
    }
}

/// Why an entry is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowlist entry `{host}`: {reason}")]
pub struct EntryError {
    host: String,
    reason: String,
}

impl HostPattern {
    /// Parses the `host` field of an entry.
    pub fn parse(s: &str) -> Result<Self, EntryError> {
        let fail = |reason: String| EntryError {
            host: s.to_owned(),
            reason,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(fail("the host is empty".into()));
        }
        if t.contains('/') {
            let net: IpNet = t
                .parse()
                .map_err(|_| fail("not a valid CIDR (e.g. 10.0.0.0/8)".into()))?;
            if net.trunc() != net {
                return Err(fail(format!(
                    "host bits are set; did you mean {}?",
                    net.trunc()
                )));
            }
            return Ok(HostPattern::Net(canonical_net(net)));
        }
        let bare = t
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(t);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(HostPattern::Net(IpNet::from(canonical(ip))));
        }
        if let Some(suffix) = t.strip_prefix("*.") {
            let suffix = validate_dns_name(suffix).map_err(fail)?;
            if !suffix.contains('.') {
                return Err(fail(format!(
                    "`*.{suffix}` would allow a whole top-level domain"
                )));
            }
            return Ok(HostPattern::Wildcard(suffix));
        }
        if t.contains('*') {
            return Err(fail("a wildcard is only allowed as a leading `*.`".into()));
        }
        validate_dns_name(t).map(HostPattern::Exact).map_err(fail)
    }

    fn matches_name(&self, name: &str) -> bool {
        match self {
            HostPattern::Exact(n) => n == name,
            HostPattern::Wildcard(s) => {
                name.len() > s.len() + 1
                    && name.ends_with(s.as_str())
                    && name.as_bytes()[name.len() - s.len() - 1] == b'.'
            }
            HostPattern::Net(_) => false,
        }
    }

    fn contains_ip(&self, ip: IpAddr) -> bool {
        matches!(self, HostPattern::Net(n) if n.contains(&canonical(ip)))
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) is the IPv4 network it denotes,
/// so that it matches destinations, which are judged as IPv4 too.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Ok(n) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(n);
    }
    net
}

/// One allowlist entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawEntry")]
pub struct AllowEntry {
    /// What hosts it covers.
    pub host: HostPattern,
    /// The one port it covers.
    pub port: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    host: String,
    port: u16,
}

impl TryFrom<RawEntry> for AllowEntry {
    type Error = EntryError;
    fn try_from(r: RawEntry) -> Result<Self, EntryError> {
        if r.port == 0 {
            return Err(EntryError {
                host: r.host,
                reason: "port 0 is not a destination port".into(),
            });
        }
        Ok(AllowEntry {
            host: HostPattern::parse(&r.host)?,
            port: r.port,
        })
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Net(n) if n.addr().is_ipv6() && n.prefix_len() == 128 => {
                write!(f, "[{}]:{}", n.addr(), self.port)
            }
            h => write!(f, "{h}:{}", self.port),
        }
    }
}

/// Result of matching a destination's host and port against the entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostMatch<'a> {
    /// An entry covers host and port.
    Allowed(&'a AllowEntry),
    /// Entries cover the host, but only on these other ports.
    OtherPorts(Vec<u16>),
    /// No entry covers the host.
    None,
}

/// An ordered set of entries. Empty denies everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<AllowEntry>,
}

impl Allowlist {
    /// Builds an allowlist from entries.
    pub fn new(entries: Vec<AllowEntry>) -> Self {
        Allowlist { entries }
    }

    /// The entries.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// Whether some entry names `host` on `port` (no DNS: names by pattern, IPs by
    /// network). Used to reject configurations whose fixed routes could never connect.
    pub fn covers(&self, host: &Host, port: u16) -> bool {
        matches!(self.match_host(host, port), HostMatch::Allowed(_))
    }

    pub(crate) fn match_host(&self, host: &Host, port: u16) -> HostMatch<'_> {
        let covers = |e: &AllowEntry| match host {
            Host::Name(n) => e.host.matches_name(n),
            Host::Ip(ip) => e.host.contains_ip(*ip),
        };
        let mut other = Vec::new();
        for e in self.entries.iter().filter(|e| covers(e)) {
            if e.port == port {
                return HostMatch::Allowed(e);
            }
            other.push(e.port);
        }
        other.sort_unstable();
        other.dedup();
        if other.is_empty() {
            HostMatch::None
        } else {
            HostMatch::OtherPorts(other)
        }
    }

    /// The entry that explicitly names the special range holding `ip` on `port`, if any.
    pub(crate) fn explicit_range_for(&self, ip: IpAddr, port: u16) -> Option<&AllowEntry> {
        self.entries.iter().find(|e| {
            e.port == port && matches!(&e.host, HostPattern::Net(n) if names_special_range(n) && n.contains(&canonical(ip)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(toml_src: &str) -> Allowlist {
        #[derive(Deserialize)]
        struct F {
            allow: Vec<AllowEntry>,
        }
        Allowlist::new(toml::from_str::<F>(toml_src).unwrap().allow)
    }

    fn name(n: &str) -> Host {
        Host::Name(n.into())
    }

    #[test]
    fn patterns_parse_and_print() {
        for (input, printed) in [
            ("kms.eu-west-1.amazonaws.com", "kms.eu-west-1.amazonaws.com"),
            ("KMS.example.com.", "kms.example.com"),
            ("*.example.com", "*.example.com"),
            ("10.0.0.5", "10.0.0.5"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("::ffff:10.0.0.5", "10.0.0.5"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
            ("::ffff:0:0/128", "0.0.0.0"),
            ("fd00::/8", "fd00::/8"),
        ] {
            assert_eq!(
                HostPattern::parse(input).unwrap().to_string(),
                printed,
                "{input}"
            );
        }
        for (input, needle) in [
            ("", "empty"),
            ("*.com", "top-level"),
            ("a.*.com", "leading"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("10.0.0.0/33", "CIDR"),
            ("bad_name", "'_'"),
        ] {
            let e = HostPattern::parse(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{input}: {e}");
        }
    }

    #[test]
    fn port_is_required_and_nonzero() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct F {
            allow: Vec<AllowEntry>,
        }
        let e = toml::from_str::<F>("allow = [{ host = \"a.example\" }]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `port`"), "{e}");
        let e = toml::from_str::<F>("allow = [{ host = \"a.example\", port = 0 }]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("port 0"), "{e}");
        let e =
            toml::from_str::<F>("allow = [{ host = \"a.example\", port = 1, proto = \"tcp\" }]")
                .unwrap_err()
                .to_string();
        assert!(e.contains("unknown field `proto`"), "{e}");
    }

    #[test]
    fn matching() {
        let l = list(
            r#"allow = [
                { host = "kms.eu-west-1.amazonaws.com", port = 443 },
                { host = "*.gateway.example", port = 8080 },
                { host = "52.94.133.131", port = 443 },
                { host = "10.1.0.0/16", port = 8080 },
            ]"#,
        );
        assert!(matches!(
            l.match_host(&name("kms.eu-west-1.amazonaws.com"), 443),
            HostMatch::Allowed(_)
        ));
        assert_eq!(
            l.match_host(&name("kms.eu-west-1.amazonaws.com"), 8443),
            HostMatch::OtherPorts(vec![443])
        );
        assert_eq!(
            l.match_host(&name("kms.eu-west-2.amazonaws.com"), 443),
            HostMatch::None
        );
        assert!(matches!(
            l.match_host(&name("a.gateway.example"), 8080),
            HostMatch::Allowed(_)
        ));
        assert!(matches!(
            l.match_host(&name("a.b.gateway.example"), 8080),
            HostMatch::Allowed(_)
        ));
        assert_eq!(
            l.match_host(&name("gateway.example"), 8080),
            HostMatch::None
        );
        assert_eq!(
            l.match_host(&name("evilgateway.example"), 8080),
            HostMatch::None
        );
        assert!(matches!(
            l.match_host(&Host::Ip("52.94.133.131".parse().unwrap()), 443),
            HostMatch::Allowed(_)
        ));
        assert!(matches!(
            l.match_host(&Host::Ip("::ffff:52.94.133.131".parse().unwrap()), 443),
            HostMatch::Allowed(_)
        ));
        assert!(matches!(
            l.match_host(&Host::Ip("10.1.2.3".parse().unwrap()), 8080),
            HostMatch::Allowed(_)
        ));
        assert_eq!(
            l.match_host(&Host::Ip("10.2.0.1".parse().unwrap()), 8080),
            HostMatch::None
        );
        // A name entry never covers an IP literal, nor an IP entry a name.
        assert_eq!(
            l.match_host(&name("52-94-133-131.example"), 443),
            HostMatch::None
        );
        assert!(Allowlist::default().entries().is_empty());
        assert_eq!(
            Allowlist::default().match_host(&name("a.example"), 1),
            HostMatch::None
        );
    }
}
