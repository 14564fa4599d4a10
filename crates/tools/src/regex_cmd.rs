//! `gaoler regex`: fail2ban-regex.
//!
//! Same arguments and report as `fail2ban-regex` (spec §7): the header
//! (`Use … : …` lines), the Prefregex / Failregex / Ignoreregex hit lists,
//! the date template hits, `Lines: N lines, X ignored, Y matched, Z missed`
//! and the line lists; or, with `-o`, one output per failure.
//!
//! Design decisions:
//! - **Threads, same report.** A log file is read by one thread per CPU
//!   (`-j`, this one included): workers examine blocks of lines with forks
//!   of the filter and this thread settles them in order, examining blocks
//!   itself while it would otherwise wait (see `parallel`). Multi-line
//!   filters, and `-j 1`, read in order on one thread.
//! - **Exact statistics by default.** fail2ban-regex reports how often each
//!   date template and the prefregex hit, over *every* line. The threads
//!   parse every line's date. Reading on one thread, gaoler's filter
//!   normally skips date parsing for lines its literal prefilter rejects, so
//!   the summary report turns the prefilter off (`eager_dates`); `--fast`
//!   keeps it on: failure, matched and missed counts stay exact (the
//!   prefilter is sound), only the date-template and prefregex counts then
//!   cover just the lines that passed it (the report says so). With
//!   ignoreregexes the prefilter stays off even with `--fast`, because
//!   fail2ban may test them on lines no failregex can match and count those
//!   lines as ignored. `-o` and `--json` print failures only, so they
//!   always use the prefilter.
//! - **Prefregex statistics** come from the filter (`count_prefregex`),
//!   which knows when its regexes ran and otherwise rules the prefregex out
//!   by literals and a DFA before running it. For multi-line filters the
//!   expanded prefregex runs here on the single line, not the whole buffer.
//! - **Multi-line filters:** a line counted as missed is moved to matched when
//!   a later failure's matched lines include it (fail2ban-regex does the same
//!   by watching its line buffer).
//! - **A last line without newline is not read**, as fail2ban-regex's file
//!   reader waits for the line to be complete (literal LOG lines are all
//!   read).
//! - The clock is the real one (`now`), as in fail2ban-regex; time window
//!   checks are off.
//! - `-o row` prints Python-like rows, but groups that did not take part in
//!   the match are absent (fail2ban prints them as `None`) and keys are
//!   sorted.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, Parser};
use gaoler_filter::{Failure, Filter, FilterSpec, UseDns, Value};
use serde_json::json;

use crate::load::{self, py_dict_repr, Resolved, Source};
use crate::parallel::{self, Reading, Settle};
use crate::pyrepr;
use crate::{tested, trim_eol};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "fail2ban-regex",
    disable_version_flag = true,
    about = "Test fail2ban filters (failregex/ignoreregex) against log lines",
    after_help = "LOG:\n  string                a string representing a log line (several lines separated by \\n)\n  filename              path to a log file (/var/log/auth.log)\n  systemd-journal       search systemd journal (systemd-journal[journalpath=DIR, journalfiles=F, namespace=NS, journalflags=N]), read with journalctl\n\nREGEX:\n  string                a string representing a 'failregex'\n  filter                name of jail or filter, optionally with options (sshd[mode=aggressive])\n  filename              path to a filter file (filter.d/sshd.conf)\n\nIGNOREREGEX:\n  string                a string representing an 'ignoreregex'"
)]
struct Args {
    /// Log file, log line(s) or systemd-journal
    log: String,
    /// Failregex, filter/jail name (with [options]) or filter file
    regex: String,
    /// Ignoreregex
    ignoreregex: Option<String>,
    /// Set alternate config directory
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    config: PathBuf,
    /// Set custom pattern used to match date/times
    #[arg(short = 'd', long = "datepattern")]
    datepattern: Option<String>,
    /// Set time-zone used by convert time format
    #[arg(long = "timezone", alias = "TZ")]
    timezone: Option<String>,
    /// File encoding (only UTF-8 is supported; invalid bytes are replaced)
    #[arg(short = 'e', long = "encoding", default_value = "UTF-8")]
    encoding: String,
    /// Raw hosts, don't resolve dns
    #[arg(short = 'r', long = "raw")]
    raw: bool,
    /// DNS specified replacement of tags <HOST> in regexp ('yes' - matches all form of hosts, 'no' - IP addresses only)
    #[arg(long = "usedns")]
    usedns: Option<String>,
    /// maxlines for multi-line regex (also the threshold for printing line lists)
    #[arg(short = 'L', long = "maxlines", default_value_t = 0)]
    maxlines: usize,
    /// journalctl style matches overriding filter file ("systemd-journal" only)
    #[arg(short = 'm', long = "journalmatch")]
    journalmatch: Option<String>,
    /// Log level for the Fail2Ban logger to use
    #[arg(short = 'l', long = "log-level", default_value = "critical")]
    log_level: String,
    /// Get version in machine-readable short format
    #[arg(short = 'V')]
    version: bool,
    /// Increase verbosity
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,
    /// Set numerical level of verbosity (0..4)
    #[arg(long = "verbosity")]
    verbosity: Option<u8>,
    /// Verbose date patterns/regex in output
    #[arg(long = "verbose-date", alias = "VD")]
    verbose_date: bool,
    /// The journalctl that reads `systemd-journal` (tests use a fake)
    #[arg(long = "journalctl", default_value = "journalctl", hide = true)]
    journalctl: PathBuf,
    /// Produce debuggex.com urls for debugging there (printed line lists)
    #[arg(short = 'D', long = "debuggex")]
    debuggex: bool,
    /// Disable check for all regex's
    #[arg(long = "no-check-all")]
    no_check_all: bool,
    /// Set token to print failure information only (row, id, ip, msg, host, ip4, ip6, dns, matches, ...)
    #[arg(short = 'o', long = "out")]
    out: Option<String>,
    /// Invert the sense of matching, to output non-matching lines
    #[arg(short = 'i', long = "invert")]
    invert: bool,
    /// Do not print any missed lines
    #[arg(long = "print-no-missed", conflicts_with = "print_all_missed")]
    print_no_missed: bool,
    /// Do not print any ignored lines
    #[arg(long = "print-no-ignored", conflicts_with = "print_all_ignored")]
    print_no_ignored: bool,
    /// Print all matched lines
    #[arg(long = "print-all-matched")]
    print_all_matched: bool,
    /// Print all missed lines, no matter how many
    #[arg(long = "print-all-missed")]
    print_all_missed: bool,
    /// Print all ignored lines, no matter how many
    #[arg(long = "print-all-ignored")]
    print_all_ignored: bool,
    /// Enrich log-messages with compressed tracebacks (accepted, no effect)
    #[arg(short = 't', long = "log-traceback")]
    log_traceback: bool,
    /// Make the tracebacks full (accepted, no effect)
    #[arg(long = "full-traceback")]
    full_traceback: bool,
    /// Print one JSON object per failure (line, id, time, captured fields)
    #[arg(long = "json")]
    json: bool,
    /// Keep the literal prefilter on for the summary (date template and
    /// prefregex statistics then cover only lines passing it)
    #[arg(long = "fast")]
    fast: bool,
    /// Show a progress bar on stderr (default: for large files when stderr is a terminal)
    #[arg(long = "progress", overrides_with = "no_progress")]
    progress: bool,
    #[arg(long = "no-progress", hide = true)]
    no_progress: bool,
    /// Print a PCRE2 pattern (for `rg -P`) combining the failregexes, then exit
    #[arg(long = "print-pcre", hide = true)]
    print_pcre: bool,
    /// Threads reading a log file (default: one per CPU; 1 reads in order
    /// on one thread; the results are the same)
    #[arg(short = 'j', long = "threads")]
    threads: Option<usize>,
    /// Bytes of log per block handed to a thread (tests use small blocks)
    #[arg(long = "block-bytes", hide = true, default_value_t = 1 << 20)]
    block_bytes: usize,
}

/// Entry point of `gaoler regex` / `fail2ban-regex`.
/// `gaoler regex`'s command line, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// `gaoler regex` (fail2ban-regex): `argv0` is the name it was called by,
/// `rest` its arguments.
pub fn regex_main(argv0: &OsString, rest: Vec<OsString>) -> ExitCode {
    if rest.iter().any(|a| a == "-V") {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let args = match Args::try_parse_from(crate::args_with_argv0(argv0, rest)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return crate::exit(if e.use_stderr() { 255 } else { 0 });
        }
    };
    let level = args.log_level.clone();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let r = crate::with_log_level(&level, || run(&args, &mut out));
    let r = r.and_then(|()| out.flush().map_err(anyhow::Error::from));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // broken pipe (e.g. `| head`) is not an error worth reporting
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stdout(), "ERROR: {e:#}");
            crate::exit(255)
        }
    }
}

/// Run `gaoler regex` with `args` (without the program name), writing the
/// report to `out` (for tests and embedding).
pub fn regex_run<I, T>(args: I, out: &mut dyn Write) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut v: Vec<OsString> = vec![OsString::from("fail2ban-regex")];
    v.extend(args.into_iter().map(Into::into));
    let args = Args::try_parse_from(v).map_err(|e| anyhow!("{e}"))?;
    let level = args.log_level.clone();
    crate::with_log_level(&level, || run(&args, out))
}

/// What to print per failure (`-o`).
#[derive(Clone, Debug)]
enum OutFmt {
    Id,
    Ip,
    Msg,
    Row,
    Key(String),
    Template(String),
}

fn shortstr(s: &str, l: usize) -> String {
    if s.chars().count() > l {
        let t: String = s.chars().take(l - 3).collect();
        format!("{t}...")
    } else {
        s.to_string()
    }
}

/// Per failregex / ignoreregex hit statistics.
struct RegexStat {
    text: String,
    hits: usize,
    /// (id, time, multiple) for `-v`.
    ips: Vec<(String, Option<f64>, bool)>,
}

impl RegexStat {
    fn new(text: &str) -> RegexStat {
        RegexStat {
            text: text.to_string(),
            hits: 0,
            ips: Vec::new(),
        }
    }
}

#[derive(Default)]
struct LineStats {
    tested: usize,
    matched: usize,
    missed: usize,
    ignored: usize,
    matched_lines: Vec<String>,
    missed_lines: Vec<String>,
    ignored_lines: Vec<String>,
}

fn describe_source(out: &mut dyn Write, r: &Resolved, kind: &str, value: &str) -> Result<()> {
    // header lines as fail2ban-regex 1.1 prints them
    match &r.source {
        Source::Literal(_) => writeln!(out, "Use {kind:>11} line : {}", shortstr(value, 53))?,
        Source::Jail { jail, .. } => {
            writeln!(out, "Use {:>11} jail : {jail}", "")?;
            if !r.options.is_empty() {
                writeln!(out, "Use jail/flt options : {}", py_dict_repr(&r.options))?;
            }
        }
        Source::FilterFile { name, basedir } => writeln!(
            out,
            "Use {:>11} file : {name}, basedir: {}",
            "filter",
            basedir.display()
        )?,
        Source::ForeignFile { path } => {
            writeln!(out, "Use {:>11} file : {}", "filter", path.display())?
        }
    }
    if !r.options.is_empty()
        && matches!(
            r.source,
            Source::FilterFile { .. } | Source::ForeignFile { .. }
        )
    {
        writeln!(out, "Use   filter options : {}", py_dict_repr(&r.options))?;
    }
    Ok(())
}

/// Input lines: a file, literal text or the journal.
enum Input {
    File(PathBuf),
    Text(Vec<String>),
    /// `systemd-journal[options]`: the whole journal once, through
    /// `journalctl` (options as the systemd backend's), with these matches.
    Journal {
        args: Vec<String>,
        matches: Vec<Vec<String>>,
    },
}

/// `systemd-journal` or `systemd-journal[opt=v, ...]` as LOG.
fn journal_log(log: &str) -> Result<Option<Vec<String>>> {
    let Some(rest) = log.strip_prefix("systemd-journal") else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some(Vec::new()));
    }
    if !(rest.starts_with('[') && rest.ends_with(']')) {
        return Ok(None);
    }
    let (_, opts) =
        gaoler_config::options::extract_options(log).map_err(|e| anyhow!("{log}: {e}"))?;
    let opts: Vec<(String, String)> = opts.into_iter().collect();
    Ok(Some(gaoler_source::journal_args_from_options(&opts)?))
}

fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let summary = args.out.is_none() && !args.json && !args.print_pcre && !args.invert;
    let verbose = args.verbosity.unwrap_or(args.verbose);
    let say = |out: &mut dyn Write, s: String| -> Result<()> {
        if summary {
            writeln!(out, "{s}")?;
        }
        Ok(())
    };
    if summary {
        writeln!(out, "\nRunning tests\n=============\n")?;
    }
    // -L / -d given on the command line win over the filter's values
    let mut maxlines: Option<usize> = (args.maxlines > 0).then_some(args.maxlines);
    let print_max = if args.maxlines > 0 { args.maxlines } else { 20 };
    let mut datepattern: Option<String> = args.datepattern.clone();
    let mut header_deferred: Vec<String> = Vec::new();
    if let Some(m) = maxlines {
        say(out, format!("Use         maxlines : {m}"))?;
    }
    let mut dp_printed = false;

    let log_is_file = Path::new(&args.log).is_file();
    let journal = if log_is_file {
        None
    } else {
        journal_log(&args.log)?
    };
    // (a journal LOG makes the filter's logtype `journal`, as for a jail)
    let backend = if journal.is_some() { "systemd" } else { "auto" };
    let fail = load::resolve(&args.config, &args.regex, true, true, backend)?;
    let mut hdr: Vec<u8> = Vec::new();
    if summary {
        describe_source(&mut hdr, &fail, "failregex", &args.regex)?;
    }
    let ignore = match &args.ignoreregex {
        Some(v) => Some(load::resolve(&args.config, v, false, false, backend)?),
        None => None,
    };
    if maxlines.is_none() {
        if let Some(m) = fail.parts.maxlines {
            maxlines = Some(m);
            header_deferred.push(format!("Use         maxlines : {m}"));
        }
    }
    let stream_dp = datepattern.is_none() && fail.parts.datepattern.is_some();
    if datepattern.is_none() {
        datepattern.clone_from(&fail.parts.datepattern);
    }
    let mut failregex = fail.parts.failregex.clone();
    let mut ignoreregex = fail.parts.ignoreregex.clone();
    if let Some(i) = &ignore {
        ignoreregex.extend(i.parts.ignoreregex.iter().cloned());
        failregex.extend(i.parts.failregex.iter().cloned());
    }
    if failregex.is_empty() {
        bail!("no failregex given or found in {}", args.regex);
    }
    let usedns = match &args.usedns {
        Some(u) => u.parse::<UseDns>().map_err(|e| anyhow!(e))?,
        None => UseDns::Warn,
    };
    // like fail2ban-regex: every failregex is tried only for the report;
    // per-failure output (`-o`, `--json`) stops at the first, as the server
    let check_all = !args.no_check_all && summary;
    let has_prefregex = fail
        .parts
        .prefregex
        .as_deref()
        .is_some_and(|p| !p.trim().is_empty());
    let eager = summary && (!args.fast || !ignoreregex.is_empty());
    let spec = FilterSpec {
        prefregex: fail.parts.prefregex.clone(),
        failregex: failregex.clone(),
        ignoreregex: ignoreregex.clone(),
        maxlines: maxlines.unwrap_or(1).max(1),
        datepattern: datepattern.clone(),
        logtimezone: args.timezone.clone(),
        usedns,
        return_raw_host: args.raw,
        check_all_regex: check_all,
        check_find_time: None,
        eager_dates: eager,
        // failures without an ID yet (mlfid pending) count for the report
        // but are not printed as failures
        ignore_pending: !summary,
        count_prefregex: summary && has_prefregex,
        // the summary counts failures; -v prints their IDs and times only,
        // but multi-line filters need their matched lines
        failure_data: !summary || maxlines.unwrap_or(1) > 1,
    };
    let mut filter = Filter::new(spec).map_err(|e| anyhow!("{e}"))?;
    let year = crate::current_year();
    if let Some(d) = filter.date_detector_mut() {
        d.set_reference_year(Some(year));
    }

    if args.print_pcre {
        writeln!(out, "{}", combined_pcre(&filter))?;
        return Ok(());
    }

    // header, in fail2ban-regex's order
    if let Some(dp) = &args.datepattern {
        let name = filter
            .date_detector()
            .map(|d| d.describe().1)
            .unwrap_or_default();
        say(out, format!("Use      datepattern : {dp} : {name}"))?;
        dp_printed = true;
    }
    if summary {
        out.write_all(&hdr)?;
    }
    for h in header_deferred {
        say(out, h)?;
    }
    if !dp_printed && stream_dp {
        if let Some(dp) = &datepattern {
            let name = filter
                .date_detector()
                .map(|d| d.describe().1)
                .unwrap_or_default();
            say(out, format!("Use      datepattern : {dp} : {name}"))?;
        }
    }
    if let (Some(i), Some(v)) = (&ignore, &args.ignoreregex) {
        if summary {
            describe_source(out, i, "ignoreregex", v)?;
        }
    }
    let input = if let Some(jargs) = journal {
        // `-m` wins over the filter's journalmatch, of which (as in
        // fail2ban-regex) the last line is used
        let matches = match &args.journalmatch {
            Some(m) => vec![gaoler_config::shlex::split(m)
                .map_err(|e| anyhow!("invalid --journalmatch {m:?}: {e}"))?],
            None => fail
                .parts
                .journalmatch
                .last()
                .cloned()
                .into_iter()
                .collect(),
        };
        say(out, "Use         systemd journal".to_string())?;
        say(out, format!("Use         encoding : {}", args.encoding))?;
        if let Some(m) = matches.first().filter(|m| !m.is_empty()) {
            say(out, format!("Use    journal match : {}", m.join(" ")))?;
        }
        Input::Journal {
            args: jargs,
            matches,
        }
    } else if log_is_file {
        say(out, format!("Use         log file : {}", args.log))?;
        say(out, format!("Use         encoding : {}", args.encoding))?;
        Input::File(PathBuf::from(&args.log))
    } else if maxlines.unwrap_or(1) <= 1 && !args.log.contains('\n') {
        say(
            out,
            format!(
                "Use      single line : {}",
                shortstr(&args.log.replace('\n', "\\n"), 53)
            ),
        )?;
        Input::Text(vec![args.log.clone()])
    } else {
        let lines: Vec<String> = args.log.split('\n').map(str::to_string).collect();
        say(
            out,
            format!("Use      multi line : {} line(s)", lines.len()),
        )?;
        for (i, l) in lines.iter().enumerate() {
            if i >= 5 {
                say(out, "| ...".to_string())?;
                break;
            }
            let num = format!("{}", i + 1);
            say(out, format!("| {:>2.2}: {}", num, shortstr(l, 53)))?;
        }
        say(out, "`-".to_string())?;
        Input::Text(lines)
    };
    say(out, String::new())?;

    let mut state = State {
        args,
        summary,
        verbose,
        print_max,
        fmt: args.out.as_deref().map(parse_fmt),
        fails: failregex.iter().map(|t| RegexStat::new(t)).collect(),
        ignores: ignoreregex.iter().map(|t| RegexStat::new(t)).collect(),
        stats: LineStats::default(),
        pref: if has_prefregex && summary {
            filter.prefregex_text().and_then(|p| {
                gaoler_matcher::Regex::new(
                    p,
                    gaoler_matcher::Options {
                        multi_line: maxlines.unwrap_or(1) > 1,
                        case_insensitive: false,
                    },
                )
                .ok()
            })
        } else {
            None
        },
        pref_lits: filter
            .prefregex_text()
            .filter(|_| has_prefregex && summary)
            .and_then(|p| {
                gaoler_matcher::literals::required_literals(p, false, maxlines.unwrap_or(1) > 1)
            })
            .filter(|lits| lits.iter().all(|l| !l.ci && !l.text.is_empty()))
            .map(|lits| {
                lits.into_iter()
                    .map(|l| memchr::memmem::Finder::new(&l.text).into_owned())
                    .collect()
            }),
        pref_hits: 0,
        recent: VecDeque::new(),
        window: maxlines.unwrap_or(1).max(1),
        scratch: String::new(),
        now: crate::now(),
        every_date: false,
        usedns,
        unevaluated: 0,
    };
    let t0 = Instant::now();
    match input {
        Input::Text(lines) => {
            for (i, l) in lines.iter().enumerate() {
                state.line(&mut filter, i + 1, l, out)?;
            }
        }
        Input::Journal {
            args: jargs,
            matches,
        } => {
            let dump = gaoler_source::JournalDump::spawn(
                &args.journalctl,
                &matches,
                &jargs,
                &args.encoding,
            )?;
            for (i, entry) in dump.enumerate() {
                state.journal_line(&mut filter, i + 1, entry?, out)?;
            }
        }
        Input::File(p) => {
            let f = File::open(&p).with_context(|| format!("opening {}", p.display()))?;
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            let show = !args.no_progress
                && (args.progress || (size >= 32 << 20 && std::io::stderr().is_terminal()));
            let bar = show.then(|| {
                let b = indicatif::ProgressBar::new(size);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                b
            });
            let read = match parallel::forks(&mut filter, args.threads) {
                Some(forks) => {
                    state.every_date = true;
                    parallel::run(
                        &mut state,
                        // the summary only counts lines nothing matched
                        Reading {
                            quiet_runs: summary,
                            keep: None,
                        },
                        &mut filter,
                        forks,
                        parallel::Blocks::new(f, args.block_bytes),
                        bar.as_ref(),
                        out,
                    )
                }
                None => parallel::read_in_order(&mut state, &mut filter, f, bar.as_ref(), out),
            };
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            read.with_context(|| format!("reading {}", p.display()))?;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    if summary {
        state.print_stats(&filter, elapsed, out)?;
    }
    Ok(())
}

fn parse_fmt(s: &str) -> OutFmt {
    match s {
        "id" | "fid" => OutFmt::Id,
        "ip" => OutFmt::Ip,
        "msg" => OutFmt::Msg,
        "row" => OutFmt::Row,
        s if s.contains('<') => OutFmt::Template(s.to_string()),
        s => OutFmt::Key(s.to_string()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Matched,
    Missed,
    Ignored,
}

struct State<'a> {
    args: &'a Args,
    summary: bool,
    verbose: u8,
    print_max: usize,
    fmt: Option<OutFmt>,
    fails: Vec<RegexStat>,
    ignores: Vec<RegexStat>,
    stats: LineStats,
    pref: Option<gaoler_matcher::Regex>,
    /// Literals every prefregex match contains (one of them): lines without
    /// any skip the PCRE2 run that only counts prefregex hits.
    pref_lits: Option<Vec<memchr::memmem::Finder<'static>>>,
    pref_hits: usize,
    /// The last `window - 1` tested lines and their status (multi-line).
    recent: VecDeque<(String, Status)>,
    window: usize,
    scratch: String,
    now: f64,
    /// Every tested line's date was parsed (the threads do that; with one,
    /// `--fast` parses only lines passing the prefilter).
    every_date: bool,
    /// How `<HOST>` is resolved in `-D` links.
    usedns: UseDns,
    /// Lines a regex could not finish its search on (counted as missed).
    unevaluated: usize,
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
    fn scratch_matches_pref(&mut self) -> bool {
        let Some(pr) = &self.pref else { return false };
        self.scratch.push('\n');
        let possible = self.pref_lits.as_ref().is_none_or(|lits| {
            lits.iter()
                .any(|f| f.find(self.scratch.as_bytes()).is_some())
        });
        possible && pr.is_match(&self.scratch).unwrap_or(false)
    }

    /// A journal entry: its time is known, its text carries no date.
    fn journal_line(
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
    fn outcome(
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
    fn quiet(&mut self, text: &str, count: usize, pref_hits: usize) {
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

    fn print_stats(&self, filter: &Filter, elapsed: f64, out: &mut dyn Write) -> Result<()> {
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

    fn print_lines(
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
struct Debuggex {
    /// Up to the sample: `https://…/?re=<regex>&str=`.
    head: String,
    tail: &'static str,
}

impl Debuggex {
    fn new(regex: &str, multi_line: bool) -> Debuggex {
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
    fn on(&self, sample: &str) -> String {
        let mut url = self.head.clone();
        form_encode(sample, &mut url);
        url.push_str(self.tail);
        url
    }
}

fn form_encode(s: &str, out: &mut String) {
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

fn pprint_list(out: &mut dyn Write, l: &[String], header: Option<&str>) -> Result<()> {
    if l.is_empty() {
        return Ok(());
    }
    if let Some(h) = header {
        writeln!(out, "|- {h}")?;
    }
    writeln!(out, "|  {}\n`-", l.join("\n|  "))?;
    Ok(())
}

/// `time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))`.
fn asctime(t: f64) -> String {
    match jiff::Timestamp::from_second(t.floor() as i64) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%a %b %d %H:%M:%S %Y")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

fn id_str(f: &Failure) -> String {
    f.id.as_ref()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "None".into())
}

/// Python `str()` of a data value.
fn value_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Addr(a) => a.to_string(),
        Value::Int(i) => i.to_string(),
        other => pyrepr::py_value(other),
    }
}

fn emit(fmt: &OutFmt, ret: &[&Failure], out: &mut dyn Write) -> Result<()> {
    match fmt {
        OutFmt::Id => {
            for f in ret {
                writeln!(out, "{}", id_str(f))?;
            }
        }
        OutFmt::Ip => {
            for f in ret {
                match f.data.get("ip") {
                    Some(v) => writeln!(out, "{}", value_str(v))?,
                    None => writeln!(out, "{}", id_str(f))?,
                }
            }
        }
        OutFmt::Msg => {
            for f in ret {
                for m in f.matches() {
                    writeln!(out, "{m}")?;
                }
            }
        }
        OutFmt::Row => {
            for f in ret {
                let id =
                    f.id.as_ref()
                        .map(|a| pyrepr::py_str(&a.to_string()))
                        .unwrap_or_else(|| "None".into());
                let t = f
                    .time
                    .map(pyrepr::py_float)
                    .unwrap_or_else(|| "None".into());
                writeln!(out, "[{id},\t{t},\t{}],", pyrepr::py_data(&f.data))?;
            }
        }
        OutFmt::Key(k) => {
            for f in ret {
                match f.data.get(k) {
                    Some(v) => writeln!(out, "{}", value_str(v))?,
                    None => writeln!(out, "None")?,
                }
            }
        }
        OutFmt::Template(t) => {
            let mut wrapped: Vec<(&Failure, String)> = Vec::new();
            let mut wrap = false;
            for f in ret {
                let v = substitute(t, f, &mut wrap);
                if wrap {
                    wrapped.push((f, v));
                    continue;
                }
                writeln!(out, "{v}")?;
            }
            for (f, v) in wrapped {
                for m in f.matches() {
                    writeln!(out, "{}", v.replace("\u{0}msg\u{0}", m))?;
                }
            }
        }
    }
    Ok(())
}

/// Replace `<tag>`s in an `-o` template (action-style dynamic tags).
fn substitute(t: &str, f: &Failure, wrap: &mut bool) -> String {
    let mut out = String::with_capacity(t.len() + 32);
    let mut rest = t;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = &after[..close];
        let esc = |v: String| v.replace('\u{0}', "\\x00");
        let val: Option<String> = match tag {
            "fid" => Some(esc(id_str(f))),
            "ip" => Some(esc(f
                .data
                .get("ip")
                .map(value_str)
                .unwrap_or_else(|| id_str(f)))),
            "time" => Some(
                f.time
                    .map(pyrepr::py_float)
                    .unwrap_or_else(|| "None".into()),
            ),
            "family" => Some(
                f.id.as_ref()
                    .and_then(|a| a.family())
                    .map(|fam| fam.as_str().to_string())
                    .unwrap_or_else(|| "None".into()),
            ),
            "failures" => Some("1".into()),
            "matches" => Some(esc(f.matches().join("\n"))),
            "msg" => {
                if !*wrap && f.matches().len() <= 1 {
                    Some(f.matches().join("\n"))
                } else {
                    *wrap = true;
                    Some("\u{0}msg\u{0}".into())
                }
            }
            t if t.starts_with("F-") => Some(esc(f
                .data
                .get(&t[2..].to_ascii_lowercase())
                .map(value_str)
                .unwrap_or_default())),
            t => f.data.get(t).map(|v| esc(value_str(v))),
        };
        match val {
            Some(v) => out.push_str(&v),
            None => {
                out.push('<');
                out.push_str(tag);
                out.push('>');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn failure_json(lineno: usize, line: &str, f: &Failure) -> String {
    let mut fields = serde_json::Map::new();
    for (k, v) in &f.data {
        if k == "matches" {
            continue;
        }
        let j = match v {
            Value::Str(s) => json!(s.as_str()),
            Value::Int(i) => json!(i),
            Value::Addr(a) => json!(a.to_string()),
            Value::Set(s) => json!(s.iter().map(|x| x.as_str()).collect::<Vec<_>>()),
            Value::Lines(l) => json!(l),
            Value::Tuple(t) => json!(t),
        };
        fields.insert(k.to_string(), j);
    }
    json!({
        "line": lineno,
        "id": f.id.as_ref().map(|a| a.to_string()),
        "time": f.time,
        "regex": f.regex_index + 1,
        "fields": fields,
        "text": line,
    })
    .to_string()
}

/// One PCRE2 pattern matching (approximately) what the failregexes match,
/// for `rg -P`: the alternation of the expanded failregexes with their
/// leading `^` removed (rg sees whole lines, dates and prefixes included),
/// duplicate group names allowed.
fn combined_pcre(filter: &Filter) -> String {
    let alts: Vec<String> = filter
        .failregex_texts()
        .iter()
        .map(|r| {
            let t = gaoler_matcher::python::translate(r, gaoler_matcher::python::Target::Pcre2)
                .map(|t| t.pattern)
                .unwrap_or_else(|| r.to_string());
            let t = t.strip_prefix('^').unwrap_or(&t).to_string();
            format!("(?:{t})")
        })
        .collect();
    format!("(?J){}", alts.join("|"))
}
