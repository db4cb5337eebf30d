//! `enclave-app`: the entry program of a Sigil Nitro Enclave.
//!
//! Boots (NSM opened → harden → boot bundle from the parent → attested KMS unwrap of the age
//! identity → shares decrypted and validated in memory → identity wiped → listener → boot
//! report), then serves the SignService until SIGTERM. Any failed step is reported to the
//! parent with its name and reason, and the process exits non-zero so the parent can alarm and
//! restart.
//!
//! `--simulate` runs the same code without Nitro hardware: vsock addresses map onto Unix
//! sockets in `--sim-dir`, the NSM is simulated from a development root, and PCR0 measures
//! the running binary (or `--sim-image`), so a rebuilt binary no longer matches a key policy
//! made for the old one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use enclave_app::{NsmChoice, Options, boot};
use sigil_provisioning::pb;
use sigil_signer::SignerService;
use sigil_transport::{Addr, Transport};
use tracing::{error, info};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The command line. Parsed with `lexopt` (no clap in the measured image: the enclave's
/// arguments are fixed in the EIF and few).
struct Cli {
    /// The parent's provisioning service.
    provision: Addr,
    /// The parent's log collector.
    log: Addr,
    /// Where the SignService listens.
    listen: Addr,
    /// How long to keep trying the parent for the boot bundle.
    bundle_deadline: Duration,
    /// Run without Nitro hardware: simulated NSM and vsock over Unix sockets.
    simulate: bool,
    /// Simulation: directory of the Unix sockets that stand in for vsock.
    sim_dir: Option<PathBuf>,
    /// Simulation: this enclave's CID.
    sim_cid: u32,
    /// Simulation: directory of the development root (`nsm-sim init-root`).
    sim_dev_root: Option<PathBuf>,
    /// Simulation: the image PCR0 measures (default: this binary).
    sim_image: Option<PathBuf>,
    /// Simulation: the parent instance id in the attestation document.
    sim_instance_id: String,
    /// Serve gRPC without TLS. Simulation only.
    insecure_plaintext_grpc: bool,
    /// Also write the log lines to stderr (the enclave console in debug mode).
    log_stderr: bool,
}

const USAGE: &str = "\
Sigil enclave: attested boot and the MPC SignService

Usage: enclave-app [OPTIONS]

Options:
      --provision <ADDR>         the parent's provisioning service [default: vsock://3:7000]
      --log <ADDR>               the parent's log collector [default: vsock://3:7001]
      --listen <ADDR>            where the SignService listens [default: vsock://any:50051]
      --bundle-deadline <DUR>    how long to keep trying the parent for the boot bundle [default: 60s]
      --log-stderr               also write the log lines to stderr (debug-mode console)
      --simulate                 run without Nitro hardware: simulated NSM, vsock over Unix sockets
      --sim-dir <DIR>            simulation: directory of the Unix sockets that stand in for vsock
      --sim-cid <CID>            simulation: this enclave's CID [default: 16]
      --sim-dev-root <DIR>       simulation: the development root (nsm-sim init-root)
      --sim-image <FILE>         simulation: the image PCR0 measures [default: this binary]
      --sim-instance-id <ID>     simulation: the parent instance id [default: i-0123456789abcdef0]
      --insecure-plaintext-grpc  simulation: serve gRPC without TLS
  -h, --help                     print this help
  -V, --version                  print the version
";

/// What the command line asks for: run, or print something and exit.
enum Command {
    Run(Box<Cli>),
    Print(String),
}

impl Cli {
    fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> anyhow::Result<Command> {
        use lexopt::prelude::*;
        fn addr(v: std::ffi::OsString, flag: &str) -> anyhow::Result<Addr> {
            let v = v.string()?;
            v.parse()
                .map_err(|e| anyhow::anyhow!("--{flag} {v:?}: {e}"))
        }
        let mut cli = Cli {
            provision: addr("vsock://3:7000".into(), "provision")?,
            log: addr("vsock://3:7001".into(), "log")?,
            listen: addr("vsock://any:50051".into(), "listen")?,
            bundle_deadline: Duration::from_secs(60),
            simulate: false,
            sim_dir: None,
            sim_cid: 16,
            sim_dev_root: None,
            sim_image: None,
            sim_instance_id: "i-0123456789abcdef0".into(),
            insecure_plaintext_grpc: false,
            log_stderr: false,
        };
        let mut sim_only: Vec<&'static str> = Vec::new();
        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next()? {
            match arg {
                Long("provision") => cli.provision = addr(parser.value()?, "provision")?,
                Long("log") => cli.log = addr(parser.value()?, "log")?,
                Long("listen") => cli.listen = addr(parser.value()?, "listen")?,
                Long("bundle-deadline") => {
                    let v = parser.value()?.string()?;
                    cli.bundle_deadline = humantime::parse_duration(&v)
                        .map_err(|e| anyhow::anyhow!("--bundle-deadline {v:?}: {e}"))?;
                }
                Long("simulate") => cli.simulate = true,
                Long("log-stderr") => cli.log_stderr = true,
                Long("sim-dir") => {
                    cli.sim_dir = Some(parser.value()?.into());
                    sim_only.push("--sim-dir");
                }
                Long("sim-cid") => {
                    cli.sim_cid = parser.value()?.parse()?;
                    sim_only.push("--sim-cid");
                }
                Long("sim-dev-root") => {
                    cli.sim_dev_root = Some(parser.value()?.into());
                    sim_only.push("--sim-dev-root");
                }
                Long("sim-image") => {
                    cli.sim_image = Some(parser.value()?.into());
                    sim_only.push("--sim-image");
                }
                Long("sim-instance-id") => {
                    cli.sim_instance_id = parser.value()?.string()?;
                    sim_only.push("--sim-instance-id");
                }
                Long("insecure-plaintext-grpc") => {
                    cli.insecure_plaintext_grpc = true;
                    sim_only.push("--insecure-plaintext-grpc");
                }
                Short('h') | Long("help") => return Ok(Command::Print(USAGE.into())),
                Short('V') | Long("version") => {
                    return Ok(Command::Print(format!(
                        "enclave-app {}\n",
                        env!("CARGO_PKG_VERSION")
                    )));
                }
                _ => return Err(arg.unexpected().into()),
            }
        }
        if let Some(flag) = sim_only.first().filter(|_| !cli.simulate) {
            anyhow::bail!("{flag} is for simulation only: it needs --simulate");
        }
        Ok(Command::Run(Box::new(cli)))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(cli)) => *cli,
        Ok(Command::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("enclave-app: {e:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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
        .with(tracing_subscriber::filter::LevelFilter::INFO)
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
    let nsm = if cli.simulate {
        NsmChoice::Simulated {
            dev_root: cli.sim_dev_root.clone(),
            image: cli.sim_image.clone(),
            instance_id: cli.sim_instance_id.clone(),
        }
    } else {
        NsmChoice::Device
    };
    let opts = Options {
        transport: transport.clone(),
        provision: cli.provision.clone(),
        listen: cli.listen.clone(),
        bundle_deadline: cli.bundle_deadline,
        simulated: cli.simulate,
        plaintext_grpc: cli.insecure_plaintext_grpc,
        nsm,
        log: Some(log.clone()),
    };
    // `boot` finishes the report either way; it is only sent from here.
    let mut report = pb::BootReport::default();
    let booted = boot(&opts, &mut report).await;
    send_report(&transport, &cli.provision, report).await;
    let booted = booted?;

    let mut service = SignerService::new(booted.keys, booted.nsm, booted.limits);
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

#[cfg(test)]
mod tests {
    use super::{Cli, Command};

    fn parse(args: &[&str]) -> anyhow::Result<Command> {
        Cli::parse(args.iter().map(std::ffi::OsString::from))
    }

    fn run(args: &[&str]) -> Cli {
        match parse(args) {
            Ok(Command::Run(cli)) => *cli,
            Ok(Command::Print(_)) => panic!("{args:?} printed instead of running"),
            Err(e) => panic!("{args:?}: {e:#}"),
        }
    }

    #[test]
    fn defaults_are_the_production_ports() {
        let cli = run(&[]);
        assert_eq!(cli.provision.to_string(), "vsock://3:7000");
        assert_eq!(cli.log.to_string(), "vsock://3:7001");
        assert_eq!(cli.listen.to_string(), "vsock://any:50051");
        assert_eq!(cli.bundle_deadline, std::time::Duration::from_secs(60));
        assert!(!cli.simulate && !cli.insecure_plaintext_grpc && !cli.log_stderr);
    }

    #[test]
    fn simulation_flags_parse_with_simulate() {
        let cli = run(&[
            "--simulate",
            "--sim-dir",
            "/tmp/s",
            "--sim-cid=17",
            "--sim-dev-root",
            "/tmp/r",
            "--bundle-deadline",
            "2s",
            "--listen",
            "unix:///tmp/l.sock",
            "--insecure-plaintext-grpc",
        ]);
        assert!(cli.simulate && cli.insecure_plaintext_grpc);
        assert_eq!(cli.sim_dir.as_deref(), Some(std::path::Path::new("/tmp/s")));
        assert_eq!(cli.sim_cid, 17);
        assert_eq!(cli.bundle_deadline, std::time::Duration::from_secs(2));
        assert_eq!(cli.listen.to_string(), "unix:///tmp/l.sock");
    }

    #[test]
    fn simulation_only_flags_are_refused_without_simulate() {
        for args in [
            &["--sim-dir", "/tmp/s"][..],
            &["--insecure-plaintext-grpc"],
            &["--sim-image", "/bin/true"],
        ] {
            let e = parse(args).err().expect("refused");
            assert!(e.to_string().contains("needs --simulate"), "{args:?}: {e}");
        }
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (args, says) in [
            (&["--bogus"][..], "--bogus"),
            (&["stray"], "stray"),
            (&["--listen", "ftp://x"], "--listen"),
            (&["--bundle-deadline", "soon"], "--bundle-deadline"),
            (&["--simulate", "--sim-cid", "x"], "x"),
            (&["--listen"], "--listen"),
        ] {
            let e = parse(args).err().expect("refused");
            assert!(format!("{e:#}").contains(says), "{args:?}: {e:#}");
        }
        assert!(matches!(parse(&["--help"]), Ok(Command::Print(t)) if t.contains("Usage")));
        assert!(matches!(parse(&["-V"]), Ok(Command::Print(t)) if t.starts_with("enclave-app ")));
    }
}
