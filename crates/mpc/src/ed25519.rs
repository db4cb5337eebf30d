//! Ed25519 with ZF FROST (RFC 9591), coordinator-free: every signer broadcasts its round-1
//! commitment, then its round-2 share, and aggregates (which verifies the signature and names a
//! cheating signer). Nonces are drawn per session and consumed by `round2::sign`; they never
//! leave the session's stack frame. No HD: Ed25519 shares support only the root path.
//!
//! Memory and boot time: a key keeps its key package and every party's verifying share in a
//! `Vec` (FROST's `PublicKeyPackage` holds them in a `BTreeMap`, whose one node is ~2 KB per
//! account whatever n; it is rebuilt per session). The key-share loader decodes the FROST
//! packages through [`EncodedShare`], which decodes each distinct point once: FROST's own
//! decoder checks every point it reads for torsion (a ~50 µs scalar multiplication), and a
//! file repeats the group key and this party's verifying share in both packages.

use std::borrow::Cow;
use std::collections::BTreeMap;

use frost::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use frost::round1::SigningCommitments;
use frost::round2::SignatureShare;
use frost::{Ciphersuite, Ed25519Sha512, Identifier, SigningPackage, VerifyingKey};
use frost_ed25519 as frost;
use serde::Deserialize;
use zeroize::Zeroize;

use crate::{
    DerivationPath, MessageIo, MpcError, PublicKey, Scheme, Session, SignData, Signature,
    ThresholdKey, WireMessage,
};

const ROUND_COMMIT: u8 = 1;
const ROUND_SHARE: u8 = 2;

/// One party's FROST share of an Ed25519 account key.
pub struct Ed25519Key {
    me: u16,
    parties: u16,
    key_package: KeyPackage,
    /// Every party's verifying share, by identifier (the public key package's map).
    verifying_shares: Vec<(Identifier, VerifyingShare)>,
    /// The public key package's threshold.
    package_min_signers: Option<u16>,
}

/// The `header` of a FROST package as frost-core 3 writes it (version 0, the ciphersuite id).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FrostHeader {
    version: u8,
    ciphersuite: String,
}

/// A FROST `KeyPackage` as serialized by frost-ed25519 3, its points left encoded.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EncodedKeyPackage<'a> {
    header: FrostHeader,
    identifier: Identifier,
    signing_share: SigningShare,
    #[serde(borrow)]
    verifying_share: Cow<'a, str>,
    #[serde(borrow)]
    verifying_key: Cow<'a, str>,
    min_signers: u16,
}

/// The decoded signing share is a plain copy (`SigningShare` is `Copy`): wiped here.
impl Drop for EncodedKeyPackage<'_> {
    fn drop(&mut self) {
        self.signing_share.zeroize();
    }
}

/// A FROST `PublicKeyPackage` as serialized by frost-ed25519 3, its points left encoded.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EncodedPublicKeyPackage<'a> {
    header: FrostHeader,
    #[serde(borrow)]
    verifying_shares: BTreeMap<Identifier, Cow<'a, str>>,
    #[serde(borrow)]
    verifying_key: Cow<'a, str>,
    #[serde(default)]
    min_signers: Option<u16>,
}

/// The two packages of an Ed25519 share in a key-share file, decoded lazily.
pub(crate) struct EncodedShare<'a> {
    /// This party's key package.
    pub(crate) key_package: EncodedKeyPackage<'a>,
    /// The group's public key package.
    pub(crate) public_key_package: EncodedPublicKeyPackage<'a>,
}

/// The FROST identifier of a key-generation index (FROST counts from 1).
pub fn identifier(index: u16) -> Result<Identifier, MpcError> {
    index
        .checked_add(1)
        .and_then(|i| Identifier::try_from(i).ok())
        .ok_or_else(|| {
            MpcError::InvalidRequest(format!("party index {index} has no FROST identifier"))
        })
}

fn bad(why: &str) -> MpcError {
    MpcError::InvalidRequest(format!("Ed25519 share: {why}"))
}

impl FrostHeader {
    /// What frost-core checks of a header: version 0 and this ciphersuite.
    fn check(&self) -> Result<(), MpcError> {
        if self.version != 0 || self.ciphersuite != Ed25519Sha512::ID {
            return Err(bad(
                "package header is not FROST-ED25519-SHA512-v1 version 0",
            ));
        }
        Ok(())
    }
}

/// The 32 bytes of a hex-encoded point.
fn point_bytes(hex_text: &str) -> Result<[u8; 32], MpcError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).map_err(|_| bad("a point is not 32 bytes of hex"))?;
    Ok(out)
}

impl Ed25519Key {
    /// Decodes and checks the file's encoding of party `me`'s share, with the same result as
    /// decoding both packages with FROST and calling [`Self::new`], but decoding each distinct
    /// point once: this party's verifying share is computed from its signing share (and must
    /// be encoded exactly so in both packages), the group key is decoded once (and must be
    /// encoded identically in both), and the other parties' verifying shares once each.
    pub(crate) fn from_encoded(
        me: u16,
        parties: u16,
        share: EncodedShare<'_>,
    ) -> Result<Self, MpcError> {
        let EncodedShare {
            key_package: kp,
            public_key_package: pkp,
        } = share;
        kp.header.check()?;
        pkp.header.check()?;
        let mine = VerifyingShare::from(kp.signing_share);
        let mine_bytes = mine
            .serialize()
            .map_err(|e| MpcError::Protocol(format!("encoding a verifying share: {e}")))?;
        if point_bytes(&kp.verifying_share)?[..] != mine_bytes[..] {
            return Err(bad("signing share does not match its verifying share"));
        }
        let group_bytes = point_bytes(&kp.verifying_key)?;
        if point_bytes(&pkp.verifying_key)? != group_bytes {
            return Err(bad(
                "group keys of the key package and the public key package differ",
            ));
        }
        let verifying_key =
            VerifyingKey::deserialize(&group_bytes).map_err(|e| bad(&format!("group key: {e}")))?;
        let mut verifying_shares = Vec::with_capacity(pkp.verifying_shares.len());
        for (id, text) in &pkp.verifying_shares {
            let bytes = point_bytes(text)?;
            let share = if *id == kp.identifier {
                if bytes[..] != mine_bytes[..] {
                    return Err(bad(
                        "public key package disagrees with this party's verifying share",
                    ));
                }
                mine
            } else {
                VerifyingShare::deserialize(&bytes)
                    .map_err(|e| bad(&format!("verifying share: {e}")))?
            };
            verifying_shares.push((*id, share));
        }
        let key_package = KeyPackage::new(
            kp.identifier,
            kp.signing_share,
            mine,
            verifying_key,
            kp.min_signers,
        );
        let public_key_package = PublicKeyPackage::new(
            verifying_shares.into_iter().collect(),
            verifying_key,
            pkp.min_signers,
        );
        // `mine` was computed from the signing share.
        Self::with_share_checked(me, parties, key_package, public_key_package)
    }

    /// Checks that the packages belong together and to party `me` of `parties`.
    pub fn new(
        me: u16,
        parties: u16,
        key_package: KeyPackage,
        public_key_package: PublicKeyPackage,
    ) -> Result<Self, MpcError> {
        if *key_package.identifier() != identifier(me)? {
            return Err(bad("identifier does not match the party index"));
        }
        if VerifyingShare::from(*key_package.signing_share()) != *key_package.verifying_share() {
            return Err(bad("signing share does not match its verifying share"));
        }
        Self::with_share_checked(me, parties, key_package, public_key_package)
    }

    /// [`Self::new`] once the key package's verifying share is known to be its signing share's.
    fn with_share_checked(
        me: u16,
        parties: u16,
        key_package: KeyPackage,
        public_key_package: PublicKeyPackage,
    ) -> Result<Self, MpcError> {
        if *key_package.identifier() != identifier(me)? {
            return Err(bad("identifier does not match the party index"));
        }
        if key_package.verifying_key() != public_key_package.verifying_key() {
            return Err(bad(
                "group keys of the key package and the public key package differ",
            ));
        }
        let shares = public_key_package.verifying_shares();
        if shares.len() != usize::from(parties) {
            return Err(bad("public key package does not list every party"));
        }
        for i in 0..parties {
            if !shares.contains_key(&identifier(i)?) {
                return Err(bad("public key package does not list every party"));
            }
        }
        if shares.get(key_package.identifier()) != Some(key_package.verifying_share()) {
            return Err(bad(
                "public key package disagrees with this party's verifying share",
            ));
        }
        let t = *key_package.min_signers();
        if t < 2 || t > parties || public_key_package.min_signers().is_some_and(|m| m != t) {
            return Err(bad("threshold is inconsistent"));
        }
        Ok(Self {
            me,
            parties,
            verifying_shares: shares.iter().map(|(id, s)| (*id, *s)).collect(),
            package_min_signers: public_key_package.min_signers(),
            key_package,
        })
    }

    /// The FROST key package (for the bare-library benchmark).
    pub fn key_package(&self) -> &KeyPackage {
        &self.key_package
    }

    /// The group's public key package, rebuilt (the key keeps its parts more compactly).
    pub fn public_key_package(&self) -> PublicKeyPackage {
        PublicKeyPackage::new(
            self.verifying_shares.iter().copied().collect(),
            *self.key_package.verifying_key(),
            self.package_min_signers,
        )
    }

    fn group_key_bytes(&self) -> Result<Vec<u8>, MpcError> {
        self.key_package
            .verifying_key()
            .serialize()
            .map_err(|e| MpcError::Protocol(format!("encoding the group key: {e}")))
    }
}

fn frame(round: u8, session: &Session, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + body.len());
    out.push(round);
    out.extend_from_slice(session.execution_id());
    out.extend_from_slice(body);
    out
}

/// Collects one message per other signer for `round`, keeping early round-2 messages aside.
fn collect(
    round: u8,
    session: &Session,
    me: u16,
    io: &mut dyn MessageIo,
    early: &mut BTreeMap<u16, Vec<u8>>,
) -> Result<BTreeMap<u16, Vec<u8>>, MpcError> {
    let mut got: BTreeMap<u16, Vec<u8>> = if round == ROUND_SHARE {
        std::mem::take(early)
    } else {
        BTreeMap::new()
    };
    while got.len() < session.parties.len() - 1 {
        let msg = io.recv()?;
        session.check_incoming(me, &msg)?;
        let bad = |reason: &str| MpcError::BadMessage {
            party: msg.from,
            reason: reason.into(),
        };
        if msg.to.is_some() {
            return Err(bad("FROST messages are broadcasts"));
        }
        let (tag, rest) = msg
            .payload
            .split_first()
            .ok_or_else(|| bad("empty message"))?;
        let (eid, body) = rest
            .split_at_checked(32)
            .ok_or_else(|| bad("truncated message"))?;
        if eid != session.execution_id() {
            return Err(bad("message belongs to another session"));
        }
        let slot = match *tag {
            t if t == round => &mut got,
            ROUND_SHARE if round == ROUND_COMMIT => &mut *early,
            _ => return Err(bad("message of an unexpected round")),
        };
        if slot.insert(msg.from, body.to_vec()).is_some() {
            return Err(bad("duplicate message for this round"));
        }
    }
    Ok(got)
}

impl ThresholdKey for Ed25519Key {
    fn scheme(&self) -> Scheme {
        Scheme::Ed25519
    }

    fn party_index(&self) -> u16 {
        self.me
    }

    fn threshold(&self) -> u16 {
        *self.key_package.min_signers()
    }

    fn parties(&self) -> u16 {
        self.parties
    }

    fn public_key(&self, path: &DerivationPath) -> Result<PublicKey, MpcError> {
        if !path.is_root() {
            return Err(MpcError::InvalidRequest(
                "Ed25519 keys support only the root derivation path \"m\"".into(),
            ));
        }
        Ok(PublicKey {
            scheme: Scheme::Ed25519,
            bytes: self.group_key_bytes()?,
        })
    }

    fn check(&self, session: &Session) -> Result<(), MpcError> {
        session.position_of(Scheme::Ed25519, self.me, self.threshold(), self.parties)?;
        self.public_key(&session.path).map(drop)
    }

    fn sign(&self, session: &Session, io: &mut dyn MessageIo) -> Result<Signature, MpcError> {
        self.check(session)?;
        let SignData::Ed25519(message) = &session.data else {
            return Err(MpcError::InvalidRequest(
                "ECDSA data for an Ed25519 key".into(),
            ));
        };
        let mut rng = rand_core::OsRng;
        let (nonces, commitment) =
            frost::round1::commit(self.key_package.signing_share(), &mut rng);
        let body = commitment
            .serialize()
            .map_err(|e| MpcError::Protocol(format!("encoding the commitment: {e}")))?;
        io.send(WireMessage {
            from: self.me,
            to: None,
            payload: frame(ROUND_COMMIT, session, &body),
        })?;

        let mut early = BTreeMap::new();
        let mut commitments = BTreeMap::new();
        commitments.insert(identifier(self.me)?, commitment);
        for (from, body) in collect(ROUND_COMMIT, session, self.me, io, &mut early)? {
            let c = SigningCommitments::deserialize(&body).map_err(|e| MpcError::BadMessage {
                party: from,
                reason: format!("not a FROST commitment: {e}"),
            })?;
            commitments.insert(identifier(from)?, c);
        }
        let package = SigningPackage::new(commitments, message);
        let share = frost::round2::sign(&package, &nonces, &self.key_package)
            .map_err(|e| MpcError::Protocol(format!("round 2: {e}")))?;
        drop(nonces);
        io.send(WireMessage {
            from: self.me,
            to: None,
            payload: frame(ROUND_SHARE, session, &share.serialize()),
        })?;

        let mut shares = BTreeMap::new();
        shares.insert(identifier(self.me)?, share);
        for (from, body) in collect(ROUND_SHARE, session, self.me, io, &mut early)? {
            let s = SignatureShare::deserialize(&body).map_err(|e| MpcError::BadMessage {
                party: from,
                reason: format!("not a FROST signature share: {e}"),
            })?;
            shares.insert(identifier(from)?, s);
        }
        let signature = frost::aggregate(&package, &shares, &self.public_key_package()).map_err(
            |e| match e {
                frost::Error::InvalidSignatureShare { culprits } => MpcError::Protocol(format!(
                    "invalid signature share from party {}",
                    session
                        .parties
                        .iter()
                        .filter(|&&p| identifier(p).is_ok_and(|id| culprits.contains(&id)))
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                other => MpcError::Protocol(format!("aggregate: {other}")),
            },
        )?;
        let bytes = signature
            .serialize()
            .map_err(|e| MpcError::Protocol(format!("encoding the signature: {e}")))?;
        let out: [u8; 64] = bytes.try_into().map_err(|_| MpcError::InvalidSignature)?;
        // `aggregate` has verified the signature under the group key (and, had it failed,
        // named the cheating signer), so no second verification here.
        Ok(Signature::Ed25519(out))
    }
}
