//! Opening age-sealed files in memory: parse age identities in place ([`parse_identities`],
//! [`read_identities`]), decrypt into a zeroizing buffer ([`decrypt`]), and for a key-share
//! file parse and validate it into a [`KeyStore`] ([`open`]). The enclave unseals its key
//! shares and TLS bundle with the first two; the co-signer and the development `sign-server`
//! open key-share files with [`open`]. Plaintext never touches disk.

use std::io::Read;
use std::path::Path;

use sigil_mpc::{KeyStore, ShareFileError};
use zeroize::Zeroizing;

/// Why a sealed file (a key-share file, or another file sealed with age) could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The identity file is not a valid age identity file.
    #[error("identity file {path}: {reason}")]
    Identity {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The file is not age, or no identity decrypts it, or it is corrupt.
    #[error("decrypting {path}: {reason}")]
    Decrypt {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The plaintext is not a valid key-share file.
    #[error("loading {path}: {source}")]
    Shares {
        /// The file.
        path: String,
        /// What is wrong.
        source: ShareFileError,
    },
}

/// Reads the identities of an age identity file (as `age-keygen` writes it). The file is read
/// into a wiping buffer and parsed in place ([`parse_identities`]).
pub fn read_identities(
    path: &Path,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, OpenError> {
    let name = path.display().to_string();
    let text = Zeroizing::new(std::fs::read(path).map_err(|source| OpenError::Read {
        path: name.clone(),
        source,
    })?);
    parse_identities(&text, &name)
}

/// Parses the X25519 identities of an identity file's text without copying it: lines are
/// borrowed from `text`, so no unwiped copy of a secret key is left on the heap (age's own
/// `IdentityFile` drops each line's `String` unwiped). Comments and blank lines are skipped;
/// any other line is an error that names its number, never its content. Each identity is
/// boxed where it is parsed and never moved on the heap afterwards, so the only heap copy of
/// its scalar is the one wiped when the box is dropped.
pub fn parse_identities(
    text: &[u8],
    name: &str,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, OpenError> {
    let bad = |reason: String| OpenError::Identity {
        path: name.to_string(),
        reason,
    };
    let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8 text".into()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity = line
            .parse::<age::x25519::Identity>()
            .map_err(|e| bad(format!("line {}: not an age X25519 identity ({e})", n + 1)))?;
        out.push(Box::new(identity) as Box<dyn age::Identity + Send + Sync>);
    }
    if out.is_empty() {
        return Err(bad("no identity in the file".into()));
    }
    Ok(out)
}

/// Decrypts age ciphertext (binary or armored) into a zeroizing buffer. The buffer is sized
/// to the ciphertext before reading (age plaintext is always shorter), so it is never
/// reallocated and no unwiped partial copy of the plaintext is left behind.
pub fn decrypt(
    ciphertext: &[u8],
    identities: &[Box<dyn age::Identity + Send + Sync>],
    name: &str,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let bad = |reason: String| OpenError::Decrypt {
        path: name.to_string(),
        reason,
    };
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(ciphertext))
        .map_err(|e| bad(format!("not an age file: {e}")))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| bad(e.to_string()))?;
    let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader
        .read_to_end(&mut out)
        .map_err(|e| bad(e.to_string()))?;
    Ok(out)
}

/// Opens a key-share file: age-encrypted (needs `identity`), or plaintext JSON as
/// `key-gen --insecure-plaintext-out` writes for tests.
pub fn open(path: &Path, identity: Option<&Path>) -> Result<KeyStore, OpenError> {
    let name = path.display().to_string();
    let raw = Zeroizing::new(std::fs::read(path).map_err(|source| OpenError::Read {
        path: name.clone(),
        source,
    })?);
    let json = if raw.first() == Some(&b'{') {
        raw
    } else {
        let identity = identity.ok_or_else(|| OpenError::Decrypt {
            path: name.clone(),
            reason: "the file is encrypted: an age identity is needed".into(),
        })?;
        decrypt(&raw, &read_identities(identity)?, &name)?
    };
    KeyStore::from_json(&json).map_err(|source| OpenError::Shares { path: name, source })
}
