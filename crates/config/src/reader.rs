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

mod definition;
pub use definition::*;

mod jail;
pub use jail::*;

/// One command of the stream, e.g. `["set", "sshd", "maxretry", 5]`.
pub type Command = Vec<Json>;

/// Version reported as `fail2ban_version` (the dialect level we implement).
pub const FAIL2BAN_VERSION: &str = "1.0.2";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OptType {
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
    /// The command stream for the server (what `-d` prints), typed.
    pub stream: Vec<gaoler_command::Command>,
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
    // The reader builds the words fail2ban's reader builds; every one of
    // them is a command the server knows (the golden dump reads back word
    // for word), so a failure here is a reader bug, reported as such.
    let stream = stream
        .iter()
        .map(|words| {
            gaoler_command::Command::parse(words).map_err(|e| ConfigError::Jail {
                jail: e.jail.clone().unwrap_or_default(),
                message: format!(
                    "the reader made a command the server does not know ({e}): {}",
                    Json::Array(words.clone())
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
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
