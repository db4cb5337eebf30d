//! The library without the CLI: `ceremony::split` in memory (as other crates' tests use it),
//! real threshold signatures from the split shares with a party subset in both ECDSA engines,
//! one key re-split in the other engine signing under the same child key, and the prime
//! pool's read / append / consume / lock logic on the fixture pool.

#![allow(clippy::unwrap_used)] // test code: a failed step is a failed test

mod common;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use common::*;
use sigil_key_gen::accounts::AccountSpec;
use sigil_key_gen::ceremony::{ChildKey, Plan, split};
use sigil_key_gen::primes::{self, PoolLock, PrimePool};
use sigil_mpc::{
    EcdsaHash, Engine, KeyStore, MessageIo, MpcError, Scheme, Session, SignData, Signature,
    WireMessage,
};

/// One party's end of an in-memory network.
struct Net {
    me: u16,
    inbox: Receiver<WireMessage>,
    peers: Vec<(u16, Sender<WireMessage>)>,
}

impl MessageIo for Net {
    fn send(&mut self, msg: WireMessage) -> Result<(), MpcError> {
        for (p, tx) in &self.peers {
            if msg.to.is_none_or(|to| to == *p) {
                tx.send(msg.clone())
                    .map_err(|_| MpcError::Channel("peer gone".into()))?;
            }
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<WireMessage, MpcError> {
        self.inbox
            .recv_timeout(Duration::from_secs(120))
            .map_err(|_| MpcError::Channel(format!("party {} timed out", self.me)))
    }
}

/// Signs `data` for `account` with the given parties' stores; returns each party's signature.
fn sign(stores: &[&KeyStore], account: &str, path: &str, data: SignData) -> Vec<Signature> {
    let parties: Vec<u16> = stores.iter().map(|s| s.party_index()).collect();
    let session =
        Session::new("s-1", account, parties.clone(), path.parse().unwrap(), data).unwrap();
    let mut inboxes = Vec::new();
    let senders: Vec<(u16, Sender<WireMessage>)> = parties
        .iter()
        .map(|&p| {
            let (tx, rx) = channel();
            inboxes.push(rx);
            (p, tx)
        })
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .zip(inboxes)
            .map(|(store, inbox)| {
                let me = store.party_index();
                let peers = senders.iter().filter(|(p, _)| *p != me).cloned().collect();
                let key = store.get(account).unwrap().clone();
                let session = session.clone();
                scope.spawn(move || key.sign(&session, &mut Net { me, inbox, peers }))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    })
}

#[test]
fn in_memory_split_signs_with_any_threshold_subset() {
    let pool = PrimePool::load(&fixture_pool_path()).unwrap();
    let mut pool = pool;
    let sets = pool.take(&fixture_pool_path(), 3).unwrap();
    let mut plan = Plan::new(
        vec![
            AccountSpec::new("eth-1", Scheme::EcdsaSecp256k1),
            AccountSpec::new("sol-1", Scheme::Ed25519),
            AccountSpec::new("eth-legacy", Scheme::EcdsaSecp256k1).with_engine(Engine::Cggmp24),
        ],
        3,
        2,
    );
    plan.primes = Some(sets);
    let started = std::time::Instant::now();
    let ceremony = split(&plan).unwrap();
    eprintln!(
        "split 3 accounts 2-of-3 (aux from pool, one pair setup): {:?}",
        started.elapsed()
    );
    assert_eq!(ceremony.shares.len(), 3);
    let stores: Vec<KeyStore> = (0..3).map(|i| ceremony.key_store(i).unwrap()).collect();
    let s = &ceremony.summary;
    assert!(s.files.is_empty());

    assert_eq!(
        s.accounts[0].engine,
        Some(Engine::Dkls23),
        "the default engine"
    );
    assert_eq!(s.accounts[2].engine, Some(Engine::Cggmp24));
    assert_eq!(stores[0].ecdsa_engines().len(), 2, "one group per engine");

    // ECDSA in both engines with parties 0 and 2 at a derived path; checked with k256 against
    // the summary's extended public key.
    let payload = b"transfer 1 ETH".to_vec();
    for (i, account) in [(0, "eth-1"), (2, "eth-legacy")] {
        let sigs = sign(
            &[&stores[0], &stores[2]],
            account,
            "m/0/5",
            SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload: payload.clone(),
            },
        );
        let a = &s.accounts[i];
        let child = bip32_child(
            &hex::decode(&a.public_key).unwrap(),
            &hex::decode(a.chain_code.as_ref().unwrap()).unwrap(),
            &[0, 5],
        );
        verify_keccak(&child, &payload, &sigs);
    }

    // Ed25519 with parties 1 and 2, checked with ed25519-dalek.
    let msg = b"solana tx".to_vec();
    let sigs = sign(
        &[&stores[1], &stores[2]],
        "sol-1",
        "m",
        SignData::Ed25519(msg.clone()),
    );
    let pk: [u8; 32] = hex::decode(&s.accounts[1].public_key)
        .unwrap()
        .try_into()
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).unwrap();
    for sig in &sigs {
        vk.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig.to_bytes()))
            .unwrap();
    }
}

/// Checks ECDSA signatures over Keccak-256(`payload`) under `public` with k256.
fn verify_keccak(public: &[u8], payload: &[u8], sigs: &[Signature]) {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    use sha3::Digest;
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(public).unwrap();
    let digest = sha3::Keccak256::digest(payload);
    for sig in sigs {
        let k = k256::ecdsa::Signature::from_slice(&sig.to_bytes()).unwrap();
        vk.verify_prehash(&digest, &k).unwrap();
    }
}

/// One secp256k1 key split by DKLs23 (without any prime set: none is generated either) and by
/// cggmp24 with the same chain code: the same public key, the same child key at m/0/7, and
/// both sign under it.
#[test]
fn one_key_and_chain_code_sign_alike_in_both_engines() {
    let sk = [0x2a; 32];
    let chain_code = [0x5c; 32];
    let ceremony = |engine: Engine, primes| {
        let mut plan = Plan::new(vec![AccountSpec::new("k", Scheme::EcdsaSecp256k1)], 2, 2);
        plan.engine = engine;
        plan.child_key = Some(ChildKey::from_bytes(sk));
        plan.chain_code = Some(chain_code);
        plan.primes = primes;
        assert_eq!(plan.needs_primes(), engine == Engine::Cggmp24);
        split(&plan).unwrap()
    };
    let started = std::time::Instant::now();
    let dkls = ceremony(Engine::Dkls23, None);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no prime was generated"
    );
    let mut pool = PrimePool::load(&fixture_pool_path()).unwrap();
    let cggmp = ceremony(
        Engine::Cggmp24,
        Some(pool.take(&fixture_pool_path(), 2).unwrap()),
    );
    let (d, c) = (&dkls.summary.accounts[0], &cggmp.summary.accounts[0]);
    assert_eq!(d.public_key, c.public_key);
    assert_eq!(d.chain_code, Some(hex::encode(chain_code)));
    assert_eq!(c.chain_code, d.chain_code);
    let child = bip32_child(&hex::decode(&d.public_key).unwrap(), &chain_code, &[0, 7]);
    for ceremony in [&dkls, &cggmp] {
        let stores: Vec<KeyStore> = (0..2).map(|i| ceremony.key_store(i).unwrap()).collect();
        let sigs = sign(
            &[&stores[0], &stores[1]],
            "k",
            "m/0/7",
            SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload: b"same address".to_vec(),
            },
        );
        verify_keccak(&child, b"same address", &sigs);
    }
}

#[test]
fn ed25519_child_key_signs_like_the_seed() {
    let seed = [7u8; 32];
    let mut plan = Plan::new(vec![AccountSpec::new("sol", Scheme::Ed25519)], 2, 2);
    plan.child_key = Some(ChildKey::from_bytes(seed));
    let ceremony = split(&plan).unwrap();
    let stores: Vec<KeyStore> = (0..2).map(|i| ceremony.key_store(i).unwrap()).collect();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
    assert_eq!(
        ceremony.summary.accounts[0].public_key,
        hex::encode(dalek.verifying_key().as_bytes())
    );
    let sigs = sign(
        &[&stores[0], &stores[1]],
        "sol",
        "m",
        SignData::Ed25519(b"m".to_vec()),
    );
    dalek
        .verifying_key()
        .verify_strict(
            b"m",
            &ed25519_dalek::Signature::from_bytes(&sigs[0].to_bytes()),
        )
        .unwrap();
    // Debug never shows the key.
    assert_eq!(
        format!("{:?}", plan.child_key.unwrap()),
        "ChildKey(<redacted>)"
    );
}

#[test]
fn plan_validation() {
    let ed = |id: &str| AccountSpec::new(id, Scheme::Ed25519);
    let ok = Plan::new(vec![ed("a")], 2, 2);
    ok.validate().unwrap();
    let mut p = ok.clone();
    p.threshold = 3;
    assert!(split(&p).is_err());
    let mut p = ok.clone();
    p.accounts.push(ed("b"));
    p.child_key = Some(ChildKey::from_bytes([1; 32]));
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("exactly one account")
    );
    // cggmp24 with the wrong number of prime sets; DKLs23 ignores them.
    let mut p = Plan::new(
        vec![AccountSpec::new("e", Scheme::EcdsaSecp256k1).with_engine(Engine::Cggmp24)],
        3,
        2,
    );
    let mut pool = PrimePool::load(&fixture_pool_path()).unwrap();
    p.primes = Some(pool.take(&fixture_pool_path(), 2).unwrap());
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("2 prime sets given for 3 parties")
    );
    p.accounts[0].engine = None;
    assert_eq!(p.engine, Engine::Dkls23, "the default engine");
    p.validate().unwrap();
    // A chain code goes with a given secp256k1 key only; an engine with ECDSA accounts only.
    let mut p = Plan::new(vec![AccountSpec::new("e", Scheme::EcdsaSecp256k1)], 2, 2);
    p.chain_code = Some([1; 32]);
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("--chain-code goes with --child-key"), "{e}");
    p.child_key = Some(ChildKey::from_bytes([1; 32]));
    p.validate().unwrap();
    p.accounts[0].scheme = Scheme::Ed25519;
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("--chain-code is for a secp256k1 key"), "{e}");
    let p = Plan::new(vec![ed("s").with_engine(Engine::Cggmp24)], 2, 2);
    let e = p.validate().unwrap_err().to_string();
    assert!(
        e.contains("an ECDSA engine applies to ecdsa-secp256k1"),
        "{e}"
    );
    assert!(sigil_key_gen::ceremony::parse_chain_code(&format!("0x{}", "ab".repeat(32))).is_ok());
    assert!(sigil_key_gen::ceremony::parse_chain_code("ab").is_err());
    assert!(ChildKey::from_hex("0x1234").is_err());
    assert!(ChildKey::from_hex(&format!("0x{}", "ab".repeat(32))).is_ok());
}

#[test]
fn pool_append_consume_and_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = fixture_pool_path();
    let mut source = PrimePool::load(&fixture).unwrap();
    assert_eq!(source.len(), 3);
    let sets = source.take(&fixture, 3).unwrap();

    // Append creates the pool (0600), then grows it.
    let pool = tmp.path().join("pool.json");
    assert_eq!(primes::append(&pool, sets[..1].to_vec()).unwrap(), 1);
    assert_eq!(primes::append(&pool, sets[1..].to_vec()).unwrap(), 3);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pool).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A set already in the pool is refused (a pool appended twice would reuse primes).
    let e = primes::append(&pool, sets[..1].to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.contains("appears twice"), "{e}");
    assert_eq!(pool_sets(&pool), 3);

    // Consume takes from the front and rewrites the pool.
    let (taken, left) = primes::consume(&pool, 2).unwrap();
    assert_eq!((taken.len(), left), (2, 1));
    assert_eq!(taken[0].primes_ref(), sets[0].primes_ref());
    assert_eq!(pool_sets(&pool), 1);
    let before = std::fs::read(&pool).unwrap();
    let e = primes::consume(&pool, 2).err().unwrap().to_string();
    assert!(e.contains("has 1 prime sets, this run needs 2"), "{e}");
    assert_eq!(std::fs::read(&pool).unwrap(), before);

    // While another process holds the lock, nothing happens.
    let lock = PoolLock::acquire(&pool).unwrap();
    let e = primes::consume(&pool, 1).err().unwrap().to_string();
    assert!(e.contains("in use"), "{e}");
    drop(lock);
    assert_eq!(primes::consume(&pool, 1).unwrap().1, 0);
    // No temporary file is left behind.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["pool.json", "pool.json.lock"]);
}

#[test]
fn pool_reader_rejects_bad_files() {
    let fixture = std::fs::read(fixture_pool_path()).unwrap();
    let base: serde_json::Value = serde_json::from_slice(&fixture).unwrap();
    let p = std::path::Path::new("p.json");
    let variant = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = base.clone();
        f(&mut v);
        PrimePool::from_json(p, &serde_json::to_vec(&v).unwrap())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(variant(&|v| v["format"] = "x".into()).contains("format must be"));
    assert!(variant(&|v| v["version"] = 9.into()).contains("version 9"));
    assert!(variant(&|v| v["security_level"] = 80.into()).contains("security level 80"));
    assert!(variant(&|v| v["extra"] = 1.into()).contains("not a prime pool"));
    // A prime cut to 1024 bits.
    assert!(
        variant(&|v| {
            let s = v["sets"][0]["primes"][0]["value"].as_str().unwrap()[..256].to_owned();
            v["sets"][0]["primes"][0]["value"] = s.into();
        })
        .contains("smaller than 1536 bits")
    );
    // A duplicated set.
    assert!(
        variant(&|v| {
            let first = v["sets"][0].clone();
            v["sets"].as_array_mut().unwrap().push(first);
        })
        .contains("appears twice")
    );
    // Right size but not a safe prime: detected when the set is taken.
    let mut v = base.clone();
    let s = v["sets"][0]["primes"][1]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'f' { 'd' } else { 'f' };
    v["sets"][0]["primes"][1]["value"] = chars.into_iter().collect::<String>().into();
    let mut pool = PrimePool::from_json(p, &serde_json::to_vec(&v).unwrap()).unwrap();
    let e = pool.take(p, 1).err().unwrap().to_string();
    assert!(e.contains("not a safe prime"), "{e}");
    assert_eq!(pool.len(), 3);
    assert!(
        PrimePool::from_json(p, &fixture)
            .unwrap()
            .take(p, 3)
            .is_ok()
    );
}

#[test]
fn many_accounts_are_dealt_in_parallel_in_plan_order_and_encoded_exactly() {
    let mut pool = PrimePool::load(&fixture_pool_path()).unwrap();
    // Ed25519, cggmp24 and (the default) DKLs23 accounts interleaved.
    let accounts: Vec<AccountSpec> = (0..300)
        .map(|i| {
            let id = format!("acct-{i:03}");
            match (i % 7, i % 5) {
                (3, _) => AccountSpec::new(id, Scheme::Ed25519),
                (_, 0) => AccountSpec::new(id, Scheme::EcdsaSecp256k1).with_engine(Engine::Cggmp24),
                _ => AccountSpec::new(id, Scheme::EcdsaSecp256k1),
            }
        })
        .collect();
    let mut plan = Plan::new(accounts.clone(), 2, 2);
    plan.primes = Some(pool.take(&fixture_pool_path(), 2).unwrap());
    let ceremony = split(&plan).unwrap();
    let ids = |list: Vec<&str>| list.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let want: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
    let summary_ids = ids(ceremony
        .summary
        .accounts
        .iter()
        .map(|a| a.account_id.as_str())
        .collect());
    assert_eq!(summary_ids, want);
    for file in &ceremony.shares {
        let file_ids = ids(file
            .accounts
            .iter()
            .map(|a| a.account_id.as_str())
            .collect());
        assert_eq!(file_ids, want);
        for (entry, summary) in file.accounts.iter().zip(&ceremony.summary.accounts) {
            assert_eq!(entry.public_key, summary.public_key);
        }
        // The parallel encoder writes exactly what serde_json writes.
        let json = sigil_key_gen::ceremony::file_json(file).unwrap();
        assert_eq!(&json[..], &serde_json::to_vec(file).unwrap()[..]);
        assert_eq!(json.len(), json.capacity());
    }
    // Every account has its own key.
    let mut keys: Vec<&str> = ceremony
        .summary
        .accounts
        .iter()
        .map(|a| a.public_key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 300);
    let store = ceremony.key_store(0).unwrap();
    assert_eq!(store.len(), 300);
    assert_eq!(store.ecdsa_groups().values().sum::<usize>(), 300 - 43);
    let cggmp24 = (0..300).filter(|i| i % 7 != 3 && i % 5 == 0).count();
    let mut per_engine: Vec<(Engine, usize)> = store
        .ecdsa_engines()
        .iter()
        .map(|(group, engine)| (*engine, store.ecdsa_groups()[group]))
        .collect();
    per_engine.sort_by_key(|(e, _)| e.as_str());
    assert_eq!(
        per_engine,
        [(Engine::Cggmp24, cggmp24), (Engine::Dkls23, 257 - cggmp24)]
    );

    let empty = sigil_mpc::share_file::ShareFile {
        format: sigil_mpc::share_file::FORMAT.into(),
        version: sigil_mpc::share_file::VERSION,
        party_index: 3,
        ecdsa_groups: Default::default(),
        accounts: Vec::new(),
    };
    let json = sigil_key_gen::ceremony::file_json(&empty).unwrap();
    assert_eq!(&json[..], &serde_json::to_vec(&empty).unwrap()[..]);
}
