//! The server driven through `handle()` like fail2ban-client drives
//! fail2ban-server: hand-built streams, a temp log, a dummy action.

mod common;

use std::time::{Duration, Instant};

use common::{run, settle, stream, wait_for, Env};
use serde_json::json;

const T: Duration = Duration::from_secs(8);

#[test]
fn below_maxretry_no_ban_at_maxretry_ban() {
    let env = Env::new();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    settle();
    assert!(wait_for(T, || env.actions().contains("start")));
    env.fail("192.0.2.7");
    env.fail("192.0.2.7");
    assert!(wait_for(T, || {
        run(&srv, json!(["status", "test"]))[0][1][1][1] == json!(2)
    }));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !env.actions().contains("ban 192.0.2.7"),
        "{}",
        env.actions()
    );
    env.fail("192.0.2.7");
    assert!(
        wait_for(T, || env.actions().contains("ban 192.0.2.7 600")),
        "{}",
        env.actions()
    );
    let st = run(&srv, json!(["status", "test"]));
    assert_eq!(
        st,
        json!([
            [
                "Filter",
                [
                    ["Currently failed", 0],
                    ["Total failed", 3],
                    ["File list", [env.log.to_string_lossy()]]
                ]
            ],
            [
                "Actions",
                [
                    ["Currently banned", 1],
                    ["Total banned", 1],
                    ["Banned IP list", ["192.0.2.7"]]
                ]
            ]
        ])
    );
    assert_eq!(
        run(&srv, json!(["status"])),
        json!([["Number of jail", 1], ["Jail list", "test"]])
    );
    assert_eq!(
        run(&srv, json!(["banned"])),
        json!([{"test": ["192.0.2.7"]}])
    );
    assert_eq!(
        run(&srv, json!(["banned", "192.0.2.7", "1.1.1.1"])),
        json!([["test"], []])
    );
    let log = env.server_log();
    let pid = std::process::id();
    let ban_line = log
        .lines()
        .find(|l| l.ends_with("[test] Ban 192.0.2.7"))
        .unwrap_or_else(|| panic!("no Ban line in {log}"));
    // 2026-11-25 15:31:52,712 fail2ban.actions        [9843]: NOTICE  [sshd] Ban 192.0.2.7
    assert_eq!(
        &ban_line[23..],
        format!(" fail2ban.actions        [{pid}]: NOTICE  [test] Ban 192.0.2.7")
    );
    assert!(log.contains("fail2ban.filter         ["), "{log}");
    assert!(log.contains("INFO    [test] Found 192.0.2.7 - "), "{log}");
    srv.shutdown();
    assert!(srv.is_stopping());
    assert!(env.actions().ends_with("stop\n"), "{}", env.actions());
}

#[test]
fn ignoreip_is_respected() {
    let env = Env::new();
    let srv = env.server();
    stream(
        &srv,
        env.stream(
            "test",
            &[json!(["set", "test", "addignoreip", "192.0.2.0/24"])],
        ),
    );
    settle();
    for _ in 0..3 {
        env.fail("192.0.2.8");
    }
    env.fail("203.0.113.9");
    assert!(wait_for(T, || env
        .server_log()
        .contains("[test] Found 203.0.113.9")));
    assert!(env.server_log().contains("[test] Ignore 192.0.2.8 by ip"));
    assert!(!env.actions().contains("ban 192.0.2.8"));
    assert_eq!(
        run(&srv, json!(["get", "test", "ignoreip"])),
        json!(["192.0.2.0/24"])
    );
    srv.shutdown();
}

#[test]
fn banip_unbanip_and_errors() {
    let env = Env::new();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    assert_eq!(
        run(
            &srv,
            json!(["set", "test", "banip", "198.51.100.1", "198.51.100.2"])
        ),
        json!(2)
    );
    // actionstart always runs before the first ban, even for a ban
    // requested right after `start`.
    assert!(
        env.actions().starts_with("start\nban 198.51.100.1"),
        "{}",
        env.actions()
    );
    assert_eq!(
        run(&srv, json!(["set", "test", "banip", "198.51.100.1"])),
        json!(0)
    );
    assert_eq!(
        run(&srv, json!(["get", "test", "banned", "198.51.100.1"])),
        json!(1)
    );
    assert_eq!(
        run(
            &srv,
            json!(["get", "test", "banned", "198.51.100.1", "10.0.0.1"])
        ),
        json!([1, 0])
    );
    let with_time = run(&srv, json!(["get", "test", "banip", "--with-time"]));
    assert!(
        with_time[0].as_str().unwrap().contains(" + 600 = "),
        "{with_time}"
    );
    assert_eq!(
        run(&srv, json!(["set", "test", "unbanip", "198.51.100.1"])),
        json!(1)
    );
    assert!(wait_for(T, || env.actions().contains("unban 198.51.100.1")));
    assert_eq!(
        run(&srv, json!(["set", "test", "unbanip", "10.9.9.9"])),
        json!(0)
    );
    let e = srv
        .handle(&[
            json!("set"),
            json!("test"),
            json!("unbanip"),
            json!("--report-absent"),
            json!("10.9.9.9"),
        ])
        .unwrap_err();
    assert_eq!(e.kind(), "ValueError");
    assert_eq!(e.to_string(), "not banned: ['10.9.9.9']");
    assert_eq!(run(&srv, json!(["unban", "--all"])), json!(1));
    assert_eq!(run(&srv, json!(["get", "test", "banip"])), json!([]));
    srv.shutdown();
}

#[test]
fn garbage_commands_fail_and_server_keeps_working() {
    let env = Env::new();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    let e = srv.handle(&[]).unwrap_err();
    assert_eq!(e.to_string(), "Invalid command");
    let e = srv.handle(&[json!("bogus")]).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        ("Exception", "Invalid command")
    );
    let e = srv.handle(&[json!("status"), json!("nojail")]).unwrap_err();
    assert_eq!(e.kind(), "UnknownJailException");
    assert_eq!(e.to_string(), "nojail");
    let e = srv.handle(&[json!("add"), json!("test")]).unwrap_err();
    assert_eq!(e.kind(), "DuplicateJailException");
    let e = srv
        .handle(&[json!("set"), json!("test"), json!("maxretry"), json!("abc")])
        .unwrap_err();
    assert_eq!(e.kind(), "ValueError");
    let e = srv
        .handle(&[
            json!("set"),
            json!("test"),
            json!("addfailregex"),
            json!("(unclosed"),
        ])
        .unwrap_err();
    assert_eq!(e.kind(), "ValueError");
    assert!(srv
        .handle(&[json!("get"), json!("test"), json!("nope")])
        .is_err());
    assert!(srv
        .handle(&[json!("set"), json!("dbfile"), json!(":memory:")])
        .is_err());
    assert!(srv.handle(&[json!(42)]).is_err());
    // A failing command ends a stream; it is logged, not the stream.
    let e = srv
        .handle(&[
            json!("server-stream"),
            json!([
                ["set", "test", "maxretry", 4],
                ["set", "test", "maxretry", "x"],
                ["set", "test", "maxretry", 5]
            ]),
        ])
        .unwrap_err();
    assert_eq!(e.kind(), "ValueError");
    assert_eq!(run(&srv, json!(["get", "test", "maxretry"])), json!(4));
    assert!(env
        .server_log()
        .contains("Command ['set', 'test', 'maxretry', 'x'] has failed. Received ValueError("));
    assert_eq!(run(&srv, json!(["ping"])), json!("pong"));
    assert_eq!(run(&srv, json!(["echo", "a", "b"])), json!(["a", "b"]));
    assert_eq!(run(&srv, json!(["server-status"])), json!("Server ready"));
    assert_eq!(run(&srv, json!(["set", "test", "maxretry", "7"])), json!(7));
    assert_eq!(run(&srv, json!(["get", "test", "findtime"])), json!(600));
    assert_eq!(
        run(&srv, json!(["get", "test", "actions"])),
        json!(["dummy"])
    );
    assert_eq!(
        run(&srv, json!(["get", "test", "logpath"])),
        json!([env.log.to_string_lossy()])
    );
    assert_eq!(
        run(&srv, json!(["get", "test", "datepattern"])),
        json!([null, "Default Detectors"])
    );
    assert_eq!(
        run(&srv, json!(["get", "dbfile"])),
        json!(env.db.to_string_lossy())
    );
    assert!(env
        .server_log()
        .contains("Command ['bogus'] has failed. Received Exception('Invalid command')"));
    srv.shutdown();
}

#[test]
fn bantime_expiry_unbans() {
    let env = Env::new();
    let srv = env.server();
    stream(
        &srv,
        env.stream("test", &[json!(["set", "test", "bantime", 3])]),
    );
    settle();
    for _ in 0..3 {
        env.fail("192.0.2.20");
    }
    assert!(
        wait_for(T, || env.actions().contains("ban 192.0.2.20 3")),
        "{}",
        env.actions()
    );
    assert!(
        wait_for(T, || env.actions().contains("unban 192.0.2.20")),
        "{}",
        env.server_log()
    );
    assert!(env.server_log().contains("NOTICE  [test] Unban 192.0.2.20"));
    assert_eq!(run(&srv, json!(["get", "test", "banip"])), json!([]));
    srv.shutdown();
}

#[test]
fn restart_restores_current_bans_not_expired() {
    let env = Env::new();
    {
        let srv = env.server();
        stream(&srv, env.stream("test", &[]));
        run(&srv, json!(["set", "test", "banip", "198.51.100.5"]));
        run(&srv, json!(["set", "test", "bantime", 1]));
        run(&srv, json!(["set", "test", "banip", "198.51.100.6"]));
        assert!(wait_for(T, || env.actions().contains("unban 198.51.100.6")));
        run(&srv, json!(["stop"]));
        assert!(srv.is_stopping());
        assert!(srv.wait_stopping(Some(Duration::from_secs(1))));
        assert!(env.actions().ends_with("stop\n"));
    }
    std::fs::remove_file(&env.actfile).ok();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    assert!(
        wait_for(T, || env.actions().contains("ban 198.51.100.5")),
        "{}",
        env.server_log()
    );
    assert!(env
        .server_log()
        .contains("NOTICE  [test] Restore Ban 198.51.100.5"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!env.actions().contains("198.51.100.6"));
    assert_eq!(
        run(&srv, json!(["get", "test", "banip"])),
        json!(["198.51.100.5"])
    );
    srv.shutdown();
}

#[test]
fn bantime_increment_doubles_for_repeat_offender() {
    let env = Env::new();
    let srv = env.server();
    stream(
        &srv,
        env.stream(
            "test",
            &[
                json!(["set", "test", "bantime", 3]),
                json!(["set", "test", "bantime.increment", "true"]),
            ],
        ),
    );
    settle();
    for _ in 0..3 {
        env.fail("192.0.2.30");
    }
    assert!(
        wait_for(T, || env.actions().contains("ban 192.0.2.30 3\n")),
        "{}",
        env.actions()
    );
    assert!(wait_for(T, || env.actions().contains("unban 192.0.2.30")));
    // The repeat offender: history makes each failure count double.
    env.fail("192.0.2.30");
    env.fail("192.0.2.30");
    assert!(
        wait_for(T, || env.actions().contains("ban 192.0.2.30 6\n")),
        "{}\n{}",
        env.actions(),
        env.server_log()
    );
    assert!(
        env.server_log()
            .contains("[test] Increase Ban 192.0.2.30 (2 # 6s -> "),
        "{}",
        env.server_log()
    );
    let bt = run(&srv, json!(["get", "test", "banip", "--with-time"]));
    assert!(bt[0].as_str().unwrap().contains(" + 6 = "), "{bt}");
    assert_eq!(
        run(&srv, json!(["get", "test", "bantime.increment"])),
        json!(true)
    );
    srv.shutdown();
}

#[test]
fn python_action_refused_jail_keeps_other_action() {
    let env = Env::new();
    let srv = env.server();
    stream(
        &srv,
        env.stream(
            "test",
            &[json!([
                "set",
                "test",
                "addaction",
                "smtp",
                "/etc/fail2ban/action.d/smtp.py",
                "{}"
            ])],
        ),
    );
    let log = env.server_log();
    assert!(
        log.contains("ERROR   Failed to add action to jail 'test': jail 'test': action 'smtp' is a Python action"),
        "{log}"
    );
    settle();
    for _ in 0..3 {
        env.fail("192.0.2.40");
    }
    assert!(wait_for(T, || env.actions().contains("ban 192.0.2.40")));
    assert_eq!(
        run(&srv, json!(["get", "test", "actions"])),
        json!(["dummy"])
    );
    // Outside a stream the refusal is an error for the caller.
    assert!(srv
        .handle(&[
            json!("set"),
            json!("test"),
            json!("addaction"),
            json!("x"),
            json!("/x.py"),
            json!("{}")
        ])
        .is_err());
    srv.shutdown();
}

#[test]
fn failing_action_does_not_stop_the_others() {
    let env = Env::new();
    let srv = env.server();
    stream(
        &srv,
        env.stream(
            "test",
            &[
                json!(["set", "test", "addaction", "broken"]),
                json!([
                    "multi-set",
                    "test",
                    "action",
                    "broken",
                    [["actionban", "exit 3"]]
                ]),
            ],
        ),
    );
    assert_eq!(
        run(&srv, json!(["set", "test", "banip", "198.51.100.9"])),
        json!(1)
    );
    assert!(env.actions().contains("ban 198.51.100.9"));
    assert!(env
        .server_log()
        .contains("Failed to execute ban jail 'test' action 'broken'"));
    srv.shutdown();
}

#[test]
fn stop_jail_runs_actionstop_and_removes_it() {
    let env = Env::new();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    assert!(wait_for(T, || env.actions().contains("start")));
    run(&srv, json!(["set", "test", "banip", "198.51.100.10"]));
    run(&srv, json!(["stop", "test"]));
    let acts = env.actions();
    assert!(acts.contains("unban 198.51.100.10\nstop\n"), "{acts}");
    assert!(env.server_log().contains("[test] Repeal Ban 198.51.100.10"));
    assert!(env.server_log().contains("Jail 'test' stopped"));
    assert_eq!(
        srv.handle(&[json!("status"), json!("test")])
            .unwrap_err()
            .kind(),
        "UnknownJailException"
    );
    assert_eq!(
        run(&srv, json!(["status"])),
        json!([["Number of jail", 0], ["Jail list", ""]])
    );
    srv.shutdown();
}

#[test]
fn reload_keeps_bans_and_reparameterises_actions() {
    let env = Env::new();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    run(&srv, json!(["set", "test", "banip", "198.51.100.11"]));
    let f = env.actfile.display().to_string();
    let new_stream: Vec<serde_json::Value> = vec![
        json!(["add", "test", "auto"]),
        json!(["set", "test", "addfailregex", "Failed login from <HOST>$"]),
        json!([
            "set",
            "test",
            "addlogpath",
            env.log.to_string_lossy(),
            "head"
        ]),
        json!(["set", "test", "addaction", "dummy"]),
        json!([
            "multi-set",
            "test",
            "action",
            "dummy",
            [
                ["actionban", format!("echo ban2 <ip> >> {f}")],
                ["actionunban", format!("echo unban2 <ip> >> {f}")],
                ["actionreload", format!("echo reload >> {f}")],
                ["actionstop", format!("echo stop >> {f}")],
            ]
        ]),
        json!(["start", "test"]),
    ];
    assert_eq!(
        run(&srv, json!(["reload", "--all", [], new_stream])),
        json!("OK")
    );
    assert!(env.actions().contains("reload"), "{}", env.actions());
    assert_eq!(
        run(&srv, json!(["get", "test", "banip"])),
        json!(["198.51.100.11"])
    );
    run(&srv, json!(["set", "test", "banip", "198.51.100.12"]));
    assert!(env.actions().contains("ban2 198.51.100.12"));
    // An action new in a reload is started before it bans.
    let g = env.dir.path().join("second.txt");
    let g = g.display().to_string();
    let mut s2 = new_stream.clone();
    s2.insert(5, json!(["set", "test", "addaction", "second"]));
    s2.insert(
        6,
        json!([
            "multi-set",
            "test",
            "action",
            "second",
            [
                ["actionstart", format!("echo start >> {g}")],
                ["actionban", format!("echo ban <ip> >> {g}")],
            ]
        ]),
    );
    assert_eq!(run(&srv, json!(["reload", "test", [], s2])), json!("OK"));
    assert_eq!(
        run(&srv, json!(["get", "test", "actions"])),
        json!(["dummy", "second"])
    );
    run(&srv, json!(["set", "test", "banip", "198.51.100.13"]));
    assert_eq!(
        std::fs::read_to_string(&g).unwrap(),
        "start\nban 198.51.100.13\n"
    );
    // A reload whose stream does not name the jail removes it.
    assert_eq!(run(&srv, json!(["reload", "--all", [], []])), json!("OK"));
    assert_eq!(
        run(&srv, json!(["status"])),
        json!([["Number of jail", 0], ["Jail list", ""]])
    );
    assert!(
        env.actions().contains("unban2 198.51.100.11"),
        "{}",
        env.actions()
    );
    srv.shutdown();
}

#[test]
fn ban_reaches_action_quickly() {
    let env = Env::new();
    let srv = env.server();
    stream(
        &srv,
        env.stream("test", &[json!(["set", "test", "maxretry", 1])]),
    );
    settle();
    let mut lat = Vec::new();
    for i in 0..20 {
        let ip = format!("192.0.2.{}", 100 + i);
        let t0 = Instant::now();
        env.fail(&ip);
        let needle = format!("ban {ip} ");
        assert!(wait_for(T, || env.actions().contains(&needle)));
        lat.push(t0.elapsed());
    }
    lat.sort();
    eprintln!("ban latency: median {:?}, max {:?}", lat[10], lat[19]);
    // Generous bound for a loaded test machine; the design target is
    // well under 50 ms.
    assert!(lat[10] < Duration::from_millis(500), "{lat:?}");
    srv.shutdown();
}

#[test]
fn server_settings() {
    let env = Env::new();
    let srv = env.server();
    assert_eq!(run(&srv, json!(["get", "dbfile"])), json!(null));
    assert_eq!(
        run(&srv, json!(["set", "dbfile", ":memory:"])),
        json!(":memory:")
    );
    assert_eq!(run(&srv, json!(["set", "dbpurgeage", "2d"])), json!(172800));
    assert_eq!(run(&srv, json!(["set", "dbmaxmatches", 5])), json!(5));
    assert_eq!(
        run(&srv, json!(["set", "loglevel", "notice"])),
        json!("NOTICE")
    );
    assert_eq!(run(&srv, json!(["get", "loglevel"])), json!("NOTICE"));
    assert_eq!(run(&srv, json!(["set", "dbfile", "None"])), json!(null));
    assert_eq!(run(&srv, json!(["get", "dbfile"])), json!(null));
    assert_eq!(run(&srv, json!(["flushlogs"])), json!("rolled over"));
    assert_eq!(
        run(&srv, json!(["set", "logtarget", "STDERR"])),
        json!("STDERR")
    );
    assert_eq!(run(&srv, json!(["flushlogs"])), json!("flushed"));
    assert_eq!(run(&srv, json!(["add", "j2", "polling"])), json!("j2"));
    assert_eq!(
        run(&srv, json!(["stats"])),
        json!({"j2": ["polling", [0, 0], [0, 0]]})
    );
    let all = run(&srv, json!(["status", "--all", "short"]));
    assert_eq!(all[0], json!(["Number of jail", 1]));
    assert_eq!(
        all[2]["j2"][1][1],
        json!([["Currently banned", 0], ["Total banned", 0]])
    );
    assert_eq!(
        run(&srv, json!(["status", "j2", "stats"])),
        json!(["polling", [0, 0], [0, 0]])
    );
    assert_eq!(
        run(&srv, json!(["status", "--all", "stats"])),
        json!({"j2": ["polling", [0, 0], [0, 0]]})
    );
    run(&srv, json!(["stop"]));
    assert!(srv.is_stopping());
}

/// A firewall that refuses a ban: fail2ban's ERROR names jail, action and
/// address, the ban stays, the jail keeps running, and the reconcile of
/// the next reload (or the retry a minute later) puts the ban in once the
/// firewall takes it. The firewall is a fake `nft` keeping one set in a
/// file, failing while a `broken` file exists.
#[test]
fn refused_ban_is_applied_by_the_next_reconcile() {
    let env = Env::new();
    let dir = env.dir.path();
    let nft = dir.join("nft");
    let state = dir.join("set.txt");
    let broken = dir.join("broken");
    std::fs::write(
        &nft,
        format!(
            r#"#!/usr/bin/env python3
import os, sys
state, broken = {state:?}, {broken:?}
if os.path.exists(broken):
    sys.exit(1)
have = open(state).read().split() if os.path.exists(state) else []
def apply(words):
    verb, elems = words[0], " ".join(words[5:]).strip("{{}} ").replace(",", " ").split()
    for e in elems:
        if verb == "add" and e not in have: have.append(e)
        if verb == "delete" and e in have: have.remove(e)
a = sys.argv[1:]
if a[:2] == ["-f", "-"]:
    for line in sys.stdin.read().splitlines():
        apply(line.split())
elif a[:2] == ["list", "set"]:
    print("table inet t {{\n\tset s {{\n\t\telements = {{ " + ", ".join(have) + " }}\n\t}}\n}}")
else:
    apply(a)
open(state, "w").write(" ".join(have))
"#
        ),
    )
    .expect("fake nft");
    std::fs::set_permissions(&nft, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let n = nft.display();
    let action = [
        json!(["set", "test", "addaction", "fw"]),
        json!([
            "multi-set",
            "test",
            "action",
            "fw",
            [
                ["actionban", format!("{n} add element inet t s {{ <ip> }}")],
                [
                    "actionunban",
                    format!("{n} delete element inet t s {{ <ip> }}")
                ],
            ]
        ]),
    ];
    let jail_stream = env.stream("test", &action);
    let srv = env.server();
    std::fs::write(&broken, "").expect("break the firewall");
    stream(&srv, jail_stream.clone());
    run(&srv, json!(["set", "test", "banip", "198.51.100.20"]));
    assert!(
        wait_for(T, || env
            .server_log()
            .contains("Failed to execute ban jail 'test' action 'fw' info")),
        "{}",
        env.server_log()
    );
    assert!(env.server_log().contains("198.51.100.20"));
    assert_eq!(
        run(&srv, json!(["get", "test", "banip"])),
        json!(["198.51.100.20"]),
        "the ban stays"
    );
    // The firewall works again; a reload reconciles.
    std::fs::remove_file(&broken).expect("mend the firewall");
    assert_eq!(
        run(&srv, json!(["reload", "--all", [], jail_stream])),
        json!("OK")
    );
    assert!(
        wait_for(T, || std::fs::read_to_string(&state)
            .is_ok_and(|s| s.contains("198.51.100.20"))),
        "not re-applied\n{}",
        env.server_log()
    );
    assert!(
        wait_for(T, || env.server_log().contains(
            "[test] Reconcile 'fw': 1 bans of 1 were missing from the firewall"
        )),
        "{}",
        env.server_log()
    );
    srv.shutdown();
}
