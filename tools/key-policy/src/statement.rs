//! One policy statement: parsing (with errors that name the statement and field) and
//! matching against a request.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::condition::{self, Condition};
use crate::principal::{self, Principal};
use crate::{PolicyError, Request, glob};

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// A list of wildcard patterns, possibly negated (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Patterns {
    negated: bool,
    items: Vec<String>,
}

/// A validated statement.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    principals: Vec<Principal>,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

const FIELDS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Statement {
    /// Parses statement number `index` of the document.
    pub(crate) fn parse(index: usize, value: &Value) -> Result<Statement, PolicyError> {
        let mut sid = None;
        let err = |sid: &Option<String>, field: &str, reason: String| PolicyError::Statement {
            index,
            sid: sid.clone(),
            field: field.to_owned(),
            reason,
        };
        let obj = value
            .as_object()
            .ok_or_else(|| err(&sid, "(statement)", "must be a JSON object".to_owned()))?;
        match obj.get("Sid") {
            None => {}
            Some(Value::String(s)) => sid = Some(s.clone()),
            Some(_) => return Err(err(&sid, "Sid", "must be a string".to_owned())),
        }
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(err(
                &sid,
                k,
                format!("unknown field (expected one of {})", FIELDS.join(", ")),
            ));
        }
        let effect = match obj.get("Effect") {
            None => return Err(err(&sid, "Effect", "missing".to_owned())),
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(other) => {
                return Err(err(
                    &sid,
                    "Effect",
                    format!("must be \"Allow\" or \"Deny\", not {other}"),
                ));
            }
        };
        if obj.contains_key("NotPrincipal") {
            return Err(err(
                &sid,
                "NotPrincipal",
                "not supported in key policies; use Principal (with a Deny statement and a condition if needed)"
                    .to_owned(),
            ));
        }
        let principals = match obj.get("Principal") {
            None => {
                return Err(err(
                    &sid,
                    "Principal",
                    "missing: every key policy statement needs a Principal".to_owned(),
                ));
            }
            Some(p) => principal::parse(p).map_err(|r| err(&sid, "Principal", r))?,
        };
        let actions =
            either(obj, "Action", "NotAction", check_action).map_err(|(f, r)| err(&sid, f, r))?;
        let resources = either(obj, "Resource", "NotResource", check_resource)
            .map_err(|(f, r)| err(&sid, f, r))?;
        let conditions = match obj.get("Condition") {
            None => Vec::new(),
            Some(c) => condition::parse(c).map_err(|(f, r)| err(&sid, &f, r))?,
        };
        Ok(Statement {
            sid,
            effect,
            principals,
            actions,
            resources,
            conditions,
        })
    }

    /// The one statement of KMS's default key policy for `account_id`.
    pub(crate) fn default_statement(account_id: &str) -> Statement {
        Statement {
            sid: Some("Enable IAM User Permissions".to_owned()),
            effect: Effect::Allow,
            principals: vec![Principal::Account {
                partition: Some("aws".to_owned()),
                account: account_id.to_owned(),
            }],
            actions: Patterns {
                negated: false,
                items: vec!["kms:*".to_owned()],
            },
            resources: Patterns {
                negated: false,
                items: vec!["*".to_owned()],
            },
            conditions: Vec::new(),
        }
    }

    /// Whether this statement covers `req`; `ctx` is the request context with lower-cased keys.
    pub(crate) fn applies(&self, req: &Request<'_>, ctx: &BTreeMap<String, &str>) -> bool {
        self.principals.iter().any(|p| p.matches(req.principal))
            && self.actions.negated
                != self
                    .actions
                    .items
                    .iter()
                    .any(|a| glob::matches_ignore_case(a, req.action))
            && self.resources.negated
                != self
                    .resources
                    .items
                    .iter()
                    .any(|r| glob::matches(r, req.resource))
            && self.conditions.iter().all(|c| c.holds(ctx))
    }
}

/// Reads exactly one of `positive` / `negative` (e.g. `Action` / `NotAction`) as a string
/// or non-empty array of strings, each checked by `check`. `Err` is (field, reason).
fn either(
    obj: &Map<String, Value>,
    positive: &'static str,
    negative: &'static str,
    check: fn(&str) -> Result<(), String>,
) -> Result<Patterns, (&'static str, String)> {
    let (field, negated, value) = match (obj.get(positive), obj.get(negative)) {
        (Some(_), Some(_)) => {
            return Err((
                positive,
                format!("give either {positive} or {negative}, not both"),
            ));
        }
        (None, None) => return Err((positive, format!("missing (need {positive} or {negative})"))),
        (Some(v), None) => (positive, false, v),
        (None, Some(v)) => (negative, true, v),
    };
    let items: Vec<String> = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.is_empty() => {
            return Err((field, "empty array".to_owned()));
        }
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| (field, "array items must be strings".to_owned()))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err((field, "must be a string or an array of strings".to_owned())),
    };
    for item in &items {
        check(item).map_err(|r| (field, r))?;
    }
    Ok(Patterns { negated, items })
}

fn check_action(a: &str) -> Result<(), String> {
    if a == "*" {
        return Ok(());
    }
    match a.split_once(':') {
        Some((service, name))
            if !service.is_empty()
                && !name.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{a:?} is not an action; expected service:Action such as \"kms:Decrypt\" or \"kms:*\""
        )),
    }
}

fn check_resource(r: &str) -> Result<(), String> {
    if r == "*" || r.starts_with("arn:") {
        Ok(())
    } else {
        Err(format!(
            "{r:?} is not a resource; expected \"*\" (this key) or a key ARN"
        ))
    }
}
