//! The `Principal` element: who a statement is about.
//!
//! Supported forms: `"*"`, `{"AWS": "*"}`, an account (`"111122223333"` or
//! `"arn:aws:iam::111122223333:root"`, which match every principal of that account), a role
//! ARN (which also matches that role's `sts` assumed-role sessions), and user, assumed-role
//! session or federated-user ARNs, which match exactly. `{"Service": "…"}` principals are
//! parsed but never match: the caller of [`evaluate`](crate::evaluate) is always an IAM/STS
//! ARN, never an AWS service acting on its own behalf.

use serde_json::Value;

/// One parsed entry of a `Principal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// `"*"` or `{"AWS": "*"}`.
    Everyone,
    /// Every principal of one account. `partition` is `None` for the bare 12-digit form.
    Account {
        partition: Option<String>,
        account: String,
    },
    /// A role, and its assumed-role sessions.
    Role {
        arn: String,
        partition: String,
        account: String,
        name: String,
    },
    /// A user, assumed-role session or federated user, matched exactly.
    Exact(String),
    /// An AWS service principal such as `logs.amazonaws.com`; never matches a request.
    Service(String),
}

/// Parses the value of a statement's `Principal` element. `Err` is a reason.
pub(crate) fn parse(value: &Value) -> Result<Vec<Principal>, String> {
    match value {
        Value::String(s) if s == "*" => Ok(vec![Principal::Everyone]),
        Value::String(s) => Err(format!(
            "a string principal must be \"*\"; use {{\"AWS\": {s:?}}} to name an AWS principal"
        )),
        Value::Object(map) => {
            if map.is_empty() {
                return Err("names no principal".into());
            }
            let mut out = Vec::new();
            for (kind, v) in map {
                let names = string_list(v).map_err(|r| format!("{kind}: {r}"))?;
                for name in names {
                    let p = match kind.as_str() {
                        "AWS" => parse_aws(name).map_err(|r| format!("AWS: {r}"))?,
                        "Service" if !name.is_empty() => Principal::Service(name.to_owned()),
                        "Service" => return Err("Service: empty service name".into()),
                        "Federated" | "CanonicalUser" => {
                            return Err(format!(
                                "{kind} principals are not supported in key policies by this evaluator"
                            ));
                        }
                        _ => return Err(format!("unknown principal type {kind:?}")),
                    };
                    out.push(p);
                }
            }
            Ok(out)
        }
        _ => Err("must be \"*\" or an object such as {\"AWS\": \"arn:…\"}".into()),
    }
}

/// A string or a non-empty array of strings.
fn string_list(v: &Value) -> Result<Vec<&str>, String> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if items.is_empty() => Err("empty array".into()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| "array items must be strings".to_owned())
            })
            .collect(),
        _ => Err("must be a string or an array of strings".into()),
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The six colon-separated fields of an ARN; the last may itself contain colons.
pub(crate) struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub(crate) fn split_arn(s: &str) -> Option<Arn<'_>> {
    let mut it = s.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let arn = Arn {
        partition: it.next()?,
        service: it.next()?,
        region: it.next()?,
        account: it.next()?,
        resource: it.next()?,
    };
    (!arn.partition.is_empty()).then_some(arn)
}

fn parse_aws(name: &str) -> Result<Principal, String> {
    if name == "*" {
        return Ok(Principal::Everyone);
    }
    if is_account_id(name) {
        return Ok(Principal::Account {
            partition: None,
            account: name.to_owned(),
        });
    }
    if name.contains(['*', '?']) {
        return Err(format!(
            "{name:?}: wildcards are only allowed as the whole principal \"*\""
        ));
    }
    let invalid = || format!("{name:?} is not a valid AWS principal (account ID or IAM/STS ARN)");
    let arn = split_arn(name).ok_or_else(invalid)?;
    if !arn.region.is_empty() || !is_account_id(arn.account) {
        return Err(invalid());
    }
    let exact = || Ok(Principal::Exact(name.to_owned()));
    match arn.service {
        "iam" if arn.resource == "root" => Ok(Principal::Account {
            partition: Some(arn.partition.to_owned()),
            account: arn.account.to_owned(),
        }),
        "iam" => {
            if let Some(path) = arn.resource.strip_prefix("role/") {
                // Roles may have paths (role/service-role/NAME); sessions carry only NAME.
                let role = path.rsplit('/').next().unwrap_or_default();
                if role.is_empty() {
                    return Err(invalid());
                }
                Ok(Principal::Role {
                    arn: name.to_owned(),
                    partition: arn.partition.to_owned(),
                    account: arn.account.to_owned(),
                    name: role.to_owned(),
                })
            } else if arn
                .resource
                .strip_prefix("user/")
                .is_some_and(|u| !u.is_empty())
            {
                exact()
            } else {
                Err(invalid())
            }
        }
        "sts" => {
            let parts: Vec<&str> = arn.resource.split('/').collect();
            match parts.as_slice() {
                ["assumed-role", role, session] if !role.is_empty() && !session.is_empty() => {
                    exact()
                }
                ["federated-user", user] if !user.is_empty() => exact(),
                _ => Err(invalid()),
            }
        }
        _ => Err(invalid()),
    }
}

impl Principal {
    /// Whether a request made by `caller` (an IAM or STS ARN) is covered by this entry.
    pub(crate) fn matches(&self, caller: &str) -> bool {
        match self {
            Principal::Everyone => true,
            Principal::Service(_) => false,
            Principal::Exact(arn) => arn == caller,
            Principal::Account { partition, account } => split_arn(caller).is_some_and(|c| {
                matches!(c.service, "iam" | "sts")
                    && c.account == account
                    && partition.as_deref().is_none_or(|p| p == c.partition)
            }),
            Principal::Role {
                arn,
                partition,
                account,
                name,
            } => {
                if arn == caller {
                    return true;
                }
                split_arn(caller).is_some_and(|c| {
                    c.service == "sts"
                        && c.partition == partition
                        && c.account == account
                        && c.resource
                            .strip_prefix("assumed-role/")
                            .and_then(|rest| rest.split_once('/'))
                            .is_some_and(|(role, session)| {
                                role == name && !session.is_empty() && !session.contains('/')
                            })
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::111122223333:role/enclave";

    fn one(v: Value) -> Principal {
        let mut ps = parse(&v).unwrap();
        assert_eq!(ps.len(), 1);
        ps.remove(0)
    }

    #[test]
    fn forms() {
        assert_eq!(one(json!("*")), Principal::Everyone);
        assert_eq!(one(json!({"AWS": "*"})), Principal::Everyone);
        assert!(matches!(
            one(json!({"AWS": "111122223333"})),
            Principal::Account {
                partition: None,
                ..
            }
        ));
        assert!(matches!(
            one(json!({"AWS": "arn:aws:iam::111122223333:root"})),
            Principal::Account {
                partition: Some(_),
                ..
            }
        ));
        assert!(matches!(one(json!({"AWS": ROLE})), Principal::Role { .. }));
        assert!(matches!(
            one(json!({"AWS": "arn:aws:iam::111122223333:user/alice"})),
            Principal::Exact(_)
        ));
        assert!(matches!(
            one(json!({"Service": "logs.amazonaws.com"})),
            Principal::Service(_)
        ));
        assert_eq!(
            parse(&json!({"AWS": ["111122223333", ROLE]}))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn bad_forms() {
        for v in [
            json!("111122223333"),
            json!({}),
            json!({"AWS": []}),
            json!({"AWS": 5}),
            json!({"AWS": "alice"}),
            json!({"AWS": "arn:aws:iam::111122223333:role/*"}),
            json!({"AWS": "arn:aws:iam::1111:root"}),
            json!({"AWS": "arn:aws:iam::111122223333:group/admins"}),
            json!({"AWS": "arn:aws:s3:::bucket"}),
            json!({"AWS": "arn:aws:iam::111122223333:role/"}),
            json!({"Federated": "cognito-identity.amazonaws.com"}),
            json!({"Aws": ROLE}),
            json!(["*"]),
        ] {
            assert!(parse(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn role_matches_its_sessions_only() {
        let p = one(json!({"AWS": ROLE}));
        assert!(p.matches(ROLE));
        assert!(p.matches("arn:aws:sts::111122223333:assumed-role/enclave/i-0abc"));
        assert!(!p.matches("arn:aws:sts::111122223333:assumed-role/enclave/"));
        assert!(!p.matches("arn:aws:sts::111122223333:assumed-role/enclave2/i-0abc"));
        assert!(!p.matches("arn:aws:sts::444455556666:assumed-role/enclave/i-0abc"));
        assert!(!p.matches("arn:aws-cn:sts::111122223333:assumed-role/enclave/i-0abc"));
        assert!(!p.matches("arn:aws:iam::111122223333:role/other"));
        let pathed = one(json!({"AWS": "arn:aws:iam::111122223333:role/service-role/enclave"}));
        assert!(pathed.matches("arn:aws:sts::111122223333:assumed-role/enclave/s"));
    }

    #[test]
    fn account_matches_everyone_in_it() {
        for v in [
            json!({"AWS": "111122223333"}),
            json!({"AWS": "arn:aws:iam::111122223333:root"}),
        ] {
            let p = one(v);
            assert!(p.matches(ROLE));
            assert!(p.matches("arn:aws:sts::111122223333:assumed-role/enclave/s"));
            assert!(p.matches("arn:aws:iam::111122223333:user/alice"));
            assert!(!p.matches("arn:aws:iam::444455556666:user/alice"));
            assert!(!p.matches("not an arn"));
        }
    }

    #[test]
    fn service_never_matches() {
        assert!(!one(json!({"Service": "logs.amazonaws.com"})).matches("logs.amazonaws.com"));
    }
}
