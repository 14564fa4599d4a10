//! Reading a command from its JSON words, with fail2ban's errors.

use crate::option::{ActionCall, LogStart};
use crate::{
    text, Command, CommandError, Get, JailGet, JailSet, Json, ParseError, ServerSetting, Set, Stop,
    Unban,
};

type Result<T> = std::result::Result<T, CommandError>;

fn arg(words: &[Json], i: usize) -> Result<&Json> {
    words.get(i).ok_or_else(CommandError::missing_argument)
}

fn arg_text(words: &[Json], i: usize) -> Result<String> {
    arg(words, i).map(text)
}

fn texts(words: &[Json]) -> Vec<String> {
    words.iter().map(text).collect()
}

pub(crate) fn command(words: &[Json]) -> std::result::Result<Command, ParseError> {
    let name = match words.first() {
        Some(Json::String(n)) => n.as_str(),
        _ => return Err(CommandError::invalid_command().into()),
    };
    let rest = &words[1..];
    Ok(match name {
        "ping" => Command::Ping,
        "add" => {
            let jail = arg_text(words, 1)?;
            if jail == "--all" {
                return Err(CommandError::Failed(format!("Reserved name '{jail}'")).into());
            }
            let backend = words.get(2).map(text).unwrap_or_else(|| "auto".into());
            Command::Add { jail, backend }
        }
        "multi-set" => Command::Set {
            multi: true,
            target: set(rest, true)?,
        },
        "set" => Command::Set {
            multi: false,
            target: set(rest, false)?,
        },
        "get" => Command::Get(get(rest)?),
        "start" => Command::Start {
            jail: arg_text(words, 1)?,
        },
        "stop" => Command::Stop(match words.get(1).map(text) {
            None => Stop::Server,
            Some(a) if a == "--all" => Stop::AllJails,
            Some(j) => Stop::Jail(j),
        }),
        "reload" => Command::Reload {
            target: words.get(1).map(text).unwrap_or_else(|| "--all".into()),
            options: match words.get(2) {
                Some(Json::Array(a)) => texts(a),
                Some(Json::Null) | None => Vec::new(),
                Some(other) => vec![text(other)],
            },
            stream: match words.get(3) {
                Some(Json::Array(a)) => a.clone(),
                _ => Vec::new(),
            },
        },
        "unban" if !rest.is_empty() => {
            let ids = texts(rest);
            Command::Unban(if ids.len() == 1 && ids[0] == "--all" {
                Unban::All
            } else {
                Unban::Ids(ids)
            })
        }
        "banned" => Command::Banned { ids: texts(rest) },
        "echo" => Command::Echo(rest.to_vec()),
        "server-status" => Command::ServerStatus,
        "server-stream" => match words.get(1) {
            Some(Json::Array(stream)) => Command::ServerStream(stream.clone()),
            _ => return Err(CommandError::invalid_command().into()),
        },
        "sleep" => Command::Sleep(arg(words, 1)?.clone()),
        "flushlogs" => Command::FlushLogs,
        "status" => match rest {
            [] => Command::Status {
                jail: None,
                flavor: None,
            },
            [jail] | [jail, _] => Command::Status {
                jail: Some(text(jail)),
                flavor: rest.get(1).map(text),
            },
            _ => {
                return Err(CommandError::Failed("Invalid command (no status)".into()).into());
            }
        },
        "stats" | "statistic" | "statistics" => Command::Stats,
        "version" => Command::Version,
        "config-error" => Command::ConfigError(arg_text(words, 1)?),
        _ => return Err(CommandError::invalid_command().into()),
    })
}

/// `set NAME ...` (`words` without `set`).
fn set(words: &[Json], multi: bool) -> std::result::Result<Set, ParseError> {
    let name = arg_text(words, 0)?;
    if let Some(setting) = ServerSetting::from_name(&name) {
        let value = match (words.get(1), setting.needs_value()) {
            (None, true) => return Err(CommandError::missing_argument().into()),
            (v, _) => v.cloned(),
        };
        return Ok(Set::Server { setting, value });
    }
    jail_set(words, multi)
        .map(|option| Set::Jail {
            jail: name.clone(),
            option,
        })
        .map_err(|error| ParseError {
            jail: Some(name),
            error,
        })
}

/// `set JAIL OPTION VALUE...` (`words` starting at JAIL).
fn jail_set(words: &[Json], multi: bool) -> Result<JailSet> {
    let opt = arg_text(words, 1)?;
    // multi-set passes a list as the value.
    let values: &[Json] = match (multi, words.get(2)) {
        (true, Some(Json::Array(a))) => a,
        _ => &words[2.min(words.len())..],
    };
    let first = || arg_text(values, 0);
    // (fail2ban's int and time options answer a missing value with
    // "Invalid command", the others with Python's index error)
    let number = || {
        values
            .first()
            .cloned()
            .ok_or_else(CommandError::invalid_command)
    };
    Ok(match opt.as_str() {
        "idle" => JailSet::Idle(match first()?.as_str() {
            "on" => true,
            "off" => false,
            _ => {
                return Err(CommandError::Failed(
                    "Invalid idle option, must be 'on' or 'off'".into(),
                ))
            }
        }),
        "ignoreself" => JailSet::IgnoreSelf(arg(values, 0)?.clone()),
        "addignoreip" => JailSet::AddIgnoreIp(texts(values)),
        "delignoreip" => JailSet::DelIgnoreIp(first()?),
        "ignorecommand" => JailSet::IgnoreCommand(first()?),
        "ignorecache" => JailSet::IgnoreCache(first()?),
        "addlogpath" => {
            let path = first()?;
            let start = match values.get(1).map(text) {
                None => None,
                Some(o) if o.eq_ignore_ascii_case("tail") => Some(LogStart::Tail),
                Some(o) if o.eq_ignore_ascii_case("head") => Some(LogStart::Head),
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
            JailSet::AddLogPath { path, start }
        }
        "dellogpath" => JailSet::DelLogPath(first()?),
        "logencoding" => JailSet::LogEncoding(first()?),
        "addjournalmatch" => JailSet::AddJournalMatch(texts(values)),
        "deljournalmatch" => JailSet::DelJournalMatch(texts(values)),
        "prefregex" => JailSet::PrefRegex(first()?),
        "addfailregex" => JailSet::AddFailRegex(texts(values)),
        "addignoreregex" => JailSet::AddIgnoreRegex(texts(values)),
        "delfailregex" => JailSet::DelFailRegex(number()?),
        "delignoreregex" => JailSet::DelIgnoreRegex(number()?),
        "usedns" => JailSet::UseDns(first()?),
        "findtime" => JailSet::FindTime(number()?),
        "datepattern" => JailSet::DatePattern(first()?),
        "logtimezone" => JailSet::LogTimeZone(first()?),
        "maxmatches" => JailSet::MaxMatches(number()?),
        "maxretry" => JailSet::MaxRetry(number()?),
        "maxtracked" => JailSet::MaxTracked(number()?),
        "maxlines" => JailSet::MaxLines(number()?),
        "kerneltimeout" => JailSet::KernelTimeout(arg(values, 0)?.clone()),
        "fleet" => JailSet::Fleet(first()?),
        "fleetjails" => JailSet::FleetJails(texts(values)),
        "fleetcount" => JailSet::FleetCount(first()?),
        "actionengine" => JailSet::ActionEngine(first()?),
        "bantime" => JailSet::BanTime(number()?),
        "attempt" => JailSet::Attempt {
            ip: first()?,
            matches: texts(&values[1..]),
        },
        "banip" => JailSet::BanIp(texts(values)),
        "unbanip" => {
            let mut ids = texts(values);
            let report_absent = ids.first().is_some_and(|x| x == "--report-absent");
            if report_absent {
                ids.remove(0);
            }
            JailSet::UnbanIp { ids, report_absent }
        }
        "addaction" => JailSet::AddAction {
            name: first()?,
            python: values[1..].to_vec(),
        },
        "delaction" => JailSet::DelAction(first()?),
        "action" => {
            let action = arg_text(words, 2)?;
            let call = if multi {
                ActionCall::Properties(words.get(3).cloned().unwrap_or(Json::Null))
            } else {
                ActionCall::Method {
                    key: arg_text(words, 3)?,
                    value: words.get(4).map(text),
                }
            };
            JailSet::Action { action, call }
        }
        o if o.starts_with("bantime.") => JailSet::BanTimeExtra {
            key: o["bantime.".len()..].to_owned(),
            value: values.first().cloned(),
        },
        _ => {
            return Err(CommandError::Failed(format!(
                "Invalid command '{opt}' (no set action or not yet implemented)"
            )))
        }
    })
}

/// `get NAME ...` (`words` without `get`).
fn get(words: &[Json]) -> std::result::Result<Get, ParseError> {
    let name = arg_text(words, 0)?;
    if let Some(setting) = ServerSetting::from_name(&name).filter(|s| s.gettable()) {
        return Ok(Get::Server(setting));
    }
    jail_get(words)
        .map(|option| Get::Jail {
            jail: name.clone(),
            option,
        })
        .map_err(|error| ParseError {
            jail: Some(name),
            error,
        })
}

/// `get JAIL OPTION ...` (`words` starting at JAIL).
fn jail_get(words: &[Json]) -> Result<JailGet> {
    let opt = arg_text(words, 1)?;
    Ok(match opt.as_str() {
        "unevaluated" => JailGet::Unevaluated,
        "banned" => JailGet::Banned(texts(&words[2..])),
        "logpath" => JailGet::LogPath,
        "logencoding" => JailGet::LogEncoding,
        "journalmatch" => JailGet::JournalMatch,
        "ignoreself" => JailGet::IgnoreSelf,
        "ignoreip" => JailGet::IgnoreIp,
        "ignorecommand" => JailGet::IgnoreCommand,
        "ignorecache" => JailGet::IgnoreCache,
        "prefregex" => JailGet::PrefRegex,
        "failregex" => JailGet::FailRegex,
        "ignoreregex" => JailGet::IgnoreRegex,
        "usedns" => JailGet::UseDns,
        "findtime" => JailGet::FindTime,
        "datepattern" => JailGet::DatePattern,
        "logtimezone" => JailGet::LogTimeZone,
        "maxmatches" => JailGet::MaxMatches,
        "maxretry" => JailGet::MaxRetry,
        "maxtracked" => JailGet::MaxTracked,
        "maxlines" => JailGet::MaxLines,
        "actionengine" => JailGet::ActionEngine,
        "kerneltimeout" => JailGet::KernelTimeout,
        "fleet" => JailGet::Fleet,
        "fleetjails" => JailGet::FleetJails,
        "fleetcount" => JailGet::FleetCount,
        "bantime" => JailGet::BanTime,
        "banip" => JailGet::BanIp {
            with_time: words.get(2).map(text).is_some_and(|x| x == "--with-time"),
        },
        "actions" => JailGet::Actions,
        "action" => JailGet::Action {
            action: arg_text(words, 2)?,
            property: arg_text(words, 3)?,
        },
        "actionproperties" => JailGet::ActionProperties(arg_text(words, 2)?),
        "actionmethods" => JailGet::ActionMethods(arg_text(words, 2)?),
        o if o.starts_with("bantime.") => JailGet::BanTimeExtra(o["bantime.".len()..].to_owned()),
        "idle" => JailGet::Idle,
        _ => {
            return Err(CommandError::Failed(
                "Invalid command (no get action or not yet implemented)".into(),
            ))
        }
    })
}
