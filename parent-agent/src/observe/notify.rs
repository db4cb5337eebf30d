//! systemd notification: `READY=1` once ingress first opens, `STATUS=` on every phase
//! change worth an operator's eye, `STOPPING=1` when the drain starts, and `WATCHDOG=1`
//! pings while the supervisor loop is live. Without `NOTIFY_SOCKET` (not under systemd)
//! every call does nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

/// Talks to systemd's notify socket.
#[derive(Debug, Default)]
pub struct Notifier {
    enabled: bool,
    ready_sent: AtomicBool,
}

impl Notifier {
    /// Enabled when systemd gave a `NOTIFY_SOCKET`.
    pub fn from_env() -> Self {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            ready_sent: AtomicBool::new(false),
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if self.enabled
            && let Err(e) = sd_notify::notify(states)
        {
            debug!(event = "sd_notify_failed", error = %e);
        }
    }

    /// `READY=1` the first time, `STATUS=` after.
    pub fn ready(&self) {
        if self.ready_sent.swap(true, Ordering::SeqCst) {
            self.status("serving: ingress open");
        } else {
            self.send(&[
                NotifyState::Ready,
                NotifyState::Status("serving: ingress open"),
            ]);
        }
    }

    /// `STATUS=text`.
    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(text)]);
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// How often to ping: half of `WATCHDOG_USEC`, if systemd set one for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        sd_notify::watchdog_enabled().map(|d| d / 2)
    }
}
