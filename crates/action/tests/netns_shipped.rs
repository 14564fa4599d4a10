//! gaoler's own shipped firewall actions, run for real inside private
//! network namespaces: the ipset family, iptables-new,
//! iptables-multiport-log, iptables-xt_recent-echo, iptables-docker-user,
//! ufw and route.
//!
//! Each scenario runs the action's commands in the "server" namespace of a
//! [`TestNet`] (via `ip netns exec`) and probes with packets from the
//! "client" namespace: a ban must block the banned address (only on the
//! jail's port where the action is port-specific, only for its own address
//! family), an unban or a flush must let it through again, and after the
//! stop the server's whole state (iptables and ip6tables rules, nftables,
//! ipsets, routes, xt_recent lists; counters aside) must be exactly what it
//! was before the start. Only TEST-NET addresses are used, on veth pairs
//! between namespaces made here; the host's firewall is never touched.
//!
//! * iptables-docker-user gets a third namespace behind the server, the
//!   "container", reached through DNAT and forwarding as Docker publishes
//!   ports; it runs once with no DOCKER-USER chain (the action makes and
//!   later removes it) and once with the chain Docker makes.
//! * ufw also keeps its state in files: every ufw command runs in a
//!   private mount namespace too, where copies in a temporary directory are
//!   bind-mounted over /etc/ufw, /lib/ufw and /etc/default/ufw. The host's
//!   files are compared byte for byte before and after.
//!
//! Ticket values from logs (`<matches>`, `<F-USER>`, ...) are hostile in
//! every ban, and bans of hostile non-address IDs are tried: nothing may
//! run (a marker file must not appear) and nothing may stay behind.
//!
//! Requirements: root, `ip`, `iptables`, `ip6tables` and their `-save`,
//! `nft`, `ipset`, `ufw`, `unshare`, `mount`. A missing requirement FAILS
//! the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gaoler_action::{ActionInfo, ActionSpec, CommandAction, Executor};
use gaoler_testkit::{in_netns, TestNet, CLIENT4, CLIENT6, SERVER4, SERVER6};

// Not every helper in common is used here.
#[allow(dead_code)]
mod common;

const BANNED_PORT: u16 = 5060;
const OTHER_PORT: u16 = 5061;

fn require_environment(extra: &[&str]) {
    let mut tools = vec![
        "ip",
        "iptables",
        "ip6tables",
        "iptables-save",
        "ip6tables-save",
        "nft",
        "ipset",
    ];
    tools.extend_from_slice(extra);
    common::require_root_and_tools(&tools);
}

/// How the action under test is named in the jail.
enum Act<'a> {
    /// `banaction = NAME` through jail.conf's stock `action_` line.
    Banaction(&'a str),
    /// `action = LINE`.
    Line(&'a str),
}

fn spec_for(act: &Act, jail: &str) -> ActionSpec {
    match act {
        Act::Banaction(name) => {
            let spec = common::action_properties(&common::shipped(), name, jail, BANNED_PORT);
            assert_eq!(&spec.name, name);
            spec
        }
        Act::Line(line) => common::configured_action(line, jail, BANNED_PORT),
    }
}

/// Runs `args` in `ns`; its stdout, or `None` when it fails.
fn try_in(ns: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("ip netns exec");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Counters and comment lines out, so that two equal states compare equal.
fn normalise(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        // The kernel adds the link-local address a moment after the veth
        // comes up, so it may appear between two snapshots: not an action's doing.
        if line.trim_start().starts_with('#') || line.contains("fe80:") {
            continue;
        }
        let mut words = Vec::new();
        let mut prev = "";
        for w in line.split_whitespace() {
            let counter = w.starts_with('[') && w.ends_with(']') && w.contains(':') && {
                let inner = &w[1..w.len() - 1];
                inner
                    .split(':')
                    .all(|n| n.chars().all(|c| c.is_ascii_digit()))
            };
            if counter {
                continue;
            }
            if prev == "packets" || prev == "bytes" {
                words.push("N");
            } else {
                words.push(w);
            }
            prev = w;
        }
        out.push(words.join(" "));
    }
    out.join("\n")
}

/// Makes iptables-nft create the built-in `filter` table and its INPUT and
/// FORWARD chains (for iptables and ip6tables) by a no-op insert and delete,
/// as on any host where the firewall has been used. iptables-nft creates
/// them on first use and never removes them, so without this a fresh
/// namespace's "before" snapshot would lack objects that no action made and
/// no action may remove.
fn prime_builtin_chains(net: &TestNet) {
    for ipt in ["iptables", "ip6tables"] {
        for chain in ["INPUT", "FORWARD"] {
            net.in_server(&[ipt, "-w", "-I", chain, "-j", "ACCEPT"]);
            net.in_server(&[ipt, "-w", "-D", chain, "-j", "ACCEPT"]);
        }
    }
}

/// Everything in the server namespace an action may change.
fn state(ns: &str) -> String {
    let get = |args: &[&str]| try_in(ns, args).unwrap_or_else(|| panic!("{args:?} failed"));
    let mut sets: Vec<String> = get(&["ipset", "list", "-n"])
        .lines()
        .map(str::to_string)
        .collect();
    sets.sort();
    normalise(&format!(
        "== iptables\n{}\n== ip6tables\n{}\n== nft\n{}\n== ipsets\n{}\n== routes\n{}\n{}\n== xt_recent\n{}",
        get(&["iptables-save"]),
        get(&["ip6tables-save"]),
        get(&["nft", "list", "ruleset"]),
        sets.join("\n"),
        get(&["ip", "-4", "route", "show", "table", "all"]),
        get(&["ip", "-6", "route", "show", "table", "all"]),
        get(&["sh", "-c", "ls /proc/net/xt_recent 2>/dev/null; true"]),
    ))
}

/// A TCP echo service in namespace `ns` on `ports` (dual-stack), so that
/// established connections can be tested too; stops on drop.
struct Echo {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn new(ns: &str, ports: &[u16]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for &port in ports {
            let listener = in_netns(ns, move || {
                TcpListener::bind(SocketAddr::from(([0u16; 8], port)))
                    .unwrap_or_else(|e| panic!("bind [::]:{port}: {e}"))
            });
            listener.set_nonblocking(true).expect("nonblocking");
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            std::thread::spawn(move || {
                                let _ = conn.set_nonblocking(false);
                                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                                let mut buf = [0u8; 512];
                                while let Ok(n) = conn.read(&mut buf) {
                                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }));
        }
        Echo { stop, threads }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A connection from the client namespace that stays open.
fn open_connection(net: &TestNet, addr: &str, port: u16) -> TcpStream {
    let target = SocketAddr::new(addr.parse().expect("address"), port);
    let s = in_netns(&net.client, move || {
        TcpStream::connect_timeout(&target, Duration::from_secs(2)).expect("connect")
    });
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s
}

/// Whether `conn` still carries data both ways.
fn still_talks(conn: &mut TcpStream) -> bool {
    if conn.write_all(b"ping").is_err() {
        return false;
    }
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).is_ok() && &buf == b"ping"
}

/// Bans of tickets whose ID is hostile text (not an address) claiming each
/// family: whatever the tool says, nothing may run.
fn hostile_ids(action: &mut CommandAction, marker: &Path) {
    for evil in common::hostile_values(marker) {
        for family in ["inet4", "inet6"] {
            let mut info = common::hostile_ticket(&evil, marker);
            info.set("family", family);
            let _ = action.ban(&info);
            let _ = action.unban(&info);
            assert!(!marker.exists(), "hostile ID {evil:?} was executed");
        }
    }
}

/// What one scenario checks for an action.
struct Case<'a> {
    tag: &'a str,
    act: Act<'a>,
    /// A ban blocks every port, not only the jail's.
    allports: bool,
    /// Whether the firewall holds a ban of this address (the jail is
    /// `gs<tag>`).
    held: &'a dyn Fn(&TestNet, &str, &str) -> bool,
    /// Extra checks while CLIENT4 is banned.
    while_banned: &'a dyn Fn(&TestNet, &str),
}

fn no_extra(_: &TestNet, _: &str) {}

fn scenario(case: Case) {
    let jail = format!("gs{}", case.tag);
    let spec = spec_for(&case.act, &jail);
    let net = TestNet::new(case.tag);
    let marker_dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_dir.path().join("PWNED");
    let _echo = Echo::new(&net.server, &[BANNED_PORT, OTHER_PORT]);
    net.wait_tcp_ready(BANNED_PORT);
    net.wait_tcp_ready(OTHER_PORT);
    prime_builtin_chains(&net);
    let before = state(&net.server);

    let mut action =
        CommandAction::with_executor(&spec, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    action.set_ipv6_allowed(true);
    action.start().expect("start");
    if action.start_on_demand() {
        assert_eq!(
            state(&net.server),
            before,
            "an on-demand action must not change anything at jail start"
        );
    }
    let held = |addr: &str| (case.held)(&net, &jail, addr);

    // Ban IPv4: only IPv4 traffic to the banned port(s) is blocked.
    action
        .ban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("ban v4");
    assert!(held(CLIENT4), "v4 ban not in the firewall");
    assert!(
        !net.tcp_reachable(SERVER4, BANNED_PORT),
        "v4 banned port still open"
    );
    assert_eq!(
        net.tcp_reachable(SERVER4, OTHER_PORT),
        !case.allports,
        "other port reachability (allports={})",
        case.allports
    );
    assert!(
        net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 blocked by a v4 ban"
    );
    (case.while_banned)(&net, &jail);

    // Ban IPv6.
    action
        .ban(&common::hostile_ticket(CLIENT6, &marker))
        .expect("ban v6");
    assert!(held(CLIENT6), "v6 ban not in the firewall");
    assert!(
        !net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 banned port still open"
    );
    assert_eq!(net.tcp_reachable(SERVER6, OTHER_PORT), !case.allports);

    // Unban IPv4: traffic flows again, IPv6 stays banned.
    action
        .unban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("unban v4");
    assert!(!held(CLIENT4), "v4 still in the firewall after its unban");
    assert!(
        net.tcp_reachable(SERVER4, BANNED_PORT),
        "v4 still blocked after unban"
    );
    assert!(net.tcp_reachable(SERVER4, OTHER_PORT));
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));

    // Flush (or unban, for actions without a flush) lifts the IPv6 ban.
    if action.has_flush() {
        assert!(action.flush().expect("flush"));
    } else {
        action
            .unban(&common::hostile_ticket(CLIENT6, &marker))
            .expect("unban v6");
    }
    assert!(!held(CLIENT6), "v6 still in the firewall");
    assert!(
        net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 still blocked after flush/unban"
    );

    // Restart without stop (a crash): the restored bans take effect again
    // and a second copy does no harm.
    action
        .ban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("ban again");
    let mut restarted =
        CommandAction::with_executor(&spec, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    restarted.set_ipv6_allowed(true);
    restarted.start().expect("restart");
    let mut restored = common::hostile_ticket(CLIENT4, &marker);
    restored.set_restored(true);
    restarted.ban(&restored).expect("restored ban");
    assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
    restarted
        .ban(&common::hostile_ticket(CLIENT6, &marker))
        .expect("ban v6");
    hostile_ids(&mut restarted, &marker);
    assert!(held(CLIENT4) && held(CLIENT6));
    assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));

    // Unban, stop: everything as it was before the start.
    restarted
        .unban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("unban");
    assert!(!held(CLIENT4), "a restored ban left a copy behind");
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    restarted
        .unban(&common::hostile_ticket(CLIENT6, &marker))
        .expect("unban");
    restarted.stop().expect("stop");
    drop(action);
    let after = state(&net.server);
    assert_eq!(after, before, "the stop left something behind");
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT));
    assert!(!marker.exists(), "a hostile value was executed");
}

fn ipset_held(net: &TestNet, jail: &str, addr: &str) -> bool {
    let set = format!("f2b-{jail}{}", if addr.contains(':') { "6" } else { "" });
    try_in(&net.server, &["ipset", "test", &set, addr]).is_some()
}

fn ipset_case(tag: &str, banaction: &str, allports: bool) {
    require_environment(&[]);
    scenario(Case {
        tag,
        act: Act::Banaction(banaction),
        allports,
        held: &ipset_held,
        while_banned: &|net, jail| {
            // one rule per chain and protocol, however many bans
            let save = try_in(&net.server, &["iptables-save"]).expect("save");
            let rules = save
                .lines()
                .filter(|l| l.contains(&format!("--match-set f2b-{jail} src")))
                .count();
            assert_eq!(rules, 1, "{save}");
        },
    });
}

#[test]
fn iptables_ipset_in_netns() {
    ipset_case("a", "iptables-ipset", false);
}

#[test]
fn iptables_ipset_proto6_in_netns() {
    ipset_case("b", "iptables-ipset-proto6", false);
}

#[test]
fn iptables_ipset_proto6_allports_in_netns() {
    ipset_case("c", "iptables-ipset-proto6-allports", true);
}

#[test]
fn iptables_ipset_proto4_in_netns() {
    ipset_case("d", "iptables-ipset-proto4", false);
}

/// `-A <chain> -s <addr>/<len> ...` is in the (ip6)tables of the server.
fn rule_held(net: &TestNet, chain: &str, addr: &str) -> bool {
    let v6 = addr.contains(':');
    let save = try_in(
        &net.server,
        &[if v6 {
            "ip6tables-save"
        } else {
            "iptables-save"
        }],
    )
    .expect("save");
    let needle = format!(" -s {addr}/{} ", if v6 { 128 } else { 32 });
    save.lines()
        .any(|l| l.starts_with(&format!("-A {chain} ")) && l.contains(&needle))
}

#[test]
fn iptables_new_in_netns() {
    require_environment(&[]);
    scenario(Case {
        tag: "e",
        act: Act::Banaction("iptables-new"),
        allports: false,
        held: &|net, jail, addr| rule_held(net, &format!("f2b-{jail}"), addr),
        while_banned: &|net, _| {
            let save = try_in(&net.server, &["iptables-save"]).expect("save");
            assert!(save.contains("--ctstate NEW"), "{save}");
        },
    });
}

#[test]
fn iptables_new_keeps_established_connections() {
    require_environment(&[]);
    let jail = "gsf";
    let spec = spec_for(&Act::Banaction("iptables-new"), jail);
    let net = TestNet::new("f");
    let _echo = Echo::new(&net.server, &[BANNED_PORT]);
    net.wait_tcp_ready(BANNED_PORT);
    let mut action =
        CommandAction::with_executor(&spec, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    action.set_ipv6_allowed(true);
    // The jail is already running and has banned someone else, so its
    // conntrack rules exist in both families. Connection tracking starts
    // in a network namespace only once a rule needs it: a connection opened
    // before that is first seen mid-stream, and its packets count as NEW
    // until one is answered (see the note in iptables-new.conf).
    action
        .ban(&ActionInfo::for_id("203.0.113.9"))
        .expect("ban other v4");
    action
        .ban(&ActionInfo::for_id("2001:db8:ffff::9"))
        .expect("ban other v6");
    let mut conn4 = open_connection(&net, SERVER4, BANNED_PORT);
    let mut conn6 = open_connection(&net, SERVER6, BANNED_PORT);
    assert!(still_talks(&mut conn4) && still_talks(&mut conn6));
    action.ban(&ActionInfo::for_id(CLIENT4)).expect("ban v4");
    action.ban(&ActionInfo::for_id(CLIENT6)).expect("ban v6");
    assert!(
        !net.tcp_reachable(SERVER4, BANNED_PORT),
        "new v4 connection"
    );
    assert!(
        !net.tcp_reachable(SERVER6, BANNED_PORT),
        "new v6 connection"
    );
    assert!(still_talks(&mut conn4), "established v4 connection cut");
    assert!(still_talks(&mut conn6), "established v6 connection cut");

    // The plain iptables action, for contrast, cuts it.
    let plain = spec_for(&Act::Banaction("iptables-multiport"), "gsf2");
    let mut plain =
        CommandAction::with_executor(&plain, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    plain.ban(&ActionInfo::for_id(CLIENT4)).expect("ban");
    assert!(!still_talks(&mut conn4), "iptables-multiport keeps it");
    plain.stop().expect("stop");
    action.stop().expect("stop");
}

#[test]
fn iptables_multiport_log_in_netns() {
    require_environment(&[]);
    scenario(Case {
        tag: "g",
        act: Act::Banaction("iptables-multiport-log"),
        allports: false,
        held: &|net, jail, addr| rule_held(net, &format!("f2b-{jail}"), addr),
        while_banned: &|net, jail| {
            // the blocked packets went through the LOG rule
            let listing = try_in(
                &net.server,
                &[
                    "iptables",
                    "-w",
                    "-n",
                    "-v",
                    "-x",
                    "-L",
                    &format!("f2b-{jail}-log"),
                ],
            )
            .expect("listing");
            let log_line = listing
                .lines()
                .find(|l| l.contains("LOG"))
                .unwrap_or_else(|| panic!("no LOG rule:\n{listing}"));
            assert!(
                log_line.contains(&format!("prefix \"f2b-{jail}:DROP \"")),
                "{log_line}"
            );
            let packets: u64 = log_line
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .expect("packet count");
            assert!(packets > 0, "nothing was logged:\n{listing}");
        },
    });
}

#[test]
fn iptables_xt_recent_echo_in_netns() {
    require_environment(&[]);
    scenario(Case {
        tag: "h",
        act: Act::Banaction("iptables-xt_recent-echo"),
        allports: true,
        held: &|net, jail, addr| {
            let list = format!(
                "/proc/net/xt_recent/f2b-{jail}{}",
                if addr.contains(':') { "6" } else { "" }
            );
            // The kernel prints IPv6 addresses in full
            // (src=2001:0db8:0000:...), so compare parsed addresses.
            let want: std::net::IpAddr = addr.parse().expect("address");
            try_in(&net.server, &["cat", &list])
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("src="))
                .any(|a| a.parse::<std::net::IpAddr>().ok() == Some(want))
        },
        while_banned: &no_extra,
    });
}

#[test]
fn route_in_netns() {
    require_environment(&[]);
    scenario(Case {
        tag: "i",
        act: Act::Banaction("route"),
        allports: true,
        held: &|net, _, addr| {
            let fam = if addr.contains(':') { "-6" } else { "-4" };
            try_in(&net.server, &["ip", fam, "route", "show", "table", "all"])
                .expect("routes")
                .lines()
                .any(|l| {
                    l.starts_with(&format!("unreachable {addr} "))
                        || l == format!("unreachable {addr}")
                })
        },
        while_banned: &no_extra,
    });
}

#[test]
fn route_blackhole_in_netns() {
    require_environment(&[]);
    scenario(Case {
        tag: "j",
        act: Act::Line("route[blocktype=blackhole]"),
        allports: true,
        held: &|net, _, addr| {
            let fam = if addr.contains(':') { "-6" } else { "-4" };
            try_in(&net.server, &["ip", fam, "route", "show", "table", "all"])
                .expect("routes")
                .lines()
                .any(|l| l.starts_with(&format!("blackhole {addr}")))
        },
        while_banned: &no_extra,
    });
}

// ---------------------------------------------------------------- docker

/// A "container" namespace behind the server, its ports 8060/8061
/// published on the server's 5060/5061 by DNAT, the server forwarding.
struct Container {
    ns: String,
    _echo: Option<Echo>,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .status();
    }
}

const CTR4: &str = "198.51.100.2";
const CTR6: &str = "2001:db8:1::2";

fn container(net: &TestNet, tag: &str) -> Container {
    let pid = std::process::id();
    let mut ctr = Container {
        ns: format!("gaoler-t-{pid}-{tag}-ctr"),
        _echo: None,
    };
    gaoler_testkit::run(&["ip", "netns", "add", &ctr.ns]);
    let host_if = format!("d{}{tag}h", pid % 100_000);
    let ctr_if = format!("d{}{tag}c", pid % 100_000);
    gaoler_testkit::veth(&net.server, &host_if, &ctr.ns, &ctr_if);
    let srv = |args: &[&str]| net.in_server(args);
    let c = |args: &[&str]| net.ns(&ctr.ns, args);
    srv(&["ip", "addr", "add", "198.51.100.1/24", "dev", &host_if]);
    srv(&[
        "ip",
        "-6",
        "addr",
        "add",
        "2001:db8:1::1/64",
        "dev",
        &host_if,
        "nodad",
    ]);
    srv(&["ip", "link", "set", &host_if, "up"]);
    c(&["ip", "link", "set", "lo", "up"]);
    c(&["ip", "addr", "add", &format!("{CTR4}/24"), "dev", &ctr_if]);
    c(&[
        "ip",
        "-6",
        "addr",
        "add",
        &format!("{CTR6}/64"),
        "dev",
        &ctr_if,
        "nodad",
    ]);
    c(&["ip", "link", "set", &ctr_if, "up"]);
    c(&["ip", "route", "add", "default", "via", "198.51.100.1"]);
    c(&[
        "ip",
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8:1::1",
    ]);
    srv(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    srv(&["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
    for (published, inner) in [(BANNED_PORT, 8060u16), (OTHER_PORT, 8061)] {
        let p = published.to_string();
        srv(&[
            "iptables",
            "-w",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            &p,
            "-j",
            "DNAT",
            "--to-destination",
            &format!("{CTR4}:{inner}"),
        ]);
        srv(&[
            "ip6tables",
            "-w",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            &p,
            "-j",
            "DNAT",
            "--to-destination",
            &format!("[{CTR6}]:{inner}"),
        ]);
    }
    ctr._echo = Some(Echo::new(&ctr.ns, &[8060, 8061]));
    ctr
}

/// What Docker itself sets up: DOCKER-USER ending in RETURN, jumped to
/// first thing in FORWARD.
fn docker_chains(net: &TestNet) {
    for ipt in ["iptables", "ip6tables"] {
        net.in_server(&[ipt, "-w", "-N", "DOCKER-USER"]);
        net.in_server(&[ipt, "-w", "-A", "DOCKER-USER", "-j", "RETURN"]);
        net.in_server(&[ipt, "-w", "-I", "FORWARD", "-j", "DOCKER-USER"]);
    }
}

/// The jail's line for the action. As for any action named in `action =`,
/// the jail's port and protocol reach it only when passed (the stock
/// `action_` line of jail.conf does the same); otherwise its own default
/// port (ssh) applies.
const DOCKER_LINE: &str = r#"iptables-docker-user[port="%(port)s", protocol="%(protocol)s"]"#;

fn docker_user(tag: &str, docker_present: bool, line: &str, allports: bool) {
    require_environment(&[]);
    let jail = format!("gs{tag}");
    let spec = common::configured_action(line, &jail, BANNED_PORT);
    let net = TestNet::new(tag);
    let _ctr = container(&net, tag);
    if docker_present {
        docker_chains(&net);
    }
    net.wait_tcp_ready(BANNED_PORT);
    net.wait_tcp_ready(OTHER_PORT);
    let marker_dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_dir.path().join("PWNED");
    prime_builtin_chains(&net);
    let before = state(&net.server);

    let mut action =
        CommandAction::with_executor(&spec, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    action.set_ipv6_allowed(true);
    action.start().expect("start");
    let held = |addr: &str| rule_held(&net, &format!("f2b-{jail}-docker"), addr);

    action
        .ban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("ban v4");
    assert!(held(CLIENT4));
    let save = net.in_server(&["iptables-save"]);
    assert!(
        save.contains("-A FORWARD -j DOCKER-USER")
            || save.contains("-A FORWARD -m comment --comment gaoler-created -j DOCKER-USER"),
        "{save}"
    );
    assert_eq!(
        save.contains("gaoler-created"),
        !docker_present,
        "DOCKER-USER made only when missing:\n{save}"
    );
    assert!(
        !net.tcp_reachable(SERVER4, BANNED_PORT),
        "published v4 port still open to the banned address"
    );
    assert_eq!(net.tcp_reachable(SERVER4, OTHER_PORT), !allports);
    assert!(
        net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 blocked by v4 ban"
    );

    action
        .ban(&common::hostile_ticket(CLIENT6, &marker))
        .expect("ban v6");
    assert!(held(CLIENT6));
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));
    assert_eq!(net.tcp_reachable(SERVER6, OTHER_PORT), !allports);

    action
        .unban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("unban v4");
    assert!(!held(CLIENT4));
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));

    assert!(action.flush().expect("flush"));
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT));

    // FORWARD flushed behind our back (another tool restarting the
    // firewall): the check sees that a DOCKER-USER made here is no longer
    // consulted, and the repair hooks it in again.
    if !docker_present {
        net.in_server(&["iptables", "-w", "-F", "FORWARD"]);
        let epoch = action.ban_epoch();
        assert!(action.consistency_check().expect("check"), "not repaired");
        assert!(
            action.ban_epoch() > epoch,
            "repair must invalidate the epoch"
        );
        let save = net.in_server(&["iptables-save"]);
        assert!(
            save.contains("-A FORWARD -m comment --comment gaoler-created -j DOCKER-USER"),
            "{save}"
        );
    }
    action
        .ban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("ban");
    assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
    hostile_ids(&mut action, &marker);
    action.stop().expect("stop");
    assert_eq!(state(&net.server), before, "the stop left something behind");
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT));
    assert!(!marker.exists(), "a hostile value was executed");
}

#[test]
fn docker_user_without_docker_in_netns() {
    docker_user("k", false, DOCKER_LINE, false);
}

#[test]
fn docker_user_with_docker_chain_in_netns() {
    docker_user("l", true, DOCKER_LINE, false);
}

#[test]
fn docker_user_allports_in_netns() {
    docker_user(
        "m",
        false,
        "iptables-docker-user[type=allports, protocol=\"%(protocol)s\"]",
        true,
    );
}

/// Start, bans and stop with no DOCKER-USER: the state after the stop is
/// exactly the one before the start.
#[test]
fn docker_user_stop_restores_state_in_netns() {
    require_environment(&[]);
    let jail = "gsn";
    let spec = common::configured_action(DOCKER_LINE, jail, BANNED_PORT);
    let net = TestNet::new("n");
    let _ctr = container(&net, "n");
    net.wait_tcp_ready(BANNED_PORT);
    prime_builtin_chains(&net);
    let before = state(&net.server);
    let mut action =
        CommandAction::with_executor(&spec, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    action.set_ipv6_allowed(true);
    action.ban(&ActionInfo::for_id(CLIENT4)).expect("ban");
    action.ban(&ActionInfo::for_id(CLIENT6)).expect("ban");
    assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));
    // a second jail shares DOCKER-USER; the first stop keeps it
    let other = common::configured_action(DOCKER_LINE, "gsn2", BANNED_PORT);
    let mut other =
        CommandAction::with_executor(&other, Executor::with_wrapper(net.server_wrapper()))
            .expect("action");
    other.ban(&ActionInfo::for_id("192.0.2.99")).expect("ban");
    action.stop().expect("stop");
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    let save = net.in_server(&["iptables-save"]);
    assert!(
        save.contains("-A FORWARD -m comment --comment gaoler-created -j DOCKER-USER"),
        "{save}"
    );
    other.stop().expect("stop");
    assert_eq!(state(&net.server), before, "the stop left something behind");
}

// ------------------------------------------------------------------- ufw

/// ufw's files: a copy of each in a temporary directory, bind-mounted over
/// the real path in a private mount namespace for every ufw command.
struct UfwRoot {
    dir: tempfile::TempDir,
}

const UFW_PATHS: [(&str, &str); 3] = [
    ("etc-ufw", "/etc/ufw"),
    ("lib-ufw", "/lib/ufw"),
    ("default-ufw", "/etc/default/ufw"),
];

impl UfwRoot {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (copy, real) in UFW_PATHS {
            let dst = dir.path().join(copy);
            gaoler_testkit::run(&["cp", "-a", real, dst.to_str().expect("utf-8")]);
        }
        // Accept what no rule mentions (the test's probes), and no sysctl
        // changes.
        let sysctl = dir.path().join("sysctl.conf");
        std::fs::write(&sysctl, "").expect("sysctl.conf");
        let default = dir.path().join("default-ufw");
        let text = std::fs::read_to_string(&default).expect("default");
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("DEFAULT_INPUT_POLICY=") {
                    "DEFAULT_INPUT_POLICY=\"ACCEPT\"".to_string()
                } else if l.starts_with("IPT_SYSCTL=") {
                    format!("IPT_SYSCTL={}", sysctl.display())
                } else if l.starts_with("IPV6=") {
                    "IPV6=yes".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&default, text.join("\n") + "\n").expect("default");
        UfwRoot { dir }
    }

    /// The argv prefix: the server's network namespace, a private mount
    /// namespace with the copies in place.
    fn wrapper(&self, net: &TestNet) -> Vec<String> {
        let mounts: Vec<String> = UFW_PATHS
            .iter()
            .map(|(copy, real)| {
                format!(
                    "mount --bind '{}' '{real}'",
                    self.dir.path().join(copy).display()
                )
            })
            .collect();
        let mut w = net.server_wrapper();
        w.extend([
            "unshare".to_string(),
            "-m".to_string(),
            "--propagation".to_string(),
            "private".to_string(),
            "sh".to_string(),
            "-c".to_string(),
            format!("{} && exec \"$@\"", mounts.join(" && ")),
            "gaoler-ufw".to_string(),
        ]);
        w
    }

    fn ufw(&self, net: &TestNet, args: &[&str]) -> String {
        let mut argv = self.wrapper(net);
        argv.push("ufw".to_string());
        argv.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        gaoler_testkit::run(&refs)
    }
}

/// Every file under the real ufw paths: path, mode and content.
fn ufw_host_files() -> Vec<(PathBuf, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(p: &Path, out: &mut Vec<(PathBuf, u32, Vec<u8>)>) {
        let meta = std::fs::symlink_metadata(p).expect("metadata");
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .expect("read_dir")
                .map(|e| e.expect("entry").path())
                .collect();
            entries.sort();
            out.push((p.to_path_buf(), meta.permissions().mode(), Vec::new()));
            for e in entries {
                walk(&e, out);
            }
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(p).expect("link");
            out.push((
                p.to_path_buf(),
                0,
                target.to_string_lossy().into_owned().into_bytes(),
            ));
        } else {
            out.push((
                p.to_path_buf(),
                meta.permissions().mode(),
                std::fs::read(p).expect("read"),
            ));
        }
    }
    let mut out = Vec::new();
    for (_, real) in UFW_PATHS {
        walk(Path::new(real), &mut out);
    }
    out
}

#[test]
fn ufw_in_netns() {
    require_environment(&["ufw", "unshare", "mount"]);
    let host_before = ufw_host_files();
    let root = UfwRoot::new();
    let jail = "gso";
    let net = TestNet::new("o");
    let _echo = Echo::new(&net.server, &[BANNED_PORT, OTHER_PORT]);
    net.wait_tcp_ready(BANNED_PORT);
    let out = root.ufw(&net, &["--force", "enable"]);
    assert!(out.contains("active"), "{out}");
    // ufw's packaged user6.rules lacks the ufw6-user-limit rules; ufw
    // writes them on its first rule change, whoever makes it. One no-op
    // change here, so that "before" is ufw's steady state.
    root.ufw(&net, &["allow", "from", "203.0.113.77"]);
    root.ufw(&net, &["delete", "allow", "from", "203.0.113.77"]);
    net.wait_tcp_ready(BANNED_PORT);
    let before = state(&net.server);
    let executor = Executor::with_wrapper(root.wrapper(&net));
    let marker_dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_dir.path().join("PWNED");

    let spec = spec_for(&Act::Banaction("ufw"), jail);
    let mut action = CommandAction::with_executor(&spec, executor.clone()).expect("action");
    action.set_ipv6_allowed(true);
    action.start().expect("start");

    action
        .ban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("ban v4");
    let status = root.ufw(&net, &["status"]);
    assert!(status.contains(CLIENT4), "{status}");
    assert!(
        status.contains(&format!("by Fail2Ban after 3 attempts against {jail}")),
        "{status}"
    );
    assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(
        !net.tcp_reachable(SERVER4, OTHER_PORT),
        "ufw bans every port"
    );
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT));

    action
        .ban(&common::hostile_ticket(CLIENT6, &marker))
        .expect("ban v6");
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));
    // the same ban again (restored after a restart) adds nothing
    action
        .ban(&common::hostile_ticket(CLIENT6, &marker))
        .expect("ban v6 again");

    action
        .unban(&common::hostile_ticket(CLIENT4, &marker))
        .expect("unban v4");
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT));
    action
        .unban(&common::hostile_ticket(CLIENT6, &marker))
        .expect("unban v6");
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT));
    hostile_ids(&mut action, &marker);
    action.stop().expect("stop");
    let status = root.ufw(&net, &["status"]);
    assert!(!status.contains("Fail2Ban"), "{status}");
    assert_eq!(
        state(&net.server),
        before,
        "the unbans left something behind"
    );

    // Hostile jail names reach ufw only as comment text.
    for (i, evil) in common::hostile_values(&marker).into_iter().enumerate() {
        if evil.contains('\n') || evil.contains(" ;") || (evil.contains('"') && evil.contains('\''))
        {
            continue; // not expressible in a configuration file
        }
        let quoted = if evil.contains('"') {
            format!("'{evil}'")
        } else {
            format!("\"{evil}\"")
        };
        let spec = common::configured_action(&format!("ufw[name={quoted}]"), jail, BANNED_PORT);
        let mut action = CommandAction::with_executor(&spec, executor.clone()).expect("action");
        action
            .ban(&common::hostile_ticket(CLIENT4, &marker))
            .expect("ban");
        let status = root.ufw(&net, &["status"]);
        let comment = format!(
            "by Fail2Ban after 3 attempts against {}",
            evil.replace('\'', "")
        );
        assert!(status.contains(&comment), "value {i}: {status}");
        assert!(!net.tcp_reachable(SERVER4, BANNED_PORT));
        action
            .unban(&common::hostile_ticket(CLIENT4, &marker))
            .expect("unban");
        assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
        assert!(!marker.exists(), "hostile name {evil:?} was executed");
    }
    assert_eq!(state(&net.server), before);

    drop(net);
    assert!(
        ufw_host_files() == host_before,
        "the host's ufw files changed"
    );
}
