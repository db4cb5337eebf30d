//! The offline key-share ceremony behind the `key-gen` command.
//!
//! A trusted dealer on an offline machine splits each account key (a given child key or a fresh
//! one) into t-of-n shares, one key-share file per party in the format of
//! [`sigil_mpc::share_file`], each encrypted with age to that party's recipients. ECDSA
//! secp256k1 accounts are dealt in DKLs23 (the default: one pair setup per signer group, one
//! Shamir share per account) or cggmp24 (its trusted dealer: aux data once per signer group,
//! one core share per account), chosen per run or per account; Ed25519 uses FROST's `split`.
//! Procedure and formats: docs/key-shares.md.
//!
//! - [`accounts`]: the account list (`--account-id`, `--accounts-file`);
//! - [`primes`]: Paillier prime pools (`key-gen primes`), consumed by `split`;
//! - [`ceremony`]: the split itself, in memory ([`ceremony::split`]), usable from tests of
//!   other crates without age;
//! - [`output`]: age encryption and the files of a run (share files, summary);
//! - [`tls_bundle`]: `key-gen tls-bundle`, the service's TLS material sealed with age
//!   (docs/tls.md).

pub mod accounts;
pub mod ceremony;
mod error;
pub mod json;
pub mod output;
pub mod primes;
pub mod summary;
pub mod tls_bundle;

pub use error::KeyGenError;
