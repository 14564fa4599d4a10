//! Debian's own `fail2ban-client` against `gaoler server` and against
//! Debian's `fail2ban-server` (issue 13): the same configuration, each
//! server in a private network namespace of its own, the same commands
//! one after the other; output and exit status must be the same, with
//! timestamps, process ids and the test directory masked. The
//! differences that remain are listed in [`KNOWN`] (and in the README).
//!
//! Requirements: root, `ip`, `nft`, Debian's fail2ban package.

mod common;

use common::*;
use gaoler_testkit::TestNet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CLIENT: &str = "/usr/bin/fail2ban-client";
const SERVER: &str = "/usr/bin/fail2ban-server";

/// Commands whose output differs, with why (also in the README).
const KNOWN: &[(&str, &str)] = &[
    (
        "status --all",
        "fail2ban 1.1's; Debian's 1.0.2 server has no such flavour, gaoler answers it",
    ),
    (
        "stats",
        "fail2ban 1.1's; Debian's 1.0.2 server has no such command, gaoler answers it",
    ),
];

/// Differences of fail2ban version rather than of implementation, made
/// equal before comparing (also in the README): gaoler follows upstream's
/// current sources, Debian ships 1.0.2. The IPv6 part of `<HOST>`/`<ADDR>`
/// is `(?:[0-9a-fA-F]{1,4}::?|:){1,7}` upstream, `...|::){1,7}` in 1.0.2.
const VERSION: &[(&str, &str)] = &[("|::){1,7}", "|:){1,7}")];

/// The configuration both servers run: upstream's tree, one jail on a
/// log file.
fn write_tree(dir: &Path) {
    let conf = dir.join("conf");
    copy_tree(&upstream().join("config"), &conf);
    let d = dir.display().to_string();
    write_files(
        &conf,
        &[
            (
                "fail2ban.local",
                &format!(
                    "[Definition]\nlogtarget = {d}/server.log\nsocket = {d}/s.sock\n\
                     pidfile = {d}/s.pid\ndbfile = {d}/db.sqlite3\n"
                ),
            ),
            (
                "jail.local",
                &format!(
                    "[DEFAULT]\nbackend = polling\nignoreself = false\nbanaction = nftables-multiport\n\n\
                     [sshd]\nenabled = true\nbackend = polling\nport = 5060\nlogpath = {d}/auth.log\n"
                ),
            ),
        ],
    );
    std::fs::write(dir.join("auth.log"), "").expect("log");
}

struct Server {
    dir: tempfile::TempDir,
    net: TestNet,
    child: std::process::Child,
}

impl Server {
    /// `kind`'s server; `tag` names its namespace (unique per test).
    fn start(kind: &str, tag: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        write_tree(dir.path());
        let net = TestNet::new(tag);
        let d = dir.path();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &net.server]);
        if kind == "gaoler" {
            cmd.arg(env!("CARGO_BIN_EXE_gaoler")).arg("server");
        } else {
            cmd.args(["/usr/bin/python3", SERVER]);
        }
        let child = cmd
            .arg("-c")
            .arg(d.join("conf"))
            .args(["-f", "-x", "-s"])
            .arg(d.join("s.sock"))
            .arg("-p")
            .arg(d.join("s.pid"))
            .stdout(std::fs::File::create(d.join("out")).expect("out"))
            .stderr(std::fs::File::create(d.join("err")).expect("err"))
            .spawn()
            .expect("start server");
        let s = Server { dir, net, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while s.run(&["ping"]).2 != 0 {
            assert!(Instant::now() < deadline, "{kind} did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        while !s.run(&["status", "sshd"]).0.contains("Actions") {
            assert!(Instant::now() < deadline, "{kind}: no jail");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// Debian's client, as an admin runs it: (stdout, stderr, status).
    fn run(&self, args: &[&str]) -> (String, String, i32) {
        self.run_with(&["/usr/bin/python3", CLIENT], args, "")
    }

    /// A client (`argv`) with `args` and `input` on its stdin.
    fn run_with(&self, argv: &[&str], args: &[&str], input: &str) -> (String, String, i32) {
        use std::io::Write;
        let d = self.dir.path();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.net.server])
            .args(argv)
            .arg("-c")
            .arg(d.join("conf"))
            .arg("-s")
            .arg(d.join("s.sock"))
            .args(["--timeout", "10"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("client");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes());
        let out = child.wait_with_output().expect("client");
        let mask = |b: &[u8]| masked(&String::from_utf8_lossy(b), d);
        (
            mask(&out.stdout),
            mask(&out.stderr),
            out.status.code().unwrap_or(-1),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Output with what differs between two runs masked: timestamps, dates,
/// process ids, the run's directory.
fn masked(s: &str, dir: &Path) -> String {
    let mut s = s.replace(&dir.display().to_string(), "DIR");
    for (from, to) in VERSION {
        s = s.replace(from, to);
    }
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(,\d{3})?").expect("re");
    let pid = regex::Regex::new(r"\[\d+\]").expect("re");
    pid.replace_all(&stamp.replace_all(&s, "TIME"), "[PID]")
        .into_owned()
}

/// The commands, in order (state carries over from one to the next).
fn matrix() -> Vec<Vec<&'static str>> {
    let mut m: Vec<Vec<&str>> = vec![
        vec!["ping"],
        vec!["version"],
        vec!["status"],
        vec!["status", "sshd"],
        vec!["status", "sshd", "basic"],
        vec!["status", "sshd", "short"],
        vec!["status", "--all"],
        vec!["stats"],
        vec!["banned"],
        vec![
            "set",
            "sshd",
            "banip",
            "192.0.2.1",
            "192.0.2.2",
            "2001:db8::5",
        ],
        vec!["banned"],
        vec!["banned", "192.0.2.1"],
        vec!["banned", "192.0.2.1", "203.0.113.9"],
        vec!["status", "sshd"],
        vec!["get", "sshd", "banip"],
        vec!["get", "sshd", "banip", "--with-time"],
        vec!["get", "sshd", "banned"],
        vec!["get", "sshd", "banned", "192.0.2.1"],
        vec!["get", "sshd", "banned", "192.0.2.1", "203.0.113.9"],
        vec!["set", "sshd", "unbanip", "192.0.2.2"],
        vec!["set", "sshd", "unbanip", "203.0.113.9"],
        vec!["set", "sshd", "unbanip", "--report-absent", "203.0.113.9"],
        vec!["get", "sshd", "banip", ","],
        vec!["unban", "192.0.2.1"],
        vec!["set", "sshd", "banip", "192.0.2.3"],
        vec!["unban", "--all"],
    ];
    for opt in [
        "logpath",
        "logencoding",
        "journalmatch",
        "ignoreself",
        "ignoreip",
        "ignorecommand",
        "ignorecache",
        "prefregex",
        "failregex",
        "ignoreregex",
        "usedns",
        "findtime",
        "datepattern",
        "logtimezone",
        "maxmatches",
        "maxretry",
        "maxlines",
        "bantime",
        "bantime.increment",
        "bantime.factor",
        "bantime.maxtime",
        "bantime.rndtime",
        "bantime.overalljails",
        "bantime.multipliers",
        "bantime.formula",
        "actions",
    ] {
        m.push(vec!["get", "sshd", opt]);
    }
    m.extend([
        vec!["get", "sshd", "action", "nftables-multiport", "port"],
        vec!["get", "sshd", "actionproperties", "nftables-multiport"],
        vec!["get", "sshd", "actionmethods", "nftables-multiport"],
        vec!["get", "loglevel"],
        vec!["get", "logtarget"],
        vec!["get", "syslogsocket"],
        vec!["get", "dbfile"],
        vec!["get", "thread"],
        vec!["get", "sshd", "action", "nftables-multiport", "actionban"],
        vec!["get", "sshd", "action", "nftables-multiport", "nosuchprop"],
        vec!["get", "sshd", "action", "nosuchaction", "port"],
        vec!["get", "dbpurgeage"],
        vec!["get", "dbmaxmatches"],
        vec!["set", "sshd", "maxretry", "7"],
        vec!["set", "sshd", "findtime", "1h"],
        vec!["set", "sshd", "bantime", "2h"],
        vec!["set", "sshd", "maxlines", "3"],
        vec!["set", "sshd", "usedns", "no"],
        vec!["set", "sshd", "addignoreip", "198.51.100.0/24"],
        vec!["set", "sshd", "delignoreip", "198.51.100.0/24"],
        vec!["set", "sshd", "addfailregex", "^gaoler test <HOST>$"],
        vec!["set", "sshd", "addignoreregex", "^ignore me"],
        vec!["set", "sshd", "delignoreregex", "0"],
        vec!["set", "sshd", "datepattern", "%%Y-%%m-%%d %%H:%%M:%%S"],
        vec!["set", "sshd", "logtimezone", "UTC"],
        vec!["set", "sshd", "maxmatches", "2"],
        vec!["set", "sshd", "attempt", "192.0.2.77", "failed login"],
        vec!["status", "sshd"],
        vec!["set", "sshd", "ignorecommand", "/bin/false"],
        vec!["set", "sshd", "bantime.increment", "true"],
        vec!["set", "sshd", "idle", "on"],
        vec!["set", "sshd", "idle", "off"],
        vec!["set", "loglevel", "INFO"],
        vec!["set", "dbpurgeage", "2d"],
        vec!["flushlogs"],
        vec!["status", "nosuch"],
        vec!["get", "nosuch", "maxretry"],
        vec!["set", "nosuch", "banip", "192.0.2.1"],
        vec!["nosuchcommand"],
        vec!["get", "sshd", "nosuchoption"],
        vec!["set", "sshd", "maxretry", "many"],
        vec!["reload"],
        vec!["reload", "sshd"],
        vec!["restart", "sshd"],
        vec!["status", "sshd"],
        vec!["stop"],
    ]);
    m
}

#[test]
fn debian_fail2ban_client_sees_the_same_server() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft", CLIENT, SERVER]);
    let reference = Server::start("fail2ban", "fcf");
    let gaoler = Server::start("gaoler", "fcg");
    let mut diffs = Vec::new();
    for cmd in matrix() {
        let want = reference.run(&cmd);
        let got = gaoler.run(&cmd);
        let line = cmd.join(" ");
        if want != got && !KNOWN.iter().any(|(k, _)| *k == line) {
            diffs.push(format!(
                "`{line}`:\n  fail2ban ({}): {:?} {:?}\n  gaoler   ({}): {:?} {:?}",
                want.2, want.0, want.1, got.2, got.0, got.1
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} commands differ:\n{}",
        diffs.len(),
        matrix().len(),
        diffs.join("\n")
    );
}

/// `-i`: gaoler's client and Debian's, at the same prompt with the same
/// input, print the same.
#[test]
fn interactive_mode_is_fail2ban_clients() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft", CLIENT]);
    let server = Server::start("gaoler", "fci");
    // (the state after is the state before: both clients see the same)
    let input = "status\n\nset sshd banip 192.0.2.8\nbanned\nset sshd unbanip 192.0.2.8\n\
                 status nosuch\nexit\n";
    let debian = server.run_with(&["/usr/bin/python3", CLIENT], &["-i"], input);
    let gaoler = server.run_with(&[env!("CARGO_BIN_EXE_gaoler"), "client"], &["-i"], input);
    assert_eq!(gaoler, debian);
    assert!(debian.0.contains("fail2ban> "), "{debian:?}");
    // The end of input without `exit` is an error, in both.
    let debian = server.run_with(&["/usr/bin/python3", CLIENT], &["-i", "ping"], "");
    let gaoler = server.run_with(
        &[env!("CARGO_BIN_EXE_gaoler"), "client"],
        &["-i", "ping"],
        "",
    );
    assert_eq!(gaoler, debian);
    assert_eq!(gaoler.2, 255);
}

/// systemd socket activation: systemd (here `systemd-socket-activate`)
/// holds the socket and starts the server on the first connection, handing
/// it the listening descriptor; both clients are served; the socket stays
/// systemd's after the server stopped.
#[test]
fn socket_activation() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft", CLIENT, "systemd-socket-activate"]);
    let dir = tempfile::tempdir().expect("tempdir");
    write_tree(dir.path());
    let net = TestNet::new("fca");
    let d = dir.path();
    let sock = d.join("s.sock");
    let mut activator = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.server,
            "systemd-socket-activate",
            "-l",
        ])
        .arg(&sock)
        .args([
            "--fdname=fail2ban",
            env!("CARGO_BIN_EXE_gaoler"),
            "server",
            "-f",
            "-c",
        ])
        .arg(d.join("conf"))
        .arg("-s")
        .arg(&sock)
        .arg("-p")
        .arg(d.join("s.pid"))
        .stdout(std::fs::File::create(d.join("out")).expect("out"))
        .stderr(std::fs::File::create(d.join("err")).expect("err"))
        .spawn()
        .expect("systemd-socket-activate");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "no socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    let client = |args: &[&str]| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.server,
                "/usr/bin/python3",
                CLIENT,
                "-s",
            ])
            .arg(&sock)
            .args(args)
            .output()
            .expect("client")
    };
    // (the first connection starts the server; its jails come a moment later)
    let mut status = client(&["status", "sshd"]);
    while !String::from_utf8_lossy(&status.stdout).contains("Actions") {
        assert!(Instant::now() < deadline, "{status:?}");
        std::thread::sleep(Duration::from_millis(100));
        status = client(&["status", "sshd"]);
    }
    let ping = gaoler()
        .args(["client", "-s"])
        .arg(&sock)
        .arg("ping")
        .output()
        .expect("gaoler client");
    assert_eq!(
        String::from_utf8_lossy(&ping.stdout),
        "Server replied: pong\n"
    );
    assert!(client(&["stop"]).status.success());
    let _ = activator.wait();
    assert!(sock.exists(), "the socket is systemd's to remove");
    let err = std::fs::read_to_string(d.join("server.log")).unwrap_or_default();
    assert!(!err.contains("Server already running"), "{err}");
}
