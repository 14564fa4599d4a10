//! The jail reader: a jail section of jail.conf (with jail.local and
//! jail.d/) read with its filter and actions into its part of the command
//! stream, with the checks `-t` and the server's start make.

use super::*;

pub(crate) enum ActionEntry {
    Reader(Box<DefinitionReader>),
    Python(Command),
}

/// One jail section (fail2ban's `JailReader`).
pub struct JailReader {
    /// The jail's name (its section in `jail.conf`/`jail.local`).
    pub name: String,
    pub(crate) opts: Vars,
    pub(crate) filter: Option<DefinitionReader>,
    pub(crate) actions: Vec<ActionEntry>,
    pub(crate) config_error: Option<String>,
    /// Where the option that caused `config_error` was defined.
    pub(crate) config_error_at: Option<crate::Origin>,
    /// Where each option read from the jail section was defined.
    pub(crate) origins: HashMap<String, crate::Origin>,
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
pub(crate) fn read_typed(
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

pub(crate) fn jail_def_error(jail: &str, message: String) -> ConfigError {
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
pub(crate) fn read_jail(
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

pub(crate) fn read_jail_inner(
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

pub(crate) static JAIL_OPTS_WITH_FILTER: std::sync::LazyLock<Vec<(&'static str, OptType)>> =
    std::sync::LazyLock::new(|| {
        let mut v = JAIL_OPTS.to_vec();
        v.extend_from_slice(FILTER_OPTS);
        v
    });

pub(crate) fn is_jail_ignored_opt(opt: &str) -> bool {
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
pub(crate) fn glob_logpath(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in glob_like_python(pattern) {
        if p.exists() {
            out.push(p.to_string_lossy().to_string());
        } else {
            tracing::warn!(
                "File {} is a dangling link, thus cannot be monitored",
                p.display()
            );
        }
    }
    out
}

/// `glob.glob` as fail2ban calls it for a `logpath`: not recursive (runs
/// of `*` folded to one, else `**` would walk the whole tree), hidden
/// files only when the pattern says `.`, sorted; dangling links included (callers decide what
/// a link to nothing means). An invalid pattern matches nothing.
pub fn glob_like_python(pattern: &str) -> Vec<std::path::PathBuf> {
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
    let mut out: Vec<std::path::PathBuf> = match glob::glob_with(&folded, opts) {
        Ok(paths) => paths.flatten().collect(),
        Err(e) => {
            tracing::debug!("logpath {pattern:?} is not a valid glob: {e}");
            Vec::new()
        }
    };
    out.sort();
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
