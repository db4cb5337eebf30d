//! The KMS operations: request parsing, key resolution, policy checks and responses.

mod crypto;
mod manage;

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sigil_attestation::Verifier;

use crate::blob;
use crate::errors::{ApiError, b64_decode, length_violation, range_violation};
use crate::policy::{self, PolicyKind};
use crate::recipient::{self, Recipient, RecipientInfo};
use crate::store::{AliasRecord, KeyRecord, KeyState, State, Store, StoreError, now_epoch};

/// Everything an operation needs.
#[derive(Debug)]
pub struct Ctx {
    /// Keys and aliases.
    pub store: Store,
    /// Verifies `Recipient` attestation documents.
    pub verifier: Verifier,
    /// The simulated account.
    pub account_id: String,
    /// The simulated region.
    pub region: String,
    /// The identity of the configured credentials.
    pub principal_arn: String,
    /// Policy text governing operations without a key (CreateKey, ListKeys, ListAliases,
    /// GenerateRandom); `None` allows them all.
    pub identity_policy: Option<String>,
}

/// What the request log records about an operation (never secrets or plaintext).
#[derive(Debug, Default)]
pub struct LogInfo {
    /// The key ARN the operation used.
    pub key_arn: Option<String>,
    /// The Recipient document's module id and image digest, as CloudTrail records them.
    pub recipient: Option<(String, String)>,
}

/// Every operation the simulator implements.
pub const OPERATIONS: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "ReEncrypt",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "EnableKey",
    "DisableKey",
    "CreateAlias",
    "ListAliases",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
];

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(format!("state store: {e}"))
    }
}

/// Runs operation `op` on the JSON `body`.
pub fn dispatch(ctx: &Ctx, op: &str, body: &[u8], log: &mut LogInfo) -> Result<Value, ApiError> {
    match op {
        "CreateKey" => manage::create_key(ctx, parse(body)?, log),
        "DescribeKey" => manage::describe_key(ctx, parse(body)?, log),
        "ListKeys" => manage::list_keys(ctx, parse(body)?),
        "Encrypt" => crypto::encrypt(ctx, parse(body)?, log),
        "Decrypt" => crypto::decrypt(ctx, parse(body)?, log),
        "GenerateDataKey" => crypto::generate_data_key(ctx, parse(body)?, log, true),
        "GenerateDataKeyWithoutPlaintext" => {
            crypto::generate_data_key(ctx, parse(body)?, log, false)
        }
        "GenerateRandom" => crypto::generate_random(ctx, parse(body)?, log),
        "ReEncrypt" => crypto::re_encrypt(ctx, parse(body)?, log),
        "GetKeyPolicy" => manage::get_key_policy(ctx, parse(body)?, log),
        "PutKeyPolicy" => manage::put_key_policy(ctx, parse(body)?, log),
        "EnableKey" => manage::set_enabled(ctx, parse(body)?, log, true),
        "DisableKey" => manage::set_enabled(ctx, parse(body)?, log, false),
        "CreateAlias" => manage::create_alias(ctx, parse(body)?, log),
        "ListAliases" => manage::list_aliases(ctx, parse(body)?),
        "EnableKeyRotation" => manage::set_rotation(ctx, parse(body)?, log, true),
        "DisableKeyRotation" => manage::set_rotation(ctx, parse(body)?, log, false),
        "GetKeyRotationStatus" => manage::get_rotation(ctx, parse(body)?, log),
        "ScheduleKeyDeletion" => manage::schedule_deletion(ctx, parse(body)?, log),
        "CancelKeyDeletion" => manage::cancel_deletion(ctx, parse(body)?, log),
        _ => Err(ApiError::new("UnknownOperationException", "")),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::serialization(format!("The request body could not be parsed: {e}")))
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn random_bytes(n: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = vec![0u8; n];
    getrandom::fill(&mut out).map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    Ok(out)
}

/// A random UUID v4 string.
pub fn uuid_v4() -> Result<String, ApiError> {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

impl Ctx {
    fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            self.region, self.account_id
        )
    }

    fn alias_arn(&self, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{name}", self.region, self.account_id)
    }

    /// Resolves a key reference to the key record.
    fn lookup<'s>(
        &self,
        state: &'s State,
        key_ref: &str,
    ) -> Result<(String, &'s KeyRecord), ApiError> {
        let id = self.resolve(state, key_ref)?;
        let key = state
            .keys
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Key '{key_ref}' does not exist")))?;
        Ok((id, key))
    }

    /// Resolves a key id, key ARN, alias name or alias ARN to the id of an existing key.
    fn resolve(&self, state: &State, key_ref: &str) -> Result<String, ApiError> {
        let key_missing = || ApiError::not_found(format!("Key '{key_ref}' does not exist"));
        let alias_missing = || ApiError::not_found(format!("Alias {key_ref} is not found."));
        let arn_prefix = format!("arn:aws:kms:{}:{}:", self.region, self.account_id);
        let local = if key_ref.starts_with("arn:") {
            match key_ref.strip_prefix(&arn_prefix) {
                Some(local) => local,
                None if key_ref.contains(":alias/") => return Err(alias_missing()),
                None => return Err(key_missing()),
            }
        } else {
            key_ref
        };
        if local.starts_with("alias/") {
            let alias = state.aliases.get(local).ok_or_else(alias_missing)?;
            if !state.keys.contains_key(&alias.target_key_id) {
                return Err(alias_missing());
            }
            return Ok(alias.target_key_id.clone());
        }
        let id = if key_ref.starts_with("arn:") {
            local.strip_prefix("key/").ok_or_else(key_missing)?
        } else {
            local
        };
        if state.keys.contains_key(id) {
            Ok(id.to_string())
        } else {
            Err(key_missing())
        }
    }

    fn authorize(
        &self,
        key: &KeyRecord,
        operation: &str,
        extra: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let mut context = extra.clone();
        context.insert("kms:CallerAccount".into(), self.account_id.clone());
        policy::check(
            PolicyKind::Resource,
            &key.policy,
            &self.principal_arn,
            operation,
            &key.arn,
            &context,
        )
    }

    /// Checks an operation without a key against `--identity-policy` (resource `*`).
    fn authorize_keyless(
        &self,
        operation: &str,
        extra: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let Some(text) = &self.identity_policy else {
            return Ok(());
        };
        let mut context = extra.clone();
        context.insert("kms:CallerAccount".into(), self.account_id.clone());
        policy::check(
            PolicyKind::Identity,
            text,
            &self.principal_arn,
            operation,
            "*",
            &context,
        )
    }
}

fn require_usable(key: &KeyRecord) -> Result<(), ApiError> {
    match key.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(ApiError::new(
            "DisabledException",
            format!("{} is disabled.", key.arn),
        )),
        KeyState::PendingDeletion => Err(ApiError::new(
            "KMSInvalidStateException",
            format!("{} is pending deletion.", key.arn),
        )),
    }
}

fn require_not_pending(key: &KeyRecord) -> Result<(), ApiError> {
    if key.state == KeyState::PendingDeletion {
        return Err(ApiError::new(
            "KMSInvalidStateException",
            format!("{} is pending deletion.", key.arn),
        ));
    }
    Ok(())
}

fn material(key: &KeyRecord) -> Result<Vec<u8>, ApiError> {
    B64.decode(&key.material_b64)
        .map_err(|_| ApiError::internal("stored key material is not valid base64"))
}

fn metadata(ctx: &Ctx, key: &KeyRecord) -> Value {
    let mut m = json!({
        "AWSAccountId": ctx.account_id,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": key.creation_date,
        "Enabled": key.state == KeyState::Enabled,
        "Description": key.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": key.state.as_str(),
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let (Some(date), Some(obj)) = (key.deletion_date, m.as_object_mut()) {
        obj.insert("DeletionDate".into(), json!(date));
    }
    m
}

fn check_algorithm(algorithm: Option<&str>) -> Result<(), ApiError> {
    match algorithm {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(ApiError::new(
            "InvalidKeyUsageException",
            format!(
                "The encryption algorithm {other} is not compatible with the key spec SYMMETRIC_DEFAULT."
            ),
        )),
    }
}

fn dry_run(flag: Option<bool>) -> Result<(), ApiError> {
    if flag == Some(true) {
        return Err(ApiError {
            code: "DryRunOperationException",
            message: "The request would have succeeded, but the DryRun option is set.".into(),
            status: 412,
        });
    }
    Ok(())
}

fn context_conditions(context: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (format!("kms:EncryptionContext:{k}"), v.clone()))
        .collect()
}

fn verify_recipient(
    ctx: &Ctx,
    info: Option<&RecipientInfo>,
    log: &mut LogInfo,
) -> Result<Option<Recipient>, ApiError> {
    let Some(info) = info else {
        return Ok(None);
    };
    let r = recipient::verify(info, &ctx.verifier, SystemTime::now())?;
    log.recipient = Some((r.module_id.clone(), r.image_sha384.clone()));
    Ok(Some(r))
}
