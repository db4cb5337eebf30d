#![allow(clippy::unwrap_used, missing_docs)]
//! Raw-protocol tests against the real binary: malformed requests get the right `__type`,
//! and the server keeps serving afterwards.

mod common;

use common::{SECRET, Sim, raw, signed, signed_with};

fn create_key(port: u16) -> String {
    let r = signed(port, "TrentService.CreateKey", b"{}", SECRET);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.head.to_ascii_lowercase().contains("x-amzn-requestid:"));
    assert!(r.head.contains("application/x-amz-json-1.1"));
    r.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn malformed_requests_get_exact_error_types() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), &[]);
    let port = sim.port;
    let key_id = create_key(port);

    // Bad JSON (correctly signed).
    let r = signed(port, "TrentService.DescribeKey", b"{\"KeyId\": ", SECRET);
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "SerializationException"),
        "{r:?}"
    );
    // Wrong JSON type.
    let r = signed(
        port,
        "TrentService.GenerateRandom",
        br#"{"NumberOfBytes":"x"}"#,
        SECRET,
    );
    assert_eq!(r.error_type(), "SerializationException");

    // Unknown target.
    let r = signed(port, "TrentService.FlyToTheMoon", b"{}", SECRET);
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "UnknownOperationException")
    );
    let r = signed(port, "SomethingElse.CreateKey", b"{}", SECRET);
    assert_eq!(r.error_type(), "UnknownOperationException");

    // Missing auth.
    let r = raw(
        port,
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-target: TrentService.ListKeys\r\ncontent-length: 2\r\n",
        b"{}",
    );
    assert_eq!(
        r.error_type(),
        "MissingAuthenticationTokenException",
        "{r:?}"
    );
    // Garbled auth.
    let r = raw(
        port,
        "POST / HTTP/1.1\r\nhost: x\r\nx-amz-date: 20260101T000000Z\r\nauthorization: AWS4-HMAC-SHA256 garbage\r\nx-amz-target: TrentService.ListKeys\r\ncontent-length: 2\r\n",
        b"{}",
    );
    assert_eq!(r.error_type(), "IncompleteSignatureException", "{r:?}");
    // Wrong secret.
    let r = signed(port, "TrentService.ListKeys", b"{}", "wrong-secret");
    assert_eq!(r.error_type(), "InvalidSignatureException");

    // Oversized body: declared length over the cap, answered without reading it.
    let r = raw(
        port,
        "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: TrentService.ListKeys\r\ncontent-length: 2097152\r\n",
        b"",
    );
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "ValidationException"),
        "{r:?}"
    );
    assert!(r.body.contains("limit"), "{r:?}");
    // Oversized body sent in full: read up to the cap, drained, refused.
    let big = format!("{{\"KeyId\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let r = signed(port, "TrentService.DescribeKey", big.as_bytes(), SECRET);
    assert_eq!(r.error_type(), "ValidationException");

    // Wrong method / path.
    let r = raw(port, "GET /other HTTP/1.1\r\nhost: x\r\n", b"");
    assert_eq!(r.error_type(), "UnknownOperationException");

    // Validation messages as KMS words them.
    let r = signed(
        port,
        "TrentService.GenerateRandom",
        br#"{"NumberOfBytes":2000}"#,
        SECRET,
    );
    assert_eq!(
        r.json()["message"],
        "1 validation error detected: Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
    );
    let r = signed(
        port,
        "TrentService.DescribeKey",
        br#"{"KeyId":"alias/none"}"#,
        SECRET,
    );
    assert_eq!(r.error_type(), "NotFoundException");
    let r = signed(
        port,
        "TrentService.Decrypt",
        br#"{"CiphertextBlob":"AAAA"}"#,
        SECRET,
    );
    assert_eq!(r.error_type(), "InvalidCiphertextException");
    let r = signed(
        port,
        "TrentService.Decrypt",
        br#"{"CiphertextBlob":"!!!"}"#,
        SECRET,
    );
    assert_eq!(r.error_type(), "SerializationException");
    let r = signed(
        port,
        "TrentService.PutKeyPolicy",
        format!(r#"{{"KeyId":"{key_id}","PolicyName":"default","Policy":"{{not json"}}"#)
            .as_bytes(),
        SECRET,
    );
    assert_eq!(r.error_type(), "MalformedPolicyDocumentException");

    // Recipient with an unsupported algorithm, or missing its document.
    let r = signed(
        port,
        "TrentService.GenerateRandom",
        br#"{"NumberOfBytes":8,"Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_1","AttestationDocument":"AAAA"}}"#,
        SECRET,
    );
    assert_eq!(r.error_type(), "ValidationException", "{r:?}");
    let r = signed(
        port,
        "TrentService.GenerateRandom",
        br#"{"NumberOfBytes":8,"Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}"#,
        SECRET,
    );
    assert_eq!(r.error_type(), "ValidationException", "{r:?}");

    // DryRun: all checks pass, then 412.
    let r = signed(
        port,
        "TrentService.Encrypt",
        format!(r#"{{"KeyId":"{key_id}","Plaintext":"aGk=","DryRun":true}}"#).as_bytes(),
        SECRET,
    );
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (412, "DryRunOperationException")
    );

    // Still serving, and the key is still there.
    let r = signed(
        port,
        "TrentService.DescribeKey",
        format!(r#"{{"KeyId":"{key_id}"}}"#).as_bytes(),
        SECRET,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["KeyMetadata"]["KeyState"], "Enabled");

    // Log lines are JSON with operation/outcome/error_type and no secrets.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = sim.drain_log();
    assert!(
        log.iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(
        log.iter()
            .any(|l| l.contains("\"error_type\":\"InvalidSignatureException\""))
    );
    assert!(log.iter().all(|l| !l.contains(SECRET)));
}

#[test]
fn session_token_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), &["--session-token", "TOKEN-1"]);
    let ok = signed_with(
        sim.port,
        "TrentService.ListKeys",
        b"{}",
        SECRET,
        Some("TOKEN-1"),
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["Truncated"], false);
    let r = signed_with(
        sim.port,
        "TrentService.ListKeys",
        b"{}",
        SECRET,
        Some("TOKEN-2"),
    );
    assert_eq!(r.error_type(), "UnrecognizedClientException");
    let r = signed(sim.port, "TrentService.ListKeys", b"{}", SECRET);
    assert_eq!(r.error_type(), "UnrecognizedClientException");
}
