//! [`PolicyError`]: why [`KeyPolicy::parse`](crate::KeyPolicy::parse) refused a document.
//!
//! KMS answers every one of these with `MalformedPolicyDocumentException`; the message says
//! which statement (by index, and Sid when it has one) and which field is wrong.

/// A key policy document that KMS would refuse (`MalformedPolicyDocumentException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is larger than KMS's limit of 32 KiB.
    #[error("policy document is {size} bytes; KMS allows at most {max} bytes")]
    TooLarge {
        /// Size of the document in bytes.
        size: usize,
        /// The limit, [`MAX_POLICY_BYTES`](crate::MAX_POLICY_BYTES).
        max: usize,
    },
    /// The document is not JSON (or repeats a key within one object).
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    /// A problem with the document itself rather than with one statement.
    #[error("policy document: {field}: {reason}")]
    Document {
        /// The offending top-level field, e.g. `Version` or `Statement`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A problem with one statement.
    #[error("Statement[{index}]{}: {field}: {reason}", sid_suffix(.sid))]
    Statement {
        /// Zero-based position of the statement in the `Statement` array (0 for a lone object).
        index: usize,
        /// The statement's `Sid`, when it has a valid one.
        sid: Option<String>,
        /// The offending field, e.g. `Effect` or `Condition.StringEquals`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn sid_suffix(sid: &Option<String>) -> String {
    match sid {
        Some(s) => format!(" (Sid {s:?})"),
        None => String::new(),
    }
}
