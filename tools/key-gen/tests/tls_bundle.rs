//! `key-gen tls-bundle` end to end: TLS material made by the real `openssl` CLI
//! (scripts/make-dev-tls.sh), sealed to a real `age-keygen` recipient, opened with the real
//! `age -d`; the JSON is a valid sigil-tls-bundle whose SPKI hash is the one printed; bad
//! inputs and refusals leave no file (not even a temporary one); nothing printed holds key
//! material.

#![allow(clippy::unwrap_used)] // test code: a failed step is a failed test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn dev_tls(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-dev-tls.sh");
    let out = Command::new("bash").arg(script).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "make-dev-tls.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn seal(tls: &Path, key: &str, chain: &str, ca: &str, recipients: &str, out: &Path) -> Output {
    key_gen(
        &[
            "tls-bundle",
            "--server-key",
            tls.join(key).to_str().unwrap(),
            "--server-chain",
            tls.join(chain).to_str().unwrap(),
            "--client-ca",
            tls.join(ca).to_str().unwrap(),
            "--pubkeys",
            recipients,
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    )
}

fn key_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect()
}

/// Files in `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn the_sealed_bundle_opens_with_the_age_cli_and_matches_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    dev_tls(&tls);
    let (id1, r1) = age_identity(dir.path(), "service");
    let (id2, r2) = age_identity(dir.path(), "backup");
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out_file = outdir.join("service_tls.json.age");
    let out = seal(
        &tls,
        "server.key",
        "server-chain.pem",
        "client-ca.pem",
        &format!("{r1},{r2}"),
        &out_file,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for line in key_lines(&tls.join("server.key")) {
        assert!(!stdout.contains(&line) && !stderr.contains(&line));
    }
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(listing(&outdir), ["service_tls.json.age"]);
    assert_eq!(
        std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Each recipient opens it with the real age CLI; the JSON is a valid bundle.
    for id in [&id1, &id2] {
        let json = age_decrypt(id, &out_file);
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["format"], "sigil-tls-bundle");
        assert_eq!(v["version"], 1);
        assert_eq!(
            v["server_key_pem"].as_str().unwrap(),
            std::fs::read_to_string(tls.join("server.key")).unwrap()
        );
        let bundle = sigil_tls::TlsBundle::from_json(&json).unwrap();
        assert_eq!(
            summary["spki_sha256"].as_str().unwrap(),
            hex::encode(bundle.spki_sha256())
        );
    }
    // The printed SPKI hash is the certificate's, as openssl computes it.
    let spki = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r",
            tls.join("server.pem").display()
        ))
        .output()
        .unwrap();
    let spki = String::from_utf8(spki.stdout).unwrap();
    assert_eq!(
        spki.split_whitespace().next().unwrap(),
        summary["spki_sha256"]
    );
    assert!(
        summary["subject"]
            .as_str()
            .unwrap()
            .contains("CN=signer.sigil.internal"),
        "{summary}"
    );
    assert!(summary["not_after"].as_str().unwrap().ends_with('Z'));
    assert_eq!(summary["client_cas"], 1);

    // An existing bundle is kept without --force and replaced with it.
    let before = std::fs::read(&out_file).unwrap();
    let again = seal(
        &tls,
        "server.key",
        "server-chain.pem",
        "client-ca.pem",
        &r1,
        &out_file,
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&out_file).unwrap(), before);
    let forced = key_gen(
        &[
            "tls-bundle",
            "--server-key",
            tls.join("server.key").to_str().unwrap(),
            "--server-chain",
            tls.join("server-chain.pem").to_str().unwrap(),
            "--client-ca",
            tls.join("client-ca.pem").to_str().unwrap(),
            "--pubkeys",
            &r1,
            "--out",
            out_file.to_str().unwrap(),
            "--force",
        ],
        None,
    );
    assert!(forced.status.success());
    assert_ne!(std::fs::read(&out_file).unwrap(), before);
    assert_eq!(listing(&outdir), ["service_tls.json.age"]);
}

#[test]
fn bad_inputs_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    dev_tls(&tls);
    std::fs::write(tls.join("garbage.pem"), "not a certificate\n").unwrap();
    let (_, r) = age_identity(dir.path(), "service");
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out_file = outdir.join("service_tls.json.age");
    let cases = [
        (
            (
                "client.key",
                "server-chain.pem",
                "client-ca.pem",
                r.as_str(),
            ),
            "does not match the public key",
        ),
        (
            ("server.key", "garbage.pem", "client-ca.pem", r.as_str()),
            "garbage.pem: server_chain_pem: no PEM CERTIFICATE",
        ),
        (
            ("server.key", "server-chain.pem", "garbage.pem", r.as_str()),
            "garbage.pem: client_ca_pem: no PEM CERTIFICATE",
        ),
        (
            (
                "server-chain.pem",
                "server-chain.pem",
                "client-ca.pem",
                r.as_str(),
            ),
            "no PEM private key",
        ),
        (
            ("server.key", "server-chain.pem", "missing.pem", r.as_str()),
            "missing.pem",
        ),
        (
            (
                "server.key",
                "server-chain.pem",
                "client-ca.pem",
                "age1nope",
            ),
            "not an age X25519 recipient",
        ),
    ];
    for ((key, chain, ca, recipients), needle) in cases {
        let out = seal(&tls, key, chain, ca, recipients, &out_file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key} {chain} {ca} {recipients}");
        assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
        for line in key_lines(&tls.join("server.key")) {
            assert!(!stderr.contains(&line), "{stderr}");
        }
        assert!(listing(&outdir).is_empty(), "{:?}", listing(&outdir));
    }
}
