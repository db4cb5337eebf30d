//! Threshold signing engines behind one trait.
//!
//! The service party of every account holds one share of the account key. A signing session
//! runs a threshold protocol with the other parties, whose messages arrive through a
//! [`MessageIo`] the caller provides (a gRPC stream in the service, in-memory channels in tests
//! and benchmarks). Engines:
//!
//! - [`ecdsa`]: ECDSA secp256k1 with `cggmp24` (t-of-n, non-hardened BIP32/SLIP-10 derivation,
//!   full interactive signing, low-s signatures with a recovery id);
//! - [`ed25519`]: Ed25519 with ZF `frost-ed25519` (RFC 9591).
//!
//! Both implement [`ThresholdKey`]; the service sees only that trait, so another engine can join
//! without touching it. [`share_file`] is the versioned key-share file that `key-gen` writes and
//! the enclave loads.

pub mod ecdsa;
pub mod ed25519;
mod error;
pub mod json;
mod parallel;
mod path;
mod session;
pub mod share_file;

pub use error::{MpcError, error_chain};
pub use path::DerivationPath;
pub use session::{
    EcdsaHash, MAX_PARTIES, MAX_PAYLOAD_BYTES, MAX_WIRE_MESSAGE_BYTES, MessageIo, PublicKey,
    Scheme, Session, SignData, Signature, ThresholdKey, WireMessage,
};
pub use share_file::{KeyStore, ShareFileError};
