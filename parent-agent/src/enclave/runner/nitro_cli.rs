//! The `nitro-cli` runner: run-enclave, describe-enclaves and terminate-enclave driven
//! through their JSON output, with nitro-cli's error codes mapped to actionable messages.
//!
//! Every command runs with a timeout and is killed when it expires; its output is untrusted
//! and capped. Nothing secret is ever put on a command line (there is nothing secret here:
//! paths, sizes, the CID, the enclave's name and ID). nitro-cli runs with `BACKTRACE=1` so
//! that its error blocks carry the root cause (for example the driver's reason for an `E29`).
//!
//! [`NitroCli::start`](Runner::start) returns once `run-enclave` has returned, which nitro-cli
//! does after the enclave's boot heartbeat (vsock port 9000). The enclave is then watched by
//! polling `describe-enclaves` ([`Enclave::wait`]). See `docs/enclave-lifecycle.md`.

mod errors;
mod output;
pub mod preflight;
mod settings;

use std::ffi::OsString;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub use output::{DescribedEnclave, EifDescription, Measurements};
pub use settings::{
    DEFAULT_ALLOCATOR_CONFIG, DEFAULT_CID, DEFAULT_MEMINFO, DEFAULT_PROGRAM, DEFAULT_SYSFS,
    NitroCliSettings,
};

use super::{Enclave, EnclaveInfo, Exit, Runner, RunnerError};

use errors::HintContext;
use output::{RunOutput, TerminateOutput, parse_json, valid_enclave_id};

/// Most bytes kept from one stream of one nitro-cli command.
const MAX_OUTPUT: usize = 4 * 1024 * 1024;
/// After nitro-cli exits, how long its pipes may stay open (a grandchild holding them).
const PIPE_GRACE: Duration = Duration::from_secs(2);
/// Starts enclaves with `nitro-cli`.
#[derive(Clone, Debug)]
pub struct NitroCli {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: NitroCliSettings,
}

/// What one nitro-cli command left behind.
struct CommandOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl NitroCli {
    /// A runner with these settings. Nothing is checked until [`Runner::preflight`].
    pub fn new(settings: NitroCliSettings) -> Self {
        NitroCli {
            inner: Arc::new(Inner { settings }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &NitroCliSettings {
        &self.inner.settings
    }

    /// `nitro-cli describe-enclaves`: every enclave on the host.
    pub async fn describe_enclaves(&self) -> Result<Vec<DescribedEnclave>, RunnerError> {
        self.inner.describe_enclaves().await
    }

    /// `nitro-cli describe-eif --eif-path P`: the EIF's measurements (PCR0 is what the KMS key
    /// policy pins).
    pub async fn describe_eif(&self) -> Result<EifDescription, RunnerError> {
        let s = &self.inner.settings;
        self.inner
            .run_json(
                "describe-eif",
                vec!["--eif-path".into(), s.eif_path.clone().into()],
                s.command_timeout,
                "the describe-eif JSON object",
            )
            .await
    }
}

/// Reads a pipe to its end (keeping at most [`MAX_OUTPUT`] bytes), or until [`PIPE_GRACE`]
/// after the process exited.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: Option<R>,
    mut exited: watch::Receiver<bool>,
) -> Vec<u8> {
    let Some(mut reader) = reader else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let grace = async move {
        let _ = exited.wait_for(|e| *e).await;
        tokio::time::sleep(PIPE_GRACE).await;
    };
    tokio::pin!(grace);
    loop {
        tokio::select! {
            read = reader.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(buf.len());
                    buf.extend_from_slice(&chunk[..n.min(room)]);
                }
            },
            () = &mut grace => break,
        }
    }
    buf
}

impl Inner {
    fn hint_context(&self, command: &'static str) -> HintContext<'_> {
        let s = &self.settings;
        HintContext {
            command,
            memory_mib: s.memory_mib,
            cpu_count: s.cpu_count,
            cid: s.cid,
            eif_path: &s.eif_path,
            allocator_config: &s.allocator_config,
        }
    }

    /// Runs `nitro-cli COMMAND ARGS...`, killing it after `timeout`.
    async fn exec(
        &self,
        command: &'static str,
        args: Vec<OsString>,
        timeout: Duration,
    ) -> Result<CommandOutput, RunnerError> {
        let program = &self.settings.program;
        debug!(event = "nitro_cli_exec", command, args = ?args);
        let mut child = tokio::process::Command::new(program)
            .arg(command)
            .args(&args)
            .env("BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RunnerError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (exited_tx, exited_rx) = watch::channel(false);
        let finished = tokio::time::timeout(timeout, async {
            let wait = async {
                let status = child.wait().await;
                let _ = exited_tx.send(true);
                status
            };
            tokio::join!(
                read_capped(stdout, exited_rx.clone()),
                read_capped(stderr, exited_rx),
                wait
            )
        })
        .await;
        let Ok((stdout, stderr, status)) = finished else {
            let _ = child.kill().await;
            warn!(event = "nitro_cli_timeout", command, timeout = ?timeout, "nitro-cli killed");
            return Err(RunnerError::Timeout { command, timeout });
        };
        let status = status.map_err(|source| RunnerError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        Ok(CommandOutput {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// The error for a command that exited non-zero.
    fn failure(&self, command: &'static str, out: &CommandOutput) -> RunnerError {
        let blocks = errors::parse_stderr(&out.stderr);
        let err = match blocks.first() {
            Some(first) => {
                let mut message = first.message.clone();
                if let Some(cause) = &first.root_cause {
                    message = format!("{message} (cause: {cause})");
                }
                let hint = errors::hint(first, &self.hint_context(command)).map(|h| {
                    match &first.log_file {
                        Some(log) => format!("{h}; nitro-cli's log: {log}"),
                        None => h,
                    }
                });
                RunnerError::NitroCli {
                    command,
                    code: Some(first.code.clone()),
                    message,
                    hint,
                }
            }
            None => {
                let (line, hint) = errors::unstructured(&out.stderr);
                let message = if line.is_empty() {
                    format!("failed ({})", out.status)
                } else {
                    format!("{line} ({})", out.status)
                };
                RunnerError::NitroCli {
                    command,
                    code: None,
                    message,
                    hint,
                }
            }
        };
        if let RunnerError::NitroCli { code, message, .. } = &err {
            warn!(event = "nitro_cli_failed", command, code = code.as_deref().unwrap_or("-"), message = %message);
        }
        err
    }

    /// Runs a command and parses its stdout as `T`.
    async fn run_json<T: serde::de::DeserializeOwned>(
        &self,
        command: &'static str,
        args: Vec<OsString>,
        timeout: Duration,
        what: &str,
    ) -> Result<T, RunnerError> {
        let out = self.exec(command, args, timeout).await?;
        if !out.status.success() {
            return Err(self.failure(command, &out));
        }
        parse_json(&out.stdout, what).map_err(|message| RunnerError::Output { command, message })
    }

    async fn describe_enclaves(&self) -> Result<Vec<DescribedEnclave>, RunnerError> {
        self.run_json(
            "describe-enclaves",
            Vec::new(),
            self.settings.command_timeout,
            "the describe-enclaves JSON array",
        )
        .await
    }

    async fn terminate(&self, id: &str) -> Result<TerminateOutput, RunnerError> {
        if !valid_enclave_id(id) {
            return Err(RunnerError::Output {
                command: "terminate-enclave",
                message: format!("refusing to pass enclave ID {id:?} to nitro-cli"),
            });
        }
        self.run_json(
            "terminate-enclave",
            vec!["--enclave-id".into(), id.into()],
            self.settings.command_timeout,
            "the terminate-enclave JSON object",
        )
        .await
    }

    /// Terminates any enclave running with this runner's name and CID: one a `run-enclave`
    /// that timed out or printed nonsense left behind, or one a previous parent-agent started
    /// and did not stop (it crashed, or was killed). A new boot re-attests, so nothing is
    /// adopted.
    async fn terminate_leftovers(&self) {
        match self.describe_enclaves().await {
            Ok(list) => {
                self.terminate_ours(&list).await;
            }
            Err(e) => {
                warn!(event = "start_cleanup_failed", error = %e, "could not list enclaves to terminate leftovers");
            }
        }
    }

    /// Terminates the enclaves of `list` with this runner's name and CID; true if any.
    async fn terminate_ours(&self, list: &[DescribedEnclave]) -> bool {
        let s = &self.settings;
        let mut any = false;
        for e in list
            .iter()
            .filter(|e| e.cid == u64::from(s.cid) && e.name.as_deref() == Some(&s.enclave_name))
        {
            any = true;
            match self.terminate(&e.id).await {
                Ok(_) => {
                    info!(event = "start_cleanup_terminated", enclave_id = %e.id, "terminated an enclave of this name and CID left running")
                }
                Err(err) => {
                    warn!(event = "start_cleanup_failed", enclave_id = %e.id, error = %err)
                }
            }
        }
        any
    }
}

#[async_trait]
impl Runner for NitroCli {
    fn kind(&self) -> &'static str {
        "nitro-cli"
    }

    async fn preflight(&self) -> Result<(), RunnerError> {
        let settings = self.inner.settings.clone();
        let path = std::env::var_os("PATH");
        let report = tokio::task::spawn_blocking(move || {
            preflight::local_checks(&settings, path.as_deref())
        })
        .await
        .map_err(|e| RunnerError::Preflight(format!("the checks could not run: {e}")))?;
        for warning in &report.warnings {
            warn!(event = "preflight_check_skipped", warning = %warning);
        }
        let mut problems = report.problems;
        let cid = self.inner.settings.cid;
        if report.program.is_some() {
            let listed = match self.inner.describe_enclaves().await {
                Ok(list) if self.inner.terminate_ours(&list).await => {
                    self.inner.describe_enclaves().await
                }
                other => other,
            };
            match listed {
                Ok(list) => {
                    if let Err(e) = preflight::check_cid_free(cid, &list) {
                        problems.push(e);
                    }
                }
                Err(e) => problems.push(format!(
                    "`nitro-cli describe-enclaves` failed, so whether cid = {cid} is free is \
                     unknown: {e}"
                )),
            }
        }
        match problems.len() {
            0 => {
                info!(
                    event = "preflight_passed",
                    runner = "nitro-cli",
                    eif_bytes = report.eif_size.unwrap_or_default()
                );
                Ok(())
            }
            1 => Err(RunnerError::Preflight(problems.remove(0))),
            n => Err(RunnerError::Preflight(format!(
                "{n} problems: {}",
                problems
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("({}) {p}", i + 1))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    }

    async fn start(&self) -> Result<Box<dyn Enclave>, RunnerError> {
        const COMMAND: &str = "run-enclave";
        let s = &self.inner.settings;
        let mut args: Vec<OsString> = vec![
            "--eif-path".into(),
            s.eif_path.clone().into(),
            "--cpu-count".into(),
            s.cpu_count.to_string().into(),
            "--memory".into(),
            s.memory_mib.to_string().into(),
            "--enclave-cid".into(),
            s.cid.to_string().into(),
            "--enclave-name".into(),
            s.enclave_name.clone().into(),
        ];
        if s.debug_mode {
            args.push("--debug-mode".into());
        }
        let eif_size = std::fs::metadata(&s.eif_path).ok().map(|m| m.len());
        let timeout = s.effective_run_timeout(eif_size);
        info!(
            event = "enclave_starting",
            eif = %s.eif_path.display(),
            cpu_count = s.cpu_count,
            memory_mib = s.memory_mib,
            cid = s.cid,
            debug_mode = s.debug_mode,
            enclave_name = %s.enclave_name,
            timeout = ?timeout
        );
        let out: RunOutput = match self
            .inner
            .run_json(COMMAND, args, timeout, "the run-enclave JSON object")
            .await
        {
            Ok(out) => out,
            Err(e @ (RunnerError::Timeout { .. } | RunnerError::Output { .. })) => {
                self.inner.terminate_leftovers().await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let bad = |message: String| RunnerError::Output {
            command: COMMAND,
            message,
        };
        let checked = if !valid_enclave_id(&out.id) {
            Err(bad(format!(
                "EnclaveID {:?} is not an enclave ID",
                errors::clean(&out.id)
            )))
        } else {
            match (u32::try_from(out.cid), u32::try_from(out.cpus)) {
                (Ok(cid), Ok(cpus)) => Ok((cid, cpus)),
                _ => Err(bad(format!(
                    "EnclaveCID {} or NumberOfCPUs {} is out of range",
                    out.cid, out.cpus
                ))),
            }
        };
        let (cid, cpus) = match checked {
            Ok(v) => v,
            Err(e) => {
                self.inner.terminate_leftovers().await;
                return Err(e);
            }
        };
        if cid != s.cid {
            warn!(
                event = "enclave_cid_differs",
                requested = s.cid,
                reported = cid
            );
        }
        if cpus != s.cpu_count {
            warn!(
                event = "enclave_cpus_differ",
                requested = s.cpu_count,
                reported = cpus
            );
        }
        if out.memory_mib != s.memory_mib {
            // nitro-cli rounds up to whole hugepages.
            info!(
                event = "enclave_memory_differs",
                requested = s.memory_mib,
                reported = out.memory_mib
            );
        }
        if let Some(name) = out.name.as_deref().filter(|n| *n != s.enclave_name) {
            // nitro-cli appends `_1`, `_2`... when the name is taken (`new_enclave_name`).
            warn!(event = "enclave_name_differs", requested = %s.enclave_name, reported = %name);
        }
        let info = EnclaveInfo {
            id: out.id.clone(),
            cid,
            cpus,
            memory_mib: out.memory_mib,
            debug_mode: s.debug_mode,
        };
        info!(
            event = "enclave_started",
            enclave_id = %info.id,
            cid = info.cid,
            cpus = info.cpus,
            cpu_ids = ?out.cpu_ids,
            memory_mib = info.memory_mib,
            debug_mode = info.debug_mode,
            process_id = out.process_id.unwrap_or_default()
        );
        Ok(Box::new(NitroEnclave {
            info,
            inner: self.inner.clone(),
            next_poll: Instant::now() + s.poll_interval,
            failures: 0,
            exit: None,
        }))
    }
}

/// An enclave started by [`NitroCli`], watched through `describe-enclaves`.
struct NitroEnclave {
    info: EnclaveInfo,
    inner: Arc<Inner>,
    /// When the next `describe-enclaves` may run (kept across cancelled `wait` calls).
    next_poll: Instant,
    /// `describe-enclaves` failures in a row.
    failures: u32,
    /// Set once the enclave is known to be gone.
    exit: Option<Exit>,
}

impl NitroEnclave {
    fn gone(&mut self, why: String) -> Exit {
        info!(event = "enclave_gone", enclave_id = %self.info.id, reason = %why);
        let exit = Exit::Gone(why);
        self.exit = Some(exit.clone());
        exit
    }
}

#[async_trait]
impl Enclave for NitroEnclave {
    fn info(&self) -> &EnclaveInfo {
        &self.info
    }

    async fn wait(&mut self) -> Exit {
        // Cancel-safe: the state only changes after a describe has completed; a describe cut
        // short is killed (kill_on_drop) and simply runs again on the next call.
        loop {
            if let Some(exit) = &self.exit {
                return exit.clone();
            }
            tokio::time::sleep_until(self.next_poll).await;
            let described = self.inner.describe_enclaves().await;
            self.next_poll = Instant::now() + self.inner.settings.poll_interval;
            match described {
                Ok(list) => {
                    self.failures = 0;
                    match list.iter().find(|e| e.id == self.info.id) {
                        None => {
                            let why = format!(
                                "describe-enclaves no longer lists enclave {}",
                                self.info.id
                            );
                            return self.gone(why);
                        }
                        Some(e) if !e.is_running() => {
                            let why = format!(
                                "describe-enclaves lists enclave {} as {}",
                                self.info.id,
                                errors::clean(&e.state)
                            );
                            return self.gone(why);
                        }
                        Some(_) => {}
                    }
                }
                Err(e) => {
                    self.failures += 1;
                    let limit = self.inner.settings.describe_failure_limit.max(1);
                    warn!(
                        event = "describe_failed",
                        enclave_id = %self.info.id,
                        failures = self.failures,
                        limit,
                        error = %e
                    );
                    if self.failures >= limit {
                        let why = format!(
                            "its state is unknown: describe-enclaves failed {} times in a row \
                             (last: {e}); terminate it before starting another",
                            self.failures
                        );
                        return self.gone(why);
                    }
                }
            }
        }
    }

    async fn terminate(&mut self) -> Result<(), RunnerError> {
        let id = self.info.id.clone();
        match self.inner.terminate(&id).await {
            Ok(out) => {
                if out.id != id {
                    warn!(event = "terminate_id_differs", enclave_id = %id, reported = %errors::clean(&out.id));
                }
                if !out.terminated {
                    return Err(RunnerError::Output {
                        command: "terminate-enclave",
                        message: format!("nitro-cli reported `Terminated: false` for {id}"),
                    });
                }
                info!(event = "enclave_terminated", enclave_id = %id);
                if self.exit.is_none() {
                    self.gone("terminated by parent-agent".to_string());
                }
                Ok(())
            }
            Err(err) => {
                // "Not found" (E11 for a stale ID) and the like: ask whether it still runs.
                match self.inner.describe_enclaves().await {
                    Ok(list) if !list.iter().any(|e| e.id == id && e.is_running()) => {
                        info!(event = "enclave_already_gone", enclave_id = %id, terminate_error = %err);
                        if self.exit.is_none() {
                            self.gone("already gone when terminated".to_string());
                        }
                        Ok(())
                    }
                    _ => Err(err),
                }
            }
        }
    }
}
