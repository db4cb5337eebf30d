//! The configuration sections of supervision: `[enclave]` (runner, restart policy, how to
//! reach the SignService), `[provisioning]` (the boot bundle), `[attestation]` (the gate),
//! `[health]` and `[logs]`, with their defaults and the checks that tie them together.
//!
//! Everything the simulation relaxes (the process runner, static credentials, a development
//! attestation root, plaintext gRPC to the enclave) is refused unless `[vsock]` is simulated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sigil_transport::{Addr, VSOCK_CID_ANY};
use zeroize::Zeroizing;

use crate::config::{Config, ConfigError};

fn default_cid() -> u32 {
    16
}
fn default_cpus() -> u32 {
    2
}
fn default_memory() -> u64 {
    4096
}
fn default_name() -> String {
    "sigil".into()
}
fn default_nitro_cli() -> PathBuf {
    "nitro-cli".into()
}
fn default_signer() -> Addr {
    Addr::Vsock {
        cid: 16,
        port: 50051,
    }
}

/// Which runner starts the enclave.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerKind {
    /// `nitro-cli run-enclave` (production).
    NitroCli,
    /// enclave-app as a child process with the simulation flags.
    Process,
}

/// `[enclave]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveConfig {
    /// `nitro-cli` or `process` (simulation only).
    pub runner: RunnerKind,
    /// The enclave's CID.
    #[serde(default = "default_cid")]
    pub cid: u32,
    /// nitro-cli: the EIF.
    pub eif_path: Option<PathBuf>,
    /// nitro-cli: vCPUs.
    #[serde(default = "default_cpus")]
    pub cpu_count: u32,
    /// nitro-cli: memory, MiB.
    #[serde(default = "default_memory")]
    pub memory_mib: u64,
    /// nitro-cli: debug mode (attestation PCRs read as zeros; the gate refuses it).
    #[serde(default)]
    pub debug_mode: bool,
    /// nitro-cli: the enclave's name.
    #[serde(default = "default_name")]
    pub name: String,
    /// nitro-cli: the program.
    #[serde(default = "default_nitro_cli")]
    pub nitro_cli: PathBuf,
    /// process: the enclave-app binary.
    pub program: Option<PathBuf>,
    /// process: extra arguments (e.g. `--sim-dev-root DIR`).
    #[serde(default)]
    pub args: Vec<String>,
    /// Where the SignService listens (for the gate and the health probe).
    #[serde(default = "default_signer")]
    pub signer: Addr,
    /// How parent-agent authenticates to the SignService.
    pub tls: Option<EnclaveTlsConfig>,
    /// Plaintext gRPC to the enclave (simulation only; enclave-app then runs with
    /// `--insecure-plaintext-grpc`).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// Restarts.
    #[serde(default)]
    pub restart: RestartConfig,
}

/// `[enclave.tls]`: parent-agent's client certificate for the SignService (Attest, health).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveTlsConfig {
    /// The CA that issued the enclave's server certificate, PEM file.
    pub ca: PathBuf,
    /// parent-agent's client certificate chain, PEM file.
    pub cert: PathBuf,
    /// Its private key, PEM file.
    pub key: PathBuf,
    /// The name in the enclave's server certificate.
    pub server_name: String,
}

fn default_initial_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}
fn default_crash_limit() -> u32 {
    5
}
fn default_crash_window() -> Duration {
    Duration::from_secs(600)
}
fn default_boot_timeout() -> Duration {
    Duration::from_secs(300)
}

/// `[enclave.restart]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// Wait before the first restart; doubles per consecutive failure.
    #[serde(default = "default_initial_backoff", with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// The longest wait.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// More restarts than this within `crash_loop_window` stop restarting.
    #[serde(default = "default_crash_limit")]
    pub crash_loop_limit: u32,
    /// The crash-loop window.
    #[serde(default = "default_crash_window", with = "humantime_serde")]
    pub crash_loop_window: Duration,
    /// From start to a verified attestation; longer counts as a failed boot.
    #[serde(default = "default_boot_timeout", with = "humantime_serde")]
    pub boot_timeout: Duration,
}

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig {
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
            crash_loop_limit: default_crash_limit(),
            crash_loop_window: default_crash_window(),
            boot_timeout: default_boot_timeout(),
        }
    }
}

fn default_provision_listen() -> Addr {
    Addr::Vsock {
        cid: VSOCK_CID_ANY,
        port: 7000,
    }
}
fn default_true() -> bool {
    true
}

/// `[provisioning]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningConfig {
    /// Where the enclave fetches its bundle (default `vsock://any:7000`).
    #[serde(default = "default_provision_listen")]
    pub listen: Addr,
    /// The ciphertext files (e.g. a tmpfs an `ExecStartPre` filled).
    pub bundle_dir: PathBuf,
    /// Refuse to serve a bundle without `service_tls.json.age`.
    #[serde(default = "default_true")]
    pub require_tls: bool,
    /// Where the enclave's AWS credentials come from.
    pub credentials: CredentialsConfig,
    /// The runtime configuration sent to the enclave.
    pub runtime: RuntimeSection,
}

/// `[provisioning.credentials]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "source", rename_all = "kebab-case")]
pub enum CredentialsConfig {
    /// The instance role through IMDSv2.
    Imds {
        /// IMDS endpoint (default `http://169.254.169.254`).
        endpoint: Option<String>,
        /// The role (default: the one IMDS lists).
        role: Option<String>,
    },
    /// Fixed credentials (simulation only).
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: Zeroizing<String>,
        /// Session token.
        #[serde(default)]
        session_token: Option<Zeroizing<String>>,
        /// Validity served to the enclave, from each request.
        #[serde(default = "default_static_validity", with = "humantime_serde")]
        validity: Duration,
    },
}

fn default_static_validity() -> Duration {
    Duration::from_secs(3600)
}

impl std::fmt::Debug for CredentialsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialsConfig::Imds { endpoint, role } => f
                .debug_struct("Imds")
                .field("endpoint", endpoint)
                .field("role", role)
                .finish(),
            CredentialsConfig::Static { access_key_id, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .finish(),
        }
    }
}

fn default_kms_route() -> String {
    "vsock://3:8000".into()
}
fn default_max_sessions() -> u32 {
    64
}
fn default_kms_deadline() -> Duration {
    Duration::from_secs(60)
}

/// `[provisioning.runtime]`: what the enclave is told (sigil.provision.v1 RuntimeConfig).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    /// AWS region of the KMS key.
    pub region: String,
    /// The KMS key (id or ARN) that wraps the age identity.
    pub kms_key_id: String,
    /// The encryption context the identity was encrypted with.
    #[serde(default)]
    pub encryption_context: BTreeMap<String, String>,
    /// The enclave's route to KMS (an egress route of this file).
    #[serde(default = "default_kms_route")]
    pub kms_route: String,
    /// Simulation only: the plaintext URL kms-sim answers on, through the route.
    #[serde(default)]
    pub kms_simulation_url: String,
    /// The enclave's route to the gateway (SSE), if any.
    #[serde(default)]
    pub gateway_route: String,
    /// Concurrent signing sessions.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: u32,
    /// Per-message timeout in a session (0: the enclave's default).
    #[serde(default, with = "humantime_serde")]
    pub message_timeout: Option<Duration>,
    /// Whole-session timeout (0: the enclave's default).
    #[serde(default, with = "humantime_serde")]
    pub session_timeout: Option<Duration>,
    /// How long the enclave retries a transient KMS failure.
    #[serde(default = "default_kms_deadline", with = "humantime_serde")]
    pub kms_retry_deadline: Duration,
}

impl RuntimeSection {
    /// The message sent to the enclave.
    pub fn to_proto(&self) -> sigil_provisioning::pb::RuntimeConfig {
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis() as u64);
        sigil_provisioning::pb::RuntimeConfig {
            region: self.region.clone(),
            kms_key_id: self.kms_key_id.clone(),
            encryption_context: self.encryption_context.clone().into_iter().collect(),
            kms_route: self.kms_route.clone(),
            kms_simulation_url: self.kms_simulation_url.clone(),
            gateway_route: self.gateway_route.clone(),
            max_sessions: self.max_sessions,
            message_timeout_ms: ms(self.message_timeout),
            session_timeout_ms: ms(self.session_timeout),
            kms_retry_deadline_ms: self.kms_retry_deadline.as_millis() as u64,
        }
    }
}

fn default_max_age() -> Duration {
    Duration::from_secs(300)
}
fn default_recheck() -> Duration {
    Duration::from_secs(300)
}

/// `[attestation]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationConfig {
    /// `aws` (the pinned AWS Nitro Enclaves Root G1) or a development root's PEM file
    /// (simulation only).
    pub root: String,
    /// The measurements allowed to serve; a document must match one entry entirely.
    #[serde(rename = "allow")]
    pub allowed: Vec<AllowedImage>,
    /// Refuse documents older than this.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// Re-verify this often while serving.
    #[serde(default = "default_recheck", with = "humantime_serde")]
    pub recheck_interval: Duration,
    /// Attestation documents and boot reports are kept here, content-addressed.
    pub archive_dir: PathBuf,
}

/// `[[attestation.allow]]`: one allowed image (hex SHA-384 PCR values; PCR1/2 optional).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedImage {
    /// A name for logs (e.g. the release).
    #[serde(default)]
    pub name: String,
    /// The image measurement.
    pub pcr0: String,
    /// The kernel and bootstrap.
    pub pcr1: Option<String>,
    /// The application.
    pub pcr2: Option<String>,
}

impl AllowedImage {
    /// The PCRs this entry requires, index → value.
    pub fn pcrs(&self) -> Vec<(u8, String)> {
        [
            (0, Some(&self.pcr0)),
            (1, self.pcr1.as_ref()),
            (2, self.pcr2.as_ref()),
        ]
        .into_iter()
        .filter_map(|(i, v)| v.map(|v| (i, v.to_ascii_lowercase())))
        .collect()
    }
}

fn default_health_listen() -> Addr {
    Addr::Tcp {
        host: sigil_transport::Host::Ip([127, 0, 0, 1].into()),
        port: 9102,
    }
}
fn default_probe_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_probe_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_failures() -> u32 {
    3
}

/// `[health]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// HTTP `/livez`, `/readyz`, `/metrics` (default `tcp://127.0.0.1:9102`).
    #[serde(default = "default_health_listen")]
    pub listen: Addr,
    /// grpc.health.v1 probe period.
    #[serde(default = "default_probe_interval", with = "humantime_serde")]
    pub probe_interval: Duration,
    /// One probe's limit.
    #[serde(default = "default_probe_timeout", with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Consecutive failed probes before the enclave counts as unhealthy and is restarted.
    #[serde(default = "default_failures")]
    pub failures_before_restart: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            listen: default_health_listen(),
            probe_interval: default_probe_interval(),
            probe_timeout: default_probe_timeout(),
            failures_before_restart: default_failures(),
        }
    }
}

fn default_logs_listen() -> Addr {
    Addr::Vsock {
        cid: VSOCK_CID_ANY,
        port: 7001,
    }
}
fn default_max_file() -> u64 {
    16 << 20
}
fn default_keep() -> usize {
    4
}
fn default_max_line() -> usize {
    64 << 10
}

/// `[logs]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Where the enclave ships its lines (default `vsock://any:7001`).
    #[serde(default = "default_logs_listen")]
    pub listen: Addr,
    /// Also keep the lines in this file, rotated by size.
    pub file: Option<PathBuf>,
    /// Rotate when the file reaches this size.
    #[serde(default = "default_max_file")]
    pub max_file_bytes: u64,
    /// Rotated files kept (`FILE.1` … `FILE.N`).
    #[serde(default = "default_keep")]
    pub keep_files: usize,
    /// Longer lines are dropped and counted.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: usize,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            listen: default_logs_listen(),
            file: None,
            max_file_bytes: default_max_file(),
            keep_files: default_keep(),
            max_line_bytes: default_max_line(),
        }
    }
}

fn is_hex_pcr(s: &str) -> bool {
    s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The cross-section checks; `invalid(field, message)` builds the error.
pub(crate) fn validate(
    cfg: &Config,
    invalid: &dyn Fn(String, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let sim = cfg.simulated();
    let sim_only = |field: &str, what: &str| {
        invalid(
            field.into(),
            format!("{what} is allowed only in simulation ([vsock] simulation_dir)"),
        )
    };
    let Some(e) = &cfg.enclave else {
        if cfg.provisioning.is_some() || cfg.attestation.is_some() {
            return Err(invalid(
                "enclave".into(),
                "missing: [provisioning] and [attestation] need an [enclave] to serve".into(),
            ));
        }
        return Ok(());
    };
    match e.runner {
        RunnerKind::Process => {
            if !sim {
                return Err(sim_only("enclave.runner", "the process runner"));
            }
            if e.program.is_none() {
                return Err(invalid(
                    "enclave.program".into(),
                    "missing: the process runner needs the enclave-app binary".into(),
                ));
            }
        }
        RunnerKind::NitroCli => {
            if sim {
                return Err(invalid(
                    "enclave.runner".into(),
                    "nitro-cli starts a real enclave, which cannot reach simulated vsock; use `process`".into(),
                ));
            }
            if e.eif_path.is_none() {
                return Err(invalid(
                    "enclave.eif_path".into(),
                    "missing: the nitro-cli runner needs the EIF".into(),
                ));
            }
        }
    }
    if e.cid < 4 {
        return Err(invalid(
            "enclave.cid".into(),
            format!("{} is reserved; enclave CIDs start at 4", e.cid),
        ));
    }
    match (&e.tls, e.insecure_plaintext) {
        (Some(_), true) => {
            return Err(invalid(
                "enclave.insecure_plaintext".into(),
                "set either [enclave.tls] or insecure_plaintext, not both".into(),
            ));
        }
        (None, false) => {
            return Err(invalid(
                "enclave.tls".into(),
                "missing: parent-agent needs a client certificate for the SignService".into(),
            ));
        }
        (None, true) if !sim => {
            return Err(sim_only("enclave.insecure_plaintext", "plaintext gRPC"));
        }
        _ => {}
    }
    let r = &e.restart;
    if r.initial_backoff.is_zero() || r.max_backoff < r.initial_backoff {
        return Err(invalid(
            "enclave.restart.max_backoff".into(),
            "initial_backoff must be > 0s and max_backoff at least initial_backoff".into(),
        ));
    }
    if r.boot_timeout.is_zero() || r.crash_loop_window.is_zero() {
        return Err(invalid(
            "enclave.restart.boot_timeout".into(),
            "boot_timeout and crash_loop_window must be longer than 0s".into(),
        ));
    }
    let Some(p) = &cfg.provisioning else {
        return Err(invalid(
            "provisioning".into(),
            "missing: the enclave needs its boot bundle".into(),
        ));
    };
    if !p.bundle_dir.is_absolute() {
        return Err(invalid(
            "provisioning.bundle_dir".into(),
            "must be an absolute path".into(),
        ));
    }
    if matches!(p.credentials, CredentialsConfig::Static { .. }) && !sim {
        return Err(sim_only(
            "provisioning.credentials.source",
            "static credentials",
        ));
    }
    if !p.runtime.kms_simulation_url.is_empty() && !sim {
        return Err(sim_only(
            "provisioning.runtime.kms_simulation_url",
            "a plaintext KMS endpoint",
        ));
    }
    if p.runtime.region.is_empty() || p.runtime.kms_key_id.is_empty() {
        return Err(invalid(
            "provisioning.runtime".into(),
            "region and kms_key_id are required".into(),
        ));
    }
    let Some(a) = &cfg.attestation else {
        return Err(invalid(
            "attestation".into(),
            "missing: ingress opens only behind the attestation gate".into(),
        ));
    };
    if a.root != "aws" && !sim {
        return Err(sim_only("attestation.root", "a root other than `aws`"));
    }
    if a.allowed.is_empty() {
        return Err(invalid(
            "attestation.allow".into(),
            "empty: list at least one allowed image (pcr0)".into(),
        ));
    }
    for (n, img) in a.allowed.iter().enumerate() {
        for (i, v) in img.pcrs() {
            if !is_hex_pcr(&v) {
                return Err(invalid(
                    format!("attestation.allow[{n}].pcr{i}"),
                    "must be 96 hex digits (SHA-384)".into(),
                ));
            }
        }
    }
    if a.max_age.is_zero() || a.recheck_interval.is_zero() {
        return Err(invalid(
            "attestation.max_age".into(),
            "max_age and recheck_interval must be longer than 0s".into(),
        ));
    }
    let h = &cfg.health;
    if h.probe_interval.is_zero() || h.probe_timeout.is_zero() || h.failures_before_restart == 0 {
        return Err(invalid(
            "health.probe_interval".into(),
            "probe_interval and probe_timeout must be > 0s, failures_before_restart ≥ 1".into(),
        ));
    }
    if cfg.logs.max_line_bytes < 1024 || cfg.logs.keep_files == 0 || cfg.logs.max_file_bytes < 4096
    {
        return Err(invalid(
            "logs.max_line_bytes".into(),
            "max_line_bytes ≥ 1024, max_file_bytes ≥ 4096 and keep_files ≥ 1".into(),
        ));
    }
    Ok(())
}
