#![allow(clippy::unwrap_used, missing_docs)]
//! Both engines end to end: parties on their own threads, messages routed in memory, and every
//! signature checked with an independent verifier (k256, ed25519-dalek). Every party's key is
//! loaded through its key-share file and `KeyStore::from_json`, as the service loads keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use cggmp24::PregeneratedPrimes;
use cggmp24::security_level::SecurityLevel128;
use cggmp24::supported_curves::Secp256k1;
use k256::ecdsa::{RecoveryId, VerifyingKey, signature::hazmat::PrehashVerifier};
use sigil_mpc::ecdsa::EcdsaKey;
use sigil_mpc::ed25519::identifier;
use sigil_mpc::share_file::{AccountShare, EcdsaGroup, FORMAT, SchemeShare, ShareFile, VERSION};
use sigil_mpc::{
    DerivationPath, EcdsaHash, KeyStore, MpcError, Session, SignData, Signature, ThresholdKey,
    WireMessage,
};

mod common;
use common::{Tamper, run, same_session};

fn fixture_primes(n: usize) -> Vec<PregeneratedPrimes<SecurityLevel128>> {
    let path = sigil_testkit::TEST_PRIMES;
    let pool: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    pool["sets"].as_array().unwrap()[..n]
        .iter()
        .map(|s| serde_json::from_value(s.clone()).unwrap())
        .collect()
}

/// Each party's key of one account, loaded the way the service loads it: the party's
/// key-share file as JSON through `KeyStore::from_json`.
fn through_key_store(files: Vec<ShareFile>) -> Vec<Arc<dyn ThresholdKey>> {
    files
        .into_iter()
        .map(|file| {
            let json = serde_json::to_vec(&file).unwrap();
            let store = KeyStore::from_json(&json).unwrap();
            assert_eq!(store.len(), 1);
            store.get("acct").unwrap().clone()
        })
        .collect()
}

fn share_file(
    party: u16,
    groups: BTreeMap<String, EcdsaGroup>,
    share: SchemeShare,
    public_key: &[u8],
) -> ShareFile {
    ShareFile {
        format: FORMAT.into(),
        version: VERSION,
        party_index: party,
        ecdsa_groups: groups,
        accounts: vec![AccountShare {
            account_id: "acct".into(),
            public_key: hex::encode(public_key),
            share,
        }],
    }
}

fn ecdsa_keys(n: u16, t: u16) -> Vec<Arc<dyn ThresholdKey>> {
    let rng = &mut rand_core::OsRng;
    let aux = cggmp24::trusted_dealer::generate_aux_data_with_primes::<SecurityLevel128, _>(
        rng,
        fixture_primes(n.into()),
        false,
    )
    .unwrap();
    let cores = cggmp24::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(n)
        .set_threshold(Some(t))
        .hd_wallet(true)
        .generate_core_shares(rng)
        .unwrap();
    let public = cores[0].shared_public_key.to_bytes(true).to_vec();
    let files = (0..n)
        .zip(cores)
        .zip(aux)
        .map(|((i, core), aux)| {
            let groups = BTreeMap::from([("g".to_owned(), EcdsaGroup::cggmp24(n, aux))]);
            let share = SchemeShare::EcdsaSecp256k1 {
                group: "g".into(),
                core: Some(Box::new(core)),
                dkls23: None,
            };
            share_file(i, groups, share, &public)
        })
        .collect();
    through_key_store(files)
}

fn ed25519_keys(n: u16, t: u16) -> Vec<Arc<dyn ThresholdKey>> {
    let (shares, pkp) = frost_ed25519::keys::generate_with_dealer(
        n,
        t,
        frost_ed25519::keys::IdentifierList::Default,
        rand_core::OsRng,
    )
    .unwrap();
    let public = pkp.verifying_key().serialize().unwrap();
    let files = (0..n)
        .map(|i| {
            let kp =
                frost_ed25519::keys::KeyPackage::try_from(shares[&identifier(i).unwrap()].clone())
                    .unwrap();
            let share = SchemeShare::Ed25519 {
                parties: n,
                key_package: kp,
                public_key_package: pkp.clone(),
            };
            share_file(i, BTreeMap::new(), share, &public)
        })
        .collect();
    through_key_store(files)
}

#[test]
fn engine_keys_built_directly_equal_the_loaded_ones() {
    // The constructors other crates use (signbench) give the same keys as the loader.
    let rng = &mut rand_core::OsRng;
    let aux = cggmp24::trusted_dealer::generate_aux_data_with_primes::<SecurityLevel128, _>(
        rng,
        fixture_primes(2),
        false,
    )
    .unwrap();
    let cores = cggmp24::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(2)
        .set_threshold(Some(2))
        .hd_wallet(true)
        .generate_core_shares(rng)
        .unwrap();
    for (core, aux) in cores.into_iter().zip(aux) {
        let key = EcdsaKey::from_parts(core.clone(), aux.clone()).unwrap();
        let share = key.session_share().unwrap();
        assert_eq!(share.core.i, core.i);
        assert!(share.aux.N == aux.N);
        let public = key.public_key(&DerivationPath::root()).unwrap();
        assert_eq!(public.bytes, core.shared_public_key.to_bytes(true).to_vec());
    }
}

#[test]
fn ecdsa_two_of_three_with_hd_path_verifies_independently() {
    let keys = ecdsa_keys(3, 2);
    let payload = b"\xf8\x6b RLP-ish payload".to_vec();
    let data = SignData::Ecdsa {
        hash: EcdsaHash::Keccak256,
        payload: payload.clone(),
    };
    let path: DerivationPath = "m/0/7".parse().unwrap();
    let results = run(&keys, same_session(&[0, 2], "m/0/7", data.clone()), None);
    let child = keys[0].public_key(&path).unwrap();
    let root = keys[0].public_key(&DerivationPath::root()).unwrap();
    assert_ne!(child, root);
    let digest = data.digest();
    let first = results[0].as_ref().unwrap().clone();
    for r in &results {
        assert_eq!(
            r.as_ref().unwrap(),
            &first,
            "both parties output the same signature"
        );
    }
    let Signature::Ecdsa { r, s, recovery_id } = first else {
        panic!()
    };
    let sig = k256::ecdsa::Signature::from_scalars(r, s).unwrap();
    assert!(sig.normalize_s().is_none(), "s is already low");
    let vk = VerifyingKey::from_sec1_bytes(&child.bytes).unwrap();
    vk.verify_prehash(&digest, &sig).unwrap();
    let root_vk = VerifyingKey::from_sec1_bytes(&root.bytes).unwrap();
    assert!(
        root_vk.verify_prehash(&digest, &sig).is_err(),
        "must not verify under the root key"
    );
    let recovered = VerifyingKey::recover_from_prehash(
        &digest,
        &sig,
        RecoveryId::from_byte(recovery_id).unwrap(),
    )
    .unwrap();
    assert_eq!(recovered, vk);
}

#[test]
fn ecdsa_prehashed_and_sha256() {
    let keys = ecdsa_keys(2, 2);
    for data in [
        SignData::EcdsaPrehashed([7u8; 32]),
        SignData::Ecdsa {
            hash: EcdsaHash::Sha256,
            payload: b"hello".to_vec(),
        },
    ] {
        let results = run(&keys, same_session(&[0, 1], "m", data.clone()), None);
        let Ok(Signature::Ecdsa { r, s, .. }) = &results[0] else {
            panic!("{:?}", results[0])
        };
        let vk = VerifyingKey::from_sec1_bytes(
            &keys[0].public_key(&DerivationPath::root()).unwrap().bytes,
        )
        .unwrap();
        vk.verify_prehash(
            &data.digest(),
            &k256::ecdsa::Signature::from_scalars(*r, *s).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn ed25519_two_of_three_verifies_with_dalek() {
    let keys = ed25519_keys(3, 2);
    let msg = b"transfer 1 SOL".to_vec();
    let results = run(
        &keys,
        same_session(&[1, 2], "m", SignData::Ed25519(msg.clone())),
        None,
    );
    let pk = keys[0].public_key(&DerivationPath::root()).unwrap();
    let vk =
        ed25519_dalek::VerifyingKey::from_bytes(&pk.bytes.clone().try_into().unwrap()).unwrap();
    for r in results {
        let Signature::Ed25519(sig) = r.unwrap() else {
            panic!()
        };
        vk.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .unwrap();
    }
    assert!(
        keys[0].public_key(&"m/1".parse().unwrap()).is_err(),
        "no HD for Ed25519"
    );
}

#[test]
fn mismatched_sessions_fail_instead_of_signing() {
    // The two parties disagree on the payload: the execution ids differ and the protocol aborts.
    for keys in [ecdsa_keys(2, 2), ed25519_keys(2, 2)] {
        let data = |b: &[u8]| match keys[0].scheme() {
            sigil_mpc::Scheme::Ed25519 => SignData::Ed25519(b.to_vec()),
            sigil_mpc::Scheme::EcdsaSecp256k1 => SignData::Ecdsa {
                hash: EcdsaHash::Keccak256,
                payload: b.to_vec(),
            },
        };
        let sessions = vec![
            Session::new(
                "s",
                "a",
                vec![0, 1],
                DerivationPath::root(),
                data(b"pay alice"),
            )
            .unwrap(),
            Session::new(
                "s",
                "a",
                vec![0, 1],
                DerivationPath::root(),
                data(b"pay mallory"),
            )
            .unwrap(),
        ];
        let results = run(&keys, sessions, None);
        assert!(results.iter().all(|r| r.is_err()), "{:?}", results);
    }
}

#[test]
fn garbled_messages_are_rejected_with_a_clear_error() {
    for keys in [ecdsa_keys(2, 2), ed25519_keys(2, 2)] {
        let data = match keys[0].scheme() {
            sigil_mpc::Scheme::Ed25519 => SignData::Ed25519(b"m".to_vec()),
            sigil_mpc::Scheme::EcdsaSecp256k1 => SignData::EcdsaPrehashed([1; 32]),
        };
        let tamper: Tamper = Arc::new(|m: &mut WireMessage| {
            let n = m.payload.len();
            m.payload[n / 2] ^= 0x55;
            m.payload.truncate(n - 3);
        });
        let results = run(&keys, same_session(&[0, 1], "m", data), Some(tamper));
        let err = results[1].as_ref().unwrap_err();
        assert!(
            matches!(err, MpcError::BadMessage { party: 0, .. }),
            "{err}"
        );
    }
}

#[test]
fn sessions_refuse_what_the_key_cannot_do() {
    let keys = ecdsa_keys(3, 2);
    let k = &keys[0];
    let s = |parties: Vec<u16>, data| {
        Session::new("s", "a", parties, DerivationPath::root(), data).unwrap()
    };
    assert!(
        k.check(&s(vec![0, 1, 2], SignData::EcdsaPrehashed([1; 32])))
            .is_err(),
        "3 parties for 2-of-3"
    );
    assert!(
        k.check(&s(vec![1, 2], SignData::EcdsaPrehashed([1; 32])))
            .is_err(),
        "not a party"
    );
    assert!(
        k.check(&s(vec![0, 5], SignData::EcdsaPrehashed([1; 32])))
            .is_err(),
        "index out of range"
    );
    assert!(
        k.check(&s(vec![0, 1], SignData::Ed25519(b"x".to_vec())))
            .is_err(),
        "wrong scheme"
    );
    assert!(
        k.check(&s(vec![0, 1], SignData::EcdsaPrehashed([1; 32])))
            .is_ok()
    );
}

#[test]
fn a_wrong_frost_share_is_attributed_to_its_signer() {
    let keys = ed25519_keys(2, 2);
    // Party 0's round-2 share is swapped for another valid scalar (1): well-formed, wrong.
    let tamper: Tamper = Arc::new(|m: &mut WireMessage| {
        if m.payload.first() == Some(&2) {
            let mut one = [0u8; 32];
            one[0] = 1;
            m.payload.truncate(33);
            m.payload.extend_from_slice(&one);
        }
    });
    let results = run(
        &keys,
        same_session(&[0, 1], "m", SignData::Ed25519(b"m".to_vec())),
        Some(tamper),
    );
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("invalid signature share from party 0"),
        "{err}"
    );
}
