//! Prometheus metrics (`metrics = ADDR`): scraped during a ban burst, the
//! counters agree with `status`, and `promtool check metrics` (Debian's
//! prometheus package, installed by .ci/run) finds nothing to lint.
//! No actions: only the counting is looked at, the firewall is untouched.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    body.to_string()
}

fn value(text: &str, metric: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(metric)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{metric} not in:\n{text}")) as u64
}

#[test]
fn scraped_during_a_ban_burst_the_counters_match_status() {
    gaoler_testkit::require_root_and_tools(&["promtool"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    test_tree(
        d,
        &shipped(),
        &format!(
            "[burst]\nenabled = true\nfilter = gaoler-test\nbackend = polling\nmaxretry = 3\n\
             action =\nlogpath = {}/burst.log\n",
            d.display()
        ),
    );
    let local = d.join("conf/fail2ban.local");
    let mut f2b = std::fs::read_to_string(&local).expect("fail2ban.local");
    f2b.push_str(&format!("metrics = {addr}\n"));
    std::fs::write(&local, f2b).expect("fail2ban.local");
    std::fs::write(d.join("burst.log"), "").expect("log");
    let daemon = Daemon::start(d, None);
    daemon.wait_jail("burst");
    let (ok, got) = daemon.client(&["get", "metrics"]);
    assert!(ok && got.contains(&addr), "{got}");

    // 40 addresses fail 3 times each; scraped while they are banned.
    let mut lines = String::new();
    for round in 0..3 {
        for i in 0..40 {
            let _ = round;
            lines.push_str(&format!("ban 198.51.100.{}\n", i + 1));
        }
    }
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("burst.log"))
        .expect("log");
    log.write_all(lines.as_bytes()).expect("append");
    let during = scrape(&addr);
    assert!(during.contains("f2b_jail_banned_current{jail=\"burst\"}"));
    daemon.wait_until("all 40 banned", |d| {
        status_value(&d.status("burst"), "Currently banned:") == 40
    });
    let text = scrape(&addr);
    let status = daemon.status("burst");
    for (metric, key) in [
        (
            "f2b_jail_banned_current{jail=\"burst\"}",
            "Currently banned:",
        ),
        ("f2b_jail_banned_total{jail=\"burst\"}", "Total banned:"),
        (
            "f2b_jail_failed_current{jail=\"burst\"}",
            "Currently failed:",
        ),
        ("f2b_jail_failed_total{jail=\"burst\"}", "Total failed:"),
    ] {
        assert_eq!(
            value(&text, metric),
            status_value(&status, key),
            "{metric}\n{status}"
        );
    }
    assert_eq!(value(&text, "gaoler_bans"), 1);
    assert_eq!(value(&text, "gaoler_lines_read_total{jail=\"burst\"}"), 120);
    assert_eq!(
        value(&text, "gaoler_lines_matched_total{jail=\"burst\"}"),
        120
    );
    assert_eq!(value(&text, "f2b_jail_config_fail_max{jail=\"burst\"}"), 3);

    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    lint.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = lint.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.stop();
}
