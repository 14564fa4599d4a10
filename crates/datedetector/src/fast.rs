//! Hand-written recognisers for the two most common date templates, so
//! that the typical line costs a few byte comparisons instead of a PCRE2
//! call: syslog's `Mon dd HH:MM:SS` (the line-anchored copy of `(?:%a )?%b
//! %d %k:%M:%S(?:\.%f)?(?: %ExY)?`) and ISO's `YYYY-mm-dd HH:MM:SS(.ffffff)`
//! (the line-anchored copy of `%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)
//! %H:%M:%S(?:[.,]%f)?(?:\s*%z)?`, and freeswitch's `datepattern`
//! `^(?:%Y-)?%m-%d[ T]%H:%M:%S(?:\.%f)?`).
//!
//! Each answers only for a plain form (ASCII, two-digit fields, the date
//! followed by the end of the line or by a space and nothing that could
//! extend it: a year, a time zone) and then gives exactly the group spans
//! PCRE2 gives: for these inputs the first success in PCRE2's backtracking
//! order is the parse below (each choice taken is the first one the engine
//! tries, and the rest then succeeds). Anything else is left to PCRE2.
//! `tests.rs` checks the spans against PCRE2 over generated lines, and the
//! whole detector with and without them over the sample logs.
//!
//! A recogniser reads the date and at most two bytes after it, and of `%f`
//! only how many digits it has: the detector reuses its last answer for a
//! line that reads the same (see `Seen`). A change here must
//! keep to that, or widen what the detector compares.

/// The templates' regex sources as [`crate::template`] builds them (with
/// the `%ExY` marker); a recogniser is used only for exactly its source.
pub(crate) const SYSLOG: &str = "(?iu)^(?:\\W{0,2})?((?:(?P<a>mon|tue|wed|thu|fri|sat|sun) )?(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) (?P<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])  ?(?P<H>[0-2]?\\d):(?P<M>[0-5]?\\d):(?P<S>[0-5]?\\d|6[0-1])(?:\\.(?P<f>[0-9]{1,6}))?(?: \u{f8ff}ExY\u{f8ff})?)(?=\\b|\\W|$)";

pub(crate) const ISO: &str = "^(?:\\W{0,2})?(\u{f8ff}ExY\u{f8ff}(?P<_sep>[-/.])(?P<m>0?[1-9]|1[0-2])(?P=_sep)(?P<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])(?:T|  ?)(?P<H>[0-1]?\\d|2[0-3]):(?P<M>[0-5]?\\d):(?P<S>[0-5]?\\d|6[0-1])(?:[.,](?P<f>[0-9]{1,6}))?(?:\\s*(?P<z>Z|UTC|GMT|[+-][01]\\d(?::?\\d{2})?))?)(?=\\b|\\W|$)";

/// freeswitch's `^(?:%Y-)?%m-%d[ T]%H:%M:%S(?:\.%f)?`.
pub(crate) const ISO_USER: &str = "^((?:(?P<Y>\\d{4})-)?(?P<m>0?[1-9]|1[0-2])-(?P<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])[ T](?P<H>[0-1]?\\d|2[0-3]):(?P<M>[0-5]?\\d):(?P<S>[0-5]?\\d|6[0-1])(?:\\.(?P<f>[0-9]{1,6}))?)(?=\\b|\\W|$)";

/// A recogniser for one template.
#[derive(Clone, Debug)]
pub(crate) enum Fast {
    Syslog(Syslog),
    Iso(Iso),
}

impl Fast {
    /// The recogniser for a template with this source and capture names.
    pub(crate) fn for_template(src: &str, names: &[Option<String>]) -> Option<Fast> {
        Syslog::new(src, names)
            .map(Fast::Syslog)
            .or_else(|| Iso::new(src, names).map(Fast::Iso))
    }

    /// The spans (by group index, into `out`) of the template's match on
    /// the whole `line`; `false`: ask PCRE2. `years`: the first three
    /// digits of the years `%ExY` accepts.
    pub(crate) fn recognise(
        &self,
        line: &str,
        out: &mut Vec<Option<(usize, usize)>>,
        years: &[[u8; 3]],
    ) -> bool {
        match self {
            Fast::Syslog(f) => f.recognise(line, out),
            Fast::Iso(f) => f.recognise(line, out, years),
        }
    }
}

/// Group indexes of the syslog template's captures.
#[derive(Clone, Debug)]
pub(crate) struct Syslog {
    groups: usize,
    a: usize,
    b: usize,
    d: usize,
    h: usize,
    m: usize,
    s: usize,
}

const DAYS: [&[u8; 3]; 7] = [b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun"];
const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// The first three bytes of `b`, ASCII-lowercased, as one number (`None`
/// unless all three are ASCII letters: only those can match a name).
fn word3(b: &[u8]) -> Option<u32> {
    let w = b.get(..3)?;
    if !w.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    Some(u32::from_le_bytes([
        w[0] | 0x20,
        w[1] | 0x20,
        w[2] | 0x20,
        0,
    ]))
}

fn name_in(b: &[u8], set: &[&[u8; 3]]) -> bool {
    word3(b).is_some_and(|w| {
        set.iter()
            .any(|n| u32::from_le_bytes([n[0], n[1], n[2], 0]) == w)
    })
}

fn digit(b: Option<&u8>) -> bool {
    b.is_some_and(u8::is_ascii_digit)
}

fn in_range(b: Option<&u8>, lo: u8, hi: u8) -> bool {
    b.is_some_and(|c| (lo..=hi).contains(c))
}

impl Syslog {
    /// For a template whose source is [`SYSLOG`], compiled with these
    /// capture names (group 1 being the unnamed date group).
    pub(crate) fn new(src: &str, names: &[Option<String>]) -> Option<Syslog> {
        if src != SYSLOG || names.get(1).is_none_or(Option::is_some) {
            return None;
        }
        let find = |n: &str| names.iter().position(|x| x.as_deref() == Some(n));
        Some(Syslog {
            groups: names.len(),
            a: find("a")?,
            b: find("b")?,
            d: find("d")?,
            h: find("H")?,
            m: find("M")?,
            s: find("S")?,
        })
    }

    /// The spans (by group index, into `out`) of the template's match on
    /// `line`, when the line starts with the plain form; `false`: ask PCRE2.
    pub(crate) fn recognise(&self, line: &str, out: &mut Vec<Option<(usize, usize)>>) -> bool {
        let b = line.as_bytes();
        // `(?:mon|…) ` is tried first; if it matches, no match without it
        // exists here (day and month names differ), so require the month
        let a = if b.get(3) == Some(&b' ') && name_in(b, &DAYS) {
            Some((0, 3))
        } else {
            None
        };
        let p = if a.is_some() { 4 } else { 0 };
        if !(b.get(p + 3) == Some(&b' ') && name_in(&b[p..], &MONTHS)) {
            return false;
        }
        // %d: `[1-2]\d|[0 ]?[1-9]|3[0-1]`, then a space; the two-character
        // forms below are the engine's first success
        let q = p + 4;
        let (c0, c1) = (b.get(q), b.get(q + 1));
        let day_ok = (in_range(c0, b'1', b'2') && digit(c1))
            || (matches!(c0, Some(b'0' | b' ')) && in_range(c1, b'1', b'9'))
            || (c0 == Some(&b'3') && in_range(c1, b'0', b'1'));
        if !day_ok || b.get(q + 2) != Some(&b' ') {
            return false;
        }
        // HH:MM:SS, two digits each, first digits in the greedy ranges
        let r = q + 3;
        let (t, u) = (r + 3, r + 6);
        let time_ok = in_range(b.get(r), b'0', b'2')
            && digit(b.get(r + 1))
            && b.get(r + 2) == Some(&b':')
            && in_range(b.get(t), b'0', b'5')
            && digit(b.get(t + 1))
            && b.get(t + 2) == Some(&b':')
            && in_range(b.get(u), b'0', b'5')
            && digit(b.get(u + 1));
        if !time_ok {
            return false;
        }
        // then the end, or a space not starting a year (`(?: %ExY)?`)
        let e = u + 2;
        let tail_ok = match b.get(e) {
            None => true,
            Some(b' ') => !b
                .get(e + 1)
                .is_some_and(|c| c.is_ascii_digit() || !c.is_ascii()),
            Some(_) => false,
        };
        if !tail_ok {
            return false;
        }
        out.clear();
        out.resize(self.groups, None);
        out[0] = Some((0, e));
        out[1] = Some((0, e));
        out[self.a] = a;
        out[self.b] = Some((p, p + 3));
        out[self.d] = Some((q, q + 2));
        out[self.h] = Some((r, r + 2));
        out[self.m] = Some((t, t + 2));
        out[self.s] = Some((u, u + 2));
        true
    }
}

/// Group indexes of an ISO template's captures, and which one it is.
#[derive(Clone, Debug)]
pub(crate) struct Iso {
    /// [`ISO_USER`] rather than [`ISO`]: any four-digit year (`%Y`), `-`
    /// only, `.` before the fraction, no zone, and the date ends at `\W`.
    user: bool,
    groups: usize,
    y: usize,
    /// `_sep` ([`ISO`] only).
    sep: Option<usize>,
    m: usize,
    d: usize,
    h: usize,
    mi: usize,
    s: usize,
    f: usize,
}

impl Iso {
    pub(crate) fn new(src: &str, names: &[Option<String>]) -> Option<Iso> {
        let user = src == ISO_USER;
        if !(user || src == ISO) || names.get(1).is_none_or(Option::is_some) {
            return None;
        }
        let find = |n: &str| names.iter().position(|x| x.as_deref() == Some(n));
        let sep = find("_sep");
        if !user && (sep.is_none() || find("z").is_none()) {
            return None;
        }
        Some(Iso {
            user,
            groups: names.len(),
            y: find("Y")?,
            sep,
            m: find("m")?,
            d: find("d")?,
            h: find("H")?,
            mi: find("M")?,
            s: find("S")?,
            f: find("f")?,
        })
    }

    fn recognise(
        &self,
        line: &str,
        out: &mut Vec<Option<(usize, usize)>>,
        years: &[[u8; 3]],
    ) -> bool {
        let b = line.as_bytes();
        // `%ExY` is `(?:<prefixes>)\d`; starting with a digit, `\W{0,2}`
        // takes nothing. `(?:%Y-)?` is tried first, and without it a line
        // starting `dddd-` cannot match (`%m` then needs a `-` after at most
        // two digits), so only the form with the year is taken.
        let year_ok = b.len() >= 4
            && b[..4].iter().all(u8::is_ascii_digit)
            && (self.user || years.iter().any(|y| y[..] == b[..3]));
        if !year_ok {
            return false;
        }
        let sep = b[4..].first().copied();
        let sep_ok = match sep {
            Some(b'-') => true,
            Some(b'/' | b'.') => !self.user,
            _ => false,
        };
        if !sep_ok {
            return false;
        }
        // %m `0?[1-9]|1[0-2]`: two digits (the one-digit `1` of the first
        // branch fails on the separator that must follow)
        let month_ok = (b.get(5) == Some(&b'0') && in_range(b.get(6), b'1', b'9'))
            || (b.get(5) == Some(&b'1') && in_range(b.get(6), b'0', b'2'));
        if !month_ok || b.get(7).copied() != sep {
            return false;
        }
        // %d as in syslog's template, then `T` or one space
        let (c0, c1) = (b.get(8), b.get(9));
        let day_ok = (in_range(c0, b'1', b'2') && digit(c1))
            || (matches!(c0, Some(b'0' | b' ')) && in_range(c1, b'1', b'9'))
            || (c0 == Some(&b'3') && in_range(c1, b'0', b'1'));
        if !day_ok || !matches!(b.get(10), Some(b'T' | b' ')) {
            return false;
        }
        // %H `[0-1]?\d|2[0-3]`, %M `[0-5]?\d`, %S `[0-5]?\d|6[0-1]`
        let hour_ok = (in_range(b.get(11), b'0', b'1') && digit(b.get(12)))
            || (b.get(11) == Some(&b'2') && in_range(b.get(12), b'0', b'3'));
        let time_ok = hour_ok
            && b.get(13) == Some(&b':')
            && in_range(b.get(14), b'0', b'5')
            && digit(b.get(15))
            && b.get(16) == Some(&b':')
            && in_range(b.get(17), b'0', b'5')
            && digit(b.get(18));
        if !time_ok {
            return false;
        }
        // `(?:[.,]%f)?` with `%f` `[0-9]{1,6}`: one to six digits, not
        // followed by another (which would make the engine drop `%f`)
        let mut e = 19;
        let mut f = None;
        if b.get(e) == Some(&b'.') || (!self.user && b.get(e) == Some(&b',')) {
            let k = b[e + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=6).contains(&k) {
                return false;
            }
            f = Some((e + 1, e + 1 + k));
            e += 1 + k;
        }
        // then the end, or one space and nothing a zone (`\s*%z`) could
        // start with
        let tail_ok = match b.get(e) {
            None => true,
            // `(?=\b|\W|$)` after a digit: an ASCII non-word character
            Some(&c) if self.user => c.is_ascii() && !c.is_ascii_alphanumeric() && c != b'_',
            Some(b' ') => b
                .get(e + 1)
                .is_none_or(|&c| c.is_ascii_graphic() && !b"ZUG+-".contains(&c)),
            Some(_) => false,
        };
        if !tail_ok {
            return false;
        }
        out.clear();
        out.resize(self.groups, None);
        out[0] = Some((0, e));
        out[1] = Some((0, e));
        out[self.y] = Some((0, 4));
        if let Some(g) = self.sep {
            out[g] = Some((4, 5));
        }
        out[self.m] = Some((5, 7));
        out[self.d] = Some((8, 10));
        out[self.h] = Some((11, 13));
        out[self.mi] = Some((14, 16));
        out[self.s] = Some((17, 19));
        out[self.f] = f;
        true
    }
}
