//! Rounds as batches leave the firewall exactly as fail2ban's per-address
//! commands do.
//!
//! The same sequence (start, a round of IPv4 and IPv6 bans, a second jail
//! sharing the table, a restart without stop that bans the same addresses
//! again as restored tickets, unbans, bans again, flush, bans, stop) runs
//! twice on
//! the same stock action, each time in fresh private network namespaces:
//! once with batching off (fail2ban's path: one command per address) and
//! once with it on. After every step the firewall state (`iptables-save`,
//! `ip6tables-save`, `nft list ruleset`, normalised) must be the same, and
//! the batched run must have run far fewer commands. (`ipset save`
//! joins the state, with entries sorted, their time left and the sets'
//! hash seeds removed.) Only TEST-NET addresses are used, as set elements
//! in the test's own namespaces.
//!
//! Requirements: root, `ip`, `iptables`, `ip6tables`, their `-save` and
//! `-restore`, `nft`, `ipset`. A missing
//! requirement FAILS the test.

use std::path::Path;

use gaoler_action::{ActionInfo, ActionSpec, CommandAction, Executor};
use gaoler_testkit::TestNet;

mod common;

const PORT: u16 = 5060;

/// The firewall of the test's server namespace, with what differs between
/// two equal states removed: comment lines (tool versions and times),
/// counters, and the order of set elements.
fn normalised_state(net: &TestNet) -> String {
    // ipset: entries in hash order, with the time left on them
    let mut sets: Vec<String> = net
        .in_server(&["ipset", "save"])
        .lines()
        .map(|l| {
            let mut out = Vec::new();
            let mut words = l.split_whitespace();
            while let Some(w) = words.next() {
                // (and a set's random hash seed)
                if w == "initval" {
                    words.next();
                    continue;
                }
                out.push(w);
                if w == "timeout" && l.starts_with("add ") {
                    words.next();
                }
            }
            out.join(" ")
        })
        .collect();
    sets.sort();
    let raw = format!("{}\n{}", net.ruleset(), sets.join("\n"));
    let mut out = String::new();
    let mut rest = raw.as_str();
    // Sort the elements of every `elements = { ... }` list.
    while let Some(i) = rest.find("elements = {") {
        let open = i + "elements = {".len();
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let mut items: Vec<&str> = rest[open..open + close]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        items.sort_unstable();
        out.push_str(&items.join(", "));
        rest = &rest[open + close..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| {
            // iptables-save chain lines carry packet counters.
            if l.starts_with(':') {
                l.split(" [").next().unwrap_or(l).to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An executor that runs in the server namespace and counts its runs in
/// `count_file` (one line per command).
fn counting_executor(net: &TestNet, count_file: &Path) -> Executor {
    let mut w = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!("echo x >> '{}'; exec \"$@\"", count_file.display()),
        "count".to_string(),
    ];
    w.extend(net.server_wrapper());
    Executor::with_wrapper(w)
}

fn infos(addrs: &[String], restored: bool) -> Vec<ActionInfo> {
    addrs
        .iter()
        .map(|a| {
            let mut i = ActionInfo::for_id(a);
            i.set_restored(restored);
            i
        })
        .collect()
}

fn ban(action: &mut CommandAction, addrs: &[String]) {
    ban_as(action, addrs, false);
}

fn ban_as(action: &mut CommandAction, addrs: &[String], restored: bool) {
    let infos = infos(addrs, restored);
    let refs: Vec<&ActionInfo> = infos.iter().collect();
    for (a, r) in addrs.iter().zip(action.ban_round(&refs)) {
        r.unwrap_or_else(|e| panic!("ban {a}: {e}"));
    }
}

fn unban(action: &mut CommandAction, addrs: &[String]) {
    let infos = infos(addrs, false);
    let refs: Vec<&ActionInfo> = infos.iter().collect();
    for (a, r) in addrs.iter().zip(action.unban_round(&refs)) {
        r.unwrap_or_else(|e| panic!("unban {a}: {e}"));
    }
}

/// The whole sequence; returns the state after each step and how many
/// commands ran.
fn sequence(tag: &str, specs: &[ActionSpec; 2], batching: bool) -> (Vec<String>, usize) {
    let net = TestNet::new(tag);
    let dir = tempfile::tempdir().expect("tempdir");
    let count = dir.path().join("count");
    let make = || -> Vec<CommandAction> {
        specs
            .iter()
            .map(|s| {
                let mut a = CommandAction::with_executor(s, counting_executor(&net, &count))
                    .expect("action");
                a.set_ipv6_allowed(true);
                a.set_batching(batching);
                a.start().expect("start");
                a
            })
            .collect()
    };
    let mut actions = make();
    let v4: Vec<String> = (1..=20).map(|i| format!("198.51.100.{i}")).collect();
    let v6: Vec<String> = (1..=6).map(|i| format!("2001:db8:1::{i:x}")).collect();
    let mixed: Vec<String> = v4.iter().chain(&v6).cloned().collect();
    let every_third: Vec<String> = mixed.iter().step_by(3).cloned().collect();
    let mut states = Vec::new();

    ban(&mut actions[0], &mixed);
    states.push(normalised_state(&net));
    // a second jail sharing the table
    ban(&mut actions[1], &v4[..10]);
    states.push(normalised_state(&net));
    // A crash: a new server restores the same bans over what is there.
    actions = make();
    ban_as(&mut actions[0], &mixed, true);
    ban_as(&mut actions[1], &v4[..10], true);
    states.push(normalised_state(&net));
    unban(&mut actions[0], &every_third);
    states.push(normalised_state(&net));
    let again: Vec<String> = every_third
        .iter()
        .take(6)
        .cloned()
        .chain((1..=5).map(|i| format!("192.0.2.{}", 100 + i)))
        .collect();
    ban(&mut actions[0], &again);
    states.push(normalised_state(&net));
    actions[0].flush().expect("flush");
    states.push(normalised_state(&net));
    ban(&mut actions[0], &v6);
    states.push(normalised_state(&net));
    for a in actions.iter_mut().rev() {
        a.stop().expect("stop");
    }
    let last = normalised_state(&net);
    assert!(!last.contains("f2b"), "leftovers after stop:\n{last}");
    states.push(last);
    let runs = std::fs::read_to_string(&count)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    (states, runs)
}

fn differential(tag: &str, root: &Path, banaction: &str) {
    gaoler_testkit::require_root_and_tools(&[
        "ip",
        "iptables",
        "ip6tables",
        "iptables-save",
        "iptables-restore",
        "ip6tables-save",
        "ip6tables-restore",
        "nft",
        "ipset",
    ]);
    let specs = [
        common::action_properties(root, banaction, &format!("b{tag}1"), PORT),
        common::action_properties(root, banaction, &format!("b{tag}2"), PORT),
    ];
    let (shell, shell_runs) = sequence(&format!("{tag}s"), &specs, false);
    let (batched, batched_runs) = sequence(&format!("{tag}b"), &specs, true);
    for (i, (a, b)) in shell.iter().zip(&batched).enumerate() {
        assert_eq!(a, b, "{banaction}: firewall state after step {i} differs");
    }
    // 26 + 10 + 36 + 9 + 11 + 6 addresses changed one by one (more where
    // copies are looked for), against a handful of batches (plus the same
    // starts and stops).
    assert!(
        batched_runs + 50 < shell_runs,
        "{banaction}: {batched_runs} commands batched against {shell_runs} one by one"
    );
}

#[test]
fn upstream_nftables_batches_match_the_shell_path() {
    differential("n1", &common::upstream(), "nftables");
}

#[test]
fn upstream_nftables_multiport_batches_match_the_shell_path() {
    differential("n2", &common::upstream(), "nftables-multiport");
}

#[test]
fn upstream_nftables_allports_batches_match_the_shell_path() {
    differential("n3", &common::upstream(), "nftables-allports");
}

#[test]
fn shipped_nftables_multiport_batches_match_the_shell_path() {
    differential("n4", &common::shipped(), "nftables-multiport");
}

#[test]
fn shipped_nftables_allports_batches_match_the_shell_path() {
    differential("n5", &common::shipped(), "nftables-allports");
}

#[test]
fn upstream_iptables_batches_match_the_shell_path() {
    differential("i1", &common::upstream(), "iptables");
}

#[test]
fn upstream_iptables_multiport_batches_match_the_shell_path() {
    differential("i2", &common::upstream(), "iptables-multiport");
}

#[test]
fn upstream_iptables_allports_batches_match_the_shell_path() {
    differential("i3", &common::upstream(), "iptables-allports");
}

#[test]
fn shipped_iptables_batches_match_the_shell_path() {
    differential("i4", &common::shipped(), "iptables");
}

#[test]
fn shipped_iptables_multiport_batches_match_the_shell_path() {
    differential("i5", &common::shipped(), "iptables-multiport");
}

#[test]
fn shipped_iptables_allports_batches_match_the_shell_path() {
    differential("i6", &common::shipped(), "iptables-allports");
}

#[test]
fn upstream_iptables_ipset_batches_match_the_shell_path() {
    differential("s1", &common::upstream(), "iptables-ipset");
}

#[test]
fn upstream_iptables_ipset_proto6_batches_match_the_shell_path() {
    differential("s2", &common::upstream(), "iptables-ipset-proto6");
}

#[test]
fn upstream_iptables_ipset_proto6_allports_batches_match_the_shell_path() {
    differential("s3", &common::upstream(), "iptables-ipset-proto6-allports");
}

/// The action of `spec`, started, running in `net`'s server namespace.
fn started(spec: &ActionSpec, net: &TestNet) -> CommandAction {
    let mut a = CommandAction::with_executor(spec, Executor::with_wrapper(net.server_wrapper()))
        .expect("action");
    a.set_ipv6_allowed(true);
    a.start().expect("start");
    a
}

/// `action.reconcile` with `banned` as the jail's bans.
fn reconcile_with(action: &mut CommandAction, banned: &[String]) -> Option<(usize, usize)> {
    let addrs: Vec<std::net::IpAddr> = banned.iter().map(|a| a.parse().expect("address")).collect();
    action
        .reconcile(&addrs, &|a| Some(ActionInfo::for_id(&a.to_string())))
        .map(|r| (r.added, r.removed))
}

fn sorted(state: &str) -> Vec<&str> {
    let mut v: Vec<&str> = state.lines().collect();
    v.sort_unstable();
    v
}

/// Reconcile: a ban removed behind the action's back comes back, an entry
/// for an address it did not ban goes, and the firewall then holds what
/// banning exactly the jail's addresses gives.
fn reconcile(tag: &str, banaction: &str) {
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "ip6tables", "nft", "ipset"]);
    let spec = common::action_properties(&common::upstream(), banaction, &format!("r{tag}"), PORT);
    let banned: Vec<String> = vec![
        "198.51.100.1".into(),
        "198.51.100.2".into(),
        "198.51.100.3".into(),
        "2001:db8:1::1".into(),
        "2001:db8:1::2".into(),
    ];
    let expected = {
        let net = TestNet::new(&format!("{tag}e"));
        let mut a = started(&spec, &net);
        ban(&mut a, &banned);
        normalised_state(&net)
    };
    let net = TestNet::new(&format!("{tag}r"));
    let mut action = started(&spec, &net);
    // The firewall drifts from the jail's bans: two strays in, one v4 and
    // one v6 ban gone.
    let strays: Vec<String> = vec!["203.0.113.9".into(), "2001:db8:2::9".into()];
    ban(&mut action, &banned);
    ban(&mut action, &strays);
    unban(&mut action, &[banned[1].clone(), banned[4].clone()]);
    assert_ne!(sorted(&normalised_state(&net)), sorted(&expected));

    assert_eq!(
        reconcile_with(&mut action, &banned),
        Some((2, 2)),
        "{banaction}"
    );
    // (a ban put back is first in its chain, not where it was)
    assert_eq!(
        sorted(&normalised_state(&net)),
        sorted(&expected),
        "{banaction}: after reconcile"
    );
    assert_eq!(
        reconcile_with(&mut action, &banned),
        Some((0, 0)),
        "{banaction}: nothing left to do"
    );
    action.stop().expect("stop");
}

#[test]
fn reconcile_nftables_multiport() {
    reconcile("c1", "nftables-multiport");
}

#[test]
fn reconcile_iptables_multiport() {
    reconcile("c2", "iptables-multiport");
}

#[test]
fn reconcile_iptables_ipset() {
    reconcile("c3", "iptables-ipset");
}

/// Two jails whose actions share a set (the same `name=`): one jail's
/// reconcile does not take the other's bans for strays for long: once
/// both reconciled, both jails' bans are in and stay in.
#[test]
fn reconcile_leaves_a_shared_set_to_both_jails() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let a_spec = common::action_properties(&common::upstream(), "nftables-multiport", "rsa", PORT);
    let mut b_spec =
        common::action_properties(&common::upstream(), "nftables-multiport", "rsb", PORT);
    b_spec.jail = "rsb".into();
    for (k, v) in b_spec.properties.iter_mut() {
        if k == "name" {
            *v = "rsa".into();
        }
    }
    let net = TestNet::new("rs");
    let (mut a, mut b) = (started(&a_spec, &net), started(&b_spec, &net));
    let (x, y) = (
        vec!["198.51.100.1".to_string()],
        vec!["198.51.100.2".to_string()],
    );
    ban(&mut a, &x);
    ban(&mut b, &y);
    let _ = reconcile_with(&mut a, &x);
    assert_eq!(
        reconcile_with(&mut b, &y),
        Some((1, 0)),
        "b's ban back, a's kept"
    );
    assert_eq!(
        reconcile_with(&mut a, &x),
        Some((0, 0)),
        "shared: no strays"
    );
    let set = net.in_server(&["nft", "list", "set", "inet", "f2b-table", "addr-set-rsa"]);
    assert!(
        set.contains("198.51.100.1") && set.contains("198.51.100.2"),
        "{set}"
    );
    // (the second stop finds the shared set gone: the namespace goes anyway)
    let _ = (b.stop(), a.stop());
}

/// Kernel-side timeouts (`kerneltimeout = true`): bans go in with the
/// timeout their info asks for and lapse on their own (no action runs
/// meanwhile, as with a dead daemon); a permanent ban has none; an unban
/// of a lapsed entry is no error; a reconcile renews a timeout that would
/// end before its ban; stop leaves nothing.
fn kernel_timeouts(tag: &str, root: &Path, banaction: &str) {
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "ip6tables", "nft", "ipset"]);
    let spec = common::action_properties(root, banaction, &format!("k{tag}"), PORT);
    let net = TestNet::new(&format!("{tag}k"));
    let mut action =
        CommandAction::with_executor(&spec, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    action.set_ipv6_allowed(banaction.starts_with("nftables"));
    action.set_kernel_timeouts(true);
    action.start().expect("start");
    let timed = |addr: &str, secs: Option<u64>| {
        let mut i = ActionInfo::for_id(addr);
        i.set_firewall_timeout(secs);
        i
    };
    let ban_timed = |action: &mut CommandAction, bans: &[(&str, Option<u64>)]| {
        let infos: Vec<ActionInfo> = bans.iter().map(|&(a, s)| timed(a, s)).collect();
        let refs: Vec<&ActionInfo> = infos.iter().collect();
        for ((a, _), r) in bans.iter().zip(action.ban_round(&refs)) {
            r.unwrap_or_else(|e| panic!("{banaction}: ban {a}: {e}"));
        }
    };
    let state = || format!("{}\n{}", net.ruleset(), net.in_server(&["ipset", "save"]));
    let short = "198.51.100.1";
    let long = "198.51.100.2";
    let permanent = "198.51.100.4";
    let mut bans = vec![(short, Some(2)), (long, Some(3600)), (permanent, None)];
    if banaction.starts_with("nftables") {
        bans.push(("2001:db8:1::1", Some(2)));
    }
    ban_timed(&mut action, &bans);
    let s = state();
    for (a, _) in &bans {
        assert!(s.contains(a), "{banaction}: {a} not banned:\n{s}");
    }
    if banaction.starts_with("nftables") {
        assert!(s.contains("flags interval,timeout"), "{banaction}:\n{s}");
        assert!(
            s.contains(&format!("{long} timeout 1h")),
            "{banaction}:\n{s}"
        );
    } else {
        assert!(
            s.contains(&format!("{long} timeout 3")),
            "{banaction}:\n{s}"
        );
        assert!(
            s.contains(&format!("{permanent} timeout 0")),
            "{banaction}:\n{s}"
        );
    }

    std::thread::sleep(std::time::Duration::from_millis(3500));
    let s = state();
    assert!(
        !s.contains(short),
        "{banaction}: {short} did not lapse:\n{s}"
    );
    assert!(
        !s.contains("2001:db8:1::1"),
        "{banaction}: v6 did not lapse:\n{s}"
    );
    assert!(
        s.contains(long) && s.contains(permanent),
        "{banaction}:\n{s}"
    );

    // The daemon's own unban of a lapsed entry, with one still there.
    let infos = [timed(short, None), timed(long, None)];
    let refs: Vec<&ActionInfo> = infos.iter().collect();
    for r in action.unban_round(&refs) {
        r.unwrap_or_else(|e| panic!("{banaction}: unban: {e}"));
    }
    assert!(!state().contains(long), "{banaction}: {long} not unbanned");

    // A ban whose time grew (a new bantime): the reconcile renews it.
    let grown = "198.51.100.5";
    ban_timed(&mut action, &[(grown, Some(2))]);
    let banned: Vec<std::net::IpAddr> = [grown, permanent]
        .iter()
        .map(|a| a.parse().expect("address"))
        .collect();
    let wanted = |a: std::net::IpAddr| {
        let a = a.to_string();
        let secs = (a == grown).then_some(3600);
        Some(timed(&a, secs))
    };
    let r = action.reconcile(&banned, &wanted).expect("reconciled");
    assert_eq!((r.added, r.removed, r.renewed), (0, 0, 1), "{banaction}");
    let r = action.reconcile(&banned, &wanted).expect("reconciled");
    assert_eq!(r.renewed, 0, "{banaction}: renewed once is enough");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(
        state().contains(grown),
        "{banaction}: the renewed ban lapsed"
    );

    action.stop().expect("stop");
    let s = state();
    assert!(
        !s.contains("f2b"),
        "{banaction}: leftovers after stop:\n{s}"
    );
}

#[test]
fn kernel_timeouts_upstream_nftables_multiport() {
    kernel_timeouts("t1", &common::upstream(), "nftables-multiport");
}

#[test]
fn kernel_timeouts_shipped_nftables_allports() {
    kernel_timeouts("t2", &common::shipped(), "nftables-allports");
}

#[test]
fn kernel_timeouts_upstream_iptables_ipset() {
    kernel_timeouts("t3", &common::upstream(), "iptables-ipset");
}
