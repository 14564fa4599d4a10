//! fail2ban's INI dialect: the parser, `%(x)s` interpolation, `[INCLUDES]`,
//! `<tag>` substitution and the filter/action/jail readers, on arbitrary
//! text.
//!
//! Input: up to five files separated by NUL bytes, written (each run) to a
//! private configuration directory:
//! `filter.d/fuzz.conf`, `filter.d/fuzz.local`, `filter.d/common.conf`,
//! `jail.conf`, `action.d/fuzz.conf`. Include names are the fuzzer's, so
//! `before = common.conf` links the files (the seed corpus does).
//!
//! Checked:
//! - no panic, no hang, bounded memory: every file is parsed on its own and
//!   every option of every section is read with interpolation (alone and
//!   merged with the others, `KNOWN/` history included);
//! - a value without `%` reads back unchanged; an error names the file
//!   and line the value comes from when the parser knows them;
//! - the tree reads through `read_filter_stream` (the filter `fuzz`) and
//!   `read_config` (the whole tree, dump mode) without panicking.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gaoler_config::ini::{self, IniFile};
use gaoler_config::reader::{read_config, read_filter_stream, ClientOptions, ReadMode};
use gaoler_config::value::Vars;
use gaoler_config::{ConfigError, ConfigSet};
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 5] = [
    "filter.d/fuzz.conf",
    "filter.d/fuzz.local",
    "filter.d/common.conf",
    "jail.conf",
    "action.d/fuzz.conf",
];

extern "C" fn remove_dir() {
    if let Some(d) = DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// This process's configuration directory (removed at exit).
fn dir() -> &'static Path {
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gaoler-fuzz-ini-{}", std::process::id()));
        for sub in ["filter.d", "action.d"] {
            std::fs::create_dir_all(d.join(sub)).expect("temp dir");
        }
        // SAFETY: registering a plain `extern "C" fn` has no preconditions.
        unsafe { libc::atexit(remove_dir) };
        d
    })
}

/// Read every option of every section, as the readers would.
fn read_all(set: &ConfigSet, files: &[(PathBuf, IniFile)]) {
    let names: Vec<String> = set.section_names().map(str::to_string).collect();
    let vars = Vars::new();
    for sec in names.iter().map(String::as_str).chain(["DEFAULT"]) {
        for opt in set.own_options(sec) {
            let got = set.get(sec, &opt, &vars);
            let raw = set.get_raw(sec, &opt, &vars);
            if let (Ok(v), Ok(r)) = (&got, &raw) {
                if !r.contains('%') {
                    assert_eq!(v, r, "[{sec}] {opt}: a value without % changed");
                }
            }
            if let Err(ConfigError::Interpolation {
                origin: Some(o), ..
            }) = &got
            {
                assert!(
                    files.iter().any(|(p, _)| *p == o.file) && o.line > 0,
                    "[{sec}] {opt}: error points at {o}, not at an input file"
                );
            }
            let _ = set.get_ex(sec, &opt, &vars);
            let _ = set.get_ex(sec, &format!("known/{opt}"), &vars);
            let _ = set.get_ex(sec, &format!("default/{opt}"), &vars);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = text.splitn(FILES.len(), '\0').collect();
    let base = dir();

    // In memory: each file alone, then all merged in order.
    let mut parsed = Vec::new();
    for (part, name) in parts.iter().zip(FILES) {
        let path = base.join(name);
        if let Ok(f) = ini::parse(part, &path) {
            let one = vec![(path.clone(), f.clone())];
            read_all(&ConfigSet::from_files(one.clone()), &one);
            parsed.push((path, f));
        }
    }
    read_all(&ConfigSet::from_files(parsed.clone()), &parsed);

    // On disk, through the readers (includes, .local layering, jails).
    for (i, name) in FILES.iter().enumerate() {
        let path = base.join(name);
        match parts.get(i) {
            Some(p) => std::fs::write(&path, p).expect("write config"),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let _ = read_filter_stream(base, "fuzz", "jail", "auto");
    let _ = read_filter_stream(
        base,
        "fuzz[mode=aggressive, x=\"1 %(y)s <z>\"]",
        "j",
        "systemd",
    );
    let _ = read_config(base, ReadMode::Dump, &ClientOptions::default());
});
