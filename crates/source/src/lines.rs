//! Splitting a byte stream into lines, with bounded memory.
//!
//! The splitter is fed whatever `read` returned and hands back complete
//! lines (without the `\n` and without trailing `\r`s). An incomplete last line
//! stays buffered until its newline arrives.
//!
//! Memory is bounded by `max_line`: a longer line keeps its first and its
//! last `max_line / 2` bytes and loses its middle (the bytes dropped are
//! counted). Both ends matter: the head holds the date and the daemon's
//! prefix, the tail the address most messages end with. Keeping only the
//! head would let an attacker choose how a long line ends: a user name of
//! `x from 192.0.2.1 port 22 ssh2` and padding past the cap would leave a
//! line that reads as a failure of 192.0.2.1. With the true tail kept, a
//! cut line is one the attacker could have sent with a shorter field.
//! Because the newline itself is never dropped the splitter cannot lose
//! sync with the following line.
//!
//! NUL bytes at the *start* of a line are skipped. They are what a
//! `copytruncate` rotation leaves behind when the writer does not use
//! `O_APPEND`: the writer continues at its old offset and the file gets a hole
//! that reads as NULs. Without skipping them, the hole would become the first
//! bytes of the next real line and, being larger than `max_line`, push the
//! real text out of it. NULs inside a line are kept.

use std::collections::VecDeque;

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
    /// The line's head (all of it while it fits).
    buf: Vec<u8>,
    /// Bytes after a full head: the last `max_line / 2` are kept.
    tail: VecDeque<u8>,
    max_line: usize,
    /// Bytes of the current line that were dropped from the middle.
    dropped: u64,
    /// Whether any byte of the current line has been seen (including skipped
    /// leading NULs), so that `flush` knows if there is anything pending.
    pending: bool,
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            tail: VecDeque::new(),
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
            match memchr::memchr(b'\n', rest) {
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
        self.tail.clear();
        self.dropped = 0;
        self.pending = false;
    }

    fn push(&mut self, mut seg: &[u8]) {
        if seg.is_empty() {
            return;
        }
        self.pending = true;
        if self.buf.is_empty() {
            let nuls = seg.iter().take_while(|&&b| b == 0).count();
            seg = &seg[nuls..];
        }
        let tail_cap = self.max_line / 2;
        let room = (self.max_line - tail_cap).saturating_sub(self.buf.len());
        let keep = room.min(seg.len());
        self.buf.extend_from_slice(&seg[..keep]);
        let seg = &seg[keep..];
        // (only the last `tail_cap` bytes of `seg` can stay)
        let skip = seg.len().saturating_sub(tail_cap);
        self.tail.extend(&seg[skip..]);
        let excess = self.tail.len().saturating_sub(tail_cap);
        self.tail.drain(..excess);
        self.dropped += (skip + excess) as u64;
    }

    fn take(&mut self, end: u64) -> RawLine {
        let mut bytes = std::mem::take(&mut self.buf);
        bytes.extend(self.tail.drain(..));
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
        // head and tail kept, the middle dropped
        assert_eq!(texts(&out), vec![&b"abgh"[..], b"xy"]);
        assert_eq!(out[0].truncated_from, Some(8));
        assert_eq!(out[0].end, 9);
        assert_eq!(out[1].truncated_from, None);
        assert!(s.buf.capacity() <= 64, "buffer must stay bounded");
        assert!(s.tail.capacity() <= 64, "buffer must stay bounded");
    }

    #[test]
    fn cut_lines_keep_their_true_end() {
        // an attacker's field ends in what reads as a failure line
        let mut s = LineSplitter::new(64);
        let mut out = Vec::new();
        let mut line = b"host sshd[1]: Failed password for x from 192.0.2.1 port 22 ssh2".to_vec();
        line.extend(std::iter::repeat_n(b'u', 1000));
        line.extend_from_slice(b" from 203.0.113.9 port 4711 ssh2\n");
        // fed in pieces of every size, the result is the same
        for piece in [1, 7, 64, 5000] {
            for (i, c) in line.chunks(piece).enumerate() {
                s.feed(c, (i * piece) as u64, &mut out);
            }
        }
        assert_eq!(out.len(), 4);
        for l in &out {
            assert_eq!(l.bytes.len(), 64);
            assert!(l.bytes.starts_with(b"host sshd[1]: Failed password"));
            assert!(l.bytes.ends_with(b" from 203.0.113.9 port 4711 ssh2"));
            assert_eq!(l.truncated_from, Some(line.len() as u64 - 1));
        }
        // lines up to the cap are whole
        out.clear();
        s.feed(&[b'a'; 65], 0, &mut out);
        assert_eq!(out.len(), 0);
        s.feed(b"\n", 65, &mut out);
        assert_eq!(out[0].bytes.len(), 64);
        out.clear();
        s.feed(&[b'b'; 64], 0, &mut out);
        s.feed(b"\n", 64, &mut out);
        assert_eq!((out[0].bytes.len(), out[0].truncated_from), (64, None));
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
