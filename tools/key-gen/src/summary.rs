//! The public summary of a run (`summary.json`, `sigil-key-gen-summary` version 1): every
//! account's public key (and chain code and Ethereum address for secp256k1), the run's
//! parameters, measured sizes and the SHA-256 of every encrypted file. Nothing in it is secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sigil_mpc::Scheme;

/// The `format` field of a summary.
pub const SUMMARY_FORMAT: &str = "sigil-key-gen-summary";
/// The summary version this code writes.
pub const SUMMARY_VERSION: u32 = 1;

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
    /// Id of the run's cggmp24 signer group in the key-share files (if any ECDSA account).
    pub ecdsa_group: Option<String>,
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
    /// Largest `accounts[]` entry of the service's file, per scheme.
    pub bytes_per_account: BTreeMap<String, usize>,
    /// The service's `ecdsa_groups` entry (aux data, stored once per file).
    pub ecdsa_group_aux_bytes: Option<usize>,
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
