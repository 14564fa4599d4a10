//! What the server would refuse in a command stream, found without a
//! server: `client -t`'s verdict, and the reason a jail is left out of a
//! start ([`crate::start`]).
//!
//! The check replays the stream on a shadow of the server's state — the
//! jails added so far, each with its `prefregex`, `usedns`, regex counts
//! and actions — and reads every value with the functions the server
//! reads it with (`str2seconds`, the filter's regex compiler, the date
//! detector, the action's property rules, the fleet's name rules). It
//! opens no database, binds no socket, runs no command and starts no
//! thread, so it can judge a `reload` while the real server runs.
//!
//! Left to the running server: the log target and syslog socket (they
//! open files and sockets), the database file, the metrics address
//! (whether it can be bound depends on who holds it), and action methods
//! (`set J action A start` runs the action).

use std::collections::{BTreeMap, BTreeSet};

use gaoler_action::{ActionSpec, CommandAction};
use gaoler_ban::{BanTimeIncrement, IgnoreCacheConfig};
use gaoler_command::{ActionCall, Command, CommandError, JailSet, ServerSetting, Set};
use gaoler_config::timeval::json_seconds;
use gaoler_filter::FilterOptions;
use gaoler_py::int::json_int;
use serde_json::Value as Json;

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

/// What the server knows of one jail while the stream configures it.
struct Shadow {
    filter: FilterOptions,
    actions: BTreeMap<String, CommandAction>,
    /// Python actions: logged and skipped, later commands for them too.
    refused: BTreeSet<String>,
}

impl Shadow {
    fn new() -> Self {
        Shadow {
            filter: FilterOptions::default(),
            actions: BTreeMap::new(),
            refused: BTreeSet::new(),
        }
    }
}

fn invalid(e: impl ToString) -> CommandError {
    CommandError::Invalid(e.to_string())
}

fn seconds(v: &Json) -> Result<f64, CommandError> {
    json_seconds(v).map_err(invalid)
}

/// Every command of `stream` the server would refuse. After a jail's
/// first refusal its later commands are not tried (they would only fail
/// for the same reason).
pub fn check_stream_detailed(stream: &[Command]) -> Vec<Refusal> {
    let mut jails: BTreeMap<String, Shadow> = BTreeMap::new();
    let mut refused: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for (index, cmd) in stream.iter().enumerate() {
        let jail = cmd.jail().map(str::to_owned);
        if jail.as_ref().is_some_and(|j| refused.contains(j)) {
            continue;
        }
        let (error, fatal) = match apply(&mut jails, cmd.clone()) {
            Ok(()) => continue,
            Err(Outcome::Fatal(e)) => (e, true),
            Err(Outcome::Logged(e)) => (e, false),
        };
        if let (Some(j), true) = (&jail, fatal) {
            refused.insert(j.clone());
        }
        out.push(Refusal {
            index,
            jail,
            message: error.to_string(),
            fatal,
        });
    }
    out
}

/// [`check_stream_detailed`] as messages (what `client -t` prints): one
/// per refused command, naming the jail and the command.
pub fn check_stream(stream: &[Command]) -> Vec<String> {
    check_stream_detailed(stream)
        .into_iter()
        .map(|r| {
            // (a connection string's password is never shown)
            let shown = stream
                .get(r.index)
                .map(|c| gaoler_fleet::row::redact_command(&Json::Array(c.to_json())))
                .and_then(|c| serde_json::to_string(&c).ok())
                .unwrap_or_default();
            let shown: String = shown.chars().take(200).collect();
            let jail = r.jail.map(|j| format!("jail '{j}': ")).unwrap_or_default();
            format!("{jail}{} (in command {shown})", r.message)
        })
        .collect()
}

enum Outcome {
    /// The server refuses the command (and the jail, at start).
    Fatal(CommandError),
    /// The server logs it and goes on (a Python action).
    Logged(CommandError),
}

impl From<CommandError> for Outcome {
    fn from(e: CommandError) -> Self {
        Outcome::Fatal(e)
    }
}

fn apply(jails: &mut BTreeMap<String, Shadow>, cmd: Command) -> Result<(), Outcome> {
    match cmd {
        Command::Add { jail, .. } => {
            if jails.contains_key(&jail) {
                return Err(CommandError::DuplicateJail(jail).into());
            }
            jails.insert(jail, Shadow::new());
            Ok(())
        }
        Command::Set {
            target: Set::Server { setting, value },
            ..
        } => server_setting(setting, value.as_ref()).map_err(Outcome::Fatal),
        Command::Set {
            target: Set::Jail { jail, option },
            ..
        } => {
            let shadow = jails
                .get_mut(&jail)
                .ok_or_else(|| CommandError::UnknownJail(jail.clone()))?;
            jail_option(&jail, shadow, option)
        }
        Command::Sleep(v) => seconds(&v).map(|_| ()).map_err(Outcome::Fatal),
        // (nothing a configuration can get wrong)
        Command::Start { .. }
        | Command::Ping
        | Command::Stop(_)
        | Command::Reload { .. }
        | Command::Unban(_)
        | Command::Banned { .. }
        | Command::Echo(_)
        | Command::ServerStatus
        | Command::ServerStream(_)
        | Command::FlushLogs
        | Command::Status { .. }
        | Command::Stats
        | Command::Version
        | Command::ConfigError(_)
        | Command::Get(_) => Ok(()),
    }
}

fn server_setting(setting: ServerSetting, value: Option<&Json>) -> Result<(), CommandError> {
    let value = value.cloned().unwrap_or(Json::Null);
    let text = gaoler_command::text(&value);
    match setting {
        ServerSetting::DbMaxMatches => json_int(&value).map(|_| ()).map_err(invalid),
        ServerSetting::DbPurgeAge => seconds(&value).map(|_| ()),
        ServerSetting::FleetRetry => gaoler_fleet::row::check_retry(seconds(&value)?)
            .map(|_| ())
            .map_err(invalid),
        ServerSetting::FleetHost => gaoler_fleet::row::check_host(text.trim()).map_err(invalid),
        ServerSetting::FleetDb => {
            let v = text.trim();
            if v.is_empty() || v.eq_ignore_ascii_case("none") {
                return Ok(());
            }
            gaoler_fleet::ConnInfo::parse(v)
                .map(|_| ())
                .map_err(invalid)
        }
        ServerSetting::LogLevel
        | ServerSetting::LogTarget
        | ServerSetting::SyslogSocket
        | ServerSetting::AllowIpv6
        | ServerSetting::Thread
        | ServerSetting::DbFile
        | ServerSetting::Metrics => Ok(()),
    }
}

fn jail_option(jail: &str, j: &mut Shadow, option: JailSet) -> Result<(), Outcome> {
    if j.filter.set(&option)? {
        return Ok(());
    }
    let int = |v: &Json| json_int(v).map_err(invalid);
    match option {
        JailSet::IgnoreCache(v) => {
            IgnoreCacheConfig::parse(&v, |t| {
                json_seconds(&Json::from(t)).map_err(|e| e.to_string())
            })
            .map_err(invalid)?;
        }
        JailSet::LogEncoding(v) => {
            gaoler_source::LineDecoder::new(&v).map_err(invalid)?;
        }
        JailSet::FindTime(v) | JailSet::BanTime(v) => {
            seconds(&v)?;
        }
        JailSet::MaxMatches(v) | JailSet::MaxRetry(v) => {
            int(&v)?;
        }
        JailSet::MaxTracked(v) => {
            let n = int(&v)?;
            if n < 0 {
                return Err(CommandError::Invalid(format!(
                    "maxtracked must be 0 (no cap) or a positive count, not {n}"
                ))
                .into());
            }
        }
        JailSet::Fleet(v) => {
            let m: gaoler_fleet::Mode = v.parse().map_err(invalid)?;
            if m.publishes() {
                gaoler_fleet::row::check_publisher(jail).map_err(invalid)?;
            }
        }
        JailSet::FleetCount(v) => {
            v.parse::<gaoler_fleet::Count>().map_err(invalid)?;
        }
        JailSet::ActionEngine(v) => {
            CommandAction::batching_for_engine(v.trim()).map_err(invalid)?;
        }
        JailSet::BanTimeExtra { key, value } => {
            let v = value.as_ref().map(gaoler_command::text).unwrap_or_default();
            let mut inc = BanTimeIncrement::default();
            match key.as_str() {
                "factor" => inc.set_factor(&v).map_err(invalid)?,
                "formula" => inc.set_formula(&v).map_err(invalid)?,
                "multipliers" => inc.set_multipliers(&v).map_err(invalid)?,
                "maxtime" | "rndtime" if !v.is_empty() => {
                    seconds(&Json::from(v))?;
                }
                _ => {}
            }
        }
        JailSet::Attempt { ip, .. } => ban_target(&ip)?,
        JailSet::BanIp(ips) => {
            for ip in &ips {
                ban_target(ip)?;
            }
        }
        JailSet::UnbanIp { ids, report_absent } => {
            // (nothing is banned while the stream configures the jail)
            if report_absent && !ids.is_empty() {
                return Err(CommandError::Invalid(format!(
                    "not banned: {}",
                    gaoler_py::repr::repr(&serde_json::json!(ids))
                ))
                .into());
            }
        }
        JailSet::AddAction { name, python } => add_action(jail, j, name, python)?,
        JailSet::DelAction(a) => {
            if j.actions.remove(&a).is_none() {
                return Err(CommandError::Failed(format!("'{a}'")).into());
            }
        }
        JailSet::Action { action, call } => {
            if j.refused.contains(&action) {
                return Ok(());
            }
            fn act<'a>(
                j: &'a mut Shadow,
                action: &str,
            ) -> Result<&'a mut CommandAction, CommandError> {
                j.actions.get_mut(action).ok_or_else(|| {
                    CommandError::UnknownKey(format!("Invalid Action name: {action}"))
                })
            }
            let r = match call {
                ActionCall::Properties(p) => {
                    let props = ActionCall::pairs(&p)?;
                    act(j, &action)?.reconfigure(&props)
                }
                // (a method runs the action: left to the server)
                ActionCall::Method { key, .. }
                    if matches!(
                        key.as_str(),
                        "start" | "stop" | "reload" | "flush" | "consistencyCheck"
                    ) =>
                {
                    act(j, &action)?;
                    Ok(())
                }
                ActionCall::Method { key, value } => {
                    let a = act(j, &action)?;
                    let v = value.ok_or_else(CommandError::missing_argument)?;
                    a.set_property(&key, &v)
                }
            };
            r.map_err(|e| CommandError::Failed(e.to_string()))?;
        }
        JailSet::Idle(_)
        | JailSet::IgnoreSelf(_)
        | JailSet::AddIgnoreIp(_)
        | JailSet::DelIgnoreIp(_)
        | JailSet::IgnoreCommand(_)
        | JailSet::AddLogPath { .. }
        | JailSet::DelLogPath(_)
        | JailSet::AddJournalMatch(_)
        | JailSet::DelJournalMatch(_)
        | JailSet::KernelTimeout(_)
        | JailSet::FleetJails(_) => {}
        // (the filter's own, applied above)
        JailSet::PrefRegex(_)
        | JailSet::AddFailRegex(_)
        | JailSet::AddIgnoreRegex(_)
        | JailSet::DelFailRegex(_)
        | JailSet::DelIgnoreRegex(_)
        | JailSet::UseDns(_)
        | JailSet::DatePattern(_)
        | JailSet::LogTimeZone(_)
        | JailSet::MaxLines(_) => {}
    }
    Ok(())
}

fn ban_target(v: &str) -> Result<(), CommandError> {
    gaoler_addr::Addr::check_ban_target(v)
        .map(|_| ())
        .map_err(CommandError::Invalid)
}

fn add_action(jail: &str, j: &mut Shadow, name: String, python: Vec<Json>) -> Result<(), Outcome> {
    let spec = ActionSpec {
        jail: jail.to_owned(),
        name: name.clone(),
        properties: Vec::new(),
    };
    // (`addaction A file.py json`: a Python action, logged and skipped)
    let action = match python.is_empty() {
        true => CommandAction::new(&spec),
        false => Err(gaoler_action::ActionError::PythonAction {
            jail: jail.to_owned(),
            action: name.clone(),
        }),
    };
    match action {
        Ok(a) => {
            if j.actions.contains_key(&name) {
                return Err(CommandError::Failed(format!("Action {name} already exists")).into());
            }
            j.actions.insert(name, a);
            Ok(())
        }
        Err(e) => {
            let e = CommandError::Failed(e.to_string());
            if !python.is_empty() || name.ends_with(".py") {
                j.refused.insert(name);
                return Err(Outcome::Logged(e));
            }
            Err(e.into())
        }
    }
}
