//! Test support shared by the firewall and end-to-end tests.
//!
//! [`TestNet`] creates two private network namespaces ("server" and
//! "client") joined by a veth pair with TEST-NET addresses only
//! (192.0.2.0/24 and 2001:db8::/64). Everything a test does to a firewall
//! runs inside those namespaces (`ip netns exec`, or threads that entered
//! them with `setns`), so the host's firewall and network are never touched
//! and no traffic leaves the machine. Namespaces are deleted by `Drop`, also
//! when a test panics, and leftovers of killed test runs are removed the
//! next time a `TestNet` is created.
//!
//! [`Postgres`] is a throw-away PostgreSQL cluster for the fleet's tests
//! (Debian's `postgresql` package, run as the `postgres` user, reached
//! through a Unix socket in a temporary directory, which every network
//! namespace can reach); it is stopped and removed by `Drop`.
//!
//! Missing root or tools make a test FAIL with a clear message: a firewall
//! test that silently passes would prove nothing.

#![deny(missing_docs)]

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The project's shared reference data: `GAOLER_SHARED`, or `../shared`
/// beside the repository (where this workspace keeps it). FAILS, saying
/// what to set, when it is not there.
pub fn shared() -> std::path::PathBuf {
    let p = std::env::var_os("GAOLER_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        p.is_dir(),
        "the shared reference data is not at {}: set GAOLER_SHARED to it \
         (see the README, \"Reference data\")",
        p.display()
    );
    p
}

/// Wall-clock time as fail2ban holds it: seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Upstream's annotated sample logs (`logs/*`), sorted by name.
pub fn upstream_sample_logs() -> Vec<std::path::PathBuf> {
    let mut names: Vec<_> = std::fs::read_dir(upstream().join("logs"))
        .expect("upstream logs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    names
}

/// A veth pair: `a` in namespace `a_ns`, its peer `b` in `b_ns`.
pub fn veth(a_ns: &str, a: &str, b_ns: &str, b: &str) {
    run(&[
        "ip", "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns,
    ]);
}

/// Copies a directory tree (a configuration into a per-test temporary
/// directory), calling `edit` on each file's text on the way: `None` keeps
/// the file as it is (binary files are always copied as they are).
pub fn copy_tree_with(from: &Path, to: &Path, edit: &dyn Fn(&str) -> Option<String>) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree_with(&e.path(), &dst, edit);
            continue;
        }
        match std::fs::read_to_string(e.path())
            .ok()
            .and_then(|t| edit(&t))
        {
            Some(text) => std::fs::write(&dst, text).expect("write"),
            None => {
                std::fs::copy(e.path(), &dst).expect("copy");
            }
        }
    }
}

/// Copies a directory tree as it is (see [`copy_tree_with`]).
pub fn copy_tree(from: &Path, to: &Path) {
    copy_tree_with(from, to, &|_| None)
}

/// fail2ban's upstream tree the tests compare against (`config/`,
/// `test-config/`, `logs/`, `golden/`): `GAOLER_UPSTREAM`, or
/// `fail2ban-upstream` in [`shared`]. FAILS, saying what to set, when it is
/// not there: `contrib/fetch-upstream.sh` makes one from fail2ban's
/// repository at the commit in `UPSTREAM_COMMIT`.
pub fn upstream() -> std::path::PathBuf {
    let p = match std::env::var_os("GAOLER_UPSTREAM") {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let default =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fail2ban-upstream");
            if !default.is_dir() {
                panic!(
                    "fail2ban's upstream reference data is not at {}: set GAOLER_UPSTREAM to a \
                     tree made by contrib/fetch-upstream.sh (fail2ban at the commit in \
                     UPSTREAM_COMMIT; see the README, \"Reference data\")",
                    default.display()
                );
            }
            default
        }
    };
    assert!(
        p.join("config").is_dir(),
        "GAOLER_UPSTREAM={} has no config/: make it with contrib/fetch-upstream.sh",
        p.display()
    );
    p
}

/// The server namespace's IPv4 address on the veth (TEST-NET-1).
pub const SERVER4: &str = "192.0.2.1";
/// The client namespace's IPv4 address.
pub const CLIENT4: &str = "192.0.2.2";
/// The server namespace's IPv6 address (documentation prefix).
pub const SERVER6: &str = "2001:db8::1";
/// The client namespace's IPv6 address.
pub const CLIENT6: &str = "2001:db8::2";

/// Fail unless running as root with `tools` in PATH.
pub fn require_root_and_tools(tools: &[&str]) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "network namespace tests need root");
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(found, "this test needs `{tool}` in PATH (see .ci/run)");
    }
}

/// Run a command; panic with its stderr unless it succeeds. Returns stdout.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pair of namespaces joined by a veth; deleted on drop.
pub struct TestNet {
    /// Name of the namespace where the firewall under test runs.
    pub server: String,
    /// Name of the namespace the test's packets come from.
    pub client: String,
}

impl TestNet {
    /// `tag` must be short (it goes into interface names, max 15 chars).
    pub fn new(tag: &str) -> Self {
        remove_stale_namespaces();
        let pid = std::process::id();
        let net = TestNet {
            server: format!("gaoler-t-{pid}-{tag}-srv"),
            client: format!("gaoler-t-{pid}-{tag}-cli"),
        };
        run(&["ip", "netns", "add", &net.server]);
        run(&["ip", "netns", "add", &net.client]);
        let vs = format!("g{}{tag}s", pid % 100_000);
        let vc = format!("g{}{tag}c", pid % 100_000);
        veth(&net.server, &vs, &net.client, &vc);
        for (ns, dev, a4, a6) in [
            (&net.server, &vs, SERVER4, SERVER6),
            (&net.client, &vc, CLIENT4, CLIENT6),
        ] {
            net.ns(ns, &["ip", "link", "set", "lo", "up"]);
            net.ns(ns, &["ip", "addr", "add", &format!("{a4}/24"), "dev", dev]);
            net.ns(
                ns,
                &[
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    &format!("{a6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ],
            );
            net.ns(ns, &["ip", "link", "set", dev, "up"]);
        }
        net
    }

    /// Run a command inside namespace `ns` and return stdout.
    pub fn ns(&self, ns: &str, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(args);
        run(&v)
    }

    /// Runs `args` in the server namespace (panics on failure); stdout.
    pub fn in_server(&self, args: &[&str]) -> String {
        self.ns(&self.server, args)
    }

    /// The argv prefix that runs a program in the server namespace.
    pub fn server_wrapper(&self) -> Vec<String> {
        vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.server.clone(),
        ]
    }

    /// Everything the firewall has in the server namespace.
    pub fn ruleset(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.in_server(&["iptables-save"]),
            self.in_server(&["ip6tables-save"]),
            self.in_server(&["nft", "list", "ruleset"])
        )
    }

    /// TCP listeners on the server for `ports` (dual-stack).
    pub fn listen_tcp(&self, ports: &[u16]) -> Vec<TcpListener> {
        let ports = ports.to_vec();
        in_netns(&self.server, move || {
            ports
                .iter()
                .map(|p| {
                    TcpListener::bind(SocketAddr::from(([0u16; 8], *p)))
                        .unwrap_or_else(|e| panic!("bind [::]:{p}: {e}"))
                })
                .collect()
        })
    }

    /// A UDP echo service on the server (dual-stack) for `port`, running
    /// until the returned guard is dropped.
    pub fn udp_echo(&self, port: u16) -> UdpEcho {
        let sock = in_netns(&self.server, move || {
            UdpSocket::bind(SocketAddr::from(([0u16; 8], port)))
                .unwrap_or_else(|e| panic!("bind udp {port}: {e}"))
        });
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        UdpEcho {
            stop,
            handle: Some(handle),
        }
    }

    /// Whether a TCP connection from the client to `addr:port` succeeds.
    pub fn tcp_reachable(&self, addr: &str, port: u16) -> bool {
        let target = SocketAddr::new(addr.parse().expect("address"), port);
        in_netns(&self.client, move || {
            TcpStream::connect_timeout(&target, Duration::from_millis(1500)).is_ok()
        })
    }

    /// Whether a UDP datagram from the client to `addr:port` gets its echo.
    pub fn udp_reachable(&self, addr: &str, port: u16) -> bool {
        let target = SocketAddr::new(addr.parse().expect("address"), port);
        in_netns(&self.client, move || {
            let bind: SocketAddr = if target.is_ipv6() {
                SocketAddr::from(([0u16; 8], 0))
            } else {
                SocketAddr::from(([0u8; 4], 0))
            };
            let Ok(s) = UdpSocket::bind(bind) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                if s.send_to(b"OPTIONS sip:probe SIP/2.0\r\n", target).is_err() {
                    return false;
                }
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    return n > 0;
                }
            }
            false
        })
    }

    /// Wait until the link answers on `port` over TCP (IPv6 may need a moment).
    pub fn wait_tcp_ready(&self, port: u16) {
        for _ in 0..50 {
            if self.tcp_reachable(SERVER4, port) && self.tcp_reachable(SERVER6, port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("test network not ready");
    }

    /// Wait until the UDP echo on `port` answers over IPv4 and IPv6.
    pub fn wait_udp_ready(&self, port: u16) {
        for _ in 0..50 {
            if self.udp_reachable(SERVER4, port) && self.udp_reachable(SERVER6, port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("test network not ready (udp {port})");
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            // Deleting the namespace also removes its veth end and firewall.
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A running UDP echo service; stopped on drop.
pub struct UdpEcho {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Delete test namespaces of dead test processes (`gaoler-t-<pid>-*`).
pub fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix("gaoler-t-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Run `f` on a new thread that has entered network namespace `ns`
/// (setns affects only the calling thread; sockets keep their namespace).
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file =
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        // SAFETY: the fd is a valid namespace file for the duration of the
        // call; only this thread's network namespace changes.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// Where Debian's `postgresql` package puts the server's programs.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throw-away PostgreSQL cluster under a temporary directory: `initdb`
/// with trust authentication for the `postgres` user, listening only on a
/// Unix socket in that directory. Stopped (immediately) and removed on
/// drop, also when the test fails. Never touches the system's cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// With TLS over TCP: the network namespace and port.
    tcp: Option<(String, u16)>,
}

impl Postgres {
    /// Makes and starts the cluster (Unix socket only). FAILS unless root
    /// with Debian's `postgresql` package installed.
    pub fn start() -> Postgres {
        Self::start_with(None)
    }

    /// [`Postgres::start`], also listening with TLS on 127.0.0.1:`port`
    /// inside network namespace `netns` (whose loopback must be up), with
    /// a self-signed certificate for `localhost` ([`Postgres::certificate`]).
    pub fn start_tls(netns: &str, port: u16) -> Postgres {
        Self::start_with(Some((netns.to_owned(), port)))
    }

    fn start_with(tcp: Option<(String, u16)>) -> Postgres {
        require_root_and_tools(&["runuser", "chown", "openssl"]);
        assert!(
            Path::new(PG_BIN).join("initdb").is_file(),
            "this test needs Debian's postgresql package ({PG_BIN}; see .ci/run)"
        );
        let pg = Postgres {
            dir: tempfile::tempdir().expect("tempdir"),
            tcp,
        };
        std::fs::create_dir(pg.socket_dir()).expect("socket dir");
        if pg.tcp.is_some() {
            let d = pg.dir.path();
            run(&[
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                &d.join("server.key").to_string_lossy(),
                "-out",
                &pg.certificate().to_string_lossy(),
            ]);
            run(&["chmod", "600", &d.join("server.key").to_string_lossy()]);
        }
        run(&["chown", "-R", "postgres:", &pg.dir.path().to_string_lossy()]);
        let data = pg.data_dir().to_string_lossy().into_owned();
        Self::as_postgres(
            None,
            &[
                &format!("{PG_BIN}/initdb"),
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        pg.up();
        pg
    }

    /// The server's certificate (PEM), with [`Postgres::start_tls`].
    pub fn certificate(&self) -> std::path::PathBuf {
        self.dir.path().join("server.crt")
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("sock")
    }

    /// `host=SOCKET_DIR user=postgres dbname=postgres`.
    pub fn conninfo(&self) -> String {
        format!(
            "host={} user=postgres dbname=postgres",
            self.socket_dir().display()
        )
    }

    fn as_postgres(netns: Option<&str>, args: &[&str]) {
        let mut v = match netns {
            Some(ns) => vec!["ip", "netns", "exec", ns],
            None => Vec::new(),
        };
        v.extend_from_slice(&["runuser", "-u", "postgres", "--"]);
        v.extend_from_slice(args);
        run(&v);
    }

    /// Starts the server (again).
    pub fn up(&self) {
        let data = self.data_dir().to_string_lossy().into_owned();
        let log = self
            .dir
            .path()
            .join("pg.log")
            .to_string_lossy()
            .into_owned();
        let mut opts = format!("-k {} -c fsync=off", self.socket_dir().display());
        match &self.tcp {
            None => opts.push_str(" -c listen_addresses=''"),
            Some((_, port)) => opts.push_str(&format!(
                " -c listen_addresses=127.0.0.1 -p {port} -c ssl=on \
                 -c ssl_cert_file={} -c ssl_key_file={}",
                self.certificate().display(),
                self.dir.path().join("server.key").display()
            )),
        }
        // (started inside the namespace, its TCP socket is there too)
        let netns = self.tcp.as_ref().map(|(ns, _)| ns.as_str());
        Self::as_postgres(
            netns,
            &[
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                &data,
                "-l",
                &log,
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server (`fast`: sessions are ended, as in a restart).
    pub fn down(&self) {
        let data = self.data_dir().to_string_lossy().into_owned();
        Self::as_postgres(
            None,
            &[
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                &data,
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data_dir().to_string_lossy().into_owned();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args([
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                &data,
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}

/// Writes a fake `journalctl` into `dir` and returns its path. Each run
/// counts itself (run N), records its arguments in `args.N` and `args`,
/// prints `entries.N` (or else `entries`), fails like journalctl without
/// journal files when `dir/fail` exists, and from run `stay_from` on stays
/// alive after printing (a following reader), else exits 0.
pub fn fake_journalctl(dir: &Path, stay_from: Option<u32>) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = dir.display();
    let stay = stay_from
        .map(|n| format!("if [ $n -ge {n} ]; then exec sleep 30; fi\n"))
        .unwrap_or_default();
    let script = format!(
        "#!/bin/sh\n\
         n=$(cat '{d}/count' 2>/dev/null || echo 0)\n\
         n=$((n+1))\n\
         echo $n > '{d}/count'\n\
         printf '%s\\n' \"$@\" > '{d}/args.'$n\n\
         cp '{d}/args.'$n '{d}/args'\n\
         if [ -e '{d}/entries.'$n ]; then cat '{d}/entries.'$n; else cat '{d}/entries' 2>/dev/null; fi\n\
         if [ -e '{d}/fail' ]; then echo 'No journal files were found.' >&2; exit 1; fi\n\
         {stay}exit 0\n"
    );
    let path = dir.join("journalctl");
    std::fs::write(&path, script).expect("write fake journalctl");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod fake journalctl");
    path
}
