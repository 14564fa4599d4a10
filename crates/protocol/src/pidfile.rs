//! The server's pidfile: written at start, removed at exit.
//!
//! fail2ban writes `"<pid>\n"`; so do we. Removal checks that the file
//! still holds our pid, so a server that lost a race (or was replaced)
//! never deletes its successor's pidfile.
//!
//! The pidfile lives in a directory (`/var/run/fail2ban`, or wherever
//! `pidfile` points) that root writes into. Opening the path for writing
//! would follow a symlink planted there and truncate whatever it names
//! (`/etc/shadow`), so the pid is written to a new file in the same
//! directory (created with `O_EXCL | O_NOFOLLOW`: never an existing file,
//! never through a link) and renamed over the path: `rename` replaces a
//! symlink itself, never its target, and readers never see a half-written
//! file. Reading (for removal, [`read_pid`]) does not follow a symlink
//! either and does not block on a FIFO put in its place.

use std::io::{Read, Write};
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
    /// (mode 0755) if needed. A symlink at `path` is replaced, never
    /// followed.
    pub fn write(path: &Path) -> std::io::Result<Pidfile> {
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => {
                crate::listener::create_dir_0755(d)?;
                d.to_path_buf()
            }
            None => PathBuf::from("."),
        };
        let pid = std::process::id();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("pidfile {} has no file name", path.display()),
                )
            })?;
        let (tmp, mut f) = create_temp(&dir, &name, pid)?;
        let written = f
            .write_all(format!("{pid}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(Pidfile {
            path: path.to_path_buf(),
            pid,
            removed: false,
        })
    }

    /// The pid file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove the pidfile if it still names this process.
    pub fn remove(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        if read_pid(&self.path) == Some(self.pid) {
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

/// A new file `.<name>.<pid>.<n>.tmp` in `dir`, created exclusively
/// (a name that exists, symlink or not, is skipped).
fn create_temp(dir: &Path, name: &str, pid: u32) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut last = None;
    for n in 0..100u32 {
        let tmp = dir.join(format!(".{name}.{pid}.{n}.tmp"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary pidfile name")))
}

/// Read the pid stored in a pidfile: a regular file (not followed if it
/// is a symlink), of which the first 64 bytes are read.
pub fn read_pid(path: &Path) -> Option<u32> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = String::new();
    f.take(64).read_to_string(&mut buf).ok()?;
    buf.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
        // No temporary file left behind.
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
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

    /// A symlink planted at the pidfile's path is replaced, not followed:
    /// the file it points to keeps its content and mode.
    #[test]
    fn a_symlink_at_the_path_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "do not touch\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = d.path().join("x.pid");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let mut f = Pidfile::write(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch\n");
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(meta.file_type().is_file(), "{meta:?}");
        assert_eq!(read_pid(&p), Some(std::process::id()));
        f.remove();
        assert!(!p.exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch\n");
    }

    /// A symlink to a file holding our pid, or a FIFO, put in place of the
    /// pidfile is neither followed nor waited on when removing.
    #[test]
    fn removal_does_not_follow_or_block() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.pid");
        let f = Pidfile::write(&p).unwrap();
        let other = d.path().join("other");
        std::fs::write(&other, format!("{}\n", std::process::id())).unwrap();
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&other, &p).unwrap();
        assert_eq!(read_pid(&p), None);
        drop(f);
        assert!(
            std::fs::symlink_metadata(&p).is_ok(),
            "the link is not ours"
        );
        assert!(other.exists());

        let f = Pidfile::write(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(f);
            let _ = tx.send(());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("removal blocked on a FIFO");
    }
}
