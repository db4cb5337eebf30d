//! The nitro-cli runner against a fake `nitro-cli` (`tests/fixtures/nitro-cli/fake-nitro-cli.sh`)
//! that replays recorded nitro-cli outputs (provenance in that directory's README.md) and logs
//! the arguments it was given: start, wait, terminate, error translation, malformed output,
//! timeouts, and the preflight checks against temporary allocator, meminfo and sysfs files.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parent_agent::enclave::runner::nitro_cli::{NitroCli, NitroCliSettings};
use parent_agent::enclave::runner::{EnclaveInfo, Exit, Runner, RunnerError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nitro-cli");
const ID: &str = "i-085fa5ca0e3bda2cb-enc199a65df9f4c82b";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

/// A temporary directory with a `nitro-cli` wrapper around the fake, its replies, and the
/// host files preflight reads.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let wrapper = dir.path().join("nitro-cli");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec '{FIXTURES}/fake-nitro-cli.sh' '{}' \"$@\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let fake = Fake { dir };
        fake.text("describe-enclaves", None, Some("[]\n"), None, 0);
        fake
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn base(&self, sub: &str, n: Option<u32>) -> String {
        match n {
            Some(n) => format!("{sub}.{n}"),
            None => sub.to_string(),
        }
    }

    /// The Nth (or every other) call of `sub` prints these texts and exits with `exit`.
    fn text(
        &self,
        sub: &str,
        n: Option<u32>,
        stdout: Option<&str>,
        stderr: Option<&str>,
        exit: i32,
    ) {
        let base = self.base(sub, n);
        for (ext, content) in [("stdout", stdout), ("stderr", stderr)] {
            let file = self.path(&format!("{base}.{ext}"));
            match content {
                Some(c) => std::fs::write(file, c).unwrap(),
                None => {
                    let _ = std::fs::remove_file(file);
                }
            }
        }
        std::fs::write(self.path(&format!("{base}.exit")), exit.to_string()).unwrap();
        let _ = std::fs::remove_file(self.path(&format!("{base}.sleep")));
    }

    /// The same with recorded fixture files.
    fn reply(
        &self,
        sub: &str,
        n: Option<u32>,
        stdout: Option<&str>,
        stderr: Option<&str>,
        exit: i32,
    ) {
        self.text(
            sub,
            n,
            stdout.map(fixture).as_deref(),
            stderr.map(fixture).as_deref(),
            exit,
        );
    }

    /// The Nth (or every other) call of `sub` hangs for `secs`.
    fn hang(&self, sub: &str, n: Option<u32>, secs: u32) {
        let base = self.base(sub, n);
        for ext in ["stdout", "stderr", "exit"] {
            let _ = std::fs::remove_file(self.path(&format!("{base}.{ext}")));
        }
        std::fs::write(self.path(&format!("{base}.sleep")), secs.to_string()).unwrap();
    }

    /// Every call so far, as argv without the program.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.path("argv.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.split('\t')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }

    fn calls_of(&self, sub: &str) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|c| c.first().map(String::as_str) == Some(sub))
            .collect()
    }

    /// Settings matching the recorded session (`--cpu-count 2`, 1024 MiB, CID 17, debug mode,
    /// name `nginx`), fast polling, and host files that pass preflight.
    fn settings(&self) -> NitroCliSettings {
        let eif = self.path("nginx.eif");
        let f = std::fs::File::create(&eif).unwrap();
        f.set_len(197_515_395).unwrap(); // the recorded nginx.eif's size; sparse
        std::fs::write(
            self.path("allocator.yaml"),
            "---\nmemory_mib: 1024\ncpu_count: 2\n",
        )
        .unwrap();
        let topo = self.path("sys/devices/system/cpu/cpu0/topology");
        std::fs::create_dir_all(&topo).unwrap();
        std::fs::write(topo.join("thread_siblings_list"), "0,8\n").unwrap();
        for (size, free) in [("1048576kB", "1\n"), ("2048kB", "0\n")] {
            let d = self.path(&format!("sys/kernel/mm/hugepages/hugepages-{size}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("free_hugepages"), free).unwrap();
        }
        NitroCliSettings {
            program: self.path("nitro-cli"),
            cpu_count: 2,
            memory_mib: 1024,
            cid: 17,
            debug_mode: true,
            enclave_name: "nginx".into(),
            poll_interval: Duration::from_millis(20),
            command_timeout: Duration::from_secs(20),
            describe_failure_limit: 3,
            allocator_config: self.path("allocator.yaml"),
            meminfo: self.path("meminfo"),
            sysfs: self.path("sys"),
            ..NitroCliSettings::new(eif)
        }
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn started(
    fake: &Fake,
    settings: NitroCliSettings,
) -> Box<dyn parent_agent::enclave::runner::Enclave> {
    fake.reply(
        "run-enclave",
        None,
        Some("run-enclave.stdout"),
        Some("run-enclave.stderr"),
        0,
    );
    NitroCli::new(settings).start().await.unwrap()
}

#[tokio::test]
async fn start_passes_the_settings_and_parses_the_enclave() {
    let fake = Fake::new();
    let settings = fake.settings();
    let eif = settings.eif_path.display().to_string();
    let runner = NitroCli::new(settings.clone());
    assert_eq!(runner.kind(), "nitro-cli");
    let enclave = started(&fake, settings.clone()).await;
    assert_eq!(
        enclave.info(),
        &EnclaveInfo {
            id: ID.into(),
            cid: 17,
            cpus: 2,
            memory_mib: 1024,
            debug_mode: true,
        }
    );
    assert_eq!(
        fake.calls(),
        vec![args(&[
            "run-enclave",
            "--eif-path",
            &eif,
            "--cpu-count",
            "2",
            "--memory",
            "1024",
            "--enclave-cid",
            "17",
            "--enclave-name",
            "nginx",
            "--debug-mode",
        ])]
    );

    // Without debug mode, and other numbers: no `--debug-mode`, the numbers as given.
    let fake = Fake::new();
    let settings = NitroCliSettings {
        debug_mode: false,
        cpu_count: 4,
        memory_mib: 2048,
        cid: 42,
        enclave_name: "sigil".into(),
        ..fake.settings()
    };
    let enclave = started(&fake, settings).await;
    assert!(!enclave.info().debug_mode);
    assert_eq!(
        fake.calls()[0],
        args(&[
            "run-enclave",
            "--eif-path",
            &fake.path("nginx.eif").display().to_string(),
            "--cpu-count",
            "4",
            "--memory",
            "2048",
            "--enclave-cid",
            "42",
            "--enclave-name",
            "sigil",
        ])
    );
}

#[tokio::test]
async fn start_accepts_the_pre_1_2_output_without_a_name() {
    let fake = Fake::new();
    fake.reply("run-enclave", None, Some("run-enclave-1.1.stdout"), None, 0);
    let enclave = NitroCli::new(fake.settings()).start().await.unwrap();
    assert_eq!(enclave.info().id, "i-04e1bfe628305b166-enc17aab64b3f7703d");
    assert_eq!(
        (
            enclave.info().cid,
            enclave.info().cpus,
            enclave.info().memory_mib
        ),
        (42, 8, 20000)
    );
}

#[tokio::test]
async fn wait_resolves_when_describe_stops_listing_it_and_not_before() {
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    fake.reply(
        "describe-enclaves",
        None,
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );

    // While describe lists it RUNNING, wait does not resolve; cancelling it is harmless.
    for _ in 0..3 {
        assert!(
            tokio::time::timeout(Duration::from_millis(100), enclave.wait())
                .await
                .is_err(),
            "wait resolved while the enclave was listed as running"
        );
    }
    let polls_while_running = fake.calls_of("describe-enclaves").len();
    assert!(polls_while_running >= 1, "{polls_while_running} polls");

    fake.reply(
        "describe-enclaves",
        None,
        Some("describe-enclaves-empty.stdout"),
        None,
        0,
    );
    let exit = tokio::time::timeout(Duration::from_secs(20), enclave.wait())
        .await
        .unwrap();
    let Exit::Gone(why) = &exit else {
        panic!("{exit:?}")
    };
    assert!(why.contains("no longer lists") && why.contains(ID), "{why}");
    // Resolved once; asking again does not run describe again.
    let polls = fake.calls_of("describe-enclaves").len();
    assert_eq!(enclave.wait().await, exit);
    assert_eq!(fake.calls_of("describe-enclaves").len(), polls);
    assert!(
        fake.calls_of("describe-enclaves")
            .iter()
            .all(|c| c.len() == 1),
        "no arguments"
    );
}

#[tokio::test]
async fn wait_reports_an_enclave_that_is_terminating() {
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    let terminating = fixture("describe-enclaves-running.stdout").replace("RUNNING", "TERMINATING");
    fake.text("describe-enclaves", None, Some(&terminating), None, 0);
    let exit = tokio::time::timeout(Duration::from_secs(20), enclave.wait())
        .await
        .unwrap();
    assert!(
        matches!(&exit, Exit::Gone(w) if w.contains("TERMINATING")),
        "{exit:?}"
    );
}

#[tokio::test]
async fn transient_describe_failures_are_retried_not_taken_as_exit() {
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    let e11 = Some("errors/E11-enclave-not-found.txt");
    fake.reply("describe-enclaves", Some(1), None, e11, 11);
    fake.reply("describe-enclaves", Some(2), None, e11, 11);
    fake.reply(
        "describe-enclaves",
        Some(3),
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    fake.reply("describe-enclaves", Some(4), None, e11, 11);
    fake.reply("describe-enclaves", Some(5), None, e11, 11);
    fake.reply(
        "describe-enclaves",
        Some(6),
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    fake.text("describe-enclaves", Some(7), Some("not json"), None, 0);
    // every later call: the empty list
    let exit = tokio::time::timeout(Duration::from_secs(20), enclave.wait())
        .await
        .unwrap();
    assert!(
        matches!(&exit, Exit::Gone(w) if w.contains("no longer lists")),
        "{exit:?}"
    );
    assert_eq!(fake.calls_of("describe-enclaves").len(), 8);
}

#[tokio::test]
async fn describe_failures_past_the_limit_end_the_wait() {
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    fake.reply(
        "describe-enclaves",
        None,
        None,
        Some("errors/E11-enclave-not-found.txt"),
        11,
    );
    let exit = tokio::time::timeout(Duration::from_secs(20), enclave.wait())
        .await
        .unwrap();
    let Exit::Gone(why) = &exit else {
        panic!("{exit:?}")
    };
    assert!(
        why.contains("failed 3 times in a row") && why.contains("E11"),
        "{why}"
    );
    assert_eq!(fake.calls_of("describe-enclaves").len(), 3);
}

#[tokio::test]
async fn terminate_passes_the_id_and_ends_the_wait() {
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    fake.reply(
        "terminate-enclave",
        None,
        Some("terminate-enclave.stdout"),
        Some("terminate-enclave.stderr"),
        0,
    );
    enclave.terminate().await.unwrap();
    assert_eq!(
        fake.calls_of("terminate-enclave"),
        vec![args(&["terminate-enclave", "--enclave-id", ID])]
    );
    assert!(fake.calls_of("describe-enclaves").is_empty());
    let exit = tokio::time::timeout(Duration::from_secs(1), enclave.wait())
        .await
        .unwrap();
    assert_eq!(exit, Exit::Gone("terminated by parent-agent".into()));
}

#[tokio::test]
async fn terminate_tolerates_an_enclave_that_is_already_gone() {
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    // nitro-cli has no socket for a stale ID: E11, exit status 11 (src/main.rs).
    fake.reply(
        "terminate-enclave",
        None,
        None,
        Some("errors/E11-enclave-not-found.txt"),
        11,
    );
    enclave.terminate().await.unwrap();
    assert_eq!(fake.calls_of("terminate-enclave").len(), 1);
    assert_eq!(
        fake.calls_of("describe-enclaves").len(),
        1,
        "asked whether it still runs"
    );
    // ...but not when describe still lists it running.
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    fake.reply(
        "terminate-enclave",
        None,
        None,
        Some("errors/E11-enclave-not-found.txt"),
        11,
    );
    fake.reply(
        "describe-enclaves",
        None,
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    let err = enclave.terminate().await.unwrap_err();
    assert!(
        matches!(&err, RunnerError::NitroCli { command: "terminate-enclave", code: Some(c), .. } if c == "E11"),
        "{err}"
    );
}

#[tokio::test]
async fn terminate_reporting_false_is_an_error() {
    let fake = Fake::new();
    let mut enclave = started(&fake, fake.settings()).await;
    let answer = fixture("terminate-enclave.stdout").replace("true", "false");
    fake.text("terminate-enclave", None, Some(&answer), None, 0);
    let err = enclave.terminate().await.unwrap_err();
    assert!(
        matches!(&err, RunnerError::Output { message, .. } if message.contains("Terminated: false")),
        "{err}"
    );
}

/// A failed run-enclave: (recorded stderr, nitro-cli's exit status, code, hint fragments).
const MAPPED: &[(&str, i32, &str, &[&str])] = &[
    (
        "errors/E26-insufficient-memory-requested.txt",
        39,
        "E26",
        &[
            "at least 2148 MiB",
            "memory_mib",
            "err2021-06-18T21:46:43.249503129+00:00.log",
        ],
    ),
    (
        "errors/E27-insufficient-memory-available.txt",
        39,
        "E27",
        &[
            "`memory_mib: 1024`",
            "allocator.yaml",
            "systemctl restart nitro-enclaves-allocator.service",
        ],
    ),
    (
        "errors/E22-insufficient-cpus.txt",
        39,
        "E22",
        &["`cpu_count: 2`", "allocator.yaml"],
    ),
    (
        "errors/E35-hugepages.txt",
        39,
        "E35",
        &["hugepages", "/proc/meminfo"],
    ),
    (
        "errors/E19-dev-nitro-enclaves.txt",
        39,
        "E19",
        &[
            "enclave support enabled",
            "nitro_enclaves driver",
            "`ne` group",
        ],
    ),
    (
        "errors/E19-dev-missing-backtrace.txt",
        19,
        "E19",
        &["enclave support enabled"],
    ),
    (
        "errors/E29-ioctl.txt",
        39,
        "E29",
        &["Full CPU cores not used", "dmesg", "cid = 17"],
    ),
    (
        "errors/E36-boot-failure.txt",
        39,
        "E36",
        &["did not signal", "nitro-cli console"],
    ),
    (
        "errors/E11-enclave-not-found.txt",
        11,
        "E11",
        &["/run/nitro_enclaves"],
    ),
];

#[tokio::test]
async fn nitro_cli_errors_become_actionable() {
    for (file, status, code, hints) in MAPPED {
        let fake = Fake::new();
        fake.reply("run-enclave", None, None, Some(file), *status);
        let err = match NitroCli::new(fake.settings()).start().await {
            Ok(_) => panic!("{file}: started"),
            Err(e) => e,
        };
        let RunnerError::NitroCli {
            command,
            code: got,
            message,
            hint,
        } = &err
        else {
            panic!("{file}: {err}");
        };
        assert_eq!(*command, "run-enclave");
        assert_eq!(got.as_deref(), Some(*code), "{file}");
        assert!(
            !message.is_empty() && !message.contains("[ E"),
            "{file}: {message}"
        );
        let hint = hint.as_deref().unwrap_or_default();
        for h in *hints {
            assert!(hint.contains(h), "{file}: hint {hint:?} lacks {h:?}");
        }
        assert!(err.to_string().contains(&format!("[{code}]")), "{err}");
        // nitro-cli cleaned up after itself: no describe/terminate from the runner.
        assert_eq!(fake.calls().len(), 1, "{file}");
    }
}

#[tokio::test]
async fn the_backtrace_root_cause_reaches_the_message() {
    let fake = Fake::new();
    fake.reply(
        "run-enclave",
        None,
        None,
        Some("errors/E19-dev-missing-backtrace.txt"),
        19,
    );
    let err = NitroCli::new(fake.settings()).start().await.err().unwrap();
    let text = err.to_string();
    assert!(text.contains("File: '/dev/nitro_enclaves'"), "{text}");
    assert!(
        text.contains("cause: Failed to open device file: Os { code: 2, kind: NotFound"),
        "{text}"
    );
}

#[tokio::test]
async fn errors_without_a_code_keep_the_first_line() {
    let fake = Fake::new();
    fake.text(
        "run-enclave",
        None,
        None,
        Some("\nerror: Found argument '--enclave-name' which wasn't expected, or isn't valid in this context\n"),
        1,
    );
    let err = NitroCli::new(fake.settings()).start().await.err().unwrap();
    let RunnerError::NitroCli {
        code,
        message,
        hint,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(code, &None);
    assert!(
        message.starts_with("error: Found argument '--enclave-name'"),
        "{message}"
    );
    assert!(
        hint.as_deref().unwrap_or_default().contains("1.2 or later"),
        "{hint:?}"
    );
}

#[tokio::test]
async fn malformed_json_is_an_output_error() {
    // run-enclave's recorded object cut short.
    let fake = Fake::new();
    let cut: String = fixture("run-enclave.stdout")
        .lines()
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    fake.text(
        "run-enclave",
        None,
        Some(&cut),
        Some(&fixture("run-enclave.stderr")),
        0,
    );
    let err = NitroCli::new(fake.settings()).start().await.err().unwrap();
    assert!(
        matches!(&err, RunnerError::Output { command: "run-enclave", message } if message.contains("run-enclave JSON object") && message.contains("EOF")),
        "{err}"
    );
    // A start that printed nonsense may have left an enclave: the runner looked.
    assert_eq!(fake.calls_of("describe-enclaves").len(), 1);
    assert!(fake.calls_of("terminate-enclave").is_empty());

    // describe-enclaves: an object instead of the array.
    let fake = Fake::new();
    fake.reply(
        "describe-enclaves",
        None,
        Some("run-enclave.stdout"),
        None,
        0,
    );
    let err = NitroCli::new(fake.settings())
        .describe_enclaves()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunnerError::Output { command: "describe-enclaves", message } if message.contains("describe-enclaves JSON array") && message.contains("expected a sequence")),
        "{err}"
    );

    // Empty stdout from a successful command.
    fake.text("describe-eif", None, Some(""), None, 0);
    let err = NitroCli::new(fake.settings())
        .describe_eif()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunnerError::Output { message, .. } if message.contains("empty")),
        "{err}"
    );
}

#[tokio::test]
async fn an_unusable_enclave_id_is_refused_and_the_enclave_cleaned_up() {
    let fake = Fake::new();
    let hostile = fixture("run-enclave.stdout").replace(ID, "--all");
    fake.text("run-enclave", None, Some(&hostile), None, 0);
    fake.reply(
        "describe-enclaves",
        None,
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    fake.reply(
        "terminate-enclave",
        None,
        Some("terminate-enclave.stdout"),
        None,
        0,
    );
    let err = NitroCli::new(fake.settings()).start().await.err().unwrap();
    assert!(
        matches!(&err, RunnerError::Output { message, .. } if message.contains("not an enclave ID")),
        "{err}"
    );
    // The enclave with our name and CID was terminated by the ID describe reported.
    assert_eq!(
        fake.calls_of("terminate-enclave"),
        vec![args(&["terminate-enclave", "--enclave-id", ID])]
    );
}

#[tokio::test]
async fn a_command_that_hangs_is_killed() {
    let fake = Fake::new();
    fake.hang("describe-enclaves", None, 30);
    let settings = NitroCliSettings {
        command_timeout: Duration::from_millis(300),
        ..fake.settings()
    };
    let began = Instant::now();
    let err = NitroCli::new(settings)
        .describe_enclaves()
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunnerError::Timeout { command: "describe-enclaves", timeout } if timeout == Duration::from_millis(300)),
        "{err}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn a_run_enclave_that_hangs_is_killed_and_what_it_left_is_terminated() {
    let fake = Fake::new();
    fake.hang("run-enclave", None, 30);
    fake.reply(
        "describe-enclaves",
        None,
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    fake.reply(
        "terminate-enclave",
        None,
        Some("terminate-enclave.stdout"),
        None,
        0,
    );
    let settings = NitroCliSettings {
        run_timeout: Some(Duration::from_millis(300)),
        ..fake.settings()
    };
    let err = NitroCli::new(settings).start().await.err().unwrap();
    assert!(
        matches!(
            err,
            RunnerError::Timeout {
                command: "run-enclave",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        fake.calls_of("terminate-enclave"),
        vec![args(&["terminate-enclave", "--enclave-id", ID])]
    );
    // Another name or CID is left alone.
    let fake = Fake::new();
    fake.hang("run-enclave", None, 30);
    fake.reply(
        "describe-enclaves",
        None,
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    let settings = NitroCliSettings {
        run_timeout: Some(Duration::from_millis(300)),
        enclave_name: "sigil".into(),
        ..fake.settings()
    };
    NitroCli::new(settings).start().await.err().unwrap();
    assert!(fake.calls_of("terminate-enclave").is_empty());
}

#[tokio::test]
async fn the_default_run_timeout_includes_nitro_clis_boot_allowance() {
    let s = NitroCliSettings {
        command_timeout: Duration::from_secs(30),
        memory_mib: 4096,
        ..NitroCliSettings::new("x.eif")
    };
    assert_eq!(
        s.effective_run_timeout(Some(200 << 20)),
        Duration::from_secs(30 + 60 + 60)
    );
    assert_eq!(
        s.effective_run_timeout(Some(7 << 30)),
        Duration::from_secs(30 + 120 + 60)
    );
    let fixed = NitroCliSettings {
        run_timeout: Some(Duration::from_secs(5)),
        ..s
    };
    assert_eq!(
        fixed.effective_run_timeout(Some(7 << 30)),
        Duration::from_secs(5)
    );
}

#[tokio::test]
async fn describe_eif_reads_the_measurements() {
    let fake = Fake::new();
    fake.reply("describe-eif", None, Some("describe-eif.stdout"), None, 0);
    let settings = fake.settings();
    let eif = settings.eif_path.display().to_string();
    let d = NitroCli::new(settings).describe_eif().await.unwrap();
    assert_eq!(
        d.measurements.pcr2.as_deref(),
        Some(
            "71fe86c32c2f7f6deaae5a096cb50d8ea216461d71b1fa7f5b45ee25b387f95bace57dc2ad02c132e9fc267992194ade"
        )
    );
    assert_eq!(d.image_name.as_deref(), Some("payments-app"));
    assert_eq!(
        fake.calls(),
        vec![args(&["describe-eif", "--eif-path", &eif])]
    );
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let fake = Fake::new();
    let settings = NitroCliSettings {
        program: fake.path("no-such-nitro-cli"),
        ..fake.settings()
    };
    let err = NitroCli::new(settings).start().await.err().unwrap();
    assert!(
        matches!(&err, RunnerError::Spawn { program, .. } if program.ends_with("no-such-nitro-cli")),
        "{err}"
    );
}

// ---- preflight ----

async fn preflight(settings: NitroCliSettings) -> Result<(), String> {
    NitroCli::new(settings)
        .preflight()
        .await
        .map_err(|e| match e {
            RunnerError::Preflight(m) => m,
            other => panic!("not a preflight error: {other}"),
        })
}

#[tokio::test]
async fn preflight_passes_on_a_host_that_is_ready() {
    let fake = Fake::new();
    preflight(fake.settings()).await.unwrap();
    // It asked nitro-cli which CIDs are taken.
    assert_eq!(fake.calls(), vec![args(&["describe-enclaves"])]);
}

#[tokio::test]
async fn preflight_names_a_missing_eif() {
    let fake = Fake::new();
    let settings = NitroCliSettings {
        eif_path: fake.path("missing.eif"),
        ..fake.settings()
    };
    let msg = preflight(settings).await.unwrap_err();
    assert!(
        msg.contains("missing.eif") && msg.contains("build-enclave"),
        "{msg}"
    );
    let settings = NitroCliSettings {
        eif_path: fake.path("sys"),
        ..fake.settings()
    };
    let msg = preflight(settings).await.unwrap_err();
    assert!(msg.contains("not a regular file"), "{msg}");
}

#[tokio::test]
async fn preflight_wants_four_times_the_eif_in_memory() {
    let fake = Fake::new();
    let settings = NitroCliSettings {
        memory_mib: 512,
        ..fake.settings()
    };
    std::fs::write(
        fake.path("allocator.yaml"),
        "memory_mib: 8192\ncpu_count: 2\n",
    )
    .unwrap();
    let msg = preflight(settings).await.unwrap_err();
    // 197515395 bytes round up to 189 MiB; nitro-cli demands 4 × 189 = 756.
    assert!(
        msg.contains("memory_mib = 512 is below 4 ×") && msg.contains("at least 756"),
        "{msg}"
    );
}

#[tokio::test]
async fn preflight_checks_the_allocator_reservation() {
    let fake = Fake::new();
    let settings = fake.settings();
    std::fs::copy(
        Path::new(FIXTURES).join("allocator.yaml"),
        &settings.allocator_config,
    )
    .unwrap();
    let msg = preflight(settings.clone()).await.unwrap_err();
    assert!(
        msg.contains("allocator.yaml reserves memory_mib: 512"),
        "{msg}"
    );
    assert!(
        msg.contains("`memory_mib: 1024`") && msg.contains("nitro-enclaves-allocator.service"),
        "{msg}"
    );

    std::fs::write(
        &settings.allocator_config,
        "memory_mib: 2048\ncpu_pool: 1\n",
    )
    .unwrap();
    let msg = preflight(settings.clone()).await.unwrap_err();
    assert!(
        msg.contains("reserves cpu_pool: 1 CPUs") && msg.contains("cpu_count = 2"),
        "{msg}"
    );

    std::fs::write(&settings.allocator_config, "cpu_count: 2\n").unwrap();
    let msg = preflight(settings).await.unwrap_err();
    assert!(
        msg.contains("cannot be understood") && msg.contains("`memory_mib` is missing"),
        "{msg}"
    );
}

#[tokio::test]
async fn preflight_checks_free_hugepages() {
    let fake = Fake::new();
    let settings = fake.settings();
    // sysfs: 256 free 2 MiB pages and no 1 GiB page.
    std::fs::write(
        settings
            .sysfs
            .join("kernel/mm/hugepages/hugepages-1048576kB/free_hugepages"),
        "0\n",
    )
    .unwrap();
    std::fs::write(
        settings
            .sysfs
            .join("kernel/mm/hugepages/hugepages-2048kB/free_hugepages"),
        "256\n",
    )
    .unwrap();
    let msg = preflight(settings.clone()).await.unwrap_err();
    assert!(
        msg.contains("only 512 MiB of hugepages are free") && msg.contains("kernel/mm/hugepages"),
        "{msg}"
    );

    // Without sysfs pools, /proc/meminfo (the default page size) is used.
    std::fs::remove_dir_all(settings.sysfs.join("kernel")).unwrap();
    std::fs::write(
        &settings.meminfo,
        "MemTotal:       16009224 kB\nHugePages_Total:     256\nHugePages_Free:      256\nHugePages_Rsvd:        0\nHugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:          524288 kB\n",
    )
    .unwrap();
    let msg = preflight(settings.clone()).await.unwrap_err();
    assert!(
        msg.contains("only 512 MiB") && msg.contains("meminfo"),
        "{msg}"
    );

    // meminfo showing only 1 GiB pages cannot tell: a warning, not a failure.
    std::fs::copy(
        Path::new(FIXTURES).join("meminfo-1g-pages.txt"),
        &settings.meminfo,
    )
    .unwrap();
    preflight(settings.clone()).await.unwrap();

    // Neither readable: skipped, said so in the log, no panic.
    std::fs::remove_file(&settings.meminfo).unwrap();
    preflight(settings).await.unwrap();
}

#[tokio::test]
async fn preflight_wants_whole_cores() {
    let fake = Fake::new();
    let settings = NitroCliSettings {
        cpu_count: 3,
        ..fake.settings()
    };
    std::fs::write(
        fake.path("allocator.yaml"),
        "memory_mib: 1024\ncpu_count: 4\n",
    )
    .unwrap();
    let msg = preflight(settings.clone()).await.unwrap_err();
    assert!(
        msg.contains("cpu_count = 3 is not a whole number of CPU cores")
            && msg.contains("Use 2 or 4"),
        "{msg}"
    );
    // A host without SMT (one thread per core) takes 3.
    std::fs::write(
        settings
            .sysfs
            .join("devices/system/cpu/cpu0/topology/thread_siblings_list"),
        "0\n",
    )
    .unwrap();
    std::fs::write(
        settings
            .sysfs
            .join("kernel/mm/hugepages/hugepages-1048576kB/free_hugepages"),
        "2\n",
    )
    .unwrap();
    preflight(settings).await.unwrap();
}

#[tokio::test]
async fn preflight_refuses_a_cid_in_use() {
    let fake = Fake::new();
    fake.reply(
        "describe-enclaves",
        None,
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    let msg = preflight(fake.settings()).await.unwrap_err();
    assert!(
        msg.contains(&format!(
            "cid = 17 is already used by enclave {ID} \"nginx\" (RUNNING)"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("nitro-cli terminate-enclave --enclave-id {ID}")),
        "{msg}"
    );
    // Another CID is fine.
    preflight(NitroCliSettings {
        cid: 16,
        ..fake.settings()
    })
    .await
    .unwrap();
    // A reserved CID is refused before nitro-cli is asked.
    let msg = preflight(NitroCliSettings {
        cid: 3,
        ..fake.settings()
    })
    .await
    .unwrap_err();
    assert!(msg.contains("cid = 3 is the parent"), "{msg}");
}

#[tokio::test]
async fn preflight_reports_every_problem_and_a_missing_program() {
    let fake = Fake::new();
    let settings = NitroCliSettings {
        program: fake.path("not-installed/nitro-cli"),
        cpu_count: 1,
        cid: 2,
        eif_path: fake.path("missing.eif"),
        ..fake.settings()
    };
    let msg = preflight(settings).await.unwrap_err();
    assert!(msg.starts_with("4 problems: (1) program"), "{msg}");
    assert!(
        msg.contains("aws-nitro-enclaves-cli")
            && msg.contains("missing.eif")
            && msg.contains("cpu_count = 1")
            && msg.contains("cid = 2"),
        "{msg}"
    );
    assert!(fake.calls().is_empty(), "no nitro-cli to ask");
}

#[tokio::test]
async fn preflight_reports_a_failing_describe() {
    let fake = Fake::new();
    fake.reply(
        "describe-enclaves",
        None,
        None,
        Some("errors/E11-enclave-not-found.txt"),
        11,
    );
    let msg = preflight(fake.settings()).await.unwrap_err();
    assert!(
        msg.contains("whether cid = 17 is free is unknown") && msg.contains("[E11]"),
        "{msg}"
    );
}

#[tokio::test]
async fn preflight_terminates_an_enclave_of_its_own_name_and_cid_left_running() {
    // A previous parent-agent died without stopping its enclave: the new one terminates it
    // (a new boot re-attests) instead of refusing the CID forever.
    let fake = Fake::new();
    fake.reply(
        "describe-enclaves",
        Some(1),
        Some("describe-enclaves-running.stdout"),
        None,
        0,
    );
    fake.reply(
        "describe-enclaves",
        Some(2),
        Some("describe-enclaves-empty.stdout"),
        None,
        0,
    );
    fake.reply(
        "terminate-enclave",
        None,
        Some("terminate-enclave.stdout"),
        Some("terminate-enclave.stderr"),
        0,
    );
    preflight(NitroCliSettings {
        cid: 17,
        enclave_name: "nginx".into(),
        ..fake.settings()
    })
    .await
    .unwrap();
    assert_eq!(
        fake.calls_of("terminate-enclave"),
        vec![args(&["terminate-enclave", "--enclave-id", ID])]
    );
}
