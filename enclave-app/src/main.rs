//! `enclave-app`: the entry program of a Sigil Nitro Enclave.
//!
//! Boots (harden → boot bundle from the parent → attested KMS unwrap of the age identity →
//! shares decrypted and validated in memory → identity wiped → boot report → listener), then
//! serves the SignService until SIGTERM. Any failed step is reported to the parent with its
//! name and reason, and the process exits non-zero so the parent can alarm and restart.
//!
//! `--simulate` runs the same code without Nitro hardware: vsock addresses map onto Unix
//! sockets in `--sim-dir`, the NSM is simulated from a development root, and PCR0 measures
//! the running binary (or `--sim-image`), so a rebuilt binary no longer matches a key policy
//! made for the old one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use enclave_app::{Options, boot};
use sigil_nsm::Nsm;
use sigil_provisioning::pb;
use sigil_signer::SignerService;
use sigil_transport::{Addr, Transport};
use tracing::{error, info};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Parser)]
#[command(
    version,
    about = "Sigil enclave: attested boot and the MPC SignService"
)]
struct Cli {
    /// The parent's provisioning service.
    #[arg(long, default_value = "vsock://3:7000")]
    provision: Addr,
    /// The parent's log collector.
    #[arg(long, default_value = "vsock://3:7001")]
    log: Addr,
    /// Where the SignService listens.
    #[arg(long, default_value = "vsock://any:50051")]
    listen: Addr,
    /// How long to keep trying the parent for the boot bundle.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    bundle_deadline: Duration,
    /// Run without Nitro hardware: simulated NSM and vsock over Unix sockets.
    #[arg(long)]
    simulate: bool,
    /// Simulation: directory of the Unix sockets that stand in for vsock.
    #[arg(long, requires = "simulate")]
    sim_dir: Option<PathBuf>,
    /// Simulation: this enclave's CID.
    #[arg(long, default_value_t = 16, requires = "simulate")]
    sim_cid: u32,
    /// Simulation: directory of the development root (`nsm-sim init-root`).
    #[arg(long, requires = "simulate")]
    sim_dev_root: Option<PathBuf>,
    /// Simulation: the image PCR0 measures (default: this binary).
    #[arg(long, requires = "simulate")]
    sim_image: Option<PathBuf>,
    /// Simulation: the parent instance id in the attestation document.
    #[arg(long, default_value = "i-0123456789abcdef0", requires = "simulate")]
    sim_instance_id: String,
    /// Serve gRPC without TLS. Simulation only.
    #[arg(long, requires = "simulate")]
    insecure_plaintext_grpc: bool,
    /// Also write the log lines to stderr (the enclave console in debug mode).
    #[arg(long)]
    log_stderr: bool,
}

fn nsm(cli: &Cli) -> anyhow::Result<Arc<dyn Nsm>> {
    if !cli.simulate {
        return Ok(Arc::new(sigil_nsm::DeviceNsm::open()?));
    }
    let dir = cli
        .sim_dev_root
        .as_ref()
        .context("--simulate needs --sim-dev-root (the development root, nsm-sim init-root)")?;
    let root = sigil_nsm::DevRoot::load(dir).context("loading the development root")?;
    let image = match &cli.sim_image {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("locating this binary to measure it")?,
    };
    let measurement = sigil_nsm::ImageMeasurement::of_file(&image)
        .with_context(|| format!("measuring {}", image.display()))?;
    info!(event = "simulated_nsm", pcr0 = %measurement.pcr0_hex());
    Ok(Arc::new(sigil_nsm::SimulatedNsm::new(
        root,
        &measurement,
        &cli.sim_instance_id,
        None,
    )?))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let transport = match (&cli.sim_dir, cli.simulate) {
        (Some(dir), _) => Transport::simulated(dir, cli.sim_cid),
        (None, false) => Transport::native(),
        (None, true) => {
            eprintln!("enclave-app: --simulate needs --sim-dir");
            return ExitCode::FAILURE;
        }
    };
    // Logs go to the parent as allow-listed JSON lines (vsock 7001) through a bounded queue
    // that never blocks; the shipper starts with the runtime and buffers until then.
    let mut log_config = sigil_log_channel::Config::new(transport.clone(), cli.log.clone());
    log_config.mirror_stderr = cli.log_stderr;
    let (layer, shipper, log) = sigil_log_channel::layer(log_config);
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(layer)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("enclave-app: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        shipper.spawn();
        let outcome = run(cli, transport, &log).await;
        if let Err(e) = &outcome {
            error!(event = "enclave_exit", error = %format!("{e:#}"));
        }
        // Deliver the last lines (the failure above included) before the process ends.
        let _ = log.flush(Duration::from_secs(3)).await;
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // The console (debug-mode enclaves, the simulation's process runner).
                eprintln!("enclave-app: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn run(
    cli: Cli,
    transport: Transport,
    log: &sigil_log_channel::Handle,
) -> anyhow::Result<()> {
    enclave_app::harden::reap_children_if_init();
    let mut report = pb::BootReport::default();
    let nsm = match nsm(&cli) {
        Ok(n) => n,
        Err(e) => {
            report.failed_step = enclave_app::Step::Harden.as_str().into();
            report.reason = format!("NSM: {e:#}");
            send_report(&transport, &cli.provision, report).await;
            return Err(e);
        }
    };
    let opts = Options {
        transport: transport.clone(),
        provision: cli.provision.clone(),
        listen: cli.listen.clone(),
        bundle_deadline: cli.bundle_deadline,
        simulated: cli.simulate,
        plaintext_grpc: cli.insecure_plaintext_grpc,
        nsm: nsm.clone(),
    };
    let booted = match boot(&opts, &mut report).await {
        Ok(b) => b,
        Err(e) => {
            error!(event = "boot_failed", step = e.step.as_str(), reason = %e.reason);
            report.ok = false;
            report.failed_step = e.step.as_str().into();
            report.reason = e.reason.clone();
            report.resources = Some(enclave_app::report::resources());
            report.log_lines_dropped = log.dropped();
            send_report(&transport, &cli.provision, report).await;
            return Err(e.into());
        }
    };
    report.ok = true;
    report.resources = Some(enclave_app::report::resources());
    report.log_lines_dropped = log.dropped();
    info!(event = "boot_complete", accounts = booted.keys.len() as u64);
    send_report(&transport, &cli.provision, report).await;

    let mut service = SignerService::new(booted.keys, nsm, booted.limits);
    if let Some(spki) = booted.tls_binding {
        service = service.with_tls_binding(spki);
    }
    let shutdown = async {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            term.recv().await;
        } else {
            std::future::pending::<()>().await;
        }
        info!(event = "shutdown", reason = "SIGTERM");
    };
    info!(event = "serving", addr = %cli.listen);
    sigil_signer::serve(booted.listener, service, booted.security, shutdown)
        .await
        .context("serving the SignService")?;
    Ok(())
}

/// Sends the boot report; the parent being unreachable is logged, not fatal (the exit code
/// and the log channel still tell it).
async fn send_report(transport: &Transport, addr: &Addr, report: pb::BootReport) {
    if let Err(e) =
        sigil_provisioning::send_report(transport, addr, report, Duration::from_secs(10)).await
    {
        error!(event = "boot_report_undelivered", error = %e);
    }
}
