//! The shipper: drains the bounded queue the layer fills and writes the lines to the parent,
//! reconnecting with backoff; and the [`Handle`] that reports its counters and flushes.
//!
//! The shipper never makes the layer wait: the layer only ever `try_send`s into the queue.
//! While the parent is absent the shipper does not dequeue, the queue fills, and further
//! lines are dropped and counted by the layer. After each (re)connect, and whenever drops
//! happened since the last report, the next thing written is a report line
//! `fields: {"event":"log_lines_dropped","dropped":N}`.
//!
//! Delivery is at-least-once for lines in flight when a connection breaks: a batch whose
//! write failed is written again on the next connection, so the parent may see a few lines
//! twice (same `ts`). Lines are never reordered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sigil_transport::{Addr, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

use crate::format::{Record, render};

/// First wait after a failed connect; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest wait between connect attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Lines are gathered into writes of about this many bytes.
const BATCH_BYTES: usize = 64 * 1024;

/// State shared by the layer, the shipper and every [`Handle`].
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Lines put in the queue.
    pub accepted: AtomicU64,
    /// Lines lost (queue full, shipper gone, or logged from inside the layer).
    pub dropped: AtomicU64,
    /// Drops not yet reported to the parent.
    pub unreported: AtomicU64,
    /// Lines written to the parent (drop reports not counted).
    pub shipped: AtomicU64,
    /// Fields whose value was replaced by `<redacted>`.
    pub redacted: AtomicU64,
    /// Lines the stderr mirror could not keep up with.
    pub stderr_dropped: AtomicU64,
    /// Successful connects.
    pub connects: AtomicU64,
    /// Failed connects and broken connections.
    pub failures: AtomicU64,
    /// Whether a connection to the parent is open.
    pub connected: AtomicBool,
    /// Whether the shipper exists (not yet finished or dropped).
    pub running: AtomicBool,
    /// Wakes the shipper: drops to report, or a flush wants it to retry at once.
    pub wake: Notify,
    /// Tells flushers that `shipped` moved or the shipper stopped.
    pub progress: Notify,
}

impl Shared {
    pub(crate) fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if self.unreported.fetch_add(1, Ordering::AcqRel) == 0 {
            self.wake.notify_one();
        }
    }
}

/// Why [`Handle::flush`] returned before every queued line was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    /// Lines were still queued when the timeout expired (the parent is absent or slow).
    #[error("{pending} log lines were still queued for the parent after {after:?}")]
    Timeout {
        /// Lines not yet written.
        pending: u64,
        /// The timeout that expired.
        after: Duration,
    },
    /// The shipper is not running (finished, dropped, or its task aborted).
    #[error("the log shipper is not running; {pending} queued log lines were not sent")]
    ShipperStopped {
        /// Lines not written.
        pending: u64,
    },
}

/// Counters of the log channel and [`Handle::flush`]. Cheap to clone; usable from any thread.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    /// Lines lost so far: the queue was full, the shipper was gone, or an event was logged
    /// from inside the layer itself.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Lines written to the parent so far (drop reports not counted).
    pub fn shipped(&self) -> u64 {
        self.shared.shipped.load(Ordering::Relaxed)
    }

    /// Fields whose value was replaced by `<redacted>` so far (the `redacted_fields` metric).
    pub fn redacted(&self) -> u64 {
        self.shared.redacted.load(Ordering::Relaxed)
    }

    /// Lines the stderr mirror dropped because stderr was slow.
    pub fn stderr_dropped(&self) -> u64 {
        self.shared.stderr_dropped.load(Ordering::Relaxed)
    }

    /// Lines queued and not yet written.
    pub fn pending(&self) -> u64 {
        self.shared
            .accepted
            .load(Ordering::Acquire)
            .saturating_sub(self.shipped())
    }

    /// Whether the shipper has a connection to the parent right now.
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Successful connects so far.
    pub fn connects(&self) -> u64 {
        self.shared.connects.load(Ordering::Relaxed)
    }

    /// Failed connects and broken connections so far.
    pub fn connection_failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }

    /// Waits until every line queued before this call has been written to the parent, or
    /// `timeout` passes. Also makes a shipper waiting out a backoff retry at once. Call it
    /// before the process exits so the failure report reaches the parent.
    pub async fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let target = self.shared.accepted.load(Ordering::Acquire);
        let deadline = tokio::time::Instant::now() + timeout;
        self.shared.wake.notify_one();
        loop {
            let notified = self.shared.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let shipped = self.shipped();
            if shipped >= target {
                return Ok(());
            }
            let pending = target - shipped;
            if !self.shared.running.load(Ordering::Acquire) {
                return Err(FlushError::ShipperStopped { pending });
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let pending = target.saturating_sub(self.shipped());
                if pending == 0 {
                    return Ok(());
                }
                return Err(FlushError::Timeout {
                    pending,
                    after: timeout,
                });
            }
        }
    }
}

/// Marks the shipper as running for as long as it exists.
#[derive(Debug)]
struct Running(Arc<Shared>);

impl Running {
    fn new(shared: Arc<Shared>) -> Self {
        shared.running.store(true, Ordering::Release);
        Running(shared)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.connected.store(false, Ordering::Relaxed);
        self.0.running.store(false, Ordering::Release);
        self.0.progress.notify_waiters();
    }
}

/// Drains the queue to the parent. It is a future: spawn it with [`Shipper::spawn`] (inside
/// a Tokio runtime), `tokio::spawn(shipper)`, or await it. It finishes once the layer is
/// dropped and the queue is drained; in a process whose subscriber is global, it runs for the
/// life of the process. Dropping it unpolled stops shipping ([`Handle::flush`] then says so).
pub struct Shipper {
    fut: Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper").finish_non_exhaustive()
    }
}

impl Future for Shipper {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.fut.as_mut().poll(cx)
    }
}

impl Shipper {
    /// Spawns the shipper on the current Tokio runtime (panics outside one, like
    /// `tokio::spawn`).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self)
    }

    /// Ships lines until the layer is dropped and the queue is drained (the same as
    /// awaiting the shipper).
    pub async fn run(self) {
        self.await
    }
}

/// The shipper's state; [`Shipper`] boxes its `run` future.
#[derive(Debug)]
pub(crate) struct ShipperTask {
    rx: mpsc::Receiver<String>,
    transport: Transport,
    addr: Addr,
    connect_timeout: Duration,
    source: String,
    simulated: bool,
    max_line_bytes: usize,
    shared: Arc<Shared>,
    _running: Running,
}

/// Why a connection's pump returned.
enum Pump {
    /// The layer is gone and the queue is drained.
    Finished,
    /// The connection broke; reconnect.
    Broken,
}

/// Lines read from the queue but not yet written (kept across reconnects).
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
}

impl ShipperTask {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn shipper(
        rx: mpsc::Receiver<String>,
        transport: Transport,
        addr: Addr,
        connect_timeout: Duration,
        source: String,
        simulated: bool,
        max_line_bytes: usize,
        shared: Arc<Shared>,
    ) -> Shipper {
        let task = ShipperTask {
            rx,
            transport,
            addr,
            connect_timeout,
            source,
            simulated,
            max_line_bytes,
            _running: Running::new(shared.clone()),
            shared,
        };
        Shipper {
            fut: Box::pin(task.run()),
        }
    }

    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        let mut batch = Batch::default();
        loop {
            let stream = match self
                .transport
                .connect(&self.addr, self.connect_timeout)
                .await
            {
                Ok(s) => s,
                Err(_) => {
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    if self.rx.is_closed() && self.rx.is_empty() && batch.lines == 0 {
                        return;
                    }
                    self.pause(&mut backoff).await;
                    continue;
                }
            };
            self.shared.connects.fetch_add(1, Ordering::Relaxed);
            self.shared.connected.store(true, Ordering::Relaxed);
            let (mut rd, mut wr) = tokio::io::split(stream);
            let outcome = self.pump(&mut rd, &mut wr, &mut batch, &mut backoff).await;
            self.shared.connected.store(false, Ordering::Relaxed);
            match outcome {
                Pump::Finished => {
                    let _ = wr.shutdown().await;
                    return;
                }
                Pump::Broken => {
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    self.pause(&mut backoff).await;
                }
            }
        }
    }

    /// Waits out the backoff (cut short by a flush) and doubles it.
    async fn pause(&self, backoff: &mut Duration) {
        tokio::select! {
            _ = tokio::time::sleep(*backoff) => {}
            _ = self.shared.wake.notified() => {}
        }
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
    }

    /// Writes lines on one connection until it breaks or the layer is gone.
    async fn pump<R, W>(
        &mut self,
        rd: &mut R,
        wr: &mut W,
        batch: &mut Batch,
        backoff: &mut Duration,
    ) -> Pump
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut scratch = [0u8; 512];
        let mut finished = false;
        loop {
            if batch.lines == 0 && !finished {
                tokio::select! {
                    line = self.rx.recv() => match line {
                        Some(line) => {
                            push_line(batch, line);
                            while batch.bytes.len() < BATCH_BYTES {
                                match self.rx.try_recv() {
                                    Ok(line) => push_line(batch, line),
                                    Err(_) => break,
                                }
                            }
                        }
                        None => finished = true,
                    },
                    _ = self.shared.wake.notified() => {}
                    // The parent never sends; a read ending means it closed the connection.
                    r = rd.read(&mut scratch) => match r {
                        Ok(0) | Err(_) => return Pump::Broken,
                        Ok(_) => continue,
                    },
                }
            }
            let unreported = self.shared.unreported.swap(0, Ordering::AcqRel);
            if unreported > 0 {
                let mut report = self.drop_report(unreported).into_bytes();
                report.push(b'\n');
                if wr.write_all(&report).await.is_err() {
                    self.shared
                        .unreported
                        .fetch_add(unreported, Ordering::AcqRel);
                    return Pump::Broken;
                }
            }
            if batch.lines > 0 {
                if wr.write_all(&batch.bytes).await.is_err() {
                    return Pump::Broken;
                }
                self.shared.shipped.fetch_add(batch.lines, Ordering::AcqRel);
                self.shared.progress.notify_waiters();
                batch.bytes.clear();
                batch.lines = 0;
                *backoff = BACKOFF_MIN;
            }
            if finished {
                let _ = wr.flush().await;
                return Pump::Finished;
            }
        }
    }

    /// The line that tells the parent `n` lines were lost.
    fn drop_report(&self, n: u64) -> String {
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let fields = [
            ("event", Value::from("log_lines_dropped")),
            ("dropped", Value::from(n)),
        ];
        render(
            &Record {
                ts: &ts,
                level: "WARN",
                target: module_path!(),
                source: &self.source,
                simulated: self.simulated,
                span: None,
                spans: &[],
                message: Some("log lines were dropped: the queue to the parent was full"),
                fields: &fields,
            },
            self.max_line_bytes,
        )
    }
}

fn push_line(batch: &mut Batch, line: String) {
    batch.bytes.extend_from_slice(line.as_bytes());
    batch.bytes.push(b'\n');
    batch.lines += 1;
}
