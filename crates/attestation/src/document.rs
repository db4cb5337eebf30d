//! The COSE_Sign1 envelope and the `AttestationDocument` payload, with the syntactic checks
//! of AWS's verification procedure (attestation_process.md §3.2.2) and the NSM's size limits.

use std::collections::BTreeMap;

use aws_nitro_enclaves_nsm_api::api::{AttestationDoc, Digest};
use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};

use crate::AttestationError;

/// Largest document accepted (the NSM driver's response buffer is 12 KiB).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// Largest `public_key`, `user_data` or `nonce` (the NSM accepts 1024 bytes each).
pub const MAX_USER_FIELD_BYTES: usize = 1024;
const MAX_CERT_BYTES: usize = 1024;
/// 9999-12-31T23:59:59.999Z in milliseconds since the epoch.
const MAX_TIMESTAMP_MS: u64 = 253_402_300_799_999;
/// The protected header `{1: -35}` (alg = ES384), byte for byte.
const PROTECTED_ES384: [u8; 4] = [0xa1, 0x01, 0x38, 0x22];

/// A parsed (not yet verified) attestation document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Issuing NSM module id.
    pub module_id: String,
    /// Milliseconds since the Unix epoch, as signed by the NSM.
    pub timestamp_ms: u64,
    /// Locked PCRs: index → 48-byte SHA-384 value.
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// The leaf certificate (DER).
    pub certificate: Vec<u8>,
    /// The CA bundle, root first (DER each).
    pub cabundle: Vec<Vec<u8>>,
    /// DER public key the enclave asked to include.
    pub public_key: Option<Vec<u8>>,
    /// Application data.
    pub user_data: Option<Vec<u8>>,
    /// The challenge nonce.
    pub nonce: Option<Vec<u8>>,
    /// The exact protected-header and payload bytes, and the signature, for verification.
    pub(crate) signed: Signed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signed {
    pub(crate) tbs: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

impl Document {
    /// True when PCR0 is all zeros: a debug-mode enclave, which proves nothing about its image.
    pub fn debug_mode(&self) -> bool {
        self.pcrs.get(&0).is_some_and(|p| p.iter().all(|b| *b == 0))
    }
}

/// Parses a document: envelope, algorithm, payload fields, types and sizes. Does not
/// verify anything cryptographic; see [`crate::Verifier`].
pub fn parse(bytes: &[u8]) -> Result<Document, AttestationError> {
    let env = |m: &str| AttestationError::Envelope(m.to_owned());
    let pay = |m: String| AttestationError::Payload(m);
    if bytes.is_empty() {
        return Err(env("empty input"));
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(env(&format!(
            "{} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            bytes.len()
        )));
    }
    // RFC 9052 allows the tagged form (tag 18); the NSM emits the untagged one.
    let sign1 = if bytes[0] == 0xd2 {
        CoseSign1::from_tagged_slice(bytes)
    } else {
        CoseSign1::from_slice(bytes)
    }
    .map_err(|e| env(&format!("CBOR: {e}")))?;
    if sign1.protected.original_data.as_deref() != Some(&PROTECTED_ES384[..]) {
        return Err(env("the protected header is not exactly {alg: ES384}"));
    }
    if !sign1.unprotected.is_empty() {
        return Err(env("the unprotected header is not empty"));
    }
    if sign1.signature.len() != 96 {
        return Err(env(&format!(
            "signature is {} bytes; ES384 needs 96",
            sign1.signature.len()
        )));
    }
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| env("detached payload"))?;
    let doc = AttestationDoc::from_binary(payload).map_err(|e| pay(format!("CBOR: {e:?}")))?;

    if doc.module_id.is_empty() {
        return Err(pay("module_id is empty".into()));
    }
    if !matches!(doc.digest, Digest::SHA384) {
        return Err(pay(format!("digest is {:?}, not SHA384", doc.digest)));
    }
    if doc.timestamp == 0 {
        return Err(pay("timestamp is 0".into()));
    }
    if doc.timestamp > MAX_TIMESTAMP_MS {
        return Err(pay(format!(
            "timestamp {} ms is past the year 9999",
            doc.timestamp
        )));
    }
    if doc.pcrs.is_empty() || doc.pcrs.len() > 32 {
        return Err(pay(format!(
            "{} PCRs; a document has 1 to 32",
            doc.pcrs.len()
        )));
    }
    let mut pcrs = BTreeMap::new();
    for (i, v) in &doc.pcrs {
        let idx = u8::try_from(*i)
            .ok()
            .filter(|i| *i < 32)
            .ok_or_else(|| pay(format!("PCR index {i} is not below 32")))?;
        if v.len() != 48 {
            return Err(pay(format!(
                "PCR{idx} is {} bytes; SHA384 PCRs are 48",
                v.len()
            )));
        }
        pcrs.insert(idx, v.to_vec());
    }
    let cert_ok = |what: &str, c: &[u8]| {
        if c.is_empty() || c.len() > MAX_CERT_BYTES {
            Err(pay(format!(
                "{what} is {} bytes; allowed 1 to {MAX_CERT_BYTES}",
                c.len()
            )))
        } else {
            Ok(c.to_vec())
        }
    };
    let certificate = cert_ok("certificate", &doc.certificate)?;
    if doc.cabundle.is_empty() {
        return Err(pay("cabundle is empty".into()));
    }
    let cabundle = doc
        .cabundle
        .iter()
        .enumerate()
        .map(|(i, c)| cert_ok(&format!("cabundle[{i}]"), c))
        .collect::<Result<Vec<_>, _>>()?;
    let user = |what: &str, v: Option<&[u8]>, min: usize| match v {
        None => Ok(None),
        Some(b) if b.len() < min || b.len() > MAX_USER_FIELD_BYTES => Err(pay(format!(
            "{what} is {} bytes; allowed {min} to {MAX_USER_FIELD_BYTES}",
            b.len()
        ))),
        Some(b) => Ok(Some(b.to_vec())),
    };
    let public_key = user(
        "public_key",
        doc.public_key.as_deref().map(Vec::as_slice),
        1,
    )?;
    let user_data = user("user_data", doc.user_data.as_deref().map(Vec::as_slice), 0)?;
    let nonce = user("nonce", doc.nonce.as_deref().map(Vec::as_slice), 0)?;
    let tbs = sign1.tbs_data(b"");
    Ok(Document {
        module_id: doc.module_id,
        timestamp_ms: doc.timestamp,
        pcrs,
        certificate,
        cabundle,
        public_key,
        user_data,
        nonce,
        signed: Signed {
            tbs,
            signature: sign1.signature,
        },
    })
}
