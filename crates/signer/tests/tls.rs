#![allow(clippy::unwrap_used, missing_docs)]
//! The SignService over mutual TLS on a Unix socket, with real rustls handshakes: a caller with
//! a proper client certificate signs (verified independently with k256); callers without a
//! certificate, with one from another CA, or speaking plaintext are refused; a client pinning
//! another SPKI refuses the server; `Attest` carries the SHA-256 of the SPKI of the certificate
//! the server actually presented in the handshake and refuses a caller's user_data; a client
//! that never finishes its handshake neither blocks another nor outlives the handshake timeout.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use k256::ecdsa::{VerifyingKey, signature::hazmat::PrehashVerifier};
use sha2::Digest as _;
use sha2::Sha256;
use sha3::Digest as _;
use sha3::Keccak256;
use sigil_mpc::Scheme;
use sigil_proto::signer::v1 as pb;
use sigil_signer::Limits;
use sigil_tls::rustls::pki_types::{CertificateDer, ServerName};
use sigil_tls::rustls::{self, ClientConfig, RootCertStore};
use sigil_tls::tokio_rustls::TlsConnector;
use sigil_tls::tokio_rustls::client::TlsStream;
use sigil_transport::{Stream, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use x509_cert::der::{Decode, Encode};

const TIMEOUT: Duration = Duration::from_secs(120);

/// A TLS connection to the service made by hand, so the test can look at the session.
async fn handshake(svc: &Running, config: Arc<ClientConfig>) -> std::io::Result<TlsStream<Stream>> {
    let stream = Transport::native()
        .connect(&svc.addr, Duration::from_secs(5))
        .await
        .unwrap();
    TlsConnector::from(config)
        .connect(ServerName::try_from(SERVER_NAME).unwrap(), stream)
        .await
}

/// A gRPC channel over exactly this one connection.
async fn channel_over(tls: TlsStream<Stream>) -> Result<Channel, tonic::transport::Error> {
    let slot = Arc::new(Mutex::new(Some(tls)));
    Endpoint::from_static("http://sigil-signer")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let conn = slot.lock().unwrap().take();
            async move {
                conn.map(hyper_util::rt::TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("this test channel has one connection"))
            }
        }))
        .await
}

/// What the server answers a client that completes its side of the handshake and then sends
/// an HTTP/2 preface: the TLS alert it refuses the client with, or success.
async fn refusal(svc: &Running, config: Arc<ClientConfig>) -> Result<(), String> {
    let mut tls = handshake(svc, config).await.map_err(|e| e.to_string())?;
    // The server may have refused and closed already (a broken pipe here); its alert is then
    // waiting to be read.
    let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    let _ = tls.flush().await;
    let mut b = [0u8; 9];
    tls.read_exact(&mut b).await.map_err(|e| e.to_string())?;
    Ok(())
}

fn roots(pem: &str) -> Arc<RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    let mut store = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        store.add(c.unwrap()).unwrap();
    }
    Arc::new(store)
}

async fn public_key(channel: Channel) -> Result<pb::GetPublicKeyResponse, tonic::Status> {
    pb::sign_service_client::SignServiceClient::new(channel)
        .get_public_key(pb::GetPublicKeyRequest {
            account_id: ETH.into(),
            derivation_path: "m".into(),
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_a_proper_certificate_signs_over_mutual_tls() {
    let c = ceremony();
    let pki = Pki::new();
    let svc = serve_tls(c.key_store(0).unwrap(), Limits::default(), &pki).await;
    let payload = b"\xec\x09\x85\x04\xa8\x17\xc8\x00 an Ethereum tx over mTLS".to_vec();
    let req = request(
        "tls-1",
        ETH,
        Scheme::EcdsaSecp256k1,
        "m/0/7",
        &payload,
        vec![0, 1],
    );
    let out = sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 1, ETH)],
        &req,
        TIMEOUT,
    )
    .await
    .unwrap();
    let pk = svc
        .client()
        .await
        .get_public_key(pb::GetPublicKeyRequest {
            account_id: ETH.into(),
            derivation_path: "m/0/7".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let digest = Keccak256::digest(&payload);
    let sig = k256::ecdsa::Signature::from_slice(&out.result.signature).unwrap();
    VerifyingKey::from_sec1_bytes(&pk.public_key)
        .unwrap()
        .verify_prehash(&digest, &sig)
        .unwrap();

    // The same service refuses a plaintext caller: it only speaks TLS.
    let plaintext = sigil_cosigner::connect(
        Transport::native(),
        svc.addr.clone(),
        Duration::from_secs(5),
        None,
    )
    .await;
    match plaintext {
        Err(_) => {}
        Ok(ch) => {
            public_key(ch).await.unwrap_err();
        }
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_an_accepted_certificate_are_refused() {
    let c = ceremony();
    let pki = Pki::new();
    let svc = serve_tls(c.key_store(0).unwrap(), Limits::default(), &pki).await;

    // No client certificate.
    let mut anonymous = ClientConfig::builder_with_provider(sigil_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots(&pki.server_ca.cert_pem))
        .with_no_client_auth();
    anonymous.alpn_protocols = vec![b"h2".to_vec()];
    let anonymous = Arc::new(anonymous);
    let e = refusal(&svc, anonymous.clone()).await.unwrap_err();
    assert!(e.contains("CertificateRequired"), "{e}");
    if let Ok(tls) = handshake(&svc, anonymous).await
        && let Ok(ch) = channel_over(tls).await
    {
        let st = public_key(ch).await.unwrap_err();
        assert_ne!(st.code(), Code::Ok);
    }

    // A client certificate from a CA the service does not trust.
    let stranger = sigil_testkit::pki::Ca::new("stranger CA");
    let foreign = pki.client(&stranger, None);
    let e = refusal(&svc, foreign.config().unwrap()).await.unwrap_err();
    assert!(e.contains("UnknownCA"), "{e}");
    let err = match sigil_cosigner::connect(
        Transport::native(),
        svc.addr.clone(),
        Duration::from_secs(5),
        Some(&foreign),
    )
    .await
    {
        Err(e) => format!("{e:?}"),
        Ok(ch) => format!("{:?}", public_key(ch).await.unwrap_err()),
    };
    assert!(!err.is_empty());

    // The service goes on serving proper clients.
    public_key(svc.channel().await).await.unwrap();
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pinning_another_spki_refuses_the_server() {
    let c = ceremony();
    let pki = Pki::new();
    let svc = serve_tls(c.key_store(0).unwrap(), Limits::default(), &pki).await;
    let wrong = pki.client(&pki.client_ca, Some([0x5a; 32]));
    let e = sigil_cosigner::connect(
        Transport::native(),
        svc.addr.clone(),
        Duration::from_secs(5),
        Some(&wrong),
    )
    .await
    .unwrap_err();
    // The error and its sources, as `{:#}` of an anyhow error prints them.
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(chain.contains("is not the pinned one"), "{chain}");

    let right = pki.client(&pki.client_ca, Some(pki.bundle.spki_sha256()));
    let ch = sigil_cosigner::connect(
        Transport::native(),
        svc.addr.clone(),
        Duration::from_secs(5),
        Some(&right),
    )
    .await
    .unwrap();
    public_key(ch).await.unwrap();
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_carries_the_spki_hash_of_the_certificate_presented_in_the_handshake() {
    let c = ceremony();
    let pki = Pki::new();
    let svc = serve_tls(c.key_store(0).unwrap(), Limits::default(), &pki).await;
    let config = svc.tls.as_ref().unwrap().config().unwrap();
    let tls = handshake(&svc, config).await.unwrap();
    // The certificate the server presented on this very connection, hashed independently of
    // sigil-tls (x509-cert re-encodes the SubjectPublicKeyInfo).
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let cert = x509_cert::Certificate::from_der(presented.as_ref()).unwrap();
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let expected: [u8; 32] = Sha256::digest(&spki).into();
    assert_eq!(sigil_tls::spki_sha256_of(&presented).unwrap(), expected);

    let mut client =
        pb::sign_service_client::SignServiceClient::new(channel_over(tls).await.unwrap());
    let doc = client
        .attest(pb::AttestRequest {
            nonce: b"fresh-nonce".to_vec(),
            user_data: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let parsed = sigil_attestation::parse(&doc.document).unwrap();
    assert_eq!(parsed.user_data.as_deref(), Some(&expected[..]));
    assert_eq!(parsed.nonce.as_deref(), Some(&b"fresh-nonce"[..]));

    let st = client
        .attest(pb::AttestRequest {
            nonce: vec![],
            user_data: b"gateway-chosen".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("user_data must be empty"), "{st:?}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_handshake_blocks_no_one() {
    let c = ceremony();
    let pki = Pki::new();
    let handshake_timeout = Duration::from_millis(1500);
    let limits = Limits {
        handshake_timeout,
        max_handshakes: 4,
        ..Limits::default()
    };
    let svc = serve_tls(c.key_store(0).unwrap(), limits, &pki).await;
    // One connection says nothing; another sends the first bytes of a ClientHello and stops.
    let silent = Transport::native()
        .connect(&svc.addr, Duration::from_secs(5))
        .await
        .unwrap();
    let mut partial = Transport::native()
        .connect(&svc.addr, Duration::from_secs(5))
        .await
        .unwrap();
    partial
        .write_all(b"\x16\x03\x01\x02\x00\x01")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    public_key(svc.channel().await).await.unwrap();
    assert!(
        started.elapsed() < handshake_timeout / 2,
        "a proper client waited {:?}",
        started.elapsed()
    );
    // Both stalled connections are closed once their handshake time is up.
    for mut s in [silent, partial] {
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .expect("the service closes a stalled handshake")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    svc.stop().await;
}
