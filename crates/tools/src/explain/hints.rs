//! "Looks like a failure": lines that matched no failregex but carry an
//! address and an authentication-failure word, as a hint that the filter
//! misses something (a new message format, a mode that leaves a message
//! out, a failregex written for another version).
//!
//! The test runs on the worker threads for every line nothing matched, so
//! it is built to reject most lines fast: one Aho-Corasick scan (ASCII
//! case-insensitive) for the words, and only on a hit a regex for an
//! address. It is a heuristic and says so in the report: a line is a
//! hint, never a failure.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

/// Words of failed or refused authentication, in the spellings services
/// use (stems: `fail` covers failed/failure, `unauthori` both spellings).
const WORDS: &[&str] = &[
    "fail",
    "invalid",
    "denied",
    "refus",
    "unauthori",
    "illegal",
    "forbidden",
    "reject",
    "wrong",
    "incorrect",
    "bad password",
    "bad user",
    "unknown user",
    "no such user",
    "can't find user",
    "not allowed",
    "mismatch",
    "brute",
    "blocked",
];

struct Matchers {
    words: AhoCorasick,
    addr: Regex,
}

fn matchers() -> Option<&'static Matchers> {
    static M: OnceLock<Option<Matchers>> = OnceLock::new();
    M.get_or_init(|| {
        let words = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(WORDS)
            .ok()?;
        // An IPv4 address, or an IPv6 one with at least two colons and a
        // hex digit (so times like 12:30:01 do not count).
        let addr = Regex::new(
            r"(?:^|[^\d.])(?P<v4>(?:\d{1,3}\.){3}\d{1,3})(?:$|[^\d.])|(?:^|[^\w:])(?P<v6>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?:$|[^\w:])",
        )
        .ok()?;
        Some(Matchers { words, addr })
    })
    .as_ref()
}

/// Does `line` look like an authentication failure?
pub fn looks_like_failure(line: &str) -> bool {
    let Some(m) = matchers() else { return false };
    m.words.is_match(line) && has_address(line, &m.addr)
}

/// Does `line` hold an address? An IPv6-looking run must hold a hex
/// letter or `::`, else it is a time or a counter.
fn has_address(line: &str, addr: &Regex) -> bool {
    addr.captures_iter(line).any(|c| {
        c.name("v4").is_some()
            || c.name("v6").is_some_and(|m| {
                let s = m.as_str();
                s.contains("::") || s.bytes().any(|b| b.is_ascii_alphabetic())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_words_with_an_address() {
        assert!(looks_like_failure(
            "sshd[1]: Failed publickey for root from 192.0.2.1 port 22"
        ));
        assert!(looks_like_failure("auth: access DENIED for 2001:db8::5"));
        assert!(looks_like_failure(
            "[WARNING] sofia_reg.c:2531 Can't find user [1@x] from 198.51.100.9"
        ));
        assert!(looks_like_failure(
            "Registration failed for [1@x] from 198.51.100.3: wrong password"
        ));
    }

    #[test]
    fn not_without_a_word_or_an_address() {
        assert!(!looks_like_failure(
            "sshd[1]: Accepted publickey for root from 192.0.2.1 port 22"
        ));
        assert!(!looks_like_failure("cron: job failed at 12:30:01"));
        assert!(!looks_like_failure(
            "disk check failed on /dev/sda1, 1.2.3 version"
        ));
    }
}
