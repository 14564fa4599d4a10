//! Shared helpers for the binary's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The pinned upstream reference data (test data only, never copied into the repo).
pub fn upstream() -> PathBuf {
    gaoler_testkit::upstream()
}

pub fn gaoler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gaoler"))
}

pub use gaoler_testkit::copy_tree;

/// gaoler's shipped configuration tree (`config/`).
pub fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// A test configuration in `dir/conf`: the tree `base` (copied once), the
/// server's log and database in `dir`, the one-line filter `gaoler-test`
/// (`ban <HOST>`, no date: a log line bans at once) and `jail_local`.
pub fn test_tree(dir: &Path, base: &Path, jail_local: &str) {
    let conf = dir.join("conf");
    if !conf.exists() {
        copy_tree(base, &conf);
    }
    let d = dir.display();
    write_files(
        &conf,
        &[
            (
                "fail2ban.local",
                &format!("[Definition]\nlogtarget = {d}/gaoler.log\ndbfile = {d}/gaoler.sqlite3\n"),
            ),
            (
                "filter.d/gaoler-test.conf",
                "[Definition]\nfailregex = ^ban <HOST>$\ndatepattern = {NONE}\n",
            ),
            ("jail.local", jail_local),
        ],
    );
}

/// The number after `key` (`"Currently banned:"`, ...) in a `status J`
/// output.
pub fn status_value(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.split_once(key))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} not in {status}"))
}

/// `args` run in `net`'s server namespace: (success, stdout).
pub fn in_ns(net: &gaoler_testkit::TestNet, args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", &net.server])
        .args(args)
        .output()
        .expect("ip netns exec");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Write `files` (relative path, content) into `root`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let p = root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
    }
}

/// [`write_files`] with `placeholder` in the contents replaced by `value`
/// (temp-dir paths the fixed texts cannot know).
pub fn write_files_replacing(root: &Path, files: &[(&str, &str)], placeholder: &str, value: &Path) {
    for (rel, content) in files {
        write_files(
            root,
            &[(rel, &content.replace(placeholder, &value.to_string_lossy()))],
        );
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `gaoler server` process for a test; killed on drop.
pub struct Daemon {
    child: Option<Child>,
    dir: PathBuf,
    netns: Option<String>,
}

impl Daemon {
    pub fn sock(&self) -> PathBuf {
        self.dir.join("gaoler.sock")
    }

    /// Start `gaoler server -f` on `dir/conf` (socket, pidfile and output in
    /// `dir`), inside network namespace `netns` when given.
    pub fn start(dir: &Path, netns: Option<&str>) -> Daemon {
        let log = std::fs::File::create(dir.join("server.out")).expect("server.out");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_gaoler")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_gaoler")),
        };
        let child = cmd
            .args(["server", "-f", "-x", "-c"])
            .arg(dir.join("conf"))
            .arg("-s")
            .arg(dir.join("gaoler.sock"))
            .arg("-p")
            .arg(dir.join("gaoler.pid"))
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start gaoler server");
        let d = Daemon {
            child: Some(child),
            dir: dir.to_path_buf(),
            netns: netns.map(str::to_string),
        };
        d.wait_until("server answers ping", |d| d.client(&["ping"]).0);
        d
    }

    /// `gaoler client -s SOCK args…` → (success, stdout).
    pub fn client(&self, args: &[&str]) -> (bool, String) {
        let out = gaoler()
            .arg("client")
            .arg("-s")
            .arg(self.sock())
            .args(args)
            .output()
            .expect("client");
        (out.status.success(), stdout(&out))
    }

    pub fn status(&self, jail: &str) -> String {
        let (ok, out) = self.client(&["status", jail]);
        assert!(ok, "status {jail} failed: {out}\n{}", self.server_output());
        out
    }

    /// Wait until the configuration thread has created `jail`.
    pub fn wait_jail(&self, jail: &str) {
        self.wait_until(&format!("jail {jail} exists"), |d| {
            d.client(&["status", jail]).0
        });
    }

    pub fn banned(&self, jail: &str, ip: &str) -> bool {
        self.status(jail)
            .lines()
            .find(|l| l.contains("Banned IP list:"))
            .is_some_and(|l| l.split_whitespace().any(|w| w == ip))
    }

    pub fn server_output(&self) -> String {
        let out = std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default();
        let log = std::fs::read_to_string(self.dir.join("gaoler.log")).unwrap_or_default();
        format!("--- server stdout/stderr ---\n{out}\n--- server log ---\n{log}")
    }

    pub fn wait_until(&self, what: &str, cond: impl Fn(&Daemon) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for: {what}\n{}", self.server_output());
    }

    pub fn stop(mut self) {
        let (ok, out) = self.client(&["stop"]);
        assert!(ok, "stop failed: {out}");
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            panic!("server did not exit after stop\n{}", self.server_output());
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = &self.netns;
    }
}
