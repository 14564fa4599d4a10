//! The daemon on real log files: rotation and restarts lose no failure and
//! count none twice; hostile log lines ban nothing wrong and run nothing.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;
use std::process::Command;

fn syslog_now() -> String {
    let out = Command::new("date")
        .arg("+%b %e %H:%M:%S")
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn failure(ip: &str, user: &str) -> String {
    format!(
        "{} host sshd[4242]: Failed password for invalid user {user} from {ip} port 40022 ssh2",
        syslog_now()
    )
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open log");
    f.write_all(text.as_bytes()).expect("append");
}

/// A tree with one sshd jail on `auth.log` and an action that records bans.
fn tree(dir: &Path, maxretry: u32) {
    let conf = dir.join("conf");
    copy_tree(&upstream().join("config"), &conf);
    std::fs::write(dir.join("auth.log"), "").expect("log");
    let d = dir.display();
    write_files(
        &conf,
        &[
            (
                "fail2ban.local",
                &format!("[Definition]\nlogtarget = {d}/gaoler.log\ndbfile = {d}/gaoler.sqlite3\n"),
            ),
            (
                "action.d/record.conf",
                &format!(
                    "[Definition]\nactionban = printf '%%s|%%s\\n' \"<ip>\" \"<F-USER>\" >> {d}/bans\n\
                     actionunban = printf 'unban %%s\\n' \"<ip>\" >> {d}/bans\n"
                ),
            ),
            (
                "jail.d/t.local",
                &format!(
                    "[sshd]\nenabled = true\nbackend = auto\nlogpath = {d}/auth.log\nmaxretry = {maxretry}\n\
                     findtime = 1h\nbantime = 1h\naction = record\n"
                ),
            ),
        ],
    );
}

fn total_failed(d: &Daemon) -> u64 {
    d.status("sshd")
        .lines()
        .find_map(|l| l.split("Total failed:").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

fn wait_total(d: &Daemon, n: u64) {
    d.wait_until(&format!("Total failed = {n}"), |d| total_failed(d) == n);
    // And it stays there: nothing is counted twice a moment later.
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(total_failed(d), n, "{}", d.server_output());
}

#[test]
fn rotation_and_restart_lose_nothing_and_count_nothing_twice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    tree(dir, 1000);
    let log = dir.join("auth.log");
    let d = Daemon::start(dir, None);
    d.wait_jail("sshd");

    for i in 0..5 {
        append(
            &log,
            &format!("{}\n", failure("192.0.2.10", &format!("u{i}"))),
        );
    }
    wait_total(&d, 5);

    // Rename + create, with late writes to the renamed file.
    std::fs::rename(&log, dir.join("auth.log.1")).expect("rename");
    append(
        &dir.join("auth.log.1"),
        &format!("{}\n", failure("192.0.2.11", "late")),
    );
    std::fs::write(&log, "").expect("create");
    for _ in 0..4 {
        append(&log, &format!("{}\n", failure("192.0.2.12", "new")));
    }
    wait_total(&d, 10);

    // copytruncate: copy away, truncate in place, keep writing.
    std::fs::copy(&log, dir.join("auth.log.2")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .expect("truncate");
    for _ in 0..2 {
        append(&log, &format!("{}\n", failure("192.0.2.13", "after")));
    }
    wait_total(&d, 12);

    // A partial line is held until its newline arrives.
    let line = failure("192.0.2.14", "partial");
    let (a, b) = line.split_at(20);
    append(&log, a);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(total_failed(&d), 12);
    append(&log, &format!("{b}\n"));
    wait_total(&d, 13);

    // Restart: the stored position is resumed, old lines are not re-read.
    d.stop();
    append(&log, &format!("{}\n", failure("192.0.2.15", "while-down")));
    let d = Daemon::start(dir, None);
    d.wait_jail("sshd");
    wait_total(&d, 1);
    append(
        &log,
        &format!("{}\n", failure("192.0.2.16", "after-restart")),
    );
    wait_total(&d, 2);
    d.stop();
}

#[test]
fn hostile_lines_ban_nothing_wrong_and_run_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    tree(dir, 1);
    let log = dir.join("auth.log");
    let marker = dir.join("pwned");
    let d = Daemon::start(dir, None);
    d.wait_jail("sshd");
    let m = marker.display();

    let payloads = [
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!(";touch${{IFS}}{m};"),
        format!("|touch {m}|&"),
        "'\"\\~!*?<>[]{}#^".to_string(),
    ];
    let mut expected = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let ip = format!("192.0.2.{}", 30 + i);
        append(&log, &format!("{}\n", failure(&ip, p)));
        expected.push(ip);
    }
    // Huge line, binary junk, NULs and invalid UTF-8 around a real failure.
    let mut junk = Vec::new();
    junk.extend_from_slice(
        format!(
            "{} host sshd[1]: Connection from 203.0.113.1 ",
            syslog_now()
        )
        .as_bytes(),
    );
    junk.extend(std::iter::repeat_n(b'A', 1 << 20));
    junk.push(b'\n');
    junk.extend_from_slice(b"\x00\x01\xff\xfe garbage \xc3\x28 from 203.0.113.2\n\x00\x00\x00\n");
    append(&log, &String::from_utf8_lossy(&junk));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open")
        .write_all(&junk)
        .expect("junk");
    append(&log, &format!("{}\n", failure("192.0.2.99", "after-junk")));
    expected.push("192.0.2.99".into());

    for ip in &expected {
        d.wait_until(&format!("{ip} banned"), |d| d.banned("sshd", ip));
    }
    let bans = std::fs::read_to_string(dir.join("bans")).expect("bans file");
    for (i, p) in payloads.iter().enumerate() {
        let want = format!("192.0.2.{}|{p}", 30 + i);
        assert!(
            bans.lines().any(|l| l == want),
            "payload not passed literally: {want:?}\n{bans}"
        );
    }
    assert!(!marker.exists(), "a log line ran a command");
    let status = d.status("sshd");
    for bad in ["203.0.113.1", "203.0.113.2"] {
        assert!(!status.contains(bad), "junk line banned {bad}: {status}");
    }
    assert!(d.client(&["ping"]).0, "server died");
    d.stop();
}

fn freeswitch_failure(ip: &str, user: &str) -> String {
    let out = Command::new("date")
        .arg("+%Y-%m-%d %H:%M:%S.%6N")
        .output()
        .expect("date");
    let now = String::from_utf8_lossy(&out.stdout).trim().to_string();
    format!(
        "{now} [WARNING] sofia_reg.c:2942 SIP auth failure (REGISTER) on sofia profile 'internal' for [{user}@pbx.example] from ip {ip}"
    )
}

/// Issue 11, fault 1: a long user name does not hide a failure (PCRE2's
/// JIT stack ran out at ~1,300 characters, and the sources cut lines at
/// 64 KiB, dropping the address at the end), a line longer than the
/// sources' cap cannot make its head read as someone else's failure, and a
/// line no regex can finish is counted and logged once.
#[test]
fn long_user_fields_are_counted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    tree(dir, 1);
    let d = dir.display();
    // gaoler's own freeswitch filter beside upstream's sshd
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(
        repo.join("config/filter.d/freeswitch.conf"),
        dir.join("conf/filter.d/gaoler-freeswitch.conf"),
    )
    .expect("copy filter");
    std::fs::write(dir.join("freeswitch.log"), "").expect("log");
    write_files(
        &dir.join("conf"),
        &[(
            "jail.d/fs.local",
            &format!(
                "[freeswitch]\nenabled = true\nfilter = gaoler-freeswitch[mode=normal]\nbackend = auto\n\
                 logpath = {d}/freeswitch.log\nmaxretry = 1\nfindtime = 1h\nbantime = 1h\naction = record\n"
            ),
        )],
    );
    let auth = dir.join("auth.log");
    let fs = dir.join("freeswitch.log");
    let dm = Daemon::start(dir, None);
    dm.wait_jail("sshd");
    dm.wait_jail("freeswitch");

    let mut expected = Vec::new();
    for (i, n) in [2_000, 60_000, 64 << 10, 900 << 10].into_iter().enumerate() {
        let ip = format!("203.0.113.{}", 10 + i);
        append(
            &fs,
            &format!("{}\n", freeswitch_failure(&ip, &"a".repeat(n))),
        );
        expected.push(("freeswitch", ip));
    }
    // the sshd pair: both lines count (maxretry 1: the pair's
    // address is banned at the first; the second comes from another)
    let u = "u".repeat(5_000);
    append(
        &auth,
        &format!(
            "{} host sshd[7]: Invalid user {u} from 192.0.2.40 port 4711\n",
            syslog_now()
        ),
    );
    append(&auth, &format!("{}\n", failure("192.0.2.41", &u)));
    append(
        &auth,
        &format!("{}\n", failure("192.0.2.42", &"v".repeat(64 << 10))),
    );
    // Longer than the sources keep (1 MiB): the middle goes, the true end
    // stays. The head reads like a failure of 192.0.2.66.
    let head = format!("x from 192.0.2.66 port 22 ssh2{}", "w".repeat(2 << 20));
    append(&auth, &format!("{}\n", failure("192.0.2.43", &head)));
    for ip in ["192.0.2.40", "192.0.2.41", "192.0.2.42", "192.0.2.43"] {
        expected.push(("sshd", ip.to_string()));
    }
    for (jail, ip) in &expected {
        dm.wait_until(&format!("{ip} banned in {jail}"), |d| d.banned(jail, ip));
    }
    assert!(!dm.banned("sshd", "192.0.2.66"), "{}", dm.status("sshd"));
    assert_eq!(dm.client(&["get", "sshd", "unevaluated"]).1.trim(), "0");

    // Backtracking that grows with the square of the line (upstream sshd
    // on a user name ending in 64 Ki digits): not evaluated, but counted
    // and logged once, and the daemon stays on time for the next line.
    let crafted = format!(
        "test from 10.10.1.2 port 55555 ssh2{}",
        "2".repeat(64 << 10)
    );
    for _ in 0..2 {
        append(&auth, &format!("{}\n", failure("192.0.2.50", &crafted)));
    }
    append(&auth, &format!("{}\n", failure("192.0.2.51", "after")));
    dm.wait_until("192.0.2.51 banned", |d| d.banned("sshd", "192.0.2.51"));
    assert_eq!(dm.client(&["get", "sshd", "unevaluated"]).1.trim(), "2");
    let log = std::fs::read_to_string(dir.join("gaoler.log")).expect("server log");
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("could not be evaluated"))
        .collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(
        said[0].contains("[sshd]") && said[0].contains("limit"),
        "{}",
        said[0]
    );
    dm.stop();
}
