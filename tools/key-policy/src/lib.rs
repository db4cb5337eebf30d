//! AWS KMS key policies: parsing and evaluation as KMS does them, including the Nitro
//! Enclaves `kms:RecipientAttestation:*` condition keys.
//!
//! [`KeyPolicy::parse`] validates a document the way `PutKeyPolicy` does (refusing with a
//! [`PolicyError`] what KMS answers with `MalformedPolicyDocumentException`), and
//! [`evaluate`] decides one [`Request`] against it with the IAM rules for a resource-based
//! policy on its own: an explicit `Deny` wins, then any `Allow`, otherwise the request is
//! implicitly denied. IAM identity policies, grants, SCPs and permission boundaries are not
//! modelled; see the crate README for what is and is not supported.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sigil_key_policy::{evaluate, Decision, KeyPolicy, Request};
//!
//! let policy = KeyPolicy::default_for_account("111122223333");
//! let context = BTreeMap::new();
//! let req = Request {
//!     principal: "arn:aws:sts::111122223333:assumed-role/enclave/i-0abc",
//!     action: "kms:Decrypt",
//!     resource: "arn:aws:kms:us-east-1:111122223333:key/k",
//!     context: &context,
//! };
//! assert_eq!(evaluate(&policy, &req), Decision::Allow);
//! ```

mod condition;
mod error;
mod glob;
mod json;
mod principal;
mod statement;

use std::collections::BTreeMap;

pub use error::PolicyError;
use statement::{Effect, Statement};

/// KMS's limit on the size of a key policy document, in bytes (32 KiB).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The condition key KMS sets from a valid Nitro attestation document: the image digest
/// (PCR0), as lower-case hex.
pub const IMAGE_SHA384_KEY: &str = "kms:RecipientAttestation:ImageSha384";

/// The condition key for PCR `index` of a valid Nitro attestation document
/// (`kms:RecipientAttestation:PCR<index>`), whose value is lower-case hex.
pub fn pcr_key(index: u32) -> String {
    format!("kms:RecipientAttestation:PCR{index}")
}

/// A parsed, validated key policy, together with the text it was parsed from.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    version: String,
    id: Option<String>,
    statements: Vec<Statement>,
    json: String,
}

impl KeyPolicy {
    /// Parses and validates a key policy document as `PutKeyPolicy` would.
    ///
    /// Refuses documents over [`MAX_POLICY_BYTES`], invalid JSON (including a key repeated
    /// within one object), unknown fields, and statements with a missing or malformed
    /// `Effect`, `Principal`, `Action`/`NotAction`, `Resource`/`NotResource` or `Condition`.
    /// `NotPrincipal`, unsupported condition operators and `Federated`/`CanonicalUser`
    /// principals are refused too, with a message saying so.
    pub fn parse(json: &str) -> Result<KeyPolicy, PolicyError> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                size: json.len(),
                max: MAX_POLICY_BYTES,
            });
        }
        let value = json::parse(json).map_err(|e| PolicyError::Json(e.to_string()))?;
        let doc_err = |field: &str, reason: &str| PolicyError::Document {
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        let obj = value
            .as_object()
            .ok_or_else(|| doc_err("(document)", "must be a JSON object"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
        {
            return Err(doc_err(
                k,
                "unknown field (expected Version, Id, Statement)",
            ));
        }
        let version = match obj.get("Version") {
            None => "2008-10-17".to_owned(),
            Some(serde_json::Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {
                v.clone()
            }
            Some(_) => {
                return Err(doc_err(
                    "Version",
                    "must be \"2012-10-17\" or \"2008-10-17\"",
                ));
            }
        };
        let id = match obj.get("Id") {
            None => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(doc_err("Id", "must be a string")),
        };
        let statements = match obj.get("Statement") {
            None => return Err(doc_err("Statement", "missing")),
            Some(serde_json::Value::Array(items)) if items.is_empty() => {
                return Err(doc_err(
                    "Statement",
                    "empty: a policy needs at least one statement",
                ));
            }
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| Statement::parse(i, s))
                .collect::<Result<Vec<_>, _>>()?,
            Some(s @ serde_json::Value::Object(_)) => vec![Statement::parse(0, s)?],
            Some(_) => {
                return Err(doc_err(
                    "Statement",
                    "must be a statement object or an array of them",
                ));
            }
        };
        Ok(KeyPolicy {
            version,
            id,
            statements,
            json: json.to_owned(),
        })
    }

    /// The key policy KMS attaches when `CreateKey` is given none: one statement,
    /// `"Enable IAM User Permissions"`, allowing `kms:*` on the key to
    /// `arn:aws:iam::<account_id>:root`, i.e. to every principal of the account.
    ///
    /// The text is laid out the way `GetKeyPolicy` returns it. `account_id` should be the
    /// 12-digit account ID; anything else yields a policy that matches no caller (and that
    /// [`KeyPolicy::parse`] would refuse).
    pub fn default_for_account(account_id: &str) -> KeyPolicy {
        let root = format!("arn:aws:iam::{account_id}:root");
        let quoted = serde_json::Value::String(root).to_string();
        let json = format!(
            "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : {quoted}\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
        );
        KeyPolicy {
            version: "2012-10-17".to_owned(),
            id: Some("key-default-1".to_owned()),
            statements: vec![Statement::default_statement(account_id)],
            json,
        }
    }

    /// The policy text as stored: the original text for a parsed policy.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The document's `Version` (`"2008-10-17"` when the document gives none).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The document's `Id`, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The number of statements.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }
}

/// One request to decide: who, doing what, to which key, in which condition context.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller's ARN, e.g. `arn:aws:iam::111122223333:role/enclave` or
    /// `arn:aws:sts::111122223333:assumed-role/enclave/i-0abc`.
    pub principal: &'a str,
    /// The API action, e.g. `kms:Decrypt` (matched case-insensitively).
    pub action: &'a str,
    /// The key's ARN.
    pub resource: &'a str,
    /// Condition keys and their single string values. Key names compare
    /// case-insensitively; a key absent here is "missing" for the condition operators.
    pub context: &'a BTreeMap<String, String>,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement matched and no `Deny` did.
    Allow,
    /// A `Deny` statement matched; `sid` is its `Sid` (the first matching one, in order).
    ExplicitDeny {
        /// The matching statement's `Sid`, if it has one.
        sid: Option<String>,
    },
    /// No statement matched.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allow(&self) -> bool {
        *self == Decision::Allow
    }
}

/// Decides `req` against `policy`: any matching `Deny` statement gives
/// [`Decision::ExplicitDeny`], else any matching `Allow` gives [`Decision::Allow`], else
/// [`Decision::ImplicitDeny`].
pub fn evaluate(policy: &KeyPolicy, req: &Request<'_>) -> Decision {
    let ctx: BTreeMap<String, &str> = req
        .context
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.as_str()))
        .collect();
    let mut allowed = false;
    for s in &policy.statements {
        if !s.applies(req, &ctx) {
            continue;
        }
        match s.effect {
            Effect::Deny => {
                return Decision::ExplicitDeny { sid: s.sid.clone() };
            }
            Effect::Allow => allowed = true,
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}
