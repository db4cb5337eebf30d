//! Strict parsing of KMS's `CiphertextForRecipient` into an [`Envelope`].
//!
//! Accepted shape (lengths may be definite or indefinite on every constructed element):
//!
//! ```text
//! ContentInfo SEQUENCE {
//!   contentType OID id-envelopedData
//!   [0] EXPLICIT EnvelopedData SEQUENCE {
//!     version INTEGER 2
//!     recipientInfos SET {                          -- exactly one
//!       KeyTransRecipientInfo SEQUENCE {
//!         version INTEGER 2
//!         rid [0] IMPLICIT SubjectKeyIdentifier     -- 32 bytes
//!         keyEncryptionAlgorithm SEQUENCE {
//!           OID id-RSAES-OAEP
//!           RSAES-OAEP-params SEQUENCE {
//!             [0] SEQUENCE { OID sha256, NULL }
//!             [1] SEQUENCE { OID id-mgf1, SEQUENCE { OID sha256, NULL } }
//!           }                                        -- no pSourceFunc: empty label
//!         }
//!         encryptedKey OCTET STRING                 -- 256/384/512 bytes
//!       }
//!     }
//!     EncryptedContentInfo SEQUENCE {
//!       contentType OID id-data
//!       SEQUENCE { OID aes256-CBC, OCTET STRING iv } -- 16 bytes
//!       encryptedContent [0] IMPLICIT: either constructed { OCTET STRING chunk ... }
//!                                      or primitive bytes; non-zero multiple of 16 bytes
//!     }
//!   }                                                -- no originatorInfo, no unprotectedAttrs
//! }                                                  -- nothing after it
//! ```

use crate::ber::Reader;
use crate::error::CmsError;
use crate::format::{
    BLOCK_LEN, ENCRYPTED_KEY_LENS, ID_AES256_CBC, ID_DATA, ID_ENVELOPED_DATA, ID_MGF1,
    ID_RSAES_OAEP, ID_SHA256, Oid, VERSION, oid_to_string, tag,
};
use crate::{IV_LEN, MAX_INPUT_LEN, SKI_LEN};

/// The fields of a parsed `CiphertextForRecipient`. Everything in it is public on the wire:
/// the content-encryption key is still RSA-wrapped and the content still encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    ski: [u8; SKI_LEN],
    encrypted_key: Vec<u8>,
    iv: [u8; IV_LEN],
    encrypted_content: Vec<u8>,
}

impl Envelope {
    /// The recipient identifier: SHA-256 of the recipient's SubjectPublicKeyInfo DER.
    pub fn subject_key_identifier(&self) -> &[u8; SKI_LEN] {
        &self.ski
    }

    /// The RSAES-OAEP-wrapped content-encryption key (as long as the RSA modulus).
    pub fn encrypted_key(&self) -> &[u8] {
        &self.encrypted_key
    }

    /// The AES-256-CBC initialisation vector.
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// The AES-256-CBC ciphertext (chunks of the constructed form concatenated); a non-zero
    /// multiple of 16 bytes.
    pub fn encrypted_content(&self) -> &[u8] {
        &self.encrypted_content
    }
}

/// Parses a KMS `CiphertextForRecipient` (the raw bytes, not base64).
///
/// Accepts exactly the shape KMS produces (see the module documentation of this file) and
/// rejects anything else with an error naming the offending element: other OIDs, versions or
/// algorithm parameters, more or fewer than one recipient, wrong field sizes, extra elements,
/// nesting deeper than needed, lengths beyond the input, trailing bytes, and inputs over
/// [`MAX_INPUT_LEN`]. Never panics; runs in time linear in the input.
pub fn parse(bytes: &[u8]) -> Result<Envelope, CmsError> {
    if bytes.is_empty() {
        return Err(CmsError::Empty);
    }
    if bytes.len() > MAX_INPUT_LEN {
        return Err(CmsError::InputTooLong {
            len: bytes.len(),
            max: MAX_INPUT_LEN,
        });
    }
    let mut top = Reader::new(bytes, "input");
    let envelope = top.constructed(tag::SEQUENCE, "ContentInfo", |ci| {
        expect_oid(ci, ID_ENVELOPED_DATA, "ContentInfo contentType")?;
        ci.constructed(tag::CTX0, "ContentInfo content [0]", |content| {
            content.constructed(tag::SEQUENCE, "EnvelopedData", enveloped_data)
        })
    })?;
    match top.remaining() {
        0 => Ok(envelope),
        count => Err(CmsError::TrailingBytes { count }),
    }
}

/// `EnvelopedData`: version, one recipient, the encrypted content; nothing else.
fn enveloped_data(ed: &mut Reader<'_>) -> Result<Envelope, CmsError> {
    expect_version(ed, "EnvelopedData version")?;
    let (ski, encrypted_key) = ed.constructed(tag::SET, "recipientInfos SET", |set| {
        if set.at_end() {
            return Err(CmsError::NoRecipient);
        }
        let recipient = set.constructed(tag::SEQUENCE, "KeyTransRecipientInfo", key_trans)?;
        if !set.at_end() {
            return Err(CmsError::MultipleRecipients);
        }
        Ok(recipient)
    })?;
    let (iv, encrypted_content) = ed.constructed(
        tag::SEQUENCE,
        "EncryptedContentInfo",
        encrypted_content_info,
    )?;
    Ok(Envelope {
        ski,
        encrypted_key,
        iv,
        encrypted_content,
    })
}

/// `KeyTransRecipientInfo` v2 with a SubjectKeyIdentifier and RSAES-OAEP-SHA256.
fn key_trans(ktri: &mut Reader<'_>) -> Result<([u8; SKI_LEN], Vec<u8>), CmsError> {
    expect_version(ktri, "KeyTransRecipientInfo version")?;
    let rid = ktri.primitive(
        tag::CTX0_PRIMITIVE,
        "recipient identifier [0] SubjectKeyIdentifier",
    )?;
    let ski: [u8; SKI_LEN] = rid
        .try_into()
        .map_err(|_| CmsError::BadSkiLength { len: rid.len() })?;
    ktri.constructed(tag::SEQUENCE, "keyEncryptionAlgorithm", |alg| {
        expect_oid(alg, ID_RSAES_OAEP, "key encryption")?;
        alg.constructed(tag::SEQUENCE, "RSAES-OAEP parameters", oaep_params)
    })?;
    let encrypted_key = ktri.primitive(tag::OCTET_STRING, "encryptedKey")?;
    if !ENCRYPTED_KEY_LENS.contains(&encrypted_key.len()) {
        return Err(CmsError::BadEncryptedKeyLength {
            len: encrypted_key.len(),
        });
    }
    Ok((ski, encrypted_key.to_vec()))
}

/// RSAES-OAEP-params exactly as KMS sends them: explicit SHA-256 (with NULL parameters),
/// explicit MGF1 with SHA-256 (with NULL parameters), no pSourceFunc.
fn oaep_params(params: &mut Reader<'_>) -> Result<(), CmsError> {
    if params.at_end() {
        return Err(CmsError::BadParameters(
            "RSAES-OAEP parameters are empty (defaults mean SHA-1; KMS names SHA-256)",
        ));
    }
    params.constructed(tag::CTX0, "OAEP hashAlgorithm [0]", |h| {
        h.constructed(tag::SEQUENCE, "OAEP hashAlgorithm", |a| {
            sha256_with_null(a, "OAEP hash function", "OAEP hash parameters (NULL)")
        })
    })?;
    params.constructed(tag::CTX1, "OAEP maskGenAlgorithm [1]", |m| {
        m.constructed(tag::SEQUENCE, "OAEP maskGenAlgorithm", |a| {
            expect_oid(a, ID_MGF1, "OAEP mask generation function")?;
            a.constructed(tag::SEQUENCE, "MGF1 hash AlgorithmIdentifier", |h| {
                sha256_with_null(h, "MGF1 hash function", "MGF1 hash parameters (NULL)")
            })
        })
    })?;
    if params.peek_tag() == Some(tag::CTX2) {
        return Err(CmsError::BadParameters(
            "OAEP pSourceAlgorithm is present (KMS uses the default empty label)",
        ));
    }
    Ok(())
}

/// `AlgorithmIdentifier { sha256, NULL }`.
fn sha256_with_null(
    alg: &mut Reader<'_>,
    what: &'static str,
    null_what: &'static str,
) -> Result<(), CmsError> {
    expect_oid(alg, ID_SHA256, what)?;
    let null = alg.primitive(tag::NULL, null_what)?;
    if !null.is_empty() {
        return Err(CmsError::BadParameters("NULL with non-empty content"));
    }
    Ok(())
}

/// `EncryptedContentInfo { id-data, aes256-CBC(iv), [0] ciphertext }`.
fn encrypted_content_info(eci: &mut Reader<'_>) -> Result<([u8; IV_LEN], Vec<u8>), CmsError> {
    expect_oid(eci, ID_DATA, "EncryptedContentInfo contentType")?;
    let iv = eci.constructed(tag::SEQUENCE, "contentEncryptionAlgorithm", |alg| {
        expect_oid(alg, ID_AES256_CBC, "content encryption")?;
        let iv = alg.primitive(tag::OCTET_STRING, "AES-256-CBC IV")?;
        <[u8; IV_LEN]>::try_from(iv).map_err(|_| CmsError::BadIvLength { len: iv.len() })
    })?;
    let content = match eci.peek_tag() {
        Some(tag::CTX0_PRIMITIVE) => eci
            .primitive(tag::CTX0_PRIMITIVE, "encryptedContent [0]")?
            .to_vec(),
        _ => eci.constructed(tag::CTX0, "encryptedContent [0]", |chunks| {
            let mut out = Vec::new();
            while !chunks.at_end() {
                out.extend_from_slice(
                    chunks.primitive(tag::OCTET_STRING, "encryptedContent OCTET STRING chunk")?,
                );
            }
            Ok(out)
        })?,
    };
    if content.is_empty() || content.len() % BLOCK_LEN != 0 {
        return Err(CmsError::BadCiphertextLength { len: content.len() });
    }
    Ok((iv, content))
}

/// Reads an OBJECT IDENTIFIER and checks it is `expected`.
fn expect_oid(r: &mut Reader<'_>, expected: Oid, what: &'static str) -> Result<(), CmsError> {
    let found = r.primitive(tag::OID, what)?;
    if found == expected.der {
        Ok(())
    } else {
        Err(CmsError::UnexpectedOid {
            what,
            found: oid_to_string(found),
            expected: expected.dotted,
        })
    }
}

/// Reads a version INTEGER and checks it is 2.
fn expect_version(r: &mut Reader<'_>, what: &'static str) -> Result<(), CmsError> {
    let found = r.primitive(tag::INTEGER, what)?;
    if found == [VERSION] {
        return Ok(());
    }
    let found = match found {
        [] => "an empty INTEGER".to_owned(),
        [b] => i8::from_ne_bytes([*b]).to_string(),
        _ => format!("a {}-byte INTEGER", found.len()),
    };
    Err(CmsError::UnsupportedVersion { what, found })
}
