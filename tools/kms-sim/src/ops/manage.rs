//! Key management operations: keys, policies, state, rotation, deletion and aliases.

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateKeyReq {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    key_spec: Option<String>,
    customer_master_key_spec: Option<String>,
    origin: Option<String>,
    multi_region: Option<bool>,
}

pub(super) fn create_key(
    ctx: &Ctx,
    req: CreateKeyReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    ctx.authorize_keyless("CreateKey", &BTreeMap::new())?;
    if let Some(u) = req.key_usage.as_deref().filter(|u| *u != "ENCRYPT_DECRYPT") {
        return Err(ApiError::validation(format!(
            "KeyUsage {u} is not supported by this simulator: only ENCRYPT_DECRYPT symmetric keys are."
        )));
    }
    for spec in [&req.key_spec, &req.customer_master_key_spec] {
        if let Some(s) = spec.as_deref().filter(|s| *s != "SYMMETRIC_DEFAULT") {
            return Err(ApiError::validation(format!(
                "KeySpec {s} is not supported by this simulator: only SYMMETRIC_DEFAULT is."
            )));
        }
    }
    if let Some(o) = req.origin.as_deref().filter(|o| *o != "AWS_KMS") {
        return Err(ApiError::validation(format!(
            "Origin {o} is not supported by this simulator: only AWS_KMS is."
        )));
    }
    if req.multi_region == Some(true) {
        return Err(ApiError::validation(
            "Multi-Region keys are not supported by this simulator.",
        ));
    }
    let description = req.description.unwrap_or_default();
    if description.len() > 8192 {
        return Err(length_violation("description", description.len(), 0, 8192));
    }
    let policy = match req.policy {
        Some(text) => policy::validate(&text)?,
        None => policy::default_for_account(&ctx.account_id),
    };
    let key_id = uuid_v4()?;
    let key = KeyRecord {
        arn: ctx.key_arn(&key_id),
        key_id,
        creation_date: now_epoch(),
        description,
        state: KeyState::Enabled,
        policy,
        rotation_enabled: false,
        rotation_period_days: None,
        deletion_date: None,
        material_b64: B64.encode(random_bytes(32)?),
    };
    let mut state = ctx.store.lock()?;
    ctx.store.save_key(&key)?;
    log.key_arn = Some(key.arn.clone());
    let out = json!({ "KeyMetadata": metadata(ctx, &key) });
    state.keys.insert(key.key_id.clone(), key);
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdReq {
    key_id: Option<String>,
}

pub(super) fn describe_key(ctx: &Ctx, req: KeyIdReq, log: &mut LogInfo) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    let state = ctx.store.lock()?;
    let (_, key) = ctx.lookup(&state, &key_ref)?;
    log.key_arn = Some(key.arn.clone());
    ctx.authorize(key, "DescribeKey", &BTreeMap::new())?;
    Ok(json!({ "KeyMetadata": metadata(ctx, key) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListReq {
    limit: Option<i64>,
    marker: Option<String>,
    key_id: Option<String>,
}

pub(super) fn page_bounds(
    limit: Option<i64>,
    marker: Option<&str>,
) -> Result<(usize, usize), ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(range_violation("limit", limit, 1, 1000));
    }
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| ApiError::new("InvalidMarkerException", "The marker is not valid."))?,
    };
    Ok((start, usize::try_from(limit).unwrap_or(100)))
}

pub(super) fn page(items: Vec<Value>, start: usize, limit: usize, field: &str) -> Value {
    let total = items.len();
    let chunk: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let end = start + chunk.len();
    let mut out = json!({ field: chunk, "Truncated": end < total });
    if end < total
        && let Some(obj) = out.as_object_mut()
    {
        obj.insert("NextMarker".into(), json!(end.to_string()));
    }
    out
}

pub(super) fn list_keys(ctx: &Ctx, req: ListReq) -> Result<Value, ApiError> {
    ctx.authorize_keyless("ListKeys", &BTreeMap::new())?;
    let (start, limit) = page_bounds(req.limit, req.marker.as_deref())?;
    let state = ctx.store.lock()?;
    let items = state
        .keys
        .values()
        .map(|k| json!({ "KeyId": k.key_id, "KeyArn": k.arn }))
        .collect();
    Ok(page(items, start, limit, "Keys"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PolicyReq {
    key_id: Option<String>,
    policy_name: Option<String>,
    policy: Option<String>,
}

pub(super) fn check_policy_name(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        None | Some("default") => Ok(()),
        Some(other) => Err(ApiError::not_found(format!(
            "Policy '{other}' does not exist: the only key policy name is 'default'."
        ))),
    }
}

pub(super) fn get_key_policy(
    ctx: &Ctx,
    req: PolicyReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    check_policy_name(req.policy_name.as_deref())?;
    let state = ctx.store.lock()?;
    let (_, key) = ctx.lookup(&state, &key_ref)?;
    log.key_arn = Some(key.arn.clone());
    ctx.authorize(key, "GetKeyPolicy", &BTreeMap::new())?;
    Ok(json!({ "Policy": key.policy, "PolicyName": "default" }))
}

pub(super) fn put_key_policy(
    ctx: &Ctx,
    req: PolicyReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    check_policy_name(req.policy_name.as_deref())?;
    let text = policy::validate(&required(req.policy, "policy")?)?;
    update_key(ctx, &key_ref, "PutKeyPolicy", log, |key| {
        require_not_pending(key)?;
        key.policy = text;
        Ok(json!({}))
    })
}

/// Applies `change` to the key `key_ref` after authorising `operation`, and persists it.
pub(super) fn update_key(
    ctx: &Ctx,
    key_ref: &str,
    operation: &str,
    log: &mut LogInfo,
    change: impl FnOnce(&mut KeyRecord) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let mut state = ctx.store.lock()?;
    let (id, key) = ctx.lookup(&state, key_ref)?;
    log.key_arn = Some(key.arn.clone());
    ctx.authorize(key, operation, &BTreeMap::new())?;
    let mut updated = key.clone();
    let out = change(&mut updated)?;
    ctx.store.save_key(&updated)?;
    state.keys.insert(id, updated);
    Ok(out)
}

pub(super) fn set_enabled(
    ctx: &Ctx,
    req: KeyIdReq,
    log: &mut LogInfo,
    enable: bool,
) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    let op = if enable { "EnableKey" } else { "DisableKey" };
    update_key(ctx, &key_ref, op, log, |key| {
        require_not_pending(key)?;
        key.state = if enable {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        };
        Ok(json!({}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RotationReq {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

pub(super) fn set_rotation(
    ctx: &Ctx,
    req: RotationReq,
    log: &mut LogInfo,
    enable: bool,
) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    let period = match req.rotation_period_in_days {
        Some(p) if !(90..=2560).contains(&p) => {
            return Err(range_violation("rotationPeriodInDays", p, 90, 2560));
        }
        Some(p) => u32::try_from(p).ok(),
        None => None,
    };
    let op = if enable {
        "EnableKeyRotation"
    } else {
        "DisableKeyRotation"
    };
    update_key(ctx, &key_ref, op, log, |key| {
        require_usable(key)?;
        key.rotation_enabled = enable;
        if enable {
            key.rotation_period_days = Some(period.unwrap_or(365));
        }
        Ok(json!({}))
    })
}

pub(super) fn get_rotation(
    ctx: &Ctx,
    req: RotationReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    let state = ctx.store.lock()?;
    let (_, key) = ctx.lookup(&state, &key_ref)?;
    log.key_arn = Some(key.arn.clone());
    ctx.authorize(key, "GetKeyRotationStatus", &BTreeMap::new())?;
    require_not_pending(key)?;
    let mut out = json!({ "KeyRotationEnabled": key.rotation_enabled, "KeyId": key.arn });
    if let (true, Some(days), Some(obj)) = (
        key.rotation_enabled,
        key.rotation_period_days,
        out.as_object_mut(),
    ) {
        obj.insert("RotationPeriodInDays".into(), json!(days));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleReq {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

pub(super) fn schedule_deletion(
    ctx: &Ctx,
    req: ScheduleReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    let days = req.pending_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(range_violation("pendingWindowInDays", days, 7, 30));
    }
    update_key(ctx, &key_ref, "ScheduleKeyDeletion", log, |key| {
        require_not_pending(key)?;
        let date = now_epoch() + (days * 86_400) as f64;
        key.state = KeyState::PendingDeletion;
        key.deletion_date = Some(date);
        Ok(json!({
            "KeyId": key.arn,
            "DeletionDate": date,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }))
    })
}

pub(super) fn cancel_deletion(
    ctx: &Ctx,
    req: KeyIdReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    let key_ref = required(req.key_id, "keyId")?;
    update_key(ctx, &key_ref, "CancelKeyDeletion", log, |key| {
        if key.state != KeyState::PendingDeletion {
            return Err(ApiError::new(
                "KMSInvalidStateException",
                format!("{} is not pending deletion.", key.arn),
            ));
        }
        key.state = KeyState::Disabled;
        key.deletion_date = None;
        Ok(json!({ "KeyId": key.arn }))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateAliasReq {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

pub(super) fn create_alias(
    ctx: &Ctx,
    req: CreateAliasReq,
    log: &mut LogInfo,
) -> Result<Value, ApiError> {
    let name = required(req.alias_name, "aliasName")?;
    let target = required(req.target_key_id, "targetKeyId")?;
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
    if !name.starts_with("alias/") || name.len() <= 6 || name.len() > 256 || !valid_chars {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(ApiError::new(
            "NotAuthorizedException",
            "Cannot create alias with prefix 'alias/aws/'",
        ));
    }
    if target.contains("alias/") {
        return Err(ApiError::validation(
            "TargetKeyId must be a key ID or key ARN, not an alias.",
        ));
    }
    let mut state = ctx.store.lock()?;
    let (id, key) = ctx.lookup(&state, &target)?;
    log.key_arn = Some(key.arn.clone());
    ctx.authorize(key, "CreateAlias", &BTreeMap::new())?;
    require_not_pending(key)?;
    if state.aliases.contains_key(&name) {
        return Err(ApiError::new(
            "AlreadyExistsException",
            format!(
                "An alias with the name {} already exists",
                ctx.alias_arn(&name)
            ),
        ));
    }
    state.aliases.insert(
        name.clone(),
        AliasRecord {
            name: name.clone(),
            target_key_id: id,
            creation_date: now_epoch(),
        },
    );
    if let Err(e) = ctx.store.save_aliases(&state) {
        state.aliases.remove(&name);
        return Err(e.into());
    }
    Ok(json!({}))
}

pub(super) fn list_aliases(ctx: &Ctx, req: ListReq) -> Result<Value, ApiError> {
    ctx.authorize_keyless("ListAliases", &BTreeMap::new())?;
    let (start, limit) = page_bounds(req.limit, req.marker.as_deref())?;
    let state = ctx.store.lock()?;
    let filter = match req.key_id.as_deref() {
        Some(k) => Some(ctx.resolve(&state, k)?),
        None => None,
    };
    let items = state
        .aliases
        .values()
        .filter(|a| filter.as_deref().is_none_or(|f| f == a.target_key_id))
        .map(|a| {
            json!({
                "AliasName": a.name,
                "AliasArn": ctx.alias_arn(&a.name),
                "TargetKeyId": a.target_key_id,
                "CreationDate": a.creation_date,
                "LastUpdatedDate": a.creation_date,
            })
        })
        .collect();
    Ok(page(items, start, limit, "Aliases"))
}
