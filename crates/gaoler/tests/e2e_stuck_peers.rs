//! `status` and `stop` keep working whatever the daemon's peers do (issue
//! 11, faults 4 and 5): a FIFO at a log path (whose blocking `open` would
//! never return) and a crowd of control connections that never send a
//! whole request.

mod common;

use common::*;
use gaoler_testkit::TestNet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().expect("utf-8 path")).expect("path");
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// gaoler's shipped configuration with the given `jail.local`, and the
/// server's log, database and socket in `dir`.
fn tree(dir: &Path, jails: &str) {
    test_tree(dir, &shipped(), jails);
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("gaoler.log")).unwrap_or_default()
}

#[test]
fn fifo_at_a_logpath_is_refused_and_stop_completes() {
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "nft"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let pipe = dir.join("pipe.log");
    mkfifo(&pipe);
    let jail = |name: &str, backend: &str| {
        format!(
            "[{name}]\nenabled = true\nfilter = gaoler-test\nbackend = {backend}\nlogpath = {}\n\n",
            pipe.display()
        )
    };
    tree(
        dir,
        &format!(
            "{}{}",
            jail("pipe-auto", "auto"),
            jail("pipe-poll", "polling")
        ),
    );
    // Its actions never run (nothing is banned), but should they, they
    // touch only this namespace's firewall.
    let net = TestNet::new("ff");
    let d = Daemon::start(dir, Some(&net.server));
    for j in ["pipe-auto", "pipe-poll"] {
        d.wait_jail(j);
    }
    let warning = format!(
        "WARNING Log path '{}' is not read: it is a FIFO (named pipe), not a regular file",
        pipe.display()
    );
    d.wait_until("the FIFO is named in a WARNING", |_| {
        log_text(dir)
            .lines()
            .filter(|l| l.contains(&warning.replace("WARNING ", "")) && l.contains("WARNING"))
            .count()
            >= 2
    });
    // A writer that comes and goes changes nothing: it is never read.
    if let Ok(mut w) = std::fs::OpenOptions::new()
        .write(true)
        // Without a reader the open fails instead of waiting.
        .custom_flags(libc::O_NONBLOCK)
        .open(&pipe)
    {
        let _ = w.write_all(b"ban 192.0.2.9\n");
    }
    assert!(d.status("pipe-auto").contains("Total failed:\t0"));

    // `stop` answers, and the server exits (the helper waits for both).
    d.stop();
    let log = log_text(dir);
    assert!(
        !log.contains("did not stop within"),
        "a filter thread had to be left behind:\n{log}"
    );
}

#[test]
fn idle_control_connections_do_not_lock_out_status_and_stop() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // No jail: nothing but the control socket is exercised.
    tree(dir, "");
    let d = Daemon::start(dir, None);
    // Far more than the connections served at once: half silent, half
    // stalled in the middle of a request line.
    let _stuck: Vec<UnixStream> = (0..200)
        .map(|i| {
            let mut s = UnixStream::connect(d.sock()).expect("connect");
            if i % 2 == 1 {
                s.write_all(br#"["stop"#).expect("partial request");
            }
            s
        })
        .collect();
    for _ in 0..3 {
        let (ok, out) = d.client(&["status"]);
        assert!(ok, "status failed: {out}\n{}", log_text(dir));
        assert!(out.contains("Number of jail:"), "{out}");
    }
    d.stop();
}
