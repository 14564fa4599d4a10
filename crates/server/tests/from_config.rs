//! End to end from a fail2ban configuration tree: gaoler-config turns the
//! stock tree (plus a jail.local) into the command stream, the server runs
//! it; the stock `sshd` filter bans, and the stock `recidive` jail reads
//! our own server log and bans the repeat offender in turn.

mod common;

use std::time::Duration;

use common::{run, wait_for};
use gaoler_config::reader::ClientOptions;
use gaoler_config::{read_config, ReadMode};
use gaoler_server::{Server, ServerOptions};
use serde_json::{json, Value as Json};

use gaoler_testkit::copy_tree;

fn syslog_now() -> String {
    // `Nov 25 16:33:56` from our `YYYY-mm-dd HH:MM:SS`.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let t = gaoler_server::log::time2str(now);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m: usize = t[5..7].parse().unwrap();
    format!("{} {} {}", months[m - 1], &t[8..10], &t[11..])
}

#[test]
fn stock_tree_sshd_and_recidive() {
    let upstream = gaoler_testkit::upstream().join("config");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    copy_tree(&upstream, &conf);
    let auth = dir.path().join("auth.log");
    let srvlog = dir.path().join("fail2ban.log");
    let actfile = dir.path().join("actions.txt");
    let db = dir.path().join("f2b.sqlite3");
    std::fs::write(&auth, "").unwrap();
    // fail2ban's client wants log files to exist.
    std::fs::write(&srvlog, "").unwrap();
    std::fs::write(
        conf.join("fail2ban.local"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {}\ndbfile = {}\n",
            srvlog.display(),
            db.display()
        ),
    )
    .unwrap();
    let f = actfile.display();
    std::fs::write(
        conf.join("action.d/dummy.conf"),
        format!(
            "[Definition]\nactionstart = echo start <name> >> {f}\nactionstop = echo stop <name> >> {f}\n\
             actionban = echo ban <name> <ip> >> {f}\nactionunban = echo unban <name> <ip> >> {f}\n\
             [Init]\nname = default\n"
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("jail.local"),
        format!(
            "[sshd]\nenabled = true\nbackend = auto\nlogpath = {}\naction = dummy[name=sshd]\nmaxretry = 2\n\n\
             [recidive]\nenabled = true\nbackend = auto\nlogpath = {}\naction = dummy[name=recidive]\nmaxretry = 2\n",
            auth.display(),
            srvlog.display()
        ),
    )
    .unwrap();
    let read = read_config(&conf, ReadMode::Test, &ClientOptions::default()).expect("config");
    let stream: Vec<Json> = read
        .stream
        .iter()
        .map(|c| Json::Array(c.to_json()))
        .collect();

    let srv = Server::new(ServerOptions::default()).unwrap();
    run(&srv, json!(["server-stream", stream]));
    assert_eq!(
        run(&srv, json!(["status"])),
        json!([["Number of jail", 2], ["Jail list", "recidive, sshd"]])
    );
    let acts = || std::fs::read_to_string(&actfile).unwrap_or_default();
    assert!(wait_for(Duration::from_secs(5), || acts().contains("start recidive")));
    std::thread::sleep(Duration::from_millis(300));

    let mut w = std::fs::OpenOptions::new()
        .append(true)
        .open(&auth)
        .unwrap();
    for port in [1022, 1023] {
        use std::io::Write;
        writeln!(
            w,
            "{} host sshd[123]: Failed password for root from 192.0.2.50 port {port} ssh2",
            syslog_now()
        )
        .unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(8), || acts()
            .contains("ban sshd 192.0.2.50")),
        "{}\n{}",
        acts(),
        std::fs::read_to_string(&srvlog).unwrap_or_default()
    );
    // A second Ban line for the same address (manual unban + ban) makes
    // it a recidivist: recidive reads our log and bans it too.
    run(&srv, json!(["set", "sshd", "unbanip", "192.0.2.50"]));
    run(&srv, json!(["set", "sshd", "banip", "192.0.2.50"]));
    assert!(
        wait_for(Duration::from_secs(8), || acts()
            .contains("ban recidive 192.0.2.50")),
        "{}\n{}",
        acts(),
        std::fs::read_to_string(&srvlog).unwrap_or_default()
    );
    let log = std::fs::read_to_string(&srvlog).unwrap();
    assert!(log.contains("[recidive] Found 192.0.2.50"), "{log}");
    // recidive never counts its own Ban lines.
    assert_eq!(
        run(&srv, json!(["get", "recidive", "banip"])),
        json!(["192.0.2.50"])
    );
    srv.shutdown();
    let a = acts();
    assert!(
        a.contains("stop sshd") && a.contains("stop recidive"),
        "{a}"
    );
}
