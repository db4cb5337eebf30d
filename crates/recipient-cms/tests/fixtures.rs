//! The real KMS `CiphertextForRecipient` fixtures: they parse, the enclaver one decrypts, and
//! the encoder reproduces their bytes exactly outside the random fields.
#![allow(clippy::unwrap_used, missing_docs)]

use sha2::{Digest, Sha256};
use sigil_recipient_cms::{CmsError, RecipientKey, encode, parse, rand_core::OsRng};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/nitro-fixtures/kms-ciphertext-for-recipient/"
);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{DIR}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"))
}

fn fixture_key() -> RecipientKey {
    RecipientKey::from_pkcs8_der(&fixture("enclaver-test-rsa2048.pkcs8.der")).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const BER_FIXTURES: [&str; 4] = [
    "enclaver-hello-world.ber",
    "rustcrypto-formats-779-sample1.ber",
    "sdk-c-constructed-content.ber",
    "sdk-c-primitive-content.ber",
];

#[test]
fn every_fixture_parses() {
    for name in BER_FIXTURES {
        let env = parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(env.encrypted_key().len(), 256, "{name}");
        assert_eq!(env.iv().len(), 16, "{name}");
        assert!(!env.encrypted_content().is_empty(), "{name}");
        assert_eq!(env.encrypted_content().len() % 16, 0, "{name}");
    }
}

#[test]
fn sdk_c_constructed_content_fields() {
    let env = parse(&fixture("sdk-c-constructed-content.ber")).unwrap();
    assert_eq!(
        env.iv().as_slice(),
        unhex("688c6d5f7f31b0fecedf09f2e7c99ac9")
    );
    assert_eq!(env.encrypted_content().len(), 48);
    assert_eq!(
        env.encrypted_content(),
        unhex(
            "70e5caaffd49ad24efe15bf903be9d19895b777d269b57b025f6f67e7ef93f94\
             464515f2ebe034ea0b7621a1ff19292e"
        )
    );
    assert_eq!(
        env.subject_key_identifier().as_slice(),
        unhex("7087b55df94ba3255cdf3c01840a2aa3ec93620625d601cf56f97bde7a3d2eb1")
    );
}

#[test]
fn sdk_c_primitive_content_fields() {
    let env = parse(&fixture("sdk-c-primitive-content.ber")).unwrap();
    assert_eq!(
        env.iv().as_slice(),
        unhex("e66c1172aee0f2f7be34e3afc6b0e4fe")
    );
    assert_eq!(
        env.encrypted_content(),
        unhex("1f943eb0105c1b0644df4f7130448a28")
    );
}

#[test]
fn enclaver_fixture_decrypts_to_hello_world() {
    let key = fixture_key();
    let blob = fixture("enclaver-hello-world.ber");
    assert_eq!(parse(&blob).unwrap().subject_key_identifier(), &key.ski());
    assert_eq!(key.ski(), <[u8; 32]>::from(Sha256::digest(key.spki_der())));
    let plaintext = key.decrypt(&blob).unwrap();
    assert_eq!(plaintext.as_slice(), b"Hello, World");
}

#[test]
fn fixture_with_a_fresh_key_is_an_ski_mismatch() {
    let key = RecipientKey::generate().unwrap();
    let err = key
        .decrypt(&fixture("enclaver-hello-world.ber"))
        .unwrap_err();
    assert!(matches!(err, CmsError::SkiMismatch), "{err:?}");
    assert_eq!(err.to_string(), "recipient SKI does not match this key");
}

/// Byte ranges of the random fields in a 461-byte RSA-2048 / 16-byte-content envelope:
/// encryptedKey content, IV content, ciphertext content.
const RANDOM_FIELDS: [std::ops::Range<usize>; 3] = [131..387, 415..431, 435..451];
/// The SubjectKeyIdentifier content.
const SKI_FIELD: std::ops::Range<usize> = 33..65;

fn assert_same_outside(ours: &[u8], theirs: &[u8], holes: &[std::ops::Range<usize>], name: &str) {
    assert_eq!(ours.len(), theirs.len(), "{name}: length");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if holes.iter().any(|r| r.contains(&i)) {
            continue;
        }
        assert_eq!(a, b, "{name}: byte {i} differs (ours {a:02x}, KMS {b:02x})");
    }
}

#[test]
fn encoder_reproduces_kms_bytes_outside_random_fields() {
    let key = fixture_key();
    let ours = encode(&key.spki_der(), b"Hello, World", &mut OsRng).unwrap();
    // Same key, so even the SKI is identical to the enclaver fixture.
    assert_same_outside(
        &ours,
        &fixture("enclaver-hello-world.ber"),
        &RANDOM_FIELDS,
        "enclaver-hello-world",
    );
    let mut holes = RANDOM_FIELDS.to_vec();
    holes.push(SKI_FIELD);
    assert_same_outside(
        &ours,
        &fixture("rustcrypto-formats-779-sample1.ber"),
        &holes,
        "rustcrypto-formats-779-sample1",
    );
    // The 31-byte common prefix and the fixed OAEP block, as documented.
    assert_eq!(
        ours[..31],
        unhex("308006092a864886f70d010703a08030800201023182016b30820167020102")[..]
    );
    assert_eq!(
        ours[65..131],
        unhex(
            "303c06092a864886f70d010107302fa00f300d06096086480165030402010500a11c301a06092a\
             864886f70d010108300d0609608648016503040201050004820100"
        )[..]
    );
    assert_eq!(key.decrypt(&ours).unwrap().as_slice(), b"Hello, World");
}

#[test]
fn encoder_matches_sdk_c_layout_for_48_byte_content() {
    let key = fixture_key();
    // 32..=47 plaintext bytes pad to 48 ciphertext bytes, like the sdk-c sample.
    let ours = encode(&key.spki_der(), &[0x5a; 40], &mut OsRng).unwrap();
    assert_same_outside(
        &ours,
        &fixture("sdk-c-constructed-content.ber"),
        &[SKI_FIELD, 131..387, 415..431, 435..483],
        "sdk-c-constructed-content",
    );
    assert_eq!(key.decrypt(&ours).unwrap().as_slice(), [0x5a; 40]);
}
