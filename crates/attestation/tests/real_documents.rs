//! The three real AWS attestation documents in shared/nitro-fixtures: they verify against
//! the pinned AWS root at their own timestamps; they fail at today's date (the leaf lives
//! three hours), with expectations unmet, and with any byte of payload, signature or chain
//! changed; truncated and garbage input gives an error, never a panic.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

use sigil_attestation::{
    AttestationError, Expectations, RootKind, TrustAnchor, Verifier, VerifyAt, parse,
};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/nitro-fixtures/attestation-docs/"
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{DIR}{name}: {e}"))
}

const DOCS: [(&str, bool); 3] = [
    ("eternis-debug-2024-09-17.cose", true),
    ("evervault-prod-2022-10-13.cose", false),
    ("evervault-debug-2022-10-12.cose", true),
];

fn aws() -> Verifier {
    Verifier::new(TrustAnchor::aws_nitro_g1().unwrap())
}

fn debug_ok() -> Expectations {
    Expectations {
        allow_debug: true,
        ..Default::default()
    }
}

#[test]
fn the_embedded_root_is_the_published_one_and_matches_the_fixture() {
    let a = TrustAnchor::aws_nitro_g1().unwrap();
    assert_eq!(
        a.fingerprint_hex(),
        "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    );
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/nitro-fixtures/aws-root/AWS_NitroEnclaves_Root-G1.pem"
    ))
    .unwrap();
    assert_eq!(
        TrustAnchor::from_pem(&fixture).unwrap().fingerprint_hex(),
        a.fingerprint_hex()
    );
    assert_eq!(
        TrustAnchor::from_pem(&fixture).unwrap().kind(),
        &RootKind::AwsNitroG1
    );
}

#[test]
fn real_documents_verify_at_their_own_timestamp() {
    for (name, debug) in DOCS {
        let v = aws()
            .verify(&fixture(name), VerifyAt::DocumentTime, &debug_ok())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.root, RootKind::AwsNitroG1);
        assert_eq!(v.document.debug_mode(), debug, "{name}");
        assert!(v.document.module_id.starts_with("i-"), "{name}");
        assert_eq!(v.document.pcrs.len(), 16, "{name}");
        assert_eq!(v.document.cabundle.len(), 4, "{name}");
    }
    // The eternis document: PCR4 = SHA384(0^48 || instance id), and the field sizes of the provenance notes.
    let v = aws()
        .verify(
            &fixture("eternis-debug-2024-09-17.cose"),
            VerifyAt::DocumentTime,
            &debug_ok(),
        )
        .unwrap();
    assert_eq!(v.document.timestamp_ms, 1_726_606_030_288);
    assert_eq!(v.document.public_key.as_deref(), Some(&b"dummy"[..]));
    assert_eq!(v.document.user_data.as_ref().unwrap().len(), 68);
    assert_eq!(v.document.nonce.as_ref().unwrap().len(), 20);
    let prod = aws()
        .verify(
            &fixture("evervault-prod-2022-10-13.cose"),
            VerifyAt::DocumentTime,
            &Expectations::default(),
        )
        .unwrap();
    assert_eq!(prod.document.public_key, None);
    assert_eq!(prod.document.nonce.as_ref().unwrap().len(), 256);
}

#[test]
fn debug_documents_are_refused_unless_allowed() {
    let e = aws()
        .verify(
            &fixture("eternis-debug-2024-09-17.cose"),
            VerifyAt::DocumentTime,
            &Expectations::default(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("debug-mode"), "{e}");
}

#[test]
fn real_documents_fail_today_because_the_leaf_expired() {
    for (name, _) in DOCS {
        let e = aws()
            .verify(
                &fixture(name),
                VerifyAt::Time(SystemTime::now()),
                &debug_ok(),
            )
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                AttestationError::Certificate {
                    index: 0,
                    role: "leaf",
                    ..
                }
            ),
            "{name}: {msg}"
        );
        assert!(msg.contains("not valid at"), "{name}: {msg}");
    }
}

#[test]
fn expectations_are_checked() {
    let doc = fixture("evervault-prod-2022-10-13.cose");
    let parsed = parse(&doc).unwrap();
    let mut e = Expectations::default();
    e.pcrs.insert(0, parsed.pcrs[&0].clone());
    e.pcrs.insert(8, parsed.pcrs[&8].clone());
    e.nonce = parsed.nonce.clone();
    aws().verify(&doc, VerifyAt::DocumentTime, &e).unwrap();

    let mut wrong = e.clone();
    wrong.pcrs.insert(0, vec![0xab; 48]);
    let msg = aws()
        .verify(&doc, VerifyAt::DocumentTime, &wrong)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("PCR0 is") && msg.contains(&"ab".repeat(48)),
        "{msg}"
    );

    let mut wrong = e.clone();
    wrong.nonce = Some(vec![1, 2, 3]);
    assert!(
        aws()
            .verify(&doc, VerifyAt::DocumentTime, &wrong)
            .unwrap_err()
            .to_string()
            .contains("nonce")
    );

    let mut wrong = e.clone();
    wrong.public_key = Some(vec![1]);
    assert!(
        aws()
            .verify(&doc, VerifyAt::DocumentTime, &wrong)
            .unwrap_err()
            .to_string()
            .contains("public_key")
    );

    let issued = SystemTime::UNIX_EPOCH + Duration::from_millis(parsed.timestamp_ms);
    let mut fresh = e.clone();
    fresh.max_age = Some((Duration::from_secs(300), issued + Duration::from_secs(60)));
    aws().verify(&doc, VerifyAt::DocumentTime, &fresh).unwrap();
    fresh.max_age = Some((Duration::from_secs(300), issued + Duration::from_secs(301)));
    assert!(
        aws()
            .verify(&doc, VerifyAt::DocumentTime, &fresh)
            .unwrap_err()
            .to_string()
            .contains("older than")
    );
}

fn flipped(doc: &[u8], at: usize) -> Vec<u8> {
    let mut d = doc.to_vec();
    d[at] ^= 0x01;
    d
}

#[test]
fn any_changed_byte_in_payload_signature_or_chain_fails() {
    let doc = fixture("evervault-prod-2022-10-13.cose");
    let parsed = parse(&doc).unwrap();
    // Signature: the last 96 bytes.
    for at in [doc.len() - 96, doc.len() - 48, doc.len() - 1] {
        assert_eq!(
            aws()
                .verify(
                    &flipped(&doc, at),
                    VerifyAt::DocumentTime,
                    &Expectations::default()
                )
                .unwrap_err(),
            AttestationError::Signature
        );
    }
    // Payload: a PCR value, the module id, the timestamp.
    let find = |needle: &[u8]| doc.windows(needle.len()).position(|w| w == needle).unwrap();
    for at in [
        find(&parsed.pcrs[&0]) + 5,
        find(parsed.module_id.as_bytes()) + 3,
    ] {
        assert!(
            aws()
                .verify(
                    &flipped(&doc, at),
                    VerifyAt::DocumentTime,
                    &Expectations::default()
                )
                .is_err()
        );
    }
    // Chain: the leaf's signature, an intermediate's body. The COSE signature covers the
    // payload too, so any of these fails; the chain check runs first and names the cert.
    let leaf = find(&parsed.certificate);
    let e = aws()
        .verify(
            &flipped(&doc, leaf + parsed.certificate.len() - 10),
            VerifyAt::DocumentTime,
            &Expectations::default(),
        )
        .unwrap_err();
    assert!(
        matches!(e, AttestationError::Certificate { index: 0, .. }),
        "{e}"
    );
    let inter = find(&parsed.cabundle[2]);
    let e = aws()
        .verify(
            &flipped(&doc, inter + 200),
            VerifyAt::DocumentTime,
            &Expectations::default(),
        )
        .unwrap_err();
    assert!(matches!(e, AttestationError::Certificate { .. }), "{e}");
    // Every single-byte change anywhere: an error, never a panic, never a pass.
    for at in (0..doc.len()).step_by(7) {
        assert!(
            aws()
                .verify(
                    &flipped(&doc, at),
                    VerifyAt::DocumentTime,
                    &Expectations::default()
                )
                .is_err(),
            "byte {at}"
        );
    }
}

#[test]
fn truncated_and_garbage_input_give_clear_errors() {
    let doc = fixture("eternis-debug-2024-09-17.cose");
    for len in (0..doc.len()).step_by(13) {
        let e = aws()
            .verify(&doc[..len], VerifyAt::DocumentTime, &debug_ok())
            .unwrap_err();
        assert!(
            matches!(
                e,
                AttestationError::Envelope(_) | AttestationError::Payload(_)
            ),
            "{len}: {e}"
        );
    }
    for garbage in [
        &b""[..],
        b"\x00",
        b"hello",
        &[0xff; 64],
        &[0x84; 4096],
        &[0x9f; 20000],
    ] {
        let e = parse(garbage).unwrap_err();
        assert!(!e.to_string().is_empty());
    }
    // A COSE_Sign1 with another algorithm.
    let mut other_alg = doc.clone();
    other_alg[5] = 0x23; // {1: -36}: ES512
    assert!(parse(&other_alg).unwrap_err().to_string().contains("ES384"));
}

#[test]
fn absurd_timestamps_are_refused_not_a_panic() {
    // A timestamp past the year 9999 (found by the fuzzer: formatting it used to panic).
    let doc = fixture("evervault-prod-2022-10-13.cose");
    let ts = 1_665_651_482_136u64.to_be_bytes();
    let at = doc
        .windows(9)
        .position(|w| w[0] == 0x1b && w[1..] == ts)
        .expect("timestamp bytes");
    for forged in [u64::MAX, 253_402_300_800_000] {
        let mut d = doc.clone();
        d[at + 1..at + 9].copy_from_slice(&forged.to_be_bytes());
        let e = aws()
            .verify(&d, VerifyAt::DocumentTime, &Expectations::default())
            .unwrap_err();
        assert!(e.to_string().contains("year 9999"), "{e}");
    }
    assert_eq!(
        sigil_std_ext::time::format_time(
            SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800),
            false
        ),
        "253402300800s after the epoch"
    );
}
