//! An address spray against a jail with a small `maxtracked`: the jail
//! never counts more ids than the cap, warns once (rate-limited) with the
//! counts, and still bans an address that reaches maxretry.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{run, settle, stream, wait_for, Env};
use serde_json::json;

const T: Duration = Duration::from_secs(15);

#[test]
fn maxtracked_caps_counting_and_warns_once() {
    let env = Env::new();
    let srv = env.server();
    stream(
        &srv,
        env.stream("test", &[json!(["set", "test", "maxtracked", 40])]),
    );
    settle();
    assert!(wait_for(T, || env.actions().contains("start")));
    assert_eq!(run(&srv, json!(["get", "test", "maxtracked"])), json!(40));

    // 300 distinct TEST-NET addresses in one write; 192.0.2.7 fails three
    // times among the last ones (maxretry 3).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let stamp = gaoler_server::log::time2str(now);
    let mut text = String::new();
    for i in 0..300 {
        let ip = format!("{}.{}", ["198.51.100", "203.0.113"][i % 2], i / 2 + 1);
        text.push_str(&format!("{stamp} host sshd[1]: Failed login from {ip}\n"));
        if i == 250 || i == 270 || i == 290 {
            text.push_str(&format!(
                "{stamp} host sshd[1]: Failed login from 192.0.2.7\n"
            ));
        }
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&env.log)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(
        wait_for(T, || {
            run(&srv, json!(["status", "test"]))[0][1][1][1] == json!(303)
        }),
        "{}",
        run(&srv, json!(["status", "test"]))
    );
    let st = run(&srv, json!(["status", "test"]));
    let current = st[0][1][0][1].as_u64().unwrap();
    assert!(current <= 40, "{st}");
    assert!(
        wait_for(T, || env.actions().contains("ban 192.0.2.7 600")),
        "{}",
        env.actions()
    );

    // One warning for the whole spray: the first eviction (a batch of
    // 40 / 8 = 5 when the 41st address came), the rest within the minute.
    let log = env.server_log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARNING") && l.contains("maxtracked"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains(
            "WARNING [test] Too many addresses to track (maxtracked = 40): forgot the 5 \
             closest to expiry since the last warning, 5 in total, 36 tracked;"
        ),
        "{}",
        warnings[0]
    );

    // Lowering the cap applies at once; a negative one is refused.
    run(&srv, json!(["set", "test", "maxtracked", 10]));
    let st = run(&srv, json!(["status", "test"]));
    assert!(st[0][1][0][1].as_u64().unwrap() <= 10, "{st}");
    let r = srv.handle(&[json!("set"), json!("test"), json!("maxtracked"), json!(-1)]);
    assert!(r.is_err(), "{r:?}");
    assert_eq!(run(&srv, json!(["get", "test", "maxtracked"])), json!(10));
    run(&srv, json!(["stop"]));
}
