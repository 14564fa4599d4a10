//! `gaoler lint` and the lint warnings of `gaoler client -t`, through the
//! binary: exit statuses, the text and JSON forms, and `-t` keeping its
//! verdict.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gaoler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gaoler"))
}

fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A tree with one enabled jail, `demo`; `jail_extra` goes into its
/// section, `failregex` into its filter. A log with one dated line, and
/// the jail's `logpath` on line 11 of jail.conf (`MISSING` when asked).
fn tree(dir: &Path, jail_extra: &str, failregex: &str) -> PathBuf {
    tree_with_log(dir, jail_extra, failregex, false)
}

const MISSING: &str = "/nonexistent/gaoler-lint-test.log";

fn tree_with_log(dir: &Path, jail_extra: &str, failregex: &str, missing: bool) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(conf.join("filter.d")).expect("mkdir");
    std::fs::create_dir_all(conf.join("action.d")).expect("mkdir");
    let log = dir.join("demo.log");
    std::fs::write(
        &log,
        "2024-05-01 10:00:01 host demo[7]: auth failed for bob from 192.0.2.9\n",
    )
    .expect("log");
    std::fs::write(
        conf.join("jail.conf"),
        format!(
            "[DEFAULT]\nbackend = polling\nfindtime = 10m\nbantime = 10m\nmaxretry = 3\n\
             action = quiet\n\n[demo]\nenabled = true\nfilter = demo\nlogpath = {}\n{jail_extra}",
            if missing {
                PathBuf::from(MISSING)
            } else {
                log.clone()
            }
            .display()
        ),
    )
    .expect("jail.conf");
    std::fs::write(
        conf.join("filter.d/demo.conf"),
        format!(
            "[Definition]\nprefregex = ^\\s*\\S+ demo\\[\\d+\\]: <F-CONTENT>.+</F-CONTENT>$\n\
             failregex = {failregex}\ndatepattern = ^%%Y-%%m-%%d %%H:%%M:%%S\n"
        ),
    )
    .expect("filter");
    std::fs::write(conf.join("fail2ban.conf"), "[Definition]\n").expect("fail2ban.conf");
    std::fs::write(
        conf.join("action.d/quiet.conf"),
        "[Definition]\nactionban = true <ip>\nactionunban = true <ip>\n",
    )
    .expect("action");
    conf
}

const GOOD: &str = r"^auth failed for \S+ from <HOST>$";

/// `gaoler lint [extra...] -c conf`: the process output, stdout, stderr.
fn lint(conf: &Path, extra: &[&str]) -> (std::process::Output, String, String) {
    let o = gaoler()
        .arg("lint")
        .args(extra)
        .arg("-c")
        .arg(conf)
        .output()
        .expect("run");
    let (so, se) = out(&o);
    (o, so, se)
}

#[test]
fn clean_tree_exits_0() {
    let d = tempfile::tempdir().expect("tempdir");
    let conf = tree(d.path(), "", GOOD);
    let (o, so, se) = lint(&conf, &[]);
    assert_eq!(o.status.code(), Some(0), "{so}{se}");
    assert!(so.contains("0 errors, 0 warnings"), "{so}");
}

#[test]
fn an_error_finding_exits_1_with_the_compiler_style_line() {
    let d = tempfile::tempdir().expect("tempdir");
    let conf = tree_with_log(d.path(), "", GOOD, true);
    let (o, so, se) = lint(&conf, &[]);
    assert_eq!(o.status.code(), Some(1), "{so}{se}");
    let line = format!(
        "{}:11: error[logpath-missing]: [demo] logpath `/nonexistent/gaoler-lint-test.log`",
        conf.join("jail.conf").display()
    );
    assert!(so.contains(&line), "{line}\nnot in\n{so}");
    assert!(so.contains("\n    fix: "), "{so}");
}

#[test]
fn warnings_alone_exit_0() {
    let d = tempfile::tempdir().expect("tempdir");
    let conf = tree(d.path(), "", r"^auth failed for .* from <HOST>");
    let (o, so, se) = lint(&conf, &[]);
    assert_eq!(o.status.code(), Some(0), "{so}{se}");
    assert!(so.contains("warning[host-unanchored]"), "{so}");
}

#[test]
fn json_is_one_document() {
    let d = tempfile::tempdir().expect("tempdir");
    let conf = tree_with_log(d.path(), "", r"^auth failed for .* from <HOST>", true);
    let (o, so, se) = lint(&conf, &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{so}{se}");
    let v: serde_json::Value = serde_json::from_str(&so).expect("one JSON document");
    assert_eq!(v["errors"], 1, "{v}");
    assert_eq!(v["warnings"], 1, "{v}");
    let f = v["findings"].as_array().expect("findings");
    let missing = f
        .iter()
        .find(|x| x["check"] == "logpath-missing")
        .expect("logpath-missing");
    assert_eq!(missing["level"], "error");
    assert_eq!(missing["jail"], "demo");
    assert_eq!(missing["line"], 11);
    assert!(missing["file"]
        .as_str()
        .is_some_and(|p| p.ends_with("jail.conf")));
    assert!(missing["fix"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn unreadable_configuration_exits_2_with_its_place() {
    let d = tempfile::tempdir().expect("tempdir");
    let conf = tree(d.path(), "this line is no option\n", GOOD);
    let (o, so, se) = lint(&conf, &[]);
    assert_eq!(o.status.code(), Some(2), "{so}{se}");
    assert!(
        se.contains(&format!("{}:12", conf.join("jail.conf").display())),
        "{se}"
    );
    let o = gaoler()
        .args(["lint", "-c", "/nonexistent/gaoler-lint-conf"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_lists_the_checks() {
    let o = gaoler().args(["lint", "--help"]).output().expect("run");
    let (so, _) = out(&o);
    assert_eq!(o.status.code(), Some(0));
    for id in [
        "prefregex-consumed",
        "host-unanchored",
        "jail-enabled-twice",
    ] {
        assert!(so.contains(id), "{id} not in --help");
    }
}

#[test]
fn client_test_prints_lint_warnings_and_still_passes() {
    let d = tempfile::tempdir().expect("tempdir");
    let conf = tree(d.path(), "", r"^auth failed for .* from <HOST>");
    let o = gaoler()
        .args(["client", "-c"])
        .arg(&conf)
        .arg("-t")
        .output()
        .expect("run");
    let (so, se) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{so}{se}");
    assert!(so.contains("OK: configuration test is successful"), "{so}");
    let line = format!(
        "WARNING: {}:3: [demo] in failregex",
        conf.join("filter.d/demo.conf").display()
    );
    assert!(se.contains(&line), "{line}\nnot in\n{se}");
    // and a clean tree prints no warning
    let d = tempfile::tempdir().expect("tempdir");
    let conf = tree(d.path(), "", GOOD);
    let o = gaoler()
        .args(["client", "-c"])
        .arg(&conf)
        .arg("-t")
        .output()
        .expect("run");
    let (so, se) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{so}{se}");
    assert!(!se.contains("WARNING"), "{se}");
}
