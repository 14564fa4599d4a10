//! `gaoler lint -c DIR [JAIL...] [--json]`.
//!
//! Exit status: 0 without error-level findings, 1 with some, 2 when the
//! configuration cannot be read at all (the reader's error, with its file
//! and line, is printed) or the command line is wrong.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::finding::{counts, to_json};
use crate::{lint_dir, Options, RealHost};

const CHECKS: &str = "\
Checks (id, level):
  prefregex-consumed      error    a failregex expects text the prefregex already matched
  prefregex-nomatch       error    the prefregex matches none of a log's lines, a failregex would
  filter-invalid          error    a regex or the date pattern does not compile
  host-unanchored         warning  <HOST> after .* (or no ^) and no $: clients can pick the address
  logpath-missing         error    a logpath matches no file
  logpath-unreadable      error    a log file cannot be read
  datepattern-nomatch     warning  no date found in a log's first 100 lines
  backend-cannot-read     error    systemd without journalctl, no logpath, unknown backend
  banaction-tool-missing  error    an action runs a firewall tool that is not installed
  python-action           error    a Python action (gaoler does not run them)
  ignoreself-uncovered    warning  ignoreself = false and ignoreip leaves own addresses out
  timing-maxretry         error    maxretry below 1
  timing-findtime         error    findtime 0 or less
  timing-rate             warning  maxretry failures take longer than findtime at the service's pace
  timing-bantime          info     bantime shorter than findtime without bantime.increment
  timing-maxtime          warning  bantime.maxtime lower than bantime
  jail-enabled-twice      warning  a jail enabled in two files
  jail-same-log           warning  two jails read the same log with the same filter
  config-error            error    the configuration reader refuses the jail
  continuation-unindented error    a value's next line starts at column 0: an option nobody reads

Exit status: 0 no error, 1 at least one error-level finding, 2 the configuration cannot be read.";

/// `gaoler lint`'s command line.
#[derive(Parser, Debug)]
#[command(
    name = "gaoler lint",
    about = "Find fail2ban configurations that silently never ban",
    long_about = "Reads a fail2ban configuration tree as the server would, and reports \
                  jails that start but cannot ban (or ban the wrong address): a failregex the \
                  prefregex already consumed, missing or unreadable logs, undatable lines, \
                  missing firewall tools, timing values that cannot work together. Each \
                  finding names the file and line to edit and a fix. Logs are read only for \
                  their first lines.",
    after_long_help = CHECKS
)]
pub struct Args {
    /// Configuration directory.
    #[arg(short = 'c', long = "conf", visible_alias = "config", default_value_os_t = gaoler_config::default_basedir_for_this_program())]
    pub conf: PathBuf,
    /// Print one JSON document: {"findings": [...], "errors": N, "warnings": M}.
    #[arg(long = "json")]
    pub json: bool,
    /// Do not read the jails' logs (judge the configuration alone).
    #[arg(long = "no-logs")]
    pub no_logs: bool,
    /// Jails to check, enabled or not (default: every enabled jail).
    pub jails: Vec<String>,
}

/// The command line, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// Entry point: `argv0` is the program name, `rest` the arguments after
/// `lint`.
pub fn lint_main(argv0: &OsString, rest: Vec<OsString>) -> ExitCode {
    let mut argv = vec![argv0.clone()];
    argv.extend(rest);
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let opts = Options {
        jails: args.jails.clone(),
        read_logs: !args.no_logs,
        ..Options::default()
    };
    let findings = match lint_dir(&args.conf, &opts, &RealHost) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ERROR: cannot read the configuration: {e}");
            return ExitCode::from(2);
        }
    };
    for j in args.jails.iter().filter(|j| !jail_exists(&args.conf, j)) {
        eprintln!("WARNING: no jail [{j}] in {}", args.conf.display());
    }
    let (errors, warnings) = counts(&findings);
    let mut stdout = std::io::stdout().lock();
    let written = if args.json {
        writeln!(stdout, "{}", to_json(&findings))
    } else {
        let mut r = Ok(());
        for f in &findings {
            r = r.and_then(|()| writeln!(stdout, "{}", f.to_text()));
        }
        let infos = findings.len() - errors - warnings;
        r.and_then(|()| {
            writeln!(
                stdout,
                "{} error{}, {} warning{}, {} note{}",
                errors,
                plural(errors),
                warnings,
                plural(warnings),
                infos,
                plural(infos)
            )
        })
    };
    if let Err(e) = written {
        tracing::debug!("output: {e}");
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Whether the tree has a jail section `name` (to warn about a typo).
fn jail_exists(conf: &std::path::Path, name: &str) -> bool {
    gaoler_config::ConfigSet::read(conf, "jail")
        .ok()
        .flatten()
        .is_some_and(|s| s.has_section(name))
}
