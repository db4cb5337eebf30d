//! The key-share file (`sigil-key-shares`, version 1): one party's shares of every account,
//! as `key-gen` writes it (inside age) and the enclave loads it. Specified in
//! docs/key-shares.md.
//!
//! Aux data of a cggmp24 signer group (Paillier keys and ring-Pedersen parameters, ~10 KB) is
//! stored once per group, not per account; each ECDSA account then costs its core share,
//! about 0.8–0.9 KB of JSON with its id and public key (docs/key-shares.md has the measured
//! sizes). Loading validates every share (cggmp24's and FROST's own checks plus ours) and fails
//! closed on the first problem. Errors name the account and the problem, never a value.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cggmp24::IncompleteKeyShare;
use cggmp24::key_share::AuxInfo;
use cggmp24::supported_curves::Secp256k1;
use frost_ed25519::keys::{KeyPackage, PublicKeyPackage};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ecdsa::EcdsaKey;
use crate::ed25519::Ed25519Key;
use crate::{DerivationPath, MAX_PARTIES, ThresholdKey};

/// The `format` field of every key-share file.
pub const FORMAT: &str = "sigil-key-shares";
/// The version this code reads and writes.
pub const VERSION: u32 = 1;
/// Longest account id.
pub const MAX_ACCOUNT_ID_LEN: usize = 128;

/// The file as serialized.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Key-generation index of the party that owns these shares.
    pub party_index: u16,
    /// cggmp24 aux data per signer group, by group id.
    #[serde(default)]
    pub ecdsa_groups: BTreeMap<String, EcdsaGroup>,
    /// One entry per account.
    pub accounts: Vec<AccountShare>,
}

/// Aux data shared by every ECDSA account of one signer group.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcdsaGroup {
    /// Number of parties in the group.
    pub parties: u16,
    /// This party's Paillier secret key and every party's public parameters (validated on load).
    pub aux: AuxInfo,
}

/// One account's share.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountShare {
    /// The account id the Sign Gateway uses.
    pub account_id: String,
    /// The account's root public key, hex (compressed SEC1 or 32-byte Ed25519); checked on load.
    pub public_key: String,
    /// The share, tagged by scheme.
    pub share: SchemeShare,
}

/// A share in one engine's own encoding.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // parsed once at boot, then turned into engine keys
pub enum SchemeShare {
    /// cggmp24 core share; its aux data is `ecdsa_groups[group]`.
    #[serde(rename = "ecdsa-secp256k1")]
    EcdsaSecp256k1 {
        /// Group id in `ecdsa_groups`.
        group: String,
        /// The validated core share (threshold, chain code, public shares, this party's secret).
        core: Box<IncompleteKeyShare<Secp256k1>>,
    },
    /// FROST key package and the group's public key package.
    #[serde(rename = "ed25519")]
    Ed25519 {
        /// Number of parties.
        parties: u16,
        /// This party's signing share.
        key_package: KeyPackage,
        /// Every party's verifying share and the group key.
        public_key_package: PublicKeyPackage,
    },
}

/// Why a key-share file was refused.
#[derive(Debug, Error)]
pub enum ShareFileError {
    /// Not JSON of the expected shape. Only the position is given: the text may be secret.
    #[error("key-share file is malformed: {0}")]
    Malformed(String),
    /// Wrong `format` or `version`.
    #[error("key-share file: {0}")]
    Header(String),
    /// One account's share is invalid.
    #[error("key-share file: account {account_id:?}: {reason}")]
    Account {
        /// The account.
        account_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// Checks an account id: 1 to 128 characters of `A-Z a-z 0-9 . _ - : @ /`.
pub fn validate_account_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ACCOUNT_ID_LEN {
        return Err(format!(
            "account id must be 1 to {MAX_ACCOUNT_ID_LEN} characters"
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-:@/".contains(&b))
    {
        return Err("account id may contain only A-Z a-z 0-9 . _ - : @ /".into());
    }
    Ok(())
}

/// Every account of one party, validated and ready to sign.
pub struct KeyStore {
    party_index: u16,
    accounts: HashMap<String, Arc<dyn ThresholdKey>>,
}

impl KeyStore {
    /// Parses and validates a key-share file. The caller owns (and zeroizes) `json`.
    pub fn from_json(json: &[u8]) -> Result<Self, ShareFileError> {
        let file: ShareFile = crate::json::decode(json).map_err(ShareFileError::Malformed)?;
        Self::from_file(file)
    }

    /// Validates a parsed file.
    pub fn from_file(file: ShareFile) -> Result<Self, ShareFileError> {
        if file.format != FORMAT {
            return Err(ShareFileError::Header(format!("format must be {FORMAT:?}")));
        }
        if file.version != VERSION {
            return Err(ShareFileError::Header(format!(
                "version {} is not supported (this build reads version {VERSION})",
                file.version
            )));
        }
        let me = file.party_index;
        for (id, group) in &file.ecdsa_groups {
            if group.parties < 2
                || group.parties > MAX_PARTIES
                || group.aux.N.len() != usize::from(group.parties)
            {
                return Err(ShareFileError::Header(format!(
                    "ECDSA group {id:?}: party count is inconsistent"
                )));
            }
        }
        let mut accounts: HashMap<String, Arc<dyn ThresholdKey>> =
            HashMap::with_capacity(file.accounts.len());
        for account in file.accounts {
            let id = account.account_id;
            let fail = |reason: String| ShareFileError::Account {
                account_id: id.clone(),
                reason,
            };
            validate_account_id(&id).map_err(fail)?;
            if accounts.contains_key(&id) {
                return Err(fail("appears twice".into()));
            }
            let key: Arc<dyn ThresholdKey> = match account.share {
                SchemeShare::EcdsaSecp256k1 { group, core } => {
                    let aux = file
                        .ecdsa_groups
                        .get(&group)
                        .ok_or_else(|| fail(format!("ECDSA group {group:?} is not in the file")))?;
                    if core.i != me {
                        return Err(fail(format!(
                            "share belongs to party {}, the file to party {me}",
                            core.i
                        )));
                    }
                    Arc::new(
                        EcdsaKey::from_parts(*core, aux.aux.clone())
                            .map_err(|e| fail(e.to_string()))?,
                    )
                }
                SchemeShare::Ed25519 {
                    parties,
                    key_package,
                    public_key_package,
                } => {
                    if !(2..=MAX_PARTIES).contains(&parties) {
                        return Err(fail("party count out of range".into()));
                    }
                    Arc::new(
                        Ed25519Key::new(me, parties, key_package, public_key_package)
                            .map_err(|e| fail(e.to_string()))?,
                    )
                }
            };
            if key.parties() > MAX_PARTIES || key.threshold() < 2 || key.threshold() > key.parties()
            {
                return Err(fail("threshold or party count out of range".into()));
            }
            let root = key
                .public_key(&DerivationPath::root())
                .map_err(|e| fail(e.to_string()))?;
            if hex::encode(&root.bytes) != account.public_key.to_ascii_lowercase() {
                return Err(fail("public_key does not match the share".into()));
            }
            accounts.insert(id, key);
        }
        Ok(Self {
            party_index: me,
            accounts,
        })
    }

    /// Builds a store from keys already in memory (tests, benchmarks).
    pub fn from_keys(
        party_index: u16,
        keys: impl IntoIterator<Item = (String, Arc<dyn ThresholdKey>)>,
    ) -> Self {
        Self {
            party_index,
            accounts: keys.into_iter().collect(),
        }
    }

    /// The owning party.
    pub fn party_index(&self) -> u16 {
        self.party_index
    }

    /// The key of an account.
    pub fn get(&self, account_id: &str) -> Option<&Arc<dyn ThresholdKey>> {
        self.accounts.get(account_id)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Accounts per scheme.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for k in self.accounts.values() {
            *out.entry(k.scheme().as_str()).or_default() += 1;
        }
        out
    }
}
