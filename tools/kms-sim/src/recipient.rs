//! The `Recipient` parameter: attestation document verification and `CiphertextForRecipient`.
//!
//! Emulator choices (real KMS does not document them): a `Recipient` that is malformed (bad
//! algorithm, not a COSE_Sign1 attestation document, no `public_key`, a public key that is
//! not an RSA-2048/3072/4096 SPKI) is a `ValidationException`; a well-formed document that
//! fails verification (chain not ending at the configured root, a certificate not valid now,
//! a bad signature) is an `AccessDeniedException`, whatever the key policy says.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Deserialize;
use sigil_attestation::{AttestationError, Expectations, Verifier, VerifyAt};
use sigil_recipient_cms::CmsError;

use crate::errors::ApiError;

/// The only key encryption algorithm KMS accepts.
pub const RSAES_OAEP_SHA_256: &str = "RSAES_OAEP_SHA_256";
/// Largest `AttestationDocument`, bytes (the API's limit).
pub const MAX_DOCUMENT: usize = 262_144;

/// The `Recipient` structure of a request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecipientInfo {
    /// Must be `RSAES_OAEP_SHA_256`.
    pub key_encryption_algorithm: Option<String>,
    /// Base64 of the COSE_Sign1 attestation document.
    pub attestation_document: Option<String>,
}

/// A verified recipient.
#[derive(Debug)]
pub struct Recipient {
    /// The attested RSA public key (SPKI DER).
    pub public_key: Vec<u8>,
    /// Condition keys to add to the policy context.
    pub context: BTreeMap<String, String>,
    /// The document's module id (logged, as CloudTrail does).
    pub module_id: String,
    /// Lowercase hex PCR0 (logged, as CloudTrail does).
    pub image_sha384: String,
}

/// Checks and verifies `info` against `verifier` at `now`.
pub fn verify(
    info: &RecipientInfo,
    verifier: &Verifier,
    now: SystemTime,
) -> Result<Recipient, ApiError> {
    match info.key_encryption_algorithm.as_deref() {
        Some(RSAES_OAEP_SHA_256) => {}
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_256]"
            )));
        }
        None => {
            return Err(ApiError::validation(
                "Recipient.KeyEncryptionAlgorithm is required.",
            ));
        }
    }
    let doc_b64 = info
        .attestation_document
        .as_deref()
        .ok_or_else(|| ApiError::validation("Recipient.AttestationDocument is required."))?;
    let doc = crate::errors::b64_decode(doc_b64, "Recipient.AttestationDocument")?;
    if doc.is_empty() || doc.len() > MAX_DOCUMENT {
        return Err(crate::errors::length_violation(
            "recipient.attestationDocument",
            doc.len(),
            1,
            MAX_DOCUMENT,
        ));
    }
    let expect = Expectations {
        allow_debug: true,
        ..Default::default()
    };
    let verified = verifier
        .verify(&doc, VerifyAt::Time(now), &expect)
        .map_err(|e| match e {
            AttestationError::Envelope(_) | AttestationError::Payload(_) => ApiError::validation(
                format!("The Recipient attestation document is malformed: {e}"),
            ),
            other => ApiError::access_denied(format!(
                "The Recipient attestation document could not be verified: {other}"
            )),
        })?;
    let document = verified.document;
    let public_key = document.public_key.clone().ok_or_else(|| {
        ApiError::validation("The Recipient attestation document does not contain a public key.")
    })?;
    let mut context = BTreeMap::new();
    for (index, value) in &document.pcrs {
        context.insert(
            format!("kms:RecipientAttestation:PCR{index}"),
            hex::encode(value),
        );
    }
    let image_sha384 = document.pcrs.get(&0).map(hex::encode).unwrap_or_default();
    context.insert(
        "kms:RecipientAttestation:ImageSha384".into(),
        image_sha384.clone(),
    );
    Ok(Recipient {
        public_key,
        context,
        module_id: document.module_id,
        image_sha384,
    })
}

impl Recipient {
    /// `CiphertextForRecipient`: `plaintext` in CMS EnvelopedData for the attested key.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, ApiError> {
        sigil_recipient_cms::encode(
            &self.public_key,
            plaintext,
            &mut sigil_recipient_cms::rand_core::OsRng,
        )
        .map_err(|e| match e {
            CmsError::InvalidSpki(_)
            | CmsError::NonCanonicalSpki
            | CmsError::UnsupportedKeySize { .. } => ApiError::validation(format!(
                "The public key in the Recipient attestation document is not a supported RSA key: {e}"
            )),
            other => ApiError::internal(format!("CiphertextForRecipient: {other}")),
        })
    }
}
