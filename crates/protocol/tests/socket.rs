//! The control socket end to end: a real listener on a temp path, real
//! client connections, hostile input.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gaoler_protocol::{
    Client, ClientError, Handler, Listener, RemoteError, Response, ServeError, ServeOptions,
    PROTOCOL_ERROR,
};
use serde_json::{json, Value};

const T: Option<Duration> = Some(Duration::from_secs(10));

/// A test server: echoes commands, knows `ping`, `fail`, `panic`, `sleep`,
/// `hold` (until [`TestServer::release`]), `big N` (a reply of N bytes)
/// and `stop`.
struct TestServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
    calls: Arc<AtomicUsize>,
}

impl TestServer {
    fn start(path: &Path) -> TestServer {
        Self::start_with(ServeOptions::new(path))
    }

    fn start_with(opts: ServeOptions) -> TestServer {
        let path = opts.socket.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let (s2, c2, r2) = (stop.clone(), calls.clone(), release.clone());
        let handler: Handler = Arc::new(move |cmd: &[Value]| {
            c2.fetch_add(1, Ordering::SeqCst);
            match cmd.first().and_then(Value::as_str) {
                Some("ping") => Response::Ok(json!("pong")),
                Some("fail") => Response::Error(RemoteError::new("UnknownJailException", "nope")),
                Some("panic") => panic!("handler bug"),
                Some("sleep") => {
                    std::thread::sleep(Duration::from_millis(300));
                    Response::Ok(Value::Null)
                }
                Some("hold") => {
                    while !r2.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Response::Ok(Value::Null)
                }
                Some("big") => {
                    let n = cmd.get(1).and_then(Value::as_u64).unwrap_or(0);
                    Response::Ok(json!("x".repeat(n as usize)))
                }
                Some("stop") => {
                    s2.store(true, Ordering::SeqCst);
                    Response::Ok(Value::Null)
                }
                _ => Response::Ok(Value::Array(cmd.to_vec())),
            }
        });
        let listener = Listener::bind(opts).expect("bind");
        let s3 = stop.clone();
        let thread =
            std::thread::spawn(move || listener.run(handler, move || s3.load(Ordering::SeqCst)));
        TestServer {
            path,
            stop,
            release,
            thread: Some(thread),
            calls,
        }
    }

    fn client(&self) -> Client {
        Client::connect(&self.path, T).expect("connect")
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("join").expect("serve");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.release.store(true, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Raw connection helper: write bytes, read one line.
fn raw_line(stream: &mut UnixStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match stream.read(&mut b) {
            Ok(0) => break,
            Ok(_) => {
                if b[0] == b'\n' {
                    break;
                }
                out.push(b[0]);
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8(out).expect("utf8 reply")
}

fn protocol_error(line: &str) -> bool {
    matches!(Response::from_line(line.as_bytes()), Ok(Response::Error(e)) if e.kind == PROTOCOL_ERROR)
}

#[test]
fn round_trips() {
    let d = tempfile::tempdir().unwrap();
    let mut s = TestServer::start(&d.path().join("s.sock"));
    let mut c = s.client();
    assert_eq!(c.send(&[json!("ping")]).unwrap(), json!("pong"));
    let cmd = vec![
        json!("server-stream"),
        json!([
            ["add", "sshd", "auto"],
            ["set", "sshd", "maxretry", 3],
            ["start", "sshd"]
        ]),
        json!({"k": [1, 2.5, null, true]}),
        json!("ünïcødé\nnew line"),
    ];
    assert_eq!(c.send(&cmd).unwrap(), Value::Array(cmd.clone()));
    match c.send(&[json!("fail")]) {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.kind, "UnknownJailException");
            assert_eq!(e.message, "nope");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.send_words(&["a", "b"]).unwrap(), json!(["a", "b"]));
    s.stop();
}

/// A reply of many chunks (the banned list of a big jail): the client
/// used to search its buffer from the start after every 16 KiB read,
/// which took minutes at this size.
#[test]
fn large_reply_in_many_chunks() {
    let d = tempfile::tempdir().unwrap();
    let s = TestServer::start(&d.path().join("s.sock"));
    let mut c = s.client();
    let n = 32 << 20;
    let v = c.send(&[json!("big"), json!(n)]).unwrap();
    assert_eq!(v.as_str().map(str::len), Some(n));
    assert_eq!(c.send(&[json!("ping")]).unwrap(), json!("pong"));
}

#[test]
fn many_requests_per_connection_and_pipelining() {
    let d = tempfile::tempdir().unwrap();
    let s = TestServer::start(&d.path().join("s.sock"));
    let mut c = s.client();
    for i in 0..200 {
        assert_eq!(c.send(&[json!(i)]).unwrap(), json!([i]));
    }
    // Several requests in one write are answered in order.
    c.write_raw(b"[1]\n[2]\r\n\n  \n[3]").unwrap();
    for i in 1..=2 {
        assert_eq!(c.read_response().unwrap(), Response::Ok(json!([i])));
    }
    // A final request without a newline is answered once the client
    // closes its side.
    let mut raw = UnixStream::connect(&s.path).unwrap();
    raw.write_all(b"[\"ping\"]").unwrap();
    raw.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(raw_line(&mut raw), r#"{"ok":"pong"}"#);
}

#[test]
fn garbage_gets_errors_and_the_connection_survives() {
    let d = tempfile::tempdir().unwrap();
    let s = TestServer::start(&d.path().join("s.sock"));
    let mut raw = UnixStream::connect(&s.path).unwrap();
    raw.set_read_timeout(T).unwrap();
    // (the first request makes this a JSON connection; one that starts
    // with anything else speaks fail2ban's protocol, see pickle_wire.rs)
    raw.write_all(b"[\"ping\"]\n").unwrap();
    assert_eq!(raw_line(&mut raw), r#"{"ok":"pong"}"#);
    for garbage in [
        &b"\xff\xfe\x00\x01\n"[..],
        b"not json\n",
        b"{\"a\": 1}\n",
        b"\"ping\"\n",
        b"[1, 2\n",
        b"\x80abc]\n",
        b"\0\0\0\n",
    ] {
        raw.write_all(garbage).unwrap();
        let line = raw_line(&mut raw);
        assert!(protocol_error(&line), "{garbage:?} -> {line}");
    }
    raw.write_all(b"[\"ping\"]\n").unwrap();
    assert_eq!(raw_line(&mut raw), r#"{"ok":"pong"}"#);
    // On a JSON connection, fail2ban's pickle is garbage too.
    raw.write_all(
        b"\x80\x05\x95\x08\x00\x00\x00\x00\x00\x00\x00]\x94\x8c\x04ping\x94a.<F2B_END_COMMAND>\n",
    )
    .unwrap();
    assert!(protocol_error(&raw_line(&mut raw)));
    // A panicking handler is an error reply, not a dead server.
    let mut c = s.client();
    match c.send(&[json!("panic")]) {
        Err(ClientError::Remote(e)) => assert_eq!(e.kind, "Exception"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.send(&[json!("ping")]).unwrap(), json!("pong"));
}

#[test]
fn random_bytes_never_kill_the_server() {
    let d = tempfile::tempdir().unwrap();
    let s = TestServer::start(&d.path().join("s.sock"));
    // A small deterministic generator (no extra dependency).
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..50 {
        let mut raw = UnixStream::connect(&s.path).unwrap();
        raw.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = Vec::new();
        for _ in 0..(x % 4096) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push((x >> 24) as u8);
        }
        let _ = raw.write_all(&buf);
        let mut sink = [0u8; 8192];
        let _ = raw.read(&mut sink);
    }
    let mut c = s.client();
    assert_eq!(c.send(&[json!("ping")]).unwrap(), json!("pong"));
}

#[test]
fn oversized_line_is_refused_and_closed() {
    let d = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::new(d.path().join("s.sock"));
    opts.max_request = 1000;
    let s = TestServer::start_with(opts);
    let calls_before = s.calls.load(Ordering::SeqCst);
    let mut raw = UnixStream::connect(&s.path).unwrap();
    raw.set_read_timeout(T).unwrap();
    let big = format!("[\"{}\"]\n", "x".repeat(5000));
    // The server may close before reading everything; a failed write is fine.
    let _ = raw.write_all(big.as_bytes());
    let line = raw_line(&mut raw);
    assert!(protocol_error(&line), "{line}");
    assert!(line.contains("longer than 1000"), "{line}");
    assert_eq!(raw_line(&mut raw), "", "connection must be closed");
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        calls_before,
        "handler must not run"
    );
    // Exactly at the limit is fine.
    let mut c = s.client();
    let ok = "y".repeat(1000 - 4);
    assert_eq!(c.send(&[json!(ok)]).unwrap(), json!([ok]));
}

#[test]
fn default_limit_is_one_mebibyte() {
    let d = tempfile::tempdir().unwrap();
    let s = TestServer::start(&d.path().join("s.sock"));
    let mut c = s.client();
    let half = "z".repeat(512 * 1024);
    assert_eq!(c.send(&[json!(half)]).unwrap(), json!([half]));
    let two = "z".repeat(2 * 1024 * 1024);
    match c.send(&[json!(two)]) {
        Err(ClientError::Remote(e)) => assert_eq!(e.kind, PROTOCOL_ERROR),
        // The server may close before the client has written everything.
        Err(ClientError::Io(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn socket_mode_and_parent_directory() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("run/fail2ban/s.sock");
    let s = TestServer::start(&path);
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(d.path().join("run/fail2ban")).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o755);
    drop(s);
    // Also under the server's umask 077.
    // SAFETY: umask has no preconditions (the old value is restored).
    let old = unsafe { libc::umask(0o077) };
    let path = d.path().join("strict/dir/s.sock");
    let s = TestServer::start(&path);
    unsafe { libc::umask(old) };
    for dir in ["strict", "strict/dir"] {
        let m = std::fs::metadata(d.path().join(dir)).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o755, "{dir}");
    }
    drop(s);
}

#[test]
fn socket_is_removed_on_stop() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.sock");
    let mut s = TestServer::start(&path);
    let mut c = s.client();
    assert_eq!(c.send(&[json!("stop")]).unwrap(), Value::Null);
    s.stop();
    assert!(!path.exists());
}

#[test]
fn a_live_server_is_not_taken_over() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.sock");
    let s = TestServer::start(&path);
    for force in [false, true] {
        let mut o = ServeOptions::new(&path);
        o.force = force;
        match Listener::bind(o) {
            Err(ServeError::AlreadyRunning(_)) => {}
            other => panic!("force={force}: {other:?}"),
        }
    }
    let mut c = s.client();
    assert_eq!(c.send(&[json!("ping")]).unwrap(), json!("pong"));
}

#[test]
fn stale_socket_is_replaced() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.sock");
    // A socket file nobody listens on (the listener is dropped, the file
    // stays: std does not unlink it).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let s = TestServer::start(&path);
    let mut c = s.client();
    assert_eq!(c.send(&[json!("ping")]).unwrap(), json!("pong"));
}

#[test]
fn a_listener_that_does_not_answer_needs_force() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.sock");
    // Accepts connections (kernel backlog) but never answers.
    let mute = std::os::unix::net::UnixListener::bind(&path).unwrap();
    match Listener::bind(ServeOptions::new(&path)) {
        Err(ServeError::Exists { .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut o = ServeOptions::new(&path);
    o.force = true;
    let s = TestServer::start_with(o);
    let mut c = s.client();
    assert_eq!(c.send(&[json!("ping")]).unwrap(), json!("pong"));
    drop(mute);
}

#[test]
fn a_regular_file_needs_force() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.sock");
    std::fs::write(&path, "x").unwrap();
    assert!(matches!(
        Listener::bind(ServeOptions::new(&path)),
        Err(ServeError::Exists { .. })
    ));
    let mut o = ServeOptions::new(&path);
    o.force = true;
    let s = TestServer::start_with(o);
    assert_eq!(s.client().send(&[json!("ping")]).unwrap(), json!("pong"));
}

#[test]
fn a_successors_socket_is_not_removed() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.sock");
    let mut first = TestServer::start(&path);
    // Someone replaces the socket file behind the first server's back.
    std::fs::remove_file(&path).unwrap();
    let second = TestServer::start(&path);
    first.stop();
    assert!(path.exists());
    assert_eq!(
        second.client().send(&[json!("ping")]).unwrap(),
        json!("pong")
    );
}

#[test]
fn connections_are_bounded() {
    let d = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::new(d.path().join("s.sock"));
    opts.max_connections = 2;
    let s = TestServer::start_with(opts);
    // Both slots run a command that does not end yet.
    let held: Vec<_> = (0..2)
        .map(|_| {
            let p = s.path.clone();
            std::thread::spawn(move || Client::connect(&p, T).unwrap().send(&[json!("hold")]))
        })
        .collect();
    while s.calls.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut third = UnixStream::connect(&s.path).unwrap();
    third.set_read_timeout(T).unwrap();
    let line = raw_line(&mut third);
    assert!(line.contains("too many connections"), "{line}");
    s.release.store(true, Ordering::SeqCst);
    for h in held {
        assert_eq!(h.join().unwrap().unwrap(), Value::Null);
    }
    // The slots come back once the commands are answered (the server
    // frees a slot when it sees the client hang up, which a loaded
    // machine may take a moment to schedule).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(&s.path, T).and_then(|mut c| c.send(&[json!("ping")])) {
            Ok(v) => {
                assert_eq!(v, json!("pong"));
                break;
            }
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(format!("{e:?}").contains("too many connections"), "{e:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the slots never came back: {e:?}"),
        }
    }
}

#[test]
fn a_new_connection_takes_the_slot_idle_longest() {
    let d = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::new(d.path().join("s.sock"));
    opts.max_connections = 2;
    let s = TestServer::start_with(opts);
    let mut old = s.client();
    assert_eq!(old.send(&[json!("ping")]).unwrap(), json!("pong"));
    std::thread::sleep(Duration::from_millis(50));
    let mut newer = s.client();
    assert_eq!(newer.send(&[json!("ping")]).unwrap(), json!("pong"));
    // A third connection: `old` (idle longest) is closed for it.
    let mut third = s.client();
    assert_eq!(third.send(&[json!("ping")]).unwrap(), json!("pong"));
    assert!(
        old.send(&[json!("ping")]).is_err(),
        "evicted connection answered"
    );
    assert_eq!(newer.send(&[json!("ping")]).unwrap(), json!("pong"));
    // An evicted connection's unfinished request is never run.
    let calls = s.calls.load(Ordering::SeqCst);
    let mut partial = UnixStream::connect(&s.path).unwrap();
    partial.write_all(br#"["fail"]"#).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut a = s.client();
    let mut b = s.client();
    assert_eq!(a.send(&[json!("ping")]).unwrap(), json!("pong"));
    assert_eq!(b.send(&[json!("ping")]).unwrap(), json!("pong"));
    partial.set_read_timeout(T).unwrap();
    assert_eq!(
        raw_line(&mut partial),
        "",
        "no reply on an evicted connection"
    );
    assert_eq!(s.calls.load(Ordering::SeqCst), calls + 2);
}

#[test]
fn concurrent_clients() {
    let d = tempfile::tempdir().unwrap();
    let s = TestServer::start(&d.path().join("s.sock"));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let p = s.path.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&p, T).unwrap();
                for j in 0..20 {
                    assert_eq!(c.send(&[json!(i), json!(j)]).unwrap(), json!([i, j]));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn stop_waits_for_a_running_request() {
    let d = tempfile::tempdir().unwrap();
    let mut s = TestServer::start(&d.path().join("s.sock"));
    let p = s.path.clone();
    let t = std::thread::spawn(move || {
        let mut c = Client::connect(&p, T).unwrap();
        c.send(&[json!("sleep")])
    });
    std::thread::sleep(Duration::from_millis(100));
    s.stop();
    assert_eq!(t.join().unwrap().unwrap(), Value::Null);
}

#[test]
fn client_timeout_and_connect_errors() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("none.sock");
    assert!(matches!(
        Client::connect(&path, T),
        Err(ClientError::Connect { .. })
    ));
    let mute = std::os::unix::net::UnixListener::bind(d.path().join("mute.sock")).unwrap();
    let mut c = Client::connect(
        &d.path().join("mute.sock"),
        Some(Duration::from_millis(100)),
    )
    .unwrap();
    assert!(matches!(c.send(&[json!("ping")]), Err(ClientError::Io(_))));
    drop(mute);
}

/// Try to connect to `path` as uid/gid 65534 (nobody) in a forked child;
/// returns the child's errno (0 = connected).
fn connect_as_nobody(path: &Path) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    // Everything the child needs is prepared before fork: after fork only
    // async-signal-safe system calls are made (no allocation, no locks).
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: zeroed sockaddr_un is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    assert!(bytes.len() < addr.sun_path.len());
    for (i, b) in bytes.iter().enumerate() {
        addr.sun_path[i] = *b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: the child only calls async-signal-safe functions and _exit.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork");
        if pid == 0 {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                libc::_exit(200);
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            if fd < 0 {
                libc::_exit(201);
            }
            let r = libc::connect(fd, &addr as *const _ as *const libc::sockaddr, len);
            if r == 0 {
                libc::_exit(0);
            }
            libc::_exit(*libc::__errno_location());
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert!(libc::WIFEXITED(status));
        libc::WEXITSTATUS(status)
    }
}

#[test]
fn non_root_cannot_connect() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to drop privileges");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    // Let nobody traverse the directory, so it is the socket's own mode
    // that stops it.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = d.path().join("s.sock");
    let s = TestServer::start(&path);
    let rc = connect_as_nobody(&path);
    assert!(rc < 200, "privilege drop failed ({rc})");
    assert_eq!(rc, libc::EACCES, "nobody must get EACCES, got errno {rc}");
    // Root still can.
    assert_eq!(s.client().send(&[json!("ping")]).unwrap(), json!("pong"));
    // Control: with a world-writable socket, nobody connects — the test
    // really measures the mode bits.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(connect_as_nobody(&path), 0);
}

/// Opens `n` connections that never send a whole request: half send
/// nothing, half a partial line.
fn stuck_clients(path: &Path, n: usize) -> Vec<UnixStream> {
    (0..n)
        .map(|i| {
            let mut s = UnixStream::connect(path).expect("connect");
            if i % 2 == 1 {
                s.write_all(br#"["status", "ss"#).expect("partial line");
            }
            s
        })
        .collect()
}

#[test]
fn idle_connections_are_closed_after_the_timeout() {
    let d = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::new(d.path().join("s.sock"));
    opts.idle_timeout = Duration::from_millis(300);
    let s = TestServer::start_with(opts);
    let mut stuck = stuck_clients(&s.path, 20);
    // A connection in use is not idle: each answer restarts its clock.
    let mut busy = s.client();
    for _ in 0..6 {
        assert_eq!(busy.send(&[json!("ping")]).unwrap(), json!("pong"));
        std::thread::sleep(Duration::from_millis(100));
    }
    // A command that runs longer than the timeout is not cut off either.
    assert_eq!(busy.send(&[json!("sleep")]).unwrap(), Value::Null);
    // The idle and the stalled ones are closed: their reads see EOF.
    for c in &mut stuck {
        c.set_read_timeout(T).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(c.read(&mut buf).expect("closed, not timed out"), 0);
    }
    // Trickling bytes does not keep a connection open.
    let mut slow = UnixStream::connect(&s.path).unwrap();
    slow.set_read_timeout(T).unwrap();
    let start = std::time::Instant::now();
    let closed = loop {
        if slow.write_all(b" ").is_err() {
            break true;
        }
        if start.elapsed() > Duration::from_secs(5) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(closed, "a trickling client kept its connection");
}

#[test]
fn idle_connections_never_lock_out_the_admin() {
    let d = tempfile::tempdir().unwrap();
    let mut s = TestServer::start(&d.path().join("s.sock"));
    // Far more than the 64 connections served at once, all held open.
    let _stuck = stuck_clients(&s.path, 200);
    for _ in 0..3 {
        let mut admin = s.client();
        assert_eq!(admin.send(&[json!("ping")]).unwrap(), json!("pong"));
    }
    let mut admin = s.client();
    assert_eq!(admin.send(&[json!("stop")]).unwrap(), Value::Null);
    s.stop();
}
