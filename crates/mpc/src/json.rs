//! Decoding untrusted JSON into library types without letting a library panic escape.
//!
//! cggmp24's big integers deserialize through `num-bigint`'s `from_str_radix`, which asserts
//! that the serialized `radix` is within 2..=36: a share file or a protocol message with
//! `"radix": 1` would panic inside the library (found by `fuzz/fuzz_targets/key_shares.rs`).
//! So every `radix` in the input is checked first, and decoding also runs under
//! `catch_unwind` as a backstop for panics nobody has found yet. The backstop relies on
//! `panic = "unwind"`, the default for every profile of this workspace.
//!
//! The radix check streams over the input with a visitor that keeps nothing: strings are seen
//! in place (borrowed from the input, or from serde_json's scratch buffer when they contain
//! escapes) and never copied into values of ours, so no copy of a secret field is left to wipe.
//! (It used to build a `serde_json::Value` of the whole input and wipe it afterwards; for a
//! key-share file of 100k accounts that tree was several times the file's size.)
//!
//! Error texts give the serde category and position (and, for a value the library refused as
//! invalid, the library's reason, which names no input), never the offending text, which could
//! be secret.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

/// The error text of a big-integer radix outside 2..=36.
pub const RADIX_ERROR: &str = "a big-integer radix is outside 2..=36";

/// What the radix check needs to know of one JSON value.
enum Kind {
    /// A number; `Some` if it is a non-negative integer (as `Value::as_u64` would give it).
    Number(Option<u64>),
    /// A string.
    Str,
    /// Anything else.
    Other,
}

/// One JSON value, walked: its kind and whether every radix inside it is in range.
struct Walked {
    kind: Kind,
    ok: bool,
}

fn radix_ok(kind: &Kind) -> bool {
    matches!(kind, Kind::Number(Some(r)) if (2..=36).contains(r))
}

impl Walked {
    fn leaf(kind: Kind) -> Self {
        Self { kind, ok: true }
    }
}

impl<'de> Deserialize<'de> for Walked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WalkVisitor)
    }
}

/// Checks every place a big integer could be: its `{"radix": R, "value": V}` form and the
/// `[R, V]` sequence form serde also accepts for that struct. R must be in 2..=36, the range
/// `num-bigint` accepts.
struct WalkVisitor;

impl<'de> Visitor<'de> for WalkVisitor {
    type Value = Walked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Walked, E> {
        Ok(Walked::leaf(Kind::Other))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Walked, E> {
        Ok(Walked::leaf(Kind::Number(Some(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Walked, E> {
        Ok(Walked::leaf(Kind::Number(u64::try_from(v).ok())))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Walked, E> {
        Ok(Walked::leaf(Kind::Number(None)))
    }

    // `visit_borrowed_str` and `visit_string` default to this: the text is only looked at.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Walked, E> {
        Ok(Walked::leaf(Kind::Str))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Walked, E> {
        Ok(Walked::leaf(Kind::Other))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walked, A::Error> {
        let mut ok = true;
        let mut count = 0usize;
        let (mut first, mut second_is_str) = (None, false);
        while let Some(item) = seq.next_element::<Walked>()? {
            ok &= item.ok;
            match count {
                0 => first = Some(item.kind),
                1 => second_is_str = matches!(item.kind, Kind::Str),
                _ => {}
            }
            count += 1;
        }
        if let (2, Some(kind @ Kind::Number(_)), true) = (count, &first, second_is_str) {
            ok &= radix_ok(kind);
        }
        Ok(Walked {
            kind: Kind::Other,
            ok,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walked, A::Error> {
        let mut ok = true;
        while let Some(IsRadix(is_radix)) = map.next_key::<IsRadix>()? {
            let value: Walked = map.next_value()?;
            ok &= value.ok && (!is_radix || radix_ok(&value.kind));
        }
        Ok(Walked {
            kind: Kind::Other,
            ok,
        })
    }
}

/// A map key, reduced to whether it is `"radix"`.
struct IsRadix(bool);

impl<'de> Deserialize<'de> for IsRadix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = IsRadix;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IsRadix, E> {
                Ok(IsRadix(v == "radix"))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A position in a document, for error texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// Column as serde_json counts it (1-based on the error's line).
    pub column: usize,
}

/// Where a slice decoded on its own sits in the document it was cut from, so that error
/// positions name the document's line and column.
#[derive(Clone, Copy)]
pub struct Within<'d> {
    document: &'d [u8],
    offset: usize,
}

impl<'d> Within<'d> {
    /// `part` as a sub-slice of `document` (if it is not one, positions are the part's own).
    pub fn new(document: &'d [u8], part: &[u8]) -> Self {
        let offset = (part.as_ptr() as usize)
            .checked_sub(document.as_ptr() as usize)
            .filter(|o| o.saturating_add(part.len()) <= document.len())
            .unwrap_or(0);
        Self { document, offset }
    }

    /// The whole document.
    pub fn whole(document: &'d [u8]) -> Self {
        Self {
            document,
            offset: 0,
        }
    }

    /// A position inside the part, as a position in the document.
    fn absolute(&self, line: usize, column: usize) -> Position {
        let before = &self.document[..self.offset];
        let base_line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let base_column = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(before.len(), |nl| before.len() - nl - 1);
        if line <= 1 {
            Position {
                line: base_line,
                column: base_column + column,
            }
        } else {
            Position {
                line: base_line + line - 1,
                column,
            }
        }
    }

    fn describe(&self, e: &serde_json::Error) -> String {
        let at = self.absolute(e.line(), e.column());
        // A library's own validation (cggmp24's `Valid<T>`) reports "deserialized value is
        // invalid: <reason>"; its reasons are fixed texts and numbers, never input. Every other
        // message may quote the input, so only its category is given.
        // The full message may quote the input: it is wiped when dropped.
        let message = Zeroizing::new(e.to_string());
        let reason = message
            .strip_prefix("deserialized value is invalid: ")
            .and_then(|rest| rest.rsplit_once(" at line "))
            .map(|(reason, _)| format!(" (invalid value: {reason})"))
            .unwrap_or_default();
        format!(
            "{:?} error at line {} column {}{reason}",
            e.classify(),
            at.line,
            at.column
        )
    }
}

/// Checks that `bytes` are one JSON value whose every big-integer radix is in 2..=36, without
/// keeping any of it.
pub fn check_radixes(bytes: &[u8], at: Within<'_>) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let walked = Walked::deserialize(&mut de)
        .and_then(|w| de.end().map(|()| w))
        .map_err(|e| at.describe(&e))?;
    if walked.ok {
        Ok(())
    } else {
        Err(RADIX_ERROR.into())
    }
}

/// Decodes `bytes` (a part of the document `at` names, for error positions) into a type that
/// may borrow from them: radix check first, then the typed parse under `catch_unwind`.
pub fn decode_in<'a, T: Deserialize<'a>>(bytes: &'a [u8], at: Within<'_>) -> Result<T, String> {
    check_radixes(bytes, at)?;
    match catch_unwind(AssertUnwindSafe(|| serde_json::from_slice::<T>(bytes))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(at.describe(&e)),
        Err(_) => Err("a value is out of range for its type".into()),
    }
}

/// Decodes a type that holds no big integer (so needs no radix check), e.g. the outline of a
/// document whose parts are decoded with [`decode_in`] afterwards; still under
/// `catch_unwind`.
pub fn decode_outline<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let at = Within::whole(bytes);
    match catch_unwind(AssertUnwindSafe(|| serde_json::from_slice::<T>(bytes))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(at.describe(&e)),
        Err(_) => Err("a value is out of range for its type".into()),
    }
}

/// Decodes `bytes`; errors give the serde category and position, never the offending text
/// (which could be secret).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    decode_in(bytes, Within::whole(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::Value;

    use super::*;
    use crate::KeyStore;

    /// The check as it was written on `serde_json::Value` (the oracle for the streaming one).
    fn radixes_in_range(v: &Value) -> bool {
        let radix_ok = |r: &Value| r.as_u64().is_some_and(|r| (2..=36).contains(&r));
        match v {
            Value::Object(map) => map
                .iter()
                .all(|(k, v)| (k != "radix" || radix_ok(v)) && radixes_in_range(v)),
            Value::Array(items) => {
                let pair_ok = match items.as_slice() {
                    [r @ Value::Number(_), Value::String(_)] => radix_ok(r),
                    _ => true,
                };
                pair_ok && items.iter().all(radixes_in_range)
            }
            _ => true,
        }
    }

    #[test]
    fn streaming_check_agrees_with_the_value_check() {
        let cases = [
            r#"{"radix":16,"value":"ff"}"#,
            r#"{"radix":1,"value":"ff"}"#,
            r#"{"radix":37,"value":"ff"}"#,
            r#"{"radix":-2,"value":"ff"}"#,
            r#"{"radix":16.0,"value":"ff"}"#,
            r#"{"radix":"16","value":"ff"}"#,
            r#"{"radix":null}"#,
            r#"[16,"ff"]"#,
            r#"[1,"ff"]"#,
            r#"[40,"ff","x"]"#,
            r#"[1.5,"ff"]"#,
            r#"[-1,"ff"]"#,
            r#"["ff",1]"#,
            r#"[[1,"x"]]"#,
            r#"{"a":{"b":[{"radix":0,"value":"1"}]}}"#,
            r#"{"a":{"b":[{"radix":2,"value":"1"}]},"c":[true,null,"s\"\u0041"]}"#,
            r#"{"ra\u0064ix":1}"#,
            r#""radix""#,
            r#"7"#,
            r#"{}"#,
            r#"[]"#,
        ];
        for case in cases {
            let value: Value = serde_json::from_str(case).unwrap();
            let want = radixes_in_range(&value);
            let got = check_radixes(case.as_bytes(), Within::whole(case.as_bytes()));
            assert_eq!(got.is_ok(), want, "{case}: {got:?}");
            if !want {
                assert_eq!(got.unwrap_err(), RADIX_ERROR);
            }
        }
    }

    #[test]
    fn syntax_errors_give_positions_in_the_document_and_no_text() {
        let doc = b"{\n  \"a\": [1,\n  {\"secret\": \"deadbeef\" x}]}";
        let start = doc.iter().position(|&b| b == b'[').unwrap();
        let part = &doc[start..doc.len() - 1];
        let whole = serde_json::from_slice::<Value>(doc).unwrap_err();
        let want = format!(
            "Syntax error at line {} column {}",
            whole.line(),
            whole.column()
        );
        assert_eq!(whole.line(), 3);
        let e = check_radixes(part, Within::new(doc, part)).unwrap_err();
        assert_eq!(e, want);
        assert!(!e.contains("deadbeef"));
        assert_eq!(decode::<Value>(doc).unwrap_err(), want);
    }

    #[test]
    fn an_out_of_range_radix_is_an_error_not_a_panic() {
        let file = br#"{"format":"sigil-key-shares","version":1,"party_index":0,
            "ecdsa_groups":{"g":{"parties":2,"aux":{"p":{"radix":1,"value":"1"}}}},"accounts":[]}"#;
        let e = KeyStore::from_json(file).err().expect("refused");
        assert!(e.to_string().contains("radix"), "{e}");
        let file = br#"{"format":"sigil-key-shares","version":1,"party_index":0,
            "ecdsa_groups":{"g":{"parties":2,"aux":{"p":[0,"1"]}}},"accounts":[]}"#;
        let e = KeyStore::from_json(file).err().expect("refused");
        assert!(e.to_string().contains("radix"), "{e}");
    }
}
