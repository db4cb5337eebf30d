//! Threshold signing engines behind one trait.
//!
//! The service party of every account holds one share of the account key. A signing session
//! runs a threshold protocol with the other parties, whose messages arrive through a
//! [`MessageIo`] the caller provides (a gRPC stream in the service, in-memory channels in tests
//! and benchmarks; [`ChannelIo`] is the one over channels). Engines:
//!
//! - [`ecdsa`]: ECDSA secp256k1 with `cggmp24` (t-of-n, non-hardened BIP32/SLIP-10 derivation,
//!   full interactive signing, low-s signatures with a recovery id);
//! - [`dkls23`]: ECDSA secp256k1 with DKLs23 (three rounds, OT-based; the same keys, paths and
//!   signatures as `ecdsa`, the pairwise OT state held once per signer group);
//! - [`ed25519`]: Ed25519 with ZF `frost-ed25519` (RFC 9591).
//!
//! Both implement [`ThresholdKey`]; the service sees only that trait, so another engine can join
//! without touching it.
//!
//! Modules, leaves first: `scheme` (the [`Scheme`], the data it signs and the [`Signature`] it
//! makes), `session` (one [`Session`], its [`WireMessage`]s and the [`MessageIo`] it runs
//! through), `key` (the [`ThresholdKey`] trait and [`PublicKey`]), [`validate`] (the account-id
//! and session-id rules), [`channel`] ([`ChannelIo`]), the engines, [`dkls23_dealer`] (DKLs23's
//! trusted dealer, for key-gen and tests), [`share_file`] (the versioned key-share
//! file that `key-gen` writes and the enclave loads) and `key_store` ([`KeyStore`], a file
//! validated into keys).

pub mod channel;
pub mod dkls23;
pub mod dkls23_dealer;
pub mod ecdsa;
pub mod ed25519;
mod error;
pub mod json;
mod key;
mod key_store;
mod parallel;
mod path;
mod scheme;
mod session;
pub mod share_file;
pub mod validate;

pub use channel::ChannelIo;
pub use error::MpcError;
pub use key::{MAX_PARTIES, PublicKey, ThresholdKey};
pub use key_store::KeyStore;
pub use path::DerivationPath;
pub use scheme::{EcdsaHash, Scheme, SignData, Signature};
pub use session::{MAX_PAYLOAD_BYTES, MAX_WIRE_MESSAGE_BYTES, MessageIo, Session, WireMessage};
pub use share_file::{Engine, ShareFileError};
