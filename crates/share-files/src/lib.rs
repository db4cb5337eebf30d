//! Opening age-encrypted key-share files: decrypt in memory with age identities into a
//! zeroizing buffer, then parse and validate into a [`KeyStore`]. Used by the co-signer and
//! the development `sign-server`; plaintext never touches disk.

use std::io::Read;
use std::path::Path;

use sigil_mpc::{KeyStore, ShareFileError};
use zeroize::Zeroizing;

/// Why a share file could not be opened.
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

/// Reads the identities of an age identity file (as `age-keygen` writes it).
pub fn read_identities(
    path: &Path,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, OpenError> {
    let bad = |reason: String| OpenError::Identity {
        path: path.display().to_string(),
        reason,
    };
    age::IdentityFile::from_file(path.display().to_string())
        .map_err(|e| bad(e.to_string()))?
        .into_identities()
        .map_err(|e| bad(e.to_string()))
}

/// Decrypts age ciphertext (binary or armored) into a zeroizing buffer.
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
    let mut out = Zeroizing::new(Vec::new());
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
