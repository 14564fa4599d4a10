//! The configuration as the checks see it: one [`JailView`] per jail,
//! made of what the server will be told (the command stream) and where
//! each value was written (the reader's origins).
//!
//! Values come from the stream because it is the contract: it is exactly
//! what the server applies, after every `.local`, `%(x)s` and `<tag>` was
//! resolved, so a check never re-implements the reader's layering.
//! Places come from the reader (`JailReader::option_origin`), which knows
//! the file and line of an option's *first* line only; for multi-line
//! values (failregex lists, logpath lists) [`ValueLines`] reads the file
//! again and finds the line each value was written on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gaoler_config::reader::{ConfigRead, JailReader};
use gaoler_config::{Command, Origin};
use gaoler_filter::FilterOptions;
use serde_json::Value as Json;

/// One action of a jail.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActionView {
    /// Its name in the jail (`actname`).
    pub name: String,
    /// For a Python action: the `.py` file.
    pub python: Option<String>,
    /// Its properties (`actionban`, `[Init]` values, ...).
    pub props: Vec<(String, String)>,
    /// The `action.d` file it was read from, when known.
    pub file: Option<String>,
}

/// One jail.
pub(crate) struct JailView<'a> {
    pub name: String,
    pub reader: &'a JailReader,
    /// The backend from `["add", jail, backend]`.
    pub backend: String,
    /// The filter part, as the server applies it (last value wins).
    pub filter: FilterOptions,
    pub actions: Vec<ActionView>,
    pub ignoreip: Vec<String>,
    /// Other `["set", jail, key, value]` values.
    pub settings: HashMap<String, Json>,
    /// `["set", jail, "addlogpath", path, ...]`: log files found.
    pub logpaths: Vec<String>,
}

impl JailView<'_> {
    /// Where option `name` of this jail was written.
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.reader.option_origin(name)
    }

    /// A `set` value as text.
    pub fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).map(json_text)
    }

    /// The jail option `name` as the reader read it (before conversion).
    pub fn option(&self, name: &str) -> Option<String> {
        self.reader
            .option(name)
            .filter(|v| !v.is_null())
            .map(gaoler_config::Value::to_py_string)
    }

    /// The filter's name (`sshd` for `sshd[mode=aggressive]`).
    pub fn filter_name(&self) -> Option<String> {
        let f = self.option("filter")?;
        let name = f.split('[').next().unwrap_or("").trim().to_string();
        (!name.is_empty()).then_some(name)
    }

    /// Whether the backend reads the journal rather than files.
    pub fn is_journal(&self) -> bool {
        backend_name(&self.backend) == "systemd"
    }
}

/// `systemd` for `systemd[journalflags=1]`, lower-cased.
pub(crate) fn backend_name(backend: &str) -> String {
    backend
        .split('[')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A stream value as text (`true` for a bool, digits for a number).
pub(crate) fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// The jails of a read configuration, in stream order; jails the reader
/// refused (no stream) are left out (see `checks::config_errors`).
pub(crate) fn jails(read: &ConfigRead) -> Vec<JailView<'_>> {
    let mut out: Vec<JailView<'_>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for cmd in &read.stream {
        let words = cmd.to_json();
        let c = &words;
        let word = |i: usize| c.get(i).and_then(Json::as_str);
        let (Some(kind), Some(jail)) = (word(0), word(1)) else {
            continue;
        };
        if kind == "add" {
            let Some(reader) = read.jails.iter().find(|j| j.name == jail) else {
                continue;
            };
            index.insert(jail.to_string(), out.len());
            out.push(JailView {
                name: jail.to_string(),
                reader,
                backend: word(2).unwrap_or("auto").to_string(),
                filter: FilterOptions::default(),
                actions: Vec::new(),
                ignoreip: Vec::new(),
                settings: HashMap::new(),
                logpaths: Vec::new(),
            });
            continue;
        }
        let Some(&i) = index.get(jail) else { continue };
        apply(&mut out[i], kind, c, cmd);
    }
    for j in &mut out {
        let files = action_files(j.reader);
        // one entry of the `action` option per action of the stream, in order
        if files.len() == j.actions.len() {
            for (a, f) in j.actions.iter_mut().zip(files) {
                a.file = Some(f);
            }
        }
    }
    out
}

/// The file names of a jail's `action` entries (`iptables` for
/// `iptables[name=SSH]`), in order.
fn action_files(reader: &JailReader) -> Vec<String> {
    let Some(v) = reader.option("action") else {
        return Vec::new();
    };
    gaoler_config::options::split_with_options(&v.to_py_string())
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .filter_map(|a| gaoler_config::options::extract_options(a).ok())
        .map(|(name, _)| name)
        .collect()
}

fn apply(j: &mut JailView<'_>, kind: &str, c: &Command, cmd: &gaoler_command::Command) {
    let Some(key) = c.get(2).and_then(Json::as_str) else {
        return;
    };
    let values: Vec<String> = match (kind, c.get(3)) {
        ("multi-set", Some(Json::Array(a))) if key != "action" => a.iter().map(json_text).collect(),
        ("set", _) => c[3..].iter().map(json_text).collect(),
        _ => Vec::new(),
    };
    // The filter's options, read as the server reads them (a value it
    // would refuse is left out here: `config-error` reports it).
    if let gaoler_command::Command::Set {
        target: gaoler_command::Set::Jail { option, .. },
        ..
    } = cmd
    {
        if j.filter.apply(option).unwrap_or(true) {
            return;
        }
    }
    match key {
        "addignoreip" => j.ignoreip.extend(values),
        "addlogpath" => j.logpaths.extend(values.into_iter().take(1)),
        "addaction" => {
            let mut a = ActionView {
                name: values.first().cloned().unwrap_or_default(),
                ..ActionView::default()
            };
            if values.len() >= 2 {
                a.python = Some(values[1].clone());
            }
            j.actions.push(a);
        }
        "action" => {
            let Some(name) = c.get(3).and_then(Json::as_str) else {
                return;
            };
            let Some(a) = j.actions.iter_mut().rev().find(|a| a.name == name) else {
                return;
            };
            match (kind, c.get(4)) {
                ("multi-set", Some(Json::Array(pairs))) => {
                    for p in pairs {
                        if let (Some(k), Some(v)) = (p.get(0).and_then(Json::as_str), p.get(1)) {
                            a.props.push((k.to_string(), json_text(v)));
                        }
                    }
                }
                ("set", Some(Json::String(k))) => {
                    let v = c.get(5).map(json_text).unwrap_or_default();
                    a.props.push((k.clone(), v));
                }
                _ => {}
            }
        }
        _ => {
            if kind == "set" && c.len() == 4 {
                j.settings.insert(key.to_string(), c[3].clone());
            }
        }
    }
}

/// The physical lines of a multi-line option, each with the text it
/// contributes to the value, so that one value of a list can be placed
/// on the line it was written on.
pub(crate) struct ValueLines {
    file: PathBuf,
    lines: Vec<(usize, String)>,
    used: Vec<bool>,
    /// Where the option starts (the fallback place).
    first: Origin,
}

impl ValueLines {
    /// The lines of the option starting at `origin`. A file that cannot be
    /// read again gives only the option's first line.
    pub fn new(origin: &Origin) -> ValueLines {
        let lines = std::fs::read_to_string(&origin.file)
            .map(|t| option_block(&t, origin.line))
            .unwrap_or_default();
        let used = vec![false; lines.len()];
        ValueLines {
            file: origin.file.clone(),
            lines,
            used,
            first: origin.clone(),
        }
    }

    /// The place of the first not yet placed line whose text is `value`,
    /// and `true`; else the option's first line and `false` (a value made
    /// by `%(x)s` or `<tag>` interpolation is nowhere written as it is).
    pub fn place(&mut self, value: &str) -> (Origin, bool) {
        let value = value.trim();
        for (i, (n, text)) in self.lines.iter().enumerate() {
            if !self.used[i] && text == value {
                self.used[i] = true;
                let at = Origin {
                    file: self.file.clone(),
                    line: *n,
                };
                return (at, true);
            }
        }
        (self.first.clone(), false)
    }
}

/// Value lines of the option on line `line` (1-based) of `text`, with the
/// INI reader's rules: continuation lines are indented deeper than the
/// option's line, comment lines and blank lines inside are skipped, an
/// inline comment starts at a `;` after whitespace.
pub(crate) fn option_block(text: &str, line: usize) -> Vec<(usize, String)> {
    let all: Vec<&str> = text.lines().collect();
    let Some(first) = line.checked_sub(1).and_then(|i| all.get(i)) else {
        return Vec::new();
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(first);
    let mut out = Vec::new();
    if let Some(pos) = first.find(['=', ':']) {
        out.push((line, strip_comment(&first[pos + 1..]).to_string()));
    }
    for (i, l) in all.iter().enumerate().skip(line) {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if indent(l) <= base {
            break;
        }
        out.push((i + 1, strip_comment(l).to_string()));
    }
    out
}

/// The value part of a line without its inline comment, stripped.
fn strip_comment(s: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in s.char_indices() {
        if c == ';' && prev_ws {
            return s[..i].trim();
        }
        prev_ws = c.is_whitespace();
    }
    s.trim()
}

/// The files a filter is read from (`NAME.conf`, `NAME.local`, their
/// includes), for placing a value its jail's origin does not cover.
pub(crate) fn filter_files(basedir: &Path, name: &str) -> Vec<PathBuf> {
    gaoler_config::ConfigSet::read(basedir, &format!("filter.d/{name}"))
        .ok()
        .flatten()
        .map(|s| s.files)
        .unwrap_or_default()
}

/// The first line in `files` (searched last file first: later files win)
/// whose value text is `value`, as an option's value or a continuation.
pub(crate) fn find_value(files: &[PathBuf], value: &str) -> Option<Origin> {
    let value = value.trim();
    for f in files.iter().rev() {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (i, l) in text.lines().enumerate() {
            let t = strip_comment(l);
            // an option line holds `key = value`; a continuation only a value
            let v = match t.find(['=', ':']) {
                Some(p) if !l.starts_with(char::is_whitespace) => t[p + 1..].trim(),
                _ => t,
            };
            if v == value {
                return Some(Origin {
                    file: f.clone(),
                    line: i + 1,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_block_follows_continuations() {
        let text = "[Definition]\nfailregex = ^a <HOST>$\n# note\n\n            ^b <HOST>$ ; why\n  ^c;d\nignoreregex =\n";
        assert_eq!(
            option_block(text, 2),
            [
                (2, "^a <HOST>$".to_string()),
                (5, "^b <HOST>$".to_string()),
                (6, "^c;d".to_string())
            ]
        );
        assert_eq!(option_block(text, 7), [(7, String::new())]);
        assert!(option_block(text, 99).is_empty());
    }

    #[test]
    fn value_lines_place_each_value_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f.local");
        std::fs::write(&p, "[Definition]\nfailregex = x\n  y\n  x\n").expect("write");
        let mut v = ValueLines::new(&Origin {
            file: p.clone(),
            line: 2,
        });
        assert_eq!(v.place("x").0.line, 2);
        assert_eq!(v.place("x").0.line, 4);
        assert_eq!(v.place("y").0.line, 3);
        assert_eq!(v.place("z"), (v.first.clone(), false));
        assert_eq!(
            find_value(std::slice::from_ref(&p), "y").map(|o| o.line),
            Some(3)
        );
        assert_eq!(find_value(&[p], "x").map(|o| o.line), Some(2));
    }
}
