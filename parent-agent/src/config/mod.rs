//! parent-agent's configuration file (TOML): its sections, their defaults, and the one place
//! it is validated ([`Config::parse`]), which turns the file into typed values — routes with
//! their destinations parsed, the enclave's [`Runner`], and the supervision sections grouped
//! in one [`Supervision`] — so nothing downstream re-checks or re-parses it.
//!
//! Unknown fields are errors, and every error names the field it is about, so a typo
//! fails at start (or in `parent-agent check-config`) instead of being silently ignored.
//! Everything the simulation relaxes (the process runner, static credentials, a development
//! attestation root, plaintext gRPC to the enclave) is refused unless `[vsock]` is simulated.
//! docs/configuration.md documents every field.

use std::path::Path;

use serde::Deserialize;
use sigil_egress_policy::Allowlist;
use sigil_transport::Addr;

mod attestation;
mod bridges;
mod check;
mod enclave;
mod health;
mod provisioning;

pub use attestation::{AllowedImage, AttestationConfig};
pub use bridges::{
    EgressConfig, EgressRoute, IngressConfig, RouteKind, ShutdownConfig, VsockConfig,
    parse_host_port,
};
pub use enclave::{EnclaveConfig, EnclaveTlsConfig, RestartConfig, Runner};
pub use health::{HealthConfig, LogsConfig};
pub use provisioning::{CredentialsConfig, ProvisioningConfig, RuntimeSection};

use bridges::EgressSection;
use check::Invalid;
use enclave::EnclaveSection;

/// The file as written: the sections, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct File {
    vsock: VsockConfig,
    ingress: IngressConfig,
    egress: EgressSection,
    shutdown: ShutdownConfig,
    enclave: Option<EnclaveSection>,
    provisioning: Option<ProvisioningConfig>,
    attestation: Option<AttestationConfig>,
    health: HealthConfig,
    logs: LogsConfig,
}

/// The whole file, validated.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// How vsock addresses are realised.
    pub vsock: VsockConfig,
    /// Gateway → enclave.
    pub ingress: IngressConfig,
    /// Enclave → outside world.
    pub egress: EgressConfig,
    /// Behaviour on SIGTERM.
    pub shutdown: ShutdownConfig,
    /// `[enclave]`, `[provisioning]` and `[attestation]`, which come together or not at all
    /// (`run` without them serves the bridges only).
    pub supervision: Option<Supervision>,
    /// `/livez`, `/readyz`, `/metrics` and the enclave health probe.
    pub health: HealthConfig,
    /// The enclave's log stream (vsock 7001).
    pub logs: LogsConfig,
}

/// The sections that supervise an enclave.
#[derive(Clone, Debug)]
pub struct Supervision {
    /// The enclave and how to supervise it.
    pub enclave: EnclaveConfig,
    /// The boot bundle served on vsock 7000.
    pub provisioning: ProvisioningConfig,
    /// The attestation gate in front of ingress.
    pub attestation: AttestationConfig,
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
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Config::validate(file).map_err(|(field, message)| ConfigError::Invalid {
            path: origin.to_owned(),
            field,
            message,
        })
    }

    /// The allowlist.
    pub fn allowlist(&self) -> Allowlist {
        self.egress.allowlist()
    }

    /// Whether vsock is simulated (the simulation's relaxations are allowed only then).
    pub fn simulated(&self) -> bool {
        self.vsock.simulation_dir.is_some()
    }

    /// Every check, in one place, in the order the errors are reported.
    fn validate(file: File) -> Result<Config, Invalid> {
        file.ingress.check()?;
        bridges::check_timeouts_and_buffers(&file.ingress, &file.egress)?;
        file.vsock.check()?;
        let supervision = Config::supervision(
            file.enclave,
            file.provisioning,
            file.attestation,
            &file.vsock,
        )?;
        if supervision.is_some() {
            file.health.check()?;
            file.logs.check()?;
        }
        let egress = file.egress.typed()?;
        let cfg = Config {
            vsock: file.vsock,
            ingress: file.ingress,
            egress,
            shutdown: file.shutdown,
            supervision,
            health: file.health,
            logs: file.logs,
        };
        cfg.check_listens_are_distinct()?;
        Ok(cfg)
    }

    /// `[enclave]`, `[provisioning]` and `[attestation]`: all three or none.
    fn supervision(
        enclave: Option<EnclaveSection>,
        provisioning: Option<ProvisioningConfig>,
        attestation: Option<AttestationConfig>,
        vsock: &VsockConfig,
    ) -> Result<Option<Supervision>, Invalid> {
        let simulated = vsock.simulation_dir.is_some();
        let Some(enclave) = enclave else {
            if provisioning.is_some() || attestation.is_some() {
                return Err((
                    "enclave".into(),
                    "missing: [provisioning] and [attestation] need an [enclave] to serve".into(),
                ));
            }
            return Ok(None);
        };
        let enclave = enclave.typed(vsock.simulation_dir.as_deref())?;
        let Some(provisioning) = provisioning else {
            return Err((
                "provisioning".into(),
                "missing: the enclave needs its boot bundle".into(),
            ));
        };
        provisioning.check(simulated)?;
        let Some(attestation) = attestation else {
            return Err((
                "attestation".into(),
                "missing: ingress opens only behind the attestation gate".into(),
            ));
        };
        attestation.check(simulated)?;
        Ok(Some(Supervision {
            enclave,
            provisioning,
            attestation,
        }))
    }

    /// No two listeners on one address (port 0 asks the kernel for a free port: never a clash).
    fn check_listens_are_distinct(&self) -> Result<(), Invalid> {
        let mut listens: Vec<(String, &Addr)> =
            vec![("ingress.listen".to_owned(), &self.ingress.listen)];
        for (n, r) in self.egress.routes.iter().enumerate() {
            listens.push((format!("egress.route[{n}].listen"), &r.listen));
        }
        if let Some(s) = &self.supervision {
            listens.push(("health.listen".into(), &self.health.listen));
            listens.push(("logs.listen".into(), &self.logs.listen));
            listens.push(("provisioning.listen".into(), &s.provisioning.listen));
        }
        for (a, (fa, la)) in listens.iter().enumerate() {
            let ephemeral = matches!(la, Addr::Tcp { port: 0, .. });
            if let Some((fb, _)) = listens[..a].iter().find(|(_, lb)| !ephemeral && lb == la) {
                return Err((fa.clone(), format!("{la} is already used by `{fb}`")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[[egress.allow]]` entries, one per `(host, port)`, as TOML.
    fn egress_allow(entries: &[(&str, u16)]) -> String {
        entries
            .iter()
            .map(|(host, port)| format!("[[egress.allow]]\nhost = \"{host}\"\nport = {port}\n"))
            .collect()
    }

    fn err(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let c = Config::parse("", "t.toml").unwrap();
        assert_eq!(c.ingress.listen.to_string(), "tcp://0.0.0.0:50051");
        assert_eq!(c.ingress.connect.to_string(), "vsock://16:50051");
        assert!(c.egress.allow.is_empty());
        assert!(c.egress.routes.is_empty());
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
            &format!(
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
            {}"#,
                egress_allow(&[("kms.eu-west-1.amazonaws.com", 443), ("*.gw.example", 8080)])
            ),
            "t.toml",
        )
        .unwrap();
        let kinds: Vec<_> = c.egress.routes.iter().map(|r| r.kind.clone()).collect();
        assert_eq!(kinds.len(), 3);
        assert_eq!(kinds[2], RouteKind::HttpConnect);
    }

    #[test]
    fn supervision_is_all_three_sections_typed_once() {
        let pcr0 = "ab".repeat(48);
        let c = Config::parse(
            &format!(
                r#"
            [vsock]
            simulation_dir = "/tmp/sim"
            [enclave]
            runner = "process"
            program = "/usr/bin/enclave-app"
            insecure_plaintext = true
            [provisioning]
            bundle_dir = "/run/bundle"
            [provisioning.credentials]
            source = "static"
            access_key_id = "AKID"
            secret_access_key = "secret"
            [provisioning.runtime]
            region = "eu-west-1"
            kms_key_id = "k"
            [attestation]
            root = "/etc/dev-root.pem"
            archive_dir = "/var/lib/sigil"
            [[attestation.allow]]
            pcr0 = "{pcr0}"
            "#
            ),
            "t.toml",
        )
        .unwrap();
        let s = c.supervision.unwrap();
        assert_eq!(
            s.enclave.runner,
            Runner::Process {
                program: "/usr/bin/enclave-app".into(),
                args: Vec::new(),
                simulation_dir: "/tmp/sim".into(),
            }
        );
        for (text, needle) in [
            (
                "[enclave]\nrunner = \"nitro-cli\"",
                "`enclave.eif_path`: missing",
            ),
            ("[enclave]\nrunner = \"process\"", "`enclave.runner`"),
            ("[enclave]\nrunner = \"vm\"", "unknown variant `vm`"),
        ] {
            let e = err(text);
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
