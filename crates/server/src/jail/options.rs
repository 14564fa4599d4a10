//! A jail's options as `set` changes them and `get` reads them back. The
//! transmitter asks through these methods and never takes the jail's
//! locks itself, so which lock guards which option is decided here.

use gaoler_ban::IgnoreCacheConfig;
use gaoler_command::{CommandError, JailSet};

use super::*;

impl Jail {
    /// The filter's settings as they are now (a copy).
    pub(crate) fn filter_conf(&self) -> FilterConf {
        lock(&self.conf).clone()
    }

    /// `idle on|off`: an idle jail reads its logs but counts nothing.
    pub(crate) fn set_idle(&self, on: bool) {
        self.idle.store(on, Ordering::SeqCst);
    }

    /// Whether the jail is idle.
    pub(crate) fn is_idle(&self) -> bool {
        self.idle.load(Ordering::SeqCst)
    }

    // ------------------------------------------------------------------
    // ignore lists

    /// `ignoreself`.
    pub(crate) fn set_ignore_self(&self, on: bool) {
        lock(&self.fail).ignore.set_ignore_self(on);
    }

    /// Whether the host's own addresses are ignored.
    pub(crate) fn ignore_self(&self) -> bool {
        lock(&self.fail).ignore.ignore_self()
    }

    /// `addignoreip`: each value may hold several entries.
    pub(crate) fn add_ignore_ips(&self, values: &[String]) {
        let mut f = lock(&self.fail);
        for v in values {
            f.ignore.add_all(v);
        }
    }

    /// `delignoreip`.
    pub(crate) fn del_ignore_ip(&self, v: &str) {
        lock(&self.fail).ignore.remove(v);
    }

    /// The `ignoreip` entries.
    pub(crate) fn ignore_ips(&self) -> Vec<String> {
        lock(&self.fail).ignore.entries()
    }

    /// `ignorecommand` (read when an address is checked, so no reload of
    /// the filter).
    pub(crate) fn set_ignore_command(&self, v: String) {
        lock(&self.conf).ignorecommand = v;
    }

    /// `ignorecache`.
    pub(crate) fn set_ignore_cache(&self, cfg: Option<IgnoreCacheConfig>) {
        lock(&self.fail).ignore.set_cache(cfg);
    }

    /// The `ignorecache` settings, if set.
    pub(crate) fn ignore_cache(&self) -> Option<IgnoreCacheConfig> {
        lock(&self.fail).ignore.cache_config().cloned()
    }

    // ------------------------------------------------------------------
    // filter

    /// `addlogpath`: a path already there keeps its place.
    pub(crate) fn add_log_path(&self, path: String, start: StartAt) {
        let mut c = lock(&self.conf);
        if !c.logpaths.iter().any(|(p, _)| *p == path) {
            c.logpaths.push((path, start));
            c.generation += 1;
        }
    }

    /// One of the filter's options, checked and applied
    /// ([`FilterOptions::set`]).
    pub(crate) fn set_filter_option(&self, option: &JailSet) -> Result<(), CommandError> {
        let mut c = lock(&self.conf);
        c.filter.set(option)?;
        c.generation += 1;
        Ok(())
    }

    /// `findtime`: the filter's window and the FailManager's.
    pub(crate) fn set_find_time(&self, v: f64) {
        self.update_conf(|c| c.findtime = v);
        lock(&self.fail).fm.set_find_time(v);
    }

    // ------------------------------------------------------------------
    // counting and banning

    /// `maxmatches`.
    pub(crate) fn set_max_matches(&self, v: usize) {
        lock(&self.fail).fm.set_max_matches(v);
    }

    /// The FailManager's `maxmatches`.
    pub(crate) fn max_matches(&self) -> usize {
        lock(&self.fail).fm.max_matches()
    }

    /// `maxretry`.
    pub(crate) fn set_max_retry(&self, v: u32) {
        lock(&self.fail).fm.set_max_retry(v);
    }

    /// The FailManager's `maxretry`.
    pub(crate) fn max_retry(&self) -> u32 {
        lock(&self.fail).fm.max_retry()
    }

    /// `maxtracked` (0: no cap).
    pub(crate) fn set_max_tracked(&self, v: usize) {
        lock(&self.fail).fm.set_max_tracked(v);
    }

    /// The FailManager's `maxtracked`.
    pub(crate) fn max_tracked(&self) -> usize {
        lock(&self.fail).fm.max_tracked()
    }

    /// `bantime` (the bans in force keep theirs; kernel-side timeouts are
    /// renewed, see [`Jail::ban_time_changed`]).
    pub(crate) fn set_ban_time(&self, v: f64) {
        lock(&self.bans).bm.set_ban_time(v);
        self.ban_time_changed();
    }

    /// The BanManager's `bantime`.
    pub(crate) fn ban_time(&self) -> f64 {
        lock(&self.bans).bm.ban_time()
    }

    /// `bantime.KEY` (`increment`, `factor`, `formula`, `multipliers`,
    /// `maxtime`, `rndtime`, `overalljails`; other keys are only kept for
    /// `get`). `seconds` reads a time value.
    pub(crate) fn set_bantime_extra(
        &self,
        key: &str,
        v: &str,
        seconds: impl Fn(&str) -> Result<f64, String>,
    ) -> Result<(), String> {
        let mut inc = lock(&self.inc);
        let mut extra = lock(&self.ban_extra);
        let empty = v.is_empty();
        let as_bool = |v: &str| gaoler_config::value::as_bool(v.trim());
        match key {
            "increment" => {
                inc.enabled = !empty && as_bool(v);
                extra.insert(key.into(), json!(inc.enabled));
                if inc.enabled && !self.ctx.has_db() {
                    self.log(
                        level::WARNING,
                        "fail2ban.jail",
                        "ban time increment is not available as long jail database is not set",
                    );
                }
                return Ok(());
            }
            "factor" => inc.set_factor(v).map_err(|e| e.to_string())?,
            "formula" => inc.set_formula(v).map_err(|e| e.to_string())?,
            "multipliers" => inc.set_multipliers(v).map_err(|e| e.to_string())?,
            "maxtime" | "rndtime" => {
                let t = if empty { None } else { Some(seconds(v)?) };
                if key == "maxtime" {
                    inc.max_time = t;
                } else {
                    inc.rnd_time = t;
                }
                match t {
                    Some(t) => extra.insert(key.into(), gaoler_py::repr::int_or_float(t)),
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
        self.log(
            level::INFO,
            "fail2ban.jail",
            format!("Set banTime.{key} = {}", if empty { "None" } else { v }),
        );
        Ok(())
    }

    /// A `bantime.KEY` as set (null when not).
    pub(crate) fn bantime_extra(&self, key: &str) -> Json {
        lock(&self.ban_extra)
            .get(key)
            .cloned()
            .unwrap_or(Json::Null)
    }

    // ------------------------------------------------------------------
    // actions

    /// An action the jail refused (a Python one): later commands for it
    /// are skipped quietly, as fail2ban skips a failed action.
    pub(crate) fn refuse_action(&self, name: String) {
        lock(&self.refused).insert(name);
    }

    /// Whether the jail refused action `name`.
    pub(crate) fn is_refused_action(&self, name: &str) -> bool {
        lock(&self.refused).contains(name)
    }

    /// `allowipv6` (server-wide): whether the actions may run their IPv6
    /// commands.
    pub(crate) fn set_ipv6_allowed(&self, allowed: bool) {
        for a in lock(&self.actions).iter_mut() {
            a.action.set_ipv6_allowed(allowed);
        }
    }
}
