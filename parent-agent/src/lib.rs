//! parent-agent as a library: the configuration, the bridges and their metrics, so the
//! binary stays a thin CLI and tests can run the same code in-process.

pub mod attestation_cli;
pub mod config;
pub mod connect_proxy;
pub mod metrics;
pub mod relay;
