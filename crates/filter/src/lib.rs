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

mod data;
mod dates;
mod dfa;
mod regex;
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

/// Errors building a filter. Each carries the offending regex text.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("Cannot add empty regex")]
    EmptyRegex,
    #[error("Unable to compile regular expression '{regex}': {message}")]
    Compile { regex: String, message: String },
    #[error("No failure-id group in '{regex}'")]
    NoFailureId { regex: String },
    #[error("regex match failed for '{regex}': {message}")]
    Match { regex: String, message: String },
    /// The regex could not finish its search within the matcher's limits
    /// (see `gaoler_matcher::Exhausted`): the line was not evaluated.
    #[error("line not evaluated, regex '{regex}': {reason}")]
    Exhausted { regex: String, reason: String },
    #[error("date detector: {0}")]
    Date(String),
}

impl FilterError {
    /// A matcher error of `regex`, keeping "ran out of resources" apart.
    pub(crate) fn from_match(regex: &str, e: gaoler_matcher::Error) -> FilterError {
        match e {
            gaoler_matcher::Error::Exhausted(x) => FilterError::Exhausted {
                regex: regex.to_string(),
                reason: x.to_string(),
            },
            e => FilterError::Match {
                regex: regex.to_string(),
                message: e.to_string(),
            },
        }
    }
}

/// A line's error as [`LineOutcome::unevaluated`]: an unfinished search is
/// the caller's to count; any other error is a bug, logged here.
fn unevaluated(e: FilterError) -> Option<String> {
    match e {
        FilterError::Exhausted { .. } => Some(e.to_string()),
        e => {
            tracing::error!("Failed to process line: {e}");
            None
        }
    }
}

/// `usedns` jail option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UseDns {
    Yes,
    #[default]
    Warn,
    No,
    Raw,
}

impl std::str::FromStr for UseDns {
    type Err = String;
    fn from_str(s: &str) -> Result<UseDns, String> {
        match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" => Ok(UseDns::Yes),
            "warn" => Ok(UseDns::Warn),
            "no" | "false" | "off" | "0" => Ok(UseDns::No),
            "raw" => Ok(UseDns::Raw),
            other => Err(format!("invalid usedns value {other:?}")),
        }
    }
}

/// One candidate failure (`[regexIndex, ID, time, data]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub regex_index: usize,
    /// `None` for a pending mlfid failure (no ID known yet).
    pub id: Option<Addr>,
    /// `None` only when no date could be found or assumed (never in server
    /// mode with `check_find_time`).
    pub time: Option<f64>,
    pub data: Data,
}

impl Failure {
    /// "Not a failure by itself" (`<F-NOFAIL>`, `<F-MLFGAINED>`).
    pub fn is_nofail(&self) -> bool {
        self.data.get("nofail").is_some_and(Value::is_truthy)
    }
    pub fn is_pending(&self) -> bool {
        self.id.is_none()
    }
    /// Counts for the jail / samples: has an ID and is not nofail.
    pub fn is_real(&self) -> bool {
        !self.is_pending() && !self.is_nofail()
    }
    pub fn matches(&self) -> &[String] {
        match self.data.get("matches") {
            Some(Value::Lines(l)) => l,
            _ => &[],
        }
    }
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

/// Everything that configures a filter.
#[derive(Clone, Debug)]
pub struct FilterSpec {
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    /// Lines in the multi-line buffer (0 is treated as 1).
    pub maxlines: usize,
    /// `None` or `{DEFAULT}`: default templates.
    pub datepattern: Option<String>,
    pub logtimezone: Option<String>,
    pub usedns: UseDns,
    /// DNS names become raw IDs (fail2ban-regex `--raw`, sample tests).
    pub return_raw_host: bool,
    /// Report every matching failregex (fail2ban-regex, tests) rather than
    /// stopping at the first (server).
    pub check_all_regex: bool,
    /// Server-mode time sanity: `Some(findtime)` enables `checkFindTime`.
    pub check_find_time: Option<f64>,
    /// Disable the literal prefilter (parse every line's date).
    pub eager_dates: bool,
    /// In first-match mode, drop failures whose ID is still unknown (mlfid
    /// pending) instead of returning them (upstream `ignorePending`).
    pub ignore_pending: bool,
    /// Report for every line whether the prefregex matches it
    /// ([`LineOutcome::prefregex`], fail2ban-regex's statistics).
    pub count_prefregex: bool,
    /// Failures carry their data and matched lines. Off, no matched lines
    /// are kept, and a failure whose data the mlfid cache keeps carries only
    /// its `nofail` flag (enough to count it), which saves copying the
    /// data: for callers that only count.
    pub failure_data: bool,
}

impl Default for FilterSpec {
    fn default() -> Self {
        FilterSpec {
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            maxlines: 1,
            datepattern: None,
            logtimezone: None,
            usedns: UseDns::Warn,
            return_raw_host: false,
            check_all_regex: false,
            check_find_time: None,
            eager_dates: false,
            ignore_pending: true,
            count_prefregex: false,
            failure_data: true,
        }
    }
}

/// Detailed outcome of one line (for fail2ban-regex style reporting).
#[derive(Clone, Debug, Default)]
pub struct LineOutcome {
    pub failures: Vec<Failure>,
    /// Indices of ignoreregexes that hit. With the prefilter active, lines
    /// that cannot match any failregex never reach the ignoreregexes, so no
    /// hit is recorded for them (use `eager_dates` for full statistics).
    pub ignored_by: Vec<usize>,
    /// The date found on this line, if one was searched and found.
    pub date: Option<DateHit>,
    /// The line never got past the literal prefilter.
    pub prefiltered: bool,
    /// Whether the prefregex matches the line without its date (with
    /// [`FilterSpec::count_prefregex`], single-line buffers, lines past
    /// the literal prefilter).
    pub prefregex: Option<bool>,
    /// A regex could not finish its search on this line within the
    /// matcher's limits (`gaoler_matcher::Exhausted`): why. The line was
    /// evaluated by the regexes that could, or not at all when the
    /// prefregex or an ignoreregex was the one. Callers count such lines
    /// and report them (they are lines an attacker may craft to hide).
    pub unevaluated: Option<String>,
}

const FAILURE_ID_PRESENTS: [&str; 5] = ["fid", "ip4", "ip6", "dns", "mlfid"];

/// The groups a failregex's own ID comes from, in the order the first one
/// present is taken (`Hit::id_fallback`).
const ID_GROUPS: [&str; 4] = ["fid", "ip4", "ip6", "dns"];

/// The keys a failure's ID is made of, in key order (see `failure_ids`).
const ID_KEYS: [&str; 5] = ["cidr", "dns", "fid", "ip4", "ip6"];

/// Two-stage literal prefilter (see the module documentation).
///
/// For every failregex we take its most selective required literal set
/// (every match contains one of its literals). Stage 1, on the raw line,
/// looks for the *halves* of those literals: a literal can straddle the date
/// that is removed before matching, and one of its halves then lies intact on
/// one side. Stage 2, on the date-stripped text the regexes will see, looks
/// for the full literals. A line failing either stage cannot match any
/// failregex. Both are single `is_match` scans of DFA-based Aho-Corasick
/// automata (exact and ASCII-case-insensitive literals kept apart so exact
/// ones stay selective). Which failregex might match is not tracked: PCRE2's
/// own start-of-match optimisations reject the others quickly, and per-regex
/// bookkeeping (overlapping scans) cost more than it saved.
#[derive(Clone)]
struct Prefilter {
    halves: Vec<AhoCorasick>,
    full: Vec<AhoCorasick>,
    /// More halves than `STAGE1_MAX_HALVES` (see there).
    wide: bool,
}

/// Most literal halves for which stage 1 runs ahead of a candidate DFA.
/// With more (sshd has 56, in an exact and a case-insensitive automaton)
/// Teddy verifies so many candidate positions of the short halves that a
/// scan costs several times the DFA walk it could save (~3,200 against
/// ~300 instructions on a line of another daemon, which the anchored DFA
/// leaves a few bytes past the prefix); freeswitch's 10 halves scan a
/// line for less than its DFA, which walks most lines to the end.
const STAGE1_MAX_HALVES: usize = 16;

/// Shortest literal worth using: halves of shorter ones are single bytes
/// and would let almost every line through.
const MIN_LIT: usize = 3;

fn automata(pats: &[Vec<Vec<u8>>; 2]) -> Option<Vec<AhoCorasick>> {
    let mut out = Vec::new();
    for (k, p) in pats.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        out.push(
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(k == 1)
                .match_kind(MatchKind::LeftmostFirst)
                .kind(Some(AhoCorasickKind::DFA))
                .build(p)
                .ok()?,
        );
    }
    Some(out)
}

impl Prefilter {
    fn build(failregex: &[FRegex]) -> Option<Prefilter> {
        let mut full: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        let mut halves: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        for r in failregex {
            let sets = gaoler_matcher::literals::required_literal_sets(&r.text, false, false)?;
            // most selective set: longest shortest literal, then fewest
            let best = sets
                .into_iter()
                .filter(|s| s.iter().all(|l| l.text.len() >= MIN_LIT))
                .max_by_key(|s| {
                    (
                        s.iter().map(|l| l.text.len()).min().unwrap_or(0),
                        std::cmp::Reverse(s.len()),
                    )
                })?;
            for l in best {
                let n = l.text.len();
                let k = usize::from(l.ci);
                halves[k].push(l.text[..n.div_ceil(2)].to_vec());
                halves[k].push(l.text[n / 2..].to_vec());
                full[k].push(l.text);
            }
        }
        Some(Prefilter {
            wide: halves.iter().map(Vec::len).sum::<usize>() > STAGE1_MAX_HALVES,
            halves: automata(&halves)?,
            full: automata(&full)?,
        })
    }

    /// Whether stage 1 runs at all (see `STAGE1_MAX_HALVES`).
    fn stage1_runs(&self, dfa_built: bool) -> bool {
        !(self.wide && dfa_built)
    }

    /// Stage 1: may any failregex match once the date is removed?
    fn may_match(&self, raw: &str) -> bool {
        self.halves.iter().any(|ac| ac.is_match(raw))
    }

    /// Stage 2: may any failregex match this date-stripped text?
    fn may_match_stripped(&self, text: &str) -> bool {
        self.full.iter().any(|ac| ac.is_match(text))
    }
}

/// Every required literal set of one regex, each as automata: a text that
/// lacks all literals of any one set cannot match (used for the
/// prefregex statistics, where one set alone lets many lines through: a
/// file name every line of a service has, say).
#[derive(Clone)]
struct AllLiteralSets {
    /// Most selective (longest shortest literal) first.
    sets: Vec<Vec<AhoCorasick>>,
}

impl AllLiteralSets {
    fn build(regex: &str) -> Option<AllLiteralSets> {
        let mut sets = gaoler_matcher::literals::required_literal_sets(regex, false, false)?;
        sets.retain(|s| !s.is_empty() && s.iter().all(|l| l.text.len() >= MIN_LIT));
        sets.sort_by_key(|s| std::cmp::Reverse(s.iter().map(|l| l.text.len()).min().unwrap_or(0)));
        let mut out = Vec::new();
        for set in sets {
            let mut pats: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
            for l in set {
                pats[usize::from(l.ci)].push(l.text);
            }
            out.push(automata(&pats)?);
        }
        (!out.is_empty()).then_some(AllLiteralSets { sets: out })
    }

    fn may_match(&self, text: &str) -> bool {
        self.sets
            .iter()
            .all(|set| set.iter().any(|ac| ac.is_match(text)))
    }
}

/// Most lines held back by the literal prefilter before one is parsed.
const SKIPPED_LINES: usize = 32;
/// Most bytes held (a run of huge lines is parsed rather than copied).
const SKIPPED_BYTES: usize = 16 << 10;

/// Lines skipped by the literal prefilter whose dates are not parsed yet,
/// oldest first (see the module docs, "Last date on skipped lines").
#[derive(Default)]
struct Skipped {
    /// The lines, one after the other.
    text: String,
    /// `(start, end, now)` of each line in `text`.
    lines: Vec<(usize, usize, f64)>,
}

impl Skipped {
    /// Hold `line`; `false` when the hold is full.
    fn push(&mut self, line: &str, now: f64) -> bool {
        if self.lines.len() >= SKIPPED_LINES || self.text.len() + line.len() > SKIPPED_BYTES {
            return false;
        }
        let start = self.text.len();
        self.text.push_str(line);
        self.lines.push((start, self.text.len(), now));
        true
    }

    fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
    }
}

/// Lines in one measuring window of literal stage 1.
const STAGE1_WINDOW: u32 = 4096;
/// Windows stage 1 stays off before it is measured again, after the first
/// window that does not pay; each further one doubles the pause, up to
/// `STAGE1_PAUSE_MAX`.
const STAGE1_PAUSE: u32 = 16;
const STAGE1_PAUSE_MAX: u32 = 256;

/// Whether literal stage 1 is worth running. A line it rejects saves the
/// date parsing and the candidate DFA, but the scan costs every line about
/// as much as those (more with many literals, as sshd's 25 failregexes
/// have: Teddy then verifies many candidate positions). So when the
/// candidate DFA is in use and stage 1 rejects fewer than three lines in
/// four of a window, it is switched off for `STAGE1_PAUSE` windows and
/// then measured again (the mix of a log can change). Off or on, results
/// are the same: this path is what `eager_dates` runs. With `eager_dates`
/// the same literals gate only the candidate DFA (after the date), and the
/// same measure decides. A log on which stage 1 keeps failing is measured
/// ever more rarely (a measured window costs sshd's mixed log more than
/// its candidate DFA scans).
#[derive(Default)]
struct Stage1 {
    seen: u32,
    rejected: u32,
    /// Windows left to skip stage 1.
    paused: u32,
    /// The next pause (0: `STAGE1_PAUSE`).
    next_pause: u32,
}

impl Stage1 {
    /// Run stage 1 on this line? (Counts paused lines.)
    fn active(&mut self) -> bool {
        if self.paused == 0 {
            return true;
        }
        self.seen += 1;
        if self.seen >= STAGE1_WINDOW {
            self.seen = 0;
            self.paused -= 1;
        }
        false
    }

    /// Record one stage-1 verdict; `dfa`: the candidate DFA is in use, so
    /// lines stage 1 lets through are rejected cheaply after the date.
    fn count(&mut self, rejected: bool, dfa: bool) {
        self.count_below(rejected, dfa, 3);
    }

    /// Record one verdict of a shortcut; with `may_pause`, a window where
    /// it rejected fewer than `quarters` lines in four pauses it.
    fn count_below(&mut self, rejected: bool, may_pause: bool, quarters: u32) {
        self.seen += 1;
        self.rejected += u32::from(rejected);
        if self.seen >= STAGE1_WINDOW {
            if may_pause && self.rejected * 4 < self.seen * quarters {
                self.paused = self.next_pause.max(STAGE1_PAUSE);
                self.next_pause = (self.paused * 2).min(STAGE1_PAUSE_MAX);
            } else {
                self.next_pause = STAGE1_PAUSE;
            }
            self.seen = 0;
            self.rejected = 0;
        }
    }
}

/// Lifecycle of the candidate DFA.
enum DfaState {
    Unbuilt,
    Off,
    Built(Box<dfa::CandidateDfa>),
}

/// The mlfid cache: at most 100 entries, 5 minutes TTL, FIFO eviction.
/// Keys come from log lines, but with at most 100 entries a fast
/// non-keyed hash cannot be flooded into more than a short scan.
struct MlfidCache {
    map: HashMap<Str, (Data, f64), rustc_hash::FxBuildHasher>,
    order: VecDeque<Str>,
}

const MLFID_MAX: usize = 100;
const MLFID_TTL: f64 = 300.0;

impl MlfidCache {
    fn new() -> Self {
        MlfidCache {
            map: HashMap::default(),
            order: VecDeque::new(),
        }
    }
    /// Move the live entry's data out (the slot stays, holding an empty
    /// map, until [`MlfidCache::update`] puts data back or it is unset).
    fn take(&mut self, k: &str, now: f64) -> Option<Data> {
        match self.map.get_mut(k) {
            Some((d, exp)) if *exp > now => Some(std::mem::take(d)),
            Some(_) => {
                self.unset(k);
                None
            }
            None => None,
        }
    }
    /// Replace the data of an existing entry, keeping its expiry.
    fn update(&mut self, k: &str, d: Data) {
        if let Some(slot) = self.map.get_mut(k) {
            slot.0 = d;
        }
    }
    fn set(&mut self, k: &str, d: Data, now: f64) {
        if !self.map.contains_key(k) && self.map.len() >= MLFID_MAX {
            while let Some(ck) = self.order.pop_front() {
                let Some((_, exp)) = self.map.remove(&ck) else {
                    continue;
                };
                if exp > now && self.map.len() < MLFID_MAX {
                    break;
                }
            }
        }
        if !self.map.contains_key(k) {
            self.order.push_back(Str::from(k));
        }
        self.map.insert(Str::from(k), (d, now + MLFID_TTL));
    }
    fn unset(&mut self, k: &str) {
        if self.map.remove(k).is_some() {
            self.order.retain(|x| x != k);
        }
    }
}

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

    pub fn ignoreregex_texts(&self) -> Vec<&str> {
        self.ignoreregex
            .iter()
            .map(|(r, _)| r.text.as_str())
            .collect()
    }

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

    /// The regexes on a single-line buffer `text` (line without date, plus
    /// `\n`). `None`: literal stage 2 says no failregex can match. Every
    /// failregex that may match is run, also when the server stops at the
    /// first failure: what comes after a match depends on state (mlfid
    /// cache, last date), so the choice is made in `finish_single`.
    fn match_text(&mut self, text: &str, at: LineMap) -> Result<Option<Matches>, FilterError> {
        // (taken out for the call: the head's capture locations stay
        // borrowed while the failregexes run)
        let mut tail = self.pref_tail.take();
        let r = self.match_text_with(text, at, tail.as_deref_mut());
        self.pref_tail = tail;
        r
    }

    fn match_text_with(
        &mut self,
        text: &str,
        at: LineMap,
        tail: Option<&mut ContentTail>,
    ) -> Result<Option<Matches>, FilterError> {
        // Prefilter stage 2: failregexes with a literal in the matched text
        // (the candidate DFA, when it ran, has already said more).
        if let (Some(pf), false, false) =
            (&self.prefilter, self.candidates_known, self.dfa_paused_now)
        {
            if !pf.may_match_stripped(text) {
                return Ok(None);
            }
        }
        let mut m = Matches::default();
        let n_ign = self.ignoreregex.len();
        let early_ignore = n_ign > 0 && n_ign + 2 < self.failregex.len();
        if early_ignore {
            m.early_ignored = self.ignore_hits(text)?;
            if !m.early_ignored.is_empty() {
                return Ok(Some(m));
            }
        }
        let mut content = std::mem::take(&mut self.content);
        content.clear();
        // (reused: the groups go into each hit's data by copy)
        let mut pre_groups = std::mem::take(&mut self.pre_groups);
        pre_groups.clear();
        // The head's groups, when the plans take them from there.
        let mut head = None;
        let mut content_at = 0;
        if let Some((pr, locs)) = &mut self.prefregex {
            let found = match ContentTail::find_in(tail, text)? {
                HeadMatch::No => None,
                HeadMatch::Content(s, e, head_locs) => {
                    // (its groups are read when a hit needs them)
                    head = Some(head_locs);
                    content_at = s;
                    content.push_str(&text[s..e]);
                    content.push('\n');
                    Some(pre_groups)
                }
                HeadMatch::Unsure => pr.search_groups(locs, text)?.map(|mut groups| {
                    if let Some(p) = groups.iter().position(|(k, _)| k == "content") {
                        if let (_, Value::Str(repl)) = groups.remove(p) {
                            if !repl.is_empty() {
                                content.push_str(&repl);
                                content.push('\n');
                            }
                        }
                    }
                    groups
                }),
            };
            let Some(groups) = found else {
                m.pre_failed = true;
                self.content = content;
                return Ok(Some(m));
            };
            pre_groups = groups;
        }
        let head = head.map(|h| (h, content_at, at));
        let result =
            self.run_failregexes(text, &content, &mut pre_groups, head, early_ignore, &mut m);
        self.pre_groups = pre_groups;
        self.content = content;
        result.map(|()| Some(m))
    }

    /// The failregex half of [`Filter::match_text`]: every failregex the
    /// candidate DFA allows on the content (or `text`), with the prefregex
    /// groups merged into each hit, then the late ignoreregexes. The
    /// prefregex groups are `pre_groups`, or with a prefregex `head` match
    /// its groups in those locations on `text` (the head has every group
    /// but the content): then a failregex with a [`DataPlan`] takes them
    /// from there, and `pre_groups` is filled for the others.
    fn run_failregexes(
        &mut self,
        text: &str,
        content: &str,
        pre_groups: &mut Vec<(Str, Value)>,
        // the head's locations, where the content starts, and where `text`
        // lies in the line
        head: Option<(&Locations, usize, LineMap)>,
        // the ignoreregexes ran before (see `match_text`)
        early_ignore: bool,
        m: &mut Matches,
    ) -> Result<(), FilterError> {
        let n_ign = self.ignoreregex.len();
        let ftext = if content.is_empty() { text } else { content };
        let dfa = match (&self.dfa, self.candidates_known) {
            (DfaState::Built(d), true) => Some(d),
            _ => None,
        };
        let mut result = Ok(());
        let mut groups = std::mem::take(&mut self.groups);
        let mut head_read = false;
        // the DFA's candidates (in order), or every failregex
        let cands = dfa.map(|d| d.candidates());
        let count = cands.map_or(self.failregex.len(), <[usize]>::len);
        for k in 0..count {
            let idx = cands.map_or(k, |c| c[k]);
            let Some((fr, locs)) = self.failregex.get_mut(idx) else {
                continue;
            };
            match fr.is_match(locs, ftext) {
                Ok(true) => {
                    let plan = self.plans.get(idx).and_then(Option::as_ref);
                    let hit = match (head, plan) {
                        (Some((h, content_at, at)), Some(plan)) => {
                            Hit::planned(plan, h, locs, (text, content_at, at), ftext)
                        }
                        _ => {
                            if let (Some((h, _, _)), Some((pr, _)), false) =
                                (head, &self.prefregex, head_read)
                            {
                                pr.groups_into(h, text, pre_groups);
                                head_read = true;
                            }
                            fr.groups_into(locs, ftext, &mut groups);
                            Hit::new(pre_groups, &mut groups)
                        }
                    };
                    m.hits.push((idx, hit));
                }
                Ok(false) => {}
                // (an unfinished search hides nothing the others find)
                Err(e @ FilterError::Exhausted { .. }) => {
                    m.exhausted.get_or_insert_with(|| e.to_string());
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.groups = groups;
        if result.is_ok() && n_ign > 0 && !early_ignore && !m.hits.is_empty() {
            match self.ignore_hits(ftext) {
                Ok(h) => m.late_ignored = h,
                Err(e) => result = Err(e),
            }
        }
        result
    }

    /// Ignoreregexes that hit a single-line buffer (the first only, unless
    /// every regex is checked).
    fn ignore_hits(&mut self, text: &str) -> Result<Vec<usize>, FilterError> {
        let mut hits = Vec::new();
        for (i, (r, locs)) in self.ignoreregex.iter_mut().enumerate() {
            if r.is_match(locs, text)? {
                hits.push(i);
                if !self.spec.check_all_regex {
                    break;
                }
            }
        }
        Ok(hits)
    }

    /// Build the candidate DFAs if they may be used and are not built yet.
    fn ensure_dfa(&mut self) {
        if matches!(self.pref_dfa, DfaState::Unbuilt) {
            self.pref_dfa = match &self.prefregex {
                Some((p, _))
                    if self.spec.count_prefregex
                        && !self.pref_every_line
                        && self.spec.maxlines == 1 =>
                {
                    self.pref_literals = AllLiteralSets::build(&p.text);
                    match dfa::CandidateDfa::build(None, &[p.text.as_str()]) {
                        Some(d) => DfaState::Built(Box::new(d)),
                        None => DfaState::Off,
                    }
                }
                _ => DfaState::Off,
            };
        }
        if !matches!(self.dfa, DfaState::Unbuilt) {
            return;
        }
        self.dfa = match self.dfa_allowed() {
            true => {
                let fr: Vec<&str> = self
                    .failregex
                    .iter()
                    .map(|(r, _)| r.text.as_str())
                    .collect();
                let pref = self
                    .prefregex
                    .as_ref()
                    .filter(|(r, _)| r.has_group("content"))
                    .map(|(r, _)| r.text.as_str());
                match dfa::CandidateDfa::build(pref, &fr) {
                    Some(d) => DfaState::Built(Box::new(d)),
                    None => DfaState::Off,
                }
            }
            false => DfaState::Off,
        };
    }

    /// Fill `scratch` with the text the regexes will see (`line` without
    /// `cut`, plus the buffer's trailing newline) and run the candidate DFA
    /// over it when there is one. `false`: no failregex can match. Builds
    /// the DFA on first use, so that filters built only to validate regexes
    /// never pay for it.
    fn candidates(&mut self, line: &str, cut: Option<(usize, usize)>) -> bool {
        self.ensure_dfa();
        self.candidates_known = false;
        self.dfa_paused_now = false;
        self.scratch_built = false;
        let built = matches!(self.dfa, DfaState::Built(_));
        // With eager dates, literal stage 1 still saves the DFA scan on the
        // lines it rejects (none of which can match), when it rejects
        // enough of them to pay for itself.
        if built {
            if let Some(g) = self.gate.as_ref().filter(|g| g.stage1_runs(true)) {
                if self.stage1.active() {
                    let reject = !g.may_match(line);
                    self.stage1.count(reject, true);
                    if reject {
                        self.candidates_known = true;
                        return false;
                    }
                }
            }
        }
        let text = &mut self.scratch;
        buffer_text(text, line, cut);
        self.scratch_built = true;
        let DfaState::Built(d) = &mut self.dfa else {
            return true;
        };
        if !self.dfa_use.active() {
            self.dfa_paused_now = true;
            return true;
        }
        self.candidates_known = true;
        let may = d.scan(text);
        self.dfa_use.count_below(!may, d.only_rejects(), 1);
        may
    }

    /// The DFA answers for single-line buffers only, and is not used when
    /// ignoreregexes run before the failregexes (their hits are reported
    /// for lines no failregex matches).
    fn dfa_allowed(&self) -> bool {
        let (n_ign, n_fail) = (self.ignoreregex.len(), self.failregex.len());
        self.spec.maxlines == 1 && n_fail > 0 && !(n_ign > 0 && n_ign + 2 < n_fail)
    }

    /// Hold a line the prefilter rejected (see the module docs).
    fn skip_line(&mut self, line: &str, now: f64) {
        if !self.skipped.push(line, now) && self.note_date(line, now) {
            self.skipped.clear();
        }
    }

    /// Parse the date of a skipped line; if it has one, it becomes the last
    /// date. Returns whether it did.
    fn note_date(&mut self, line: &str, now: f64) -> bool {
        let Some(h) = self.dates.find(line, now) else {
            return false;
        };
        match (h.time, line.get(h.start..h.end)) {
            (Some(t), Some(m)) if !m.is_empty() => {
                self.last_date = Some(t);
                self.last_time_text.clear();
                self.last_time_text.push_str(m);
                true
            }
            _ => false,
        }
    }

    /// Bring "last date" up to date with the held skipped lines: the newest
    /// one with a date wins (undated ones leave it as it was).
    fn resolve_skipped(&mut self) {
        if self.skipped.lines.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.skipped);
        for &(s, e, now) in held.lines.iter().rev() {
            if held
                .text
                .get(s..e)
                .is_some_and(|line| self.note_date(line, now))
            {
                break;
            }
        }
        // keep the allocations
        self.skipped = held;
        self.skipped.clear();
    }

    /// Server-mode time checks (`checkFindTime`): the date to use, or
    /// `Err` when the line is too old to matter.
    fn time_sanity(&mut self, date: Option<f64>, now: f64) -> Result<Option<f64>, ()> {
        if let (Some(findtime), Some(d)) = (self.spec.check_find_time, date) {
            if self.in_operation {
                if (d - now).trunc().abs() > 60.0 {
                    // Once a day, as fail2ban does: a log with a wrong clock
                    // or time zone would otherwise write a warning per line.
                    static LAST_WARNED_DAY: std::sync::atomic::AtomicI64 =
                        std::sync::atomic::AtomicI64::new(i64::MIN);
                    let day = (now / 86400.0).floor() as i64;
                    if LAST_WARNED_DAY.swap(day, std::sync::atomic::Ordering::Relaxed) != day {
                        tracing::warn!(
                            "Detected a log entry with odd timestamp ({}); treating it as if it just happened (logged once a day)",
                            if d < now { "latency or time zone" } else { "time zone" }
                        );
                    }
                    self.last_date = Some(now);
                    return Ok(Some(now));
                }
            } else if d < now - findtime {
                return Err(());
            }
        }
        Ok(date)
    }

    fn after_date_multi(
        &mut self,
        tuple: TupleLine,
        d: &Dated,
        now: f64,
        hit: Option<DateHit>,
    ) -> LineOutcome {
        let mut out = LineOutcome {
            date: hit,
            ..Default::default()
        };
        let Ok(date) = self.time_sanity(d.date, now) else {
            return out;
        };
        let mut exhausted = None;
        match self.find_failure_multi(
            tuple,
            date,
            d.no_date,
            now,
            &mut out.ignored_by,
            &mut exhausted,
        ) {
            Ok(f) => out.failures = f,
            Err(e) => exhausted = exhausted.or_else(|| unevaluated(e)),
        }
        out.unevaluated = exhausted;
        out
    }

    /// `findFailure` for a multi-line buffer: each failregex match removes
    /// its lines from the buffer, so matching and state interleave.
    fn find_failure_multi(
        &mut self,
        tuple: TupleLine,
        date: Option<f64>,
        no_date: bool,
        now: f64,
        ignored_by: &mut Vec<usize>,
        // the first failregex that could not finish (the others still ran)
        exhausted: &mut Option<String>,
    ) -> Result<Vec<Failure>, FilterError> {
        let mut fail_list = Vec::new();
        let maxlines = self.spec.maxlines;
        let check_all = self.spec.check_all_regex;
        self.buffer.push(tuple);
        if self.buffer.len() > maxlines {
            let cut = self.buffer.len() - maxlines;
            self.buffer.drain(..cut);
        }
        let org_buffer = self.buffer.clone();
        let mut buf: Option<String> = Some(tuple_lines_buf(&org_buffer));

        let n_ign = self.ignoreregex.len();
        let early_ignore = n_ign > 0 && n_ign + 2 < self.failregex.len();
        if early_ignore {
            let b = buf.clone().unwrap_or_default();
            if self.ignore_line(&b, &org_buffer, None, ignored_by)? {
                return Ok(fail_list);
            }
        }

        let mut pre_groups: Vec<(Str, Value)> = Vec::new();
        if let Some((pr, locs)) = &mut self.prefregex {
            let b = buf.as_deref().unwrap_or_default();
            let Some(m) = pr.search(locs, b, &org_buffer, false)? else {
                return Ok(fail_list);
            };
            pre_groups = m.groups;
            if let Some(p) = pre_groups.iter().position(|(k, _)| k == "content") {
                let (_, v) = pre_groups.remove(p);
                if let Value::Str(repl) = v {
                    if !repl.is_empty() {
                        self.buffer = vec![TupleLine {
                            prefix: String::new(),
                            date: String::new(),
                            suffix: repl.into(),
                        }];
                        buf = None;
                    }
                }
            }
        }

        for idx in 0..self.failregex.len() {
            if buf.is_none() {
                buf = Some(tuple_lines_buf(&self.buffer));
            }
            let b = buf.as_deref().unwrap_or_default();
            let m = {
                let (fr, locs) = &mut self.failregex[idx];
                match fr.search(locs, b, &org_buffer, true) {
                    Err(e @ FilterError::Exhausted { .. }) => {
                        exhausted.get_or_insert_with(|| e.to_string());
                        None
                    }
                    r => r?,
                }
            };
            let Some(m) = m else { continue };
            let ignored = n_ign > 0 && !early_ignore && {
                let b = buf.take().unwrap_or_default();
                self.ignore_line(&b, &org_buffer, Some(&m), ignored_by)?
            };
            if ignored {
                buf = None;
                if !check_all {
                    break;
                }
                continue;
            }
            if no_date {
                tracing::warn!(
                    "Found a match but no valid date/time found for {:?}",
                    org_buffer.last().map(|t| &t.date)
                );
                if date.is_none() && self.spec.check_find_time.is_some() {
                    continue;
                }
            }
            self.buffer = m.unmatched;
            buf = None;
            let matched_lines: Vec<String> = m.matched.iter().map(TupleLine::full).collect();
            let mut groups = m.groups;
            let flow = self.add_failure(
                idx,
                Hit::new(&pre_groups, &mut groups),
                // (built data: no spans to read)
                "",
                Some(matched_lines),
                date,
                now,
                &mut fail_list,
            );
            if let Flow::Done = flow {
                break;
            }
        }
        Ok(fail_list)
    }

    /// The data half of `findFailure` for one failregex match: merge with
    /// the prefregex groups and the mlfid cache, find the ID, and push the
    /// failure(s). `Flow::Done` ends the line (upstream's `break`/`return`).
    #[allow(clippy::too_many_arguments)]
    fn add_failure(
        &mut self,
        idx: usize,
        hit: Hit,
        // the line the regexes ran on (without the buffer's newline): a
        // planned hit's spans are in it
        line: &str,
        // `None`: matched lines are not kept (see `FilterSpec::failure_data`)
        matched_lines: Option<Vec<String>>,
        date: Option<f64>,
        now: f64,
        fail_list: &mut Vec<Failure>,
    ) -> Flow {
        let check_all = self.spec.check_all_regex;
        let Hit { data, id_fallback } = hit;
        let mut fail = match data {
            HitData::Data(d) => d,
            HitData::Spans(spans) => {
                if let Some(flow) =
                    self.forgotten(idx, &spans, line, matched_lines.as_deref(), date, fail_list)
                {
                    return flow;
                }
                match self.plans.get(idx).and_then(Option::as_ref) {
                    Some(plan) => plan.data(&spans, line, None),
                    // (spans come from a plan)
                    None => return Flow::Next,
                }
            }
        };
        let mlfid: Option<Str> = fail.get("mlfid").and_then(Value::as_str).map(Str::from);
        // The cache entry is the same object as `fail` in Python, so later
        // changes (mlfpending, ip) must reach the cache too: remember the
        // key and store `fail` once this regex is done with it.
        let mut cached_as: Option<Str> = None;
        if let Some(mlfid) = &mlfid {
            let (merged, aliased) = self.merge_failure(mlfid, fail, matched_lines.as_deref(), now);
            fail = merged;
            if aliased {
                cached_as = Some(mlfid.clone());
            }
            if fail.get("nofail").is_some_and(Value::is_truthy) && !check_all {
                self.store_mlfid(cached_as, fail, now);
                return Flow::Done;
            }
        } else if let Some(matched_lines) = matched_lines {
            let mut ms = match fail.remove("matches") {
                Some(Value::Lines(l)) => l,
                _ => Vec::new(),
            };
            ms.extend(matched_lines);
            fail.insert("matches", Value::Lines(ms));
        }
        let ids = failure_ids(
            fail.get_sorted(ID_KEYS).map(|v| v.and_then(Value::as_str)),
            || id_fallback.and_then(|k| fail.get(k)).map(Value::to_string),
            mlfid.is_some(),
            self.raw_ids(),
            self.spec.usedns,
        );
        let fids = match ids {
            FailureIds::NoGroup => {
                // upstream raises "No group found" here, logs it and goes
                // on with the next failregex
                tracing::error!("No group found using {:?}", self.failregex[idx].0.text);
                return Flow::Next;
            }
            FailureIds::Pending => {
                fail.insert("mlfpending", Value::Int(1));
                if !check_all && self.spec.ignore_pending {
                    self.store_mlfid(cached_as, fail, now);
                    return Flow::Done;
                }
                smallvec::smallvec![None]
            }
            FailureIds::Found(ids, ip) => {
                if let Some(ip) = ip {
                    fail.insert("ip", Value::Addr(ip));
                }
                ids
            }
        };
        if cached_as.is_some() {
            // The cache keeps the data; the failure gets a copy, or with
            // `failure_data` off only what says whether it counts.
            let copy = if self.spec.failure_data {
                fail.clone()
            } else {
                fail.iter()
                    .filter(|(k, v)| k.as_str() == "nofail" && v.is_truthy())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            self.store_mlfid(cached_as, std::mem::replace(&mut fail, copy), now);
        }
        push_failures(idx, fids, date, fail, fail_list);
        if check_all {
            Flow::Next
        } else {
            Flow::Done
        }
    }

    /// IDs are kept as found, not parsed as addresses (`usedns = raw`, or
    /// the caller asked for raw hosts).
    fn raw_ids(&self) -> bool {
        self.spec.usedns == UseDns::Raw || self.spec.return_raw_host
    }

    /// `_mergeFailure` and the rest of `findFailure` for most hit lines of
    /// sshd-like logs, read straight from a planned hit's spans: a NOFAIL
    /// (or gained) hit that forgets its mlfid when the cache holds nothing
    /// for it. The merge then only drops the forget flag and turns a gained
    /// flag into `nofail`; nothing is cached, and unless every regex is
    /// checked the line is done. The data is built only for a failure
    /// that is kept, and without [`FilterSpec::failure_data`] it is only the
    /// `nofail` flag (as for a failure whose data the cache keeps). `None`:
    /// anything else (no mlfid, a cache entry, even an expired one, or an
    /// `mlfpending` group), left to the general path.
    fn forgotten(
        &self,
        idx: usize,
        spans: &[Option<(u32, u32)>],
        line: &str,
        matched: Option<&[String]>,
        date: Option<f64>,
        fail_list: &mut Vec<Failure>,
    ) -> Option<Flow> {
        let plan = self.plans.get(idx)?.as_ref()?;
        let k = &plan.known;
        let get = |i: Option<usize>| {
            let (s, e) = spans.get(i?).copied().flatten()?;
            line.get(s as usize..e as usize)
        };
        let truthy = |i: Option<usize>| get(i).filter(|v| !v.is_empty());
        let mlfid = get(k.mlfid)?;
        let (nofail, gained) = (truthy(k.nofail), truthy(k.mlfgained));
        if truthy(k.mlfforget).is_none()
            || get(k.mlfpending).is_some()
            || (nofail.is_none() && gained.is_none())
            || self.mlfid.map.contains_key(mlfid)
        {
            return None;
        }
        if !self.spec.check_all_regex {
            return Some(Flow::Done);
        }
        // (with an mlfid there is no fallback to look for)
        let ids = failure_ids(
            k.ids.map(get),
            || None,
            true,
            self.raw_ids(),
            self.spec.usedns,
        );
        let (fids, ip, pending) = match ids {
            FailureIds::Found(ids, ip) => (ids, ip, false),
            FailureIds::Pending | FailureIds::NoGroup => (smallvec::smallvec![None], None, true),
        };
        let data = if self.spec.failure_data {
            let mut d = plan.data(spans, line, k.mlfforget);
            let mut nf = 1 | 2;
            if let Some(g) = gained {
                nf |= 8;
                if nofail.is_none() {
                    d.insert("nofail", Value::from(g));
                }
            }
            if let Some(m) = matched {
                keep_matches(&mut d, nf, m);
            }
            if pending {
                d.insert("mlfpending", Value::Int(1));
            }
            if let Some(ip) = ip {
                d.insert("ip", Value::Addr(ip));
            }
            d
        } else {
            let flag = nofail.or(gained).unwrap_or_default();
            Data::from_sorted(vec![(Str::from("nofail"), Value::from(flag))])
        };
        push_failures(idx, fids, date, data, fail_list);
        Some(Flow::Next)
    }

    /// Put the merged data of an mlfid back into the cache (see `cached_as`).
    fn store_mlfid(&mut self, key: Option<Str>, fail: Data, now: f64) {
        let Some(k) = key else { return };
        if self.mlfid.map.contains_key(&k) {
            self.mlfid.update(&k, fail);
        } else {
            self.mlfid.set(&k, fail, now);
        }
    }

    /// `_ignoreLine` on a multi-line buffer: returns whether any
    /// ignoreregex hit.
    fn ignore_line(
        &mut self,
        buf: &str,
        org: &[TupleLine],
        fail: Option<&Match>,
        hits: &mut Vec<usize>,
    ) -> Result<bool, FilterError> {
        let (buf_owned, org_owned);
        let (buf, org): (&str, &[TupleLine]) = match fail {
            Some(m) => {
                buf_owned = tuple_lines_buf(&m.matched);
                org_owned = m.matched.clone();
                (&buf_owned, &org_owned)
            }
            _ => (buf, org),
        };
        let mut found = false;
        for i in 0..self.ignoreregex.len() {
            let (r, locs) = &mut self.ignoreregex[i];
            if r.search(locs, buf, org, false)?.is_some() {
                found = true;
                hits.push(i);
                if let Some(m) = fail {
                    self.buffer = m.unmatched.clone();
                }
                if !self.spec.check_all_regex {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// `Filter._mergeFailure`. Returns the merged data and whether it is the
    /// cached entry itself (so later changes must be written back).
    fn merge_failure(
        &mut self,
        mlfid: &str,
        mut fail: Data,
        matched: Option<&[String]>,
        now: f64,
    ) -> (Data, bool) {
        let cached = self.mlfid.take(mlfid, now);
        let mut users: Option<usize> = None;
        let mut nf: u8 = 0;
        if let Some(g) = fail.get("mlfgained").cloned().filter(Value::is_truthy) {
            nf |= 8 | 1;
            if !fail.get("nofail").is_some_and(Value::is_truthy) {
                fail.insert("nofail", g);
            }
        } else if fail.get("nofail").is_some_and(Value::is_truthy) {
            nf |= 1;
        }
        if fail.remove("mlfforget").is_some_and(|v| v.is_truthy()) {
            nf |= 2;
        }
        let user: Option<Str> = fail.get("user").and_then(Value::as_str).map(Str::from);
        let mut aliased = false;
        if let Some(mut groups) = cached {
            users = update_users(&mut groups, user.as_deref());
            if groups.remove("nofail").is_some_and(|v| v.is_truthy()) {
                nf |= 4;
            }
            if groups.remove("mlfgained").is_some_and(|v| v.is_truthy()) {
                nf |= 4;
            }
            if nf & 8 != 0 {
                groups.remove("mlfpending");
            }
            let pending = groups.get("mlfpending").is_some_and(Value::is_truthy);
            if nf & 4 == 0 && !pending {
                groups.remove("matches");
            }
            groups.extend(fail);
            fail = groups;
            if nf & 2 != 0 {
                self.mlfid.unset(mlfid);
            } else {
                aliased = true;
            }
        } else if nf & 2 == 0 {
            users = update_users(&mut fail, user.as_deref());
            aliased = true;
        }
        let pending = fail.remove("mlfpending").is_some_and(|v| v.is_truthy());
        if pending || users.is_some_and(|n| n > 1) {
            fail.remove("nofail");
            fail.remove("mlfgained");
            nf &= !(8 | 1);
        }
        if let Some(matched) = matched {
            keep_matches(&mut fail, nf, matched);
        }
        (fail, aliased)
    }
}

/// `_updateUsers`: add `user` to the `users` set of `fail`; returns the
/// set's size (`None`: no set; only "more than one user" matters).
fn update_users(fail: &mut Data, user: Option<&str>) -> Option<usize> {
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
fn buffer_text(text: &mut String, line: &str, cut: Option<(usize, usize)>) {
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
fn date_span(line: &str, h: &DateHit) -> Option<(usize, usize)> {
    (h.start < h.end && line.get(h.start..h.end).is_some()).then_some((h.start, h.end))
}

/// Date decisions for one line (see `Filter::date_decision`).
struct Dated {
    date: Option<f64>,
    /// No date of its own was found (or converted).
    no_date: bool,
    /// Byte span of the date, removed before matching.
    cut: Option<(usize, usize)>,
    /// The buffer line carries the last date's text (undated line).
    from_last: bool,
}

/// One failregex match as failure data: the prefregex's groups overridden
/// by the failregex's.
#[derive(Debug)]
struct Hit {
    data: HitData,
    /// The first of the ID groups the failregex itself has (only the key:
    /// its value is in `fail`, and nothing touches these keys before it is
    /// needed when there is no mlfid).
    id_fallback: Option<&'static str>,
}

/// A hit's failure data, or where it lies in the line (planned hits; most
/// are settled without building it, see `Filter::forgotten`).
#[derive(Debug)]
enum HitData {
    Data(Data),
    Spans(regex::Spans),
}

/// Where the regexes' buffer lies in the line it was built from (the
/// line without the date span `cut`, then a newline).
#[derive(Clone, Copy)]
struct LineMap {
    cut: Option<(usize, usize)>,
    len: usize,
}

impl LineMap {
    /// The span `s..e` of the buffer in the line, unless it straddles the
    /// cut or takes in the buffer's newline.
    fn place(self, s: usize, e: usize) -> Option<(u32, u32)> {
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
fn keep_matches(fail: &mut Data, nf: u8, matched: &[String]) {
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
    fn planned(
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
    fn new(pre_groups: &[(Str, Value)], groups: &mut Vec<(Str, Value)>) -> Hit {
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
enum Flow {
    Next,
    Done,
}

/// Regex results on a single-line buffer; they depend on its text only.
#[derive(Debug, Default)]
struct Matches {
    /// Ignoreregex hits before any failregex ran (then nothing else ran).
    early_ignored: Vec<usize>,
    /// The prefregex did not match (no failregex ran).
    pre_failed: bool,
    /// Failregexes that matched, in order, with their data (one, mostly:
    /// kept inline).
    hits: smallvec::SmallVec<[(usize, Hit); 1]>,
    /// Ignoreregex hits on the failregex buffer (run when one matched).
    late_ignored: Vec<usize>,
    /// A failregex that could not finish its search (the first one's
    /// error); the others still ran.
    exhausted: Option<String>,
}

/// What the regexes made of a line.
#[derive(Debug)]
enum Scan {
    /// No failregex can match (candidate DFA or literal prefilter).
    Rejected,
    Matched(Box<Matches>),
    Failed(FilterError),
}

/// A line examined by a [`Filter::fork`], to be settled in line order
/// with [`Filter::settle`].
#[derive(Debug)]
pub struct Examined {
    hit: Option<DateHit>,
    /// The span cut out of the line before matching.
    cut: Option<(usize, usize)>,
    scan: Scan,
    pref: Option<bool>,
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

#[derive(Clone, Copy, Debug)]
enum IdKind {
    /// Parse like `IPAddr(s)` (or raw in raw-host mode).
    Default,
    Family(Family),
    Prefix(u8),
    BadPrefix,
}

fn cidr_kind(cidr: Option<&str>, fam: Family) -> IdKind {
    match cidr {
        Some(c) if !c.is_empty() => match c.parse::<u8>() {
            Ok(p) => IdKind::Prefix(p),
            Err(_) => IdKind::BadPrefix,
        },
        _ => IdKind::Family(fam),
    }
}

/// What `findFailure` makes of a failure's ID groups.
enum FailureIds {
    /// No ID yet: the failure waits for one (`mlfpending`).
    Pending,
    /// The IDs (one, unless a DNS name resolves to several addresses), and
    /// the address to record as `ip` when the failure-id differs from it.
    Found(smallvec::SmallVec<[Option<Addr>; 1]>, Option<Addr>),
    /// No ID group at all and no mlfid: upstream's "No group found".
    NoGroup,
}

/// The ID of a failure from its [`ID_KEYS`] values; without
/// any of them and without an mlfid, `fallback` gives the value of the
/// failregex's first ID group.
fn failure_ids(
    [cidr, dns, fid, ip4, ip6]: [Option<&str>; 5],
    fallback: impl FnOnce() -> Option<String>,
    has_mlfid: bool,
    raw_mode: bool,
    usedns: UseDns,
) -> FailureIds {
    let mut kind = IdKind::Default;
    let mut raw = raw_mode;
    let fallen;
    let ip: &str = if let Some(v) = ip4 {
        kind = cidr_kind(cidr, Family::Inet4);
        raw = true;
        v
    } else if let Some(v) = ip6 {
        kind = cidr_kind(cidr, Family::Inet6);
        raw = true;
        v
    } else if let Some(v) = dns {
        v
    } else {
        raw = true;
        match fid {
            Some(f) => f,
            None if has_mlfid => return FailureIds::Pending,
            None => match fallback() {
                Some(v) => {
                    fallen = v;
                    &fallen
                }
                None => return FailureIds::NoGroup,
            },
        }
    };
    if !raw {
        return FailureIds::Found(text_to_ip(ip, usedns).into_iter().map(Some).collect(), None);
    }
    let make = |s: &str, kind: IdKind| -> Addr {
        match kind {
            IdKind::Family(f) => Addr::parse_family(s, f),
            IdKind::Prefix(p) => Addr::with_prefix(s, p),
            IdKind::BadPrefix => Addr::raw(s),
            IdKind::Default if raw_mode => Addr::raw(s),
            IdKind::Default => Addr::parse(s),
        }
    };
    match fid {
        Some(f) if f != ip => FailureIds::Found(
            smallvec::smallvec![Some(make(f, IdKind::Default))],
            Some(make(ip, kind)),
        ),
        _ => FailureIds::Found(smallvec::smallvec![Some(make(ip, kind))], None),
    }
}

/// One failure per ID, the last one taking `data` (the others a copy).
fn push_failures(
    idx: usize,
    fids: smallvec::SmallVec<[Option<Addr>; 1]>,
    time: Option<f64>,
    mut data: Data,
    fail_list: &mut Vec<Failure>,
) {
    let n = fids.len();
    for (i, id) in fids.into_iter().enumerate() {
        let data = if i + 1 == n {
            std::mem::take(&mut data)
        } else {
            data.clone()
        };
        fail_list.push(Failure {
            regex_index: idx,
            id,
            time,
            data,
        });
    }
}

/// `DNSUtils.textToIp`: a literal IP is used as is; otherwise, with `yes`
/// or `warn`, the name is resolved (all addresses).
fn text_to_ip(text: &str, usedns: UseDns) -> Vec<Addr> {
    let lit = Addr::parse(text);
    if lit.is_ip() && !text.contains('/') {
        return vec![lit];
    }
    if matches!(usedns, UseDns::Yes | UseDns::Warn) {
        use std::net::ToSocketAddrs;
        let mut out: Vec<Addr> = match (text, 0u16).to_socket_addrs() {
            Ok(it) => it.map(|sa| Addr::from(sa.ip())).collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out.dedup();
        if !out.is_empty() && usedns == UseDns::Warn {
            tracing::warn!("Determined IP using DNS Lookup: {text} = {out:?}");
        }
        return out;
    }
    Vec::new()
}

#[cfg(test)]
mod tests;

impl Filter {
    /// The stock date detector, if this filter uses one.
    pub fn date_detector(&self) -> Option<&DateDetector> {
        self.dates.as_detector()
    }
    pub fn date_detector_mut(&mut self) -> Option<&mut DateDetector> {
        self.dates.as_detector_mut()
    }
}
