//! `name[opt=val, ...]` option lists (fail2ban's `extractOptions`) and the
//! splitting of an `action` value into its entries (`splitWithOptions`).
//!
//! Both are defined upstream by Python regexes; they are run here through
//! PCRE2 (via `gaoler-matcher`) unchanged in meaning, because their
//! backtracking behaviour on odd input *is* the specification.

use std::sync::OnceLock;

use gaoler_matcher::{Options, Regex};
use indexmap::IndexMap;

use crate::ConfigError;

const NAME: &str = r"[\w\-_\.]+(?:\?[\w\-_\.]+=[\w\-_\.]+)?";

fn option_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new_pcre2(r"(?s)^([^\[]+)(?:\[(.*)\])?\s*$", Options::default())
            .expect("static regex")
    })
}

fn extract_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let p = format!(
            r#"(?s)\s*({NAME})=(?:"([^"]*)"|'([^']*)'|([^,\]]*))(?:,|\]\s*\[|$|(?P<wrngA>.+))|,?\s*$|(?P<wrngB>.+)"#
        );
        Regex::new_pcre2(&p, Options::default()).expect("static regex")
    })
}

fn split_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let p = format!(
            r#"(?s)(?:[^\[\s]+(?:\s*\[\s*(?:{NAME}=(?:"[^"]*"|'[^']*'|[^,\]]*)\s*(?:,|\]\s*\[)?\s*)*\])?\s*|\S+)(?=\n\s*|\s+|$)"#
        );
        Regex::new_pcre2(&p, Options::default()).expect("static regex")
    })
}

/// Python `re.finditer` semantics: after an empty match, the next match may
/// not be empty at the same position (approximated by searching one
/// character further, which is exact for the patterns used here).
fn find_iter(
    re: &Regex,
    text: &str,
    mut f: impl FnMut(&gaoler_matcher::Captures) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let mut pos = 0;
    let mut must_advance = false;
    while pos <= text.len() {
        let caps = re
            .captures_at(text, pos)
            .map_err(|e| ConfigError::Options {
                text: text.to_string(),
                message: e.to_string(),
            })?;
        let Some(c) = caps else { break };
        let Some((s, e)) = c.get(0) else { break };
        if must_advance && s == e && s == pos {
            match text[pos..].chars().next() {
                Some(ch) => {
                    pos += ch.len_utf8();
                    must_advance = false;
                    continue;
                }
                None => break,
            }
        }
        f(&c)?;
        must_advance = s == e;
        pos = e;
    }
    Ok(())
}

/// Parse `name[opt=val, ...][...]` into the name and its options.
pub fn extract_options(option: &str) -> Result<(String, IndexMap<String, String>), ConfigError> {
    let err = |message: String| ConfigError::Options {
        text: option.to_string(),
        message,
    };
    let caps = option_re()
        .captures(option)
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("unexpected option syntax".into()))?;
    let name = caps
        .get(1)
        .map(|(s, e)| option[s..e].to_string())
        .unwrap_or_default();
    let mut opts = IndexMap::new();
    if let Some((s, e)) = caps.get(2) {
        let optstr = &option[s..e];
        let re = extract_re();
        let wrng_a = re.group_index("wrngA");
        let wrng_b = re.group_index("wrngB");
        find_iter(re, optstr, |c| {
            let get = |i: usize| c.get(i).map(|(s, e)| &optstr[s..e]);
            if let Some((ws, we)) = wrng_a.and_then(|i| c.get(i)) {
                return Err(err(format!(
                    "unexpected syntax at {ws} after option {:?}: {}",
                    get(1).unwrap_or(""),
                    truncate(&optstr[ws..we], 25)
                )));
            }
            if let Some((ws, we)) = wrng_b.and_then(|i| c.get(i)) {
                return Err(err(format!(
                    "expected option, wrong syntax at {ws}: {}",
                    truncate(&optstr[ws..we], 25)
                )));
            }
            let Some(name) = get(1) else { return Ok(()) };
            let value = get(2).or_else(|| get(3)).or_else(|| get(4)).unwrap_or("");
            opts.insert(name.trim().to_string(), value.trim().to_string());
            Ok(())
        })?;
    }
    Ok((name, opts))
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Split an `action` value into its entries (each `name[...]` group may
/// span lines and contain spaces).
pub fn split_with_options(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let _ = find_iter(split_re(), value, |c| {
        if let Some((s, e)) = c.get(0) {
            out.push(value[s..e].to_string());
        }
        Ok(())
    });
    out
}

/// Split on spaces, commas and newlines, dropping empty words (`splitwords`).
pub fn split_words(s: &str) -> Vec<String> {
    s.split([' ', ',', '\n'])
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_simple_and_quoted() {
        let (n, o) =
            extract_options(r#"iptables[name=SSH, port="ssh, 22", protocol='tcp']"#).unwrap();
        assert_eq!(n, "iptables");
        assert_eq!(o["name"], "SSH");
        assert_eq!(o["port"], "ssh, 22");
        assert_eq!(o["protocol"], "tcp");
    }

    #[test]
    fn extract_groups_and_conditional_names() {
        let (n, o) = extract_options("a[x=1][blocktype?family=inet6=DROP]").unwrap();
        assert_eq!(n, "a");
        assert_eq!(o["x"], "1");
        assert_eq!(o["blocktype?family=inet6"], "DROP");
    }

    #[test]
    fn extract_no_options() {
        let (n, o) = extract_options("sshd").unwrap();
        assert_eq!(n, "sshd");
        assert!(o.is_empty());
    }

    #[test]
    fn extract_errors() {
        let e = extract_options("a[x =1]").unwrap_err();
        assert!(
            e.to_string().contains("expected option, wrong syntax at 0"),
            "{e}"
        );
        assert_eq!(extract_options("a[x=1 y]").unwrap().1["x"], "1 y");
        assert_eq!(extract_options("a[x=\"1]").unwrap().1["x"], "\"1");
        assert!(extract_options("[x=1]").is_err());
        let e = extract_options("a[x=1,, y=2]").unwrap_err();
        assert!(e.to_string().contains("wrong syntax at 4"), "{e}");
    }

    #[test]
    fn split_actions() {
        let v = split_with_options("a[x=1, y=\"2 3\"]\n b[z=\"4,\n5\"]  c");
        let v: Vec<&str> = v.iter().map(|s| s.trim()).collect();
        assert_eq!(v, vec!["a[x=1, y=\"2 3\"]", "b[z=\"4,\n5\"]", "c"]);
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words("127.0.0.1/8 ::1, 10.0.0.1\n x"),
            vec!["127.0.0.1/8", "::1", "10.0.0.1", "x"]
        );
    }
}
