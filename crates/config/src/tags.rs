//! `<tag>` substitution between the options of a filter or action
//! (fail2ban's `substituteRecursiveTags`).
//!
//! Unknown tags stay as they are: they may be runtime tags (`<ip>`) or shell
//! syntax. Self-references and runaway repetition are errors rather than
//! hangs.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use crate::ConfigError;

const MAX_TAG_REPLACE_COUNT: usize = 25;
/// Substitution can grow values exponentially (`a = <b><b>`, `b = <c><c>` …);
/// no real action or filter comes near this size.
const MAX_VALUE_LEN: usize = 1 << 20;

/// Find the next `<([^ <>]+)>` at or after `from`: (start, end, name).
pub fn find_tag(value: &str, from: usize) -> Option<(usize, usize, &str)> {
    let bytes = value.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let mut j = i + 1;
            while j < bytes.len() && !matches!(bytes[j], b' ' | b'<' | b'>') {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'>' && j > i + 1 {
                return Some((i, j + 1, &value[i + 1..j]));
            }
        }
        i += 1;
    }
    None
}

/// Substitute tags in `tags` using each other, `conditional` variants
/// (`name?family=inet6`) first, then `addrepl` for names not in the map.
pub fn substitute_recursive_tags(
    tags: &IndexMap<String, String>,
    conditional: &str,
    ignore: &HashSet<String>,
    mut addrepl: impl FnMut(&str) -> Result<Option<String>, ConfigError>,
) -> Result<IndexMap<String, String>, ConfigError> {
    let mut tags = tags.clone();
    let mut done: HashSet<String> = HashSet::new();
    let mut rep_counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    loop {
        let mut rep_flag = false;
        let keys: Vec<String> = tags.keys().cloned().collect();
        for tag in keys {
            if ignore.contains(&tag) || done.contains(&tag) {
                continue;
            }
            let orig = tags[&tag].clone();
            let mut value = orig.clone();
            let mut rplc = rep_counts.get(&tag).cloned().unwrap_or_default();
            let mut m = find_tag(&value, 0).map(|(s, e, n)| (s, e, n.to_string()));
            while let Some((start, end, rtag)) = m {
                if ignore.contains(&rtag) {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                }
                if rtag == tag || rplc.get(&rtag).copied().unwrap_or(1) > MAX_TAG_REPLACE_COUNT {
                    return Err(ConfigError::TagRecursion {
                        tag: tag.clone(),
                        found: rtag,
                        value,
                    });
                }
                let mut repl = None;
                if !conditional.is_empty() {
                    repl = tags.get(&format!("{rtag}?{conditional}")).cloned();
                }
                if repl.is_none() {
                    repl = tags.get(&rtag).cloned();
                    if repl.is_none() {
                        repl = addrepl(&rtag)?;
                    }
                }
                let Some(repl) = repl else {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                };
                value = value.replace(&format!("<{rtag}>"), &repl);
                if value.len() > MAX_VALUE_LEN {
                    return Err(ConfigError::TagRecursion {
                        tag: tag.clone(),
                        found: rtag,
                        value: format!("(value grew beyond {MAX_VALUE_LEN} bytes)"),
                    });
                }
                *rplc.entry(rtag).or_insert(0) += 1;
                m = find_tag(&value, start).map(|(s, e, n)| (s, e, n.to_string()));
            }
            if value != orig {
                if find_tag(&value, 0).is_some() {
                    rep_counts.insert(tag.clone(), rplc);
                    rep_flag = true;
                }
                tags.insert(tag.clone(), value.clone());
            }
            if !value.contains('<') {
                done.insert(tag);
            }
        }
        if !rep_flag {
            break;
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn none(_: &str) -> Result<Option<String>, ConfigError> {
        Ok(None)
    }

    #[test]
    fn nested_and_unknown() {
        let t = map(&[
            ("a", "3"),
            ("b", "<a>_3 <ip>"),
            ("c", "<lt_<x>/y>"),
            ("x", "file"),
            ("lt_file/y", "Y"),
        ]);
        let r = substitute_recursive_tags(&t, "", &HashSet::new(), none).unwrap();
        assert_eq!(r["b"], "3_3 <ip>");
        assert_eq!(r["c"], "Y");
    }

    #[test]
    fn self_reference_is_an_error() {
        let t = map(&[("a", "x<a>")]);
        assert!(substitute_recursive_tags(&t, "", &HashSet::new(), none).is_err());
        let t = map(&[("a", "<b>"), ("b", "<a>")]);
        assert!(substitute_recursive_tags(&t, "", &HashSet::new(), none).is_err());
    }

    #[test]
    fn exponential_growth_is_an_error() {
        let t = map(&[
            ("a", "<b><b><b><b>"),
            ("b", "<c><c><c><c>"),
            ("c", "<d><d><d><d>"),
            ("d", "<e><e><e><e>"),
            ("e", "<a>"),
        ]);
        assert!(substitute_recursive_tags(&t, "", &HashSet::new(), none).is_err());
    }

    #[test]
    fn conditional_and_ignore_and_addrepl() {
        let t = map(&[
            ("cmd", "<ipt> <blk> <q>"),
            ("ipt", "iptables"),
            ("ipt?family=inet6", "ip6tables"),
            ("blk", "X"),
        ]);
        let ign: HashSet<String> = ["blk".to_string()].into();
        let r = substitute_recursive_tags(&t, "family=inet6", &ign, |n| {
            Ok((n == "q").then(|| "Q".to_string()))
        })
        .unwrap();
        assert_eq!(r["cmd"], "ip6tables <blk> Q");
    }
}
