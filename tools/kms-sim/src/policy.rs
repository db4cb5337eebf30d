//! Key policy enforcement through `sigil-key-policy`.
//!
//! Every operation on a key evaluates the key's policy with action `kms:<Operation>`, the
//! configured principal, the key ARN as resource and the request's condition keys. There is
//! no IAM layer: a statement naming the account root (`arn:aws:iam::<account>:root`, as in
//! the default policy) grants the configured principal directly, as if its IAM policy
//! allowed `kms:*`.

use std::collections::BTreeMap;

use sigil_key_policy::{Decision, KeyPolicy, Request, evaluate};

use crate::errors::ApiError;

/// Validates a policy document as `PutKeyPolicy`/`CreateKey` do, returning the text to store.
pub fn validate(text: &str) -> Result<String, ApiError> {
    KeyPolicy::parse(text)
        .map(|p| p.json().to_string())
        .map_err(|e| ApiError::new("MalformedPolicyDocumentException", e.to_string()))
}

/// The default key policy text for `account_id`.
pub fn default_for_account(account_id: &str) -> String {
    KeyPolicy::default_for_account(account_id)
        .json()
        .to_string()
}

/// Which kind of policy is evaluated (it only changes the denial message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A key policy.
    Resource,
    /// The `--identity-policy` for operations without a key.
    Identity,
}

/// Allows `kms:<operation>` on `resource` for `principal`, or answers `AccessDeniedException`
/// with KMS's message.
pub fn check(
    kind: PolicyKind,
    policy_text: &str,
    principal: &str,
    operation: &str,
    resource: &str,
    context: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let policy = KeyPolicy::parse(policy_text)
        .map_err(|e| ApiError::internal(format!("stored key policy does not parse: {e}")))?;
    let action = format!("kms:{operation}");
    let req = Request {
        principal,
        action: &action,
        resource,
        context,
    };
    let based = match kind {
        PolicyKind::Resource => "resource-based",
        PolicyKind::Identity => "identity-based",
    };
    let because = match evaluate(&policy, &req) {
        Decision::Allow => return Ok(()),
        Decision::ExplicitDeny { .. } => format!("with an explicit deny in an {based} policy"),
        Decision::ImplicitDeny => format!("because no {based} policy allows the {action} action"),
    };
    Err(ApiError::access_denied(format!(
        "User: {principal} is not authorized to perform: {action} on resource: {resource} {because}"
    )))
}
