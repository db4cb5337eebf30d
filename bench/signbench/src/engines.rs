//! The sigil-mpc engines without the service: both parties' [`ThresholdKey::sign`] on tokio's
//! blocking pool (as the service and the co-signer run them), protocol messages passed
//! through in-memory channels. Separates what the engines add to the bare libraries (message
//! encoding and framing, the coordinator-free Ed25519 rounds with an aggregate and a check at
//! every party, DKLs23's derivation and per-session `Party`, session checks) from what gRPC and
//! the service add.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, ensure};
use sigil_mpc::{
    ChannelIo, DerivationPath, EcdsaHash, MessageIo, MpcError, Session, SignData, ThresholdKey,
    WireMessage,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::{DKLS23_ACCOUNT, ECDSA_ACCOUNT, ED25519_ACCOUNT, Fixture, Scheme};

/// One party's ends of the in-memory link, counting the payload bytes it sends.
struct LinkIo {
    io: ChannelIo,
    bytes: Arc<AtomicU64>,
}

impl MessageIo for LinkIo {
    fn send(&mut self, msg: WireMessage) -> Result<(), MpcError> {
        self.bytes
            .fetch_add(msg.payload.len() as u64, Ordering::Relaxed);
        self.io.send(msg)
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        self.io.recv()
    }
}

/// Signs `payload` with both parties' engines; adds the payload bytes sent to `bytes`.
pub(crate) async fn sign(
    f: &Fixture,
    scheme: Scheme,
    session_id: String,
    payload: &[u8],
    bytes: &Arc<AtomicU64>,
) -> anyhow::Result<[u8; 64]> {
    let (account, path, data, keys): (_, _, _, [Arc<dyn ThresholdKey>; 2]) = match scheme {
        Scheme::Ecdsa => (
            ECDSA_ACCOUNT,
            f.ecdsa_path.clone(),
            SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload: payload.to_vec(),
            },
            [f.ecdsa[0].clone(), f.ecdsa[1].clone()],
        ),
        Scheme::Dkls23 => (
            DKLS23_ACCOUNT,
            f.ecdsa_path.clone(),
            SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload: payload.to_vec(),
            },
            f.dkls23.clone(),
        ),
        Scheme::Ed25519 => (
            ED25519_ACCOUNT,
            DerivationPath::root(),
            SignData::Ed25519(payload.to_vec()),
            [f.ed25519[0].clone(), f.ed25519[1].clone()],
        ),
    };
    let session = Session::new(session_id, account, vec![0, 1], path, data)?;
    let (to_0, inbox_0) = unbounded_channel();
    let (to_1, inbox_1) = unbounded_channel();
    let [key_0, key_1] = keys;
    let run = |key: Arc<dyn ThresholdKey>,
               inbox: UnboundedReceiver<WireMessage>,
               peer: UnboundedSender<WireMessage>| {
        let session = session.clone();
        let mut io = LinkIo {
            io: ChannelIo::new(inbox, peer),
            bytes: bytes.clone(),
        };
        tokio::task::spawn_blocking(move || {
            key.check(&session)?;
            key.sign(&session, &mut io)
        })
    };
    let party_0 = run(key_0, inbox_0, to_1);
    let party_1 = run(key_1, inbox_1, to_0);
    let sig_0 = party_0.await.context("party 0 panicked")??;
    let sig_1 = party_1.await.context("party 1 panicked")??;
    ensure!(
        sig_0 == sig_1,
        "the two engines output different signatures"
    );
    Ok(sig_0.to_bytes())
}
