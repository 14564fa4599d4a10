//! Rounds of bans applied in one firewall transaction, and what the
//! firewall holds (for the reconcile).
//!
//! fail2ban runs an action's `actionban` once per address: a `sh` and an
//! `nft` process each, about 14 ms, so 2,000 bans take half a minute. A
//! jail here hands its actions every ticket that is pending when it wakes
//! (a *round*). Where an action's commands for those tickets are all plain
//! nftables element changes, they go as one `nft -f -`; plain iptables rule
//! insertions and deletions as one `iptables-restore -w --noflush` (or
//! `ip6tables-restore`, ...) per tool; ipset entries as one `ipset restore`.
//!
//! Design decisions:
//! * **Recognised by what runs, not by where it came from.** Each ticket's
//!   command is rendered exactly as the shell path would run it, and only a
//!   command that is one line of `nft add|delete element FAMILY TABLE SET
//!   { ADDR }`, of `iptables [-w] [-t TABLE] -I|-A|-D CHAIN [N] RULE` whose
//!   rule names the address as its `-s`, or of `ipset -exist add|del SET
//!   ADDR [timeout N]`, naming the ticket's own address and nothing the
//!   shell would expand, is batched. An override in a `.local`, an `[Init]`
//!   value or a jail option that changes the command therefore changes
//!   what is recognised: anything else (several commands, a pipe, a
//!   variable, a different tool) takes the shell path unchanged. A batch
//!   makes the very changes the shell commands would, so the firewall state
//!   is the same (the netns tests compare `iptables-save`, `nft list
//!   ruleset` and `ipset save` of both paths after every step).
//! * **`nft -f -`, not netlink.** One `nft` process per round costs about
//!   the same as one per address did (a few ms). Measured on 100,000
//!   elements of fail2ban's interval set in one transaction: 0.8–0.9 s,
//!   about half of it in the kernel (the set's red-black tree), the rest
//!   nft parsing and checking intervals; a netlink crate could save at
//!   most that second half, at the price of re-implementing nft's interval
//!   encoding, where a mismatch would leave a state different from the
//!   stock commands'. One transaction per round matters more: nft reads an
//!   interval set's elements before adding to it, so 10,000 added to a set
//!   of 90,000 cost 0.6 s. The input goes to the tool's stdin, never to a
//!   shell, and holds only words checked to be addresses or plain names.
//! * **Kernel-side timeouts** ([`Change::timeout`], opt-in) are written as
//!   `ADDR timeout Ns` in nft and `timeout N` in ipset; only additions to
//!   sets carry them, and the reconcile reads them back ([`held`]).
//! * **Stacking iptables actions** (a ban first removes the copies an
//!   earlier run left, an unban removes every copy; see [`crate::command`])
//!   read the table once with `iptables-save` and write as many `-D` lines
//!   as there are copies. A rule for the address that is not an exact copy
//!   sends the round down the shell path, which handles it as before.
//! * **A failed batch falls back to the shell path** for every ticket of
//!   the batch. nft applies a file atomically and iptables-restore each
//!   table at its COMMIT, so nothing of a failed batch stays. ipset applies
//!   its input line by line, so only `-exist` commands, which a repeat
//!   cannot make fail, are batched. The per-address commands then give
//!   fail2ban's behaviour for the failing address (check, repair, retry,
//!   the ERROR naming jail, action and address) while the others are
//!   banned.

use std::net::IpAddr;

use crate::subst::ShellCommand;

/// The most elements written in one `add element` statement; larger
/// rounds are split over several statements of the same transaction.
const ELEMENTS_PER_STATEMENT: usize = 4096;

/// One address's firewall change, as recognised in its rendered command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The program (`nft`, `iptables`, or a path to one) the command ran.
    pub program: String,
    /// What the command does.
    pub op: Op,
    /// The ticket's address.
    pub element: IpAddr,
    /// For an addition to an nftables set or an ipset: the seconds the
    /// kernel keeps the entry (kernel-side timeouts); `None` as the command
    /// has it.
    pub timeout: Option<u64>,
}

/// What a change does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `nft add|delete element FAMILY TABLE SET { ADDR }`.
    Nft {
        /// Add or delete.
        verb: Verb,
        /// Family, table and set.
        set: [String; 3],
    },
    /// `iptables [-t TABLE] -I CHAIN [N] | -A CHAIN | -D CHAIN` with a rule
    /// whose word at `source` is the address (after `-s`).
    Ipt {
        /// The table (`filter` unless `-t` says otherwise).
        table: String,
        /// Insert, append or delete.
        verb: IptVerb,
        /// The chain.
        chain: String,
        /// The rule's words after the chain (and position).
        rule: Vec<String>,
        /// Index in `rule` of the address word.
        source: usize,
    },
    /// `ipset -exist add|del SET ADDR [OPTIONS]`.
    Ipset {
        /// `add` or `del`.
        verb: String,
        /// The set's name.
        set: String,
        /// The words after the address (`timeout N`, ...).
        options: Vec<String>,
    },
}

/// What a change does to a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `add element`.
    Add,
    /// `delete element`.
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

/// An iptables command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IptVerb {
    /// `-I CHAIN` with its position word, if given.
    Insert(Option<String>),
    /// `-A CHAIN`.
    Append,
    /// `-D CHAIN`.
    Delete,
}

impl Change {
    /// The same change for another address (of a command whose only ticket
    /// tag is `<ip>`).
    pub fn for_element(&self, element: IpAddr) -> Change {
        Change {
            element,
            ..self.clone()
        }
    }

    fn op_has_option(&self, name: &str) -> bool {
        matches!(&self.op, Op::Ipset { options, .. } if options.iter().any(|o| o == name))
    }

    /// Whether a kernel-side timeout can go with this change: an addition
    /// to an nftables set or an ipset.
    pub fn takes_timeout(&self) -> bool {
        match &self.op {
            Op::Nft { verb, .. } => *verb == Verb::Add,
            Op::Ipset { verb, .. } => verb == "add",
            Op::Ipt { .. } => false,
        }
    }

    /// The iptables rule (`-s` given the address), for restore and save.
    fn rule_words(&self, source_text: &str) -> Vec<String> {
        match &self.op {
            Op::Ipt { rule, source, .. } => {
                let mut r = rule.clone();
                r[*source] = source_text.to_string();
                r
            }
            Op::Nft { .. } | Op::Ipset { .. } => Vec::new(),
        }
    }
}

/// The iptables tools: their commands are batched with their `-restore`,
/// and an unban made only of their `-D` commands stacks.
pub(crate) const IPT_TOOLS: &[&str] = &[
    "iptables",
    "ip6tables",
    "iptables-legacy",
    "ip6tables-legacy",
    "iptables-nft",
    "ip6tables-nft",
];

/// Recognises `cmd` (a fully rendered `actionban`/`actionunban`) as one
/// nftables element change or one iptables rule command for `ip`, or
/// `None` when it is anything else.
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
    let tool = words.first()?.rsplit('/').next()?;
    if tool == "nft" {
        recognise_nft(&words, element)
    } else if IPT_TOOLS.contains(&tool) {
        recognise_ipt(&words, element)
    } else if tool == "ipset" {
        recognise_ipset(&words, element)
    } else {
        None
    }
}

fn plain(w: &str) -> bool {
    !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn recognise_nft(words: &[String], element: IpAddr) -> Option<Change> {
    let [program, verb, kw, family, table, set, rest @ ..] = words else {
        return None;
    };
    if kw != "element" {
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
    if !(plain(family) && plain(table) && plain(set)) {
        return None;
    }
    Some(Change {
        program: program.clone(),
        op: Op::Nft {
            verb,
            set: [family.clone(), table.clone(), set.clone()],
        },
        element,
        timeout: None,
    })
}

fn recognise_ipt(words: &[String], element: IpAddr) -> Option<Change> {
    // Words iptables-restore reads as iptables does: no quotes, blanks or
    // anything its own tokenizer would treat specially.
    let word_ok = |w: &String| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:/,=+@%!".contains(c))
    };
    if !words.iter().skip(1).all(word_ok) {
        return None;
    }
    let mut table = "filter".to_string();
    let mut verb = None;
    let mut chain = None;
    let mut rule = Vec::new();
    let mut it = words[1..].iter().peekable();
    while let Some(w) = it.next() {
        match w.as_str() {
            // locking: iptables-restore is given -w itself
            "-w" | "--wait" => {
                if it.peek().is_some_and(|n| n.parse::<f64>().is_ok()) {
                    it.next();
                }
            }
            "-t" | "--table" => table = it.next()?.clone(),
            "-I" | "--insert" | "-A" | "--append" | "-D" | "--delete" if verb.is_none() => {
                chain = Some(it.next()?.clone());
                verb = Some(match w.as_str() {
                    "-I" | "--insert" => {
                        let pos = it
                            .peek()
                            .filter(|n| n.parse::<u32>().is_ok())
                            .map(|n| n.to_string());
                        if pos.is_some() {
                            it.next();
                        }
                        IptVerb::Insert(pos)
                    }
                    "-A" | "--append" => IptVerb::Append,
                    _ => IptVerb::Delete,
                });
            }
            // another command, or options that change what a word means
            w if w.starts_with("-") && !w.starts_with("--") && w.len() > 2 && verb.is_none() => {
                return None
            }
            _ => rule.push(w.clone()),
        }
    }
    let (verb, chain) = (verb?, chain?);
    // exactly one source, the ticket's address
    let sources: Vec<usize> = rule
        .iter()
        .enumerate()
        .filter(|(_, w)| *w == "-s" || *w == "--source")
        .map(|(i, _)| i + 1)
        .collect();
    let [source] = sources.as_slice() else {
        return None;
    };
    if rule.get(*source)?.parse::<IpAddr>().ok()? != element {
        return None;
    }
    if matches!(verb, IptVerb::Delete) && rule.first().is_some_and(|w| w.parse::<u32>().is_ok()) {
        return None; // a rule number, not a rule
    }
    Some(Change {
        program: words[0].clone(),
        op: Op::Ipt {
            table,
            verb,
            chain,
            rule,
            source: *source,
        },
        element,
        timeout: None,
    })
}

fn recognise_ipset(words: &[String], element: IpAddr) -> Option<Change> {
    let mut exist = false;
    let mut rest: Vec<&String> = Vec::new();
    for w in &words[1..] {
        match w.as_str() {
            "-exist" | "-!" => exist = true,
            _ => rest.push(w),
        }
    }
    let [verb, set, addr, options @ ..] = rest.as_slice() else {
        return None;
    };
    let verb = match verb.as_str() {
        "add" | "-A" => "add",
        "del" | "-D" => "del",
        _ => return None,
    };
    let word_ok = |w: &&String| {
        !w.is_empty()
            && !w.starts_with('-')
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:".contains(c))
    };
    if !exist
        || !plain(set)
        || addr.parse::<IpAddr>().ok()? != element
        || !options.iter().all(word_ok)
    {
        return None;
    }
    Some(Change {
        program: words[0].clone(),
        op: Op::Ipset {
            verb: verb.to_string(),
            set: set.to_string(),
            options: options.iter().map(|w| w.to_string()).collect(),
        },
        element,
        timeout: None,
    })
}

/// The `ipset restore` batch for a group of ipset changes, in order.
fn ipset_batch(changes: &[&Change]) -> Option<Batch> {
    let program = &changes.first()?.program;
    let mut input = String::new();
    for c in changes {
        let Op::Ipset { verb, set, options } = &c.op else {
            return None;
        };
        if &c.program != program {
            return None;
        }
        input.push_str(&format!("{verb} {set} {}", c.element));
        let mut options = options.iter();
        while let Some(o) = options.next() {
            input.push(' ');
            input.push_str(o);
            if let (Some(t), "timeout") = (c.timeout, o.as_str()) {
                // (the stock command's `timeout 0`, "until unbanned")
                input.push_str(&format!(" {}", ipset_timeout(t)));
                options.next();
            }
        }
        if let Some(t) = c.timeout.filter(|_| !c.op_has_option("timeout")) {
            input.push_str(&format!(" timeout {}", ipset_timeout(t)));
        }
        input.push_str(" -exist\n");
    }
    Some(Batch {
        argv: vec![program.clone(), "restore".into()],
        input,
    })
}

/// An ipset entry's timeout: ipset takes at most 2,147,483 s (24.8 days);
/// a longer one is none (0), as fail2ban's `timeout-bantime` has it, so
/// that a ban never lapses before its end.
fn ipset_timeout(secs: u64) -> u64 {
    if secs > 2_147_483 {
        0
    } else {
        secs
    }
}

/// `items` grouped by key, each group in order, groups in the order their
/// key first appears.
fn grouped<K: PartialEq, T>(items: impl IntoIterator<Item = (K, T)>) -> Vec<(K, Vec<T>)> {
    let mut out: Vec<(K, Vec<T>)> = Vec::new();
    for (k, t) in items {
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(t),
            None => out.push((k, vec![t])),
        }
    }
    out
}

/// The indexes of `changes` by program (and so by kind), each group in
/// order, groups in the order first seen.
pub fn groups<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Vec<Vec<usize>> {
    grouped(
        changes
            .into_iter()
            .enumerate()
            .map(|(i, c)| (&c.program, i)),
    )
    .into_iter()
    .map(|(_, v)| v)
    .collect()
}

/// A batch: what to run and the file to give it on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The program and its arguments (`nft -f -`, `iptables-restore ...`).
    pub argv: Vec<String>,
    /// What it reads on stdin.
    pub input: String,
}

/// The batch for a group of changes through one program (one of
/// [`groups`]). For iptables, `deletes[i]` deletions of change `i`'s rule
/// go first (the copies an earlier run left) and `only_deletes` leaves the
/// changes' own commands out; nft and ipset changes take no deletions.
pub fn build(group: &[&Change], deletes: &[usize], only_deletes: bool) -> Option<Batch> {
    match group.first()?.op {
        Op::Nft { .. } => nft_batch(group),
        Op::Ipset { .. } => ipset_batch(group),
        Op::Ipt { .. } => ipt_batch(group, deletes, only_deletes),
    }
}

/// The `nft -f -` batch for a group of nftables changes (statements
/// grouped by verb and set in the order they first appear).
fn nft_batch(changes: &[&Change]) -> Option<Batch> {
    let program = &changes.first()?.program;
    let mut keyed = Vec::with_capacity(changes.len());
    for c in changes {
        let Op::Nft { verb, set } = &c.op else {
            return None;
        };
        if &c.program != program {
            return None;
        }
        keyed.push(((*verb, set), (c.element, c.timeout)));
    }
    let mut input = String::new();
    for ((verb, [family, table, set]), elements) in grouped(keyed) {
        for chunk in elements.chunks(ELEMENTS_PER_STATEMENT) {
            input.push_str(verb.word());
            input.push_str(" element ");
            for w in [family, table, set] {
                input.push_str(w);
                input.push(' ');
            }
            input.push_str("{ ");
            for (i, (e, timeout)) in chunk.iter().enumerate() {
                if i > 0 {
                    input.push_str(", ");
                }
                input.push_str(&e.to_string());
                if let Some(t) = timeout {
                    input.push_str(&format!(" timeout {t}s"));
                }
            }
            input.push_str(" }\n");
        }
    }
    Some(Batch {
        argv: vec![program.clone(), "-f".into(), "-".into()],
        input,
    })
}

/// `iptables` → `iptables-restore`, keeping a directory.
fn with_suffix(program: &str, suffix: &str) -> String {
    format!("{program}-{suffix}")
}

/// The command that lists `table` as `iptables-save` does.
pub fn ipt_save_argv(program: &str, table: &str) -> Vec<String> {
    vec![with_suffix(program, "save"), "-t".into(), table.into()]
}

/// The tables a group of iptables changes touches, in order.
pub fn ipt_tables<'a>(changes: &[&'a Change]) -> Vec<&'a str> {
    let tables = changes.iter().filter_map(|c| match &c.op {
        Op::Ipt { table, .. } => Some((table.as_str(), ())),
        _ => None,
    });
    grouped(tables).into_iter().map(|(t, _)| t).collect()
}

/// A rule word as iptables-save prints it.
fn saved_form(w: &str) -> &str {
    match w {
        "--source" => "-s",
        "--jump" => "-j",
        _ => w,
    }
}

/// The source (as iptables-save prints it, `ADDR/32`) of a line of
/// iptables-save output that is `probe`'s rule in its chain but for the
/// source.
fn saved_source<'a>(line: &'a str, probe: &Change) -> Option<&'a str> {
    let Op::Ipt {
        chain,
        rule,
        source,
        ..
    } = &probe.op
    else {
        return None;
    };
    let spec = line.strip_prefix("-A ")?.strip_prefix(chain.as_str())?;
    let words: Vec<&str> = spec.strip_prefix(' ')?.split_whitespace().collect();
    let same = words.len() == rule.len()
        && words
            .iter()
            .zip(rule)
            .enumerate()
            .all(|(i, (w, r))| i == *source || *w == saved_form(r));
    same.then(|| words[*source])
}

/// How many exact copies of `change`'s rule `save` (an `iptables-save`
/// listing of its table) holds in its chain, or `None` if the chain has a
/// rule for the address that is not a copy (then only the shell path knows
/// what to do).
pub fn ipt_copies(save: &str, change: &Change) -> Option<usize> {
    let Op::Ipt { chain, .. } = &change.op else {
        return None;
    };
    let host = match change.element {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    };
    let prefix = format!("-A {chain} ");
    let mut copies = 0;
    for line in save.lines().filter(|l| l.starts_with(&prefix)) {
        if saved_source(line, change) == Some(&host) {
            copies += 1;
        } else if line
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|p| p[0] == "-s" && p[1] == host)
        {
            return None;
        }
    }
    Some(copies)
}

/// The `iptables-restore --noflush` batch for a group of iptables changes:
/// per change, `deletes[i]` deletions of its rule first (the copies an
/// earlier run left), then its own command unless `only_deletes`.
fn ipt_batch(changes: &[&Change], deletes: &[usize], only_deletes: bool) -> Option<Batch> {
    let program = &changes.first()?.program;
    let mut lines = Vec::with_capacity(changes.len());
    for (c, &n) in changes.iter().zip(deletes) {
        let Op::Ipt {
            table, verb, chain, ..
        } = &c.op
        else {
            return None;
        };
        if &c.program != program {
            return None;
        }
        let rule = c.rule_words(&c.element.to_string()).join(" ");
        let mut body = format!("-D {chain} {rule}\n").repeat(n);
        if !only_deletes {
            body.push_str(&match verb {
                IptVerb::Insert(Some(pos)) => format!("-I {chain} {pos} {rule}\n"),
                IptVerb::Insert(None) => format!("-I {chain} {rule}\n"),
                IptVerb::Append => format!("-A {chain} {rule}\n"),
                IptVerb::Delete => format!("-D {chain} {rule}\n"),
            });
        }
        lines.push((table.as_str(), body));
    }
    let mut input = String::new();
    for (table, bodies) in grouped(lines) {
        input.push_str(&format!("*{table}\n{}COMMIT\n", bodies.concat()));
    }
    Some(Batch {
        argv: vec![
            with_suffix(program, "restore"),
            "-w".into(),
            "--noflush".into(),
        ],
        input,
    })
}

// ------------------------------------------------------------------
// What the firewall holds (for the reconcile at start and reload)

/// The command that lists what `change`'s target (its set, or its chain's
/// table) holds.
pub fn list_argv(change: &Change) -> Vec<String> {
    match &change.op {
        Op::Nft { set, .. } => {
            let mut v = vec![change.program.clone(), "list".into(), "set".into()];
            v.extend(set.iter().cloned());
            v
        }
        Op::Ipt { table, .. } => ipt_save_argv(&change.program, table),
        Op::Ipset { set, .. } => vec![change.program.clone(), "save".into(), set.clone()],
    }
}

/// Whether `probe`'s target (its set, or its chain) exists, from how its
/// [`list_argv`] command went.
pub fn target_exists(listed_ok: bool, listing: &str, probe: &Change) -> bool {
    match &probe.op {
        Op::Ipt { chain, .. } => {
            listed_ok
                && listing
                    .lines()
                    .any(|l| l.starts_with(&format!(":{chain} ")))
        }
        Op::Nft { .. } | Op::Ipset { .. } => listed_ok,
    }
}

/// The addresses `listing` (the output of [`list_argv`]) holds for the
/// target of `probe` (a change recognised for any address): set elements,
/// or the sources of rules in its chain that are `probe`'s rule but for
/// their source. Entries that are not single addresses (ranges, prefixes
/// an admin added) are not ours and are left out.
pub fn listed(listing: &str, probe: &Change) -> Vec<IpAddr> {
    held(listing, probe).into_iter().map(|(a, _)| a).collect()
}

/// [`listed`] with each entry's kernel-side timeout: the seconds until it
/// lapses, `None` for an entry without one.
pub fn held(listing: &str, probe: &Change) -> Vec<(IpAddr, Option<u64>)> {
    match &probe.op {
        Op::Nft { .. } => {
            let Some(start) = listing.find("elements = {") else {
                return Vec::new();
            };
            let body = &listing[start + "elements = {".len()..];
            let body = &body[..body.find('}').unwrap_or(body.len())];
            // `192.0.2.1 timeout 1h expires 59m57s488ms`
            body.split(',')
                .filter_map(|e| {
                    let mut w = e.split_whitespace();
                    let addr = w.next()?.parse().ok()?;
                    let expires = std::iter::from_fn(|| w.next())
                        .skip_while(|&k| k != "expires")
                        .nth(1)
                        .and_then(nft_duration);
                    Some((addr, expires))
                })
                .collect()
        }
        Op::Ipset { set, .. } => listing
            .lines()
            .filter_map(|l| {
                // `add f2b-x 192.0.2.1 timeout 3597` (0: no timeout)
                let mut w = l.split_whitespace();
                (w.next()? == "add" && w.next()? == set).then_some(())?;
                let addr = w.next()?.parse().ok()?;
                let timeout = std::iter::from_fn(|| w.next())
                    .skip_while(|&k| k != "timeout")
                    .nth(1)
                    .and_then(|t| t.parse().ok())
                    .filter(|&t| t > 0);
                Some((addr, timeout))
            })
            .collect(),
        Op::Ipt { .. } => listing
            .lines()
            .filter_map(|l| {
                let host = saved_source(l, probe)?;
                let (addr, len) = host.split_once('/').unwrap_or((host, ""));
                let addr: IpAddr = addr.parse().ok()?;
                let full = if addr.is_ipv4() { "32" } else { "128" };
                (len.is_empty() || len == full).then_some((addr, None))
            })
            .collect(),
    }
}

/// Whole seconds of an nft duration (`1d2h3m4s500ms`), rounded down.
fn nft_duration(s: &str) -> Option<u64> {
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            _ => return None,
        };
        total_ms = total_ms.checked_add(n.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(total_ms / 1000)
}

#[cfg(test)]
mod tests;
