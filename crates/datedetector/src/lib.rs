//! fail2ban-compatible date detection.
//!
//! A [`DateDetector`] holds an ordered list of date templates built from a
//! jail's `datepattern` (or fail2ban's 31 default templates), finds the date
//! in a log line the way fail2ban's `DateDetector.matchTime` does, and turns
//! it into a Unix timestamp (spec §2.6, §2.7).
//!
//! Design decisions:
//! - **Regexes are Python syntax, run by PCRE2** (through `gaoler-matcher`,
//!   which translates the few spots where the dialects differ and compiles
//!   in UCP mode). Templates need back-references, conditionals and
//!   look-behind. `\w`, `\b`, `\d` and `\W` are thus Unicode-aware like
//!   Python's `str` patterns (digits such as `٣` are converted like Python's
//!   `int()` does), and Python's `(?u)` flag (meaningless for PCRE2) is
//!   dropped.
//! - **The clock is injected.** [`DateDetector::find`] takes `now`; nothing
//!   here reads the system clock. `%ExY` depends on the current year (§2.6
//!   step 3), so templates are recompiled when the year of `now` changes the
//!   year alternatives (rare: a few times per decade). Python fixes `%ExY`
//!   from the real clock at start-up; [`DateDetector::set_reference_year`]
//!   pins it the same way when needed (e.g. tests with a 2005 "now" reading
//!   logs dated 2014).
//! - **The template order heuristic is ported, not simplified** (last winner
//!   first, anchored templates stop the scan, leftmost candidate wins,
//!   bubbling up by weight), so that the chosen template, and thus the date,
//!   is the one fail2ban picks. Python keeps one "ever matched" counter per
//!   template shared by the whole process; here it is per detector, which
//!   only matters for one tie-break and keeps detectors independent.
//! - **Local time** is a `jiff` time zone (the system zone by default, or a
//!   POSIX TZ string / IANA name given by the caller). Like glibc's `mktime`,
//!   a wall time in a DST gap moves forward; in a fold glibc's answer depends
//!   on its previous call, and we take the earlier (DST) instant, which is
//!   what a log read in order mostly gets.
//! - Checked against the reference: `tests/samples.rs` runs the annotated
//!   upstream sample logs; `examples/detect.rs` prints what the detector
//!   finds per stdin line, for differential runs against fail2ban itself.
//! - [`DateHit`] spans are byte offsets (for slicing the `&str`), but the
//!   positions the detector remembers between lines are character indexes,
//!   as in Python, so lines with multi-byte text before the date pick the
//!   same template.

mod convert;
mod template;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use gaoler_matcher::{Captures, Options, Regex};
use jiff::tz::TimeZone;

pub use convert::ConversionFailure;
use convert::LocalNow;
use template::{Kind, Template, EXY_MARK, LINE_BEGIN};

/// A bad `datepattern` or time zone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid datepattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
    #[error("datepattern {pattern:?}: there is already a date template named {name:?}")]
    Duplicate { pattern: String, name: String },
    #[error("unknown or unsupported time zone {zone:?}: {message}")]
    TimeZone { zone: String, message: String },
}

/// A date found in a line.
#[derive(Clone, Debug, PartialEq)]
pub struct DateHit {
    /// Byte span of the date text (capture group 1 of the template).
    pub start: usize,
    pub end: usize,
    /// Unix time; `None` when the date text is empty (`{NONE}`-like
    /// templates) or could not be converted (see
    /// [`DateDetector::last_failure`]).
    pub time: Option<f64>,
    /// Index of the template in [`DateDetector::templates`] order as it is
    /// right after this call (templates may move up after a hit).
    pub template: usize,
}

/// A template as shown by `fail2ban-regex` ("Date template hits").
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateInfo {
    pub name: String,
    /// How many lines this template won.
    pub hits: u64,
    /// The user pattern for strptime-like templates.
    pub pattern: Option<String>,
    /// The regex in Python syntax (with `%ExY` expanded for the current
    /// reference year).
    pub regex: String,
}

/// Position memo of the last match: character index, character before it,
/// character at it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pos {
    at: usize,
    before: Option<char>,
    here: Option<char>,
}

#[derive(Clone, Debug)]
struct Slot {
    tpl: Template,
    regex: Option<Regex>,
    /// Lines won (fail2ban's per-detector `hits`).
    hits: u64,
    /// Successful searches, winner or not (fail2ban's per-template `hits`).
    matched: u64,
    last_used: f64,
    distance: usize,
}

impl Slot {
    fn weight(&self) -> f64 {
        self.hits as f64 * self.tpl.weight / self.distance.max(1) as f64
    }
}

const FAR: usize = 0x7fff_ffff;
/// A template unused for this long may be displaced by a newcomer.
const UNUSED_TIME: f64 = 300.0;
/// The year used to pre-compile templates before the first `find`.
const INITIAL_REFERENCE_YEAR: i64 = 2026;

/// fail2ban's DateDetector (see the crate documentation).
#[derive(Clone, Debug)]
pub struct DateDetector {
    slots: Vec<Slot>,
    /// The `%ExY` alternatives the regexes are compiled with, and the year
    /// they were last computed for (to skip recomputing on every line).
    exy: String,
    exy_year: Option<i64>,
    reference_year: Option<i64>,
    default_tz: Option<i32>,
    local_tz: TimeZone,
    last_pos: Pos,
    last_end: Pos,
    last_idx: usize,
    first_unused: usize,
    last_failure: Option<ConversionFailure>,
}

impl DateDetector {
    /// Build from a `datepattern` value (one entry per line). `None`, an
    /// empty value or `{DEFAULT}` alone give the default templates.
    pub fn new(datepattern: Option<&str>) -> Result<DateDetector, Error> {
        let templates = build_templates(datepattern.unwrap_or(""))?;
        let exy = exy_alternatives(INITIAL_REFERENCE_YEAR);
        let mut slots = Vec::with_capacity(templates.len());
        for tpl in templates {
            let regex = compile(&tpl.regex, &exy).map_err(|message| Error::Pattern {
                pattern: tpl.pattern.clone().unwrap_or_else(|| tpl.name.clone()),
                message,
            })?;
            slots.push(Slot {
                tpl,
                regex: Some(regex),
                hits: 0,
                matched: 0,
                last_used: 0.0,
                distance: FAR,
            });
        }
        Ok(DateDetector {
            slots,
            exy,
            exy_year: None,
            reference_year: None,
            default_tz: None,
            local_tz: TimeZone::system(),
            last_pos: Pos {
                at: 1,
                before: None,
                here: None,
            },
            last_end: Pos {
                at: FAR,
                before: None,
                here: None,
            },
            last_idx: FAR,
            first_unused: 0,
            last_failure: None,
        })
    }

    /// `logtimezone`: the zone of dates that carry none, e.g. `UTC`,
    /// `UTC+0200`, `GMT-0100`, `CET` (a fixed offset, no DST). `None`
    /// restores system local time.
    pub fn set_timezone(&mut self, logtimezone: Option<&str>) -> Result<(), Error> {
        self.default_tz = match logtimezone {
            None => None,
            Some(z) => Some(convert::parse_zone(z).map_err(|e| Error::TimeZone {
                zone: z.to_string(),
                message: e.to_string(),
            })?),
        };
        Ok(())
    }

    /// Replace the system local time zone, with a POSIX TZ string such as
    /// `CET-01CEST-02,M3.5.0,M10.5.0` or an IANA name such as `Europe/Paris`.
    pub fn set_local_timezone(&mut self, posix_tz: &str) -> Result<(), Error> {
        self.local_tz = TimeZone::posix(posix_tz)
            .or_else(|e| TimeZone::get(posix_tz).map_err(|_| e))
            .map_err(|e| Error::TimeZone {
                zone: posix_tz.to_string(),
                message: e.to_string(),
            })?;
        Ok(())
    }

    /// Pin the year `%ExY` is computed from (fail2ban uses the real clock's
    /// year at start-up). `None`: the year of the `now` given to [`find`].
    ///
    /// [`find`]: DateDetector::find
    pub fn set_reference_year(&mut self, year: Option<i32>) {
        // Clamped to the calendar range we can convert (and to keep the
        // every-third-year loop in `exy_alternatives` short).
        self.reference_year = year.map(|y| i64::from(y).clamp(1, 9999));
        if let Some(y) = self.reference_year {
            self.ensure_exy(y);
        }
    }

    /// Find the date in `line`; `now` is the current Unix time.
    pub fn find(&mut self, line: &str, now: f64) -> Option<DateHit> {
        self.last_failure = None;
        let local_now = LocalNow::new(now, &self.local_tz);
        let year = self.reference_year.or(local_now.map(|n| n.year()));
        if let Some(y) = year {
            self.ensure_exy(y);
        }
        let (idx, caps) = self.match_time(line, now)?;
        let (start, end) = caps.get(1).or_else(|| caps.get(0).map(|(s, _)| (s, s)))?;
        let time = if start == end {
            None
        } else {
            match self.convert(idx, line, &caps, local_now.as_ref()) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.last_failure = Some(e);
                    None
                }
            }
        };
        Some(DateHit {
            start,
            end,
            time,
            template: idx,
        })
    }

    /// Why the date of the last [`find`](DateDetector::find) had no time.
    pub fn last_failure(&self) -> Option<&ConversionFailure> {
        self.last_failure.as_ref()
    }

    /// The templates in their current order, with hit counts.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        self.slots
            .iter()
            .map(|s| TemplateInfo {
                name: s.tpl.name.clone(),
                hits: s.hits,
                pattern: s.tpl.pattern.clone(),
                regex: s.tpl.regex.replace(EXY_MARK, &exy_group(&self.exy)),
            })
            .collect()
    }

    /// What `get <jail> datepattern` shows: `(None, "Default Detectors")` for
    /// more than two templates, else the first template's pattern and name.
    pub fn describe(&self) -> (Option<String>, String) {
        match self.slots.first() {
            Some(s) if self.slots.len() <= 2 => (s.tpl.pattern.clone(), s.tpl.name.clone()),
            _ => (None, "Default Detectors".to_string()),
        }
    }

    fn ensure_exy(&mut self, year: i64) {
        if self.exy_year == Some(year) {
            return;
        }
        self.exy_year = Some(year);
        let exy = exy_alternatives(year);
        if exy == self.exy {
            return;
        }
        for s in &mut self.slots {
            if s.tpl.regex.contains(EXY_MARK) {
                // The pattern compiled before with other year digits; a
                // failure here would be a PCRE2 limit, so the template just
                // stops matching rather than poisoning the detector.
                s.regex = compile(&s.tpl.regex, &exy).ok();
            }
        }
        self.exy = exy;
    }

    /// Search template `i` in `line[from..to]` (Python's `search(line, pos,
    /// endpos)`: look-behind still sees before `from`, `$` matches at `to`).
    fn search(&mut self, i: usize, line: &str, from: usize, to: usize) -> Option<Captures> {
        let slot = &mut self.slots[i];
        let re = slot.regex.as_ref()?;
        let to = to.min(line.len());
        if from > to || !line.is_char_boundary(from) || !line.is_char_boundary(to) {
            return None;
        }
        let caps = re.captures_at(&line[..to], from).ok().flatten()?;
        slot.matched += 1;
        Some(caps)
    }

    /// fail2ban's `matchTime`: returns the winning template index (after
    /// reordering) and its match. Positions remembered between lines are
    /// character indexes, as in Python, so that lines with multi-byte
    /// characters before the date compare the same way.
    fn match_time(&mut self, line: &str, now: f64) -> Option<(usize, Captures)> {
        let idx = CharIdx::new(line);
        let n = self.slots.len();
        // (match, start, end) in characters, template index.
        let mut found: Option<(Captures, usize, usize, usize)> = None;
        let mut skip = usize::MAX;
        let mut winner: Option<(usize, Captures)> = None;
        let i = self.last_idx;
        if i < n {
            let anchored = self.slots[i].tpl.anchored();
            let m = if anchored {
                skip = i;
                self.search(i, line, 0, line.len())
            } else {
                let (d, e) = (self.last_pos.at, self.last_end.at);
                let same_left = idx.before(d) == self.last_pos.before
                    || (idx.at(d) == self.last_pos.here
                        && !self.last_pos.here.is_some_and(char::is_alphanumeric));
                let same_right = idx.at(e) == self.last_end.here
                    || (idx.before(e) == self.last_end.before
                        && !self.last_end.before.is_some_and(char::is_alphanumeric));
                if same_left && same_right {
                    self.search(i, line, idx.to_byte(d), idx.to_byte(e))
                } else {
                    skip = i;
                    self.search(i, line, 0, line.len())
                }
            };
            if let Some(c) = m {
                let (s, e) = idx.span0(&c);
                if n == 1 || anchored || (s == self.last_pos.at && e == self.last_end.at) {
                    winner = Some((i, c));
                } else {
                    found = Some((c, s, e, i));
                }
            }
        }
        if winner.is_none() {
            let mut i = 0;
            while i < n {
                if i == skip {
                    i += 1;
                    continue;
                }
                if let Some(c) = self.search(i, line, 0, line.len()) {
                    let (s, e) = idx.span0(&c);
                    let slot = &self.slots[i];
                    if i + 1 >= n || slot.tpl.anchored() {
                        winner = Some((i, c));
                        break;
                    }
                    if s == 0 && slot.hits > 0 && self.slots[i + 1].matched == 0 {
                        winner = Some((i, c));
                        break;
                    }
                    if s > slot.distance || s > self.last_pos.at {
                        // Possibly a date inside the message: keep the
                        // leftmost such candidate and look further.
                        if !matches!(found, Some(ref f) if f.1 <= s) {
                            found = Some((c, s, e, i));
                        }
                        i += 1;
                        continue;
                    }
                    winner = Some((i, c));
                    break;
                }
                i += 1;
            }
            if winner.is_none() {
                if let Some((c, _, _, i)) = found {
                    winner = Some((i, c));
                }
            }
        }
        let (mut i, caps) = winner?;
        let (s, e) = idx.span0(&caps);
        let slot = &mut self.slots[i];
        slot.hits += 1;
        slot.last_used = now;
        slot.distance = s;
        if self.first_unused == i {
            self.first_unused += 1;
        }
        self.last_pos = Pos {
            at: s,
            before: idx.before(s),
            here: idx.at(s),
        };
        self.last_end = Pos {
            at: e,
            before: idx.before(e),
            here: idx.at(e),
        };
        if i != 0 && i != self.last_idx {
            i = self.reorder(i);
        }
        self.last_idx = i;
        Some((i, caps))
    }

    /// Move a winning template towards the front (fail2ban's bubble-up).
    fn reorder(&mut self, num: usize) -> usize {
        let untime = self.slots[num].last_used - UNUSED_TIME;
        let weight = self.slots[num].weight();
        let movable = |slots: &[Slot], pos: usize| {
            weight > slots[pos].weight() || untime > slots[pos].last_used
        };
        let mut pos = if self.first_unused < num {
            self.first_unused
        } else {
            num / 2
        };
        if !movable(&self.slots, pos) {
            if pos + 1 == num {
                return num;
            }
            pos = num - 1;
            if !movable(&self.slots, pos) {
                return num;
            }
        }
        let slot = self.slots.remove(num);
        self.slots.insert(pos, slot);
        while self.first_unused < self.slots.len() && self.slots[self.first_unused].hits > 0 {
            self.first_unused += 1;
        }
        pos
    }

    fn convert(
        &self,
        idx: usize,
        line: &str,
        caps: &Captures,
        now: Option<&LocalNow>,
    ) -> Result<f64, ConversionFailure> {
        let slot = &self.slots[idx];
        let text = |g: usize| caps.get(g).map(|(s, e)| &line[s..e]);
        match slot.tpl.kind {
            Kind::Epoch { long, group } => {
                let raw = text(group).unwrap_or("");
                let v = convert::ascii_digits(raw);
                let mut t: f64 = v
                    .parse()
                    .map_err(|_| ConversionFailure::Invalid(format!("bad epoch {raw:?}")))?;
                if long && v.len() >= 13 {
                    t /= if v.len() >= 16 && !v.contains('.') {
                        1e6
                    } else {
                        1e3
                    };
                }
                Ok(t)
            }
            Kind::Tai64n => {
                let v = text(1).unwrap_or("");
                let hex = v.get(2..17).unwrap_or("");
                u64::from_str_radix(hex, 16)
                    .map(|s| s as f64)
                    .map_err(|_| ConversionFailure::Invalid(format!("bad TAI64N {v:?}")))
            }
            Kind::Pattern => {
                let re = slot.regex.as_ref().ok_or_else(|| {
                    ConversionFailure::Invalid("template not compiled".to_string())
                })?;
                let groups: Vec<(&str, &str)> = re
                    .capture_names()
                    .iter()
                    .enumerate()
                    .filter_map(|(g, name)| Some((name.as_deref()?, text(g)?)))
                    .collect();
                convert::groups_to_time(&groups, self.default_tz, &self.local_tz, now)
            }
        }
    }
}

/// Character-index view of a line (Python indexes strings by code point;
/// the regex engine reports byte offsets). ASCII lines, the common case,
/// map one to one without counting.
struct CharIdx<'a> {
    line: &'a str,
    ascii: bool,
    chars: usize,
}

impl<'a> CharIdx<'a> {
    fn new(line: &'a str) -> Self {
        let ascii = line.is_ascii();
        let chars = if ascii {
            line.len()
        } else {
            line.chars().count()
        };
        CharIdx { line, ascii, chars }
    }

    fn to_char(&self, byte: usize) -> usize {
        if self.ascii {
            byte
        } else {
            self.line.get(..byte).map_or(0, |p| p.chars().count())
        }
    }

    /// Byte offset of character index `ci`, clamped to the end of the line
    /// (like Python's `pos`/`endpos`).
    fn to_byte(&self, ci: usize) -> usize {
        if self.ascii {
            ci.min(self.line.len())
        } else {
            self.line
                .char_indices()
                .nth(ci)
                .map_or(self.line.len(), |(b, _)| b)
        }
    }

    /// `line[ci]`, or `None` past the end.
    fn at(&self, ci: usize) -> Option<char> {
        if self.ascii {
            self.line.as_bytes().get(ci).map(|&b| char::from(b))
        } else {
            self.line.chars().nth(ci)
        }
    }

    /// `line[ci-1:ci]`, or `None` at the start or past the end.
    fn before(&self, ci: usize) -> Option<char> {
        if ci == 0 || ci > self.chars {
            return None;
        }
        self.at(ci - 1)
    }

    /// Group 0 span in characters.
    fn span0(&self, c: &Captures) -> (usize, usize) {
        let (s, e) = c.get(0).unwrap_or((0, 0));
        (self.to_char(s), self.to_char(e))
    }
}

/// Parse the `datepattern` entries into templates (fail2ban's
/// `appendTemplate`, entry by entry).
fn build_templates(datepattern: &str) -> Result<Vec<Template>, Error> {
    let mut out: Vec<Template> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut add = |out: &mut Vec<Template>, t: Template, ignore_dup: bool, entry: &str| {
        if names.contains(&t.name) {
            if ignore_dup {
                return Ok(());
            }
            return Err(Error::Duplicate {
                pattern: entry.to_string(),
                name: t.name,
            });
        }
        names.insert(t.name.clone());
        out.push(t);
        Ok(())
    };
    for entry in datepattern
        .split('\n')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let key = template::pattern_key(entry);
        let ignore_dup = !out.is_empty();
        match key.as_str() {
            // fail2ban's `{DEFAULT}` entry adds nothing by itself (its filter
            // rejects every template); the defaults only come in when the
            // list ends up empty.
            "{DEFAULT}" => {}
            "{^LN-BEG}" => {
                for t in template::default_templates() {
                    if t.flags & LINE_BEGIN != 0 {
                        add(&mut out, t.clone(), ignore_dup, entry)?;
                    }
                }
            }
            _ if key.contains("{DATE}") => {
                for t in template::date_templates(entry)? {
                    add(&mut out, t, ignore_dup, entry)?;
                }
            }
            "{NONE}" => add(
                &mut out,
                template::pattern_template("{UNB}^")?,
                false,
                entry,
            )?,
            _ => add(&mut out, template::single_template(entry)?, false, entry)?,
        }
    }
    if out.is_empty() {
        out = template::default_templates().to_vec();
    }
    Ok(out)
}

/// The century/decade prefixes `%ExY` accepts for a reference year: those of
/// last year, of three years ahead, and of every third year from 2000 up to
/// the reference year, grouped like fail2ban does (`20[012]` in 2026).
pub(crate) fn exy_alternatives(year: i64) -> String {
    let prefix = |y: i64| y.to_string().chars().take(3).collect::<String>();
    let mut set = std::collections::BTreeSet::new();
    set.insert(prefix(year - 1));
    set.insert(prefix(year + 3));
    let mut y = 2000;
    while y <= year {
        set.insert(prefix(y));
        y += 3;
    }
    group_prefixes(&set.into_iter().collect::<Vec<_>>())
}

/// Factor common leading text out of sorted alternatives:
/// `["200","201","202"]` → `20[012]`.
fn group_prefixes(items: &[String]) -> String {
    if items.len() > 1 {
        let all_but_last =
            |s: &String| s.get(..s.len().saturating_sub(1)).unwrap_or("").to_string();
        let mut common =
            Some(all_but_last(&items[0])).filter(|c| items.iter().all(|i| all_but_last(i) == *c));
        if common.as_deref().unwrap_or("").is_empty() {
            let first = |s: &String| s.chars().next().map(String::from).unwrap_or_default();
            common = Some(first(&items[0])).filter(|c| items.iter().all(|i| first(i) == *c));
        }
        if let Some(c) = common.filter(|c| !c.is_empty()) {
            let rest: Vec<String> = items.iter().map(|i| i[c.len()..].to_string()).collect();
            return format!("{c}{}", group_prefixes(&rest));
        }
        if items[0].chars().count() > 1 {
            return format!("(?:{})", items.join("|"));
        }
        return format!("[{}]", items.concat());
    }
    items.concat()
}

/// Byte offset of an inline global flag group such as `(?i)` that is not at
/// the start of the regex.
fn misplaced_global_flags(re: &str) -> Option<usize> {
    let b = re.as_bytes();
    (1..b.len()).find(|&i| {
        if b[i] != b'(' || b.get(i + 1) != Some(&b'?') {
            return false;
        }
        let backslashes = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 1 {
            return false;
        }
        let letters = b[i + 2..]
            .iter()
            .take_while(|c| b"aiLmsux".contains(c))
            .count();
        letters > 0 && b.get(i + 2 + letters) == Some(&b')')
    })
}

fn exy_group(alternatives: &str) -> String {
    format!(r"(?P<Y>{alternatives}\d)")
}

/// Turn a template's Python regex into the PCRE2 pattern we run.
fn compile(src: &str, exy: &str) -> Result<Regex, String> {
    let mut re = src.replace(EXY_MARK, &exy_group(exy));
    if let Some(at) = misplaced_global_flags(&re) {
        // Python 3.11+ rejects these; PCRE2 would silently scope them.
        return Err(format!(
            "global flags not at the start of the expression at position {at}"
        ));
    }
    // Leading global flags: PCRE2 has no `u` (Unicode is on via UCP) and no
    // `a`/`L`; keep the ones both engines share.
    if let Some(rest) = re.strip_prefix("(?") {
        let letters: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if !letters.is_empty() && rest[letters.len()..].starts_with(')') {
            let kept: String = letters
                .chars()
                .filter(|c| matches!(c, 'i' | 'm' | 's' | 'x'))
                .collect();
            let tail = rest[letters.len() + 1..].to_string();
            re = if kept.is_empty() {
                tail
            } else {
                format!("(?{kept}){tail}")
            };
        }
    }

    // Compiled templates are shared between detectors (every jail with the
    // defaults has the same 31), like fail2ban's process-wide template cache.
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(&re).cloned()) {
        return Ok(r);
    }
    let compiled = Regex::new_pcre2(&re, Options::default()).map_err(|e| e.to_string())?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 2000 {
            c.clear();
        }
        c.insert(re, compiled.clone());
    }
    Ok(compiled)
}

#[cfg(test)]
mod tests;
