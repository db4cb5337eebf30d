//! enclave-app's boot end to end, as a process, in simulation: the attested KMS unwrap
//! against kms-sim with a policy bound to the binary's PCR0, shares from a key-gen ceremony
//! sealed with the `age` CLI, a SignService that signs (checked by k256 and ed25519-dalek),
//! and every failed step reported to the parent with a non-zero exit. The logs and reports of
//! every boot are scanned for the identity, the share secrets and the AWS secret key.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use sigil_fake_parent::{Appliance, Outcome, unix_ms};
use sigil_fixtures::{ETH, SOL};
use sigil_mpc::Scheme;
use sigil_proto::signer::v1 as spb;
use sigil_provisioning::{IDENTITY_FILE, KEY_SHARES_FILE};
use sigil_testkit::age_keygen;
use sigil_testkit::pki::{Ca, TestPki};
use sigil_tls::ClientTls;
use sigil_transport::Transport;

const TIMEOUT: Duration = Duration::from_secs(120);

fn sha256_file(a: &Appliance, name: &str) -> String {
    hex::encode(Sha256::digest(
        std::fs::read(a.bundle_dir.join(name)).unwrap(),
    ))
}

/// A development PKI (the shared [`TestPki`]): the SignService's CA and certificate, the
/// gateways' client CA.
struct Pki(TestPki);

impl Pki {
    fn new() -> Pki {
        Pki(sigil_fixtures::tls::pki())
    }

    /// The sealed bundle's plaintext.
    fn bundle_json(&self) -> Vec<u8> {
        sigil_fixtures::tls::bundle(&self.0).to_json().to_vec()
    }

    /// A gateway with a certificate from `ca`, pinning `pin`.
    fn client(&self, ca: &Ca, pin: Option<[u8; 32]>) -> ClientTls {
        sigil_fixtures::tls::client(&self.0, ca, "sign-gateway", pin)
    }
}

async fn channel(
    a: &Appliance,
    tls: Option<&ClientTls>,
) -> Result<tonic::transport::Channel, sigil_cosigner::ConnectError> {
    sigil_cosigner::connect(
        Transport::simulated(&a.sim_dir, 3),
        "vsock://16:50051".parse().unwrap(),
        Duration::from_secs(5),
        tls,
    )
    .await
}

async fn cosign(
    a: &Appliance,
    tls: Option<&ClientTls>,
    account: &str,
    scheme: Scheme,
    payload: &[u8],
) -> sigil_cosigner::Outcome {
    let channel = channel(a, tls).await.unwrap();
    let request = sigil_cosigner::Request {
        session_id: sigil_cosigner::random_session_id(),
        account_id: account.into(),
        path: "m".parse().unwrap(),
        scheme,
        ecdsa_hash: spb::EcdsaHash::Keccak256,
        payload: payload.to_vec(),
        parties: vec![0, 1],
    };
    let local = a
        .ceremony
        .as_ref()
        .unwrap()
        .key_store(1)
        .unwrap()
        .get(account)
        .unwrap()
        .clone();
    sigil_cosigner::cosign(channel, vec![local], &request, TIMEOUT)
        .await
        .unwrap()
}

fn summary_key(a: &Appliance, account: &str) -> Vec<u8> {
    let s = a
        .ceremony
        .as_ref()
        .unwrap()
        .summary
        .accounts
        .iter()
        .find(|s| s.account_id == account)
        .unwrap();
    hex::decode(&s.public_key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boots_with_the_attested_unwrap_reports_and_signs() {
    let mut a =
        Appliance::with_demo_shares(std::path::Path::new(env!("CARGO_BIN_EXE_enclave-app"))).await;
    let pki = Pki::new();
    a.seal_tls(&pki.bundle_json());
    let mut running = a.boot(&[]).await;
    let r = running.report.clone();

    // The report: evidence, digests, counts, timings, resources.
    assert!(r.simulated);
    assert_eq!(r.failed_step, "");
    assert_eq!(r.accounts.get("ecdsa-secp256k1"), Some(&2));
    assert_eq!(r.accounts.get("ed25519"), Some(&1));
    assert_eq!(r.identity_ciphertext_sha256, sha256_file(&a, IDENTITY_FILE));
    assert_eq!(
        r.key_shares_ciphertext_sha256,
        sha256_file(&a, KEY_SHARES_FILE)
    );
    assert_eq!(
        r.key_shares_plaintext_sha256,
        hex::encode(Sha256::digest(&a.shares_plaintext))
    );
    assert!(!r.kms_request_id.is_empty());
    assert!(r.kms_key_arn.contains(&a.key_id), "{}", r.kms_key_arn);
    assert_eq!(r.kms_attempts, 1);
    let doc = sigil_attestation::parse(&r.attestation_document).unwrap();
    assert_eq!(hex::encode(&doc.pcrs[&0]), a.enclave_pcr0);
    assert!(doc.public_key.is_some(), "the document carries the RSA key");
    let steps: Vec<&str> = r.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "nsm",
            "harden",
            "fetch_bundle",
            "runtime_config",
            "kms_decrypt",
            "decrypt_shares",
            "validate_shares",
            "tls",
            "listen"
        ]
    );
    let res = r.resources.unwrap();
    // Hardened: no core files (the running process's own limits).
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", running.child.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(core.split_whitespace().nth(4), Some("0"), "{core}");
    assert_eq!(core.split_whitespace().nth(5), Some("0"), "{core}");
    assert!(res.cpus >= 1 && res.rss_bytes > 0 && res.peak_rss_bytes >= res.rss_bytes);

    // The TLS key is the one sealed, and Attest binds it: a gateway pins what is attested.
    let served = sigil_tls::spki_sha256_of(&pki.0.server.cert_der.clone().into()).unwrap();
    assert_eq!(r.tls_spki_sha256, hex::encode(served));
    let gateway = pki.client(&pki.0.client_ca, Some(served));
    let attested = spb::sign_service_client::SignServiceClient::new(
        channel(&a, Some(&gateway)).await.unwrap(),
    )
    .attest(spb::AttestRequest {
        nonce: b"gateway nonce".to_vec(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    let doc = sigil_attestation::parse(&attested.document).unwrap();
    assert_eq!(doc.user_data.as_deref(), Some(&served[..]));
    assert_eq!(doc.nonce.as_deref(), Some(&b"gateway nonce"[..]));
    assert_eq!(hex::encode(&doc.pcrs[&0]), a.enclave_pcr0);

    // Callers without the right certificate, or pinning another key, get nowhere.
    let stranger = pki.client(&Ca::new("another CA"), None);
    let refused = match channel(&a, Some(&stranger)).await {
        Err(_) => true,
        Ok(ch) => spb::sign_service_client::SignServiceClient::new(ch)
            .attest(spb::AttestRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a client certificate from another CA was accepted");
    let mispinned = pki.client(&pki.0.client_ca, Some([7; 32]));
    assert!(channel(&a, Some(&mispinned)).await.is_err());
    assert!(
        channel(&a, None).await.is_err()
            || spb::sign_service_client::SignServiceClient::new(channel(&a, None).await.unwrap())
                .attest(spb::AttestRequest::default())
                .await
                .is_err(),
        "plaintext gRPC was served"
    );

    // Signatures through the served SignService, checked by independent verifiers.
    let payload = b"an Ethereum transaction, RLP-encoded".to_vec();
    let out = cosign(&a, Some(&gateway), ETH, Scheme::EcdsaSecp256k1, &payload).await;
    let digest = <sha3::Keccak256 as sha3::Digest>::digest(&payload);
    let sig = k256::ecdsa::Signature::from_slice(&out.result.signature).unwrap();
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    k256::ecdsa::VerifyingKey::from_sec1_bytes(&summary_key(&a, ETH))
        .unwrap()
        .verify_prehash(&digest, &sig)
        .unwrap();
    let msg = b"a Solana message".to_vec();
    let out = cosign(&a, Some(&gateway), SOL, Scheme::Ed25519, &msg).await;
    ed25519_dalek::VerifyingKey::from_bytes(&summary_key(&a, SOL).try_into().unwrap())
        .unwrap()
        .verify_strict(
            &msg,
            &ed25519_dalek::Signature::from_slice(&out.result.signature).unwrap(),
        )
        .unwrap();

    // SIGTERM: a clean exit.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let s = running.child.wait().unwrap();
        (s, running)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "{:?}", status.0);
    a.collect(status.1);
    let channel = a.channel.lock().unwrap().clone();
    for event in ["boot_step_done", "boot_complete", "serving", "shutdown"] {
        assert!(
            channel.iter().any(|l| l.contains(&format!("\"{event}\""))),
            "{event} on the log channel"
        );
    }
    assert!(channel.iter().all(|l| l.contains("\"source\":\"enclave\"")));
    a.assert_no_secret_logged();
}

/// Boots that must fail, one after the other on one appliance, each restored afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_step_is_reported_with_a_reason_and_a_non_zero_exit() {
    let mut a =
        Appliance::with_demo_shares(std::path::Path::new(env!("CARGO_BIN_EXE_enclave-app"))).await;
    let good_shares = a.shares_ciphertext();
    let identity = a.identity.clone();

    let expect = |o: &Outcome, step: &str, needle: &str| {
        assert_eq!(o.exit, Some(1), "exit code; stderr: {}", o.stderr);
        let r = o
            .report
            .as_ref()
            .unwrap_or_else(|| panic!("no boot report; stderr: {}", o.stderr));
        assert!(!r.ok);
        assert_eq!(r.failed_step, step, "reason: {}", r.reason);
        assert!(
            r.reason.contains(needle),
            "{step}: {:?} should mention {needle:?}",
            r.reason
        );
        assert!(
            o.stderr
                .contains(&format!("enclave-app: boot step {step}: ")),
            "{}",
            o.stderr
        );
    };

    // A key policy for another image: KMS refuses this enclave's attestation.
    a.set_policy(&"ab".repeat(48)).await;
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "kms_decrypt", "AccessDenied");
    assert_eq!(o.report.as_ref().unwrap().kms_attempts, 1, "not retried");
    a.set_policy(&a.enclave_pcr0.clone()).await;

    // A declared image other than the binary: its PCR0 does not match the policy either.
    let other = a.dir.path().join("other-image");
    std::fs::write(&other, b"a rebuilt enclave image").unwrap();
    let o = a
        .boot_to_failure(&[
            "--insecure-plaintext-grpc",
            "--sim-image",
            other.to_str().unwrap(),
        ])
        .await;
    expect(&o, "kms_decrypt", "AccessDenied");

    // KMS releases an identity that is not the one the shares are sealed to.
    let (wrong, _) = age_keygen(a.dir.path(), "wrong.txt");
    a.wrap_identity(&wrong).await;
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "decrypt_shares", "service_key_shares.json.age");
    a.wrap_identity(&identity).await;

    // Corrupted and truncated ciphertext.
    let mut corrupt = good_shares.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x40;
    a.write_shares_ciphertext(&corrupt);
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "decrypt_shares", "service_key_shares.json.age");
    a.write_shares_ciphertext(&good_shares[..good_shares.len() - 100]);
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "decrypt_shares", "service_key_shares.json.age");

    // Malformed JSON, and a share that does not match its public key.
    a.seal_shares(br#"{"format": "sigil-key-shares", "version": "#);
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "validate_shares", "service_key_shares.json");
    let mut file: serde_json::Value = serde_json::from_slice(&a.shares_plaintext).unwrap();
    let eth = file["accounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|x| x["account_id"] == ETH)
        .unwrap();
    // The secp256k1 generator: a valid point, but not this account's key.
    eth["public_key"] = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798".into();
    a.seal_shares(&serde_json::to_vec(&file).unwrap());
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "validate_shares", ETH);
    a.write_shares_ciphertext(&good_shares);

    // Expired credentials: refused before anything is sent.
    let good_credentials = a.credentials.clone();
    a.credentials.expiration_unix_ms = unix_ms(SystemTime::now() - Duration::from_secs(60));
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "kms_decrypt", "expired");
    a.credentials = good_credentials;

    // No TLS material and no explicit plaintext flag: refused.
    let o = a.boot_to_failure(&[]).await;
    expect(&o, "tls", "service_tls.json.age");

    // A sealed TLS bundle that is not one.
    a.seal_tls(br#"{"format":"sigil-tls-bundle","version":1}"#);
    let o = a.boot_to_failure(&[]).await;
    expect(&o, "tls", "service_tls.json.age");
    std::fs::remove_file(a.bundle_dir.join(sigil_provisioning::TLS_BUNDLE_FILE)).unwrap();

    // KMS down: retried with backoff, then a clear failure within the deadline.
    a.kms.stop();
    let o = a.boot_to_failure(&["--insecure-plaintext-grpc"]).await;
    expect(&o, "kms_decrypt", "gave up");
    assert!(o.report.as_ref().unwrap().kms_attempts > 1);

    // Every failure also reached the parent's log port as an allow-listed JSON line.
    let channel = a.channel.lock().unwrap().clone();
    let failures = channel
        .iter()
        .filter(|l| l.contains("\"boot_failed\""))
        .count();
    assert_eq!(failures, 11, "boot_failed lines on the log channel");
    assert!(channel.iter().any(|l| l.contains("\"kms_retry\"")));

    a.assert_no_secret_logged();
}

#[test]
fn no_parent_means_a_clear_failure_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    sigil_nsm::DevRoot::generate().unwrap().save(&root).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave-app"))
        .arg("--simulate")
        .arg("--sim-dir")
        .arg(dir.path())
        .arg("--sim-dev-root")
        .arg(&root)
        .args(["--bundle-deadline", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fetch_bundle"), "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
}

#[test]
fn plaintext_grpc_needs_simulation() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave-app"))
        .arg("--insecure-plaintext-grpc")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--simulate"));
}
