//! Boot-time cost of a key-share file: loads a plaintext `sigil-key-shares` file with
//! `KeyStore::from_json` as the enclave does and prints one JSON line: accounts, load time,
//! resident memory (VmRSS, VmHWM from /proc/self/status) before, during and after, resident
//! bytes per account, and what assembling one ECDSA session's cggmp24 key share costs.
//!
//! ```sh
//! cargo run --release -p sigil-mpc --example load_keystore -- service_key_shares.json
//! ```
//!
//! `bytes_per_account` is the growth of VmRSS from before the file was read to after the store
//! is built and the file's bytes are dropped, over the number of accounts: what the store keeps
//! resident (allocator overhead included). `peak_rss_kb` is VmHWM, reset just before the load
//! (via /proc/self/clear_refs), so it includes the file's bytes.

#![allow(clippy::unwrap_used)] // a measuring tool: a failed step ends it

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use sigil_mpc::KeyStore;
use sigil_mpc::ecdsa::EcdsaKey;
use sigil_mpc::share_file::{AccountShare, EcdsaGroup, SchemeShare};
use zeroize::Zeroizing;

/// A field of /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// CPU time (user + system) of this process so far, in milliseconds (/proc/self/stat; the
/// kernel counts in clock ticks, usually 10 ms).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 * 10.0
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[derive(Deserialize)]
struct Outline<'a> {
    #[serde(default)]
    ecdsa_groups: BTreeMap<String, EcdsaGroup>,
    #[serde(borrow)]
    accounts: Vec<&'a RawValue>,
}

/// Average microseconds of `EcdsaKey::session_share` for the file's first ECDSA account.
fn session_share_us(json: &[u8], rounds: u32) -> Option<f64> {
    let outline: Outline<'_> = serde_json::from_slice(json).ok()?;
    for raw in outline.accounts {
        let account: AccountShare = serde_json::from_str(raw.get()).ok()?;
        if let SchemeShare::EcdsaSecp256k1 {
            group,
            core: Some(core),
            ..
        } = account.share
        {
            let aux = outline.ecdsa_groups.get(&group)?.aux.clone()?;
            let key = EcdsaKey::from_parts(*core, aux).ok()?;
            drop(key.session_share().ok()?);
            let started = Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(key.session_share().ok()?);
            }
            return Some(started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds));
        }
    }
    None
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: load_keystore SHARE_FILE.json");
    let rss_before = status_kb("VmRSS");
    let json = Zeroizing::new(std::fs::read(&path).unwrap());
    let rss_with_input = status_kb("VmRSS");
    let peak_reset = reset_peak();

    let (started, cpu_before) = (Instant::now(), cpu_ms());
    let store = KeyStore::from_json(&json).unwrap();
    let load = started.elapsed();
    let load_cpu = cpu_ms() - cpu_before;

    let rss_loaded = status_kb("VmRSS");
    let peak = status_kb("VmHWM");
    let file_bytes = json.len();
    drop(json);
    let rss_store_only = status_kb("VmRSS");
    let accounts = store.len();
    let per_account = (rss_store_only.saturating_sub(rss_before) * 1024) as f64 / accounts as f64;

    // The ECDSA session cost needs the file again: measured after the figures above.
    let session_us = if store.ecdsa_groups().is_empty() {
        None
    } else {
        session_share_us(&Zeroizing::new(std::fs::read(&path).unwrap()), 1000)
    };

    let report = serde_json::json!({
        "file": path,
        "file_bytes": file_bytes,
        "accounts": accounts,
        "schemes": store.counts(),
        "ecdsa_groups": store.ecdsa_groups(),
        "threads": std::thread::available_parallelism().map_or(1, usize::from),
        "load_ms": (load.as_secs_f64() * 1e4).round() / 10.0,
        "load_cpu_ms": load_cpu,
        "rss_before_kb": rss_before,
        "rss_with_input_kb": rss_with_input,
        "rss_loaded_kb": rss_loaded,
        "rss_store_only_kb": rss_store_only,
        "peak_rss_kb": if peak_reset { Some(peak) } else { None },
        "bytes_per_account": per_account.round(),
        "ecdsa_session_share_us": session_us.map(|u| (u * 10.0).round() / 10.0),
    });
    println!("{report}");
}
