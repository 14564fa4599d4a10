//! Splitting a byte stream into lines, with bounded memory.
//!
//! The splitter is fed whatever `read` returned and hands back complete
//! lines (without the `\n` and without trailing `\r`s). An incomplete last line
//! stays buffered until its newline arrives.
//!
//! Memory is bounded by `max_line`: once a line's buffer is full, further bytes
//! of that line are counted but dropped, and the line is delivered truncated
//! when its newline arrives. Because the newline itself is never dropped the
//! splitter cannot lose sync with the following line.
//!
//! NUL bytes at the *start* of a line are skipped. They are what a
//! `copytruncate` rotation leaves behind when the writer does not use
//! `O_APPEND`: the writer continues at its old offset and the file gets a hole
//! that reads as NULs. Without skipping them, the hole would become the first
//! bytes of the next real line and, being larger than `max_line`, push the
//! real text out of it. NULs inside a line are kept.

/// A complete line as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawLine {
    /// The line without its terminator.
    pub bytes: Vec<u8>,
    /// Byte offset in the stream just after the line (after its `\n`).
    pub end: u64,
    /// Original length when the line was cut to `max_line`.
    pub truncated_from: Option<u64>,
}

/// Incremental line splitter.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    max_line: usize,
    /// Bytes of the current line that did not fit into `buf`.
    dropped: u64,
    /// Whether any byte of the current line has been seen (including skipped
    /// leading NULs), so that `flush` knows if there is anything pending.
    pending: bool,
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            // A zero cap would make every line empty; one byte is the
            // smallest meaningful value.
            max_line: max_line.max(1),
            dropped: 0,
            pending: false,
        }
    }

    /// Feeds `data`, which starts at stream offset `offset`; complete lines
    /// are appended to `out`.
    pub fn feed(&mut self, data: &[u8], offset: u64, out: &mut Vec<RawLine>) {
        let mut rest = data;
        let mut off = offset;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.push(&rest[..i]);
                    off += i as u64 + 1;
                    out.push(self.take(off));
                    rest = &rest[i + 1..];
                }
                None => {
                    self.push(rest);
                    break;
                }
            }
        }
    }

    /// Delivers the incomplete last line, if any, as if it had been
    /// terminated. Used when a file ends for good (rotated away, truncated).
    pub fn flush(&mut self, end: u64) -> Option<RawLine> {
        if !self.pending {
            return None;
        }
        let line = self.take(end);
        if line.bytes.is_empty() && line.truncated_from.is_none() {
            // Only skipped NULs were pending: nothing worth delivering.
            return None;
        }
        Some(line)
    }

    /// Forgets the incomplete line.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.dropped = 0;
        self.pending = false;
    }

    fn push(&mut self, mut seg: &[u8]) {
        if seg.is_empty() {
            return;
        }
        self.pending = true;
        if self.buf.is_empty() && self.dropped == 0 {
            let nuls = seg.iter().take_while(|&&b| b == 0).count();
            seg = &seg[nuls..];
        }
        let room = self.max_line.saturating_sub(self.buf.len());
        let keep = room.min(seg.len());
        self.buf.extend_from_slice(&seg[..keep]);
        self.dropped += (seg.len() - keep) as u64;
    }

    fn take(&mut self, end: u64) -> RawLine {
        let mut bytes = std::mem::take(&mut self.buf);
        let truncated_from = (self.dropped > 0).then(|| bytes.len() as u64 + self.dropped);
        while bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        self.dropped = 0;
        self.pending = false;
        RawLine {
            bytes,
            end,
            truncated_from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[RawLine]) -> Vec<&[u8]> {
        lines.iter().map(|l| l.bytes.as_slice()).collect()
    }

    #[test]
    fn splits_and_tracks_offsets() {
        let mut s = LineSplitter::new(100);
        let mut out = Vec::new();
        s.feed(b"ab\ncd\r\nef", 10, &mut out);
        assert_eq!(texts(&out), vec![&b"ab"[..], b"cd"]);
        assert_eq!(out[0].end, 13);
        assert_eq!(out[1].end, 17);
        out.clear();
        s.feed(b"g\n", 19, &mut out);
        assert_eq!(texts(&out), vec![&b"efg"[..]]);
        assert_eq!(out[0].end, 21);
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut s = LineSplitter::new(100);
        let mut out = Vec::new();
        s.feed(b"\n\r\n", 0, &mut out);
        assert_eq!(texts(&out), vec![&b""[..], b""]);
    }

    #[test]
    fn long_line_truncated_and_sync_kept() {
        let mut s = LineSplitter::new(4);
        let mut out = Vec::new();
        s.feed(b"abcdef", 0, &mut out);
        s.feed(b"gh\nxy\n", 6, &mut out);
        assert_eq!(texts(&out), vec![&b"abcd"[..], b"xy"]);
        assert_eq!(out[0].truncated_from, Some(8));
        assert_eq!(out[0].end, 9);
        assert_eq!(out[1].truncated_from, None);
        assert!(s.buf.capacity() <= 64, "buffer must stay bounded");
    }

    #[test]
    fn leading_nuls_skipped_inner_kept() {
        let mut s = LineSplitter::new(8);
        let mut out = Vec::new();
        let mut data = vec![0u8; 100];
        data.extend_from_slice(b"a\0b\n");
        s.feed(&data, 0, &mut out);
        assert_eq!(texts(&out), vec![&b"a\0b"[..]]);
        assert_eq!(out[0].truncated_from, None);
        assert_eq!(out[0].end, 104);
    }

    #[test]
    fn flush_delivers_pending() {
        let mut s = LineSplitter::new(8);
        let mut out = Vec::new();
        s.feed(b"a\nbc", 0, &mut out);
        let l = s.flush(4).unwrap();
        assert_eq!(l.bytes, b"bc");
        assert!(s.flush(4).is_none());
        s.feed(b"\0\0", 4, &mut out);
        assert!(s.flush(6).is_none());
    }
}
