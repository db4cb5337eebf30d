//! The certificate chain: leaf ← cabundle[n-1] ← … ← cabundle[1] ← pinned root.
//!
//! Every certificate is ECDSA P-384 / SHA-384, valid at the chosen time, issued by the
//! next one up (name and signature), with CA basic constraints and keyCertSign on every CA,
//! path-length limits respected, and digitalSignature on a non-CA leaf. No CRLs (AWS:
//! "We do not use CRL").

use std::time::SystemTime;

use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{DerSignature, VerifyingKey};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use crate::AttestationError;

/// ecdsa-with-SHA384
const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";

pub(crate) fn parse_cert(
    der: &[u8],
    index: usize,
    role: &'static str,
) -> Result<Certificate, AttestationError> {
    let cert = Certificate::from_der(der).map_err(|e| AttestationError::Certificate {
        index,
        role,
        reason: format!("DER: {e}"),
    })?;
    Ok(cert)
}

/// The P-384 key of a certificate.
pub(crate) fn p384_key(
    cert: &Certificate,
    index: usize,
    role: &'static str,
) -> Result<VerifyingKey, AttestationError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| AttestationError::Certificate {
            index,
            role,
            reason: "public key bit string has unused bits".into(),
        })?;
    VerifyingKey::from_sec1_bytes(bits).map_err(|_| AttestationError::Certificate {
        index,
        role,
        reason: "public key is not a P-384 point".into(),
    })
}

/// Verifies `chain` (leaf first, root last). `at` is the validation time.
pub(crate) fn verify_chain(chain: &[Certificate], at: SystemTime) -> Result<(), AttestationError> {
    let n = chain.len();
    for (i, cert) in chain.iter().enumerate() {
        let role = if i == 0 {
            "leaf"
        } else if i + 1 == n {
            "root"
        } else {
            "intermediate"
        };
        let fail = |reason: String| AttestationError::Certificate {
            index: i,
            role,
            reason,
        };
        let tbs = cert.tbs_certificate();
        if cert.signature_algorithm().oid.to_string() != ECDSA_WITH_SHA384
            || tbs.signature().oid.to_string() != ECDSA_WITH_SHA384
        {
            return Err(fail(format!(
                "signature algorithm {} is not ecdsa-with-SHA384",
                cert.signature_algorithm().oid
            )));
        }
        let validity = tbs.validity();
        let (nb, na) = (
            validity.not_before.to_system_time(),
            validity.not_after.to_system_time(),
        );
        if at < nb || at > na {
            return Err(fail(format!(
                "not valid at {}: valid from {} to {}",
                fmt_time(at),
                fmt_time(nb),
                fmt_time(na)
            )));
        }
        let bc = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| fail(format!("basicConstraints: {e}")))?
            .map(|(_, bc)| bc);
        let ku = tbs
            .get_extension::<KeyUsage>()
            .map_err(|e| fail(format!("keyUsage: {e}")))?
            .map(|(_, ku)| ku);
        if i == 0 {
            if bc.is_some_and(|bc| bc.ca) {
                return Err(fail("the leaf is a CA certificate".into()));
            }
            if !ku.is_some_and(|ku| ku.digital_signature()) {
                return Err(fail("the leaf lacks the digitalSignature key usage".into()));
            }
        } else {
            let bc = bc.filter(|bc| bc.ca).ok_or_else(|| {
                fail("not a CA certificate (basicConstraints CA:TRUE missing)".into())
            })?;
            // CA certificates below this one, excluding the leaf.
            let below = i - 1;
            if let Some(limit) = bc.path_len_constraint
                && below > usize::from(limit)
            {
                return Err(fail(format!(
                    "path length {below} exceeds its pathLenConstraint {limit}"
                )));
            }
            if !ku.is_some_and(|ku| ku.key_cert_sign()) {
                return Err(fail("a CA without the keyCertSign key usage".into()));
            }
        }
        // Issued by the next certificate up (the root by itself).
        let issuer = chain.get(i + 1).unwrap_or(cert);
        if tbs.issuer() != issuer.tbs_certificate().subject() {
            return Err(fail(
                "issuer name does not match the next certificate's subject".into(),
            ));
        }
        let key = p384_key(
            issuer,
            (i + 1).min(n - 1),
            if i + 1 >= n - 1 {
                "root"
            } else {
                "intermediate"
            },
        )?;
        let sig_bytes = cert
            .signature()
            .as_bytes()
            .ok_or_else(|| fail("signature bit string has unused bits".into()))?;
        let sig = DerSignature::from_bytes(sig_bytes)
            .map_err(|_| fail("signature is not a DER ECDSA signature".into()))?;
        let tbs_der = tbs
            .to_der()
            .map_err(|e| fail(format!("re-encoding: {e}")))?;
        key.verify(&tbs_der, &sig)
            .map_err(|_| fail("signature does not verify with the issuer's key".into()))?;
    }
    Ok(())
}

/// RFC 3339 in UTC, seconds precision; never panics (years past 9999 print as seconds).
pub(crate) fn fmt_time(t: SystemTime) -> String {
    sigil_std_ext::time::format_time(t, false)
}
