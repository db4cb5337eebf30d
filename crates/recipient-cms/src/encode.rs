//! The encoder the KMS simulator uses to answer with `CiphertextForRecipient`.
//!
//! Output matches real KMS output element by element: the same tags, the same length forms
//! (indefinite on ContentInfo, its `[0]`, EnvelopedData, EncryptedContentInfo and the
//! constructed `encryptedContent`; minimal definite lengths everywhere else), the same field
//! order and algorithm parameters. Only the random fields (wrapped key, IV, ciphertext) and,
//! for other key or plaintext sizes, their lengths differ. The ciphertext is emitted as a
//! single OCTET STRING chunk: every real sample (at most 48 bytes of content) has one chunk,
//! and how KMS splits larger contents has not been observed.

use aes::Aes256;
use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use rand_core::CryptoRngCore;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::error::CmsError;
use crate::format::{
    BLOCK_LEN, CEK_LEN, ID_AES256_CBC, ID_DATA, ID_ENVELOPED_DATA, ID_MGF1, ID_RSAES_OAEP,
    ID_SHA256, RSA_BITS, VERSION, tag,
};
use crate::key::ContentKey;
use crate::{IV_LEN, MAX_PLAINTEXT_LEN, SKI_LEN};

/// Indefinite-length marker.
const INDEFINITE: u8 = 0x80;
/// End-of-contents octets.
const EOC: [u8; 2] = [0x00, 0x00];

/// Encrypts `plaintext` to the RSA key in `recipient_spki_der` (a DER SubjectPublicKeyInfo,
/// as found in the attestation document's `public_key`) exactly as KMS does.
///
/// The recipient identifier is SHA-256 of `recipient_spki_der`; a random 32-byte AES key and
/// 16-byte IV come from `rng`, and the key is wrapped with RSAES-OAEP-SHA256
/// (MGF1-SHA256, empty label). Fails if the SPKI is not a canonical-DER RSA-2048/3072/4096
/// key or the plaintext exceeds [`MAX_PLAINTEXT_LEN`].
pub fn encode<R: CryptoRngCore>(
    recipient_spki_der: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CmsError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(CmsError::PlaintextTooLong {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    let public_key =
        RsaPublicKey::from_public_key_der(recipient_spki_der).map_err(CmsError::InvalidSpki)?;
    let canonical = public_key
        .to_public_key_der()
        .map_err(CmsError::InvalidSpki)?;
    if canonical.as_bytes() != recipient_spki_der {
        return Err(CmsError::NonCanonicalSpki);
    }
    let bits = public_key.n().bits();
    if !RSA_BITS.contains(&bits) {
        return Err(CmsError::UnsupportedKeySize { bits });
    }
    let ski: [u8; SKI_LEN] = Sha256::digest(recipient_spki_der).into();

    let mut cek = ContentKey([0; CEK_LEN]);
    rng.fill_bytes(&mut cek.0);
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);

    let encrypted_key = public_key
        .encrypt(rng, Oaep::new::<Sha256>(), &cek.0)
        .map_err(CmsError::Encrypt)?;

    let padded_len = (plaintext.len() / BLOCK_LEN + 1) * BLOCK_LEN;
    let mut ciphertext = vec![0u8; padded_len];
    let encryptor = cbc::Encryptor::<Aes256>::new_from_slices(&cek.0, &iv)
        .map_err(|_| CmsError::ContentKeyLength { len: cek.0.len() })?;
    let written = encryptor
        .encrypt_padded_b2b_mut::<Pkcs7>(plaintext, &mut ciphertext)
        .map_err(|_| CmsError::Padding)?
        .len();
    ciphertext.truncate(written);
    drop(cek);

    Ok(assemble(&ski, &encrypted_key, &iv, &ciphertext))
}

/// Lays out the envelope around the four variable fields.
fn assemble(ski: &[u8], encrypted_key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let version = tlv(tag::INTEGER, &[VERSION]);

    // KeyTransRecipientInfo (definite).
    let sha256 = tlv(
        tag::SEQUENCE,
        &cat(&[&oid(ID_SHA256.der), &tlv(tag::NULL, &[])]),
    );
    let oaep_params = tlv(
        tag::SEQUENCE,
        &cat(&[
            &tlv(tag::CTX0, &sha256),
            &tlv(
                tag::CTX1,
                &tlv(tag::SEQUENCE, &cat(&[&oid(ID_MGF1.der), &sha256])),
            ),
        ]),
    );
    let key_encryption_algorithm = tlv(
        tag::SEQUENCE,
        &cat(&[&oid(ID_RSAES_OAEP.der), &oaep_params]),
    );
    let ktri = tlv(
        tag::SEQUENCE,
        &cat(&[
            &version,
            &tlv(tag::CTX0_PRIMITIVE, ski),
            &key_encryption_algorithm,
            &tlv(tag::OCTET_STRING, encrypted_key),
        ]),
    );
    let recipient_infos = tlv(tag::SET, &ktri);

    // EncryptedContentInfo (indefinite, with an indefinite constructed [0]).
    let content_encryption_algorithm = tlv(
        tag::SEQUENCE,
        &cat(&[&oid(ID_AES256_CBC.der), &tlv(tag::OCTET_STRING, iv)]),
    );
    let encrypted_content = indefinite(tag::CTX0, &tlv(tag::OCTET_STRING, ciphertext));
    let encrypted_content_info = indefinite(
        tag::SEQUENCE,
        &cat(&[
            &oid(ID_DATA.der),
            &content_encryption_algorithm,
            &encrypted_content,
        ]),
    );

    let enveloped_data = indefinite(
        tag::SEQUENCE,
        &cat(&[&version, &recipient_infos, &encrypted_content_info]),
    );
    indefinite(
        tag::SEQUENCE,
        &cat(&[
            &oid(ID_ENVELOPED_DATA.der),
            &indefinite(tag::CTX0, &enveloped_data),
        ]),
    )
}

/// Concatenation.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// An OBJECT IDENTIFIER element.
fn oid(der: &[u8]) -> Vec<u8> {
    tlv(tag::OID, der)
}

/// A definite-length element with a minimal (DER) length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len().saturating_add(6));
    out.push(tag);
    match u8::try_from(content.len()) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = content.len().to_be_bytes();
            let significant: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
            // At most size_of::<usize>() (<= 16) octets, so the count fits the low 7 bits.
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0x7f));
            out.extend_from_slice(&significant);
        }
    }
    out.extend_from_slice(content);
    out
}

/// An indefinite-length constructed element: tag, 0x80, content, end-of-contents.
fn indefinite(tag: u8, content: &[u8]) -> Vec<u8> {
    cat(&[&[tag, INDEFINITE], content, &EOC])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_lengths() {
        assert_eq!(tlv(0x04, &[]), [0x04, 0x00]);
        assert_eq!(tlv(0x04, &[7; 0x7f])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(0x04, &[7; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[7; 0xff])[..3], [0x04, 0x81, 0xff]);
        assert_eq!(tlv(0x04, &[7; 0x100])[..4], [0x04, 0x82, 0x01, 0x00]);
        assert_eq!(
            tlv(0x04, &[7; 0x1_0000])[..5],
            [0x04, 0x83, 0x01, 0x00, 0x00]
        );
    }
}

/// Structural identity of the encoder's output with real KMS samples, walked with the parser's
/// own TLV reader.
#[cfg(test)]
mod structure_tests {
    use super::*;
    use crate::ber::{LengthForm, walk};
    use crate::key::RecipientKey;

    const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/nitro-fixtures/kms-ciphertext-for-recipient/"
    );

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}{name}")).unwrap()
    }

    #[test]
    fn encoder_output_walks_like_real_kms_output() {
        let key =
            RecipientKey::from_pkcs8_der(&fixture("enclaver-test-rsa2048.pkcs8.der")).unwrap();
        let ours = encode(&key.spki_der(), b"Hello, World", &mut rand_core::OsRng).unwrap();
        let our_walk = walk(&ours).unwrap();
        for name in [
            "enclaver-hello-world.ber",
            "rustcrypto-formats-779-sample1.ber",
        ] {
            let theirs = walk(&fixture(name)).unwrap();
            assert_eq!(our_walk, theirs, "{name}");
        }
        // Sanity: the walk saw the indefinite and long forms it should have.
        assert_eq!(
            our_walk
                .iter()
                .filter(|e| e.2 == LengthForm::Indefinite)
                .count(),
            5
        );
        assert_eq!(our_walk.len(), 30);
    }

    #[test]
    fn larger_plaintext_keeps_the_shape_with_long_form_chunk() {
        let key =
            RecipientKey::from_pkcs8_der(&fixture("enclaver-test-rsa2048.pkcs8.der")).unwrap();
        let ours = encode(&key.spki_der(), &[0x42; 200], &mut rand_core::OsRng).unwrap();
        let theirs = walk(&fixture("sdk-c-constructed-content.ber")).unwrap();
        let ours = walk(&ours).unwrap();
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            if b.1 == tag::OCTET_STRING && b.0 == 5 && b.3 == Some(48) {
                // The content chunk: 208 bytes in long form instead of 48 in short form.
                assert_eq!(*a, (5, tag::OCTET_STRING, LengthForm::Long(1), Some(208)));
            } else {
                assert_eq!(a, b);
            }
        }
    }
}
