//! [`NitroCliSettings`]: how the `nitro-cli` runner runs enclaves, with its defaults and the
//! `run-enclave` timeout nitro-cli itself allows. Shared by the runner and its preflight.

use std::path::PathBuf;
use std::time::Duration;

/// `program` by default: found on `PATH`.
pub const DEFAULT_PROGRAM: &str = "nitro-cli";
/// The allocator's configuration file installed by aws-nitro-enclaves-cli.
pub const DEFAULT_ALLOCATOR_CONFIG: &str = "/etc/nitro_enclaves/allocator.yaml";
/// Where the hugepage counters are read when sysfs has none.
pub const DEFAULT_MEMINFO: &str = "/proc/meminfo";
/// sysfs: hugepage pools and CPU topology.
pub const DEFAULT_SYSFS: &str = "/sys";
/// The enclave's CID by default (docs: DESIGN.md, "vsock ports").
pub const DEFAULT_CID: u32 = 16;

/// nitro-cli gives an enclave one minute per started 6 GiB of EIF plus one minute per
/// started 100 GiB of memory to boot (`calculate_necessary_timeout`,
/// `src/enclave_proc/resource_manager.rs`).
const BOOT_MINUTE: Duration = Duration::from_secs(60);
const GIB: u64 = 1024 * 1024 * 1024;

/// How to run enclaves with nitro-cli. [`NitroCliSettings::new`] fills in the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NitroCliSettings {
    /// The nitro-cli program (default `nitro-cli`, looked up on `PATH`).
    pub program: PathBuf,
    /// The enclave image.
    pub eif_path: PathBuf,
    /// `--cpu-count`: vCPUs, a whole number of cores (default 2).
    pub cpu_count: u32,
    /// `--memory`, MiB: at least 4 × the EIF size (default 4096).
    pub memory_mib: u64,
    /// `--enclave-cid` (default 16).
    pub cid: u32,
    /// `--debug-mode`: console readable, attestation PCRs all zeros (default off).
    pub debug_mode: bool,
    /// `--enclave-name` (default `sigil`).
    pub enclave_name: String,
    /// How often [`Enclave::wait`](crate::enclave::runner::Enclave::wait) runs `describe-enclaves` (default 2 s).
    pub poll_interval: Duration,
    /// Limit for each describe and terminate command (default 30 s).
    pub command_timeout: Duration,
    /// Limit for `run-enclave`; `None` (the default) is `command_timeout` plus the boot time
    /// nitro-cli itself allows (one minute per 6 GiB of EIF and per 100 GiB of memory).
    pub run_timeout: Option<Duration>,
    /// After this many `describe-enclaves` failures in a row, [`Enclave::wait`](crate::enclave::runner::Enclave::wait) gives up and
    /// reports the enclave gone (default 5).
    pub describe_failure_limit: u32,
    /// The allocator's configuration (default `/etc/nitro_enclaves/allocator.yaml`).
    pub allocator_config: PathBuf,
    /// `/proc/meminfo` (default), read when sysfs has no hugepage pools.
    pub meminfo: PathBuf,
    /// sysfs root (default `/sys`): `kernel/mm/hugepages`, `devices/system/cpu`.
    pub sysfs: PathBuf,
}

impl NitroCliSettings {
    /// The defaults, for this EIF.
    pub fn new(eif_path: impl Into<PathBuf>) -> Self {
        NitroCliSettings {
            program: PathBuf::from(DEFAULT_PROGRAM),
            eif_path: eif_path.into(),
            cpu_count: 2,
            memory_mib: 4096,
            cid: DEFAULT_CID,
            debug_mode: false,
            enclave_name: "sigil".to_string(),
            poll_interval: Duration::from_secs(2),
            command_timeout: Duration::from_secs(30),
            run_timeout: None,
            describe_failure_limit: 5,
            allocator_config: PathBuf::from(DEFAULT_ALLOCATOR_CONFIG),
            meminfo: PathBuf::from(DEFAULT_MEMINFO),
            sysfs: PathBuf::from(DEFAULT_SYSFS),
        }
    }

    /// The `run-enclave` limit actually used, for an EIF of `eif_size` bytes.
    pub fn effective_run_timeout(&self, eif_size: Option<u64>) -> Duration {
        if let Some(t) = self.run_timeout {
            return t;
        }
        let eif_minutes = eif_size.unwrap_or(1).max(1).div_ceil(6 * GIB);
        let mem_minutes = self
            .memory_mib
            .max(1)
            .saturating_mul(1024 * 1024)
            .div_ceil(100 * GIB);
        let minutes = u32::try_from(eif_minutes.saturating_add(mem_minutes)).unwrap_or(u32::MAX);
        self.command_timeout
            .saturating_add(BOOT_MINUTE.saturating_mul(minutes))
    }
}

impl Default for NitroCliSettings {
    /// The defaults with an empty `eif_path` (preflight reports it).
    fn default() -> Self {
        NitroCliSettings::new(PathBuf::new())
    }
}
