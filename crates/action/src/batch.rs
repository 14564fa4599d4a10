//! Rounds of bans applied in one firewall transaction.
//!
//! fail2ban runs an action's `actionban` once per address: a `sh` and an
//! `nft` process each, about 14 ms, so 2,000 bans take half a minute. A
//! jail here hands its actions every ticket that is pending when it wakes
//! (a *round*), and an action whose commands for those tickets are all
//! plain nftables element changes applies them with one `nft -f -`.
//!
//! Design decisions:
//! * **Recognised by what runs, not by where it came from.** Each ticket's
//!   command is rendered exactly as the shell path would run it, and only a
//!   command that is one `nft add|delete element FAMILY TABLE SET { ADDR }`
//!   line, naming the ticket's own address and nothing the shell would
//!   expand, is batched. An override in a `.local`, an `[Init]` value or a
//!   jail option that changes the command therefore changes what is
//!   recognised: anything else (several commands, a pipe, a variable, a
//!   different tool) takes the shell path unchanged. The batch makes the
//!   very changes the shell commands would, so the firewall state is the
//!   same (the netns tests compare `nft list ruleset` of both paths).
//! * **`nft -f -`, not netlink.** One `nft` process per round costs about
//!   the same as one per address did (a few ms), and 2,000 or 100,000
//!   elements go in one transaction in well under a second; a netlink crate
//!   would save those few ms per round at the price of re-implementing
//!   nft's set element encoding. The input is written to `nft`'s stdin,
//!   never to a shell: addresses are checked to be addresses first anyway.
//! * **A failed batch falls back to the shell path** for every ticket of
//!   the round. nft applies a file atomically, so nothing of the failed
//!   batch stays; the per-address commands then give fail2ban's behaviour
//!   for the failing address (check, repair, retry, the ERROR naming it)
//!   while the others are banned.

use std::net::IpAddr;

use crate::subst::ShellCommand;

/// The most elements written in one `add element` statement; larger
/// rounds are split over several statements of the same transaction.
const ELEMENTS_PER_STATEMENT: usize = 4096;

/// One address's firewall change, as recognised in its rendered command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The program (`nft`, or a path to it) the batch runs.
    pub program: String,
    /// `add` or `delete`.
    pub verb: Verb,
    /// `FAMILY TABLE SET`, as the command named them.
    pub set: [String; 3],
    /// The element: the ticket's address.
    pub element: IpAddr,
}

/// What a change does to a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Add,
    Delete,
}

impl Verb {
    fn word(self) -> &'static str {
        match self {
            Verb::Add => "add",
            Verb::Delete => "delete",
        }
    }
}

/// Recognises `cmd` (a fully rendered `actionban`/`actionunban`) as one
/// nftables element change for `ip`, or `None` when it is anything else.
pub fn recognise(cmd: &ShellCommand, ip: &str) -> Option<Change> {
    // Values the shell would get as arguments mean something was not a
    // plain word; a second line means more than one command.
    if !cmd.args.is_empty() {
        return None;
    }
    let line = cmd.script.trim();
    if line.is_empty() || line.contains(['\n', ';', '&', '|', '$', '`', '<', '>', '(', ')']) {
        return None;
    }
    // (fail2ban's own nftables action writes `\{ <ip> \}`; no other
    // escape has a place in such a command)
    let mut escapes = line.match_indices('\\');
    if escapes.any(|(i, _)| !matches!(line.as_bytes().get(i + 1), Some(b'{' | b'}'))) {
        return None;
    }
    let element: IpAddr = ip.parse().ok()?;
    let words = gaoler_config::shlex::split(line).ok()?;
    let [program, verb, kw, family, table, set, rest @ ..] = words.as_slice() else {
        return None;
    };
    if program.rsplit('/').next() != Some("nft") || kw != "element" {
        return None;
    }
    let verb = match verb.as_str() {
        "add" => Verb::Add,
        "delete" => Verb::Delete,
        _ => return None,
    };
    // `{ ADDR }` however the words were quoted.
    let braced: String = rest
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let inner = braced.strip_prefix('{')?.strip_suffix('}')?;
    if inner.parse::<IpAddr>().ok()? != element {
        return None;
    }
    let plain = |w: &String| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if !(plain(family) && plain(table) && plain(set)) {
        return None;
    }
    Some(Change {
        program: program.clone(),
        verb,
        set: [family.clone(), table.clone(), set.clone()],
        element,
    })
}

/// A round's changes, all through one program: what to run and the file
/// to give it on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub argv: Vec<String>,
    pub input: String,
}

/// The batch for `changes` (in order; statements grouped by verb and set
/// in the order they first appear), or `None` if they do not all go
/// through the same program.
pub fn build(changes: &[Change]) -> Option<Batch> {
    let program = &changes.first()?.program;
    if changes.iter().any(|c| &c.program != program) {
        return None;
    }
    // (verb and set, their elements), in the order first seen
    type Group<'a> = ((Verb, &'a [String; 3]), Vec<IpAddr>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for c in changes {
        let key = (c.verb, &c.set);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c.element),
            None => groups.push((key, vec![c.element])),
        }
    }
    let mut input = String::new();
    for ((verb, [family, table, set]), elements) in groups {
        for chunk in elements.chunks(ELEMENTS_PER_STATEMENT) {
            input.push_str(verb.word());
            input.push_str(" element ");
            for w in [family, table, set] {
                input.push_str(w);
                input.push(' ');
            }
            input.push_str("{ ");
            for (i, e) in chunk.iter().enumerate() {
                if i > 0 {
                    input.push_str(", ");
                }
                input.push_str(&e.to_string());
            }
            input.push_str(" }\n");
        }
    }
    Some(Batch {
        argv: vec![program.clone(), "-f".into(), "-".into()],
        input,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> ShellCommand {
        ShellCommand::plain(s)
    }

    #[test]
    fn stock_forms_are_recognised() {
        for (s, ip) in [
            (
                "nft add element inet f2b-table addr-set-sshd { 192.0.2.1 }",
                "192.0.2.1",
            ),
            (
                "nft add element inet f2b-table addr-set-x \"{ 192.0.2.1 }\"",
                "192.0.2.1",
            ),
            (
                "/usr/sbin/nft delete element inet t addr6-set-x { 2001:db8::1 }",
                "2001:db8::1",
            ),
            ("  nft add element inet t s {192.0.2.9}\n", "192.0.2.9"),
            (
                "nft add element inet f2b-table addr-set-x \\{ 192.0.2.1 \\}",
                "192.0.2.1",
            ),
        ] {
            let c = recognise(&cmd(s), ip).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(c.element.to_string(), ip);
        }
    }

    #[test]
    fn anything_else_takes_the_shell_path() {
        for (s, ip) in [
            // another address than the ticket's
            ("nft add element inet t s { 192.0.2.2 }", "192.0.2.1"),
            // two commands
            (
                "nft add element inet t s { 192.0.2.1 }\nlogger banned",
                "192.0.2.1",
            ),
            (
                "nft add element inet t s { 192.0.2.1 }; logger x",
                "192.0.2.1",
            ),
            (
                "nft add element inet t s { 192.0.2.1 } && true",
                "192.0.2.1",
            ),
            // shell expansions
            ("nft add element inet $T s { 192.0.2.1 }", "192.0.2.1"),
            (
                "nft add element inet t s { 192.0.2.1 } >/dev/null",
                "192.0.2.1",
            ),
            ("nft add element inet t\\ s { 192.0.2.1 }", "192.0.2.1"),
            // other tools or statements
            ("iptables -I f2b-x 1 -s 192.0.2.1 -j DROP", "192.0.2.1"),
            ("nft add rule inet t c ip saddr 192.0.2.1 drop", "192.0.2.1"),
            ("nft -c add element inet t s { 192.0.2.1 }", "192.0.2.1"),
            ("mynft add element inet t s { 192.0.2.1 }", "192.0.2.1"),
            (
                "nft add element inet t s { 192.0.2.1, 192.0.2.3 }",
                "192.0.2.1",
            ),
            (
                "nft add element inet t s { 192.0.2.1 timeout 1h }",
                "192.0.2.1",
            ),
            // not an address
            ("nft add element inet t s { alice }", "alice"),
        ] {
            assert_eq!(recognise(&cmd(s), ip), None, "{s}");
        }
        let mut with_args = cmd("nft add element inet t s { 192.0.2.1 }");
        with_args.args.push("x".into());
        assert_eq!(recognise(&with_args, "192.0.2.1"), None);
    }

    #[test]
    fn a_round_is_one_file_grouped_by_set() {
        let c = |s: &str, ip: &str| recognise(&cmd(s), ip).expect("recognised");
        let changes = [
            c(
                "nft add element inet t addr-set-j { 192.0.2.1 }",
                "192.0.2.1",
            ),
            c(
                "nft add element inet t addr6-set-j { 2001:db8::1 }",
                "2001:db8::1",
            ),
            c(
                "nft add element inet t addr-set-j { 192.0.2.2 }",
                "192.0.2.2",
            ),
        ];
        let b = build(&changes).expect("one program");
        assert_eq!(b.argv, ["nft", "-f", "-"]);
        assert_eq!(
            b.input,
            "add element inet t addr-set-j { 192.0.2.1, 192.0.2.2 }\n\
             add element inet t addr6-set-j { 2001:db8::1 }\n"
        );
        let other = c("/sbin/nft add element inet t s { 192.0.2.3 }", "192.0.2.3");
        assert_eq!(build(&[changes[0].clone(), other]), None);
        assert_eq!(build(&[]), None);
    }

    #[test]
    fn large_rounds_are_split_into_statements() {
        let changes: Vec<Change> = (0..ELEMENTS_PER_STATEMENT + 1)
            .map(|i| {
                let ip = format!("10.0.{}.{}", i / 256, i % 256);
                recognise(&cmd(&format!("nft add element inet t s {{ {ip} }}")), &ip)
                    .expect("recognised")
            })
            .collect();
        let b = build(&changes).expect("batch");
        assert_eq!(b.input.lines().count(), 2);
    }
}
