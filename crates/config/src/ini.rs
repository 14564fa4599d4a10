//! One INI file, parsed the way Python's `configparser` (strict mode, as
//! fail2ban configures it) parses it.
//!
//! Each physical file is parsed on its own; merging files is the job of
//! [`crate::parser::ConfigSet`]. Values keep the raw text: interpolation
//! happens later, when a value is read.
//!
//! Rules that matter for compatibility (all observed in Python 3.11):
//! - keys are lower-cased and right-stripped, values stripped;
//! - a line indented deeper than its option line continues the value, and an
//!   empty line inside a value is kept (trailing ones are dropped);
//! - full-line comments start with `#` or `;` and do not end a value;
//!   inline comments start only at a `;` preceded by whitespace;
//! - a duplicate section or option within one file is an error.

use indexmap::IndexMap;
use std::path::{Path, PathBuf};

use crate::ConfigError;

/// Where a value was defined, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// Line number, from 1; 0 when the file as a whole is meant.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // (line 0: about the whole file)
        match self.line {
            0 => write!(f, "{}", self.file.display()),
            n => write!(f, "{}:{n}", self.file.display()),
        }
    }
}

/// An option's value and where it was defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The raw text, before interpolation and tag substitution.
    pub value: String,
    /// Where it was defined; `None` for values the program set itself.
    pub origin: Option<Origin>,
}

impl Entry {
    /// A value set by the program rather than read from a file (no origin).
    pub fn new(value: impl Into<String>) -> Entry {
        Entry {
            value: value.into(),
            origin: None,
        }
    }
}

/// A section's options by lower-cased name, in file order.
pub type Section = IndexMap<String, Entry>;

/// The parsed content of one file.
#[derive(Clone, Debug, Default)]
pub struct IniFile {
    /// The options of `[DEFAULT]`, which every section inherits.
    pub defaults: Section,
    /// The other sections by name, in file order.
    pub sections: IndexMap<String, Section>,
}

/// The section whose options every other section inherits.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// Largest configuration file read (stock files are a few KiB; `jail.conf`
/// is the biggest at about 30 KiB).
pub const MAX_FILE_LEN: u64 = 16 << 20;

/// Read and parse one file. `Ok(None)` if it cannot be opened (Python skips
/// unreadable files silently); a file that is not UTF-8 is an error.
///
/// Only regular files (or links to them) are read, up to [`MAX_FILE_LEN`]:
/// an include naming a FIFO, `/dev/stdin` or `/dev/zero` would otherwise
/// block the reader forever or fill memory (Python does both); it is an
/// error naming the file instead.
pub fn read_file(path: &Path) -> Result<Option<IniFile>, ConfigError> {
    use std::io::Read;
    let refuse = |message: String| ConfigError::Parse {
        origin: Origin {
            file: path.to_path_buf(),
            line: 0,
        },
        message,
    };
    // (stat before open: opening a FIFO blocks until a writer comes; a
    // directory cannot be read and is skipped like any unreadable file)
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Ok(None),
        Ok(m) if !m.is_file() => {
            return Err(refuse("not a regular file; refusing to read it".into()))
        }
        Ok(_) => {}
        Err(_) => return Ok(None),
    }
    let mut bytes = Vec::new();
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes));
    if read.is_err() {
        return Ok(None);
    }
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(refuse(format!(
            "larger than {MAX_FILE_LEN} bytes; not a configuration file"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Parse {
        origin: Origin {
            file: path.to_path_buf(),
            line: line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to()),
        },
        message: "file is not valid UTF-8".into(),
    })?;
    parse(&text, path).map(Some)
}

fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

struct Pending {
    section: Option<String>, // None = DEFAULT
    key: String,
    lines: Vec<String>,
}

/// Parse INI text; `path` is only used for error messages and origins.
pub fn parse(text: &str, path: &Path) -> Result<IniFile, ConfigError> {
    let mut file = IniFile::default();
    // Current section: None before any header, Some(None) for DEFAULT.
    let mut cur: Option<Option<String>> = None;
    let mut pending: Option<Pending> = None;
    let mut indent_level = usize::MAX;
    let mut seen_sections: Vec<String> = Vec::new();
    let mut seen_opts: std::collections::HashSet<(Option<String>, String)> = Default::default();
    let mut first_error: Option<ConfigError> = None;
    let origin = |line: usize| Origin {
        file: path.to_path_buf(),
        line,
    };

    // Python iterates lines keeping their ending; `str.splitlines` semantics
    // are not used by configparser (it reads with universal newlines).
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        text
    };
    for (idx, line) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let comment_start = comment_start(line);
        let value = py_strip(&line[..comment_start.unwrap_or(line.len())]);
        if value.is_empty() {
            // An empty line inside a value is kept, unless it held a comment.
            if comment_start.is_none() {
                if let Some(p) = pending.as_mut() {
                    p.lines.push(String::new());
                }
            }
            continue;
        }
        let cur_indent = line
            .char_indices()
            .find(|(_, c)| !c.is_whitespace())
            .map(|(i, _)| i)
            .unwrap_or(0);
        if pending.is_some() && cur_indent > indent_level {
            if let Some(p) = pending.as_mut() {
                p.lines.push(value.to_string());
            }
            continue;
        }
        indent_level = cur_indent;
        if let Some(header) = section_header(value) {
            flush(&mut file, pending.take());
            if header == DEFAULT_SECTION {
                cur = Some(None);
            } else {
                if seen_sections.iter().any(|s| s == header) {
                    return Err(ConfigError::Parse {
                        origin: origin(lineno),
                        message: format!("section {header:?} already exists"),
                    });
                }
                seen_sections.push(header.to_string());
                file.sections.entry(header.to_string()).or_default();
                cur = Some(Some(header.to_string()));
            }
            continue;
        }
        let Some(section) = cur.clone() else {
            return Err(ConfigError::Parse {
                origin: origin(lineno),
                message: format!("no section header before this line: {line:?}"),
            });
        };
        match split_option(value) {
            Some((key, val)) if !key.is_empty() => {
                flush(&mut file, pending.take());
                let key = key.to_lowercase();
                if !seen_opts.insert((section.clone(), key.clone())) {
                    return Err(ConfigError::Parse {
                        origin: origin(lineno),
                        message: format!(
                            "option {key:?} in section {:?} already exists",
                            section.as_deref().unwrap_or(DEFAULT_SECTION)
                        ),
                    });
                }
                let target = section_mut(&mut file, &section);
                target.insert(
                    key.clone(),
                    Entry {
                        value: String::new(),
                        origin: Some(origin(lineno)),
                    },
                );
                pending = Some(Pending {
                    section,
                    key,
                    lines: vec![val.to_string()],
                });
            }
            _ => {
                // Python collects these and raises at the end of the file;
                // the first one is enough to name the place.
                flush(&mut file, pending.take());
                if first_error.is_none() {
                    first_error = Some(ConfigError::Parse {
                        origin: origin(lineno),
                        message: format!(
                            "line is neither a section, an option nor a comment: {line:?}"
                        ),
                    });
                }
            }
        }
    }
    flush(&mut file, pending.take());
    match first_error {
        Some(e) => Err(e),
        None => Ok(file),
    }
}

fn section_mut<'a>(file: &'a mut IniFile, section: &Option<String>) -> &'a mut Section {
    match section {
        None => &mut file.defaults,
        Some(name) => file.sections.entry(name.clone()).or_default(),
    }
}

fn flush(file: &mut IniFile, pending: Option<Pending>) {
    if let Some(p) = pending {
        let joined = p.lines.join("\n");
        let value = joined.trim_end().to_string();
        if let Some(e) = section_mut(file, &p.section).get_mut(&p.key) {
            e.value = value;
        }
    }
}

/// Python `str.strip()` (Unicode whitespace).
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace())
}

/// Byte index where a comment starts, if any.
fn comment_start(line: &str) -> Option<usize> {
    let stripped = py_strip(line);
    if stripped.starts_with('#') || stripped.starts_with(';') {
        return Some(0);
    }
    // Inline comment: `;` at column 0 or preceded by whitespace.
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        if c == ';' && prev.is_none_or(|p| p.is_whitespace()) {
            return Some(i);
        }
        prev = Some(c);
    }
    None
}

/// `\[(?P<header>.+)\]` matched at the start of the stripped line.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    if close == 0 {
        return None;
    }
    let header = &rest[..close];
    // `.` does not match a newline; values are single lines here anyway.
    Some(header)
}

/// `(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$`: split at the first `=` or `:`.
fn split_option(value: &str) -> Option<(&str, &str)> {
    let pos = value.find(['=', ':'])?;
    let key = value[..pos].trim_end_matches(|c: char| c.is_whitespace());
    let val = value[pos + 1..].trim_start_matches(|c: char| c.is_whitespace());
    Some((key, val))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> IniFile {
        parse(text, Path::new("t.conf")).expect("parse")
    }

    fn val<'a>(f: &'a IniFile, s: &str, k: &str) -> &'a str {
        &f.sections[s][k].value
    }

    #[test]
    fn continuation_and_comments() {
        let f = p("[a]\nKey = one\n  two\n# c\n\n  three\n\n\nx= 1 ; c\ny = /p # not\n");
        assert_eq!(val(&f, "a", "key"), "one\ntwo\n\nthree");
        assert_eq!(val(&f, "a", "x"), "1");
        assert_eq!(val(&f, "a", "y"), "/p # not");
    }

    #[test]
    fn defaults_and_conditional_headers() {
        let f = p("[DEFAULT]\na=1\n[Init?family=inet6]\nb : 2\n");
        assert_eq!(f.defaults["a"].value, "1");
        assert_eq!(val(&f, "Init?family=inet6", "b"), "2");
    }

    #[test]
    fn duplicate_option_is_an_error_with_line() {
        let e = parse("[s]\na=1\na=2\n", Path::new("x.conf")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("x.conf:3"), "{msg}");
        assert!(msg.contains("already exists"), "{msg}");
    }

    #[test]
    fn duplicate_section_is_an_error() {
        assert!(parse("[s]\na=1\n[s]\nb=2\n", Path::new("x")).is_err());
    }

    #[test]
    fn missing_header_and_bad_line() {
        assert!(parse("a=1\n", Path::new("x")).is_err());
        let e = parse("[s]\na=1\njunk\n", Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("x:3"));
    }

    #[test]
    fn empty_value_and_colon_split() {
        let f = p("[s]\na =\nb: c=d\nurl = http://x\n");
        assert_eq!(val(&f, "s", "a"), "");
        assert_eq!(val(&f, "s", "b"), "c=d");
        assert_eq!(val(&f, "s", "url"), "http://x");
    }

    #[test]
    fn comment_line_inside_value_is_skipped_not_kept() {
        let f = p("[s]\na = 1\n# x\n    2\n");
        assert_eq!(val(&f, "s", "a"), "1\n2");
    }
}
