//! The options `set` and `get` name: the server's settings and a jail's.

use crate::{text, CommandError, Json};

/// A server-level setting (`set loglevel INFO`, `get dbfile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSetting {
    /// `loglevel`.
    LogLevel,
    /// `logtarget`.
    LogTarget,
    /// `syslogsocket`.
    SyslogSocket,
    /// `allowipv6` (set only: `get allowipv6` names a jail, as in fail2ban).
    AllowIpv6,
    /// `thread` (accepted, without effect).
    Thread,
    /// `dbfile`.
    DbFile,
    /// `dbmaxmatches`.
    DbMaxMatches,
    /// `dbpurgeage`.
    DbPurgeAge,
    /// `metrics` (gaoler's Prometheus listener).
    Metrics,
    /// `fleetdb` (gaoler's fleet).
    FleetDb,
    /// `fleethost`.
    FleetHost,
    /// `fleetretry`.
    FleetRetry,
}

impl ServerSetting {
    const ALL: [ServerSetting; 12] = [
        ServerSetting::LogLevel,
        ServerSetting::LogTarget,
        ServerSetting::SyslogSocket,
        ServerSetting::AllowIpv6,
        ServerSetting::Thread,
        ServerSetting::DbFile,
        ServerSetting::DbMaxMatches,
        ServerSetting::DbPurgeAge,
        ServerSetting::Metrics,
        ServerSetting::FleetDb,
        ServerSetting::FleetHost,
        ServerSetting::FleetRetry,
    ];

    /// The setting's name in commands.
    pub fn name(self) -> &'static str {
        match self {
            ServerSetting::LogLevel => "loglevel",
            ServerSetting::LogTarget => "logtarget",
            ServerSetting::SyslogSocket => "syslogsocket",
            ServerSetting::AllowIpv6 => "allowipv6",
            ServerSetting::Thread => "thread",
            ServerSetting::DbFile => "dbfile",
            ServerSetting::DbMaxMatches => "dbmaxmatches",
            ServerSetting::DbPurgeAge => "dbpurgeage",
            ServerSetting::Metrics => "metrics",
            ServerSetting::FleetDb => "fleetdb",
            ServerSetting::FleetHost => "fleethost",
            ServerSetting::FleetRetry => "fleetretry",
        }
    }

    /// The setting called `name`, if it is one.
    pub fn from_name(name: &str) -> Option<ServerSetting> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether `get` knows it (fail2ban has no `get allowipv6`).
    pub fn gettable(self) -> bool {
        self != ServerSetting::AllowIpv6
    }

    /// Whether `set` needs a value (`set thread` and `set metrics` do not).
    pub(crate) fn needs_value(self) -> bool {
        !matches!(self, ServerSetting::Thread | ServerSetting::Metrics)
    }
}

/// How a log file is first read (`addlogpath PATH [head|tail]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStart {
    /// From the beginning.
    Head,
    /// From the end.
    Tail,
}

/// What an `action` command does to one action.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionCall {
    /// `multi-set J action A [[key, value], ...]`: reconfigure it. The list
    /// is kept as sent and read when the action is known.
    Properties(Json),
    /// `set J action A KEY [VALUE]`: `start`, `stop`, `reload`, `flush`,
    /// `consistencyCheck`, or set property KEY to VALUE.
    Method {
        /// The method or property.
        key: String,
        /// The property's value (read only for a property).
        value: Option<String>,
    },
}

impl ActionCall {
    /// The `[key, value]` pairs of [`ActionCall::Properties`] (a missing
    /// value is empty); "Invalid command" when they are not pairs.
    pub fn pairs(props: &Json) -> Result<Vec<(String, String)>, CommandError> {
        let Json::Array(list) = props else {
            return Err(CommandError::invalid_command());
        };
        list.iter()
            .map(|p| match p {
                Json::Array(kv) if !kv.is_empty() => {
                    Ok((text(&kv[0]), kv.get(1).map(text).unwrap_or_default()))
                }
                _ => Err(CommandError::invalid_command()),
            })
            .collect()
    }
}

/// `set JAIL OPTION ...`: one of a jail's options and its values.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // (each variant is the option of the same name)
pub enum JailSet {
    /// `idle on|off`.
    Idle(bool),
    IgnoreSelf(Json),
    AddIgnoreIp(Vec<String>),
    DelIgnoreIp(String),
    IgnoreCommand(String),
    IgnoreCache(String),
    AddLogPath {
        path: String,
        start: Option<LogStart>,
    },
    DelLogPath(String),
    LogEncoding(String),
    /// `addjournalmatch A B + C`: `+` separates alternatives.
    AddJournalMatch(Vec<String>),
    /// `deljournalmatch` with no match clears them all.
    DelJournalMatch(Vec<String>),
    PrefRegex(String),
    AddFailRegex(Vec<String>),
    AddIgnoreRegex(Vec<String>),
    /// An index into the list, as sent.
    DelFailRegex(Json),
    /// An index into the list, as sent.
    DelIgnoreRegex(Json),
    UseDns(String),
    FindTime(Json),
    DatePattern(String),
    LogTimeZone(String),
    MaxMatches(Json),
    MaxRetry(Json),
    MaxTracked(Json),
    MaxLines(Json),
    KernelTimeout(Json),
    Fleet(String),
    FleetJails(Vec<String>),
    FleetCount(String),
    ActionEngine(String),
    BanTime(Json),
    /// `bantime.increment`, `bantime.factor`, ... (`key` without the
    /// `bantime.` prefix).
    BanTimeExtra {
        key: String,
        value: Option<Json>,
    },
    /// `attempt IP [MATCH...]`: a failure, as if a filter had found it.
    Attempt {
        ip: String,
        matches: Vec<String>,
    },
    BanIp(Vec<String>),
    /// `unbanip [--report-absent] ID...`.
    UnbanIp {
        ids: Vec<String>,
        report_absent: bool,
    },
    /// `addaction NAME [FILE.py JSON]`: with more words it is a Python
    /// action, which gaoler refuses.
    AddAction {
        name: String,
        python: Vec<Json>,
    },
    DelAction(String),
    Action {
        action: String,
        call: ActionCall,
    },
}

impl JailSet {
    /// The option's name in commands.
    pub fn name(&self) -> String {
        match self {
            JailSet::BanTimeExtra { key, .. } => format!("bantime.{key}"),
            other => other.fixed_name().to_owned(),
        }
    }

    fn fixed_name(&self) -> &'static str {
        match self {
            JailSet::Idle(_) => "idle",
            JailSet::IgnoreSelf(_) => "ignoreself",
            JailSet::AddIgnoreIp(_) => "addignoreip",
            JailSet::DelIgnoreIp(_) => "delignoreip",
            JailSet::IgnoreCommand(_) => "ignorecommand",
            JailSet::IgnoreCache(_) => "ignorecache",
            JailSet::AddLogPath { .. } => "addlogpath",
            JailSet::DelLogPath(_) => "dellogpath",
            JailSet::LogEncoding(_) => "logencoding",
            JailSet::AddJournalMatch(_) => "addjournalmatch",
            JailSet::DelJournalMatch(_) => "deljournalmatch",
            JailSet::PrefRegex(_) => "prefregex",
            JailSet::AddFailRegex(_) => "addfailregex",
            JailSet::AddIgnoreRegex(_) => "addignoreregex",
            JailSet::DelFailRegex(_) => "delfailregex",
            JailSet::DelIgnoreRegex(_) => "delignoreregex",
            JailSet::UseDns(_) => "usedns",
            JailSet::FindTime(_) => "findtime",
            JailSet::DatePattern(_) => "datepattern",
            JailSet::LogTimeZone(_) => "logtimezone",
            JailSet::MaxMatches(_) => "maxmatches",
            JailSet::MaxRetry(_) => "maxretry",
            JailSet::MaxTracked(_) => "maxtracked",
            JailSet::MaxLines(_) => "maxlines",
            JailSet::KernelTimeout(_) => "kerneltimeout",
            JailSet::Fleet(_) => "fleet",
            JailSet::FleetJails(_) => "fleetjails",
            JailSet::FleetCount(_) => "fleetcount",
            JailSet::ActionEngine(_) => "actionengine",
            JailSet::BanTime(_) => "bantime",
            JailSet::BanTimeExtra { .. } => "bantime.",
            JailSet::Attempt { .. } => "attempt",
            JailSet::BanIp(_) => "banip",
            JailSet::UnbanIp { .. } => "unbanip",
            JailSet::AddAction { .. } => "addaction",
            JailSet::DelAction(_) => "delaction",
            JailSet::Action { .. } => "action",
        }
    }

    /// The configuration option that produces this command, if one does.
    pub fn config_option(&self) -> Option<&'static str> {
        Some(match self {
            JailSet::AddFailRegex(_) | JailSet::DelFailRegex(_) => "failregex",
            JailSet::AddIgnoreRegex(_) | JailSet::DelIgnoreRegex(_) => "ignoreregex",
            JailSet::AddLogPath { .. } | JailSet::DelLogPath(_) => "logpath",
            JailSet::AddIgnoreIp(_) | JailSet::DelIgnoreIp(_) => "ignoreip",
            JailSet::AddJournalMatch(_) | JailSet::DelJournalMatch(_) => "journalmatch",
            JailSet::AddAction { .. } | JailSet::DelAction(_) | JailSet::Action { .. } => "action",
            JailSet::PrefRegex(_) => "prefregex",
            JailSet::DatePattern(_) => "datepattern",
            JailSet::LogTimeZone(_) => "logtimezone",
            JailSet::LogEncoding(_) => "logencoding",
            JailSet::UseDns(_) => "usedns",
            JailSet::FindTime(_) => "findtime",
            JailSet::BanTime(_) => "bantime",
            JailSet::MaxRetry(_) => "maxretry",
            JailSet::MaxMatches(_) => "maxmatches",
            JailSet::MaxLines(_) => "maxlines",
            JailSet::IgnoreCommand(_) => "ignorecommand",
            JailSet::IgnoreSelf(_) => "ignoreself",
            JailSet::IgnoreCache(_) => "ignorecache",
            JailSet::BanTimeExtra { key, .. } => match key.as_str() {
                "increment" => "bantime.increment",
                "factor" => "bantime.factor",
                "formula" => "bantime.formula",
                "multipliers" => "bantime.multipliers",
                "maxtime" => "bantime.maxtime",
                "rndtime" => "bantime.rndtime",
                "overalljails" => "bantime.overalljails",
                _ => return None,
            },
            _ => return None,
        })
    }
}

/// `get JAIL OPTION ...`: what is asked of a jail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // (each variant is the option of the same name)
pub enum JailGet {
    /// Lines a regex could not finish its search on (gaoler's own).
    Unevaluated,
    /// `banned [ID...]`.
    Banned(Vec<String>),
    LogPath,
    LogEncoding,
    JournalMatch,
    IgnoreSelf,
    IgnoreIp,
    IgnoreCommand,
    IgnoreCache,
    PrefRegex,
    FailRegex,
    IgnoreRegex,
    UseDns,
    FindTime,
    DatePattern,
    LogTimeZone,
    MaxMatches,
    MaxRetry,
    MaxTracked,
    MaxLines,
    ActionEngine,
    KernelTimeout,
    Fleet,
    FleetJails,
    FleetCount,
    BanTime,
    /// `banip [--with-time]`.
    BanIp {
        with_time: bool,
    },
    Actions,
    Action {
        action: String,
        property: String,
    },
    ActionProperties(String),
    ActionMethods(String),
    /// `bantime.KEY`.
    BanTimeExtra(String),
    Idle,
}

impl JailGet {
    /// The option's name in commands.
    pub fn name(&self) -> String {
        let fixed = match self {
            JailGet::BanTimeExtra(key) => return format!("bantime.{key}"),
            JailGet::Unevaluated => "unevaluated",
            JailGet::Banned(_) => "banned",
            JailGet::LogPath => "logpath",
            JailGet::LogEncoding => "logencoding",
            JailGet::JournalMatch => "journalmatch",
            JailGet::IgnoreSelf => "ignoreself",
            JailGet::IgnoreIp => "ignoreip",
            JailGet::IgnoreCommand => "ignorecommand",
            JailGet::IgnoreCache => "ignorecache",
            JailGet::PrefRegex => "prefregex",
            JailGet::FailRegex => "failregex",
            JailGet::IgnoreRegex => "ignoreregex",
            JailGet::UseDns => "usedns",
            JailGet::FindTime => "findtime",
            JailGet::DatePattern => "datepattern",
            JailGet::LogTimeZone => "logtimezone",
            JailGet::MaxMatches => "maxmatches",
            JailGet::MaxRetry => "maxretry",
            JailGet::MaxTracked => "maxtracked",
            JailGet::MaxLines => "maxlines",
            JailGet::ActionEngine => "actionengine",
            JailGet::KernelTimeout => "kerneltimeout",
            JailGet::Fleet => "fleet",
            JailGet::FleetJails => "fleetjails",
            JailGet::FleetCount => "fleetcount",
            JailGet::BanTime => "bantime",
            JailGet::BanIp { .. } => "banip",
            JailGet::Actions => "actions",
            JailGet::Action { .. } => "action",
            JailGet::ActionProperties(_) => "actionproperties",
            JailGet::ActionMethods(_) => "actionmethods",
            JailGet::Idle => "idle",
        };
        fixed.to_owned()
    }
}
