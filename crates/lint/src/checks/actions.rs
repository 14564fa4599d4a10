//! `banaction-tool-missing`, `python-action`, `ignoreself-uncovered`:
//! bans that cannot happen, and bans that hit the machine itself.
//!
//! - An action bans by running commands; if they call a firewall tool
//!   that is not installed, every ban fails (logged, retried, never
//!   effective). The tools are read from the action's *resolved* commands
//!   (`actionstart`, `actionban`, ... after `<tag>` substitution, for
//!   IPv4 and IPv6: `iptables-multiport` uses `ip6tables` for IPv6), the
//!   way gaoler's action runtime substitutes them, because the action's
//!   name says little (`%(banaction)s` can be anything, and an
//!   `iptables` action may be configured with `iptables = nft`-backed
//!   wrappers). Only words in command position count (first word of a
//!   command, after `;`, `|`, `&&`, `then`, `$(`...), so a tool named in
//!   a comment or an argument does not.
//! - Python actions (`action.d/*.py`) are refused by gaoler (see the
//!   README, "Differences from fail2ban"): the jail keeps its other
//!   actions, and this one never runs.
//! - `ignoreself = false` lets a jail ban the machine's own addresses
//!   (a local monitoring probe, a proxy in front of the service, a
//!   mistyped password from the console) unless `ignoreip` covers them;
//!   the uncovered ones are listed. Names in `ignoreip` are not resolved
//!   here (no DNS from a lint); `file:` lists are read.

use std::collections::BTreeMap;
use std::net::IpAddr;

use gaoler_action::subst::{replace_static, substitute_recursive_tags, ESCAPED_TAGS};
use gaoler_action::COMMAND_KEYS;
use gaoler_addr::Addr;

use super::Ctx;
use crate::finding::{Finding, Level};
use crate::model::{ActionView, JailView};

/// Firewall tools and the Debian package that has each (empty: none).
const TOOLS: &[(&str, &str)] = &[
    ("nft", "nftables"),
    ("iptables", "iptables"),
    ("ip6tables", "iptables"),
    ("iptables-restore", "iptables"),
    ("ip6tables-restore", "iptables"),
    ("iptables-save", "iptables"),
    ("ip6tables-save", "iptables"),
    ("ipset", "ipset"),
    ("firewall-cmd", "firewalld"),
    ("ufw", "ufw"),
    ("shorewall", "shorewall"),
    ("shorewall6", "shorewall6"),
    ("pfctl", ""),
    ("ip", "iproute2"),
];

/// Words after which the next word is a command again.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "esac", "!", "{", "}",
    "time", "exec", "command", "sudo", "nohup", "env",
];

/// Words after which the rest up to the next separator is no command
/// (`for NAME in WORDS`, `case WORD in`).
const LISTS: &[&str] = &["for", "case", "select"];

/// The words of a shell script that are in command position.
pub(crate) fn command_words(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut at_command = true;
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    let finish = |word: &mut String, at_command: &mut bool, out: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        let w = std::mem::take(word);
        if *at_command {
            let is_assignment = w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_')
            });
            if KEYWORDS.contains(&w.as_str()) || is_assignment {
                return;
            }
            if LISTS.contains(&w.as_str()) {
                *at_command = false;
                return;
            }
            out.push(w);
            *at_command = false;
        }
    };
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == '\\' && q == '"' {
                chars.next();
            }
            word.push(c);
            continue;
        }
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n != '\n' {
                        word.push(n);
                    }
                }
            }
            '\'' | '"' => {
                quote = Some(c);
                word.push(c);
            }
            ' ' | '\t' => finish(&mut word, &mut at_command, &mut out),
            ';' | '&' | '|' | '\n' | '(' | ')' | '`' => {
                finish(&mut word, &mut at_command, &mut out);
                at_command = c != ')';
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                finish(&mut word, &mut at_command, &mut out);
                at_command = true;
            }
            c => word.push(c),
        }
    }
    finish(&mut word, &mut at_command, &mut out);
    out
}

/// Firewall tools an action's commands run, with the command keys that
/// run each, for IPv4 and IPv6.
fn tools_of(a: &ActionView) -> BTreeMap<String, Vec<&'static str>> {
    let props: BTreeMap<String, String> = a.props.iter().cloned().collect();
    let mut found: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for cond in ["family=inet4", "family=inet6"] {
        let Ok(sub) = substitute_recursive_tags(&props, cond, ESCAPED_TAGS) else {
            continue;
        };
        for key in COMMAND_KEYS {
            if !props.contains_key(*key) {
                continue;
            }
            let Ok(cmd) = replace_static(&format!("<{key}>"), &sub, cond) else {
                continue;
            };
            for w in command_words(&cmd) {
                let base = w.rsplit('/').next().unwrap_or(&w).to_string();
                if TOOLS.iter().any(|(t, _)| *t == base) {
                    let keys = found.entry(w).or_default();
                    if !keys.contains(key) {
                        keys.push(key);
                    }
                }
            }
        }
    }
    found
}

/// Runs the check on one jail.
pub(crate) fn check(ctx: &Ctx<'_>, jail: &JailView<'_>, out: &mut Vec<Finding>) {
    let banaction_at = banaction_origins(ctx, jail);
    for a in &jail.actions {
        let at = a
            .file
            .as_ref()
            .and_then(|f| banaction_at.iter().find(|(v, _)| v == f))
            .and_then(|(_, o)| o.as_ref())
            .or(jail.origin("action"));
        if let Some(py) = &a.python {
            out.push(
                Finding::new(
                    Level::Error,
                    "python-action",
                    Some(&jail.name),
                    format!(
                        "action `{}` is a Python action ({py}); gaoler does not run Python \
                         actions (README, \"Differences from fail2ban\"): the jail keeps its \
                         other actions and this one never runs",
                        a.name
                    ),
                    "use a command action instead (action.d/*.conf; e.g. sendmail-common for \
                     smtp.py), or remove it from the jail's `action`",
                )
                .at(at),
            );
            continue;
        }
        for (tool, keys) in tools_of(a) {
            if ctx.host.which(&tool).is_some() {
                continue;
            }
            let base = tool.rsplit('/').next().unwrap_or(&tool);
            let package = TOOLS
                .iter()
                .find(|(t, _)| *t == base)
                .map(|(_, p)| *p)
                .unwrap_or("");
            let install = match package {
                "" => format!("`{base}` is not available on this system"),
                p => format!("install it (apt-get install {p})"),
            };
            let alternative = installed_banaction(ctx)
                .map(|b| format!(", or set `banaction = {b}`, whose tool is installed"))
                .unwrap_or_default();
            out.push(
                Finding::new(
                    Level::Error,
                    "banaction-tool-missing",
                    Some(&jail.name),
                    format!(
                        "action `{}` runs `{tool}` (in {}) and `{base}` is not installed: \
                         every ban of this jail fails, and the addresses stay free",
                        a.name,
                        keys.join(", ")
                    ),
                    format!("{install}{alternative}"),
                )
                .at(at),
            );
        }
    }
    ignoreself(ctx, jail, out);
}

/// The jail's `banaction` and `banaction_allports` values with where
/// they were set (an action read from one of them is reported there).
fn banaction_origins(
    ctx: &Ctx<'_>,
    jail: &JailView<'_>,
) -> Vec<(String, Option<gaoler_config::Origin>)> {
    let Some(cfg) = ctx.jail_set() else {
        return Vec::new();
    };
    ["banaction", "banaction_allports"]
        .iter()
        .filter_map(|k| {
            let v = cfg.get(&jail.name, k, &Default::default()).ok()?;
            let name = v.split('[').next().unwrap_or("").trim().to_string();
            Some((name, cfg.origin(&jail.name, k).cloned()))
        })
        .collect()
}

/// A stock ban action whose tool this host has, if the tree ships it.
fn installed_banaction(ctx: &Ctx<'_>) -> Option<&'static str> {
    [
        ("nft", "nftables-multiport"),
        ("iptables", "iptables-multiport"),
        ("firewall-cmd", "firewallcmd-multiport"),
        ("ufw", "ufw"),
    ]
    .into_iter()
    .find(|(tool, action)| {
        ctx.host.which(tool).is_some()
            && ctx
                .basedir
                .join(format!("action.d/{action}.conf"))
                .is_file()
    })
    .map(|(_, a)| a)
}

/// `ignoreself = false` with own addresses `ignoreip` does not cover.
fn ignoreself(ctx: &Ctx<'_>, jail: &JailView<'_>, out: &mut Vec<Finding>) {
    let off = jail.setting("ignoreself").is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        )
    });
    if !off {
        return;
    }
    let mut nets: Vec<Addr> = Vec::new();
    for entry in &jail.ignoreip {
        for e in entry.split(|c: char| c.is_whitespace() || c == ',') {
            let e = e.trim();
            if let Some(path) = e.strip_prefix("file:") {
                let lines = ctx
                    .host
                    .read_head(std::path::Path::new(path), 1_000_000)
                    .unwrap_or_default();
                for l in lines {
                    let l = l.split(['#', ';']).next().unwrap_or("");
                    nets.extend(
                        l.split(|c: char| c.is_whitespace() || c == ',')
                            .map(Addr::parse)
                            .filter(Addr::is_valid),
                    );
                }
            } else if !e.is_empty() {
                let a = Addr::parse(e);
                // (names are left out: no DNS lookups from a lint)
                if a.is_valid() {
                    nets.push(a);
                }
            }
        }
    }
    let uncovered: Vec<IpAddr> = ctx
        .host
        .own_addresses()
        .into_iter()
        .filter(|ip| !nets.iter().any(|n| n.contains(&Addr::from(*ip))))
        .collect();
    if uncovered.is_empty() {
        return;
    }
    let list: Vec<String> = uncovered.iter().map(IpAddr::to_string).collect();
    out.push(
        Finding::new(
            Level::Warning,
            "ignoreself-uncovered",
            Some(&jail.name),
            format!(
                "`ignoreself = false` and `ignoreip` does not cover this machine's own \
                 addresses {}: the jail can ban the machine itself (a local probe, a proxy in \
                 front of the service, a mistyped password at the console)",
                list.join(", ")
            ),
            format!(
                "remove `ignoreself = false` (the default is true), or add the addresses to \
                 `ignoreip`: `ignoreip = 127.0.0.1/8 ::1 {}`",
                list.join(" ")
            ),
        )
        .at(jail.origin("ignoreself")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_position_words() {
        assert_eq!(
            command_words("nft add table inet f2b\nif [ 'x' != \"all\" ]; then\nfor p in $(echo 'tcp' | sed s/,/ /g); do\n<iptables> -I x; done\nfi"),
            ["nft", "[", "echo", "sed", "<iptables>"]
        );
        assert_eq!(
            command_words("X=1 /usr/sbin/ipset create \\{ a \\} && ip6tables -w -N f2b"),
            ["/usr/sbin/ipset", "ip6tables"]
        );
        assert_eq!(command_words("echo 'nft; iptables' # ufw"), ["echo"]);
    }

    #[test]
    fn tools_come_from_resolved_commands() {
        let a = ActionView {
            name: "iptables-multiport".into(),
            props: vec![
                ("actionstart".into(), "<iptables> -N f2b-<name>".into()),
                (
                    "actionban".into(),
                    "<iptables> -I f2b-<name> 1 -s <ip> -j DROP".into(),
                ),
                ("iptables".into(), "iptables <lockingopt>".into()),
                (
                    "iptables?family=inet6".into(),
                    "ip6tables <lockingopt>".into(),
                ),
                ("lockingopt".into(), "-w".into()),
            ],
            ..ActionView::default()
        };
        let t = tools_of(&a);
        assert_eq!(t.keys().collect::<Vec<_>>(), ["ip6tables", "iptables"]);
        assert_eq!(t["iptables"], ["actionstart", "actionban"]);
    }
}
