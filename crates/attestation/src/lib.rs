//! Nitro attestation documents: parsing and verification.
//!
//! A document is an untagged (or tagged) COSE_Sign1 signed with ES384 whose payload is
//! the CBOR `AttestationDocument` map. [`parse`] checks the envelope and every field's type
//! and size; [`Verifier::verify`] then checks the certificate chain from the leaf up to a
//! **pinned** root (the AWS Nitro Enclaves Root G1 by default, identified by the SHA-256 of
//! its DER; a development root only when given explicitly), each certificate's validity at
//! a chosen time, the COSE signature, and the caller's expectations (PCRs, nonce, public
//! key, user data, maximum age). Nothing in the document is trusted before that.

mod chain;
mod document;
mod verify;

pub use document::{Document, MAX_DOCUMENT_BYTES, MAX_USER_FIELD_BYTES, parse};
pub use verify::{
    AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256, Expectations, RootKind, TrustAnchor,
    VerifiedDocument, Verifier, VerifyAt,
};

/// Why a document was refused. Messages say what was wrong, never echo large inputs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttestationError {
    /// Not a COSE_Sign1, or a malformed one.
    #[error("not a COSE_Sign1 attestation document: {0}")]
    Envelope(String),
    /// The payload is not a well-formed attestation document.
    #[error("malformed attestation payload: {0}")]
    Payload(String),
    /// A certificate could not be parsed or fails a structural rule.
    #[error("certificate {index} ({role}): {reason}")]
    Certificate {
        /// 0 = leaf, then up the chain.
        index: usize,
        /// "leaf", "intermediate" or "root".
        role: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The chain does not end at the pinned root.
    #[error(
        "the document's chain ends at a root with SHA-256 {found}, not the pinned root {pinned}"
    )]
    UntrustedRoot {
        /// Fingerprint of the document's root (hex).
        found: String,
        /// Fingerprint of the pinned root (hex).
        pinned: String,
    },
    /// The COSE signature does not verify with the leaf's key.
    #[error("the COSE signature does not verify with the leaf certificate's key")]
    Signature,
    /// An expectation of the caller is not met.
    #[error("{0}")]
    Expectation(String),
    /// The trust anchor given is unusable.
    #[error("trust anchor: {0}")]
    Anchor(String),
}
