//! The bridge sections: `[vsock]`, `[ingress]`, `[egress]` with its `[[egress.route]]` and
//! `[[egress.allow]]` entries, and `[shutdown]`. `[[egress.route]]` is parsed here, once,
//! into typed [`EgressRoute`]s.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sigil_egress_policy::{AllowEntry, Allowlist, DnsConfig};
use sigil_transport::{Addr, Host, Transport, VSOCK_CID_PARENT};

use super::check::Invalid;

/// `[vsock]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsockConfig {
    /// When set, vsock is simulated with Unix sockets in this directory (no Nitro needed).
    pub simulation_dir: Option<PathBuf>,
}

impl VsockConfig {
    /// The transport this configuration asks for; the parent is CID 3.
    pub fn transport(&self) -> Transport {
        match &self.simulation_dir {
            Some(dir) => Transport::simulated(dir, VSOCK_CID_PARENT),
            None => Transport::native(),
        }
    }
}

/// `[ingress]`: TCP from the Sign Gateway to the enclave's SignService.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngressConfig {
    /// Where the gateway connects (default `tcp://0.0.0.0:50051`).
    pub listen: Addr,
    /// The enclave's SignService (default `vsock://16:50051`).
    pub connect: Addr,
    /// Connections served at once; one more is closed at once and counted.
    pub max_connections: usize,
    /// Give up dialing the enclave after this long.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Close a connection with no traffic either way for this long.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Copy buffer per direction, bytes.
    pub buffer_size: usize,
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            listen: Addr::Tcp {
                host: Host::Ip([0, 0, 0, 0].into()),
                port: 50051,
            },
            connect: Addr::Vsock {
                cid: 16,
                port: 50051,
            },
            max_connections: 1024,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(15 * 60),
            buffer_size: 64 * 1024,
        }
    }
}

/// `[egress]` as written in the file; [`EgressSection::typed`] checks it into an
/// [`EgressConfig`].
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct EgressSection {
    #[serde(rename = "route")]
    routes: Vec<RouteSection>,
    allow: Vec<AllowEntry>,
    dns: DnsConfig,
    #[serde(with = "humantime_serde")]
    connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    idle_timeout: Duration,
    buffer_size: usize,
}

impl Default for EgressSection {
    fn default() -> Self {
        let d = EgressConfig::default();
        EgressSection {
            routes: Vec::new(),
            allow: d.allow,
            dns: d.dns,
            connect_timeout: d.connect_timeout,
            idle_timeout: d.idle_timeout,
            buffer_size: d.buffer_size,
        }
    }
}

/// `[[egress.route]]` as written in the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSection {
    listen: Addr,
    to: Option<String>,
    #[serde(default)]
    http_connect: bool,
}

/// `[egress]`: the enclave's outbound connections, all through one allowlist.
#[derive(Clone, Debug)]
pub struct EgressConfig {
    /// Listeners for the enclave, in file order, each with its destination parsed.
    pub routes: Vec<EgressRoute>,
    /// Every destination must match one of these. Empty denies everything.
    pub allow: Vec<AllowEntry>,
    /// Name resolution.
    pub dns: DnsConfig,
    /// Give up dialing a destination address after this long.
    pub connect_timeout: Duration,
    /// Close a connection with no traffic either way for this long.
    pub idle_timeout: Duration,
    /// Copy buffer per direction, bytes (memory per stream is twice this).
    pub buffer_size: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            routes: Vec::new(),
            allow: Vec::new(),
            dns: DnsConfig::default(),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60 * 60),
            buffer_size: 16 * 1024,
        }
    }
}

impl EgressConfig {
    /// The allowlist.
    pub fn allowlist(&self) -> Allowlist {
        Allowlist::new(self.allow.clone())
    }
}

/// `[[egress.route]]`: one listening port for the enclave, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressRoute {
    /// Where the enclave connects, e.g. `vsock://any:8000`.
    pub listen: Addr,
    /// What the route does with a connection.
    pub kind: RouteKind,
}

/// What a route does with a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Always this destination (`to = "HOST:PORT"`, like vsock-proxy).
    Fixed(Host, u16),
    /// The destination comes from an HTTP CONNECT request (`http_connect = true`).
    HttpConnect,
}

/// `[shutdown]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// On SIGTERM, wait this long for open connections to finish before closing them.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Parses `HOST:PORT` (IPv6 in brackets).
pub fn parse_host_port(s: &str) -> Result<(Host, u16), String> {
    let (h, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` is not HOST:PORT"))?;
    let port: u16 = p
        .parse()
        .map_err(|_| format!("port `{p}` in `{s}` is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(format!("port 0 in `{s}` is not a destination port"));
    }
    Ok((Host::parse(h)?, port))
}

impl IngressConfig {
    /// The checks of `[ingress]` alone (its timeouts are checked with egress's, see
    /// [`check_timeouts_and_buffers`]).
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if self.max_connections == 0 {
            return Err((
                "ingress.max_connections".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The timeouts, then the buffer sizes, of `[ingress]` and `[egress]`.
pub(super) fn check_timeouts_and_buffers(
    i: &IngressConfig,
    e: &EgressSection,
) -> Result<(), Invalid> {
    for (field, d) in [
        ("ingress.connect_timeout", i.connect_timeout),
        ("ingress.idle_timeout", i.idle_timeout),
        ("egress.connect_timeout", e.connect_timeout),
        ("egress.idle_timeout", e.idle_timeout),
    ] {
        if d.is_zero() {
            return Err((field.into(), "must be longer than 0s".into()));
        }
    }
    for (field, size) in [
        ("ingress.buffer_size", i.buffer_size),
        ("egress.buffer_size", e.buffer_size),
    ] {
        if !(1024..=1 << 20).contains(&size) {
            return Err((
                field.into(),
                format!("{size} is outside 1024..=1048576 bytes"),
            ));
        }
    }
    Ok(())
}

impl VsockConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if let Some(dir) = &self.simulation_dir
            && !dir.is_absolute()
        {
            return Err((
                "vsock.simulation_dir".into(),
                "must be an absolute path".into(),
            ));
        }
        Ok(())
    }
}

impl EgressSection {
    /// Parses every route's destination once, checks it against the allowlist, and
    /// returns the typed section.
    pub(super) fn typed(self) -> Result<EgressConfig, Invalid> {
        let allowlist = Allowlist::new(self.allow.clone());
        let mut routes = Vec::with_capacity(self.routes.len());
        for (n, r) in self.routes.into_iter().enumerate() {
            let field = |f: &str| format!("egress.route[{n}].{f}");
            let kind = match (r.to, r.http_connect) {
                (Some(_), true) => {
                    return Err((
                        field("to"),
                        "set either `to` or `http_connect = true`, not both".into(),
                    ));
                }
                (None, false) => {
                    return Err((
                        field("to"),
                        "missing: set `to = \"HOST:PORT\"` or `http_connect = true`".into(),
                    ));
                }
                (Some(to), false) => {
                    let (host, port) = parse_host_port(&to).map_err(|m| (field("to"), m))?;
                    if !allowlist.covers(&host, port) {
                        return Err((
                            field("to"),
                            format!(
                                "`{to}` matches no [[egress.allow]] entry, so every connection would be denied"
                            ),
                        ));
                    }
                    RouteKind::Fixed(host, port)
                }
                (None, true) => RouteKind::HttpConnect,
            };
            routes.push(EgressRoute {
                listen: r.listen,
                kind,
            });
        }
        Ok(EgressConfig {
            routes,
            allow: self.allow,
            dns: self.dns,
            connect_timeout: self.connect_timeout,
            idle_timeout: self.idle_timeout,
            buffer_size: self.buffer_size,
        })
    }
}
