//! The boot sequence: each step in a span, timed into the boot report, and failing with the
//! step's name and a reason that holds no secret.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sigil_kms_client::KmsClient;
use sigil_nsm::Nsm;
use sigil_provisioning::pb;
use sigil_signer::{Limits, Security};
use sigil_transport::{Addr, Listener, Transport};
use tracing::{Instrument, info, info_span};

use crate::report;
use crate::unseal::{Sealed, unseal};

/// The boot steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Process hardening.
    Harden,
    /// Fetching the boot bundle from the parent.
    FetchBundle,
    /// Checking the runtime configuration and credentials.
    RuntimeConfig,
    /// The attested KMS Decrypt of the age identity.
    KmsDecrypt,
    /// age-decrypting the shares and the TLS bundle.
    DecryptShares,
    /// Validating every share and building the account map.
    ValidateShares,
    /// Loading the SignService's TLS material.
    Tls,
    /// Binding the SignService's listener.
    Listen,
}

impl Step {
    /// The name used in reports, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Harden => "harden",
            Step::FetchBundle => "fetch_bundle",
            Step::RuntimeConfig => "runtime_config",
            Step::KmsDecrypt => "kms_decrypt",
            Step::DecryptShares => "decrypt_shares",
            Step::ValidateShares => "validate_shares",
            Step::Tls => "tls",
            Step::Listen => "listen",
        }
    }
}

/// A failed step and why. The reason never holds a secret: it is built from error types
/// that carry none.
#[derive(Debug, thiserror::Error)]
#[error("boot step {}: {reason}", step.as_str())]
pub struct StepError {
    /// The step.
    pub step: Step,
    /// Why.
    pub reason: String,
}

impl StepError {
    /// A failure of `step`.
    pub fn new(step: Step, reason: impl std::fmt::Display) -> Self {
        Self {
            step,
            reason: reason.to_string(),
        }
    }
}

/// How this enclave boots (fixed by its command line, not by the parent).
#[derive(Clone)]
pub struct Options {
    /// vsock (or the simulation's Unix sockets).
    pub transport: Transport,
    /// The parent's provisioning service, `vsock://3:7000`.
    pub provision: Addr,
    /// Where the SignService listens, `vsock://any:50051`.
    pub listen: Addr,
    /// How long to keep trying the parent for the bundle.
    pub bundle_deadline: Duration,
    /// Simulation: simulated NSM, Unix sockets, and the KMS simulator allowed.
    pub simulated: bool,
    /// Serve gRPC without TLS (only with `simulated`).
    pub plaintext_grpc: bool,
    /// The NSM.
    pub nsm: Arc<dyn Nsm>,
}

/// A completed boot, ready to serve.
pub struct Booted {
    /// The account map.
    pub keys: sigil_mpc::KeyStore,
    /// Mutual TLS, or plaintext in simulation.
    pub security: Security,
    /// SHA-256 of the TLS key's SubjectPublicKeyInfo, for `Attest`'s user_data.
    pub tls_binding: Option<[u8; 32]>,
    /// The bound listener.
    pub listener: Listener,
    /// Signing limits from the runtime configuration.
    pub limits: Limits,
}

fn hex_sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Runs `f` as `step`: in a span, timed into the report.
async fn timed<T>(
    report: &mut pb::BootReport,
    step: Step,
    f: impl std::future::Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let t = Instant::now();
    let out = f
        .instrument(info_span!("boot_step", step = step.as_str()))
        .await?;
    report::step(report, step.as_str(), t.elapsed());
    info!(
        event = "boot_step_done",
        step = step.as_str(),
        elapsed_ms = t.elapsed().as_millis() as u64
    );
    Ok(out)
}

/// Boots: every step of DESIGN.md's sequence up to a bound listener. Evidence gathered so far
/// is left in `report`, also when a step fails.
pub async fn boot(opts: &Options, report: &mut pb::BootReport) -> Result<Booted, StepError> {
    report.simulated = opts.simulated;
    report.enclave_version = env!("CARGO_PKG_VERSION").to_owned();

    let nsm = opts.nsm.clone();
    let hardened = timed(report, Step::Harden, async {
        crate::harden::harden(nsm.as_ref()).map_err(|e| StepError::new(Step::Harden, e))
    })
    .await?;
    report.hardening_warnings = hardened.warnings;

    let request = pb::BootBundleRequest {
        enclave_version: report.enclave_version.clone(),
        simulated: opts.simulated,
    };
    let mut bundle = timed(report, Step::FetchBundle, async {
        sigil_provisioning::fetch_bundle(
            &opts.transport,
            &opts.provision,
            request,
            opts.bundle_deadline,
        )
        .await
        .map_err(|e| StepError::new(Step::FetchBundle, e))
    })
    .await?;
    report.identity_ciphertext_sha256 = hex_sha256(&bundle.identity_ciphertext);
    report.key_shares_ciphertext_sha256 = hex_sha256(&bundle.key_shares_age);
    report.tls_bundle_ciphertext_sha256 = if bundle.tls_bundle_age.is_empty() {
        String::new()
    } else {
        hex_sha256(&bundle.tls_bundle_age)
    };

    let simulated = opts.simulated;
    let (runtime, client) = timed(report, Step::RuntimeConfig, async {
        let bad = |e| StepError::new(Step::RuntimeConfig, e);
        let runtime = crate::runtime::runtime(bundle.config.take(), simulated).map_err(bad)?;
        let credentials = crate::runtime::credentials(bundle.credentials.take()).map_err(bad)?;
        let client = KmsClient::new(&runtime.kms, opts.transport.clone(), credentials)
            .map_err(|e| StepError::new(Step::RuntimeConfig, e))?;
        Ok((runtime, client))
    })
    .await?;

    let unwrapped = {
        let t = Instant::now();
        let r = crate::unwrap::unwrap_identity(
            &client,
            opts.nsm.as_ref(),
            &runtime,
            &bundle.identity_ciphertext,
        )
        .instrument(info_span!("boot_step", step = Step::KmsDecrypt.as_str()))
        .await;
        match r {
            Ok(u) => {
                report::step(report, Step::KmsDecrypt.as_str(), t.elapsed());
                u
            }
            Err(e) => {
                report.kms_attempts = e.attempts;
                return Err(StepError::new(Step::KmsDecrypt, e));
            }
        }
    };
    report.kms_attempts = unwrapped.attempts;
    report.kms_request_id = unwrapped.decrypt.request_id.clone().unwrap_or_default();
    report.kms_key_arn = unwrapped.decrypt.key_id.clone().unwrap_or_default();
    report.attestation_document = unwrapped.decrypt.attestation_document.clone();
    let identity = unwrapped.decrypt.plaintext;

    // CPU-bound and large: off the async runtime. The identity moves in and is wiped there.
    let key_shares_age = std::mem::take(&mut bundle.key_shares_age);
    let tls_bundle_age = std::mem::take(&mut bundle.tls_bundle_age);
    let unsealed = tokio::task::spawn_blocking(move || {
        unseal(
            identity,
            &Sealed {
                key_shares_age: &key_shares_age,
                tls_bundle_age: &tls_bundle_age,
            },
        )
    })
    .instrument(info_span!("boot_step", step = Step::DecryptShares.as_str()))
    .await
    .map_err(|e| StepError::new(Step::DecryptShares, format!("unseal task: {e}")))??;
    for (step, elapsed) in &unsealed.steps {
        report::step(report, step.as_str(), *elapsed);
    }
    report.key_shares_plaintext_sha256 = hex::encode(unsealed.key_shares_plaintext_sha256);
    report.accounts = unsealed
        .keys
        .counts()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v as u64))
        .collect();
    info!(
        event = "shares_loaded",
        accounts = unsealed.keys.len() as u64
    );

    let (security, tls_binding) = match (&unsealed.tls, opts.plaintext_grpc) {
        (Some(tls), _) => {
            let config = tls
                .server_config()
                .map_err(|e| StepError::new(Step::Tls, e))?;
            let spki = tls.spki_sha256();
            report.tls_spki_sha256 = hex::encode(spki);
            info!(event = "tls_ready", sha256 = %report.tls_spki_sha256);
            (Security::MutualTls(config), Some(spki))
        }
        (None, true) => (Security::PlaintextForSimulation, None),
        (None, false) => {
            return Err(StepError::new(
                Step::Tls,
                "the boot bundle has no TLS material (service_tls.json.age); plaintext gRPC \
                 needs --simulate --insecure-plaintext-grpc",
            ));
        }
    };

    let listener = timed(report, Step::Listen, async {
        opts.transport
            .bind(&opts.listen)
            .await
            .map_err(|e| StepError::new(Step::Listen, e))
    })
    .await?;
    Ok(Booted {
        keys: unsealed.keys,
        security,
        tls_binding,
        listener,
        limits: runtime.limits,
    })
}
