//! Derivation paths from gRPC requests: parse, print and parse again to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_mpc::DerivationPath;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(p) = s.parse::<DerivationPath>()
    {
        let again: DerivationPath = p.to_string().parse().expect("printed path parses");
        assert_eq!(p, again);
    }
});
