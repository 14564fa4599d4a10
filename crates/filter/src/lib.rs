//! A log line → failures, as fail2ban's `Filter.processLine`/`findFailure`.
//!
//! Design decisions:
//! - **Regex engine.** Every filter regex is compiled with PCRE2 through
//!   `gaoler-matcher`, which reads Python syntax and fixes the dialect gaps
//!   (§2.8). Python's `$` (end, or before the buffer's final `\n`) is PCRE2's
//!   default, so the buffer is built exactly as upstream builds it, trailing
//!   newline included.
//! - **Lazy common path.** Most log lines match nothing. With `maxlines == 1`
//!   we derive from each failregex its most selective set of literals one of
//!   which any match must contain (`gaoler_matcher::literals`). Because the
//!   regexes see the line *with its date removed*, a literal could straddle
//!   the removed date, so stage 1 (on the raw line, before date detection)
//!   looks for the first or second *half* of each literal: one of the two
//!   survives intact on either side of the cut. Stage 2 (after date removal)
//!   looks for the full literals before the prefregex and failregexes run.
//!   Both stages are sound: `tests/samples.rs` checks that results with and
//!   without the prefilter are identical. If any failregex has no usable
//!   literal the prefilter is off. Tracking *which* failregex may match with
//!   the literal scans was tried and dropped: the overlapping scans cost
//!   more than the PCRE2 calls they saved.
//! - **Candidate DFA** (`dfa.rs`). After date detection, and before any
//!   per-line allocation, one lazy DFA built from relaxed (superset) forms
//!   of `prefregex` + each failregex runs over the date-stripped line. An
//!   empty answer ends the line (only the date bookkeeping is done); else
//!   only the failregexes it names go to PCRE2 (sshd: 1–2 of 25). It
//!   replaces literal stage 2 where it can be built (88 of 99 stock jails),
//!   and it also runs with `eager_dates` since it changes no observable
//!   result, except that it is not used when ignoreregexes run before the
//!   failregexes (their hits are reported for every line). It is built on
//!   the first line, so filters built only to validate regexes do not pay
//!   for it. With at most three failregexes it only rejects lines, so it
//!   is paused like stage 1 on a log where it rejects fewer than one line
//!   in four (an address spray, where every line is a failure).
//!   [`Filter::disable_prefilters`] turns every shortcut off; the
//!   differential tests compare against that, over the upstream sample
//!   logs and over `shared/bench/genlog.py` output.
//! - **Last date on skipped lines.** Upstream parses the date of every line
//!   and remembers it (time and text) for following undated lines. Lines
//!   the literal prefilter rejects are not date-parsed; they are held (with
//!   their `now`), in order, until a later line settles the question:
//!   - a line with a converted date overwrites the last date whatever came
//!     before, so the held lines are dropped unparsed (the common case);
//!   - a line that needs the last date (none on it, or an empty date match)
//!     parses the held lines newest first, and the first one with a date
//!     gives the last date (an undated line leaves it unchanged, so older
//!     ones cannot matter any more);
//!   - when the hold is full (`SKIPPED_LINES` lines or `SKIPPED_BYTES`), the
//!     arriving line is parsed at once: a date makes every held line
//!     irrelevant, and an undated line changes nothing and is dropped.
//!
//!   So the last date is exactly the eager one, and only about one skipped
//!   line in `SKIPPED_LINES` is parsed. This relies on undated lines never
//!   changing the last date, which fails in one case: the server's time
//!   checks in operation mode replace a last date more than 60 s in the
//!   future by now on *every* line. So in operation mode with
//!   `check_find_time` the literal prefilter is bypassed and every line is
//!   dated (the candidate DFA still saves the regex work; a live log is
//!   slow anyway, and the catch-up reading before operation mode stays
//!   lazy). What stays different is the date detector's template order
//!   (which templates were tried and won), a heuristic cache that decides
//!   the template only for lines with several dates.
//!   [`FilterSpec::eager_dates`] turns the prefilter off for callers that
//!   need every date (fail2ban-regex's template statistics); stage 1 then
//!   only gates the candidate DFA, after the date is parsed.
//! - **Stage 1 measures itself.** On logs where most lines carry one of the
//!   literals (sshd's 25 failregexes have many) the scan costs more than it
//!   saves; it is paused while it rejects fewer than 3 lines in 4 (see
//!   `Stage1`). Results do not depend on it.
//! - **Failure data** is a small sorted map of group name → [`Value`]
//!   (`data.rs`); groups that did not participate (Python `None`) are
//!   simply absent. With a prefregex head (see `ContentTail`), a hit's
//!   data is built straight from the head's and the failregex's capture
//!   locations in key order (`DataPlan`, fixed per failregex when the
//!   filter is built) rather than from group lists merged per line. Such
//!   a hit carries only where its values lie in the line (`HitData::Spans`):
//!   the NOFAIL hits that forget their mlfid (most hit lines of sshd logs)
//!   are settled from those (`Filter::forgotten`) and the data is built
//!   only for a failure that keeps it.
//! - **Pure half, stateful half.** For single-line buffers a line's date
//!   search, candidate DFA and regexes depend on the line alone (and on
//!   the date detector's template order); what follows (last date, mlfid
//!   cache, failure data) depends on the lines before. The code keeps the
//!   two apart: [`Filter::examine`] and [`Filter::settle`] are the halves
//!   [`Filter::process_line_detailed`] runs one after the other, so that a
//!   reader can run the first on other threads ([`Filter::fork`]) and the
//!   second in line order, with the same results.
//! - The mlfid cache follows `Filter._mergeFailure` literally (flag bits 1 =
//!   nofail, 2 = forget, 4 = previous nofail/gained, 8 = gained). Its TTL uses
//!   the `now` passed in, not the wall clock, so tests are deterministic.
//!
//! Layout: this file holds the [`Filter`] and its entry points (build,
//! fork, `process_line*`, `examine`/`settle`) and a line's date decision;
//! `spec` what a filter is asked and answers; `prefilter` the candidate
//! machinery, whose contract is "a rejected line is one no failregex can
//! match" (false positives allowed, never a false negative); `find`
//! fail2ban's `findFailure` proper; `mlfid` the multi-line ID cache; `hit`
//! and `ids` one match and the ID it names; `regex`, `tags`, `data`,
//! `dates` and `dfa` the parts below.

#![deny(missing_docs)]

mod data;
mod dates;
mod dfa;
mod find;
mod hit;
mod ids;
mod mlfid;
mod options;
mod prefilter;
mod regex;
mod spec;
mod tags;

use std::collections::{BTreeSet, HashMap, VecDeque};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
pub use gaoler_addr::{Addr, Family};
use gaoler_matcher::Locations;

pub use data::{Data, Str, Value};
pub use dates::{DateDetector, DateFinder, DateHit};
pub use gaoler_datedetector::Checkpoint;
pub use regex::{tuple_lines_buf, TupleLine};
use regex::{ContentTail, DataPlan, FRegex, HeadMatch, Match};
pub use tags::{glob_to_local_flags, resolve_tags};

pub use hit::Examined;
use hit::*;
use ids::*;
use mlfid::*;
pub use options::FilterOptions;
use prefilter::*;
pub use spec::*;

/// A configured filter with its state (multi-line buffer, last date, mlfid
/// cache).
pub struct Filter {
    spec: FilterSpec,
    prefregex: Option<(FRegex, Locations)>,
    /// The prefregex's head alone, when its content ends the line.
    pref_tail: Option<Box<ContentTail>>,
    /// With a head: each failregex's [`DataPlan`], if it can have one
    /// (empty without a head).
    plans: Vec<Option<DataPlan>>,
    failregex: Vec<(FRegex, Locations)>,
    ignoreregex: Vec<(FRegex, Locations)>,
    prefilter: Option<Prefilter>,
    /// With `eager_dates`: the same literals, checked after the date and
    /// before the candidate DFA (see [`Filter::candidates`]).
    gate: Option<Prefilter>,
    /// Whether literal stage 1 currently pays for itself (see [`Stage1`]).
    stage1: Stage1,
    /// Whether the candidate DFA currently pays for itself: with at most
    /// `dfa::FEW` failregexes it only rejects (a line it lets through
    /// runs them all), so on a log where it rejects fewer than one line in
    /// four (an address spray: every line a failure) the scan is pure
    /// cost, and it is paused as [`Stage1`] is; the failregexes then run
    /// behind literal stage 2. Results are the same either way.
    dfa_use: Stage1,
    dates: Box<dyn DateFinder>,
    buffer: Vec<TupleLine>,
    last_date: Option<f64>,
    last_time_text: String,
    /// Lines skipped by the prefilter, dates not yet parsed.
    skipped: Skipped,
    /// Stage-2 candidate DFA (see `dfa.rs`), built on first use.
    dfa: DfaState,
    /// The DFA ran on the current line: only its candidates may match.
    candidates_known: bool,
    /// The DFA is paused on the current line (see `dfa_use`): literal
    /// stage 2, which rejects no line the DFA lets through, is skipped
    /// too.
    dfa_paused_now: bool,
    /// Reused buffer for the DFA's view of the line.
    scratch: String,
    /// `scratch` holds the current line's buffer text (see `candidates`).
    scratch_built: bool,
    /// Reused buffer for the prefregex's content group (plus `\n`).
    content: String,
    /// Reused buffers for a failregex's groups and the prefregex's.
    groups: Vec<(Str, Value)>,
    pre_groups: Vec<(Str, Value)>,
    in_operation: bool,
    mlfid: MlfidCache,
    /// The prefregex matches every non-empty line (`dfa::matches_every_line`).
    pref_every_line: bool,
    /// With `count_prefregex`: a candidate DFA of the prefregex alone, to
    /// rule it out cheaply on lines the failregexes' DFA rejected, and
    /// before it the prefregex's required literals.
    pref_dfa: DfaState,
    pref_literals: Option<AllLiteralSets>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("spec", &self.spec).finish()
    }
}

impl Filter {
    /// Build a filter using the default date detector.
    pub fn new(spec: FilterSpec) -> Result<Filter, FilterError> {
        let dates =
            dates::default_finder(spec.datepattern.as_deref(), spec.logtimezone.as_deref())?;
        Self::with_date_finder(spec, dates)
    }
    /// Build a filter with a caller-supplied date finder.
    pub fn with_date_finder(
        spec: FilterSpec,
        dates: Box<dyn DateFinder>,
    ) -> Result<Filter, FilterError> {
        let maxlines = spec.maxlines.max(1);
        let multiline = maxlines > 1;
        let prefregex = match spec.prefregex.as_deref() {
            Some(p) if !p.trim().is_empty() => Some(FRegex::new(p, multiline, spec.usedns)?),
            _ => None,
        };
        let mut failregex = Vec::with_capacity(spec.failregex.len());
        for f in &spec.failregex {
            let r = FRegex::new(f, multiline, spec.usedns)?;
            let has_id = FAILURE_ID_PRESENTS
                .iter()
                .any(|g| r.has_group(g) || prefregex.as_ref().is_some_and(|p| p.has_group(g)));
            if !has_id {
                return Err(FilterError::NoFailureId { regex: r.text });
            }
            failregex.push(r);
        }
        let mut ignoreregex = Vec::with_capacity(spec.ignoreregex.len());
        for i in &spec.ignoreregex {
            // ignoreregexes are compiled without MULTILINE, as upstream does
            ignoreregex.push(FRegex::new(i, false, spec.usedns)?);
        }
        let prefilter = if maxlines == 1 && !failregex.is_empty() {
            Prefilter::build(&failregex)
        } else {
            None
        };
        let (prefilter, gate) = match spec.eager_dates {
            true => (None, prefilter),
            false => (prefilter, None),
        };
        let with_locs = |r: FRegex| {
            let l = r.locations();
            (r, l)
        };
        let pref_every_line = !multiline
            && prefregex
                .as_ref()
                .is_some_and(|p| dfa::matches_every_line(&p.text));
        let pref_tail = match &prefregex {
            Some(p) if !multiline => ContentTail::new(p).map(Box::new),
            _ => None,
        };
        let plans = match (&prefregex, &pref_tail) {
            (Some(p), Some(_)) => failregex.iter().map(|f| DataPlan::new(p, f)).collect(),
            _ => Vec::new(),
        };
        Ok(Filter {
            prefregex: prefregex.map(with_locs),
            pref_tail,
            plans,
            failregex: failregex.into_iter().map(with_locs).collect(),
            ignoreregex: ignoreregex.into_iter().map(with_locs).collect(),
            prefilter,
            gate,
            stage1: Stage1::default(),
            dfa_use: Stage1::default(),
            dates,
            buffer: Vec::new(),
            last_date: None,
            last_time_text: String::new(),
            skipped: Skipped::default(),
            dfa: DfaState::Unbuilt,
            candidates_known: false,
            dfa_paused_now: false,
            scratch: String::new(),
            scratch_built: false,
            content: String::new(),
            groups: Vec::new(),
            pre_groups: Vec::new(),
            in_operation: false,
            mlfid: MlfidCache::new(),
            pref_every_line,
            pref_dfa: DfaState::Unbuilt,
            pref_literals: None,
            spec: FilterSpec { maxlines, ..spec },
        })
    }
    /// What the filter was built from.
    pub fn spec(&self) -> &FilterSpec {
        &self.spec
    }
    /// Whether the literal prefilter is active.
    pub fn has_prefilter(&self) -> bool {
        self.prefilter.is_some()
    }
    /// Whether the candidate DFA is in use (known after the first line).
    pub fn has_candidate_dfa(&self) -> bool {
        matches!(self.dfa, DfaState::Built(_))
    }
    /// Whether the candidate DFA is paused for not paying for itself (see
    /// the module docs), for tests and statistics.
    pub fn candidate_dfa_paused(&self) -> bool {
        self.dfa_use.paused > 0
    }
    /// Turn off every shortcut (prefilters), so each line takes the
    /// reference path: what differential tests compare against.
    pub fn disable_prefilters(&mut self) {
        self.prefilter = None;
        self.gate = None;
        self.dfa = DfaState::Off;
    }
    /// Expanded failregex texts (after tag replacement), by index.
    pub fn failregex_texts(&self) -> Vec<&str> {
        self.failregex
            .iter()
            .map(|(r, _)| r.text.as_str())
            .collect()
    }
    /// The ignoreregexes as compiled (tags expanded).
    pub fn ignoreregex_texts(&self) -> Vec<&str> {
        self.ignoreregex
            .iter()
            .map(|(r, _)| r.text.as_str())
            .collect()
    }
    /// The prefregex as compiled (tags expanded).
    pub fn prefregex_text(&self) -> Option<&str> {
        self.prefregex.as_ref().map(|(r, _)| r.text.as_str())
    }
    /// Server "operation mode" (the file was read to EOF at least once):
    /// affects the time sanity checks when `check_find_time` is set.
    pub fn set_in_operation(&mut self, yes: bool) {
        self.in_operation = yes;
    }
    /// Process one log line (without its trailing newline).
    pub fn process_line(&mut self, line: &str, now: f64) -> Vec<Failure> {
        self.process_line_detailed(line, now).failures
    }
    /// Process a pre-split line (journal backends: `("", date_text, msg)`)
    /// with a known time; no date detection happens.
    pub fn process_line_with_date(
        &mut self,
        tuple: TupleLine,
        time: f64,
        now: f64,
    ) -> Vec<Failure> {
        self.process_line_with_date_detailed(tuple, time, now)
            .failures
    }
    /// Like [`Filter::process_line_with_date`], returning also ignore hits
    /// (and, with [`FilterSpec::count_prefregex`], the prefregex's result).
    pub fn process_line_with_date_detailed(
        &mut self,
        tuple: TupleLine,
        time: f64,
        now: f64,
    ) -> LineOutcome {
        self.skipped.clear();
        self.candidates_known = false;
        self.dfa_paused_now = false;
        self.last_time_text.clone_from(&tuple.date);
        self.last_date = Some(time);
        let d = Dated {
            date: Some(time),
            no_date: false,
            cut: None,
            from_last: false,
        };
        if self.spec.maxlines > 1 {
            return self.after_date_multi(tuple, &d, now, None);
        }
        // the regexes see prefix + suffix; the matched line is all three
        let mut line = String::with_capacity(tuple.prefix.len() + tuple.suffix.len());
        line.push_str(&tuple.prefix);
        line.push_str(&tuple.suffix);
        let scan = self.scan(&line, None);
        let pref = self.pref_hit(&scan, &line, None);
        let full = tuple.full();
        let mut out = self.finish_single(&line, &full, &d, scan, now, None);
        out.prefregex = pref;
        out
    }
    /// Like [`Filter::process_line`], returning also ignore hits and the date.
    pub fn process_line_detailed(&mut self, line: &str, now: f64) -> LineOutcome {
        // Cheap rejection first (not when undated lines may change the
        // last date: see the module docs).
        let dates_settle = !(self.spec.check_find_time.is_some() && self.in_operation);
        // (`stage1` is asked only when there is a prefilter: with eager
        // dates the gate in `candidates` asks it, once per line)
        let dfa_built = matches!(self.dfa, DfaState::Built(_));
        let prefiltered = dates_settle
            && self
                .prefilter
                .as_ref()
                .is_some_and(|pf| pf.stage1_runs(dfa_built))
            && self.stage1.active()
            && match &self.prefilter {
                Some(pf) => {
                    let reject = !pf.may_match(line);
                    self.stage1.count(reject, dfa_built);
                    reject
                }
                None => false,
            };
        if prefiltered {
            self.skip_line(line, now);
            return LineOutcome {
                prefiltered: true,
                ..Default::default()
            };
        }
        if self.spec.maxlines > 1 {
            let hit = self.dates.find(line, now);
            let d = self.date_decision(line, hit.as_ref(), now);
            let tuple = self.tuple_for(line, &d);
            return self.after_date_multi(tuple, &d, now, hit);
        }
        let ex = self.examine(line, now);
        self.settle(ex, line, now)
    }
    /// A copy of this filter that can [`examine`](Filter::examine) lines on
    /// another thread, for [`settle`](Filter::settle) here in line order.
    /// It shares the compiled regexes and automata and has its own
    /// scratch state and a clone of the date detector. `None` when lines
    /// cannot be examined apart from their neighbours: multi-line buffers,
    /// server time checks (undated lines then change the last date) or a
    /// date finder that is not the stock detector.
    pub fn fork(&mut self) -> Option<Filter> {
        if self.spec.maxlines > 1 || self.spec.check_find_time.is_some() {
            return None;
        }
        let dates = self.dates.as_detector()?.clone();
        self.ensure_dfa();
        let with_locs = |(r, _): &(FRegex, Locations)| (r.clone(), r.locations());
        Some(Filter {
            spec: self.spec.clone(),
            prefregex: self.prefregex.as_ref().map(with_locs),
            pref_tail: self.pref_tail.clone(),
            plans: self.plans.clone(),
            failregex: self.failregex.iter().map(with_locs).collect(),
            ignoreregex: self.ignoreregex.iter().map(with_locs).collect(),
            prefilter: self.prefilter.clone(),
            gate: self.gate.clone(),
            stage1: Stage1::default(),
            dfa_use: Stage1::default(),
            dates: Box::new(dates),
            buffer: Vec::new(),
            last_date: None,
            last_time_text: String::new(),
            skipped: Skipped::default(),
            dfa: match &self.dfa {
                DfaState::Built(d) => DfaState::Built(Box::new(d.fork())),
                _ => DfaState::Off,
            },
            candidates_known: false,
            dfa_paused_now: false,
            scratch: String::new(),
            scratch_built: false,
            content: String::new(),
            groups: Vec::new(),
            pre_groups: Vec::new(),
            in_operation: self.in_operation,
            mlfid: MlfidCache::new(),
            pref_every_line: self.pref_every_line,
            pref_dfa: match &self.pref_dfa {
                DfaState::Built(d) => DfaState::Built(Box::new(d.fork())),
                _ => DfaState::Off,
            },
            pref_literals: self.pref_literals.clone(),
        })
    }
    /// The half of [`Filter::process_line_detailed`] that does not depend
    /// on earlier lines (also on a [`fork`](Filter::fork)): the date, the
    /// candidate DFA and the regexes. Every line's date is parsed (the
    /// literal prefilter's lazy dates need the lines in order). Single-line
    /// buffers only.
    pub fn examine(&mut self, line: &str, now: f64) -> Examined {
        let hit = self.dates.find(line, now);
        let cut = hit.as_ref().and_then(|h| date_span(line, h));
        let scan = self.scan(line, cut);
        let pref = self.pref_hit(&scan, line, cut);
        Examined {
            hit,
            cut,
            scan,
            pref,
        }
    }
    /// The other half: what [`Filter::examine`] found on a fork, applied
    /// here in line order (last date, mlfid cache, failure data). The
    /// result is what [`Filter::process_line_detailed`] gives. The caller
    /// keeps this filter's date detector in step with the forks' (see
    /// `DateDetector::absorb`).
    pub fn settle(&mut self, ex: Examined, line: &str, now: f64) -> LineOutcome {
        let d = self.date_decision(line, ex.hit.as_ref(), now);
        // The fork assumed the date is cut out whenever its text is not
        // empty; a date that did not convert is not when the last date is
        // recent: match again here (rare).
        let (scan, pref) = if d.cut == ex.cut {
            (ex.scan, ex.pref)
        } else {
            let scan = self.scan(line, d.cut);
            let pref = self.pref_hit(&scan, line, d.cut);
            (scan, pref)
        };
        let mut out = self.finish_with_date(line, &d, scan, now, ex.hit);
        out.prefregex = pref;
        out
    }
    /// With [`FilterSpec::count_prefregex`]: does the prefregex match the
    /// line without `cut`? Known when the regexes ran; otherwise decided
    /// here (without running it when it matches every non-empty line).
    fn pref_hit(&mut self, scan: &Scan, line: &str, cut: Option<(usize, usize)>) -> Option<bool> {
        if !self.spec.count_prefregex {
            return None;
        }
        let (pr, locs) = self.prefregex.as_mut()?;
        if let Scan::Matched(m) = scan {
            if m.early_ignored.is_empty() {
                return Some(!m.pre_failed);
            }
        }
        let cut_len = cut.map_or(0, |(s, e)| e - s);
        if self.pref_every_line {
            return Some(line.len() > cut_len);
        }
        // (`scan` built the text unless literal stage 1 rejected the line)
        if !self.scratch_built {
            buffer_text(&mut self.scratch, line, cut);
        }
        let text = &self.scratch;
        if self
            .pref_literals
            .as_ref()
            .is_some_and(|l| !l.may_match(text))
        {
            return Some(false);
        }
        if let DfaState::Built(d) = &mut self.pref_dfa {
            if !d.scan(text) {
                return Some(false);
            }
        }
        let head =
            ContentTail::find_in(self.pref_tail.as_deref_mut(), text).unwrap_or(HeadMatch::Unsure);
        Some(match head {
            HeadMatch::No => false,
            HeadMatch::Content(..) => true,
            HeadMatch::Unsure => pr.is_match(locs, text).unwrap_or(false),
        })
    }
    /// Settle a run of [quiet](Examined::quiet) lines: what settling each
    /// would do, which is to make the last dated one's date (`date`: time
    /// and text) the last date.
    pub fn settle_quiet(&mut self, date: Option<(f64, &str)>) {
        if let Some((t, text)) = date {
            self.skipped.clear();
            self.last_date = Some(t);
            self.last_time_text.clear();
            self.last_time_text.push_str(text);
        }
    }
    /// fail2ban's date handling at the start of `findFailure`: the date to
    /// use, the span cut out of the line, and the last-date bookkeeping.
    fn date_decision(&mut self, line: &str, hit: Option<&DateHit>, now: f64) -> Dated {
        let mut d = Dated {
            date: None,
            no_date: false,
            cut: None,
            from_last: false,
        };
        if let Some(h) = hit {
            if let Some((s, e)) = date_span(line, h) {
                d.cut = Some((s, e));
                if let Some(t) = h.time {
                    // overwrites the last date: held lines cannot matter
                    self.skipped.clear();
                    d.date = Some(t);
                    self.last_time_text.clear();
                    self.last_time_text.push_str(&line[s..e]);
                    self.last_date = Some(t);
                } else {
                    tracing::error!("findFailure failed to parse timeText: {}", &line[s..e]);
                }
            } else if h.start <= h.end && line.get(h.start..h.end).is_some() {
                // an empty date match
                self.resolve_skipped();
                if self.last_date.is_some_and(|t| t > now - 60.0) {
                    d.from_last = true;
                    d.date = self.last_date;
                } else {
                    d.date = Some(now);
                }
            }
        }
        if d.date.is_none() {
            d.no_date = true;
            self.resolve_skipped();
            if self.last_date.is_some_and(|t| t > now - 60.0) {
                d.cut = None;
                d.from_last = true;
                d.date = self.last_date;
            } else if self.spec.check_find_time.is_some() && self.in_operation {
                d.date = Some(now);
            }
        }
        d
    }
    /// The buffer line for multi-line matching: the line cut around its
    /// date, or the whole line with the last date's text (or none).
    fn tuple_for(&self, line: &str, d: &Dated) -> TupleLine {
        match d.cut {
            Some((s, e)) => TupleLine {
                prefix: line[..s].to_string(),
                date: line[s..e].to_string(),
                suffix: line[e..].to_string(),
            },
            None => TupleLine {
                prefix: String::new(),
                date: if d.from_last {
                    self.last_time_text.clone()
                } else {
                    String::new()
                },
                suffix: line.to_string(),
            },
        }
    }
    /// Candidate check and regexes on a single-line buffer: `line` without
    /// `cut`, plus the trailing newline.
    fn scan(&mut self, line: &str, cut: Option<(usize, usize)>) -> Scan {
        if !self.candidates(line, cut) {
            return Scan::Rejected;
        }
        let text = std::mem::take(&mut self.scratch);
        let r = self.match_text(
            &text,
            LineMap {
                cut,
                len: line.len(),
            },
        );
        self.scratch = text;
        match r {
            Ok(Some(m)) => Scan::Matched(Box::new(m)),
            Ok(None) => Scan::Rejected,
            Err(e) => Scan::Failed(e),
        }
    }
    fn finish_with_date(
        &mut self,
        line: &str,
        d: &Dated,
        scan: Scan,
        now: f64,
        hit: Option<DateHit>,
    ) -> LineOutcome {
        // The matched line is the buffer's (prefix, date, suffix): the line
        // itself, or the last date's text and the line.
        let full: std::borrow::Cow<'_, str> = if d.cut.is_none() && d.from_last {
            let mut s = String::with_capacity(self.last_time_text.len() + line.len());
            s.push_str(&self.last_time_text);
            s.push_str(line);
            s.into()
        } else {
            line.into()
        };
        self.finish_single(line, &full, d, scan, now, hit)
    }
    /// Time checks and the failure data of a single-line buffer built from
    /// `line`; `full` is the matched line as reported (`matches`).
    fn finish_single(
        &mut self,
        line: &str,
        full: &str,
        d: &Dated,
        scan: Scan,
        now: f64,
        hit: Option<DateHit>,
    ) -> LineOutcome {
        let mut out = LineOutcome {
            date: hit,
            ..Default::default()
        };
        // (time bookkeeping happens also when no failregex can match)
        let Ok(date) = self.time_sanity(d.date, now) else {
            return out;
        };
        let mut m = match scan {
            Scan::Rejected => return out,
            Scan::Failed(e) => {
                out.unevaluated = unevaluated(e);
                return out;
            }
            Scan::Matched(m) => *m,
        };
        out.unevaluated = m.exhausted.take();
        if !m.early_ignored.is_empty() {
            out.ignored_by = m.early_ignored;
            return out;
        }
        if m.pre_failed {
            return out;
        }
        let check_all = self.spec.check_all_regex;
        for (idx, hit) in m.hits {
            if !m.late_ignored.is_empty() {
                out.ignored_by.extend_from_slice(&m.late_ignored);
                if !check_all {
                    break;
                }
                continue;
            }
            if d.no_date {
                tracing::warn!("Found a match but no valid date/time found for {full:?}");
                if date.is_none() && self.spec.check_find_time.is_some() {
                    continue;
                }
            }
            // (a counting caller never reads the matched lines)
            let matched = self.spec.failure_data.then(|| vec![full.to_string()]);
            let flow = self.add_failure(idx, hit, line, matched, date, now, &mut out.failures);
            if let Flow::Done = flow {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;

impl Filter {
    /// The stock date detector, if this filter uses one.
    pub fn date_detector(&self) -> Option<&DateDetector> {
        self.dates.as_detector()
    }
    /// [`Filter::date_detector`], to change (reference year, time zone).
    pub fn date_detector_mut(&mut self) -> Option<&mut DateDetector> {
        self.dates.as_detector_mut()
    }
}
