//! `backend = systemd`: entries from a fake `journalctl` (JSON lines, as
//! `journalctl -o json -f` writes them) are banned like file lines, and
//! the status shows the journal matches.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::{run, stream, wait_for, Env};
use gaoler_server::{Server, ServerOptions};
use serde_json::json;

#[test]
fn journal_backend_bans() {
    let env = Env::new();
    let entries = env.dir.path().join("journal.jsonl");
    std::fs::write(&entries, "").unwrap();
    let fake = env.dir.path().join("journalctl");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\nexec tail -n +1 -f {}\n", entries.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let srv: Arc<Server> = Server::new(ServerOptions {
        loglevel: Some("DEBUG".into()),
        logtarget: Some(env.srvlog.to_string_lossy().into_owned()),
        journalctl: Some(fake),
        ..ServerOptions::default()
    })
    .unwrap();
    let mut s = env.stream("test", &[]);
    s[1] = json!(["add", "test", "systemd"]);
    // No log path for a journal jail; journal matches instead.
    s.retain(|c| c[2] != json!("addlogpath"));
    s.insert(
        2,
        json!([
            "set",
            "test",
            "addjournalmatch",
            "_SYSTEMD_UNIT=sshd.service",
            "+",
            "_COMM=sshd"
        ]),
    );
    stream(&srv, s);
    let st = run(&srv, json!(["status", "test"]));
    assert_eq!(
        st[0][1][2],
        json!([
            "Journal matches",
            ["_SYSTEMD_UNIT=sshd.service + _COMM=sshd"]
        ])
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&entries)
        .unwrap();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    for i in 0..3 {
        let e = json!({
            "__CURSOR": format!("s=1;i={i}"),
            "__REALTIME_TIMESTAMP": (now_us + i).to_string(),
            "_HOSTNAME": "host",
            "SYSLOG_IDENTIFIER": "sshd",
            "_PID": "77",
            "MESSAGE": "Failed login from 192.0.2.77",
        });
        writeln!(f, "{e}").unwrap();
    }
    f.flush().unwrap();
    assert!(
        wait_for(Duration::from_secs(8), || env
            .actions()
            .contains("ban 192.0.2.77")),
        "{}",
        env.server_log()
    );
    assert!(env.server_log().contains("[test] Found 192.0.2.77"));
    srv.shutdown();
}
