//! One listening route: what it does with a connection ([`Handler`], [`RouteSpec`]) and
//! the steps every handler shares — the allowlist decision, dialing the allowed addresses,
//! and pumping bytes both ways. The accept loop (in the parent module) and the HTTP CONNECT
//! exchange ([`super::connect`]) build on these.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sigil_egress_policy::{Decision, Policy};
use sigil_transport::{Addr, CopyError, CopyOptions, Host, Stream, Transport, copy_bidirectional};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::observe::metrics::{Metrics, RouteMetrics};

/// What a route does with an accepted connection.
#[derive(Clone, Debug)]
pub enum Handler {
    /// Dial a fixed address (ingress, `bridge`).
    Forward {
        /// Destination.
        to: Addr,
    },
    /// Egress to a fixed `host:port`, through the allowlist.
    EgressFixed {
        /// Destination host.
        host: Host,
        /// Destination port.
        port: u16,
    },
    /// Egress to whatever an HTTP CONNECT request names, through the allowlist.
    EgressConnect,
}

impl std::fmt::Display for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handler::Forward { to } => write!(f, "forward to {to}"),
            Handler::EgressFixed { host, port } => write!(f, "egress to {host}:{port}"),
            Handler::EgressConnect => f.write_str("egress by HTTP CONNECT"),
        }
    }
}

/// One listening route.
#[derive(Clone, Debug)]
pub struct RouteSpec {
    /// Where to listen.
    pub listen: Addr,
    /// What to do with connections.
    pub handler: Handler,
    /// Connections served at once (None: unlimited).
    pub max_connections: Option<usize>,
    /// Timeout for each dial.
    pub connect_timeout: Duration,
    /// Copy tuning (buffer size, idle timeout).
    pub copy: CopyOptions,
    /// When set, the route accepts only while this reads `true` (ingress behind the
    /// attestation gate): connections arriving while it is `false` are closed at once and
    /// counted. Open connections end with the enclave they reach.
    pub gate: Option<watch::Receiver<bool>>,
}

/// A route as served: its spec and what serving it needs.
pub(super) struct Route {
    pub(super) name: String,
    pub(super) spec: RouteSpec,
    pub(super) transport: Transport,
    pub(super) policy: Option<Arc<Policy>>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) m: RouteMetrics,
    pub(super) cap: Option<Arc<Semaphore>>,
    /// Second (since `born`) of the last over-cap warning, plus one; 0 = never.
    pub(super) last_cap_warning: AtomicU64,
    pub(super) born: Instant,
}

impl Route {
    pub(super) fn cap_warning_due(&self) -> bool {
        let tick = self.born.elapsed().as_secs() + 1;
        self.last_cap_warning.swap(tick, Ordering::Relaxed) != tick
    }

    /// Applies the allowlist, logs the decision as one structured line and counts it.
    pub(super) async fn decide(
        &self,
        host: &Host,
        port: u16,
        destination: &str,
    ) -> Option<Vec<SocketAddr>> {
        let Some(policy) = &self.policy else {
            self.metrics.decision(&self.name, "deny", "no_policy");
            return None;
        };
        match policy.decide(host, port).await {
            Decision::Allow { entry, addrs } => {
                self.metrics.decision(&self.name, "allow", "allowlisted");
                let resolved: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                info!(
                    event = "egress_decision",
                    decision = "allow",
                    reason = "allowlisted",
                    %destination,
                    entry = %entry,
                    resolved = %resolved.join(","),
                );
                Some(addrs)
            }
            Decision::Deny(reason) => {
                self.metrics.decision(&self.name, "deny", reason.code());
                self.m.denied.inc();
                let resolved = match &reason {
                    sigil_egress_policy::DenyReason::SpecialRange { addr, .. } => addr.to_string(),
                    _ => String::new(),
                };
                warn!(
                    event = "egress_decision",
                    decision = "deny",
                    reason = reason.code(),
                    detail = %reason,
                    %destination,
                    resolved = %resolved,
                );
                None
            }
        }
    }

    /// Tries each allowed address in turn, each within the connect timeout.
    pub(super) async fn dial_any(
        &self,
        addrs: &[SocketAddr],
        destination: &str,
    ) -> Result<(Stream, SocketAddr), DialError> {
        let mut all_timeouts = true;
        for sa in addrs {
            match self
                .transport
                .connect(&Addr::tcp(*sa), self.spec.connect_timeout)
                .await
            {
                Ok(s) => return Ok((s, *sa)),
                Err(e) => {
                    all_timeouts &= e.is_timeout();
                    warn!(event = "connect_failed", %destination, address = %sa, error = %e);
                }
            }
        }
        Err(if all_timeouts {
            DialError::Timeout
        } else {
            DialError::Refused
        })
    }

    pub(super) async fn pump(
        &self,
        mut client: Stream,
        mut up: Stream,
        leftover: Vec<u8>,
        destination: String,
    ) {
        if !leftover.is_empty() {
            if let Err(e) = up.write_all(&leftover).await {
                warn!(event = "forward_failed", %destination, error = %e);
                return;
            }
            self.m.upstream.inc_by(leftover.len() as u64);
        }
        let meters = (
            Some(self.m.upstream.inner()),
            Some(self.m.downstream.inner()),
        );
        let (stats, end) =
            match copy_bidirectional(&mut client, &mut up, self.spec.copy, meters).await {
                Ok(s) => (s, "closed"),
                Err(CopyError::Idle(_, s)) => (s, "idle_timeout"),
                Err(CopyError::Io(e, s)) => {
                    debug!(event = "copy_error", error = %e);
                    (s, "io_error")
                }
            };
        info!(
            event = "connection_closed",
            %destination,
            reason = end,
            bytes_upstream = stats.a_to_b,
            bytes_downstream = stats.b_to_a,
        );
    }
}

/// Why no allowed address could be dialed.
pub(super) enum DialError {
    /// Every attempt timed out.
    Timeout,
    /// At least one was refused or failed otherwise.
    Refused,
}
