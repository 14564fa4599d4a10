//! `gaoler lint`: finds fail2ban configurations that silently never ban.
//!
//! A fail2ban configuration can be accepted by `fail2ban-client -t`, start
//! cleanly, and never ban anything: a failregex the prefregex has already
//! eaten, a log file that is not there, a date nobody can read, a firewall
//! tool that is not installed. fail2ban says nothing about most of these.
//! This crate reads the configuration the way the server will see it and
//! says, for each such problem, where it was written, what fail2ban does
//! because of it, and what to write instead.
//!
//! # Checks
//!
//! | id | level | what |
//! |----|-------|------|
//! | `prefregex-consumed` | error | a failregex expects text the filter's `prefregex` already matched before its `<F-CONTENT>`: it never matches |
//! | `prefregex-nomatch` | error | the prefregex matches none of a log's lines, while a failregex alone would |
//! | `filter-invalid` | error | the filter's regexes or date pattern do not compile |
//! | `host-unanchored` | warning | `<HOST>` is reached through `.*` (or without `^`) and nothing pins the end: client text can pick the banned address |
//! | `logpath-missing` | error | a `logpath` glob matches no file |
//! | `logpath-unreadable` | error | a log file cannot be read |
//! | `datepattern-nomatch` | warning | no date found in a log's first 100 lines |
//! | `backend-cannot-read` | error | `systemd` without journalctl, a file backend without logpath, an unknown backend |
//! | `banaction-tool-missing` | error | an action's commands run a firewall tool that is not installed |
//! | `python-action` | error | a Python action, which gaoler does not run |
//! | `ignoreself-uncovered` | warning | `ignoreself = false` and `ignoreip` leaves own addresses out |
//! | `timing-maxretry` | error | `maxretry` below 1 (bans at the first failure) |
//! | `timing-findtime` | error | `findtime` 0 or less (nothing is ever counted) |
//! | `timing-rate` | warning | `maxretry` failures take longer than `findtime` at the service's own pace |
//! | `timing-bantime` | info | `bantime` shorter than `findtime` without `bantime.increment` |
//! | `timing-maxtime` | warning | `bantime.maxtime` lower than `bantime` |
//! | `jail-enabled-twice` | warning | a jail enabled in two files (which one wins) |
//! | `jail-same-log` | warning | two enabled jails read the same log with the same filter |
//! | `config-error` | error | the reader refuses the jail (bad value, missing filter, ...) |
//! | `continuation-unindented` | error | a line meant to continue a value (another failregex, logpath) starts at column 0: it becomes an option nobody reads |
//!
//! Beside the checks, [`stream`] finds every command of a stream the
//! server would refuse, without a server (`client -t`), and [`start`]
//! decides from it which jails a start leaves out.
//!
//! # Design decisions
//!
//! - **The command stream is the source of values.** It is what the
//!   server applies, after every layer, interpolation and tag, so no
//!   check re-implements fail2ban's reading rules (and none can disagree
//!   with the server about what a value is). Places (file and line) come
//!   from the reader's origins; a value of a multi-line option is placed
//!   on its own line by reading the file again (`model::ValueLines`),
//!   because a finding about one failregex of ten must point at that one.
//! - **Reason on the patterns, confirm on the log.** Each regex check
//!   first decides from the regexes alone (so it works before a log
//!   exists, and in `client -t`), then, when the jail's log can be read,
//!   runs the real filter on its first 1000 lines to confirm and to quote
//!   a line. A pattern verdict that the log contradicts is dropped; a log
//!   verdict the patterns missed is still reported. See
//!   `checks::prefregex` for the reasoning about prefregex and failregex.
//! - **Fixes are verified.** A rewritten failregex is offered only after
//!   the filter built with it finds a failure on a line the original
//!   failregex was written for; an alternative that cannot be verified is
//!   worded as such.
//! - **The machine is injected.** Tools, own addresses, log files and
//!   globs are asked of a [`Host`]; [`RealHost`] is this machine, tests
//!   pass a fake one.
//! - **Levels mean what fail2ban does.** Error: the jail does not start,
//!   or runs and cannot ban (what `gaoler lint` exits 1 for). Warning: it
//!   bans, but not as meant (or bans the wrong address). Info: a trade-off.

#![deny(missing_docs)]

mod checks;
pub mod cli;
pub mod finding;
pub mod host;
mod model;
mod pattern;
pub mod start;
pub mod stream;
mod witness;

use std::path::Path;

use gaoler_config::reader::{ClientOptions, ConfigRead, ReadMode};
use gaoler_config::ConfigError;

pub use cli::lint_main;
pub use finding::{Finding, Level};
pub use host::{Host, RealHost};

/// What to check and how much to read.
#[derive(Clone, Debug)]
pub struct Options {
    /// Jails to check (even when not enabled); empty: every enabled jail.
    pub jails: Vec<String>,
    /// Read the jails' logs (first lines only) to confirm and quote.
    pub read_logs: bool,
    /// How many lines of each log are read.
    pub log_lines: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jails: Vec::new(),
            read_logs: true,
            log_lines: 1000,
        }
    }
}

/// Read the configuration under `basedir` and check it. An error means
/// the configuration cannot be read at all (it names the file and line).
pub fn lint_dir(
    basedir: &Path,
    opts: &Options,
    host: &dyn Host,
) -> Result<Vec<Finding>, ConfigError> {
    let read = gaoler_config::reader::read_config_enabling(
        basedir,
        ReadMode::Dump,
        &ClientOptions::default(),
        &opts.jails,
    )?;
    Ok(lint_read(basedir, &read, opts, host))
}

/// Check a configuration already read (`client -t` reuses its own read).
pub fn lint_read(
    basedir: &Path,
    read: &ConfigRead,
    opts: &Options,
    host: &dyn Host,
) -> Vec<Finding> {
    let ctx = checks::Ctx::new(basedir, host, opts);
    let mut jails = model::jails(read);
    if !opts.jails.is_empty() {
        jails.retain(|j| opts.jails.contains(&j.name));
    }
    tracing::debug!("linting {} jail(s) of {}", jails.len(), basedir.display());
    let mut findings = checks::run(&ctx, read, &jails);
    finding::sort(&mut findings);
    findings.dedup();
    tracing::debug!("{} finding(s)", findings.len());
    findings
}
