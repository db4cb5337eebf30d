//! Evaluation: the default policy, the AWS Nitro Enclaves examples, explicit deny, the
//! administrator statement, principals, actions, resources and every condition operator.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sigil_key_policy::{Decision, IMAGE_SHA384_KEY, KeyPolicy, Request, evaluate, pcr_key};

const ACCT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ROLE: &str = "arn:aws:iam::111122223333:role/data-processing";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/data-processing/i-0abc";
const ADMIN: &str = "arn:aws:iam::111122223333:role/KMSAdmin";
const IMAGE: &str = "9fedcba8abcdef7abcdef6abcdef5abcdef4abcdef3abcdef2abcdef1abcdef1abcdef1abcdef1abcdef1abcdef1abcdef";
const PCR0: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
const PCR1: &str = "5f5e5d5c5b5a595857565554535251504f4e4d4c4b4a494847464544434241403f3e3d3c3b3a39383736353433323130";

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn decide(
    p: &KeyPolicy,
    principal: &str,
    action: &str,
    context: &BTreeMap<String, String>,
) -> Decision {
    evaluate(
        p,
        &Request {
            principal,
            action,
            resource: KEY,
            context,
        },
    )
}

fn policy(statements: Value) -> KeyPolicy {
    KeyPolicy::parse(&json!({"Version": "2012-10-17", "Statement": statements}).to_string())
        .unwrap()
}

fn root_statement() -> Value {
    json!({
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCT}:root")},
        "Action": "kms:*",
        "Resource": "*"
    })
}

#[test]
fn default_policy_allows_the_account_only() {
    let p = KeyPolicy::default_for_account(ACCT);
    let none = ctx(&[]);
    for who in [
        ROLE,
        SESSION,
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:root",
    ] {
        for action in ["kms:Decrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"] {
            assert_eq!(
                decide(&p, who, action, &none),
                Decision::Allow,
                "{who} {action}"
            );
        }
    }
    for who in [
        "arn:aws:iam::444455556666:role/data-processing",
        "arn:aws:sts::444455556666:assumed-role/x/y",
        "arn:aws:iam::444455556666:root",
        "garbage",
    ] {
        assert_eq!(
            decide(&p, who, "kms:Decrypt", &none),
            Decision::ImplicitDeny,
            "{who}"
        );
    }
    // Not a KMS action: kms:* does not cover it.
    assert_eq!(
        decide(&p, ROLE, "s3:GetObject", &none),
        Decision::ImplicitDeny
    );
    // The text is valid, parses back and behaves the same.
    let again = KeyPolicy::parse(p.json()).unwrap();
    assert_eq!(again.id(), Some("key-default-1"));
    assert_eq!(again.version(), "2012-10-17");
    assert_eq!(
        decide(&again, SESSION, "kms:Decrypt", &none),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &again,
            "arn:aws:iam::444455556666:root",
            "kms:Decrypt",
            &none
        ),
        Decision::ImplicitDeny
    );
    let v: Value = serde_json::from_str(p.json()).unwrap();
    assert_eq!(
        v["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::111122223333:root"
    );
}

fn nitro_image_policy() -> KeyPolicy {
    policy(json!([
        {
            "Sid": "Enable enclave data processing",
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEqualsIgnoreCase": {IMAGE_SHA384_KEY: IMAGE}}
        }
    ]))
}

#[test]
fn nitro_image_sha384_example() {
    let p = nitro_image_policy();
    let good = ctx(&[(IMAGE_SHA384_KEY, IMAGE)]);
    assert_eq!(decide(&p, ROLE, "kms:Decrypt", &good), Decision::Allow);
    assert_eq!(decide(&p, SESSION, "kms:Decrypt", &good), Decision::Allow);
    let upper = ctx(&[(IMAGE_SHA384_KEY, &IMAGE.to_uppercase())]);
    assert_eq!(decide(&p, SESSION, "kms:Decrypt", &upper), Decision::Allow);
    // Key names are case-insensitive too.
    let lower_key = ctx(&[(&IMAGE_SHA384_KEY.to_lowercase(), IMAGE)]);
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &lower_key),
        Decision::Allow
    );
    let wrong = ctx(&[(IMAGE_SHA384_KEY, PCR0)]);
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &wrong),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &ctx(&[])),
        Decision::ImplicitDeny
    );
    // Other actions and other roles are not covered.
    assert_eq!(
        decide(&p, SESSION, "kms:Encrypt", &good),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(
            &p,
            "arn:aws:sts::111122223333:assumed-role/other/i-0abc",
            "kms:Decrypt",
            &good
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn nitro_pcr_example() {
    let p = policy(json!({
        "Sid": "Enable enclave data processing",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
        "Condition": {"StringEqualsIgnoreCase": {
            "kms:RecipientAttestation:PCR0": PCR0,
            "kms:RecipientAttestation:PCR1": PCR1
        }}
    }));
    let both = ctx(&[
        (&pcr_key(0), PCR0),
        (&pcr_key(1), PCR1),
        (&pcr_key(2), IMAGE),
    ]);
    assert_eq!(decide(&p, SESSION, "kms:Decrypt", &both), Decision::Allow);
    assert_eq!(
        decide(&p, SESSION, "kms:GenerateDataKey", &both),
        Decision::Allow
    );
    let upper = ctx(&[(&pcr_key(0), &PCR0.to_uppercase()), (&pcr_key(1), PCR1)]);
    assert_eq!(decide(&p, SESSION, "kms:Decrypt", &upper), Decision::Allow);
    // Keys are ANDed: one missing or wrong is enough to deny.
    let only0 = ctx(&[(&pcr_key(0), PCR0)]);
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &only0),
        Decision::ImplicitDeny
    );
    let wrong1 = ctx(&[(&pcr_key(0), PCR0), (&pcr_key(1), PCR0)]);
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &wrong1),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &ctx(&[])),
        Decision::ImplicitDeny
    );
}

#[test]
fn several_values_for_one_key_are_ored() {
    let p = policy(json!({
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {IMAGE_SHA384_KEY: [IMAGE, PCR0]}}
    }));
    for v in [IMAGE, PCR0] {
        assert_eq!(
            decide(&p, SESSION, "kms:Decrypt", &ctx(&[(IMAGE_SHA384_KEY, v)])),
            Decision::Allow
        );
    }
    assert_eq!(
        decide(
            &p,
            SESSION,
            "kms:Decrypt",
            &ctx(&[(IMAGE_SHA384_KEY, PCR1)])
        ),
        Decision::ImplicitDeny
    );
    // StringEquals is case-sensitive.
    assert_eq!(
        decide(
            &p,
            SESSION,
            "kms:Decrypt",
            &ctx(&[(IMAGE_SHA384_KEY, &IMAGE.to_uppercase())])
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn deny_without_attestation_overrides_allow() {
    let p = policy(json!([
        root_statement(),
        {
            "Sid": "RequireAttestation",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"Null": {IMAGE_SHA384_KEY: "true"}}
        }
    ]));
    let denied = Decision::ExplicitDeny {
        sid: Some("RequireAttestation".to_owned()),
    };
    assert_eq!(decide(&p, SESSION, "kms:Decrypt", &ctx(&[])), denied);
    assert_eq!(decide(&p, SESSION, "kms:decrypt", &ctx(&[])), denied);
    assert_eq!(
        decide(
            &p,
            SESSION,
            "kms:Decrypt",
            &ctx(&[(IMAGE_SHA384_KEY, IMAGE)])
        ),
        Decision::Allow
    );
    // Other actions are untouched by the Deny.
    assert_eq!(
        decide(&p, SESSION, "kms:Encrypt", &ctx(&[])),
        Decision::Allow
    );
    // A Deny without Sid reports None.
    let p = policy(json!([
        root_statement(),
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
    ]));
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &ctx(&[])),
        Decision::ExplicitDeny { sid: None }
    );
}

#[test]
fn administrators_manage_but_cannot_decrypt() {
    let p = policy(json!([{
        "Sid": "Allow access for Key Administrators",
        "Effect": "Allow",
        "Principal": {"AWS": ADMIN},
        "Action": [
            "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
            "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
            "kms:TagResource", "kms:UntagResource",
            "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"
        ],
        "Resource": "*"
    }]));
    let none = ctx(&[]);
    let admin_session = "arn:aws:sts::111122223333:assumed-role/KMSAdmin/alice";
    for action in [
        "kms:CreateAlias",
        "kms:DescribeKey",
        "kms:EnableKey",
        "kms:EnableKeyRotation",
        "kms:ListAliases",
        "kms:PutKeyPolicy",
        "kms:UpdateKeyDescription",
        "kms:RevokeGrant",
        "kms:DisableKey",
        "kms:GetKeyPolicy",
        "kms:DeleteAlias",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "KMS:DESCRIBEKEY",
    ] {
        assert_eq!(
            decide(&p, admin_session, action, &none),
            Decision::Allow,
            "{action}"
        );
        assert_eq!(
            decide(&p, ADMIN, action, &none),
            Decision::Allow,
            "{action}"
        );
        assert_eq!(
            decide(&p, SESSION, action, &none),
            Decision::ImplicitDeny,
            "{action}"
        );
    }
    for action in [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:ReEncryptFrom",
    ] {
        assert_eq!(
            decide(&p, admin_session, action, &none),
            Decision::ImplicitDeny,
            "{action}"
        );
    }
}

#[test]
fn principals() {
    let none = ctx(&[]);
    let cases: &[(Value, &str, bool)] = &[
        (json!("*"), "arn:aws:iam::444455556666:user/x", true),
        (json!({"AWS": "*"}), "anything", true),
        (json!({"AWS": ACCT}), SESSION, true),
        (
            json!({"AWS": ACCT}),
            "arn:aws:iam::444455556666:role/data-processing",
            false,
        ),
        (json!({"AWS": ROLE}), SESSION, true),
        (json!({"AWS": ROLE}), ROLE, true),
        (
            json!({"AWS": ROLE}),
            "arn:aws:sts::111122223333:assumed-role/data-processing-2/s",
            false,
        ),
        (
            json!({"AWS": "arn:aws:iam::111122223333:user/alice"}),
            "arn:aws:iam::111122223333:user/alice",
            true,
        ),
        (
            json!({"AWS": "arn:aws:iam::111122223333:user/alice"}),
            "arn:aws:iam::111122223333:user/bob",
            false,
        ),
        (json!({"AWS": SESSION}), SESSION, true),
        (
            json!({"AWS": SESSION}),
            "arn:aws:sts::111122223333:assumed-role/data-processing/i-0def",
            false,
        ),
        (
            json!({"AWS": ["arn:aws:iam::111122223333:user/alice", ROLE]}),
            SESSION,
            true,
        ),
        (
            json!({"AWS": ["arn:aws:iam::111122223333:user/alice", "444455556666"]}),
            SESSION,
            false,
        ),
        (
            json!({"Service": "logs.amazonaws.com"}),
            "logs.amazonaws.com",
            false,
        ),
        (
            json!({"Service": "logs.amazonaws.com", "AWS": ACCT}),
            SESSION,
            true,
        ),
    ];
    for (principal, who, want) in cases {
        let p = policy(
            json!({"Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"}),
        );
        let got = decide(&p, who, "kms:Decrypt", &none);
        assert_eq!(got.is_allow(), *want, "{principal} vs {who}");
    }
}

#[test]
fn actions_and_not_action() {
    let none = ctx(&[]);
    let cases: &[(Value, &str, bool)] = &[
        (json!("kms:Decrypt"), "kms:Decrypt", true),
        (json!("kms:decrypt"), "KMS:Decrypt", true),
        (json!("kms:Decrypt*"), "kms:Decrypt", true),
        (json!("kms:Describe?ey"), "kms:DescribeKey", true),
        (json!("kms:Describe?ey"), "kms:DescribeKeys", false),
        (json!("*"), "kms:Decrypt", true),
        (json!("kms:*"), "kms:Decrypt", true),
        (json!(["kms:Encrypt", "kms:Decrypt"]), "kms:Decrypt", true),
        (
            json!(["kms:Encrypt", "kms:GenerateDataKey*"]),
            "kms:Decrypt",
            false,
        ),
    ];
    for (action, req, want) in cases {
        let p =
            policy(json!({"Effect": "Allow", "Principal": "*", "Action": action, "Resource": "*"}));
        assert_eq!(
            decide(&p, SESSION, req, &none).is_allow(),
            *want,
            "Action {action} vs {req}"
        );
        let p = policy(
            json!({"Effect": "Allow", "Principal": "*", "NotAction": action, "Resource": "*"}),
        );
        assert_eq!(
            decide(&p, SESSION, req, &none).is_allow(),
            !*want,
            "NotAction {action} vs {req}"
        );
    }
    // The usual NotAction idiom: deny everything but Decrypt to the enclave role.
    let p = policy(json!([
        root_statement(),
        {"Sid": "OnlyDecrypt", "Effect": "Deny", "Principal": {"AWS": ROLE}, "NotAction": "kms:Decrypt", "Resource": "*"}
    ]));
    assert_eq!(decide(&p, SESSION, "kms:Decrypt", &none), Decision::Allow);
    assert_eq!(
        decide(&p, SESSION, "kms:PutKeyPolicy", &none),
        Decision::ExplicitDeny {
            sid: Some("OnlyDecrypt".to_owned())
        }
    );
}

#[test]
fn resources() {
    let none = ctx(&[]);
    let cases: &[(&str, Value, bool)] = &[
        ("Resource", json!("*"), true),
        ("Resource", json!(KEY), true),
        (
            "Resource",
            json!("arn:aws:kms:us-east-1:111122223333:key/*"),
            true,
        ),
        (
            "Resource",
            json!("arn:aws:kms:*:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890a?"),
            true,
        ),
        (
            "Resource",
            json!("arn:aws:kms:us-east-1:111122223333:key/other"),
            false,
        ),
        (
            "Resource",
            json!("arn:aws:kms:us-west-2:111122223333:key/*"),
            false,
        ),
        (
            "Resource",
            json!(["arn:aws:kms:us-east-1:111122223333:key/other", KEY]),
            true,
        ),
        (
            "NotResource",
            json!("arn:aws:kms:us-east-1:111122223333:key/other"),
            true,
        ),
        ("NotResource", json!(KEY), false),
        ("NotResource", json!("*"), false),
    ];
    for (field, value, want) in cases {
        let p = policy(
            json!({"Effect": "Allow", "Principal": "*", "Action": "kms:*", field.to_string(): value}),
        );
        assert_eq!(
            decide(&p, SESSION, "kms:Decrypt", &none).is_allow(),
            *want,
            "{field} {value}"
        );
    }
}

/// Every operator, with and without IfExists, against a present matching value, a present
/// non-matching value and a missing key.
#[test]
fn operators_table() {
    const K: &str = "kms:EncryptionContext:Dept";
    // (operator, policy value, matching request value, non-matching request value,
    //  result for the matching value, for the non-matching value, for a missing key)
    let table: &[(&str, &str, &str, &str, bool, bool, bool)] = &[
        (
            "StringEquals",
            "Finance",
            "Finance",
            "finance",
            true,
            false,
            false,
        ),
        (
            "StringNotEquals",
            "Finance",
            "Finance",
            "finance",
            false,
            true,
            true,
        ),
        (
            "StringEqualsIgnoreCase",
            "Finance",
            "FINANCE",
            "Legal",
            true,
            false,
            false,
        ),
        (
            "StringNotEqualsIgnoreCase",
            "Finance",
            "FINANCE",
            "Legal",
            false,
            true,
            true,
        ),
        (
            "StringLike",
            "Fin*e?",
            "Finances",
            "finances",
            true,
            false,
            false,
        ),
        (
            "StringNotLike",
            "Fin*e?",
            "Finances",
            "finances",
            false,
            true,
            true,
        ),
        ("Bool", "true", "TRUE", "false", true, false, false),
        (
            "ArnEquals",
            "arn:aws:iam::111122223333:role/*",
            ROLE,
            "arn:aws:iam::444455556666:role/x",
            true,
            false,
            false,
        ),
        (
            "ArnLike",
            "arn:aws:iam::*:role/data-*",
            ROLE,
            "arn:aws:iam::111122223333:user/data-x",
            true,
            false,
            false,
        ),
        (
            "ArnNotEquals",
            "arn:aws:iam::111122223333:role/*",
            ROLE,
            "not-an-arn",
            false,
            true,
            true,
        ),
        (
            "ArnNotLike",
            "arn:aws:iam::*:role/data-*",
            ROLE,
            "arn:aws:iam::111122223333:user/data-x",
            false,
            true,
            true,
        ),
    ];
    let run = |op: &str, value: &str, context: &BTreeMap<String, String>| {
        let p = policy(json!({
            "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {op: {K: value}}
        }));
        decide(&p, SESSION, "kms:Decrypt", context).is_allow()
    };
    for &(op, value, good, bad, want_good, want_bad, want_missing) in table {
        let with_good = ctx(&[(K, good)]);
        let with_bad = ctx(&[(K, bad)]);
        let missing = ctx(&[("kms:EncryptionContext:Other", good)]);
        assert_eq!(run(op, value, &with_good), want_good, "{op} with {good:?}");
        assert_eq!(run(op, value, &with_bad), want_bad, "{op} with {bad:?}");
        assert_eq!(
            run(op, value, &missing),
            want_missing,
            "{op} with the key missing"
        );
        let op_if = format!("{op}IfExists");
        assert_eq!(
            run(&op_if, value, &with_good),
            want_good,
            "{op_if} with {good:?}"
        );
        assert_eq!(
            run(&op_if, value, &with_bad),
            want_bad,
            "{op_if} with {bad:?}"
        );
        assert!(run(&op_if, value, &missing), "{op_if} with the key missing");
    }
    // Null: "true" wants the key absent, "false" wants it present.
    let present = ctx(&[(K, "x")]);
    let missing = ctx(&[]);
    assert!(!run("Null", "true", &present));
    assert!(run("Null", "true", &missing));
    assert!(run("Null", "false", &present));
    assert!(!run("Null", "false", &missing));
    // Present but empty still counts as present.
    assert!(run("Null", "false", &ctx(&[(K, "")])));
}

#[test]
fn negated_operator_with_several_values_means_none_of_them() {
    const K: &str = "kms:EncryptionContext:Dept";
    let p = policy(json!({
        "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
        "Condition": {"StringNotEquals": {K: ["Finance", "Legal"]}}
    }));
    for (v, want) in [("Finance", false), ("Legal", false), ("HR", true)] {
        assert_eq!(
            decide(&p, SESSION, "kms:Decrypt", &ctx(&[(K, v)])).is_allow(),
            want,
            "{v}"
        );
    }
}

#[test]
fn several_operators_are_anded() {
    let p = policy(json!({
        "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {
            "StringEqualsIgnoreCase": {IMAGE_SHA384_KEY: IMAGE},
            "StringLike": {"kms:EncryptionContext:app": "sigil-*"},
            "Bool": {"aws:SecureTransport": true}
        }
    }));
    let all = ctx(&[
        (IMAGE_SHA384_KEY, IMAGE),
        ("kms:EncryptionContext:app", "sigil-signer"),
        ("aws:SecureTransport", "true"),
    ]);
    assert_eq!(decide(&p, SESSION, "kms:Decrypt", &all), Decision::Allow);
    let mut missing_one = all.clone();
    missing_one.remove("aws:SecureTransport");
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &missing_one),
        Decision::ImplicitDeny
    );
    let mut wrong_one = all.clone();
    wrong_one.insert("kms:EncryptionContext:app".into(), "other".into());
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &wrong_one),
        Decision::ImplicitDeny
    );
}

#[test]
fn statement_object_and_old_version() {
    let p = KeyPolicy::parse(
        r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}}"#,
    )
    .unwrap();
    assert_eq!(p.version(), "2008-10-17");
    assert_eq!(p.statement_count(), 1);
    assert_eq!(
        decide(&p, SESSION, "kms:Decrypt", &ctx(&[])),
        Decision::Allow
    );
}

#[test]
fn fuzz_seed_policy_behaves() {
    let p = KeyPolicy::parse(include_str!(
        "../../../fuzz/seeds/key_policy/admin_and_deny.json"
    ))
    .unwrap();
    let enclave = "arn:aws:sts::111122223333:assumed-role/enclave/i-0abc";
    let mut c = ctx(&[
        ("kms:EncryptionContext:app", "sigil-signer"),
        ("aws:PrincipalArn", "arn:aws:iam::111122223333:role/enclave"),
        ("aws:PrincipalAccount", ACCT),
    ]);
    // No attestation, but the caller is in the account: the Deny's second condition fails.
    assert_eq!(decide(&p, enclave, "kms:Decrypt", &c), Decision::Allow);
    c.insert("aws:PrincipalAccount".into(), "444455556666".into());
    assert_eq!(
        decide(&p, enclave, "kms:Decrypt", &c),
        Decision::ExplicitDeny {
            sid: Some("RequireAttestation".to_owned())
        }
    );
    c.insert(IMAGE_SHA384_KEY.into(), IMAGE.into());
    assert_eq!(decide(&p, enclave, "kms:Decrypt", &c), Decision::Allow);
    c.insert("aws:SecureTransport".into(), "false".into());
    assert_eq!(
        decide(&p, enclave, "kms:Decrypt", &c),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(
            &p,
            ADMIN,
            "kms:PutKeyPolicy",
            &ctx(&[("aws:PrincipalAccount", ACCT)])
        ),
        Decision::Allow
    );
    // Without attestation and without the account key, the Deny (IfExists: missing → true) applies.
    assert_eq!(
        decide(&p, ADMIN, "kms:PutKeyPolicy", &ctx(&[])),
        Decision::ExplicitDeny {
            sid: Some("RequireAttestation".to_owned())
        }
    );
    // Read-only actions are carved out of the Deny by NotAction.
    assert_eq!(
        decide(&p, ADMIN, "kms:DescribeKey", &ctx(&[])),
        Decision::Allow
    );
}

#[test]
fn pathological_patterns_evaluate_quickly() {
    let pattern = format!("{}b", "a*".repeat(1_000));
    let p = policy(json!({
        "Effect": "Allow", "Principal": "*", "Action": format!("kms:{pattern}"), "Resource": "*",
        "Condition": {"StringLike": {"kms:EncryptionContext:x": pattern}}
    }));
    let value = "a".repeat(30_000);
    let action = format!("kms:{value}");
    let start = std::time::Instant::now();
    assert_eq!(
        decide(
            &p,
            SESSION,
            &action,
            &ctx(&[("kms:EncryptionContext:x", &value)])
        ),
        Decision::ImplicitDeny
    );
    let with_b = format!("{value}b");
    assert_eq!(
        decide(
            &p,
            SESSION,
            &format!("kms:{with_b}"),
            &ctx(&[("kms:EncryptionContext:x", &with_b)])
        ),
        Decision::Allow
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
