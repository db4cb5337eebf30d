//! The boot report: what the parent may know about the boot — evidence, digests, counts,
//! timings and resources. It is built from public values only; no field can hold a secret.

use std::time::Duration;

use sigil_provisioning::pb;

/// Appends a completed step and its duration.
pub fn step(report: &mut pb::BootReport, step: &str, elapsed: Duration) {
    report.steps.push(pb::StepTiming {
        step: step.to_owned(),
        elapsed_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    });
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
}
