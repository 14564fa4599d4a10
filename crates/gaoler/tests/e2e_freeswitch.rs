//! The FreeSWITCH scenario end to end, with real firewalls in private
//! network namespaces.
//!
//! The configuration is what a fail2ban user has: the stock tree plus the
//! FreeSWITCH guide's `jail.d/freeswitch.local` (ignoreip, maxretry = 4,
//! findtime, a short bantime, port 5060, separate tcp and udp actions), the
//! guide's custom-intrusion recipe as a jail of its own reading a CDR CSV
//! with `"FAIL2BAN_HOST=<ip>"` lines, and `recidive` reading gaoler's own log.
//! The daemon runs inside the "server" namespace (so its firewall commands
//! only touch that namespace), a UDP service answers on 5060 there, and the
//! attacker sends from the "client" namespace.

mod common;

use common::*;
use gaoler_testkit::{TestNet, CLIENT4, CLIENT6, SERVER4, SERVER6};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SIP: u16 = 5060;
/// Addresses the guide's `ignoreip` covers (the "LAN").
const LAN4: &str = "198.51.100.7";
const LAN6: &str = "2001:db8:1::7";

/// Local time in the FreeSWITCH log format (`2026-11-25 16:40:00.123456`).
fn fs_now() -> String {
    let out = Command::new("date")
        .arg("+%Y-%m-%d %H:%M:%S.%6N")
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open log");
    writeln!(f, "{line}").expect("append");
}

fn auth_failure(ip: &str) -> String {
    format!(
        "{} [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile 'internal' for [1001@192.0.2.1] from ip {ip}",
        fs_now()
    )
}

/// Lay out the configuration tree the guide describes.
fn guide_tree(dir: &Path, banaction: &str, bantime: u32, engine: &str) {
    let conf = dir.join("conf");
    copy_tree(&upstream().join("config"), &conf);
    let fs_log = dir.join("freeswitch.log");
    let cdr = dir.join("Master.csv");
    std::fs::write(&fs_log, "").expect("log");
    std::fs::write(&cdr, "").expect("cdr");
    // recidive's logpath must exist when the configuration is read.
    std::fs::write(dir.join("gaoler.log"), "").expect("server log");
    let d = dir.display();
    write_files(
        &conf,
        &[
            (
                "fail2ban.local",
                &format!("[Definition]\nlogtarget = {d}/gaoler.log\ndbfile = {d}/gaoler.sqlite3\nsocket = {d}/gaoler.sock\npidfile = {d}/gaoler.pid\n"),
            ),
            (
                "jail.d/freeswitch.local",
                &format!(
                    "[DEFAULT]\nbanaction = {banaction}\nbanaction_allports = {}\nbackend = auto\nactionengine = {engine}\n\n\
                     [freeswitch]\nenabled = true\n# Ignore failures from our local internal network\n\
                     ignoreip = 127.0.0.0/8 {LAN4} {LAN6}\nmaxretry = 4 ; for a total of five failures\n\
                     findtime = 3600 ; based on empirical testing\nbantime = {bantime}\nport = 5060\n\
                     action = %(banaction)s[name=%(__name__)s-tcp, port=\"%(port)s\", protocol=\"tcp\", chain=\"%(chain)s\", actname=%(banaction)s-tcp]\n\
                     \x20        %(banaction)s[name=%(__name__)s-udp, port=\"%(port)s\", protocol=\"udp\", chain=\"%(chain)s\", actname=%(banaction)s-udp]\n\
                     logpath = {}\n\n\
                     [freeswitch-cdr]\nenabled = true\nfilter = freeswitch-cdr\nignoreip = {LAN4}\nmaxretry = 1\nfindtime = 3600\n\
                     bantime = {bantime}\nport = 5060\nprotocol = udp\nlogpath = {}\n\n\
                     [recidive]\nenabled = true\nlogpath = {d}/gaoler.log\nmaxretry = 2\n",
                    banaction.replace("multiport", "allports"),
                    fs_log.display(),
                    cdr.display()
                ),
            ),
            (
                "filter.d/freeswitch-cdr.conf",
                "# The guide's custom intrusion recipe: the CDR template writes\n\
                 # \"FAIL2BAN_HOST=<caller address>\" for calls to unknown numbers.\n\
                 [Definition]\nfailregex = \\\"FAIL2BAN_HOST=<HOST>\\\"\nignoreregex =\ndatepattern = {NONE}\n",
            ),
        ],
    );
}

fn firewall_has(net: &TestNet, banaction: &str, chain_or_set: &str, ip: &str) -> bool {
    let v6 = ip.contains(':');
    let args: Vec<String> = if banaction.starts_with("nftables") {
        let set = format!(
            "{}-{chain_or_set}",
            if v6 { "addr6-set" } else { "addr-set" }
        );
        vec![
            "nft".into(),
            "list".into(),
            "set".into(),
            "inet".into(),
            "f2b-table".into(),
            set,
        ]
    } else {
        let tool = if v6 { "ip6tables" } else { "iptables" };
        vec![
            tool.into(),
            "-n".into(),
            "-L".into(),
            format!("f2b-{chain_or_set}"),
        ]
    };
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &net.server]).args(&args);
    let out = cmd.output().expect("firewall listing");
    // A missing chain/set (not started yet) means "not banned".
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains(ip)
}

fn scenario(
    tag: &str,
    banaction: &str,
    engine: &str,
    attacker: &str,
    server_addr: &str,
    lan: &str,
) {
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "ip6tables", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let bantime = 20;
    guide_tree(dir, banaction, bantime, engine);
    let fs_log = dir.join("freeswitch.log");
    let cdr = dir.join("Master.csv");

    let net = TestNet::new(tag);
    let _udp = net.udp_echo(SIP);
    net.wait_udp_ready(SIP);

    let d = Daemon::start(dir, Some(&net.server));
    for j in ["freeswitch", "freeswitch-cdr", "recidive"] {
        d.wait_jail(j);
    }
    assert!(d.status("freeswitch").contains("Currently banned:\t0"));

    // Below maxretry: nothing happens.
    for _ in 0..3 {
        append(&fs_log, &auth_failure(attacker));
    }
    d.wait_until("3 failures counted", |d| {
        d.status("freeswitch").contains("Total failed:\t3")
    });
    assert!(!d.banned("freeswitch", attacker));
    assert!(
        net.udp_reachable(server_addr, SIP),
        "dropped below maxretry"
    );

    // The LAN address is ignored however often it fails.
    for _ in 0..6 {
        append(&fs_log, &auth_failure(lan));
    }
    // At maxretry: banned, in the firewall, packets dropped.
    append(&fs_log, &auth_failure(attacker));
    d.wait_until("attacker banned", |d| d.banned("freeswitch", attacker));
    // Actions run after the ban is recorded: wait for the kernel rules.
    d.wait_until("udp rule present", |_| {
        firewall_has(&net, banaction, "freeswitch-udp", attacker)
    });
    d.wait_until("tcp rule present", |_| {
        firewall_has(&net, banaction, "freeswitch-tcp", attacker)
    });
    assert!(
        !net.udp_reachable(server_addr, SIP),
        "attacker still reaches 5060/udp"
    );
    assert!(!d.banned("freeswitch", lan), "ignoreip address was banned");
    assert!(!firewall_has(&net, banaction, "freeswitch-udp", lan));

    // unbanip / banip.
    let (ok, out) = d.client(&["set", "freeswitch", "unbanip", attacker]);
    assert!(ok, "{out}");
    assert!(!d.banned("freeswitch", attacker));
    d.wait_until("udp rule removed", |_| {
        !firewall_has(&net, banaction, "freeswitch-udp", attacker)
    });
    assert!(
        net.udp_reachable(server_addr, SIP),
        "traffic must flow after unbanip"
    );
    let (ok, out) = d.client(&["set", "freeswitch", "banip", attacker]);
    assert!(ok, "{out}");
    d.wait_until("banip in status", |d| d.banned("freeswitch", attacker));
    d.wait_until("udp rule back", |_| {
        firewall_has(&net, banaction, "freeswitch-udp", attacker)
    });
    assert!(
        !net.udp_reachable(server_addr, SIP),
        "banip must drop again"
    );

    // Two bans of the same address in the server's log: recidive bans it.
    d.wait_until("recidive bans the repeat offender", |d| {
        d.banned("recidive", attacker)
    });

    // The CDR recipe: one intrusion line bans (maxretry = 1 in that jail).
    let intruder = if attacker.contains(':') {
        "2001:db8::99"
    } else {
        "192.0.2.99"
    };
    append(
        &cdr,
        &format!("\"1001\",\"9999\",\"FAIL2BAN_HOST={intruder}\",\"2026-11-25\""),
    );
    d.wait_until("CDR intruder banned", |d| {
        d.banned("freeswitch-cdr", intruder)
    });

    // Stop: no f2b rules remain.
    d.stop();
    let rules = net.ruleset();
    assert!(
        !rules.contains("f2b-"),
        "firewall not clean after stop:\n{rules}"
    );
    assert!(net.udp_reachable(server_addr, SIP));

    // Restart: the ban is back (restored from the database).
    let d = Daemon::start(dir, Some(&net.server));
    d.wait_jail("freeswitch");
    d.wait_until("ban restored after restart", |d| {
        d.banned("freeswitch", attacker)
    });
    d.wait_until("firewall rule restored", |_| {
        firewall_has(&net, banaction, "freeswitch-udp", attacker)
    });
    assert!(!net.udp_reachable(server_addr, SIP));

    // recidive (all ports, a week) would keep blocking; lift it by hand so
    // the freeswitch ban's own expiry is what opens the port.
    d.wait_until("recidive ban restored", |d| d.banned("recidive", attacker));
    let (ok, out) = d.client(&["set", "recidive", "unbanip", attacker]);
    assert!(ok, "{out}");

    // After bantime the ban is lifted and traffic flows again.
    let deadline = Instant::now() + Duration::from_secs(bantime as u64 + 15);
    while d.banned("freeswitch", attacker) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        !d.banned("freeswitch", attacker),
        "ban not lifted after bantime\n{}",
        d.server_output()
    );
    d.wait_until("udp rule lifted", |_| {
        !firewall_has(&net, banaction, "freeswitch-udp", attacker)
    });
    d.wait_until("recidive rule lifted", |_| {
        !firewall_has(&net, banaction, "recidive", attacker)
    });
    assert!(
        net.udp_reachable(server_addr, SIP),
        "traffic must flow after bantime"
    );
    d.stop();
    assert!(!net.ruleset().contains("f2b-"));
}

#[test]
fn freeswitch_guide_with_iptables() {
    scenario("fi", "iptables-multiport", "auto", CLIENT4, SERVER4, LAN4);
}

#[test]
fn freeswitch_guide_with_nftables_and_ipv6_attacker() {
    scenario("fn", "nftables-multiport", "auto", CLIENT6, SERVER6, LAN6);
}

/// `actionengine = shell`: fail2ban's per-address commands throughout.
#[test]
fn freeswitch_guide_with_iptables_through_the_shell() {
    scenario("fj", "iptables-multiport", "shell", CLIENT4, SERVER4, LAN4);
}

#[test]
fn freeswitch_guide_with_nftables_through_the_shell() {
    scenario("fm", "nftables-multiport", "shell", CLIENT6, SERVER6, LAN6);
}
