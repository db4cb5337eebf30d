#![allow(clippy::unwrap_used, missing_docs)]
//! Real TLS 1.3 handshakes over Unix sockets between [`accept_tls`] and clients built from
//! [`ClientTls`] (or deliberately broken rustls clients): mutual authentication, ALPN, the SPKI
//! pin, refusals, and that silent connections neither block others nor live past the
//! handshake timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sigil_testkit::pki::{Ca, TestPki};
use sigil_tls::rustls::pki_types::ServerName;
use sigil_tls::rustls::{self, ClientConfig, RootCertStore};
use sigil_tls::tokio_rustls::TlsConnector;
use sigil_tls::{ClientTls, TlsBundle, accept_tls};
use sigil_transport::{Addr, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use zeroize::Zeroizing;

const NAME: &str = "signer.sigil.internal";

struct Pki {
    server_ca: Ca,
    client_ca: Ca,
    bundle: TlsBundle,
}

/// The shared test PKI ([`TestPki`]), with the server's bundle built here (sigil-testkit
/// cannot depend on sigil-tls).
fn pki() -> Pki {
    let TestPki {
        server_ca,
        server: leaf,
        client_ca,
        ..
    } = TestPki::new(NAME);
    let bundle = TlsBundle::from_pem(
        Zeroizing::new(leaf.key_pem),
        leaf.cert_pem,
        client_ca.cert_pem.clone(),
    )
    .unwrap();
    Pki {
        server_ca,
        client_ca,
        bundle,
    }
}

fn client_tls(pki: &Pki, issuer: &Ca, pin: Option<[u8; 32]>) -> ClientTls {
    let me = issuer.client("gateway-1");
    ClientTls {
        ca_pem: pki.server_ca.cert_pem.clone(),
        cert_pem: me.cert_pem,
        key_pem: Zeroizing::new(me.key_pem),
        server_name: NAME.into(),
        pin_spki_sha256: pin,
    }
}

struct Server {
    addr: Addr,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

/// An echo server behind `accept_tls`: each established connection echoes 5 bytes.
async fn echo_server(pki: &Pki, timeout: Duration, max: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let addr: Addr = format!("unix://{}", dir.path().join("tls.sock").display())
        .parse()
        .unwrap();
    let listener = Transport::native().bind(&addr).await.unwrap();
    let mut incoming = accept_tls(listener, pki.bundle.server_config().unwrap(), timeout, max);
    let task = tokio::spawn(async move {
        while let Some(conn) = incoming.next().await {
            let mut tls = conn.unwrap();
            tokio::spawn(async move {
                let mut b = [0u8; 5];
                if tls.read_exact(&mut b).await.is_ok() {
                    let _ = tls.write_all(&b).await;
                    let _ = tls.flush().await;
                }
            });
        }
    });
    Server {
        addr,
        _dir: dir,
        task,
    }
}

async fn dial(
    server: &Server,
    config: Arc<ClientConfig>,
    name: &str,
) -> std::io::Result<sigil_tls::tokio_rustls::client::TlsStream<sigil_transport::Stream>> {
    let stream = Transport::native()
        .connect(&server.addr, Duration::from_secs(5))
        .await
        .unwrap();
    TlsConnector::from(config)
        .connect(ServerName::try_from(name.to_owned()).unwrap(), stream)
        .await
}

/// Handshake, then one echo; the error of whichever step fails.
async fn echo(server: &Server, config: Arc<ClientConfig>) -> Result<(), String> {
    let mut tls = dial(server, config, NAME)
        .await
        .map_err(|e| e.to_string())?;
    // A refusing server may have closed already (a broken pipe here); its alert is then
    // waiting to be read.
    let _ = tls.write_all(b"hello").await;
    let _ = tls.flush().await;
    let mut b = [0u8; 5];
    tls.read_exact(&mut b).await.map_err(|e| e.to_string())?;
    assert_eq!(&b, b"hello");
    Ok(())
}

#[tokio::test]
async fn mutual_tls_1_3_with_alpn_h2_and_the_bundles_key() {
    let pki = pki();
    let server = echo_server(&pki, Duration::from_secs(5), 8).await;
    let config = client_tls(&pki, &pki.client_ca, None).config().unwrap();
    let mut tls = dial(&server, config.clone(), NAME).await.unwrap();
    let (_, conn) = tls.get_ref();
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let presented = &conn.peer_certificates().unwrap()[0];
    assert_eq!(
        sigil_tls::spki_sha256_of(presented).unwrap(),
        pki.bundle.spki_sha256()
    );
    tls.write_all(b"hello").await.unwrap();
    let mut b = [0u8; 5];
    tls.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"hello");
    server.task.abort();
}

fn roots(pem: &str) -> Arc<RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut store = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        store.add(c.unwrap()).unwrap();
    }
    Arc::new(store)
}

#[tokio::test]
async fn clients_without_an_accepted_certificate_are_refused() {
    let pki = pki();
    let server = echo_server(&pki, Duration::from_secs(5), 8).await;

    // No client certificate at all.
    let mut anonymous = ClientConfig::builder_with_provider(sigil_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots(&pki.server_ca.cert_pem))
        .with_no_client_auth();
    anonymous.alpn_protocols = vec![b"h2".to_vec()];
    let e = echo(&server, Arc::new(anonymous)).await.unwrap_err();
    assert!(e.contains("CertificateRequired"), "{e}");

    // A certificate from a CA the server does not trust.
    let stranger = Ca::new("stranger CA");
    let config = client_tls(&pki, &stranger, None).config().unwrap();
    let e = echo(&server, config).await.unwrap_err();
    assert!(e.contains("UnknownCA"), "{e}");

    // A certificate the server's own CA issued for a server, not a client.
    let mut wrong_usage = client_tls(&pki, &pki.client_ca, None);
    let server_leaf = pki.client_ca.server("not-a-client.example");
    wrong_usage.cert_pem = server_leaf.cert_pem;
    wrong_usage.key_pem = Zeroizing::new(server_leaf.key_pem);
    let e = echo(&server, wrong_usage.config().unwrap())
        .await
        .unwrap_err();
    assert!(e.contains("fatal alert"), "{e}");

    // The server keeps serving proper clients.
    let good = client_tls(&pki, &pki.client_ca, None).config().unwrap();
    echo(&server, good).await.unwrap();
    server.task.abort();
}

#[tokio::test]
async fn the_client_verifies_the_server_name_ca_and_pin() {
    let pki = pki();
    let server = echo_server(&pki, Duration::from_secs(5), 8).await;

    let pinned = client_tls(&pki, &pki.client_ca, Some(pki.bundle.spki_sha256()));
    echo(&server, pinned.config().unwrap()).await.unwrap();

    let wrong_pin = client_tls(&pki, &pki.client_ca, Some([7; 32]));
    let e = echo(&server, wrong_pin.config().unwrap())
        .await
        .unwrap_err();
    assert!(e.contains("is not the pinned one"), "{e}");
    assert!(e.contains(&hex::encode(pki.bundle.spki_sha256())), "{e}");

    let config = client_tls(&pki, &pki.client_ca, None).config().unwrap();
    let e = dial(&server, config, "other.sigil.internal")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid for name"), "{e}");

    let mut other_ca = client_tls(&pki, &pki.client_ca, None);
    other_ca.ca_pem = Ca::new("impostor root").cert_pem;
    let e = echo(&server, other_ca.config().unwrap()).await.unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    server.task.abort();
}

#[tokio::test]
async fn silent_connections_neither_block_others_nor_outlive_the_timeout() {
    let pki = pki();
    let timeout = Duration::from_millis(800);
    let server = echo_server(&pki, timeout, 4).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(
            Transport::native()
                .connect(&server.addr, Duration::from_secs(5))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let good = client_tls(&pki, &pki.client_ca, None).config().unwrap();
    echo(&server, good).await.unwrap();
    assert!(
        started.elapsed() < timeout / 2,
        "a proper client waited {:?} behind silent ones",
        started.elapsed()
    );
    // Each silent connection is closed by the server once its handshake time is up.
    for mut s in silent {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .expect("the server closes a silent connection")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    server.task.abort();
}

#[tokio::test]
async fn at_most_max_handshakes_run_at_once() {
    let pki = pki();
    let timeout = Duration::from_millis(600);
    let server = echo_server(&pki, timeout, 1).await;
    let _silent = Transport::native()
        .connect(&server.addr, Duration::from_secs(5))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let good = client_tls(&pki, &pki.client_ca, None).config().unwrap();
    echo(&server, good).await.unwrap();
    // The only handshake slot was taken until the silent connection timed out.
    assert!(
        started.elapsed() >= timeout / 2,
        "the cap did not hold: {:?}",
        started.elapsed()
    );
    server.task.abort();
}

#[tokio::test]
async fn dropping_the_incoming_stream_closes_the_listener() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls.sock");
    let addr: Addr = format!("unix://{}", path.display()).parse().unwrap();
    let listener = Transport::native().bind(&addr).await.unwrap();
    let incoming = accept_tls(
        listener,
        pki.bundle.server_config().unwrap(),
        Duration::from_secs(5),
        4,
    );
    assert!(path.exists());
    drop(incoming);
    for _ in 0..100 {
        if !path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the listener outlived its TlsIncoming");
}

#[test]
fn client_tls_debug_redacts_the_key_and_from_files_names_files() {
    let pki = pki();
    let c = client_tls(&pki, &pki.client_ca, None);
    let debug = format!("{c:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), &c.ca_pem).unwrap();
    std::fs::write(d.join("cert.pem"), &c.cert_pem).unwrap();
    std::fs::write(d.join("key.pem"), &*c.key_pem).unwrap();
    std::fs::write(d.join("other.pem"), pki.client_ca.client("x").key_pem).unwrap();
    ClientTls::from_files(
        &d.join("ca.pem"),
        &d.join("cert.pem"),
        &d.join("key.pem"),
        NAME,
        None,
    )
    .unwrap();
    let e = ClientTls::from_files(
        &d.join("ca.pem"),
        &d.join("cert.pem"),
        &d.join("other.pem"),
        NAME,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("other.pem") && e.contains("does not match"),
        "{e}"
    );
    let e = ClientTls::from_files(
        &d.join("ca.pem"),
        &d.join("cert.pem"),
        &d.join("key.pem"),
        "not a name!",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a valid DNS name"), "{e}");
}
