//! Decoding untrusted JSON into library types without letting a library panic escape.
//!
//! cggmp24's big integers deserialize through `num-bigint`'s `from_str_radix`, which asserts
//! that the serialized `radix` is within 2..=36: a share file or a protocol message with
//! `"radix": 1` would panic inside the library (found by `fuzz/fuzz_targets/key_shares.rs`).
//! So every `radix` in the input is checked first (on a `serde_json::Value` that is wiped
//! afterwards, since it holds copies of secret fields), and decoding also runs under
//! `catch_unwind` as a backstop for panics nobody has found yet. The backstop relies on
//! `panic = "unwind"`, the default for every profile of this workspace.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroize;

/// Checks every place a big integer could be: its `{"radix": R, "value": V}` form and the
/// `[R, V]` sequence form serde also accepts for that struct. R must be in 2..=36, the range
/// `num-bigint` accepts.
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

/// Overwrites every string of a JSON value before it is dropped.
fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

/// Decodes `bytes`; errors give the serde category and position, never the offending text
/// (which could be secret).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let position = |e: serde_json::Error| {
        format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    };
    let mut value: Value = serde_json::from_slice(bytes).map_err(position)?;
    let in_range = radixes_in_range(&value);
    wipe(&mut value);
    if !in_range {
        return Err("a big-integer radix is outside 2..=36".into());
    }
    match catch_unwind(AssertUnwindSafe(|| serde_json::from_slice::<T>(bytes))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )),
        Err(_) => Err("a value is out of range for its type".into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::KeyStore;

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
