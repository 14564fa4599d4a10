//! Bad configuration gives a clear error naming the file, line and jail,
//! and `-t` exits non-zero; it never panics or half-starts.

mod common;

use common::*;

/// Run `gaoler client -c TREE -t` on the stock tree plus `files`; return
/// (exit ok, stdout+stderr).
fn test_tree(files: &[(&str, &str)]) -> (bool, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = tmp.path().join("conf");
    copy_tree(&upstream().join("config"), &tree);
    let log = tmp.path().join("x.log");
    std::fs::write(&log, "").expect("log");
    write_files_replacing(&tree, files, "@LOG@", &log);
    let out = gaoler()
        .args(["client", "-c"])
        .arg(&tree)
        .arg("-t")
        .output()
        .expect("run");
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {}",
        stderr(&out)
    );
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

fn assert_fails(files: &[(&str, &str)], needles: &[&str]) {
    let (ok, text) = test_tree(files);
    assert!(!ok, "expected failure, got success:\n{text}");
    assert!(text.contains("ERROR: test configuration failed"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in:\n{text}");
    }
}

#[test]
fn a_good_tree_passes() {
    let (ok, text) = test_tree(&[(
        "jail.d/ok.local",
        "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\n",
    )]);
    assert!(ok, "{text}");
    assert!(
        text.contains("OK: configuration test is successful"),
        "{text}"
    );
}

#[test]
fn missing_filter_file() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nfilter = no-such-filter\n",
        )],
        &["jail.d/bad.local:5", "'sshd'", "no-such-filter"],
    );
}

#[test]
fn missing_action_file() {
    assert_fails(
        &[("jail.d/bad.local", "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\naction = no-such-action[name=x]\n")],
        &["jail.d/bad.local:5", "'sshd'", "no-such-action"],
    );
}

#[test]
fn unknown_interpolation_name() {
    assert_fails(
        &[("jail.d/bad.local", "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nmaxretry = %(nonexistent)s\n")],
        &["jail.d/bad.local:5", "nonexistent", "sshd"],
    );
}

#[test]
fn interpolation_loop() {
    assert_fails(
        &[("jail.d/bad.local", "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nbantime = %(findtime)s\nfindtime = %(bantime)s\n")],
        &["jail.d/bad.local:", "too deeply", "sshd"],
    );
}

#[test]
fn unterminated_bracket_option() {
    assert_fails(
        &[("jail.d/bad.local", "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\naction = iptables[name=SSH, port=ssh\n")],
        &["jail.d/bad.local:5", "'sshd'", "Invalid action definition"],
    );
}

#[test]
fn invalid_time_value() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nbantime = 10 parsecs\n",
        )],
        &["jail.d/bad.local:5", "[sshd] bantime", "10 parsecs"],
    );
}

#[test]
fn invalid_int_value() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nmaxretry = five\n",
        )],
        &["jail.d/bad.local:5", "maxretry", "five"],
    );
}

#[test]
fn jail_without_log_file() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = /nonexistent/dir/*.log\n",
        )],
        &[
            "Have not found any log file for sshd jail",
            "jail.d/bad.local:4",
        ],
    );
}

#[test]
fn duplicate_option_in_one_file() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nenabled = false\n",
        )],
        &["jail.d/bad.local:3", "already exists"],
    );
}

#[test]
fn missing_base_directory() {
    let out = gaoler()
        .args(["client", "-c", "/nonexistent/gaoler-conf", "-t"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(format!("{}{}", stdout(&out), stderr(&out)).contains("/nonexistent/gaoler-conf"));
}

#[test]
fn invalid_regex() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nfailregex = ^Failed (password from <HOST>$\n",
        )],
        &["^Failed (password from", "sshd"],
    );
}

#[test]
fn regex_without_host_group() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nprefregex =\nfailregex = ^Failed password$\n",
        )],
        &["sshd"],
    );
}

/// Each bad jail is judged on its own: an error in one (here a broken
/// interpolation, which used to abort the whole read) does not hide the
/// next one's, and each is reported with its file and line.
#[test]
fn every_bad_jail_is_reported_with_its_line() {
    assert_fails(
        &[(
            "jail.d/bad.local",
            "[sshd]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nmaxretry = %(nope)s\n\n\
             [dropbear]\nenabled = true\nbackend = polling\nlogpath = @LOG@\nfindtime = abc\n",
        )],
        &[
            "Jail 'sshd' skipped",
            "jail.d/bad.local:5",
            "Jail 'dropbear' skipped",
            "jail.d/bad.local:11",
            "[dropbear] findtime",
        ],
    );
}
