//! The key-share file (`sigil-key-shares`, version 2; version 1 is still read): one party's
//! shares of every account, as `key-gen` writes it (inside age) and the enclave loads it.
//! Specified in docs/key-shares.md. This module is the format only — its serialized types, its header
//! check and the borrowed encodings the loader reads it through; [`KeyStore`](crate::KeyStore)
//! (in `key_store`) validates a file into keys.
//!
//! An ECDSA signer group names its [`Engine`]. A cggmp24 group's aux data (Paillier keys and
//! ring-Pedersen parameters, ~10 KB) and a DKLs23 group's pair setup (OT state, ~150 KB of JSON
//! per counterparty) are stored once per group, not per account; each ECDSA account then costs
//! its share: about 0.8–0.9 KB of JSON (cggmp24 core share) or about 0.4 KB (DKLs23), with its
//! id and public key (docs/key-shares.md has the measured sizes). Version 1 files have only
//! cggmp24 groups and no `engine` field; version 2 adds the field and DKLs23 groups.

use std::borrow::Cow;
use std::collections::BTreeMap;

use cggmp24::IncompleteKeyShare;
use cggmp24::key_share::{AuxInfo, DirtyIncompleteKeyShare};
use cggmp24::supported_curves::Secp256k1;
use frost_ed25519::keys::{KeyPackage, PublicKeyPackage};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::dkls23::{self, PairSetup};
use crate::ed25519::{EncodedKeyPackage, EncodedPublicKeyPackage};

/// The `format` field of every key-share file.
pub const FORMAT: &str = "sigil-key-shares";
/// The version this code writes.
pub const VERSION: u32 = 2;
/// The oldest version this code reads (cggmp24 groups only, no `engine` field).
pub const OLDEST_VERSION: u32 = 1;

/// The engine an ECDSA signer group signs with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// cggmp24 (Paillier-based; every version-1 group).
    #[default]
    Cggmp24,
    /// DKLs23 (OT-based, three rounds; version 2).
    Dkls23,
}

impl Engine {
    /// The name, as in the file and on `key-gen`'s command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Cggmp24 => "cggmp24",
            Engine::Dkls23 => "dkls23",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cggmp24" => Ok(Engine::Cggmp24),
            "dkls23" => Ok(Engine::Dkls23),
            other => Err(format!(
                "unknown ECDSA engine {other:?} (expected cggmp24 or dkls23)"
            )),
        }
    }
}

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
    /// ECDSA signer groups (their engine and the state shared by their accounts), by group id.
    #[serde(default)]
    pub ecdsa_groups: BTreeMap<String, EcdsaGroup>,
    /// One entry per account.
    pub accounts: Vec<AccountShare>,
}

/// What every ECDSA account of one signer group shares: its engine and that engine's
/// per-group state.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcdsaGroup {
    /// The engine (absent in version 1: cggmp24).
    #[serde(default)]
    pub engine: Engine,
    /// Number of parties in the group.
    pub parties: u16,
    /// cggmp24: this party's Paillier secret key and every party's public parameters
    /// (validated on load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<AuxInfo>,
    /// DKLs23: signers per session, the same for every account of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u16>,
    /// DKLs23: this party's pairwise OT and zero-share state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_setup: Option<PairSetup>,
}

impl EcdsaGroup {
    /// A cggmp24 group.
    pub fn cggmp24(parties: u16, aux: AuxInfo) -> Self {
        Self {
            engine: Engine::Cggmp24,
            parties,
            aux: Some(aux),
            threshold: None,
            pair_setup: None,
        }
    }

    /// A DKLs23 group.
    pub fn dkls23(parties: u16, threshold: u16, pair_setup: PairSetup) -> Self {
        Self {
            engine: Engine::Dkls23,
            parties,
            aux: None,
            threshold: Some(threshold),
            pair_setup: Some(pair_setup),
        }
    }
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
    /// An ECDSA share in the engine of its group `ecdsa_groups[group]`: `core` for cggmp24,
    /// `dkls23` for DKLs23 (exactly one of them).
    #[serde(rename = "ecdsa-secp256k1")]
    EcdsaSecp256k1 {
        /// Group id in `ecdsa_groups`.
        group: String,
        /// cggmp24: the validated core share (threshold, chain code, public shares, this
        /// party's secret).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        core: Option<Box<IncompleteKeyShare<Secp256k1>>>,
        /// DKLs23: this party's Shamir share, the chain code and every public share.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dkls23: Option<dkls23::AccountShare>,
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
        #[serde(default)]
        core: Option<Box<DirtyIncompleteKeyShare<Secp256k1>>>,
        #[serde(default)]
        dkls23: Option<dkls23::AccountShare>,
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
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(ShareFileError::Header(format!(
            "version {version} is not supported (this build reads versions \
             {OLDEST_VERSION} to {VERSION})"
        )));
    }
    Ok(())
}
