//! gaoler-source: the first stage of a log line's path.
//!
//! It watches log files (or the systemd journal) and hands complete lines to
//! the filter, never losing or repeating a line across appends, partial
//! writes, and the usual rotation schemes.
//!
//! - [`FileSource`] tails files (`backend = auto | pyinotify | polling`):
//!   positions for the database, `head`/`tail` start rules, glob re-expansion,
//!   rotation by rename+create, copytruncate, truncation, delete+re-create and
//!   in-place rewrite (first-line hash change). See [`mod@file`] for the model.
//! - [`JournalSource`] follows the journal through `journalctl -o json -f`
//!   (`backend = systemd`) and formats entries the way fail2ban does.
//! - [`seek_to_time`] with [`LineProbe`] implements the "skip to
//!   now − findtime" binary search, driven by a date function the caller
//!   provides.
//!
//! Everything is synchronous: a jail thread calls `poll(timeout)` in a loop.
//! No async runtime is involved, because one thread per jail blocking in
//! `poll(2)` (inotify) or `sleep` (polling) is all fail2ban's model needs.
//!
//! Lines are bytes until they are complete; only then are they decoded
//! ([`LineDecoder`], `logencoding`), so a multi-byte character split across
//! two writes is never mangled.

#![deny(missing_docs)]

pub mod decode;
pub mod error;
pub mod file;
pub mod journal;
mod lines;
pub mod seek;
mod watch;

pub use decode::LineDecoder;
pub use error::{Result, SourceError};
pub use file::{
    first_line_hash, Backend, FileSource, HeadSeek, LogLine, Position, SourceOptions, StartAt,
};
pub use journal::{
    format_entry, journal_args_from_options, parse_entry_line, JournalDump, JournalLine,
    JournalOptions, JournalPosition, JournalSource, JournalStart,
};
pub use seek::{seek_to_time, LineProbe, ProbedLine};

#[cfg(test)]
mod send_check {
    // Sources are created on one thread and run on a jail's thread.
    fn is_send<T: Send>() {}

    #[test]
    fn sources_are_send() {
        is_send::<crate::FileSource>();
        is_send::<crate::JournalSource>();
    }
}
