//! One signing session as every party sees it: the [`Session`] (its ids, parties, path and
//! data, bound into the execution id) and its checks, the [`WireMessage`] envelope between
//! parties, and the [`MessageIo`] an engine drives the session through.

use sha2_010::{Digest, Sha256};

use crate::{DerivationPath, MpcError, Scheme, SignData};

/// Largest payload (message or transaction preimage) a session signs.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;
/// Largest protocol message accepted from another party (cggmp24's biggest is about 20 KB).
pub const MAX_WIRE_MESSAGE_BYTES: usize = 256 * 1024;

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
}
