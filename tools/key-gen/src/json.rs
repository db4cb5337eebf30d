//! Compact JSON into zeroizing buffers of exactly the right size, and the length of a value's
//! JSON without keeping its bytes: how key-gen serialises share files, prime pools and
//! summaries, whose plaintext must not be left behind in a reallocated buffer.

use std::io::{self, Write};

use serde::Serialize;
use zeroize::Zeroizing;

/// Serializes `value` as compact JSON into a zeroizing buffer of exactly the right capacity.
pub fn to_json_zeroizing<T: Serialize + ?Sized>(
    value: &T,
) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
    let mut buf = Zeroizing::new(Vec::with_capacity(json_len(value)?));
    serde_json::to_writer(&mut *buf, value)?;
    Ok(buf)
}

/// Length of the compact JSON of `value`, without keeping the bytes.
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, serde_json::Error> {
    let mut counter = Counter::default();
    serde_json::to_writer(&mut counter, value)?;
    Ok(counter.0)
}

#[derive(Default)]
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_capacity_json() {
        let v = serde_json::json!({"a": [1, 2, 3], "b": "x".repeat(1000)});
        let buf = to_json_zeroizing(&v).unwrap();
        assert_eq!(buf.len(), buf.capacity());
        assert_eq!(&buf[..], serde_json::to_vec(&v).unwrap());
    }
}
