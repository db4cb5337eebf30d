//! Opens the sealed bundle in memory: the age identity KMS released, the key shares and the
//! SignService's TLS material (`sigil-tls-bundle`), all age-encrypted to that identity.
//!
//! Three stages, one per boot step: [`open`] (decrypt_shares), [`load_keys`]
//! (validate_shares) and [`load_tls`] (tls); [`unseal`] runs all three.
//!
//! Wiping discipline: the identity's text is parsed in place (no copies), every plaintext is
//! decrypted into a `Zeroizing` buffer sized before the first byte is written (so no
//! reallocation leaves a copy), the share JSON is parsed by `sigil-mpc`, which wipes its own
//! intermediates, and the identity and each plaintext buffer are wiped by the stage that
//! consumes them, on success and on every error path alike (they are dropped as `Zeroizing`).

use sha2::{Digest, Sha256};
use sigil_mpc::{KeyStore, ShareFileError};
use sigil_sealed_shares::OpenError;
use sigil_tls::TlsBundle;
use zeroize::Zeroizing;

use crate::report::{Step, StepError};

/// The sealed parts of the boot bundle.
pub struct Sealed<'a> {
    /// `service_key_shares.json.age`.
    pub key_shares_age: &'a [u8],
    /// `service_tls.json.age`, or empty (plaintext gRPC in simulation only).
    pub tls_bundle_age: &'a [u8],
}

/// The decrypted plaintexts, each wiped when dropped.
pub struct Opened {
    /// The key-share file.
    pub key_shares: Zeroizing<Vec<u8>>,
    /// The TLS bundle, if one was sealed.
    pub tls_bundle: Option<Zeroizing<Vec<u8>>>,
}

/// The validated account map.
pub struct Keys {
    /// The accounts.
    pub keys: KeyStore,
    /// SHA-256 of the plaintext share file (for the boot report).
    pub key_shares_plaintext_sha256: [u8; 32],
}

/// What the enclave keeps.
pub struct Unsealed {
    /// The validated account map.
    pub keys: KeyStore,
    /// The SignService's TLS material, validated, if one was sealed.
    pub tls: Option<TlsBundle>,
    /// SHA-256 of the plaintext share file (for the boot report).
    pub key_shares_plaintext_sha256: [u8; 32],
}

/// Why a stage failed. No variant holds a secret: the errors below name files and problems.
#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    /// The identity does not parse, or a file does not decrypt with it.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The key-share file is invalid.
    #[error("{file}: {0}", file = sigil_provisioning::KEY_SHARES_FILE)]
    Shares(ShareFileError),
    /// The key-share file is valid but empty.
    #[error("the key-share file holds no account")]
    NoAccount,
    /// The TLS bundle is invalid.
    #[error("{file}: {0}", file = sigil_provisioning::TLS_BUNDLE_FILE)]
    Tls(sigil_tls::TlsError),
}

/// Parses the identity and decrypts the shares and the TLS bundle. Consumes the identity
/// plaintext, which is wiped before this returns.
pub fn open(identity: Zeroizing<Vec<u8>>, sealed: &Sealed<'_>) -> Result<Opened, UnsealError> {
    let identities = sigil_sealed_shares::parse_identities(&identity, "the KMS-released identity")?;
    drop(identity);
    let key_shares = sigil_sealed_shares::decrypt(
        sealed.key_shares_age,
        &identities,
        sigil_provisioning::KEY_SHARES_FILE,
    )?;
    let tls_bundle = if sealed.tls_bundle_age.is_empty() {
        None
    } else {
        Some(sigil_sealed_shares::decrypt(
            sealed.tls_bundle_age,
            &identities,
            sigil_provisioning::TLS_BUNDLE_FILE,
        )?)
    };
    Ok(Opened {
        key_shares,
        tls_bundle,
    })
}

/// Validates the key-share file into the account map. Consumes the plaintext, which is wiped
/// before this returns.
pub fn load_keys(key_shares: Zeroizing<Vec<u8>>) -> Result<Keys, UnsealError> {
    let key_shares_plaintext_sha256: [u8; 32] = Sha256::digest(&*key_shares).into();
    let keys = KeyStore::from_json(&key_shares).map_err(UnsealError::Shares)?;
    drop(key_shares);
    if keys.is_empty() {
        return Err(UnsealError::NoAccount);
    }
    Ok(Keys {
        keys,
        key_shares_plaintext_sha256,
    })
}

/// Validates the TLS bundle. Consumes the plaintext, which is wiped before this returns.
pub fn load_tls(tls_bundle: Zeroizing<Vec<u8>>) -> Result<TlsBundle, UnsealError> {
    TlsBundle::from_json(&tls_bundle).map_err(UnsealError::Tls)
}

/// All three stages: decrypts and validates. Consumes the identity plaintext, which is wiped
/// when this returns. A failure names the stage's step.
pub fn unseal(identity: Zeroizing<Vec<u8>>, sealed: &Sealed<'_>) -> Result<Unsealed, StepError> {
    let opened = open(identity, sealed).map_err(|e| StepError::new(Step::DecryptShares, e))?;
    let Keys {
        keys,
        key_shares_plaintext_sha256,
    } = load_keys(opened.key_shares).map_err(|e| StepError::new(Step::ValidateShares, e))?;
    let tls = opened
        .tls_bundle
        .map(load_tls)
        .transpose()
        .map_err(|e| StepError::new(Step::Tls, e))?;
    Ok(Unsealed {
        keys,
        tls,
        key_shares_plaintext_sha256,
    })
}
