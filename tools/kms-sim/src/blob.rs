//! The simulator's own ciphertext blob format (real KMS blobs are opaque and proprietary).
//!
//! ```text
//! 0x01 | key-id length (1 byte) | key id (ASCII) | nonce (12 bytes) | AES-256-GCM ciphertext ‖ tag
//! ```
//!
//! The AAD binds the format label, the key id and the canonicalised encryption context
//! (pairs sorted by key, each string length-prefixed), so a blob decrypts only under the
//! key named in its header and with exactly the context it was encrypted with.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

use crate::errors::ApiError;

/// Format version byte.
pub const VERSION: u8 = 1;
/// Nonce length.
pub const NONCE_LEN: usize = 12;
/// Largest blob KMS accepts (`CiphertextBlob` is 1..6144 bytes).
pub const MAX_BLOB: usize = 6144;

/// A parsed blob header with its sealed content.
#[derive(Debug)]
pub struct Blob<'a> {
    /// The id of the key that sealed it.
    pub key_id: &'a str,
    nonce: &'a [u8],
    sealed: &'a [u8],
}

fn aad(key_id: &str, context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = b"kms-sim/blob/v1".to_vec();
    let mut push = |s: &[u8]| {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    };
    push(key_id.as_bytes());
    for (k, v) in context {
        push(k.as_bytes());
        push(v.as_bytes());
    }
    out
}

/// Seals `plaintext` under `material` (32 bytes) for `key_id` with `context`.
pub fn seal(
    key_id: &str,
    material: &[u8],
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, ApiError> {
    let cipher = Aes256Gcm::new_from_slice(material)
        .map_err(|_| ApiError::internal("stored key material has the wrong length"))?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    let aad = aad(key_id, context);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| ApiError::internal("encryption failed"))?;
    let id_len = u8::try_from(key_id.len()).map_err(|_| ApiError::internal("key id too long"))?;
    let mut out = Vec::with_capacity(2 + key_id.len() + NONCE_LEN + sealed.len());
    out.push(VERSION);
    out.push(id_len);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Parses a blob's header; anything malformed is `InvalidCiphertextException`.
pub fn parse(bytes: &[u8]) -> Result<Blob<'_>, ApiError> {
    let bad = ApiError::invalid_ciphertext;
    if bytes.len() > MAX_BLOB {
        return Err(bad());
    }
    let (&version, rest) = bytes.split_first().ok_or_else(bad)?;
    if version != VERSION {
        return Err(bad());
    }
    let (&id_len, rest) = rest.split_first().ok_or_else(bad)?;
    let (id, rest) = rest.split_at_checked(usize::from(id_len)).ok_or_else(bad)?;
    let key_id = std::str::from_utf8(id).map_err(|_| bad())?;
    let (nonce, sealed) = rest.split_at_checked(NONCE_LEN).ok_or_else(bad)?;
    if sealed.len() < 16 {
        return Err(bad());
    }
    Ok(Blob {
        key_id,
        nonce,
        sealed,
    })
}

impl Blob<'_> {
    /// Opens the blob with `material`; a wrong key or context is `InvalidCiphertextException`.
    pub fn open(
        &self,
        material: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, ApiError> {
        let cipher = Aes256Gcm::new_from_slice(material)
            .map_err(|_| ApiError::internal("stored key material has the wrong length"))?;
        let aad = aad(self.key_id, context);
        cipher
            .decrypt(
                Nonce::from_slice(self.nonce),
                Payload {
                    msg: self.sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| ApiError::invalid_ciphertext())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = [7u8; 32];
        let mut ctx = BTreeMap::new();
        ctx.insert("purpose".to_string(), "test".to_string());
        let blob = seal("abc", &key, b"hello", &ctx).unwrap();
        let parsed = parse(&blob).unwrap();
        assert_eq!(parsed.key_id, "abc");
        assert_eq!(parsed.open(&key, &ctx).unwrap(), b"hello");
        assert_eq!(
            parsed.open(&key, &BTreeMap::new()).unwrap_err().code,
            "InvalidCiphertextException"
        );
        assert!(parse(b"\x02garbage").is_err());
        assert!(parse(&blob[..10]).is_err());
        let mut flipped = blob.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(parse(&flipped).unwrap().open(&key, &ctx).is_err());
    }
}
