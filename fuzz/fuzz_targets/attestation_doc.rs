//! Attestation document parsing and verification: never panics on any bytes, and nothing
//! but a genuine AWS-signed document verifies against the AWS root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_attestation::{Expectations, TrustAnchor, Verifier, VerifyAt, parse};

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data);
    let Ok(anchor) = TrustAnchor::aws_nitro_g1() else { return };
    let verified = Verifier::new(anchor).verify(data, VerifyAt::DocumentTime, &Expectations { allow_debug: true, ..Default::default() });
    if verified.is_ok() {
        assert!(parsed.is_ok());
    }
});
