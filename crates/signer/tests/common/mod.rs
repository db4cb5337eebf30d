//! Shared test fixtures: key shares from an in-memory ceremony, a running SignService on a
//! Unix socket (plaintext, or mutual TLS with a throw-away PKI), and a raw stream client for
//! protocol-level tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sigil_fixtures::Ceremony;
use sigil_mpc::{KeyStore, Scheme, ThresholdKey};
use sigil_proto::signer::v1 as pb;
use sigil_signer::{Limits, Security, SignerService};
use sigil_testkit::pki::{Ca, TestPki};
use sigil_tls::{ClientTls, TlsBundle};
use sigil_transport::{Addr, Transport};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

#[allow(unused_imports)]
pub use sigil_fixtures::tls::SERVER_NAME;
/// The demo ceremony (2-of-3: `eth-1` ECDSA with DKLs23, `eth-legacy` ECDSA with cggmp24,
/// `sol-1` Ed25519; the service is party 0),
/// shared with enclave-app's and the end-to-end tests.
#[allow(unused_imports)]
pub use sigil_fixtures::{ETH, SOL, ceremony};

pub fn nsm() -> Arc<dyn sigil_nsm::Nsm> {
    let root = sigil_nsm::DevRoot::generate().unwrap();
    let image = sigil_nsm::ImageMeasurement::of_bytes(b"sigil test image");
    Arc::new(sigil_nsm::SimulatedNsm::new(root, &image, "i-0123456789abcdef0", None).unwrap())
}

pub struct Running {
    pub service: SignerService,
    pub addr: Addr,
    pub dir: tempfile::TempDir,
    /// The client side of the service's mutual TLS, if it serves TLS.
    pub tls: Option<ClientTls>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn channel(&self) -> Channel {
        sigil_cosigner::connect(
            Transport::native(),
            self.addr.clone(),
            Duration::from_secs(5),
            self.tls.as_ref(),
        )
        .await
        .unwrap()
    }

    pub async fn client(&self) -> pb::sign_service_client::SignServiceClient<Channel> {
        pb::sign_service_client::SignServiceClient::new(self.channel().await)
            .max_encoding_message_size(8 << 20)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

/// A throw-away PKI (the shared [`TestPki`]: server CA, server certificate, the CA of
/// accepted client certificates) with the server's bundle, chain included.
pub struct Pki {
    pub bundle: TlsBundle,
    pki: TestPki,
}

impl std::ops::Deref for Pki {
    type Target = TestPki;

    fn deref(&self) -> &TestPki {
        &self.pki
    }
}

impl Pki {
    pub fn new() -> Pki {
        let pki = sigil_fixtures::tls::pki();
        let bundle = sigil_fixtures::tls::bundle_with_chain(&pki);
        Pki { bundle, pki }
    }

    /// A client with a certificate from `issuer`, trusting the server's CA.
    pub fn client(&self, issuer: &Ca, pin: Option<[u8; 32]>) -> ClientTls {
        sigil_fixtures::tls::client(&self.pki, issuer, "gateway-test", pin)
    }
}

/// Serves `keys` on a Unix socket in a fresh directory, plaintext.
pub async fn serve(keys: KeyStore, limits: Limits) -> Running {
    serve_with(keys, limits, None).await
}

/// Serves `keys` over mutual TLS with `pki`'s bundle, the Attest binding set; the returned
/// service's channels use a proper client certificate.
pub async fn serve_tls(keys: KeyStore, limits: Limits, pki: &Pki) -> Running {
    serve_with(keys, limits, Some(pki)).await
}

async fn serve_with(keys: KeyStore, limits: Limits, pki: Option<&Pki>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("signer.sock");
    let addr: Addr = format!("unix://{}", path.display()).parse().unwrap();
    let listener = Transport::native().bind(&addr).await.unwrap();
    let mut service = SignerService::new(keys, nsm(), limits);
    let (security, tls) = match pki {
        Some(pki) => {
            service = service.with_tls_binding(pki.bundle.spki_sha256());
            (
                Security::MutualTls(pki.bundle.server_config().unwrap()),
                Some(pki.client(&pki.client_ca, None)),
            )
        }
        None => (Security::PlaintextForSimulation, None),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = service.clone();
    let task = tokio::spawn(async move {
        sigil_signer::serve(listener, svc, security, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        service,
        addr,
        dir,
        tls,
        shutdown: Some(tx),
        task,
    }
}

pub fn local_key(c: &Ceremony, party: u16, account: &str) -> Arc<dyn ThresholdKey> {
    c.key_store(party).unwrap().get(account).unwrap().clone()
}

pub fn request(
    session_id: &str,
    account: &str,
    scheme: Scheme,
    path: &str,
    payload: &[u8],
    parties: Vec<u16>,
) -> sigil_cosigner::Request {
    sigil_cosigner::Request {
        session_id: session_id.into(),
        account_id: account.into(),
        path: path.parse().unwrap(),
        scheme,
        ecdsa_hash: pb::EcdsaHash::Keccak256,
        payload: payload.to_vec(),
        parties,
    }
}

/// A Sign stream driven by hand.
pub struct RawStream {
    pub tx: mpsc::Sender<pb::SignRequest>,
    pub rx: tonic::Streaming<pb::SignResponse>,
}

impl RawStream {
    pub async fn open(
        client: &mut pb::sign_service_client::SignServiceClient<Channel>,
        first: pb::SignRequest,
    ) -> Result<Self, tonic::Status> {
        let (tx, rx) = mpsc::channel(16);
        tx.send(first).await.unwrap();
        let rx = client.sign(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Self { tx, rx })
    }

    pub async fn send_protocol(&self, from: u32, to: Option<u32>, payload: Vec<u8>) {
        let _ = self
            .tx
            .send(pb::SignRequest {
                msg: Some(pb::sign_request::Msg::Protocol(pb::ProtocolMessage {
                    from,
                    to,
                    payload,
                })),
            })
            .await;
    }

    /// The final status of the stream (after any protocol messages).
    pub async fn final_status(&mut self) -> Result<pb::SignResult, tonic::Status> {
        loop {
            match self.rx.message().await? {
                Some(pb::SignResponse {
                    msg: Some(pb::sign_response::Msg::Result(r)),
                }) => return Ok(r),
                Some(_) => continue,
                None => return Err(tonic::Status::unknown("stream ended without a result")),
            }
        }
    }
}

pub fn start(
    session_id: &str,
    account: &str,
    scheme: pb::Scheme,
    hash: pb::EcdsaHash,
    path: &str,
    payload: &[u8],
    parties: Vec<u32>,
) -> pb::SignRequest {
    pb::SignRequest {
        msg: Some(pb::sign_request::Msg::Start(pb::Start {
            session_id: session_id.into(),
            account_id: account.into(),
            derivation_path: path.into(),
            scheme: scheme.into(),
            payload: payload.to_vec(),
            ecdsa_hash: hash.into(),
            parties,
        })),
    }
}
