//! The KMS client without a KMS: credentials are checked before anything is sent, the AWS
//! endpoint insists on TLS (a plain HTTP peer fails the handshake), an absent KMS is a
//! transient error within the timeouts, and no secret appears in debug output.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use sigil_kms_client::{AwsCredentials, Endpoint, KmsClient, KmsConfig, KmsError};
use sigil_nsm::{DevRoot, ImageMeasurement, SimulatedNsm};
use sigil_recipient_cms::Zeroizing;
use sigil_transport::{Addr, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn creds(expires_at: Option<SystemTime>) -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: Zeroizing::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
        session_token: Some(Zeroizing::new("session-token-value".into())),
        expires_at,
    }
}

fn config(dial: Addr, endpoint: Endpoint) -> KmsConfig {
    KmsConfig {
        region: "eu-west-1".into(),
        dial,
        endpoint,
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(4),
    }
}

fn nsm() -> SimulatedNsm {
    SimulatedNsm::new(
        DevRoot::generate().unwrap(),
        &ImageMeasurement::of_bytes(b"enclave-app"),
        "i-0123456789abcdef0",
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn expired_credentials_fail_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    // A socket that would accept and record any connection.
    let l = tokio::net::UnixListener::bind(dir.path().join("kms.sock")).unwrap();
    let dial: Addr = format!("unix://{}", dir.path().join("kms.sock").display())
        .parse()
        .unwrap();
    let c = KmsClient::new(
        &config(
            dial,
            Endpoint::SimulationPlaintext {
                url: "http://kms.sim".into(),
            },
        ),
        Transport::native(),
        creds(Some(SystemTime::now() - Duration::from_secs(1))),
    )
    .unwrap();
    let e = c
        .attested_decrypt(&nsm(), Some("alias/x"), b"blob", &HashMap::new())
        .await
        .unwrap_err();
    assert!(matches!(e, KmsError::CredentialsExpired(_)), "{e}");
    assert!(!e.is_transient());
    let accepted = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
    assert!(
        accepted.is_err(),
        "no connection may be made with expired credentials"
    );
}

#[tokio::test]
async fn the_aws_endpoint_insists_on_tls() {
    // A plain-HTTP peer where KMS should be: the TLS handshake must fail; no request leaves
    // in the clear.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut first = vec![0u8; 5];
        let _ = s.read_exact(&mut first).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .await;
        first
    });
    let c = KmsClient::new(
        &config(Addr::tcp(([127, 0, 0, 1], port).into()), Endpoint::AwsTls),
        Transport::native(),
        creds(None),
    )
    .unwrap();
    let e = c
        .attested_decrypt(&nsm(), Some("alias/x"), b"blob", &HashMap::new())
        .await
        .unwrap_err();
    assert!(matches!(e, KmsError::Unreachable(_)), "{e}");
    // What reached the wire was a TLS ClientHello (record type 0x16), not an HTTP request.
    assert_eq!(seen.await.unwrap()[0], 0x16);
}

#[tokio::test]
async fn an_absent_kms_is_a_transient_error_within_the_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let dial: Addr = format!("unix://{}", dir.path().join("absent.sock").display())
        .parse()
        .unwrap();
    let c = KmsClient::new(
        &config(
            dial,
            Endpoint::SimulationPlaintext {
                url: "http://kms.sim".into(),
            },
        ),
        Transport::native(),
        creds(None),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let e = c
        .attested_decrypt(&nsm(), None, b"blob", &HashMap::new())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn configuration_errors_and_redaction() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let e = KmsClient::new(
            &config(
                "tcp://127.0.0.1:1".parse().unwrap(),
                Endpoint::SimulationPlaintext {
                    url: "https://kms.sim".into(),
                },
            ),
            Transport::native(),
            creds(None),
        )
        .unwrap_err();
        assert!(e.to_string().contains("must be http://"), "{e}");
    });
    let shown = format!("{:?}", creds(None));
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(
        !shown.contains("wJalr") && !shown.contains("session-token-value"),
        "{shown}"
    );
}
