//! The accounts of a run: ids from `--account-id` and `--accounts-file` (one id per line, an
//! optional second column naming the scheme, `#` comments, blank lines ignored), each checked
//! with [`validate::account_id`]; duplicates are an error.

use std::collections::HashSet;
use std::path::Path;

use sigil_mpc::Scheme;
use sigil_mpc::validate;

use crate::KeyGenError;

/// One account to split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    /// The account id the Sign Gateway uses.
    pub account_id: String,
    /// Its signature scheme.
    pub scheme: Scheme,
}

impl AccountSpec {
    /// An account of `scheme`.
    pub fn new(account_id: impl Into<String>, scheme: Scheme) -> Self {
        Self {
            account_id: account_id.into(),
            scheme,
        }
    }
}

/// Parses the text of an accounts file. `default_scheme` (from `--scheme`) applies to lines
/// without a second column; a line without one when there is no default is an error. Ids are
/// validated here; duplicates are found by [`check_accounts`].
pub fn parse_accounts_file(
    path: &str,
    text: &str,
    default_scheme: Option<Scheme>,
) -> Result<Vec<AccountSpec>, KeyGenError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let fail = |reason: String| KeyGenError::AccountsFile {
            path: path.to_owned(),
            line: n + 1,
            reason,
        };
        let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if line.is_empty() {
            continue;
        }
        let mut cols = line.split_whitespace();
        let id = cols.next().unwrap_or_default();
        validate::account_id(id).map_err(|e| fail(format!("{e} (got {id:?})")))?;
        let scheme = match cols.next() {
            Some(s) => s.parse::<Scheme>().map_err(|e| fail(e.to_string()))?,
            None => default_scheme.ok_or_else(|| {
                fail(format!(
                    "account {id:?} has no scheme column and no --scheme was given"
                ))
            })?,
        };
        if cols.next().is_some() {
            return Err(fail(
                "expected at most two columns: ACCOUNT_ID [SCHEME]".into(),
            ));
        }
        out.push(AccountSpec::new(id, scheme));
    }
    Ok(out)
}

/// Reads and parses an accounts file.
pub fn read_accounts_file(
    path: &Path,
    default_scheme: Option<Scheme>,
) -> Result<Vec<AccountSpec>, KeyGenError> {
    let text = std::fs::read_to_string(path).map_err(|e| KeyGenError::io("reading", path, e))?;
    parse_accounts_file(&path.display().to_string(), &text, default_scheme)
}

/// Checks a complete account list: not empty, every id valid, no id twice.
pub fn check_accounts(accounts: &[AccountSpec]) -> Result<(), KeyGenError> {
    if accounts.is_empty() {
        return Err(KeyGenError::Input(
            "no accounts: give --account-id or --accounts-file".into(),
        ));
    }
    let mut seen = HashSet::with_capacity(accounts.len());
    for a in accounts {
        validate::account_id(&a.account_id)
            .map_err(|e| KeyGenError::Input(format!("{e} (got {:?})", a.account_id)))?;
        if !seen.insert(a.account_id.as_str()) {
            return Err(KeyGenError::Input(format!(
                "account id {:?} is given twice",
                a.account_id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_blanks_and_scheme_column() {
        let text =
            "# accounts\n\nalice\nbob ed25519   # trailing comment\n  carol ecdsa-secp256k1\n";
        let got = parse_accounts_file("f", text, Some(Scheme::EcdsaSecp256k1)).unwrap();
        assert_eq!(
            got,
            vec![
                AccountSpec::new("alice", Scheme::EcdsaSecp256k1),
                AccountSpec::new("bob", Scheme::Ed25519),
                AccountSpec::new("carol", Scheme::EcdsaSecp256k1),
            ]
        );
    }

    #[test]
    fn rejects_bad_lines() {
        let cases = [
            ("al ice x\n", "line 1"),
            ("ok\nbad!id\n", "line 2"),
            ("a rsa\n", "unknown scheme"),
        ];
        for (text, want) in cases {
            let e = parse_accounts_file("f", text, Some(Scheme::Ed25519))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let e = parse_accounts_file("f", "a\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no --scheme"), "{e}");
    }

    #[test]
    fn duplicates_and_empty_lists_are_errors() {
        let a = AccountSpec::new("a", Scheme::Ed25519);
        assert!(check_accounts(&[a.clone(), AccountSpec::new("b", Scheme::Ed25519)]).is_ok());
        assert!(
            check_accounts(&[a.clone(), a])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(check_accounts(&[]).is_err());
    }
}
