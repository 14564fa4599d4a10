//! The shared table against a real PostgreSQL server (a throw-away
//! cluster, gaoler-testkit's `Postgres`; needs root): the schema made by
//! several hosts at once, rows in the order they were queued, reading
//! bounded before validation, purging, and TLS as libpq's `sslmode` says.

use gaoler_fleet::pg::Db;
use gaoler_fleet::row::{validate, RawRow};
use gaoler_fleet::{BanRow, ConnInfo, Kind};
use gaoler_testkit::{in_netns, Postgres, TestNet};

fn row(ip: &str, kind: Kind, time: f64) -> BanRow {
    BanRow {
        jail: "sshd".into(),
        kind,
        ip: ip.into(),
        time_of_ban: time,
        ban_time: 600.0,
        ban_count: 1,
        failures: 3,
        matches: vec!["a line".into(), "another".into()],
        manual: kind == Kind::Unban,
    }
}

use gaoler_testkit::now;

#[test]
fn rows_keep_their_order_and_are_read_bounded() {
    let pg = Postgres::start();
    let info = ConnInfo::parse(&pg.conninfo()).expect("conninfo");
    // Several hosts making the schema at once: one id, no error.
    let hosts: Vec<_> = (0..4)
        .map(|_| {
            let info = info.clone();
            std::thread::spawn(move || Db::open(&info).map(|(_, id)| id))
        })
        .collect();
    let ids: Vec<String> = hosts
        .into_iter()
        .map(|h| h.join().unwrap().expect("open"))
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");

    let (mut db, _) = Db::open(&info).expect("open");
    let t = now();
    let rows = vec![
        row("192.0.2.1", Kind::Ban, t),
        row("192.0.2.1", Kind::Unban, t),
        row("192.0.2.2", Kind::Ban, t),
    ];
    let last = db.publish("a", &rows).expect("publish");
    assert_eq!(db.last_seq().expect("last"), last);
    let read = db.read_after(0, 10).expect("read");
    assert_eq!(read.len(), 3);
    let got: Vec<BanRow> = read
        .into_iter()
        .map(|r| validate(r, t).expect("valid").row)
        .collect();
    assert_eq!(got, rows, "in the order queued, every field as sent");

    // A hostile 1 MB value is cut by the query, and refused.
    let mut c = postgres::Client::connect(&pg.conninfo(), postgres::NoTls).unwrap();
    c.execute(
        "INSERT INTO gaoler_fleet_bans(origin, jail, kind, ip, timeofban, bantime, matches) \
         VALUES('evil', 'sshd', 'ban', '192.0.2.9', $1, 600, repeat('x', 1048576))",
        &[&t],
    )
    .unwrap();
    let raw: RawRow = db.read_after(last, 10).expect("read").remove(0);
    assert_eq!(raw.matches.as_ref().map(String::len), Some(65537));
    assert_eq!(raw.matches_len, Some(1 << 20));
    let e = validate(raw, t).expect_err("too long");
    assert!(e.reason.contains("1048576 bytes"), "{e}");

    // Purge: bans that ended before the limit go.
    db.publish("a", &[row("192.0.2.3", Kind::Ban, t - 7200.0)])
        .expect("publish");
    assert_eq!(db.purge(t - 3600.0).expect("purge"), 1);
    assert_eq!(db.read_after(0, 100).expect("read").len(), 4);
}

#[test]
fn tls_as_libpq_sslmode_says() {
    gaoler_testkit::require_root_and_tools(&["ip"]);
    let net = TestNet::new("pt");
    let port = 55432;
    let pg = Postgres::start_tls(&net.server, port);
    let cert = pg.certificate();
    let base = format!("host=localhost port={port} user=postgres dbname=postgres password=hunter2");
    let ns = net.server.clone();
    let ssl_in_use = move |conninfo: String| -> Result<bool, String> {
        in_netns(&ns, move || {
            let info = ConnInfo::parse(&conninfo).map_err(|e| e.to_string())?;
            let mut c = info.connect().map_err(|e| e.to_string())?;
            let r = c
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .map_err(|e| e.to_string())?;
            Ok(r.get::<_, bool>(0))
        })
    };
    assert_eq!(ssl_in_use(format!("{base} sslmode=disable")), Ok(false));
    assert_eq!(
        ssl_in_use(base.clone()),
        Ok(true),
        "prefer: TLS when offered"
    );
    assert_eq!(ssl_in_use(format!("{base} sslmode=require")), Ok(true));
    // A self-signed certificate is not trusted without sslrootcert...
    let e = ssl_in_use(format!("{base} sslmode=verify-full")).expect_err("untrusted");
    assert!(!e.contains("hunter2") && e.contains("***"), "{e}");
    // ... and is with it.
    assert_eq!(
        ssl_in_use(format!(
            "{base} sslmode=verify-full sslrootcert={}",
            cert.display()
        )),
        Ok(true)
    );
    let url = format!(
        "postgresql://postgres:hunter2@localhost:{port}/postgres?sslmode=verify-ca&sslrootcert={}",
        cert.display()
    );
    assert_eq!(ssl_in_use(url), Ok(true));
}
