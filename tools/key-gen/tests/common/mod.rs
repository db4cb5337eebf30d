//! Helpers shared by the key-gen integration tests: the fixture prime pool, age identities
//! made with the real `age-keygen`, decryption with the real `age`, and independent key math
//! (k256, sha3, ed25519-dalek, BIP32 with hmac) to check what key-gen reports.

#![allow(dead_code, clippy::unwrap_used)] // test helpers: a failed step is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hmac::{Hmac, Mac};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use sha3::{Digest, Keccak256};

/// The INSECURE test prime pool (3 sets), public: tests only.
pub fn fixture_pool_path() -> PathBuf {
    PathBuf::from(sigil_testkit::TEST_PRIMES)
}

/// Copies the fixture pool into `dir` (key-gen consumes from pools).
pub fn copy_pool(dir: &Path) -> PathBuf {
    let p = dir.join("pool.json");
    std::fs::copy(fixture_pool_path(), &p).unwrap();
    p
}

/// Number of sets in a pool file.
pub fn pool_sets(path: &Path) -> usize {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["sets"].as_array().unwrap().len()
}

/// An age identity made with the real `age-keygen`: (identity file, recipient).
pub fn age_identity(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.agekey"));
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen is installed");
    assert!(
        out.status.success(),
        "age-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    (
        path,
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    )
}

/// Decrypts with the real `age` CLI.
pub fn age_decrypt(identity: &Path, file: &Path) -> Vec<u8> {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .expect("age is installed");
    assert!(
        out.status.success(),
        "age -d {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs key-gen with `args` (and `stdin` if given).
pub fn key_gen(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_key-gen"));
    cmd.args(args).stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Asserts success and returns stderr.
pub fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "key-gen failed: {stderr}");
    stderr
}

/// Asserts failure with `want` in stderr.
pub fn fails_with(out: &Output, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "key-gen succeeded, expected {want:?}"
    );
    assert!(stderr.contains(want), "expected {want:?} in: {stderr}");
}

/// Names of the files in `dir`.
pub fn files_in(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// EIP-55 of a 20-byte address, from the spec (independent of sigil-mpc).
pub fn eip55(addr: &[u8]) -> String {
    let lower = hex::encode(addr);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = if i % 2 == 0 {
            hash[i / 2] >> 4
        } else {
            hash[i / 2] & 0x0f
        };
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// The Ethereum address of a compressed secp256k1 key: keccak256(X || Y)[12..], EIP-55.
pub fn ethereum_address(compressed: &[u8]) -> String {
    let pk = k256::PublicKey::from_sec1_bytes(compressed).unwrap();
    let uncompressed = pk.to_encoded_point(false);
    let hash = Keccak256::digest(&uncompressed.as_bytes()[1..]);
    eip55(&hash[12..])
}

/// BIP32 CKDpub along non-hardened `path` (SLIP-10 equals BIP32 on secp256k1).
pub fn bip32_child(compressed: &[u8], chain_code: &[u8], path: &[u32]) -> Vec<u8> {
    use k256::elliptic_curve::PrimeField;
    let mut key = k256::ProjectivePoint::from(
        *k256::PublicKey::from_sec1_bytes(compressed)
            .unwrap()
            .as_affine(),
    );
    let mut cc = chain_code.to_vec();
    for &i in path {
        assert!(i < 0x8000_0000);
        let ser = k256::PublicKey::from_affine(key.to_affine())
            .unwrap()
            .to_encoded_point(true);
        let mut mac = Hmac::<sha2_010::Sha512>::new_from_slice(&cc).unwrap();
        mac.update(ser.as_bytes());
        mac.update(&i.to_be_bytes());
        let out = mac.finalize().into_bytes();
        let il = k256::Scalar::from_repr(*k256::FieldBytes::from_slice(&out[..32])).unwrap();
        key += k256::ProjectivePoint::GENERATOR * il;
        cc = out[32..].to_vec();
    }
    k256::PublicKey::from_affine(key.to_affine())
        .unwrap()
        .to_encoded_point(true)
        .as_bytes()
        .to_vec()
}
