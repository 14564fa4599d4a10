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
//! **ASCII subjects.** UTF and UCP make PCRE2's JIT code decode characters
//! and look up Unicode properties; on a subject that is all ASCII a pattern
//! that is all ASCII (after translation) means the same without them:
//! ASCII characters are single bytes either way, and Unicode gives them
//! the classes (`\s`, `\w`, `\d`, `\b`) and case pairs the ASCII tables do.
//! So such a pattern is compiled a second time without UTF and UCP, on
//! first use with an ASCII subject, and that code runs on ASCII subjects
//! (most log lines): 5-7 % fewer instructions per line for sshd and
//! freeswitch. A pattern with non-ASCII characters (`é?` would be one byte
//! made optional without UTF) or that does not compile so keeps one code.
//!
//! **Resource limits.** A PCRE2 search that runs out of the fast path's
//! resources (JIT stack, match limit) is run again on a slow path with
//! room sized for the subject, and reported as [`Error::Exhausted`] only
//! when a step budget is spent: an attacker's long field must not turn a
//! failure line into a search error (see `slow.rs`).
//!
//! [`literals::required_literals`] supports cheap prefiltering: it derives
//! literals one of which must occur in any match.
//!
//! Known gap: Python's MULTILINE `^` also matches after a newline at the very
//! end of the text; PCRE2's does not (PCRE2_ALT_CIRCUMFLEX is not exposed by
//! the `pcre2` crate).

#![deny(missing_docs)]

pub mod literals;
pub mod python;
mod slow;

pub use slow::Exhausted;

use std::sync::{Arc, OnceLock};

/// A compile or match error, carrying the pattern that caused it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pattern does not compile in either engine.
    #[error("invalid regex {pattern:?}: {message}")]
    Compile {
        /// The pattern as given (Python syntax).
        pattern: String,
        /// The engine's message.
        message: String,
    },
    /// The engine failed during a search (other than by its limits).
    #[error("regex match failed: {0}")]
    Match(String),
    /// The search ran out of resources even on the slow path (see
    /// `slow.rs`): the subject could not be evaluated.
    #[error("regex search not completed: {0}")]
    Exhausted(#[from] Exhausted),
}

impl Error {
    /// Whether the subject could not be evaluated for lack of resources
    /// (as opposed to a bug or bad input).
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Error::Exhausted(_))
    }
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
    /// The Rust `regex` crate (the fast path, when the pattern allows it).
    Rust,
    /// PCRE2, for what only a backtracking engine can do.
    Pcre2,
}

#[derive(Clone)]
enum Inner {
    Rust(regex::Regex),
    Pcre2(Arc<Pcre2>),
}

/// `<[u8]>::is_ascii`, 16 bytes a step: it runs before every PCRE2 call,
/// on lines of about 100 bytes, where the library's version costs several
/// times more.
fn all_ascii(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(16);
    let mut acc = 0u128;
    for c in &mut chunks {
        let mut w = [0u8; 16];
        w.copy_from_slice(c);
        acc |= u128::from_ne_bytes(w);
    }
    let tail = chunks.remainder().iter().fold(0u8, |a, &x| a | x);
    acc & u128::from_ne_bytes([0x80; 16]) == 0 && tail < 0x80
}

/// A PCRE2 pattern, and its code for ASCII subjects (see the module docs).
struct Pcre2 {
    utf: pcre2::bytes::Regex,
    /// The translated pattern when it is all ASCII (else no ASCII code).
    ascii_pattern: Option<String>,
    opts: Options,
    ascii: OnceLock<Option<pcre2::bytes::Regex>>,
    /// The translated pattern, for the slow path's code.
    translated: Box<str>,
    /// The slow path's code, compiled on the first resource error.
    slow: OnceLock<Result<slow::SlowCode, String>>,
}

impl Pcre2 {
    fn build(
        pattern: &str,
        opts: Options,
        unicode: bool,
    ) -> Result<pcre2::bytes::Regex, pcre2::Error> {
        pcre2::bytes::RegexBuilder::new()
            .jit_if_available(true)
            .utf(unicode)
            .ucp(unicode)
            .multi_line(opts.multi_line)
            .caseless(opts.case_insensitive)
            .build(pattern)
    }

    /// The code to run on `subject`. (Both codes have the same groups, so
    /// one set of capture locations serves either.)
    #[inline]
    fn code_for(&self, subject: &[u8]) -> &pcre2::bytes::Regex {
        let ascii = match &self.ascii_pattern {
            Some(p) if all_ascii(subject) => self
                .ascii
                .get_or_init(|| {
                    Self::build(p, self.opts, false)
                        .ok()
                        .filter(|r| r.captures_len() == self.utf.captures_len())
                })
                .as_ref(),
            _ => None,
        };
        ascii.unwrap_or(&self.utf)
    }

    /// What to do with the fast path's error `e` on `subject`: a resource
    /// error is retried on the slow path (whose spans are returned), any
    /// other is passed on.
    #[cold]
    fn retry(
        &self,
        e: pcre2::Error,
        subject: &[u8],
        start: usize,
    ) -> Result<Option<slow::Spans>, Error> {
        if !slow::is_resource_error(e.code()) {
            return Err(Error::Match(e.to_string()));
        }
        let code = self
            .slow
            .get_or_init(|| slow::SlowCode::compile(&self.translated, self.opts))
            .as_ref()
            .map_err(|m| Error::Match(format!("{e} (and the slow path did not compile: {m})")))?;
        Ok(code.search(subject, start)?)
    }
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
    /// Byte span of group `i`, if it took part in the match.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.spans.get(i).copied().flatten()
    }
    /// Number of groups, group 0 included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    /// Whether there are no groups at all.
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
        let re = Pcre2::build(&translated, opts, true).map_err(|e| Error::Compile {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })?;
        let names: Arc<[Option<String>]> = re.capture_names().to_vec().into();
        Ok(Regex {
            pattern: pattern.to_string(),
            inner: Inner::Pcre2(Arc::new(Pcre2 {
                utf: re,
                ascii_pattern: translated.is_ascii().then(|| translated.clone()),
                opts,
                ascii: OnceLock::new(),
                translated: translated.into(),
                slow: OnceLock::new(),
            })),
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

    /// The pattern as given (Python syntax).
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The engine that compiled the pattern.
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
                let mut locs = re.utf.capture_locations();
                let subject = text.as_bytes();
                match re
                    .code_for(subject)
                    .captures_read_at(&mut locs, subject, start)
                {
                    Ok(m) => Ok(m.map(|_| Captures {
                        spans: (0..locs.len()).map(|i| locs.get(i)).collect(),
                    })),
                    Err(e) => Ok(re.retry(e, subject, start)?.map(|spans| Captures { spans })),
                }
            }
        }
    }

    /// The first match in `text` with its groups, if any.
    pub fn captures(&self, text: &str) -> Result<Option<Captures>, Error> {
        self.captures_at(text, 0)
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> Result<bool, Error> {
        match &self.inner {
            Inner::Rust(re) => Ok(re.is_match(text)),
            Inner::Pcre2(re) => {
                let subject = text.as_bytes();
                match re.code_for(subject).is_match(subject) {
                    Ok(m) => Ok(m),
                    Err(e) => Ok(re.retry(e, subject, 0)?.is_some()),
                }
            }
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
    /// The fast path's locations, and the spans of the last search when it
    /// took the slow path (which has its own match data).
    Pcre2(pcre2::bytes::CaptureLocations, Option<slow::Spans>),
}

impl Locations {
    /// Span of group `i` of the last successful match.
    #[inline]
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        match &self.inner {
            LocInner::Rust(l) => l.get(i),
            LocInner::Pcre2(l, None) => l.get(i),
            LocInner::Pcre2(_, Some(s)) => s.get(i).copied().flatten(),
        }
    }
    /// Number of groups, group 0 included.
    pub fn len(&self) -> usize {
        match &self.inner {
            LocInner::Rust(l) => l.len(),
            LocInner::Pcre2(l, _) => l.len(),
        }
    }
    /// Whether there are no groups at all.
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
                Inner::Pcre2(re) => LocInner::Pcre2(re.utf.capture_locations(), None),
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
            (Inner::Pcre2(re), LocInner::Pcre2(l, slow)) => {
                let subject = text.as_bytes();
                match re.code_for(subject).captures_read_at(l, subject, start) {
                    Ok(m) => {
                        *slow = None;
                        Ok(m.is_some())
                    }
                    Err(e) => {
                        *slow = re.retry(e, subject, start)?;
                        Ok(slow.is_some())
                    }
                }
            }
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
    use proptest::prelude::*;

    fn pcre2_of(re: &Regex) -> &Pcre2 {
        match &re.inner {
            Inner::Pcre2(p) => p,
            Inner::Rust(_) => panic!("not a PCRE2 pattern"),
        }
    }

    /// Every group of a match (`None`: no match).
    type Groups = Option<Vec<Option<(usize, usize)>>>;

    /// Every group of both codes of `pattern` on `subject`.
    fn both(pattern: &str, opts: Options, subject: &str) -> [Groups; 2] {
        let re = Regex::new_pcre2(pattern, opts).unwrap();
        let p = pcre2_of(&re);
        let ascii = p.code_for(subject.as_bytes());
        assert!(!std::ptr::eq(ascii, &p.utf), "{pattern}: no ASCII code");
        [&p.utf, ascii].map(|code| {
            let mut locs = p.utf.capture_locations();
            code.captures_read_at(&mut locs, subject.as_bytes(), 0)
                .unwrap()
                .map(|_| (0..locs.len()).map(|i| locs.get(i)).collect())
        })
    }

    const TRICKY: &[&str] = &[
        r"^(?P<a>\S+)\s+(?P<b>\w+)\b(?P<c>.*?)$",
        r"(?i)user (?P<u>[a-z]+) from (?P<h>\d{1,3}(?:\.\d{1,3}){3})",
        r"\s(?P<x>[^\s\[]+)\W(?P<y>\D*)\Z",
        r"(?<=\bfrom )(?P<h>\S+)(?! port)",
        r"\x1c|\x1f(?P<sep>.)",
        r"(?P<k>[\x7fa])?b",
        r"^\.?\d+-\d+ \[(?P<l>[^\]]*)\] (?:x|(?P<n>y))+$",
    ];

    proptest! {
        /// On ASCII subjects the ASCII code finds what the UTF/UCP code
        /// finds, group by group.
        #[test]
        fn ascii_code_agrees(subject in "[ -~\\x1c-\\x1f\t\n]{0,40}", i in 0..7usize, ci in any::<bool>()) {
            let opts = Options { case_insensitive: ci, ..Options::default() };
            let [utf, ascii] = both(TRICKY[i], opts, &subject);
            prop_assert_eq!(utf, ascii);
        }

        #[test]
        fn all_ascii_is_is_ascii(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(all_ascii(&b), b.is_ascii());
        }
    }

    #[test]
    fn ascii_code_only_for_ascii_patterns_and_subjects() {
        // `é?` without UTF would make one byte of `é` optional
        let re = Regex::new_pcre2("aé?b", Options::default()).unwrap();
        let p = pcre2_of(&re);
        assert!(p.ascii_pattern.is_none());
        assert!(std::ptr::eq(p.code_for(b"ab"), &p.utf));
        assert!(re.captures("ab").unwrap().is_some());
        let re = Regex::new_pcre2(r"a(?P<x>\w)b", Options::default()).unwrap();
        let p = pcre2_of(&re);
        assert!(std::ptr::eq(p.code_for("aéb".as_bytes()), &p.utf));
        assert_eq!(re.captures("aéb").unwrap().unwrap().get(1), Some((1, 3)));
        assert!(!std::ptr::eq(p.code_for(b"axb"), &p.utf));
        assert_eq!(re.captures("axb").unwrap().unwrap().get(1), Some((1, 2)));
    }

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

    /// freeswitch's target field: a group repeated once a character, which
    /// exhausts the JIT's default stack at about 1,300 characters.
    const TARGET: &str = r"for \[(?P<t>(?:[^\[\]]|\[[^\]]*\])*)\] from ip (?P<ip>\S+)$";

    fn long_target(n: usize) -> String {
        format!("x for [{}@pbx] from ip 192.0.2.7", "u".repeat(n))
    }

    #[test]
    fn long_subjects_take_the_slow_path() {
        let re = Regex::new(TARGET, Options::default()).unwrap();
        assert_eq!(re.engine(), Engine::Pcre2);
        for n in [10, 2_000, 64 << 10, 1 << 20] {
            let text = long_target(n);
            let ip = (text.len() - 9, text.len());
            // the fast path alone fails from ~1,300 characters on
            let fast = pcre2_of(&re).utf.is_match(text.as_bytes());
            assert_eq!(fast.is_ok(), n < 1_000, "{n}: {fast:?}");
            assert!(re.is_match(&text).unwrap(), "{n}");
            assert_eq!(re.captures(&text).unwrap().unwrap().get(2), Some(ip));
            let mut l = re.locations();
            assert!(re.captures_read_at(&mut l, &text, 0).unwrap());
            assert_eq!((l.get(1), l.get(2)), (Some((7, 7 + n + 4)), Some(ip)));
            // the same locations serve a fast search again
            assert!(re.captures_read_at(&mut l, &long_target(3), 0).unwrap());
            assert_eq!(l.get(1), Some((7, 14)));
            let miss = text.replace("from ip", "from host");
            assert!(!re.is_match(&miss).unwrap(), "{n}");
            assert!(!re.captures_read_at(&mut l, &miss, 0).unwrap());
        }
    }

    #[test]
    fn non_ascii_long_subjects() {
        let re = Regex::new(TARGET, Options::default()).unwrap();
        let text = format!("x for [{}] from ip 192.0.2.7", "é".repeat(5_000));
        let c = re.captures(&text).unwrap().unwrap();
        assert_eq!(c.get(1), Some((7, 7 + 10_000)));
    }

    #[test]
    fn exhausted_searches_are_reported() {
        // exponential backtracking: no engine answers this in bounded time
        let re = Regex::new(r"^(?:a|aa)+$(?=)", Options::default()).unwrap();
        let text = format!("{}b", "a".repeat(200));
        let e = re.is_match(&text).unwrap_err();
        assert!(e.is_exhausted(), "{e}");
        assert!(e.to_string().contains("limit"), "{e}");
        let mut l = re.locations();
        assert!(re
            .captures_read_at(&mut l, &text, 0)
            .unwrap_err()
            .is_exhausted());
        // ...and the same regex still answers short subjects
        assert!(re.is_match("aaaa").unwrap());
        assert!(!re.is_match("aab").unwrap());
    }

    #[test]
    fn slow_path_limits_grow_with_the_subject() {
        assert_eq!(slow::jit_stack_max(10), 1 << 20);
        assert_eq!(slow::jit_stack_max(1 << 20), 64 << 20);
        assert_eq!(slow::jit_stack_max(usize::MAX), 256 << 20);
    }

    #[test]
    fn compile_error_names_pattern() {
        let e = Regex::new(r"(unclosed", Options::default()).unwrap_err();
        assert!(e.to_string().contains("(unclosed"));
    }
}
