//! One compiled filter regex (failregex, ignoreregex or prefregex) and the
//! result of searching it on a line buffer: group values (with `alt_`/`tuple_`
//! post-processing) and the split of the buffer into matched and unmatched
//! lines (`<SKIPLINES>` lines count as unmatched).

use gaoler_matcher::{Locations, Options, Regex};

use crate::{tags, Data, FilterError, Str, UseDns, Value};

/// A line of the buffer: (text before date, date text, text after date).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TupleLine {
    /// The text before the date.
    pub prefix: String,
    /// The date as written.
    pub date: String,
    /// The text after the date.
    pub suffix: String,
}

impl TupleLine {
    /// The full original line.
    pub fn full(&self) -> String {
        let mut s = String::with_capacity(self.prefix.len() + self.date.len() + self.suffix.len());
        s.push_str(&self.prefix);
        s.push_str(&self.date);
        s.push_str(&self.suffix);
        s
    }
    /// The line without its date, as the regexes see it.
    pub fn without_date(&self) -> String {
        let mut s = String::with_capacity(self.prefix.len() + self.suffix.len());
        s.push_str(&self.prefix);
        s.push_str(&self.suffix);
        s
    }
}

/// `"\n".join(prefix+suffix) + "\n"`.
pub fn tuple_lines_buf(lines: &[TupleLine]) -> String {
    // sized up front: growing a String by pushes reallocates several times
    let n: usize = lines
        .iter()
        .map(|l| l.prefix.len() + l.suffix.len() + 1)
        .sum();
    let mut s = String::with_capacity(n.max(1));
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&l.prefix);
        s.push_str(&l.suffix);
    }
    s.push('\n');
    s
}

#[derive(Clone, Debug)]
pub struct FRegex {
    /// Text after tag replacement (what errors and fail2ban-regex show).
    pub text: String,
    pub re: Regex,
    /// (group index, name) of named groups.
    names: Vec<(usize, Str)>,
    /// Sorted `(group name, target)` lists for alt_/tuple_ groups.
    alt: Vec<(Str, Str)>,
    tuple: Vec<(Str, Str)>,
    skiplines: Vec<usize>,
}

/// Result of a successful search.
#[derive(Debug, Default)]
pub struct Match {
    /// Named groups that took part in the match (None groups are dropped),
    /// after alt_/tuple_ post-processing.
    pub groups: Vec<(Str, Value)>,
    pub matched: Vec<TupleLine>,
    pub unmatched: Vec<TupleLine>,
}

/// How the failure data of a prefregex head and one failregex is built
/// straight from their capture locations: what [`FRegex::groups_into`] on
/// both and `Data::merged_drain` give (the failregex's value wins when its
/// group took part), without the two intermediate lists, the clones of the
/// head's values or comparing keys. Only for regexes without alt_/tuple_
/// groups and without a name used twice.
#[derive(Clone)]
pub(crate) struct DataPlan {
    /// In key order: name, the failregex's group, the head's group.
    items: Vec<(Str, Option<usize>, Option<usize>)>,
    /// The failregex's ID groups in `Hit::id_fallback` order.
    ids: Vec<(&'static str, usize)>,
    /// Where the names the failure bookkeeping reads are in `items`.
    pub(crate) known: Known,
}

/// Positions in [`DataPlan`]'s items of the names `Filter::add_failure`
/// reads, so that a hit's values can be read from its spans by position.
#[derive(Clone, Default)]
pub(crate) struct Known {
    pub(crate) mlfid: Option<usize>,
    pub(crate) mlfforget: Option<usize>,
    pub(crate) mlfgained: Option<usize>,
    pub(crate) mlfpending: Option<usize>,
    pub(crate) nofail: Option<usize>,
    /// The ID groups, [`ID_KEYS`](crate::ID_KEYS).
    pub(crate) ids: [Option<usize>; 5],
}

/// Byte spans of a planned hit's values, one per item (`None`: absent).
pub(crate) type Spans = smallvec::SmallVec<[Option<(u32, u32)>; 8]>;

impl DataPlan {
    pub(crate) fn new(pref: &FRegex, fail: &FRegex) -> Option<DataPlan> {
        let plain = |r: &FRegex| {
            r.alt.is_empty()
                && r.tuple.is_empty()
                && r.names
                    .iter()
                    .enumerate()
                    .all(|(i, (_, n))| r.names[..i].iter().all(|(_, m)| m != n))
        };
        if !plain(pref) || !plain(fail) {
            return None;
        }
        let mut items: Vec<(Str, Option<usize>, Option<usize>)> = fail
            .names
            .iter()
            .map(|(i, n)| (n.clone(), Some(*i), None))
            .collect();
        // (the head has every group of the prefregex but the content)
        for (i, n) in pref.names.iter().filter(|(_, n)| n != "content") {
            match items.iter_mut().find(|(m, _, _)| m == n) {
                Some(item) => item.2 = Some(*i),
                None => items.push((n.clone(), None, Some(*i))),
            }
        }
        items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let ids = crate::ID_GROUPS
            .into_iter()
            .filter_map(|k| {
                fail.names
                    .iter()
                    .find(|(_, n)| n == k)
                    .map(|(i, _)| (k, *i))
            })
            .collect();
        let at = |k: &str| items.iter().position(|(n, _, _)| n == k);
        let known = Known {
            mlfid: at("mlfid"),
            mlfforget: at("mlfforget"),
            mlfgained: at("mlfgained"),
            mlfpending: at("mlfpending"),
            nofail: at("nofail"),
            ids: crate::ID_KEYS.map(at),
        };
        Some(DataPlan { items, ids, known })
    }

    /// Where the values of a match lie, in `text` (the failregex ran on
    /// the content, which starts at `content_at` in `text`), mapped by
    /// `map` into the caller's coordinates; `None` when `map` cannot place
    /// one. And the first ID group that took part.
    pub(crate) fn spans(
        &self,
        head: &Locations,
        locs: &Locations,
        content_at: usize,
        map: impl Fn(usize, usize) -> Option<(u32, u32)>,
        out: &mut Spans,
    ) -> Option<Option<&'static str>> {
        out.clear();
        // (the precedence is `build`'s)
        for (_, f, p) in &self.items {
            let v = f
                .and_then(|g| locs.get(g).map(|(s, e)| (content_at + s, content_at + e)))
                .or_else(|| p.and_then(|g| head.get(g)));
            out.push(match v {
                Some((s, e)) => Some(map(s, e)?),
                None => None,
            });
        }
        Some(self.first_id(locs))
    }

    /// The data a hit's [spans](DataPlan::spans) give on `text`, leaving
    /// out item `skip`.
    pub(crate) fn data(
        &self,
        spans: &[Option<(u32, u32)>],
        text: &str,
        skip: Option<usize>,
    ) -> Data {
        let mut items = Vec::with_capacity(self.items.len() + 2);
        for (i, ((name, _, _), span)) in self.items.iter().zip(spans).enumerate() {
            let v = span.and_then(|(s, e)| text.get(s as usize..e as usize));
            if let (Some(v), false) = (v, skip == Some(i)) {
                items.push((name.clone(), Value::Str(Str::from(v))));
            }
        }
        Data::from_sorted(items)
    }

    fn first_id(&self, locs: &Locations) -> Option<&'static str> {
        self.ids
            .iter()
            .find(|(_, g)| locs.get(*g).is_some())
            .map(|(k, _)| *k)
    }

    /// The data of a match: the head's groups in `head` on `text`, the
    /// failregex's in `locs` on `ftext`; and the first of the failregex's
    /// ID groups that took part.
    pub(crate) fn build(
        &self,
        head: &Locations,
        text: &str,
        locs: &Locations,
        ftext: &str,
    ) -> (Data, Option<&'static str>) {
        let mut items = Vec::with_capacity(self.items.len() + 2);
        for (name, f, p) in &self.items {
            let v = f
                .and_then(|g| locs.get(g).map(|(s, e)| &ftext[s..e]))
                .or_else(|| p.and_then(|g| head.get(g).map(|(s, e)| &text[s..e])));
            if let Some(v) = v {
                items.push((name.clone(), Value::Str(Str::from(v))));
            }
        }
        (Data::from_sorted(items), self.first_id(locs))
    }
}

/// A prefregex `HEAD(?P<content>.+)$` on single-line buffers, matched as
/// `HEAD` alone: the content is then the rest of the line. PCRE2 tries
/// `HEAD`'s alternatives in the same order either way, and `.+$` accepts
/// the first one that leaves a non-empty rest without a line break, so
/// the groups are the same; only when the rest is empty (or holds a
/// `\r`, in case PCRE2 treats it as a line break) is the full regex
/// needed. Running `.+$` over the line costs as much as the head.
pub(crate) struct ContentTail {
    head: Regex,
    locs: Locations,
}

impl Clone for ContentTail {
    fn clone(&self) -> Self {
        ContentTail {
            head: self.head.clone(),
            locs: self.head.locations(),
        }
    }
}

/// What [`ContentTail::find`] found.
pub(crate) enum HeadMatch<'a> {
    /// The prefregex does not match.
    No,
    /// It matches; the content group spans these bytes, the other groups
    /// are in these locations (the full prefregex's group numbers).
    Content(usize, usize, &'a Locations),
    /// Run the full prefregex.
    Unsure,
}

impl ContentTail {
    /// For a (single-line) prefregex whose text allows it.
    pub(crate) fn new(pref: &FRegex) -> Option<ContentTail> {
        let head = crate::dfa::prefregex_head(&pref.text)?;
        let head = Regex::new_pcre2(head, Options::default()).ok()?;
        let locs = head.locations();
        Some(ContentTail { head, locs })
    }

    /// [`ContentTail::find`] when there is a head; else run the full
    /// prefregex.
    pub(crate) fn find_in<'a>(
        tail: Option<&'a mut ContentTail>,
        buf: &str,
    ) -> Result<HeadMatch<'a>, FilterError> {
        match tail {
            Some(t) => t.find(buf),
            None => Ok(HeadMatch::Unsure),
        }
    }

    pub(crate) fn find(&mut self, buf: &str) -> Result<HeadMatch<'_>, FilterError> {
        let found = self
            .head
            .captures_read_at(&mut self.locs, buf, 0)
            .map_err(|e| FilterError::from_match(self.head.as_str(), e))?;
        let Some((_, start)) = found.then(|| self.locs.get(0)).flatten() else {
            return Ok(HeadMatch::No);
        };
        let rest = &buf[start..];
        let rest = rest.strip_suffix('\n').unwrap_or(rest);
        if rest.is_empty() || memchr::memchr2(b'\n', b'\r', rest.as_bytes()).is_some() {
            return Ok(HeadMatch::Unsure);
        }
        Ok(HeadMatch::Content(start, start + rest.len(), &self.locs))
    }
}

/// `^(alt_|tuple_)(.*?)(?:_\d+)?$`
fn complex_name(k: &str) -> Option<(bool, String)> {
    let (is_alt, rest) = if let Some(r) = k.strip_prefix("alt_") {
        (true, r)
    } else if let Some(r) = k.strip_prefix("tuple_") {
        (false, r)
    } else {
        return None;
    };
    let base = match rest.rfind('_') {
        Some(p) if p + 1 < rest.len() && rest[p + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &rest[..p]
        }
        _ => rest,
    };
    Some((is_alt, tags::map_tag_to_opt(base)))
}

impl FRegex {
    pub fn new(value: &str, multiline: bool, usedns: UseDns) -> Result<FRegex, FilterError> {
        let resolved = tags::resolve_tags(value, usedns);
        if resolved.trim_start().is_empty() {
            return Err(FilterError::EmptyRegex);
        }
        let text = tags::glob_to_local_flags(&resolved);
        let re = Regex::new_pcre2(
            &text,
            Options {
                multi_line: multiline,
                case_insensitive: false,
            },
        )
        .map_err(|e| FilterError::Compile {
            regex: text.clone(),
            message: e.to_string(),
        })?;
        let mut names = Vec::new();
        let mut alt = Vec::new();
        let mut tuple = Vec::new();
        let mut skip = Vec::new();
        for (i, n) in re.capture_names().iter().enumerate() {
            let Some(n) = n else { continue };
            names.push((i, Str::from(n.as_str())));
            if n.len() > 4 {
                if let Some((is_alt, target)) = complex_name(n) {
                    if is_alt {
                        alt.push((Str::from(n.as_str()), Str::from(target)));
                    } else {
                        tuple.push((Str::from(n.as_str()), Str::from(target)));
                    }
                }
            }
            if let Some(num) = n.strip_prefix("skiplines") {
                if let Ok(k) = num.parse::<usize>() {
                    skip.push((k, i));
                }
            }
        }
        // groups come out in key order, as failure data keeps them
        names.sort_by(|a: &(usize, Str), b| a.1.cmp(&b.1));
        alt.sort();
        tuple.sort();
        skip.sort();
        // Python stops at the first missing skiplinesN.
        let mut skiplines = Vec::new();
        for (want, (k, i)) in skip.into_iter().enumerate() {
            if k != want {
                break;
            }
            skiplines.push(i);
        }
        Ok(FRegex {
            text,
            re,
            names,
            alt,
            tuple,
            skiplines,
        })
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.names.iter().any(|(_, n)| n == name)
    }

    pub fn locations(&self) -> Locations {
        self.re.locations()
    }

    /// Search `buf` (built from `org` unless replaced by content) and split
    /// `org` into matched/unmatched lines (only when `want_lines`; otherwise
    /// both stay empty, saving the copies).
    pub fn search(
        &self,
        locs: &mut Locations,
        buf: &str,
        org: &[TupleLine],
        want_lines: bool,
    ) -> Result<Option<Match>, FilterError> {
        let hit = self
            .re
            .captures_read_at(locs, buf, 0)
            .map_err(|e| FilterError::from_match(&self.text, e))?;
        if !hit {
            return Ok(None);
        }
        let groups = self.groups(locs, buf);
        let (matched, unmatched) = if !want_lines {
            (Vec::new(), Vec::new())
        } else if org.len() <= 1 {
            (org.to_vec(), Vec::new())
        } else {
            let (ms, me) = locs.get(0).unwrap_or((0, 0));
            let start = buf[..(ms + 1).min(buf.len())]
                .rfind('\n')
                .map(|p| p + 1)
                .unwrap_or(0);
            let end = match buf[me.saturating_sub(1)..].find('\n') {
                Some(p) => me.saturating_sub(1) + p + 1,
                None => buf.len(),
            };
            let c1 = buf[..start]
                .bytes()
                .filter(|&b| b == b'\n')
                .count()
                .min(org.len());
            let c2 = buf[..end]
                .bytes()
                .filter(|&b| b == b'\n')
                .count()
                .min(org.len())
                .max(c1);
            let mut matched: Vec<TupleLine> = org[c1..c2].to_vec();
            let mut unmatched: Vec<TupleLine> = org[..c1].to_vec();
            let skipped = self.skipped_lines(locs, buf);
            let mut n = 0usize;
            for sk in &skipped {
                if let Some(m) = matched[n.min(matched.len())..]
                    .iter()
                    .position(|t| t.without_date() == *sk)
                {
                    unmatched.push(matched.remove(n + m));
                    n += m;
                }
            }
            unmatched.extend_from_slice(&org[c2..]);
            (matched, unmatched)
        };
        Ok(Some(Match {
            groups,
            matched,
            unmatched,
        }))
    }

    /// Search a single-line buffer: the groups only (the buffer is the
    /// matched line, there is nothing to split).
    pub fn search_groups(
        &self,
        locs: &mut Locations,
        buf: &str,
    ) -> Result<Option<Vec<(Str, Value)>>, FilterError> {
        if self.is_match(locs, buf)? {
            Ok(Some(self.groups(locs, buf)))
        } else {
            Ok(None)
        }
    }

    /// Whether the regex matches `buf` (the spans are left in `locs`).
    pub fn is_match(&self, locs: &mut Locations, buf: &str) -> Result<bool, FilterError> {
        self.re
            .captures_read_at(locs, buf, 0)
            .map_err(|e| FilterError::from_match(&self.text, e))
    }

    /// The named groups of the match in `locs` that took part in it, after
    /// alt_/tuple_ post-processing.
    fn groups(&self, locs: &Locations, buf: &str) -> Vec<(Str, Value)> {
        let mut groups: Vec<(Str, Value)> = Vec::with_capacity(self.names.len());
        self.groups_into(locs, buf, &mut groups);
        groups
    }

    /// [`FRegex::groups`] into a reused vector (cleared first).
    pub fn groups_into(&self, locs: &Locations, buf: &str, groups: &mut Vec<(Str, Value)>) {
        groups.clear();
        for (i, n) in &self.names {
            if let Some((s, e)) = locs.get(*i) {
                groups.push((n.clone(), Value::Str(Str::from(&buf[s..e]))));
            }
        }
        if !self.alt.is_empty() || !self.tuple.is_empty() {
            self.post_process(groups, locs, buf);
        }
    }

    fn skipped_lines(&self, locs: &Locations, buf: &str) -> Vec<String> {
        let mut s = String::new();
        for &i in &self.skiplines {
            if let Some((a, b)) = locs.get(i) {
                s.push_str(&buf[a..b]);
            }
        }
        // Python's str.splitlines(False) (for our purposes: on \n and \r\n)
        s.lines().map(str::to_string).collect()
    }

    fn post_process(&self, groups: &mut Vec<(Str, Value)>, locs: &Locations, buf: &str) {
        let get = |locs: &Locations, name: &str| -> Option<String> {
            self.names
                .iter()
                .find(|(_, n)| n == name)
                .and_then(|(i, _)| locs.get(*i))
                .map(|(s, e)| buf[s..e].to_string())
        };
        for (k, n) in &self.alt {
            let v = get(locs, k);
            let cur_truthy = groups.iter().any(|(g, v)| g == n && v.is_truthy());
            if let Some(v) = v {
                if !v.is_empty() && !cur_truthy {
                    set(groups, n, Value::Str(Str::from(v)));
                }
            }
        }
        for (k, n) in &self.tuple {
            let v = get(locs, k);
            let cur = groups.iter().find(|(g, _)| g == n).map(|(_, v)| v.clone());
            let t = match cur {
                Some(Value::Tuple(mut t)) => {
                    t.push(v);
                    t
                }
                Some(other) => vec![other.as_str().map(str::to_string), v],
                None => vec![None, v],
            };
            set(groups, n, Value::Tuple(t));
        }
    }
}

fn set(groups: &mut Vec<(Str, Value)>, name: &str, v: Value) {
    if let Some(slot) = groups.iter_mut().find(|(g, _)| g == name) {
        slot.1 = v;
    } else {
        groups.push((Str::from(name), v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head alone gives the full prefregex's groups and content, and
    /// says "unsure" exactly where it cannot.
    #[test]
    fn content_tail_agrees_with_the_full_prefregex() {
        let prefs = [
            r"^(?P<mlfid>\s*(?:\S+\s+)?(?:sshd(?:\[\d+\])?:?\s+)?)(?:error: )?(?P<content>.+)$",
            // greedy head that can swallow the whole line
            r"^(?P<mlfid>\S*)(?P<content>.+)$",
            // not anchored
            r"(?P<mlfid>\[\d+\]) (?P<content>.+)$",
        ];
        let lines = [
            "host sshd[12]: Failed password for root\n",
            "host sshd[12]: error: Failed\n",
            "abc\n",
            "x\n",
            "\n",
            "a [1] b\r\n",
            "pre [77] rest of it\n",
            "no pid here\n",
            "host sshd[1]:\n",
        ];
        let mut unsure = 0;
        for p in prefs {
            let full = FRegex::new(p, false, UseDns::Warn).unwrap();
            let mut locs = full.locations();
            let mut tail = ContentTail::new(&full).expect("a head");
            for line in lines {
                let want = full.search_groups(&mut locs, line).unwrap();
                let got = match tail.find(line).unwrap() {
                    HeadMatch::No => None,
                    HeadMatch::Content(s, e, head_locs) => {
                        let mut g = Vec::new();
                        full.groups_into(head_locs, line, &mut g);
                        g.push((Str::from("content"), Value::Str(Str::from(&line[s..e]))));
                        Some(g)
                    }
                    HeadMatch::Unsure => {
                        unsure += 1;
                        continue;
                    }
                };
                let sorted = |g: Option<Vec<(Str, Value)>>| {
                    g.map(|mut g| {
                        g.sort_by(|a, b| a.0.cmp(&b.0));
                        format!("{g:?}")
                    })
                };
                assert_eq!(sorted(got), sorted(want), "{p} on {line:?}");
            }
        }
        // "abc" under `\S*`, the `\r` line, the empty rest after "sshd[1]:"
        assert!(unsure >= 3, "{unsure}");
        // only a top-level `(?P<content>.+)$` at the end qualifies
        for p in [
            r"^a|(?P<content>.+)$",
            r"^(?:a(?P<content>.+)$)",
            r"^(?P<content>.+)",
        ] {
            let full = FRegex::new(p, false, UseDns::Warn).unwrap();
            assert!(ContentTail::new(&full).is_none(), "{p}");
        }
    }
}
