#![allow(clippy::unwrap_used, missing_docs)]
//! `sigil-tls-bundle` loading: every supported key type and encoding loads and round-trips
//! through JSON; the SPKI hash matches an independent computation (x509-cert); every kind of
//! bad input is a clear error that names the field; nothing prints key bytes.

use std::process::Command;

use sha2::{Digest, Sha256};
use sigil_testkit::pki::{Ca, Leaf};
use sigil_tls::{TlsBundle, TlsError};
use x509_cert::der::{Decode, Encode};
use zeroize::Zeroizing;

const NAME: &str = "signer.sigil.internal";

struct Parts {
    key: String,
    chain: String,
    ca: String,
}

fn parts() -> (Parts, Leaf) {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let leaf = server_ca.server(NAME);
    let p = Parts {
        key: leaf.key_pem.clone(),
        chain: format!("{}{}", leaf.cert_pem, server_ca.cert_pem),
        ca: client_ca.cert_pem.clone(),
    };
    (p, leaf)
}

fn load(p: &Parts) -> Result<TlsBundle, TlsError> {
    TlsBundle::from_pem(Zeroizing::new(p.key.clone()), p.chain.clone(), p.ca.clone())
}

fn json(p: &Parts) -> serde_json::Value {
    serde_json::json!({
        "format": "sigil-tls-bundle",
        "version": 1,
        "server_key_pem": p.key,
        "server_chain_pem": p.chain,
        "client_ca_pem": p.ca,
    })
}

fn from_value(v: &serde_json::Value) -> Result<TlsBundle, TlsError> {
    TlsBundle::from_json(&serde_json::to_vec(v).unwrap())
}

/// The base64 body lines of a PEM key: none may appear in any output.
fn key_lines(key_pem: &str) -> Vec<String> {
    key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 8)
        .map(str::to_owned)
        .collect()
}

fn independent_spki_sha256(cert_pem: &str) -> [u8; 32] {
    let cert = x509_cert::Certificate::from_der(&rustls_pki_types_pem_first(cert_pem)).unwrap();
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    Sha256::digest(&spki).into()
}

#[test]
fn a_valid_bundle_round_trips_and_its_spki_hash_is_the_leafs() {
    let (p, leaf) = parts();
    let second_ca = Ca::new("second client CA");
    let p = Parts {
        ca: format!("{}{}", p.ca, second_ca.cert_pem),
        ..p
    };
    let b = load(&p).unwrap();
    assert_eq!(b.client_ca_count(), 2);
    assert_eq!(b.spki_sha256(), independent_spki_sha256(&leaf.cert_pem));
    assert_eq!(
        b.spki_sha256(),
        sigil_tls::spki_sha256_of(&leaf.cert_der.clone().into()).unwrap()
    );
    assert!(b.leaf_subject().contains(NAME), "{}", b.leaf_subject());
    assert!(b.leaf_not_after().ends_with('Z'), "{}", b.leaf_not_after());

    let out = b.to_json();
    assert_eq!(
        out.len(),
        out.capacity(),
        "sized exactly, never reallocated"
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v, json(&p));
    let again = TlsBundle::from_json(&out).unwrap();
    assert_eq!(again.spki_sha256(), b.spki_sha256());
    assert_eq!(again.server_chain_pem(), p.chain);
    b.server_config().unwrap();
}

#[test]
fn debug_and_errors_carry_no_key_bytes() {
    let (p, _) = parts();
    let b = load(&p).unwrap();
    let debug = format!("{b:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    for line in key_lines(&p.key) {
        assert!(!debug.contains(&line), "{debug}");
    }
    assert!(!debug.contains("PRIVATE"), "{debug}");

    // A key put where the version belongs does not reach the message.
    let mut v = json(&p);
    v["version"] = p.key.clone().into();
    let e = from_value(&v).unwrap_err().to_string();
    for line in key_lines(&p.key) {
        assert!(!e.contains(&line), "{e}");
    }
    // Nor does a corrupted key.
    let mut broken = p.key.replace('A', "*");
    broken.push_str("tail");
    let e = load(&Parts {
        key: broken.clone(),
        chain: p.chain.clone(),
        ca: p.ca.clone(),
    })
    .unwrap_err()
    .to_string();
    for line in key_lines(&broken) {
        assert!(!e.contains(&line), "{e}");
    }
}

fn err(p: Parts) -> String {
    load(&p).unwrap_err().to_string()
}

#[test]
fn each_bad_input_is_a_clear_error() {
    let (p, _) = parts();
    let other = Ca::new("other").server(NAME);
    let cases: Vec<(Parts, &str)> = vec![
        (
            Parts {
                key: other.key_pem.clone(),
                ..parts().0
            },
            "does not match the public key of the first (leaf) certificate",
        ),
        (
            Parts {
                key: "garbage".into(),
                ..parts().0
            },
            "server_key_pem: no PEM private key",
        ),
        (
            Parts {
                key: "-----BEGIN PRIVATE KEY-----\nnot base64 !!\n-----END PRIVATE KEY-----\n"
                    .into(),
                ..parts().0
            },
            "server_key_pem: a PEM section is not valid base64",
        ),
        (
            Parts {
                key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
                ..parts().0
            },
            "server_key_pem: not a supported private key",
        ),
        (
            Parts {
                key: format!("{}{}", p.key, other.key_pem),
                ..parts().0
            },
            "more than one private key",
        ),
        (
            Parts {
                chain: String::new(),
                ..parts().0
            },
            "server_chain_pem: no PEM CERTIFICATE section",
        ),
        (
            Parts {
                chain: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                ..parts().0
            },
            "server_chain_pem: certificate 1 is not valid X.509",
        ),
        (
            Parts {
                chain: format!("{}{}", parts().0.chain, p.key),
                ..parts().0
            },
            "server_chain_pem: holds a private key",
        ),
        (
            Parts {
                ca: String::new(),
                ..parts().0
            },
            "client_ca_pem: no PEM CERTIFICATE section",
        ),
        (
            Parts {
                ca: "-----BEGIN CERTIFICATE-----\n".into(),
                ..parts().0
            },
            "client_ca_pem: a PEM section has no END line",
        ),
    ];
    for (parts, needle) in cases {
        let e = err(parts);
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    }
}

#[test]
fn json_envelope_errors_are_clear() {
    let (p, _) = parts();
    let mut wrong_format = json(&p);
    wrong_format["format"] = "sigil-key-shares".into();
    let mut wrong_version = json(&p);
    wrong_version["version"] = 2.into();
    let mut unknown = json(&p);
    unknown["ocsp_pem"] = "x".into();
    let mut missing = json(&p);
    missing.as_object_mut().unwrap().remove("client_ca_pem");
    let mut no_format = json(&p);
    no_format.as_object_mut().unwrap().remove("format");
    let mut empty_ca = json(&p);
    empty_ca["client_ca_pem"] = "".into();
    let cases = [
        (
            wrong_format,
            "the \"format\" field is not \"sigil-tls-bundle\"",
        ),
        (wrong_version, "version 2 is not supported"),
        (unknown, "unknown field `ocsp_pem`"),
        (missing, "missing field `client_ca_pem`"),
        (no_format, "no \"format\" field"),
        (empty_ca, "client_ca_pem: no PEM CERTIFICATE section"),
    ];
    for (v, needle) in cases {
        let e = from_value(&v).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    }
    for bad in [&b""[..], b"{", b"[]", b"null", b"\xff\xfe"] {
        let e = TlsBundle::from_json(bad).unwrap_err().to_string();
        assert!(e.contains("not a valid sigil-tls-bundle"), "{e}");
    }
    let huge = vec![b' '; 2 << 20];
    let e = TlsBundle::from_json(&huge).unwrap_err().to_string();
    assert!(e.contains("more than"), "{e}");
}

fn openssl(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// ECDSA P-256 and P-384, Ed25519 and RSA keys, in PKCS#8, SEC1 and PKCS#1, as openssl and
/// rcgen write them, all load; the bundle's SPKI hash is the leaf's each time.
#[test]
fn every_supported_key_type_and_encoding_loads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA").cert_pem;
    let mut keys: Vec<(&str, String)> = vec![
        ("rcgen P-256 PKCS#8", ca.server(NAME).key_pem),
        (
            "rcgen P-384 PKCS#8",
            ca.server_with(NAME, &sigil_testkit::pki::rcgen::PKCS_ECDSA_P384_SHA384)
                .key_pem,
        ),
        (
            "rcgen Ed25519 PKCS#8",
            ca.server_with(NAME, &sigil_testkit::pki::rcgen::PKCS_ED25519)
                .key_pem,
        ),
    ];
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
        d,
    );
    let rsa8 = std::fs::read_to_string(d.join("rsa.pem")).unwrap();
    let rsa1 = openssl(&["rsa", "-in", "rsa.pem", "-traditional"], d);
    assert!(rsa1.contains("BEGIN RSA PRIVATE KEY"));
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "ec.pem",
        ],
        d,
    );
    let sec1 = std::fs::read_to_string(d.join("ec.pem")).unwrap();
    assert!(sec1.contains("BEGIN EC PARAMETERS") && sec1.contains("BEGIN EC PRIVATE KEY"));
    openssl(
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-noout",
            "-out",
            "ec384.pem",
        ],
        d,
    );
    let sec1_384 = std::fs::read_to_string(d.join("ec384.pem")).unwrap();
    keys.push(("openssl RSA-2048 PKCS#8", rsa8));
    keys.push(("openssl RSA-2048 PKCS#1", rsa1));
    keys.push(("openssl P-256 SEC1 with EC PARAMETERS", sec1));
    keys.push(("openssl P-384 SEC1", sec1_384));
    for (what, key) in keys {
        // rcgen reads PKCS#8 only: certify the PKCS#8 form of openssl's keys.
        let pkcs8 = if what.starts_with("rcgen") {
            key.clone()
        } else {
            std::fs::write(d.join("k.pem"), &key).unwrap();
            openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", "k.pem"], d)
        };
        let leaf = ca.server_for_key(NAME, &pkcs8);
        let b = TlsBundle::from_pem(
            Zeroizing::new(key),
            leaf.cert_pem.clone(),
            client_ca.clone(),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            b.spki_sha256(),
            independent_spki_sha256(&leaf.cert_pem),
            "{what}"
        );
        b.server_config().unwrap();
    }
    // An unsupported curve is refused by name of the field.
    openssl(
        &[
            "ecparam",
            "-name",
            "secp256k1",
            "-genkey",
            "-noout",
            "-out",
            "k1.pem",
        ],
        d,
    );
    let k1 = std::fs::read_to_string(d.join("k1.pem")).unwrap();
    let e = TlsBundle::from_pem(Zeroizing::new(k1), ca.server(NAME).cert_pem, client_ca)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("server_key_pem: not a supported private key"),
        "{e}"
    );
}

#[test]
fn from_pem_files_names_the_file_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (p, _) = parts();
    std::fs::write(d.join("key.pem"), &p.key).unwrap();
    std::fs::write(d.join("chain.pem"), &p.chain).unwrap();
    std::fs::write(d.join("ca.pem"), &p.ca).unwrap();
    std::fs::write(d.join("empty.pem"), "").unwrap();
    let ok = TlsBundle::from_pem_files(&d.join("key.pem"), &d.join("chain.pem"), &d.join("ca.pem"))
        .unwrap();
    assert_eq!(ok.client_ca_count(), 1);
    let e = TlsBundle::from_pem_files(
        &d.join("key.pem"),
        &d.join("chain.pem"),
        &d.join("empty.pem"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("empty.pem: client_ca_pem: no PEM CERTIFICATE"),
        "{e}"
    );
    let e = TlsBundle::from_pem_files(&d.join("nope.pem"), &d.join("chain.pem"), &d.join("ca.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("reading") && e.contains("nope.pem"), "{e}");
    // Parsing the leaf with x509-cert agrees with the bundle's subject.
    let leaf = x509_cert::Certificate::from_der(&rustls_pki_types_pem_first(&p.chain)).unwrap();
    assert_eq!(
        ok.leaf_subject(),
        leaf.tbs_certificate().subject().to_string()
    );
}

fn rustls_pki_types_pem_first(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}
