//! gaoler's filter tools.
//!
//! - [`regex_main`]: `gaoler regex`, a re-implementation of `fail2ban-regex`
//!   (same arguments, same report), plus `--json` output and a progress bar.
//! - [`test_samples_main`]: `gaoler test-samples`, fail2ban's sample-log test
//!   (`samplestestcase.py`) as a command for filter authors.
//!
//! Both read filters through `gaoler-config` exactly as fail2ban's client
//! does ([`load`]) and run them through `gaoler-filter`.
//!
//! Design decisions:
//! - **Reading logs.** Files are read in 1 MiB chunks and split on `\n` with
//!   `memchr`; lines are handed out as borrowed slices and only decoded
//!   (lossily, invalid UTF-8 becomes U+FFFD as with Python's `replace`
//!   error handler) when they are not valid UTF-8. No per-line allocation
//!   on the common path.
//! - **Logging.** fail2ban-regex logs at `critical` by default, i.e. shows
//!   nothing; the filter crate logs recoverable problems (`error`). The tools
//!   install their own scoped `tracing` subscriber for `-l/--log-level` so
//!   the binary's global one (level `error`) does not leak them.

#![deny(missing_docs)]

pub mod explain;
pub mod load;
mod parallel;
pub mod pyrepr;
pub mod regex_cmd;
pub mod samples;

use std::ffi::OsString;
use std::io::Read;
use std::process::ExitCode;

pub use explain::{explain_main, explain_run};
pub use regex_cmd::{regex_main, regex_run};
pub use samples::test_samples_main;

/// A line without trailing CR/LF characters (a byte loop: this runs on
/// every line of a log).
pub(crate) fn trim_eol(line: &str) -> &str {
    let b = line.as_bytes();
    let mut n = b.len();
    while n > 0 && matches!(b[n - 1], b'\r' | b'\n') {
        n -= 1;
    }
    // (CR and LF are ASCII: `n` is a character boundary)
    line.get(..n).unwrap_or(line)
}

/// Lines fail2ban-regex tests (empty and `#` lines are passed over).
pub(crate) fn tested(line: &str) -> bool {
    !line.is_empty() && !line.starts_with('#')
}

/// Size of the read buffer for log files.
const CHUNK: usize = 1 << 20;

/// Call `f(line_bytes)` for each line of `r` (without the `\n`). A final
/// line without newline is included when `partial_last` is set (fail2ban's
/// file reader, used by fail2ban-regex, waits for the line end and so never
/// sees it; the sample test reads it). Returns `Ok(false)` if `f` asked to
/// stop.
pub fn for_each_line<R: Read>(
    mut r: R,
    partial_last: bool,
    mut f: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<bool> {
    let mut buf: Vec<u8> = vec![0; CHUNK];
    // bytes [0, filled) hold data; [0, start) is consumed
    let mut filled = 0usize;
    loop {
        if filled == buf.len() {
            // one line longer than the buffer: grow
            buf.resize(buf.len() * 2, 0);
        }
        let n = match r.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if partial_last && filled > 0 && !f(&buf[..filled]) {
                return Ok(false);
            }
            return Ok(true);
        }
        let end = filled + n;
        let mut start = 0usize;
        let mut search_from = filled;
        while let Some(i) = memchr::memchr(b'\n', &buf[search_from..end]) {
            let nl = search_from + i;
            if !f(&buf[start..nl]) {
                return Ok(false);
            }
            start = nl + 1;
            search_from = start;
        }
        // keep the incomplete tail at the front
        buf.copy_within(start..end, 0);
        filled = end - start;
    }
}

/// Decode a line: borrowed when valid UTF-8, else lossily.
pub fn decode(line: &[u8]) -> std::borrow::Cow<'_, str> {
    // `from_utf8` validates faster than the chunk iterator behind
    // `from_utf8_lossy`, which is only needed for broken lines
    match std::str::from_utf8(line) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(line),
    }
}

/// The real current Unix time.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The current calendar year (UTC; `%ExY` only needs the year).
pub fn current_year() -> i32 {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .year()
        .into()
}

/// Run `f` with a `tracing` subscriber at `level` (`critical`/`fatal` or
/// unknown: nothing), restoring the previous one afterwards.
pub fn with_log_level<T>(level: &str, f: impl FnOnce() -> T) -> T {
    let lvl = match level.to_ascii_lowercase().as_str() {
        "error" => Some(tracing::Level::ERROR),
        "warn" | "warning" | "notice" => Some(tracing::Level::WARN),
        "info" | "msg" => Some(tracing::Level::INFO),
        "debug" => Some(tracing::Level::DEBUG),
        "trace" | "heavydebug" | "traceback" => Some(tracing::Level::TRACE),
        n if n.parse::<u32>().is_ok_and(|v| v < 40) => Some(tracing::Level::DEBUG),
        _ => None,
    };
    match lvl {
        Some(l) => {
            let sub = tracing_subscriber::fmt()
                .with_max_level(l)
                .with_writer(std::io::stdout)
                .with_target(false)
                .without_time()
                .finish();
            tracing::subscriber::with_default(sub, f)
        }
        None => tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), f),
    }
}

/// The program name (as the binary named the tool) and the arguments,
/// for clap.
pub(crate) fn args_with_argv0(argv0: &OsString, rest: Vec<OsString>) -> Vec<OsString> {
    let mut v = vec![argv0.clone()];
    v.extend(rest);
    v
}

pub(crate) fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// A tool's exit: success; a reader that went away (`| head`) is success
/// too; else `ERROR: ...` (on stdout when `on_stdout`, as fail2ban-regex
/// prints it, else on stderr) and exit status `code`.
pub(crate) fn finish(r: anyhow::Result<()>, on_stdout: bool, code: u8) -> ExitCode {
    let Err(e) = r else {
        return ExitCode::SUCCESS;
    };
    if e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitCode::SUCCESS;
    }
    if on_stdout {
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "ERROR: {e:#}");
    } else {
        eprintln!("ERROR: {e:#}");
    }
    exit(code)
}

/// A tool's arguments parsed for an in-process run: `name` as the program
/// name, then `args`.
pub(crate) fn parse_args<A, I, T>(name: &str, args: I) -> anyhow::Result<A>
where
    A: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut v: Vec<OsString> = vec![OsString::from(name)];
    v.extend(args.into_iter().map(Into::into));
    A::try_parse_from(v).map_err(|e| anyhow::anyhow!("{e}"))
}
