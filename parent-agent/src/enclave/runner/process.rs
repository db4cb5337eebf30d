//! The simulation runner: enclave-app as a child process with the simulation flags, on the
//! same simulated vsock directory as parent-agent. Its stderr is inherited (journald in a
//! unit, the terminal by hand); it is killed when parent-agent drops it (`kill_on_drop`).
//!
//! A parent-agent that is killed outright leaves its enclave running. The runner records the
//! child's pid in `SIMULATION_DIR/enclave-CID.pid`, and the next preflight terminates that
//! process if it is still this program (as the nitro-cli runner terminates a leftover
//! enclave of its name and CID): a new boot re-attests, nothing is adopted.

use std::path::PathBuf;
use std::process::Stdio;

use async_trait::async_trait;
use tokio::process::{Child, Command};
use tracing::info;

use super::{Enclave, EnclaveInfo, Exit, Runner, RunnerError};

/// What the process runner starts.
#[derive(Clone, Debug)]
pub struct ProcessSettings {
    /// The enclave-app binary.
    pub program: PathBuf,
    /// The simulated vsock directory (parent-agent's `[vsock] simulation_dir`).
    pub simulation_dir: PathBuf,
    /// The enclave's simulated CID.
    pub cid: u32,
    /// Pass `--insecure-plaintext-grpc`.
    pub insecure_plaintext: bool,
    /// Further arguments, e.g. `--sim-dev-root DIR`.
    pub args: Vec<String>,
}

/// Starts enclave-app processes.
#[derive(Clone, Debug)]
pub struct ProcessRunner {
    settings: ProcessSettings,
}

impl ProcessRunner {
    /// A runner for `settings`.
    pub fn new(settings: ProcessSettings) -> Self {
        ProcessRunner { settings }
    }

    fn pid_file(&self) -> PathBuf {
        self.settings
            .simulation_dir
            .join(format!("enclave-{}.pid", self.settings.cid))
    }

    /// Kills the process a previous parent-agent started, if it still runs this program.
    async fn terminate_leftover(&self) {
        let Some(pid) = std::fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .filter(|p| *p > 1)
        else {
            return;
        };
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let ours = std::fs::canonicalize(&self.settings.program).ok();
        if exe.is_none() || exe != ours {
            let _ = std::fs::remove_file(self.pid_file());
            return;
        }
        let target = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL);
        for _ in 0..100 {
            if nix::sys::signal::kill(target, None).is_err()
                || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                    st.rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z'))
                })
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = std::fs::remove_file(self.pid_file());
        info!(
            event = "start_cleanup_terminated",
            pid, "terminated an enclave process a previous parent-agent left running"
        );
    }
}

struct ProcessEnclave {
    info: EnclaveInfo,
    child: Child,
    exit: Option<Exit>,
}

#[async_trait]
impl Runner for ProcessRunner {
    fn kind(&self) -> &'static str {
        "process"
    }

    async fn preflight(&self) -> Result<(), RunnerError> {
        let s = &self.settings;
        let meta = std::fs::metadata(&s.program).map_err(|e| {
            RunnerError::Preflight(format!(
                "enclave.program {}: {e} (build it: cargo build -p enclave-app)",
                s.program.display()
            ))
        })?;
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(RunnerError::Preflight(format!(
                "enclave.program {} is not an executable file",
                s.program.display()
            )));
        }
        if !s.simulation_dir.is_dir() {
            return Err(RunnerError::Preflight(format!(
                "vsock.simulation_dir {} is not a directory",
                s.simulation_dir.display()
            )));
        }
        self.terminate_leftover().await;
        Ok(())
    }

    async fn start(&self) -> Result<Box<dyn Enclave>, RunnerError> {
        let s = &self.settings;
        let mut cmd = Command::new(&s.program);
        cmd.arg("--simulate")
            .arg("--sim-dir")
            .arg(&s.simulation_dir)
            .arg("--sim-cid")
            .arg(s.cid.to_string());
        if s.insecure_plaintext {
            cmd.arg("--insecure-plaintext-grpc");
        }
        cmd.args(&s.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| RunnerError::Spawn {
            program: s.program.display().to_string(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        if let Err(e) = std::fs::write(self.pid_file(), format!("{pid}\n")) {
            tracing::warn!(event = "pid_file_failed", error = %e);
        }
        info!(event = "enclave_process_started", pid, cid = s.cid);
        Ok(Box::new(ProcessEnclave {
            info: EnclaveInfo {
                id: format!("sim-{pid}"),
                cid: s.cid,
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
                memory_mib: 0,
                debug_mode: false,
            },
            child,
            exit: None,
        }))
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Gone("no exit status".into()),
    }
}

#[async_trait]
impl Enclave for ProcessEnclave {
    fn info(&self) -> &EnclaveInfo {
        &self.info
    }

    async fn wait(&mut self) -> Exit {
        if let Some(e) = &self.exit {
            return e.clone();
        }
        let exit = match self.child.wait().await {
            Ok(status) => exit_of(status),
            Err(e) => Exit::Gone(format!("waiting for the process: {e}")),
        };
        self.exit = Some(exit.clone());
        exit
    }

    async fn terminate(&mut self) -> Result<(), RunnerError> {
        if self.exit.is_some() {
            return Ok(());
        }
        // SIGTERM first so enclave-app flushes its log channel; SIGKILL after 5 s.
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(std::time::Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => self.exit = Some(exit_of(status)),
            _ => {
                let _ = self.child.kill().await;
                self.exit = Some(Exit::Signal(9));
            }
        }
        Ok(())
    }
}
