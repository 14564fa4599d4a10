//! Date templates: building the regex of one template from a `datepattern`
//! entry, and the default template list.
//!
//! A template's regex is kept as *source text* in Python syntax, with the
//! `%ExY` year alternatives left as a marker ([`EXY_MARK`]). The marker is
//! replaced when the detector compiles the template for a given reference
//! year, because fail2ban derives `%ExY` from the current year (§2.6 step 3)
//! and our clock is injected per call.
//!
//! The text transformations (boundary wrapping, group wrapping, `**` markers,
//! global flags) follow fail2ban's observable results, including its odd
//! corners, so that names and regexes equal the reference dump
//! (`default-date-templates.txt`), which a test checks.

use std::sync::OnceLock;

use gaoler_matcher::{Options, Regex};

use crate::Error;

/// Stands for the `%ExY` century/decade alternatives until compile time.
/// A private-use code point, so it cannot clash with real pattern text in
/// practice.
pub(crate) const EXY_MARK: &str = "\u{F8FF}ExY\u{F8FF}";

pub(crate) const LINE_BEGIN: u8 = 8;
pub(crate) const LINE_END: u8 = 4;
pub(crate) const WORD_BEGIN: u8 = 2;
pub(crate) const WORD_END: u8 = 1;

/// How the start of a template is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Begin {
    /// No boundary added.
    None,
    /// `(?=^|\b|\W)`: the date starts at a word boundary.
    Word,
    /// `^(?:\W{0,2})?`: the date starts the line (up to two non-word chars).
    Start,
}

/// How a match is turned into a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// strptime-like named groups.
    Pattern,
    /// Unix time in capture group `group`; `long` = milli/microsecond forms.
    Epoch { long: bool, group: usize },
    /// `@` + 24 hex digits.
    Tai64n,
}

/// One date template (immutable; hit counters live in the detector).
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pub name: String,
    /// The user-facing pattern for strptime-like templates.
    pub pattern: Option<String>,
    /// Python-syntax regex source; may contain [`EXY_MARK`].
    pub regex: String,
    pub flags: u8,
    pub weight: f64,
    pub kind: Kind,
}

impl Template {
    pub(crate) fn anchored(&self) -> bool {
        self.flags & (LINE_BEGIN | LINE_END) != 0
    }
}

fn helper(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| {
        // These are fixed, known-good patterns: failing to compile them is a
        // build defect, not an input problem.
        Regex::new_pcre2(pattern, Options::default()).expect("built-in helper regex")
    })
}

fn search(re: &Regex, text: &str) -> Option<gaoler_matcher::Captures> {
    re.captures(text).ok().flatten()
}

/// Group 0 span of the first match of `re` in `text`.
fn find(re: &Regex, text: &str) -> Option<(usize, usize)> {
    search(re, text).and_then(|c| c.get(0))
}

static RE_GROUPED: OnceLock<Regex> = OnceLock::new();
static RE_GROUP: OnceLock<Regex> = OnceLock::new();
static RE_NO_WRD_BOUND_BEG: OnceLock<Regex> = OnceLock::new();
static RE_NO_WRD_BOUND_END: OnceLock<Regex> = OnceLock::new();
static RE_DEL_WRD_BOUNDS: OnceLock<Regex> = OnceLock::new();
static RE_LINE_BOUND_BEG: OnceLock<Regex> = OnceLock::new();
static RE_LINE_BOUND_END: OnceLock<Regex> = OnceLock::new();
static RE_EPOCH_PATTERN: OnceLock<Regex> = OnceLock::new();
static RE_DATE_PREMATCH: OnceLock<Regex> = OnceLock::new();

/// A capture group opens here: `(` neither escaped nor followed by `?`
/// (conditionals `(?(x)` also do not count).
fn has_group(regex: &str) -> bool {
    find(helper(&RE_GROUPED, r"(?<!\(\?)(?<!\\)\((?!\?)"), regex).is_some()
}

/// Python's `re.sub` for a pattern with (possibly) several matches,
/// with the replacement computed from the matched text.
fn sub_all(re: &Regex, text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut last = 0;
    while pos <= text.len() {
        let Some((s, e)) = re
            .captures_at(text, pos)
            .ok()
            .flatten()
            .and_then(|c| c.get(0))
        else {
            break;
        };
        out.push_str(&text[last..s]);
        out.push_str(&f(&text[s..e]));
        last = e;
        pos = if e > s {
            e
        } else {
            // Empty match: step over one character.
            match text[e..].chars().next() {
                Some(c) => e + c.len_utf8(),
                None => break,
            }
        };
    }
    out.push_str(&text[last..]);
    out
}

/// The first `(?flags)` group anywhere in `regex` (fail2ban moves it to the
/// front after wrapping). Returns its byte span.
fn find_global_flags(regex: &str) -> Option<(usize, usize)> {
    let b = regex.as_bytes();
    let mut i = 0;
    while i + 3 < b.len() + 1 {
        if b[i] == b'(' && b.get(i + 1) == Some(&b'?') {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_lowercase() {
                j += 1;
            }
            if j > i + 2 && b.get(j) == Some(&b')') {
                return Some((i, j + 1));
            }
        }
        i += 1;
    }
    None
}

/// Port of the template regex finishing step: boundaries, group 1, flags.
/// `name` gets the `{^LN-BEG}` prefix when the line-start boundary is added.
pub(crate) fn finish_regex(
    regex: &str,
    begin: Begin,
    word_end: bool,
    name: &mut String,
) -> (String, u8) {
    let mut regex = regex.trim().to_string();
    let flags_group = find_global_flags(&regex).map(|(s, e)| {
        let g = regex[s..e].to_string();
        regex.replace_range(s..e, "");
        g
    });
    let re_nb_beg = helper(
        &RE_NO_WRD_BOUND_BEG,
        r"^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)",
    );
    let re_nb_end = helper(&RE_NO_WRD_BOUND_END, r"(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$");
    let bound_begin = begin != Begin::None && find(re_nb_beg, &regex).is_none();
    let bound_end = word_end && find(re_nb_end, &regex).is_none();
    if !has_group(&regex) {
        let re_group = helper(&RE_GROUP, r"^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$");
        if let Some(c) = search(re_group, &regex) {
            let part = |i: usize| c.get(i).map(|(s, e)| &regex[s..e]).unwrap_or("");
            regex = format!("{}({}){}", part(1), part(2), part(3));
        }
    }
    let mut flags = 0u8;
    if bound_begin {
        if begin == Begin::Start {
            flags |= LINE_BEGIN;
            regex = format!(r"^(?:\W{{0,2}})?{regex}");
            if !name.starts_with("{^LN-BEG}") {
                name.insert_str(0, "{^LN-BEG}");
            }
        } else {
            flags |= WORD_BEGIN;
            regex = format!(r"(?=^|\b|\W){regex}");
        }
    }
    if bound_end {
        flags |= WORD_END;
        regex.push_str(r"(?=\b|\W|$)");
    }
    if flags & LINE_BEGIN == 0
        && find(
            helper(
                &RE_LINE_BOUND_BEG,
                r"^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))",
            ),
            &regex,
        )
        .is_some()
    {
        flags |= LINE_BEGIN;
    }
    if flags & LINE_END == 0
        && find(helper(&RE_LINE_BOUND_END, r"(?<![\\|])(?:\$\)?)$"), &regex).is_some()
    {
        flags |= LINE_END;
    }
    let re_del = helper(
        &RE_DEL_WRD_BOUNDS,
        r"^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$",
    );
    regex = sub_all(re_del, &regex, |m| m.replace("**", ""));
    if let Some(g) = flags_group {
        regex.insert_str(0, &g);
    }
    (regex, flags)
}

/// The strptime-like directives: (directive, display name, regex).
/// Regexes are Python's (C locale), with fail2ban's overrides.
const DIRECTIVES: &[(&str, &str, &str)] = &[
    ("ExZ", "ExZone name", r"(?P<Z>[A-Z](?:[A-Z]{2,4})?)"),
    (
        "Exz",
        "ExZone offset",
        r"(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)",
    ),
    ("Exd", "ExDay", r"(?P<d>[1-2]\d|0[1-9]|3[0-1])"),
    ("Exm", "ExMonth", r"(?P<m>0[1-9]|1[0-2])"),
    ("ExH", "Ex24hour", r"(?P<H>[0-1]\d|2[0-3])"),
    ("Exk", "Ex%k", r" ?(?P<H>[0-1]?\d|2[0-3])"),
    ("Exl", "Ex%l", r" ?(?P<I>1[0-2]|\d)"),
    ("ExM", "ExMinute", r"(?P<M>[0-5]\d)"),
    ("ExS", "ExSecond", r"(?P<S>[0-5]\d|6[0-1])"),
    ("ExY", "ExYear", EXY_MARK),
    ("Exy", "ExYear2", r"(?P<y>\d{2})"),
    ("d", "Day", r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])"),
    ("f", "Microseconds", r"(?P<f>[0-9]{1,6})"),
    ("H", "24hour", r"(?P<H>[0-1]?\d|2[0-3])"),
    ("I", "12hour", r"(?P<I>1[0-2]|0[1-9]|[1-9])"),
    ("G", "%G", r"(?P<G>\d\d\d\d)"),
    (
        "j",
        "Yearday",
        r"(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
    ),
    ("m", "Month", r"(?P<m>0?[1-9]|1[0-2])"),
    ("M", "Minute", r"(?P<M>[0-5]?\d)"),
    ("S", "Second", r"(?P<S>[0-5]?\d|6[0-1])"),
    ("U", "Yearweek", r"(?P<U>5[0-3]|[0-4]\d|\d)"),
    ("w", "Weekday", r"(?P<w>[0-6])"),
    ("u", "%u", r"(?P<u>[1-7])"),
    ("V", "%V", r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)"),
    ("y", "Year2", r"(?P<y>\d\d)"),
    ("Y", "Year", r"(?P<Y>\d{4})"),
    (
        "z",
        "Zone offset",
        r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)",
    ),
    (
        "A",
        "DAYNAME",
        r"(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)",
    ),
    ("a", "DAY", r"(?P<a>mon|tue|wed|thu|fri|sat|sun)"),
    (
        "B",
        "MONTH",
        r"(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)",
    ),
    (
        "b",
        "MON",
        r"(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
    ),
    ("p", "AMPM", r"(?P<p>am|pm)"),
    ("Z", "Zone name", r"(?P<Z>Z|[A-Z]{3,5})"),
    ("%", "%", "%"),
    ("W", "Yearweek", r"(?P<W>5[0-3]|[0-4]\d|\d)"),
    (
        "c",
        "%c",
        r"(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)",
    ),
    (
        "x",
        "%x",
        r"(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)",
    ),
    (
        "X",
        "%X",
        r"(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)",
    ),
    ("k", "%k", r" ?(?P<H>[0-2]?\d)"),
    ("l", "%l", r" ?(?P<I>1?\d)"),
];

/// Replace `%` directives: returns (display name, regex source).
/// Any `%` that does not start a known directive is an error, as in
/// fail2ban (where it surfaces as a string-formatting failure).
fn expand_directives(pattern: &str) -> Result<(String, String), String> {
    let mut name = String::with_capacity(pattern.len());
    let mut regex = String::with_capacity(pattern.len() * 4);
    let mut rest = pattern;
    while let Some(p) = rest.find('%') {
        name.push_str(&rest[..p]);
        regex.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        // Multi-letter directives come first, like the alternation order.
        let hit = DIRECTIVES
            .iter()
            .filter(|(d, _, _)| d.len() > 1)
            .chain(DIRECTIVES.iter().filter(|(d, _, _)| d.len() == 1))
            .find(|(d, _, _)| after.starts_with(d));
        let Some((d, n, r)) = hit else {
            let shown: String = after.chars().take(3).collect();
            return Err(format!(
                "unsupported format directive '%{shown}' (a literal percent sign must be written %%)"
            ));
        };
        name.push_str(n);
        regex.push_str(r);
        rest = &after[d.len()..];
    }
    name.push_str(rest);
    regex.push_str(rest);
    Ok((name, regex))
}

fn bad(pattern: &str, message: impl Into<String>) -> Error {
    Error::Pattern {
        pattern: pattern.to_string(),
        message: message.into(),
    }
}

/// A strptime-like template (`DatePatternRegex`).
pub(crate) fn pattern_template(pattern: &str) -> Result<Template, Error> {
    let mut p = pattern;
    let mut begin = Begin::Word;
    let mut word_end = true;
    if let Some(r) = p.strip_prefix("{UNB}") {
        p = r;
        begin = Begin::None;
        word_end = false;
    }
    if begin != Begin::None {
        if let Some(r) = p.strip_prefix("{^LN-BEG}") {
            p = r;
            begin = Begin::Start;
        }
    }
    let (mut name, mut regex) = expand_directives(p).map_err(|m| bad(pattern, m))?;
    if has_alpha_directive(p) {
        regex.insert_str(0, "(?iu)");
    }
    let (regex, flags) = finish_regex(&regex, begin, word_end, &mut name);
    Ok(Template {
        name,
        pattern: Some(pattern.to_string()),
        regex,
        flags,
        weight: 1.0,
        kind: Kind::Pattern,
    })
}

/// `%a %A %b %B %p %c` (not after another `%`) make the date case-insensitive.
fn has_alpha_directive(p: &str) -> bool {
    let b = p.as_bytes();
    (0..b.len().saturating_sub(1)).any(|i| {
        b[i] == b'%'
            && matches!(b[i + 1], b'a' | b'A' | b'b' | b'B' | b'p' | b'c')
            && (i == 0 || b[i - 1] != b'%')
    })
}

const EPOCH_RE: &str = r"\d{10,11}\b(?:\.\d{3,6})?";
const LONG_EPOCH_RE: &str = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?";

/// Unix-time templates (`EPOCH`, `LEPOCH`, anchored, or `{EPOCH}` inside a
/// custom pattern).
pub(crate) fn epoch_template(line_begin_only: bool, pattern: Option<&str>, long: bool) -> Template {
    let num = if long { LONG_EPOCH_RE } else { EPOCH_RE };
    let mut name = match (pattern, long) {
        (Some(p), _) => p.to_string(),
        (None, true) => "LongEpoch".to_string(),
        (None, false) => "Epoch".to_string(),
    };
    let (src, begin, group) = if let Some(p) = pattern {
        let inner = sub_all(epoch_marker_re(), p, |_| format!("({num})"));
        (format!("({inner})"), Begin::Word, 2)
    } else if !line_begin_only {
        (
            format!(
                r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\())){num})(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))"
            ),
            Begin::None,
            1,
        )
    } else {
        (
            format!(r"((?P<square>(?<=^\[))?{num})(?(square)(?=\]))"),
            Begin::Start,
            1,
        )
    };
    let (regex, flags) = finish_regex(&src, begin, true, &mut name);
    Template {
        name,
        pattern: None,
        regex,
        flags,
        weight: 1.0,
        kind: Kind::Epoch { long, group },
    }
}

fn epoch_marker_re() -> &'static Regex {
    helper(&RE_EPOCH_PATTERN, r"(?i)(?<!\\)\{L?EPOCH\}")
}

pub(crate) fn tai64n_template(begin: Begin) -> Template {
    let mut name = "TAI64N".to_string();
    let (regex, flags) = finish_regex("@[0-9a-f]{24}", begin, true, &mut name);
    Template {
        name,
        pattern: None,
        regex,
        flags,
        weight: 1.0,
        kind: Kind::Tai64n,
    }
}

/// One `datepattern` entry that names a single template.
pub(crate) fn single_template(pattern: &str) -> Result<Template, Error> {
    let key = pattern_key(pattern);
    if key.contains("EPOCH") {
        if find(epoch_marker_re(), pattern).is_some() {
            return Ok(epoch_template(false, Some(pattern), key.contains("LEPOCH")));
        }
        match key.as_str() {
            "EPOCH" | "{^LN-BEG}EPOCH" | "^EPOCH" => {
                return Ok(epoch_template(key != "EPOCH", None, false))
            }
            "LEPOCH" | "{^LN-BEG}LEPOCH" | "^LEPOCH" => {
                return Ok(epoch_template(key != "LEPOCH", None, true))
            }
            _ => {}
        }
    }
    match key.as_str() {
        "TAI64N" => Ok(tai64n_template(Begin::None)),
        "{^LN-BEG}TAI64N" | "^TAI64N" => Ok(tai64n_template(Begin::Start)),
        _ => pattern_template(pattern),
    }
}

/// Keyword entries are case-insensitive unless they contain `%`.
pub(crate) fn pattern_key(pattern: &str) -> String {
    if pattern.contains('%') {
        pattern.to_string()
    } else {
        pattern.to_uppercase()
    }
}

/// The 17 base default patterns, in fail2ban's order.
pub(crate) const DEFAULT_PATTERNS: [&str; 17] = [
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    r"%m/%d/%ExY:%H:%M:%S",
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    "EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    r"%b %d, %ExY %I:%M:%S %p",
    r"^%b-%d-%Exy %k:%M:%S",
    r"%ExY%Exm%Exd(?:-|T|  ?)%ExH:?%ExM:?%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    "TAI64N",
];

/// The base templates (built once; they are pure functions of fixed text).
pub(crate) fn base_templates() -> &'static [Template] {
    static BASE: OnceLock<Vec<Template>> = OnceLock::new();
    BASE.get_or_init(|| {
        DEFAULT_PATTERNS
            .iter()
            .map(|p| single_template(p).expect("built-in default date pattern"))
            .collect()
    })
}

/// Re-create a template with its pattern (or, for epoch/TAI64N templates,
/// its name) rewritten by `wrap`, the way fail2ban derives anchored copies
/// and `{DATE}` substitutions.
fn rewrap(t: &Template, wrap: impl Fn(&str) -> String) -> Result<Template, Error> {
    match &t.pattern {
        Some(p) => single_template(&wrap(p)),
        None => single_template(&wrap(&t.name)),
    }
}

/// The 31 default templates: `{^LN-BEG}` copies (weight 100) of every base
/// template not already anchored, then the 17 base templates.
pub(crate) fn default_templates() -> &'static [Template] {
    static ALL: OnceLock<Vec<Template>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut copies = Vec::new();
        for t in base_templates() {
            if t.name.starts_with("{^LN-BEG}") || t.name.starts_with('^') {
                continue;
            }
            let mut c = rewrap(t, |s| format!("{{^LN-BEG}}{s}")).expect("anchored default pattern");
            if c.name != t.name {
                c.weight = 100.0;
                copies.push(c);
            }
        }
        copies.extend(base_templates().iter().cloned());
        copies
    })
}

/// Remove boundary markers from a pattern before it replaces `{DATE}`.
fn unbound(pattern: &str) -> String {
    let mut s = pattern.strip_prefix("{UNB}").unwrap_or(pattern);
    s = s.strip_prefix("{^LN-BEG}").unwrap_or(s);
    for pre in [r"(^|\b|\W)", r"(?:^|\b|\W)"] {
        if let Some(r) = s.strip_prefix(pre) {
            s = r;
            break;
        }
    }
    s.strip_suffix(r"(?=\b|\W|$)").unwrap_or(s).to_string()
}

/// Templates for an entry containing `{DATE}`: one per base template.
pub(crate) fn date_templates(entry: &str) -> Result<Vec<Template>, Error> {
    let re = helper(&RE_DATE_PREMATCH, r"(?i)(?<!\\)\{DATE\}");
    base_templates()
        .iter()
        .map(|t| rewrap(t, |s| sub_all(re, entry, |_| unbound(s))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_errors_name_the_directive() {
        let e = pattern_template("%Y-%q").unwrap_err().to_string();
        assert!(e.contains("%Y-%q") && e.contains("%q"), "{e}");
        assert!(pattern_template("100%").is_err());
        assert!(pattern_template("%Y 100%%").is_ok());
    }

    #[test]
    fn wrap_rules() {
        let t = pattern_template("%H:%M:%S").unwrap();
        assert_eq!(t.name, "24hour:Minute:Second");
        assert_eq!(
            t.regex,
            r"(?=^|\b|\W)((?P<H>[0-1]?\d|2[0-3]):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1]))(?=\b|\W|$)"
        );
        assert_eq!(t.flags, WORD_BEGIN | WORD_END);
        // `^` anchors: no start boundary, LINE_BEGIN flag.
        let t = pattern_template("^%H").unwrap();
        assert_eq!(t.regex, r"^((?P<H>[0-1]?\d|2[0-3]))(?=\b|\W|$)");
        assert_eq!(t.flags, LINE_BEGIN | WORD_END);
        // `$` at the end: no end boundary, LINE_END.
        let t = pattern_template("%H$").unwrap();
        assert_eq!(t.regex, r"(?=^|\b|\W)((?P<H>[0-1]?\d|2[0-3]))$");
        assert_eq!(t.flags, WORD_BEGIN | LINE_END);
        // `**` disables the boundary on its side and is removed.
        let t = pattern_template("**%H**").unwrap();
        assert_eq!(t.regex, r"((?P<H>[0-1]?\d|2[0-3]))");
        assert_eq!(t.flags, 0);
        let t = pattern_template("^WARNING:()**").unwrap();
        assert_eq!(t.regex, r"^WARNING:()");
        // {UNB}: nothing added.
        let t = pattern_template("{UNB}%H").unwrap();
        assert_eq!(t.regex, r"((?P<H>[0-1]?\d|2[0-3]))");
        // Existing group is kept as group 1.
        let t = pattern_template(r"x(%H)y").unwrap();
        assert_eq!(t.regex, r"(?=^|\b|\W)x((?P<H>[0-1]?\d|2[0-3]))y(?=\b|\W|$)");
        // Name directives make it case-insensitive; flags moved to front.
        let t = pattern_template("{^LN-BEG}%b").unwrap();
        assert_eq!(t.name, "{^LN-BEG}MON");
        assert!(
            t.regex.starts_with(r"(?iu)^(?:\W{0,2})?((?P<b>"),
            "{}",
            t.regex
        );
        assert_eq!(t.flags, LINE_BEGIN | WORD_END);
        // `%%b` is a literal percent then `b`: not case-insensitive.
        let t = pattern_template("%%b").unwrap();
        assert!(!t.regex.contains("(?iu)"));
    }

    #[test]
    fn keyword_templates() {
        let t = single_template("{^LN-BEG}Epoch").unwrap();
        assert_eq!(t.name, "{^LN-BEG}Epoch");
        assert!(t.anchored());
        let t = single_template("lepoch").unwrap();
        assert_eq!(t.name, "LongEpoch");
        assert_eq!(
            t.kind,
            Kind::Epoch {
                long: true,
                group: 1
            }
        );
        let t = single_template(r"^x={EPOCH}").unwrap();
        assert_eq!(
            t.kind,
            Kind::Epoch {
                long: false,
                group: 2
            }
        );
        assert_eq!(t.name, r"^x={EPOCH}");
        let t = single_template("^TAI64N").unwrap();
        assert_eq!(t.name, "{^LN-BEG}TAI64N");
        assert_eq!(t.kind, Kind::Tai64n);
    }

    #[test]
    fn unbound_strips_markers() {
        assert_eq!(unbound("{^LN-BEG}%H"), "%H");
        assert_eq!(unbound(r"(?:^|\b|\W)x(?=\b|\W|$)"), "x");
        assert_eq!(unbound("{UNB}^%H"), "^%H");
    }
}
