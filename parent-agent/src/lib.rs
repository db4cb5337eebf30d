//! parent-agent as a library: everything the `parent-agent` binary runs, so that the binary
//! stays a thin CLI and tests run the same code in-process.
//!
//! Layers, bottom up (a module imports only from layers below it):
//!
//! * [`config`] — the TOML file, parsed and validated once into typed values;
//! * [`observe`] — metrics, the health endpoint's state, systemd notification, the enclave's
//!   log stream (used by everything above);
//! * [`bridge`] — the vsock/TCP bridges and the egress allowlist (HTTP CONNECT included);
//! * [`provisioning`] — where the enclave's AWS credentials come from (IMDSv2 or static);
//! * [`enclave`] — starting the enclave (`nitro-cli` or a process), the attestation gate and
//!   the supervisor;
//! * [`daemon`] — `parent-agent run`: wires all of the above together and owns the signals;
//! * [`attestation_cli`] — `parent-agent attestation verify`.

pub mod attestation_cli;
pub mod bridge;
pub mod config;
pub mod daemon;
pub mod enclave;
pub mod observe;
pub mod provisioning;

/// Thousands of long-lived streams need thousands of descriptors: lifts the soft
/// `RLIMIT_NOFILE` to the hard limit.
pub fn raise_fd_limit() -> nix::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(())
}
