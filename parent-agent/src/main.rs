//! `parent-agent`: Sigil's supervisor on the EC2 parent.
//!
//! * `run --config FILE` — serve ingress and egress from a configuration file until
//!   SIGTERM/SIGINT, then drain.
//! * `check-config FILE` — validate a configuration file and print what it would serve.
//! * `bridge --listen ADDR --connect ADDR` — one forwarding route, a socat replacement.
//!
//! Logs are JSON lines on stdout (journald keeps them under systemd).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use parent_agent::bridge::{Handler, Relay, RouteSpec, routes_from_config};
use parent_agent::config::Config;
use parent_agent::observe::metrics::Metrics;
use sigil_transport::{Addr, CopyOptions, Transport};
use tracing::error;

#[derive(Parser)]
#[command(
    name = "parent-agent",
    version,
    about = "Sigil's supervisor on the EC2 parent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve ingress and egress as configured, until SIGTERM; then drain.
    Run {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a configuration file; print a summary as JSON on success.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
    /// Attestation documents.
    #[command(subcommand)]
    Attestation(AttestationCommand),
    /// Forward every connection on one address to another (a socat replacement).
    Bridge {
        /// Where to listen: vsock://CID:PORT, unix:///path or tcp://HOST:PORT.
        #[arg(long)]
        listen: Addr,
        /// Where to connect for each accepted connection.
        #[arg(long)]
        connect: Addr,
        /// Simulate vsock with Unix sockets in this directory.
        #[arg(long)]
        simulation_dir: Option<PathBuf>,
        /// This side's CID in simulation.
        #[arg(long, default_value_t = sigil_transport::VSOCK_CID_PARENT)]
        local_cid: u32,
        /// Connect timeout.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        connect_timeout: Duration,
        /// Close a connection idle this long (default: never).
        #[arg(long, value_parser = humantime::parse_duration)]
        idle_timeout: Option<Duration>,
        /// Copy buffer per direction, bytes.
        #[arg(long, default_value_t = 64 * 1024)]
        buffer_size: usize,
        /// Connections served at once (default: unlimited).
        #[arg(long)]
        max_connections: Option<usize>,
        /// Drain time on SIGTERM.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        drain_timeout: Duration,
    },
}

#[derive(Subcommand)]
enum AttestationCommand {
    /// Verify a document: exit 0 and a JSON summary, or exit 1 and one line saying why not.
    Verify(parent_agent::attestation_cli::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long-running commands log JSON to stdout; one-shot commands print only their answer.
    if matches!(cli.command, Command::Run { .. } | Command::Bridge { .. }) {
        init_logging();
        // Best effort: without it the agent still runs, with fewer streams.
        let _ = parent_agent::raise_fd_limit();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("parent-agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(event = "fatal", error = format!("{e:#}"));
            eprintln!("parent-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Attestation(AttestationCommand::Verify(args)) => {
            let summary =
                parent_agent::attestation_cli::verify(&args).context("attestation verify")?;
            println!("{summary}");
            Ok(())
        }
        Command::CheckConfig { file } => {
            let cfg = Config::load(&file)?;
            let summary = serde_json::json!({
                "config": file.display().to_string(),
                "valid": true,
                "vsock": match &cfg.vsock.simulation_dir {
                    Some(d) => format!("simulated in {}", d.display()),
                    None => "native".to_owned(),
                },
                "routes": routes_from_config(&cfg).iter().map(|r| serde_json::json!({
                    "listen": r.listen.to_string(),
                    "handler": r.handler.to_string(),
                })).collect::<Vec<_>>(),
                "allow": cfg.egress.allow.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            });
            println!("{summary}");
            Ok(())
        }
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            Ok(parent_agent::daemon::run(cfg).await?)
        }
        Command::Bridge {
            listen,
            connect,
            simulation_dir,
            local_cid,
            connect_timeout,
            idle_timeout,
            buffer_size,
            max_connections,
            drain_timeout,
        } => {
            anyhow::ensure!(
                (1024..=1 << 20).contains(&buffer_size),
                "--buffer-size must be 1024..=1048576"
            );
            let transport = match simulation_dir {
                Some(d) => Transport::simulated(d, local_cid),
                None => Transport::native(),
            };
            let route = RouteSpec {
                listen,
                handler: Handler::Forward { to: connect },
                max_connections,
                connect_timeout,
                copy: CopyOptions {
                    buffer_size,
                    idle_timeout,
                },
                gate: None,
            };
            let relay =
                Relay::start(transport, vec![route], None, Arc::new(Metrics::new())).await?;
            Ok(parent_agent::daemon::serve_until_signal(relay, drain_timeout).await?)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();
}
