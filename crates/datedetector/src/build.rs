//! Building the templates: `datepattern` entries into templates
//! (fail2ban's `appendTemplate`), the `%ExY`-style year alternatives, and
//! compiling a template's regex.

use super::*;

/// Parse the `datepattern` entries into templates (fail2ban's
/// `appendTemplate`, entry by entry).
pub(crate) fn build_templates(datepattern: &str) -> Result<Vec<Template>, Error> {
    let mut out: Vec<Template> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut add = |out: &mut Vec<Template>, t: Template, ignore_dup: bool, entry: &str| {
        if names.contains(&t.name) {
            if ignore_dup {
                return Ok(());
            }
            return Err(Error::Duplicate {
                pattern: entry.to_string(),
                name: t.name,
            });
        }
        names.insert(t.name.clone());
        out.push(t);
        Ok(())
    };
    for entry in datepattern
        .split('\n')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let key = template::pattern_key(entry);
        let ignore_dup = !out.is_empty();
        match key.as_str() {
            // fail2ban's `{DEFAULT}` entry adds nothing by itself (its filter
            // rejects every template); the defaults only come in when the
            // list ends up empty.
            "{DEFAULT}" => {}
            "{^LN-BEG}" => {
                for t in template::default_templates() {
                    if t.flags & LINE_BEGIN != 0 {
                        add(&mut out, t.clone(), ignore_dup, entry)?;
                    }
                }
            }
            _ if key.contains("{DATE}") => {
                for t in template::date_templates(entry)? {
                    add(&mut out, t, ignore_dup, entry)?;
                }
            }
            "{NONE}" => add(
                &mut out,
                template::pattern_template("{UNB}^")?,
                false,
                entry,
            )?,
            _ => add(&mut out, template::single_template(entry)?, false, entry)?,
        }
    }
    if out.is_empty() {
        out = template::default_templates().to_vec();
    }
    Ok(out)
}

/// The century/decade prefixes `%ExY` accepts for a reference year: those of
/// last year, of three years ahead, and of every third year from 2000 up to
/// the reference year, grouped like fail2ban does (`20[012]` in 2026).
pub(crate) fn exy_alternatives(year: i64) -> String {
    group_prefixes(&exy_prefixes(year))
}

/// The first three digits of the years `%ExY` accepts, sorted.
pub(crate) fn exy_prefixes(year: i64) -> Vec<String> {
    let prefix = |y: i64| y.to_string().chars().take(3).collect::<String>();
    let mut set = std::collections::BTreeSet::new();
    set.insert(prefix(year - 1));
    set.insert(prefix(year + 3));
    let mut y = 2000;
    while y <= year {
        set.insert(prefix(y));
        y += 3;
    }
    set.into_iter().collect()
}

/// [`exy_prefixes`] as bytes, for the hand-written recognisers (years of
/// fewer than three digits have none: such lines go to PCRE2).
pub(crate) fn exy_years(year: i64) -> Vec<[u8; 3]> {
    exy_prefixes(year)
        .iter()
        .filter_map(|p| <[u8; 3]>::try_from(p.as_bytes()).ok())
        .collect()
}

/// Factor common leading text out of sorted alternatives:
/// `["200","201","202"]` → `20[012]`.
pub(crate) fn group_prefixes(items: &[String]) -> String {
    if items.len() > 1 {
        let all_but_last =
            |s: &String| s.get(..s.len().saturating_sub(1)).unwrap_or("").to_string();
        let mut common =
            Some(all_but_last(&items[0])).filter(|c| items.iter().all(|i| all_but_last(i) == *c));
        if common.as_deref().unwrap_or("").is_empty() {
            let first = |s: &String| s.chars().next().map(String::from).unwrap_or_default();
            common = Some(first(&items[0])).filter(|c| items.iter().all(|i| first(i) == *c));
        }
        if let Some(c) = common.filter(|c| !c.is_empty()) {
            let rest: Vec<String> = items.iter().map(|i| i[c.len()..].to_string()).collect();
            return format!("{c}{}", group_prefixes(&rest));
        }
        if items[0].chars().count() > 1 {
            return format!("(?:{})", items.join("|"));
        }
        return format!("[{}]", items.concat());
    }
    items.concat()
}

/// Byte offset of an inline global flag group such as `(?i)` that is not at
/// the start of the regex.
pub(crate) fn misplaced_global_flags(re: &str) -> Option<usize> {
    let b = re.as_bytes();
    (1..b.len()).find(|&i| {
        if b[i] != b'(' || b.get(i + 1) != Some(&b'?') {
            return false;
        }
        let backslashes = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 1 {
            return false;
        }
        let letters = b[i + 2..]
            .iter()
            .take_while(|c| b"aiLmsux".contains(c))
            .count();
        letters > 0 && b.get(i + 2 + letters) == Some(&b')')
    })
}

pub(crate) fn exy_group(alternatives: &str) -> String {
    format!(r"(?P<Y>{alternatives}\d)")
}

/// Turn a template's Python regex into the PCRE2 pattern we run.
pub(crate) fn compile(src: &str, exy: &str) -> Result<Regex, String> {
    let mut re = src.replace(EXY_MARK, &exy_group(exy));
    if let Some(at) = misplaced_global_flags(&re) {
        // Python 3.11+ rejects these; PCRE2 would silently scope them.
        return Err(format!(
            "global flags not at the start of the expression at position {at}"
        ));
    }
    // Leading global flags: PCRE2 has no `u` (Unicode is on via UCP) and no
    // `a`/`L`; keep the ones both engines share.
    if let Some(rest) = re.strip_prefix("(?") {
        let letters: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if !letters.is_empty() && rest[letters.len()..].starts_with(')') {
            let kept: String = letters
                .chars()
                .filter(|c| matches!(c, 'i' | 'm' | 's' | 'x'))
                .collect();
            let tail = rest[letters.len() + 1..].to_string();
            re = if kept.is_empty() {
                tail
            } else {
                format!("(?{kept}){tail}")
            };
        }
    }

    // Compiled templates are shared between detectors (every jail with the
    // defaults has the same 31), like fail2ban's process-wide template cache.
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(&re).cloned()) {
        return Ok(r);
    }
    let compiled = Regex::new_pcre2(&re, Options::default()).map_err(|e| e.to_string())?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 2000 {
            c.clear();
        }
        c.insert(re, compiled.clone());
    }
    Ok(compiled)
}
