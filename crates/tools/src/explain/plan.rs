//! A jail's settings for `explain`, read from its part of the command
//! stream (the same commands the server applies, so the replay sees what
//! the daemon would).
//!
//! Only what decides bans is kept: the filter, `findtime`, `maxretry`,
//! `bantime` with `bantime.*`, `ignoreip`/`ignoreself`, the log paths. The
//! actions are not needed: nothing is executed.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use gaoler_ban::{BanTimeIncrement, IgnoreList};
use gaoler_config::Command;
use serde_json::Value as Json;

/// What the replay needs from a jail's configuration.
#[derive(Debug, Clone)]
pub struct JailPlan {
    /// The jail's name.
    pub name: String,
    /// Its `filter` value (`freeswitch[mode=normal]`), for the report.
    pub filter: String,
    /// `backend`.
    pub backend: String,
    /// `prefregex`.
    pub prefregex: Option<String>,
    /// `failregex`, one entry per regex.
    pub failregex: Vec<String>,
    /// `ignoreregex`.
    pub ignoreregex: Vec<String>,
    /// `maxlines`.
    pub maxlines: usize,
    /// `datepattern`.
    pub datepattern: Option<String>,
    /// `logtimezone`.
    pub logtimezone: Option<String>,
    /// `journalmatch` lines (for a journal backend).
    pub journalmatch: Vec<Vec<String>>,
    /// The log files the configuration names (existing ones only: the
    /// stream leaves out paths that match no file).
    pub logpaths: Vec<PathBuf>,
    /// `findtime`, seconds.
    pub findtime: f64,
    /// `maxretry`.
    pub maxretry: u32,
    /// `maxmatches`.
    pub maxmatches: usize,
    /// `bantime`, seconds (negative: permanent).
    pub bantime: f64,
    /// `bantime.*`.
    pub increment: BanTimeIncrement,
    /// `ignoreip` entries as written.
    pub ignoreip: Vec<String>,
    /// `ignoreself`.
    pub ignoreself: bool,
    /// `ignorecommand` (reported, never run).
    pub ignorecommand: String,
}

impl Default for JailPlan {
    fn default() -> Self {
        // fail2ban's server defaults, for options the stream does not set
        JailPlan {
            name: String::new(),
            filter: String::new(),
            backend: "auto".into(),
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            maxlines: 1,
            datepattern: None,
            logtimezone: None,
            journalmatch: Vec::new(),
            logpaths: Vec::new(),
            findtime: 600.0,
            maxretry: 3,
            maxmatches: 10,
            bantime: 600.0,
            increment: BanTimeIncrement::default(),
            ignoreip: Vec::new(),
            ignoreself: true,
            ignorecommand: String::new(),
        }
    }
}

/// A stream value as text (strings as they are, numbers as JSON).
fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn seconds(v: &Json) -> Result<f64> {
    gaoler_config::timeval::json_seconds(v).map_err(|e| anyhow!("{e}"))
}

fn int(v: &Json) -> Result<i64> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| anyhow!("invalid number {n}")),
        other => {
            let t = text(other);
            t.trim()
                .parse()
                .map_err(|_| anyhow!("invalid number {t:?}"))
        }
    }
}

fn as_bool(v: &str) -> bool {
    gaoler_config::value::as_bool(v.trim())
}

impl JailPlan {
    /// Reads jail `jail` under `basedir` (as if it were enabled).
    pub fn read(basedir: &Path, jail: &str) -> Result<JailPlan> {
        let (filter, stream) = gaoler_config::reader::read_jail_stream(basedir, jail, &[])
            .with_context(|| format!("reading jail {jail:?} under {}", basedir.display()))?
            .ok_or_else(|| anyhow!("no jail {jail:?} in {}/jail.conf", basedir.display()))?;
        let mut plan = JailPlan::from_stream(jail, &stream)?;
        plan.filter = filter;
        Ok(plan)
    }

    /// The settings that `stream`'s commands give jail `jail`.
    pub fn from_stream(jail: &str, stream: &[Command]) -> Result<JailPlan> {
        let mut plan = JailPlan {
            name: jail.to_string(),
            ..JailPlan::default()
        };
        for c in stream {
            let word = |i: usize| c.get(i).and_then(Json::as_str);
            if word(1) != Some(jail) {
                continue;
            }
            match word(0) {
                Some("add") => plan.backend = word(2).unwrap_or("auto").to_string(),
                Some("set") => {
                    let Some(key) = word(2) else { continue };
                    plan.set(key, &c[3.min(c.len())..])
                        .with_context(|| format!("jail {jail:?}, option {key:?}"))?;
                }
                Some("multi-set") => {
                    let Some(key) = word(2) else { continue };
                    if let Some(Json::Array(values)) = c.get(3) {
                        for v in values {
                            plan.set(key, std::slice::from_ref(v))
                                .with_context(|| format!("jail {jail:?}, option {key:?}"))?;
                        }
                    }
                }
                _ => {}
            }
        }
        if plan.failregex.is_empty() {
            bail!("jail {jail:?} has no failregex");
        }
        Ok(plan)
    }

    fn set(&mut self, key: &str, values: &[Json]) -> Result<()> {
        let first = || values.first().ok_or_else(|| anyhow!("no value"));
        match key {
            "prefregex" => {
                let v = text(first()?);
                self.prefregex = (!v.trim().is_empty()).then_some(v);
            }
            "addfailregex" => self.failregex.push(text(first()?)),
            "addignoreregex" => self.ignoreregex.push(text(first()?)),
            "maxlines" => self.maxlines = int(first()?)?.max(1) as usize,
            "datepattern" => {
                let v = text(first()?);
                self.datepattern = (!v.is_empty()).then_some(v);
            }
            "logtimezone" => {
                let v = text(first()?);
                self.logtimezone = (!v.is_empty()).then_some(v);
            }
            "addjournalmatch" => self.journalmatch.push(values.iter().map(text).collect()),
            "addlogpath" => self.logpaths.push(PathBuf::from(text(first()?))),
            "findtime" => self.findtime = seconds(first()?)?,
            "maxretry" => self.maxretry = int(first()?)?.max(0) as u32,
            "maxmatches" => self.maxmatches = int(first()?)?.max(0) as usize,
            "bantime" => self.bantime = seconds(first()?)?,
            "ignoreself" => self.ignoreself = as_bool(&text(first()?)),
            "addignoreip" => {
                for v in values {
                    self.ignoreip
                        .extend(text(v).split_whitespace().map(str::to_string));
                }
            }
            "ignorecommand" => self.ignorecommand = text(first()?),
            k if k.starts_with("bantime.") => {
                let v = values.first().map(text).unwrap_or_default();
                let inc = &mut self.increment;
                let empty = v.trim().is_empty();
                match &k["bantime.".len()..] {
                    "increment" => inc.enabled = !empty && as_bool(&v),
                    "factor" => inc.set_factor(&v)?,
                    "formula" => inc.set_formula(&v)?,
                    "multipliers" => inc.set_multipliers(&v)?,
                    "maxtime" => {
                        inc.max_time = if empty {
                            None
                        } else {
                            Some(seconds(&Json::String(v))?)
                        }
                    }
                    "rndtime" => {
                        inc.rnd_time = if empty {
                            None
                        } else {
                            Some(seconds(&Json::String(v))?)
                        }
                    }
                    "overalljails" => inc.overall_jails = !empty && as_bool(&v),
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The jail's ignore list (`ignoreip`, `ignoreself` with the host's
    /// addresses `self_ips`).
    pub fn ignore_list(&self, self_ips: &[std::net::IpAddr]) -> IgnoreList {
        let mut l = IgnoreList::new();
        l.set_ignore_self(self.ignoreself);
        l.set_self_ips(self_ips.iter().copied());
        for e in &self.ignoreip {
            l.add(e);
        }
        l
    }

    /// Does the jail read the systemd journal?
    pub fn is_journal(&self) -> bool {
        self.backend.split('[').next().unwrap_or("").trim() == "systemd"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_commands_that_decide_bans() {
        let stream: Vec<Command> = [
            json!(["add", "j", "polling"]),
            json!([
                "multi-set",
                "j",
                "addfailregex",
                ["^a <HOST>$", "^b <HOST>$"]
            ]),
            json!(["set", "j", "maxretry", 4]),
            json!(["set", "j", "findtime", "1h"]),
            json!(["set", "j", "bantime", "20m"]),
            json!(["set", "j", "bantime.increment", true]),
            json!(["set", "j", "bantime.maxtime", "1d"]),
            json!(["set", "j", "ignoreself", "false"]),
            json!([
                "set",
                "j",
                "addignoreip",
                "127.0.0.1/8",
                "192.0.2.0/24 10.0.0.1"
            ]),
            json!(["set", "other", "maxretry", 1]),
        ]
        .into_iter()
        .map(|c| c.as_array().cloned().unwrap_or_default())
        .collect();
        let p = JailPlan::from_stream("j", &stream).unwrap();
        assert_eq!(p.backend, "polling");
        assert_eq!(p.failregex.len(), 2);
        assert_eq!(p.maxretry, 4);
        assert_eq!(p.findtime, 3600.0);
        assert_eq!(p.bantime, 1200.0);
        assert!(p.increment.enabled);
        assert_eq!(p.increment.max_time, Some(86400.0));
        assert!(!p.ignoreself);
        assert_eq!(p.ignoreip, ["127.0.0.1/8", "192.0.2.0/24", "10.0.0.1"]);
    }

    #[test]
    fn a_jail_without_failregex_is_refused() {
        let stream: Vec<Command> = vec![vec![json!("add"), json!("j"), json!("auto")]];
        assert!(JailPlan::from_stream("j", &stream).is_err());
    }
}
