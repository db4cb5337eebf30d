//! `sign-server`: the SignService from a key-share file, outside an enclave — for development,
//! demos and gateway integration work only. In production `enclave-app` serves the same
//! service after the attested boot (KMS unwraps the age identity inside the enclave); here the
//! identity is a file and attestation documents come from a simulated NSM with a throw-away
//! dev root, which every `Attest` answer marks `simulated = true`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sigil_signer::{Limits, SignerService};
use sigil_transport::{Addr, Transport};

#[derive(Parser)]
#[command(version, about = "SignService outside an enclave (development only)")]
struct Cli {
    /// Address to serve: unix:///path, tcp://host:port or vsock://any:50051.
    #[arg(long)]
    listen: Addr,
    /// The service's key-share file (age-encrypted).
    #[arg(long)]
    shares: PathBuf,
    /// age identity file that decrypts it.
    #[arg(long)]
    identity: PathBuf,
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
    let keys = sigil_share_files::open(&cli.shares, Some(&cli.identity))?;
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
    let service = SignerService::new(keys, Arc::new(nsm), limits);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    sigil_signer::serve(listener, service, shutdown).await?;
    Ok(())
}
