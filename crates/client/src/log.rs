//! The client's own messages on stderr, in fail2ban's default format:
//! `2026-11-25 16:19:53,594 fail2ban                [24405]: ERROR   NOK: ('x',)`.
//!
//! Scripts that scrape fail2ban-client's stderr see the same shape; the
//! verbosity (`-v`, `-q`) picks the lowest level shown, WARNING by default.

use std::sync::atomic::{AtomicI32, Ordering};

/// Python logging level ERROR.
pub const ERROR: i32 = 40;
/// Python logging level WARNING (the default threshold).
pub const WARNING: i32 = 30;
/// Python logging level INFO.
pub const INFO: i32 = 20;
/// Python logging level DEBUG.
pub const DEBUG: i32 = 10;

static THRESHOLD: AtomicI32 = AtomicI32::new(WARNING);

/// Set the level from fail2ban's verbosity count (1 = default).
pub fn set_verbosity(verbose: i32) {
    let level = match verbose {
        i32::MIN..=0 => ERROR,
        1 => WARNING,
        2 => INFO,
        _ => DEBUG,
    };
    THRESHOLD.store(level, Ordering::Relaxed);
}

/// Whether a message at `level` is shown.
pub fn enabled(level: i32) -> bool {
    level >= THRESHOLD.load(Ordering::Relaxed)
}

/// Log one line at `level` (a no-op below the threshold).
pub fn log(level: i32, msg: &str) {
    if !enabled(level) {
        return;
    }
    let name = match level {
        ERROR => "ERROR",
        WARNING => "WARNING",
        INFO => "INFO",
        _ => "DEBUG",
    };
    eprintln!(
        "{} {:<24}[{}]: {:<7} {msg}",
        timestamp(),
        "fail2ban",
        std::process::id(),
        name
    );
}

/// Log `msg` at ERROR.
pub fn error(msg: &str) {
    log(ERROR, msg);
}

/// Log `msg` at WARNING.
pub fn warning(msg: &str) {
    log(WARNING, msg);
}

/// Log `msg` at INFO.
pub fn info(msg: &str) {
    log(INFO, msg);
}

/// Local time as `YYYY-mm-dd HH:MM:SS,mmm` (Python logging's asctime).
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: zeroed tm is valid; localtime_r writes into it and is
    // thread-safe.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return format!("{secs}");
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}
