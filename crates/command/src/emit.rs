//! Writing a command back as the JSON words fail2ban sends.

use crate::option::{ActionCall, LogStart};
use crate::{Command, Get, JailGet, JailSet, Json, Set, Stop, Unban};

fn words<I: IntoIterator<Item = S>, S: Into<Json>>(it: I) -> Vec<Json> {
    it.into_iter().map(Into::into).collect()
}

pub(crate) fn command(c: &Command) -> Vec<Json> {
    let mut out: Vec<Json> = Vec::new();
    let mut word = |w: &str| out.push(Json::from(w));
    match c {
        Command::Ping => word("ping"),
        Command::Add { jail, backend } => {
            word("add");
            word(jail);
            word(backend);
        }
        Command::Start { jail } => {
            word("start");
            word(jail);
        }
        Command::Stop(stop) => {
            word("stop");
            match stop {
                Stop::Server => {}
                Stop::AllJails => word("--all"),
                Stop::Jail(j) => word(j),
            }
        }
        Command::Reload {
            target,
            options,
            stream,
        } => {
            word("reload");
            word(target);
            out.push(Json::Array(words(options.iter().map(String::as_str))));
            out.push(Json::Array(stream.clone()));
        }
        Command::Unban(u) => {
            word("unban");
            match u {
                Unban::All => word("--all"),
                Unban::Ids(ids) => ids.iter().for_each(|i| word(i)),
            }
        }
        Command::Banned { ids } => {
            word("banned");
            ids.iter().for_each(|i| word(i));
        }
        Command::Echo(args) => {
            word("echo");
            out.extend(args.iter().cloned());
        }
        Command::ServerStatus => word("server-status"),
        Command::ServerStream(stream) => {
            word("server-stream");
            out.push(Json::Array(stream.clone()));
        }
        Command::Sleep(v) => {
            word("sleep");
            out.push(v.clone());
        }
        Command::FlushLogs => word("flushlogs"),
        Command::Status { jail, flavor } => {
            word("status");
            jail.iter().chain(flavor).for_each(|w| word(w));
        }
        Command::Stats => word("stats"),
        Command::Version => word("version"),
        Command::ConfigError(msg) => {
            word("config-error");
            word(msg);
        }
        Command::Set { multi, target } => {
            word(if *multi { "multi-set" } else { "set" });
            match target {
                Set::Server { setting, value } => {
                    word(setting.name());
                    out.extend(value.iter().cloned());
                }
                Set::Jail { jail, option } => {
                    word(jail);
                    out.extend(jail_set(option, *multi));
                }
            }
        }
        Command::Get(g) => {
            word("get");
            match g {
                Get::Server(s) => word(s.name()),
                Get::Jail { jail, option } => {
                    word(jail);
                    out.extend(jail_get(option));
                }
            }
        }
    }
    out
}

/// The option and its values; `multi` puts the values in one list.
fn jail_set(o: &JailSet, multi: bool) -> Vec<Json> {
    let one = |v: &str| vec![Json::from(v)];
    let many = |v: &[String]| words(v.iter().map(String::as_str));
    let values: Vec<Json> = match o {
        JailSet::Idle(on) => one(if *on { "on" } else { "off" }),
        JailSet::DelIgnoreIp(v)
        | JailSet::IgnoreCommand(v)
        | JailSet::IgnoreCache(v)
        | JailSet::DelLogPath(v)
        | JailSet::LogEncoding(v)
        | JailSet::PrefRegex(v)
        | JailSet::UseDns(v)
        | JailSet::DatePattern(v)
        | JailSet::LogTimeZone(v)
        | JailSet::Fleet(v)
        | JailSet::FleetCount(v)
        | JailSet::ActionEngine(v)
        | JailSet::DelAction(v) => one(v),
        JailSet::AddIgnoreIp(v)
        | JailSet::AddJournalMatch(v)
        | JailSet::DelJournalMatch(v)
        | JailSet::AddFailRegex(v)
        | JailSet::AddIgnoreRegex(v)
        | JailSet::FleetJails(v)
        | JailSet::BanIp(v) => many(v),
        JailSet::DelFailRegex(v)
        | JailSet::DelIgnoreRegex(v)
        | JailSet::FindTime(v)
        | JailSet::MaxMatches(v)
        | JailSet::MaxRetry(v)
        | JailSet::MaxTracked(v)
        | JailSet::MaxLines(v)
        | JailSet::BanTime(v)
        | JailSet::IgnoreSelf(v)
        | JailSet::KernelTimeout(v) => vec![v.clone()],
        JailSet::AddLogPath { path, start } => {
            let mut v = one(path);
            match start {
                None => {}
                Some(LogStart::Head) => v.push("head".into()),
                Some(LogStart::Tail) => v.push("tail".into()),
            }
            v
        }
        JailSet::BanTimeExtra { value, .. } => value.iter().cloned().collect(),
        JailSet::Attempt { ip, matches } => {
            let mut v = one(ip);
            v.extend(many(matches));
            v
        }
        JailSet::UnbanIp { ids, report_absent } => {
            let mut v = if *report_absent {
                one("--report-absent")
            } else {
                Vec::new()
            };
            v.extend(many(ids));
            v
        }
        JailSet::AddAction { name, python } => {
            let mut v = one(name);
            v.extend(python.iter().cloned());
            v
        }
        // (the action's name stands before its call, not in the list)
        JailSet::Action { action, call } => {
            let mut v = vec![Json::from("action"), Json::from(action.as_str())];
            match call {
                ActionCall::Properties(p) => v.push(p.clone()),
                ActionCall::Method { key, value } => {
                    v.push(key.as_str().into());
                    v.extend(value.iter().map(|x| Json::from(x.as_str())));
                }
            }
            return v;
        }
    };
    let mut out = vec![Json::from(o.name())];
    if multi {
        out.push(Json::Array(values));
    } else {
        out.extend(values);
    }
    out
}

fn jail_get(o: &JailGet) -> Vec<Json> {
    let mut out = vec![Json::from(o.name())];
    match o {
        JailGet::Banned(ids) => out.extend(words(ids.iter().map(String::as_str))),
        JailGet::BanIp { with_time: true } => out.push("--with-time".into()),
        JailGet::Action { action, property } => {
            out.push(action.as_str().into());
            out.push(property.as_str().into());
        }
        JailGet::ActionProperties(a) | JailGet::ActionMethods(a) => out.push(a.as_str().into()),
        _ => {}
    }
    out
}
