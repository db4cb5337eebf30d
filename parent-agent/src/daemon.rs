//! `parent-agent run`: the daemon. [`Daemon::start`] wires the configuration into running
//! services — the bridges always; with the supervision sections also the provisioning
//! service (vsock 7000), the enclave's log stream (vsock 7001), the health endpoint, the
//! supervisor behind the attestation gate, and the systemd watchdog. The daemon owns
//! SIGTERM/SIGINT: [`Daemon::run_until_signal`] waits for one and [`Daemon::drain`]s — not
//! ready, stop accepting, wait for open connections, terminate the enclave. The `bridge`
//! command's single relay gets the same signal handling from [`serve_until_signal`].

use std::sync::Arc;
use std::time::Duration;

use sigil_attestation::{AttestationError, TrustAnchor};
use sigil_egress_policy::{Policy, PolicyError};
use sigil_provisioning::{BundleFiles, ProvisioningService};
use sigil_tls::{ClientTls, TlsError};
use sigil_transport::{Addr, Listener, Transport, TransportError};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::bridge::{DrainReport, Relay, RouteSpec, StartError, routes_from_config};
use crate::config::{self, AttestationConfig, Config, EnclaveConfig, Supervision};
use crate::enclave::gate::GateSettings;
use crate::enclave::runner::Runner;
use crate::enclave::runner::nitro_cli::{NitroCli, NitroCliSettings};
use crate::enclave::runner::process::{ProcessRunner, ProcessSettings};
use crate::enclave::supervisor::Supervisor;
use crate::observe::metrics::{Metrics, Phase};
use crate::observe::notify::Notifier;
use crate::observe::status::AgentState;
use crate::provisioning::Credentials;

/// Why the daemon could not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A signal handler could not be installed.
    #[error("installing the {signal} handler")]
    Signal {
        /// `SIGTERM` or `SIGINT`.
        signal: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The egress allowlist could not be turned into a policy.
    #[error("building the egress policy")]
    Policy(#[source] PolicyError),
    /// The routes could not start.
    #[error("starting routes")]
    Routes(#[source] StartError),
    /// A listener of the supervision services could not be bound.
    #[error("{what}: binding {addr}")]
    Bind {
        /// The configuration field.
        what: &'static str,
        /// The address.
        addr: Addr,
        /// Why.
        source: TransportError,
    },
    /// The pinned AWS root did not load.
    #[error(transparent)]
    AwsRoot(AttestationError),
    /// `attestation.root` could not be read.
    #[error("attestation.root: reading {root}")]
    ReadRoot {
        /// The file.
        root: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `attestation.root` is not a usable root certificate.
    #[error("attestation.root {root}")]
    BadRoot {
        /// The file.
        root: String,
        /// Why.
        source: AttestationError,
    },
    /// `[enclave.tls]`'s files are not usable.
    #[error("[enclave.tls]")]
    Tls(#[source] TlsError),
    /// `attestation.archive_dir` could not be created.
    #[error("attestation.archive_dir {dir}")]
    ArchiveDir {
        /// The directory.
        dir: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The supervisor task ended without being asked to.
    #[error("the supervisor stopped unexpectedly: {0}")]
    SupervisorStopped(String),
}

/// SIGTERM and SIGINT, installed before anything is announced so that a signal sent right
/// after `ready` is never the default (fatal) action.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind, name| {
            signal(kind).map_err(|source| DaemonError::Signal {
                signal: name,
                source,
            })
        };
        Ok(Signals {
            term: install(SignalKind::terminate(), "SIGTERM")?,
            int: install(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The running daemon.
pub struct Daemon {
    signals: Signals,
    relay: Relay,
    notifier: Arc<Notifier>,
    drain_timeout: Duration,
    supervised: Option<Supervised>,
}

/// What runs besides the bridges when an enclave is supervised.
struct Supervised {
    state: Arc<AgentState>,
    ingress: Arc<watch::Sender<bool>>,
    supervisor: JoinHandle<()>,
    supervisor_stop: CancellationToken,
    /// Stops the side services (health endpoint, logs, provisioning, watchdog).
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

/// The listeners of the supervision services, bound before the routes start.
struct Listeners {
    health: Listener,
    logs: Listener,
    provisioning: Listener,
}

/// Runs the daemon until SIGTERM/SIGINT, then drains.
pub async fn run(cfg: Config) -> Result<(), DaemonError> {
    Daemon::start(cfg).await?.run_until_signal().await
}

/// `parent-agent bridge`: serves one started relay until SIGTERM/SIGINT, then drains it
/// within `drain`.
pub async fn serve_until_signal(relay: Relay, drain: Duration) -> Result<(), DaemonError> {
    let mut signals = Signals::install()?;
    info!(event = "ready", listening = %joined(relay.bound()));
    let signal = signals.wait().await;
    info!(event = "shutdown_requested", signal);
    relay.shutdown(drain).await;
    Ok(())
}

impl Daemon {
    /// Starts everything `cfg` asks for. Everything that can fail on the configuration's
    /// files fails before anything starts.
    pub async fn start(cfg: Config) -> Result<Daemon, DaemonError> {
        let signals = Signals::install()?;
        let simulated = cfg.simulated();
        if let Some(dir) = &cfg.vsock.simulation_dir {
            warn!(event = "simulation", vsock_dir = %dir.display(), "SIMULATION: vsock is simulated with Unix sockets; nothing here is a real enclave");
        }
        let metrics = Arc::new(Metrics::with_simulation(simulated));
        let policy = Policy::new(cfg.allowlist(), &cfg.egress.dns).map_err(DaemonError::Policy)?;
        let notifier = Arc::new(Notifier::from_env());
        let routes = routes_from_config(&cfg);
        let transport = cfg.vsock.transport();
        let Some(supervision) = &cfg.supervision else {
            // Bridges only: ready as soon as they listen.
            let relay = Relay::start(transport, routes, Some(Arc::new(policy)), metrics)
                .await
                .map_err(DaemonError::Routes)?;
            info!(event = "ready", listening = %joined(relay.bound()));
            notifier.ready();
            return Ok(Daemon {
                signals,
                relay,
                notifier,
                drain_timeout: cfg.shutdown.drain_timeout,
                supervised: None,
            });
        };
        let (relay, supervised) = start_supervised(
            &cfg,
            supervision,
            transport,
            routes,
            policy,
            metrics,
            &notifier,
        )
        .await?;
        Ok(Daemon {
            signals,
            relay,
            notifier,
            drain_timeout: cfg.shutdown.drain_timeout,
            supervised: Some(supervised),
        })
    }

    /// Waits for SIGTERM/SIGINT, then drains. Fails if the supervisor stops on its own.
    pub async fn run_until_signal(mut self) -> Result<(), DaemonError> {
        let signal = match &mut self.supervised {
            None => self.signals.wait().await,
            Some(s) => tokio::select! {
                sig = self.signals.wait() => sig,
                r = &mut s.supervisor => {
                    s.stop.cancel();
                    return Err(DaemonError::SupervisorStopped(format!("{r:?}")));
                }
            },
        };
        self.drain(signal).await;
        Ok(())
    }

    /// The addresses the routes bound, in route order.
    pub fn bound(&self) -> &[Addr] {
        self.relay.bound()
    }

    /// Drains after `signal`: not ready, ingress closed, open connections given the drain
    /// timeout, then the enclave terminated and every service stopped.
    pub async fn drain(self, signal: &str) -> DrainReport {
        info!(event = "shutdown_requested", signal);
        let Some(s) = self.supervised else {
            self.notifier.stopping();
            return self.relay.shutdown(self.drain_timeout).await;
        };
        s.state.set_ready(false);
        s.state
            .set_phase(Phase::Draining, format!("{signal}: draining"));
        self.notifier.stopping();
        s.ingress.send_replace(false);
        let drained = self.relay.shutdown(self.drain_timeout).await;
        s.supervisor_stop.cancel();
        let _ = s.supervisor.await;
        s.stop.cancel();
        let mut tasks = s.tasks;
        while tasks.join_next().await.is_some() {}
        info!(
            event = "stopped",
            open_at_start = drained.open_at_start,
            closed_at_deadline = drained.closed_at_deadline
        );
        drained
    }
}

fn joined(addrs: &[Addr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The bridges behind the attestation gate, the supervision services and the supervisor.
async fn start_supervised(
    cfg: &Config,
    s: &Supervision,
    transport: Transport,
    mut routes: Vec<RouteSpec>,
    policy: Policy,
    metrics: Arc<Metrics>,
    notifier: &Arc<Notifier>,
) -> Result<(Relay, Supervised), DaemonError> {
    let (anchor, tls) = load_gate_files(&s.enclave, &s.attestation)?;
    let runner = runner(&s.enclave);
    std::fs::create_dir_all(&s.attestation.archive_dir).map_err(|source| {
        DaemonError::ArchiveDir {
            dir: s.attestation.archive_dir.display().to_string(),
            source,
        }
    })?;
    let (ingress_tx, ingress_rx) = watch::channel(false);
    let ingress = Arc::new(ingress_tx);
    // Ingress is the first route; it accepts only while the gate is open.
    if let Some(ingress_route) = routes.first_mut() {
        ingress_route.gate = Some(ingress_rx);
    }
    let listeners = bind_listeners(cfg, s, &transport).await?;
    let relay = Relay::start(
        transport.clone(),
        routes,
        Some(Arc::new(policy)),
        metrics.clone(),
    )
    .await
    .map_err(DaemonError::Routes)?;
    info!(
        event = "listening",
        routes = %joined(relay.bound()),
        health = %listeners.health.local_addr(),
        logs = %listeners.logs.local_addr(),
        provisioning = %listeners.provisioning.local_addr(),
    );

    let liveness = (cfg.health.probe_interval * 3).max(Duration::from_secs(15));
    let state = Arc::new(AgentState::new(metrics.clone(), cfg.simulated(), liveness));
    let stop = CancellationToken::new();
    let (report_tx, report_rx) = mpsc::channel(4);
    let tasks = spawn_services(cfg, s, listeners, &state, notifier, report_tx, &stop);
    let supervisor = Supervisor {
        runner,
        restart: s.enclave.restart.clone(),
        health: cfg.health.clone(),
        recheck_interval: s.attestation.recheck_interval,
        gate: GateSettings {
            anchor,
            allowed: s.attestation.allowed.clone(),
            max_age: s.attestation.max_age,
            transport,
            signer: s.enclave.signer.clone(),
            tls,
            timeout: cfg.health.probe_timeout.max(Duration::from_secs(5)),
        },
        archive_dir: s.attestation.archive_dir.clone(),
        state: state.clone(),
        ingress: ingress.clone(),
        reports: report_rx,
        notifier: notifier.clone(),
    };
    let supervisor_stop = CancellationToken::new();
    let supervisor = tokio::spawn(supervisor.run(supervisor_stop.clone()));
    Ok((
        relay,
        Supervised {
            state,
            ingress,
            supervisor,
            supervisor_stop,
            stop,
            tasks,
        },
    ))
}

/// The gate's trust anchor and parent-agent's client TLS, read from their files.
fn load_gate_files(
    enclave: &EnclaveConfig,
    att: &AttestationConfig,
) -> Result<(TrustAnchor, Option<ClientTls>), DaemonError> {
    let anchor = if att.root == "aws" {
        TrustAnchor::aws_nitro_g1().map_err(DaemonError::AwsRoot)?
    } else {
        let pem = std::fs::read(&att.root).map_err(|source| DaemonError::ReadRoot {
            root: att.root.clone(),
            source,
        })?;
        TrustAnchor::from_pem(&pem).map_err(|source| DaemonError::BadRoot {
            root: att.root.clone(),
            source,
        })?
    };
    let tls = match &enclave.tls {
        Some(t) => Some(
            ClientTls::from_files(&t.ca, &t.cert, &t.key, t.server_name.clone(), None)
                .map_err(DaemonError::Tls)?,
        ),
        None => None,
    };
    Ok((anchor, tls))
}

/// The runner `[enclave]` chose.
fn runner(e: &EnclaveConfig) -> Box<dyn Runner> {
    match &e.runner {
        config::Runner::Process {
            program,
            args,
            simulation_dir,
        } => Box::new(ProcessRunner::new(ProcessSettings {
            program: program.clone(),
            simulation_dir: simulation_dir.clone(),
            cid: e.cid,
            insecure_plaintext: e.insecure_plaintext,
            args: args.clone(),
        })),
        config::Runner::NitroCli {
            eif_path,
            cpu_count,
            memory_mib,
            debug_mode,
            name,
            program,
        } => {
            let mut s = NitroCliSettings::new(eif_path.clone());
            s.program = program.clone();
            s.cpu_count = *cpu_count;
            s.memory_mib = *memory_mib;
            s.cid = e.cid;
            s.debug_mode = *debug_mode;
            s.enclave_name = name.clone();
            Box::new(NitroCli::new(s))
        }
    }
}

async fn bind_listeners(
    cfg: &Config,
    s: &Supervision,
    transport: &Transport,
) -> Result<Listeners, DaemonError> {
    let bind = |what: &'static str, addr: &Addr| {
        let (t, addr) = (transport.clone(), addr.clone());
        async move {
            t.bind(&addr)
                .await
                .map_err(|source| DaemonError::Bind { what, addr, source })
        }
    };
    Ok(Listeners {
        health: bind("health.listen", &cfg.health.listen).await?,
        logs: bind("logs.listen", &cfg.logs.listen).await?,
        provisioning: bind("provisioning.listen", &s.provisioning.listen).await?,
    })
}

/// The health endpoint, the enclave's log stream, the provisioning service and the systemd
/// watchdog, each until `stop`.
fn spawn_services(
    cfg: &Config,
    s: &Supervision,
    listeners: Listeners,
    state: &Arc<AgentState>,
    notifier: &Arc<Notifier>,
    reports: mpsc::Sender<sigil_provisioning::ReceivedReport>,
    stop: &CancellationToken,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    tasks.spawn(crate::observe::status::serve(
        listeners.health,
        state.clone(),
        stop.clone(),
    ));
    {
        let (logs, m, stop) = (cfg.logs.clone(), state.metrics().clone(), stop.clone());
        let listener = listeners.logs;
        tasks.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                () = crate::observe::enclave_logs::run(listener, logs, m) => {}
            }
        });
    }
    let prov = &s.provisioning;
    let service = ProvisioningService::new(
        BundleFiles {
            dir: prov.bundle_dir.clone(),
            require_tls: prov.require_tls,
        },
        prov.runtime.to_proto(),
        Arc::new(Credentials::from_config(&prov.credentials)),
        reports,
    );
    {
        let (stop, listener) = (stop.clone(), listeners.provisioning);
        tasks.spawn(async move {
            if let Err(e) =
                sigil_provisioning::serve(listener, service, stop.cancelled_owned()).await
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
    tasks
}
