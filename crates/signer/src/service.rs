//! The `SignService` implementation: request validation, the session driver that relays
//! protocol messages between a gRPC stream and an engine thread, and session control.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pb::sign_service_server::SignService;
use sigil_mpc::{
    ChannelIo, DerivationPath, EcdsaHash, KeyStore, MAX_WIRE_MESSAGE_BYTES, MpcError, Scheme,
    Session, SignData, Signature, ThresholdKey, WireMessage, validate,
};
use sigil_nsm::{AttestationRequest, Nsm};
use sigil_proto::signer::v1 as pb;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, info, info_span, warn};

use crate::registry::{Begin, Registry};

/// Session control settings.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Sessions running at once; one more gets RESOURCE_EXHAUSTED at once.
    pub max_sessions: usize,
    /// Longest wait for the caller's first message, and longest silence (no message either
    /// way) within a session.
    pub message_timeout: Duration,
    /// Longest a session may run.
    pub session_timeout: Duration,
    /// Finished results kept for idempotent retries.
    pub result_cache: usize,
    /// Session ids remembered for replay refusal.
    pub remembered_ids: usize,
    /// Largest gRPC message accepted.
    pub max_message_bytes: usize,
    /// Longest a TLS handshake may take ([`Security::MutualTls`](crate::Security) only).
    pub handshake_timeout: Duration,
    /// TLS handshakes run at once; further connections wait in the listener's backlog.
    pub max_handshakes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            message_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(120),
            result_cache: 10_000,
            remembered_ids: 1_000_000,
            max_message_bytes: 2 * MAX_WIRE_MESSAGE_BYTES,
            handshake_timeout: Duration::from_secs(10),
            max_handshakes: 64,
        }
    }
}

/// The SignService over one party's key store.
#[derive(Clone)]
pub struct SignerService {
    inner: Arc<Inner>,
    /// SHA-256 of the TLS server key's SPKI, attested as `user_data` when set.
    tls_binding: Option<[u8; 32]>,
}

struct Inner {
    keys: KeyStore,
    nsm: Arc<dyn Nsm>,
    limits: Limits,
    permits: Arc<Semaphore>,
    registry: Mutex<Registry>,
}

const MAX_ATTEST_FIELD: usize = 1024;

impl SignerService {
    /// A service signing with `keys`, attesting with `nsm`.
    pub fn new(keys: KeyStore, nsm: Arc<dyn Nsm>, limits: Limits) -> Self {
        let registry = Registry::new(limits.remembered_ids, limits.result_cache);
        Self {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(limits.max_sessions)),
                keys,
                nsm,
                limits,
                registry: Mutex::new(registry),
            }),
            tls_binding: None,
        }
    }

    /// Binds attestation to the TLS key: every `Attest` answer carries exactly `spki_sha256`
    /// (from [`sigil_tls::TlsBundle::spki_sha256`]) as the document's `user_data`, so a gateway
    /// that verified the document can pin the key the enclave terminates TLS with. A caller's
    /// own `user_data` is then refused (`INVALID_ARGUMENT`).
    pub fn with_tls_binding(mut self, spki_sha256: [u8; 32]) -> Self {
        self.tls_binding = Some(spki_sha256);
        self
    }

    /// The TLS binding in force, if any.
    pub fn tls_binding(&self) -> Option<[u8; 32]> {
        self.tls_binding
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Sessions running now.
    pub fn running_sessions(&self) -> usize {
        self.inner.limits.max_sessions - self.inner.permits.available_permits()
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the registry inconsistent (each method is
        // a few map operations), so a poisoned lock is still usable.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn key(&self, account_id: &str) -> Result<&Arc<dyn ThresholdKey>, Status> {
        validate::account_id(account_id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.inner
            .keys
            .get(account_id)
            .ok_or_else(|| Status::not_found(format!("unknown account {account_id:?}")))
    }

    /// Validates a Start and builds the session.
    fn prepare(&self, start: &pb::Start) -> Result<(Session, Arc<dyn ThresholdKey>), Status> {
        let id = &start.session_id;
        validate::session_id(id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let key = self.key(&start.account_id)?.clone();
        let scheme = scheme_from_pb(start.scheme)?;
        if scheme != key.scheme() {
            return Err(Status::invalid_argument(format!(
                "account {:?} is a {} key, the request asks for {scheme}",
                start.account_id,
                key.scheme()
            )));
        }
        let path: DerivationPath = start.derivation_path.parse().map_err(mpc_status)?;
        let data = sign_data(scheme, start)?;
        let parties = start
            .parties
            .iter()
            .map(|&p| {
                u16::try_from(p).map_err(|_| {
                    Status::invalid_argument(format!("party index {p} is out of range"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let session = Session::new(id.clone(), start.account_id.clone(), parties, path, data)
            .map_err(mpc_status)?;
        key.check(&session).map_err(mpc_status)?;
        Ok((session, key))
    }
}

fn scheme_from_pb(v: i32) -> Result<Scheme, Status> {
    match pb::Scheme::try_from(v) {
        Ok(pb::Scheme::EcdsaSecp256k1) => Ok(Scheme::EcdsaSecp256k1),
        Ok(pb::Scheme::Ed25519) => Ok(Scheme::Ed25519),
        Ok(pb::Scheme::Unspecified) => Err(Status::invalid_argument("scheme is not set")),
        Err(_) => Err(Status::invalid_argument(format!("unknown scheme {v}"))),
    }
}

/// The proto value of a scheme.
pub(crate) fn scheme_to_pb(s: Scheme) -> pb::Scheme {
    match s {
        Scheme::EcdsaSecp256k1 => pb::Scheme::EcdsaSecp256k1,
        Scheme::Ed25519 => pb::Scheme::Ed25519,
    }
}

fn sign_data(scheme: Scheme, start: &pb::Start) -> Result<SignData, Status> {
    let hash = pb::EcdsaHash::try_from(start.ecdsa_hash).map_err(|_| {
        Status::invalid_argument(format!("unknown ecdsa_hash {}", start.ecdsa_hash))
    })?;
    let payload = start.payload.clone();
    match (scheme, hash) {
        (Scheme::Ed25519, pb::EcdsaHash::Unspecified) => Ok(SignData::Ed25519(payload)),
        (Scheme::Ed25519, _) => Err(Status::invalid_argument(
            "ecdsa_hash must be unset for Ed25519",
        )),
        (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Unspecified) => Err(Status::invalid_argument(
            "ecdsa_hash must be set for ECDSA (KECCAK256, SHA256 or PREHASHED)",
        )),
        (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Prehashed) => payload
            .as_slice()
            .try_into()
            .map(SignData::EcdsaPrehashed)
            .map_err(|_| Status::invalid_argument("a PREHASHED payload must be exactly 32 bytes")),
        (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Keccak256) => Ok(SignData::Ecdsa {
            hash: EcdsaHash::Keccak256,
            payload,
        }),
        (Scheme::EcdsaSecp256k1, pb::EcdsaHash::Sha256) => Ok(SignData::Ecdsa {
            hash: EcdsaHash::Sha256,
            payload,
        }),
    }
}

/// Maps an engine error to the status the caller sees. A co-signer caught cheating (which
/// freezes its signer group) is also logged at error level, once per freeze: the
/// `signer_group_frozen` event operators alert on (parent-agent counts it).
fn mpc_status(e: MpcError) -> Status {
    match e {
        MpcError::InvalidRequest(_) | MpcError::BadMessage { .. } => {
            Status::invalid_argument(e.to_string())
        }
        MpcError::Cheating {
            ref group,
            party,
            ref reason,
        } => {
            tracing::error!(
                event = "signer_group_frozen",
                group = %group,
                party,
                reason = %reason,
                "a co-signer deviated from the protocol: every account of its signer group is \
                 refused until the group's pair setup is dealt again"
            );
            Status::aborted(e.to_string())
        }
        MpcError::Protocol(_) => Status::aborted(e.to_string()),
        MpcError::GroupFrozen { .. } => Status::failed_precondition(e.to_string()),
        MpcError::Channel(_) => Status::cancelled(e.to_string()),
        MpcError::InvalidSignature => Status::internal(e.to_string()),
    }
}

fn wire_from_pb(m: pb::ProtocolMessage) -> Result<WireMessage, Status> {
    let idx = |v: u32| {
        u16::try_from(v)
            .map_err(|_| Status::invalid_argument(format!("party index {v} is out of range")))
    };
    if m.payload.len() > MAX_WIRE_MESSAGE_BYTES {
        return Err(Status::invalid_argument(format!(
            "protocol message from party {} is {} bytes, more than {MAX_WIRE_MESSAGE_BYTES}",
            m.from,
            m.payload.len()
        )));
    }
    Ok(WireMessage {
        from: idx(m.from)?,
        to: m.to.map(idx).transpose()?,
        payload: m.payload,
    })
}

fn wire_to_pb(m: WireMessage) -> pb::SignResponse {
    pb::SignResponse {
        msg: Some(pb::sign_response::Msg::Protocol(pb::ProtocolMessage {
            from: m.from.into(),
            to: m.to.map(u32::from),
            payload: m.payload,
        })),
    }
}

fn result_to_pb(
    session: &Session,
    key: &dyn ThresholdKey,
    sig: &Signature,
) -> Result<pb::SignResult, Status> {
    let public_key = key.public_key(&session.path).map_err(mpc_status)?;
    Ok(pb::SignResult {
        session_id: session.session_id.clone(),
        account_id: session.account_id.clone(),
        scheme: scheme_to_pb(key.scheme()).into(),
        derivation_path: session.path.to_string(),
        public_key: public_key.bytes,
        signature: sig.to_bytes().to_vec(),
        recovery_id: sig.recovery_id().map(u32::from),
        digest: session.data.digest().to_vec(),
        cached: false,
    })
}

fn result_response(r: pb::SignResult) -> pb::SignResponse {
    pb::SignResponse {
        msg: Some(pb::sign_response::Msg::Result(r)),
    }
}

type ResponseTx = mpsc::Sender<Result<pb::SignResponse, Status>>;

#[tonic::async_trait]
impl SignService for SignerService {
    type SignStream = ReceiverStream<Result<pb::SignResponse, Status>>;

    async fn sign(
        &self,
        request: Request<Streaming<pb::SignRequest>>,
    ) -> Result<Response<Self::SignStream>, Status> {
        let limits = &self.inner.limits;
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(limits.message_timeout, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no Start message in time"))??
            .ok_or_else(|| Status::invalid_argument("stream ended before Start"))?;
        let Some(pb::sign_request::Msg::Start(start)) = first.msg else {
            return Err(Status::invalid_argument(
                "the first message of a Sign stream must be Start",
            ));
        };
        let (session, key) = self.prepare(&start)?;
        let span = info_span!(
            "sign_session",
            session_id = %session.session_id,
            account_id = %session.account_id,
            scheme = %key.scheme(),
            path = %session.path,
        );
        let begin = self
            .registry()
            .begin(&session.session_id, *session.execution_id());
        match begin {
            Begin::New => {}
            Begin::Cached(mut r) => {
                span.in_scope(|| info!(event = "session_replayed", "returning the cached result"));
                r.cached = true;
                let (tx, rx) = mpsc::channel(1);
                // Capacity 1 and a fresh channel: this send cannot fail.
                let _ = tx.try_send(Ok(result_response(*r)));
                return Ok(Response::new(ReceiverStream::new(rx)));
            }
            Begin::Refused(why) => {
                return Err(Status::already_exists(format!(
                    "session_id {:?}: {why}",
                    session.session_id
                )));
            }
        }
        let Ok(permit) = self.inner.permits.clone().try_acquire_owned() else {
            self.registry().abandon(&session.session_id);
            return Err(Status::resource_exhausted(format!(
                "{} signing sessions are running, the most this service runs at once",
                limits.max_sessions
            )));
        };

        let (to_engine, engine_inbound) = mpsc::channel(64);
        let (engine_outbound, from_engine) = mpsc::channel(64);
        let engine = {
            let key = key.clone();
            let session = session.clone();
            let span = span.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let _enter = span.enter();
                let mut io = ChannelIo::new(engine_inbound, engine_outbound);
                key.sign(&session, &mut io)
            })
        };
        let (tx, rx) = mpsc::channel(64);
        let driver = Driver {
            service: self.clone(),
            session,
            key,
            inbound,
            to_engine,
            from_engine,
            tx,
        };
        tokio::spawn(driver.run(engine).instrument(span));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_public_key(
        &self,
        request: Request<pb::GetPublicKeyRequest>,
    ) -> Result<Response<pb::GetPublicKeyResponse>, Status> {
        let req = request.into_inner();
        let key = self.key(&req.account_id)?;
        let path: DerivationPath = req.derivation_path.parse().map_err(mpc_status)?;
        let pk = key.public_key(&path).map_err(mpc_status)?;
        Ok(Response::new(pb::GetPublicKeyResponse {
            account_id: req.account_id,
            scheme: scheme_to_pb(key.scheme()).into(),
            derivation_path: path.to_string(),
            ethereum_address: pk.ethereum_address().unwrap_or_default(),
            public_key: pk.bytes,
            threshold: key.threshold().into(),
            parties: key.parties().into(),
            party_index: key.party_index().into(),
        }))
    }

    async fn attest(
        &self,
        request: Request<pb::AttestRequest>,
    ) -> Result<Response<pb::AttestResponse>, Status> {
        let req = request.into_inner();
        if req.nonce.len() > MAX_ATTEST_FIELD || req.user_data.len() > MAX_ATTEST_FIELD {
            return Err(Status::invalid_argument(format!(
                "nonce and user_data are limited to {MAX_ATTEST_FIELD} bytes"
            )));
        }
        let user_data = match self.tls_binding {
            Some(_) if !req.user_data.is_empty() => {
                return Err(Status::invalid_argument(
                    "user_data must be empty: this service sets it to the SHA-256 of its TLS \
                     server key's SubjectPublicKeyInfo (pin that value); use nonce for freshness",
                ));
            }
            Some(spki_sha256) => Some(spki_sha256.to_vec()),
            None => (!req.user_data.is_empty()).then_some(req.user_data),
        };
        let nsm = self.inner.nsm.clone();
        let simulated = nsm.is_simulated();
        let ask = AttestationRequest {
            nonce: (!req.nonce.is_empty()).then_some(req.nonce),
            user_data,
            public_key: None,
        };
        let document = tokio::task::spawn_blocking(move || nsm.attestation(&ask))
            .await
            .map_err(|_| Status::internal("attestation task failed"))?
            .map_err(|e| Status::unavailable(format!("NSM: {e}")))?;
        Ok(Response::new(pb::AttestResponse {
            document,
            simulated,
        }))
    }
}

/// Relays one session between the caller's stream and the engine thread.
struct Driver {
    service: SignerService,
    session: Session,
    key: Arc<dyn ThresholdKey>,
    inbound: Streaming<pb::SignRequest>,
    to_engine: mpsc::Sender<WireMessage>,
    from_engine: mpsc::Receiver<WireMessage>,
    tx: ResponseTx,
}

impl Driver {
    async fn run(mut self, mut engine: tokio::task::JoinHandle<Result<Signature, MpcError>>) {
        let started = Instant::now();
        info!(event = "session_started", parties = ?self.session.parties);
        let limits = self.service.inner.limits.clone();
        let deadline = tokio::time::Instant::now() + limits.session_timeout;
        let mut idle = tokio::time::Instant::now() + limits.message_timeout;
        let mut inbound_open = true;
        let mut engine_done = false;
        let outcome: Result<Signature, Status> = loop {
            tokio::select! {
                biased;
                Some(m) = self.from_engine.recv() => {
                    idle = tokio::time::Instant::now() + limits.message_timeout;
                    if self.tx.send(Ok(wire_to_pb(m))).await.is_err() {
                        break Err(Status::cancelled("the caller closed the stream"));
                    }
                }
                joined = &mut engine => {
                    engine_done = true;
                    // Messages the engine sent before finishing go out before the result.
                    while let Ok(m) = self.from_engine.try_recv() {
                        let _ = self.tx.send(Ok(wire_to_pb(m))).await;
                    }
                    break match joined {
                        Ok(Ok(sig)) => Ok(sig),
                        Ok(Err(e)) => Err(mpc_status(e)),
                        Err(_) => Err(Status::internal("signing engine panicked")),
                    };
                }
                msg = self.inbound.message(), if inbound_open => match msg {
                    Ok(Some(pb::SignRequest { msg: Some(pb::sign_request::Msg::Protocol(p)) })) => {
                        idle = tokio::time::Instant::now() + limits.message_timeout;
                        match wire_from_pb(p) {
                            // The engine may have finished already; a late message is moot.
                            Ok(w) => { let _ = self.to_engine.send(w).await; }
                            Err(status) => break Err(status),
                        }
                    }
                    Ok(Some(pb::SignRequest { msg: Some(pb::sign_request::Msg::Start(_)) })) => {
                        break Err(Status::invalid_argument("Start may only be the first message"));
                    }
                    Ok(Some(pb::SignRequest { msg: None })) => break Err(Status::invalid_argument("empty SignRequest")),
                    Ok(None) => inbound_open = false,
                    Err(status) => break Err(status),
                },
                _ = tokio::time::sleep_until(idle) => {
                    break Err(Status::deadline_exceeded(format!(
                        "no protocol message for {:?}", limits.message_timeout
                    )));
                }
                _ = tokio::time::sleep_until(deadline) => {
                    break Err(Status::deadline_exceeded(format!(
                        "session did not finish within {:?}", limits.session_timeout
                    )));
                }
                _ = self.tx.closed() => break Err(Status::cancelled("the caller closed the stream")),
            }
        };
        // Closing the engine's inbox (and outbox) ends a session still in progress: its thread
        // returns, and its capacity permit with it. Nothing of the session is kept but the
        // registry entry. The caller hears the outcome only after that, so a caller that
        // retries at once finds the slot free.
        drop(self.to_engine);
        drop(self.from_engine);
        if !engine_done {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut engine).await;
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let result = outcome.and_then(|sig| result_to_pb(&self.session, self.key.as_ref(), &sig));
        match result {
            Ok(r) => {
                self.service
                    .registry()
                    .finish(&self.session.session_id, Some(&r));
                info!(event = "session_finished", elapsed_ms, "signed");
                let _ = self.tx.send(Ok(result_response(r))).await;
            }
            Err(status) => {
                self.service
                    .registry()
                    .finish(&self.session.session_id, None);
                warn!(event = "session_failed", elapsed_ms, code = ?status.code(), reason = status.message());
                let _ = self.tx.send(Err(status)).await;
            }
        }
    }
}
