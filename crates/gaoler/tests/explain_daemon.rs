//! `gaoler explain` against the daemon: a live server fed a FreeSWITCH log
//! bans exactly the addresses explain says it would, as many times.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A genlog FreeSWITCH log whose timestamps are moved to the last minute
/// (the daemon skips lines older than findtime), plus failures from an
/// `ignoreip` network.
fn recent_freeswitch_log(path: &Path) {
    let gen = Command::new("python3")
        .arg(gaoler_testkit::shared().join("bench/genlog.py"))
        .args(["freeswitch", "20000", "--ips", "150"])
        .output()
        .expect("genlog");
    assert!(gen.status.success());
    let script = r#"
import sys, datetime
t0 = datetime.datetime.now() - datetime.timedelta(seconds=50)
out = []
for i, line in enumerate(sys.stdin.read().splitlines()):
    t = t0 + datetime.timedelta(milliseconds=i)
    out.append(t.strftime("%Y-%m-%d %H:%M:%S.%f") + line[26:])
    if i % 2000 == 7:
        t = t0 + datetime.timedelta(milliseconds=i)
        out.append(t.strftime("%Y-%m-%d %H:%M:%S.%f") +
                   " [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile 'internal' for [7@x] from ip 198.51.100.7")
sys.stdout.write("\n".join(out) + "\n")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&gen.stdout)
        .expect("feed");
    let out = child.wait_with_output().expect("rewrite");
    assert!(out.status.success());
    std::fs::write(path, out.stdout).expect("log");
}

#[test]
fn explain_bans_what_the_daemon_bans() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let log = d.join("freeswitch.log");
    recent_freeswitch_log(&log);
    let conf = d.join("conf");
    copy_tree(&shipped(), &conf);
    let dd = d.display();
    write_files(
        &conf,
        &[
            (
                "fail2ban.local",
                &format!("[Definition]\nlogtarget = {dd}/gaoler.log\ndbfile = {dd}/gaoler.sqlite3\n"),
            ),
            (
                "action.d/record.conf",
                &format!("[Definition]\nactionban = printf '%%s\\n' \"<ip>\" >> {dd}/bans\n"),
            ),
            (
                "jail.d/freeswitch.local",
                &format!(
                    "[freeswitch]\nenabled = true\nbackend = polling\nlogpath = {}\nmaxretry = 5\n\
                     findtime = 10m\nbantime = 1h\nignoreip = 127.0.0.1/8 198.51.100.0/24\naction = record\n",
                    log.display()
                ),
            ),
        ],
    );

    // what explain says
    let out = gaoler()
        .args(["explain", "--json", "-c"])
        .arg(&conf)
        .arg("freeswitch")
        .output()
        .expect("explain");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for a in v["addresses"].as_array().expect("addresses") {
        let n = a["bans"].as_array().expect("bans").len();
        if n > 0 {
            expected.insert(a["address"].as_str().expect("address").to_string(), n);
        }
    }
    let counted = v["totals"]["failures"].as_u64().expect("failures")
        - v["addresses"]
            .as_array()
            .expect("addresses")
            .iter()
            .filter(|a| a["spared_by"].is_string())
            .map(|a| a["failures"].as_u64().unwrap_or(0))
            .sum::<u64>();
    assert!(expected.len() > 20, "the log must ban many addresses");
    assert_eq!(v["totals"]["spared_addresses"], 1);
    let spared = v["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .find(|a| a["address"] == "198.51.100.7")
        .expect("the ignoreip address is listed");
    assert_eq!(spared["spared_by"], "ip");

    // what the daemon does
    let daemon = Daemon::start(d, None);
    daemon.wait_jail("freeswitch");
    daemon.wait_until("every failure counted", |dm| {
        status_value(&dm.status("freeswitch"), "Total failed:") == counted
    });
    let bans_total: usize = expected.values().sum();
    daemon.wait_until("every ban made", |dm| {
        status_value(&dm.status("freeswitch"), "Total banned:") as usize >= bans_total
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = daemon.status("freeswitch");
    assert_eq!(status_value(&status, "Total failed:"), counted);
    assert_eq!(status_value(&status, "Total banned:") as usize, bans_total);
    let recorded = std::fs::read_to_string(d.join("bans")).unwrap_or_default();
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for ip in recorded.lines() {
        *got.entry(ip.to_string()).or_default() += 1;
    }
    assert_eq!(got, expected, "banned addresses and ban counts");
    assert!(!got.contains_key("198.51.100.7"));
    println!(
        "explain and the daemon agree: {} addresses, {} bans, {} failures counted",
        got.len(),
        bans_total,
        counted
    );
    daemon.stop();
}
