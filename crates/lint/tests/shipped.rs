//! gaoler's shipped tree (`config/`) with every jail enabled: its stock
//! filters must not be convicted by the pattern checks, neither on empty
//! logs (pattern reasoning alone) nor on fail2ban's annotated sample logs
//! (the log confirmation). Warnings are allowed (and listed when the test
//! runs with `--nocapture`); errors from these checks would be false
//! alarms on every installation.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gaoler_lint::{Finding, Level};

const PATTERN_CHECKS: &[&str] = &["prefregex-consumed", "prefregex-nomatch", "host-unanchored"];

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// (jail, filter file) of every jail section of `jail.conf`.
fn jails(conf: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(conf.join("jail.conf")).expect("jail.conf");
    let mut out: Vec<(String, String)> = Vec::new();
    for l in text.lines() {
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if !matches!(name, "INCLUDES" | "DEFAULT") {
                out.push((name.to_string(), name.to_string()));
            }
        } else if let (Some(last), Some(v)) = (out.last_mut(), l.strip_prefix("filter")) {
            if let Some(v) = v.trim_start().strip_prefix('=') {
                let f = v.trim().split('[').next().unwrap_or("").trim();
                if !f.contains('%') && !f.is_empty() {
                    last.1 = f.to_string();
                }
            }
        }
    }
    out
}

fn pattern_errors(f: &[Finding]) -> Vec<&Finding> {
    f.iter()
        .filter(|x| x.level == Level::Error && PATTERN_CHECKS.contains(&x.check))
        .collect()
}

fn show_warnings(f: &[Finding]) {
    for x in f.iter().filter(|x| PATTERN_CHECKS.contains(&x.check)) {
        println!("{}", x.to_text());
    }
}

#[test]
fn shipped_filters_pass_the_pattern_checks_on_empty_logs() {
    let t = Tree::copy_of(&shipped());
    let log = t.log("empty.log", &[]);
    let list = jails(&t.conf());
    assert!(list.len() >= 100, "only {} jails", list.len());
    let mut all = String::new();
    for (j, _) in &list {
        all.push_str(&format!(
            "[{j}]\nenabled = true\nlogpath = {}\nbackend = polling\n",
            log.display()
        ));
    }
    t.write("jail.d/all.local", &all);
    let f = t.lint(&FakeHost::default());
    show_warnings(&f);
    let errors = pattern_errors(&f);
    assert!(errors.is_empty(), "{errors:#?}");
    // the pattern checks did run: the unanchored warnings are there
    assert!(!of(&f, "host-unanchored").is_empty());
}

#[test]
fn shipped_filters_pass_the_pattern_checks_on_the_sample_logs() {
    let samples = gaoler_testkit::upstream().join("logs");
    let t = Tree::copy_of(&shipped());
    let mut all = String::new();
    let mut n = 0;
    for (j, filter) in jails(&t.conf()) {
        let log = samples.join(&filter);
        if !log.is_file() {
            continue;
        }
        n += 1;
        all.push_str(&format!(
            "[{j}]\nenabled = true\nlogpath = {}\nbackend = polling\n",
            log.display()
        ));
    }
    assert!(n >= 60, "only {n} jails with a sample log");
    t.write("jail.d/all.local", &all);
    let f = t.lint(&FakeHost::default());
    show_warnings(&f);
    let errors = pattern_errors(&f);
    assert!(errors.is_empty(), "{errors:#?}");
}
