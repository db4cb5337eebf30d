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

use cggmp24::generic_ec::as_raw::AsRaw;
use cggmp24::generic_ec::{NonZero, Point, Scalar, SecretScalar};
use cggmp24::hd_wallet::Slip10;
use cggmp24::key_share::AuxInfo;
use cggmp24::key_share::{DirtyIncompleteKeyShare, Validate};
use cggmp24::round_based::state_machine::{ProceedResult, StateMachine};
use cggmp24::round_based::{Incoming, MessageDestination, MessageType};
use cggmp24::signing::AnyDataToSign;
use cggmp24::supported_curves::Secp256k1;
use cggmp24::{DataToSign, ExecutionId, IncompleteKeyShare, KeyShare, PrehashedDataToSign};
use k256::ecdsa::{RecoveryId, VerifyingKey};
use k256::elliptic_curve::ops::MulByGenerator;
use sha2_010::Sha256;
use sha3::Keccak256;
use zeroize::Zeroize;

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

/// The service's (or any party's) share of one secp256k1 account key: its core share (checked
/// when the key was built, see [`check_core`]) and a reference to its signer group's aux data.
pub struct EcdsaKey {
    core: DirtyIncompleteKeyShare<Secp256k1>,
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
        Self::with_group_checked(core.into_inner(), group)
    }

    /// Checks a core share as cggmp24 validates one ([`check_core`]), then joins it with a
    /// group's aux data like [`Self::with_group`]. The key-share loader's path: it decodes
    /// core shares without cggmp24's (slower) validation and checks them here.
    pub fn check_with_group(
        core: DirtyIncompleteKeyShare<Secp256k1>,
        group: &GroupAux,
    ) -> Result<Self, MpcError> {
        check_core(&core)
            .map_err(|why| MpcError::InvalidRequest(format!("invalid core share: {why}")))?;
        Self::with_group_checked(core, group)
    }

    /// `core` has been validated.
    fn with_group_checked(
        core: DirtyIncompleteKeyShare<Secp256k1>,
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
    /// and a copy of the group's aux data, both validated again by cggmp24 itself (its full
    /// core-share check and the core/aux consistency check). Dropped by the caller when the
    /// session ends.
    pub fn session_share(&self) -> Result<KeyShare<Secp256k1>, MpcError> {
        let core = IncompleteKeyShare::validate(self.core.clone())
            .map_err(|e| MpcError::InvalidRequest(format!("invalid core share: {}", e.error())))?;
        KeyShare::from_parts((core, AuxInfo::clone(&self.aux))).map_err(|e| {
            MpcError::InvalidRequest(format!(
                "core share and aux data do not match: {}",
                e.into_error()
            ))
        })
    }

    /// The core share.
    pub fn core(&self) -> &DirtyIncompleteKeyShare<Secp256k1> {
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

/// The secp256k1 point behind a generic-ec point.
fn raw(p: &Point<Secp256k1>) -> k256::ProjectivePoint {
    p.as_raw().0
}

/// `c · p` for a small public integer `c` (double-and-add; variable time, public data only).
fn small_mul(p: &k256::ProjectivePoint, c: i128) -> k256::ProjectivePoint {
    let mut acc = k256::ProjectivePoint::IDENTITY;
    let mut base = *p;
    let mut k = c.unsigned_abs();
    while k > 0 {
        if k & 1 == 1 {
            acc += base;
        }
        base = base.double();
        k >>= 1;
    }
    if c < 0 { -acc } else { acc }
}

/// The Lagrange coefficients at `x` of the nodes 1..=t, as integers: for consecutive integer
/// nodes and an integer `x` they are integers (binomial coefficients up to sign). `None` if a
/// value does not fit or does not divide (never for t ≤ 16, x ≤ 16).
fn lagrange_integers(t: usize, x: i128) -> Option<Vec<i128>> {
    let t = i128::try_from(t).ok()?;
    (1..=t)
        .map(|k| {
            let (mut num, mut den) = (1i128, 1i128);
            for m in (1..=t).filter(|&m| m != k) {
                num = num.checked_mul(x - m)?;
                den = den.checked_mul(k - m)?;
            }
            (num % den == 0).then(|| num / den)
        })
        .collect()
}

/// Checks a core share exactly as cggmp24 does when it validates one
/// (`DirtyCoreKeyShare::is_valid`): this party's public share is x·G, and the public shares
/// lie on one polynomial of degree t − 1 whose value at 0 is the account key (or, without a
/// VSS setup, add up to it). Faster than cggmp24's own check, which matters at boot with
/// 100k accounts: x·G uses k256's precomputed generator tables (constant time: x is secret),
/// and for the share indexes 1..=n every trusted dealer and key-gen write, the Lagrange
/// coefficients are small integers, so the interpolation takes a few point additions.
/// Other index sets go through cggmp24's own interpolation.
pub fn check_core(core: &DirtyIncompleteKeyShare<Secp256k1>) -> Result<(), String> {
    let mine = core
        .public_shares
        .get(usize::from(core.i))
        .ok_or("the party index is out of range")?;
    if !secret_matches(core.x.as_ref(), mine) {
        return Err(SECRET_MISMATCH.into());
    }
    let (n, shares) = (core.public_shares.len(), &core.public_shares);
    let Some(vss) = core.vss_setup.as_ref() else {
        return core.key_info.is_valid().map_err(|e| e.to_string());
    };
    let t = usize::from(vss.min_signers);
    let standard = n <= usize::from(u16::MAX)
        && vss.I.len() == n
        && (1u16..)
            .zip(&vss.I)
            .all(|(j, i_j)| **i_j == Scalar::<Secp256k1>::from(j));
    if !(standard && n >= 2 && (2..=n).contains(&t)) {
        // Other index sets and the error cases: cggmp24's own check and its error.
        return core.key_info.is_valid().map_err(|e| e.to_string());
    }
    let shares: Vec<Point<Secp256k1>> = shares.iter().map(|p| **p).collect();
    match interpolates(t, &shares, &core.shared_public_key) {
        Some(true) => Ok(()),
        Some(false) => Err(KEY_MISMATCH.into()),
        None => core.key_info.is_valid().map_err(|e| e.to_string()),
    }
}

const SECRET_MISMATCH: &str = "the secret share does not match this party's public share";
const KEY_MISMATCH: &str = "the public shares do not match the account's public key";

/// Whether `x`·G is `public` (k256's precomputed generator tables, constant time: x is secret).
fn secret_matches(x: &Scalar<Secp256k1>, public: &Point<Secp256k1>) -> bool {
    let mut x = x.as_raw().0;
    let xg = <k256::ProjectivePoint as MulByGenerator>::mul_by_generator(&x);
    x.zeroize();
    xg == raw(public)
}

/// Whether the public shares of the points 1..=n lie on one polynomial of degree t − 1 whose
/// value at 0 is `key`. For these points the Lagrange coefficients are small integers, so the
/// interpolation takes a few point additions. `None` if they do not fit (never for n ≤ 16).
fn interpolates(t: usize, shares: &[Point<Secp256k1>], key: &Point<Secp256k1>) -> Option<bool> {
    let first_t: Vec<k256::ProjectivePoint> = shares.get(..t)?.iter().map(raw).collect();
    let interpolate = |x: usize| -> Option<k256::ProjectivePoint> {
        let coefficients = lagrange_integers(t, i128::try_from(x).ok()?)?;
        Some(
            first_t
                .iter()
                .zip(coefficients)
                .fold(k256::ProjectivePoint::IDENTITY, |acc, (p, c)| {
                    acc + small_mul(p, c)
                }),
        )
    };
    // The value at 0 is the account key; at j + 1 (j ≥ t), party j's public share.
    let targets =
        std::iter::once((0, key)).chain(shares.iter().enumerate().skip(t).map(|(j, p)| (j + 1, p)));
    for (x, want) in targets {
        if interpolate(x)? != raw(want) {
            return Some(false);
        }
    }
    Some(true)
}

/// [`check_core`]'s check for shares at the points 1..=n held outside cggmp24 (the DKLs23
/// engine's): party `me`'s secret `x` matches its public share, and the `t`-of-n public
/// shares interpolate to `key`.
pub(crate) fn check_standard_shares(
    x: &SecretScalar<Secp256k1>,
    me: usize,
    shares: &[Point<Secp256k1>],
    key: &Point<Secp256k1>,
    t: usize,
) -> Result<(), String> {
    let mine = shares.get(me).ok_or("the party index is out of range")?;
    if !secret_matches(x.as_ref(), mine) {
        return Err(SECRET_MISMATCH.into());
    }
    if !(shares.len() >= 2 && (2..=shares.len()).contains(&t)) {
        return Err("threshold or party count out of range".into());
    }
    match interpolates(t, shares, key) {
        Some(true) => Ok(()),
        Some(false) => Err(KEY_MISMATCH.into()),
        None => Err("too many parties".into()),
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
                return Err(MpcError::Protocol(sigil_std_ext::error_chain(&e)));
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
    verified(
        scalar_bytes(&signature.r),
        scalar_bytes(&signature.s),
        &point_bytes(public_key),
        digest,
    )
}

/// Checks an ECDSA signature (r, s) with the recovery id its engine found: k256 verifies it
/// over `digest` under `public_key`, independently of the engine, and requires low s and a
/// recovery id of 0 or 1 (2 and 3, an x-coordinate above the group order, have probability
/// about 2^-128 and are refused).
pub(crate) fn verified_with_recovery_id(
    r: [u8; 32],
    s: [u8; 32],
    recovery_id: u8,
    public_key: &[u8],
    digest: &[u8; 32],
) -> Result<Signature, MpcError> {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let sig = k256::ecdsa::Signature::from_scalars(r, s).map_err(|_| MpcError::InvalidSignature)?;
    if sig.normalize_s().is_some() || recovery_id > 1 {
        return Err(MpcError::InvalidSignature);
    }
    let vk = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| MpcError::InvalidSignature)?;
    vk.verify_prehash(digest, &sig)
        .map_err(|_| MpcError::InvalidSignature)?;
    Ok(Signature::Ecdsa { r, s, recovery_id })
}

/// Checks an ECDSA signature (r, s) over `digest` with k256, independently of the engine that
/// made it, requires low s, and finds its recovery id.
pub(crate) fn verified(
    r: [u8; 32],
    s: [u8; 32],
    public_key: &[u8],
    digest: &[u8; 32],
) -> Result<Signature, MpcError> {
    let sig = k256::ecdsa::Signature::from_scalars(r, s).map_err(|_| MpcError::InvalidSignature)?;
    if sig.normalize_s().is_some() {
        return Err(MpcError::InvalidSignature);
    }
    let vk = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| MpcError::InvalidSignature)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cggmp24::generic_ec::{NonZero, Point, Scalar};
    use cggmp24::security_level::SecurityLevel128;

    use super::*;

    fn cores(n: u16, t: Option<u16>) -> Vec<DirtyIncompleteKeyShare<Secp256k1>> {
        cggmp24::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(n)
            .set_threshold(t)
            .hd_wallet(true)
            .generate_core_shares(&mut rand_core::OsRng)
            .unwrap()
            .into_iter()
            .map(|c| c.into_inner())
            .collect()
    }

    fn random_point() -> NonZero<Point<Secp256k1>> {
        NonZero::from_point(Point::generator() * Scalar::random(&mut rand_core::OsRng)).unwrap()
    }

    /// `check_core` must accept and refuse exactly what cggmp24's own validation does.
    #[test]
    fn check_core_agrees_with_cggmp24() {
        let mut cases: Vec<(String, DirtyIncompleteKeyShare<Secp256k1>)> = Vec::new();
        for (n, t) in [
            (2, Some(2)),
            (3, Some(2)),
            (4, Some(3)),
            (5, Some(5)),
            (3, None),
        ] {
            let all = cores(n, t);
            for (party, core) in all.iter().enumerate() {
                let name = |what: &str| format!("{n} parties, t {t:?}, party {party}: {what}");
                cases.push((name("valid"), core.clone()));
                let mut c = core.clone();
                c.x = all[(party + 1) % all.len()].x.clone();
                cases.push((name("another party's x"), c));
                let mut c = core.clone();
                c.i = n;
                cases.push((name("index out of range"), c));
                let mut c = core.clone();
                c.key_info.shared_public_key = random_point();
                cases.push((name("another account key"), c));
                for j in 0..usize::from(n) {
                    let mut c = core.clone();
                    c.key_info.public_shares[j] = random_point();
                    cases.push((name(&format!("public share {j} replaced")), c));
                }
                if let Some(vss) = &core.vss_setup {
                    for min_signers in [0, 1, vss.min_signers + 1, n, n + 1] {
                        let mut c = core.clone();
                        c.key_info.vss_setup.as_mut().unwrap().min_signers = min_signers;
                        cases.push((name(&format!("threshold {min_signers}")), c));
                    }
                    let mut c = core.clone();
                    c.key_info.vss_setup.as_mut().unwrap().I.swap(0, 1);
                    cases.push((name("indexes swapped"), c));
                    let mut c = core.clone();
                    c.key_info.vss_setup.as_mut().unwrap().I[0] =
                        NonZero::from_scalar(Scalar::from(7u16)).unwrap();
                    cases.push((name("index 7"), c));
                    let mut c = core.clone();
                    c.key_info.vss_setup.as_mut().unwrap().I.pop();
                    cases.push((name("an index missing"), c));
                    let mut c = core.clone();
                    c.key_info.vss_setup = None;
                    cases.push((name("no VSS setup"), c));
                }
            }
        }
        let mut refused = 0;
        for (name, core) in &cases {
            let ours = check_core(core);
            let theirs = core.is_valid();
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{name}: {ours:?} vs {theirs:?}"
            );
            refused += usize::from(ours.is_err());
        }
        assert!(refused > cases.len() / 2, "{refused} of {}", cases.len());
    }
}
