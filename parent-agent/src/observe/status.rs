//! The agent's shared state (phase, readiness, the supervisor's heartbeat) and the local
//! HTTP endpoint that exposes it: `/livez`, `/readyz` and `/metrics` (Prometheus text).
//!
//! `/readyz` is 200 only while ingress is open, that is after the attestation gate passed and
//! while the enclave answers its health probes, and never while draining. `/livez` is 200
//! while the supervisor loop keeps ticking. Responses carry no secret: phase names, fixed
//! reasons and counters only.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use sigil_transport::Listener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::observe::metrics::{Metrics, Phase};

/// What the supervisor publishes.
#[derive(Debug)]
pub struct AgentState {
    started: Instant,
    phase: Mutex<(Phase, String)>,
    ready: AtomicBool,
    heartbeat_ms: AtomicU64,
    /// The longest the supervisor may go without a heartbeat and still be live.
    pub liveness_window: Duration,
    /// The agent runs in simulation.
    pub simulated: bool,
    metrics: Arc<Metrics>,
}

impl AgentState {
    /// A fresh state in phase `starting`.
    pub fn new(metrics: Arc<Metrics>, simulated: bool, liveness_window: Duration) -> Self {
        metrics.set_phase(Phase::Starting);
        AgentState {
            started: Instant::now(),
            phase: Mutex::new((Phase::Starting, String::new())),
            ready: AtomicBool::new(false),
            heartbeat_ms: AtomicU64::new(0),
            liveness_window,
            simulated,
            metrics,
        }
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Moves to `phase` with a human-readable detail (no secret).
    pub fn set_phase(&self, phase: Phase, detail: impl Into<String>) {
        if let Ok(mut p) = self.phase.lock() {
            *p = (phase, detail.into());
        }
        self.metrics.set_phase(phase);
    }

    /// The phase and its detail.
    pub fn phase(&self) -> (Phase, String) {
        // Nothing panics while holding the lock; should it ever, the last phase set still
        // stands.
        match self.phase.lock() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sets readiness (ingress open).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
        self.metrics.set_ready(ready);
    }

    /// Whether ingress is open.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The supervisor is alive.
    pub fn heartbeat(&self) {
        self.heartbeat_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Whether the supervisor ticked within the liveness window.
    pub fn live(&self) -> bool {
        let last = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last) <= self.liveness_window
    }

    fn status_json(&self) -> String {
        let (phase, detail) = self.phase();
        serde_json::json!({
            "ready": self.ready(),
            "live": self.live(),
            "phase": phase.as_str(),
            "detail": detail,
            "simulated": self.simulated,
        })
        .to_string()
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn accepts_openmetrics(req: &Request<hyper::body::Incoming>) -> bool {
    req.headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

fn route(state: &AgentState, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    let ok = |b| {
        if b {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    match req.uri().path() {
        "/livez" => respond(
            ok(state.live()),
            "application/json",
            state.status_json() + "\n",
        ),
        "/readyz" => respond(
            ok(state.ready() && state.live()),
            "application/json",
            state.status_json() + "\n",
        ),
        // OpenMetrics when the scraper asks for it, the Prometheus text format otherwise.
        "/metrics" if accepts_openmetrics(req) => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.render(),
        ),
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render_prometheus_text(),
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: /livez, /readyz, /metrics\n".into(),
        ),
    }
}

/// Serves the endpoint on `listener` until `stop` is cancelled.
pub async fn serve(listener: Listener, state: Arc<AgentState>, stop: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(event = "accept_failed", route = "health", error = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let r = route(&state, &req);
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            if let Err(e) = tokio::time::timeout(Duration::from_secs(30), conn).await {
                debug!(event = "health_connection_timeout", %peer, error = %e);
            }
        });
    }
}
