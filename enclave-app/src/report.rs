//! The boot report: what the parent may know about the boot — evidence, digests, counts,
//! timings and resources. It is built from public values only; no field can hold a secret.
//!
//! Also the vocabulary of the boot's steps ([`Step`], [`StepError`]) and [`timed`], which runs
//! one step and records it. This module is the leaf the others build on: `boot` and `unseal`
//! import from it, it imports from neither.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use sigil_provisioning::pb;
use tracing::{Instrument, info, info_span};

/// The boot steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Opening the NSM: the device, or the simulated one from the development root.
    Nsm,
    /// Process hardening.
    Harden,
    /// Fetching the boot bundle from the parent.
    FetchBundle,
    /// Checking the runtime configuration and credentials.
    RuntimeConfig,
    /// The attested KMS Decrypt of the age identity.
    KmsDecrypt,
    /// age-decrypting the shares and the TLS bundle.
    DecryptShares,
    /// Validating every share and building the account map.
    ValidateShares,
    /// Loading the SignService's TLS material.
    Tls,
    /// Binding the SignService's listener.
    Listen,
}

impl Step {
    /// The name used in reports, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Nsm => "nsm",
            Step::Harden => "harden",
            Step::FetchBundle => "fetch_bundle",
            Step::RuntimeConfig => "runtime_config",
            Step::KmsDecrypt => "kms_decrypt",
            Step::DecryptShares => "decrypt_shares",
            Step::ValidateShares => "validate_shares",
            Step::Tls => "tls",
            Step::Listen => "listen",
        }
    }
}

/// A failed step and why. The reason never holds a secret: it is built from error types
/// that carry none.
#[derive(Debug, thiserror::Error)]
#[error("boot step {}: {reason}", step.as_str())]
pub struct StepError {
    /// The step.
    pub step: Step,
    /// Why.
    pub reason: String,
}

impl StepError {
    /// A failure of `step`.
    pub fn new(step: Step, reason: impl Display) -> Self {
        Self {
            step,
            reason: reason.to_string(),
        }
    }
}

/// Runs `work` as `step`: in a `boot_step` span, timed into the report when it completes,
/// and failing as a [`StepError`] that names the step and gives the error's text as the
/// reason. The step is named here only, never by the work.
pub async fn timed<T, E: Display>(
    report: &mut pb::BootReport,
    step: Step,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, StepError> {
    let t = Instant::now();
    let out = work
        .instrument(info_span!("boot_step", step = step.as_str()))
        .await
        .map_err(|e| StepError::new(step, e))?;
    let elapsed = t.elapsed();
    record(report, step, elapsed);
    info!(
        event = "boot_step_done",
        step = step.as_str(),
        elapsed_ms = elapsed.as_millis() as u64
    );
    Ok(out)
}

/// Appends a completed step and its duration.
fn record(report: &mut pb::BootReport, step: Step, elapsed: Duration) {
    report.steps.push(pb::StepTiming {
        step: step.as_str().to_owned(),
        elapsed_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    });
}

/// Completes the report at the end of the boot, either way: the outcome (`failure` is the
/// failed step, `None` for a boot that is ready to serve), the resources used, and the log
/// lines lost so far. The report is then ready to send.
pub fn finish(report: &mut pb::BootReport, failure: Option<&StepError>, log_lines_dropped: u64) {
    report.ok = failure.is_none();
    if let Some(e) = failure {
        report.failed_step = e.step.as_str().into();
        report.reason = e.reason.clone();
    }
    report.resources = Some(resources());
    report.log_lines_dropped = log_lines_dropped;
}

/// CPU count, memory, resident set and CPU time of this process, from `/proc` and
/// `getrusage`. Fields that cannot be read are zero.
pub fn resources() -> pb::Resources {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok();
    let us = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec()).unwrap_or(0)
    };
    pb::Resources {
        cpus: std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(0),
        memory_total_bytes: kib_field(&meminfo, "MemTotal:"),
        rss_bytes: kib_field(&status, "VmRSS:"),
        peak_rss_bytes: kib_field(&status, "VmHWM:"),
        cpu_user_us: usage.map(|u| us(u.user_time())).unwrap_or(0),
        cpu_system_us: usage.map(|u| us(u.system_time())).unwrap_or(0),
    }
}

/// A `Name:   123 kB` field of a /proc file, in bytes.
fn kib_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_read() {
        let r = resources();
        assert!(r.cpus >= 1);
        assert!(r.rss_bytes > 0 && r.peak_rss_bytes >= r.rss_bytes);
        assert!(r.memory_total_bytes > r.rss_bytes);
        assert_eq!(kib_field("VmRSS:\t  12 kB\n", "VmRSS:"), 12 * 1024);
        assert_eq!(kib_field("garbage", "VmRSS:"), 0);
    }

    #[tokio::test]
    async fn timed_names_the_step_once_and_records_only_what_completed() {
        let mut report = pb::BootReport::default();
        let v = timed(&mut report, Step::Harden, async { Ok::<_, String>(7) }).await;
        assert_eq!(v.ok(), Some(7));
        let e = timed(&mut report, Step::Listen, async {
            Err::<(), _>("port taken")
        })
        .await
        .err();
        let e = e.as_ref();
        assert_eq!(e.map(|e| e.step), Some(Step::Listen));
        assert_eq!(e.map(|e| e.reason.as_str()), Some("port taken"));
        let nsm = timed(&mut report, Step::Nsm, async { Ok::<_, String>(()) }).await;
        assert!(nsm.is_ok());
        let steps: Vec<&str> = report.steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(steps, ["harden", "nsm"]);

        finish(&mut report, e, 3);
        assert!(!report.ok);
        assert_eq!(report.failed_step, "listen");
        assert_eq!(report.reason, "port taken");
        assert_eq!(report.log_lines_dropped, 3);
        assert!(report.resources.is_some());
    }
}
