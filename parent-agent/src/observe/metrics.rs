//! parent-agent's Prometheus metrics. No label carries a secret: routes are listen
//! addresses, decisions and reasons are fixed codes, signer groups are the operator's group
//! ids (checked and capped, see [`Metrics::signer_group_freeze`]).

use std::collections::BTreeSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnLabels {
    route: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByteLabels {
    route: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    route: String,
    decision: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: String,
}

/// The most signer groups `sigil_enclave_signer_group_freezes_total` labels by name; freezes
/// of any further group count under [`FREEZE_GROUP_OTHER`]. Groups are few and defined by the
/// operator, but the group id arrives on a log line, and a series per value must not grow
/// without bound whatever those lines say.
pub const MAX_FREEZE_GROUPS: usize = 32;

/// The `group` label of freezes beyond the first [`MAX_FREEZE_GROUPS`] groups.
pub const FREEZE_GROUP_OTHER: &str = "<other>";

/// The `group` label of a freeze line whose group id is missing, redacted or not a plausible
/// id (1 to [`MAX_FREEZE_GROUP_BYTES`] bytes of `A-Z a-z 0-9 . _ - : @ /`). No group id can be
/// spelt like this label or [`FREEZE_GROUP_OTHER`].
pub const FREEZE_GROUP_INVALID: &str = "<invalid>";

/// The longest group id used as a label.
pub const MAX_FREEZE_GROUP_BYTES: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

/// The enclave's phase, as the supervisor moves through it (the `phase` label of
/// `sigil_enclave_phase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Preflight and start.
    Starting,
    /// Started; waiting for the boot report.
    Booting,
    /// Verifying the attestation.
    Attesting,
    /// Attested; ingress open.
    Serving,
    /// Backing off before a restart.
    Restarting,
    /// Restarts stopped.
    CrashLoop,
    /// SIGTERM/SIGINT: draining.
    Draining,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 7] = [
        Phase::Starting,
        Phase::Booting,
        Phase::Attesting,
        Phase::Serving,
        Phase::Restarting,
        Phase::CrashLoop,
        Phase::Draining,
    ];

    /// The metric label and the name `/livez` and `/readyz` report.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Booting => "booting",
            Phase::Attesting => "attesting",
            Phase::Serving => "serving",
            Phase::Restarting => "restarting",
            Phase::CrashLoop => "crash_loop",
            Phase::Draining => "draining",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one grpc.health.v1 probe of the SignService (the `outcome` label of
/// `sigil_enclave_health_probes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Probe {
    /// `SERVING`.
    Serving,
    /// Any other status.
    NotServing,
    /// No answer (unreachable, error or timeout).
    Failed,
}

impl Probe {
    /// The metric label and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Serving => "serving",
            Probe::NotServing => "not_serving",
            Probe::Failed => "failed",
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// All of the agent's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    connections: Family<ConnLabels, Counter>,
    active: Family<RouteLabels, Gauge>,
    bytes: Family<ByteLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    /// Enclave restarts by reason.
    restarts: Family<ReasonLabels, Counter>,
    /// The last boot's step times.
    boot_steps: Family<StepLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// KMS Decrypt time of each boot, from the boot reports.
    kms_decrypt: Histogram,
    /// KMS attempts of the last boot.
    kms_attempts: Gauge,
    /// Attestation checks by outcome.
    attestation_checks: Family<OutcomeLabels, Counter>,
    /// grpc.health.v1 probes by outcome.
    health_probes: Family<OutcomeLabels, Counter>,
    /// 1 while the last probe succeeded.
    healthy: Gauge,
    /// 1 while ingress is open.
    ready: Gauge,
    /// 1 for the current phase.
    phase: Family<PhaseLabels, Gauge>,
    /// Log lines the enclave dropped (from its boot report and the stream).
    enclave_log_dropped: Gauge,
    /// Log lines received from the enclave, and those refused (malformed or too long).
    enclave_log_lines: Family<OutcomeLabels, Counter>,
    /// Signer group freezes the enclave reported, by group.
    signer_group_freezes: Family<GroupLabels, Counter>,
    /// The groups labelled by name so far (at most [`MAX_FREEZE_GROUPS`]).
    freeze_groups: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        Self::with_simulation(false)
    }

    /// Registers every metric; in simulation every sample carries `simulated="true"`, so a
    /// dashboard can never mistake a simulated appliance for a real one.
    pub fn with_simulation(simulated: bool) -> Self {
        let labels: Vec<(
            std::borrow::Cow<'static, str>,
            std::borrow::Cow<'static, str>,
        )> = if simulated {
            vec![("simulated".into(), "true".into())]
        } else {
            Vec::new()
        };
        let mut registry = Registry::with_prefix_and_labels("sigil", labels.into_iter());
        let connections = Family::<ConnLabels, Counter>::default();
        let active = Family::<RouteLabels, Gauge>::default();
        let bytes = Family::<ByteLabels, Counter>::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "bridge_connections",
            "Connections per route by outcome (accepted, rejected_over_cap, rejected_not_ready, connect_failed, denied, bad_request)",
            connections.clone(),
        );
        registry.register(
            "bridge_active_connections",
            "Connections open now per route",
            active.clone(),
        );
        registry.register(
            "bridge_bytes",
            "Bytes forwarded per route; upstream = towards the destination, downstream = back to the client",
            bytes.clone(),
        );
        registry.register(
            "egress_decisions",
            "Egress allowlist decisions by route, decision and reason",
            decisions.clone(),
        );
        let restarts = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "enclave_restarts",
            "Enclave restarts by reason (exited, boot_failed, boot_timeout, attestation_failed, unhealthy, start_failed)",
            restarts.clone(),
        );
        let boot_steps = Family::default();
        registry.register(
            "enclave_boot_step_seconds",
            "Time of each boot step in the last boot report",
            boot_steps.clone(),
        );
        let kms_decrypt = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        registry.register(
            "enclave_kms_decrypt_seconds",
            "The attested KMS Decrypt step of each boot (retries included), from boot reports",
            kms_decrypt.clone(),
        );
        let kms_attempts = Gauge::default();
        registry.register(
            "enclave_kms_attempts",
            "KMS Decrypt attempts in the last boot",
            kms_attempts.clone(),
        );
        let attestation_checks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "attestation_checks",
            "Attestation gate checks by outcome (verified, refused, unreachable)",
            attestation_checks.clone(),
        );
        let health_probes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "enclave_health_probes",
            "grpc.health.v1 probes of the enclave by outcome (serving, not_serving, failed)",
            health_probes.clone(),
        );
        let healthy = Gauge::default();
        registry.register(
            "enclave_healthy",
            "1 while the enclave's last health probe succeeded",
            healthy.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 while ingress is open (attested and healthy)",
            ready.clone(),
        );
        let phase = Family::<PhaseLabels, Gauge>::default();
        for p in Phase::ALL {
            let _ = phase.get_or_create(&PhaseLabels { phase: p.as_str() });
        }
        registry.register(
            "enclave_phase",
            "1 for the supervisor's current phase",
            phase.clone(),
        );
        let enclave_log_dropped = Gauge::default();
        registry.register(
            "enclave_log_lines_dropped",
            "Log lines the enclave dropped because its queue was full (from its reports)",
            enclave_log_dropped.clone(),
        );
        let enclave_log_lines = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "enclave_log_lines",
            "Log lines received from the enclave by outcome (accepted, refused)",
            enclave_log_lines.clone(),
        );
        let signer_group_freezes = Family::<GroupLabels, Counter>::default();
        registry.register(
            "enclave_signer_group_freezes",
            "Signer groups the enclave froze because a co-signer was caught cheating (its signer_group_frozen log lines), by group",
            signer_group_freezes.clone(),
        );
        Metrics {
            registry,
            connections,
            active,
            bytes,
            decisions,
            restarts,
            boot_steps,
            kms_decrypt,
            kms_attempts,
            attestation_checks,
            health_probes,
            healthy,
            ready,
            phase,
            enclave_log_dropped,
            enclave_log_lines,
            signer_group_freezes,
            freeze_groups: Mutex::new(BTreeSet::new()),
        }
    }

    /// Counts one enclave restart.
    pub fn restart(&self, reason: &str) {
        self.restarts
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Restarts so far for `reason`.
    pub fn restarts(&self, reason: &str) -> u64 {
        self.restarts
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .get()
    }

    /// Records a boot report's step times, KMS figures and dropped log lines.
    pub fn boot_report(&self, report: &sigil_provisioning::pb::BootReport) {
        for s in &report.steps {
            let secs = s.elapsed_us as f64 / 1e6;
            self.boot_steps
                .get_or_create(&StepLabels {
                    step: s.step.clone(),
                })
                .set(secs);
            if s.step == "kms_decrypt" {
                self.kms_decrypt.observe(secs);
            }
        }
        self.kms_attempts.set(i64::from(report.kms_attempts));
        self.enclave_log_dropped
            .set(i64::try_from(report.log_lines_dropped).unwrap_or(i64::MAX));
    }

    /// Counts an attestation check.
    pub fn attestation_check(&self, outcome: &'static str) {
        self.attestation_checks
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a health probe and sets `enclave_healthy`.
    pub fn health_probe(&self, outcome: Probe) {
        self.health_probes
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        self.healthy.set(i64::from(outcome == Probe::Serving));
    }

    /// Marks the enclave unhealthy (stopped, restarting).
    pub fn set_unhealthy(&self) {
        self.healthy.set(0);
    }

    /// Sets the `ready` gauge.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Moves the phase gauge.
    pub fn set_phase(&self, current: Phase) {
        for p in Phase::ALL {
            self.phase
                .get_or_create(&PhaseLabels { phase: p.as_str() })
                .set(i64::from(p == current));
        }
    }

    /// Counts `n` lines from the enclave's log stream.
    pub fn enclave_log_lines(&self, outcome: &'static str, n: u64) {
        self.enclave_log_lines
            .get_or_create(&OutcomeLabels { outcome })
            .inc_by(n);
    }

    /// Counts one signer group freeze the enclave reported for `group` (the id as its log line
    /// carries it); returns the `group` label it was counted under: the id itself,
    /// [`FREEZE_GROUP_INVALID`] for an implausible one, or [`FREEZE_GROUP_OTHER`] once
    /// [`MAX_FREEZE_GROUPS`] other groups have their own series.
    pub fn signer_group_freeze(&self, group: Option<&str>) -> String {
        let label = self.freeze_label(group);
        self.signer_group_freezes
            .get_or_create(&GroupLabels {
                group: label.clone(),
            })
            .inc();
        label
    }

    /// Freezes counted so far under the `group` label `label`.
    pub fn signer_group_freezes(&self, label: &str) -> u64 {
        self.signer_group_freezes
            .get_or_create(&GroupLabels {
                group: label.to_owned(),
            })
            .get()
    }

    fn freeze_label(&self, group: Option<&str>) -> String {
        let Some(group) = group.filter(|g| {
            !g.is_empty()
                && g.len() <= MAX_FREEZE_GROUP_BYTES
                && g.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-:@/".contains(&b))
        }) else {
            return FREEZE_GROUP_INVALID.to_owned();
        };
        // Nothing panics while holding the lock; should it ever, the set is still usable.
        let mut seen = self
            .freeze_groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(group) || seen.len() < MAX_FREEZE_GROUPS {
            seen.insert(group.to_owned());
            group.to_owned()
        } else {
            FREEZE_GROUP_OTHER.to_owned()
        }
    }

    /// Counters for one route, resolved once so the per-connection path does no lookups.
    pub fn route(&self, route: &str) -> RouteMetrics {
        let c = |outcome| {
            self.connections
                .get_or_create(&ConnLabels {
                    route: route.to_owned(),
                    outcome,
                })
                .clone()
        };
        let b = |direction| {
            self.bytes
                .get_or_create(&ByteLabels {
                    route: route.to_owned(),
                    direction,
                })
                .clone()
        };
        RouteMetrics {
            accepted: c("accepted"),
            rejected_over_cap: c("rejected_over_cap"),
            rejected_not_ready: c("rejected_not_ready"),
            connect_failed: c("connect_failed"),
            denied: c("denied"),
            bad_request: c("bad_request"),
            active: self
                .active
                .get_or_create(&RouteLabels {
                    route: route.to_owned(),
                })
                .clone(),
            upstream: b("upstream"),
            downstream: b("downstream"),
        }
    }

    /// Counts one allowlist decision.
    pub fn decision(&self, route: &str, decision: &'static str, reason: &'static str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                route: route.to_owned(),
                decision,
                reason,
            })
            .inc();
    }

    /// Current value of one decision counter (for tests and summaries).
    pub fn decisions(&self, route: &str, decision: &'static str, reason: &'static str) -> u64 {
        self.decisions
            .get_or_create(&DecisionLabels {
                route: route.to_owned(),
                decision,
                reason,
            })
            .get()
    }

    /// OpenMetrics text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The Prometheus text format 0.0.4 (what `promtool check metrics` and scrapers that do
    /// not ask for OpenMetrics read): the same samples, with counter families named by their
    /// `_total` sample and no `# EOF`.
    pub fn render_prometheus_text(&self) -> String {
        to_prometheus_text(&self.render())
    }
}

/// Converts prometheus-client's OpenMetrics text to the Prometheus 0.0.4 text format.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// One route's counters (cheap clones of the registered ones).
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    /// Connections accepted and served.
    pub accepted: Counter,
    /// Connections closed at once because the route was at its cap.
    pub rejected_over_cap: Counter,
    /// Connections closed at once because the route's gate was shut (ingress before the
    /// enclave is attested and healthy).
    pub rejected_not_ready: Counter,
    /// Connections whose destination could not be reached.
    pub connect_failed: Counter,
    /// Connections refused by the allowlist.
    pub denied: Counter,
    /// CONNECT requests that were malformed, too large or too slow.
    pub bad_request: Counter,
    /// Connections open now.
    pub active: Gauge,
    /// Bytes towards the destination.
    pub upstream: Counter,
    /// Bytes back to the client.
    pub downstream: Counter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counter_families_by_their_samples() {
        let m = Metrics::with_simulation(true);
        m.restart("exited");
        m.set_ready(true);
        let text = m.render_prometheus_text();
        assert!(text.contains("# TYPE sigil_enclave_restarts_total counter\n"));
        assert!(text.contains("# HELP sigil_enclave_restarts_total "));
        assert!(
            text.contains("sigil_enclave_restarts_total{simulated=\"true\",reason=\"exited\"} 1\n")
        );
        assert!(text.contains("# TYPE sigil_ready gauge\n"));
        assert!(!text.contains("# EOF"));
        assert!(m.render().ends_with("# EOF\n"));
    }

    #[test]
    fn freezes_are_labelled_by_group_within_a_cap() {
        let m = Metrics::new();
        assert_eq!(m.signer_group_freeze(Some("hot")), "hot");
        assert_eq!(m.signer_group_freeze(Some("hot")), "hot");
        assert_eq!(m.signer_group_freezes("hot"), 2);
        // Ids that are missing, redacted or implausible share one label.
        for bad in [
            None,
            Some(""),
            Some("<redacted>"),
            Some("a b"),
            Some("é"),
            Some(&*"g".repeat(MAX_FREEZE_GROUP_BYTES + 1)),
        ] {
            assert_eq!(m.signer_group_freeze(bad), FREEZE_GROUP_INVALID, "{bad:?}");
        }
        assert_eq!(
            m.signer_group_freeze(Some(&"g".repeat(MAX_FREEZE_GROUP_BYTES))),
            "g".repeat(MAX_FREEZE_GROUP_BYTES)
        );
        // Past the cap, new groups share one label; known groups keep theirs.
        for i in 0..MAX_FREEZE_GROUPS * 2 {
            let _ = m.signer_group_freeze(Some(&format!("g{i}")));
        }
        let text = m.render_prometheus_text();
        let series = text
            .lines()
            .filter(|l| l.starts_with("sigil_enclave_signer_group_freezes_total{"))
            .count();
        assert_eq!(series, MAX_FREEZE_GROUPS + 2, "{text}");
        assert_eq!(m.signer_group_freeze(Some("hot")), "hot");
        assert_eq!(m.signer_group_freeze(Some("new")), FREEZE_GROUP_OTHER);
        assert!(text.contains(&format!(
            "sigil_enclave_signer_group_freezes_total{{group=\"{FREEZE_GROUP_OTHER}\"}} {}\n",
            MAX_FREEZE_GROUPS * 2 - (MAX_FREEZE_GROUPS - 2)
        )));
        assert!(text.contains("# TYPE sigil_enclave_signer_group_freezes_total counter\n"));
    }
}
