//! `set JAIL ...` and `get JAIL ...`: a jail's options as the command
//! stream sets them (filter, counting, ban time and `bantime.*`, ignore
//! lists, actions and their properties) and as `get` reads them back.

use super::*;

impl Server {
    pub(crate) fn set_jail(
        &self,
        j: &Arc<Jail>,
        cmd: &[Json],
        multiple: bool,
        quiet: bool,
    ) -> CmdResult {
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

    pub(crate) fn set_bantime_extra(
        &self,
        j: &Jail,
        key: &str,
        v: &str,
    ) -> Result<(), CommandError> {
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

    pub(crate) fn set_action(
        &self,
        j: &Jail,
        cmd: &[Json],
        multiple: bool,
        quiet: bool,
    ) -> CmdResult {
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

    pub(crate) fn get_jail(&self, j: &Jail, cmd: &[Json]) -> CmdResult {
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
