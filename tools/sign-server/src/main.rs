//! `sign-server`: the SignService from a key-share file, outside an enclave — for development,
//! demos and gateway integration work only. In production `enclave-app` serves the same
//! service after the attested boot (KMS unwraps the age identity inside the enclave); here the
//! identity is a file and attestation documents come from a simulated NSM with a throw-away
//! dev root, which every `Attest` answer marks `simulated = true`.
//!
//! `--tls-bundle FILE.age` serves mutual TLS from a `sigil-tls-bundle` age-encrypted to the
//! same identity as the shares (made with `key-gen tls-bundle`) and binds `Attest` to its key;
//! `--insecure-plaintext` serves without TLS. One of the two is required.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgGroup, Parser};
use sigil_signer::{Limits, Security, SignerService};
use sigil_tls::TlsBundle;
use sigil_transport::{Addr, Transport};

#[derive(Parser)]
#[command(
    version,
    about = "SignService outside an enclave (development only)",
    group(ArgGroup::new("security").required(true).args(["tls_bundle", "insecure_plaintext"]))
)]
struct Cli {
    /// Address to serve: unix:///path, tcp://host:port or vsock://any:50051.
    #[arg(long)]
    listen: Addr,
    /// The service's key-share file (age-encrypted).
    #[arg(long)]
    shares: PathBuf,
    /// age identity file that decrypts it (and the TLS bundle).
    #[arg(long)]
    identity: PathBuf,
    /// Serve mutual TLS with this sigil-tls-bundle (age-encrypted to --identity's recipient,
    /// as `key-gen tls-bundle` writes it); Attest then carries the SHA-256 of its key's SPKI.
    #[arg(long, value_name = "FILE.age")]
    tls_bundle: Option<PathBuf>,
    /// Serve plaintext gRPC without any caller authentication (simulation and tests only).
    #[arg(long)]
    insecure_plaintext: bool,
    /// Simulated vsock: Unix sockets in this directory stand in for vsock addresses.
    #[arg(long)]
    vsock_sim_dir: Option<PathBuf>,
    /// Sessions at once (default: number of CPUs).
    #[arg(long)]
    max_sessions: Option<usize>,
    /// Longest silence within a session.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    message_timeout: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .init();
    let keys = sigil_sealed_shares::open(&cli.shares, Some(&cli.identity))?;
    let tls = match &cli.tls_bundle {
        Some(path) => Some(open_bundle(path, &cli.identity)?),
        None => None,
    };
    let counts = keys.counts();
    let root = sigil_nsm::DevRoot::generate().context("dev root")?;
    let image =
        sigil_nsm::ImageMeasurement::of_bytes(b"sigil sign-server (development, not an enclave)");
    let nsm = sigil_nsm::SimulatedNsm::new(root, &image, "i-development", None)
        .context("simulated NSM")?;
    let mut limits = Limits {
        message_timeout: cli.message_timeout,
        ..Limits::default()
    };
    if let Some(n) = cli.max_sessions {
        limits.max_sessions = n.max(1);
    }
    let transport = match &cli.vsock_sim_dir {
        Some(dir) => Transport::simulated(dir, 16),
        None => Transport::native(),
    };
    let listener = transport
        .bind(&cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    tracing::info!(
        event = "listening",
        address = %listener.local_addr(),
        party_index = keys.party_index(),
        accounts = ?counts,
        simulated_nsm = true,
        "development SignService (not an enclave)"
    );
    let mut service = SignerService::new(keys, Arc::new(nsm), limits);
    let security = match &tls {
        Some(bundle) => {
            tracing::info!(
                event = "tls_bundle_loaded",
                spki_sha256 = %hex::encode(bundle.spki_sha256()),
                subject = bundle.leaf_subject(),
                not_after = bundle.leaf_not_after(),
                client_cas = bundle.client_ca_count(),
                "mutual TLS; Attest user_data is the SPKI hash"
            );
            service = service.with_tls_binding(bundle.spki_sha256());
            Security::MutualTls(bundle.server_config().context("TLS configuration")?)
        }
        None => Security::PlaintextForSimulation,
    };
    drop(tls);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    sigil_signer::serve(listener, service, security, shutdown).await?;
    Ok(())
}

/// Decrypts and validates an age-encrypted sigil-tls-bundle in memory.
fn open_bundle(path: &std::path::Path, identity: &std::path::Path) -> anyhow::Result<TlsBundle> {
    let name = path.display().to_string();
    let sealed = std::fs::read(path).with_context(|| format!("reading {name}"))?;
    let identities = sigil_sealed_shares::read_identities(identity)?;
    let json = sigil_sealed_shares::decrypt(&sealed, &identities, &name)?;
    TlsBundle::from_json(&json).with_context(|| format!("TLS bundle {name}"))
}
