//! fail2ban's `findFailure` on a buffer: the prefregex, the failregexes
//! (first match, or all with `check_all_regex`), the ignoreregexes, the
//! server's time sanity, and the failures they make.

use super::*;

impl Filter {
    /// The regexes on a single-line buffer `text` (line without date, plus
    /// `\n`). `None`: literal stage 2 says no failregex can match. Every
    /// failregex that may match is run, also when the server stops at the
    /// first failure: what comes after a match depends on state (mlfid
    /// cache, last date), so the choice is made in `finish_single`.
    pub(crate) fn match_text(
        &mut self,
        text: &str,
        at: LineMap,
    ) -> Result<Option<Matches>, FilterError> {
        // (taken out for the call: the head's capture locations stay
        // borrowed while the failregexes run)
        let mut tail = self.pref_tail.take();
        let r = self.match_text_with(text, at, tail.as_deref_mut());
        self.pref_tail = tail;
        r
    }

    pub(crate) fn match_text_with(
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
    pub(crate) fn run_failregexes(
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
    pub(crate) fn ignore_hits(&mut self, text: &str) -> Result<Vec<usize>, FilterError> {
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

    /// Server-mode time checks (`checkFindTime`): the date to use, or
    /// `Err` when the line is too old to matter.
    pub(crate) fn time_sanity(&mut self, date: Option<f64>, now: f64) -> Result<Option<f64>, ()> {
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

    pub(crate) fn after_date_multi(
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
    pub(crate) fn find_failure_multi(
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
    pub(crate) fn add_failure(
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
    pub(crate) fn raw_ids(&self) -> bool {
        self.spec.usedns == UseDns::Raw || self.spec.return_raw_host
    }

    /// `_ignoreLine` on a multi-line buffer: returns whether any
    /// ignoreregex hit.
    pub(crate) fn ignore_line(
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
}
