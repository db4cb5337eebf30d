//! `parent-agent attestation verify` on real AWS documents and simulated ones: exit 0 and a
//! JSON summary when valid, exit 1 and a one-line reason when not.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::{Command, Output};

use sigil_nsm::{AttestationRequest, DevRoot, ImageMeasurement, Nsm, SimulatedNsm};

const BIN: &str = env!("CARGO_BIN_EXE_parent-agent");
const DOCS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/nitro-fixtures/attestation-docs/"
);

fn verify(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["attestation", "verify"])
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn real_documents_verify_at_their_timestamp_and_fail_now() {
    for (name, debug) in [
        ("eternis-debug-2024-09-17.cose", true),
        ("evervault-prod-2022-10-13.cose", false),
        ("evervault-debug-2022-10-12.cose", true),
    ] {
        let doc = format!("{DOCS}{name}");
        let s = ok(&verify(&["--doc", &doc, "--at", "doc", "--allow-debug"]));
        assert_eq!(s["valid"], true);
        assert_eq!(s["debug_mode"], debug);
        assert_eq!(s["dev_root"], false);
        assert_eq!(
            s["root_sha256"],
            "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
        );
        assert_eq!(s["pcrs"].as_object().unwrap().len(), 16);
        assert_eq!(s["digest"], "SHA384");
        assert!(s["module_id"].as_str().unwrap().starts_with("i-"));
        // Default --at now: the three-hour leaf expired long ago.
        let e = refused(&verify(&["--doc", &doc, "--allow-debug"]));
        assert!(e.contains("not valid at"), "{e}");
        if debug {
            let e = refused(&verify(&["--doc", &doc, "--at", "doc"]));
            assert!(e.contains("debug-mode"), "{e}");
        }
    }
    let s = ok(&verify(&[
        "--doc",
        &format!("{DOCS}eternis-debug-2024-09-17.cose"),
        "--at",
        "2024-09-17T21:00:00Z",
        "--allow-debug",
    ]));
    assert_eq!(s["timestamp"], "2024-09-17T20:47:10.288Z");
    assert_eq!(s["public_key"], hex::encode(b"dummy"));
}

#[test]
fn expectations_from_the_command_line() {
    let doc = format!("{DOCS}evervault-prod-2022-10-13.cose");
    let s = ok(&verify(&["--doc", &doc, "--at", "doc"]));
    let pcr0 = s["pcrs"]["0"].as_str().unwrap().to_owned();
    let nonce = s["nonce"].as_str().unwrap().to_owned();
    ok(&verify(&[
        "--doc",
        &doc,
        "--at",
        "doc",
        "--pcr",
        &format!("0={pcr0}"),
        "--nonce",
        &nonce,
    ]));
    let e = refused(&verify(&[
        "--doc",
        &doc,
        "--at",
        "doc",
        "--pcr",
        &format!("0={}", "00".repeat(48)),
    ]));
    assert!(e.contains("PCR0 is"), "{e}");
    let e = refused(&verify(&["--doc", &doc, "--at", "doc", "--nonce", "abcd"]));
    assert!(e.contains("nonce"), "{e}");
    for (bad, needle) in [
        ("0=zz", "not hex"),
        ("40=00", "0 to 31"),
        ("0=00", "48 bytes"),
        ("x", "N=HEX"),
    ] {
        let e = refused(&verify(&["--doc", &doc, "--at", "doc", "--pcr", bad]));
        assert!(e.contains(needle), "{bad}: {e}");
    }
    let e = refused(&verify(&["--doc", &doc, "--at", "yesterday"]));
    assert!(e.contains("RFC 3339"), "{e}");
}

#[test]
fn simulated_documents_need_their_dev_root_given_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let root = DevRoot::generate().unwrap();
    root.save(dir.path()).unwrap();
    let nsm = SimulatedNsm::new(
        DevRoot::load(dir.path()).unwrap(),
        &ImageMeasurement::of_bytes(b"enclave-app"),
        "i-0123456789abcdef0",
        None,
    )
    .unwrap();
    let doc_path = dir.path().join("doc.cose");
    std::fs::write(
        &doc_path,
        nsm.attestation(&AttestationRequest {
            nonce: Some(vec![9; 16]),
            ..Default::default()
        })
        .unwrap(),
    )
    .unwrap();
    let doc = doc_path.to_str().unwrap();
    let root_pem = dir.path().join("dev-root.pem");
    let s = ok(&verify(&[
        "--doc",
        doc,
        "--root",
        root_pem.to_str().unwrap(),
        "--nonce",
        &"09".repeat(16),
        "--max-age",
        "1m",
    ]));
    assert_eq!(s["dev_root"], true);
    assert_eq!(s["root"], "explicit");
    assert!(
        s["warning"]
            .as_str()
            .unwrap()
            .contains("not the AWS Nitro root")
    );
    assert_eq!(
        s["pcrs"]["0"],
        hex::encode(ImageMeasurement::of_bytes(b"enclave-app").pcr0)
    );
    let e = refused(&verify(&["--doc", doc]));
    assert!(e.contains("not the pinned root"), "{e}");
    // A real AWS document against the dev root.
    let e = refused(&verify(&[
        "--doc",
        &format!("{DOCS}evervault-prod-2022-10-13.cose"),
        "--at",
        "doc",
        "--root",
        root_pem.to_str().unwrap(),
    ]));
    assert!(e.contains("not the pinned root"), "{e}");
}

#[test]
fn garbage_and_missing_files_get_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"\x84\x44garbage").unwrap();
    let e = refused(&verify(&["--doc", junk.to_str().unwrap()]));
    assert!(e.contains("COSE_Sign1"), "{e}");
    let e = refused(&verify(&["--doc", "/nonexistent/doc.cose"]));
    assert!(e.contains("/nonexistent/doc.cose"), "{e}");
    let e = refused(&verify(&[
        "--doc",
        junk.to_str().unwrap(),
        "--root",
        junk.to_str().unwrap(),
    ]));
    assert!(e.contains("trust anchor"), "{e}");
}
