//! The accounts of a run: ids from `--account-id` and `--accounts-file` (one id per line, an
//! optional second column naming the scheme and, for `ecdsa-secp256k1`, an optional third
//! naming the ECDSA engine; `#` comments, blank lines ignored), each checked with
//! [`validate::account_id`]; duplicates are an error.

use std::collections::HashSet;
use std::path::Path;

use sigil_mpc::validate;
use sigil_mpc::{Engine, Scheme};

use crate::KeyGenError;

/// One account to split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    /// The account id the Sign Gateway uses.
    pub account_id: String,
    /// Its signature scheme.
    pub scheme: Scheme,
    /// Its ECDSA engine, if it names one (ECDSA only); `None`: the run's default
    /// ([`Plan::engine`](crate::ceremony::Plan::engine), `--engine`).
    pub engine: Option<Engine>,
}

impl AccountSpec {
    /// An account of `scheme`, in the run's default engine if it is ECDSA.
    pub fn new(account_id: impl Into<String>, scheme: Scheme) -> Self {
        Self {
            account_id: account_id.into(),
            scheme,
            engine: None,
        }
    }

    /// The same account in ECDSA engine `engine` (refused by [`check_accounts`] for Ed25519).
    #[must_use]
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }
}

/// Parses the text of an accounts file: `ACCOUNT_ID [SCHEME [ENGINE]]` per line.
/// `default_scheme` (from `--scheme`) applies to lines without a second column; a line without
/// one when there is no default is an error. ENGINE (`cggmp24` or `dkls23`) is allowed after
/// `ecdsa-secp256k1` only; without it the account takes the run's engine (`--engine`). Ids are
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
        let engine = match cols.next() {
            None => None,
            Some(_) if scheme != Scheme::EcdsaSecp256k1 => {
                return Err(fail(format!(
                    "account {id:?}: an engine column is allowed for ecdsa-secp256k1 only"
                )));
            }
            Some(e) => Some(e.parse::<Engine>().map_err(fail)?),
        };
        if cols.next().is_some() {
            return Err(fail(
                "expected at most three columns: ACCOUNT_ID [SCHEME [ENGINE]]".into(),
            ));
        }
        out.push(AccountSpec {
            account_id: id.to_owned(),
            scheme,
            engine,
        });
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

/// Checks a complete account list: not empty, every id valid, no id twice, an engine only on
/// ECDSA accounts.
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
        if a.engine.is_some() && a.scheme != Scheme::EcdsaSecp256k1 {
            return Err(KeyGenError::Input(format!(
                "account {:?} is {}: an ECDSA engine applies to ecdsa-secp256k1 accounts only",
                a.account_id, a.scheme
            )));
        }
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
    fn parses_the_engine_column() {
        let text = "new\nold ecdsa-secp256k1 cggmp24\nnewer ecdsa-secp256k1 dkls23 # x\n";
        let got = parse_accounts_file("f", text, Some(Scheme::EcdsaSecp256k1)).unwrap();
        assert_eq!(
            got,
            vec![
                AccountSpec::new("new", Scheme::EcdsaSecp256k1),
                AccountSpec::new("old", Scheme::EcdsaSecp256k1).with_engine(Engine::Cggmp24),
                AccountSpec::new("newer", Scheme::EcdsaSecp256k1).with_engine(Engine::Dkls23),
            ]
        );
    }

    #[test]
    fn rejects_bad_lines() {
        let cases = [
            ("al ice x y\n", "line 1"),
            ("ok\nbad!id\n", "line 2"),
            ("a rsa\n", "unknown scheme"),
            ("a ecdsa-secp256k1 gg18\n", "unknown ECDSA engine \"gg18\""),
            ("a ed25519 dkls23\n", "for ecdsa-secp256k1 only"),
            ("a ecdsa-secp256k1 dkls23 x\n", "at most three columns"),
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
        let e =
            check_accounts(&[AccountSpec::new("s", Scheme::Ed25519).with_engine(Engine::Dkls23)])
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("an ECDSA engine applies to ecdsa-secp256k1"),
            "{e}"
        );
    }
}
