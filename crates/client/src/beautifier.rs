//! fail2ban-client's output: turn a command and its result into the text
//! fail2ban prints, byte for byte.
//!
//! The server answers with plain data (lists of pairs, lists of strings,
//! numbers); which text to print depends on the command that was sent, so
//! the formatter looks at both. Everything it has no special format for is
//! printed as Python would print the value ([`gaoler_py::repr`]). A result
//! whose shape does not fit the command (a server bug or a newer server)
//! falls back to that plain form instead of failing.
//!
//! Layouts follow fail2ban 1.1 (`status --all`, the `stats` table) and
//! were checked against Debian's fail2ban 1.0.2 for everything 1.0.2 has
//! (see `tests/beautifier.rs` and its captured fixtures).

use gaoler_protocol::RemoteError;
use serde_json::{Map, Value};

use gaoler_py::repr::{py_str, repr};

/// The formatter. `utf8` selects the box-drawing characters of the `stats`
/// table (fail2ban uses them when its standard output is UTF-8).
#[derive(Debug, Clone, Copy)]
pub struct Beautifier {
    /// Draw the `stats` table with box-drawing characters.
    pub utf8: bool,
}

impl Default for Beautifier {
    fn default() -> Self {
        Beautifier {
            utf8: locale_is_utf8(),
        }
    }
}

/// Whether the locale's character set is UTF-8. Python 3 treats the C and
/// POSIX locales as UTF-8 (PEP 538/540), so only an explicit other
/// character set (`en_US.ISO-8859-1`) selects the ASCII table.
pub fn locale_is_utf8() -> bool {
    if let Ok(enc) = std::env::var("PYTHONIOENCODING") {
        if !enc.is_empty() {
            let e = enc.to_ascii_lowercase();
            return e.starts_with("utf-8") || e.starts_with("utf8");
        }
    }
    for var in ["LC_ALL", "LC_CTYPE", "LANG"] {
        if let Ok(v) = std::env::var(var) {
            if v.is_empty() {
                continue;
            }
            let Some((_, charset)) = v.split_once('.') else {
                return true;
            };
            let cs = charset.split('@').next().unwrap_or("").to_ascii_lowercase();
            return cs == "utf-8" || cs == "utf8";
        }
    }
    true
}

impl Beautifier {
    /// A formatter that draws with box characters when `utf8`.
    pub fn new(utf8: bool) -> Beautifier {
        Beautifier { utf8 }
    }

    /// The text fail2ban-client prints for a successful `cmd`.
    pub fn beautify(&self, cmd: &[Value], resp: &Value) -> String {
        match self.format(cmd, resp) {
            Some(s) => s,
            None => {
                tracing::debug!("result {resp} does not fit command {cmd:?}; printed as is");
                py_str(resp)
            }
        }
    }

    /// The text fail2ban-client prints for a failed `cmd`.
    pub fn beautify_error(&self, _cmd: &[Value], err: &RemoteError) -> String {
        match err.kind.as_str() {
            "UnknownJailException" => {
                format!("Sorry but the jail '{}' does not exist", err.message)
            }
            "IndexError" => "Sorry but the command is invalid".into(),
            "DuplicateJailException" => format!("The jail '{}' already exists", err.message),
            // (Python's str() of a KeyError is the repr of its argument)
            "KeyError" => repr(&Value::String(err.message.clone())),
            _ => err.message.clone(),
        }
    }

    fn format(&self, cmd: &[Value], resp: &Value) -> Option<String> {
        let w = |i: usize| cmd.get(i).and_then(Value::as_str);
        let c0 = w(0)?;
        match c0 {
            "ping" => return Some(format!("Server replied: {}", resp.as_str()?)),
            "version" => return Some(py_str(resp)),
            "start" => return Some("Jail started".into()),
            "stop" => {
                return Some(match (resp, cmd.len()) {
                    (Value::Null, 1) => "Shutdown successful".into(),
                    (Value::Null, _) => "Jail stopped".into(),
                    _ => py_str(resp),
                })
            }
            "add" => return Some(format!("Added jail {}", resp.as_str()?)),
            "flushlogs" => return Some(format!("logs: {}", resp.as_str()?)),
            "echo" => return Some(join(resp.as_array()?, " ")),
            "status" => {
                return if cmd.len() > 1 && w(1) != Some("--all") {
                    let mut out = vec![format!("Status for the jail: {}", py_str(&cmd[1]))];
                    jail_status(&mut out, resp.as_array()?, "")?;
                    Some(out.join("\n"))
                } else {
                    general_status(resp, cmd.len() > 1)
                };
            }
            "stats" | "statistic" | "statistics" => return self.stats(resp),
            _ => {}
        }
        if cmd.len() < 2 {
            return Some(py_str(resp));
        }
        match w(1) {
            Some("syslogsocket") => {
                return Some(format!("Current syslog socket is:\n`- {}", resp.as_str()?))
            }
            Some("logtarget") => {
                return Some(format!("Current logging target is:\n`- {}", resp.as_str()?))
            }
            Some("loglevel") => {
                let name = match resp {
                    Value::Number(n) => Value::from(level_name(n.as_i64()?)),
                    other => other.clone(),
                };
                return Some(format!("Current logging level is {}", repr(&name)));
            }
            Some("dbfile") => {
                return Some(match resp {
                    Value::Null => "Database currently disabled".into(),
                    v => format!("Current database file is:\n`- {}", v.as_str()?),
                })
            }
            Some("dbpurgeage") => {
                return Some(match resp {
                    Value::Null => "Database currently disabled".into(),
                    v => {
                        // `%i` truncates floats.
                        let secs = v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))?;
                        format!("Current database purge age is:\n`- {secs}seconds")
                    }
                });
            }
            _ => {}
        }
        if cmd.len() < 3 {
            return Some(py_str(resp));
        }
        let what = w(2);
        Some(match what {
            Some("logpath" | "addlogpath" | "dellogpath") => tree_list(
                resp.as_array()?,
                "No file is currently monitored",
                "Current monitored log file(s):",
            ),
            Some("logencoding") => {
                format!("Current log encoding is set to:\n{}", resp.as_str()?)
            }
            Some("journalmatch" | "addjournalmatch" | "deljournalmatch") => {
                let matches = resp.as_array()?;
                if matches.is_empty() {
                    "No journal match filter set".into()
                } else {
                    let parts: Option<Vec<String>> = matches
                        .iter()
                        .map(|m| m.as_array().map(|a| join(a, " ")))
                        .collect();
                    format!("Current match filter:\n{}", parts?.join(" + "))
                }
            }
            Some("datepattern") => {
                let text = match resp {
                    Value::Null => "Not set/required".to_string(),
                    Value::Array(a) if a.len() == 2 => match &a[0] {
                        Value::Null => py_str(&a[1]),
                        p => format!("{} ({})", py_str(p), py_str(&a[1])),
                    },
                    _ => return None,
                };
                format!("Current date pattern set to: {text}")
            }
            Some("ignoreip" | "addignoreip" | "delignoreip") => tree_list(
                resp.as_array()?,
                "No IP address/network is ignored",
                "These IP addresses/networks are ignored:",
            ),
            Some(
                "failregex" | "addfailregex" | "delfailregex" | "ignoreregex" | "addignoreregex"
                | "delignoreregex",
            ) => {
                let list = resp.as_array()?;
                if list.is_empty() {
                    "No regular expression is defined".into()
                } else {
                    let mut out = String::from("The following regular expression are defined:");
                    for (i, r) in list.iter().enumerate() {
                        let mark = if i + 1 == list.len() { "`-" } else { "|-" };
                        out.push_str(&format!("\n{mark} [{i}]: {}", py_str(r)));
                    }
                    out
                }
            }
            Some("actions") => {
                let list = resp.as_array()?;
                let jail = py_str(&cmd[1]);
                if list.is_empty() {
                    format!("No actions for jail {jail}")
                } else {
                    format!(
                        "The jail {jail} has the following actions:\n{}",
                        join(list, ", ")
                    )
                }
            }
            Some(kind @ ("actionproperties" | "actionmethods")) => {
                let noun = if kind == "actionproperties" {
                    "properties"
                } else {
                    "methods"
                };
                let list = resp.as_array()?;
                let jail = py_str(&cmd[1]);
                let action = py_str(cmd.get(3)?);
                if list.is_empty() {
                    format!("No {noun} for jail {jail} action {action}")
                } else {
                    format!(
                        "The jail {jail} action {action} has the following {noun}:\n{}",
                        join(list, ", ")
                    )
                }
            }
            Some("banip") if c0 == "get" => match resp {
                Value::Array(list) => {
                    let sep = match cmd.get(3) {
                        None => " ".to_string(),
                        Some(v) if v.as_str() == Some("--with-time") => "\n".into(),
                        Some(v) => py_str(v),
                    };
                    join(list, &sep)
                }
                other => py_str(other),
            },
            _ => py_str(resp),
        })
    }

    /// The `stats` table.
    fn stats(&self, resp: &Value) -> Option<String> {
        let jails = resp.as_object()?;
        if jails.is_empty() {
            return Some("No jails found.".into());
        }
        // Box characters: column separator, horizontal rule, header joint,
        // header cross, body cross, bottom joint, sub-column separator,
        // thin rule.
        let ct: [&str; 8] = if self.utf8 {
            [
                "\u{2551}", "\u{2550}", "\u{255F}", "\u{256B}", "\u{256C}", "\u{2569}", "\u{2502}",
                "\u{2500}",
            ]
        } else {
            ["|", "-", "|", "x", "x", "-", "|", "-"]
        };
        let rows: Vec<[String; 6]> = jails
            .iter()
            .map(|(name, r)| {
                let r = r.as_array()?;
                let f = r.get(1)?.as_array()?;
                let b = r.get(2)?.as_array()?;
                Some([
                    name.clone(),
                    py_str(r.first()?),
                    py_str(f.first()?),
                    py_str(f.get(1)?),
                    py_str(b.first()?),
                    py_str(b.get(1)?),
                ])
            })
            .collect::<Option<_>>()?;
        let minlens = [8usize, 8, 3, 3, 3, 3];
        let mut lens = minlens;
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                lens[i] = lens[i].max(cell.chars().count());
            }
        }
        let left = |s: &str, n: usize| format!("{s:<n$}");
        let right = |s: &str, n: usize| format!("{s:>n$}");
        let sep = format!(" {} ", ct[0]);
        let line = |cells: [&str; 6]| -> String {
            [
                left(cells[0], lens[0]),
                left(cells[1], lens[1]),
                format!(
                    "{} {} {}",
                    right(cells[2], lens[2]),
                    ct[6],
                    right(cells[3], lens[3])
                ),
                format!(
                    "{} {} {}",
                    right(cells[4], lens[4]),
                    ct[6],
                    right(cells[5], lens[5])
                ),
            ]
            .join(&sep)
        };
        let tlens = [
            lens[0],
            lens[1],
            3 + lens[2] + lens[3],
            3 + lens[4] + lens[5],
        ];
        let rule = |c: &str, joint: &str| -> String {
            let parts: Vec<String> = tlens.iter().map(|n| c.repeat(*n)).collect();
            format!("{c}{}{c}", parts.join(&format!("{c}{joint}{c}")))
        };
        let mut out = Vec::new();
        out.push(format!(
            " {}",
            [
                left("", tlens[0]),
                left("", tlens[1]),
                left("Filter", tlens[2]),
                left("Actions", tlens[3]),
            ]
            .join(&sep)
        ));
        let thin: Vec<String> = tlens[2..].iter().map(|n| ct[7].repeat(*n)).collect();
        out.push(format!(
            " {} {}{}{}{}",
            [left("Jail", tlens[0]), left("Backend", tlens[1])].join(&sep),
            ct[2],
            ct[7],
            thin.join(&format!("{}{}{}", ct[7], ct[3], ct[7])),
            ct[7]
        ));
        out.push(format!(" {}", line(["", "", "cur", "tot", "cur", "tot"])));
        out.push(rule(ct[1], ct[4]));
        for r in &rows {
            out.push(format!(
                " {}",
                line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]])
            ));
        }
        out.push(rule(ct[1], ct[5]));
        Some(out.join("\n"))
    }
}

/// `" ".join(map(str, list))`.
fn join(list: &[Value], sep: &str) -> String {
    list.iter().map(py_str).collect::<Vec<_>>().join(sep)
}

/// `|- a` / `` `- b `` under a title, or the `empty` text.
fn tree_list(list: &[Value], empty: &str, title: &str) -> String {
    if list.is_empty() {
        return empty.into();
    }
    let mut out = String::from(title);
    for (i, v) in list.iter().enumerate() {
        let mark = if i + 1 == list.len() { "`-" } else { "|-" };
        out.push_str(&format!("\n{mark} {}", py_str(v)));
    }
    out
}

/// A value in a status line: lists joined by spaces.
fn status_value(v: &Value) -> String {
    match v {
        Value::Array(a) => join(a, " "),
        other => py_str(other),
    }
}

/// The two-level tree of one jail's status, each line prefixed by `pref`.
fn jail_status(out: &mut Vec<String>, sections: &[Value], pref: &str) -> Option<()> {
    for (n, sec) in sections.iter().enumerate() {
        let sec = sec.as_array()?;
        let last = n + 1 == sections.len();
        out.push(format!(
            "{pref}{} {}",
            if last { "`-" } else { "|-" },
            py_str(sec.first()?)
        ));
        let inner = format!("{pref}{}", if last { "   " } else { "|  " });
        let items = sec.get(1)?.as_array()?;
        for (m, item) in items.iter().enumerate() {
            let item = item.as_array()?;
            let mark = if m + 1 == items.len() { "`-" } else { "|-" };
            out.push(format!(
                "{inner}{mark} {}:\t{}",
                py_str(item.first()?),
                status_value(item.get(1)?)
            ));
        }
    }
    Some(())
}

/// `status` and `status --all`: the general block, then (with `--all`) a
/// dict of jail statuses as the last element.
fn general_status(resp: &Value, all: bool) -> Option<String> {
    let items = resp.as_array()?;
    let (items, jails): (&[Value], Option<&Map<String, Value>>) = if all {
        let (last, rest) = items.split_last()?;
        (rest, Some(jails_dict(last)?))
    } else {
        (items, None)
    };
    // An empty dict of jails is printed like plain `status`.
    let jails = jails.filter(|j| !j.is_empty());
    let mut out = vec!["Status".to_string()];
    for (n, item) in items.iter().enumerate() {
        let item = item.as_array()?;
        let last = jails.is_none() && n + 1 == items.len();
        let key = py_str(item.first()?);
        let value = item.get(1)?;
        if key == FAILED_JAILS {
            failed_jails(&mut out, value.as_array()?, last)?;
            continue;
        }
        out.push(format!(
            "{} {key}:\t{}",
            if last { "`-" } else { "|-" },
            status_value(value)
        ));
    }
    if let Some(jails) = jails {
        out.push("`- Status for the jails:".into());
        for (i, (name, st)) in jails.iter().enumerate() {
            let last = i + 1 == jails.len();
            out.push(format!(
                "   {} Jail: {name}",
                if last { "`-" } else { "|-" }
            ));
            jail_status(
                &mut out,
                st.as_array()?,
                if last { "      " } else { "   |  " },
            )?;
        }
    }
    Some(out.join("\n"))
}

/// The item gaoler adds to the general status when jails were refused at
/// start (absent otherwise, so the normal output is fail2ban's).
const FAILED_JAILS: &str = "Failed jails";

/// `Failed jails:` with the names, then one line per jail with the reason
/// (a tab after each colon, as in fail2ban's other status lines):
///
/// ```text
/// `- Failed jails: apache-auth, sshd
///    |- apache-auth: /etc/gaoler/jail.local:12: [apache-auth] findtime: ...
///    `- sshd: ...
/// ```
fn failed_jails(out: &mut Vec<String>, list: &[Value], last: bool) -> Option<()> {
    let pairs: Vec<(String, String)> = list
        .iter()
        .map(|p| {
            let p = p.as_array()?;
            // One line per jail, whatever the error text holds.
            let reason: String = py_str(p.get(1)?)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Some((py_str(p.first()?), reason))
        })
        .collect::<Option<_>>()?;
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    out.push(format!(
        "{} {FAILED_JAILS}:\t{}",
        if last { "`-" } else { "|-" },
        names.join(", ")
    ));
    let inner = if last { "   " } else { "|  " };
    for (i, (name, reason)) in pairs.iter().enumerate() {
        let mark = if i + 1 == pairs.len() { "`-" } else { "|-" };
        out.push(format!("{inner}{mark} {name}:\t{reason}"));
    }
    Some(())
}

/// The jail dict that ends a `status --all` result. fail2ban appends the
/// dict itself; a `["Status for the jails", {…}]` pair is accepted too.
pub fn jails_dict(v: &Value) -> Option<&Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        Value::Array(p) if p.len() == 2 && p[0].is_string() => p[1].as_object(),
        _ => None,
    }
}

/// Python logging's name for a numeric level, with fail2ban's additions.
pub fn level_name(n: i64) -> String {
    match n {
        0 => "NOTSET".into(),
        5 => "HEAVY".into(),
        7 => "TRACE".into(),
        10 => "DEBUG".into(),
        18 => "MSG".into(),
        20 => "INFO".into(),
        25 => "NOTICE".into(),
        30 => "WARNING".into(),
        40 => "ERROR".into(),
        50 => "CRITICAL".into(),
        1..=49 => format!("#{n:02}-Lev."),
        _ => format!("Level {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(cmd: &[&str], resp: Value) -> String {
        let cmd: Vec<Value> = cmd.iter().map(|s| json!(s)).collect();
        Beautifier::new(true).beautify(&cmd, &resp)
    }

    #[test]
    fn shape_mismatch_falls_back() {
        assert_eq!(b(&["status"], json!("weird")), "weird");
        assert_eq!(b(&["get", "j", "logpath"], json!(3)), "3");
        assert_eq!(b(&["ping"], json!(1)), "1");
    }

    #[test]
    fn loglevel_numbers() {
        assert_eq!(
            b(&["get", "loglevel"], json!(20)),
            "Current logging level is 'INFO'"
        );
        assert_eq!(
            b(&["get", "loglevel"], json!(7)),
            "Current logging level is 'TRACE'"
        );
        assert_eq!(
            b(&["get", "loglevel"], json!(3)),
            "Current logging level is '#03-Lev.'"
        );
        assert_eq!(
            b(&["set", "loglevel", "DEBUG"], json!("DEBUG")),
            "Current logging level is 'DEBUG'"
        );
    }
}
