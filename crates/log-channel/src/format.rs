//! Rendering one event as one JSON line, within a byte cap.
//!
//! The full form is
//! `{"ts":…,"level":…,"target":…,"source":…,"simulated":true,"span":…,"spans":[…],"message":…,"fields":{…}}`
//! (`simulated` only in simulation; `span`/`spans` only inside a span; `message`/`fields`
//! only when present). A line longer than the cap is rebuilt, still valid JSON, as the header
//! plus `"truncated":true,"line_bytes":N` (the full length) and then as much as fits: the
//! fields in order (a string value is cut to fit), the message (cut to fit), the span list.
//! The JSON is written by hand so keys keep this order and lengths are known exactly.

use std::fmt::Write as _;

use serde_json::Value;

use crate::fields::TRUNCATED_MARK;

/// The smallest line cap accepted; smaller configured caps are raised to it, so the header
/// of a truncated line always fits.
pub const MIN_LINE_BYTES: usize = 1024;

/// Longest target, source or span name emitted (bytes).
pub(crate) const MAX_NAME_BYTES: usize = 128;

/// One event, ready to render.
pub(crate) struct Record<'a> {
    pub ts: &'a str,
    pub level: &'a str,
    pub target: &'a str,
    pub source: &'a str,
    pub simulated: bool,
    /// The innermost span's name.
    pub span: Option<&'a str>,
    /// Each enclosing span, root first, pre-rendered as a JSON object.
    pub spans: &'a [String],
    pub message: Option<&'a str>,
    pub fields: &'a [(&'a str, Value)],
}

/// Renders `rec` as one line of at most `cap` bytes (no newline).
pub(crate) fn render(rec: &Record<'_>, cap: usize) -> String {
    let full = render_full(rec);
    if full.len() <= cap {
        return full;
    }
    render_truncated(rec, cap, full.len())
}

fn push_header(out: &mut String, rec: &Record<'_>) {
    out.push_str("{\"ts\":");
    push_json_str(out, rec.ts);
    out.push_str(",\"level\":");
    push_json_str(out, rec.level);
    out.push_str(",\"target\":");
    push_json_str(out, &crate::fields::cap_str(rec.target, MAX_NAME_BYTES));
    out.push_str(",\"source\":");
    push_json_str(out, &crate::fields::cap_str(rec.source, MAX_NAME_BYTES));
    if rec.simulated {
        out.push_str(",\"simulated\":true");
    }
    if let Some(span) = rec.span {
        out.push_str(",\"span\":");
        push_json_str(out, &crate::fields::cap_str(span, MAX_NAME_BYTES));
    }
}

fn render_full(rec: &Record<'_>) -> String {
    let mut out = String::with_capacity(256);
    push_header(&mut out, rec);
    if !rec.spans.is_empty() {
        out.push_str(",\"spans\":[");
        for (i, s) in rec.spans.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(s);
        }
        out.push(']');
    }
    if let Some(m) = rec.message {
        out.push_str(",\"message\":");
        push_json_str(&mut out, m);
    }
    if !rec.fields.is_empty() {
        out.push_str(",\"fields\":{");
        push_fields(&mut out, rec.fields);
        out.push('}');
    }
    out.push('}');
    out
}

fn render_truncated(rec: &Record<'_>, cap: usize, full_len: usize) -> String {
    let mut out = String::with_capacity(cap);
    push_header(&mut out, rec);
    let _ = write!(out, ",\"truncated\":true,\"line_bytes\":{full_len}");
    // Room left before the closing brace.
    let Some(mut room) = cap.checked_sub(out.len() + 1) else {
        return minimal(rec, full_len);
    };

    // Fields, in order; a string value that does not fit is cut to fit.
    const FIELDS_OPEN: &str = ",\"fields\":{";
    if !rec.fields.is_empty() && room > FIELDS_OPEN.len() + 1 {
        let mut part = String::from(FIELDS_OPEN);
        let mut budget = room - FIELDS_OPEN.len() - 1; // minus the closing '}'
        let mut any = false;
        for (name, value) in rec.fields {
            let mut piece = String::new();
            if any {
                piece.push(',');
            }
            push_json_str(&mut piece, name);
            piece.push(':');
            let before = piece.len();
            push_value(&mut piece, value);
            if piece.len() > budget {
                piece.truncate(before);
                match value {
                    Value::String(s) => match fit_json_str(s, budget.saturating_sub(before)) {
                        Some(v) => piece.push_str(&v),
                        None => continue,
                    },
                    _ => continue,
                }
            }
            budget = budget.saturating_sub(piece.len());
            part.push_str(&piece);
            any = true;
        }
        if any {
            part.push('}');
            room = room.saturating_sub(part.len());
            out.push_str(&part);
        }
    }

    // The message, cut to fit.
    const MESSAGE_KEY: &str = ",\"message\":";
    if let Some(m) = rec.message
        && room > MESSAGE_KEY.len()
        && let Some(v) = fit_json_str(m, room - MESSAGE_KEY.len())
    {
        out.push_str(MESSAGE_KEY);
        out.push_str(&v);
        room = room.saturating_sub(MESSAGE_KEY.len() + v.len());
    }

    // The span list, whole spans only.
    const SPANS_OPEN: &str = ",\"spans\":[";
    if !rec.spans.is_empty() && room > SPANS_OPEN.len() + 1 {
        let mut part = String::from(SPANS_OPEN);
        let mut budget = room - SPANS_OPEN.len() - 1;
        let mut any = false;
        for s in rec.spans {
            let need = s.len() + usize::from(any);
            if need > budget {
                break;
            }
            if any {
                part.push(',');
            }
            part.push_str(s);
            budget = budget.saturating_sub(need);
            any = true;
        }
        if any {
            part.push(']');
            out.push_str(&part);
        }
    }
    out.push('}');
    debug_assert!(out.len() <= cap);
    out
}

/// The last resort when even the header does not fit (only with caps far below
/// [`MIN_LINE_BYTES`]).
fn minimal(rec: &Record<'_>, full_len: usize) -> String {
    let mut out = String::from("{\"ts\":");
    push_json_str(&mut out, rec.ts);
    out.push_str(",\"level\":");
    push_json_str(&mut out, rec.level);
    let _ = write!(out, ",\"truncated\":true,\"line_bytes\":{full_len}}}");
    out
}

/// Writes `"name":value` pairs separated by commas.
pub(crate) fn push_fields(out: &mut String, fields: &[(&str, Value)]) {
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, name);
        out.push(':');
        push_value(out, value);
    }
}

/// Renders a span as `{"name":…,fields…}`.
pub(crate) fn render_span(name: &str, fields: &[(&str, Value)]) -> String {
    let mut out = String::from("{\"name\":");
    push_json_str(&mut out, &crate::fields::cap_str(name, MAX_NAME_BYTES));
    if !fields.is_empty() {
        out.push(',');
        push_fields(&mut out, fields);
    }
    out.push('}');
    out
}

fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => push_json_str(out, s),
        // Numbers, booleans and null print without failure; arrays and objects never occur
        // (the visitor makes none) but would print as valid JSON too.
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The bytes `c` takes inside a JSON string.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a JSON string literal of at most `budget` bytes, cut (and marked) if needed;
/// `None` if not even the quotes and the mark fit.
fn fit_json_str(s: &str, budget: usize) -> Option<String> {
    let whole: usize = 2 + s.chars().map(escaped_len).sum::<usize>();
    if whole <= budget {
        let mut out = String::with_capacity(whole);
        push_json_str(&mut out, s);
        return Some(out);
    }
    let room = budget.checked_sub(2 + TRUNCATED_MARK.len())?;
    let mut used = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let n = escaped_len(c);
        if used + n > room {
            break;
        }
        used += n;
        end = i + c.len_utf8();
    }
    let mut out = String::with_capacity(budget);
    push_json_str(&mut out, &s[..end]);
    out.pop(); // the closing quote
    out.push_str(TRUNCATED_MARK);
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(
        message: Option<&'a str>,
        fields: &'a [(&'a str, Value)],
        spans: &'a [String],
    ) -> Record<'a> {
        Record {
            ts: "2026-01-01T00:00:00.000Z",
            level: "INFO",
            target: "sigil::test",
            source: "enclave",
            simulated: true,
            span: spans.last().map(|_| "inner"),
            spans,
            message,
            fields,
        }
    }

    #[test]
    fn escaping_matches_serde_json() {
        let s = "a\"b\\c\nd\re\tf\u{1}g\u{8}\u{c}\u{7f}é€😀\u{2028}";
        let mut out = String::new();
        push_json_str(&mut out, s);
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        assert_eq!(out.len(), 2 + s.chars().map(escaped_len).sum::<usize>());
    }

    #[test]
    fn full_line_has_keys_in_order() {
        let fields = [
            ("event", Value::from("boot")),
            ("count", Value::from(3)),
            ("secret", Value::from("<redacted>")),
        ];
        let spans = [
            render_span("outer", &[("step", Value::from(1))]),
            render_span("inner", &[]),
        ];
        let line = render(&rec(Some("hello"), &fields, &spans), 4096);
        assert_eq!(
            line,
            r#"{"ts":"2026-01-01T00:00:00.000Z","level":"INFO","target":"sigil::test","source":"enclave","simulated":true,"span":"inner","spans":[{"name":"outer","step":1},{"name":"inner"}],"message":"hello","fields":{"event":"boot","count":3,"secret":"<redacted>"}}"#
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["fields"]["count"], 3);
    }

    /// Every cap from the minimum up, with values full of characters that expand when
    /// escaped: the line fits, parses, and says it was truncated.
    #[test]
    fn truncated_lines_fit_and_parse_at_every_cap() {
        let big = "\u{1}\"é€x".repeat(700);
        let fields = [
            ("event", Value::from("big")),
            ("error", Value::from(big.clone())),
            ("count", Value::from(7)),
            ("reason", Value::from(big.clone())),
        ];
        let spans: Vec<String> = (0..40)
            .map(|i| render_span(&format!("s{i}"), &[("step", Value::from(i))]))
            .collect();
        for cap in (MIN_LINE_BYTES..6000).step_by(7) {
            let line = render(&rec(Some(&big), &fields, &spans), cap);
            assert!(line.len() <= cap, "cap {cap}: {}", line.len());
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{cap}: {e}"));
            assert_eq!(v["truncated"], true);
            assert_eq!(v["fields"]["event"], "big", "cap {cap}");
            assert!(v["line_bytes"].as_u64().unwrap() > cap as u64);
        }
        // Far below the minimum: still valid JSON.
        for cap in [0, 10, 60, 200] {
            let line = render(&rec(Some(&big), &fields, &spans), cap);
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["truncated"], true);
        }
    }
}
