#![allow(clippy::unwrap_used, missing_docs)]
//! The SignService over a Unix socket, end to end with the co-signer client: signatures checked
//! by independent verifiers (k256, ed25519-dalek), HD paths, session control (cap, timeouts,
//! replay, idempotent retries, dropped streams) and every bad-input case, after each of which
//! the service keeps serving.

mod common;

use std::time::Duration;

use common::*;
use k256::ecdsa::{RecoveryId, VerifyingKey, signature::hazmat::PrehashVerifier};
use sha3::{Digest, Keccak256};
use sigil_mpc::Scheme;
use sigil_proto::signer::v1 as pb;
use sigil_signer::Limits;
use tonic::Code;

const TIMEOUT: Duration = Duration::from_secs(120);

fn eth_address_of(vk: &VerifyingKey) -> String {
    let point = vk.to_encoded_point(false);
    let h = Keccak256::digest(&point.as_bytes()[1..]);
    format!("0x{}", hex::encode(&h[12..]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_signatures_verify_independently_and_recover_the_summary_address() {
    let c = ceremony();
    let svc = serve(c.key_store(0).unwrap(), Limits::default()).await;
    let payload = b"\xec\x09\x85\x04\xa8\x17\xc8\x00\x82\x52\x08\x94 an Ethereum tx".to_vec();

    // Root path, co-signer is party 2 (parties 0 and 2 of 2-of-3).
    let req = request(
        "eth-root",
        ETH,
        Scheme::EcdsaSecp256k1,
        "m",
        &payload,
        vec![0, 2],
    );
    let out = sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 2, ETH)],
        &req,
        TIMEOUT,
    )
    .await
    .unwrap();
    let r = &out.result;
    let digest = Keccak256::digest(&payload);
    assert_eq!(r.digest, digest.as_slice());
    let sig = k256::ecdsa::Signature::from_slice(&r.signature).unwrap();
    assert!(sig.normalize_s().is_none(), "low s");
    let recovered = VerifyingKey::recover_from_prehash(
        &digest,
        &sig,
        RecoveryId::from_byte(r.recovery_id.unwrap() as u8).unwrap(),
    )
    .unwrap();
    recovered.verify_prehash(&digest, &sig).unwrap();
    let summary = c
        .summary
        .accounts
        .iter()
        .find(|a| a.account_id == ETH)
        .unwrap();
    assert_eq!(
        eth_address_of(&recovered),
        summary.ethereum_address.clone().unwrap().to_lowercase()
    );
    assert_eq!(hex::encode(&r.public_key), summary.public_key);

    // HD: m/0/7 verifies under GetPublicKey(m/0/7) and not under the root key.
    let req = request(
        "eth-hd",
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
    let mut client = svc.client().await;
    let child = client
        .get_public_key(pb::GetPublicKeyRequest {
            account_id: ETH.into(),
            derivation_path: "m/0/7".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let root = client
        .get_public_key(pb::GetPublicKeyRequest {
            account_id: ETH.into(),
            derivation_path: "m".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        root.ethereum_address,
        summary.ethereum_address.clone().unwrap()
    );
    assert_eq!(
        (child.threshold, child.parties, child.party_index),
        (2, 3, 0)
    );
    let sig = k256::ecdsa::Signature::from_slice(&out.result.signature).unwrap();
    VerifyingKey::from_sec1_bytes(&child.public_key)
        .unwrap()
        .verify_prehash(&digest, &sig)
        .unwrap();
    assert!(
        VerifyingKey::from_sec1_bytes(&root.public_key)
            .unwrap()
            .verify_prehash(&digest, &sig)
            .is_err()
    );
    assert_eq!(out.result.public_key, child.public_key);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_signatures_verify_with_dalek() {
    let c = ceremony();
    let svc = serve(c.key_store(0).unwrap(), Limits::default()).await;
    let msg = b"solana message bytes".to_vec();
    let req = request("sol-1", SOL, Scheme::Ed25519, "m", &msg, vec![0, 1]);
    let out = sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 1, SOL)],
        &req,
        TIMEOUT,
    )
    .await
    .unwrap();
    let summary = c
        .summary
        .accounts
        .iter()
        .find(|a| a.account_id == SOL)
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        &hex::decode(&summary.public_key)
            .unwrap()
            .try_into()
            .unwrap(),
    )
    .unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&out.result.signature).unwrap();
    vk.verify_strict(&msg, &sig).unwrap();
    assert_eq!(out.result.recovery_id, None);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_session_gets_its_result_and_a_reused_id_is_refused() {
    let c = ceremony();
    let svc = serve(c.key_store(0).unwrap(), Limits::default()).await;
    let req = request("retry-1", SOL, Scheme::Ed25519, "m", b"pay bob", vec![0, 1]);
    let first = sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 1, SOL)],
        &req,
        TIMEOUT,
    )
    .await
    .unwrap();
    assert!(!first.result.cached);
    let again = sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 1, SOL)],
        &req,
        TIMEOUT,
    )
    .await
    .unwrap();
    assert!(again.result.cached);
    assert_eq!(again.result.signature, first.result.signature);

    let mut other = req.clone();
    other.payload = b"pay mallory".to_vec();
    let err = sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 1, SOL)],
        &other,
        TIMEOUT,
    )
    .await
    .unwrap_err();
    let sigil_cosigner::CosignError::Service(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    svc.stop().await;
}

/// Waits (up to 5 s) until no engine thread is running.
async fn wait_idle(svc: &Running) {
    for _ in 0..100 {
        if svc.service.running_sessions() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a finished session left its engine running");
}

async fn expect_status(svc: &Running, first: pb::SignRequest, code: Code, needle: &str) {
    let mut client = svc.client().await;
    let status = match RawStream::open(&mut client, first).await {
        Err(s) => s,
        Ok(mut s) => s.final_status().await.unwrap_err(),
    };
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "{:?} lacks {needle:?}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_end_their_session_with_a_clear_status_and_the_service_keeps_serving() {
    use pb::EcdsaHash as H;
    use pb::Scheme as S;
    let c = ceremony();
    let svc = serve(c.key_store(0).unwrap(), Limits::default()).await;
    let cases: Vec<(pb::SignRequest, Code, &str)> = vec![
        (
            start(
                "b1",
                "nope",
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m",
                b"x",
                vec![0, 1],
            ),
            Code::NotFound,
            "unknown account",
        ),
        (
            start(
                "b2",
                ETH,
                S::Unspecified,
                H::Keccak256,
                "m",
                b"x",
                vec![0, 1],
            ),
            Code::InvalidArgument,
            "scheme is not set",
        ),
        (
            pb::SignRequest {
                msg: Some(pb::sign_request::Msg::Start(pb::Start {
                    scheme: 9,
                    ..pb::Start::default()
                })),
            },
            Code::InvalidArgument,
            "session_id",
        ),
        (
            start("b3", ETH, S::Ed25519, H::Unspecified, "m", b"x", vec![0, 1]),
            Code::InvalidArgument,
            "is a ecdsa-secp256k1 key",
        ),
        (
            start(
                "b3b",
                ETH,
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m",
                b"x",
                vec![1, 2],
            ),
            Code::InvalidArgument,
            "not in the party list",
        ),
        (
            start(
                "b4",
                ETH,
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m",
                b"x",
                vec![0, 7],
            ),
            Code::InvalidArgument,
            "out of range",
        ),
        (
            start(
                "b5",
                ETH,
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m",
                b"x",
                vec![0, 1, 2],
            ),
            Code::InvalidArgument,
            "exactly 2 parties",
        ),
        (
            start(
                "b6",
                ETH,
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m/44'/60'",
                b"x",
                vec![0, 1],
            ),
            Code::InvalidArgument,
            "hardened",
        ),
        (
            start(
                "b7",
                SOL,
                S::Ed25519,
                H::Unspecified,
                "m/1",
                b"x",
                vec![0, 1],
            ),
            Code::InvalidArgument,
            "root derivation path",
        ),
        (
            start(
                "b8",
                ETH,
                S::EcdsaSecp256k1,
                H::Unspecified,
                "m",
                b"x",
                vec![0, 1],
            ),
            Code::InvalidArgument,
            "ecdsa_hash must be set",
        ),
        (
            start(
                "b9",
                ETH,
                S::EcdsaSecp256k1,
                H::Prehashed,
                "m",
                b"short",
                vec![0, 1],
            ),
            Code::InvalidArgument,
            "32 bytes",
        ),
        (
            start(
                "has space",
                ETH,
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m",
                b"x",
                vec![0, 1],
            ),
            Code::InvalidArgument,
            "session_id",
        ),
        (
            start(
                "b10",
                ETH,
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m",
                b"x",
                vec![1, 0],
            ),
            Code::InvalidArgument,
            "strictly increasing",
        ),
        (
            pb::SignRequest {
                msg: Some(pb::sign_request::Msg::Protocol(
                    pb::ProtocolMessage::default(),
                )),
            },
            Code::InvalidArgument,
            "must be Start",
        ),
        (
            start(
                "b11",
                ETH,
                S::EcdsaSecp256k1,
                H::Keccak256,
                "m",
                &vec![0u8; 3 << 20],
                vec![0, 1],
            ),
            Code::OutOfRange,
            "",
        ),
    ];
    for (first, code, needle) in cases {
        expect_status(&svc, first, code, needle).await;
    }

    // Mid-session: a garbled protocol message, an oversized one, a second Start, a message
    // claiming to be from the service itself.
    let mut client = svc.client().await;
    let mut s = RawStream::open(
        &mut client,
        start(
            "g1",
            ETH,
            S::EcdsaSecp256k1,
            H::Keccak256,
            "m",
            b"x",
            vec![0, 1],
        ),
    )
    .await
    .unwrap();
    s.send_protocol(1, None, b"{\"not\": \"cggmp\"}".to_vec())
        .await;
    let st = s.final_status().await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("bad message from party 1"), "{st:?}");

    let mut s = RawStream::open(
        &mut client,
        start("g2", SOL, S::Ed25519, H::Unspecified, "m", b"x", vec![0, 1]),
    )
    .await
    .unwrap();
    s.send_protocol(1, None, vec![1; 300 * 1024]).await;
    let st = s.final_status().await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("more than"), "{st:?}");

    let mut s = RawStream::open(
        &mut client,
        start("g3", SOL, S::Ed25519, H::Unspecified, "m", b"x", vec![0, 1]),
    )
    .await
    .unwrap();
    s.tx.send(start(
        "g3",
        SOL,
        S::Ed25519,
        H::Unspecified,
        "m",
        b"x",
        vec![0, 1],
    ))
    .await
    .unwrap();
    let st = s.final_status().await.unwrap_err();
    assert!(
        st.message().contains("Start may only be the first"),
        "{st:?}"
    );

    let mut s = RawStream::open(
        &mut client,
        start("g4", SOL, S::Ed25519, H::Unspecified, "m", b"x", vec![0, 1]),
    )
    .await
    .unwrap();
    s.send_protocol(0, None, vec![1; 40]).await;
    let st = s.final_status().await.unwrap_err();
    assert!(
        st.message().contains("claims to come from this signer"),
        "{st:?}"
    );

    // Out of order: a FROST share before the commitments.
    let mut s = RawStream::open(
        &mut client,
        start("g5", SOL, S::Ed25519, H::Unspecified, "m", b"x", vec![0, 1]),
    )
    .await
    .unwrap();
    s.send_protocol(1, None, [vec![7u8], vec![0; 32], vec![0; 40]].concat())
        .await;
    let st = s.final_status().await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");

    // After all that, the service still signs.
    let req = request(
        "after-bad",
        SOL,
        Scheme::Ed25519,
        "m",
        b"still alive",
        vec![0, 1],
    );
    sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 1, SOL)],
        &req,
        TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(svc.service.running_sessions(), 0);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_is_refused_at_once_and_dropped_streams_free_their_slot() {
    let c = ceremony();
    let limits = Limits {
        max_sessions: 1,
        ..Limits::default()
    };
    let svc = serve(c.key_store(0).unwrap(), limits).await;
    let mut client = svc.client().await;
    use pb::EcdsaHash as H;
    use pb::Scheme as S;

    // Session 1 starts ECDSA and receives the service's first message, then stalls.
    let mut first = RawStream::open(
        &mut client,
        start(
            "cap-1",
            ETH,
            S::EcdsaSecp256k1,
            H::Keccak256,
            "m",
            b"x",
            vec![0, 1],
        ),
    )
    .await
    .unwrap();
    let m = first.rx.message().await.unwrap().unwrap();
    assert!(matches!(m.msg, Some(pb::sign_response::Msg::Protocol(_))));
    assert_eq!(svc.service.running_sessions(), 1);

    let t = std::time::Instant::now();
    expect_status(
        &svc,
        start(
            "cap-2",
            SOL,
            S::Ed25519,
            H::Unspecified,
            "m",
            b"x",
            vec![0, 1],
        ),
        Code::ResourceExhausted,
        "at once",
    )
    .await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "refused without waiting"
    );

    // The caller drops the stream mid-session: the engine thread ends and the slot frees.
    drop(first);
    wait_idle(&svc).await;
    // cap-2 was refused for capacity, not burned: its id still works.
    let req = request("cap-2", SOL, Scheme::Ed25519, "m", b"x", vec![0, 1]);
    sigil_cosigner::cosign(
        svc.channel().await,
        vec![local_key(&c, 1, SOL)],
        &req,
        TIMEOUT,
    )
    .await
    .unwrap();
    // cap-1 was used (and failed): refused.
    expect_status(
        &svc,
        start(
            "cap-1",
            ETH,
            S::EcdsaSecp256k1,
            H::Keccak256,
            "m",
            b"x",
            vec![0, 1],
        ),
        Code::AlreadyExists,
        "failed",
    )
    .await;
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_callers_time_out() {
    let c = ceremony();
    let limits = Limits {
        message_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let svc = serve(c.key_store(0).unwrap(), limits).await;
    let mut client = svc.client().await;
    let mut s = RawStream::open(
        &mut client,
        start(
            "quiet",
            SOL,
            pb::Scheme::Ed25519,
            pb::EcdsaHash::Unspecified,
            "m",
            b"x",
            vec![0, 1],
        ),
    )
    .await
    .unwrap();
    let st = s.final_status().await.unwrap_err();
    assert_eq!(st.code(), Code::DeadlineExceeded, "{st:?}");
    wait_idle(&svc).await;
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_health_and_reflection() {
    let c = ceremony();
    let svc = serve(c.key_store(0).unwrap(), Limits::default()).await;
    let mut client = svc.client().await;
    let doc = client
        .attest(pb::AttestRequest {
            nonce: b"n-123".to_vec(),
            user_data: b"gateway".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(doc.simulated);
    let parsed = sigil_attestation::parse(&doc.document).unwrap();
    assert_eq!(parsed.nonce.as_deref(), Some(&b"n-123"[..]));
    assert_eq!(parsed.user_data.as_deref(), Some(&b"gateway"[..]));
    let st = client
        .attest(pb::AttestRequest {
            nonce: vec![0; 2000],
            user_data: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);

    let mut health = tonic_health::pb::health_client::HealthClient::new(svc.channel().await);
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "sigil.signer.v1.SignService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut refl = ServerReflectionClient::new(svc.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        resp.message().await.unwrap().unwrap().message_response
    else {
        panic!()
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"sigil.signer.v1.SignService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    svc.stop().await;
}
