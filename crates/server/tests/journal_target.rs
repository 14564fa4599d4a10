//! `logtarget = SYSTEMD-JOURNAL` writes journald's native protocol with
//! structured fields. The test plays journald: it binds the datagram
//! socket `GAOLER_JOURNAL_SOCKET` names and parses what comes.

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use gaoler_server::log::{level, Logger};

/// One native entry: `KEY=value` lines, or `KEY\n<u64 LE len><value>\n`.
fn parse(mut b: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    while !b.is_empty() {
        let nl = b.iter().position(|&c| c == b'\n').expect("newline");
        let line = &b[..nl];
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            out.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            b = &b[nl + 1..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let mut len = [0u8; 8];
            len.copy_from_slice(&b[nl + 1..nl + 9]);
            let n = u64::from_le_bytes(len) as usize;
            let value = &b[nl + 9..nl + 9 + n];
            out.insert(key, String::from_utf8_lossy(value).into_owned());
            assert_eq!(b[nl + 9 + n], b'\n');
            b = &b[nl + 10 + n..];
        }
    }
    out
}

#[test]
fn entries_carry_priority_jail_and_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal");
    let journald = UnixDatagram::bind(&path).expect("bind");
    journald
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    std::env::set_var("GAOLER_JOURNAL_SOCKET", &path);
    let logger = Logger::new();
    logger.set_target("SYSTEMD-JOURNAL").expect("target");
    let mut buf = vec![0u8; 65536];
    let mut next = || {
        let n = journald.recv(&mut buf).expect("an entry");
        parse(&buf[..n])
    };

    logger.log(level::NOTICE, "fail2ban.actions", "[sshd] Ban 192.0.2.7");
    let e = next();
    assert_eq!(e["PRIORITY"], "5");
    assert_eq!(e["F2B_JAIL"], "sshd");
    assert_eq!(e["F2B_ADDRESS"], "192.0.2.7");
    assert_eq!(e["F2B_LOGGER"], "fail2ban.actions");
    assert_eq!(e["SYSLOG_IDENTIFIER"], "gaoler");
    assert!(
        e["MESSAGE"].ends_with("[sshd] Ban 192.0.2.7"),
        "{}",
        e["MESSAGE"]
    );

    logger.log(
        level::INFO,
        "fail2ban.filter",
        "[freeswitch] Found 2001:db8::9 - 2026-12-07 05:00:00",
    );
    let e = next();
    assert_eq!(e["PRIORITY"], "6");
    assert_eq!(e["F2B_ADDRESS"], "2001:db8::9");

    logger.log(level::ERROR, "fail2ban.server", "two\nlines");
    let e = next();
    assert_eq!(e["PRIORITY"], "3");
    assert!(e["MESSAGE"].ends_with("two\nlines"), "{:?}", e["MESSAGE"]);
    assert!(!e.contains_key("F2B_JAIL"));
}
