//! The enclave's ephemeral RSA recipient key and decryption of `CiphertextForRecipient`.
//!
//! # RUSTSEC-2023-0071 (Marvin) is accepted
//!
//! The `rsa` 0.9 crate's private-key operation is not constant-time (RUSTSEC-2023-0071, the
//! "Marvin" timing side channel), and no fixed version exists. This is accepted here because of
//! how the key is used: each [`RecipientKey`] is generated fresh in the enclave, its private
//! half never leaves it, and it performs exactly one OAEP decryption, of a ciphertext that
//! arrives over TLS from KMS. An attacker would need many timed decryptions of chosen
//! ciphertexts under the same key to build the oracle; one decryption of a KMS-made
//! ciphertext gives none. Decryption is also blinded (`decrypt_blinded` with `OsRng`), and
//! every unwrap failure maps to the same detail-free [`CmsError::KeyUnwrap`]. Do not reuse a
//! `RecipientKey` for many requests, and never expose `decrypt` to untrusted callers as an
//! oracle.

use std::fmt;

use aes::Aes256;
use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use rand_core::OsRng;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::SKI_LEN;
use crate::error::CmsError;
use crate::format::{CEK_LEN, RSA_BITS, hex};
use crate::parse::{Envelope, parse};

/// Modulus size of keys made by [`RecipientKey::generate`] (what KMS documents).
const GENERATED_BITS: usize = 2048;

/// An AES-256 content-encryption key; wiped when dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct ContentKey(pub(crate) [u8; CEK_LEN]);

// Compile-time proof that every buffer holding key material wipes itself on drop.
const _: () = {
    const fn assert_zeroize_on_drop<T: ZeroizeOnDrop + ?Sized>() {}
    assert_zeroize_on_drop::<ContentKey>();
    assert_zeroize_on_drop::<Zeroizing<Vec<u8>>>();
    assert_zeroize_on_drop::<RsaPrivateKey>();
    assert_zeroize_on_drop::<cbc::Decryptor<Aes256>>();
    assert_zeroize_on_drop::<cbc::Encryptor<Aes256>>();
};

/// An RSA recipient key for KMS's `Recipient` feature.
///
/// Put [`spki_der`](Self::spki_der) into the NSM attestation document's `public_key`, send the
/// document to KMS, and pass KMS's `CiphertextForRecipient` to [`decrypt`](Self::decrypt).
/// The private key is wiped when this value is dropped; `Debug` prints only the SKI.
pub struct RecipientKey {
    key: RsaPrivateKey,
    spki_der: Vec<u8>,
    ski: [u8; SKI_LEN],
}

impl RecipientKey {
    /// Generates a fresh RSA-2048 key from the operating system's RNG.
    pub fn generate() -> Result<Self, CmsError> {
        let key =
            RsaPrivateKey::new(&mut OsRng, GENERATED_BITS).map_err(CmsError::KeyGeneration)?;
        Self::from_private_key(key)
    }

    /// Loads an RSA-2048/3072/4096 private key from PKCS#8 DER (for fixtures and tests).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CmsError> {
        // `rsa` validates the key's components while decoding.
        let key = RsaPrivateKey::from_pkcs8_der(der).map_err(CmsError::InvalidPrivateKey)?;
        Self::from_private_key(key)
    }

    fn from_private_key(key: RsaPrivateKey) -> Result<Self, CmsError> {
        let bits = key.n().bits();
        if !RSA_BITS.contains(&bits) {
            return Err(CmsError::UnsupportedKeySize { bits });
        }
        let spki_der = key
            .to_public_key()
            .to_public_key_der()
            .map_err(CmsError::InvalidSpki)?
            .into_vec();
        let ski = Sha256::digest(&spki_der).into();
        Ok(RecipientKey { key, spki_der, ski })
    }

    /// The public key as a DER SubjectPublicKeyInfo: what goes into the attestation
    /// document's `public_key`.
    pub fn spki_der(&self) -> Vec<u8> {
        self.spki_der.clone()
    }

    /// SHA-256 of [`spki_der`](Self::spki_der): the recipient identifier KMS puts in the
    /// envelope.
    pub fn ski(&self) -> [u8; SKI_LEN] {
        self.ski
    }

    /// Parses and decrypts a KMS `CiphertextForRecipient` addressed to this key.
    ///
    /// Checks the envelope's SubjectKeyIdentifier against this key, unwraps the 32-byte
    /// content-encryption key with RSAES-OAEP-SHA256, then AES-256-CBC-decrypts and strictly
    /// PKCS#7-unpads the content in place in a buffer that wipes itself when dropped.
    pub fn decrypt(&self, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, CmsError> {
        let envelope = parse(bytes)?;
        self.decrypt_envelope(&envelope)
    }

    fn decrypt_envelope(&self, envelope: &Envelope) -> Result<Zeroizing<Vec<u8>>, CmsError> {
        if envelope.subject_key_identifier() != &self.ski {
            return Err(CmsError::SkiMismatch);
        }
        let cek = self.unwrap_key(envelope.encrypted_key())?;
        let ciphertext = envelope.encrypted_content();

        // Pre-sized so decryption never reallocates (and never leaves plaintext behind).
        let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
        out.extend_from_slice(ciphertext);
        let decryptor = cbc::Decryptor::<Aes256>::new_from_slices(&cek.0, envelope.iv())
            .map_err(|_| CmsError::ContentKeyLength { len: cek.0.len() })?;
        let plaintext_len = decryptor
            .decrypt_padded_mut::<Pkcs7>(out.as_mut_slice())
            .map_err(|_| CmsError::Padding)?
            .len();
        out.truncate(plaintext_len);
        Ok(out)
    }

    /// RSAES-OAEP-SHA256 (MGF1-SHA256, empty label), blinded; the result must be 32 bytes.
    fn unwrap_key(&self, encrypted_key: &[u8]) -> Result<ContentKey, CmsError> {
        let unwrapped = Zeroizing::new(
            self.key
                .decrypt_blinded(&mut OsRng, Oaep::new::<Sha256>(), encrypted_key)
                .map_err(|_| CmsError::KeyUnwrap)?,
        );
        let mut cek = ContentKey([0; CEK_LEN]);
        if unwrapped.len() != CEK_LEN {
            return Err(CmsError::ContentKeyLength {
                len: unwrapped.len(),
            });
        }
        cek.0.copy_from_slice(&unwrapped);
        Ok(cek)
    }
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKey")
            .field("ski", &hex(&self.ski))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_only_the_ski() {
        let der = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/nitro-fixtures/kms-ciphertext-for-recipient/enclaver-test-rsa2048.pkcs8.der"
        ))
        .unwrap();
        let key = RecipientKey::from_pkcs8_der(&der).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(
            shown,
            format!("RecipientKey {{ ski: \"{}\", .. }}", hex(&key.ski()))
        );
    }

    #[test]
    fn content_key_is_wiped_by_zeroize() {
        let mut k = ContentKey([0xa5; CEK_LEN]);
        k.zeroize();
        assert_eq!(k.0, [0; CEK_LEN]);
    }
}
