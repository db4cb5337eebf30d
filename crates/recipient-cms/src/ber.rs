//! A minimal, bounded BER TLV reader for the fixed shape of KMS's CMS output.
//!
//! Only single-byte tags are understood, and every read names the element it expects, so a
//! mismatch becomes a precise [`CmsError`]. Constructed elements may use definite or indefinite
//! lengths; primitive elements must be definite. There is no generic descent: the caller walks
//! the known structure with nested closures, so nesting depth is fixed by the code, not by the
//! input. Every length is checked against the bytes that remain before it is used.

use crate::error::CmsError;

/// The end-of-contents marker that closes an indefinite-length element.
const EOC: [u8; 2] = [0x00, 0x00];

/// Longest length-of-length accepted (3 bytes already exceed [`crate::MAX_INPUT_LEN`]).
const MAX_LENGTH_OCTETS: usize = 4;

/// A decoded length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// Definite length, in bytes.
    Definite(usize),
    /// Indefinite length: content runs to an end-of-contents marker.
    Indefinite,
}

/// How a length was written, to compare encodings (tests only).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LengthForm {
    /// `0x00..=0x7f`.
    Short,
    /// `0x8n` followed by `n` bytes.
    Long(usize),
    /// `0x80`.
    Indefinite,
}

/// Reads consecutive elements from the content of one element (or from the whole input).
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    /// For a definite element: exactly its content. For an indefinite one: everything up to
    /// the end of the enclosing element; the end-of-contents marker lies somewhere inside.
    data: &'a [u8],
    /// Bytes of `data` consumed so far.
    pos: usize,
    /// Whether this element ends at an end-of-contents marker.
    indefinite: bool,
    /// Name of the element being read, for errors.
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over the whole input (definite: it ends where the input ends).
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader {
            data,
            pos: 0,
            indefinite: false,
            what,
        }
    }

    /// The unread bytes.
    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Whether every element of this one has been read (next come the end-of-contents octets
    /// for an indefinite element, or nothing for a definite one).
    pub(crate) fn at_end(&self) -> bool {
        if self.indefinite {
            self.rest().starts_with(&EOC)
        } else {
            self.rest().is_empty()
        }
    }

    /// The next tag byte, if any (an end-of-contents marker reads as `None`).
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        if self.at_end() {
            None
        } else {
            self.rest().first().copied()
        }
    }

    /// Reads the next header, which must carry `expected`; returns the length and advances
    /// past the header.
    fn header(&mut self, expected: u8, what: &'static str) -> Result<Length, CmsError> {
        if self.at_end() {
            return Err(CmsError::Missing { what });
        }
        let rest = self.rest();
        let (&found, after_tag) = rest.split_first().ok_or(CmsError::Truncated { what })?;
        if found != expected {
            return Err(CmsError::UnexpectedTag {
                what,
                expected,
                found,
            });
        }
        let (&first, after_len) = after_tag
            .split_first()
            .ok_or(CmsError::Truncated { what })?;
        let (length, len_octets) = match first {
            0x00..=0x7f => (Length::Definite(usize::from(first)), 0),
            0x80 => {
                if expected & 0x20 == 0 {
                    return Err(CmsError::BadLength {
                        what,
                        reason: "indefinite length on a primitive element",
                    });
                }
                (Length::Indefinite, 0)
            }
            0xff => {
                return Err(CmsError::BadLength {
                    what,
                    reason: "reserved length octet 0xff",
                });
            }
            _ => {
                let n = usize::from(first & 0x7f);
                if n > MAX_LENGTH_OCTETS {
                    return Err(CmsError::BadLength {
                        what,
                        reason: "length field longer than 4 octets",
                    });
                }
                let octets = after_len.get(..n).ok_or(CmsError::Truncated { what })?;
                let value = octets
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                (Length::Definite(value), n)
            }
        };
        // tag + first length octet + long-form octets
        self.pos = self.pos.saturating_add(2).saturating_add(len_octets);
        if let Length::Definite(len) = length {
            let available = self.rest().len();
            if len > available {
                return Err(CmsError::LengthBeyondInput {
                    what,
                    len,
                    available,
                });
            }
        }
        Ok(length)
    }

    /// Reads a primitive element with tag `tag` and returns its content.
    pub(crate) fn primitive(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], CmsError> {
        debug_assert!(tag & 0x20 == 0, "primitive() called with a constructed tag");
        match self.header(tag, what)? {
            Length::Definite(len) => {
                let rest = self.rest();
                let content = rest.get(..len).ok_or(CmsError::Truncated { what })?;
                self.pos = self.pos.saturating_add(len);
                Ok(content)
            }
            // `header` refuses indefinite lengths for primitive tags.
            Length::Indefinite => Err(CmsError::BadLength {
                what,
                reason: "indefinite length on a primitive element",
            }),
        }
    }

    /// Reads a constructed element with tag `tag`: `body` reads its elements, then the element
    /// must be exhausted (and, if indefinite, closed by end-of-contents).
    pub(crate) fn constructed<T>(
        &mut self,
        tag: u8,
        what: &'static str,
        body: impl FnOnce(&mut Reader<'a>) -> Result<T, CmsError>,
    ) -> Result<T, CmsError> {
        debug_assert!(tag & 0x20 != 0, "constructed() called with a primitive tag");
        let length = self.header(tag, what)?;
        let rest = self.rest();
        let mut inner = match length {
            Length::Definite(len) => Reader {
                data: rest.get(..len).ok_or(CmsError::Truncated { what })?,
                pos: 0,
                indefinite: false,
                what,
            },
            Length::Indefinite => Reader {
                data: rest,
                pos: 0,
                indefinite: true,
                what,
            },
        };
        let value = body(&mut inner)?;
        let consumed = inner.finish()?;
        self.pos = self.pos.saturating_add(consumed);
        Ok(value)
    }

    /// Checks that this element has been read completely; returns the bytes it occupied
    /// (content plus end-of-contents octets when indefinite).
    pub(crate) fn finish(self) -> Result<usize, CmsError> {
        if self.at_end() {
            let eoc = if self.indefinite { EOC.len() } else { 0 };
            return Ok(self.pos.saturating_add(eoc));
        }
        match self.rest().first() {
            Some(&tag) => Err(CmsError::UnexpectedElement {
                what: self.what,
                tag,
            }),
            // Only an indefinite element can be unfinished with nothing left.
            None => Err(CmsError::MissingEndOfContents { what: self.what }),
        }
    }

    /// Bytes not yet consumed at the top level.
    pub(crate) fn remaining(&self) -> usize {
        self.rest().len()
    }

    /// Test support: the tag and length form of the next element, without consuming it.
    #[cfg(test)]
    pub(crate) fn peek_form(&self) -> Option<(u8, LengthForm)> {
        let tag = self.peek_tag()?;
        let first = *self.rest().get(1)?;
        Some((
            tag,
            match first {
                0x80 => LengthForm::Indefinite,
                0x00..=0x7f => LengthForm::Short,
                _ => LengthForm::Long(usize::from(first & 0x7f)),
            },
        ))
    }
}

/// Test support: one element seen by [`walk`]: depth, tag, length form, and content length
/// (for definite lengths).
#[cfg(test)]
pub(crate) type WalkEntry = (usize, u8, LengthForm, Option<usize>);

/// Test support: every element of `data`, in order, descending into constructed elements
/// (depth-bounded).
#[cfg(test)]
pub(crate) fn walk(data: &[u8]) -> Result<Vec<WalkEntry>, CmsError> {
    fn level(r: &mut Reader<'_>, depth: usize, out: &mut Vec<WalkEntry>) -> Result<(), CmsError> {
        assert!(depth < 16, "walk: too deep");
        while let Some((tag, form)) = r.peek_form() {
            if tag & 0x20 != 0 {
                let start = out.len();
                out.push((depth, tag, form, None));
                let before = r.pos;
                r.constructed(tag, "element", |c| level(c, depth + 1, out))?;
                if form != LengthForm::Indefinite {
                    // content length = consumed minus header
                    let header = 2 + match form {
                        LengthForm::Long(n) => n,
                        _ => 0,
                    };
                    out[start].3 = Some(r.pos - before - header);
                }
            } else {
                let content = r.primitive(tag, "element")?;
                out.push((depth, tag, form, Some(content.len())));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let mut r = Reader::new(data, "input");
    level(&mut r, 0, &mut out)?;
    r.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definite_and_indefinite_sequences() {
        // SEQUENCE (definite) { INTEGER 5 }, then SEQUENCE (indefinite) { OCTET STRING "ab" }
        let data = [
            0x30, 0x03, 0x02, 0x01, 0x05, 0x30, 0x80, 0x04, 0x02, b'a', b'b', 0x00, 0x00,
        ];
        let mut r = Reader::new(&data, "test");
        let v = r
            .constructed(0x30, "seq1", |s| s.primitive(0x02, "int"))
            .unwrap();
        assert_eq!(v, &[5]);
        let v = r
            .constructed(0x30, "seq2", |s| s.primitive(0x04, "os"))
            .unwrap();
        assert_eq!(v, b"ab");
        assert!(r.at_end());
        assert_eq!(r.finish().unwrap(), data.len());
    }

    #[test]
    fn long_form_lengths_are_checked_against_input() {
        let data = [0x04, 0x82, 0x01, 0x00, 0xaa];
        let err = Reader::new(&data, "t").primitive(0x04, "os").unwrap_err();
        assert!(matches!(
            err,
            CmsError::LengthBeyondInput {
                len: 256,
                available: 1,
                ..
            }
        ));
        let err = Reader::new(&[0x04, 0x85, 1, 1, 1, 1, 1], "t")
            .primitive(0x04, "os")
            .unwrap_err();
        assert!(matches!(err, CmsError::BadLength { .. }), "{err}");
        let err = Reader::new(&[0x04, 0xff], "t")
            .primitive(0x04, "os")
            .unwrap_err();
        assert!(matches!(err, CmsError::BadLength { .. }), "{err}");
        let err = Reader::new(&[0x04, 0x82, 0x01], "t")
            .primitive(0x04, "os")
            .unwrap_err();
        assert!(matches!(err, CmsError::Truncated { .. }), "{err}");
    }

    #[test]
    fn indefinite_primitive_is_rejected() {
        let err = Reader::new(&[0x04, 0x80, 0x00, 0x00], "t")
            .primitive(0x04, "os")
            .unwrap_err();
        assert!(matches!(err, CmsError::BadLength { .. }), "{err}");
    }

    #[test]
    fn missing_eoc_and_extra_elements() {
        let err = Reader::new(&[0x30, 0x80, 0x02, 0x01, 0x05], "t")
            .constructed(0x30, "seq", |s| s.primitive(0x02, "int"))
            .unwrap_err();
        assert!(
            matches!(err, CmsError::MissingEndOfContents { what: "seq" }),
            "{err}"
        );
        let err = Reader::new(&[0x30, 0x80, 0x02, 0x01, 0x05, 0x05, 0x00, 0x00, 0x00], "t")
            .constructed(0x30, "seq", |s| s.primitive(0x02, "int"))
            .unwrap_err();
        assert!(
            matches!(
                err,
                CmsError::UnexpectedElement {
                    what: "seq",
                    tag: 0x05
                }
            ),
            "{err}"
        );
        let err = Reader::new(&[0x30, 0x03, 0x02, 0x01, 0x05], "t")
            .constructed(0x30, "seq", |s| {
                s.primitive(0x02, "int")?;
                s.primitive(0x02, "second int")
            })
            .unwrap_err();
        assert!(
            matches!(err, CmsError::Missing { what: "second int" }),
            "{err}"
        );
    }
}
