//! The evidence archive: every boot's attestation document (raw COSE_Sign1) and boot report
//! (JSON) are stored content-addressed, `attestations/<sha256>.cbor` and
//! `reports/<sha256>.json`, so a reviewer can later prove which image served when. Files are
//! written atomically and durably (temporary file, fsync, rename, directory fsync) and never overwritten: the same content
//! has the same name.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sigil_provisioning::pb;

/// Writes `bytes` as `dir/kind/<sha256>.ext`; returns the hex digest and the path.
pub fn store(
    dir: &Path,
    kind: &str,
    ext: &str,
    bytes: &[u8],
) -> std::io::Result<(String, PathBuf)> {
    let digest = hex::encode(Sha256::digest(bytes));
    let sub = dir.join(kind);
    std::fs::create_dir_all(&sub)?;
    let path = sub.join(format!("{digest}.{ext}"));
    if path.exists() {
        return Ok((digest, path));
    }
    sigil_std_ext::fs::write_atomic(&path, bytes, 0o644)?;
    Ok((digest, path))
}

/// A boot report as JSON: every field, the attestation document by its digest (it is
/// archived beside). A report holds no secret by construction (enclave-app's report type).
pub fn report_json(r: &pb::BootReport, received_unix_ms: u64) -> serde_json::Value {
    let res = r.resources.unwrap_or_default();
    serde_json::json!({
        "received_unix_ms": received_unix_ms,
        "ok": r.ok,
        "failed_step": r.failed_step,
        "reason": r.reason,
        "enclave_version": r.enclave_version,
        "simulated": r.simulated,
        "attestation_document_sha256": if r.attestation_document.is_empty() {
            String::new()
        } else {
            hex::encode(Sha256::digest(&r.attestation_document))
        },
        "kms_request_id": r.kms_request_id,
        "kms_key_arn": r.kms_key_arn,
        "kms_attempts": r.kms_attempts,
        "identity_ciphertext_sha256": r.identity_ciphertext_sha256,
        "key_shares_ciphertext_sha256": r.key_shares_ciphertext_sha256,
        "key_shares_plaintext_sha256": r.key_shares_plaintext_sha256,
        "tls_bundle_ciphertext_sha256": r.tls_bundle_ciphertext_sha256,
        "tls_spki_sha256": r.tls_spki_sha256,
        "accounts": r.accounts,
        "steps": r.steps.iter().map(|s| serde_json::json!({"step": s.step, "elapsed_us": s.elapsed_us})).collect::<Vec<_>>(),
        "resources": {
            "cpus": res.cpus,
            "memory_total_bytes": res.memory_total_bytes,
            "rss_bytes": res.rss_bytes,
            "peak_rss_bytes": res.peak_rss_bytes,
            "cpu_user_us": res.cpu_user_us,
            "cpu_system_us": res.cpu_system_us,
        },
        "hardening_warnings": r.hardening_warnings,
        "log_lines_dropped": r.log_lines_dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let (d1, p1) = store(dir.path(), "attestations", "cbor", b"doc").unwrap();
        let (d2, p2) = store(dir.path(), "attestations", "cbor", b"doc").unwrap();
        assert_eq!((d1.clone(), p1.clone()), (d2, p2));
        assert_eq!(d1, hex::encode(Sha256::digest(b"doc")));
        assert_eq!(std::fs::read(&p1).unwrap(), b"doc");
        assert_eq!(
            std::fs::read_dir(dir.path().join("attestations"))
                .unwrap()
                .count(),
            1
        );
    }
}
