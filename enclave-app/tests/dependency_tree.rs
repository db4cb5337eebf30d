//! The enclave's dependency tree holds only what the enclave runs: no dev tool, benchmark or
//! test support crate, no command-line framework, no attestation *verifier* (that is the
//! parent's job), and of `tracing-subscriber` only the span registry the log channel's layer
//! needs (no formatter, JSON or env-filter). Checked on the real resolution with `cargo tree`,
//! features as `cargo build -p enclave-app` (the EIF build) resolves them. The DKLs23 crates
//! (unaudited) are there at exactly the pinned version and never with their `insecure-rng`
//! feature (a seeded RNG in the library's tests; docs/signing.md depends on its absence).

use std::path::Path;
use std::process::Command;

/// The output of `cargo tree --locked -p enclave-app ARGS` on the workspace.
fn cargo_tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--locked", "-p", "enclave-app"])
        .args(args)
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `cargo tree -p enclave-app -e normal`, one `name version (source) features` line per crate.
fn enclave_tree() -> Vec<String> {
    let text = cargo_tree(&[
        "-e",
        "normal",
        "--prefix",
        "none",
        "--no-dedupe",
        "-f",
        "{p} [{f}]",
    ]);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines.dedup();
    assert!(lines.len() > 50, "implausibly small tree: {lines:?}");
    lines
}

fn name(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

#[test]
fn the_enclave_tree_holds_no_dev_tool_cli_framework_or_verifier() {
    let tree = enclave_tree();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .canonicalize()
        .expect("canonical workspace");
    let mut offending = Vec::new();
    for line in &tree {
        let n = name(line);
        let banned_name =
            n == "clap" || n.starts_with("clap_") || n == "sigil-attestation" || n == "env_logger";
        // Workspace crates that are dev tools, benchmarks or test support, by where they live.
        let dev_path = ["tools", "bench", "testing", "tests"]
            .iter()
            .any(|dir| line.contains(&format!("({}/{dir}/", workspace.display())));
        if banned_name || dev_path {
            offending.push(line.clone());
        }
    }
    assert!(
        offending.is_empty(),
        "the enclave's dependency tree holds crates it must not:\n{}",
        offending.join("\n")
    );
    // The shipping crates it is made of are there (the check above would pass vacuously on
    // a broken tree otherwise).
    for must in ["sigil-signer", "sigil-mpc", "sigil-kms-client", "sigil-nsm"] {
        assert!(tree.iter().any(|l| name(l) == must), "{must} missing");
    }
}

#[test]
fn tracing_subscriber_is_only_the_span_registry() {
    let tree = enclave_tree();
    let subscriber: Vec<&String> = tree
        .iter()
        .filter(|l| name(l) == "tracing-subscriber")
        .collect();
    assert_eq!(subscriber.len(), 1, "{subscriber:?}");
    let features = subscriber[0]
        .rsplit_once('[')
        .map(|(_, f)| f.trim_end_matches(']'))
        .unwrap_or_default();
    for f in features.split(',').filter(|f| !f.is_empty()) {
        assert!(
            ["registry", "std", "alloc", "sharded-slab", "thread_local"].contains(&f),
            "tracing-subscriber feature {f:?} in the enclave (only the registry belongs there)"
        );
    }
    for absent in [
        "regex",
        "regex-automata",
        "matchers",
        "nu-ansi-term",
        "tracing-serde",
    ] {
        assert!(
            !tree.iter().any(|l| name(l) == absent),
            "{absent} rides into the enclave (a tracing-subscriber formatter or filter feature)"
        );
    }
}

/// `cargo tree -p enclave-app -e normal,features` for every target: each crate and each of
/// its enabled features (`name feature "f"`) on a line of its own.
fn enclave_feature_tree() -> String {
    cargo_tree(&[
        "-e",
        "normal,features",
        "--target",
        "all",
        "--prefix",
        "none",
    ])
}

/// The pinned version of every DKLs23 crate (crates/mpc/Cargo.toml).
const DKLS23_VERSION: &str = "v0.6.2";

/// What is wrong with the DKLs23 crates of a tree: `crates` as [`enclave_tree`] lists them,
/// `features` as [`enclave_feature_tree`] prints them.
fn dkls23_problems(crates: &[String], features: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for line in crates.iter().filter(|l| name(l).starts_with("dkls23")) {
        let version = line.split_whitespace().nth(1).unwrap_or_default();
        if version != DKLS23_VERSION {
            problems.push(format!("{line}: not {DKLS23_VERSION}"));
        }
        if line.contains("insecure-rng") {
            problems.push(format!("{line}: insecure-rng"));
        }
    }
    for line in features.lines().filter(|l| l.contains("insecure-rng")) {
        problems.push(format!("{}: insecure-rng enabled", line.trim()));
    }
    problems
}

#[test]
fn dkls23_is_the_pinned_version_without_insecure_rng() {
    let tree = enclave_tree();
    let features = enclave_feature_tree();
    // Not vacuous: the crates are there, with their features listed.
    for must in ["dkls23", "dkls23-core", "dkls23-secp256k1"] {
        assert!(tree.iter().any(|l| name(l) == must), "{must} missing");
    }
    assert!(
        features.contains("dkls23-core feature \"serde\""),
        "the feature tree lists no dkls23-core features:\n{features}"
    );
    let problems = dkls23_problems(&tree, &features);
    assert!(
        problems.is_empty(),
        "the enclave's DKLs23 crates:\n{}",
        problems.join("\n")
    );

    // And the check sees what it guards against.
    let bad_crates = [
        "dkls23-core v0.6.2 [insecure-rng,serde]".to_owned(),
        "dkls23-secp256k1 v0.6.3 [serde]".to_owned(),
        "dkls23 v0.6.2 [secp256k1,serde]".to_owned(),
    ];
    let bad_features = "dkls23 feature \"serde\"\ndkls23-core feature \"insecure-rng\"\n";
    assert_eq!(dkls23_problems(&bad_crates, bad_features).len(), 3);
}
