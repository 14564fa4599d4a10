//! gaoler's own firewallcmd-* actions against a REAL firewalld.
//!
//! Every test starts its own firewalld inside a private network namespace
//! (the "server" of a [`TestNet`]) AND a private mount namespace:
//! `ip netns exec SERVER unshare -m sh start.sh`, where the script makes
//! mounts private, puts a tmpfs on /run (so the system bus socket
//! /run/dbus/system_bus_socket and /run/firewalld are the test's own),
//! bind-mounts a temporary configuration directory over /etc/firewalld,
//! and starts a private `dbus-daemon --system`-like bus and
//! `firewalld --nofork --nopid` on it. The actions' commands run in the
//! same two namespaces (`nsenter -t HOLDER -n -m /bin/sh -c ...`), so
//! `firewall-cmd` talks to the private firewalld only. The host's
//! firewalld (none runs), D-Bus, /etc/firewalld and firewall are never
//! touched: every test compares the host's `nft list ruleset`,
//! `iptables-save` and `ip6tables-save` before and after.
//!
//! Packets from the "client" namespace show that a ban blocks (only the
//! jail's port where the action is port-specific, only its own family),
//! that an unban or a flush lets traffic through again, and after the
//! stop nothing named f2b- is left in firewalld's direct rules and chains,
//! its ipsets, the zone's rich rules, iptables, ip6tables, the nftables
//! ruleset or the kernel's ipsets.
//!
//! Hostile ticket IDs (shell code, quotes, newlines, option-like values,
//! rich-rule syntax) must never run anything (a marker file must not
//! appear) and must never reach firewalld.
//!
//! firewalld, dbus-daemon and the namespaces are removed by RAII guards,
//! also when a test fails.
//!
//! Requirements (FAIL if missing): root; `ip`, `nsenter`, `unshare`,
//! `mount`, `iptables`, `ip6tables` (+ `-save`), `nft`, `ipset`,
//! `dbus-daemon`, `firewalld`, `firewall-cmd` (Debian packages iproute2,
//! util-linux, mount, iptables, nftables, ipset, dbus, firewalld).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gaoler_action::{ActionInfo, ActionSpec, CommandAction, Executor};
use gaoler_testkit::{TestNet, CLIENT4, CLIENT6, SERVER4, SERVER6};

#[allow(dead_code)]
mod common;

const BANNED_PORT: u16 = 5060;
const OTHER_PORT: u16 = 5061;

fn require_environment() {
    common::require_root_and_tools(&[
        "ip",
        "nsenter",
        "unshare",
        "mount",
        "iptables",
        "ip6tables",
        "iptables-save",
        "ip6tables-save",
        "nft",
        "ipset",
        "dbus-daemon",
        "firewalld",
        "firewall-cmd",
    ]);
}

// ---------------------------------------------------------------------------
// The host must stay untouched.

/// `text` without comment lines (timestamps) and packet counters.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        // ":INPUT ACCEPT [12:345]" and "counter packets 1 bytes 2"
        let line = match line.rfind(" [") {
            Some(i) if line.starts_with(':') => &line[..i],
            _ => line,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut kept = Vec::new();
        let mut i = 0;
        while i < words.len() {
            if words[i] == "packets" || words[i] == "bytes" {
                i += 2;
                continue;
            }
            kept.push(words[i]);
            i += 1;
        }
        out.push_str(&kept.join(" "));
        out.push('\n');
    }
    out
}

/// The host's firewall, with counters and timestamps left out.
fn host_firewall() -> String {
    let mut out = String::new();
    for cmd in [
        &["nft", "list", "ruleset"][..],
        &["iptables-save"][..],
        &["ip6tables-save"][..],
        &["ipset", "list", "-n"][..],
    ] {
        out.push_str(&format!("== {cmd:?}\n"));
        out.push_str(&normalize(&gaoler_testkit::run(cmd)));
    }
    out
}

/// Compares the host's firewall at drop time with the one at creation.
struct HostUnchanged {
    before: String,
}

impl HostUnchanged {
    fn new() -> Self {
        Self {
            before: host_firewall(),
        }
    }
}

impl Drop for HostUnchanged {
    fn drop(&mut self) {
        let after = host_firewall();
        if !std::thread::panicking() {
            assert_eq!(self.before, after, "the HOST's firewall changed");
        } else if self.before != after {
            eprintln!(
                "the HOST's firewall changed:\n{}\n---\n{after}",
                self.before
            );
        }
    }
}

// ---------------------------------------------------------------------------
// A private firewalld.

const FIREWALLD_CONF: &str = "\
DefaultZone=public
CleanupOnExit=yes
CleanupModulesOnExit=no
Lockdown=no
IPv6_rpfilter=yes
IndividualCalls=no
LogDenied=off
FirewallBackend=nftables
FlushAllOnReload=yes
";

/// The default zone, with the test ports open (permanent, so that a
/// reload keeps them).
fn public_zone() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <service name="ssh"/>
  <port protocol="tcp" port="{BANNED_PORT}"/>
  <port protocol="tcp" port="{OTHER_PORT}"/>
</zone>
"#
    )
}

/// A system bus for the private mount namespace only.
const BUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"#;

/// Runs in `ip netns exec SERVER unshare -m`: its own mounts, its own bus,
/// its own firewalld. `$1` is the test's directory. The shell stays as the
/// namespace holder until it is killed.
const START_SH: &str = r#"set -e
D="$1"
mount --make-rprivate /
mount -t tmpfs -o mode=0755 gaoler-fwd /run
mkdir -p /run/dbus
mount --bind "$D/etc" /etc/firewalld
dbus-daemon --config-file="$D/bus.conf" --nofork --nopidfile > "$D/dbus.log" 2>&1 &
echo $! > "$D/dbus.pid"
for i in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done
firewalld --nofork --nopid --log-target=file --log-file="$D/firewalld.log" > "$D/firewalld.out" 2>&1 &
echo $! > "$D/firewalld.pid"
echo started > "$D/started"
wait
"#;

/// A firewalld with its own bus in the server namespace of a [`TestNet`]
/// and a private mount namespace; killed on drop.
struct PrivateFirewalld {
    dir: tempfile::TempDir,
    holder: Child,
}

impl PrivateFirewalld {
    fn start(net: &TestNet) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("etc/zones")).expect("etc");
        for sub in ["ipsets", "services", "icmptypes", "helpers", "policies"] {
            std::fs::create_dir_all(d.join("etc").join(sub)).expect("etc subdir");
        }
        std::fs::write(d.join("etc/firewalld.conf"), FIREWALLD_CONF).expect("conf");
        std::fs::write(d.join("etc/zones/public.xml"), public_zone()).expect("zone");
        std::fs::write(d.join("bus.conf"), BUS_CONF).expect("bus.conf");
        std::fs::write(d.join("start.sh"), START_SH).expect("start.sh");
        let holder = Command::new("ip")
            .args(["netns", "exec", &net.server, "unshare", "-m", "sh"])
            .arg(d.join("start.sh"))
            .arg(d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the private firewalld");
        let fw = PrivateFirewalld { dir, holder };
        fw.wait_running();
        fw
    }

    /// `nsenter` into the holder's network and mount namespaces.
    fn wrapper(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            "-t".into(),
            self.holder.id().to_string(),
            "-n".into(),
            "-m".into(),
        ]
    }

    fn executor(&self) -> Executor {
        Executor::with_wrapper(self.wrapper())
    }

    /// Runs `args` in the private namespaces: (success, stdout, stderr).
    fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let w = self.wrapper();
        let out = Command::new(&w[0])
            .args(&w[1..])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `args` in the private namespaces; panics unless it succeeds.
    fn run(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_run(args);
        assert!(ok, "{args:?} failed:\n{out}\n{err}\n{}", self.logs());
        out
    }

    fn firewall_cmd(&self, args: &[&str]) -> String {
        let mut v = vec!["firewall-cmd"];
        v.extend_from_slice(args);
        self.run(&v)
    }

    fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- firewalld.log\n{}\n--- firewalld.out\n{}\n--- dbus.log\n{}",
            read("firewalld.log"),
            read("firewalld.out"),
            read("dbus.log")
        )
    }

    fn wait_running(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if self.dir.path().join("started").exists() {
                let (ok, out, _) = self.try_run(&["firewall-cmd", "--state"]);
                if ok && out.trim() == "running" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the private firewalld did not start:\n{}", self.logs());
    }

    /// Everything that could hold something of ours.
    fn state(&self) -> String {
        let mut s = String::new();
        for args in [
            &["firewall-cmd", "--direct", "--get-all-chains"][..],
            &["firewall-cmd", "--direct", "--get-all-rules"][..],
            &["firewall-cmd", "--get-ipsets"][..],
            &["firewall-cmd", "--permanent", "--get-ipsets"][..],
            &["firewall-cmd", "--zone=public", "--list-rich-rules"][..],
            &["iptables-save"][..],
            &["ip6tables-save"][..],
            &["nft", "list", "ruleset"][..],
            &["ipset", "list", "-n"][..],
        ] {
            s.push_str(&format!("== {args:?}\n{}\n", normalize(&self.run(args))));
        }
        s
    }

    fn rich_rules(&self) -> String {
        self.firewall_cmd(&["--zone=public", "--list-rich-rules"])
    }

    fn pid(&self, file: &str) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

impl Drop for PrivateFirewalld {
    fn drop(&mut self) {
        // Only the processes this guard started, by their ids.
        for file in ["firewalld.pid", "dbus.pid"] {
            let Some(pid) = self.pid(file) else { continue };
            if pid <= 1 {
                continue;
            }
            // SAFETY: plain syscall on a pid we started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

// ---------------------------------------------------------------------------
// Actions as the configuration reader makes them.

/// What kind of firewalld object holds the bans.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// A direct-interface chain f2b-<jail>.
    Chain,
    /// A kernel ipset f2b-<jail>[6] and a direct rule.
    KernelSet,
    /// A firewalld ipset f2b-<jail>[6] and rich rules.
    FirewalldSet,
    /// One rich rule per ban.
    Rich,
}

fn is_banned(fw: &PrivateFirewalld, kind: Kind, jail: &str, addr: &str) -> bool {
    let v6 = addr.contains(':');
    let set = format!("f2b-{jail}{}", if v6 { "6" } else { "" });
    match kind {
        Kind::Chain => fw
            .firewall_cmd(&[
                "--direct",
                "--get-rules",
                if v6 { "ipv6" } else { "ipv4" },
                "filter",
                &format!("f2b-{jail}"),
            ])
            .lines()
            .any(|l| l.split_whitespace().any(|w| w == addr)),
        Kind::KernelSet => fw
            .run(&["ipset", "list", &set])
            .lines()
            .any(|l| l.split_whitespace().next() == Some(addr)),
        Kind::FirewalldSet => fw
            .firewall_cmd(&[&format!("--ipset={set}"), "--get-entries"])
            .lines()
            .any(|l| l.trim() == addr),
        Kind::Rich => fw.rich_rules().contains(&format!("address=\"{addr}\"")),
    }
}

/// No f2b- object anywhere (a firewalld-backend set may stay in the
/// runtime configuration, emptied, until firewalld's next reload).
fn assert_clean(fw: &PrivateFirewalld, kind: Kind, jail: &str) {
    let state = fw.state();
    let leftovers: Vec<&str> = state
        .lines()
        .filter(|l| l.contains("f2b-"))
        .filter(|l| {
            // The emptied runtime set of the firewalld backend, and the
            // nft set that holds it, are expected.
            !(kind == Kind::FirewalldSet && runtime_set_line(l, jail))
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "leftovers after stop: {leftovers:?}\n{state}"
    );
    if kind == Kind::FirewalldSet {
        for set in [format!("f2b-{jail}"), format!("f2b-{jail}6")] {
            let (ok, out, _) =
                fw.try_run(&["firewall-cmd", &format!("--ipset={set}"), "--get-entries"]);
            assert!(!ok || out.trim().is_empty(), "{set} not emptied: {out}");
        }
        assert!(
            !fw.firewall_cmd(&["--permanent", "--get-ipsets"])
                .contains("f2b-"),
            "permanent ipset definitions left"
        );
    }
}

fn runtime_set_line(line: &str, jail: &str) -> bool {
    let l = line.trim();
    let names = [format!("f2b-{jail}"), format!("f2b-{jail}6")];
    // "firewall-cmd --get-ipsets" prints the names on one line;
    // nft prints "set f2b-x {".
    l.split_whitespace().all(|w| names.iter().any(|n| n == w))
        || names.iter().any(|n| l == format!("set {n} {{"))
}

struct Setup {
    // Drop order: action first (declared last), then firewalld, then the
    // namespaces, then the host comparison.
    _host: HostUnchanged,
    net: TestNet,
    fw: PrivateFirewalld,
    _listeners: Vec<std::net::TcpListener>,
}

fn setup(tag: &str) -> Setup {
    require_environment();
    let host = HostUnchanged::new();
    let net = TestNet::new(tag);
    let listeners = net.listen_tcp(&[BANNED_PORT, OTHER_PORT]);
    let fw = PrivateFirewalld::start(&net);
    // The test ports are open in the private firewalld's default zone.
    net.wait_tcp_ready(BANNED_PORT);
    net.wait_tcp_ready(OTHER_PORT);
    Setup {
        _host: host,
        net,
        fw,
        _listeners: listeners,
    }
}

fn new_action(spec: &ActionSpec, fw: &PrivateFirewalld) -> CommandAction {
    let mut action = CommandAction::with_executor(spec, fw.executor()).expect("action");
    action.set_ipv6_allowed(true);
    action
}

/// The whole life of one action: start, bans of both families, unban,
/// flush, a firewalld reload behind the action's back (repair), stop.
fn scenario(tag: &str, line: &str, kind: Kind, allports: bool) {
    let jail = format!("fw{tag}");
    let spec = if let Some(banaction) = line.strip_prefix("banaction=") {
        // jail.conf's own action_ line with banaction = NAME
        common::action_properties(&common::shipped(), banaction, &jail, BANNED_PORT)
    } else {
        common::configured_action(line, &jail, BANNED_PORT)
    };
    let started = Instant::now();
    let s = setup(tag);
    let (net, fw) = (&s.net, &s.fw);
    let mut action = new_action(&spec, fw);
    let baseline = fw.state();

    assert!(
        action.start_on_demand(),
        "firewallcmd actions start on demand"
    );
    action.start().expect("start");
    assert_eq!(fw.state(), baseline, "on-demand start changed the firewall");

    let c4 = ActionInfo::for_id(CLIENT4);
    let c6 = ActionInfo::for_id(CLIENT6);

    // IPv4 ban: only IPv4, only the banned port unless allports.
    action.ban(&c4).expect("ban v4");
    assert!(is_banned(fw, kind, &jail, CLIENT4), "{}", fw.state());
    assert!(
        !net.tcp_reachable(SERVER4, BANNED_PORT),
        "v4 ban does not block"
    );
    assert_eq!(
        net.tcp_reachable(SERVER4, OTHER_PORT),
        !allports,
        "other port"
    );
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT), "v4 ban blocks v6");

    // IPv6 ban: the inet6 family starts on demand.
    action.ban(&c6).expect("ban v6");
    assert!(is_banned(fw, kind, &jail, CLIENT6), "{}", fw.state());
    assert!(
        !net.tcp_reachable(SERVER6, BANNED_PORT),
        "v6 ban does not block"
    );
    assert_eq!(net.tcp_reachable(SERVER6, OTHER_PORT), !allports);
    assert!(
        !net.tcp_reachable(SERVER4, BANNED_PORT),
        "v6 start lost v4 ban"
    );

    // A second ban of the same address (a restored ban) adds no copy.
    action.ban(&c4).expect("ban v4 again");

    // IPv4 unban: v4 flows again, v6 stays banned.
    action.unban(&c4).expect("unban v4");
    assert!(!is_banned(fw, kind, &jail, CLIENT4), "{}", fw.state());
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT), "v4 still blocked");
    assert!(!net.tcp_reachable(SERVER6, BANNED_PORT), "v6 unbanned too");

    // Flush (or unban where the action has no flush).
    if action.has_flush() {
        assert!(action.flush().expect("flush"));
    } else {
        action.unban(&c6).expect("unban v6");
    }
    assert!(!is_banned(fw, kind, &jail, CLIENT6), "{}", fw.state());
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT), "v6 still blocked");

    // firewalld reloaded behind our back: runtime rules are gone. The
    // jail's consistency check (or a failing ban) notices it through
    // actioncheck and sets the jail up again.
    fw.firewall_cmd(&["--reload"]);
    action.consistency_check().expect("consistency check");
    action.ban(&c4).expect("ban after a firewalld reload");
    assert!(is_banned(fw, kind, &jail, CLIENT4), "{}", fw.state());
    assert!(
        !net.tcp_reachable(SERVER4, BANNED_PORT),
        "no ban after reload"
    );
    action.ban(&c6).expect("v6 ban after a firewalld reload");
    assert!(
        !net.tcp_reachable(SERVER6, BANNED_PORT),
        "no v6 ban after reload"
    );

    // Jail stop: flush (or unban each ticket), then stop. Nothing of ours
    // is left, traffic flows.
    if action.has_flush() {
        assert!(action.flush().expect("flush"));
    } else {
        action.unban(&c4).expect("unban v4");
        action.unban(&c6).expect("unban v6");
    }
    action.stop().expect("stop");
    assert_clean(fw, kind, &jail);
    assert!(net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(net.tcp_reachable(SERVER6, BANNED_PORT));
    eprintln!("{line}: {:.1} s", started.elapsed().as_secs_f64());
}

fn line(action: &str, jail_tag: &str, extra: &str) -> String {
    format!("{action}[name=fw{jail_tag}, port=\"{BANNED_PORT}\", protocol=tcp{extra}]")
}

#[test]
fn firewallcmd_multiport_real_firewalld() {
    scenario("a", "banaction=firewallcmd-multiport", Kind::Chain, false);
}

#[test]
fn firewallcmd_new_real_firewalld() {
    scenario("b", &line("firewallcmd-new", "b", ""), Kind::Chain, false);
}

#[test]
fn firewallcmd_allports_real_firewalld() {
    scenario(
        "c",
        &line("firewallcmd-allports", "c", ""),
        Kind::Chain,
        true,
    );
}

#[test]
fn firewallcmd_ipset_real_firewalld() {
    scenario(
        "d",
        &line("firewallcmd-ipset", "d", ""),
        Kind::KernelSet,
        false,
    );
}

#[test]
fn firewallcmd_ipset_allports_real_firewalld() {
    scenario(
        "e",
        &line("firewallcmd-ipset", "e", ", actiontype=<allports>"),
        Kind::KernelSet,
        true,
    );
}

#[test]
fn firewallcmd_ipset_firewalld_backend_real_firewalld() {
    scenario(
        "f",
        &line("firewallcmd-ipset", "f", ", ipsetbackend=firewalld"),
        Kind::FirewalldSet,
        false,
    );
}

#[test]
fn firewallcmd_rich_rules_real_firewalld() {
    scenario(
        "g",
        &line("firewallcmd-rich-rules", "g", ""),
        Kind::Rich,
        false,
    );
}

#[test]
fn firewallcmd_rich_logging_real_firewalld() {
    scenario(
        "h",
        &line("firewallcmd-rich-logging", "h", ""),
        Kind::Rich,
        false,
    );
}

/// The rule text of rich-logging: a log part before the reject.
#[test]
fn firewallcmd_rich_logging_rule_text() {
    let s = setup("i");
    let spec = common::configured_action(
        &line("firewallcmd-rich-logging", "i", ""),
        "fwi",
        BANNED_PORT,
    );
    let mut action = new_action(&spec, &s.fw);
    action.start().expect("start");
    action.ban(&ActionInfo::for_id(CLIENT4)).expect("ban");
    let rules = s.fw.rich_rules();
    assert!(
        rules.contains("source address=\"192.0.2.2\"")
            && rules.contains("prefix=\"f2b-fwi\"")
            && rules.contains("level=\"info\"")
            && rules.contains("limit value=\"1/m\""),
        "{rules}"
    );
    assert!(!s.net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(s.net.tcp_reachable(SERVER4, OTHER_PORT));
    action.unban(&ActionInfo::for_id(CLIENT4)).expect("unban");
    assert!(s.net.tcp_reachable(SERVER4, BANNED_PORT));
    action.stop().expect("stop");
    assert_clean(&s.fw, Kind::Rich, "fwi");
}

/// Ports as a range with ':' in rich rules (firewalld wants '-').
#[test]
fn firewallcmd_rich_rules_port_range() {
    let s = setup("j");
    let spec = common::configured_action(
        &format!(
            "firewallcmd-rich-rules[name=fwj, port=\"{BANNED_PORT}:{OTHER_PORT}\", protocol=tcp]"
        ),
        "fwj",
        BANNED_PORT,
    );
    let mut action = new_action(&spec, &s.fw);
    action.ban(&ActionInfo::for_id(CLIENT4)).expect("ban");
    assert!(!s.net.tcp_reachable(SERVER4, BANNED_PORT));
    assert!(!s.net.tcp_reachable(SERVER4, OTHER_PORT));
    assert!(s.net.tcp_reachable(SERVER6, OTHER_PORT));
    action.unban(&ActionInfo::for_id(CLIENT4)).expect("unban");
    assert!(s.net.tcp_reachable(SERVER4, OTHER_PORT));
    action.stop().expect("stop");
    assert_clean(&s.fw, Kind::Rich, "fwj");
}

// ---------------------------------------------------------------------------
// Hostile IDs.

/// Values a jail matching `<F-ID>` could hand over as the ticket's "ip".
fn hostile_ids(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        "`id`".into(),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!(";touch {m};"),
        format!("192.0.2.7;touch {m}"),
        format!("192.0.2.7 && touch {m}"),
        format!("~! touch {m}"),
        format!("192.0.2.7\n~!touch {m}\nSubject: x\nBcc: root@example.org"),
        "-oQ/tmp/x".into(),
        "192.0.2.7 -j ACCEPT".into(),
        "--reload".into(),
        "'".into(),
        "192.0.2.7'".into(),
        // rich-rule syntax: would turn the ban into an accept
        "192.0.2.7\" accept rule family=\"ipv4".into(),
        "192.0.2.7\" port port=\"1-65535\" protocol=\"tcp\" accept".into(),
    ]
}

fn hostile(tag: &str, line: &str, kind: Kind) {
    let s = setup(tag);
    let jail = format!("fw{tag}");
    let spec = common::configured_action(line, &jail, BANNED_PORT);
    let mut action = new_action(&spec, &s.fw);
    // Start the family with a real ban first, so that only the hostile
    // ban itself is tried below.
    action.ban(&ActionInfo::for_id(CLIENT4)).expect("ban");
    let before = s.fw.state();
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("PWNED");
    for evil in hostile_ids(&marker) {
        let info = ActionInfo::for_id(&evil).with("family", "inet4");
        // The commands as they run: the value arrives as data (a shell
        // argument, or pasted inside double quotes when it has nothing
        // the shell would expand) and is refused before any tool sees it;
        // the refusal quotes it verbatim.
        for tag in ["<actionban>", "<actionunban>"] {
            let cmd = action.render(tag, &info).expect("render");
            let out = s.fw.executor().execute(&cmd, Duration::from_secs(60));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.success(), "{line}: {tag} of {evil:?} succeeded");
            assert!(
                err.contains(&format!(
                    "not an IP address, not given to firewalld: {evil}"
                )),
                "{line}: {tag} of {evil:?}: {err}"
            );
            assert!(!marker.exists(), "{line}: {tag} of {evil:?} was executed");
        }
        // And through the action's own ban/unban (retry, check, repair).
        assert!(
            action.ban(&info).is_err(),
            "{line}: ban of {evil:?} succeeded"
        );
        assert!(!marker.exists(), "{line}: {evil:?} was executed");
        let _ = action.unban(&info);
        assert!(!marker.exists(), "{line}: unban of {evil:?} was executed");
    }
    assert_eq!(
        s.fw.state(),
        before,
        "{line}: a hostile ID reached the firewall"
    );
    // The real ban still works and nothing was let through.
    assert!(!s.net.tcp_reachable(SERVER4, BANNED_PORT));
    action.unban(&ActionInfo::for_id(CLIENT4)).expect("unban");
    action.stop().expect("stop");
    assert_clean(&s.fw, kind, &jail);
}

#[test]
fn hostile_ids_are_data() {
    for (tag, action, extra, kind) in [
        ("k", "firewallcmd-multiport", "", Kind::Chain),
        ("l", "firewallcmd-allports", "", Kind::Chain),
        ("m", "firewallcmd-rich-rules", "", Kind::Rich),
        ("n", "firewallcmd-rich-logging", "", Kind::Rich),
        ("o", "firewallcmd-ipset", "", Kind::KernelSet),
        (
            "p",
            "firewallcmd-ipset",
            ", ipsetbackend=firewalld",
            Kind::FirewalldSet,
        ),
    ] {
        hostile(tag, &line(action, tag, extra), kind);
    }
}
