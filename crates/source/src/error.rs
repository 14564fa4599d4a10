//! Error type of the crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while setting up or running a log source.
///
/// Per-file read errors during normal operation are *not* reported through
/// this type: a log file that becomes unreadable is a condition to warn about
/// and retry, not a reason to stop watching all the other files of a jail.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `logencoding` names an encoding we cannot decode line by line.
    #[error("unknown or unsupported log encoding {0:?}")]
    UnknownEncoding(String),

    /// `backend` is not one of the file backends this crate provides.
    #[error("unknown file backend {0:?} (expected auto, pyinotify, inotify or polling)")]
    UnknownBackend(String),

    /// A `logpath` glob pattern does not parse.
    #[error("invalid log path pattern {pattern:?}: {source}")]
    Pattern {
        /// The pattern as configured.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: glob::PatternError,
    },

    /// The inotify instance could not be created or read.
    #[error("inotify failed: {0}")]
    Inotify(#[source] io::Error),

    /// An I/O error on a specific path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "read", ...).
        op: &'static str,
        /// The file it was done to.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },

    /// `journalctl` could not be started.
    #[error("cannot start {command}: {source}")]
    Spawn {
        /// The command line that was tried.
        command: String,
        /// Why it could not start.
        #[source]
        source: io::Error,
    },

    /// `journalctl` ended with an error.
    #[error("{command} failed ({status}): {stderr}")]
    JournalFailed {
        /// The command line that ran.
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// What it said on stderr.
        stderr: String,
    },

    /// A journal entry could not be understood.
    #[error("bad journal entry: {0}")]
    JournalEntry(String),
}

/// Result alias for this crate.
pub type Result<T, E = SourceError> = std::result::Result<T, E>;
