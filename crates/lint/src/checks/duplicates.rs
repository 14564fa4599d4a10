//! `jail-enabled-twice` and `jail-same-log`: one jail turned on in two
//! files, and two jails counting the same failures.
//!
//! fail2ban reads `jail.conf`, `jail.d/*.conf` (sorted), `jail.local`,
//! `jail.d/*.local` (sorted), and for each option the last file that sets
//! it wins. A jail enabled in two of them works, but its settings are
//! split: whoever edits the first file sees values the second overrides.
//! The reading order is the config reader's own (`ConfigSet::read`, so
//! `[INCLUDES]` count too); each file is parsed on its own to find where
//! it says `enabled = true`.
//!
//! Two enabled jails that read the same log file with the same filter
//! count every failure twice and ban twice (two firewall rules, two
//! mails, two unbans to forget). The log files compared are the ones the
//! jails' globs expand to; "the same filter" means a failregex (and
//! prefregex) in common, since one filter file in two modes (postfix and
//! postfix-sasl) may share no failregex and then counts nothing twice.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gaoler_config::ini::DEFAULT_SECTION;
use gaoler_config::value::as_bool;
use gaoler_config::Origin;

use super::Ctx;
use crate::finding::{Finding, Level};
use crate::model::JailView;

/// Runs the checks over all jails.
pub(crate) fn check(ctx: &Ctx<'_>, jails: &[JailView<'_>], out: &mut Vec<Finding>) {
    enabled_twice(ctx, jails, out);
    same_log(ctx, jails, out);
}

fn enabled_twice(ctx: &Ctx<'_>, jails: &[JailView<'_>], out: &mut Vec<Finding>) {
    let Some(set) = ctx.jail_set() else {
        return;
    };
    let files = &set.files;
    let mut enabled: BTreeMap<String, Vec<Origin>> = BTreeMap::new();
    for f in files {
        let Ok(Some(ini)) = gaoler_config::ini::read_file(f) else {
            continue;
        };
        for (section, opts) in &ini.sections {
            if section == DEFAULT_SECTION || section == "INCLUDES" {
                continue;
            }
            let Some(e) = opts.get("enabled") else {
                continue;
            };
            if as_bool(e.value.trim()) {
                enabled.entry(section.clone()).or_default().push(Origin {
                    file: f.clone(),
                    line: e.origin.as_ref().map_or(0, |o| o.line),
                });
            }
        }
    }
    for (jail, places) in enabled {
        if places.len() < 2 || !jails.iter().any(|j| j.name == jail) {
            continue;
        }
        let list: Vec<String> = places.iter().map(ToString::to_string).collect();
        let (first, last) = (&places[0], &places[places.len() - 1]);
        out.push(
            Finding::new(
                Level::Warning,
                "jail-enabled-twice",
                Some(&jail),
                format!(
                    "[{jail}] is enabled in {}: fail2ban reads jail.conf, jail.d/*.conf, \
                     jail.local, then jail.d/*.local, and for every option set in more than \
                     one of them the last wins, here {} (edits to the same options in {} have \
                     no effect)",
                    list.join(" and "),
                    last.file.display(),
                    first.file.display()
                ),
                format!(
                    "keep [{jail}] in one file ({}) and remove the section from the others",
                    last.file.display()
                ),
            )
            .at(Some(first)),
        );
    }
}

fn same_log(ctx: &Ctx<'_>, jails: &[JailView<'_>], out: &mut Vec<Finding>) {
    // each enabled file jail's log files, as the globs expand
    let files: Vec<Vec<PathBuf>> = jails
        .iter()
        .map(|j| {
            if j.is_journal() || !j.reader.is_enabled() {
                return Vec::new();
            }
            let mut f: Vec<PathBuf> = ctx
                .log_files(j)
                .into_iter()
                .flat_map(|lp| lp.files)
                .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
                .collect();
            f.sort();
            f.dedup();
            f
        })
        .collect();
    for (k, second) in jails.iter().enumerate() {
        // the first earlier jail on a same file counting a same failure
        let earlier = (0..k).find_map(|i| {
            let file = files[k].iter().find(|f| files[i].contains(f))?;
            let first = &jails[i];
            let shared = second
                .filter
                .failregex
                .iter()
                .filter(|r| first.filter.failregex.contains(r))
                .count();
            (shared > 0 && first.filter.prefregex == second.filter.prefregex)
                .then_some((first, file, shared))
        });
        let Some((first, file, shared)) = earlier else {
            continue;
        };
        let filter = second.filter_name().unwrap_or_else(|| "?".into());
        out.push(
            Finding::new(
                Level::Warning,
                "jail-same-log",
                Some(&second.name),
                format!(
                    "jails {} and {} both read {} with filter {filter} ({shared} failregex{} in \
                     common): each such failure is counted by both and each jail bans on its \
                     own (two firewall rules, two mails, two unbans)",
                    first.name,
                    second.name,
                    file.display(),
                    if shared == 1 { "" } else { "es" }
                ),
                "disable one of them; for a stronger response to repeat offenders use \
                 `bantime.increment` or the recidive jail",
            )
            .at(second.origin("logpath")),
        );
    }
}
