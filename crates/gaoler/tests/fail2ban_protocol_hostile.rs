//! Hostile requests in fail2ban's protocol against `gaoler server`
//! (issue 13): a pickle that names code, a truncated pickle, 50 MB of
//! junk, 1,000 connections at once. Each gets an error or a closed
//! connection; nothing runs; the server keeps answering `status`; its
//! memory stays bounded.

mod common;

use common::*;
use gaoler_testkit::TestNet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const END: &[u8] = b"<F2B_END_COMMAND>";

/// A pickled argument list (protocol 2), as fail2ban's client sends it.
fn pickled(args: &[&str]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'('];
    for a in args {
        p.push(b'X');
        p.extend_from_slice(&(a.len() as u32).to_le_bytes());
        p.extend_from_slice(a.as_bytes());
    }
    p.extend_from_slice(b"l.");
    p
}

fn framed(mut p: Vec<u8>) -> Vec<u8> {
    p.extend_from_slice(END);
    p
}

/// One reply (up to the terminator), or what came before the peer closed.
fn reply(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(END) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

fn connect(d: &Daemon) -> UnixStream {
    let s = UnixStream::connect(d.sock()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// `status` over fail2ban's protocol answers with the jail list.
fn status_answers(d: &Daemon) {
    let mut s = connect(d);
    s.write_all(&framed(pickled(&["status"]))).expect("write");
    let r = reply(&mut s);
    assert!(
        String::from_utf8_lossy(&r).contains("Jail list"),
        "status: {:?}\n{}",
        String::from_utf8_lossy(&r),
        d.server_output()
    );
}

fn rss_kb(dir: &Path) -> u64 {
    let pid = std::fs::read_to_string(dir.join("gaoler.pid")).expect("pidfile");
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).expect("proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn daemon(dir: &Path, net: &TestNet) -> Daemon {
    let conf = dir.join("conf");
    copy_tree(&upstream().join("config"), &conf);
    let d = dir.display();
    write_files(
        &conf,
        &[
            (
                "fail2ban.local",
                &format!("[Definition]\nlogtarget = {d}/gaoler.log\ndbfile = :memory:\n"),
            ),
            (
                "jail.local",
                &format!(
                    "[sshd]\nenabled = true\nbackend = polling\nport = 5060\n\
                     banaction = nftables-multiport\nlogpath = {d}/auth.log\n"
                ),
            ),
        ],
    );
    std::fs::write(dir.join("auth.log"), "").expect("log");
    let daemon = Daemon::start(dir, Some(&net.server));
    daemon.wait_jail("sshd");
    daemon
}

#[test]
fn a_pickle_that_names_code_is_refused_and_nothing_runs() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = TestNet::new("ph");
    let d = daemon(tmp.path(), &net);
    let marker = tmp.path().join("pwned");
    let cmd = format!("touch {}", marker.display());
    // os.system(cmd), as pickle writes a __reduce__ to it: GLOBAL, REDUCE
    let mut evil = b"\x80\x02cposix\nsystem\nX".to_vec();
    evil.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    evil.extend_from_slice(cmd.as_bytes());
    evil.extend_from_slice(b"\x85R.");
    // and the protocol 4 form: STACK_GLOBAL
    let mut evil4 = b"\x80\x04\x8c\x02os\x8c\x06system\x93X".to_vec();
    evil4.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    evil4.extend_from_slice(cmd.as_bytes());
    evil4.extend_from_slice(b"\x85R.");
    let mut s = connect(&d);
    for (p, opcode) in [(evil, "GLOBAL"), (evil4, "STACK_GLOBAL")] {
        s.write_all(&framed(p)).expect("write");
        let r = String::from_utf8_lossy(&reply(&mut s)).into_owned();
        assert!(r.contains("ERROR: ") && r.contains(opcode), "{r}");
    }
    // The same connection goes on; nothing ran.
    s.write_all(&framed(pickled(&["status"]))).expect("write");
    assert!(String::from_utf8_lossy(&reply(&mut s)).contains("Jail list"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker.exists(), "the pickle ran code");
    status_answers(&d);
    d.stop();
}

#[test]
fn a_truncated_pickle_is_an_error() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = TestNet::new("pt");
    let d = daemon(tmp.path(), &net);
    let mut s = connect(&d);
    let mut p = pickled(&["set", "sshd", "banip", "192.0.2.1"]);
    p.truncate(p.len() - 5);
    s.write_all(&framed(p)).expect("write");
    let r = String::from_utf8_lossy(&reply(&mut s)).into_owned();
    assert!(r.contains("ERROR: "), "{r}");
    assert!(!d.banned("sshd", "192.0.2.1"));
    status_answers(&d);
    d.stop();
}

#[test]
fn fifty_megabytes_of_junk_close_the_connection_and_cost_no_memory() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = TestNet::new("pj");
    let d = daemon(tmp.path(), &net);
    let before = rss_kb(tmp.path());
    let mut s = connect(&d);
    let mut reader = s.try_clone().expect("clone");
    let junk = vec![b'J'; 1 << 20];
    let writer = std::thread::spawn(move || {
        let mut sent = 0usize;
        for _ in 0..50 {
            if s.write_all(&junk).is_err() {
                break;
            }
            sent += junk.len();
        }
        sent
    });
    let r = String::from_utf8_lossy(&reply(&mut reader)).into_owned();
    assert!(r.contains("ERROR: request longer than"), "{r}");
    let sent = writer.join().expect("writer");
    assert!(sent < 50 << 20, "the server read all 50 MB ({sent} bytes)");
    status_answers(&d);
    let after = rss_kb(tmp.path());
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    d.stop();
}

#[test]
fn a_thousand_connections_at_once_leave_room_for_status() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = TestNet::new("pc");
    let d = daemon(tmp.path(), &net);
    let before = rss_kb(tmp.path());
    // Each sends half a request and never the terminator.
    let half = &pickled(&["status"])[..6];
    let mut held = Vec::new();
    for _ in 0..1000 {
        let Ok(mut s) = UnixStream::connect(d.sock()) else {
            continue; // (the backlog is full for a moment: refused)
        };
        let _ = s.write_all(half);
        held.push(s);
    }
    status_answers(&d);
    let (ok, out) = d.client(&["status", "sshd"]);
    assert!(ok, "{out}");
    let after = rss_kb(tmp.path());
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    drop(held);
    d.stop();
}
