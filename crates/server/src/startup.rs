//! Starting from a configuration: which jails can start, which are
//! refused and why, so that a start never half-succeeds in silence.
//!
//! fail2ban applies its start stream command by command and stops at the
//! first failure: one bad value (`findtime = abc`) leaves that jail
//! listed with default settings and no actions, and every jail after it
//! missing, while `status` looks normal. gaoler instead judges each jail
//! on its own, in two places:
//!
//! - before the stream is sent ([`plan_start`], used by `gaoler server`
//!   and `gaoler client start`): the reader's per-jail errors, plus every
//!   command the server would refuse, found by applying the stream to a
//!   throw-away server ([`check_stream_detailed`]). A refused jail's
//!   commands are replaced by fail2ban's `config-error` entry, whose text
//!   names the file and line of the offending option;
//! - while the stream runs (the server's `server-stream`): a command that
//!   still fails refuses only its own jail (see `Server::run_stream`).
//!
//! Refused jails are remembered by the server (`config-error` entries
//! included) and shown by `status` as `Failed jails`.

use std::collections::{BTreeMap, BTreeSet};

use gaoler_config::reader::ConfigRead;
use serde_json::Value as Json;

use crate::{Server, ServerOptions};

/// Server-level `set` names: `["set", NAME, value]` is not a jail's.
pub const SERVER_SETTINGS: [&str; 8] = [
    "loglevel",
    "logtarget",
    "syslogsocket",
    "allowipv6",
    "thread",
    "dbfile",
    "dbmaxmatches",
    "dbpurgeage",
];

/// The text fail2ban's reader puts in a `config-error` entry for a
/// skipped jail, before the jail name (followed by [`SKIPPED_SUFFIX`]).
const SKIPPED_PREFIX: &str = "Jail '";
const SKIPPED_SUFFIX: &str = "' skipped, because of wrong configuration: ";

/// fail2ban's `config-error` text for a jail skipped because of `reason`.
pub fn skipped_message(jail: &str, reason: &str) -> String {
    format!("{SKIPPED_PREFIX}{jail}{SKIPPED_SUFFIX}{reason}")
}

/// The jail and reason of a [`skipped_message`], if `msg` is one.
pub fn parse_skipped(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix(SKIPPED_PREFIX)?;
    let (jail, reason) = rest.split_once(SKIPPED_SUFFIX)?;
    Some((jail, reason))
}

fn word(cmd: &[Json], i: usize) -> Option<&str> {
    cmd.get(i).and_then(Json::as_str)
}

/// The jail a command configures (`add J`, `start J`, `set J …`,
/// `multi-set J …`), if any.
pub fn jail_of(cmd: &[Json]) -> Option<&str> {
    match word(cmd, 0)? {
        "add" | "start" => word(cmd, 1),
        "set" | "multi-set" => {
            let j = word(cmd, 1)?;
            (!SERVER_SETTINGS.contains(&j) && cmd.len() >= 3).then_some(j)
        }
        _ => None,
    }
}

/// The configuration option behind a jail command (`addfailregex` →
/// `failregex`, `action A …` → `action`), for finding where it was set.
pub fn option_of(cmd: &[Json]) -> Option<&'static str> {
    let sub = match word(cmd, 0)? {
        "add" => return Some("backend"),
        "set" | "multi-set" => word(cmd, 2)?,
        _ => return None,
    };
    Some(match sub {
        "addfailregex" | "delfailregex" => "failregex",
        "addignoreregex" | "delignoreregex" => "ignoreregex",
        "addlogpath" | "dellogpath" => "logpath",
        "addignoreip" | "delignoreip" => "ignoreip",
        "addjournalmatch" | "deljournalmatch" => "journalmatch",
        "addaction" | "delaction" | "action" => "action",
        "prefregex" => "prefregex",
        "datepattern" => "datepattern",
        "logtimezone" => "logtimezone",
        "logencoding" => "logencoding",
        "usedns" => "usedns",
        "findtime" => "findtime",
        "bantime" => "bantime",
        "maxretry" => "maxretry",
        "maxmatches" => "maxmatches",
        "maxlines" => "maxlines",
        "ignorecommand" => "ignorecommand",
        "ignoreself" => "ignoreself",
        "ignorecache" => "ignorecache",
        "bantime.increment" => "bantime.increment",
        "bantime.factor" => "bantime.factor",
        "bantime.formula" => "bantime.formula",
        "bantime.multipliers" => "bantime.multipliers",
        "bantime.maxtime" => "bantime.maxtime",
        "bantime.rndtime" => "bantime.rndtime",
        "bantime.overalljails" => "bantime.overalljails",
        _ => return None,
    })
}

/// One command of a stream the server refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Index of the command in the stream.
    pub index: usize,
    /// The jail the command configures, if any.
    pub jail: Option<String>,
    /// The server's error.
    pub message: String,
    /// False for what the real server only logs and skips (a Python
    /// action: the jail keeps its other actions).
    pub fatal: bool,
}

/// Apply `stream` to a throw-away server without starting anything — no
/// jail is started, no database opened, no log written — and return
/// every command it refuses. After a jail's first refusal its later
/// commands are not tried (they would only fail for the same reason).
pub fn check_stream_detailed(stream: &[Vec<Json>]) -> Vec<Refusal> {
    let opts = ServerOptions {
        loglevel: Some("CRITICAL".into()),
        logtarget: Some("STDERR".into()),
        no_tracing_bridge: true,
        ..ServerOptions::default()
    };
    let server = match Server::new(opts) {
        Ok(s) => s,
        Err(e) => {
            return vec![Refusal {
                index: 0,
                jail: None,
                message: e.to_string(),
                fatal: true,
            }]
        }
    };
    let mut out = Vec::new();
    let mut refused: BTreeSet<String> = BTreeSet::new();
    for (index, cmd) in stream.iter().enumerate() {
        let skip = match word(cmd, 0).unwrap_or("") {
            "start" | "config-error" => true,
            "set" => matches!(
                word(cmd, 1).unwrap_or(""),
                "dbfile" | "logtarget" | "syslogsocket" | "loglevel"
            ),
            _ => false,
        };
        let jail = jail_of(cmd).map(str::to_owned);
        if skip || jail.as_ref().is_some_and(|j| refused.contains(j)) {
            continue;
        }
        // The fleet's connection string is checked, but no fleet is
        // started: a throw-away server must not connect, let alone apply
        // the fleet's bans.
        if word(cmd, 0) == Some("set") && word(cmd, 1) == Some("fleetdb") {
            let v = word(cmd, 2).unwrap_or("").trim();
            if !(v.is_empty() || v.eq_ignore_ascii_case("none")) {
                if let Err(e) = gaoler_fleet::ConnInfo::parse(v) {
                    out.push(Refusal {
                        index,
                        jail: None,
                        message: e.to_string(),
                        fatal: true,
                    });
                }
            }
            continue;
        }
        if let Err(e) = server.handle(cmd) {
            // `set J addaction A file.py json`: a Python action.
            let python = word(cmd, 2) == Some("addaction") && cmd.len() > 4;
            if let (Some(j), false) = (&jail, python) {
                refused.insert(j.clone());
            }
            out.push(Refusal {
                index,
                jail,
                message: e.to_string(),
                fatal: !python,
            });
        }
    }
    server.shutdown();
    out
}

/// [`check_stream_detailed`] as messages (what `client -t` prints): one
/// per refused command, naming the jail and the command.
pub fn check_stream(stream: &[Vec<Json>]) -> Vec<String> {
    check_stream_detailed(stream)
        .into_iter()
        .map(|r| {
            // (a connection string's password is never shown)
            let shown = stream
                .get(r.index)
                .map(|c| crate::fleet::redact_command(&Json::Array(c.clone())))
                .and_then(|c| serde_json::to_string(&c).ok())
                .unwrap_or_default();
            let shown: String = shown.chars().take(200).collect();
            let jail = r.jail.map(|j| format!("jail '{j}': ")).unwrap_or_default();
            format!("{jail}{} (in command {shown})", r.message)
        })
        .collect()
}

/// What a start from a configuration will do.
#[derive(Debug, Clone, Default)]
pub struct StartPlan {
    /// The stream to send: refused jails appear only as `config-error`.
    pub stream: Vec<Vec<Json>>,
    /// Enabled jails that will start.
    pub starting: Vec<String>,
    /// Enabled jails that are refused, with the reason (file:line first
    /// when known).
    pub refused: Vec<(String, String)>,
    /// Server-level settings the server will refuse (logged at start).
    pub problems: Vec<String>,
}

/// Decide which jails of `read` can start (see the module docs).
pub fn plan_start(read: &ConfigRead) -> StartPlan {
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    for j in &read.jails {
        if let Some(reason) = j.refusal() {
            refused.insert(j.name.clone(), reason);
        }
    }
    let mut problems = Vec::new();
    let mut late: BTreeMap<String, String> = BTreeMap::new();
    for r in check_stream_detailed(&read.stream) {
        let Some(jail) = r.jail.filter(|_| r.fatal) else {
            if r.fatal {
                problems.push(r.message);
            }
            continue;
        };
        if refused.contains_key(&jail) || late.contains_key(&jail) {
            continue;
        }
        let cmd = read.stream.get(r.index).map(Vec::as_slice).unwrap_or(&[]);
        let option = option_of(cmd);
        let at = option
            .and_then(|o| read.jails.iter().find(|j| j.name == jail)?.option_origin(o))
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        let what = option.map(|o| format!(" {o}")).unwrap_or_default();
        late.insert(jail.clone(), format!("{at}[{jail}]{what}: {}", r.message));
    }
    let mut stream = Vec::with_capacity(read.stream.len());
    for cmd in &read.stream {
        match jail_of(cmd).and_then(|j| late.get_key_value(j)) {
            None => stream.push(cmd.clone()),
            Some((j, reason)) => {
                if word(cmd, 0) == Some("add") {
                    stream.push(vec![
                        Json::from("config-error"),
                        Json::from(skipped_message(j, reason)),
                    ]);
                }
            }
        }
    }
    refused.extend(late);
    let starting = read
        .jails
        .iter()
        .filter(|j| j.is_enabled() && !refused.contains_key(&j.name))
        .map(|j| j.name.clone())
        .collect();
    StartPlan {
        stream,
        starting,
        refused: refused.into_iter().collect(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn skipped_message_round_trip() {
        let m = skipped_message("sshd", "jail.local:3: bad");
        assert_eq!(parse_skipped(&m), Some(("sshd", "jail.local:3: bad")));
        assert_eq!(parse_skipped("something else"), None);
    }

    #[test]
    fn commands_and_their_jails() {
        let c = |v: serde_json::Value| v.as_array().cloned().unwrap_or_default();
        assert_eq!(jail_of(&c(json!(["add", "a", "auto"]))), Some("a"));
        assert_eq!(jail_of(&c(json!(["start", "a"]))), Some("a"));
        assert_eq!(
            jail_of(&c(json!(["set", "a", "findtime", "abc"]))),
            Some("a")
        );
        assert_eq!(jail_of(&c(json!(["set", "dbfile", "/x"]))), None);
        assert_eq!(jail_of(&c(json!(["config-error", "x"]))), None);
        assert_eq!(
            option_of(&c(json!(["set", "a", "addfailregex", "x"]))),
            Some("failregex")
        );
        assert_eq!(
            option_of(&c(json!(["multi-set", "a", "action", "x", []]))),
            Some("action")
        );
    }
}
