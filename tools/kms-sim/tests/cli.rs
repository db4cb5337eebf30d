#![allow(clippy::unwrap_used, missing_docs)]
//! Interop with the real `aws` CLI (botocore's own SigV4 and JSON protocol code).
//!
//! The CLI must be installed (`scripts/install-deps.sh` does it; CI runs it). When `aws` is
//! not on PATH this test fails rather than skipping.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{AKID, REGION, SECRET, Sim};

fn aws(sim: &Sim, secret: &str, args: &[&str]) -> Output {
    let found = Command::new("aws").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "the `aws` CLI is not on PATH: run scripts/install-deps.sh (CI installs it)"
    );
    Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &sim.endpoint(), "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", AKID)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "aws failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    format!("fileb://{}", p.display())
}

#[test]
fn aws_cli_interop() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("state"), &[]);

    let created = ok_json(&aws(
        &sim,
        SECRET,
        &["kms", "create-key", "--description", "cli key"],
    ));
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(created["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(created["KeyMetadata"]["Description"], "cli key");

    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "All",
            "Effect": "Allow",
            "Principal": { "AWS": "arn:aws:iam::111122223333:user/kms-sim" },
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    .to_string();
    let policy_file = dir.path().join("policy.json");
    std::fs::write(&policy_file, &policy).unwrap();
    let policy_arg = format!("file://{}", policy_file.display());
    ok_json(&aws(
        &sim,
        SECRET,
        &[
            "kms",
            "put-key-policy",
            "--key-id",
            &key_id,
            "--policy-name",
            "default",
            "--policy",
            &policy_arg,
        ],
    ));
    let got = ok_json(&aws(
        &sim,
        SECRET,
        &[
            "kms",
            "get-key-policy",
            "--key-id",
            &key_id,
            "--policy-name",
            "default",
        ],
    ));
    assert_eq!(got["Policy"], policy.as_str());

    let pt = write(dir.path(), "pt.bin", b"hello from the aws cli\x00\xff");
    let enc = ok_json(&aws(
        &sim,
        SECRET,
        &[
            "kms",
            "encrypt",
            "--key-id",
            &key_id,
            "--plaintext",
            &pt,
            "--encryption-context",
            "purpose=cli",
        ],
    ));
    let ct = B64.decode(enc["CiphertextBlob"].as_str().unwrap()).unwrap();
    let ct_arg = write(dir.path(), "ct.bin", &ct);
    let dec = ok_json(&aws(
        &sim,
        SECRET,
        &[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &ct_arg,
            "--encryption-context",
            "purpose=cli",
        ],
    ));
    assert_eq!(
        B64.decode(dec["Plaintext"].as_str().unwrap()).unwrap(),
        b"hello from the aws cli\x00\xff"
    );
    assert!(dec["KeyId"].as_str().unwrap().ends_with(&key_id));

    // Wrong context.
    let out = aws(
        &sim,
        SECRET,
        &["kms", "decrypt", "--ciphertext-blob", &ct_arg],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidCiphertextException"));

    // A policy that denies Decrypt: AccessDeniedException, then the old policy again.
    let deny = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "All", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:user/kms-sim" }, "Action": "kms:*", "Resource": "*" },
            { "Sid": "NoDecrypt", "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "kms:Decrypt", "Resource": "*" },
        ],
    })
    .to_string();
    let deny_file = dir.path().join("deny.json");
    std::fs::write(&deny_file, &deny).unwrap();
    let deny_arg = format!("file://{}", deny_file.display());
    let put = |arg: &str| {
        ok_json(&aws(
            &sim,
            SECRET,
            &[
                "kms",
                "put-key-policy",
                "--key-id",
                &key_id,
                "--policy-name",
                "default",
                "--policy",
                arg,
            ],
        ))
    };
    put(&deny_arg);
    let out = aws(
        &sim,
        SECRET,
        &[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &ct_arg,
            "--encryption-context",
            "purpose=cli",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AccessDeniedException") && stderr.contains("explicit deny"),
        "{stderr}"
    );
    put(&policy_arg);

    // Wrong secret.
    let out = aws(&sim, "wrong-secret", &["kms", "list-keys"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("InvalidSignatureException"), "{stderr}");

    // GenerateRandom size limit.
    let out = aws(
        &sim,
        SECRET,
        &["kms", "generate-random", "--number-of-bytes", "2000"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValidationException"));

    // Disabled key.
    ok_json(&aws(
        &sim,
        SECRET,
        &["kms", "disable-key", "--key-id", &key_id],
    ));
    let out = aws(
        &sim,
        SECRET,
        &[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &ct_arg,
            "--encryption-context",
            "purpose=cli",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DisabledException"), "{stderr}");
}
