//! Process CPU time and percentiles.

use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeValLike;

/// User plus system CPU time of this process (every thread) so far.
pub fn cpu_time() -> anyhow::Result<Duration> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    Ok(Duration::from_micros(u64::try_from(micros)?))
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of `samples`; `None` when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let ms = |v: u64| Duration::from_millis(v);
        let s: Vec<Duration> = (1..=100).rev().map(ms).collect();
        assert_eq!(percentile(&s, 50.0), Some(ms(50)));
        assert_eq!(percentile(&s, 99.0), Some(ms(99)));
        assert_eq!(percentile(&s, 100.0), Some(ms(100)));
        assert_eq!(percentile(&[ms(7)], 99.0), Some(ms(7)));
        assert_eq!(percentile(&[ms(1), ms(2), ms(3)], 50.0), Some(ms(2)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn cpu_time_advances() {
        let before = cpu_time().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time().unwrap() > before);
    }
}
