//! nitro-cli's error output, parsed and translated into what an operator should do.
//!
//! nitro-cli (v1.5.0, `src/common/mod.rs` `construct_error_message`) prints every failure to
//! stderr as a block:
//!
//! ```text
//! [ E26 ] Insufficient memory requested. User provided `memory` is 512 MB, but ...
//!
//! For more details, please visit https://docs.aws.amazon.com/enclaves/latest/user/cli-errors.html#E26
//!
//! If you open a support ticket, please provide the error log found at "/var/log/nitro_enclaves/err<time>.log"
//! ```
//!
//! With `BACKTRACE=1` in its environment (set by the runner) a `Backtrace:` section sits between
//! the link and the log line; its last subaction is the root cause, e.g. the driver's reason
//! for an `E29` ioctl failure. A failed `run-enclave` prints two blocks: the enclave process's
//! error first (the real cause), then `Failed connections: 1` and a generic `E39`. So the
//! first block is the one that is mapped. The codes and texts are those of
//! `src/common/document_errors.rs`; `docs/enclave-lifecycle.md` has the table with sources.

use std::path::Path;

/// Longest message or root cause kept from nitro-cli's output (it is untrusted input).
const MAX_TEXT: usize = 600;
/// At most this many error blocks are parsed from one output.
const MAX_BLOCKS: usize = 8;

/// One `[ Exx ]` block from nitro-cli's stderr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CliError {
    /// `E26`, `E39`, ...
    pub code: String,
    /// The error text: its first line and the lines that continue it, joined by spaces.
    pub message: String,
    /// The last backtrace subaction (printed with `BACKTRACE=1`), e.g.
    /// `The enclave cannot start because full CPU cores have not been set`.
    pub root_cause: Option<String>,
    /// The `/var/log/nitro_enclaves/err*.log` file nitro-cli wrote the backtrace to.
    pub log_file: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// The error's own text (until the first blank line).
    Message,
    /// Links, blank lines, the log pointer.
    Trailer,
    /// `Backtrace:` seen, before `Subactions:`.
    Backtrace,
    /// Inside `Subactions:`.
    Subactions,
}

/// Finds `[ Exx ]` in a line: returns the code and the text after the bracket.
fn error_marker(line: &str) -> Option<(String, &str)> {
    let start = line.find("[ E")?;
    let rest = &line[start + 3..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    let after = rest[digits.len()..].strip_prefix(" ]")?;
    Some((format!("E{digits}"), after.trim()))
}

/// Keeps printable characters only and caps the length.
pub(crate) fn clean(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if out.chars().count() > MAX_TEXT {
        out = out.chars().take(MAX_TEXT).collect::<String>() + "...";
    }
    out
}

/// Parses every `[ Exx ]` block of nitro-cli's stderr, in order.
pub fn parse_stderr(stderr: &str) -> Vec<CliError> {
    let mut blocks: Vec<CliError> = Vec::new();
    let mut section = Section::Trailer;
    let mut subactions: Vec<String> = Vec::new();
    let finish = |blocks: &mut Vec<CliError>, subactions: &mut Vec<String>| {
        if let (Some(last), Some(cause)) = (blocks.last_mut(), subactions.last())
            && last.root_cause.is_none()
        {
            last.root_cause = Some(clean(cause));
        }
        subactions.clear();
    };
    for line in stderr.lines() {
        if let Some((code, text)) = error_marker(line) {
            finish(&mut blocks, &mut subactions);
            if blocks.len() == MAX_BLOCKS {
                break;
            }
            blocks.push(CliError {
                code,
                message: clean(text),
                ..CliError::default()
            });
            section = Section::Message;
            continue;
        }
        let Some(current) = blocks.last_mut() else {
            continue;
        };
        let trimmed = line.trim();
        if let Some(path) = trimmed
            .strip_prefix("If you open a support ticket, please provide the error log found at")
        {
            current.log_file = Some(clean(path.trim().trim_matches('"')));
            finish(&mut blocks, &mut subactions);
            section = Section::Trailer;
            continue;
        }
        match section {
            Section::Message if trimmed.is_empty() => section = Section::Trailer,
            Section::Message if current.message.len() < MAX_TEXT => {
                current.message = clean(&format!("{} {trimmed}", current.message));
            }
            Section::Trailer | Section::Backtrace | Section::Subactions
                if trimmed == "Backtrace:" =>
            {
                section = Section::Backtrace;
            }
            Section::Backtrace if trimmed == "Subactions:" => section = Section::Subactions,
            Section::Subactions if trimmed.starts_with("Root error file:") => {
                finish(&mut blocks, &mut subactions);
                section = Section::Trailer;
            }
            Section::Subactions if !trimmed.is_empty() && subactions.len() < 64 => {
                subactions.push(trimmed.to_string());
            }
            _ => {}
        }
    }
    finish(&mut blocks, &mut subactions);
    blocks
}

/// What the hints may quote from the runner's settings.
#[derive(Clone, Copy, Debug)]
pub struct HintContext<'a> {
    /// The subcommand that failed.
    pub command: &'static str,
    /// `--memory` that was asked for, MiB.
    pub memory_mib: u64,
    /// `--cpu-count` that was asked for.
    pub cpu_count: u32,
    /// `--enclave-cid` that was asked for.
    pub cid: u32,
    /// The EIF.
    pub eif_path: &'a Path,
    /// The allocator's configuration file.
    pub allocator_config: &'a Path,
}

const RESTART_ALLOCATOR: &str = "sudo systemctl restart nitro-enclaves-allocator.service";

fn contains(haystack: &Option<String>, needle: &str) -> bool {
    haystack.as_deref().is_some_and(|h| {
        h.to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    })
}

/// The first number after `marker` in `text`, e.g. the minimum memory in an E26 message.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())?
        .parse()
        .ok()
}

/// What the operator should do about `err`; `None` only for codes nitro-cli does not define.
pub fn hint(err: &CliError, ctx: &HintContext<'_>) -> Option<String> {
    let msg = Some(err.message.clone());
    let cause = &err.root_cause;
    let alloc = ctx.allocator_config.display();
    let eif = ctx.eif_path.display();
    let text = match err.code.as_str() {
        "E01" | "E02" | "E03" | "E14" => format!(
            "nitro-cli rejected the arguments parent-agent passed ({}): check eif_path, cpu_count, \
             memory_mib and cid in the enclave settings, and that nitro-cli is 1.2 or later",
            ctx.command
        ),
        "E04" | "E05" | "E06" | "E54" | "E55" => "nitro-cli could not start its enclave process: \
             check the host's process and file-descriptor limits and nitro-cli's log, then retry"
            .to_string(),
        "E07" | "E40" => {
            "nitro-cli could not use its sockets directory /run/nitro_enclaves: check \
             that it exists and that the service user is in the `ne` group (re-run nitro-cli's \
             configuration if it is missing)"
                .to_string()
        }
        "E08" | "E11" => "nitro-cli could not reach an enclave process through its socket in \
             /run/nitro_enclaves: if the enclave ID is stale the enclave is gone; otherwise check \
             the directory's permissions (`ne` group) and `nitro-cli describe-enclaves`"
            .to_string(),
        "E18" | "E56" => "nitro-cli cannot write its log under /var/log/nitro_enclaves: add the \
             service user to the `ne` group and make /var/log/nitro_enclaves/nitro_enclaves.log \
             writable by that group"
            .to_string(),
        "E19" if contains(&msg, "/dev/nitro_enclaves") || contains(cause, "device file") => {
            if contains(cause, "PermissionDenied") || contains(cause, "permission denied") {
                "the service user may not open /dev/nitro_enclaves: add it to the `ne` group \
                 (`sudo usermod -aG ne <user>`) and restart parent-agent"
                    .to_string()
            } else {
                "/dev/nitro_enclaves is missing or cannot be opened: launch the instance with \
                 enclave support enabled (EnclaveOptions Enabled=true), load the nitro_enclaves \
                 driver (`lsmod | grep nitro_enclaves`), and run parent-agent as a member of the \
                 `ne` group"
                    .to_string()
            }
        }
        "E19" if contains(&msg, "ne_cpus") => "the nitro_enclaves driver is not loaded (its CPU \
             pool file /sys/module/nitro_enclaves/parameters/ne_cpus is missing): install \
             aws-nitro-enclaves-cli, load the driver, then `sudo systemctl enable --now \
             nitro-enclaves-allocator.service`"
            .to_string(),
        "E19" => format!(
            "nitro-cli could not open or read a file (see `File:` in the message); for the EIF, \
             check that {eif} exists and is readable by the service user"
        ),
        "E20" | "E21" => format!(
            "the requested CPUs are not in the enclave CPU pool: edit `cpu_pool`/`cpu_count` in \
             {alloc}, then `{RESTART_ALLOCATOR}`"
        ),
        "E22" => format!(
            "the enclave CPU pool is smaller than cpu_count = {}: set `cpu_count: {}` (or a larger \
             `cpu_pool`) in {alloc}, then `{RESTART_ALLOCATOR}`; or lower the enclave's cpu_count",
            ctx.cpu_count, ctx.cpu_count
        ),
        "E23" | "E24" => "nitro-cli could not read the host's CPU list (`lscpu`): check that \
             util-linux is installed and that `lscpu` works for the service user"
            .to_string(),
        "E25" | "E35" | "E42" => format!(
            "the enclave's memory could not be set up from hugepages (nitro-cli #232): check \
             `grep Huge /proc/meminfo`, set `memory_mib` ≥ {} in {alloc} and `{RESTART_ALLOCATOR}`; \
             if it persists, check the EIF with `nitro-cli describe-eif --eif-path {eif}`",
            ctx.memory_mib
        ),
        "E26" => {
            let minimum = number_after(&err.message, "minimum memory should be")
                .map(|m| format!("at least {m} MiB"))
                .unwrap_or_else(|| "at least 4 × the EIF size".to_string());
            format!(
                "memory_mib = {} is too small for this EIF (nitro-cli requires 4 × the EIF size so \
                 the initramfs can unpack, nitro-cli #196): raise the enclave's memory_mib to \
                 {minimum}, and `memory_mib` in {alloc} with it (then `{RESTART_ALLOCATOR}`)",
                ctx.memory_mib
            )
        }
        "E27" => format!(
            "the allocator reserved less hugepage memory than memory_mib = {}: set `memory_mib: {}` \
             (or more) in {alloc}, then `{RESTART_ALLOCATOR}`; or lower the enclave's memory_mib",
            ctx.memory_mib, ctx.memory_mib
        ),
        "E28" => "the driver refused to create an enclave slot (NE_CREATE_VM): check that the \
             instance type supports enclaves, that enclave support is enabled on the instance, and \
             that no other enclave is already running"
            .to_string(),
        "E29" | "E30" | "E31" | "E32" | "E33" => ioctl_hint(err, ctx),
        "E34" => "the EIF does not fit in the enclave's memory regions: raise memory_mib (and the \
             allocator's memory_mib) or rebuild a smaller EIF"
            .to_string(),
        "E36" if contains(cause, "vsock bind") => {
            "another `nitro-cli run-enclave` was starting an \
             enclave at the same time (the boot heartbeat port, vsock 3:9000, was busy; nitro-cli \
             #516): start enclaves one at a time and retry"
                .to_string()
        }
        "E36" => format!(
            "the enclave did not signal that it booted: check that {eif} was built for this \
             architecture and is not corrupt (`nitro-cli describe-eif`), that its signing \
             certificate has not expired (an expired one fails with E36, E39 and E11), and that \
             memory_mib ≥ 4 × the EIF size; to see the kernel's output, start with debug_mode and \
             run `nitro-cli console --enclave-name <name>`"
        ),
        "E37" | "E41" => "nitro-cli's enclave process lost track of the enclave: check \
             `nitro-cli describe-enclaves`, terminate a leftover enclave, and retry"
            .to_string(),
        "E38" | "E39" => {
            "nitro-cli's enclave process failed without another error: read nitro-cli's \
             log below and /var/log/nitro_enclaves/nitro_enclaves.log, and check `dmesg | grep \
             nitro_enclaves`"
                .to_string()
        }
        "E44" | "E45" | "E46" | "E47" | "E53" => "the enclave console could not be read (only \
             enclaves started with debug_mode have one)"
            .to_string(),
        "E57" | "E59" => format!(
            "nitro-cli could not verify {eif} (hashing or signing-certificate check failed): \
             rebuild or re-sign the EIF"
        ),
        "E58" => "nitro-cli rejected the enclave name: use letters, digits, `-` and `_` in \
             enclave_name"
            .to_string(),
        "E00" | "E09" | "E10" | "E12" | "E13" | "E15" | "E16" | "E17" | "E43" | "E48" | "E49"
        | "E50" | "E51" | "E52" | "E60" => format!(
            "internal nitro-cli failure: run `nitro-cli explain --error-code {}` and read \
             nitro-cli's log; retry, and report it if it persists",
            err.code
        ),
        _ => return None,
    };
    Some(text)
}

/// The driver's reason for an ioctl failure is only in the backtrace (`BACKTRACE=1`).
fn ioctl_hint(err: &CliError, ctx: &HintContext<'_>) -> String {
    let cause = &err.root_cause;
    let alloc = ctx.allocator_config.display();
    if contains(cause, "full CPU cores") {
        format!(
            "the driver only accepts full CPU cores: cpu_count = {} must be a multiple of the \
             threads per core (even on x86_64 with hyper-threading); use an even cpu_count and a \
             CPU pool of full cores in {alloc}",
            ctx.cpu_count
        )
    } else if contains(cause, "enclave CID is invalid") {
        format!(
            "cid = {} is reserved (0-2 are well-known, 3 is the parent): use a CID of 4 or more",
            ctx.cid
        )
    } else if contains(cause, "different NUMA nodes") {
        format!(
            "the hugepages and the enclave CPUs are on different NUMA nodes: `{RESTART_ALLOCATOR}` \
             so it reserves memory next to the CPU pool configured in {alloc}"
        )
    } else if contains(cause, "maximum number of memory regions")
        || contains(cause, "not backed by")
        || contains(cause, "multiple of 2 MiB")
    {
        format!(
            "the hugepage memory is too fragmented for the enclave: `{RESTART_ALLOCATOR}` (it \
             prefers large pages), or reserve the hugepages at boot; memory_mib = {}",
            ctx.memory_mib
        )
    } else if contains(cause, "no CPUs") || contains(cause, "not available in the CPU pool") {
        format!("the enclave CPU pool is empty or too small: fix {alloc} and `{RESTART_ALLOCATOR}`")
    } else if contains(cause, "already used") {
        "a vCPU or memory region is still held by another enclave: terminate leftover enclaves \
         (`nitro-cli describe-enclaves`) and retry"
            .to_string()
    } else {
        format!(
            "an ioctl to the Nitro Enclaves driver failed; `dmesg | grep nitro_enclaves` names \
             the reason. Common causes: a cpu_count (here {}) that is not a whole number of cores \
             (\"Full CPU cores not used\"), a CID (here cid = {}) already used by another \
             enclave, a CPU pool or hugepages left over by a previous enclave (retry, or \
             `{RESTART_ALLOCATOR}`, nitro-cli #433)",
            ctx.cpu_count, ctx.cid
        )
    }
}

/// nitro-cli's stderr from a failed command without any `[ Exx ]` block (e.g. its argument
/// parser's complaint): the first non-empty line, and a hint when it is recognisable.
pub fn unstructured(stderr: &str) -> (String, Option<String>) {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(clean)
        .unwrap_or_default();
    let lower = line.to_ascii_lowercase();
    let hint = (lower.contains("wasn't expected")
        || lower.contains("unexpected argument")
        || lower.contains("unrecognized subcommand"))
    .then(|| {
        "this nitro-cli does not know an argument parent-agent uses (--enclave-name needs \
         nitro-cli 1.2 or later): upgrade aws-nitro-enclaves-cli"
            .to_string()
    });
    (line, hint)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const E26: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nitro-cli/errors/E26-insufficient-memory-requested.txt"
    ));
    const E19_BT: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nitro-cli/errors/E19-dev-missing-backtrace.txt"
    ));

    fn ctx() -> HintContext<'static> {
        HintContext {
            command: "run-enclave",
            memory_mib: 512,
            cpu_count: 2,
            cid: 16,
            eif_path: Path::new("/opt/sigil/sigil.eif"),
            allocator_config: Path::new("/etc/nitro_enclaves/allocator.yaml"),
        }
    }

    #[test]
    fn the_first_block_is_the_cause_and_the_log_file_is_kept() {
        let blocks = parse_stderr(E26);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].code, "E26");
        assert!(
            blocks[0]
                .message
                .starts_with("Insufficient memory requested. User provided `memory` is 512 MB")
        );
        assert_eq!(
            blocks[0].log_file.as_deref(),
            Some("/var/log/nitro_enclaves/err2021-06-18T21:46:43.249503129+00:00.log")
        );
        assert_eq!(blocks[1].code, "E39");
        let hint = hint(&blocks[0], &ctx()).unwrap();
        assert!(hint.contains("at least 2148 MiB"), "{hint}");
    }

    #[test]
    fn the_backtrace_root_cause_is_the_last_subaction() {
        let blocks = parse_stderr(E19_BT);
        assert_eq!(blocks[0].code, "E19");
        assert_eq!(
            blocks[0].root_cause.as_deref(),
            Some(
                "Failed to open device file: Os { code: 2, kind: NotFound, message: \"No such file or directory\" }"
            )
        );
        assert!(blocks[0].message.contains("File: '/dev/nitro_enclaves'"));
    }

    #[test]
    fn markers_are_found_after_a_prefix_and_rejected_when_malformed() {
        assert_eq!(
            error_marker("Failed to forward | [ E11 ] Socket error.")
                .map(|(c, t)| (c, t.to_string())),
            Some(("E11".to_string(), "Socket error.".to_string()))
        );
        assert!(error_marker("[ Exx ] nope").is_none());
        assert!(error_marker("[ E26] nope").is_none());
        assert!(parse_stderr("no errors here\n").is_empty());
    }

    #[test]
    fn control_characters_and_length_are_cleaned() {
        let long = format!("[ E11 ] a\u{1b}[31mb {}", "x".repeat(5000));
        let blocks = parse_stderr(&long);
        assert!(!blocks[0].message.contains('\u{1b}'));
        assert!(blocks[0].message.chars().count() <= MAX_TEXT + 3);
    }

    #[test]
    fn ioctl_causes_get_specific_hints() {
        let mut err = CliError {
            code: "E29".into(),
            message: "Ioctl failure.".into(),
            root_cause: Some(
                "The enclave cannot start because full CPU cores have not been set".into(),
            ),
            log_file: None,
        };
        assert!(
            hint(&err, &ctx())
                .unwrap()
                .contains("multiple of the threads per core")
        );
        err.root_cause = Some(
            "The provided enclave CID is invalid, being a well-known CID or the parent VM CID"
                .into(),
        );
        assert!(hint(&err, &ctx()).unwrap().contains("CID of 4 or more"));
        err.root_cause = None;
        assert!(
            hint(&err, &ctx())
                .unwrap()
                .contains("already used by another enclave")
        );
    }

    #[test]
    fn unknown_codes_have_no_hint_and_clap_errors_are_recognised() {
        let err = CliError {
            code: "E99".into(),
            ..CliError::default()
        };
        assert!(hint(&err, &ctx()).is_none());
        let (line, hint) = unstructured(
            "\nerror: Found argument '--enclave-name' which wasn't expected, or isn't valid in this context\n",
        );
        assert!(line.starts_with("error: Found argument"));
        assert!(hint.unwrap().contains("upgrade"));
    }
}
