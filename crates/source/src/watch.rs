//! Waiting for something to happen to the watched files.
//!
//! Both backends are only *wake-up* mechanisms: after every wake-up the
//! [`crate::FileSource`] re-examines all its files the same way (stat the
//! path, fstat the open handle, read what is new). Events are never trusted
//! to say *what* happened, only *that* something may have happened. That
//! keeps the line semantics identical for both backends and makes a lost or
//! coalesced event harmless: the next periodic check catches up.
//!
//! The inotify backend uses the `inotify` crate rather than `notify`: `notify`
//! runs its own thread and hands events over a channel, which buys nothing
//! for a synchronous poll loop that only needs "wake up when the directory or
//! a file changed", while the `inotify` crate exposes the descriptor itself,
//! so we can `poll(2)` it with a timeout on the caller's thread and add or
//! remove per-file watches as handles come and go (a renamed-away file keeps
//! its watch until we have drained it).

use crate::error::{Result, SourceError};
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a wait observed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Woken {
    /// Directory contents changed (or events were lost): globs should be
    /// re-expanded and watches repaired.
    pub dir_changed: bool,
}

pub(crate) struct InotifyWaiter {
    inotify: Inotify,
    dirs: HashMap<PathBuf, WatchDescriptor>,
    buf: Vec<u8>,
}

impl InotifyWaiter {
    pub fn new() -> Result<Self> {
        Ok(InotifyWaiter {
            inotify: Inotify::init().map_err(SourceError::Inotify)?,
            dirs: HashMap::new(),
            buf: vec![0u8; 16 * 1024],
        })
    }

    /// Watches a directory for files appearing, disappearing and changing.
    /// Idempotent. A directory that does not exist (yet) is silently skipped;
    /// the periodic rescan retries it.
    pub fn watch_dir(&mut self, dir: &Path) {
        if self.dirs.contains_key(dir) {
            return;
        }
        let mask = WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::MOVED_FROM
            | WatchMask::DELETE
            | WatchMask::MODIFY
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR;
        match self.inotify.watches().add(dir, mask) {
            Ok(wd) => {
                self.dirs.insert(dir.to_path_buf(), wd);
            }
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "cannot watch directory yet")
            }
        }
    }

    /// Watches one file (the inode the path names now) for modifications.
    /// This is what still wakes us for a file that was renamed out of its
    /// directory or is reached through a symlink.
    pub fn watch_file(&mut self, path: &Path) -> Option<WatchDescriptor> {
        match self.inotify.watches().add(path, WatchMask::MODIFY) {
            Ok(wd) => Some(wd),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot watch file");
                None
            }
        }
    }

    pub fn unwatch(&mut self, wd: WatchDescriptor) {
        // Fails harmlessly when the inode is already gone (the kernel removed
        // the watch itself).
        let _ = self.inotify.watches().remove(wd);
    }

    /// Blocks until an event arrives or `timeout` passes, then consumes all
    /// queued events.
    pub fn wait(&mut self, timeout: Duration) -> Result<Woken> {
        let mut pfd = libc::pollfd {
            fd: self.inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up so that a sub-millisecond remainder does not busy-loop.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `pfd` is a valid pollfd for the duration of the call and we
        // pass a count of exactly one.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(Woken::default());
            }
            return Err(SourceError::Inotify(e));
        }
        let mut woken = Woken::default();
        if rc == 0 {
            return Ok(woken);
        }
        loop {
            let events = match self.inotify.read_events(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SourceError::Inotify(e)),
            };
            let mut ignored = Vec::new();
            for ev in events {
                if ev.mask.intersects(
                    EventMask::CREATE
                        | EventMask::MOVED_TO
                        | EventMask::MOVED_FROM
                        | EventMask::DELETE
                        | EventMask::DELETE_SELF
                        | EventMask::MOVE_SELF
                        | EventMask::Q_OVERFLOW,
                ) {
                    woken.dir_changed = true;
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    ignored.push(ev.wd.clone());
                }
            }
            if !ignored.is_empty() {
                // A watched directory went away; forget it so that the next
                // rescan re-adds it if it comes back.
                self.dirs.retain(|_, wd| !ignored.contains(wd));
                woken.dir_changed = true;
            }
        }
        Ok(woken)
    }
}

/// The two ways of waiting.
pub(crate) enum Waiter {
    Inotify(Box<InotifyWaiter>),
    /// Stat-based polling: the wait between checks grows while nothing
    /// happens, up to a maximum (fail2ban: at most 2 s apart).
    Polling {
        idle: Duration,
    },
}

impl Waiter {
    pub fn watch_dir(&mut self, dir: &Path) {
        if let Waiter::Inotify(w) = self {
            w.watch_dir(dir);
        }
    }

    pub fn watch_file(&mut self, path: &Path) -> Option<WatchDescriptor> {
        match self {
            Waiter::Inotify(w) => w.watch_file(path),
            Waiter::Polling { .. } => None,
        }
    }

    pub fn unwatch(&mut self, wd: Option<WatchDescriptor>) {
        if let (Waiter::Inotify(w), Some(wd)) = (self, wd) {
            w.unwatch(wd);
        }
    }
}
