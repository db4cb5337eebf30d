//! The key-share file the enclave decrypts and loads: any bytes give a key store or an error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sigil_mpc::KeyStore::from_json(data);
});
