//! The `Condition` element: `{ Operator: { Key: Value | [Values] } }`.
//!
//! Several operators, and several keys under one operator, are ANDed; several values for one
//! key are ORed (for a negated operator: the key must match none of them). A key missing
//! from the request makes a positive operator false and a negated one (`StringNot…`,
//! `ArnNot…`) true; `…IfExists` makes any operator true on a missing key, and `Null` tests
//! presence itself. Key names compare case-insensitively; values may be JSON strings,
//! booleans or numbers (converted to strings, as IAM does).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::glob;
use crate::principal::split_arn;

/// The operators this evaluator implements (without the `IfExists` suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Bool,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Null,
}

const OPERATORS: [(&str, Operator); 12] = [
    ("StringEquals", Operator::StringEquals),
    ("StringNotEquals", Operator::StringNotEquals),
    ("StringEqualsIgnoreCase", Operator::StringEqualsIgnoreCase),
    (
        "StringNotEqualsIgnoreCase",
        Operator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", Operator::StringLike),
    ("StringNotLike", Operator::StringNotLike),
    ("Bool", Operator::Bool),
    ("ArnEquals", Operator::ArnEquals),
    ("ArnNotEquals", Operator::ArnNotEquals),
    ("ArnLike", Operator::ArnLike),
    ("ArnNotLike", Operator::ArnNotLike),
    ("Null", Operator::Null),
];

/// Valid IAM operators that this evaluator does not implement; refused rather than misread.
const UNSUPPORTED: [&str; 13] = [
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "BinaryEquals",
];

impl Operator {
    fn negated(self) -> bool {
        matches!(
            self,
            Operator::StringNotEquals
                | Operator::StringNotEqualsIgnoreCase
                | Operator::StringNotLike
                | Operator::ArnNotEquals
                | Operator::ArnNotLike
        )
    }

    /// Whether the request `value` satisfies the positive form of this operator for one
    /// policy value. Not used for `Null`.
    fn positive_match(self, policy: &str, value: &str) -> bool {
        match self {
            Operator::StringEquals | Operator::StringNotEquals => policy == value,
            Operator::StringEqualsIgnoreCase | Operator::StringNotEqualsIgnoreCase => {
                policy == value || policy.to_lowercase() == value.to_lowercase()
            }
            Operator::StringLike | Operator::StringNotLike => glob::matches(policy, value),
            Operator::Bool => policy.eq_ignore_ascii_case(value),
            // IAM treats ArnEquals and ArnLike alike: per-field wildcard matching.
            Operator::ArnEquals
            | Operator::ArnNotEquals
            | Operator::ArnLike
            | Operator::ArnNotLike => arn_like(policy, value),
            Operator::Null => false,
        }
    }
}

fn arn_like(policy: &str, value: &str) -> bool {
    if policy == "*" {
        return true;
    }
    match (split_arn(policy), split_arn(value)) {
        (Some(p), Some(v)) => {
            glob::matches(p.partition, v.partition)
                && glob::matches(p.service, v.service)
                && glob::matches(p.region, v.region)
                && glob::matches(p.account, v.account)
                && glob::matches(p.resource, v.resource)
        }
        _ => false,
    }
}

/// One `Operator[IfExists]: { key: values }` test for a single key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    op: Operator,
    if_exists: bool,
    /// Lower-cased key name.
    key: String,
    values: Vec<String>,
}

/// Parses a statement's `Condition` element. `Err` is (field path, reason).
pub(crate) fn parse(value: &Value) -> Result<Vec<Condition>, (String, String)> {
    let ops = value.as_object().ok_or_else(|| {
        (
            "Condition".to_owned(),
            "must be an object of operator blocks".to_owned(),
        )
    })?;
    let mut out = Vec::new();
    for (op_name, block) in ops {
        let field = format!("Condition.{op_name}");
        let (op, if_exists) = parse_operator(op_name).map_err(|r| (field.clone(), r))?;
        let keys: &Map<String, Value> = block.as_object().ok_or_else(|| {
            (
                field.clone(),
                "must be an object of condition keys".to_owned(),
            )
        })?;
        if keys.is_empty() {
            return Err((field, "names no condition key".to_owned()));
        }
        for (key, vals) in keys {
            let field = format!("{field}.{key}");
            if key.is_empty() || !key.contains(':') || key.starts_with(':') {
                return Err((
                    field,
                    "condition key must be prefix:name, e.g. kms:RecipientAttestation:ImageSha384"
                        .to_owned(),
                ));
            }
            let values = parse_values(vals).map_err(|r| (field.clone(), r))?;
            for v in &values {
                check_value(op, v).map_err(|r| (field.clone(), r))?;
            }
            let values = if matches!(op, Operator::Null | Operator::Bool) {
                values.iter().map(|v| v.to_ascii_lowercase()).collect()
            } else {
                values
            };
            out.push(Condition {
                op,
                if_exists,
                key: key.to_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn parse_operator(name: &str) -> Result<(Operator, bool), String> {
    if name.starts_with("ForAnyValue:") || name.starts_with("ForAllValues:") {
        return Err(format!(
            "set operators ({name:?}) are not supported: every key this evaluator sees is single-valued"
        ));
    }
    let (base, if_exists) = match name.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (name, false),
    };
    if let Some(&(_, op)) = OPERATORS.iter().find(|(n, _)| *n == base) {
        if op == Operator::Null && if_exists {
            return Err("Null cannot take the IfExists suffix".to_owned());
        }
        return Ok((op, if_exists));
    }
    if UNSUPPORTED.contains(&base) || base.starts_with("IpAddress") || base == "NotIpAddress" {
        return Err(format!(
            "condition operator {name:?} is valid IAM but not supported by this evaluator"
        ));
    }
    Err(format!("unknown condition operator {name:?}"))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_values(v: &Value) -> Result<Vec<String>, String> {
    const WHAT: &str = "must be a string, boolean or number, or a non-empty array of them";
    match v {
        Value::Array(items) if items.is_empty() => Err(format!("empty array: {WHAT}")),
        Value::Array(items) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| WHAT.to_owned()))
            .collect(),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| WHAT.to_owned()),
    }
}

fn check_value(op: Operator, v: &str) -> Result<(), String> {
    match op {
        Operator::Null | Operator::Bool
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") =>
        {
            Err(format!("value {v:?} must be \"true\" or \"false\""))
        }
        _ => Ok(()),
    }
}

impl Condition {
    /// Evaluates against a request context whose keys are already lower-cased.
    pub(crate) fn holds(&self, ctx: &BTreeMap<String, &str>) -> bool {
        let present = ctx.get(&self.key);
        if self.op == Operator::Null {
            let want = if present.is_some() { "false" } else { "true" };
            return self.values.iter().any(|v| v == want);
        }
        match present {
            None => self.if_exists || self.op.negated(),
            Some(value) => {
                let any = self.values.iter().any(|p| self.op.positive_match(p, value));
                any != self.op.negated()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_names() {
        assert_eq!(
            parse_operator("StringEquals"),
            Ok((Operator::StringEquals, false))
        );
        assert_eq!(
            parse_operator("StringLikeIfExists"),
            Ok((Operator::StringLike, true))
        );
        assert!(parse_operator("NullIfExists").is_err());
        assert!(
            parse_operator("stringequals")
                .unwrap_err()
                .contains("unknown")
        );
        assert!(
            parse_operator("NumericEquals")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            parse_operator("ForAnyValue:StringEquals")
                .unwrap_err()
                .contains("set operators")
        );
        assert!(parse_operator("IfExists").is_err());
    }

    #[test]
    fn values_convert() {
        let c = parse(&json!({"Bool": {"aws:SecureTransport": true}})).unwrap();
        assert_eq!(c[0].values, vec!["true"]);
        let c = parse(&json!({"StringEquals": {"kms:X": [1, "a", false]}})).unwrap();
        assert_eq!(c[0].values, vec!["1", "a", "false"]);
        assert!(parse(&json!({"Null": {"kms:X": "maybe"}})).is_err());
        assert!(parse(&json!({"StringEquals": {"kms:X": []}})).is_err());
        assert!(parse(&json!({"StringEquals": {"kms:X": null}})).is_err());
        assert!(parse(&json!({"StringEquals": {"kms:X": {"a": "b"}}})).is_err());
        assert!(parse(&json!({"StringEquals": {"NoPrefix": "a"}})).is_err());
        assert!(parse(&json!({"StringEquals": {}})).is_err());
        assert!(parse(&json!({"StringEquals": "x"})).is_err());
        assert!(parse(&json!([])).is_err());
    }

    #[test]
    fn arn_like_per_field() {
        assert!(arn_like(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::111122223333:role/x"
        ));
        assert!(!arn_like(
            "arn:aws:iam::*:role/*",
            "arn:aws:sts::111122223333:role/x"
        ));
        assert!(!arn_like("arn:aws:iam::*:role/*", "not-an-arn"));
        assert!(arn_like("*", "anything"));
    }
}
