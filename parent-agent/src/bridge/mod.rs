//! The bridges: ingress (gateway TCP → enclave vsock), egress (enclave vsock → allowlisted
//! destinations, fixed or by HTTP CONNECT) and the single-route `bridge` command.
//!
//! Every route is one accept loop. Each connection runs in its own task, tracked so that
//! shutdown can stop accepting, wait for open connections up to the drain timeout, and
//! then close the rest. No worker pool: a connection costs a task and two copy buffers.
//! What a route does with a connection is in `route.rs`; the HTTP CONNECT exchange of an
//! egress route in [`connect`].

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use sigil_egress_policy::Policy;
use sigil_transport::{Addr, CopyOptions, Listener, Stream, Transport};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::{Config, RouteKind};
use crate::observe::metrics::Metrics;

pub mod connect;
mod route;

pub use connect::CONNECT_HEAD_TIMEOUT;
use route::Route;
pub use route::{Handler, RouteSpec};

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
    for r in &e.routes {
        routes.push(RouteSpec {
            listen: r.listen.clone(),
            handler: match &r.kind {
                RouteKind::Fixed(host, port) => Handler::EgressFixed {
                    host: host.clone(),
                    port: *port,
                },
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
    async fn serve(&self, client: Stream) {
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
            Handler::EgressConnect => connect::exchange(self, client).await,
        }
    }
}
