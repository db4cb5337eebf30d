//! The bridges: ingress (gateway TCP → enclave vsock), egress (enclave vsock → allowlisted
//! destinations, fixed or by HTTP CONNECT) and the single-route `bridge` command.
//!
//! Every route is one accept loop. Each connection runs in its own task, tracked so that
//! shutdown can stop accepting, wait for open connections up to the drain timeout, and
//! then close the rest. No worker pool: a connection costs a task and two copy buffers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sigil_egress_policy::{Decision, Policy};
use sigil_transport::{
    Addr, CopyError, CopyOptions, Host, Listener, Stream, Transport, copy_bidirectional,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::{Config, RouteKind};
use crate::connect_proxy::{self, RequestError};
use crate::metrics::{Metrics, RouteMetrics};

/// How long an enclave has to send its CONNECT request head.
pub const CONNECT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] sigil_transport::TransportError),
    /// The egress policy could not be built.
    #[error(transparent)]
    Policy(#[from] sigil_egress_policy::PolicyError),
}

struct Route {
    name: String,
    spec: RouteSpec,
    transport: Transport,
    policy: Option<Arc<Policy>>,
    metrics: Arc<Metrics>,
    m: RouteMetrics,
    cap: Option<Arc<Semaphore>>,
    /// Second (since `born`) of the last over-cap warning, plus one; 0 = never.
    last_cap_warning: AtomicU64,
    born: Instant,
}

/// The routes of a configuration file: ingress first, then egress in file order.
pub fn routes_from_config(cfg: &Config) -> Vec<RouteSpec> {
    let i = &cfg.ingress;
    let mut routes = vec![RouteSpec {
        listen: i.listen.clone(),
        handler: Handler::Forward {
            to: i.connect.clone(),
        },
        max_connections: Some(i.max_connections),
        connect_timeout: i.connect_timeout,
        copy: CopyOptions {
            buffer_size: i.buffer_size,
            idle_timeout: Some(i.idle_timeout),
        },
        gate: None,
    }];
    let e = &cfg.egress;
    for (listen, kind) in cfg.routes() {
        routes.push(RouteSpec {
            listen,
            handler: match kind {
                RouteKind::Fixed(host, port) => Handler::EgressFixed { host, port },
                RouteKind::HttpConnect => Handler::EgressConnect,
            },
            max_connections: None,
            connect_timeout: e.connect_timeout,
            copy: CopyOptions {
                buffer_size: e.buffer_size,
                idle_timeout: Some(e.idle_timeout),
            },
            gate: None,
        });
    }
    routes
}

/// A running set of routes.
pub struct Relay {
    bound: Vec<Addr>,
    metrics: Arc<Metrics>,
    stop_accepting: CancellationToken,
    close_all: CancellationToken,
    tracker: TaskTracker,
    accept_loops: Vec<tokio::task::JoinHandle<()>>,
}

/// What a drain achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections open when the drain began.
    pub open_at_start: usize,
    /// Connections still open at the deadline, closed by force.
    pub closed_at_deadline: usize,
}

impl Relay {
    /// Binds every route and starts serving. A bind failure stops everything already bound.
    pub async fn start(
        transport: Transport,
        routes: Vec<RouteSpec>,
        policy: Option<Arc<Policy>>,
        metrics: Arc<Metrics>,
    ) -> Result<Relay, StartError> {
        let mut listeners = Vec::new();
        for spec in routes {
            let listener = transport.bind(&spec.listen).await?;
            listeners.push((listener, spec));
        }
        let stop_accepting = CancellationToken::new();
        let close_all = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut bound = Vec::new();
        let mut accept_loops = Vec::new();
        for (listener, spec) in listeners {
            let local = listener.local_addr();
            let name = spec.listen.to_string();
            let route = Arc::new(Route {
                m: metrics.route(&name),
                name,
                cap: spec.max_connections.map(|n| Arc::new(Semaphore::new(n))),
                transport: transport.clone(),
                policy: policy.clone(),
                last_cap_warning: AtomicU64::new(0),
                born: Instant::now(),
                metrics: metrics.clone(),
                spec,
            });
            info!(event = "route_listening", route = %route.name, listen = %local, handler = %route.spec.handler);
            bound.push(local);
            accept_loops.push(tokio::spawn(accept_loop(
                listener,
                route,
                stop_accepting.clone(),
                close_all.clone(),
                tracker.clone(),
            )));
        }
        Ok(Relay {
            bound,
            metrics,
            stop_accepting,
            close_all,
            tracker,
            accept_loops,
        })
    }

    /// The addresses actually bound, in route order (real ports for `tcp://…:0`).
    pub fn bound(&self) -> &[Addr] {
        &self.bound
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.tracker.len()
    }

    /// Stops accepting (listeners close, Unix sockets are removed), waits up to `drain`
    /// for open connections to end, then closes the rest.
    pub async fn shutdown(self, drain: Duration) -> DrainReport {
        self.stop_accepting.cancel();
        for l in self.accept_loops {
            let _ = l.await;
        }
        self.tracker.close();
        let open_at_start = self.tracker.len();
        info!(event = "drain_started", open_connections = open_at_start, drain_timeout = ?drain);
        let closed_at_deadline = if tokio::time::timeout(drain, self.tracker.wait())
            .await
            .is_ok()
        {
            0
        } else {
            let left = self.tracker.len();
            warn!(
                event = "drain_deadline",
                open_connections = left,
                "closing connections still open"
            );
            self.close_all.cancel();
            self.tracker.wait().await;
            left
        };
        info!(event = "drain_finished", open_at_start, closed_at_deadline);
        DrainReport {
            open_at_start,
            closed_at_deadline,
        }
    }
}

async fn accept_loop(
    listener: Listener,
    route: Arc<Route>,
    stop: CancellationToken,
    close_all: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(event = "accept_failed", route = %route.name, error = %e);
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        if let Some(gate) = &route.spec.gate
            && !*gate.borrow()
        {
            drop(stream);
            let total = route.m.rejected_not_ready.inc() + 1;
            if route.cap_warning_due() {
                warn!(event = "connection_rejected", route = %route.name, %peer, reason = "not_ready", rejected_total = total);
            }
            continue;
        }
        let permit = match &route.cap {
            None => None,
            Some(sem) => match sem.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    drop(stream);
                    let total = route.m.rejected_over_cap.inc() + 1;
                    // A flood must not turn into a flood of log lines: one a second.
                    if route.cap_warning_due() {
                        warn!(event = "connection_rejected", route = %route.name, %peer, reason = "over_cap", rejected_total = total);
                    }
                    continue;
                }
            },
        };
        route.m.accepted.inc();
        let route = route.clone();
        let close = close_all.clone();
        let span = info_span!("conn", route = %route.name, %peer);
        tracker.spawn(
            async move {
                let _permit = permit;
                route.m.active.inc();
                let started = Instant::now();
                tokio::select! {
                    _ = close.cancelled() => info!(event = "connection_closed", reason = "shutdown"),
                    () = route.serve(stream) => {}
                }
                route.m.active.dec();
                debug!(event = "connection_finished", duration_ms = started.elapsed().as_millis() as u64);
            }
            .instrument(span),
        );
    }
    drop(listener);
    info!(event = "route_closed", route = %route.name);
}

impl Route {
    fn cap_warning_due(&self) -> bool {
        let tick = self.born.elapsed().as_secs() + 1;
        self.last_cap_warning.swap(tick, Ordering::Relaxed) != tick
    }

    async fn serve(&self, mut client: Stream) {
        match &self.spec.handler {
            Handler::Forward { to } => {
                match self.transport.connect(to, self.spec.connect_timeout).await {
                    Ok(up) => self.pump(client, up, Vec::new(), to.to_string()).await,
                    Err(e) => {
                        self.m.connect_failed.inc();
                        warn!(event = "connect_failed", destination = %to, error = %e);
                    }
                }
            }
            Handler::EgressFixed { host, port } => {
                let destination = format!("{host}:{port}");
                if let Some(addrs) = self.decide(host, *port, &destination).await {
                    match self.dial_any(&addrs, &destination).await {
                        Ok((up, addr)) => self.pump(client, up, Vec::new(), addr.to_string()).await,
                        Err(_) => {
                            self.m.connect_failed.inc();
                        }
                    }
                }
            }
            Handler::EgressConnect => {
                let req = match connect_proxy::read_request(&mut client, CONNECT_HEAD_TIMEOUT).await
                {
                    Ok(r) => r,
                    Err(e) => return self.refuse_request(&mut client, e).await,
                };
                let destination = format!("{}:{}", req.host, req.port);
                let Some(addrs) = self.decide(&req.host, req.port, &destination).await else {
                    let _ = connect_proxy::respond(
                        &mut client,
                        403,
                        "Forbidden",
                        "destination not allowed by the egress allowlist",
                    )
                    .await;
                    return;
                };
                match self.dial_any(&addrs, &destination).await {
                    Ok((up, addr)) => {
                        if connect_proxy::respond(&mut client, 200, "Connection Established", "")
                            .await
                            .is_ok()
                        {
                            self.pump(client, up, req.leftover, addr.to_string()).await;
                        }
                    }
                    Err(e) => {
                        self.m.connect_failed.inc();
                        let (code, status) = match e {
                            DialError::Timeout => (504, "Gateway Timeout"),
                            DialError::Refused => (502, "Bad Gateway"),
                        };
                        let _ = connect_proxy::respond(
                            &mut client,
                            code,
                            status,
                            &format!("cannot reach {destination}"),
                        )
                        .await;
                    }
                }
            }
        }
    }

    async fn refuse_request(&self, client: &mut Stream, e: RequestError) {
        self.m.bad_request.inc();
        warn!(event = "connect_request_refused", error = %e);
        if let Some((code, status)) = e.status() {
            let _ = connect_proxy::respond(client, code, status, &e.to_string()).await;
        }
    }

    /// Applies the allowlist, logs the decision as one structured line and counts it.
    async fn decide(&self, host: &Host, port: u16, destination: &str) -> Option<Vec<SocketAddr>> {
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
    async fn dial_any(
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

    async fn pump(
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

enum DialError {
    Timeout,
    Refused,
}
