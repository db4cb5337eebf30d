//! The attestation gate: challenge the enclave's SignService with a fresh nonce, verify the
//! document (pinned root, allowed PCR sets, nonce, freshness, and the TLS key binding), and
//! probe grpc.health.v1. Ingress opens only after [`Gate::attest`] passes.
//!
//! The binding: the channel pins the server key the boot report announced
//! (`tls_spki_sha256`), and the document's `user_data` must be that same hash. So the key
//! that answered on this connection is the key the attested image holds; a relay or a second
//! process cannot stand in for the enclave. With plaintext gRPC (simulation only) there is no
//! binding, and every check says so.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use sigil_attestation::{Expectations, RootKind, TrustAnchor, Verifier, VerifyAt};
use sigil_proto::signer::v1 as pb;
use sigil_proto::signer::v1::sign_service_client::SignServiceClient;
use sigil_tls::ClientTls;
use sigil_transport::{Addr, Transport};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::config::AllowedImage;
use crate::observe::metrics::Probe;

/// The gRPC service name the health probe asks about.
pub const SIGNER_SERVICE: &str = "sigil.signer.v1.SignService";

/// Why the gate stayed shut.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The SignService could not be reached (or the TLS pin did not match).
    #[error("the SignService at {addr} is unreachable: {reason}")]
    Unreachable {
        /// Where.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The enclave refused or failed the call.
    #[error("Attest failed: {0}")]
    Call(String),
    /// The document did not verify.
    #[error("attestation refused: {0}")]
    Refused(String),
}

impl GateError {
    /// A metric label.
    pub fn outcome(&self) -> &'static str {
        match self {
            GateError::Refused(_) => "refused",
            _ => "unreachable",
        }
    }
}

/// What the gate checks against.
pub struct GateSettings {
    /// The trust anchor.
    pub anchor: TrustAnchor,
    /// The allowed images.
    pub allowed: Vec<AllowedImage>,
    /// Refuse documents older than this.
    pub max_age: Duration,
    /// How the SignService is reached.
    pub transport: Transport,
    /// Its address.
    pub signer: Addr,
    /// parent-agent's client TLS (None: plaintext, simulation only).
    pub tls: Option<ClientTls>,
    /// Connect and call limit.
    pub timeout: Duration,
}

/// A document that passed the gate.
#[derive(Clone, Debug)]
pub struct Attested {
    /// The raw COSE_Sign1 bytes.
    pub document: Vec<u8>,
    /// SHA-256 of `document`, hex (its archive name).
    pub sha256: String,
    /// PCR index → hex.
    pub pcrs: BTreeMap<u8, String>,
    /// The allow-list entry it matched.
    pub matched: String,
    /// The issuing module.
    pub module_id: String,
    /// The document's timestamp.
    pub timestamp_ms: u64,
    /// The TLS key binding checked (false only with plaintext gRPC in simulation).
    pub tls_bound: bool,
    /// Verified against a development root (simulation).
    pub dev_root: bool,
}

/// The gate for one enclave instance: one channel, pinned to the key its boot report named.
pub struct Gate {
    verifier: Verifier,
    allowed: Vec<AllowedImage>,
    max_age: Duration,
    timeout: Duration,
    addr: String,
    pin: Option<[u8; 32]>,
    channel: Channel,
}

impl Gate {
    /// Opens a channel to the SignService; with TLS, the server key must hash to `pin`
    /// (the boot report's `tls_spki_sha256`).
    pub async fn connect(
        settings: &GateSettings,
        pin: Option<[u8; 32]>,
    ) -> Result<Gate, GateError> {
        let tls = settings.tls.clone().map(|mut t| {
            t.pin_spki_sha256 = pin;
            t
        });
        if tls.is_some() && pin.is_none() {
            return Err(GateError::Refused(
                "the boot report names no TLS server key to pin".into(),
            ));
        }
        let channel = sigil_grpc_client::connect(
            settings.transport.clone(),
            settings.signer.clone(),
            settings.timeout,
            tls.as_ref(),
        )
        .await
        .map_err(|e| GateError::Unreachable {
            addr: settings.signer.to_string(),
            reason: e.chain(),
        })?;
        Ok(Gate {
            verifier: Verifier::new(settings.anchor.clone()),
            allowed: settings.allowed.clone(),
            max_age: settings.max_age,
            timeout: settings.timeout,
            addr: settings.signer.to_string(),
            pin: tls.and(pin),
            channel,
        })
    }

    fn unreachable(&self, reason: String) -> GateError {
        GateError::Unreachable {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// Challenges the enclave and verifies its answer.
    pub async fn attest(&self) -> Result<Attested, GateError> {
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(|e| GateError::Call(format!("no randomness: {e}")))?;
        let mut client = SignServiceClient::new(self.channel.clone());
        let call = client.attest(pb::AttestRequest {
            nonce: nonce.to_vec(),
            user_data: Vec::new(),
        });
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => return Err(self.unreachable(format!("no answer within {:?}", self.timeout))),
            Ok(Err(s)) if s.code() == tonic::Code::Unavailable => {
                return Err(self.unreachable(s.message().to_owned()));
            }
            Ok(Err(s)) => return Err(GateError::Call(format!("{}: {}", s.code(), s.message()))),
            Ok(Ok(r)) => r.into_inner(),
        };
        self.check(&answer.document, &nonce, SystemTime::now())
    }

    /// Verifies `document` for `nonce` at `now`.
    pub fn check(
        &self,
        document: &[u8],
        nonce: &[u8],
        now: SystemTime,
    ) -> Result<Attested, GateError> {
        let expect = Expectations {
            pcrs: BTreeMap::new(),
            nonce: Some(nonce.to_vec()),
            public_key: None,
            user_data: None,
            max_age: Some((self.max_age, now)),
            allow_debug: false,
        };
        let v = self
            .verifier
            .verify(document, VerifyAt::Time(now), &expect)
            .map_err(|e| GateError::Refused(e.to_string()))?;
        let d = &v.document;
        let pcrs: BTreeMap<u8, String> = d.pcrs.iter().map(|(i, p)| (*i, hex::encode(p))).collect();
        let matched = self
            .allowed
            .iter()
            .find(|img| img.pcrs().iter().all(|(i, want)| pcrs.get(i) == Some(want)))
            .ok_or_else(|| {
                GateError::Refused(format!(
                    "PCR0 {} is not on the allowed list ({} entries)",
                    pcrs.get(&0).map_or("<missing>", String::as_str),
                    self.allowed.len()
                ))
            })?;
        let tls_bound = match self.pin {
            Some(pin) => {
                if d.user_data.as_deref() != Some(&pin[..]) {
                    return Err(GateError::Refused(
                        "user_data is not the SHA-256 of the TLS key this connection pinned".into(),
                    ));
                }
                true
            }
            None => false,
        };
        Ok(Attested {
            document: document.to_vec(),
            sha256: hex::encode(Sha256::digest(document)),
            pcrs,
            matched: if matched.name.is_empty() {
                matched.pcr0.clone()
            } else {
                matched.name.clone()
            },
            module_id: d.module_id.clone(),
            timestamp_ms: d.timestamp_ms,
            tls_bound,
            dev_root: v.root != RootKind::AwsNitroG1,
        })
    }

    /// One grpc.health.v1 probe.
    pub async fn probe(&self, timeout: Duration) -> Probe {
        let mut client = HealthClient::new(self.channel.clone());
        let call = client.check(HealthCheckRequest {
            service: SIGNER_SERVICE.into(),
        });
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => Probe::Serving,
            Ok(Ok(_)) => Probe::NotServing,
            _ => Probe::Failed,
        }
    }
}

/// Parses the boot report's hex `tls_spki_sha256` (empty: none).
pub fn parse_pin(hex_pin: &str) -> Result<Option<[u8; 32]>, GateError> {
    if hex_pin.is_empty() {
        return Ok(None);
    }
    hex::decode(hex_pin)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            GateError::Refused("the boot report's tls_spki_sha256 is not 32 hex bytes".into())
        })
}
