//! The layer never recurses: an event emitted while the layer formats another one (here from
//! an allow-listed field's `Debug` impl) is dropped and counted. Tracing only re-enters a
//! subscriber installed as the *global* default, so this test has its own binary.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use sigil_log_channel::{Config, Line, Receiver, layer};
use sigil_transport::Transport;
use tokio::sync::mpsc;
use tracing::info;
use tracing_subscriber::prelude::*;

/// Logs while being formatted.
struct Chatty;

impl std::fmt::Debug for Chatty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        info!(event = "from_inside_the_layer");
        f.write_str("chatty")
    }
}

#[tokio::test]
async fn an_event_logged_from_inside_the_layer_is_dropped_not_recursed() {
    let dir = tempfile::tempdir().unwrap();
    let parent = Transport::simulated(dir.path(), 3);
    let enclave = Transport::simulated(dir.path(), 16);
    let listener = parent
        .bind(&"vsock://any:7001".parse().unwrap())
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<Line>();
    tokio::spawn(Receiver::new(listener, 8192).run(move |l| {
        let _ = tx.send(l);
    }));

    let (lay, shipper, handle) = layer(Config::parent(enclave));
    tracing_subscriber::registry().with(lay).init();
    tokio::spawn(shipper); // the shipper is a future

    info!(event = "outer", error = ?Chatty);
    handle.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(handle.dropped(), 1);

    let mut events = Vec::new();
    while events.len() < 2 {
        let l = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        events.push(l.value);
    }
    // The drop is reported before the line whose formatting caused it.
    assert_eq!(events[0]["fields"]["event"], "log_lines_dropped");
    assert_eq!(events[0]["fields"]["dropped"], 1);
    assert_eq!(events[1]["fields"]["event"], "outer");
    assert_eq!(events[1]["fields"]["error"], "chatty");
}
