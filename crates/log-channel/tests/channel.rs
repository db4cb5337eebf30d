//! End-to-end tests of the log channel over real sockets: the layer in a subscriber, the
//! shipper dialing simulated vsock (Unix sockets in a temporary directory, CID 16 → 3), and
//! the parent's receiver.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sigil_log_channel::{
    Config, FlushError, Handle, Line, REDACTED, Receiver, ReceiverStats, Shipper, TRUNCATED_MARK,
    layer, parse_line,
};
use sigil_transport::{Addr, Listener, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{info, info_span, warn};
use tracing_subscriber::prelude::*;

const LOG_ADDR: &str = "vsock://3:7001";

struct Sim {
    _dir: tempfile::TempDir,
    parent: Transport,
    enclave: Transport,
}

fn sim() -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("vsock");
    Sim {
        parent: Transport::simulated(&sim, 3),
        enclave: Transport::simulated(&sim, 16),
        _dir: dir,
    }
}

fn config(sim: &Sim) -> Config {
    let mut c = Config::new(sim.enclave.clone(), LOG_ADDR.parse().unwrap());
    c.connect_timeout = Duration::from_millis(500);
    c
}

async fn bind_parent(sim: &Sim) -> Listener {
    let addr: Addr = "vsock://any:7001".parse().unwrap();
    sim.parent.bind(&addr).await.unwrap()
}

/// Runs a receiver; lines come out of the channel.
fn spawn_receiver(
    listener: Listener,
    max_line_bytes: usize,
) -> (
    mpsc::UnboundedReceiver<Line>,
    Arc<ReceiverStats>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let receiver = Receiver::new(listener, max_line_bytes);
    let stats = receiver.stats();
    let task = tokio::spawn(receiver.run(move |line| {
        let _ = tx.send(line);
    }));
    (rx, stats, task)
}

async fn next_lines(rx: &mut mpsc::UnboundedReceiver<Line>, n: usize) -> Vec<Line> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(l)) => out.push(l),
            _ => panic!("only {} of {n} lines arrived", out.len()),
        }
    }
    out
}

fn subscriber(
    l: sigil_log_channel::AllowListLayer,
) -> impl tracing::Subscriber + Send + Sync + 'static {
    tracing_subscriber::registry().with(l)
}

/// A value whose formatting would be a bug: redacted fields must never be formatted.
struct MustNotFormat;

impl std::fmt::Debug for MustNotFormat {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("a redacted field was formatted");
    }
}

#[tokio::test]
async fn lines_arrive_as_allow_listed_json_with_spans_and_secrets_never_leave() {
    let sim = sim();
    let listener = bind_parent(&sim).await;
    // A raw reader, so the test sees every byte the parent gets.
    let reader = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        while bytes.iter().filter(|&&b| b == b'\n').count() < 3 {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed early");
            bytes.extend_from_slice(&buf[..n]);
        }
        bytes
    });

    let (layer, shipper, handle) = layer(config(&sim));
    shipper.spawn();
    {
        let _default = tracing::subscriber::set_default(subscriber(layer));
        let session = info_span!(
            "sign_session",
            session_id = "s-1",
            account_id = "acct-7",
            key = "span-secret-value"
        );
        let _s = session.enter();
        let step = info_span!("boot_step", step = "unwrap_identity");
        let _t = step.enter();
        info!(
            event = "kms_decrypt_ok",
            bytes = 32u64,
            elapsed_ms = 12.5,
            cached = false,
            // Not a key: an all-zero, key-shaped test value (bech32 `q` is 0) that must be redacted.
            secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
            "unwrapped the identity"
        );
        warn!(event = "share_loaded", share = ?MustNotFormat, identity = %"AGE-SECRET-KEY-1ZZZ");
        drop(_t);
        info!(event = "multi\nline \"quoted\"", error = %std::io::Error::other("boom"));
    }
    handle.flush(Duration::from_secs(10)).await.unwrap();
    let bytes = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();

    let text = String::from_utf8(bytes.clone()).unwrap();
    for needle in ["AGE-SECRET-KEY", "span-secret-value", "1QQQ", "1ZZZ"] {
        assert!(!text.contains(needle), "{needle} leaked: {text}");
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| parse_line(l.as_bytes(), 1 << 20).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");

    let first = &lines[0];
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["source"], "enclave");
    assert_eq!(first["simulated"], true);
    assert_eq!(first["target"], "channel");
    assert_eq!(first["message"], "unwrapped the identity");
    assert_eq!(first["span"], "boot_step");
    assert_eq!(first["spans"][0]["name"], "sign_session");
    assert_eq!(first["spans"][0]["session_id"], "s-1");
    assert_eq!(first["spans"][0]["account_id"], "acct-7");
    assert_eq!(first["spans"][0]["key"], REDACTED);
    assert_eq!(first["spans"][1]["name"], "boot_step");
    assert_eq!(first["spans"][1]["step"], "unwrap_identity");
    assert_eq!(first["fields"]["event"], "kms_decrypt_ok");
    assert_eq!(first["fields"]["bytes"], 32);
    assert_eq!(first["fields"]["elapsed_ms"], 12.5);
    assert_eq!(first["fields"]["cached"], false);
    assert_eq!(first["fields"]["secret"], REDACTED);
    let ts = first["ts"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
    assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");

    let second = &lines[1];
    assert_eq!(second["level"], "WARN");
    assert_eq!(second["fields"]["share"], REDACTED);
    assert_eq!(second["fields"]["identity"], REDACTED);
    assert!(second.get("message").is_none());

    let third = &lines[2];
    assert_eq!(third["span"], "sign_session");
    assert_eq!(third["spans"].as_array().unwrap().len(), 1);
    assert_eq!(third["fields"]["event"], "multi\nline \"quoted\"");
    assert_eq!(third["fields"]["error"], "boom");

    // key (span), secret, share, identity.
    assert_eq!(handle.redacted(), 4);
    assert_eq!(handle.shipped(), 3);
    assert_eq!(handle.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_parent_100k_events_never_block_and_the_drops_are_reported() {
    let sim = sim();
    let mut cfg = config(&sim);
    cfg.capacity = 1000;
    let (layer, shipper, handle) = layer(cfg);
    shipper.spawn();
    let dispatch = tracing::Dispatch::new(subscriber(layer));

    // Four plain threads (as the signer's blocking protocol engines are), no runtime.
    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..25_000u64 {
                        info!(event = "flood", party = t, count = i);
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "logging took {elapsed:?}"
    );
    assert_eq!(handle.dropped() + handle.pending(), 100_000);
    assert!(handle.dropped() >= 99_000, "dropped {}", handle.dropped());
    assert_eq!(handle.shipped(), 0);
    assert!(!handle.connected());
    match handle.flush(Duration::from_millis(200)).await {
        Err(FlushError::Timeout { pending, .. }) => assert_eq!(pending, 1000),
        other => panic!("{other:?}"),
    }

    // The parent appears: the shipper connects, reports the losses first, then the queue.
    let (mut rx, stats, _task) = spawn_receiver(bind_parent(&sim).await, 8192);
    handle.flush(Duration::from_secs(10)).await.unwrap();
    assert!(handle.connected());
    let lines = next_lines(&mut rx, 1001).await;
    let report = &lines[0].value;
    assert_eq!(report["fields"]["event"], "log_lines_dropped");
    assert_eq!(report["fields"]["dropped"], handle.dropped());
    assert_eq!(report["level"], "WARN");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.value["fields"]["event"] == "flood")
    );
    assert_eq!(handle.shipped(), 1000);
    assert_eq!(stats.lines(), 1001);
    assert!(lines[0].peer.starts_with("unix"), "{}", lines[0].peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_blocking_threads_all_arrive_and_flush_delivers_everything_queued() {
    let sim = sim();
    let (mut rx, _stats, _task) = spawn_receiver(bind_parent(&sim).await, 8192);
    let (layer, shipper, handle) = layer(config(&sim));
    shipper.spawn();
    let dispatch = tracing::Dispatch::new(subscriber(layer));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let dispatch = dispatch.clone();
            tokio::task::spawn_blocking(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = info_span!("engine", party = t);
                    let _e = span.enter();
                    for i in 0..750u64 {
                        info!(event = "round", round = i);
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.await.unwrap();
    }
    handle.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(handle.shipped(), 3000);
    assert_eq!(handle.dropped(), 0);
    assert_eq!(handle.pending(), 0);
    let lines = next_lines(&mut rx, 3000).await;
    // Per thread, in order.
    for t in 0..4u64 {
        let rounds: Vec<u64> = lines
            .iter()
            .filter(|l| l.value["spans"][0]["party"] == t)
            .map(|l| l.value["fields"]["round"].as_u64().unwrap())
            .collect();
        assert_eq!(rounds, (0..750).collect::<Vec<_>>(), "thread {t}");
        assert!(
            lines
                .iter()
                .filter(|l| l.value["spans"][0]["party"] == t)
                .all(|l| l.value["span"] == "engine")
        );
    }
}

#[tokio::test]
async fn oversize_lines_are_capped_and_stay_valid_json() {
    let sim = sim();
    let max = 2048;
    let (mut rx, stats, _task) = spawn_receiver(bind_parent(&sim).await, max);
    let mut cfg = config(&sim);
    cfg.max_line_bytes = max;
    let (layer, shipper, handle) = layer(cfg);
    shipper.spawn();
    let big = "x\u{1}\"é".repeat(50_000);
    {
        let _d = tracing::subscriber::set_default(subscriber(layer));
        let span = info_span!("boot_step", step = %big);
        let _e = span.enter();
        info!(event = "boot_failed", error = %big, reason = "kms", "{big}");
        info!(event = "small");
    }
    handle.flush(Duration::from_secs(10)).await.unwrap();
    let lines = next_lines(&mut rx, 2).await;
    let v = &lines[0].value;
    assert!(serde_json::to_string(v).unwrap().len() <= max + 64);
    assert_eq!(v["truncated"], true);
    assert!(v["line_bytes"].as_u64().unwrap() > max as u64);
    assert_eq!(v["fields"]["event"], "boot_failed");
    assert!(
        v["fields"]["error"]
            .as_str()
            .unwrap()
            .ends_with(TRUNCATED_MARK)
    );
    assert_eq!(v["span"], "boot_step");
    assert_eq!(lines[1].value["fields"]["event"], "small");
    // The receiver would have refused anything over the cap.
    assert_eq!(stats.too_long(), 0);
    assert_eq!(stats.invalid(), 0);
}

#[tokio::test]
async fn the_shipper_reconnects_after_the_parent_restarts() {
    let sim = sim();
    let (mut rx, _stats, task) = spawn_receiver(bind_parent(&sim).await, 8192);
    let (layer, shipper, handle) = layer(config(&sim));
    shipper.spawn();
    let _d = tracing::subscriber::set_default(subscriber(layer));
    info!(event = "before", count = 1);
    handle.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        next_lines(&mut rx, 1).await[0].value["fields"]["event"],
        "before"
    );

    // The parent goes away (its socket file too) and comes back.
    task.abort();
    let _ = task.await;
    drop(rx);
    for i in 0..5 {
        info!(event = "while_away", count = i);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut rx, _stats, _task) = spawn_receiver(bind_parent(&sim).await, 8192);
    handle.flush(Duration::from_secs(10)).await.unwrap();
    assert!(handle.connects() >= 2, "connects {}", handle.connects());
    assert_eq!(handle.dropped(), 0);
    let mut counts = Vec::new();
    while counts.len() < 5 {
        let l = next_lines(&mut rx, 1).await.remove(0);
        if l.value["fields"]["event"] == "while_away" {
            counts.push(l.value["fields"]["count"].as_u64().unwrap());
        }
    }
    // At-least-once: nothing lost, nothing reordered.
    counts.dedup();
    assert_eq!(counts, vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn flush_says_when_the_shipper_is_not_running() {
    let sim = sim();
    let (lay, shipper, handle) = layer(config(&sim));
    {
        let _d = tracing::subscriber::set_default(subscriber(lay));
        info!(event = "queued");
    }
    drop::<Shipper>(shipper);
    let started = Instant::now();
    assert_eq!(
        handle.flush(Duration::from_secs(30)).await,
        Err(FlushError::ShipperStopped { pending: 1 })
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing queued: flush succeeds at once.
    let (_l, _s, h2): (_, Shipper, Handle) = layer(config(&sim));
    h2.flush(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn the_receiver_survives_garbage_long_lines_and_abrupt_disconnects() {
    let sim = sim();
    let max = 256;
    let listener = bind_parent(&sim).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let receiver = Receiver::new(listener, max).with_max_connections(2);
    let stats = receiver.stats();
    let _task = tokio::spawn(receiver.run(move |l| {
        let _ = tx.send(l);
    }));
    let addr: Addr = LOG_ADDR.parse().unwrap();
    let dial = || sim.enclave.connect(&addr, Duration::from_secs(2));

    // Garbage of every kind, then one good line.
    let mut c = dial().await.unwrap();
    c.write_all(b"not json\n[1,2]\n\"str\"\n\xff\xfe\x00\n\n   \n{\"a\":\n")
        .await
        .unwrap();
    c.write_all(&vec![b'{'; 10_000]).await.unwrap();
    c.write_all(b"\n{\"ok\":1}\r\n").await.unwrap();
    let l = next_lines(&mut rx, 1).await;
    assert_eq!(l[0].value["ok"], 1);
    // A multi-megabyte line without a newline, then an abrupt close.
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..3 {
        c.write_all(&chunk).await.unwrap();
    }
    drop(c);
    // A half-written line, then an abrupt close.
    let mut c = dial().await.unwrap();
    c.write_all(b"{\"ok\":2}\n{\"partial\":").await.unwrap();
    drop(c);
    let l = next_lines(&mut rx, 1).await;
    assert_eq!(l[0].value["ok"], 2);

    // Still serving.
    let mut c = dial().await.unwrap();
    c.write_all(b"{\"ok\":3}\n").await.unwrap();
    let l = next_lines(&mut rx, 1).await;
    assert_eq!(l[0].value["ok"], 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.incomplete() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.lines(), 3);
    assert_eq!(
        stats.invalid(),
        5,
        "not json, array, string, binary, cut object"
    );
    assert_eq!(stats.too_long(), 1);
    assert_eq!(
        stats.incomplete(),
        2,
        "3 MiB tail and the half-written line"
    );
    assert_eq!(stats.connections(), 3);

    // Beyond the connection cap, a connection is closed at once.
    let _c2 = dial().await.unwrap();
    let mut c3 = dial().await.unwrap();
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(10), c3.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(stats.refused_connections(), 1);
    c.write_all(b"{\"ok\":4}\n").await.unwrap();
    assert_eq!(next_lines(&mut rx, 1).await[0].value["ok"], 4);
}

#[tokio::test]
async fn recorded_span_fields_are_filtered_and_log_crate_metadata_is_not_data() {
    let sim = sim();
    let (mut rx, _stats, _task) = spawn_receiver(bind_parent(&sim).await, 8192);
    let (lay, shipper, handle) = layer(config(&sim));
    shipper.spawn();
    {
        let _d = tracing::subscriber::set_default(subscriber(lay));
        let span = info_span!(
            "sign_session",
            session_id = tracing::field::Empty,
            share = tracing::field::Empty
        );
        span.record("session_id", "s-9");
        span.record("share", "SHARE-SECRET-BYTES");
        let _e = span.enter();
        // What tracing-log makes of a `log` record: its metadata rides in `log.*` fields.
        info!(
            log.target = "rustls::client",
            log.module_path = "rustls::client::hs",
            log.file = "hs.rs",
            log.line = 42u32,
            "sending ClientHello"
        );
    }
    handle.flush(Duration::from_secs(10)).await.unwrap();
    let line = next_lines(&mut rx, 1).await.remove(0).value;
    let text = line.to_string();
    assert!(!text.contains("SHARE-SECRET-BYTES"), "{text}");
    assert_eq!(line["spans"][0]["session_id"], "s-9");
    assert_eq!(line["spans"][0]["share"], REDACTED);
    assert_eq!(line["target"], "rustls::client");
    assert_eq!(line["message"], "sending ClientHello");
    assert!(line.get("fields").is_none(), "{text}");
    assert_eq!(handle.redacted(), 1);
}
