//! The filter and action readers (fail2ban's `DefinitionInitConfigReader`):
//! a filter.d or action.d file with its `[Init]`, bracket options and
//! conditional sections, converted into stream commands.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Filter,
    Action,
}

/// A filter or action file with `[Definition]` and `[Init]` sections
/// (fail2ban's `DefinitionInitConfigReader`).
pub struct DefinitionReader {
    pub(crate) kind: Kind,
    pub(crate) cfg: Rc<ConfigSet>,
    /// File stem under `filter.d`/`action.d`.
    pub file: String,
    /// Action name as used in the stream (`actname`).
    pub name: String,
    pub(crate) jail: String,
    pub(crate) init_opts: Vars,
    pub(crate) opts: Vars,
    pub(crate) p_opts: Vars,
    pub(crate) def_cache: RefCell<HashMap<String, Option<String>>>,
}

pub(crate) fn not_found(tree: &ConfigTree, name: &str) -> ConfigError {
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

    pub(crate) fn config_opts(&self) -> &'static [(&'static str, OptType)] {
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

    pub(crate) fn comb_option(&self, name: &str) -> Result<Option<String>, ConfigError> {
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

pub(crate) fn cmd(parts: &[&str]) -> Command {
    parts.iter().map(|s| Json::from(*s)).collect()
}

/// Append the filter options of `opts` to the stream (fail2ban's
/// `FilterReader._fillStream`), used for both filter and jail-level values.
pub(crate) fn fill_filter_stream(
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
pub(crate) fn py_json_dumps(map: &IndexMap<String, String>) -> String {
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
