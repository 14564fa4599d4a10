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
use std::sync::Arc;
use std::time::Duration;

use gaoler_ban::IgnoreCacheConfig;
use gaoler_py::repr::repr;
use gaoler_source::StartAt;
use gaoler_store::{OpenOptions, Store};
use serde_json::{json, Map, Value as Json};

use gaoler_command::{Command, Get, JailGet, JailSet, ParseError, ServerSetting, Set, Stop, Unban};
// (a word as Python's str() shows it; a number as Python shows it:
// integral values as ints)
use gaoler_command::text as s;
use gaoler_py::repr::int_or_float as num;

use crate::jail::{lock, Jail};
use crate::log::{level, parse_level};
use crate::{CommandError, Server};

mod jail_options;

/// The version `version` reports (the fail2ban dialect we implement).
pub const VERSION: &str = gaoler_config::reader::FAIL2BAN_VERSION;

type CmdResult = Result<Json, CommandError>;

fn as_bool(v: &str) -> bool {
    gaoler_config::value::as_bool(v.trim())
}

fn parse_int(v: &Json) -> Result<i64, CommandError> {
    gaoler_py::int::json_int(v).map_err(CommandError::Invalid)
}

fn seconds(v: &Json) -> Result<f64, CommandError> {
    gaoler_config::timeval::json_seconds(v).map_err(|e| CommandError::Invalid(e.to_string()))
}

/// A manual ban's target must be an address, a subnet or a raw ID a
/// filter could produce ([`gaoler_addr::Addr::parse_ban_target`]).
fn ban_target(v: &str) -> Result<(), CommandError> {
    gaoler_addr::Addr::check_ban_target(v)
        .map(|_| ())
        .map_err(CommandError::Invalid)
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
                let e = CommandError::invalid_command();
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
                let e = CommandError::invalid_command();
                self.log_failed(std::slice::from_ref(c), &e);
                first_err.get_or_insert(e);
                continue;
            };
            let parsed = Command::parse(c);
            let jail = match &parsed {
                Ok(cmd) => cmd.jail().map(str::to_owned),
                Err(e) => e.jail.clone(),
            };
            if jail.as_ref().is_some_and(|j| skipped.contains(j)) {
                continue;
            }
            let adds = matches!(parsed, Ok(Command::Add { .. }));
            let result = match parsed {
                Ok(cmd) => self.run(cmd, true),
                Err(e) => Err(self.parse_error(e)),
            };
            match result {
                Ok(_) => {
                    if let (Some(j), true) = (&jail, adds) {
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
        match Command::parse(cmd) {
            Ok(c) => self.run(c, quiet),
            Err(e) => Err(self.parse_error(e)),
        }
    }

    /// The error for a command that could not be read: fail2ban looks the
    /// jail up before it reads the option, so a missing jail comes first.
    fn parse_error(&self, e: ParseError) -> CommandError {
        match e.jail {
            Some(j) => self.jail(&j).err().unwrap_or(e.error),
            None => e.error,
        }
    }

    /// Carries out one command (quiet: inside a stream, where `set`
    /// answers null).
    fn run(&self, c: Command, quiet: bool) -> CmdResult {
        match c {
            Command::Ping => Ok(json!("pong")),
            Command::Add { jail, backend } => {
                self.add_jail(&jail, &backend)?;
                Ok(json!(jail))
            }
            Command::Set {
                target: Set::Server { setting, value },
                ..
            } => self.set_server(setting, value.as_ref(), quiet),
            Command::Set {
                multi,
                target: Set::Jail { jail, option },
            } => {
                let j = self.jail(&jail)?;
                self.set_jail(&j, option, multi, quiet)
            }
            Command::Get(Get::Server(setting)) => Ok(self.get_server(setting)),
            Command::Get(Get::Jail { jail, option }) => {
                let j = self.jail(&jail)?;
                self.get_jail(&j, &option)
            }
            Command::Start { jail } => {
                self.start_jail(&jail)?;
                Ok(Json::Null)
            }
            Command::Stop(stop) => {
                match stop {
                    Stop::Server => self.shutdown(),
                    Stop::AllJails => self.stop_all_jails(),
                    Stop::Jail(j) => self.stop_jail(&j)?,
                }
                Ok(Json::Null)
            }
            Command::Reload {
                target,
                options,
                stream,
            } => {
                self.reload(&target, &options, &stream)?;
                Ok(json!("OK"))
            }
            Command::Unban(unban) => {
                let jails = lock(&self.jails).clone();
                let mut cnt = 0;
                match unban {
                    Unban::All => {
                        for j in &jails {
                            cnt += j.flush_bans(true, false);
                        }
                    }
                    Unban::Ids(ids) => {
                        for j in &jails {
                            cnt += j.unban_ips(&ids, true).unwrap_or(0);
                        }
                    }
                }
                Ok(json!(cnt))
            }
            Command::Banned { ids } => {
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
            Command::Echo(args) => Ok(Json::Array(args)),
            Command::ServerStatus => Ok(json!("Server ready")),
            Command::ServerStream(stream) => {
                self.run_start_stream(&stream)?;
                Ok(Json::Null)
            }
            Command::Sleep(v) => {
                let secs = seconds(&v)?;
                std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
                Ok(Json::Null)
            }
            Command::FlushLogs => Ok(json!(self.ctx.logger.flush_logs())),
            Command::Status { jail, flavor } => self.status(jail.as_deref(), flavor.as_deref()),
            Command::Stats => self.status(Some("--all"), Some("stats")),
            Command::Version => Ok(json!(VERSION)),
            Command::ConfigError(msg) => {
                if let Some((jail, reason)) = gaoler_command::parse_skipped(&msg) {
                    lock(&self.failed).insert(jail.to_owned(), reason.to_owned());
                }
                self.ctx.log(level::ERROR, "fail2ban.transmitter", msg);
                Ok(Json::Null)
            }
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
        j.set_idle(false);
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

    fn status(&self, jail: Option<&str>, flavor: Option<&str>) -> CmdResult {
        let Some(name) = jail else {
            return Ok(self.server_status());
        };
        let flavor = flavor.unwrap_or("basic");
        if name == "--all" {
            // fail2ban 1.1: the general status with the dict of jail
            // statuses appended; for `stats` the dict alone.
            let mut m = Map::new();
            let mut jails = lock(&self.jails).clone();
            jails.sort_by(|a, b| a.name.cmp(&b.name));
            for j in jails {
                m.insert(j.name.clone(), j.status(flavor));
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
        match self.jail(name) {
            Ok(j) => Ok(j.status(flavor)),
            Err(e) => match lock(&self.failed).get(name) {
                Some(reason) => Err(CommandError::Failed(format!(
                    "Jail '{name}' failed to start: {reason}"
                ))),
                None => Err(e),
            },
        }
    }

    // ------------------------------------------------------------------
    // set

    fn set_server(&self, setting: ServerSetting, value: Option<&Json>, quiet: bool) -> CmdResult {
        let quiet_or = |v: CmdResult| if quiet { v.map(|_| Json::Null) } else { v };
        // (the parser has made sure that a setting which needs a value has one)
        let v = || value.map(s).unwrap_or_default();
        let number = || value.cloned().unwrap_or(Json::Null);
        match setting {
            ServerSetting::LogLevel => {
                let v = v();
                let l = parse_level(&v)
                    .ok_or_else(|| CommandError::Invalid(format!("Invalid log level {v:?}")))?;
                self.ctx.logger.set_level(l);
                lock(&self.settings).loglevel = v.to_ascii_uppercase();
                quiet_or(Ok(self.get_server(ServerSetting::LogLevel)))
            }
            ServerSetting::LogTarget => {
                let v = v();
                if let Err(e) = self.ctx.logger.set_target(&v) {
                    self.ctx
                        .log(level::ERROR, "fail2ban.server", format!("{e}"));
                    return Err(CommandError::Failed("Failed to change log target".into()));
                }
                quiet_or(Ok(json!(self.ctx.logger.target())))
            }
            ServerSetting::SyslogSocket => {
                let v = v();
                if let Err(e) = self.ctx.logger.set_syslog_socket(&v) {
                    self.ctx
                        .log(level::ERROR, "fail2ban.server", format!("{e}"));
                    return Err(CommandError::Failed(
                        "Failed to change syslog socket".into(),
                    ));
                }
                quiet_or(Ok(json!(self.ctx.logger.syslog_socket())))
            }
            ServerSetting::AllowIpv6 => {
                let v = v();
                lock(&self.settings).allowipv6 = v.clone();
                if v != "auto" {
                    let allowed = as_bool(&v);
                    for j in lock(&self.jails).iter() {
                        j.set_ipv6_allowed(allowed);
                    }
                }
                quiet_or(Ok(json!(v)))
            }
            ServerSetting::Thread => Ok(Json::Null),
            ServerSetting::DbFile => {
                let v = v();
                self.set_dbfile(&v)?;
                let cur = lock(&self.settings).dbfile.clone();
                match cur {
                    None => Ok(Json::Null),
                    Some(f) => quiet_or(Ok(json!(f))),
                }
            }
            ServerSetting::DbMaxMatches => {
                let v = parse_int(&number())?.max(0) as usize;
                lock(&self.settings).dbmaxmatches = v;
                match self.with_db("dbmaxmatches", |d| d.set_max_matches(v)) {
                    true => quiet_or(Ok(json!(v))),
                    false => Ok(Json::Null),
                }
            }
            ServerSetting::Metrics => self
                .set_metrics(&v())
                .map(|a| quiet_or(Ok(json!(a))))
                .map_err(CommandError::Failed)?,
            ServerSetting::FleetHost => {
                self.set_fleet_host(&v())?;
                quiet_or(Ok(json!(self.fleet_host())))
            }
            ServerSetting::FleetRetry => {
                self.set_fleet_retry(seconds(&number())?)?;
                quiet_or(Ok(num(self.fleet_retry())))
            }
            ServerSetting::FleetDb => {
                self.set_fleet_db(&v())?;
                quiet_or(Ok(self.fleet_db_shown().map_or(Json::Null, Json::String)))
            }
            ServerSetting::DbPurgeAge => {
                let v = seconds(&number())?;
                lock(&self.settings).dbpurgeage = v;
                match self.with_db("dbpurgeage", |d| d.set_purge_age(v)) {
                    true => quiet_or(Ok(num(v))),
                    false => Ok(Json::Null),
                }
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

    fn get_server(&self, setting: ServerSetting) -> Json {
        match setting {
            ServerSetting::LogLevel => json!(lock(&self.settings).loglevel),
            ServerSetting::LogTarget => json!(self.ctx.logger.target()),
            ServerSetting::SyslogSocket => json!(self.ctx.logger.syslog_socket()),
            // (not gettable in fail2ban: `get allowipv6` names a jail)
            ServerSetting::AllowIpv6 => json!(lock(&self.settings).allowipv6),
            ServerSetting::Thread => json!({"stacksize": 0}),
            ServerSetting::DbFile => lock(&self.settings)
                .dbfile
                .clone()
                .map_or(Json::Null, Json::String),
            ServerSetting::DbMaxMatches => match self.ctx.db().as_ref() {
                None => Json::Null,
                Some(d) => json!(d.max_matches()),
            },
            ServerSetting::Metrics => json!(self.metrics_addr()),
            // (never the password)
            ServerSetting::FleetDb => self.fleet_db_shown().map_or(Json::Null, Json::String),
            ServerSetting::FleetHost => json!(self.fleet_host()),
            ServerSetting::FleetRetry => num(self.fleet_retry()),
            ServerSetting::DbPurgeAge => match self.ctx.db().as_ref() {
                None => Json::Null,
                Some(d) => num(d.purge_age()),
            },
        }
    }
}

/// `ignorecache` value: `key="<ip>", max-count=100, max-time=5m`.
fn parse_ignore_cache(v: &str) -> Result<Option<IgnoreCacheConfig>, CommandError> {
    IgnoreCacheConfig::parse(v, |t| seconds(&json!(t)).map_err(|e| e.to_string()))
        .map_err(CommandError::Invalid)
}

/// What fail2ban's jail raises for an action it does not have.
fn no_action(name: &str) -> CommandError {
    CommandError::UnknownKey(format!("Invalid Action name: {name}"))
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
