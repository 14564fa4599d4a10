//! `gaoler server` and `gaoler client` together, end to end: a real server
//! process on a temp socket with a temp configuration tree (stock files, one
//! enabled jail with a polling backend and a dummy action that records bans
//! in a file, a temp database), driven by client processes.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    tree: PathBuf,
    sock: PathBuf,
    pid: PathBuf,
    log: PathBuf,
    actions: PathBuf,
    server: Option<Child>,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        // Traversable by others, so that the socket's own mode is what
        // keeps a non-root client out.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let tree = root.join("conf");
        copy_tree(&upstream().join("config"), &tree);
        let authlog = root.join("auth.log");
        std::fs::write(&authlog, "").expect("log");
        let actions = root.join("actions.txt");
        let db = root.join("db.sqlite3");
        let action = format!(
            "[Definition]\nactionstart =\nactionstop =\nactioncheck =\n\
             actionban = echo \"ban <ip>\" >> {a}\nactionunban = echo \"unban <ip>\" >> {a}\n",
            a = actions.display()
        );
        let jail = format!(
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = {}\naction = test-dummy\n",
            authlog.display()
        );
        let f2b = format!("[Definition]\ndbfile = {}\n", db.display());
        write_files(
            &tree,
            &[
                ("action.d/test-dummy.conf", &action),
                ("jail.d/test.local", &jail),
                ("fail2ban.local", &f2b),
            ],
        );
        Env {
            sock: root.join("run/sock"),
            pid: root.join("run/pid"),
            log: root.join("server.log"),
            actions,
            tree,
            root,
            _tmp: tmp,
            server: None,
        }
    }

    /// `gaoler server -f -x …` in the background; waits for its socket.
    fn start_server(&mut self) {
        let started_before = self.sshd_starts();
        let child = gaoler()
            .args(["server", "-f", "-x", "-s"])
            .arg(&self.sock)
            .arg("-p")
            .arg(&self.pid)
            .arg("-c")
            .arg(&self.tree)
            .arg("--logtarget")
            .arg(&self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        self.server = Some(child);
        self.wait_ready();
        // `status sshd` answers once the jail is added; its log file and
        // action come later in the stream, and tests rely on them.
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.sshd_starts() == started_before {
            assert!(
                Instant::now() < deadline,
                "jail sshd never started:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How often the server log says `Jail 'sshd' started`.
    fn sshd_starts(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("Jail 'sshd' started")
            .count()
    }

    /// Wait until `status sshd` works (the configuration thread has
    /// started the jail).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let o = self.client(&["status", "sshd"]);
            if o.status.success() {
                return;
            }
            if let Some(c) = self.server.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("server exited early ({st}): {}", self.server_output());
                }
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}{}\nlog:\n{}",
                stdout(&o),
                stderr(&o),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn server_output(&mut self) -> String {
        let mut s = String::new();
        if let Some(c) = self.server.as_mut() {
            if let Some(o) = c.stdout.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            if let Some(e) = c.stderr.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
        }
        s
    }

    fn client(&self, args: &[&str]) -> Output {
        gaoler()
            .arg("client")
            .arg("-s")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("run client")
    }

    /// Client with the configuration tree (start/reload/restart).
    fn client_conf(&self, args: &[&str]) -> Output {
        gaoler()
            .arg("client")
            .arg("-c")
            .arg(&self.tree)
            .arg("-s")
            .arg(&self.sock)
            .arg("-p")
            .arg(&self.pid)
            .arg("--logtarget")
            .arg(&self.log)
            .args(args)
            .output()
            .expect("run client")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.client(args);
        assert!(
            o.status.success(),
            "{args:?} failed ({}): {}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// Wait until the output of `args` satisfies `cond` (the
    /// configuration thread goes on after the first jail answers); the
    /// last output.
    fn wait_status(&self, args: &[&str], cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = self.ok(args);
            if cond(&st) || Instant::now() > deadline {
                return st;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait for the server process to exit; its exit code.
    fn wait_server_exit(&mut self) -> i32 {
        let mut c = self.server.take().expect("server");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn actions(&self) -> String {
        std::fs::read_to_string(&self.actions).unwrap_or_default()
    }

    /// Kill a daemonised server we started, by its pidfile.
    fn kill_by_pidfile(&self) {
        if let Some(pid) = gaoler_protocol::read_pid(&self.pid) {
            // SAFETY: plain kill(2) of a process this test started.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn commands_against_a_running_server() {
    let mut env = Env::new();
    env.start_server();

    assert_eq!(env.ok(&["ping"]), "Server replied: pong\n");
    assert_eq!(
        env.ok(&["status"]),
        "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"
    );
    let authlog = env.root.join("auth.log");
    assert_eq!(
        env.ok(&["status", "sshd"]),
        format!(
            "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t0\n\
             |  |- Total failed:\t0\n|  `- File list:\t{}\n`- Actions\n\
             \x20  |- Currently banned:\t0\n   |- Total banned:\t0\n   `- Banned IP list:\t\n",
            authlog.display()
        )
    );
    assert_eq!(env.ok(&["set", "sshd", "banip", "192.0.2.9"]), "1\n");
    assert_eq!(env.ok(&["banned"]), "[{'sshd': ['192.0.2.9']}]\n");
    assert_eq!(
        env.ok(&["banned", "192.0.2.9", "192.0.2.1"]),
        "[['sshd'], []]\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "banned"])).expect("json");
    assert_eq!(json, serde_json::json!({"sshd": ["192.0.2.9"]}));
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "status", "sshd"])).expect("json");
    assert_eq!(
        json["Actions"]["Banned IP list"],
        serde_json::json!(["192.0.2.9"])
    );
    assert!(env
        .ok(&["status", "sshd"])
        .ends_with("`- Banned IP list:\t192.0.2.9\n"));
    assert_eq!(
        env.ok(&["get", "sshd", "logpath"]),
        format!("Current monitored log file(s):\n`- {}\n", authlog.display())
    );
    assert!(env
        .ok(&["get", "sshd", "failregex"])
        .starts_with("The following regular expression are defined:\n|- [0]: "));
    assert_eq!(
        env.ok(&["get", "loglevel"]),
        "Current logging level is 'INFO'\n"
    );
    assert!(env
        .ok(&["status", "--all"])
        .contains("`- Status for the jails:\n   `- Jail: sshd\n"));
    assert_eq!(env.ok(&["unban", "--all"]), "1\n");
    assert_eq!(env.ok(&["banned"]), "[{'sshd': []}]\n");

    // A ban of something that is neither an address nor an ID a filter
    // could produce is refused (fail2ban would list it as banned).
    for junk in ["a b", "x;reboot", "", "192.0.2.300"] {
        let o = env.client(&["set", "sshd", "banip", junk]);
        assert_eq!(o.status.code(), Some(255), "{junk:?}: {}", stdout(&o));
        assert!(
            stdout(&o).starts_with("Invalid IP address, subnet or ID"),
            "{junk:?}: {}",
            stdout(&o)
        );
    }
    assert_eq!(env.ok(&["banned"]), "[{'sshd': []}]\n");

    // Errors: fail2ban's texts and exit code 255.
    let o = env.client(&["status", "nosuch"]);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(stdout(&o), "Sorry but the jail 'nosuch' does not exist\n");
    assert!(stderr(&o).contains("NOK: ('nosuch',)"), "{}", stderr(&o));
    let o = env.client(&["no-such-command"]);
    assert_eq!(o.status.code(), Some(255));

    // The dummy action ran for the ban and the unban.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.actions().contains("unban 192.0.2.9") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        env.actions().contains("ban 192.0.2.9\n"),
        "{}",
        env.actions()
    );
    assert!(
        env.actions().contains("unban 192.0.2.9\n"),
        "{}",
        env.actions()
    );

    // The socket is root-only; the pidfile names the server.
    let meta = std::fs::metadata(&env.sock).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let pid = env.server.as_ref().map(Child::id);
    assert_eq!(gaoler_protocol::read_pid(&env.pid), pid);

    assert_eq!(env.ok(&["stop"]), "Shutdown successful\n");
    assert_eq!(env.wait_server_exit(), 0);
    assert!(!env.sock.exists(), "socket left behind");
    assert!(!env.pid.exists(), "pidfile left behind");
    // Nothing to talk to any more.
    let o = env.client(&["ping"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(
        stderr(&o).contains("Is fail2ban running?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn garbage_on_the_socket_does_not_hurt() {
    let mut env = Env::new();
    env.start_server();
    let mut s = UnixStream::connect(&env.sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // (a blank first: a connection whose first byte is not `[`, `{` or a
    // blank speaks fail2ban's protocol, see fail2ban_protocol_hostile.rs)
    s.write_all(b" \xff\xfe garbage\n{\"not\": \"an array\"}\n")
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    while got.matches('\n').count() < 2 {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "connection closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(got.matches("ProtocolError").count(), 2, "{got}");
    // Python fail2ban's pickle framing, and random bytes on new connections.
    for junk in [
        &b"\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94\x8c\x04ping\x94a.<F2B_END_COMMAND>"[..],
        &[0u8; 70_000][..],
        // An over-long line (no newline in it): refused, connection closed.
        &(0..=255u8)
            .cycle()
            .filter(|b| *b != b'\n')
            .take(3_000_000)
            .collect::<Vec<u8>>()[..],
    ] {
        let mut s = UnixStream::connect(&env.sock).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let _ = s.write_all(junk);
    }
    // Requests whose answers are never read: the server drops the peer
    // (write timeout) instead of hanging; meanwhile others are served.
    let mut greedy = UnixStream::connect(&env.sock).expect("connect");
    greedy
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let many = "[\"ping\"]\n".repeat(200_000);
    let _ = greedy.write_all(many.as_bytes());
    assert_eq!(env.ok(&["ping"]), "Server replied: pong\n");
    drop(greedy);
    drop(s);
    assert_eq!(env.ok(&["ping"]), "Server replied: pong\n");
    assert!(env.ok(&["status"]).contains("Jail list:\tsshd"));
    env.ok(&["stop"]);
    assert_eq!(env.wait_server_exit(), 0);
}

#[test]
fn a_non_root_client_is_refused() {
    let mut env = Env::new();
    env.start_server();
    let o = gaoler()
        .arg("client")
        .arg("-s")
        .arg(&env.sock)
        .arg("ping")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run client as nobody");
    assert_eq!(o.status.code(), Some(255), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("Permission denied to socket"),
        "{}",
        stderr(&o)
    );
    // Root still gets in.
    assert_eq!(env.ok(&["ping"]), "Server replied: pong\n");
}

#[test]
fn sigterm_stops_cleanly_and_a_second_server_is_refused() {
    let mut env = Env::new();
    env.start_server();
    // A second server on the same socket must not take it over, even with -x.
    let o = gaoler()
        .args(["server", "-f", "-x", "--async", "-s"])
        .arg(&env.sock)
        .arg("-p")
        .arg(env.root.join("other.pid"))
        .arg("--logtarget")
        .arg(env.root.join("other.log"))
        .output()
        .expect("second server");
    assert_eq!(o.status.code(), Some(255));
    assert!(
        stderr(&o).contains("Server already running"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.ok(&["ping"]), "Server replied: pong\n");

    // SIGUSR1 (flushlogs) keeps it running.
    let pid = env.server.as_ref().map(Child::id).expect("pid") as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.ok(&["ping"]), "Server replied: pong\n");

    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(env.wait_server_exit(), 0);
    assert!(!env.sock.exists());
    assert!(!env.pid.exists());
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    assert!(log.contains("Jail 'sshd' started"), "{log}");
}

#[test]
fn stale_socket_is_replaced_with_force() {
    let mut env = Env::new();
    std::fs::create_dir_all(env.sock.parent().expect("dir")).expect("mkdir");
    drop(std::os::unix::net::UnixListener::bind(&env.sock).expect("stale socket"));
    env.start_server();
    assert_eq!(env.ok(&["ping"]), "Server replied: pong\n");
    env.ok(&["stop"]);
    assert_eq!(env.wait_server_exit(), 0);
}

#[test]
fn client_start_reload_restart_stop() {
    let env = Env::new();
    // start: reads the tree, spawns `gaoler server --async -b`, streams.
    let o = env.client_conf(&["start"]);
    let guard = KillOnDrop(&env);
    assert!(o.status.success(), "start: {}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "Server ready\n");
    assert!(env.ok(&["status"]).contains("Jail list:\tsshd"));
    // The daemon wrote its own pid (not the client's child).
    let pid = gaoler_protocol::read_pid(&env.pid).expect("pidfile");
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    // start again: refused, the running server is untouched.
    let o = env.client_conf(&["start"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(
        stderr(&o).contains("Server already running"),
        "{}",
        stderr(&o)
    );

    env.ok(&["set", "sshd", "banip", "192.0.2.10"]);
    let o = env.client_conf(&["reload"]);
    assert!(o.status.success(), "reload: {}{}", stdout(&o), stderr(&o));
    let o = env.client_conf(&["reload", "sshd"]);
    assert!(
        o.status.success(),
        "reload sshd: {}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = env.client_conf(&["reload", "--unban", "--all"]);
    assert!(
        o.status.success(),
        "reload --unban: {}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = env.client_conf(&["reload", "a", "b"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(env.ok(&["status"]).contains("Jail list:\tsshd"));

    let o = env.client_conf(&["restart"]);
    assert!(o.status.success(), "restart: {}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "Shutdown successful\nServer ready\n");
    let pid2 = gaoler_protocol::read_pid(&env.pid).expect("pidfile");
    assert_ne!(pid, pid2);

    assert_eq!(env.ok(&["stop"]), "Shutdown successful\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid2}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!env.sock.exists());
    assert!(!env.pid.exists());
    drop(guard);
}

#[test]
fn start_refuses_a_broken_configuration() {
    let env = Env::new();
    write_files(
        &env.tree,
        &[("jail.d/zz-broken.local", "[sshd]\nmaxretry = lots\n")],
    );
    let o = env.client_conf(&["start"]);
    let _guard = KillOnDrop(&env);
    assert_eq!(o.status.code(), Some(255), "{}{}", stdout(&o), stderr(&o));
    assert!(!env.sock.exists(), "no server may have been started");
    // The only jail is refused: said with its file and line.
    assert!(
        stderr(&o).contains("zz-broken.local:2: [sshd] maxretry"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("no jail could be started"),
        "{}",
        stderr(&o)
    );
}

/// Random bytes over the database's header: the server used to start
/// with no jail at all and answer `status` as if all were well. Now the
/// file is moved aside as `<db>.<UTC YYYYmmdd-HHMMSS>` (fail2ban's name),
/// a new database is created and the jails start.
#[test]
fn a_corrupt_database_is_moved_aside_and_the_jails_start() {
    let mut env = Env::new();
    env.start_server();
    assert_eq!(env.ok(&["set", "sshd", "banip", "192.0.2.9"]), "1\n");
    env.ok(&["stop"]);
    assert_eq!(env.wait_server_exit(), 0);
    let db = env.root.join("db.sqlite3");
    let mut bytes = std::fs::read(&db).expect("db");
    let mut x: u32 = 0x1234_5678;
    for b in bytes.iter_mut().take(100) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(&db, &bytes).expect("corrupt db");

    env.start_server();
    assert_eq!(
        env.ok(&["status"]),
        "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"
    );
    let backups: Vec<PathBuf> = std::fs::read_dir(&env.root)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("db.sqlite3.") && !n.ends_with("-wal"))
        })
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read(&backups[0]).expect("backup"), bytes);
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    let line = log
        .lines()
        .find(|l| l.contains("is corrupt"))
        .unwrap_or_else(|| panic!("no corruption line in:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&db.display().to_string()), "{line}");
    assert!(line.contains(&backups[0].display().to_string()), "{line}");
    // The new database works: a ban is stored and survives a restart.
    assert_eq!(env.ok(&["set", "sshd", "banip", "192.0.2.10"]), "1\n");
    env.ok(&["stop"]);
    assert_eq!(env.wait_server_exit(), 0);
    env.start_server();
    let st = env.wait_status(&["status", "sshd"], |s| s.contains("192.0.2.10"));
    assert!(st.contains("192.0.2.10"), "{st}");
    env.ok(&["stop"]);
    assert_eq!(env.wait_server_exit(), 0);
}

/// Jails with bad values among good ones (the bad one first, so that a
/// stream stopping at it would lose the jails after it).
fn add_bad_jails(env: &Env) {
    let authlog = env.root.join("auth.log");
    let jail = |name: &str, bad: &str| {
        format!(
            "[{name}]\nenabled = true\nbackend = polling\nfilter = sshd\nlogpath = {}\n\
             action = test-dummy\n{bad}\n",
            authlog.display()
        )
    };
    let text = [
        jail("aaa-bad-findtime", "findtime = abc"),
        jail("good-after", ""),
        jail("bad-maxretry", "maxretry = lots"),
    ]
    .concat();
    write_files(&env.tree, &[("jail.d/more.local", &text)]);
}

/// `findtime = abc` in one jail: the jail used to be listed but never
/// started (default settings, no actions) and the jails after it were
/// missing. Now it is refused with file:line, the others start, and
/// `status` says which jails failed and why.
#[test]
fn a_bad_jail_is_refused_and_the_others_start() {
    let mut env = Env::new();
    add_bad_jails(&env);
    env.start_server();
    env.wait_status(&["status"], |s| {
        s.contains("Failed jails") && s.contains("good-after")
    });
    let more = env.tree.join("jail.d/more.local").display().to_string();
    let mut expect = format!(
        "Status\n|- Number of jail:\t2\n|- Jail list:\tgood-after, sshd\n\
         `- Failed jails:\taaa-bad-findtime, bad-maxretry\n\
         \x20  |- aaa-bad-findtime:\t{more}:7: [aaa-bad-findtime] findtime: "
    );
    let status = env.ok(&["status"]);
    assert!(status.starts_with(&expect), "{status}");
    expect = format!("   `- bad-maxretry:\t{more}:21: [bad-maxretry] maxretry = \"lots\"");
    assert!(status.contains(&expect), "{status}");
    assert!(env
        .ok(&["status", "good-after"])
        .contains("Currently failed"));
    assert_eq!(
        env.ok(&["get", "good-after", "actions"]).trim_end(),
        "The jail good-after has the following actions:\ntest-dummy"
    );
    let o = env.client(&["status", "aaa-bad-findtime"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(
        stdout(&o).starts_with(&format!(
            "Jail 'aaa-bad-findtime' failed to start: {more}:7:"
        )),
        "{}",
        stdout(&o)
    );
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    assert!(
        log.contains(&format!(
            "Jail 'aaa-bad-findtime' skipped, because of wrong configuration: {more}:7:"
        )),
        "{log}"
    );
    env.ok(&["stop"]);
    assert_eq!(env.wait_server_exit(), 0);
}

/// A foreground start where jails are enabled but none can start exits
/// non-zero (it used to serve on with no jail, as if all were well).
#[test]
fn a_foreground_start_without_any_good_jail_exits_non_zero() {
    let mut env = Env::new();
    write_files(
        &env.tree,
        &[("jail.d/zz-broken.local", "[sshd]\nfindtime = abc\n")],
    );
    let mut child = gaoler()
        .args(["server", "-f", "-x", "-s"])
        .arg(&env.sock)
        .arg("-p")
        .arg(&env.pid)
        .arg("-c")
        .arg(&env.tree)
        .arg("--logtarget")
        .arg(&env.log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("server kept running without any jail");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    env.server = Some(child);
    let out = env.server_output();
    assert_eq!(status.code(), Some(255), "{out}");
    assert!(out.contains("no jail could be started"), "{out}");
    assert!(!env.sock.exists() && !env.pid.exists());
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    assert!(log.contains("zz-broken.local:2"), "{log}");
    assert!(
        log.contains("No jail could be started (failed: sshd)"),
        "{log}"
    );
}

/// `client start` with a bad jail among good ones: the bad one is reported
/// (file:line) on stderr, the server runs the others and lists the failed
/// one in `status`.
#[test]
fn client_start_reports_refused_jails() {
    let env = Env::new();
    add_bad_jails(&env);
    let o = env.client_conf(&["start"]);
    let _guard = KillOnDrop(&env);
    assert!(o.status.success(), "start: {}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "Server ready\n");
    let more = env.tree.join("jail.d/more.local").display().to_string();
    assert!(
        stderr(&o).contains(&format!(
            "Jail 'aaa-bad-findtime' not started: {more}:7: [aaa-bad-findtime] findtime"
        )),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("Jail 'bad-maxretry' not started"),
        "{}",
        stderr(&o)
    );
    let status = env.ok(&["status"]);
    assert!(
        status.contains("|- Jail list:\tgood-after, sshd\n"),
        "{status}"
    );
    assert!(
        status.contains("`- Failed jails:\taaa-bad-findtime, bad-maxretry\n"),
        "{status}"
    );
    assert_eq!(env.ok(&["stop"]), "Shutdown successful\n");
}

/// Stops a daemonised server (found through the pidfile) if a test fails
/// half-way.
struct KillOnDrop<'a>(&'a Env);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.sock.exists() {
            self.0.kill_by_pidfile();
        }
    }
}
