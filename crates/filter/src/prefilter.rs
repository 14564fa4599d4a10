//! The candidate prefilter: the literal stages, the candidate DFA and the
//! dates of lines they skip (see the crate documentation). Its contract:
//! a line it rejects is one no failregex can match (false positives are
//! allowed, a false negative never); results with and without it are the
//! same (`Filter::disable_prefilters`, checked by the differential tests).

use super::*;

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
pub(crate) struct Prefilter {
    pub(crate) halves: Vec<AhoCorasick>,
    pub(crate) full: Vec<AhoCorasick>,
    /// More halves than `STAGE1_MAX_HALVES` (see there).
    pub(crate) wide: bool,
}

/// Most literal halves for which stage 1 runs ahead of a candidate DFA.
/// With more (sshd has 56, in an exact and a case-insensitive automaton)
/// Teddy verifies so many candidate positions of the short halves that a
/// scan costs several times the DFA walk it could save (~3,200 against
/// ~300 instructions on a line of another daemon, which the anchored DFA
/// leaves a few bytes past the prefix); freeswitch's 10 halves scan a
/// line for less than its DFA, which walks most lines to the end.
pub(crate) const STAGE1_MAX_HALVES: usize = 16;

/// Shortest literal worth using: halves of shorter ones are single bytes
/// and would let almost every line through.
pub(crate) const MIN_LIT: usize = 3;

pub(crate) fn automata(pats: &[Vec<Vec<u8>>; 2]) -> Option<Vec<AhoCorasick>> {
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
    pub(crate) fn build(failregex: &[FRegex]) -> Option<Prefilter> {
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
    pub(crate) fn stage1_runs(&self, dfa_built: bool) -> bool {
        !(self.wide && dfa_built)
    }

    /// Stage 1: may any failregex match once the date is removed?
    pub(crate) fn may_match(&self, raw: &str) -> bool {
        self.halves.iter().any(|ac| ac.is_match(raw))
    }

    /// Stage 2: may any failregex match this date-stripped text?
    pub(crate) fn may_match_stripped(&self, text: &str) -> bool {
        self.full.iter().any(|ac| ac.is_match(text))
    }
}

/// Every required literal set of one regex, each as automata: a text that
/// lacks all literals of any one set cannot match (used for the
/// prefregex statistics, where one set alone lets many lines through: a
/// file name every line of a service has, say).
#[derive(Clone)]
pub(crate) struct AllLiteralSets {
    /// Most selective (longest shortest literal) first.
    pub(crate) sets: Vec<Vec<AhoCorasick>>,
}

impl AllLiteralSets {
    pub(crate) fn build(regex: &str) -> Option<AllLiteralSets> {
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

    pub(crate) fn may_match(&self, text: &str) -> bool {
        self.sets
            .iter()
            .all(|set| set.iter().any(|ac| ac.is_match(text)))
    }
}

/// Most lines held back by the literal prefilter before one is parsed.
pub(crate) const SKIPPED_LINES: usize = 32;
/// Most bytes held (a run of huge lines is parsed rather than copied).
pub(crate) const SKIPPED_BYTES: usize = 16 << 10;

/// Lines skipped by the literal prefilter whose dates are not parsed yet,
/// oldest first (see the module docs, "Last date on skipped lines").
#[derive(Default)]
pub(crate) struct Skipped {
    /// The lines, one after the other.
    pub(crate) text: String,
    /// `(start, end, now)` of each line in `text`.
    pub(crate) lines: Vec<(usize, usize, f64)>,
}

impl Skipped {
    /// Hold `line`; `false` when the hold is full.
    pub(crate) fn push(&mut self, line: &str, now: f64) -> bool {
        if self.lines.len() >= SKIPPED_LINES || self.text.len() + line.len() > SKIPPED_BYTES {
            return false;
        }
        let start = self.text.len();
        self.text.push_str(line);
        self.lines.push((start, self.text.len(), now));
        true
    }

    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
    }
}

/// Lines in one measuring window of literal stage 1.
pub(crate) const STAGE1_WINDOW: u32 = 4096;
/// Windows stage 1 stays off before it is measured again, after the first
/// window that does not pay; each further one doubles the pause, up to
/// `STAGE1_PAUSE_MAX`.
pub(crate) const STAGE1_PAUSE: u32 = 16;
pub(crate) const STAGE1_PAUSE_MAX: u32 = 256;

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
pub(crate) struct Stage1 {
    pub(crate) seen: u32,
    pub(crate) rejected: u32,
    /// Windows left to skip stage 1.
    pub(crate) paused: u32,
    /// The next pause (0: `STAGE1_PAUSE`).
    pub(crate) next_pause: u32,
}

impl Stage1 {
    /// Run stage 1 on this line? (Counts paused lines.)
    pub(crate) fn active(&mut self) -> bool {
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
    pub(crate) fn count(&mut self, rejected: bool, dfa: bool) {
        self.count_below(rejected, dfa, 3);
    }

    /// Record one verdict of a shortcut; with `may_pause`, a window where
    /// it rejected fewer than `quarters` lines in four pauses it.
    pub(crate) fn count_below(&mut self, rejected: bool, may_pause: bool, quarters: u32) {
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
pub(crate) enum DfaState {
    Unbuilt,
    Off,
    Built(Box<dfa::CandidateDfa>),
}

impl Filter {
    /// Build the candidate DFAs if they may be used and are not built yet.
    pub(crate) fn ensure_dfa(&mut self) {
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
    pub(crate) fn candidates(&mut self, line: &str, cut: Option<(usize, usize)>) -> bool {
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
    pub(crate) fn dfa_allowed(&self) -> bool {
        let (n_ign, n_fail) = (self.ignoreregex.len(), self.failregex.len());
        self.spec.maxlines == 1 && n_fail > 0 && !(n_ign > 0 && n_ign + 2 < n_fail)
    }

    /// Hold a line the prefilter rejected (see the module docs).
    pub(crate) fn skip_line(&mut self, line: &str, now: f64) {
        if !self.skipped.push(line, now) && self.note_date(line, now) {
            self.skipped.clear();
        }
    }

    /// Parse the date of a skipped line; if it has one, it becomes the last
    /// date. Returns whether it did.
    pub(crate) fn note_date(&mut self, line: &str, now: f64) -> bool {
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
    pub(crate) fn resolve_skipped(&mut self) {
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
}
