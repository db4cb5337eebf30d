//! ECDSA secp256k1 with DKLs23 (eprint 2023/765) on 0xCarbon's `dkls23` 0.6.2, pinned exactly
//! and unaudited (docs/dkls23.md): three message rounds and a broadcast, OT-based
//! multiplication, no Paillier.
//!
//! Memory. A DKLs23 party needs, per counterparty, the OT-extension seeds and the public gadget
//! of both multiplication directions (~52 KB), plus the pairwise zero-share seeds. None of it
//! depends on the key, so it is dealt once per signer group ([`PairSetup`]) and held once
//! ([`Dkls23Group`], shared by `Arc`); an account ([`Dkls23Key`]) keeps only its Shamir share,
//! its public key and its chain code. A session assembles the library's `Party` from both
//! (cloning the multiplication state of its counterparties only, a few microseconds) and drops
//! (zeroizes) it when it ends. Derivation runs on the account's data alone: SLIP-10 shifts from
//! `hd-wallet` (the code cggmp24 derives with, so child keys are the same in both engines),
//! added to the share, never a derived copy of the OT state.
//!
//! Session ids. The library's multiplication session id covers the group's dealing id, the
//! sign id, the chain code and public key of the (derived) key, the message digest and the
//! signer set; Sigil's sign id is the [`Session`] execution id, which adds the account id,
//! the caller's session id, the path and the hash kind; each OT extension then mixes in a
//! fresh nonce of the receiver and a fresh salt of the sender. docs/signing.md argues why the
//! OT state may be shared by the accounts of a group, and what that depends on.
//!
//! Cheating. A failed OT consistency or multiplication check is the library's
//! `AbortKind::BanCounterparty`: it may leak bits of the reused OT state, which every account of
//! the group shares, so the whole group freezes ([`Dkls23Group::frozen`]); every later session
//! of any of its accounts is refused with [`MpcError::GroupFrozen`] until the group's pair
//! setup is dealt again (a new key-share file).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use cggmp24::generic_ec::{NonZero, Point, Scalar, SecretScalar};
use cggmp24::hd_wallet::{DeriveShift, ExtendedPublicKey, NonHardenedIndex, Slip10};
use cggmp24::supported_curves::Secp256k1;
use dkls23_core::SignSession;
use dkls23_core::protocols::derivation::DerivData;
use dkls23_core::protocols::messages::MessageTag;
use dkls23_core::protocols::signing::{
    Broadcast3to4, SignData as DklsSignData, TransmitPhase1to2, TransmitPhase2to3,
};
use dkls23_core::protocols::{Abort, AbortKind, Parameters, Party, PartyIndex};
use dkls23_core::utilities::multiplication::{MulReceiver, MulSender};
use dkls23_core::utilities::zero_shares::ZeroShare;
use k256_014::Secp256k1 as K;
use k256_014::elliptic_curve::PrimeField;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::{
    DerivationPath, MessageIo, MpcError, PublicKey, Scheme, Session, Signature, ThresholdKey,
    WireMessage,
};

/// One party's pairwise setup of a DKLs23 signer group, as the key-share file stores it (the
/// library's own serde encoding of each part). Indexes in the maps are the library's
/// (1-based): Sigil party `i` is DKLs23 party `i + 1`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairSetup {
    /// The dealing's random id (32 bytes, hex), bound into every multiplication session id.
    pub session_id: String,
    /// Seeds shared with each other party for the zero-sharing.
    pub zero_share: ZeroShare,
    /// Multiplication state where this party is the sender, by counterparty.
    pub mul_senders: BTreeMap<PartyIndex, MulSender<K>>,
    /// Multiplication state where this party is the receiver, by counterparty.
    pub mul_receivers: BTreeMap<PartyIndex, MulReceiver<K>>,
}

/// One account's share in a DKLs23 group, as the key-share file stores it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountShare {
    /// This party's Shamir share of the account key (its polynomial at `party_index + 1`),
    /// 32 bytes big-endian, hex.
    #[serde(with = "hex32")]
    pub share: Zeroizing<[u8; 32]>,
    /// The account key's SLIP-10 chain code, hex.
    #[serde(with = "hex32")]
    pub chain_code: Zeroizing<[u8; 32]>,
    /// Every party's public share (its share times G), compressed SEC1 hex, by party index.
    pub public_shares: Vec<String>,
}

/// Why a group is frozen.
#[derive(Clone, Debug)]
pub struct Freeze {
    /// The party (Sigil index) that deviated.
    pub party: u16,
    /// The check that failed.
    pub reason: String,
}

/// One party's checked pair setup of a DKLs23 signer group, shared by the group's accounts.
pub struct Dkls23Group {
    id: String,
    party: u16,
    threshold: u16,
    parties: u16,
    session_id: Vec<u8>,
    zero_share: ZeroShare,
    mul_senders: BTreeMap<PartyIndex, MulSender<K>>,
    mul_receivers: BTreeMap<PartyIndex, MulReceiver<K>>,
    frozen: OnceLock<Freeze>,
}

/// The library's index of Sigil party `i`.
fn dkls_index(i: u16) -> Result<PartyIndex, MpcError> {
    i.checked_add(1)
        .and_then(|i| u8::try_from(i).ok())
        .and_then(|i| PartyIndex::new(i).ok())
        .ok_or_else(|| MpcError::InvalidRequest(format!("party index {i} is out of range")))
}

/// Sigil's index of the library's party `i`.
fn sigil_index(i: PartyIndex) -> u16 {
    u16::from(i.as_u8()).saturating_sub(1)
}

impl Dkls23Group {
    /// Checks party `party`'s pair setup of group `id` (t-of-n): state for every other party
    /// and no other, each well formed, and a 32-byte dealing id.
    pub fn new(
        id: &str,
        party: u16,
        threshold: u16,
        parties: u16,
        setup: PairSetup,
    ) -> Result<Self, MpcError> {
        let bad = |why: String| MpcError::InvalidRequest(format!("DKLs23 group {id:?}: {why}"));
        let (Ok(t), Ok(n)) = (u8::try_from(threshold), u8::try_from(parties)) else {
            return Err(bad("party count out of range".into()));
        };
        Parameters::new(t, n).map_err(|e| bad(e.to_string()))?;
        if party >= parties {
            return Err(bad(format!(
                "party {party} is not one of its {parties} parties"
            )));
        }
        let session_id = hex::decode(&setup.session_id)
            .ok()
            .filter(|s| s.len() == 32)
            .ok_or_else(|| bad("session_id must be 32 bytes of hex".into()))?;
        let me = dkls_index(party)?;
        let others: Vec<PartyIndex> = (0..parties)
            .filter(|&j| j != party)
            .map(dkls_index)
            .collect::<Result<_, _>>()?;
        let same_keys = |keys: Vec<PartyIndex>| keys == others;
        if !same_keys(setup.mul_senders.keys().copied().collect())
            || !same_keys(setup.mul_receivers.keys().copied().collect())
        {
            return Err(bad(
                "multiplication state must cover exactly the other parties".into(),
            ));
        }
        let mut seeded: Vec<PartyIndex> = setup
            .zero_share
            .seeds
            .iter()
            .map(|s| s.index_counterparty)
            .collect();
        seeded.sort_unstable();
        let lowest_ok = setup
            .zero_share
            .seeds
            .iter()
            .all(|s| s.lowest_index == (me < s.index_counterparty));
        if seeded != others || !lowest_ok {
            return Err(bad(
                "zero-share seeds must cover exactly the other parties".into()
            ));
        }
        for (j, sender) in &setup.mul_senders {
            sender.check_state().map_err(|e| {
                bad(format!(
                    "sender state for party {}: {}",
                    sigil_index(*j),
                    e.description
                ))
            })?;
        }
        for (j, receiver) in &setup.mul_receivers {
            receiver.check_state(None).map_err(|e| {
                bad(format!(
                    "receiver state for party {}: {}",
                    sigil_index(*j),
                    e.description
                ))
            })?;
        }
        Ok(Self {
            id: id.to_owned(),
            party,
            threshold,
            parties,
            session_id,
            zero_share: setup.zero_share,
            mul_senders: setup.mul_senders,
            mul_receivers: setup.mul_receivers,
            frozen: OnceLock::new(),
        })
    }

    /// The group id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Why the group is frozen, if it is.
    pub fn frozen(&self) -> Option<&Freeze> {
        self.frozen.get()
    }

    fn refuse_if_frozen(&self) -> Result<(), MpcError> {
        match self.frozen.get() {
            Some(f) => Err(MpcError::GroupFrozen {
                group: self.id.clone(),
                party: f.party,
                reason: f.reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The error for an abort; freezes the group if the abort names a cheater.
    fn aborted(&self, abort: Abort) -> MpcError {
        match abort.kind {
            AbortKind::BanCounterparty(cheater) => {
                let party = sigil_index(cheater);
                let reason = abort.description();
                // The first freeze stands; a second cheater in a race is reported, not recorded.
                let _ = self.frozen.set(Freeze {
                    party,
                    reason: reason.clone(),
                });
                MpcError::Cheating {
                    group: self.id.clone(),
                    party,
                    reason,
                }
            }
            AbortKind::Recoverable => {
                MpcError::Protocol(format!("dkls23: {}", abort.description()))
            }
        }
    }
}

/// One party's share of one secp256k1 account key in a DKLs23 group.
pub struct Dkls23Key {
    group: Arc<Dkls23Group>,
    share: SecretScalar<Secp256k1>,
    root: ExtendedPublicKey<Secp256k1>,
}

impl Dkls23Key {
    /// Checks an account's share against its public key and group: the share times G is this
    /// party's public share, and the public shares lie on one polynomial of degree t − 1 whose
    /// value at 0 is `public_key`.
    pub fn new(
        group: &Arc<Dkls23Group>,
        public_key: &[u8],
        share: &AccountShare,
    ) -> Result<Self, MpcError> {
        let bad = |why: &str| MpcError::InvalidRequest(format!("DKLs23 share: {why}"));
        let public_key = Point::<Secp256k1>::from_bytes(public_key)
            .ok()
            .and_then(NonZero::from_point)
            .ok_or_else(|| bad("public_key is not a secp256k1 point"))?;
        if share.public_shares.len() != usize::from(group.parties) {
            return Err(bad("public_shares must have one entry per party"));
        }
        let public_shares: Vec<Point<Secp256k1>> = share
            .public_shares
            .iter()
            .map(|p| {
                hex::decode(p)
                    .ok()
                    .and_then(|b| Point::<Secp256k1>::from_bytes(b).ok())
                    .ok_or_else(|| bad("a public share is not a secp256k1 point"))
            })
            .collect::<Result<_, _>>()?;
        let mut x = Scalar::<Secp256k1>::from_be_bytes(share.share.as_slice())
            .map_err(|_| bad("share is not a scalar"))?;
        let secret = SecretScalar::new(&mut x);
        crate::ecdsa::check_standard_shares(
            &secret,
            usize::from(group.party),
            &public_shares,
            &public_key,
            usize::from(group.threshold),
        )
        .map_err(|why| bad(&why))?;
        Ok(Self {
            group: Arc::clone(group),
            share: secret,
            root: ExtendedPublicKey {
                public_key: *public_key,
                chain_code: *share.chain_code,
            },
        })
    }

    /// The group this account signs in.
    pub fn group(&self) -> &Arc<Dkls23Group> {
        &self.group
    }

    /// The extended public key at `path` and the sum of the shifts that lead to it.
    fn derive(
        &self,
        path: &DerivationPath,
    ) -> Result<(ExtendedPublicKey<Secp256k1>, Scalar<Secp256k1>), MpcError> {
        let mut key = self.root;
        let mut shift = Scalar::<Secp256k1>::zero();
        for &index in path.indexes() {
            let index = NonHardenedIndex::try_from(index).map_err(|_| {
                MpcError::InvalidRequest(format!("derivation path {path}: hardened"))
            })?;
            let derived = Slip10::derive_public_shift(&key, index);
            shift += derived.shift;
            key = derived.child_public_key;
        }
        Ok((key, shift))
    }

    /// The library's party for one session at `child`: this account's shifted share, the
    /// child key, and the group's state for the session's counterparties only.
    fn party(
        &self,
        counterparties: &[PartyIndex],
        child: &ExtendedPublicKey<Secp256k1>,
        shift: &Scalar<Secp256k1>,
        depth: usize,
    ) -> Result<Party<K>, MpcError> {
        let g = &self.group;
        let internal = |why: &str| MpcError::Protocol(format!("dkls23 session: {why}"));
        let (Ok(t), Ok(n)) = (u8::try_from(g.threshold), u8::try_from(g.parties)) else {
            return Err(internal("party count"));
        };
        let parameters = Parameters::new(t, n).map_err(|_| internal("parameters"))?;
        let mut shifted = self.share.as_ref() + shift;
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&shifted.to_be_bytes());
        shifted.zeroize();
        let poly_point: k256_014::Scalar =
            Option::from(k256_014::Scalar::from_repr((*bytes).into()))
                .ok_or_else(|| internal("share encoding"))?;
        let pk = *k256_014::PublicKey::from_sec1_bytes(&child.public_key.to_bytes(true))
            .map_err(|_| internal("public key encoding"))?
            .as_affine();
        let mul_senders = pick(&g.mul_senders, counterparties)
            .ok_or_else(|| internal("no state for a signer"))?;
        let mul_receivers = pick(&g.mul_receivers, counterparties)
            .ok_or_else(|| internal("no state for a signer"))?;
        Ok(Party {
            parameters,
            party_index: dkls_index(g.party)?,
            session_id: g.session_id.clone(),
            poly_point,
            pk,
            zero_share: g.zero_share.clone(),
            mul_senders,
            mul_receivers,
            derivation_data: DerivData {
                depth: u8::try_from(depth).map_err(|_| internal("path depth"))?,
                child_number: 0,
                parent_fingerprint: [0; 4],
                poly_point,
                pk,
                chain_code: child.chain_code,
            },
            address: String::new(),
        })
    }
}

/// The entries of `map` for `keys`, cloned; `None` if one is missing.
fn pick<V: Clone>(
    map: &BTreeMap<PartyIndex, V>,
    keys: &[PartyIndex],
) -> Option<BTreeMap<PartyIndex, V>> {
    keys.iter()
        .map(|j| map.get(j).map(|v| (*j, v.clone())))
        .collect()
}

impl ThresholdKey for Dkls23Key {
    fn scheme(&self) -> Scheme {
        Scheme::EcdsaSecp256k1
    }

    fn party_index(&self) -> u16 {
        self.group.party
    }

    fn threshold(&self) -> u16 {
        self.group.threshold
    }

    fn parties(&self) -> u16 {
        self.group.parties
    }

    fn public_key(&self, path: &DerivationPath) -> Result<PublicKey, MpcError> {
        Ok(PublicKey {
            scheme: Scheme::EcdsaSecp256k1,
            bytes: self.derive(path)?.0.public_key.to_bytes(true).to_vec(),
        })
    }

    fn check(&self, session: &Session) -> Result<(), MpcError> {
        self.group.refuse_if_frozen()?;
        session
            .position_of(
                Scheme::EcdsaSecp256k1,
                self.party_index(),
                self.threshold(),
                self.parties(),
            )
            .map(drop)
        // Non-hardened SLIP-10 derivation is defined for every path a `DerivationPath`
        // holds, so the path needs no check here (`sign` derives it once).
    }

    fn sign(&self, session: &Session, io: &mut dyn MessageIo) -> Result<Signature, MpcError> {
        self.group.refuse_if_frozen()?;
        let me = self.party_index();
        session.position_of(Scheme::EcdsaSecp256k1, me, self.threshold(), self.parties())?;
        if matches!(session.data, crate::SignData::Ed25519(_)) {
            return Err(MpcError::InvalidRequest(
                "Ed25519 data for an ECDSA key".into(),
            ));
        }
        let (child, shift) = self.derive(&session.path)?;
        let others: Vec<u16> = session
            .parties
            .iter()
            .copied()
            .filter(|&p| p != me)
            .collect();
        let counterparties: Vec<PartyIndex> = others
            .iter()
            .map(|&p| dkls_index(p))
            .collect::<Result<_, _>>()?;
        let party = self.party(
            &counterparties,
            &child,
            &shift,
            session.path.indexes().len(),
        )?;
        let digest = session.data.digest();
        let data = DklsSignData {
            sign_id: session.execution_id().to_vec(),
            counterparties,
            message_hash: digest,
        };
        let group = &self.group;
        let mut rounds = Rounds::new(session, me, others);

        let (mut signing, first) = SignSession::new(&party, data).map_err(|a| group.aborted(a))?;
        for m in &first {
            rounds.send_p2p(io, sigil_index(m.parties.receiver), m)?;
        }
        // A freeze by another session of the group stops this one at its next round, before
        // it runs another check the cheater could learn from.
        let received: Vec<TransmitPhase1to2> = rounds.collect(io, Round::One)?;
        group.refuse_if_frozen()?;
        let second = signing.phase2(&received).map_err(|a| group.aborted(a))?;
        for m in &second {
            rounds.send_p2p(io, sigil_index(m.parties.receiver), m)?;
        }
        let received: Vec<TransmitPhase2to3<K>> = rounds.collect(io, Round::Two)?;
        group.refuse_if_frozen()?;
        let third = signing.phase3(&received).map_err(|a| group.aborted(a))?;
        rounds.broadcast(io, &third)?;
        let mut received: Vec<Broadcast3to4<K>> = rounds.collect(io, Round::Three)?;
        received.push(third);
        let signature = signing
            .phase4(&received, true)
            .map_err(|a| group.aborted(a))?;
        // The library verified it under the child key and found its recovery id; k256 checks
        // it again, independently (a plain verification: recovering the key would cost
        // four times as much for what the library's own check already established).
        crate::ecdsa::verified_with_recovery_id(
            signature.r,
            signature.s,
            signature.recovery_id,
            &child.public_key.to_bytes(true),
            &digest,
        )
    }
}

/// The three message rounds of a DKLs23 signing.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Round {
    One,
    Two,
    Three,
}

impl Round {
    /// The message tag of the round (the library's `MessageTag`), first byte of each payload.
    fn tag(self) -> u8 {
        match self {
            Round::One => <TransmitPhase1to2 as MessageTag>::TAG,
            Round::Two => <TransmitPhase2to3<K> as MessageTag>::TAG,
            Round::Three => <Broadcast3to4<K> as MessageTag>::TAG,
        }
    }

    fn of_tag(tag: u8) -> Option<Self> {
        [Round::One, Round::Two, Round::Three]
            .into_iter()
            .find(|r| r.tag() == tag)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One session's messages: encodes what this party sends, and buffers what arrives by round
/// (a faster signer's next-round message may come before a slower one's current one), one
/// message per signer and round.
struct Rounds<'a> {
    session: &'a Session,
    me: u16,
    others: Vec<u16>,
    inbox: [BTreeMap<u16, Vec<u8>>; 3],
}

/// Something a round sends.
trait Outgoing: Serialize {
    const ROUND: Round;
}
impl Outgoing for TransmitPhase1to2 {
    const ROUND: Round = Round::One;
}
impl Outgoing for TransmitPhase2to3<K> {
    const ROUND: Round = Round::Two;
}
impl Outgoing for Broadcast3to4<K> {
    const ROUND: Round = Round::Three;
}

/// Something a round receives, checked against the signer it came from.
trait Incoming: serde::de::DeserializeOwned {
    /// The sender the message itself names, if it names one.
    fn sender(&self) -> Option<PartyIndex>;
}
impl Incoming for TransmitPhase1to2 {
    fn sender(&self) -> Option<PartyIndex> {
        Some(self.parties.sender)
    }
}
impl Incoming for TransmitPhase2to3<K> {
    fn sender(&self) -> Option<PartyIndex> {
        Some(self.parties.sender)
    }
}
impl Incoming for Broadcast3to4<K> {
    fn sender(&self) -> Option<PartyIndex> {
        None
    }
}

/// Encodes a round's message: its tag, then the library's type in postcard.
fn encode<T: Outgoing>(message: &T) -> Result<Vec<u8>, MpcError> {
    postcard::to_extend(message, vec![T::ROUND.tag()])
        .map_err(|e| MpcError::Protocol(format!("encoding a dkls23 message: {e}")))
}

/// Decodes a round's message body (after its tag); the whole body must be one message.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes::<T>(body) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(format!("{} trailing bytes", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

impl<'a> Rounds<'a> {
    fn new(session: &'a Session, me: u16, others: Vec<u16>) -> Self {
        Self {
            session,
            me,
            others,
            inbox: Default::default(),
        }
    }

    fn send_p2p<T: Outgoing>(
        &self,
        io: &mut dyn MessageIo,
        to: u16,
        message: &T,
    ) -> Result<(), MpcError> {
        io.send(WireMessage {
            from: self.me,
            to: Some(to),
            payload: encode(message)?,
        })
    }

    fn broadcast<T: Outgoing>(&self, io: &mut dyn MessageIo, message: &T) -> Result<(), MpcError> {
        io.send(WireMessage {
            from: self.me,
            to: None,
            payload: encode(message)?,
        })
    }

    /// Receives until every other signer's message of `round` is in, and decodes them.
    fn collect<T: Incoming>(
        &mut self,
        io: &mut dyn MessageIo,
        round: Round,
    ) -> Result<Vec<T>, MpcError> {
        while self.inbox[round.index()].len() < self.others.len() {
            let msg = io.recv()?;
            self.file(msg, round)?;
        }
        let inbox = std::mem::take(&mut self.inbox[round.index()]);
        inbox
            .into_iter()
            .map(|(from, body)| {
                let bad = |reason: String| MpcError::BadMessage {
                    party: from,
                    reason,
                };
                let message: T = decode(&body).map_err(|e| {
                    bad(format!(
                        "not a dkls23 round-{} message ({e})",
                        round.index() + 1
                    ))
                })?;
                match message.sender() {
                    Some(s) if sigil_index(s) != from => {
                        Err(bad("the message names another sender".into()))
                    }
                    _ => Ok(message),
                }
            })
            .collect()
    }

    /// Checks a message's envelope and files it under its round.
    fn file(&mut self, msg: WireMessage, current: Round) -> Result<(), MpcError> {
        self.session.check_incoming(self.me, &msg)?;
        let bad = |reason: &str| MpcError::BadMessage {
            party: msg.from,
            reason: reason.into(),
        };
        let (&tag, body) = msg
            .payload
            .split_first()
            .ok_or_else(|| bad("empty message"))?;
        let round = Round::of_tag(tag).ok_or_else(|| bad("not a dkls23 signing message"))?;
        if round < current {
            return Err(bad("a message of a round that is over"));
        }
        if (round == Round::Three) != msg.to.is_none() {
            return Err(bad(
                "rounds one and two are sent to one party, round three to all",
            ));
        }
        if self.inbox[round.index()].contains_key(&msg.from) {
            return Err(bad("a second message in one round"));
        }
        self.inbox[round.index()].insert(msg.from, body.to_vec());
        Ok(())
    }
}

/// Hex of exactly 32 bytes, decoded without an owned copy of the text where the input allows.
mod hex32 {
    use std::borrow::Cow;

    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::{Zeroize, Zeroizing};

    pub fn serialize<S: Serializer>(bytes: &Zeroizing<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        let mut text = Zeroizing::new(hex::encode(bytes.as_slice()));
        let out = s.serialize_str(&text);
        text.zeroize();
        out
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<[u8; 32]>, D::Error> {
        let mut text: Cow<'de, str> = Cow::deserialize(d)?;
        let mut out = Zeroizing::new([0u8; 32]);
        let decoded = hex::decode_to_slice(text.as_bytes(), out.as_mut_slice());
        if let Cow::Owned(s) = &mut text {
            s.zeroize();
        }
        decoded.map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))?;
        Ok(out)
    }
}
