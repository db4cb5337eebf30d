//! The supervisor: one loop that starts the enclave through a [`Runner`], waits for its boot
//! report, passes it through the attestation gate, opens ingress, then probes its health and
//! re-attests it, and restarts it with exponential backoff when anything fails, up to a
//! crash-loop limit.
//!
//! Phases: `starting` → `booting` → `attesting` → `serving`, then `restarting` (backoff) or
//! `crash_loop` (restarts stopped, with the reason) or `draining` (SIGTERM). Ingress accepts
//! only in `serving` while the last probe succeeded. Every transition is one structured log
//! line and moves the `sigil_enclave_phase` gauge. Fail closed: a document that does not
//! verify, a PCR0 not on the list, or a TLS key that does not match the attested one keeps
//! ingress shut and ends this enclave.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigil_provisioning::ReceivedReport;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::{HealthConfig, RestartConfig};
use crate::enclave::archive;
use crate::enclave::gate::{Attested, Gate, GateError, GateSettings, parse_pin};
use crate::enclave::runner::{Enclave, Runner};
use crate::observe::metrics::{Phase, Probe};
use crate::observe::notify::Notifier;
use crate::observe::status::AgentState;

/// Everything the supervisor needs.
pub struct Supervisor {
    /// Starts enclaves.
    pub runner: Box<dyn Runner>,
    /// Restart policy and boot timeout.
    pub restart: RestartConfig,
    /// Probe period, timeout and threshold.
    pub health: HealthConfig,
    /// Re-attestation period.
    pub recheck_interval: Duration,
    /// The gate's anchor, allowed images and channel settings.
    pub gate: GateSettings,
    /// Where evidence is archived.
    pub archive_dir: PathBuf,
    /// Published state.
    pub state: Arc<AgentState>,
    /// Ingress accepts while this is `true`.
    pub ingress: Arc<watch::Sender<bool>>,
    /// Boot reports from the provisioning service.
    pub reports: mpsc::Receiver<ReceivedReport>,
    /// systemd.
    pub notifier: Arc<Notifier>,
}

/// How one enclave's run ended.
enum End {
    /// SIGTERM: stop for good.
    Stop,
    /// Restart; `reason` is a metric label, `detail` the log text.
    Failed {
        reason: &'static str,
        detail: String,
        served: Duration,
    },
}

fn failed(reason: &'static str, detail: impl Into<String>) -> End {
    End::Failed {
        reason,
        detail: detail.into(),
        served: Duration::ZERO,
    }
}

/// Runs `fut`, beating the heartbeat every second meanwhile.
async fn beating<T>(state: &AgentState, fut: impl Future<Output = T>) -> T {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            v = &mut fut => return v,
            _ = tick.tick() => state.heartbeat(),
        }
    }
}

impl Supervisor {
    fn close_ingress(&self) {
        self.ingress.send_replace(false);
        self.state.set_ready(false);
    }

    /// Supervises until `stop` is cancelled; terminates the enclave before returning.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut restarts: VecDeque<Instant> = VecDeque::new();
        let mut backoff = self.restart.initial_backoff;
        let mut generation = 0u64;
        loop {
            self.state.heartbeat();
            if stop.is_cancelled() {
                return;
            }
            let window = self.restart.crash_loop_window;
            while restarts.front().is_some_and(|t| t.elapsed() > window) {
                restarts.pop_front();
            }
            if restarts.len() > self.restart.crash_loop_limit as usize {
                let (_, last) = self.state.phase();
                let why = format!(
                    "{} restarts within {}; restarts stopped. Last failure: {last}. Fix the cause, then restart parent-agent.",
                    restarts.len(),
                    humantime::format_duration(window)
                );
                error!(event = "crash_loop", restarts = restarts.len(), window_s = window.as_secs(), reason = %why);
                self.state.set_phase(Phase::CrashLoop, why.clone());
                self.notifier.status(&format!("crash loop: {why}"));
                beating(&self.state, stop.cancelled()).await;
                return;
            }
            generation += 1;
            let span = info_span!("enclave", generation, runner = self.runner.kind());
            let end = self.one_enclave(&stop).instrument(span).await;
            self.close_ingress();
            self.state.metrics().set_unhealthy();
            match end {
                End::Stop => return,
                End::Failed {
                    reason,
                    detail,
                    served,
                } => {
                    if served >= window.min(Duration::from_secs(600)) {
                        // It served long enough: this failure starts a new series.
                        restarts.clear();
                        backoff = self.restart.initial_backoff;
                    }
                    restarts.push_back(Instant::now());
                    self.state.metrics().restart(reason);
                    warn!(event = "enclave_restart", reason, detail = %detail, backoff_ms = backoff.as_millis() as u64, restarts_in_window = restarts.len());
                    self.state
                        .set_phase(Phase::Restarting, format!("{reason}: {detail}"));
                    self.notifier
                        .status(&format!("restarting the enclave: {reason}"));
                    let slept = beating(&self.state, async {
                        tokio::select! {
                            _ = stop.cancelled() => false,
                            _ = tokio::time::sleep(backoff) => true,
                        }
                    })
                    .await;
                    if !slept {
                        return;
                    }
                    backoff = (backoff * 2).min(self.restart.max_backoff);
                }
            }
        }
    }

    /// Starts one enclave and supervises it until it must be restarted or `stop`.
    async fn one_enclave(&mut self, stop: &CancellationToken) -> End {
        self.state.set_phase(Phase::Starting, "preflight");
        if let Err(e) = beating(&self.state, self.runner.preflight()).await {
            error!(event = "preflight_failed", error = %e);
            return failed("start_failed", e.to_string());
        }
        // A report left from an earlier enclave must not be taken for this one's.
        while self.reports.try_recv().is_ok() {}
        let mut enclave = match beating(&self.state, self.runner.start()).await {
            Ok(e) => e,
            Err(e) => {
                error!(event = "enclave_start_failed", error = %e);
                return failed("start_failed", e.to_string());
            }
        };
        let info = enclave.info().clone();
        info!(event = "enclave_started", enclave_id = %info.id, cid = info.cid, cpus = info.cpus, memory_mib = info.memory_mib, debug_mode = info.debug_mode);
        let end = self.supervise(enclave.as_mut(), stop).await;
        match &end {
            End::Stop => info!(event = "enclave_stopping", enclave_id = %info.id),
            End::Failed { reason, .. } => {
                info!(event = "enclave_terminating", enclave_id = %info.id, reason)
            }
        }
        if let Err(e) = enclave.terminate().await {
            error!(event = "enclave_terminate_failed", enclave_id = %info.id, error = %e);
        }
        end
    }

    async fn supervise(&mut self, enclave: &mut dyn Enclave, stop: &CancellationToken) -> End {
        let deadline = tokio::time::Instant::now() + self.restart.boot_timeout;
        self.state
            .set_phase(Phase::Booting, "waiting for the boot report");
        let received = {
            let reports = &mut self.reports;
            let state = &self.state;
            beating(state, async {
                tokio::select! {
                    _ = stop.cancelled() => Err(End::Stop),
                    exit = enclave.wait() => Err(failed("exited", format!("during boot: {exit}"))),
                    _ = tokio::time::sleep_until(deadline) => Err(failed("boot_timeout", format!("no boot report within {:?}", self.restart.boot_timeout))),
                    r = reports.recv() => r.ok_or_else(|| failed("boot_failed", "the provisioning service stopped")),
                }
            })
            .await
        };
        let received = match received {
            Ok(r) => r,
            Err(end) => return end,
        };
        let report = &received.report;
        self.archive_report(&received);
        self.state.metrics().boot_report(report);
        if !report.ok {
            error!(event = "enclave_boot_failed", step = %report.failed_step, reason = %report.reason);
            return failed(
                "boot_failed",
                format!("step {}: {}", report.failed_step, report.reason),
            );
        }
        self.state
            .set_phase(Phase::Attesting, "verifying the enclave's attestation");
        let pin = match parse_pin(&report.tls_spki_sha256) {
            Ok(p) => p,
            Err(e) => return failed("attestation_failed", e.to_string()),
        };
        let attested = loop {
            let attempt = async {
                let gate = Gate::connect(&self.gate, pin).await?;
                let doc = gate.attest().await?;
                Ok::<_, GateError>((gate, doc))
            };
            let r = beating(&self.state, async {
                tokio::select! {
                    _ = stop.cancelled() => Err(End::Stop),
                    exit = enclave.wait() => Err(failed("exited", format!("before attestation: {exit}"))),
                    _ = tokio::time::sleep_until(deadline) => Err(failed("boot_timeout", format!("not attested within {:?}", self.restart.boot_timeout))),
                    r = attempt => Ok(r),
                }
            })
            .await;
            match r {
                Err(end) => return end,
                Ok(Ok(x)) => break x,
                Ok(Err(e @ GateError::Unreachable { .. })) => {
                    self.state.metrics().attestation_check(e.outcome());
                    warn!(event = "attestation_retry", error = %e);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(Err(e)) => {
                    self.state.metrics().attestation_check(e.outcome());
                    error!(event = "attestation_refused", error = %e, "ingress stays closed");
                    return failed("attestation_failed", e.to_string());
                }
            }
        };
        let (gate, doc) = attested;
        self.attestation_passed(&doc);
        self.open_ingress(&gate).await;
        let since = Instant::now();
        let served = |end: End| match end {
            End::Failed { reason, detail, .. } => End::Failed {
                reason,
                detail,
                served: since.elapsed(),
            },
            e => e,
        };
        let mut probe = tokio::time::interval(self.health.probe_interval);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        probe.tick().await;
        let mut recheck = tokio::time::interval(self.recheck_interval);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.tick().await;
        let mut failures = 0u32;
        loop {
            self.state.heartbeat();
            tokio::select! {
                _ = stop.cancelled() => return End::Stop,
                exit = enclave.wait() => {
                    self.close_ingress();
                    error!(event = "enclave_exited", exit = %exit);
                    return served(failed("exited", exit.to_string()));
                }
                _ = probe.tick() => {
                    let outcome = gate.probe(self.health.probe_timeout).await;
                    self.state.metrics().health_probe(outcome);
                    if outcome == Probe::Serving {
                        if failures > 0 {
                            info!(event = "enclave_healthy_again", after_failures = failures);
                        }
                        failures = 0;
                        if !self.state.ready() && *self.ingress.borrow() {
                            self.state.set_ready(true);
                        }
                    } else {
                        failures += 1;
                        warn!(event = "health_probe_failed", outcome = outcome.as_str(), consecutive = failures);
                        // Not ready while failing: no new ingress until it answers again.
                        self.state.set_ready(false);
                        if failures >= self.health.failures_before_restart {
                            self.close_ingress();
                            return served(failed("unhealthy", format!("{failures} failed health probes in a row")));
                        }
                    }
                }
                _ = recheck.tick() => {
                    match gate.attest().await {
                        Ok(doc) => self.attestation_passed(&doc),
                        Err(e @ GateError::Refused(_)) => {
                            self.state.metrics().attestation_check(e.outcome());
                            self.close_ingress();
                            error!(event = "attestation_refused", error = %e, "ingress closed");
                            return served(failed("attestation_failed", e.to_string()));
                        }
                        Err(e) => {
                            self.state.metrics().attestation_check(e.outcome());
                            warn!(event = "reattestation_unreachable", error = %e);
                            failures += 1;
                        }
                    }
                }
            }
        }
    }

    async fn open_ingress(&self, gate: &Gate) {
        // One probe before opening: attested and healthy.
        let outcome = gate.probe(self.health.probe_timeout).await;
        self.state.metrics().health_probe(outcome);
        self.ingress.send_replace(true);
        self.state.set_ready(outcome == Probe::Serving);
        self.state
            .set_phase(Phase::Serving, "attested; ingress open");
        info!(event = "ingress_open", healthy = outcome == Probe::Serving);
        self.notifier.ready();
    }

    fn attestation_passed(&self, doc: &Attested) {
        self.state.metrics().attestation_check("verified");
        let archived = archive::store(&self.archive_dir, "attestations", "cbor", &doc.document)
            .map(|(_, p)| p.display().to_string())
            .unwrap_or_else(|e| {
                error!(event = "archive_failed", kind = "attestation", error = %e);
                String::new()
            });
        let pcr = |i: u8| doc.pcrs.get(&i).cloned().unwrap_or_default();
        info!(
            event = "attestation_verified",
            sha256 = %doc.sha256,
            pcr0 = %pcr(0),
            pcr1 = %pcr(1),
            pcr2 = %pcr(2),
            matched = %doc.matched,
            module_id = %doc.module_id,
            timestamp_ms = doc.timestamp_ms,
            tls_bound = doc.tls_bound,
            dev_root = doc.dev_root,
            archived = %archived,
        );
        if doc.dev_root {
            warn!(
                event = "simulation",
                "attestation verified against a DEVELOPMENT root: this proves nothing about a real enclave"
            );
        }
        if !doc.tls_bound {
            warn!(
                event = "simulation",
                "plaintext gRPC to the enclave: the attested key is not bound to the connection"
            );
        }
    }

    fn archive_report(&self, received: &ReceivedReport) {
        let r = &received.report;
        let json = archive::report_json(r, sigil_std_ext::time::unix_ms(received.received_at));
        let stored = archive::store(
            &self.archive_dir,
            "reports",
            "json",
            json.to_string().as_bytes(),
        );
        if !r.attestation_document.is_empty()
            && let Err(e) = archive::store(
                &self.archive_dir,
                "attestations",
                "cbor",
                &r.attestation_document,
            )
        {
            error!(event = "archive_failed", kind = "boot_attestation", error = %e);
        }
        match stored {
            Ok((digest, path)) => info!(
                event = "boot_report",
                sha256 = %digest,
                archived = %path.display(),
                report = %json,
            ),
            Err(e) => {
                error!(event = "archive_failed", kind = "boot_report", error = %e, report = %json)
            }
        }
    }
}
