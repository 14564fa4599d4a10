//! fail2ban-compatible date detection.
//!
//! A [`DateDetector`] holds an ordered list of date templates built from a
//! jail's `datepattern` (or fail2ban's 31 default templates), finds the date
//! in a log line the way fail2ban's `DateDetector.matchTime` does, and turns
//! it into a Unix timestamp (spec §2.6, §2.7).
//!
//! Layout: the detector and its matching are here; `slot` holds a
//! template's place in the order and the conversion memo, `build` makes
//! templates from `datepattern`, `template` and `fast` are one template's
//! regex and its fast paths, `convert` turns a match into a time, `chars`
//! maps byte offsets to Python's code-point indexes.
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
//! - **Cheap per line.** Every template keeps its own PCRE2 capture storage
//!   (no allocation per search; a candidate that may be overwritten by a
//!   later search of the same template is copied out). The local view of
//!   `now` is cached for repeated clock values. Conversions are memoised
//!   per template on the text of the groups they read (`%f` is ignored by
//!   the conversion and left out, `now` is part of the key when the date
//!   lacks a year, month or day): consecutive lines mostly share their
//!   second, so calendar and time zone work happens once per second of log.
//!   Changing a time zone drops the memos.
//! - **A hand-written recogniser** (`fast.rs`) answers the whole-line
//!   search of syslog's `Mon dd HH:MM:SS` template for the plain form, with
//!   the spans PCRE2 would give; anything unusual falls back to PCRE2.
//!   [`DateDetector::disable_fast_paths`] turns it off for comparisons.
//! - Checked against the reference: `tests/samples.rs` runs the annotated
//!   upstream sample logs; `examples/detect.rs` prints what the detector
//!   finds per stdin line, for differential runs against fail2ban itself.
//! - [`DateHit`] spans are byte offsets (for slicing the `&str`), but the
//!   positions the detector remembers between lines are character indexes,
//!   as in Python, so lines with multi-byte text before the date pick the
//!   same template.

#![deny(missing_docs)]

mod build;
mod chars;
mod convert;
mod fast;
pub mod samples;
mod slot;
mod template;

use build::*;
use chars::*;
use slot::*;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use gaoler_matcher::{Locations, Options, Regex};
use jiff::tz::TimeZone;

pub use convert::ConversionFailure;
use convert::LocalNow;
use template::{Kind, Template, EXY_MARK, LINE_BEGIN};

/// A bad `datepattern` or time zone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `datepattern` that does not compile.
    #[error("invalid datepattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern as configured.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `datepattern` whose name another template has already.
    #[error("datepattern {pattern:?}: there is already a date template named {name:?}")]
    Duplicate {
        /// The pattern as configured.
        pattern: String,
        /// The template name both have.
        name: String,
    },
    /// A `logtimezone` that is neither an offset nor a known zone.
    #[error("unknown or unsupported time zone {zone:?}: {message}")]
    TimeZone {
        /// The zone as configured.
        zone: String,
        /// Why it was refused.
        message: String,
    },
}

/// A date found in a line.
#[derive(Clone, Debug, PartialEq)]
pub struct DateHit {
    /// Byte span of the date text (capture group 1 of the template).
    pub start: usize,
    /// End of that span (exclusive).
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
    /// The template's name, as fail2ban-regex prints it.
    pub name: String,
    /// How many lines this template won.
    pub hits: u64,
    /// The user pattern for strptime-like templates.
    pub pattern: Option<String>,
    /// The regex in Python syntax (with `%ExY` expanded for the current
    /// reference year).
    pub regex: String,
}

/// A detector's state between two lines, for splitting a log among
/// threads (see [`DateDetector::absorb`]). Which template wins a line
/// depends on the template order, the last winner and its position, and
/// (when the last winner is not found again the way it was) on hit
/// counters and times. Lines of the first kind are *steady*: a clone in
/// the same deciding state finds the same dates on them whatever its
/// counters are, so a run of steady lines can be processed on a clone and
/// its effect (counters, last position) added afterwards.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    order: Vec<usize>,
    last_idx: usize,
    last_pos: Pos,
    last_end: Pos,
    first_unused: usize,
    /// The last winner is line-anchored.
    anchored: bool,
    /// Per slot, in order: hits, matched, last used, distance.
    counters: Vec<(u64, u64, f64, usize)>,
    unsteady: u64,
}

impl Checkpoint {
    /// Would both detectors pick the same template for a steady line? The
    /// last position is compared only when the last winner is not
    /// line-anchored (an anchored one is searched on the whole line).
    pub fn same_decisions(&self, other: &Checkpoint) -> bool {
        self.order == other.order
            && self.last_idx == other.last_idx
            && self.first_unused == other.first_unused
            && self.anchored == other.anchored
            && (self.anchored
                || (self.last_pos == other.last_pos && self.last_end == other.last_end))
    }
}

/// fail2ban's DateDetector (see the crate documentation).
#[derive(Clone, Debug)]
pub struct DateDetector {
    slots: Vec<Slot>,
    /// The `%ExY` alternatives the regexes are compiled with, and the year
    /// they were last computed for (to skip recomputing on every line).
    exy: String,
    /// The first three digits of the years `exy` accepts (for `fast.rs`).
    exy_years: Vec<[u8; 3]>,
    exy_year: Option<i64>,
    reference_year: Option<i64>,
    default_tz: Option<i32>,
    local_tz: TimeZone,
    last_pos: Pos,
    last_end: Pos,
    last_idx: usize,
    first_unused: usize,
    last_failure: Option<ConversionFailure>,
    /// `now` (its bits) of the previous call and its local view, which
    /// stays the same for a whole batch of lines read with one clock value.
    local_now: Option<(u64, Option<LocalNow>)>,
    /// Lines whose template choice depended on more than the last winner
    /// (see [`Checkpoint`]).
    unsteady: u64,
    /// The last answer, when the steady path gave it (see
    /// [`DateDetector::repeat`]).
    steady: Option<Steady>,
}

/// An answer of the steady path and the `now` it was found at. (Why its
/// date did not convert, if it did not, is still `last_failure`.)
#[derive(Clone, Debug)]
struct Steady {
    hit: DateHit,
    now_bits: u64,
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
            let id = slots.len();
            slots.push(Slot::new(tpl, Some(regex), id));
        }
        Ok(DateDetector {
            slots,
            exy,
            exy_years: exy_years(INITIAL_REFERENCE_YEAR),
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
            local_now: None,
            unsteady: 0,
            steady: None,
        })
    }

    /// `logtimezone`: the zone of dates that carry none, e.g. `UTC`,
    /// `UTC+0200`, `GMT-0100`, `CET` (a fixed offset, no DST). `None`
    /// restores system local time.
    pub fn set_timezone(&mut self, logtimezone: Option<&str>) -> Result<(), Error> {
        self.forget_conversions();
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
        self.forget_conversions();
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

    /// Drop cached conversions and the cached local "now" (the zone they
    /// were computed for changes).
    fn forget_conversions(&mut self) {
        self.local_now = None;
        self.steady = None;
        for s in &mut self.slots {
            s.memo = None;
            s.text_memo = None;
        }
    }

    /// Find the date in `line`; `now` is the current Unix time.
    pub fn find(&mut self, line: &str, now: f64) -> Option<DateHit> {
        if let Some(hit) = self.repeat(line, now) {
            return Some(hit);
        }
        self.steady = None;
        self.last_failure = None;
        let local_now = match self.local_now {
            Some((bits, n)) if bits == now.to_bits() => n,
            _ => {
                let n = LocalNow::new(now, &self.local_tz);
                self.local_now = Some((now.to_bits(), n));
                n
            }
        };
        let year = self.reference_year.or(local_now.map(|n| n.year()));
        if let Some(y) = year {
            self.ensure_exy(y);
        }
        let (idx, spans, steady) = match self.match_steady(line, now) {
            Some(i) => (i, Spans::Slot, true),
            None => {
                let (i, s) = self.match_time(line, now)?;
                (i, s, false)
            }
        };
        let (start, end) = self
            .span(idx, &spans, 1)
            .or_else(|| self.span(idx, &spans, 0).map(|(s, _)| (s, s)))?;
        let time = if start == end {
            None
        } else {
            match self.convert(idx, line, &spans, now, local_now.as_ref()) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.last_failure = Some(e);
                    None
                }
            }
        };
        let hit = DateHit {
            start,
            end,
            time,
            template: idx,
        };
        // (positions are remembered in characters: only an ASCII prefix
        // lets a line that reads the same have the same ones)
        if steady && self.slots[idx].fast_seen.is_ascii() {
            self.steady = Some(Steady {
                hit: hit.clone(),
                now_bits: now.to_bits(),
            });
        }
        Some(hit)
    }

    /// The last line's answer again, for a line its template's recogniser
    /// reads the same way (see [`Seen`]), at the same `now`, when the steady
    /// path gave that answer: what the steady path would do for this line
    /// is then to count one more hit, every other field keeping its value
    /// (same characters at the same places, same date text, same year).
    fn repeat(&mut self, line: &str, now: f64) -> Option<DateHit> {
        let r = self.steady.as_ref()?;
        let i = r.hit.template;
        if r.now_bits != now.to_bits() || i != self.last_idx {
            return None;
        }
        let slot = self.slots.get_mut(i)?;
        if !slot.fast_hit || !slot.fast_seen.reads_the_same(line.as_bytes()) {
            return None;
        }
        slot.hits += 1;
        slot.matched += 1;
        slot.last_used = now;
        Some(r.hit.clone())
    }

    /// The state that decides which template wins a line, and the counters
    /// that a run of lines changes (see [`Checkpoint`]).
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            order: self.slots.iter().map(|s| s.id).collect(),
            last_idx: self.last_idx,
            last_pos: self.last_pos,
            last_end: self.last_end,
            first_unused: self.first_unused,
            anchored: self
                .slots
                .get(self.last_idx)
                .is_some_and(|s| s.tpl.anchored()),
            counters: self
                .slots
                .iter()
                .map(|s| (s.hits, s.matched, s.last_used, s.distance))
                .collect(),
            unsteady: self.unsteady,
        }
    }

    /// Take over a run of lines another detector (a clone of one in this
    /// detector's state) found dates in, from checkpoint `from` to `to`:
    /// this detector ends as if it had read those lines itself. Only
    /// possible when every line of the run was steady (the last winner
    /// again, or no date) and this detector's deciding state equals
    /// `from`'s; then the dates found are the ones this detector would
    /// have found. Returns `false`, changing nothing, otherwise.
    pub fn absorb(&mut self, from: &Checkpoint, to: &Checkpoint) -> bool {
        self.steady = None;
        let mine = self.checkpoint();
        let steady_run = to.unsteady == from.unsteady
            && to.order == from.order
            && to.counters.len() == self.slots.len()
            && from.counters.len() == self.slots.len();
        if !steady_run || !mine.same_decisions(from) {
            return false;
        }
        let mut won = false;
        for ((slot, f), t) in self.slots.iter_mut().zip(&from.counters).zip(&to.counters) {
            slot.matched += t.1.saturating_sub(f.1);
            if t.0 != f.0 {
                // (only the winner's slot changes in a steady run)
                won = true;
                slot.hits += t.0.saturating_sub(f.0);
                slot.last_used = t.2;
                slot.distance = t.3;
            }
        }
        if won {
            // the last winning line of the run set them, as it would here
            self.last_idx = to.last_idx;
            self.last_pos = to.last_pos;
            self.last_end = to.last_end;
            self.first_unused = to.first_unused;
        }
        true
    }

    /// Turn the hand-written template recognisers off (every search goes
    /// to PCRE2): for differential tests.
    pub fn disable_fast_paths(&mut self) {
        for s in &mut self.slots {
            s.fast = None;
            s.fast_hit = false;
            s.fast_seen.forget();
        }
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
        self.exy_years = exy_years(year);
        // (the ISO recogniser's answer depends on the years)
        for s in &mut self.slots {
            s.fast_seen.forget();
        }
        if exy == self.exy {
            return;
        }
        for s in &mut self.slots {
            if s.tpl.regex.contains(EXY_MARK) {
                // The pattern compiled before with other year digits; a
                // failure here would be a PCRE2 limit, so the template just
                // stops matching rather than poisoning the detector.
                s.set_regex(compile(&s.tpl.regex, &exy).ok());
            }
        }
        self.exy = exy;
    }

    /// Search template `i` in `line[from..to]` (Python's `search(line, pos,
    /// endpos)`: look-behind still sees before `from`, `$` matches at `to`).
    /// On a match the spans are in the slot's `locs`; returns group 0's
    /// character span.
    fn search(
        &mut self,
        i: usize,
        idx: &CharIdx,
        line: &str,
        from: usize,
        to: usize,
    ) -> Option<(usize, usize)> {
        self.slots[i].fast_hit = false;
        // the recogniser answers whole-line searches only (the template is
        // line-anchored)
        if from == 0 && to >= line.len() {
            if let Some(span) = self.search_fast(i, idx, line) {
                return Some(span);
            }
        }
        let slot = &mut self.slots[i];
        let (Some(re), Some(locs)) = (slot.regex.as_ref(), slot.locs.as_mut()) else {
            return None;
        };
        let to = to.min(line.len());
        if from > to || !line.is_char_boundary(from) || !line.is_char_boundary(to) {
            return None;
        }
        if !re.captures_read_at(locs, &line[..to], from).ok()? {
            return None;
        }
        slot.matched += 1;
        let (s, e) = locs.get(0).unwrap_or((0, 0));
        Some((idx.to_char(s), idx.to_char(e)))
    }

    /// Span of group `g` of the winning match of template `i`.
    fn span(&self, i: usize, spans: &Spans, g: usize) -> Option<(usize, usize)> {
        match spans {
            Spans::Slot => self.slots.get(i)?.get(g),
            Spans::Owned(v) => v.get(g).copied().flatten(),
        }
    }

    /// Template `i`'s hand-written recogniser on the whole line: group 0's
    /// character span, the spans in the slot; `None` when it has none or it
    /// does not answer.
    fn search_fast(&mut self, i: usize, idx: &CharIdx, line: &str) -> Option<(usize, usize)> {
        let slot = &mut self.slots[i];
        slot.fast_hit = false;
        let f = slot.fast.as_ref()?;
        let b = line.as_bytes();
        if !slot.fast_seen.reads_the_same(b) {
            if !f.recognise(line, &mut slot.fast_spans, &self.exy_years) {
                return None;
            }
            let f_span = slot
                .f_group
                .and_then(|g| slot.fast_spans.get(g).copied().flatten());
            let date = slot.fast_spans.first().copied().flatten();
            slot.fast_seen.remember(b, date, f_span);
        }
        slot.fast_hit = true;
        slot.matched += 1;
        let (s, e) = slot.fast_spans.first().copied().flatten().unwrap_or((0, 0));
        Some((idx.to_char(s), idx.to_char(e)))
    }

    /// [`DateDetector::match_time`] for the common case, without its
    /// general machinery: the last winner is line-anchored and its
    /// hand-written recogniser accepts the line, which `match_time` would
    /// also try first and take. `None`: not this case (nothing that decides
    /// anything was changed), take the general path.
    fn match_steady(&mut self, line: &str, now: f64) -> Option<usize> {
        let i = self.last_idx;
        let slot = self.slots.get(i)?;
        if !slot.tpl.anchored() || slot.fast.is_none() {
            return None;
        }
        let idx = CharIdx::new(line);
        let (s, e) = self.search_fast(i, &idx, line)?;
        self.record_winner(i, now, &idx, s, e);
        Some(i)
    }

    /// The bookkeeping of a line won by template `i` at characters `s..e`
    /// (before any reordering).
    fn record_winner(&mut self, i: usize, now: f64, idx: &CharIdx, s: usize, e: usize) {
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
    }

    /// fail2ban's `matchTime`: returns the winning template index (after
    /// reordering) and its match. Positions remembered between lines are
    /// character indexes, as in Python, so that lines with multi-byte
    /// characters before the date compare the same way.
    fn match_time(&mut self, line: &str, now: f64) -> Option<(usize, Spans)> {
        let idx = CharIdx::new(line);
        let n = self.slots.len();
        // (match, start, end) in characters, template index.
        let mut found: Option<(Spans, usize, usize, usize)> = None;
        let mut skip = usize::MAX;
        let mut winner: Option<(usize, Spans, (usize, usize))> = None;
        let mut fast_winner = false;
        let i = self.last_idx;
        if i < n {
            let anchored = self.slots[i].tpl.anchored();
            let m = if anchored {
                skip = i;
                self.search(i, &idx, line, 0, line.len())
            } else {
                let (d, e) = (self.last_pos.at, self.last_end.at);
                let same_left = idx.before(d) == self.last_pos.before
                    || (idx.at(d) == self.last_pos.here
                        && !self.last_pos.here.is_some_and(char::is_alphanumeric));
                let same_right = idx.at(e) == self.last_end.here
                    || (idx.before(e) == self.last_end.before
                        && !self.last_end.before.is_some_and(char::is_alphanumeric));
                if same_left && same_right {
                    self.search(i, &idx, line, idx.to_byte(d), idx.to_byte(e))
                } else {
                    skip = i;
                    self.search(i, &idx, line, 0, line.len())
                }
            };
            if let Some((s, e)) = m {
                if n == 1 || anchored || (s == self.last_pos.at && e == self.last_end.at) {
                    winner = Some((i, Spans::Slot, (s, e)));
                    fast_winner = true;
                } else {
                    // The loop below may search this template again and
                    // overwrite its spans: keep a copy.
                    let spans = self.slots[i].copy_spans()?;
                    found = Some((Spans::Owned(spans), s, e, i));
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
                if let Some((s, e)) = self.search(i, &idx, line, 0, line.len()) {
                    let slot = &self.slots[i];
                    if i + 1 >= n || slot.tpl.anchored() {
                        winner = Some((i, Spans::Slot, (s, e)));
                        break;
                    }
                    if s == 0 && slot.hits > 0 && self.slots[i + 1].matched == 0 {
                        winner = Some((i, Spans::Slot, (s, e)));
                        break;
                    }
                    if s > slot.distance || s > self.last_pos.at {
                        // Possibly a date inside the message: keep the
                        // leftmost such candidate and look further.
                        if !matches!(found, Some(ref f) if f.1 <= s) {
                            found = Some((Spans::Slot, s, e, i));
                        }
                        i += 1;
                        continue;
                    }
                    winner = Some((i, Spans::Slot, (s, e)));
                    break;
                }
                i += 1;
            }
            if winner.is_none() {
                if let Some((c, s, e, i)) = found {
                    winner = Some((i, c, (s, e)));
                }
            }
        }
        // Steady: the last winner found again as the fast check wants it,
        // or no template matched at all (then nothing changes). Either way
        // the outcome depended only on the `Checkpoint` state.
        if !(fast_winner || winner.is_none()) {
            self.unsteady += 1;
        }
        let (mut i, spans, (s, e)) = winner?;
        self.record_winner(i, now, &idx, s, e);
        if i != 0 && i != self.last_idx {
            i = self.reorder(i);
        }
        self.last_idx = i;
        Some((i, spans))
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

    /// Turn the winning match of template `idx` into a timestamp.
    ///
    /// Pattern templates are memoised per template: the key is the text of
    /// every group the conversion reads (not `%f`, which it ignores) plus
    /// `now` when the date lacks a year, month or day (then the result
    /// depends on the clock). Consecutive log lines mostly repeat the same
    /// second, so the calendar and time zone work is done once per second
    /// of log rather than once per line.
    fn convert(
        &mut self,
        idx: usize,
        line: &str,
        spans: &Spans,
        now_raw: f64,
        now: Option<&LocalNow>,
    ) -> Result<f64, ConversionFailure> {
        // A recogniser's parse is a function of the date text, and the
        // conversion ignores `%f` (a suffix of these dates): the same text
        // without it, at the same `now`, converts the same. Checked before
        // gathering the fields for the general memo.
        let quick = match spans {
            Spans::Slot => self.date_key(idx, line),
            Spans::Owned(_) => None,
        };
        let now_bits = now_raw.to_bits();
        if let (Some((a, b)), Some((key, at, r))) = (quick, &self.slots[idx].text_memo) {
            if *at == now_bits
                && key.len() == a.len() + b.len()
                && key.as_bytes()[..a.len()] == *a.as_bytes()
                && key.as_bytes()[a.len()..] == *b.as_bytes()
            {
                return r.clone();
            }
        }
        let r = match self.convert_with(idx, line, spans, now_raw, now) {
            Converted::Memo(r) | Converted::Plain(r) => r,
            Converted::New(r, memo) => {
                self.slots[idx].memo = Some(memo);
                r
            }
        };
        if let Some((a, b)) = quick {
            let mut key = String::with_capacity(a.len() + b.len());
            key.push_str(a);
            key.push_str(b);
            self.slots[idx].text_memo = Some((key, now_bits, r.clone()));
        }
        r
    }

    /// For a date the recogniser of template `idx` found: its text before
    /// and after the `%f` group.
    fn date_key<'l>(&self, idx: usize, line: &'l str) -> Option<(&'l str, &'l str)> {
        let slot = &self.slots[idx];
        if !slot.fast_hit {
            return None;
        }
        let (ds, de) = slot.get(1)?;
        let (fs, fe) = slot.f_group.and_then(|g| slot.get(g)).unwrap_or((de, de));
        if !(ds <= fs && fs <= fe && fe <= de) {
            return None;
        }
        Some((line.get(ds..fs)?, line.get(fe..de)?))
    }

    fn convert_with(
        &self,
        idx: usize,
        line: &str,
        spans: &Spans,
        now_raw: f64,
        now: Option<&LocalNow>,
    ) -> Converted {
        let text = |g: usize| self.span(idx, spans, g).and_then(|(s, e)| line.get(s..e));
        let slot = &self.slots[idx];
        Converted::Plain(match slot.tpl.kind {
            Kind::Epoch { long, group } => {
                let raw = text(group).unwrap_or("");
                let v = convert::ascii_digits(raw);
                v.parse::<f64>()
                    .map_err(|_| ConversionFailure::Invalid(format!("bad epoch {raw:?}")))
                    .map(|t| {
                        if long && v.len() >= 13 {
                            t / if v.len() >= 16 && !v.contains('.') {
                                1e6
                            } else {
                                1e3
                            }
                        } else {
                            t
                        }
                    })
            }
            Kind::Tai64n => {
                let v = text(1).unwrap_or("");
                let hex = v.get(2..17).unwrap_or("");
                u64::from_str_radix(hex, 16)
                    .map(|s| s as f64)
                    .map_err(|_| ConversionFailure::Invalid(format!("bad TAI64N {v:?}")))
            }
            Kind::Pattern => {
                if slot.regex.is_none() {
                    return Converted::Plain(Err(ConversionFailure::Invalid(
                        "template not compiled".to_string(),
                    )));
                }
                // Groups the conversion reads, in group order (later ones
                // override earlier ones), on the stack for the usual few.
                const INLINE: usize = 16;
                let mut inline: [(&str, &str); INLINE] = [("", ""); INLINE];
                let mut spill: Vec<(&str, &str)> = Vec::new();
                let mut n = 0;
                let (mut has, mut mask) = (0u8, 0u64);
                for (i, (g, name, kind)) in slot.fields.iter().enumerate() {
                    let Some(v) = text(*g) else { continue };
                    has |= kind;
                    // (a template with more than 64 fields is not memoised)
                    mask |= 1u64.checked_shl(i as u32).unwrap_or(0);
                    if n < INLINE {
                        inline[n] = (name.as_str(), v);
                    } else {
                        if spill.is_empty() {
                            spill.extend_from_slice(&inline);
                        }
                        spill.push((name.as_str(), v));
                    }
                    n += 1;
                }
                let now_key = (has != HAS_Y | HAS_M | HAS_D).then(|| now_raw.to_bits());
                let groups = if n <= INLINE {
                    &inline[..n]
                } else {
                    &spill[..]
                };
                let memoisable = slot.fields.len() <= 64;
                return match &slot.memo {
                    Some(m) if memoisable && m.matches(mask, groups, now_key) => {
                        Converted::Memo(m.result.clone())
                    }
                    _ => {
                        let r =
                            convert::groups_to_time(groups, self.default_tz, &self.local_tz, now);
                        if memoisable {
                            let memo = Memo::new(mask, groups, now_key, &r);
                            Converted::New(r, memo)
                        } else {
                            Converted::Plain(r)
                        }
                    }
                };
            }
        })
    }
}

#[cfg(test)]
mod tests;
