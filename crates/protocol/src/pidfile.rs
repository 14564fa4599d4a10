//! The server's pidfile: written at start, removed at exit.
//!
//! fail2ban writes `"<pid>\n"`; so do we. Removal checks that the file
//! still holds our pid, so a server that lost a race (or was replaced)
//! never deletes its successor's pidfile.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A written pidfile; removed when dropped (or by [`Pidfile::remove`]).
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    pid: u32,
    removed: bool,
}

impl Pidfile {
    /// Write the current process id to `path`, creating its directory
    /// (mode 0755) if needed.
    pub fn write(path: &Path) -> std::io::Result<Pidfile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::listener::create_dir_0755(dir)?;
        }
        let pid = std::process::id();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)?;
        f.write_all(format!("{pid}\n").as_bytes())?;
        Ok(Pidfile {
            path: path.to_path_buf(),
            pid,
            removed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove the pidfile if it still names this process.
    pub fn remove(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        let ours = std::fs::read_to_string(&self.path)
            .map(|s| s.trim().parse::<u32>().ok() == Some(self.pid))
            .unwrap_or(false);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!("cannot remove pidfile {}: {e}", self.path.display());
            }
        }
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Read the pid stored in a pidfile.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_and_remove() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/dir/x.pid");
        let mut f = Pidfile::write(&p).unwrap();
        assert_eq!(read_pid(&p), Some(std::process::id()));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        f.remove();
        assert!(!p.exists());
    }

    #[test]
    fn a_foreign_pidfile_is_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.pid");
        let f = Pidfile::write(&p).unwrap();
        std::fs::write(&p, "1\n").unwrap();
        drop(f);
        assert!(p.exists());
    }
}
