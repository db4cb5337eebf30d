//! Non-hardened derivation paths (`m/0/7`), the only kind a threshold share can derive.

use std::fmt;
use std::str::FromStr;

use crate::MpcError;

/// Deepest path accepted; BIP44 uses five levels.
pub const MAX_DEPTH: usize = 16;
const HARDENED: u32 = 1 << 31;

/// A BIP32/SLIP-10 path of non-hardened indexes. The empty path is the account key itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DerivationPath(Vec<u32>);

impl DerivationPath {
    /// The account key itself (`m`).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Child indexes from the root.
    pub fn indexes(&self) -> &[u32] {
        &self.0
    }

    /// Whether this is the account key itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for DerivationPath {
    type Err = MpcError;

    /// Accepts `""`, `"m"` and `"m/i/j/..."` with decimal indexes below 2^31.
    fn from_str(s: &str) -> Result<Self, MpcError> {
        let bad = |why: &str| MpcError::InvalidRequest(format!("derivation path: {why}"));
        if s.is_empty() || s == "m" {
            return Ok(Self::root());
        }
        let rest = s
            .strip_prefix("m/")
            .ok_or_else(|| bad("must start with \"m/\""))?;
        let mut out = Vec::new();
        for part in rest.split('/') {
            if out.len() == MAX_DEPTH {
                return Err(bad(&format!("deeper than {MAX_DEPTH} levels")));
            }
            if part.ends_with(['\'', 'h', 'H']) {
                return Err(bad(
                    "hardened indexes cannot be derived from a threshold share",
                ));
            }
            if part.is_empty() || part.len() > 10 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("each index must be a decimal number"));
            }
            let index: u32 = part.parse().map_err(|_| bad("index out of range"))?;
            if index >= HARDENED {
                return Err(bad("index must be below 2^31 (non-hardened)"));
            }
            out.push(index);
        }
        Ok(Self(out))
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for i in &self.0 {
            write!(f, "/{i}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (s, want) in [
            ("", "m"),
            ("m", "m"),
            ("m/0/7", "m/0/7"),
            ("m/2147483647", "m/2147483647"),
        ] {
            let p: DerivationPath = s.parse().unwrap();
            assert_eq!(p.to_string(), want);
        }
        assert_eq!(
            "m/0/7".parse::<DerivationPath>().unwrap().indexes(),
            &[0, 7]
        );
    }

    #[test]
    fn rejects_bad_paths() {
        for s in [
            "0/7",
            "m/",
            "m//1",
            "m/0'",
            "m/0h",
            "m/2147483648",
            "m/-1",
            "m/+1",
            "m/1 ",
            "M/1",
            "m/99999999999",
            "m/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
        ] {
            assert!(s.parse::<DerivationPath>().is_err(), "{s}");
        }
        let e = "m/44'".parse::<DerivationPath>().unwrap_err().to_string();
        assert!(e.contains("hardened"), "{e}");
    }
}
