//! `ignoreip = file:/path`: a set of addresses read from a file and
//! re-read when it changes.
//!
//! This is the only part of the crate that touches the filesystem, and it
//! does so through the small [`FileSystem`] trait so tests can use a fake.
//! The file is checked at most once per second (by the `now` passed in) and
//! reloaded only when its (mtime, inode, size) stamp changed, so a large
//! list costs nothing per failure.
//!
//! Format: entries are words separated by blanks or commas; `#` and `;`
//! start a comment to the end of the line. Each word is parsed as an
//! address or subnet; other words match a failure id that is exactly the
//! same text (no DNS lookups from files: a long list of names would mean
//! a lookup per failure).

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use gaoler_addr::Addr;

/// What identifies a version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Modification time in nanoseconds since the epoch (0 if unknown).
    pub mtime_ns: i128,
    /// Inode number (0 where the platform has none), so a replaced file is
    /// noticed even with the same time and size.
    pub inode: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Filesystem access used by [`FileIpSet`].
pub trait FileSystem: Send + Sync {
    /// The file's current stamp (one `stat`).
    fn stamp(&self, path: &Path) -> io::Result<FileStamp>;
    /// The whole file as text.
    fn read(&self, path: &Path) -> io::Result<String>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn stamp(&self, path: &Path) -> io::Result<FileStamp> {
        let md = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&md);
        #[cfg(not(unix))]
        let inode = 0;
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        Ok(FileStamp {
            mtime_ns,
            inode,
            size: md.len(),
        })
    }
    fn read(&self, path: &Path) -> io::Result<String> {
        let bytes = std::fs::read(path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Minimum interval between two stat calls on the file.
pub const CHECK_INTERVAL: f64 = 1.0;

/// The addresses of one `file:` entry.
#[derive(Debug, Clone)]
pub struct FileIpSet {
    path: PathBuf,
    stamp: Option<FileStamp>,
    next_check: f64,
    singles: HashSet<Addr>,
    nets: Vec<Addr>,
    raws: HashSet<String>,
    last_error: Option<String>,
}

impl FileIpSet {
    /// The set of the file at `path`; empty until [`FileIpSet::refresh`] first
    /// reads it.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileIpSet {
            path: path.into(),
            stamp: None,
            next_check: f64::NEG_INFINITY,
            singles: HashSet::new(),
            nets: Vec::new(),
            raws: HashSet::new(),
            last_error: None,
        }
    }

    /// The file, as written after `file:`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error of the last failed reload, if the file could not be read
    /// (the set is then empty; the caller may log it).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Number of entries currently loaded.
    pub fn len(&self) -> usize {
        self.singles.len() + self.nets.len() + self.raws.len()
    }
    /// True when no entries are loaded (also after a failed read).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-read the file if it may have changed. Returns true if reloaded.
    pub fn refresh(&mut self, now: f64, fs: &dyn FileSystem) -> bool {
        if now < self.next_check {
            return false;
        }
        self.next_check = now + CHECK_INTERVAL;
        match fs.stamp(&self.path) {
            Ok(st) if Some(st) == self.stamp => false,
            Ok(st) => match fs.read(&self.path) {
                Ok(text) => {
                    self.load(&text);
                    self.stamp = Some(st);
                    self.last_error = None;
                    true
                }
                Err(e) => self.fail(e),
            },
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: io::Error) -> bool {
        // A missing or unreadable file ignores nothing; retry at the next
        // check so that creating the file later takes effect.
        let had = self.stamp.is_some() || !self.is_empty();
        self.stamp = None;
        self.singles.clear();
        self.nets.clear();
        self.raws.clear();
        self.last_error = Some(format!("{}: {e}", self.path.display()));
        had
    }

    fn load(&mut self, text: &str) {
        self.singles.clear();
        self.nets.clear();
        self.raws.clear();
        for line in text.lines() {
            let line = match line.find(['#', ';']) {
                Some(i) => &line[..i],
                None => line,
            };
            for word in line.split(|c: char| c.is_whitespace() || c == ',') {
                if word.is_empty() {
                    continue;
                }
                match Addr::parse(word) {
                    a @ Addr::Ip(_) => {
                        self.singles.insert(a);
                    }
                    a @ Addr::Net(..) => {
                        if !self.nets.contains(&a) {
                            self.nets.push(a);
                        }
                    }
                    Addr::Raw(s) => {
                        self.raws.insert(s);
                    }
                }
            }
        }
    }

    /// Whether `id` (already parsed) is in the set.
    pub fn contains(&self, id: &Addr) -> bool {
        match id {
            Addr::Raw(s) => self.raws.contains(s),
            a => self.singles.contains(a) || self.nets.iter().any(|n| n.contains(a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct FakeFs {
        files: Mutex<HashMap<PathBuf, (FileStamp, String)>>,
        reads: Mutex<u32>,
    }
    impl FakeFs {
        fn put(&self, p: &str, ino: u64, text: &str) {
            let st = FileStamp {
                mtime_ns: 1,
                inode: ino,
                size: text.len() as u64,
            };
            self.files
                .lock()
                .unwrap()
                .insert(p.into(), (st, text.into()));
        }
    }
    impl FileSystem for FakeFs {
        fn stamp(&self, path: &Path) -> io::Result<FileStamp> {
            self.files
                .lock()
                .unwrap()
                .get(path)
                .map(|f| f.0)
                .ok_or_else(|| io::ErrorKind::NotFound.into())
        }
        fn read(&self, path: &Path) -> io::Result<String> {
            *self.reads.lock().unwrap() += 1;
            self.files
                .lock()
                .unwrap()
                .get(path)
                .map(|f| f.1.clone())
                .ok_or_else(|| io::ErrorKind::NotFound.into())
        }
    }

    #[test]
    fn parses_words_comments_and_nets() {
        let fs = FakeFs::default();
        fs.put("/l", 1, "192.0.2.1 192.0.2.2, # a comment 10.0.0.1\n10.1.0.0/16 ; x 10.2.0.0/16\n2001:db8::/32\nbob\n");
        let mut s = FileIpSet::new("/l");
        assert!(s.refresh(0.0, &fs));
        assert!(s.contains(&Addr::parse("192.0.2.2")));
        assert!(!s.contains(&Addr::parse("10.0.0.1")), "after #");
        assert!(s.contains(&Addr::parse("10.1.200.3")));
        assert!(!s.contains(&Addr::parse("10.2.0.1")), "after ;");
        assert!(s.contains(&Addr::parse("2001:db8::5")));
        assert!(s.contains(&Addr::parse("bob")));
        assert!(!s.contains(&Addr::parse("alice")));
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn reload_on_change_at_most_once_per_second() {
        let fs = FakeFs::default();
        fs.put("/l", 1, "192.0.2.1\n");
        let mut s = FileIpSet::new("/l");
        assert!(s.refresh(100.0, &fs));
        // Unchanged stamp: no read.
        assert!(!s.refresh(101.0, &fs));
        assert_eq!(*fs.reads.lock().unwrap(), 1);
        // Changed content (size differs) but within a second: not seen yet.
        fs.put("/l", 1, "192.0.2.77\n");
        assert!(!s.refresh(101.5, &fs));
        assert!(s.contains(&Addr::parse("192.0.2.1")));
        assert!(s.refresh(102.0, &fs));
        assert!(s.contains(&Addr::parse("192.0.2.77")));
        assert!(!s.contains(&Addr::parse("192.0.2.1")));
        // Same size, new inode (replaced by rename): reloaded.
        fs.put("/l", 2, "192.0.2.78\n");
        assert!(s.refresh(103.0, &fs));
        assert!(s.contains(&Addr::parse("192.0.2.78")));
    }

    #[test]
    fn missing_file_is_empty_with_error() {
        let fs = FakeFs::default();
        let mut s = FileIpSet::new("/nope");
        s.refresh(0.0, &fs);
        assert!(s.is_empty());
        assert!(s.last_error().unwrap().contains("/nope"));
        fs.put("/nope", 1, "1.2.3.4");
        assert!(s.refresh(1.0, &fs));
        assert!(s.last_error().is_none());
    }

    #[test]
    fn real_fs_detects_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ips");
        std::fs::write(&p, "192.0.2.1\n").unwrap();
        let mut s = FileIpSet::new(&p);
        assert!(s.refresh(0.0, &RealFs));
        std::fs::write(&p, "192.0.2.1\n192.0.2.2\n").unwrap();
        assert!(s.refresh(1.0, &RealFs));
        assert!(s.contains(&Addr::parse("192.0.2.2")));
    }
}
