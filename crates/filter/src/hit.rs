//! One failregex match and what a line's examination hands from
//! [`Filter::examine`] to [`Filter::settle`].

use super::*;

/// `_updateUsers`: add `user` to the `users` set of `fail`; returns the
/// set's size (`None`: no set; only "more than one user" matters).
pub(crate) fn update_users(fail: &mut Data, user: Option<&str>) -> Option<usize> {
    match user {
        Some(u) if !u.is_empty() => match fail.get_mut("users") {
            Some(Value::Set(set)) => {
                set.insert(Str::from(u));
                Some(set.len())
            }
            _ => {
                fail.insert("users", Value::Set(BTreeSet::from([Str::from(u)])));
                Some(1)
            }
        },
        _ => match fail.get("users") {
            Some(Value::Set(s)) if !s.is_empty() => Some(s.len()),
            _ => None,
        },
    }
}

/// The single-line buffer the regexes see: `line` without `cut`, and the
/// buffer's trailing newline.
pub(crate) fn buffer_text(text: &mut String, line: &str, cut: Option<(usize, usize)>) {
    text.clear();
    match cut {
        Some((s, e)) => {
            text.push_str(&line[..s]);
            text.push_str(&line[e..]);
        }
        None => text.push_str(line),
    }
    text.push('\n');
}

/// The byte span of a found date that is cut out of the line: its text,
/// when not empty and on character boundaries.
pub(crate) fn date_span(line: &str, h: &DateHit) -> Option<(usize, usize)> {
    (h.start < h.end && line.get(h.start..h.end).is_some()).then_some((h.start, h.end))
}

/// Date decisions for one line (see `Filter::date_decision`).
pub(crate) struct Dated {
    pub(crate) date: Option<f64>,
    /// No date of its own was found (or converted).
    pub(crate) no_date: bool,
    /// Byte span of the date, removed before matching.
    pub(crate) cut: Option<(usize, usize)>,
    /// The buffer line carries the last date's text (undated line).
    pub(crate) from_last: bool,
}

/// One failregex match as failure data: the prefregex's groups overridden
/// by the failregex's.
#[derive(Debug)]
pub(crate) struct Hit {
    pub(crate) data: HitData,
    /// The first of the ID groups the failregex itself has (only the key:
    /// its value is in `fail`, and nothing touches these keys before it is
    /// needed when there is no mlfid).
    pub(crate) id_fallback: Option<&'static str>,
}

/// A hit's failure data, or where it lies in the line (planned hits; most
/// are settled without building it, see `Filter::forgotten`).
#[derive(Debug)]
pub(crate) enum HitData {
    Data(Data),
    Spans(regex::Spans),
}

/// Where the regexes' buffer lies in the line it was built from (the
/// line without the date span `cut`, then a newline).
#[derive(Clone, Copy)]
pub(crate) struct LineMap {
    pub(crate) cut: Option<(usize, usize)>,
    pub(crate) len: usize,
}

impl LineMap {
    /// The span `s..e` of the buffer in the line, unless it straddles the
    /// cut or takes in the buffer's newline.
    pub(crate) fn place(self, s: usize, e: usize) -> Option<(u32, u32)> {
        let (s, e) = match self.cut {
            Some((cs, _)) if s < cs && e > cs => return None,
            Some((cs, ce)) => {
                let after = |p: usize| {
                    if p > cs || (p == cs && s >= cs) {
                        p + ce - cs
                    } else {
                        p
                    }
                };
                (after(s), after(e))
            }
            None => (s, e),
        };
        (e <= self.len).then_some(())?;
        Some((u32::try_from(s).ok()?, u32::try_from(e).ok()?))
    }
}

/// The matched-lines part of `_mergeFailure` (`nf`: its flags).
pub(crate) fn keep_matches(fail: &mut Data, nf: u8, matched: &[String]) {
    if nf & 1 == 0 {
        let mut m = match fail.remove("nofail-matches") {
            Some(Value::Lines(l)) => l,
            _ => Vec::new(),
        };
        if let Some(Value::Lines(l)) = fail.get("matches") {
            m.extend(l.iter().cloned());
        }
        if nf & 8 == 0 {
            m.extend(matched.iter().cloned());
        }
        fail.insert("matches", Value::Lines(m));
    } else if nf & 3 == 1 {
        let mut m = match fail.remove("nofail-matches") {
            Some(Value::Lines(l)) => l,
            _ => Vec::new(),
        };
        m.extend(matched.iter().cloned());
        fail.insert("nofail-matches", Value::Lines(m));
    }
}

impl Hit {
    /// A failregex match with a [`DataPlan`] on the content of `text`
    /// (which starts at `content_at`, `text` lying in the line as `at`
    /// says): where its values lie in the line, or its data when one
    /// cannot be placed there.
    pub(crate) fn planned(
        plan: &DataPlan,
        head: &Locations,
        locs: &Locations,
        (text, content_at, at): (&str, usize, LineMap),
        ftext: &str,
    ) -> Hit {
        let mut spans = regex::Spans::new();
        match plan.spans(head, locs, content_at, |s, e| at.place(s, e), &mut spans) {
            Some(id_fallback) => Hit {
                data: HitData::Spans(spans),
                id_fallback,
            },
            None => {
                let (fail, id_fallback) = plan.build(head, text, locs, ftext);
                Hit {
                    data: HitData::Data(fail),
                    id_fallback,
                }
            }
        }
    }

    /// From the prefregex's groups and the failregex's (taken from
    /// `groups`, which is left empty for reuse).
    pub(crate) fn new(pre_groups: &[(Str, Value)], groups: &mut Vec<(Str, Value)>) -> Hit {
        let id_fallback = ID_GROUPS
            .into_iter()
            .find(|g| groups.iter().any(|(k, _)| k == g));
        Hit {
            data: HitData::Data(Data::merged_drain(pre_groups, groups)),
            id_fallback,
        }
    }
}

/// Control flow after one failregex match (see `Filter::add_failure`).
pub(crate) enum Flow {
    Next,
    Done,
}

/// Regex results on a single-line buffer; they depend on its text only.
#[derive(Debug, Default)]
pub(crate) struct Matches {
    /// Ignoreregex hits before any failregex ran (then nothing else ran).
    pub(crate) early_ignored: Vec<usize>,
    /// The prefregex did not match (no failregex ran).
    pub(crate) pre_failed: bool,
    /// Failregexes that matched, in order, with their data (one, mostly:
    /// kept inline).
    pub(crate) hits: smallvec::SmallVec<[(usize, Hit); 1]>,
    /// Ignoreregex hits on the failregex buffer (run when one matched).
    pub(crate) late_ignored: Vec<usize>,
    /// A failregex that could not finish its search (the first one's
    /// error); the others still ran.
    pub(crate) exhausted: Option<String>,
}

/// What the regexes made of a line.
#[derive(Debug)]
pub(crate) enum Scan {
    /// No failregex can match (candidate DFA or literal prefilter).
    Rejected,
    Matched(Box<Matches>),
    Failed(FilterError),
}

/// A line examined by a [`Filter::fork`], to be settled in line order
/// with [`Filter::settle`].
#[derive(Debug)]
pub struct Examined {
    pub(crate) hit: Option<DateHit>,
    /// The span cut out of the line before matching.
    pub(crate) cut: Option<(usize, usize)>,
    pub(crate) scan: Scan,
    pub(crate) pref: Option<bool>,
}

impl Examined {
    /// A line no regex can match and whose date, if any, converted:
    /// settling it would only make that date the last one (returned with
    /// its byte span). `None`: the line needs [`Filter::settle`]. A run of
    /// such lines is settled at once with [`Filter::settle_quiet`].
    pub fn quiet(&self) -> Option<Option<(f64, (usize, usize))>> {
        if !matches!(self.scan, Scan::Rejected) {
            return None;
        }
        match (&self.hit, self.cut) {
            (None, _) => Some(None),
            (Some(DateHit { time: Some(t), .. }), Some(span)) => Some(Some((*t, span))),
            _ => None,
        }
    }

    /// Whether the prefregex matches (with [`FilterSpec::count_prefregex`]).
    pub fn prefregex(&self) -> Option<bool> {
        self.pref
    }
}
