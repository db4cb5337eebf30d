//! What every engine shares: schemes, the data to sign, the session and its execution id, the
//! message envelope, and the [`ThresholdKey`] trait the service programs against.

use std::fmt;
use std::str::FromStr;

use sha2_010::{Digest, Sha256};
use sha3::Keccak256;

use crate::{DerivationPath, MpcError};

/// Largest payload (message or transaction preimage) a session signs.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;
/// Largest protocol message accepted from another party (cggmp24's biggest is about 20 KB).
pub const MAX_WIRE_MESSAGE_BYTES: usize = 256 * 1024;
/// Most parties a key may have.
pub const MAX_PARTIES: u16 = 16;

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

    fn kind(&self) -> &'static [u8] {
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

    fn payload_len(&self) -> usize {
        match self {
            SignData::Ecdsa { payload, .. } | SignData::Ed25519(payload) => payload.len(),
            SignData::EcdsaPrehashed(d) => d.len(),
        }
    }
}

/// One signing session as every party sees it. All parties must build it from the same
/// `Start` fields; the execution id binds them so a message from another session, account,
/// path or payload fails the protocol.
#[derive(Clone, Debug)]
pub struct Session {
    /// Caller-chosen id, unique per session.
    pub session_id: String,
    /// The account whose key signs.
    pub account_id: String,
    /// Key-generation indexes of the signing parties, strictly increasing.
    pub parties: Vec<u16>,
    /// Derivation path from the account key.
    pub path: DerivationPath,
    /// What is signed.
    pub data: SignData,
    execution_id: [u8; 32],
}

impl Session {
    /// Builds a session and its execution id. Checks what does not depend on the key.
    pub fn new(
        session_id: impl Into<String>,
        account_id: impl Into<String>,
        parties: Vec<u16>,
        path: DerivationPath,
        data: SignData,
    ) -> Result<Self, MpcError> {
        let session_id = session_id.into();
        let account_id = account_id.into();
        if parties.len() < 2 {
            return Err(MpcError::InvalidRequest(
                "a session needs at least two parties".into(),
            ));
        }
        if parties.windows(2).any(|w| w[0] >= w[1]) {
            return Err(MpcError::InvalidRequest(
                "party indexes must be strictly increasing".into(),
            ));
        }
        if data.payload_len() > MAX_PAYLOAD_BYTES {
            return Err(MpcError::InvalidRequest(format!(
                "payload is {} bytes, more than {MAX_PAYLOAD_BYTES}",
                data.payload_len()
            )));
        }
        if matches!(data, SignData::Ecdsa { ref payload, .. } if payload.is_empty()) {
            return Err(MpcError::InvalidRequest("empty payload".into()));
        }
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(b"sigil/sign-session/v1");
        field(session_id.as_bytes());
        field(account_id.as_bytes());
        field(data.scheme().as_str().as_bytes());
        field(path.to_string().as_bytes());
        let party_bytes: Vec<u8> = parties.iter().flat_map(|p| p.to_be_bytes()).collect();
        field(&party_bytes);
        field(data.kind());
        field(&data.digest());
        let execution_id = h.finalize().into();
        Ok(Self {
            session_id,
            account_id,
            parties,
            path,
            data,
            execution_id,
        })
    }

    /// SHA-256 over every field of the session; the protocol's execution id.
    pub fn execution_id(&self) -> &[u8; 32] {
        &self.execution_id
    }

    /// Checks the session against a key's parameters: scheme, party count and membership.
    /// Returns this party's position among the signers.
    pub fn position_of(
        &self,
        scheme: Scheme,
        me: u16,
        threshold: u16,
        parties: u16,
    ) -> Result<usize, MpcError> {
        if self.data.scheme() != scheme {
            return Err(MpcError::InvalidRequest(format!(
                "account uses {scheme}, request is for {}",
                self.data.scheme()
            )));
        }
        if self.parties.len() != usize::from(threshold) {
            return Err(MpcError::InvalidRequest(format!(
                "account is {threshold}-of-{parties}: a session needs exactly {threshold} parties, got {}",
                self.parties.len()
            )));
        }
        if let Some(p) = self.parties.iter().find(|&&p| p >= parties) {
            return Err(MpcError::InvalidRequest(format!(
                "party index {p} is out of range (the key has parties 0..{parties})"
            )));
        }
        self.parties.iter().position(|&p| p == me).ok_or_else(|| {
            MpcError::InvalidRequest(format!("party {me} (this signer) is not in the party list"))
        })
    }

    /// Validates the envelope of a received message: a known other signer, addressed to us or
    /// broadcast, and not oversized. Returns the sender's position among the signers.
    pub fn check_incoming(&self, me: u16, msg: &WireMessage) -> Result<usize, MpcError> {
        let bad = |reason: &str| MpcError::BadMessage {
            party: msg.from,
            reason: reason.into(),
        };
        if msg.from == me {
            return Err(bad("a message claims to come from this signer"));
        }
        let pos = self
            .parties
            .iter()
            .position(|&p| p == msg.from)
            .ok_or_else(|| bad("sender is not a party of this session"))?;
        if let Some(to) = msg.to
            && to != me
        {
            return Err(bad("message is addressed to another party"));
        }
        if msg.payload.len() > MAX_WIRE_MESSAGE_BYTES {
            return Err(bad("message is too large"));
        }
        Ok(pos)
    }
}

/// A protocol message between parties. `from` and `to` are key-generation indexes; `to: None`
/// is a broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireMessage {
    /// Sender.
    pub from: u16,
    /// Recipient, or `None` for a broadcast to every other signer.
    pub to: Option<u16>,
    /// Engine-specific bytes.
    pub payload: Vec<u8>,
}

/// Where an engine sends and receives protocol messages. Engines run synchronously on a thread
/// of their own; `recv` blocks until a message arrives or the session is over (timeout,
/// cancellation), which it reports as [`MpcError::Channel`].
pub trait MessageIo {
    /// Sends one message.
    fn send(&mut self, msg: WireMessage) -> Result<(), MpcError>;
    /// Receives the next message from any other party.
    fn recv(&mut self) -> Result<WireMessage, MpcError>;
}

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

    fn session(id: &str, data: SignData) -> Session {
        Session::new(id, "acct", vec![0, 1], DerivationPath::root(), data).unwrap()
    }

    #[test]
    fn execution_id_binds_every_field() {
        let base = session("s1", SignData::Ed25519(b"hi".to_vec()));
        let others = [
            session("s2", SignData::Ed25519(b"hi".to_vec())),
            session("s1", SignData::Ed25519(b"ho".to_vec())),
            Session::new(
                "s1",
                "other",
                vec![0, 1],
                DerivationPath::root(),
                SignData::Ed25519(b"hi".to_vec()),
            )
            .unwrap(),
            Session::new(
                "s1",
                "acct",
                vec![0, 2],
                DerivationPath::root(),
                SignData::Ed25519(b"hi".to_vec()),
            )
            .unwrap(),
            Session::new(
                "s1",
                "acct",
                vec![0, 1],
                "m/1".parse().unwrap(),
                SignData::Ed25519(b"hi".to_vec()),
            )
            .unwrap(),
        ];
        for o in others {
            assert_ne!(base.execution_id(), o.execution_id());
        }
        assert_eq!(
            base.execution_id(),
            session("s1", SignData::Ed25519(b"hi".to_vec())).execution_id()
        );
    }

    #[test]
    fn rejects_bad_party_lists_and_payloads() {
        let d = || SignData::Ed25519(b"x".to_vec());
        for parties in [vec![0], vec![1, 0], vec![0, 0]] {
            assert!(Session::new("s", "a", parties, DerivationPath::root(), d()).is_err());
        }
        let big = SignData::Ed25519(vec![0; MAX_PAYLOAD_BYTES + 1]);
        assert!(Session::new("s", "a", vec![0, 1], DerivationPath::root(), big).is_err());
        let s = session("s", d());
        assert!(s.position_of(Scheme::EcdsaSecp256k1, 0, 2, 2).is_err());
        assert!(s.position_of(Scheme::Ed25519, 0, 3, 3).is_err());
        assert!(s.position_of(Scheme::Ed25519, 2, 2, 3).is_err());
        assert_eq!(s.position_of(Scheme::Ed25519, 1, 2, 2).unwrap(), 1);
    }

    #[test]
    fn envelope_checks() {
        let s = session("s", SignData::Ed25519(b"x".to_vec()));
        let m = |from, to| WireMessage {
            from,
            to,
            payload: vec![1],
        };
        assert_eq!(s.check_incoming(0, &m(1, None)).unwrap(), 1);
        assert_eq!(s.check_incoming(0, &m(1, Some(0))).unwrap(), 1);
        assert!(s.check_incoming(0, &m(0, None)).is_err());
        assert!(s.check_incoming(0, &m(2, None)).is_err());
        assert!(s.check_incoming(0, &m(1, Some(1))).is_err());
    }

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
