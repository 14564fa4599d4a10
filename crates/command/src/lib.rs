//! The command stream: what the configuration reader emits, the client
//! sends and the server carries out, as one typed [`Command`].
//!
//! On the wire a command stays what fail2ban sends: a JSON array of words
//! and values (`["set", "sshd", "findtime", "600"]`). [`Command::parse`]
//! reads that array and [`Command::to_json`] writes it back; serde goes
//! through the same two functions, so the wire format cannot drift from
//! the type.
//!
//! Design decisions:
//! - **Structure is typed, values stay as sent.** Which command, which
//!   jail and which option are enum variants; a value such as a findtime
//!   or a regex stays the text (or JSON number) the client sent. Turning
//!   values into seconds, counts or compiled regexes needs the domain
//!   crates (config, filter, ban), which depend on this one; doing it
//!   here would tie the contract to all of them. The server and the
//!   start-up check convert values with the same domain functions.
//! - **fail2ban's error order is kept.** fail2ban looks a jail up before
//!   it reads the option, so `set nojail bogus 1` says the jail does not
//!   exist. A [`ParseError`] therefore names the jail its command was
//!   for, and the server reports an unknown jail before the parse error.
//! - **Errors are fail2ban's exception classes** ([`CommandError`]), with
//!   the messages Python gives (`list index out of range`), because
//!   clients print them.
//! - A nested stream (`server-stream`, `reload`) is kept as raw commands:
//!   the server parses and runs them one by one, so a bad command fails
//!   where it stands in the stream, as in fail2ban.

#![deny(missing_docs)]

use serde_json::Value;

mod emit;
mod option;
mod parse;

pub use option::{ActionCall, JailGet, JailSet, LogStart, ServerSetting};

/// A value as the client sent it: a string, or a number or list where
/// fail2ban accepts one.
pub type Json = Value;

/// Errors of one command, mirroring fail2ban's exception classes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `UnknownJailException`: the client prints
    /// `Sorry but the jail 'X' does not exist`.
    #[error("{0}")]
    UnknownJail(String),
    /// `DuplicateJailException`.
    #[error("{0}")]
    DuplicateJail(String),
    /// `ValueError` (bad value, `not banned: [...]`).
    #[error("{0}")]
    Invalid(String),
    /// `Exception` (e.g. `Invalid command`).
    #[error("{0}")]
    Failed(String),
    /// `KeyError` (an action a jail does not have).
    #[error("{0}")]
    UnknownKey(String),
}

impl CommandError {
    /// fail2ban's exception class name.
    pub fn kind(&self) -> &'static str {
        match self {
            CommandError::UnknownJail(_) => "UnknownJailException",
            CommandError::DuplicateJail(_) => "DuplicateJailException",
            CommandError::Invalid(_) => "ValueError",
            CommandError::Failed(_) => "Exception",
            CommandError::UnknownKey(_) => "KeyError",
        }
    }

    /// fail2ban's answer to a command it does not know.
    pub fn invalid_command() -> Self {
        CommandError::Failed("Invalid command".into())
    }

    /// Python's answer to a missing argument.
    pub fn missing_argument() -> Self {
        CommandError::Failed("list index out of range".into())
    }
}

/// A command that could not be read, with the jail it was for: the
/// server answers "no such jail" first when that jail does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The jail a `set`/`get` named, if it named one.
    pub jail: Option<String>,
    /// What is wrong with the command.
    pub error: CommandError,
}

impl From<CommandError> for ParseError {
    fn from(error: CommandError) -> Self {
        ParseError { jail: None, error }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ParseError {}

/// One command of the control protocol (fail2ban's `Transmitter`).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `ping`.
    Ping,
    /// `add JAIL [BACKEND]` (backend `auto` when absent).
    Add {
        /// The new jail.
        jail: String,
        /// Its backend, with options (`polling`, `systemd[...]`).
        backend: String,
    },
    /// `start JAIL`.
    Start {
        /// The jail to start.
        jail: String,
    },
    /// `stop`, `stop --all`, `stop JAIL`.
    Stop(Stop),
    /// `reload [TARGET [OPTIONS [STREAM]]]`.
    Reload {
        /// A jail, or `--all`.
        target: String,
        /// `--unban`, `--restart`, `--if-exists`.
        options: Vec<String>,
        /// The commands that configure the reloaded jails.
        stream: Vec<Json>,
    },
    /// `unban --all` or `unban ID...` (in every jail).
    Unban(Unban),
    /// `banned [ID...]`.
    Banned {
        /// The ids asked about; none for every jail's list.
        ids: Vec<String>,
    },
    /// `echo ...`: the arguments back.
    Echo(Vec<Json>),
    /// `server-status`.
    ServerStatus,
    /// `server-stream [COMMAND...]`: a start stream.
    ServerStream(Vec<Json>),
    /// `sleep SECONDS`.
    Sleep(Json),
    /// `flushlogs`.
    FlushLogs,
    /// `status [JAIL|--all [FLAVOR]]`.
    Status {
        /// A jail or `--all`; none for the server's status.
        jail: Option<String>,
        /// `basic`, `short`, `cymru`, `stats`...
        flavor: Option<String>,
    },
    /// `stats` (also `statistic`, `statistics`).
    Stats,
    /// `version`.
    Version,
    /// `config-error MESSAGE`: a jail the reader skipped.
    ConfigError(String),
    /// `set ...` or `multi-set ...`.
    Set {
        /// `multi-set`: the values come as one list.
        multi: bool,
        /// What is set.
        target: Set,
    },
    /// `get ...`.
    Get(Get),
}

/// What `stop` stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `stop`: the server.
    Server,
    /// `stop --all`: every jail, the server stays.
    AllJails,
    /// `stop JAIL`.
    Jail(String),
}

/// What `unban` lifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unban {
    /// `unban --all`.
    All,
    /// `unban ID...`.
    Ids(Vec<String>),
}

/// The target of `set`.
#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    /// A server setting (`set loglevel INFO`).
    Server {
        /// Which setting.
        setting: ServerSetting,
        /// The value; absent only where the setting allows it.
        value: Option<Json>,
    },
    /// A jail's option (`set sshd findtime 600`).
    Jail {
        /// The jail.
        jail: String,
        /// The option and its values.
        option: JailSet,
    },
}

/// The target of `get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Get {
    /// A server setting.
    Server(ServerSetting),
    /// A jail's option.
    Jail {
        /// The jail.
        jail: String,
        /// What is asked.
        option: JailGet,
    },
}

impl Command {
    /// Reads one command as it came over the wire.
    pub fn parse(words: &[Json]) -> Result<Command, ParseError> {
        parse::command(words)
    }

    /// The command as fail2ban sends it.
    pub fn to_json(&self) -> Vec<Json> {
        emit::command(self)
    }

    /// The jail this command adds, starts or configures (`add`, `start`,
    /// `set JAIL ...`, `multi-set JAIL ...`): a start stream refuses that
    /// jail alone when the command fails.
    pub fn jail(&self) -> Option<&str> {
        match self {
            Command::Add { jail, .. } | Command::Start { jail } => Some(jail),
            Command::Set {
                target: Set::Jail { jail, .. },
                ..
            } => Some(jail),
            _ => None,
        }
    }

    /// The configuration option behind a jail command (`addfailregex` →
    /// `failregex`, `action A …` → `action`, `add` → `backend`), for
    /// finding the file and line where it was set.
    pub fn option(&self) -> Option<&'static str> {
        match self {
            Command::Add { .. } => Some("backend"),
            Command::Set {
                target: Set::Jail { option, .. },
                ..
            } => option.config_option(),
            _ => None,
        }
    }
}

impl serde::Serialize for Command {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Command {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let words = Vec::<Json>::deserialize(d)?;
        Command::parse(&words).map_err(serde::de::Error::custom)
    }
}

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

/// A command argument as text, as Python's `str()` shows it (numbers and
/// booleans too): fail2ban's server takes every word through `str`.
pub fn text(v: &Json) -> String {
    match v {
        Json::String(x) => x.clone(),
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}
