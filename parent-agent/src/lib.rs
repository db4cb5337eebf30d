//! parent-agent as a library: the configuration, the bridges and their metrics, so the
//! binary stays a thin CLI and tests can run the same code in-process.

pub mod attestation_cli;
pub mod config;
pub mod credentials;
pub mod lifecycle;
pub mod connect_proxy;
pub mod metrics;
pub mod relay;

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
