//! Opens the sealed bundle in memory: the age identity KMS released, the key shares and the
//! SignService's TLS material (`sigil-tls-bundle`), all age-encrypted to that identity.
//!
//! Wiping discipline: the identity's text is parsed in place (no copies), every plaintext is
//! decrypted into a `Zeroizing` buffer sized before the first byte is written (so no
//! reallocation leaves a copy), the share JSON is parsed by `sigil-mpc`, which wipes its own
//! intermediates, and the identity and all plaintext buffers are wiped before [`unseal`]
//! returns, on success and on every error path alike (they are dropped as `Zeroizing`).

use std::time::Instant;

use sha2::{Digest, Sha256};
use sigil_mpc::KeyStore;
use sigil_tls::TlsBundle;
use zeroize::Zeroizing;

use crate::boot::{Step, StepError};

/// The sealed parts of the boot bundle.
pub struct Sealed<'a> {
    /// `service_key_shares.json.age`.
    pub key_shares_age: &'a [u8],
    /// `service_tls.json.age`, or empty (plaintext gRPC in simulation only).
    pub tls_bundle_age: &'a [u8],
}

/// What the enclave keeps.
pub struct Unsealed {
    /// The validated account map.
    pub keys: KeyStore,
    /// The SignService's TLS material, validated, if one was sealed.
    pub tls: Option<TlsBundle>,
    /// SHA-256 of the plaintext share file (for the boot report).
    pub key_shares_plaintext_sha256: [u8; 32],
    /// Steps completed and their durations, in order.
    pub steps: Vec<(Step, std::time::Duration)>,
}

/// Decrypts and validates. Consumes the identity plaintext, which is wiped when this returns.
pub fn unseal(identity: Zeroizing<Vec<u8>>, sealed: &Sealed<'_>) -> Result<Unsealed, StepError> {
    let mut steps = Vec::new();
    let t = Instant::now();
    let identities = sigil_share_files::parse_identities(&identity, "the KMS-released identity")
        .map_err(|e| StepError::new(Step::DecryptShares, e))?;
    drop(identity);
    let plaintext = sigil_share_files::decrypt(
        sealed.key_shares_age,
        &identities,
        sigil_provisioning::KEY_SHARES_FILE,
    )
    .map_err(|e| StepError::new(Step::DecryptShares, e))?;
    let tls_plaintext = if sealed.tls_bundle_age.is_empty() {
        None
    } else {
        Some(
            sigil_share_files::decrypt(
                sealed.tls_bundle_age,
                &identities,
                sigil_provisioning::TLS_BUNDLE_FILE,
            )
            .map_err(|e| StepError::new(Step::DecryptShares, e))?,
        )
    };
    drop(identities);
    steps.push((Step::DecryptShares, t.elapsed()));

    let t = Instant::now();
    let key_shares_plaintext_sha256: [u8; 32] = Sha256::digest(&*plaintext).into();
    let keys = KeyStore::from_json(&plaintext).map_err(|e| {
        StepError::new(
            Step::ValidateShares,
            format!("{}: {e}", sigil_provisioning::KEY_SHARES_FILE),
        )
    })?;
    drop(plaintext);
    if keys.is_empty() {
        return Err(StepError::new(
            Step::ValidateShares,
            "the key-share file holds no account",
        ));
    }
    steps.push((Step::ValidateShares, t.elapsed()));

    let t = Instant::now();
    let tls = tls_plaintext
        .map(|json| {
            TlsBundle::from_json(&json).map_err(|e| {
                StepError::new(
                    Step::Tls,
                    format!("{}: {e}", sigil_provisioning::TLS_BUNDLE_FILE),
                )
            })
        })
        .transpose()?;
    if tls.is_some() {
        steps.push((Step::Tls, t.elapsed()));
    }
    Ok(Unsealed {
        keys,
        tls,
        key_shares_plaintext_sha256,
        steps,
    })
}
