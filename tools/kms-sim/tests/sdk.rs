#![allow(clippy::unwrap_used, missing_docs)]
//! Interop with the real `aws-sdk-kms` client (configured as the enclave configures it), the
//! attested `Recipient` round trip, and persistence across restarts.

mod common;

use std::path::Path;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyEncryptionMechanism, RecipientInfo};
use common::{ACCOUNT, AKID, REGION, SECRET, Sim};
use sigil_nsm::{AttestationRequest, DevRoot, ImageMeasurement, Nsm, SimulatedNsm};
use sigil_recipient_cms::RecipientKey;

fn client(sim: &Sim, akid: &str, secret: &str) -> Client {
    client_with_token(sim, akid, secret, None)
}

/// The SDK as the enclave builds it (sigil-kms-client), on plain HTTP to the simulator.
fn client_with_token(sim: &Sim, akid: &str, secret: &str, token: Option<&str>) -> Client {
    common::kms_client(sim, akid, secret, token).sdk().clone()
}

const PRINCIPAL: &str = "arn:aws:iam::111122223333:user/kms-sim";

fn policy_allowing(actions: &[&str], condition: Option<serde_json::Value>) -> String {
    let mut use_stmt = serde_json::json!({
        "Sid": "Use",
        "Effect": "Allow",
        "Principal": { "AWS": PRINCIPAL },
        "Action": actions,
        "Resource": "*",
    });
    if let Some(c) = condition {
        use_stmt["Condition"] = c;
    }
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Admin",
                "Effect": "Allow",
                "Principal": { "AWS": PRINCIPAL },
                "Action": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:EnableKey", "kms:DisableKey", "kms:Encrypt", "kms:CreateAlias"],
                "Resource": "*",
            },
            use_stmt,
        ],
    })
    .to_string()
}

async fn new_key(kms: &Client) -> String {
    kms.create_key()
        .description("test key")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_interop() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), &[]);
    let kms = client(&sim, AKID, SECRET);

    let key_id = new_key(&kms).await;
    let described = kms.describe_key().key_id(&key_id).send().await.unwrap();
    let meta = described.key_metadata().unwrap();
    assert_eq!(
        meta.arn().unwrap(),
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}")
    );
    assert!(meta.enabled());
    assert!(meta.creation_date().is_some());
    let listed = kms.list_keys().send().await.unwrap();
    assert!(
        listed
            .keys()
            .iter()
            .any(|k| k.key_id() == Some(key_id.as_str()))
    );

    // Default policy, then a policy allowing Decrypt only with purpose=test.
    let default_policy = kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    assert!(default_policy.policy().unwrap().contains(":root"));
    let policy = policy_allowing(
        &["kms:Decrypt", "kms:GenerateDataKey"],
        Some(serde_json::json!({ "StringEquals": { "kms:EncryptionContext:purpose": "test" } })),
    );
    kms.put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(&policy)
        .send()
        .await
        .unwrap();
    let got = kms.get_key_policy().key_id(&key_id).send().await.unwrap();
    assert_eq!(got.policy().unwrap(), policy);

    // Encrypt / decrypt with an encryption context.
    let enc = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"secret share".to_vec()))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    let ct = enc.ciphertext_blob().unwrap().clone();
    let dec = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"secret share");
    assert_eq!(
        dec.key_id().unwrap(),
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}")
    );

    // Wrong context: the policy allows purpose=test only, so use a policy-allowed but
    // cryptographically wrong context via a second key without conditions below.
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    assert!(
        err.message()
            .unwrap()
            .contains("is not authorized to perform: kms:Decrypt")
    );

    // A key with the default policy: wrong context is InvalidCiphertextException.
    let open_key = new_key(&kms).await;
    let ct2 = kms
        .encrypt()
        .key_id(&open_key)
        .plaintext(Blob::new(b"x".to_vec()))
        .encryption_context("a", "1")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let err = kms
        .decrypt()
        .ciphertext_blob(ct2.clone())
        .encryption_context("a", "2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidCiphertextException"), "{err:?}");
    // KeyId naming another key: IncorrectKeyException.
    let err = kms
        .decrypt()
        .ciphertext_blob(ct2.clone())
        .key_id(&key_id)
        .encryption_context("a", "1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("IncorrectKeyException"), "{err:?}");

    // Alias resolution.
    kms.create_alias()
        .alias_name("alias/open")
        .target_key_id(&open_key)
        .send()
        .await
        .unwrap();
    let via_alias = kms
        .decrypt()
        .ciphertext_blob(ct2.clone())
        .key_id("alias/open")
        .encryption_context("a", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(via_alias.plaintext().unwrap().as_ref(), b"x");
    let aliases = kms.list_aliases().send().await.unwrap();
    assert!(
        aliases
            .aliases()
            .iter()
            .any(|a| a.alias_name() == Some("alias/open"))
    );
    let err = kms
        .create_alias()
        .alias_name("alias/open")
        .target_key_id(&open_key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AlreadyExistsException"));

    // GenerateDataKey, then decrypt its blob.
    let gdk = kms
        .generate_data_key()
        .key_id("alias/open")
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(gdk.plaintext().unwrap().as_ref().len(), 32);
    let back = kms
        .decrypt()
        .ciphertext_blob(gdk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap(), gdk.plaintext().unwrap());
    let err = kms
        .generate_data_key()
        .key_id("alias/open")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let gdkwp = kms
        .generate_data_key_without_plaintext()
        .key_id(&open_key)
        .number_of_bytes(16)
        .send()
        .await
        .unwrap();
    assert!(gdkwp.ciphertext_blob().is_some());

    // ReEncrypt from the open key to itself with a new context.
    let re = kms
        .re_encrypt()
        .ciphertext_blob(ct2.clone())
        .source_encryption_context("a", "1")
        .destination_key_id(&open_key)
        .destination_encryption_context("b", "2")
        .send()
        .await
        .unwrap();
    let back = kms
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .encryption_context("b", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), b"x");

    // Rotation flag.
    kms.enable_key_rotation()
        .key_id(&open_key)
        .send()
        .await
        .unwrap();
    let rot = kms
        .get_key_rotation_status()
        .key_id(&open_key)
        .send()
        .await
        .unwrap();
    assert!(rot.key_rotation_enabled());

    // GenerateRandom limits.
    let r = kms
        .generate_random()
        .number_of_bytes(1024)
        .send()
        .await
        .unwrap();
    assert_eq!(r.plaintext().unwrap().as_ref().len(), 1024);
    for bad in [0, 1025] {
        let err = kms
            .generate_random()
            .number_of_bytes(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "{bad}");
    }

    // Disabled key.
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DisabledException"), "{err:?}");
    kms.enable_key().key_id(&key_id).send().await.unwrap();

    // Scheduled deletion.
    let del = kms
        .schedule_key_deletion()
        .key_id(&open_key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert!(del.deletion_date().is_some());
    let err = kms
        .decrypt()
        .ciphertext_blob(ct2)
        .encryption_context("a", "1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KMSInvalidStateException"), "{err:?}");

    // Unknown key.
    let err = kms
        .describe_key()
        .key_id("11111111-2222-4333-8444-555555555555")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"));

    // Bad credentials.
    let wrong_secret = client(&sim, AKID, "not-the-secret");
    let err = wrong_secret.list_keys().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    let wrong_key = client(&sim, "AKIDUNKNOWN", SECRET);
    let err = wrong_key.list_keys().send().await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err:?}");

    // Persistence: restart on the same state dir and decrypt the old ciphertext.
    drop(kms);
    drop(sim);
    let sim = Sim::start(dir.path(), &[]);
    let kms = client(&sim, AKID, SECRET);
    let again = kms
        .decrypt()
        .ciphertext_blob(ct)
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(again.plaintext().unwrap().as_ref(), b"secret share");
    let aliases = kms.list_aliases().send().await.unwrap();
    assert!(
        aliases
            .aliases()
            .iter()
            .any(|a| a.alias_name() == Some("alias/open"))
    );
    let d = kms.describe_key().key_id(&open_key).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state().unwrap().as_str(),
        "PendingDeletion"
    );
}

fn save_root(dir: &Path, root: &DevRoot) -> String {
    let path = dir.join("root.pem");
    std::fs::write(&path, root.cert_pem().unwrap()).unwrap();
    path.display().to_string()
}

fn recipient(doc: Vec<u8>) -> RecipientInfo {
    RecipientInfo::builder()
        .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
        .attestation_document(Blob::new(doc))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = DevRoot::generate().unwrap();
    let root_path = save_root(dir.path(), &root);
    let image = ImageMeasurement::of_bytes(b"image");
    let pcr0 = image.pcr0_hex();
    let nsm = SimulatedNsm::new(root, &image, "i-0123456789abcdef0", None).unwrap();
    let rkey = RecipientKey::generate().unwrap();
    let doc = nsm
        .attestation(&AttestationRequest {
            public_key: Some(rkey.spki_der()),
            ..Default::default()
        })
        .unwrap();

    // Identity policy: key-less operations allowed, GenerateRandom only for this image.
    let identity = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "Manage", "Effect": "Allow", "Principal": { "AWS": PRINCIPAL },
              "Action": ["kms:CreateKey", "kms:ListKeys", "kms:ListAliases"], "Resource": "*" },
            { "Sid": "Random", "Effect": "Allow", "Principal": { "AWS": PRINCIPAL },
              "Action": "kms:GenerateRandom", "Resource": "*",
              "Condition": { "StringEqualsIgnoreCase": { "kms:RecipientAttestation:ImageSha384": pcr0 } } },
        ],
    });
    let identity_path = dir.path().join("identity.json");
    std::fs::write(&identity_path, identity.to_string()).unwrap();
    let state = dir.path().join("state");
    let sim = Sim::start(
        &state,
        &[
            "--attestation-root",
            &root_path,
            "--identity-policy",
            identity_path.to_str().unwrap(),
        ],
    );
    let kms = client(&sim, AKID, SECRET);
    let key_id = new_key(&kms).await;
    let condition = |value: &str| serde_json::json!({ "StringEqualsIgnoreCase": { "kms:RecipientAttestation:ImageSha384": value } });
    kms.put_key_policy()
        .key_id(&key_id)
        .policy(policy_allowing(
            &["kms:Decrypt", "kms:GenerateDataKey"],
            Some(condition(&pcr0.to_uppercase())),
        ))
        .send()
        .await
        .unwrap();
    let ct = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"share-0".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();

    // Without Recipient, the attestation condition is missing: denied.
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));

    // With Recipient: CiphertextForRecipient and no Plaintext.
    let out = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .key_id(&key_id)
        .recipient(recipient(doc.clone()))
        .send()
        .await
        .unwrap();
    assert!(out.plaintext().is_none());
    let cms = out.ciphertext_for_recipient().unwrap().as_ref();
    assert_eq!(rkey.decrypt(cms).unwrap().as_slice(), b"share-0");

    // GenerateDataKey with Recipient: the CMS holds the data key; the blob decrypts to it
    // (through Recipient again, since the policy requires it).
    let gdk = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .recipient(recipient(doc.clone()))
        .send()
        .await
        .unwrap();
    assert!(gdk.plaintext().is_none());
    let data_key = rkey
        .decrypt(gdk.ciphertext_for_recipient().unwrap().as_ref())
        .unwrap();
    assert_eq!(data_key.len(), 32);
    let again = kms
        .decrypt()
        .ciphertext_blob(gdk.ciphertext_blob().unwrap().clone())
        .recipient(recipient(doc.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        rkey.decrypt(again.ciphertext_for_recipient().unwrap().as_ref())
            .unwrap()
            .as_slice(),
        data_key.as_slice()
    );

    // GenerateRandom without Recipient: the identity policy's condition is missing.
    let err = kms
        .generate_random()
        .number_of_bytes(8)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    assert!(err.message().unwrap().contains("identity-based policy"));

    // GenerateRandom with Recipient.
    let rnd = kms
        .generate_random()
        .number_of_bytes(48)
        .recipient(recipient(doc.clone()))
        .send()
        .await
        .unwrap();
    assert!(rnd.plaintext().is_none());
    assert_eq!(
        rkey.decrypt(rnd.ciphertext_for_recipient().unwrap().as_ref())
            .unwrap()
            .len(),
        48
    );

    // A policy for another image: denied.
    kms.put_key_policy()
        .key_id(&key_id)
        .policy(policy_allowing(
            &["kms:Decrypt"],
            Some(condition(&"ab".repeat(48))),
        ))
        .send()
        .await
        .unwrap();
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .recipient(recipient(doc.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");

    // A document from another dev root: refused even though the policy would allow it.
    kms.put_key_policy()
        .key_id(&key_id)
        .policy(policy_allowing(&["kms:Decrypt"], Some(condition(&pcr0))))
        .send()
        .await
        .unwrap();
    let other_nsm = SimulatedNsm::new(
        DevRoot::generate().unwrap(),
        &image,
        "i-0123456789abcdef0",
        None,
    )
    .unwrap();
    let foreign = other_nsm
        .attestation(&AttestationRequest {
            public_key: Some(rkey.spki_der()),
            ..Default::default()
        })
        .unwrap();
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .recipient(recipient(foreign))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    assert!(err.message().unwrap().contains("could not be verified"));

    // Malformed Recipient: ValidationException.
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .recipient(recipient(b"not a document".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let no_key_doc = nsm.attestation(&AttestationRequest::default()).unwrap();
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .recipient(recipient(no_key_doc))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");

    // And the matching document still works.
    let ok = kms
        .decrypt()
        .ciphertext_blob(ct)
        .recipient(recipient(doc))
        .send()
        .await
        .unwrap();
    assert_eq!(
        rkey.decrypt(ok.ciphertext_for_recipient().unwrap().as_ref())
            .unwrap()
            .as_slice(),
        b"share-0"
    );

    // The request log records the attested image, never plaintext.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = sim.drain_log().join("\n");
    assert!(log.contains(&pcr0));
    assert!(!log.contains("share-0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_session_token() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), &["--session-token", "SESSION"]);
    let with = client_with_token(&sim, AKID, SECRET, Some("SESSION"));
    let key_id = new_key(&with).await;
    let out = with
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref().len(), 64);
    let without = client(&sim, AKID, SECRET);
    let err = without.list_keys().send().await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err:?}");
}
