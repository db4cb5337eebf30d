//! parent-agent's configuration file: any bytes give a configuration or an error, never a
//! panic, and errors name the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parent_agent::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Err(e) = Config::parse(s, "fuzz.toml")
    {
        assert!(e.to_string().starts_with("fuzz.toml"));
    }
});
