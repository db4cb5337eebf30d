//! The parent's side of the log channel: accepts connections on the log port, splits the
//! bytes into lines, and hands every line that is a JSON object to a callback.
//!
//! Everything arriving here is untrusted (it comes from the enclave through the host, or
//! from anything else that can reach the socket). Lines longer than the cap are skipped
//! without being buffered whole; lines that are not JSON objects are skipped; a fragment
//! left unterminated by a disconnect is skipped. Each is counted in [`ReceiverStats`].
//! Memory per connection is bounded by the cap; connections beyond
//! [`Receiver::DEFAULT_MAX_CONNECTIONS`] are closed at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use sigil_transport::{Listener, Stream};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// One line received from the enclave.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// The parsed line; always a JSON object.
    pub value: Value,
    /// Who sent it, as the listener describes the peer (`vsock://16:1234`, `unix:pid=…`).
    pub peer: String,
}

/// Why one line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Longer than the cap.
    #[error("log line is {len} bytes; the limit is {max}")]
    TooLong {
        /// Bytes of the line (without the newline).
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Empty or only whitespace (skipped without counting).
    #[error("log line is empty")]
    Empty,
    /// Not JSON (or not UTF-8).
    #[error("log line is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("log line is JSON but not an object")]
    NotAnObject,
}

/// Parses one line (without its `\n`; a trailing `\r` is ignored) of at most
/// `max_line_bytes` into a JSON object. Never panics, whatever the bytes.
pub fn parse_line(line: &[u8], max_line_bytes: usize) -> Result<Value, LineError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > max_line_bytes {
        return Err(LineError::TooLong {
            len: line.len(),
            max: max_line_bytes,
        });
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(LineError::Empty);
    }
    let value: Value =
        serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(LineError::NotAnObject);
    }
    Ok(value)
}

/// A piece of input found by [`LineSplitter`].
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A complete line, without its `\n`, at most the cap long.
    Line(&'a [u8]),
    /// A line longer than the cap, skipped; `len` is its length without the `\n`.
    TooLong {
        /// Bytes skipped.
        len: usize,
    },
}

/// Splits a byte stream into `\n`-terminated lines, buffering at most `max_line_bytes`:
/// a longer line is skipped as it streams past, never held whole.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    /// Bytes of an over-long line skipped so far, while skipping.
    skipping: Option<usize>,
}

impl LineSplitter {
    /// A splitter for lines of at most `max_line_bytes` (without the newline).
    pub fn new(max_line_bytes: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            max: max_line_bytes,
            skipping: None,
        }
    }

    /// Feeds the next bytes of the stream; calls `out` for every line they complete.
    pub fn feed(&mut self, mut chunk: &[u8], mut out: impl FnMut(Piece<'_>)) {
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let head = &chunk[..i];
                    chunk = &chunk[i + 1..];
                    if let Some(skipped) = self.skipping.take() {
                        out(Piece::TooLong {
                            len: skipped + head.len(),
                        });
                    } else if self.buf.len() + head.len() > self.max {
                        let len = self.buf.len() + head.len();
                        self.buf.clear();
                        out(Piece::TooLong { len });
                    } else if self.buf.is_empty() {
                        out(Piece::Line(head));
                    } else {
                        self.buf.extend_from_slice(head);
                        out(Piece::Line(&self.buf));
                        self.buf.clear();
                    }
                }
                None => {
                    if let Some(skipped) = &mut self.skipping {
                        *skipped += chunk.len();
                    } else if self.buf.len() + chunk.len() > self.max {
                        self.skipping = Some(self.buf.len() + chunk.len());
                        self.buf.clear();
                    } else {
                        self.buf.extend_from_slice(chunk);
                    }
                    chunk = &[];
                }
            }
        }
    }

    /// Ends the stream: the bytes of an unterminated last line, if there was one (it is
    /// discarded: the shipper ends every line, so a fragment means a write was cut short).
    pub fn finish(self) -> Option<usize> {
        match self.skipping {
            Some(n) => Some(n),
            None if !self.buf.is_empty() => Some(self.buf.len()),
            None => None,
        }
    }
}

/// What the receiver has seen. All counters only grow.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    connections: AtomicU64,
    refused_connections: AtomicU64,
    accept_errors: AtomicU64,
    lines: AtomicU64,
    too_long: AtomicU64,
    invalid: AtomicU64,
    incomplete: AtomicU64,
    bytes: AtomicU64,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        impl ReceiverStats {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> u64 {
                    self.$name.load(Ordering::Relaxed)
                }
            )*
        }
    };
}

getters! {
    /// Connections accepted and served.
    connections,
    /// Connections closed at once because too many were open.
    refused_connections,
    /// Failed accepts (the listener keeps going).
    accept_errors,
    /// Lines handed to the callback.
    lines,
    /// Lines skipped for exceeding the cap.
    too_long,
    /// Lines skipped for not being JSON objects.
    invalid,
    /// Unterminated fragments discarded when a connection ended.
    incomplete,
    /// Bytes read.
    bytes,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Serves the log port. See [`receive`] for the one-call form.
#[derive(Debug)]
pub struct Receiver {
    listener: Listener,
    max_line_bytes: usize,
    max_connections: usize,
    stats: Arc<ReceiverStats>,
}

impl Receiver {
    /// Connections served at once by default (the enclave needs one; a reconnect may
    /// briefly overlap a dying one).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

    /// A receiver on `listener` accepting lines up to `max_line_bytes`.
    pub fn new(listener: Listener, max_line_bytes: usize) -> Self {
        Receiver {
            listener,
            max_line_bytes,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            stats: Arc::default(),
        }
    }

    /// Changes how many connections are served at once (at least 1).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The counters, live.
    pub fn stats(&self) -> Arc<ReceiverStats> {
        self.stats.clone()
    }

    /// Accepts connections and calls `on_line` for every valid line, in order per
    /// connection, until the future is dropped. Never returns otherwise and never panics
    /// on input. A slow `on_line` slows the readers (and so the enclave's shipper, whose
    /// queue then drops and counts lines) instead of buffering without bound.
    pub async fn run(self, mut on_line: impl FnMut(Line) + Send) {
        let (tx, mut rx) = mpsc::channel::<Line>(1024);
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                Some(line) = rx.recv() => on_line(line),
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        while conns.try_join_next().is_some() {}
                        if conns.len() >= self.max_connections {
                            bump(&self.stats.refused_connections);
                            drop(stream);
                            continue;
                        }
                        bump(&self.stats.connections);
                        conns.spawn(read_connection(
                            stream,
                            peer,
                            self.max_line_bytes,
                            tx.clone(),
                            self.stats.clone(),
                        ));
                    }
                    Err(_) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        bump(&self.stats.accept_errors);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    }
}

/// Serves `listener`, calling `on_line` for every valid line. Runs until dropped.
pub async fn receive(listener: Listener, max_line_bytes: usize, on_line: impl FnMut(Line) + Send) {
    Receiver::new(listener, max_line_bytes).run(on_line).await
}

async fn read_connection(
    mut stream: Stream,
    peer: String,
    max_line_bytes: usize,
    tx: mpsc::Sender<Line>,
    stats: Arc<ReceiverStats>,
) {
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut buf = vec![0u8; 16 * 1024];
    let mut parsed = Vec::new();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
        splitter.feed(&buf[..n], |piece| match piece {
            Piece::Line(l) => match parse_line(l, max_line_bytes) {
                Ok(v) => parsed.push(v),
                Err(LineError::Empty) => {}
                Err(LineError::TooLong { .. }) => bump(&stats.too_long),
                Err(LineError::NotJson(_) | LineError::NotAnObject) => bump(&stats.invalid),
            },
            Piece::TooLong { .. } => bump(&stats.too_long),
        });
        for value in parsed.drain(..) {
            bump(&stats.lines);
            let line = Line {
                value,
                peer: peer.clone(),
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }
    if splitter.finish().is_some() {
        bump(&stats.incomplete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(
        input: &[u8],
        max: usize,
        chunk: usize,
    ) -> (Vec<Result<Vec<u8>, usize>>, Option<usize>) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            s.feed(c, |p| {
                out.push(match p {
                    Piece::Line(l) => Ok(l.to_vec()),
                    Piece::TooLong { len } => Err(len),
                })
            });
        }
        (out, s.finish())
    }

    #[test]
    fn splitting_does_not_depend_on_chunking() {
        let input = b"{\"a\":1}\nxxxxxxxxxxxxxxxxxxxx\n\n{}\nabc\nlong-tail-without-newline";
        let whole = split_all(input, 10, input.len());
        assert_eq!(
            whole.0,
            vec![
                Ok(b"{\"a\":1}".to_vec()),
                Err(20),
                Ok(vec![]),
                Ok(b"{}".to_vec()),
                Ok(b"abc".to_vec())
            ]
        );
        assert_eq!(whole.1, Some(25));
        for chunk in 1..input.len() {
            assert_eq!(split_all(input, 10, chunk), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn parse_line_refuses_what_is_not_an_object() {
        assert!(parse_line(b"{\"a\":1}\r", 100).is_ok());
        assert_eq!(parse_line(b"  ", 100), Err(LineError::Empty));
        assert_eq!(parse_line(b"[1]", 100), Err(LineError::NotAnObject));
        assert!(matches!(
            parse_line(b"\xff{", 100),
            Err(LineError::NotJson(_))
        ));
        assert!(matches!(
            parse_line(b"{\"a\":1}", 3),
            Err(LineError::TooLong { len: 7, max: 3 })
        ));
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_line(deep.as_bytes(), 1 << 20),
            Err(LineError::NotJson(_))
        ));
    }
}
