//! Cryptographic operations: Encrypt, Decrypt, GenerateDataKey(WithoutPlaintext),
//! GenerateRandom and ReEncrypt, with `Recipient` where KMS supports it.

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptReq {
    key_id: Option<String>,
    plaintext: Option<String>,
    encryption_context: Option<BTreeMap<String, String>>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

pub(super) fn encrypt(ctx: &Ctx, req: EncryptReq, log: &mut LogInfo) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    let plaintext = b64_decode(&required(req.plaintext, "plaintext")?, "Plaintext")?;
    if plaintext.is_empty() || plaintext.len() > 4096 {
        return Err(length_violation("plaintext", plaintext.len(), 1, 4096));
    }
    let ec = req.encryption_context.unwrap_or_default();
    let state = ctx.store.lock()?;
    let (_, key) = ctx.lookup(&state, &key_ref)?;
    log.key_arn = Some(key.arn.clone());
    ctx.authorize(key, "Encrypt", &context_conditions(&ec))?;
    require_usable(key)?;
    check_algorithm(req.encryption_algorithm.as_deref())?;
    dry_run(req.dry_run)?;
    let ct = blob::seal(&key.key_id, &material(key)?, &plaintext, &ec)?;
    Ok(json!({
        "CiphertextBlob": B64.encode(ct),
        "KeyId": key.arn,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptReq {
    ciphertext_blob: Option<String>,
    key_id: Option<String>,
    encryption_context: Option<BTreeMap<String, String>>,
    encryption_algorithm: Option<String>,
    recipient: Option<RecipientInfo>,
    dry_run: Option<bool>,
}

/// What [`open_blob`] opens, and under which policy action.
pub(super) struct OpenRequest<'a> {
    ct: &'a [u8],
    key_ref: Option<&'a str>,
    ec: &'a BTreeMap<String, String>,
    operation: &'a str,
    extra: &'a BTreeMap<String, String>,
}

/// Opens a blob: the key it names (checked against `key_ref` when given), policy, state.
pub(super) fn open_blob(
    ctx: &Ctx,
    state: &State,
    req: OpenRequest<'_>,
    log: &mut LogInfo,
) -> Result<(String, Vec<u8>), ApiError> {
    let OpenRequest {
        ct,
        key_ref,
        ec,
        operation,
        extra,
    } = req;
    if ct.is_empty() || ct.len() > blob::MAX_BLOB {
        return Err(length_violation(
            "ciphertextBlob",
            ct.len(),
            1,
            blob::MAX_BLOB,
        ));
    }
    let parsed = blob::parse(ct)?;
    if let Some(key_ref) = key_ref {
        let id = ctx.resolve(state, key_ref)?;
        if id != parsed.key_id {
            return Err(ApiError::new(
                "IncorrectKeyException",
                "The key ID in the request does not identify a CMK that can perform this operation.",
            ));
        }
    }
    let key = state
        .keys
        .get(parsed.key_id)
        .ok_or_else(ApiError::invalid_ciphertext)?;
    log.key_arn = Some(key.arn.clone());
    let mut conditions = context_conditions(ec);
    conditions.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    ctx.authorize(key, operation, &conditions)?;
    require_usable(key)?;
    let plaintext = parsed.open(&material(key)?, ec)?;
    Ok((key.arn.clone(), plaintext))
}

pub(super) fn decrypt(ctx: &Ctx, req: DecryptReq, log: &mut LogInfo) -> Result<Value, ApiError> {
    let ct = b64_decode(
        &required(req.ciphertext_blob, "ciphertextBlob")?,
        "CiphertextBlob",
    )?;
    let ec = req.encryption_context.unwrap_or_default();
    check_algorithm(req.encryption_algorithm.as_deref())?;
    let recipient = verify_recipient(ctx, req.recipient.as_ref(), log)?;
    let extra = recipient
        .as_ref()
        .map(|r| r.context.clone())
        .unwrap_or_default();
    let state = ctx.store.lock()?;
    let (arn, plaintext) = open_blob(
        ctx,
        &state,
        OpenRequest {
            ct: &ct,
            key_ref: req.key_id.as_deref(),
            ec: &ec,
            operation: "Decrypt",
            extra: &extra,
        },
        log,
    )?;
    drop(state);
    dry_run(req.dry_run)?;
    let mut out = json!({ "KeyId": arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT" });
    let field = match &recipient {
        Some(r) => ("CiphertextForRecipient", r.seal(&plaintext)?),
        None => ("Plaintext", plaintext),
    };
    if let Some(obj) = out.as_object_mut() {
        obj.insert(field.0.into(), json!(B64.encode(field.1)));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateDataKeyReq {
    key_id: Option<String>,
    encryption_context: Option<BTreeMap<String, String>>,
    number_of_bytes: Option<i64>,
    key_spec: Option<String>,
    recipient: Option<RecipientInfo>,
    dry_run: Option<bool>,
}

pub(super) fn generate_data_key(
    ctx: &Ctx,
    req: GenerateDataKeyReq,
    log: &mut LogInfo,
    with_plaintext: bool,
) -> Result<Value, ApiError> {
    let (operation, recipient_info) = if with_plaintext {
        ("GenerateDataKey", req.recipient.as_ref())
    } else {
        ("GenerateDataKeyWithoutPlaintext", None)
    };
    let key_ref = required(req.key_id, "keyId")?;
    let len = match (req.number_of_bytes, req.key_spec.as_deref()) {
        (Some(n), None) if (1..=1024).contains(&n) => usize::try_from(n).unwrap_or(32),
        (Some(n), None) => return Err(range_violation("numberOfBytes", n, 1, 1024)),
        (None, Some("AES_256")) => 32,
        (None, Some("AES_128")) => 16,
        (None, Some(other)) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
            )));
        }
        _ => {
            return Err(ApiError::validation(
                "Please specify either number of bytes or key spec.",
            ));
        }
    };
    let ec = req.encryption_context.unwrap_or_default();
    let recipient = verify_recipient(ctx, recipient_info, log)?;
    let mut conditions = context_conditions(&ec);
    if let Some(r) = &recipient {
        conditions.extend(r.context.clone());
    }
    let state = ctx.store.lock()?;
    let (_, key) = ctx.lookup(&state, &key_ref)?;
    log.key_arn = Some(key.arn.clone());
    ctx.authorize(key, operation, &conditions)?;
    require_usable(key)?;
    dry_run(req.dry_run)?;
    let data_key = random_bytes(len)?;
    let ct = blob::seal(&key.key_id, &material(key)?, &data_key, &ec)?;
    let mut out = json!({ "CiphertextBlob": B64.encode(ct), "KeyId": key.arn });
    let extra = match (&recipient, with_plaintext) {
        (Some(r), _) => Some(("CiphertextForRecipient", r.seal(&data_key)?)),
        (None, true) => Some(("Plaintext", data_key)),
        (None, false) => None,
    };
    if let (Some((field, bytes)), Some(obj)) = (extra, out.as_object_mut()) {
        obj.insert(field.into(), json!(B64.encode(bytes)));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateRandomReq {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<RecipientInfo>,
}

pub(super) fn generate_random(
    ctx: &Ctx,
    req: GenerateRandomReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    if req.custom_key_store_id.is_some() {
        return Err(ApiError::new(
            "CustomKeyStoreNotFoundException",
            "Custom key stores are not supported by this simulator.",
        ));
    }
    let n = required(req.number_of_bytes, "numberOfBytes")?;
    if !(1..=1024).contains(&n) {
        return Err(range_violation("numberOfBytes", n, 1, 1024));
    }
    let recipient = verify_recipient(ctx, req.recipient.as_ref(), log)?;
    let conditions = recipient
        .as_ref()
        .map(|r| r.context.clone())
        .unwrap_or_default();
    ctx.authorize_keyless("GenerateRandom", &conditions)?;
    let bytes = random_bytes(usize::try_from(n).unwrap_or(1))?;
    Ok(match recipient {
        Some(r) => json!({ "CiphertextForRecipient": B64.encode(r.seal(&bytes)?) }),
        None => json!({ "Plaintext": B64.encode(bytes) }),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReEncryptReq {
    ciphertext_blob: Option<String>,
    source_encryption_context: Option<BTreeMap<String, String>>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    destination_encryption_context: Option<BTreeMap<String, String>>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

pub(super) fn re_encrypt(
    ctx: &Ctx,
    req: ReEncryptReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    let ct = b64_decode(
        &required(req.ciphertext_blob, "ciphertextBlob")?,
        "CiphertextBlob",
    )?;
    let dest_ref = required(req.destination_key_id, "destinationKeyId")?;
    check_algorithm(req.source_encryption_algorithm.as_deref())?;
    check_algorithm(req.destination_encryption_algorithm.as_deref())?;
    let src_ec = req.source_encryption_context.unwrap_or_default();
    let dst_ec = req.destination_encryption_context.unwrap_or_default();
    let state = ctx.store.lock()?;
    let (src_arn, plaintext) = open_blob(
        ctx,
        &state,
        OpenRequest {
            ct: &ct,
            key_ref: req.source_key_id.as_deref(),
            ec: &src_ec,
            operation: "ReEncryptFrom",
            extra: &BTreeMap::new(),
        },
        log,
    )?;
    let (_, dest) = ctx.lookup(&state, &dest_ref)?;
    log.key_arn = Some(dest.arn.clone());
    ctx.authorize(dest, "ReEncryptTo", &context_conditions(&dst_ec))?;
    require_usable(dest)?;
    dry_run(req.dry_run)?;
    let new_ct = blob::seal(&dest.key_id, &material(dest)?, &plaintext, &dst_ec)?;
    Ok(json!({
        "CiphertextBlob": B64.encode(new_ct),
        "SourceKeyId": src_arn,
        "KeyId": dest.arn,
        "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}
