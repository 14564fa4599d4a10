//! `set JAIL ...` and `get JAIL ...`: a jail's options as the command
//! stream sets them (filter, counting, ban time and `bantime.*`, ignore
//! lists, actions and their properties) and as `get` reads them back.

use gaoler_command::{ActionCall, LogStart};
use gaoler_filter::UseDns;

use super::*;

impl Server {
    pub(crate) fn set_jail(
        &self,
        j: &Arc<Jail>,
        option: JailSet,
        multiple: bool,
        quiet: bool,
    ) -> CmdResult {
        let getter = |o: JailGet| -> CmdResult {
            if quiet {
                Ok(Json::Null)
            } else {
                self.get_jail(j, &o)
            }
        };
        // (for the arms two options share)
        let name = option.name();
        match option {
            JailSet::Idle(on) => {
                j.set_idle(on);
                if quiet {
                    Ok(Json::Null)
                } else {
                    Ok(json!(j.is_idle()))
                }
            }
            JailSet::IgnoreSelf(v) => {
                j.set_ignore_self(as_bool(&s(&v)));
                getter(JailGet::IgnoreSelf)
            }
            JailSet::AddIgnoreIp(values) => {
                j.add_ignore_ips(&values);
                getter(JailGet::IgnoreIp)
            }
            JailSet::DelIgnoreIp(v) => {
                j.del_ignore_ip(&v);
                getter(JailGet::IgnoreIp)
            }
            JailSet::IgnoreCommand(v) => {
                j.set_ignore_command(v);
                getter(JailGet::IgnoreCommand)
            }
            JailSet::IgnoreCache(v) => {
                let cfg = parse_ignore_cache(&v)?;
                j.set_ignore_cache(cfg);
                getter(JailGet::IgnoreCache)
            }
            JailSet::AddLogPath { path, start } => {
                let start = match start {
                    Some(LogStart::Tail) => StartAt::Tail,
                    Some(LogStart::Head) | None => StartAt::Head,
                };
                j.add_log_path(path, start);
                getter(JailGet::LogPath)
            }
            JailSet::DelLogPath(path) => {
                j.update_conf(|c| c.logpaths.retain(|(p, _)| *p != path));
                getter(JailGet::LogPath)
            }
            JailSet::LogEncoding(v) => {
                gaoler_source::LineDecoder::new(&v)
                    .map_err(|e| CommandError::Invalid(e.to_string()))?;
                j.update_conf(|c| c.encoding = v);
                getter(JailGet::LogEncoding)
            }
            JailSet::AddJournalMatch(m) | JailSet::DelJournalMatch(m) => {
                let add = name == "addjournalmatch";
                // `+` separates alternatives, each one match line.
                let groups: Vec<Vec<String>> = m
                    .split(|x| x == "+")
                    .filter(|g| !g.is_empty())
                    .map(|g| g.to_vec())
                    .collect();
                j.update_conf(|c| {
                    if add {
                        c.journalmatches.extend(groups);
                    } else if m.is_empty() {
                        c.journalmatches.clear();
                    } else {
                        c.journalmatches.retain(|x| !groups.contains(x));
                    }
                });
                getter(JailGet::JournalMatch)
            }
            JailSet::PrefRegex(_)
            | JailSet::AddFailRegex(_)
            | JailSet::AddIgnoreRegex(_)
            | JailSet::DelFailRegex(_)
            | JailSet::DelIgnoreRegex(_)
            | JailSet::UseDns(_)
            | JailSet::DatePattern(_)
            | JailSet::LogTimeZone(_)
            | JailSet::MaxLines(_) => {
                if let JailSet::UseDns(v) = &option {
                    let v = v.to_ascii_lowercase();
                    if v.parse::<UseDns>().is_err() {
                        self.ctx.log(
                            level::WARNING,
                            "fail2ban.filter",
                            format!("Incorrect value for usedns. \"{v}\". Using default \"no\""),
                        );
                    }
                }
                j.set_filter_option(&option)?;
                let get = match option {
                    JailSet::PrefRegex(_) => JailGet::PrefRegex,
                    JailSet::AddFailRegex(_) | JailSet::DelFailRegex(_) => JailGet::FailRegex,
                    JailSet::AddIgnoreRegex(_) | JailSet::DelIgnoreRegex(_) => JailGet::IgnoreRegex,
                    JailSet::UseDns(_) => JailGet::UseDns,
                    JailSet::DatePattern(_) => JailGet::DatePattern,
                    JailSet::LogTimeZone(_) => JailGet::LogTimeZone,
                    _ => JailGet::MaxLines,
                };
                // (a multi-set of regexes answers True, as in fail2ban)
                let added = matches!(
                    option,
                    JailSet::AddFailRegex(_) | JailSet::AddIgnoreRegex(_)
                );
                if multiple && added {
                    return Ok(json!(true));
                }
                getter(get)
            }
            JailSet::FindTime(v) => {
                let v = seconds(&v)?;
                j.set_find_time(v);
                getter(JailGet::FindTime)
            }
            JailSet::MaxMatches(v) => {
                let v = parse_int(&v)?;
                j.set_max_matches(v.max(0) as usize);
                getter(JailGet::MaxMatches)
            }
            JailSet::MaxRetry(v) => {
                let v = parse_int(&v)?;
                j.set_max_retry(v.max(0) as u32);
                getter(JailGet::MaxRetry)
            }
            JailSet::MaxTracked(v) => {
                let v = parse_int(&v)?;
                if v < 0 {
                    return Err(CommandError::Invalid(format!(
                        "maxtracked must be 0 (no cap) or a positive count, not {v}"
                    )));
                }
                j.set_max_tracked(v as usize);
                getter(JailGet::MaxTracked)
            }
            JailSet::KernelTimeout(v) => {
                j.set_kernel_timeout(as_bool(&s(&v)));
                getter(JailGet::KernelTimeout)
            }
            JailSet::Fleet(v) => {
                let m: gaoler_fleet::Mode = v.parse().map_err(CommandError::Invalid)?;
                // (the other hosts would refuse every row of this jail)
                if m.publishes() {
                    gaoler_fleet::row::check_publisher(&j.name).map_err(CommandError::Invalid)?;
                }
                j.update_fleet(|f| f.mode = m);
                getter(JailGet::Fleet)
            }
            JailSet::FleetJails(values) => {
                let names: Vec<String> = values
                    .iter()
                    .flat_map(|v| {
                        v.split([' ', ',', '\n', '\t'])
                            .filter(|w| !w.is_empty())
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                j.update_fleet(|f| f.jails = names);
                getter(JailGet::FleetJails)
            }
            JailSet::FleetCount(v) => {
                let c: gaoler_fleet::Count = v.parse().map_err(CommandError::Invalid)?;
                j.update_fleet(|f| f.count = c);
                getter(JailGet::FleetCount)
            }
            JailSet::ActionEngine(v) => {
                j.set_action_engine(v.trim())
                    .map_err(CommandError::Invalid)?;
                getter(JailGet::ActionEngine)
            }
            JailSet::BanTime(v) => {
                let v = seconds(&v)?;
                j.set_ban_time(v);
                self.ctx.log(
                    level::INFO,
                    "fail2ban.actions",
                    format!("  banTime: {}", num(v)),
                );
                getter(JailGet::BanTime)
            }
            JailSet::Attempt { ip, matches } => {
                ban_target(&ip)?;
                if quiet {
                    return Ok(Json::Null);
                }
                Ok(json!(j.add_attempt(&ip, &matches)))
            }
            JailSet::BanIp(ips) => {
                // All or nothing: one bad value refuses the whole command.
                for ip in &ips {
                    ban_target(ip)?;
                }
                Ok(json!(j.ban_ips(&ips)))
            }
            JailSet::UnbanIp { ids, report_absent } => j
                .unban_ips(&ids, !report_absent)
                .map(|n| json!(n))
                .map_err(|missed| {
                    CommandError::Invalid(format!("not banned: {}", repr(&json!(missed))))
                }),
            JailSet::AddAction { name: a, python } => {
                if !python.is_empty() {
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
                    j.refuse_action(a);
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
                            j.refuse_action(a);
                            if quiet {
                                return Ok(Json::Null);
                            }
                        }
                        Err(CommandError::Failed(msg))
                    }
                }
            }
            JailSet::DelAction(a) => {
                if !j.del_action(&a) {
                    return Err(CommandError::Failed(format!("'{a}'")));
                }
                Ok(Json::Null)
            }
            JailSet::Action { action, call } => self.set_action(j, &action, call, quiet),
            JailSet::BanTimeExtra { key, value } => {
                let v = value.as_ref().map(s).unwrap_or_default();
                j.set_bantime_extra(&key, &v, |t| seconds(&json!(t)).map_err(|e| e.to_string()))
                    .map_err(CommandError::Invalid)?;
                getter(JailGet::BanTimeExtra(key))
            }
        }
    }

    pub(crate) fn set_action(&self, j: &Jail, a: &str, call: ActionCall, quiet: bool) -> CmdResult {
        if j.is_refused_action(a) {
            return Ok(Json::Null);
        }
        let (key, value) = match call {
            ActionCall::Properties(p) => {
                let props = ActionCall::pairs(&p)?;
                let r = j
                    .with_action(a, |act| act.reconfigure(&props))
                    .ok_or_else(|| no_action(a))?;
                r.map_err(|e| CommandError::Failed(e.to_string()))?;
                return Ok(json!(true));
            }
            ActionCall::Method { key, value } => (key, value),
        };
        let r = j
            .with_action(a, |act| -> CmdResult {
                match key.as_str() {
                    "start" => act.start().map(|_| Json::Null),
                    "stop" => act.stop().map(|_| Json::Null),
                    "reload" => act.reload().map(|_| Json::Null),
                    "flush" => act.flush().map(|b| json!(b)),
                    "consistencyCheck" => act.consistency_check().map(|b| json!(b)),
                    _ => {
                        let v = value.ok_or_else(CommandError::missing_argument)?;
                        act.set_property(&key, &v).map(|_| json!(v))
                    }
                }
                .map_err(|e| CommandError::Failed(e.to_string()))
            })
            .ok_or_else(|| no_action(a))??;
        if quiet {
            Ok(Json::Null)
        } else {
            Ok(r)
        }
    }

    // ------------------------------------------------------------------
    // get

    pub(crate) fn get_jail(&self, j: &Jail, option: &JailGet) -> CmdResult {
        let conf = || j.filter_conf();
        Ok(match option {
            // (gaoler's own: lines a regex could not finish its search on)
            JailGet::Unevaluated => json!(j.unevaluated()),
            JailGet::Banned(ids) => {
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
            JailGet::LogPath => json!(if j.is_journal() {
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
            JailGet::LogEncoding if conf().encoding.eq_ignore_ascii_case("auto") => json!("UTF-8"),
            JailGet::LogEncoding => json!(conf().encoding),
            // (only a journal jail has matches, as in fail2ban, whose file
            // filters take none)
            JailGet::JournalMatch if !j.is_journal() => json!([]),
            JailGet::JournalMatch => json!(conf().journalmatches),
            JailGet::IgnoreSelf => json!(j.ignore_self()),
            JailGet::IgnoreIp => json!(j.ignore_ips()),
            JailGet::IgnoreCommand => json!(conf().ignorecommand),
            JailGet::IgnoreCache => match j.ignore_cache() {
                None => Json::Null,
                Some(c) => {
                    json!({"key": c.key, "max-count": c.max_count, "max-time": num(c.max_time)})
                }
            },
            JailGet::PrefRegex => {
                let c = conf();
                match &c.filter.prefregex {
                    None => json!(""),
                    Some(_) => match gaoler_filter::Filter::new(c.spec()) {
                        Ok(f) => json!(f.prefregex_text().unwrap_or("")),
                        Err(_) => json!(c.filter.prefregex),
                    },
                }
            }
            JailGet::FailRegex | JailGet::IgnoreRegex => {
                let c = conf();
                let fail = *option == JailGet::FailRegex;
                let list = if fail {
                    c.filter.failregex.clone()
                } else {
                    c.filter.ignoreregex.clone()
                };
                match gaoler_filter::Filter::new(c.spec()) {
                    Ok(f) if fail => json!(f.failregex_texts()),
                    Ok(f) => json!(f.ignoreregex_texts()),
                    Err(_) => json!(list),
                }
            }
            JailGet::UseDns => json!(conf().filter.usedns.as_str()),
            JailGet::FindTime => num(conf().findtime),
            JailGet::DatePattern => {
                let c = conf();
                match gaoler_datedetector::DateDetector::new(c.filter.datepattern.as_deref()) {
                    Ok(d) => {
                        let (p, n) = d.describe();
                        json!([p, n])
                    }
                    Err(_) => json!([c.filter.datepattern, c.filter.datepattern]),
                }
            }
            JailGet::LogTimeZone => json!(conf().filter.logtimezone),
            JailGet::MaxMatches => json!(j.max_matches()),
            JailGet::MaxRetry => json!(j.max_retry()),
            JailGet::MaxTracked => json!(j.max_tracked()),
            JailGet::ActionEngine => json!(j.action_engine()),
            JailGet::KernelTimeout => json!(j.kernel_timeout()),
            JailGet::Fleet => json!(j.fleet_settings().mode.as_str()),
            JailGet::FleetJails => json!(j.fleet_settings().history_jails()),
            JailGet::FleetCount => json!(j.fleet_settings().count.as_str()),
            JailGet::MaxLines => json!(conf().filter.maxlines),
            JailGet::BanTime => num(j.ban_time()),
            JailGet::BanIp { with_time } => {
                if *with_time {
                    json!(j.ban_list_with_time())
                } else {
                    json!(j.ban_list())
                }
            }
            JailGet::Actions => json!(j.action_names()),
            JailGet::Action {
                action: a,
                property: prop,
            } => j
                .with_action(a, |act| act.property(prop).map(str::to_owned))
                .ok_or_else(|| no_action(a))?
                .map(Json::String)
                .ok_or_else(|| {
                    CommandError::Failed(format!(
                        "'CommandAction' object has no attribute '{prop}'"
                    ))
                })?,
            JailGet::ActionProperties(a) => {
                j.with_action(a, |act| {
                    // (and the class attributes a Python CommandAction
                    // lists among its properties)
                    let mut names: Vec<&str> =
                        act.properties().keys().map(String::as_str).collect();
                    names.extend(["ESCAPE_CRE", "ESCAPE_VN_CRE", "banEpoch"]);
                    names.sort_unstable();
                    json!(names)
                })
                .ok_or_else(|| no_action(a))?
            }
            JailGet::ActionMethods(a) => {
                j.with_action(a, |_| {
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
                .ok_or_else(|| no_action(a))?
            }
            JailGet::BanTimeExtra(key) => j.bantime_extra(key),
            JailGet::Idle => json!(j.is_idle()),
        })
    }
}
