//! The enclave's log channel: `tracing` events → allow-listed JSON lines → the parent on
//! vsock 7001 (a Unix socket in simulation), through a bounded queue that never blocks the
//! service.
//!
//! * [`layer`] makes the three parts: the [`AllowListLayer`] to install in the subscriber,
//!   the [`Shipper`] to spawn on the runtime, and a [`Handle`] with the counters and
//!   [`Handle::flush`].
//! * Only fields named in [`ALLOWED_FIELDS`] carry their values; any other field is emitted
//!   as `"<redacted>"` and never formatted, so `info!(secret = ?x)` cannot leak `x`.
//! * When the queue is full the new line is dropped and counted; the parent learns the
//!   count from a `log_lines_dropped` line.
//! * [`receive`] / [`Receiver`] is the parent's side: it accepts connections and hands each
//!   valid line to a callback, skipping (and counting) anything malformed.
//!
//! # Line format
//!
//! One JSON object per line, keys in this order, absent keys omitted:
//!
//! ```json
//! {"ts":"2026-05-01T12:00:00.123Z","level":"INFO","target":"sigil_signer::service",
//!  "source":"enclave","simulated":true,"span":"sign_session",
//!  "spans":[{"name":"sign_session","session_id":"s-1","account_id":"acct-7","scheme":"ecdsa"}],
//!  "message":"signed","fields":{"event":"session_finished","elapsed_ms":84}}
//! ```
//!
//! A line longer than [`Config::max_line_bytes`] becomes the header plus
//! `"truncated":true,"line_bytes":N` and as much of the fields, message and spans as fits.
//!
//! # Installing it
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_subscriber::prelude::*;
//!
//! # async fn boot() {
//! let transport = sigil_transport::Transport::native();
//! let (layer, shipper, handle) = sigil_log_channel::layer(sigil_log_channel::Config::parent(transport));
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::EnvFilter::new("info"))
//!     .with(layer)
//!     .init();
//! shipper.spawn();
//! tracing::info!(event = "boot_started", "booting");
//! // ... on a fatal error, before exiting:
//! let _ = handle.flush(Duration::from_secs(3)).await;
//! # }
//! ```

mod config;
mod fields;
mod format;
mod layer;
mod receiver;
mod shipper;

use std::io::Write as _;
use std::sync::Arc;

pub use config::{Config, LOG_PORT};
pub use fields::{ALLOWED_FIELDS, MAX_VALUE_BYTES, REDACTED, TRUNCATED_MARK, is_allowed};
pub use format::MIN_LINE_BYTES;
pub use layer::AllowListLayer;
pub use receiver::{
    Line, LineError, LineSplitter, Piece, Receiver, ReceiverStats, parse_line, receive,
};
pub use shipper::{BACKOFF_MAX, BACKOFF_MIN, FlushError, Handle, Shipper};

use shipper::Shared;

/// Builds the log channel described by `config`: the layer to install, the shipper to run
/// (see [`Shipper::spawn`]), and a handle on its counters. Needs no runtime; the layer
/// queues lines from the start and the shipper sends them once it runs.
pub fn layer(config: Config) -> (AllowListLayer, Shipper, Handle) {
    let capacity = config.capacity.max(1);
    let max_line_bytes = config.max_line_bytes.max(MIN_LINE_BYTES);
    let shared = Arc::new(Shared::default());
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    let mirror = if config.mirror_stderr {
        spawn_stderr_mirror(capacity)
    } else {
        None
    };
    let layer = AllowListLayer::new(
        tx,
        mirror,
        shared.clone(),
        config.source.clone(),
        config.simulated,
        max_line_bytes,
    );
    let shipper = shipper::ShipperTask::shipper(
        rx,
        config.transport,
        config.addr,
        config.connect_timeout,
        config.source,
        config.simulated,
        max_line_bytes,
        shared.clone(),
    );
    (layer, shipper, Handle { shared })
}

/// A thread that copies lines to stderr, fed through its own bounded queue so a slow or
/// blocked stderr costs dropped mirror lines, never a blocked caller. `None` if the thread
/// cannot be started (then there is no mirror).
fn spawn_stderr_mirror(capacity: usize) -> Option<std::sync::mpsc::SyncSender<String>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(capacity);
    std::thread::Builder::new()
        .name("sigil-log-stderr".into())
        .spawn(move || {
            let stderr = std::io::stderr();
            for mut line in rx {
                line.push('\n');
                let _ = stderr.lock().write_all(line.as_bytes());
            }
        })
        .ok()?;
    Some(tx)
}
