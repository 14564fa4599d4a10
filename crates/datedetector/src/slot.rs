//! A template's slot in the detector: its hit counts and last position
//! (`Pos`, `Seen`), the conversion memo, and the constants of the
//! template order (fail2ban's `DateDetector` keeps these per template).

use super::*;

/// Position memo of the last match: character index, character before it,
/// character at it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pos {
    pub(crate) at: usize,
    pub(crate) before: Option<char>,
    pub(crate) here: Option<char>,
}

/// The bytes a recogniser read of the last line it accepted (the date and
/// the two after it), whether they were the whole line, and where its `%f`
/// digits were: a line that reads the same (any digits there) gets the
/// same spans without asking again, as lines of one second do. Empty:
/// nothing remembered.
#[derive(Clone, Default)]
pub(crate) struct Seen {
    pub(crate) bytes: Vec<u8>,
    pub(crate) whole: bool,
    pub(crate) f: Option<(usize, usize)>,
}

impl Seen {
    /// Would the recogniser read `b` as it read the remembered line?
    pub(crate) fn reads_the_same(&self, b: &[u8]) -> bool {
        let seen = self.bytes.as_slice();
        let n = seen.len();
        if n == 0 || b.len() < n || (self.whole && b.len() != n) {
            return false;
        }
        match self.f {
            None => b[..n] == *seen,
            Some((fs, fe)) => {
                b[..fs] == seen[..fs]
                    && b[fs..fe].iter().all(u8::is_ascii_digit)
                    && b[fe..n] == seen[fe..]
            }
        }
    }

    /// Remember line `b`, accepted with the date (group 0) at `date` and
    /// `%f` at `f`.
    pub(crate) fn remember(
        &mut self,
        b: &[u8],
        date: Option<(usize, usize)>,
        f: Option<(usize, usize)>,
    ) {
        // (a recogniser reads the date and at most two bytes after it; of
        // `%f` only how many digits there are)
        let n = (date.map_or(0, |(_, e)| e) + 2).min(b.len());
        self.bytes.clear();
        self.bytes.extend_from_slice(&b[..n]);
        self.whole = n == b.len();
        self.f = f.filter(|&(fs, fe)| fs <= fe && fe <= n);
    }

    pub(crate) fn forget(&mut self) {
        self.bytes.clear();
    }

    /// Is what was read ASCII (so that byte and character positions in it
    /// agree)?
    pub(crate) fn is_ascii(&self) -> bool {
        self.bytes.is_ascii()
    }
}

pub(crate) struct Slot {
    pub(crate) tpl: Template,
    pub(crate) regex: Option<Regex>,
    /// Capture storage of the last search of `regex`, reused between lines.
    pub(crate) locs: Option<Locations>,
    /// Hand-written recogniser for this template (see `fast.rs`), and the
    /// spans of its last answer, which stand in for `locs` when `fast_hit`.
    pub(crate) fast: Option<fast::Fast>,
    pub(crate) fast_spans: Vec<Option<(usize, usize)>>,
    pub(crate) fast_hit: bool,
    /// What the recogniser read of the last line it accepted.
    pub(crate) fast_seen: Seen,
    /// Named groups the conversion reads: (group index, name, which of
    /// year / month / day it gives: [`HAS_Y`], [`HAS_M`], [`HAS_D`]).
    pub(crate) fields: Vec<(usize, String, u8)>,
    /// Last conversion of this template: key (see [`DateDetector::convert`])
    /// and result.
    pub(crate) memo: Option<Memo>,
    /// For dates the recogniser found: the date text (without its `%f`
    /// part), `now` and the result of the last conversion, so that a line
    /// of the same second needs one comparison (see `convert`).
    pub(crate) text_memo: Option<(String, u64, Result<f64, ConversionFailure>)>,
    /// Group index of `%f`, if the template has one.
    pub(crate) f_group: Option<usize>,
    /// Lines won (fail2ban's per-detector `hits`).
    pub(crate) hits: u64,
    /// Successful searches, winner or not (fail2ban's per-template `hits`).
    pub(crate) matched: u64,
    pub(crate) last_used: f64,
    pub(crate) distance: usize,
    /// Position in the initial template list (identifies the slot when
    /// templates move).
    pub(crate) id: usize,
}

impl Clone for Slot {
    fn clone(&self) -> Slot {
        Slot {
            tpl: self.tpl.clone(),
            regex: self.regex.clone(),
            locs: self.regex.as_ref().map(Regex::locations),
            fast: self.fast.clone(),
            fast_spans: self.fast_spans.clone(),
            fast_hit: self.fast_hit,
            fast_seen: self.fast_seen.clone(),
            fields: self.fields.clone(),
            memo: self.memo.clone(),
            text_memo: self.text_memo.clone(),
            f_group: self.f_group,
            hits: self.hits,
            matched: self.matched,
            last_used: self.last_used,
            distance: self.distance,
            id: self.id,
        }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("tpl", &self.tpl)
            .field("regex", &self.regex)
            .field("hits", &self.hits)
            .field("matched", &self.matched)
            .field("last_used", &self.last_used)
            .field("distance", &self.distance)
            .finish()
    }
}

impl Slot {
    pub(crate) fn new(tpl: Template, regex: Option<Regex>, id: usize) -> Slot {
        let mut s = Slot {
            id,
            tpl,
            regex: None,
            locs: None,
            fast: None,
            fast_spans: Vec::new(),
            fast_hit: false,
            fast_seen: Seen::default(),
            fields: Vec::new(),
            memo: None,
            text_memo: None,
            f_group: None,
            hits: 0,
            matched: 0,
            last_used: 0.0,
            distance: FAR,
        };
        s.set_regex(regex);
        s
    }

    pub(crate) fn set_regex(&mut self, regex: Option<Regex>) {
        self.locs = regex.as_ref().map(Regex::locations);
        self.fast = regex
            .as_ref()
            .and_then(|re| fast::Fast::for_template(&self.tpl.regex, re.capture_names()));
        self.fast_hit = false;
        self.fast_seen.forget();
        self.fields = regex
            .as_ref()
            .map(|re| {
                re.capture_names()
                    .iter()
                    .enumerate()
                    .filter_map(|(g, n)| {
                        let n = n.as_deref()?;
                        let kind = match n {
                            "y" | "Y" => HAS_Y,
                            "m" | "b" | "B" => HAS_M,
                            "d" => HAS_D,
                            _ => 0,
                        };
                        convert::is_field(n).then(|| (g, n.to_string(), kind))
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.memo = None;
        self.text_memo = None;
        self.f_group = regex.as_ref().and_then(|re| {
            re.capture_names()
                .iter()
                .position(|n| n.as_deref() == Some("f"))
        });
        self.regex = regex;
    }

    /// Span of group `g` of the last successful search.
    pub(crate) fn get(&self, g: usize) -> Option<(usize, usize)> {
        if self.fast_hit {
            self.fast_spans.get(g).copied().flatten()
        } else {
            self.locs.as_ref()?.get(g)
        }
    }

    pub(crate) fn copy_spans(&self) -> Option<Vec<Option<(usize, usize)>>> {
        if self.fast_hit {
            Some(self.fast_spans.clone())
        } else {
            self.locs.as_ref().map(copy_spans)
        }
    }

    pub(crate) fn weight(&self) -> f64 {
        self.hits as f64 * self.tpl.weight / self.distance.max(1) as f64
    }
}

/// A memoised conversion: which of the template's fields took part
/// (`mask`, bit i for field i), their texts one after the other (`text`,
/// `ends`), `now` when it mattered, and the result. The names are the
/// template's, so the texts and the mask identify the input.
#[derive(Clone)]
pub(crate) struct Memo {
    pub(crate) mask: u64,
    pub(crate) text: String,
    pub(crate) ends: Vec<usize>,
    pub(crate) now: Option<u64>,
    pub(crate) result: Result<f64, ConversionFailure>,
}

impl Memo {
    /// Does this memo hold the conversion of these field texts (at `now`)?
    /// Compares in place, so a hit costs no key building.
    pub(crate) fn matches(&self, mask: u64, values: &[(&str, &str)], now: Option<u64>) -> bool {
        if self.mask != mask || self.now != now || self.ends.len() != values.len() {
            return false;
        }
        let mut start = 0;
        for (&end, (_, v)) in self.ends.iter().zip(values) {
            if self.text.as_bytes().get(start..end) != Some(v.as_bytes()) {
                return false;
            }
            start = end;
        }
        true
    }

    pub(crate) fn new(
        mask: u64,
        values: &[(&str, &str)],
        now: Option<u64>,
        r: &Result<f64, ConversionFailure>,
    ) -> Memo {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(values.len());
        for (_, v) in values {
            text.push_str(v);
            ends.push(text.len());
        }
        Memo {
            mask,
            text,
            ends,
            now,
            result: r.clone(),
        }
    }
}

/// [`Slot::fields`] kinds: the field gives the year, month or day.
pub(crate) const HAS_Y: u8 = 1;
pub(crate) const HAS_M: u8 = 2;
pub(crate) const HAS_D: u8 = 4;

/// Where the group spans of a winning match live: in the template's own
/// reusable [`Locations`] (the common case, no allocation), or copied out
/// because the template was searched again after this candidate was found.
pub(crate) enum Spans {
    Slot,
    Owned(Vec<Option<(usize, usize)>>),
}

pub(crate) fn copy_spans(l: &Locations) -> Vec<Option<(usize, usize)>> {
    (0..l.len()).map(|i| l.get(i)).collect()
}

pub(crate) const FAR: usize = 0x7fff_ffff;
/// A template unused for this long may be displaced by a newcomer.
pub(crate) const UNUSED_TIME: f64 = 300.0;
/// The year used to pre-compile templates before the first `find`.
pub(crate) const INITIAL_REFERENCE_YEAR: i64 = 2026;
