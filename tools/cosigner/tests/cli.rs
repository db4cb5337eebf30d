#![allow(clippy::unwrap_used, missing_docs)]
//! The `cosigner` binary against a running SignService over mutual TLS on a Unix socket (TLS
//! material made by the real `openssl` CLI with scripts/make-dev-tls.sh), with its share file
//! encrypted by the real `age` CLI, holding accounts of both ECDSA engines (DKLs23, the
//! default, and cggmp24: the cosigner signs in the engine its own share file names) and an
//! Ed25519 account; every signature it prints is then checked outside Rust by
//! `scripts/verify-signatures.py` (libsecp256k1 via coincurve, OpenSSL Ed25519 via
//! cryptography), which also recovers the Ethereum address, derives child keys from the
//! summary's chain code and compares them with key-gen's summary.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use sigil_key_gen::accounts::AccountSpec;
use sigil_key_gen::ceremony::{Plan, split};
use sigil_mpc::{Engine, Scheme};
use sigil_signer::{Limits, Security, SignerService};
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
    std::fs::copy(sigil_testkit::TEST_PRIMES, &pool).unwrap();
    let (sets, _) = sigil_key_gen::primes::consume(&pool, 2).unwrap();
    let mut plan = Plan::new(
        vec![
            AccountSpec::new("eth-1", Scheme::EcdsaSecp256k1),
            AccountSpec::new("sol-1", Scheme::Ed25519),
            AccountSpec::new("eth-legacy", Scheme::EcdsaSecp256k1).with_engine(Engine::Cggmp24),
        ],
        2,
        2,
    );
    plan.primes = Some(sets);
    let ceremony = split(&plan).unwrap();
    let engines: Vec<Option<Engine>> = ceremony.summary.accounts.iter().map(|a| a.engine).collect();
    assert_eq!(
        engines,
        [Some(Engine::Dkls23), None, Some(Engine::Cggmp24)],
        "eth-1 is in the default engine, DKLs23"
    );
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

    // Development PKI from the openssl CLI.
    let tls = d.join("tls");
    run(Command::new("bash")
        .arg(repo().join("scripts/make-dev-tls.sh"))
        .arg(&tls));
    let bundle = sigil_tls::TlsBundle::from_pem_files(
        &tls.join("server.key"),
        &tls.join("server-chain.pem"),
        &tls.join("client-ca.pem"),
    )
    .unwrap();
    let pin = hex::encode(bundle.spki_sha256());

    // The service (party 0) on a Unix socket, mutual TLS.
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
    )
    .with_tls_binding(bundle.spki_sha256());
    tokio::spawn(sigil_signer::serve(
        listener,
        service,
        Security::MutualTls(bundle.server_config().unwrap()),
        std::future::pending(),
    ));

    let cosigner = env!("CARGO_BIN_EXE_cosigner");
    let tls_args = |c: &mut Command, key: &str, pin: Option<&str>| {
        c.arg("--tls-ca")
            .arg(tls.join("server-ca.pem"))
            .arg("--tls-cert")
            .arg(tls.join("client.pem"))
            .arg("--tls-key")
            .arg(tls.join(key))
            .args(["--tls-server-name", "signer.sigil.internal"]);
        if let Some(pin) = pin {
            c.args(["--tls-pin-spki-sha256", pin]);
        }
    };
    let sign = |account: &str, scheme: &str, path: &str, hash: &str, payload: &[u8]| {
        let mut c = Command::new(cosigner);
        c.arg("sign").arg("--endpoint").arg(addr.to_string());
        tls_args(&mut c, "client.key", Some(&pin));
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
        sign("eth-legacy", "ecdsa-secp256k1", "m", "keccak256", payload),
        sign(
            "eth-legacy",
            "ecdsa-secp256k1",
            "m/0/7",
            "keccak256",
            payload,
        ),
        sign("sol-1", "ed25519", "m", "keccak256", b"solana tx message"),
    ] {
        let out = tokio::task::spawn_blocking(move || run(&mut c))
            .await
            .unwrap();
        lines.push_str(&out);
    }
    assert_eq!(lines.lines().count(), 7);
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
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("7 signatures verified"), "{stdout}");
    assert!(
        stdout.contains("ecdsa-secp256k1/dkls23: 4")
            && stdout.contains("ecdsa-secp256k1/cggmp24: 2")
            && stdout.contains("ed25519: 1"),
        "{stdout}"
    );

    // The verifier is not a rubber stamp: one flipped signature bit fails it.
    let mut first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let mut sig = hex::decode(first["signature"].as_str().unwrap()).unwrap();
    sig[10] ^= 1;
    first["signature"] = hex::encode(sig).into();
    let bad = d.join("bad.jsonl");
    std::fs::write(&bad, format!("{first}\n")).unwrap();
    assert!(!verify(&bad).status.success());
    // Nor is the child-key check: a child signature whose key is not the summary's child at
    // its path (here: the same signature and key claimed for another path) fails it.
    let mut child: serde_json::Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
    assert_eq!(child["derivation_path"], "m/0/7");
    child["derivation_path"] = "m/0/8".into();
    std::fs::write(&bad, format!("{child}\n")).unwrap();
    let out = verify(&bad);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not the summary's child key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // public-key agrees with the summary's Ethereum address.
    let mut c = Command::new(cosigner);
    c.args([
        "public-key",
        "--endpoint",
        &addr.to_string(),
        "--account",
        "eth-1",
    ]);
    tls_args(&mut c, "client.key", None);
    let pk = run(&mut c);
    let pk: serde_json::Value = serde_json::from_str(&pk).unwrap();
    assert_eq!(
        pk["ethereum_address"],
        ceremony.summary.accounts[0]
            .ethereum_address
            .clone()
            .unwrap()
            .as_str()
    );

    // A connection mode is required; plaintext against the TLS service fails; a wrong pin
    // refuses the service; a client key that is not the certificate's is refused up front.
    let base = [
        "public-key",
        "--endpoint",
        &addr.to_string(),
        "--account",
        "eth-1",
    ];
    let out = Command::new(cosigner).args(base).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--tls-ca") && stderr.contains("--insecure-plaintext"),
        "{stderr}"
    );
    let out = Command::new(cosigner)
        .args(base)
        .arg("--insecure-plaintext")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let mut c = Command::new(cosigner);
    c.args(base);
    tls_args(&mut c, "client.key", Some(&"00".repeat(32)));
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not the pinned one"), "{stderr}");
    let mut c = Command::new(cosigner);
    c.args(base);
    tls_args(&mut c, "server.key", None);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not match"), "{stderr}");

    // A wrong identity is a clear error, not a panic.
    run(Command::new("age-keygen")
        .arg("-o")
        .arg(d.join("other.key")));
    let out = Command::new(cosigner)
        .args([
            "sign",
            "--insecure-plaintext",
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
