//! A set of merged INI files: fail2ban's `SafeConfigParserWithIncludes`.
//!
//! [`ConfigSet::read`] resolves a logical name (`jail`, `filter.d/sshd`) to its
//! layered files, follows `[INCLUDES] before/after`, parses each file on its
//! own and merges them in order. Before a later file overwrites keys of a
//! section, the old values are kept in a hidden `KNOWN/<section>` section,
//! which is what `%(known/x)s` reads.
//!
//! Values are interpolated lazily in [`ConfigSet::get`] with Python's
//! `BasicInterpolation` rules plus fail2ban's two extensions: `%(__name__)s`
//! and `%(section/option)s`.

use indexmap::IndexMap;
use std::path::{Path, PathBuf};

use crate::ini::{self, Entry, IniFile, Origin, Section, DEFAULT_SECTION};
use crate::value::Vars;
use crate::ConfigError;

const MAX_INTERPOLATION_DEPTH: usize = 10;
/// Interpolation can grow a value exponentially within the depth limit
/// (`a = %(b)s%(b)s…`, `b = %(c)s%(c)s…`: a 400-byte file asks for a
/// gigabyte); Python would try. No real value comes near this size (the
/// largest stock `failregex` is a few KiB), so beyond it the value is an
/// error naming the option, like the same growth through `<tags>`.
const MAX_VALUE_LEN: usize = 1 << 20;

/// The merged view of a group of configuration files.
#[derive(Clone, Debug, Default)]
pub struct ConfigSet {
    pub(crate) defaults: Section,
    pub(crate) sections: IndexMap<String, Section>,
    /// Files read, in merge order.
    pub files: Vec<PathBuf>,
}

impl ConfigSet {
    /// Read the layered files of logical name `name` under `basedir`:
    /// `N.conf`, `N.d/*.conf`, `N.local`, `N.d/*.local`, each with its includes.
    /// Returns `Ok(None)` when none of them exists.
    pub fn read(basedir: &Path, name: &str) -> Result<Option<ConfigSet>, ConfigError> {
        let base = basedir.join(name);
        let base_s = base.to_string_lossy().to_string();
        let mut candidates = vec![PathBuf::from(format!("{base_s}.conf"))];
        candidates.extend(sorted_glob(&format!("{base_s}.d"), "conf"));
        candidates.push(PathBuf::from(format!("{base_s}.local")));
        candidates.extend(sorted_glob(&format!("{base_s}.d"), "local"));
        let existing: Vec<PathBuf> = candidates.into_iter().filter(|p| p.exists()).collect();
        if existing.is_empty() {
            return Ok(None);
        }
        let mut set = ConfigSet::default();
        let mut order = Vec::new();
        let mut budget = MAX_INCLUDED_FILES;
        expand_includes(&existing, &[], &mut order, &mut budget)?;
        for (path, file) in order {
            set.merge_file(path, file);
        }
        if set.files.is_empty() {
            return Ok(None);
        }
        Ok(Some(set))
    }

    /// Build a set from in-memory files (tests, fuzzing).
    pub fn from_files(files: Vec<(PathBuf, IniFile)>) -> ConfigSet {
        let mut set = ConfigSet::default();
        for (p, f) in files {
            set.merge_file(p, f);
        }
        set
    }

    fn merge_file(&mut self, path: PathBuf, file: IniFile) {
        self.files.push(path);
        for (k, v) in file.defaults {
            self.defaults.insert(k, v);
        }
        for (name, sec) in file.sections {
            // `[Init?family=inet6]` folds into `Init` with renamed keys.
            let (name, sec) = match split_conditional(&name) {
                Some((base, cond)) => {
                    let renamed: Section = sec
                        .into_iter()
                        .map(|(k, v)| (format!("{k}{cond}"), v))
                        .collect();
                    (base.to_string(), renamed)
                }
                None => (name, sec),
            };
            if let Some(existing) = self.sections.get(&name) {
                let old: Vec<(String, Entry)> = existing
                    .iter()
                    .filter(|(k, _)| sec.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let known = self.sections.entry(format!("KNOWN/{name}")).or_default();
                for (k, v) in old {
                    known.insert(k, v);
                }
                let existing = self.sections.entry(name).or_default();
                for (k, v) in sec {
                    existing.insert(k, v);
                }
            } else {
                self.sections.insert(name, sec);
            }
        }
    }

    /// Section names in order, without the hidden `KNOWN/` ones.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections
            .keys()
            .map(String::as_str)
            .filter(|n| !n.starts_with("KNOWN/"))
    }

    /// Whether the section exists (the hidden `KNOWN/` ones included).
    pub fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }

    /// Own keys of a section (no defaults), in order.
    pub fn own_options(&self, section: &str) -> Vec<String> {
        self.sections
            .get(section)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the section itself sets the option (`[DEFAULT]` is not
    /// consulted).
    pub fn has_own_option(&self, section: &str, option: &str) -> bool {
        self.sections
            .get(section)
            .is_some_and(|s| s.contains_key(option))
    }

    /// Set an option in `[DEFAULT]`, where every section's interpolation
    /// finds it (`fail2ban_version`, `fail2ban_confpath`).
    pub fn set_default(&mut self, key: &str, value: &str) {
        self.defaults.insert(key.to_string(), Entry::new(value));
    }

    /// Set keys in a section, each prefixed by `prefix` (fail2ban's `merge_section`).
    pub fn merge_section(&mut self, section: &str, options: &[(String, String)], prefix: &str) {
        let sec = self.sections.entry(section.to_string()).or_default();
        for (k, v) in options {
            if prefix.is_empty() {
                sec.insert(k.clone(), Entry::new(v.clone()));
            } else if !k.starts_with(prefix) && k != "__name__" {
                sec.insert(format!("{prefix}{k}"), Entry::new(v.clone()));
            }
        }
    }

    /// Where an option was defined (section first, then `[DEFAULT]`).
    pub fn origin(&self, section: &str, option: &str) -> Option<&Origin> {
        self.sections
            .get(section)
            .and_then(|s| s.get(option))
            .or_else(|| self.defaults.get(option))
            .and_then(|e| e.origin.as_ref())
    }

    /// The raw value of an option: vars, then the section, then `[DEFAULT]`.
    pub fn get_raw(&self, section: &str, option: &str, vars: &Vars) -> Result<String, ConfigError> {
        let map = self.unify(section, vars)?;
        let option = option.to_lowercase();
        map.lookup(&option)
            .map(str::to_string)
            .ok_or_else(|| ConfigError::NoOption {
                section: section.to_string(),
                option,
            })
    }

    /// Read an option with interpolation (Python `ConfigParser.get`).
    pub fn get(&self, section: &str, option: &str, vars: &Vars) -> Result<String, ConfigError> {
        let mut map = self.unify(section, vars)?;
        let option = option.to_lowercase();
        let value =
            map.lookup(&option)
                .map(str::to_string)
                .ok_or_else(|| ConfigError::NoOption {
                    section: section.to_string(),
                    option: option.clone(),
                })?;
        let mut out = String::new();
        self.interpolate(section, &option, &value, &mut map, 1, &mut out)?;
        Ok(out)
    }

    /// `get` that also understands `sec/opt` names (fail2ban's `get_ex`).
    pub fn get_ex(&self, section: &str, option: &str, vars: &Vars) -> Result<String, ConfigError> {
        if let Some((sec, opt)) = split_sec_opt(option) {
            let lower = sec.to_lowercase();
            let tries: Vec<String> = if lower == "known" {
                vec![format!("KNOWN/{section}"), section.to_string()]
            } else if lower == "default" {
                vec![DEFAULT_SECTION.to_string()]
            } else {
                vec![sec.to_string()]
            };
            for s in tries {
                match self.get(&s, opt, &Vars::new()) {
                    Ok(v) => return Ok(v),
                    Err(ConfigError::NoSection { .. } | ConfigError::NoOption { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.get(section, option, vars)
    }

    fn unify<'a>(&'a self, section: &str, vars: &Vars) -> Result<LookupMap<'a>, ConfigError> {
        let sec = match self.sections.get(section) {
            Some(s) => Some(s),
            None if section == DEFAULT_SECTION => None,
            None => {
                return Err(ConfigError::NoSection {
                    section: section.to_string(),
                })
            }
        };
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.to_py_string()))
            .collect();
        Ok(LookupMap {
            vars,
            section: sec,
            defaults: &self.defaults,
        })
    }

    fn interpolate(
        &self,
        section: &str,
        option: &str,
        rest: &str,
        map: &mut LookupMap<'_>,
        depth: usize,
        out: &mut String,
    ) -> Result<(), ConfigError> {
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(ConfigError::Interpolation {
                section: section.to_string(),
                option: option.to_string(),
                origin: self.origin(section, option).cloned(),
                message: "interpolation is nested too deeply (more than 10 levels; a loop?)".into(),
            });
        }
        if !map.vars.contains_key("__name__") {
            map.vars.insert("__name__".into(), section.to_string());
        }
        self.map_section_options(section, rest, map);
        let syntax_err = |msg: String| ConfigError::Interpolation {
            section: section.to_string(),
            option: option.to_string(),
            origin: self.origin(section, option).cloned(),
            message: msg,
        };
        let too_long = || {
            syntax_err(format!(
                "interpolated value grows beyond {MAX_VALUE_LEN} bytes"
            ))
        };
        let mut rest = rest;
        while !rest.is_empty() {
            // (each step adds at most one raw value, so checking here
            // bounds the work to a few times the limit)
            if out.len() > MAX_VALUE_LEN {
                return Err(too_long());
            }
            let Some(p) = rest.find('%') else {
                out.push_str(rest);
                break;
            };
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            match rest.as_bytes().get(1) {
                Some(b'%') => {
                    out.push('%');
                    rest = &rest[2..];
                }
                Some(b'(') => {
                    // `%\(([^)]+)\)s`
                    let close = rest[2..].find(')').map(|i| i + 2);
                    let Some(close) = close.filter(|&c| c > 2 && rest[c + 1..].starts_with('s'))
                    else {
                        return Err(syntax_err(format!(
                            "bad interpolation variable reference {rest:?}"
                        )));
                    };
                    let var = rest[2..close].to_lowercase();
                    rest = &rest[close + 2..];
                    let Some(v) = map.lookup(&var).map(str::to_string) else {
                        return Err(syntax_err(format!("unknown interpolation name %({var})s")));
                    };
                    if v.contains('%') {
                        self.interpolate(section, option, &v, map, depth + 1, out)?;
                    } else {
                        out.push_str(&v);
                    }
                }
                _ => {
                    return Err(syntax_err(format!(
                        "'%' must be followed by '%' or '(', found: {rest:?}"
                    )))
                }
            }
        }
        if out.len() > MAX_VALUE_LEN {
            return Err(too_long());
        }
        Ok(())
    }

    /// Pre-resolve `%(sec/opt)s` references found in `rest` into the lookup
    /// map, unless the literal key is already there.
    fn map_section_options(&self, section: &str, rest: &str, map: &mut LookupMap<'_>) {
        if !rest.contains('/') || !rest.contains("%(") {
            return;
        }
        for (sopt, sec, opt) in find_sec_opt_refs(rest) {
            if map.lookup(&sopt).is_some() {
                continue;
            }
            let lower = sec.to_lowercase();
            let found: Option<String> = if lower == "default" {
                None
            } else if lower == "known" {
                self.sections
                    .get(&format!("KNOWN/{section}"))
                    .and_then(|s| s.get(opt))
                    .map(|e| e.value.clone())
            } else {
                match self.sections.get(sec) {
                    None => continue,
                    Some(s) => s.get(opt).map(|e| e.value.clone()),
                }
            };
            let v = match found {
                Some(v) => v,
                None => match self.defaults.get(opt) {
                    Some(e) => e.value.clone(),
                    None => continue,
                },
            };
            map.vars.insert(sopt.to_string(), v);
        }
    }
}

struct LookupMap<'a> {
    vars: IndexMap<String, String>,
    section: Option<&'a Section>,
    defaults: &'a Section,
}

impl LookupMap<'_> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .or_else(|| {
                self.section
                    .and_then(|s| s.get(key))
                    .map(|e| e.value.as_str())
            })
            .or_else(|| self.defaults.get(key).map(|e| e.value.as_str()))
    }
}

/// `^(\w+)(\?.+)$`: `Init?family=inet6` → (`Init`, `?family=inet6`).
pub(crate) fn split_conditional(name: &str) -> Option<(&str, &str)> {
    let q = name.find('?')?;
    let (base, cond) = name.split_at(q);
    if base.is_empty() || cond.len() < 2 || !base.chars().all(is_word_char) {
        return None;
    }
    Some((base, cond))
}

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `^([\w\-]+)/([^\s>]+)$`
fn split_sec_opt(option: &str) -> Option<(&str, &str)> {
    let slash = option.find('/')?;
    let (sec, opt) = (&option[..slash], &option[slash + 1..]);
    let sec_ok = !sec.is_empty() && sec.chars().all(|c| is_word_char(c) || c == '-');
    let opt_ok = !opt.is_empty() && !opt.chars().any(|c| c.is_whitespace() || c == '>');
    (sec_ok && opt_ok).then_some((sec, opt))
}

/// All `%\(([\w\-]+/([^\)]+))\)s` in `text`: (whole `sec/opt`, sec, opt).
fn find_sec_opt_refs(text: &str) -> Vec<(String, &str, &str)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = text[i..].find("%(") {
        let start = i + p + 2;
        let sec_len = text[start..]
            .char_indices()
            .find(|&(_, c)| !(is_word_char(c) || c == '-'))
            .map(|(j, _)| j)
            .unwrap_or(text.len() - start);
        let after_sec = start + sec_len;
        if sec_len > 0 && text[after_sec..].starts_with('/') {
            let opt_start = after_sec + 1;
            if let Some(close) = text[opt_start..].find(')') {
                let opt_end = opt_start + close;
                if close > 0 && text[opt_end + 1..].starts_with('s') {
                    out.push((
                        text[start..opt_end].to_string(),
                        &text[start..after_sec],
                        &text[opt_start..opt_end],
                    ));
                    i = opt_end + 2;
                    continue;
                }
            }
        }
        i = start;
    }
    out
}

fn sorted_glob(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default();
                    // Python's glob `*` does not match a leading dot.
                    !name.starts_with('.') && p.extension().is_some_and(|e| e == ext)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `X` followed by `X-without-ext.local` when that exists and is not listed.
fn expand_with_local(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files {
        out.push(f.clone());
        let local = f.with_extension("local");
        if !files.contains(&local) && local.is_file() {
            out.push(local);
        }
    }
    out
}

/// How many files one logical name may merge, includes counted each time
/// they are included. The chain check below stops loops, but not a file
/// that includes another many times, which includes a third many times…
/// (three 3 KiB files asked for millions of reads). Stock trees merge at
/// most a handful.
const MAX_INCLUDED_FILES: usize = 1000;

/// Resolve `[INCLUDES]` recursively: before-files, the file, after-files.
/// `seen` is the chain of including files, which breaks loops; `budget`
/// counts down the files still allowed.
fn expand_includes(
    files: &[PathBuf],
    seen: &[PathBuf],
    out: &mut Vec<(PathBuf, IniFile)>,
    budget: &mut usize,
) -> Result<(), ConfigError> {
    for file in expand_with_local(files) {
        let Some(parsed) = ini::read_file(&file)? else {
            continue;
        };
        if *budget == 0 {
            return Err(ConfigError::Parse {
                origin: Origin {
                    file: file.clone(),
                    line: 0,
                },
                message: format!(
                    "more than {MAX_INCLUDED_FILES} files to merge; are files included over and over?"
                ),
            });
        }
        *budget -= 1;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let includes = parsed.sections.get("INCLUDES").cloned();
        let mut chain = seen.to_vec();
        chain.push(file.clone());
        let mut before = Vec::new();
        let mut after = Vec::new();
        if let Some(inc) = &includes {
            for (key, target) in [("before", &mut before), ("after", &mut after)] {
                let Some(e) = inc.get(key) else { continue };
                // Includes are read with interpolation in Python; plain paths
                // are the norm, and `%(...)s` here would reference the file's
                // own defaults.
                let value = interpolate_standalone(&parsed, "INCLUDES", &e.value)?;
                for name in value.split('\n') {
                    let p = Path::new(name);
                    let r = if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        dir.join(p)
                    };
                    if seen.contains(&r) {
                        continue;
                    }
                    expand_includes(std::slice::from_ref(&r), &chain, target, budget).map_err(
                        |err| match &e.origin {
                            Some(o)
                                if matches!(
                                    err,
                                    ConfigError::Parse { .. } | ConfigError::Context { .. }
                                ) =>
                            {
                                err.context(format!("{o}: included from here"))
                            }
                            _ => err,
                        },
                    )?;
                }
            }
        }
        out.append(&mut before);
        out.push((file, parsed));
        out.append(&mut after);
    }
    Ok(())
}

fn interpolate_standalone(
    file: &IniFile,
    section: &str,
    value: &str,
) -> Result<String, ConfigError> {
    if !value.contains('%') {
        return Ok(value.to_string());
    }
    let set = ConfigSet {
        defaults: file.defaults.clone(),
        sections: file.sections.clone(),
        files: Vec::new(),
    };
    let mut map = set.unify(section, &Vars::new())?;
    let mut out = String::new();
    set.interpolate(section, "before", value, &mut map, 1, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(texts: &[&str]) -> ConfigSet {
        ConfigSet::from_files(
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let p = PathBuf::from(format!("f{i}.conf"));
                    let f = ini::parse(t, &p).expect("parse");
                    (p, f)
                })
                .collect(),
        )
    }

    #[test]
    fn interpolation_basic_and_name() {
        let s = set(&["[DEFAULT]\nb = B\n[x]\na = %(b)s-%(__name__)s-%%\n"]);
        assert_eq!(s.get("x", "a", &Vars::new()).unwrap(), "B-x-%");
    }

    #[test]
    fn known_keeps_overwritten_value() {
        let s = set(&["[x]\nf = one\n", "[x]\nf = %(known/f)s two\n"]);
        assert_eq!(s.get("x", "f", &Vars::new()).unwrap(), "one two");
    }

    #[test]
    fn known_falls_back_to_default() {
        let s = set(&["[DEFAULT]\np = P\n[Definition]\np = %(known/p)s+\n"]);
        assert_eq!(s.get("Definition", "p", &Vars::new()).unwrap(), "P+");
    }

    #[test]
    fn section_reference_and_default_reference() {
        let s = set(&["[DEFAULT]\nv = d\n[a]\nv = A\n[b]\nx = %(a/v)s %(default/v)s %(a/w)s\n"]);
        // a/w is missing in a: the DEFAULT value is not there either -> error
        assert!(s.get("b", "x", &Vars::new()).is_err());
        let s =
            set(&["[DEFAULT]\nv = d\nw = W\n[a]\nv = A\n[b]\nx = %(a/v)s %(default/v)s %(a/w)s\n"]);
        assert_eq!(s.get("b", "x", &Vars::new()).unwrap(), "A d W");
    }

    #[test]
    fn loop_is_an_error() {
        let s = set(&["[x]\na = %(b)s\nb = %(a)s\n"]);
        let e = s.get("x", "a", &Vars::new()).unwrap_err();
        assert!(e.to_string().contains("too deeply"), "{e}");
    }

    // Found with the ini fuzz target's harness: eight references per
    // level, eight levels, asked for 16 MiB from 300 bytes (nine levels
    // for a gigabyte) and the reader ran out of time and memory.
    #[test]
    fn interpolation_growth_is_bounded() {
        let names = "abcdefghi";
        let mut text = String::from("[x]\n");
        for (n, next) in names.chars().zip(names.chars().skip(1)) {
            text.push_str(&format!("{n} = {}\n", format!("%({next})s").repeat(8)));
        }
        text.push_str("i = x\n");
        let s = set(&[&text]);
        let e = s.get("x", "a", &Vars::new()).unwrap_err();
        assert!(e.to_string().contains("grows beyond"), "{e}");
        assert!(e.to_string().contains("f0.conf:2"), "{e}");
        // one level less is 2 MiB → still refused; two less is fine
        assert_eq!(s.get("x", "c", &Vars::new()).unwrap().len(), 1 << 18);
    }

    /// `ConfigSet::read` of `filter.d/x` in a fresh directory holding
    /// `files` (name → text).
    fn read_tree(
        files: &[(&str, &str)],
    ) -> (tempfile::TempDir, Result<Option<ConfigSet>, ConfigError>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("filter.d")).expect("filter.d");
        for (name, text) in files {
            std::fs::write(dir.path().join("filter.d").join(name), text).expect("write");
        }
        let r = ConfigSet::read(dir.path(), "filter.d/x");
        (dir, r)
    }

    // Found with the ini fuzz target's harness: files that include the
    // next one many times multiply (three 3 KiB files: millions of reads);
    // the loop check alone does not stop that.
    #[test]
    fn include_fanout_is_bounded() {
        let inc = |name: &str| format!("[INCLUDES]\nbefore = {}\n", vec![name; 40].join("\n  "));
        let (_d, r) = read_tree(&[
            ("x.conf", &inc("a.conf")),
            ("a.conf", &inc("b.conf")),
            ("b.conf", "[Definition]\nv = 1\n"),
        ]);
        let e = r.expect_err("refused");
        assert!(e.to_string().contains("more than 1000 files"), "{e}");
        assert!(
            e.to_string().contains("x.conf:2: included from here"),
            "{e}"
        );
        // a few includes of the same file are fine
        let (_d, r) = read_tree(&[
            (
                "x.conf",
                "[INCLUDES]\nbefore = a.conf\n  a.conf\n[Definition]\nv = %(w)s\n",
            ),
            ("a.conf", "[Definition]\nw = 2\n"),
        ]);
        let set = r.expect("read").expect("files");
        assert_eq!(set.get("Definition", "v", &Vars::new()).unwrap(), "2");
    }

    // An include naming a FIFO blocked the reader forever, /dev/zero
    // filled memory; /dev/null stands for every such file here.
    #[test]
    fn include_of_a_special_file_is_refused() {
        let (_d, r) = read_tree(&[("x.conf", "[INCLUDES]\nbefore = /dev/null\n")]);
        let e = r.expect_err("refused");
        assert!(
            e.to_string().contains("/dev/null: not a regular file"),
            "{e}"
        );
        assert!(
            e.to_string().contains("x.conf:2: included from here"),
            "{e}"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let text = format!("[INCLUDES]\nafter = {}\n", fifo.display());
        let (_d, r) = read_tree(&[("x.conf", &text)]);
        assert!(r.is_err());
        // a directory is skipped, as Python skips what it cannot open
        let text = format!(
            "[INCLUDES]\nafter = {}\n[Definition]\nv = 1\n",
            dir.path().display()
        );
        let (_d, r) = read_tree(&[("x.conf", &text)]);
        assert!(r.expect("read").is_some());
    }

    #[test]
    fn missing_name_is_an_error() {
        let s = set(&["[x]\na = %(nope)s\n"]);
        let e = s.get("x", "a", &Vars::new()).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(e.to_string().contains("f0.conf:2"), "{e}");
    }

    #[test]
    fn vars_win_over_section() {
        let s = set(&["[x]\na = %(b)s\nb = sec\n"]);
        let mut v = Vars::new();
        v.insert("B".into(), crate::value::Value::Int(5));
        assert_eq!(s.get("x", "a", &v).unwrap(), "5");
    }

    #[test]
    fn conditional_sections_fold() {
        let s = set(&["[Init]\na = 1\n[Init?family=inet6]\na = 2\n"]);
        assert_eq!(
            s.own_options("Init"),
            vec!["a".to_string(), "a?family=inet6".to_string()]
        );
    }

    #[test]
    fn sec_opt_refs() {
        let r = find_sec_opt_refs("x %(known/a)s %(b)s %(default/c d)s");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, "known/a");
        assert_eq!(r[1].2, "c d");
    }
}
