//! The boot bundle as the enclave receives it from the untrusted parent: any bytes decode to a
//! bundle or an error, and the runtime configuration and credentials in it are accepted or
//! refused with a reason, never a panic. Outside simulation a plaintext KMS endpoint is always
//! refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sigil_proto::provision::v1::BootBundle;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = BootBundle::decode(data) else {
        return;
    };
    for simulated in [false, true] {
        let r = enclave_app::runtime::runtime(bundle.config.clone(), simulated);
        if !simulated
            && let Some(c) = &bundle.config
            && !c.kms_simulation_url.is_empty()
        {
            assert!(r.is_err(), "a plaintext KMS endpoint outside simulation");
        }
    }
    let _ = enclave_app::runtime::credentials(bundle.credentials.clone());
});
