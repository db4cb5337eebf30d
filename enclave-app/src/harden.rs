//! Process hardening, the first boot step.
//!
//! Fatal when it fails (fail closed): turning dumping off (`PR_SET_DUMPABLE 0`, which also
//! bars ptrace and `/proc/<pid>/mem` from other users) and the core-file limit of zero.
//! Best effort, reported as warnings in the boot report: locking memory (`mlockall`, only
//! where the memlock limit allows all of it, since `MCL_FUTURE` under a small limit would make
//! later allocations fail), bringing `lo` up, and mixing NSM entropy into the kernel pool.
//!
//! This is the one module with `unsafe`: the two `ioctl`s on `lo`'s interface flags, which
//! no kept crate wraps short of a netlink stack.

#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
use sigil_nsm::Nsm;
use tracing::{info, warn};

/// What hardening did not achieve (nothing fatal).
#[derive(Debug, Default)]
pub struct Hardened {
    /// Measures that could not be applied, e.g. memory locking under a small memlock limit.
    pub warnings: Vec<String>,
}

/// Hardens the process. `Err` is fatal; the boot must stop.
pub fn harden(nsm: &dyn Nsm) -> Result<Hardened, String> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE 0: {e}"))?;
    if nix::sys::prctl::get_dumpable().map_err(|e| format!("PR_GET_DUMPABLE: {e}"))? {
        return Err("the process is still dumpable".into());
    }
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| format!("RLIMIT_CORE 0: {e}"))?;
    let mut out = Hardened::default();
    if let Err(w) = lock_memory() {
        out.warnings.push(w);
    }
    match bring_loopback_up() {
        Ok(true) => info!(event = "loopback_up"),
        Ok(false) => {}
        Err(w) => out.warnings.push(w),
    }
    if let Err(w) = seed_entropy(nsm) {
        out.warnings.push(w);
    }
    for w in &out.warnings {
        warn!(event = "hardening_incomplete", reason = %w);
    }
    Ok(out)
}

/// `mlockall(MCL_CURRENT | MCL_FUTURE)` when the memlock limit allows all memory (or we may
/// exceed it); otherwise a warning, because a future-lock under a small limit breaks `malloc`.
fn lock_memory() -> Result<(), String> {
    use nix::sys::mman::{MlockAllFlags, mlockall};
    let (soft, _) = getrlimit(Resource::RLIMIT_MEMLOCK).map_err(|e| e.to_string())?;
    let root = nix::unistd::geteuid().is_root();
    if soft != nix::sys::resource::RLIM_INFINITY && !root {
        return Err(format!(
            "memory not locked: RLIMIT_MEMLOCK is {soft} bytes (locking needs it unlimited or root)"
        ));
    }
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE)
        .map_err(|e| format!("memory not locked: mlockall: {e}"))
}

nix::ioctl_read_bad!(
    /// `SIOCGIFFLAGS`: an interface's flags.
    get_if_flags,
    libc::SIOCGIFFLAGS,
    libc::ifreq
);
nix::ioctl_write_ptr_bad!(
    /// `SIOCSIFFLAGS`: sets an interface's flags.
    set_if_flags,
    libc::SIOCSIFFLAGS,
    libc::ifreq
);

/// Brings `lo` up if it is down. `Ok(true)` when it changed something.
fn bring_loopback_up() -> Result<bool, String> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("lo: socket: {e}"))?;
    // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: a valid socket and a properly initialised `ifreq` naming `lo`.
    unsafe { get_if_flags(sock.as_raw_fd(), &mut req) }
        .map_err(|e| format!("lo: SIOCGIFFLAGS: {e}"))?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    let up = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    if flags & up == up {
        return Ok(false);
    }
    req.ifr_ifru.ifru_flags = flags | up;
    // SAFETY: as above; the kernel only reads the request.
    unsafe { set_if_flags(sock.as_raw_fd(), &req) }
        .map_err(|e| format!("lo is down and could not be brought up: {e}"))?;
    Ok(true)
}

/// Mixes 256 bytes from the NSM into the kernel's pool (a write to `/dev/urandom` mixes
/// without crediting entropy, which needs no privilege).
fn seed_entropy(nsm: &dyn Nsm) -> Result<(), String> {
    use std::io::Write;
    let bytes = zeroize::Zeroizing::new(nsm.get_random().map_err(|e| format!("NSM entropy: {e}"))?);
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/urandom")
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| format!("NSM entropy not mixed into /dev/urandom: {e}"))
}

/// When running as PID 1 (the enclave's init), reaps every child that exits, so none stays a
/// zombie. Outside PID 1 it does nothing.
pub fn reap_children_if_init() {
    if nix::unistd::getpid().as_raw() != 1 {
        return;
    }
    let Ok(mut sigchld) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
    else {
        warn!(event = "reaper_unavailable");
        return;
    };
    tokio::spawn(async move {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        while sigchld.recv().await.is_some() {
            while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                if status == WaitStatus::StillAlive {
                    break;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_ends_up_undumpable_without_core_files() {
        let nsm = sigil_nsm::SimulatedNsm::new(
            sigil_nsm::DevRoot::generate().expect("root"),
            &sigil_nsm::ImageMeasurement::of_bytes(b"test"),
            "i-0",
            None,
        )
        .expect("nsm");
        let hardened = harden(&nsm).expect("hardening");
        assert_eq!(nix::sys::prctl::get_dumpable(), Ok(false));
        assert_eq!(getrlimit(Resource::RLIMIT_CORE), Ok((0, 0)));
        // Whatever could not be applied is said, not hidden.
        for w in &hardened.warnings {
            assert!(!w.is_empty());
        }
    }

    #[test]
    fn loopback_is_up_or_is_reported() {
        // On a development machine `lo` is up already: nothing to change.
        assert_eq!(bring_loopback_up(), Ok(false));
    }
}
