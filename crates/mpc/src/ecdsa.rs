//! ECDSA secp256k1 with cggmp24: full interactive t-of-n signing (presign + online round run
//! back to back, so a presignature exists only inside one session and is never reused), with
//! non-hardened SLIP-10 derivation fixed before the protocol starts.
//!
//! Memory: the aux data of a signer group (this party's Paillier key, every party's Paillier
//! modulus and ring-Pedersen parameters: ~10–13 KB) is the same for every account of the
//! group, so it is validated once ([`GroupAux`]) and shared by reference (`Arc`); an
//! [`EcdsaKey`] owns only its core share (~0.6 KB). cggmp24's signing API wants one owned
//! `KeyShare` (core + aux); [`EcdsaKey::session_share`] assembles it when a session signs
//! (a few microseconds next to a ~3 s signature; measured by
//! `crates/mpc/examples/load_keystore.rs`) and it is dropped when the session ends. Like the
//! copies cggmp24 itself makes during a session, its big integers are not wiped (the backend
//! has no zeroizing integer type); the scalar share `x` is (generic-ec's `SecretScalar`).

use std::sync::Arc;

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

/// One party's aux data of a cggmp24 signer group, checked for that party once and shared by
/// every account of the group. Cloning shares it.
#[derive(Clone)]
pub struct GroupAux {
    aux: Arc<AuxInfo>,
    party: u16,
}

impl GroupAux {
    /// Checks what cggmp24 checks when it joins a core share of party `party` with `aux`
    /// (`KeyShare::from_parts`), minus what depends on the account: one ring-Pedersen
    /// parameter set per Paillier modulus, `party` is one of them, and its modulus is p·q.
    /// (`aux` itself was validated by cggmp24 when it was parsed: sizes, gcds.)
    pub fn new(aux: AuxInfo, party: u16) -> Result<Self, MpcError> {
        let bad = |why: &str| MpcError::InvalidRequest(format!("aux data of party {party}: {why}"));
        if aux.pedersen_params.len() != aux.N.len() {
            return Err(bad(
                "aux data has a different number of Paillier moduli and ring-Pedersen parameters",
            ));
        }
        let n_i = aux
            .N
            .get(usize::from(party))
            .ok_or_else(|| bad("the party index is not a party of the aux data"))?;
        if *n_i != &aux.p * &aux.q {
            return Err(bad("this party's Paillier modulus is not p·q"));
        }
        Ok(Self {
            aux: Arc::new(aux),
            party,
        })
    }

    /// Number of parties of the group.
    pub fn parties(&self) -> usize {
        self.aux.N.len()
    }

    /// The party the aux data belongs to.
    pub fn party(&self) -> u16 {
        self.party
    }

    /// The shared aux data.
    pub fn aux(&self) -> &Arc<AuxInfo> {
        &self.aux
    }
}

/// The service's (or any party's) share of one secp256k1 account key: its core share and a
/// reference to its signer group's aux data.
pub struct EcdsaKey {
    core: IncompleteKeyShare<Secp256k1>,
    aux: Arc<AuxInfo>,
}

impl EcdsaKey {
    /// Joins a validated core share with its signer group's aux data; checks they belong
    /// together and that the key supports HD derivation. The aux data is this key's alone;
    /// keys of one group should share it through [`GroupAux`] and [`Self::with_group`].
    pub fn from_parts(core: IncompleteKeyShare<Secp256k1>, aux: AuxInfo) -> Result<Self, MpcError> {
        let group = GroupAux::new(aux, core.i)?;
        Self::with_group(core, &group)
    }

    /// Joins a validated core share with a group's checked aux data (shared, not copied):
    /// the same checks as [`Self::from_parts`].
    pub fn with_group(
        core: IncompleteKeyShare<Secp256k1>,
        group: &GroupAux,
    ) -> Result<Self, MpcError> {
        let bad = |why: &str| {
            MpcError::InvalidRequest(format!("core share and aux data do not match: {why}"))
        };
        if core.i != group.party {
            return Err(bad("the core share belongs to another party"));
        }
        if core.public_shares.len() != group.parties() {
            return Err(bad(
                "the core share and the group have different party counts",
            ));
        }
        if !core.is_hd_wallet() {
            return Err(MpcError::InvalidRequest(
                "key share has no chain code (HD derivation disabled)".into(),
            ));
        }
        Ok(Self {
            core,
            aux: Arc::clone(&group.aux),
        })
    }

    /// The complete cggmp24 key share a signing session needs, assembled from the core share
    /// and a copy of the group's aux data (and checked again by cggmp24). Dropped by the
    /// caller when the session ends.
    pub fn session_share(&self) -> Result<KeyShare<Secp256k1>, MpcError> {
        KeyShare::from_parts((self.core.clone(), AuxInfo::clone(&self.aux))).map_err(|e| {
            MpcError::InvalidRequest(format!(
                "core share and aux data do not match: {}",
                e.into_error()
            ))
        })
    }

    /// The core share.
    pub fn core(&self) -> &IncompleteKeyShare<Secp256k1> {
        &self.core
    }

    /// The signer group's aux data, shared with the group's other keys.
    pub fn aux(&self) -> &Arc<AuxInfo> {
        &self.aux
    }

    fn child_public_key(&self, path: &DerivationPath) -> Result<Point<Secp256k1>, MpcError> {
        self.core
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
        self.core.i
    }

    fn threshold(&self) -> u16 {
        self.core
            .vss_setup
            .as_ref()
            .map_or_else(|| self.parties(), |v| v.min_signers)
    }

    fn parties(&self) -> u16 {
        // A validated share has at most u16::MAX public shares.
        u16::try_from(self.core.public_shares.len()).unwrap_or(u16::MAX)
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
        let share = self.session_share()?;
        let builder = cggmp24::signing(eid, position, &session.parties, &share)
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
