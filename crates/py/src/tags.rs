//! fail2ban's names for what a regex captures.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_port_are_renamed_everything_lower_cased() {
        assert_eq!(map_tag_to_opt("ID"), "fid");
        assert_eq!(map_tag_to_opt("port"), "fport");
        assert_eq!(map_tag_to_opt("USER"), "user");
        assert_eq!(map_tag_to_opt("alt_user1"), "alt_user1");
    }
}
