//! `[enclave]`: which runner starts the enclave and with what, how parent-agent reaches its
//! SignService (`[enclave.tls]` or plaintext in simulation), and the restart policy
//! (`[enclave.restart]`). The `runner` key chooses the typed [`Runner`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sigil_transport::Addr;

use super::check::{Invalid, sim_only};

/// The `runner` key.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RunnerKind {
    NitroCli,
    Process,
}

fn default_cid() -> u32 {
    16
}
fn default_cpus() -> u32 {
    2
}
fn default_memory() -> u64 {
    4096
}
fn default_name() -> String {
    "sigil".into()
}
fn default_nitro_cli() -> PathBuf {
    "nitro-cli".into()
}
fn default_signer() -> Addr {
    Addr::Vsock {
        cid: 16,
        port: 50051,
    }
}

/// `[enclave]` as written in the file: the runner-specific keys sit beside the common ones
/// (so a typo is still an unknown-field error); [`EnclaveSection::typed`] sorts them into a
/// [`Runner`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnclaveSection {
    runner: RunnerKind,
    #[serde(default = "default_cid")]
    cid: u32,
    eif_path: Option<PathBuf>,
    #[serde(default = "default_cpus")]
    cpu_count: u32,
    #[serde(default = "default_memory")]
    memory_mib: u64,
    #[serde(default)]
    debug_mode: bool,
    #[serde(default = "default_name")]
    name: String,
    #[serde(default = "default_nitro_cli")]
    nitro_cli: PathBuf,
    program: Option<PathBuf>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default = "default_signer")]
    signer: Addr,
    tls: Option<EnclaveTlsConfig>,
    #[serde(default)]
    insecure_plaintext: bool,
    #[serde(default)]
    restart: RestartConfig,
}

/// `[enclave]`, checked.
#[derive(Clone, Debug)]
pub struct EnclaveConfig {
    /// What starts the enclave.
    pub runner: Runner,
    /// The enclave's CID.
    pub cid: u32,
    /// Where the SignService listens (for the gate and the health probe).
    pub signer: Addr,
    /// How parent-agent authenticates to the SignService; `None` only with
    /// `insecure_plaintext` (simulation).
    pub tls: Option<EnclaveTlsConfig>,
    /// Plaintext gRPC to the enclave (simulation only; enclave-app then runs with
    /// `--insecure-plaintext-grpc`).
    pub insecure_plaintext: bool,
    /// Restarts.
    pub restart: RestartConfig,
}

/// What starts the enclave (`runner = "nitro-cli"` or `runner = "process"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runner {
    /// `nitro-cli run-enclave` (production).
    NitroCli {
        /// The EIF (`eif_path`).
        eif_path: PathBuf,
        /// vCPUs (`cpu_count`).
        cpu_count: u32,
        /// Memory, MiB (`memory_mib`).
        memory_mib: u64,
        /// Debug mode (attestation PCRs read as zeros; the gate refuses it).
        debug_mode: bool,
        /// The enclave's name (`name`).
        name: String,
        /// The nitro-cli program (`nitro_cli`).
        program: PathBuf,
    },
    /// enclave-app as a child process with the simulation flags (simulation only).
    Process {
        /// The enclave-app binary (`program`).
        program: PathBuf,
        /// Extra arguments (`args`, e.g. `--sim-dev-root DIR`).
        args: Vec<String>,
        /// `[vsock] simulation_dir`, which the process runner requires.
        simulation_dir: PathBuf,
    },
}

/// `[enclave.tls]`: parent-agent's client certificate for the SignService (Attest, health).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveTlsConfig {
    /// The CA that issued the enclave's server certificate, PEM file.
    pub ca: PathBuf,
    /// parent-agent's client certificate chain, PEM file.
    pub cert: PathBuf,
    /// Its private key, PEM file.
    pub key: PathBuf,
    /// The name in the enclave's server certificate.
    pub server_name: String,
}

/// `[enclave.restart]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestartConfig {
    /// Wait before the first restart; doubles per consecutive failure.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// The longest wait.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// More restarts than this within `crash_loop_window` stop restarting.
    pub crash_loop_limit: u32,
    /// The crash-loop window.
    #[serde(with = "humantime_serde")]
    pub crash_loop_window: Duration,
    /// From start to a verified attestation; longer counts as a failed boot.
    #[serde(with = "humantime_serde")]
    pub boot_timeout: Duration,
}

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            crash_loop_limit: 5,
            crash_loop_window: Duration::from_secs(600),
            boot_timeout: Duration::from_secs(300),
        }
    }
}

impl EnclaveSection {
    /// Checks the section (`simulation_dir` is `[vsock]`'s) and chooses the runner.
    pub(super) fn typed(self, simulation_dir: Option<&Path>) -> Result<EnclaveConfig, Invalid> {
        let invalid = |field: &str, message: &str| Err((field.to_owned(), message.to_owned()));
        let runner = match (self.runner, simulation_dir) {
            (RunnerKind::Process, None) => {
                return Err(sim_only("enclave.runner", "the process runner"));
            }
            (RunnerKind::Process, Some(dir)) => match self.program {
                None => {
                    return invalid(
                        "enclave.program",
                        "missing: the process runner needs the enclave-app binary",
                    );
                }
                Some(program) => Runner::Process {
                    program,
                    args: self.args,
                    simulation_dir: dir.to_owned(),
                },
            },
            (RunnerKind::NitroCli, Some(_)) => {
                return invalid(
                    "enclave.runner",
                    "nitro-cli starts a real enclave, which cannot reach simulated vsock; use `process`",
                );
            }
            (RunnerKind::NitroCli, None) => match self.eif_path {
                None => {
                    return invalid(
                        "enclave.eif_path",
                        "missing: the nitro-cli runner needs the EIF",
                    );
                }
                Some(eif_path) => Runner::NitroCli {
                    eif_path,
                    cpu_count: self.cpu_count,
                    memory_mib: self.memory_mib,
                    debug_mode: self.debug_mode,
                    name: self.name,
                    program: self.nitro_cli,
                },
            },
        };
        if self.cid < 4 {
            return Err((
                "enclave.cid".into(),
                format!("{} is reserved; enclave CIDs start at 4", self.cid),
            ));
        }
        match (&self.tls, self.insecure_plaintext) {
            (Some(_), true) => {
                return invalid(
                    "enclave.insecure_plaintext",
                    "set either [enclave.tls] or insecure_plaintext, not both",
                );
            }
            (None, false) => {
                return invalid(
                    "enclave.tls",
                    "missing: parent-agent needs a client certificate for the SignService",
                );
            }
            (None, true) if simulation_dir.is_none() => {
                return Err(sim_only("enclave.insecure_plaintext", "plaintext gRPC"));
            }
            _ => {}
        }
        let r = &self.restart;
        if r.initial_backoff.is_zero() || r.max_backoff < r.initial_backoff {
            return invalid(
                "enclave.restart.max_backoff",
                "initial_backoff must be > 0s and max_backoff at least initial_backoff",
            );
        }
        if r.boot_timeout.is_zero() || r.crash_loop_window.is_zero() {
            return invalid(
                "enclave.restart.boot_timeout",
                "boot_timeout and crash_loop_window must be longer than 0s",
            );
        }
        Ok(EnclaveConfig {
            runner,
            cid: self.cid,
            signer: self.signer,
            tls: self.tls,
            insecure_plaintext: self.insecure_plaintext,
            restart: self.restart,
        })
    }
}
