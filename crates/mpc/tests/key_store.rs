#![allow(clippy::unwrap_used, missing_docs)]
//! Loading key-share files of many accounts (the parallel path): every account of a group
//! shares its aux data, and a file with one bad or repeated account among hundreds is refused
//! with an error that names that account (the first one by file order) and no secret.

use std::collections::BTreeMap;

use cggmp24::PregeneratedPrimes;
use cggmp24::security_level::SecurityLevel128;
use cggmp24::supported_curves::Secp256k1;
use serde_json::Value;
use sigil_mpc::share_file::{AccountShare, EcdsaGroup, FORMAT, SchemeShare, ShareFile, VERSION};
use sigil_mpc::{DerivationPath, KeyStore, Scheme};

const ACCOUNTS: usize = 400;

fn fixture_primes(n: usize) -> Vec<PregeneratedPrimes<SecurityLevel128>> {
    let path = sigil_testkit::TEST_PRIMES;
    let pool: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    pool["sets"].as_array().unwrap()[..n]
        .iter()
        .map(|s| serde_json::from_value(s.clone()).unwrap())
        .collect()
}

/// Party 0's file of a 2-of-2 group: `ACCOUNTS` ECDSA accounts `acct-0..`, every tenth one
/// Ed25519, as JSON.
fn many_accounts() -> Value {
    let rng = &mut rand_core::OsRng;
    let mut aux = cggmp24::trusted_dealer::generate_aux_data_with_primes::<SecurityLevel128, _>(
        rng,
        fixture_primes(2),
        false,
    )
    .unwrap();
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        let account_id = format!("acct-{i}");
        if i % 10 == 9 {
            let (mut shares, pkp) = frost_ed25519::keys::generate_with_dealer(
                2,
                2,
                frost_ed25519::keys::IdentifierList::Default,
                rand_core::OsRng,
            )
            .unwrap();
            let id = sigil_mpc::ed25519::identifier(0).unwrap();
            let kp =
                frost_ed25519::keys::KeyPackage::try_from(shares.remove(&id).unwrap()).unwrap();
            accounts.push(AccountShare {
                account_id,
                public_key: hex::encode(pkp.verifying_key().serialize().unwrap()),
                share: SchemeShare::Ed25519 {
                    parties: 2,
                    key_package: kp,
                    public_key_package: pkp,
                },
            });
        } else {
            let core = cggmp24::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(2)
                .set_threshold(Some(2))
                .hd_wallet(true)
                .generate_core_shares(rng)
                .unwrap()
                .swap_remove(0);
            accounts.push(AccountShare {
                account_id,
                public_key: hex::encode(core.shared_public_key.to_bytes(true)),
                share: SchemeShare::EcdsaSecp256k1 {
                    group: "g".into(),
                    core: Some(Box::new(core)),
                    dkls23: None,
                },
            });
        }
    }
    let file = ShareFile {
        format: FORMAT.into(),
        version: VERSION,
        party_index: 0,
        ecdsa_groups: BTreeMap::from([(
            "g".to_owned(),
            EcdsaGroup::cggmp24(2, aux.swap_remove(0)),
        )]),
        accounts,
    };
    serde_json::to_value(&file).unwrap()
}

fn load(v: &Value) -> Result<KeyStore, String> {
    KeyStore::from_json(&serde_json::to_vec_pretty(v).unwrap()).map_err(|e| e.to_string())
}

/// The secret fields of a file, to check that no error quotes one.
fn secrets(v: &Value) -> Vec<String> {
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let s = &a["share"];
            s["ecdsa-secp256k1"]["core"]["x"]
                .as_str()
                .or(s["ed25519"]["key_package"]["signing_share"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn many_accounts_load_share_one_aux_and_bad_ones_are_named() {
    let file = many_accounts();
    let secrets = secrets(&file);

    // The whole file loads; every ECDSA account uses the one group.
    let store = load(&file).unwrap();
    assert_eq!(store.len(), ACCOUNTS);
    let ecdsa = ACCOUNTS - ACCOUNTS / 10;
    assert_eq!(store.counts()[Scheme::EcdsaSecp256k1.as_str()], ecdsa);
    assert_eq!(store.ecdsa_groups(), BTreeMap::from([("g", ecdsa)]));
    let k = store.get("acct-123").unwrap();
    assert_eq!(
        hex::encode(k.public_key(&DerivationPath::root()).unwrap().bytes),
        file["accounts"][123]["public_key"].as_str().unwrap()
    );

    let refused = |f: &dyn Fn(&mut Value)| {
        let mut v = file.clone();
        f(&mut v);
        let e = load(&v).err().expect("refused");
        for s in &secrets {
            assert!(!e.contains(s.as_str()), "an error quotes a secret: {e}");
        }
        e
    };
    let account = |v: &mut Value, i: usize| v["accounts"][i].clone();

    // One share that does not match its public shares (another account's secret).
    let e = refused(&|v| {
        let x = v["accounts"][1]["share"]["ecdsa-secp256k1"]["core"]["x"].clone();
        v["accounts"][317]["share"]["ecdsa-secp256k1"]["core"]["x"] = x;
    });
    assert!(
        e.contains("account \"acct-317\": invalid request: invalid core share: the secret share does not match"),
        "{e}"
    );

    // Another party's public share that is not on the account's polynomial.
    let e = refused(&|v| {
        let other =
            v["accounts"][2]["share"]["ecdsa-secp256k1"]["core"]["public_shares"][1].clone();
        v["accounts"][318]["share"]["ecdsa-secp256k1"]["core"]["public_shares"][1] = other;
    });
    assert!(
        e.contains("account \"acct-318\": invalid request: invalid core share: the public shares do not match"),
        "{e}"
    );

    // A public key that is not the share's.
    let e = refused(&|v| {
        v["accounts"][250]["public_key"] = v["accounts"][251]["public_key"].clone();
    });
    assert!(
        e.contains("account \"acct-250\": public_key does not match the share"),
        "{e}"
    );

    // An Ed25519 share whose signing share is another account's.
    let e = refused(&|v| {
        let s = v["accounts"][9]["share"]["ed25519"]["key_package"]["signing_share"].clone();
        v["accounts"][299]["share"]["ed25519"]["key_package"]["signing_share"] = s;
    });
    assert!(e.contains("account \"acct-299\""), "{e}");

    // A repeated account, after a bad one later in the file and before another: the first by
    // file order wins.
    let e = refused(&|v| {
        let copy = account(v, 5);
        v["accounts"].as_array_mut().unwrap()[200] = copy;
        v["accounts"][390]["public_key"] = v["accounts"][391]["public_key"].clone();
    });
    assert_eq!(e, "key-share file: account \"acct-5\": appears twice");
    let e = refused(&|v| {
        v["accounts"][20]["public_key"] = v["accounts"][21]["public_key"].clone();
        let copy = account(v, 5);
        v["accounts"].as_array_mut().unwrap()[200] = copy;
    });
    assert!(e.contains("account \"acct-20\""), "{e}");
    // A repeat whose own share is bad is still reported as the repeat.
    let e = refused(&|v| {
        let mut copy = account(v, 5);
        copy["public_key"] = v["accounts"][6]["public_key"].clone();
        v["accounts"].as_array_mut().unwrap()[333] = copy;
    });
    assert_eq!(e, "key-share file: account \"acct-5\": appears twice");

    // An entry that does not decode at all: named by its id, or by its position.
    let e = refused(&|v| {
        v["accounts"][77]["extra"] = 1.into();
    });
    assert!(e.contains("account \"acct-77\": malformed"), "{e}");
    let e = refused(&|v| {
        v["accounts"][78] = serde_json::json!({"share": {}});
    });
    assert!(e.contains("accounts[78]"), "{e}");

    // An account of another party, and one naming a group that is not in the file.
    let e = refused(&|v| {
        v["accounts"][100]["share"]["ecdsa-secp256k1"]["core"]["i"] = 1.into();
    });
    assert!(
        e.contains("account \"acct-100\": share belongs to party 1, the file to party 0"),
        "{e}"
    );
    let e = refused(&|v| {
        v["accounts"][101]["share"]["ecdsa-secp256k1"]["group"] = "h".into();
    });
    assert!(
        e.contains("account \"acct-101\": ECDSA group \"h\" is not in the file"),
        "{e}"
    );

    // Group-level problems are found once, before any account.
    let e = refused(&|v| {
        v["party_index"] = 1.into();
    });
    assert!(e.contains("ECDSA group \"g\""), "{e}");
    let e = refused(&|v| {
        v["ecdsa_groups"]["g"]["parties"] = 3.into();
    });
    assert!(e.contains("party count is inconsistent"), "{e}");
    let e = refused(&|v| {
        v["version"] = 3.into();
    });
    assert!(e.contains("version 3 is not supported"), "{e}");
}

#[test]
fn malformed_files_give_positions_in_the_file() {
    let file = br#"{"format":"sigil-key-shares","version":1,"party_index":0,
"accounts":[
  {"account_id":"a","public_key":"00",
   "share":{"ed25519":{"parties":2,"key_package":7}}}
]}"#;
    let e = KeyStore::from_json(file).err().unwrap().to_string();
    assert!(
        e.contains("account \"a\": malformed: Data error at line 4"),
        "{e}"
    );
    let e = KeyStore::from_json(b"{\"format\":1}")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("malformed: Data error at line 1"), "{e}");
    let e = KeyStore::from_json(b"[").err().unwrap().to_string();
    assert!(e.contains("malformed: Eof error"), "{e}");
}

/// Ed25519 packages are decoded by the loader's own path (each point once); `from_file` takes
/// FROST's decoders. Both must accept and refuse the same files.
#[test]
fn ed25519_fast_decoding_agrees_with_frost() {
    let (mut shares, pkp) = frost_ed25519::keys::generate_with_dealer(
        3,
        2,
        frost_ed25519::keys::IdentifierList::Default,
        rand_core::OsRng,
    )
    .unwrap();
    let me = sigil_mpc::ed25519::identifier(1).unwrap();
    let kp = frost_ed25519::keys::KeyPackage::try_from(shares.remove(&me).unwrap()).unwrap();
    let file = ShareFile {
        format: FORMAT.into(),
        version: VERSION,
        party_index: 1,
        ecdsa_groups: BTreeMap::new(),
        accounts: vec![AccountShare {
            account_id: "sol".into(),
            public_key: hex::encode(pkp.verifying_key().serialize().unwrap()),
            share: SchemeShare::Ed25519 {
                parties: 3,
                key_package: kp,
                public_key_package: pkp,
            },
        }],
    };
    let base = serde_json::to_value(&file).unwrap();
    fn share(v: &mut Value) -> &mut Value {
        &mut v["accounts"][0]["share"]["ed25519"]
    }
    let hex_ids: Vec<String> =
        base["accounts"][0]["share"]["ed25519"]["public_key_package"]["verifying_shares"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
    let (id0, id2) = (hex_ids[0].clone(), hex_ids[2].clone());
    const ORDER_2: &str = "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
    type Tamper = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Tamper)> = vec![
        ("valid", Box::new(|_| {})),
        (
            "signing share of another party",
            Box::new(|v| {
                share(v)["key_package"]["signing_share"] =
                    "0100000000000000000000000000000000000000000000000000000000000000".into();
            }),
        ),
        (
            "key package's verifying share is another party's",
            Box::new(move |v| {
                let other = share(v)["public_key_package"]["verifying_shares"][&id0].clone();
                share(v)["key_package"]["verifying_share"] = other;
            }),
        ),
        (
            "package's share of this party replaced",
            Box::new({
                let (id0, id1) = (hex_ids[0].clone(), hex_ids[1].clone());
                move |v| {
                    let other = share(v)["public_key_package"]["verifying_shares"][&id0].clone();
                    share(v)["public_key_package"]["verifying_shares"][&id1] = other;
                }
            }),
        ),
        (
            "another party's share has small order",
            Box::new(move |v| {
                share(v)["public_key_package"]["verifying_shares"][&id2] = ORDER_2.into();
            }),
        ),
        (
            "group key of the key package only",
            Box::new(|v| {
                let other = share(v)["key_package"]["verifying_share"].clone();
                share(v)["key_package"]["verifying_key"] = other;
            }),
        ),
        (
            "group key has small order in both packages",
            Box::new(|v| {
                share(v)["key_package"]["verifying_key"] = ORDER_2.into();
                share(v)["public_key_package"]["verifying_key"] = ORDER_2.into();
            }),
        ),
        (
            "upper-case hex",
            Box::new(|v| {
                let s = share(v)["key_package"]["verifying_share"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                share(v)["key_package"]["verifying_share"] = s.into();
            }),
        ),
        (
            "header version 1",
            Box::new(|v| share(v)["key_package"]["header"]["version"] = 1.into()),
        ),
        (
            "another ciphersuite",
            Box::new(|v| {
                share(v)["public_key_package"]["header"]["ciphersuite"] =
                    "FROST-RISTRETTO255-SHA512-v1".into()
            }),
        ),
        (
            "an unknown field",
            Box::new(|v| share(v)["key_package"]["extra"] = 1.into()),
        ),
        (
            "min_signers 3 in the key package",
            Box::new(|v| share(v)["key_package"]["min_signers"] = 3.into()),
        ),
        (
            "no min_signers in the public key package",
            Box::new(|v| {
                share(v)["public_key_package"]
                    .as_object_mut()
                    .unwrap()
                    .remove("min_signers");
            }),
        ),
        (
            "a party missing",
            Box::new({
                let id2 = hex_ids[2].clone();
                move |v| {
                    share(v)["public_key_package"]["verifying_shares"]
                        .as_object_mut()
                        .unwrap()
                        .remove(&id2);
                }
            }),
        ),
        ("two parties", Box::new(|v| share(v)["parties"] = 2.into())),
        (
            "a point that is not hex",
            Box::new(|v| share(v)["key_package"]["verifying_key"] = "zz".into()),
        ),
    ];
    for (name, tamper) in cases {
        let mut v = base.clone();
        tamper(&mut v);
        let fast = KeyStore::from_json(&serde_json::to_vec(&v).unwrap());
        let frost = serde_json::from_value::<ShareFile>(v.clone())
            .map_err(|e| e.to_string())
            .and_then(|f| KeyStore::from_file(f).map_err(|e| e.to_string()));
        assert_eq!(
            fast.is_ok(),
            frost.is_ok(),
            "{name}: {:?} vs {:?}",
            fast.err().map(|e| e.to_string()),
            frost.err()
        );
        let accepted = [
            "valid",
            "upper-case hex",
            "no min_signers in the public key package",
        ];
        assert_eq!(fast.is_ok(), accepted.contains(&name), "{name}");
        if let Ok(store) = fast {
            let key = store.get("sol").unwrap();
            assert_eq!(
                hex::encode(key.public_key(&DerivationPath::root()).unwrap().bytes),
                base["accounts"][0]["public_key"].as_str().unwrap()
            );
        }
    }
}

#[test]
fn version_1_files_load_as_cggmp24_and_version_2_names_the_engine() {
    let v2 = many_accounts();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["ecdsa_groups"]["g"]["engine"], "cggmp24");
    // A version-1 file, as key-gen wrote it before DKLs23: no `engine` field.
    let mut v1 = v2.clone();
    v1["version"] = 1.into();
    v1["ecdsa_groups"]["g"]
        .as_object_mut()
        .unwrap()
        .remove("engine");
    let (old, new) = (load(&v1).unwrap(), load(&v2).unwrap());
    assert_eq!(old.len(), ACCOUNTS);
    assert_eq!(old.ecdsa_engines(), new.ecdsa_engines());
    assert_eq!(old.ecdsa_engines()["g"], sigil_mpc::Engine::Cggmp24);
    let root = DerivationPath::root();
    for id in ["acct-0", "acct-9", "acct-398"] {
        let (a, b) = (old.get(id).unwrap(), new.get(id).unwrap());
        assert_eq!(a.public_key(&root).unwrap(), b.public_key(&root).unwrap());
    }
    // A version-1 file cannot name the DKLs23 engine.
    let mut bad = v1;
    bad["ecdsa_groups"]["g"]["engine"] = "dkls23".into();
    assert!(load(&bad).is_err());
}
