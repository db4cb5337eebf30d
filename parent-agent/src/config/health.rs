//! `[health]` (the `/livez`, `/readyz`, `/metrics` endpoint and the enclave's health probe)
//! and `[logs]` (the enclave's log stream on vsock 7001 and its rotating file).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sigil_transport::{Addr, Host, VSOCK_CID_ANY};

use super::check::Invalid;

/// `[health]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// HTTP `/livez`, `/readyz`, `/metrics` (default `tcp://127.0.0.1:9102`).
    pub listen: Addr,
    /// grpc.health.v1 probe period.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// One probe's limit.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Consecutive failed probes before the enclave counts as unhealthy and is restarted.
    pub failures_before_restart: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            listen: Addr::Tcp {
                host: Host::Ip([127, 0, 0, 1].into()),
                port: 9102,
            },
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            failures_before_restart: 3,
        }
    }
}

/// `[logs]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Where the enclave ships its lines (default `vsock://any:7001`).
    pub listen: Addr,
    /// Also keep the lines in this file, rotated by size.
    pub file: Option<PathBuf>,
    /// Rotate when the file reaches this size.
    pub max_file_bytes: u64,
    /// Rotated files kept (`FILE.1` … `FILE.N`).
    pub keep_files: usize,
    /// Longer lines are dropped and counted.
    pub max_line_bytes: usize,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            listen: Addr::Vsock {
                cid: VSOCK_CID_ANY,
                port: 7001,
            },
            file: None,
            max_file_bytes: 16 << 20,
            keep_files: 4,
            max_line_bytes: 64 << 10,
        }
    }
}

impl HealthConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if self.probe_interval.is_zero()
            || self.probe_timeout.is_zero()
            || self.failures_before_restart == 0
        {
            return Err((
                "health.probe_interval".into(),
                "probe_interval and probe_timeout must be > 0s, failures_before_restart ≥ 1".into(),
            ));
        }
        Ok(())
    }
}

impl LogsConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if self.max_line_bytes < 1024 || self.keep_files == 0 || self.max_file_bytes < 4096 {
            return Err((
                "logs.max_line_bytes".into(),
                "max_line_bytes ≥ 1024, max_file_bytes ≥ 4096 and keep_files ≥ 1".into(),
            ));
        }
        Ok(())
    }
}
