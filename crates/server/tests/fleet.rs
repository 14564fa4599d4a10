//! The server's side of the fleet (`fleetdb`, gaoler-fleet): its settings,
//! what happens without a reachable database, and, against a throw-away
//! PostgreSQL cluster (root; see gaoler-testkit's `Postgres`), publishing,
//! applying, unban rules, no echo, restart, and `fleetcount = fleet`.
//!
//! Rows of "other hosts" are written straight into the shared table, so
//! each rule is checked on one server.

mod common;

use std::time::Duration;

use common::{run, settle, stream, wait_for, Env};
use gaoler_testkit::Postgres;
use serde_json::{json, Value as Json};

const T: Duration = Duration::from_secs(15);

use gaoler_testkit::now;

#[test]
fn settings_round_trip_and_bad_values_are_refused() {
    let env = Env::new();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    assert_eq!(run(&srv, json!(["get", "fleetdb"])), Json::Null);
    assert!(run(&srv, json!(["get", "fleethost"]))
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    for (cmd, why) in [
        (json!(["set", "fleethost", "a b"]), "fleethost"),
        (json!(["set", "fleetretry", "0"]), "fleetretry"),
        (
            json!(["set", "test", "fleet", "sometimes"]),
            "publish, apply, both or off",
        ),
        (
            json!(["set", "test", "fleetcount", "global"]),
            "local or fleet",
        ),
    ] {
        let Json::Array(c) = cmd else { unreachable!() };
        let e = srv.handle(&c).expect_err(why);
        assert_eq!(e.kind(), "ValueError");
        assert!(e.to_string().contains(why), "{e}");
    }
    // A bad connection string: refused, and the password shown nowhere.
    let e = srv
        .handle(&[
            json!("set"),
            json!("fleetdb"),
            json!("host=/nonexistent password=hunter2 bogus=1"),
        ])
        .expect_err("unknown key");
    assert!(
        !e.to_string().contains("hunter2") && e.to_string().contains("***"),
        "{e}"
    );
    assert!(
        !env.server_log().contains("hunter2"),
        "{}",
        env.server_log()
    );
    assert_eq!(
        run(&srv, json!(["set", "test", "fleet", "both"])),
        json!("both")
    );
    // A jail whose name other hosts would refuse cannot publish.
    run(&srv, json!(["add", "a jail", "polling"]));
    let e = srv
        .handle(&[
            json!("set"),
            json!("a jail"),
            json!("fleet"),
            json!("publish"),
        ])
        .expect_err("name");
    assert!(e.to_string().contains("cannot publish"), "{e}");
    assert_eq!(
        run(&srv, json!(["set", "a jail", "fleet", "apply"])),
        json!("apply")
    );
    assert_eq!(
        run(&srv, json!(["set", "test", "fleetjails", "sip, sip-cdr"])),
        json!(["sip", "sip-cdr"])
    );
    assert_eq!(
        run(&srv, json!(["set", "test", "fleetjails", ""])),
        json!(["test"])
    );
    assert_eq!(
        run(&srv, json!(["set", "test", "fleetcount", "fleet"])),
        json!("fleet")
    );
    srv.shutdown();
}

/// No database to reach: bans go on at once, the rows wait in the local
/// outbox, and the log says so once, not at every retry.
#[test]
fn an_unreachable_database_delays_nothing() {
    let env = Env::new();
    let srv = env.server();
    let sock = env.dir.path().join("no-such-socket-dir");
    // (every command is logged at this level, the stream too: redacted)
    run(&srv, json!(["set", "loglevel", "HEAVYDEBUG"]));
    stream(
        &srv,
        vec![
            json!(["set", "fleethost", "a"]),
            json!(["set", "fleetretry", "0.1"]),
            json!([
                "set",
                "fleetdb",
                format!("host={} password=hunter2", sock.display())
            ]),
        ]
        .into_iter()
        .chain(env.stream("test", &[json!(["set", "test", "fleet", "publish"])]))
        .collect(),
    );
    let started = std::time::Instant::now();
    assert_eq!(
        run(
            &srv,
            json!(["set", "test", "banip", "192.0.2.10", "192.0.2.11"])
        ),
        json!(2)
    );
    assert!(wait_for(T, || env.actions().contains("ban 192.0.2.11")));
    println!(
        "two bans with the fleet database unreachable: {:?}",
        started.elapsed()
    );
    // Retries every 0.1 s: still one WARNING.
    std::thread::sleep(Duration::from_millis(1500));
    let log = env.server_log();
    assert_eq!(
        log.matches("the fleet database is unreachable").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("hunter2"), "{log}");
    assert!(log.contains("Command: ['server-stream'"), "{log}");
    assert!(log.contains("password=***"), "{log}");
    assert_eq!(
        run(&srv, json!(["get", "fleetdb"])),
        json!(format!("host={} password=***", sock.display()))
    );
    let db = gaoler_store::Store::open(&env.db.to_string_lossy()).expect("open db");
    assert_eq!(db.fleet_outbox_len().expect("outbox"), 2);
    let rows = db.fleet_outbox_peek(10).expect("peek");
    assert!(rows[0].1.contains("\"ip\":\"192.0.2.10\"") && rows[0].1.contains("\"kind\":\"ban\""));
    srv.shutdown();
}

// ---------------------------------------------------------------------
// Against PostgreSQL

fn pg_client(pg: &Postgres) -> postgres::Client {
    postgres::Client::connect(&pg.conninfo(), postgres::NoTls).expect("connect")
}

/// A row of another host, written straight into the table, and the
/// notification.
#[allow(clippy::too_many_arguments)]
fn insert(
    pg: &Postgres,
    origin: &str,
    jail: &str,
    kind: &str,
    ip: &str,
    time: f64,
    bantime: f64,
    count: i32,
) {
    let mut c = pg_client(pg);
    c.execute(
        "INSERT INTO gaoler_fleet_bans(origin, jail, kind, ip, timeofban, bantime, bancount) \
         VALUES($1, $2, $3, $4, $5, $6, $7)",
        &[&origin, &jail, &kind, &ip, &time, &bantime, &count],
    )
    .expect("insert");
    c.execute("SELECT pg_notify('gaoler_fleet', 'test')", &[])
        .expect("notify");
}

fn rows_of(pg: &Postgres, origin: &str) -> Vec<(String, String, f64, i32, bool)> {
    pg_client(pg)
        .query(
            "SELECT kind, ip, bantime, bancount, manual FROM gaoler_fleet_bans \
             WHERE origin = $1 ORDER BY seq",
            &[&origin],
        )
        .expect("query")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

fn fleet_stream(env: &Env, pg: &Postgres, jails: Vec<Json>) -> Vec<Json> {
    let mut s = vec![
        json!(["set", "dbfile", env.db.to_string_lossy()]),
        json!(["set", "fleethost", "a"]),
        json!(["set", "fleetretry", "0.2"]),
        json!(["set", "fleetdb", pg.conninfo()]),
    ];
    s.extend(jails);
    s
}

fn connected(env: &Env, n: usize) -> bool {
    env.server_log().matches("Fleet: connected").count() >= n
}

#[test]
fn rows_are_published_applied_and_never_echoed() {
    let pg = Postgres::start();
    let env = Env::new();
    let srv = env.server();
    let jail = env.stream("test", &[json!(["set", "test", "fleet", "both"])]);
    stream(&srv, fleet_stream(&env, &pg, jail.clone()));
    assert!(wait_for(T, || connected(&env, 1)), "{}", env.server_log());
    settle();

    // Published: a ban of this host's own.
    assert_eq!(
        run(&srv, json!(["set", "test", "banip", "192.0.2.10"])),
        json!(1)
    );
    assert!(
        wait_for(T, || rows_of(&pg, "a").len() == 1),
        "{}",
        env.server_log()
    );
    assert_eq!(
        rows_of(&pg, "a"),
        vec![("ban".into(), "192.0.2.10".into(), 600.0, 1, false)]
    );

    // Applied: another host's ban, through the jail's own action.
    let t = now();
    insert(&pg, "b", "test", "ban", "198.51.100.20", t - 1.0, 600.0, 1);
    insert(&pg, "b", "test", "ban", "198.51.100.21", t - 1.0, 600.0, 1);
    assert!(
        wait_for(T, || env.actions().contains("ban 198.51.100.21 ")),
        "{}\n{}",
        env.actions(),
        env.server_log()
    );
    assert!(env
        .server_log()
        .contains("[test] Ban 198.51.100.20 (from fleet host b, jail test)"));
    // A ban that ended is not applied; other jails' rows are not ours.
    insert(
        &pg,
        "b",
        "test",
        "ban",
        "198.51.100.22",
        t - 700.0,
        600.0,
        1,
    );
    insert(&pg, "b", "other", "ban", "198.51.100.23", t, 600.0, 1);
    // Unbans: from another host than the ban's, nothing; from the ban's
    // host, lifted; a ban this host decided itself is never lifted.
    insert(
        &pg,
        "c",
        "test",
        "unban",
        "198.51.100.20",
        t - 1.0,
        600.0,
        1,
    );
    insert(&pg, "b", "test", "unban", "192.0.2.10", t - 1.0, 600.0, 1);
    insert(
        &pg,
        "b",
        "test",
        "unban",
        "198.51.100.21",
        t - 1.0,
        600.0,
        1,
    );
    assert!(
        wait_for(T, || env.actions().contains("unban 198.51.100.21")),
        "{}\n{}",
        env.actions(),
        env.server_log()
    );
    let mut banned: Vec<String> =
        serde_json::from_value(run(&srv, json!(["get", "test", "banip"]))).unwrap();
    banned.sort();
    assert_eq!(banned, ["192.0.2.10", "198.51.100.20"]);
    assert!(!env.actions().contains("198.51.100.22"));
    assert!(!env.actions().contains("198.51.100.23"));
    // No echo: this host published only its own ban.
    assert_eq!(rows_of(&pg, "a").len(), 1);

    // A manual unban of its own ban is published as one.
    run(&srv, json!(["set", "test", "unbanip", "192.0.2.10"]));
    assert!(wait_for(T, || rows_of(&pg, "a").len() == 2));
    assert_eq!(
        rows_of(&pg, "a")[1],
        ("unban".into(), "192.0.2.10".into(), 600.0, 1, true)
    );
    srv.shutdown();
    drop(srv);

    // After a restart: the fleet's ban is restored (it still says where it
    // came from), not applied again from the table, not published.
    let srv = env.server();
    stream(&srv, fleet_stream(&env, &pg, jail));
    assert!(wait_for(T, || connected(&env, 2)), "{}", env.server_log());
    assert!(
        wait_for(T, || env.server_log().contains(
            "[test] Restore Ban 198.51.100.20 (from fleet host b, jail test)"
        )),
        "{}",
        env.server_log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        env.server_log()
            .matches("Ban 198.51.100.20 (from fleet host b")
            .count(),
        2,
        "once applied, once restored: {}",
        env.server_log()
    );
    assert_eq!(rows_of(&pg, "a").len(), 2);
    srv.shutdown();
}

#[test]
fn fleetcount_lets_other_hosts_bans_count() {
    let pg = Postgres::start();
    let env = Env::new();
    let srv = env.server();
    let props = env.dummy_props();
    let mut jails = env.stream(
        "inc",
        &[
            json!(["set", "inc", "fleet", "publish"]),
            json!(["set", "inc", "fleetcount", "fleet"]),
            json!(["set", "inc", "bantime.increment", "true"]),
        ],
    );
    // A recidive-like jail: reads no log of its own here, counts the
    // fleet's bans.
    jails.extend([
        json!(["add", "recidive", "polling"]),
        json!(["set", "recidive", "maxretry", 2]),
        json!(["set", "recidive", "findtime", "1d"]),
        json!(["set", "recidive", "fleetcount", "fleet"]),
        json!(["set", "recidive", "addaction", "dummy"]),
        json!(["multi-set", "recidive", "action", "dummy", props]),
        json!(["start", "recidive"]),
    ]);
    stream(&srv, fleet_stream(&env, &pg, jails));
    assert!(wait_for(T, || connected(&env, 1)), "{}", env.server_log());
    settle();
    let t = now();

    // recidive: two bans elsewhere (other hosts, other jails) make one here.
    insert(&pg, "b", "sshd", "ban", "203.0.113.5", t - 60.0, 600.0, 1);
    insert(
        &pg,
        "c",
        "asterisk",
        "ban",
        "203.0.113.5",
        t - 30.0,
        600.0,
        1,
    );
    assert!(
        wait_for(T, || env.actions().contains("ban 203.0.113.5 ")),
        "{}\n{}",
        env.actions(),
        env.server_log()
    );
    assert!(env.server_log().contains("[recidive] Found 203.0.113.5"));

    // bantime.increment: host b banned 203.0.113.6 three times already.
    insert(&pg, "b", "inc", "ban", "203.0.113.6", t - 10.0, 2400.0, 3);
    assert!(wait_for(T, || {
        gaoler_store::Store::open(&env.db.to_string_lossy())
            .ok()
            .and_then(|db| db.fleet_history("203.0.113.6", None).ok().flatten())
            .is_some()
    }));
    run(&srv, json!(["set", "inc", "banip", "203.0.113.6"]));
    assert!(
        wait_for(T, || env
            .server_log()
            .contains("[inc] Increase Ban 203.0.113.6 (4 # ")),
        "{}",
        env.server_log()
    );
    // The increased ban is what this host publishes.
    assert!(wait_for(T, || rows_of(&pg, "a").len() == 1));
    let (_, _, bantime, count, _) = rows_of(&pg, "a")[0].clone();
    assert_eq!(count, 4);
    assert!(bantime > 600.0, "{bantime}");

    // With fleetcount = local the fleet's history does not count.
    run(&srv, json!(["set", "inc", "fleetcount", "local"]));
    insert(&pg, "b", "inc", "ban", "203.0.113.7", t - 10.0, 2400.0, 3);
    std::thread::sleep(Duration::from_millis(500));
    run(&srv, json!(["set", "inc", "banip", "203.0.113.7"]));
    assert!(wait_for(T, || rows_of(&pg, "a").len() == 2));
    assert_eq!(rows_of(&pg, "a")[1].2, 600.0);
    assert!(!env.server_log().contains("Increase Ban 203.0.113.7"));
    srv.shutdown();
}
