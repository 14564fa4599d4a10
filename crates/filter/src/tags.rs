//! Regex pre-processing done when a regex is added to a filter: `<TAG>`
//! replacement and the global-to-scoped inline flag rewrite.
//!
//! The tag scanner mirrors the `</?[\w\-]+/?>` search of the reference
//! implementation by hand (no regex needed): every candidate tag is looked up,
//! unknown ones are left verbatim.

use crate::UseDns;

/// Python's `IP_4_RE`, with the optional IPv4-mapped prefix outside the group.
pub const IP4: &str = r"(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})";
/// Python's `IP_6_RE`. The look-behind `(?<=:):` is kept verbatim: PCRE2
/// supports it and keeping it keeps group layout identical.
pub const IP6: &str = r"(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|:){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):))";
pub const DNS: &str = r"(?P<dns>[\w\-.^_]*\w)";
pub const CIDR: &str = r"(?P<cidr>\d+)";

pub fn addr() -> String {
    format!(r"\[?(?:{IP4}|{IP6})\]?")
}

pub fn host(usedns: UseDns) -> String {
    if usedns == UseDns::No {
        addr()
    } else {
        format!("(?:{}|{DNS})", addr())
    }
}

pub fn subnet() -> String {
    format!(r"\[?(?:{IP4}|{IP6})(?:/{CIDR})?\]?")
}

pub(crate) use gaoler_py::tags::map_tag_to_opt;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Replace the tags of a failregex/ignoreregex/prefregex.
pub fn resolve_tags(regex: &str, usedns: UseDns) -> String {
    let mut out = String::with_capacity(regex.len() + 64);
    let mut open: Vec<String> = Vec::new();
    let mut nl = 0usize;
    let mut rest = regex;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        let cand = &rest[pos..];
        // scan `</?[\w\-]+/?>`
        let mut j = 1;
        let b = cand.as_bytes();
        if b.get(j) == Some(&b'/') {
            j += 1;
        }
        let name_start = j;
        for c in cand[j..].chars() {
            if is_word(c) || c == '-' {
                j += c.len_utf8();
            } else {
                break;
            }
        }
        let name_end = j;
        if b.get(j) == Some(&b'/') {
            j += 1;
        }
        if name_end == name_start || b.get(j) != Some(&b'>') {
            out.push('<');
            rest = &cand[1..];
            continue;
        }
        let tag = &cand[..=j];
        let tn = &tag[1..tag.len() - 1];
        out.push_str(&subst_tag(tag, tn, usedns, &mut open, &mut nl));
        rest = &cand[j + 1..];
    }
    out.push_str(rest);
    out
}

fn subst_tag(
    tag: &str,
    tn: &str,
    usedns: UseDns,
    open: &mut Vec<String>,
    nl: &mut usize,
) -> String {
    match tn {
        "HOST" => return host(usedns),
        "SKIPLINES" => {
            let n = *nl;
            *nl += 1;
            return format!(r"\n(?P<skiplines{n}>(?:(?:.*\n)*?))");
        }
        "IP4" | "F-IP4/" => return IP4.to_string(),
        "IP6" | "F-IP6/" => return IP6.to_string(),
        "ADDR" | "F-ADDR/" => return addr(),
        "CIDR" | "F-CIDR/" => return CIDR.to_string(),
        "SUBNET" | "F-SUBNET/" => return subnet(),
        "DNS" | "F-DNS/" => return DNS.to_string(),
        "F-ID/" => return r"(?P<fid>\S+)".to_string(),
        "F-PORT/" => return r"(?P<fport>\w+)".to_string(),
        _ => {}
    }
    // `^(/?)F-([A-Z0-9_\-]+)$`
    let (closing, body) = match tn.strip_prefix('/') {
        Some(b) => (true, b),
        None => (false, tn),
    };
    if let Some(name) = body.strip_prefix("F-") {
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            if closing {
                return if open.iter().any(|o| o == name) {
                    ")".to_string()
                } else {
                    tag.to_string()
                };
            }
            open.push(name.to_string());
            return format!("(?P<{}>", map_tag_to_opt(name));
        }
    }
    tag.to_string()
}

/// `(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)` → `\1:`: a global flag group standing
/// right after `(` or `(?:` becomes a scoped flag group.
pub fn glob_to_local_flags(regex: &str) -> String {
    let b = regex.as_bytes();
    let mut out = String::with_capacity(regex.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'(' && (i == 0 || b[i - 1] != b'\\') {
            let mut j = i + 1;
            if b[j..].starts_with(b"?:") {
                j += 2;
            }
            if b[j..].starts_with(b"(?") {
                let mut k = j + 2;
                while k < b.len() && b[k].is_ascii_lowercase() {
                    k += 1;
                }
                if k > j + 2 && b.get(k) == Some(&b')') {
                    out.push_str(&regex[copied..i]);
                    out.push_str(&regex[j..k]);
                    out.push(':');
                    i = k + 1;
                    copied = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&regex[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_expansion_depends_on_usedns() {
        let full = resolve_tags("from <HOST>$", UseDns::Warn);
        assert!(full.contains("(?P<dns>"));
        assert!(full.starts_with(r"from (?:\[?(?:(?:::f{4,6}:)?(?P<ip4>"));
        let no = resolve_tags("from <HOST>$", UseDns::No);
        assert!(!no.contains("(?P<dns>"));
        assert!(no.contains("(?P<ip6>"));
    }

    #[test]
    fn custom_tags() {
        assert_eq!(
            resolve_tags("u=<F-USER>\\S+</F-USER>", UseDns::No),
            r"u=(?P<user>\S+)"
        );
        assert_eq!(
            resolve_tags("<F-ID>x</F-ID> <F-PORT/>", UseDns::No),
            r"(?P<fid>x) (?P<fport>\w+)"
        );
        // closing without opening stays literal, lower-case names are not tags
        assert_eq!(
            resolve_tags("a</F-USER> <F-user>", UseDns::No),
            "a</F-USER> <F-user>"
        );
        assert_eq!(
            resolve_tags("<F-ALT_USER1>x</F-ALT_USER1>", UseDns::No),
            "(?P<alt_user1>x)"
        );
        assert_eq!(resolve_tags("<foo> <a b> <", UseDns::No), "<foo> <a b> <");
        assert_eq!(resolve_tags("<F-ID/>", UseDns::No), r"(?P<fid>\S+)");
    }

    #[test]
    fn skiplines_are_numbered() {
        let r = resolve_tags("a<SKIPLINES>b<SKIPLINES>c", UseDns::No);
        assert!(r.contains("(?P<skiplines0>"));
        assert!(r.contains("(?P<skiplines1>"));
    }

    #[test]
    fn global_flags_become_scoped() {
        assert_eq!(glob_to_local_flags("x((?i)LOGIN|y)"), "x(?i:LOGIN|y)");
        assert_eq!(glob_to_local_flags("x(?:(?i)LOGIN|y)"), "x(?i:LOGIN|y)");
        assert_eq!(glob_to_local_flags(r"x\((?i)a)"), r"x\((?i)a)");
        assert_eq!(glob_to_local_flags("(?i)abc"), "(?i)abc");
    }
}
