//! `gaoler regex` and `gaoler test-samples` through the binary: the wiring,
//! exit codes, the `fail2ban-regex` program name, and the acceptance runs of
//! the sample corpora (upstream's and gaoler's own).

mod common;

use gaoler_testkit::upstream;
use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gaoler"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The last `N passed, M failed` line.
fn counts(out: &str) -> (usize, usize) {
    let l = out
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed") && l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no summary line in {out}"));
    let nums: Vec<usize> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn test_samples_upstream_corpus_passes() {
    let o = Command::new(bin())
        .arg("test-samples")
        .arg("--config")
        .arg(upstream().join("config"))
        .arg(upstream().join("logs"))
        .arg("--filter-dir")
        .arg(upstream().join("test-config/filter.d"))
        .output()
        .expect("run gaoler");
    let out = text(&o);
    let (p, f) = counts(&out);
    eprintln!("upstream corpus: {p} passed, {f} failed");
    assert!(o.status.success(), "{out}");
    assert_eq!(f, 0, "{out}");
    assert!(p > 1900, "{out}");
}

#[test]
fn test_samples_gaoler_config_passes() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config"));
    if !root.join("samples").is_dir() {
        eprintln!("config/samples not present; skipping");
        return;
    }
    let o = Command::new(bin())
        .arg("test-samples")
        .arg("--config")
        .arg(&root)
        .arg(root.join("samples"))
        .arg("--require-all")
        .output()
        .expect("run gaoler");
    let out = text(&o);
    let (p, f) = counts(&out);
    eprintln!("gaoler config: {p} passed, {f} failed");
    assert!(o.status.success(), "{out}");
    assert!(p > 0);
}

#[test]
fn test_samples_reports_failures_with_nonzero_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = dir.path().join("sshd");
    std::fs::write(
        &s,
        "# failJSON: { \"time\": \"2005-08-14T11:59:59\", \"match\": true , \"host\": \"192.0.2.5\" }\n\
         Aug 14 11:59:59 host sshd[1]: Failed password for root from 192.0.2.4 port 22 ssh2\n",
    )
    .expect("write");
    let report = dir.path().join("report.json");
    let o = Command::new(bin())
        .arg("test-samples")
        .arg("-c")
        .arg(upstream().join("config"))
        .arg(&s)
        .arg("--json")
        .arg(&report)
        .output()
        .expect("run gaoler");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(":2 [sshd]: host: expected \"192.0.2.5\", got \"192.0.2.4\""),
        "{out}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert!(j["failed"].as_u64().unwrap_or(0) >= 1);
    assert!(j["checks"].as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn regex_subcommand_and_program_name() {
    let log = upstream().join("logs/sshd");
    let o = Command::new(bin())
        .args(["regex", "-c"])
        .arg(upstream().join("config"))
        .arg(&log)
        .arg("sshd")
        .output()
        .expect("run gaoler");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("Lines: 155 lines, 43 ignored, 65 matched, 47 missed"),
        "{out}"
    );

    // linked as fail2ban-regex
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("fail2ban-regex");
    std::os::unix::fs::symlink(bin(), &link).expect("symlink");
    let o = Command::new(&link)
        .arg("-c")
        .arg(upstream().join("config"))
        .args(["-o", "id"])
        .arg(&log)
        .arg("sshd")
        .output()
        .expect("run fail2ban-regex link");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.lines().count() > 50, "{out}");
    assert!(out.lines().all(|l| !l.is_empty()), "{out}");

    // errors exit 255
    let o = Command::new(bin())
        .args(["regex", "-c"])
        .arg(upstream().join("config"))
        .args(["some line", "no-such-filter[mode=x]"])
        .output()
        .expect("run gaoler");
    // not a file: taken as a literal regex without <HOST> → error
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
}

/// Each tool calls itself by the name it was run as: `gaoler client`,
/// or `fail2ban-client` through a link of that name.
#[test]
fn help_names_the_tool_as_run() {
    for sub in ["client", "server", "regex"] {
        let out = Command::new(bin())
            .args([sub, "--help"])
            .output()
            .expect("run");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains(&format!("Usage: gaoler {sub} ")),
            "{sub}: {help}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("fail2ban-client");
    std::os::unix::fs::symlink(bin(), &link).expect("link");
    let out = Command::new(&link).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: fail2ban-client "), "{help}");
}

/// Piped into a reader that stops early (`| head -1`), a tool ends quietly
/// on SIGPIPE instead of panicking on the failed write.
#[test]
fn a_closed_pipe_ends_a_tool_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    // (every stock jail: a dump far larger than a pipe's buffer)
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("conf");
    common::copy_tree(&upstream().join("config"), &conf);
    std::fs::create_dir_all(conf.join("jail.d")).expect("jail.d");
    std::fs::copy(
        upstream().join("golden/all-jails.local"),
        conf.join("jail.d/all-jails.local"),
    )
    .expect("all jails");
    let mut child = Command::new(bin())
        .args(["client", "-d", "-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a line");
    // (the reader is gone now)
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc_sigpipe()),
        "{:?}",
        out.status
    );
}

fn libc_sigpipe() -> i32 {
    13
}
