//! Allowlist host patterns: never panic, and what parses prints back to the same pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_egress_policy::HostPattern;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(p) = HostPattern::parse(s)
    {
        let printed = p.to_string();
        assert_eq!(HostPattern::parse(&printed).as_ref(), Ok(&p), "{printed}");
    }
});
