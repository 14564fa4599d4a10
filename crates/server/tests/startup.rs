//! A start never half-succeeds in silence: a jail whose configuration the
//! server refuses is left out with the reason (file and line), the other
//! jails start, and `status` says which jails failed.

mod common;

use common::{run, stream, Env};
use gaoler_command::Command;
use gaoler_config::reader::ClientOptions;
use gaoler_config::{read_config, ReadMode};
use serde_json::{json, Value as Json};

use gaoler_testkit::copy_tree;

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
    let plan = gaoler_lint::start::plan_start(&read);
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
        let c = c.to_json();
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
    let s: Vec<Json> = plan
        .stream
        .iter()
        .map(|c| Json::Array(c.to_json()))
        .collect();
    run(&srv, json!(["server-stream", s]));
    let st = run(&srv, json!(["status"]));
    assert_eq!(st[1], json!(["Jail list", "b-good, h-good"]), "{st}");
    let f = failed(&st);
    assert_eq!(f.len(), 6, "{st}");
    assert_eq!(srv.failed_jails(), f);
    assert!(f[0].1.contains(&line_of("findtime = abc")), "{f:?}");
    srv.shutdown();
}

/// The start check (`gaoler_lint::stream`, which runs no server) and the
/// server agree: for each command a jail's stream can carry, good or bad,
/// both refuse the stream, or neither does.
#[test]
fn the_serverless_check_and_the_server_agree() {
    let j = "j";
    let cases: Vec<Vec<Json>> = [
        json!([["set", j, "findtime", "abc"]]),
        json!([["set", j, "findtime", "10m"]]),
        json!([["set", j, "bantime", "10 parsecs"]]),
        json!([["set", j, "bantime", -1]]),
        json!([["set", j, "maxretry", "lots"]]),
        json!([["set", j, "maxretry", 5]]),
        json!([["set", j, "maxtracked", "-1"]]),
        json!([["set", j, "maxlines", "2"]]),
        json!([["set", j, "addfailregex", "^x (<HOST>$"]]),
        json!([["set", j, "addfailregex", "^no id here$"]]),
        json!([["set", j, "addfailregex", "^user <F-USER>\\S+</F-USER>$"]]),
        json!([["set", j, "prefregex", "^(x"]]),
        json!([["set", j, "prefregex", "^<F-CONTENT>.+</F-CONTENT>$"]]),
        json!([["set", j, "addignoreregex", "(("]]),
        json!([["set", j, "delfailregex", 0]]),
        json!([["set", j, "delfailregex", 1]]),
        json!([["set", j, "delignoreregex", 0]]),
        json!([["set", j, "datepattern", "^%Y-%m-%d %H:%M:%S"]]),
        json!([["set", j, "datepattern", "^%Y-%m-%d (unclosed"]]),
        json!([["set", j, "logencoding", "utf-16"]]),
        json!([["set", j, "logencoding", "latin-1"]]),
        json!([["set", j, "ignorecache", "max-count=3"]]),
        json!([["set", j, "ignorecache", "key=\"<ip>\", max-time=5m"]]),
        json!([["set", j, "ignorecache", "key=\"<ip>\", max-time=soon"]]),
        json!([["set", j, "fleet", "sometimes"]]),
        json!([["set", j, "fleet", "publish"]]),
        json!([["set", j, "fleetcount", "both"]]),
        json!([["set", j, "actionengine", "turbo"]]),
        json!([["set", j, "actionengine", "shell"]]),
        json!([["set", j, "bantime.increment", true]]),
        json!([["set", j, "bantime.factor", "x*"]]),
        json!([["set", j, "bantime.formula", "ban.Time * (1<<"]]),
        json!([["set", j, "bantime.multipliers", "1 2 x"]]),
        json!([["set", j, "bantime.maxtime", "forever"]]),
        json!([["set", j, "bantime.rndtime", "5m"]]),
        json!([["set", j, "banip", "not an address;"]]),
        json!([["set", j, "attempt", ""]]),
        json!([["set", j, "unbanip", "--report-absent", "192.0.2.1"]]),
        json!([["set", j, "idle", "maybe"]]),
        json!([
            ["set", j, "usedns", "bogus"],
            ["set", j, "addfailregex", "^y <HOST>$"]
        ]),
        json!([["set", j, "addlogpath", "/x", "middle"]]),
        json!([["set", j, "bogus", "1"]]),
        json!([["get", j, "bogus"]]),
        json!([["set", j, "addaction", "dummy"]]),
        json!([["set", j, "addaction", "x.py"]]),
        json!([[
            "set",
            j,
            "addaction",
            "smtp",
            "/etc/fail2ban/action.d/smtp.py",
            "{}"
        ]]),
        json!([["set", j, "delaction", "nope"]]),
        json!([["set", j, "delaction", "dummy"]]),
        json!([["multi-set", j, "action", "nope", [["k", "v"]]]]),
        json!([["multi-set", j, "action", "dummy", [["timeout", "abc"]]]]),
        json!([["multi-set", j, "action", "dummy", "not pairs"]]),
        json!([["set", j, "action", "dummy", "timeout", "1m"]]),
        json!([["set", j, "action", "dummy", "timeout"]]),
        json!([["set", "nojail", "findtime", "1"]]),
        json!([["set", "nojail", "bogus"]]),
        json!([["add", j, "polling"]]),
        json!([["set", "dbpurgeage", "1 fortnight"]]),
        json!([["set", "dbmaxmatches", "many"]]),
        json!([["set", "fleethost", "no spaces allowed"]]),
        json!([["set", "fleetretry", "0.01"]]),
        json!([[
            "config-error",
            "Jail 'x' skipped, because of wrong configuration: y"
        ]]),
        json!([["nonsense"]]),
    ]
    .into_iter()
    .map(|c| c.as_array().cloned().unwrap_or_default())
    .collect();
    let mut disagree = Vec::new();
    let mut refused = 0;
    for case in &cases {
        let env = Env::new();
        let s = env.stream(j, case);
        // (a command that does not parse is refused before the check: the
        // configuration reader never emits one)
        let typed: Result<Vec<Command>, _> = s
            .iter()
            .map(|c| Command::parse(c.as_array().map_or(&[][..], Vec::as_slice)))
            .collect();
        let check = typed
            .as_ref()
            .map(|t| gaoler_lint::stream::check_stream_detailed(t))
            .unwrap_or_default();
        let check_refuses = typed.is_err() || check.iter().any(|r| r.fatal);
        let srv = gaoler_server::Server::new(gaoler_server::ServerOptions {
            loglevel: Some("CRITICAL".into()),
            logtarget: Some("STDERR".into()),
            ..Default::default()
        })
        .unwrap();
        let streamed = srv.handle(&[json!("server-stream"), Json::Array(s.clone())]);
        let st = run(&srv, json!(["status"]));
        srv.shutdown();
        let server_refuses = streamed.is_err() || st[1] != json!(["Jail list", j]);
        refused += usize::from(server_refuses);
        if check_refuses != server_refuses {
            disagree.push(format!(
                "{}: check {check:?}, server {streamed:?} {st}",
                Json::Array(case.clone())
            ));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
    // (both verdicts are exercised)
    assert_eq!((refused, cases.len()), (43, 62));
}
