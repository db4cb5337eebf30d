//! Where tests find what the workspace holds: the public test prime pool and the workspace's
//! binaries in the running program's target directory.

use std::path::PathBuf;

/// The public, INSECURE Paillier prime pool in `testdata/` (never for real keys). Copy it
/// before `sigil_key_gen::primes::consume`, which rewrites the file it takes from.
pub const TEST_PRIMES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/INSECURE-test-primes.json"
);

/// A workspace binary from the running program's target directory: beside it (a binary) or
/// one level up (a test in `deps/`). `cargo test --workspace` builds them all; a single
/// package's tests do not, so a missing one panics naming the command that builds it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running program's path");
    let dir = exe.parent().expect("the running program's directory");
    let mut candidates = vec![dir.join(name)];
    if let Some(up) = dir.parent() {
        candidates.push(up.join(name));
    }
    candidates
        .iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{name} is missing next to {}: build it (cargo build -p {})",
                exe.display(),
                package_of(name)
            )
        })
        .clone()
}

/// The package that builds binary `name`: the tools' packages carry a `sigil-` prefix, the
/// two shipped binaries and kms-sim do not.
fn package_of(name: &str) -> String {
    match name {
        "enclave-app" | "parent-agent" | "kms-sim" => name.to_owned(),
        _ => format!("sigil-{name}"),
    }
}
