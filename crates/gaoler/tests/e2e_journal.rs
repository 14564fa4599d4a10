//! The `systemd` backend on a real journal file: entries written in
//! journald's export format, made into a journal file by Debian's
//! `systemd-journal-remote`, read through `journalfiles=`. The same
//! failures written as a syslog file to a second jail (file backend) must
//! be counted the same.
//!
//! Requirements: `journalctl`, `/usr/lib/systemd/systemd-journal-remote`
//! (package systemd-journal-remote, installed by .ci/run).

mod common;

use common::*;
use std::process::Command;

const JOURNAL_REMOTE: &str = "/usr/lib/systemd/systemd-journal-remote";

fn failed_total(d: &Daemon, jail: &str) -> usize {
    status_value(&d.status(jail), "Total failed:") as usize
}

#[test]
fn a_real_journal_counts_as_the_same_lines_in_a_file() {
    gaoler_testkit::require_root_and_tools(&["journalctl", JOURNAL_REMOTE]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let failures: Vec<(u64, String)> = (0..5u64)
        .map(|i| {
            (
                now - 60 + i,
                format!(
                    "Failed password for root from 192.0.2.{} port 22 ssh2",
                    10 + i % 3
                ),
            )
        })
        .collect();
    // The journal: export format, one entry per failure, and one line
    // that is no failure. Each line is its own sshd connection (pid): on one
    // connection, a success for another user than the failures' counts as a
    // failure too (fail2ban's multi-line rule, shared by the sshd filters).
    let mut export = String::new();
    let mut entries = failures.clone();
    entries.push((
        now - 30,
        "Accepted publickey for admin from 198.51.100.1 port 22 ssh2".into(),
    ));
    for (i, (t, msg)) in entries.iter().enumerate() {
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n\
             _BOOT_ID=0123456789abcdef0123456789abcdef\nMESSAGE={msg}\n\
             _SYSTEMD_UNIT=sshd.service\n_COMM=sshd\nSYSLOG_IDENTIFIER=sshd\n_PID={}\n\
             _HOSTNAME=gaoler-test\n\n",
            t * 1_000_000,
            1000 + i,
            100 + i
        ));
    }
    std::fs::write(d.join("export.txt"), export).expect("export");
    let journal = d.join("test.journal");
    let out = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", journal.display()))
        .arg(d.join("export.txt"))
        .output()
        .expect("systemd-journal-remote");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same lines as a syslog file.
    let mut syslog = String::new();
    for (i, (t, msg)) in entries.iter().enumerate() {
        let stamp = Command::new("date")
            .args(["-d", &format!("@{t}"), "+%b %e %H:%M:%S"])
            .output()
            .expect("date");
        syslog.push_str(&format!(
            "{} gaoler-test sshd[{}]: {msg}\n",
            String::from_utf8_lossy(&stamp.stdout).trim_end(),
            100 + i
        ));
    }
    std::fs::write(d.join("auth.log"), syslog).expect("auth.log");

    // No actions: only the counting is compared.
    test_tree(
        d,
        &shipped(),
        &format!(
            "[DEFAULT]\nfilter = sshd\nmaxretry = 100\nfindtime = 1d\naction =\n\n\
             [journal]\nenabled = true\nbackend = systemd[journalfiles={}]\n\n\
             [file]\nenabled = true\nbackend = polling\nlogpath = {}/auth.log\n",
            journal.display(),
            d.display()
        ),
    );
    let daemon = Daemon::start(d, None);
    daemon.wait_until("both jails counted the 5 failures", |d| {
        d.client(&["status", "journal"]).0
            && d.client(&["status", "file"]).0
            && failed_total(d, "journal") == failures.len()
            && failed_total(d, "file") == failures.len()
    });
    assert!(daemon.status("journal").contains("Journal matches"));
    daemon.stop();
}
