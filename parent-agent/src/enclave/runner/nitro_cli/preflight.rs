//! Checks before `nitro-cli run-enclave`, so that the common setup mistakes get a message
//! naming the file, the field and the fix instead of an `E26`/`E27`/`E29` from nitro-cli:
//! the EIF, memory against the EIF size, the allocator's reservation, free hugepages, whole
//! CPU cores, the CID, and the nitro-cli program. The CID-in-use check needs
//! `describe-enclaves` and lives in the runner; its pure part is [`check_cid_free`].
//!
//! Everything here is synchronous and reads small files; the runner calls it on a blocking
//! thread. A file that cannot be read (`/proc/meminfo`, sysfs, the allocator's YAML) turns
//! into a warning that says so and the check is skipped; a file that is read but wrong is a
//! problem.
//!
//! The allocator's YAML is parsed by hand, the way the allocator itself reads it; why:
//! docs/enclave-lifecycle.md ("The allocator's YAML is parsed by hand").

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::output::DescribedEnclave;
use super::settings::NitroCliSettings;

/// nitro-cli refuses an enclave with less memory than this many times the EIF size
/// (`ENCLAVE_MEMORY_EIF_SIZE_RATIO`, `src/enclave_proc/resource_manager.rs`; nitro-cli #196).
pub const EIF_MEMORY_RATIO: u64 = 4;

const MIB: u64 = 1024 * 1024;
const RESTART_ALLOCATOR: &str = "sudo systemctl restart nitro-enclaves-allocator.service";

/// The CPUs the allocator reserves for enclaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuReservation {
    /// `cpu_count: N`.
    Count(u32),
    /// `cpu_pool: 2,3,6-9`.
    Pool(Vec<u32>),
}

impl CpuReservation {
    /// How many CPUs that is.
    pub fn cpus(&self) -> u64 {
        match self {
            CpuReservation::Count(n) => u64::from(*n),
            CpuReservation::Pool(list) => list.len() as u64,
        }
    }
}

/// `/etc/nitro_enclaves/allocator.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocatorConfig {
    /// `memory_mib`: hugepage memory reserved for enclaves.
    pub memory_mib: u64,
    /// `cpu_count` or `cpu_pool`.
    pub cpus: CpuReservation,
}

fn unquote(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v)
        .trim()
}

/// Parses the allocator's configuration: root-level `memory_mib`, and `cpu_count` or
/// `cpu_pool`. Comments (`#` at the start of a line or after a space), blank lines and a
/// `---` document marker are skipped; other keys are ignored; a later key wins, as in the
/// allocator's script.
pub fn parse_allocator_config(text: &str) -> Result<AllocatorConfig, String> {
    let mut memory_mib = None;
    let mut cpu_count = None;
    let mut cpu_pool = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = match raw.find(" #") {
            Some(at) => &raw[..at],
            None => raw,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" || trimmed == "..." {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Nested YAML: not something the allocator understands either.
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            return Err(format!("line {n} is not `key: value`: {trimmed:?}"));
        };
        let value = unquote(value);
        match key.trim() {
            "memory_mib" => {
                memory_mib = Some(value.parse::<u64>().map_err(|_| {
                    format!("line {n}: `memory_mib` is not a whole number of MiB: {value:?}")
                })?)
            }
            "cpu_count" => {
                cpu_count = Some(value.parse::<u32>().map_err(|_| {
                    format!("line {n}: `cpu_count` is not a whole number: {value:?}")
                })?)
            }
            "cpu_pool" => {
                cpu_pool =
                    Some(parse_cpu_list(value).map_err(|e| format!("line {n}: `cpu_pool`: {e}"))?)
            }
            _ => {}
        }
    }
    let memory_mib = memory_mib.ok_or("`memory_mib` is missing")?;
    let cpus = match (cpu_count, cpu_pool) {
        (Some(_), Some(_)) => {
            return Err(
                "`cpu_count` and `cpu_pool` are both set; the allocator refuses that \
                        (keep exactly one)"
                    .to_string(),
            );
        }
        (Some(n), None) => CpuReservation::Count(n),
        (None, Some(list)) => CpuReservation::Pool(list),
        (None, None) => return Err("neither `cpu_count` nor `cpu_pool` is set".to_string()),
    };
    Ok(AllocatorConfig { memory_mib, cpus })
}

/// Parses a kernel CPU list (`2,3,6-9`), as in `cpu_pool` and `thread_siblings_list`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("empty entry in CPU list {text:?}"));
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: u32 = lo
            .parse()
            .map_err(|_| format!("{part:?} is not a CPU number or range"))?;
        let hi: u32 = hi
            .parse()
            .map_err(|_| format!("{part:?} is not a CPU number or range"))?;
        if hi < lo || hi - lo > 4096 {
            return Err(format!("{part:?} is not a valid CPU range"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// The hugepage lines of `/proc/meminfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meminfo {
    /// `HugePages_Total` (pages of the default size).
    pub hugepages_total: u64,
    /// `HugePages_Free`.
    pub hugepages_free: u64,
    /// `Hugepagesize`, KiB (the default size only).
    pub hugepage_size_kib: u64,
    /// `Hugetlb`, KiB: memory in hugepages of every size (Linux 4.16 and later).
    pub hugetlb_kib: Option<u64>,
}

/// Parses the hugepage lines of `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Result<Meminfo, String> {
    let mut total = None;
    let mut free = None;
    let mut size = None;
    let mut hugetlb = None;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let number = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok());
        match key.trim() {
            "HugePages_Total" => total = number,
            "HugePages_Free" => free = number,
            "Hugepagesize" => size = number,
            "Hugetlb" => hugetlb = number,
            _ => {}
        }
    }
    match (total, free, size) {
        (Some(hugepages_total), Some(hugepages_free), Some(hugepage_size_kib)) => Ok(Meminfo {
            hugepages_total,
            hugepages_free,
            hugepage_size_kib,
            hugetlb_kib: hugetlb,
        }),
        _ => Err("no HugePages_Total, HugePages_Free and Hugepagesize lines".to_string()),
    }
}

/// One hugepage size under `/sys/kernel/mm/hugepages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HugepagePool {
    /// The page size, KiB.
    pub page_kib: u64,
    /// `free_hugepages`.
    pub free: u64,
}

/// Reads `<dir>/hugepages-<size>kB/free_hugepages` for every size. The allocator reserves
/// the largest pages first (1 GiB before 2 MiB), and `/proc/meminfo` counts only the default
/// size, so this is the better source.
pub fn read_hugepage_pools(dir: &Path) -> std::io::Result<Vec<HugepagePool>> {
    let mut pools = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugepages-"))
            .and_then(|n| n.strip_suffix("kB"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let free = std::fs::read_to_string(entry.path().join("free_hugepages"))?;
        let free = free.trim().parse::<u64>().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: not a number",
                    entry.path().join("free_hugepages").display()
                ),
            )
        })?;
        pools.push(HugepagePool {
            page_kib: size,
            free,
        });
    }
    pools.sort_by_key(|p| std::cmp::Reverse(p.page_kib));
    Ok(pools)
}

/// The memory nitro-cli demands for an EIF of `eif_size` bytes, MiB (its own rounding).
pub fn min_memory_mib(eif_size: u64) -> u64 {
    eif_size.div_ceil(1024).div_ceil(1024) * EIF_MEMORY_RATIO
}

/// The EIF exists, is a regular file, can be opened and is not empty; returns its size.
pub fn check_eif(path: &Path) -> Result<u64, String> {
    if path.as_os_str().is_empty() {
        return Err(
            "eif_path is not set: point it at the enclave image (.eif) built for this \
                    release"
                .to_string(),
        );
    }
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "eif_path {}: {e}: build the EIF (`nitro-cli build-enclave`) or fix eif_path",
            path.display()
        )
    })?;
    if !meta.is_file() {
        return Err(format!(
            "eif_path {} is not a regular file: point eif_path at the .eif file",
            path.display()
        ));
    }
    std::fs::File::open(path).map_err(|e| {
        format!(
            "eif_path {} cannot be opened ({e}): make it readable by the user parent-agent runs as",
            path.display()
        )
    })?;
    if meta.len() == 0 {
        return Err(format!(
            "eif_path {} is empty: rebuild the EIF",
            path.display()
        ));
    }
    Ok(meta.len())
}

/// `memory_mib` covers 4 × the EIF size, as nitro-cli will demand (`E26`).
pub fn check_memory_for_eif(memory_mib: u64, eif_size: u64, eif_path: &Path) -> Result<(), String> {
    if EIF_MEMORY_RATIO.saturating_mul(eif_size) > memory_mib.saturating_mul(MIB) {
        return Err(format!(
            "memory_mib = {memory_mib} is below {EIF_MEMORY_RATIO} × the size of {} ({eif_size} \
             bytes): nitro-cli refuses it (E26) and the enclave kernel could not unpack its \
             initramfs (nitro-cli #196). Raise memory_mib to at least {} (and the allocator's \
             memory_mib with it)",
            eif_path.display(),
            min_memory_mib(eif_size)
        ));
    }
    Ok(())
}

/// `cpu_count` is positive and a whole number of cores.
///
/// Error rather than warning: the driver refuses partial cores (`E29`, dmesg "Full CPU
/// cores not used", `NE_ERR_FULL_CORES_NOT_USED`), so an odd count on a hyper-threaded x86_64
/// host can never start.
pub fn check_cpu_count(cpu_count: u32, threads_per_core: u32) -> Result<(), String> {
    if cpu_count == 0 {
        return Err(
            "cpu_count = 0: an enclave needs at least one full core (2 vCPUs on \
                    x86_64 with hyper-threading)"
                .to_string(),
        );
    }
    let tpc = threads_per_core.max(1);
    if !cpu_count.is_multiple_of(tpc) {
        let lower = cpu_count - cpu_count % tpc;
        let upper = lower.saturating_add(tpc);
        let suggestion = if lower == 0 {
            upper.to_string()
        } else {
            format!("{lower} or {upper}")
        };
        return Err(format!(
            "cpu_count = {cpu_count} is not a whole number of CPU cores ({tpc} threads per core \
             on this host): the Nitro Enclaves driver only accepts full cores (E29, \"Full CPU \
             cores not used\"). Use {suggestion}"
        ));
    }
    Ok(())
}

/// Threads per core on a host whose topology could not be read.
pub fn default_threads_per_core() -> u32 {
    if cfg!(target_arch = "x86_64") { 2 } else { 1 }
}

/// The CID is one an enclave may use and one the bridges can target.
pub fn check_cid(cid: u32) -> Result<(), String> {
    match cid {
        0 => Err(
            "cid = 0 asks nitro-cli to pick a CID, but parent-agent's bridges need a fixed \
                  one: set cid (16 by default)"
                .to_string(),
        ),
        1..=2 | u32::MAX => Err(format!(
            "cid = {cid} is a well-known vsock CID and cannot be an enclave's: use 4 or more \
             (16 by default)"
        )),
        3 => Err(
            "cid = 3 is the parent instance's own CID: use 4 or more (16 by default)".to_string(),
        ),
        _ => Ok(()),
    }
}

/// The allocator's reservation covers the request.
pub fn check_allocator(
    cfg: &AllocatorConfig,
    memory_mib: u64,
    cpu_count: u32,
    path: &Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    if cfg.memory_mib < memory_mib {
        problems.push(format!(
            "{} reserves memory_mib: {} but the enclave asks for {memory_mib}: set `memory_mib: \
             {memory_mib}` (or more) there and `{RESTART_ALLOCATOR}`, or lower memory_mib",
            path.display(),
            cfg.memory_mib
        ));
    }
    if cfg.cpus.cpus() < u64::from(cpu_count) {
        let (field, have) = match &cfg.cpus {
            CpuReservation::Count(n) => ("cpu_count", n.to_string()),
            CpuReservation::Pool(list) => ("cpu_pool", format!("{} CPUs", list.len())),
        };
        problems.push(format!(
            "{} reserves {field}: {have} but the enclave asks for cpu_count = {cpu_count}: set \
             `cpu_count: {cpu_count}` (or a cpu_pool of {cpu_count} CPUs in full cores) there and \
             `{RESTART_ALLOCATOR}`, or lower cpu_count",
            path.display()
        ));
    }
    problems
}

/// Where the free-hugepage count came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HugepageEvidence {
    /// `/sys/kernel/mm/hugepages`: every page size.
    Sysfs(Vec<HugepagePool>),
    /// `/proc/meminfo`: the default page size only.
    Meminfo(Meminfo),
}

/// Free hugepages cover `memory_mib`. `Ok(Some(warning))` when the evidence cannot tell.
pub fn check_hugepages(
    evidence: &HugepageEvidence,
    memory_mib: u64,
    source: &Path,
) -> Result<Option<String>, String> {
    let need_kib = memory_mib.saturating_mul(1024);
    let free_kib = match evidence {
        HugepageEvidence::Sysfs(pools) => pools
            .iter()
            .map(|p| p.page_kib.saturating_mul(p.free))
            .fold(0u64, u64::saturating_add),
        HugepageEvidence::Meminfo(m) => {
            let free = m.hugepages_free.saturating_mul(m.hugepage_size_kib);
            let default_total = m.hugepages_total.saturating_mul(m.hugepage_size_kib);
            if free < need_kib && m.hugetlb_kib.is_some_and(|h| h > default_total) {
                return Ok(Some(format!(
                    "{} shows hugepages of a size other than the default {} kB (Hugetlb: {} kB) \
                     and does not say how many are free; the free-hugepage check was skipped",
                    source.display(),
                    m.hugepage_size_kib,
                    m.hugetlb_kib.unwrap_or_default()
                )));
            }
            free
        }
    };
    if free_kib < need_kib {
        return Err(format!(
            "only {} MiB of hugepages are free ({}) but memory_mib = {memory_mib}: the \
             allocator reserves them, so set `memory_mib: {memory_mib}` (or more) in the \
             allocator's configuration and `{RESTART_ALLOCATOR}`, then check its log (`journalctl \
             -u nitro-enclaves-allocator`; it can report success without reserving everything, \
             nitro-cli #313). A running enclave holds its hugepages until it is terminated",
            free_kib / 1024,
            source.display()
        ));
    }
    Ok(None)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The nitro-cli program exists and is executable; returns the path that will run.
pub fn check_program(program: &Path, path_var: Option<&OsStr>) -> Result<PathBuf, String> {
    const INSTALL: &str = "install aws-nitro-enclaves-cli (`sudo dnf install \
                           aws-nitro-enclaves-cli` on Amazon Linux 2023) or set program to its \
                           full path";
    if program.as_os_str().is_empty() {
        return Err(format!("program is empty: {INSTALL}"));
    }
    if program.components().count() > 1 || program.is_absolute() {
        if is_executable(program) {
            return Ok(program.to_path_buf());
        }
        return Err(format!(
            "program {} does not exist or is not an executable file: {INSTALL}",
            program.display()
        ));
    }
    let found = path_var
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate));
    found.ok_or_else(|| {
        format!(
            "program {} is not an executable on PATH: {INSTALL}",
            program.display()
        )
    })
}

/// No running enclave already has the CID.
pub fn check_cid_free(cid: u32, enclaves: &[DescribedEnclave]) -> Result<(), String> {
    match enclaves.iter().find(|e| e.cid == u64::from(cid)) {
        None => Ok(()),
        Some(e) => Err(format!(
            "cid = {cid} is already used by enclave {}{} ({}): terminate it (`nitro-cli \
             terminate-enclave --enclave-id {}`) or give this enclave another cid",
            e.id,
            e.name
                .as_deref()
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default(),
            e.state,
            e.id
        )),
    }
}

/// The enclave name is one nitro-cli takes as a value: letters, digits, `-`, `_`, `.`, not
/// starting with `-`, at most 64 characters.
pub fn check_enclave_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "enclave_name {name:?} is not usable: use 1-64 letters, digits, `-`, `_` or `.`, not \
             starting with `-` (default `sigil`)"
        ))
    }
}

/// What the local checks found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Each one would make `run-enclave` fail.
    pub problems: Vec<String>,
    /// Checks that could not be made, and why.
    pub warnings: Vec<String>,
    /// The EIF's size, when it could be read.
    pub eif_size: Option<u64>,
    /// The nitro-cli program that will run, when found.
    pub program: Option<PathBuf>,
}

/// Threads per core from `<sysfs>/devices/system/cpu/cpu0/topology/thread_siblings_list`.
pub fn read_threads_per_core(sysfs: &Path) -> Result<u32, String> {
    let path = sysfs.join("devices/system/cpu/cpu0/topology/thread_siblings_list");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = parse_cpu_list(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    u32::try_from(list.len()).map_err(|_| format!("{}: too many siblings", path.display()))
}

/// Runs every check that needs no nitro-cli call, collecting all problems.
pub fn local_checks(s: &NitroCliSettings, path_var: Option<&OsStr>) -> Report {
    let mut report = Report::default();
    match check_program(&s.program, path_var) {
        Ok(p) => report.program = Some(p),
        Err(e) => report.problems.push(e),
    }
    match check_eif(&s.eif_path) {
        Ok(size) => {
            report.eif_size = Some(size);
            if let Err(e) = check_memory_for_eif(s.memory_mib, size, &s.eif_path) {
                report.problems.push(e);
            }
        }
        Err(e) => report.problems.push(e),
    }
    if s.memory_mib == 0 {
        report
            .problems
            .push("memory_mib = 0: give the enclave memory (at least 4 × the EIF size)".into());
    }
    let threads_per_core = match read_threads_per_core(&s.sysfs) {
        Ok(n) => n,
        Err(e) => {
            let n = default_threads_per_core();
            report.warnings.push(format!(
                "CPU topology unreadable ({e}); assuming {n} threads per core"
            ));
            n
        }
    };
    if let Err(e) = check_cpu_count(s.cpu_count, threads_per_core) {
        report.problems.push(e);
    }
    if let Err(e) = check_cid(s.cid) {
        report.problems.push(e);
    }
    if let Err(e) = check_enclave_name(&s.enclave_name) {
        report.problems.push(e);
    }
    match std::fs::read_to_string(&s.allocator_config) {
        Ok(text) => match parse_allocator_config(&text) {
            Ok(cfg) => report.problems.extend(check_allocator(
                &cfg,
                s.memory_mib,
                s.cpu_count,
                &s.allocator_config,
            )),
            Err(e) => report.problems.push(format!(
                "{} cannot be understood ({e}): fix it as in aws-nitro-enclaves-cli's template \
                 (`memory_mib: N` and `cpu_count: N` at the top level) and `{RESTART_ALLOCATOR}`",
                s.allocator_config.display()
            )),
        },
        Err(e) => report.warnings.push(format!(
            "allocator configuration {} unreadable ({e}); its reservation was not checked",
            s.allocator_config.display()
        )),
    }
    let hugepages_dir = s.sysfs.join("kernel/mm/hugepages");
    let evidence = match read_hugepage_pools(&hugepages_dir) {
        Ok(pools) if !pools.is_empty() => Some((HugepageEvidence::Sysfs(pools), hugepages_dir)),
        sysfs => {
            let why = match sysfs {
                Ok(_) => "no hugepage sizes listed".to_string(),
                Err(e) => e.to_string(),
            };
            match std::fs::read_to_string(&s.meminfo)
                .map_err(|e| e.to_string())
                .and_then(|t| parse_meminfo(&t))
            {
                Ok(m) => Some((HugepageEvidence::Meminfo(m), s.meminfo.clone())),
                Err(e) => {
                    report.warnings.push(format!(
                        "free hugepages unknown: {} ({why}) and {} ({e}) could not be read; \
                         the hugepage check was skipped",
                        hugepages_dir.display(),
                        s.meminfo.display()
                    ));
                    None
                }
            }
        }
    };
    if let Some((evidence, source)) = evidence {
        match check_hugepages(&evidence, s.memory_mib, &source) {
            Ok(None) => {}
            Ok(Some(w)) => report.warnings.push(w),
            Err(e) => report.problems.push(e),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_template_allocator_config_parses() {
        // aws-nitro-enclaves-cli v1.5.0 bootstrap/allocator.yaml
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nitro-cli/allocator.yaml"
        ));
        let cfg = parse_allocator_config(text).unwrap();
        assert_eq!(cfg.memory_mib, 512);
        assert_eq!(cfg.cpus, CpuReservation::Count(2));
    }

    #[test]
    fn allocator_variants_and_mistakes() {
        let cfg =
            parse_allocator_config("---\nmemory_mib: \"8192\" # big\ncpu_pool: 2,3,6-9\n").unwrap();
        assert_eq!(cfg.memory_mib, 8192);
        assert_eq!(cfg.cpus, CpuReservation::Pool(vec![2, 3, 6, 7, 8, 9]));
        assert_eq!(cfg.cpus.cpus(), 6);
        let e = parse_allocator_config("memory_mib: 1\ncpu_count: 2\ncpu_pool: 1,2\n").unwrap_err();
        assert!(e.contains("both set"), "{e}");
        let e = parse_allocator_config("cpu_count: 2\n").unwrap_err();
        assert!(e.contains("`memory_mib` is missing"), "{e}");
        let e = parse_allocator_config("memory_mib: lots\ncpu_count: 2\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let e = parse_allocator_config("memory_mib: 4\n").unwrap_err();
        assert!(e.contains("neither"), "{e}");
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0,8\n").unwrap(), vec![0, 8]);
        assert_eq!(parse_cpu_list("0-1").unwrap(), vec![0, 1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("1,,2").is_err());
        assert!(parse_cpu_list("x").is_err());
    }

    #[test]
    fn meminfo_with_1g_pages_reserved_is_inconclusive() {
        // /proc/meminfo hugepage lines recorded on an m5 host after the allocator reserved
        // 1 GiB as one 1 GiB page (see tests/fixtures/nitro-cli/README.md).
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nitro-cli/meminfo-1g-pages.txt"
        ));
        let m = parse_meminfo(text).unwrap();
        assert_eq!(
            (m.hugepages_total, m.hugepages_free, m.hugepage_size_kib),
            (0, 0, 2048)
        );
        assert_eq!(m.hugetlb_kib, Some(1_048_576));
        let w = check_hugepages(
            &HugepageEvidence::Meminfo(m),
            1024,
            Path::new("/proc/meminfo"),
        )
        .unwrap()
        .unwrap();
        assert!(w.contains("skipped"), "{w}");
    }

    #[test]
    fn meminfo_shortfall_is_a_problem() {
        let m = Meminfo {
            hugepages_total: 256,
            hugepages_free: 256,
            hugepage_size_kib: 2048,
            hugetlb_kib: Some(524_288),
        };
        let e = check_hugepages(
            &HugepageEvidence::Meminfo(m),
            1024,
            Path::new("/proc/meminfo"),
        )
        .unwrap_err();
        assert!(e.contains("only 512 MiB of hugepages are free"), "{e}");
        assert!(
            check_hugepages(&HugepageEvidence::Meminfo(m), 512, Path::new("x"))
                .unwrap()
                .is_none()
        );
        let pools = HugepageEvidence::Sysfs(vec![
            HugepagePool {
                page_kib: 1_048_576,
                free: 1,
            },
            HugepagePool {
                page_kib: 2048,
                free: 256,
            },
        ]);
        assert!(
            check_hugepages(&pools, 1536, Path::new("x"))
                .unwrap()
                .is_none()
        );
        assert!(check_hugepages(&pools, 1537, Path::new("x")).is_err());
        assert!(parse_meminfo("MemTotal: 1 kB\n").is_err());
    }

    #[test]
    fn memory_against_the_eif_matches_nitro_cli() {
        // nitro-cli: `ENCLAVE_MEMORY_EIF_SIZE_RATIO * eif_size > requested_mem` fails.
        let eif = Path::new("a.eif");
        assert!(check_memory_for_eif(4, MIB, eif).is_ok());
        let e = check_memory_for_eif(3, MIB, eif).unwrap_err();
        assert!(e.contains("at least 4"), "{e}");
        assert_eq!(min_memory_mib(197_515_395), 756);
        assert_eq!(min_memory_mib(1), 4);
    }

    #[test]
    fn cpu_counts_and_cids() {
        assert!(check_cpu_count(2, 2).is_ok());
        assert!(check_cpu_count(3, 1).is_ok());
        let e = check_cpu_count(3, 2).unwrap_err();
        assert!(e.contains("Use 2 or 4"), "{e}");
        let e = check_cpu_count(1, 2).unwrap_err();
        assert!(e.contains("Use 2"), "{e}");
        assert!(check_cpu_count(0, 2).is_err());
        for bad in [0, 1, 2, 3, u32::MAX] {
            assert!(check_cid(bad).is_err(), "{bad}");
        }
        assert!(check_cid(4).is_ok());
        assert!(check_cid(16).is_ok());
    }

    #[test]
    fn programs_are_looked_up_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("nitro-cli");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let path = std::env::join_paths([dir.path()]).unwrap();
        assert!(
            check_program(Path::new("nitro-cli"), Some(&path)).is_err(),
            "not executable yet"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            check_program(Path::new("nitro-cli"), Some(&path)).unwrap(),
            exe
        );
        assert_eq!(check_program(&exe, None).unwrap(), exe);
        assert!(check_program(Path::new("nitro-cli"), None).is_err());
        assert!(check_program(&dir.path().join("nope"), None).is_err());
    }
}
