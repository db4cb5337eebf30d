//! parent-agent's configuration file (TOML), its defaults and its validation.
//!
//! Unknown fields are errors, and every error names the field it is about, so a typo
//! fails at start (or in `parent-agent check-config`) instead of being silently ignored.
//! docs/configuration.md documents every field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sigil_egress_policy::{AllowEntry, Allowlist, DnsConfig};
use sigil_transport::{Addr, Host, Transport, VSOCK_CID_PARENT};

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How vsock addresses are realised.
    #[serde(default)]
    pub vsock: VsockConfig,
    /// Gateway → enclave.
    #[serde(default)]
    pub ingress: IngressConfig,
    /// Enclave → outside world.
    #[serde(default)]
    pub egress: EgressConfig,
    /// Behaviour on SIGTERM.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// The enclave and how to supervise it (`run` without it serves the bridges only).
    pub enclave: Option<crate::supervision_config::EnclaveConfig>,
    /// The boot bundle served on vsock 7000 (required with `[enclave]`).
    pub provisioning: Option<crate::supervision_config::ProvisioningConfig>,
    /// The attestation gate in front of ingress (required with `[enclave]`).
    pub attestation: Option<crate::supervision_config::AttestationConfig>,
    /// `/livez`, `/readyz`, `/metrics` and the enclave health probe.
    #[serde(default)]
    pub health: crate::supervision_config::HealthConfig,
    /// The enclave's log stream (vsock 7001).
    #[serde(default)]
    pub logs: crate::supervision_config::LogsConfig,
}

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

fn default_ingress_listen() -> Addr {
    Addr::Tcp {
        host: Host::Ip([0, 0, 0, 0].into()),
        port: 50051,
    }
}
fn default_ingress_connect() -> Addr {
    Addr::Vsock {
        cid: 16,
        port: 50051,
    }
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_ingress_idle() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_egress_idle() -> Duration {
    Duration::from_secs(60 * 60)
}
fn default_max_connections() -> usize {
    1024
}
fn default_ingress_buffer() -> usize {
    64 * 1024
}
fn default_egress_buffer() -> usize {
    16 * 1024
}
fn default_drain() -> Duration {
    Duration::from_secs(30)
}

/// `[ingress]`: TCP from the Sign Gateway to the enclave's SignService.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressConfig {
    /// Where the gateway connects (default `tcp://0.0.0.0:50051`).
    #[serde(default = "default_ingress_listen")]
    pub listen: Addr,
    /// The enclave's SignService (default `vsock://16:50051`).
    #[serde(default = "default_ingress_connect")]
    pub connect: Addr,
    /// Connections served at once; one more is closed at once and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Give up dialing the enclave after this long.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Close a connection with no traffic either way for this long.
    #[serde(default = "default_ingress_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Copy buffer per direction, bytes.
    #[serde(default = "default_ingress_buffer")]
    pub buffer_size: usize,
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            listen: default_ingress_listen(),
            connect: default_ingress_connect(),
            max_connections: default_max_connections(),
            connect_timeout: default_connect_timeout(),
            idle_timeout: default_ingress_idle(),
            buffer_size: default_ingress_buffer(),
        }
    }
}

/// `[egress]`: the enclave's outbound connections, all through one allowlist.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Listeners for the enclave.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    /// Every destination must match one of these. Empty denies everything.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
    /// Name resolution.
    #[serde(default)]
    pub dns: DnsConfig,
    /// Give up dialing a destination address after this long.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Close a connection with no traffic either way for this long.
    #[serde(default = "default_egress_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Copy buffer per direction, bytes (memory per stream is twice this).
    #[serde(default = "default_egress_buffer")]
    pub buffer_size: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            routes: Vec::new(),
            allow: Vec::new(),
            dns: DnsConfig::default(),
            connect_timeout: default_connect_timeout(),
            idle_timeout: default_egress_idle(),
            buffer_size: default_egress_buffer(),
        }
    }
}

/// `[[egress.route]]`: one listening port for the enclave.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Where the enclave connects, e.g. `vsock://any:8000`.
    pub listen: Addr,
    /// A fixed destination `HOST:PORT` (like vsock-proxy).
    pub to: Option<String>,
    /// Instead of `to`: an HTTP CONNECT endpoint where the enclave names `HOST:PORT`.
    #[serde(default)]
    pub http_connect: bool,
}

/// What a route does with a connection, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Always this destination.
    Fixed(Host, u16),
    /// The destination comes from an HTTP CONNECT request.
    HttpConnect,
}

/// `[shutdown]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// On SIGTERM, wait this long for open connections to finish before closing them.
    #[serde(default = "default_drain", with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout: default_drain(),
        }
    }
}

/// A configuration error, naming the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed or a field has the wrong type or an unknown name.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message (with line, column and field).
        message: String,
    },
    /// The fields parse but do not make sense together.
    #[error("{path}: `{field}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The dotted field path.
        field: String,
        /// What is wrong.
        message: String,
    },
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

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        Config::parse(&text, &p)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// The routes with their kinds, in file order.
    pub fn routes(&self) -> Vec<(Addr, RouteKind)> {
        self.egress
            .routes
            .iter()
            .filter_map(|r| {
                let kind = match (&r.to, r.http_connect) {
                    (Some(to), false) => parse_host_port(to)
                        .ok()
                        .map(|(h, p)| RouteKind::Fixed(h, p))?,
                    (None, true) => RouteKind::HttpConnect,
                    _ => return None,
                };
                Some((r.listen.clone(), kind))
            })
            .collect()
    }

    /// The allowlist.
    pub fn allowlist(&self) -> Allowlist {
        Allowlist::new(self.egress.allow.clone())
    }

    /// Whether vsock is simulated (the simulation's relaxations are allowed only then).
    pub fn simulated(&self) -> bool {
        self.vsock.simulation_dir.is_some()
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            field,
            message,
        };
        let i = &self.ingress;
        if i.max_connections == 0 {
            return Err(invalid(
                "ingress.max_connections".into(),
                "must be at least 1".into(),
            ));
        }
        for (field, d) in [
            ("ingress.connect_timeout", i.connect_timeout),
            ("ingress.idle_timeout", i.idle_timeout),
            ("egress.connect_timeout", self.egress.connect_timeout),
            ("egress.idle_timeout", self.egress.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(field.into(), "must be longer than 0s".into()));
            }
        }
        for (field, size) in [
            ("ingress.buffer_size", i.buffer_size),
            ("egress.buffer_size", self.egress.buffer_size),
        ] {
            if !(1024..=1 << 20).contains(&size) {
                return Err(invalid(
                    field.into(),
                    format!("{size} is outside 1024..=1048576 bytes"),
                ));
            }
        }
        if let Some(dir) = &self.vsock.simulation_dir
            && !dir.is_absolute()
        {
            return Err(invalid(
                "vsock.simulation_dir".into(),
                "must be an absolute path".into(),
            ));
        }
        crate::supervision_config::validate(self, &invalid)?;
        let mut listens = vec![("ingress.listen".to_owned(), &i.listen)];
        let allowlist = self.allowlist();
        for (n, r) in self.egress.routes.iter().enumerate() {
            let field = |f: &str| format!("egress.route[{n}].{f}");
            match (&r.to, r.http_connect) {
                (Some(_), true) => {
                    return Err(invalid(
                        field("to"),
                        "set either `to` or `http_connect = true`, not both".into(),
                    ));
                }
                (None, false) => {
                    return Err(invalid(
                        field("to"),
                        "missing: set `to = \"HOST:PORT\"` or `http_connect = true`".into(),
                    ));
                }
                (Some(to), false) => {
                    let (host, port) = parse_host_port(to).map_err(|m| invalid(field("to"), m))?;
                    if !allowlist.covers(&host, port) {
                        return Err(invalid(
                            field("to"),
                            format!(
                                "`{to}` matches no [[egress.allow]] entry, so every connection would be denied"
                            ),
                        ));
                    }
                }
                (None, true) => {}
            }
            listens.push((field("listen"), &r.listen));
        }
        if self.enclave.is_some() {
            listens.push(("health.listen".into(), &self.health.listen));
            listens.push(("logs.listen".into(), &self.logs.listen));
            if let Some(p) = &self.provisioning {
                listens.push(("provisioning.listen".into(), &p.listen));
            }
        }
        for (a, (fa, la)) in listens.iter().enumerate() {
            // Port 0 asks the kernel for a free port: never a clash.
            let ephemeral = matches!(la, Addr::Tcp { port: 0, .. });
            if let Some((fb, _)) = listens[..a].iter().find(|(_, lb)| !ephemeral && lb == la) {
                return Err(invalid(
                    fa.clone(),
                    format!("{la} is already used by `{fb}`"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let c = Config::parse("", "t.toml").unwrap();
        assert_eq!(c.ingress.listen.to_string(), "tcp://0.0.0.0:50051");
        assert_eq!(c.ingress.connect.to_string(), "vsock://16:50051");
        assert!(c.egress.allow.is_empty());
        assert!(c.routes().is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "[ingress]\nlisen = \"tcp://0.0.0.0:1\"",
                "unknown field `lisen`",
            ),
            (
                "[ingress]\nlisten = \"tcp://0.0.0.0\"",
                "listen = \"tcp://0.0.0.0\"",
            ),
            (
                "[ingress]\nmax_connections = 0",
                "`ingress.max_connections`",
            ),
            ("[ingress]\nidle_timeout = \"soon\"", "idle_timeout"),
            ("[ingress]\nidle_timeout = \"0s\"", "`ingress.idle_timeout`"),
            ("[egress]\nbuffer_size = 10", "`egress.buffer_size`"),
            (
                "[vsock]\nsimulation_dir = \"rel\"",
                "`vsock.simulation_dir`",
            ),
            (
                "[[egress.route]]\nlisten = \"vsock://any:8000\"",
                "`egress.route[0].to`: missing",
            ),
            (
                "[[egress.route]]\nlisten = \"vsock://any:8000\"\nto = \"a.example:1\"\nhttp_connect = true",
                "not both",
            ),
            (
                "[[egress.route]]\nlisten = \"vsock://any:8000\"\nto = \"a.example\"",
                "HOST:PORT",
            ),
            (
                "[[egress.route]]\nlisten = \"vsock://any:8000\"\nto = \"a.example:443\"",
                "matches no [[egress.allow]]",
            ),
            (
                "[[egress.route]]\nlisten = \"tcp://0.0.0.0:50051\"\nhttp_connect = true",
                "`egress.route[0].listen`: tcp://0.0.0.0:50051 is already used by `ingress.listen`",
            ),
            (
                "[[egress.allow]]\nhost = \"*.com\"\nport = 443",
                "top-level",
            ),
            (
                "[[egress.allow]]\nhost = \"a.example\"",
                "missing field `port`",
            ),
        ];
        for (text, needle) in cases {
            let e = err(text);
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(e.starts_with("t.toml"), "{e}");
        }
    }

    #[test]
    fn routes_are_checked_against_the_allowlist() {
        let c = Config::parse(
            r#"
            [[egress.route]]
            listen = "vsock://any:8000"
            to = "kms.eu-west-1.amazonaws.com:443"
            [[egress.route]]
            listen = "vsock://any:8080"
            to = "sse.gw.example:8080"
            [[egress.route]]
            listen = "vsock://any:8081"
            http_connect = true
            [[egress.allow]]
            host = "kms.eu-west-1.amazonaws.com"
            port = 443
            [[egress.allow]]
            host = "*.gw.example"
            port = 8080
            "#,
            "t.toml",
        )
        .unwrap();
        let kinds: Vec<_> = c.routes().into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds.len(), 3);
        assert_eq!(kinds[2], RouteKind::HttpConnect);
    }
}
