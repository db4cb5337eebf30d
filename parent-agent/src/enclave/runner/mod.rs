//! The enclave's lifecycle: one [`Runner`] trait with two implementations, `nitro-cli` on a
//! Nitro host ([`nitro_cli`]) and a child process in simulation ([`process`]). The supervisor
//! only sees the trait: preflight, start, wait for the end, terminate.

use std::time::Duration;

use async_trait::async_trait;

pub mod nitro_cli;
pub mod process;

/// What a runner knows about an enclave it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnclaveInfo {
    /// nitro-cli's `EnclaveID`, or `sim-<pid>` for a process.
    pub id: String,
    /// The enclave's vsock CID.
    pub cid: u32,
    /// vCPUs given to it.
    pub cpus: u32,
    /// Memory given to it, MiB.
    pub memory_mib: u64,
    /// Started in debug mode (its attestation documents have all-zero PCRs).
    pub debug_mode: bool,
}

/// How an enclave ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The process exited with this code (simulation).
    Code(i32),
    /// The process was killed by this signal (simulation).
    Signal(i32),
    /// nitro-cli no longer lists the enclave as running; the text says what it last saw.
    Gone(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::Gone(why) => write!(f, "no longer running ({why})"),
        }
    }
}

/// Why a runner could not do what was asked. Every message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A check before starting failed (files, resources, CID, ports).
    #[error("preflight: {0}")]
    Preflight(String),
    /// nitro-cli reported an error; `code` is its `Exx` code when it printed one.
    #[error("nitro-cli {command}{}: {message}{}", code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default(), hint.as_deref().map(|h| format!(" (hint: {h})")).unwrap_or_default())]
    NitroCli {
        /// The subcommand, e.g. `run-enclave`.
        command: &'static str,
        /// `E26`, `E39`, ...
        code: Option<String>,
        /// What nitro-cli said (its error line, trimmed).
        message: String,
        /// What the operator should do.
        hint: Option<String>,
    },
    /// A command's output was not what was expected.
    #[error("{command}: unexpected output: {message}")]
    Output {
        /// The command.
        command: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A program could not be started or waited for.
    #[error("{program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command did not finish in time.
    #[error("{command} did not finish within {timeout:?}")]
    Timeout {
        /// The command.
        command: &'static str,
        /// The limit.
        timeout: Duration,
    },
}

/// A started enclave. Dropping it does not stop it: call [`Enclave::terminate`].
#[async_trait]
pub trait Enclave: Send {
    /// What the runner knows about it.
    fn info(&self) -> &EnclaveInfo;
    /// Resolves when the enclave has ended. Cancel-safe: it may be polled in a `select!` and
    /// called again.
    async fn wait(&mut self) -> Exit;
    /// Stops it; succeeds if it is already gone.
    async fn terminate(&mut self) -> Result<(), RunnerError>;
}

/// Starts enclaves.
#[async_trait]
pub trait Runner: Send + Sync {
    /// `nitro-cli` or `process`, for logs and metrics.
    fn kind(&self) -> &'static str;
    /// Checks what can be checked before a start, with an actionable error.
    async fn preflight(&self) -> Result<(), RunnerError>;
    /// Starts one enclave; returns once it is launched (its boot is the supervisor's concern).
    async fn start(&self) -> Result<Box<dyn Enclave>, RunnerError>;
}
