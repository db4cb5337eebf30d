//! Address parsing: never panics, and whatever parses prints back to the same address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_transport::Addr;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(a) = s.parse::<Addr>()
    {
        let printed = a.to_string();
        assert_eq!(printed.parse::<Addr>().as_ref(), Ok(&a), "{printed}");
    }
});
