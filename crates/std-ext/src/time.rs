//! Times as the logs, metrics and reports carry them: Unix milliseconds and RFC 3339 UTC.

use std::time::SystemTime;

/// Milliseconds since the Unix epoch; 0 for a time before it, `u64::MAX` past what fits.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// Formats `t` as RFC 3339 UTC (with milliseconds if `millis`). Certificates and documents
/// can carry times humantime cannot print (past year 9999); those print as seconds since the
/// epoch instead of panicking.
pub fn format_time(t: SystemTime, millis: bool) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let ok = if millis {
        write!(s, "{}", humantime::format_rfc3339_millis(t))
    } else {
        write!(s, "{}", humantime::format_rfc3339_seconds(t))
    };
    if ok.is_ok() {
        return s;
    }
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => format!("{}s after the epoch", d.as_secs()),
        Err(e) => format!("{}s before the epoch", e.duration().as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unix_ms_saturates_both_ways() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(unix_ms(t), 1_700_000_000_123);
        assert_eq!(unix_ms(SystemTime::UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    #[test]
    fn formats_rfc3339_and_the_unprintable() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(format_time(t, true), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_time(t, false), "2023-11-14T22:13:20Z");
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(format_time(far, false), "253402300800s after the epoch");
    }
}
