//! The enclave's log stream into parent-agent, end to end over simulated vsock: the signer's
//! `signer_group_frozen` error line, emitted through the enclave's real log channel (the
//! allow-list layer and its shipper), is received by parent-agent's enclave-log task, counted
//! in `sigil_enclave_signer_group_freezes_total{group}` as `/metrics` serves it over HTTP, and
//! reported at error level in parent-agent's own log; other lines are not counted.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parent_agent::config::LogsConfig;
use parent_agent::observe::metrics::Metrics;
use parent_agent::observe::status::AgentState;
use sigil_transport::{Addr, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// One event: its level and its fields, as text.
type CapturedEvent = (Level, Vec<(String, String)>);

/// parent-agent's own events.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<CapturedEvent>>>);

struct FieldText<'a>(&'a mut Vec<(String, String)>);

impl Visit for FieldText<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().into(), value.into()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().into(), format!("{value:?}")));
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut FieldText(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields));
    }
}

impl Captured {
    /// The captured events whose `event` field is `name`.
    fn events(&self, name: &str) -> Vec<CapturedEvent> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, f)| f.iter().any(|(k, v)| k == "event" && v == name))
            .cloned()
            .collect()
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// GET `path` from the health endpoint on `port`; the body.
async fn get(port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

// One thread: the enclave side's events and parent-agent's are seen by the one subscriber set
// for this test, each layer filtered to its side.
#[tokio::test(flavor = "current_thread")]
async fn a_signer_group_freeze_line_is_counted_and_reported_at_error_level() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("vsock");
    let parent = Transport::simulated(&sim, 3);
    let enclave = Transport::simulated(&sim, 16);

    // parent-agent: the enclave-log task and the health endpoint, sharing the metrics.
    let metrics = Arc::new(Metrics::with_simulation(true));
    let logs = parent
        .bind(&"vsock://any:7001".parse::<Addr>().unwrap())
        .await
        .unwrap();
    tokio::spawn(parent_agent::observe::enclave_logs::run(
        logs,
        LogsConfig::default(),
        metrics.clone(),
    ));
    let health = Transport::native()
        .bind(&"tcp://127.0.0.1:0".parse::<Addr>().unwrap())
        .await
        .unwrap();
    let Addr::Tcp { port, .. } = health.local_addr() else {
        panic!("health bound {}", health.local_addr())
    };
    let stop = CancellationToken::new();
    let state = Arc::new(AgentState::new(
        metrics.clone(),
        true,
        Duration::from_secs(60),
    ));
    tokio::spawn(parent_agent::observe::status::serve(
        health,
        state,
        stop.clone(),
    ));

    // The enclave: the log channel's layer for this test's own events, shipped to the parent;
    // parent-agent's events captured.
    let mut config = sigil_log_channel::Config::new(enclave, "vsock://3:7001".parse().unwrap());
    config.simulated = true;
    let (layer, shipper, handle) = sigil_log_channel::layer(config);
    let captured = Captured::default();
    let this_test = module_path!();
    let _guard = tracing_subscriber::registry()
        .with(layer.with_filter(filter_fn(move |m| m.target() == this_test)))
        .with(
            captured
                .clone()
                .with_filter(filter_fn(|m| m.target().starts_with("parent_agent"))),
        )
        .set_default();
    shipper.spawn();

    // What sigil-signer logs for a co-signer caught cheating, and lines that must not count.
    tracing::error!(
        event = "signer_group_frozen",
        group = "hot",
        party = 1u16,
        reason = "OT consistency check failed",
        "a co-signer deviated from the protocol"
    );
    tracing::error!(event = "session_failed", group = "hot", "not a freeze");
    tracing::info!(
        event = "signer_group_thawed",
        group = "cold",
        "not a freeze either"
    );
    handle.flush(Duration::from_secs(5)).await.unwrap();

    let series = "sigil_enclave_signer_group_freezes_total{simulated=\"true\",group=\"hot\"} 1\n";
    let accepted = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(
                    "sigil_enclave_log_lines_total{simulated=\"true\",outcome=\"accepted\"} ",
                )
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = get(port, "/metrics").await;
        // The freeze is the first of the three lines: once all are in, every one was observed.
        if accepted(&text) >= 3 || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(text.contains(series), "{text}");
    assert!(
        text.contains("# TYPE sigil_enclave_signer_group_freezes_total counter\n"),
        "{text}"
    );
    let freezes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sigil_enclave_signer_group_freezes_total{"))
        .collect();
    assert_eq!(freezes, [series.trim_end()], "only the freeze counts");

    let reported = captured.events("enclave_signer_group_frozen");
    assert_eq!(reported.len(), 1, "{reported:?}");
    let (level, fields) = &reported[0];
    assert_eq!(*level, Level::ERROR);
    assert_eq!(field(fields, "group"), Some("hot"));
    assert_eq!(field(fields, "label"), Some("hot"));
    assert_eq!(field(fields, "party"), Some("1"));
    assert_eq!(field(fields, "reason"), Some("OT consistency check failed"));
    stop.cancel();
}
