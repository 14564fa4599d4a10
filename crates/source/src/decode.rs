//! Turning the bytes of one log line into text (`logencoding`).
//!
//! Lines are split on the `\n` byte *before* decoding, so only encodings in
//! which `\n` is always the byte 0x0A and never part of another character
//! are accepted (UTF-8, the ISO-8859 family, Windows code pages, EUC/Shift_JIS,
//! GBK, ...). UTF-16/32 would need a different splitter; they are rejected at
//! configuration time rather than producing garbage at run time.
//!
//! Invalid byte sequences are replaced by U+FFFD, as Python's `errors="replace"`
//! does; the caller is told so that it can warn (rate-limited).

use crate::error::{Result, SourceError};
use encoding_rs::Encoding;

/// A line decoder for one `logencoding` value.
#[derive(Debug, Clone, Copy)]
pub struct LineDecoder {
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// UTF-8 with lossy replacement. Also used for `auto`: fail2ban takes the
    /// locale's preferred encoding there, which is UTF-8 on every system we
    /// target.
    Utf8,
    /// Python's `latin-1`: every byte is the code point of the same value.
    /// encoding_rs maps the label to windows-1252 (the WHATWG rule), which
    /// differs in 0x80..0x9F, so it is handled here exactly.
    Latin1,
    /// Python's `ascii`: bytes above 0x7F are invalid.
    Ascii,
    /// Anything else encoding_rs knows.
    Other(&'static Encoding),
}

impl Default for LineDecoder {
    fn default() -> Self {
        LineDecoder { kind: Kind::Utf8 }
    }
}

impl LineDecoder {
    /// Builds a decoder from a `logencoding` value (case-insensitive, `_` and
    /// `-` treated alike, Python spellings such as `latin-1` or `utf8`
    /// accepted).
    pub fn new(label: &str) -> Result<Self> {
        let norm = label.trim().to_ascii_lowercase().replace('_', "-");
        let kind = match norm.as_str() {
            "" | "auto" | "utf-8" | "utf8" | "u8" | "utf" => Kind::Utf8,
            "latin-1" | "latin1" | "l1" | "iso-8859-1" | "iso8859-1" | "8859" | "cp819"
            | "iso-ir-100" => Kind::Latin1,
            "ascii" | "us-ascii" | "646" => Kind::Ascii,
            other => match Encoding::for_label(other.as_bytes()) {
                Some(enc) if enc.is_ascii_compatible() && enc != encoding_rs::REPLACEMENT => {
                    if enc == encoding_rs::UTF_8 {
                        Kind::Utf8
                    } else {
                        Kind::Other(enc)
                    }
                }
                _ => return Err(SourceError::UnknownEncoding(label.to_string())),
            },
        };
        Ok(LineDecoder { kind })
    }

    /// [`LineDecoder::decode`] of a line the caller no longer needs: valid
    /// UTF-8 becomes the `String` without a copy (the common case, once
    /// per line read).
    pub fn decode_owned(&self, bytes: Vec<u8>) -> (String, bool) {
        match self.kind {
            Kind::Utf8 => match String::from_utf8(bytes) {
                Ok(s) => (s, false),
                Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
            },
            _ => self.decode(&bytes),
        }
    }

    /// Decodes one line. The flag is true when bytes had to be replaced.
    pub fn decode(&self, bytes: &[u8]) -> (String, bool) {
        match self.kind {
            // Valid text first: `str::from_utf8` checks whole words of
            // ASCII at a time, `from_utf8_lossy` goes chunk by chunk (3 %
            // of the daemon's time per line under an address spray).
            Kind::Utf8 => match std::str::from_utf8(bytes) {
                Ok(s) => (s.to_owned(), false),
                Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
            },
            Kind::Latin1 => (bytes.iter().map(|&b| char::from(b)).collect(), false),
            Kind::Ascii => {
                let mut bad = false;
                let s = bytes
                    .iter()
                    .map(|&b| {
                        if b.is_ascii() {
                            char::from(b)
                        } else {
                            bad = true;
                            char::REPLACEMENT_CHARACTER
                        }
                    })
                    .collect();
                (s, bad)
            }
            Kind::Other(enc) => {
                let (s, bad) = enc.decode_without_bom_handling(bytes);
                (s.into_owned(), bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_owned_is_decode() {
        let lines: [&[u8]; 6] = [b"abc", b"a\xffb", b"", b"\xe9\x80", b"caf\xc3\xa9", b"a\0b"];
        for enc in ["auto", "utf-8", "latin-1", "ascii", "cp1251"] {
            let d = LineDecoder::new(enc).unwrap();
            for l in lines {
                assert_eq!(d.decode_owned(l.to_vec()), d.decode(l), "{enc} {l:?}");
            }
        }
    }

    #[test]
    fn utf8_lossy_replaces_bad_bytes() {
        let d = LineDecoder::new("auto").unwrap();
        assert_eq!(d.decode(b"abc"), ("abc".to_string(), false));
        let (s, bad) = d.decode(b"a\xffb");
        assert_eq!(s, "a\u{FFFD}b");
        assert!(bad);
    }

    #[test]
    fn nul_bytes_survive() {
        let d = LineDecoder::new("utf-8").unwrap();
        assert_eq!(d.decode(b"a\0b").0, "a\0b");
    }

    #[test]
    fn latin1_is_exact() {
        let d = LineDecoder::new("Latin_1").unwrap();
        assert_eq!(d.decode(b"\xe9\x80").0, "\u{e9}\u{80}");
    }

    #[test]
    fn ascii_flags_high_bytes() {
        let d = LineDecoder::new("ascii").unwrap();
        assert_eq!(d.decode(b"a\xe9"), ("a\u{FFFD}".to_string(), true));
    }

    #[test]
    fn other_encodings_via_encoding_rs() {
        let d = LineDecoder::new("cp1251").unwrap();
        assert_eq!(d.decode(b"\xcf\xf0\xe8").0, "При");
        let d = LineDecoder::new("shift_jis").unwrap();
        assert_eq!(d.decode(b"\x82\xa0").0, "あ");
    }

    #[test]
    fn non_ascii_compatible_and_unknown_rejected() {
        assert!(LineDecoder::new("utf-16le").is_err());
        assert!(LineDecoder::new("no-such-thing").is_err());
    }
}
