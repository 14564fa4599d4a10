//! `gaoler explain`: what a jail would have done with a log.
//!
//! `gaoler explain -c DIR JAIL [LOG...]` reads the jail's whole
//! configuration (filter with its mode, `findtime`, `maxretry`, `bantime`
//! and `bantime.*`, `ignoreip`/`ignoreself`), replays the log(s) through
//! it in the log's own time, and reports lines and regex hits, every
//! address with its failures and the bans it would have got, the busiest
//! networks, bursts, and lines that look like failures but matched no
//! failregex. Text by default, `--json` for scripts, `--html FILE` for a
//! self-contained page with charts. Nothing is executed: no firewall, no
//! database, no ignore command.
//!
//! Design decisions:
//! - **The daemon's parts, not a model of them.** The configuration is
//!   read into the command stream the server gets ([`plan`]); lines go
//!   through the same `Filter` and the decisions through the same
//!   `gaoler-ban` managers ([`replay`]). What differs is only the clock:
//!   the log's instead of the wall's.
//! - **`gaoler regex`'s reader.** The log is read by the threaded reader
//!   (`crate::parallel`): the filter is where the time goes, and the
//!   decisions, a few per failure, run on the settling thread in log
//!   order. Lines nothing matched come back in runs, except those the
//!   hint test keeps ([`hints`], run on the worker threads).
//! - **Host names are not resolved** (`usedns` is taken as `no`): a
//!   replay must not depend on DNS. Lines naming a host rather than an
//!   address are missed, where the daemon (`usedns = warn`) would resolve
//!   them.
//! - Files only: a journal jail is explained from an export given as a
//!   LOG file (`journalctl -o short-iso ...`).

pub mod collect;
pub mod hints;
pub mod html;
pub mod plan;
pub mod replay;
pub mod report;

use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use gaoler_filter::{Filter, FilterSpec, UseDns};

use crate::parallel::{self, Reading};
use collect::Collector;
use plan::JailPlan;
use replay::Replay;
use report::Report;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "gaoler explain",
    disable_version_flag = true,
    about = "Replay a log through a jail's configuration and report what it would have done",
    long_about = "Replay a log through a jail's complete configuration (filter and mode, \
                  findtime, maxretry, bantime and bantime.increment, ignoreip and ignoreself) \
                  in the log's own time, and report the regex hits, each address's failures \
                  and the bans it would have got, the busiest networks, attack bursts, and \
                  lines that look like failures but matched no failregex. Nothing is \
                  executed: no firewall, no database, no ignore command."
)]
struct Args {
    /// Configuration directory
    #[arg(short = 'c', long = "conf", visible_alias = "config", default_value_os_t = gaoler_config::default_basedir_for_this_program())]
    config: PathBuf,
    /// Print the report as JSON (every address and ban)
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report with charts to FILE
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Addresses, networks and bursts to list in the text and HTML reports
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Threads reading the log (default: one per CPU)
    #[arg(short = 'j', long = "threads")]
    threads: Option<usize>,
    /// Show a progress bar on stderr (default: for large files when stderr is a terminal)
    #[arg(long = "progress", overrides_with = "no_progress")]
    progress: bool,
    /// Never show a progress bar
    #[arg(long = "no-progress")]
    no_progress: bool,
    /// The jail (a section of jail.conf, jail.local or jail.d/; it need not be enabled)
    jail: String,
    /// Log files to replay (default: the jail's logpath)
    log: Vec<PathBuf>,
}

/// `gaoler explain`'s command line (for help, man pages, completions).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Args::command()
}

/// `gaoler explain`; `argv0` is the program name for help and errors,
/// `rest` its arguments.
pub fn explain_main(argv0: &OsString, rest: Vec<OsString>) -> ExitCode {
    let args = match Args::try_parse_from(crate::args_with_argv0(argv0, rest)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return crate::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let r = run(&args, &mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
    crate::finish(r, false, 1)
}

/// Run `gaoler explain` with `args` (without the program name), writing
/// the report to `out` (for tests and embedding).
pub fn explain_run<I, T>(args: I, out: &mut dyn Write) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Args = crate::parse_args("gaoler explain", args)?;
    run(&args, out)
}

/// The jail's filter as the daemon builds it, minus name resolution.
fn build_filter(plan: &JailPlan) -> Result<Filter> {
    let spec = FilterSpec {
        usedns: UseDns::No,
        check_find_time: None,
        // failures without an id yet (a multi-line id pending) make the
        // line matched, as in `gaoler regex`; they are not counted
        ignore_pending: false,
        // multi-line filters need the matched lines to merge failures
        failure_data: plan.filter_options.maxlines > 1,
        ..plan.filter_options.spec()
    };
    let mut filter = Filter::new(spec).map_err(|e| anyhow!("jail {}: {e}", plan.name))?;
    if let Some(d) = filter.date_detector_mut() {
        d.set_reference_year(Some(crate::current_year()));
    }
    Ok(filter)
}

fn progress_bar(args: &Args, size: u64) -> Option<indicatif::ProgressBar> {
    let show = !args.no_progress
        && (args.progress || (size >= 32 << 20 && std::io::stderr().is_terminal()));
    show.then(|| {
        let b = indicatif::ProgressBar::new(size);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        b
    })
}

fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let plan = JailPlan::read(&args.config, &args.jail)?;
    let logs: Vec<PathBuf> = if args.log.is_empty() {
        if plan.logpaths.is_empty() {
            bail!(
                "jail {:?}: no LOG given and its logpath names no existing file{}",
                plan.name,
                if plan.is_journal() {
                    " (it reads the journal: export it with `journalctl -o short-iso` and give the file)"
                } else {
                    ""
                }
            );
        }
        plan.logpaths.clone()
    } else {
        args.log.clone()
    };
    let names: Vec<String> = logs.iter().map(|p| p.display().to_string()).collect();
    let replay = Replay::new(
        plan.maxretry,
        plan.findtime,
        plan.bantime,
        &plan.increment,
        plan.ignore_list(&gaoler_addr::host::own_addresses()),
    );
    let mut c = Collector::new(
        replay,
        plan.filter_options.failregex.len(),
        plan.filter_options.ignoreregex.len(),
        logs.len(),
    );
    let keep: &(dyn Fn(&str) -> bool + Sync) = &hints::looks_like_failure;
    let mut sink: Vec<u8> = Vec::new();
    for (i, path) in logs.iter().enumerate() {
        c.file = i;
        let mut filter = build_filter(&plan)?;
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = progress_bar(args, size);
        let read = match parallel::forks(&mut filter, args.threads) {
            Some(forks) => parallel::run(
                &mut c,
                Reading {
                    quiet_runs: true,
                    keep: Some(keep),
                },
                &mut filter,
                forks,
                parallel::Blocks::new(f, 1 << 20),
                bar.as_ref(),
                &mut sink,
            ),
            None => parallel::read_in_order(&mut c, &mut filter, f, bar.as_ref(), &mut sink),
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        read.with_context(|| format!("reading {}", path.display()))?;
    }
    c.finish();
    let report = Report::build(&plan, &names, &c);
    if let Some(p) = &args.html {
        let page = html::render(&report, args.top);
        std::fs::write(p, page).with_context(|| format!("writing {}", p.display()))?;
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        report.write_text(args.top, out)?;
    }
    Ok(())
}
