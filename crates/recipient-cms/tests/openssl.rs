//! Interoperability: the `openssl cms` CLI decrypts the encoder's output (and the real KMS
//! fixture) with the recipient's private key. Requires the `openssl` binary; fails, rather
//! than skips, when it is missing.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;

use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sigil_recipient_cms::{RecipientKey, encode, rand_core::OsRng, rand_core::RngCore};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/nitro-fixtures/kms-ciphertext-for-recipient/"
);

/// `openssl cms -decrypt -inform DER -in <blob> -inkey <key> -binary`, returning stdout.
fn openssl_decrypt(blob: &Path, key: &Path) -> Vec<u8> {
    let output = match Command::new("openssl")
        .args(["cms", "-decrypt", "-inform", "DER", "-in"])
        .arg(blob)
        .arg("-inkey")
        .arg(key)
        .arg("-binary")
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the `openssl` CLI is not installed but this test needs it: \
             install it (e.g. `apt-get install openssl`); CI installs it"
        ),
        Err(e) => panic!("cannot run openssl: {e}"),
    };
    assert!(
        output.status.success(),
        "openssl cms -decrypt failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn openssl_decrypts_encoder_output() {
    let dir = tempfile::tempdir().unwrap();
    let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let key_path = dir.path().join("key.pem");
    std::fs::write(
        &key_path,
        private.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    let recipient =
        RecipientKey::from_pkcs8_der(private.to_pkcs8_der().unwrap().as_bytes()).unwrap();

    for len in [0usize, 12, 74, 4096] {
        // Random bytes, so CR/LF and NULs would show up any text-mode mangling.
        let mut plaintext = vec![0u8; len];
        OsRng.fill_bytes(&mut plaintext);
        let blob = encode(&recipient.spki_der(), &plaintext, &mut OsRng).unwrap();
        let blob_path = dir.path().join(format!("blob-{len}.der"));
        std::fs::write(&blob_path, &blob).unwrap();
        assert_eq!(
            openssl_decrypt(&blob_path, &key_path),
            plaintext,
            "len {len}"
        );
        assert_eq!(recipient.decrypt(&blob).unwrap().as_slice(), plaintext);
    }
}

#[test]
fn openssl_decrypts_the_kms_fixture_like_we_do() {
    let blob = Path::new(DIR).join("enclaver-hello-world.ber");
    let der = std::fs::read(Path::new(DIR).join("enclaver-test-rsa2048.pkcs8.der")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.pem");
    let pem = rsa::pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &der).unwrap();
    std::fs::write(&key_path, pem).unwrap();
    assert_eq!(openssl_decrypt(&blob, &key_path), b"Hello, World");
    let ours = RecipientKey::from_pkcs8_der(&der)
        .unwrap()
        .decrypt(&std::fs::read(&blob).unwrap())
        .unwrap();
    assert_eq!(ours.as_slice(), b"Hello, World");
}
