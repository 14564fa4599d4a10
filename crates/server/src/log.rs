//! The server log, in fail2ban's format (spec §5.4).
//!
//! Self-contained on purpose: the jail runtime only calls
//! [`Logger::log`] with a level, a logger name (`fail2ban.actions`, ...)
//! and a message; where the line goes (file, stdout, stderr, syslog,
//! journal) and how it looks is decided here.
//!
//! Design decisions:
//! - **One line format, three layouts.** The default (file, STDOUT,
//!   STDERR) is `asctime name-padded-to-24[pid]: LEVEL-padded-to-7 msg`,
//!   which the stock `recidive` filter reads back. `[padding=0]` drops the
//!   padding; SYSLOG drops the time and the padding (syslog adds its own
//!   time stamp) and sends `<PRI>` with facility `daemon`, as fail2ban's
//!   `SysLogHandler` does.
//! - **SYSTEMD-JOURNAL** is written to stderr in the syslog layout: under
//!   systemd, stderr of the service ends up in the journal anyway, and we
//!   avoid linking libsystemd.
//! - **Files are opened in append mode and reopened by `flushlogs`**, so
//!   logrotate's rename + `flushlogs` (or SIGUSR1) works without
//!   `copytruncate`.
//! - **Writes never fail the caller**: a log line that cannot be written is
//!   dropped (there is nowhere better to report it).
//! - **`tracing` events of the other crates** (action execution errors,
//!   source warnings) are forwarded by [`install_tracing_bridge`] to the
//!   most recently created logger, under fail2ban-like logger names.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

/// fail2ban's level numbers (Python `logging` plus its own NOTICE, MSG,
/// TRACEDEBUG and HEAVYDEBUG).
pub mod level {
    /// CRITICAL.
    pub const CRITICAL: i32 = 50;
    /// ERROR.
    pub const ERROR: i32 = 40;
    /// WARNING.
    pub const WARNING: i32 = 30;
    /// NOTICE (fail2ban's, between WARNING and INFO).
    pub const NOTICE: i32 = 25;
    /// INFO.
    pub const INFO: i32 = 20;
    /// MSG (fail2ban's, between INFO and DEBUG).
    pub const MSG: i32 = 18;
    /// DEBUG.
    pub const DEBUG: i32 = 10;
    /// TRACEDEBUG (fail2ban's).
    pub const TRACEDEBUG: i32 = 7;
    /// HEAVYDEBUG (fail2ban's, the most verbose).
    pub const HEAVYDEBUG: i32 = 5;
}

/// Parses a `loglevel` value: a name (any case, fail2ban's aliases) or a
/// number.
pub fn parse_level(value: &str) -> Option<i32> {
    let v = value.trim();
    if let Ok(n) = v.parse::<i32>() {
        return Some(n);
    }
    Some(match v.to_ascii_uppercase().as_str() {
        "CRITICAL" | "FATAL" => level::CRITICAL,
        "ERROR" => level::ERROR,
        "WARNING" | "WARN" => level::WARNING,
        "NOTICE" => level::NOTICE,
        "INFO" => level::INFO,
        "MSG" => level::MSG,
        "DEBUG" => level::DEBUG,
        "TRACEDEBUG" | "TRACE" => level::TRACEDEBUG,
        "HEAVYDEBUG" | "HEAVY" => level::HEAVYDEBUG,
        _ => return None,
    })
}

/// The level name printed in a line (`Level N` for unnamed numbers, as
/// Python does).
pub fn level_name(l: i32) -> String {
    match l {
        level::CRITICAL => "CRITICAL".into(),
        level::ERROR => "ERROR".into(),
        level::WARNING => "WARNING".into(),
        level::NOTICE => "NOTICE".into(),
        level::INFO => "INFO".into(),
        level::MSG => "MSG".into(),
        level::DEBUG => "DEBUG".into(),
        level::TRACEDEBUG => "TRACEDEBUG".into(),
        level::HEAVYDEBUG => "HEAVYDEBUG".into(),
        n => format!("Level {n}"),
    }
}

/// syslog severity for a level (fail2ban's priority map).
fn syslog_severity(l: i32) -> u8 {
    if l >= level::CRITICAL {
        2
    } else if l >= level::ERROR {
        3
    } else if l >= level::WARNING {
        4
    } else if l >= level::NOTICE {
        5
    } else if l >= level::MSG {
        6
    } else {
        7
    }
}

/// `LOG_DAEMON`.
const FACILITY_DAEMON: u8 = 3;

/// Errors of [`Logger::set_target`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file could not be opened for appending.
    #[error("cannot open log file {path}: {source}")]
    File {
        /// The log file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The syslog socket could not be used.
    #[error("cannot use syslog socket {path}: {source}")]
    Syslog {
        /// The socket.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

enum Sink {
    File {
        path: PathBuf,
        file: File,
    },
    Stdout,
    Stderr,
    Syslog {
        sock: UnixDatagram,
    },
    /// SYSTEMD-JOURNAL: journald's native socket (structured fields, see
    /// `journal_entry`); the same line on stderr where there is none.
    Journal {
        sock: Option<UnixDatagram>,
    },
}

struct State {
    sink: Sink,
    /// Lines logged with [`Logger::log_deferred`] not yet written to the
    /// file (see there); written before anything else is.
    pending: String,
    /// The target as set (without `[options]`), for `get logtarget`.
    target: String,
    syslogsocket: String,
    padding: bool,
    /// Also write every line to stderr (the foreground on a terminal).
    echo: bool,
}

/// The server's logger. Cheap to share (`Arc`); every method takes `&self`.
pub struct Logger {
    level: AtomicI32,
    state: Mutex<State>,
    pid: u32,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("level", &self.level())
            .field("target", &self.target())
            .finish()
    }
}

fn resolve_syslog_socket(value: &str) -> PathBuf {
    if value.is_empty() || value.eq_ignore_ascii_case("auto") {
        PathBuf::from("/dev/log")
    } else {
        PathBuf::from(value)
    }
}

fn open_syslog(path: &Path) -> Result<UnixDatagram, LogError> {
    let sock = UnixDatagram::unbound().map_err(|source| LogError::Syslog {
        path: path.to_owned(),
        source,
    })?;
    sock.connect(path).map_err(|source| LogError::Syslog {
        path: path.to_owned(),
        source,
    })?;
    Ok(sock)
}

/// journald's socket for native entries: `GAOLER_JOURNAL_SOCKET` (for
/// tests and containers), else systemd's. `None` when nothing listens
/// there (no journald): the lines then go to stderr, as fail2ban's do.
fn open_journal() -> Option<UnixDatagram> {
    let path = std::env::var_os("GAOLER_JOURNAL_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/systemd/journal/socket"));
    let sock = UnixDatagram::unbound().ok()?;
    sock.connect(&path).ok()?;
    Some(sock)
}

/// One entry in journald's native protocol: `MESSAGE` (the log line as
/// fail2ban's journal target formats it), `PRIORITY`, `SYSLOG_IDENTIFIER`,
/// the logger as `F2B_LOGGER`, and for a jail's messages `F2B_JAIL` and,
/// where the message is about one (`Found`, `Ban`, `Unban`, ...),
/// `F2B_ADDRESS`, so that `journalctl F2B_JAIL=sshd` or `F2B_ADDRESS=...`
/// find them. Values with a newline take the protocol's length-prefixed
/// form.
fn journal_entry(l: i32, name: &str, msg: &str, line: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 128);
    let mut field = |key: &str, value: &str| {
        if value.contains('\n') {
            out.extend_from_slice(key.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        } else {
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
    };
    field("MESSAGE", line);
    field("PRIORITY", &syslog_severity(l).to_string());
    field("SYSLOG_IDENTIFIER", "gaoler");
    field("F2B_LOGGER", name);
    if let Some((jail, rest)) = msg.strip_prefix('[').and_then(|m| m.split_once("] ")) {
        if !jail.is_empty() && !jail.contains(char::is_whitespace) {
            field("F2B_JAIL", jail);
            let words: Vec<&str> = rest.split_whitespace().collect();
            let addr = match words.as_slice() {
                ["Found" | "Ban" | "Unban" | "Ignore", a, ..] => Some(*a),
                ["Restore" | "Repeal" | "Increase", "Ban", a, ..] => Some(*a),
                [a, "already", "banned", ..] => Some(*a),
                _ => None,
            };
            if let Some(a) = addr.filter(|a| a.parse::<std::net::IpAddr>().is_ok()) {
                field("F2B_ADDRESS", a);
            }
        }
    }
    out
}

fn open_append(path: &Path) -> Result<File, LogError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            let _ = std::fs::create_dir_all(dir);
        }
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::File {
            path: path.to_owned(),
            source,
        })
}

impl Logger {
    /// A logger writing to STDERR at INFO, which is where fail2ban logs
    /// until the configuration sets a target.
    pub fn new() -> Logger {
        Logger {
            level: AtomicI32::new(level::INFO),
            state: Mutex::new(State {
                sink: Sink::Stderr,
                target: "STDERR".into(),
                syslogsocket: "auto".into(),
                pending: String::new(),
                padding: true,
                echo: false,
            }),
            pid: std::process::id(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The level below which messages are dropped.
    pub fn level(&self) -> i32 {
        self.level.load(Ordering::Relaxed)
    }
    /// Sets that level.
    pub fn set_level(&self, l: i32) {
        self.level.store(l, Ordering::Relaxed);
    }
    /// Whether a message at `l` would be written.
    pub fn enabled(&self, l: i32) -> bool {
        l >= self.level()
    }

    /// The target as set (`/var/log/fail2ban.log`, `STDOUT`, `SYSLOG`...).
    pub fn target(&self) -> String {
        self.lock().target.clone()
    }
    /// The syslog socket as set (`auto` or a path).
    pub fn syslog_socket(&self) -> String {
        self.lock().syslogsocket.clone()
    }

    /// Sets `syslogsocket`; reconnects when the target is SYSLOG.
    pub fn set_syslog_socket(&self, value: &str) -> Result<(), LogError> {
        let target = {
            let mut st = self.lock();
            st.syslogsocket = value.trim().to_owned();
            st.target.clone()
        };
        if target == "SYSLOG" {
            self.set_target(&target)?;
        }
        Ok(())
    }

    /// Sets `logtarget`: a file path, `STDOUT`, `STDERR`, `SYSLOG` or
    /// `SYSTEMD-JOURNAL`, optionally followed by `[padding=0]`.
    pub fn set_target(&self, value: &str) -> Result<(), LogError> {
        let (target, opts) = crate::split_options(value);
        let upper = target.to_ascii_uppercase();
        let mut padding = upper != "SYSLOG" && upper != "SYSTEMD-JOURNAL";
        for (k, v) in &opts {
            if k == "padding" {
                padding = !matches!(v.as_str(), "0" | "false" | "no" | "off");
            }
        }
        let socket = self.lock().syslogsocket.clone();
        let (sink, target) = match upper.as_str() {
            "STDOUT" => (Sink::Stdout, upper),
            "STDERR" => (Sink::Stderr, upper),
            "SYSLOG" => {
                let path = resolve_syslog_socket(&socket);
                (
                    Sink::Syslog {
                        sock: open_syslog(&path)?,
                    },
                    upper,
                )
            }
            "SYSTEMD-JOURNAL" => (
                Sink::Journal {
                    sock: open_journal(),
                },
                upper,
            ),
            _ => {
                let path = PathBuf::from(&target);
                (
                    Sink::File {
                        file: open_append(&path)?,
                        path,
                    },
                    target,
                )
            }
        };
        let mut st = self.lock();
        st.write_pending();
        st.sink = sink;
        st.target = target;
        st.padding = padding;
        Ok(())
    }

    /// `flushlogs`: reopens a log file (after logrotate moved it) and
    /// returns `rolled over`; for the other targets flushes and returns
    /// `flushed`.
    pub fn flush_logs(&self) -> &'static str {
        let mut st = self.lock();
        st.write_pending();
        let target = st.target.clone();
        let ret = match &mut st.sink {
            Sink::File { path, file } => {
                let _ = file.flush();
                match open_append(path) {
                    Ok(f) => *file = f,
                    Err(e) => eprintln!("{e}"),
                }
                "rolled over"
            }
            Sink::Stdout => {
                let _ = std::io::stdout().flush();
                "flushed"
            }
            _ => {
                let _ = std::io::stderr().flush();
                "flushed"
            }
        };
        drop(st);
        let what = if ret == "rolled over" {
            "rollover"
        } else {
            "flush"
        };
        self.log(
            level::INFO,
            "fail2ban.server",
            &format!("{what} performed on {target}"),
        );
        ret
    }

    /// Formats one line without the trailing newline (exposed for tests).
    pub fn format_line(&self, l: i32, name: &str, msg: &str, time: SystemTime) -> String {
        let padding = self.lock().padding;
        format_record(l, name, self.pid, msg, Some(time), padding)
    }

    /// Like [`Logger::log`], but a line for a log file may wait in memory
    /// until [`Logger::flush_deferred`], the next immediate line, or 64 KiB
    /// of them, whichever comes first: for the filter thread's `Found`
    /// lines, one per failure, which cost a write system call each
    /// (fail2ban's default level INFO logs them; under an address spray
    /// that was half the ingest time). The order of lines is kept: pending
    /// lines are written before any other. Other targets write at once.
    pub fn log_deferred(&self, l: i32, name: &str, msg: &str) {
        if !self.enabled(l) {
            return;
        }
        let mut st = self.lock();
        if !matches!(st.sink, Sink::File { .. }) {
            drop(st);
            return self.log(l, name, msg);
        }
        let padding = st.padding;
        write_record(
            &mut st.pending,
            l,
            name,
            self.pid,
            msg,
            Some(SystemTime::now()),
            padding,
        );
        st.pending.push('\n');
        if st.pending.len() >= DEFERRED_MAX {
            st.write_pending();
        }
    }

    /// Writes the lines [`Logger::log_deferred`] kept back.
    pub fn flush_deferred(&self) {
        let mut st = self.lock();
        if !st.pending.is_empty() {
            st.write_pending();
        }
    }

    /// Also writes every line to stderr, whatever the target (for the
    /// foreground on a terminal: the admin sees what the log gets).
    pub fn set_echo_stderr(&self, on: bool) {
        self.lock().echo = on;
    }

    /// Writes one message if `l` is enabled.
    pub fn log(&self, l: i32, name: &str, msg: &str) {
        if !self.enabled(l) {
            return;
        }
        let now = SystemTime::now();
        let mut st = self.lock();
        if !st.pending.is_empty() {
            st.write_pending();
        }
        let padding = st.padding;
        if st.echo
            && matches!(
                st.sink,
                Sink::File { .. } | Sink::Syslog { .. } | Sink::Journal { .. }
            )
        {
            let line = format_record(l, name, self.pid, msg, Some(now), padding);
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
        match &mut st.sink {
            Sink::File { file, .. } => {
                let mut line = format_record(l, name, self.pid, msg, Some(now), padding);
                line.push('\n');
                let _ = file.write_all(line.as_bytes());
            }
            Sink::Stdout => {
                let line = format_record(l, name, self.pid, msg, Some(now), padding);
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Sink::Stderr => {
                let line = format_record(l, name, self.pid, msg, Some(now), padding);
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Sink::Journal { sock } => {
                let line = format_record(l, name, self.pid, msg, None, padding);
                let sent = sock
                    .as_ref()
                    .is_some_and(|s| s.send(&journal_entry(l, name, msg, &line)).is_ok());
                if !sent {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
            Sink::Syslog { sock, .. } => {
                let pri = (FACILITY_DAEMON << 3) | syslog_severity(l);
                let line = format!(
                    "<{pri}>{}\0",
                    format_record(l, name, self.pid, msg, None, false)
                );
                let _ = sock.send(line.as_bytes());
            }
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.flush_deferred();
    }
}

/// Deferred lines are written once they reach this many bytes.
const DEFERRED_MAX: usize = 64 * 1024;

impl State {
    /// Writes the deferred lines (to the file they were logged for).
    fn write_pending(&mut self) {
        if let Sink::File { file, .. } = &mut self.sink {
            let _ = file.write_all(self.pending.as_bytes());
            if self.echo {
                let _ = std::io::stderr().lock().write_all(self.pending.as_bytes());
            }
        }
        self.pending.clear();
        if self.pending.capacity() > DEFERRED_MAX * 2 {
            self.pending = String::new();
        }
    }
}

impl Default for Logger {
    fn default() -> Self {
        Logger::new()
    }
}

/// `%(asctime)s %(name)-24s[%(process)d]: %(levelname)-7s %(message)s`,
/// or without time / padding.
fn format_record(
    l: i32,
    name: &str,
    pid: u32,
    msg: &str,
    time: Option<SystemTime>,
    padding: bool,
) -> String {
    let mut out = String::with_capacity(64 + msg.len());
    write_record(&mut out, l, name, pid, msg, time, padding);
    out
}

/// [`format_record`] appended to `out`, without intermediate strings.
fn write_record(
    out: &mut String,
    l: i32,
    name: &str,
    pid: u32,
    msg: &str,
    time: Option<SystemTime>,
    padding: bool,
) {
    // (pushed piece by piece: under an address spray at INFO this runs
    // once per failure, and `write!` with padding cost more than the rest
    // of the Found line's path)
    let lname = level_name(l);
    if let Some(t) = time {
        push_asctime(out, t);
        out.push(' ');
    }
    let pad = |out: &mut String, s: &str, width: usize| {
        out.push_str(s);
        let n = if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
        if padding && n < width {
            out.extend(std::iter::repeat_n(' ', width - n));
        }
    };
    pad(out, name, 24);
    out.push('[');
    push_u32(out, pid);
    out.push_str("]: ");
    pad(out, &lname, 7);
    out.push(' ');
    out.push_str(msg);
}

fn push_u32(out: &mut String, n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Local time `YYYY-mm-dd HH:MM:SS` of epoch seconds (fail2ban's
/// `MyTime.time2str`).
pub fn time2str(t: f64) -> String {
    let mut s = String::with_capacity(19);
    push_time2str(&mut s, t);
    s
}

/// [`time2str`] appended to `out`.
pub fn push_time2str(out: &mut String, t: f64) {
    // The last two seconds formatted, per thread: log lines come in
    // bursts within one second, and a Found line formats its failure's
    // time and its own (two seconds that alternate); localtime_r is not
    // cheap.
    type Cache = [(i64, String); 2];
    thread_local! {
        static LAST: std::cell::RefCell<Cache> =
            const { std::cell::RefCell::new([(i64::MIN, String::new()), (i64::MIN, String::new())]) };
    }
    let secs = t.floor() as i64;
    let hit = LAST.with(|l| {
        let l = l.borrow();
        match l.iter().find(|(k, _)| *k == secs) {
            Some((_, v)) => {
                out.push_str(v);
                true
            }
            None => false,
        }
    });
    if hit {
        return;
    }
    let s = time2str_uncached(t);
    out.push_str(&s);
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.swap(0, 1);
        l[0] = (secs, s);
    });
}

fn time2str_uncached(t: f64) -> String {
    let (tm, _) = local_tm(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Python logging's asctime: `YYYY-mm-dd HH:MM:SS,mmm` in local time.
pub fn asctime(t: SystemTime) -> String {
    let mut s = String::with_capacity(23);
    push_asctime(&mut s, t);
    s
}

/// [`asctime`] appended to `out`.
fn push_asctime(out: &mut String, t: SystemTime) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let ms = (((secs - secs.floor()) * 1000.0) as u32).min(999);
    push_time2str(out, secs.floor());
    out.push(',');
    for d in [ms / 100, ms / 10 % 10, ms % 10] {
        out.push(char::from(b'0' + d as u8));
    }
}

fn local_tm(t: f64) -> (libc::tm, u32) {
    let secs = t.floor();
    let ms = (((t - secs) * 1000.0) as u32).min(999);
    let tt = secs as libc::time_t;
    // SAFETY: `tm` is plain data, fully written by localtime_r on success;
    // on failure it stays zeroed, which formats as a harmless bogus date.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe {
        libc::localtime_r(&tt, &mut tm);
    }
    (tm, ms)
}

// ---------------------------------------------------------------------
// tracing bridge

static CURRENT: OnceLock<RwLock<Weak<Logger>>> = OnceLock::new();

fn current() -> &'static RwLock<Weak<Logger>> {
    CURRENT.get_or_init(|| RwLock::new(Weak::new()))
}

/// Makes `logger` the receiver of the `tracing` events of the other gaoler
/// crates, and installs the (process-wide) bridge the first time.
pub fn install_tracing_bridge(logger: &Arc<Logger>) {
    if let Ok(mut w) = current().write() {
        *w = Arc::downgrade(logger);
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Fails if the embedding program installed its own subscriber:
        // then that one gets the events, which is what it asked for.
        let _ = tracing::subscriber::set_global_default(Bridge);
    });
}

struct Bridge;

/// Logger name for a tracing target (module path).
fn bridge_name(target: &str) -> &'static str {
    if target.starts_with("gaoler_action") {
        "fail2ban.utils"
    } else if target.starts_with("gaoler_filter")
        || target.starts_with("gaoler_source")
        || target.starts_with("gaoler_datedetector")
    {
        "fail2ban.filter"
    } else if target.starts_with("gaoler_store") {
        "fail2ban.database"
    } else if target.starts_with("gaoler_fleet") {
        "fail2ban.fleet"
    } else {
        "fail2ban.server"
    }
}

fn bridge_level(l: &tracing::Level) -> i32 {
    match *l {
        tracing::Level::ERROR => level::ERROR,
        tracing::Level::WARN => level::WARNING,
        tracing::Level::INFO => level::INFO,
        tracing::Level::DEBUG => level::DEBUG,
        tracing::Level::TRACE => level::HEAVYDEBUG,
    }
}

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl tracing::Subscriber for Bridge {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        let l = bridge_level(meta.level());
        current()
            .read()
            .ok()
            .and_then(|w| w.upgrade())
            .is_some_and(|lg| lg.enabled(l))
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let Some(lg) = current().read().ok().and_then(|w| w.upgrade()) else {
            return;
        };
        let meta = event.metadata();
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        lg.log(bridge_level(meta.level()), bridge_name(meta.target()), &v.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_print() {
        assert_eq!(parse_level("notice"), Some(25));
        assert_eq!(parse_level("HEAVYDEBUG"), Some(5));
        assert_eq!(parse_level("17"), Some(17));
        assert_eq!(parse_level("bogus"), None);
        assert_eq!(level_name(25), "NOTICE");
        assert_eq!(level_name(17), "Level 17");
    }

    #[test]
    fn default_format_is_fail2bans() {
        let l = format_record(
            level::NOTICE,
            "fail2ban.actions",
            9843,
            "[sshd] Ban 192.0.2.7",
            None,
            true,
        );
        assert_eq!(
            l,
            "fail2ban.actions        [9843]: NOTICE  [sshd] Ban 192.0.2.7"
        );
        let l = format_record(level::NOTICE, "fail2ban.actions", 1, "x", None, false);
        assert_eq!(l, "fail2ban.actions[1]: NOTICE x");
        let full = format_record(
            level::INFO,
            "fail2ban.filter",
            1,
            "m",
            Some(SystemTime::now()),
            true,
        );
        // 2026-11-25 15:31:52,712 + space
        let b = full.as_bytes();
        assert_eq!(b[4], b'-');
        assert_eq!(b[19], b',');
        assert_eq!(b[23], b' ');
    }

    #[test]
    fn file_target_appends_and_rolls_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f2b.log");
        let lg = Logger::new();
        lg.set_target(p.to_str().unwrap()).unwrap();
        lg.log(level::NOTICE, "fail2ban.actions", "[j] Ban 1.2.3.4");
        lg.log(level::DEBUG, "fail2ban.actions", "hidden");
        std::fs::rename(&p, dir.path().join("f2b.log.1")).unwrap();
        assert_eq!(lg.flush_logs(), "rolled over");
        lg.log(level::WARNING, "fail2ban.server", "after");
        let old = std::fs::read_to_string(dir.path().join("f2b.log.1")).unwrap();
        assert!(old.contains("NOTICE  [j] Ban 1.2.3.4"), "{old}");
        assert!(!old.contains("hidden"));
        let new = std::fs::read_to_string(&p).unwrap();
        assert!(new.contains("WARNING after"), "{new}");
        assert_eq!(lg.target(), p.to_str().unwrap());
    }

    #[test]
    fn deferred_lines_keep_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f2b.log");
        let read = || std::fs::read_to_string(&p).unwrap_or_default();
        let lg = Logger::new();
        lg.set_target(p.to_str().unwrap()).unwrap();
        lg.log_deferred(level::INFO, "fail2ban.filter", "[j] Found 192.0.2.1");
        lg.log_deferred(level::DEBUG, "fail2ban.filter", "hidden");
        assert_eq!(read(), "", "kept back");
        lg.flush_deferred();
        assert!(
            read().ends_with("INFO    [j] Found 192.0.2.1\n"),
            "{}",
            read()
        );
        // An immediate line writes what waits first.
        lg.log_deferred(level::INFO, "fail2ban.filter", "[j] Found 192.0.2.2");
        lg.log(level::NOTICE, "fail2ban.actions", "[j] Ban 192.0.2.2");
        let text = read();
        let found = text.find("Found 192.0.2.2").expect("written");
        assert!(
            found < text.find("Ban 192.0.2.2").expect("written"),
            "{text}"
        );
        // A full buffer is written without waiting.
        for i in 0..2000 {
            lg.log_deferred(
                level::INFO,
                "fail2ban.filter",
                &format!("[j] Found 198.51.100.{i}"),
            );
        }
        assert!(read().lines().count() > 500);
        // Rolling over and dropping the logger lose nothing.
        lg.log_deferred(level::INFO, "fail2ban.filter", "[j] Found 203.0.113.1");
        std::fs::rename(&p, dir.path().join("f2b.log.1")).unwrap();
        lg.flush_logs();
        let old = std::fs::read_to_string(dir.path().join("f2b.log.1")).unwrap();
        assert!(old.contains("Found 203.0.113.1"), "{old}");
        assert_eq!(old.lines().count(), 2 + 1 + 2000 + 1);
        lg.log_deferred(level::INFO, "fail2ban.filter", "[j] Found 203.0.113.2");
        drop(lg);
        assert!(read().contains("Found 203.0.113.2"), "{}", read());
        assert!(!read().contains("hidden"));
    }

    #[test]
    fn time2str_of_the_same_second_is_cached_right() {
        let a = time2str(1_000_000_000.25);
        let b = time2str(2_000_000_000.0);
        assert_eq!(time2str(1_000_000_000.5), a, "two seconds alternate");
        assert_eq!(time2str(2_000_000_000.5), b);
        assert_eq!(b, time2str_uncached(2_000_000_000.0));
        assert_eq!(time2str(1_000_000_000.75), a);
        assert_eq!(
            time2str(1_000_000_000.0),
            time2str_uncached(1_000_000_000.0)
        );
        assert_ne!(time2str(1_000_000_001.0), a);
        assert_eq!(
            time2str(1_000_000_001.0),
            time2str_uncached(1_000_000_001.5)
        );
    }

    #[test]
    fn syslog_target_sends_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let sp = dir.path().join("log.sock");
        let rx = UnixDatagram::bind(&sp).unwrap();
        let lg = Logger::new();
        lg.set_syslog_socket(sp.to_str().unwrap()).unwrap();
        lg.set_target("SYSLOG").unwrap();
        lg.log(level::NOTICE, "fail2ban.actions", "[j] Ban 1.2.3.4");
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let s = String::from_utf8_lossy(&buf[..n]);
        let pid = std::process::id();
        assert_eq!(
            s,
            format!("<29>fail2ban.actions[{pid}]: NOTICE [j] Ban 1.2.3.4\0")
        );
    }

    #[test]
    fn padding_option() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let lg = Logger::new();
        lg.set_target(&format!("{}[padding=0]", p.display()))
            .unwrap();
        assert_eq!(lg.target(), p.to_str().unwrap());
        lg.log(level::ERROR, "fail2ban.server", "boom");
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.contains(&format!(
            " fail2ban.server[{}]: ERROR boom",
            std::process::id()
        )));
    }
}
