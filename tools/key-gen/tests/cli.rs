//! End-to-end tests of the `key-gen` command: real `age-keygen` identities, real `age -d`
//! decryption, `sigil_mpc::KeyStore::from_json` on every output, public keys and addresses
//! checked with independent code, both ECDSA engines (DKLs23 by default, cggmp24 on request,
//! one signer group each), a key re-split in the other engine keeping its addresses, and every
//! bad input refused before any share file exists.

#![allow(clippy::unwrap_used)] // test code: a failed step is a failed test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use sha2::{Digest, Sha256};
use sigil_key_gen::summary::Summary;
use sigil_mpc::{DerivationPath, Engine, KeyStore};

fn summary(dir: &Path) -> Summary {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Decrypts `file` with `identity` and checks it against the summary: party index, counts,
/// public keys (and Ethereum addresses, and a BIP32 child key from the chain code).
fn check_file(dir: &Path, file: &str, identity: &Path, party: u16, s: &Summary) -> KeyStore {
    let json = age_decrypt(identity, &dir.join(file));
    let store = KeyStore::from_json(&json).unwrap();
    assert_eq!(store.party_index(), party);
    assert_eq!(store.len(), s.accounts.len());
    let groups: std::collections::BTreeMap<&str, Engine> = s
        .ecdsa_groups
        .iter()
        .map(|(g, e)| (g.as_str(), *e))
        .collect();
    assert_eq!(
        store.ecdsa_engines(),
        groups,
        "one group per engine, as summarised"
    );
    let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(parsed["version"], 2);
    for a in &s.accounts {
        let key = store.get(&a.account_id).unwrap();
        assert_eq!((key.threshold(), key.parties()), (s.threshold, s.parties));
        assert_eq!((a.threshold, a.parties), (s.threshold, s.parties));
        let pk = key.public_key(&DerivationPath::root()).unwrap();
        assert_eq!(hex::encode(&pk.bytes), a.public_key);
        assert_eq!(key.scheme(), a.scheme);
        if a.scheme == sigil_mpc::Scheme::EcdsaSecp256k1 {
            // The account's share is in its engine's group.
            let entry = parsed["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["account_id"] == a.account_id.as_str())
                .unwrap();
            let group = entry["share"]["ecdsa-secp256k1"]["group"].as_str().unwrap();
            assert_eq!(Some(s.ecdsa_groups[group]), a.engine, "{}", a.account_id);
            assert_eq!(pk.bytes.len(), 33);
            assert_eq!(
                a.ethereum_address.as_deref(),
                Some(ethereum_address(&pk.bytes).as_str())
            );
            let cc = hex::decode(a.chain_code.as_ref().unwrap()).unwrap();
            let path: DerivationPath = "m/7/0/42".parse().unwrap();
            let child = key.public_key(&path).unwrap();
            assert_eq!(
                child.bytes,
                bip32_child(&pk.bytes, &cc, &[7, 0, 42]),
                "child key from the chain code"
            );
        } else {
            assert_eq!(pk.bytes.len(), 32);
            assert!(a.chain_code.is_none() && a.ethereum_address.is_none() && a.engine.is_none());
        }
    }
    let entry = s.files.iter().find(|f| f.file == file).unwrap();
    assert_eq!(entry.party, party);
    let bytes = std::fs::read(dir.join(file)).unwrap();
    assert_eq!(entry.bytes, bytes.len() as u64);
    assert_eq!(entry.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(entry.plaintext_bytes, json.len() as u64);
    assert_eq!(mode(&dir.join(file)), 0o600);
    store
}

#[test]
fn split_2_of_2_mixed_schemes_from_an_accounts_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pool = copy_pool(dir);
    let (svc_id, svc_r) = age_identity(dir, "service");
    let (p1_id, p1_r) = age_identity(dir, "p1");
    let (svc2_id, svc2_r) = age_identity(dir, "service-backup");
    let accounts = dir.join("accounts.txt");
    std::fs::write(
        &accounts,
        "# treasury\nhot-1\nsol:vault ed25519\n\ncold/2 ecdsa-secp256k1 cggmp24  # cold\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let party1 = format!("1={p1_r}");
    let stderr = ok(&key_gen(
        &[
            "split",
            "--scheme",
            "ecdsa-secp256k1",
            "--accounts-file",
            accounts.to_str().unwrap(),
            "--parties",
            "2",
            "--threshold",
            "2",
            "--pubkeys",
            &svc_r,
            "--pubkeys",
            &svc2_r,
            "--party-pubkeys",
            &party1,
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--primes",
            pool.to_str().unwrap(),
        ],
        None,
    ));
    assert!(stderr.contains("summary.json"), "{stderr}");
    assert!(
        stderr.contains("split 3 account(s) (2 ecdsa-secp256k1, 1 ed25519) into 2-of-2"),
        "{stderr}"
    );
    assert_eq!(
        files_in(&out_dir),
        [
            "party-1_key_shares.json.age",
            "service_key_shares.json.age",
            "summary.json"
        ]
    );
    assert_eq!(mode(&out_dir.join("summary.json")), 0o644);
    assert!(
        stderr.contains("dkls23, 1 account(s)") && stderr.contains("cggmp24, 1 account(s)"),
        "{stderr}"
    );
    assert_eq!(
        pool_sets(&pool),
        1,
        "the cggmp24 group took 2 of the 3 sets"
    );
    assert_eq!(mode(&pool), 0o600);

    let s = summary(&out_dir);
    assert_eq!((s.parties, s.threshold, s.service_party), (2, 2, 0));
    let ids: Vec<&str> = s.accounts.iter().map(|a| a.account_id.as_str()).collect();
    assert_eq!(ids, ["hot-1", "sol:vault", "cold/2"]);
    let engines: Vec<Option<Engine>> = s.accounts.iter().map(|a| a.engine).collect();
    assert_eq!(
        engines,
        [Some(Engine::Dkls23), None, Some(Engine::Cggmp24)],
        "dkls23 is the default, the file's column overrides it"
    );
    assert_eq!(s.ecdsa_groups.len(), 2);
    for (group, engine) in &s.ecdsa_groups {
        let prefix = match engine {
            Engine::Dkls23 => "secp256k1-dkls23-",
            Engine::Cggmp24 => "secp256k1-",
        };
        assert!(
            group.starts_with(prefix) && group.len() == prefix.len() + 16,
            "{group}"
        );
    }
    assert!(!s.insecure_plaintext_written);
    let cggmp24_bytes = s.sizes.bytes_per_account["ecdsa-secp256k1/cggmp24"];
    let dkls23_bytes = s.sizes.bytes_per_account["ecdsa-secp256k1/dkls23"];
    let ed_bytes = s.sizes.bytes_per_account["ed25519"];
    let aux = s.sizes.ecdsa_group_bytes["cggmp24"];
    let pair_setup = s.sizes.ecdsa_group_bytes["dkls23"];
    assert!((300..2000).contains(&cggmp24_bytes), "{cggmp24_bytes}");
    assert!((200..1000).contains(&dkls23_bytes), "{dkls23_bytes}");
    assert!((200..2000).contains(&ed_bytes), "{ed_bytes}");
    assert!((5_000..40_000).contains(&aux), "{aux}");
    assert!((50_000..400_000).contains(&pair_setup), "{pair_setup}");
    eprintln!(
        "sizes 2-of-2: cggmp24 {cggmp24_bytes} B/account, dkls23 {dkls23_bytes} B/account, \
         ed25519 {ed_bytes} B/account, cggmp24 aux {aux} B/group, dkls23 pair setup \
         {pair_setup} B/group"
    );

    let svc = check_file(&out_dir, "service_key_shares.json.age", &svc_id, 0, &s);
    // Either service recipient opens the service file.
    check_file(&out_dir, "service_key_shares.json.age", &svc2_id, 0, &s);
    let p1 = check_file(&out_dir, "party-1_key_shares.json.age", &p1_id, 1, &s);
    for store in [&svc, &p1] {
        let counts = store.counts();
        assert_eq!((counts["ecdsa-secp256k1"], counts["ed25519"]), (2, 1));
    }
    // The service identity does not open party 1's file.
    let out = std::process::Command::new("age")
        .args(["-d", "-i"])
        .arg(&svc_id)
        .arg(out_dir.join("party-1_key_shares.json.age"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    // No plaintext share file was written.
    assert!(
        files_in(&out_dir)
            .iter()
            .all(|f| !f.ends_with("key_shares.json"))
    );
}

#[test]
fn split_2_of_3_ecdsa_with_another_service_party() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pool = copy_pool(dir);
    let ids: Vec<_> = (0..3)
        .map(|i| age_identity(dir, &format!("p{i}")))
        .collect();
    let out_dir = dir.join("out");
    let p0 = format!("0={}", ids[0].1);
    let p2 = format!("2={}", ids[2].1);
    ok(&key_gen(
        &[
            "split",
            "--scheme",
            "ecdsa-secp256k1",
            "--engine",
            "cggmp24",
            "--account-id",
            "a",
            "--account-id",
            "b",
            "--parties",
            "3",
            "--threshold",
            "2",
            "--service-party",
            "1",
            "--pubkeys",
            &ids[1].1,
            "--party-pubkeys",
            &p0,
            "--party-pubkeys",
            &p2,
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--primes",
            pool.to_str().unwrap(),
        ],
        None,
    ));
    assert_eq!(pool_sets(&pool), 0);
    assert_eq!(
        files_in(&out_dir),
        [
            "party-0_key_shares.json.age",
            "party-2_key_shares.json.age",
            "service_key_shares.json.age",
            "summary.json"
        ]
    );
    let s = summary(&out_dir);
    assert_eq!((s.parties, s.threshold, s.service_party), (3, 2, 1));
    check_file(&out_dir, "party-0_key_shares.json.age", &ids[0].0, 0, &s);
    check_file(&out_dir, "service_key_shares.json.age", &ids[1].0, 1, &s);
    check_file(&out_dir, "party-2_key_shares.json.age", &ids[2].0, 2, &s);
    eprintln!("sizes 2-of-3: {:?}", s.sizes);

    // The pool is now empty: a second run is refused and writes nothing.
    let out2 = dir.join("out2");
    let out = key_gen(
        &[
            "split",
            "--scheme",
            "ecdsa-secp256k1",
            "--engine",
            "cggmp24",
            "--account-id",
            "c",
            "--parties",
            "3",
            "--threshold",
            "2",
            "--service-party",
            "1",
            "--pubkeys",
            &ids[1].1,
            "--party-pubkeys",
            &p0,
            "--party-pubkeys",
            &p2,
            "--out-dir",
            out2.to_str().unwrap(),
            "--primes",
            pool.to_str().unwrap(),
        ],
        None,
    );
    fails_with(&out, "has 0 prime sets, this run needs 3");
    assert!(files_in(&out2).is_empty());
}

#[test]
fn child_keys_keep_their_public_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pool = copy_pool(dir);
    let (svc_id, svc_r) = age_identity(dir, "service");
    let (p1_id, p1_r) = age_identity(dir, "p1");
    let party1 = format!("1={p1_r}");

    // secp256k1: the secret scalar, given on the command line, in the runbook's form (split is
    // the default command, ecdsa-secp256k1 the default scheme, dkls23 the default engine).
    let sk_hex = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
    let out_dir = dir.join("ecdsa");
    ok(&key_gen(
        &[
            "--child-key",
            sk_hex,
            "--account-id",
            "imported",
            "--parties",
            "2",
            "--threshold",
            "2",
            "--pubkeys",
            &svc_r,
            "--party-pubkeys",
            &party1,
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--primes",
            pool.to_str().unwrap(),
        ],
        None,
    ));
    let s = summary(&out_dir);
    assert_eq!(s.accounts[0].engine, Some(Engine::Dkls23));
    assert_eq!(pool_sets(&pool), 3, "a dkls23 run takes no prime set");
    let sk = k256::SecretKey::from_slice(&hex::decode(sk_hex).unwrap()).unwrap();
    let want = sk.public_key().to_sec1_bytes();
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    let want_compressed = sk.public_key().to_encoded_point(true).as_bytes().to_vec();
    assert_eq!(want.len(), 33);
    assert_eq!(s.accounts[0].public_key, hex::encode(&want_compressed));
    assert_eq!(
        s.accounts[0].ethereum_address.as_deref(),
        Some(ethereum_address(&want_compressed).as_str())
    );
    check_file(&out_dir, "service_key_shares.json.age", &svc_id, 0, &s);
    check_file(&out_dir, "party-1_key_shares.json.age", &p1_id, 1, &s);

    // Ed25519: the RFC 8032 seed, read from stdin (RFC 8032 test 1 seed).
    let seed_hex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let out_dir = dir.join("ed");
    ok(&key_gen(
        &[
            "split",
            "--scheme",
            "ed25519",
            "--account-id",
            "sol",
            "--child-key",
            "-",
            "--parties",
            "2",
            "--threshold",
            "2",
            "--pubkeys",
            &svc_r,
            "--party-pubkeys",
            &party1,
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
        Some(&format!("{seed_hex}\n")),
    ));
    let s = summary(&out_dir);
    let seed: [u8; 32] = hex::decode(seed_hex).unwrap().try_into().unwrap();
    let vk = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(s.accounts[0].public_key, hex::encode(vk.as_bytes()));
    assert_eq!(
        s.accounts[0].public_key,
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    check_file(&out_dir, "service_key_shares.json.age", &svc_id, 0, &s);
    check_file(&out_dir, "party-1_key_shares.json.age", &p1_id, 1, &s);
    assert_eq!(pool_sets(&pool), 3, "the Ed25519 run takes no prime set");

    // Invalid secp256k1 scalars: 0 and the group order n.
    for bad in [
        "00".repeat(32),
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141".into(),
        "abcd".into(),
    ] {
        let out_dir = dir.join("bad");
        let out = key_gen(
            &[
                "split",
                "--scheme",
                "ecdsa-secp256k1",
                "--account-id",
                "x",
                "--child-key",
                &bad,
                "--parties",
                "2",
                "--threshold",
                "2",
                "--pubkeys",
                &svc_r,
                "--party-pubkeys",
                &party1,
                "--out-dir",
                out_dir.to_str().unwrap(),
                "--primes",
                pool.to_str().unwrap(),
            ],
            None,
        );
        fails_with(&out, "--child-key");
        assert!(files_in(&out_dir).is_empty());
    }
    assert_eq!(pool_sets(&pool), 3);
}

#[test]
fn dkls23_is_the_default_and_needs_no_prime_pool() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ids: Vec<_> = (0..3)
        .map(|i| age_identity(dir, &format!("p{i}")))
        .collect();
    let (p0, p2) = (format!("0={}", ids[0].1), format!("2={}", ids[2].1));
    let args = |out: &Path| -> Vec<String> {
        [
            "split",
            "--account-id",
            "a",
            "--account-id",
            "b",
            "--parties",
            "3",
            "--threshold",
            "2",
            "--service-party",
            "1",
            "--pubkeys",
            &ids[1].1,
            "--party-pubkeys",
            &p0,
            "--party-pubkeys",
            &p2,
            "--out-dir",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // No pool, no prime generation (which would take minutes): DKLs23 deals no Paillier key.
    let out_dir = dir.join("out");
    let a = args(&out_dir);
    let started = std::time::Instant::now();
    let stderr = ok(&key_gen(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert!(!stderr.contains("generating"), "{stderr}");
    assert!(stderr.contains(": dkls23, 2 account(s)"), "{stderr}");
    let s = summary(&out_dir);
    assert_eq!(
        s.ecdsa_groups.values().collect::<Vec<_>>(),
        [&Engine::Dkls23]
    );
    assert!(s.accounts.iter().all(|a| a.engine == Some(Engine::Dkls23)));
    let stores = [
        check_file(&out_dir, "party-0_key_shares.json.age", &ids[0].0, 0, &s),
        check_file(&out_dir, "service_key_shares.json.age", &ids[1].0, 1, &s),
        check_file(&out_dir, "party-2_key_shares.json.age", &ids[2].0, 2, &s),
    ];
    for store in &stores {
        assert_eq!(store.ecdsa_groups().values().sum::<usize>(), 2, "one group");
    }
    eprintln!("sizes 2-of-3 dkls23: {:?}", s.sizes);
    let per_account = s.sizes.bytes_per_account["ecdsa-secp256k1/dkls23"];
    let pair_setup = s.sizes.ecdsa_group_bytes["dkls23"];
    assert!((200..1000).contains(&per_account), "{per_account}");
    assert!((100_000..800_000).contains(&pair_setup), "{pair_setup}");

    // A pool given to a run without cggmp24 accounts is left as it is.
    let pool = copy_pool(dir);
    let before = std::fs::read(&pool).unwrap();
    let mut a = args(&dir.join("out2"));
    a.extend(["--primes".into(), pool.to_str().unwrap().into()]);
    let stderr = ok(&key_gen(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    assert!(
        stderr.contains("no cggmp24 account, the prime pool is not used"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&pool).unwrap(), before);
}

/// One key split by each engine with the same `--child-key` and `--chain-code`: the same
/// public key, chain code and address at m, and the same child key and address at m/0/7
/// (checked against BIP32 computed here), so an account moves between engines without its
/// addresses changing.
#[test]
fn the_same_child_key_and_chain_code_keep_their_addresses_in_both_engines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pool = copy_pool(dir);
    let (svc_id, svc_r) = age_identity(dir, "service");
    let (_, p1_r) = age_identity(dir, "p1");
    let party1 = format!("1={p1_r}");
    let sk_hex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    let cc_hex = "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508";
    let split_in = |engine: &str| -> (Summary, KeyStore) {
        let out_dir = dir.join(engine);
        let stderr = ok(&key_gen(
            &[
                "split",
                "--engine",
                engine,
                "--account-id",
                "treasury",
                "--child-key",
                "-",
                "--chain-code",
                cc_hex,
                "--parties",
                "2",
                "--threshold",
                "2",
                "--pubkeys",
                &svc_r,
                "--party-pubkeys",
                &party1,
                "--out-dir",
                out_dir.to_str().unwrap(),
                "--primes",
                pool.to_str().unwrap(),
            ],
            Some(sk_hex),
        ));
        assert!(
            stderr.contains(&format!(": {engine}, 1 account(s)")),
            "{stderr}"
        );
        let s = summary(&out_dir);
        let store = check_file(&out_dir, "service_key_shares.json.age", &svc_id, 0, &s);
        (s, store)
    };
    let (dkls, dkls_store) = split_in("dkls23");
    let (cggmp, cggmp_store) = split_in("cggmp24");
    assert_eq!(pool_sets(&pool), 1, "only the cggmp24 run took prime sets");
    let (d, c) = (&dkls.accounts[0], &cggmp.accounts[0]);
    assert_eq!(
        (d.engine, c.engine),
        (Some(Engine::Dkls23), Some(Engine::Cggmp24))
    );
    assert_eq!(d.chain_code.as_deref(), Some(cc_hex));
    assert_eq!(c.chain_code.as_deref(), Some(cc_hex));
    assert_eq!(d.public_key, c.public_key);
    assert_eq!(d.ethereum_address, c.ethereum_address);
    let sk = k256::SecretKey::from_slice(&hex::decode(sk_hex).unwrap()).unwrap();
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    let root = sk.public_key().to_encoded_point(true).as_bytes().to_vec();
    assert_eq!(d.public_key, hex::encode(&root));
    assert_eq!(
        d.ethereum_address.as_deref(),
        Some(ethereum_address(&root).as_str())
    );
    let path: DerivationPath = "m/0/7".parse().unwrap();
    let want = bip32_child(&root, &hex::decode(cc_hex).unwrap(), &[0, 7]);
    for store in [&dkls_store, &cggmp_store] {
        let child = store.get("treasury").unwrap().public_key(&path).unwrap();
        assert_eq!(child.bytes, want);
        assert_eq!(
            child.ethereum_address().unwrap(),
            ethereum_address(&want),
            "the address at m/0/7"
        );
    }
}

/// A valid 2-of-2 command line (a cggmp24 ECDSA account + pool) to be broken one way at a
/// time.
struct Case {
    pool: std::path::PathBuf,
    out_dir: std::path::PathBuf,
    svc_r: String,
    p1_r: String,
}

impl Case {
    fn args(&self) -> Vec<String> {
        [
            "split",
            "--scheme",
            "ecdsa-secp256k1",
            "--engine",
            "cggmp24",
            "--account-id",
            "acct-1",
            "--parties",
            "2",
            "--threshold",
            "2",
            "--pubkeys",
            &self.svc_r,
            "--party-pubkeys",
            &format!("1={}", self.p1_r),
            "--out-dir",
            self.out_dir.to_str().unwrap(),
            "--primes",
            self.pool.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Replaces the value after `flag`.
    fn with(&self, flag: &str, value: &str) -> Vec<String> {
        let mut a = self.args();
        let i = a.iter().position(|x| x == flag).unwrap();
        a[i + 1] = value.to_owned();
        a
    }

    fn without(&self, flag: &str) -> Vec<String> {
        let mut a = self.args();
        let i = a.iter().position(|x| x == flag).unwrap();
        a.drain(i..i + 2);
        a
    }

    fn plus(&self, extra: &[&str]) -> Vec<String> {
        let mut a = self.args();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }
}

#[test]
fn bad_input_is_refused_before_any_share_file_or_pool_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pool = copy_pool(dir);
    let pool_bytes = std::fs::read(&pool).unwrap();
    let (_, svc_r) = age_identity(dir, "service");
    let (_, p1_r) = age_identity(dir, "p1");
    let out_dir = dir.join("out");
    let case = Case {
        pool: pool.clone(),
        out_dir: out_dir.clone(),
        svc_r,
        p1_r,
    };

    let short_pool = dir.join("short.json");
    let mut v: serde_json::Value = serde_json::from_slice(&pool_bytes).unwrap();
    v["sets"].as_array_mut().unwrap().truncate(1);
    std::fs::write(&short_pool, serde_json::to_vec(&v).unwrap()).unwrap();
    let bad_header = dir.join("bad-header.json");
    let mut v: serde_json::Value = serde_json::from_slice(&pool_bytes).unwrap();
    v["format"] = "not-a-pool".into();
    std::fs::write(&bad_header, serde_json::to_vec(&v).unwrap()).unwrap();
    let bad_version = dir.join("bad-version.json");
    let mut v: serde_json::Value = serde_json::from_slice(&pool_bytes).unwrap();
    v["version"] = 2.into();
    std::fs::write(&bad_version, serde_json::to_vec(&v).unwrap()).unwrap();
    let dup = dir.join("dup.txt");
    std::fs::write(&dup, "acct-2\nacct-2 ed25519\n").unwrap();
    let bad_engine = dir.join("bad-engine.txt");
    std::fs::write(&bad_engine, "acct-2 ecdsa-secp256k1 gg18\n").unwrap();
    let ed_engine = dir.join("ed-engine.txt");
    std::fs::write(&ed_engine, "acct-2 ed25519 dkls23\n").unwrap();
    let cc = "ab".repeat(32);

    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "missing party recipients",
            case.without("--party-pubkeys"),
            "no age recipient for party 1",
        ),
        (
            "missing service recipients",
            case.without("--pubkeys"),
            "no age recipient for the service party 0",
        ),
        (
            "bad recipient",
            case.with("--pubkeys", "age1notarecipient"),
            "is not an age X25519 recipient",
        ),
        (
            "bad party recipient",
            case.with("--party-pubkeys", "1=ssh-ed25519 AAAA"),
            "is not an age X25519 recipient",
        ),
        (
            "recipient for a party out of range",
            case.plus(&["--party-pubkeys", &format!("5={}", case.p1_r)]),
            "names party 5",
        ),
        (
            "threshold > parties",
            case.with("--threshold", "3"),
            "--threshold 3 is larger than --parties 2",
        ),
        (
            "threshold 1",
            case.with("--threshold", "1"),
            "--threshold must be at least 2",
        ),
        (
            "parties > 16",
            case.with("--parties", "17"),
            "--parties must be 2 to 16",
        ),
        (
            "service party out of range",
            case.plus(&["--service-party", "2"]),
            "--service-party 2 is not a party",
        ),
        (
            "child key with two accounts",
            case.plus(&["--account-id", "acct-2", "--child-key", &"11".repeat(32)]),
            "needs exactly one account",
        ),
        (
            "invalid account id",
            case.with("--account-id", "bad id!"),
            "account id may contain only",
        ),
        (
            "duplicate account id",
            case.plus(&["--account-id", "acct-1"]),
            "account id \"acct-1\" is given twice",
        ),
        (
            "duplicate in accounts file",
            case.plus(&["--accounts-file", dup.to_str().unwrap()]),
            "\"acct-2\" is given twice",
        ),
        (
            "bad pool header",
            case.with("--primes", bad_header.to_str().unwrap()),
            "format must be \"sigil-prime-pool\"",
        ),
        (
            "bad pool version",
            case.with("--primes", bad_version.to_str().unwrap()),
            "version 2 is not supported",
        ),
        (
            "pool with too few sets",
            case.with("--primes", short_pool.to_str().unwrap()),
            "has 1 prime sets, this run needs 2",
        ),
        (
            "unknown scheme",
            case.with("--scheme", "rsa"),
            "unknown scheme",
        ),
        (
            "unknown engine",
            case.with("--engine", "gg18"),
            "unknown ECDSA engine \"gg18\" (expected cggmp24 or dkls23)",
        ),
        (
            "unknown engine in the accounts file",
            case.plus(&["--accounts-file", bad_engine.to_str().unwrap()]),
            "line 1: unknown ECDSA engine \"gg18\"",
        ),
        (
            "an engine for an Ed25519 account",
            case.plus(&["--accounts-file", ed_engine.to_str().unwrap()]),
            "an engine column is allowed for ecdsa-secp256k1 only",
        ),
        (
            "chain code without a child key",
            case.plus(&["--chain-code", &cc]),
            "--chain-code goes with --child-key",
        ),
        (
            "chain code not 32 bytes",
            case.plus(&["--child-key", &"11".repeat(32), "--chain-code", "abcd"]),
            "--chain-code must be 32 bytes as 64 hex digits",
        ),
        (
            "chain code for an Ed25519 key",
            case.with("--scheme", "ed25519")
                .into_iter()
                .chain(["--child-key", &"11".repeat(32), "--chain-code", &cc].map(String::from))
                .collect(),
            "--chain-code is for a secp256k1 key",
        ),
    ];
    for (name, args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = key_gen(&args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: succeeded");
        assert!(
            stderr.contains(want),
            "{name}: expected {want:?} in: {stderr}"
        );
        assert!(
            files_in(&out_dir).is_empty(),
            "{name}: wrote {:?}",
            files_in(&out_dir)
        );
        assert_eq!(
            std::fs::read(&pool).unwrap(),
            pool_bytes,
            "{name}: the pool changed"
        );
    }
    assert_eq!(pool_sets(&short_pool), 1);

    // An existing output file is never overwritten without --force.
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("summary.json"), b"old").unwrap();
    let args = case.args();
    let out = key_gen(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    fails_with(&out, "refusing to overwrite");
    assert_eq!(files_in(&out_dir), ["summary.json"]);
    assert_eq!(std::fs::read(out_dir.join("summary.json")).unwrap(), b"old");
    assert_eq!(std::fs::read(&pool).unwrap(), pool_bytes);
    // With --force it is replaced.
    let args = case.plus(&["--force"]);
    ok(&key_gen(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    assert_eq!(summary(&out_dir).accounts.len(), 1);
    assert_eq!(pool_sets(&pool), 1);
}

#[test]
fn plaintext_only_with_the_insecure_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (svc_id, svc_r) = age_identity(dir, "service");
    let (p1_id, p1_r) = age_identity(dir, "p1");
    let (p2_id, p2_r) = age_identity(dir, "p2");
    let base = |out: &Path| -> Vec<String> {
        [
            "split",
            "--scheme",
            "ed25519",
            "--account-id",
            "e1",
            "--account-id",
            "e2",
            "--parties",
            "3",
            "--threshold",
            "3",
            "--pubkeys",
            &svc_r,
            "--party-pubkeys",
            &format!("1={p1_r}"),
            "--party-pubkeys",
            &format!("2={p2_r}"),
            "--out-dir",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let secure = dir.join("secure");
    let args = base(&secure);
    ok(&key_gen(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    let files = files_in(&secure);
    assert_eq!(files.len(), 4);
    assert!(
        files
            .iter()
            .all(|f| f.ends_with(".age") || f == "summary.json"),
        "{files:?}"
    );
    assert!(summary(&secure).ecdsa_groups.is_empty());

    let insecure = dir.join("insecure");
    let mut args = base(&insecure);
    args.push("--insecure-plaintext-out".into());
    let stderr = ok(&key_gen(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    assert!(stderr.contains("UNENCRYPTED KEY SHARES"), "{stderr}");
    assert!(summary(&insecure).insecure_plaintext_written);
    for (enc, plain, id) in [
        (
            "service_key_shares.json.age",
            "service_key_shares.json",
            &svc_id,
        ),
        (
            "party-1_key_shares.json.age",
            "party-1_key_shares.json",
            &p1_id,
        ),
        (
            "party-2_key_shares.json.age",
            "party-2_key_shares.json",
            &p2_id,
        ),
    ] {
        let plain_bytes = std::fs::read(insecure.join(plain)).unwrap();
        assert_eq!(mode(&insecure.join(plain)), 0o600);
        assert_eq!(age_decrypt(id, &insecure.join(enc)), plain_bytes);
        KeyStore::from_json(&plain_bytes).unwrap();
    }

    // A later run into the same directory without the flag does not leave the old plaintext
    // shares next to its own files: refused without --force, removed with it.
    let args = base(&insecure);
    let out = key_gen(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    fails_with(&out, "service_key_shares.json,");
    let mut args = base(&insecure);
    args.push("--force".into());
    ok(&key_gen(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    ));
    let files = files_in(&insecure);
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.ends_with(".age") || f == "summary.json"),
        "{files:?}"
    );
    assert!(!summary(&insecure).insecure_plaintext_written);
}

#[test]
fn primes_command_refuses_bad_arguments_and_pools() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        br#"{"format":"sigil-prime-pool","version":1,"security_level":256,"sets":[]}"#,
    )
    .unwrap();
    let before = std::fs::read(&bad).unwrap();
    fails_with(
        &key_gen(
            &["primes", "--count", "1", "--out", bad.to_str().unwrap()],
            None,
        ),
        "security level 256 is not supported",
    );
    assert_eq!(std::fs::read(&bad).unwrap(), before);
    let out = tmp.path().join("new.json");
    fails_with(
        &key_gen(
            &["primes", "--count", "0", "--out", out.to_str().unwrap()],
            None,
        ),
        "--count must be at least 1",
    );
    fails_with(
        &key_gen(
            &[
                "primes",
                "--count",
                "1",
                "--threads",
                "0",
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        ),
        "--threads",
    );
    assert!(!out.exists());
}
