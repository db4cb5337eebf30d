//! The field allow-list and the visitor that turns a tracing event's or span's fields into
//! JSON values without ever formatting a field whose name is not on the list.
//!
//! A field is emitted with its value only if its *name* is in [`ALLOWED_FIELDS`]. Any other
//! field keeps its name and gets the value [`REDACTED`]: its `Debug`/`Display` impl is never
//! called, so a future `info!(secret = ?share)` neither leaks the share nor costs the time to
//! format it. Allowed values are capped at [`MAX_VALUE_BYTES`] while they are formatted, so a
//! huge `Debug` value costs no more than the cap.

use std::fmt::{self, Write as _};

use serde_json::Value;
use tracing::field::{Field, Visit};

/// The names of the fields whose values may leave the enclave, sorted. Every name here
/// describes *metadata* — identifiers, counts, sizes, timings, digests, public addresses,
/// outcomes — and never names a place where key material, plaintext, credentials or
/// payloads would go. Adding a name is a security review: the name must be one that no
/// code would plausibly bind to a secret.
///
/// | names | what they carry |
/// |---|---|
/// | `event`, `step`, `phase`, `decision`, `outcome`, `reason`, `error`, `detail`, `code`, `status`, `signal` | what happened and why (error texts are built never to contain secrets, invariant 1) |
/// | `account_id`, `session_id`, `request_id`, `key_id`, `execution_id`, `scheme`, `path`, `party`, `party_index`, `parties`, `threshold`, `round`, `group` | public identifiers of a signing session, account or KMS call; `path` is the public BIP-32 derivation path; `group` is an ECDSA signer group's id (the key-share file's `ecdsa_groups` key, an operator-chosen name; parent-agent counts `signer_group_frozen` lines by it) |
/// | `count`, `accounts`, `bytes`, `bytes_upstream`, `bytes_downstream`, `attempt`, `retries`, `dropped`, `shipped`, `redacted`, `limit`, `capacity`, `open_connections`, `rejected_total`, `cached` | counts and sizes |
/// | `elapsed_ms`, `duration_ms`, `timeout_ms`, `deadline`, `drain_timeout`, `idle` | timings |
/// | `sha256`, `sha384`, `pcr0`, `pcr1`, `pcr2`, `pcr8`, `digest`, `module_id` | digests and measurements (of ciphertexts, images, documents — never of a secret small enough to brute-force) |
/// | `peer`, `addr`, `address`, `port`, `cid`, `route`, `destination`, `listen`, `listening`, `handler`, `region`, `endpoint` | where: sockets, routes, public endpoints |
/// | `version`, `source`, `component`, `mode`, `simulated` | what is running |
pub const ALLOWED_FIELDS: &[&str] = &[
    "account_id",
    "accounts",
    "addr",
    "address",
    "attempt",
    "backoff_ms",
    "bytes",
    "bytes_downstream",
    "bytes_upstream",
    "cached",
    "capacity",
    "cid",
    "code",
    "component",
    "count",
    "deadline",
    "decision",
    "destination",
    "detail",
    "digest",
    "drain_timeout",
    "dropped",
    "duration_ms",
    "elapsed_ms",
    "endpoint",
    "error",
    "event",
    "execution_id",
    "group",
    "handler",
    "idle",
    "key_id",
    "limit",
    "listen",
    "listening",
    "mode",
    "module_id",
    "open_connections",
    "outcome",
    "parties",
    "party",
    "party_index",
    "path",
    "pcr0",
    "pcr1",
    "pcr2",
    "pcr8",
    "peer",
    "phase",
    "port",
    "reason",
    "redacted",
    "region",
    "rejected_total",
    "request_id",
    "retries",
    "round",
    "route",
    "scheme",
    "session_id",
    "sha256",
    "sha384",
    "shipped",
    "signal",
    "simulated",
    "source",
    "status",
    "step",
    "threshold",
    "timeout_ms",
    "version",
];

/// The value that replaces every field whose name is not in [`ALLOWED_FIELDS`].
pub const REDACTED: &str = "<redacted>";

/// The longest value (in bytes of its text) emitted for one field; longer values are cut
/// at a character boundary and end in [`TRUNCATED_MARK`].
pub const MAX_VALUE_BYTES: usize = 2048;

/// Appended to a value or message that was cut short.
pub const TRUNCATED_MARK: &str = "…(truncated)";

/// Whether `name` may be emitted with its value.
pub fn is_allowed(name: &str) -> bool {
    ALLOWED_FIELDS.binary_search(&name).is_ok()
}

/// The fields of one event or span, in the order tracing recorded them.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// The event's `message` (absent for spans and message-less events).
    pub message: Option<String>,
    /// Allow-listed fields with their values; other fields with [`REDACTED`].
    pub fields: Vec<(&'static str, Value)>,
    /// How many fields were redacted.
    pub redacted: u64,
    /// `log.target` of an event bridged from the `log` crate (tracing-log).
    pub log_target: Option<String>,
}

/// A [`Visit`] that fills [`Fields`]. `message_cap` bounds the formatted message.
pub(crate) struct Visitor<'a> {
    out: &'a mut Fields,
    message_cap: usize,
}

impl<'a> Visitor<'a> {
    pub(crate) fn new(out: &'a mut Fields, message_cap: usize) -> Self {
        Visitor { out, message_cap }
    }

    /// Stores `value` under `field` if allowed; otherwise stores [`REDACTED`] and counts it.
    /// `value` is only called for allowed names.
    fn put(&mut self, field: &Field, value: impl FnOnce() -> Value) {
        let name = field.name();
        if name.starts_with("log.") {
            // Metadata of a record bridged from the `log` crate (`log.target`, `log.file`,
            // ...): not data, so neither emitted nor counted as redacted.
            return;
        }
        let v = if is_allowed(name) {
            value()
        } else {
            self.out.redacted += 1;
            Value::String(REDACTED.to_owned())
        };
        match self.out.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = v,
            None => self.out.fields.push((name, v)),
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.out.message = Some(capped_format(self.message_cap, |w| write!(w, "{value:?}")));
            return;
        }
        self.put(field, || {
            Value::String(capped_format(MAX_VALUE_BYTES, |w| write!(w, "{value:?}")))
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => {
                self.out.message = Some(cap_str(value, self.message_cap));
                return;
            }
            "log.target" => {
                self.out.log_target = Some(cap_str(value, MAX_VALUE_BYTES));
                return;
            }
            _ => {}
        }
        self.put(field, || Value::String(cap_str(value, MAX_VALUE_BYTES)));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, || {
            Value::String(capped_format(MAX_VALUE_BYTES, |w| {
                write!(w, "{value}")?;
                let mut source = value.source();
                while let Some(s) = source {
                    write!(w, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }))
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, || Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, || Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, || Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, || match i64::try_from(value) {
            Ok(v) => Value::from(v),
            Err(_) => Value::String(value.to_string()),
        });
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, || match u64::try_from(value) {
            Ok(v) => Value::from(v),
            Err(_) => Value::String(value.to_string()),
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, || {
            serde_json::Number::from_f64(value)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(value.to_string()))
        });
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        // Bytes are shown as hex, capped like any other value.
        self.put(field, || {
            Value::String(capped_format(MAX_VALUE_BYTES, |w| {
                for b in value {
                    write!(w, "{b:02x}")?;
                }
                Ok(())
            }))
        });
    }
}

/// Cuts `s` to at most `max` bytes (at a character boundary), marking the cut.
pub(crate) fn cap_str(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut out = String::with_capacity(max + TRUNCATED_MARK.len());
    out.push_str(&s[..floor_char_boundary(s, max)]);
    out.push_str(TRUNCATED_MARK);
    out
}

/// The largest index `<= i` that is a char boundary of `s`.
pub(crate) fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Runs `f` against a writer that keeps at most `max` bytes and then makes `f` stop (by
/// returning a formatting error), so formatting a huge value costs no more than the cap.
fn capped_format(max: usize, f: impl FnOnce(&mut CappedWriter) -> fmt::Result) -> String {
    let mut w = CappedWriter {
        buf: String::new(),
        max,
        overflowed: false,
    };
    // An error here is either our own cap or a faulty Debug impl; either way keep what we have.
    let _ = f(&mut w);
    if w.overflowed {
        w.buf.push_str(TRUNCATED_MARK);
    }
    w.buf
}

struct CappedWriter {
    buf: String,
    max: usize,
    overflowed: bool,
}

impl fmt::Write for CappedWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.max.saturating_sub(self.buf.len());
        if s.len() <= room {
            self.buf.push_str(s);
            return Ok(());
        }
        self.buf.push_str(&s[..floor_char_boundary(s, room)]);
        self.overflowed = true;
        Err(fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_is_sorted_and_unique_so_binary_search_works() {
        for w in ALLOWED_FIELDS.windows(2) {
            assert!(w[0] < w[1], "{} before {}", w[0], w[1]);
        }
        for name in ALLOWED_FIELDS {
            assert!(is_allowed(name));
        }
        // The signer's `signer_group_frozen` line names its group; parent-agent counts by it.
        assert!(is_allowed("group"));
        for name in [
            "secret",
            "key",
            "share",
            "identity",
            "payload",
            "plaintext",
            "message",
        ] {
            assert!(!is_allowed(name), "{name}");
        }
    }

    #[test]
    fn capping_respects_char_boundaries() {
        let s = "é".repeat(10); // 20 bytes
        let c = cap_str(&s, 5);
        assert_eq!(c, format!("éé{TRUNCATED_MARK}"));
        assert_eq!(cap_str("short", 5), "short");
        let (a, b) = ("ab€", "cd€ef");
        let f = capped_format(7, |w| write!(w, "{a}{b}"));
        assert_eq!(f, format!("ab€cd{TRUNCATED_MARK}"));
        let f = capped_format(3, |w| write!(w, "abc"));
        assert_eq!(f, "abc");
    }
}
