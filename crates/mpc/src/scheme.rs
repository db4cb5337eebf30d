//! The vocabulary of schemes, independent of any key or session: which [`Scheme`] signs, the
//! data it signs ([`SignData`], and how an ECDSA payload is hashed) and the [`Signature`] it
//! produces.

use std::fmt;
use std::str::FromStr;

use sha2_010::{Digest, Sha256};
use sha3::Keccak256;

use crate::MpcError;

/// A signature scheme, spelled as in key-share files, the CLI and the gRPC API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scheme {
    /// ECDSA over secp256k1 (cggmp24).
    #[serde(rename = "ecdsa-secp256k1")]
    EcdsaSecp256k1,
    /// Ed25519 (FROST, RFC 9591).
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl Scheme {
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::EcdsaSecp256k1 => "ecdsa-secp256k1",
            Scheme::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = MpcError;
    fn from_str(s: &str) -> Result<Self, MpcError> {
        match s {
            "ecdsa-secp256k1" => Ok(Scheme::EcdsaSecp256k1),
            "ed25519" => Ok(Scheme::Ed25519),
            other => Err(MpcError::InvalidRequest(format!(
                "unknown scheme {other:?} (expected ecdsa-secp256k1 or ed25519)"
            ))),
        }
    }
}

/// How an ECDSA payload is hashed before signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcdsaHash {
    /// Keccak-256, as Ethereum signs transactions (the RLP payload).
    Keccak256,
    /// SHA-256.
    Sha256,
}

/// What a session signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignData {
    /// ECDSA over the hash of a payload the service sees in full (preferred: the preimage is
    /// known, which rules out the raw-hash forgery class).
    Ecdsa {
        /// Hash function applied to `payload`.
        hash: EcdsaHash,
        /// The preimage.
        payload: Vec<u8>,
    },
    /// ECDSA over a 32-byte digest the caller computed (full interactive signing only).
    EcdsaPrehashed([u8; 32]),
    /// Ed25519 over the message itself (RFC 8032 pure Ed25519).
    Ed25519(Vec<u8>),
}

impl SignData {
    /// The scheme this data is signed with.
    pub fn scheme(&self) -> Scheme {
        match self {
            SignData::Ecdsa { .. } | SignData::EcdsaPrehashed(_) => Scheme::EcdsaSecp256k1,
            SignData::Ed25519(_) => Scheme::Ed25519,
        }
    }

    /// The 32 bytes bound into the execution id: the ECDSA message digest, or SHA-256 of the
    /// Ed25519 message.
    pub fn digest(&self) -> [u8; 32] {
        match self {
            SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload,
            } => Keccak256::digest(payload).into(),
            SignData::Ecdsa {
                hash: EcdsaHash::Sha256,
                payload,
            } => Sha256::digest(payload).into(),
            SignData::EcdsaPrehashed(d) => *d,
            SignData::Ed25519(m) => Sha256::digest(m).into(),
        }
    }

    pub(crate) fn kind(&self) -> &'static [u8] {
        match self {
            SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                ..
            } => b"ecdsa/keccak256",
            SignData::Ecdsa {
                hash: EcdsaHash::Sha256,
                ..
            } => b"ecdsa/sha256",
            SignData::EcdsaPrehashed(_) => b"ecdsa/prehashed",
            SignData::Ed25519(_) => b"ed25519/pure",
        }
    }

    pub(crate) fn payload_len(&self) -> usize {
        match self {
            SignData::Ecdsa { payload, .. } | SignData::Ed25519(payload) => payload.len(),
            SignData::EcdsaPrehashed(d) => d.len(),
        }
    }
}

/// A finished signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// ECDSA with low s and the recovery id (0 or 1) that yields the signing key.
    Ecdsa {
        /// r, big-endian.
        r: [u8; 32],
        /// s, big-endian, at most n/2.
        s: [u8; 32],
        /// y-parity of R.
        recovery_id: u8,
    },
    /// Ed25519, R || S.
    Ed25519([u8; 64]),
}

impl Signature {
    /// 64 bytes: r || s, or the Ed25519 signature.
    pub fn to_bytes(&self) -> [u8; 64] {
        match self {
            Signature::Ecdsa { r, s, .. } => {
                let mut out = [0; 64];
                out[..32].copy_from_slice(r);
                out[32..].copy_from_slice(s);
                out
            }
            Signature::Ed25519(b) => *b,
        }
    }

    /// The recovery id of an ECDSA signature.
    pub fn recovery_id(&self) -> Option<u8> {
        match self {
            Signature::Ecdsa { recovery_id, .. } => Some(*recovery_id),
            Signature::Ed25519(_) => None,
        }
    }
}
