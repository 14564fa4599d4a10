//! `maxtracked`, gaoler's cap on the ids a jail counts at once: read like
//! fail2ban's other whole-number jail options, sent to the server only
//! when set (so a fail2ban tree's stream is unchanged), and refused with
//! file and line when it is not a count.

use std::path::Path;

use gaoler_config::reader::ClientOptions;
use gaoler_config::{read_config, ReadMode};
use serde_json::{json, Value};

/// A minimal tree with one enabled jail whose section ends with `extra`.
fn tree(dir: &Path, extra: &str) {
    std::fs::create_dir_all(dir.join("filter.d")).unwrap();
    std::fs::write(dir.join("fail2ban.conf"), "[Definition]\n").unwrap();
    std::fs::write(
        dir.join("filter.d/demo.conf"),
        "[Definition]\nfailregex = ^fail from <HOST>$\n",
    )
    .unwrap();
    let log = dir.join("demo.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        dir.join("jail.conf"),
        format!(
            "[DEFAULT]\nmaxretry = 5\n\n[demo]\nenabled = true\nbackend = polling\n\
             filter = demo\nlogpath = {}\n{extra}",
            log.display()
        ),
    )
    .unwrap();
}

fn read(extra: &str) -> (Vec<Vec<Value>>, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path(), extra);
    let r = read_config(tmp.path(), ReadMode::Test, &ClientOptions::default()).unwrap();
    (r.stream.iter().map(|c| c.to_json()).collect(), r.problems())
}

fn maxtracked_cmds(stream: &[Vec<Value>]) -> Vec<&Vec<Value>> {
    stream
        .iter()
        .filter(|c| c.get(2) == Some(&json!("maxtracked")))
        .collect()
}

#[test]
fn a_count_is_sent_as_a_whole_number() {
    let (stream, problems) = read("maxtracked = 250000\n");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        maxtracked_cmds(&stream),
        [&vec![
            json!("set"),
            json!("demo"),
            json!("maxtracked"),
            json!(250000)
        ]]
    );
    // It comes with the jail's other counters, before the log paths.
    let pos = |opt: &str| stream.iter().position(|c| c.get(2) == Some(&json!(opt)));
    assert!(pos("maxretry") < pos("maxtracked"));
    assert!(pos("maxtracked") < pos("addlogpath"));
}

#[test]
fn unset_means_no_command() {
    // The server's default applies; the stream is the one fail2ban's
    // client sends for the same tree.
    let (stream, problems) = read("");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(maxtracked_cmds(&stream).is_empty());
}

#[test]
fn zero_and_interpolation_are_accepted() {
    let (stream, _) = read("cap = 0\nmaxtracked = %(cap)s\n");
    assert_eq!(maxtracked_cmds(&stream)[0][3], json!(0));
}

#[test]
fn a_word_or_a_negative_count_is_refused_with_its_line() {
    let (_, problems) = read("maxtracked = lots\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("jail.conf:"), "{problems:?}");
    assert!(problems[0].contains("maxtracked"), "{problems:?}");
    assert!(problems[0].contains("not a whole number"), "{problems:?}");
    let (_, problems) = read("maxtracked = -1\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("jail.conf:9"), "{problems:?}");
    assert!(problems[0].contains("positive count"), "{problems:?}");
}
