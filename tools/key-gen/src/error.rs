//! The one error type of the key-gen library. Messages name the input or file at fault and
//! never carry key material.

use std::path::Path;

use thiserror::Error;

/// Why a ceremony step failed.
#[derive(Debug, Error)]
pub enum KeyGenError {
    /// The plan (parties, threshold, accounts, child key, recipients, options) is invalid.
    #[error("invalid input: {0}")]
    Input(String),
    /// A line of the accounts file is invalid.
    #[error("accounts file {path}, line {line}: {reason}")]
    AccountsFile {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The prime pool is unusable (header, size, primality, count, lock).
    #[error("prime pool {path}: {reason}")]
    Pool {
        /// The pool file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The dealer (DKLs23, cggmp24 or FROST) failed, or a produced share did not validate.
    #[error("share generation failed: {0}")]
    Dealer(String),
    /// An output file would be overwritten, or the output directory is unusable.
    #[error("output: {0}")]
    Output(String),
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation ("reading", "writing", ...).
        what: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl KeyGenError {
    /// An I/O error on `path`.
    pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        KeyGenError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }

    /// A prime pool error on `path`.
    pub(crate) fn pool(path: &Path, reason: impl Into<String>) -> Self {
        KeyGenError::Pool {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}
