//! Paillier prime pools handed to key-gen: any bytes give a pool or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sigil_key_gen::primes::PrimePool::from_json(std::path::Path::new("fuzz.json"), data);
});
