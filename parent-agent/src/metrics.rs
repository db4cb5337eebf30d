//! parent-agent's Prometheus metrics. No label carries a secret: routes are listen
//! addresses, decisions and reasons are fixed codes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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

/// All of the agent's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    connections: Family<ConnLabels, Counter>,
    active: Family<RouteLabels, Gauge>,
    bytes: Family<ByteLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
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
        let mut registry = Registry::with_prefix("sigil");
        let connections = Family::<ConnLabels, Counter>::default();
        let active = Family::<RouteLabels, Gauge>::default();
        let bytes = Family::<ByteLabels, Counter>::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "bridge_connections",
            "Connections per route by outcome (accepted, rejected_over_cap, connect_failed, denied, bad_request)",
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
        Metrics {
            registry,
            connections,
            active,
            bytes,
            decisions,
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

    /// Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One route's counters (cheap clones of the registered ones).
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    /// Connections accepted and served.
    pub accepted: Counter,
    /// Connections closed at once because the route was at its cap.
    pub rejected_over_cap: Counter,
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
