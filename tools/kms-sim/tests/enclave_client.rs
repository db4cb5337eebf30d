#![allow(clippy::unwrap_used, missing_docs)]
//! The enclave's attested unwrap end to end, as it runs in simulation: `sigil-kms-client`
//! inside the "enclave" dials `vsock://3:8000` (a simulated vsock socket), parent-agent's own
//! `bridge` (started by sigil-fake-parent) relays the bytes to kms-sim, and kms-sim verifies the simulated NSM's document against
//! the dev root and evaluates a key policy bound to the simulated PCR0.

mod common;

use std::collections::HashMap;

use aws_sdk_kms::primitives::Blob;
use common::{AKID, SECRET, Sim};
use sigil_fake_parent::{KmsBridge, policy};
use sigil_kms_client::KmsError;
use sigil_nsm::{DevRoot, ImageMeasurement, SimulatedNsm};
use sigil_transport::Transport;

/// An identity-shaped test plaintext, not a key (age identities are bech32, without dashes).
const IDENTITY: &[u8] =
    b"AGE-SECRET-KEY-1-TEST-PLAINTEXT-NOT-A-REAL-IDENTITY-000000000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attested_unwrap_through_the_vsock_route_and_a_pcr0_bound_policy() {
    let dir = tempfile::tempdir().unwrap();
    let root = DevRoot::generate().unwrap();
    root.save(&dir.path().join("root")).unwrap();
    let root_pem = dir.path().join("root/dev-root.pem");
    let sim = Sim::start(
        &dir.path().join("state"),
        &["--attestation-root", root_pem.to_str().unwrap()],
    );
    let sim_dir = dir.path().join("vsock");
    std::fs::create_dir_all(&sim_dir).unwrap();
    let _route = KmsBridge::start(&sim_dir, sim.port);

    // The operator: create the key, bind Decrypt to the image's PCR0, wrap the identity.
    let image = ImageMeasurement::of_bytes(b"enclave-app release 1");
    let admin = common::kms_client(&sim, AKID, SECRET, None);
    let key_id = admin
        .sdk()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    admin
        .sdk()
        .put_key_policy()
        .key_id(&key_id)
        .policy(policy(&image.pcr0_hex()))
        .send()
        .await
        .unwrap();
    let context = HashMap::from([("purpose".to_owned(), "sigil-age-identity".to_owned())]);
    let wrapped = admin
        .sdk()
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(IDENTITY))
        .set_encryption_context(Some(context.clone()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();

    // The enclave: only the simulated vsock route to the parent, nothing else.
    let enclave_kms = common::kms_client_via(
        &sim,
        Transport::simulated(&sim_dir, 16),
        "vsock://3:8000".parse().unwrap(),
        AKID,
        SECRET,
        None,
    );
    let nsm = SimulatedNsm::new(
        DevRoot::load(&dir.path().join("root")).unwrap(),
        &image,
        "i-0123456789abcdef0",
        None,
    )
    .unwrap();
    let out = enclave_kms
        .attested_decrypt(&nsm, None, &wrapped, &context)
        .await
        .unwrap();
    assert_eq!(out.plaintext.as_slice(), IDENTITY);
    assert!(out.request_id.as_deref().is_some_and(|r| !r.is_empty()));
    assert!(out.key_id.as_deref().unwrap().ends_with(&key_id));
    assert!(
        !format!("{out:?}").contains("AGE-SECRET-KEY"),
        "debug output must not show the plaintext"
    );

    // A rebuilt binary has another PCR0: KMS refuses, and that is not worth retrying.
    let rebuilt = SimulatedNsm::new(
        DevRoot::load(&dir.path().join("root")).unwrap(),
        &ImageMeasurement::of_bytes(b"enclave-app release 2"),
        "i-0123456789abcdef0",
        None,
    )
    .unwrap();
    match enclave_kms
        .attested_decrypt(&rebuilt, None, &wrapped, &context)
        .await
        .unwrap_err()
    {
        KmsError::Service {
            code, retryable, ..
        } => {
            assert_eq!(code, "AccessDeniedException");
            assert!(!retryable);
        }
        other => panic!("{other}"),
    }
    // The wrong encryption context is refused too.
    let e = enclave_kms
        .attested_decrypt(&nsm, None, &wrapped, &HashMap::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, KmsError::Service { code, .. } if code == "InvalidCiphertextException" || code == "AccessDeniedException"),
        "{e}"
    );

    // KMS gone: a transient error, within the client's timeouts.
    drop(sim);
    let e = enclave_kms
        .attested_decrypt(&nsm, None, &wrapped, &context)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
}

/// `openssl cms -decrypt` opens kms-sim's own `CiphertextForRecipient` (taken from a real
/// HTTP answer) with the recipient's key: the envelope is standard CMS, as KMS's is.
#[tokio::test]
async fn openssl_accepts_kms_sims_ciphertext_for_recipient() {
    use aws_sdk_kms::types::{KeyEncryptionMechanism, RecipientInfo};
    use sigil_nsm::{AttestationRequest, Nsm};
    use sigil_recipient_cms::RecipientKey;

    const KEY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/nitro-fixtures/kms-ciphertext-for-recipient/enclaver-test-rsa2048.pkcs8.der"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = DevRoot::generate().unwrap();
    root.save(&dir.path().join("root")).unwrap();
    let root_pem = dir.path().join("root/dev-root.pem");
    let sim = Sim::start(
        &dir.path().join("state"),
        &["--attestation-root", root_pem.to_str().unwrap()],
    );
    let kms = common::kms_client(&sim, AKID, SECRET, None);
    let key_id = kms
        .sdk()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let wrapped = kms
        .sdk()
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(IDENTITY))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();

    // The published test key of the enclaver fixture stands in for the enclave's RSA key.
    let key_der = std::fs::read(KEY).unwrap();
    let recipient_key = RecipientKey::from_pkcs8_der(&key_der).unwrap();
    let nsm = SimulatedNsm::new(
        DevRoot::load(&dir.path().join("root")).unwrap(),
        &ImageMeasurement::of_bytes(b"img"),
        "i-0123456789abcdef0",
        None,
    )
    .unwrap();
    let doc = nsm
        .attestation(&AttestationRequest {
            public_key: Some(recipient_key.spki_der()),
            ..Default::default()
        })
        .unwrap();
    let out = kms
        .sdk()
        .decrypt()
        .ciphertext_blob(Blob::new(wrapped))
        .recipient(
            RecipientInfo::builder()
                .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
                .attestation_document(Blob::new(doc))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        out.plaintext().is_none(),
        "no plaintext on the wire when a recipient is given"
    );
    let envelope = out.ciphertext_for_recipient().unwrap().as_ref().to_vec();
    let blob = dir.path().join("cfr.der");
    std::fs::write(&blob, &envelope).unwrap();
    let key_file = dir.path().join("key.der");
    std::fs::write(&key_file, &key_der).unwrap();
    let openssl = std::process::Command::new("openssl")
        .args([
            "cms", "-decrypt", "-inform", "DER", "-binary", "-keyform", "DER", "-in",
        ])
        .arg(&blob)
        .arg("-inkey")
        .arg(&key_file)
        .output()
        .expect("the openssl CLI is needed (scripts/install-deps.sh installs it)");
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stderr)
    );
    assert_eq!(openssl.stdout, IDENTITY);
    assert_eq!(
        recipient_key.decrypt(&envelope).unwrap().as_slice(),
        IDENTITY
    );
}
