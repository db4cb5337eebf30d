//! Deciding a destination: allowlist match, then resolution and the special-range rule.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use serde::Deserialize;
use sigil_transport::Host;

use crate::allowlist::{Allowlist, HostMatch};
use crate::ranges::{canonical, special_range};

/// How names are resolved on the parent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Name servers as `IP:PORT`. Empty (the default): the system's, from
    /// `/etc/resolv.conf`, with `/etc/hosts` consulted first.
    #[serde(default)]
    pub nameservers: Vec<SocketAddr>,
    /// Per-query timeout (default 5 s).
    #[serde(default, with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    /// Upper bound on how long an answer is cached, whatever its TTL says.
    #[serde(default, with = "humantime_serde::option")]
    pub max_ttl: Option<Duration>,
}

/// A policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The system resolver configuration could not be read.
    #[error("reading the system DNS configuration: {0}")]
    SystemDns(String),
}

/// Why a destination was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// No entry names this host.
    NoMatchingEntry,
    /// Entries name this host, but on other ports.
    PortNotAllowed {
        /// The ports the host is allowed on.
        allowed: Vec<u16>,
    },
    /// The host is, or resolves to, an address in a special range no entry names.
    SpecialRange {
        /// The offending address.
        addr: IpAddr,
        /// Which range: "loopback", "private", "link-local", ...
        kind: &'static str,
    },
    /// Resolution failed (NXDOMAIN, timeout, no answer).
    ResolveFailed(String),
}

impl DenyReason {
    /// A stable label for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::NoMatchingEntry => "no_matching_entry",
            DenyReason::PortNotAllowed { .. } => "port_not_allowed",
            DenyReason::SpecialRange { .. } => "special_range",
            DenyReason::ResolveFailed(_) => "resolve_failed",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NoMatchingEntry => f.write_str("no allowlist entry names this host"),
            DenyReason::PortNotAllowed { allowed } => {
                let ports: Vec<String> = allowed.iter().map(u16::to_string).collect();
                write!(
                    f,
                    "host is allowlisted only on port(s) {}",
                    ports.join(", ")
                )
            }
            DenyReason::SpecialRange { addr, kind } => {
                write!(
                    f,
                    "{addr} is a {kind} address and no entry names that range"
                )
            }
            DenyReason::ResolveFailed(e) => write!(f, "resolution failed: {e}"),
        }
    }
}

/// The outcome for one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Connect to these addresses, in order.
    Allow {
        /// The entry that allowed it, as written.
        entry: String,
        /// Addresses to try.
        addrs: Vec<SocketAddr>,
    },
    /// Refuse.
    Deny(DenyReason),
}

/// The allowlist plus a resolver.
#[derive(Clone)]
pub struct Policy {
    allowlist: Allowlist,
    resolver: TokioResolver,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("allowlist", &self.allowlist)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Builds a policy. Must be called inside a tokio runtime.
    pub fn new(allowlist: Allowlist, dns: &DnsConfig) -> Result<Self, PolicyError> {
        let mut builder = if dns.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| PolicyError::SystemDns(e.to_string()))?
        } else {
            let servers = dns
                .nameservers
                .iter()
                .map(|sa| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = sa.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = sa.port();
                    NameServerConfig::new(sa.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts = builder.options_mut();
        if let Some(t) = dns.timeout {
            opts.timeout = t;
        }
        if let Some(t) = dns.max_ttl {
            opts.positive_max_ttl = Some(t);
            opts.negative_max_ttl = Some(t);
        }
        let resolver = builder
            .build()
            .map_err(|e| PolicyError::SystemDns(e.to_string()))?;
        Ok(Policy {
            allowlist,
            resolver,
        })
    }

    /// The allowlist.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// Decides whether `host:port` may be reached and, if so, at which addresses.
    ///
    /// Names resolve through the cache (answers live for their TTL). If any resolved
    /// address is in a special range that no entry names, the whole destination is
    /// refused: mixed public and private answers are how DNS rebinding looks.
    pub async fn decide(&self, host: &Host, port: u16) -> Decision {
        let entry = match self.allowlist.match_host(host, port) {
            HostMatch::Allowed(e) => e.to_string(),
            HostMatch::OtherPorts(allowed) => {
                return Decision::Deny(DenyReason::PortNotAllowed { allowed });
            }
            HostMatch::None => return Decision::Deny(DenyReason::NoMatchingEntry),
        };
        let ips: Vec<IpAddr> = match host {
            Host::Ip(ip) => vec![canonical(*ip)],
            Host::Name(name) => {
                // A fully qualified name: no search-domain expansion on the parent.
                match self.resolver.lookup_ip(format!("{name}.")).await {
                    Ok(l) => l.iter().map(canonical).collect(),
                    Err(e) => return Decision::Deny(DenyReason::ResolveFailed(e.to_string())),
                }
            }
        };
        if ips.is_empty() {
            return Decision::Deny(DenyReason::ResolveFailed("no addresses".into()));
        }
        for ip in &ips {
            if let Some((_, kind)) = special_range(*ip)
                && self.allowlist.explicit_range_for(*ip, port).is_none()
            {
                return Decision::Deny(DenyReason::SpecialRange { addr: *ip, kind });
            }
        }
        Decision::Allow {
            entry,
            addrs: ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        }
    }
}
