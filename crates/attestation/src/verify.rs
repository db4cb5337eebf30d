//! Trust anchors, expectations and the verification of a parsed document.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use p384::ecdsa::Signature;
use p384::ecdsa::signature::Verifier as _;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use crate::AttestationError;
use crate::chain::{fmt_time, p384_key, parse_cert, verify_chain};
use crate::document::{Document, parse};
use hex::encode as hex;

/// The AWS Nitro Enclaves Root G1 certificate (public; from AWS_NitroEnclaves_Root-G1.zip).
pub const AWS_NITRO_ROOT_G1_PEM: &str = include_str!("../roots/aws-nitro-enclaves-root-g1.pem");

/// SHA-256 of the DER of the AWS Nitro Enclaves Root G1, as AWS publishes it.
pub const AWS_NITRO_ROOT_G1_SHA256: &str =
    "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// Which kind of root a document was verified against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKind {
    /// The AWS Nitro Enclaves Root G1 (production).
    AwsNitroG1,
    /// A root given explicitly (a development root of the simulated NSM).
    Explicit,
}

/// A pinned root certificate.
#[derive(Clone, Debug)]
pub struct TrustAnchor {
    der: Vec<u8>,
    fingerprint: [u8; 32],
    kind: RootKind,
}

impl TrustAnchor {
    /// The AWS Nitro Enclaves Root G1, checked against its published fingerprint.
    pub fn aws_nitro_g1() -> Result<Self, AttestationError> {
        let a = Self::from_pem(AWS_NITRO_ROOT_G1_PEM.as_bytes())?;
        if hex(a.fingerprint) != AWS_NITRO_ROOT_G1_SHA256 {
            return Err(AttestationError::Anchor(
                "the embedded AWS root does not match its published fingerprint".into(),
            ));
        }
        Ok(TrustAnchor {
            kind: RootKind::AwsNitroG1,
            ..a
        })
    }

    /// An explicitly given root (PEM). Refuses a certificate that is not a self-signed CA.
    pub fn from_pem(pem: &[u8]) -> Result<Self, AttestationError> {
        let cert = Certificate::from_pem(pem)
            .map_err(|e| AttestationError::Anchor(format!("PEM: {e}")))?;
        let der = cert
            .to_der()
            .map_err(|e| AttestationError::Anchor(format!("DER: {e}")))?;
        Self::from_der(&der)
    }

    /// An explicitly given root (DER).
    pub fn from_der(der: &[u8]) -> Result<Self, AttestationError> {
        let cert =
            parse_cert(der, 0, "root").map_err(|e| AttestationError::Anchor(e.to_string()))?;
        if cert.tbs_certificate().issuer() != cert.tbs_certificate().subject() {
            return Err(AttestationError::Anchor(
                "not a self-signed root (issuer differs from subject)".into(),
            ));
        }
        p384_key(&cert, 0, "root").map_err(|e| AttestationError::Anchor(e.to_string()))?;
        let fingerprint: [u8; 32] = Sha256::digest(der).into();
        let kind = if hex(fingerprint) == AWS_NITRO_ROOT_G1_SHA256 {
            RootKind::AwsNitroG1
        } else {
            RootKind::Explicit
        };
        Ok(TrustAnchor {
            der: der.to_vec(),
            fingerprint,
            kind,
        })
    }

    /// SHA-256 of the root's DER, hex.
    pub fn fingerprint_hex(&self) -> String {
        hex(self.fingerprint)
    }

    /// Whether this is the AWS root or another one.
    pub fn kind(&self) -> &RootKind {
        &self.kind
    }
}

/// When certificates must be valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyAt {
    /// At the document's own signed timestamp (for stored or replayed documents).
    DocumentTime,
    /// At this time (normally now).
    Time(SystemTime),
}

/// Optional checks on a document's content.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// PCR index → exact expected value.
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// The challenge nonce.
    pub nonce: Option<Vec<u8>>,
    /// The expected `public_key`.
    pub public_key: Option<Vec<u8>>,
    /// The expected `user_data`.
    pub user_data: Option<Vec<u8>>,
    /// Refuse documents older than this, measured from `now`.
    pub max_age: Option<(Duration, SystemTime)>,
    /// Accept a debug-mode document (PCR0 all zeros). Off by default.
    pub allow_debug: bool,
}

/// A document that passed verification.
#[derive(Clone, Debug)]
pub struct VerifiedDocument {
    /// Its content.
    pub document: Document,
    /// The root it chains to.
    pub root: RootKind,
    /// The root's fingerprint, hex.
    pub root_fingerprint: String,
    /// The time certificates were checked at.
    pub checked_at: SystemTime,
}

/// Verifies documents against one pinned root.
#[derive(Clone, Debug)]
pub struct Verifier {
    anchor: TrustAnchor,
}

impl Verifier {
    /// A verifier pinned to `anchor`.
    pub fn new(anchor: TrustAnchor) -> Self {
        Verifier { anchor }
    }

    /// Parses and verifies `bytes`: chain to the pinned root at `at`, the COSE signature,
    /// then `expect`.
    pub fn verify(
        &self,
        bytes: &[u8],
        at: VerifyAt,
        expect: &Expectations,
    ) -> Result<VerifiedDocument, AttestationError> {
        let doc = parse(bytes)?;
        let checked_at = match at {
            VerifyAt::DocumentTime => {
                SystemTime::UNIX_EPOCH + Duration::from_millis(doc.timestamp_ms)
            }
            VerifyAt::Time(t) => t,
        };
        // cabundle[0] is the document's claim of its root: it must be the pinned root.
        let doc_root = doc.cabundle.first().map(Sha256::digest).unwrap_or_default();
        if doc_root.as_slice() != self.anchor.fingerprint {
            return Err(AttestationError::UntrustedRoot {
                found: hex(doc_root),
                pinned: self.anchor.fingerprint_hex(),
            });
        }
        let mut chain = vec![parse_cert(&doc.certificate, 0, "leaf")?];
        let n = doc.cabundle.len();
        for (k, der) in doc.cabundle.iter().skip(1).rev().enumerate() {
            chain.push(parse_cert(der, k + 1, "intermediate")?);
        }
        chain.push(parse_cert(&self.anchor.der, n, "root")?);
        verify_chain(&chain, checked_at)?;
        let leaf_key = p384_key(&chain[0], 0, "leaf")?;
        let sig = Signature::from_slice(&doc.signed.signature)
            .map_err(|_| AttestationError::Signature)?;
        leaf_key
            .verify(&doc.signed.tbs, &sig)
            .map_err(|_| AttestationError::Signature)?;
        check_expectations(&doc, expect)?;
        Ok(VerifiedDocument {
            document: doc,
            root: self.anchor.kind.clone(),
            root_fingerprint: self.anchor.fingerprint_hex(),
            checked_at,
        })
    }
}

fn check_expectations(doc: &Document, expect: &Expectations) -> Result<(), AttestationError> {
    let fail = |m: String| Err(AttestationError::Expectation(m));
    if doc.debug_mode() && !expect.allow_debug {
        return fail(
            "debug-mode document (PCR0 is all zeros): it proves nothing about the enclave image"
                .into(),
        );
    }
    for (idx, want) in &expect.pcrs {
        match doc.pcrs.get(idx) {
            None => return fail(format!("PCR{idx} is not in the document")),
            Some(got) if got != want => {
                return fail(format!("PCR{idx} is {}, expected {}", hex(got), hex(want)));
            }
            Some(_) => {}
        }
    }
    for (what, want, got) in [
        ("nonce", &expect.nonce, &doc.nonce),
        ("public_key", &expect.public_key, &doc.public_key),
        ("user_data", &expect.user_data, &doc.user_data),
    ] {
        if let Some(want) = want
            && got.as_ref() != Some(want)
        {
            return fail(format!("{what} does not match the expected value"));
        }
    }
    if let Some((max, now)) = expect.max_age {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_millis(doc.timestamp_ms);
        let age = now.duration_since(issued).unwrap_or_default();
        if age > max {
            return fail(format!(
                "document issued at {} is older than {max:?}",
                fmt_time(issued)
            ));
        }
        if issued > now + Duration::from_secs(300) {
            return fail(format!(
                "document timestamp {} is in the future",
                fmt_time(issued)
            ));
        }
    }
    Ok(())
}
