//! fail2ban's names for what a regex captures, and its `<tag>` templates.

/// fail2ban's `mapTag2Opt`: the name of a capture group (`<F-ID>` makes
/// group `id`) to the key its value has in the ticket data and in an
/// action's tags (`<fid>`, `<fport>`): lower case, with `id` and `port`
/// renamed so that they do not clash with the action's own `<port>`.
pub fn map_tag_to_opt(tag: &str) -> String {
    let lower = tag.to_lowercase();
    match lower.as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        _ => lower,
    }
}

/// Replaces each `<tag>` of `template` by `value(tag)`; a tag without a
/// value, and a `<` without a closing `>`, stay as written (fail2ban's
/// dynamic tags: ignorecache keys, `fail2ban-regex -o` templates).
pub fn substitute(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let tag = &after[..close];
        match value(tag) {
            Some(v) => out.push_str(&v),
            None => {
                out.push('<');
                out.push_str(tag);
                out.push('>');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitute_keeps_what_it_cannot_fill() {
        let v = |t: &str| (t == "ip").then(|| "192.0.2.1".to_string());
        assert_eq!(substitute("<ip>:<port> <ip", v), "192.0.2.1:<port> <ip");
        assert_eq!(substitute("no tags", v), "no tags");
        assert_eq!(substitute("<ip><ip>", v), "192.0.2.1192.0.2.1");
    }

    #[test]
    fn id_and_port_are_renamed_everything_lower_cased() {
        assert_eq!(map_tag_to_opt("ID"), "fid");
        assert_eq!(map_tag_to_opt("port"), "fport");
        assert_eq!(map_tag_to_opt("USER"), "user");
        assert_eq!(map_tag_to_opt("alt_user1"), "alt_user1");
    }
}
