//! The key-share file (`sigil-key-shares`, version 1): one party's shares of every account,
//! as `key-gen` writes it (inside age) and the enclave loads it. Specified in
//! docs/key-shares.md. This module is the format only — its serialized types, its header
//! check and the borrowed encodings the loader reads it through; [`KeyStore`](crate::KeyStore)
//! (in `key_store`) validates a file into keys.
//!
//! Aux data of a cggmp24 signer group (Paillier keys and ring-Pedersen parameters, ~10 KB) is
//! stored once per group, not per account; each ECDSA account then costs its core share,
//! about 0.8–0.9 KB of JSON with its id and public key (docs/key-shares.md has the measured
//! sizes).

use std::borrow::Cow;
use std::collections::BTreeMap;

use cggmp24::IncompleteKeyShare;
use cggmp24::key_share::{AuxInfo, DirtyIncompleteKeyShare};
use cggmp24::supported_curves::Secp256k1;
use frost_ed25519::keys::{KeyPackage, PublicKeyPackage};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::ed25519::{EncodedKeyPackage, EncodedPublicKeyPackage};

/// The `format` field of every key-share file.
pub const FORMAT: &str = "sigil-key-shares";
/// The version this code reads and writes.
pub const VERSION: u32 = 1;

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
    /// The account id the Sign Gateway uses ([`validate::account_id`](crate::validate::account_id)).
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

/// The file's outline: header fields, and each group and account as a slice of the input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Outline<'a> {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) party_index: u16,
    #[serde(default, borrow)]
    pub(crate) ecdsa_groups: BTreeMap<String, &'a RawValue>,
    #[serde(borrow)]
    pub(crate) accounts: Vec<&'a RawValue>,
}

/// An account entry as [`KeyStore::from_json`] decodes it: [`AccountShare`]'s encoding, with
/// the shares left for the engines to check faster than the libraries' own decoders do
/// (`EcdsaKey::check_with_group`, `Ed25519Key::from_encoded`); same fields, same names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountIn<'a> {
    pub(crate) account_id: String,
    #[serde(borrow)]
    pub(crate) public_key: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) share: ShareIn<'a>,
}

/// [`SchemeShare`]'s encoding, decoded without the libraries' checks (done afterwards).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // one at a time per thread, moved into the engine key
pub(crate) enum ShareIn<'a> {
    #[serde(rename = "ecdsa-secp256k1")]
    EcdsaSecp256k1 {
        group: String,
        core: Box<DirtyIncompleteKeyShare<Secp256k1>>,
    },
    #[serde(rename = "ed25519")]
    Ed25519 {
        parties: u16,
        #[serde(borrow)]
        key_package: EncodedKeyPackage<'a>,
        #[serde(borrow)]
        public_key_package: EncodedPublicKeyPackage<'a>,
    },
}

/// Just the id of an account entry, to name an entry that does not decode.
#[derive(Deserialize)]
pub(crate) struct AccountIdOnly<'a> {
    #[serde(borrow)]
    pub(crate) account_id: Cow<'a, str>,
}

/// Checks the file's `format` and `version`.
pub(crate) fn check_header(format: &str, version: u32) -> Result<(), ShareFileError> {
    if format != FORMAT {
        return Err(ShareFileError::Header(format!("format must be {FORMAT:?}")));
    }
    if version != VERSION {
        return Err(ShareFileError::Header(format!(
            "version {version} is not supported (this build reads version {VERSION})"
        )));
    }
    Ok(())
}
