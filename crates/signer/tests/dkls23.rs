#![allow(clippy::unwrap_used, missing_docs)]
//! A DKLs23 signer group through the SignService: a co-signer that cheats in the OT extension
//! is named, the session ends ABORTED, an `error` line with `event="signer_group_frozen"` is
//! logged, and every later session of every account of the group is refused with
//! FAILED_PRECONDITION before a protocol message is exchanged, while other groups keep
//! signing.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigil_mpc::dkls23_dealer as dealer;
use sigil_mpc::{
    DerivationPath, KeyStore, MessageIo, MpcError, PublicKey, Scheme, Session, Signature,
    ThresholdKey, WireMessage,
};
use sigil_signer::Limits;
use tonic::Code;

mod common;
use common::{request, serve};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A co-signer that runs the honest engine but flips a bit of its OT-extension consistency
/// proof (`verify_x`) in its round-one message.
struct Cheater(Arc<dyn ThresholdKey>);

struct CheatingIo<'a>(&'a mut dyn MessageIo);

impl MessageIo for CheatingIo<'_> {
    fn send(&mut self, mut msg: WireMessage) -> Result<(), MpcError> {
        if msg.payload.first() == Some(&0x10) {
            let mut m: dkls23_core::protocols::signing::TransmitPhase1to2 =
                postcard::from_bytes(&msg.payload[1..]).unwrap();
            m.mul_transmit.verify_x[0] ^= 1;
            msg.payload = postcard::to_extend(&m, vec![0x10]).unwrap();
        }
        self.0.send(msg)
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        self.0.recv()
    }
}

impl ThresholdKey for Cheater {
    fn scheme(&self) -> Scheme {
        self.0.scheme()
    }
    fn party_index(&self) -> u16 {
        self.0.party_index()
    }
    fn threshold(&self) -> u16 {
        self.0.threshold()
    }
    fn parties(&self) -> u16 {
        self.0.parties()
    }
    fn public_key(&self, path: &DerivationPath) -> Result<PublicKey, MpcError> {
        self.0.public_key(path)
    }
    fn check(&self, session: &Session) -> Result<(), MpcError> {
        self.0.check(session)
    }
    fn sign(&self, session: &Session, io: &mut dyn MessageIo) -> Result<Signature, MpcError> {
        self.0.sign(session, &mut CheatingIo(io))
    }
}

/// Log lines the service writes, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn group(id: &str, accounts: &[&str]) -> Vec<sigil_mpc::share_file::ShareFile> {
    dealer::random_share_files(id, 2, 2, accounts).unwrap()
}

fn store(mut files: Vec<sigil_mpc::share_file::ShareFile>) -> KeyStore {
    KeyStore::from_file(files.swap_remove(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_cosigner_freezes_its_group_with_a_clear_status_and_an_error_line() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .init();

    // The service holds party 0 of two groups; the co-signer holds party 1.
    let (frozen, other) = (group("hot", &["a", "b"]), group("cold", &["c"]));
    let cosigner = |files: &[sigil_mpc::share_file::ShareFile], account: &str| {
        let store = KeyStore::from_json(&serde_json::to_vec(&files[1]).unwrap()).unwrap();
        store.get(account).unwrap().clone()
    };
    let (a, b, c) = (
        cosigner(&frozen, "a"),
        cosigner(&frozen, "b"),
        cosigner(&other, "c"),
    );
    let mut service_files = frozen;
    let mut cold = other;
    service_files[0]
        .ecdsa_groups
        .append(&mut cold[0].ecdsa_groups);
    service_files[0].accounts.append(&mut cold[0].accounts);
    let svc = serve(store(service_files), Limits::default()).await;
    let ecdsa = |id: &str, account: &str, path: &str| {
        request(id, account, Scheme::EcdsaSecp256k1, path, b"tx", vec![0, 1])
    };

    // An honest session first: the group signs.
    sigil_cosigner::cosign(
        svc.channel().await,
        vec![a.clone()],
        &ecdsa("s1", "a", "m/0/7"),
        TIMEOUT,
    )
    .await
    .unwrap();

    // The cheat: the service names party 1 and ends the session ABORTED.
    let cheat: Arc<dyn ThresholdKey> = Arc::new(Cheater(a.clone()));
    let e = sigil_cosigner::cosign(
        svc.channel().await,
        vec![cheat],
        &ecdsa("s2", "a", "m"),
        TIMEOUT,
    )
    .await
    .unwrap_err();
    let sigil_cosigner::CosignError::Service(status) = &e else {
        panic!("{e}")
    };
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(status.message().contains("party 1 deviated"), "{status:?}");
    let lines = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = lines
        .lines()
        .find(|l| l.contains("signer_group_frozen"))
        .unwrap_or_else(|| panic!("no freeze line in {lines}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "ERROR");
    assert_eq!(v["fields"]["group"], "hot");
    assert_eq!(v["fields"]["party"], 1);

    // Later sessions of both accounts of the group: FAILED_PRECONDITION, honest co-signer
    // or not, any path.
    for (id, key, account, path) in [("s3", &a, "a", "m"), ("s4", &b, "b", "m/1")] {
        let e = sigil_cosigner::cosign(
            svc.channel().await,
            vec![key.clone()],
            &ecdsa(id, account, path),
            TIMEOUT,
        )
        .await
        .unwrap_err();
        let sigil_cosigner::CosignError::Service(status) = &e else {
            panic!("{e}")
        };
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(
            status.message().contains("signer group \"hot\" is frozen"),
            "{status:?}"
        );
    }
    // Another group of the same service is untouched.
    sigil_cosigner::cosign(
        svc.channel().await,
        vec![c],
        &ecdsa("s5", "c", "m"),
        TIMEOUT,
    )
    .await
    .unwrap();
    // Nothing secret in the lines: no share of the service's files appears.
    assert!(!lines.contains("\"share\""));
    svc.stop().await;
}
