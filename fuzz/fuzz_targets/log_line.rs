//! The parent's reader of the enclave's log stream: splitting bytes into lines and parsing
//! each line never panics; no accepted line exceeds the cap; every accepted line is a JSON
//! object; and how the bytes were chunked by the socket makes no difference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_log_channel::{LineSplitter, Piece, parse_line};

/// Small, so the fuzzer reaches over-long lines easily.
const MAX: usize = 256;

#[derive(Debug, PartialEq)]
enum Seen {
    Object(serde_json::Value),
    Refused,
    TooLong(usize),
}

fn run(data: &[u8], chunk: usize) -> (Vec<Seen>, Option<usize>) {
    let mut splitter = LineSplitter::new(MAX);
    let mut seen = Vec::new();
    for c in data.chunks(chunk) {
        splitter.feed(c, |piece| match piece {
            Piece::Line(line) => {
                assert!(line.len() <= MAX, "{} > {MAX}", line.len());
                assert!(!line.contains(&b'\n'));
                seen.push(match parse_line(line, MAX) {
                    Ok(v) => {
                        assert!(v.is_object(), "{v}");
                        Seen::Object(v)
                    }
                    Err(_) => Seen::Refused,
                });
            }
            Piece::TooLong { len } => {
                assert!(len > MAX);
                seen.push(Seen::TooLong(len));
            }
        });
    }
    (seen, splitter.finish())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let whole = run(rest, rest.len().max(1));
    let chunked = run(rest, usize::from(first % 64) + 1);
    assert_eq!(whole, chunked);
    // A line is either parsed the same in isolation or refused the same way.
    for line in rest.split(|&b| b == b'\n') {
        let _ = parse_line(line, MAX);
        let _ = parse_line(line, usize::MAX);
    }
});
