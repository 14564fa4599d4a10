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
//!
//! Layout: the arguments and the run are here; the log is read by
//! `crate::parallel` (shared with `gaoler explain`); `report` counts and
//! prints the summary, `output` the per-failure forms (`-o`, `--json`).

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

mod output;
mod report;

use output::*;
use report::*;

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
    crate::finish(r, true, 255)
}

/// Run `gaoler regex` with `args` (without the program name), writing the
/// report to `out` (for tests and embedding).
pub fn regex_run<I, T>(args: I, out: &mut dyn Write) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Args = crate::parse_args("fail2ban-regex", args)?;
    let level = args.log_level.clone();
    crate::with_log_level(&level, || run(&args, out))
}

fn shortstr(s: &str, l: usize) -> String {
    if s.chars().count() > l {
        let t: String = s.chars().take(l - 3).collect();
        format!("{t}...")
    } else {
        s.to_string()
    }
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
