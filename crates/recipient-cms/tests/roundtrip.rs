//! Encode → decrypt round trips with generated keys, encoder input checks, and the
//! zeroization guarantees of the decrypt output type.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::OnceLock;

use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};
use sigil_recipient_cms::{
    CmsError, MAX_PLAINTEXT_LEN, RecipientKey, Zeroizing, encode, parse, rand_core::OsRng,
};
use zeroize::ZeroizeOnDrop;

/// One generated RSA-2048 key shared by the tests of this file (keygen is the slow part).
fn key() -> &'static RecipientKey {
    static KEY: OnceLock<RecipientKey> = OnceLock::new();
    KEY.get_or_init(|| RecipientKey::generate().unwrap())
}

#[test]
fn round_trip_for_many_lengths() {
    let key = key();
    for len in [0usize, 1, 15, 16, 17, 32, 74, 4096] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let blob = encode(&key.spki_der(), &plaintext, &mut OsRng).unwrap();
        let env = parse(&blob).unwrap();
        assert_eq!(
            env.encrypted_content().len(),
            (len / 16 + 1) * 16,
            "len {len}"
        );
        assert_eq!(env.subject_key_identifier(), &key.ski());
        let decrypted = key.decrypt(&blob).unwrap();
        assert_eq!(decrypted.as_slice(), plaintext.as_slice(), "len {len}");
    }
}

#[test]
fn encodings_are_randomised() {
    let key = key();
    let a = parse(&encode(&key.spki_der(), b"same", &mut OsRng).unwrap()).unwrap();
    let b = parse(&encode(&key.spki_der(), b"same", &mut OsRng).unwrap()).unwrap();
    assert_ne!(a.iv(), b.iv());
    assert_ne!(a.encrypted_key(), b.encrypted_key());
    assert_ne!(a.encrypted_content(), b.encrypted_content());
}

#[test]
fn spki_and_ski_are_consistent() {
    let key = key();
    let spki = key.spki_der();
    // DER SubjectPublicKeyInfo of an RSA-2048 key: SEQUENCE (294 bytes) { rsaEncryption, ... }.
    assert_eq!(spki.len(), 294);
    assert_eq!(spki[..4], [0x30, 0x82, 0x01, 0x22]);
    assert_eq!(key.ski(), <[u8; 32]>::from(Sha256::digest(&spki)));
}

#[test]
fn envelope_for_another_key_is_an_ski_mismatch() {
    let other = RecipientKey::generate().unwrap();
    let blob = encode(&other.spki_der(), b"secret", &mut OsRng).unwrap();
    assert!(matches!(key().decrypt(&blob), Err(CmsError::SkiMismatch)));
    assert_eq!(other.decrypt(&blob).unwrap().as_slice(), b"secret");
}

#[test]
fn rsa_3072_recipient_works() {
    let private = rsa::RsaPrivateKey::new(&mut OsRng, 3072).unwrap();
    let key = RecipientKey::from_pkcs8_der(private.to_pkcs8_der().unwrap().as_bytes()).unwrap();
    let blob = encode(&key.spki_der(), b"three thousand", &mut OsRng).unwrap();
    assert_eq!(parse(&blob).unwrap().encrypted_key().len(), 384);
    assert_eq!(key.decrypt(&blob).unwrap().as_slice(), b"three thousand");
}

#[test]
fn encoder_rejects_bad_recipients() {
    // Ed25519 SubjectPublicKeyInfo.
    let mut ed25519 = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    ed25519.extend_from_slice(&[0x11; 32]);
    let err = encode(&ed25519, b"x", &mut OsRng).unwrap_err();
    assert!(matches!(err, CmsError::InvalidSpki(_)), "{err:?}");

    for garbage in [&[][..], &[0x30, 0x00], &[0xff; 40]] {
        let err = encode(garbage, b"x", &mut OsRng).unwrap_err();
        assert!(matches!(err, CmsError::InvalidSpki(_)), "{err:?}");
    }

    // RSA-1024 is well-formed but not a size KMS recipients use.
    let small = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
    let spki = small.to_public_key().to_public_key_der().unwrap();
    let err = encode(spki.as_bytes(), b"x", &mut OsRng).unwrap_err();
    assert!(
        matches!(err, CmsError::UnsupportedKeySize { bits: 1024 }),
        "{err:?}"
    );
    let err = RecipientKey::from_pkcs8_der(small.to_pkcs8_der().unwrap().as_bytes()).unwrap_err();
    assert!(
        matches!(err, CmsError::UnsupportedKeySize { bits: 1024 }),
        "{err:?}"
    );

    // Trailing bytes after the SPKI, and a non-minimal (BER) outer length.
    let mut trailing = key().spki_der();
    trailing.push(0);
    assert!(encode(&trailing, b"x", &mut OsRng).is_err());
    let good = key().spki_der();
    let mut ber = vec![0x30, 0x83, 0x00, 0x01, 0x22];
    ber.extend_from_slice(&good[4..]);
    assert!(encode(&ber, b"x", &mut OsRng).is_err());

    assert!(matches!(
        RecipientKey::from_pkcs8_der(&[0x30, 0x00]),
        Err(CmsError::InvalidPrivateKey(_))
    ));
}

#[test]
fn encoder_rejects_oversized_plaintext() {
    let big = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    let err = encode(&key().spki_der(), &big, &mut OsRng).unwrap_err();
    assert!(matches!(err, CmsError::PlaintextTooLong { .. }), "{err:?}");
    // The largest allowed plaintext still parses (stays under MAX_INPUT_LEN).
    let max = vec![0u8; MAX_PLAINTEXT_LEN];
    let blob = encode(&key().spki_der(), &max, &mut OsRng).unwrap();
    assert_eq!(key().decrypt(&blob).unwrap().len(), MAX_PLAINTEXT_LEN);
}

/// Compile-time: only instantiable for types that wipe themselves on drop.
fn assert_zeroize_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn decrypt_output_is_zeroizing() {
    let key = key();
    let blob = encode(&key.spki_der(), b"age-identity", &mut OsRng).unwrap();
    // The type annotation is the assertion: a `Zeroizing<Vec<u8>>`, wiped (to full capacity)
    // on drop.
    let plaintext: Zeroizing<Vec<u8>> = key.decrypt(&blob).unwrap();
    assert_zeroize_on_drop::<Zeroizing<Vec<u8>>>();
    // Decrypted in place in a buffer pre-sized to the ciphertext: no reallocation happened.
    assert_eq!(plaintext.capacity(), 16);
    assert_eq!(plaintext.as_slice(), b"age-identity");
    // `RecipientKey` holds an `rsa::RsaPrivateKey`, which wipes itself on drop.
    assert_zeroize_on_drop::<rsa::RsaPrivateKey>();
}

#[test]
fn debug_does_not_print_key_material() {
    let shown = format!("{:?}", key());
    assert!(shown.starts_with("RecipientKey { ski: \""), "{shown}");
    assert!(shown.len() < 100, "{shown}");
}
