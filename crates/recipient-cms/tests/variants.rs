//! Encoding variants: every BER form KMS could use is accepted (definite or indefinite
//! lengths, constructed or primitive content, any chunking), and every deviation from KMS's
//! shape is rejected with an error naming it.
#![allow(clippy::unwrap_used, missing_docs)]

use sigil_recipient_cms::{CmsError, Envelope, RecipientKey, encode, parse, rand_core::OsRng};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/nitro-fixtures/kms-ciphertext-for-recipient/"
);

fn fixture_key() -> RecipientKey {
    RecipientKey::from_pkcs8_der(
        &std::fs::read(format!("{DIR}enclaver-test-rsa2048.pkcs8.der")).unwrap(),
    )
    .unwrap()
}

/// Definite length with minimal encoding.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

#[derive(Clone, Copy, Debug)]
enum Len {
    Definite,
    Indefinite,
}

fn cons(tag: u8, len: Len, content: &[u8]) -> Vec<u8> {
    match len {
        Len::Definite => tlv(tag, content),
        Len::Indefinite => [&[tag, 0x80][..], content, &[0, 0]].concat(),
    }
}

const ENVELOPED_DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
const DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const AES256_CBC: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
const KMS_KEY_ALG: &str = "303c06092a864886f70d010107302fa00f300d06096086480165030402010500\
                           a11c301a06092a864886f70d010108300d06096086480165030402010500";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An envelope assembled from raw pieces; `kms()` gives exactly KMS's layout.
#[derive(Clone)]
struct Build {
    /// ContentInfo, its [0], EnvelopedData, EncryptedContentInfo.
    lens: [Len; 4],
    content_type: Vec<u8>,
    ed_version: Vec<u8>,
    before_set: Vec<u8>,
    recipients: usize,
    ktri_version: Vec<u8>,
    rid: Vec<u8>,
    key_alg: Vec<u8>,
    encrypted_key: Vec<u8>,
    eci_type: Vec<u8>,
    content_alg: Vec<u8>,
    content: Vec<u8>,
    after_eci: Vec<u8>,
    trailing: Vec<u8>,
}

impl Build {
    fn kms(env: &Envelope) -> Self {
        Build {
            lens: [Len::Indefinite; 4],
            content_type: ENVELOPED_DATA.to_vec(),
            ed_version: vec![2],
            before_set: vec![],
            recipients: 1,
            ktri_version: vec![2],
            rid: tlv(0x80, env.subject_key_identifier()),
            key_alg: unhex(KMS_KEY_ALG),
            encrypted_key: env.encrypted_key().to_vec(),
            eci_type: DATA.to_vec(),
            content_alg: tlv(
                0x30,
                &[tlv(0x06, &AES256_CBC), tlv(0x04, env.iv())].concat(),
            ),
            content: chunks(env.encrypted_content(), &[], Len::Indefinite),
            after_eci: vec![],
            trailing: vec![],
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let [ci, c0, ed, eci] = self.lens;
        let ktri = tlv(
            0x30,
            &[
                tlv(0x02, &self.ktri_version),
                self.rid.clone(),
                self.key_alg.clone(),
                tlv(0x04, &self.encrypted_key),
            ]
            .concat(),
        );
        let set = tlv(0x31, &ktri.repeat(self.recipients));
        let eci = cons(
            0x30,
            eci,
            &[
                tlv(0x06, &self.eci_type),
                self.content_alg.clone(),
                self.content.clone(),
            ]
            .concat(),
        );
        let ed = cons(
            0x30,
            ed,
            &[
                tlv(0x02, &self.ed_version),
                self.before_set.clone(),
                set,
                eci,
                self.after_eci.clone(),
            ]
            .concat(),
        );
        let mut out = cons(
            0x30,
            ci,
            &[tlv(0x06, &self.content_type), cons(0xa0, c0, &ed)].concat(),
        );
        out.extend_from_slice(&self.trailing);
        out
    }
}

/// Constructed `[0]` content: `sizes` are the chunk sizes (the last chunk takes the rest; an
/// empty list means one chunk).
fn chunks(ct: &[u8], sizes: &[usize], len: Len) -> Vec<u8> {
    let mut inner = Vec::new();
    let mut rest = ct;
    for &n in sizes {
        let (chunk, r) = rest.split_at(n);
        inner.extend(tlv(0x04, chunk));
        rest = r;
    }
    if !rest.is_empty() || sizes.is_empty() {
        inner.extend(tlv(0x04, rest));
    }
    cons(0xa0, len, &inner)
}

struct Fixture {
    key: RecipientKey,
    plaintext: Vec<u8>,
    blob: Vec<u8>,
    env: Envelope,
}

fn setup() -> Fixture {
    let key = fixture_key();
    let plaintext: Vec<u8> = (0..74u8).collect();
    let blob = encode(&key.spki_der(), &plaintext, &mut OsRng).unwrap();
    let env = parse(&blob).unwrap();
    Fixture {
        key,
        plaintext,
        blob,
        env,
    }
}

fn expect_err(b: &Build) -> CmsError {
    let bytes = b.bytes();
    let err = parse(&bytes).unwrap_err();
    // Whatever parse rejects, decrypt rejects with the same error.
    assert_eq!(
        fixture_key().decrypt(&bytes).unwrap_err().to_string(),
        err.to_string()
    );
    err
}

#[test]
fn builder_reproduces_the_encoder_exactly() {
    let f = setup();
    assert_eq!(Build::kms(&f.env).bytes(), f.blob);
}

#[test]
fn every_combination_of_definite_and_indefinite_lengths_decrypts() {
    let f = setup();
    for mask in 0u8..32 {
        let pick = |bit: u8| {
            if mask & (1 << bit) != 0 {
                Len::Definite
            } else {
                Len::Indefinite
            }
        };
        let mut b = Build::kms(&f.env);
        b.lens = [pick(0), pick(1), pick(2), pick(3)];
        b.content = chunks(f.env.encrypted_content(), &[], pick(4));
        let bytes = b.bytes();
        assert_eq!(parse(&bytes).unwrap(), f.env, "mask {mask:05b}");
        assert_eq!(f.key.decrypt(&bytes).unwrap().as_slice(), f.plaintext);
    }
}

#[test]
fn primitive_and_chunked_content_decrypt() {
    let f = setup();
    let ct = f.env.encrypted_content();
    assert_eq!(ct.len(), 80);
    let mut variants = vec![tlv(0x80, ct)];
    for sizes in [
        &[16usize][..],
        &[1, 2, 3],
        &[0, 40],
        &[16, 16, 16, 16],
        &[80, 0],
    ] {
        for len in [Len::Definite, Len::Indefinite] {
            variants.push(chunks(ct, sizes, len));
        }
    }
    for content in variants {
        let mut b = Build::kms(&f.env);
        b.content = content;
        let bytes = b.bytes();
        assert_eq!(parse(&bytes).unwrap(), f.env);
        assert_eq!(f.key.decrypt(&bytes).unwrap().as_slice(), f.plaintext);
    }
}

#[test]
fn wrong_oids_are_named() {
    let f = setup();
    let mut b = Build::kms(&f.env);
    b.key_alg = unhex("300d06092a864886f70d0101010500"); // rsaEncryption (PKCS#1 v1.5)
    assert_eq!(
        expect_err(&b).to_string(),
        "unexpected OID for key encryption: 1.2.840.113549.1.1.1 (expected 1.2.840.113549.1.1.7)"
    );

    let mut b = Build::kms(&f.env);
    b.content_type = DATA.to_vec();
    assert_eq!(
        expect_err(&b).to_string(),
        "unexpected OID for ContentInfo contentType: 1.2.840.113549.1.7.1 \
         (expected 1.2.840.113549.1.7.3)"
    );

    let mut b = Build::kms(&f.env);
    b.eci_type = ENVELOPED_DATA.to_vec();
    assert!(matches!(
        expect_err(&b),
        CmsError::UnexpectedOid {
            what: "EncryptedContentInfo contentType",
            ..
        }
    ));

    let mut b = Build::kms(&f.env);
    let aes128 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
    b.content_alg = tlv(0x30, &[tlv(0x06, &aes128), tlv(0x04, f.env.iv())].concat());
    assert_eq!(
        expect_err(&b).to_string(),
        "unexpected OID for content encryption: 2.16.840.1.101.3.4.1.2 \
         (expected 2.16.840.1.101.3.4.1.42)"
    );
}

#[test]
fn oaep_parameters_must_be_exactly_kms() {
    let f = setup();
    let oaep = |params: &[u8]| {
        let mut b = Build::kms(&f.env);
        b.key_alg = tlv(
            0x30,
            &[tlv(0x06, &unhex("2a864886f70d010107")), tlv(0x30, params)].concat(),
        );
        expect_err(&b)
    };
    let sha256 = unhex("300d06096086480165030402010500");
    let sha1 = unhex("300906052b0e03021a0500");
    let mgf1 = |hash: &[u8]| {
        tlv(
            0xa1,
            &tlv(
                0x30,
                &[tlv(0x06, &unhex("2a864886f70d010108")), hash.to_vec()].concat(),
            ),
        )
    };

    // Default (SHA-1) parameters.
    assert!(matches!(oaep(&[]), CmsError::BadParameters(_)));
    // SHA-1 hash.
    let err = oaep(&[tlv(0xa0, &sha1), mgf1(&sha256)].concat());
    assert_eq!(
        err.to_string(),
        "unexpected OID for OAEP hash function: 1.3.14.3.2.26 (expected 2.16.840.1.101.3.4.2.1)"
    );
    // MGF1 with SHA-1.
    let err = oaep(&[tlv(0xa0, &sha256), mgf1(&sha1)].concat());
    assert!(
        matches!(
            err,
            CmsError::UnexpectedOid {
                what: "MGF1 hash function",
                ..
            }
        ),
        "{err}"
    );
    // A label (pSourceAlgorithm [2]).
    let p_source = tlv(
        0xa2,
        &tlv(
            0x30,
            &[tlv(0x06, &unhex("2a864886f70d010109")), tlv(0x04, b"label")].concat(),
        ),
    );
    let err = oaep(&[tlv(0xa0, &sha256), mgf1(&sha256), p_source].concat());
    assert!(matches!(err, CmsError::BadParameters(_)), "{err}");
    // SHA-256 without its NULL parameters.
    let bare = unhex("300b0609608648016503040201");
    let err = oaep(&[tlv(0xa0, &bare), mgf1(&sha256)].concat());
    assert!(
        matches!(
            err,
            CmsError::Missing {
                what: "OAEP hash parameters (NULL)"
            }
        ),
        "{err}"
    );
    // Missing MGF.
    let err = oaep(&tlv(0xa0, &sha256));
    assert!(
        matches!(
            err,
            CmsError::Missing {
                what: "OAEP maskGenAlgorithm [1]"
            }
        ),
        "{err}"
    );
}

#[test]
fn versions_and_recipient_count_are_checked() {
    let f = setup();
    let mut b = Build::kms(&f.env);
    b.ed_version = vec![0];
    assert_eq!(
        expect_err(&b).to_string(),
        "unsupported EnvelopedData version: 0 (expected 2)"
    );
    let mut b = Build::kms(&f.env);
    b.ktri_version = vec![0, 2];
    assert_eq!(
        expect_err(&b).to_string(),
        "unsupported KeyTransRecipientInfo version: a 2-byte INTEGER (expected 2)"
    );
    let mut b = Build::kms(&f.env);
    b.recipients = 2;
    assert!(matches!(expect_err(&b), CmsError::MultipleRecipients));
    b.recipients = 0;
    assert!(matches!(expect_err(&b), CmsError::NoRecipient));
}

#[test]
fn field_sizes_are_checked() {
    let f = setup();
    let mut b = Build::kms(&f.env);
    b.rid = tlv(0x80, &[7; 20]);
    assert!(matches!(expect_err(&b), CmsError::BadSkiLength { len: 20 }));

    let mut b = Build::kms(&f.env);
    b.encrypted_key.pop();
    assert!(matches!(
        expect_err(&b),
        CmsError::BadEncryptedKeyLength { len: 255 }
    ));

    let mut b = Build::kms(&f.env);
    b.content_alg = tlv(0x30, &[tlv(0x06, &AES256_CBC), tlv(0x04, &[0; 8])].concat());
    assert!(matches!(expect_err(&b), CmsError::BadIvLength { len: 8 }));

    let ct = f.env.encrypted_content();
    for (content, len) in [
        (tlv(0x80, &ct[..79]), 79),
        (tlv(0x80, &[]), 0),
        (chunks(&[], &[], Len::Indefinite), 0),
        (cons(0xa0, Len::Indefinite, &[]), 0),
    ] {
        let mut b = Build::kms(&f.env);
        b.content = content;
        let err = expect_err(&b);
        assert!(
            matches!(err, CmsError::BadCiphertextLength { len: l } if l == len),
            "{err}"
        );
    }
}

#[test]
fn extra_or_deeper_structure_is_rejected() {
    let f = setup();
    let ct = f.env.encrypted_content();

    // Nested constructed OCTET STRING inside the constructed [0].
    let mut b = Build::kms(&f.env);
    b.content = cons(
        0xa0,
        Len::Indefinite,
        &cons(0x24, Len::Indefinite, &tlv(0x04, ct)),
    );
    let err = expect_err(&b);
    assert!(
        matches!(
            err,
            CmsError::UnexpectedTag {
                expected: 0x04,
                found: 0x24,
                ..
            }
        ),
        "{err}"
    );

    // encryptedContent missing.
    let mut b = Build::kms(&f.env);
    b.content = vec![];
    assert!(matches!(
        expect_err(&b),
        CmsError::Missing {
            what: "encryptedContent [0]"
        }
    ));

    // originatorInfo.
    let mut b = Build::kms(&f.env);
    b.before_set = cons(0xa0, Len::Definite, &[]);
    let err = expect_err(&b);
    assert!(
        matches!(
            err,
            CmsError::UnexpectedTag {
                expected: 0x31,
                found: 0xa0,
                ..
            }
        ),
        "{err}"
    );

    // unprotectedAttrs.
    let mut b = Build::kms(&f.env);
    b.after_eci = cons(0xa1, Len::Definite, &[]);
    let err = expect_err(&b);
    assert!(
        matches!(
            err,
            CmsError::UnexpectedElement {
                what: "EnvelopedData",
                tag: 0xa1
            }
        ),
        "{err}"
    );

    // issuerAndSerialNumber instead of a SubjectKeyIdentifier.
    let mut b = Build::kms(&f.env);
    b.rid = tlv(0x30, &[tlv(0x30, &[]), tlv(0x02, &[1])].concat());
    assert!(matches!(
        expect_err(&b),
        CmsError::UnexpectedTag { found: 0x30, .. }
    ));

    // Trailing bytes, also an extra end-of-contents.
    for trailing in [vec![0, 0], vec![0x05, 0x00], vec![0xff]] {
        let mut b = Build::kms(&f.env);
        b.trailing = trailing.clone();
        let err = expect_err(&b);
        assert!(
            matches!(err, CmsError::TrailingBytes { count } if count == trailing.len()),
            "{err}"
        );
    }
}
