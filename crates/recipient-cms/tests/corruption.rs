//! Robustness: every single-byte corruption and every truncation of the real KMS fixture,
//! random garbage, deep nesting and oversized inputs give an error (or, inside the random
//! fields, a different plaintext), never a panic, and quickly.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use sigil_recipient_cms::{
    CmsError, MAX_INPUT_LEN, RecipientKey, parse,
    rand_core::{OsRng, RngCore},
};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/nitro-fixtures/kms-ciphertext-for-recipient/"
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap()
}

fn fixture_key() -> RecipientKey {
    RecipientKey::from_pkcs8_der(&fixture("enclaver-test-rsa2048.pkcs8.der")).unwrap()
}

/// Byte offsets (in enclaver-hello-world.ber) where a change may still decrypt, to a different
/// plaintext: the encryptedKey, the IV and the ciphertext contents.
fn in_random_field(i: usize) -> bool {
    (131..387).contains(&i) || (415..431).contains(&i) || (435..451).contains(&i)
}

#[test]
fn every_single_byte_flip_is_caught() {
    let key = fixture_key();
    let original = fixture("enclaver-hello-world.ber");
    let mut decrypted_differently = 0;
    for i in 0..original.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut blob = original.clone();
            blob[i] ^= mask;
            let parsed = parse(&blob);
            match key.decrypt(&blob) {
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                }
                Ok(plaintext) => {
                    assert!(
                        in_random_field(i),
                        "flip {mask:#04x} at {i} outside the random fields still decrypted"
                    );
                    assert_ne!(plaintext.as_slice(), b"Hello, World", "flip at {i}");
                    decrypted_differently += 1;
                }
            }
            // A structural change outside the random fields and the SKI never parses.
            if !in_random_field(i) && !(33..65).contains(&i) {
                assert!(parsed.is_err(), "flip {mask:#04x} at {i} still parses");
            }
        }
    }
    // IV flips in the first 12 bytes change the plaintext without touching the padding.
    assert!(decrypted_differently > 0);
}

#[test]
fn every_truncation_is_an_error() {
    let key = fixture_key();
    let original = fixture("enclaver-hello-world.ber");
    for len in 0..original.len() {
        let blob = &original[..len];
        let err = parse(blob).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert!(key.decrypt(blob).is_err(), "truncated to {len}");
    }
    for name in [
        "sdk-c-constructed-content.ber",
        "sdk-c-primitive-content.ber",
        "rustcrypto-formats-779-sample1.ber",
    ] {
        let original = fixture(name);
        for len in 0..original.len() {
            assert!(
                parse(&original[..len]).is_err(),
                "{name} truncated to {len}"
            );
        }
    }
}

#[test]
fn empty_and_oversized_inputs() {
    let err = parse(&[]).unwrap_err();
    assert!(matches!(err, CmsError::Empty));
    assert_eq!(err.to_string(), "empty input: expected a CMS ContentInfo");

    let mut big = fixture("enclaver-hello-world.ber");
    big.resize(MAX_INPUT_LEN + 1, 0);
    let err = parse(&big).unwrap_err();
    assert!(
        matches!(err, CmsError::InputTooLong { len, max } if len == MAX_INPUT_LEN + 1 && max == MAX_INPUT_LEN),
        "{err}"
    );
}

#[test]
fn deeply_nested_indefinite_garbage_fails_fast() {
    let start = Instant::now();
    let nested = [0x30u8, 0x80].repeat(10_000);
    let err = parse(&nested).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected ContentInfo contentType (tag 0x06), found tag 0x30"
    );

    // Valid down to EnvelopedData, then deep nesting.
    let original = fixture("enclaver-hello-world.ber");
    let mut deep = original[..17].to_vec();
    deep.extend([0x30u8, 0x80].repeat(10_000));
    let err = parse(&deep).unwrap_err();
    assert!(
        matches!(err, CmsError::UnexpectedTag { found: 0x30, .. }),
        "{err}"
    );

    // Valid down to encryptedContent, then nested constructed OCTET STRINGs.
    let mut deep = original[..433].to_vec();
    deep.extend([0x24u8, 0x80].repeat(10_000));
    let err = parse(&deep).unwrap_err();
    assert!(
        matches!(err, CmsError::UnexpectedTag { found: 0x24, .. }),
        "{err}"
    );

    // Indefinite lengths never closed.
    let mut open = original[..433].to_vec();
    open.extend([0x04, 0x00].repeat(10_000));
    let err = parse(&open).unwrap_err();
    assert!(matches!(err, CmsError::Truncated { .. }), "{err}");

    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn lengths_beyond_the_input_are_rejected() {
    let original = fixture("enclaver-hello-world.ber");
    // encryptedKey claims 0xffff bytes.
    let mut blob = original.clone();
    blob[129] = 0xff;
    blob[130] = 0xff;
    let err = parse(&blob).unwrap_err();
    assert!(
        matches!(
            err,
            CmsError::LengthBeyondInput {
                what: "encryptedKey",
                len: 0xffff,
                ..
            }
        ),
        "{err}"
    );
    // recipientInfos SET claims a 4-byte length of 4 GiB.
    let mut blob = original[..20].to_vec();
    blob.extend([0x31, 0x84, 0xff, 0xff, 0xff, 0xff]);
    blob.extend(&original[24..]);
    assert!(matches!(
        parse(&blob).unwrap_err(),
        CmsError::LengthBeyondInput { .. }
    ));
    // A five-byte length field.
    let mut blob = original[..20].to_vec();
    blob.extend([0x31, 0x85, 0, 0, 0, 1, 0x6b]);
    blob.extend(&original[24..]);
    assert!(matches!(
        parse(&blob).unwrap_err(),
        CmsError::BadLength { .. }
    ));
}

#[test]
fn random_garbage_never_parses() {
    let original = fixture("enclaver-hello-world.ber");
    let start = Instant::now();
    for round in 0..5_000 {
        let len = (OsRng.next_u32() % 700) as usize;
        let mut data = vec![0u8; len];
        OsRng.fill_bytes(&mut data);
        if round % 2 == 0 && len > 40 {
            // Keep a valid prefix so the parser gets deeper before the garbage.
            let keep = (OsRng.next_u32() as usize) % 40;
            data[..keep].copy_from_slice(&original[..keep]);
        }
        let err = parse(&data).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}
