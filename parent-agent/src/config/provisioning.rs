//! `[provisioning]`: the boot bundle served on vsock 7000 — its files, where the enclave's
//! AWS credentials come from (`[provisioning.credentials]`) and the runtime configuration the
//! enclave is told (`[provisioning.runtime]`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sigil_transport::{Addr, VSOCK_CID_ANY};
use zeroize::Zeroizing;

use super::check::{Invalid, sim_only};

fn default_listen() -> Addr {
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
    #[serde(default = "default_listen")]
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

fn default_static_validity() -> Duration {
    Duration::from_secs(3600)
}

/// `[provisioning.credentials]`, chosen by its `source` key.
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

impl ProvisioningConfig {
    /// The checks of `[provisioning]`; `simulated` says whether `[vsock]` is.
    pub(super) fn check(&self, simulated: bool) -> Result<(), Invalid> {
        if !self.bundle_dir.is_absolute() {
            return Err((
                "provisioning.bundle_dir".into(),
                "must be an absolute path".into(),
            ));
        }
        if matches!(self.credentials, CredentialsConfig::Static { .. }) && !simulated {
            return Err(sim_only(
                "provisioning.credentials.source",
                "static credentials",
            ));
        }
        if !self.runtime.kms_simulation_url.is_empty() && !simulated {
            return Err(sim_only(
                "provisioning.runtime.kms_simulation_url",
                "a plaintext KMS endpoint",
            ));
        }
        if self.runtime.region.is_empty() || self.runtime.kms_key_id.is_empty() {
            return Err((
                "provisioning.runtime".into(),
                "region and kms_key_id are required".into(),
            ));
        }
        Ok(())
    }
}
