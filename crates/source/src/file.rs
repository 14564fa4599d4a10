//! Tailing log files: [`FileSource`].
//!
//! # Model
//!
//! A [`FileSource`] tracks *paths* (from `logpath`, globs expanded). Each
//! tracked path has at most one *current* open handle (the file the path names
//! now) and any number of *draining* handles: files that the path named
//! before a rotation. Holding the handle, rather than re-opening by name, is
//! what lets us read the lines a writer still appends to a renamed file
//! before it reopens its log (the "rename + create" rotation with a late
//! HUP), and what keeps a deleted file readable until we have its last line.
//!
//! Every check (after each wake-up, by inotify or a polling timer) does, per path:
//! 1. `stat` the path. If it no longer names the current handle's file
//!    (different device/inode, or missing), the current handle becomes a
//!    draining one ("Log rotation detected" when a new file is there).
//! 2. Read the draining handles to their end. A draining handle that stayed
//!    idle for `drain_grace` is closed; its unterminated last line, if any,
//!    is delivered then, since nothing can complete it any more.
//! 3. Open the file the path names now, if there is no current handle: only
//!    a regular file, and without blocking (see `open_regular`: a FIFO or a
//!    device at a log path must never hang the jail or its `stop`).
//! 4. `fstat` the current handle. A size below our read position means
//!    truncation (`copytruncate`); a changed first line means the content was
//!    replaced in place. Both restart reading at offset 0.
//! 5. Read the current handle to its end.
//!
//! Draining before opening the new file keeps the old file's last lines ahead
//! of the new file's first ones.
//!
//! The file is about 1,000 lines on purpose: the check above is one
//! sequence over one path's handles and positions, and reads best in one
//! place; opening a file safely lives in `open`.
//!
//! # Positions
//!
//! [`Position`] is what the database stores (`logs` table): the path, the
//! SHA-1 of the file's first line including its newline (column
//! `firstlinemd5`), and the byte offset after the last *delivered* line
//! (`lastfilepos`). An incomplete last line is not counted, so resuming from
//! a position re-reads it rather than losing it.
//!
//! # Start rules (fail2ban's)
//!
//! - [`StartAt::Tail`]: an existing file is read from its end. A stored
//!   position is ignored, as fail2ban does. If the file ends in an
//!   unterminated line we start at the beginning of that line, so the line
//!   being written while we started is delivered whole instead of as a
//!   fragment.
//! - [`StartAt::Head`]: resume at the stored position when its hash matches
//!   the current first line (and the position is within the file);
//!   otherwise read from 0, after asking the optional head-seek hook (see
//!   [`FileSource::set_head_seek`]) where to begin.
//! - A file that appears after it was added (missing path created later, new
//!   glob match, rotation) is new content and is read from 0.
//!
//! Globs are re-expanded every `rescan_interval` and, with inotify, whenever
//! the watched directory gains or loses an entry. A newly matched file that is
//! the same inode as a handle we are draining (a rotation that renames
//! `x.log` to `x.log.1` under the glob `x.log*`) takes that handle over
//! instead of being read again from 0, so no line is delivered twice.

use crate::decode::LineDecoder;
use crate::error::{Result, SourceError};
use crate::lines::{LineSplitter, RawLine};
use crate::seek::LineProbe;
use crate::watch::{InotifyWaiter, Waiter};
use inotify::WatchDescriptor;
use sha1::{Digest, Sha1};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod open;
use open::*;

/// Which mechanism wakes the source up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// inotify (`pyinotify` and `auto` in fail2ban terms).
    Inotify,
    /// Periodic `stat` of every file.
    Polling,
}

impl Backend {
    /// Parses a jail `backend` value. Options in brackets are ignored (only
    /// the systemd backend has any). `systemd` is not a file backend and is
    /// rejected here; see [`crate::JournalSource`].
    pub fn parse(value: &str) -> Result<Backend> {
        let name = value.split('[').next().unwrap_or("").trim();
        match name.to_ascii_lowercase().as_str() {
            "auto" | "pyinotify" | "inotify" => Ok(Backend::Inotify),
            "polling" => Ok(Backend::Polling),
            _ => Err(SourceError::UnknownBackend(value.to_string())),
        }
    }
}

/// Tunables of a [`FileSource`].
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// inotify or polling.
    pub backend: Backend,
    /// `logencoding` (`auto`, `utf-8`, `latin-1`, any label encoding_rs knows).
    pub encoding: String,
    /// Longest line kept, in bytes; a longer line keeps its first and last
    /// halves (with a warning; see `lines.rs`). 1 MiB: fail2ban has no cap,
    /// and a cap below what an attacker can make a daemon log would cut
    /// off the address at the end of the line.
    pub max_line_len: usize,
    /// Soft cap on the lines returned by one [`FileSource::poll`], so that a
    /// large backlog is handed over in pieces rather than all in memory.
    pub max_batch: usize,
    /// How often globs are re-expanded and missing directory watches retried.
    pub rescan_interval: Duration,
    /// How often the first line of an unchanged file is re-hashed.
    pub hash_check_interval: Duration,
    /// How long a rotated-away file is kept open after its last growth.
    pub drain_grace: Duration,
    /// Polling backend: the wait between checks right after activity; it
    /// doubles while nothing happens...
    pub poll_min: Duration,
    /// ...up to this (fail2ban: checks at most 2 s apart).
    pub poll_max: Duration,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            backend: Backend::Inotify,
            encoding: "auto".to_string(),
            max_line_len: 1 << 20,
            max_batch: 10_000,
            rescan_interval: Duration::from_secs(5),
            hash_check_interval: Duration::from_secs(30),
            drain_grace: Duration::from_secs(10),
            poll_min: Duration::from_millis(100),
            poll_max: Duration::from_secs(2),
        }
    }
}

/// Where to start reading a file that exists when it is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// From the beginning (or the stored position); fail2ban's `head`.
    Head,
    /// From the end; fail2ban's `tail`.
    Tail,
}

/// A persisted read position (one `logs` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The log file.
    pub path: PathBuf,
    /// Hex SHA-1 of the first line's bytes including the newline.
    pub first_line_hash: String,
    /// Offset just after the last delivered line.
    pub pos: u64,
}

/// One complete line read from a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The tracked path it came from (shared, cheap to clone).
    pub path: Arc<Path>,
    /// The decoded text, without `\n` and trailing `\r`.
    pub text: String,
    /// Byte offset just after the line in the file it was read from.
    pub end_pos: u64,
    /// True while the path has not yet been read to its end once: the line
    /// is part of the backlog (fail2ban is then not "in operation" yet).
    pub catching_up: bool,
    /// True when the line comes from a file that has been rotated away and
    /// is being drained; `end_pos` then refers to that old file.
    pub rotated: bool,
}

/// Hook deciding where to start reading a file from its head; see
/// [`FileSource::set_head_seek`].
pub type HeadSeek = Box<dyn FnMut(&LineProbe<'_>) -> Option<u64> + Send>;

/// Hex SHA-1 of `bytes`, the form fail2ban stores in `logs.firstlinemd5`.
pub fn first_line_hash(bytes: &[u8]) -> String {
    let digest = Sha1::digest(bytes);
    let mut s = String::with_capacity(40);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// How a path's first open is positioned.
#[derive(Debug, Clone)]
enum InitialStart {
    Tail,
    Head(Option<Position>),
}

/// One tracked path.
struct Tracked {
    path: Arc<Path>,
    current: Option<OpenLog>,
    draining: Vec<OpenLog>,
    /// Start rule for the first open; `None` reads from 0.
    initial: Option<InitialStart>,
    reached_eof: bool,
    /// Index into `FileSource::patterns` when it came from a glob.
    from_glob: bool,
    /// The pattern string it was added under (for `remove_path`).
    added_as: String,
    /// Rate limits for the per-line warnings (bad bytes, over-long line).
    line_warn: LineWarnings,
    error_warn: Throttle,
}

impl Tracked {
    fn new(path: &Path, added_as: &str, initial: Option<InitialStart>, from_glob: bool) -> Self {
        Tracked {
            path: Arc::from(path),
            current: None,
            draining: Vec::new(),
            initial,
            reached_eof: false,
            from_glob,
            added_as: added_as.to_string(),
            line_warn: LineWarnings::default(),
            error_warn: Throttle::default(),
        }
    }

    fn holds(&self, id: (u64, u64)) -> bool {
        self.current.as_ref().is_some_and(|c| c.id == id)
    }
}

struct GlobPattern {
    text: String,
    /// The directory part without glob characters: what inotify watches.
    dir: PathBuf,
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The longest leading directory of `pattern` free of glob characters.
fn static_dir(pattern: &str) -> PathBuf {
    let mut dir = PathBuf::new();
    let path = Path::new(pattern);
    let comps: Vec<_> = path.components().collect();
    for (i, c) in comps.iter().enumerate() {
        if i + 1 == comps.len() || has_glob_chars(&c.as_os_str().to_string_lossy()) {
            break;
        }
        dir.push(c);
    }
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Shared context for turning raw lines into [`LogLine`]s.
struct Emitter<'a> {
    decoder: &'a LineDecoder,
    out: &'a mut Vec<LogLine>,
    /// Read buffer, reused across files.
    scratch: &'a mut [u8],
    /// Stop reading once `out` holds this many lines.
    budget: usize,
}

impl Emitter<'_> {
    fn emit(
        &mut self,
        t_path: &Arc<Path>,
        warn: &mut LineWarnings,
        raw: RawLine,
        catching_up: bool,
        rotated: bool,
    ) {
        if let Some(orig) = raw
            .truncated_from
            .filter(|_| warn.long.ready(LONG_LINE_WARN_PERIOD))
        {
            tracing::warn!(
                path = %t_path.display(),
                length = orig,
                kept = raw.bytes.len(),
                "log line too long, its middle dropped (warned at most once a minute)"
            );
        }
        let end_pos = raw.end;
        let (text, bad) = self.decoder.decode_owned(raw.bytes);
        if bad && warn.decode.ready(DAY) {
            tracing::warn!(
                path = %t_path.display(),
                "log line contains bytes invalid in the log encoding; they were replaced \
                 (set logencoding to the file's encoding; warned once a day)"
            );
        }
        self.out.push(LogLine {
            path: t_path.clone(),
            text,
            end_pos,
            catching_up,
            rotated,
        });
    }
}

/// Reads `log` from its read position to the end (or until `budget` lines
/// are out). Returns `(reached_eof, got_bytes)`.
fn read_log(
    log: &mut OpenLog,
    path: &Arc<Path>,
    warn: &mut LineWarnings,
    em: &mut Emitter<'_>,
    catching_up: bool,
    rotated: bool,
) -> io::Result<(bool, bool)> {
    let mut raws = Vec::new();
    let mut got = false;
    loop {
        if em.out.len() >= em.budget {
            return Ok((false, got));
        }
        let n = match log.file.read_at(em.scratch, log.read_pos) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok((true, got));
        }
        got = true;
        log.splitter.feed(&em.scratch[..n], log.read_pos, &mut raws);
        log.read_pos += n as u64;
        for raw in raws.drain(..) {
            log.line_pos = raw.end;
            em.emit(path, warn, raw, catching_up, rotated);
        }
    }
}

/// Watches a set of log files and yields their new lines.
pub struct FileSource {
    opts: SourceOptions,
    decoder: LineDecoder,
    tracked: Vec<Tracked>,
    patterns: Vec<GlobPattern>,
    waiter: Waiter,
    head_seek: Option<HeadSeek>,
    next_rescan: Instant,
    rescan_now: bool,
    round_robin: usize,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("backend", &self.opts.backend)
            .field("paths", &self.paths())
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// Creates an empty source.
    ///
    /// If inotify cannot be set up (e.g. the per-user instance limit is
    /// reached), the source falls back to polling with a warning, as
    /// fail2ban's `auto` does; [`options`](Self::options) then says
    /// `Polling`.
    pub fn new(mut opts: SourceOptions) -> Result<FileSource> {
        let decoder = LineDecoder::new(&opts.encoding)?;
        if opts.backend == Backend::Inotify {
            match InotifyWaiter::new() {
                Ok(w) => {
                    return Ok(Self::with_waiter(
                        opts,
                        decoder,
                        Waiter::Inotify(Box::new(w)),
                    ))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "inotify unavailable; falling back to polling");
                    opts.backend = Backend::Polling;
                }
            }
        }
        let waiter = Waiter::Polling {
            idle: opts.poll_min,
        };
        Ok(Self::with_waiter(opts, decoder, waiter))
    }

    fn with_waiter(opts: SourceOptions, decoder: LineDecoder, waiter: Waiter) -> FileSource {
        FileSource {
            next_rescan: Instant::now() + opts.rescan_interval,
            decoder,
            tracked: Vec::new(),
            patterns: Vec::new(),
            waiter,
            head_seek: None,
            rescan_now: false,
            round_robin: 0,
            scratch: vec![0u8; CHUNK],
            opts,
        }
    }

    /// The options in force.
    pub fn options(&self) -> &SourceOptions {
        &self.opts
    }

    /// Changes `logencoding` for lines read from now on.
    pub fn set_encoding(&mut self, encoding: &str) -> Result<()> {
        self.decoder = LineDecoder::new(encoding)?;
        self.opts.encoding = encoding.to_string();
        Ok(())
    }

    /// Installs the hook asked where to begin when a file that exists at
    /// [`add_path`](Self::add_path) time is read from its head without a
    /// usable stored position. It gets a [`LineProbe`] on the file and returns
    /// the offset of a line start (`None` or an offset past the end means 0).
    /// The jail uses it with [`crate::seek_to_time`] to skip to
    /// `now - findtime`.
    pub fn set_head_seek(&mut self, hook: Option<HeadSeek>) {
        self.head_seek = hook;
    }

    /// Adds a `logpath` entry: a path or a glob. `stored` holds the positions
    /// the database has for this jail; the ones for the matched paths are
    /// used. Returns the paths now tracked because of this entry (a missing
    /// plain path is tracked and read once it appears).
    pub fn add_path(
        &mut self,
        pattern: &str,
        start: StartAt,
        stored: &[Position],
    ) -> Result<Vec<PathBuf>> {
        let initial_for = |p: &Path| match start {
            StartAt::Tail => InitialStart::Tail,
            StartAt::Head => InitialStart::Head(stored.iter().find(|s| s.path == p).cloned()),
        };
        let mut added = Vec::new();
        if has_glob_chars(pattern) {
            let matches = glob::glob(pattern).map_err(|source| SourceError::Pattern {
                pattern: pattern.to_string(),
                source,
            })?;
            if !self.patterns.iter().any(|p| p.text == pattern) {
                self.patterns.push(GlobPattern {
                    text: pattern.to_string(),
                    dir: static_dir(pattern),
                });
            }
            for path in matches.flatten() {
                if path.is_file() && !self.is_tracked(&path) {
                    let initial = initial_for(&path);
                    self.tracked
                        .push(Tracked::new(&path, pattern, Some(initial), true));
                    added.push(path);
                }
            }
        } else {
            let path = PathBuf::from(pattern);
            if !self.is_tracked(&path) {
                // A file that does not exist yet is new content when it
                // appears: no start rule, read it from 0.
                let initial = path.exists().then(|| initial_for(&path));
                self.tracked
                    .push(Tracked::new(&path, pattern, initial, false));
                added.push(path);
            }
        }
        self.sync_dir_watches();
        // Open the new files right away so that positions (e.g. the EOF of a
        // `tail` start) are taken now, not at the first poll.
        let first_new = self.tracked.len() - added.len();
        for i in first_new..self.tracked.len() {
            self.open_current(i);
        }
        Ok(added)
    }

    /// Stops watching a `logpath` entry (as given to `add_path`) or one
    /// tracked path. Returns whether anything was removed. (A single path
    /// that came from a glob which is still watched comes back at the next
    /// rescan; remove the glob to stop it.)
    pub fn remove_path(&mut self, pattern: &str) -> bool {
        let before = self.tracked.len() + self.patterns.len();
        self.patterns.retain(|p| p.text != pattern);
        let mut removed = Vec::new();
        self.tracked.retain_mut(|t| {
            let drop = t.added_as == pattern || *t.path == *Path::new(pattern);
            if drop {
                removed.push(t.current.take().and_then(|c| c.watch));
                removed.extend(t.draining.drain(..).map(|d| d.watch));
            }
            !drop
        });
        for wd in removed {
            self.waiter.unwatch(wd);
        }
        before != self.tracked.len() + self.patterns.len()
    }

    /// The paths tracked now (existing or not).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.tracked.iter().map(|t| t.path.to_path_buf()).collect()
    }

    /// The position of every path that has an open file, for the database.
    pub fn positions(&self) -> Vec<Position> {
        self.tracked
            .iter()
            .filter_map(|t| {
                t.current.as_ref().map(|c| Position {
                    path: t.path.to_path_buf(),
                    first_line_hash: c.first_line.hash(),
                    pos: c.line_pos,
                })
            })
            .collect()
    }

    /// Whether `path` has been read to its end at least once.
    pub fn in_operation(&self, path: &Path) -> bool {
        self.tracked
            .iter()
            .any(|t| &*t.path == path && t.reached_eof)
    }

    /// Checks the files now and, if nothing new is there, waits up to
    /// `timeout` for lines. Returns as soon as there is at least one line
    /// (possibly empty on timeout). At most about `max_batch` lines are
    /// returned at once; the next call returns the rest without waiting.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<LogLine>> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if self.rescan_now || now >= self.next_rescan {
                self.rescan();
            }
            let mut out = Vec::new();
            let activity = self.check_all(&mut out);
            if let Waiter::Polling { idle } = &mut self.waiter {
                *idle = if activity {
                    self.opts.poll_min
                } else {
                    (*idle * 2).min(self.opts.poll_max)
                };
            }
            let now = Instant::now();
            if !out.is_empty() || now >= deadline {
                return Ok(out);
            }
            if self.rescan_now {
                // A rotation was just seen: look for the renamed file at
                // once instead of after a wait.
                continue;
            }
            let mut wait = deadline - now;
            wait = wait.min(self.next_rescan.saturating_duration_since(now));
            if let Some(d) = self.next_drain_deadline() {
                wait = wait.min(d.saturating_duration_since(now));
            }
            match &mut self.waiter {
                Waiter::Inotify(w) => {
                    if w.wait(wait)?.dir_changed {
                        self.rescan_now = true;
                    }
                }
                Waiter::Polling { idle } => std::thread::sleep(wait.min(*idle)),
            }
        }
    }

    /// Whether a path other than `tracked[idx]` has `id` as its current file.
    fn held_elsewhere(&self, idx: usize, id: (u64, u64)) -> bool {
        self.tracked
            .iter()
            .enumerate()
            .any(|(j, t)| j != idx && t.holds(id))
    }

    /// Removes the draining handle of `id` from whichever path holds it, for
    /// `tracked[idx]` to continue.
    fn take_draining(&mut self, idx: usize, id: (u64, u64)) -> Option<OpenLog> {
        for j in 0..self.tracked.len() {
            let Some(k) = self.tracked[j].draining.iter().position(|d| d.id == id) else {
                continue;
            };
            let handle = self.tracked[j].draining.remove(k);
            if j != idx {
                tracing::debug!(
                    from = %self.tracked[j].path.display(),
                    to = %self.tracked[idx].path.display(),
                    "following renamed log file"
                );
                let eof = self.tracked[j].reached_eof;
                self.tracked[idx].reached_eof |= eof;
            }
            return Some(handle);
        }
        None
    }

    fn is_tracked(&self, path: &Path) -> bool {
        self.tracked.iter().any(|t| &*t.path == path)
    }

    fn next_drain_deadline(&self) -> Option<Instant> {
        self.tracked
            .iter()
            .flat_map(|t| t.draining.iter())
            .map(|d| d.last_activity + self.opts.drain_grace)
            .min()
    }

    fn sync_dir_watches(&mut self) {
        if !matches!(self.waiter, Waiter::Inotify(_)) {
            return;
        }
        let mut dirs: Vec<PathBuf> = self.patterns.iter().map(|p| p.dir.clone()).collect();
        dirs.extend(self.tracked.iter().map(|t| parent_dir(&t.path)));
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            self.waiter.watch_dir(&d);
        }
    }

    /// Re-expands globs, adopting rotated handles, and drops glob matches
    /// that are gone for good.
    fn rescan(&mut self) {
        self.rescan_now = false;
        self.next_rescan = Instant::now() + self.opts.rescan_interval;
        let mut found: Vec<(PathBuf, String)> = Vec::new();
        for p in &self.patterns {
            match glob::glob(&p.text) {
                Ok(paths) => {
                    for path in paths.flatten() {
                        if !self.is_tracked(&path) && !found.iter().any(|(f, _)| *f == path) {
                            found.push((path, p.text.clone()));
                        }
                    }
                }
                Err(e) => tracing::warn!(pattern = %p.text, error = %e, "bad glob"),
            }
        }
        for (path, pattern) in found {
            if !path.is_file() {
                continue;
            }
            // Whether this is really a new file or a renamed one we are
            // already reading is settled when it is opened (`open_current`).
            tracing::info!(path = %path.display(), "added log file matching {pattern:?}");
            self.tracked.push(Tracked::new(&path, &pattern, None, true));
        }
        // Forget glob matches that vanished and left nothing to drain.
        let patterns = &self.patterns;
        self.tracked.retain(|t| {
            let keep = !t.from_glob
                || t.current.is_some()
                || !t.draining.is_empty()
                || t.path.exists()
                || !patterns.iter().any(|p| p.text == t.added_as);
            if !keep {
                tracing::debug!(path = %t.path.display(), "glob match gone");
            }
            keep
        });
        if self.round_robin >= self.tracked.len() {
            self.round_robin = 0;
        }
        self.sync_dir_watches();
    }

    /// Examines every tracked path once. Returns whether anything happened
    /// (lines, rotation), which resets the polling backoff.
    fn check_all(&mut self, out: &mut Vec<LogLine>) -> bool {
        let n = self.tracked.len();
        if n == 0 {
            return false;
        }
        // Start with a different path each time so that one file with a
        // huge backlog cannot starve the others when the batch cap is hit.
        let start = self.round_robin % n;
        self.round_robin = (start + 1) % n;
        let mut activity = false;
        for k in 0..n {
            if out.len() >= self.opts.max_batch {
                // The rest waits for the next poll, which checks before it
                // sleeps.
                break;
            }
            activity |= self.check_one((start + k) % n, out);
        }
        activity || !out.is_empty()
    }

    fn check_one(&mut self, idx: usize, out: &mut Vec<LogLine>) -> bool {
        let mut activity = false;
        let path_id = {
            let t = &mut self.tracked[idx];
            match fs::metadata(&t.path) {
                Ok(md) if md.is_file() => Some(file_id(&md)),
                Ok(md) => {
                    // Never opened (see `open_regular`); say so, now and
                    // then, as long as the path names such a thing.
                    if t.error_warn.ready(ERROR_WARN_PERIOD) {
                        warn_not_regular(&t.path, &NotRegular(file_kind(md.file_type())));
                    }
                    None
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => {
                    if t.error_warn.ready(ERROR_WARN_PERIOD) {
                        tracing::warn!(path = %t.path.display(), error = %e, "cannot stat log file");
                    }
                    None
                }
            }
        };

        // 1. Has the path moved on to another file (or none)?
        let t = &mut self.tracked[idx];
        if let Some(cur) = &t.current {
            if path_id != Some(cur.id) {
                let mut cur = t.current.take().expect("checked above");
                cur.last_activity = Instant::now();
                if path_id.is_some() {
                    tracing::info!(path = %t.path.display(), "Log rotation detected");
                } else {
                    tracing::debug!(path = %t.path.display(), "log file disappeared; draining it");
                }
                t.draining.push(cur);
                self.rescan_now = true;
                activity = true;
            }
        }

        // 2. Drain rotated-away files first: their lines are older.
        let grace = self.opts.drain_grace;
        let budget = self.opts.max_batch;
        let mut em = Emitter {
            decoder: &self.decoder,
            out,
            scratch: &mut self.scratch,
            budget,
        };
        let t = &mut self.tracked[idx];
        let catching_up = !t.reached_eof;
        let mut i = 0;
        while i < t.draining.len() {
            let d = &mut t.draining[i];
            match read_log(d, &t.path, &mut t.line_warn, &mut em, catching_up, true) {
                Ok((_, got)) => {
                    if got {
                        d.last_activity = Instant::now();
                    }
                }
                Err(e) => {
                    if t.error_warn.ready(ERROR_WARN_PERIOD) {
                        tracing::warn!(path = %t.path.display(), error = %e, "cannot read rotated log file");
                    }
                }
            }
            if d.last_activity.elapsed() >= grace {
                let mut d = t.draining.remove(i);
                if let Some(raw) = d.splitter.flush(d.read_pos) {
                    em.emit(&t.path, &mut t.line_warn, raw, catching_up, true);
                }
                self.waiter.unwatch(d.watch.take());
                tracing::debug!(path = %t.path.display(), "closed rotated log file");
            } else {
                i += 1;
            }
        }

        // 3. Open the file the path names now.
        if self.tracked[idx].current.is_none() && path_id.is_some() {
            activity |= self.open_current(idx);
        }

        // 4 + 5. Check and read the current file.
        let mut em = Emitter {
            decoder: &self.decoder,
            out,
            scratch: &mut self.scratch,
            budget,
        };
        let t = &mut self.tracked[idx];
        let Some(cur) = t.current.as_mut() else {
            return activity;
        };
        match cur.file.metadata() {
            Ok(md) => {
                let meta = (md.len(), md.mtime(), md.mtime_nsec());
                let mut restart = false;
                if md.len() < cur.read_pos {
                    tracing::info!(path = %t.path.display(), "Log rotation detected (file truncated)");
                    restart = true;
                } else if meta != cur.last_meta
                    || cur.last_hash_check.elapsed() >= self.opts.hash_check_interval
                {
                    cur.last_hash_check = Instant::now();
                    match FirstLine::read(&cur.file, self.opts.max_line_len) {
                        Ok(fl) => {
                            if cur.read_pos > 0 && !cur.first_line.same_file(&fl) {
                                tracing::info!(
                                    path = %t.path.display(),
                                    "Log rotation detected (first line changed)"
                                );
                                restart = true;
                            }
                            cur.first_line = fl;
                        }
                        Err(e) => {
                            if t.error_warn.ready(ERROR_WARN_PERIOD) {
                                tracing::warn!(path = %t.path.display(), error = %e, "cannot read log file");
                            }
                        }
                    }
                }
                cur.last_meta = meta;
                if restart {
                    // Whatever was pending can no longer be completed.
                    if let Some(raw) = cur.splitter.flush(cur.read_pos) {
                        em.emit(&t.path, &mut t.line_warn, raw, !t.reached_eof, false);
                    }
                    cur.seek(0);
                    if let Ok(fl) = FirstLine::read(&cur.file, self.opts.max_line_len) {
                        cur.first_line = fl;
                    }
                    activity = true;
                }
            }
            Err(e) => {
                if t.error_warn.ready(ERROR_WARN_PERIOD) {
                    tracing::warn!(path = %t.path.display(), error = %e, "cannot stat open log file");
                }
            }
        }
        let catching_up = !t.reached_eof;
        match read_log(cur, &t.path, &mut t.line_warn, &mut em, catching_up, false) {
            Ok((eof, got)) => {
                if eof {
                    if !t.reached_eof {
                        tracing::debug!(path = %t.path.display(), "log file read to its end; in operation");
                    }
                    t.reached_eof = true;
                }
                if got {
                    cur.last_activity = Instant::now();
                    activity = true;
                }
            }
            Err(e) => {
                if t.error_warn.ready(ERROR_WARN_PERIOD) {
                    tracing::warn!(path = %t.path.display(), error = %e, "cannot read log file");
                }
            }
        }
        activity
    }

    /// Opens the file `tracked[idx]` names now and positions it. Returns
    /// whether a file was opened.
    fn open_current(&mut self, idx: usize) -> bool {
        let max_line = self.opts.max_line_len;
        if self.tracked[idx].current.is_some() {
            return false;
        }
        // Cheap check by name first: a file that another path is reading
        // right now is left to that path (links, or a rename that path has
        // not noticed yet); we look again at the next check.
        if let Ok(md) = fs::metadata(&self.tracked[idx].path) {
            if self.held_elsewhere(idx, file_id(&md)) {
                return false;
            }
        }
        let t = &mut self.tracked[idx];
        let mut log = match OpenLog::open(&t.path, max_line, &mut self.waiter) {
            Ok(log) => log,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound && t.error_warn.ready(ERROR_WARN_PERIOD) {
                    match as_not_regular(&e) {
                        Some(nr) => warn_not_regular(&t.path, nr),
                        None => {
                            tracing::warn!(path = %t.path.display(), error = %e, "cannot open log file")
                        }
                    }
                }
                return false;
            }
        };
        if self.held_elsewhere(idx, log.id) {
            return false;
        }
        // A file we are draining, under this name or another: a rotation
        // renamed it to this name (`x.log` -> `x.log.1` with both tracked),
        // or it was renamed back, or a stat failed transiently. Continue that
        // handle rather than read the file again. The new handle is simply
        // dropped: its inotify watch is the very same watch (same inode).
        if let Some(handle) = self.take_draining(idx, log.id) {
            let t = &mut self.tracked[idx];
            t.initial = None;
            t.current = Some(handle);
            return true;
        }
        let t = &mut self.tracked[idx];
        let size = log.last_meta.0;
        let start = match t.initial.take() {
            None => 0,
            Some(InitialStart::Tail) => match tail_offset(&log.file, size, max_line) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(path = %t.path.display(), error = %e, "cannot find end of log file; reading from its start");
                    0
                }
            },
            Some(InitialStart::Head(stored)) => {
                let hash = log.first_line.hash();
                match stored {
                    Some(p) if p.first_line_hash == hash && p.pos <= size => {
                        tracing::debug!(path = %t.path.display(), pos = p.pos, "resuming at stored position");
                        p.pos
                    }
                    other => {
                        if other.is_some() {
                            tracing::info!(
                                path = %t.path.display(),
                                "stored position does not match the file (rotated while stopped); reading from the start"
                            );
                        }
                        match self.head_seek.as_mut() {
                            Some(hook) => {
                                let probe = LineProbe::new(
                                    &log.file,
                                    size,
                                    &t.path,
                                    self.decoder,
                                    max_line,
                                );
                                hook(&probe).filter(|&p| p <= size).unwrap_or(0)
                            }
                            None => 0,
                        }
                    }
                }
            }
        };
        log.seek(start);
        if start >= size {
            // Nothing left to catch up on (a `tail` start, or an empty new
            // file): what comes next is live.
            t.reached_eof = true;
        }
        t.current = Some(log);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(path: &Path) -> String {
        let e = open_regular(path).expect_err("must be refused");
        as_not_regular(&e)
            .unwrap_or_else(|| panic!("{}: unexpected error {e}", path.display()))
            .to_string()
    }

    #[test]
    fn only_regular_files_are_opened_and_never_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A blocking open would hang here: no writer ever comes.
        assert_eq!(
            kind_of(&fifo),
            "it is a FIFO (named pipe), not a regular file"
        );
        assert_eq!(
            kind_of(Path::new("/dev/null")),
            "it is a character device, not a regular file"
        );
        assert_eq!(kind_of(dir.path()), "it is a directory, not a regular file");
        let sock = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(kind_of(&sock), "it is a socket, not a regular file");
        // A symlink to a FIFO is a FIFO.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert!(kind_of(&link).contains("FIFO"));

        let file = dir.path().join("log");
        std::fs::write(&file, b"line\n").unwrap();
        let f = open_regular(&file).expect("regular file");
        // SAFETY: fcntl on an open descriptor.
        let flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&f), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0, "left non-blocking");
        let missing = open_regular(&dir.path().join("missing")).expect_err("missing");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
