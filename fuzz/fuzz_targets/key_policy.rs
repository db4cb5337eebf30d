//! KMS key policies: any bytes give a policy or an error, never a panic, and evaluating a
//! parsed policy against a fixed enclave request never panics either.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(p) = sigil_key_policy::KeyPolicy::parse(s)
    {
        let ctx = Default::default();
        let _ = sigil_key_policy::evaluate(
            &p,
            &sigil_key_policy::Request {
                principal: "arn:aws:iam::111122223333:role/enclave",
                action: "kms:Decrypt",
                resource: "arn:aws:kms:us-east-1:111122223333:key/k",
                context: &ctx,
            },
        );
    }
});
