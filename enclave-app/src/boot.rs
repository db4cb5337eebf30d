//! The boot sequence: each step through [`timed`] (in a span, timed into the boot report,
//! failing with the step's name and a reason that holds no secret), and the report finished
//! either way.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sigil_kms_client::KmsClient;
use sigil_nsm::Nsm;
use sigil_provisioning::pb;
use sigil_signer::{Limits, Security};
use sigil_transport::{Addr, Listener, Transport};
use tracing::{error, info};

use crate::nsm::NsmChoice;
use crate::report::{self, Step, StepError, timed};
use crate::unseal::{self, Sealed};

/// An error of a step that can fail in several ways; its text is the reason.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// The NSM to open: the device, or the simulated one.
    pub nsm: NsmChoice,
    /// The log channel, whose count of lost lines goes into the report.
    pub log: Option<sigil_log_channel::Handle>,
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
    /// The NSM, for the SignService's `Attest`.
    pub nsm: Arc<dyn Nsm>,
}

fn hex_sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Runs CPU-bound work off the async runtime, in the current span.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, unseal::UnsealError> + Send + 'static,
) -> Result<T, BoxError> {
    let span = tracing::Span::current();
    let out = tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| format!("unseal task: {e}"))??;
    Ok(out)
}

/// Boots: opens the NSM, then every step of DESIGN.md's sequence up to a bound listener, and
/// finishes the report (outcome, resources, lost log lines) either way, ready to send.
/// Evidence gathered so far is left in `report`, also when a step fails.
pub async fn boot(opts: &Options, report: &mut pb::BootReport) -> Result<Booted, StepError> {
    report.simulated = opts.simulated;
    report.enclave_version = env!("CARGO_PKG_VERSION").to_owned();
    let outcome = steps(opts, report).await;
    if let Err(e) = &outcome {
        error!(event = "boot_failed", step = e.step.as_str(), reason = %e.reason);
    }
    let dropped = opts.log.as_ref().map_or(0, |log| log.dropped());
    report::finish(report, outcome.as_ref().err(), dropped);
    if let Ok(booted) = &outcome {
        info!(event = "boot_complete", accounts = booted.keys.len() as u64);
    }
    outcome
}

/// The steps in order.
async fn steps(opts: &Options, report: &mut pb::BootReport) -> Result<Booted, StepError> {
    let nsm = timed(report, Step::Nsm, async { opts.nsm.open() }).await?;

    let hardened = timed(report, Step::Harden, async {
        crate::harden::harden(nsm.as_ref())
    })
    .await?;
    report.hardening_warnings = hardened.warnings;

    let request = pb::BootBundleRequest {
        enclave_version: report.enclave_version.clone(),
        simulated: opts.simulated,
    };
    let mut bundle = timed(
        report,
        Step::FetchBundle,
        sigil_provisioning::fetch_bundle(
            &opts.transport,
            &opts.provision,
            request,
            opts.bundle_deadline,
        ),
    )
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
        let runtime = crate::runtime::runtime(bundle.config.take(), simulated)?;
        let credentials = crate::runtime::credentials(bundle.credentials.take())?;
        let client = KmsClient::new(&runtime.kms, opts.transport.clone(), credentials)?;
        Ok::<_, BoxError>((runtime, client))
    })
    .await?;

    // The attempts are evidence also when the unwrap fails.
    let mut attempts = 0;
    let unwrapped = timed(report, Step::KmsDecrypt, async {
        let unwrapped = crate::unwrap::unwrap_identity(
            &client,
            nsm.as_ref(),
            &runtime,
            &bundle.identity_ciphertext,
        )
        .await;
        attempts = match &unwrapped {
            Ok(u) => u.attempts,
            Err(e) => e.attempts,
        };
        unwrapped
    })
    .await;
    report.kms_attempts = attempts;
    let unwrapped = unwrapped?;
    report.kms_request_id = unwrapped.decrypt.request_id.clone().unwrap_or_default();
    report.kms_key_arn = unwrapped.decrypt.key_id.clone().unwrap_or_default();
    report.attestation_document = unwrapped.decrypt.attestation_document.clone();
    let identity = unwrapped.decrypt.plaintext;

    // CPU-bound and large: off the async runtime. The identity moves in and is wiped there,
    // each plaintext by the step that consumes it.
    let key_shares_age = std::mem::take(&mut bundle.key_shares_age);
    let tls_bundle_age = std::mem::take(&mut bundle.tls_bundle_age);
    let opened = timed(
        report,
        Step::DecryptShares,
        blocking(move || {
            unseal::open(
                identity,
                &Sealed {
                    key_shares_age: &key_shares_age,
                    tls_bundle_age: &tls_bundle_age,
                },
            )
        }),
    )
    .await?;
    let key_shares = opened.key_shares;
    let keys = timed(
        report,
        Step::ValidateShares,
        blocking(move || unseal::load_keys(key_shares)),
    )
    .await?;
    report.key_shares_plaintext_sha256 = hex::encode(keys.key_shares_plaintext_sha256);
    let keys = keys.keys;
    report.accounts = keys
        .counts()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v as u64))
        .collect();
    info!(event = "shares_loaded", accounts = keys.len() as u64);

    // Mutual TLS from the sealed bundle; plaintext only when simulation asked for it.
    let tls = match (opened.tls_bundle, opts.plaintext_grpc) {
        (None, true) => None,
        (json, _) => Some(
            timed(report, Step::Tls, async {
                let json = json.ok_or(
                    "the boot bundle has no TLS material (service_tls.json.age); plaintext \
                     gRPC needs --simulate --insecure-plaintext-grpc",
                )?;
                let tls = blocking(move || unseal::load_tls(json)).await?;
                Ok::<_, BoxError>((tls.server_config()?, tls.spki_sha256()))
            })
            .await?,
        ),
    };
    let (security, tls_binding) = match tls {
        Some((config, spki)) => {
            report.tls_spki_sha256 = hex::encode(spki);
            info!(event = "tls_ready", sha256 = %report.tls_spki_sha256);
            (Security::MutualTls(config), Some(spki))
        }
        None => (Security::PlaintextForSimulation, None),
    };

    let listener = timed(report, Step::Listen, opts.transport.bind(&opts.listen)).await?;
    Ok(Booted {
        keys,
        security,
        tls_binding,
        listener,
        limits: runtime.limits,
        nsm,
    })
}
