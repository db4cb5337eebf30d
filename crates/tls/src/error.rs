//! The one error type of sigil-tls. Messages name the field or file at fault and never carry
//! key material: PEM and JSON errors are described, not echoed.

/// Why TLS material or a TLS configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The bundle is not `sigil-tls-bundle` JSON (syntax, missing or unknown field, size).
    #[error("not a valid sigil-tls-bundle: {0}")]
    Format(String),
    /// The bundle's version is not one this build reads.
    #[error("sigil-tls-bundle version {found} is not supported (this build reads version 1)")]
    Version {
        /// The version in the file.
        found: u64,
    },
    /// A PEM field does not hold what it must.
    #[error("{field}: {reason}")]
    Pem {
        /// The field (e.g. `server_key_pem`).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The private key is not one rustls's ring provider can sign with.
    #[error(
        "{field}: not a supported private key (ECDSA P-256 or P-384, Ed25519, or RSA of at least \
         2048 bits; PKCS#8, SEC1 or PKCS#1)"
    )]
    UnsupportedKey {
        /// The field.
        field: &'static str,
    },
    /// The private key is not the key of the first certificate of the chain.
    #[error(
        "{field}: the private key does not match the public key of the first (leaf) certificate \
         of {chain_field}"
    )]
    KeyMismatch {
        /// The key's field.
        field: &'static str,
        /// The chain's field.
        chain_field: &'static str,
    },
    /// A certificate does not parse or cannot serve its purpose.
    #[error("{field}: {reason}")]
    Certificate {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The server name is neither a DNS name nor an IP address.
    #[error("server name {0:?} is not a valid DNS name or IP address")]
    ServerName(String),
    /// rustls refused to build a configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is invalid (wraps the error of the field it was read into).
    #[error("{path}: {error}")]
    InFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        error: Box<TlsError>,
    },
}

impl TlsError {
    /// The field an error is about, if it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TlsError::Pem { field, .. }
            | TlsError::UnsupportedKey { field }
            | TlsError::KeyMismatch { field, .. }
            | TlsError::Certificate { field, .. } => Some(field),
            TlsError::InFile { error, .. } => error.field(),
            _ => None,
        }
    }

    /// Names the file an error of `field` came from, if `field` is the error's field.
    pub(crate) fn in_file(self, field: &str, path: &std::path::Path) -> Self {
        if self.field() == Some(field) {
            TlsError::InFile {
                path: path.display().to_string(),
                error: Box::new(self),
            }
        } else {
            self
        }
    }
}
