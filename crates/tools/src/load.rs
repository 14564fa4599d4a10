//! Turning a filter reference into the regexes and options a [`Filter`] needs.
//!
//! Both tools read filters exactly as fail2ban's client does
//! (`gaoler_config::reader`), then keep only the commands that fail2ban-regex
//! and the sample test apply: `prefregex`, `addfailregex`, `addignoreregex`,
//! `maxlines`, `datepattern` (plus `addjournalmatch`, `usedns`,
//! `logtimezone` for information). `usedns` from a filter is *not* applied,
//! as upstream's tools ignore it too.
//!
//! [`Filter`]: gaoler_filter::Filter

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use gaoler_config::filterparts::FilterParts;

/// How a REGEX argument was resolved.
#[derive(Clone, Debug)]
pub enum Source {
    /// A literal regex.
    Literal(String),
    /// A jail section of `jail.conf`: its name and `filter` value.
    Jail {
        /// The jail's name.
        jail: String,
        /// Its `filter` value.
        filter: String,
    },
    /// A filter under `basedir/filter.d`.
    FilterFile {
        /// The filter's name (file name without `.conf`).
        name: String,
        /// The configuration directory.
        basedir: PathBuf,
    },
    /// A filter file outside any `filter.d`.
    ForeignFile {
        /// The file.
        path: PathBuf,
    },
}

/// A resolved REGEX (or IGNOREREGEX) argument.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Where the regexes came from.
    pub source: Source,
    /// Bracket options given with the name (`sshd[mode=aggressive]`).
    pub options: Vec<(String, String)>,
    /// The filter's regexes and options, as read.
    pub parts: FilterParts,
}

/// fail2ban-regex's test for "this looks like a filter name or path".
fn looks_like_filter(value: &str) -> bool {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"(?s)^/{0,3}[\w/_\-.]+(?:\[.*\])?$").ok())
        .as_ref()
        .is_some_and(|r| r.is_match(value))
}

/// Python's `"." in name[~5:]`: a dot among the last six characters.
fn has_extension(name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    let from = chars.len().saturating_sub(6);
    chars[from..].contains(&'.')
}

/// Resolve a REGEX argument like fail2ban-regex: a jail of `jail.conf` (when
/// `try_jail`), a filter name or path (with `[options]`), else a literal.
/// `is_fail` selects where a literal goes (failregex or ignoreregex).
pub fn resolve(
    config: &Path,
    value: &str,
    is_fail: bool,
    try_jail: bool,
    backend: &str,
) -> Result<Resolved> {
    let literal = || {
        let mut parts = FilterParts::default();
        if is_fail {
            parts.failregex.push(value.to_string());
        } else {
            parts.ignoreregex.push(value.to_string());
        }
        Resolved {
            source: Source::Literal(value.to_string()),
            options: Vec::new(),
            parts,
        }
    };
    // upstream only looks for filter files for the failregex argument
    if !is_fail || !looks_like_filter(value) {
        return Ok(literal());
    }
    let (name, opts) = gaoler_config::options::extract_options(value)
        .with_context(|| format!("Wrong filter name or options: {value}"))?;
    let options: Vec<(String, String)> = opts.into_iter().collect();

    // a jail name (`^[\w/_\-]+$`, so no extension); its backend is forced
    // to `backend` (files: `auto`) as fail2ban-regex 1.1 does
    if try_jail && !name.contains('/') && !name.contains('.') {
        let mut jopts = options.clone();
        jopts.push(("backend".to_string(), backend.to_string()));
        if let Some((filter, stream)) =
            gaoler_config::reader::read_jail_filter_stream(config, &name, &jopts)
                .with_context(|| format!("reading jail {name:?} of {}", config.display()))?
        {
            return Ok(Resolved {
                source: Source::Jail { jail: name, filter },
                options,
                parts: FilterParts::from_stream(&stream),
            });
        }
    }

    let try_names: Vec<String> = if has_extension(&name) {
        vec![name.clone()]
    } else {
        vec![
            name.clone(),
            format!("{name}.conf"),
            format!("{name}.local"),
        ]
    };
    let config_is_filter_d = config.file_name().is_some_and(|n| n == "filter.d");
    let mut found: Option<PathBuf> = None;
    for t in &try_names {
        let p = if !t.contains('/') {
            if config_is_filter_d {
                config.join(t)
            } else {
                config.join("filter.d").join(t)
            }
        } else {
            PathBuf::from(t)
        };
        if p.is_file() {
            found = Some(p);
            break;
        }
    }
    let Some(file) = found else {
        return Ok(literal());
    };
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let in_filter_d = dir.file_name().is_some_and(|n| n == "filter.d");
    let stem = file
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = stem
        .strip_suffix(".conf")
        .or_else(|| stem.strip_suffix(".local"))
        .unwrap_or(&stem)
        .to_string();
    let jail = "fail2ban-regex-jail";
    if in_filter_d || (!name.contains('/') && !has_extension(&name)) {
        let basedir = if in_filter_d {
            dir.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            config.to_path_buf()
        };
        let basedir = if basedir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            basedir
        };
        let spec = filter_spec_string(&stem, &options);
        let stream = gaoler_config::reader::read_filter_stream(&basedir, &spec, jail, backend)
            .with_context(|| format!("failed to load filter {value}"))?;
        Ok(Resolved {
            source: Source::FilterFile {
                name: stem,
                basedir,
            },
            options,
            parts: FilterParts::from_stream(&stream),
        })
    } else {
        let stream = gaoler_config::reader::read_filter_file_stream(&file, &options, jail, backend)
            .with_context(|| format!("failed to load filter {value}"))?;
        Ok(Resolved {
            source: Source::ForeignFile { path: file },
            options,
            parts: FilterParts::from_stream(&stream),
        })
    }
}

/// `name[k="v", …]` for the config reader. Values are double-quoted with
/// backslash escapes, which the option parser reads back verbatim.
pub fn filter_spec_string(name: &str, options: &[(String, String)]) -> String {
    if options.is_empty() {
        return name.to_string();
    }
    let body: Vec<String> = options
        .iter()
        .map(|(k, v)| {
            let q = if !v.contains('"') {
                '"'
            } else if !v.contains('\'') {
                '\''
            } else {
                '"'
            };
            format!("{k}={q}{v}{q}")
        })
        .collect();
    format!("{name}[{}]", body.join(", "))
}

/// Python `repr` of a flat string dict (`{'mode': 'aggressive'}`).
pub fn py_dict_repr(options: &[(String, String)]) -> String {
    let body: Vec<String> = options
        .iter()
        .map(|(k, v)| format!("{}: {}", crate::pyrepr::py_str(k), crate::pyrepr::py_str(v)))
        .collect();
    format!("{{{}}}", body.join(", "))
}
