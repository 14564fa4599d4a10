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
use gaoler_command::{JailSet, Set};
use gaoler_config::Command;
use gaoler_filter::FilterOptions;
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
    /// The filter's options (`prefregex`, `failregex`, `datepattern`, ...).
    pub filter_options: FilterOptions,
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
            filter_options: FilterOptions::default(),
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

/// A stream value as text (`None` for null: an option left unset).
fn text(v: &Json) -> Option<String> {
    (!v.is_null()).then(|| gaoler_command::text(v))
}

fn seconds(v: &Json) -> Result<f64> {
    gaoler_config::timeval::json_seconds(v).map_err(|e| anyhow!("{e}"))
}

fn int(v: &Json) -> Result<i64> {
    gaoler_py::int::json_int(v).map_err(|e| anyhow!("{e}"))
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
        for words in stream {
            // (a command the server would refuse is the server's to report)
            let Ok(c) = gaoler_command::Command::parse(words) else {
                continue;
            };
            match c {
                gaoler_command::Command::Add { jail: j, backend } if j == jail => {
                    plan.backend = backend;
                }
                gaoler_command::Command::Set {
                    target: Set::Jail { jail: j, option },
                    ..
                } if j == jail => {
                    let key = option.name();
                    plan.set(option)
                        .with_context(|| format!("jail {jail:?}, option {key:?}"))?;
                }
                _ => {}
            }
        }
        if plan.filter_options.failregex.is_empty() {
            bail!("jail {jail:?} has no failregex");
        }
        Ok(plan)
    }

    fn set(&mut self, option: JailSet) -> Result<()> {
        if self
            .filter_options
            .apply(&option)
            .map_err(|e| anyhow!("{e}"))?
        {
            return Ok(());
        }
        match option {
            JailSet::AddJournalMatch(m) => self.journalmatch.push(m),
            JailSet::AddLogPath { path, .. } => self.logpaths.push(PathBuf::from(path)),
            JailSet::FindTime(v) => self.findtime = seconds(&v)?,
            JailSet::MaxRetry(v) => self.maxretry = int(&v)?.max(0) as u32,
            JailSet::MaxMatches(v) => self.maxmatches = int(&v)?.max(0) as usize,
            JailSet::BanTime(v) => self.bantime = seconds(&v)?,
            JailSet::IgnoreSelf(v) => self.ignoreself = as_bool(&text(&v).unwrap_or_default()),
            JailSet::AddIgnoreIp(values) => {
                for v in values {
                    self.ignoreip
                        .extend(v.split_whitespace().map(str::to_string));
                }
            }
            JailSet::IgnoreCommand(v) => self.ignorecommand = v,
            JailSet::BanTimeExtra { key, value } => {
                let v = value.as_ref().and_then(text).unwrap_or_default();
                let inc = &mut self.increment;
                let empty = v.trim().is_empty();
                match key.as_str() {
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
        assert_eq!(p.filter_options.failregex.len(), 2);
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
