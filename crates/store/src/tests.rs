use super::*;
use gaoler_ban::BanTimeIncrement;
use serde_json::json;

fn mem() -> Store {
    let s = Store::open(":memory:").unwrap();
    s.add_jail("sshd").unwrap();
    s
}

fn file_store(dir: &tempfile::TempDir) -> (Store, String) {
    let p = dir.path().join("gaoler.sqlite3").display().to_string();
    (Store::open(&p).unwrap(), p)
}

fn ticket(ip: &str, time: f64, count: u32, bantime: Option<f64>) -> Ticket {
    let mut t = Ticket::new(ip, time).with_matches(vec!["l1".into(), "l2".into()]);
    t.failures = 2;
    t.ban_count = count;
    t.ban_time = bantime;
    t
}

fn rule(jail_bantime: f64, increment: bool, maxtime: Option<f64>) -> RestoreRule {
    let mut b = BanTimeIncrement::default();
    b.enabled = increment;
    b.max_time = maxtime;
    RestoreRule::new(jail_bantime, &b)
}

#[test]
fn schema_has_fail2ban_tables_columns_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = file_store(&dir);
    assert_eq!(s.version().unwrap(), 4);
    let objects: Vec<(String, String, String)> = s
        .collect(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name",
            [],
            "t",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o.1.as_str()).collect();
    for want in [
        "fail2banDb",
        "jails",
        "jails_name",
        "logs",
        "logs_path",
        "logs_jail_path",
        "bans",
        "bans_jail_timeofban_ip",
        "bans_jail_ip",
        "bans_ip",
        "bips",
        "bips_timeofban",
        "bips_ip",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    let sql_of = |n: &str| objects.iter().find(|o| o.1 == n).unwrap().2.clone();
    let cols = |t: &str| -> Vec<(String, String, bool, Option<String>, i64)> {
        s.collect(&format!("PRAGMA table_info({t})"), [], "t", |r| {
            Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .unwrap()
    };
    let c = cols("bips");
    assert_eq!(
        c.iter()
            .map(|c| (c.0.as_str(), c.1.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("ip", "TEXT"),
            ("jail", "TEXT"),
            ("timeofban", "INTEGER"),
            ("bantime", "INTEGER"),
            ("bancount", "INTEGER"),
            ("data", "JSON")
        ]
    );
    assert_eq!(c[4].3.as_deref(), Some("1"), "bancount default 1");
    assert_eq!((c[0].4, c[1].4), (1, 2), "primary key (ip, jail)");
    assert!(sql_of("bips").contains("FOREIGN KEY(jail) REFERENCES jails(name)"));
    let c = cols("bans");
    assert_eq!(
        c.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        vec!["jail", "ip", "timeofban", "bantime", "bancount", "data"]
    );
    let c = cols("logs");
    assert_eq!(
        c.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        vec!["jail", "path", "firstlinemd5", "lastfilepos"]
    );
    assert_eq!(c[3].3.as_deref(), Some("0"));
    let logs = sql_of("logs");
    assert!(
        logs.contains("ON DELETE CASCADE") && logs.contains("UNIQUE(jail, path, firstlinemd5)"),
        "{logs}"
    );
    assert!(sql_of("jails").contains("name TEXT NOT NULL UNIQUE"));
    assert!(sql_of("bans_jail_timeofban_ip").contains("bans(jail, timeofban)"));
}

#[test]
fn pragmas_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = file_store(&dir);
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = s
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1, "NORMAL");
    let fk: i64 = s
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    assert!(s.check_integrity().unwrap().is_empty());
}

#[test]
fn jails_enable_disable() {
    let s = mem();
    s.add_jail("sshd").unwrap();
    s.add_jail("nginx").unwrap();
    assert_eq!(s.jail_names(None).unwrap().len(), 2);
    s.disable_all_jails().unwrap();
    assert!(s.jail_names(Some(true)).unwrap().is_empty());
    s.add_jail("sshd").unwrap();
    assert_eq!(
        s.jail_names(Some(true))
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["sshd"]
    );
    s.del_jail("sshd").unwrap();
    assert_eq!(s.jail_names(Some(false)).unwrap().len(), 2);
}

#[test]
fn add_ban_round_trip_and_encoding() {
    let s = mem();
    let mut t = ticket("192.0.2.1", 1000.5, 1, None);
    t.data.insert("user".into(), json!("bob"));
    s.add_ban("sshd", &t, 600.0).unwrap();
    let rows = s.stored_bans(Some("sshd")).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.ip, "192.0.2.1");
    assert_eq!(r.time_of_ban, 1000.0, "int(round()) is half-even");
    assert_eq!(r.ban_time, 600.0, "jail bantime when the ticket has none");
    assert_eq!(r.ban_count, 1);
    assert_eq!(
        r.data,
        json!({"matches": ["l1", "l2"], "failures": 2, "user": "bob"})
    );
    let (ty_data, ty_bt, ty_tob): (String, String, String) = s
        .conn
        .query_row(
            "SELECT typeof(data), typeof(bantime), typeof(timeofban) FROM bips",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (ty_data.as_str(), ty_bt.as_str(), ty_tob.as_str()),
        ("blob", "integer", "integer")
    );
    // A fractional ban time (rndtime) is kept as REAL.
    s.add_ban("sshd", &ticket("192.0.2.2", 1001.0, 1, Some(612.25)), 600.0)
        .unwrap();
    let bt: f64 = s
        .conn
        .query_row("SELECT bantime FROM bips WHERE ip='192.0.2.2'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(bt, 612.25);
}

#[test]
fn dbmaxmatches_truncates_or_removes() {
    let mut s = mem();
    s.set_max_matches(1);
    s.add_ban("sshd", &ticket("192.0.2.1", 10.0, 1, None), 600.0)
        .unwrap();
    assert_eq!(
        s.stored_bans(None).unwrap()[0].data["matches"],
        json!(["l2"])
    );
    s.set_max_matches(0);
    s.add_ban("sshd", &ticket("192.0.2.1", 11.0, 2, None), 600.0)
        .unwrap();
    assert_eq!(s.stored_bans(None).unwrap()[0].data, json!({"failures": 2}));
    let manual = Ticket::manual("192.0.2.9", 5.0);
    s.set_max_matches(10);
    s.add_ban("sshd", &manual, 600.0).unwrap();
    let r = s
        .stored_bans(None)
        .unwrap()
        .into_iter()
        .find(|r| r.ip == "192.0.2.9")
        .unwrap();
    assert_eq!(r.data, json!({"matches": [], "failures": 0}));
}

#[test]
fn bans_append_bips_replace() {
    let s = mem();
    s.add_ban("sshd", &ticket("192.0.2.1", 100.0, 1, None), 600.0)
        .unwrap();
    s.add_ban("sshd", &ticket("192.0.2.1", 2000.0, 2, Some(1200.0)), 600.0)
        .unwrap();
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM bans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    let rows = s.stored_bans(None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].time_of_ban, rows[0].ban_time, rows[0].ban_count),
        (2000.0, 1200.0, 2)
    );
}

#[test]
fn unknown_jail_is_an_error_not_a_panic() {
    let s = mem();
    let e = s
        .add_ban("nope", &ticket("192.0.2.1", 1.0, 1, None), 600.0)
        .unwrap_err();
    assert!(matches!(e, StoreError::Sql { .. }), "{e}");
    assert!(e.to_string().contains(":memory:"));
}

#[test]
fn del_ban_single_and_all() {
    let s = mem();
    s.add_jail("other").unwrap();
    for ip in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        s.add_ban("sshd", &ticket(ip, 100.0, 1, None), 600.0)
            .unwrap();
    }
    s.add_ban("other", &ticket("192.0.2.1", 100.0, 1, None), 600.0)
        .unwrap();
    s.del_ban("sshd", &["192.0.2.1"]).unwrap();
    let ips = |j| {
        s.stored_bans(Some(j))
            .unwrap()
            .into_iter()
            .map(|r| r.ip)
            .collect::<Vec<_>>()
    };
    assert_eq!(ips("sshd"), vec!["192.0.2.2", "192.0.2.3"]);
    assert_eq!(ips("other"), vec!["192.0.2.1"], "other jail untouched");
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM bans WHERE jail='sshd'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 2, "history deleted too");
    s.del_ban("sshd", &[]).unwrap();
    assert!(ips("sshd").is_empty());
    assert_eq!(ips("other").len(), 1);
}

#[test]
fn restore_without_increment() {
    let s = mem();
    let now = 100_000.0;
    s.add_ban("sshd", &ticket("10.0.0.1", now - 100.0, 1, None), 600.0)
        .unwrap(); // running
    s.add_ban("sshd", &ticket("10.0.0.2", now - 700.0, 1, None), 600.0)
        .unwrap(); // over
    s.add_ban(
        "sshd",
        &ticket("10.0.0.3", now - 100.0, 3, Some(4800.0)),
        600.0,
    )
    .unwrap(); // cut to 600
    s.add_ban(
        "sshd",
        &ticket("10.0.0.4", now - 1000.0, 3, Some(4800.0)),
        600.0,
    )
    .unwrap(); // outside window
    s.add_ban(
        "sshd",
        &ticket("10.0.0.5", now - 50.0, 1, Some(-1.0)),
        600.0,
    )
    .unwrap(); // permanent -> 600
    let got = s
        .current_bans("sshd", &rule(600.0, false, None), 5, now)
        .unwrap();
    let v: Vec<(String, Option<f64>, u32, bool)> = got
        .iter()
        .map(|t| (t.id.clone(), t.ban_time, t.ban_count, t.restored))
        .collect();
    assert_eq!(
        v,
        vec![
            ("10.0.0.1".into(), Some(600.0), 1, true),
            ("10.0.0.3".into(), Some(600.0), 3, true),
            ("10.0.0.5".into(), Some(600.0), 1, true),
        ]
    );
    assert_eq!(
        got[0].time,
        now - 100.0,
        "remaining time from the original start"
    );
    assert_eq!(got[0].matches, vec!["l1", "l2"]);
    // maxmatches of the jail trims.
    let got = s
        .current_bans("sshd", &rule(600.0, false, None), 1, now)
        .unwrap();
    assert_eq!(got[0].matches, vec!["l2"]);
}

#[test]
fn restore_with_increment_and_maxtime() {
    let s = mem();
    let now = 100_000.0;
    s.add_ban(
        "sshd",
        &ticket("10.0.0.3", now - 1000.0, 3, Some(4800.0)),
        600.0,
    )
    .unwrap();
    s.add_ban(
        "sshd",
        &ticket("10.0.0.5", now - 5000.0, 9, Some(-1.0)),
        600.0,
    )
    .unwrap();
    let got = s
        .current_bans("sshd", &rule(600.0, true, None), 10, now)
        .unwrap();
    let v: Vec<_> = got.iter().map(|t| (t.id.as_str(), t.ban_time)).collect();
    assert_eq!(
        v,
        vec![("10.0.0.3", Some(4800.0)), ("10.0.0.5", Some(-1.0))]
    );
    let got = s
        .current_bans("sshd", &rule(600.0, true, Some(3000.0)), 10, now)
        .unwrap();
    let v: Vec<_> = got.iter().map(|t| (t.id.as_str(), t.ban_time)).collect();
    assert_eq!(
        v,
        vec![("10.0.0.3", Some(3000.0))],
        "permanent cut to 3000 is over"
    );
}

#[test]
fn restore_old_schema_unknown_bantime() {
    let s = mem();
    let now = 100_000.0;
    s.conn
        .execute(
            "INSERT INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES('10.0.0.9','sshd',?1,-2,1,'{}')",
            [now - 100.0],
        )
        .unwrap();
    let got = s
        .current_bans("sshd", &rule(600.0, false, None), 10, now)
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].ban_time, Some(600.0));
    assert!(got[0].matches.is_empty(), "TEXT '{{}}' data accepted");
}

#[test]
fn ban_history_single_and_overall() {
    let s = mem();
    s.add_jail("nginx").unwrap();
    s.add_ban("sshd", &ticket("10.0.0.1", 1000.0, 2, Some(1200.0)), 600.0)
        .unwrap();
    s.add_ban("nginx", &ticket("10.0.0.1", 3000.0, 1, Some(300.0)), 600.0)
        .unwrap();
    assert_eq!(
        s.ban_history("10.0.0.1", Some("sshd"), false).unwrap(),
        Some(BanHistory {
            ban_count: 2,
            time_of_ban: 1000.0,
            ban_time: 1200.0
        })
    );
    assert_eq!(
        s.ban_history("10.0.0.1", Some("sshd"), true).unwrap(),
        Some(BanHistory {
            ban_count: 3,
            time_of_ban: 3000.0,
            ban_time: 1500.0
        })
    );
    assert_eq!(
        s.ban_history("10.0.0.2", Some("sshd"), false).unwrap(),
        None
    );
    assert_eq!(s.ban_history("10.0.0.2", None, true).unwrap(), None);
}

#[test]
fn bans_merged_for_action_tags() {
    let mut s = mem();
    s.set_max_matches(3);
    s.add_jail("nginx").unwrap();
    let mut a = ticket("10.0.0.1", 1000.0, 1, None);
    a.matches = vec!["a1".into(), "a2".into()];
    let mut b = ticket("10.0.0.1", 2000.0, 2, None);
    b.matches = vec!["b1".into(), "b2".into()];
    b.failures = 5;
    s.add_ban("sshd", &a, 600.0).unwrap();
    s.add_ban("nginx", &b, 600.0).unwrap();
    let m = s.bans_merged("10.0.0.1", None).unwrap().unwrap();
    assert_eq!(m.matches, vec!["a2", "b1", "b2"]);
    assert_eq!(m.failures, 7);
    assert_eq!(m.last_time, 2000.0);
    let m = s.bans_merged("10.0.0.1", Some("sshd")).unwrap().unwrap();
    assert_eq!((m.matches.len(), m.failures), (2, 2));
    assert!(s.bans_merged("10.9.9.9", None).unwrap().is_none());
}

#[test]
fn log_positions() {
    let s = mem();
    // Unknown file, start of reading with its hash: recorded, no position.
    assert_eq!(
        s.add_log("sshd", "/var/log/auth.log", 0, Some("h1"))
            .unwrap(),
        None
    );
    s.update_log("sshd", "/var/log/auth.log", 4242, Some("h1"))
        .unwrap();
    assert_eq!(
        s.add_log("sshd", "/var/log/auth.log", 0, Some("h1"))
            .unwrap(),
        Some(4242)
    );
    // Rotated (new first line): start over.
    assert_eq!(
        s.add_log("sshd", "/var/log/auth.log", 0, Some("h2"))
            .unwrap(),
        None
    );
    assert_eq!(
        s.log_position("sshd", "/var/log/auth.log").unwrap(),
        Some(LogPosition {
            hash: Some("h1".into()),
            pos: 4242.0
        })
    );
    // update on a file never added inserts it.
    s.update_log("sshd", "/var/log/other.log", 7, Some("x"))
        .unwrap();
    assert_eq!(
        s.log_paths(Some("sshd"))
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["/var/log/auth.log", "/var/log/other.log"]
    );
}

#[test]
fn journal_position() {
    let s = mem();
    assert_eq!(s.journal_position("sshd").unwrap(), None);
    s.update_journal("sshd", 1_700_000_000.25, "2023-11-14T22:13:20.250000")
        .unwrap();
    assert_eq!(s.journal_position("sshd").unwrap(), Some(1_700_000_000.25));
    let p = s.log_position("sshd", JOURNAL_PATH).unwrap().unwrap();
    assert_eq!(p.hash.as_deref(), Some("2023-11-14T22:13:20.250000"));
}

#[test]
fn purge_rules() {
    let mut s = mem();
    s.set_purge_age(1000.0);
    s.add_jail("gone").unwrap();
    s.add_jail("gone_with_bans").unwrap();
    let now = 100_000.0;
    // bans: older than now - purgeage removed.
    s.add_ban(
        "sshd",
        &ticket("10.0.0.1", now - 2000.0, 1, Some(100.0)),
        600.0,
    )
    .unwrap();
    // bips kept while timeofban + 3*bantime >= now - purgeage.
    s.add_ban(
        "sshd",
        &ticket("10.0.0.2", now - 2000.0, 1, Some(400.0)),
        600.0,
    )
    .unwrap();
    s.add_ban(
        "sshd",
        &ticket("10.0.0.3", now - 5000.0, 1, Some(-1.0)),
        600.0,
    )
    .unwrap();
    s.add_ban("sshd", &ticket("10.0.0.4", now - 10.0, 1, None), 600.0)
        .unwrap();
    s.add_ban(
        "gone_with_bans",
        &ticket("10.0.0.5", now - 10.0, 1, None),
        600.0,
    )
    .unwrap();
    s.disable_all_jails().unwrap();
    s.add_jail("sshd").unwrap();
    s.purge(now).unwrap();
    let bans: Vec<String> = s
        .collect("SELECT ip FROM bans ORDER BY ip", [], "t", |r| r.get(0))
        .unwrap();
    assert_eq!(bans, vec!["10.0.0.4", "10.0.0.5"]);
    let bips: Vec<String> = s
        .stored_bans(None)
        .unwrap()
        .into_iter()
        .map(|r| r.ip)
        .collect();
    // 10.0.0.1: -2000 + 300 < -1000 -> gone; 10.0.0.2: -2000 + 1200 >= -1000 -> kept;
    // 10.0.0.3 permanent kept.
    assert_eq!(bips, vec!["10.0.0.5", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    let jails: Vec<String> = s.jail_names(None).unwrap().into_iter().collect();
    assert_eq!(
        jails,
        vec!["gone_with_bans", "sshd"],
        "empty disabled jail removed"
    );
}

#[test]
fn reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = file_store(&dir);
    s.add_jail("sshd").unwrap();
    s.add_ban("sshd", &ticket("10.0.0.1", 1000.0, 1, None), 600.0)
        .unwrap();
    drop(s);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.stored_bans(Some("sshd")).unwrap().len(), 1);
}

#[test]
fn corrupt_file_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.sqlite3");
    std::fs::write(
        &p,
        b"this is not a database, just some text that is long enough".repeat(100),
    )
    .unwrap();
    let p = p.display().to_string();
    let e = Store::open(&p).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains(&p), "{e}");
}

/// The backups of database `db` in `dir` (`<db>.<…>`), sorted.
fn backups(dir: &tempfile::TempDir, db: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.starts_with(&format!("{db}.")))
        .collect();
    v.sort();
    v
}

/// fail2ban's behaviour is the floor: random bytes over the header of a
/// database with bans → the file is moved aside as `<db>.<UTC stamp>`
/// and a new, working database takes its place.
#[test]
fn corrupt_header_is_moved_aside_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = file_store(&dir);
    s.add_jail("sshd").unwrap();
    s.add_ban("sshd", &ticket("192.0.2.1", 100.0, 1, None), 600.0)
        .unwrap();
    drop(s);
    let mut bytes = std::fs::read(&p).unwrap();
    for (i, b) in bytes.iter_mut().take(100).enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    std::fs::write(&p, &bytes).unwrap();
    assert!(Store::open(&p).unwrap_err().is_corrupt());

    let (store, rec) = Store::open_recovering(&p, OpenOptions::default()).unwrap();
    let store = store.expect("a database");
    let rec = rec.expect("recovered");
    assert_eq!(backups(&dir, &p), vec![rec.backup.clone()]);
    let stamp = rec.backup.strip_prefix(&format!("{p}.")).unwrap();
    assert_eq!(stamp.len(), "YYYYmmdd-HHMMSS".len(), "{stamp}");
    assert_eq!(
        std::fs::read(&rec.backup).unwrap(),
        bytes,
        "backup is the old file"
    );
    assert!(rec.reason.contains("not a database"), "{}", rec.reason);
    assert_eq!(rec.salvaged, 0);
    assert_eq!(store.version().unwrap(), 4);
    store.add_jail("sshd").unwrap();
    store
        .add_ban("sshd", &ticket("192.0.2.2", 100.0, 1, None), 600.0)
        .unwrap();
    drop(store);
    // Reopening the new file is plain: nothing more is moved.
    let (again, rec) = Store::open_recovering(&p, OpenOptions::default()).unwrap();
    assert!(rec.is_none());
    assert_eq!(again.unwrap().stored_bans(None).unwrap().len(), 1);
    assert_eq!(backups(&dir, &p).len(), 1);
}

/// Damage past the header (a broken index page) is found by the
/// integrity check at open; the rows SQLite can still read are carried
/// over, except ban rows whose address is junk.
#[test]
fn damaged_pages_are_found_and_readable_rows_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = file_store(&dir);
    s.add_jail("sshd").unwrap();
    for i in 1..=50 {
        s.add_ban(
            "sshd",
            &ticket(&format!("192.0.2.{i}"), 100.0, 1, None),
            600.0,
        )
        .unwrap();
    }
    s.conn
        .execute(
            "INSERT INTO bips(ip, jail, timeofban, bantime) VALUES('x;rm -rf /', 'sshd', 1, 1)",
            [],
        )
        .unwrap();
    let root: i64 = s
        .conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name='bips_ip'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let page: i64 = s
        .conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    s.conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(s);
    let mut bytes = std::fs::read(&p).unwrap();
    let start = ((root - 1) * page) as usize;
    for b in &mut bytes[start + 8..start + page as usize] {
        *b = 0xA5;
    }
    std::fs::write(&p, &bytes).unwrap();
    let e = Store::open(&p).unwrap_err();
    assert!(matches!(e, StoreError::Damaged { .. }), "{e:?}");

    let (store, rec) = Store::open_recovering(&p, OpenOptions::default()).unwrap();
    let (store, rec) = (store.unwrap(), rec.unwrap());
    assert!(rec.salvaged >= 50, "{rec:?}");
    let ips: Vec<String> = store
        .stored_bans(None)
        .unwrap()
        .into_iter()
        .map(|b| b.ip)
        .collect();
    assert_eq!(ips.len(), 50, "{ips:?}");
    assert!(!ips.iter().any(|ip| ip.contains(';')), "{ips:?}");
    assert!(store.check_integrity().unwrap().is_empty());
}

/// A database that is only locked, or of a newer schema, is not corrupt
/// and is never moved.
#[test]
fn healthy_or_locked_databases_are_not_moved() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = file_store(&dir);
    drop(s);
    let (st, rec) = Store::open_recovering(&p, OpenOptions::default()).unwrap();
    assert!(st.is_some() && rec.is_none());
    drop(st);
    let other = Connection::open(&p).unwrap();
    other
        .execute_batch(
            "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; INSERT INTO jails(name) VALUES('x');",
        )
        .unwrap();
    let opts = OpenOptions {
        busy_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let e = Store::open_recovering(&p, opts).unwrap_err();
    assert!(matches!(e, StoreError::Locked { .. }), "{e:?}");
    assert_eq!(backups(&dir, &p), Vec::<String>::new());
    let (st, rec) = Store::open_recovering("none", OpenOptions::default()).unwrap();
    assert!(st.is_none() && rec.is_none());
}

#[test]
fn unopenable_path_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir
        .path()
        .join("no/such/dir/db.sqlite3")
        .display()
        .to_string();
    let e = Store::open(&p).unwrap_err();
    assert!(matches!(e, StoreError::Open { .. }), "{e:?}");
    assert!(e.to_string().contains(&p));
}

#[test]
fn locked_database_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = file_store(&dir);
    drop(s);
    let other = Connection::open(&p).unwrap();
    other
        .execute_batch(
            "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; INSERT INTO jails(name) VALUES('x');",
        )
        .unwrap();
    let opts = OpenOptions {
        busy_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let e = Store::open_with(&p, opts).unwrap_err();
    assert!(matches!(e, StoreError::Locked { .. }), "{e:?}");
    assert!(e.to_string().contains(&p));
    assert!(start.elapsed() < Duration::from_secs(3), "no retry loop");
}

#[test]
fn newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = file_store(&dir);
    s.conn
        .execute("UPDATE fail2banDb SET version=5", [])
        .unwrap();
    drop(s);
    let e = Store::open(&p).unwrap_err();
    assert!(
        matches!(e, StoreError::UnsupportedVersion { version: 5, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(&p));
}

#[test]
fn utc_stamp_format() {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(utc_stamp(t), "20231114-221320");
    assert_eq!(
        utc_stamp(std::time::UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "20000229-000000"
    );
}

/// A version-1 database as old fail2ban wrote it: no ban times, no bips.
fn old_v1(p: &str) {
    Connection::open(p)
        .unwrap()
        .execute_batch(
            r#"CREATE TABLE fail2banDb(version INTEGER); INSERT INTO fail2banDb VALUES(1);
             CREATE TABLE jails(name TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL DEFAULT 1);
             CREATE TABLE logs(jail TEXT NOT NULL, path TEXT, firstlinemd5 TEXT, lastfilepos INTEGER DEFAULT 0,
                FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, UNIQUE(jail, path));
             CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL, data JSON,
                FOREIGN KEY(jail) REFERENCES jails(name));
             INSERT INTO jails VALUES('sshd', 1);
             INSERT INTO logs VALUES('sshd', '/var/log/auth.log', 'abc', 77);
             INSERT INTO bans VALUES('sshd', '10.0.0.1', 99000, '{"matches": ["old"], "failures": 3}');
             INSERT INTO bans VALUES('sshd', '10.0.0.1', 99900, '{"matches": ["new"], "failures": 4}');"#,
        )
        .unwrap();
}

#[test]
fn upgrades_old_schema_with_backup() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("old.sqlite3").display().to_string();
    old_v1(&p);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.version().unwrap(), 4);
    let backups: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("old.sqlite3.") && n.len() == "old.sqlite3.".len() + 15)
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let rows = s.stored_bans(Some("sshd")).unwrap();
    assert_eq!(rows.len(), 1, "bips filled with the latest ban");
    assert_eq!(
        (rows[0].time_of_ban, rows[0].ban_time, rows[0].ban_count),
        (99900.0, -2.0, 1)
    );
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM bans WHERE bantime=-2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        s.add_log("sshd", "/var/log/auth.log", 0, Some("abc"))
            .unwrap(),
        Some(77)
    );
    let logs_sql: String = s
        .conn
        .query_row("SELECT sql FROM sqlite_master WHERE name='logs'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(logs_sql.contains("UNIQUE(jail, path, firstlinemd5)"));
    // Unknown ban time restores with the jail's.
    let cur = s
        .current_bans("sshd", &rule(600.0, false, None), 10, 100_000.0)
        .unwrap();
    assert_eq!(cur.len(), 1);
    assert_eq!(cur[0].ban_time, Some(600.0));
    assert_eq!(cur[0].matches, vec!["new"]);
    drop(s);
    // Opening again does not upgrade or back up again.
    assert_eq!(Store::open(&p).unwrap().version().unwrap(), 4);
}

#[test]
fn failed_upgrade_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("odd.sqlite3").display().to_string();
    // Version 1 with a bans table missing a required column.
    Connection::open(&p)
        .unwrap()
        .execute_batch(
            "CREATE TABLE fail2banDb(version INTEGER); INSERT INTO fail2banDb VALUES(1);
             CREATE TABLE bans(jail TEXT, ip TEXT);",
        )
        .unwrap();
    let e = Store::open(&p).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Migration {
                from: 1,
                backup: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    // Rolled back: still version 1.
    let v: i64 = Connection::open(&p)
        .unwrap()
        .query_row("SELECT version FROM fail2banDb", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 1);
}

#[test]
fn empty_version_table_is_filled() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.sqlite3").display().to_string();
    Connection::open(&p)
        .unwrap()
        .execute_batch("CREATE TABLE fail2banDb(version INTEGER);")
        .unwrap();
    assert_eq!(Store::open(&p).unwrap().version().unwrap(), 4);
}

#[test]
fn unreadable_data_reads_as_empty_object() {
    let s = mem();
    s.conn
        .execute(
            "INSERT INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES('10.0.0.9','sshd',100,600,1,X'FFFE7B')",
            [],
        )
        .unwrap();
    assert_eq!(s.stored_bans(None).unwrap()[0].data, json!({}));
}

#[test]
fn dbfile_none_disables() {
    assert!(Store::open_dbfile("None", OpenOptions::default())
        .unwrap()
        .is_none());
    assert!(Store::open_dbfile(":memory:", OpenOptions::default())
        .unwrap()
        .is_some());
}
