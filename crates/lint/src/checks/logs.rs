//! `logpath-missing`, `logpath-unreadable`, `datepattern-nomatch`,
//! `backend-cannot-read`: jails that have nothing to read, or read lines
//! they cannot date.
//!
//! - A file jail whose `logpath` globs match no file is refused at start
//!   ("Have not found any log file for J jail"): fail2ban 1.0 aborts the
//!   whole start, fail2ban 1.1 skips only that jail when
//!   `skip_if_nologs = true`, gaoler refuses that jail and starts the
//!   others. A file that exists but cannot be opened is worse: the jail
//!   starts and never sees a line. Both are errors; globs are expanded
//!   the way fail2ban does (not recursive, hidden files only when named),
//!   through the injected host.
//! - Failures are counted by the time written on their line, so a line
//!   the filter's date pattern (or, without one, the default templates)
//!   finds no date in is dropped with "Found a match ... but no valid
//!   date/time found". The first 100 non-empty lines are tried with the
//!   date detector the filter uses; not one date among them is a warning
//!   (not an error: a log may start with headers, or be empty so far).
//! - The backend decides how lines arrive: `systemd` needs `journalctl`
//!   (gaoler reads the journal through it), a file backend needs a
//!   `logpath`, and a backend name fail2ban does not know makes it refuse
//!   the jail (gaoler polls the files instead; the name is still a
//!   mistake).

use gaoler_datedetector::DateDetector;

use super::{quote, Ctx};
use crate::finding::{Finding, Level};
use crate::model::{backend_name, JailView};

/// Backends that read files.
const FILE_BACKENDS: &[&str] = &["auto", "polling", "pyinotify", "inotify"];

/// How many non-empty lines are tried for a date.
const DATE_LINES: usize = 100;

/// Runs the check on one jail.
pub(crate) fn check(ctx: &Ctx<'_>, jail: &JailView<'_>, out: &mut Vec<Finding>) {
    let backend = backend_name(&jail.backend);
    let at_backend = jail.origin("backend");
    let name = Some(jail.name.as_str());
    if backend == "systemd" {
        if ctx.host.which("journalctl").is_none() {
            out.push(
                Finding::new(
                    Level::Error,
                    "backend-cannot-read",
                    name,
                    "`backend = systemd` reads the journal through journalctl, which is not \
                     installed: the jail starts and never sees a line",
                    "install systemd's journalctl (apt-get install systemd), or read the \
                     service's log file: `backend = auto` with a `logpath`",
                )
                .at(at_backend),
            );
        }
        return;
    }
    if !FILE_BACKENDS.contains(&backend.as_str()) {
        out.push(
            Finding::new(
                Level::Error,
                "backend-cannot-read",
                name,
                format!(
                    "backend `{}` is not one fail2ban or gaoler supports (auto, polling, \
                     pyinotify, systemd): fail2ban refuses the jail; gaoler polls its files",
                    jail.backend
                ),
                "set `backend = auto` (files) or `backend = systemd` (the journal)",
            )
            .at(at_backend),
        );
    }
    let paths = ctx.log_files(jail);
    if paths.is_empty() {
        out.push(
            Finding::new(
                Level::Error,
                "backend-cannot-read",
                name,
                format!(
                    "`backend = {}` reads log files, and the jail has no `logpath`: fail2ban \
                     refuses to start it",
                    jail.backend
                ),
                "add `logpath = /path/of/the/service.log`, or `backend = systemd` if the \
                 service logs to the journal",
            )
            .at(at_backend.or(jail.origin("enabled"))),
        );
        return;
    }
    for lp in &paths {
        if lp.files.is_empty() {
            out.push(
                Finding::new(
                    Level::Error,
                    "logpath-missing",
                    name,
                    format!(
                        "logpath `{}` matches no file: fail2ban refuses to start the jail \
                         (\"Have not found any log file for {} jail\"; fail2ban 1.1 only skips \
                         it with `skip_if_nologs = true`), so the service is not protected",
                        lp.pattern, jail.name
                    ),
                    "point logpath at the file the service really writes (check its logging \
                     configuration), or use `backend = systemd` if it logs to the journal",
                )
                .at(lp.place.as_ref()),
            );
            continue;
        }
        for file in &lp.files {
            if !ctx.host.readable(file) {
                out.push(
                    Finding::new(
                        Level::Error,
                        "logpath-unreadable",
                        name,
                        format!(
                            "{} exists but cannot be read: the jail starts and never sees a \
                             line",
                            file.display()
                        ),
                        "run gaoler as root (as its unit does), or make the file readable \
                         by gaoler's user",
                    )
                    .at(lp.place.as_ref()),
                );
                continue;
            }
            dates(ctx, jail, file, lp.place.as_ref(), out);
        }
    }
}

fn dates(
    ctx: &Ctx<'_>,
    jail: &JailView<'_>,
    file: &std::path::Path,
    place: Option<&gaoler_config::Origin>,
    out: &mut Vec<Finding>,
) {
    let pattern = jail.filter.datepattern.as_deref();
    // `{NONE}`: the jail dates lines by when they are read, on purpose
    if pattern.is_some_and(|p| p.contains("{NONE}")) {
        return;
    }
    let Some(head) = ctx.log_head(file) else {
        return;
    };
    let lines: Vec<&String> = head
        .iter()
        .filter(|l| !l.trim().is_empty())
        .take(DATE_LINES)
        .collect();
    if lines.is_empty() {
        return;
    }
    let Ok(mut detector) = DateDetector::new(pattern) else {
        // (an invalid pattern is the filter-invalid finding)
        return;
    };
    if detector
        .set_timezone(jail.filter.logtimezone.as_deref())
        .is_err()
    {
        return;
    }
    if lines
        .iter()
        .any(|l| detector.find(l, ctx.now).is_some_and(|h| h.time.is_some()))
    {
        return;
    }
    let which = match pattern {
        Some(p) if !p.trim().is_empty() && p.trim() != "{DEFAULT}" => {
            format!("the date pattern `{}` finds", p.replace('\n', " | "))
        }
        _ => "the default date templates find".to_string(),
    };
    let at = jail.origin("datepattern").or(place);
    out.push(
        Finding::new(
            Level::Warning,
            "datepattern-nomatch",
            Some(&jail.name),
            format!(
                "{which} a date in none of the first {} lines of {} (e.g. `{}`): fail2ban \
                 counts failures by the time on their line and drops a matching line without \
                 one (\"Found a match ... but no valid date/time found\"), so this log gives \
                 the jail no failures",
                lines.len(),
                file.display(),
                quote(lines[0])
            ),
            "set `datepattern` in the jail or the filter's .local to the format of these \
             lines (test with `gaoler regex LOG FILTER`), or `datepattern = {NONE}` if the \
             lines carry no date at all (each then counts at the time it is read)",
        )
        .at(at),
    );
}
