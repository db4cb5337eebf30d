//! One party's share of one account key, whatever the engine: the [`ThresholdKey`] trait the
//! service programs against, and the key-level types it answers with ([`PublicKey`]).

use sha3::{Digest, Keccak256};

use crate::{DerivationPath, MessageIo, MpcError, Scheme, Session, Signature};

/// Most parties a key may have.
pub const MAX_PARTIES: u16 = 16;

/// A public key: compressed SEC1 (33 bytes) for secp256k1, 32 bytes for Ed25519.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// Its scheme.
    pub scheme: Scheme,
    /// Its encoding.
    pub bytes: Vec<u8>,
}

impl PublicKey {
    /// The Ethereum address (EIP-55 checksummed) of a secp256k1 key.
    pub fn ethereum_address(&self) -> Option<String> {
        if self.scheme != Scheme::EcdsaSecp256k1 {
            return None;
        }
        let point = k256::PublicKey::from_sec1_bytes(&self.bytes).ok()?;
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        let uncompressed = point.to_encoded_point(false);
        let hash = Keccak256::digest(&uncompressed.as_bytes()[1..]);
        Some(eip55(&hash[12..]))
    }
}

/// EIP-55 mixed-case checksum encoding of a 20-byte address.
pub fn eip55(address: &[u8]) -> String {
    let lower = hex::encode(address);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// One party's share of one account key, in any engine. The service holds a map of these and
/// knows nothing else about the engines.
pub trait ThresholdKey: Send + Sync {
    /// Its scheme.
    fn scheme(&self) -> Scheme;
    /// This party's key-generation index.
    fn party_index(&self) -> u16;
    /// Signers needed.
    fn threshold(&self) -> u16;
    /// Parties that hold a share.
    fn parties(&self) -> u16;
    /// The public key at `path` (the account key for the root path).
    fn public_key(&self, path: &DerivationPath) -> Result<PublicKey, MpcError>;
    /// Checks a session against this key before any protocol message is exchanged.
    fn check(&self, session: &Session) -> Result<(), MpcError>;
    /// Runs this party's side of the signing protocol to the end. Blocks; CPU-heavy.
    fn sign(&self, session: &Session, io: &mut dyn MessageIo) -> Result<Signature, MpcError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_matches_the_spec_vectors() {
        for addr in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        ] {
            let raw = hex::decode(&addr[2..]).unwrap();
            assert_eq!(eip55(&raw), addr);
        }
    }
}
