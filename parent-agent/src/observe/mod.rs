//! What the agent tells the outside world about itself: Prometheus [`metrics`], the
//! `/livez`/`/readyz`/`/metrics` endpoint and its shared [`status`], systemd [`notify`], and the
//! enclave's log stream ([`enclave_logs`]). A leaf: nothing here imports the bridges, the
//! enclave or provisioning.

pub mod enclave_logs;
pub mod metrics;
pub mod notify;
pub mod status;
