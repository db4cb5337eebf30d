#![allow(clippy::unwrap_used, missing_docs)]
//! The `cosigner` binary against a running SignService on a Unix socket, with its share file
//! encrypted by the real `age` CLI; every signature it prints is then checked outside Rust by
//! `scripts/verify-signatures.py` (libsecp256k1 via coincurve, OpenSSL Ed25519 via
//! cryptography), which also recovers the Ethereum address and compares it with key-gen's
//! summary.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use sigil_key_gen::accounts::AccountSpec;
use sigil_key_gen::ceremony::{Plan, split};
use sigil_mpc::Scheme;
use sigil_signer::{Limits, SignerService};
use sigil_transport::{Addr, Transport};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosigner_signatures_verify_with_libsecp256k1_and_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pool = d.join("pool.json");
    std::fs::copy(repo().join("testdata/INSECURE-test-primes.json"), &pool).unwrap();
    let (sets, _) = sigil_key_gen::primes::consume(&pool, 2).unwrap();
    let mut plan = Plan::new(
        vec![
            AccountSpec::new("eth-1", Scheme::EcdsaSecp256k1),
            AccountSpec::new("sol-1", Scheme::Ed25519),
        ],
        2,
        2,
    );
    plan.primes = Some(sets);
    let ceremony = split(&plan).unwrap();
    std::fs::write(
        d.join("summary.json"),
        serde_json::to_vec(&ceremony.summary).unwrap(),
    )
    .unwrap();

    // Party 1's shares, encrypted with the real age CLI.
    run(Command::new("age-keygen")
        .arg("-o")
        .arg(d.join("party1.key")));
    let recipient = run(Command::new("age-keygen")
        .arg("-y")
        .arg(d.join("party1.key")));
    std::fs::write(d.join("party-1.json"), &*ceremony.party_json(1).unwrap()).unwrap();
    run(Command::new("age")
        .args(["-r", recipient.trim(), "-o"])
        .arg(d.join("party-1.json.age"))
        .arg(d.join("party-1.json")));
    std::fs::remove_file(d.join("party-1.json")).unwrap();

    // The service (party 0) on a Unix socket.
    let addr: Addr = format!("unix://{}", d.join("signer.sock").display())
        .parse()
        .unwrap();
    let listener = Transport::native().bind(&addr).await.unwrap();
    let root = sigil_nsm::DevRoot::generate().unwrap();
    let nsm = sigil_nsm::SimulatedNsm::new(
        root,
        &sigil_nsm::ImageMeasurement::of_bytes(b"t"),
        "i-1",
        None,
    )
    .unwrap();
    let service = SignerService::new(
        ceremony.key_store(0).unwrap(),
        Arc::new(nsm),
        Limits::default(),
    );
    tokio::spawn(sigil_signer::serve(
        listener,
        service,
        std::future::pending(),
    ));

    let cosigner = env!("CARGO_BIN_EXE_cosigner");
    let sign = |account: &str, scheme: &str, path: &str, hash: &str, payload: &[u8]| {
        let mut c = Command::new(cosigner);
        c.arg("sign").arg("--endpoint").arg(addr.to_string());
        c.arg("--shares")
            .arg(d.join("party-1.json.age"))
            .arg("--identity")
            .arg(d.join("party1.key"));
        c.args([
            "--account",
            account,
            "--scheme",
            scheme,
            "--path",
            path,
            "--hash",
            hash,
        ]);
        c.args(["--payload-hex", &hex::encode(payload)]);
        c
    };
    let payload = b"\xf8\x6c\x09\x85\x04\xa8\x17\xc8\x00 raw tx";
    let mut lines = String::new();
    for mut c in [
        sign("eth-1", "ecdsa-secp256k1", "m", "keccak256", payload),
        sign("eth-1", "ecdsa-secp256k1", "m/0/7", "keccak256", payload),
        sign("eth-1", "ecdsa-secp256k1", "m/3", "sha256", payload),
        sign("eth-1", "ecdsa-secp256k1", "m", "prehashed", &[0x42; 32]),
        sign("sol-1", "ed25519", "m", "keccak256", b"solana tx message"),
    ] {
        let out = tokio::task::spawn_blocking(move || run(&mut c))
            .await
            .unwrap();
        lines.push_str(&out);
    }
    assert_eq!(lines.lines().count(), 5);
    let sigs = d.join("signatures.jsonl");
    std::fs::write(&sigs, &lines).unwrap();
    let verify = |file: &Path| {
        Command::new("python3")
            .arg(repo().join("scripts/verify-signatures.py"))
            .arg("--summary")
            .arg(d.join("summary.json"))
            .arg(file)
            .output()
            .unwrap()
    };
    let ok = verify(&sigs);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("5 signatures verified"));

    // The verifier is not a rubber stamp: one flipped signature bit fails it.
    let mut first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let mut sig = hex::decode(first["signature"].as_str().unwrap()).unwrap();
    sig[10] ^= 1;
    first["signature"] = hex::encode(sig).into();
    let bad = d.join("bad.jsonl");
    std::fs::write(&bad, format!("{first}\n")).unwrap();
    assert!(!verify(&bad).status.success());

    // public-key agrees with the summary's Ethereum address.
    let pk = run(Command::new(cosigner).args([
        "public-key",
        "--endpoint",
        &addr.to_string(),
        "--account",
        "eth-1",
    ]));
    let pk: serde_json::Value = serde_json::from_str(&pk).unwrap();
    assert_eq!(
        pk["ethereum_address"],
        ceremony.summary.accounts[0]
            .ethereum_address
            .clone()
            .unwrap()
            .as_str()
    );

    // A wrong identity is a clear error, not a panic.
    run(Command::new("age-keygen")
        .arg("-o")
        .arg(d.join("other.key")));
    let out = Command::new(cosigner)
        .args([
            "sign",
            "--endpoint",
            &addr.to_string(),
            "--account",
            "eth-1",
            "--scheme",
            "ecdsa-secp256k1",
            "--payload-hex",
            "00",
        ])
        .arg("--shares")
        .arg(d.join("party-1.json.age"))
        .arg("--identity")
        .arg(d.join("other.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("decrypting"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
