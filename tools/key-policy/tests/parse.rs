//! Parsing: malformed documents give clear errors naming the statement and field, and
//! valid ones round-trip through `json()`.
#![allow(clippy::unwrap_used, missing_docs)]

use serde_json::{Value, json};
use sigil_key_policy::{KeyPolicy, MAX_POLICY_BYTES, PolicyError};

fn good_statement() -> Value {
    json!({
        "Sid": "Enclave",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/enclave"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": "ab"}}
    })
}

/// Parses a document whose second statement is `good_statement()` modified by `edit`.
fn second_statement_error(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> PolicyError {
    let mut s = good_statement();
    edit(s.as_object_mut().unwrap());
    let doc = json!({"Version": "2012-10-17", "Statement": [good_statement(), s]});
    KeyPolicy::parse(&doc.to_string()).unwrap_err()
}

fn assert_statement_error(err: &PolicyError, sid: Option<&str>, field: &str, reason_part: &str) {
    match err {
        PolicyError::Statement {
            index,
            sid: got_sid,
            field: got_field,
            reason,
        } => {
            assert_eq!(*index, 1, "{err}");
            assert_eq!(got_sid.as_deref(), sid, "{err}");
            assert_eq!(got_field, field, "{err}");
            assert!(reason.contains(reason_part), "{err}");
        }
        other => panic!("expected a statement error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.starts_with("Statement[1]"), "{text}");
    assert!(text.contains(field), "{text}");
    if let Some(sid) = sid {
        assert!(text.contains(&format!("(Sid \"{sid}\")")), "{text}");
    }
}

#[test]
fn not_json() {
    for text in ["", "not json", "{\"Statement\": [", "[1, 2]x"] {
        let err = KeyPolicy::parse(text).unwrap_err();
        assert!(matches!(err, PolicyError::Json(_)), "{text:?}: {err:?}");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }
}

#[test]
fn duplicate_key_is_refused() {
    let text = r#"{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}"#;
    let err = KeyPolicy::parse(text).unwrap_err();
    assert!(
        err.to_string().contains("duplicate key \"Effect\""),
        "{err}"
    );
}

#[test]
fn document_errors() {
    let cases: &[(&str, &str)] = &[
        ("[]", "(document)"),
        ("\"x\"", "(document)"),
        (r#"{"Version": "2012-10-17"}"#, "Statement"),
        (r#"{"Statement": []}"#, "Statement"),
        (r#"{"Statement": "x"}"#, "Statement"),
        (r#"{"Version": "2024-01-01", "Statement": []}"#, "Version"),
        (r#"{"Version": 2012, "Statement": []}"#, "Version"),
        (r#"{"Id": 5, "Statement": []}"#, "Id"),
        (r#"{"Statements": []}"#, "Statements"),
    ];
    for (text, field) in cases {
        match KeyPolicy::parse(text).unwrap_err() {
            PolicyError::Document { field: got, reason } => {
                assert_eq!(got, *field, "{text}: {reason}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let empty = KeyPolicy::parse(r#"{"Statement": []}"#)
        .unwrap_err()
        .to_string();
    assert!(empty.contains("empty"), "{empty}");
}

#[test]
fn too_large() {
    let filler = "x".repeat(MAX_POLICY_BYTES);
    let mut s = good_statement();
    s["Sid"] = json!(filler);
    let text = json!({"Statement": [s]}).to_string();
    let err = KeyPolicy::parse(&text).unwrap_err();
    assert_eq!(
        err,
        PolicyError::TooLarge {
            size: text.len(),
            max: 32768
        }
    );
    assert!(err.to_string().contains("32768"), "{err}");
    // Exactly at the limit is fine.
    let base = json!({"Statement": [good_statement()]}).to_string();
    let padded = format!("{base}{}", " ".repeat(MAX_POLICY_BYTES - base.len()));
    assert_eq!(padded.len(), MAX_POLICY_BYTES);
    KeyPolicy::parse(&padded).unwrap();
}

#[test]
fn missing_effect() {
    let err = second_statement_error(|s| {
        s.remove("Effect");
    });
    assert_statement_error(&err, Some("Enclave"), "Effect", "missing");
}

#[test]
fn bad_effect() {
    for bad in [
        json!("allow"),
        json!("Permit"),
        json!(true),
        json!(["Allow"]),
    ] {
        let err = second_statement_error(|s| {
            s.insert("Effect".into(), bad.clone());
        });
        assert_statement_error(&err, Some("Enclave"), "Effect", "\"Allow\" or \"Deny\"");
    }
}

#[test]
fn missing_action() {
    let err = second_statement_error(|s| {
        s.remove("Action");
    });
    assert_statement_error(&err, Some("Enclave"), "Action", "missing");
}

#[test]
fn bad_actions() {
    for (bad, part) in [
        (json!([]), "empty"),
        (json!(""), "not an action"),
        (json!("Decrypt"), "not an action"),
        (json!(["kms:Decrypt", 5]), "strings"),
        (json!({"kms": "Decrypt"}), "string or an array"),
    ] {
        let err = second_statement_error(|s| {
            s.insert("Action".into(), bad.clone());
        });
        assert_statement_error(&err, Some("Enclave"), "Action", part);
    }
    let err = second_statement_error(|s| {
        s.insert("NotAction".into(), json!("kms:Encrypt"));
    });
    assert_statement_error(&err, Some("Enclave"), "Action", "not both");
    let err = second_statement_error(|s| {
        s.remove("Action");
        s.insert("NotAction".into(), json!("Encrypt"));
    });
    assert_statement_error(&err, Some("Enclave"), "NotAction", "not an action");
}

#[test]
fn resource_errors() {
    let err = second_statement_error(|s| {
        s.remove("Resource");
    });
    assert_statement_error(&err, Some("Enclave"), "Resource", "missing");
    let err = second_statement_error(|s| {
        s.insert("Resource".into(), json!("key/1234"));
    });
    assert_statement_error(&err, Some("Enclave"), "Resource", "not a resource");
    let err = second_statement_error(|s| {
        s.insert("NotResource".into(), json!("*"));
    });
    assert_statement_error(&err, Some("Enclave"), "Resource", "not both");
}

#[test]
fn principal_errors() {
    let err = second_statement_error(|s| {
        s.remove("Principal");
    });
    assert_statement_error(&err, Some("Enclave"), "Principal", "missing");
    let err = second_statement_error(|s| {
        s.remove("Principal");
        s.insert("NotPrincipal".into(), json!({"AWS": "111122223333"}));
    });
    assert_statement_error(&err, Some("Enclave"), "NotPrincipal", "not supported");
    for (bad, part) in [
        (json!({"AWS": "bob"}), "not a valid AWS principal"),
        (
            json!({"AWS": "arn:aws:iam::111122223333:role/enc*"}),
            "wildcards",
        ),
        (json!({"Robot": "x"}), "unknown principal type"),
        (json!("111122223333"), "must be \"*\""),
    ] {
        let err = second_statement_error(|s| {
            s.insert("Principal".into(), bad.clone());
        });
        assert_statement_error(&err, Some("Enclave"), "Principal", part);
    }
}

#[test]
fn unknown_statement_field() {
    let err = second_statement_error(|s| {
        s.insert("Effects".into(), json!("Allow"));
    });
    assert_statement_error(&err, Some("Enclave"), "Effects", "unknown field");
}

#[test]
fn condition_errors() {
    let cases: &[(Value, &str, &str)] = &[
        (
            json!({"StringEqualz": {"kms:X": "a"}}),
            "Condition.StringEqualz",
            "unknown condition operator",
        ),
        (
            json!({"NumericLessThan": {"kms:X": "1"}}),
            "Condition.NumericLessThan",
            "not supported",
        ),
        (
            json!({"ForAnyValue:StringEquals": {"kms:X": "a"}}),
            "Condition.ForAnyValue:StringEquals",
            "not supported",
        ),
        (
            json!({"NullIfExists": {"kms:X": "true"}}),
            "Condition.NullIfExists",
            "IfExists",
        ),
        (
            json!({"Null": {"kms:X": "yes"}}),
            "Condition.Null.kms:X",
            "\"true\" or \"false\"",
        ),
        (
            json!({"StringEquals": {"kms:X": []}}),
            "Condition.StringEquals.kms:X",
            "empty",
        ),
        (
            json!({"StringEquals": {"kms:X": null}}),
            "Condition.StringEquals.kms:X",
            "string",
        ),
        (
            json!({"StringEquals": {}}),
            "Condition.StringEquals",
            "no condition key",
        ),
        (
            json!({"StringEquals": "kms:X"}),
            "Condition.StringEquals",
            "object",
        ),
        (
            json!({"StringEquals": {"X": "a"}}),
            "Condition.StringEquals.X",
            "prefix:name",
        ),
        (json!("StringEquals"), "Condition", "object"),
    ];
    for (cond, field, part) in cases {
        let err = second_statement_error(|s| {
            s.insert("Condition".into(), cond.clone());
        });
        assert_statement_error(&err, Some("Enclave"), field, part);
    }
}

#[test]
fn statement_without_sid_is_named_by_index() {
    let err = second_statement_error(|s| {
        s.remove("Sid");
        s.remove("Effect");
    });
    assert_statement_error(&err, None, "Effect", "missing");
    assert_eq!(err.to_string(), "Statement[1]: Effect: missing");
    let err = second_statement_error(|s| {
        s.insert("Sid".into(), json!(7));
    });
    assert_statement_error(&err, None, "Sid", "string");
    let err = KeyPolicy::parse(r#"{"Statement": [{"Sid": "a", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}, 5]}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Statement[1]: (statement): must be a JSON object"
    );
}

#[test]
fn round_trip() {
    let texts = [
        json!({"Version": "2012-10-17", "Id": "p", "Statement": [good_statement()]}).to_string(),
        json!({"Statement": good_statement()}).to_string(),
        KeyPolicy::default_for_account("111122223333")
            .json()
            .to_owned(),
        include_str!("../../../fuzz/seeds/key_policy/nitro.json").to_owned(),
        include_str!("../../../fuzz/seeds/key_policy/admin_and_deny.json").to_owned(),
        include_str!("../../../fuzz/seeds/key_policy/minimal.json").to_owned(),
    ];
    for text in texts {
        let p = KeyPolicy::parse(&text).unwrap();
        assert_eq!(p.json(), text);
        let again = KeyPolicy::parse(p.json()).unwrap();
        assert_eq!(again.json(), p.json());
        assert_eq!(again.statement_count(), p.statement_count());
        assert_eq!(again.version(), p.version());
        assert_eq!(again.id(), p.id());
    }
}
