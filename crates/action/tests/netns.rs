//! Real firewall tests: the stock iptables/nftables actions run inside a
//! private network namespace ("server"), and traffic from a second
//! namespace ("client") over a veth pair shows whether bans take effect.
//!
//! Only TEST-NET addresses (192.0.2.0/24, 2001:db8::/32) on a veth pair
//! between two namespaces created here are used; the host's firewall and
//! network namespace are never touched (every firewall command runs via
//! `ip netns exec`, and the test's sockets are created by threads that have
//! entered the test namespaces). Namespaces are deleted by an RAII guard,
//! also when a test panics.
//!
//! The action properties come from gaoler's own configuration reader run on
//! a temporary copy of the upstream configuration (see
//! [`action_properties`]); the namespaces come from `gaoler-testkit`.
//!
//! Requirements: root, `ip`, `iptables`, `ip6tables`, `nft`, `ipset`. A missing
//! requirement FAILS the test.

use gaoler_action::{ActionInfo, ActionSpec, CommandAction, Executor};
use gaoler_testkit::{TestNet, CLIENT4, CLIENT6, SERVER4, SERVER6};

mod common;

fn action_properties(banaction: &str, jail: &str) -> ActionSpec {
    common::action_properties(&common::upstream(), banaction, jail, BANNED_PORT)
}

const BANNED_PORT: u16 = 5060;
const OTHER_PORT: u16 = 5061;

fn require_environment() {
    common::require_root_and_tools(&["ip", "iptables", "ip6tables", "nft", "ipset"]);
}

fn executor(net: &TestNet) -> Executor {
    Executor::with_wrapper(net.server_wrapper())
}

/// Which kind of stock action.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Iptables,
    Nftables,
}

fn banned_in_firewall(net: &TestNet, kind: Kind, name: &str, addr: &str) -> bool {
    let v6 = addr.contains(':');
    let listing = match kind {
        Kind::Iptables => net.in_server(&[
            if v6 { "ip6tables" } else { "iptables" },
            "-n",
            "-L",
            &format!("f2b-{name}"),
        ]),
        Kind::Nftables => net.in_server(&[
            "nft",
            "list",
            "set",
            "inet",
            "f2b-table",
            &format!("{}-{name}", if v6 { "addr6-set" } else { "addr-set" }),
        ]),
    };
    listing.contains(addr)
}

/// The whole scenario for one stock action.
fn scenario(tag: &str, banaction: &str, kind: Kind, allports: bool) {
    require_environment();
    let jail = format!("gt{tag}");
    let spec = action_properties(banaction, &jail);
    assert_eq!(spec.name, banaction);

    let net = TestNet::new(tag);
    let _listeners = net.listen_tcp(&[BANNED_PORT, OTHER_PORT]);
    net.wait_tcp_ready(BANNED_PORT);

    let mut action = CommandAction::with_executor(&spec, executor(&net)).expect("action");
    action.set_ipv6_allowed(true);
    assert!(
        action.start_on_demand(),
        "stock firewall actions start on demand"
    );
    action.start().expect("start");
    assert!(
        !net.ruleset().contains("f2b-"),
        "on-demand action must not touch the firewall at jail start"
    );

    let c4 = ActionInfo::for_id(CLIENT4);
    let c6 = ActionInfo::for_id(CLIENT6);

    // Ban IPv4: only IPv4 traffic to the banned port(s) is blocked.
    action.ban(&c4).expect("ban v4");
    assert!(banned_in_firewall(&net, kind, &jail, CLIENT4));
    assert!(
        !net.tcp_reachable(SERVER4, BANNED_PORT),
        "v4 banned port still open"
    );
    assert_eq!(
        net.tcp_reachable(SERVER4, OTHER_PORT),
        !allports,
        "other port reachability (allports={allports})"
    );
    assert!(
        net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 blocked by a v4 ban"
    );

    // Ban IPv6 (starts the inet6 family on demand).
    action.ban(&c6).expect("ban v6");
    assert!(banned_in_firewall(&net, kind, &jail, CLIENT6));
    assert!(
        !net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 banned port still open"
    );
    assert_eq!(net.tcp_reachable(SERVER6, OTHER_PORT), !allports);

    // Unban IPv4: traffic flows again, IPv6 stays banned.
    action.unban(&c4).expect("unban v4");
    assert!(!banned_in_firewall(&net, kind, &jail, CLIENT4));
    assert!(
        net.tcp_reachable(SERVER4, BANNED_PORT),
        "v4 still blocked after unban"
    );
    assert!(net.tcp_reachable(SERVER4, OTHER_PORT));
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));

    // Flush: removes the remaining IPv6 ban.
    assert!(action.has_flush());
    action.flush().expect("flush");
    assert!(
        net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 still blocked after flush"
    );

    if kind == Kind::Nftables {
        // Someone removes our table behind our back: the ban fails, the
        // check fails, stop+start rebuilds it, and the retried ban works.
        net.in_server(&["nft", "delete", "table", "inet", "f2b-table"]);
        let epoch = action.ban_epoch();
        action.ban(&c4).expect("ban after repair");
        assert!(
            action.ban_epoch() > epoch,
            "repair must invalidate the epoch"
        );
        assert!(banned_in_firewall(&net, kind, &jail, CLIENT4));
        assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
        // The inet6 family lost its set too; its next ban repairs it.
        action.ban(&c6).expect("ban v6 after repair");
        assert!(banned_in_firewall(&net, kind, &jail, CLIENT6));
        assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));
    } else {
        action.ban(&c4).expect("ban again");
        assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
    }

    // Stop: everything of ours is gone, traffic flows.
    action.stop().expect("stop");
    let rules = net.ruleset();
    assert!(!rules.contains("f2b-"), "leftovers after stop:\n{rules}");
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT));
}

#[test]
fn iptables_multiport_in_netns() {
    scenario("a", "iptables-multiport", Kind::Iptables, false);
}

#[test]
fn iptables_allports_in_netns() {
    scenario("b", "iptables-allports", Kind::Iptables, true);
}

#[test]
fn nftables_multiport_in_netns() {
    scenario("c", "nftables-multiport", Kind::Nftables, false);
}

#[test]
fn nftables_allports_in_netns() {
    scenario("d", "nftables-allports", Kind::Nftables, true);
}

/// Hostile ticket values reach a real firewall command only as data.
#[test]
fn hostile_ip_value_is_data_in_netns() {
    require_environment();
    let spec = action_properties("nftables-multiport", "gte");
    let net = TestNet::new("e");
    let mut action = CommandAction::with_executor(&spec, executor(&net)).expect("action");
    action.set_ipv6_allowed(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("pwned");
    let evil = format!("192.0.2.77 }}; touch {} ; echo {{", marker.display());
    // Claim inet4 so the on-demand start runs; the ban itself must fail (the
    // value is not an address) without executing anything.
    let info = ActionInfo::for_id(&evil).with("family", "inet4");
    assert!(
        action.ban(&info).is_err(),
        "nft must reject the bogus element"
    );
    assert!(!marker.exists(), "hostile value was executed");
    assert!(!banned_in_firewall(
        &net,
        Kind::Nftables,
        "gte",
        "192.0.2.77"
    ));
    action.stop().expect("stop");
    assert!(!net.ruleset().contains("f2b-"));
}

/// How many copies of `addr`'s ban the firewall holds for `jail`.
fn ban_copies(net: &TestNet, banaction: &str, jail: &str, addr: &str) -> usize {
    let v6 = addr.contains(':');
    if banaction.starts_with("nftables") {
        let set = format!("{}-{jail}", if v6 { "addr6-set" } else { "addr-set" });
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &net.server, "nft", "list", "set", "inet"])
            .args(["f2b-table", &set])
            .output()
            .expect("nft");
        let listing = String::from_utf8_lossy(&out.stdout);
        // A set holds an element once or not at all.
        usize::from(listing.contains(addr))
    } else if banaction.starts_with("iptables-ipset") {
        let set = format!("f2b-{jail}{}", if v6 { "6" } else { "" });
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &net.server, "ipset", "list", &set])
            .output()
            .expect("ipset");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(addr))
            .count()
    } else {
        let save = net.in_server(&[if v6 {
            "ip6tables-save"
        } else {
            "iptables-save"
        }]);
        let needle = format!(" -s {addr}/{} ", if v6 { 128 } else { 32 });
        save.lines()
            .filter(|l| l.starts_with(&format!("-A f2b-{jail} ")) && l.contains(&needle))
            .count()
    }
}

/// A daemon killed with its bans in place and started again (three
/// times): the restored bans must not add second copies, and the unbans
/// must leave nothing behind, even copies made outside of gaoler.
fn crash_and_restart(tag: &str, banaction: &str) {
    require_environment();
    let jail = format!("gt{tag}");
    let spec = action_properties(banaction, &jail);
    let net = TestNet::new(tag);
    let addrs = ["192.0.2.21", "192.0.2.22", "198.51.100.23", "2001:db8::24"];
    let new_action = || {
        let mut a = CommandAction::with_executor(&spec, executor(&net)).expect("action");
        a.set_ipv6_allowed(true);
        a.start().expect("start");
        a
    };
    let mut first = new_action();
    for a in addrs {
        first.ban(&ActionInfo::for_id(a)).expect("ban");
    }
    // "kill -9": no flush, no stop; the firewall keeps everything.
    drop(first);
    let mut current = None;
    for round in 1..=3 {
        drop(current.take());
        let mut action = new_action();
        for a in addrs {
            let mut info = ActionInfo::for_id(a);
            info.set_restored(true);
            action.ban(&info).expect("restore ban");
        }
        for a in addrs {
            assert_eq!(
                ban_copies(&net, banaction, &jail, a),
                1,
                "{banaction}: copies of {a} after restart {round}\n{}",
                net.ruleset()
            );
        }
        current = Some(action);
    }
    let mut action = current.take().expect("action");
    // A second copy made behind our back goes with the unban as well (a
    // set-based action cannot hold a second copy).
    action
        .ban(&ActionInfo::for_id(addrs[0]))
        .expect("second copy");
    for a in addrs {
        action.unban(&ActionInfo::for_id(a)).expect("unban");
        assert_eq!(
            ban_copies(&net, banaction, &jail, a),
            0,
            "{banaction}: {a} still banned after its unban\n{}",
            net.ruleset()
        );
    }
    action.stop().expect("stop");
    let rules = net.ruleset();
    assert!(!rules.contains("f2b-"), "leftovers after stop:\n{rules}");
}

#[test]
fn iptables_multiport_crash_restart_keeps_one_copy() {
    crash_and_restart("f", "iptables-multiport");
}

#[test]
fn iptables_allports_crash_restart_keeps_one_copy() {
    crash_and_restart("g", "iptables-allports");
}

#[test]
fn iptables_oneport_crash_restart_keeps_one_copy() {
    crash_and_restart("h", "iptables");
}

#[test]
fn nftables_crash_restart_keeps_one_copy() {
    crash_and_restart("i", "nftables-multiport");
}

#[test]
fn iptables_ipset_crash_restart_keeps_one_copy() {
    crash_and_restart("j", "iptables-ipset");
}
