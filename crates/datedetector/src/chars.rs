//! What a line's date match converts to (`Converted`) and the
//! character-index view of a line (`CharIdx`): Python counts code points,
//! the regex engine bytes.

use super::*;

/// Outcome of [`DateDetector::convert_with`]: from the memo, freshly
/// computed (to be memoised under the key just built), or not memoisable.
pub(crate) enum Converted {
    Memo(Result<f64, ConversionFailure>),
    New(Result<f64, ConversionFailure>, Memo),
    Plain(Result<f64, ConversionFailure>),
}

/// Character-index view of a line (Python indexes strings by code point;
/// the regex engine reports byte offsets). ASCII lines, the common case,
/// map one to one without counting.
pub(crate) struct CharIdx<'a> {
    pub(crate) line: &'a str,
    /// Length of the line's known ASCII prefix.
    pub(crate) ascii_to: std::cell::Cell<usize>,
}

impl<'a> CharIdx<'a> {
    pub(crate) fn new(line: &'a str) -> Self {
        CharIdx {
            line,
            ascii_to: std::cell::Cell::new(0),
        }
    }

    /// Is `line[..n]` ASCII (`n` clamped to the line)? Extends the known
    /// ASCII prefix as far as needed, so that the usual questions, all
    /// about the first few dozen bytes, do not scan whole lines.
    pub(crate) fn ascii_prefix(&self, n: usize) -> bool {
        let n = n.min(self.line.len());
        let known = self.ascii_to.get();
        if n <= known {
            return true;
        }
        let bytes = &self.line.as_bytes()[known..n];
        match bytes.iter().position(|b| !b.is_ascii()) {
            None => {
                self.ascii_to.set(n);
                true
            }
            Some(p) => {
                self.ascii_to.set(known + p);
                false
            }
        }
    }

    pub(crate) fn to_char(&self, byte: usize) -> usize {
        if self.ascii_prefix(byte) {
            byte
        } else {
            self.line.get(..byte).map_or(0, |p| p.chars().count())
        }
    }

    /// Byte offset of character index `ci`, clamped to the end of the line
    /// (like Python's `pos`/`endpos`).
    pub(crate) fn to_byte(&self, ci: usize) -> usize {
        if self.ascii_prefix(ci) {
            ci.min(self.line.len())
        } else {
            self.line
                .char_indices()
                .nth(ci)
                .map_or(self.line.len(), |(b, _)| b)
        }
    }

    /// `line[ci]`, or `None` past the end.
    pub(crate) fn at(&self, ci: usize) -> Option<char> {
        if self.ascii_prefix(ci + 1) {
            self.line.as_bytes().get(ci).map(|&b| char::from(b))
        } else {
            self.line.chars().nth(ci)
        }
    }

    /// `line[ci-1:ci]`, or `None` at the start or past the end.
    pub(crate) fn before(&self, ci: usize) -> Option<char> {
        // (a line has at most as many characters as bytes, and an ASCII
        // prefix of `ci` bytes is `ci` characters)
        if ci == 0 || ci > self.line.len() {
            return None;
        }
        if !self.ascii_prefix(ci) && ci > self.line.chars().count() {
            return None;
        }
        self.at(ci - 1)
    }
}
