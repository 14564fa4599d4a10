//! `continuation-unindented`: a line meant to continue a multi-line value
//! (another failregex, another logpath) written at the start of the line.
//!
//! In fail2ban's INI dialect a value continues only on indented lines; a
//! line at column 0 starts a new option. So
//!
//! ```text
//! failregex = ^first <HOST>$
//! ^second <HOST>$
//! ```
//!
//! defines `failregex` with one regex and an option named `^second <HOST>$`
//! (configparser accepts options without a value, and splits at the first
//! `=` or `:`, so `^x\.c:\d+ y` is an option `^x\.c` with a value). Nothing
//! reads that option: the second regex is silently dropped, and neither
//! fail2ban nor its `-t` says so. Web pages and mail lose indentation, so
//! configuration copied from a guide (the FreeSWITCH guide's
//! `filter.d/freeswitch.local` is one) often looks like this.
//!
//! An option name is a word (`failregex`, `_daemon`, `fs-normal`,
//! `blocktype?family`, `known/chain`); a name that starts with `^` or `/`,
//! or holds a backslash, a blank or a bracket, is a regex or a path that
//! lost its indentation.

use std::collections::BTreeSet;
use std::path::PathBuf;

use gaoler_config::Origin;

use super::Ctx;
use crate::finding::{Finding, Level};
use crate::model::JailView;

/// Does `key` (the text before the first `=`/`:`) look like a regex or a
/// path rather than an option name?
fn not_a_name(key: &str) -> bool {
    let key = key.trim();
    key.starts_with('^')
        || key.starts_with('/')
        || key
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || matches!(c, '[' | '(' | '"' | '$'))
}

/// Each line at column 0 of `text` that reads as an option whose name is
/// not a name: (line number, the line, the option it probably continues).
fn unindented(text: &str) -> Vec<(usize, String, Option<String>)> {
    let mut out = Vec::new();
    let mut last_key: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_end();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            last_key = None;
            continue;
        }
        let key = match t.find(['=', ':']) {
            Some(p) => &t[..p],
            None => t,
        };
        if not_a_name(key) {
            out.push((i + 1, t.to_string(), last_key.clone()));
        } else {
            last_key = Some(key.trim().to_string());
        }
    }
    out
}

/// The files a jail is read from: its filter's files and the jail files.
fn files(ctx: &Ctx<'_>, jail: &JailView<'_>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = jail
        .filter_name()
        .map(|n| ctx.filter_files(&n).to_vec())
        .unwrap_or_default();
    if let Some(set) = ctx.jail_set() {
        files.extend(set.files.iter().cloned());
    }
    files
}

/// Checks the files of every jail, each file once.
pub(crate) fn check(ctx: &Ctx<'_>, jails: &[JailView<'_>], out: &mut Vec<Finding>) {
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    for jail in jails {
        for file in files(ctx, jail) {
            if !seen.insert(file.clone()) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for (line, text, continues) in unindented(&text) {
                let what = match &continues {
                    Some(k) => format!("another line of `{k}` above"),
                    None => "part of the option above".to_string(),
                };
                out.push(
                    Finding::new(
                        Level::Error,
                        "continuation-unindented",
                        None,
                        format!(
                            "`{text}` starts at the beginning of the line, so it is read as a new \
                             option (named by its text up to the first `=` or `:`), not as {what}: \
                             a value continues only on indented lines. Nothing reads that option, \
                             so this line is silently dropped, and fail2ban's -t does not say so"
                        ),
                        "indent the line (a few spaces, like the other lines of the value) to \
                         make it part of the value above",
                    )
                    .at(Some(&Origin {
                        file: file.clone(),
                        line,
                    })),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_guides_lost_indentation() {
        let text = "[Definition]\nfailregex = ^\\.\\d+ \\[WARNING\\] x from ip <HOST>$\n\
                    ^\\.\\d+ \\[WARNING\\] sofia_reg\\.c:\\d+ Can't find user from <HOST>$\n\
                    \\\"FAIL2BAN_HOST=<HOST>\\\"\n";
        let found = unindented(text);
        assert_eq!(
            found.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec![3, 4],
            "{found:?}"
        );
        assert_eq!(found[0].2.as_deref(), Some("failregex"));
    }

    #[test]
    fn indented_lines_and_real_names_pass() {
        let text = "[Definition]\nfailregex = ^a <HOST>$\n            ^b <HOST>$\n\
                    blocktype?family=inet6 = DROP\nknown/chain = INPUT\n_daemon = sshd\n\
                    fs-normal = x\n# ^comment\n[Init]\nname = default\n";
        assert!(unindented(text).is_empty());
    }

    #[test]
    fn a_path_at_column_zero_is_a_lost_logpath_line() {
        let text = "[sshd]\nlogpath = /var/log/auth.log\n/var/log/secure\n";
        let found = unindented(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].2.as_deref(), Some("logpath"));
    }
}
