//! What `explain` gathers while the log is read: line counts, regex hits,
//! per-address records, failures per minute, the hint lines, and the
//! replay's decisions.
//!
//! Design decisions:
//! - **One pass, bounded memory per address, not per line.** Failures go
//!   straight into the replay and into per-address and per-minute totals;
//!   only the bans are kept one by one. (Several logs are the exception:
//!   a jail reads them side by side, so their failures are collected and
//!   replayed in time order once all are read.)
//! - **The counts are `gaoler regex`'s.** A line is matched, ignored or
//!   missed by the same rules (a `<F-NOFAIL>` hit or an ignoreregex makes
//!   it ignored), so the two tools agree on a log.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use gaoler_addr::Addr;
use gaoler_filter::LineOutcome;

use super::hints::looks_like_failure;
use super::replay::{Ban, Decision, Place, Replay};
use crate::parallel::Settle;

/// Hint lines kept as examples.
const HINT_SAMPLES: usize = 10;

/// Line counts, as `gaoler regex` reports them.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Lines {
    /// Lines tested (empty and `#` lines are passed over).
    pub read: u64,
    /// Lines with a failure.
    pub matched: u64,
    /// Lines an ignoreregex (or `<F-NOFAIL>`) hit.
    pub ignored: u64,
    /// Lines nothing matched.
    pub missed: u64,
    /// Lines a regex could not finish its search on.
    pub unevaluated: u64,
}

/// What one address did.
#[derive(Debug, Clone, Default)]
pub struct AddrRecord {
    /// Failures found (counted or spared).
    pub failures: u32,
    /// First and last failure time.
    pub first: f64,
    /// Last failure time.
    pub last: f64,
    /// Why `ignoreip`/`ignoreself` spared it, if they did.
    pub spared_by: Option<String>,
    /// Indices into [`Collector::bans`].
    pub bans: Vec<u32>,
    /// Times it reached maxretry again while banned.
    pub already_banned: u32,
}

/// A failure waiting for the replay (several logs).
struct Pending {
    id: Addr,
    time: f64,
    place: Place,
}

/// The `Settle` (the threaded reader's ordered step) of `explain`.
pub struct Collector {
    now: f64,
    /// Index of the log being read.
    pub file: usize,
    replay: Replay,
    /// Several logs: failures are replayed once all are read.
    pending: Option<Vec<Pending>>,
    /// Line counts, per log.
    pub lines: Vec<Lines>,
    /// Hits per failregex (the first that matches, as in the daemon).
    pub fail_hits: Vec<u64>,
    /// Hits per ignoreregex.
    pub ignore_hits: Vec<u64>,
    /// Per address.
    pub addrs: HashMap<Addr, AddrRecord>,
    /// Failures and new bans per minute (minute = time / 60).
    pub minutes: HashMap<i64, (u32, u32)>,
    /// Every ban, in time order.
    pub bans: Vec<Ban>,
    /// Unbans during the log.
    pub unbans: u64,
    /// Failures found without any date (not replayed).
    pub undated: u64,
    /// Lines that look like failures but matched nothing: how many.
    pub hints: u64,
    /// Some of them: where, and the line.
    pub hint_samples: Vec<(Place, String)>,
    /// The first and last line date seen.
    pub span: Option<(f64, f64)>,
    last_time: Option<f64>,
}

impl Collector {
    /// A collector replaying into `replay`, for a filter with `fails`
    /// failregexes and `ignores` ignoreregexes, reading `logs` logs.
    pub fn new(replay: Replay, fails: usize, ignores: usize, logs: usize) -> Collector {
        Collector {
            now: crate::now(),
            file: 0,
            replay,
            pending: (logs > 1).then(Vec::new),
            lines: vec![Lines::default(); logs.max(1)],
            fail_hits: vec![0; fails],
            ignore_hits: vec![0; ignores],
            addrs: HashMap::new(),
            minutes: HashMap::new(),
            bans: Vec::new(),
            unbans: 0,
            undated: 0,
            hints: 0,
            hint_samples: Vec::new(),
            span: None,
            last_time: None,
        }
    }

    fn saw_time(&mut self, t: f64) {
        self.last_time = Some(t);
        self.span = Some(match self.span {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
    }

    fn failure(&mut self, id: Addr, time: f64, place: Place) {
        match &mut self.pending {
            Some(p) => p.push(Pending { id, time, place }),
            None => self.decide(id, time, place),
        }
    }

    fn decide(&mut self, id: Addr, time: f64, place: Place) {
        let decision = self.replay.failure(&id, time, place);
        self.unbans += self.replay.take_unbans().len() as u64;
        let minute = self
            .minutes
            .entry((time / 60.0).floor() as i64)
            .or_default();
        minute.0 += 1;
        let rec = self.addrs.entry(id).or_insert_with(|| AddrRecord {
            first: time,
            last: time,
            ..AddrRecord::default()
        });
        rec.failures += 1;
        rec.first = rec.first.min(time);
        rec.last = rec.last.max(time);
        match decision {
            Decision::Ignored(r) => rec.spared_by = Some(r.to_string()),
            Decision::Counted(_) => {}
            Decision::AlreadyBanned => rec.already_banned += 1,
            Decision::Banned(b) => {
                minute.1 += 1;
                rec.bans.push(self.bans.len() as u32);
                self.bans.push(b);
            }
        }
    }

    /// After the last log: replays collected failures, counts the unbans
    /// due by the end of the log.
    pub fn finish(&mut self) {
        if let Some(mut p) = self.pending.take() {
            // (stable: equal times keep their reading order)
            p.sort_by(|a, b| a.time.total_cmp(&b.time));
            for f in p {
                self.decide(f.id, f.time, f.place);
            }
        }
        if let Some((_, end)) = self.span {
            self.replay.advance(end);
            self.unbans += self.replay.take_unbans().len() as u64;
        }
    }

    /// Bans still in force at the end of the log.
    pub fn active_bans(&self) -> usize {
        self.replay.active_bans()
    }

    fn lines_mut(&mut self) -> &mut Lines {
        let i = self.file.min(self.lines.len() - 1);
        &mut self.lines[i]
    }
}

impl Settle for Collector {
    fn now(&self) -> f64 {
        self.now
    }

    fn outcome(
        &mut self,
        lineno: usize,
        line: &str,
        oc: LineOutcome,
        _out: &mut dyn Write,
    ) -> Result<()> {
        let place = Place {
            file: self.file,
            line: lineno,
        };
        if let Some(d) = &oc.date {
            if let Some(t) = d.time {
                self.saw_time(t);
            }
        }
        let counts = self.lines_mut();
        counts.read += 1;
        counts.unevaluated += u64::from(oc.unevaluated.is_some());
        for i in &oc.ignored_by {
            if let Some(h) = self.ignore_hits.get_mut(*i) {
                *h += 1;
            }
        }
        let mut ignored = !oc.ignored_by.is_empty();
        let mut found = false;
        for f in oc.failures {
            if let Some(h) = self.fail_hits.get_mut(f.regex_index) {
                *h += 1;
            }
            if f.is_nofail() {
                ignored = true;
                continue;
            }
            found = true;
            let Some(id) = f.id else { continue };
            let time = f.time.or(self.last_time);
            match time {
                Some(t) => {
                    self.saw_time(t);
                    self.failure(id, t, place);
                }
                None => self.undated += 1,
            }
        }
        let counts = self.lines_mut();
        if ignored {
            counts.ignored += 1;
        } else if found {
            counts.matched += 1;
        } else {
            counts.missed += 1;
            if looks_like_failure(line) {
                self.hints += 1;
                if self.hint_samples.len() < HINT_SAMPLES {
                    self.hint_samples.push((place, line.to_string()));
                }
            }
        }
        Ok(())
    }

    fn quiet(&mut self, _text: &str, count: usize, _pref_hits: usize) {
        let counts = self.lines_mut();
        counts.read += count as u64;
        counts.missed += count as u64;
    }
}
