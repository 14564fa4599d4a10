//! fail2ban's `Transmitter`: one command (a list of JSON values) → a
//! result or a [`CommandError`].
//!
//! Results follow the shapes of fail2ban's Python results, because the
//! client prints them with fail2ban's Beautifier rules: tuples and lists
//! become arrays, dicts objects, `None` null. `set` commands answer with
//! the new value (via the matching `get`) unless they run inside a stream
//! (`server-stream`, `reload`), where they are quiet (null), as in
//! fail2ban.
//!
//! Errors: a missing jail is `UnknownJail`; a bad value `Invalid`
//! (`ValueError`); an unknown command `Failed("Invalid command")`
//! (`Exception`). Every failed command is logged as fail2ban does
//! (`Command [...] has failed. Received Exception('...')`).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use gaoler_jail::IgnoreCacheConfig;
use gaoler_py::repr::repr;
use gaoler_source::StartAt;
use gaoler_store::{OpenOptions, Store};
use serde_json::{json, Map, Value as Json};

use crate::jail::{lock, Jail};
use crate::log::{level, parse_level};
use crate::{startup, CommandError, Server};

/// The version `version` reports (the fail2ban dialect we implement).
pub const VERSION: &str = gaoler_config::reader::FAIL2BAN_VERSION;

type CmdResult = Result<Json, CommandError>;

fn invalid_command() -> CommandError {
    CommandError::Failed("Invalid command".into())
}

/// A command argument as text (numbers and booleans as Python's `str`).
fn s(v: &Json) -> String {
    match v {
        Json::String(x) => x.clone(),
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn arg(cmd: &[Json], i: usize) -> Result<&Json, CommandError> {
    cmd.get(i)
        .ok_or_else(|| CommandError::Failed("list index out of range".into()))
}

fn arg_s(cmd: &[Json], i: usize) -> Result<String, CommandError> {
    arg(cmd, i).map(s)
}

fn as_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "yes" | "true" | "on"
    )
}

fn parse_int(v: &Json) -> Result<i64, CommandError> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| CommandError::Invalid(format!("invalid literal for int(): {n}"))),
        other => {
            let t = s(other);
            t.trim().parse::<i64>().map_err(|_| {
                CommandError::Invalid(format!("invalid literal for int() with base 10: '{t}'"))
            })
        }
    }
}

fn seconds(v: &Json) -> Result<f64, CommandError> {
    match v {
        Json::Number(n) => n
            .as_f64()
            .ok_or_else(|| CommandError::Invalid(format!("invalid time {n}"))),
        other => {
            let t = s(other);
            gaoler_config::str2seconds(&t)
                .map(|n| n.as_f64())
                .map_err(|e| CommandError::Invalid(format!("{e}")))
        }
    }
}

/// A number as Python would show it: integral values as ints.
fn num(v: f64) -> Json {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// A manual ban's target must be an address, a subnet or a raw ID a
/// filter could produce ([`gaoler_addr::Addr::parse_ban_target`]).
fn ban_target(v: &str) -> Result<(), CommandError> {
    gaoler_addr::Addr::parse_ban_target(v)
        .map(|_| ())
        .map_err(|e| {
            let shown: String = v.chars().take(64).collect();
            let more = if shown.len() < v.len() { "..." } else { "" };
            CommandError::Invalid(format!(
                "Invalid IP address, subnet or ID '{}{more}': {e}",
                shown.escape_debug()
            ))
        })
}

/// A command as it may be logged: `fleetdb` values redacted (see
/// gaoler-fleet's `redact`), also inside streams.
fn for_log(cmd: &[Json]) -> Json {
    crate::fleet::redact_command(&Json::Array(cmd.to_vec()))
}

/// While alive, a start stream or reload is configuring the jails: the
/// fleet applies no rows meanwhile (see `Server::fleet_ready`).
struct Configuring<'a>(&'a Server);

impl<'a> Configuring<'a> {
    fn new(s: &'a Server) -> Self {
        s.stream_begins();
        Configuring(s)
    }
}

impl Drop for Configuring<'_> {
    fn drop(&mut self) {
        self.0.stream_ends();
    }
}

/// A command's `repr`, cut to 200 characters (a regex can be long).
fn short_repr(cmd: &[Json]) -> String {
    let r = repr(&Json::Array(cmd.to_vec()));
    match r.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &r[..i]),
        None => r,
    }
}

impl Server {
    /// Runs one command (fail2ban's `Transmitter.proceed`).
    pub fn handle(&self, cmd: &[Json]) -> CmdResult {
        if self.ctx.logger.enabled(level::HEAVYDEBUG) {
            self.ctx.log(
                level::HEAVYDEBUG,
                "fail2ban.transmitter",
                format!("Command: {}", repr(&for_log(cmd))),
            );
        }
        let r = self.command(cmd, false);
        // Streams log their failing inner command themselves; repeating
        // the whole stream here would be a line of many kilobytes.
        let streamed = matches!(
            cmd.first().and_then(Json::as_str),
            Some("server-stream" | "reload")
        );
        if let (Err(e), false) = (&r, streamed) {
            self.log_failed(cmd, e);
        }
        r
    }

    fn log_failed(&self, cmd: &[Json], e: &CommandError) {
        {
            self.ctx.log(
                level::ERROR,
                "fail2ban.transmitter",
                format!(
                    "Command {} has failed. Received {}({})",
                    repr(&for_log(cmd)),
                    e.kind(),
                    repr(&Json::String(e.to_string()))
                ),
            );
        }
    }

    /// Runs the commands of a stream quietly; the first failure is logged
    /// and ends the stream, as in fail2ban (used by `reload`, whose
    /// stream the client has checked as a whole).
    fn run_stream(&self, stream: &[Json]) -> Result<(), CommandError> {
        for c in stream {
            let Json::Array(c) = c else {
                let e = invalid_command();
                self.log_failed(std::slice::from_ref(c), &e);
                return Err(e);
            };
            if let Err(e) = self.command(c, true) {
                self.log_failed(c, &e);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Runs a start stream (`server-stream`) quietly, one jail at a time:
    /// a failing command of a jail this stream added refuses that jail
    /// only — it is removed, never left listed half-configured with
    /// default settings and no actions — and the stream goes on with the
    /// other jails. The refusal is logged and shown by `status`. Any other
    /// failure (a server setting, a jail the stream did not add) is
    /// logged, skips that jail's later commands, and is returned once the
    /// whole stream has run.
    fn run_start_stream(&self, stream: &[Json]) -> Result<(), CommandError> {
        let _configuring = Configuring::new(self);
        let mut added: BTreeSet<String> = BTreeSet::new();
        let mut skipped: BTreeSet<String> = BTreeSet::new();
        let mut first_err = None;
        for c in stream {
            if self.is_shutting_down() {
                // `stop` during the start: its commands would only fail
                // (and refuse jails) because their jails are gone.
                break;
            }
            let Json::Array(c) = c else {
                let e = invalid_command();
                self.log_failed(std::slice::from_ref(c), &e);
                first_err.get_or_insert(e);
                continue;
            };
            let jail = startup::jail_of(c).map(str::to_owned);
            if jail.as_ref().is_some_and(|j| skipped.contains(j)) {
                continue;
            }
            match self.command(c, true) {
                Ok(_) => {
                    if let (Some(j), Some("add")) = (&jail, c.first().and_then(Json::as_str)) {
                        added.insert(j.clone());
                    }
                }
                Err(e) => {
                    self.log_failed(c, &e);
                    let Some(j) = jail else {
                        first_err.get_or_insert(e);
                        continue;
                    };
                    skipped.insert(j.clone());
                    if self.is_shutting_down() {
                        break;
                    }
                    if added.contains(&j) {
                        let reason = format!("{e} (in command {})", short_repr(c));
                        self.refuse_jail(&j, &reason);
                    } else {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Removes jail `name` (if present) and records it as failed.
    fn refuse_jail(&self, name: &str, reason: &str) {
        let _g = lock(&self.admin);
        let jail = lock(&self.jails).iter().find(|j| j.name == name).cloned();
        if let Some(j) = jail {
            j.signal_stop();
            j.join();
            lock(&self.jails).retain(|x| x.name != name);
            if let Some(db) = self.ctx.db().as_ref() {
                let _ = db.del_jail(name);
            }
        }
        self.ctx.log(
            level::ERROR,
            "fail2ban.server",
            format!("Jail '{name}' not started: {reason}"),
        );
        lock(&self.failed).insert(name.to_owned(), reason.to_owned());
    }

    fn command(&self, cmd: &[Json], quiet: bool) -> CmdResult {
        let name = match cmd.first() {
            Some(Json::String(n)) => n.as_str(),
            _ => return Err(invalid_command()),
        };
        match name {
            "ping" => Ok(json!("pong")),
            "add" => {
                let jail = arg_s(cmd, 1)?;
                if jail == "--all" {
                    return Err(CommandError::Failed(format!("Reserved name '{jail}'")));
                }
                let backend = cmd.get(2).map(s).unwrap_or_else(|| "auto".into());
                self.add_jail(&jail, &backend)?;
                Ok(json!(jail))
            }
            "multi-set" => self.command_set(&cmd[1..], true, quiet),
            "set" => self.command_set(&cmd[1..], false, quiet),
            "get" => self.command_get(&cmd[1..]),
            "start" => {
                let jail = arg_s(cmd, 1)?;
                self.start_jail(&jail)?;
                Ok(Json::Null)
            }
            "stop" => {
                match cmd.get(1).map(s) {
                    None => self.shutdown(),
                    Some(a) if a == "--all" => self.stop_all_jails(),
                    Some(j) => self.stop_jail(&j)?,
                }
                Ok(Json::Null)
            }
            "reload" => {
                let target = cmd.get(1).map(s).unwrap_or_else(|| "--all".into());
                let opts: Vec<String> = match cmd.get(2) {
                    Some(Json::Array(a)) => a.iter().map(s).collect(),
                    Some(Json::Null) | None => Vec::new(),
                    Some(other) => vec![s(other)],
                };
                let stream: Vec<Json> = match cmd.get(3) {
                    Some(Json::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                self.reload(&target, &opts, &stream)?;
                Ok(json!("OK"))
            }
            "unban" if cmd.len() >= 2 => {
                let values: Vec<String> = cmd[1..].iter().map(s).collect();
                let jails = lock(&self.jails).clone();
                let mut cnt = 0;
                if values.len() == 1 && values[0] == "--all" {
                    for j in &jails {
                        cnt += j.flush_bans(true, false);
                    }
                } else {
                    for j in &jails {
                        cnt += j.unban_ips(&values, true).unwrap_or(0);
                    }
                }
                Ok(json!(cnt))
            }
            "banned" => {
                let ids: Vec<String> = cmd[1..].iter().map(s).collect();
                let jails = lock(&self.jails).clone();
                if ids.is_empty() {
                    Ok(Json::Array(
                        jails
                            .iter()
                            .map(|j| {
                                let mut m = Map::new();
                                m.insert(j.name.clone(), json!(j.ban_list()));
                                Json::Object(m)
                            })
                            .collect(),
                    ))
                } else {
                    Ok(Json::Array(
                        ids.iter()
                            .map(|ip| {
                                json!(jails
                                    .iter()
                                    .filter(|j| j.ban_list().iter().any(|b| b == ip))
                                    .map(|j| j.name.clone())
                                    .collect::<Vec<_>>())
                            })
                            .collect(),
                    ))
                }
            }
            "echo" => Ok(Json::Array(cmd[1..].to_vec())),
            "server-status" => Ok(json!("Server ready")),
            "server-stream" => {
                let Some(Json::Array(stream)) = cmd.get(1) else {
                    return Err(invalid_command());
                };
                self.run_start_stream(stream)?;
                Ok(Json::Null)
            }
            "sleep" => {
                let secs = seconds(arg(cmd, 1)?)?;
                std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
                Ok(Json::Null)
            }
            "flushlogs" => Ok(json!(self.ctx.logger.flush_logs())),
            "status" => self.status(&cmd[1..]),
            "stats" | "statistic" | "statistics" => self.status(&[json!("--all"), json!("stats")]),
            "version" => Ok(json!(VERSION)),
            "config-error" => {
                let msg = arg_s(cmd, 1)?;
                if let Some((jail, reason)) = startup::parse_skipped(&msg) {
                    lock(&self.failed).insert(jail.to_owned(), reason.to_owned());
                }
                self.ctx.log(level::ERROR, "fail2ban.transmitter", msg);
                Ok(Json::Null)
            }
            _ => Err(invalid_command()),
        }
    }

    // ------------------------------------------------------------------
    // jails

    fn add_jail(&self, name: &str, backend: &str) -> Result<(), CommandError> {
        let _g = lock(&self.admin);
        let existing = lock(&self.jails).iter().find(|j| j.name == name).cloned();
        if let Some(j) = existing {
            let mut untouched = lock(&self.reload_untouched);
            let reloading = untouched.as_mut().is_some_and(|set| set.remove(name));
            match reloading {
                true => {
                    if j.backend == backend {
                        self.ctx.log(
                            level::INFO,
                            "fail2ban.server",
                            format!("Reload jail '{name}'"),
                        );
                        return Ok(());
                    }
                    self.ctx.log(
                        level::INFO,
                        "fail2ban.server",
                        format!(
                            "Restart jail '{name}' (reason: '{}' != '{backend}')",
                            j.backend
                        ),
                    );
                    drop(untouched);
                    j.signal_stop();
                    j.join();
                    lock(&self.jails).retain(|x| x.name != name);
                }
                _ => return Err(CommandError::DuplicateJail(name.to_owned())),
            }
        }
        self.ctx.log(
            level::INFO,
            "fail2ban.jail",
            format!("Creating new jail '{name}'"),
        );
        let jail = Jail::new(name, backend, Arc::clone(&self.ctx));
        lock(&self.failed).remove(name);
        if let Some(db) = self.ctx.db().as_ref() {
            if let Err(e) = db.add_jail(name) {
                self.ctx
                    .log(level::ERROR, "fail2ban.database", format!("{e}"));
            }
        }
        lock(&self.jails).push(jail);
        Ok(())
    }

    fn start_jail(&self, name: &str) -> Result<(), CommandError> {
        let _g = lock(&self.admin);
        let j = self.jail(name)?;
        if !j.is_alive() {
            // A reload of a stopped jail: nothing stale to keep.
            j.reload_end();
            j.start();
        } else if j.in_reload() {
            j.reload_end();
            self.ctx.log(
                level::INFO,
                "fail2ban.server",
                format!("Jail '{name}' reloaded"),
            );
        }
        j.idle.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn stop_jail(&self, name: &str) -> Result<(), CommandError> {
        let _g = lock(&self.admin);
        // Stopping a jail that failed to start clears its failure.
        let was_failed = lock(&self.failed).remove(name).is_some();
        let j = match self.jail(name) {
            Ok(j) => j,
            Err(_) if was_failed => return Ok(()),
            Err(e) => return Err(e),
        };
        j.signal_stop();
        j.join();
        lock(&self.jails).retain(|x| x.name != name);
        if let Some(db) = self.ctx.db().as_ref() {
            let _ = db.del_jail(name);
        }
        Ok(())
    }

    fn reload(&self, target: &str, opts: &[String], stream: &[Json]) -> Result<(), CommandError> {
        if lock(&self.reload_untouched).is_some() {
            return Err(CommandError::Invalid("Reload already in progress".into()));
        }
        self.ctx.log(
            level::INFO,
            "fail2ban.server",
            if target == "--all" {
                "Reload all jails".to_owned()
            } else {
                format!("Reload jail {target}")
            },
        );
        let has = |o: &str| opts.iter().any(|x| x == o);
        // The new stream says again which jails fail.
        match target {
            "--all" => lock(&self.failed).clear(),
            j => {
                lock(&self.failed).remove(j);
            }
        }
        if target != "--all" {
            let exists = self.jail(target).is_ok();
            if !exists && !has("--if-exists") {
                return Err(CommandError::UnknownJail(target.to_owned()));
            }
            if exists {
                if has("--unban") {
                    self.jail(target)?.flush_bans(true, false);
                }
                if has("--restart") {
                    self.stop_jail(target)?;
                }
            }
        } else {
            if has("--unban") {
                for j in lock(&self.jails).clone() {
                    j.flush_bans(true, false);
                }
            }
            if has("--restart") {
                self.stop_all_jails();
            }
        }
        let _configuring = Configuring::new(self);
        let mut untouched = BTreeSet::new();
        for j in lock(&self.jails).clone() {
            if target == "--all" || j.name == target {
                j.reload_begin();
                untouched.insert(j.name.clone());
            }
        }
        *lock(&self.reload_untouched) = Some(untouched);
        let result = self.run_stream(stream);
        // Commit: jails the stream did not name are removed; the others
        // (already committed by their `start`) finish their reload.
        let untouched = lock(&self.reload_untouched).take().unwrap_or_default();
        for name in untouched {
            let _ = self.stop_jail(&name);
        }
        for j in lock(&self.jails).clone() {
            if j.in_reload() {
                j.reload_end();
            }
        }
        self.ctx
            .log(level::INFO, "fail2ban.server", "Reload finished.");
        result
    }

    // ------------------------------------------------------------------
    // status

    /// fail2ban's general status, plus — only when some jail was refused
    /// at start — `["Failed jails", [[jail, reason], ...]]`, so a normal
    /// status keeps fail2ban's exact shape.
    fn server_status(&self) -> Json {
        let names = self.running_jails();
        let mut st = vec![
            json!(["Number of jail", names.len()]),
            json!(["Jail list", names.join(", ")]),
        ];
        let failed = self.failed_jails();
        if !failed.is_empty() {
            st.push(json!(["Failed jails", failed]));
        }
        Json::Array(st)
    }

    fn status(&self, args: &[Json]) -> CmdResult {
        match args.len() {
            0 => Ok(self.server_status()),
            1 | 2 => {
                let name = s(&args[0]);
                let flavor = args.get(1).map(s).unwrap_or_else(|| "basic".into());
                if name == "--all" {
                    // fail2ban 1.1: the general status with the dict of
                    // jail statuses appended; for `stats` the dict alone.
                    let mut m = Map::new();
                    let mut jails = lock(&self.jails).clone();
                    jails.sort_by(|a, b| a.name.cmp(&b.name));
                    for j in jails {
                        m.insert(j.name.clone(), j.status(&flavor));
                    }
                    if flavor == "stats" {
                        return Ok(Json::Object(m));
                    }
                    let mut st = match self.server_status() {
                        Json::Array(a) => a,
                        _ => Vec::new(),
                    };
                    st.push(Json::Object(m));
                    return Ok(Json::Array(st));
                }
                match self.jail(&name) {
                    Ok(j) => Ok(j.status(&flavor)),
                    Err(e) => match lock(&self.failed).get(&name) {
                        Some(reason) => Err(CommandError::Failed(format!(
                            "Jail '{name}' failed to start: {reason}"
                        ))),
                        None => Err(e),
                    },
                }
            }
            _ => Err(CommandError::Failed("Invalid command (no status)".into())),
        }
    }

    // ------------------------------------------------------------------
    // set

    fn command_set(&self, cmd: &[Json], multiple: bool, quiet: bool) -> CmdResult {
        let name = arg_s(cmd, 0)?;
        let quiet_or = |v: CmdResult| if quiet { v.map(|_| Json::Null) } else { v };
        match name.as_str() {
            "loglevel" => {
                let v = arg_s(cmd, 1)?;
                let l = parse_level(&v)
                    .ok_or_else(|| CommandError::Invalid(format!("Invalid log level {v:?}")))?;
                self.ctx.logger.set_level(l);
                lock(&self.settings).loglevel = v.to_ascii_uppercase();
                quiet_or(self.command_get(&[json!("loglevel")]))
            }
            "logtarget" => {
                let v = arg_s(cmd, 1)?;
                if let Err(e) = self.ctx.logger.set_target(&v) {
                    self.ctx
                        .log(level::ERROR, "fail2ban.server", format!("{e}"));
                    return Err(CommandError::Failed("Failed to change log target".into()));
                }
                quiet_or(Ok(json!(self.ctx.logger.target())))
            }
            "syslogsocket" => {
                let v = arg_s(cmd, 1)?;
                if let Err(e) = self.ctx.logger.set_syslog_socket(&v) {
                    self.ctx
                        .log(level::ERROR, "fail2ban.server", format!("{e}"));
                    return Err(CommandError::Failed(
                        "Failed to change syslog socket".into(),
                    ));
                }
                quiet_or(Ok(json!(self.ctx.logger.syslog_socket())))
            }
            "allowipv6" => {
                let v = arg_s(cmd, 1)?;
                lock(&self.settings).allowipv6 = v.clone();
                if v != "auto" {
                    let allowed = as_bool(&v);
                    for j in lock(&self.jails).iter() {
                        for a in crate::jail::lock(&j.actions).iter_mut() {
                            a.action.set_ipv6_allowed(allowed);
                        }
                    }
                }
                quiet_or(Ok(json!(v)))
            }
            "thread" => Ok(Json::Null),
            "dbfile" => {
                let v = arg_s(cmd, 1)?;
                self.set_dbfile(&v)?;
                let cur = lock(&self.settings).dbfile.clone();
                match cur {
                    None => Ok(Json::Null),
                    Some(f) => quiet_or(Ok(json!(f))),
                }
            }
            "dbmaxmatches" => {
                let v = parse_int(arg(cmd, 1)?)?.max(0) as usize;
                lock(&self.settings).dbmaxmatches = v;
                match self.with_db("dbmaxmatches", |d| d.set_max_matches(v)) {
                    true => quiet_or(Ok(json!(v))),
                    false => Ok(Json::Null),
                }
            }
            "metrics" => {
                let v = arg(cmd, 1).map(s).unwrap_or_default();
                self.set_metrics(&v)
                    .map(|a| quiet_or(Ok(json!(a))))
                    .map_err(CommandError::Failed)?
            }
            "fleethost" => {
                self.set_fleet_host(&arg_s(cmd, 1)?)?;
                quiet_or(Ok(json!(self.fleet_host())))
            }
            "fleetretry" => {
                self.set_fleet_retry(seconds(arg(cmd, 1)?)?)?;
                quiet_or(Ok(num(self.fleet_retry())))
            }
            "fleetdb" => {
                self.set_fleet_db(&arg_s(cmd, 1)?)?;
                quiet_or(Ok(self.fleet_db_shown().map_or(Json::Null, Json::String)))
            }
            "dbpurgeage" => {
                let v = seconds(arg(cmd, 1)?)?;
                lock(&self.settings).dbpurgeage = v;
                match self.with_db("dbpurgeage", |d| d.set_purge_age(v)) {
                    true => quiet_or(Ok(num(v))),
                    false => Ok(Json::Null),
                }
            }
            _ => {
                let jail = self.jail(&name)?;
                self.set_jail(&jail, cmd, multiple, quiet)
            }
        }
    }

    /// Apply a database setting now if there is a database (`false`, after
    /// fail2ban's log message, when there is none yet: the setting is kept
    /// for when one is opened).
    fn with_db(&self, setting: &str, apply: impl FnOnce(&mut Store)) -> bool {
        match self.ctx.db().as_mut() {
            Some(d) => {
                apply(d);
                true
            }
            None => {
                self.ctx.log(
                    level::MSG,
                    "fail2ban.transmitter",
                    format!("{setting} setting was not in effect since no db yet"),
                );
                false
            }
        }
    }

    fn set_dbfile(&self, v: &str) -> Result<(), CommandError> {
        let v = v.trim();
        {
            let st = lock(&self.settings);
            if st.dbfile.as_deref() == Some(v) {
                return Ok(());
            }
            if st.dbfile.is_none() && v.eq_ignore_ascii_case("none") {
                return Ok(());
            }
        }
        if !lock(&self.jails).is_empty() {
            return Err(CommandError::Failed(
                "Cannot change database when there are jails present".into(),
            ));
        }
        let (purge_age, max_matches) = {
            let st = lock(&self.settings);
            (st.dbpurgeage, st.dbmaxmatches)
        };
        if v != ":memory:" && !v.eq_ignore_ascii_case("none") {
            if let Some(dir) = std::path::Path::new(v).parent() {
                if !dir.as_os_str().is_empty() {
                    let _ = std::fs::create_dir_all(dir);
                }
            }
        }
        // A corrupt file is moved aside and replaced, as fail2ban does:
        // losing the ban history is better than starting no jail at all.
        let (store, recovered) = Store::open_recovering(
            v,
            OpenOptions {
                purge_age,
                max_matches,
                ..OpenOptions::default()
            },
        )
        .map_err(|e| CommandError::Failed(e.to_string()))?;
        if let Some(r) = recovered {
            self.ctx.log(
                level::ERROR,
                "fail2ban.database",
                format!(
                    "Database {v} is corrupt ({}): moved it aside to {} and created a new one{}",
                    r.reason,
                    r.backup,
                    match r.salvaged {
                        0 => String::new(),
                        n => format!(" ({n} rows recovered from the old one)"),
                    }
                ),
            );
        }
        if let Some(st) = &store {
            if let Err(e) = st.disable_all_jails() {
                self.ctx
                    .log(level::ERROR, "fail2ban.database", format!("{e}"));
            }
        }
        lock(&self.settings).dbfile = store.as_ref().map(|_| v.to_owned());
        *self.ctx.db() = store;
        Ok(())
    }

    fn set_jail(&self, j: &Arc<Jail>, cmd: &[Json], multiple: bool, quiet: bool) -> CmdResult {
        let opt = arg_s(cmd, 1)?;
        let getter = |o: &str| -> CmdResult {
            if quiet {
                Ok(Json::Null)
            } else {
                self.get_jail(j, &[json!(j.name), json!(o)])
            }
        };
        // multi-set passes a list as the value.
        let values: Vec<Json> = match (multiple, cmd.get(2)) {
            (true, Some(Json::Array(a))) => a.clone(),
            _ => cmd[2.min(cmd.len())..].to_vec(),
        };
        let first = || {
            values
                .first()
                .map(s)
                .ok_or_else(|| CommandError::Failed("list index out of range".into()))
        };
        match opt.as_str() {
            "idle" => {
                let v = first()?;
                match v.as_str() {
                    "on" => j.idle.store(true, Ordering::SeqCst),
                    "off" => j.idle.store(false, Ordering::SeqCst),
                    _ => {
                        return Err(CommandError::Failed(
                            "Invalid idle option, must be 'on' or 'off'".into(),
                        ))
                    }
                }
                if quiet {
                    Ok(Json::Null)
                } else {
                    Ok(json!(j.idle.load(Ordering::SeqCst)))
                }
            }
            "ignoreself" => {
                lock(&j.fail).ignore.set_ignore_self(as_bool(&first()?));
                getter("ignoreself")
            }
            "addignoreip" => {
                {
                    let mut f = lock(&j.fail);
                    for v in &values {
                        f.ignore.add_all(&s(v));
                    }
                }
                getter("ignoreip")
            }
            "delignoreip" => {
                lock(&j.fail).ignore.remove(&first()?);
                getter("ignoreip")
            }
            "ignorecommand" => {
                lock(&j.conf).ignorecommand = first()?;
                getter("ignorecommand")
            }
            "ignorecache" => {
                let v = first()?;
                let cfg = parse_ignore_cache(&v)?;
                lock(&j.fail).ignore.set_cache(cfg);
                getter("ignorecache")
            }
            "addlogpath" => {
                let path = first()?;
                let start = match values.get(1).map(s) {
                    None => StartAt::Head,
                    Some(o) if o.eq_ignore_ascii_case("tail") => StartAt::Tail,
                    Some(o) if o.eq_ignore_ascii_case("head") => StartAt::Head,
                    Some(_) => {
                        return Err(CommandError::Invalid(
                            "File option must be 'head' or 'tail'".into(),
                        ))
                    }
                };
                if values.len() > 2 {
                    return Err(CommandError::Invalid(
                        "Only one file can be added at a time".into(),
                    ));
                }
                {
                    let mut c = lock(&j.conf);
                    if !c.logpaths.iter().any(|(p, _)| *p == path) {
                        c.logpaths.push((path, start));
                        c.generation += 1;
                    }
                }
                getter("logpath")
            }
            "dellogpath" => {
                let path = first()?;
                j.update_conf(|c| c.logpaths.retain(|(p, _)| *p != path));
                getter("logpath")
            }
            "logencoding" => {
                let v = first()?;
                gaoler_source::LineDecoder::new(&v)
                    .map_err(|e| CommandError::Invalid(e.to_string()))?;
                j.update_conf(|c| c.encoding = v);
                getter("logencoding")
            }
            "addjournalmatch" | "deljournalmatch" => {
                let m: Vec<String> = values.iter().map(s).collect();
                // `+` separates alternatives, each one match line.
                let groups: Vec<Vec<String>> = m
                    .split(|x| x == "+")
                    .filter(|g| !g.is_empty())
                    .map(|g| g.to_vec())
                    .collect();
                j.update_conf(|c| {
                    if opt == "addjournalmatch" {
                        c.journalmatches.extend(groups);
                    } else if m.is_empty() {
                        c.journalmatches.clear();
                    } else {
                        c.journalmatches.retain(|x| !groups.contains(x));
                    }
                });
                getter("journalmatch")
            }
            "prefregex" => {
                let v = first()?;
                let v = if v.is_empty() {
                    None
                } else {
                    Some(pin_host(&v, &lock(&j.conf).usedns))
                };
                if let Some(r) = &v {
                    validate_regex(None, r, false)?;
                }
                j.update_conf(|c| c.prefregex = v);
                getter("prefregex")
            }
            "addfailregex" | "addignoreregex" => {
                let fail = opt == "addfailregex";
                let (pref, usedns) = {
                    let c = lock(&j.conf);
                    (c.prefregex.clone(), c.usedns.clone())
                };
                let regs: Vec<String> = values.iter().map(|v| pin_host(&s(v), &usedns)).collect();
                for r in &regs {
                    validate_regex(pref.as_deref(), r, fail)?;
                }
                j.update_conf(|c| {
                    if fail {
                        c.failregex.extend(regs);
                    } else {
                        c.ignoreregex.extend(regs);
                    }
                });
                if multiple {
                    return Ok(json!(true));
                }
                getter(if fail { "failregex" } else { "ignoreregex" })
            }
            "delfailregex" | "delignoreregex" => {
                let fail = opt == "delfailregex";
                let i = parse_int(values.first().ok_or_else(invalid_command)?)?;
                {
                    let mut c = lock(&j.conf);
                    let list = if fail {
                        &mut c.failregex
                    } else {
                        &mut c.ignoreregex
                    };
                    if i < 0 || i as usize >= list.len() {
                        return Err(CommandError::Failed(format!(
                            "Cannot remove regular expression. Index {i} is not valid"
                        )));
                    }
                    list.remove(i as usize);
                    c.generation += 1;
                }
                getter(if fail { "failregex" } else { "ignoreregex" })
            }
            "usedns" => {
                let v = first()?.to_ascii_lowercase();
                let v = if v.parse::<gaoler_filter::UseDns>().is_ok() {
                    match v.as_str() {
                        "yes" | "true" | "on" | "1" => "yes".to_owned(),
                        "no" | "false" | "off" | "0" => "no".to_owned(),
                        o => o.to_owned(),
                    }
                } else {
                    self.ctx.log(
                        level::WARNING,
                        "fail2ban.filter",
                        format!("Incorrect value for usedns. \"{v}\". Using default \"no\""),
                    );
                    "no".to_owned()
                };
                j.update_conf(|c| c.usedns = v);
                getter("usedns")
            }
            "findtime" => {
                let v = seconds(values.first().ok_or_else(invalid_command)?)?;
                j.update_conf(|c| c.findtime = v);
                lock(&j.fail).fm.set_find_time(v);
                getter("findtime")
            }
            "datepattern" => {
                let v = first()?;
                let v = if v.is_empty() { None } else { Some(v) };
                gaoler_datedetector::DateDetector::new(v.as_deref())
                    .map_err(|e| CommandError::Invalid(e.to_string()))?;
                j.update_conf(|c| c.datepattern = v);
                getter("datepattern")
            }
            "logtimezone" => {
                let v = first()?;
                let v = if v.is_empty() { None } else { Some(v) };
                j.update_conf(|c| c.logtimezone = v);
                getter("logtimezone")
            }
            "maxmatches" => {
                let v = parse_int(values.first().ok_or_else(invalid_command)?)?;
                lock(&j.fail).fm.set_max_matches(v.max(0) as usize);
                getter("maxmatches")
            }
            "maxretry" => {
                let v = parse_int(values.first().ok_or_else(invalid_command)?)?;
                lock(&j.fail).fm.set_max_retry(v.max(0) as u32);
                getter("maxretry")
            }
            "maxtracked" => {
                let v = parse_int(values.first().ok_or_else(invalid_command)?)?;
                if v < 0 {
                    return Err(CommandError::Invalid(format!(
                        "maxtracked must be 0 (no cap) or a positive count, not {v}"
                    )));
                }
                lock(&j.fail).fm.set_max_tracked(v as usize);
                getter("maxtracked")
            }
            "kerneltimeout" => {
                j.set_kernel_timeout(as_bool(&first()?));
                getter("kerneltimeout")
            }
            "fleet" => {
                let m: gaoler_fleet::Mode = first()?.parse().map_err(CommandError::Invalid)?;
                // (the other hosts would refuse every row of this jail)
                if m.publishes() && !gaoler_fleet::row::valid_name(&j.name) {
                    return Err(CommandError::Invalid(format!(
                        "jail {} cannot publish to the fleet: its name must be at most {} \
                         letters, digits and ._-@",
                        gaoler_fleet::row::shown(&j.name),
                        gaoler_fleet::row::MAX_NAME
                    )));
                }
                j.update_fleet(|f| f.mode = m);
                getter("fleet")
            }
            "fleetjails" => {
                let names: Vec<String> = values
                    .iter()
                    .flat_map(|v| {
                        s(v).split([' ', ',', '\n', '\t'])
                            .filter(|w| !w.is_empty())
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                j.update_fleet(|f| f.jails = names);
                getter("fleetjails")
            }
            "fleetcount" => {
                let c: gaoler_fleet::Count = first()?.parse().map_err(CommandError::Invalid)?;
                j.update_fleet(|f| f.count = c);
                getter("fleetcount")
            }
            "actionengine" => {
                let v = first()?;
                j.set_action_engine(v.trim())
                    .map_err(CommandError::Invalid)?;
                getter("actionengine")
            }
            "maxlines" => {
                let v = parse_int(values.first().ok_or_else(invalid_command)?)?;
                j.update_conf(|c| c.maxlines = v.max(1) as usize);
                getter("maxlines")
            }
            "bantime" => {
                let v = seconds(values.first().ok_or_else(invalid_command)?)?;
                lock(&j.bans).bm.set_ban_time(v);
                j.ban_time_changed();
                self.ctx.log(
                    level::INFO,
                    "fail2ban.actions",
                    format!("  banTime: {}", num(v)),
                );
                getter("bantime")
            }
            "attempt" => {
                let ip = first()?;
                ban_target(&ip)?;
                let msgs: Vec<String> = values[1..].iter().map(s).collect();
                if quiet {
                    return Ok(Json::Null);
                }
                Ok(json!(j.add_attempt(&ip, &msgs)))
            }
            "banip" => {
                let ips: Vec<String> = values.iter().map(s).collect();
                // All or nothing: one bad value refuses the whole command.
                for ip in &ips {
                    ban_target(ip)?;
                }
                Ok(json!(j.ban_ips(&ips)))
            }
            "unbanip" => {
                let mut ips: Vec<String> = values.iter().map(s).collect();
                let mut if_exists = true;
                if ips.first().is_some_and(|x| x == "--report-absent") {
                    if_exists = false;
                    ips.remove(0);
                }
                j.unban_ips(&ips, if_exists)
                    .map(|n| json!(n))
                    .map_err(|missed| {
                        CommandError::Invalid(format!("not banned: {}", repr(&json!(missed))))
                    })
            }
            "addaction" => {
                let a = first()?;
                if values.len() > 1 {
                    // A Python action (`addaction A file.py json`).
                    let e = gaoler_action::ActionError::PythonAction {
                        jail: j.name.clone(),
                        action: a.clone(),
                    };
                    self.ctx.log(
                        level::ERROR,
                        "fail2ban.actions",
                        format!("Failed to add action to jail '{}': {e}", j.name),
                    );
                    lock(&j.refused).insert(a);
                    return if quiet {
                        Ok(Json::Null)
                    } else {
                        Err(CommandError::Failed(e.to_string()))
                    };
                }
                match j.add_action(&a) {
                    Ok(()) => {
                        if quiet {
                            Ok(Json::Null)
                        } else {
                            Ok(json!(a))
                        }
                    }
                    Err(msg) => {
                        if a.ends_with(".py") {
                            lock(&j.refused).insert(a);
                            if quiet {
                                return Ok(Json::Null);
                            }
                        }
                        Err(CommandError::Failed(msg))
                    }
                }
            }
            "delaction" => {
                let a = first()?;
                if !j.del_action(&a) {
                    return Err(CommandError::Failed(format!("'{a}'")));
                }
                Ok(Json::Null)
            }
            "action" => self.set_action(j, cmd, multiple, quiet),
            o if o.starts_with("bantime.") => {
                let key = &o["bantime.".len()..];
                let v = values.first().map(s).unwrap_or_default();
                self.set_bantime_extra(j, key, &v)?;
                getter(o)
            }
            _ => Err(CommandError::Failed(format!(
                "Invalid command '{opt}' (no set action or not yet implemented)"
            ))),
        }
    }

    fn set_bantime_extra(&self, j: &Jail, key: &str, v: &str) -> Result<(), CommandError> {
        let mut inc = lock(&j.inc);
        let mut extra = lock(&j.ban_extra);
        let empty = v.is_empty();
        let bad = |e: String| CommandError::Invalid(e);
        match key {
            "increment" => {
                inc.enabled = !empty && as_bool(v);
                extra.insert(key.into(), json!(inc.enabled));
                if inc.enabled && !self.ctx.has_db() {
                    self.ctx.log(
                        level::WARNING,
                        "fail2ban.jail",
                        "ban time increment is not available as long jail database is not set",
                    );
                }
                return Ok(());
            }
            "factor" => inc.set_factor(v).map_err(|e| bad(e.to_string()))?,
            "formula" => inc.set_formula(v).map_err(|e| bad(e.to_string()))?,
            "multipliers" => inc.set_multipliers(v).map_err(|e| bad(e.to_string()))?,
            "maxtime" | "rndtime" => {
                let t = if empty {
                    None
                } else {
                    Some(seconds(&json!(v))?)
                };
                if key == "maxtime" {
                    inc.max_time = t;
                } else {
                    inc.rnd_time = t;
                }
                match t {
                    Some(t) => extra.insert(key.into(), num(t)),
                    None => extra.remove(key),
                };
                return Ok(());
            }
            "overalljails" => {
                inc.overall_jails = !empty && as_bool(v);
            }
            _ => {}
        }
        if empty {
            extra.remove(key);
        } else {
            extra.insert(key.into(), json!(v));
        }
        self.ctx.log(
            level::INFO,
            "fail2ban.jail",
            format!("Set banTime.{key} = {}", if empty { "None" } else { v }),
        );
        Ok(())
    }

    fn set_action(&self, j: &Jail, cmd: &[Json], multiple: bool, quiet: bool) -> CmdResult {
        let a = arg_s(cmd, 2)?;
        if lock(&j.refused).contains(&a) {
            return Ok(Json::Null);
        }
        if multiple {
            let Some(Json::Array(pairs)) = cmd.get(3) else {
                return Err(invalid_command());
            };
            let mut props = Vec::new();
            for p in pairs {
                match p {
                    Json::Array(kv) if !kv.is_empty() => {
                        props.push((s(&kv[0]), kv.get(1).map(s).unwrap_or_default()))
                    }
                    _ => return Err(invalid_command()),
                }
            }
            let r = j
                .with_action(&a, |act| act.reconfigure(&props))
                .ok_or_else(|| no_action(&a))?;
            r.map_err(|e| CommandError::Failed(e.to_string()))?;
            return Ok(json!(true));
        }
        let key = arg_s(cmd, 3)?;
        let r = j
            .with_action(&a, |act| -> CmdResult {
                match key.as_str() {
                    "start" => act.start().map(|_| Json::Null),
                    "stop" => act.stop().map(|_| Json::Null),
                    "reload" => act.reload().map(|_| Json::Null),
                    "flush" => act.flush().map(|b| json!(b)),
                    "consistencyCheck" => act.consistency_check().map(|b| json!(b)),
                    _ => {
                        let v = arg_s(cmd, 4)?;
                        act.set_property(&key, &v).map(|_| json!(v))
                    }
                }
                .map_err(|e| CommandError::Failed(e.to_string()))
            })
            .ok_or_else(|| no_action(&a))??;
        if quiet {
            Ok(Json::Null)
        } else {
            Ok(r)
        }
    }

    // ------------------------------------------------------------------
    // get

    fn command_get(&self, cmd: &[Json]) -> CmdResult {
        let name = arg_s(cmd, 0)?;
        match name.as_str() {
            "loglevel" => Ok(json!(lock(&self.settings).loglevel)),
            "logtarget" => Ok(json!(self.ctx.logger.target())),
            "syslogsocket" => Ok(json!(self.ctx.logger.syslog_socket())),
            "thread" => Ok(json!({"stacksize": 0})),
            "dbfile" => Ok(lock(&self.settings)
                .dbfile
                .clone()
                .map_or(Json::Null, Json::String)),
            "dbmaxmatches" => Ok(match self.ctx.db().as_ref() {
                None => Json::Null,
                Some(d) => json!(d.max_matches()),
            }),
            "metrics" => Ok(json!(self.metrics_addr())),
            // (never the password)
            "fleetdb" => Ok(self.fleet_db_shown().map_or(Json::Null, Json::String)),
            "fleethost" => Ok(json!(self.fleet_host())),
            "fleetretry" => Ok(num(self.fleet_retry())),
            "dbpurgeage" => Ok(match self.ctx.db().as_ref() {
                None => Json::Null,
                Some(d) => num(d.purge_age()),
            }),
            _ => {
                let j = self.jail(&name)?;
                self.get_jail(&j, cmd)
            }
        }
    }

    fn get_jail(&self, j: &Jail, cmd: &[Json]) -> CmdResult {
        let opt = arg_s(cmd, 1)?;
        let conf = || lock(&j.conf).clone();
        Ok(match opt.as_str() {
            // (gaoler's own: lines a regex could not finish its search on)
            "unevaluated" => json!(j.unevaluated()),
            "banned" => {
                let ids: Vec<String> = cmd[2..].iter().map(s).collect();
                let list = j.ban_list();
                match ids.len() {
                    0 => json!(list),
                    1 => json!(if list.contains(&ids[0]) { 1 } else { 0 }),
                    _ => json!(ids
                        .iter()
                        .map(|i| if list.contains(i) { 1 } else { 0 })
                        .collect::<Vec<_>>()),
                }
            }
            "logpath" => json!(if j.is_journal() {
                Vec::new()
            } else {
                conf()
                    .logpaths
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect::<Vec<_>>()
            }),
            // (`auto` is the locale's encoding, which fail2ban reports;
            // gaoler reads UTF-8)
            "logencoding" if conf().encoding.eq_ignore_ascii_case("auto") => json!("UTF-8"),
            "logencoding" => json!(conf().encoding),
            // (only a journal jail has matches, as in fail2ban, whose file
            // filters take none)
            "journalmatch" if !j.is_journal() => json!([]),
            "journalmatch" => json!(conf().journalmatches),
            "ignoreself" => json!(lock(&j.fail).ignore.ignore_self()),
            "ignoreip" => json!(lock(&j.fail).ignore.entries()),
            "ignorecommand" => json!(conf().ignorecommand),
            "ignorecache" => match lock(&j.fail).ignore.cache_config() {
                None => Json::Null,
                Some(c) => {
                    json!({"key": c.key, "max-count": c.max_count, "max-time": num(c.max_time)})
                }
            },
            "prefregex" => {
                let c = conf();
                match &c.prefregex {
                    None => json!(""),
                    Some(_) => match gaoler_filter::Filter::new(c.spec()) {
                        Ok(f) => json!(f.prefregex_text().unwrap_or("")),
                        Err(_) => json!(c.prefregex),
                    },
                }
            }
            "failregex" | "ignoreregex" => {
                let c = conf();
                let list = if opt == "failregex" {
                    c.failregex.clone()
                } else {
                    c.ignoreregex.clone()
                };
                match gaoler_filter::Filter::new(c.spec()) {
                    Ok(f) if opt == "failregex" => json!(f.failregex_texts()),
                    Ok(f) => json!(f.ignoreregex_texts()),
                    Err(_) => json!(list),
                }
            }
            "usedns" => json!(conf().usedns),
            "findtime" => num(conf().findtime),
            "datepattern" => {
                let c = conf();
                match gaoler_datedetector::DateDetector::new(c.datepattern.as_deref()) {
                    Ok(d) => {
                        let (p, n) = d.describe();
                        json!([p, n])
                    }
                    Err(_) => json!([c.datepattern, c.datepattern]),
                }
            }
            "logtimezone" => json!(conf().logtimezone),
            "maxmatches" => json!(lock(&j.fail).fm.max_matches()),
            "maxretry" => json!(lock(&j.fail).fm.max_retry()),
            "maxtracked" => json!(lock(&j.fail).fm.max_tracked()),
            "actionengine" => json!(j.action_engine()),
            "kerneltimeout" => json!(j.kernel_timeout()),
            "fleet" => json!(j.fleet_settings().mode.as_str()),
            "fleetjails" => json!(j.fleet_settings().history_jails()),
            "fleetcount" => json!(j.fleet_settings().count.as_str()),
            "maxlines" => json!(conf().maxlines),
            "bantime" => num(lock(&j.bans).bm.ban_time()),
            "banip" => {
                let with_time = cmd.get(2).map(s).is_some_and(|x| x == "--with-time");
                if with_time {
                    json!(j.ban_list_with_time())
                } else {
                    json!(j.ban_list())
                }
            }
            "actions" => json!(j.action_names()),
            "action" => {
                let a = arg_s(cmd, 2)?;
                let prop = arg_s(cmd, 3)?;
                j.with_action(&a, |act| act.property(&prop).map(str::to_owned))
                    .ok_or_else(|| no_action(&a))?
                    .map(Json::String)
                    .ok_or_else(|| {
                        CommandError::Failed(format!(
                            "'CommandAction' object has no attribute '{prop}'"
                        ))
                    })?
            }
            "actionproperties" => {
                let a = arg_s(cmd, 2)?;
                j.with_action(&a, |act| {
                    // (and the class attributes a Python CommandAction
                    // lists among its properties)
                    let mut names: Vec<&str> =
                        act.properties().keys().map(String::as_str).collect();
                    names.extend(["ESCAPE_CRE", "ESCAPE_VN_CRE", "banEpoch"]);
                    names.sort_unstable();
                    json!(names)
                })
                .ok_or_else(|| no_action(&a))?
            }
            "actionmethods" => {
                let a = arg_s(cmd, 2)?;
                j.with_action(&a, |_| {
                    // (a Python CommandAction's public methods)
                    json!([
                        "ban",
                        "clearAllParams",
                        "consistencyCheck",
                        "escapeTag",
                        "executeCmd",
                        "flush",
                        "invalidateBanEpoch",
                        "prolong",
                        "reban",
                        "reload",
                        "replaceDynamicTags",
                        "replaceTag",
                        "start",
                        "stop",
                        "unban"
                    ])
                })
                .ok_or_else(|| no_action(&a))?
            }
            o if o.starts_with("bantime.") => lock(&j.ban_extra)
                .get(&o["bantime.".len()..])
                .cloned()
                .unwrap_or(Json::Null),
            "idle" => json!(j.idle.load(Ordering::SeqCst)),
            _ => {
                return Err(CommandError::Failed(
                    "Invalid command (no get action or not yet implemented)".into(),
                ))
            }
        })
    }
}

/// Compiles one regex (with the jail's prefregex, which can supply the
/// failure id), so a bad one is refused when it is set, as fail2ban does,
/// rather than when the jail starts.
fn validate_regex(prefregex: Option<&str>, r: &str, fail: bool) -> Result<(), CommandError> {
    let spec = if fail {
        gaoler_filter::FilterSpec {
            prefregex: prefregex.map(str::to_owned),
            failregex: vec![r.to_owned()],
            ..Default::default()
        }
    } else {
        gaoler_filter::FilterSpec {
            ignoreregex: vec![r.to_owned()],
            ..Default::default()
        }
    };
    gaoler_filter::Filter::new(spec)
        .map(|_| ())
        .map_err(|e| CommandError::Invalid(e.to_string()))
}

/// `ignorecache` value: `key="<ip>", max-count=100, max-time=5m`.
fn parse_ignore_cache(v: &str) -> Result<Option<IgnoreCacheConfig>, CommandError> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    let mut cfg: Option<IgnoreCacheConfig> = None;
    let mut max_count = None;
    let mut max_time = None;
    for part in v.split(',') {
        let Some((k, val)) = part.split_once('=') else {
            continue;
        };
        let val = val.trim().trim_matches(|c| c == '"' || c == '\'');
        match k.trim() {
            "key" => cfg = Some(IgnoreCacheConfig::new(val)),
            "max-count" => {
                max_count = Some(
                    val.parse::<usize>()
                        .map_err(|_| CommandError::Invalid(format!("invalid max-count {val:?}")))?,
                )
            }
            "max-time" => max_time = Some(seconds(&json!(val))?),
            _ => {}
        }
    }
    let mut cfg = cfg.ok_or_else(|| CommandError::Invalid("ignorecache needs a key".into()))?;
    if let Some(c) = max_count {
        cfg.max_count = c;
    }
    if let Some(t) = max_time {
        cfg.max_time = t;
    }
    Ok(Some(cfg))
}

/// What fail2ban's jail raises for an action it does not have.
fn no_action(name: &str) -> CommandError {
    CommandError::UnknownKey(format!("Invalid Action name: {name}"))
}

/// fail2ban expands `<HOST>` when a regex is added, by the jail's `usedns`
/// at that moment (`no`: addresses only): a later `set J usedns` changes
/// the regexes added after it, not those before. The tag is pinned here to
/// the form it had when added.
fn pin_host(regex: &str, usedns: &str) -> String {
    if usedns == "no" {
        regex.replace("<HOST>", "<ADDR>")
    } else {
        regex.replace("<HOST>", "(?:<ADDR>|<DNS>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_like_python() {
        assert_eq!(repr(&json!(["set", "x", 1])), "['set', 'x', 1]");
        assert_eq!(repr(&json!(["it's"])), "[\"it's\"]");
        assert_eq!(repr(&json!(["it's \"x\""])), "['it\\'s \"x\"']");
    }

    #[test]
    fn ignore_cache_parses() {
        let c = parse_ignore_cache("key=\"<ip>\", max-count=10, max-time=5m")
            .unwrap()
            .unwrap();
        assert_eq!(c.key, "<ip>");
        assert_eq!(c.max_count, 10);
        assert_eq!(c.max_time, 300.0);
        assert!(parse_ignore_cache("").unwrap().is_none());
    }
}
