//! `parent-agent run`: wires the configuration into the running daemon. The bridges always;
//! with `[enclave]` also the provisioning service (vsock 7000), the enclave's log stream
//! (vsock 7001), the health endpoint, the supervisor behind the attestation gate, and the
//! systemd watchdog. SIGTERM/SIGINT drain: not ready, stop accepting, wait for open
//! connections, terminate the enclave, exit 0.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use sigil_attestation::TrustAnchor;
use sigil_egress_policy::Policy;
use sigil_provisioning::{BundleFiles, CredentialSource, ProvisioningService, SourceError, pb};
use sigil_tls::ClientTls;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::gate::GateSettings;
use crate::lifecycle::Runner;
use crate::lifecycle::nitro_cli::{NitroCli, NitroCliSettings};
use crate::lifecycle::process::{ProcessRunner, ProcessSettings};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::relay::{Relay, routes_from_config};
use crate::status::AgentState;
use crate::supervision_config::{CredentialsConfig, EnclaveConfig, RunnerKind};
use crate::supervisor::Supervisor;

/// Static credentials from the configuration (simulation only), served with a fresh expiry.
struct ConfiguredCredentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
    validity: Duration,
}

impl CredentialSource for ConfiguredCredentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<pb::AwsCredentials, SourceError>> + Send + '_>> {
        let expires = SystemTime::now() + self.validity;
        let c = pb::AwsCredentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.to_string(),
            session_token: self
                .session_token
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_default(),
            expiration_unix_ms: expires
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        Box::pin(async move { Ok(c) })
    }
}

fn credential_source(c: &CredentialsConfig) -> Arc<dyn CredentialSource> {
    match c {
        CredentialsConfig::Static {
            access_key_id,
            secret_access_key,
            session_token,
            validity,
        } => Arc::new(ConfiguredCredentials {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            session_token: session_token.clone(),
            validity: *validity,
        }),
        CredentialsConfig::Imds { endpoint, role } => {
            let mut s = crate::credentials::ImdsSettings::default();
            if let Some(e) = endpoint {
                s.endpoint = e.clone();
            }
            s.role = role.clone();
            Arc::new(crate::credentials::ImdsCredentials::new(s))
        }
    }
}

fn runner(cfg: &Config, e: &EnclaveConfig) -> anyhow::Result<Box<dyn Runner>> {
    Ok(match e.runner {
        RunnerKind::Process => Box::new(ProcessRunner::new(ProcessSettings {
            program: e.program.clone().context("enclave.program")?,
            simulation_dir: cfg
                .vsock
                .simulation_dir
                .clone()
                .context("vsock.simulation_dir")?,
            cid: e.cid,
            insecure_plaintext: e.insecure_plaintext,
            args: e.args.clone(),
        })),
        RunnerKind::NitroCli => {
            let mut s = NitroCliSettings::new(e.eif_path.clone().context("enclave.eif_path")?);
            s.program = e.nitro_cli.clone();
            s.cpu_count = e.cpu_count;
            s.memory_mib = e.memory_mib;
            s.cid = e.cid;
            s.debug_mode = e.debug_mode;
            s.enclave_name = e.name.clone();
            Box::new(NitroCli::new(s))
        }
    })
}

/// SIGTERM and SIGINT, installed before anything is announced so that a signal sent right
/// after `ready` is never the default (fatal) action.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let mut signals = Signals::install()?;
    let simulated = cfg.simulated();
    let transport = cfg.vsock.transport();
    if let Some(dir) = &cfg.vsock.simulation_dir {
        warn!(event = "simulation", vsock_dir = %dir.display(), "SIMULATION: vsock is simulated with Unix sockets; nothing here is a real enclave");
    }
    let metrics = Arc::new(Metrics::with_simulation(simulated));
    let policy =
        Policy::new(cfg.allowlist(), &cfg.egress.dns).context("building the egress policy")?;
    let (ingress_tx, ingress_rx) = watch::channel(false);
    let ingress_tx = Arc::new(ingress_tx);
    let mut routes = routes_from_config(&cfg);
    let notifier = Arc::new(Notifier::from_env());
    let Some(enclave) = &cfg.enclave else {
        // Bridges only: ready as soon as they listen.
        let relay = Relay::start(transport, routes, Some(Arc::new(policy)), metrics)
            .await
            .context("starting routes")?;
        info!(event = "ready", listening = %relay.bound().iter().map(|a| a.to_string()).collect::<Vec<_>>().join(","));
        notifier.ready();
        let sig = signals.wait().await;
        info!(event = "shutdown_requested", signal = sig);
        notifier.stopping();
        relay.shutdown(cfg.shutdown.drain_timeout).await;
        return Ok(());
    };
    let (Some(prov), Some(att)) = (&cfg.provisioning, &cfg.attestation) else {
        anyhow::bail!("[enclave] needs [provisioning] and [attestation]");
    };
    // Everything that can fail on the configuration's files fails before anything starts.
    let anchor = if att.root == "aws" {
        TrustAnchor::aws_nitro_g1()?
    } else {
        let pem = std::fs::read(&att.root)
            .with_context(|| format!("attestation.root: reading {}", att.root))?;
        TrustAnchor::from_pem(&pem).with_context(|| format!("attestation.root {}", att.root))?
    };
    let tls = match &enclave.tls {
        Some(t) => Some(
            ClientTls::from_files(&t.ca, &t.cert, &t.key, t.server_name.clone(), None)
                .context("[enclave.tls]")?,
        ),
        None => None,
    };
    let runner = runner(&cfg, enclave)?;
    std::fs::create_dir_all(&att.archive_dir)
        .with_context(|| format!("attestation.archive_dir {}", att.archive_dir.display()))?;

    routes[0].gate = Some(ingress_rx);
    let bind = |what: &'static str, addr| {
        let t = transport.clone();
        async move {
            t.bind(addr)
                .await
                .with_context(|| format!("{what}: binding {addr}"))
        }
    };
    let health_listener = bind("health.listen", &cfg.health.listen).await?;
    let log_listener = bind("logs.listen", &cfg.logs.listen).await?;
    let prov_listener = bind("provisioning.listen", &prov.listen).await?;
    let relay = Relay::start(
        transport.clone(),
        routes,
        Some(Arc::new(policy)),
        metrics.clone(),
    )
    .await
    .context("starting routes")?;
    info!(
        event = "listening",
        routes = %relay.bound().iter().map(|a| a.to_string()).collect::<Vec<_>>().join(","),
        health = %health_listener.local_addr(),
        logs = %log_listener.local_addr(),
        provisioning = %prov_listener.local_addr(),
    );

    let liveness = (cfg.health.probe_interval * 3).max(Duration::from_secs(15));
    let state = Arc::new(AgentState::new(metrics.clone(), simulated, liveness));
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(crate::status::serve(
        health_listener,
        state.clone(),
        stop.clone(),
    ));
    {
        let (logs, m, stop) = (cfg.logs.clone(), metrics.clone(), stop.clone());
        tasks.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                () = crate::enclave_logs::run(log_listener, logs, m) => {}
            }
        });
    }
    let (report_tx, report_rx) = mpsc::channel(4);
    let service = ProvisioningService::new(
        BundleFiles {
            dir: prov.bundle_dir.clone(),
            require_tls: prov.require_tls,
        },
        prov.runtime.to_proto(),
        credential_source(&prov.credentials),
        report_tx,
    );
    {
        let stop = stop.clone();
        tasks.spawn(async move {
            if let Err(e) =
                sigil_provisioning::serve(prov_listener, service, stop.cancelled_owned()).await
            {
                error!(event = "provisioning_stopped", error = %e);
            }
        });
    }
    if let Some(every) = notifier.watchdog_interval() {
        let (n, state, stop) = (notifier.clone(), state.clone(), stop.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => if state.live() { n.watchdog() },
                }
            }
        });
    }
    let supervisor = Supervisor {
        runner,
        restart: enclave.restart.clone(),
        health: cfg.health.clone(),
        recheck_interval: att.recheck_interval,
        gate: GateSettings {
            anchor,
            allowed: att.allowed.clone(),
            max_age: att.max_age,
            transport: transport.clone(),
            signer: enclave.signer.clone(),
            tls,
            timeout: cfg.health.probe_timeout.max(Duration::from_secs(5)),
        },
        archive_dir: att.archive_dir.clone(),
        state: state.clone(),
        ingress: ingress_tx.clone(),
        reports: report_rx,
        notifier: notifier.clone(),
    };
    let supervisor_stop = CancellationToken::new();
    let mut supervised = tokio::spawn(supervisor.run(supervisor_stop.clone()));

    let sig = tokio::select! {
        s = signals.wait() => s,
        r = &mut supervised => {
            stop.cancel();
            anyhow::bail!("the supervisor stopped unexpectedly: {r:?}");
        }
    };
    info!(event = "shutdown_requested", signal = sig);
    state.set_ready(false);
    state.set_phase("draining", format!("{sig}: draining"));
    notifier.stopping();
    ingress_tx.send_replace(false);
    let drained = relay.shutdown(cfg.shutdown.drain_timeout).await;
    supervisor_stop.cancel();
    let _ = supervised.await;
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    info!(
        event = "stopped",
        open_at_start = drained.open_at_start,
        closed_at_deadline = drained.closed_at_deadline
    );
    Ok(())
}
