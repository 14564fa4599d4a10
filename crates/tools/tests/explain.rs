//! `gaoler explain`: its counts against `gaoler regex` on genlog logs and
//! upstream sample logs, its decisions on hand-made logs, its outputs.
//! (The comparison with a live daemon is in the gaoler crate's
//! `explain_daemon` test; the HTML report in headless Chromium in
//! `explain_html`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use gaoler_tools::{explain_run, regex_run};
use serde_json::Value;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn explain_json(args: &[&str]) -> Value {
    let mut out: Vec<u8> = Vec::new();
    let mut v: Vec<String> = vec!["--json".into()];
    v.extend(args.iter().map(|s| s.to_string()));
    explain_run(v, &mut out).expect("gaoler explain");
    serde_json::from_slice(&out).expect("explain --json is JSON")
}

fn explain_text(args: &[&str]) -> String {
    let mut out: Vec<u8> = Vec::new();
    explain_run(args.iter().map(|s| s.to_string()), &mut out).expect("gaoler explain");
    String::from_utf8_lossy(&out).into_owned()
}

/// `gaoler regex --no-check-all`'s `Lines:` figures: (lines, ignored,
/// matched, missed). (Without `--no-check-all`, fail2ban-regex tries every
/// failregex on a line and counts a line an `<F-NOFAIL>` regex also
/// matches as ignored; the daemon, and so explain, stop at the first.)
fn regex_lines(args: &[&str]) -> (u64, u64, u64, u64) {
    let mut out: Vec<u8> = Vec::new();
    let mut v = vec!["--no-check-all".to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    regex_run(v, &mut out).expect("gaoler regex");
    let r = String::from_utf8_lossy(&out);
    let l = r
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or_else(|| panic!("no Lines: in\n{r}"));
    // Lines: 10 lines, 0 ignored, 5 matched, 5 missed
    let n: Vec<u64> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (n[0], n[1], n[2], n[3])
}

fn genlog(kind: &str, lines: usize, extra: &[&str], dir: &Path) -> PathBuf {
    let path = dir.join(format!("{kind}.log"));
    let out = Command::new("python3")
        .arg(gaoler_testkit::shared().join("bench/genlog.py"))
        .args([kind, &lines.to_string()])
        .args(extra)
        .output()
        .expect("python3 genlog.py");
    assert!(out.status.success(), "genlog failed");
    std::fs::write(&path, out.stdout).unwrap();
    path
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {path}"))
}

#[test]
fn genlog_counts_agree_with_gaoler_regex() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shipped().display().to_string();
    for (kind, jail, extra) in [
        ("freeswitch", "freeswitch", vec!["--ips", "300"]),
        ("sshd", "sshd", vec!["--ips", "300", "--fail-ratio", "0.1"]),
    ] {
        let log = genlog(kind, 60_000, &extra, dir.path());
        let log = log.display().to_string();
        let v = explain_json(&["-c", &cfg, jail, &log]);
        let (lines, ignored, matched, missed) = regex_lines(&["-c", &cfg, &log, jail]);
        assert_eq!(u(&v, "/totals/lines/read"), lines, "{kind}: lines");
        assert_eq!(u(&v, "/totals/lines/matched"), matched, "{kind}: matched");
        assert_eq!(u(&v, "/totals/lines/ignored"), ignored, "{kind}: ignored");
        assert_eq!(u(&v, "/totals/lines/missed"), missed, "{kind}: missed");
        // one thread and many give the same report
        let one = explain_json(&["-c", &cfg, "-j", "1", jail, &log]);
        assert_eq!(one["totals"], v["totals"], "{kind}: -j 1");
        assert_eq!(one["addresses"], v["addresses"], "{kind}: -j 1");
        // every failure is accounted for by an address; bans by addresses
        let addrs = v["addresses"].as_array().unwrap();
        let fails: u64 = addrs.iter().map(|a| a["failures"].as_u64().unwrap()).sum();
        assert_eq!(fails, u(&v, "/totals/failures"));
        let bans: usize = addrs
            .iter()
            .map(|a| a["bans"].as_array().unwrap().len())
            .sum();
        assert_eq!(bans as u64, u(&v, "/totals/bans"));
        assert!(u(&v, "/totals/bans") > 0, "{kind}: genlog attacks must ban");
        // the regex hit table adds up to the failures (single-line filters)
        let hits: u64 = v["failregex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["hits"].as_u64().unwrap())
            .sum();
        assert_eq!(hits, matched, "{kind}: regex hits");
    }
}

#[test]
fn freeswitch_normal_mode_hints_at_the_challenge_lines() {
    // The freeswitch jail's normal mode leaves "SIP auth challenge" out;
    // those lines carry an address but no failure word, so they are no
    // hint. A failure message the filter does not know is.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fs.log");
    std::fs::write(
        &log,
        "2026-01-01 00:00:01.000000 [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile 'internal' for [1@x] from ip 192.0.2.1\n\
         2026-01-01 00:00:02.000000 [WARNING] sofia_reg.c:1533 SIP auth challenge (REGISTER) on sofia profile 'internal' for [1@x] from ip 192.0.2.2\n\
         2026-01-01 00:00:03.000000 [WARNING] sofia_reg.c:1234 Registration failed for [1@x] from 198.51.100.3: wrong password\n",
    )
    .unwrap();
    let cfg = shipped().display().to_string();
    let v = explain_json(&["-c", &cfg, "freeswitch", &log.display().to_string()]);
    assert_eq!(u(&v, "/totals/lines/matched"), 1);
    assert_eq!(u(&v, "/hints/count"), 1);
    assert_eq!(v["hints"]["samples"][0]["line"], 3);
}

/// A config tree with one jail `t` on a simple filter.
fn tree(jail_extra: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("filter.d")).unwrap();
    std::fs::write(
        d.path().join("filter.d/t.conf"),
        "[Definition]\nfailregex = ^\\s*auth failure from <HOST>$\nignoreregex = ^\\s*auth failure from 203\\.0\\.113\\.9$\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("jail.conf"),
        format!("[t]\nfilter = t\nlogpath = /nonexistent\nmaxretry = 3\nfindtime = 60\nbantime = 100\n{jail_extra}"),
    )
    .unwrap();
    d
}

fn log_of(dir: &Path, events: &[(u32, &str)]) -> String {
    let mut s = String::new();
    for (t, ip) in events {
        s.push_str(&format!(
            "2026-01-01 00:{:02}:{:02} auth failure from {ip}\n",
            t / 60,
            t % 60
        ));
    }
    let p = dir.join("t.log");
    std::fs::write(&p, s).unwrap();
    p.display().to_string()
}

#[test]
fn decisions_follow_maxretry_findtime_bantime_and_ignoreip() {
    let t = tree("ignoreip = 198.51.100.0/24\nignoreself = false\n");
    let cfg = t.path().display().to_string();
    let log = log_of(
        t.path(),
        &[
            // .1: three within findtime → a ban at 0:20 (line 3)
            (0, "192.0.2.1"),
            (10, "192.0.2.1"),
            (20, "192.0.2.1"),
            // .2: three, but spread over more than findtime → no ban
            (0, "192.0.2.2"),
            (70, "192.0.2.2"),
            (140, "192.0.2.2"),
            // ignoreip spares it
            (30, "198.51.100.5"),
            (31, "198.51.100.5"),
            (32, "198.51.100.5"),
            // ignoreregex hit
            (33, "203.0.113.9"),
            // .1 again after its ban ended (20 + 100 < 200) → a second ban
            (200, "192.0.2.1"),
            (201, "192.0.2.1"),
            (202, "192.0.2.1"),
        ],
    );
    let v = explain_json(&["-c", &cfg, "t", &log]);
    let addr = |a: &str| -> Value {
        v["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["address"] == a)
            .cloned()
            .unwrap_or_else(|| panic!("no {a}"))
    };
    let one = addr("192.0.2.1");
    assert_eq!(one["failures"], 6);
    let bans = one["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 2);
    assert_eq!(bans[0]["line"], 3);
    assert_eq!(bans[0]["bantime"], 100.0);
    assert_eq!(bans[1]["line"], 13);
    assert_eq!(addr("192.0.2.2")["bans"].as_array().unwrap().len(), 0);
    let spared = addr("198.51.100.5");
    assert_eq!(spared["spared_by"], "ip");
    assert_eq!(spared["bans"].as_array().unwrap().len(), 0);
    assert_eq!(u(&v, "/totals/lines/ignored"), 1);
    assert_eq!(u(&v, "/totals/bans"), 2);
    assert_eq!(u(&v, "/totals/unbans"), 1);
    assert_eq!(u(&v, "/totals/active_bans"), 1);
    assert_eq!(v["networks"][0]["network"], "192.0.2.0/24");
    // the text report says the same
    let text = explain_text(&["-c", &cfg, "t", &log]);
    assert!(text.contains("Would ban 1 addresses (2 bans"), "{text}");
    assert!(text.contains("spared by ip"), "{text}");
}

#[test]
fn bantime_increment_lengthens_repeat_bans() {
    let t = tree("bantime.increment = true\n");
    let cfg = t.path().display().to_string();
    let log = log_of(
        t.path(),
        &[
            (0, "192.0.2.1"),
            (1, "192.0.2.1"),
            (2, "192.0.2.1"),
            (200, "192.0.2.1"),
            (201, "192.0.2.1"),
            (202, "192.0.2.1"),
        ],
    );
    let v = explain_json(&["-c", &cfg, "t", &log]);
    let bans = v["addresses"][0]["bans"].as_array().unwrap().clone();
    assert_eq!(bans.len(), 2);
    assert_eq!(bans[0]["bantime"], 100.0);
    assert_eq!(bans[1]["bantime"], 200.0);
    assert_eq!(bans[1]["ban_count"], 2);
    assert_eq!(bans[1]["increased"], true);
}

#[test]
fn two_logs_are_replayed_in_time_order() {
    // Two failures in one log and one in the other, interleaved in time:
    // read one after the other, the third would come "after" and the
    // findtime window would be wrong; in time order they ban at 0:02.
    let t = tree("");
    let cfg = t.path().display().to_string();
    let a = t.path().join("a.log");
    let b = t.path().join("b.log");
    std::fs::write(
        &a,
        "2026-01-01 00:00:00 auth failure from 192.0.2.1\n2026-01-01 00:05:00 auth failure from 192.0.2.1\n",
    )
    .unwrap();
    std::fs::write(&b, "2026-01-01 00:00:02 auth failure from 192.0.2.1\n2026-01-01 00:00:03 auth failure from 192.0.2.1\n").unwrap();
    let v = explain_json(&[
        "-c",
        &cfg,
        "t",
        &a.display().to_string(),
        &b.display().to_string(),
    ]);
    let bans = v["addresses"][0]["bans"].as_array().unwrap().clone();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0]["log"], b.display().to_string());
    assert_eq!(bans[0]["line"], 2);
    assert_eq!(v["logs"].as_array().unwrap().len(), 2);
}

#[test]
fn upstream_sample_logs_agree_with_gaoler_regex() {
    let cfg = shipped().display().to_string();
    let logs = gaoler_testkit::upstream().join("logs");
    for (jail, sample) in [
        ("sshd", "sshd"),
        ("freeswitch", "freeswitch"),
        ("postfix", "postfix"),
        ("nginx-http-auth", "nginx-http-auth"),
        ("dovecot", "dovecot"),
        ("recidive", "recidive"),
    ] {
        let log = logs.join(sample).display().to_string();
        let v = explain_json(&["-c", &cfg, "-j", "1", jail, &log]);
        let (lines, ignored, matched, missed) = regex_lines(&["-c", &cfg, &log, jail]);
        assert_eq!(
            (
                u(&v, "/totals/lines/read"),
                u(&v, "/totals/lines/ignored"),
                u(&v, "/totals/lines/matched"),
                u(&v, "/totals/lines/missed")
            ),
            (lines, ignored, matched, missed),
            "{jail} on {sample}"
        );
        assert!(matched > 0, "{jail}: the sample must match");
    }
}

#[test]
fn html_escapes_hostile_log_text() {
    let t = tree("");
    let cfg = t.path().display().to_string();
    let log = t.path().join("h.log");
    std::fs::write(
        &log,
        "2026-01-01 00:00:00 login failed for <script>alert(1)</script> from 192.0.2.1\n",
    )
    .unwrap();
    let page = t.path().join("r.html");
    explain_text(&[
        "-c",
        &cfg,
        "--html",
        &page.display().to_string(),
        "t",
        &log.display().to_string(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(html.matches("<script>").count(), 1, "only our own script");
}
