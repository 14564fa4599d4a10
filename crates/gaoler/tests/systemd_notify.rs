//! `Type=notify`: the server tells systemd it is ready once its jails run,
//! keeps the watchdog fed at half of `WatchdogSec`, reports its jails and
//! bans as `STATUS=`, and says when it stops. The test plays systemd: it
//! binds the datagram socket `NOTIFY_SOCKET` names and reads what comes.

mod common;

use common::*;
use gaoler_testkit::TestNet;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The next notification, or `None` after `wait`.
fn next(sock: &UnixDatagram, wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Notifications until one contains `what` (all of them, for the message).
fn until(sock: &UnixDatagram, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Some(m) = next(sock, Duration::from_millis(200)) {
            let done = m.contains(what);
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
    panic!("no {what:?} among {seen:?}");
}

#[test]
fn ready_status_watchdog_and_stopping() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    test_tree(
        d,
        &shipped(),
        &format!(
            "[t]\nenabled = true\nfilter = gaoler-test\nbackend = polling\nmaxretry = 1\n\
             banaction = nftables-multiport\nport = 5060\nlogpath = {}/t.log\n",
            d.display()
        ),
    );
    std::fs::write(d.join("t.log"), "").expect("log");
    let systemd = UnixDatagram::bind(d.join("notify")).expect("bind notify socket");
    let net = TestNet::new("sn");
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.server,
            env!("CARGO_BIN_EXE_gaoler"),
            "server",
            "-f",
            "-x",
            "-c",
        ])
        .arg(d.join("conf"))
        .arg("-s")
        .arg(d.join("gaoler.sock"))
        .arg("-p")
        .arg(d.join("gaoler.pid"))
        .env("NOTIFY_SOCKET", d.join("notify"))
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gaoler server");

    let seen = until(&systemd, "READY=1");
    let ready = seen.last().expect("ready");
    assert!(ready.contains("STATUS=1 jail, 0 banned (t 0)"), "{ready}");
    // Fed at half the interval: two within a second.
    until(&systemd, "WATCHDOG=1");
    until(&systemd, "WATCHDOG=1");

    let client = |args: &[&str]| {
        gaoler()
            .arg("client")
            .arg("-s")
            .arg(d.join("gaoler.sock"))
            .args(args)
            .output()
            .expect("client")
    };
    assert!(client(&["set", "t", "banip", "192.0.2.9"]).status.success());
    until(&systemd, "STATUS=1 jail, 1 banned (t 1)");
    assert!(client(&["stop"]).status.success());
    until(&systemd, "STOPPING=1");
    let _ = server.wait();
}

/// The shipped unit passes `systemd-analyze verify` (with the binary it
/// names pointed at this build, and without the man pages, which only a
/// package installs).
#[test]
fn the_unit_verifies() {
    gaoler_testkit::require_root_and_tools(&["systemd-analyze"]);
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/gaoler.service"),
    )
    .expect("unit");
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    let local: String = unit
        .replace("/usr/bin/gaoler", env!("CARGO_BIN_EXE_gaoler"))
        .lines()
        .filter(|l| !l.starts_with("Documentation="))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gaoler.service");
    std::fs::write(&path, local).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `gaoler server -f` on a terminal (a pty from `script`) starts with a
/// summary: where its files are, each jail with its filter, actions and
/// logs, or how to enable a jail when none is; then its log.
#[test]
fn the_first_run_on_a_terminal_says_what_runs() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft", "script", "timeout"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let net = TestNet::new("fr");
    let run = |jails: &str| {
        test_tree(d, &shipped(), jails);
        let cmd = format!(
            "{} server -f -x -c {} -s {}/s.sock -p {}/s.pid",
            env!("CARGO_BIN_EXE_gaoler"),
            d.join("conf").display(),
            d.display(),
            d.display()
        );
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.server,
                "timeout",
                "2",
                "script",
                "-qc",
                &cmd,
                "/dev/null",
            ])
            .output()
            .expect("script");
        String::from_utf8_lossy(&out.stdout).replace('\r', "")
    };
    let none = run("");
    assert!(none.contains("No jail is enabled"), "{none}");
    assert!(none.contains("[sshd]\nenabled = true"), "{none}");
    assert!(
        none.contains(&format!("socket: {}/s.sock", d.display())),
        "{none}"
    );
    std::fs::write(d.join("auth.log"), "").expect("log");
    let one = run(&format!(
        "[sshd]\nenabled = true\nbackend = polling\nbanaction = nftables-multiport\nlogpath = {}/auth.log\n",
        d.display()
    ));
    assert!(
        one.contains(&format!(
            "jail sshd: filter sshd[mode=normal], actions nftables-multiport, reads {}/auth.log",
            d.display()
        )),
        "{one}"
    );
    assert!(
        one.contains("Jail 'sshd' started"),
        "the log is shown too: {one}"
    );
}
