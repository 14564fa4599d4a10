//! Everything the checks learn from the machine they run on.
//!
//! The checks never touch the filesystem (beyond the configuration tree,
//! which the reader reads), `PATH` or the network interfaces directly:
//! they ask a [`Host`]. [`RealHost`] answers for this machine; tests pass
//! a fake one to lint a configuration "on a machine without nft" or "with
//! this log" without having to build that machine.

use std::io::{self, BufRead, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What the checks may ask about the machine.
pub trait Host {
    /// Where an executable is found (`tool` is a name looked up in the
    /// search path, or an absolute path checked as is).
    fn which(&self, tool: &str) -> Option<PathBuf>;
    /// The machine's own addresses (what `ignoreself` covers).
    fn own_addresses(&self) -> Vec<IpAddr>;
    /// The first `n_lines` lines of a file, without their line endings
    /// (invalid UTF-8 replaced).
    fn read_head(&self, path: &Path, n_lines: usize) -> io::Result<Vec<String>>;
    /// Whether the file can be opened for reading.
    fn readable(&self, path: &Path) -> bool;
    /// The existing files a `logpath` glob names, sorted.
    fn glob(&self, pattern: &str) -> Vec<PathBuf>;
}

/// Longest line kept by [`RealHost::read_head`]: the server cuts lines at
/// 1 MiB too (keeping both ends; here the head is enough to judge a date
/// or a prefix).
const MAX_LINE: usize = 1 << 20;

/// Directories searched after `PATH`: fail2ban's actions run as root
/// from a service, whose search path has the `sbin` directories even when
/// the shell running `gaoler lint` does not.
const SBIN_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The machine gaoler runs on.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealHost;

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Host for RealHost {
    fn which(&self, tool: &str) -> Option<PathBuf> {
        if tool.contains('/') {
            let p = PathBuf::from(tool);
            return is_executable(&p).then_some(p);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(SBIN_DIRS.iter().map(PathBuf::from))
            .map(|d| d.join(tool))
            .find(|p| is_executable(p))
    }

    fn own_addresses(&self) -> Vec<IpAddr> {
        // (the one list the server's `ignoreself` uses too)
        gaoler_addr::host::own_addresses()
    }

    fn read_head(&self, path: &Path, n_lines: usize) -> io::Result<Vec<String>> {
        let file = std::fs::File::open(path)?;
        let mut reader = io::BufReader::new(file);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while out.len() < n_lines {
            buf.clear();
            // (bounded: a file without newlines must not be read whole)
            let n = (&mut reader)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            if buf.last() != Some(&b'\n') && n == MAX_LINE {
                // skip the rest of an over-long line
                let mut rest = Vec::new();
                reader.read_until(b'\n', &mut rest)?;
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            out.push(String::from_utf8_lossy(&buf).into_owned());
        }
        Ok(out)
    }

    fn readable(&self, path: &Path) -> bool {
        std::fs::File::open(path).is_ok()
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        glob_like_python(pattern)
    }
}

/// `glob.glob` as fail2ban calls it (the configuration reader's
/// expansion), existing files only: a dangling link is no log.
pub fn glob_like_python(pattern: &str) -> Vec<PathBuf> {
    let mut out = gaoler_config::reader::glob_like_python(pattern);
    out.retain(|p| p.exists());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_head_stops_and_strips_endings() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("x.log");
        std::fs::write(&p, b"a\r\nb\n\xffc\nd").expect("write");
        let h = RealHost;
        assert_eq!(h.read_head(&p, 2).expect("read"), ["a", "b"]);
        assert_eq!(
            h.read_head(&p, 10).expect("read"),
            ["a", "b", "\u{fffd}c", "d"]
        );
        assert!(h.readable(&p));
        assert!(!h.readable(&d.path().join("nope")));
    }

    #[test]
    fn glob_folds_double_star_and_sorts() {
        let d = tempfile::tempdir().expect("tempdir");
        for f in ["b.log", "a.log", "sub/c.log", ".hidden.log"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "").expect("write");
        }
        let r = d.path().display();
        let got = RealHost.glob(&format!("{r}/*.log"));
        assert_eq!(got, [d.path().join("a.log"), d.path().join("b.log")]);
        assert_eq!(
            RealHost.glob(&format!("{r}/**/c.log")),
            [d.path().join("sub/c.log")]
        );
    }

    #[test]
    fn own_addresses_has_loopback() {
        assert!(RealHost
            .own_addresses()
            .contains(&IpAddr::from([127, 0, 0, 1])));
    }
}
