//! Looking into a file before reading it: the hook used to skip old lines.
//!
//! When a file is read from the beginning (`head`, or a stored position that
//! no longer matches), fail2ban does not feed years of old log to the filter:
//! it binary-searches the file for the first line dated at or after
//! `now - findtime`. Dates are the date detector's business, which lives in
//! another crate, so this crate only offers the mechanics: a [`LineProbe`]
//! that reads the line at an arbitrary offset, and [`seek_to_time`], a binary
//! search parameterised by a "date of this line" function. The jail wires the
//! two together through [`crate::FileSource::set_head_seek`].

use crate::decode::LineDecoder;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Read-only random access to the lines of a file that is about to be read.
pub struct LineProbe<'a> {
    file: &'a File,
    len: u64,
    path: &'a Path,
    decoder: LineDecoder,
    max_line: usize,
}

/// One line found by [`LineProbe::line_at_or_after`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbedLine {
    /// Offset of the first byte of the line.
    pub start: u64,
    /// Offset just after its `\n`.
    pub end: u64,
    /// The decoded text (without line terminator, cut to the line cap).
    pub text: String,
}

const CHUNK: usize = 8192;

impl<'a> LineProbe<'a> {
    pub(crate) fn new(
        file: &'a File,
        len: u64,
        path: &'a Path,
        decoder: LineDecoder,
        max_line: usize,
    ) -> Self {
        LineProbe {
            file,
            len,
            path,
            decoder,
            max_line,
        }
    }

    /// The path of the file being probed.
    pub fn path(&self) -> &Path {
        self.path
    }

    /// File size when the probe was made.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first complete line that starts at or after `offset`; `None` when
    /// there is none (only an unterminated tail, or `offset` past the end).
    pub fn line_at_or_after(&self, offset: u64) -> io::Result<Option<ProbedLine>> {
        let start = if offset == 0 {
            0
        } else {
            // A line starts at `offset` exactly when the byte before it is a
            // newline, so the scan begins one byte early.
            match self.find_newline(offset - 1)? {
                Some(nl) => nl + 1,
                None => return Ok(None),
            }
        };
        if start >= self.len {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        let mut pos = start;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let want = ((self.len - pos) as usize).min(CHUNK);
            if want == 0 {
                return Ok(None);
            }
            let n = self.file.read_at(&mut buf[..want], pos)?;
            if n == 0 {
                return Ok(None);
            }
            let chunk = &buf[..n];
            let nl = chunk.iter().position(|&b| b == b'\n');
            let upto = nl.unwrap_or(n);
            let room = self.max_line.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..upto.min(room)]);
            if let Some(i) = nl {
                while bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                let (text, _) = self.decoder.decode(&bytes);
                return Ok(Some(ProbedLine {
                    start,
                    end: pos + i as u64 + 1,
                    text,
                }));
            }
            pos += n as u64;
        }
    }

    fn find_newline(&self, from: u64) -> io::Result<Option<u64>> {
        let mut pos = from;
        let mut buf = vec![0u8; CHUNK];
        while pos < self.len {
            let want = ((self.len - pos) as usize).min(CHUNK);
            let n = self.file.read_at(&mut buf[..want], pos)?;
            if n == 0 {
                break;
            }
            if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
                return Ok(Some(pos + i as u64));
            }
            pos += n as u64;
        }
        Ok(None)
    }
}

/// How many undated lines the search steps over before giving up on a probe
/// point and treating it as "too new" (which only makes it read more).
const UNDATED_SCAN: usize = 16;

/// Binary search for the start of the first line dated at or after `target`
/// (seconds since the epoch). `date_of` returns a line's date or `None` when
/// it has none; undated lines are stepped over.
///
/// Log files are only roughly sorted, so the answer errs on the early side:
/// whenever a region cannot be dated, it is kept. Reading a few old lines is
/// harmless (the filter drops lines older than `findtime`); skipping new ones
/// would not be.
pub fn seek_to_time(
    probe: &LineProbe<'_>,
    target: f64,
    mut date_of: impl FnMut(&str) -> Option<f64>,
) -> io::Result<u64> {
    // Invariant: the answer lies in [lo, hi]; `lo` is always a line start.
    let mut lo = 0u64;
    let mut hi = probe.len();
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let mut probe_at = mid;
        let mut found = None;
        for _ in 0..UNDATED_SCAN {
            match probe.line_at_or_after(probe_at)? {
                Some(line) if line.start < hi => {
                    if let Some(t) = date_of(&line.text) {
                        found = Some((line, t));
                        break;
                    }
                    probe_at = line.end;
                }
                _ => break,
            }
        }
        match found {
            Some((line, t)) if t < target => lo = line.end,
            Some((line, _)) => hi = line.start,
            None => hi = mid,
        }
    }
    Ok(lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn probe_file(content: &[u8]) -> (tempfile::NamedTempFile, u64) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f.flush().unwrap();
        (f, content.len() as u64)
    }

    #[test]
    fn line_at_or_after_finds_boundaries() {
        let (f, len) = probe_file(b"aa\nbbb\ncc");
        let p = LineProbe::new(f.as_file(), len, f.path(), LineDecoder::default(), 100);
        let l = p.line_at_or_after(0).unwrap().unwrap();
        assert_eq!((l.start, l.end, l.text.as_str()), (0, 3, "aa"));
        let l = p.line_at_or_after(1).unwrap().unwrap();
        assert_eq!((l.start, l.end, l.text.as_str()), (3, 7, "bbb"));
        let l = p.line_at_or_after(3).unwrap().unwrap();
        assert_eq!(l.start, 3);
        // "cc" has no newline yet: not a line.
        assert!(p.line_at_or_after(4).unwrap().is_none());
    }

    #[test]
    fn seek_finds_first_line_at_or_after_target() {
        let mut content = Vec::new();
        // An undated line right before the answer is kept (the search errs
        // early), so the expected offset is just after the previous dated line.
        let mut after = Vec::new();
        for t in 0..200u32 {
            content.extend_from_slice(format!("{t} line\n").as_bytes());
            after.push(content.len() as u64);
            if t % 7 == 0 {
                content.extend_from_slice(b"undated continuation\n");
            }
        }
        let (f, len) = probe_file(&content);
        let p = LineProbe::new(f.as_file(), len, f.path(), LineDecoder::default(), 100);
        let date = |s: &str| s.split(' ').next()?.parse::<f64>().ok();
        for target in [0u32, 1, 50, 123, 199] {
            let pos = seek_to_time(&p, f64::from(target), date).unwrap();
            let expected = if target == 0 {
                0
            } else {
                after[target as usize - 1]
            };
            assert_eq!(pos, expected, "target {target}");
        }
        assert_eq!(seek_to_time(&p, 1000.0, date).unwrap(), len);
    }

    #[test]
    fn undated_file_is_read_from_start() {
        let (f, len) = probe_file(b"x\ny\nz\n");
        let p = LineProbe::new(f.as_file(), len, f.path(), LineDecoder::default(), 100);
        assert_eq!(seek_to_time(&p, 5.0, |_| None).unwrap(), 0);
    }
}
