//! Firewall faults under the native engine, with upstream's stock actions
//! in a private network namespace (issue 12): the firewall tool missing, a
//! full set (the kernel refuses the ban), the table or the chain deleted
//! behind the daemon's back. Each ban the firewall did not take gives an
//! ERROR naming jail, action and address, stays banned (and in the
//! database), and is applied by the next reconcile once the firewall takes
//! it; the jail keeps running. Only TEST-NET addresses, only inside the
//! test's own namespaces.

mod common;

use common::*;
use gaoler_testkit::TestNet;
use std::path::Path;

/// Upstream's configuration, a one-line test filter (`ban <HOST>`) and
/// `jails` (jail.local text; `DIR` stands for the test directory).
fn write_tree(dir: &Path, jails: &str) {
    let d = dir.display().to_string();
    test_tree(
        dir,
        &upstream().join("config"),
        &format!(
            "[DEFAULT]\nfilter = gaoler-test\nbackend = polling\nmaxretry = 1\n\
             bantime = 1h\nlogpath = {d}/empty.log\n\n{}",
            jails.replace("DIR", &d)
        ),
    );
    std::fs::write(dir.join("empty.log"), "").expect("log");
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("gaoler.log")).unwrap_or_default()
}

/// The ERROR of a ban an action failed on: jail, action and address.
fn ban_error(dir: &Path, jail: &str, action: &str, addr: &str) -> bool {
    log(dir).lines().any(|l| {
        l.contains(" ERROR ")
            && l.contains(&format!(
                "Failed to execute ban jail '{jail}' action '{action}'"
            ))
            && l.contains(addr)
    })
}

fn banip(d: &Daemon, jail: &str, addr: &str) {
    let (ok, out) = d.client(&["set", jail, "banip", addr]);
    assert!(ok, "banip {addr}: {out}");
}

/// Still banned (the jail's list comes from the same state the database
/// is written from) and the jail answers.
fn still_banned(d: &Daemon, jail: &str, addr: &str) {
    assert!(
        d.banned(jail, addr),
        "{jail}: {addr} no longer banned\n{}",
        d.server_output()
    );
}

fn reload(d: &Daemon, dir: &Path) {
    let conf = dir.join("conf");
    let (ok, out) = d.client(&["-c", &conf.to_string_lossy(), "reload"]);
    assert!(ok, "reload: {out}");
}

fn nft_set(net: &TestNet, set: &str) -> String {
    in_ns(net, &["nft", "list", "set", "inet", "f2b-table", set]).1
}

#[test]
fn a_missing_firewall_tool_is_reported_and_reconciled_once_it_is_there() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir(dir.join("bin")).expect("bin");
    write_tree(
        dir,
        "[tool]\nenabled = true\n\
         action = nftables-multiport[name=tool, port=5060, nftables=DIR/bin/nft]\n",
    );
    let net = TestNet::new("ft");
    let d = Daemon::start(dir, Some(&net.server));
    d.wait_jail("tool");
    let addr = "198.51.100.31";
    banip(&d, "tool", addr);
    d.wait_until("the ERROR for the missing nft", |_| {
        ban_error(dir, "tool", "nftables-multiport", addr)
    });
    still_banned(&d, "tool", addr);
    // The tool is installed; the next reconcile (here: a reload) bans.
    std::os::unix::fs::symlink(
        which("nft").expect("nft on PATH"),
        dir.join("bin").join("nft"),
    )
    .expect("install nft");
    reload(&d, dir);
    d.wait_until("the ban in the set", |_| {
        nft_set(&net, "addr-set-tool").contains(addr)
    });
    still_banned(&d, "tool", addr);
    d.stop();
    assert!(!net.ruleset().contains("f2b-"), "{}", net.ruleset());
}

#[test]
fn a_full_set_refuses_a_ban_that_the_reconcile_applies_once_there_is_room() {
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "ipset"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_tree(
        dir,
        "[full]\nenabled = true\naction = iptables-ipset[name=full, port=5060, maxelem=2]\n",
    );
    let net = TestNet::new("ff");
    let d = Daemon::start(dir, Some(&net.server));
    d.wait_jail("full");
    let set = || in_ns(&net, &["ipset", "list", "f2b-full"]).1;
    for a in ["198.51.100.41", "198.51.100.42"] {
        banip(&d, "full", a);
        d.wait_until(&format!("{a} in the ipset"), |_| set().contains(a));
    }
    let third = "198.51.100.43";
    banip(&d, "full", third);
    d.wait_until("the ERROR for the full set", |_| {
        ban_error(dir, "full", "iptables-ipset", third)
    });
    still_banned(&d, "full", third);
    assert!(!set().contains(third), "{}", set());
    // Room again: the next reconcile puts the refused ban in.
    let (ok, out) = d.client(&["set", "full", "unbanip", "198.51.100.41"]);
    assert!(ok, "{out}");
    reload(&d, dir);
    d.wait_until("the refused ban in the ipset", |_| set().contains(third));
    d.stop();
    assert!(!in_ns(&net, &["ipset", "list"]).1.contains("f2b-"));
}

#[test]
fn a_table_or_chain_deleted_behind_the_daemon_is_rebuilt_with_its_bans() {
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_tree(
        dir,
        "[nft]\nenabled = true\nport = 5060\nbanaction = nftables-multiport\n\n\
         [ipt]\nenabled = true\nport = 5060\nbanaction = iptables-multiport\n",
    );
    let net = TestNet::new("fd");
    let d = Daemon::start(dir, Some(&net.server));
    d.wait_jail("nft");
    d.wait_jail("ipt");
    let rules = || in_ns(&net, &["iptables-save"]).1;
    let (first, second) = ("198.51.100.51", "198.51.100.52");
    banip(&d, "nft", first);
    banip(&d, "ipt", first);
    d.wait_until("the first bans in", |_| {
        nft_set(&net, "addr-set-nft").contains(first) && rules().contains(first)
    });
    // (after the reconcile of the start, so that only the faults' own
    // reconcile can put the bans back)
    let reconciles = || log(dir).matches("] Reconcile '").count();
    d.wait_until("the start's reconciles", |_| reconciles() == 2);

    // Behind the daemon's back: the nftables table and the jail's
    // iptables chain (with the jump to it) go.
    let (ok, out) = in_ns(&net, &["nft", "delete", "table", "inet", "f2b-table"]);
    assert!(ok, "{out}");
    for args in [
        &[
            "iptables",
            "-D",
            "INPUT",
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--dports",
            "5060",
            "-j",
            "f2b-ipt",
        ][..],
        &["iptables", "-F", "f2b-ipt"],
        &["iptables", "-X", "f2b-ipt"],
    ] {
        let (ok, out) = in_ns(&net, args);
        assert!(ok, "{args:?}: {out}");
    }
    assert!(!rules().contains(first));

    // The next bans find them gone: the actions rebuild them, and the
    // reconcile this plans puts the earlier bans back.
    banip(&d, "nft", second);
    banip(&d, "ipt", second);
    d.wait_until("both bans back in both firewalls", |_| {
        let set = nft_set(&net, "addr-set-nft");
        let r = rules();
        set.contains(first) && set.contains(second) && r.contains(first) && r.contains(second)
    });
    for j in ["nft", "ipt"] {
        still_banned(&d, j, first);
        still_banned(&d, j, second);
    }
    assert!(reconciles() >= 4, "{}", d.server_output());
    d.stop();
    assert!(!net.ruleset().contains("f2b-"), "{}", net.ruleset());
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
}
