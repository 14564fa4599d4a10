//! One open log file: opening it safely (regular files only, never
//! blocking on a FIFO or device), its first line's identity across
//! rotations, where tailing starts, and the throttles of the warnings it
//! may log.

use super::*;

pub(crate) const CHUNK: usize = 64 * 1024;
pub(crate) const DAY: Duration = Duration::from_secs(24 * 3600);
pub(crate) const ERROR_WARN_PERIOD: Duration = Duration::from_secs(300);
pub(crate) const LONG_LINE_WARN_PERIOD: Duration = Duration::from_secs(60);

/// Rate limit for a repeated warning.
#[derive(Debug, Default)]
pub(crate) struct Throttle(pub(crate) Option<Instant>);

impl Throttle {
    pub(crate) fn ready(&mut self, period: Duration) -> bool {
        let now = Instant::now();
        match self.0 {
            Some(last) if now.duration_since(last) < period => false,
            _ => {
                self.0 = Some(now);
                true
            }
        }
    }
}

/// Per-path rate limits for warnings about line content.
#[derive(Debug, Default)]
pub(crate) struct LineWarnings {
    pub(crate) decode: Throttle,
    pub(crate) long: Throttle,
}

/// The first line of a file as we last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstLine {
    /// Bytes including the newline when complete (cut to the line cap).
    pub(crate) bytes: Vec<u8>,
    /// Whether the bytes can no longer grow (newline seen or cap reached).
    pub(crate) complete: bool,
}

impl FirstLine {
    pub(crate) fn read(file: &File, max: usize) -> io::Result<FirstLine> {
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 4096];
        let mut pos = 0u64;
        loop {
            let n = file.read_at(&mut buf, pos)?;
            if n == 0 {
                return Ok(FirstLine {
                    bytes,
                    complete: false,
                });
            }
            let chunk = &buf[..n];
            let nl = chunk.iter().position(|&b| b == b'\n');
            let upto = nl.map_or(n, |i| i + 1);
            let room = max.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..upto.min(room)]);
            if nl.is_some() || bytes.len() >= max {
                return Ok(FirstLine {
                    bytes,
                    complete: true,
                });
            }
            pos += n as u64;
        }
    }

    /// Whether `now` can be the same file content as `self` (it may have
    /// grown from incomplete to complete).
    pub(crate) fn same_file(&self, now: &FirstLine) -> bool {
        if self.complete {
            now.complete && now.bytes == self.bytes
        } else {
            now.bytes.starts_with(&self.bytes)
        }
    }

    pub(crate) fn hash(&self) -> String {
        first_line_hash(&self.bytes)
    }
}

/// One open log file.
pub(crate) struct OpenLog {
    pub(crate) file: File,
    pub(crate) id: (u64, u64),
    pub(crate) read_pos: u64,
    pub(crate) line_pos: u64,
    pub(crate) splitter: LineSplitter,
    pub(crate) first_line: FirstLine,
    /// (size, mtime s, mtime ns) at the last check.
    pub(crate) last_meta: (u64, i64, i64),
    pub(crate) last_hash_check: Instant,
    pub(crate) last_activity: Instant,
    pub(crate) watch: Option<WatchDescriptor>,
}

pub(crate) fn file_id(md: &fs::Metadata) -> (u64, u64) {
    (md.dev(), md.ino())
}

/// A log path that names something other than a regular file: what it is
/// (for the warning), e.g. "a FIFO (named pipe)".
#[derive(Debug)]
pub(crate) struct NotRegular(pub(crate) &'static str);

impl std::fmt::Display for NotRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "it is {}, not a regular file", self.0)
    }
}

impl std::error::Error for NotRegular {}

/// What a non-regular file is, in words.
pub(crate) fn file_kind(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

pub(crate) fn not_regular(ft: fs::FileType) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, NotRegular(file_kind(ft)))
}

/// The [`NotRegular`] inside an error from [`open_regular`], if that is
/// why it failed.
pub(crate) fn as_not_regular(e: &io::Error) -> Option<&NotRegular> {
    e.get_ref().and_then(|i| i.downcast_ref::<NotRegular>())
}

/// Opens `path` for reading only if it is a regular file (following
/// symlinks), without ever blocking.
///
/// A plain `open(2)` of a FIFO blocks until a writer appears, and of a
/// terminal may make it our controlling one; the filter thread would sit
/// in it and `stop` would wait forever. The path can change between any
/// check by name and the open (a rotation that puts a FIFO there), so the
/// open itself is non-blocking (`O_NONBLOCK`, `O_NOCTTY`) and the check
/// is made on the opened descriptor (`fstat`). A socket cannot be opened
/// at all (`ENXIO`); its type is looked up by name for the message.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(match fs::metadata(path) {
                Ok(md) if !md.is_file() => not_regular(md.file_type()),
                _ => e,
            });
        }
        Err(e) => return Err(e),
    };
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(not_regular(md.file_type()));
    }
    // Regular files ignore O_NONBLOCK; clear it anyway so the descriptor
    // is the ordinary blocking one every later read expects.
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

impl OpenLog {
    pub(crate) fn open(path: &Path, max_line: usize, waiter: &mut Waiter) -> io::Result<OpenLog> {
        let file = open_regular(path)?;
        let md = file.metadata()?;
        let first_line = FirstLine::read(&file, max_line)?;
        let now = Instant::now();
        Ok(OpenLog {
            file,
            id: file_id(&md),
            read_pos: 0,
            line_pos: 0,
            splitter: LineSplitter::new(max_line),
            first_line,
            last_meta: (md.len(), md.mtime(), md.mtime_nsec()),
            last_hash_check: now,
            last_activity: now,
            watch: waiter.watch_file(path),
        })
    }

    pub(crate) fn seek(&mut self, pos: u64) {
        self.read_pos = pos;
        self.line_pos = pos;
        self.splitter.reset();
    }
}

pub(crate) fn warn_not_regular(path: &Path, what: &NotRegular) {
    tracing::warn!("Log path '{}' is not read: {what}", path.display());
}

/// Offset to start at for `tail`: the end, or the start of an unterminated
/// last line (searched for at most `max_line` bytes back).
pub(crate) fn tail_offset(file: &File, size: u64, max_line: usize) -> io::Result<u64> {
    if size == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    if file.read_at(&mut last, size - 1)? == 1 && last[0] == b'\n' {
        return Ok(size);
    }
    let mut end = size;
    let floor = size.saturating_sub(max_line as u64);
    let mut buf = vec![0u8; 4096];
    while end > floor {
        let start = end.saturating_sub(buf.len() as u64).max(floor);
        let len = (end - start) as usize;
        let n = file.read_at(&mut buf[..len], start)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    // No newline at all within reach: either the whole file is one partial
    // line (start at 0) or the partial line is too long to keep anyway.
    Ok(if floor == 0 { 0 } else { size })
}
