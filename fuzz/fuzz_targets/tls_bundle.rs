//! The sealed TLS bundle the enclave decrypts and loads (`sigil-tls-bundle` JSON with PEM
//! keys and certificates): any bytes give a bundle or an error, never a panic; a bundle that
//! loads always yields a server configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = sigil_tls::TlsBundle::from_json(data) {
        let _ = bundle.server_config();
        let _ = format!("{bundle:?}");
    }
});
