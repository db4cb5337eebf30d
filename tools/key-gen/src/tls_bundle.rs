//! `key-gen tls-bundle`: seals the SignService's TLS material. The server key, its chain and
//! the client CAs are validated together ([`sigil_tls::TlsBundle::from_pem_files`]: the key
//! matches the leaf, every certificate parses), turned into `sigil-tls-bundle` JSON in a
//! zeroizing buffer and encrypted with age to the service's recipients. The file is written
//! to a temporary name (mode 0600), synced, and moved into place only when complete, so bad
//! input or a failed write leaves no file. The summary names only public facts.

use std::path::PathBuf;

use serde::Serialize;
use sigil_tls::TlsBundle;

use crate::KeyGenError;
use crate::output::{parse_recipient, sync_parent, temp_path, write_encrypted};

/// What to seal, for whom, and where.
#[derive(Clone, Debug)]
pub struct TlsBundleOptions {
    /// PEM private key of the service's TLS certificate.
    pub server_key: PathBuf,
    /// PEM chain, leaf first.
    pub server_chain: PathBuf,
    /// PEM certificate(s) of the CA(s) whose client certificates the service accepts.
    pub client_ca: PathBuf,
    /// age recipients (`age1...`) of the service.
    pub recipients: Vec<String>,
    /// The output file.
    pub out: PathBuf,
    /// Replace an existing output file.
    pub force: bool,
}

/// The public facts of a sealed bundle (printed as one JSON line).
#[derive(Clone, Debug, Serialize)]
pub struct TlsBundleSummary {
    /// The file written.
    pub out: String,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo (hex): what the enclave attests as
    /// `user_data` and what gateways pin.
    pub spki_sha256: String,
    /// The leaf's subject.
    pub subject: String,
    /// The leaf's notAfter (RFC 3339).
    pub not_after: String,
    /// Certificates in the client CA file.
    pub client_cas: usize,
    /// The age recipients.
    pub recipients: Vec<String>,
    /// Size of the encrypted file.
    pub bytes: u64,
    /// SHA-256 of the encrypted file (hex).
    pub sha256: String,
}

/// Validates the TLS material and writes it, age-encrypted to the recipients, to `opts.out`.
pub fn seal_tls_bundle(opts: &TlsBundleOptions) -> Result<TlsBundleSummary, KeyGenError> {
    if opts.recipients.is_empty() {
        return Err(KeyGenError::Input(
            "no age recipient: give --pubkeys age1...".into(),
        ));
    }
    let recipients = opts
        .recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    if !opts.force && std::fs::symlink_metadata(&opts.out).is_ok() {
        return Err(KeyGenError::Output(format!(
            "refusing to overwrite {} (use --force to replace)",
            opts.out.display()
        )));
    }
    let bundle = TlsBundle::from_pem_files(&opts.server_key, &opts.server_chain, &opts.client_ca)
        .map_err(|e| KeyGenError::Input(format!("TLS material: {e}")))?;
    let json = bundle.to_json();
    // What the enclave will parse: check it once more from the exact bytes sealed.
    TlsBundle::from_json(&json)
        .map_err(|e| KeyGenError::Output(format!("the bundle does not read back: {e}")))?;

    let tmp = temp_path(&opts.out)?;
    let written = write_encrypted(&tmp, &json, recipients.iter()).and_then(|sizes| {
        if opts.force {
            std::fs::rename(&tmp, &opts.out)
                .map_err(|e| KeyGenError::io("renaming into place", &opts.out, e))?;
        } else {
            // A hard link fails if the destination appeared meanwhile: never overwrite.
            std::fs::hard_link(&tmp, &opts.out)
                .map_err(|e| KeyGenError::io("moving into place", &opts.out, e))?;
            std::fs::remove_file(&tmp).map_err(|e| KeyGenError::io("removing", &tmp, e))?;
        }
        sync_parent(&opts.out)?;
        Ok(sizes)
    });
    let (bytes, sha256) = match written {
        Ok(sizes) => sizes,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(TlsBundleSummary {
        out: opts.out.display().to_string(),
        spki_sha256: hex::encode(bundle.spki_sha256()),
        subject: bundle.leaf_subject().to_owned(),
        not_after: bundle.leaf_not_after().to_owned(),
        client_cas: bundle.client_ca_count(),
        recipients: opts
            .recipients
            .iter()
            .map(|r| r.trim().to_owned())
            .collect(),
        bytes,
        sha256,
    })
}
