//! The baseline: the MPC libraries alone, both parties in this process.
//!
//! - ECDSA: two cggmp24 `sign_sync` state machines (the same builder calls the engine makes:
//!   execution id, parties `[0, 1]`, SLIP-10 path, Keccak-256 data), party 0 on the calling
//!   thread and party 1 on a scoped thread, messages moved between them as Rust values through
//!   `std::sync::mpsc` channels.
//! - DKLs23: the same shape with two `dkls23_core::SignSession`s: each party derives its child
//!   `Party` at the path with the library's own BIP-32 code (`Party::derive_from_path`, which
//!   clones the pairwise OT state as the engine's session does), runs phases 1–3, hands each
//!   phase's messages to the other as Rust values, and assembles the signature in phase 4
//!   (which verifies it). A fresh random sign id per signature.
//! - Ed25519: FROST in the coordinator shape on one thread: both parties commit, one signing
//!   package, both sign, one aggregate (which verifies the signature).
//!
//! With `size` set, each message is also encoded the way the engines put it on the wire
//! (cggmp24 messages as JSON, DKLs23's as a tag byte and postcard, FROST's own serialization)
//! and decoded again, to count payload bytes and time the codec; timed signatures run without
//! it.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use cggmp24::round_based::state_machine::{ProceedResult, StateMachine};
use cggmp24::round_based::{Incoming, MessageDestination, MessageType};
use cggmp24::{DataToSign, ExecutionId, KeyShare};
use dkls23_core::SignSession;
use dkls23_core::protocols::messages::MessageTag;
use dkls23_core::protocols::signature::EcdsaSignature;
use dkls23_core::protocols::signing::{
    Broadcast3to4, SignData as DklsSignData, TransmitPhase1to2, TransmitPhase2to3,
};
use dkls23_core::protocols::{Abort, Party, PartyIndex};
use frost_ed25519 as frost;
use sha3::{Digest, Keccak256};
use sigil_mpc::ecdsa::ProtocolMsg;
use sigil_mpc::ed25519::identifier;

use crate::{ECDSA_PATH, Fixture, Scheme};

const PARTIES: [u16; 2] = [0, 1];

/// What the messages of one signature cost on the wire (measured with `size`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sizing {
    /// Payload bytes, both directions.
    pub(crate) bytes: u64,
    /// Time spent encoding and decoding them.
    pub(crate) codec: Duration,
}

impl std::ops::AddAssign for Sizing {
    fn add_assign(&mut self, other: Self) {
        self.bytes += other.bytes;
        self.codec += other.codec;
    }
}

/// Signs `payload` with both parties. Returns the 64-byte signature and, with `size`, what
/// its messages cost on the wire (else zero).
pub(crate) fn sign(
    f: &Fixture,
    scheme: Scheme,
    payload: &[u8],
    size: bool,
) -> anyhow::Result<([u8; 64], Sizing)> {
    match scheme {
        Scheme::Ecdsa => ecdsa(f, payload, size),
        Scheme::Dkls23 => dkls23(f, payload, size),
        Scheme::Ed25519 => ed25519(f, payload, size),
    }
}

type Envelope = (MessageType, ProtocolMsg);

fn ecdsa(f: &Fixture, payload: &[u8], size: bool) -> anyhow::Result<([u8; 64], Sizing)> {
    let mut eid = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut eid);
    let data = DataToSign::digest::<Keccak256>(payload);
    let path = f.ecdsa_path.indexes();
    let (to_0, inbox_0) = channel::<Envelope>();
    let (to_1, inbox_1) = channel::<Envelope>();
    let ((sig, mut sizing), (other, sizing_1)) = std::thread::scope(|s| {
        let party_1 = s.spawn(|| {
            party(
                &f.ecdsa_shares[1],
                1,
                &eid,
                path,
                &data,
                to_0,
                inbox_1,
                size,
            )
        });
        let mine = party(
            &f.ecdsa_shares[0],
            0,
            &eid,
            path,
            &data,
            to_1,
            inbox_0,
            size,
        );
        let theirs = party_1.join().map_err(|_| anyhow!("party 1 panicked"))?;
        anyhow::Ok((mine?, theirs?))
    })?;
    ensure!(
        sig.r == other.r && sig.s == other.s,
        "the two parties output different signatures"
    );
    let sig = sig.normalize_s();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&sig.r.to_be_bytes());
    out[32..].copy_from_slice(&sig.s.to_be_bytes());
    sizing += sizing_1;
    Ok((out, sizing))
}

/// Runs party `i`'s state machine to its output. Returns the signature and (with `size`)
/// what the messages it sent cost to encode and decode.
#[allow(clippy::too_many_arguments)]
fn party(
    key: &KeyShare<cggmp24::supported_curves::Secp256k1>,
    i: u16,
    eid: &[u8; 32],
    path: &[u32],
    data: &DataToSign<cggmp24::supported_curves::Secp256k1>,
    to_peer: Sender<Envelope>,
    inbox: Receiver<Envelope>,
    size: bool,
) -> anyhow::Result<(
    cggmp24::Signature<cggmp24::supported_curves::Secp256k1>,
    Sizing,
)> {
    let mut rng = rand_core::OsRng;
    let mut machine = cggmp24::signing(ExecutionId::new(eid), i, &PARTIES, key)
        .set_derivation_path(path.iter().copied())
        .map_err(|e| anyhow!("derivation path: {e}"))?
        .sign_sync(&mut rng, data);
    let mut sent = Sizing::default();
    let mut next_id = 0u64;
    loop {
        match machine.proceed() {
            ProceedResult::SendMsg(out) => {
                if size {
                    let started = Instant::now();
                    let encoded = serde_json::to_vec(&out.msg)?;
                    let decoded: ProtocolMsg = serde_json::from_slice(&encoded)?;
                    std::hint::black_box(decoded);
                    sent += Sizing {
                        bytes: encoded.len() as u64,
                        codec: started.elapsed(),
                    };
                }
                let kind = match out.recipient {
                    MessageDestination::AllParties => MessageType::Broadcast,
                    MessageDestination::OneParty(_) => MessageType::P2P,
                };
                to_peer
                    .send((kind, out.msg))
                    .map_err(|_| anyhow!("party {} stopped", 1 - i))?;
            }
            ProceedResult::NeedsOneMoreMessage => {
                let (msg_type, msg) = inbox
                    .recv()
                    .map_err(|_| anyhow!("party {} stopped", 1 - i))?;
                machine
                    .received_msg(Incoming {
                        id: next_id,
                        sender: 1 - i,
                        msg_type,
                        msg,
                    })
                    .map_err(|_| anyhow!("the state machine refused a message"))?;
                next_id += 1;
            }
            ProceedResult::Yielded => {}
            ProceedResult::Output(Ok(sig)) => return Ok((sig, sent)),
            ProceedResult::Output(Err(e)) => bail!("cggmp24 signing failed: {e}"),
            ProceedResult::Error(e) => bail!("cggmp24 state machine: {e}"),
        }
    }
}

type K = k256_014::Secp256k1;

/// A DKLs23 message between the two parties, as the library's own value.
#[allow(clippy::large_enum_variant)] // three messages per party and signature, moved once each
enum DklsMsg {
    One(TransmitPhase1to2),
    Two(TransmitPhase2to3<K>),
    Three(Broadcast3to4<K>),
}

fn dkls23(f: &Fixture, payload: &[u8], size: bool) -> anyhow::Result<([u8; 64], Sizing)> {
    let mut sign_id = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut sign_id);
    let digest: [u8; 32] = Keccak256::digest(payload).into();
    let (to_0, inbox_0) = channel::<DklsMsg>();
    let (to_1, inbox_1) = channel::<DklsMsg>();
    let [root_0, root_1] = &f.dkls23_parties;
    let ((sig, mut sizing), (other, sizing_1)) = std::thread::scope(|s| {
        let party_1 = s.spawn(|| dkls23_party(root_1, &sign_id, digest, to_0, inbox_1, size));
        let mine = dkls23_party(root_0, &sign_id, digest, to_1, inbox_0, size);
        let theirs = party_1.join().map_err(|_| anyhow!("party 1 panicked"))?;
        anyhow::Ok((mine?, theirs?))
    })?;
    ensure!(
        sig.r == other.r && sig.s == other.s,
        "the two parties output different signatures"
    );
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&sig.r);
    out[32..].copy_from_slice(&sig.s);
    sizing += sizing_1;
    Ok((out, sizing))
}

fn aborted(a: Abort) -> anyhow::Error {
    anyhow!("dkls23 signing aborted: {}", a.description())
}

/// With `size`, what encoding and decoding `message` as the engine does (its tag, then
/// postcard) costs.
fn dkls23_sizing<T: MessageTag>(message: &T, size: bool) -> anyhow::Result<Sizing> {
    if !size {
        return Ok(Sizing::default());
    }
    let started = Instant::now();
    let encoded = postcard::to_extend(message, vec![T::TAG])?;
    let decoded: T = postcard::from_bytes(encoded.get(1..).unwrap_or_default())?;
    std::hint::black_box(decoded);
    Ok(Sizing {
        bytes: encoded.len() as u64,
        codec: started.elapsed(),
    })
}

/// Runs one DKLs23 party (root key `root`, 2-of-2) to the signature. Returns it and (with
/// `size`) what the messages it sent cost to encode and decode.
fn dkls23_party(
    root: &Party<K>,
    sign_id: &[u8; 32],
    digest: [u8; 32],
    to_peer: Sender<DklsMsg>,
    inbox: Receiver<DklsMsg>,
    size: bool,
) -> anyhow::Result<(EcdsaSignature, Sizing)> {
    let party = root
        .derive_from_path(ECDSA_PATH, |_| String::new())
        .map_err(|e| anyhow!("derivation: {}", e.description))?;
    let me = party.party_index.as_u8();
    let peer = PartyIndex::new(3 - me).map_err(|_| anyhow!("party index {me}"))?;
    let stopped = || anyhow!("party {} stopped", 2 - me);
    let out_of_order = || anyhow!("a message out of order");
    let data = DklsSignData {
        sign_id: sign_id.to_vec(),
        counterparties: vec![peer],
        message_hash: digest,
    };
    let mut sent = Sizing::default();
    let (mut session, first) = SignSession::new(&party, data).map_err(aborted)?;
    for m in first {
        sent += dkls23_sizing(&m, size)?;
        to_peer.send(DklsMsg::One(m)).map_err(|_| stopped())?;
    }
    let DklsMsg::One(received) = inbox.recv().map_err(|_| stopped())? else {
        return Err(out_of_order());
    };
    let second = session.phase2(&[received]).map_err(aborted)?;
    for m in second {
        sent += dkls23_sizing(&m, size)?;
        to_peer.send(DklsMsg::Two(m)).map_err(|_| stopped())?;
    }
    let DklsMsg::Two(received) = inbox.recv().map_err(|_| stopped())? else {
        return Err(out_of_order());
    };
    let third = session.phase3(&[received]).map_err(aborted)?;
    sent += dkls23_sizing(&third, size)?;
    to_peer
        .send(DklsMsg::Three(third.clone()))
        .map_err(|_| stopped())?;
    let DklsMsg::Three(theirs) = inbox.recv().map_err(|_| stopped())? else {
        return Err(out_of_order());
    };
    let signature = session.phase4(&[theirs, third], true).map_err(aborted)?;
    Ok((signature, sent))
}

fn ed25519(f: &Fixture, message: &[u8], size: bool) -> anyhow::Result<([u8; 64], Sizing)> {
    let mut rng = rand_core::OsRng;
    let (kp0, kp1) = (f.ed25519[0].key_package(), f.ed25519[1].key_package());
    let (nonces0, commitment0) = frost::round1::commit(kp0.signing_share(), &mut rng);
    let (nonces1, commitment1) = frost::round1::commit(kp1.signing_share(), &mut rng);
    let mut sizing = Sizing::default();
    if size {
        for c in [&commitment0, &commitment1] {
            let started = Instant::now();
            let encoded = c.serialize()?;
            std::hint::black_box(frost::round1::SigningCommitments::deserialize(&encoded)?);
            sizing += Sizing {
                bytes: encoded.len() as u64,
                codec: started.elapsed(),
            };
        }
    }
    let commitments =
        BTreeMap::from([(identifier(0)?, commitment0), (identifier(1)?, commitment1)]);
    let package = frost::SigningPackage::new(commitments, message);
    let share0 = frost::round2::sign(&package, &nonces0, kp0)?;
    let share1 = frost::round2::sign(&package, &nonces1, kp1)?;
    if size {
        for s in [&share0, &share1] {
            let started = Instant::now();
            let encoded = s.serialize();
            std::hint::black_box(frost::round2::SignatureShare::deserialize(&encoded)?);
            sizing += Sizing {
                bytes: encoded.len() as u64,
                codec: started.elapsed(),
            };
        }
    }
    let shares = BTreeMap::from([(identifier(0)?, share0), (identifier(1)?, share1)]);
    let signature = frost::aggregate(&package, &shares, &f.ed25519_public_key_package)?;
    let out: [u8; 64] = signature
        .serialize()?
        .try_into()
        .map_err(|_| anyhow!("a FROST Ed25519 signature is 64 bytes"))
        .context("encoding the signature")?;
    Ok((out, sizing))
}
