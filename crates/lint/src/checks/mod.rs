//! The checks, one module per group, and what they share: the lint
//! context (host, options, the log heads read so far) and the places of
//! failregex lines.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gaoler_config::reader::ConfigRead;
use gaoler_config::Origin;

use crate::finding::{Finding, Level};
use crate::host::Host;
use crate::model::{self, JailView, ValueLines};
use crate::Options;

pub(crate) mod actions;
pub(crate) mod duplicates;
pub(crate) mod host_anchor;
pub(crate) mod layout;
pub(crate) mod logs;
pub(crate) mod prefregex;
pub(crate) mod timing;

/// What every check may use.
pub(crate) struct Ctx<'a> {
    pub basedir: &'a Path,
    pub host: &'a dyn Host,
    pub opts: &'a Options,
    /// The time dates are judged against.
    pub now: f64,
    /// First lines of each log read so far (several jails may share one).
    heads: RefCell<HashMap<PathBuf, Option<Rc<Vec<String>>>>>,
    /// The merged jail files, read once.
    jail_set: RefCell<Option<Option<Rc<gaoler_config::ConfigSet>>>>,
    /// Failregex places per jail, found once.
    places: RefCell<HashMap<String, Rc<Vec<Option<Origin>>>>>,
    /// The files of each filter, read once.
    filter_files: RefCell<HashMap<String, Rc<Vec<PathBuf>>>>,
}

impl<'a> Ctx<'a> {
    pub fn new(basedir: &'a Path, host: &'a dyn Host, opts: &'a Options) -> Ctx<'a> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Ctx {
            basedir,
            host,
            opts,
            now,
            heads: RefCell::new(HashMap::new()),
            jail_set: RefCell::new(None),
            places: RefCell::new(HashMap::new()),
            filter_files: RefCell::new(HashMap::new()),
        }
    }

    /// `jail.conf` with `jail.local` and `jail.d/` merged, as the reader
    /// reads them (raw values and origins), read once.
    pub fn jail_set(&self) -> Option<Rc<gaoler_config::ConfigSet>> {
        if let Some(s) = self.jail_set.borrow().as_ref() {
            return s.clone();
        }
        let set = gaoler_config::ConfigSet::read(self.basedir, "jail")
            .ok()
            .flatten()
            .map(Rc::new);
        *self.jail_set.borrow_mut() = Some(set.clone());
        set
    }

    pub fn filter_files(&self, name: &str) -> Rc<Vec<PathBuf>> {
        if let Some(f) = self.filter_files.borrow().get(name) {
            return f.clone();
        }
        let files = Rc::new(model::filter_files(self.basedir, name));
        self.filter_files
            .borrow_mut()
            .insert(name.to_string(), files.clone());
        files
    }

    /// The first [`Options::log_lines`] lines of a log, read once; `None`
    /// when logs are not read or the file cannot be read.
    pub fn log_head(&self, path: &Path) -> Option<Rc<Vec<String>>> {
        if !self.opts.read_logs {
            return None;
        }
        if let Some(h) = self.heads.borrow().get(path) {
            return h.clone();
        }
        let head = match self.host.read_head(path, self.opts.log_lines) {
            Ok(lines) => Some(Rc::new(lines)),
            Err(e) => {
                tracing::debug!("cannot read {}: {e}", path.display());
                None
            }
        };
        self.heads
            .borrow_mut()
            .insert(path.to_path_buf(), head.clone());
        head
    }

    /// The log files of a file jail: each `logpath` line's glob expanded
    /// through the host, with the place of that line.
    pub fn log_files(&self, jail: &JailView<'_>) -> Vec<LogPath> {
        let Some(value) = jail.option("logpath") else {
            return Vec::new();
        };
        let mut places = jail.origin("logpath").map(ValueLines::new);
        let mut out = Vec::new();
        for line in value.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
            let place = places.as_mut().map(|p| p.place(line).0);
            // fail2ban splits the line at its last blank, whatever follows
            // (`head`/`tail` is meant; a path with a blank breaks, there too)
            let pattern = match line.rsplit_once(' ') {
                Some((p, _)) => p,
                None => line,
            };
            let files = self.host.glob(pattern);
            out.push(LogPath {
                pattern: pattern.to_string(),
                place,
                files,
            });
        }
        out
    }
}

/// One `logpath` line.
pub(crate) struct LogPath {
    pub pattern: String,
    pub place: Option<Origin>,
    pub files: Vec<PathBuf>,
}

/// Where each failregex of a jail was written: the exact line when it can
/// be found (the jail's option, else the filter's files), else where the
/// option starts.
pub(crate) fn failregex_places(ctx: &Ctx<'_>, jail: &JailView<'_>) -> Rc<Vec<Option<Origin>>> {
    if let Some(p) = ctx.places.borrow().get(&jail.name) {
        return p.clone();
    }
    let mut lines = jail.origin("failregex").map(ValueLines::new);
    let files = jail
        .filter_name()
        .map(|n| ctx.filter_files(&n))
        .unwrap_or_default();
    let places: Vec<Option<Origin>> = jail
        .filter
        .failregex
        .iter()
        .map(|r| {
            let (at, exact) = match lines.as_mut() {
                Some(l) => {
                    let (o, exact) = l.place(r);
                    (Some(o), exact)
                }
                None => (None, false),
            };
            if exact {
                return at;
            }
            model::find_value(&files, r).or(at)
        })
        .collect();
    let places = Rc::new(places);
    ctx.places
        .borrow_mut()
        .insert(jail.name.clone(), places.clone());
    places
}

/// A log line shortened for a message.
pub(crate) fn quote(line: &str) -> String {
    const MAX: usize = 160;
    if line.chars().count() <= MAX {
        return line.to_string();
    }
    let cut: String = line.chars().take(MAX).collect();
    format!("{cut}…")
}

/// Jails the reader refused, and values it found wrong: the jail does not
/// run at all, whatever the other checks say.
pub(crate) fn config_errors(read: &ConfigRead, jails: &[String], out: &mut Vec<Finding>) {
    for j in &read.jails {
        if !jails.is_empty() && !jails.contains(&j.name) {
            continue;
        }
        let mut texts: Vec<String> = j.refusal().into_iter().collect();
        texts.extend(j.problems.iter().cloned());
        for t in texts {
            let (origin, message) = split_place(&t);
            out.push(
                Finding::new(
                    Level::Error,
                    "config-error",
                    Some(&j.name),
                    format!("the jail cannot start: {message}"),
                    "correct the value named; until then fail2ban refuses the whole start and \
                     gaoler starts the other jails without this one",
                )
                .at(origin.as_ref()),
            );
        }
    }
}

/// `FILE:LINE: rest` → (origin, rest); a text without a place as it is.
fn split_place(text: &str) -> (Option<Origin>, String) {
    let mut parts = text.splitn(3, ": ");
    if let (Some(loc), Some(a), b) = (parts.next(), parts.next(), parts.next()) {
        if let Some((file, line)) = loc.rsplit_once(':') {
            if let Ok(n) = line.parse::<usize>() {
                if file.starts_with('/') || file.contains('/') {
                    let rest = match b {
                        Some(b) => format!("{a}: {b}"),
                        None => a.to_string(),
                    };
                    return (
                        Some(Origin {
                            file: file.into(),
                            line: n,
                        }),
                        rest,
                    );
                }
            }
        }
    }
    (None, text.to_string())
}

/// Every check on every jail.
pub(crate) fn run(ctx: &Ctx<'_>, read: &ConfigRead, jails: &[JailView<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    config_errors(read, &ctx.opts.jails, &mut out);
    for j in jails {
        let _span = tracing::debug_span!("jail", name = %j.name).entered();
        prefregex::check(ctx, j, &mut out);
        host_anchor::check(ctx, j, &mut out);
        logs::check(ctx, j, &mut out);
        actions::check(ctx, j, &mut out);
        timing::check(ctx, j, &mut out);
    }
    duplicates::check(ctx, jails, &mut out);
    layout::check(ctx, jails, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_split_off_messages() {
        let (o, m) = split_place("/etc/f/jail.local:7: [sshd] findtime: bad value");
        let o = o.expect("origin");
        assert_eq!(
            (o.file.to_string_lossy().as_ref(), o.line),
            ("/etc/f/jail.local", 7)
        );
        assert_eq!(m, "[sshd] findtime: bad value");
        assert_eq!(split_place("no place: here").0, None);
    }

    #[test]
    fn quote_cuts_long_lines() {
        assert_eq!(quote("short"), "short");
        assert!(quote(&"x".repeat(500)).ends_with('…'));
    }
}
