//! The fail2ban-regex report: per-regex and per-line counts gathered as the
//! lines are settled, and the summary printed at the end (`Results`,
//! the hit lists, the date templates, `Lines: ...`, the line lists).

use super::*;

/// Per failregex / ignoreregex hit statistics.
pub(super) struct RegexStat {
    pub(super) text: String,
    pub(super) hits: usize,
    /// (id, time, multiple) for `-v`.
    pub(super) ips: Vec<(String, Option<f64>, bool)>,
}
impl RegexStat {
    pub(super) fn new(text: &str) -> RegexStat {
        RegexStat {
            text: text.to_string(),
            hits: 0,
            ips: Vec::new(),
        }
    }
}
#[derive(Default)]
pub(super) struct LineStats {
    pub(super) tested: usize,
    pub(super) matched: usize,
    pub(super) missed: usize,
    pub(super) ignored: usize,
    pub(super) matched_lines: Vec<String>,
    pub(super) missed_lines: Vec<String>,
    pub(super) ignored_lines: Vec<String>,
}
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Matched,
    Missed,
    Ignored,
}
pub(super) struct State<'a> {
    pub(super) args: &'a Args,
    pub(super) summary: bool,
    pub(super) verbose: u8,
    pub(super) print_max: usize,
    pub(super) fmt: Option<OutFmt>,
    pub(super) fails: Vec<RegexStat>,
    pub(super) ignores: Vec<RegexStat>,
    pub(super) stats: LineStats,
    pub(super) pref: Option<gaoler_matcher::Regex>,
    /// Literals every prefregex match contains (one of them): lines without
    /// any skip the PCRE2 run that only counts prefregex hits.
    pub(super) pref_lits: Option<Vec<memchr::memmem::Finder<'static>>>,
    pub(super) pref_hits: usize,
    /// The last `window - 1` tested lines and their status (multi-line).
    pub(super) recent: VecDeque<(String, Status)>,
    pub(super) window: usize,
    pub(super) scratch: String,
    pub(super) now: f64,
    /// Every tested line's date was parsed (the threads do that; with one,
    /// `--fast` parses only lines passing the prefilter).
    pub(super) every_date: bool,
    /// How `<HOST>` is resolved in `-D` links.
    pub(super) usedns: UseDns,
    /// Lines a regex could not finish its search on (counted as missed).
    pub(super) unevaluated: usize,
}
impl Settle for State<'_> {
    fn now(&self) -> f64 {
        self.now
    }

    fn outcome(
        &mut self,
        lineno: usize,
        line: &str,
        oc: gaoler_filter::LineOutcome,
        out: &mut dyn Write,
    ) -> Result<()> {
        State::outcome(self, lineno, line, oc, out)
    }

    fn quiet(&mut self, text: &str, count: usize, pref_hits: usize) {
        State::quiet(self, text, count, pref_hits);
    }
}
impl State<'_> {
    /// Does the prefregex match the text in `scratch` (a line without its
    /// date)? For filters that do not report it themselves (multi-line).
    pub(super) fn scratch_matches_pref(&mut self) -> bool {
        let Some(pr) = &self.pref else { return false };
        self.scratch.push('\n');
        let possible = self.pref_lits.as_ref().is_none_or(|lits| {
            lits.iter()
                .any(|f| f.find(self.scratch.as_bytes()).is_some())
        });
        possible && pr.is_match(&self.scratch).unwrap_or(false)
    }

    /// A journal entry: its time is known, its text carries no date.
    pub(super) fn journal_line(
        &mut self,
        filter: &mut Filter,
        lineno: usize,
        entry: gaoler_source::JournalLine,
        out: &mut dyn Write,
    ) -> Result<()> {
        let tuple = gaoler_filter::TupleLine {
            prefix: String::new(),
            date: format!("{} ", entry.iso_time),
            suffix: entry.text,
        };
        let full = tuple.full();
        let date_len = tuple.date.len();
        let mut oc = filter.process_line_with_date_detailed(tuple, entry.time, self.now);
        if oc.prefregex.is_none() && self.pref.is_some() {
            // (the text without its date, as the filter saw it)
            self.scratch.clear();
            self.scratch.push_str(&full[date_len..]);
            oc.prefregex = Some(self.scratch_matches_pref());
        }
        self.outcome(lineno, &full, oc, out)
    }

    /// Count and print what the filter made of a tested line.
    pub(super) fn outcome(
        &mut self,
        lineno: usize,
        line: &str,
        oc: gaoler_filter::LineOutcome,
        out: &mut dyn Write,
    ) -> Result<()> {
        if let Some(reason) = &oc.unevaluated {
            // (on stderr: stdout keeps fail2ban-regex's shape)
            if self.unevaluated == 0 {
                eprintln!("WARNING: line {lineno} could not be evaluated: {reason}");
            }
            self.unevaluated += 1;
        }
        let mut ret: Vec<&Failure> = Vec::new();
        let mut is_ignored = !oc.ignored_by.is_empty();
        for f in &oc.failures {
            if self.summary {
                let multiple = ret.len() > 1;
                if let Some(st) = self.fails.get_mut(f.regex_index) {
                    st.hits += 1;
                    if self.verbose > 0 {
                        st.ips.push((
                            f.id.as_ref()
                                .map(|a| a.to_string())
                                .unwrap_or_else(|| "None".into()),
                            f.time,
                            multiple,
                        ));
                    }
                }
            }
            if f.is_nofail() {
                is_ignored = true;
            } else {
                ret.push(f);
            }
        }
        for i in &oc.ignored_by {
            if let Some(st) = self.ignores.get_mut(*i) {
                st.hits += 1;
            }
        }
        if !self.summary {
            if self.args.invert {
                if ret.is_empty() || is_ignored {
                    writeln!(out, "{line}")?;
                }
                return Ok(());
            }
            if !ret.is_empty() && !is_ignored {
                if self.args.json {
                    for f in &ret {
                        writeln!(out, "{}", failure_json(lineno, line, f))?;
                    }
                } else if let Some(fmt) = &self.fmt {
                    emit(fmt, &ret, out)?;
                }
            }
            return Ok(());
        }
        // prefregex statistics (see module docs)
        if let Some(hit) = oc.prefregex {
            self.pref_hits += usize::from(hit);
        } else if self.pref.is_some() {
            self.scratch.clear();
            match &oc.date {
                Some(h)
                    if h.start < h.end
                        && line.is_char_boundary(h.start)
                        && line.is_char_boundary(h.end)
                        && h.end <= line.len() =>
                {
                    self.scratch.push_str(&line[..h.start]);
                    self.scratch.push_str(&line[h.end..]);
                }
                _ => self.scratch.push_str(line),
            }
            if self.scratch_matches_pref() {
                self.pref_hits += 1;
            }
        }
        // multi-line: earlier missed lines consumed by this failure
        if self.window > 1 && !ret.is_empty() {
            for f in &ret {
                for m in f.matches() {
                    if m == line {
                        continue;
                    }
                    if let Some(slot) = self
                        .recent
                        .iter_mut()
                        .find(|(l, s)| *s == Status::Missed && l == m)
                    {
                        slot.1 = Status::Matched;
                        self.stats.missed -= 1;
                        self.stats.matched += 1;
                        if let Some(p) = self.stats.missed_lines.iter().position(|x| x == m) {
                            self.stats.missed_lines.remove(p);
                        }
                        if self.args.print_all_matched {
                            self.stats.matched_lines.push(m.clone());
                        }
                    }
                }
            }
        }
        let st = &mut self.stats;
        let status = if is_ignored {
            st.ignored += 1;
            if !self.args.print_no_ignored
                && (self.args.print_all_ignored || st.ignored <= self.print_max + 1)
            {
                st.ignored_lines.push(line.to_string());
            }
            Status::Ignored
        } else if !ret.is_empty() {
            st.matched += 1;
            if self.args.print_all_matched {
                st.matched_lines.push(line.to_string());
            }
            Status::Matched
        } else {
            st.missed += 1;
            if !self.args.print_no_missed
                && (self.args.print_all_missed || st.missed <= self.print_max + 1)
            {
                st.missed_lines.push(line.to_string());
            }
            Status::Missed
        };
        st.tested += 1;
        if self.window > 1 {
            self.recent.push_back((line.to_string(), status));
            while self.recent.len() >= self.window {
                self.recent.pop_front();
            }
        }
        Ok(())
    }

    /// Count `count` tested lines nothing matched, the first of which
    /// starts `text` (summary only; what [`State::outcome`] does for each).
    pub(super) fn quiet(&mut self, text: &str, count: usize, pref_hits: usize) {
        self.pref_hits += pref_hits;
        let st = &mut self.stats;
        st.tested += count;
        let before = st.missed;
        st.missed += count;
        if self.args.print_no_missed {
            return;
        }
        let want = if self.args.print_all_missed {
            count
        } else {
            (self.print_max + 1).saturating_sub(before).min(count)
        };
        st.missed_lines.extend(
            text.split('\n')
                .map(trim_eol)
                .filter(|l| tested(l))
                .take(want)
                .map(str::to_string),
        );
    }

    pub(super) fn print_stats(
        &self,
        filter: &Filter,
        elapsed: f64,
        out: &mut dyn Write,
    ) -> Result<()> {
        writeln!(out, "\nResults\n=======")?;
        if let Some(p) = filter.prefregex_text() {
            writeln!(out, "\nPrefregex: {} total", self.pref_hits)?;
            pprint_list(out, &[p.to_string()], None)?;
        }
        let list = |title: &str, regs: &[RegexStat], out: &mut dyn Write| -> Result<()> {
            let mut total = 0;
            let mut lines = Vec::new();
            for (i, r) in regs.iter().enumerate() {
                total += r.hits;
                if r.hits > 0 || self.verbose > 0 {
                    lines.push(format!("{:2}) [{}] {}", i + 1, r.hits, r.text));
                }
                if self.verbose > 0 {
                    for (id, t, multi) in &r.ips {
                        lines.push(format!(
                            "    {id}  {}{}",
                            t.map(asctime).unwrap_or_else(|| "None".into()),
                            if *multi {
                                " (multiple regex matched)"
                            } else {
                                ""
                            }
                        ));
                    }
                }
            }
            writeln!(out, "\n{title}: {total} total")?;
            pprint_list(out, &lines, Some(" #) [# of hits] regular expression"))
        };
        list("Failregex", &self.fails, out)?;
        list("Ignoreregex", &self.ignores, out)?;
        if let Some(d) = filter.date_detector() {
            if filter.has_prefilter() && !self.every_date {
                writeln!(
                    out,
                    "\nDate template hits (lines passing the prefilter only):"
                )?;
            } else {
                writeln!(out, "\nDate template hits:")?;
            }
            let mut lines = Vec::new();
            for t in d.templates() {
                if self.verbose > 0 || t.hits > 0 {
                    lines.push(format!("[{}] {}", t.hits, t.name));
                    if self.args.verbose_date {
                        lines.push(format!(
                            "    # pattern: {}",
                            t.pattern.as_deref().unwrap_or("")
                        ));
                        lines.push(format!("    # regex:   {}", t.regex));
                    }
                }
            }
            pprint_list(out, &lines, Some("[# of hits] date format"))?;
        }
        let s = &self.stats;
        writeln!(
            out,
            "\nLines: {} lines, {} ignored, {} matched, {} missed",
            s.tested, s.ignored, s.matched, s.missed
        )?;
        writeln!(out, "[processed in {elapsed:.2} sec]")?;
        writeln!(out)?;
        if self.unevaluated > 0 {
            eprintln!(
                "WARNING: {} line(s) could not be evaluated (counted as missed)",
                self.unevaluated
            );
        }
        if self.args.print_all_matched {
            self.print_lines(out, "matched", s.matched, &s.matched_lines, true)?;
        }
        if !self.args.print_no_ignored {
            self.print_lines(
                out,
                "ignored",
                s.ignored,
                &s.ignored_lines,
                self.args.print_all_ignored,
            )?;
        }
        if !self.args.print_no_missed {
            self.print_lines(
                out,
                "missed",
                s.missed,
                &s.missed_lines,
                self.args.print_all_missed,
            )?;
        }
        Ok(())
    }

    pub(super) fn print_lines(
        &self,
        out: &mut dyn Write,
        kind: &str,
        count: usize,
        lines: &[String],
        all: bool,
    ) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        let mut cap = kind.to_string();
        if let Some(c) = cap.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        let header = format!("{cap} line(s):");
        if count < self.print_max || all {
            let l: Vec<String> = if self.args.debuggex {
                // every line with every regex of its kind, and a link that
                // opens the pair in debuggex.com
                let regs = if kind == "ignored" {
                    &self.ignores
                } else {
                    &self.fails
                };
                let links: Vec<(&str, Debuggex)> = regs
                    .iter()
                    .map(|r| {
                        let re = gaoler_filter::resolve_tags(&r.text, self.usedns);
                        (r.text.as_str(), Debuggex::new(&re, self.window > 1))
                    })
                    .collect();
                lines
                    .iter()
                    .flat_map(|line| {
                        links.iter().map(move |(text, link)| {
                            format!("{line} | {text} |  {}", link.on(line))
                                .trim_end()
                                .to_string()
                        })
                    })
                    .collect()
            } else {
                lines.iter().map(|x| x.trim_end().to_string()).collect()
            };
            pprint_list(out, &l, Some(&header))
        } else {
            writeln!(
                out,
                "{header} too many to print.  Use --print-all-{kind} to print all {count} lines"
            )?;
            Ok(())
        }
    }
}
/// debuggex.com links for one regex (tags resolved, Python flavour), the
/// query encoded as a form (Python's `urlencode`).
pub(super) struct Debuggex {
    /// Up to the sample: `https://…/?re=<regex>&str=`.
    pub(super) head: String,
    pub(super) tail: &'static str,
}
impl Debuggex {
    pub(super) fn new(regex: &str, multi_line: bool) -> Debuggex {
        let mut head = String::from("https://www.debuggex.com/?re=");
        form_encode(regex, &mut head);
        head.push_str("&str=");
        let tail = if multi_line {
            "&flavor=python&flags=m"
        } else {
            "&flavor=python"
        };
        Debuggex { head, tail }
    }

    /// The link for `sample`.
    pub(super) fn on(&self, sample: &str) -> String {
        let mut url = self.head.clone();
        form_encode(sample, &mut url);
        url.push_str(self.tail);
        url
    }
}
pub(super) fn form_encode(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}
pub(super) fn pprint_list(out: &mut dyn Write, l: &[String], header: Option<&str>) -> Result<()> {
    if l.is_empty() {
        return Ok(());
    }
    if let Some(h) = header {
        writeln!(out, "|- {h}")?;
    }
    writeln!(out, "|  {}\n`-", l.join("\n|  "))?;
    Ok(())
}
