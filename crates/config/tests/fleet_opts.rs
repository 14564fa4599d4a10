//! The fleet's options (gaoler only): `fleetdb`, `fleethost`, `fleetretry`
//! in fail2ban.conf/.local `[Definition]`, `fleet`, `fleetjails`,
//! `fleetcount` in jail sections. Sent to the server only when set, so a
//! fail2ban tree's stream is unchanged; a jail's bad value is refused with
//! its file and line.

use std::path::Path;

use gaoler_config::reader::ClientOptions;
use gaoler_config::{read_config, ReadMode};
use serde_json::{json, Value};

fn tree(dir: &Path, general: &str, jail: &str) {
    std::fs::create_dir_all(dir.join("filter.d")).unwrap();
    std::fs::write(dir.join("fail2ban.conf"), "[Definition]\nloglevel = INFO\n").unwrap();
    if !general.is_empty() {
        std::fs::write(
            dir.join("fail2ban.local"),
            format!("[Definition]\n{general}"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("filter.d/demo.conf"),
        "[Definition]\nfailregex = ^fail from <HOST>$\n",
    )
    .unwrap();
    let log = dir.join("demo.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        dir.join("jail.conf"),
        format!(
            "[demo]\nenabled = true\nbackend = polling\nfilter = demo\nlogpath = {}\n{jail}",
            log.display()
        ),
    )
    .unwrap();
}

fn read(general: &str, jail: &str) -> (Vec<Vec<Value>>, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path(), general, jail);
    let r = read_config(tmp.path(), ReadMode::Test, &ClientOptions::default()).unwrap();
    (r.stream.iter().map(|c| c.to_json()).collect(), r.problems())
}

fn fleet_cmds(stream: &[Vec<Value>]) -> Vec<Vec<Value>> {
    stream
        .iter()
        .filter(|c| {
            c.iter()
                .any(|v| v.as_str().is_some_and(|s| s.starts_with("fleet")))
        })
        .cloned()
        .collect()
}

#[test]
fn nothing_is_sent_without_the_options() {
    let (stream, problems) = read("", "");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(fleet_cmds(&stream).is_empty(), "{stream:?}");
}

#[test]
fn server_options_come_in_order_host_retry_db() {
    let (stream, problems) = read(
        "fleetdb = postgresql://gaoler@db.example/gaoler?sslmode=require\n\
         fleethost = sip-a\nfleetretry = 2s\n",
        "",
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        fleet_cmds(&stream),
        vec![
            vec![json!("set"), json!("fleethost"), json!("sip-a")],
            vec![json!("set"), json!("fleetretry"), json!("2s")],
            vec![
                json!("set"),
                json!("fleetdb"),
                json!("postgresql://gaoler@db.example/gaoler?sslmode=require")
            ],
        ]
    );
    // After the database settings, before the jails.
    let pos = |k: &str| stream.iter().position(|c| c.get(1) == Some(&json!(k)));
    assert!(pos("dbfile") < pos("fleetdb"));
    assert!(pos("fleetdb") < stream.iter().position(|c| c[0] == json!("add")));
}

#[test]
fn jail_options_are_sent_as_set() {
    let (stream, problems) = read(
        "",
        "fleet = both\nfleetjails = freeswitch freeswitch-cdr\nfleetcount = fleet\n",
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        fleet_cmds(&stream),
        vec![
            vec![json!("set"), json!("demo"), json!("fleet"), json!("both")],
            vec![
                json!("set"),
                json!("demo"),
                json!("fleetjails"),
                json!("freeswitch freeswitch-cdr")
            ],
            vec![
                json!("set"),
                json!("demo"),
                json!("fleetcount"),
                json!("fleet")
            ],
        ]
    );
}

#[test]
fn bad_jail_values_are_refused_with_their_line() {
    let (_, problems) = read("", "fleet = sometimes\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("jail.conf:6"), "{problems:?}");
    assert!(
        problems[0].contains("publish, apply, both or off"),
        "{problems:?}"
    );
    let (_, problems) = read("", "fleetcount = global\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("local or fleet"), "{problems:?}");
}
