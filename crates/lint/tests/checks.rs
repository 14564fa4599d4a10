//! Each check on a small tree that triggers it and on one that does not
//! (the fixture `base`: a "demo" daemon with a prefregex, a fake nft ban
//! action, a stand-in sshd filter).

mod common;

use common::*;
use gaoler_lint::{Level, Options};

/// The fixture with `[demo]` enabled plus `extra` lines in
/// `jail.d/test.local` (so the first extra line is line 3 there) and a
/// demo log holding `lines`.
fn demo(extra: &str, lines: &[&str]) -> Tree {
    let t = Tree::fixture("base");
    t.write(
        "jail.d/test.local",
        &format!("[demo]\nenabled = true\n{extra}"),
    );
    t.log("demo.log", lines);
    t
}

fn good_lines() -> Vec<String> {
    vec![
        demo_line(1, "auth failed for bob from 192.0.2.9"),
        demo_line(2, "no such user eve from 192.0.2.10"),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn clean_tree_has_no_findings() {
    let t = demo("", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    assert!(f.is_empty(), "{f:#?}");
}

// ---- prefregex-consumed / prefregex-nomatch

const CONSUMED_LOCAL: &str = "[Definition]\n\
    failregex = ^auth failed for \\S+ from <HOST>$\n\
    \x20           ^\\s*\\S+ demo\\[\\d+\\]: no such user \\S+ from <HOST>$\n";

#[test]
fn prefregex_consumed_points_at_the_failregex_line_with_a_fix() {
    let t = demo("", &refs(&good_lines()));
    t.write("filter.d/demo.local", CONSUMED_LOCAL);
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "prefregex-consumed", Level::Error);
    at(c, &t, "filter.d/demo.local", 3);
    assert_eq!(c.jail.as_deref(), Some("demo"));
    says(
        &c.message,
        &[
            "never matches",
            r"`\s*\S+ demo\[\d+\]: `",
            "demo.conf:6",
            "demo.log",
            "no such user eve from 192.0.2.10",
        ],
    );
    says(&c.fix, &[r"`^no such user \S+ from <HOST>$`"]);
}

#[test]
fn prefregex_consumed_is_found_without_any_log() {
    let t = demo("", &[]);
    t.write("filter.d/demo.local", CONSUMED_LOCAL);
    let opts = Options {
        read_logs: false,
        ..Options::default()
    };
    let f = t.lint_with(&FakeHost::default(), &opts);
    let c = one(&f, "prefregex-consumed", Level::Error);
    at(c, &t, "filter.d/demo.local", 3);
    says(&c.fix, &[r"^no such user \S+ from <HOST>$"]);
}

#[test]
fn failregexes_written_for_the_content_are_not_consumed() {
    let t = demo("", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "prefregex-consumed").is_empty(), "{f:#?}");
    assert!(of(&f, "prefregex-nomatch").is_empty(), "{f:#?}");
}

const UNANCHORED_LOCAL: &str = "[Definition]\nfailregex = auth failed for \\S+ from <HOST>$\n";

#[test]
fn prefregex_nomatch_when_the_log_lacks_the_prefix() {
    let t = demo(
        "",
        &[
            "2024-05-01 10:00:01 auth failed for bob from 192.0.2.9",
            "2024-05-01 10:00:02 auth failed for bob from 192.0.2.9",
        ],
    );
    t.write("filter.d/demo.local", UNANCHORED_LOCAL);
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "prefregex-nomatch", Level::Error);
    at(c, &t, "filter.d/demo.local", 2);
    says(
        &c.message,
        &[
            "matches none of the 2 lines",
            "demo.log",
            "line 1",
            "auth failed for bob",
        ],
    );
    says(&c.fix, &["filter.d/demo-demo.local", "prefregex ="]);
    assert!(of(&f, "prefregex-consumed").is_empty(), "{f:#?}");
}

#[test]
fn prefregex_nomatch_not_when_the_prefregex_matches() {
    let t = demo("", &refs(&good_lines()));
    t.write("filter.d/demo.local", UNANCHORED_LOCAL);
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "prefregex-nomatch").is_empty(), "{f:#?}");
}

#[test]
fn an_invalid_regex_is_reported() {
    let t = demo("", &refs(&good_lines()));
    t.write(
        "filter.d/demo.local",
        "[Definition]\nfailregex = ^auth (failed from <HOST>$\n",
    );
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "filter-invalid", Level::Error);
    at(c, &t, "filter.d/demo.local", 2);
    says(&c.message, &["cannot be built"]);
    says(&c.fix, &["gaoler regex"]);
}

// ---- host-unanchored

#[test]
fn host_after_dot_star_without_dollar_warns() {
    let t = demo(
        "failregex = ^auth failed for .* from <HOST>\n",
        &refs(&good_lines()),
    );
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "host-unanchored", Level::Warning);
    at(c, &t, "jail.d/test.local", 3);
    says(&c.message, &["`.*`", "<HOST>", "x from 192.0.2.66"]);
    says(&c.fix, &[r"\S+", "`$`", "`^`"]);
}

#[test]
fn host_after_bounded_class_or_with_dollar_does_not_warn() {
    let t = demo(
        "failregex = ^auth failed for .* from <HOST>$\n            ^no such user \\S+ from <HOST>\n",
        &refs(&good_lines()),
    );
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "host-unanchored").is_empty(), "{f:#?}");
}

// ---- logs and backends

#[test]
fn logpath_missing() {
    let t = demo("logpath = @LOGS@/missing-*.log\n", &[]);
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "logpath-missing", Level::Error);
    at(c, &t, "jail.d/test.local", 3);
    says(
        &c.message,
        &["missing-*.log", "matches no file", "skip_if_nologs"],
    );
    assert!(!c.fix.is_empty());
}

#[test]
fn logpath_present_is_not_missing() {
    let t = demo("logpath = @LOGS@/dem?.log\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "logpath-missing").is_empty(), "{f:#?}");
    assert!(of(&f, "logpath-unreadable").is_empty(), "{f:#?}");
}

#[test]
fn logpath_unreadable() {
    let t = demo("", &refs(&good_lines()));
    let host = FakeHost {
        unreadable: vec![t.logs().join("demo.log")],
        ..FakeHost::default()
    };
    let f = t.lint(&host);
    let c = one(&f, "logpath-unreadable", Level::Error);
    at(c, &t, "jail.conf", 18);
    says(&c.message, &["demo.log", "cannot be read"]);
    says(&c.fix, &["readable"]);
}

#[test]
fn datepattern_nomatch() {
    let t = demo(
        "",
        &[
            "May  1 10:00:01 host demo[7]: auth failed for bob from 192.0.2.9",
            "",
            "May  1 10:00:02 host demo[7]: auth failed for bob from 192.0.2.9",
        ],
    );
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "datepattern-nomatch", Level::Warning);
    at(c, &t, "filter.d/demo.conf", 11);
    says(
        &c.message,
        &[
            "none of the first 2 lines",
            "demo.log",
            "May  1 10:00:01",
            "no valid date",
        ],
    );
    says(&c.fix, &["datepattern"]);
}

#[test]
fn datepattern_matching_one_line_is_enough() {
    let mut lines =
        vec!["May  1 10:00:01 host demo[7]: auth failed for bob from 192.0.2.9".to_string()];
    lines.extend(good_lines());
    let t = demo("", &refs(&lines));
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "datepattern-nomatch").is_empty(), "{f:#?}");
}

#[test]
fn systemd_backend_without_journalctl() {
    let t = demo("backend = systemd\n", &[]);
    let f = t.lint(&FakeHost::default().without("journalctl"));
    let c = one(&f, "backend-cannot-read", Level::Error);
    at(c, &t, "jail.d/test.local", 3);
    says(&c.message, &["journalctl"]);
    says(&c.fix, &["apt-get install systemd", "backend = auto"]);
    // with journalctl: nothing to say, and no logpath finding either
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "backend-cannot-read").is_empty(), "{f:#?}");
    assert!(of(&f, "logpath-missing").is_empty(), "{f:#?}");
}

#[test]
fn file_backend_without_logpath_or_unknown_backend() {
    let t = demo("logpath =\n", &[]);
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "backend-cannot-read", Level::Error);
    says(&c.message, &["no `logpath`"]);
    says(&c.fix, &["add `logpath ="]);
    let t = demo("backend = gamin\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "backend-cannot-read", Level::Error);
    at(c, &t, "jail.d/test.local", 3);
    says(&c.message, &["`gamin`"]);
    says(&c.fix, &["backend = auto"]);
}

// ---- actions

#[test]
fn banaction_tool_missing_points_at_banaction() {
    let t = demo("", &refs(&good_lines()));
    // (an alternative is offered only if the tree has it)
    t.write(
        "action.d/iptables-multiport.conf",
        "[Definition]\nactionban = iptables -I f2b -s <ip> -j DROP\n",
    );
    let f = t.lint(&FakeHost::default().without("nft"));
    let c = one(&f, "banaction-tool-missing", Level::Error);
    at(c, &t, "jail.conf", 12);
    says(&c.message, &["`fake`", "`nft`", "actionstart", "actionban"]);
    says(
        &c.fix,
        &["apt-get install nftables", "banaction = iptables-multiport"],
    );
}

#[test]
fn banaction_tool_present() {
    let t = demo("", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default().without("iptables"));
    assert!(of(&f, "banaction-tool-missing").is_empty(), "{f:#?}");
}

#[test]
fn python_action() {
    let t = demo("action = notify.py[dest=root]\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "python-action", Level::Error);
    at(c, &t, "jail.d/test.local", 3);
    says(&c.message, &["notify", "Python action", "never runs"]);
    says(&c.fix, &["command action"]);
}

#[test]
fn command_action_is_not_python() {
    let t = demo("action = fake[name=x]\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "python-action").is_empty(), "{f:#?}");
}

fn host_with_lan() -> FakeHost {
    let mut h = FakeHost::default();
    h.addrs.push("192.0.2.10".parse().expect("ip"));
    h
}

#[test]
fn ignoreself_uncovered_lists_the_addresses() {
    let t = demo(
        "ignoreself = false\nignoreip = 127.0.0.1/8 mail.example\n",
        &refs(&good_lines()),
    );
    let f = t.lint(&host_with_lan());
    let c = one(&f, "ignoreself-uncovered", Level::Warning);
    at(c, &t, "jail.d/test.local", 3);
    says(&c.message, &["::1", "192.0.2.10"]);
    assert!(!c.message.contains("127.0.0.1"), "{}", c.message);
    says(&c.fix, &["ignoreip", "192.0.2.10"]);
}

#[test]
fn ignoreself_covered_by_ignoreip_and_a_file_list() {
    let t = demo(
        "ignoreself = false\nignoreip = 127.0.0.1/8, ::1 file:@LOGS@/own.txt\n",
        &refs(&good_lines()),
    );
    std::fs::write(
        t.logs().join("own.txt"),
        "# the lan\n192.0.2.0/24 ; office\n",
    )
    .expect("list");
    let f = t.lint(&host_with_lan());
    assert!(of(&f, "ignoreself-uncovered").is_empty(), "{f:#?}");
}

// ---- timing

#[test]
fn maxretry_and_findtime_that_cannot_ban() {
    let t = demo("maxretry = 0\nfindtime = 0\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    let m = one(&f, "timing-maxretry", Level::Error);
    at(m, &t, "jail.d/test.local", 3);
    says(&m.message, &["first failure"]);
    says(&m.fix, &["maxretry = 1", "enabled = false"]);
    let ft = one(&f, "timing-findtime", Level::Error);
    at(ft, &t, "jail.d/test.local", 4);
    says(&ft.message, &["never bans"]);
    says(&ft.fix, &["findtime = 10m"]);
}

#[test]
fn findtime_shorter_than_the_service_pace() {
    let t = Tree::fixture("base");
    t.write(
        "jail.d/test.local",
        "[sshd]\nenabled = true\nmaxretry = 6\nfindtime = 5\n",
    );
    t.log("auth.log", &[]);
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "timing-rate", Level::Warning);
    at(c, &t, "jail.d/test.local", 4);
    says(&c.message, &["sshd", "2 s", "10 s", "findtime = 5 s"]);
    says(&c.fix, &["above 10 s"]);
    t.write(
        "jail.d/test.local",
        "[sshd]\nenabled = true\nmaxretry = 6\nfindtime = 10m\n",
    );
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "timing-rate").is_empty(), "{f:#?}");
}

#[test]
fn bantime_shorter_than_findtime_is_information() {
    let t = demo("findtime = 1h\nbantime = 20m\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "timing-bantime", Level::Info);
    at(c, &t, "jail.d/test.local", 4);
    says(&c.message, &["1200", "3600", "emptied"]);
    says(&c.fix, &["bantime.increment = true"]);
    let t = demo(
        "findtime = 1h\nbantime = 20m\nbantime.increment = true\n",
        &refs(&good_lines()),
    );
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "timing-bantime").is_empty(), "{f:#?}");
}

#[test]
fn maxtime_below_bantime() {
    let t = demo(
        "bantime = 1h\nbantime.increment = true\nbantime.maxtime = 30m\n",
        &refs(&good_lines()),
    );
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "timing-maxtime", Level::Warning);
    at(c, &t, "jail.d/test.local", 5);
    says(&c.message, &["1800", "3600", "repeat offenders"]);
    says(&c.fix, &["above 3600 s"]);
    let t = demo(
        "bantime = 1h\nbantime.increment = true\nbantime.maxtime = 1w\n",
        &refs(&good_lines()),
    );
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "timing-maxtime").is_empty(), "{f:#?}");
}

// ---- duplicates

#[test]
fn jail_enabled_twice_names_both_places_and_the_winner() {
    let t = demo("", &refs(&good_lines()));
    t.write("jail.local", "[demo]\nbantime = 1h\nenabled = true\n");
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "jail-enabled-twice", Level::Warning);
    at(c, &t, "jail.local", 3);
    let local = t.conf().join("jail.local");
    let dlocal = t.conf().join("jail.d/test.local");
    says(
        &c.message,
        &[
            &format!("{}:3", local.display()),
            &format!("{}:2", dlocal.display()),
            &format!("here {}", dlocal.display()),
        ],
    );
    says(
        &c.fix,
        &[&format!("keep [demo] in one file ({})", dlocal.display())],
    );
}

#[test]
fn jail_enabled_once() {
    let t = demo("", &refs(&good_lines()));
    t.write("jail.local", "[demo]\nbantime = 1h\n");
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "jail-enabled-twice").is_empty(), "{f:#?}");
}

#[test]
fn two_jails_same_log_and_filter() {
    let t = demo("[other]\nenabled = true\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "jail-same-log", Level::Warning);
    assert_eq!(c.jail.as_deref(), Some("other"));
    at(c, &t, "jail.conf", 22);
    says(
        &c.message,
        &["demo and other", "demo.log", "filter demo", "2 failregexes"],
    );
    says(&c.fix, &["disable one of them"]);
    // a second jail on another log is fine
    let t = demo(
        "[other]\nenabled = true\nlogpath = @LOGS@/other.log\n",
        &refs(&good_lines()),
    );
    t.log("other.log", &[]);
    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "jail-same-log").is_empty(), "{f:#?}");
}

// ---- reader problems, named jails

#[test]
fn config_error_has_its_place() {
    let t = demo("findtime = soon\n", &refs(&good_lines()));
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "config-error", Level::Error);
    at(c, &t, "jail.d/test.local", 3);
    says(&c.message, &["findtime"]);
    assert!(!c.fix.is_empty());
}

#[test]
fn a_named_jail_is_checked_even_when_disabled() {
    let t = Tree::fixture("base");
    t.write(
        "jail.d/test.local",
        "[demo]\nlogpath = @LOGS@/nowhere.log\n",
    );
    assert!(t.lint(&FakeHost::default()).is_empty());
    let opts = Options {
        jails: vec!["demo".into()],
        ..Options::default()
    };
    let f = t.lint_with(&FakeHost::default(), &opts);
    let c = one(&f, "logpath-missing", Level::Error);
    at(c, &t, "jail.d/test.local", 2);
}

// ---- continuation-unindented

#[test]
fn a_failregex_line_without_indentation_is_an_error_on_its_line() {
    let t = demo("", &refs(&good_lines()));
    // as copied from a web page that dropped the indentation (a regex
    // with a `:` or `=` in it then reads as an option; one without either
    // is a parse error, which the reader reports itself)
    t.write(
        "filter.d/demo.local",
        "[Definition]\nfailregex = ^auth failed for \\S+ from <HOST>$\n^no such user \\S+ from <HOST>(?: port \\d+:)?$\n",
    );
    let f = t.lint(&FakeHost::default());
    let c = one(&f, "continuation-unindented", Level::Error);
    at(c, &t, "filter.d/demo.local", 3);
    says(
        &c.message,
        &[
            "^no such user",
            "another line of `failregex`",
            "silently dropped",
        ],
    );
    says(&c.fix, &["indent the line"]);
}

#[test]
fn indented_continuation_lines_pass() {
    let t = demo("", &refs(&good_lines()));
    t.write(
        "filter.d/demo.local",
        "[Definition]\nfailregex = ^auth failed for \\S+ from <HOST>$\n            ^no such user \\S+ from <HOST>$\n",
    );
    let f = t.lint(&FakeHost::default());
    assert!(
        !f.iter().any(|x| x.check == "continuation-unindented"),
        "{f:#?}"
    );
}
