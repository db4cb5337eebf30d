//! The systemd unit (`systemd/parent-agent.service`) passes `systemd-analyze verify`, and
//! deliberately broken copies of it do not; the `ExecStartPre` fetch script
//! (`systemd/sigil-fetch-bundle.sh`) copies exactly the bundle's three ciphertext files with
//! restrictive modes and refuses what it must.
//!
//! `systemd-analyze verify` (apt package `systemd`) also checks that every `ExecStart*=` binary
//! exists and that units named in `Requires=` can be loaded. The test works on a copy of the
//! unit in a temporary directory in which exactly two things are rewritten — the
//! `ExecStartPre=` path (`/usr/local/libexec/sigil/sigil-fetch-bundle.sh`) and the
//! `ExecStart=` binary path (`/usr/local/bin/parent-agent`, its arguments kept) now point at a
//! stub executable the test creates — and next to which two stub units stand in for the ones
//! the `aws-nitro-enclaves-cli` package ships (`nitro-enclaves-allocator.service`,
//! `nitro-enclaves-vsock-proxy.service`); `verify` loads units named by a unit from that
//! unit's directory. Every other line is verified as written. `verify` reports unknown
//! directives and unparsable lines as warnings with exit status 0, so a clean result means
//! exit status 0 *and* nothing printed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SYSTEMD_ANALYZE: &str = "systemd-analyze";
const FETCH_PRE: &str = "ExecStartPre=/usr/local/libexec/sigil/sigil-fetch-bundle.sh";
const EXEC_START: &str = "ExecStart=/usr/local/bin/parent-agent ";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn unit_text() -> String {
    fs::read_to_string(repo_file("systemd/parent-agent.service")).unwrap()
}

/// The unit with its two executable paths pointed at `stub` (see the module comment).
fn rewritten(unit: &str, stub: &Path) -> String {
    let mut pre = 0;
    let mut start = 0;
    let out: Vec<String> = unit
        .lines()
        .map(|l| {
            if l == FETCH_PRE {
                pre += 1;
                format!("ExecStartPre={}", stub.display())
            } else if let Some(args) = l.strip_prefix(EXEC_START) {
                start += 1;
                format!("ExecStart={} {args}", stub.display())
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert_eq!(
        (pre, start),
        (1, 1),
        "the unit must have exactly one `{FETCH_PRE}` and one `{EXEC_START}…` line"
    );
    out.join("\n") + "\n"
}

struct Sandbox {
    dir: tempfile::TempDir,
    stub: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let stub = dir.path().join("stub-executable");
        fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
        for name in [
            "nitro-enclaves-allocator.service",
            "nitro-enclaves-vsock-proxy.service",
        ] {
            fs::write(
                dir.path().join(name),
                format!(
                    "[Unit]\nDescription=stand-in for aws-nitro-enclaves-cli's {name}\n\n[Service]\nType=oneshot\nExecStart={}\n",
                    stub.display()
                ),
            )
            .unwrap();
        }
        Sandbox { dir, stub }
    }

    /// Writes `text` as unit `name` and verifies it: `Err` with systemd's words on any finding.
    fn verify(&self, name: &str, text: &str) -> Result<(), String> {
        let path = self.dir.path().join(name);
        fs::write(&path, text).unwrap();
        let out: Output = Command::new(SYSTEMD_ANALYZE)
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!("{SYSTEMD_ANALYZE}: {e} (install the `systemd` package: apt-get install systemd)")
            });
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() && said.trim().is_empty() {
            Ok(())
        } else {
            Err(format!("{}: {said}", out.status))
        }
    }
}

#[test]
fn the_unit_verifies_and_broken_copies_do_not() {
    let sb = Sandbox::new();
    let good = rewritten(&unit_text(), &sb.stub);
    sb.verify("parent-agent.service", &good)
        .expect("systemd-analyze verify on the unit");

    // Each of these must be caught.
    let broken = [
        (
            "an unknown directive",
            good.replace("[Service]\n", "[Service]\nNoSuchDirective=yes\n"),
        ),
        (
            "a line without `=`",
            good.replace("Type=notify", "Type notify"),
        ),
        (
            "an invalid value",
            good.replace("Restart=always", "Restart=sometimes"),
        ),
        (
            "a misspelt hardening directive",
            good.replace("ProtectSystem=strict", "ProtectSytem=strict"),
        ),
        (
            "a missing ExecStart binary",
            good.replace(&sb.stub.display().to_string(), "/nonexistent/parent-agent"),
        ),
    ];
    for (what, text) in broken {
        assert_ne!(text, good, "{what}: the breakage did not apply");
        let r = sb.verify("parent-agent-broken.service", &text);
        assert!(r.is_err(), "{what}: systemd-analyze verify accepted it");
    }
}

#[test]
fn the_unit_says_what_the_design_requires() {
    let unit = unit_text();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for want in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "Restart=always",
        "ExecStartPre=/usr/local/libexec/sigil/sigil-fetch-bundle.sh",
        "ExecStart=/usr/local/bin/parent-agent run --config /etc/sigil/parent-agent.toml",
        "RuntimeDirectory=sigil",
        "RuntimeDirectoryMode=0700",
        "User=sigil",
        "SupplementaryGroups=ne",
        "Requires=nitro-enclaves-allocator.service",
        "Conflicts=nitro-enclaves-vsock-proxy.service",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DeviceAllow=/dev/nitro_enclaves rw",
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=",
        "KillMode=mixed",
    ] {
        assert!(lines.contains(&want), "the unit lacks `{want}`");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("After=") && l.contains("nitro-enclaves-allocator.service")),
        "After=nitro-enclaves-allocator.service"
    );
    // The stop timeout covers the default 30 s drain.
    let stop = lines
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec=");
    let stop = humantime::parse_duration(stop).unwrap();
    assert!(stop > std::time::Duration::from_secs(30), "{stop:?}");
    // PrivateDevices=yes would hide /dev/nitro_enclaves.
    assert!(!lines.contains(&"PrivateDevices=yes"));
}

// ---- the fetch script ----

const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n-> X25519 AAAA\nBBBB\n--- CCCC\n\x01\x02\x03";
const KMS_BLOB: &[u8] = b"\x01\x02\x02\x00\x78\x9a\xbc not plaintext";

fn script() -> PathBuf {
    repo_file("systemd/sigil-fetch-bundle.sh")
}

fn run_script(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut c = Command::new("bash");
    c.arg(script()).args(args);
    c.env_remove("SIGIL_BUNDLE_SOURCE")
        .env_remove("SIGIL_BUNDLE_DIR")
        .env_remove("RUNTIME_DIRECTORY");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn source_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        fs::write(d.path().join(name), bytes).unwrap();
    }
    d
}

fn full_source() -> tempfile::TempDir {
    source_dir(&[
        ("age-private.key.enc", KMS_BLOB),
        ("service_key_shares.json.age", AGE_HEADER),
        (
            "service_tls.json.age",
            b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
        ),
        // Not part of the bundle: must not be copied.
        ("README.txt", b"unrelated"),
    ])
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_script_is_bash_clean_and_executable() {
    let o = Command::new("bash")
        .arg("-n")
        .arg(script())
        .output()
        .unwrap();
    assert!(o.status.success(), "bash -n: {}", stderr(&o));
    assert!(
        mode(&script()) & 0o111 != 0,
        "sigil-fetch-bundle.sh must be executable in git"
    );
}

#[test]
fn dry_run_names_the_three_files_and_touches_nothing() {
    let src = full_source();
    let run = tempfile::tempdir().unwrap();
    let url = format!("file://{}", src.path().display());
    let o = run_script(
        &["--dry-run", "--source", &url],
        &[("RUNTIME_DIRECTORY", run.path())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let dest = run.path().join("bundle");
    for f in [
        "age-private.key.enc",
        "service_key_shares.json.age",
        "service_tls.json.age",
    ] {
        assert!(
            out.contains(&format!("{}/{f}", dest.display())),
            "{f} in: {out}"
        );
    }
    assert!(!out.contains("README"), "{out}");
    assert!(!dest.exists(), "a dry run created {}", dest.display());

    // S3 and SSM sources dry-run without the aws CLI being called.
    for url in ["s3://sigil-bundles/prod/host-1", "ssm:/sigil/prod"] {
        let o = run_script(
            &["--dry-run", "--source", url, "--dest", "/run/sigil/bundle"],
            &[],
        );
        assert!(o.status.success(), "{url}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("service_tls.json.age"), "{out}");
    }
}

#[test]
fn a_file_source_is_copied_exactly_with_restrictive_modes() {
    let src = full_source();
    let run = tempfile::tempdir().unwrap();
    let dest = run.path().join("bundle");
    // A stale bundle with an extra file: replaced whole.
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("stale.age"), b"old").unwrap();

    let url = format!("file://{}", src.path().display());
    let o = run_script(
        &[],
        &[
            ("SIGIL_BUNDLE_SOURCE", Path::new(&url)),
            ("RUNTIME_DIRECTORY", run.path()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let mut names: Vec<String> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "age-private.key.enc",
            "service_key_shares.json.age",
            "service_tls.json.age"
        ]
    );
    assert_eq!(mode(&dest), 0o700);
    for n in &names {
        assert_eq!(mode(&dest.join(n)), 0o600, "{n}");
        assert_eq!(
            fs::read(dest.join(n)).unwrap(),
            fs::read(src.path().join(n)).unwrap(),
            "{n}"
        );
    }
    // No staging directories left behind.
    let leftovers: Vec<_> = fs::read_dir(run.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "bundle")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_missing_or_plaintext_file_is_refused_and_leaves_no_bundle() {
    type Files = Vec<(&'static str, &'static [u8])>;
    let cases: [(&str, Files, &str); 4] = [
        (
            "missing TLS bundle",
            vec![
                ("age-private.key.enc", KMS_BLOB),
                ("service_key_shares.json.age", AGE_HEADER),
            ],
            "missing required file",
        ),
        (
            "plaintext identity",
            vec![
                (
                    "age-private.key.enc",
                    b"# created: 2026-01-01\n# public key: age1xyz\nAGE-SECRET-KEY-1QQQ\n",
                ),
                ("service_key_shares.json.age", AGE_HEADER),
                ("service_tls.json.age", AGE_HEADER),
            ],
            "plaintext age identity",
        ),
        (
            "plaintext shares",
            vec![
                ("age-private.key.enc", KMS_BLOB),
                ("service_key_shares.json.age", b"{\"accounts\": []}"),
                ("service_tls.json.age", AGE_HEADER),
            ],
            "not an age file",
        ),
        (
            "empty file",
            vec![
                ("age-private.key.enc", b""),
                ("service_key_shares.json.age", AGE_HEADER),
                ("service_tls.json.age", AGE_HEADER),
            ],
            "is empty",
        ),
    ];
    for (what, files, says) in cases {
        let src = source_dir(&files);
        let run = tempfile::tempdir().unwrap();
        let dest = run.path().join("bundle");
        let url = format!("file://{}", src.path().display());
        let o = run_script(
            &["--source", &url, "--dest", &dest.display().to_string()],
            &[],
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{what}: {}", stderr(&o));
        assert!(!dest.exists(), "{what}: a partial bundle was left");
        let entries = fs::read_dir(run.path()).unwrap().count();
        assert_eq!(entries, 0, "{what}: staging left behind");
    }
}

#[test]
fn usage_errors_are_clear() {
    let o = run_script(&["--dest", "/tmp/x"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("SIGIL_BUNDLE_SOURCE"), "{}", stderr(&o));

    let o = run_script(
        &["--source", "http://example.com/b", "--dest", "/tmp/x"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unsupported bundle source"),
        "{}",
        stderr(&o)
    );

    let o = run_script(&["--source", "file:///nonexistent"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no destination"), "{}", stderr(&o));

    let o = run_script(&["--frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(2));
}
