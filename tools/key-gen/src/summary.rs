//! The public summary of a run (`summary.json`, `sigil-key-gen-summary` version 2): every
//! account's public key (and engine, chain code and Ethereum address for secp256k1), the run's
//! parameters and ECDSA groups, measured sizes and the SHA-256 of every encrypted file. Nothing
//! in it is secret. Version 2 added the engines (`ecdsa_groups`, `accounts[].engine`, sizes per
//! engine) in place of version 1's single `ecdsa_group`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sigil_mpc::{Engine, Scheme};

/// The `format` field of a summary.
pub const SUMMARY_FORMAT: &str = "sigil-key-gen-summary";
/// The summary version this code writes.
pub const SUMMARY_VERSION: u32 = 2;

/// The summary of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Always [`SUMMARY_FORMAT`].
    pub format: String,
    /// Always [`SUMMARY_VERSION`].
    pub version: u32,
    /// Number of parties.
    pub parties: u16,
    /// Signers needed.
    pub threshold: u16,
    /// Key-generation index of the service (the enclave).
    pub service_party: u16,
    /// The run's ECDSA signer groups in the key-share files, by group id: one per engine
    /// used (empty without ECDSA accounts).
    #[serde(default)]
    pub ecdsa_groups: BTreeMap<String, Engine>,
    /// One entry per account, in input order.
    pub accounts: Vec<AccountSummary>,
    /// Measured sizes of the plaintext key-share JSON.
    pub sizes: Sizes,
    /// The files written (empty for an in-memory ceremony).
    #[serde(default)]
    pub files: Vec<FileSummary>,
    /// Whether plaintext key-share files were written too (`--insecure-plaintext-out`).
    #[serde(default)]
    pub insecure_plaintext_written: bool,
}

/// One account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSummary {
    /// The account id.
    pub account_id: String,
    /// Its scheme.
    pub scheme: Scheme,
    /// Its ECDSA engine (secp256k1): the engine of its group in `ecdsa_groups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// Signers needed.
    pub threshold: u16,
    /// Number of parties.
    pub parties: u16,
    /// Root public key, hex: compressed SEC1 (33 bytes) or Ed25519 (32 bytes).
    pub public_key: String,
    /// BIP32/SLIP-10 chain code, hex (secp256k1): with `public_key` the extended public key
    /// from which a gateway derives child public keys (non-hardened paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_code: Option<String>,
    /// EIP-55 Ethereum address of the root key (secp256k1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethereum_address: Option<String>,
}

/// Measured sizes of the compact plaintext JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sizes {
    /// Largest `accounts[]` entry of the service's file, per kind of share:
    /// `ecdsa-secp256k1/cggmp24`, `ecdsa-secp256k1/dkls23`, `ed25519`.
    pub bytes_per_account: BTreeMap<String, usize>,
    /// The service's `ecdsa_groups` entry per engine (`cggmp24`: aux data; `dkls23`: pair
    /// setup), stored once per file.
    pub ecdsa_group_bytes: BTreeMap<String, usize>,
}

/// One file written by a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSummary {
    /// Owning party.
    pub party: u16,
    /// File name in the output directory.
    pub file: String,
    /// The age recipients it is encrypted to.
    pub recipients: Vec<String>,
    /// Size of the encrypted file.
    pub bytes: u64,
    /// Size of the plaintext key-share JSON inside.
    pub plaintext_bytes: u64,
    /// SHA-256 of the encrypted file, hex.
    pub sha256: String,
}
