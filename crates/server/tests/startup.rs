//! A start never half-succeeds in silence: a jail whose configuration the
//! server refuses is left out with the reason (file and line), the other
//! jails start, and `status` says which jails failed.

mod common;

use std::path::Path;

use common::{run, stream, Env};
use gaoler_config::reader::ClientOptions;
use gaoler_config::{read_config, ReadMode};
use serde_json::{json, Value as Json};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The pairs of `["Failed jails", [[jail, reason], ...]]` in a status.
fn failed(status: &Json) -> Vec<(String, String)> {
    status
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[0] == json!("Failed jails"))
        .flat_map(|p| p[1].as_array().unwrap().clone())
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The stream fails at a jail's bad value: fail2ban (and gaoler before)
/// stopped there, leaving that jail listed half-configured and every
/// jail after it missing. Now the bad jail alone is refused.
#[test]
fn a_failing_command_refuses_only_its_jail() {
    let env = Env::new();
    let srv = env.server();
    let mut s = env.stream("bad", &[]);
    s.insert(3, json!(["set", "bad", "findtime", "abc"]));
    s.extend(env.stream("good", &[]).into_iter().skip(1));
    stream(&srv, s);
    let st = run(&srv, json!(["status"]));
    assert_eq!(st[0], json!(["Number of jail", 1]), "{st}");
    assert_eq!(st[1], json!(["Jail list", "good"]), "{st}");
    let f = failed(&st);
    assert_eq!(f.len(), 1, "{st}");
    assert_eq!(f[0].0, "bad");
    assert!(
        f[0].1.contains("abc") && f[0].1.contains("findtime"),
        "{f:?}"
    );
    // The good jail is fully configured (not left with defaults).
    assert_eq!(run(&srv, json!(["get", "good", "findtime"])), json!(600));
    assert_eq!(
        run(&srv, json!(["get", "good", "actions"])),
        json!(["dummy"])
    );
    // `status bad` says why instead of "does not exist".
    let e = srv.handle(&[json!("status"), json!("bad")]).unwrap_err();
    assert!(e.to_string().contains("failed to start"), "{e}");
    assert!(env.server_log().contains("Jail 'bad' not started"));
    // `stop bad` clears the failure; fail2ban's shape is back.
    run(&srv, json!(["stop", "bad"]));
    assert_eq!(
        run(&srv, json!(["status"])),
        json!([["Number of jail", 1], ["Jail list", "good"]])
    );
    srv.shutdown();
}

/// `config-error` entries (jails the reader skipped) are failed jails too.
#[test]
fn config_error_entries_are_failed_jails() {
    let env = Env::new();
    let srv = env.server();
    let mut s = vec![json!([
        "config-error",
        "Jail 'broken' skipped, because of wrong configuration: /x/jail.local:3: nope"
    ])];
    s.extend(env.stream("good", &[]).into_iter().skip(1));
    stream(&srv, s);
    let st = run(&srv, json!(["status"]));
    assert_eq!(
        failed(&st),
        vec![("broken".to_owned(), "/x/jail.local:3: nope".to_owned())]
    );
    assert_eq!(st[1], json!(["Jail list", "good"]));
    srv.shutdown();
}

/// From a configuration tree: each kind of bad jail is refused with the
/// file and line of the offending option, and the good jails start.
#[test]
fn plan_start_refuses_bad_jails_with_file_and_line() {
    let upstream = gaoler_testkit::upstream().join("config");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    copy_tree(&upstream, &conf);
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        conf.join("fail2ban.local"),
        format!(
            "[Definition]\nlogtarget = {}\ndbfile = :memory:\n",
            dir.path().join("srv.log").display()
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("filter.d/badre.conf"),
        "[Definition]\n\nfailregex = ^unbalanced (<HOST>$\n",
    )
    .unwrap();
    let l = log.display().to_string();
    let jail = |name: &str, filter: &str, logpath: &str, extra: &str| {
        format!(
            "[{name}]\nenabled = true\nbackend = polling\nfilter = {filter}\n\
             logpath = {logpath}\naction =\n{extra}\n"
        )
    };
    let text = [
        jail("a-bad-findtime", "sshd", &l, "findtime = abc"),
        jail("b-good", "sshd", &l, ""),
        jail("c-bad-maxretry", "sshd", &l, "maxretry = lots"),
        jail("d-bad-bantime", "sshd", &l, "bantime = 10 parsecs"),
        jail("e-bad-regex", "badre", &l, ""),
        jail("f-no-log", "sshd", "/nonexistent/*.log", ""),
        jail("g-bad-interpolation", "sshd", &l, "maxretry = %(nope)s"),
        jail("h-good", "sshd", &l, ""),
    ]
    .concat();
    std::fs::write(conf.join("jail.local"), &text).unwrap();
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l == needle)
            .map(|i| format!("jail.local:{}", i + 1))
            .unwrap()
    };
    let read = read_config(&conf, ReadMode::Test, &ClientOptions::default()).expect("tree reads");
    let plan = gaoler_server::plan_start(&read);
    assert_eq!(plan.starting, ["b-good", "h-good"], "{plan:?}");
    let reason = |j: &str| {
        plan.refused
            .iter()
            .find(|(n, _)| n == j)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{j} not refused: {plan:?}"))
    };
    assert!(reason("a-bad-findtime").contains(&line_of("findtime = abc")));
    assert!(reason("c-bad-maxretry").contains(&line_of("maxretry = lots")));
    assert!(reason("d-bad-bantime").contains(&line_of("bantime = 10 parsecs")));
    assert!(
        reason("e-bad-regex").contains("filter.d/badre.conf:3"),
        "{}",
        reason("e-bad-regex")
    );
    assert!(reason("f-no-log").contains("Have not found any log file"));
    assert!(reason("g-bad-interpolation").contains(&line_of("maxretry = %(nope)s")));
    assert_eq!(plan.refused.len(), 6, "{plan:?}");
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    // Refused jails appear in the stream only as config-error entries.
    for c in &plan.stream {
        let w = |i: usize| c.get(i).and_then(Json::as_str).unwrap_or("");
        if w(0) != "config-error" {
            assert!(!w(1).contains("bad") && !w(1).contains("no-log"), "{c:?}");
        }
    }

    let srv = gaoler_server::Server::new(gaoler_server::ServerOptions {
        loglevel: Some("CRITICAL".into()),
        logtarget: Some("STDERR".into()),
        ..Default::default()
    })
    .unwrap();
    let s: Vec<Json> = plan.stream.iter().cloned().map(Json::Array).collect();
    run(&srv, json!(["server-stream", s]));
    let st = run(&srv, json!(["status"]));
    assert_eq!(st[1], json!(["Jail list", "b-good, h-good"]), "{st}");
    let f = failed(&st);
    assert_eq!(f.len(), 6, "{st}");
    assert_eq!(srv.failed_jails(), f);
    assert!(f[0].1.contains(&line_of("findtime = abc")), "{f:?}");
    srv.shutdown();
}
