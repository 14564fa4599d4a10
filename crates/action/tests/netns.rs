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
//! The action properties come from Debian's `fail2ban-client -d` run on a
//! temporary copy of the upstream configuration (see
//! [`fail2ban_action_properties`]); that is the only place to change when
//! these tests switch to gaoler's own configuration reader.
//!
//! Requirements: root, `ip`, `iptables`, `ip6tables`, `nft`,
//! `fail2ban-client`, `python3`. A missing requirement FAILS the test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gaoler_action::{ActionInfo, ActionSpec, CommandAction, Executor};

const SERVER4: &str = "192.0.2.1";
const CLIENT4: &str = "192.0.2.2";
const SERVER6: &str = "2001:db8::1";
const CLIENT6: &str = "2001:db8::2";
const BANNED_PORT: u16 = 5060;
const OTHER_PORT: u16 = 5061;

fn require_environment() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "netns firewall tests need root (to create network namespaces)"
    );
    for tool in [
        "ip",
        "iptables",
        "ip6tables",
        "nft",
        "fail2ban-client",
        "python3",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(found, "netns firewall tests need `{tool}` in PATH");
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pair of namespaces joined by a veth; deleted on drop.
struct TestNet {
    server: String,
    client: String,
}

impl TestNet {
    fn new(tag: &str) -> Self {
        remove_stale_namespaces();
        let pid = std::process::id();
        let net = TestNet {
            server: format!("gaoler-t-{pid}-{tag}-srv"),
            client: format!("gaoler-t-{pid}-{tag}-cli"),
        };
        // Guard exists before anything is created, so a failure below still
        // cleans up.
        run(&["ip", "netns", "add", &net.server]);
        run(&["ip", "netns", "add", &net.client]);
        // Interface names must be unique while the pair is being created;
        // keep them within IFNAMSIZ (15).
        let vs = format!("g{}{tag}s", pid % 100_000);
        let vc = format!("g{}{tag}c", pid % 100_000);
        run(&[
            "ip",
            "link",
            "add",
            &vs,
            "netns",
            &net.server,
            "type",
            "veth",
            "peer",
            "name",
            &vc,
            "netns",
            &net.client,
        ]);
        for (ns, dev, a4, a6) in [
            (&net.server, &vs, SERVER4, SERVER6),
            (&net.client, &vc, CLIENT4, CLIENT6),
        ] {
            net.ns(ns, &["ip", "link", "set", "lo", "up"]);
            net.ns(ns, &["ip", "addr", "add", &format!("{a4}/24"), "dev", dev]);
            net.ns(
                ns,
                &[
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    &format!("{a6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ],
            );
            net.ns(ns, &["ip", "link", "set", dev, "up"]);
        }
        net
    }

    /// Runs a command inside namespace `ns` and returns stdout.
    fn ns(&self, ns: &str, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(args);
        run(&v)
    }

    fn in_server(&self, args: &[&str]) -> String {
        self.ns(&self.server, args)
    }

    fn executor(&self) -> Executor {
        Executor::with_wrapper(["ip", "netns", "exec", self.server.as_str()])
    }

    /// Everything the firewall has in the server namespace.
    fn ruleset(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.in_server(&["iptables-save"]),
            self.in_server(&["ip6tables-save"]),
            self.in_server(&["nft", "list", "ruleset"])
        )
    }

    /// Listeners on the server for both test ports (dual-stack sockets,
    /// created inside the server namespace).
    fn listen(&self) -> Vec<TcpListener> {
        in_netns(&self.server, || {
            [BANNED_PORT, OTHER_PORT]
                .iter()
                .map(|p| {
                    TcpListener::bind(SocketAddr::from(([0u16; 8], *p)))
                        .unwrap_or_else(|e| panic!("bind [::]:{p}: {e}"))
                })
                .collect()
        })
    }

    /// Whether a TCP connection from the client to `addr:port` succeeds.
    fn reachable(&self, addr: &str, port: u16) -> bool {
        let target: SocketAddr = SocketAddr::new(addr.parse().expect("address"), port);
        in_netns(&self.client, move || {
            TcpStream::connect_timeout(&target, Duration::from_millis(1500)).is_ok()
        })
    }

    /// Waits until the link works (IPv6 may need a moment).
    fn wait_ready(&self) {
        for _ in 0..50 {
            if self.reachable(SERVER4, BANNED_PORT) && self.reachable(SERVER6, BANNED_PORT) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("test network not ready");
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            // Deleting the namespace also removes its veth end and firewall.
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Deletes test namespaces left behind by test processes that were killed
/// before their guards ran (only `gaoler-t-<pid>-*` of dead pids).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix("gaoler-t-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns`
/// (setns affects only the calling thread; sockets keep their namespace).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file =
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        // SAFETY: the fd is a valid namespace file for the duration of the
        // call; only this thread's network namespace changes.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// The action property list fail2ban's client sends for `banaction` in a
/// jail named `jail` (port 5060, tcp): runs Debian's `fail2ban-client -d`
/// on a temporary copy of the upstream configuration and parses the
/// `["multi-set", jail, "action", ...]` line.
///
/// Later this will switch to gaoler's own configuration reader.
fn fail2ban_action_properties(banaction: &str, jail: &str) -> ActionSpec {
    let upstream =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fail2ban-upstream/config");
    assert!(
        upstream.join("jail.conf").is_file(),
        "upstream configuration missing at {}",
        upstream.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("cfg");
    run(&[
        "cp",
        "-r",
        upstream.to_str().expect("utf-8 path"),
        cfg.to_str().expect("utf-8 path"),
    ]);
    std::fs::create_dir_all(cfg.join("jail.d")).expect("jail.d");
    let log = tmp.path().join("empty.log");
    std::fs::write(&log, "").expect("log file");
    std::fs::write(
        cfg.join("jail.d/zz-gaoler-test.local"),
        format!(
            "[{jail}]\nenabled = true\nfilter = sshd\nbackend = polling\nport = {BANNED_PORT}\nlogpath = {}\nbanaction = {banaction}\n",
            log.display()
        ),
    )
    .expect("jail.d file");
    let dump = run(&["fail2ban-client", "-c", cfg.to_str().expect("utf-8"), "-d"]);
    // The dump is Python repr; let Python turn the stream lines into JSON.
    let mut conv = Command::new("python3")
        .args([
            "-c",
            "import ast,json,sys\nfor l in sys.stdin:\n  l=l.strip()\n  if l.startswith('['): print(json.dumps(ast.literal_eval(l)))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        let mut stdin = conv.stdin.take().expect("stdin");
        stdin.write_all(dump.as_bytes()).expect("write dump");
    }
    let out = conv.wait_with_output().expect("python3 output");
    assert!(out.status.success(), "converting the dump failed");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        if v[0] == "multi-set" && v[1] == jail && v[2] == "action" {
            let properties = v[4]
                .as_array()
                .expect("property list")
                .iter()
                .map(|p| {
                    let value = match &p[1] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (p[0].as_str().expect("key").to_string(), value)
                })
                .collect();
            return ActionSpec {
                jail: jail.to_string(),
                name: v[3].as_str().expect("action name").to_string(),
                properties,
            };
        }
    }
    panic!("no action for jail {jail} in the fail2ban-client dump:\n{dump}");
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
    let spec = fail2ban_action_properties(banaction, &jail);
    assert_eq!(spec.name, banaction);

    let net = TestNet::new(tag);
    let _listeners = net.listen();
    net.wait_ready();

    let mut action = CommandAction::with_executor(&spec, net.executor()).expect("action");
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
        !net.reachable(SERVER4, BANNED_PORT),
        "v4 banned port still open"
    );
    assert_eq!(
        net.reachable(SERVER4, OTHER_PORT),
        !allports,
        "other port reachability (allports={allports})"
    );
    assert!(
        net.reachable(SERVER6, BANNED_PORT),
        "v6 blocked by a v4 ban"
    );

    // Ban IPv6 (starts the inet6 family on demand).
    action.ban(&c6).expect("ban v6");
    assert!(banned_in_firewall(&net, kind, &jail, CLIENT6));
    assert!(
        !net.reachable(SERVER6, BANNED_PORT),
        "v6 banned port still open"
    );
    assert_eq!(net.reachable(SERVER6, OTHER_PORT), !allports);

    // Unban IPv4: traffic flows again, IPv6 stays banned.
    action.unban(&c4).expect("unban v4");
    assert!(!banned_in_firewall(&net, kind, &jail, CLIENT4));
    assert!(
        net.reachable(SERVER4, BANNED_PORT),
        "v4 still blocked after unban"
    );
    assert!(net.reachable(SERVER4, OTHER_PORT));
    assert!(!net.reachable(SERVER6, BANNED_PORT));

    // Flush: removes the remaining IPv6 ban.
    assert!(action.has_flush());
    action.flush().expect("flush");
    assert!(
        net.reachable(SERVER6, BANNED_PORT),
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
        assert!(!net.reachable(SERVER4, BANNED_PORT));
        // The inet6 family lost its set too; its next ban repairs it.
        action.ban(&c6).expect("ban v6 after repair");
        assert!(banned_in_firewall(&net, kind, &jail, CLIENT6));
        assert!(!net.reachable(SERVER6, BANNED_PORT));
    } else {
        action.ban(&c4).expect("ban again");
        assert!(!net.reachable(SERVER4, BANNED_PORT));
    }

    // Stop: everything of ours is gone, traffic flows.
    action.stop().expect("stop");
    let rules = net.ruleset();
    assert!(!rules.contains("f2b-"), "leftovers after stop:\n{rules}");
    assert!(net.reachable(SERVER4, BANNED_PORT));
    assert!(net.reachable(SERVER6, BANNED_PORT));
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
    let spec = fail2ban_action_properties("nftables-multiport", "gte");
    let net = TestNet::new("e");
    let mut action = CommandAction::with_executor(&spec, net.executor()).expect("action");
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
