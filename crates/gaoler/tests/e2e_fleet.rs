//! Issue 18: a fleet bans together. Three daemons ("a", "b", "c"), each in
//! its own private network namespace with real nftables, share one
//! PostgreSQL server that this test starts: a throw-away cluster under a
//! temporary directory, run as the `postgres` system user, reached through
//! its Unix socket (filesystem sockets are not namespaced), stopped and
//! removed by a guard even when the test fails.
//!
//! Each host runs the shipped `freeswitch` jail (two actions, sets
//! `addr-set-freeswitch-tcp` and `-udp`) on a one-line test filter with
//! `maxretry = 3` and `fleet = both`. In order:
//! 1. an attacker fails three times on a: a bans it, and b's and c's
//!    firewalls have it (the delay is measured and printed);
//! 2. `unbanip` on a lifts it everywhere;
//! 3. c is stopped, a bans two more, c starts again and applies them;
//! 4. the database is stopped for 10 s while a bans three addresses (its
//!    own firewall has them at once), then started: b and c get them;
//! 5. an address in b's `ignoreip` is not banned on b (b says why) while c
//!    bans it;
//! 6. hostile rows written straight into the table are refused and logged
//!    by every host, and nothing they name runs.
//!
//! The connection string carries a password (the cluster trusts local
//! connections, so it is never sent): no log line may show it.

mod common;

use common::*;
use gaoler_testkit::{Postgres, TestNet};
use std::io::Write;
use std::time::{Duration, Instant};

const JAIL: &str = "freeswitch";
const SET: &str = "addr-set-freeswitch-tcp";
const SECRET: &str = "hunter2-fleet-secret";
/// The generous bound of every wait (a timeout, not a measurement).
const WAIT: Duration = Duration::from_secs(20);

/// The hosts' connection string, with a password the cluster (trusting
/// local connections) never asks for.
fn conninfo(pg: &Postgres) -> String {
    format!("{} password={SECRET}", pg.conninfo())
}

fn client(pg: &Postgres) -> postgres::Client {
    postgres::Client::connect(&pg.conninfo(), postgres::NoTls).expect("connect to the test cluster")
}

/// One host: its namespace, directory and daemon.
struct HostEnv {
    name: &'static str,
    net: TestNet,
    dir: tempfile::TempDir,
}

impl HostEnv {
    fn new(name: &'static str, pg: &Postgres, extra_jail: &str) -> HostEnv {
        let h = HostEnv {
            name,
            net: TestNet::new(&format!("f{name}")),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let d = h.dir.path();
        let log = d.join("freeswitch.log");
        std::fs::write(&log, "").expect("log");
        test_tree(
            d,
            &shipped(),
            &format!(
                "[{JAIL}]\nenabled = true\nfilter = gaoler-test\nbackend = auto\nmaxretry = 3\n\
                 findtime = 600\nbantime = 600\nbanaction = nftables-multiport\n\
                 logpath = {}\nfleet = both\n{extra_jail}\n",
                log.display()
            ),
        );
        write_files(
            &d.join("conf"),
            &[(
                "fail2ban.local",
                &format!(
                    "[Definition]\nlogtarget = {dir}/gaoler.log\ndbfile = {dir}/gaoler.sqlite3\n\
                     fleetdb = {}\nfleethost = {name}\nfleetretry = 1\n",
                    conninfo(pg),
                    dir = d.display()
                ),
            )],
        );
        h
    }

    fn start(&self) -> Daemon {
        let runs = self.log_count(&format!("Jail '{JAIL}' started"));
        let connects = self.log_count("Fleet: connected") + self.log_count("is back");
        let d = Daemon::start(self.dir.path(), Some(&self.net.server));
        d.wait_until(
            &format!("{}: jail started, fleet connected", self.name),
            |_| {
                self.log_count(&format!("Jail '{JAIL}' started")) > runs
                    && self.log_count("Fleet: connected") + self.log_count("is back") > connects
            },
        );
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gaoler.log")).unwrap_or_default()
    }

    fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// The addresses in this host's nftables set of the jail.
    fn banned(&self) -> Vec<String> {
        let (ok, out) = in_ns(
            &self.net,
            &["nft", "-j", "list", "set", "inet", "f2b-table", SET],
        );
        if !ok {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_str(&out).expect("nft json");
        v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["set"]["elem"].as_array())
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect()
    }

    fn has(&self, addr: &str) -> bool {
        self.banned().iter().any(|a| a == addr)
    }

    fn fail(&self, addr: &str, times: usize) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("freeswitch.log"))
            .expect("open log");
        for _ in 0..times {
            writeln!(f, "ban {addr}").expect("append");
        }
    }
}

/// Waits until `cond` holds (at most [`WAIT`]), or fails with the logs.
fn wait(what: &str, hosts: &[&HostEnv], cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut logs = String::new();
    for h in hosts {
        logs.push_str(&format!(
            "--- host {} (set: {:?}) ---\n{}\n",
            h.name,
            h.banned(),
            h.log()
        ));
    }
    panic!("timed out waiting for: {what}\n{logs}");
}

#[test]
fn a_fleet_bans_together() {
    gaoler_testkit::require_root_and_tools(&["ip", "nft"]);
    let started = Instant::now();
    let pg = Postgres::start();
    let a = HostEnv::new("a", &pg, "");
    let b = HostEnv::new("b", &pg, "ignoreip = 127.0.0.1/8 198.51.100.77");
    let c = HostEnv::new("c", &pg, "");
    let da = a.start();
    let db = b.start();
    let mut dc = c.start();
    let all = [&a, &b, &c];

    // 1. a bans, b and c follow.
    let x = "203.0.113.10";
    a.fail(x, 3);
    let t0 = Instant::now();
    let (mut at_a, mut at_b, mut at_c) = (None, None, None);
    let deadline = t0 + WAIT;
    while (at_a.is_none() || at_b.is_none() || at_c.is_none()) && Instant::now() < deadline {
        for (h, at) in [(&a, &mut at_a), (&b, &mut at_b), (&c, &mut at_c)] {
            if at.is_none() && h.has(x) {
                *at = Some(t0.elapsed());
            }
        }
    }
    let (Some(at_a), Some(at_b), Some(at_c)) = (at_a, at_b, at_c) else {
        wait("the first ban on all hosts", &all, || false);
        unreachable!()
    };
    println!(
        "fleet propagation: banned on a after {:.0} ms; in b's firewall {:.0} ms and c's {:.0} ms after a's \
         (the three firewalls polled in turn, about 30 ms a round)",
        at_a.as_secs_f64() * 1e3,
        at_b.saturating_sub(at_a).as_secs_f64() * 1e3,
        at_c.saturating_sub(at_a).as_secs_f64() * 1e3
    );
    assert!(b
        .log()
        .contains(&format!("Ban {x} (from fleet host a, jail {JAIL})")));
    assert!(c
        .log()
        .contains(&format!("Ban {x} (from fleet host a, jail {JAIL})")));
    // No echo: a applied nothing from the fleet, b and c published nothing
    // (a's own ban is its only row so far).
    assert!(!a.log().contains("from fleet host"), "{}", a.log());
    let rows: i64 = client(&pg)
        .query_one("SELECT count(*) FROM gaoler_fleet_bans", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "only a's ban was published");

    // 2. unbanip on a lifts it everywhere.
    let (ok, out) = da.client(&["set", JAIL, "unbanip", x]);
    assert!(ok, "{out}");
    wait("the unban everywhere", &all, || {
        !a.has(x) && !b.has(x) && !c.has(x)
    });
    assert!(b
        .log()
        .contains(&format!("Unban {x} (from fleet host a, jail {JAIL})")));

    // 3. c misses two bans while stopped, and applies them at its start.
    dc.stop();
    let (y1, y2) = ("203.0.113.11", "203.0.113.12");
    a.fail(y1, 3);
    a.fail(y2, 3);
    wait("two bans on a and b while c is down", &all, || {
        a.has(y1) && a.has(y2) && b.has(y1) && b.has(y2)
    });
    assert!(!c.has(y1) && !c.has(y2), "c is stopped");
    dc = c.start();
    wait("c catches up", &all, || c.has(y1) && c.has(y2));

    // 4. the database is down for 10 s while a bans three addresses.
    let down_at = Instant::now();
    pg.down();
    let zs = ["203.0.113.21", "203.0.113.22", "203.0.113.23"];
    for z in zs {
        a.fail(z, 3);
    }
    wait("a bans at once without its database", &all, || {
        zs.iter().all(|z| a.has(z))
    });
    let local_ban = down_at.elapsed();
    assert!(zs.iter().all(|z| !b.has(z) && !c.has(z)));
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed()));
    pg.up();
    let up_at = Instant::now();
    wait("b and c get the bans a queued", &all, || {
        zs.iter().all(|z| b.has(z) && c.has(z))
    });
    println!(
        "database down: a banned locally within {:.0} ms; b and c had the queued bans {:.0} ms \
         after the database came back",
        local_ban.as_secs_f64() * 1e3,
        up_at.elapsed().as_secs_f64() * 1e3
    );
    for h in all {
        // One WARNING for the outage, not one per retry; one INFO back.
        assert_eq!(
            h.log_count("the fleet database is unreachable"),
            1,
            "{}",
            h.log()
        );
        assert!(
            h.log_count("the fleet database is back") >= 1,
            "{}",
            h.log()
        );
    }

    // 5. b's ignoreip wins over the fleet.
    let lan = "198.51.100.77";
    a.fail(lan, 3);
    wait("c bans the LAN address, b refuses it", &all, || {
        c.has(lan) && b.log().contains(&format!("Refused fleet ban of {lan}"))
    });
    assert!(!b.has(lan), "b ignores {lan}");
    assert!(b.log().contains("WARNING"), "{}", b.log());

    // 6. Hostile rows, written straight into the table.
    let marker = |n: u32| b.dir.path().join(format!("pwned{n}"));
    let touch = |n: u32| format!("$(touch {})", marker(n).display());
    let big = "x".repeat(1 << 20);
    let mut client = client(&pg);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let insert =
        "INSERT INTO gaoler_fleet_bans(origin, jail, kind, ip, timeofban, bantime, matches) \
                  VALUES($1, $2, 'ban', $3, $4, 600, $5)";
    let hostile: [(&str, String, String, &str); 5] = [
        ("evil", JAIL.into(), "not-an-ip".into(), ""),
        ("evil", JAIL.into(), "203.0.113.66".into(), big.as_str()),
        ("evil", JAIL.into(), touch(1), ""),
        ("evil", touch(2), "203.0.113.67".into(), ""),
        ("evil;rm", JAIL.into(), "203.0.113.68".into(), ""),
    ];
    for (origin, jail, ip, matches) in &hostile {
        client
            .execute(insert, &[origin, jail, ip, &now, matches])
            .expect("insert a hostile row");
    }
    client
        .execute("SELECT pg_notify('gaoler_fleet', 'x')", &[])
        .expect("notify");
    wait("every host refuses the five rows", &all, || {
        all.iter().all(|h| h.log_count("refused fleet row") >= 5)
    });
    for h in all {
        let log = h.log();
        for why in [
            "invalid address 'not-an-ip'",
            "matched lines of 1048576 bytes",
            "invalid address '$(touch",
            "bad jail name '$(touch",
            "bad host name 'evil;rm'",
        ] {
            assert!(log.contains(why), "host {}: {why}\n{log}", h.name);
        }
        for ip in ["203.0.113.66", "203.0.113.67", "203.0.113.68"] {
            assert!(!h.has(ip), "host {} banned hostile {ip}", h.name);
        }
        // The 1 MB value never reached the log.
        assert!(!log.contains(&"x".repeat(100)), "host {}", h.name);
    }
    for n in [1, 2] {
        assert!(!marker(n).exists(), "a hostile row ran a command");
    }

    // The password never reached a log line or the server's output.
    for h in all {
        let out = std::fs::read_to_string(h.dir.path().join("server.out")).unwrap_or_default();
        assert!(
            !h.log().contains(SECRET),
            "host {} logged the password",
            h.name
        );
        assert!(
            !out.contains(SECRET),
            "host {} printed the password",
            h.name
        );
        assert!(h.log().contains("password=***"), "{}", h.log());
    }
    // Nor does `get fleetdb`.
    let (ok, out) = db.client(&["get", "fleetdb"]);
    assert!(
        ok && !out.contains(SECRET) && out.contains("password=***"),
        "{out}"
    );

    da.stop();
    db.stop();
    dc.stop();
    println!("e2e_fleet took {:.1} s", started.elapsed().as_secs_f64());
}

/// `client -d`: the fleet's commands when the options are set (the
/// server's first, then the jail's), nothing of them on the same tree
/// without.
#[test]
fn the_dump_shows_the_fleet_commands_only_when_set() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let log = d.join("freeswitch.log");
    std::fs::write(&log, "").expect("log");
    let jail = format!(
        "[{JAIL}]\nenabled = true\nfilter = gaoler-test\nlogpath = {}\n",
        log.display()
    );
    test_tree(d, &shipped(), &jail);
    let dump = || {
        let out = gaoler()
            .args(["client", "-c"])
            .arg(d.join("conf"))
            .arg("-d")
            .output()
            .expect("run gaoler");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let stock = dump();
    assert!(!stock.contains("fleet"), "{stock}");
    let local = d.join("conf/fail2ban.local");
    let mut general = std::fs::read_to_string(&local).expect("fail2ban.local");
    general.push_str("fleetdb = host=/run/postgresql dbname=gaoler\nfleethost = sip-a\n");
    std::fs::write(&local, general).expect("write");
    write_files(
        &d.join("conf"),
        &[(
            "jail.local",
            &format!(
                "{jail}fleet = both\nfleetjails = freeswitch freeswitch-cdr\nfleetcount = fleet\n"
            ),
        )],
    );
    let fleet = dump();
    let lines: Vec<&str> = fleet.lines().filter(|l| l.contains("fleet")).collect();
    assert_eq!(
        lines,
        [
            r#"["set", "fleethost", "sip-a"]"#,
            r#"["set", "fleetdb", "host=/run/postgresql dbname=gaoler"]"#,
            r#"["set", "freeswitch", "fleet", "both"]"#,
            r#"["set", "freeswitch", "fleetjails", "freeswitch freeswitch-cdr"]"#,
            r#"["set", "freeswitch", "fleetcount", "fleet"]"#,
        ],
        "{fleet}"
    );
    // Everything else is the dump of the same tree without them.
    let rest: Vec<&str> = fleet.lines().filter(|l| !l.contains("fleet")).collect();
    assert_eq!(rest, stock.lines().collect::<Vec<_>>());
}
