//! ECDSA secp256k1 with cggmp24: full interactive t-of-n signing (presign + online round run
//! back to back, so a presignature exists only inside one session and is never reused), with
//! non-hardened SLIP-10 derivation fixed before the protocol starts.

use cggmp24::generic_ec::{NonZero, Point, Scalar};
use cggmp24::hd_wallet::Slip10;
use cggmp24::key_share::AuxInfo;
use cggmp24::round_based::state_machine::{ProceedResult, StateMachine};
use cggmp24::round_based::{Incoming, MessageDestination, MessageType};
use cggmp24::signing::AnyDataToSign;
use cggmp24::supported_curves::Secp256k1;
use cggmp24::{DataToSign, ExecutionId, IncompleteKeyShare, KeyShare, PrehashedDataToSign};
use k256::ecdsa::{RecoveryId, VerifyingKey};
use sha2_010::Sha256;
use sha3::Keccak256;

use crate::{
    DerivationPath, EcdsaHash, MessageIo, MpcError, PublicKey, Scheme, Session, SignData,
    Signature, ThresholdKey, WireMessage,
};

/// The cggmp24 protocol message, as carried in [`WireMessage::payload`] (JSON).
pub type ProtocolMsg = cggmp24::signing::msg::Msg<Secp256k1, Sha256>;

/// The service's (or any party's) share of one secp256k1 account key.
pub struct EcdsaKey {
    share: KeyShare<Secp256k1>,
}

impl EcdsaKey {
    /// Joins a validated core share with its signer group's aux data; checks they belong
    /// together and that the key supports HD derivation.
    pub fn from_parts(core: IncompleteKeyShare<Secp256k1>, aux: AuxInfo) -> Result<Self, MpcError> {
        let share = KeyShare::from_parts((core, aux)).map_err(|e| {
            MpcError::InvalidRequest(format!(
                "core share and aux data do not match: {}",
                e.into_error()
            ))
        })?;
        if !share.core.is_hd_wallet() {
            return Err(MpcError::InvalidRequest(
                "key share has no chain code (HD derivation disabled)".into(),
            ));
        }
        Ok(Self { share })
    }

    /// The underlying cggmp24 share (for the bare-library benchmark).
    pub fn share(&self) -> &KeyShare<Secp256k1> {
        &self.share
    }

    fn child_public_key(&self, path: &DerivationPath) -> Result<Point<Secp256k1>, MpcError> {
        self.share
            .core
            .derive_child_public_key::<Slip10, _>(path.indexes().iter().copied())
            .map(|k| k.public_key)
            .map_err(|e| MpcError::InvalidRequest(format!("derivation path {path}: {e}")))
    }
}

/// The compressed SEC1 encoding of a point.
pub fn point_bytes(p: &Point<Secp256k1>) -> Vec<u8> {
    p.to_bytes(true).to_vec()
}

impl ThresholdKey for EcdsaKey {
    fn scheme(&self) -> Scheme {
        Scheme::EcdsaSecp256k1
    }

    fn party_index(&self) -> u16 {
        self.share.core.i
    }

    fn threshold(&self) -> u16 {
        self.share
            .core
            .vss_setup
            .as_ref()
            .map_or_else(|| self.parties(), |v| v.min_signers)
    }

    fn parties(&self) -> u16 {
        // A validated share has at most u16::MAX public shares.
        u16::try_from(self.share.core.public_shares.len()).unwrap_or(u16::MAX)
    }

    fn public_key(&self, path: &DerivationPath) -> Result<PublicKey, MpcError> {
        Ok(PublicKey {
            scheme: Scheme::EcdsaSecp256k1,
            bytes: point_bytes(&self.child_public_key(path)?),
        })
    }

    fn check(&self, session: &Session) -> Result<(), MpcError> {
        session.position_of(
            Scheme::EcdsaSecp256k1,
            self.party_index(),
            self.threshold(),
            self.parties(),
        )?;
        self.child_public_key(&session.path).map(drop)
    }

    fn sign(&self, session: &Session, io: &mut dyn MessageIo) -> Result<Signature, MpcError> {
        let me = self.party_index();
        let position =
            session.position_of(Scheme::EcdsaSecp256k1, me, self.threshold(), self.parties())?;
        let position = u16::try_from(position)
            .map_err(|_| MpcError::InvalidRequest("too many parties".into()))?;
        let public_key = self.child_public_key(&session.path)?;
        let data: Box<dyn AnyDataToSign<Secp256k1>> = match &session.data {
            SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload,
            } => Box::new(DataToSign::digest::<Keccak256>(payload)),
            SignData::Ecdsa {
                hash: EcdsaHash::Sha256,
                payload,
            } => Box::new(DataToSign::digest::<Sha256>(payload)),
            SignData::EcdsaPrehashed(d) => Box::new(PrehashedDataToSign::from_scalar(
                Scalar::from_be_bytes_mod_order(d),
            )),
            SignData::Ed25519(_) => {
                return Err(MpcError::InvalidRequest(
                    "Ed25519 data for an ECDSA key".into(),
                ));
            }
        };
        let eid = ExecutionId::new(session.execution_id());
        let mut rng = rand_core::OsRng;
        let builder = cggmp24::signing(eid, position, &session.parties, &self.share)
            .set_derivation_path(session.path.indexes().iter().copied())
            .map_err(|e| MpcError::InvalidRequest(format!("derivation path: {e}")))?;
        let mut machine = builder.sign_sync(&mut rng, data.as_ref());
        let signature = drive(&mut machine, session, me, io)?;
        finish(signature.normalize_s(), &public_key, &session.data.digest())
    }
}

/// Runs a cggmp24 state machine against `io` until it outputs.
fn drive<O>(
    machine: &mut impl StateMachine<Output = Result<O, cggmp24::SigningError>, Msg = ProtocolMsg>,
    session: &Session,
    me: u16,
    io: &mut dyn MessageIo,
) -> Result<O, MpcError> {
    let mut next_id = 0u64;
    loop {
        match machine.proceed() {
            ProceedResult::SendMsg(out) => {
                let to = match out.recipient {
                    MessageDestination::AllParties => None,
                    MessageDestination::OneParty(j) => {
                        Some(*session.parties.get(usize::from(j)).ok_or_else(|| {
                            MpcError::Protocol("message to an unknown signer".into())
                        })?)
                    }
                };
                let payload = serde_json::to_vec(&out.msg)
                    .map_err(|e| MpcError::Protocol(format!("encoding a message: {e}")))?;
                io.send(WireMessage {
                    from: me,
                    to,
                    payload,
                })?;
            }
            ProceedResult::NeedsOneMoreMessage => {
                let msg = io.recv()?;
                let sender = session.check_incoming(me, &msg)?;
                let decoded: ProtocolMsg =
                    crate::json::decode(&msg.payload).map_err(|e| MpcError::BadMessage {
                        party: msg.from,
                        reason: format!("not a cggmp24 signing message ({e})"),
                    })?;
                let incoming = Incoming {
                    id: next_id,
                    sender: u16::try_from(sender)
                        .map_err(|_| MpcError::Protocol("sender index".into()))?,
                    msg_type: if msg.to.is_none() {
                        MessageType::Broadcast
                    } else {
                        MessageType::P2P
                    },
                    msg: decoded,
                };
                next_id += 1;
                machine
                    .received_msg(incoming)
                    .map_err(|_| MpcError::Protocol("state machine refused a message".into()))?;
            }
            ProceedResult::Yielded => {}
            ProceedResult::Output(Ok(out)) => return Ok(out),
            ProceedResult::Output(Err(e)) => {
                return Err(MpcError::Protocol(crate::error_chain(&e)));
            }
            ProceedResult::Error(e) => return Err(MpcError::Protocol(e.to_string())),
        }
    }
}

/// Checks a low-s signature with k256 (independently of cggmp24) and finds its recovery id.
fn finish(
    signature: cggmp24::Signature<Secp256k1>,
    public_key: &Point<Secp256k1>,
    digest: &[u8; 32],
) -> Result<Signature, MpcError> {
    let r: [u8; 32] = scalar_bytes(&signature.r);
    let s: [u8; 32] = scalar_bytes(&signature.s);
    let sig = k256::ecdsa::Signature::from_scalars(r, s).map_err(|_| MpcError::InvalidSignature)?;
    let vk = VerifyingKey::from_sec1_bytes(&point_bytes(public_key))
        .map_err(|_| MpcError::InvalidSignature)?;
    let recovery_id = RecoveryId::trial_recovery_from_prehash(&vk, digest, &sig)
        .map_err(|_| MpcError::InvalidSignature)?;
    Ok(Signature::Ecdsa {
        r,
        s,
        recovery_id: recovery_id.to_byte(),
    })
}

fn scalar_bytes(s: &NonZero<Scalar<Secp256k1>>) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&s.to_be_bytes());
    out
}
