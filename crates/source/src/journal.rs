//! The systemd journal (`backend = systemd`): [`JournalSource`].
//!
//! # Why `journalctl` and not libsystemd
//!
//! Linking libsystemd would add a C dependency and a build-time requirement
//! on every machine, including the ones that never use the journal.
//! `journalctl -o json -f` gives the same entries, follows rotation and
//! vacuuming by itself, and its cursor is the journal's own position. The
//! cost is a child process per journal jail, which is what fail2ban's
//! python-systemd reader costs in file descriptors anyway.
//!
//! # Entry → line
//!
//! Each JSON entry becomes `HOSTNAME IDENT[PID]: MESSAGE` ([`format_entry`]),
//! as fail2ban formats it: the identifier is `SYSLOG_IDENTIFIER` or else
//! `_COMM`, the pid `SYSLOG_PID` or else `_PID`; absent parts are left out;
//! kernel messages get the monotonic time as `[%12.6f]`; newlines in the
//! message become the two characters `\n`. The time is
//! `_SOURCE_REALTIME_TIMESTAMP` when present (what the sender stamped), else
//! `__REALTIME_TIMESTAMP` (when journald received it), which is fail2ban's
//! preference too. The filter gets `("", iso_time + " ", text)` and skips date
//! parsing.
//!
//! # Position
//!
//! [`JournalPosition`] carries the cursor of the last delivered entry (used
//! to continue after a `journalctl` restart) and its time. fail2ban's
//! database keeps only the time: `logs` row with `path = 'systemd-journal'`,
//! `firstlinemd5` = the ISO time, `lastfilepos` = the epoch seconds. On start,
//! [`JournalStart::resume`] turns that into `max(saved, now - findtime)`.
//!
//! [`JournalDump`] reads the journal once, from its oldest entry, for
//! `gaoler regex systemd-journal`.

use crate::decode::LineDecoder;
use crate::error::{Result, SourceError};
use crate::lines::{LineSplitter, RawLine};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One journal entry, formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalLine {
    /// `HOSTNAME IDENT[PID]: MESSAGE`, newlines escaped.
    pub text: String,
    /// Entry time in seconds since the epoch (microsecond precision).
    pub time: f64,
    /// The same time as local ISO-8601 (`YYYY-MM-DDTHH:MM:SS[.ffffff]`,
    /// microseconds only when non-zero, like Python's `isoformat()`).
    pub iso_time: String,
    /// The entry's `__CURSOR`.
    pub cursor: String,
    /// True while the journal backlog is still being read (see
    /// [`JournalSource::in_operation`]).
    pub catching_up: bool,
}

/// Where the journal reading stands.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalPosition {
    /// `__CURSOR` of the last delivered entry.
    pub cursor: String,
    /// Its time, seconds since the epoch (`logs.lastfilepos`, as an integer).
    pub time: f64,
    /// Its time as local ISO-8601 (`logs.firstlinemd5`).
    pub iso_time: String,
}

/// Where to start reading the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalStart {
    /// Entries after this cursor.
    AfterCursor(String),
    /// Entries at or after this time.
    Since(SystemTime),
}

impl JournalStart {
    /// fail2ban's rule: start at `max(saved time, now - findtime)`.
    pub fn resume(saved_time: Option<f64>, findtime: Duration) -> JournalStart {
        let floor = SystemTime::now()
            .checked_sub(findtime)
            .unwrap_or(UNIX_EPOCH);
        let start = match saved_time.filter(|t| t.is_finite() && *t > 0.0) {
            Some(t) => {
                let saved = UNIX_EPOCH + Duration::from_secs_f64(t);
                saved.max(floor)
            }
            None => floor,
        };
        JournalStart::Since(start)
    }
}

/// Settings of a [`JournalSource`].
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// The `journalctl` binary (a test can point this at a fake).
    pub journalctl: PathBuf,
    /// Journal matches, one entry per `journalmatch` line, each split like a
    /// shell would (`FIELD=value` terms, `+` for OR). Lines are ORed.
    pub matches: Vec<Vec<String>>,
    /// Where `journalctl` starts (after a restart: after the last cursor).
    pub start: JournalStart,
    /// Entries older than this are dropped (fail2ban's `now - findtime`).
    pub not_before: Option<SystemTime>,
    /// More `journalctl` arguments, e.g. from [`journal_args_from_options`].
    pub extra_args: Vec<String>,
    /// `logencoding`, for fields that journald stored as binary.
    pub encoding: String,
    /// Longest JSON entry accepted, in bytes (longer ones are skipped).
    pub max_entry_len: usize,
    /// Lines returned by one poll, at most.
    pub max_batch: usize,
    /// Wait before restarting a `journalctl` that exited.
    pub restart_delay: Duration,
}

impl JournalOptions {
    /// Defaults: `journalctl` from PATH, no matches, 1 MiB entries, 5 s
    /// restart delay.
    pub fn new(start: JournalStart) -> Self {
        JournalOptions {
            journalctl: PathBuf::from("journalctl"),
            matches: Vec::new(),
            start,
            not_before: None,
            extra_args: Vec::new(),
            encoding: "auto".to_string(),
            max_entry_len: 1024 * 1024,
            max_batch: 10_000,
            restart_delay: Duration::from_secs(5),
        }
    }
}

/// Maps the systemd backend options (`systemd[journalpath=..., ...]`) to
/// `journalctl` arguments.
///
/// - `journalpath=DIR` → `--directory=DIR`
/// - `journalfiles=F1 F2` (space or comma separated) → `--file=F` each
/// - `namespace=NS` → `--namespace=NS`
/// - `journalflags=N` (sd_journal_open flags): 4 (SYSTEM) → `--system`,
///   8 (CURRENT_USER) → `--user`; 1 (LOCAL_ONLY) and 2 (RUNTIME_ONLY) are
///   journalctl's default view and add nothing.
/// - `rotated` is accepted and ignored (journalctl always reads archived
///   files).
pub fn journal_args_from_options(opts: &[(String, String)]) -> Result<Vec<String>> {
    let mut args = Vec::new();
    for (k, v) in opts {
        match k.as_str() {
            "journalpath" => args.push(format!("--directory={v}")),
            "journalfiles" => args.extend(
                v.split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|f| !f.is_empty())
                    .map(|f| format!("--file={f}")),
            ),
            "namespace" => args.push(format!("--namespace={v}")),
            "journalflags" => {
                let flags: u32 = v.trim().parse().map_err(|_| {
                    SourceError::JournalEntry(format!("journalflags must be a number: {v:?}"))
                })?;
                if flags & 4 != 0 {
                    args.push("--system".to_string());
                }
                if flags & 8 != 0 {
                    args.push("--user".to_string());
                }
            }
            "rotated" => {}
            other => tracing::warn!(option = other, "unknown systemd backend option ignored"),
        }
    }
    Ok(args)
}

/// The `journalctl` argument list for `opts`, starting at `start`.
fn build_args(opts: &JournalOptions, start: &JournalStart) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-o",
        "json",
        "--all",
        "--follow",
        "--no-tail",
        "--no-pager",
        "--quiet",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    match start {
        JournalStart::AfterCursor(c) => args.push(format!("--after-cursor={c}").into()),
        JournalStart::Since(t) => {
            // Whole seconds, rounded down: journalctl's `@` syntax is the
            // safest across versions, and entries before the exact start
            // are dropped on our side.
            let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            args.push(format!("--since=@{secs}").into());
        }
    }
    args.extend(opts.extra_args.iter().map(OsString::from));
    push_matches(&mut args, &opts.matches);
    args
}

/// Journal matches as `journalctl` arguments: the lines ORed with `+`.
fn push_matches(args: &mut Vec<OsString>, matches: &[Vec<String>]) {
    for (i, m) in matches.iter().enumerate() {
        if i > 0 {
            args.push("+".into());
        }
        args.extend(m.iter().map(OsString::from));
    }
}

/// `journalctl` with `args`, its output and diagnostics piped to us.
fn spawn_journalctl(journalctl: &Path, args: &[OsString]) -> Result<Child> {
    Command::new(journalctl)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SourceError::Spawn {
            command: journalctl.display().to_string(),
            source,
        })
}

fn epoch_secs(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// A field value as text. journalctl's JSON gives a string, an array of
/// byte values for binary data, an array of values for a repeated field, or
/// null for a value it did not print.
fn field_text(v: &Value, dec: &LineDecoder) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            let bytes: Vec<u8> = items
                .iter()
                .map(|x| {
                    x.as_u64()
                        .and_then(|b| u8::try_from(b).ok())
                        .unwrap_or(b'?')
                })
                .collect();
            Some(dec.decode(&bytes).0)
        }
        _ => None,
    }
}

/// The first (or only) value of a field, as text.
fn first_value(entry: &Map<String, Value>, key: &str, dec: &LineDecoder) -> Option<String> {
    match entry.get(key)? {
        Value::Array(items) if !items.iter().all(Value::is_number) => {
            items.iter().find_map(|v| field_text(v, dec))
        }
        v => field_text(v, dec),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn usec_field(entry: &Map<String, Value>, key: &str) -> Option<i64> {
    match entry.get(key)? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A pid as fail2ban prints it: as an integer if it is one (Python's
/// `int(v, 0)` also takes `0x` forms), else verbatim.
fn pid_text(v: &str) -> String {
    let t = v.trim();
    let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        t.parse::<i64>().ok()
    };
    match parsed {
        Some(n) => n.to_string(),
        None => v.to_string(),
    }
}

/// Local time as Python's `datetime.isoformat()` prints it.
pub(crate) fn local_iso(usec: i64) -> String {
    let secs = usec.div_euclid(1_000_000);
    let micros = usec.rem_euclid(1_000_000);
    let t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value, and localtime_r only
    // writes into the struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return format!("@{secs}");
    }
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    s
}

/// Formats one journal entry (an object of journalctl's JSON output).
pub fn format_entry(entry: &Map<String, Value>, dec: &LineDecoder) -> Result<JournalLine> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(h) = non_empty(first_value(entry, "_HOSTNAME", dec)) {
        parts.push(h);
    }
    let ident = non_empty(first_value(entry, "SYSLOG_IDENTIFIER", dec))
        .or_else(|| non_empty(first_value(entry, "_COMM", dec)));
    if let Some(mut ident) = ident {
        let pid = non_empty(first_value(entry, "SYSLOG_PID", dec))
            .or_else(|| non_empty(first_value(entry, "_PID", dec)));
        if let Some(pid) = pid {
            ident.push('[');
            ident.push_str(&pid_text(&pid));
            ident.push(']');
        }
        ident.push(':');
        let kernel = ident == "kernel:";
        parts.push(ident);
        if kernel {
            let mono = usec_field(entry, "_SOURCE_MONOTONIC_TIMESTAMP")
                .or_else(|| usec_field(entry, "__MONOTONIC_TIMESTAMP"));
            if let Some(us) = mono {
                parts.push(format!("[{:12.6}]", us as f64 / 1e6));
            }
        }
    }
    let message = match entry.get("MESSAGE") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(items)) if !items.iter().all(Value::is_number) => items
            .iter()
            .filter_map(|v| field_text(v, dec))
            .collect::<Vec<_>>()
            .join(" "),
        Some(v) => field_text(v, dec).unwrap_or_default(),
    };
    parts.push(message);
    let text = parts.join(" ").replace('\n', "\\n");

    let usec = usec_field(entry, "_SOURCE_REALTIME_TIMESTAMP")
        .or_else(|| usec_field(entry, "__REALTIME_TIMESTAMP"))
        .ok_or_else(|| SourceError::JournalEntry("no __REALTIME_TIMESTAMP".to_string()))?;
    let cursor = match entry.get("__CURSOR") {
        Some(Value::String(c)) => c.clone(),
        _ => return Err(SourceError::JournalEntry("no __CURSOR".to_string())),
    };
    Ok(JournalLine {
        text,
        time: usec as f64 / 1e6,
        iso_time: local_iso(usec),
        cursor,
        catching_up: false,
    })
}

/// Parses and formats one line of `journalctl -o json` output.
pub fn parse_entry_line(line: &[u8], dec: &LineDecoder) -> Result<JournalLine> {
    let v: Value = serde_json::from_slice(line)
        .map_err(|e| SourceError::JournalEntry(format!("invalid JSON: {e}")))?;
    match v {
        Value::Object(map) => format_entry(&map, dec),
        _ => Err(SourceError::JournalEntry("not a JSON object".to_string())),
    }
}

enum Msg {
    Entry(JournalLine),
    Bad(String),
    Eof,
}

/// Follows the journal through a `journalctl` child process.
pub struct JournalSource {
    opts: JournalOptions,
    decoder: LineDecoder,
    child: Option<Child>,
    rx: Option<Receiver<Msg>>,
    last: Option<JournalPosition>,
    restart_at: Option<Instant>,
    /// Entries before this (epoch seconds) are dropped.
    floor: Option<f64>,
    in_operation: bool,
}

impl std::fmt::Debug for JournalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalSource")
            .field("matches", &self.opts.matches)
            .field("position", &self.last)
            .finish_non_exhaustive()
    }
}

impl JournalSource {
    /// Starts `journalctl`.
    pub fn spawn(opts: JournalOptions) -> Result<JournalSource> {
        let decoder = LineDecoder::new(&opts.encoding)?;
        let mut floor = opts.not_before.map(epoch_secs);
        if let JournalStart::Since(t) = &opts.start {
            let t = epoch_secs(*t);
            floor = Some(floor.map_or(t, |f| f.max(t)));
        }
        let mut src = JournalSource {
            opts,
            decoder,
            child: None,
            rx: None,
            last: None,
            restart_at: None,
            floor,
            in_operation: false,
        };
        let start = src.opts.start.clone();
        src.start_child(&start)?;
        Ok(src)
    }

    /// The position after the last delivered entry.
    pub fn position(&self) -> Option<&JournalPosition> {
        self.last.as_ref()
    }

    /// The journal matches in force.
    pub fn matches(&self) -> &[Vec<String>] {
        &self.opts.matches
    }

    /// Whether the backlog has been read: an entry at most a second old was
    /// seen, or a poll found nothing more to read.
    pub fn in_operation(&self) -> bool {
        self.in_operation
    }

    fn start_child(&mut self, start: &JournalStart) -> Result<()> {
        let args = build_args(&self.opts, start);
        tracing::debug!(command = %self.opts.journalctl.display(), ?args, "starting journalctl");
        let mut child = spawn_journalctl(&self.opts.journalctl, &args)?;
        let (tx, rx) = mpsc::sync_channel(1024);
        if let Some(stdout) = child.stdout.take() {
            let decoder = self.decoder;
            let max = self.opts.max_entry_len;
            std::thread::Builder::new()
                .name("journalctl-reader".to_string())
                .spawn(move || read_entries(stdout, tx, decoder, max))
                .map_err(|source| SourceError::Spawn {
                    command: "journal reader thread".to_string(),
                    source,
                })?;
        }
        if let Some(stderr) = child.stderr.take() {
            // Diagnostics only; losing the thread is not worth failing for.
            let _ = std::thread::Builder::new()
                .name("journalctl-stderr".to_string())
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        match line {
                            Ok(l) if !l.trim().is_empty() => tracing::warn!("journalctl: {l}"),
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
        }
        self.child = Some(child);
        self.rx = Some(rx);
        self.restart_at = None;
        Ok(())
    }

    /// Waits up to `timeout` for entries and returns those available (at
    /// most `max_batch`). A `journalctl` that exits is restarted after
    /// `restart_delay`, continuing after the last delivered cursor.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<JournalLine>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            if self.rx.is_none() {
                let now = Instant::now();
                let at = *self.restart_at.get_or_insert(now + self.opts.restart_delay);
                if now >= at {
                    let start = match &self.last {
                        Some(p) => JournalStart::AfterCursor(p.cursor.clone()),
                        None => self.opts.start.clone(),
                    };
                    if let Err(e) = self.start_child(&start) {
                        tracing::error!(error = %e, "cannot restart journalctl");
                        self.restart_at = Some(now + self.opts.restart_delay);
                    }
                    continue;
                }
                if !out.is_empty() || now >= deadline {
                    return Ok(out);
                }
                std::thread::sleep(at.min(deadline) - now);
                continue;
            }
            let msg = {
                let Some(rx) = self.rx.as_ref() else { continue };
                if out.is_empty() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left) {
                        Ok(m) => m,
                        Err(RecvTimeoutError::Timeout) => {
                            // Nothing pending: the backlog is done.
                            self.in_operation = true;
                            return Ok(out);
                        }
                        Err(RecvTimeoutError::Disconnected) => Msg::Eof,
                    }
                } else {
                    match rx.try_recv() {
                        Ok(m) => m,
                        Err(TryRecvError::Empty) => return Ok(out),
                        Err(TryRecvError::Disconnected) => Msg::Eof,
                    }
                }
            };
            match msg {
                Msg::Entry(mut line) => {
                    if self.floor.is_some_and(|f| line.time < f) {
                        continue;
                    }
                    if !self.in_operation && line.time >= epoch_secs(SystemTime::now()) - 1.0 {
                        self.in_operation = true;
                    }
                    line.catching_up = !self.in_operation;
                    self.last = Some(JournalPosition {
                        cursor: line.cursor.clone(),
                        time: line.time,
                        iso_time: line.iso_time.clone(),
                    });
                    out.push(line);
                    if out.len() >= self.opts.max_batch {
                        return Ok(out);
                    }
                }
                Msg::Bad(e) => tracing::warn!("skipping journal entry: {e}"),
                Msg::Eof => {
                    self.rx = None;
                    let status = self.child.take().map(|mut c| {
                        // It has closed stdout, so it is exiting; reap it.
                        let _ = c.kill();
                        c.wait()
                    });
                    tracing::warn!(?status, "journalctl exited; restarting it");
                    self.restart_at = Some(Instant::now() + self.opts.restart_delay);
                }
            }
        }
    }

    /// Stops `journalctl`.
    pub fn stop(&mut self) {
        self.rx = None;
        if let Some(mut c) = self.child.take() {
            // Our own child, by its handle.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for JournalSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The journal read once from its oldest entry (what `fail2ban-regex
/// systemd-journal` tests a filter on): `journalctl -o json` without
/// following, as an iterator of formatted entries. Entries that cannot be
/// understood are skipped with a warning, as when following; a
/// `journalctl` that fails ends the iteration with
/// [`SourceError::JournalFailed`].
pub struct JournalDump {
    command: String,
    child: Child,
    entries: EntryReader<ChildStdout>,
    stderr: Option<std::thread::JoinHandle<String>>,
    done: bool,
}

impl JournalDump {
    /// Starts `journalctl` with `matches` (ORed lines of terms, as
    /// [`JournalOptions::matches`]) and `extra_args` (e.g. from
    /// [`journal_args_from_options`]).
    pub fn spawn(
        journalctl: &Path,
        matches: &[Vec<String>],
        extra_args: &[String],
        encoding: &str,
    ) -> Result<JournalDump> {
        let decoder = LineDecoder::new(encoding)?;
        let mut args: Vec<OsString> = ["-o", "json", "--all", "--no-pager", "--quiet"]
            .iter()
            .map(OsString::from)
            .collect();
        args.extend(extra_args.iter().map(OsString::from));
        push_matches(&mut args, matches);
        let command = journalctl.display().to_string();
        let mut child = spawn_journalctl(journalctl, &args)?;
        let (Some(stdout), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SourceError::Spawn {
                command,
                source: std::io::Error::other("no pipes to the child"),
            });
        };
        // (read aside, so that a chatty stderr cannot block the child)
        let stderr = std::thread::Builder::new()
            .name("journalctl-stderr".to_string())
            .spawn(move || {
                let mut s = Vec::new();
                let _ = err.by_ref().take(64 << 10).read_to_end(&mut s);
                let _ = std::io::copy(&mut err, &mut std::io::sink());
                String::from_utf8_lossy(&s).trim().to_string()
            })
            .ok();
        Ok(JournalDump {
            command,
            child,
            // (a last entry without newline counts: the output is complete)
            entries: EntryReader::new(stdout, decoder, 1 << 20, true),
            stderr,
            done: false,
        })
    }

    /// At the end of the output: how `journalctl` ended.
    fn finish(&mut self) -> Result<()> {
        let status = self.child.wait().map_err(|source| SourceError::Spawn {
            command: self.command.clone(),
            source,
        })?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        Err(SourceError::JournalFailed {
            command: self.command.clone(),
            status,
            stderr,
        })
    }
}

impl Iterator for JournalDump {
    type Item = Result<JournalLine>;

    fn next(&mut self) -> Option<Result<JournalLine>> {
        while !self.done {
            match self.entries.next_entry() {
                Ok(Some(Ok(l))) => return Some(Ok(l)),
                Ok(Some(Err(e))) => tracing::warn!("skipping journal entry: {e}"),
                Ok(None) => {
                    self.done = true;
                    return self.finish().err().map(Err);
                }
                Err(e) => {
                    self.done = true;
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Some(Err(SourceError::Io {
                        op: "reading the output of",
                        path: PathBuf::from(&self.command),
                        source: e,
                    }));
                }
            }
        }
        None
    }
}

impl Drop for JournalDump {
    fn drop(&mut self) {
        if !self.done {
            // stopped early: our own child, by its handle
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `journalctl -o json` output as entries, read as it comes: entries
/// longer than `max` bytes and ones that do not parse are reported (as
/// `Err` with the reason), blank lines passed over.
struct EntryReader<R> {
    src: R,
    decoder: LineDecoder,
    splitter: LineSplitter,
    buf: Vec<u8>,
    pending: VecDeque<RawLine>,
    offset: u64,
    max: usize,
    /// At the end, a last line without newline is an entry too.
    flush_at_end: bool,
    ended: bool,
}

impl<R: Read> EntryReader<R> {
    fn new(src: R, decoder: LineDecoder, max: usize, flush_at_end: bool) -> Self {
        EntryReader {
            src,
            decoder,
            splitter: LineSplitter::new(max),
            buf: vec![0u8; 64 * 1024],
            pending: VecDeque::new(),
            offset: 0,
            max,
            flush_at_end,
            ended: false,
        }
    }

    /// The next entry; `Ok(None)` at the end of the output.
    fn next_entry(&mut self) -> std::io::Result<Option<std::result::Result<JournalLine, String>>> {
        loop {
            while let Some(raw) = self.pending.pop_front() {
                if raw.truncated_from.is_some() {
                    return Ok(Some(Err(format!("entry longer than {} bytes", self.max))));
                }
                if !raw.bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Some(
                        parse_entry_line(&raw.bytes, &self.decoder).map_err(|e| e.to_string()),
                    ));
                }
            }
            if self.ended {
                return Ok(None);
            }
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    self.ended = true;
                    if self.flush_at_end {
                        self.pending.extend(self.splitter.flush(self.offset));
                    }
                }
                Ok(n) => {
                    let mut raws = Vec::new();
                    self.splitter.feed(&self.buf[..n], self.offset, &mut raws);
                    self.offset += n as u64;
                    self.pending.extend(raws);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Reader thread: splits journalctl's stdout into entries.
fn read_entries(stdout: impl Read, tx: SyncSender<Msg>, dec: LineDecoder, max: usize) {
    let mut entries = EntryReader::new(stdout, dec, max, false);
    while let Ok(Some(entry)) = entries.next_entry() {
        let msg = match entry {
            Ok(l) => Msg::Entry(l),
            Err(e) => Msg::Bad(e),
        };
        if tx.send(msg).is_err() {
            // The source was stopped.
            return;
        }
    }
    let _ = tx.send(Msg::Eof);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> JournalLine {
        parse_entry_line(json.as_bytes(), &LineDecoder::default()).unwrap()
    }

    #[test]
    fn formats_like_syslog() {
        let l = entry(
            r#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"web1",
               "SYSLOG_IDENTIFIER":"sshd","_PID":"42","_COMM":"sshd-session",
               "MESSAGE":"Failed password for root from 192.0.2.1 port 22 ssh2"}"#,
        );
        assert_eq!(
            l.text,
            "web1 sshd[42]: Failed password for root from 192.0.2.1 port 22 ssh2"
        );
        assert_eq!(l.cursor, "s=1;i=2");
        assert!((l.time - 1_700_000_000.123456).abs() < 1e-6);
        assert!(l.iso_time.ends_with(".123456"), "{}", l.iso_time);
    }

    #[test]
    fn syslog_pid_preferred_and_comm_fallback() {
        let l = entry(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","_COMM":"dovecot","_PID":"7","SYSLOG_PID":"9","MESSAGE":"m"}"#,
        );
        assert_eq!(l.text, "dovecot[9]: m");
        let l = entry(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"x","MESSAGE":"m"}"#,
        );
        assert_eq!(l.text, "x: m");
        let l = entry(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"x","_PID":"abc","MESSAGE":"m"}"#,
        );
        assert_eq!(l.text, "x[abc]: m");
        let l = entry(r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":"bare"}"#);
        assert_eq!(l.text, "bare");
    }

    #[test]
    fn newlines_escaped_and_binary_message_decoded() {
        let l = entry(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"a","MESSAGE":"one\ntwo"}"#,
        );
        assert_eq!(l.text, "a: one\\ntwo");
        // "hi\xff\n!" as journald's byte array
        let l =
            entry(r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[104,105,255,10,33]}"#);
        assert_eq!(l.text, "hi\u{FFFD}\\n!");
        // A repeated MESSAGE field: values joined by a space.
        let l = entry(r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":["a","b"]}"#);
        assert_eq!(l.text, "a b");
    }

    #[test]
    fn kernel_gets_monotonic_time() {
        let l = entry(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","__MONOTONIC_TIMESTAMP":"12345678",
               "_HOSTNAME":"h","SYSLOG_IDENTIFIER":"kernel","MESSAGE":"oops"}"#,
        );
        assert_eq!(l.text, "h kernel: [   12.345678] oops");
    }

    #[test]
    fn source_timestamp_preferred() {
        let l = entry(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"2000000","_SOURCE_REALTIME_TIMESTAMP":"1000000","MESSAGE":"m"}"#,
        );
        assert_eq!(l.time, 1.0);
    }

    #[test]
    fn missing_cursor_or_time_is_an_error() {
        let d = LineDecoder::default();
        assert!(parse_entry_line(br#"{"__REALTIME_TIMESTAMP":"1"}"#, &d).is_err());
        assert!(parse_entry_line(br#"{"__CURSOR":"c"}"#, &d).is_err());
        assert!(parse_entry_line(b"not json", &d).is_err());
    }

    #[test]
    fn args_contain_start_options_and_matches() {
        let mut o = JournalOptions::new(JournalStart::AfterCursor("s=1".into()));
        o.matches = vec![
            vec![
                "_SYSTEMD_UNIT=sshd.service".into(),
                "+".into(),
                "_COMM=sshd".into(),
            ],
            vec!["_SYSTEMD_UNIT=dropbear.service".into()],
        ];
        o.extra_args = journal_args_from_options(&[
            ("journalpath".into(), "/var/log/journal".into()),
            ("journalflags".into(), "4".into()),
        ])
        .unwrap();
        let args: Vec<String> = build_args(&o, &o.start)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let tail = &args[args.len() - 7..];
        assert_eq!(
            tail,
            [
                "--directory=/var/log/journal",
                "--system",
                "_SYSTEMD_UNIT=sshd.service",
                "+",
                "_COMM=sshd",
                "+",
                "_SYSTEMD_UNIT=dropbear.service"
            ]
        );
        assert!(args.contains(&"--after-cursor=s=1".to_string()));
        assert!(args.contains(&"--no-tail".to_string()));
        let o = JournalOptions::new(JournalStart::Since(
            UNIX_EPOCH + Duration::from_millis(1500),
        ));
        let args = build_args(&o, &o.start);
        assert!(args.contains(&OsString::from("--since=@1")));
    }

    #[test]
    fn resume_takes_the_later_of_saved_and_findtime() {
        let now = epoch_secs(SystemTime::now());
        let JournalStart::Since(t) =
            JournalStart::resume(Some(now - 10.0), Duration::from_secs(600))
        else {
            panic!()
        };
        assert!((epoch_secs(t) - (now - 10.0)).abs() < 1.0);
        let JournalStart::Since(t) =
            JournalStart::resume(Some(now - 6000.0), Duration::from_secs(600))
        else {
            panic!()
        };
        assert!((epoch_secs(t) - (now - 600.0)).abs() < 2.0);
        let JournalStart::Since(t) = JournalStart::resume(None, Duration::from_secs(600)) else {
            panic!()
        };
        assert!((epoch_secs(t) - (now - 600.0)).abs() < 2.0);
    }
}
