#![allow(clippy::unwrap_used, missing_docs)]
//! The enclave's attested unwrap end to end, as it runs in simulation: `sigil-kms-client`
//! inside the "enclave" dials `vsock://3:8000` (a simulated vsock socket), a parent-side relay
//! forwards the bytes to kms-sim, and kms-sim verifies the simulated NSM's document against
//! the dev root and evaluates a key policy bound to the simulated PCR0.

mod common;

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use common::{AKID, SECRET, Sim};
use sigil_kms_client::KmsError;
use sigil_nsm::{DevRoot, ImageMeasurement, SimulatedNsm};
use sigil_transport::{Addr, CopyOptions, Transport, copy_bidirectional};

const IDENTITY: &[u8] =
    b"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";

/// The parent's KMS route: simulated vsock 8000 → kms-sim's TCP port (a byte relay).
async fn parent_route(sim_dir: &Path, kms_port: u16) -> tokio::task::JoinHandle<()> {
    let listener = Transport::simulated(sim_dir, 3)
        .bind(&"vsock://any:8000".parse().unwrap())
        .await
        .unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut enclave, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let to = Addr::tcp(([127, 0, 0, 1], kms_port).into());
                let Ok(mut kms) = Transport::native()
                    .connect(&to, std::time::Duration::from_secs(5))
                    .await
                else {
                    return;
                };
                let _ = copy_bidirectional(
                    &mut enclave,
                    &mut kms,
                    CopyOptions::default(),
                    (None, None),
                )
                .await;
            });
        }
    })
}

fn policy(pcr0_hex: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": ["kms:Encrypt", "kms:DescribeKey", "kms:PutKeyPolicy", "kms:GetKeyPolicy"], "Resource": "*"},
            {"Sid": "EnclaveDecrypt", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": pcr0_hex}}}
        ]
    })
    .to_string()
}

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
    let _route = parent_route(&sim_dir, sim.port).await;

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
