#![allow(clippy::unwrap_used, missing_docs)]
//! The DKLs23 engine end to end: every party's keys loaded from its key-share file through
//! `KeyStore::from_json`, sessions on threads of their own, every signature checked by k256
//! (libsecp256k1 checks the CLI's in `scripts/verify-signatures.py`); keys and child keys
//! equal to cggmp24's for the same secret and chain code; hostile messages refused; and a
//! cheating co-signer freezing the whole signer group.

use std::collections::BTreeMap;
use std::sync::Arc;

use cggmp24::generic_ec::{NonZero, SecretScalar};
use cggmp24::security_level::SecurityLevel128;
use cggmp24::supported_curves::Secp256k1;
use dkls23_core::protocols::signing::TransmitPhase1to2;
use k256::ecdsa::{RecoveryId, VerifyingKey, signature::hazmat::PrehashVerifier};
use sigil_mpc::dkls23_dealer as dealer;
use sigil_mpc::share_file::ShareFile;
use sigil_mpc::{
    DerivationPath, EcdsaHash, Engine, KeyStore, MpcError, Session, SignData, Signature,
    ThresholdKey, WireMessage,
};

mod common;
use common::{Tamper, run, same_session};

/// A dealt t-of-n DKLs23 group with `accounts` accounts: each party's key store.
fn stores(t: u16, n: u16, accounts: &[&str]) -> Vec<KeyStore> {
    files(t, n, accounts)
        .into_iter()
        .map(|f| KeyStore::from_json(&serde_json::to_vec(&f).unwrap()).unwrap())
        .collect()
}

fn files(t: u16, n: u16, accounts: &[&str]) -> Vec<ShareFile> {
    dealer::random_share_files("d", t, n, accounts).unwrap()
}

fn keys(stores: &[KeyStore], account: &str) -> Vec<Arc<dyn ThresholdKey>> {
    stores
        .iter()
        .map(|s| s.get(account).unwrap().clone())
        .collect()
}

fn session(id: &str, account: &str, parties: &[u16], path: &str, data: SignData) -> Session {
    Session::new(id, account, parties.to_vec(), path.parse().unwrap(), data).unwrap()
}

/// Checks an ECDSA signature with k256: valid under `public`, low s, and its recovery id
/// recovers `public`.
fn verify(sig: &Signature, public: &[u8], digest: &[u8; 32]) {
    let Signature::Ecdsa { r, s, recovery_id } = sig else {
        panic!("not ECDSA: {sig:?}")
    };
    let sig = k256::ecdsa::Signature::from_scalars(*r, *s).unwrap();
    assert!(sig.normalize_s().is_none(), "s is low");
    let vk = VerifyingKey::from_sec1_bytes(public).unwrap();
    vk.verify_prehash(digest, &sig).unwrap();
    let recovered = VerifyingKey::recover_from_prehash(
        digest,
        &sig,
        RecoveryId::from_byte(*recovery_id).unwrap(),
    )
    .unwrap();
    assert_eq!(recovered, vk);
}

#[test]
fn two_of_two_and_two_of_three_sign_at_root_and_child_paths() {
    for (t, n, signer_sets) in [
        (2, 2, vec![vec![0, 1]]),
        (2, 3, vec![vec![0, 1], vec![0, 2], vec![1, 2]]),
    ] {
        let stores = stores(t, n, &["acct"]);
        assert_eq!(stores[0].ecdsa_engines()["d"], Engine::Dkls23);
        let keys = keys(&stores, "acct");
        for signers in signer_sets {
            for path in ["m", "m/0/7"] {
                for data in [
                    SignData::Ecdsa {
                        hash: EcdsaHash::Keccak256,
                        payload: b"\xf8\x6b an RLP transaction".to_vec(),
                    },
                    SignData::Ecdsa {
                        hash: EcdsaHash::Sha256,
                        payload: b"hello".to_vec(),
                    },
                    SignData::EcdsaPrehashed([0xfe; 32]),
                ] {
                    let results = run(&keys, same_session(&signers, path, data.clone()), None);
                    let public = keys[0].public_key(&path.parse().unwrap()).unwrap();
                    let first = results[0].as_ref().unwrap();
                    for r in &results {
                        assert_eq!(r.as_ref().unwrap(), first, "every signer outputs the same");
                    }
                    verify(first, &public.bytes, &data.digest());
                }
            }
        }
        let root = keys[0].public_key(&DerivationPath::root()).unwrap();
        let child = keys[0].public_key(&"m/0/7".parse().unwrap()).unwrap();
        assert_ne!(root, child);
    }
}

#[test]
fn keys_and_child_keys_equal_cggmp24s_for_the_same_secret_and_chain_code() {
    let secret = SecretScalar::<Secp256k1>::random(&mut rand_core::OsRng);
    let cores = cggmp24::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(3)
        .set_threshold(Some(2))
        .hd_wallet(true)
        .set_shared_secret_key(NonZero::from_secret_scalar(secret.clone()).unwrap())
        .generate_core_shares(&mut rand_core::OsRng)
        .unwrap();
    let chain_code = cores[0].chain_code.unwrap();
    let account = dealer::Account {
        id: "moved",
        secret: &secret,
        chain_code,
    };
    let files = dealer::share_files("d", 2, 3, &[account]).unwrap();
    let store = KeyStore::from_json(&serde_json::to_vec(&files[1]).unwrap()).unwrap();
    let dkls = store.get("moved").unwrap();
    for path in ["m", "m/0", "m/0/7", "m/44/60/0/0/5", "m/2147483647"] {
        let path: DerivationPath = path.parse().unwrap();
        let cggmp = cores[1]
            .derive_child_public_key::<cggmp24::hd_wallet::Slip10, _>(
                path.indexes().iter().copied(),
            )
            .unwrap()
            .public_key
            .to_bytes(true)
            .to_vec();
        let ours = dkls.public_key(&path).unwrap();
        assert_eq!(ours.bytes, cggmp, "{path}");
        assert!(ours.ethereum_address().is_some());
    }
}

#[test]
fn the_pair_setup_is_held_once_per_group() {
    let stores = stores(2, 2, &["a", "b", "c"]);
    assert_eq!(stores[0].ecdsa_groups(), BTreeMap::from([("d", 3)]));
    // Every account refers to the one group: a freeze through one is seen by all (below), and
    // the account itself holds a share, a public key and a chain code.
    let bytes = std::mem::size_of::<sigil_mpc::dkls23::Dkls23Key>();
    assert!(bytes < 512, "{bytes} bytes per DKLs23 account key");
}

/// Rewrites party 0's round-one messages with `f`.
fn tamper_round_one(f: impl Fn(&mut TransmitPhase1to2) + Send + Sync + 'static) -> Tamper {
    Arc::new(move |msg: &mut WireMessage| {
        if msg.payload.first() == Some(&0x10) {
            let mut m: TransmitPhase1to2 = postcard::from_bytes(&msg.payload[1..]).unwrap();
            f(&mut m);
            msg.payload = postcard::to_extend(&m, vec![0x10]).unwrap();
        }
    })
}

#[test]
fn a_cheating_cosigner_freezes_every_account_of_the_group() {
    let stores = stores(2, 3, &["a", "b"]);
    let a = keys(&stores, "a");
    let data = SignData::Ecdsa {
        hash: EcdsaHash::Keccak256,
        payload: b"tx".to_vec(),
    };
    // Party 0 corrupts its OT-extension consistency proof: party 1's check fails.
    let cheat = tamper_round_one(|m| m.mul_transmit.verify_x[0] ^= 1);
    let results = run(&a, same_session(&[0, 1], "m", data.clone()), Some(cheat));
    let Err(MpcError::Cheating {
        group,
        party,
        reason,
    }) = &results[1]
    else {
        panic!("party 1 must name the cheater: {:?}", results[1])
    };
    assert_eq!((group.as_str(), *party), ("d", 0));
    assert!(
        reason.contains("multiplication") || reason.contains("OT"),
        "{reason}"
    );
    let frozen = stores[1].frozen_groups();
    assert_eq!(frozen["d"].party, 0);
    assert!(
        stores[0].frozen_groups().is_empty(),
        "the cheater's own store knows nothing"
    );
    assert!(
        stores[2].frozen_groups().is_empty(),
        "party 2 was not in the session"
    );

    // Every later session of every account of the group is refused by party 1, before a
    // message is exchanged, and with any co-signer.
    for (account, signers) in [("a", [0, 1]), ("b", [0, 1]), ("b", [1, 2])] {
        let key = stores[1].get(account).unwrap();
        let s = session("later", account, &signers, "m/1", data.clone());
        let e = key.check(&s).unwrap_err();
        assert!(matches!(e, MpcError::GroupFrozen { .. }), "{e}");
        assert!(
            e.to_string().contains("deal the group's pair setup again"),
            "{e}"
        );
        let keys = keys(&stores, account);
        let results = run(&keys, same_session(&signers, "m", data.clone()), None);
        let mine = signers.iter().position(|&p| p == 1).unwrap();
        assert!(matches!(results[mine], Err(MpcError::GroupFrozen { .. })));
    }
    // Party 2, never cheated on, still signs with party 0 in its own store's view; a re-dealt
    // group signs again for every party.
    let fresh = self::stores(2, 3, &["a"]);
    let keys = keys(&fresh, "a");
    let results = run(&keys, same_session(&[0, 1], "m", data.clone()), None);
    verify(
        results[1].as_ref().unwrap(),
        &keys[1].public_key(&DerivationPath::root()).unwrap().bytes,
        &data.digest(),
    );
}

#[test]
fn garbled_replayed_cross_session_and_cross_account_messages_abort_without_a_freeze() {
    let stores = stores(2, 2, &["a", "b"]);
    let data = SignData::Ecdsa {
        hash: EcdsaHash::Keccak256,
        payload: b"tx".to_vec(),
    };
    let bad_message =
        |r: &Result<Signature, MpcError>| matches!(r, Err(MpcError::BadMessage { party: 0, .. }));
    // Garbled framing: not a DKLs23 message, truncated, trailing bytes, wrong round kind.
    let garbles: Vec<Tamper> = vec![
        Arc::new(|m: &mut WireMessage| m.payload = vec![0x99, 1, 2]),
        Arc::new(|m: &mut WireMessage| m.payload.truncate(m.payload.len() / 2)),
        Arc::new(|m: &mut WireMessage| m.payload.extend_from_slice(&[0, 0])),
        Arc::new(|m: &mut WireMessage| m.payload.clear()),
        Arc::new(|m: &mut WireMessage| m.to = None),
    ];
    for garble in garbles {
        let results = run(
            &keys(&stores, "a"),
            same_session(&[0, 1], "m", data.clone()),
            Some(garble),
        );
        assert!(bad_message(&results[1]), "{:?}", results[1]);
    }
    // A message naming another sender than its envelope.
    let spoof = tamper_round_one(|m| {
        m.parties.sender = dkls23_core::protocols::PartyIndex::new(2).unwrap()
    });
    let results = run(
        &keys(&stores, "a"),
        same_session(&[0, 1], "m", data.clone()),
        Some(spoof),
    );
    assert!(bad_message(&results[1]), "{:?}", results[1]);

    // Messages of another session, another account, another path or another payload: the
    // session binding differs and the receiver aborts before any OT work.
    let recorded = Arc::new(std::sync::Mutex::new(Vec::<WireMessage>::new()));
    let keep = recorded.clone();
    let record: Tamper = Arc::new(move |m: &mut WireMessage| keep.lock().unwrap().push(m.clone()));
    let base = session("s-1", "a", &[0, 1], "m", data.clone());
    let results = run(
        &keys(&stores, "a"),
        vec![base.clone(), base.clone()],
        Some(record),
    );
    assert!(results.iter().all(Result::is_ok));
    let old_round_one = recorded.lock().unwrap()[0].clone();
    let others = [
        ("s-1", "a", "m", b"tx".to_vec()), // a replay of a finished session
        ("s-2", "a", "m", b"tx".to_vec()), // another session
        ("s-1", "b", "m", b"tx".to_vec()), // another account of the group
        ("s-1", "a", "m/1", b"tx".to_vec()), // another path
        ("s-1", "a", "m", b"tx2".to_vec()), // another payload
    ];
    for (id, account, path, payload) in others {
        let replay = old_round_one.clone();
        let inject: Tamper = Arc::new(move |m: &mut WireMessage| {
            if m.payload.first() == Some(&0x10) {
                *m = replay.clone();
            }
        });
        let data = SignData::Ecdsa {
            hash: EcdsaHash::Keccak256,
            payload,
        };
        let s = session(id, account, &[0, 1], path, data);
        let results = run(&keys(&stores, account), vec![s.clone(), s], Some(inject));
        let replayed_whole_session = (id, account, path) == ("s-1", "a", "m");
        match &results[1] {
            Err(MpcError::Protocol(e)) => {
                assert!(
                    e.contains("different signing session"),
                    "{id} {account} {path}: {e}"
                )
            }
            // Replaying the very session's own first message is an honest message again: the
            // fresh OT nonces then make the answers disagree (a recoverable abort) or, here,
            // the same message is simply accepted and the session completes.
            Ok(_) if replayed_whole_session => {}
            other => panic!("{id} {account} {path}: {other:?}"),
        }
    }
    assert!(stores.iter().all(|s| s.frozen_groups().is_empty()));
}

#[test]
fn the_loader_refuses_inconsistent_dkls23_groups_and_shares() {
    let good = serde_json::to_value(&files(2, 2, &["a"])[0]).unwrap();
    let refused = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        KeyStore::from_json(&serde_json::to_vec(&v).unwrap())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("accepted"))
    };
    assert!(KeyStore::from_json(&serde_json::to_vec(&good).unwrap()).is_ok());
    let group = |v: &mut serde_json::Value| v["ecdsa_groups"]["d"].clone();
    fn share(v: &mut serde_json::Value) -> &mut serde_json::Value {
        &mut v["accounts"][0]["share"]["ecdsa-secp256k1"]["dkls23"]
    }
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("version 2", Box::new(|v| v["version"] = 1.into())),
        (
            "ECDSA group \"d\"",
            Box::new(|v| v["ecdsa_groups"]["d"]["aux"] = serde_json::json!({})),
        ),
        (
            "`pair_setup`",
            Box::new(|v| {
                v["ecdsa_groups"]["d"]
                    .as_object_mut()
                    .unwrap()
                    .remove("pair_setup");
            }),
        ),
        (
            "threshold",
            Box::new(|v| v["ecdsa_groups"]["d"]["threshold"] = 3.into()),
        ),
        (
            "exactly the other parties",
            Box::new(|v| {
                v["ecdsa_groups"]["d"]["pair_setup"]["mul_senders"] = serde_json::json!({});
            }),
        ),
        (
            "session_id",
            Box::new(|v| v["ecdsa_groups"]["d"]["pair_setup"]["session_id"] = "00".into()),
        ),
        (
            "a cggmp24 group has `aux`",
            Box::new(move |v| {
                let mut g = group(v);
                g["engine"] = "cggmp24".into();
                v["ecdsa_groups"]["d"] = g;
            }),
        ),
        (
            "does not match this party's public share",
            Box::new(move |v| {
                share(v)["share"] = hex::encode([7u8; 32]).into();
            }),
        ),
        (
            "do not match the account's public key",
            Box::new(move |v| {
                let other = hex::encode(
                    (cggmp24::generic_ec::Point::<Secp256k1>::generator()
                        * SecretScalar::<Secp256k1>::random(&mut rand_core::OsRng))
                    .to_bytes(true),
                );
                share(v)["public_shares"][1] = other.into();
            }),
        ),
        (
            "one entry per party",
            Box::new(move |v| {
                share(v)["public_shares"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "malformed",
            Box::new(move |v| share(v)["chain_code"] = "abcd".into()),
        ),
        (
            "needs `dkls23` only",
            Box::new(move |v| {
                v["accounts"][0]["share"]["ecdsa-secp256k1"]
                    .as_object_mut()
                    .unwrap()
                    .remove("dkls23");
            }),
        ),
    ];
    for (want, f) in cases {
        let e = refused(f.as_ref());
        assert!(e.contains(want), "{want}: {e}");
        // Errors name what is wrong, never a share's bytes.
        let secret = good["accounts"][0]["share"]["ecdsa-secp256k1"]["dkls23"]["share"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!e.contains(&secret), "{e}");
    }
}
