//! The HTTP CONNECT head parser the enclave talks to: never panics; every refusal maps to
//! an HTTP status; an accepted target is a valid host and a non-zero port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parent_agent::bridge::connect::{MAX_REQUEST_BYTES, parse_head};

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(MAX_REQUEST_BYTES)];
    match parse_head(data) {
        Ok(Some(req)) => {
            assert!(req.port != 0);
            let again = format!("{}:{}", req.host, req.port);
            assert!(parent_agent::config::parse_host_port(&again).is_ok(), "{again}");
        }
        Ok(None) => {}
        Err(e) => assert!(e.status().is_some(), "{e}"),
    }
});
