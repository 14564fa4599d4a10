//! Test support: configuration trees in temporary directories (from the
//! fixtures or built by hand) and a fake machine.

#![allow(dead_code)]

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use gaoler_lint::{Finding, Host, Level, Options, RealHost};

/// A machine with the tools, addresses and unreadable files a test says.
pub struct FakeHost {
    pub tools: Vec<&'static str>,
    pub addrs: Vec<IpAddr>,
    pub unreadable: Vec<PathBuf>,
}

impl Default for FakeHost {
    /// Every firewall tool and journalctl; only loopback addresses.
    fn default() -> FakeHost {
        FakeHost {
            tools: vec![
                "nft",
                "iptables",
                "ip6tables",
                "ipset",
                "ufw",
                "firewall-cmd",
                "journalctl",
                "ip",
                "iptables-restore",
                "ip6tables-restore",
            ],
            addrs: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
            unreadable: Vec::new(),
        }
    }
}

impl FakeHost {
    pub fn without(mut self, tool: &str) -> FakeHost {
        self.tools.retain(|t| *t != tool);
        self
    }
}

impl Host for FakeHost {
    fn which(&self, tool: &str) -> Option<PathBuf> {
        let base = tool.rsplit('/').next().unwrap_or(tool);
        self.tools
            .contains(&base)
            .then(|| PathBuf::from("/usr/sbin").join(base))
    }
    fn own_addresses(&self) -> Vec<IpAddr> {
        self.addrs.clone()
    }
    fn read_head(&self, path: &Path, n_lines: usize) -> io::Result<Vec<String>> {
        if self.unreadable.iter().any(|p| p == path) {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        RealHost.read_head(path, n_lines)
    }
    fn readable(&self, path: &Path) -> bool {
        !self.unreadable.iter().any(|p| p == path) && RealHost.readable(path)
    }
    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        RealHost.glob(pattern)
    }
}

/// A configuration tree and a log directory in a temporary directory.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    /// A copy of `tests/fixtures/NAME` with `@LOGS@` replaced.
    pub fn fixture(name: &str) -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(t.logs()).expect("logs dir");
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        copy_tree(&from, &t.conf(), Some(&t.logs()));
        t
    }

    /// A copy of another tree (fail2ban's, gaoler's shipped one).
    pub fn copy_of(from: &Path) -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(t.logs()).expect("logs dir");
        copy_tree(from, &t.conf(), None);
        t
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// Write `conf/REL` (`@LOGS@` replaced), making directories.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.conf().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let text = text.replace("@LOGS@", &self.logs().to_string_lossy());
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Write `logs/NAME`.
    pub fn log(&self, name: &str, lines: &[&str]) -> PathBuf {
        let p = self.logs().join(name);
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&p, text).expect("write log");
        p
    }

    /// Lint with `host` and default options.
    pub fn lint(&self, host: &FakeHost) -> Vec<Finding> {
        self.lint_with(host, &Options::default())
    }

    pub fn lint_with(&self, host: &FakeHost, opts: &Options) -> Vec<Finding> {
        gaoler_lint::lint_dir(&self.conf(), opts, host).expect("the tree reads")
    }
}

/// Copies a tree, `@LOGS@` in its files replaced by `logs` when given.
pub fn copy_tree(from: &Path, to: &Path, logs: Option<&Path>) {
    match logs {
        None => gaoler_testkit::copy_tree(from, to),
        Some(l) => gaoler_testkit::copy_tree_with(from, to, &|t| {
            Some(t.replace("@LOGS@", &l.to_string_lossy()))
        }),
    }
}

/// The findings of one check.
pub fn of<'a>(findings: &'a [Finding], check: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.check == check).collect()
}

/// The one finding of `check`, with its level checked.
pub fn one<'a>(findings: &'a [Finding], check: &str, level: Level) -> &'a Finding {
    let got = of(findings, check);
    assert_eq!(got.len(), 1, "one {check} finding expected: {findings:#?}");
    assert_eq!(got[0].level, level, "{:#?}", got[0]);
    got[0]
}

/// Asserts `f` is at `conf/rel:line`.
pub fn at(f: &Finding, tree: &Tree, rel: &str, line: usize) {
    assert_eq!(
        f.file.as_deref(),
        Some(tree.conf().join(rel).as_path()),
        "file of {f:#?}"
    );
    assert_eq!(f.line, Some(line), "line of {f:#?}");
}

/// Asserts `text` contains every word of `words`.
pub fn says(text: &str, words: &[&str]) {
    for w in words {
        assert!(text.contains(w), "{w:?} not in {text:?}");
    }
}

/// A dated demo line: `2024-05-01 10:00:0S host demo[7]: MESSAGE`.
pub fn demo_line(sec: u32, message: &str) -> String {
    format!("2024-05-01 10:00:{sec:02} host demo[7]: {message}")
}
