//! The co-signer: the client side of the SignService.
//!
//! [`connect`] opens a gRPC channel over any transport address, over mutual TLS (the rustls
//! handshake runs on the transport stream inside the channel's connector) or, for the
//! simulation, plaintext. [`cosign`] plays one or more
//! parties of a signing session locally (the same engines the service runs) and routes their
//! messages to and from the service over one `Sign` stream, the way a Sign Gateway relays
//! them. Both sides must end with the same signature; the co-signer checks that. The local
//! parties are keys from the co-signer's own key-share file, so each signs in the engine that
//! file names for its account (DKLs23 or cggmp24 for ECDSA, FROST for Ed25519).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sigil_mpc::{
    ChannelIo, DerivationPath, EcdsaHash, MpcError, Scheme, Session, SignData, Signature,
    ThresholdKey, WireMessage,
};
use sigil_proto::signer::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Why a co-signed session failed.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    /// The request cannot be built (parties, scheme, payload).
    #[error("{0}")]
    Request(String),
    /// The service ended the session with a status.
    #[error("service: {}: {}", .0.code(), .0.message())]
    Service(tonic::Status),
    /// A local party failed.
    #[error("local party {party}: {error}")]
    Local {
        /// Its key-generation index.
        party: u16,
        /// What failed.
        error: MpcError,
    },
    /// The service's signature differs from the local one.
    #[error("the service returned a different signature than the local parties computed")]
    Mismatch,
    /// The stream ended without a result.
    #[error("the service closed the stream without a result")]
    NoResult,
    /// The session did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

pub use sigil_grpc_client::{ConnectError, connect};

/// One signing request as the caller states it.
#[derive(Clone, Debug)]
pub struct Request {
    /// Unique per session.
    pub session_id: String,
    /// The account.
    pub account_id: String,
    /// Derivation path.
    pub path: DerivationPath,
    /// Scheme.
    pub scheme: Scheme,
    /// ECDSA hash rule (ignored for Ed25519).
    pub ecdsa_hash: pb::EcdsaHash,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Signing parties (key-generation indexes), strictly increasing.
    pub parties: Vec<u16>,
}

impl Request {
    /// The engine's view of the data to sign, as the service will interpret it.
    pub fn sign_data(&self) -> Result<SignData, CosignError> {
        Ok(match (self.scheme, self.ecdsa_hash) {
            (Scheme::Ed25519, _) => SignData::Ed25519(self.payload.clone()),
            (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Keccak256) => SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload: self.payload.clone(),
            },
            (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Sha256) => SignData::Ecdsa {
                hash: EcdsaHash::Sha256,
                payload: self.payload.clone(),
            },
            (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Prehashed) => {
                SignData::EcdsaPrehashed(self.payload.as_slice().try_into().map_err(|_| {
                    CosignError::Request("a prehashed payload must be 32 bytes".into())
                })?)
            }
            (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Unspecified) => {
                return Err(CosignError::Request("ECDSA needs a hash rule".into()));
            }
        })
    }

    /// The Start message.
    pub fn start(&self) -> pb::Start {
        pb::Start {
            session_id: self.session_id.clone(),
            account_id: self.account_id.clone(),
            derivation_path: self.path.to_string(),
            scheme: match self.scheme {
                Scheme::EcdsaSecp256k1 => pb::Scheme::EcdsaSecp256k1,
                Scheme::Ed25519 => pb::Scheme::Ed25519,
            }
            .into(),
            payload: self.payload.clone(),
            ecdsa_hash: match self.scheme {
                Scheme::Ed25519 => pb::EcdsaHash::Unspecified,
                Scheme::EcdsaSecp256k1 => self.ecdsa_hash,
            }
            .into(),
            parties: self.parties.iter().map(|&p| u32::from(p)).collect(),
        }
    }
}

/// A finished co-signed session.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The signature both sides computed.
    pub signature: Signature,
    /// The service's result message.
    pub result: pb::SignResult,
}

/// A fresh random session id.
pub fn random_session_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    format!("cosigner-{}", hex::encode(b))
}

/// Runs `locals` (this side's parties of the session) against the service behind `channel`.
/// Every party in `request.parties` that is not local is expected to be the service.
pub async fn cosign(
    channel: Channel,
    locals: Vec<Arc<dyn ThresholdKey>>,
    request: &Request,
    timeout: Duration,
) -> Result<Outcome, CosignError> {
    tokio::time::timeout(timeout, run(channel, locals, request))
        .await
        .map_err(|_| CosignError::Timeout(timeout))?
}

async fn run(
    channel: Channel,
    locals: Vec<Arc<dyn ThresholdKey>>,
    request: &Request,
) -> Result<Outcome, CosignError> {
    let data = request.sign_data()?;
    let session = Session::new(
        request.session_id.clone(),
        request.account_id.clone(),
        request.parties.clone(),
        request.path.clone(),
        data,
    )
    .map_err(|e| CosignError::Request(e.to_string()))?;
    if locals.is_empty() {
        return Err(CosignError::Request("no local party".into()));
    }
    let (outbox_tx, mut outbox) = mpsc::unbounded_channel::<WireMessage>();
    let mut inboxes: HashMap<u16, mpsc::Sender<WireMessage>> = HashMap::new();
    let mut engines = Vec::new();
    for key in locals {
        let me = key.party_index();
        key.check(&session)
            .map_err(|error| CosignError::Local { party: me, error })?;
        let (tx, rx) = mpsc::channel(64);
        inboxes.insert(me, tx);
        // The outbox is unbounded: the router never waits on an engine.
        let io = ChannelIo::new(rx, outbox_tx.clone());
        let session = session.clone();
        engines.push((
            me,
            tokio::task::spawn_blocking(move || {
                let mut io = io;
                key.sign(&session, &mut io)
            }),
        ));
    }
    drop(outbox_tx);

    let (req_tx, req_rx) = mpsc::channel(64);
    let start = pb::SignRequest {
        msg: Some(pb::sign_request::Msg::Start(request.start())),
    };
    req_tx
        .send(start)
        .await
        .map_err(|_| CosignError::NoResult)?;
    let mut client = pb::sign_service_client::SignServiceClient::new(channel)
        .max_decoding_message_size(1 << 20)
        .max_encoding_message_size(1 << 20);
    let mut responses = client
        .sign(ReceiverStream::new(req_rx))
        .await
        .map_err(CosignError::Service)?
        .into_inner();

    let mut result: Option<pb::SignResult> = None;
    let mut locals_open = true;
    while result.is_none() || locals_open {
        tokio::select! {
            m = outbox.recv(), if locals_open => match m {
                Some(m) => {
                    deliver(&inboxes, &m).await;
                    if m.to.is_none_or(|to| !inboxes.contains_key(&to)) {
                        let p = pb::ProtocolMessage { from: m.from.into(), to: m.to.map(u32::from), payload: m.payload };
                        // If the service has gone, its status arrives on the response stream.
                        let _ = req_tx.send(pb::SignRequest { msg: Some(pb::sign_request::Msg::Protocol(p)) }).await;
                    }
                }
                None => locals_open = false,
            },
            r = responses.message(), if result.is_none() => match r.map_err(CosignError::Service)? {
                Some(pb::SignResponse { msg: Some(pb::sign_response::Msg::Protocol(p)) }) => {
                    let bad = || CosignError::Request("the service sent a party index out of range".into());
                    let from = u16::try_from(p.from).map_err(|_| bad())?;
                    let to = p.to.map(u16::try_from).transpose().map_err(|_| bad())?;
                    deliver(&inboxes, &WireMessage { from, to, payload: p.payload }).await;
                }
                Some(pb::SignResponse { msg: Some(pb::sign_response::Msg::Result(r)) }) => {
                    if r.cached {
                        // A retried session: the service does not run the protocol again, so
                        // the local parties stop (their inboxes close).
                        inboxes.clear();
                    }
                    result = Some(r);
                }
                Some(pb::SignResponse { msg: None }) => {}
                None => return Err(CosignError::NoResult),
            },
        }
    }
    drop(req_tx);
    let result = result.ok_or(CosignError::NoResult)?;
    let mut local = Vec::new();
    for (party, engine) in engines {
        match engine.await {
            Ok(r) => local.push((party, r)),
            Err(_) => {
                return Err(CosignError::Local {
                    party,
                    error: MpcError::Channel("engine panicked".into()),
                });
            }
        }
    }
    let signature = if result.cached {
        signature_from_result(request.scheme, &result)?
    } else {
        let mut signature = None;
        for (party, r) in local {
            signature = Some(r.map_err(|error| CosignError::Local { party, error })?);
        }
        signature.ok_or(CosignError::NoResult)?
    };
    if signature.to_bytes().as_slice() != result.signature.as_slice()
        || signature.recovery_id().map(u32::from) != result.recovery_id
    {
        return Err(CosignError::Mismatch);
    }
    Ok(Outcome { signature, result })
}

/// Hands a message to every local party it is addressed to.
async fn deliver(inboxes: &HashMap<u16, mpsc::Sender<WireMessage>>, m: &WireMessage) {
    for (party, inbox) in inboxes {
        if *party != m.from && m.to.is_none_or(|to| to == *party) {
            // A party that already finished has dropped its inbox; nothing to deliver.
            let _ = inbox.send(m.clone()).await;
        }
    }
}

fn signature_from_result(scheme: Scheme, r: &pb::SignResult) -> Result<Signature, CosignError> {
    let bytes: [u8; 64] =
        r.signature.as_slice().try_into().map_err(|_| {
            CosignError::Request("the service returned a malformed signature".into())
        })?;
    Ok(match scheme {
        Scheme::Ed25519 => Signature::Ed25519(bytes),
        Scheme::EcdsaSecp256k1 => {
            let mut r_ = [0; 32];
            let mut s_ = [0; 32];
            r_.copy_from_slice(&bytes[..32]);
            s_.copy_from_slice(&bytes[32..]);
            let recovery_id = r
                .recovery_id
                .and_then(|v| u8::try_from(v).ok())
                .ok_or_else(|| {
                    CosignError::Request("the service returned no recovery id".into())
                })?;
            Signature::Ecdsa {
                r: r_,
                s: s_,
                recovery_id,
            }
        }
    })
}
