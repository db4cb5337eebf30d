//! The simulated NSM against the verifier and against real AWS documents: its documents
//! verify against their dev root and not against the AWS root, have AWS's exact payload
//! layout, measure the image into PCR0, and follow the device's PCR and size rules.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

use coset::CborSerializable;
use sigil_attestation::{
    AttestationError, Expectations, RootKind, TrustAnchor, Verifier, VerifyAt, parse,
};
use sigil_nsm::{
    AttestationRequest, DevRoot, ImageMeasurement, Nsm, NsmError, SimulatedNsm, extend,
};

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/nitro-fixtures/attestation-docs/evervault-prod-2022-10-13.cose"
);

fn nsm(image: &[u8]) -> (SimulatedNsm, TrustAnchor) {
    let root = DevRoot::generate().unwrap();
    let anchor = TrustAnchor::from_der(root.cert_der()).unwrap();
    (
        SimulatedNsm::new(
            root,
            &ImageMeasurement::of_bytes(image),
            "i-0123456789abcdef0",
            Some("arn:aws:iam::123456789012:role/Webserver"),
        )
        .unwrap(),
        anchor,
    )
}

fn payload(doc: &[u8]) -> Vec<u8> {
    coset::CoseSign1::from_slice(doc).unwrap().payload.unwrap()
}

#[test]
fn documents_verify_against_the_dev_root_only() {
    let (nsm, anchor) = nsm(b"enclave-app v1");
    let req = AttestationRequest {
        nonce: Some(b"challenge".to_vec()),
        user_data: Some(vec![7; 32]),
        public_key: Some(vec![0x30, 0x82]),
    };
    let doc = nsm.attestation(&req).unwrap();
    let expect = Expectations {
        nonce: req.nonce.clone(),
        user_data: req.user_data.clone(),
        public_key: req.public_key.clone(),
        max_age: Some((Duration::from_secs(60), SystemTime::now())),
        ..Default::default()
    };
    let v = Verifier::new(anchor.clone())
        .verify(&doc, VerifyAt::Time(SystemTime::now()), &expect)
        .unwrap();
    assert_eq!(v.root, RootKind::Explicit);
    assert_eq!(v.document.module_id, nsm.module_id());
    assert_eq!(v.document.pcrs.len(), 16);
    assert!(!v.document.debug_mode());
    let e = Verifier::new(TrustAnchor::aws_nitro_g1().unwrap())
        .verify(
            &doc,
            VerifyAt::Time(SystemTime::now()),
            &Expectations::default(),
        )
        .unwrap_err();
    assert!(matches!(e, AttestationError::UntrustedRoot { .. }), "{e}");
    // Another dev root does not verify it either.
    let other = TrustAnchor::from_der(DevRoot::generate().unwrap().cert_der()).unwrap();
    assert!(
        Verifier::new(other)
            .verify(
                &doc,
                VerifyAt::Time(SystemTime::now()),
                &Expectations::default()
            )
            .is_err()
    );
    // And the leaf lives three hours, like AWS's.
    let later = SystemTime::now() + Duration::from_secs(3 * 3600 + 120);
    let e = Verifier::new(anchor)
        .verify(&doc, VerifyAt::Time(later), &Expectations::default())
        .unwrap_err();
    assert!(
        matches!(e, AttestationError::Certificate { index: 0, .. }),
        "{e}"
    );
}

#[test]
fn a_real_aws_document_does_not_verify_against_a_dev_root() {
    let (_, anchor) = nsm(b"x");
    let e = Verifier::new(anchor)
        .verify(
            &std::fs::read(REAL).unwrap(),
            VerifyAt::DocumentTime,
            &Expectations::default(),
        )
        .unwrap_err();
    assert!(matches!(e, AttestationError::UntrustedRoot { .. }), "{e}");
}

#[test]
fn the_envelope_and_payload_have_aws_exact_layout() {
    let (nsm, _) = nsm(b"layout");
    let doc = nsm.attestation(&AttestationRequest::default()).unwrap();
    let real = std::fs::read(REAL).unwrap();
    // Untagged COSE_Sign1, protected {1: -35}, empty unprotected map, 16-bit payload length.
    assert_eq!(&doc[..7], &real[..7]);
    assert_eq!(doc[7], 0x59);
    assert_eq!(&doc[..7], &[0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0]);
    assert_eq!(&doc[doc.len() - 98..doc.len() - 96], &[0x58, 0x60]);
    // The payload: a 9-entry map whose keys appear in AWS order, absent fields as null.
    let (p, r) = (payload(&doc), payload(&real));
    assert_eq!(p[0], 0xa9);
    assert_eq!(r[0], 0xa9);
    let order = |b: &[u8]| -> Vec<usize> {
        [
            "module_id",
            "digest",
            "timestamp",
            "pcrs",
            "certificate",
            "cabundle",
            "public_key",
            "user_data",
            "nonce",
        ]
        .iter()
        .map(|k| {
            let mut needle = vec![0x60 + k.len() as u8];
            needle.extend_from_slice(k.as_bytes());
            b.windows(needle.len())
                .position(|w| w == needle)
                .unwrap_or_else(|| panic!("key {k} missing"))
        })
        .collect()
    };
    let (po, ro) = (order(&p), order(&r));
    assert!(po.windows(2).all(|w| w[0] < w[1]), "{po:?}");
    assert!(ro.windows(2).all(|w| w[0] < w[1]), "{ro:?}");
    let null_after = |b: &[u8], key: &str| {
        let mut needle = vec![0x60 + key.len() as u8];
        needle.extend_from_slice(key.as_bytes());
        needle.push(0xf6);
        b.windows(needle.len()).any(|w| w == needle)
    };
    for k in ["public_key", "user_data", "nonce"] {
        assert!(null_after(&p, k), "{k} should be null");
    }
    assert!(null_after(&r, "public_key") && null_after(&r, "user_data"));
    // Chain shape: root first, then 3 CAs; P-384 everywhere.
    let parsed = parse(&doc).unwrap();
    assert_eq!(parsed.cabundle.len(), 4);
}

#[test]
fn pcr0_measures_the_image_and_aws_formulas_hold() {
    let (a, _) = nsm(b"enclave-app build 1");
    let (b, _) = nsm(b"enclave-app build 2");
    let pa = parse(&a.attestation(&AttestationRequest::default()).unwrap()).unwrap();
    let pb = parse(&b.attestation(&AttestationRequest::default()).unwrap()).unwrap();
    assert_ne!(
        pa.pcrs[&0], pb.pcrs[&0],
        "a changed binary must change PCR0"
    );
    assert_eq!(
        pa.pcrs[&0],
        ImageMeasurement::of_bytes(b"enclave-app build 1").pcr0
    );
    assert_eq!(pa.pcrs[&1], pb.pcrs[&1]);
    // AWS's published examples for PCR3 (role ARN) and PCR4 (instance id).
    assert_eq!(
        hex(&pa.pcrs[&3]),
        "78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6"
    );
    let i = SimulatedNsm::new(
        DevRoot::generate().unwrap(),
        &ImageMeasurement::of_bytes(b""),
        "i-1234567890abcdef0",
        None,
    )
    .unwrap();
    assert_eq!(
        hex(&i.describe_pcr(4).unwrap().1),
        "08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0"
    );
    // A file is measured like its bytes.
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), b"enclave-app build 1").unwrap();
    assert_eq!(
        ImageMeasurement::of_file(f.path()).unwrap(),
        ImageMeasurement::of_bytes(b"enclave-app build 1")
    );
}

#[test]
fn pcr_rules_match_the_device() {
    let (n, _) = nsm(b"pcr");
    for i in 0..16 {
        assert_eq!(n.extend_pcr(i, b"x"), Err(NsmError::ReadOnlyIndex(i)));
        assert_eq!(n.lock_pcr(i), Err(NsmError::ReadOnlyIndex(i)));
        assert!(n.describe_pcr(i).unwrap().0);
    }
    assert_eq!(n.describe_pcr(16).unwrap(), (false, vec![0; 48]));
    let v = n.extend_pcr(16, b"config digest").unwrap();
    assert_eq!(v, extend(&[0; 48], b"config digest"));
    assert_eq!(n.extend_pcr(16, b"more").unwrap(), extend(&v, b"more"));
    n.lock_pcr(16).unwrap();
    assert_eq!(n.extend_pcr(16, b"x"), Err(NsmError::ReadOnlyIndex(16)));
    assert_eq!(n.describe_pcr(32), Err(NsmError::InvalidIndex(32)));
    assert_eq!(n.extend_pcr(40, b""), Err(NsmError::InvalidIndex(40)));
    // A locked PCR16 appears in documents; unlocked ones do not.
    let doc = parse(&n.attestation(&AttestationRequest::default()).unwrap()).unwrap();
    assert_eq!(doc.pcrs.len(), 17);
    assert_eq!(doc.pcrs[&16], extend(&v, b"more"));
}

#[test]
fn size_limits_match_the_device() {
    let (n, _) = nsm(b"limits");
    let full = AttestationRequest {
        user_data: Some(vec![1; 1024]),
        nonce: Some(vec![2; 1024]),
        public_key: Some(vec![3; 1024]),
    };
    let doc = parse(&n.attestation(&full).unwrap()).unwrap();
    assert_eq!(doc.user_data.unwrap().len(), 1024);
    for req in [
        AttestationRequest {
            user_data: Some(vec![0; 1025]),
            ..Default::default()
        },
        AttestationRequest {
            nonce: Some(vec![0; 1025]),
            ..Default::default()
        },
        AttestationRequest {
            public_key: Some(vec![0; 1025]),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            n.attestation(&req),
            Err(NsmError::InvalidArgument(_))
        ));
    }
    let r1 = n.get_random().unwrap();
    let r2 = n.get_random().unwrap();
    assert_eq!(r1.len(), 256);
    assert_ne!(r1, r2);
    assert!(n.is_simulated());
}

#[test]
fn the_dev_root_is_stored_privately_and_reloads() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = DevRoot::generate().unwrap();
    root.save(dir.path()).unwrap();
    let mode = std::fs::metadata(dir.path().join("dev-root.key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = DevRoot::load(dir.path()).unwrap();
    assert_eq!(again.cert_der(), root.cert_der());
    assert!(root.cert_pem().unwrap().contains("BEGIN CERTIFICATE"));
    let anchor = TrustAnchor::from_pem(root.cert_pem().unwrap().as_bytes()).unwrap();
    let n = SimulatedNsm::new(again, &ImageMeasurement::of_bytes(b"r"), "i-0", None).unwrap();
    Verifier::new(anchor)
        .verify(
            &n.attestation(&AttestationRequest::default()).unwrap(),
            VerifyAt::Time(SystemTime::now()),
            &Expectations::default(),
        )
        .unwrap();
    // A key that does not match the certificate is refused.
    std::fs::copy(dir.path().join("dev-root.key.pem"), dir.path().join("k")).unwrap();
    DevRoot::generate().unwrap().save(dir.path()).unwrap();
    std::fs::copy(dir.path().join("k"), dir.path().join("dev-root.key.pem")).unwrap();
    assert!(
        DevRoot::load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("does not match")
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
