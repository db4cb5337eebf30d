//! Small extensions of the standard library that several Sigil crates need, kept here once:
//! an error's source chain as one line ([`error_chain`]), a durable atomic file write
//! ([`fs::write_atomic`]), and times as Unix milliseconds or RFC 3339 ([`time`]).
//!
//! No dependency beyond std-level crates (getrandom, hex, humantime), so it may ride into the
//! enclave.

pub mod fs;
pub mod time;

/// An error and its sources joined with `": "`, for one log field or status line. Library
/// errors often keep the cause in `source()` alone; a source whose text the message already
/// ends with (as tonic's and hyper's do) is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let next = c.to_string();
        if !msg.ends_with(&next) {
            msg.push_str(": ");
            msg.push_str(&next);
        }
        cur = c.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn joins_sources_without_repeating_them() {
        let e = E("a", Some(Box::new(E("b", Some(Box::new(E("c", None)))))));
        assert_eq!(error_chain(&e), "a: b: c");
        let folded = E("connect: refused", Some(Box::new(E("refused", None))));
        assert_eq!(error_chain(&folded), "connect: refused");
        assert_eq!(error_chain(&E("alone", None)), "alone");
    }
}
