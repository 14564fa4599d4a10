//! The filter, action, jail and fail2ban.conf readers, and their conversion
//! into the command stream.
//!
//! The readers follow fail2ban's client step for step, because the stream is
//! observable (`-d`) and its order and types are part of compatibility:
//! - a filter/action file is `[Definition]` + `[Init]` (+ `[Init?family=…]`);
//!   jail options and `name[opt=val]` options are passed in as "vars" that
//!   win over the file's own values;
//! - a jail is read twice: first `enabled/backend/filter`, then (after the
//!   filter's options are merged into the jail section as `known/<opt>`)
//!   everything else;
//! - the stream is emitted in Python dict order, so every option map here is
//!   an ordered map and insertion order is preserved on update.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::options::{extract_options, split_with_options, split_words};
use crate::parser::{split_conditional, ConfigSet};
use crate::tags::substitute_recursive_tags;
use crate::value::{as_bool, py_int, Value, Vars};
use crate::ConfigError;

/// One command of the stream, e.g. `["set", "sshd", "maxretry", 5]`.
pub type Command = Vec<Json>;

/// Version reported as `fail2ban_version` (the dialect level we implement).
pub const FAIL2BAN_VERSION: &str = "1.0.2";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OptType {
    Str,
    Int,
    Bool,
}

const FILTER_OPTS: &[(&str, OptType)] = &[
    ("usedns", OptType::Str),
    ("prefregex", OptType::Str),
    ("ignoreregex", OptType::Str),
    ("failregex", OptType::Str),
    ("maxlines", OptType::Int),
    ("datepattern", OptType::Str),
    ("journalmatch", OptType::Str),
];

const ACTION_OPTS: &[(&str, OptType)] = &[
    ("actionstart", OptType::Str),
    ("actionstart_on_demand", OptType::Bool),
    ("actionstop", OptType::Str),
    ("actionflush", OptType::Str),
    ("actionreload", OptType::Str),
    ("actioncheck", OptType::Str),
    ("actionrepair", OptType::Str),
    ("actionrepair_on_unban", OptType::Bool),
    ("actionban", OptType::Str),
    ("actionprolong", OptType::Str),
    ("actionreban", OptType::Str),
    ("actionunban", OptType::Str),
    // gaoler's: whether bans stack (see gaoler-action's `command` docs).
    ("actionunban_repeat", OptType::Bool),
    ("norestored", OptType::Bool),
];

/// Tags actions resolve at run time only (never at config time).
const ACTION_RUNTIME_TAGS: &[&str] = &[
    "matches",
    "ipmatches",
    "ipjailmatches",
    "timeout",
    "bantime",
];

const JAIL_OPTS: &[(&str, OptType)] = &[
    ("enabled", OptType::Bool),
    ("backend", OptType::Str),
    ("maxretry", OptType::Int),
    ("maxmatches", OptType::Int),
    // gaoler's own: the cap on ids counted at once (see the FailManager).
    ("maxtracked", OptType::Int),
    // gaoler's own: `shell` runs fail2ban's per-address action commands
    // even where a round could be one batch (gaoler-action's `batch`).
    ("actionengine", OptType::Str),
    // gaoler's own: kernel-side timeouts on nftables set elements and
    // ipset entries (gaoler-action's `CommandAction::set_kernel_timeouts`).
    ("kerneltimeout", OptType::Bool),
    // gaoler's own: the fleet (bans shared through PostgreSQL, see
    // gaoler-fleet): `fleet = publish|apply|both|off`, the fleet jails
    // whose bans this one applies, and whose bans count for
    // bantime.increment. Sent only when set.
    ("fleet", OptType::Str),
    ("fleetjails", OptType::Str),
    ("fleetcount", OptType::Str),
    ("findtime", OptType::Str),
    ("bantime", OptType::Str),
    ("bantime.increment", OptType::Bool),
    ("bantime.factor", OptType::Str),
    ("bantime.formula", OptType::Str),
    ("bantime.multipliers", OptType::Str),
    ("bantime.maxtime", OptType::Str),
    ("bantime.rndtime", OptType::Str),
    ("bantime.overalljails", OptType::Bool),
    ("ignorecommand", OptType::Str),
    ("ignoreself", OptType::Bool),
    ("ignoreip", OptType::Str),
    ("ignorecache", OptType::Str),
    ("filter", OptType::Str),
    ("logtimezone", OptType::Str),
    ("logencoding", OptType::Str),
    ("logpath", OptType::Str),
    ("action", OptType::Str),
];

/// Jail options whose value is a time string (validated in test/start mode).
const TIME_OPTS: &[&str] = &["findtime", "bantime", "bantime.maxtime", "bantime.rndtime"];

fn jail_default(name: &str) -> Option<Value> {
    match name {
        "enabled" => Some(Value::Bool(false)),
        "backend" => Some(Value::from("auto")),
        "filter" | "action" => Some(Value::from("")),
        _ => None,
    }
}

/// A configuration directory and a cache of the logical files read from it
/// (several jails share `filter.d/common` and friends).
pub struct ConfigTree {
    basedir: PathBuf,
    cache: RefCell<HashMap<String, Option<Rc<ConfigSet>>>>,
}

impl ConfigTree {
    /// Open the configuration directory (`-c`). Trailing slashes are dropped;
    /// a missing directory is [`ConfigError::NoBaseDir`].
    pub fn new(basedir: impl Into<PathBuf>) -> Result<ConfigTree, ConfigError> {
        let basedir: PathBuf = basedir.into();
        // fail2ban strips trailing slashes from the base directory.
        let s = basedir.to_string_lossy().to_string();
        let trimmed = s.trim_end_matches('/');
        let basedir = PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed });
        if !basedir.exists() {
            return Err(ConfigError::NoBaseDir(basedir.display().to_string()));
        }
        Ok(ConfigTree {
            basedir,
            cache: RefCell::new(HashMap::new()),
        })
    }

    /// The configuration directory, without trailing slashes.
    pub fn basedir(&self) -> &Path {
        &self.basedir
    }

    /// Read (once) the layered files of a logical name.
    pub fn read(&self, name: &str) -> Result<Option<Rc<ConfigSet>>, ConfigError> {
        if let Some(c) = self.cache.borrow().get(name) {
            return Ok(c.clone());
        }
        let set = ConfigSet::read(&self.basedir, name)?.map(Rc::new);
        self.cache
            .borrow_mut()
            .insert(name.to_string(), set.clone());
        Ok(set)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Filter,
    Action,
}

/// A filter or action file with `[Definition]` and `[Init]` sections
/// (fail2ban's `DefinitionInitConfigReader`).
pub struct DefinitionReader {
    kind: Kind,
    cfg: Rc<ConfigSet>,
    /// File stem under `filter.d`/`action.d`.
    pub file: String,
    /// Action name as used in the stream (`actname`).
    pub name: String,
    jail: String,
    init_opts: Vars,
    opts: Vars,
    p_opts: Vars,
    def_cache: RefCell<HashMap<String, Option<String>>>,
}

fn not_found(tree: &ConfigTree, name: &str) -> ConfigError {
    ConfigError::NotFound {
        name: name.to_string(),
        basedir: tree.basedir.display().to_string(),
    }
}

impl DefinitionReader {
    /// Read `filter.d/<file>` with the bracket options `init`.
    pub fn filter(
        tree: &ConfigTree,
        file: &str,
        jail: &str,
        init: Vars,
    ) -> Result<DefinitionReader, ConfigError> {
        let path = format!("filter.d/{file}");
        let cfg = tree.read(&path)?.ok_or_else(|| not_found(tree, &path))?;
        Ok(DefinitionReader {
            kind: Kind::Filter,
            cfg,
            file: file.to_string(),
            name: file.to_string(),
            jail: jail.to_string(),
            init_opts: init,
            opts: Vars::new(),
            p_opts: Vars::new(),
            def_cache: RefCell::new(HashMap::new()),
        })
    }

    /// Read `action.d/<file>`; `name` defaults to the jail, `actname` to the
    /// file (with a suffix when `name` differs from the jail).
    pub fn action(
        tree: &ConfigTree,
        file: &str,
        jail: &str,
        mut init: Vars,
    ) -> Result<DefinitionReader, ConfigError> {
        let n = match init.get("name") {
            Some(v) => v.to_py_string(),
            None => {
                init.insert("name".into(), Value::from(jail));
                jail.to_string()
            }
        };
        let actname = match init.get("actname") {
            Some(v) => v.to_py_string(),
            None => {
                let mut a = file.to_string();
                if n != jail {
                    match n.strip_prefix(jail) {
                        Some(rest) => a.push_str(rest),
                        None => {
                            a.push('-');
                            a.push_str(&n);
                        }
                    }
                }
                init.insert("actname".into(), Value::from(a.clone()));
                a
            }
        };
        let path = format!("action.d/{file}");
        let cfg = tree.read(&path)?.ok_or_else(|| not_found(tree, &path))?;
        Ok(DefinitionReader {
            kind: Kind::Action,
            cfg,
            file: file.to_string(),
            name: actname,
            jail: jail.to_string(),
            init_opts: init,
            opts: Vars::new(),
            p_opts: Vars::new(),
            def_cache: RefCell::new(HashMap::new()),
        })
    }

    /// Where option `name` is defined in this file (`[Definition]`, then
    /// `[Init]`).
    pub fn origin(&self, name: &str) -> Option<&crate::Origin> {
        self.cfg
            .origin("Definition", name)
            .or_else(|| self.cfg.origin("Init", name))
    }

    fn config_opts(&self) -> &'static [(&'static str, OptType)] {
        match self.kind {
            Kind::Filter => FILTER_OPTS,
            Kind::Action => ACTION_OPTS,
        }
    }

    /// Set `logtype` from the backend unless the file or the jail chose one.
    pub fn apply_auto_options(&mut self, backend: &str) {
        let has = self
            .init_opts
            .get("logtype")
            .is_some_and(|v| !v.to_py_string().is_empty() && !v.is_null());
        if !has && !self.cfg.has_own_option("Definition", "logtype") {
            let t = if backend.starts_with("systemd") {
                "journal"
            } else {
                "file"
            };
            self.init_opts.insert("logtype".into(), Value::from(t));
        }
    }

    /// Read the known options with `p_opts` (jail options) as vars.
    pub fn get_options(&mut self, p_opts: &Vars, all: bool) -> Result<(), ConfigError> {
        let mut p = p_opts.clone();
        for (k, v) in &self.init_opts {
            p.insert(k.clone(), v.clone());
        }
        let mut opts = Vars::new();
        for (name, _) in self.config_opts() {
            if p.contains_key(*name) {
                continue;
            }
            match self.cfg.get("Definition", name, &p) {
                Ok(v) => {
                    opts.insert(name.to_string(), Value::Str(v));
                }
                Err(ConfigError::NoSection { .. }) => {
                    opts.insert(name.to_string(), Value::Null);
                }
                Err(ConfigError::NoOption { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.p_opts = p;
        if self.cfg.has_section("Init") {
            for opt in self.cfg.own_options("Init") {
                let mut v: Option<String> = None;
                if !opt.starts_with("known/") {
                    let got = self.cfg.get("Init", &opt, &Vars::new())?;
                    self.init_opts
                        .insert(format!("known/{opt}"), Value::Str(got.clone()));
                    v = Some(got);
                }
                if !self.init_opts.contains_key(&opt) {
                    let got = match v {
                        Some(g) => g,
                        None => self.cfg.get("Init", &opt, &Vars::new())?,
                    };
                    self.init_opts.insert(opt.clone(), Value::Str(got));
                }
            }
        }
        if all && self.cfg.has_section("Definition") {
            for opt in self.cfg.own_options("Definition") {
                if opts.contains_key(&opt) {
                    continue;
                }
                let v = self.cfg.get("Definition", &opt, &Vars::new())?;
                opts.insert(opt, Value::Str(v));
            }
        }
        self.opts = opts;
        self.def_cache.borrow_mut().clear();
        Ok(())
    }

    fn comb_option(&self, name: &str) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.def_cache.borrow().get(name) {
            return Ok(v.clone());
        }
        let v = match self.cfg.get_ex("Definition", name, &self.p_opts) {
            Ok(v) => Some(v),
            Err(ConfigError::NoSection { .. } | ConfigError::NoOption { .. }) => None,
            Err(e) => return Err(e),
        };
        self.def_cache
            .borrow_mut()
            .insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// Definition options merged with init options, tags substituted, types converted.
    pub fn combined(&self) -> Result<Vars, ConfigError> {
        let mut combined = self.opts.clone();
        for (k, v) in &self.init_opts {
            combined.insert(k.clone(), v.clone());
        }
        if combined.is_empty() {
            return Ok(Vars::new());
        }
        let mut ignore: HashSet<String> = match self.kind {
            Kind::Action => ACTION_RUNTIME_TAGS.iter().map(|s| s.to_string()).collect(),
            Kind::Filter => HashSet::new(),
        };
        for k in combined.keys() {
            if let Some((base, _)) = split_conditional(k) {
                ignore.insert(base.to_string());
            }
        }
        // Only strings take part in substitution; other values keep their place.
        let strings: IndexMap<String, String> = combined
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.to_py_string()))
            .collect();
        let substituted =
            substitute_recursive_tags(&strings, "", &ignore, |n| self.comb_option(n))?;
        let mut out = Vars::new();
        for (k, v) in combined {
            let nv = match substituted.get(&k) {
                Some(s) if v.as_str() != Some(s.as_str()) || matches!(v, Value::Str(_)) => {
                    Value::Str(s.clone())
                }
                _ => v,
            };
            out.insert(k, nv);
        }
        for (name, ty) in self.config_opts() {
            let Some(v) = out.get(*name) else { continue };
            let Value::Str(s) = v else { continue };
            let conv = match ty {
                OptType::Str => continue,
                OptType::Int => match py_int(s) {
                    Some(i) => Value::Int(i),
                    None => {
                        tracing::warn!(file = %self.file, "wrong int value {s:?} for {name:?}; using the default");
                        Value::Null
                    }
                },
                OptType::Bool => Value::Bool(as_bool(s)),
            };
            out.insert(name.to_string(), conv);
        }
        Ok(out)
    }

    /// The filter part of the stream (fail2ban's `FilterReader.convert`).
    pub fn convert_filter(&self) -> Result<Vec<Command>, ConfigError> {
        let opts = self.combined()?;
        let mut stream = Vec::new();
        fill_filter_stream(&mut stream, &opts, &self.jail)?;
        Ok(stream)
    }

    /// The action part of the stream (fail2ban's `ActionReader.convert`).
    pub fn convert_action(&self) -> Result<Vec<Command>, ConfigError> {
        let opts = self.combined()?;
        let mut stream = vec![cmd(&["set", &self.jail, "addaction", &self.name])];
        let is_cmd_opt = |k: &str| ACTION_OPTS.iter().any(|(n, _)| *n == k);
        let mut multi: Vec<Json> = Vec::new();
        for (k, v) in &opts {
            if is_cmd_opt(k) && !k.starts_with("known/") {
                multi.push(Json::Array(vec![Json::from(k.as_str()), v.to_json()]));
            }
        }
        for (k, v) in &self.init_opts {
            if !is_cmd_opt(k) && !k.starts_with("known/") {
                multi.push(Json::Array(vec![Json::from(k.as_str()), v.to_json()]));
            }
        }
        if multi.len() > 1 {
            stream.push(vec![
                Json::from("multi-set"),
                Json::from(self.jail.as_str()),
                Json::from("action"),
                Json::from(self.name.as_str()),
                Json::Array(multi),
            ]);
        } else if let Some(Json::Array(pair)) = multi.pop() {
            let mut c = cmd(&["set", &self.jail, "action", &self.name]);
            c.extend(pair);
            stream.push(c);
        }
        Ok(stream)
    }
}

fn cmd(parts: &[&str]) -> Command {
    parts.iter().map(|s| Json::from(*s)).collect()
}

/// Append the filter options of `opts` to the stream (fail2ban's
/// `FilterReader._fillStream`), used for both filter and jail-level values.
fn fill_filter_stream(
    stream: &mut Vec<Command>,
    opts: &Vars,
    jail: &str,
) -> Result<(), ConfigError> {
    let mut prio0 = 0;
    for (opt, value) in opts {
        if value.is_null() {
            continue;
        }
        let text = value.to_py_string();
        match opt.as_str() {
            "failregex" | "ignoreregex" => {
                let multi: Vec<&str> = text.split('\n').filter(|r| !r.is_empty()).collect();
                let what = format!("add{opt}");
                if multi.len() > 1 {
                    stream.push(vec![
                        Json::from("multi-set"),
                        Json::from(jail),
                        Json::from(what),
                        Json::Array(multi.iter().map(|r| Json::from(*r)).collect()),
                    ]);
                } else if let Some(r) = multi.first() {
                    stream.push(cmd(&["set", jail, &what, r]));
                }
            }
            "usedns" | "maxlines" | "prefregex" => {
                let c = vec![
                    Json::from("set"),
                    Json::from(jail),
                    Json::from(opt.as_str()),
                    value.to_json(),
                ];
                let at = if opt == "usedns" { 0 } else { prio0 };
                stream.insert(at.min(stream.len()), c);
                prio0 += 1;
            }
            // Upstream tests `opt in ('datepattern')`, a substring test.
            o if "datepattern".contains(o) => {
                stream.push(vec![
                    Json::from("set"),
                    Json::from(jail),
                    Json::from(o),
                    value.to_json(),
                ]);
            }
            "journalmatch" => {
                for m in text.split('\n').filter(|m| !m.is_empty()) {
                    let words = crate::shlex::split(m).map_err(|e| ConfigError::Jail {
                        jail: jail.to_string(),
                        message: format!("invalid journalmatch {m:?}: {e}"),
                    })?;
                    let mut c = cmd(&["set", jail, "addjournalmatch"]);
                    c.extend(words.into_iter().map(Json::from));
                    stream.push(c);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Python's `json.dumps` for a flat string map (`ensure_ascii`, `", "`/`": "`).
fn py_json_dumps(map: &IndexMap<String, String>) -> String {
    fn s(x: &str) -> String {
        let mut out = String::from("\"");
        for c in x.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    let parts: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", s(k), s(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

enum ActionEntry {
    Reader(Box<DefinitionReader>),
    Python(Command),
}

/// One jail section (fail2ban's `JailReader`).
pub struct JailReader {
    /// The jail's name (its section in `jail.conf`/`jail.local`).
    pub name: String,
    opts: Vars,
    filter: Option<DefinitionReader>,
    actions: Vec<ActionEntry>,
    config_error: Option<String>,
    /// Where the option that caused `config_error` was defined.
    config_error_at: Option<crate::Origin>,
    /// Where each option read from the jail section was defined.
    origins: HashMap<String, crate::Origin>,
    /// Problems that fail2ban's client does not check but its server rejects
    /// (bad time values, unusable ints), each starting with its file:line.
    /// In [`ReadMode::Test`] they become the jail's `config_error`.
    pub problems: Vec<String>,
}

impl JailReader {
    /// Why the jail cannot be used (fail2ban's `config-error`), without where
    /// the culprit was defined (see [`JailReader::refusal`]).
    pub fn config_error(&self) -> Option<&str> {
        self.config_error.as_deref()
    }

    /// Why this jail is skipped, with where the culprit was defined first
    /// when the message does not already say it.
    pub fn refusal(&self) -> Option<String> {
        let e = self.config_error.as_deref()?;
        let at = self
            .config_error_at
            .as_ref()
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        Some(format!("{at}{e}"))
    }

    /// Whether the jail has `enabled = true`.
    pub fn is_enabled(&self) -> bool {
        matches!(self.opts.get("enabled"), Some(Value::Bool(true)))
    }

    /// A jail option as read and typed (`maxretry` an int, `enabled` a bool);
    /// `None` when it was not set.
    pub fn option(&self, name: &str) -> Option<&Value> {
        self.opts.get(name)
    }

    /// Where option `name` of this jail was defined: the jail section (or
    /// `[DEFAULT]`) when set there, else the jail's filter file. Lets a
    /// value the server refuses be reported with its file and line.
    pub fn option_origin(&self, name: &str) -> Option<&crate::Origin> {
        self.origins
            .get(name)
            .or_else(|| self.filter.as_ref().and_then(|f| f.origin(name)))
    }
}

/// Read options of `section` with types and defaults (ConfigReader.getOptions).
fn read_typed(
    cfg: &ConfigSet,
    section: &str,
    spec: &[(&str, OptType)],
    default: impl Fn(&str) -> Option<Value>,
    problems: &mut Vec<String>,
) -> Result<Vars, ConfigError> {
    let mut out = Vars::new();
    for (name, ty) in spec {
        match cfg.get(section, name, &Vars::new()) {
            Ok(v) => {
                let val = match ty {
                    OptType::Str => Value::Str(v),
                    OptType::Bool => Value::Bool(as_bool(&v)),
                    OptType::Int => match py_int(&v) {
                        Some(i) => Value::Int(i),
                        None => {
                            let at = cfg
                                .origin(section, name)
                                .map(|o| format!("{o}: "))
                                .unwrap_or_default();
                            problems.push(format!(
                                "{at}[{section}] {name} = {v:?} is not a whole number"
                            ));
                            default(name).unwrap_or(Value::Null)
                        }
                    },
                };
                out.insert(name.to_string(), val);
            }
            Err(ConfigError::NoOption { .. }) => {
                if let Some(d) = default(name) {
                    out.insert(name.to_string(), d);
                }
            }
            Err(ConfigError::NoSection { .. }) => {
                out.insert(name.to_string(), default(name).unwrap_or(Value::Null));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn jail_def_error(jail: &str, message: String) -> ConfigError {
    ConfigError::Jail {
        jail: jail.to_string(),
        message,
    }
}

/// Read one jail section of the (shared, mutable) jail configuration.
///
/// In [`ReadMode::Test`] (server start, `-t`) a jail is judged on its
/// own: whatever is wrong with an enabled jail — a value the server would
/// refuse, a broken interpolation — becomes the jail's `config_error`, so
/// the jail is skipped with a message naming the file and line while the
/// other jails still start. fail2ban aborts the whole read on most of
/// these; one bad jail must not leave every other service unprotected.
fn read_jail(
    tree: &ConfigTree,
    cfg: &mut ConfigSet,
    name: &str,
    mode: ReadMode,
) -> Result<JailReader, ConfigError> {
    let mut jail = JailReader {
        name: name.to_string(),
        opts: Vars::new(),
        filter: None,
        actions: Vec::new(),
        config_error: None,
        config_error_at: None,
        origins: HashMap::new(),
        problems: Vec::new(),
    };
    match read_jail_inner(tree, cfg, &mut jail) {
        Ok(()) => {
            if mode == ReadMode::Test && jail.is_enabled() && !jail.problems.is_empty() {
                // Each problem already starts with its file:line.
                // Logged by the server from the `config-error` entry.
                let message = std::mem::take(&mut jail.problems).join("; ");
                tracing::debug!("{message}");
                jail.config_error = Some(message);
            }
            Ok(jail)
        }
        Err(ConfigError::Jail { message, .. }) => {
            tracing::error!("{message}");
            let culprit = if message.contains("filter") {
                "filter"
            } else {
                "action"
            };
            jail.config_error_at = cfg.origin(name, culprit).cloned();
            jail.config_error = Some(message);
            Ok(jail)
        }
        Err(e) if mode == ReadMode::Test => {
            // A jail known to be disabled does not matter; one whose
            // `enabled` cannot even be read is treated as enabled, so the
            // mistake is reported instead of silently dropping the jail.
            let enabled = cfg
                .get(name, "enabled", &Vars::new())
                .map(|v| as_bool(&v))
                .unwrap_or(true);
            if !enabled {
                tracing::warn!("disabled jail {name:?} ignored: {e}");
                jail.opts = Vars::new();
                return Ok(jail);
            }
            let message = e.to_string();
            tracing::debug!("jail {name:?}: {message}");
            jail.config_error = Some(message);
            Ok(jail)
        }
        Err(e) => Err(e.context(format!("jail {name:?}"))),
    }
}

fn read_jail_inner(
    tree: &ConfigTree,
    cfg: &mut ConfigSet,
    jail: &mut JailReader,
) -> Result<(), ConfigError> {
    let name = jail.name.clone();
    let stage1: &[(&str, OptType)] = &[
        ("enabled", OptType::Bool),
        ("backend", OptType::Str),
        ("filter", OptType::Str),
    ];
    jail.opts = read_typed(cfg, &name, stage1, jail_default, &mut jail.problems)?;
    if !jail.is_enabled() {
        return Ok(());
    }
    let backend = jail
        .opts
        .get("backend")
        .map(Value::to_py_string)
        .unwrap_or_default();
    let flt = jail
        .opts
        .get("filter")
        .map(Value::to_py_string)
        .unwrap_or_default();
    if !flt.is_empty() {
        let (fname, fopts) = extract_options(&flt).map_err(|e| {
            jail_def_error(&name, format!("Invalid filter definition {flt:?}: {e}"))
        })?;
        let init: Vars = fopts.into_iter().map(|(k, v)| (k, Value::Str(v))).collect();
        let mut filter = match DefinitionReader::filter(tree, &fname, &name, init) {
            Ok(f) => f,
            Err(ConfigError::NotFound { .. }) => {
                return Err(jail_def_error(
                    &name,
                    format!("Unable to read the filter {fname:?}"),
                ))
            }
            Err(e) => return Err(e),
        };
        filter.apply_auto_options(&backend);
        filter.get_options(&jail.opts, true)?;
        let combined: Vec<(String, String)> = filter
            .combined()?
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, v.to_py_string()))
            .collect();
        cfg.merge_section(&name, &combined, "known/");
        jail.filter = Some(filter);
    } else {
        tracing::warn!("No filter set for jail {name}");
    }

    jail.opts = read_typed(
        cfg,
        &name,
        JAIL_OPTS_WITH_FILTER.as_slice(),
        jail_default,
        &mut jail.problems,
    )?;
    for k in jail.opts.keys() {
        if let Some(o) = cfg.origin(&name, k) {
            jail.origins.insert(k.clone(), o.clone());
        }
    }
    // `file:line: ` of an option's value, for the problems below
    let at = |opt: &str| {
        cfg.origin(&name, opt)
            .map(|o| format!("{o}: "))
            .unwrap_or_default()
    };
    for t in TIME_OPTS {
        if let Some(Value::Str(v)) = jail.opts.get(*t) {
            if let Err(e) = crate::timeval::str2seconds(v) {
                let at = at(t);
                jail.problems.push(format!("{at}[{name}] {t}: {e}"));
            }
        }
    }
    if let Some(Value::Int(v)) = jail.opts.get("maxtracked") {
        if *v < 0 {
            let at = at("maxtracked");
            jail.problems.push(format!(
                "{at}[{name}] maxtracked = {v}: must be 0 (no cap) or a positive count"
            ));
        }
    }
    if let Some(v) = jail.opts.get("actionengine").map(Value::to_py_string) {
        if !matches!(v.trim(), "auto" | "shell") {
            let at = at("actionengine");
            jail.problems.push(format!(
                "{at}[{name}] actionengine = {v}: must be auto or shell"
            ));
        }
    }
    if let Some(v) = jail.opts.get("fleet").map(Value::to_py_string) {
        if !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "publish" | "apply" | "both" | "off"
        ) {
            let at = at("fleet");
            jail.problems.push(format!(
                "{at}[{name}] fleet = {v}: must be publish, apply, both or off"
            ));
        }
    }
    if let Some(v) = jail.opts.get("fleetcount").map(Value::to_py_string) {
        if !matches!(v.trim().to_ascii_lowercase().as_str(), "local" | "fleet") {
            let at = at("fleetcount");
            jail.problems.push(format!(
                "{at}[{name}] fleetcount = {v}: must be local or fleet"
            ));
        }
    }
    if let Some(f) = jail.filter.as_mut() {
        f.get_options(&jail.opts, false)?;
    }

    let action_value = jail
        .opts
        .get("action")
        .map(Value::to_py_string)
        .unwrap_or_default();
    for act in split_with_options(&action_value) {
        let act = act.trim();
        if act.is_empty() {
            continue;
        }
        let (aname, aopts) = extract_options(act).map_err(|e| {
            jail_def_error(&name, format!("Invalid action definition {act:?}: {e}"))
        })?;
        if aname.ends_with(".py") {
            let mut aopts = aopts;
            let stem = Path::new(&aname)
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let actname = aopts.shift_remove("actname").unwrap_or(stem);
            let path = tree.basedir.join("action.d").join(&aname);
            jail.actions.push(ActionEntry::Python(vec![
                Json::from("set"),
                Json::from(name.as_str()),
                Json::from("addaction"),
                Json::from(actname),
                Json::from(path.to_string_lossy().to_string()),
                Json::from(py_json_dumps(&aopts)),
            ]));
            continue;
        }
        let init: Vars = aopts.into_iter().map(|(k, v)| (k, Value::Str(v))).collect();
        let mut reader = match DefinitionReader::action(tree, &aname, &name, init) {
            Ok(r) => r,
            Err(ConfigError::NotFound { .. }) => {
                return Err(jail_def_error(
                    &name,
                    format!("Unable to read action {aname:?}"),
                ))
            }
            Err(e) => return Err(e.context(format!("Error in action definition {act:?}"))),
        };
        reader
            .get_options(&jail.opts, false)
            .map_err(|e| e.context(format!("Error in action definition {act:?}")))?;
        jail.actions.push(ActionEntry::Reader(Box::new(reader)));
    }
    if jail.actions.is_empty() {
        tracing::warn!("No actions were defined for {name}");
    }
    Ok(())
}

static JAIL_OPTS_WITH_FILTER: std::sync::LazyLock<Vec<(&'static str, OptType)>> =
    std::sync::LazyLock::new(|| {
        let mut v = JAIL_OPTS.to_vec();
        v.extend_from_slice(FILTER_OPTS);
        v
    });

fn is_jail_ignored_opt(opt: &str) -> bool {
    matches!(opt, "action" | "filter" | "enabled") || FILTER_OPTS.iter().any(|(n, _)| *n == opt)
}

/// Glob like Python's `glob.glob` (no hidden-file matches for `*`), sorted,
/// dropping dangling symlinks.
///
/// fail2ban calls `glob.glob` without `recursive=True`, where `**` is just
/// `*`; the `glob` crate reads a `**` component as "any depth" (a
/// `logpath = /var/log/**/x.log` would walk the whole tree and match
/// other files) and refuses `**` inside a component. Runs of `*` are
/// therefore folded to one first.
fn glob_logpath(pattern: &str) -> Vec<String> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let mut folded = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '*' && folded.ends_with('*')) {
            folded.push(c);
        }
    }
    let mut out = Vec::new();
    if let Ok(paths) = glob::glob_with(&folded, opts) {
        for p in paths.flatten() {
            if p.exists() {
                out.push(p.to_string_lossy().to_string());
            } else {
                tracing::warn!(
                    "File {} is a dangling link, thus cannot be monitored",
                    p.display()
                );
            }
        }
    }
    out
}

impl JailReader {
    /// The jail's part of the stream (fail2ban's `JailReader.convert`).
    /// `allow_no_files` is the dump mode (`-d`); outside it a skipped
    /// jail's `config-error` also says where the culprit is defined, for
    /// the server's log and `status`.
    pub fn convert(&self, allow_no_files: bool) -> Result<Vec<Command>, ConfigError> {
        if let Some(e) = &self.config_error {
            let e = match allow_no_files {
                true => e.clone(),
                false => self.refusal().unwrap_or_else(|| e.clone()),
            };
            return Ok(vec![vec![
                Json::from("config-error"),
                Json::from(format!(
                    "Jail '{}' skipped, because of wrong configuration: {e}",
                    self.name
                )),
            ]]);
        }
        let name = self.name.as_str();
        let mut stream = Vec::new();
        let mut stream2 = Vec::new();
        if let Some(f) = &self.filter {
            stream.extend(f.convert_filter()?);
        }
        fill_filter_stream(&mut stream, &self.opts, name)?;
        let mut backend = String::from("auto");
        for (opt, value) in &self.opts {
            match opt.as_str() {
                "logpath" => {
                    if self
                        .opts
                        .get("backend")
                        .is_some_and(|b| b.to_py_string().starts_with("systemd"))
                    {
                        continue;
                    }
                    let mut found = 0;
                    for line in value.to_py_string().split('\n') {
                        let (path, tail) = match line.rsplit_once(' ') {
                            Some((p, t)) => (p, t),
                            None => (line, "head"),
                        };
                        let list = glob_logpath(path);
                        if list.is_empty() {
                            tracing::info!("No file(s) found for glob {path}");
                        }
                        for p in list {
                            found += 1;
                            stream2.push(cmd(&["set", name, "addlogpath", &p, tail]));
                        }
                    }
                    if found == 0 {
                        let msg = format!("Have not found any log file for {name} jail");
                        if !allow_no_files {
                            let at = self
                                .origins
                                .get("logpath")
                                .map(|o| format!(" (logpath at {o})"))
                                .unwrap_or_default();
                            return Err(jail_def_error(name, format!("{msg}{at}")));
                        }
                        tracing::warn!("{msg}");
                    }
                }
                "backend" => backend = value.to_py_string(),
                "ignoreip" => {
                    let mut c = cmd(&["set", name, "addignoreip"]);
                    c.extend(
                        split_words(&value.to_py_string())
                            .into_iter()
                            .map(Json::from),
                    );
                    stream.push(c);
                }
                o if !is_jail_ignored_opt(o) => {
                    stream.push(vec![
                        Json::from("set"),
                        Json::from(name),
                        Json::from(o),
                        value.to_json(),
                    ]);
                }
                _ => {}
            }
        }
        stream.extend(stream2);
        for a in &self.actions {
            match a {
                ActionEntry::Reader(r) => stream.extend(r.convert_action()?),
                ActionEntry::Python(c) => stream.push(c.clone()),
            }
        }
        stream.insert(0, cmd(&["add", name, &backend]));
        Ok(stream)
    }
}

/// How the stream is going to be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// `-d`: print it; missing log files are only warned about.
    Dump,
    /// `-t` and server start: an enabled jail with any error (a value the
    /// server would refuse, a missing log file, a broken interpolation) is
    /// skipped with a `config-error` entry naming the file and line; the
    /// other jails are read and converted as usual.
    Test,
}

/// Client-side overrides of fail2ban.conf values (command-line flags).
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// `--loglevel`: overrides `loglevel`.
    pub loglevel: Option<String>,
    /// `--logtarget`: overrides `logtarget`.
    pub logtarget: Option<String>,
    /// `--syslogsocket`: overrides `syslogsocket`.
    pub syslogsocket: Option<String>,
}

/// Values of fail2ban.conf that the client itself uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlyOptions {
    /// `socket`: path of the control socket.
    pub socket: String,
    /// `pidfile`: path of the server's pid file.
    pub pidfile: String,
    /// `loglevel`, after the client's override.
    pub loglevel: String,
    /// `logtarget` (a file, `STDOUT`, `STDERR`, `SYSLOG`, `SYSTEMD-JOURNAL`),
    /// after the client's override.
    pub logtarget: String,
    /// `syslogsocket` (`auto` or a path), after the client's override.
    pub syslogsocket: String,
}

/// The result of reading a whole tree.
pub struct ConfigRead {
    /// The fail2ban.conf values the client uses itself.
    pub early: EarlyOptions,
    /// The command stream for the server (what `-d` prints).
    pub stream: Vec<Command>,
    /// The jails read: the enabled ones and those refused for a configuration
    /// error, in section order.
    pub jails: Vec<JailReader>,
}

impl ConfigRead {
    /// Problems that make the configuration unusable (for `-t` and start):
    /// jails skipped for configuration errors and invalid values.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for j in &self.jails {
            if let Some(e) = j.refusal() {
                out.push(format!(
                    "Jail '{}' skipped, because of wrong configuration: {e}",
                    j.name
                ));
            }
            out.extend(j.problems.iter().cloned());
        }
        out
    }
}

fn log_level_ok(level: &str) -> bool {
    let l = level.to_uppercase();
    matches!(
        l.as_str(),
        "CRITICAL"
            | "FATAL"
            | "ERROR"
            | "WARNING"
            | "WARN"
            | "NOTICE"
            | "INFO"
            | "DEBUG"
            | "TRACEDEBUG"
            | "HEAVYDEBUG"
            | "MSG"
            | "NOTSET"
    ) || l.parse::<i64>().is_ok()
        || l.strip_prefix("LEVEL ")
            .is_some_and(|n| n.trim().parse::<i64>().is_ok())
}

/// Read fail2ban.conf and all jails under `basedir` into the command stream.
pub fn read_config(
    basedir: &Path,
    mode: ReadMode,
    client: &ClientOptions,
) -> Result<ConfigRead, ConfigError> {
    read_config_enabling(basedir, mode, client, &[])
}

/// [`read_config`] with the jails named in `enable` read as if they had
/// `enabled = true` (`gaoler lint JAIL` checks a jail before it is turned
/// on). Names without a jail section are ignored.
pub fn read_config_enabling(
    basedir: &Path,
    mode: ReadMode,
    client: &ClientOptions,
    enable: &[String],
) -> Result<ConfigRead, ConfigError> {
    let tree = ConfigTree::new(basedir)?;
    let general = tree.read("fail2ban")?;
    let empty = ConfigSet::default();
    let gcfg: &ConfigSet = general.as_deref().unwrap_or(&empty);
    let mut problems = Vec::new();
    let early_spec: [(&str, OptType, &str); 5] = [
        ("socket", OptType::Str, "/var/run/fail2ban/fail2ban.sock"),
        ("pidfile", OptType::Str, "/var/run/fail2ban/fail2ban.pid"),
        ("loglevel", OptType::Str, "INFO"),
        ("logtarget", OptType::Str, "/var/log/fail2ban.log"),
        ("syslogsocket", OptType::Str, "auto"),
    ];
    let spec: Vec<(&str, OptType)> = early_spec.iter().map(|(n, t, _)| (*n, *t)).collect();
    let early_vals = read_typed(
        gcfg,
        "Definition",
        &spec,
        |n| {
            early_spec
                .iter()
                .find(|(k, _, _)| *k == n)
                .map(|(_, _, d)| Value::from(*d))
        },
        &mut problems,
    )?;
    let ev = |n: &str| {
        early_vals
            .get(n)
            .map(Value::to_py_string)
            .unwrap_or_default()
    };
    let early = EarlyOptions {
        socket: ev("socket"),
        pidfile: ev("pidfile"),
        loglevel: client.loglevel.clone().unwrap_or_else(|| ev("loglevel")),
        logtarget: client.logtarget.clone().unwrap_or_else(|| ev("logtarget")),
        syslogsocket: client
            .syslogsocket
            .clone()
            .unwrap_or_else(|| ev("syslogsocket")),
    };

    let main_spec: &[(&str, OptType, Option<&str>)] = &[
        ("loglevel", OptType::Str, Some("INFO")),
        ("logtarget", OptType::Str, Some("STDERR")),
        ("syslogsocket", OptType::Str, Some("auto")),
        ("allowipv6", OptType::Str, Some("auto")),
        (
            "dbfile",
            OptType::Str,
            Some("/var/lib/fail2ban/fail2ban.sqlite3"),
        ),
        ("dbmaxmatches", OptType::Int, None),
        ("dbpurgeage", OptType::Str, Some("1d")),
        // gaoler's own: the Prometheus listener (see gaoler-server's
        // `metrics`); absent, nothing is streamed.
        ("metrics", OptType::Str, None),
        // gaoler's own: the fleet's shared PostgreSQL database, this
        // host's name in it and the longest wait between reconnection
        // attempts (see gaoler-fleet); absent, nothing is streamed.
        ("fleethost", OptType::Str, None),
        ("fleetretry", OptType::Str, None),
        ("fleetdb", OptType::Str, None),
    ];
    let spec: Vec<(&str, OptType)> = main_spec.iter().map(|(n, t, _)| (*n, *t)).collect();
    let mut main = read_typed(
        gcfg,
        "Definition",
        &spec,
        |n| {
            main_spec
                .iter()
                .find(|(k, _, _)| *k == n)
                .and_then(|(_, _, d)| d.map(Value::from))
        },
        &mut problems,
    )?;
    // The client's own view of loglevel/logtarget/syslogsocket wins (fail2ban
    // merges its command-line configuration over the file's values).
    main.insert("loglevel".into(), Value::from(early.loglevel.clone()));
    main.insert("logtarget".into(), Value::from(early.logtarget.clone()));
    main.insert(
        "syslogsocket".into(),
        Value::from(early.syslogsocket.clone()),
    );
    if !log_level_ok(&early.loglevel) {
        return Err(ConfigError::Jail {
            jail: "fail2ban.conf".into(),
            message: format!("Invalid log level {:?}", early.loglevel),
        });
    }
    let mut thread: Option<Json> = None;
    if gcfg.has_section("Thread") {
        let t = read_typed(
            gcfg,
            "Thread",
            &[("stacksize", OptType::Int)],
            |_| None,
            &mut problems,
        )?;
        if let Some(v) = t.get("stacksize") {
            thread = Some(serde_json::json!({ "stacksize": v.to_json() }));
        }
    }
    let order = |k: &str| -> Option<u8> {
        Some(match k {
            "thread" => 0,
            "syslogsocket" => 11,
            "loglevel" => 12,
            "logtarget" => 13,
            "allowipv6" => 14,
            "dbfile" => 50,
            "dbmaxmatches" | "dbpurgeage" => 51,
            "metrics" => 60,
            // (host and retry first: `fleetdb` starts the fleet with them)
            "fleethost" => 61,
            "fleetretry" => 62,
            "fleetdb" => 63,
            _ => return None,
        })
    };
    let mut general_stream: Vec<(u8, String, Command)> = Vec::new();
    for (k, v) in &main {
        let Some(o) = order(k) else { continue };
        if k.starts_with("fleet") && v.is_null() {
            continue;
        }
        general_stream.push((
            o,
            k.clone(),
            vec![Json::from("set"), Json::from(k.as_str()), v.to_json()],
        ));
    }
    if let Some(t) = thread {
        general_stream.push((
            0,
            "thread".into(),
            vec![Json::from("set"), Json::from("thread"), t],
        ));
    }
    general_stream.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut stream: Vec<Command> = general_stream.into_iter().map(|(_, _, c)| c).collect();

    let jail_cfg = tree.read("jail")?.ok_or_else(|| not_found(&tree, "jail"))?;
    let mut jcfg: ConfigSet = (*jail_cfg).clone();
    jcfg.set_default("fail2ban_version", FAIL2BAN_VERSION);
    jcfg.set_default("fail2ban_confpath", &tree.basedir.to_string_lossy());
    for name in enable {
        if name != "INCLUDES" && jcfg.has_section(name) {
            jcfg.merge_section(name, &[("enabled".to_string(), "true".to_string())], "");
        }
    }
    let sections: Vec<String> = jcfg.section_names().map(str::to_string).collect();
    let mut jails = Vec::new();
    for sec in sections {
        if sec == "INCLUDES" {
            continue;
        }
        let j = read_jail(&tree, &mut jcfg, &sec, mode)?;
        if j.config_error.is_some() || j.is_enabled() {
            jails.push(j);
        }
    }
    for j in &mut jails {
        match j.convert(mode == ReadMode::Dump) {
            Ok(s) => stream.extend(s),
            Err(e) if mode == ReadMode::Test => {
                // E.g. no log file: this jail is skipped, not the tree.
                let message = match e {
                    ConfigError::Jail { message, .. } => message,
                    other => other.to_string(),
                };
                tracing::debug!("jail {:?}: {message}", j.name);
                j.config_error = Some(message);
                j.config_error_at = None;
                stream.extend(j.convert(false)?);
            }
            Err(e) => return Err(e),
        }
    }
    for j in &jails {
        if j.config_error.is_none() {
            stream.push(cmd(&["start", &j.name]));
        }
    }
    for p in problems {
        tracing::warn!("{p}");
    }
    Ok(ConfigRead {
        early,
        stream,
        jails,
    })
}

/// Read one filter (`name[opt=val]`) the way a jail would, returning its
/// part of the stream (for `gaoler regex` and the sample tests).
pub fn read_filter_stream(
    basedir: &Path,
    filter: &str,
    jail: &str,
    backend: &str,
) -> Result<Vec<Command>, ConfigError> {
    let tree = ConfigTree::new(basedir)?;
    let (fname, fopts) = extract_options(filter)?;
    let init: Vars = fopts.into_iter().map(|(k, v)| (k, Value::Str(v))).collect();
    let mut f = DefinitionReader::filter(&tree, &fname, jail, init)?;
    f.apply_auto_options(backend);
    f.get_options(&Vars::new(), true)?;
    f.get_options(&Vars::new(), false)?;
    f.convert_filter()
}

/// Read a filter given as a file path outside any `filter.d` (fail2ban-regex's
/// "foreign file"): `DIR/NAME.conf` (or `.local`) with its `.local`, `NAME.d/`
/// and includes, options `opts` as bracket options. Returns the filter's
/// part of the stream, like [`read_filter_stream`].
pub fn read_filter_file_stream(
    path: &Path,
    opts: &[(String, String)],
    jail: &str,
    backend: &str,
) -> Result<Vec<Command>, ConfigError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = file
        .strip_suffix(".conf")
        .or_else(|| file.strip_suffix(".local"))
        .unwrap_or(&file)
        .to_string();
    let tree = ConfigTree::new(dir)?;
    let cfg = tree.read(&stem)?.ok_or_else(|| not_found(&tree, &stem))?;
    let init: Vars = opts
        .iter()
        .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
        .collect();
    let mut f = DefinitionReader {
        kind: Kind::Filter,
        cfg,
        file: stem.clone(),
        name: stem,
        jail: jail.to_string(),
        init_opts: init,
        opts: Vars::new(),
        p_opts: Vars::new(),
        def_cache: RefCell::new(HashMap::new()),
    };
    f.apply_auto_options(backend);
    f.get_options(&Vars::new(), true)?;
    f.get_options(&Vars::new(), false)?;
    f.convert_filter()
}

/// Filter-related commands of a jail's stream (what fail2ban-regex applies).
const JAIL_FILTER_KEYS: &[&str] = &[
    "prefregex",
    "addfailregex",
    "addignoreregex",
    "maxlines",
    "datepattern",
    "usedns",
    "addjournalmatch",
    "logtimezone",
    "logencoding",
];

/// Read jail `jail` of `jail.conf` (with `jail.local` and `jail.d/`) as if it
/// were enabled, with `extra` options set in its section (`name[opt=val]`),
/// and return its `filter` value and the filter-related part of its stream
/// (filter options plus jail-level `maxlines`, `datepattern`,
/// `logtimezone`, …). `Ok(None)` when there is no such jail section.
pub fn read_jail_filter_stream(
    basedir: &Path,
    jail: &str,
    extra: &[(String, String)],
) -> Result<Option<(String, Vec<Command>)>, ConfigError> {
    let Some((filter, stream)) = read_jail_stream(basedir, jail, extra)? else {
        return Ok(None);
    };
    let stream = stream
        .into_iter()
        .filter(|c| {
            matches!(c.first().and_then(Json::as_str), Some("set" | "multi-set"))
                && c.get(2)
                    .and_then(Json::as_str)
                    .is_some_and(|k| JAIL_FILTER_KEYS.contains(&k))
        })
        .collect();
    Ok(Some((filter, stream)))
}

/// Read jail `jail` as [`read_jail_filter_stream`] does (as if enabled, a
/// missing log file is no error) and return its `filter` value and its
/// whole part of the stream: `add`, every `set`, its actions.
pub fn read_jail_stream(
    basedir: &Path,
    jail: &str,
    extra: &[(String, String)],
) -> Result<Option<(String, Vec<Command>)>, ConfigError> {
    let tree = ConfigTree::new(basedir)?;
    let Some(jail_cfg) = tree.read("jail")? else {
        return Ok(None);
    };
    if jail == "INCLUDES" || jail == "DEFAULT" || !jail_cfg.has_section(jail) {
        return Ok(None);
    }
    let mut jcfg: ConfigSet = (*jail_cfg).clone();
    jcfg.set_default("fail2ban_version", FAIL2BAN_VERSION);
    jcfg.set_default("fail2ban_confpath", &tree.basedir.to_string_lossy());
    let mut opts = vec![("enabled".to_string(), "true".to_string())];
    opts.extend(extra.iter().cloned());
    jcfg.merge_section(jail, &opts, "");
    let j = read_jail(&tree, &mut jcfg, jail, ReadMode::Dump)?;
    if let Some(e) = &j.config_error {
        return Err(ConfigError::Jail {
            jail: jail.to_string(),
            message: e.clone(),
        });
    }
    let filter = j
        .opts
        .get("filter")
        .map(Value::to_py_string)
        .unwrap_or_default();
    Ok(Some((filter, j.convert(true)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Found while writing the ini fuzz target: `**` walked every directory
    // below (Python's non-recursive glob reads it as `*`).
    #[test]
    fn logpath_double_star_is_one_level() {
        let d = tempfile::tempdir().expect("temp dir");
        let root = d.path();
        for f in ["x.log", "a/x.log", "a/b/x.log", "a/yy.log"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(p, "").expect("file");
        }
        let r = root.display();
        let rel = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|p| p.trim_start_matches(&format!("{r}/")).to_string())
                .collect()
        };
        // what Python's glob.glob gives for each
        assert_eq!(rel(glob_logpath(&format!("{r}/**/x.log"))), ["a/x.log"]);
        assert_eq!(rel(glob_logpath(&format!("{r}/***/x.log"))), ["a/x.log"]);
        assert_eq!(
            rel(glob_logpath(&format!("{r}/a/**.log"))),
            ["a/x.log", "a/yy.log"]
        );
        assert_eq!(rel(glob_logpath(&format!("{r}/a/y**"))), ["a/yy.log"]);
    }

    #[test]
    fn py_json() {
        let mut m = IndexMap::new();
        m.insert("host".to_string(), "a\"é".to_string());
        m.insert("x".to_string(), "1".to_string());
        assert_eq!(py_json_dumps(&m), r#"{"host": "a\"\u00e9", "x": "1"}"#);
        assert_eq!(py_json_dumps(&IndexMap::new()), "{}");
    }
}
