//! `gaoler test-samples`: fail2ban's sample-log test (`samplestestcase.py`)
//! as a command for filter authors.
//!
//! Every sample file named after a filter is run through that filter with
//! the rules of the upstream test (spec §8):
//! - `# failJSON: {…}` describes the *next physical line*; other comment and
//!   blank lines are skipped; a log line without failJSON must not match.
//! - `# filterOptions: {…}|[{…},…]` switches to one filter configuration per
//!   option set (merged over `# fileOptions`); `test.condition` disables the
//!   block, `test.filter-name` names the configuration, `test.prefix-line` is
//!   prepended to journal lines; `logtype: journal` lines carry no date and
//!   are processed with the test clock as their time.
//! - `# addFILE: "name"` appends another sample file (same directory) to the
//!   run, with the filter configurations still active.
//! - A configuration, once built, is cached by name (filter + options repr)
//!   and keeps its state (multi-line buffer, mlfid cache) across blocks and
//!   files, as upstream's test does.
//! - Checks: exactly one real failure (pending and `nofail` results are
//!   dropped but mark their regex as used), every failJSON key except
//!   `time`/`match`/`desc`/`constraint` equal to the failure data (missing
//!   `host` falls back to the ID, `attempts` is the number of matched lines,
//!   lists compared sorted), `time` equal to the failJSON local time in the
//!   test zone; at the end every failregex of every configuration must have
//!   been hit (by index in that configuration or by identical text in any),
//!   and no failregex may have a greedy catch-all before `<HOST>` unless it
//!   is hard-anchored (upstream's `RE_WRONG_GREED`).
//! - The clock is fixed at 1124013600 (2005-08-14 12:00:00 CEST) in the zone
//!   `CET-01CEST-02,M3.5.0,M10.5.0`; `%ExY` is built from the real year, as
//!   upstream's is.
//!
//! Unlike upstream, which stops a file at its first failing assertion, the
//! runner checks every line and reports each failure with file:line, what
//! was expected and what was found.
//!
//! Filters are looked up in `--config DIR/filter.d`, then in each
//! `--filter-dir`. Upstream's test filters (`test-config/filter.d/zzz-*`)
//! include `common.conf` by a path relative to fail2ban's source layout; when
//! such an include of a filter from a `--filter-dir` does not exist, the
//! runner reads a private copy of that filter whose missing includes point
//! to the file of the same name in `--config DIR/filter.d`.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use gaoler_filter::{Failure, Filter, FilterSpec, TupleLine, UseDns, Value};
use serde_json::{json, Value as J};

use crate::load::{filter_spec_string, py_dict_repr, FilterParts};

mod check;
use check::*;
use gaoler_datedetector::samples::{directive, local_iso};
pub use gaoler_datedetector::samples::{local_to_unix, TEST_TZ};

/// The test clock: 2005-08-14 12:00:00 CEST.
pub const TEST_NOW: f64 = 1124013600.0;
/// `TEST_NOW` as the UTC ISO text journal lines carry.
const TEST_NOW_STR: &str = "2005-08-14T10:00:00";

#[derive(Parser, Debug)]
#[command(
    about = "Run annotated sample logs (failJSON) against fail2ban filters",
    long_about = "Run annotated sample logs against their filters with the rules of \
fail2ban's sample test: each sample file is named after its filter. Prints every \
failing annotation and a final 'N passed, M failed' line; exits non-zero on failure."
)]
struct Args {
    /// Sample files or directories of sample files (file name = filter name)
    #[arg(required = true)]
    samples: Vec<PathBuf>,
    /// Configuration directory whose filter.d holds the filters
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    config: PathBuf,
    /// Additional filter.d directories (searched after the configuration's)
    #[arg(long = "filter-dir")]
    filter_dirs: Vec<PathBuf>,
    /// Write the per-annotation report as JSON to FILE
    #[arg(long = "json", value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also print passing checks
    #[arg(short, long)]
    verbose: bool,
    /// Also require a sample file for every filter of the configuration's
    /// filter.d (except *common.conf), as upstream's test does
    #[arg(long)]
    require_all: bool,
}

/// Entry point of `gaoler test-samples`.
/// `gaoler test-samples`'s command line, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// `gaoler test-samples`: `argv0` is the name it was called by, `rest` its
/// arguments.
pub fn test_samples_main(argv0: &OsString, rest: Vec<OsString>) -> ExitCode {
    let args = match Args::try_parse_from(crate::args_with_argv0(argv0, rest)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return crate::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let opts = RunOptions {
        config: args.config.clone(),
        filter_dirs: args.filter_dirs.clone(),
        require_all: args.require_all,
    };
    let report = crate::with_log_level("critical", || run(&args.samples, &opts));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            return crate::exit(255);
        }
    };
    for c in &report.checks {
        if !c.passed {
            println!("FAIL {}", c.describe());
        } else if args.verbose {
            println!("ok   {}", c.describe());
        }
    }
    if let Some(p) = &args.json {
        let v = report.to_json();
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        if let Err(e) = std::fs::write(p, text + "\n") {
            eprintln!("ERROR: cannot write {}: {e}", p.display());
            return crate::exit(255);
        }
    }
    let (p, f) = report.counts();
    println!(
        "{} sample files, {} filter configurations, {} annotated lines",
        report.files, report.configurations, report.annotations
    );
    println!("{p} passed, {f} failed");
    if f == 0 {
        ExitCode::SUCCESS
    } else {
        crate::exit(1)
    }
}

/// Where filters come from.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The configuration directory whose `filter.d` (and `samples/`) is used.
    pub config: PathBuf,
    /// More directories searched for `NAME.conf` filters.
    pub filter_dirs: Vec<PathBuf>,
    /// Every filter of `config/filter.d` (except `*common.conf`) must have a
    /// sample file among the given ones.
    pub require_all: bool,
}

/// One checked item: a sample line under one filter configuration, or a
/// per-filter condition (regex without samples, greedy regex, load error).
#[derive(Clone, Debug)]
pub struct Check {
    /// The sample file.
    pub file: PathBuf,
    /// The line checked (1-based; 0 for per-filter conditions).
    pub line: usize,
    /// Filter configuration name (`sshd{'mode': 'aggressive'}`).
    pub config: String,
    /// The log line.
    pub text: String,
    /// What the annotation expects.
    pub expected: String,
    /// What the filter gave.
    pub got: String,
    /// Whether the two agree.
    pub passed: bool,
    /// What went wrong, for checks that are not a line's comparison.
    pub problem: Option<String>,
}

impl Check {
    fn describe(&self) -> String {
        let mut s = format!("{}:{} [{}]", self.file.display(), self.line, self.config);
        if let Some(p) = &self.problem {
            s.push_str(&format!(": {p}"));
        }
        if !self.text.is_empty() {
            s.push_str(&format!("\n     line:     {}", self.text));
        }
        if !self.expected.is_empty() {
            s.push_str(&format!("\n     expected: {}", self.expected));
        }
        if !self.got.is_empty() {
            s.push_str(&format!("\n     got:      {}", self.got));
        }
        s
    }
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Sample files read.
    pub files: usize,
    /// Filter configurations run (a filter with each of its `filterOptions`).
    pub configurations: usize,
    /// failJSON lines met (each may be checked under several configurations).
    pub annotations: usize,
}

impl Report {
    /// How many checks passed and how many failed.
    pub fn counts(&self) -> (usize, usize) {
        let p = self.checks.iter().filter(|c| c.passed).count();
        (p, self.checks.len() - p)
    }
    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
    /// The report as `--json` prints it.
    pub fn to_json(&self) -> J {
        let (p, f) = self.counts();
        json!({
            "passed": p,
            "failed": f,
            "files": self.files,
            "configurations": self.configurations,
            "annotations": self.annotations,
            "checks": self.checks.iter().map(|c| json!({
                "file": c.file.display().to_string(),
                "line": c.line,
                "filter": c.config,
                "text": c.text,
                "expected": c.expected,
                "got": c.got,
                "passed": c.passed,
                "problem": c.problem,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Run the given sample files / directories.
pub fn run(paths: &[PathBuf], opts: &RunOptions) -> Result<Report> {
    let mut report = Report::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            files.extend(v);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(anyhow!("no such sample file or directory: {}", p.display()));
        }
    }
    let mut runner = Runner::new(opts.clone());
    // Sample files of one filter run as one test, so a regex sampled by any
    // of them counts as covered.
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for f in &files {
        let Some(name) = f.file_name().map(|n| n.to_string_lossy().to_string()) else {
            continue;
        };
        let Some((base, extra)) = runner.find_filter(&name) else {
            // e.g. `sshd-journal`, only read through `addFILE`
            continue;
        };
        let pos = match groups.iter().position(|(n, _)| *n == name) {
            Some(pos) => pos,
            None => {
                groups.push((name.clone(), Vec::new()));
                groups.len() - 1
            }
        };
        if !groups[pos].1.contains(f) {
            groups[pos].1.push(f.clone());
        }
        // A shipped filter's own samples (DIR/samples/NAME next to
        // DIR/filter.d) are part of its definition: they sample the
        // regexes a foreign corpus does not reach, and they must hold too.
        let own = base.join("samples").join(&name);
        if !extra && own.is_file() && !same_file(&own, &groups[pos].1) {
            groups[pos].1.push(own);
        }
    }
    let mut tested: BTreeSet<String> = BTreeSet::new();
    for (name, group) in &groups {
        tested.insert(name.clone());
        report.files += group.len();
        runner.run_test(group, name, &mut report);
    }
    if opts.require_all {
        let fd = opts.config.join("filter.d");
        if let Ok(rd) = std::fs::read_dir(&fd) {
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".conf") && !n.ends_with("common.conf"))
                .map(|n| n.trim_end_matches(".conf").to_string())
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            for n in names {
                let ok = tested.contains(&n);
                report.checks.push(Check {
                    file: fd.join(format!("{n}.conf")),
                    line: 0,
                    config: n.clone(),
                    text: String::new(),
                    expected: String::new(),
                    got: String::new(),
                    passed: ok,
                    problem: (!ok).then(|| "no sample log file for this filter".to_string()),
                });
            }
        }
    }
    report.configurations = runner.configurations;
    Ok(report)
}

fn same_file(p: &Path, among: &[PathBuf]) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let want = canon(p);
    among.iter().any(|q| canon(q) == want)
}

/// A built filter configuration and the failregex indices hit so far.
struct Config {
    filter: Filter,
    regexes: Vec<String>,
    used: BTreeSet<usize>,
}

struct Runner {
    opts: RunOptions,
    year: i32,
    configurations: usize,
    /// Staged copies of extra filter dirs (see module docs).
    staged: HashMap<PathBuf, tempfile::TempDir>,
}

/// Result of processing one sample file test (upstream: one test method).
struct TestState {
    /// Configurations by name, in creation order.
    filters: Vec<(String, Result<Config, String>)>,
    used_texts: BTreeSet<String>,
}

impl Runner {
    fn new(opts: RunOptions) -> Runner {
        Runner {
            opts,
            year: crate::current_year(),
            configurations: 0,
            staged: HashMap::new(),
        }
    }

    /// `(basedir, is_extra_dir)` holding `filter.d/NAME.conf`.
    fn find_filter(&self, name: &str) -> Option<(PathBuf, bool)> {
        let main = self.opts.config.join("filter.d");
        if main.join(format!("{name}.conf")).is_file()
            || main.join(format!("{name}.local")).is_file()
        {
            return Some((self.opts.config.clone(), false));
        }
        for d in &self.opts.filter_dirs {
            if d.join(format!("{name}.conf")).is_file() {
                return Some((d.clone(), true));
            }
        }
        None
    }

    fn read_stream(&mut self, name: &str, fopts: &[(String, String)]) -> Result<FilterParts> {
        let (dir, extra) = self
            .find_filter(name)
            .ok_or_else(|| anyhow!("no filter {name:?}"))?;
        let spec = filter_spec_string(name, fopts);
        if !extra {
            let s = gaoler_config::reader::read_filter_stream(&dir, &spec, "jail", "auto")
                .with_context(|| format!("reading filter {spec}"))?;
            return Ok(FilterParts::from_stream(&s));
        }
        // An extra filter.d: its parent is the base directory.
        let base = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let first = if dir.file_name().is_some_and(|n| n == "filter.d") {
            gaoler_config::reader::read_filter_stream(&base, &spec, "jail", "auto")
        } else {
            gaoler_config::reader::read_filter_file_stream(
                &dir.join(format!("{name}.conf")),
                fopts,
                "jail",
                "auto",
            )
        };
        match first {
            Ok(s) => Ok(FilterParts::from_stream(&s)),
            Err(first_err) => {
                let staged = self.stage(&dir)?;
                gaoler_config::reader::read_filter_stream(&staged, &spec, "jail", "auto")
                    .map(|s| FilterParts::from_stream(&s))
                    .map_err(|e| anyhow!("reading filter {spec}: {first_err}; with includes resolved against {}: {e}", self.opts.config.display()))
            }
        }
    }

    /// Copy `dir` to a private `filter.d`, pointing missing includes to the
    /// files of the same name in the configuration's `filter.d`.
    fn stage(&mut self, dir: &Path) -> Result<PathBuf> {
        if let Some(t) = self.staged.get(dir) {
            return Ok(t.path().to_path_buf());
        }
        let tmp = tempfile::tempdir().context("creating a temporary directory")?;
        let fd = tmp.path().join("filter.d");
        std::fs::create_dir_all(&fd)?;
        let main_fd = std::path::absolute(self.opts.config.join("filter.d"))
            .context("resolving the configuration directory")?;
        for e in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
            let p = e.path();
            if !p.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let fixed = rewrite_includes(&text, dir, &main_fd);
            std::fs::write(fd.join(e.file_name()), fixed)?;
        }
        let out = tmp.path().to_path_buf();
        self.staged.insert(dir.to_path_buf(), tmp);
        Ok(out)
    }

    fn build(&mut self, name: &str, fopts: &[(String, String)]) -> Result<Config, String> {
        let parts = self
            .read_stream(name, fopts)
            .map_err(|e| format!("{e:#}"))?;
        let spec = FilterSpec {
            prefregex: parts.prefregex,
            failregex: parts.failregex,
            ignoreregex: parts.ignoreregex,
            maxlines: parts.maxlines.unwrap_or(1).max(1),
            datepattern: parts.datepattern,
            usedns: UseDns::Warn,
            return_raw_host: true,
            check_all_regex: true,
            check_find_time: None,
            ..Default::default()
        };
        let mut filter = Filter::new(spec).map_err(|e| e.to_string())?;
        if let Some(d) = filter.date_detector_mut() {
            d.set_local_timezone(TEST_TZ).map_err(|e| e.to_string())?;
            d.set_reference_year(Some(self.year));
        }
        let regexes = filter
            .failregex_texts()
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.configurations += 1;
        Ok(Config {
            filter,
            regexes,
            used: BTreeSet::new(),
        })
    }

    /// One upstream test method: the sample files of filter `name` plus the
    /// files they add. Each given file starts with the plain filter; a file
    /// added by `addFILE` goes on with the configurations active before it.
    fn run_test(&mut self, given: &[PathBuf], name: &str, report: &mut Report) {
        let Some(first) = given.first() else { return };
        let first = first.as_path();
        // (file, starts afresh)
        let mut filenames: Vec<(PathBuf, bool)> = given.iter().map(|f| (f.clone(), true)).collect();
        let mut st = TestState {
            filters: Vec::new(),
            used_texts: BTreeSet::new(),
        };
        // (config name, index into st.filters, merged options)
        let mut active: Vec<(String, usize, serde_json::Map<String, J>)> = Vec::new();
        let mut common: serde_json::Map<String, J> = serde_json::Map::new();
        let mut i = 0;
        while i < filenames.len() {
            let (file, afresh) = filenames[i].clone();
            i += 1;
            if afresh && i > 1 {
                active.clear();
                common.clear();
            }
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            let text = match std::fs::read(&file) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => {
                    report
                        .checks
                        .push(fail_check(&file, 0, name, format!("cannot read: {e}")));
                    continue;
                }
            };
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let mut ignore_block = false;
            let mut ln = 0usize;
            while ln < lines.len() {
                let raw = lines[ln];
                ln += 1;
                let line = raw.trim_end_matches('\n');
                let mut faildata: serde_json::Map<String, J> = serde_json::Map::new();
                let mut data_line = line;
                let mut data_ln = ln;
                let mut annotated = false;
                if let Some((kind, body)) = directive(line) {
                    let parsed: J = match serde_json::from_str(body) {
                        Ok(v) => v,
                        Err(e) => {
                            report.checks.push(fail_check(
                                &file,
                                ln,
                                name,
                                format!("bad JSON in {kind}: {e}"),
                            ));
                            continue;
                        }
                    };
                    match kind {
                        "fileOptions" => {
                            common = parsed.as_object().cloned().unwrap_or_default();
                            continue;
                        }
                        "filterOptions" => {
                            active.clear();
                            ignore_block = false;
                            let sets: Vec<J> = match parsed {
                                J::Array(a) => a,
                                o => vec![o],
                            };
                            for set in sets {
                                let mut o = common.clone();
                                for (k, v) in set.as_object().cloned().unwrap_or_default() {
                                    o.insert(k, v);
                                }
                                if let Some(c) = o.get("test.condition").and_then(J::as_str) {
                                    if !c.is_empty() {
                                        match eval_cond(c, name, &o) {
                                            Ok(b) => ignore_block = !b,
                                            Err(e) => {
                                                report.checks.push(fail_check(&file, ln, name, e));
                                                ignore_block = true;
                                            }
                                        }
                                    }
                                }
                                if ignore_block {
                                    continue;
                                }
                                let fopts: Vec<(String, String)> = o
                                    .iter()
                                    .filter(|(k, _)| !k.starts_with("test."))
                                    .map(|(k, v)| (k.clone(), json_text(v)))
                                    .collect();
                                let cname = match o.get("test.filter-name").and_then(J::as_str) {
                                    Some(n) if !n.is_empty() => format!("{name}{n}"),
                                    _ if fopts.is_empty() => name.to_string(),
                                    _ => format!("{name}{}", py_dict_repr(&fopts)),
                                };
                                let idx = self.get_config(&mut st, &cname, name, &fopts);
                                active.push((cname, idx, o));
                            }
                            continue;
                        }
                        "addFILE" => {
                            match parsed.as_str() {
                                Some(f) => filenames.push((dir.join(f), false)),
                                None => report.checks.push(fail_check(
                                    &file,
                                    ln,
                                    name,
                                    "addFILE needs a string".into(),
                                )),
                            }
                            continue;
                        }
                        _ => {
                            // failJSON: the next physical line is the sample
                            faildata = parsed.as_object().cloned().unwrap_or_default();
                            annotated = true;
                            let Some(next) = lines.get(ln) else { break };
                            ln += 1;
                            data_line = next.trim_end_matches('\n');
                            data_ln = ln;
                        }
                    }
                } else if ignore_block || line.starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                if ignore_block {
                    continue;
                }
                if annotated {
                    report.annotations += 1;
                }
                if active.is_empty() {
                    let idx = self.get_config(&mut st, name, name, &[]);
                    active.push((name.to_string(), idx, serde_json::Map::new()));
                }
                let mut sample = data_line.trim_end_matches(['\r', '\n']).to_string();
                for (cname, idx, o) in &active {
                    if let Some(c) = faildata.get("constraint").and_then(J::as_str) {
                        if !c.is_empty() {
                            match eval_cond(c, name, o) {
                                Ok(true) => {}
                                Ok(false) => continue,
                                Err(e) => {
                                    report.checks.push(fail_check(&file, data_ln, cname, e));
                                    continue;
                                }
                            }
                        }
                    }
                    let check = check_line(
                        &mut st,
                        *idx,
                        cname,
                        o,
                        &mut sample,
                        &faildata,
                        &file,
                        data_ln,
                    );
                    report.checks.push(check);
                }
            }
        }
        // every failregex of every configuration needs a sample
        for (cname, cfg) in &st.filters {
            let Ok(cfg) = cfg else { continue };
            for (k, r) in cfg.regexes.iter().enumerate() {
                let ok = cfg.used.contains(&k) || st.used_texts.contains(r);
                report.checks.push(Check {
                    file: first.to_path_buf(),
                    line: 0,
                    config: cname.clone(),
                    text: String::new(),
                    expected: if ok {
                        String::new()
                    } else {
                        format!("a sample for failregex {}: {r}", k + 1)
                    },
                    got: String::new(),
                    passed: ok,
                    problem: (!ok).then(|| format!("Regex has no samples: {}", k + 1)),
                });
            }
        }
    }

    /// Index of the configuration `cname` in `st`, building it on first use.
    fn get_config(
        &mut self,
        st: &mut TestState,
        cname: &str,
        name: &str,
        fopts: &[(String, String)],
    ) -> usize {
        if let Some(i) = st.filters.iter().position(|(n, _)| n == cname) {
            return i;
        }
        let mut built = self.build(name, fopts);
        if let Ok(cfg) = &built {
            if let Some(bad) = cfg.regexes.iter().find(|r| wrong_greed(r)) {
                built = Err(format!(
                    "failregex contains a greedy catch-all before <HOST> that is not hard-anchored at end: {bad}"
                ));
            }
        }
        st.filters.push((cname.to_string(), built));
        st.filters.len() - 1
    }
}

/// Rewrite `[INCLUDES] before/after` entries that do not exist relative to
/// `dir` to the file of the same name in `fallback_dir`, when that exists.
fn rewrite_includes(text: &str, dir: &Path, fallback_dir: &Path) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_includes = false;
    let mut in_value = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let eol = &line[body.len()..];
        let t = body.trim();
        if t.starts_with('[') && t.ends_with(']') {
            in_includes = t == "[INCLUDES]";
            in_value = false;
            out.push_str(line);
            continue;
        }
        if !in_includes {
            out.push_str(line);
            continue;
        }
        let continuation = in_value && body.starts_with([' ', '\t']) && !t.is_empty();
        let (head, value) = if continuation {
            let indent = &body[..body.len() - body.trim_start().len()];
            (indent.to_string(), t)
        } else if let Some((k, v)) = body.split_once(['=', ':']) {
            let k_t = k.trim();
            in_value = k_t == "before" || k_t == "after";
            if !in_value {
                out.push_str(line);
                continue;
            }
            (format!("{} = ", k_t), v.trim())
        } else {
            in_value = false;
            out.push_str(line);
            continue;
        };
        let fixed = if !value.is_empty() && !value.contains('%') && !dir.join(value).exists() {
            let base = Path::new(value).file_name().map(|n| fallback_dir.join(n));
            match base {
                Some(b) if b.exists() => b.display().to_string(),
                _ => value.to_string(),
            }
        } else {
            value.to_string()
        };
        out.push_str(&head);
        out.push_str(&fixed);
        out.push_str(eol);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times() {
        assert_eq!(local_to_unix("2005-08-14T12:00:00"), Some(TEST_NOW));
        assert_eq!(local_to_unix("2005-01-01T01:00:00"), Some(1104537600.0));
        assert_eq!(local_to_unix("2005-01-01T01:00:00.5"), Some(1104537600.5));
        assert_eq!(
            local_to_unix("2005-03-7T02:09:33"),
            local_to_unix("2005-03-07T02:09:33")
        );
        assert_eq!(local_to_unix("2005-03-07 02:09:33"), None);
        assert_eq!(local_iso(TEST_NOW), "2005-08-14T12:00:00");
    }

    #[test]
    fn directives() {
        assert_eq!(directive("# failJSON: {}"), Some(("failJSON", " {}")));
        assert_eq!(directive("#failJSON:{}"), Some(("failJSON", "{}")));
        assert_eq!(directive("##  failJSON: {}"), None);
        assert_eq!(directive("# addFILE: \"x\""), Some(("addFILE", " \"x\"")));
        assert_eq!(directive("x # failJSON: {}"), None);
    }

    #[test]
    fn greed() {
        let host = gaoler_filter::resolve_tags("<HOST>", UseDns::Yes);
        assert!(wrong_greed(&format!(
            "greedy .* test{host} test not hard-anchored"
        )));
        assert!(wrong_greed(&format!(
            "greedy .+ test{host} test vary .* anchored$"
        )));
        assert!(!wrong_greed(&format!(
            "greedy .* test{host} test no catch-all, hard-anchored$"
        )));
        assert!(!wrong_greed(&format!(
            "non-greedy .*? test{host} test not hard-anchored"
        )));
        assert!(!wrong_greed(&format!(
            "non-greedy .+? test{host} test vary catch-all .* anchored$"
        )));
    }

    #[test]
    fn includes_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let fb = tempfile::tempdir().unwrap();
        std::fs::write(fb.path().join("common.conf"), "").unwrap();
        let t = "[INCLUDES]\nbefore = ../../x/common.conf\nafter = missing.local\n[Definition]\nbefore = ../../x/common.conf\n";
        let r = rewrite_includes(t, dir.path(), fb.path());
        assert!(r.contains(&format!(
            "before = {}",
            fb.path().join("common.conf").display()
        )));
        assert!(r.contains("after = missing.local"));
        assert!(r.ends_with("[Definition]\nbefore = ../../x/common.conf\n"));
    }
}
