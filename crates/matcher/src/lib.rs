//! One regex interface over the engines gaoler uses.
//!
//! fail2ban's patterns are written for Python's `re`: named groups
//! `(?P<name>…)`, back-references `(?P=name)`, conditionals `(?(name)…|…)`,
//! look-around. The Rust `regex` crate compiles almost none of them, so the
//! general engine is PCRE2 (with JIT). Where a pattern needs none of those
//! features the Rust `regex` crate is used instead: it is faster for the
//! "does this line match at all" question that dominates a log scan.
//!
//! Callers see only [`Regex`] and [`Captures`]; which engine sits behind a
//! pattern is an implementation detail (visible through [`Regex::engine`]).
//!
//! Patterns are always read as **Python** syntax: [`python::translate`]
//! rewrites the spots where PCRE2 or `regex` would read the same text
//! differently (`\s` also covering `\x1c`-`\x1f`, `{,n}`, stray braces, `[`
//! inside classes, `\<`/`\>`). PCRE2 is compiled with UCP so `\w`, `\d`,
//! `\b` are Unicode-aware like Python's `str` patterns. A pattern with a
//! non-multiline `$` never goes to the Rust engine, whose `$` does not match
//! before a final newline as Python's does.
//!
//! [`literals::required_literals`] supports cheap prefiltering: it derives
//! literals one of which must occur in any match.
//!
//! Known gap: Python's MULTILINE `^` also matches after a newline at the very
//! end of the text; PCRE2's does not (PCRE2_ALT_CIRCUMFLEX is not exposed by
//! the `pcre2` crate).

pub mod literals;
pub mod python;

use std::sync::Arc;

/// A compile or match error, carrying the pattern that caused it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid regex {pattern:?}: {message}")]
    Compile { pattern: String, message: String },
    #[error("regex match failed: {0}")]
    Match(String),
}

/// Compile options.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// `^`/`$` match at line boundaries (Python `re.MULTILINE`).
    pub multi_line: bool,
    /// Case-insensitive matching (Python `re.IGNORECASE`).
    pub case_insensitive: bool,
}

/// Which engine compiled a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Rust,
    Pcre2,
}

#[derive(Clone)]
enum Inner {
    Rust(regex::Regex),
    Pcre2(Arc<pcre2::bytes::Regex>),
}

/// A compiled pattern.
#[derive(Clone)]
pub struct Regex {
    pattern: String,
    inner: Inner,
    names: Arc<[Option<String>]>,
}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regex")
            .field("pattern", &self.pattern)
            .field("engine", &self.engine())
            .finish()
    }
}

/// Group spans of one match; group 0 is the whole match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captures {
    spans: Vec<Option<(usize, usize)>>,
}

impl Captures {
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.spans.get(i).copied().flatten()
    }
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl Regex {
    /// Compile with PCRE2 (Python-compatible syntax), or with the Rust engine
    /// when the pattern is plain enough for it to give the same answers.
    pub fn new(pattern: &str, opts: Options) -> Result<Regex, Error> {
        if let Some(r) = Self::try_rust(pattern, opts) {
            return Ok(r);
        }
        Self::new_pcre2(pattern, opts)
    }

    /// Compile with PCRE2 only.
    pub fn new_pcre2(pattern: &str, opts: Options) -> Result<Regex, Error> {
        let translated = python::translate(pattern, python::Target::Pcre2)
            .map(|t| t.pattern)
            .unwrap_or_else(|| pattern.to_string());
        let re = pcre2::bytes::RegexBuilder::new()
            .jit_if_available(true)
            .utf(true)
            .ucp(true)
            .multi_line(opts.multi_line)
            .caseless(opts.case_insensitive)
            .build(&translated)
            .map_err(|e| Error::Compile {
                pattern: pattern.to_string(),
                message: e.to_string(),
            })?;
        let names: Arc<[Option<String>]> = re.capture_names().to_vec().into();
        Ok(Regex {
            pattern: pattern.to_string(),
            inner: Inner::Pcre2(Arc::new(re)),
            names,
        })
    }

    fn try_rust(pattern: &str, opts: Options) -> Option<Regex> {
        // Python-only syntax (look-around, back-references, conditionals)
        // makes the translation fail; a plain `$` means something else.
        let t = python::translate(pattern, python::Target::Rust)?;
        if t.has_dollar && !opts.multi_line {
            return None;
        }
        let re = regex::RegexBuilder::new(&t.pattern)
            .multi_line(opts.multi_line)
            .case_insensitive(opts.case_insensitive)
            .build()
            .ok()?;
        let names: Arc<[Option<String>]> = re
            .capture_names()
            .map(|n| n.map(str::to_string))
            .collect::<Vec<_>>()
            .into();
        Some(Regex {
            pattern: pattern.to_string(),
            inner: Inner::Rust(re),
            names,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn engine(&self) -> Engine {
        match self.inner {
            Inner::Rust(_) => Engine::Rust,
            Inner::Pcre2(_) => Engine::Pcre2,
        }
    }

    /// Names of the capture groups by index (index 0 is the whole match).
    pub fn capture_names(&self) -> &[Option<String>] {
        &self.names
    }

    /// Index of a named group.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    /// Search `text` from byte offset `start` (unanchored, like `re.search`).
    pub fn captures_at(&self, text: &str, start: usize) -> Result<Option<Captures>, Error> {
        match &self.inner {
            Inner::Rust(re) => Ok(re.captures_at(text, start).map(|c| Captures {
                spans: c.iter().map(|m| m.map(|m| (m.start(), m.end()))).collect(),
            })),
            Inner::Pcre2(re) => {
                let mut locs = re.capture_locations();
                let m = re
                    .captures_read_at(&mut locs, text.as_bytes(), start)
                    .map_err(|e| Error::Match(e.to_string()))?;
                Ok(m.map(|_| Captures {
                    spans: (0..locs.len()).map(|i| locs.get(i)).collect(),
                }))
            }
        }
    }

    pub fn captures(&self, text: &str) -> Result<Option<Captures>, Error> {
        self.captures_at(text, 0)
    }

    pub fn is_match(&self, text: &str) -> Result<bool, Error> {
        match &self.inner {
            Inner::Rust(re) => Ok(re.is_match(text)),
            Inner::Pcre2(re) => re
                .is_match(text.as_bytes())
                .map_err(|e| Error::Match(e.to_string())),
        }
    }
}

/// Reusable capture storage for [`Regex::captures_read_at`], avoiding an
/// allocation per match on hot paths.
pub struct Locations {
    inner: LocInner,
}

enum LocInner {
    Rust(regex::CaptureLocations),
    Pcre2(pcre2::bytes::CaptureLocations),
}

impl Locations {
    /// Span of group `i` of the last successful match.
    #[inline]
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        match &self.inner {
            LocInner::Rust(l) => l.get(i),
            LocInner::Pcre2(l) => l.get(i),
        }
    }
    pub fn len(&self) -> usize {
        match &self.inner {
            LocInner::Rust(l) => l.len(),
            LocInner::Pcre2(l) => l.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Regex {
    /// Fresh capture storage for this regex.
    pub fn locations(&self) -> Locations {
        Locations {
            inner: match &self.inner {
                Inner::Rust(re) => LocInner::Rust(re.capture_locations()),
                Inner::Pcre2(re) => LocInner::Pcre2(re.capture_locations()),
            },
        }
    }

    /// Search from `start`, filling `locs` (which must come from
    /// [`Regex::locations`] of this regex). Returns whether it matched.
    pub fn captures_read_at(
        &self,
        locs: &mut Locations,
        text: &str,
        start: usize,
    ) -> Result<bool, Error> {
        match (&self.inner, &mut locs.inner) {
            (Inner::Rust(re), LocInner::Rust(l)) => {
                Ok(re.captures_read_at(l, text, start).is_some())
            }
            (Inner::Pcre2(re), LocInner::Pcre2(l)) => re
                .captures_read_at(l, text.as_bytes(), start)
                .map(|m| m.is_some())
                .map_err(|e| Error::Match(e.to_string())),
            _ => {
                *locs = self.locations();
                self.captures_read_at(locs, text, start)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_syntax_goes_to_pcre2() {
        let re = Regex::new(r"(?P<a>x)(?P=a)", Options::default()).unwrap();
        assert_eq!(re.engine(), Engine::Pcre2);
        let c = re.captures("yxx").unwrap().unwrap();
        assert_eq!(c.get(0), Some((1, 3)));
        assert_eq!(re.group_index("a"), Some(1));
    }

    #[test]
    fn plain_pattern_uses_rust_engine() {
        let re = Regex::new(r"from (?P<ip>\d+\.\d+\.\d+\.\d+)", Options::default()).unwrap();
        assert_eq!(re.engine(), Engine::Rust);
        let c = re.captures("auth from 192.0.2.1 x").unwrap().unwrap();
        assert_eq!(c.get(1), Some((10, 19)));
    }

    #[test]
    fn python_dollar_before_final_newline() {
        let re = Regex::new(r"abc$", Options::default()).unwrap();
        assert_eq!(re.engine(), Engine::Pcre2);
        assert!(re.is_match("x abc\n").unwrap());
        assert!(!re.is_match("x abc\n\n").unwrap());
        let m = Regex::new(
            r"abc$",
            Options {
                multi_line: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(m.is_match("abc\nnext\n").unwrap());
    }

    #[test]
    fn python_whitespace_class() {
        for engine_forcing in ["a\\sb", "a\\sb(?=)"] {
            let re = Regex::new(engine_forcing, Options::default()).unwrap();
            assert!(re.is_match("a\x1db").unwrap(), "{engine_forcing}");
            assert!(re.is_match("a b").unwrap());
            assert!(!re.is_match("a_b").unwrap());
        }
        let re = Regex::new("a\\Sb(?=)", Options::default()).unwrap();
        assert!(!re.is_match("a\x1fb").unwrap());
    }

    #[test]
    fn angle_escapes_are_literal() {
        for p in [r"\<x\>", r"\<x\>(?=)", r"[^\>]+>"] {
            let re = Regex::new(p, Options::default()).unwrap();
            assert!(re.is_match("a <x> b").unwrap(), "{p}");
        }
        let re = Regex::new(r"\<?x", Options::default()).unwrap();
        assert_eq!(re.captures("a x").unwrap().unwrap().get(0), Some((2, 3)));
    }

    #[test]
    fn braces_and_classes() {
        let re = Regex::new(r"^\d{,3}x$", Options::default()).unwrap();
        assert!(re.is_match("12x").unwrap());
        assert!(re.is_match("x").unwrap());
        assert!(!re.is_match("1234x").unwrap());
        let re = Regex::new(r"\({{(?:\d+,){3}\d+},\d+}\)", Options::default()).unwrap();
        assert!(re.is_match("({{1,2,3,4},5})").unwrap());
        let re = Regex::new(r"^[^[]+\[", Options::default()).unwrap();
        assert!(re.is_match("abc[").unwrap());
    }

    #[test]
    fn unicode_word_like_python() {
        let re = Regex::new(r"^\w+$(?=)", Options::default()).unwrap();
        assert!(re.is_match("müller").unwrap());
        let re = Regex::new(r"^\d$(?=)", Options::default()).unwrap();
        assert!(re.is_match("٣").unwrap());
    }

    #[test]
    fn reusable_locations() {
        for p in [r"(?P<a>\d+)-(?P<b>\d+)", r"(?P<a>\d+)-(?P<b>\d+)(?=)"] {
            let re = Regex::new(p, Options::default()).unwrap();
            let mut l = re.locations();
            assert!(re.captures_read_at(&mut l, "x 12-34 y", 0).unwrap());
            assert_eq!(l.get(2), Some((5, 7)));
            assert!(!re.captures_read_at(&mut l, "nothing", 0).unwrap());
            assert!(re.captures_read_at(&mut l, "5-6", 0).unwrap());
            assert_eq!(l.get(1), Some((0, 1)));
        }
    }

    #[test]
    fn compile_error_names_pattern() {
        let e = Regex::new(r"(unclosed", Options::default()).unwrap_err();
        assert!(e.to_string().contains("(unclosed"));
    }
}
